/* A send whose answer is lost (issue 9, item 1), through the real runtime,
 * plugin and HTTP engine against the emulator: the emulator carries out
 * the send, then resets the connection instead of answering ("reset" fault
 * with "afterHandler", docs/emulator.md). The send request rides the
 * connection kept alive from the card's mailbox check, which is the case
 * where libcurl used to send it again by itself: two messages and a plain
 * success.
 *
 * What must hold:
 *   - with an idempotency key, every run reports the message sent (this
 *     run sent it: not deduplicated) after finding it in the mailbox, and
 *     the emulator holds each message exactly once: none twice, none lost
 *     (with and without attachments; also a `reliability` ctest: 50 sends
 *     each, 500 with WFC_RELIABILITY=long, one `reliability:` line);
 *   - without a key the run fails with the outcome unknown, and exactly
 *     one message went out;
 *   - a copy Graph files a moment after the lost answer is still found;
 *   - the same for Reply and Forward with a key (the action, and the
 *     draft pipeline with an attachment), and a rerun of each key reports
 *     it deduplicated;
 *   - a card with no idempotency key (copy, create folder, Custom API)
 *     says the outcome is unknown without mentioning a key. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <uv.h>

#include "cards_test.h"
#include "reliability.h"

#define ALICE "alice@contoso.test"
#define BOB   "bob@contoso.test"

static int setup(void **state) {
  (void)state;
  /* The window in which a keyed send looks for its copy (15 s by
   * default); the emulator files the copy at once, and the cases that
   * find nothing should not wait 15 s. */
  setenv("O365MAIL_SEND_CONFIRM_MS", "1000", 1);
  return ct_up(NULL, NULL);
}

/* After each test, even a failed one: no rule left to hit the next. */
static int disarm(void **state) {
  (void)state;
  return ct_clear_faults();
}

/* Arms one reset-after-handler on the next POST to path (a glob). */
static void arm_lost_answer(const char *path) {
  char rule[256];
  snprintf(rule, sizeof rule,
           "{\"method\":\"POST\",\"path\":\"%s\",\"action\":\"reset\","
           "\"afterHandler\":true,\"count\":1}",
           path);
  assert_int_equal(o365_fixture_fault(fx, rule), 0);
}

/* What is sent: a new message (Send Email), or a reply or a forward of a
 * message bob sent to alice (the answer's subject: prefix + the
 * original's). */
typedef struct kind {
  const char *card;   /* "send_email", "reply_email", "forward_email" */
  const char *prefix; /* of the subject in bob's inbox: "", "RE: ", "FW: " */
} kind;

static const kind new_mail = {"send_email", ""};

/* n keyed sends of k (with an attachment when file_ref is not NULL), each
 * with its answer lost; counts and asserts what must hold, prints the
 * `reliability:` line. A rerun of every key afterwards must report it
 * deduplicated and send nothing. */
static void keyed_sends_of(const kind *k, const char *name, const char *tag,
                           int n, const char *file_ref, const char *fault_path,
                           const char *send_route) {
  long sent0 = o365_fixture_sent_count(fx, ALICE);
  long posts0 = o365_fixture_route_count(fx, "POST", send_route);
  long resets0 = o365_fixture_status_count(fx, 0);
  long reported = 0;
  rel_counts c = {.test = name, .trials = n};
  char(*inputs)[1024] = calloc((size_t)n, sizeof *inputs);
  assert_non_null(inputs);
  for (int i = 0; i < n; i++) {
    char *in = inputs[i], what[700];
    o365_outcome o;
    snprintf(what, sizeof what, "%s%s%s", file_ref ? ",\"attachments\":[" : "",
             file_ref ? file_ref : "", file_ref ? "]" : "");
    if (k->prefix[0] == '\0') {
      snprintf(in, 1024,
               "{\"to\":[\"" BOB "\"],\"subject\":\"%s %d\","
               "\"body\":\"lost answer\",\"idempotency_key\":\"%s-%d\"%s}",
               tag, i, tag, i, what);
    } else {
      char msg[256];
      snprintf(msg, sizeof msg,
               "{\"subject\":\"%s %d\",\"from\":\"" BOB "\","
               "\"toRecipients\":[\"" ALICE "\"],\"body\":\"?\"}",
               tag, i);
      char *id = o365_fixture_inject(fx, ALICE, msg);
      assert_non_null(id);
      snprintf(in, 1024,
               "{\"message_id\":\"%s\",\"comment\":\"lost answer\","
               "\"idempotency_key\":\"%s-%d\"%s%s}",
               id, tag, i,
               strcmp(k->card, "forward_email") == 0 ? ",\"to\":[\"" BOB "\"]"
                                                     : "",
               what);
      free(id);
    }
    arm_lost_answer(fault_path);
    int rc = o365_fixture_run(fx, k->card, in, &o);
    if (rc != 0) {
      /* The message went out (the handler ran): a failure is not the
       * truth, whatever it says. */
      c.untruthful++;
      if (strstr(o.message, "outcome is unknown") == NULL)
        c.unclear++;
      rel_note(&c, "%s %d: %d %s", tag, i, rc, o.message);
    } else if (jflag(o.output, "sent") && !jflag(o.output, "deduplicated") &&
               jstr(o.output, "internet_message_id") != NULL) {
      reported++; /* this run sent it: not "deduplicated" */
    } else {
      c.untruthful++;
      rel_note(&c, "%s %d: output %s", tag, i,
               json_object_to_json_string(o.output));
    }
    o365_outcome_free(&o);
  }
  /* Reruns with each key: found, nothing sent again. */
  long dedups = 0;
  for (int i = 0; i < n; i++) {
    o365_outcome o;
    int rc = o365_fixture_run(fx, k->card, inputs[i], &o);
    if (rc == 0 && jflag(o.output, "deduplicated"))
      dedups++;
    else
      rel_note(&c, "%s %d rerun: %d %s", tag, i, rc, o.message);
    o365_outcome_free(&o);
  }
  free(inputs);
  /* Each subject in bob's inbox once: none twice, none lost. */
  json_object *inbox = o365_fixture_messages(fx, BOB, "inbox");
  assert_non_null(inbox);
  for (int i = 0; i < n; i++) {
    char subject[128];
    snprintf(subject, sizeof subject, "%s%s %d", k->prefix, tag, i);
    int count = rel_count_eq(inbox, "subject", subject);
    if (count == 0)
      c.lost++;
    else if (count > 1)
      c.duplicates += count - 1;
  }
  json_object_put(inbox);
  long sent = o365_fixture_sent_count(fx, ALICE) - sent0;
  long posts = o365_fixture_route_count(fx, "POST", send_route) - posts0;
  long resets = o365_fixture_status_count(fx, 0) - resets0;
  rel_figure(&c,
             "reported_sent=%ld sent=%ld send_requests=%ld resets=%ld "
             "reruns_deduplicated=%ld",
             reported, sent, posts, resets, dedups);
  long failures = rel_report(&c);
  /* Every send met the fault (else the test proves nothing), and each
   * send request reached the emulator once. */
  assert_int_equal(resets, n);
  assert_int_equal(posts, n);
  assert_int_equal(sent, n);
  assert_int_equal(c.lost, 0);
  assert_int_equal(c.duplicates, 0);
  assert_int_equal(c.untruthful, 0);
  assert_int_equal(c.unclear, 0);
  assert_int_equal(failures, 0);
  assert_int_equal(reported, n);
  assert_int_equal(dedups, n);
}

static void keyed_sends(const char *name, const char *tag, int n,
                        const char *file_ref, const char *fault_path,
                        const char *send_route) {
  keyed_sends_of(&new_mail, name, tag, n, file_ref, fault_path, send_route);
}

static void keyed_sends_lost_answer_sent_once(void **state) {
  (void)state;
  keyed_sends("keyed_send_lost_answer", "lost answer", rel_trials(50, 500),
              NULL, "/v1.0/me/sendMail", "/v1.0/me/sendMail");
}

/* The draft pipeline (an attachment): the answer to POST .../send is
 * lost; the draft went out and is no longer in Drafts. */
static void keyed_sends_with_attachment_lost_answer_sent_once(void **state) {
  (void)state;
  char ref[512];
  ct_file("lost.txt", "text/plain", "lost answer", ref, sizeof ref);
  keyed_sends("keyed_send_attachment_lost_answer", "lost file",
              rel_trials(50, 500), ref, "/v1.0/me/messages/*/send",
              "/v1.0/me/messages/{id}/send");
  json_object *drafts = o365_fixture_messages(fx, ALICE, "drafts");
  for (size_t k = 0; k < json_object_array_length(drafts); k++) {
    const char *s = jstr(json_object_array_get_idx(drafts, k), "subject");
    assert_false(s != NULL && strncmp(s, "lost file ", 10) == 0);
  }
  json_object_put(drafts);
}

/* Reply and Forward with a key (plugin/keysend.h), their answer lost
 * after the emulator sent them: the reply action, the forward action, and
 * the draft pipeline's /send (createReply / createForward, an
 * attachment). */
static void keyed_replies_lost_answer_sent_once(void **state) {
  (void)state;
  static const kind reply = {"reply_email", "RE: "};
  keyed_sends_of(&reply, "keyed_reply_lost_answer", "lost reply",
                 rel_trials(20, 200), NULL, "/v1.0/me/messages/*/reply",
                 "/v1.0/me/messages/{id}/reply");
}

static void keyed_forwards_lost_answer_sent_once(void **state) {
  (void)state;
  static const kind forward = {"forward_email", "FW: "};
  keyed_sends_of(&forward, "keyed_forward_lost_answer", "lost forward",
                 rel_trials(20, 200), NULL, "/v1.0/me/messages/*/forward",
                 "/v1.0/me/messages/{id}/forward");
}

static void keyed_answers_with_attachment_lost_answer_sent_once(void **state) {
  (void)state;
  static const kind reply = {"reply_email", "RE: "};
  static const kind forward = {"forward_email", "FW: "};
  char ref[512];
  ct_file("lost-answer.txt", "text/plain", "lost answer", ref, sizeof ref);
  keyed_sends_of(&reply, "keyed_reply_attachment_lost_answer",
                 "lost reply file", rel_trials(10, 100), ref,
                 "/v1.0/me/messages/*/send", "/v1.0/me/messages/{id}/send");
  keyed_sends_of(&forward, "keyed_forward_attachment_lost_answer",
                 "lost forward file", rel_trials(10, 100), ref,
                 "/v1.0/me/messages/*/send", "/v1.0/me/messages/{id}/send");
  json_object *drafts = o365_fixture_messages(fx, ALICE, "drafts");
  for (size_t k = 0; k < json_object_array_length(drafts); k++) {
    const char *s = jstr(json_object_array_get_idx(drafts, k), "subject");
    assert_false(s != NULL && strstr(s, "lost ") != NULL &&
                 strstr(s, " file ") != NULL);
  }
  json_object_put(drafts);
}

/* A reply without a key whose answer is lost: the outcome is unknown, the
 * message says where to look and that a key makes a rerun safe; one reply
 * went out. */
static void unkeyed_reply_lost_answer_outcome_unknown(void **state) {
  (void)state;
  char *id = o365_fixture_inject(fx, ALICE,
                                 "{\"subject\":\"unkeyed ask\",\"from\":\"" BOB
                                 "\",\"toRecipients\":[\"" ALICE
                                 "\"],\"body\":\"?\"}");
  assert_non_null(id);
  char in[512];
  snprintf(in, sizeof in, "{\"message_id\":\"%s\",\"comment\":\"ok\"}", id);
  free(id);
  o365_outcome o;
  run_ok("list_folders", "{\"recursive\":false}", &o);
  o365_outcome_free(&o);
  arm_lost_answer("/v1.0/me/messages/*/reply");
  int rc = o365_fixture_run(fx, "reply_email", in, &o);
  fprintf(stderr, "unkeyed reply: %d %s\n", rc, o.message);
  assert_int_equal(rc, WFC_ENET);
  assert_string_equal(jstr(o.detail, "outcome"), "unknown");
  ct_says(o.message, "the outcome is unknown");
  ct_says(o.message, "look in Sent Items");
  ct_says(o.message, "idempotency_key");
  o365_outcome_free(&o);
  assert_int_equal(ct_count(BOB, "inbox", "RE: unkeyed ask"), 1);
}

/* Without a key nobody can tell: the run fails with the outcome unknown,
 * says where to look, and exactly one message went out. */
static void unkeyed_send_lost_answer_outcome_unknown(void **state) {
  (void)state;
  long sent = o365_fixture_sent_count(fx, ALICE);
  long posts = o365_fixture_route_count(fx, "POST", "/v1.0/me/sendMail");
  arm_lost_answer("/v1.0/me/sendMail");
  o365_outcome o;
  int rc = o365_fixture_run(fx, "send_email",
                            "{\"to\":[\"" BOB "\"],\"subject\":\"unkeyed "
                            "lost\"}",
                            &o);
  fprintf(stderr, "unkeyed: %d %s\n", rc, o.message);
  assert_int_equal(rc, WFC_ENET);
  assert_string_equal(jstr(o.detail, "outcome"), "unknown");
  ct_says(o.message, "the outcome is unknown");
  ct_says(o.message, "look in Sent Items");
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_route_count(fx, "POST", "/v1.0/me/sendMail"),
                   posts + 1);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
  assert_int_equal(ct_count(BOB, "inbox", "unkeyed lost"), 1);
}

/* "<wfc-<40 hex of sha256("" "\n" key)>@wfc.idempotency>": Send Email's
 * marker for key on the account's own mailbox (cards/send_email.c). */
static void marker_of(const char *key, char *out, size_t outsz) {
  unsigned char md[32];
  unsigned int mdlen = 0;
  char hex[41];
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  assert_non_null(c);
  assert_true(EVP_DigestInit_ex(c, EVP_sha256(), NULL));
  assert_true(EVP_DigestUpdate(c, "\n", 1));
  assert_true(EVP_DigestUpdate(c, key, strlen(key)));
  assert_true(EVP_DigestFinal_ex(c, md, &mdlen));
  EVP_MD_CTX_free(c);
  for (int i = 0; i < 20; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
  snprintf(out, outsz, "<wfc-%s@wfc.idempotency>", hex);
}

typedef struct run {
  int done;
  int status;
  char message[1024];
  json_object *output; /* owned */
} run;

static void on_done(void *arg, wfc_call *call, const wfc_outcome *o) {
  run *r = arg;
  (void)call;
  r->done = 1;
  r->status = o->status;
  snprintf(r->message, sizeof r->message, "%s", o->message ? o->message : "");
  r->output = o->status == 0 ? json_object_get(o->output) : NULL;
}

/* Starts send_email with input (JSON text) on alice without waiting; r
 * gets the outcome. Returns the call (valid until r->done). */
static wfc_call *start_send(const char *input_json, run *r) {
  json_object *input = json_tokener_parse(input_json);
  wfc_call *call = NULL;
  assert_non_null(input);
  memset(r, 0, sizeof *r);
  wfc_invoke how = {sizeof how, .conn = alice, .on_done = on_done, .arg = r};
  assert_int_equal(wfc_runtime_invoke(o365_fixture_runtime(fx),
                                      "o365mail.send_email", input, &how,
                                      &call),
                   0);
  json_object_put(input);
  return call;
}

/* Runs the loop until r is done or the emulator has answered n GETs of
 * alice's messages (the card's look-ups); returns r->done. */
static int run_until_looks(run *r, long n) {
  while (!r->done &&
         o365_fixture_route_count(fx, "GET", "/v1.0/me/messages") < n)
    uv_run(o365_fixture_loop(fx), UV_RUN_ONCE);
  return r->done;
}

static void run_until_done(run *r) {
  while (!r->done)
    uv_run(o365_fixture_loop(fx), UV_RUN_ONCE);
}

/* Starts a send to bob of subject with idempotency key, its request lost
 * (reset before the emulator runs it), the card looking for its copy for
 * confirm_ms; the GETs of alice's messages and her sends so far in *looks
 * and *sent. Returns the call (as start_send). */
static wfc_call *start_lost_send(const char *confirm_ms, const char *subject,
                                 const char *key, run *r, long *looks,
                                 long *sent) {
  char in[512];
  setenv("O365MAIL_SEND_CONFIRM_MS", confirm_ms, 1);
  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"POST\",\"path\":"
                                          "\"/v1.0/me/sendMail\",\"action\":"
                                          "\"reset\",\"count\":1}"),
                   0);
  *looks = o365_fixture_route_count(fx, "GET", "/v1.0/me/messages");
  *sent = o365_fixture_sent_count(fx, ALICE);
  snprintf(in, sizeof in,
           "{\"to\":[\"" BOB "\"],\"subject\":\"%s\","
           "\"idempotency_key\":\"%s\"}",
           subject, key);
  return start_send(in, r);
}

/* Graph files the Sent Items copy a moment after the answer was lost: the
 * card's first looks find nothing, a later one finds it (here the copy is
 * put in by the test once the card has looked once after the failure; the
 * send itself was reset before the emulator ran it). */
static void copy_filed_late_is_found(void **state) {
  (void)state;
  char imid[128], msg[512];
  marker_of("filed-late-1", imid, sizeof imid);
  long looks, sent;
  run r;
  start_lost_send("10000", "filed late", "filed-late-1", &r, &looks, &sent);
  /* The check before sending, then the first look after the lost answer:
   * nothing there yet. Then the copy appears. */
  assert_false(run_until_looks(&r, looks + 2));
  snprintf(msg, sizeof msg,
           "{\"folder\":\"sentitems\",\"subject\":\"filed late\","
           "\"from\":\"" ALICE "\",\"toRecipients\":[\"" BOB "\"],"
           "\"internetMessageId\":\"%s\",\"body\":\"x\"}",
           imid);
  char *id = o365_fixture_inject(fx, ALICE, msg);
  assert_non_null(id);
  run_until_done(&r);
  setenv("O365MAIL_SEND_CONFIRM_MS", "1000", 1);
  if (r.status != 0)
    fail_msg("filed late: %s", r.message);
  assert_true(jflag(r.output, "sent"));
  assert_false(jflag(r.output, "deduplicated"));
  assert_non_null(jstr(r.output, "id")); /* immutable: not inject's id */
  assert_string_equal(jstr(r.output, "internet_message_id"), imid);
  assert_true(o365_fixture_route_count(fx, "GET", "/v1.0/me/messages") >=
              looks + 3);
  /* Nothing was sent again. */
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent);
  json_object_put(r.output);
  free(id);
}

/* A cancel while the card waits between two looks ends the run at once,
 * canceled, with the outcome unknown; nothing is sent. */
static void cancel_while_looking(void **state) {
  (void)state;
  long looks, sent;
  run r;
  wfc_call *call = start_lost_send("60000", "canceled look", "canceled-look-1",
                                   &r, &looks, &sent);
  assert_false(run_until_looks(&r, looks + 2));
  wfc_call_cancel(call);
  run_until_done(&r);
  setenv("O365MAIL_SEND_CONFIRM_MS", "1000", 1);
  fprintf(stderr, "canceled: %d %s\n", r.status, r.message);
  assert_int_equal(r.status, WFC_ECANCELED);
  ct_says(r.message, "the outcome is unknown");
  ct_says(r.message, "canceled while looking");
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent);
  /* No look after the cancel. */
  assert_true(o365_fixture_route_count(fx, "GET", "/v1.0/me/messages") <=
              looks + 3);
}

/* Cards that take no idempotency key: the outcome is unknown, and the
 * message gives advice that fits them. */
static void unkeyed_cards_do_not_mention_keys(void **state) {
  (void)state;
  char *id = o365_fixture_inject(fx, ALICE,
                                 "{\"subject\":\"ask\",\"from\":\"" BOB
                                 "\",\"toRecipients\":[\"" ALICE
                                 "\"],\"body\":\"?\"}");
  assert_non_null(id);
  char copy[512];
  snprintf(copy, sizeof copy, "{\"message_id\":\"%s\",\"folder\":\"archive\"}",
           id);
  free(id);
  const struct {
    const char *card, *input, *path;
  } cases[] = {
      {"copy_email", copy, "/v1.0/me/messages/*/copy"},
      {"create_folder", "{\"name\":\"Lost answers\"}", "/v1.0/me/mailFolders"},
      {"custom_api_action",
       "{\"method\":\"POST\",\"relative_url\":\"/me/messages\","
       "\"body\":{\"subject\":\"lost draft\"}}",
       "/v1.0/me/messages"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    /* Warm the connection, so the POST goes over a reused one. */
    o365_outcome o;
    run_ok("list_folders", "{\"recursive\":false}", &o);
    o365_outcome_free(&o);
    arm_lost_answer(cases[i].path);
    int rc = o365_fixture_run(fx, cases[i].card, cases[i].input, &o);
    fprintf(stderr, "%s: %d %s\n", cases[i].card, rc, o.message);
    assert_int_equal(rc, WFC_ENET);
    assert_string_equal(jstr(o.detail, "outcome"), "unknown");
    ct_says(o.message, "the outcome is unknown");
    ct_says(o.message, "check whether it took effect");
    assert_null(strstr(o.message, "idempotency"));
    o365_outcome_free(&o);
    assert_int_equal(ct_clear_faults(), 0);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_teardown(keyed_sends_lost_answer_sent_once, disarm),
      cmocka_unit_test_teardown(
          keyed_sends_with_attachment_lost_answer_sent_once, disarm),
      cmocka_unit_test_teardown(unkeyed_send_lost_answer_outcome_unknown,
                                disarm),
      cmocka_unit_test_teardown(keyed_replies_lost_answer_sent_once, disarm),
      cmocka_unit_test_teardown(keyed_forwards_lost_answer_sent_once, disarm),
      cmocka_unit_test_teardown(
          keyed_answers_with_attachment_lost_answer_sent_once, disarm),
      cmocka_unit_test_teardown(unkeyed_reply_lost_answer_outcome_unknown,
                                disarm),
      cmocka_unit_test_teardown(copy_filed_late_is_found, disarm),
      cmocka_unit_test_teardown(cancel_while_looking, disarm),
      cmocka_unit_test_teardown(unkeyed_cards_do_not_mention_keys, disarm),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
