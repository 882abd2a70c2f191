/* tsys.h - small system helpers the test support and the tests share:
 * sleeping, a monotonic clock, a free loopback port, removing a tree. */
#ifndef WFC_TEST_TSYS_H
#define WFC_TEST_TSYS_H

void tsys_sleep_ms(long ms);
/* Milliseconds on CLOCK_MONOTONIC (for deadlines and durations). */
long long tsys_mono_ms(void);
/* A TCP port on 127.0.0.1 that nothing listens on now (bound to 0, read
 * back, closed: a server that binds it a moment later may lose a race, so
 * callers retry), or -1. */
int tsys_free_port(void);
/* Removes path and everything below it (no shell, links not followed):
 * 0 when it is gone (also when it was not there), else -1. */
int tsys_rm_rf(const char *path);

#endif
