/* test_http_stream.c - bodies of any size with flat memory: a large upload
 * read through io->read (checked by the server's SHA-256), a large download
 * written through io->write (checked byte by byte), non-2xx bodies kept in
 * memory even with a sink, and io failures. */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include "http_test.h"

#include <sys/resource.h>

#define UP_BYTES      ((uint64_t)64 << 20)
#define DOWN_BYTES    ((uint64_t)128 << 20)
#define FLAT_LIMIT_KB (24 * 1024) /* growth of the peak RSS allowed */

static long peak_rss_kb(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

typedef struct src {
  uint64_t size;
  uint64_t served;
  int fail_at;  /* > 0: fail once off >= fail_at */
  int short_by; /* > 0: pretend the source ends this many bytes early */
} src;

static ssize_t src_read(void *ctx, uint64_t off, void *buf, size_t len) {
  src *s = ctx;
  size_t n;
  if (s->fail_at && off >= (uint64_t)s->fail_at)
    return -1;
  n = pattern_fill(s->size - (uint64_t)s->short_by, off, buf, len);
  s->served += n;
  return (ssize_t)n;
}

static void upload_stream(void **state) {
  fixture f;
  result r = {0};
  src s = {.size = UP_BYTES};
  wfc__http_io io = {.read = src_read, .ctx = &s};
  ts_route rt = {.path = "/up", .echo = 1};
  char hex[65];
  const char *hs[] = {"Content-Type: application/octet-stream", NULL};

  /* The expected digest, computed the same streaming way. */
  pattern_sha256_hex(UP_BYTES, hex);

  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  long before = peak_rss_kb();
  wfc_http_req q = req_make("PUT", fx_url(&f, "/up"));
  q.headers = hs;
  q.body_length = UP_BYTES;
  assert_int_equal(wfc__http_send(f.e, &q, &io, on_result, &r, NULL), 0);
  run_until(&f, &r.calls, 1);
  long growth = peak_rss_kb() - before;
  assert_int_equal(r.error, 0);
  assert_int_equal(r.status, 200);
  json_object *o = json_tokener_parse(r.body), *v, *hsv;
  assert_non_null(o);
  assert_true(json_object_object_get_ex(o, "body_length", &v));
  assert_int_equal(json_object_get_int64(v), (int64_t)UP_BYTES);
  assert_true(json_object_object_get_ex(o, "body_sha256", &v));
  assert_string_equal(json_object_get_string(v), hex);
  assert_true(json_object_object_get_ex(o, "method", &v));
  assert_string_equal(json_object_get_string(v), "PUT");
  assert_true(json_object_object_get_ex(o, "headers", &hsv));
  assert_true(json_object_object_get_ex(hsv, "content-length", &v));
  assert_int_equal(strtoull(json_object_get_string(v), NULL, 10), UP_BYTES);
  json_object_put(o);
  print_message("upload %llu MiB: peak RSS grew %ld KiB\n",
                (unsigned long long)(UP_BYTES >> 20), growth);
  assert_true(growth < FLAT_LIMIT_KB);
  fx_close(&f);
  result_free(&r);
}

typedef struct sink {
  uint64_t got;
  uint64_t bad; /* bytes that differ from ts_pattern */
  int calls;
  int fail;
} sink;

static int sink_write(void *ctx, const void *buf, size_t len) {
  sink *s = ctx;
  const unsigned char *p = buf;
  s->calls++;
  if (s->fail)
    return -1;
  for (size_t i = 0; i < len; i++)
    if (p[i] != ts_pattern(s->got + i))
      s->bad++;
  s->got += len;
  return 0;
}

static void download_stream(void **state) {
  fixture f;
  result r = {0};
  sink s = {0};
  wfc__http_io io = {.write = sink_write, .ctx = &s};
  ts_route rt = {.path = "/big", .stream_bytes = DOWN_BYTES};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  long before = peak_rss_kb();
  wfc_http_req q = req_make("GET", fx_url(&f, "/big"));
  q.max_body = 1024; /* the cap is for memory only: a sink is not capped */
  assert_int_equal(wfc__http_send(f.e, &q, &io, on_result, &r, NULL), 0);
  run_until(&f, &r.calls, 1);
  long growth = peak_rss_kb() - before;
  assert_int_equal(r.error, 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.sunk, DOWN_BYTES);
  assert_int_equal(s.got, DOWN_BYTES);
  assert_int_equal(s.bad, 0);
  assert_int_equal(r.body_len, 0);
  assert_string_equal(r.body, "");
  print_message("download %llu MiB: peak RSS grew %ld KiB\n",
                (unsigned long long)(DOWN_BYTES >> 20), growth);
  assert_true(growth < FLAT_LIMIT_KB);
  fx_close(&f);
  result_free(&r);
}

static void error_body_not_sunk(void **state) {
  fixture f;
  result r = {0};
  sink s = {0};
  wfc__http_io io = {.write = sink_write, .ctx = &s};
  ts_route rt = {.path = "/err", .status = 503, .body = "{\"error\":\"busy\"}"};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  wfc_http_req q = req_make("GET", fx_url(&f, "/err"));
  assert_int_equal(wfc__http_send(f.e, &q, &io, on_result, &r, NULL), 0);
  run_until(&f, &r.calls, 1);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.status, 503);
  assert_int_equal(s.calls, 0);
  assert_int_equal(r.sunk, 0);
  assert_string_equal(r.body, "{\"error\":\"busy\"}");
  fx_close(&f);
  result_free(&r);
}

static void io_failures(void **state) {
  fixture f;
  result r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};
  src bad = {.size = 1 << 20, .fail_at = 256 * 1024};
  src shortsrc = {.size = 1 << 20, .short_by = 1000};
  sink failing = {.fail = 1};
  wfc__http_io io1 = {.read = src_read, .ctx = &bad};
  wfc__http_io io2 = {.read = src_read, .ctx = &shortsrc};
  wfc__http_io io3 = {.write = sink_write, .ctx = &failing};
  ts_route up = {.path = "/up", .echo = 1};
  ts_route big = {.path = "/big", .stream_bytes = 1 << 20};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &up);
  ts_server_route(f.srv, &big);

  wfc_http_req q = req_make("POST", fx_url(&f, "/up"));
  q.body_length = 1 << 20;
  assert_int_equal(wfc__http_send(f.e, &q, &io1, on_result, &r1, NULL), 0);
  assert_int_equal(wfc__http_send(f.e, &q, &io2, on_result, &r2, NULL), 0);
  wfc_http_req qd = req_make("GET", fx_url(&f, "/big"));
  assert_int_equal(wfc__http_send(f.e, &qd, &io3, on_result, &r3, NULL), 0);
  /* An in-memory body and a streamed one at once is refused. */
  q.body = "x";
  q.body_len = 1;
  assert_int_equal(wfc__http_send(f.e, &q, &io1, on_result, &r4, NULL),
                   WFC_EINVAL);
  run_until(&f, &r1.calls, 1);
  run_until(&f, &r2.calls, 1);
  run_until(&f, &r3.calls, 1);
  assert_int_equal(r1.error, WFC_EIO);
  assert_non_null(strstr(r1.msg, "request body source failed"));
  assert_int_equal(r2.error, WFC_EIO);
  assert_non_null(strstr(r2.msg, "ended early"));
  assert_int_equal(r3.error, WFC_EIO);
  assert_non_null(strstr(r3.msg, "sink failed"));
  assert_int_equal(failing.calls, 1);
  fx_close(&f);
  assert_int_equal(r4.calls, 0);
  result_free(&r1);
  result_free(&r2);
  result_free(&r3);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(upload_stream),
      cmocka_unit_test(download_stream),
      cmocka_unit_test(error_body_not_sunk),
      cmocka_unit_test(io_failures),
  };
  return cmocka_run_group_tests(tests, global_setup, global_teardown);
}
