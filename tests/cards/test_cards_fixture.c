/* The card test fixture itself: two users connect through the real OAuth
 * flow (an unknown user does not), the emulator's request counters move,
 * the admin API helpers see injected mail and arm faults, a card runs
 * without a connection, and schema errors come back as outcomes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "o365_fixture.h"

static o365_fixture *fx;

static int setup(void **state) {
  (void)state;
  fx = o365_fixture_new(NULL);
  return fx ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return o365_fixture_free(fx);
}

static void test_connect_two_users(void **state) {
  (void)state;
  long before = o365_fixture_graph_requests(fx);
  assert_int_equal(before, 0);
  wfc_conn *alice = o365_fixture_connect(fx, "alice@contoso.test");
  assert_non_null(alice);
  wfc_conn *bob = o365_fixture_connect(fx, "bob@contoso.test");
  assert_non_null(bob);
  assert_ptr_not_equal(alice, bob);
  /* authorize_complete reads the account (GET /me): the counter moves. */
  assert_true(o365_fixture_graph_requests(fx) > 0);
  assert_null(o365_fixture_connect(fx, "nobody@contoso.test"));
}

static void test_admin_helpers(void **state) {
  (void)state;
  json_object *before =
      o365_fixture_messages(fx, "carol@contoso.test", "inbox");
  assert_non_null(before);
  size_t n = json_object_array_length(before);
  json_object_put(before);
  char *id =
      o365_fixture_inject(fx, "carol@contoso.test",
                          "{\"folder\":\"inbox\",\"subject\":\"fixture hello\","
                          "\"from\":\"bob@contoso.test\",\"toRecipients\":"
                          "[\"carol@contoso.test\"],\"body\":\"hi\"}");
  assert_non_null(id);
  json_object *after = o365_fixture_messages(fx, "carol@contoso.test", "inbox");
  assert_int_equal(json_object_array_length(after), n + 1);
  int found = 0;
  for (size_t i = 0; i < json_object_array_length(after); i++) {
    json_object *m = json_object_array_get_idx(after, i), *v = NULL;
    if (json_object_object_get_ex(m, "id", &v) &&
        strcmp(json_object_get_string(v), id) == 0)
      found = 1;
  }
  assert_true(found);
  json_object_put(after);
  free(id);
  assert_int_equal(o365_fixture_sent_count(fx, "carol@contoso.test"), 0);
  assert_int_equal(o365_fixture_fault(fx, "{\"path\":\"/v1.0/nowhere\","
                                          "\"action\":\"status\","
                                          "\"status\":503,\"count\":1}"),
                   0);
  long st = 0;
  json_object_put(
      o365_fixture_admin(fx, "DELETE", "/__emulator/faults", NULL, &st));
  assert_true(st >= 200 && st < 300);
}

static void test_card_without_connection_input_error(void **state) {
  (void)state;
  o365_outcome o;
  /* A card with no connection runs without one. */
  assert_int_equal(o365_fixture_run_on(fx, NULL, "admin_consent_url",
                                       "{\"environment\":\"preview\"}", &o),
                   0);
  json_object *url = NULL;
  assert_true(json_object_object_get_ex(o.output, "url", &url));
  assert_non_null(strstr(json_object_get_string(url), "/adminconsent?"));
  o365_outcome_free(&o);
  /* Schema validation by the SDK: the unknown field is named. */
  assert_int_equal(
      o365_fixture_run(fx, "admin_consent_url", "{\"nonsense\":1}", &o),
      WFC_EVALIDATION);
  assert_non_null(strstr(o.message, "nonsense"));
  assert_int_equal(json_object_array_length(o.items), 0);
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_run(fx, "no_such_card", NULL, &o),
                   WFC_ENOTFOUND);
  o365_outcome_free(&o);
}

static long refreshes(void) {
  json_object *j =
      o365_fixture_admin(fx, "GET", "/__emulator/identity", NULL, NULL);
  json_object *v = NULL;
  long n = -1;
  if (json_object_object_get_ex(j, "stats", &v) &&
      json_object_object_get_ex(v, "refreshes", &v))
    n = (long)json_object_get_int64(v);
  json_object_put(j);
  return n;
}

static void test_expired_token_is_refreshed(void **state) {
  (void)state;
  wfc_conn *carol = o365_fixture_connect(fx, "carol@contoso.test");
  assert_non_null(carol);
  long before = refreshes();
  assert_true(before >= 0);
  /* Past the access token's lifetime (60-90 minutes): Graph answers 401, the
   * plugin reports the token, the fixture's token service refreshes through the
   * plugin's refresh hook, and the request is repeated with the new token. */
  long st = 0;
  json_object_put(o365_fixture_admin(fx, "POST", "/__emulator/time/advance",
                                     "{\"seconds\":7200}", &st));
  assert_int_equal(st, 200);
  o365_outcome o;
  assert_int_equal(o365_fixture_run(fx, "get_message",
                                    "{\"message_id\":\"AAMkAGnone\"}", &o),
                   WFC_ENOTFOUND);
  o365_outcome_free(&o);
  assert_int_equal(refreshes(), before + 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_two_users),
      cmocka_unit_test(test_admin_helpers),
      cmocka_unit_test(test_card_without_connection_input_error),
      cmocka_unit_test(test_expired_token_is_refreshed),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
