/* Faults on the wire, injected by the emulator on the exact path, through
 * the real runtime and plugin: 503 + Retry-After, a reset connection, a
 * 504, truncated and malformed bodies, an answer later than the request
 * deadline, a 429 storm longer than the plugin waits. What must hold: no
 * lost work, no duplicate send, a clear error naming the cause for what
 * cannot be done. The runtime's request deadline is 2 s here (timeout
 * test). */
#define _DEFAULT_SOURCE /* usleep */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cards_test.h"

#define ALICE    "alice@contoso.test"
#define CAROL    "carol@contoso.test"
#define SENDMAIL "/v1.0/me/sendMail"

/* Fault rules (docs/emulator.md "Faults") on sendMail and on GETs of a
 * message; rest: the rest of the rule's members. */
#define SEND_RULE(rest)                                                        \
  "{\"method\":\"POST\",\"path\":\"" SENDMAIL "\"," rest "}"
#define GET_RULE(rest)                                                         \
  "{\"method\":\"GET\",\"path\":\"/v1.0/me/messages/\"," rest "}"

static wfc_conn *carol;  /* owned by fx */
static char get_in[512]; /* get_message's input on the fault target */

static int setup(void **state) {
  (void)state;
  /* A keyed send whose answer is lost looks for its copy for 1 s (15 s by
   * default): the emulator files it at once. */
  setenv("O365MAIL_SEND_CONFIRM_MS", "1000", 1);
  fx = o365_fixture_new_timeout(NULL, 2000);
  if (fx == NULL || ct_connect(&carol) != 0)
    return -1;
  char *id = o365_fixture_inject(
      fx, ALICE,
      "{\"subject\":\"fault target\",\"from\":\"bob@contoso.test\","
      "\"toRecipients\":[\"alice@contoso.test\"],\"body\":\"x\"}");
  if (id == NULL)
    return -1;
  snprintf(get_in, sizeof get_in, "{\"message_id\":\"%s\"}", id);
  free(id);
  return 0;
}

/* After each test, even a failed one: no rule left to hit the next. */
static int disarm(void **state) {
  (void)state;
  return ct_clear_faults();
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

/* One card run under one fault rule and what must hold after it. The
 * counts are checked against the same counts taken before the rule was
 * armed. */
typedef struct fault_case {
  const char *user;    /* CAROL runs the card; NULL: ALICE */
  const char *rule;    /* armed on the emulator before the run */
  const char *input;   /* send_email's input; NULL: get_message on the
                        * fault target */
  int status;          /* what the run must end with */
  const char *says[4]; /* what its message must say (NULL-terminated) */
  const char *out_key; /* on success: output[out_key] as text ... */
  const char *out_val; /* ... must be out_val */
  const char *outcome; /* detail.outcome, or NULL: not checked */
  int http;            /* detail.status, or 0: not checked */
  unsigned counts;     /* which of the two below are checked */
  long calls;          /* sendMail requests answered for the run */
  long sent;           /* messages user really sent */
} fault_case;

#define CALLS 1u /* fault_case.counts: calls is checked */
#define SENT  2u /* fault_case.counts: sent is checked */

/* Runs c, asserts what c says must hold and leaves the outcome in *o (the
 * caller frees it) and the faults still armed. */
static void run_case(const fault_case *c, o365_outcome *o) {
  const char *user = c->user ? c->user : ALICE;
  o365_fixture_use(fx, c->user ? carol : alice);
  long sent = o365_fixture_sent_count(fx, user);
  long calls = sendmail_calls();
  assert_int_equal(o365_fixture_fault(fx, c->rule), 0);
  const char *card = c->input ? "send_email" : "get_message";
  int rc = o365_fixture_run(fx, card, c->input ? c->input : get_in, o);
  fprintf(stderr, "%s under %s: %d %s\n", card, c->rule, rc, o->message);
  assert_int_equal(rc, c->status);
  for (size_t i = 0; c->says[i] != NULL; i++)
    ct_says(o->message, c->says[i]);
  if (c->out_key != NULL)
    assert_string_equal(jstr(o->output, c->out_key), c->out_val);
  if (c->outcome != NULL)
    assert_string_equal(jstr(o->detail, "outcome"), c->outcome);
  if (c->http != 0)
    assert_int_equal(jnum(o->detail, "status"), c->http);
  if (c->counts & CALLS)
    assert_int_equal(sendmail_calls(), calls + c->calls);
  if (c->counts & SENT)
    assert_int_equal(o365_fixture_sent_count(fx, user), sent + c->sent);
}

/* The cases that are all data: the run, then the rule is cleared. */
static void test_case(void **state) {
  o365_outcome o;
  run_case(*state, &o);
  o365_outcome_free(&o);
  assert_int_equal(ct_clear_faults(), 0);
}

/* A 503 with Retry-After: not executed, so repeated once; sent once. */
static const fault_case c503 = {
    .rule = SEND_RULE("\"action\":\"status\",\"status\":503,\"retryAfter\":1,"
                      "\"count\":1"),
    .input = "{\"to\":[\"bob@contoso.test\"],\"subject\":\"after 503\"}",
    .out_key = "sent",
    .out_val = "true",
    .counts = CALLS | SENT,
    .calls = 2,
    .sent = 1};

/* A 504: exactly one attempt (a POST is never repeated after a 504); the
 * emulator answered before the handler, so nothing went out. */
static const fault_case c504 = {
    .rule = SEND_RULE("\"action\":\"status\",\"status\":504,\"count\":1"),
    .input = "{\"to\":[\"bob@contoso.test\"],\"subject\":\"gateway\"}",
    .status = WFC_EREMOTE,
    .says = {"sending the message failed", "GatewayTimeout",
             "the outcome is unknown"},
    .outcome = "unknown",
    .http = 504,
    .counts = CALLS | SENT,
    .calls = 1,
    .sent = 0};

/* Once: a GET is safe to repeat, so the card gets the message. */
static const fault_case c_truncated_once = {
    .rule = GET_RULE("\"action\":\"truncate\",\"count\":1"),
    .out_key = "subject",
    .out_val = "fault target",
};

/* Every attempt truncated: a clear error after the attempts. */
static const fault_case c_truncated_always = {
    .rule = GET_RULE("\"action\":\"truncate\",\"count\":20"),
    .status = WFC_ENET,
    .says = {"getting the message failed", "transfer closed"},
};

static const fault_case c_malformed = {
    .rule = GET_RULE("\"action\":\"malformed\",\"count\":1"),
    .status = WFC_EPROTO,
    .says = {"malformed JSON"},
};

static void test_malformed_json_eproto(void **state) {
  (void)state;
  o365_outcome o;
  run_case(&c_malformed, &o);
  o365_outcome_free(&o);
  /* The fault is spent: the same run now succeeds. */
  run_ok("get_message", get_in, &o);
  o365_outcome_free(&o);
  assert_int_equal(ct_clear_faults(), 0);
}

/* A 202 whose body is cut (invalid JSON): the send went out, so the card
 * must not report a plain failure (a flow would send again): the outcome
 * is unknown, said in words and in the detail. */
static const fault_case c_malformed_send = {
    .rule = SEND_RULE("\"action\":\"malformed\",\"count\":1"),
    .input = "{\"to\":[\"bob@contoso.test\"],\"subject\":\"cut 202\"}",
    .status = WFC_EPROTO,
    .says = {"sending the message failed",
             "Graph answered 202 but with a malformed JSON body",
             "the outcome is unknown"},
    .outcome = "unknown",
    .counts = CALLS | SENT,
    .calls = 1,
    .sent = 1};

/* The reset comes before the handler: nothing was sent. The card looks for
 * the message for the confirmation window (1 s here, see setup), does not
 * find it and fails with the outcome unknown, without sending again. The
 * transport's words vary with timing ("Empty reply from server", "not
 * repeatable"): the request is named. */
static const fault_case c_reset = {
    .rule = SEND_RULE("\"action\":\"reset\",\"count\":1"),
    .input = "{\"to\":[\"bob@contoso.test\"],\"subject\":\"reset\","
             "\"idempotency_key\":\"faults-reset-1\"}",
    .status = WFC_ENET,
    .says = {"sending the message failed",
             "POST http://127.0.0.1:", "the outcome is unknown"},
    .outcome = "unknown",
    .counts = CALLS | SENT,
    .calls = 1,
    .sent = 0};

static void test_reset_fails_clearly_retry_sends_once(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  long sent = o365_fixture_sent_count(fx, ALICE);
  long calls = sendmail_calls();
  o365_outcome o;
  run_case(&c_reset, &o);
  ct_says(o.message, "no copy of the message");
  o365_outcome_free(&o);
  /* Not repeated by the plugin nor by libcurl. */
  assert_int_equal(sendmail_calls(), calls + 1);
  assert_int_equal(ct_clear_faults(), 0);
  /* The flow retries the step: sent once, and a third run sends nothing. */
  run_ok("send_email", c_reset.input, &o);
  assert_false(jflag(o.output, "deduplicated"));
  o365_outcome_free(&o);
  run_ok("send_email", c_reset.input, &o);
  assert_true(jflag(o.output, "deduplicated"));
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
}

/* The handler runs but answers after the 2 s deadline: the request times
 * out with the outcome unknown, and the card, with a key, finds the message
 * in the mailbox and reports it sent. */
static const fault_case c_deadline = {
    .rule = SEND_RULE("\"action\":\"delay\",\"delayMs\":3500,\"count\":1"),
    .input = "{\"to\":[\"bob@contoso.test\"],\"subject\":\"late\","
             "\"idempotency_key\":\"faults-late-1\"}",
    .out_key = "sent",
    .out_val = "true",
    .counts = SENT,
    .sent = 1};

static void test_send_beyond_deadline_settled_as_sent(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  long sent = o365_fixture_sent_count(fx, ALICE);
  long calls = sendmail_calls();
  o365_outcome o;
  run_case(&c_deadline, &o);
  assert_false(jflag(o.output, "deduplicated"));
  assert_non_null(jstr(o.output, "id"));
  o365_outcome_free(&o);
  assert_int_equal(ct_clear_faults(), 0);
  /* Not repeated by the plugin; the emulator answers the late request
   * (counted then) after its delay. */
  wait_sendmail_calls(calls + 1);
  /* A retried run with the key finds it and does not send again. */
  run_ok("send_email", c_deadline.input, &o);
  assert_true(jflag(o.output, "deduplicated"));
  o365_outcome_free(&o);
  assert_int_equal(sendmail_calls(), calls + 1);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
}

/* carol: the 5-minute block this leaves on her mailbox's gate is not
 * shared with the other tests (alice). */
static const fault_case c_storm = {
    .user = CAROL,
    .rule = SEND_RULE("\"action\":\"status\",\"status\":429,\"retryAfter\":300,"
                      "\"count\":50"),
    .input = "{\"to\":[\"bob@contoso.test\"],\"subject\":\"storm\"}",
    .status = WFC_ETHROTTLED,
    .says = {"throttling", "retry after 300 s"},
    .counts = SENT,
    .sent = 0};

static void test_429_storm_beyond_max_wait(void **state) {
  (void)state;
  long sent = o365_fixture_sent_count(fx, CAROL);
  o365_outcome o;
  run_case(&c_storm, &o);
  assert_int_equal(jnum(o.detail, "retry_after_ms"), 300000);
  o365_outcome_free(&o);
  /* While the mailbox is blocked, the next run is refused at once, with the
   * time left, without a request. */
  long calls = sendmail_calls();
  int rc = o365_fixture_run(fx, "send_email",
                            "{\"to\":[\"bob@contoso.test\"],"
                            "\"subject\":\"storm 2\"}",
                            &o);
  fprintf(stderr, "storm 2: %d %s\n", rc, o.message);
  assert_int_equal(rc, WFC_ETHROTTLED);
  assert_true(jnum(o.detail, "retry_after_ms") > 290000);
  o365_outcome_free(&o);
  assert_int_equal(sendmail_calls(), calls);
  assert_int_equal(o365_fixture_sent_count(fx, CAROL), sent);
  assert_int_equal(ct_clear_faults(), 0);
}

/* A table-driven case: the test_case run of row, disarmed after. */
#define FAULT_CASE(name, row)                                                  \
  { name, test_case, NULL, disarm, (void *)&(row) }

int main(void) {
  const struct CMUnitTest tests[] = {
      FAULT_CASE("test_503_retried_sent_once", c503),
      cmocka_unit_test_teardown(test_reset_fails_clearly_retry_sends_once,
                                disarm),
      FAULT_CASE("test_504_not_resent", c504),
      FAULT_CASE("test_truncated_get_retried", c_truncated_once),
      FAULT_CASE("test_truncated_get_clear_error", c_truncated_always),
      cmocka_unit_test_teardown(test_malformed_json_eproto, disarm),
      FAULT_CASE("test_malformed_202_outcome_unknown", c_malformed_send),
      cmocka_unit_test_teardown(test_send_beyond_deadline_settled_as_sent,
                                disarm),
      cmocka_unit_test_teardown(test_429_storm_beyond_max_wait, disarm),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
