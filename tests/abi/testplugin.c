/* testplugin.c - wfc-testplugin.so: exercises every path of the plugin ABI
 * for tests/abi (and as a small example of a plugin).
 *
 * Cards:
 *   later       completes from a timer (delay_ms), echoing its input
 *   now         completes inside its start call
 *   stream      emits `count` items (the first inside the start call, the
 *               rest from timers), then completes
 *   fail        fails with WFC_EREMOTE and a detail object
 *   wait        runs until canceled, then completes with WFC_ECANCELED
 *   twice       completes twice (a plugin bug the host must absorb)
 *   errret      returns WFC_EINVAL from its hook without completing
 *   badout      completes with an output that breaks its schema
 *   token       asks the host for the connection's token
 *   stats       reports how often each hook ran
 *   events      (EVENT) pages through a fixed list with a checkpoint
 *   fetch       HTTP through the host: GET into memory or into a new blob
 *               (sink), or POST a blob's bytes (upload)
 *   stuck       ignores cancel and never completes (a plugin bug the
 *               host's close grace period must survive)
 *   latereg     registers a card after init (the host must refuse it)
 *   mkblob      writes `size` pattern bytes into a new blob, returns its ref
 *   list        a listing: `count` varied items in pages of `page` (one
 *               page per loop iteration), in a list kept as text by the
 *               host (ABI 1.5, api->list_new; an array before); fails
 *               after `fail_at` items when given
 * Connection type "testconn": every hook completes from a timer.
 */
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "wfc/plugin.h"

static const wfc_host_api *api;
static wfc_registrar *saved_reg; /* kept (wrongly) past init by latereg */

static struct {
  int later, now, stream, wait, authorize_begin, refresh, shutdown;
} counts;

/* ---- Completing later ---------------------------------------------------- */

typedef struct later_ctx {
  wfc_call *call;
  json_object *output; /* owned until completion */
  int code;
  const char *message;
} later_ctx;

static void later_fire(void *arg) {
  later_ctx *c = arg;
  if (c->code != 0)
    api->call_fail(c->call, c->code, NULL, "%s", c->message);
  else
    api->call_done(c->call, c->output);
  api->free(c);
}

/* Completes call after delay_ms with output (transfer) or code. */
static int complete_later(wfc_call *call, uint64_t delay_ms,
                          json_object *output, int code, const char *message) {
  later_ctx *c = api->alloc(sizeof *c);
  if (c == NULL) {
    json_object_put(output);
    return WFC_ENOMEM;
  }
  c->call = call;
  c->output = output;
  c->code = code;
  c->message = message;
  int rc = api->timer_start(delay_ms, later_fire, c, NULL);
  if (rc != 0) {
    json_object_put(output);
    api->free(c);
  }
  return rc;
}

/* ---- Cards --------------------------------------------------------------- */

static int later_invoke(wfc_call *call) {
  counts.later++;
  json_object *in = api->call_input(call), *v;
  json_object *out = json_object_new_object();
  json_object_object_get_ex(in, "text", &v);
  json_object_object_add(out, "text", json_object_get(v));
  int64_t delay = 5;
  if (json_object_object_get_ex(in, "delay_ms", &v))
    delay = json_object_get_int64(v);
  wfc_conn *conn = api->call_conn(call);
  if (conn != NULL) {
    json_object *info = api->conn_info(conn), *nick;
    if (json_object_object_get_ex(info, "nickname", &nick))
      json_object_object_add(out, "connection", json_object_get(nick));
  }
  return complete_later(call, (uint64_t)delay, out, 0, NULL);
}

static int now_invoke(wfc_call *call) {
  counts.now++;
  json_object *out = json_object_new_object();
  json_object_object_add(out, "ok", json_object_new_boolean(1));
  api->call_done(call, out);
  return 0;
}

typedef struct stream_ctx {
  wfc_call *call;
  int64_t next, count;
  int stopped;
} stream_ctx;

static void stream_step(void *arg) {
  stream_ctx *s = arg;
  while (s->next < s->count && !s->stopped) {
    json_object *item = json_object_new_object();
    json_object_object_add(item, "n", json_object_new_int64(s->next));
    s->next++;
    if (api->call_emit(s->call, item) == WFC_ECANCELED)
      s->stopped = 1;
    api->call_progress(s->call, (uint64_t)s->next, (uint64_t)s->count);
    if (s->next < s->count && !s->stopped &&
        api->timer_start(1, stream_step, s, NULL) == 0)
      return;
  }
  json_object *out = json_object_new_object();
  json_object_object_add(out, "emitted", json_object_new_int64(s->next));
  json_object_object_add(out, "stopped", json_object_new_boolean(s->stopped));
  api->call_done(s->call, out);
  api->free(s);
}

static int stream_invoke(wfc_call *call) {
  counts.stream++;
  stream_ctx *s = api->alloc(sizeof *s);
  if (s == NULL)
    return WFC_ENOMEM;
  json_object *v;
  s->call = call;
  s->next = 0;
  s->count = 3;
  s->stopped = 0;
  if (json_object_object_get_ex(api->call_input(call), "count", &v))
    s->count = json_object_get_int64(v);
  if (s->count == 0) {
    stream_step(s); /* completes inside the start call */
    return 0;
  }
  /* First item inside the start call, the rest later. */
  json_object *item = json_object_new_object();
  json_object_object_add(item, "n", json_object_new_int64(s->next++));
  if (api->call_emit(call, item) == WFC_ECANCELED)
    s->stopped = 1;
  return api->timer_start(1, stream_step, s, NULL);
}

static int fail_invoke(wfc_call *call) {
  json_object *detail = json_object_new_object();
  json_object_object_add(detail, "status", json_object_new_int(503));
  api->call_fail(call, WFC_EREMOTE, detail, "the service said no (%d)", 503);
  return 0;
}

typedef struct wait_ctx {
  wfc_call *call;
  wfc_timer *timer;
} wait_ctx;

static void wait_timeout(void *arg) {
  wait_ctx *w = arg;
  api->call_fail(w->call, WFC_ETIMEDOUT, NULL, "nobody canceled me");
  api->free(w);
}

static void wait_cancel(void *arg) {
  wait_ctx *w = arg;
  api->timer_stop(w->timer);
  api->call_fail(w->call, WFC_ECANCELED, NULL, "stopped on request");
  api->free(w);
}

static int wait_invoke(wfc_call *call) {
  counts.wait++;
  wait_ctx *w = api->alloc(sizeof *w);
  if (w == NULL)
    return WFC_ENOMEM;
  w->call = call;
  int rc = api->timer_start(60000, wait_timeout, w, &w->timer);
  if (rc != 0) {
    api->free(w);
    return rc;
  }
  api->call_on_cancel(call, wait_cancel, w);
  return 0;
}

static void stuck_cancel(void *arg) {
  (void)arg; /* deliberately does nothing */
}

static int stuck_invoke(wfc_call *call) {
  api->call_on_cancel(call, stuck_cancel, NULL);
  return 0;
}

static const wfc_card_desc cards[];

static int latereg_invoke(wfc_call *call) {
  int rc = api->register_card(saved_reg, &cards[0], sizeof cards[0]);
  json_object *out = json_object_new_object();
  json_object_object_add(out, "rc", json_object_new_int(rc));
  api->call_done(call, out);
  return 0;
}

static int twice_invoke(wfc_call *call) {
  json_object *out = json_object_new_object();
  json_object_object_add(out, "ok", json_object_new_boolean(1));
  api->call_done(call, out);
  api->call_fail(call, WFC_EIO, NULL, "second completion");
  return 0;
}

static int errret_invoke(wfc_call *call) {
  (void)call;
  return WFC_EINVAL;
}

static int badout_invoke(wfc_call *call) {
  json_object *out = json_object_new_object();
  json_object_object_add(out, "ok", json_object_new_string("not a boolean"));
  return complete_later(call, 0, out, 0, NULL);
}

typedef struct token_ctx {
  wfc_call *call;
} token_ctx;

static void token_cb(void *arg, int status, const char *token) {
  wfc_call *call = arg;
  if (status != 0) {
    api->call_fail(call, status, NULL, "no token");
    return;
  }
  json_object *out = json_object_new_object();
  json_object_object_add(out, "token", json_object_new_string(token));
  api->call_done(call, out);
}

static int token_invoke(wfc_call *call) {
  wfc_conn *conn = api->call_conn(call);
  if (conn == NULL)
    return WFC_ESTATE;
  return api->conn_token(conn, token_cb, call);
}

static int stats_invoke(wfc_call *call) {
  json_object *out = json_object_new_object();
  json_object_object_add(out, "later", json_object_new_int(counts.later));
  json_object_object_add(out, "wait", json_object_new_int(counts.wait));
  json_object_object_add(out, "authorize_begin",
                         json_object_new_int(counts.authorize_begin));
  return complete_later(call, 0, out, 0, NULL);
}

/* Three pages: no checkpoint -> events 1,2 and "c2"; "c2" -> event 3 and
 * "c3"; "c3" -> nothing new, "c3" again. */
static int events_invoke(wfc_call *call) {
  const char *cp = api->call_checkpoint(call);
  json_object *out = json_object_new_object();
  json_object *evs = json_object_new_array();
  int from = cp == NULL ? 1 : strcmp(cp, "c2") == 0 ? 3 : 4;
  int to = from == 1 ? 2 : 3;
  for (int i = from; i <= to; i++) {
    json_object *e = json_object_new_object();
    json_object_object_add(e, "id", json_object_new_int(i));
    json_object_array_add(evs, e);
  }
  json_object_object_add(out, "events", evs);
  json_object_object_add(out, "checkpoint",
                         json_object_new_string(from == 1 ? "c2" : "c3"));
  return complete_later(call, 1, out, 0, NULL);
}

/* ---- Connection type ----------------------------------------------------- */

static int ct_authorize_begin(wfc_call *call) {
  counts.authorize_begin++;
  json_object *in = api->call_input(call), *params, *tenant, *env;
  json_object_object_get_ex(in, "params", &params);
  json_object_object_get_ex(params, "tenant", &tenant);
  json_object_object_get_ex(params, "env", &env);
  char url[256];
  snprintf(url, sizeof url, "https://auth.test/%s/authorize?env=%s",
           json_object_get_string(tenant), json_object_get_string(env));
  json_object *out = json_object_new_object();
  json_object_object_add(out, "url", json_object_new_string(url));
  json_object *session = json_object_new_object();
  json_object_object_add(session, "nonce", json_object_new_string("n-1"));
  json_object_object_add(out, "session", session);
  return complete_later(call, 1, out, 0, NULL);
}

static int ct_authorize_complete(wfc_call *call) {
  json_object *out = json_object_new_object();
  json_object_object_add(out, "state", json_object_new_string("connected"));
  json_object_object_add(out, "account",
                         json_object_new_string("user@example.test"));
  json_object *cred = json_object_new_object();
  json_object_object_add(cred, "access_token",
                         json_object_new_string("at-1-xyz"));
  json_object_object_add(cred, "refresh_token",
                         json_object_new_string("rt-1-xyz"));
  json_object_object_add(out, "credentials", cred);
  api->secret("at-1-xyz");
  return complete_later(call, 1, out, 0, NULL);
}

static int ct_refresh(wfc_call *call) {
  counts.refresh++;
  json_object *in = api->call_input(call), *cred, *rt;
  if (json_object_object_get_ex(in, "credentials", &cred) &&
      json_object_object_get_ex(cred, "refresh_token", &rt) &&
      strcmp(json_object_get_string(rt), "revoked") == 0)
    return complete_later(call, 1, NULL, WFC_EREAUTH,
                          "the grant was revoked: authorize again");
  json_object *out = json_object_new_object();
  json_object *c2 = json_object_new_object();
  json_object_object_add(c2, "access_token",
                         json_object_new_string("at-2-xyz"));
  json_object_object_add(out, "credentials", c2);
  return complete_later(call, 1, out, 0, NULL);
}

static int ct_revoke(wfc_call *call) {
  json_object *out = json_object_new_object();
  json_object_object_add(out, "remote", json_object_new_string("none"));
  return complete_later(call, 1, out, 0, NULL);
}

/* ---- HTTP and blobs
 * ---------------------------------------------------------- */

typedef struct fetch_ctx {
  wfc_call *call;
  wfc_http *http;   /* valid until fetch_done */
  wfc_blob *sink;   /* owned; committed on success */
  wfc_blob *upload; /* owned */
} fetch_ctx;

static void fetch_done(void *arg, const wfc_http_res *res) {
  fetch_ctx *f = arg;
  if (res->error != 0) {
    api->call_fail(f->call, res->error, NULL, "%s", res->error_message);
  } else {
    json_object *out = json_object_new_object();
    json_object_object_add(out, "status",
                           json_object_new_int((int)res->status));
    json_object_object_add(
        out, "body", json_object_new_string_len(res->body, (int)res->body_len));
    const char *ct = api->http_header(res, "content-type");
    if (ct != NULL)
      json_object_object_add(out, "content_type", json_object_new_string(ct));
    if (f->sink != NULL) {
      json_object_object_add(out, "sunk",
                             json_object_new_int64((int64_t)res->sunk));
      if (api->blob_commit(f->sink) == 0)
        json_object_object_add(out, "blob", api->blob_ref(f->sink));
    }
    api->call_done(f->call, out);
  }
  api->blob_close(f->sink);
  api->blob_close(f->upload);
  api->free(f);
}

static void fetch_cancel(void *arg) {
  fetch_ctx *f = arg;
  api->http_cancel(f->http); /* fetch_done follows with WFC_ECANCELED */
}

static int fetch_invoke(wfc_call *call) {
  json_object *in = api->call_input(call), *v;
  fetch_ctx *f = api->alloc(sizeof *f);
  if (f == NULL)
    return WFC_ENOMEM;
  memset(f, 0, sizeof *f);
  f->call = call;
  wfc_http_req req = {.size = sizeof req, .method = "GET"};
  json_object_object_get_ex(in, "url", &v);
  req.url = json_object_get_string(v);
  int rc = 0;
  if (json_object_object_get_ex(in, "sink", &v) && json_object_get_boolean(v))
    rc = api->blob_create("download.bin", "application/octet-stream", &f->sink);
  if (rc == 0 && json_object_object_get_ex(in, "upload", &v)) {
    rc = api->blob_open(json_object_get_string(v), &f->upload);
    if (rc == 0) {
      json_object *ref = api->blob_ref(f->upload);
      req.method = "POST";
      req.body_blob = f->upload;
      req.body_length =
          (uint64_t)json_object_get_int64(json_object_object_get(ref, "size"));
      json_object_put(ref);
    }
  }
  static const char *const headers[] = {"Accept: */*", NULL};
  req.headers = headers;
  req.sink_blob = f->sink;
  if (rc == 0)
    rc = api->http_send(&req, fetch_done, f, &f->http);
  if (rc == 0)
    api->call_on_cancel(call, fetch_cancel, f);
  if (rc != 0) {
    api->blob_close(f->sink);
    api->blob_close(f->upload);
    api->free(f);
  }
  return rc;
}

static int mkblob_invoke(wfc_call *call) {
  json_object *v;
  int64_t size = 0;
  if (json_object_object_get_ex(api->call_input(call), "size", &v))
    size = json_object_get_int64(v);
  wfc_blob *b;
  int rc = api->blob_create("pattern.bin", "application/octet-stream", &b);
  if (rc != 0)
    return rc;
  unsigned char buf[4096];
  for (int64_t off = 0; rc == 0 && off < size; off += (int64_t)sizeof buf) {
    size_t n =
        size - off < (int64_t)sizeof buf ? (size_t)(size - off) : sizeof buf;
    for (size_t i = 0; i < n; i++)
      buf[i] = (unsigned char)((off + (int64_t)i) % 251);
    rc = api->blob_write(b, buf, n);
  }
  if (rc == 0)
    rc = api->blob_commit(b);
  if (rc != 0) {
    api->blob_close(b);
    return rc;
  }
  /* Read back the last byte through the host. */
  unsigned char last = 0;
  if (size > 0 && api->blob_read(b, (uint64_t)size - 1, &last, 1) != 1) {
    api->blob_close(b);
    return WFC_EIO;
  }
  json_object *out = json_object_new_object();
  json_object_object_add(out, "blob", api->blob_ref(b));
  json_object_object_add(out, "last", json_object_new_int(last));
  api->blob_close(b);
  return complete_later(call, 0, out, 0, NULL);
}

/* ---- A listing (list_new / list_add, ABI 1.5) -----------------------------
 */

typedef struct list_ctx {
  wfc_call *call;
  json_object *items; /* transfer to the output */
  int64_t next, count, page, fail_at;
} list_ctx;

/* Item n: what a re-indenter could get wrong (brackets, commas, colons,
 * quotes and backslashes inside strings, empty and nested containers,
 * doubles, null, non-ASCII). */
static json_object *list_item(int64_t n) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "n", json_object_new_int64(n));
  json_object_object_add(
      o, "text",
      json_object_new_string("a \"quoted\" {brace} [x], key: \\ \t/ \xc3\xa9"));
  json_object_object_add(o, "ratio", json_object_new_double((double)n / 4.0));
  json_object *tags = json_object_new_array();
  for (int64_t i = 0; i < n % 3; i++)
    json_object_array_add(tags, json_object_new_string(i ? "t:1," : "t0"));
  json_object_object_add(o, "tags", tags);
  json_object *meta = json_object_new_object();
  if (n % 2 == 0) {
    json_object *deep = json_object_new_array();
    json_object_array_add(deep, json_object_new_int(1));
    json_object_array_add(deep, json_object_new_object());
    json_object_array_add(deep, json_object_new_array());
    json_object *b = json_object_new_object();
    json_object_object_add(b, "b", deep);
    json_object_object_add(meta, "a", b);
  }
  json_object_object_add(o, "meta", meta);
  json_object_object_add(o, "none", NULL);
  json_object_object_add(o, "odd", json_object_new_boolean(n % 2));
  return o;
}

static void list_step(void *arg) {
  list_ctx *l = arg;
  for (int64_t i = 0; i < l->page && l->next < l->count; i++, l->next++) {
    if (l->next == l->fail_at) {
      /* What was listed goes with the failure, as a card's error does. */
      json_object_put(l->items);
      api->call_fail(l->call, WFC_EREMOTE, NULL, "listing failed after %lld",
                     (long long)l->next);
      api->free(l);
      return;
    }
#if WFC_ABI_MINOR >= 5
    if (WFC_API_HAS(api, list_add)) {
      api->list_add(l->items, list_item(l->next));
      continue;
    }
#endif
    json_object_array_add(l->items, list_item(l->next));
  }
  if (l->next < l->count && api->timer_start(0, list_step, l, NULL) == 0)
    return;
  json_object *out = json_object_new_object();
  json_object_object_add(out, "items", l->items);
  json_object_object_add(out, "count", json_object_new_int64(l->next));
  api->call_done(l->call, out);
  api->free(l);
}

static int list_invoke(wfc_call *call) {
  json_object *in = api->call_input(call), *v;
  list_ctx *l = api->alloc(sizeof *l);
  if (l == NULL)
    return WFC_ENOMEM;
  memset(l, 0, sizeof *l);
  l->call = call;
  l->count =
      json_object_object_get_ex(in, "count", &v) ? json_object_get_int64(v) : 3;
  l->page = json_object_object_get_ex(in, "page", &v) ? json_object_get_int64(v)
                                                      : 100;
  l->fail_at = json_object_object_get_ex(in, "fail_at", &v)
                   ? json_object_get_int64(v)
                   : -1;
#if WFC_ABI_MINOR >= 5
  l->items = WFC_API_HAS(api, list_new) ? api->list_new(call)
                                        : json_object_new_array();
#else
  l->items = json_object_new_array();
#endif
  if (l->items == NULL) {
    api->free(l);
    return WFC_ENOMEM;
  }
  return api->timer_start(0, list_step, l, NULL);
}

/* ---- Schemas and registration
 * -------------------------------------------------- */

static const wfc_field later_in[] = {{.name = "text",
                                      .type = WFC_TYPE_STRING,
                                      .flags = WFC_FIELD_REQUIRED,
                                      .description = "Text to echo",
                                      .max = 100},
                                     {.name = "delay_ms",
                                      .type = WFC_TYPE_INTEGER,
                                      .description = "Delay before completion",
                                      .default_json = "5",
                                      .max = 10000},
                                     {0}};
static const wfc_field later_out[] = {
    {.name = "text", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED},
    {.name = "connection",
     .type = WFC_TYPE_STRING,
     .description = "Nickname of the connection used"},
    {0}};
static const wfc_field ok_out[] = {
    {.name = "ok", .type = WFC_TYPE_BOOLEAN, .flags = WFC_FIELD_REQUIRED}, {0}};
static const wfc_field item_fields[] = {
    {.name = "n", .type = WFC_TYPE_INTEGER, .flags = WFC_FIELD_REQUIRED}, {0}};
static const wfc_field item[] = {
    {.name = "item", .type = WFC_TYPE_OBJECT, .fields = item_fields}};
static const wfc_field stream_in[] = {{.name = "count",
                                       .type = WFC_TYPE_INTEGER,
                                       .default_json = "3",
                                       .max = 1000},
                                      {0}};
static const wfc_field stream_out[] = {
    {.name = "items",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_STREAM,
     .items = item},
    {.name = "emitted", .type = WFC_TYPE_INTEGER},
    {.name = "stopped", .type = WFC_TYPE_BOOLEAN},
    {0}};
static const wfc_field token_out[] = {
    {.name = "token", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_SECRET}, {0}};
static const wfc_field stats_out[] = {
    {.name = "later", .type = WFC_TYPE_INTEGER},
    {.name = "wait", .type = WFC_TYPE_INTEGER},
    {.name = "authorize_begin", .type = WFC_TYPE_INTEGER},
    {0}};
static const char *const folders[] = {"inbox", "archive", NULL};
static const wfc_field events_in[] = {{.name = "folder",
                                       .type = WFC_TYPE_STRING,
                                       .default_json = "\"inbox\"",
                                       .enum_values = folders},
                                      {0}};
static const wfc_field fetch_in[] = {
    {.name = "url", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED},
    {.name = "sink",
     .type = WFC_TYPE_BOOLEAN,
     .default_json = "false",
     .description = "Stream the body into a new blob"},
    {.name = "upload",
     .type = WFC_TYPE_STRING,
     .description = "Blob id to POST"},
    {0}};
static const wfc_field fetch_out[] = {
    {.name = "status", .type = WFC_TYPE_INTEGER, .flags = WFC_FIELD_REQUIRED},
    {.name = "body", .type = WFC_TYPE_STRING},
    {.name = "content_type", .type = WFC_TYPE_STRING},
    {.name = "sunk", .type = WFC_TYPE_INTEGER},
    {.name = "blob", .type = WFC_TYPE_FILE},
    {0}};
static const wfc_field mkblob_in[] = {
    {.name = "size", .type = WFC_TYPE_INTEGER, .flags = WFC_FIELD_REQUIRED},
    {0}};
static const wfc_field mkblob_out[] = {
    {.name = "blob", .type = WFC_TYPE_FILE, .flags = WFC_FIELD_REQUIRED},
    {.name = "last", .type = WFC_TYPE_INTEGER},
    {0}};
static const wfc_field latereg_out[] = {
    {.name = "rc", .type = WFC_TYPE_INTEGER, .flags = WFC_FIELD_REQUIRED}, {0}};
static const wfc_field list_in[] = {
    {.name = "count",
     .type = WFC_TYPE_INTEGER,
     .default_json = "3",
     .max = 1000000},
    {.name = "page",
     .type = WFC_TYPE_INTEGER,
     .default_json = "100",
     .min = 1,
     .max = 100000},
    {.name = "fail_at", .type = WFC_TYPE_INTEGER},
    {0}};
static const wfc_field any_item[] = {{.type = WFC_TYPE_ANY}, {0}};
static const wfc_field list_out[] = {
    {.name = "items",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .items = any_item},
    {.name = "count", .type = WFC_TYPE_INTEGER, .flags = WFC_FIELD_REQUIRED},
    {0}};
static const char *const envs[] = {"preview", "production", NULL};
static const wfc_field conn_params[] = {{.name = "tenant",
                                         .type = WFC_TYPE_STRING,
                                         .flags = WFC_FIELD_REQUIRED,
                                         .description = "Tenant id or domain"},
                                        {.name = "env",
                                         .type = WFC_TYPE_STRING,
                                         .default_json = "\"production\"",
                                         .enum_values = envs},
                                        {0}};

static const wfc_card_desc cards[] = {
    {"later", "Later", "Echoes its input from a timer.", WFC_CARD_ACTION, NULL,
     later_in, later_out, later_invoke},
    {"now", "Now", "Completes inside its start call.", WFC_CARD_ACTION, NULL,
     NULL, ok_out, now_invoke},
    {"stream", "Stream", "Streams count items.", WFC_CARD_ACTION, NULL,
     stream_in, stream_out, stream_invoke},
    {"fail", "Fail", "Always fails.", WFC_CARD_ACTION, NULL, NULL, NULL,
     fail_invoke},
    {"wait", "Wait", "Runs until canceled.", WFC_CARD_ACTION, NULL, NULL, NULL,
     wait_invoke},
    {"twice", "Twice", "Completes twice (a bug).", WFC_CARD_ACTION, NULL, NULL,
     ok_out, twice_invoke},
    {"errret", "Error return", "Its hook returns an error.", WFC_CARD_ACTION,
     NULL, NULL, NULL, errret_invoke},
    {"badout", "Bad output", "Output breaks its schema.", WFC_CARD_ACTION, NULL,
     NULL, ok_out, badout_invoke},
    {"token", "Token", "Gets the connection's token.", WFC_CARD_ACTION,
     "testconn", NULL, token_out, token_invoke},
    {"stats", "Stats", "Counts hook runs.", WFC_CARD_ACTION, NULL, NULL,
     stats_out, stats_invoke},
    {"events", "New Event", "Polls a fixed list of events.", WFC_CARD_EVENT,
     NULL, events_in, NULL, events_invoke},
    {"fetch", "Fetch", "HTTP through the host.", WFC_CARD_ACTION, NULL,
     fetch_in, fetch_out, fetch_invoke},
    {"mkblob", "Make Blob", "Writes a blob.", WFC_CARD_ACTION, NULL, mkblob_in,
     mkblob_out, mkblob_invoke},
    {"stuck", "Stuck", "Never completes, ignores cancel (a bug).",
     WFC_CARD_ACTION, NULL, NULL, NULL, stuck_invoke},
    {"latereg", "Late registration", "Registers after init (a bug).",
     WFC_CARD_ACTION, NULL, NULL, latereg_out, latereg_invoke},
    {"list", "List", "Lists count items, page by page.", WFC_CARD_ACTION, NULL,
     list_in, list_out, list_invoke},
};

static const wfc_conn_type_desc testconn = {
    "testconn",      "Test Connection",  "A connection for tests.",
    conn_params,     ct_authorize_begin, ct_authorize_complete,
    ct_refresh,      ct_revoke,          NULL,
/* Also built against the 1.2 headers (abi_call_abi12). */
#if WFC_ABI_MINOR >= 4
    WFC_FLOW_BROWSER
#endif
};

static int init(const wfc_host_api *host, wfc_registrar *reg, wfc_error *err) {
  if (!WFC_API_HAS(host, timer_start) || !WFC_API_HAS(host, http_send) ||
      !WFC_API_HAS(host, blob_ref)) {
    host->error_set(err, WFC_ENOTSUP, "host lacks timers, HTTP or blobs");
    return WFC_ENOTSUP;
  }
  api = host;
  saved_reg = reg;
  memset(&counts, 0, sizeof counts);
  int rc = api->register_conn_type(reg, &testconn, sizeof testconn);
  for (size_t i = 0; rc == 0 && i < sizeof cards / sizeof cards[0]; i++)
    rc = api->register_card(reg, &cards[i], sizeof cards[i]);
  return rc;
}

static void shutdown_(void) {
  api = NULL;
}

WFC_PLUGIN_DEFINE("testplugin", "1.2.3", "Exercises the wfc plugin ABI", init,
                  shutdown_)
