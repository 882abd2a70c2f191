/* test_redirect.c - the loopback redirect listener: wrong path 404, wrong
 * method 405, malformed 400, query decoding, only the expected state ends
 * it (anything else is a 400 page and ignored), idle and slow connections
 * cannot lock the browser out, one redirect only, the page after respond,
 * timeout, and the query and URL decoders' refusals. */
#define _DEFAULT_SOURCE /* usleep, <uv.h>, useconds_t */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cmocka.h>
#include <sys/socket.h>

#include "conn_util.h"
#include "redirect.h"
#include "wfc/error.h"

typedef struct got {
  int calls;
  int status;
  json_object *query;
  wfc__redirect *r;
  int respond; /* answer from the callback */
} got;

static void on_redirect(void *arg, int status, json_object *query) {
  got *g = arg;
  g->calls++;
  g->status = status;
  g->query = query ? json_object_get(query) : NULL;
  if (g->respond && status == 0)
    wfc__redirect_respond(g->r, 1, "Connected <ok>",
                          "You can close this window.");
}

/* A listener on its own loop, as each test starts it. */
typedef struct lfx {
  uv_loop_t loop;
  got g;
  wfc__redirect *r;
} lfx;

/* Starts f's listener on /callback; respond: the callback answers the
 * browser (else the page waits for the close). */
static void lfx_start(lfx *f, uint64_t timeout_ms, int respond) {
  memset(f, 0, sizeof *f);
  uv_loop_init(&f->loop);
  f->g.respond = respond;
  assert_int_equal(wfc__redirect_start(&f->loop, "/callback", timeout_ms,
                                       on_redirect, &f->g, &f->r),
                   0);
  f->g.r = f->r;
}

/* Closes the listener and drains its loop, which must then close. */
static void lfx_close(lfx *f) {
  wfc__redirect_close(f->r);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
}

static void run_until_browser(uv_loop_t *loop, browser *b) {
  /* The browser is another thread: spin the loop until it is done. */
  for (int i = 0; i < 20000 && b->status == 0; i++)
    uv_run(loop, UV_RUN_NOWAIT), usleep(1000);
  browser_join(b);
}

/* A TCP socket to r's port; connect()'s result in *rc. */
static int dial(wfc__redirect *r, int *rc) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)wfc__redirect_port(r))};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  *rc = connect(fd, (struct sockaddr *)&sa, sizeof sa);
  return fd;
}

/* Sends len bytes of req to r over a raw socket and runs loop until the
 * first answer bytes arrive (at most 5000 naps of nap_us); the answer,
 * NUL-terminated, in buf ("" when none came). */
static void exchange(uv_loop_t *loop, wfc__redirect *r, const char *req,
                     size_t len, char *buf, size_t size, useconds_t nap_us) {
  int rc;
  int fd = dial(r, &rc);
  assert_int_equal(rc, 0);
  assert_true(write(fd, req, len) > 0);
  ssize_t n = 0;
  buf[0] = '\0';
  for (int k = 0; k < 5000 && n <= 0; k++) {
    uv_run(loop, UV_RUN_NOWAIT);
    n = recv(fd, buf, size - 1, MSG_DONTWAIT);
    if (n <= 0)
      usleep(nap_us);
  }
  buf[n > 0 ? n : 0] = '\0';
  close(fd);
}

/* The browser's method request of the URL printf-style fmt makes, while
 * f's loop runs; its answer in b. */
static void get(lfx *f, const char *method, browser *b, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void get(lfx *f, const char *method, browser *b, const char *fmt, ...) {
  char url[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(url, sizeof url, fmt, ap);
  va_end(ap);
  memset(b, 0, sizeof *b);
  b->method = method;
  browser_start(b, url);
  run_until_browser(&f->loop, b);
}

/* A request too large for the listener's buffer: 431. */
static void expect_too_large(lfx *f) {
  char big[10000], buf[1024];
  memset(big, 'a', sizeof big);
  memcpy(big, "GET /callback?x=", 16);
  exchange(&f->loop, f->r, big, sizeof big, buf, sizeof buf, 1000);
  assert_true(strncmp(buf, "HTTP/1.1 431", 12) == 0);
}

static void paths_methods_and_query(void **state) {
  (void)state;
  lfx f;
  lfx_start(&f, 10000, 1);
  assert_int_equal(wfc__redirect_expect(f.r, "x y"), 0);
  const char *uri = wfc__redirect_uri(f.r);
  char base[128];
  snprintf(base, sizeof base, "http://127.0.0.1:%d", wfc__redirect_port(f.r));
  assert_true(strncmp(uri, base, strlen(base)) == 0);
  assert_string_equal(uri + strlen(base), "/callback");

  browser b;
  get(&f, "GET", &b, "%s/favicon.ico", base);
  assert_int_equal(b.status, 404);
  get(&f, "GET", &b, "%s/callbackx?code=1", base);
  assert_int_equal(b.status, 404);
  get(&f, "POST", &b, "%s?code=1", uri);
  assert_int_equal(b.status, 405);
  get(&f, "GET", &b, "%s?code=%%zz", uri);
  assert_int_equal(b.status, 400);
  get(&f, "GET", &b, "%s?code=1&code=2", uri);
  assert_int_equal(b.status, 400);
  assert_int_equal(f.g.calls, 0); /* none of these was the redirect */

  get(&f, "GET", &b,
      "%s?code=M.a%%2Bb%%2F%%3D&state=x+y&session_state=&"
      "error_description=AADSTS65001%%3A%%20consent",
      uri);
  assert_int_equal(b.status, 200);
  assert_non_null(strstr(b.body, "You can close this window."));
  assert_non_null(strstr(b.body, "Connected &lt;ok&gt;")); /* escaped */
  assert_int_equal(f.g.calls, 1);
  assert_int_equal(f.g.status, 0);
  json_object *v;
  assert_true(json_object_object_get_ex(f.g.query, "code", &v));
  assert_string_equal(json_object_get_string(v), "M.a+b/=");
  assert_true(json_object_object_get_ex(f.g.query, "state", &v));
  assert_string_equal(json_object_get_string(v), "x y");
  assert_true(json_object_object_get_ex(f.g.query, "session_state", &v));
  assert_string_equal(json_object_get_string(v), "");
  assert_true(json_object_object_get_ex(f.g.query, "error_description", &v));
  assert_string_equal(json_object_get_string(v), "AADSTS65001: consent");
  json_object_put(f.g.query);

  /* After the redirect the listener stops accepting. */
  uv_run(&f.loop, UV_RUN_NOWAIT);
  int rc;
  close(dial(f.r, &rc));
  assert_int_not_equal(rc, 0);
  lfx_close(&f);
  assert_int_equal(f.g.calls, 1);
}

/* GET target over a raw socket; asserts the ignored-request page: 400, in
 * plain words, nothing of the query echoed (secret, a piece of every
 * query below, must not appear). */
static void expect_ignored(uv_loop_t *loop, wfc__redirect *r,
                           const char *target, const char *secret) {
  char req[1024], buf[4096];
  snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
           target);
  exchange(loop, r, req, strlen(req), buf, sizeof buf, 1000);
  if (strncmp(buf, "HTTP/1.1 400 ", 13) != 0)
    fail_msg("%s: got %s", target, buf);
  assert_non_null(
      strstr(buf, "This page is not the answer to the sign-in wfc is waiting"));
  assert_null(strstr(buf, secret));
}

/* Only a redirect with the expected state ends the listener: before the
 * state is known, without a query, without a state, with another state
 * (also one differing in length only), an error without or with another
 * state: each a 400 page, ignored, counted; the right state with an error
 * ends it. */
static void only_the_expected_state_ends_it(void **state) {
  (void)state;
  lfx f;
  lfx_start(&f, 10000, 1);
  /* Before wfc__redirect_expect nothing can be the answer. */
  expect_ignored(&f.loop, f.r, "/callback?code=zq1&state=zq1", "zq1");
  assert_int_equal(wfc__redirect_expect(f.r, ""), WFC_EINVAL);
  assert_int_equal(wfc__redirect_expect(f.r, NULL), WFC_EINVAL);
  assert_int_equal(wfc__redirect_expect(f.r, "St-4Kq9"), 0);
  static const char *const bad[] = {
      "/callback",
      "/callback?",
      "/callback?code=zq1",
      "/callback?code=zq1&state=zq1",
      "/callback?state=St-4Kq",
      "/callback?state=St-4Kq9x&code=zq1",
      "/callback?state=st-4kq9&code=zq1",
      "/callback?state=&code=zq1",
      "/callback?error=access_denied&error_description=zq1",
      "/callback?error=access_denied&state=zq1",
  };
  size_t n = sizeof bad / sizeof bad[0];
  for (size_t i = 0; i < n; i++) {
    const char *secret = strstr(bad[i], "zq1") ? "zq1" : "St-4Kq";
    expect_ignored(&f.loop, f.r, bad[i], secret);
    assert_int_equal(f.g.calls, 0);
  }
  assert_int_equal(wfc__redirect_ignored(f.r), n + 1);
  /* A repeated state is a malformed query (400), not a match. */
  char buf[1024];
  const char *twice =
      "GET /callback?state=St-4Kq9&state=St-4Kq9 HTTP/1.1\r\n\r\n";
  exchange(&f.loop, f.r, twice, strlen(twice), buf, sizeof buf, 1000);
  assert_true(strncmp(buf, "HTTP/1.1 400", 12) == 0);
  assert_int_equal(f.g.calls, 0);

  /* The right state ends it, with an error as well as with a code. */
  browser b;
  get(&f, "GET", &b, "%s?error=access_denied&state=St-4Kq9",
      wfc__redirect_uri(f.r));
  assert_int_equal(b.status, 200);
  assert_int_equal(f.g.calls, 1);
  assert_int_equal(f.g.status, 0);
  json_object *v;
  assert_true(json_object_object_get_ex(f.g.query, "error", &v));
  assert_string_equal(json_object_get_string(v), "access_denied");
  json_object_put(f.g.query);
  lfx_close(&f);
}

/* More idle connections than client slots (some silent, some trickling a
 * request head a byte at a time): the browser that comes after them still
 * gets its answer; then a request too large for the buffer is 431 and the
 * listener keeps waiting. */
static void idle_slow_and_huge_clients_do_not_lock_out(void **state) {
  (void)state;
  lfx f;
  lfx_start(&f, 20000, 1);
  assert_int_equal(wfc__redirect_expect(f.r, "s-9"), 0);
  enum { IDLE = 40 };
  int fds[IDLE];
  for (int i = 0; i < IDLE; i++) {
    int rc;
    fds[i] = dial(f.r, &rc);
    assert_int_equal(rc, 0);
    if (i % 2)
      assert_int_equal(write(fds[i], "GET /ca", 7), 7); /* slow: a start */
    for (int k = 0; k < 5; k++)
      uv_run(&f.loop, UV_RUN_NOWAIT);
  }
  expect_too_large(&f);
  for (int i = 1; i < IDLE; i += 2) /* the slow ones go on */
    (void)!write(fds[i], "l", 1);
  browser b;
  get(&f, "GET", &b, "%s?code=c-1&state=s-9", wfc__redirect_uri(f.r));
  assert_int_equal(b.status, 200);
  assert_int_equal(f.g.calls, 1);
  json_object_put(f.g.query);
  for (int i = 0; i < IDLE; i++)
    close(fds[i]);
  lfx_close(&f);
}

/* The authorization URL's state, as the listener learns it. */
static void url_param(void **state) {
  (void)state;
  char *v = NULL;
  assert_int_equal(
      wfc__redirect_url_param("https://a/x?client_id=1&state=a%2Bb+c#state=z",
                              "state", &v),
      0);
  assert_string_equal(v, "a+b c");
  free(v);
  assert_int_equal(
      wfc__redirect_url_param("https://a/x?state=&b=1", "state", &v), 0);
  assert_string_equal(v, "");
  free(v);
  static const struct {
    const char *url;
    int rc;
  } bad[] = {{"https://a/x", WFC_ENOTFOUND},
             {"https://a/x?states=1&xstate=2", WFC_ENOTFOUND},
             {"https://a/x?b=1#state=1", WFC_ENOTFOUND},
             {"https://a/x?state=1&state=1", WFC_EINVAL},
             {"https://a/x?state=%zz", WFC_EINVAL},
             {"https://a/x?state=a%00b", WFC_EINVAL}};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    v = (char *)1;
    assert_int_equal(wfc__redirect_url_param(bad[i].url, "state", &v),
                     bad[i].rc);
    assert_null(v);
  }
}

static void raw_garbage_is_400(void **state) {
  (void)state;
  lfx f;
  lfx_start(&f, 10000, 0);
  const char *reqs[] = {"NONSENSE\r\n\r\n", "GET /callback\r\n\r\n",
                        "GET /callback HTTP/2.0x\r\n\r\n"};
  for (int i = 0; i < 3; i++) {
    char buf[1024];
    exchange(&f.loop, f.r, reqs[i], strlen(reqs[i]), buf, sizeof buf, 1000);
    assert_true(strncmp(buf, "HTTP/1.1 400", 12) == 0);
  }
  /* An oversized request is refused too. */
  expect_too_large(&f);
  assert_int_equal(f.g.calls, 0);
  lfx_close(&f);
}

static void times_out(void **state) {
  (void)state;
  lfx f;
  lfx_start(&f, 100, 0);
  uint64_t t0 = uv_hrtime();
  while (f.g.calls == 0 && uv_hrtime() - t0 < 5000000000ull)
    uv_run(&f.loop, UV_RUN_ONCE);
  assert_int_equal(f.g.calls, 1);
  assert_int_equal(f.g.status, WFC_ETIMEDOUT);
  assert_null(f.g.query);
  lfx_close(&f);
}

static void close_answers_waiting_browser(void **state) {
  (void)state;
  lfx f;
  lfx_start(&f, 10000, 0); /* no respond from the callback */
  browser b;
  memset(&b, 0, sizeof b);
  char url[256];
  assert_int_equal(wfc__redirect_expect(f.r, "s-1"), 0);
  snprintf(url, sizeof url, "%s?code=1&state=s-1", wfc__redirect_uri(f.r));
  browser_start(&b, url);
  while (f.g.calls == 0)
    uv_run(&f.loop, UV_RUN_ONCE);
  json_object_put(f.g.query);
  wfc__redirect_close(f.r);
  run_until_browser(&f.loop, &b);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  assert_int_equal(b.status, 200);
  assert_int_equal(uv_loop_close(&f.loop), 0);
  /* Bad arguments. */
  wfc__redirect *r;
  assert_int_equal(
      wfc__redirect_start(&f.loop, "callback", 0, on_redirect, &f.g, &r),
      WFC_EINVAL);
  assert_int_equal(
      wfc__redirect_start(&f.loop, "/a?b", 0, on_redirect, &f.g, &r),
      WFC_EINVAL);
}

static void query_decoder(void **state) {
  (void)state;
  json_object *q;
  const char *bad[] = {"a=%", "a=%4",    "a=%4g", "a=%00",
                       "=x",  "a=1&a=2", "%zz=1"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_int_equal(wfc__redirect_parse_query(bad[i], strlen(bad[i]), &q),
                     WFC_EINVAL);
    assert_null(q);
  }
  const char *ok = "a=1&&b&c=%41%62+&d==";
  assert_int_equal(wfc__redirect_parse_query(ok, strlen(ok), &q), 0);
  assert_int_equal(json_object_object_length(q), 4);
  json_object *v;
  json_object_object_get_ex(q, "b", &v);
  assert_string_equal(json_object_get_string(v), "");
  json_object_object_get_ex(q, "c", &v);
  assert_string_equal(json_object_get_string(v), "Ab ");
  json_object_object_get_ex(q, "d", &v);
  assert_string_equal(json_object_get_string(v), "=");
  json_object_put(q);
  assert_int_equal(wfc__redirect_parse_query("", 0, &q), 0);
  assert_int_equal(json_object_object_length(q), 0);
  json_object_put(q);
}

/* Deterministic xorshift, so a failure reproduces. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void) {
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}

/* Random bytes: the decoder either refuses, or gives non-empty keys and
 * values without NUL; random objects encoded by the rules come back equal. */
static void query_decoder_random(void **state) {
  (void)state;
  static const char alphabet[] = "ab=&%+0F9g\0\xff ";
  char buf[64];
  for (int i = 0; i < 200000; i++) {
    size_t len = next_rand() % sizeof buf;
    for (size_t k = 0; k < len; k++)
      buf[k] = (next_rand() & 3) ? alphabet[next_rand() % (sizeof alphabet - 1)]
                                 : (char)next_rand();
    json_object *q = NULL;
    int rc = wfc__redirect_parse_query(buf, len, &q);
    if (rc != 0) {
      assert_int_equal(rc, WFC_EINVAL);
      assert_null(q);
      continue;
    }
    json_object_object_foreach(q, k, v) {
      assert_true(k[0] != '\0');
      assert_int_equal(strlen(json_object_get_string(v)),
                       (size_t)json_object_get_string_len(v));
    }
    json_object_put(q);
  }
  for (int i = 0; i < 20000; i++) {
    /* Build {k0: v0, ...} with distinct keys, encode, decode, compare. */
    json_object *want = json_object_new_object();
    char enc[1024] = "";
    size_t el = 0;
    int n = (int)(next_rand() % 5);
    for (int j = 0; j < n; j++) {
      char key[16], val[16];
      snprintf(key, sizeof key, "k%d", j);
      size_t vl = next_rand() % (sizeof val - 1);
      for (size_t k = 0; k < vl; k++)
        val[k] = (char)(1 + next_rand() % 255);
      val[vl] = '\0';
      json_object_object_add(want, key, json_object_new_string(val));
      el += (size_t)snprintf(enc + el, sizeof enc - el, "%s%s=", j ? "&" : "",
                             key);
      for (size_t k = 0; k < vl; k++) {
        unsigned char ch = (unsigned char)val[k];
        if (ch == ' ')
          enc[el++] = '+';
        else if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9'))
          enc[el++] = (char)ch;
        else
          el += (size_t)snprintf(enc + el, sizeof enc - el, "%%%02X", ch);
      }
      enc[el] = '\0';
    }
    json_object *back = NULL;
    assert_int_equal(wfc__redirect_parse_query(enc, el, &back), 0);
    assert_true(json_object_equal(want, back));
    json_object_put(want);
    json_object_put(back);
  }
}

/* Random request heads over real sockets: always an HTTP answer, never the
 * callback (none of them is a valid GET of the redirect path). */
static void random_requests(void **state) {
  (void)state;
  lfx f;
  lfx_start(&f, 60000, 0);
  static const char *const pieces[] = {"GET", " ",      "/callback", "POST",
                                       "?",   "a=%",    "HTTP/1.1",  "\r\n",
                                       "x",   "/other", "\r\n\r\n",  "%00"};
  for (int i = 0; i < 200; i++) {
    char req[512] = "";
    int n = 1 + (int)(next_rand() % 8);
    for (int k = 0; k < n; k++)
      strncat(req, pieces[next_rand() % 12], sizeof req - strlen(req) - 1);
    strncat(req, "\r\n\r\n", sizeof req - strlen(req) - 1);
    char buf[256];
    exchange(&f.loop, f.r, req, strlen(req), buf, sizeof buf, 200);
    if (f.g.calls > 0) { /* a valid redirect by chance: answered, stop here */
      json_object_put(f.g.query);
      break;
    }
    assert_true(strncmp(buf, "HTTP/1.1 4", 10) == 0);
  }
  lfx_close(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(paths_methods_and_query),
      cmocka_unit_test(only_the_expected_state_ends_it),
      cmocka_unit_test(idle_slow_and_huge_clients_do_not_lock_out),
      cmocka_unit_test(url_param),
      cmocka_unit_test(raw_garbage_is_400),
      cmocka_unit_test(times_out),
      cmocka_unit_test(close_answers_waiting_browser),
      cmocka_unit_test(query_decoder),
      cmocka_unit_test(query_decoder_random),
      cmocka_unit_test(random_requests),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
