/* wfc/plugin.h - the contract between a workflow host and a connector plugin.
 *
 * A plugin is a shared object that exports exactly one symbol,
 *
 *   const wfc_plugin_desc *wfc_plugin_entry_v1(void);
 *
 * returning a static const descriptor (WFC_PLUGIN_DEFINE below writes it).
 * The host checks the descriptor's header (magic, ABI major/minor, size,
 * fingerprint), then calls init() with a size-prefixed, append-only table of
 * host services (wfc_host_api) and a registrar. The plugin registers its
 * cards and connection types through that table and links no host symbol
 * (build it with -fvisibility=hidden and -Wl,--no-undefined).
 *
 * Ownership words used below:
 *   borrowed     - valid for the duration named; the receiver neither frees
 *                  nor keeps it.
 *   transfer     - the receiver owns it from now on and frees it (JSON with
 *                  json_object_put, memory with api->free).
 *   host-owned   - lives as long as the host says (usually until the call
 *                  completes, or for the whole plugin lifetime).
 *
 * Threads: everything here runs on the host's loop thread. The plugin never
 * calls the host from another thread.
 *
 * Async contract (cards, authorize, refresh, revoke, test, event poll):
 *   - a hook gets a wfc_call (host-owned) and returns 0 when it has started;
 *     it then completes the call exactly once with api->call_done() or
 *     api->call_fail(), on the loop thread;
 *   - if the hook returns a negative WFC_E* code, it must not complete the
 *     call; the host reports that code;
 *   - completing from inside the hook itself is allowed, but the host delays
 *     the delivery to a later loop iteration, so a host callback never runs
 *     inside the start call;
 *   - the host may cancel a call: the cancel callback registered with
 *     api->call_on_cancel() runs, and the plugin then completes the call
 *     (normally with WFC_ECANCELED) as soon as it has stopped its work.
 */
#ifndef WFC_PLUGIN_H
#define WFC_PLUGIN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <curl/curlver.h>
#include <json-c/json_c_version.h>
#include <openssl/opensslv.h>
#include <uv/version.h>

#include "error.h"
#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_object;
struct uv_loop_s;

/* ---- ABI identity ------------------------------------------------------- */

#define WFC_PLUGIN_MAGIC        0x57464331u /* "WFC1" */
#define WFC_PLUGIN_ENTRY_SYMBOL "wfc_plugin_entry_v1"

#define WFC__STR(x)  #x
#define WFC__XSTR(x) WFC__STR(x)

#if defined(__SANITIZE_ADDRESS__)
#define WFC__ASAN "1"
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WFC__ASAN "1"
#endif
#endif
#ifndef WFC__ASAN
#define WFC__ASAN "0"
#endif

/* Everything that must agree between host and plugin besides the ABI
 * version: type sizes, and the major versions of the libraries whose types
 * cross the boundary (uv_loop_t, json_object) or whose global state is shared
 * (libcurl, OpenSSL). Compared as a string; a mismatch refuses the plugin. */
/* One part per line; clang-format would cut "-long" one character per line.
 */
/* clang-format off */
#define WFC_ABI_FINGERPRINT                                                    \
  "ptr" WFC__XSTR(__SIZEOF_POINTER__)                                          \
  "-size" WFC__XSTR(__SIZEOF_SIZE_T__)                                         \
  "-long" WFC__XSTR(__SIZEOF_LONG__)                                           \
  "-uv" WFC__XSTR(UV_VERSION_MAJOR)                                            \
  "-curl" WFC__XSTR(LIBCURL_VERSION_MAJOR)                                     \
  "-jsonc" WFC__XSTR(JSON_C_MAJOR_VERSION)                                     \
  "-ossl" WFC__XSTR(OPENSSL_VERSION_MAJOR)                                     \
  "-asan" WFC__ASAN
/* clang-format on */

/* ---- Opaque host objects ------------------------------------------------ */

typedef struct wfc_registrar wfc_registrar; /* host-owned, valid in init() */
typedef struct wfc_call wfc_call;   /* host-owned, valid until completed */
typedef struct wfc_conn wfc_conn;   /* host-owned, valid while its call is */
typedef struct wfc_http wfc_http;   /* host-owned, valid until its callback */
typedef struct wfc_timer wfc_timer; /* host-owned, valid until fired/stopped */
typedef struct wfc_blob wfc_blob;   /* owned by who opened it; blob_close */

/* ---- Schemas ------------------------------------------------------------ */

typedef enum wfc_type {
  WFC_TYPE_STRING = 1,
  WFC_TYPE_INTEGER = 2, /* int64; a numeric string is accepted */
  WFC_TYPE_NUMBER = 3,
  WFC_TYPE_BOOLEAN = 4,
  WFC_TYPE_OBJECT = 5,   /* members in .fields; unknown keys refused */
  WFC_TYPE_LIST = 6,     /* items described by .items */
  WFC_TYPE_EMAIL = 7,    /* a string holding one email address */
  WFC_TYPE_DATETIME = 8, /* ISO 8601 / RFC 3339 string */
  WFC_TYPE_FILE = 9,     /* a blob reference: {"id","name","size",...} */
  WFC_TYPE_ANY = 10,     /* any JSON value, passed through */
  WFC_TYPE_MAP = 11      /* object with free keys; values by .items */
} wfc_type;

enum {
  WFC_FIELD_REQUIRED = 1u << 0,
  WFC_FIELD_SECRET = 1u << 1, /* never logged, never echoed */
  WFC_FIELD_STREAM = 1u << 2, /* output list delivered by api->call_emit */
  WFC_FIELD_NULLABLE = 1u << 3
};

/* One field of a card's inputs or outputs, or of a connection's
 * parameters. Tables end with an all-zero entry. All strings static. */
typedef struct wfc_field {
  const char *name;
  wfc_type type;
  uint32_t flags;
  const char *description;
  const char *default_json;       /* JSON text of the default, or NULL */
  const char *const *enum_values; /* NULL-terminated strings, or NULL */
  const struct wfc_field *fields; /* OBJECT: members, ending with {0} */
  const struct wfc_field *items;  /* LIST/MAP: one entry for each item */
  int64_t min;                    /* STRING: length, INTEGER: value, */
  int64_t max;                    /* LIST: count. max 0 = unbounded */
  const void *reserved[2];        /* zero */
} wfc_field;

/* ---- Cards and connection types ---------------------------------------- */

typedef int (*wfc_call_fn)(wfc_call *call);

typedef enum wfc_card_kind {
  WFC_CARD_ACTION = 1, /* invoke runs the action once */
  WFC_CARD_EVENT = 2   /* invoke polls once: see below */
} wfc_card_kind;

/* Registered with api->register_card(reg, &desc, sizeof desc). The host
 * copies the struct; strings and tables must stay valid (static) until the
 * plugin is unloaded.
 *
 * EVENT cards: the call's input carries the card inputs; api->call_checkpoint
 * gives the last checkpoint the host accepted (NULL the first time). The
 * output must be {"events": [...], "checkpoint": "<opaque string>"}; the
 * host stores the checkpoint only after it has accepted the events. */
typedef struct wfc_card_desc {
  const char *id;          /* [a-z][a-z0-9_]*, unique in the plugin */
  const char *name;        /* "Send Email" */
  const char *description; /* one or two sentences */
  wfc_card_kind kind;
  const char *conn_type;   /* connection type id needed, or NULL */
  const wfc_field *inputs; /* ends with {0}; may be NULL for none */
  const wfc_field *outputs;
  wfc_call_fn invoke; /* required */
} wfc_card_desc;

/* Registered with api->register_conn_type(reg, &desc, sizeof desc).
 *
 * Hook inputs and outputs (all JSON objects; the host validates params
 * against .params before calling):
 * A type declares how it is connected (.flow, ABI 1.4; a plugin built
 * against an older, smaller descriptor gets WFC_FLOW_BROWSER):
 *   WFC_FLOW_BROWSER  authorize_begin gives a URL the person opens; the
 *                     host waits for the redirect to its loopback
 *                     listener, then calls authorize_complete with the
 *                     query. Secret params (WFC_FIELD_SECRET) are given to
 *                     the host out of band (never on a command line) and
 *                     travel inside "params" as below.
 *   WFC_FLOW_FORM     no browser: the host collects the params, the secret
 *                     ones from a prompt without echo, stdin or a file,
 *                     never calls authorize_begin (it may be NULL), and
 *                     calls authorize_complete at once with
 *                       {"params":{...the non-secret ones...},
 *                        "secrets":{...the WFC_FIELD_SECRET ones...}}
 *                     (no redirect_uri, session or query; params and
 *                     secrets together are validated against .params).
 *                     The hook checks them (e.g. gets a token with them)
 *                     and answers as below: "connected" with credentials,
 *                     or "error" / "denied" with a remedy.
 *   WFC_FLOW_NONE     nothing to ask beyond the declared (non-secret)
 *                     params: authorize_complete at once with
 *                     {"params":{...}}. A NONE type declares no secret
 *                     param (refused at registration).
 * Whatever the flow, secret params are sealed in the host's store with the
 * credentials, never shown or logged, and merged back into "params" for
 * refresh, revoke and test (and authorize_begin of a browser type).
 *
 *   authorize_begin    in:  {"params":{...}, "redirect_uri":"...",
 *                            "login_hint":?, "prompt":?, "admin_consent":?}
 *                            admin_consent true (ABI 1.2): the URL is the
 *                            type's administrator consent instead, and out
 *                            carries "admin_consent":true (a type without
 *                            one ignores the member; the host refuses)
 *                      out: {"url":"...", "session":{...}}   (session is
 *                            opaque to the host, kept in memory only; the
 *                            url must carry one non-empty "state"
 *                            parameter, fresh and unguessable: the host's
 *                            redirect listener ends only on a redirect
 *                            with that state and ignores other requests)
 *                      (BROWSER only)
 *   authorize_complete in:  BROWSER: {"params":{...}, "redirect_uri":"...",
 *                            "session":{...}, "query":{"code":..,...}};
 *                            FORM: {"params":{...}, "secrets":{...}};
 *                            NONE: {"params":{...}}
 *                      out: {"state":"connected|needs_admin_approval|
 *                            approval_pending|denied|error",
 *                            "remedy":"...", "account":"...",
 *                            "account_key":"...",
 *                            "credentials":{"access_token","refresh_token",
 *                            "expires_at":<epoch s>, ...}, "detail":{...}}
 *                            account_key (ABI 1.2, optional): a stable,
 *                            opaque id of the account signed in (the same
 *                            person gives the same key, also after a
 *                            rename); a reauthorization with another key is
 *                            refused unless the caller allows the change.
 *                      For a session of an admin consent: out is
 *                            {"admin_consent":"granted|declined|error",
 *                            "remedy":"words for the administrator",
 *                            "detail":{...}}
 *   refresh            in:  {"params":{...}, "credentials":{...}}
 *                            (params: the clear ones and the sealed secret
 *                            ones, merged; the same for revoke and test)
 *                      out: {"credentials":{...}}; fail with WFC_EREAUTH
 *                            (and a remedy message) when the user must
 *                            authorize again
 *   revoke             in:  {"params":{...}, "credentials":{...}}
 *                      out: {"remote":"removed|not_permitted|failed|none",
 *                            "detail":"..."}
 *   test (optional)    in:  like refresh, plus "access_token"
 *                      out: {"healthy":true|false, "detail":"..."}
 */
/* How a connection type is connected (ABI 1.4); see above. */
typedef enum wfc_conn_flow {
  WFC_FLOW_BROWSER = 0, /* authorization in a browser, then the redirect */
  WFC_FLOW_FORM = 1,    /* params and secrets collected by the host */
  WFC_FLOW_NONE = 2     /* the declared params only, nothing secret */
} wfc_conn_flow;

typedef struct wfc_conn_type_desc {
  const char *id; /* [a-z][a-z0-9_]* */
  const char *name;
  const char *description;
  /* connection parameters; WFC_FIELD_SECRET ones are sealed, not shown */
  const wfc_field *params;
  wfc_call_fn authorize_begin; /* BROWSER only (NULL for FORM, NONE) */
  wfc_call_fn authorize_complete;
  wfc_call_fn refresh;
  wfc_call_fn revoke;
  wfc_call_fn test; /* optional */
  /* ABI 1.4 (append-only). A smaller, older descriptor reads as 0,
   * WFC_FLOW_BROWSER. */
  wfc_conn_flow flow;
} wfc_conn_type_desc;

/* ---- HTTP through the host's engine ------------------------------------ */

/* A request. Everything is borrowed only during api->http_send(): the host
 * copies what it keeps, except the blobs, which are borrowed until the
 * callback has run. */
typedef struct wfc_http_req {
  size_t size;                /* sizeof(wfc_http_req) */
  const char *method;         /* "GET", "POST", ... */
  const char *url;            /* absolute http(s) URL */
  const char *const *headers; /* "Name: value" strings, NULL-terminated;
                                 CR or LF in one is refused (WFC_EHEADER) */
  const char *body;           /* request body in memory, or NULL */
  size_t body_len;
  wfc_blob *body_blob;  /* or: stream the body from this blob */
  uint64_t body_offset; /* ... starting here */
  uint64_t body_length; /* ... this many bytes */
  wfc_blob *sink_blob;  /* stream a 2xx response body into this blob
                           instead of memory */
  uint32_t timeout_ms;  /* total deadline, queueing included; 0 =
                           host default */
  size_t max_body;      /* cap on an in-memory body; 0 = host default */
  /* ABI 1.4: the call this request works for, or NULL. While a 2xx body
   * streams into sink_blob the host reports its bytes as that call's
   * progress (as call_progress would: done, and the response's
   * Content-Length as total, 0 when absent), so downloads show progress
   * as uploads do. An older host ignores it. */
  wfc_call *progress_call;
} wfc_http_req;

/* A response, borrowed for the duration of the callback. */
typedef struct wfc_http_res {
  size_t size;               /* sizeof(wfc_http_res) of the host */
  int error;                 /* 0, or WFC_ENET, WFC_ETLS, WFC_ETIMEDOUT,
                                WFC_ECANCELED, WFC_ETOOBIG, WFC_EIO */
  const char *error_message; /* why, when error != 0 */
  long status;               /* HTTP status, 0 when no response */
  const char *body;          /* NUL-terminated, "" when none or sunk */
  size_t body_len;
  uint64_t sunk; /* bytes written to sink_blob */
} wfc_http_res;

typedef void (*wfc_http_cb)(void *arg, const wfc_http_res *res);

/* ---- The host services table ------------------------------------------- */

/* What wfc_host_api.claim found (ABI 1.3). */
enum {
  WFC_CLAIM_MINE = 1, /* claimed by this call until until_ms: act */
  WFC_CLAIM_SENT = 2, /* done before: outcome is what was recorded */
  WFC_CLAIM_HELD = 3, /* another holder acts now, until until_ms */
};

typedef struct wfc_claim {
  int state; /* WFC_CLAIM_* */
  /* MINE: the claim was another holder's that expired, whose process is
   * gone, or that ended with the outcome unknown: that holder may have
   * acted. Check the service's own record before acting. */
  int taken_over;
  int64_t until_ms;            /* MINE, HELD: epoch ms */
  struct json_object *outcome; /* SENT: transfer (json_object_put) */
} wfc_claim;

/* Passed (borrowed, host-owned for the plugin's lifetime) to init().
 * Append-only: check WFC_API_HAS(api, member) before using a member newer
 * than the minor you need. */
typedef struct wfc_host_api {
  size_t size; /* sizeof(wfc_host_api) in the host */
  uint16_t abi_major;
  uint16_t abi_minor;
  const char *host_name;
  const char *host_version;

  /* Memory that crosses the boundary and is freed by the other side. */
  void *(*alloc)(size_t n);
  void *(*realloc)(void *p, size_t n);
  void (*free)(void *p);
  char *(*strdup)(const char *s); /* transfer */

  /* Errors (init's err). fmt is printf-like; the message is copied. */
  void (*error_set)(wfc_error *err, int code, const char *fmt, ...)
      __attribute__((format(printf, 3, 4)));

  /* Registration, only inside init(). The desc is copied (size bytes;
   * larger structs are accepted only if the extra bytes are zero). */
  int (*register_card)(wfc_registrar *reg, const wfc_card_desc *desc,
                       size_t size);
  int (*register_conn_type)(wfc_registrar *reg, const wfc_conn_type_desc *desc,
                            size_t size);

  /* Logging. Levels: 0 error, 1 warn, 2 info, 3 debug. Every value passed
   * to secret() (copied) is replaced by "[REDACTED]" in every log line. */
  void (*log)(int level, const char *fmt, ...)
      __attribute__((format(printf, 2, 3)));
  void (*secret)(const char *value);

  /* Time and the loop. now_ms is wall-clock epoch milliseconds from the
   * host's clock (injectable in tests). The loop is the host's; never run
   * or close it. */
  int64_t (*now_ms)(void);
  struct uv_loop_s *(*loop)(void);
  /* cb runs once after delay_ms (0: next loop iteration), unless stopped.
   * *out (optional) is host-owned until cb runs or timer_stop. */
  int (*timer_start)(uint64_t delay_ms, void (*cb)(void *arg), void *arg,
                     wfc_timer **out);
  void (*timer_stop)(wfc_timer *t);

  /* Calls. */
  struct json_object *(*call_input)(wfc_call *call); /* borrowed */
  wfc_conn *(*call_conn)(wfc_call *call);            /* NULL if none */
  const char *(*call_checkpoint)(wfc_call *call);    /* EVENT cards */
  void (*call_on_cancel)(wfc_call *call, void (*cb)(void *arg), void *arg);
  /* Complete with an output (transfer; NULL means {}). */
  void (*call_done)(wfc_call *call, struct json_object *output);
  /* Complete with an error. detail (transfer, may be NULL) is a JSON object
   * of machine-readable facts (e.g. "code", "request_id", "status"). */
  void (*call_fail)(wfc_call *call, int code, struct json_object *detail,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
  /* Stream one item of a WFC_FIELD_STREAM output (transfer). Returns
   * WFC_ECANCELED when the consumer wants no more. */
  int (*call_emit)(wfc_call *call, struct json_object *item);
  void (*call_progress)(wfc_call *call, uint64_t done, uint64_t total);

  /* Connections (of a call). params and info are borrowed for the call. */
  struct json_object *(*conn_params)(wfc_conn *conn);
  struct json_object *(*conn_info)(wfc_conn *conn); /* id, nickname, ... */
  /* A valid access token, refreshed first when it expires within 5 minutes
   * or was reported rejected. One refresh per connection at a time however
   * many calls wait. cb gets 0 and the token (borrowed during cb), or an
   * error (WFC_EREAUTH when the user must authorize again). */
  int (*conn_token)(wfc_conn *conn,
                    void (*cb)(void *arg, int status, const char *token),
                    void *arg);
  /* The service refused this token (HTTP 401): the next conn_token()
   * refreshes, once, even if many calls report the same token. */
  void (*conn_token_rejected)(wfc_conn *conn, const char *token);

  /* HTTP. cb runs exactly once, later, on the loop (also after cancel, with
   * error WFC_ECANCELED). *out (optional) is valid until cb runs. A method
   * other than GET/HEAD/OPTIONS/TRACE/PUT/DELETE is sent at most once: a
   * connection lost after sending it gives WFC_ENET, never a silent resend
   * (docs/http.md). */
  int (*http_send)(const wfc_http_req *req, wfc_http_cb cb, void *arg,
                   wfc_http **out);
  void (*http_cancel)(wfc_http *h);
  /* Value of a response header (case-insensitive name; last one wins), or
   * NULL. Borrowed during the callback. */
  const char *(*http_header)(const wfc_http_res *res, const char *name);

  /* Blobs (files of any size, on disk in the host's blob store). */
  int (*blob_create)(const char *name, const char *content_type,
                     wfc_blob **out);
  int (*blob_open)(const char *id, wfc_blob **out);
  int (*blob_write)(wfc_blob *b, const void *buf, size_t len); /* append */
  ssize_t (*blob_read)(wfc_blob *b, uint64_t off, void *buf, size_t len);
  int (*blob_commit)(wfc_blob *b); /* finish a created blob */
  void (*blob_close)(wfc_blob *b); /* an uncommitted created blob is
                                      deleted */
  /* {"id","name","content_type","size","sha256"}: transfer. */
  struct json_object *(*blob_ref)(wfc_blob *b);

  /* ABI 1.1. Undoes one secret(value): call it when a one-off value the
   * plugin registered (a PKCE verifier, a state, a spent code, an
   * id_token) is gone, so the host's redaction table keeps only live
   * secrets. Values still in use elsewhere stay redacted. */
  void (*secret_forget)(const char *value);

  /* ABI 1.3. Idempotency claims shared by every host on the store
   * (docs/fleet.md, "Idempotency claims"): before a side effect that must
   * happen once (a send), claim its key; after it, record the outcome
   * with claim_sent, or end the claim with claim_release. The claim
   * belongs to the call (its connection's store, the call as holder) and
   * expires after ttl_ms (1 ms .. 1 hour), so a killed host blocks others
   * for at most that long. Keys are global to the store: make them
   * specific (e.g. a hash of the mailbox and the caller's key). All three
   * run synchronously on the loop. Return 0 or a negative code:
   * WFC_ENOTSUP (no store: a call without a connection, or a host that
   * keeps none; go on as without claims), WFC_EKEY (the key's stored row
   * was changed outside the host: nothing in it is trusted), WFC_EINVAL,
   * or the store's error. */
  int (*claim)(wfc_call *call, const char *key, uint32_t ttl_ms,
               wfc_claim *out);
  /* Records outcome (a JSON object, borrowed; sealed and authenticated
   * like every stored row) as what every later claim of key gets, and
   * ends the claim, also one that expired meanwhile (the effect
   * happened). WFC_EEXIST: an outcome was recorded already (it stays). */
  int (*claim_sent)(wfc_call *call, const char *key,
                    struct json_object *outcome);
  /* Ends this call's claim without an outcome. nothing_sent 1: the effect
   * certainly did not happen; the key is forgotten, the next claimant
   * acts. 0: the outcome is unknown; the next claimant gets the key with
   * taken_over set and must check the service before acting. WFC_EBUSY:
   * another holder has the claim now (it expired and was taken over). */
  int (*claim_release)(wfc_call *call, const char *key, int nothing_sent);

  /* ABI 1.4. The plugin's setting key as the host gave it (a host's
   * wfc_runtime_set_plugin_settings; `wfc --setting PLUGIN.KEY=VALUE`), as
   * text (transfer: api->free; cleanse it first when it may be a secret),
   * or NULL when the host gave none: fall back to the plugin's own default
   * then (e.g. an environment variable). The host answers with this
   * plugin's settings only. Any time on the loop thread, also in init(). */
  char *(*setting)(const char *key);
} wfc_host_api;

#define WFC_API_HAS(api, member)                                               \
  (offsetof(wfc_host_api, member) < (api)->size && (api)->member != NULL)

/* ---- The plugin descriptor ---------------------------------------------- */

typedef struct wfc_plugin_desc {
  uint32_t magic;     /* WFC_PLUGIN_MAGIC */
  uint16_t abi_major; /* WFC_ABI_MAJOR it was built against */
  uint16_t abi_minor; /* WFC_ABI_MINOR it was built against */
  uint32_t size;      /* sizeof(wfc_plugin_desc) it was built with */
  const char *name;   /* "o365mail": [a-z][a-z0-9_]* */
  const char *version;
  const char *fingerprint; /* WFC_ABI_FINGERPRINT */
  const char *description;
  /* Registers cards and connection types. 0, or a negative code with err
   * set. api is borrowed for the plugin's lifetime, reg only during init. */
  int (*init)(const wfc_host_api *api, wfc_registrar *reg, wfc_error *err);
  /* Optional. Called once, after every call has completed, before
   * dlclose. */
  void (*shutdown)(void);
} wfc_plugin_desc;

typedef const wfc_plugin_desc *(*wfc_plugin_entry_fn)(void);

#define WFC_PLUGIN_EXPORT __attribute__((visibility("default")))

/* Defines the one exported symbol:
 *   WFC_PLUGIN_DEFINE("o365mail", "1.0.0", "Office 365 Mail", init, NULL)
 */
#define WFC_PLUGIN_DEFINE(name_, version_, description_, init_, shutdown_)     \
  WFC_PLUGIN_EXPORT const wfc_plugin_desc *wfc_plugin_entry_v1(void);          \
  const wfc_plugin_desc *wfc_plugin_entry_v1(void) {                           \
    static const wfc_plugin_desc desc = {WFC_PLUGIN_MAGIC,                     \
                                         WFC_ABI_MAJOR,                        \
                                         WFC_ABI_MINOR,                        \
                                         sizeof(wfc_plugin_desc),              \
                                         (name_),                              \
                                         (version_),                           \
                                         WFC_ABI_FINGERPRINT,                  \
                                         (description_),                       \
                                         (init_),                              \
                                         (shutdown_)};                         \
    return &desc;                                                              \
  }

#ifdef __cplusplus
}
#endif
#endif
