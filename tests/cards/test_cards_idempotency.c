/* Send Email's idempotency key under concurrency, through the real runtime
 * and plugin against the emulator (plugin/flight.h): runs with the same key
 * started together send one message - the first checks the mailbox and
 * sends, the others wait and report its message as deduplicated; when the
 * first fails, the next makes its own attempt; runs with other keys do not
 * wait for each other. Reply and Forward take the same path
 * (plugin/keysend.h): their marker is on the reply's own Message-ID. */
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

#define ALICE    "alice@contoso.test"
#define MAX_RUNS 32

typedef struct run {
  int done;
  int order; /* 1 for the first run to complete, ... */
  int status;
  char message[512];
  json_object *output; /* owned */
} run;

static run runs[MAX_RUNS];
static int completed;

static void on_done(void *arg, wfc_call *call, const wfc_outcome *o) {
  run *r = arg;
  (void)call;
  r->done = 1;
  r->order = ++completed;
  r->status = o->status;
  snprintf(r->message, sizeof r->message, "%s", o->message ? o->message : "");
  r->output = o->status == 0 ? json_object_get(o->output) : NULL;
}

/* Starts card (e.g. "o365mail.reply_email") with inputs[i] for i < n in
 * one go (before the loop runs), then runs the loop until every run has
 * completed. */
static void run_all_card(const char *card, const char *const *inputs, int n) {
  assert_true(n <= MAX_RUNS);
  memset(runs, 0, sizeof runs);
  completed = 0;
  for (int i = 0; i < n; i++) {
    json_object *input = json_tokener_parse(inputs[i]);
    assert_non_null(input);
    wfc_invoke how = {sizeof how, .conn = alice, .on_done = on_done,
                      .arg = &runs[i]};
    assert_int_equal(
        wfc_runtime_invoke(o365_fixture_runtime(fx), card, input, &how, NULL),
        0);
    json_object_put(input);
  }
  while (completed < n)
    uv_run(o365_fixture_loop(fx), UV_RUN_ONCE);
}

static void run_all(const char *const *inputs, int n) {
  run_all_card("o365mail.send_email", inputs, n);
}

static void runs_free(int n) {
  for (int i = 0; i < n; i++)
    json_object_put(runs[i].output);
  memset(runs, 0, sizeof runs);
}

static int setup(void **state) {
  (void)state;
  return ct_up(NULL, NULL);
}

/* 20 runs with one key: one message in Sent Items and in each recipient's
 * inbox, one lookup and one sendMail at the emulator, and all 20 runs
 * succeed reporting the same Message-ID (19 of them deduplicated). */
static void same_key_twenty_runs_send_once(void **state) {
  (void)state;
  enum { N = 20 };
  const char *in = "{\"to\":[\"bob@contoso.test\"],"
                   "\"cc\":[\"carol@contoso.test\"],"
                   "\"subject\":\"flight twenty\",\"body\":\"once\","
                   "\"idempotency_key\":\"flight-twenty\"}";
  const char *inputs[N];
  for (int i = 0; i < N; i++)
    inputs[i] = in;
  long sent = o365_fixture_sent_count(fx, ALICE);
  long lookups = o365_fixture_route_count(fx, "GET", "/v1.0/me/messages");
  long sendmail = o365_fixture_route_count(fx, "POST", "/v1.0/me/sendMail");

  run_all(inputs, N);
  int firsts = 0;
  const char *imid = NULL;
  for (int i = 0; i < N; i++) {
    if (runs[i].status != 0)
      fail_msg("run %d: %s", i, runs[i].message);
    assert_true(json_object_get_boolean(
        json_object_object_get(runs[i].output, "sent")));
    const char *m = jstr(runs[i].output, "internet_message_id");
    assert_non_null(m);
    if (imid == NULL)
      imid = m;
    assert_string_equal(m, imid);
    assert_string_equal(jstr(runs[i].output, "subject"), "flight twenty");
    if (!jflag(runs[i].output, "deduplicated"))
      firsts++;
  }
  assert_int_equal(firsts, 1);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
  assert_int_equal(ct_count(ALICE, "sentitems", "flight twenty"), 1);
  assert_int_equal(ct_count("bob@contoso.test", "inbox", "flight twenty"), 1);
  assert_int_equal(ct_count("carol@contoso.test", "inbox", "flight twenty"), 1);
  /* The waiters asked the mailbox nothing: one lookup, one send. */
  assert_int_equal(o365_fixture_route_count(fx, "GET", "/v1.0/me/messages"),
                   lookups + 1);
  assert_int_equal(o365_fixture_route_count(fx, "POST", "/v1.0/me/sendMail"),
                   sendmail + 1);
  runs_free(N);

  /* A later run with the key finds the message in the mailbox. */
  run_all(inputs, 1);
  assert_int_equal(runs[0].status, 0);
  assert_true(jflag(runs[0].output, "deduplicated"));
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
  runs_free(1);
}

/* The draft pipeline (with an attachment): the waiters report the sent
 * message's id too. */
static void same_key_with_attachment_sends_once(void **state) {
  (void)state;
  enum { N = 5 };
  char ref[512], in[1024];
  ct_file("f.txt", "text/plain", "flight", ref, sizeof ref);
  snprintf(in, sizeof in,
           "{\"to\":[\"bob@contoso.test\"],\"subject\":\"flight file\","
           "\"attachments\":[%s],\"idempotency_key\":\"flight-file\"}",
           ref);
  const char *inputs[N];
  for (int i = 0; i < N; i++)
    inputs[i] = in;
  long sent = o365_fixture_sent_count(fx, ALICE);

  run_all(inputs, N);
  const char *id = NULL;
  int firsts = 0;
  for (int i = 0; i < N; i++) {
    if (runs[i].status != 0)
      fail_msg("run %d: %s", i, runs[i].message);
    const char *m = jstr(runs[i].output, "id");
    assert_non_null(m);
    if (id == NULL)
      id = m;
    assert_string_equal(m, id);
    firsts += !jflag(runs[i].output, "deduplicated");
  }
  assert_int_equal(firsts, 1);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
  assert_int_equal(ct_count("bob@contoso.test", "inbox", "flight file"), 1);
  assert_int_equal(ct_count(ALICE, "drafts", "flight file"), 0);
  runs_free(N);
}

/* The first run's send is refused: it fails, the next run makes its own
 * attempt and sends, the rest report that one. */
static void first_failure_lets_the_next_try(void **state) {
  (void)state;
  enum { N = 5 };
  const char *in = "{\"to\":[\"bob@contoso.test\"],\"subject\":\"flight "
                   "retry\",\"idempotency_key\":\"flight-retry\"}";
  const char *inputs[N];
  for (int i = 0; i < N; i++)
    inputs[i] = in;
  long sent = o365_fixture_sent_count(fx, ALICE);
  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"POST\",\"path\":"
                                          "\"/v1.0/me/sendMail\",\"action\":"
                                          "\"status\",\"status\":400,"
                                          "\"count\":1}"),
                   0);
  run_all(inputs, N);
  int failed = 0, firsts = 0;
  for (int i = 0; i < N; i++) {
    if (runs[i].status != 0) {
      failed++;
      assert_int_equal(runs[i].order, 1); /* the first to end */
      continue;
    }
    firsts += !jflag(runs[i].output, "deduplicated");
  }
  assert_int_equal(failed, 1);
  assert_int_equal(firsts, 1);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
  assert_int_equal(ct_count("bob@contoso.test", "inbox", "flight retry"), 1);
  runs_free(N);
}

/* Other keys do not wait: A's send is held 2 s at the emulator, B (another
 * key, started after A) ends first; both are sent. */
static void other_keys_are_not_serialised(void **state) {
  (void)state;
  char ref[512], a[1024];
  ct_file("g.txt", "text/plain", "slow", ref, sizeof ref);
  snprintf(a, sizeof a,
           "{\"to\":[\"bob@contoso.test\"],\"subject\":\"flight slow\","
           "\"attachments\":[%s],\"idempotency_key\":\"flight-key-a\"}",
           ref);
  const char *inputs[2] = {
      a, "{\"to\":[\"bob@contoso.test\"],\"subject\":\"flight fast\","
         "\"idempotency_key\":\"flight-key-b\"}"};
  long sent = o365_fixture_sent_count(fx, ALICE);
  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"POST\",\"path\":"
                                          "\"/v1.0/me/messages/*/send\","
                                          "\"action\":\"delay\","
                                          "\"delayMs\":2000,\"count\":1}"),
                   0);
  run_all(inputs, 2);
  for (int i = 0; i < 2; i++) {
    if (runs[i].status != 0)
      fail_msg("run %d: %s", i, runs[i].message);
    assert_false(jflag(runs[i].output, "deduplicated"));
  }
  assert_int_equal(runs[1].order, 1);
  assert_int_equal(runs[0].order, 2);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 2);
  runs_free(2);
}

/* Runs send_email with input once; fills o (the caller frees it). */
static int run_once(const char *input, o365_outcome *o) {
  return o365_fixture_run(fx, "send_email", input, o);
}

/* A keyed send with an attachment whose /send Graph refuses leaves its
 * draft (and says a rerun deletes it); the rerun deletes that draft (with
 * If-Match: its entity tag), sends one message, and leaves no draft. */
static void keyed_rerun_removes_its_draft(void **state) {
  (void)state;
  char ref[512], in[1024];
  assert_int_equal(o365_fixture_make_file(fx, "d.txt", "text/plain", "draft", 5,
                                          ref, sizeof ref),
                   0);
  snprintf(in, sizeof in,
           "{\"to\":[\"bob@contoso.test\"],\"subject\":\"keyed draft\","
           "\"attachments\":[%s],\"idempotency_key\":\"keyed-draft\"}",
           ref);
  long sent = o365_fixture_sent_count(fx, ALICE);
  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"POST\",\"path\":"
                                          "\"/v1.0/me/messages/*/send\","
                                          "\"status\":500,\"count\":1}"),
                   0);
  o365_outcome o;
  assert_int_equal(run_once(in, &o), WFC_EREMOTE);
  ct_says(o.message, "nothing was sent, the draft is kept in Drafts");
  ct_says(o.message, "until a rerun with the same idempotency_key deletes it");
  o365_outcome_free(&o);
  assert_int_equal(ct_clear_faults(), 0);
  assert_int_equal(ct_count(ALICE, "drafts", "keyed draft"), 1);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent);

  long deletes =
      o365_fixture_route_count(fx, "DELETE", "/v1.0/me/messages/{id}");
  run_ok("send_email", in, &o);
  assert_true(jbool(o.output, "sent"));
  assert_false(jflag(o.output, "deduplicated"));
  o365_outcome_free(&o);
  assert_int_equal(
      o365_fixture_route_count(fx, "DELETE", "/v1.0/me/messages/{id}"),
      deletes + 1);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
  assert_int_equal(ct_count("bob@contoso.test", "inbox", "keyed draft"), 1);
  assert_int_equal(ct_count(ALICE, "drafts", "keyed draft"), 0);

  /* Once more: found sent, nothing deleted, nothing sent. */
  run_ok("send_email", in, &o);
  assert_true(jflag(o.output, "deduplicated"));
  o365_outcome_free(&o);
  assert_int_equal(
      o365_fixture_route_count(fx, "DELETE", "/v1.0/me/messages/{id}"),
      deletes + 1);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
}

/* A draft that changed between the look and its deletion (412: another
 * run with the key is attaching to it or sending it) is not deleted, and
 * with no sent message in the mailbox the run does not send either: it
 * fails saying so. A later run deletes the draft and sends once. A draft
 * deleted under a run before its /send (404) makes that run say so, not
 * "the id is wrong". */
static void keyed_draft_changed_or_gone(void **state) {
  (void)state;
  char ref[512], in[1024];
  assert_int_equal(o365_fixture_make_file(fx, "e.txt", "text/plain", "busy", 4,
                                          ref, sizeof ref),
                   0);
  snprintf(in, sizeof in,
           "{\"to\":[\"bob@contoso.test\"],\"subject\":\"keyed busy\","
           "\"attachments\":[%s],\"idempotency_key\":\"keyed-busy\"}",
           ref);
  long sent = o365_fixture_sent_count(fx, ALICE);
  /* The draft is deleted under the run (as a concurrent rerun does): its
   * /send meets 404. */
  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"POST\",\"path\":"
                                          "\"/v1.0/me/messages/*/send\","
                                          "\"status\":404,\"code\":"
                                          "\"ErrorItemNotFound\","
                                          "\"count\":1}"),
                   0);
  o365_outcome o;
  assert_int_equal(run_once(in, &o), WFC_ENOTFOUND);
  ct_says(o.message, "was deleted before it could be sent, so nothing was "
                     "sent, probably by another run with the same "
                     "idempotency_key");
  o365_outcome_free(&o);
  assert_int_equal(ct_clear_faults(), 0);
  assert_int_equal(ct_count(ALICE, "drafts", "keyed busy"), 1);

  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"DELETE\","
                                          "\"path\":\"/v1.0/me/messages/\","
                                          "\"status\":412,\"code\":"
                                          "\"ErrorIrresolvableConflict\","
                                          "\"count\":1}"),
                   0);
  long sends = o365_fixture_route_count(fx, "POST", "/v1.0/me/messages");
  assert_int_equal(run_once(in, &o), WFC_EBUSY);
  ct_says(o.message, "another run with the same idempotency_key is sending "
                     "this message now");
  ct_says(o.message, "nothing was sent by this run");
  o365_outcome_free(&o);
  assert_int_equal(ct_clear_faults(), 0);
  /* No new draft was made, nothing was sent, the draft was left. */
  assert_int_equal(o365_fixture_route_count(fx, "POST", "/v1.0/me/messages"),
                   sends);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent);
  assert_int_equal(ct_count(ALICE, "drafts", "keyed busy"), 1);

  run_ok("send_email", in, &o);
  assert_false(jflag(o.output, "deduplicated"));
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
  assert_int_equal(ct_count(ALICE, "drafts", "keyed busy"), 0);
}

/* A message from bob to alice with subject (injected); its id (malloc'd). */
static char *from_bob(const char *subject) {
  char msg[512];
  snprintf(msg, sizeof msg,
           "{\"subject\":\"%s\",\"from\":\"bob@contoso.test\","
           "\"toRecipients\":[\"" ALICE "\"],\"body\":\"question\"}",
           subject);
  char *id = o365_fixture_inject(fx, ALICE, msg);
  assert_non_null(id);
  return id;
}

/* Reply, reply all and forward, with and without an attachment: 5 runs
 * with one key send one message (the others report it deduplicated, with
 * its Message-ID), a later run finds it in the mailbox, and another key
 * answers again. */
static void reply_and_forward_same_key_send_once(void **state) {
  (void)state;
  enum { N = 5 };
  char ref[512];
  ct_file("r.txt", "text/plain", "reply file", ref, sizeof ref);
  const struct {
    const char *card, *extra, *prefix;
    int file;
  } cases[] = {
      {"o365mail.reply_email", "", "RE: ", 0},
      {"o365mail.reply_email", ",\"reply_all\":true", "RE: ", 0},
      {"o365mail.forward_email", ",\"to\":[\"bob@contoso.test\"]", "FW: ", 0},
      {"o365mail.reply_email", "", "RE: ", 1},
      {"o365mail.forward_email", ",\"to\":[\"bob@contoso.test\"]", "FW: ", 1},
  };
  for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
    char subject[64], answer[80], extra[1024], in[2048], in2[2048];
    snprintf(subject, sizeof subject, "keyed answer %zu", k);
    snprintf(answer, sizeof answer, "%s%s", cases[k].prefix, subject);
    snprintf(extra, sizeof extra, "%s%s%s%s", cases[k].extra,
             cases[k].file ? ",\"attachments\":[" : "",
             cases[k].file ? ref : "", cases[k].file ? "]" : "");
    char *id = from_bob(subject);
    snprintf(in, sizeof in,
             "{\"message_id\":\"%s\",\"comment\":\"once\","
             "\"idempotency_key\":\"answer-%zu\"%s}",
             id, k, extra);
    const char *inputs[N];
    for (int i = 0; i < N; i++)
      inputs[i] = in;
    long sent = o365_fixture_sent_count(fx, ALICE);

    run_all_card(cases[k].card, inputs, N);
    int firsts = 0;
    const char *imid = NULL;
    for (int i = 0; i < N; i++) {
      if (runs[i].status != 0)
        fail_msg("%s %zu run %d: %s", cases[k].card, k, i, runs[i].message);
      assert_true(jbool(runs[i].output, "sent"));
      const char *m = jstr(runs[i].output, "internet_message_id");
      assert_non_null(m);
      if (imid == NULL)
        imid = m;
      assert_string_equal(m, imid);
      firsts += !jflag(runs[i].output, "deduplicated");
    }
    assert_int_equal(firsts, 1);
    assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
    assert_int_equal(ct_count("bob@contoso.test", "inbox", answer), 1);
    assert_int_equal(ct_count(ALICE, "drafts", answer), 0);
    /* The copy in Sent Items carries the key's Message-ID. */
    json_object *copy = ct_message(ALICE, "sentitems", answer, NULL);
    assert_non_null(copy);
    assert_string_equal(jstr(copy, "internetMessageId"), imid);
    json_object_put(copy);
    runs_free(N);

    /* Later: found in the mailbox; another key answers again. */
    run_all_card(cases[k].card, inputs, 1);
    assert_int_equal(runs[0].status, 0);
    assert_true(jflag(runs[0].output, "deduplicated"));
    runs_free(1);
    snprintf(in2, sizeof in2,
             "{\"message_id\":\"%s\",\"comment\":\"twice\","
             "\"idempotency_key\":\"answer-%zu-b\"%s}",
             id, k, extra);
    inputs[0] = in2;
    run_all_card(cases[k].card, inputs, 1);
    if (runs[0].status != 0)
      fail_msg("second key: %s", runs[0].message);
    assert_false(jflag(runs[0].output, "deduplicated"));
    runs_free(1);
    assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 2);
    assert_int_equal(ct_count("bob@contoso.test", "inbox", answer), 2);
    free(id);
  }
}

/* A keyed reply with an attachment whose /send Graph refuses leaves its
 * draft (createReply made it with the key's Message-ID); the rerun deletes
 * it and sends the reply once. */
static void keyed_reply_rerun_removes_its_draft(void **state) {
  (void)state;
  char ref[512], in[1024];
  ct_file("rd.txt", "text/plain", "reply draft", ref, sizeof ref);
  char *id = from_bob("keyed reply draft");
  snprintf(in, sizeof in,
           "{\"message_id\":\"%s\",\"comment\":\"with file\","
           "\"attachments\":[%s],\"idempotency_key\":\"keyed-reply-draft\"}",
           id, ref);
  free(id);
  long sent = o365_fixture_sent_count(fx, ALICE);
  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"POST\",\"path\":"
                                          "\"/v1.0/me/messages/*/send\","
                                          "\"status\":500,\"count\":1}"),
                   0);
  o365_outcome o;
  assert_int_equal(o365_fixture_run(fx, "reply_email", in, &o), WFC_EREMOTE);
  ct_says(o.message, "nothing was sent, the draft is kept in Drafts");
  ct_says(o.message, "until a rerun with the same idempotency_key deletes it");
  o365_outcome_free(&o);
  assert_int_equal(ct_clear_faults(), 0);
  assert_int_equal(ct_count(ALICE, "drafts", "RE: keyed reply draft"), 1);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent);

  run_ok("reply_email", in, &o);
  assert_false(jflag(o.output, "deduplicated"));
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, ALICE), sent + 1);
  assert_int_equal(
      ct_count("bob@contoso.test", "inbox", "RE: keyed reply draft"), 1);
  assert_int_equal(ct_count(ALICE, "drafts", "RE: keyed reply draft"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(same_key_twenty_runs_send_once),
      cmocka_unit_test(same_key_with_attachment_sends_once),
      cmocka_unit_test(first_failure_lets_the_next_try),
      cmocka_unit_test(other_keys_are_not_serialised),
      cmocka_unit_test(keyed_rerun_removes_its_draft),
      cmocka_unit_test(keyed_draft_changed_or_gone),
      cmocka_unit_test(reply_and_forward_same_key_send_once),
      cmocka_unit_test(keyed_reply_rerun_removes_its_draft),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
