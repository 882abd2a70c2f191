/* vclock.c - the virtual clock: real time plus an offset that the admin API
 * moves forward. Everything time-dependent in the emulator (token expiry,
 * throttling windows, timestamps) reads emu_now_ms(). */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, CLOCK_REALTIME */
#include "emu.h"

#include <stdatomic.h>
#include <time.h>

static _Atomic int64_t offset_ms;

int64_t emu_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 +
         atomic_load(&offset_ms);
}

time_t emu_now(void) {
  return (time_t)(emu_now_ms() / 1000);
}

void emu_time_advance_ms(int64_t ms) {
  atomic_fetch_add(&offset_ms, ms);
}

int64_t emu_time_offset_ms(void) {
  return atomic_load(&offset_ms);
}

void emu_time_reset(void) {
  atomic_store(&offset_ms, 0);
}
