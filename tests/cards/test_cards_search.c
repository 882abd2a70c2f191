/* Search Emails against the emulator through the real plugin: first N
 * across pages (newest first, "more"), streaming every match page by page
 * (items and request count), each criterion (exact / contains /
 * starts_with, from, to, body, dates, unread, attachments, importance,
 * folder), $select projection, shared mailbox, access denied, validation
 * without requests. */
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

#define N 25

static int setup(void **state) {
  (void)state;
  if (ct_up(NULL, &carol) != 0)
    return -1;
  /* carol's inbox: N numbered messages, one a minute; every third unread
   * from bob, the others read from alice; #7 high importance with an
   * attachment and a body word; #20 in Archive. */
  for (int i = 0; i < N; i++) {
    char m[1024];
    snprintf(
        m, sizeof m,
        "{\"folder\":\"%s\",\"subject\":\"srch-%02d report\",\"from\":\"%s\","
        "\"toRecipients\":[\"carol@contoso.test\",\"team%d@example.org\"],"
        "\"body\":\"%s\",\"receivedDateTime\":\"2024-03-01T09:%02d:00Z\","
        "\"isRead\":%s,\"importance\":\"%s\"%s}",
        i == 20 ? "archive" : "inbox", i,
        i % 3 == 0 ? "bob@contoso.test" : "alice@contoso.test", i,
        i == 7 ? "the pineapple plan" : "nothing special", i,
        i % 3 == 0 ? "false" : "true", i == 7 ? "high" : "normal",
        i == 7 ? ",\"attachments\":[{\"name\":\"a.txt\",\"contentType\":"
                 "\"text/plain\",\"text\":\"x\"}]"
               : "");
    char *id = o365_fixture_inject(fx, "carol@contoso.test", m);
    if (id == NULL)
      return -1;
    free(id);
  }
  return 0;
}

static json_object *msgs(o365_outcome *o) {
  return json_object_object_get(o->output, "messages");
}

/* Runs a search as carol and returns the count. */
static int64_t search(const char *input, o365_outcome *o) {
  o365_fixture_use(fx, carol);
  run_ok("search_emails", input, o);
  return jnum(o->output, "count");
}

static long list_requests(void) {
  return o365_fixture_route_count(fx, "GET", "/v1.0/me/messages");
}

static void test_first_n_across_pages(void **state) {
  (void)state;
  o365_outcome o;
  long before = list_requests();
  assert_int_equal(search("{\"subject\":\"srch-\",\"match\":\"starts_with\","
                          "\"limit\":10,\"page_size\":4}",
                          &o),
                   10);
  assert_true(jbool(o.output, "more"));
  json_object *m = msgs(&o);
  assert_int_equal(json_object_array_length(m), 10);
  /* Newest first: 24, 23, 22, 21, then 19 (20 is in Archive but the
   * search covers every folder: 20 comes before 19). */
  assert_string_equal(jstr(json_object_array_get_idx(m, 0), "subject"),
                      "srch-24 report");
  assert_string_equal(jstr(json_object_array_get_idx(m, 9), "subject"),
                      "srch-15 report");
  /* 10 with pages of 4: three requests, the third asked for no more. */
  assert_int_equal(list_requests() - before, 3);
  o365_outcome_free(&o);
  /* Default limit covers them all. */
  assert_int_equal(search("{\"subject\":\"srch-\"}", &o), N);
  assert_false(jbool(o.output, "more"));
  assert_int_equal(json_object_array_length(o.items), 0);
  o365_outcome_free(&o);
}

static void test_stream_every_page(void **state) {
  (void)state;
  o365_outcome o;
  long before = list_requests();
  assert_int_equal(search("{\"subject\":\"srch-\",\"stream\":true,"
                          "\"page_size\":4,\"limit\":3}",
                          &o),
                   N);
  assert_int_equal(json_object_array_length(o.items), N);
  assert_null(msgs(&o));
  assert_int_equal(list_requests() - before, (N + 3) / 4);
  /* Items carry the message shape. */
  json_object *it = json_object_array_get_idx(o.items, N - 1);
  assert_string_equal(jstr(it, "subject"), "srch-00 report");
  assert_string_equal(jstr(it, "from"), "bob@contoso.test");
  assert_non_null(jstr(it, "id"));
  o365_outcome_free(&o);
}

static void test_throttled_page_is_retried(void **state) {
  (void)state;
  /* The second page meets a 429 with Retry-After: the card waits, asks
   * again and still returns every match once. */
  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"GET\",\"path\":"
                                          "\"/v1.0/me/messages\","
                                          "\"action\":\"status\","
                                          "\"status\":429,\"retryAfter\":1,"
                                          "\"skip\":1,\"count\":1}"),
                   0);
  o365_outcome o;
  long before = list_requests();
  assert_int_equal(search("{\"subject\":\"srch-\",\"page_size\":10}", &o), N);
  json_object *m = msgs(&o);
  for (size_t i = 1; i < json_object_array_length(m); i++)
    assert_string_not_equal(jstr(json_object_array_get_idx(m, i - 1), "id"),
                            jstr(json_object_array_get_idx(m, i), "id"));
  o365_outcome_free(&o);
  assert_int_equal(list_requests() - before, 3 + 1);
}

/* Graph's first page carries an @odata.nextLink that is not a URL: the
 * matches read are kept, "more" says the rest is missing and the warning
 * names the fault (not "another host"); a link to another host is named
 * as such. Neither is followed. */
static void test_bad_next_link_keeps_the_page(void **state) {
  (void)state;
  static const struct {
    const char *link, *says;
  } cases[] = {{"not a url", "not a valid absolute URL (\"not a url\")"},
               {"https://evil.test/v1.0/me/messages",
                "another origin (https://evil.test)"}};
  for (size_t i = 0; i < 2; i++) {
    char rule[512];
    snprintf(rule, sizeof rule,
             "{\"method\":\"GET\",\"path\":\"/v1.0/me/messages\","
             "\"action\":\"nextLink\",\"nextLink\":\"%s\",\"count\":1}",
             cases[i].link);
    assert_int_equal(o365_fixture_fault(fx, rule), 0);
    o365_outcome o;
    long before = list_requests();
    assert_int_equal(search("{\"subject\":\"srch-\",\"page_size\":4}", &o), 4);
    assert_true(jbool(o.output, "more"));
    assert_int_equal(json_object_array_length(msgs(&o)), 4);
    ct_says(jstr(o.output, "warning"), cases[i].says);
    o365_outcome_free(&o);
    assert_int_equal(list_requests() - before, 1);
  }
  ct_clear_faults();
}

static void test_criteria(void **state) {
  (void)state;
  o365_outcome o;
  assert_int_equal(search("{\"subject\":\"srch-07 report\",\"match\":"
                          "\"exact\"}",
                          &o),
                   1);
  o365_outcome_free(&o);
  assert_int_equal(search("{\"subject\":\"srch-07\",\"match\":\"exact\"}", &o),
                   0);
  o365_outcome_free(&o);
  assert_int_equal(search("{\"subject\":\"07 rep\"}", &o), 1);
  o365_outcome_free(&o);
  /* 0, 3, ..., 24: 9 from bob, all unread. */
  assert_int_equal(search("{\"subject\":\"srch-\",\"from\":\"bob@\"}", &o), 9);
  o365_outcome_free(&o);
  assert_int_equal(search("{\"subject\":\"srch-\",\"unread\":true}", &o), 9);
  o365_outcome_free(&o);
  assert_int_equal(search("{\"subject\":\"srch-\",\"unread\":false}", &o),
                   N - 9);
  o365_outcome_free(&o);
  assert_int_equal(search("{\"from\":\"bob@contoso.test\",\"match\":"
                          "\"exact\",\"unread\":true,\"subject\":\"srch-\"}",
                          &o),
                   0); /* exact applies to subject too */
  o365_outcome_free(&o);
  assert_int_equal(
      search("{\"has_attachments\":true,\"subject\":\"srch-\"}", &o), 1);
  o365_outcome_free(&o);
  assert_int_equal(
      search("{\"importance\":\"high\",\"subject\":\"srch-\"}", &o), 1);
  o365_outcome_free(&o);
  /* Dates: 09:10 <= t < 09:15 -> 10..14. */
  assert_int_equal(search("{\"received_after\":\"2024-03-01T09:10:00Z\","
                          "\"received_before\":\"2024-03-01T09:15:00Z\"}",
                          &o),
                   5);
  o365_outcome_free(&o);
  /* To, exact (server) and contains (checked on each result). */
  assert_int_equal(search("{\"to\":\"team5@example.org\",\"match\":"
                          "\"exact\"}",
                          &o),
                   1);
  o365_outcome_free(&o);
  assert_int_equal(search("{\"to\":\"team1\",\"subject\":\"srch-\"}", &o),
                   11); /* team1, team10..team19 */
  o365_outcome_free(&o);
  /* Body words ($search), with another criterion applied exactly. */
  assert_int_equal(search("{\"body\":\"pineapple\"}", &o), 1);
  assert_string_equal(jstr(json_object_array_get_idx(msgs(&o), 0), "subject"),
                      "srch-07 report");
  o365_outcome_free(&o);
  assert_int_equal(search("{\"body\":\"pineapple\",\"unread\":true}", &o), 0);
  o365_outcome_free(&o);
  /* One folder. */
  assert_int_equal(search("{\"folder\":\"Archive\",\"subject\":\"srch-\"}", &o),
                   1);
  assert_string_equal(jstr(json_object_array_get_idx(msgs(&o), 0), "subject"),
                      "srch-20 report");
  o365_outcome_free(&o);
  assert_int_equal(search("{\"folder\":\"Inbox\",\"subject\":\"srch-\"}", &o),
                   N - 1);
  o365_outcome_free(&o);
}

static void test_fields_projection(void **state) {
  (void)state;
  o365_outcome o;
  assert_int_equal(search("{\"subject\":\"srch-01 report\",\"match\":"
                          "\"exact\",\"fields\":[\"subject\",\"is_read\"]}",
                          &o),
                   1);
  json_object *m = json_object_array_get_idx(msgs(&o), 0);
  assert_int_equal(json_object_object_length(m), 3);
  assert_non_null(jstr(m, "id"));
  assert_string_equal(jstr(m, "subject"), "srch-01 report");
  assert_true(jbool(m, "is_read"));
  o365_outcome_free(&o);
}

static void test_shared_denied_validation(void **state) {
  (void)state;
  o365_outcome o;
  char *id = o365_fixture_inject(fx, "support@contoso.test",
                                 "{\"subject\":\"support ticket 1\","
                                 "\"from\":\"bob@contoso.test\"}");
  free(id);
  o365_fixture_use(fx, alice);
  run_ok("search_emails",
         "{\"mailbox\":\"support@contoso.test\","
         "\"subject\":\"ticket\"}",
         &o);
  assert_int_equal(jnum(o.output, "count"), 1);
  o365_outcome_free(&o);
  /* alice has no rights on carol's mailbox. */
  ct_fails("search_emails", "{\"mailbox\":\"carol@contoso.test\"}", WFC_EDENIED,
           "access denied");
  ct_refused("search_emails",
             "{\"received_after\":\"2024-03-02T00:00:00Z\","
             "\"received_before\":\"2024-03-01T00:00:00Z\"}",
             WFC_EVALIDATION, "received_after");
  ct_refused("search_emails", "{\"limit\":0}", WFC_EVALIDATION, "limit");
  ct_refused("search_emails", "{\"fields\":[\"nope\"]}", WFC_EVALIDATION, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_first_n_across_pages),
      cmocka_unit_test(test_stream_every_page),
      cmocka_unit_test(test_throttled_page_is_retried),
      cmocka_unit_test(test_bad_next_link_keeps_the_page),
      cmocka_unit_test(test_criteria),
      cmocka_unit_test(test_fields_projection),
      cmocka_unit_test(test_shared_denied_validation),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
