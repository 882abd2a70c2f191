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

/* Something open on a runtime that wfc_runtime_shutdown closes before the
 * runtime itself: event watches first (order 0), then connection managers
 * (order 1). Embedded in its owner; owner and close are the owner's. */
typedef struct wfc__rt_child {
  struct wfc__rt_child *next;
  int order;
  int closing; /* close was called by the shutdown */
  /* Starts closing the owner; it calls wfc__runtime_detach once it is
   * closed (at once or later, on the loop). */
  void (*close)(struct wfc__rt_child *c);
  wfc_runtime *rt; /* NULL while not attached */
} wfc__rt_child;

struct wfc_runtime {
  uv_loop_t *loop;       /* borrowed */
  char *blob_dir;        /* owned; NULL until resolved (wfc_runtime_blob_dir) */
  wfc__blobstore *blobs; /* opened on first use */
  wfc__http_engine *http; /* owned; closed at shutdown */
  int check_outputs;
  int log_sink; /* a host log sink is set: removed at close */
  /* Plugin settings: {"plugin": {"key": "text"}} (owned). */
  struct json_object *settings;
  wfc__registry reg;

  /* Deferred work (starts, cancels, deliveries) runs from this idle
   * handle, so nothing the host calls back runs inside a start call. */
  uv_idle_t idle;
  struct wfc_call *queue_head, *queue_tail;
  struct wfc_call *live; /* every call not yet delivered */

  int closing;
  int shutting; /* wfc_runtime_shutdown: closing watches and managers */
  int stepping; /* shutdown_step is running (no reentry) */
  wfc__rt_child *children;
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

/* Attaches c (its order and close set) to rt. WFC_ESTATE when rt is
 * shutting down or closing (nothing is attached then). */
int wfc__runtime_attach(wfc_runtime *rt, wfc__rt_child *c);
/* Detaches c (no-op when not attached), when its owner is closed and
 * about to be freed: lets a shutdown go on. */
void wfc__runtime_detach(wfc__rt_child *c);

/* The text of setting key of plugin, or NULL (borrowed: valid until the
 * settings of plugin change). */
const char *wfc__runtime_setting(const wfc_runtime *rt, const char *plugin,
                                 const char *key);

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
