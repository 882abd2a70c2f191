/* server.c - the HTTP server: libmicrohttpd daemon on 127.0.0.1, request
 * lifecycle (body buffering or streaming, faults, throttling release),
 * response building and the standard headers.
 *
 * Threading: one thread per connection (MHD_USE_THREAD_PER_CONNECTION), so a
 * slow handler, an injected delay or a 150 MB stream only occupies its own
 * connection. Handlers run under one global mutex; body sinks, streamed
 * responses and delays run outside it. */
#define _GNU_SOURCE /* strcasestr, clock_gettime, CLOCK_REALTIME, strdup */
#include "core.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static struct MHD_Daemon *mhd;
static int listen_port;
static int use_tls;
static char *tls_key_pem; /* must outlive the daemon */
static char *tls_cert_pem;
static pthread_mutex_t big_lock = PTHREAD_MUTEX_INITIALIZER;

/* Whether this thread holds big_lock: relocking would deadlock silently,
 * so it aborts with a message instead, and code that may run either way
 * (releases at the end of a request or of a sub-request) can ask. */
static _Thread_local int lock_held;

void emu_lock(void) {
  if (lock_held) {
    fprintf(stderr, "m365-emulator: emu_lock() while this thread holds it "
                    "(handlers already run with the lock)\n");
    abort();
  }
  pthread_mutex_lock(&big_lock);
  lock_held = 1;
}

void emu_unlock(void) {
  lock_held = 0;
  pthread_mutex_unlock(&big_lock);
}

int emu__lock_held(void) {
  return lock_held;
}

int emu__server_port(void) {
  return listen_port;
}

/* ---- Injected delays ----
 * Slept in the connection's thread without the global lock, and cut short
 * when the server stops, so that a long delay never holds up SIGTERM. */

static pthread_mutex_t stop_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stop_cv = PTHREAD_COND_INITIALIZER;
static int stopping;

static void delay_ms(int ms) {
  struct timespec until;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (long)(ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&stop_mu);
  while (!stopping &&
         pthread_cond_timedwait(&stop_cv, &stop_mu, &until) != ETIMEDOUT)
    ;
  pthread_mutex_unlock(&stop_mu);
}

/* ---- Responses ---- */

void emu__resp_clear(emu_resp *resp) {
  emu__kvv_free(&resp->headers);
  free(resp->ctype);
  free(resp->buf);
  if (resp->kind == EMU_RESP_STREAM && resp->free_fn)
    resp->free_fn(resp->ctx);
  if (resp->kind == EMU_RESP_FD && resp->fd >= 0)
    close(resp->fd);
  memset(resp, 0, sizeof *resp);
  resp->fd = -1;
}

static int has_crlf(const char *s) {
  return strpbrk(s, "\r\n") != NULL;
}

int emu_resp_header(emu_req *r, const char *name, const char *value) {
  if (name == NULL || value == NULL || has_crlf(name) || has_crlf(value) ||
      name[0] == '\0' || strchr(name, ':'))
    return -1;
  emu_kvv *h = &r->resp.headers;
  emu_kv *grown = realloc(h->v, (h->n + 1) * sizeof *h->v);
  if (grown == NULL)
    return -1;
  h->v = grown;
  h->v[h->n].name = strdup(name);
  h->v[h->n].value = strdup(value);
  if (h->v[h->n].name == NULL || h->v[h->n].value == NULL) {
    free(h->v[h->n].name);
    free(h->v[h->n].value);
    return -1;
  }
  h->n++;
  return 0;
}

/* Replaces the body of the response, keeping the headers already added. */
static void resp_reset_body(emu_req *r, int status, const char *ctype) {
  emu_kvv keep = r->resp.headers;
  r->resp.headers.v = NULL;
  r->resp.headers.n = 0;
  emu__resp_clear(&r->resp);
  r->resp.headers = keep;
  r->resp.status = status;
  r->resp.ctype = ctype ? strdup(ctype) : NULL;
}

void emu_resp_bytes(emu_req *r, int status, const char *content_type,
                    const void *body, size_t len) {
  resp_reset_body(r, status, content_type);
  r->resp.kind = EMU_RESP_BUF;
  r->resp.buf = malloc(len + 1);
  if (r->resp.buf == NULL) {
    r->resp.status = 500;
    r->resp.len = 0;
    return;
  }
  if (len)
    memcpy(r->resp.buf, body, len);
  r->resp.buf[len] = '\0';
  r->resp.len = len;
}

/* Graph answers JSON as OData with minimal metadata (its Content-Type
 * says so); the identity platform and the admin API as plain JSON. */
#define ODATA_JSON                                                             \
  "application/json;odata.metadata=minimal;odata.streaming=true;"              \
  "IEEE754Compatible=false;charset=utf-8"

void emu_resp_json(emu_req *r, int status, json_object *body) {
  const char *s = json_object_to_json_string_ext(
      body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  int graph = r->path && (strncmp(r->path, "/v1.0/", 6) == 0 ||
                          strncmp(r->path, "/beta/", 6) == 0);
  emu_resp_bytes(r, status,
                 graph ? ODATA_JSON : "application/json; charset=utf-8", s,
                 strlen(s));
  json_object_put(body);
}

void emu_resp_html(emu_req *r, int status, const char *html) {
  emu_resp_bytes(r, status, "text/html; charset=utf-8", html, strlen(html));
}

void emu_resp_text(emu_req *r, int status, const char *text) {
  emu_resp_bytes(r, status, "text/plain; charset=utf-8", text, strlen(text));
}

void emu_resp_empty(emu_req *r, int status) {
  emu_resp_bytes(r, status, NULL, "", 0);
}

void emu_resp_redirect(emu_req *r, const char *location) {
  emu_resp_empty(r, 302);
  if (emu_resp_header(r, "Location", location) != 0)
    emu_resp_text(r, 500, "bad redirect location\n");
}

void emu_resp_stream(emu_req *r, int status, const char *content_type,
                     int64_t size, emu_read_fn read, void *ctx,
                     void (*free_fn)(void *)) {
  resp_reset_body(r, status, content_type);
  r->resp.kind = EMU_RESP_STREAM;
  r->resp.read = read;
  r->resp.ctx = ctx;
  r->resp.free_fn = free_fn;
  r->resp.size = size;
}

void emu_resp_fd(emu_req *r, int status, const char *content_type, int fd,
                 uint64_t offset, uint64_t size) {
  resp_reset_body(r, status, content_type);
  r->resp.kind = EMU_RESP_FD;
  r->resp.fd = fd;
  r->resp.offset = offset;
  r->resp.size = (int64_t)size;
}

void emu_graph_error(emu_req *r, int status, const char *code, const char *fmt,
                     ...) {
  char msg[1024];
  char date[32];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  emu_fmt_iso8601(emu_now_ms(), date);
  json_object *inner = json_object_new_object();
  json_object_object_add(inner, "date", json_object_new_string(date));
  json_object_object_add(inner, "request-id",
                         json_object_new_string(r->request_id));
  json_object_object_add(inner, "client-request-id",
                         json_object_new_string(emu_req_client_request_id(r)));
  json_object *err = json_object_new_object();
  json_object_object_add(err, "code", json_object_new_string(code));
  json_object_object_add(err, "message", json_object_new_string(msg));
  json_object_object_add(err, "innerError", inner);
  json_object *top = json_object_new_object();
  json_object_object_add(top, "error", err);
  emu_resp_json(r, status, top);
}

/* The identity platform's correlation ID: the client's client-request-id,
 * else one of the request's own, distinct from the trace ID (request_id).
 * Graph, unlike it, echoes its request-id as client-request-id. */
static const char *id_correlation(const emu_req *r) {
  return r->client_request_id ? r->client_request_id : r->correlation_id;
}

char *emu_id_error_description(emu_req *r, int aadsts, const char *msg) {
  char ts[32];
  emu_fmt_id_timestamp(emu_now_ms(), ts);
  return emu_strdup_printf(
      "AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
      aadsts, msg, r->request_id, id_correlation(r), ts);
}

void emu_id_error(emu_req *r, int status, const char *error, int aadsts,
                  const char *suberror, const char *fmt, ...) {
  char msg[1024];
  char ts[32];
  char uri[96];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  emu_fmt_id_timestamp(emu_now_ms(), ts);
  char *desc = emu_id_error_description(r, aadsts, msg);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "error", json_object_new_string(error));
  json_object_object_add(o, "error_description",
                         json_object_new_string(desc ? desc : msg));
  json_object *codes = json_object_new_array();
  json_object_array_add(codes, json_object_new_int(aadsts));
  json_object_object_add(o, "error_codes", codes);
  json_object_object_add(o, "timestamp", json_object_new_string(ts));
  json_object_object_add(o, "trace_id", json_object_new_string(r->request_id));
  json_object_object_add(o, "correlation_id",
                         json_object_new_string(id_correlation(r)));
  snprintf(uri, sizeof uri, "%s/error?code=%d", emu_req_base_url(r), aadsts);
  json_object_object_add(o, "error_uri", json_object_new_string(uri));
  if (suberror)
    json_object_object_add(o, "suberror", json_object_new_string(suberror));
  free(desc);
  emu_resp_json(r, status, o);
}

const char *emu_req_base_url(emu_req *r) {
  if (r->base_url)
    return r->base_url;
  const char *scheme = use_tls ? "https" : "http";
  const char *host = emu_req_header(r, "Host");
  /* Only a loopback Host is echoed: the emulator never serves anything else
   * and a forged Host must not leak into redirects. */
  if (host &&
      (strncmp(host, "127.0.0.1:", 10) == 0 ||
       strncmp(host, "localhost:", 10) == 0) &&
      strspn(strchr(host, ':') + 1, "0123456789") ==
          strlen(strchr(host, ':') + 1))
    r->base_url = emu_strdup_printf("%s://%s", scheme, host);
  else
    r->base_url = emu_strdup_printf("%s://127.0.0.1:%d", scheme, listen_port);
  return r->base_url ? r->base_url : "http://127.0.0.1";
}

/* ---- Body readers for MHD (normal and fault-shaped) ---- */

/* Reads the original body (buffer, stream or fd) and stops at limit: with an
 * error (truncated: the connection drops mid-body) or cleanly (malformed: a
 * shorter, well-framed but cut body). */
typedef struct body_reader {
  emu_req *req;   /* borrowed: the request outlives the response */
  emu_resp *resp; /* &req->resp */
  uint64_t limit; /* UINT64_MAX: none */
  int error_at_limit;
} body_reader;

static ssize_t body_read(void *cls, uint64_t pos, char *buf, size_t max) {
  body_reader *br = cls;
  emu_resp *resp = br->resp;
  if (pos >= br->limit)
    return br->error_at_limit ? MHD_CONTENT_READER_END_WITH_ERROR
                              : MHD_CONTENT_READER_END_OF_STREAM;
  if (max > br->limit - pos)
    max = (size_t)(br->limit - pos);
  ssize_t n;
  switch (resp->kind) {
  case EMU_RESP_BUF:
    if (pos >= resp->len)
      return MHD_CONTENT_READER_END_OF_STREAM;
    n = (ssize_t)(resp->len - pos < max ? resp->len - pos : max);
    memcpy(buf, resp->buf + pos, (size_t)n);
    return n;
  case EMU_RESP_FD:
    n = pread(resp->fd, buf, max, (off_t)(resp->offset + pos));
    if (n < 0)
      return MHD_CONTENT_READER_END_WITH_ERROR;
    return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
  case EMU_RESP_STREAM:
    n = resp->read(resp->ctx, pos, buf, max);
    if (n < 0)
      return MHD_CONTENT_READER_END_WITH_ERROR;
    /* The last bytes are out of the handler's hands: free the throttling
     * slot before the client can see the end (see send_response). */
    if (br->req->throttle_ticket &&
        (n == 0 ||
         (resp->size >= 0 && pos + (uint64_t)n >= (uint64_t)resp->size)))
      emu__throttle_release(br->req);
    return n == 0 ? MHD_CONTENT_READER_END_OF_STREAM : n;
  default:
    return MHD_CONTENT_READER_END_OF_STREAM;
  }
}

static void body_reader_free(void *cls) {
  free(cls);
}

static struct MHD_Response *make_response(emu_req *r) {
  emu_resp *resp = &r->resp;
  enum emu_fault_kind fk = r->fault.kind;
  if (fk == EMU_FAULT_NEXTLINK && resp->kind == EMU_RESP_BUF &&
      resp->status / 100 == 2 && resp->len > 0) {
    /* The page as it was, with the rule's @odata.nextLink. */
    json_object *j = json_tokener_parse(resp->buf);
    if (json_object_is_type(j, json_type_object)) {
      json_object_object_add(j, "@odata.nextLink",
                             json_object_new_string(r->fault.next_link));
      char *ct = resp->ctype ? strdup(resp->ctype) : NULL;
      const char *txt = json_object_to_json_string_ext(
          j, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
      emu_resp_bytes(r, resp->status, ct, txt, strlen(txt));
      free(ct);
    }
    json_object_put(j);
  }
  if (fk == EMU_FAULT_TRUNCATE || fk == EMU_FAULT_MALFORMED) {
    /* The declared length is the real one (truncate) or the cut one
     * (malformed); the reader stops at the cut. */
    uint64_t total;
    if (resp->kind == EMU_RESP_BUF)
      total = resp->len;
    else if (resp->size >= 0)
      total = (uint64_t)resp->size;
    else
      total = 2 * 16384; /* unknown: cut after the first 16 KiB */
    if (fk == EMU_FAULT_MALFORMED && total == 0 && resp->kind == EMU_RESP_BUF) {
      emu_resp_bytes(r, resp->status, "application/json", "{\"error\":", 9);
      return MHD_create_response_from_buffer(resp->len, resp->buf,
                                             MHD_RESPMEM_PERSISTENT);
    }
    body_reader *br = calloc(1, sizeof *br);
    if (br == NULL)
      return NULL;
    br->req = r;
    br->resp = resp;
    br->limit = total / 2;
    br->error_at_limit = fk == EMU_FAULT_TRUNCATE;
    uint64_t declared =
        fk == EMU_FAULT_TRUNCATE ? (total ? total : 16) : total / 2;
    return MHD_create_response_from_callback(declared, 16384, body_read, br,
                                             body_reader_free);
  }
  switch (resp->kind) {
  case EMU_RESP_BUF:
    /* The buffer belongs to the request, which outlives the response. */
    return MHD_create_response_from_buffer(resp->len, resp->buf,
                                           MHD_RESPMEM_PERSISTENT);
  case EMU_RESP_FD: {
    struct MHD_Response *m = MHD_create_response_from_fd_at_offset64(
        (uint64_t)resp->size, resp->fd, resp->offset);
    if (m != NULL)
      resp->fd = -1; /* MHD closes it now */
    return m;
  }
  case EMU_RESP_STREAM: {
    body_reader *br = calloc(1, sizeof *br);
    if (br == NULL)
      return NULL;
    br->req = r;
    br->resp = resp;
    br->limit = UINT64_MAX;
    return MHD_create_response_from_callback(
        resp->size < 0 ? MHD_SIZE_UNKNOWN : (uint64_t)resp->size, 65536,
        body_read, br, body_reader_free);
  }
  default:
    return NULL;
  }
}

/* Closes the connection with a TCP RST: SO_LINGER 0, then MHD_NO. */
static enum MHD_Result reset_connection(emu_req *r) {
  const union MHD_ConnectionInfo *ci =
      MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
  if (ci != NULL) {
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  }
  emu__stats_record(r->method, emu__route_pattern(r->route), 0);
  return MHD_NO;
}

static enum MHD_Result send_response(emu_req *r) {
  if (r->resp.kind == EMU_RESP_NONE) {
    if (r->path && strncmp(r->path, "/v1.0/", 6) == 0)
      emu_graph_error(r, 500, "InternalServerError",
                      "The handler produced no response.");
    else
      emu_resp_text(r, 500, "handler produced no response\n");
  }
  if (r->fault.delay_ms > 0)
    delay_ms(r->fault.delay_ms);
  struct MHD_Response *m = make_response(r);
  if (m == NULL)
    return MHD_NO;
  char date[40];
  emu_fmt_http_date(emu_now_ms(), date);
  for (size_t i = 0; i < r->resp.headers.n; i++)
    MHD_add_response_header(m, r->resp.headers.v[i].name,
                            r->resp.headers.v[i].value);
  if (r->resp.ctype)
    MHD_add_response_header(m, "Content-Type", r->resp.ctype);
  MHD_add_response_header(m, "Date", date);
  MHD_add_response_header(m, "request-id", r->request_id);
  MHD_add_response_header(m, "client-request-id", emu_req_client_request_id(r));
  emu__stats_record(r->method, emu__route_pattern(r->route), r->resp.status);
  enum MHD_Result ret =
      MHD_queue_response(r->conn, (unsigned)r->resp.status, m);
  r->queued = 1;
  /* A throttling slot is held until the answer is complete. Release it now
   * for an answer already whole in memory or in a file, so that a client
   * that got it and sends its next request never meets its own finished
   * request (MHD reports completion after the client may have read it).
   * Streams release at their last byte (body_read). */
  if (r->throttle_ticket && r->resp.kind != EMU_RESP_STREAM)
    emu__throttle_release(r);
  MHD_destroy_response(m);
  return ret;
}

/* ---- Request lifecycle ---- */

static void *uri_cb(void *cls, const char *uri, struct MHD_Connection *c) {
  emu_req *r = calloc(1, sizeof *r);
  if (r == NULL)
    return NULL;
  r->raw_uri = strdup(uri);
  r->conn = c;
  r->resp.fd = -1;
  return r;
}

void emu__req_free(emu_req *r, int locked) {
  if (r->has_sink && r->sink.cleanup)
    r->sink.cleanup(r->sink.ctx);
  if (r->throttle_ticket) {
    /* The release takes the lock itself. */
    if (locked)
      emu_unlock();
    emu__throttle_release(r);
    if (locked)
      emu_lock();
  }
  if (r->data_free && r->data)
    r->data_free(r->data);
  emu__resp_clear(&r->resp);
  emu__kvv_free(&r->qv);
  emu__kvv_free(&r->form);
  emu__kvv_free(&r->hdr_over);
  for (size_t i = 0; i < r->ncaps; i++)
    free(r->caps[i].value);
  if (r->json)
    json_object_put(r->json);
  free(r->raw_uri);
  free(r->method);
  free(r->path);
  free(r->client_request_id);
  free(r->base_url);
  free(r->body);
  free(r);
}

static void completed_cb(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe) {
  if (*con_cls) {
    emu__req_free(*con_cls, 0);
    *con_cls = NULL;
  }
}

static int valid_client_request_id(const char *s) {
  size_t n = strlen(s);
  if (n == 0 || n > 128)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
      return 0;
  return 1;
}

/* The admin API is never faulted (tests must be able to remove faults),
 * except the diagnostic routes, which exist to be faulted. */
static int is_admin_path(const char *p) {
  return strncmp(p, "/__emulator/", 12) == 0 &&
         strncmp(p, "/__emulator/debug/", 18) != 0;
}

/* Identity platform paths: /{tenant}/oauth2/..., /{tenant}/v2.0/... */
static int is_identity_path(const char *p) {
  return strstr(p, "/oauth2/") != NULL || strstr(p, "/v2.0/") != NULL ||
         strstr(p, "/discovery/") != NULL;
}

/* First call for a request: headers are in, no body yet. Returns MHD_YES
 * to go on reading, or MHD_NO to drop the connection. */
static enum MHD_Result begin_inner(emu_req *r, const char *method) {
  r->started = 1;
  r->started_ms = emu_now_ms();
  r->method = strdup(method);
  const char *q = strchr(r->raw_uri ? r->raw_uri : "", '?');
  r->path = r->raw_uri ? strndup(r->raw_uri, q ? (size_t)(q - r->raw_uri)
                                               : strlen(r->raw_uri))
                       : NULL;
  r->query = q ? q + 1 : "";
  if (r->method == NULL || r->path == NULL)
    return MHD_NO;
  emu_uuid(r->request_id);
  const char *crid = emu_req_header(r, "client-request-id");
  if (crid && valid_client_request_id(crid))
    r->client_request_id = strdup(crid);
  /* The identity platform's correlation_id when the client sent no
   * client-request-id: a GUID of its own, never the trace_id. */
  emu_uuid(r->correlation_id);

  /* Unmatched paths already hold their 404/405 answer, which a fault may
   * still replace (an outage covers every path). */
  int matched = emu__router_match(r) == 0;
  if (!matched)
    r->discard_body = 1;
  unsigned flags = emu__route_flags(r->route);
  const char *cl = emu_req_header(r, "Content-Length");
  if (matched && !(flags & EMU_ROUTE_STREAM) && cl &&
      strtoull(cl, NULL, 10) > EMU_BODY_MAX) {
    /* Answer before reading: MHD then closes the connection, and a client
     * sending Expect: 100-continue never uploads the body. */
    if (strncmp(r->path, "/v1.0/", 6) == 0)
      emu_graph_error(r, 413, "RequestEntityTooLarge",
                      "The request body exceeds %u bytes.", EMU_BODY_MAX);
    else
      emu_resp_text(r, 413, "request body too large\n");
    r->discard_body = 1;
    return send_response(r);
  }
  if (!is_admin_path(r->path) && !(flags & EMU_ROUTE_NO_FAULTS)) {
    emu__fault_take(r);
    if (r->fault.kind == EMU_FAULT_RESET && !r->fault.after_handler)
      return reset_connection(r);
    if (r->fault.kind == EMU_FAULT_STATUS) {
      /* The service answers without doing the work, in the error shape
       * of the part of the service the path belongs to. */
      emu__resp_clear(&r->resp);
      if (is_identity_path(r->path))
        emu_id_error(
            r, r->fault.status,
            r->fault.code[0] ? r->fault.code
                             : emu__fault_default_code(r->fault.status, 1),
            90033, NULL, "Injected fault (status %d).", r->fault.status);
      else if (!r->fault.code[0] &&
               emu__fault_default_message(r->fault.status) != NULL)
        emu_graph_error(r, r->fault.status,
                        emu__fault_default_code(r->fault.status, 0), "%s",
                        emu__fault_default_message(r->fault.status));
      else
        emu_graph_error(r, r->fault.status,
                        r->fault.code[0]
                            ? r->fault.code
                            : emu__fault_default_code(r->fault.status, 0),
                        "Injected fault (status %d).", r->fault.status);
      if (r->fault.retry_after_date[0]) {
        emu_resp_header(r, "Retry-After", r->fault.retry_after_date);
      } else if (r->fault.retry_after >= 0) {
        char ra[16];
        snprintf(ra, sizeof ra, "%d", r->fault.retry_after);
        emu_resp_header(r, "Retry-After", ra);
      }
      r->discard_body = 1;
      return MHD_YES;
    }
  }
  if (!matched)
    return MHD_YES;
  if (flags & EMU_ROUTE_STREAM) {
    emu_lock();
    emu__router_run(r);
    emu_unlock();
    r->handled = 1;
    if (r->resp.kind != EMU_RESP_NONE)
      r->discard_body = 1;
  }
  return MHD_YES;
}

static enum MHD_Result finish(emu_req *r);

/* A body worth not receiving: more than 64 KiB announced, or chunked. */
static int big_body_coming(emu_req *r) {
  const char *cl = emu_req_header(r, "Content-Length");
  const char *te = emu_req_header(r, "Transfer-Encoding");
  if (cl)
    return strtoull(cl, NULL, 10) > 64 * 1024;
  return te != NULL && strcasestr(te, "chunked") != NULL;
}

static enum MHD_Result begin(emu_req *r, const char *method) {
  enum MHD_Result ret = begin_inner(r, method);
  /* Answered before the body (404, a fault, a refusing stream handler):
   * for a large body answer at once, so that a client sending Expect:
   * 100-continue never uploads it (MHD then closes the connection); a small
   * one is drained to keep the connection alive. */
  if (ret == MHD_YES && !r->queued && r->discard_body &&
      r->resp.kind != EMU_RESP_NONE && big_body_coming(r))
    return finish(r);
  return ret;
}

static void body_chunk(emu_req *r, const char *data, size_t len) {
  if (r->discard_body)
    return;
  if (r->has_sink) {
    if (r->sink.data(r, data, len, r->sink.ctx) != 0)
      r->discard_body = 1;
    return;
  }
  if (emu__route_flags(r->route) & EMU_ROUTE_STREAM)
    return; /* streaming route without a sink: nothing wants the body */
  if (r->body_len + len > EMU_BODY_MAX) {
    if (strncmp(r->path, "/v1.0/", 6) == 0)
      emu_graph_error(r, 413, "RequestEntityTooLarge",
                      "The request body exceeds %u bytes.", EMU_BODY_MAX);
    else
      emu_resp_text(r, 413, "request body too large\n");
    r->discard_body = 1;
    return;
  }
  if (r->body_len + len + 1 > r->body_cap) {
    size_t cap = r->body_cap ? r->body_cap : 4096;
    while (cap < r->body_len + len + 1)
      cap *= 2;
    char *grown = realloc(r->body, cap);
    if (grown == NULL) {
      emu_resp_text(r, 500, "out of memory\n");
      r->discard_body = 1;
      return;
    }
    r->body = grown;
    r->body_cap = cap;
  }
  memcpy(r->body + r->body_len, data, len);
  r->body_len += len;
  r->body[r->body_len] = '\0';
}

static enum MHD_Result finish(emu_req *r) {
  if (r->resp.kind == EMU_RESP_NONE) {
    if (r->has_sink) {
      emu_lock();
      if (r->sink.end)
        r->sink.end(r, r->sink.ctx);
      emu_unlock();
    } else if (r->route && !r->handled) {
      emu_lock();
      emu__router_run(r);
      emu_unlock();
      r->handled = 1;
    }
  }
  if (r->fault.kind == EMU_FAULT_RESET && r->fault.after_handler) {
    /* The work is done, the answer is lost. */
    if (r->fault.delay_ms > 0)
      delay_ms(r->fault.delay_ms);
    return reset_connection(r);
  }
  return send_response(r);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *c,
                                 const char *url, const char *method,
                                 const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls) {
  emu_req *r = *con_cls;
  if (r == NULL)
    return MHD_NO;
  r->conn = c;
  if (!r->started)
    return begin(r, method);
  if (r->queued) { /* answered early: nothing more to do with the body */
    *upload_data_size = 0;
    return MHD_YES;
  }
  if (*upload_data_size > 0) {
    body_chunk(r, upload_data, *upload_data_size);
    *upload_data_size = 0;
    return MHD_YES;
  }
  return finish(r);
}

static char *read_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return NULL;
  struct stat st;
  char *buf = NULL;
  if (fstat(fileno(f), &st) == 0 && st.st_size < 1024 * 1024) {
    buf = malloc((size_t)st.st_size + 1);
    if (buf && fread(buf, 1, (size_t)st.st_size, f) != (size_t)st.st_size) {
      free(buf);
      buf = NULL;
    }
    if (buf)
      buf[st.st_size] = '\0';
  }
  fclose(f);
  return buf;
}

int emu__server_start(const emu_server_opts *o) {
  struct sockaddr_in sin;
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_port = htons((uint16_t)o->port);
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                   MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL |
                   MHD_USE_ERROR_LOG;
  if (o->tls_cert || o->tls_key) {
    if (!o->tls_cert || !o->tls_key) {
      fprintf(stderr, "m365-emulator: --tls-cert and --tls-key go together\n");
      return -1;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      fprintf(stderr, "m365-emulator: libmicrohttpd was built without TLS\n");
      return -1;
    }
    tls_cert_pem = read_file(o->tls_cert);
    tls_key_pem = read_file(o->tls_key);
    if (!tls_cert_pem || !tls_key_pem) {
      fprintf(stderr, "m365-emulator: cannot read %s\n",
              tls_cert_pem ? o->tls_key : o->tls_cert);
      return -1;
    }
    flags |= MHD_USE_TLS;
    use_tls = 1;
  }
  if (use_tls)
    mhd = MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, access_cb, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
        MHD_OPTION_URI_LOG_CALLBACK, uri_cb, NULL, MHD_OPTION_NOTIFY_COMPLETED,
        completed_cb, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)256, MHD_OPTION_HTTPS_MEM_KEY,
        tls_key_pem, MHD_OPTION_HTTPS_MEM_CERT, tls_cert_pem, MHD_OPTION_END);
  else
    mhd = MHD_start_daemon(
        flags, (uint16_t)o->port, NULL, NULL, access_cb, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sin,
        MHD_OPTION_URI_LOG_CALLBACK, uri_cb, NULL, MHD_OPTION_NOTIFY_COMPLETED,
        completed_cb, NULL, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)256, MHD_OPTION_END);
  if (mhd == NULL) {
    fprintf(stderr, "m365-emulator: cannot listen on 127.0.0.1:%d: %s\n",
            o->port, strerror(errno));
    return -1;
  }
  const union MHD_DaemonInfo *di =
      MHD_get_daemon_info(mhd, MHD_DAEMON_INFO_BIND_PORT);
  listen_port = di ? di->port : o->port;
  return 0;
}

void emu__server_stop(void) {
  pthread_mutex_lock(&stop_mu);
  stopping = 1;
  pthread_cond_broadcast(&stop_cv);
  pthread_mutex_unlock(&stop_mu);
  if (mhd)
    MHD_stop_daemon(mhd);
  mhd = NULL;
  free(tls_cert_pem);
  free(tls_key_pem);
  tls_cert_pem = tls_key_pem = NULL;
}
