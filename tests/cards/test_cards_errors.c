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

#include "cards_test.h"

static wfc_conn *carol;   /* owned by fx */
static char big_in[9000]; /* send_email with a 6,000-byte body */

static int setup(void **state) {
  (void)state;
  int n = snprintf(big_in, sizeof big_in,
                   "{\"to\":[\"bob@contoso.test\"],\"subject\":\"big\","
                   "\"body\":\"");
  memset(big_in + n, 'x', 6000);
  snprintf(big_in + n + 6000, sizeof big_in - (size_t)n - 6000, "\"}");
  return ct_up_mailboxes(
      "[{\"user\":\"carol@contoso.test\",\"mailboxFull\":true},"
      "{\"user\":\"alice@contoso.test\",\"maxMessageSize\":4096}]",
      &carol);
}

/* One run that fails and what it must say; the cases differ only in this
 * data. */
typedef struct error_case {
  wfc_conn **conn;     /* who runs it (&alice or &carol) */
  const char *fault;   /* a rule armed first, or NULL */
  const char *card;    /* with input */
  const char *input;   /* JSON text */
  int status;          /* what the run must end with */
  const char *says[3]; /* in its message (NULL-terminated) */
  const char *code;    /* detail.code, or NULL: not checked */
  const char *sender;  /* who must have sent nothing at all, or NULL */
} error_case;

static void test_error(void **state) {
  const error_case *c = *state;
  o365_fixture_use(fx, *c->conn);
  if (c->fault != NULL)
    assert_int_equal(o365_fixture_fault(fx, c->fault), 0);
  o365_outcome o;
  assert_int_equal(o365_fixture_run(fx, c->card, c->input, &o), c->status);
  for (size_t i = 0; c->says[i] != NULL; i++)
    ct_says(o.message, c->says[i]);
  if (c->code != NULL)
    assert_string_equal(jstr(o.detail, "code"), c->code);
  o365_outcome_free(&o);
  if (c->sender != NULL)
    assert_int_equal(o365_fixture_sent_count(fx, c->sender), 0);
}

static const error_case mailbox_full = {
    .conn = &carol,
    .card = "send_email",
    .input = "{\"to\":[\"bob@contoso.test\"],\"subject\":\"full\"}",
    .status = WFC_EREMOTE,
    .says = {"your own mailbox is full"},
    .code = "ErrorQuotaExceeded",
    .sender = "carol@contoso.test"};

static const error_case too_large = {
    .conn = &alice,
    .card = "send_email",
    .input = big_in,
    .status = WFC_ETOOBIG,
    .says = {"larger than the mailbox accepts"},
    .sender = "alice@contoso.test"};

static const error_case unknown_mailbox = {
    .conn = &alice,
    .card = "get_message",
    .input = "{\"mailbox\":\"ghost@contoso.test\",\"message_id\":\"AAMkAGx\"}",
    .status = WFC_ENOTFOUND,
    .says = {"ghost@contoso.test does not exist or has no"}};

static const error_case throttled_too_long = {
    .conn = &alice,
    .fault = "{\"method\":\"POST\",\"path\":\"/v1.0/me/sendMail\","
             "\"action\":\"status\",\"status\":429,\"retryAfter\":600,"
             "\"count\":1}",
    .card = "send_email",
    .input = "{\"to\":[\"bob@contoso.test\"],\"subject\":\"later\"}",
    .status = WFC_ETHROTTLED,
    .says = {"throttling", "retry after 600 s"},
    .sender = "alice@contoso.test"};

/* A cmocka case named name: test_error on the row. */
#define ERROR_CASE(name, row)                                                  \
  { name, test_error, NULL, NULL, (void *)&(row) }

int main(void) {
  const struct CMUnitTest tests[] = {
      ERROR_CASE("test_mailbox_full", mailbox_full),
      ERROR_CASE("test_too_large", too_large),
      ERROR_CASE("test_unknown_mailbox", unknown_mailbox),
      ERROR_CASE("test_throttled_too_long", throttled_too_long),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
