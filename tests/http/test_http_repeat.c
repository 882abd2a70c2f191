/* test_http_repeat.c - a request that is not repeatable (POST, PATCH, any
 * method other than GET/HEAD/OPTIONS/TRACE/PUT/DELETE) is sent at most
 * once: when the server reads it on a kept-alive connection and then
 * closes that connection without an answer, the engine reports WFC_ENET
 * and the server has seen the request once. libcurl by itself sends it
 * again on a fresh connection ("Connection died, retrying a fresh
 * connect"), which would run a sendMail twice. Repeatable requests keep
 * that transparent retry, and every method keeps connection reuse.
 *
 * Each case first warms a connection with a GET, then sends the request on
 * it: the server's connection count shows the request really went over the
 * reused connection (else the case would prove nothing). */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include "http_test.h"

#define BODY_BYTES 100000u

static ssize_t pattern_read(void *ctx, uint64_t off, void *buf, size_t len) {
  (void)ctx;
  return (ssize_t)pattern_fill(BODY_BYTES, off, buf, len);
}

typedef struct repeat_case {
  const char *method;
  const char *body; /* in-memory body, or NULL */
  int stream;       /* body streamed through io->read (BODY_BYTES) */
  int repeatable;   /* libcurl may send it again on a fresh connection */
} repeat_case;

/* GET /warm on f's server, which must answer 200 on the engine's kept-alive
 * connection; returns the server's connection count afterwards. */
static uint64_t warm(fixture *f) {
  result r = {0};
  ts_stats st;
  wfc_http_req q = req_make("GET", fx_url(f, "/warm"));
  assert_int_equal(wfc__http_send(f->e, &q, NULL, on_result, &r, NULL), 0);
  run_until(f, &r.calls, 1);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.status, 200);
  result_free(&r);
  ts_server_stats(f->srv, &st);
  return st.connections;
}

/* Sends c to path and runs the loop until its callback; r gets it. */
static void send_case(fixture *f, const repeat_case *c, const char *path,
                      result *r) {
  wfc__http_io io = {.read = pattern_read};
  wfc_http_req q = req_make(c->method, fx_url(f, path));
  if (c->body) {
    q.body = c->body;
    q.body_len = strlen(c->body);
  }
  if (c->stream)
    q.body_length = BODY_BYTES;
  assert_int_equal(
      wfc__http_send(f->e, &q, c->stream ? &io : NULL, on_result, r, NULL), 0);
  run_until(f, &r->calls, 1);
}

static const repeat_case cases[] = {
    {"POST", "{\"message\":{\"subject\":\"once\"}}", 0, 0},
    {"POST", NULL, 0, 0}, /* a zero-length POST (.../send) is resent too */
    {"POST", NULL, 1, 0}, /* streamed: libcurl would rewind and resend */
    {"PATCH", "{\"isRead\":true}", 0, 0},
    {"LOCK", NULL, 0, 0}, /* any method RFC 9110 does not call idempotent */
    {"GET", NULL, 0, 1},
    {"PUT", "{\"v\":1}", 0, 1},
    {"PUT", NULL, 1, 1},
    {"DELETE", NULL, 0, 1},
};

/* Each case of cases[] whose repeatable is the one given: the server reads
 * the request on a warm connection and closes it without an answer, the
 * first time (a repeatable request then gets its answer on a fresh
 * connection) or every time (one that is not repeatable never would). */
static void dropped_once(int repeatable) {
  fixture f;
  ts_route ok = {.method = "GET", .path = "/warm", .body = "warm"};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &ok);
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const repeat_case *c = &cases[i];
    if (c->repeatable != repeatable)
      continue;
    char path[32];
    result r = {0};
    ts_stats st;
    snprintf(path, sizeof path, "/dropped%zu", i);
    ts_route dropped = {.method = c->method,
                        .path = path,
                        .drop = 1,
                        .drop_times = repeatable ? 1 : 0,
                        .body = repeatable ? "second time" : NULL};
    ts_server_route(f.srv, &dropped);
    uint64_t conns = warm(&f);
    send_case(&f, c, path, &r);
    ts_server_stats(f.srv, &st);
    fprintf(stderr, "%s %s: %d %s (arrived %llu times)\n", c->method,
            c->stream ? "streamed"
            : c->body ? "with body"
                      : "empty",
            r.error, r.msg,
            (unsigned long long)ts_server_route_hits(f.srv, c->method, path));
    if (repeatable) {
      assert_int_equal(r.error, 0);
      assert_int_equal(r.status, 200);
      assert_string_equal(r.body, "second time");
      assert_int_equal(ts_server_route_hits(f.srv, c->method, path), 2);
      assert_int_equal(st.connections, conns + 1);
    } else {
      assert_int_equal(ts_server_route_hits(f.srv, c->method, path), 1);
      /* It went over the warm connection, and nothing opened another. */
      assert_int_equal(st.connections, conns);
      assert_int_equal(r.error, WFC_ENET);
      assert_int_equal(r.status, 0);
      assert_non_null(strstr(r.msg, c->method));
      assert_non_null(strstr(r.msg, "not repeatable"));
    }
    result_free(&r);
  }
  fx_close(&f);
}

/* Read, then the connection closed without an answer: one arrival, a
 * network error naming the request and why it was not sent again. */
static void not_repeatable_sent_once(void **state) {
  (void)state;
  dropped_once(0);
}

/* The same fault once on a repeatable request: libcurl's silent retry on
 * a fresh connection is kept, so the caller gets the answer. */
static void repeatable_retried_on_fresh_connection(void **state) {
  (void)state;
  dropped_once(1);
}

/* The silent retry again and again on the engine's pooled easy handles:
 * libcurl counts a handle's retries across its transfers (up to 5, then
 * "Connection died, tried 5 times") until curl_easy_reset, so a handle
 * that retried is reset before its next request even when the engine
 * skips the reset for handles reused by requests of the same shape. */
static void repeatable_retried_every_time(void **state) {
  (void)state;
  fixture f;
  ts_route ok = {.method = "GET", .path = "/warm", .body = "warm"};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &ok);
  for (int i = 0; i < 8; i++) {
    char path[32];
    result r = {0};
    snprintf(path, sizeof path, "/dropped%d", i);
    ts_route dropped = {.method = "GET",
                        .path = path,
                        .drop = 1,
                        .drop_times = 1,
                        .body = "second time"};
    ts_server_route(f.srv, &dropped);
    (void)warm(&f);
    const repeat_case c = {"GET", NULL, 0, 1};
    send_case(&f, &c, path, &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "second time");
    assert_int_equal(ts_server_route_hits(f.srv, "GET", path), 2);
    result_free(&r);
  }
  fx_close(&f);
}

/* Not repeatable does not mean a new connection each time: GETs and POSTs
 * alternate on one kept-alive connection. */
static void post_keeps_connection_reuse(void **state) {
  (void)state;
  fixture f;
  ts_route echo = {.path = "/echo", .echo = 1};
  ts_stats st;
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &echo);
  for (int i = 0; i < 10; i++) {
    result r = {0};
    const repeat_case c = {i % 2 ? "POST" : "GET", i % 2 ? "x" : NULL, 0, 0};
    send_case(&f, &c, "/echo", &r);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    result_free(&r);
  }
  ts_server_stats(f.srv, &st);
  assert_int_equal(st.requests, 10);
  assert_int_equal(st.connections, 1);
  fx_close(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(not_repeatable_sent_once),
      cmocka_unit_test(repeatable_retried_on_fresh_connection),
      cmocka_unit_test(repeatable_retried_every_time),
      cmocka_unit_test(post_keeps_connection_reuse),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
