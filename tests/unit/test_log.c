/* log: record format, levels, sink, secret redaction (canaries), pattern
 * redaction, line safety, and logging from several threads. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>

#include <cmocka.h>
#include <openssl/crypto.h>

#include "clock.h"
#include "log.h"
#include "wfc/error.h"

/* Captured records, newline-separated. */
static char captured[1 << 20];
static size_t captured_len;
static int records;

static void capture_sink(void *arg, int level, const char *line) {
  size_t n = strlen(line);
  (void)arg;
  (void)level;
  if (captured_len + n + 2 < sizeof captured) {
    memcpy(captured + captured_len, line, n);
    captured_len += n;
    captured[captured_len++] = '\n';
    captured[captured_len] = '\0';
  }
  records++;
}

static int64_t fixed_now(void *arg) {
  (void)arg;
  return 1700000000123; /* 2023-11-14T22:13:20.123Z */
}

static int setup(void **state) {
  (void)state;
  captured_len = 0;
  captured[0] = '\0';
  records = 0;
  wfc__log_set_sink(capture_sink, NULL);
  wfc__log_set_level(WFC_LOG_DEBUG);
  wfc__clock_set(fixed_now, NULL);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  wfc__log_set_sink(NULL, NULL);
  wfc__log_forget_all();
  wfc__clock_set(NULL, NULL);
  return 0;
}

/* Runs first: main() set WFC_LOG=debug before any logger call. */
static void test_level_from_env(void **state) {
  (void)state;
  assert_int_equal(wfc__log_level(), WFC_LOG_DEBUG);
}

static void test_level_parse(void **state) {
  (void)state;
  assert_int_equal(wfc__log_level_parse("error"), 0);
  assert_int_equal(wfc__log_level_parse("WARN"), 1);
  assert_int_equal(wfc__log_level_parse("info"), 2);
  assert_int_equal(wfc__log_level_parse("debug"), 3);
  assert_int_equal(wfc__log_level_parse("verbose"), -1);
  assert_int_equal(wfc__log_level_parse(NULL), -1);
}

static void test_format(void **state) {
  (void)state;
  wfc__log(WFC_LOG_WARN, "hello %d %s", 42, "world");
  assert_string_equal(captured,
                      "2023-11-14T22:13:20.123Z WARN hello 42 world\n");
}

static void test_levels_filter(void **state) {
  (void)state;
  wfc__log_set_level(WFC_LOG_WARN);
  wfc__log(WFC_LOG_INFO, "not shown");
  wfc__log(WFC_LOG_DEBUG, "not shown");
  wfc__log(WFC_LOG_ERROR, "shown e");
  wfc__log(WFC_LOG_WARN, "shown w");
  assert_int_equal(records, 2);
  assert_null(strstr(captured, "not shown"));
  assert_non_null(strstr(captured, "ERROR shown e"));
  wfc__log_set_level(99);
  assert_int_equal(wfc__log_level(), WFC_LOG_DEBUG);
  wfc__log(WFC_LOG_DEBUG, "dbg");
  assert_non_null(strstr(captured, "DEBUG dbg"));
}

static void test_secret_in_middle(void **state) {
  (void)state;
  const char *canary = "CANARY-7f3a9c-SECRET";
  assert_int_equal(wfc__log_secret(canary), 0);
  wfc__log(WFC_LOG_INFO, "prefix%ssuffix and again %s.", canary, canary);
  assert_null(strstr(captured, canary));
  assert_null(strstr(captured, "7f3a9c"));
  assert_non_null(
      strstr(captured, "INFO prefix[REDACTED]suffix and again [REDACTED].\n"));
}

static void test_secret_overlap(void **state) {
  (void)state;
  assert_int_equal(wfc__log_secret("abcdef12"), 0);
  assert_int_equal(wfc__log_secret("ef12ghij"), 0);
  wfc__log(WFC_LOG_INFO, "<%s>", "abcdef12ghij");
  assert_non_null(strstr(captured, "INFO <[REDACTED]>\n"));
  assert_null(strstr(captured, "ghij"));
}

static void test_secret_refcount_and_forget(void **state) {
  (void)state;
  const char *canary = "canary-refcount-0001";
  assert_int_equal(wfc__log_secret(canary), 0);
  assert_int_equal(wfc__log_secret(canary), 0);
  wfc__log_forget_secret(canary);
  wfc__log(WFC_LOG_INFO, "a %s", canary);
  assert_null(strstr(captured, canary));
  wfc__log_forget_secret(canary);
  wfc__log(WFC_LOG_INFO, "b %s", canary);
  assert_non_null(strstr(captured, "INFO b canary-refcount-0001"));
  wfc__log_forget_secret("never-registered");
}

static void test_secret_too_short(void **state) {
  (void)state;
  assert_int_equal(wfc__log_secret("abc"), WFC_EINVAL);
  assert_int_equal(wfc__log_secret(NULL), WFC_EINVAL);
  wfc__log(WFC_LOG_INFO, "abc");
  assert_non_null(strstr(captured, "INFO abc\n"));
}

static void test_long_message(void **state) {
  (void)state;
  const char *canary = "LONG-CANARY-99";
  char big[5000];
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  assert_int_equal(wfc__log_secret(canary), 0);
  wfc__log(WFC_LOG_INFO, "%s%s", big, canary);
  assert_null(strstr(captured, canary));
  assert_non_null(strstr(captured, "x[REDACTED]\n"));
  assert_true(captured_len > 5000);
}

static void test_patterns(void **state) {
  (void)state;
  wfc__log(WFC_LOG_INFO, "Authorization: Bearer eyJ0eXAi.abc-def_g~h+/=");
  wfc__log(WFC_LOG_INFO, "authorization: bearer   tok123 next");
  wfc__log(WFC_LOG_INFO, "GET /cb?code=ABC123&state=xyz");
  wfc__log(WFC_LOG_INFO, "body client_secret=s3cr3tval&refresh_token=RT1 x");
  wfc__log(WFC_LOG_INFO, "{\"access_token\": \"AT\\\"99\", \"n\":1}");
  wfc__log(WFC_LOG_INFO, "{\"REFRESH_TOKEN\":\"rt-json\"}");
  wfc__log(WFC_LOG_INFO, "error_code=5 postcode=ABC zipcode=1");
  assert_non_null(strstr(captured, "Authorization: Bearer [REDACTED]\n"));
  assert_non_null(strstr(captured, "bearer   [REDACTED] next\n"));
  assert_non_null(strstr(captured, "GET /cb?code=[REDACTED]&state=xyz\n"));
  assert_non_null(strstr(
      captured, "body client_secret=[REDACTED]&refresh_token=[REDACTED] x\n"));
  assert_non_null(
      strstr(captured, "{\"access_token\": \"[REDACTED]\", \"n\":1}\n"));
  assert_non_null(strstr(captured, "{\"REFRESH_TOKEN\":\"[REDACTED]\"}\n"));
  assert_non_null(strstr(captured, "error_code=5 postcode=ABC zipcode=1\n"));
  assert_null(strstr(captured, "eyJ0"));
  assert_null(strstr(captured, "s3cr3t"));
  assert_null(strstr(captured, "AT\\\"99"));
}

static void test_one_line_per_record(void **state) {
  (void)state;
  wfc__log(WFC_LOG_ERROR, "a\nb\r\nc");
  assert_int_equal(records, 1);
  assert_string_equal(captured, "2023-11-14T22:13:20.123Z ERROR a b  c\n");
}

static void test_redact_helper(void **state) {
  (void)state;
  assert_int_equal(wfc__log_secret("helper-canary"), 0);
  char *r = wfc__log_redact("x helper-canary y access_token=zz");
  assert_non_null(r);
  assert_string_equal(r, "x [REDACTED] y access_token=[REDACTED]");
  free(r);
  assert_null(wfc__log_redact(NULL));
}

static void *thread_main(void *arg) {
  const char *canary = arg;
  for (int i = 0; i < 500; i++)
    wfc__log(WFC_LOG_INFO, "t %d %s end", i, canary);
  return NULL;
}

static void test_threads(void **state) {
  (void)state;
  const char *canary = "THREAD-CANARY-abcdef";
  pthread_t th[4];
  assert_int_equal(wfc__log_secret(canary), 0);
  for (int i = 0; i < 4; i++)
    assert_int_equal(pthread_create(&th[i], NULL, thread_main, (void *)canary),
                     0);
  for (int i = 0; i < 4; i++)
    pthread_join(th[i], NULL);
  assert_int_equal(records, 2000);
  assert_null(strstr(captured, "CANARY"));
  /* Every record is whole: count complete lines. */
  int lines = 0;
  for (char *p = captured; (p = strstr(p, "[REDACTED] end\n")) != NULL; p++)
    lines++;
  assert_int_equal(lines, 2000);
}

/* Eviction keeps the newest WFC_LOG_MAX_PLAIN; a re-registration counts
 * as new. Runs on plain pages (no secure heap yet). */
static void test_eviction(void **state) {
  (void)state;
  char v[64];
  for (int i = 0; i < WFC_LOG_MAX_PLAIN; i++) {
    snprintf(v, sizeof v, "evict-canary-%05d", i);
    assert_int_equal(wfc__log_secret(v), 0);
  }
  assert_int_equal(wfc__log_secret_count(), WFC_LOG_MAX_PLAIN);
  /* Touch #0 so that #1 becomes the oldest. */
  assert_int_equal(wfc__log_secret("evict-canary-00000"), 0);
  assert_int_equal(wfc__log_secret("evict-canary-new"), 0);
  assert_int_equal(wfc__log_secret_count(), WFC_LOG_MAX_PLAIN);
  wfc__log(WFC_LOG_INFO, "%s %s %s %s", "evict-canary-00000",
           "evict-canary-00001", "evict-canary-00002", "evict-canary-new");
  assert_non_null(strstr(
      captured, "INFO [REDACTED] evict-canary-00001 [REDACTED] [REDACTED]\n"));
  wfc__log_forget_all();
  assert_int_equal(wfc__log_secret_count(), 0);
}

/* With the host's secure heap set up, copies live there and are freed
 * (cleansed) when forgotten. Runs last: the heap is process-wide. */
static void test_secure_heap(void **state) {
  (void)state;
  assert_int_equal(CRYPTO_secure_malloc_init(1 << 16, 16), 1);
  size_t before = CRYPTO_secure_used();
  assert_int_equal(wfc__log_secret("secure-heap-canary-1"), 0);
  assert_int_equal(wfc__log_secret("secure-heap-canary-2"), 0);
  assert_true(CRYPTO_secure_used() > before);
  wfc__log(WFC_LOG_INFO, "a secure-heap-canary-1 b secure-heap-canary-2");
  assert_non_null(strstr(captured, "INFO a [REDACTED] b [REDACTED]\n"));
  wfc__log_forget_secret("secure-heap-canary-1");
  wfc__log_forget_all();
  assert_int_equal(CRYPTO_secure_used(), before);
  CRYPTO_secure_malloc_done();
}

int main(void) {
  setenv("WFC_LOG", "debug", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_level_from_env),
      cmocka_unit_test(test_level_parse),
      cmocka_unit_test_setup_teardown(test_format, setup, teardown),
      cmocka_unit_test_setup_teardown(test_levels_filter, setup, teardown),
      cmocka_unit_test_setup_teardown(test_secret_in_middle, setup, teardown),
      cmocka_unit_test_setup_teardown(test_secret_overlap, setup, teardown),
      cmocka_unit_test_setup_teardown(test_secret_refcount_and_forget, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_secret_too_short, setup, teardown),
      cmocka_unit_test_setup_teardown(test_long_message, setup, teardown),
      cmocka_unit_test_setup_teardown(test_patterns, setup, teardown),
      cmocka_unit_test_setup_teardown(test_one_line_per_record, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_redact_helper, setup, teardown),
      cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
      cmocka_unit_test_setup_teardown(test_eviction, setup, teardown),
      cmocka_unit_test_setup_teardown(test_secure_heap, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
