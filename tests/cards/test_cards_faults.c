/* Faults on the wire, injected by the emulator on the exact path, through
 * the real runtime and plugin: 503 + Retry-After, a reset connection, a
 * 504, truncated and malformed bodies, an answer later than the request
 * deadline, a 429 storm longer than the plugin waits. What must hold: no
 * lost work, no duplicate send, a clear error naming the cause for what
 * cannot be done. The runtime's request deadline is 2 s here (timeout
 * test). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "o365_fixture.h"

#define ALICE    "alice@contoso.test"
#define SENDMAIL "/v1.0/me/sendMail"

static o365_fixture *fx;
static wfc_conn *alice, *carol;
static char msg_id[256];

static int setup(void **state) {
  (void)state;
  fx = o365_fixture_new_timeout(NULL, 2000);
  if (fx == NULL)
    return -1;
  carol = o365_fixture_connect(fx, "carol@contoso.test");
  alice = o365_fixture_connect(fx, ALICE);
  char *id = o365_fixture_inject(
      fx, ALICE,
      "{\"subject\":\"fault target\",\"from\":\"bob@contoso.test\","
      "\"toRecipients\":[\"alice@contoso.test\"],\"body\":\"x\"}");
  if (id == NULL)
    return -1;
  snprintf(msg_id, sizeof msg_id, "%s", id);
  free(id);
  return alice && carol ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return o365_fixture_free(fx);
}

static void clear_faults(void) {
  long st = 0;
  json_object_put(
      o365_fixture_admin(fx, "DELETE", "/__emulator/faults", NULL, &st));
  assert_int_equal(st / 100, 2);
}

/* After each test, even a failed one: no rule left to hit the next. */
static int disarm(void **state) {
  (void)state;
  long st = 0;
  json_object_put(
      o365_fixture_admin(fx, "DELETE", "/__emulator/faults", NULL, &st));
  return st / 100 == 2 ? 0 : -1;
}

static void arm(const char *rule) {
  assert_int_equal(o365_fixture_fault(fx, rule), 0);
}

static int jbool(json_object *o, const char *k) {
  json_object *v = NULL;
  return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

static long sendmail_calls(void) {
  return o365_fixture_route_count(fx, "POST", SENDMAIL);
}

/* The emulator counts a request once it has answered: waits (up to 10 s)
 * until n sendMail requests have been answered. */
static void wait_sendmail_calls(long n) {
  for (int i = 0; i < 200 && sendmail_calls() < n; i++)
    usleep(50 * 1000);
  assert_int_equal(sendmail_calls(), n);
}

/* Asserts that message names the cause (printed when it does not). */
static void assert_says(const char *message, const char *cause) {
  if (strstr(message, cause) == NULL)
    fprintf(stderr, "expected \"%s\" in: %s\n", cause, message);
  assert_non_null(strstr(message, cause));
}

static void get_input(char *buf, size_t n) {
  snprintf(buf, n, "{\"message_id\":\"%s\"}", msg_id);
}

static void test_503_retried_sent_once(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  long sent = o365_fixture_sent_count(fx, ALICE);
  long calls = sendmail_calls();
  arm("{\"method\":\"POST\",\"path\":\"" SENDMAIL "\",\"action\":\"status\","
      "\"status\":503,\"retryAfter\":1,\"count\":1}");
  o365_outcome o;
  int rc = o365_fixture_run(fx, "send_email",
                            "{\"to\":[\"bob@contoso.test\"],"
                            "\"subject\":\"after 503\"}",
                            &o);
  if (rc != 0)
    fprintf(stderr, "503: %d %s\n", rc, o.message);
  assert_int_equal(rc, 0);
  assert_true(jbool(o.output, "sent"));
  o365_outcome_free(&o);
  /* The 503 (not executed) and the retry. */
  assert_int_equal(sendmail_calls(), calls + 2);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
  clear_faults();
}

static void test_reset_fails_clearly_retry_sends_once(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  long sent = o365_fixture_sent_count(fx, ALICE);
  long calls = sendmail_calls();
  /* count 2: curl silently repeats a reset on a reused connection once. */
  arm("{\"method\":\"POST\",\"path\":\"" SENDMAIL "\",\"action\":\"reset\","
      "\"count\":2}");
  const char *in = "{\"to\":[\"bob@contoso.test\"],\"subject\":\"reset\","
                   "\"idempotency_key\":\"faults-reset-1\"}";
  o365_outcome o;
  int rc = o365_fixture_run(fx, "send_email", in, &o);
  fprintf(stderr, "reset: %d %s\n", rc, o.message);
  assert_int_equal(rc, WFC_ENET);
  assert_says(o.message, "sending the message failed");
  /* The transport's words vary with timing ("Empty reply from server",
   * "select/poll returned error"): the request is named. */
  assert_says(o.message, "POST http://127.0.0.1:");
  assert_says(o.message, "the outcome is unknown");
  o365_outcome_free(&o);
  /* Not repeated by the plugin: at most curl's one silent repeat. */
  assert_true(sendmail_calls() <= calls + 2);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent);
  clear_faults();
  /* The flow retries the step: sent once, and a third run sends nothing. */
  rc = o365_fixture_run(fx, "send_email", in, &o);
  assert_int_equal(rc, 0);
  assert_false(jbool(o.output, "deduplicated"));
  o365_outcome_free(&o);
  rc = o365_fixture_run(fx, "send_email", in, &o);
  assert_int_equal(rc, 0);
  assert_true(jbool(o.output, "deduplicated"));
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
}

static void test_504_not_resent(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  long sent = o365_fixture_sent_count(fx, ALICE);
  long calls = sendmail_calls();
  arm("{\"method\":\"POST\",\"path\":\"" SENDMAIL "\",\"action\":\"status\","
      "\"status\":504,\"count\":1}");
  o365_outcome o;
  int rc = o365_fixture_run(fx, "send_email",
                            "{\"to\":[\"bob@contoso.test\"],"
                            "\"subject\":\"gateway\"}",
                            &o);
  fprintf(stderr, "504: %d %s\n", rc, o.message);
  assert_int_equal(rc, WFC_EREMOTE);
  assert_says(o.message, "sending the message failed");
  assert_says(o.message, "GatewayTimeout");
  assert_says(o.message, "the outcome is unknown");
  json_object *oc = NULL;
  assert_true(json_object_object_get_ex(o.detail, "outcome", &oc));
  assert_string_equal(json_object_get_string(oc), "unknown");
  json_object *st = NULL;
  assert_true(json_object_object_get_ex(o.detail, "status", &st));
  assert_int_equal(json_object_get_int(st), 504);
  o365_outcome_free(&o);
  /* Exactly one attempt: a POST is never repeated after a 504. */
  assert_int_equal(sendmail_calls(), calls + 1);
  /* The emulator answered before the handler: nothing went out. */
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent);
  clear_faults();
}

static void test_truncated_get_retried_then_clear_error(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  char in[512];
  get_input(in, sizeof in);
  /* Once: a GET is safe to repeat, so the card gets the message. */
  arm("{\"method\":\"GET\",\"path\":\"/v1.0/me/messages/\","
      "\"action\":\"truncate\",\"count\":1}");
  o365_outcome o;
  int rc = o365_fixture_run(fx, "get_message", in, &o);
  if (rc != 0)
    fprintf(stderr, "truncate once: %d %s\n", rc, o.message);
  assert_int_equal(rc, 0);
  json_object *subj = NULL;
  assert_true(json_object_object_get_ex(o.output, "subject", &subj));
  assert_string_equal(json_object_get_string(subj), "fault target");
  o365_outcome_free(&o);
  clear_faults();
  /* Every attempt truncated: a clear error after the attempts. */
  arm("{\"method\":\"GET\",\"path\":\"/v1.0/me/messages/\","
      "\"action\":\"truncate\",\"count\":20}");
  rc = o365_fixture_run(fx, "get_message", in, &o);
  fprintf(stderr, "truncate always: %d %s\n", rc, o.message);
  assert_int_not_equal(rc, 0);
  assert_int_equal(rc, WFC_ENET);
  assert_says(o.message, "getting the message failed");
  assert_says(o.message, "transfer closed");
  o365_outcome_free(&o);
  clear_faults();
}

static void test_malformed_json_eproto(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  char in[512];
  get_input(in, sizeof in);
  arm("{\"method\":\"GET\",\"path\":\"/v1.0/me/messages/\","
      "\"action\":\"malformed\",\"count\":1}");
  o365_outcome o;
  int rc = o365_fixture_run(fx, "get_message", in, &o);
  fprintf(stderr, "malformed: %d %s\n", rc, o.message);
  assert_int_equal(rc, WFC_EPROTO);
  assert_says(o.message, "malformed JSON");
  o365_outcome_free(&o);
  /* The fault is spent: the same run now succeeds. */
  rc = o365_fixture_run(fx, "get_message", in, &o);
  assert_int_equal(rc, 0);
  o365_outcome_free(&o);
  clear_faults();
}

static void test_send_beyond_deadline_times_out_once(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  long sent = o365_fixture_sent_count(fx, ALICE);
  long calls = sendmail_calls();
  /* The handler runs but answers after the 2 s deadline. */
  arm("{\"method\":\"POST\",\"path\":\"" SENDMAIL "\",\"action\":\"delay\","
      "\"delayMs\":3500,\"count\":1}");
  const char *in = "{\"to\":[\"bob@contoso.test\"],\"subject\":\"late\","
                   "\"idempotency_key\":\"faults-late-1\"}";
  o365_outcome o;
  int rc = o365_fixture_run(fx, "send_email", in, &o);
  fprintf(stderr, "deadline: %d %s\n", rc, o.message);
  assert_int_equal(rc, WFC_ETIMEDOUT);
  assert_says(o.message, "deadline of 2000 ms exceeded");
  assert_says(o.message, "the outcome is unknown");
  o365_outcome_free(&o);
  clear_faults();
  /* Not repeated by the plugin; the emulator answers the late request
   * (counted then) after its delay. */
  wait_sendmail_calls(calls + 1);
  /* The send went out though the card failed (the handler ran): a retried
   * run with the key finds it and does not send again. */
  rc = o365_fixture_run(fx, "send_email", in, &o);
  assert_int_equal(rc, 0);
  assert_true(jbool(o.output, "deduplicated"));
  o365_outcome_free(&o);
  assert_int_equal(sendmail_calls(), calls + 1);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
}

static void test_429_storm_beyond_max_wait(void **state) {
  (void)state;
  /* carol: the 5-minute block this leaves on her mailbox's gate is not
   * shared with the other tests (alice). */
  o365_fixture_use(fx, carol);
  long sent = o365_fixture_sent_count(fx, "carol@contoso.test");
  arm("{\"method\":\"POST\",\"path\":\"" SENDMAIL "\",\"action\":\"status\","
      "\"status\":429,\"retryAfter\":300,\"count\":50}");
  o365_outcome o;
  int rc = o365_fixture_run(fx, "send_email",
                            "{\"to\":[\"bob@contoso.test\"],"
                            "\"subject\":\"storm\"}",
                            &o);
  fprintf(stderr, "storm: %d %s\n", rc, o.message);
  assert_int_equal(rc, WFC_ETHROTTLED);
  assert_says(o.message, "throttling");
  assert_says(o.message, "retry after 300 s");
  json_object *ra = NULL;
  assert_true(json_object_object_get_ex(o.detail, "retry_after_ms", &ra));
  assert_int_equal(json_object_get_int64(ra), 300000);
  o365_outcome_free(&o);
  /* While the mailbox is blocked, the next run is refused at once, with the
   * time left, without a request. */
  long calls = sendmail_calls();
  rc = o365_fixture_run(fx, "send_email",
                        "{\"to\":[\"bob@contoso.test\"],"
                        "\"subject\":\"storm 2\"}",
                        &o);
  fprintf(stderr, "storm 2: %d %s\n", rc, o.message);
  assert_int_equal(rc, WFC_ETHROTTLED);
  assert_true(json_object_object_get_ex(o.detail, "retry_after_ms", &ra));
  assert_true(json_object_get_int64(ra) > 290000);
  o365_outcome_free(&o);
  assert_int_equal(sendmail_calls(), calls);
  assert_int_equal(o365_fixture_sent_count(fx, "carol@contoso.test"), sent);
  clear_faults();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(test_503_retried_sent_once, disarm),
      cmocka_unit_test_teardown(test_reset_fails_clearly_retry_sends_once,
                                disarm),
      cmocka_unit_test_teardown(test_504_not_resent, disarm),
      cmocka_unit_test_teardown(test_truncated_get_retried_then_clear_error,
                                disarm),
      cmocka_unit_test_teardown(test_malformed_json_eproto, disarm),
      cmocka_unit_test_teardown(test_send_beyond_deadline_times_out_once,
                                disarm),
      cmocka_unit_test_teardown(test_429_storm_beyond_max_wait, disarm),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
