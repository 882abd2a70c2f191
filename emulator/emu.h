/* emu.h - the core API of the Microsoft 365 emulator (m365-emulator).
 *
 * Every emulator module (identity, graph, admin...) includes this header and
 * nothing else of the core. Additive changes only.
 *
 * Model
 * -----
 * - A module registers itself with EMU_MODULE(name, init); init() runs once at
 *   start-up, after the tenant is loaded, and adds routes with emu_route_add()
 *   and reset hooks with emu_reset_hook_add().
 * - A route is (method, pattern, handler, flags). Patterns are literal
 *   segments and {name} captures: "/v1.0/users/{user}/messages/{id}". A
 *   capture matches exactly one segment; its value is percent-decoded.
 * - Handlers run with the global emulator lock held (emu_lock()), one at a
 *   time: module state needs no other locking. A handler must set exactly one
 *   response with an emu_resp_*() call; if it sets none the client gets 500.
 * - Requests bodies are read into memory (cap: EMU_BODY_MAX, else 413) before
 *   the handler runs. A route flagged EMU_ROUTE_STREAM instead gets its
 *   handler called as soon as the headers are in; the handler either answers
 *   at once or installs a body sink (emu_req_sink_body) that receives the
 *   body chunk by chunk (for 150 MB upload sessions).
 * - Every response carries Date, request-id and client-request-id (the
 *   client's value echoed when it sent one).
 * - Time: everything uses emu_now_ms(), the virtual clock (real time plus an
 *   offset moved by POST /__emulator/time/advance).
 *
 * Ownership: strings returned by emu_req_*() are borrowed from the request
 * and valid until the request ends. Strings passed in are copied unless the
 * function says "takes ownership".
 */
#ifndef EMU_H
#define EMU_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <json-c/json.h>

#include "tenant.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Requests whose body is larger than this get 413 (non-streaming routes). */
#define EMU_BODY_MAX (4u * 1024u * 1024u)

typedef struct emu_req emu_req;

/* ---- Modules ------------------------------------------------------------ */

typedef int (*emu_module_init_fn)(void);

/* Called by EMU_MODULE's constructor; use the macro. */
void emu_module_register(const char *name, emu_module_init_fn init);

/* EMU_MODULE(graph, graph_init) in one .c file of the module. init returns 0,
 * or -1 after printing why to stderr (the emulator then exits 1). */
#define EMU_MODULE(name, init)                                                 \
  __attribute__((constructor)) static void emu__module_ctor_##name(void) {     \
    emu_module_register(#name, init);                                          \
  }

/* ---- Routes ------------------------------------------------------------- */

typedef void (*emu_handler_fn)(emu_req *r);

enum {
  /* Handler runs before the body is read; see emu_req_sink_body(). */
  EMU_ROUTE_STREAM = 1 << 0,
  /* Never subject to fault injection (admin routes are exempt anyway). */
  EMU_ROUTE_NO_FAULTS = 1 << 1,
};

/* method: "GET", "POST", ... or "*" for any. Returns 0, or -1 on a bad
 * pattern or a duplicate (method, pattern). Routes under "/v1.0/" answer
 * 404/405 in the Graph error shape, others in plain text. More specific
 * patterns win: at each segment a literal beats a capture. */
int emu_route_add(const char *method, const char *pattern, emu_handler_fn fn,
                  unsigned flags);

/* A module's route table (flags 0), for emu_routes_add. */
typedef struct emu_route_def {
  const char *method, *pattern;
  emu_handler_fn fn;
} emu_route_def;
/* emu_route_add for each of table[0..n); on a failure names owner (the
 * module) and the route on stderr and returns -1 (routes added before it
 * stay). */
int emu_routes_add(const char *owner, const emu_route_def *table, size_t n);

/* ---- Request accessors -------------------------------------------------- */

const char *emu_req_method(const emu_req *r);
/* Raw path as sent (still percent-encoded), without the query. */
const char *emu_req_path(const emu_req *r);
/* The route pattern matched ("/v1.0/me/messages/{id}"). */
const char *emu_req_route(const emu_req *r);
/* Raw query string without '?', "" when none. */
const char *emu_req_raw_query(const emu_req *r);
/* First value of a query parameter, decoded ('+' is a space); NULL if
 * absent. Names are compared exactly ("$select"; "%24select" is decoded). */
const char *emu_req_query(const emu_req *r, const char *name);
/* Value of a {name} capture of the matched pattern, decoded. */
const char *emu_req_param(const emu_req *r, const char *name);
/* Request header, name case-insensitive; NULL if absent. */
const char *emu_req_header(const emu_req *r, const char *name);
/* Cookie from the Cookie header; NULL if absent. */
const char *emu_req_cookie(const emu_req *r, const char *name);
/* Body (NUL-terminated; len may be NULL). "" for none, or for streaming
 * routes. */
const char *emu_req_body(const emu_req *r, size_t *len);
/* Body parsed as JSON (cached, borrowed); NULL if absent or invalid. */
json_object *emu_req_json(emu_req *r);
/* Field of an application/x-www-form-urlencoded body (decoded, first value);
 * NULL if absent or if the body is not a form. */
const char *emu_req_form(emu_req *r, const char *name);
/* This request's request-id and the client-request-id echoed back. */
const char *emu_req_request_id(const emu_req *r);
const char *emu_req_client_request_id(const emu_req *r);
/* "http://127.0.0.1:PORT" or "https://..." as the client reached us (Host
 * header when it names the loopback, else the listening address). */
const char *emu_req_base_url(emu_req *r);

/* Per-request slot for modules (e.g. the authenticated principal); freed
 * with free_fn (may be NULL) when the request ends. One slot per request. */
void emu_req_set_data(emu_req *r, void *data, void (*free_fn)(void *));
void *emu_req_data(const emu_req *r);

/* ---- Streaming request bodies ------------------------------------------- */

typedef struct emu_body_sink {
  /* A chunk of the body; runs WITHOUT the global lock (touch only ctx, or
   * take emu_lock()). Return 0 to go on; non-zero to stop: the sink then
   * sets a response (under emu_lock) and the rest of the body is discarded. */
  int (*data)(emu_req *r, const char *buf, size_t len, void *ctx);
  /* Whole body received: set the response. Runs WITH the global lock. Not
   * called when data() stopped. */
  void (*end)(emu_req *r, void *ctx);
  /* Always called once when the request ends (free ctx); no lock. */
  void (*cleanup)(void *ctx);
  void *ctx;
} emu_body_sink;

/* From the handler of an EMU_ROUTE_STREAM route: receive the body through
 * sink (copied). If the handler sets a response instead, the body is
 * discarded. */
void emu_req_sink_body(emu_req *r, const emu_body_sink *sink);

/* ---- Responses ----------------------------------------------------------- */

/* Adds a response header. Refused (returns -1) for CR/LF in name or value. */
int emu_resp_header(emu_req *r, const char *name, const char *value);
/* JSON body, Content-Type application/json; takes ownership of body. */
void emu_resp_json(emu_req *r, int status, json_object *body);
/* A body copied as is, with the given content type. */
void emu_resp_bytes(emu_req *r, int status, const char *content_type,
                    const void *body, size_t len);
/* Convenience: text/html; charset=utf-8. */
void emu_resp_html(emu_req *r, int status, const char *html);
/* Convenience: text/plain; charset=utf-8. */
void emu_resp_text(emu_req *r, int status, const char *text);
/* No body (204, 202...). */
void emu_resp_empty(emu_req *r, int status);
/* 302 Found with Location. */
void emu_resp_redirect(emu_req *r, const char *location);

/* Streamed body. read() fills at most max bytes of buf for position pos and
 * returns the count, 0 at the end, or -1 on error (connection dropped). It
 * runs in the connection's thread WITHOUT the global lock. size is the total
 * or -1 when unknown (chunked). free_fn(ctx) runs when the response is done
 * (may be NULL). */
typedef ssize_t (*emu_read_fn)(void *ctx, uint64_t pos, char *buf, size_t max);
void emu_resp_stream(emu_req *r, int status, const char *content_type,
                     int64_t size, emu_read_fn read, void *ctx,
                     void (*free_fn)(void *));
/* Body from a file descriptor (takes ownership of fd), size bytes from
 * offset. */
void emu_resp_fd(emu_req *r, int status, const char *content_type, int fd,
                 uint64_t offset, uint64_t size);

/* Graph error: {"error":{"code","message","innerError":{"date","request-id",
 * "client-request-id"}}}. */
void emu_graph_error(emu_req *r, int status, const char *code, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

/* Identity platform error body (HTTP status given; 400 usually, 401 for
 * invalid_client): error, error_description = "AADSTSnnnnn: msg\r\nTrace ID:
 * ...\r\nCorrelation ID: ...\r\nTimestamp: ...", error_codes, timestamp,
 * trace_id, correlation_id, error_uri, and suberror when not NULL. */
void emu_id_error(emu_req *r, int status, const char *error, int aadsts,
                  const char *suberror, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* The error_description text alone (for redirects): malloc'd, caller frees. */
char *emu_id_error_description(emu_req *r, int aadsts, const char *msg);

/* ---- Sub-requests (subreq.c; for Graph JSON batching) ------------------- */

/* Runs method + url (a path with query, e.g. "/v1.0/me/messages?$top=1")
 * through the router as part of `parent`, with the lock held: same
 * connection, so the parent's headers (Authorization...) apply unless
 * `headers` (JSON object name -> string; borrowed, may be NULL) overrides
 * them; body (may be NULL) is copied. Streaming routes are refused (400).
 * Faults are not injected; throttling and auth apply as for any request.
 * Returns a new {"status": n, "headers": {...}, "body": ...} where body is
 * the parsed JSON for JSON responses, a string for text, base64 otherwise,
 * and absent when empty. */
json_object *emu_subrequest(emu_req *parent, const char *method,
                            const char *url, json_object *headers,
                            const char *body, size_t len);

/* ---- Global lock ----------------------------------------------------------
 */

/* Held around every handler already. Take it elsewhere (sink data callbacks,
 * stream readers) before touching shared state. Not recursive. */
void emu_lock(void);
void emu_unlock(void);

/* ---- Reset / load hooks ---------------------------------------------------
 */

/* fn(config) runs at start-up after modules init, and on
 * POST /__emulator/reset, with the lock held; config is the whole tenant
 * document (borrowed; the built-in default when no --config). Modules
 * rebuild their state from it (e.g. "mailboxes"). */
typedef void (*emu_reset_fn)(json_object *config);
void emu_reset_hook_add(emu_reset_fn fn);

/* ---- State kept across restarts (--state-dir) ----------------------------
 */

/* A module whose state outlives a restart registers it under name (a
 * static string, [a-z]+): with --state-dir DIR, main.c keeps it in
 * DIR/{name}.json (mode 0600: it may hold secrets). save returns the
 * state as a new JSON document; load restores one (borrowed) after the
 * reset hooks ran and before the server listens, 0 or -1 with the reason
 * in err (the emulator then stops). Both run with the lock held; a load
 * must not depend on another module's having run first. */
typedef json_object *(*emu_state_save_fn)(void);
typedef int (*emu_state_load_fn)(json_object *doc, char *err, size_t errlen);
void emu_state_hook_add(const char *name, emu_state_save_fn save,
                        emu_state_load_fn load);

/* ---- Virtual clock (vclock.c) -------------------------------------------- */

int64_t emu_now_ms(void); /* virtual Unix time, milliseconds */
time_t emu_now(void);     /* virtual Unix time, seconds */
void emu_time_advance_ms(int64_t ms);
int64_t emu_time_offset_ms(void);
void emu_time_reset(void);

/* ---- Throttling (throttle.c) -------------------------------------------- */

/* Graph limits per (app client_id, mailbox id): concurrent requests and
 * requests per window (virtual time). Call from a Graph handler once the
 * principal is known. Returns 0 and holds a concurrency slot until the
 * answer is handed over (after any injected delay; for a streamed answer,
 * until its last byte), released by the core; or returns -1 after setting
 * 429 + Retry-After + ApplicationThrottled on r. Calling it twice for one
 * request is a no-op the second time. Works in sub-requests ($batch). */
int emu_throttle_enter(emu_req *r, const char *app, const char *mailbox);

/* ---- Utilities (util.c) ---------------------------------------------------
 */

/* Random lowercase UUID v4 into out[37]. Deterministic under --seed. */
void emu_uuid(char out[37]);
/* Random bytes (OpenSSL, or a seeded generator under --seed). */
void emu_random_bytes(void *buf, size_t n);
/* Random base64url string of n random bytes (malloc'd). */
char *emu_random_token(size_t n);
/* base64url without padding (malloc'd) / standard base64 (malloc'd). */
char *emu_b64url_encode(const void *data, size_t len);
char *emu_b64_encode(const void *data, size_t len);
/* Decodes base64 or base64url (padding optional); malloc'd, NULL if bad. */
unsigned char *emu_b64_decode(const char *s, size_t *out_len);
/* Percent-decodes in place; '+' to space when plus_is_space. Returns the new
 * length, or -1 on a bad escape or an embedded NUL. */
ssize_t emu_url_decode(char *s, int plus_is_space);
/* Percent-encodes (unreserved kept), malloc'd. */
char *emu_url_encode(const char *s);
/* Time formats of virtual or given times (ms since epoch). */
/* "2026-11-27T10:36:21Z" (Graph dateTimeOffset, seconds precision). */
void emu_fmt_iso8601(int64_t ms, char out[32]);
/* "2026-11-27 10:36:21Z" (identity platform timestamp). */
void emu_fmt_id_timestamp(int64_t ms, char out[32]);
/* "Fri, 27 Nov 2026 10:36:21 GMT" (HTTP Date). */
void emu_fmt_http_date(int64_t ms, char out[40]);
/* Parses "YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm]" into *out_ms: 0, or -1 if
 * invalid. */
int emu_parse_iso8601(const char *s, int64_t *out_ms);
/* Constant-time equality of two NUL-terminated secrets. */
int emu_secret_eq(const char *a, const char *b);
/* Case-insensitive ASCII equality; NULL-safe (NULL equals nothing). */
int emu_streq_ci(const char *a, const char *b);
/* malloc'd printf. */
char *emu_strdup_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#ifdef __cplusplus
}
#endif
#endif /* EMU_H */
