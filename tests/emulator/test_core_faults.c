/* Emulator core: fault injection - status (+Retry-After, code, no side
 * effect), delay, reset (before/after the handler), truncated and malformed
 * bodies, count/skip/method/glob matching, removal; random rules
 * (probability, seed, burst) reproducible from their seed. */
#define _DEFAULT_SOURCE /* usleep, clock_gettime, CLOCK_MONOTONIC */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "core_test.h"

static void add_fault(fx *f, const char *json) {
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  tresp r;
  tclient_request(f->c, "POST", u(f, "/__emulator/faults"), hdr, json, &r);
  assert_int_equal(r.status, 201);
  tresp_free(&r);
}

/* GET path with a fresh client each time (a reset kills the connection). */
static int get(fx *f, const char *path, tresp *r) {
  return tclient_request(f->c, "GET", u(f, path), NULL, NULL, r);
}

/* How many requests of app/mailbox the throttling layer has seen: the
 * debug/throttled handler's only side effect. */
static int window_count(fx *f, const char *app) {
  tresp r;
  get(f, "/__emulator/throttle", &r);
  json_object *o = tresp_json(&r);
  json_object *b = tjson_get(o, "buckets");
  int n = 0;
  for (size_t i = 0; b && i < json_object_array_length(b); i++) {
    json_object *e = json_object_array_get_idx(b, i);
    if (strcmp(tjson_str(e, "app"), app) == 0)
      n = json_object_get_int(tjson_get(e, "windowCount"));
  }
  json_object_put(o);
  tresp_free(&r);
  return n;
}

static void test_status_fault(void **state) {
  fx *f = *state;
  add_fault(f, "{\"method\":\"GET\",\"path\":\"/__emulator/debug/throttled\","
               "\"status\":429,\"retryAfter\":7,\"count\":2}");
  tresp r;
  for (int i = 0; i < 2; i++) {
    get(f, "/__emulator/debug/throttled?app=a1&mailbox=m", &r);
    assert_int_equal(r.status, 429);
    assert_string_equal(tresp_header(&r, "Retry-After"), "7");
    json_object *o = tresp_json(&r);
    /* Outlook's throttling, in its words. */
    assert_string_equal(tjson_str(o, "error.code"), "ApplicationThrottled");
    assert_string_equal(tjson_str(o, "error.message"),
                        "Application is over its MailboxConcurrency limit.");
    assert_string_equal(tjson_str(o, "error.innerError.request-id"),
                        tresp_header(&r, "request-id"));
    json_object_put(o);
    tresp_free(&r);
  }
  /* The handler did not run: nothing was counted. */
  assert_int_equal(window_count(f, "a1"), 0);
  /* Count exhausted: the third goes through. */
  get(f, "/__emulator/debug/throttled?app=a1&mailbox=m", &r);
  assert_int_equal(r.status, 200);
  assert_null(tresp_header(&r, "Retry-After"));
  tresp_free(&r);
  assert_int_equal(window_count(f, "a1"), 1);

  /* A custom code; identity paths get the identity shape. */
  add_fault(f, "{\"path\":\"/__emulator/debug/echo\",\"status\":503,"
               "\"code\":\"ServiceBusy\"}");
  get(f, "/__emulator/debug/echo", &r);
  assert_int_equal(r.status, 503);
  json_object *o = tresp_json(&r);
  assert_string_equal(tjson_str(o, "error.code"), "ServiceBusy");
  json_object_put(o);
  tresp_free(&r);
  add_fault(f, "{\"path\":\"/common/oauth2/\",\"status\":503}");
  tclient_request(f->c, "POST", u(f, "/common/oauth2/v2.0/token"), NULL,
                  "grant_type=x", &r);
  assert_int_equal(r.status, 503);
  o = tresp_json(&r);
  assert_string_equal(tjson_str(o, "error"), "temporarily_unavailable");
  assert_non_null(strstr(tjson_str(o, "error_description"), "AADSTS"));
  assert_non_null(tjson_get(o, "error_codes"));
  json_object_put(o);
  tresp_free(&r);

  /* Retry-After as an HTTP-date, sent as given; a malformed one refused. */
  add_fault(f, "{\"path\":\"/common/oauth2/\",\"status\":429,"
               "\"retryAfter\":\"Sun, 06 Nov 1994 08:49:37 GMT\"}");
  tclient_request(f->c, "POST", u(f, "/common/oauth2/v2.0/token"), NULL,
                  "grant_type=x", &r);
  assert_int_equal(r.status, 429);
  assert_string_equal(tresp_header(&r, "Retry-After"),
                      "Sun, 06 Nov 1994 08:49:37 GMT");
  tresp_free(&r);
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  tclient_request(f->c, "POST", u(f, "/__emulator/faults"), hdr,
                  "{\"path\":\"/x\",\"status\":429,\"retryAfter\":"
                  "\"tomorrow\"}",
                  &r);
  assert_int_equal(r.status, 400);
  tresp_free(&r);
}

static void test_delay_fault(void **state) {
  fx *f = *state;
  add_fault(f, "{\"path\":\"/__emulator/debug/echo\",\"action\":\"delay\","
               "\"delayMs\":400}");
  struct timespec a, b;
  tresp r;
  clock_gettime(CLOCK_MONOTONIC, &a);
  get(f, "/__emulator/debug/echo", &r);
  clock_gettime(CLOCK_MONOTONIC, &b);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
  long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
  assert_true(ms >= 380);
  /* The delay held no lock: another client was served meanwhile (checked
   * by the throttle test's concurrent holds); and the next one is fast. */
  clock_gettime(CLOCK_MONOTONIC, &a);
  get(f, "/__emulator/debug/echo", &r);
  clock_gettime(CLOCK_MONOTONIC, &b);
  tresp_free(&r);
  ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
  assert_true(ms < 300);
}

static void test_reset_fault(void **state) {
  fx *f = *state;
  tresp r;
  add_fault(f, "{\"path\":\"/__emulator/debug/throttled\","
               "\"action\":\"reset\",\"count\":2}");
  int rc = get(f, "/__emulator/debug/throttled?app=a2&mailbox=m", &r);
  assert_int_not_equal(rc, 0); /* no response at all */
  assert_int_equal(r.status, 0);
  tresp_free(&r);
  assert_int_equal(window_count(f, "a2"), 0); /* handler did not run */

  /* After the handler: the work is done, the answer lost. A fresh client:
   * curl silently retries a request once when a *reused* connection closes
   * without an answer, which would run the handler twice. */
  add_fault(f, "{\"path\":\"/__emulator/debug/throttled\","
               "\"action\":\"reset\",\"afterHandler\":true}");
  tclient *fresh = tclient_new(0);
  rc = tclient_request(fresh, "GET",
                       u(f, "/__emulator/debug/throttled?app=a3&mailbox=m"),
                       NULL, NULL, &r);
  tclient_free(fresh);
  assert_int_not_equal(rc, 0);
  tresp_free(&r);
  assert_int_equal(window_count(f, "a3"), 1);

  /* On a reused connection curl's retry meets the second armed reset and
   * the handler has run twice: what a client must be ready for. */
  add_fault(f, "{\"path\":\"/__emulator/debug/throttled\","
               "\"action\":\"reset\",\"afterHandler\":true,\"count\":2}");
  rc = get(f, "/__emulator/debug/throttled?app=a4&mailbox=m", &r);
  assert_int_not_equal(rc, 0);
  tresp_free(&r);
  assert_int_equal(window_count(f, "a4"), 2);
  /* The client recovers on a new connection. */
  get(f, "/__emulator/health", &r);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
}

static void test_truncate_and_malformed(void **state) {
  fx *f = *state;
  tresp r;
  add_fault(f, "{\"path\":\"/__emulator/debug/echo\",\"action\":"
               "\"truncate\"}");
  int rc = get(f, "/__emulator/debug/echo/abc", &r);
  assert_int_equal(rc, 18); /* CURLE_PARTIAL_FILE */
  assert_int_equal(r.status, 200);
  assert_true(r.len > 0);
  tresp_free(&r);

  /* Untouched, for the length of the real body. */
  get(f, "/__emulator/debug/echo/abc", &r);
  size_t full = r.len;
  json_object *whole = tresp_json(&r);
  assert_non_null(whole);
  json_object_put(whole);
  tresp_free(&r);

  add_fault(f, "{\"path\":\"/__emulator/debug/echo\",\"action\":"
               "\"malformed\"}");
  rc = get(f, "/__emulator/debug/echo/abc", &r);
  assert_int_equal(rc, 0); /* well framed */
  assert_int_equal(r.status, 200);
  assert_int_equal(r.len, full / 2);
  assert_null(tresp_json(&r)); /* but not JSON */
  tresp_free(&r);

  /* Streamed bodies are cut too. */
  add_fault(f, "{\"path\":\"/__emulator/debug/source\",\"action\":"
               "\"truncate\"}");
  rc = get(f, "/__emulator/debug/source?bytes=1000000", &r);
  assert_int_equal(rc, 18);
  assert_true(r.len < 1000000);
  tresp_free(&r);
}

static void test_matching_rules(void **state) {
  fx *f = *state;
  tresp r;
  /* skip 2, then 1 hit, only for POST, glob path. */
  add_fault(f, "{\"method\":\"POST\",\"path\":\"/__emulator/debug/echo/*/z\","
               "\"status\":500,\"skip\":2}");
  static const int expect[] = {200, 200, 500, 200};
  for (int i = 0; i < 4; i++) {
    tclient_request(f->c, "GET", u(f, "/__emulator/debug/echo/q/z"), NULL, NULL,
                    &r);
    assert_int_equal(r.status, 200); /* GET never matches */
    tresp_free(&r);
    tclient_request(f->c, "POST", u(f, "/__emulator/debug/echo/q/y"), NULL, "",
                    &r);
    assert_int_equal(r.status, 200); /* glob does not match */
    tresp_free(&r);
    tclient_request(f->c, "POST", u(f, "/__emulator/debug/echo/q/z"), NULL, "",
                    &r);
    assert_int_equal(r.status, expect[i]);
    tresp_free(&r);
  }

  /* Admin API is never faulted. */
  add_fault(f, "{\"path\":\"/\",\"status\":503,\"count\":100}");
  get(f, "/__emulator/faults", &r);
  assert_int_equal(r.status, 200);
  json_object *o = tresp_json(&r);
  json_object *v = tjson_get(o, "value");
  assert_int_equal(json_object_array_length(v), 1);
  const char *id = tjson_str(json_object_array_get_idx(v, 0), "id");
  assert_int_equal(json_object_get_int(
                       tjson_get(json_object_array_get_idx(v, 0), "remaining")),
                   100);
  char path[128];
  snprintf(path, sizeof path, "/__emulator/faults/%s", id);
  json_object_put(o);
  tresp_free(&r);
  get(f, "/__emulator/debug/echo", &r);
  assert_int_equal(r.status, 503);
  tresp_free(&r);
  tclient_request(f->c, "DELETE", u(f, path), NULL, NULL, &r);
  assert_int_equal(r.status, 204);
  tresp_free(&r);
  get(f, "/__emulator/debug/echo", &r);
  assert_int_equal(r.status, 200);
  tresp_free(&r);

  /* DELETE all. */
  add_fault(f, "{\"path\":\"/\",\"status\":503,\"count\":100}");
  tclient_request(f->c, "DELETE", u(f, "/__emulator/faults"), NULL, NULL, &r);
  assert_int_equal(r.status, 204);
  tresp_free(&r);
  get(f, "/__emulator/debug/echo", &r);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
}

static void test_bad_fault_requests(void **state) {
  fx *f = *state;
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  static const char *bad[] = {
      "{\"status\":503}",                            /* no path */
      "{\"path\":\"v1.0\",\"status\":503}",          /* not absolute */
      "{\"path\":\"/\",\"action\":\"explode\"}",     /* unknown action */
      "{\"path\":\"/\",\"action\":\"status\"}",      /* status missing */
      "{\"path\":\"/\",\"action\":\"delay\"}",       /* delayMs missing */
      "{\"path\":\"/\",\"status\":503,\"count\":0}", /* count < 1 */
      "{\"path\":\"/\",\"status\":\"503\"}",         /* wrong type */
      "[]",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tresp r;
    tclient_request(f->c, "POST", u(f, "/__emulator/faults"), hdr, bad[i], &r);
    assert_int_equal(r.status, 400);
    json_object *o = tresp_json(&r);
    assert_string_equal(tjson_str(o, "error.code"), "BadRequest");
    json_object_put(o);
    tresp_free(&r);
  }
}

/* The statuses of n GETs of /__emulator/debug/echo as a string of '.'
 * (200) and 'x' (503) into out[n + 1]. */
static void echo_pattern(fx *f, int n, char *out) {
  for (int i = 0; i < n; i++) {
    tresp r;
    get(f, "/__emulator/debug/echo", &r);
    assert_true(r.status == 200 || r.status == 503);
    out[i] = r.status == 200 ? '.' : 'x';
    tresp_free(&r);
  }
  out[n] = '\0';
}

/* The only armed rule's member k (GET /__emulator/faults), new reference. */
static json_object *rule_member(fx *f, const char *k) {
  tresp r;
  get(f, "/__emulator/faults", &r);
  json_object *o = tresp_json(&r);
  json_object *v = tjson_get(o, "value");
  assert_int_equal(json_object_array_length(v), 1);
  json_object *m = NULL;
  json_object_object_get_ex(json_object_array_get_idx(v, 0), k, &m);
  json_object_get(m);
  json_object_put(o);
  tresp_free(&r);
  return m;
}

static void clear_faults(fx *f) {
  tresp r;
  tclient_request(f->c, "DELETE", u(f, "/__emulator/faults"), NULL, NULL, &r);
  assert_int_equal(r.status, 204);
  tresp_free(&r);
}

#define ECHO_RANDOM(rest)                                                      \
  "{\"path\":\"/__emulator/debug/echo\",\"status\":503," rest "}"

/* probability + seed: about that share of the matching requests, the same
 * ones again for the same seed, others for another; hits are counted; no
 * limit unless count is given; a seed left out is chosen and reported, and
 * replays the run. */
static void test_random_rules(void **state) {
  fx *f = *state;
  enum { N = 200 };
  char a[N + 1], b[N + 1], c[N + 1];
  add_fault(f, ECHO_RANDOM("\"probability\":0.3,\"seed\":42"));
  echo_pattern(f, N, a);
  int hits = 0;
  for (int i = 0; i < N; i++)
    hits += a[i] == 'x';
  /* 60 expected; 30..90 is more than 4 standard deviations. */
  assert_in_range(hits, 30, 90);
  json_object *m = rule_member(f, "hits");
  assert_int_equal(json_object_get_int(m), hits);
  json_object_put(m);
  m = rule_member(f, "remaining");
  assert_null(m); /* null: no limit */
  m = rule_member(f, "seed");
  assert_int_equal(json_object_get_int(m), 42);
  json_object_put(m);
  clear_faults(f);

  add_fault(f, ECHO_RANDOM("\"probability\":0.3,\"seed\":42"));
  echo_pattern(f, N, b);
  assert_string_equal(a, b);
  clear_faults(f);
  add_fault(f, ECHO_RANDOM("\"probability\":0.3,\"seed\":43"));
  echo_pattern(f, N, c);
  assert_string_not_equal(a, c);
  clear_faults(f);

  /* No seed: one is chosen and reported; it replays the same run. */
  add_fault(f, ECHO_RANDOM("\"probability\":0.5"));
  echo_pattern(f, 64, a);
  m = rule_member(f, "seed");
  char rule[256];
  snprintf(rule, sizeof rule, ECHO_RANDOM("\"probability\":0.5,\"seed\":%d"),
           json_object_get_int(m));
  json_object_put(m);
  clear_faults(f);
  add_fault(f, rule);
  echo_pattern(f, 64, b);
  assert_string_equal(a, b);
  clear_faults(f);

  /* count caps the hits of a random rule, which then goes away. */
  add_fault(f, ECHO_RANDOM("\"probability\":0.5,\"seed\":1,\"count\":3"));
  echo_pattern(f, 60, a);
  hits = 0;
  for (int i = 0; i < 60; i++)
    hits += a[i] == 'x';
  assert_int_equal(hits, 3);
  tresp r;
  get(f, "/__emulator/faults", &r);
  json_object *o = tresp_json(&r);
  assert_int_equal(json_object_array_length(tjson_get(o, "value")), 0);
  json_object_put(o);
  tresp_free(&r);

  /* A random rule that does not fire lets the request on to the next
   * rule. */
  add_fault(f, ECHO_RANDOM("\"probability\":0.5,\"seed\":9"));
  add_fault(f, "{\"path\":\"/__emulator/debug/echo\",\"status\":500,"
               "\"count\":1000}");
  int s503 = 0, s500 = 0;
  for (int i = 0; i < 40; i++) {
    get(f, "/__emulator/debug/echo", &r);
    s503 += r.status == 503;
    s500 += r.status == 500;
    tresp_free(&r);
  }
  assert_int_equal(s503 + s500, 40);
  assert_true(s503 > 0 && s500 > 0);
  clear_faults(f);
}

/* burst: a draw that hits covers that many matching requests in a row (a
 * 429 storm); without probability every request starts one. */
static void test_random_bursts(void **state) {
  fx *f = *state;
  enum { N = 300 };
  char a[N + 1];
  add_fault(f, ECHO_RANDOM("\"probability\":0.05,\"seed\":7,\"burst\":5"));
  echo_pattern(f, N, a);
  int runs = 0;
  for (int i = 0; i < N;) {
    if (a[i] != 'x') {
      i++;
      continue;
    }
    int j = i;
    while (j < N && a[j] == 'x')
      j++;
    if (j < N) /* a run cut by the end of the sample may be shorter */
      assert_int_equal((j - i) % 5, 0);
    runs++;
    i = j;
  }
  assert_true(runs > 0);
  clear_faults(f);
  /* burst with count: count still caps the hits. */
  add_fault(f, ECHO_RANDOM("\"burst\":4,\"count\":6"));
  echo_pattern(f, 10, a);
  assert_string_equal(a, "xxxxxx....");
}

static void test_bad_random_rules(void **state) {
  fx *f = *state;
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  static const char *bad[] = {
      ECHO_RANDOM("\"probability\":0"),     ECHO_RANDOM("\"probability\":1.5"),
      ECHO_RANDOM("\"probability\":\"x\""), ECHO_RANDOM("\"burst\":0"),
      ECHO_RANDOM("\"seed\":-1"),
  };
  static const char *says[] = {"probability", "probability", "probability",
                               "burst", "seed"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tresp r;
    tclient_request(f->c, "POST", u(f, "/__emulator/faults"), hdr, bad[i], &r);
    assert_int_equal(r.status, 400);
    json_object *o = tresp_json(&r);
    assert_non_null(strstr(tjson_str(o, "error.message"), says[i]));
    json_object_put(o);
    tresp_free(&r);
  }
}

typedef struct slow {
  char url[256];
  long status;
} slow;

static void *slow_get(void *arg) {
  slow *s = arg;
  tclient *c = tclient_new(0);
  tresp r;
  treq q = {0};
  q.url = s->url;
  q.timeout_ms = 60000;
  tclient_do(c, &q, &r);
  s->status = r.status;
  tresp_free(&r);
  tclient_free(c);
  return NULL;
}

/* A request stuck in a long injected delay does not hold up SIGTERM. */
static void test_long_delay_does_not_block_exit(void **state) {
  (void)state;
  emu_proc *e = emu_proc_start(NULL, NULL);
  assert_non_null(e);
  tclient *c = tclient_new(0);
  char url[256];
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  tresp r;
  snprintf(url, sizeof url, "%s/__emulator/faults", emu_proc_url(e));
  tclient_request(c, "POST", url, hdr,
                  "{\"path\":\"/__emulator/debug/echo\",\"action\":"
                  "\"delay\",\"delayMs\":600000}",
                  &r);
  assert_int_equal(r.status, 201);
  tresp_free(&r);
  tclient_free(c);
  slow s = {.status = -1};
  snprintf(s.url, sizeof s.url, "%s/__emulator/debug/echo", emu_proc_url(e));
  pthread_t th;
  pthread_create(&th, NULL, slow_get, &s);
  usleep(300 * 1000); /* the request is now waiting in the delay */
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  assert_int_equal(emu_proc_stop(e), 0);
  clock_gettime(CLOCK_MONOTONIC, &b);
  assert_true(b.tv_sec - a.tv_sec < 5);
  pthread_join(th, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_status_fault, reset),
      cmocka_unit_test_setup(test_delay_fault, reset),
      cmocka_unit_test_setup(test_reset_fault, reset),
      cmocka_unit_test_setup(test_truncate_and_malformed, reset),
      cmocka_unit_test_setup(test_matching_rules, reset),
      cmocka_unit_test_setup(test_bad_fault_requests, reset),
      cmocka_unit_test_setup(test_random_rules, reset),
      cmocka_unit_test_setup(test_random_bursts, reset),
      cmocka_unit_test_setup(test_bad_random_rules, reset),
      cmocka_unit_test(test_long_delay_does_not_block_exit),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
