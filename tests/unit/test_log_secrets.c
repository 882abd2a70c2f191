/* log: the lifecycle of registered secrets - holds and releases as the
 * connection manager does them across many thousands of rotations, plain
 * registrations that nobody forgets (a plugin's, bounded), 10,000 live
 * connections' tokens sharing long prefixes all redacted exactly, and
 * secrets that overlap. The secure heap is in
 * test_log_heap.c (process-wide state). */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "log.h"
#include "wfc/error.h"

/* The last record, and how many WARN records mention the full table. */
static char last[1 << 16];
static int full_warnings;

static void capture_sink(void *arg, int level, const char *line) {
  (void)arg;
  snprintf(last, sizeof last, "%s", line);
  if (level == WFC_LOG_WARN && strstr(line, "secrets of live connections"))
    full_warnings++;
}

static int setup(void **state) {
  (void)state;
  last[0] = '\0';
  full_warnings = 0;
  wfc__log_set_sink(capture_sink, NULL);
  wfc__log_set_level(WFC_LOG_DEBUG);
  wfc__log_forget_all();
  return 0;
}

static int teardown(void **state) {
  (void)state;
  wfc__log_set_sink(NULL, NULL);
  wfc__log_forget_all();
  return 0;
}

/* The text of the last record after the timestamp and level tag. */
static const char *last_msg(void) {
  const char *p = strstr(last, " INFO ");
  assert_non_null(p);
  return p + 6;
}

/* A token of one kind ('A'ccess, 'R'efresh, 'I'd) for connection c,
 * generation g: fixed width, so no token is part of another. */
static void tok(char *out, size_t len, char kind, int c, int g) {
  uint32_t h =
      (uint32_t)(c * 2654435761u) ^ (uint32_t)(g * 40503u) ^ (uint32_t)kind;
  snprintf(out, len, "%c%05d.%06d-%08x-canary", kind, c, g, (unsigned)h);
}

#define CONNS     1000
#define ROTATIONS 10000

/* 1,000 connections, 10,000 refreshes with rotation round robin. Each
 * rotation does what the manager and a plugin do: the plugin registers
 * the new access, refresh and id tokens plainly (api->secret, never
 * forgotten), the manager holds the new pair, then releases the old pair.
 * Throughout, the live pairs stay held; at the end every live token is
 * redacted exactly, and the rotated-out ones (also their plain
 * registrations) no longer occupy slots: they appear in clear. The id
 * tokens nobody forgets are what gets evicted. */
static void rotations_keep_live_ones(void **state) {
  (void)state;
  static int gen[CONNS];
  char a[64], r[64], id[64], oa[64], orr[64];
  wfc__log_secret_stats st;

  for (int c = 0; c < CONNS; c++) {
    tok(a, sizeof a, 'A', c, 0);
    tok(r, sizeof r, 'R', c, 0);
    assert_int_equal(wfc__log_secret_hold(a), 0);
    assert_int_equal(wfc__log_secret_hold(r), 0);
  }
  for (int i = 0; i < ROTATIONS; i++) {
    int c = (i * 7) % CONNS, g = gen[c];
    tok(oa, sizeof oa, 'A', c, g);
    tok(orr, sizeof orr, 'R', c, g);
    tok(a, sizeof a, 'A', c, g + 1);
    tok(r, sizeof r, 'R', c, g + 1);
    tok(id, sizeof id, 'I', c, g + 1);
    /* The plugin, refreshing: the old refresh token it sends, the new
     * ones it got. */
    assert_int_equal(wfc__log_secret(orr), 0);
    assert_int_equal(wfc__log_secret(a), 0);
    assert_int_equal(wfc__log_secret(r), 0);
    assert_int_equal(wfc__log_secret(id), 0);
    /* The manager: new ones held before the old ones go. */
    assert_int_equal(wfc__log_secret_hold(a), 0);
    assert_int_equal(wfc__log_secret_hold(r), 0);
    wfc__log_secret_release(oa);
    wfc__log_secret_release(orr);
    gen[c] = g + 1;
    if (i % 1000 == 999) {
      wfc__log_get_secret_stats(&st);
      assert_int_equal(st.held, 2 * CONNS);
      assert_true(st.count - st.held <= WFC_LOG_MAX_PLAIN);
    }
  }
  wfc__log_get_secret_stats(&st);
  assert_int_equal(st.held, 2 * CONNS);
  /* 10,000 id tokens (plain, never forgotten) for WFC_LOG_MAX_PLAIN
   * plain-only slots: the oldest went. The plain-only slots were full
   * during the last rotation, whose holds then made two of them held. */
  assert_int_equal(st.count, 2 * CONNS + WFC_LOG_MAX_PLAIN - 2);
  assert_int_equal(st.evicted, ROTATIONS - (st.count - 2 * CONNS));
  assert_int_equal(full_warnings, 0);

  char want[256];
  for (int c = 0; c < CONNS; c++) {
    tok(a, sizeof a, 'A', c, gen[c]);
    tok(r, sizeof r, 'R', c, gen[c]);
    wfc__log(WFC_LOG_INFO, "conn %d uses %s and %s.", c, a, r);
    snprintf(want, sizeof want, "conn %d uses [REDACTED] and [REDACTED].", c);
    assert_string_equal(last_msg(), want);
    if (gen[c] > 0) {
      /* The pair before: released, with the plugin's registrations. */
      tok(oa, sizeof oa, 'A', c, gen[c] - 1);
      tok(orr, sizeof orr, 'R', c, gen[c] - 1);
      wfc__log(WFC_LOG_INFO, "old %s %s", oa, orr);
      snprintf(want, sizeof want, "old %s %s", oa, orr);
      assert_string_equal(last_msg(), want);
    }
  }
  /* The newest id token (plain, never forgotten) is still there; the
   * oldest was evicted. */
  tok(id, sizeof id, 'I', (9999 * 7) % CONNS, gen[(9999 * 7) % CONNS]);
  wfc__log(WFC_LOG_INFO, "id %s", id);
  assert_string_equal(last_msg(), "id [REDACTED]");
  tok(id, sizeof id, 'I', 0, 1);
  wfc__log(WFC_LOG_INFO, "id %s", id);
  snprintf(want, sizeof want, "id %s", id);
  assert_string_equal(last_msg(), want);

  /* Revoke / delete of every connection: nothing held is left. */
  for (int c = 0; c < CONNS; c++) {
    tok(a, sizeof a, 'A', c, gen[c]);
    tok(r, sizeof r, 'R', c, gen[c]);
    wfc__log_secret_release(a);
    wfc__log_secret_release(r);
  }
  wfc__log_get_secret_stats(&st);
  assert_int_equal(st.held, 0);
  assert_int_equal(st.count, WFC_LOG_MAX_PLAIN - 2);
}

/* A refresh token the endpoint did not rotate: held by the new pair before
 * the old pair is released, so it stays (and stays redacted). */
static void unchanged_value_survives_rotation(void **state) {
  (void)state;
  assert_int_equal(wfc__log_secret_hold("rt-same-canary"), 0);
  assert_int_equal(wfc__log_secret_hold("at-old-canary"), 0);
  assert_int_equal(wfc__log_secret_hold("rt-same-canary"), 0);
  assert_int_equal(wfc__log_secret_hold("at-new-canary"), 0);
  wfc__log_secret_release("at-old-canary");
  wfc__log_secret_release("rt-same-canary");
  wfc__log(WFC_LOG_INFO, "rt-same-canary at-new-canary at-old-canary");
  assert_string_equal(last_msg(), "[REDACTED] [REDACTED] at-old-canary");
  assert_int_equal(wfc__log_secret_count(), 2);
}

/* Plain and held registrations of one value: a plain forget does not drop
 * a held value; a release of a plain-only value does nothing; the last
 * release drops the plain ones too. */
static void plain_and_held(void **state) {
  (void)state;
  wfc__log_secret_stats st;

  assert_int_equal(wfc__log_secret("both-canary"), 0);
  assert_int_equal(wfc__log_secret("both-canary"), 0);
  assert_int_equal(wfc__log_secret_hold("both-canary"), 0);
  wfc__log_forget_secret("both-canary");
  wfc__log_forget_secret("both-canary");
  wfc__log_forget_secret("both-canary"); /* one too many: no effect */
  wfc__log(WFC_LOG_INFO, "x both-canary");
  assert_string_equal(last_msg(), "x [REDACTED]");

  assert_int_equal(wfc__log_secret("plain-canary"), 0);
  wfc__log_secret_release("plain-canary");
  wfc__log(WFC_LOG_INFO, "y plain-canary");
  assert_string_equal(last_msg(), "y [REDACTED]");

  assert_int_equal(wfc__log_secret("both-canary"), 0);
  wfc__log_secret_release("both-canary");
  wfc__log(WFC_LOG_INFO, "z both-canary");
  assert_string_equal(last_msg(), "z both-canary");
  wfc__log_get_secret_stats(&st);
  assert_int_equal(st.count, 1);
  assert_int_equal(st.held, 0);
  assert_int_equal(wfc__log_secret_hold("abc"), WFC_EINVAL);
  assert_int_equal(wfc__log_secret_hold(NULL), WFC_EINVAL);
  wfc__log_secret_release(NULL);
}

#define MANY 10000 /* connections, two held tokens each */

/* A JWT-shaped token for connection c: every one starts with the same
 * 600 bytes (one issuer's header and claims, as real tokens of a tenant
 * do) and differs only in its last part, the signature. */
static void jwt(char *out, size_t len, char kind, int c) {
  static const char head[] = "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiIsImtpZCI6Ij"
                             "EifQ.eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29m";
  size_t o = 0;
  for (int i = 0; i < 6; i++) /* 6 * 100 bytes of shared prefix */
    o += (size_t)snprintf(out + o, len - o, "%.100s", head);
  uint32_t h = (uint32_t)c * 2654435761u ^ (uint32_t)kind;
  snprintf(out + o, len - o, ".%c%05d-sig-%08x%08x", kind, c, (unsigned)h,
           (unsigned)(h * 40503u));
}

/* 10,000 live connections (20,000 held tokens sharing long prefixes) and
 * more plain one-off values than WFC_LOG_MAX_PLAIN: no held token is ever
 * evicted, every one is redacted exactly wherever it appears in a line,
 * only plain-only values make room, and nothing warns. */
static void held_never_evicted(void **state) {
  (void)state;
  static char a[800], r[800], line[4096], want[4096];
  char v[64];
  wfc__log_secret_stats st;

  assert_int_equal(wfc__log_secret("plain-one-canary"), 0);
  for (int c = 0; c < MANY; c++) {
    jwt(a, sizeof a, 'A', c);
    jwt(r, sizeof r, 'R', c);
    assert_int_equal(wfc__log_secret_hold(a), 0);
    assert_int_equal(wfc__log_secret_hold(r), 0);
  }
  for (int i = 0; i < WFC_LOG_MAX_PLAIN + 10; i++) {
    snprintf(v, sizeof v, "plain-%06d-canary", i);
    assert_int_equal(wfc__log_secret(v), 0);
  }
  wfc__log_get_secret_stats(&st);
  assert_int_equal(st.held, 2 * MANY);
  assert_int_equal(st.count, 2 * MANY + WFC_LOG_MAX_PLAIN);
  assert_int_equal(st.evicted, 11); /* "plain-one-canary" first */
  assert_int_equal(full_warnings, 0);

  for (int c = 0; c < MANY; c++) {
    jwt(a, sizeof a, 'A', c);
    jwt(r, sizeof r, 'R', c);
    /* Alone, glued to words, twice, and the two back to back. */
    snprintf(line, sizeof line, "%s x%sy %s%s %s", a, r, a, r, a);
    wfc__log(WFC_LOG_INFO, "%s", line);
    assert_string_equal(last_msg(),
                        "[REDACTED] x[REDACTED]y [REDACTED] [REDACTED]");
  }
  /* A token's shared prefix alone, or one cut short, is not a secret. */
  jwt(a, sizeof a, 'A', 42);
  a[strlen(a) - 1] = '\0';
  snprintf(want, sizeof want, "cut %s", a);
  wfc__log(WFC_LOG_INFO, "cut %s", a);
  assert_string_equal(last_msg(), want);
  wfc__log(WFC_LOG_INFO,
           "plain-000009-canary plain-000010-canary plain-one-canary");
  assert_string_equal(last_msg(),
                      "plain-000009-canary [REDACTED] plain-one-canary");

  /* Released ones leave; the rest stay. */
  for (int c = 0; c < MANY; c += 2) {
    jwt(a, sizeof a, 'A', c);
    wfc__log_secret_release(a);
  }
  jwt(a, sizeof a, 'A', 0);
  jwt(r, sizeof r, 'R', 0);
  snprintf(want, sizeof want, "%s [REDACTED]", a);
  wfc__log(WFC_LOG_INFO, "%s %s", a, r);
  assert_string_equal(last_msg(), want);
  wfc__log_get_secret_stats(&st);
  assert_int_equal(st.held, 2 * MANY - MANY / 2);
}

/* Secrets that are parts of each other, overlap, or sit at the ends of a
 * record: every occurrence of every one, long (indexed by their end) and
 * short (by their start) alike. */
static void overlaps_and_edges(void **state) {
  (void)state;
  assert_int_equal(wfc__log_secret_hold("0123456789abcdefXYZ"), 0); /* long */
  assert_int_equal(wfc__log_secret_hold("456789abcdefXYZ"), 0);     /* short */
  assert_int_equal(wfc__log_secret_hold("zzzz0123456789abcdef"), 0);
  wfc__log(WFC_LOG_INFO, "0123456789abcdefXYZ");
  assert_string_equal(last_msg(), "[REDACTED]");
  wfc__log(WFC_LOG_INFO, "..456789abcdefXYZ..");
  assert_string_equal(last_msg(), "..[REDACTED]..");
  /* "zzzz0123456789abcdef" and "0123456789abcdefXYZ" overlap: one run. */
  wfc__log(WFC_LOG_INFO, "a zzzz0123456789abcdefXYZ b");
  assert_string_equal(last_msg(), "a [REDACTED] b");
  wfc__log(WFC_LOG_INFO, "0123456789abcdefXY 123456789abcdefXYZ");
  assert_string_equal(last_msg(), "0123456789abcdefXY 123[REDACTED]");
}

int main(void) {
  setenv("WFC_LOG", "debug", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(rotations_keep_live_ones, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(unchanged_value_survives_rotation, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(plain_and_held, setup, teardown),
      cmocka_unit_test_setup_teardown(held_never_evicted, setup, teardown),
      cmocka_unit_test_setup_teardown(overlaps_and_edges, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
