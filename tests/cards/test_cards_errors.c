/* Graph errors turned into card errors that say what to do: a full
 * mailbox (507 ErrorQuotaExceeded), a message over the mailbox's size
 * limit (413 ErrorMessageSizeExceeded), a mailbox that does not exist,
 * throttling longer than the card waits (429 with a long Retry-After),
 * and nothing sent in any of these cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "emu_proc.h"
#include "o365_fixture.h"

static o365_fixture *fx;
static wfc_conn *alice, *carol;

static int setup(void **state) {
  (void)state;
  json_object *doc = emu_proc_example_doc();
  if (doc == NULL)
    return -1;
  json_object *boxes = json_tokener_parse(
      "[{\"user\":\"carol@contoso.test\",\"mailboxFull\":true},"
      "{\"user\":\"alice@contoso.test\",\"maxMessageSize\":4096}]");
  json_object_object_add(doc, "mailboxes", boxes);
  fx = o365_fixture_new_doc(doc);
  json_object_put(doc);
  if (fx == NULL)
    return -1;
  alice = o365_fixture_connect(fx, "alice@contoso.test");
  carol = o365_fixture_connect(fx, "carol@contoso.test");
  return alice && carol ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return o365_fixture_free(fx);
}

static const char *jstr(json_object *o, const char *k) {
  json_object *v = NULL;
  return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static void test_mailbox_full(void **state) {
  (void)state;
  o365_fixture_use(fx, carol);
  o365_outcome o;
  assert_int_equal(o365_fixture_run(fx, "send_email",
                                    "{\"to\":[\"bob@contoso.test\"],"
                                    "\"subject\":\"full\"}",
                                    &o),
                   WFC_EREMOTE);
  assert_non_null(strstr(o.message, "your own mailbox is full"));
  assert_string_equal(jstr(o.detail, "code"), "ErrorQuotaExceeded");
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, "carol@contoso.test"), 0);
}

static void test_too_large(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  char in[9000];
  int n = snprintf(in, sizeof in,
                   "{\"to\":[\"bob@contoso.test\"],\"subject\":\"big\","
                   "\"body\":\"");
  memset(in + n, 'x', 6000);
  snprintf(in + n + 6000, sizeof in - (size_t)n - 6000, "\"}");
  o365_outcome o;
  assert_int_equal(o365_fixture_run(fx, "send_email", in, &o), WFC_ETOOBIG);
  assert_non_null(strstr(o.message, "larger than the mailbox accepts"));
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), 0);
}

static void test_unknown_mailbox(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  o365_outcome o;
  assert_int_equal(o365_fixture_run(fx, "get_message",
                                    "{\"mailbox\":\"ghost@contoso.test\","
                                    "\"message_id\":\"AAMkAGx\"}",
                                    &o),
                   WFC_ENOTFOUND);
  assert_non_null(
      strstr(o.message, "ghost@contoso.test does not exist or has no"));
  o365_outcome_free(&o);
}

static void test_throttled_too_long(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"POST\",\"path\":"
                                          "\"/v1.0/me/sendMail\","
                                          "\"action\":\"status\","
                                          "\"status\":429,\"retryAfter\":600,"
                                          "\"count\":1}"),
                   0);
  o365_outcome o;
  assert_int_equal(o365_fixture_run(fx, "send_email",
                                    "{\"to\":[\"bob@contoso.test\"],"
                                    "\"subject\":\"later\"}",
                                    &o),
                   WFC_ETHROTTLED);
  assert_non_null(strstr(o.message, "throttling"));
  assert_non_null(strstr(o.message, "retry after 600 s"));
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mailbox_full),
      cmocka_unit_test(test_too_large),
      cmocka_unit_test(test_unknown_mailbox),
      cmocka_unit_test(test_throttled_too_long),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
