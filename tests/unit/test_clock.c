/* clock: system wall clock, injection and restore, monotonic clock. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, CLOCK_REALTIME, nanosleep */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "clock.h"

static int64_t fake_clock(void *arg) {
  return *(int64_t *)arg;
}

static int64_t realtime_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Compared with CLOCK_REALTIME read around it (not time(), whose coarse
 * clock may lag a few ms behind at a second boundary). */
static void test_wall_clock_is_epoch_ms(void **state) {
  (void)state;
  int64_t before = realtime_ms();
  int64_t now = wfc__now_ms();
  int64_t after = realtime_ms();
  assert_true(now >= before);
  assert_true(now <= after);
  assert_true(now > 1700000000000); /* milliseconds, not seconds */
}

static void test_injected_clock(void **state) {
  (void)state;
  int64_t t = 1700000000123;
  wfc__clock_set(fake_clock, &t);
  assert_int_equal(wfc__now_ms(), 1700000000123);
  t += 3600 * 1000;
  assert_int_equal(wfc__now_ms(), 1700003600123);
  wfc__clock_set(NULL, NULL);
  /* Restored: the real clock is far past 2023-11-14. */
  assert_true(wfc__now_ms() > 1700003600123);
}

static void test_monotonic_not_injected(void **state) {
  (void)state;
  int64_t t = 5;
  int64_t a = wfc__monotonic_ms();
  wfc__clock_set(fake_clock, &t);
  int64_t b = wfc__monotonic_ms();
  wfc__clock_set(NULL, NULL);
  struct timespec ts = {0, 20 * 1000 * 1000};
  nanosleep(&ts, NULL);
  int64_t c = wfc__monotonic_ms();
  assert_true(b >= a);
  assert_true(c - a >= 20);
  assert_true(b != 5 || a == 5);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wall_clock_is_epoch_ms),
      cmocka_unit_test(test_injected_clock),
      cmocka_unit_test(test_monotonic_not_injected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
