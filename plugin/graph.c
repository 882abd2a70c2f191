/* graph.c - see graph.h. */
#define _DEFAULT_SOURCE /* explicit_bzero, strdup */
#include "graph.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "apponly.h"
#include "config.h"
#include "entry.h"

enum req_stage { ST_TOKEN, ST_HTTP, ST_WAIT, ST_QUEUED, ST_DONE };

typedef struct gate gate;

struct o365_graph_req {
  wfc_call *call; /* host-owned */
  wfc_conn *conn; /* host-owned, NULL with an explicit token */
  o365_graph_cb cb;
  void *arg;
  /* Everything below is owned by the request (copied from the opts). */
  const char *method; /* a static name (method_name) or method_own */
  char *method_own;
  char *url; /* in the request's own allocation, after it */
  char *body;
  size_t body_len;
  /* The header lines every attempt sends, composed once per request:
   * static text, or the owned *_own line. */
  const char *accept_line;       /* "Accept: ..." */
  const char *content_type_line; /* "Content-Type: ...", or NULL */
  char *accept_own;
  char *content_type_own;
  char **extra; /* NULL-terminated */
  char *explicit_token;
  char *auth;        /* "Authorization: Bearer <token>" of this attempt */
  const char *token; /* the token of the current attempt: in auth */
  wfc_blob *body_blob;
  uint64_t body_offset;
  uint64_t body_length;
  wfc_blob *sink_blob;
  uint32_t timeout_ms;
  unsigned flags;
  int idempotent;
  /* "client-request-id: <uuid>": the same for every attempt; the id
   * alone is crid_line + CRID_NAME_LEN. */
  char crid_line[64];
  int attempts;
  int auth_retried;
  int64_t retry_after_ms;
  enum req_stage stage;
  int canceled;
  wfc_http *http;
  wfc_timer *timer;
  gate *gate;            /* the mailbox's gate, NULL when not gated */
  int holds_slot;        /* counted in gate->active */
  o365_graph_req *qnext; /* in gate's queue */
  o365_graph_req *cnext; /* in its call's list */
  /* Refused before sending (static words, the input at fault): delivered
   * from a timer, as every callback runs later. */
  const char *refusal;
  const char *refusal_field;
};

/* ---- Requests of a call ---------------------------------------------------
 *
 * A call has one cancel slot (api->call_on_cancel) but a card may run
 * several Graph requests at once: the slot points at the call's list, a
 * cancel stops them all, and it is cleared when the last one completes. */
typedef struct call_reqs {
  wfc_call *call;
  o365_graph_req *head;
  int canceling; /* inside on_call_cancel: the list stays */
  struct call_reqs *next;
} call_reqs;

static call_reqs *calls;

/* ---- Mailbox gates ----------------------------------------------------
 *
 * Outlook throttles per app and mailbox: 4 concurrent requests, and a 429
 * with Retry-After when exceeded. So that a bulk job meets no avoidable
 * 429, each mailbox (Graph origin + "/users/{id}", or the connection's
 * account for "/me") admits O365_GRAPH_MAX_CONCURRENT attempts at a time;
 * the others wait in FIFO order. A 429 or 503 with Retry-After closes the
 * mailbox's gate for that long, for every request queued behind it, not
 * only the one that was refused. Gates live on the loop thread (plugin
 * global state); an idle, open gate is freed. */
struct gate {
  char key[600];
  int active;
  int refs;              /* requests pointing here (queued, waiting, ...) */
  int64_t blocked_until; /* host clock, epoch ms */
  o365_graph_req *head, *tail;
  wfc_timer *timer; /* reopens the gate at blocked_until */
  gate *next;
};

static gate *gates;

/* Wipes a secret string (a bearer token, its header line) and frees it.
 * The compiler may not drop explicit_bzero as a dead store (as it may a
 * memset before free), and it runs at memset's speed: OPENSSL_cleanse's
 * byte loop cost more than the rest of freeing a request. */
static void wipe_free(char *s) {
  if (s != NULL) {
    explicit_bzero(s, strlen(s));
    free(s);
  }
}

#define CRID_NAME     "client-request-id: "
#define CRID_NAME_LEN (sizeof CRID_NAME - 1)

static void req_free(o365_graph_req *r) {
  if (r->gate != NULL)
    r->gate->refs--; /* the caller then offers the gate to gate_maybe_free */
  free(r->method_own);
  if (r->body != NULL) {
    OPENSSL_cleanse(r->body, r->body_len);
    free(r->body);
  }
  free(r->content_type_own);
  free(r->accept_own);
  if (r->extra != NULL) {
    for (size_t i = 0; r->extra[i]; i++)
      free(r->extra[i]);
    free(r->extra);
  }
  wipe_free(r->explicit_token);
  wipe_free(r->auth);
  free(r);
}

int o365_graph_status_error(long status) {
  if (status < 400)
    return 0;
  switch (status) {
  case 401:
    return WFC_EAUTH;
  case 403:
    return WFC_EDENIED;
  case 404:
    return WFC_ENOTFOUND;
  case 409:
    return WFC_EEXIST;
  case 412:
    return WFC_ESTATE;
  case 413:
    return WFC_ETOOBIG;
  case 429:
    return WFC_ETHROTTLED;
  default:
    return WFC_EREMOTE;
  }
}

void o365_graph_err_parse(struct json_object *body, const char *request_id,
                          const char *client_request_id, o365_graph_err *e) {
  memset(e, 0, sizeof *e);
  struct json_object *err = NULL, *inner = NULL;
  if (body != NULL && json_object_is_type(body, json_type_object) &&
      json_object_object_get_ex(body, "error", &err) &&
      json_object_is_type(err, json_type_object)) {
    o365_strlcpy(e->code, o365_json_str(err, "code"), sizeof e->code);
    o365_strlcpy(e->message, o365_json_str(err, "message"), sizeof e->message);
    if (json_object_object_get_ex(err, "innerError", &inner) ||
        json_object_object_get_ex(err, "innererror", &inner)) {
      o365_strlcpy(e->request_id, o365_json_str(inner, "request-id"),
                   sizeof e->request_id);
      o365_strlcpy(e->client_request_id,
                   o365_json_str(inner, "client-request-id"),
                   sizeof e->client_request_id);
    }
  }
  if (e->request_id[0] == '\0')
    o365_strlcpy(e->request_id, request_id, sizeof e->request_id);
  if (e->client_request_id[0] == '\0')
    o365_strlcpy(e->client_request_id, client_request_id,
                 sizeof e->client_request_id);
}

size_t o365_url_origin_len(const char *url) {
  size_t i = 0;
  if (url == NULL || !isalpha((unsigned char)url[0]))
    return 0;
  while (isalnum((unsigned char)url[i]) || url[i] == '+' || url[i] == '-' ||
         url[i] == '.')
    i++;
  if (strncmp(url + i, "://", 3) != 0)
    return 0;
  i += 3;
  return i + strcspn(url + i, "/?#");
}

int o365_url_same_origin(const char *a, const char *b) {
  if (a == NULL || b == NULL)
    return 0;
  size_t la = o365_url_origin_len(a);
  size_t lb = o365_url_origin_len(b);
  return la > 0 && la == lb && strncasecmp(a, b, la) == 0;
}

void o365_graph_mailbox(o365_buf *b, const char *mailbox) {
  if (mailbox == NULL || *mailbox == '\0') {
    o365_buf_put(b, "/me");
  } else {
    o365_buf_put(b, "/users");
    o365_buf_seg(b, mailbox);
  }
}

/* Why an @odata.nextLink (nl, a JSON value) cannot be followed from a
 * page fetched at url, in words naming the actual fault (written into buf),
 * or NULL when it can. Only a link on the same origin is followed: the
 * bearer token must not go elsewhere. */
static const char *next_link_problem(struct json_object *nl, const char *url,
                                     char *buf, size_t n) {
  if (!json_object_is_type(nl, json_type_string)) {
    snprintf(buf, n,
             "Graph's @odata.nextLink is a JSON %s, not a URL; the pages "
             "after this one cannot be read",
             json_type_to_name(json_object_get_type(nl)));
    return buf;
  }
  const char *next = json_object_get_string(nl);
  size_t bad = strcspn(next, " \t\r\n\"<>\\^`{|}");
  size_t olen = o365_url_origin_len(next);
  if (*next == '\0' || olen == 0 || next[bad] != '\0' ||
      olen == strcspn(next, ":") + 3) {
    snprintf(
        buf, n,
        "Graph's @odata.nextLink is not a valid absolute URL (\"%.80s%s\"); "
        "the pages after this one cannot be read",
        next, strlen(next) > 80 ? "..." : "");
    return buf;
  }
  if (!o365_url_same_origin(next, url)) {
    snprintf(buf, n,
             "Graph's @odata.nextLink points to another origin (%.*s) than "
             "the request's; not followed (the token is not sent there)",
             (int)(olen < 120 ? olen : 120), next);
    return buf;
  }
  return NULL;
}

/* The plugin links no host symbol (no wfc_strerror): its own words. */
static const char *code_message(int code) {
  switch (code) {
  case WFC_ENET:
    return "network error";
  case WFC_ETLS:
    return "TLS error";
  case WFC_ETIMEDOUT:
    return "the request timed out";
  case WFC_ECANCELED:
    return "canceled";
  case WFC_ETOOBIG:
    return "the response is too large";
  case WFC_EREAUTH:
    return "the connection must be reauthorized";
  case WFC_ENOMEM:
    return "out of memory";
  default:
    return "request failed";
  }
}

static void gate_unqueue(o365_graph_req *r);
static void gate_release(o365_graph_req *r);
static void call_untrack(o365_graph_req *r);
static void on_call_cancel(void *arg);
static void gate_maybe_free(gate *g);

void o365_graph_res_local(o365_graph_res *r, int code, const char *message) {
  memset(r, 0, sizeof *r);
  r->error = code;
  r->message = message;
  r->body = "";
  r->retry_after_ms = -1;
}

/* ---- Completion -----------------------------------------------------------
 */

/* Does the response say its body is JSON (Content-Type)? */
static int is_json(const wfc_http_res *http) {
  const char *ctype = o365_api->http_header(http, "Content-Type");
  return ctype != NULL && strstr(ctype, "json") != NULL;
}

static void deliver(o365_graph_req *r, int error, const char *message,
                    const wfc_http_res *http) {
  o365_graph_res res;
  memset(&res, 0, sizeof res);
  res.error = error;
  res.message = message;
  res.attempts = r->attempts;
  res.retry_after_ms = r->retry_after_ms;
  res.body = "";
  res.field = error != 0 && message == r->refusal ? r->refusal_field : NULL;
  struct json_object *json = NULL;
  char why[96];      /* res.message, when composed here */
  char linkwhy[320]; /* ... or about an unusable nextLink */
  if (http != NULL && http->error == 0) {
    res.http = http;
    res.status = http->status;
    res.body = http->body ? http->body : "";
    res.body_len = http->body ? http->body_len : 0;
    /* A raw request's error answer is still Graph's JSON error. An
     * object is parsed whatever its type says (the header is looked up
     * only for another body). */
    if ((!(r->flags & O365_GRAPH_RAW) || res.status >= 400) &&
        res.body_len > 0 && (res.body[0] == '{' || is_json(http))) {
      json = o365_json_parse(res.body, res.body_len);
      if (json == NULL && res.status < 400) {
        res.error = WFC_EPROTO;
        res.message = "Graph returned a malformed JSON body";
        if (res.status >= 200 && res.status < 300 && !r->idempotent) {
          /* A 2xx says the request was carried out; only the answer is
           * unreadable. Not "nothing happened": the outcome is unknown to
           * the card (a send may have gone out, a folder been created). */
          res.outcome_unknown = 1;
          snprintf(why, sizeof why,
                   "Graph answered %ld but with a malformed JSON body",
                   res.status);
          res.message = why;
        }
      }
    }
    res.json = json;
    if (res.status >= 400) {
      /* error given with a response: the caller's reading of it wins. */
      int given = error != 0;
      if (!given)
        res.error = o365_graph_status_error(res.status);
      o365_graph_err_parse(json, o365_api->http_header(http, "request-id"),
                           o365_api->http_header(http, "client-request-id"),
                           &res.gerr);
      if (res.gerr.client_request_id[0] == '\0')
        o365_strlcpy(res.gerr.client_request_id, r->crid_line + CRID_NAME_LEN,
                     sizeof res.gerr.client_request_id);
      if (!given && res.gerr.message[0]) {
        res.message = res.gerr.message;
      } else if (!given) {
        snprintf(why, sizeof why,
                 "Graph answered HTTP %ld without an error "
                 "message",
                 res.status);
        res.message = why;
      }
    } else if (res.error == 0 && json != NULL) {
      struct json_object *nl = NULL;
      if (json_object_is_type(json, json_type_object) &&
          json_object_object_get_ex(json, "@odata.nextLink", &nl)) {
        const char *bad =
            next_link_problem(nl, r->url, linkwhy, sizeof linkwhy);
        if (bad == NULL) {
          res.next_link = json_object_get_string(nl);
        } else {
          /* The page itself is good (res.json stays): a card whose
           * contract allows a partial result keeps it (page_readable). */
          res.error = WFC_EPROTO;
          res.message = bad;
          res.next_link_error = bad;
        }
      }
    }
  }
  if (res.error != 0 && res.message == NULL)
    res.message = code_message(res.error);
  /* No token for this attempt: the request was not sent again, and the
   * failure is the identity platform's (a refresh), not Graph's. */
  res.no_token = r->stage == ST_TOKEN && http == NULL;
  if (!res.no_token && !r->idempotent && r->attempts > 0 &&
      ((http == NULL && (error == WFC_ENET || error == WFC_ETIMEDOUT)) ||
       res.status == 502 || res.status == 504))
    res.outcome_unknown = 1;
  gate *g = r->gate;
  if (r->stage == ST_QUEUED)
    gate_unqueue(r);
  r->stage = ST_DONE;
  gate_release(r);
  call_untrack(r);
  o365_api->log(3, "o365mail: %s %s -> %ld (%d attempt%s)%s%s", r->method,
                r->url, res.status, r->attempts, r->attempts == 1 ? "" : "s",
                res.error ? ": " : "", res.error ? res.message : "");
  r->cb(r->arg, &res);
  json_object_put(json);
  req_free(r);
  if (g != NULL)
    gate_maybe_free(g);
}

static int start_attempt(o365_graph_req *r);
static void deliver(o365_graph_req *r, int error, const char *message,
                    const wfc_http_res *http);

/* Does a Retry-After keep g closed now? (A gate never closed reads no
 * clock.) */
static int gate_closed(const gate *g) {
  return g->blocked_until != 0 && g->blocked_until > o365_api->now_ms();
}

static void gate_maybe_free(gate *g) {
  if (g->refs > 0 || g->active > 0 || g->head != NULL || g->timer != NULL ||
      gate_closed(g))
    return;
  for (gate **pp = &gates; *pp; pp = &(*pp)->next) {
    if (*pp == g) {
      *pp = g->next;
      free(g);
      return;
    }
  }
}

static void gate_wake(gate *g);

static void gate_timer_cb(void *arg) {
  gate *g = arg;
  g->timer = NULL;
  gate_wake(g);
  gate_maybe_free(g);
}

/* Starts queued requests while the gate is open and has room. */
static void gate_wake(gate *g) {
  int64_t now = g->blocked_until != 0 ? o365_api->now_ms() : 0;
  if (g->blocked_until > now) {
    if (g->timer == NULL && g->head != NULL &&
        o365_api->timer_start((uint64_t)(g->blocked_until - now), gate_timer_cb,
                              g, &g->timer) != 0)
      g->timer = NULL;
    return;
  }
  while (g->head != NULL && g->active < O365_GRAPH_MAX_CONCURRENT) {
    o365_graph_req *r = g->head;
    g->head = r->qnext;
    if (g->head == NULL)
      g->tail = NULL;
    r->qnext = NULL;
    g->active++;
    r->holds_slot = 1;
    int rc = start_attempt(r);
    if (rc != 0)
      deliver(r, rc, "request failed", NULL);
  }
}

static void gate_release(o365_graph_req *r) {
  if (r->gate == NULL || !r->holds_slot)
    return;
  r->holds_slot = 0;
  r->gate->active--;
  gate_wake(r->gate);
}

static void gate_block(gate *g, int64_t delay_ms) {
  int64_t until = o365_api->now_ms() + delay_ms;
  if (g != NULL && until > g->blocked_until)
    g->blocked_until = until;
}

static void gate_unqueue(o365_graph_req *r) {
  gate *g = r->gate;
  o365_graph_req **pp = &g->head, *prev = NULL;
  while (*pp != NULL && *pp != r) {
    prev = *pp;
    pp = &(*pp)->qnext;
  }
  if (*pp == r) {
    *pp = r->qnext;
    if (g->tail == r)
      g->tail = prev;
  }
  r->qnext = NULL;
}

/* Appends n bytes of s to the key at at, as snprintf would (cut at
 * keysz - 1, NUL-terminated); the new length. */
static size_t key_put(char *key, size_t keysz, size_t at, const char *s,
                      size_t n) {
  if (at + n >= keysz)
    n = keysz - 1 - at;
  memcpy(key + at, s, n);
  key[at + n] = '\0';
  return at + n;
}

/* The mailbox an URL addresses, as a gate key; 0 when not gated. */
static int gate_key(o365_graph_req *r, const char *url, char *key,
                    size_t keysz) {
  size_t olen = 0;
  const char *p = strstr(url, "://");
  if (p == NULL || r->conn == NULL)
    return 0;
  olen = (size_t)(p + 3 - url) + strcspn(p + 3, "/?#");
  /* Skip the version segment ("/v1.0", "/beta"). */
  const char *path = url + olen;
  if (*path == '/')
    path += 1 + strcspn(path + 1, "/?#");
  /* Composed by copying (snprintf cost more than the gate itself). */
  size_t at = key_put(key, keysz, 0, url, olen);
  if (strncmp(path, "/users/", 7) == 0) {
    at = key_put(key, keysz, at, path, 7 + strcspn(path + 7, "/?#"));
  } else if (strncmp(path, "/me", 3) == 0 &&
             (path[3] == '/' || path[3] == '?' || path[3] == '\0')) {
    const char *account =
        o365_json_str(o365_api->conn_info(r->conn), "account");
    if (account != NULL) {
      at = key_put(key, keysz, at, "/users/", 7);
      at = key_put(key, keysz, at, account, strlen(account));
    } else {
      snprintf(key + at, keysz - at, "/conn/%p", (void *)r->conn);
    }
  } else {
    return 0;
  }
  for (char *c = key; *c; c++)
    if (*c >= 'A' && *c <= 'Z')
      *c = (char)(*c - 'A' + 'a');
  return 1;
}

static gate *gate_find(const char *key) {
  for (gate *g = gates; g; g = g->next)
    if (strcmp(g->key, key) == 0)
      return g;
  gate *g = calloc(1, sizeof *g);
  if (g == NULL)
    return NULL;
  o365_strlcpy(g->key, key, sizeof g->key);
  g->next = gates;
  gates = g;
  return g;
}

static void throttled_cb(void *arg) {
  o365_graph_req *r = arg;
  r->timer = NULL;
  deliver(r, WFC_ETHROTTLED,
          "the mailbox is throttled for longer than the plugin waits", NULL);
}

/* Starts an attempt now, or queues it behind the mailbox's gate. */
static int admit(o365_graph_req *r) {
  gate *g = r->gate;
  if (g == NULL)
    return start_attempt(r);
  if (g->head == NULL && g->active < O365_GRAPH_MAX_CONCURRENT &&
      !gate_closed(g)) {
    g->active++;
    r->holds_slot = 1;
    int rc = start_attempt(r);
    if (rc != 0) {
      r->holds_slot = 0;
      g->active--;
    }
    return rc;
  }
  int64_t wait = g->blocked_until - o365_api->now_ms();
  if (wait > O365_GRAPH_MAX_WAIT_MS) {
    /* Not waited out silently: reported (later, never from inside send)
     * as throttled with the delay Graph asked for. */
    r->retry_after_ms = wait;
    r->stage = ST_WAIT;
    return o365_api->timer_start(0, throttled_cb, r, &r->timer);
  }
  r->stage = ST_QUEUED;
  if (g->tail)
    g->tail->qnext = r;
  else
    g->head = r;
  g->tail = r;
  gate_wake(g); /* arms the reopening timer when blocked */
  return 0;
}

void o365_graph_shutdown(void) {
  while (gates != NULL) {
    gate *g = gates;
    gates = g->next;
    if (g->timer != NULL)
      o365_api->timer_stop(g->timer);
    free(g);
  }
}

/* ---- The attempt loop ---------------------------------------------------- */

static call_reqs *call_find(wfc_call *call) {
  for (call_reqs *c = calls; c; c = c->next)
    if (c->call == call)
      return c;
  return NULL;
}

static void call_free_if_idle(call_reqs *c) {
  if (c->head != NULL || c->canceling)
    return;
  for (call_reqs **pp = &calls; *pp; pp = &(*pp)->next) {
    if (*pp == c) {
      *pp = c->next;
      break;
    }
  }
  /* Nothing of ours runs for this call any more. */
  o365_api->call_on_cancel(c->call, NULL, NULL);
  free(c);
}

static void call_untrack(o365_graph_req *r) {
  call_reqs *c = r->call ? call_find(r->call) : NULL;
  if (c == NULL)
    return;
  for (o365_graph_req **pp = &c->head; *pp; pp = &(*pp)->cnext) {
    if (*pp == r) {
      *pp = r->cnext;
      break;
    }
  }
  r->cnext = NULL;
  call_free_if_idle(c);
}

static int call_track(o365_graph_req *r) {
  call_reqs *c = call_find(r->call);
  if (c == NULL) {
    c = calloc(1, sizeof *c);
    if (c == NULL)
      return WFC_ENOMEM;
    c->call = r->call;
    c->next = calls;
    calls = c;
  }
  r->cnext = c->head;
  c->head = r;
  o365_api->call_on_cancel(r->call, on_call_cancel, c);
  return 0;
}

/* The host cancels the call: every request of it stops. A cancel may
 * complete a request at once (waiting or queued ones), which unlinks it, so
 * the list is walked again from the start each time. */
static void on_call_cancel(void *arg) {
  call_reqs *c = arg;
  c->canceling = 1;
  for (;;) {
    o365_graph_req *r = c->head;
    while (r != NULL && r->canceled)
      r = r->cnext;
    if (r == NULL)
      break;
    o365_graph_cancel(r);
  }
  c->canceling = 0;
  call_free_if_idle(c);
}

void o365_graph_cancel(o365_graph_req *r) {
  if (r == NULL || r->stage == ST_DONE || r->canceled)
    return;
  r->canceled = 1;
  switch (r->stage) {
  case ST_HTTP:
    /* The HTTP callback comes with WFC_ECANCELED and delivers. */
    if (r->http != NULL)
      o365_api->http_cancel(r->http);
    break;
  case ST_WAIT:
    o365_api->timer_stop(r->timer);
    r->timer = NULL;
    deliver(r, WFC_ECANCELED, "canceled", NULL);
    break;
  case ST_QUEUED:
    deliver(r, WFC_ECANCELED, "canceled", NULL);
    break;
  case ST_TOKEN: /* the token callback sees canceled and delivers */
  case ST_DONE:
    break;
  }
}

static void timer_cb(void *arg) {
  o365_graph_req *r = arg;
  r->timer = NULL;
  int rc = admit(r);
  if (rc != 0)
    deliver(r, rc, code_message(rc), NULL);
}

/* Waits delay_ms (+ jitter) and tries again. */
static int schedule_retry(o365_graph_req *r, int64_t delay_ms) {
  /* Jitter spreads the retries of many waiting requests (up to a quarter
   * of the delay, at least 100 ms worth of spread). */
  uint32_t spread = (uint32_t)(delay_ms / 4 > 100 ? delay_ms / 4 : 100);
  delay_ms += o365_random_below(spread + 1);
  r->stage = ST_WAIT;
  o365_api->log(2, "o365mail: %s %s: retrying in %lld ms (attempt %d)",
                r->method, r->url, (long long)delay_ms, r->attempts + 1);
  return o365_api->timer_start((uint64_t)delay_ms, timer_cb, r, &r->timer);
}

static int64_t backoff_ms(int attempts) {
  int64_t d = 1000;
  for (int i = 1; i < attempts && d < 32000; i++)
    d *= 2;
  return d;
}

static void http_cb(void *arg, const wfc_http_res *res) {
  o365_graph_req *r = arg;
  r->http = NULL;
  if (r->canceled || res->error == WFC_ECANCELED) {
    deliver(r, WFC_ECANCELED, "canceled", NULL);
    return;
  }
  r->attempts++;
  gate_release(r); /* the mailbox's slot is free again */
  int more = r->attempts < O365_GRAPH_MAX_ATTEMPTS;

  if (res->error != 0) {
    /* The request may or may not have reached Graph: repeat only what is
     * safe to repeat, and never into a sink that may hold part of a body. */
    if (more && r->idempotent && r->sink_blob == NULL &&
        schedule_retry(r, backoff_ms(r->attempts)) == 0)
      return;
    deliver(r, res->error,
            res->error_message ? res->error_message : code_message(res->error),
            NULL);
    return;
  }

  if (res->status == 401) {
    /* A claims challenge (Conditional Access, CAE) cannot be met with a
     * refreshed token: the user has to sign in again (A.9). */
    const char *www = o365_api->http_header(res, "WWW-Authenticate");
    if (www != NULL && strstr(www, "insufficient_claims") != NULL) {
      deliver(r, WFC_EREAUTH,
              "Microsoft requires a new sign-in (claims challenge); "
              "reauthorize this connection",
              res);
      return;
    }
  }
  if (res->status == 401 && r->explicit_token == NULL && !r->auth_retried) {
    /* Expired or revoked token: the host refreshes once (single flight)
     * and we try once more. A 401 means nothing was executed. */
    r->auth_retried = 1;
    o365_api->conn_token_rejected(r->conn, r->token);
    int rc = admit(r);
    if (rc != 0)
      deliver(r, rc, code_message(rc), NULL);
    return;
  }

  int throttled = res->status == 429 || res->status == 503;
  int gateway = res->status == 502 || res->status == 504;
  if (throttled || (gateway && r->idempotent)) {
    int64_t ra = o365_retry_after_ms(o365_api->http_header(res, "Retry-After"),
                                     o365_api->now_ms());
    if (ra >= 0) {
      r->retry_after_ms = ra;
      if (throttled) /* the whole mailbox waits, not only this request */
        gate_block(r->gate, ra);
    }
    int64_t delay = ra >= 0 ? ra : backoff_ms(r->attempts);
    if (more && delay <= O365_GRAPH_MAX_WAIT_MS &&
        schedule_retry(r, delay) == 0)
      return;
  }
  deliver(r, 0, NULL, res);
}

#define BEARER "Authorization: Bearer "

static int send_http(o365_graph_req *r, const char *token) {
  /* The header line is built once, sized and copied (a JWT is 1-2 KB:
   * formatting it with printf, measure then write, cost more than the
   * rest of the request set-up), and kept: its tail is the token of this
   * attempt (r->token), which a 401 reports as rejected. The other lines
   * were composed when the request was made. */
  size_t tlen = strlen(token);
  char *auth = malloc(sizeof BEARER + tlen);
  if (auth == NULL)
    return WFC_ENOMEM;
  memcpy(auth, BEARER, sizeof BEARER - 1);
  memcpy(auth + sizeof BEARER - 1, token, tlen + 1);
  wipe_free(r->auth);
  r->auth = auth;
  r->token = auth + sizeof BEARER - 1;
  const char *headers[32];
  size_t n = 0;
  headers[n++] = auth;
  headers[n++] = r->crid_line;
  headers[n++] = r->accept_line;
  if (r->content_type_line != NULL)
    headers[n++] = r->content_type_line;
  for (size_t i = 0; r->extra && r->extra[i] && n < 31; i++)
    headers[n++] = r->extra[i];
  headers[n] = NULL;

  wfc_http_req hr;
  memset(&hr, 0, sizeof hr);
  hr.size = sizeof hr;
  hr.method = r->method;
  hr.url = r->url;
  hr.headers = headers;
  hr.body = r->body;
  hr.body_len = r->body_len;
  hr.body_blob = r->body_blob;
  hr.body_offset = r->body_offset;
  hr.body_length = r->body_length;
  hr.sink_blob = r->sink_blob;
  /* A download's bytes are the call's progress (the host reports them). */
  hr.progress_call = r->sink_blob != NULL ? r->call : NULL;
  hr.timeout_ms = r->timeout_ms;
  r->stage = ST_HTTP;
  return o365_api->http_send(&hr, http_cb, r, &r->http);
}

/* Why the host had no token for a request, by its status: the cause is
 * the identity platform (a refresh that failed), not Graph. */
static const char *token_failure(int status) {
  switch (status) {
  case WFC_EREAUTH:
    return "the connection must be reauthorized";
  case WFC_ECONSENT:
    return "no access token: the connection waits for an administrator's "
           "approval";
  case WFC_ETHROTTLED:
    return "no access token: the identity platform is throttling token "
           "requests (the refresh will be tried again by the next request)";
  case WFC_ENET:
  case WFC_ETIMEDOUT:
  case WFC_EREMOTE:
  case WFC_EPROTO:
    return "no access token: refreshing it failed for now (the identity "
           "platform could not be reached or did not answer properly; the "
           "next request tries again)";
  default:
    return "no valid access token for the connection";
  }
}

static void token_cb(void *arg, int status, const char *token) {
  o365_graph_req *r = arg;
  if (r->canceled) {
    deliver(r, WFC_ECANCELED, "canceled", NULL);
    return;
  }
  if (status != 0 || token == NULL) {
    const char *why = token_failure(status);
    char buf[1200];
    int64_t at = 0;
    /* The identity platform's Retry-After (a 429 or 503 of its token
     * endpoint): the host makes no token request for the connection
     * before then, and says until when in its info. */
    if ((status == WFC_ETHROTTLED || status == WFC_EREMOTE) &&
        o365_json_int64(o365_api->conn_info(r->conn), "token_retry_at_ms",
                        &at) == 0 &&
        at > o365_api->now_ms()) {
      char iso[32];
      o365_time_iso(at, iso, sizeof iso);
      r->retry_after_ms = at - o365_api->now_ms();
      snprintf(buf, sizeof buf,
               "no access token: %s, and no new token is asked for before "
               "%s (in %lld s), as it asked; run the card again then",
               status == WFC_ETHROTTLED
                   ? "the identity platform is throttling token requests"
                   : "the identity platform is unavailable (refreshing the "
                     "token failed for now)",
               iso, (long long)((r->retry_after_ms + 999) / 1000));
      why = buf;
    } else {
      /* The refresh hook's own words when a refresh just failed (e.g. the
       * app is disabled: o365_admin_fix), which name the cause and the
       * remedy better than the status can. */
      const char *err =
          o365_json_str(o365_api->conn_info(r->conn), "token_error");
      if (err != NULL && *err != '\0' && status != WFC_EREAUTH) {
        snprintf(buf, sizeof buf, "no access token: %s", err);
        why = buf;
      }
    }
    deliver(r, status != 0 ? status : WFC_EAUTH, why, NULL);
    return;
  }
  int rc = send_http(r, token);
  if (rc != 0)
    deliver(r, rc, code_message(rc), NULL);
}

static void refusal_cb(void *arg) {
  o365_graph_req *r = arg;
  r->timer = NULL;
  deliver(r, WFC_EINVAL, r->refusal, NULL);
}

/* Does url (on base) or gate_as address "/me"? */
static int addresses_me(const char *url, const char *base,
                        const char *gate_as) {
  const char *p = NULL;
  size_t bl = strlen(base);
  if (gate_as != NULL)
    p = gate_as;
  else if (strncmp(url, base, bl) == 0)
    p = url + bl;
  return p != NULL && strncmp(p, "/me", 3) == 0 &&
         (p[3] == '\0' || p[3] == '/' || p[3] == '?');
}

/* Starts one attempt: token, then HTTP. Returns 0 or an error that the
 * caller reports (the callback has not run). */
static int start_attempt(o365_graph_req *r) {
  if (r->explicit_token != NULL)
    return send_http(r, r->explicit_token);
  r->stage = ST_TOKEN;
  return o365_api->conn_token(r->conn, token_cb, r);
}

static char *dup_or_null(const char *s, int *oom) {
  if (s == NULL)
    return NULL;
  char *d = strdup(s);
  if (d == NULL)
    *oom = 1;
  return d;
}

/* The static name of a common method (nothing to copy), or NULL. */
static const char *method_name(const char *m) {
  static const char *const known[] = {"GET",    "POST", "PATCH",
                                      "DELETE", "PUT",  "HEAD"};
  for (size_t i = 0; i < sizeof known / sizeof *known; i++)
    if (strcmp(m, known[i]) == 0)
      return known[i];
  return NULL;
}

/* name (with its ": ") followed by value, in one allocation. Transfer;
 * NULL (and *oom set) when out of memory. */
static char *header_line(const char *name, const char *value, int *oom) {
  size_t nl = strlen(name), vl = strlen(value);
  char *l = malloc(nl + vl + 1);
  if (l == NULL) {
    *oom = 1;
    return NULL;
  }
  memcpy(l, name, nl);
  memcpy(l + nl, value, vl + 1);
  return l;
}

/* The Graph base URL of call's connection (*conn) into base: 0, or
 * WFC_EINVAL when there is no connection or its configuration is bad
 * (logged). */
static int call_graph_base(wfc_call *call, wfc_conn **conn, char *base,
                           size_t n) {
  *conn = call ? o365_api->call_conn(call) : NULL;
  if (*conn == NULL)
    return WFC_EINVAL;
  char err[256];
  int rc =
      o365_config_graph(o365_api->conn_params(*conn), base, n, err, sizeof err);
  if (rc != 0)
    o365_api->log(0, "o365mail: %s", err);
  return rc;
}

/* Frees a request that never started, and its gate if now idle. */
static void fail_free(o365_graph_req *r) {
  gate *g = r->gate;
  req_free(r);
  if (g != NULL)
    gate_maybe_free(g);
}

int o365_graph_send(wfc_call *call, const o365_graph_opts *o, o365_graph_cb cb,
                    void *arg, o365_graph_req **out) {
  if (o == NULL || o->path == NULL || cb == NULL)
    return WFC_EINVAL;
  /* Where: the explicit base, else the call's connection's Graph URL. */
  char base[512];
  wfc_conn *conn = NULL;
  int rc = 0;
  if (o->base != NULL) {
    o365_strlcpy(base, o->base, sizeof base);
  } else {
    rc = call_graph_base(call, &conn, base, sizeof base);
    if (rc != 0)
      return rc;
  }
  if (o->token == NULL && conn == NULL) {
    conn = call ? o365_api->call_conn(call) : NULL;
    if (conn == NULL)
      return WFC_EINVAL;
  }
  /* The URL: an absolute one on the base's origin (a nextLink), or the
   * base followed by the path. */
  size_t bl = 0, pl = strlen(o->path);
  if (o365_url_origin_len(o->path) > 0) {
    if (!o365_url_same_origin(o->path, base))
      return WFC_EINVAL;
  } else if (o->path[0] != '/') {
    return WFC_EINVAL;
  } else {
    bl = strlen(base);
  }
  /* The request and its URL: one allocation. */
  o365_graph_req *r = calloc(1, sizeof *r + bl + pl + 1);
  if (r == NULL)
    return WFC_ENOMEM;
  r->url = (char *)(r + 1);
  memcpy(r->url, base, bl);
  memcpy(r->url + bl, o->path, pl + 1);
  r->conn = conn;
  r->call = call;
  r->cb = cb;
  r->arg = arg;
  r->retry_after_ms = -1;
  r->flags = o->flags;
  r->body_blob = o->body_blob;
  r->body_offset = o->body_offset;
  r->body_length = o->body_length;
  r->sink_blob = o->sink_blob;
  r->timeout_ms = o->timeout_ms;
  int oom = 0;
  const char *method = o->method ? o->method : "GET";
  r->method = method_name(method);
  if (r->method == NULL)
    r->method = r->method_own = dup_or_null(method, &oom);
  r->idempotent = (o->flags & O365_GRAPH_IDEMPOTENT) ||
                  strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0 ||
                  strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0;
  r->explicit_token = dup_or_null(o->token, &oom);

  if (o->body != NULL) {
    const char *js = json_object_to_json_string_ext(
        o->body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    r->body = dup_or_null(js, &oom);
    r->body_len = js ? strlen(js) : 0;
    r->content_type_line = "Content-Type: application/json";
  } else if (o->raw_body != NULL) {
    r->body = malloc(o->raw_len + 1);
    if (r->body != NULL) {
      memcpy(r->body, o->raw_body, o->raw_len);
      r->body[o->raw_len] = '\0';
      r->body_len = o->raw_len;
    } else {
      oom = 1;
    }
  }
  const char *ctype = r->content_type_line == NULL ? o->content_type : NULL;
  if ((ctype != NULL && strpbrk(ctype, "\r\n")) ||
      (o->accept != NULL && strpbrk(o->accept, "\r\n"))) {
    rc = WFC_EHEADER;
    goto fail;
  }
  if (ctype != NULL)
    r->content_type_line = r->content_type_own =
        header_line("Content-Type: ", ctype, &oom);
  r->accept_line =
      o->accept == NULL
          ? "Accept: application/json"
          : (r->accept_own = header_line("Accept: ", o->accept, &oom));
  if (o->headers != NULL) {
    size_t n = 0;
    while (o->headers[n])
      n++;
    r->extra = calloc(n + 1, sizeof *r->extra);
    oom |= r->extra == NULL;
    for (size_t i = 0; r->extra && i < n; i++) {
      if (strpbrk(o->headers[i], "\r\n") != NULL) {
        rc = WFC_EHEADER;
        goto fail;
      }
      r->extra[i] = dup_or_null(o->headers[i], &oom);
    }
  }
  if (oom) {
    rc = WFC_ENOMEM;
    goto fail;
  }
  memcpy(r->crid_line, CRID_NAME, CRID_NAME_LEN);
  rc = o365_guid(r->crid_line + CRID_NAME_LEN);
  if (rc != 0)
    goto fail;
  /* An app-only connection has no signed-in user: Graph answers "/me" with
   * 400 "/me request is only valid with delegated authentication flow.".
   * Cards build their paths from o365_call_mailbox, so what is missing is
   * the mailbox: refused here, before any token or request, naming it. */
  if (r->conn != NULL && addresses_me(r->url, base, o->gate_as) &&
      o365_conn_is_app_only(r->conn)) {
    r->refusal = "this is an app-only connection (" O365_APP_CONN_TYPE
                 "): no user is signed in, so there is no \"me\"; give the "
                 "mailbox to act in (UPN or object id) in the card's "
                 "\"mailbox\" input, or as the connection's \"mailbox\" "
                 "parameter";
    r->refusal_field = "mailbox";
    if (call != NULL && call_track(r) != 0) {
      rc = WFC_ENOMEM;
      goto fail;
    }
    r->stage = ST_WAIT;
    rc = o365_api->timer_start(0, refusal_cb, r, &r->timer);
    if (rc != 0) {
      call_untrack(r);
      goto fail;
    }
    if (out != NULL)
      *out = r;
    return 0;
  }
  /* The mailbox whose gate the request takes: its URL's, or gate_as's
   * (a $batch carries one mailbox's requests). */
  char key[600];
  char *gate_url = NULL;
  if (o->gate_as != NULL && o->gate_as[0] == '/' &&
      o365_url_origin_len(r->url) > 0) {
    size_t olen = o365_url_origin_len(r->url);
    const char *ver = r->url + olen;
    size_t vlen = *ver == '/' ? 1 + strcspn(ver + 1, "/?#") : 0;
    o365_buf g;
    o365_buf_init(&g);
    o365_buf_putn(&g, r->url, olen + vlen);
    o365_buf_put(&g, o->gate_as);
    gate_url = o365_buf_take(&g);
  }
  int gated = r->explicit_token == NULL &&
              gate_key(r, gate_url ? gate_url : r->url, key, sizeof key);
  free(gate_url);
  if (gated) {
    r->gate = gate_find(key);
    if (r->gate == NULL) {
      rc = WFC_ENOMEM;
      goto fail;
    }
    r->gate->refs++;
  }

  /* Tracked first: admit() may complete other requests of the gate, never
   * this one (an error here is returned, and cb will not run). */
  if (call != NULL && call_track(r) != 0) {
    rc = WFC_ENOMEM;
    goto fail;
  }
  rc = admit(r);
  if (rc != 0) {
    call_untrack(r);
    goto fail;
  }
  if (out != NULL)
    *out = r;
  return 0;

fail:
  fail_free(r);
  return rc;
}

struct json_object *o365_graph_detail(const o365_graph_res *res) {
  struct json_object *d = json_object_new_object();
  if (res->status)
    O365_JSON_ADD(d, "status", json_object_new_int64(res->status));
  if (res->gerr.code[0])
    o365_json_add_str(d, "code", res->gerr.code);
  if (res->gerr.message[0])
    o365_json_add_str(d, "message", res->gerr.message);
  if (res->gerr.request_id[0])
    o365_json_add_str(d, "request_id", res->gerr.request_id);
  if (res->gerr.client_request_id[0])
    o365_json_add_str(d, "client_request_id", res->gerr.client_request_id);
  if (res->field != NULL)
    o365_json_add_str(d, "field", res->field);
  return d;
}

void o365_graph_fail_hint(wfc_call *call, const o365_graph_res *res,
                          const char *what, const char *hint) {
  struct json_object *d = o365_graph_detail(res);
  if (res->retry_after_ms >= 0)
    O365_JSON_ADD(d, "retry_after_ms",
                  json_object_new_int64(res->retry_after_ms));
  /* Said in words as well as in the detail: a flow author must not read
   * "failed" as "nothing happened" when a send may have gone out. What to
   * do about it depends on the card (only some take an idempotency key):
   * the generic advice names none. */
  char unknown[600] = "";
  if (res->outcome_unknown) {
    o365_json_add_str(d, "outcome", "unknown");
    snprintf(unknown, sizeof unknown, " (the outcome is unknown: %s)",
             hint != NULL ? hint
                          : "Microsoft may have carried out the request, so "
                            "it was not repeated; check whether it took "
                            "effect before running the card again");
  }
  /* Exchange's application access policies refuse an app-only request
   * with the generic ErrorAccessDenied; only the "[RAOP]" tag of the
   * message tells it apart from missing permissions, and the remedy is an
   * Exchange administrator's, not the flow author's. */
  if (res->status == 403 && strstr(res->gerr.message, "[RAOP]") != NULL) {
    const char *mb = call ? o365_call_mailbox(call) : NULL;
    snprintf(unknown, sizeof unknown,
             " (the organization's application access policy keeps this app "
             "out of the mailbox%s%s: an Exchange Online administrator adds "
             "the mailbox to the policy's group, or changes the policy with "
             "Set-ApplicationAccessPolicy)",
             mb ? " " : "", mb ? mb : "");
  }
  int code = res->error ? res->error : WFC_EREMOTE;
  const char *msg = res->message ? res->message : code_message(code);
  if (what == NULL)
    what = "Microsoft Graph request failed";
  if (res->gerr.code[0])
    o365_api->call_fail(call, code, d, "%s: %s: %s%s", what, res->gerr.code,
                        msg, unknown);
  else
    o365_api->call_fail(call, code, d, "%s: %s%s", what, msg, unknown);
}

void o365_graph_fail(wfc_call *call, const o365_graph_res *res,
                     const char *what) {
  o365_graph_fail_hint(call, res, what, NULL);
}

/* ---- Paging ----------------------------------------------------------------
 */

typedef struct pager {
  wfc_call *call;
  o365_graph_opts o; /* strings below are owned copies */
  char *base;
  char *token;
  char *path;
  char *accept;
  char **headers;
  o365_graph_page_cb on_page;
  void *arg;
} pager;

static void pager_free(pager *p) {
  free(p->base);
  wipe_free(p->token);
  free(p->path);
  free(p->accept);
  if (p->headers != NULL) {
    for (size_t i = 0; p->headers[i]; i++)
      free(p->headers[i]);
    free(p->headers);
  }
  free(p);
}

static void page_cb(void *arg, const o365_graph_res *res) {
  pager *p = arg;
  int more = p->on_page(p->arg, res);
  if (!more || res->error != 0 || res->next_link == NULL) {
    pager_free(p);
    return;
  }
  char *next = strdup(res->next_link);
  if (next == NULL) {
    o365_graph_res fail = {.error = WFC_ENOMEM,
                           .message = "out of memory",
                           .body = "",
                           .retry_after_ms = -1};
    p->on_page(p->arg, &fail);
    pager_free(p);
    return;
  }
  free(p->path);
  p->path = next;
  p->o.path = next;
  int rc = o365_graph_send(p->call, &p->o, page_cb, p, NULL);
  if (rc != 0) {
    o365_graph_res fail = {.error = rc,
                           .message = code_message(rc),
                           .body = "",
                           .retry_after_ms = -1};
    p->on_page(p->arg, &fail);
    pager_free(p);
  }
}

int o365_graph_page_readable(const o365_graph_res *res) {
  return res->error == 0 || (res->next_link_error != NULL && res->json);
}

int o365_graph_pages(wfc_call *call, const o365_graph_opts *o,
                     o365_graph_page_cb on_page, void *arg) {
  if (o == NULL || o->path == NULL || on_page == NULL || o->body != NULL ||
      o->raw_body != NULL || o->body_blob != NULL)
    return WFC_EINVAL;
  pager *p = calloc(1, sizeof *p);
  if (p == NULL)
    return WFC_ENOMEM;
  int oom = 0;
  p->call = call;
  p->on_page = on_page;
  p->arg = arg;
  p->o = *o;
  /* The connection's Graph base is read once for all the pages (its
   * configuration and settings: a third of a request's own set-up). Not
   * with an explicit token: a request then still looks the call's
   * connection up by itself. */
  if (o->base == NULL && o->token == NULL) {
    char base[512];
    wfc_conn *conn;
    int rc = call_graph_base(call, &conn, base, sizeof base);
    if (rc != 0) {
      free(p);
      return rc;
    }
    p->base = dup_or_null(base, &oom);
  } else {
    p->base = dup_or_null(o->base, &oom);
  }
  p->token = dup_or_null(o->token, &oom);
  p->path = dup_or_null(o->path, &oom);
  p->accept = dup_or_null(o->accept, &oom);
  p->o.accept = p->accept;
  p->o.base = p->base;
  p->o.token = p->token;
  p->o.path = p->path;
  if (o->headers != NULL) {
    size_t n = 0;
    while (o->headers[n])
      n++;
    p->headers = calloc(n + 1, sizeof *p->headers);
    oom |= p->headers == NULL;
    for (size_t i = 0; p->headers && i < n; i++)
      p->headers[i] = dup_or_null(o->headers[i], &oom);
    p->o.headers = (const char *const *)p->headers;
  }
  if (oom) {
    pager_free(p);
    return WFC_ENOMEM;
  }
  int rc = o365_graph_send(call, &p->o, page_cb, p, NULL);
  if (rc != 0)
    pager_free(p);
  return rc;
}

/* ---- Helpers for cards ----------------------------------------------------
 */

char *o365_graph_path(const char *mailbox, ...) {
  o365_buf b;
  o365_buf_init(&b);
  o365_graph_mailbox(&b, mailbox);
  va_list ap;
  va_start(ap, mailbox);
  for (const char *seg = va_arg(ap, const char *); seg != NULL;
       seg = va_arg(ap, const char *))
    o365_buf_seg(&b, seg);
  va_end(ap);
  return o365_buf_take(&b);
}

const char *o365_call_mailbox(wfc_call *call) {
  const char *m = o365_json_str(o365_api->call_input(call), "mailbox");
  if (m != NULL && *m != '\0')
    return m;
  wfc_conn *conn = o365_api->call_conn(call);
  m = conn ? o365_json_str(o365_api->conn_params(conn), "mailbox") : NULL;
  return m != NULL && *m != '\0' ? m : NULL;
}

struct json_object *o365_json_recipients(struct json_object *list, int *bad) {
  if (bad != NULL)
    *bad = -1;
  if (list == NULL || !json_object_is_type(list, json_type_array))
    return NULL;
  struct json_object *out = json_object_new_array();
  size_t n = json_object_array_length(list);
  for (size_t i = 0; i < n; i++) {
    struct json_object *it = json_object_array_get_idx(list, i);
    struct json_object *ea = NULL;
    const char *address = NULL, *name = NULL;
    if (json_object_is_type(it, json_type_string)) {
      address = json_object_get_string(it);
    } else if (json_object_is_type(it, json_type_object)) {
      if (json_object_object_get_ex(it, "emailAddress", &ea))
        it = ea;
      address = o365_json_str(it, "address");
      name = o365_json_str(it, "name");
    }
    if (address == NULL || *address == '\0' || strchr(address, '@') == NULL) {
      if (bad != NULL)
        *bad = (int)i;
      json_object_put(out);
      return NULL;
    }
    struct json_object *addr = json_object_new_object();
    o365_json_add_str(addr, "address", address);
    o365_json_add_str(addr, "name", name);
    struct json_object *rcpt = json_object_new_object();
    O365_JSON_ADD(rcpt, "emailAddress", addr);
    json_object_array_add(out, rcpt);
  }
  return out;
}

struct json_object *o365_list_new(wfc_call *call) {
  return WFC_API_HAS(o365_api, list_new) ? o365_api->list_new(call)
                                         : json_object_new_array();
}

int o365_list_add(struct json_object *list, struct json_object *item) {
  if (WFC_API_HAS(o365_api, list_add))
    return o365_api->list_add(list, item);
  if (list == NULL || json_object_array_add(list, item) != 0) {
    json_object_put(item);
    return WFC_ENOMEM;
  }
  return 0;
}
