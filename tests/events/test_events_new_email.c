/* test_events_new_email.c - the new_email event card and the host's event
 * watch (sdk/events.c) end to end: the real wfc-o365mail.so in the runtime
 * against the emulator (tests/support/o365_fixture.h), the checkpoint and
 * the events seen in a real sealed store (sdk/store.c) on a temp file.
 *
 * A "restart" closes the watch and opens a new one on the same store; a
 * "crash between emit and ack" is a batch whose events the consumer took
 * (accept) or not, without the acknowledgement. */
#define _DEFAULT_SOURCE /* usleep, <uv.h>, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <uv.h>

#include "events_test.h"

/* ---- tests -----------------------------------------------------------------
 */

/* The first poll records the start and asks Graph nothing; mail that was
 * there before is not replayed; each new message comes once. */
static void first_run_starts_now_and_each_message_once(void **state) {
  (void)state;
  long before = delta_requests();
  wfc_event_watch *w = started("{\"folder\":\"inbox\",\"max_events\":901}");
  assert_int_equal(delta_requests(), before);
  char *cp = wfc_event_watch_checkpoint(w);
  assert_non_null(cp);
  assert_non_null(strstr(cp, "\"start\""));
  free(cp);

  free(inject("once-1"));
  free(inject("once-2"));
  got g;
  poll_once(w, &g);
  assert_false(g.first);
  /* Only the two new ones: the tenant's older inbox mail is not there. */
  assert_int_equal(json_object_array_length(g.events), 2);
  assert_int_equal(count_subject(g.events, "once-1"), 1);
  assert_int_equal(count_subject(g.events, "once-2"), 1);
  json_object *e = json_object_array_get_idx(g.events, 0);
  assert_non_null(jstr(e, "id"));
  assert_non_null(jstr(e, "received"));
  assert_string_equal(jstr(e, "from"), "bob@contoso.test");
  accept_all_ack(w, &g);
  json_object_put(g.events);
  assert_int_equal(delta_requests(), before + 1);

  /* Nothing new: nothing delivered; then one more arrives. */
  expect_new(w, 0, NULL);
  free(inject("once-3"));
  expect_new(w, 1, "once-3");
  wfc_event_watch_close(w);
}

/* A message with that subject into alice's inbox. */
static void arrive(const char *subject) {
  free(inject(subject));
}

/* Crash after the flow took the events, before the acknowledgement: the
 * restarted watch polls the same changes again (the checkpoint did not
 * move) and the flow gets none of them a second time. Crash before the
 * flow took them: they come again. */
static void crash_between_emit_and_ack(void **state) {
  (void)state;
  wfc_event_watch *w = crash_before_ack_runs("o365mail.new_email",
                                             "{\"max_events\":902}", arrive);
  /* An ack without a batch in hand is refused. */
  assert_int_equal(wfc_event_watch_ack(w), WFC_ESTATE);
  wfc_event_watch_close(w);
}

/* Two watchers of one subscription: the second ack from the same start
 * is refused (compare-and-set), so the checkpoint never goes backwards. */
static void two_watchers_one_checkpoint(void **state) {
  (void)state;
  wfc_event_watch *a = started("{\"max_events\":903,\"folder\":\"inbox\"}");
  /* Same input, other key order: the same subscription. */
  wfc_event_watch *b = watch("{\"folder\":\"inbox\",\"max_events\":903}");
  free(inject("two-1"));
  got ga, gb;
  poll_once(a, &ga);
  poll_once(b, &gb);
  assert_false(gb.first);
  assert_int_equal(count_subject(ga.events, "two-1"), 1);
  accept_all_ack(a, &ga);
  /* b polled from the same checkpoint: its events were taken through a. */
  assert_int_equal(
      wfc_event_watch_accept(b, json_object_array_get_idx(gb.events, 0)), 0);
  assert_int_equal(wfc_event_watch_ack(b), WFC_ESTALE);
  json_object_put(ga.events);
  json_object_put(gb.events);
  wfc_event_watch_close(a);
  wfc_event_watch_close(b);
}

/* 25 messages with 9 per page: three pages, followed to the deltaLink,
 * every message once. */
static void three_pages(void **state) {
  (void)state;
  wfc_event_watch *w = started("{\"max_events\":904,\"page_size\":9}");
  for (int i = 0; i < 25; i++) {
    char s[32];
    snprintf(s, sizeof s, "pages-%02d", i);
    free(inject(s));
  }
  long before = delta_requests();
  got g;
  poll_once(w, &g);
  assert_int_equal(delta_requests() - before, 3);
  assert_each_once(g.events, "pages", 25);
  accept_all_ack(w, &g);
  json_object_put(g.events);
  char *cp = wfc_event_watch_checkpoint(w);
  assert_non_null(strstr(cp, "deltatoken"));
  free(cp);
  poll_once(w, &g);
  assert_int_equal(json_object_array_length(g.events), 0);
  json_object_put(g.events);
  wfc_event_watch_close(w);
}

/* max_events smaller than the changes: the poll stops at a page boundary
 * with the nextLink as checkpoint; the next poll goes on from there. */
static void max_events_resumes_from_next_link(void **state) {
  (void)state;
  wfc_event_watch *w = started("{\"page_size\":5,\"max_events\":5}");
  for (int i = 0; i < 12; i++) {
    char s[32];
    snprintf(s, sizeof s, "max-%02d", i);
    free(inject(s));
  }
  int seen[12] = {0};
  size_t total = 0;
  for (int round = 0; round < 3; round++) {
    got g;
    poll_once(w, &g);
    assert_true(json_object_array_length(g.events) <= 5);
    for (size_t i = 0; i < json_object_array_length(g.events); i++) {
      int k = atoi(jstr(json_object_array_get_idx(g.events, i), "subject") + 4);
      seen[k]++;
    }
    total += json_object_array_length(g.events);
    accept_all_ack(w, &g);
    json_object_put(g.events);
  }
  assert_int_equal(total, 12);
  for (int i = 0; i < 12; i++)
    assert_int_equal(seen[i], 1);
  wfc_event_watch_close(w);
}

/* The delta link expires (Graph dropped the sync state): the card logs it,
 * starts a new round from the last delivered time, and delivers the new
 * message without repeating the earlier ones (the card drops them itself:
 * the host's dedupe has nothing to do). */
static void expired_delta_link_resyncs(void **state) {
  (void)state;
  wfc_event_watch *w = started("{\"max_events\":906}");
  free(inject("expire-1"));
  free(inject("expire-2"));
  got g;
  expect_new(w, 2, NULL);

  free(inject("expire-3"));
  long s = 0;
  json_object *r =
      o365_fixture_admin(fx, "POST", "/__emulator/delta/expire", NULL, &s);
  assert_int_equal(s, 200);
  json_object_put(r);
  long gone = o365_fixture_status_count(fx, 410);
  logs[0] = '\0';
  poll_once(w, &g);
  assert_int_equal(o365_fixture_status_count(fx, 410), gone + 1);
  assert_non_null(strstr(logs, "new_email: the delta link expired "
                               "(syncStateNotFound); resyncing from"));
  assert_int_equal(g.duplicates, 0);
  assert_int_equal(json_object_array_length(g.events), 1);
  assert_int_equal(count_subject(g.events, "expire-3"), 1);
  accept_all_ack(w, &g);
  json_object_put(g.events);
  /* The new link works. */
  free(inject("expire-4"));
  expect_new(w, 1, "expire-4");
  wfc_event_watch_close(w);
}

/* A message moved out or deleted is not a new message; moved out and back
 * it keeps its immutable id and the flow does not see it again. */
static void moved_or_deleted_is_not_new(void **state) {
  (void)state;
  wfc_event_watch *w = started("{\"max_events\":907}");
  free(inject("moved-1"));
  free(inject("moved-2"));
  got g;
  poll_once(w, &g);
  assert_int_equal(json_object_array_length(g.events), 2);
  char id1[512], id2[512];
  for (size_t i = 0; i < 2; i++) {
    json_object *e = json_object_array_get_idx(g.events, i);
    snprintf(strcmp(jstr(e, "subject"), "moved-1") == 0 ? id1 : id2, 512, "%s",
             jstr(e, "id"));
  }
  accept_all_ack(w, &g);
  json_object_put(g.events);

  char in[1024];
  o365_outcome o;
  snprintf(in, sizeof in, "{\"message_id\":\"%s\",\"folder\":\"archive\"}",
           id1);
  assert_int_equal(o365_fixture_run(fx, "move_email", in, &o), 0);
  o365_outcome_free(&o);
  snprintf(in, sizeof in, "{\"message_id\":\"%s\"}", id2);
  assert_int_equal(o365_fixture_run(fx, "delete_email", in, &o), 0);
  o365_outcome_free(&o);
  expect_new(w, 0, NULL);

  /* Back into the inbox: Graph reports it as created in the folder; same
   * immutable id, so the host leaves it out. */
  snprintf(in, sizeof in, "{\"message_id\":\"%s\",\"folder\":\"inbox\"}", id1);
  assert_int_equal(o365_fixture_run(fx, "move_email", in, &o), 0);
  o365_outcome_free(&o);
  poll_once(w, &g);
  assert_int_equal(json_object_array_length(g.events), 0);
  assert_int_equal(g.duplicates, 1);
  accept_all_ack(w, &g);
  json_object_put(g.events);
  wfc_event_watch_close(w);
}

/* 429 with Retry-After on the delta request: the Graph layer waits and
 * retries; the poll delivers. */
static void throttled_poll_delivers(void **state) {
  (void)state;
  wfc_event_watch *w = started("{\"max_events\":908}");
  free(inject("throttle-1"));
  assert_int_equal(
      o365_fixture_fault(fx, "{\"method\":\"GET\",\"path\":\"/v1.0/me/"
                             "mailFolders/*/messages/delta*\",\"count\":2,"
                             "\"action\":\"status\",\"status\":429,"
                             "\"retryAfter\":1}"),
      0);
  long t = o365_fixture_status_count(fx, 429);
  got g;
  poll_once(w, &g);
  assert_int_equal(o365_fixture_status_count(fx, 429), t + 2);
  assert_int_equal(json_object_array_length(g.events), 1);
  assert_int_equal(count_subject(g.events, "throttle-1"), 1);
  accept_all_ack(w, &g);
  json_object_put(g.events);
  wfc_event_watch_close(w);
}

/* A folder that does not exist is an error naming it; an action card is
 * refused as a watch; a checkpoint written by someone else is refused. */
static void errors_name_the_cause(void **state) {
  (void)state;
  wfc_event_watch *w = watch("{\"folder\":\"Nope/Nothing\"}");
  got g;
  memset(&g, 0, sizeof g);
  assert_int_equal(wfc_event_watch_poll(w, on_batch, &g), 0);
  while (!g.done)
    uv_run(o365_fixture_loop(fx), UV_RUN_ONCE);
  if (g.status != WFC_ENOTFOUND)
    fail_msg("status %d: %s", g.status, g.message);
  assert_non_null(strstr(g.message, "Nope"));
  assert_int_equal(wfc_event_watch_ack(w), WFC_ESTATE);
  wfc_event_watch_close(w);

  json_object *in = json_object_new_object();
  wfc_event_watch_opts o = {
      .size = sizeof o, .card = "o365mail.get_message", .input = in};
  char err[256] = "";
  assert_int_equal(wfc__event_watch_open_at(o365_fixture_runtime(fx), st, alice,
                                            conn_id, &o, &w, err, sizeof err),
                   WFC_EINVAL);
  assert_non_null(strstr(err, "not an event card"));
  json_object_put(in);

  w = watch("{\"max_events\":909}");
  json_object *kin = json_tokener_parse("{\"max_events\":909}");
  char *key = wfc__event_sub_key(kin);
  json_object_put(kin);
  assert_int_equal(wfc__store_checkpoint_cas(st, conn_id, "o365mail.new_email",
                                             key, NULL, "{\"x\":1}", 0),
                   0);
  free(key);
  memset(&g, 0, sizeof g);
  assert_int_equal(wfc_event_watch_poll(w, on_batch, &g), 0);
  while (!g.done)
    uv_run(o365_fixture_loop(fx), UV_RUN_ONCE);
  assert_int_equal(g.status, WFC_EINVAL);
  assert_non_null(strstr(g.message, "checkpoint"));
  wfc_event_watch_close(w);
}

/* The dedupe window is bounded: past window_max the oldest ids go. */
static void window_is_bounded(void **state) {
  (void)state;
  json_object *in = json_tokener_parse("{\"max_events\":910,\"page_size\":10}");
  wfc_event_watch_opts o = {.size = sizeof o,
                            .card = "o365mail.new_email",
                            .input = in,
                            .window_max = 4};
  wfc_event_watch *w = NULL;
  assert_int_equal(wfc__event_watch_open_at(o365_fixture_runtime(fx), st, alice,
                                            conn_id, &o, &w, NULL, 0),
                   0);
  json_object_put(in);
  got g;
  poll_once(w, &g);
  accept_all_ack(w, &g);
  json_object_put(g.events);
  for (int i = 0; i < 6; i++) {
    char s[32];
    snprintf(s, sizeof s, "window-%d", i);
    free(inject(s));
  }
  poll_once(w, &g);
  assert_int_equal(json_object_array_length(g.events), 6);
  accept_all_ack(w, &g);
  json_object *kin = json_tokener_parse("{\"page_size\":10,\"max_events\":"
                                        "910}");
  char *key = wfc__event_sub_key(kin);
  json_object_put(kin);
  int kept = 0;
  for (size_t i = 0; i < 6; i++)
    kept += wfc__store_event_seen(
                st, conn_id, "o365mail.new_email", key,
                jstr(json_object_array_get_idx(g.events, i), "id")) == 1;
  assert_int_equal(kept, 4);
  free(key);
  json_object_put(g.events);
  wfc_event_watch_close(w);
}

/* A message given in Graph's fields (sender, subject, importance, cc,
 * attachments) into alice's inbox; its id is dropped. */
static void inject_msg(const char *from, const char *subject,
                       const char *importance, const char *cc, int attachment) {
  char body[1024];
  snprintf(body, sizeof body,
           "{\"subject\":\"%s\",\"from\":\"%s\",\"importance\":\"%s\","
           "\"toRecipients\":[{\"emailAddress\":{\"address\":\"" ALICE
           "\"}}],\"ccRecipients\":[{\"emailAddress\":{\"address\":\"%s\"}}]"
           "%s}",
           subject, from, importance, cc,
           attachment ? ",\"attachments\":[{\"name\":\"a.txt\","
                        "\"contentType\":\"text/plain\",\"text\":\"hi\"}]"
                      : "");
  char *id = o365_fixture_inject(fx, ALICE, body);
  assert_non_null(id);
  free(id);
}

/* Sender, subject and importance filters: only the matching messages are
 * events; those left out never come later, neither at the next poll, nor
 * after a restart, nor after the delta link expired (the checkpoint moved
 * past them). */
static void filters_leave_out_for_good(void **state) {
  (void)state;
  static const char in[] =
      "{\"max_events\":911,\"from\":[\"nobody@contoso.test\","
      "\"Carol@Contoso.test\"],\"subject_contains\":\"INVOICE\","
      "\"importance\":\"high\"}";
  wfc_event_watch *w = started(in);
  inject_msg("carol@contoso.test", "Invoice 1", "high", "x@contoso.test", 0);
  inject_msg("bob@contoso.test", "Invoice 2", "high", "x@contoso.test", 0);
  inject_msg("carol@contoso.test", "Hello 3", "high", "x@contoso.test", 0);
  inject_msg("carol@contoso.test", "invoice 4", "low", "x@contoso.test", 0);
  logs[0] = '\0';
  wfc__log_set_level(WFC_LOG_DEBUG);
  got g;
  poll_once(w, &g);
  wfc__log_set_level(WFC_LOG_INFO);
  assert_int_equal(json_object_array_length(g.events), 1);
  assert_int_equal(count_subject(g.events, "Invoice 1"), 1);
  assert_non_null(strstr(logs, "3 message(s) left out by the filters"));
  accept_all_ack(w, &g);
  json_object_put(g.events);
  expect_new(w, 0, NULL);

  /* Restart: the left-out ones stay out; a new match comes once. */
  wfc_event_watch_close(w);
  w = watch(in);
  inject_msg("carol@contoso.test", "re: invoice 5", "high", "x@contoso.test",
             0);
  expect_new(w, 1, "re: invoice 5");

  /* Expired link: the resync starts from the last delivered time; what
   * was left out before is still out, the new match comes once. */
  inject_msg("bob@contoso.test", "Invoice 6", "high", "x@contoso.test", 0);
  inject_msg("carol@contoso.test", "Invoice 7", "high", "x@contoso.test", 0);
  long s = 0;
  json_object_put(
      o365_fixture_admin(fx, "POST", "/__emulator/delta/expire", NULL, &s));
  assert_int_equal(s, 200);
  poll_once(w, &g);
  assert_int_equal(g.duplicates, 0);
  assert_int_equal(json_object_array_length(g.events), 1);
  assert_int_equal(count_subject(g.events, "Invoice 7"), 1);
  accept_all_ack(w, &g);
  json_object_put(g.events);
  expect_new(w, 0, NULL);
  wfc_event_watch_close(w);
}

/* To and Cc match any address of their lists (case-insensitive); only
 * with attachments leaves out the rest; include_attachments puts the
 * files in the host's store and their references in the event. */
static void filters_to_cc_attachments(void **state) {
  (void)state;
  wfc_event_watch *w = started(
      "{\"max_events\":912,\"to\":[\"ALICE@contoso.test\",\"z@contoso.test\"],"
      "\"cc\":[\"dave@contoso.test\",\"erin@contoso.test\"],"
      "\"only_with_attachments\":true,\"include_attachments\":true}");
  inject_msg("bob@contoso.test", "tcc-1", "normal", "Erin@contoso.test", 1);
  inject_msg("bob@contoso.test", "tcc-2", "normal", "erin@contoso.test", 0);
  inject_msg("bob@contoso.test", "tcc-3", "normal", "frank@contoso.test", 1);
  got g;
  poll_once(w, &g);
  assert_int_equal(json_object_array_length(g.events), 1);
  assert_int_equal(count_subject(g.events, "tcc-1"), 1);
  json_object *e = json_object_array_get_idx(g.events, 0), *has = NULL;
  assert_true(json_object_object_get_ex(e, "has_attachments", &has) &&
              json_object_get_boolean(has));
  /* include_attachments: the file is in the host's store, referenced. */
  json_object *atts = NULL, *file = NULL, *size = NULL;
  assert_true(json_object_object_get_ex(e, "attachments", &atts));
  assert_int_equal(json_object_array_length(atts), 1);
  json_object *a0 = json_object_array_get_idx(atts, 0);
  assert_string_equal(jstr(a0, "name"), "a.txt");
  assert_string_equal(jstr(a0, "kind"), "file");
  assert_true(json_object_object_get_ex(a0, "file", &file));
  assert_non_null(jstr(file, "id"));
  assert_true(json_object_object_get_ex(file, "size", &size));
  assert_int_equal(json_object_get_int64(size), 2); /* "hi" */
  accept_all_ack(w, &g);
  json_object_put(g.events);
  wfc_event_watch_close(w);

  /* A bad filter is refused, naming the field. */
  w = watch("{\"importance\":\"urgent\"}");
  memset(&g, 0, sizeof g);
  int rc = wfc_event_watch_poll(w, on_batch, &g);
  while (rc == 0 && !g.done)
    uv_run(o365_fixture_loop(fx), UV_RUN_ONCE);
  assert_int_equal(rc, 0);
  assert_int_equal(g.status, WFC_EVALIDATION);
  assert_non_null(strstr(g.message, "input.importance"));
  wfc_event_watch_close(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(first_run_starts_now_and_each_message_once),
      cmocka_unit_test(crash_between_emit_and_ack),
      cmocka_unit_test(two_watchers_one_checkpoint),
      cmocka_unit_test(three_pages),
      cmocka_unit_test(max_events_resumes_from_next_link),
      cmocka_unit_test(expired_delta_link_resyncs),
      cmocka_unit_test(moved_or_deleted_is_not_new),
      cmocka_unit_test(throttled_poll_delivers),
      cmocka_unit_test(errors_name_the_cause),
      cmocka_unit_test(window_is_bounded),
      cmocka_unit_test(filters_leave_out_for_good),
      cmocka_unit_test(filters_to_cc_attachments),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
