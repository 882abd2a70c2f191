/* debug.c - diagnostic routes under /__emulator/debug/ that exercise the
 * core without Graph or the identity platform: request echo, a streaming
 * upload sink, a streamed download and a throttled probe. Faults apply to
 * them (unlike the rest of the admin API), so clients can rehearse their
 * error handling. */
#include "core.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

/* GET|POST|PUT|PATCH|DELETE /__emulator/debug/echo[/{a}[/{b}]]
 * Answers with what the core decoded: method, path, route, params, query
 * pairs, form fields, and the headers/cookies named by ?header= and
 * ?cookie=. */
static void h_echo(emu_req *r) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "method", json_object_new_string(r->method));
  json_object_object_add(o, "path", json_object_new_string(r->path));
  json_object_object_add(o, "route", json_object_new_string(emu_req_route(r)));
  json_object_object_add(o, "rawQuery", json_object_new_string(r->query));
  json_object *params = json_object_new_object();
  for (size_t i = 0; i < r->ncaps; i++)
    json_object_object_add(params, r->caps[i].name,
                           json_object_new_string(r->caps[i].value));
  json_object_object_add(o, "params", params);
  emu_req_query(r, ""); /* parse */
  json_object *q = json_object_new_array();
  for (size_t i = 0; i < r->qv.n; i++) {
    json_object *pair = json_object_new_array();
    json_object_array_add(pair, json_object_new_string(r->qv.v[i].name));
    json_object_array_add(pair, json_object_new_string(r->qv.v[i].value));
    json_object_array_add(q, pair);
  }
  json_object_object_add(o, "query", q);
  emu_req_form(r, ""); /* parse */
  json_object *form = json_object_new_object();
  for (size_t i = 0; i < r->form.n; i++)
    if (!json_object_object_get_ex(form, r->form.v[i].name, NULL))
      json_object_object_add(form, r->form.v[i].name,
                             json_object_new_string(r->form.v[i].value));
  json_object_object_add(o, "form", form);
  const char *h = emu_req_query(r, "header");
  if (h) {
    const char *v = emu_req_header(r, h);
    json_object_object_add(o, "header", v ? json_object_new_string(v) : NULL);
  }
  const char *c = emu_req_query(r, "cookie");
  if (c) {
    const char *v = emu_req_cookie(r, c);
    json_object_object_add(o, "cookie", v ? json_object_new_string(v) : NULL);
  }
  size_t len;
  emu_req_body(r, &len);
  json_object_object_add(o, "bodyLength", json_object_new_int64((int64_t)len));
  json_object_object_add(o, "json",
                         json_object_new_boolean(emu_req_json(r) != NULL));
  json_object_object_add(o, "baseUrl",
                         json_object_new_string(emu_req_base_url(r)));
  const char *set = emu_req_query(r, "setCookie");
  if (set)
    emu_resp_header(r, "Set-Cookie", set);
  emu_resp_json(r, 200, o);
}

/* PUT|POST /__emulator/debug/sink (streaming): counts and hashes the body
 * without keeping it. ?failAfter=N stops with 413 after N bytes. */
typedef struct sink_ctx {
  EVP_MD_CTX *md;
  uint64_t bytes;
  uint64_t fail_after;
  size_t chunks;
} sink_ctx;

static int sink_data(emu_req *r, const char *buf, size_t len, void *ctx) {
  sink_ctx *s = ctx;
  s->bytes += len;
  s->chunks++;
  if (s->fail_after && s->bytes > s->fail_after) {
    emu_graph_error(r, 413, "RequestEntityTooLarge",
                    "The upload exceeds %llu bytes.",
                    (unsigned long long)s->fail_after);
    return -1;
  }
  EVP_DigestUpdate(s->md, buf, len);
  return 0;
}

static void sink_end(emu_req *r, void *ctx) {
  sink_ctx *s = ctx;
  unsigned char d[32];
  unsigned int dl = 0;
  char hex[65];
  EVP_DigestFinal_ex(s->md, d, &dl);
  for (unsigned i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", d[i]);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "bytes", json_object_new_int64((int64_t)s->bytes));
  json_object_object_add(o, "chunks",
                         json_object_new_int64((int64_t)s->chunks));
  json_object_object_add(o, "sha256", json_object_new_string(hex));
  emu_resp_json(r, 200, o);
}

static void sink_cleanup(void *ctx) {
  sink_ctx *s = ctx;
  EVP_MD_CTX_free(s->md);
  free(s);
}

static void h_sink(emu_req *r) {
  sink_ctx *s = calloc(1, sizeof *s);
  if (s == NULL || (s->md = EVP_MD_CTX_new()) == NULL ||
      EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
    if (s)
      EVP_MD_CTX_free(s->md);
    free(s);
    emu_graph_error(r, 500, "InternalServerError", "Out of memory.");
    return;
  }
  const char *fa = emu_req_query(r, "failAfter");
  s->fail_after = fa ? strtoull(fa, NULL, 10) : 0;
  emu_body_sink sk = {sink_data, sink_end, sink_cleanup, s};
  emu_req_sink_body(r, &sk);
}

/* GET /__emulator/debug/source?bytes=N[&chunked=1]: N bytes of a fixed
 * pattern (byte i = i % 251), streamed. */
static ssize_t source_read(void *ctx, uint64_t pos, char *buf, size_t max) {
  uint64_t total = *(uint64_t *)ctx;
  if (pos >= total)
    return 0;
  if (max > total - pos)
    max = (size_t)(total - pos);
  for (size_t i = 0; i < max; i++)
    buf[i] = (char)((pos + i) % 251);
  return (ssize_t)max;
}

static void h_source(emu_req *r) {
  const char *b = emu_req_query(r, "bytes");
  char *end;
  unsigned long long n = b ? strtoull(b, &end, 10) : 0;
  if (b == NULL || *end || n > (1ull << 34)) {
    emu_graph_error(r, 400, "BadRequest", "bytes=N (<= 16 GiB) is required.");
    return;
  }
  uint64_t *ctx = malloc(sizeof *ctx);
  if (ctx == NULL) {
    emu_graph_error(r, 500, "InternalServerError", "Out of memory.");
    return;
  }
  *ctx = n;
  const char *chunked = emu_req_query(r, "chunked");
  emu_resp_stream(r, 200, "application/octet-stream",
                  chunked && strcmp(chunked, "1") == 0 ? -1 : (int64_t)n,
                  source_read, ctx, free);
}

/* GET /__emulator/debug/throttled?app=A&mailbox=M[&holdMs=N]: takes a
 * throttling slot like a Graph call for (A, M) and holds it for N ms
 * (outside the global lock) before answering 200. */
static void h_throttled(emu_req *r) {
  const char *app = emu_req_query(r, "app");
  const char *mb = emu_req_query(r, "mailbox");
  const char *hold = emu_req_query(r, "holdMs");
  if (app == NULL || mb == NULL) {
    emu_graph_error(r, 400, "BadRequest", "app and mailbox are required.");
    return;
  }
  if (emu_throttle_enter(r, app, mb) != 0)
    return;
  int ms = hold ? atoi(hold) : 0;
  if (ms > 0 && ms <= 60000 && ms > r->fault.delay_ms)
    r->fault.delay_ms = ms; /* slept in server.c, lock released */
  json_object *o = json_object_new_object();
  json_object_object_add(o, "ok", json_object_new_boolean(1));
  emu_resp_json(r, 200, o);
}

/* POST /__emulator/debug/subrequest {"method","url","headers"?,"body"?}:
 * runs one request through emu_subrequest() (the $batch machinery) and
 * answers its {"status","headers","body"}. */
static void h_subrequest(emu_req *r) {
  json_object *b = emu_req_json(r), *m, *u, *h = NULL, *body = NULL;
  if (b == NULL || !json_object_object_get_ex(b, "method", &m) ||
      !json_object_object_get_ex(b, "url", &u) ||
      !json_object_is_type(m, json_type_string) ||
      !json_object_is_type(u, json_type_string) ||
      json_object_get_string(u)[0] != '/') {
    emu_graph_error(r, 400, "BadRequest",
                    "Body must be {\"method\",\"url\"} with url a path.");
    return;
  }
  json_object_object_get_ex(b, "headers", &h);
  json_object_object_get_ex(b, "body", &body);
  const char *bs =
      body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN)
           : NULL;
  json_object *out =
      emu_subrequest(r, json_object_get_string(m), json_object_get_string(u), h,
                     bs, bs ? strlen(bs) : 0);
  if (out == NULL) {
    emu_graph_error(r, 500, "InternalServerError", "Out of memory.");
    return;
  }
  emu_resp_json(r, 200, out);
}

static int debug_init(void) {
  static const char *methods[] = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  static const char *echo[] = {"/__emulator/debug/echo",
                               "/__emulator/debug/echo/{a}",
                               "/__emulator/debug/echo/{a}/{b}"};
  for (size_t i = 0; i < 5; i++)
    for (size_t j = 0; j < 3; j++)
      if (emu_route_add(methods[i], echo[j], h_echo, 0) != 0)
        return -1;
  return emu_route_add("PUT", "/__emulator/debug/sink", h_sink,
                       EMU_ROUTE_STREAM) ||
                 emu_route_add("POST", "/__emulator/debug/sink", h_sink,
                               EMU_ROUTE_STREAM) ||
                 emu_route_add("GET", "/__emulator/debug/source", h_source,
                               0) ||
                 emu_route_add("GET", "/__emulator/debug/throttled",
                               h_throttled, 0) ||
                 emu_route_add("POST", "/__emulator/debug/subrequest",
                               h_subrequest, 0)
             ? -1
             : 0;
}

EMU_MODULE(core_debug, debug_init)
