/* Send Email against the emulator through the real plugin: plain send,
 * validation before any request, send-as denied, a shared mailbox with
 * Send As, idempotency (same key twice -> one delivery), throttling (429
 * with Retry-After -> waits and sends once), attachments (draft pipeline). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cards_test.h"

static wfc_conn *carol; /* owned by fx */

static int setup(void **state) {
  (void)state;
  return ct_up(NULL, &carol);
}

static void test_send_plain(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  long sent = o365_fixture_sent_count(fx, "alice@contoso.test");
  o365_outcome o;
  run_ok("send_email",
         "{\"to\":[\"bob@contoso.test\"],\"cc\":[\"carol@contoso.test\"],"
         "\"subject\":\"plain 1\",\"body\":\"<b>hi</b>\",\"body_type\":"
         "\"html\",\"importance\":\"high\",\"categories\":[\"Blue\"],"
         "\"reply_to\":[\"support@contoso.test\"]}",
         &o);
  assert_true(jflag(o.output, "sent"));
  assert_null(jstr(o.output, "deduplicated"));
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), sent + 1);
  assert_int_equal(ct_count("bob@contoso.test", "inbox", "plain 1"), 1);
  assert_int_equal(ct_count("carol@contoso.test", "inbox", "plain 1"), 1);
  /* What arrived is what was asked for. */
  json_object *m = ct_message("bob@contoso.test", "inbox", "plain 1", NULL);
  assert_non_null(m);
  assert_string_equal(jstr(m, "importance"), "high");
  json_object *body = NULL;
  assert_true(json_object_object_get_ex(m, "body", &body));
  assert_string_equal(jstr(body, "contentType"), "html");
  assert_string_equal(jstr(body, "content"), "<b>hi</b>");
  assert_non_null(
      strstr(json_object_to_json_string(m), "support@contoso.test"));
  json_object_put(m);
}

static void test_validation_sends_nothing(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  /* Semantic check of the card: no recipient at all. */
  ct_refused("send_email", "{\"subject\":\"nobody\",\"cc\":[]}",
             WFC_EVALIDATION, "to: at least one recipient");
  /* Type check of the SDK: not an address. */
  ct_refused("send_email", "{\"to\":[\"not an address\"]}", WFC_EVALIDATION,
             "to");
  /* Enum. */
  ct_refused("send_email",
             "{\"to\":[\"bob@contoso.test\"],"
             "\"body_type\":\"rtf\"}",
             WFC_EVALIDATION, "body_type");
  /* A key without the sent copy to check against. */
  ct_refused("send_email",
             "{\"to\":[\"bob@contoso.test\"],"
             "\"idempotency_key\":\"k\","
             "\"save_to_sent_items\":false}",
             WFC_EVALIDATION, "idempotency_key");
}

static void test_send_as_denied_and_shared(void **state) {
  (void)state;
  /* carol has no rights on alice's mailbox. */
  o365_fixture_use(fx, carol);
  long sent = o365_fixture_sent_count(fx, "alice@contoso.test");
  o365_outcome o;
  assert_int_equal(o365_fixture_run(fx, "send_email",
                                    "{\"mailbox\":\"alice@contoso.test\","
                                    "\"to\":[\"bob@contoso.test\"],"
                                    "\"subject\":\"as alice\"}",
                                    &o),
                   WFC_EDENIED);
  ct_says(o.message, "may not send as");
  assert_string_equal(jstr(o.detail, "code"), "ErrorSendAsDenied");
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), sent);
  /* alice has Send As on the shared mailbox support@. */
  o365_fixture_use(fx, alice);
  long ssent = o365_fixture_sent_count(fx, "support@contoso.test");
  run_ok("send_email",
         "{\"mailbox\":\"support@contoso.test\",\"to\":"
         "[\"bob@contoso.test\"],\"subject\":\"from support\"}",
         &o);
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, "support@contoso.test"),
                   ssent + 1);
  json_object *m =
      ct_message("bob@contoso.test", "inbox", "from support", NULL);
  assert_non_null(m);
  assert_non_null(
      strstr(json_object_to_json_string(m), "support@contoso.test"));
  json_object_put(m);
}

static void test_idempotent_send(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  long sent = o365_fixture_sent_count(fx, "alice@contoso.test");
  const char *in = "{\"to\":[\"bob@contoso.test\"],\"subject\":\"once\","
                   "\"idempotency_key\":\"run-42/step-3\"}";
  o365_outcome o;
  run_ok("send_email", in, &o);
  assert_true(jflag(o.output, "sent"));
  assert_false(jflag(o.output, "deduplicated"));
  char imid[200];
  snprintf(imid, sizeof imid, "%s", jstr(o.output, "internet_message_id"));
  o365_outcome_free(&o);
  run_ok("send_email", in, &o);
  assert_true(jflag(o.output, "sent"));
  assert_true(jflag(o.output, "deduplicated"));
  assert_string_equal(jstr(o.output, "internet_message_id"), imid);
  assert_non_null(jstr(o.output, "id"));
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), sent + 1);
  assert_int_equal(ct_count("bob@contoso.test", "inbox", "once"), 1);
  /* Another key sends again. */
  run_ok("send_email",
         "{\"to\":[\"bob@contoso.test\"],\"subject\":\"once\","
         "\"idempotency_key\":\"run-43/step-3\"}",
         &o);
  assert_false(jflag(o.output, "deduplicated"));
  o365_outcome_free(&o);
  assert_int_equal(ct_count("bob@contoso.test", "inbox", "once"), 2);
}

static void test_lost_answer_then_retry_sends_once(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  long sent = o365_fixture_sent_count(fx, "alice@contoso.test");
  long calls = o365_fixture_route_count(fx, "POST", "/v1.0/me/sendMail");
  /* The send runs but its answer is lost. The POST is not sent again
   * (before: libcurl resent it on a fresh connection, two messages); the
   * card finds the message in the mailbox and reports it sent. */
  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"POST\",\"path\":"
                                          "\"/v1.0/me/sendMail\","
                                          "\"action\":\"reset\","
                                          "\"afterHandler\":true,"
                                          "\"count\":1}"),
                   0);
  const char *in = "{\"to\":[\"bob@contoso.test\"],\"subject\":\"lost\","
                   "\"idempotency_key\":\"lost-1\"}";
  o365_outcome o;
  run_ok("send_email", in, &o);
  assert_true(jflag(o.output, "sent"));
  assert_false(jflag(o.output, "deduplicated"));
  assert_non_null(jstr(o.output, "id"));
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_route_count(fx, "POST", "/v1.0/me/sendMail"),
                   calls + 1);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), sent + 1);
  json_object_put(
      o365_fixture_admin(fx, "DELETE", "/__emulator/faults", NULL, NULL));
  /* The flow retries the step: nothing more goes out. */
  run_ok("send_email", in, &o);
  assert_true(jflag(o.output, "deduplicated"));
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), sent + 1);
  assert_int_equal(ct_count("bob@contoso.test", "inbox", "lost"), 1);
}

static void test_throttled_then_sent_once(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  long sent = o365_fixture_sent_count(fx, "alice@contoso.test");
  long calls = o365_fixture_route_count(fx, "POST", "/v1.0/me/sendMail");
  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"POST\",\"path\":"
                                          "\"/v1.0/me/sendMail\","
                                          "\"action\":\"status\","
                                          "\"status\":429,\"retryAfter\":1,"
                                          "\"count\":1}"),
                   0);
  o365_outcome o;
  run_ok("send_email",
         "{\"to\":[\"bob@contoso.test\"],\"subject\":\"throttled\"}", &o);
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_route_count(fx, "POST", "/v1.0/me/sendMail"),
                   calls + 2);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), sent + 1);
  assert_int_equal(ct_count("bob@contoso.test", "inbox", "throttled"), 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_send_plain),
      cmocka_unit_test(test_validation_sends_nothing),
      cmocka_unit_test(test_send_as_denied_and_shared),
      cmocka_unit_test(test_idempotent_send),
      cmocka_unit_test(test_lost_answer_then_retry_sends_once),
      cmocka_unit_test(test_throttled_then_sent_once),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
