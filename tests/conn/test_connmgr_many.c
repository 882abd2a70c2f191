/* connmgr: 10,000 live connections in one process (issue 10, item 7). The
 * store is filled through the SDK's internal store API with 10,000 copies
 * of a connection authorized through the conntest plugin, each with its
 * own JWT-shaped access token (all sharing one long prefix, as a tenant's
 * tokens do) and refresh token; the manager opens every one (which holds
 * its tokens in the log's redaction table). Then a log line holding any
 * one of those tokens shows none of it, bare or glued to other text (no
 * pattern would catch it there: only the table), also after refreshes with
 * rotation while all 10,000 stay live; and the rotated-out ones leave.
 * What a refresh costs the manager's lease timer does not grow with the
 * number of connections; and many connections waiting at once for
 * another host's refresh leases each get their token when it is freed. */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "conn_util.h"
#include "connmgr.h"
#include "log.h"
#include "store.h"

#define MANY 10000

static char last[8192];

static void capture_sink(void *arg, int level, const char *line) {
  (void)arg;
  (void)level;
  snprintf(last, sizeof last, "%s", line);
}

/* Logs "probe: <text>" and returns what the log wrote after the tag. */
static const char *probe(const char *text) {
  last[0] = '\0';
  wfc__log(WFC_LOG_ERROR, "probe: %s", text);
  const char *p = strstr(last, "ERROR probe: ");
  assert_non_null(p);
  return p + 13;
}

/* Connection c's tokens of generation g: a JWT-shaped access token whose
 * first ~900 bytes are the same for every connection, and an opaque
 * refresh token. */
static void tokens(int c, int g, char *at, size_t atlen, char *rt,
                   size_t rtlen) {
  static const char claims[] =
      "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6IjEifQ."
      "eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20iLCJpc3MiOiJodHRwczov"
      "L2xvZ2luLm1pY3Jvc29mdG9ubGluZS5jb20vY29udG9zby92Mi4wIiwic2NwIjoiTWFp";
  uint32_t h = (uint32_t)c * 2654435761u ^ (uint32_t)g * 40503u;
  size_t o = 0;
  for (int i = 0; i < 5; i++)
    o += (size_t)snprintf(at + o, atlen - o, "%s", claims);
  snprintf(at + o, atlen - o, ".sig%05dg%03d%08xcanary", c, g, (unsigned)h);
  snprintf(rt, rtlen, "0.AX%08x-rt-%05d-g%03d-canary", (unsigned)(h * 7u), c,
           g);
}

static void connect_seed(fx *f) {
  op_res r;
  fx_authorize(f, "seed", NULL, "code=abc123", &r, NULL, NULL, 0);
  if (r.status != 0)
    fail_msg("authorize: %s", r.message);
  assert_string_equal(r.outcome, "connected");
  op_res_clear(&r);
}

/* n copies of the seed connection, "many-NNNNN", generation 0 tokens,
 * inserted with the internal store API in one transaction's worth of
 * calls (the manager's own store handle is another). */
static void fill(fx *f, int n) {
  wfc__store_opts so = {0};
  wfc__store *st = NULL;
  char err[256] = "", at[1024], rt[128], secrets[1400];
  wfc__conn_rec seed;
  memset(&seed, 0, sizeof seed);
  if (wfc__store_open_ex(f->store, &so, &st, err, sizeof err) != 0)
    fail_msg("store: %s", err);
  assert_int_equal(wfc__store_conn_get(st, "seed", &seed), 0);
  for (int c = 0; c < n; c++) {
    wfc__conn_rec r = seed;
    r.id[0] = '\0';
    snprintf(r.nickname, sizeof r.nickname, "many-%05d", c);
    tokens(c, 0, at, sizeof at, rt, sizeof rt);
    snprintf(secrets, sizeof secrets,
             "{\"credentials\":{\"access_token\":\"%s\",\"refresh_token\":"
             "\"%s\",\"expires_at\":4102444800}}",
             at, rt);
    int rc = wfc__store_conn_insert(st, &r, secrets);
    if (rc != 0)
      fail_msg("insert %d: %d %s", c, rc, wfc__store_last_error());
  }
  wfc__conn_rec_clear(&seed);
  wfc__store_close(st);
}

static void run_op(fx *f, int rc, op_res *r) {
  assert_int_equal(rc, 0);
  fx_run_until(f, &r->done);
  if (r->status != 0)
    fail_msg("operation: %s", r->message);
  op_res_clear(r);
}

/* Each connection's tokens of generation gen[c], in a line as bare words,
 * glued to text and back to back: all redacted, nothing of them shown. */
static void check_all(const int *gen) {
  static char at[1024], rt[128], line[3000];
  for (int c = 0; c < MANY; c++) {
    tokens(c, gen[c], at, sizeof at, rt, sizeof rt);
    snprintf(line, sizeof line, "%s x%sy %s%s", at, rt, rt, at);
    const char *out = probe(line);
    if (strcmp(out, "[REDACTED] x[REDACTED]y [REDACTED]") != 0)
      fail_msg("connection %d: its tokens show in the log: %.200s", c, out);
  }
}

static void ten_thousand_live_connections(void **state) {
  (void)state;
  fx f;
  op_res r;
  static wfc_conn *conns[MANY];
  static int gen[MANY];
  char at[1024], rt[128], body[1400], want[1400];
  wfc__log_secret_stats st;

  memset(&r, 0, sizeof r);
  /* Memory-backed when there is /dev/shm: the setup's 10,000 inserts are
   * 10,000 commits, each an fsync on a disk. */
  fx_up_in(&f, access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  connect_seed(&f);
  fill(&f, MANY);
  wfc__log_set_sink(capture_sink, NULL);

  for (int c = 0; c < MANY; c++) {
    char name[32];
    snprintf(name, sizeof name, "many-%05d", c);
    int rc = wfc_connmgr_open_conn(f.m, name, &conns[c]);
    if (rc != 0)
      fail_msg("open_conn %s: %d", name, rc);
  }
  check_all(gen);
  wfc__log_get_secret_stats(&st);
  assert_true(st.held >= 2 * MANY);

  /* Refreshes with rotation while every connection stays live: the new
   * pair is redacted, the old pair leaves the table (shown in clear). */
  uint64_t looks0 = wfc__connmgr_lease_looks(f.m);
  for (int k = 0; k < 50; k++) {
    int c = (k * 397) % MANY;
    char name[32];
    snprintf(name, sizeof name, "many-%05d", c);
    tokens(c, gen[c] + 1, at, sizeof at, rt, sizeof rt);
    snprintf(body, sizeof body,
             "{\"access_token\":\"%s\",\"refresh_token\":\"%s\","
             "\"expires_in\":3600}",
             at, rt);
    fx_token_route(&f, 200, body, 0);
    run_op(&f, wfc_connmgr_refresh(f.m, name, op_res_cb, &r), &r);
    gen[c]++;
    tokens(c, gen[c] - 1, at, sizeof at, rt, sizeof rt);
    snprintf(want, sizeof want, "%s %s", at, rt);
    assert_string_equal(probe(want), want);
  }
  /* Each refresh takes and releases its lease: the lease timer looks at a
   * few entries for it, not at each of the 10,000 (a walk of them all at
   * every arming made refresh cost grow with the connections). */
  uint64_t looks = wfc__connmgr_lease_looks(f.m) - looks0;
  if (looks > 50 * 64)
    fail_msg("the lease timer looked at %llu entries for 50 refreshes",
             (unsigned long long)looks);
  wfc__log_get_secret_stats(&st);
  assert_true(st.held >= 2 * MANY);
  assert_int_equal(st.evicted, 0);
  check_all(gen);

  for (int c = 0; c < MANY; c++)
    wfc_conn_release(conns[c]);
  wfc__log_set_sink(NULL, NULL);
  fx_down(&f);
  wfc__log_get_secret_stats(&st);
  assert_int_equal(st.held, 0);
}

static void set_flag(uv_timer_t *t) {
  *(int *)t->data = 1;
}

/* Runs f's loop for ms milliseconds. */
static void run_for(fx *f, unsigned ms) {
  int flag = 0;
  uv_timer_t t;
  uv_timer_init(&f->loop, &t);
  t.data = &flag;
  uv_timer_start(&t, set_flag, ms, 0);
  fx_run_until(f, &flag);
  uv_close((uv_handle_t *)&t, NULL);
  uv_run(&f->loop, UV_RUN_NOWAIT);
}

/* WAITS connections, each one's refresh lease held by a process on
 * another node (its expiry far off, so only its release frees it): a
 * refresh of each waits, polled by the lease timer at its own pace. The
 * leases are released a batch at a time, latest-started first: exactly
 * the refreshes of each batch end (each then takes the lease and asks
 * for its own token), the others keep waiting; at the end every one has
 * succeeded with one token request each. */
#define WAITS 64
#define BATCH 16
static void many_waits_on_other_hosts_leases(void **state) {
  (void)state;
  fx f;
  static op_res r[WAITS];
  static char ids[WAITS][64];
  const char *other = "0123456789abcdef.4242@another-host/boot/ns";
  wfc__store_opts so = {0};
  wfc__store *st = NULL;
  char err[256] = "";

  memset(r, 0, sizeof r);
  fx_up_in(&f, access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
  connect_seed(&f);
  fill(&f, WAITS);
  if (wfc__store_open_ex(f.store, &so, &st, err, sizeof err) != 0)
    fail_msg("store: %s", err);
  for (int c = 0; c < WAITS; c++) {
    wfc__conn_rec rec;
    char name[32];
    memset(&rec, 0, sizeof rec);
    snprintf(name, sizeof name, "many-%05d", c);
    assert_int_equal(wfc__store_conn_get(st, name, &rec), 0);
    snprintf(ids[c], sizeof ids[c], "%s", rec.id);
    wfc__conn_rec_clear(&rec);
    assert_int_equal(
        wfc__store_lease_take(st, ids[c], other, 10 * 60 * 1000, NULL), 0);
  }
  fx_token_route(&f, 200,
                 "{\"access_token\":\"at-many-waits-canary\","
                 "\"refresh_token\":\"rt-many-waits-canary\","
                 "\"expires_in\":3600}",
                 0);
  uint64_t req0 = fx_requests(&f);
  for (int c = 0; c < WAITS; c++) {
    char name[32];
    snprintf(name, sizeof name, "many-%05d", c);
    assert_int_equal(wfc_connmgr_refresh(f.m, name, op_res_cb, &r[c]), 0);
    if (c % 8 == 0)
      run_for(&f, 5); /* the waits start at different times */
  }
  run_for(&f, 300);
  for (int c = 0; c < WAITS; c++)
    if (r[c].done)
      fail_msg("refresh %d ended (%d: %s) while another host held its lease", c,
               r[c].status, r[c].message);
  assert_int_equal(fx_requests(&f) - req0, 0);

  for (int hi = WAITS; hi > 0; hi -= BATCH) {
    for (int c = hi - BATCH; c < hi; c++)
      assert_int_equal(wfc__store_lease_release(st, ids[c], other), 0);
    for (int c = hi - BATCH; c < hi; c++)
      fx_run_until(&f, &r[c].done);
    for (int c = 0; c < WAITS; c++) {
      if (c >= hi - BATCH && c < hi) {
        if (r[c].status != 0)
          fail_msg("refresh %d: %d %s", c, r[c].status, r[c].message);
      } else if (r[c].done && c < hi - BATCH) {
        fail_msg("refresh %d ended while its lease was still held", c);
      }
    }
  }
  assert_int_equal(fx_requests(&f) - req0, WAITS);
  for (int c = 0; c < WAITS; c++)
    op_res_clear(&r[c]);
  wfc__store_close(st);
  fx_down(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(ten_thousand_live_connections),
      cmocka_unit_test(many_waits_on_other_hosts_leases),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
