/* Graph mail under the emulator's throttling: the per app + mailbox window
 * counts mail requests (batch steps one by one), answers 429 with
 * Retry-After and ApplicationThrottled, per mailbox, and lets requests
 * through again once the window has passed (virtual time). A throttled
 * sendMail sends nothing. */
#define _GNU_SOURCE /* vasprintf, strndup, strdup, strtok_r */
#include "graph_test.h"

static int setup(void **state) {
  gt_up_group(state);
  gt_expect(&T, NULL, "POST", "/__emulator/throttle",
            "{\"concurrency\":4,\"requestsPerWindow\":6,"
            "\"windowSeconds\":600}",
            200, NULL);
  return 0;
}

static void test_window(void **state) {
  (void)state;
  /* 1 batch with 3 steps counts 3 */
  json_object *o = NULL;
  gt_expect(&T, tok, "POST", "/v1.0/$batch",
            "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\",\"url\":\"/me/"
            "mailFolders\"},{\"id\":\"b\",\"method\":\"GET\",\"url\":\"/me/"
            "messages\"},{\"id\":\"c\",\"method\":\"GET\",\"url\":\"/me/"
            "mailFolders/inbox\"}]}",
            200, NULL);
  for (int i = 0; i < 3; i++)
    gt_expect(&T, tok, "GET", "/v1.0/me/mailFolders", NULL, 200, NULL);
  tresp raw;
  assert_int_equal(
      gt_call(&T, tok, "GET", "/v1.0/me/mailFolders", NULL, NULL, &o, &raw),
      429);
  gt_assert_error(o, "ApplicationThrottled");
  assert_non_null(tresp_header(&raw, "Retry-After"));
  assert_true(atoi(tresp_header(&raw, "Retry-After")) > 0);
  tresp_free(&raw);
  json_object_put(o);
  /* a throttled send does nothing */
  gt_expect(&T, tok, "POST", "/v1.0/me/sendMail",
            "{\"message\":{\"subject\":\"t\",\"toRecipients\":[{"
            "\"emailAddress\":{\"address\":\"bob@contoso.test\"}}]}}",
            429, NULL);
  assert_int_equal(gt_call(&T, NULL, "GET",
                           "/__emulator/mail/alice@contoso.test/sent", NULL,
                           NULL, &o, NULL),
                   200);
  assert_int_equal(json_object_get_int(json_object_object_get(o, "count")), 0);
  json_object_put(o);
  /* inside a batch, the steps get their own 429 */
  assert_int_equal(gt_call(&T, tok, "POST", "/v1.0/$batch",
                           "{\"requests\":[{\"id\":\"a\",\"method\":\"GET\","
                           "\"url\":\"/me/mailFolders\"}]}",
                           NULL, &o, NULL),
                   200);
  assert_int_equal(
      json_object_get_int(json_object_object_get(
          json_object_array_get_idx(json_object_object_get(o, "responses"), 0),
          "status")),
      429);
  json_object_put(o);
  /* another mailbox (support, alice has FullAccess) has its own window */
  gt_expect(&T, tok, "GET", "/v1.0/users/support@contoso.test/mailFolders",
            NULL, 200, NULL);
  /* after the window, requests pass again */
  gt_expect(&T, NULL, "POST", "/__emulator/time/advance", "{\"seconds\":601}",
            200, NULL);
  gt_expect(&T, tok, "GET", "/v1.0/me/mailFolders", NULL, 200, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_window),
  };
  return cmocka_run_group_tests(tests, setup, gt_down_group);
}
