/* graph.h - the Microsoft Graph client every card uses.
 *
 * One request = o365_graph_send(): it takes the connection's Graph base URL
 * and a valid token from the host (api->conn_token), sends with
 * "Authorization: Bearer" and a fresh client-request-id, and calls back
 * exactly once with the parsed result. On the way it
 *   - on 401: reports the token (api->conn_token_rejected) and retries once
 *     with a fresh one (the host refreshes, single flight per connection);
 *   - on 429 and 503: waits Retry-After (or an exponential backoff when
 *     absent) plus jitter, and retries, at most O365_GRAPH_MAX_ATTEMPTS
 *     times; a wait longer than O365_GRAPH_MAX_WAIT_MS is not waited out
 *     but reported (WFC_ETHROTTLED with retry_after_ms);
 *   - on 502/504 and transport errors: retries only idempotent requests.
 *   - per mailbox, at most O365_GRAPH_MAX_CONCURRENT attempts run at once
 *     (the rest wait in FIFO order), and a Retry-After pauses the whole
 *     mailbox, so that bulk work meets no avoidable 429.
 * Why 429/503 are retried even for a non-idempotent POST (sendMail, reply,
 * forward, send): Graph's throttling and availability front end answers
 * them before the request reaches the mailbox ("the request was not
 * processed": graph-protocol.md B.12, errors.md), so resending cannot
 * duplicate a message. A 504 or a reset connection gives no such promise:
 * the POST may have been executed, so it is not repeated and the card gets
 * the error.
 *
 * The callback owns nothing it gets: res and everything in it are borrowed
 * for the duration of the callback.
 *
 * Cancellation: while requests of a call run they hold the call's cancel
 * callback (api->call_on_cancel); when the host cancels, every one of them
 * stops and its callback gets WFC_ECANCELED. Several requests per call may
 * run at once. The slot is cleared (call_on_cancel(call, NULL, NULL)) when
 * the call's last request completes, before its callback runs; a card that
 * keeps working afterwards without Graph registers its own. */
#ifndef O365_GRAPH_H
#define O365_GRAPH_H

#include <stddef.h>
#include <stdint.h>

#include <wfc/plugin.h>

#include "util.h"

struct json_object;

#define O365_GRAPH_MAX_ATTEMPTS 5
/* Attempts in flight at once per mailbox (Outlook's limit is 4). */
#define O365_GRAPH_MAX_CONCURRENT 4
#define O365_GRAPH_MAX_WAIT_MS    120000

enum {
  /* Safe to repeat after any transient failure. Implied for GET, HEAD, PUT
   * and DELETE; set it on a POST/PATCH only when repeating it is harmless.
   */
  O365_GRAPH_IDEMPOTENT = 1u << 0,
  /* Don't parse the body as JSON (e.g. $value MIME content). */
  O365_GRAPH_RAW = 1u << 1
};

typedef struct o365_graph_opts {
  const char *method; /* NULL = "GET" */
  /* "/me/messages?$top=10": relative to the Graph base, already encoded
   * (build it with o365_graph_path / o365_buf_*), or an absolute URL on the
   * Graph base's origin (an @odata.nextLink). */
  const char *path;
  const char *base;         /* Graph base URL; NULL = the call's connection's */
  const char *token;        /* explicit bearer token (connection hooks); NULL =
                               api->conn_token of the call's connection */
  struct json_object *body; /* JSON body (borrowed during send; copied) */
  const char *raw_body;     /* or a raw body (copied) ... */
  size_t raw_len;
  const char *content_type; /* ... of this type */
  /* Accept: the media type(s) the documents declare for the response;
   * NULL = "application/json". A strict server answers 406 to a wrong
   * one (.../$value returns application/octet-stream). */
  const char *accept;
  const char *const *headers; /* extra "Name: value", NULL-terminated;
                                 borrowed during send (copied) */
  wfc_blob *body_blob; /* or stream the body from this blob (borrowed until
                          the callback) */
  uint64_t body_offset;
  uint64_t body_length;
  wfc_blob *sink_blob; /* stream a 2xx body here (no transport retries) */
  uint32_t timeout_ms; /* per attempt; 0 = host default */
  unsigned flags;      /* O365_GRAPH_* */
  /* Take the mailbox gate of this path ("/me", "/users/x") instead of the
   * URL's: a POST /$batch whose requests all address one mailbox. */
  const char *gate_as;
} o365_graph_opts;

/* A Graph error, from the OData error body and the response headers. */
typedef struct o365_graph_err {
  char code[128]; /* "ErrorItemNotFound" ... or "" */
  char message[512];
  char request_id[80];
  char client_request_id[80];
} o365_graph_err;

typedef struct o365_graph_res {
  int error;        /* 0 for 2xx; else WFC_E* (see o365_graph_status_error) */
  long status;      /* HTTP status, 0 when no response */
  const char *body; /* "" when none or sunk */
  size_t body_len;
  struct json_object *json; /* parsed body, or NULL */
  const char *next_link;    /* @odata.nextLink when on the same origin */
  /* The page was read (json holds it) but its @odata.nextLink cannot be
   * followed (not a string, not an absolute URL, another origin): why.
   * error is then WFC_EPROTO and message the same words, so a card that
   * ignores this fails naming the real problem; one whose contract allows a
   * partial result keeps the page (o365_graph_page_readable). */
  const char *next_link_error;
  const wfc_http_res *http; /* for api->http_header; NULL if none */
  const char *message;      /* why, when error != 0 */
  o365_graph_err gerr;      /* when status >= 400 */
  int64_t retry_after_ms;   /* last Retry-After seen, -1 if none */
  int attempts;             /* HTTP requests sent */
  /* A request that is not safe to repeat (a POST such as sendMail) failed
   * in a way that does not say whether Graph carried it out: the
   * connection broke or timed out after sending, or a gateway answered
   * 502/504; or Graph answered 2xx (carried out) with a body that cannot
   * be read (error WFC_EPROTO). It was not repeated; the caller must not
   * assume either outcome. */
  int outcome_unknown;
  /* The host gave no access token for the attempt (a refresh that failed,
   * or one the identity platform's throttling holds back: retry_after_ms
   * is then its wait): the cause is the identity platform, not Graph,
   * and this attempt sent nothing. */
  int no_token;
  /* Refused before any request, for a card input (e.g. "mailbox": a "/me"
   * path on an app-only connection), named in o365_graph_detail's
   * "field". NULL otherwise. */
  const char *field;
} o365_graph_res;

typedef struct o365_graph_req o365_graph_req;
typedef void (*o365_graph_cb)(void *arg, const o365_graph_res *res);

/* Starts a request for call (borrowed; must stay open until cb). cb runs
 * exactly once, later, on the loop. *out (optional) is valid until cb.
 * Returns 0, or a negative code (cb then never runs). */
int o365_graph_send(wfc_call *call, const o365_graph_opts *o, o365_graph_cb cb,
                    void *arg, o365_graph_req **out);
/* Stops a request; its callback then runs with WFC_ECANCELED. */
void o365_graph_cancel(o365_graph_req *r);

/* {"status","code","message","request_id","client_request_id","field"} of
 * a Graph result, the fields that are set (new object). */
struct json_object *o365_graph_detail(const o365_graph_res *res);

/* Completes call with res's error: code from o365_graph_status_error,
 * detail o365_graph_detail(res) [+ "retry_after_ms"] [+ "outcome":
 * "unknown"], message "<what>: <Graph code>: <Graph message>", followed
 * for an unknown outcome by " (the outcome is unknown: <advice>)": advice
 * that fits every card (check before running it again); a card that has
 * better advice (an idempotency key) gives it with o365_graph_fail_hint. */
void o365_graph_fail(wfc_call *call, const o365_graph_res *res,
                     const char *what);
void o365_graph_fail_hint(wfc_call *call, const o365_graph_res *res,
                          const char *what, const char *hint);

/* Paging: fetches o->path, then follows @odata.nextLink (same origin
 * only; a link that cannot be followed ends with WFC_EPROTO and
 * res->next_link_error, the page still in res->json) while on_page returns
 * non-zero. on_page sees every page's result; the last call is the one
 * with res->error != 0, res->next_link == NULL, or on_page returning 0.
 * The strings and headers of o are copied. Without o->base (and
 * o->token), the connection's Graph base is read once, here, for all the
 * pages: a bad configuration is returned here (WFC_EINVAL, logged). */
typedef int (*o365_graph_page_cb)(void *arg, const o365_graph_res *res);
int o365_graph_pages(wfc_call *call, const o365_graph_opts *o,
                     o365_graph_page_cb on_page, void *arg);

/* Are res's items usable: a success, or a good page whose nextLink alone
 * is unusable (res->next_link_error)? */
int o365_graph_page_readable(const o365_graph_res *res);

/* The list of a listing card's output (its pages' items): the host's list
 * kept as text when it has one (ABI 1.5, wfc_host_api.list_new: each item
 * is serialized when added and freed, so 10,000 messages hold 12 MB of
 * text instead of ~45 MB of json-c objects), else a json-c array. Put it
 * in the output with json_object_object_add; never read its items back
 * (count them as they are added). Transfer; NULL when out of memory. */
struct json_object *o365_list_new(wfc_call *call);
/* Appends item (transfer, also on error) to a list of o365_list_new. 0 or
 * WFC_ENOMEM (the list as it was). */
int o365_list_add(struct json_object *list, struct json_object *item);

/* Frees the mailbox gates (plugin shutdown, after every call). */
void o365_graph_shutdown(void);

/* "/me/seg1/seg2..." or "/users/{mailbox}/seg1/...": each segment
 * percent-encoded, NULL-terminated list. Add a query with o365_buf_query or
 * by appending to the result. Transfer (free()), NULL on OOM. */
char *o365_graph_path(const char *mailbox, ...) __attribute__((sentinel));

/* The mailbox a card acts in (borrowed): its "mailbox" input, else the
 * connection's "mailbox" parameter (an app-only connection's default),
 * else NULL: the signed-in user ("/me"). The one place a card's mailbox is
 * decided; o365_graph_send refuses "/me" on an app-only connection, naming
 * the "mailbox" input. */
const char *o365_call_mailbox(wfc_call *call);

/* Graph recipients from a list of strings ("a@b.c") or of objects
 * {"address","name"?} / {"emailAddress":{...}}: [{"emailAddress":
 * {"address","name"?}}]. Transfer; NULL when list is not a list or an
 * item is malformed (*bad then names the index). */
struct json_object *o365_json_recipients(struct json_object *list, int *bad);

/* Appends "/me" (mailbox NULL or "") or "/users/{mailbox}" (encoded) to
 * b. A mailbox is a UPN or an object id. */
void o365_graph_mailbox(o365_buf *b, const char *mailbox);

/* WFC_E* code for an HTTP status: 401 EAUTH, 403 EDENIED, 404 ENOTFOUND,
 * 409 EEXIST, 412 ESTATE, 413 ETOOBIG, 429 ETHROTTLED, 5xx EREMOTE, other
 * 4xx EREMOTE; 0 for 2xx/3xx. */
int o365_graph_status_error(long status);
/* Fills r as the result of a step that sent no request (a look-up that
 * could not start, a deadline passed): error code, message (borrowed), no
 * body, no Retry-After. */
void o365_graph_res_local(o365_graph_res *r, int code, const char *message);

/* Parses an OData error body (may be NULL); request ids fall back to the
 * given response header values (may be NULL). */
void o365_graph_err_parse(struct json_object *body, const char *request_id,
                          const char *client_request_id, o365_graph_err *e);

/* Length of "scheme://authority" at the start of url (the scheme as RFC
 * 3986 spells it, any case), 0 when url is not absolute: "://" inside a
 * query value ("/me/messages?$filter=webLink eq 'https://...'") does not
 * make a path absolute. */
size_t o365_url_origin_len(const char *url);
/* Do two absolute URLs share scheme, host and port (case-insensitive)? */
int o365_url_same_origin(const char *a, const char *b);

#endif
