/* reliability.h - what the reliability suite's tests share (label
 * `reliability`, docs/reliability.md): the short/long convention, a seeded
 * generator, the counts every test keeps and its one `reliability:` line,
 * the rule that decides whether an error message is clear, the store
 * check, `wfc` children killed at a random moment, and a connection made
 * through the real `wfc connection new`. Used by
 * tests/reliability/, tests/cards/test_cards_lost_answer.c and
 * tests/foreign/test_refresh_lease.c.
 *
 * The convention:
 *   - short mode by default (CI: a few seconds to about a minute per test
 *     on 2 cores); long mode when the environment has
 *     WFC_RELIABILITY=long (`make reliability` sets it);
 *   - WFC_RELIABILITY_TRIALS=N overrides a test's trial count (to
 *     reproduce a failure quickly), WFC_RELIABILITY_SEED=S its seed (the
 *     seed is printed on the `reliability:` line);
 *   - each test counts lost work, duplicates, corrupt stores, unclear
 *     errors and untruthful answers (and, where a retry promises to clean
 *     up after an interrupted run, what it left behind), prints them on
 *     one line
 *
 *       reliability: NAME mode=short trials=20 lost=0 duplicates=0
 *         corrupt=0 unclear=0 untruthful=0 seed=123 [more figures]
 *
 *     (one line; " left_behind=N" after untruthful when not 0), and fails
 *     when any of them is not 0;
 *   - a test guards its own time (rel_watchdog): its ctest TIMEOUT is
 *     large enough for the long mode. */
#ifndef RELIABILITY_H
#define RELIABILITY_H

#include <stddef.h>
#include <stdint.h>

#include "emu_proc.h"
#include "wfc_proc.h"
#include "wfc_user.h"

/* 1 when WFC_RELIABILITY=long. */
int rel_long(void);
/* short_n or long_n by the mode; WFC_RELIABILITY_TRIALS overrides. */
int rel_trials(int short_n, int long_n);
/* WFC_RELIABILITY_SEED, else one from the clock and the pid (the same
 * value for the whole process). */
uint64_t rel_seed(void);
/* Ends the process with a `reliability:` line saying so when it runs
 * longer than short_s seconds in short mode or long_s in long mode. */
void rel_watchdog(const char *test, unsigned short_s, unsigned long_s);

/* A small seeded generator (splitmix64): the same seed, the same run. */
typedef struct rel_rng {
  uint64_t s;
} rel_rng;
uint64_t rel_rng_next(rel_rng *r);
/* Uniform in [0, n) (n > 0). */
uint32_t rel_rng_below(rel_rng *r, uint32_t n);

/* What a test counts. The six counters fail the test when not 0. */
typedef struct rel_counts {
  const char *test;
  long trials;
  long lost;       /* work reported done (or owed) that is not there */
  long duplicates; /* work done more than once */
  long corrupt;    /* a store that fails to open or its integrity check */
  long unclear;    /* an error message that names no cause (rel_unclear) */
  long untruthful; /* a failure reported as "nothing done" that was done */
  /* half-done work an interrupted run left that the retry promises to
   * clean up (a keyed send's drafts) and that is still there */
  long left_behind;
  char extra[768]; /* further figures, " key=value" each */
  int notes;       /* detail lines printed so far (rel_note) */
} rel_counts;

/* Appends " key=value" (printf-style) to the extra figures. */
void rel_figure(rel_counts *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints one line to stderr explaining a counted failure (the first 30
 * of a test, then silence), so a failing run says what went wrong. */
void rel_note(rel_counts *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Prints the `reliability:` line to stdout; returns the sum of the six
 * failure counters (0: the test holds). */
long rel_report(const rel_counts *c);

/* Why message is not a clear error message, or NULL when it is. The rule
 * (docs/reliability.md "Clear errors"): after the call's label
 * ("plugin.card: ") and a trailing code name (" (EINVAL)") are taken
 * away, something is left that is more than a code's generic text from
 * include/wfc/error.h ("invalid argument", "network error", ...) or
 * "Graph returned an error status"; the last ": "-separated part is not
 * such a text either; it has no "(null)"; it carries no token (a JWT). */
const char *rel_unclear(const char *message);

/* The error a `wfc` command printed on stderr (its first "wfc: " line
 * that is not "wfc: detail:" or "wfc: stopping", without the prefix) into
 * buf; "" when there is none. Returns buf. */
const char *rel_cli_error(const char *err, char *buf, size_t len);
/* The error a `wfc` command that failed printed on stderr (err) must name
 * its cause: when it does not (rel_unclear of its rel_cli_error), counts
 * as unclear in c, with a note that quotes err. 1 when counted, else 0. */
int rel_check_cli_error(rel_counts *c, const char *err);
/* A `wfc flow run --json` line whose "status" is not "ok": its "error"
 * must name the cause (rel_unclear), else counts as unclear in c. 1 when
 * counted, else 0. */
int rel_check_failed_run(rel_counts *c, struct json_object *line);

/* 0 when the SQLite store at path opens read-only and PRAGMA
 * integrity_check answers "ok"; else -1 with the reason in why. */
int rel_store_check(const char *path, char *why, size_t len);
/* rel_store_check of path: a store that fails it counts as corrupt in c,
 * with a note saying why. */
void rel_check_store(rel_counts *c, const char *path);

/* A test's set-up against its own emulator: a fresh emulator (built-in
 * tenant) in *emu and a fresh `wfc` user u (wuser_init with name). 0, or
 * -1 when either failed. */
int rel_up(emu_proc **emu, wuser *u, const char *name);
/* Stops the emulator and removes the user's directory: 0, or -1. */
int rel_down(emu_proc *emu, wuser *u);

/* Waits for p (started with wproc_spawn) to exit, collecting its stdout
 * and stderr; when it is still running after kill_after_us microseconds
 * (< 0: never) sends SIGKILL. Reaps it and sets p->code. Returns 1 when
 * the child was killed by the SIGKILL, 0 when it exited on its own. */
int rel_wait_or_kill(wproc *p, int64_t kill_after_us);
/* The same with signal sig (SIGTERM: a stop the child handles); returns
 * 1 when sig was sent (for SIGKILL: and killed the child). */
int rel_wait_or_signal(wproc *p, int64_t kill_after_us, int sig);

/* Monotonic clock in microseconds. */
int64_t rel_now_us(void);

/* The emulator's admin API at base: method path with body_json (JSON text
 * or NULL). The parsed answer (new reference; NULL when empty or not
 * JSON) and its status in *status (optional; 0 when nothing answered). */
struct json_object *rel_admin(const char *base, const char *method,
                              const char *path, const char *body_json,
                              long *status);
/* GET /__emulator/mail/{user}/sent's "value" (new reference) or NULL. */
struct json_object *rel_sent(const char *base, const char *user);
/* Delivers message number i into user's inbox through the emulator's admin
 * API at base: subject "<prefix><i>", from bob@contoso.test, body "n <i>".
 * The message as the emulator answered it (transfer: json_object_put; may
 * be NULL), the HTTP status in *status (201: delivered). */
struct json_object *rel_deliver_numbered(const char *base, const char *user,
                                         const char *prefix, int i,
                                         long *status);
/* GET /__emulator/mail/{user}/messages[?folder=F]'s "value" (new
 * reference) or NULL. */
struct json_object *rel_messages(const char *base, const char *user,
                                 const char *folder);
/* How many objects of arr have member k equal to value. */
int rel_count_eq(struct json_object *arr, const char *k, const char *value);

/* `wfc connection new --plugin o365mail --nickname NICK` on store, the
 * browser (tests/support/browser.h) signing in as upn / password on the
 * emulator at emu_url (preview app, tenant contoso.test), then back to
 * wfc's loopback listener. Fails the running cmocka test when the
 * connection is not made. */
void rel_connect(const char *wfc_bin, const char *store, const char *plugin_dir,
                 const char *emu_url, const char *nickname, const char *upn,
                 const char *password);

#endif /* RELIABILITY_H */
