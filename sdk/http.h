/* http.h - the SDK's asynchronous HTTP engine: one libcurl multi handle per
 * libuv loop, driven by curl_multi_socket_action (curl's multi-uv pattern).
 *
 * Everything here runs on the loop thread. The host-API layer adapts
 * wfc_http_req (include/wfc/plugin.h) to wfc__http_send(); blobs reach the
 * engine only through wfc__http_io.
 *
 * Guarantees (tested in tests/http/):
 * - a callback runs exactly once per successful wfc__http_send(), always
 *   later on the loop (never inside wfc__http_send or wfc__http_cancel);
 * - libcurl is never re-entered from one of its own callbacks: additions,
 *   removals and completions are queued and run after socket_action returns;
 * - a curl timeout of 0 is deferred to the next loop iteration, -1 stops the
 *   timer;
 * - the engine opens and closes every socket itself, stopping its poll
 *   before close(2);
 * - TLS peer and host verification are always on;
 * - a request that is not repeatable is sent at most once (below).
 *
 * Repeatable requests: the idempotent methods of RFC 9110 9.2.2, GET, HEAD,
 * OPTIONS, TRACE, PUT and DELETE (case-sensitive). Every other method
 * (POST, PATCH, ...) may have taken effect once the server has read it, so
 * the engine never lets libcurl send it a second time: libcurl otherwise
 * resends any request, on a fresh connection, when a reused keep-alive
 * connection closes without an answer (and an HTTP/2 stream is refused).
 * Such a request fails with WFC_ENET ("... (not sent again: POST is not
 * repeatable)") and the caller decides (it may look whether the effect
 * is there). Repeatable requests keep libcurl's silent retry. Both kinds
 * reuse kept-alive connections.
 *
 * Redirects are not followed (the caller sees the 3xx and decides). HTTP/2
 * is used when a TLS server offers it (ALPN), with transfers waiting to
 * multiplex on one connection; HTTP/1.1 connections are kept alive and
 * reused, at most max_host_connections per host at once.
 */
#ifndef WFC_SDK_HTTP_H
#define WFC_SDK_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "wfc/error.h"
#include "wfc/plugin.h"

typedef struct wfc__http_engine wfc__http_engine;

/* Engine options. Zero (or NULL) members take the defaults in brackets. */
typedef struct wfc__http_opts {
  size_t size;                 /* sizeof(wfc__http_opts) */
  long max_host_connections;   /* per host:port [8] */
  long connect_timeout_ms;     /* TCP + TLS handshake [10000] */
  uint32_t default_timeout_ms; /* total deadline of a request [60000] */
  size_t default_max_body;     /* cap on an in-memory body [16 MiB] */
  const char *ca_bundle; /* PEM file (copied); NULL: env WFC_CA_BUNDLE, else
                            the system's store */
  int verbose; /* 1: connection events at debug level through the SDK log
                  (never headers or bodies) */
} wfc__http_opts;

/* Optional streaming of bodies (the host adapts blobs to this). Borrowed
 * from wfc__http_send() until the request's callback has run; the callbacks
 * run on the loop thread, from inside libcurl, so they must not block and
 * must not call the engine except wfc__http_send/wfc__http_cancel (which
 * only queue). */
typedef struct wfc__http_io {
  /* Request body source: up to len bytes of the body starting at off (0 is
   * the body's first byte; the engine may ask again from an earlier offset
   * when libcurl rewinds). Returns the count (0 only at the end) or < 0 on
   * error (the request fails with WFC_EIO). NULL: no streamed body. */
  ssize_t (*read)(void *ctx, uint64_t off, void *buf, size_t len);
  /* Response sink, called for 2xx responses only (other bodies go to memory
   * so the error can be read). Returns 0, or < 0 to fail the request with
   * WFC_EIO. NULL: bodies go to memory. */
  int (*write)(void *ctx, const void *buf, size_t len);
  /* After each write: the bytes written so far and the response's
   * Content-Length (0 when it has none). NULL: not wanted. */
  void (*progress)(void *ctx, uint64_t done, uint64_t total);
  void *ctx;
} wfc__http_io;

/* Creates an engine on loop (borrowed; must outlive the engine). The host
 * calls curl_global_init() once before. Returns 0 or WFC_ENOMEM/WFC_EINVAL.
 */
int wfc__http_engine_new(uv_loop_t *loop, const wfc__http_opts *opts,
                         wfc__http_engine **out);

/* Orderly shutdown: refuses new sends (WFC_ESTATE), completes every request
 * not yet called back with WFC_ECANCELED (each callback once, later on the
 * loop), removes and cleans every easy handle, cleans the multi handle and
 * closes the engine's uv handles. done(arg) runs once, on the loop, after
 * the last handle is closed; the engine is freed then, and the loop may be
 * closed (uv_loop_close() == 0) once nothing else is on it. Calling it again
 * is a no-op. */
void wfc__http_engine_close(wfc__http_engine *e, void (*done)(void *arg),
                            void *arg);

/* Number of requests sent and not yet called back. */
size_t wfc__http_engine_pending(const wfc__http_engine *e);

/* Counters, for tests and benchmarks: they show the wiring's invariants
 * from outside. */
typedef struct wfc__http_stats {
  uint64_t socket_actions;  /* calls to curl_multi_socket_action */
  uint64_t zero_timeouts;   /* curl timeouts of 0 ms, deferred to the idle */
  int max_curl_depth;       /* deepest nesting of our calls into libcurl: 1
                               means libcurl was never re-entered */
  uint64_t sockets_opened;  /* by CURLOPT_OPENSOCKETFUNCTION */
  uint64_t sockets_closed;  /* by CURLOPT_CLOSESOCKETFUNCTION */
  size_t polls;             /* sockets watched now */
  uint64_t polls_made;      /* socket polls made (one per connection while
                               curl keeps it, started again per transfer) */
  uint64_t secret_requests; /* sent carrying a credential in their body */
} wfc__http_stats;
void wfc__http_engine_stats(const wfc__http_engine *e, wfc__http_stats *out);

/* Secrets (docs/security.md): the copy of a credential header
 * (Authorization, Proxy-Authorization, Cookie) is kept in secret memory
 * (secmem.h: excluded from core dumps), cleansed when its request is freed;
 * the engine keeps up to 8 such cleansed blocks for the next requests'
 * copies and frees them when it closes. A request
 * whose in-memory body (up to 64 KiB) carries a credential - a form field
 * (name=) or a JSON member ("name":) named grant_type, refresh_token, code,
 * code_verifier, client_secret, client_assertion, assertion, password,
 * access_token, id_token, token, device_code, subject_token or actor_token,
 * which covers every OAuth 2.0 token request of any identity provider - is
 * a secret request: its body copy and its in-memory response body are in
 * secret memory too (the callback's res->body), and its libcurl handle is
 * not reused (libcurl keeps the last data it received in the handle). Over
 * TLS, OpenSSL cleanses received plaintext once libcurl has it
 * (SSL_OP_CLEANSE_PLAINTEXT). libcurl's own copies are cleansed when freed
 * only in a process set up with wfc_process_harden (wfc/host.h).
 *
 * Validates and queues a request. req (and everything it points to) is
 * borrowed during the call and copied; io (optional) is borrowed until the
 * callback. req->body_blob and req->sink_blob are ignored here: streaming
 * goes through io (io->read uses req->body_length as Content-Length).
 * On success returns 0, and cb(arg, res) runs exactly once later; *out
 * (optional) is valid until then. On error returns, without ever calling
 * cb:
 *   WFC_EINVAL  bad method (not a token), URL (not absolute http/https) or
 *               body arguments;
 *   WFC_EHEADER a header that is not "Name: value" with a token name, or
 *               that holds CR or LF;
 *   WFC_ESTATE  the engine is closing;
 *   WFC_ENOMEM.
 * res (borrowed during cb) has error 0 and the HTTP status (any status is a
 * success at this level), or error WFC_ENET, WFC_ETLS, WFC_ETIMEDOUT (the
 * deadline counts from this call, queueing included), WFC_ECANCELED,
 * WFC_ETOOBIG (in-memory body over the cap) or WFC_EIO (io failed), with
 * error_message naming the method, the origin and the cause (never request
 * headers, paths or queries). */
int wfc__http_send(wfc__http_engine *e, const wfc_http_req *req,
                   const wfc__http_io *io, wfc_http_cb cb, void *arg,
                   wfc_http **out);

/* Cancels a request whose callback has not run yet: the callback runs later
 * with WFC_ECANCELED. Safe from any engine callback. */
void wfc__http_cancel(wfc_http *h);

/* Value of a response header of res (a response passed to a callback of
 * this engine), case-insensitive, the last one received wins; NULL if
 * absent. Borrowed during the callback. */
const char *wfc__http_header(const wfc_http_res *res, const char *name);

#endif
