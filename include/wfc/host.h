/* wfc/host.h - the API a workflow host embeds to load and run plugins.
 *
 * A host creates one runtime on its libuv loop, loads plugins (each a .so
 * exporting wfc_plugin_entry_v1, see wfc/plugin.h), looks cards up by id
 * and invokes them. Everything runs on the loop thread.
 *
 *   uv_loop_t loop; uv_loop_init(&loop);
 *   wfc_runtime *rt; wfc_runtime_new(&loop, NULL, &rt);
 *   char err[512]; wfc_plugin *p;
 *   if (wfc_runtime_load(rt, "build/plugins/x.so", &p, err, sizeof err))
 *     fprintf(stderr, "%s\n", err);
 *   wfc_invoke how = {sizeof how, .on_done = done, .arg = ctx};
 *   wfc_runtime_invoke(rt, "x.send", input, &how, NULL);
 *   uv_run(&loop, UV_RUN_DEFAULT);
 *   wfc_runtime_shutdown(rt, NULL, NULL);
 *   uv_run(&loop, UV_RUN_DEFAULT);   // the shutdown finishes on the loop
 *   uv_loop_close(&loop);            // == 0
 *
 * One runtime per process at a time (wfc_runtime_new says why): the
 * services table handed to plugins (wfc_host_api) is one static table, as
 * the ABI promises, its members take no runtime argument, and a plugin
 * loaded twice would share its static state. Host services besides cards
 * (docs/hosts.md): the log sink and level, plugin settings, the blob
 * store, one-call shutdown.
 *
 * Rule for every function taking a callback (libuv's): if it returns an
 * error, the callback is never called.
 */
#ifndef WFC_HOST_H
#define WFC_HOST_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "common.h"
#include "error.h"
#include "plugin.h"
#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_object;
struct uv_loop_s;

typedef struct wfc_runtime wfc_runtime;
typedef struct wfc_plugin wfc_plugin; /* owned by the runtime */

/* ---- The process -------------------------------------------------------- */

/* Options of wfc_process_harden(). Zero members take the safe default. */
typedef struct wfc_harden_opts {
  size_t size;          /* sizeof(wfc_harden_opts) */
  int allow_core_dumps; /* 1: leave core dumps as the system has them (for
                           debugging; `wfc` sets it from the environment
                           variable WFC_ALLOW_CORE_DUMPS=1) */
} wfc_harden_opts;

/* Process-wide protection of the secrets a host holds (access and refresh
 * tokens, the store's keys): see docs/security.md. Call it first thing in
 * main, before other threads start and in place of
 * curl_global_init(CURL_GLOBAL_DEFAULT) (call curl_global_cleanup() at exit
 * as usual). opts may be NULL. It
 * - disables core dumps, unless opts->allow_core_dumps: the soft
 *   RLIMIT_CORE becomes 0 and the process non-dumpable (PR_SET_DUMPABLE 0:
 *   no core whatever the core pattern, and other processes of the same
 *   user can no longer read its memory through ptrace or /proc/PID/mem;
 *   /proc/self stays readable by the process itself);
 * - initializes libcurl with allocators that cleanse every block before
 *   freeing it, so that request headers (Authorization), request bodies (a
 *   grant) and responses (tokens) leave no copy in freed memory;
 * - sets up the secure heap of secret memory (as wfc_runtime_new does).
 * The SDK keeps tokens, unsealed secrets and token responses in memory
 * excluded from core dumps either way; this covers what it cannot reach.
 * Returns 0; WFC_ESTATE when libcurl was initialized before (the cleansing
 * allocators are not in place; the rest is done); WFC_ENOTSUP on a system
 * without these controls (not Linux); WFC_EIO when the core dump settings
 * could not be made. */
WFC_EXTERN int wfc_process_harden(const wfc_harden_opts *opts);

/* ---- The runtime -------------------------------------------------------- */

typedef struct wfc_runtime_opts {
  size_t size;              /* sizeof(wfc_runtime_opts) */
  const char *blob_dir;     /* blob store directory (copied), opened on first
                               use; NULL: the SDK's one default (see
                               wfc_connmgr_default_blob_dir: $WFC_BLOB_DIR,
                               else blobs/ beside the connection store) */
  int check_outputs;        /* validate action card outputs against their output
                               schema (always on in debug builds, and when the
                               environment has WFC_CHECK_OUTPUTS=1) */
  const char *ca_bundle;    /* PEM CA file for HTTPS (copied); NULL: env
                               WFC_CA_BUNDLE, else the system store */
  uint32_t http_timeout_ms; /* default request deadline; 0: 60 s */
  uint32_t close_grace_ms;  /* how long wfc_runtime_close waits for canceled
                               calls to complete; 0: 10 s */
} wfc_runtime_opts;

/* Creates the runtime on loop (borrowed; must outlive the runtime) with its
 * HTTP engine (one libcurl multi handle on the loop). opts may be NULL.
 * Does the process-global set-up plugins must not do (curl_global_init,
 * reference counted by libcurl; call it from the main thread before other
 * threads use libcurl).
 *
 * One runtime per process at a time: returns WFC_EBUSY, and logs
 * WFC_RUNTIME_BUSY_WORDS as an error, when another runtime is open (on any
 * thread; two threads creating one at once get one runtime and one
 * refusal). A second runtime is refused rather than half-working because
 * what it would share is not safe to share: a plugin loaded by two
 * runtimes is one mapped object (dlopen counts references) with one set of
 * static variables, initialised twice and shut down under the other's
 * calls; the services table handed to plugins takes no runtime argument;
 * the logger and the secret redaction table are the process's. Once the
 * first is closed (its done callback ran), a new one can be created, on
 * any loop and thread. Run several hosts as several processes (they can
 * share one store, docs/fleet.md). */
#define WFC_RUNTIME_BUSY_WORDS                                                 \
  "cannot create a second wfc runtime: another one is open in this "           \
  "process (one per process: plugins loaded twice would share their static "   \
  "state); close it first with wfc_runtime_shutdown, or run another process"
WFC_EXTERN int wfc_runtime_new(struct uv_loop_s *loop,
                               const wfc_runtime_opts *opts, wfc_runtime **out);

/* The one call that shuts a host's wfc side down, in order:
 *  1. refuse new calls, loads, connection managers and event watches
 *     (WFC_ESTATE);
 *  2. close the event watches still open on rt (wfc/events.h; a poll in
 *     flight is canceled, its callback does not run) and wait for them;
 *  3. close the connection managers still open on rt (wfc/connections.h:
 *     their operations fail with WFC_ECANCELED, callbacks run; redirect
 *     listeners close; secrets cleansed; stores closed) and wait for them;
 *  4. cancel the calls in flight and wait for them to complete (a call
 *     still running after close_grace_ms is delivered as WFC_ECANCELED and
 *     abandoned: its plugin is logged as buggy and never shut down nor
 *     unloaded);
 *  5. close the HTTP engine; stop the plugins' leftover timers; call each
 *     plugin's shutdown() and dlclose it; close the runtime's handles; put
 *     the default log sink back (wfc_runtime_set_log_sink).
 * done(arg) (may be NULL) runs once, on the loop, when all of that is
 * finished and the runtime is freed; keep running the loop until then
 * (uv_run(loop, UV_RUN_DEFAULT) returns after it, unless the host has
 * handles of its own open). After it, uv_loop_close() returns 0 and a new
 * runtime may be created. Watches and managers the host closed itself
 * before are simply not there any more; those it left open are freed by
 * this call: their pointers must not be used after it. No-op when a
 * shutdown is under way. */
WFC_EXTERN void wfc_runtime_shutdown(wfc_runtime *rt, void (*done)(void *arg),
                                     void *arg);
/* The same as wfc_runtime_shutdown (its name before watches and managers
 * were closed with the runtime). */
WFC_EXTERN void wfc_runtime_close(wfc_runtime *rt, void (*done)(void *arg),
                                  void *arg);

WFC_EXTERN struct uv_loop_s *wfc_runtime_loop(wfc_runtime *rt);

/* The blob store directory the runtime uses (its blob_dir, else the
 * default then resolved), borrowed from rt; NULL when there is none (no
 * HOME and nothing set). */
WFC_EXTERN const char *wfc_runtime_blob_dir(wfc_runtime *rt);

/* ---- Logging ------------------------------------------------------------ */

/* Levels of log records (the plugins' api->log takes the same numbers). */
enum {
  WFC_LOG_ERROR = 0,
  WFC_LOG_WARN = 1,
  WFC_LOG_INFO = 2,
  WFC_LOG_DEBUG = 3
};

/* Takes one log record. module: "wfc" for the SDK's own records, the
 * plugin's name for what a plugin logs through api->log (the SDK finds the
 * calling plugin by the code address of the call, not by anything the
 * plugin says). message: one line, already redacted (every registered
 * secret and anything that looks like a credential replaced by
 * "[REDACTED]", CR/LF turned into spaces), without time stamp or level.
 * Both are borrowed during the call.
 *
 * Threads: called on the thread that logged, which is the loop thread for
 * everything the runtime, the connection manager and plugins log, and may
 * be a libcurl resolver thread for the HTTP engine's few records. Records
 * are serialized (never two calls at once) by the logger's lock, held
 * during the call: the sink must be quick, must not block on the loop
 * thread, and must not call back into wfc (that would deadlock). */
typedef void (*wfc_log_sink)(void *arg, int level, const char *module,
                             const char *message);

/* The logger is the process's, like the runtime (one per process): these
 * set it for the open runtime rt. sink NULL: back to the default, one line
 * per record on stderr ("<RFC 3339 time> <LEVEL> <message>"). arg is
 * borrowed until the sink is replaced or the runtime is closed (closing
 * the runtime puts the default back). */
WFC_EXTERN void wfc_runtime_set_log_sink(wfc_runtime *rt, wfc_log_sink sink,
                                         void *arg);
/* Records above level are dropped (checked before any formatting). The
 * level starts from the environment variable WFC_LOG (error, warn, info or
 * debug; default warn); a level set here wins over it, for the whole
 * process, and stays after the runtime is closed. Clamped to
 * WFC_LOG_ERROR..WFC_LOG_DEBUG. */
WFC_EXTERN void wfc_runtime_set_log_level(wfc_runtime *rt, int level);
WFC_EXTERN int wfc_runtime_log_level(const wfc_runtime *rt);

/* ---- Plugins ------------------------------------------------------------ */

/* Settings the host gives a plugin (its configuration: endpoints, app ids,
 * tunables), which the plugin reads through api->setting (wfc/plugin.h,
 * ABI 1.4), before the process environment it falls back to. Keyed by
 * plugin name, so they may be given before the plugin is loaded (then its
 * init reads them) or after (later reads see the new values). A plugin
 * reads only its own: the SDK finds the calling plugin by the code address
 * of the call, not by anything the plugin says.
 *
 * settings: a JSON object (borrowed; copied) merged over what plugin has:
 * each member sets that key; a null member removes it. Values are
 * strings, numbers or booleans (a plugin reads them as text: 15000,
 * true); keys are 1..64 characters of [A-Za-z0-9_.-]. Returns 0;
 * WFC_EINVAL with err (may be NULL) naming the plugin name, the key or
 * the value that is not accepted (nothing is changed then); WFC_ENOMEM.
 * A value may be a secret (a client secret): it is kept in memory as
 * given and never logged by the SDK; prefer it over the environment,
 * which other processes of the user can read. */
/* The checks wfc_runtime_set_plugin_settings makes (plugin name, keys,
 * values), without a runtime: for a host that checks its configuration
 * before it creates one, or that may not create one at all. 0, or
 * WFC_EINVAL with err (may be NULL) naming what is not accepted. */
WFC_EXTERN int wfc_plugin_settings_check(const char *plugin,
                                         struct json_object *settings,
                                         char *err, size_t errlen);
WFC_EXTERN int wfc_runtime_set_plugin_settings(wfc_runtime *rt,
                                               const char *plugin,
                                               struct json_object *settings,
                                               char *err, size_t errlen);
/* One key: value (copied) as text; NULL removes the key. Same checks. */
WFC_EXTERN int wfc_runtime_set_plugin_setting(wfc_runtime *rt,
                                              const char *plugin,
                                              const char *key,
                                              const char *value, char *err,
                                              size_t errlen);
/* The settings of plugin now: {"key": "text", ...} (transfer), or NULL
 * when it has none. */
WFC_EXTERN struct json_object *
wfc_runtime_plugin_settings(const wfc_runtime *rt, const char *plugin);

/* Loads and initialises the plugin at path. On failure returns a negative
 * code (WFC_ENOTFOUND, WFC_EDENIED (writable file), WFC_ENOTPLUGIN,
 * WFC_EABI, WFC_EABINEWER, WFC_EFINGERPRINT, WFC_EEXIST (a plugin of that
 * name is loaded), WFC_EPLUGININIT, WFC_EREGISTER) and writes one line
 * naming the path (and both versions where relevant) into err. *out
 * (optional) is owned by the runtime. */
WFC_EXTERN int wfc_runtime_load(wfc_runtime *rt, const char *path,
                                wfc_plugin **out, char *err, size_t errlen);

/* Loads every *.so of dir (sorted by name). Each failure is reported
 * through report(arg, path, message) and the others still load. Returns
 * the number of plugins loaded, or a negative code when dir cannot be
 * read. */
WFC_EXTERN int wfc_runtime_load_dir(wfc_runtime *rt, const char *dir,
                                    void (*report)(void *arg, const char *path,
                                                   const char *message),
                                    void *arg);

WFC_EXTERN size_t wfc_runtime_plugin_count(const wfc_runtime *rt);
WFC_EXTERN wfc_plugin *wfc_runtime_plugin(const wfc_runtime *rt, size_t i);
WFC_EXTERN wfc_plugin *wfc_runtime_find_plugin(const wfc_runtime *rt,
                                               const char *name);

/* Strings copied from the descriptor at load time, valid while the
 * runtime is. */
WFC_EXTERN const char *wfc_plugin_name(const wfc_plugin *p);
WFC_EXTERN const char *wfc_plugin_version(const wfc_plugin *p);
WFC_EXTERN const char *wfc_plugin_description(const wfc_plugin *p);
WFC_EXTERN const char *wfc_plugin_path(const wfc_plugin *p);
WFC_EXTERN const char *wfc_plugin_fingerprint(const wfc_plugin *p);
/* (major << 16) | minor the plugin was built against. */
WFC_EXTERN unsigned wfc_plugin_abi(const wfc_plugin *p);

/* The registered cards and connection types, in registration order. The
 * descriptors are the host's copies; their strings and tables point into
 * the plugin, valid while the runtime is. */
WFC_EXTERN size_t wfc_plugin_card_count(const wfc_plugin *p);
WFC_EXTERN const wfc_card_desc *wfc_plugin_card(const wfc_plugin *p, size_t i);
WFC_EXTERN size_t wfc_plugin_conn_type_count(const wfc_plugin *p);
WFC_EXTERN const wfc_conn_type_desc *wfc_plugin_conn_type(const wfc_plugin *p,
                                                          size_t i);

/* Looks a card up by "plugin.card", or by "card" alone when exactly one
 * plugin has it. Returns 0, WFC_ENOTFOUND, or WFC_EEXIST when the short id
 * is ambiguous. plugin and card are optional outputs. */
WFC_EXTERN int wfc_runtime_find_card(const wfc_runtime *rt, const char *id,
                                     wfc_plugin **plugin,
                                     const wfc_card_desc **card);
/* The same for connection types ("plugin.type" or "type"). */
WFC_EXTERN int wfc_runtime_find_conn_type(const wfc_runtime *rt, const char *id,
                                          wfc_plugin **plugin,
                                          const wfc_conn_type_desc **ct);

/* "browser", "form" or "none" (the manifest's "flow" of a connection
 * type), "unknown" for another value. Static string. */
WFC_EXTERN const char *wfc_conn_flow_name(wfc_conn_flow flow);

/* ---- Canonical JSON of schemas and descriptors (transfer) -------------- */

/* [{"name","type","required","description","default","enum","fields",
 *   "items","min","max","secret","stream","nullable"}, ...]: keys that do
 * not apply are left out; see docs/abi.md. NULL fields gives []. */
WFC_EXTERN struct json_object *wfc_schema_to_json(const wfc_field *fields);
/* {"id","name","description","kind","connection_type","inputs","outputs"} */
WFC_EXTERN struct json_object *wfc_card_to_json(const wfc_card_desc *card);
/* {"id","name","description","flow","params","hooks":[...]}; flow is
 * wfc_conn_flow_name(ct->flow). */
WFC_EXTERN struct json_object *
wfc_conn_type_to_json(const wfc_conn_type_desc *ct);
/* {"name","version","description","abi":{"major","minor"},"fingerprint",
 *  "path","connection_types":[...],"cards":[...]}: the shape of a
 * manifest.json plus "fingerprint" and "path". */
WFC_EXTERN struct json_object *wfc_plugin_to_json(const wfc_plugin *p);

/* Cross-checks p against a manifest file: name, version, ABI major/minor,
 * the sets of cards and connection types, and their schemas (canonical
 * JSON). Returns 0 when they agree, WFC_ENOTFOUND when the file is
 * missing, WFC_EJSON when it is not JSON, WFC_EMANIFEST when they differ.
 * report(arg, line) gets one line per difference or problem. */
WFC_EXTERN int
wfc_plugin_check_manifest(const wfc_plugin *p, const char *manifest_path,
                          void (*report)(void *arg, const char *line),
                          void *arg);
/* The manifest looked for when none is given: "<dir>/<stem>.manifest.json"
 * beside the .so (stem: file name without ".so"), then "<dir>/manifest.json".
 * Writes the first that exists into buf and returns 0, or WFC_ENOTFOUND
 * (buf then holds the first candidate). */
WFC_EXTERN int wfc_plugin_manifest_path(const char *so_path, char *buf,
                                        size_t len);

/* ---- Connections -------------------------------------------------------- */

/* What the connection manager provides for a connection: the token
 * service behind wfc_host_api.conn_token (token and token_rejected may be
 * NULL: conn_token answers WFC_ENOTSUP) and the idempotency claims. */
typedef struct wfc_conn_ops {
  size_t size; /* sizeof(wfc_conn_ops) */
  /* Same contract as wfc_host_api.conn_token: cb exactly once, later. */
  int (*token)(void *ops_arg, wfc_conn *conn,
               void (*cb)(void *arg, int status, const char *token), void *arg);
  void (*token_rejected)(void *ops_arg, wfc_conn *conn, const char *token);
  /* Idempotency claims in the connection's store (wfc_host_api.claim,
   * claim_sent, claim_release; members since ABI 1.3, read only when size
   * covers them; NULL: WFC_ENOTSUP). holder: the call's (opaque).
   * outcome_json: borrowed. out->outcome is the caller's. */
  int (*claim)(void *ops_arg, wfc_conn *conn, const char *key,
               const char *holder, uint32_t ttl_ms, wfc_claim *out);
  int (*claim_sent)(void *ops_arg, wfc_conn *conn, const char *key,
                    const char *outcome_json);
  int (*claim_release)(void *ops_arg, wfc_conn *conn, const char *key,
                       const char *holder, int nothing_sent);
} wfc_conn_ops;

/* A connection as plugins see it. params and info are JSON objects (a
 * reference is taken; NULL means {}); ops (borrowed, must outlive the
 * connection) and ops_arg may be NULL. Reference counted: the creator holds
 * one reference, each call using it holds one. */
WFC_EXTERN int wfc_conn_new(wfc_runtime *rt, struct json_object *params,
                            struct json_object *info, const wfc_conn_ops *ops,
                            void *ops_arg, wfc_conn **out);
WFC_EXTERN void wfc_conn_release(wfc_conn *conn);
WFC_EXTERN struct json_object *wfc_conn_get_params(wfc_conn *conn);
WFC_EXTERN struct json_object *wfc_conn_get_info(wfc_conn *conn);

/* ---- Calls -------------------------------------------------------------- */

/* The outcome of a call, borrowed during on_done. */
typedef struct wfc_outcome {
  int status;                 /* 0, or a negative WFC_E* code */
  const char *message;        /* why, when status != 0 (never NULL then) */
  struct json_object *output; /* on success (json_object_get to keep) */
  struct json_object *detail; /* on failure, may be NULL */
} wfc_outcome;

/* item is borrowed during the callback. Return 0 to go on, non-zero to
 * ask for no more (the plugin's next emit answers WFC_ECANCELED). */
typedef int (*wfc_item_cb)(void *arg, wfc_call *call, struct json_object *item);
typedef void (*wfc_progress_cb)(void *arg, wfc_call *call, uint64_t done,
                                uint64_t total);
/* Runs exactly once per started call, on a later loop iteration than the
 * start; the call is freed when it returns. */
typedef void (*wfc_done_cb)(void *arg, wfc_call *call,
                            const wfc_outcome *outcome);

typedef struct wfc_invoke {
  size_t size;            /* sizeof(wfc_invoke) */
  wfc_conn *conn;         /* the connection (a reference is taken), or NULL */
  const char *checkpoint; /* EVENT cards: last accepted checkpoint (copied) */
  wfc_item_cb on_item;    /* stream items; NULL: items are dropped */
  wfc_progress_cb on_progress;
  wfc_done_cb on_done; /* required */
  void *arg;
  /* Since SDK 0.1 with ABI 1.5 (a shorter, older struct reads as 0). */
  uint32_t flags; /* WFC_INVOKE_* */
} wfc_invoke;

/* wfc_invoke.flags. The consumer takes outputs whose lists may be kept as
 * JSON text (a card's wfc_host_api.list_new, ABI 1.5): a listing then holds
 * its items as text instead of one json-c object each (for 10,000
 * messages: 12 MB instead of ~45 MB, docs/benchmarks.md). Such a list is
 * a json-c array whose items cannot be read (its length is 0):
 * wfc_output_write writes the output with the array's exact bytes;
 * wfc_output_expand turns the lists into ordinary arrays when the
 * consumer needs the tree (templates, json_object_equal,
 * json_object_deep_copy, which refuses such a list). json-c's own
 * json_object_to_json_string gives the list compact. Without the flag
 * (and when outputs are checked against their schema) outputs are
 * ordinary trees. */
#define WFC_INVOKE_TEXT_LISTS 0x1u

/* Writes output (borrowed) as JSON text to f as it is made, compact or,
 * with pretty, indented two spaces as json-c's JSON_C_TO_STRING_PRETTY
 * does, lists kept as text included; no newline at the end. 0,
 * WFC_ENOMEM, or WFC_EIO when f refused a write. */
WFC_EXTERN int wfc_output_write(FILE *f, struct json_object *output,
                                int pretty);
/* Turns every list kept as text inside output into an ordinary array of
 * its items, in place (the same objects). 0, WFC_ENOMEM, or WFC_EPROTO. */
WFC_EXTERN int wfc_output_expand(struct json_object *output);

/* Starts card card_id ("plugin.card" or "card") with input (borrowed; NULL
 * means {}). The input is validated against the card's schema first (an
 * invalid input completes the call with WFC_EVALIDATION and a message
 * naming the field; the plugin is not called). Returns 0 and then on_done
 * runs exactly once, later; or WFC_ENOTFOUND / WFC_EEXIST (card id),
 * WFC_EINVAL, WFC_ESTATE (runtime closing), and on_done never runs. *out
 * (optional) is valid until on_done returns. */
WFC_EXTERN int wfc_runtime_invoke(wfc_runtime *rt, const char *card_id,
                                  struct json_object *input,
                                  const wfc_invoke *how, wfc_call **out);

/* Hooks of a connection type. */
typedef enum wfc_conn_hook {
  WFC_HOOK_AUTHORIZE_BEGIN = 1,
  WFC_HOOK_AUTHORIZE_COMPLETE = 2,
  WFC_HOOK_REFRESH = 3,
  WFC_HOOK_REVOKE = 4,
  WFC_HOOK_TEST = 5
} wfc_conn_hook;

/* Runs a hook of connection type type_id ("plugin.type" or "type") with
 * input (borrowed). input.params, when present, is validated against the
 * type's params schema first; with input.secrets (a form's
 * authorize_complete, wfc/plugin.h) params and secrets are validated as
 * one object and handed on split by WFC_FIELD_SECRET. Same completion
 * rules as wfc_runtime_invoke; WFC_ENOTSUP when the optional hook (or the
 * authorize_begin of a form or none type) is absent. */
WFC_EXTERN int wfc_runtime_conn_hook(wfc_runtime *rt, const char *type_id,
                                     wfc_conn_hook hook,
                                     struct json_object *input,
                                     const wfc_invoke *how, wfc_call **out);

/* Asks the plugin to stop: its cancel callback (api->call_on_cancel) runs
 * on a later loop iteration, and the call completes (normally with
 * WFC_ECANCELED) when the plugin has stopped. Further emits answer
 * WFC_ECANCELED. No-op on a call already completed. */
WFC_EXTERN void wfc_call_cancel(wfc_call *call);

/* ---- Debugging ---------------------------------------------------------- */

/* Counters, for tests and `wfc` diagnostics. */
typedef struct wfc_runtime_stats {
  uint64_t calls_started;
  uint64_t calls_completed;
  uint64_t calls_in_flight;
  uint64_t plugin_bugs; /* double completions, completion after a failed
                           start, bad outputs, ... (each also logged) */
  uint64_t timers_active;
} wfc_runtime_stats;
WFC_EXTERN void wfc_runtime_get_stats(const wfc_runtime *rt,
                                      wfc_runtime_stats *out);

#ifdef __cplusplus
}
#endif
#endif
