/* Emulator core: request bodies - the 4 MB cap (413) on buffered routes,
 * 150 MB streamed uploads through a body sink and 150 MB streamed downloads,
 * both with flat memory in the emulator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "core_test.h"

#define BIG (150ull * 1024 * 1024)
/* Peak RSS growth allowed for moving BIG bytes: a few buffers, not the
 * body. */
#define FLAT_KIB (24 * 1024)

/* A generated body: byte i = (i * 7 + i / 4096) & 0xff, hashed as sent. */
typedef struct gen {
  uint64_t pos, total;
  EVP_MD_CTX *md;
} gen;

static size_t gen_read(char *buf, size_t max, void *ctx) {
  gen *g = ctx;
  size_t n = g->total - g->pos < max ? (size_t)(g->total - g->pos) : max;
  for (size_t i = 0; i < n; i++) {
    uint64_t k = g->pos + i;
    buf[i] = (char)((k * 7 + k / 4096) & 0xff);
  }
  EVP_DigestUpdate(g->md, buf, n);
  g->pos += n;
  return n;
}

static void hex_digest(EVP_MD_CTX *md, char out[65]) {
  unsigned char d[32];
  unsigned int dl;
  EVP_DigestFinal_ex(md, d, &dl);
  for (int i = 0; i < 32; i++)
    snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* Runs q with a generated body of size bytes as its upload (q's read
 * callback is set here); returns tclient_do's result. *sent (may be NULL)
 * gets how many bytes the client read, hex (may be NULL) their SHA-256. */
static int send_gen(fx *f, treq *q, uint64_t size, tresp *r, uint64_t *sent,
                    char hex[65]) {
  gen g = {0, size, EVP_MD_CTX_new()};
  EVP_DigestInit_ex(g.md, EVP_sha256(), NULL);
  q->read = gen_read;
  q->read_ctx = &g;
  int rc = tclient_do(f->c, q, r);
  q->read_ctx = NULL;
  if (sent != NULL)
    *sent = g.pos;
  if (hex != NULL)
    hex_digest(g.md, hex);
  EVP_MD_CTX_free(g.md);
  return rc;
}

static void upload(fx *f, uint64_t size, int chunked) {
  static const char *const hdr[] = {"Content-Type: application/octet-stream",
                                    NULL};
  treq q = {.method = "PUT",
            .url = u(f, "/__emulator/debug/sink"),
            .headers = hdr,
            .upload_size = chunked ? -1 : (int64_t)size,
            .timeout_ms = 120000};
  tresp r;
  char hex[65];
  assert_int_equal(send_gen(f, &q, size, &r, NULL, hex), 0);
  assert_int_equal(r.status, 200);
  json_object *o = tresp_json(&r);
  assert_int_equal(json_object_get_int64(tjson_get(o, "bytes")), (int64_t)size);
  assert_string_equal(tjson_str(o, "sha256"), hex);
  /* It did arrive in pieces. */
  assert_true(json_object_get_int64(tjson_get(o, "chunks")) > 1);
  json_object_put(o);
  tresp_free(&r);
}

static void test_streamed_upload_150mb_flat(void **state) {
  fx *f = *state;
  long before = emu_proc_rss_kib(f->emu, 1);
  assert_true(before > 0);
  upload(f, BIG, 0);
  long after = emu_proc_rss_kib(f->emu, 1);
  assert_true(after - before < FLAT_KIB);
  upload(f, 10ull * 1024 * 1024, 1); /* chunked */
  assert_true(emu_proc_rss_kib(f->emu, 1) - before < FLAT_KIB);
}

typedef struct check {
  uint64_t pos;
  int bad;
} check;

static size_t check_write(const char *buf, size_t len, void *ctx) {
  check *c = ctx;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)buf[i] != (c->pos + i) % 251)
      c->bad = 1;
  c->pos += len;
  return len;
}

static void test_streamed_download_150mb_flat(void **state) {
  fx *f = *state;
  long before = emu_proc_rss_kib(f->emu, 1);
  char path[128];
  for (int chunked = 0; chunked < 2; chunked++) {
    snprintf(path, sizeof path, "/__emulator/debug/source?bytes=%llu%s",
             (unsigned long long)BIG, chunked ? "&chunked=1" : "");
    check c = {0, 0};
    treq q = {0};
    q.url = u(f, path);
    q.write = check_write;
    q.write_ctx = &c;
    q.timeout_ms = 120000;
    tresp r;
    assert_int_equal(tclient_do(f->c, &q, &r), 0);
    assert_int_equal(r.status, 200);
    if (chunked)
      assert_null(tresp_header(&r, "Content-Length"));
    else
      assert_string_equal(tresp_header(&r, "Content-Length"), "157286400");
    assert_int_equal(c.pos, BIG);
    assert_false(c.bad);
    tresp_free(&r);
  }
  assert_true(emu_proc_rss_kib(f->emu, 1) - before < FLAT_KIB);
}

static void test_body_cap_413(void **state) {
  fx *f = *state;
  size_t n = 5u * 1024 * 1024;
  char *body = malloc(n + 1);
  memset(body, 'a', n);
  body[n] = '\0';
  tresp r;
  /* With Content-Length: refused before the body is read. */
  tclient_request(f->c, "POST", u(f, "/__emulator/debug/echo"), NULL, body, &r);
  assert_int_equal(r.status, 413);
  tresp_free(&r);
  free(body);

  /* Chunked, no length announced: read up to the cap, then refused. */
  treq q = {.method = "POST",
            .url = u(f, "/__emulator/debug/echo"),
            .upload_size = -1};
  send_gen(f, &q, n, &r, NULL, NULL);
  assert_int_equal(r.status, 413);
  tresp_free(&r);

  /* Exactly at the cap is fine. */
  body = malloc(4u * 1024 * 1024 + 1);
  memset(body, 'b', 4u * 1024 * 1024);
  body[4u * 1024 * 1024] = '\0';
  tclient_request(f->c, "POST", u(f, "/__emulator/debug/echo"), NULL, body, &r);
  assert_int_equal(r.status, 200);
  json_object *o = tresp_json(&r);
  assert_int_equal(json_object_get_int64(tjson_get(o, "bodyLength")),
                   4 * 1024 * 1024);
  json_object_put(o);
  tresp_free(&r);
  free(body);
}

static void test_sink_can_refuse_midway(void **state) {
  fx *f = *state;
  const uint64_t size = 8u * 1024 * 1024;
  treq q = {.method = "PUT",
            .url = u(f, "/__emulator/debug/sink?failAfter=1000000"),
            .upload_size = (int64_t)size};
  tresp r;
  send_gen(f, &q, size, &r, NULL, NULL);
  assert_int_equal(r.status, 413);
  json_object *o = tresp_json(&r);
  assert_string_equal(tjson_str(o, "error.code"), "RequestEntityTooLarge");
  json_object_put(o);
  tresp_free(&r);
  /* The rest of the body was drained: the connection serves the next
   * request. */
  tclient_request(f->c, "GET", u(f, "/__emulator/health"), NULL, NULL, &r);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.new_connections, 0);
  tresp_free(&r);
}

/* Refused before the body (here by a fault): a large upload is answered at
 * once and the client never sends it (Expect: 100-continue). */
static void test_early_answer_skips_upload(void **state) {
  fx *f = *state;
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  tresp r;
  tclient_request(f->c, "POST", u(f, "/__emulator/faults"), hdr,
                  "{\"path\":\"/__emulator/debug/sink\",\"status\":503,"
                  "\"retryAfter\":2}",
                  &r);
  assert_int_equal(r.status, 201);
  tresp_free(&r);
  treq q = {.method = "PUT",
            .url = u(f, "/__emulator/debug/sink"),
            .upload_size = (int64_t)BIG,
            .timeout_ms = 60000};
  uint64_t sent = 0;
  send_gen(f, &q, BIG, &r, &sent, NULL);
  assert_int_equal(r.status, 503);
  assert_string_equal(tresp_header(&r, "Retry-After"), "2");
  assert_true(sent < 1024 * 1024);
  tresp_free(&r);
  /* The same client goes on (on a new connection). */
  tclient_request(f->c, "GET", u(f, "/__emulator/health"), NULL, NULL, &r);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_streamed_upload_150mb_flat),
      cmocka_unit_test(test_streamed_download_150mb_flat),
      cmocka_unit_test(test_body_cap_413),
      cmocka_unit_test(test_sink_can_refuse_midway),
      cmocka_unit_test(test_early_answer_skips_upload),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
