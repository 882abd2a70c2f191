/* Create Draft + Send Draft, Send Email with attachments (draft pipeline),
 * Reply (sender / reply all, with an attachment), Forward, against the
 * emulator through the real plugin; each checks what was delivered. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cards_test.h"

static int setup(void **state) {
  (void)state;
  return ct_up(NULL, NULL);
}

static void test_draft_then_send(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  char ref[512], in[2048];
  ct_file("notes.txt", "text/plain", "hello notes\n", ref, sizeof ref);
  snprintf(in, sizeof in,
           "{\"to\":[\"bob@contoso.test\"],\"subject\":\"drafted\","
           "\"body\":\"see file\",\"attachments\":[%s]}",
           ref);
  long sent = o365_fixture_sent_count(fx, "alice@contoso.test");
  o365_outcome o;
  run_ok("create_draft", in, &o);
  assert_false(jbool(o.output, "sent"));
  char *id = strdup(jstr(o.output, "id"));
  json_object *atts = json_object_object_get(o.output, "attachments");
  assert_int_equal(json_object_array_length(atts), 1);
  o365_outcome_free(&o);
  json_object *d = ct_message("alice@contoso.test", "drafts", "drafted", NULL);
  assert_non_null(d);
  assert_int_equal(jnum(d, "attachmentCount"), 1);
  json_object_put(d);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), sent);
  /* A draft without recipients is fine. */
  run_ok("create_draft", "{\"subject\":\"empty draft\"}", &o);
  o365_outcome_free(&o);
  snprintf(in, sizeof in, "{\"message_id\":\"%s\"}", id);
  run_ok("send_draft", in, &o);
  assert_true(jbool(o.output, "sent"));
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), sent + 1);
  json_object *got = ct_message("bob@contoso.test", "inbox", "drafted", NULL);
  assert_non_null(got);
  assert_int_equal(jnum(got, "attachmentCount"), 1);
  json_object_put(got);
  /* Sending it again: Exchange refuses, nothing more is sent. */
  assert_int_not_equal(o365_fixture_run(fx, "send_draft", in, &o), 0);
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), sent + 1);
  free(id);
}

/* Update Draft: what is given changes, the rest stays; the updated draft
 * is what gets sent; a sent message is refused without a change. */
static void test_update_draft(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  o365_outcome o;
  run_ok("create_draft",
         "{\"to\":[\"bob@contoso.test\"],\"subject\":\"first words\","
         "\"body\":\"keep this body\",\"importance\":\"low\"}",
         &o);
  char *id = strdup(jstr(o.output, "id"));
  o365_outcome_free(&o);
  char in[1024];
  snprintf(in, sizeof in,
           "{\"message_id\":\"%s\",\"subject\":\"second words\","
           "\"cc\":[\"carol@contoso.test\"],\"categories\":[\"Blue\"]}",
           id);
  run_ok("update_draft", in, &o);
  assert_string_equal(jstr(o.output, "subject"), "second words");
  assert_string_equal(jstr(o.output, "importance"), "low");
  assert_true(jbool(o.output, "is_draft"));
  assert_non_null(strstr(jstr(o.output, "body"), "keep this body"));
  o365_outcome_free(&o);
  json_object *d =
      ct_message("alice@contoso.test", "drafts", "second words", NULL);
  assert_non_null(d);
  assert_non_null(strstr(json_object_to_json_string(jget(d, "ccRecipients")),
                         "carol@contoso.test"));
  json_object_put(d);
  assert_int_equal(ct_count("alice@contoso.test", "drafts", "first words"), 0);
  /* Nothing given: refused, nothing sent to Graph. */
  snprintf(in, sizeof in, "{\"message_id\":\"%s\"}", id);
  ct_refused("update_draft", in, WFC_EVALIDATION, "nothing to update");
  run_ok("send_draft", in, &o);
  o365_outcome_free(&o);
  json_object *got =
      ct_message("carol@contoso.test", "inbox", "second words", NULL);
  assert_non_null(got);
  json_object_put(got);
  /* Sent: no longer a draft; even categories are not touched. */
  snprintf(in, sizeof in, "{\"message_id\":\"%s\",\"categories\":[\"Red\"]}",
           id);
  ct_fails("update_draft", in, WFC_ESTATE, "not a draft");
  got = ct_message("alice@contoso.test", "sentitems", "second words", NULL);
  assert_non_null(got);
  assert_null(
      strstr(json_object_to_json_string(jget(got, "categories")), "Red"));
  json_object_put(got);
  ct_fails("update_draft",
           "{\"message_id\":\"AAMkAGnothere\",\"subject\":\"x\"}",
           WFC_ENOTFOUND, NULL);
  free(id);
}

static void test_send_with_attachment(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  char ref[512], in[2048];
  ct_file("a.csv", "text/csv", "a,b\n1,2\n", ref, sizeof ref);
  snprintf(in, sizeof in,
           "{\"to\":[\"carol@contoso.test\"],\"subject\":\"with file\","
           "\"attachments\":[%s],\"idempotency_key\":\"att-1\"}",
           ref);
  long sent = o365_fixture_sent_count(fx, "alice@contoso.test");
  long sendmail = o365_fixture_route_count(fx, "POST", "/v1.0/me/sendMail");
  o365_outcome o;
  run_ok("send_email", in, &o);
  assert_true(jbool(o.output, "sent"));
  assert_non_null(jstr(o.output, "id"));
  o365_outcome_free(&o);
  /* The draft pipeline, not sendMail. */
  assert_int_equal(o365_fixture_route_count(fx, "POST", "/v1.0/me/sendMail"),
                   sendmail);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), sent + 1);
  json_object *got =
      ct_message("carol@contoso.test", "inbox", "with file", NULL);
  assert_non_null(got);
  assert_int_equal(jnum(got, "attachmentCount"), 1);
  json_object_put(got);
  /* Same key again: found in Sent Items, not sent again. */
  run_ok("send_email", in, &o);
  assert_true(jbool(o.output, "deduplicated"));
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), sent + 1);
}

/* The final send refused (500: not carried out): nothing went out, and the
 * error says the draft is kept, with its id, which is there in Drafts. */
static void test_send_refused_says_draft_kept(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  char ref[512], in[2048];
  ct_file("k.txt", "text/plain", "k", ref, sizeof ref);
  snprintf(in, sizeof in,
           "{\"to\":[\"carol@contoso.test\"],\"subject\":\"kept draft\","
           "\"attachments\":[%s]}",
           ref);
  long sent = o365_fixture_sent_count(fx, "alice@contoso.test");
  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"POST\",\"path\":"
                                          "\"/v1.0/me/messages/*/send\","
                                          "\"status\":500,\"count\":1}"),
                   0);
  o365_outcome o;
  assert_int_equal(o365_fixture_run(fx, "send_email", in, &o), WFC_EREMOTE);
  ct_says(o.message, "nothing was sent, the draft is kept in Drafts");
  ct_says(o.message, "InternalServerError");
  o365_outcome_free(&o);
  assert_int_equal(ct_clear_faults(), 0);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), sent);
  assert_int_equal(ct_count("alice@contoso.test", "drafts", "kept draft"), 1);
}

static void test_reply_and_reply_all(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  char *id = o365_fixture_inject(
      fx, "alice@contoso.test",
      "{\"subject\":\"question\",\"from\":\"bob@contoso.test\","
      "\"toRecipients\":[\"alice@contoso.test\",\"carol@contoso.test\"],"
      "\"body\":\"what do you think?\"}");
  assert_non_null(id);
  char in[1024];
  snprintf(in, sizeof in, "{\"message_id\":\"%s\",\"comment\":\"I agree\"}",
           id);
  o365_outcome o;
  run_ok("reply_email", in, &o);
  assert_true(jbool(o.output, "sent"));
  o365_outcome_free(&o);
  json_object *r =
      ct_message("bob@contoso.test", "inbox", "RE: question", NULL);
  assert_non_null(r);
  assert_non_null(strstr(json_object_to_json_string(r), "I agree"));
  json_object_put(r);
  r = ct_message("carol@contoso.test", "inbox", "RE: question", NULL);
  assert_null(r);
  /* Reply all, with a file: everyone gets it, with the attachment. */
  char ref[512];
  ct_file("r.txt", "text/plain", "r", ref, sizeof ref);
  snprintf(in, sizeof in,
           "{\"message_id\":\"%s\",\"comment\":\"all of you\","
           "\"reply_all\":true,\"attachments\":[%s]}",
           id, ref);
  run_ok("reply_email", in, &o);
  assert_true(jbool(o.output, "sent"));
  assert_non_null(jstr(o.output, "id"));
  o365_outcome_free(&o);
  r = ct_message("carol@contoso.test", "inbox", "RE: question", NULL);
  assert_non_null(r);
  assert_int_equal(jnum(r, "attachmentCount"), 1);
  json_object_put(r);
  /* Not found. */
  ct_fails("reply_email", "{\"message_id\":\"AAMkAGnope\"}", WFC_ENOTFOUND,
           NULL);
  free(id);
}

static void test_forward(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  char *id = o365_fixture_inject(
      fx, "alice@contoso.test",
      "{\"subject\":\"fyi\",\"from\":\"bob@contoso.test\","
      "\"toRecipients\":[\"alice@contoso.test\"],\"body\":\"details\"}");
  assert_non_null(id);
  char in[1024];
  snprintf(in, sizeof in,
           "{\"message_id\":\"%s\",\"to\":[\"carol@contoso.test\"],"
           "\"comment\":\"for you\"}",
           id);
  o365_outcome o;
  run_ok("forward_email", in, &o);
  o365_outcome_free(&o);
  json_object *f = ct_message("carol@contoso.test", "inbox", "FW: fyi", NULL);
  assert_non_null(f);
  assert_non_null(strstr(json_object_to_json_string(f), "for you"));
  json_object_put(f);
  /* No recipient: refused before any request. */
  snprintf(in, sizeof in, "{\"message_id\":\"%s\",\"to\":[]}", id);
  ct_refused("forward_email", in, WFC_EVALIDATION, "to");
  free(id);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_draft_then_send),
      cmocka_unit_test(test_update_draft),
      cmocka_unit_test(test_send_with_attachment),
      cmocka_unit_test(test_send_refused_says_draft_kept),
      cmocka_unit_test(test_reply_and_reply_all),
      cmocka_unit_test(test_forward),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
