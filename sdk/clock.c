/* clock.c - wall and monotonic clocks; the wall clock can be injected. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, CLOCK_REALTIME */
#include "clock.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

/* fn and arg change together, so they are read under one lock (callers
 * include libcurl's resolver threads through the logger). */
static pthread_mutex_t clock_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t (*clock_fn)(void *arg);
static void *clock_arg;

static int64_t timespec_ms(const struct timespec *ts) {
  return (int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
}

/* WFC_TEST_CLOCK_SKEW_MS (test only, clock.h): read once. */
static pthread_once_t skew_once = PTHREAD_ONCE_INIT;
static int64_t skew_ms;

static void skew_read(void) {
  const char *v = getenv("WFC_TEST_CLOCK_SKEW_MS");
  char *end;
  long long n;

  if (v == NULL || v[0] == '\0')
    return;
  n = strtoll(v, &end, 10);
  /* A value that does not parse is ignored: it only exists for tests. */
  if (*end == '\0' && n > -86400000LL * 366 && n < 86400000LL * 366)
    skew_ms = (int64_t)n;
}

int64_t wfc__now_ms(void) {
  int64_t (*fn)(void *);
  void *arg;
  struct timespec ts;

  pthread_mutex_lock(&clock_mu);
  fn = clock_fn;
  arg = clock_arg;
  pthread_mutex_unlock(&clock_mu);
  if (fn != NULL)
    return fn(arg);
  pthread_once(&skew_once, skew_read);
  clock_gettime(CLOCK_REALTIME, &ts);
  return timespec_ms(&ts) + skew_ms;
}

int64_t wfc__monotonic_ms(void) {
  struct timespec ts;

  clock_gettime(CLOCK_MONOTONIC, &ts);
  return timespec_ms(&ts);
}

void wfc__clock_set(int64_t (*fn)(void *arg), void *arg) {
  pthread_mutex_lock(&clock_mu);
  clock_fn = fn;
  clock_arg = fn != NULL ? arg : NULL;
  pthread_mutex_unlock(&clock_mu);
}
