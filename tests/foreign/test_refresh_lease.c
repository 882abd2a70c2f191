/* test_refresh_lease.c - one refresh per connection at a time across every
 * `wfc` process sharing a store (the refresh lease, docs/store.md), against
 * an identity provider that rotates refresh tokens and revokes the grant
 * when a spent one is reused (panva's oidc-provider, tests/foreign-idp), and
 * with FOREIGN_IDP=emulator against our m365-emulator, which rotates and
 * keeps the spent token valid as Microsoft does (so there a race costs a
 * second token request, not the connection).
 *
 * Real parts only: a connection made through `wfc connection new` and the
 * provider's pages (tests/support/browser.c), then real `wfc` processes on
 * one store, real SIGKILL. The provider counts the token requests it
 * answers; idp.mjs also counts those in flight at once and can hold them
 * (its /__idp/token-control) so the test knows every process is at the
 * lease before the holder's refresh ends. The emulator delays the holder's
 * request instead (a fault rule).
 *
 * Label `reliability` (docs/reliability.md): a short mode by default, a
 * long one with WFC_RELIABILITY=long (`make reliability`); each test
 * prints its figures on one line starting "reliability:" and fails when
 * a round's work is lost (a command failed, the connection is not
 * connected after it), a refresh is duplicated (more than one where one
 * is promised, two token requests in flight at once), the store fails
 * its integrity check, or a lost connection does not say so clearly.
 *
 * - test_refresh_together: 2 and 4 `wfc connection refresh` at once, held
 *   at the provider until all but one wait for the lease: exactly one token
 *   request per round, every process succeeds, the connection stays
 *   connected;
 * - test_refresh_race: the same without holding (the provider answers
 *   after 100 ms, as a remote one would), and rounds of `connection test`
 *   and `card run` on an expired access token: never two token requests
 *   in flight, one refresh per round of uses, the connection stays
 *   connected;
 * - test_watch_and_card: `wfc event watch --once` and `wfc card run` with
 *   an expired access token: exactly one token request per round;
 * - test_killed_holder: the holder SIGKILLed while its token request is
 *   held: the waiter sent nothing meanwhile, takes over (at once on this
 *   host, and at most the lease's length in any case) and succeeds;
 * - test_foreign_host_lease: a lease held by a process on another host is
 *   waited out until it expires, then taken;
 * - test_sigkill_during_refresh: `wfc connection refresh` SIGKILLed at a
 *   random moment of its refresh, from its start (the process's log says
 *   so) to its end (200 trials in the long mode): counts the
 *   connections lost. Against a rotating provider a kill after the
 *   provider rotated the token and before the new one is written loses it
 *   (no client closes that window; docs/reliability.md has the figure,
 *   `window_losses`): the test fails on a loss outside that window, on any
 *   loss against the emulator, and on a lost connection that does not say
 *   so clearly. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, kill, nanosleep, setenv, strdup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "clock.h"
#include "connmgr.h"
#include "crypto.h"
#include "fleet_fixture.h"
#include "foreign_idp.h"
#include "json.h"
#include "reliability.h"
#include "store.h"
#include "tclient.h"
#include "tsys.h"
#include "wfc_user.h"

#define NICK    "shared"
#define WAITING "waiting for its result" /* connmgr's log line (info) */

static fidp idp;
static wuser cli;
static char conn_id[WFC__CONN_ID_SIZE];

/* ---- modes and figures ---------------------------------------------------
 */

/* The suite's convention (docs/reliability.md, tests/support/reliability.h):
 * one `reliability:` line per test with the five counters, which fail it;
 * here lost is a round's work not done (a command failed, or the
 * connection is not connected after it), duplicates the refreshes beyond
 * the one a round promises, unclear a lost connection that does not say
 * so clearly, untruthful a command reporting success with the connection
 * lost. */

/* Checks the store, prints the line, fails on any of the five. */
static void report(rel_counts *c) {
  rel_check_store(c, cli.store);
  rel_figure(c, "provider=%s", idp.name);
  assert_int_equal(rel_report(c), 0);
}

static long now_ms(void) {
  return (long)wfc__monotonic_ms();
}

/* ---- the provider ---------------------------------------------------------
 */

static int oidc(void) {
  return idp.kind == FIDP_OIDC_PROVIDER;
}

/* POST url-path on the provider; the JSON answer (new ref) or NULL. */
static json_object *admin(const char *method, const char *path,
                          const char *body) {
  char url[512];
  snprintf(url, sizeof url, "%s%s", idp.authority, path);
  tclient *c = tclient_new(0);
  tresp r;
  const char *const hdr[] = {"Content-Type: application/json", NULL};
  assert_int_equal(tclient_request(c, method, url, body ? hdr : NULL, body, &r),
                   0);
  if (r.status < 200 || r.status > 299)
    fail_msg("%s %s: %ld %s", method, path, r.status, r.body);
  json_object *j = tresp_json(&r);
  tresp_free(&r);
  tclient_free(c);
  return j;
}

static long stat_of(const char *key) {
  json_object *j = admin("GET", "/__idp/stats", NULL);
  long n = (long)json_object_get_int64(json_object_object_get(j, key));
  json_object_put(j);
  return n;
}

/* idp.mjs: hold every token request (1) or let them go (0). */
static void hold(int on) {
  json_object_put(
      admin("POST",
            on ? "/__idp/token-control?hold=1" : "/__idp/token-control?hold=0",
            NULL));
}

/* Every token request answered after delay_ms (0: at once): idp.mjs for
 * all of them, the emulator for the next count ones (0: none). */
static void token_delay(long delay_ms, int count) {
  char b[256];
  if (oidc()) {
    snprintf(b, sizeof b, "/__idp/token-control?delay=%ld", delay_ms);
    json_object_put(admin("POST", b, NULL));
    return;
  }
  json_object_put(admin("DELETE", "/__emulator/faults", NULL));
  if (delay_ms == 0 || count == 0)
    return;
  snprintf(b, sizeof b,
           "{\"method\":\"POST\",\"path\":\"/%s/oauth2/v2.0/token\","
           "\"action\":\"delay\",\"delayMs\":%ld,\"count\":%d}",
           idp.tenant, delay_ms, count);
  json_object_put(admin("POST", "/__emulator/faults", b));
}

/* Waits until the provider holds n token requests (idp.mjs). */
static void await_held(long n, long timeout_ms) {
  long end = now_ms() + timeout_ms;
  while (stat_of("token_held") < n) {
    if (now_ms() > end)
      fail_msg("the provider holds %ld token requests, not %ld, after %ld ms",
               stat_of("token_held"), n, timeout_ms);
    tsys_sleep_ms(5);
  }
}

/* ---- wfc ------------------------------------------------------------------
 */

static wfc__store *store_open(void);

static wproc *spawn(const char *const *args) {
  wproc *p = calloc(1, sizeof *p);
  assert_non_null(p);
  wuser_spawn(&cli, p, args);
  return p;
}

static wproc *spawn_refresh(void) {
  static const char *const args[] = {"connection", "refresh", NICK, NULL};
  return spawn(args);
}

/* Waits for p; prints its outputs when it failed. Frees p. */
static int finish(wproc *p, const char *what) {
  int code = wuser_finish(&cli, p);
  if (code != 0)
    fprintf(stderr, "%s: exit %d\nstdout: %s\nstderr: %s\n", what, code,
            p->stdout_, p->stderr_);
  free(p);
  return code;
}

/* Waits until some process holds the connection's refresh lease. */
static void await_lease(long timeout_ms) {
  wfc__store *st = store_open();
  long end = now_ms() + timeout_ms;
  wfc__lease l;
  while (wfc__store_lease_get(st, conn_id, &l) != 0) {
    if (now_ms() > end)
      fail_msg("nobody took the refresh lease in %ld ms", timeout_ms);
    tsys_sleep_ms(2);
  }
  wfc__store_close(st);
}

static void sigkill(wproc *p) {
  kill(p->pid, SIGKILL);
  wproc_wait(p); /* drains and reaps: the pid is gone afterwards */
  free(p);
}

/* The connection's state and remedy (copied). */
static void state_of(char *state, size_t slen, char *remedy, size_t rlen) {
  json_object *c = wuser_show(&cli, NICK);
  snprintf(state, slen, "%s",
           json_object_get_string(json_object_object_get(c, "state")));
  if (remedy != NULL)
    snprintf(remedy, rlen, "%s",
             json_object_get_string(json_object_object_get(c, "remedy")));
  json_object_put(c);
}

/* 1 when the connection is connected; else says why on stderr. */
static int connected(void) {
  char state[64], remedy[1024];
  state_of(state, sizeof state, remedy, sizeof remedy);
  if (strcmp(state, "connected") == 0)
    return 1;
  fprintf(stderr, "the connection is %s: %s\n", state, remedy);
  return 0;
}

/* A round's end: every command succeeded, the connection is connected,
 * and the provider decided `refreshes` refreshes where `promised` were
 * promised (-1: any number from 1 to the processes). */
static void round_end(rel_counts *c, int failed, long refreshes,
                      long promised) {
  c->trials++;
  int ok = connected();
  if (failed > 0 || !ok)
    c->lost++;
  if (failed == 0 && !ok)
    c->untruthful++;
  if (promised > 0 && refreshes > promised)
    c->duplicates += refreshes - promised;
  if (!ok) /* the next round needs a connection */
    fidp_wfc_connect(&idp, &cli, NICK, NICK);
}

/* ---- the store, as the test's own handle ----------------------------------
 */

static wfc__store *store_open(void) {
  wfc__store *st = NULL;
  char err[512];
  if (wfc__store_open(cli.store, &st, err, sizeof err) != 0)
    fail_msg("open %s: %s", cli.store, err);
  return st;
}

/* The access token in the store (malloc'd, wfc__secret_free). */
static char *stored_access(void) {
  wfc__store *st = store_open();
  char *text = NULL;
  assert_int_equal(wfc__store_conn_secrets(st, conn_id, &text), 0);
  wfc__store_close(st);
  json_object *s = json_tokener_parse(text);
  wfc__secret_free(text);
  const char *a =
      wfc__json_str(wfc__json_obj(s, "credentials"), "access_token");
  char *copy = strdup(a ? a : "");
  json_object_put(s);
  return copy;
}

/* Ages the access token as an hour passing would: its expiry is now in the
 * past, so the next use of the connection must refresh. */
static void expire_access_token(void) {
  char err[512];
  if (fleet_expire_access_token(cli.store, conn_id, err, sizeof err) != 0)
    fail_msg("%s", err);
}

/* ---- set-up ---------------------------------------------------------------
 */

static int setup(void **state) {
  (void)state;
  if (fidp_start(&idp) != 0 || wuser_init(&cli, "lease") != 0)
    return -1;
  /* The waiters say so (info): the test's barrier. */
  setenv("WFC_LOG", "info", 1);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  int rc = fidp_stop(&idp);
  if (wuser_cleanup(&cli) != 0)
    rc = -1;
  return rc;
}

/* A fresh store with one connection, NICK, for each test. */
static int connect_fresh(void **state) {
  (void)state;
  wuser_cleanup(&cli);
  if (wuser_init(&cli, "lease") != 0)
    return -1;
  /* Whatever a failed test left at the provider goes. */
  if (oidc())
    json_object_put(admin("POST", "/__idp/token-control?hold=0&delay=0", NULL));
  else
    token_delay(0, 0);
  fidp_wfc_connect(&idp, &cli, NICK, NULL);
  json_object *c = wuser_show(&cli, NICK);
  snprintf(conn_id, sizeof conn_id, "%s",
           json_object_get_string(json_object_object_get(c, "id")));
  json_object_put(c);
  if (oidc())
    json_object_put(admin("POST", "/__idp/stats?reset=1", NULL));
  return 0;
}

/* ---- tests ----------------------------------------------------------------
 */

/* n `wfc connection refresh` at once. The holder's token request is held
 * at the provider (idp.mjs) or delayed (the emulator) until every other
 * process says it waits for the lease; then exactly one refresh was made
 * in the round. */
static void round_together(rel_counts *c, int n) {
  long before = fidp_refreshes(&idp);
  if (oidc())
    hold(1);
  else
    token_delay(2000, 1);
  wproc *p[4];
  for (int i = 0; i < n; i++)
    p[i] = spawn_refresh();
  /* n - 1 of them wait for the one holding the lease, whose request has
   * reached the provider. */
  long end = now_ms() + 15000, held = 0;
  int waiting = 0;
  while (now_ms() < end) {
    waiting = 0;
    for (int i = 0; i < n; i++)
      waiting += wproc_await_stderr(p[i], WAITING, 20);
    held = oidc() ? stat_of("token_held") : 1;
    if (waiting >= n - 1 && held >= 1)
      break;
  }
  if (oidc())
    hold(0);
  if (held > 1)
    fprintf(stderr, "%ld token requests reached the provider at once\n", held);
  else if (waiting < n - 1)
    fail_msg("only %d of %d processes waited for the refresh lease, and "
             "no second request reached the provider",
             waiting, n - 1);
  int failed = 0;
  for (int i = 0; i < n; i++)
    failed += finish(p[i], "refresh") != 0;
  token_delay(0, 0);
  round_end(c, failed, fidp_refreshes(&idp) - before, 1);
}

static void test_refresh_together(void **state) {
  (void)state;
  rel_counts c = {.test = "refresh_together"};
  /* The emulator's rounds last the fault's delay: fewer of them. */
  int rounds = oidc() ? rel_trials(10, 100) : rel_trials(5, 40);
  for (int r = 0; r < rounds; r++)
    round_together(&c, r % 2 == 0 ? 2 : 4);
  rel_figure(&c, "processes=2,4 refreshes_promised_per_round=1");
  report(&c);
}

/* Uses of the connection that need a token but force no refresh. */
static const char *const card_args[] = {
    "card",
    "run",
    "custom_api_action",
    "--connection",
    NICK,
    "--input",
    "{\"method\":\"GET\",\"relative_url\":\"/me\"}",
    NULL};
static const char *const test_args[] = {"connection", "test", NICK, NULL};

static void test_refresh_race(void **state) {
  (void)state;
  rel_counts c = {.test = "refresh_race"};
  int rounds = rel_trials(20, 200);
  long forced = 0;
  for (int r = 0; r < rounds; r++) {
    int n = r % 4 < 2 ? 2 : 4;
    /* Even rounds: n `wfc connection refresh`, each forcing a refresh;
     * one that starts after another's refresh is saved refreshes again.
     * Odd rounds: the access token has expired and n processes use the
     * connection (`connection test`, `card run`): one refresh, whatever
     * the timing. */
    int use = r % 2 == 1;
    if (use)
      expire_access_token();
    token_delay(100, n);
    long before = fidp_refreshes(&idp);
    wproc *p[4];
    for (int i = 0; i < n; i++)
      p[i] = !use ? spawn_refresh() : spawn(i % 2 ? card_args : test_args);
    int failed = 0;
    for (int i = 0; i < n; i++)
      failed += finish(p[i], use ? "use" : "refresh") != 0;
    long got = fidp_refreshes(&idp) - before;
    if (!use)
      forced += got;
    round_end(&c, failed, got, use ? 1 : n);
  }
  token_delay(0, 0);
  long max = oidc() ? stat_of("token_max_in_flight") : -1;
  if (max > 1)
    c.duplicates += max - 1; /* two token requests at once */
  rel_figure(&c,
             "processes=2,4 refreshes_in_forced_rounds=%ld "
             "refreshes_promised_per_use_round=1 max_in_flight=%ld",
             forced, max);
  report(&c);
}

static void test_watch_and_card(void **state) {
  (void)state;
  static const char *const watch[] = {
      "event", "watch", "new_email", "--connection", NICK, "--once", NULL};
  rel_counts c = {.test = "watch_and_card"};
  int rounds = rel_trials(10, 100);
  for (int r = 0; r < rounds; r++) {
    expire_access_token();
    token_delay(300, 2);
    long before = fidp_refreshes(&idp);
    wproc *w = spawn(watch);
    wproc *k = spawn(card_args);
    int failed = (finish(w, "event watch") != 0) + (finish(k, "card run") != 0);
    round_end(&c, failed, fidp_refreshes(&idp) - before, 1);
  }
  token_delay(0, 0);
  rel_figure(&c, "refreshes_promised_per_round=1");
  report(&c);
}

static void test_killed_holder(void **state) {
  (void)state;
  rel_counts c = {.test = "killed_holder"};
  int rounds = rel_trials(3, 20);
  long worst = 0;
  for (int r = 0; r < rounds; r++) {
    long before = fidp_refreshes(&idp);
    long dropped = oidc() ? stat_of("token_dropped") : 0;
    if (oidc())
      hold(1);
    else
      token_delay(3000, 1);
    wproc *a = spawn_refresh();
    await_lease(15000); /* a holds it: b will be the one waiting */
    if (oidc())
      await_held(1, 15000);
    wproc *b = spawn_refresh();
    if (!wproc_await_stderr(b, WAITING, 15000))
      fail_msg("the second refresh did not wait for the lease:\n%s",
               b->stderr_);
    long sent = oidc() ? stat_of("token_held") - 1 : 0; /* by b meanwhile */
    long t0 = now_ms();
    sigkill(a);
    long took, refreshes;
    int failed;
    if (oidc()) {
      /* b takes the lease over and sends its own request (held too). */
      await_held(2, WFC__REFRESH_LEASE_MS + 5000);
      took = now_ms() - t0;
      hold(0);
      failed = finish(b, "refresh after the kill") != 0;
      /* a's request, its client gone, never reached the provider. */
      assert_int_equal(stat_of("token_dropped") - dropped, 1);
      refreshes = fidp_refreshes(&idp) - before;
    } else {
      failed = finish(b, "refresh after the kill") != 0;
      took = now_ms() - t0;
      token_delay(0, 0);
      refreshes = 1; /* the emulator went on with a's request: 2 */
    }
    assert_true(took < WFC__REFRESH_LEASE_MS);
    if (took > worst)
      worst = took;
    c.duplicates += sent;
    round_end(&c, failed, refreshes, 1);
  }
  rel_figure(&c, "takeover_ms_max=%ld lease_ms=%d", worst,
             WFC__REFRESH_LEASE_MS);
  report(&c);
}

static void test_foreign_host_lease(void **state) {
  (void)state;
  rel_counts c = {.test = "foreign_host_lease"};
  /* A holder on another host: its pid says nothing here, only the
   * expiry frees the lease. */
  const long ttl = 3000;
  wfc__store *st = store_open();
  long before = fidp_refreshes(&idp);
  assert_int_equal(
      wfc__store_lease_take(st, conn_id,
                            "00000000deadbeef.4242@another-host/"
                            "00000000-0000-4000-8000-000000000000/1",
                            ttl, NULL),
      0);
  long t0 = now_ms();
  wproc *p = spawn_refresh();
  if (!wproc_await_stderr(p, WAITING, 10000))
    fail_msg("the refresh did not wait for the lease:\n%s", p->stderr_);
  long early = fidp_refreshes(&idp) - before; /* while the lease holds */
  int failed = finish(p, "refresh") != 0;
  long took = now_ms() - t0;
  assert_true(took >= ttl - 50); /* not before the lease expired */
  assert_true(took < ttl + WFC__LEASE_POLL_MAX_MS + 5000);
  c.duplicates += early;
  round_end(&c, failed, fidp_refreshes(&idp) - before, 1);
  wfc__lease l;
  assert_int_equal(wfc__store_lease_get(st, conn_id, &l), WFC_ENOTFOUND);
  wfc__store_close(st);
  rel_figure(&c, "lease_ms=%ld refreshed_after_ms=%ld", ttl, took);
  report(&c);
}

#define REFRESHING "refreshing its access token" /* connmgr (info) */

/* Lets the provider finish a request whose client was killed: it goes on
 * with it (and rotates) as if the client were there. */
static void settle(void) {
  if (!oidc()) {
    tsys_sleep_ms(100); /* the emulator answers within a few ms */
    return;
  }
  long end = now_ms() + 10000;
  while (stat_of("token_in_flight") > 0 && now_ms() < end)
    tsys_sleep_ms(2);
}

/* Starts `wfc connection refresh` and waits until it starts the refresh
 * (its log says so, once it holds the lease). */
static wproc *spawn_refreshing(void) {
  wproc *p = spawn_refresh();
  if (!wproc_await_stderr(p, REFRESHING, 15000))
    fail_msg("no refresh started:\n%s", p->stderr_);
  return p;
}

/* The median time from the start of a refresh to the end of an
 * undisturbed `wfc connection refresh`, ms. */
static long refresh_span(void) {
  long d[5];
  for (int i = 0; i < 5; i++) {
    wproc *p = spawn_refreshing();
    long t0 = now_ms();
    assert_int_equal(finish(p, "refresh"), 0);
    d[i] = now_ms() - t0;
  }
  for (int i = 0; i < 5; i++)
    for (int j = i + 1; j < 5; j++)
      if (d[j] < d[i]) {
        long t = d[i];
        d[i] = d[j];
        d[j] = t;
      }
  return d[2];
}

static void test_sigkill_during_refresh(void **state) {
  (void)state;
  rel_counts c = {.test = "refresh_sigkill"};
  int n = rel_trials(20, 200);
  long span = refresh_span();
  rel_rng rng = {rel_seed()};
  int before_request = 0, in_window = 0, after_commit = 0;
  int lost_connections = 0, window_losses = 0;
  for (int t = 0; t < n; t++) {
    char *access0 = stored_access();
    long req0 = fidp_refreshes(&idp);
    wproc *p = spawn_refreshing();
    long us = (long)rel_rng_below(&rng, (uint32_t)(span * 1000 + 1));
    struct timespec ts = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&ts, NULL);
    sigkill(p);
    settle();
    /* Where the kill landed: before the provider decided the refresh,
     * after the new token was committed, or in between. */
    long reqs = fidp_refreshes(&idp) - req0;
    char *access1 = stored_access();
    int committed = strcmp(access0, access1) != 0;
    wfc__secret_free(access0);
    wfc__secret_free(access1);
    int phase = committed ? 2 : reqs == 0 ? 0 : 1;
    if (phase == 0)
      before_request++;
    else if (phase == 1)
      in_window++;
    else
      after_commit++;
    c.trials++;

    /* The next refresh tells whether the connection survived. */
    wproc *q = spawn_refresh();
    int code = wuser_finish(&cli, q);
    char qerr[1024];
    snprintf(qerr, sizeof qerr, "%.1000s", q->stderr_);
    free(q);
    char st[64], remedy[1024];
    state_of(st, sizeof st, remedy, sizeof remedy);
    if (code == 0 && strcmp(st, "connected") == 0)
      continue;
    lost_connections++;
    /* Lost in the window no client closes (the provider rotated, the
     * process died before the new token was written): a figure. Lost
     * anywhere else, or against the emulator, whose spent tokens stay
     * valid: lost. */
    if (phase == 1 && oidc())
      window_losses++;
    else
      c.lost++;
    /* It must say so, in words naming no provider it is not. */
    if (strcmp(st, "reauthorization_required") != 0 ||
        strstr(remedy, "Reauthorize") == NULL ||
        strstr(remedy, "Microsoft") != NULL || strstr(qerr, remedy) == NULL) {
      fprintf(stderr, "unclear: state %s, remedy \"%s\", stderr %s\n", st,
              remedy, qerr);
      c.unclear++;
    }
    fidp_wfc_connect(&idp, &cli, NICK, NICK);
  }
  rel_figure(&c,
             "span_ms=%ld killed_before_request=%d killed_in_window=%d "
             "killed_after_commit=%d connections_lost=%d window_losses=%d",
             span, before_request, in_window, after_commit, lost_connections,
             window_losses);
  report(&c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_refresh_together, connect_fresh),
      cmocka_unit_test_setup(test_refresh_race, connect_fresh),
      cmocka_unit_test_setup(test_watch_and_card, connect_fresh),
      cmocka_unit_test_setup(test_killed_holder, connect_fresh),
      cmocka_unit_test_setup(test_foreign_host_lease, connect_fresh),
      cmocka_unit_test_setup(test_sigkill_during_refresh, connect_fresh),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
