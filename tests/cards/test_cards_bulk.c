/* Bulk work on one mailbox under Graph's throttling, through the real
 * runtime and plugin against the emulator: 200 card runs started at once
 * (150 reads and updates, 50 sends with distinct idempotency keys).
 *   - With Graph's limits (4 concurrent per app + mailbox): every run
 *     succeeds, the emulator answered no 429 (the plugin's per-mailbox gate
 *     keeps it under the limit), exactly 50 messages went out.
 *   - With the window lowered so that 429s cannot be avoided: every run
 *     still succeeds after waiting Retry-After, and exactly 50 messages go
 *     out (none lost, none twice). */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "cards_test.h"

#define N_RUNS  200
#define N_SENDS 50
#define USER    "alice@contoso.test"

static int setup(void **state) {
  (void)state;
  return ct_up(NULL, NULL);
}

/* One run of the batch: its outcome, filled in by on_done. */
typedef struct bulk_run {
  int done;
  int status;
  char message[256];
} bulk_run;

typedef struct bulk {
  bulk_run runs[N_RUNS];
  int pending;
} bulk;

static bulk *current;

static void on_done(void *arg, wfc_call *call, const wfc_outcome *o) {
  bulk_run *r = arg;
  (void)call;
  r->done = 1;
  r->status = o->status;
  snprintf(r->message, sizeof r->message, "%s", o->message ? o->message : "");
  current->pending--;
}

/* Three messages injected into alice's inbox for the reads and updates. */
static int inbox_ids(char ids[][256], int max) {
  int n = 0;
  for (; n < max; n++) {
    char *id = o365_fixture_inject(
        fx, USER,
        "{\"subject\":\"bulk target\",\"from\":\"bob@contoso.test\","
        "\"toRecipients\":[\"alice@contoso.test\"],\"body\":\"x\"}");
    if (id == NULL)
      break;
    snprintf(ids[n], 256, "%s", id);
    free(id);
  }
  return n;
}

/* Starts all N_RUNS runs before running the loop once, then runs the loop
 * until every one has completed. tag makes the idempotency keys and
 * subjects of this phase distinct. Returns the elapsed milliseconds. */
static uint64_t run_batch(bulk *b, const char *tag) {
  char ids[3][256];
  assert_int_equal(inbox_ids(ids, 3), 3);
  memset(b, 0, sizeof *b);
  current = b;
  wfc_runtime *rt = o365_fixture_runtime(fx);
  uv_loop_t *loop = o365_fixture_loop(fx);
  uv_update_time(loop);
  uint64_t t0 = uv_now(loop);
  for (int i = 0; i < N_RUNS; i++) {
    char in[1024];
    const char *card;
    if (i % 4 == 3) { /* 50 sends */
      card = "send_email";
      snprintf(in, sizeof in,
               "{\"to\":[\"bob@contoso.test\"],\"subject\":\"bulk %s %d\","
               "\"body\":\"n %d\",\"idempotency_key\":\"bulk-%s-%d\"}",
               tag, i, i, tag, i);
    } else if (i % 2 == 0) { /* 100 reads */
      card = "get_message";
      snprintf(in, sizeof in, "{\"message_id\":\"%s\"}", ids[i % 3]);
    } else { /* 50 updates */
      card = "mark_read";
      snprintf(in, sizeof in, "{\"message_id\":\"%s\",\"read\":%s}", ids[i % 3],
               i % 3 ? "true" : "false");
    }
    json_object *input = json_tokener_parse(in);
    assert_non_null(input);
    wfc_invoke how = {sizeof how, .conn = alice, .on_done = on_done,
                      .arg = &b->runs[i]};
    int rc = wfc_runtime_invoke(rt, card, input, &how, NULL);
    json_object_put(input);
    assert_int_equal(rc, 0);
    b->pending++;
  }
  while (b->pending > 0)
    uv_run(loop, UV_RUN_ONCE);
  uv_update_time(loop);
  current = NULL;
  return uv_now(loop) - t0;
}

static void assert_all_ok(const bulk *b) {
  int failed = 0;
  for (int i = 0; i < N_RUNS; i++) {
    assert_true(b->runs[i].done);
    if (b->runs[i].status != 0) {
      fprintf(stderr, "run %d: %d %s\n", i, b->runs[i].status,
              b->runs[i].message);
      failed++;
    }
  }
  assert_int_equal(failed, 0);
}

/* Sent copies of this phase: each subject exactly once. */
static void assert_sent_once(const char *tag) {
  long st = 0;
  json_object *j = o365_fixture_admin(
      fx, "GET", "/__emulator/mail/" USER "/sent", NULL, &st);
  assert_int_equal(st, 200);
  json_object *value = NULL;
  assert_true(json_object_object_get_ex(j, "value", &value));
  int seen[N_RUNS] = {0};
  char prefix[64];
  int plen = snprintf(prefix, sizeof prefix, "bulk %s ", tag);
  for (size_t i = 0; i < json_object_array_length(value); i++) {
    const char *s = jstr(json_object_array_get_idx(value, i), "subject");
    if (s != NULL && strncmp(s, prefix, (size_t)plen) == 0) {
      int n = atoi(s + plen);
      assert_true(n >= 0 && n < N_RUNS && n % 4 == 3);
      seen[n]++;
    }
  }
  json_object_put(j);
  for (int i = 3; i < N_RUNS; i += 4) {
    if (seen[i] != 1)
      fprintf(stderr, "bulk %s %d sent %d times\n", tag, i, seen[i]);
    assert_int_equal(seen[i], 1);
  }
}

/* One phase: the batch of N_RUNS runs tagged tag, every run succeeded,
 * N_SENDS messages went out, each once. What it took goes to *reqs (Graph
 * requests) and *n429 (of them answered 429). */
static void run_phase(const char *tag, long *reqs, long *n429) {
  long sent = o365_fixture_sent_count(fx, USER);
  long req0 = o365_fixture_graph_requests(fx);
  long t429 = o365_fixture_status_count(fx, 429);
  assert_true(sent >= 0 && req0 >= 0 && t429 >= 0);
  bulk *b = calloc(1, sizeof *b);
  assert_non_null(b);
  uint64_t ms = run_batch(b, tag);
  assert_all_ok(b);
  free(b);
  *reqs = o365_fixture_graph_requests(fx) - req0;
  *n429 = o365_fixture_status_count(fx, 429) - t429;
  fprintf(stderr,
          "phase %s: %d runs, %ld Graph requests, %ld answered 429, %llu ms\n",
          tag, N_RUNS, *reqs, *n429, (unsigned long long)ms);
  /* Nothing lost, nothing sent twice. */
  assert_int_equal(o365_fixture_sent_count(fx, USER), sent + N_SENDS);
  assert_sent_once(tag);
}

static void test_bulk_no_avoidable_429(void **state) {
  (void)state;
  long reqs = 0, n429 = 0;
  run_phase("p1", &reqs, &n429);
  /* 150 single-request cards + 50 sends (check + sendMail). */
  assert_true(reqs >= N_RUNS + N_SENDS);
  assert_int_equal(n429, 0);
}

static void test_bulk_unavoidable_429_loses_nothing(void **state) {
  (void)state;
  /* 100 requests per 1-second window: ~250 requests need at least three
   * windows, so the emulator must answer 429 (Retry-After: the rest of
   * the window, at most 1 s) and the plugin must wait and retry. */
  long st = 0;
  json_object_put(o365_fixture_admin(
      fx, "POST", "/__emulator/throttle",
      "{\"concurrency\":4,\"requestsPerWindow\":100,\"windowSeconds\":1}",
      &st));
  assert_int_equal(st / 100, 2);
  long reqs = 0, n429 = 0;
  run_phase("p2", &reqs, &n429);
  assert_true(n429 > 0);
  json_object_put(o365_fixture_admin(
      fx, "POST", "/__emulator/throttle",
      "{\"concurrency\":4,\"requestsPerWindow\":10000,\"windowSeconds\":600}",
      &st));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bulk_no_avoidable_429),
      cmocka_unit_test(test_bulk_unavoidable_429_loses_nothing),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
