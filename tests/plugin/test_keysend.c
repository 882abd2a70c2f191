/* A keyed send (plugin/keysend.h) against the fake host, with and without
 * the host's idempotency claims (ABI 1.3):
 *   - a host of ABI 1.2 (its wfc_host_api ends before claim): the plugin
 *     checks WFC_API_HAS(api, claim_release) and never reaches the claim
 *     members beyond the table's size (here set to a trap), and the send
 *     goes on guarded by the marker check alone (send, reply);
 *   - a 1.3 host: a claim held by another run fails the run with
 *     WFC_EBUSY and a recorded outcome is reported deduplicated, both
 *     without a Graph request; a claim won is followed by the marker check
 *     and the send, and the output is recorded with claim_sent. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "cards.h"
#include "entry.h"
#include "fake_host.h"
#include "graph.h"

#define GRAPH "https://graph.test/v1.0"

static wfc_host_api host; /* the table the plugin sees (o365_api) */
static struct {
  int claims, sents, releases;
  int answer; /* WFC_CLAIM_* claim answers */
  int fail;   /* claims answered WFC_ESTORE first (the store down) */
  char recorded[512];
  int nothing_sent;
} C;

static int trap_claim(wfc_call *call, const char *key, uint32_t ttl_ms,
                      wfc_claim *out) {
  (void)call, (void)key, (void)ttl_ms, (void)out;
  fail_msg("claim called on a host whose table ends before it");
  return 0;
}

static int f_claim(wfc_call *call, const char *key, uint32_t ttl_ms,
                   wfc_claim *out) {
  (void)call, (void)ttl_ms;
  C.claims++;
  assert_non_null(strstr(key, "o365mail\n"));
  memset(out, 0, sizeof *out);
  if (C.fail > 0) {
    C.fail--;
    return WFC_ESTORE;
  }
  out->state = C.answer;
  if (C.answer == WFC_CLAIM_HELD)
    out->until_ms = fake_now_ms() + 60000;
  if (C.answer == WFC_CLAIM_SENT)
    out->outcome = json_tokener_parse(
        "{\"sent\":true,\"internet_message_id\":\"<recorded@x>\"}");
  return 0;
}

static int f_claim_sent(wfc_call *call, const char *key,
                        struct json_object *outcome) {
  (void)call, (void)key;
  C.sents++;
  snprintf(C.recorded, sizeof C.recorded, "%s",
           json_object_to_json_string_ext(outcome, JSON_C_TO_STRING_PLAIN));
  return 0;
}

static int f_claim_release(wfc_call *call, const char *key, int nothing_sent) {
  (void)call, (void)key;
  C.releases++;
  C.nothing_sent = nothing_sent;
  return 0;
}

/* The fake host as ABI 1.2 (old != 0: the table ends before claim) or
 * 1.3 with claims answering answer. */
static void host_up(int old, int answer) {
  fake_reset();
  memset(&C, 0, sizeof C);
  host = *fake_api();
  C.answer = answer;
  if (old) {
    host.size = offsetof(wfc_host_api, claim);
    host.abi_minor = 2;
    /* Beyond the size: whatever is there must never be called. */
    host.claim = trap_claim;
  } else {
    host.claim = f_claim;
    host.claim_sent = f_claim_sent;
    host.claim_release = f_claim_release;
  }
  o365_api = &host;
}

static const wfc_card_desc *card(const char *id) {
  for (size_t i = 0; o365_cards[i] != NULL; i++)
    if (strcmp(o365_cards[i]->id, id) == 0)
      return o365_cards[i];
  fail_msg("no card %s", id);
  return NULL;
}

/* Runs card id with input (JSON text) to its end; the call (caller frees
 * it and conn). */
static wfc_call *run(const char *id, const char *input, wfc_conn **conn) {
  *conn = fake_conn_new(json_tokener_parse("{\"graph_url\":\"" GRAPH "\"}"),
                        "TOKEN-A");
  wfc_call *call = fake_call_new(json_tokener_parse(input), *conn);
  assert_int_equal(card(id)->invoke(call), 0);
  fake_run();
  assert_int_equal(call->done + call->failed, 1);
  return call;
}

static void done(wfc_call *call, wfc_conn *conn) {
  fake_call_free(call);
  fake_conn_free(conn);
  o365_graph_shutdown();
  fake_teardown();
}

static int jflag(json_object *o, const char *k) {
  json_object *v = NULL;
  return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

/* The marker look-up, then the send with the marker in its message. */
static void expect_check_then_send(const char *send_path) {
  assert_int_equal(fake_http_count(), 2);
  const fake_req *look = fake_http_req(0), *send = fake_http_req(1);
  assert_string_equal(look->method, "GET");
  assert_non_null(strstr(look->url, "internetMessageId"));
  assert_string_equal(send->method, "POST");
  assert_non_null(strstr(send->url, send_path));
  json_object *b = json_tokener_parse(send->body), *m = NULL, *v = NULL;
  assert_true(json_object_object_get_ex(b, "message", &m));
  assert_true(json_object_object_get_ex(m, "internetMessageId", &v));
  assert_non_null(strstr(json_object_get_string(v), "@wfc.idempotency>"));
  json_object_put(b);
}

/* One case: the host (ABI 1.2 when old, else 1.3 with claims answering
 * answer), what Graph answers (send_status 0: nothing is pushed, no
 * request may be made; else the marker look-up finds none and the send
 * answers send_status with send_body), and the card run on input. case_up
 * runs it to its end before the test; case_down frees it. */
typedef struct kcase {
  int old, answer;
  int store_down;        /* claims that fail first (WFC_ESTORE) */
  const char *look_body; /* the marker look-up's answer (default: none) */
  unsigned send_status;
  const char *send_body;
  const char *card, *input;
  wfc_call *call; /* the run (case_up .. case_down) */
  wfc_conn *conn;
} kcase;

static int case_up(void **state) {
  kcase *k = *state;
  host_up(k->old, k->answer);
  C.fail = k->store_down;
  if (k->send_status != 0 || k->look_body != NULL)
    fake_http_push(200, NULL, k->look_body ? k->look_body : "{\"value\":[]}");
  if (k->send_status != 0)
    fake_http_push(k->send_status, NULL, k->send_body ? k->send_body : "");
  k->call = run(k->card, k->input, &k->conn);
  return 0;
}

static int case_down(void **state) {
  kcase *k = *state;
  done(k->call, k->conn);
  return 0;
}

static void old_host_send_uses_marker_only(void **state) {
  wfc_call *call = ((kcase *)*state)->call;
  if (call->failed)
    fail_msg("%s", call->message);
  assert_true(jflag(call->output, "sent"));
  assert_false(jflag(call->output, "deduplicated"));
  expect_check_then_send("/me/sendMail");
  /* Not a store failure: nothing logged about claims. */
  assert_null(strstr(fake_log(), "claim unavailable"));
}

static void old_host_reply_uses_marker_only(void **state) {
  wfc_call *call = ((kcase *)*state)->call;
  if (call->failed)
    fail_msg("%s", call->message);
  assert_true(jflag(call->output, "sent"));
  expect_check_then_send("/me/messages/AAMk1/reply");
}

static void held_claim_fails_busy_without_requests(void **state) {
  wfc_call *call = ((kcase *)*state)->call;
  assert_int_equal(call->failed, 1);
  assert_int_equal(call->fail_code, WFC_EBUSY);
  assert_non_null(strstr(call->message, "another run is sending this message"));
  assert_int_equal(fake_http_count(), 0);
  assert_int_equal(C.claims, 1);
  assert_int_equal(C.sents + C.releases, 0); /* not ours to end */
}

static void recorded_outcome_is_deduplicated(void **state) {
  wfc_call *call = ((kcase *)*state)->call;
  assert_int_equal(call->done, 1);
  assert_true(jflag(call->output, "deduplicated"));
  assert_int_equal(fake_http_count(), 0);
}

static void won_claim_checks_sends_and_records(void **state) {
  wfc_call *call = ((kcase *)*state)->call;
  if (call->failed)
    fail_msg("%s", call->message);
  expect_check_then_send("/me/messages/AAMk4/forward");
  assert_int_equal(C.sents, 1);
  assert_int_equal(C.releases, 0);
  assert_non_null(strstr(C.recorded, "\"sent\":true"));
  assert_null(strstr(C.recorded, "deduplicated"));
}

/* Graph refuses the send (400): the claim is released as nothing sent. */
static void refused_send_releases_the_claim(void **state) {
  wfc_call *call = ((kcase *)*state)->call;
  assert_int_equal(call->failed, 1);
  assert_int_equal(C.sents, 0);
  assert_int_equal(C.releases, 1);
  assert_int_equal(C.nothing_sent, 1);
}

/* The store failed the claim at the start (a database restarting): the
 * marker check alone decides, and finds the message an earlier run sent
 * (its claim outcome never recorded: it was cut after its send). At the
 * end, the store answering again, the run claims the key and records the
 * outcome, so that later runs learn it without the mailbox. */
static void unclaimed_dedup_records_the_outcome(void **state) {
  wfc_call *call = ((kcase *)*state)->call;
  if (call->failed)
    fail_msg("%s", call->message);
  assert_true(jflag(call->output, "deduplicated"));
  assert_int_equal(fake_http_count(), 1); /* the look-up, no send */
  assert_non_null(strstr(fake_log(), "claim unavailable"));
  assert_int_equal(C.claims, 2);
  assert_int_equal(C.sents, 1);
  assert_non_null(strstr(C.recorded, "\"sent\":true"));
  assert_null(strstr(C.recorded, "deduplicated"));
}

/* The same when the store is still down at the end: nothing recorded,
 * nothing released (the next claimant's marker check settles it). */
static void unclaimed_store_still_down_records_nothing(void **state) {
  wfc_call *call = ((kcase *)*state)->call;
  if (call->failed)
    fail_msg("%s", call->message);
  expect_check_then_send("/me/sendMail");
  assert_int_equal(C.claims, 2);
  assert_int_equal(C.sents + C.releases, 0);
}

/* test, run after case_up on the case the designated initializers that
 * follow give (a compound literal: it lives as long as main); what
 * cmocka_unit_test_prestate_setup_teardown gives, whose arguments cannot
 * hold the literal's commas. */
/* clang-format off */
#define KCASE(test, ...)                                                       \
  {#test, test, case_up, case_down, &(kcase){__VA_ARGS__}}
/* clang-format on */

int main(void) {
  /* Each test with its case: the host, what Graph answers, the run. */
  const struct CMUnitTest tests[] = {
      KCASE(old_host_send_uses_marker_only, .old = 1, .send_status = 202,
            .card = "send_email",
            .input = "{\"to\":[\"bob@x.test\"],\"subject\":\"old host\","
                     "\"idempotency_key\":\"k-old\"}"),
      KCASE(old_host_reply_uses_marker_only, .old = 1, .send_status = 202,
            .card = "reply_email",
            .input = "{\"message_id\":\"AAMk1\",\"comment\":\"ok\","
                     "\"idempotency_key\":\"k-old-reply\"}"),
      KCASE(held_claim_fails_busy_without_requests, .answer = WFC_CLAIM_HELD,
            .card = "forward_email",
            .input = "{\"message_id\":\"AAMk2\",\"to\":[\"bob@x.test\"],"
                     "\"idempotency_key\":\"k-held\"}"),
      KCASE(recorded_outcome_is_deduplicated, .answer = WFC_CLAIM_SENT,
            .card = "reply_email",
            .input = "{\"message_id\":\"AAMk3\",\"comment\":\"ok\","
                     "\"idempotency_key\":\"k-sent\"}"),
      KCASE(won_claim_checks_sends_and_records, .answer = WFC_CLAIM_MINE,
            .send_status = 202, .card = "forward_email",
            .input = "{\"message_id\":\"AAMk4\",\"to\":[\"bob@x.test\"],"
                     "\"idempotency_key\":\"k-mine\"}"),
      KCASE(refused_send_releases_the_claim, .answer = WFC_CLAIM_MINE,
            .send_status = 400,
            .send_body = "{\"error\":{\"code\":\"ErrorInvalidRecipients\","
                         "\"message\":\"bad\"}}",
            .card = "send_email",
            .input = "{\"to\":[\"bob@x.test\"],\"idempotency_key\":\"k-400\"}"),
      KCASE(unclaimed_dedup_records_the_outcome, .answer = WFC_CLAIM_MINE,
            .store_down = 1, .card = "send_email",
            .look_body = "{\"value\":[{\"id\":\"AAMkS\",\"isDraft\":false,"
                         "\"subject\":\"once\",\"webLink\":\"https://x\"}]}",
            .input = "{\"to\":[\"bob@x.test\"],\"subject\":\"once\","
                     "\"idempotency_key\":\"k-cut\"}"),
      KCASE(unclaimed_store_still_down_records_nothing,
            .answer = WFC_CLAIM_MINE, .store_down = 2, .send_status = 202,
            .card = "send_email",
            .input = "{\"to\":[\"bob@x.test\"],\"subject\":\"down\","
                     "\"idempotency_key\":\"k-down\"}"),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
