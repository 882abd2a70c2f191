/* test_events_flagged.c - the email_flagged event card with the host's
 * event watch, against the emulator with a real store
 * (tests/events/events_test.h): the baseline, one event per flagging
 * (unflag and flag again is a new one; other changes of a flagged message
 * are not), a crash between emit and ack, a restart, an expired delta
 * link, a flagged message deleted. */
#define _DEFAULT_SOURCE /* usleep, <uv.h>, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "events_test.h"

#define FLAGGED "o365mail.email_flagged"

/* Runs card on message id with one more input member (JSON text); the
 * output's "id" (a moved message's new one), or NULL; the caller frees. */
static char *act(const char *card, const char *id, const char *more) {
  char in[1024];
  snprintf(in, sizeof in, "{\"message_id\":\"%s\"%s%s}", id, more ? "," : "",
           more ? more : "");
  o365_outcome o;
  if (o365_fixture_run(fx, card, in, &o) != 0)
    fail_msg("%s %s: %s", card, in, o.message);
  const char *out = jstr(o.output, "id");
  char *copy = out ? strdup(out) : NULL;
  o365_outcome_free(&o);
  return copy;
}

static void flag(const char *id, const char *status) {
  char more[64];
  snprintf(more, sizeof more, "\"status\":\"%s\"", status);
  free(act("flag_email", id, more));
}

/* One poll: exactly the events with these subjects (NULL-terminated), all
 * taken and acknowledged; their event_ids appended to ids when not NULL. */
static void expect_flagged(wfc_event_watch *w, const char *const *subjects,
                           json_object *ids) {
  got g;
  poll_once(w, &g);
  size_t n = 0;
  for (; subjects[n] != NULL; n++)
    assert_int_equal(count_subject(g.events, subjects[n]), 1);
  assert_int_equal(json_object_array_length(g.events), n);
  for (size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(g.events, i);
    const char *eid = jstr(e, "event_id");
    assert_non_null(eid);
    /* {message id}/flagged/{round}: the message id stays the trigger's id
     * (what get_message and the other cards take). */
    assert_int_equal(strncmp(eid, jstr(e, "id"), strlen(jstr(e, "id"))), 0);
    assert_string_equal(jstr(e, "flag"), "flagged");
    if (ids != NULL)
      json_object_array_add(ids, json_object_new_string(eid));
  }
  accept_all_ack(w, &g);
  json_object_put(g.events);
}

#define NONE      ((const char *const[]){NULL})
#define ONLY(...) ((const char *const[]){__VA_ARGS__, NULL})

/* What is flagged when the watch starts is the baseline; new mail that is
 * not flagged is no event; each flagging is one, other changes of a
 * flagged message are none, and unflag then flag again is a new event
 * with a new event_id. */
static void each_flagging_once(void **state) {
  (void)state;
  char *old = o365_fixture_inject(
      fx, ALICE,
      "{\"subject\":\"fl-old\",\"from\":\"bob@contoso.test\","
      "\"flag\":{\"flagStatus\":\"flagged\"}}");
  assert_non_null(old);
  wfc_event_watch *w = started_card(FLAGGED, "{\"max_events\":921}");
  char *a = inject("fl-a"), *b = inject("fl-b");
  expect_flagged(w, NONE, NULL);

  json_object *ids = json_object_new_array();
  flag(a, "flagged");
  expect_flagged(w, ONLY("fl-a"), ids);
  expect_flagged(w, NONE, NULL);
  free(act("mark_read", a, "\"read\":true")); /* changed, still flagged */
  flag(a, "flagged");                         /* flagged again: no change */
  expect_flagged(w, NONE, NULL);
  flag(a, "notFlagged");
  flag(b, "flagged");
  expect_flagged(w, ONLY("fl-b"), ids);
  flag(a, "flagged");
  expect_flagged(w, ONLY("fl-a"), ids);
  /* fl-a twice, with two event ids. */
  assert_string_not_equal(
      json_object_get_string(json_object_array_get_idx(ids, 0)),
      json_object_get_string(json_object_array_get_idx(ids, 2)));
  /* Complete is not flagged; flagged after complete is a flagging. */
  flag(b, "complete");
  expect_flagged(w, NONE, NULL);
  flag(b, "flagged");
  flag(old, "notFlagged");
  expect_flagged(w, ONLY("fl-b"), NULL);
  flag(old, "flagged");
  expect_flagged(w, ONLY("fl-old"), NULL);
  /* Mail that arrives flagged was not flagged in the folder before. */
  free(o365_fixture_inject(fx, ALICE,
                           "{\"subject\":\"fl-arrives\",\"from\":\"bob@"
                           "contoso.test\",\"flag\":{\"flagStatus\":"
                           "\"flagged\"}}"));
  expect_flagged(w, ONLY("fl-arrives"), NULL);
  json_object_put(ids);
  free(old);
  free(a);
  free(b);
  wfc_event_watch_close(w);
}

/* Crash after the flow took part of a batch, before the ack: the
 * restarted watch polls the same changes and the flow gets only the rest;
 * a flagging after the crash comes too; nothing twice. */
static void crash_between_emit_and_ack(void **state) {
  (void)state;
  static const char in[] = "{\"max_events\":922}";
  wfc_event_watch *w = started_card(FLAGGED, in);
  char *c1 = inject("flc-1"), *c2 = inject("flc-2"), *c3 = inject("flc-3");
  expect_flagged(w, NONE, NULL);
  char *cp0 = wfc_event_watch_checkpoint(w);
  flag(c1, "flagged");
  flag(c2, "flagged");
  got g;
  poll_once(w, &g);
  assert_int_equal(json_object_array_length(g.events), 2);
  accept_subject(w, &g, "flc-1");
  json_object_put(g.events);
  wfc_event_watch_close(w); /* killed: no ack */
  w = watch_card(FLAGGED, in);
  char *cp1 = wfc_event_watch_checkpoint(w);
  assert_string_equal(cp0, cp1);
  free(cp1);

  flag(c3, "flagged"); /* while the watch was down */
  poll_once(w, &g);
  assert_int_equal(g.duplicates, 1);
  assert_int_equal(json_object_array_length(g.events), 2);
  assert_int_equal(count_subject(g.events, "flc-2"), 1);
  assert_int_equal(count_subject(g.events, "flc-3"), 1);
  accept_subject(w, &g, NULL);
  json_object_put(g.events);
  wfc_event_watch_close(w); /* killed again: no ack */

  w = restart_all_taken(FLAGGED, in, 3);
  expect_flagged(w, NONE, NULL);
  /* Unflagged and flagged again after all that: a new event. */
  flag(c1, "notFlagged");
  expect_flagged(w, NONE, NULL);
  flag(c1, "flagged");
  expect_flagged(w, ONLY("flc-1"), NULL);
  free(cp0);
  free(c1);
  free(c2);
  free(c3);
  wfc_event_watch_close(w);
}

/* The delta link expires: the card logs it, reads the folder again and
 * delivers only the flaggings it had not delivered; a message unflagged
 * meanwhile leaves the list, so flagging it later is an event. */
static void expired_delta_link(void **state) {
  (void)state;
  wfc_event_watch *w = started_card(FLAGGED, "{\"max_events\":923}");
  char *e1 = inject("fle-1"), *e2 = inject("fle-2"), *e3 = inject("fle-3");
  flag(e1, "flagged");
  flag(e2, "flagged");
  expect_flagged(w, ONLY("fle-1", "fle-2"), NULL);

  flag(e2, "notFlagged");
  flag(e3, "flagged");
  long s = 0;
  json_object_put(
      o365_fixture_admin(fx, "POST", "/__emulator/delta/expire", NULL, &s));
  assert_int_equal(s, 200);
  long gone = o365_fixture_status_count(fx, 410);
  logs[0] = '\0';
  got g;
  poll_once(w, &g);
  assert_int_equal(o365_fixture_status_count(fx, 410), gone + 1);
  assert_non_null(strstr(logs, "email_flagged: the delta link expired "
                               "(syncStateNotFound)"));
  assert_int_equal(g.duplicates, 0);
  assert_int_equal(json_object_array_length(g.events), 1);
  assert_int_equal(count_subject(g.events, "fle-3"), 1);
  accept_all_ack(w, &g);
  json_object_put(g.events);
  expect_flagged(w, NONE, NULL);
  flag(e2, "flagged");
  expect_flagged(w, ONLY("fle-2"), NULL);
  free(e1);
  free(e2);
  free(e3);
  wfc_event_watch_close(w);
}

/* A flagged message deleted or moved out leaves the list (Graph reports
 * it @removed): the checkpoint does not keep it. Moved back in, still
 * flagged, it is flagged in the folder again: an event. */
static void removed_leaves_the_list(void **state) {
  (void)state;
  wfc_event_watch *w = started_card(FLAGGED, "{\"max_events\":924}");
  char *r1 = inject("flr-1"), *r2 = inject("flr-2");
  flag(r1, "flagged");
  flag(r2, "flagged");
  json_object *ids = json_object_new_array();
  expect_flagged(w, ONLY("flr-1", "flr-2"), ids);
  char *cp = wfc_event_watch_checkpoint(w);
  json_object *c = json_tokener_parse(cp), *list = NULL;
  free(cp);
  assert_true(json_object_object_get_ex(c, "flagged", &list));
  size_t had = json_object_array_length(list);
  json_object_put(c);

  free(act("delete_email", r2, NULL));
  char *moved = act("move_email", r1, "\"folder\":\"archive\"");
  assert_non_null(moved);
  expect_flagged(w, NONE, NULL);
  cp = wfc_event_watch_checkpoint(w);
  c = json_tokener_parse(cp);
  free(cp);
  assert_true(json_object_object_get_ex(c, "flagged", &list));
  assert_int_equal(json_object_array_length(list), had - 2);
  json_object_put(c);

  free(act("move_email", moved, "\"folder\":\"inbox\""));
  free(moved);
  expect_flagged(w, ONLY("flr-1"), ids);
  assert_string_not_equal(
      json_object_get_string(json_object_array_get_idx(ids, 0)),
      json_object_get_string(json_object_array_get_idx(ids, 2)));
  json_object_put(ids);
  free(r1);
  free(r2);
  wfc_event_watch_close(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(each_flagging_once),
      cmocka_unit_test(crash_between_emit_and_ack),
      cmocka_unit_test(expired_delta_link),
      cmocka_unit_test(removed_leaves_the_list),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
