/* host_api.c - the static wfc_host_api table and the services behind it. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, strdup */
#include "host_api.h"

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <uv.h>

#include "blob.h"
#include "call.h"
#include "clock.h"
#include "http.h"
#include "json.h"
#include "lease.h"
#include "loader.h"
#include "log.h"
#include "registry.h"
#include "runtime.h"

/* ---- Memory -------------------------------------------------------------- */

static void *h_alloc(size_t n) {
  return malloc(n ? n : 1);
}

static void *h_realloc(void *p, size_t n) {
  return realloc(p, n ? n : 1);
}

static void h_free(void *p) {
  free(p);
}

static char *h_strdup(const char *s) {
  return s ? strdup(s) : NULL;
}

/* ---- Errors and registration --------------------------------------------- */

static void h_error_set(wfc_error *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void h_error_set(wfc_error *err, int code, const char *fmt, ...) {
  if (err == NULL)
    return;
  err->code = code;
  err->message[0] = '\0';
  if (fmt != NULL) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
  }
}

static int h_register_card(wfc_registrar *reg, const wfc_card_desc *desc,
                           size_t size) {
  return wfc__registrar_card(reg, desc, size);
}

static int h_register_conn_type(wfc_registrar *reg,
                                const wfc_conn_type_desc *desc, size_t size) {
  return wfc__registrar_conn_type(reg, desc, size);
}

/* ---- Logging, time, loop ------------------------------------------------- */

/* The plugin that called the service whose return address is ra (the
 * table's members take no plugin argument: the caller is found by its
 * code), or NULL. */
static struct wfc_plugin *caller_plugin(const void *ra) {
  wfc_runtime *rt = wfc__runtime_current();
  return wfc__loader_plugin_at(rt != NULL ? &rt->reg : NULL, ra);
}

/* noinline: the return address must be the plugin's call. */
static void h_log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noinline));
static void h_log(int level, const char *fmt, ...) {
  if (level > wfc__log_level())
    return; /* before the look-up: a dropped record costs nothing */
  struct wfc_plugin *p = caller_plugin(__builtin_return_address(0));
  va_list ap;
  va_start(ap, fmt);
  wfc__logv_module(level, p != NULL ? p->name : "plugin", fmt, ap);
  va_end(ap);
}

static void h_secret(const char *value) {
  if (value != NULL)
    wfc__log_secret(value);
}

static void h_secret_forget(const char *value) {
  if (value != NULL)
    wfc__log_forget_secret(value);
}

static int64_t h_now_ms(void) {
  return wfc__now_ms();
}

static uv_loop_t *h_loop(void) {
  wfc_runtime *rt = wfc__runtime_current();
  return rt ? rt->loop : NULL;
}

/* ---- Timers -------------------------------------------------------------- */

/* Exactly once: the callback runs once, or never if stopped first; either
 * way the handle is closed and freed by the host. */
struct wfc_timer {
  uv_timer_t h;
  void (*cb)(void *arg);
  void *arg;
  struct wfc_timer *prev, *next;
};

static struct wfc_timer *timers;
static uint64_t live_handles;

uint64_t wfc__host_live_handles(void) {
  return live_handles;
}

static void timer_unlink(struct wfc_timer *t) {
  if (t->prev)
    t->prev->next = t->next;
  else
    timers = t->next;
  if (t->next)
    t->next->prev = t->prev;
  t->prev = t->next = NULL;
  live_handles--;
  wfc_runtime *rt = wfc__runtime_current();
  if (rt != NULL)
    rt->stats.timers_active--;
}

static void timer_free(uv_handle_t *h) {
  free(h->data);
}

static void timer_fire(uv_timer_t *h) {
  struct wfc_timer *t = h->data;
  void (*cb)(void *) = t->cb;
  void *arg = t->arg;
  timer_unlink(t);
  uv_close((uv_handle_t *)&t->h, timer_free);
  cb(arg);
}

static int h_timer_start(uint64_t delay_ms, void (*cb)(void *arg), void *arg,
                         wfc_timer **out) {
  wfc_runtime *rt = wfc__runtime_current();
  if (cb == NULL)
    return WFC_EINVAL;
  if (rt == NULL)
    return WFC_ESTATE;
  struct wfc_timer *t = calloc(1, sizeof *t);
  if (t == NULL)
    return WFC_ENOMEM;
  uv_timer_init(rt->loop, &t->h);
  t->h.data = t;
  t->cb = cb;
  t->arg = arg;
  uv_timer_start(&t->h, timer_fire, delay_ms, 0);
  t->next = timers;
  if (timers)
    timers->prev = t;
  timers = t;
  live_handles++;
  rt->stats.timers_active++;
  if (out != NULL)
    *out = t;
  return 0;
}

static void h_timer_stop(wfc_timer *t) {
  if (t == NULL)
    return;
  uv_timer_stop(&t->h);
  timer_unlink(t);
  uv_close((uv_handle_t *)&t->h, timer_free);
}

void wfc__host_timers_stop_all(void) {
  while (timers != NULL) {
    wfc__log(WFC_LOG_WARN, "stopping a plugin timer left at shutdown");
    h_timer_stop(timers);
  }
}

/* ---- Calls --------------------------------------------------------------- */

static void h_call_fail(wfc_call *call, int code, struct json_object *detail,
                        const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void h_call_fail(wfc_call *call, int code, struct json_object *detail,
                        const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  wfc__call_failv(call, code, detail, fmt, ap);
  va_end(ap);
}

/* ---- Connections --------------------------------------------------------- */

static struct json_object *h_conn_params(wfc_conn *c) {
  return c ? c->params : NULL;
}

static struct json_object *h_conn_info(wfc_conn *c) {
  return c ? c->info : NULL;
}

/* The token service is the connection manager's (wfc_conn_ops). */
static int h_conn_token(wfc_conn *c,
                        void (*cb)(void *arg, int status, const char *token),
                        void *arg) {
  if (c == NULL || cb == NULL)
    return WFC_EINVAL;
  if (c->ops == NULL || c->ops->token == NULL)
    return WFC_ENOTSUP;
  return c->ops->token(c->ops_arg, c, cb, arg);
}

static void h_conn_token_rejected(wfc_conn *c, const char *token) {
  if (c != NULL && c->ops != NULL && c->ops->token_rejected != NULL)
    c->ops->token_rejected(c->ops_arg, c, token);
}

/* ---- Idempotency claims (ABI 1.3) -----------------------------------------
 * The connection's manager keeps them in its store (wfc_conn_ops). The
 * holder is the call: this process's holder id (lease.h: a process of this
 * node that is gone is recognized) and the call's number. */

#define CLAIM_TTL_MAX_MS 3600000u

static pthread_once_t holder_once = PTHREAD_ONCE_INIT;
static char process_holder[200];

static void holder_init(void) {
  if (wfc__lease_holder_new(process_holder, sizeof process_holder) != 0)
    process_holder[0] = '\0';
}

/* The connection's ops with claims, or NULL. */
static const wfc_conn_ops *claim_ops(wfc_call *call, wfc_conn **conn) {
  wfc_conn *c = wfc__call_conn(call);
  *conn = c;
  if (c == NULL || c->ops == NULL ||
      c->ops->size < offsetof(wfc_conn_ops, claim_release) +
                         sizeof c->ops->claim_release ||
      c->ops->claim == NULL || c->ops->claim_sent == NULL ||
      c->ops->claim_release == NULL)
    return NULL;
  return c->ops;
}

static int call_holder(wfc_call *call, char *buf, size_t len) {
  pthread_once(&holder_once, holder_init);
  if (process_holder[0] == '\0')
    return WFC_EIO;
  /* "c<seq>:" first: lease.h reads the pid and node after the first '.'. */
  snprintf(buf, len, "c%llu:%s", (unsigned long long)wfc__call_seq(call),
           process_holder);
  return 0;
}

static int h_claim(wfc_call *call, const char *key, uint32_t ttl_ms,
                   wfc_claim *out) {
  char holder[256];
  wfc_conn *c;
  const wfc_conn_ops *ops;
  int rc;

  if (out != NULL)
    memset(out, 0, sizeof *out);
  if (call == NULL || key == NULL || key[0] == '\0' || out == NULL ||
      ttl_ms == 0 || ttl_ms > CLAIM_TTL_MAX_MS)
    return WFC_EINVAL;
  if ((ops = claim_ops(call, &c)) == NULL)
    return WFC_ENOTSUP;
  if ((rc = call_holder(call, holder, sizeof holder)) != 0)
    return rc;
  return ops->claim(c->ops_arg, c, key, holder, ttl_ms, out);
}

static int h_claim_sent(wfc_call *call, const char *key,
                        struct json_object *outcome) {
  wfc_conn *c;
  const wfc_conn_ops *ops;

  if (call == NULL || key == NULL || key[0] == '\0' || outcome == NULL ||
      !json_object_is_type(outcome, json_type_object))
    return WFC_EINVAL;
  if ((ops = claim_ops(call, &c)) == NULL)
    return WFC_ENOTSUP;
  return ops->claim_sent(
      c->ops_arg, c, key,
      json_object_to_json_string_ext(outcome, JSON_C_TO_STRING_PLAIN));
}

static int h_claim_release(wfc_call *call, const char *key, int nothing_sent) {
  char holder[256];
  wfc_conn *c;
  const wfc_conn_ops *ops;
  int rc;

  if (call == NULL || key == NULL || key[0] == '\0')
    return WFC_EINVAL;
  if ((ops = claim_ops(call, &c)) == NULL)
    return WFC_ENOTSUP;
  if ((rc = call_holder(call, holder, sizeof holder)) != 0)
    return rc;
  return ops->claim_release(c->ops_arg, c, key, holder, nothing_sent != 0);
}

/* ---- HTTP through the runtime's engine
 * --------------------------------------- */

/* Adapts a request's blobs to the engine's io; freed when the plugin's
 * callback has run. */
typedef struct host_http {
  wfc_http_cb cb;
  void *arg;
  wfc_blob *body_blob; /* borrowed from the plugin until the callback */
  uint64_t body_offset, body_length;
  wfc_blob *sink_blob; /* borrowed likewise */
  wfc_call *call;      /* whose progress the sink's bytes are; or NULL */
  uint64_t reported;   /* bytes at the last progress report */
  wfc__http_io io;
} host_http;

static ssize_t http_io_read(void *ctx, uint64_t off, void *buf, size_t len) {
  host_http *h = ctx;
  if (off >= h->body_length)
    return 0;
  if (len > h->body_length - off)
    len = (size_t)(h->body_length - off);
  return wfc__blob_read(h->body_blob, h->body_offset + off, buf, len);
}

static int http_io_write(void *ctx, const void *buf, size_t len) {
  host_http *h = ctx;
  return wfc__blob_write(h->sink_blob, buf, len);
}

/* A download into a blob is its call's progress (wfc_http_req.
 * progress_call): a report per 64 KiB and the last one, whatever libcurl's
 * write size (the host's on_progress draws at its own pace). */
#define HTTP_PROGRESS_STEP (64 * 1024)
static void http_io_progress(void *ctx, uint64_t done, uint64_t total) {
  host_http *h = ctx;
  if (done - h->reported < HTTP_PROGRESS_STEP && done != total)
    return;
  h->reported = done;
  wfc__call_progress(h->call, done, total);
}

static void http_done(void *arg, const wfc_http_res *res) {
  host_http *h = arg;
  wfc_http_cb cb = h->cb;
  void *cb_arg = h->arg;
  free(h);
  live_handles--;
  /* res is the engine's, so api->http_header(res, ...) works in cb. */
  cb(cb_arg, res);
}

static int h_http_send(const wfc_http_req *req, wfc_http_cb cb, void *arg,
                       wfc_http **out) {
  wfc_runtime *rt = wfc__runtime_current();
  if (req == NULL || cb == NULL)
    return WFC_EINVAL;
  if (rt == NULL || rt->http == NULL)
    return WFC_ESTATE;
  /* Copy what this host knows of the plugin's (possibly older, smaller)
   * request struct. */
  wfc_http_req r;
  memset(&r, 0, sizeof r);
  if (req->size < offsetof(wfc_http_req, body_len) + sizeof(size_t))
    return WFC_EINVAL;
  memcpy(&r, req, req->size < sizeof r ? req->size : sizeof r);
  r.size = sizeof r;
  host_http *h = calloc(1, sizeof *h);
  if (h == NULL)
    return WFC_ENOMEM;
  h->cb = cb;
  h->arg = arg;
  const wfc__http_io *io = NULL;
  if (r.body_blob != NULL || r.sink_blob != NULL) {
    if (r.body_blob != NULL && r.body != NULL) {
      free(h);
      return WFC_EINVAL;
    }
    h->body_blob = r.body_blob;
    h->body_offset = r.body_offset;
    h->body_length = r.body_length;
    h->sink_blob = r.sink_blob;
    h->call = r.progress_call;
    h->io.read = r.body_blob ? http_io_read : NULL;
    h->io.write = r.sink_blob ? http_io_write : NULL;
    h->io.progress = r.sink_blob && r.progress_call ? http_io_progress : NULL;
    h->io.ctx = h;
    io = &h->io;
  }
  int rc = wfc__http_send(rt->http, &r, io, http_done, h, out);
  if (rc != 0) {
    free(h);
    return rc;
  }
  live_handles++;
  return 0;
}

static void h_http_cancel(wfc_http *h) {
  if (h != NULL)
    wfc__http_cancel(h);
}

static const char *h_http_header(const wfc_http_res *res, const char *name) {
  return wfc__http_header(res, name);
}

/* ---- Blobs, in the runtime's store --------------------------------------- */

static int h_blob_create(const char *name, const char *content_type,
                         wfc_blob **out) {
  wfc__blobstore *bs;
  int rc = wfc__runtime_blobstore(wfc__runtime_current(), &bs);
  return rc ? rc : wfc__blob_create(bs, name, content_type, out);
}

static int h_blob_open(const char *id, wfc_blob **out) {
  wfc__blobstore *bs;
  int rc = wfc__runtime_blobstore(wfc__runtime_current(), &bs);
  return rc ? rc : wfc__blob_open(bs, id, out);
}

static int h_blob_write(wfc_blob *b, const void *buf, size_t len) {
  return b ? wfc__blob_write(b, buf, len) : WFC_EINVAL;
}

static ssize_t h_blob_read(wfc_blob *b, uint64_t off, void *buf, size_t len) {
  return b ? wfc__blob_read(b, off, buf, len) : WFC_EINVAL;
}

static int h_blob_commit(wfc_blob *b) {
  return b ? wfc__blob_commit(b) : WFC_EINVAL;
}

static void h_blob_close(wfc_blob *b) {
  wfc__blob_close(b);
}

static struct json_object *h_blob_ref(wfc_blob *b) {
  return b ? wfc__blob_ref(b) : NULL;
}

/* ---- Settings ----------------------------------------------------------- */

/* noinline: the return address must be the plugin's call. */
static char *h_setting(const char *key) __attribute__((noinline));
static char *h_setting(const char *key) {
  struct wfc_plugin *p = caller_plugin(__builtin_return_address(0));
  const char *v =
      p != NULL ? wfc__runtime_setting(wfc__runtime_current(), p->name, key)
                : NULL;
  return v != NULL ? strdup(v) : NULL;
}

/* ---- The table
 * ---------------------------------------------------------------- */

static const wfc_host_api api = {
    .size = sizeof(wfc_host_api),
    .abi_major = WFC_ABI_MAJOR,
    .abi_minor = WFC_ABI_MINOR,
    .host_name = "wfc",
    .host_version = WFC_VERSION_STRING,
    .alloc = h_alloc,
    .realloc = h_realloc,
    .free = h_free,
    .strdup = h_strdup,
    .error_set = h_error_set,
    .register_card = h_register_card,
    .register_conn_type = h_register_conn_type,
    .log = h_log,
    .secret = h_secret,
    .secret_forget = h_secret_forget,
    .now_ms = h_now_ms,
    .loop = h_loop,
    .timer_start = h_timer_start,
    .timer_stop = h_timer_stop,
    .call_input = wfc__call_input,
    .call_conn = wfc__call_conn,
    .call_checkpoint = wfc__call_checkpoint,
    .call_on_cancel = wfc__call_on_cancel,
    .call_done = wfc__call_done,
    .call_fail = h_call_fail,
    .call_emit = wfc__call_emit,
    .call_progress = wfc__call_progress,
    .conn_params = h_conn_params,
    .conn_info = h_conn_info,
    .conn_token = h_conn_token,
    .conn_token_rejected = h_conn_token_rejected,
    .http_send = h_http_send,
    .http_cancel = h_http_cancel,
    .http_header = h_http_header,
    .blob_create = h_blob_create,
    .blob_open = h_blob_open,
    .blob_write = h_blob_write,
    .blob_read = h_blob_read,
    .blob_commit = h_blob_commit,
    .blob_close = h_blob_close,
    .blob_ref = h_blob_ref,
    .claim = h_claim,
    .claim_sent = h_claim_sent,
    .claim_release = h_claim_release,
    .setting = h_setting,
    .list_new = wfc__call_list_new,
    .list_add = wfc__json_list_add,
};

const wfc_host_api *wfc__host_api(void) {
  return &api;
}
