/* call.h - the wfc_call object and its lifecycle.
 *
 *   queued --(idle)--> hook runs --> running --complete--> completed
 *          --(idle)--> delivered (on_done) --> freed
 *
 * Exactly once: a second completion is logged as a plugin bug and ignored
 * (the call shell is kept in a small quarantine after delivery, so a late
 * completion is recognised instead of touching freed memory). A hook that
 * returns a negative code must not complete; the host reports the code.
 * Everything the host calls back (on_done, the plugin's cancel callback,
 * the hook itself) runs from the runtime's idle handle, never inside the
 * call that caused it.
 */
#ifndef WFC_SDK_CALL_H
#define WFC_SDK_CALL_H

#include <stdarg.h>
#include <stdint.h>

#include "runtime.h"
#include "wfc/host.h"

typedef struct wfc__call_spec {
  struct wfc_plugin *plugin;
  wfc_call_fn fn;
  const char *label;          /* "card testplugin.echo", for messages */
  const wfc_field *in_schema; /* validated when validate is set */
  int validate;
  const char *in_root;         /* names the input in messages; NULL: "input" */
  const wfc_field *out_schema; /* checked when check_out is set */
  int check_out;
  int is_event; /* output must be {"events":[...],"checkpoint":"..."} */
} wfc__call_spec;

/* Starts a call (see wfc_runtime_invoke). input is borrowed. */
int wfc__call_start(wfc_runtime *rt, const wfc__call_spec *spec,
                    struct json_object *input, const wfc_invoke *how,
                    struct wfc_call **out);

/* The idle handle's work: runs everything queued before this pass. */
void wfc__call_run_queue(wfc_runtime *rt);

/* Cancels every live call (runtime close). Nothing is delivered
 * synchronously. */
void wfc__call_cancel_all(wfc_runtime *rt);

/* Delivers every live call as WFC_ECANCELED without waiting for its
 * plugin, which is marked abandoned (never unloaded). The call shells are
 * kept allocated for good, so a late completion is caught as a bug. */
void wfc__call_abandon_all(wfc_runtime *rt, uint32_t waited_ms);

/* Frees the quarantined shells (runtime close). */
void wfc__call_quarantine_flush(void);

/* The host services on calls (wfc_host_api.call_*). */
struct json_object *wfc__call_input(wfc_call *call);
wfc_conn *wfc__call_conn(wfc_call *call);
/* The call's number in this process (start order, from 1; 0 for NULL):
 * with the process's holder id, a holder of idempotency claims. */
uint64_t wfc__call_seq(wfc_call *call);
const char *wfc__call_checkpoint(wfc_call *call);
void wfc__call_on_cancel(wfc_call *call, void (*cb)(void *arg), void *arg);
void wfc__call_done(wfc_call *call, struct json_object *output);
void wfc__call_failv(wfc_call *call, int code, struct json_object *detail,
                     const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));
int wfc__call_emit(wfc_call *call, struct json_object *item);
/* wfc_host_api.list_new: a list kept as text when the call's consumer
 * takes them (WFC_INVOKE_TEXT_LISTS), else an ordinary array (transfer). */
struct json_object *wfc__call_list_new(wfc_call *call);
void wfc__call_progress(wfc_call *call, uint64_t done, uint64_t total);

#endif
