/* clock.h - the SDK's notion of time, injectable in tests.
 *
 * Everything in the SDK that needs "now" (token expiry, log timestamps,
 * checkpoints) asks wfc__now_ms(), so a test or the emulator's virtual time
 * can move the clock without sleeping. Durations and deadlines use
 * wfc__monotonic_ms(), which is never injected.
 */
#ifndef WFC_SDK_CLOCK_H
#define WFC_SDK_CLOCK_H

#include <stdint.h>

/* Wall clock, milliseconds since the Unix epoch (UTC), from the injected
 * clock when one is set. Thread-safe.
 *
 * Test only: WFC_TEST_CLOCK_SKEW_MS (an integer, read once) is added to
 * the system clock, so that a test can run a whole process (`wfc`, a
 * host) as if its machine's clock were that far ahead (or behind, when
 * negative): a host of a fleet with a skewed clock (docs/store.md,
 * "Clocks"). Never set it in production. */
int64_t wfc__now_ms(void);

/* Monotonic milliseconds (CLOCK_MONOTONIC), arbitrary origin. Not
 * injectable. Thread-safe. */
int64_t wfc__monotonic_ms(void);

/* Injects a wall clock: wfc__now_ms() returns fn(arg) from now on. fn NULL
 * restores the system clock. fn and arg are borrowed until replaced; fn may
 * be called from any thread that logs. */
void wfc__clock_set(int64_t (*fn)(void *arg), void *arg);

#endif
