/* runtime.h - the runtime object behind wfc/host.h (private).
 *
 * One runtime per process at a time (the services table is static); the
 * host services find it with wfc__runtime_current().
 */
#ifndef WFC_SDK_RUNTIME_H
#define WFC_SDK_RUNTIME_H

#include <stdint.h>

#include <uv.h>

#include "blob.h"
#include "http.h"
#include "registry.h"
#include "wfc/host.h"

struct wfc_call;

struct wfc_runtime {
  uv_loop_t *loop;        /* borrowed */
  char *blob_dir;         /* owned, may be NULL (the store's default) */
  wfc__blobstore *blobs;  /* opened on first use */
  wfc__http_engine *http; /* owned; closed at shutdown */
  int check_outputs;
  wfc__registry reg;

  /* Deferred work (starts, cancels, deliveries) runs from this idle
   * handle, so nothing the host calls back runs inside a start call. */
  uv_idle_t idle;
  struct wfc_call *queue_head, *queue_tail;
  struct wfc_call *live; /* every call not yet delivered */

  int closing;
  uint32_t close_grace_ms; /* how long close waits for canceled calls */
  uv_timer_t grace;        /* that wait */
  int handles_open;        /* idle + grace, freed when both closed */
  void (*close_done)(void *arg);
  void *close_arg;

  wfc_runtime_stats stats;
};

/* The runtime's blob store, opened on first use. 0, or WFC_ESTATE (no
 * runtime), or the store's error. */
int wfc__runtime_blobstore(wfc_runtime *rt, wfc__blobstore **out);

/* The open runtime, or NULL. */
wfc_runtime *wfc__runtime_current(void);

/* Makes sure the idle handle runs the queue on the next iteration. */
void wfc__runtime_kick(wfc_runtime *rt);

/* Called by call.c when a call was delivered and freed: lets a closing
 * runtime go on with its shutdown. */
void wfc__runtime_call_gone(wfc_runtime *rt);

/* A connection (public functions in wfc/host.h). */
struct wfc_conn {
  wfc_runtime *rt;
  int refs;
  struct json_object *params; /* owned reference */
  struct json_object *info;   /* owned reference */
  const wfc_conn_ops *ops;    /* borrowed, may be NULL */
  void *ops_arg;
};

wfc_conn *wfc__conn_ref(wfc_conn *c);

#endif
