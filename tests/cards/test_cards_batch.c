/* Get Messages and Update Messages (Graph JSON batching) through the real
 * plugin and runtime against the emulator's POST /$batch:
 *   - 100 messages are read in 5 HTTP requests (counted at the emulator),
 *     in the order asked, with an error per id that does not exist;
 *   - items Outlook throttles inside a batch (429 with Retry-After per
 *     item) are sent again and all end read;
 *   - mark read + categorize + move many: every message ends in the folder
 *     with its new id, read and categorized; a missing one fails alone
 *     (its move depends on its PATCH: 424, nothing else touched);
 *   - the emulator refuses a batch whose dependsOn is neither fully
 *     parallel, fully serial nor all on one request, as Graph does. */
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

#define USER "alice@contoso.test"

static int setup(void **state) {
  (void)state;
  return ct_up(NULL, NULL);
}

/* Injects n messages "<tag> <i>" into alice's inbox; their ids into ids
 * (each malloc'd). */
static void inject_n(const char *tag, char **ids, int n) {
  for (int i = 0; i < n; i++) {
    char m[256];
    snprintf(m, sizeof m,
             "{\"subject\":\"%s %d\",\"from\":\"bob@contoso.test\","
             "\"toRecipients\":[\"alice@contoso.test\"],\"isRead\":false}",
             tag, i);
    ids[i] = o365_fixture_inject(fx, USER, m);
    assert_non_null(ids[i]);
  }
}

/* {"message_ids":[...ids, extra?]<more>} (malloc'd). */
static char *ids_input(char **ids, int n, const char *extra, const char *more) {
  size_t cap = 64 + (size_t)n * 300 + (more ? strlen(more) : 0);
  char *s = malloc(cap);
  size_t k = (size_t)snprintf(s, cap, "{\"message_ids\":[");
  for (int i = 0; i < n; i++)
    k += (size_t)snprintf(s + k, cap - k, "%s\"%s\"", i ? "," : "", ids[i]);
  if (extra != NULL)
    k += (size_t)snprintf(s + k, cap - k, ",\"%s\"", extra);
  snprintf(s + k, cap - k, "]%s}", more ? more : "");
  return s;
}

static void free_ids(char **ids, int n) {
  for (int i = 0; i < n; i++)
    free(ids[i]);
}

static void test_get_100_in_5_requests(void **state) {
  (void)state;
  char *ids[100];
  inject_n("bulk read", ids, 100);
  char *in = ids_input(ids, 100, NULL, NULL);
  long before = o365_fixture_graph_requests(fx);
  long batches = o365_fixture_route_count(fx, "POST", "/v1.0/$batch");
  o365_outcome o;
  run_ok("get_messages", in, &o);
  /* 100 messages, 20 per $batch: 5 HTTP requests, nothing else. */
  assert_int_equal(o365_fixture_graph_requests(fx) - before, 5);
  assert_int_equal(
      o365_fixture_route_count(fx, "POST", "/v1.0/$batch") - batches, 5);
  assert_int_equal(jnum(o.output, "count"), 100);
  assert_int_equal(jnum(o.output, "failed"), 0);
  json_object *msgs = jget(o.output, "messages");
  for (int i = 0; i < 100; i++) {
    json_object *m = json_object_array_get_idx(msgs, (size_t)i);
    char want[64];
    snprintf(want, sizeof want, "bulk read %d", i);
    assert_string_equal(jstr(m, "subject"), want);
    assert_string_equal(jstr(m, "id"), ids[i]);
    assert_null(jstr(m, "body")); /* not asked for */
  }
  o365_outcome_free(&o);
  free(in);

  /* A missing id: its own error, the others read. */
  in = ids_input(ids, 3, "AAMkAGnothere", ",\"include_body\":true");
  run_ok("get_messages", in, &o);
  assert_int_equal(jnum(o.output, "count"), 3);
  assert_int_equal(jnum(o.output, "failed"), 1);
  json_object *e = json_object_array_get_idx(jget(o.output, "errors"), 0);
  assert_string_equal(jstr(e, "message_id"), "AAMkAGnothere");
  assert_int_equal(jnum(e, "status"), 404);
  assert_string_equal(jstr(e, "code"), "ErrorItemNotFound");
  assert_non_null(
      jstr(json_object_array_get_idx(jget(o.output, "messages"), 0), "body"));
  o365_outcome_free(&o);
  free(in);
  ct_refused("get_messages", "{\"message_ids\":[]}", WFC_EVALIDATION,
             "message_ids");
  free_ids(ids, 100);
}

/* Outlook throttles items of a batch one by one: with 10 requests per
 * window, a batch of 20 gets 10 answers and 10 429s with Retry-After;
 * those go again after the wait, until all are read. */
static void test_items_throttled_are_retried(void **state) {
  (void)state;
  char *ids[30];
  inject_n("bulk throttled", ids, 30);
  long st = 0;
  json_object_put(o365_fixture_admin(
      fx, "POST", "/__emulator/throttle",
      "{\"requestsPerWindow\":10,\"windowSeconds\":1}", &st));
  assert_int_equal(st / 100, 2);
  char *in = ids_input(ids, 30, NULL, NULL);
  long before = o365_fixture_route_count(fx, "POST", "/v1.0/$batch");
  o365_outcome o;
  run_ok("get_messages", in, &o);
  assert_int_equal(jnum(o.output, "count"), 30);
  assert_int_equal(jnum(o.output, "failed"), 0);
  /* More batches than the 2 that 30 items need: throttled items went
   * again. */
  assert_true(o365_fixture_route_count(fx, "POST", "/v1.0/$batch") - before >
              2);
  json_object *t =
      o365_fixture_admin(fx, "GET", "/__emulator/throttle", NULL, &st);
  assert_non_null(strstr(json_object_to_json_string(t), "\"throttled\":"));
  assert_null(strstr(json_object_to_json_string(t), "\"throttled\":0}"));
  json_object_put(t);
  o365_outcome_free(&o);
  free(in);
  json_object_put(o365_fixture_admin(
      fx, "POST", "/__emulator/throttle",
      "{\"requestsPerWindow\":10000,\"windowSeconds\":600}", &st));
  free_ids(ids, 30);
}

static void test_update_and_move_many(void **state) {
  (void)state;
  char *ids[25];
  inject_n("bulk move", ids, 25);
  char *in = ids_input(ids, 25, "AAMkAGnothere",
                       ",\"read\":true,\"categories\":[\"Blue\"],"
                       "\"folder\":\"archive\"");
  long before = o365_fixture_graph_requests(fx);
  o365_outcome o;
  run_ok("update_messages", in, &o);
  /* 26 PATCHes in 2 batches, then the 25 moves whose PATCH succeeded in
   * 2 more (the missing one's move is not sent: 424). */
  assert_int_equal(o365_fixture_graph_requests(fx) - before, 4);
  assert_int_equal(jnum(o.output, "succeeded"), 25);
  assert_int_equal(jnum(o.output, "failed"), 1);
  json_object *res = jget(o.output, "results");
  for (int i = 0; i < 25; i++) {
    json_object *r = json_object_array_get_idx(res, (size_t)i);
    assert_true(jbool(r, "ok"));
    assert_string_equal(jstr(r, "message_id"), ids[i]);
    assert_non_null(jstr(r, "new_id"));
    assert_string_not_equal(jstr(r, "new_id"), ids[i]);
  }
  json_object *bad = json_object_array_get_idx(res, 25);
  assert_false(jbool(bad, "ok"));
  assert_int_equal(jnum(bad, "status"), 404);
  o365_outcome_free(&o);
  free(in);
  /* In the emulator: all 25 in Archive, read, Blue; none left in Inbox. */
  assert_int_equal(ct_count(USER, "inbox", "bulk move 7"), 0);
  json_object *m = ct_message(USER, "archive", "bulk move 7", NULL);
  assert_non_null(m);
  assert_true(jbool(m, "isRead"));
  assert_non_null(
      strstr(json_object_to_json_string(jget(m, "categories")), "Blue"));
  json_object_put(m);
  for (int i = 0; i < 25; i++) {
    char subj[64];
    snprintf(subj, sizeof subj, "bulk move %d", i);
    assert_int_equal(ct_count(USER, "archive", subj), 1);
  }
  ct_refused("update_messages", "{\"message_ids\":[\"x\"]}", WFC_EVALIDATION,
             "nothing to do");
  ct_refused("update_messages", "{\"message_ids\":[\"x\"],\"flag\":\"maybe\"}",
             WFC_EVALIDATION, "flag");
  free_ids(ids, 25);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_100_in_5_requests),
      cmocka_unit_test(test_items_throttled_are_retried),
      cmocka_unit_test(test_update_and_move_many),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
