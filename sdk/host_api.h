/* host_api.h - the one static wfc_host_api table handed to plugins.
 *
 * The table's members take no runtime argument (the ABI is a static table,
 * SQLite-style), so the services act on the current runtime: the one
 * wfc_runtime_new() created (one per process at a time).
 */
#ifndef WFC_SDK_HOST_API_H
#define WFC_SDK_HOST_API_H

#include <stdint.h>

#include "wfc/plugin.h"

/* Detail of a plugin's init failure, filled through api->error_set. Lives
 * on the loader's stack during init. */
struct wfc_error {
  int code;
  char message[512];
};

/* The table (host-owned, static, valid for the process lifetime). */
const wfc_host_api *wfc__host_api(void);

/* Timers and HTTP requests started through the table and not yet finished:
 * the loader compares it around init() (a plugin whose failed init left
 * one running is never dlclosed), the runtime waits for it at close. */
uint64_t wfc__host_live_handles(void);

/* Stops every timer still pending (shutdown, after the calls are done): their
 * callbacks never run. Each is closed on the loop. */
void wfc__host_timers_stop_all(void);

#endif
