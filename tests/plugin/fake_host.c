/* fake_host.c - see fake_host.h. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "fake_host.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "entry.h"

typedef struct script {
  long status;
  int error;
  char *headers;
  char *body;
} script;

typedef struct fake_res {
  wfc_http_res res; /* first: the plugin gets &res */
  const char *headers;
} fake_res;

enum ev_kind { EV_HTTP, EV_TIMER, EV_TOKEN };

struct wfc_http {
  int dummy;
};
struct wfc_timer {
  int dummy;
};

typedef struct event {
  enum ev_kind kind;
  int64_t due;
  uint64_t seq;
  int live;
  /* HTTP */
  wfc_http handle;
  wfc_http_cb http_cb;
  script sc;
  /* timer */
  wfc_timer timer;
  void (*timer_cb)(void *);
  /* token */
  void (*token_cb)(void *, int, const char *);
  wfc_conn *conn;
  void *arg;
} event;

#define MAX_EVENTS  1024
#define MAX_REQS    256
#define MAX_SCRIPTS 256

static struct {
  event *events[MAX_EVENTS];
  size_t nevents;
  uint64_t seq;
  fake_req reqs[MAX_REQS];
  size_t nreqs;
  script scripts[MAX_SCRIPTS];
  size_t nscripts, script_pos;
  int64_t now;
  int64_t waited;
  char **secrets;
  size_t nsecrets;
  char **forgotten; /* values passed to secret_forget, in order */
  size_t nforgotten;
  char *log;
  size_t log_len;
  const wfc_card_desc *cards[64];
  size_t ncards;
  wfc_conn_type_desc conn_types[4]; /* in registration order */
  int have_conn_type;               /* how many */
  size_t max_inflight;
} F;

static char *xstrdup(const char *s) {
  return s ? strdup(s) : NULL;
}

/* ---- table members ------------------------------------------------------ */

static void f_error_set(wfc_error *err, int code, const char *fmt, ...) {
  (void)err;
  (void)code;
  (void)fmt;
}

static int f_register_card(wfc_registrar *reg, const wfc_card_desc *d,
                           size_t size) {
  (void)reg;
  if (size != sizeof *d || d->invoke == NULL || F.ncards >= 64)
    return WFC_EREGISTER;
  F.cards[F.ncards++] = d;
  return 0;
}

static int f_register_conn_type(wfc_registrar *reg, const wfc_conn_type_desc *d,
                                size_t size) {
  (void)reg;
  if (size != sizeof *d)
    return WFC_EREGISTER;
  if (F.have_conn_type < 4)
    F.conn_types[F.have_conn_type++] = *d;
  return 0;
}

static void f_log(int level, const char *fmt, ...) {
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  (void)level;
  if (n < 0)
    return;
  size_t len = strlen(line);
  char *p = realloc(F.log, F.log_len + len + 2);
  if (p == NULL)
    return;
  F.log = p;
  memcpy(F.log + F.log_len, line, len);
  F.log_len += len;
  F.log[F.log_len++] = '\n';
  F.log[F.log_len] = '\0';
}

static void f_secret(const char *v) {
  char **p = realloc(F.secrets, (F.nsecrets + 1) * sizeof *p);
  if (p == NULL)
    return;
  F.secrets = p;
  F.secrets[F.nsecrets++] = xstrdup(v);
}

/* Undoes one registration (the host's refcount). */
static void f_secret_forget(const char *v) {
  char **p = realloc(F.forgotten, (F.nforgotten + 1) * sizeof *p);
  if (p != NULL) {
    F.forgotten = p;
    F.forgotten[F.nforgotten++] = xstrdup(v);
  }
  for (size_t i = 0; i < F.nsecrets; i++) {
    if (strcmp(F.secrets[i], v) == 0) {
      free(F.secrets[i]);
      F.secrets[i] = F.secrets[--F.nsecrets];
      return;
    }
  }
}

static int64_t f_now_ms(void) {
  return F.now;
}

static event *ev_new(enum ev_kind kind, int64_t due) {
  if (F.nevents >= MAX_EVENTS)
    abort();
  event *e = calloc(1, sizeof *e);
  e->kind = kind;
  e->due = due;
  e->seq = F.seq++;
  e->live = 1;
  F.events[F.nevents++] = e;
  return e;
}

static int f_timer_start(uint64_t delay_ms, void (*cb)(void *), void *arg,
                         wfc_timer **out) {
  event *e = ev_new(EV_TIMER, F.now + (int64_t)delay_ms);
  e->timer_cb = cb;
  e->arg = arg;
  if (out)
    *out = &e->timer;
  return 0;
}

static void f_timer_stop(wfc_timer *t) {
  for (size_t i = 0; i < F.nevents; i++)
    if (&F.events[i]->timer == t)
      F.events[i]->live = 0;
}

static struct json_object *f_call_input(wfc_call *c) {
  return c->input;
}
static wfc_conn *f_call_conn(wfc_call *c) {
  return c->conn;
}
static const char *f_call_checkpoint(wfc_call *c) {
  (void)c;
  return NULL;
}
static void f_call_on_cancel(wfc_call *c, void (*cb)(void *), void *arg) {
  c->cancel_cb = cb;
  c->cancel_arg = arg;
}
static void f_call_done(wfc_call *c, struct json_object *out) {
  c->done++;
  json_object_put(c->output);
  c->output = out ? out : json_object_new_object();
}
static void f_call_fail(wfc_call *c, int code, struct json_object *detail,
                        const char *fmt, ...) {
  c->failed++;
  c->fail_code = code;
  json_object_put(c->detail);
  c->detail = detail;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->message, sizeof c->message, fmt, ap);
  va_end(ap);
}
static int f_call_emit(wfc_call *c, struct json_object *item) {
  (void)c;
  json_object_put(item);
  return 0;
}
static void f_call_progress(wfc_call *c, uint64_t d, uint64_t t) {
  (void)c;
  (void)d;
  (void)t;
}
static struct json_object *f_conn_params(wfc_conn *c) {
  return c->params;
}
static struct json_object *f_conn_info(wfc_conn *c) {
  (void)c;
  return NULL;
}
static int f_conn_token(wfc_conn *c, void (*cb)(void *, int, const char *),
                        void *arg) {
  c->token_calls++;
  event *e = ev_new(EV_TOKEN, F.now);
  e->token_cb = cb;
  e->arg = arg;
  e->conn = c;
  return 0;
}
static void f_conn_token_rejected(wfc_conn *c, const char *token) {
  if (c->token != NULL && strcmp(c->token, token) == 0) {
    c->rejected++;
    if (c->next_token)
      c->token = c->next_token;
  }
}

static int f_http_send(const wfc_http_req *req, wfc_http_cb cb, void *arg,
                       wfc_http **out) {
  if (F.nreqs >= MAX_REQS)
    abort();
  for (size_t i = 0; req->headers && req->headers[i]; i++)
    if (strpbrk(req->headers[i], "\r\n"))
      return WFC_EHEADER;
  fake_req *r = &F.reqs[F.nreqs++];
  r->at_ms = F.now;
  size_t inflight = 1;
  for (size_t i = 0; i < F.nevents; i++)
    inflight += F.events[i]->live && F.events[i]->kind == EV_HTTP;
  if (inflight > F.max_inflight)
    F.max_inflight = inflight;
  r->method = xstrdup(req->method);
  r->url = xstrdup(req->url);
  size_t n = 0;
  while (req->headers && req->headers[n])
    n++;
  r->headers = calloc(n + 1, sizeof *r->headers);
  for (size_t i = 0; i < n; i++)
    r->headers[i] = xstrdup(req->headers[i]);
  if (req->body) {
    r->body = malloc(req->body_len + 1);
    memcpy(r->body, req->body, req->body_len);
    r->body[req->body_len] = '\0';
    r->body_len = req->body_len;
  }
  event *e = ev_new(EV_HTTP, F.now);
  e->http_cb = cb;
  e->arg = arg;
  if (F.script_pos < F.nscripts) {
    e->sc = F.scripts[F.script_pos++];
  } else {
    e->sc.error = WFC_ENET;
    e->sc.body = xstrdup("unscripted request");
  }
  if (out)
    *out = &e->handle;
  return 0;
}

static void f_http_cancel(wfc_http *h) {
  for (size_t i = 0; i < F.nevents; i++)
    if (&F.events[i]->handle == h && F.events[i]->live)
      F.events[i]->sc.error = WFC_ECANCELED;
}

static const char *f_http_header(const wfc_http_res *res, const char *name) {
  const fake_res *fr = (const fake_res *)res;
  static char value[1024];
  const char *found = NULL;
  size_t nl = strlen(name);
  for (const char *p = fr->headers; p && *p;) {
    const char *end = strchr(p, '\n');
    size_t len = end ? (size_t)(end - p) : strlen(p);
    if (len > nl && strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
      const char *v = p + nl + 1;
      while (*v == ' ')
        v++;
      size_t vl = len - (size_t)(v - p);
      if (vl >= sizeof value)
        vl = sizeof value - 1;
      memcpy(value, v, vl);
      value[vl] = '\0';
      found = value;
    }
    p = end ? end + 1 : p + len;
  }
  return found;
}

static void *f_alloc(size_t n) {
  return malloc(n);
}
static void *f_realloc(void *p, size_t n) {
  return realloc(p, n);
}
static char *f_strdup(const char *s) {
  return xstrdup(s);
}

static const wfc_host_api api = {
    .size = sizeof(wfc_host_api),
    .abi_major = WFC_ABI_MAJOR,
    .abi_minor = WFC_ABI_MINOR,
    .host_name = "fake",
    .host_version = "0",
    .alloc = f_alloc,
    .realloc = f_realloc,
    .free = free,
    .strdup = f_strdup,
    .error_set = f_error_set,
    .register_card = f_register_card,
    .register_conn_type = f_register_conn_type,
    .log = f_log,
    .secret = f_secret,
    .secret_forget = f_secret_forget,
    .now_ms = f_now_ms,
    .timer_start = f_timer_start,
    .timer_stop = f_timer_stop,
    .call_input = f_call_input,
    .call_conn = f_call_conn,
    .call_checkpoint = f_call_checkpoint,
    .call_on_cancel = f_call_on_cancel,
    .call_done = f_call_done,
    .call_fail = f_call_fail,
    .call_emit = f_call_emit,
    .call_progress = f_call_progress,
    .conn_params = f_conn_params,
    .conn_info = f_conn_info,
    .conn_token = f_conn_token,
    .conn_token_rejected = f_conn_token_rejected,
    .http_send = f_http_send,
    .http_cancel = f_http_cancel,
    .http_header = f_http_header,
};

/* ---- control ----------------------------------------------------------- */

const wfc_host_api *fake_api(void) {
  return &api;
}

void fake_teardown(void) {
  for (size_t i = 0; i < F.nevents; i++) {
    free(F.events[i]->sc.headers);
    free(F.events[i]->sc.body);
    free(F.events[i]);
  }
  for (size_t i = 0; i < F.nreqs; i++) {
    free(F.reqs[i].method);
    free(F.reqs[i].url);
    for (size_t j = 0; F.reqs[i].headers[j]; j++)
      free(F.reqs[i].headers[j]);
    free(F.reqs[i].headers);
    free(F.reqs[i].body);
  }
  for (size_t i = F.script_pos; i < F.nscripts; i++) {
    free(F.scripts[i].headers);
    free(F.scripts[i].body);
  }
  for (size_t i = 0; i < F.nsecrets; i++)
    free(F.secrets[i]);
  free(F.secrets);
  for (size_t i = 0; i < F.nforgotten; i++)
    free(F.forgotten[i]);
  free(F.forgotten);
  free(F.log);
  memset(&F, 0, sizeof F);
}

void fake_reset(void) {
  fake_teardown();
  F.now = 1700000000000LL;
  o365_api = &api;
}

void fake_http_push(long status, const char *headers, const char *body) {
  script *s = &F.scripts[F.nscripts++];
  s->status = status;
  s->headers = xstrdup(headers ? headers : "");
  s->body = xstrdup(body ? body : "");
}

void fake_http_push_error(int error) {
  script *s = &F.scripts[F.nscripts++];
  s->error = error;
  s->headers = xstrdup("");
  s->body = xstrdup("");
}

size_t fake_http_max_inflight(void) {
  return F.max_inflight;
}

size_t fake_http_count(void) {
  return F.nreqs;
}
size_t fake_http_pending(void) {
  return F.nscripts - F.script_pos;
}
const fake_req *fake_http_req(size_t i) {
  return i < F.nreqs ? &F.reqs[i] : NULL;
}

const char *fake_req_header(const fake_req *r, const char *name) {
  size_t nl = strlen(name);
  for (size_t i = 0; r && r->headers[i]; i++)
    if (strncasecmp(r->headers[i], name, nl) == 0 && r->headers[i][nl] == ':')
      return r->headers[i] + nl + 2;
  return NULL;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

const char *fake_param(const char *encoded, const char *name) {
  static char out[4096];
  if (encoded == NULL)
    return NULL;
  const char *q = strchr(encoded, '?');
  const char *p = q ? q + 1 : encoded;
  size_t nl = strlen(name);
  while (*p) {
    size_t len = strcspn(p, "&");
    if (len > nl && strncmp(p, name, nl) == 0 && p[nl] == '=') {
      size_t o = 0;
      for (size_t i = nl + 1; i < len && o + 1 < sizeof out; i++) {
        if (p[i] == '%' && i + 2 < len + 1 && hexval(p[i + 1]) >= 0 &&
            hexval(p[i + 2]) >= 0) {
          out[o++] = (char)(hexval(p[i + 1]) * 16 + hexval(p[i + 2]));
          i += 2;
        } else if (p[i] == '+') {
          out[o++] = ' ';
        } else {
          out[o++] = p[i];
        }
      }
      out[o] = '\0';
      return out;
    }
    p += len;
    if (*p == '&')
      p++;
  }
  return NULL;
}

int fake_step(void) {
  {
    event *next = NULL;
    for (size_t i = 0; i < F.nevents; i++) {
      event *e = F.events[i];
      if (!e->live)
        continue;
      if (next == NULL || e->due < next->due ||
          (e->due == next->due && e->seq < next->seq))
        next = e;
    }
    if (next == NULL)
      return 0;
    next->live = 0;
    if (next->due > F.now) {
      F.waited += next->due - F.now;
      F.now = next->due;
    }
    switch (next->kind) {
    case EV_TIMER:
      next->timer_cb(next->arg);
      break;
    case EV_TOKEN: {
      wfc_conn *c = next->conn;
      next->token_cb(next->arg, c->token_error,
                     c->token_error ? NULL : c->token);
      break;
    }
    case EV_HTTP: {
      fake_res fr;
      memset(&fr, 0, sizeof fr);
      fr.res.size = sizeof fr.res;
      fr.res.error = next->sc.error;
      fr.res.error_message = next->sc.error ? "scripted failure" : NULL;
      fr.res.status = next->sc.error ? 0 : next->sc.status;
      fr.res.body = next->sc.error ? "" : next->sc.body;
      fr.res.body_len = next->sc.error ? 0 : strlen(next->sc.body);
      fr.headers = next->sc.headers;
      next->http_cb(next->arg, &fr.res);
      break;
    }
    }
  }
  return 1;
}

void fake_run(void) {
  while (fake_step())
    ;
}

int64_t fake_now_ms(void) {
  return F.now;
}
void fake_set_now_ms(int64_t t) {
  F.now = t;
}
int64_t fake_waited_ms(void) {
  return F.waited;
}

wfc_call *fake_call_new(struct json_object *input, wfc_conn *conn) {
  wfc_call *c = calloc(1, sizeof *c);
  c->input = input;
  c->conn = conn;
  return c;
}

void fake_call_free(wfc_call *c) {
  if (c == NULL)
    return;
  json_object_put(c->input);
  json_object_put(c->output);
  json_object_put(c->detail);
  free(c);
}

void fake_call_cancel(wfc_call *c) {
  if (c->cancel_cb)
    c->cancel_cb(c->cancel_arg);
}

wfc_conn *fake_conn_new(struct json_object *params, const char *token) {
  wfc_conn *c = calloc(1, sizeof *c);
  c->params = params;
  c->token = token;
  return c;
}

void fake_conn_free(wfc_conn *c) {
  if (c == NULL)
    return;
  json_object_put(c->params);
  free(c);
}

int fake_is_secret(const char *value) {
  for (size_t i = 0; i < F.nsecrets; i++)
    if (strcmp(F.secrets[i], value) == 0)
      return 1;
  return 0;
}

int fake_was_forgotten(const char *value) {
  for (size_t i = 0; i < F.nforgotten; i++)
    if (strcmp(F.forgotten[i], value) == 0)
      return 1;
  return 0;
}

const char *fake_log(void) {
  return F.log ? F.log : "";
}

size_t fake_registered_cards(void) {
  return F.ncards;
}
const wfc_card_desc *fake_card(size_t i) {
  return i < F.ncards ? F.cards[i] : NULL;
}
const wfc_conn_type_desc *fake_conn_type(void) {
  return F.have_conn_type ? &F.conn_types[0] : NULL;
}

const wfc_conn_type_desc *fake_conn_type_at(int i) {
  return i >= 0 && i < F.have_conn_type ? &F.conn_types[i] : NULL;
}
