/* Strings that are not text (invalid UTF-8, a NUL character) in a card's
 * input, as a host builds it in C (the fixture hands the input to json-c
 * as it is, raw bytes and \u0000 kept): refused with the field's path and
 * the byte, and nothing reaches the emulator (its request counter and
 * Sent Items do not move). Before, such a subject went out with U+FFFD in
 * place of the bad bytes, and "a\u0000b" went out as "a". */
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

typedef struct text_case {
  const char *card, *input, *says;
} text_case;

/* Raw bytes are split from the following text ("\xff" "cd"): C would read
 * "\xffcd" as one escape. */
static const text_case cases[] = {
    {"send_email",
     "{\"to\":[\"bob@contoso.test\"],\"subject\":\"ab\xff"
     "cd\",\"body\":\"x\"}",
     "input.subject: invalid UTF-8 at byte 2"},
    {"send_email",
     "{\"to\":[\"bob@contoso.test\"],\"subject\":\"s\",\"body\":\"a\\u0000b\"}",
     "input.body: contains a NUL character (\\u0000) at byte 1"},
    {"send_email",
     "{\"to\":[\"bob@contoso.test\"],\"subject\":\"s\",\"body\":\"h\xc3\xa9"
     "llo \xc0\xaf\"}",
     "input.body: invalid UTF-8 at byte 7"},
    {"send_email",
     "{\"to\":[\"bob@contoso.test\"],\"subject\":\"\xed\xa0\x80\","
     "\"body\":\"x\"}",
     "input.subject: invalid UTF-8 at byte 0"},
    {"send_email",
     "{\"to\":[\"bob@contoso.test\",\"car\x80ol@contoso.test\"],\"subject\":"
     "\"s\",\"body\":\"x\"}",
     "input.to[1]: invalid UTF-8 at byte 3"},
    {"send_email",
     "{\"to\":[\"bob@contoso.test\"],\"subject\":\"s\",\"body\":\"x\","
     "\"categories\":[\"ok\",\"red\\u0000\"]}",
     "input.categories[1]: contains a NUL character (\\u0000) at byte 3"},
    {"create_draft",
     "{\"to\":[\"bob@contoso.test\"],\"subject\":\"cut \xe2\x82\"}",
     "input.subject: invalid UTF-8 at byte 4"},
    /* ANY and MAP values at depth, and keys. */
    {"custom_api_action",
     "{\"method\":\"POST\",\"relative_url\":\"/me/messages\",\"body\":"
     "{\"subject\":\"s\",\"toRecipients\":[{\"emailAddress\":{\"address\":"
     "\"b\\u0000@contoso.test\"}}]}}",
     "input.body.toRecipients[0].emailAddress.address: contains a NUL "
     "character (\\u0000) at byte 1"},
    {"custom_api_action",
     "{\"method\":\"POST\",\"relative_url\":\"/me/messages\",\"body\":"
     "{\"subject\":\"s\",\"x\xff\":1}}",
     "input.body[\"x?\"] (the key): invalid UTF-8 at byte 1"},
    {"custom_api_action",
     "{\"method\":\"GET\",\"relative_url\":\"/me\",\"headers\":"
     "{\"X-Note\":\"a\\u0000b\"}}",
     "input.headers[\"X-Note\"]: contains a NUL character (\\u0000) at byte 1"},
    {"custom_api_action",
     "{\"method\":\"GET\",\"relative_url\":\"/me/messages\",\"query\":"
     "{\"$filter\":\"subject eq '\xf4\x90\x80\x80'\"}}",
     "input.query[\"$filter\"]: invalid UTF-8 at byte 12"},
    {"custom_api_action", "{\"method\":\"GET\",\"relative_url\":\"/me/\xfe\"}",
     "input.relative_url: invalid UTF-8 at byte 4"},
};

static void test_bad_text_sends_nothing(void **state) {
  (void)state;
  long sent = o365_fixture_sent_count(fx, "alice@contoso.test");
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    long before = o365_fixture_graph_requests(fx);
    o365_outcome o;
    int rc = o365_fixture_run(fx, cases[i].card, cases[i].input, &o);
    if (rc != WFC_EVALIDATION || strstr(o.message, cases[i].says) == NULL)
      fail_msg("case %zu (%s): rc %d, \"%s\", want \"%s\"", i, cases[i].card,
               rc, o.message, cases[i].says);
    o365_outcome_free(&o);
    assert_int_equal(o365_fixture_graph_requests(fx), before);
  }
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"), sent);
}

/* The same text, valid: sent, and stored as it was given. */
static void test_good_text_is_sent_as_given(void **state) {
  (void)state;
  o365_outcome o;
  run_ok("send_email",
         "{\"to\":[\"bob@contoso.test\"],\"subject\":\"h\xc3\xa9llo \xf0\x9f"
         "\x98\x80 \xe2\x82\xac\",\"body\":\"\xef\xbf\xbd is U+FFFD\"}",
         &o);
  o365_outcome_free(&o);
  json_object *m =
      ct_message("alice@contoso.test", "sentitems",
                 "h\xc3\xa9llo \xf0\x9f\x98\x80 \xe2\x82\xac", NULL);
  assert_non_null(m);
  json_object_put(m);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_bad_text_sends_nothing),
      cmocka_unit_test(test_good_text_is_sent_as_given),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
