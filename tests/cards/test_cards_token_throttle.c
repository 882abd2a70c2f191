/* The identity platform throttles a refresh (429 or 503 with Retry-After,
 * in seconds or as an HTTP-date): until that time has passed, no card call
 * on the connection sends another token request - in this process (the
 * real plugin in the SDK runtime, its connection opened by the connection
 * manager from a store made by `wfc connection new`) nor in other
 * processes sharing the store (`wfc card run`, `wfc connection refresh`).
 * They fail at once with WFC_ETHROTTLED and a message that names the
 * throttling and when to run again (detail "retry_after_ms"); once the
 * time has passed, one refresh succeeds and the cards work again.
 * docs/connections-sdk.md, "Throttled refreshes". */
#define _POSIX_C_SOURCE 200809L /* nanosleep, gmtime_r */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "cards_test.h"
#include "reliability.h"
#include "wfc/connections.h"
#include "wfc_user.h"

#define ALICE    "alice@contoso.test"
#define ALICE_PW "Alice-Passw0rd!"
#define TOKEN    "/{tenant}/oauth2/v2.0/token"

static wuser u;
static wfc_connmgr *mgr;
static wfc_conn *conn; /* one reference, ours */

static int setup(void **state) {
  (void)state;
  fx = o365_fixture_new(NULL);
  if (fx == NULL || wuser_init(&u, "token-throttle") != 0)
    return -1;
  /* The emulator's own Graph throttling counts virtual time, which the
   * test moves: off, so that every 429 here is the token endpoint's. */
  long st = 0;
  json_object_put(o365_fixture_admin(
      fx, "POST", "/__emulator/throttle",
      "{\"concurrency\":0,\"requestsPerWindow\":0,\"windowSeconds\":600}",
      &st));
  return st / 100 == 2 ? 0 : -1;
}

static int down(void **state) {
  (void)state;
  if (conn != NULL)
    wfc_conn_release(conn);
  o365_fixture_close_connmgr(fx, mgr);
  int rc = o365_fixture_free(fx);
  if (wuser_cleanup(&u) != 0)
    rc = -1;
  return rc;
}

/* The connection, made once by `wfc connection new` and opened here. */
static void connect_once(void) {
  if (conn != NULL)
    return;
  rel_connect(u.bin, u.store, u.plugins, o365_fixture_url(fx), "alice", ALICE,
              ALICE_PW);
  wfc_connmgr_opts o = {sizeof o, .store_path = u.store};
  char err[512];
  if (wfc_connmgr_open(o365_fixture_runtime(fx), &o, &mgr, err, sizeof err))
    fail_msg("wfc_connmgr_open: %s", err);
  assert_int_equal(wfc_connmgr_open_conn(mgr, "alice", &conn), 0);
}

static long token_requests(void) {
  return o365_fixture_route_count(fx, "POST", TOKEN);
}

/* The emulator's clock past the access token's lifetime: the next Graph
 * request gets 401 and needs a refresh. */
static void expire_access_token(void) {
  long st = 0;
  json_object_put(o365_fixture_admin(fx, "POST", "/__emulator/time/advance",
                                     "{\"seconds\":5400}", &st));
  assert_int_equal(st, 200);
}

/* Wall-clock milliseconds (the SDK's clock in every process). */
static int64_t now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_REALTIME, &t);
  return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void sleep_until(int64_t at_ms) {
  for (int64_t left = at_ms - now_ms(); left > 0; left = at_ms - now_ms()) {
    struct timespec d = {left / 1000, (left % 1000) * 1000000};
    nanosleep(&d, NULL);
  }
}

/* One card call in this process; it must succeed. */
static void call_ok(void) {
  o365_outcome o;
  int rc = o365_fixture_run_on(fx, conn, "search_emails", "{}", &o);
  if (rc != 0)
    fail_msg("search_emails: %d %s", rc, o.message);
  o365_outcome_free(&o);
}

/* One card call in this process; it must fail throttled, saying so and
 * when, with retry_after_ms in the detail (at most max_ms). */
static void call_throttled(int64_t max_ms) {
  o365_outcome o;
  int rc = o365_fixture_run_on(fx, conn, "search_emails", "{}", &o);
  if (rc != WFC_ETHROTTLED)
    fail_msg("search_emails: %d %s", rc, o.message);
  ct_says(o.message, "the identity platform is throttling token requests");
  ct_says(o.message, "no new token is asked for before");
  int64_t ra = jnum(o.detail, "retry_after_ms");
  if (!(ra > 0 && ra <= max_ms))
    fail_msg("retry_after_ms %lld: %s %s", (long long)ra, o.message,
             o.detail ? json_object_to_json_string(o.detail) : "-");
  assert_null(rel_unclear(o.message));
  o365_outcome_free(&o);
}

/* `wfc ARGS` in another process on the store: it must fail, its error
 * containing says. */
static void process_fails(const char *const *args, const char *says) {
  wproc p;
  int code = wuser_run(&u, &p, args);
  assert_int_not_equal(code, 0);
  if (strstr(p.stderr_, says) == NULL)
    fail_msg("expected \"%s\" in: %s", says, p.stderr_);
}

static const char *const card_run[] = {
    "card", "run", "o365mail.search_emails", "--connection", "alice", "--input",
    "{}",   NULL};
static const char *const refresh[] = {"connection", "refresh", "alice", NULL};

/* Throttled with Retry-After: 5: 20 calls here and 3 card runs and a
 * forced refresh in other processes send no token request within the 5 s;
 * then one refresh succeeds, and the other processes use its token. */
static void retry_after_seconds_holds_across_calls(void **state) {
  (void)state;
  connect_once();
  call_ok(); /* the connection works */
  expire_access_token();
  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"POST\",\"path\":"
                                          "\"/*/oauth2/v2.0/token\","
                                          "\"status\":429,\"retryAfter\":5,"
                                          "\"count\":1}"),
                   0);
  long before = token_requests();
  int64_t t0 = now_ms();
  for (int i = 0; i < 20; i++)
    call_throttled(5000);
  assert_int_equal(token_requests(), before + 1);
  for (int i = 0; i < 3; i++)
    process_fails(card_run, "throttling token requests");
  process_fails(refresh,
                "the identity provider is throttling token requests for "
                "connection alice");
  /* All of it within the 5 s (else the checks below prove nothing). */
  assert_true(now_ms() - t0 < 4500);
  assert_int_equal(token_requests(), before + 1);

  sleep_until(t0 + 5100);
  call_ok();
  assert_int_equal(token_requests(), before + 2);
  wproc p;
  assert_int_equal(wuser_run(&u, &p, card_run), 0);
  assert_int_equal(token_requests(), before + 2);
  wuser_expect(&u, "alice", "connected", NULL, NULL, 0);
}

/* A 503 whose Retry-After is an HTTP-date holds the same way. */
static void retry_after_date_on_503(void **state) {
  (void)state;
  connect_once();
  expire_access_token();
  int64_t until = now_ms() / 1000 * 1000 + 5000; /* a whole second */
  time_t t = (time_t)(until / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char date[64], rule[256];
  strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  snprintf(rule, sizeof rule,
           "{\"method\":\"POST\",\"path\":\"/*/oauth2/v2.0/token\","
           "\"status\":503,\"retryAfter\":\"%s\",\"count\":1}",
           date);
  assert_int_equal(o365_fixture_fault(fx, rule), 0);
  long before = token_requests();
  o365_outcome o;
  assert_int_equal(o365_fixture_run_on(fx, conn, "search_emails", "{}", &o),
                   WFC_EREMOTE);
  ct_says(o.message, "no new token is asked for before");
  o365_outcome_free(&o);
  for (int i = 0; i < 5; i++)
    call_throttled(5000);
  process_fails(card_run, "throttling token requests");
  assert_true(now_ms() < until - 300);
  assert_int_equal(token_requests(), before + 1);

  sleep_until(until + 100);
  call_ok();
  assert_int_equal(token_requests(), before + 2);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(retry_after_seconds_holds_across_calls),
      cmocka_unit_test(retry_after_date_on_503),
  };
  return cmocka_run_group_tests(tests, setup, down);
}
