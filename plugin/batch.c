/* batch.c - see batch.h. */
#define _POSIX_C_SOURCE 200809L /* strdup, strcasecmp */
#include "batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "entry.h"

enum { PENDING = 0, SENT, DONE };

typedef struct bitem {
  char *method;
  char *url;
  struct json_object *body; /* owned reference */
  int dep;
  int state;
  int attempts;
  o365_batch_result res; /* res.body owned */
  char msg[300];         /* res.message when composed here */
} bitem;

typedef struct batch {
  wfc_call *call;
  bitem *it;
  size_t n;
  o365_batch_cb cb;
  void *arg;
  wfc_timer *timer;
  int starting; /* inside o365_batch_run: a failed start is returned */
  int start_rc;
  int64_t wait_ms; /* longest Retry-After of the last batch's 429/503s */
} batch;

static void batch_free(batch *b) {
  for (size_t i = 0; i < b->n; i++) {
    free(b->it[i].method);
    free(b->it[i].url);
    json_object_put(b->it[i].body);
    json_object_put(b->it[i].res.body);
  }
  free(b->it);
  free(b);
}

static void finish(batch *b, int status) {
  o365_batch_result *r = calloc(b->n ? b->n : 1, sizeof *r);
  if (r == NULL) {
    b->cb(b->arg, WFC_ENOMEM, NULL, 0);
  } else {
    for (size_t i = 0; i < b->n; i++)
      r[i] = b->it[i].res;
    b->cb(b->arg, status, r, b->n);
  }
  free(r);
  batch_free(b);
}

/* Ends item i with a local error (nothing, or nothing more, sent). */
static void item_fail(bitem *t, int status, int error, const char *what,
                      const char *why) {
  t->state = DONE;
  t->res.status = status;
  t->res.error = error;
  snprintf(t->msg, sizeof t->msg, "%s%s%.200s", what, why ? ": " : "",
           why ? why : "");
  t->res.message = t->msg;
}

static int is_idempotent(const char *method) {
  return strcmp(method, "POST") != 0;
}

static void next_batch(batch *b);

static void on_timer(void *arg) {
  batch *b = arg;
  b->timer = NULL;
  o365_api->call_on_cancel(b->call, NULL, NULL);
  next_batch(b);
}

static void on_cancel(void *arg) {
  batch *b = arg;
  if (b->timer != NULL)
    o365_api->timer_stop(b->timer);
  b->timer = NULL;
  for (size_t i = 0; i < b->n; i++)
    if (b->it[i].state != DONE)
      item_fail(&b->it[i], 0, WFC_ECANCELED, "canceled", NULL);
  finish(b, WFC_ECANCELED);
}

/* Retry-After of one item's answer (its "headers" object), -1 if none. */
static int64_t item_retry_after(struct json_object *headers) {
  if (!json_object_is_type(headers, json_type_object))
    return -1;
  json_object_object_foreach(headers, k, v) {
    if (strcasecmp(k, "Retry-After") == 0)
      return o365_retry_after_ms(json_object_get_string(v), o365_api->now_ms());
  }
  return -1;
}

static void item_answer(batch *b, bitem *t, struct json_object *resp) {
  struct json_object *st = NULL, *body = NULL, *hs = NULL;
  json_object_object_get_ex(resp, "status", &st);
  json_object_object_get_ex(resp, "body", &body);
  json_object_object_get_ex(resp, "headers", &hs);
  int status = st ? json_object_get_int(st) : 0;
  if ((status == 429 || status == 503) &&
      t->attempts < O365_GRAPH_MAX_ATTEMPTS) {
    /* Not processed (throttled or unavailable): again in a later batch. */
    int64_t ra = item_retry_after(hs);
    int64_t wait = ra >= 0 ? ra : 1000LL << (t->attempts < 5 ? t->attempts : 5);
    if (wait > b->wait_ms)
      b->wait_ms = wait;
    t->state = PENDING;
    return;
  }
  t->state = DONE;
  t->res.status = status;
  json_object_put(t->res.body);
  t->res.body = body ? json_object_get(body) : NULL;
  t->res.error =
      status >= 200 && status < 300
          ? 0
          : (status == 424 ? WFC_ESTATE : o365_graph_status_error(status));
  if (status == 0)
    t->res.error = WFC_EPROTO;
  if (t->res.error != 0) {
    o365_graph_err_parse(body, NULL, NULL, &t->res.gerr);
    if (status == 424)
      snprintf(t->msg, sizeof t->msg,
               "not done: the request it depends on failed");
    else if (t->res.gerr.message[0])
      snprintf(t->msg, sizeof t->msg, "%.100s%s%.190s", t->res.gerr.code,
               t->res.gerr.code[0] ? ": " : "", t->res.gerr.message);
    else
      snprintf(t->msg, sizeof t->msg, "Graph answered HTTP %d", status);
    t->res.message = t->msg;
  }
}

static void on_batch(void *arg, const o365_graph_res *res) {
  batch *b = arg;
  if (res->error == WFC_ECANCELED || res->no_token) {
    for (size_t i = 0; i < b->n; i++)
      if (b->it[i].state != DONE) {
        item_fail(&b->it[i], 0, res->error, "not done", res->message);
        b->it[i].res.outcome_unknown =
            b->it[i].state == SENT && res->outcome_unknown;
      }
    finish(b, res->error);
    return;
  }
  if (res->error != 0) {
    /* The batch as a whole failed: its items get that error. */
    for (size_t i = 0; i < b->n; i++) {
      bitem *t = &b->it[i];
      if (t->state != SENT)
        continue;
      item_fail(t, (int)res->status, res->error, "the batch failed",
                res->message);
      t->res.gerr = res->gerr;
      t->res.outcome_unknown =
          res->outcome_unknown && !is_idempotent(t->method);
    }
    next_batch(b);
    return;
  }
  struct json_object *resps = NULL;
  json_object_object_get_ex(res->json, "responses", &resps);
  size_t nr = json_object_is_type(resps, json_type_array)
                  ? json_object_array_length(resps)
                  : 0;
  for (size_t k = 0; k < nr; k++) {
    struct json_object *r = json_object_array_get_idx(resps, k);
    const char *id = o365_json_str(r, "id");
    char *end = NULL;
    unsigned long i = id ? strtoul(id, &end, 10) : 0;
    if (id == NULL || *id == '\0' || *end != '\0' || i >= b->n ||
        b->it[i].state != SENT)
      continue; /* not one of ours: ignored */
    item_answer(b, &b->it[i], r);
  }
  for (size_t i = 0; i < b->n; i++)
    if (b->it[i].state == SENT) {
      item_fail(&b->it[i], 0, WFC_EPROTO,
                "Graph's batch answer has no response for it", NULL);
      b->it[i].res.outcome_unknown = !is_idempotent(b->it[i].method);
    }
  int64_t wait = b->wait_ms;
  b->wait_ms = 0;
  if (wait > 0 && wait <= O365_GRAPH_MAX_WAIT_MS) {
    o365_api->call_on_cancel(b->call, on_cancel, b);
    if (o365_api->timer_start((uint64_t)wait, on_timer, b, &b->timer) == 0)
      return;
    o365_api->call_on_cancel(b->call, NULL, NULL);
  }
  if (wait > O365_GRAPH_MAX_WAIT_MS) /* too long to wait: report it */
    for (size_t i = 0; i < b->n; i++)
      if (b->it[i].state == PENDING && b->it[i].attempts > 0)
        item_fail(&b->it[i], 429, WFC_ETHROTTLED,
                  "throttled; Graph asks to wait longer than this run "
                  "waits",
                  NULL);
  next_batch(b);
}

static void next_batch(batch *b) {
  struct json_object *reqs = json_object_new_array();
  size_t count = 0;
  int all_idem = 1;
  const char *gate_as = NULL; /* the first item's URL: its mailbox */
  for (size_t i = 0; i < b->n && count < O365_BATCH_MAX; i++) {
    bitem *t = &b->it[i];
    if (t->state != PENDING)
      continue;
    if (t->dep >= 0) {
      bitem *d = &b->it[t->dep];
      if (d->state == DONE && d->res.error != 0) {
        item_fail(t, 424, WFC_ESTATE,
                  "not done: the request it depends on failed", NULL);
        continue;
      }
      if (d->state != DONE)
        continue; /* after its dependency's answer: a later batch */
    }
    char id[24];
    snprintf(id, sizeof id, "%zu", i);
    struct json_object *q = json_object_new_object();
    o365_json_add_str(q, "id", id);
    o365_json_add_str(q, "method", t->method);
    o365_json_add_str(q, "url", t->url);
    if (t->body != NULL) {
      struct json_object *h = json_object_new_object();
      o365_json_add_str(h, "Content-Type", "application/json");
      O365_JSON_ADD(q, "headers", h);
      O365_JSON_ADD(q, "body", json_object_get(t->body));
    }
    json_object_array_add(reqs, q);
    t->state = SENT;
    t->attempts++;
    if (gate_as == NULL)
      gate_as = t->url;
    all_idem &= is_idempotent(t->method);
    count++;
  }
  if (count == 0) {
    json_object_put(reqs);
    finish(b, 0);
    return;
  }
  struct json_object *body = json_object_new_object();
  O365_JSON_ADD(body, "requests", reqs);
  /* The batch counts in its mailbox's gate (graph.h), as one request. */
  o365_graph_opts o = {.method = "POST",
                       .path = "/$batch",
                       .body = body,
                       .gate_as = gate_as,
                       .flags = all_idem ? O365_GRAPH_IDEMPOTENT : 0};
  int rc = o365_graph_send(b->call, &o, on_batch, b, NULL);
  json_object_put(body);
  if (rc != 0 && b->starting) {
    b->start_rc = rc;
    return;
  }
  if (rc != 0) {
    for (size_t i = 0; i < b->n; i++)
      if (b->it[i].state != DONE)
        item_fail(&b->it[i], 0, rc, "could not start the batch", NULL);
    finish(b, rc);
  }
}

int o365_batch_run(wfc_call *call, const o365_batch_item *items, size_t n,
                   o365_batch_cb cb, void *arg) {
  if (cb == NULL || n == 0 || items == NULL)
    return WFC_EINVAL;
  batch *b = calloc(1, sizeof *b);
  if (b == NULL)
    return WFC_ENOMEM;
  b->call = call;
  b->cb = cb;
  b->arg = arg;
  b->n = n;
  b->it = calloc(n ? n : 1, sizeof *b->it);
  int oom = b->it == NULL;
  for (size_t i = 0; !oom && i < n; i++) {
    bitem *t = &b->it[i];
    t->method = strdup(items[i].method ? items[i].method : "GET");
    t->url = items[i].url ? strdup(items[i].url) : NULL;
    t->body = items[i].body ? json_object_get(items[i].body) : NULL;
    t->dep = items[i].depends_on >= 0 && (size_t)items[i].depends_on < i
                 ? items[i].depends_on
                 : -1;
    oom = t->method == NULL || t->url == NULL;
  }
  if (oom) {
    batch_free(b);
    return WFC_ENOMEM;
  }
  b->starting = 1;
  next_batch(b); /* n > 0: the first batch has items, nothing finishes */
  b->starting = 0;
  if (b->start_rc != 0) {
    int rc = b->start_rc;
    batch_free(b);
    return rc;
  }
  return 0;
}

struct json_object *o365_batch_error_json(const o365_batch_result *r) {
  struct json_object *o = json_object_new_object();
  O365_JSON_ADD(o, "status", json_object_new_int(r->status));
  if (r->gerr.code[0])
    o365_json_add_str(o, "code", r->gerr.code);
  o365_json_add_str(o, "message", r->message);
  if (r->outcome_unknown)
    o365_json_add_str(o, "outcome", "unknown");
  return o;
}

int o365_batch_list_init(o365_batch_list *l, size_t n) {
  l->n = n;
  l->items = calloc(n, sizeof *l->items);
  l->paths = calloc(n, sizeof *l->paths);
  if (l->items == NULL || l->paths == NULL) {
    free(l->items);
    free(l->paths);
    *l = (o365_batch_list){0};
    return WFC_ENOMEM;
  }
  for (size_t i = 0; i < n; i++)
    o365_buf_init(&l->paths[i]);
  return 0;
}

o365_buf *o365_batch_list_set(o365_batch_list *l, size_t i, const char *method,
                              json_object *body, int depends_on) {
  l->items[i] = (o365_batch_item){
      .method = method, .body = body, .depends_on = depends_on};
  return &l->paths[i];
}

int o365_batch_list_run(o365_batch_list *l, wfc_call *call, o365_batch_cb cb,
                        void *arg) {
  int rc = 0;
  for (size_t i = 0; i < l->n; i++) {
    if (l->paths[i].oom || l->paths[i].data == NULL)
      rc = WFC_ENOMEM;
    l->items[i].url = l->paths[i].data;
  }
  if (rc == 0)
    rc = o365_batch_run(call, l->items, l->n, cb, arg);
  for (size_t i = 0; i < l->n; i++)
    o365_buf_free(&l->paths[i]);
  free(l->paths);
  free(l->items);
  *l = (o365_batch_list){0};
  return rc;
}

void o365_batch_fail(wfc_call *call, int status, const char *what,
                     const o365_batch_result *results, size_t n) {
  o365_api->call_fail(call, status, NULL, "%s failed: %s", what,
                      n > 0 && results[0].message ? results[0].message
                                                  : "no results");
}
