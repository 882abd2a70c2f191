/* http_test.h - helpers shared by the HTTP engine tests (tests/http/): a
 * loop + engine fixture, a callback that records what it got, and a clean
 * shutdown check (every test ends with uv_loop_close() == 0). */
#ifndef WFC_HTTP_TEST_H
#define WFC_HTTP_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <uv.h>

#include "http.h"
#include "ts_server.h"

typedef struct fixture {
  uv_loop_t loop;
  wfc__http_engine *e;
  ts_server *srv;
  int closed;
} fixture;

/* What one callback saw (copied, since res is borrowed). */
typedef struct result {
  int calls;
  int error;
  long status;
  char *body;
  size_t body_len;
  uint64_t sunk;
  char msg[512];
  char hdr[256]; /* value of the header named by want_hdr */
  const char *want_hdr;
} result;

static inline void on_result(void *arg, const wfc_http_res *res) {
  result *r = arg;
  const char *v;
  r->calls++;
  r->error = res->error;
  r->status = res->status;
  r->sunk = res->sunk;
  free(r->body);
  r->body = malloc(res->body_len + 1);
  memcpy(r->body, res->body, res->body_len + 1);
  r->body_len = res->body_len;
  snprintf(r->msg, sizeof r->msg, "%s",
           res->error_message ? res->error_message : "");
  if (r->want_hdr && (v = wfc__http_header(res, r->want_hdr)) != NULL)
    snprintf(r->hdr, sizeof r->hdr, "%s", v);
}

static inline void result_free(result *r) {
  free(r->body);
  r->body = NULL;
}

static inline void fx_open(fixture *f, const wfc__http_opts *opts) {
  memset(f, 0, sizeof *f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(wfc__http_engine_new(&f->loop, opts, &f->e), 0);
}

static inline void fx_server(fixture *f, const ts_server_opts *o) {
  assert_int_equal(ts_server_start(o, &f->srv), 0);
}

static inline void on_engine_closed(void *arg) {
  ((fixture *)arg)->closed++;
}

/* Runs the loop until *flag reaches want (or the loop has nothing left). */
static inline void run_until(fixture *f, const int *flag, int want) {
  while (*flag < want)
    if (uv_run(&f->loop, UV_RUN_ONCE) == 0 && *flag < want)
      break;
}

/* Closes the engine, checks done ran once and the loop closes cleanly. */
static inline void fx_close(fixture *f) {
  wfc__http_engine_close(f->e, on_engine_closed, f);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(f->closed, 1);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  if (f->srv)
    ts_server_stop(f->srv);
  f->srv = NULL;
}

static inline char *fx_url(fixture *f, const char *path) {
  static char url[256];
  snprintf(url, sizeof url, "%s%s", ts_server_url(f->srv), path);
  return url;
}

static inline wfc_http_req req_make(const char *method, const char *url) {
  wfc_http_req r;
  memset(&r, 0, sizeof r);
  r.size = sizeof r;
  r.method = method;
  r.url = url;
  return r;
}

/* Fills buf with bytes off.. of ts_pattern, stopping at end; returns the
 * count (0 at or past end). */
static inline size_t pattern_fill(uint64_t end, uint64_t off, void *buf,
                                  size_t len) {
  unsigned char *p = buf;
  if (off >= end)
    return 0;
  if (len > end - off)
    len = (size_t)(end - off);
  for (size_t i = 0; i < len; i++)
    p[i] = ts_pattern(off + i);
  return len;
}

/* hex = SHA-256 of the first n bytes of ts_pattern, computed the streaming
 * way (64 KiB at a time; n a multiple of it). */
static inline void pattern_sha256_hex(uint64_t n, char hex[65]) {
  unsigned char chunk[65536], md[32];
  unsigned mdlen;
  EVP_MD_CTX *sha = EVP_MD_CTX_new();
  EVP_DigestInit_ex(sha, EVP_sha256(), NULL);
  for (uint64_t off = 0; off < n; off += sizeof chunk) {
    for (size_t i = 0; i < sizeof chunk; i++)
      chunk[i] = ts_pattern(off + i);
    EVP_DigestUpdate(sha, chunk, sizeof chunk);
  }
  EVP_DigestFinal_ex(sha, md, &mdlen);
  EVP_MD_CTX_free(sha);
  for (int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static inline int global_setup(void **state) {
  return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

static inline int global_teardown(void **state) {
  curl_global_cleanup();
  return 0;
}

#endif
