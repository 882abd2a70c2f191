/* redirect.h - the loopback redirect listener of OAuth authorization.
 *
 * A tiny HTTP/1.1 server on the caller's libuv loop, bound to 127.0.0.1 on
 * a random free port, that waits for the browser to come back to
 * http://127.0.0.1:<port><path> (RFC 8252 section 7.3: loopback redirect
 * for native apps; any port is allowed for loopback).
 *
 *   - Only "GET <path>?<query>" is the redirect; any other path gets 404,
 *     another method on the path 405, a malformed request 400, and the
 *     listener keeps waiting. Requests are bounded (8 KiB of request line
 *     and headers, 16 clients at once).
 *   - The query is percent-decoded ('+' is a space) into a JSON object of
 *     strings; a repeated key, a bad escape or a NUL is a 400 (parameter
 *     pollution is refused rather than guessed at).
 *   - Only a query whose "state" equals the one given to
 *     wfc__redirect_expect() (compared in constant time) is the redirect.
 *     Any other GET of the path (no query, no state, another state, an
 *     error without a state, everything before wfc__redirect_expect) gets a
 *     400 page in plain words, without any of its query, and is ignored:
 *     any local process can reach the port, and must not be able to end an
 *     authorization it did not start.
 *   - On the redirect, the listener stops accepting and calls cb once with
 *     status 0 and the query; the browser's connection is kept open until
 *     the owner answers it with wfc__redirect_respond() (so the page can
 *     tell the outcome). Without a redirect within timeout_ms, cb gets
 *     WFC_ETIMEDOUT.
 *   - When all 16 client slots are taken, a new connection takes the slot
 *     of the oldest one that has not sent a complete request yet, so idle
 *     or slow connections cannot lock the browser out.
 *
 * Everything runs on the loop thread. The owner frees the listener with
 * wfc__redirect_close() (also after cb); its handles close asynchronously
 * on the loop, and cb is never called after close.
 */
#ifndef WFC_SDK_REDIRECT_H
#define WFC_SDK_REDIRECT_H

#include <stdint.h>

#include <uv.h>

struct json_object;

typedef struct wfc__redirect wfc__redirect;

/* status 0: query (borrowed during the call) holds the decoded parameters;
 * else WFC_ETIMEDOUT or WFC_EIO (query NULL). */
typedef void (*wfc__redirect_cb)(void *arg, int status,
                                 struct json_object *query);

#define WFC__REDIRECT_DEFAULT_TIMEOUT_MS (5u * 60u * 1000u)

/* Starts listening. path (copied) must start with '/' ("/callback");
 * timeout_ms 0 means the default. *out is owned by the caller. Returns 0,
 * WFC_EINVAL, WFC_ENOMEM or WFC_EIO (cannot bind). */
int wfc__redirect_start(uv_loop_t *loop, const char *path, uint64_t timeout_ms,
                        wfc__redirect_cb cb, void *arg, wfc__redirect **out);

/* Sets the state (copied; cleansed when the listener is freed) that a
 * redirect must carry to end the listener: the "state" parameter of the
 * authorization URL, which the authorization server sends back unchanged
 * (RFC 6749 4.1.2). Must be non-empty. Returns 0 or WFC_EINVAL,
 * WFC_ENOMEM. */
int wfc__redirect_expect(wfc__redirect *r, const char *state);

/* How many GETs of the path were ignored because they did not carry the
 * expected state (for the owner's timeout message). */
unsigned wfc__redirect_ignored(const wfc__redirect *r);

/* "http://127.0.0.1:<port><path>", owned by the listener. */
const char *wfc__redirect_uri(const wfc__redirect *r);
int wfc__redirect_port(const wfc__redirect *r);

/* Answers the browser that made the redirect with a small HTML page:
 * status 200 when ok, else 400; title and message (borrowed, HTML-escaped
 * here) in the page. No-op when there is no such browser connection. */
void wfc__redirect_respond(wfc__redirect *r, int ok, const char *title,
                           const char *message);

/* Stops everything and frees the listener once its handles have closed.
 * A pending browser connection that was not answered gets a generic page.
 * NULL-safe. */
void wfc__redirect_close(wfc__redirect *r);

/* Decodes an application/x-www-form-urlencoded query (without '?') into
 * *out (transfer). WFC_EINVAL for a bad escape, a NUL byte, an empty or
 * repeated key. Exposed for tests and fuzzing. */
int wfc__redirect_parse_query(const char *q, size_t len,
                              struct json_object **out);

/* The value of parameter key in url's query (after '?', before '#'),
 * decoded like the redirect's query, into *out (transfer, free()).
 * WFC_ENOTFOUND when absent, WFC_EINVAL when repeated or badly escaped,
 * WFC_ENOMEM. */
int wfc__redirect_url_param(const char *url, const char *key, char **out);

#endif
