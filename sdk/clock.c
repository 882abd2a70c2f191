/* clock.c - wall and monotonic clocks; the wall clock can be injected. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, CLOCK_REALTIME */
#include "clock.h"

#include <pthread.h>
#include <time.h>

/* fn and arg change together, so they are read under one lock (callers
 * include libcurl's resolver threads through the logger). */
static pthread_mutex_t clock_mu = PTHREAD_MUTEX_INITIALIZER;
static int64_t (*clock_fn)(void *arg);
static void *clock_arg;

static int64_t timespec_ms(const struct timespec *ts) {
  return (int64_t)ts->tv_sec * 1000 + ts->tv_nsec / 1000000;
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
  clock_gettime(CLOCK_REALTIME, &ts);
  return timespec_ms(&ts);
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
