/* connmgr: the log's redaction table follows the connections' tokens -
 * after many refreshes with rotation it holds only the live pair of each
 * connection in use; reauthorize, revoke and delete release the old ones
 * (also the plugin's own registrations of them), and the live ones are
 * redacted in every log line. */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn_util.h"
#include "log.h"

static char last[4096];

static void capture_sink(void *arg, int level, const char *line) {
  (void)arg;
  (void)level;
  snprintf(last, sizeof last, "%s", line);
}

/* Logs "probe: <a> <b>" and returns what the log wrote after the tag. */
static const char *probe(const char *a, const char *b) {
  last[0] = '\0';
  wfc__log(WFC_LOG_ERROR, "probe: %s %s", a, b);
  const char *p = strstr(last, "ERROR probe: ");
  assert_non_null(p);
  return p + 13;
}

static void tokens(int i, char *at, char *rt, char *body, size_t len) {
  snprintf(at, 32, "at-%05d-canary-5e1d", i);
  snprintf(rt, 32, "rt-%05d-canary-5e1d", i);
  snprintf(body, len,
           "{\"access_token\":\"%s\",\"refresh_token\":\"%s\","
           "\"expires_in\":3600}",
           at, rt);
}

static void run_op(fx *f, int rc, op_res *r) {
  assert_int_equal(rc, 0);
  fx_run_until(f, &r->done);
  if (r->status != 0)
    fail_msg("operation: %s", r->message);
  op_res_clear(r);
}

static void connect_as(fx *f, const char *nick) {
  op_res r;
  fx_authorize(f, nick, NULL, "code=abc123", &r, NULL, NULL, 0);
  if (r.status != 0)
    fail_msg("authorize: %s", r.message);
  assert_string_equal(r.outcome, "connected");
  op_res_clear(&r);
}

#define REFRESHES 300

static void rotations_leave_only_live_tokens(void **state) {
  (void)state;
  fx f;
  op_res r;
  char at[32], rt[32], oat[32], ort[32], body[256], want[128];
  wfc__log_secret_stats st, st0;

  memset(&r, 0, sizeof r);
  fx_up(&f);
  wfc__log_set_sink(capture_sink, NULL);
  connect_as(&f, "work");
  connect_as(&f, "home");

  /* First use of both: each holds its pair. */
  tokens(0, at, rt, body, sizeof body);
  fx_token_route(&f, 200, body, 0);
  run_op(&f, wfc_connmgr_refresh(f.m, "work", op_res_cb, &r), &r);
  tokens(1, at, rt, body, sizeof body);
  fx_token_route(&f, 200, body, 0);
  run_op(&f, wfc_connmgr_refresh(f.m, "home", op_res_cb, &r), &r);
  wfc__log_get_secret_stats(&st0);
  assert_int_equal(st0.held, 4);

  /* Refreshes with rotation of "work": the plugin registers what it gets
   * (api->secret), the manager holds the new pair and releases the old. */
  for (int i = 2; i < REFRESHES + 2; i++) {
    tokens(i, at, rt, body, sizeof body);
    fx_token_route(&f, 200, body, 0);
    run_op(&f, wfc_connmgr_refresh(f.m, "work", op_res_cb, &r), &r);
    if (i % 50 == 0) {
      wfc__log_get_secret_stats(&st);
      assert_int_equal(st.held, 4);
      assert_int_equal(st.count, st0.count);
    }
  }
  wfc__log_get_secret_stats(&st);
  assert_int_equal(st.held, 4);
  assert_int_equal(st.count, st0.count);
  assert_int_equal(st.evicted, 0);
  assert_string_equal(probe(at, rt), "[REDACTED] [REDACTED]");
  tokens(REFRESHES, oat, ort, body, sizeof body);
  snprintf(want, sizeof want, "%s %s", oat, ort);
  assert_string_equal(probe(oat, ort), want);
  tokens(1, oat, ort, body, sizeof body); /* "home" is live */
  assert_string_equal(probe(oat, ort), "[REDACTED] [REDACTED]");

  /* Reauthorize "work": the new grant's pair replaces the old one at once. */
  char nat[32], nrt[32];
  tokens(90000, nat, nrt, body, sizeof body);
  fx_token_route(&f, 200, body, 0);
  fx_authorize(&f, NULL, "work", "code=again", &r, NULL, NULL, 0);
  assert_int_equal(r.status, 0);
  op_res_clear(&r);
  wfc__log_get_secret_stats(&st);
  assert_int_equal(st.held, 4);
  assert_string_equal(probe(nat, nrt), "[REDACTED] [REDACTED]");
  snprintf(want, sizeof want, "%s %s", at, rt);
  assert_string_equal(probe(at, rt), want);

  /* Revoke "work", delete "home": nothing held, their tokens gone. */
  run_op(&f, wfc_connmgr_revoke(f.m, "work", op_res_cb, &r), &r);
  wfc__log_get_secret_stats(&st);
  assert_int_equal(st.held, 2);
  snprintf(want, sizeof want, "%s %s", nat, nrt);
  assert_string_equal(probe(nat, nrt), want);
  run_op(&f, wfc_connmgr_delete(f.m, "home", op_res_cb, &r), &r);
  wfc__log_get_secret_stats(&st);
  assert_int_equal(st.held, 0);
  snprintf(want, sizeof want, "%s %s", oat, ort);
  assert_string_equal(probe(oat, ort), want);

  wfc__log_set_sink(NULL, NULL);
  fx_down(&f);
  /* Closing released the rest. */
  wfc__log_get_secret_stats(&st);
  assert_int_equal(st.held, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(rotations_leave_only_live_tokens),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
