/* loader.h - dlopen a plugin, check its descriptor, run its init.
 *
 * The checks run in a fixed order and the first failure is reported as one
 * line naming the path (docs/abi.md lists them with examples):
 *   1. file missing, not a regular file, group- or world-writable
 *   2. not a plugin: the ELF checks before dlopen (elfcheck.h: not ELF,
 *      another class/byte order/machine, not ET_DYN, headers or segments
 *      past the end of the file), dlopen error, no entry symbol, NULL
 *      descriptor, magic
 *   3. ABI major differs          4. plugin minor newer than the host's
 *   5. descriptor smaller than v1 6. fingerprint differs
 *   7. bad descriptor fields, a plugin of that name already loaded
 *   8. init failed                9. bad registration
 */
#ifndef WFC_SDK_LOADER_H
#define WFC_SDK_LOADER_H

#include <stddef.h>

#include "registry.h"
#include "wfc/plugin.h"

/* Size of the descriptor at ABI 1.0: smaller ones are refused. */
#define WFC__DESC_V1_SIZE                                                      \
  (offsetof(wfc_plugin_desc, shutdown) + sizeof(void (*)(void)))

/* Loads path, runs init with api, adds the plugin to r. Returns 0 (and
 * *out, owned by r) or a negative WFC_E* code with one line in err.
 * The path is opened once; the checks read that descriptor and dlopen
 * gets /proc/<pid>/fd/N (by path only for a $ORIGIN object or without
 * /proc), so the checked file is the loaded one. The plugin runs in this
 * process: a crash in its code is the host's. */
int wfc__loader_load(wfc__registry *r, const wfc_host_api *api,
                     const char *path, struct wfc_plugin **out, char *err,
                     size_t errlen);

/* The plugin whose code contains addr (a return address taken in a host
 * service: who called it), among r's plugins and the one being
 * initialised or shut down now; NULL when addr is in none of them. */
struct wfc_plugin *wfc__loader_plugin_at(const wfc__registry *r,
                                         const void *addr);

/* Calls the plugin's shutdown() and dlcloses it. The caller guarantees no
 * call, timer or HTTP request of the plugin is left. */
void wfc__loader_unload(struct wfc_plugin *p);

#endif
