/* validate: every wfc_type, flags, defaults, normalisation, error paths in
 * the documented style, and schema well-formedness checks. */
#define _POSIX_C_SOURCE 200809L /* setenv in unit_test.h */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "json.h"
#include "unit_test.h"
#include "validate.h"
#include "wfc/error.h"

static const char *const importance_values[] = {"low", "normal", "high", NULL};

static const wfc_field recipient_item = {.name = "to", .type = WFC_TYPE_EMAIL};

static const wfc_field attachment_item = {.name = "attachment",
                                          .type = WFC_TYPE_FILE};

static const wfc_field header_fields[] = {
    {.name = "name", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED},
    {.name = "value", .type = WFC_TYPE_STRING, .max = 10},
    {0}};

static const wfc_field header_item = {
    .name = "header", .type = WFC_TYPE_OBJECT, .fields = header_fields};

static const wfc_field int_item = {.name = "n", .type = WFC_TYPE_INTEGER};

static const wfc_field send_email[] = {
    {.name = "to",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .items = &recipient_item,
     .min = 1,
     .max = 5},
    {.name = "subject", .type = WFC_TYPE_STRING, .min = 1, .max = 12},
    {.name = "message",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The body of the message."},
    {.name = "importance",
     .type = WFC_TYPE_STRING,
     .enum_values = importance_values,
     .default_json = "\"normal\""},
    {.name = "top", .type = WFC_TYPE_INTEGER, .min = 1, .max = 1000},
    {.name = "ratio", .type = WFC_TYPE_NUMBER},
    {.name = "save", .type = WFC_TYPE_BOOLEAN, .default_json = "true"},
    {.name = "headers", .type = WFC_TYPE_LIST, .items = &header_item},
    {.name = "after", .type = WFC_TYPE_DATETIME},
    {.name = "attachments", .type = WFC_TYPE_LIST, .items = &attachment_item},
    {.name = "extra", .type = WFC_TYPE_ANY},
    {.name = "counts", .type = WFC_TYPE_MAP, .items = &int_item},
    {.name = "mailbox", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_NULLABLE},
    {0}};

static struct json_object *J(const char *text) {
  struct json_object *v = NULL;
  char err[200];
  if (wfc__json_parse(text, strlen(text), 0, &v, err, sizeof err) != 0)
    fail_msg("bad test JSON %s: %s", text, err);
  return v;
}

/* Validates text against schema: asserts failure with exactly msg. */
static void expect_error(const wfc_field *schema, const char *text,
                         const char *msg) {
  struct json_object *in = J(text), *out = (struct json_object *)1;
  char err[300];
  int rc = wfc__validate(schema, in, &out, err, sizeof err);
  if (rc != WFC_EVALIDATION || strcmp(err, msg) != 0)
    fail_msg("for %s: rc %d, got \"%s\", want \"%s\"", text, rc, err, msg);
  assert_null(out);
  json_object_put(in);
}

/* Asserts success and that the normalised output prints as want. */
static void expect_output(const wfc_field *schema, const char *text,
                          const char *want) {
  struct json_object *in = J(text), *out = NULL;
  char err[300] = "";
  int rc = wfc__validate(schema, in, &out, err, sizeof err);
  if (rc != 0)
    fail_msg("for %s: rc %d: %s", text, rc, err);
  char *got = wfc__json_dump(out, false);
  if (strcmp(got, want) != 0)
    fail_msg("for %s: got %s, want %s", text, got, want);
  free(got);
  json_object_put(out);
  json_object_put(in);
}

static void test_documented_messages(void **state) {
  (void)state;
  expect_error(send_email,
               "{\"to\": [\"a@x.com\", \"b@x.com\", \"not an address\"], "
               "\"message\": \"m\"}",
               "input.to[2]: expected an email address");
  expect_error(send_email,
               "{\"to\": [\"a@x.com\"], \"message\": \"m\", \"subject\": 5}",
               "input.subject: expected a string, got integer");
  expect_error(send_email,
               "{\"to\": [\"a@x.com\"], \"message\": \"m\", "
               "\"importance\": \"urgent\"}",
               "input.importance: must be one of low, normal, high");
  expect_error(send_email,
               "{\"to\": [\"a@x.com\"], \"message\": \"m\", \"foo\": 1}",
               "input: unknown field \"foo\" (the fields are: to, subject, "
               "message, importance, top, ratio, save, headers, after, "
               "attachments, extra, counts, mailbox)");
  expect_error(send_email, "{\"to\": [\"a@x.com\"]}",
               "input.message: required field missing");
}

static void test_normalised_output(void **state) {
  (void)state;
  /* Defaults applied, "42" becomes 42, schema order, null kept when
   * NULLABLE, ANY passed through. */
  expect_output(send_email,
                "{\"message\": \"hi\", \"top\": \"42\", \"to\": "
                "[\"a.b+c@sub.example.com\"], \"mailbox\": null, \"extra\": "
                "{\"k\": [1, null]}}",
                "{\"to\":[\"a.b+c@sub.example.com\"],\"message\":\"hi\","
                "\"importance\":\"normal\",\"top\":42,\"save\":true,"
                "\"extra\":{\"k\":[1,null]},\"mailbox\":null}");
  /* Explicit values beat defaults. */
  expect_output(send_email,
                "{\"to\": [\"a@b.c\"], \"message\": \"m\", \"importance\": "
                "\"high\", \"save\": false, \"ratio\": 0.5, \"top\": 7}",
                "{\"to\":[\"a@b.c\"],\"message\":\"m\",\"importance\":\"high\","
                "\"top\":7,\"ratio\":0.5,\"save\":false}");
  /* Nested objects, lists of strings-as-integers in a MAP. */
  expect_output(send_email,
                "{\"to\": [\"a@b.c\"], \"message\": \"m\", \"headers\": "
                "[{\"value\": \"v\", \"name\": \"X-A\"}], \"counts\": {\"a\": "
                "\"1\", \"b-c\": 2}}",
                "{\"to\":[\"a@b.c\"],\"message\":\"m\",\"importance\":"
                "\"normal\",\"save\":true,\"headers\":[{\"name\":\"X-A\","
                "\"value\":\"v\"}],\"counts\":{\"a\":1,\"b-c\":2}}");
}

/* Defaults: the common literals are built without the tokenizer, the
 * rest parsed; both give what the JSON text says. */
static void test_defaults(void **state) {
  (void)state;
  static const wfc_field defs[] = {
      {.name = "a", .type = WFC_TYPE_INTEGER, .default_json = "-12"},
      {.name = "b", .type = WFC_TYPE_INTEGER, .default_json = "0"},
      {.name = "c", .type = WFC_TYPE_STRING, .default_json = "\"a\\\"b\""},
      {.name = "d", .type = WFC_TYPE_NUMBER, .default_json = "2.5"},
      {.name = "e", .type = WFC_TYPE_STRING, .default_json = "\"\""},
      {.name = "f", .type = WFC_TYPE_BOOLEAN, .default_json = "false"},
      {.name = "g", .type = WFC_TYPE_STRING, .default_json = "\"caf\u00e9\""},
      {.name = "h",
       .type = WFC_TYPE_INTEGER,
       .default_json = "123456789012345678"},
      {.name = "i", .type = WFC_TYPE_ANY, .default_json = "[1]"},
      {0}};
  char err[300] = "";
  assert_int_equal(wfc__schema_check(defs, err, sizeof err), 0);
  expect_output(defs, "{}",
                "{\"a\":-12,\"b\":0,\"c\":\"a\\\"b\",\"d\":2.5,\"e\":\"\","
                "\"f\":false,\"g\":\"caf\u00e9\",\"h\":123456789012345678,"
                "\"i\":[1]}");
  expect_output(defs, "{\"b\": \"7\"}",
                "{\"a\":-12,\"b\":7,\"c\":\"a\\\"b\",\"d\":2.5,\"e\":\"\","
                "\"f\":false,\"g\":\"caf\u00e9\",\"h\":123456789012345678,"
                "\"i\":[1]}");
}

/* The values of present fields (a JSON null included) and the defaults of
 * absent ones, in table order, for a small table (values taken from the
 * pass over the keys) and one of 70 fields (looked up one by one): the
 * same rules give the same output. */
static void fields_table(wfc_field *t, size_t n, char (*names)[8]) {
  for (size_t i = 0; i < n; i++) {
    snprintf(names[i], sizeof names[i], "f%u", (unsigned)(i % 1000));
    t[i] = (wfc_field){.name = names[i]};
    if (i % 3 == 0) {
      t[i].type = WFC_TYPE_INTEGER;
      t[i].default_json = "1";
    } else if (i % 3 == 1) {
      t[i].type = WFC_TYPE_STRING;
      t[i].flags = WFC_FIELD_NULLABLE;
    } else {
      t[i].type = WFC_TYPE_BOOLEAN;
      t[i].default_json = "true";
    }
  }
  t[n] = (wfc_field){0};
}

static void expect_fields(size_t n) {
  wfc_field t[71];
  char names[70][8];
  char in[200], want[2000];
  size_t o = 0;
  fields_table(t, n, names);
  char err[300] = "";
  assert_int_equal(wfc__schema_check(t, err, sizeof err), 0);
  /* f1 null (kept), f3 "5" (an integer), f(n-3) a string, f(n-2) false. */
  snprintf(in, sizeof in,
           "{\"f%zu\": \"x\", \"f3\": \"5\", \"f1\": null, \"f%zu\": false}",
           n - 3, n - 2);
  o += (size_t)snprintf(want + o, sizeof want - o, "{");
  for (size_t i = 0; i < n; i++) {
    const char *v = NULL;
    if (i == 1)
      v = "null";
    else if (i == 3)
      v = "5";
    else if (i == n - 3)
      v = "\"x\"";
    else if (i == n - 2)
      v = "false";
    else if (i % 3 == 0)
      v = "1";
    else if (i % 3 == 2)
      v = "true";
    if (v != NULL)
      o += (size_t)snprintf(want + o, sizeof want - o, "%s\"f%zu\":%s",
                            o > 1 ? "," : "", i, v);
  }
  snprintf(want + o, sizeof want - o, "}");
  expect_output(t, in, want);
}

static void test_fields_small_and_large_tables(void **state) {
  (void)state;
  expect_fields(10); /* f7 a STRING, f8 a BOOLEAN */
  expect_fields(70); /* f67 a STRING, f68 a BOOLEAN */
}

static void test_input_not_changed(void **state) {
  (void)state;
  struct json_object *in = J("{\"to\": [\"a@b.c\"], \"message\": \"m\", "
                             "\"top\": \"5\"}");
  struct json_object *out = NULL;
  assert_int_equal(wfc__validate(send_email, in, &out, NULL, 0), 0);
  char *s = wfc__json_dump(in, false);
  assert_string_equal(s,
                      "{\"to\":[\"a@b.c\"],\"message\":\"m\",\"top\":\"5\"}");
  free(s);
  json_object_put(in);
  /* out stays valid after the input is gone. */
  int64_t top = 0;
  assert_int_equal(wfc__json_int64(out, "top", &top), 0);
  assert_int_equal(top, 5);
  json_object_put(out);
}

static void test_type_errors(void **state) {
  (void)state;
  const char *base = "{\"to\": [\"a@b.c\"], \"message\": \"m\", ";
  char buf[300];
#define E(extra, msg)                                                          \
  do {                                                                         \
    snprintf(buf, sizeof buf, "%s%s}", base, extra);                           \
    expect_error(send_email, buf, msg);                                        \
  } while (0)
  E("\"top\": \"12x\"", "input.top: expected an integer, got a non-numeric "
                        "string");
  E("\"top\": 1.5", "input.top: expected an integer, got number");
  E("\"top\": 0", "input.top: must be at least 1");
  E("\"top\": \"1001\"", "input.top: must be at most 1000");
  E("\"top\": \"99999999999999999999\"", "input.top: integer out of range");
  E("\"ratio\": \"0.5\"", "input.ratio: expected a number, got string");
  E("\"save\": \"true\"", "input.save: expected a boolean, got string");
  E("\"subject\": \"\"", "input.subject: must be at least 1 character long");
  /* Length counts characters, not bytes: 12 two-byte characters fit. */
  expect_output(
      send_email,
      "{\"to\": [\"a@b.c\"], \"message\": \"m\", \"subject\": "
      "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
      "\xa9\xc3\xa9\xc3\xa9"
      "\xc3\xa9\"}",
      "{\"to\":[\"a@b.c\"],\"subject\":"
      "\"\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
      "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\",\"message\":\"m\","
      "\"importance\":\"normal\",\"save\":true}");
  E("\"subject\": \"0123456789abc\"",
    "input.subject: must be at most 12 characters long");
#undef E
}

static void test_more_errors(void **state) {
  (void)state;
  expect_error(send_email, "{\"to\": [], \"message\": \"m\"}",
               "input.to: must have at least 1 item");
  expect_error(send_email,
               "{\"to\": [\"a@b.c\",\"a@b.c\",\"a@b.c\",\"a@b.c\",\"a@b.c\","
               "\"a@b.c\"], \"message\": \"m\"}",
               "input.to: must have at most 5 items");
  expect_error(send_email, "{\"to\": \"a@b.c\", \"message\": \"m\"}",
               "input.to: expected a list, got string");
  expect_error(send_email, "{\"to\": [\"a@b.c\", 7], \"message\": \"m\"}",
               "input.to[1]: expected an email address, got integer");
  expect_error(send_email, "{\"to\": [\"a@b.c\"], \"message\": null}",
               "input.message: expected a string, got null");
  expect_error(send_email,
               "{\"to\": [\"a@b.c\"], \"message\": \"m\", \"headers\": "
               "[{\"name\": \"a\"}, {\"value\": \"v\"}]}",
               "input.headers[1].name: required field missing");
  expect_error(send_email,
               "{\"to\": [\"a@b.c\"], \"message\": \"m\", \"headers\": "
               "[{\"name\": \"a\", \"nmae\": \"b\"}]}",
               "input.headers[0]: unknown field \"nmae\": did you mean "
               "\"name\"?");
  expect_error(send_email,
               "{\"to\": [\"a@b.c\"], \"message\": \"m\", \"headers\": "
               "[{\"name\": \"a\", \"value\": \"0123456789A\"}]}",
               "input.headers[0].value: must be at most 10 characters long");
  expect_error(send_email,
               "{\"to\": [\"a@b.c\"], \"message\": \"m\", \"headers\": [[]]}",
               "input.headers[0]: expected an object, got list");
  expect_error(send_email,
               "{\"to\": [\"a@b.c\"], \"message\": \"m\", \"counts\": "
               "{\"a b\": \"x\"}}",
               "input.counts[\"a b\"]: expected an integer, got a "
               "non-numeric string");
  expect_error(send_email,
               "{\"to\": [\"a@b.c\"], \"message\": \"m\", \"after\": "
               "\"2024-02-30T00:00:00Z\"}",
               "input.after: expected an RFC 3339 date-time, e.g. "
               "2024-05-01T09:30:00Z");
  expect_error(send_email,
               "{\"to\": [\"a@b.c\"], \"message\": \"m\", \"attachments\": "
               "[{\"name\": \"a.txt\"}]}",
               "input.attachments[0]: expected a file reference with a "
               "string \"id\"");
  expect_error(send_email,
               "{\"to\": [\"a@b.c\"], \"message\": \"m\", \"attachments\": "
               "[\"abc\"]}",
               "input.attachments[0]: expected a file reference, an object "
               "like {\"id\": \"abc\"} (the blob store's reference), got a "
               "string");
  expect_error(send_email,
               "{\"to\": [\"a@b.c\"], \"message\": \"m\", "
               "\"x\\\"y\\n\": 1}",
               "input: unknown field \"x\\\"y?\" (the fields are: to, "
               "subject, message, importance, top, ratio, save, headers, "
               "after, attachments, extra, counts, mailbox)");
  /* Unknown keys are reported before missing required ones. */
  expect_error(send_email, "{\"to\": [\"a@b.c\"], \"mesage\": \"m\"}",
               "input: unknown field \"mesage\": did you mean \"message\"?");
}

/* An unknown field names the one meant: a slip of a letter or two (any
 * case, swapped letters), or the field whose description uses the word;
 * else the message lists the fields. A bare blob id where a file
 * reference goes says the shape, with that id. */
static void test_did_you_mean(void **state) {
  (void)state;
  expect_error(send_email, "{\"to\": [\"a@b.c\"], \"Subjetc\": \"s\"}",
               "input: unknown field \"Subjetc\": did you mean "
               "\"subject\"?");
  expect_error(send_email, "{\"to\": [\"a@b.c\"], \"improtance\": 1}",
               "input: unknown field \"improtance\": did you mean "
               "\"importance\"?");
  /* "body" is nothing like "message" but its description says it. */
  expect_error(send_email, "{\"to\": [\"a@b.c\"], \"body\": \"m\"}",
               "input: unknown field \"body\": did you mean \"message\"?");
  /* Too far for a slip, in no description: the fields are listed. */
  expect_error(send_email,
               "{\"to\": [\"a@b.c\"], \"message\": \"m\", \"colour\": 1}",
               "input: unknown field \"colour\" (the fields are: to, subject, "
               "message, importance, top, ratio, save, headers, after, "
               "attachments, extra, counts, mailbox)");
  expect_error(send_email,
               "{\"to\": [\"a@b.c\"], \"message\": \"m\", \"attachments\": "
               "[\"0123456789abcdef0123456789abcdef\"]}",
               "input.attachments[0]: expected a file reference, an object "
               "like {\"id\": \"0123456789abcdef0123456789abcdef\"} (the blob "
               "store's reference), got a string");
}

static void test_root(void **state) {
  (void)state;
  struct json_object *in = J("[1]"), *out = NULL;
  char err[200];
  assert_int_equal(wfc__validate(send_email, in, &out, err, sizeof err),
                   WFC_EVALIDATION);
  assert_string_equal(err, "input: expected an object, got list");
  json_object_put(in);

  /* NULL input is {}; root name is configurable. */
  assert_int_equal(
      wfc__validate_at(send_email, NULL, "params", &out, err, sizeof err),
      WFC_EVALIDATION);
  assert_string_equal(err, "params.to: required field missing");

  /* No schema: {} is fine, any key is unknown. */
  assert_int_equal(wfc__validate(NULL, NULL, &out, err, sizeof err), 0);
  assert_int_equal(json_object_object_length(out), 0);
  json_object_put(out);
  in = J("{\"a\": 1}");
  assert_int_equal(wfc__validate(NULL, in, &out, err, sizeof err),
                   WFC_EVALIDATION);
  assert_string_equal(err, "input: unknown field \"a\" (the fields are: none)");
  json_object_put(in);
}

static void test_email(void **state) {
  (void)state;
  static const char *good[] = {"a@b",
                               "user@example.com",
                               "first.last+tag@sub.example.co.uk",
                               "o'neil_x-y@x-y.example",
                               "AdeleV@contoso.onmicrosoft.com",
                               "\xc3\xa9l\xc3\xa8ve@\xc3\xa9"
                               "cole.fr",
                               NULL};
  static const char *badv[] = {"",        "plain",        "@example.com",
                               "user@",   "a@@b.c",       "a@b@c",
                               ".a@b.c",  "a.@b.c",       "a..b@c.d",
                               "a b@c.d", "a@b c.d",      "a\r\n@b.c",
                               "<a@b.c>", "Name <a@b.c>", "a@b.c\n",
                               "a@-b.c",  "a@b-.c",       "a@b..c",
                               "a@b.c.",  "\"q\"@b.c",    "a@[1.2.3.4]",
                               NULL};
  for (const char **p = good; *p; p++)
    if (!wfc__is_email(*p))
      fail_msg("should be valid: %s", *p);
  for (const char **p = badv; *p; p++)
    if (wfc__is_email(*p))
      fail_msg("should be invalid: %s", *p);
  char big[400];
  memset(big, 'a', 65);
  strcpy(big + 65, "@b.c");
  assert_false(wfc__is_email(big)); /* local part > 64 */
  memset(big, 'a', 64);
  strcpy(big + 64, "@b.c");
  assert_true(wfc__is_email(big));
  big[0] = 'a';
  big[1] = '@';
  memset(big + 2, 'b', 64);
  strcpy(big + 66, ".c");
  assert_false(wfc__is_email(big)); /* label > 63 */
  /* total > 254 */
  strcpy(big, "a@");
  for (int i = 0; i < 26; i++)
    strcat(big, "bbbbbbbbb.");
  strcat(big, "com");
  assert_false(wfc__is_email(big));
  assert_false(wfc__is_email(NULL));
}

static void test_datetime(void **state) {
  (void)state;
  static const char *good[] = {"2024-05-01T09:30:00Z",
                               "2024-05-01t09:30:00z",
                               "2024-02-29T23:59:60Z",
                               "2000-02-29T00:00:00+00:00",
                               "2024-05-01T09:30:00.1234567Z",
                               "2024-12-31T23:59:59-08:00",
                               NULL};
  static const char *badv[] = {"2024-05-01",
                               "2024-05-01T09:30:00",
                               "2024-05-01 09:30:00Z",
                               "2023-02-29T00:00:00Z",
                               "1900-02-29T00:00:00Z",
                               "2024-13-01T00:00:00Z",
                               "2024-04-31T00:00:00Z",
                               "2024-05-01T24:00:00Z",
                               "2024-05-01T09:60:00Z",
                               "2024-05-01T09:30:61Z",
                               "2024-05-01T09:30:00.Z",
                               "2024-05-01T09:30:00+0800",
                               "2024-05-01T09:30:00+24:00",
                               "2024-05-01T09:30:00Zx",
                               "24-05-01T09:30:00Z",
                               NULL};
  for (const char **p = good; *p; p++)
    if (!wfc__is_datetime(*p))
      fail_msg("should be valid: %s", *p);
  for (const char **p = badv; *p; p++)
    if (wfc__is_datetime(*p))
      fail_msg("should be invalid: %s", *p);
}

/* ---- schema checks ---- */

static void expect_schema_error(const wfc_field *schema, const char *msg) {
  char err[300] = "";
  int rc = wfc__schema_check(schema, err, sizeof err);
  if (rc != WFC_EREGISTER || strcmp(err, msg) != 0)
    fail_msg("rc %d, got \"%s\", want \"%s\"", rc, err, msg);
}

static void test_schema_check(void **state) {
  (void)state;
  char err[300];
  assert_int_equal(wfc__schema_check(send_email, err, sizeof err), 0);
  assert_int_equal(wfc__schema_check(NULL, err, sizeof err), 0);

  static const wfc_field bad_name[] = {{.name = "1x", .type = WFC_TYPE_STRING},
                                       {0}};
  expect_schema_error(bad_name,
                      "schema: field name \"1x\" is not an identifier");
  static const wfc_field dup[] = {{.name = "a", .type = WFC_TYPE_STRING},
                                  {.name = "a", .type = WFC_TYPE_INTEGER},
                                  {0}};
  expect_schema_error(dup, "schema: duplicate field \"a\"");
  static const wfc_field bad_type[] = {{.name = "a", .type = 42}, {0}};
  expect_schema_error(bad_type, "schema.a: unknown type 42");
  static const wfc_field list_no_items[] = {
      {.name = "a", .type = WFC_TYPE_LIST}, {0}};
  expect_schema_error(list_no_items, "schema.a: LIST needs .items");
  static const wfc_field obj_no_fields[] = {
      {.name = "a", .type = WFC_TYPE_OBJECT}, {0}};
  expect_schema_error(obj_no_fields, "schema.a: OBJECT needs .fields");
  static const wfc_field enum_on_int[] = {
      {.name = "a", .type = WFC_TYPE_INTEGER, .enum_values = importance_values},
      {0}};
  expect_schema_error(enum_on_int,
                      "schema.a: enum_values only apply to STRING");
  static const wfc_field bad_default[] = {
      {.name = "a", .type = WFC_TYPE_STRING, .default_json = "'x'"}, {0}};
  expect_schema_error(
      bad_default,
      "schema.a: default_json: malformed JSON at byte 0: unexpected character");
  static const wfc_field wrong_default[] = {{.name = "a",
                                             .type = WFC_TYPE_STRING,
                                             .enum_values = importance_values,
                                             .default_json = "\"urgent\""},
                                            {0}};
  expect_schema_error(wrong_default,
                      "schema.a: default: must be one of low, normal, high");
  static const wfc_field req_default[] = {{.name = "a",
                                           .type = WFC_TYPE_BOOLEAN,
                                           .flags = WFC_FIELD_REQUIRED,
                                           .default_json = "true"},
                                          {0}};
  expect_schema_error(req_default,
                      "schema.a: a REQUIRED field cannot have a default");
  static const wfc_field minmax[] = {
      {.name = "a", .type = WFC_TYPE_INTEGER, .min = 5, .max = 2}, {0}};
  expect_schema_error(minmax, "schema.a: min is greater than max");
  static const wfc_field bad_inner[] = {
      {.name = "Bad-Name", .type = WFC_TYPE_STRING}, {0}};
  static const wfc_field nested[] = {
      {.name = "o", .type = WFC_TYPE_OBJECT, .fields = bad_inner}, {0}};
  expect_schema_error(nested,
                      "schema.o: field name \"Bad-Name\" is not an identifier");
  static const wfc_field bad_item = {.name = "x", .type = WFC_TYPE_LIST};
  static const wfc_field list_bad_item[] = {
      {.name = "l", .type = WFC_TYPE_LIST, .items = &bad_item}, {0}};
  expect_schema_error(list_bad_item, "schema.l[]: LIST needs .items");

  /* Defaults: the literals built without the parser (booleans, small
   * integers, plain strings) are checked against their field like the
   * rest, and what they decline still goes through the parser. */
  static const wfc_field int_string_default[] = {
      {.name = "a", .type = WFC_TYPE_INTEGER, .default_json = "\"five\""}, {0}};
  expect_schema_error(
      int_string_default,
      "schema.a: default: expected an integer, got a non-numeric string");
  static const wfc_field int_over_max[] = {
      {.name = "a", .type = WFC_TYPE_INTEGER, .max = 10, .default_json = "99"},
      {0}};
  expect_schema_error(int_over_max, "schema.a: default: must be at most 10");
  static const wfc_field bool_int_default[] = {
      {.name = "a", .type = WFC_TYPE_BOOLEAN, .default_json = "1"}, {0}};
  expect_schema_error(bool_int_default,
                      "schema.a: default: expected a boolean, got integer");
  static const wfc_field leading_zero[] = {
      {.name = "a", .type = WFC_TYPE_INTEGER, .default_json = "01"}, {0}};
  expect_schema_error(
      leading_zero,
      "schema.a: default_json: malformed JSON at byte 1: unexpected character");
  static const wfc_field bad_in_list = {
      .name = "x", .type = WFC_TYPE_STRING, .default_json = "true"};
  static const wfc_field inner_list[] = {
      {.name = "l", .type = WFC_TYPE_LIST, .items = &bad_in_list}, {0}};
  static const wfc_field nested_default[] = {
      {.name = "o", .type = WFC_TYPE_OBJECT, .fields = inner_list}, {0}};
  expect_schema_error(nested_default,
                      "schema.o.l[]: default: expected a string, got boolean");
  static const wfc_field good_defaults[] = {
      {.name = "b", .type = WFC_TYPE_BOOLEAN, .default_json = "false"},
      {.name = "n", .type = WFC_TYPE_INTEGER, .min = -5, .default_json = "-5"},
      {.name = "s", .type = WFC_TYPE_STRING, .default_json = "\"inbox\""},
      {.name = "e", .type = WFC_TYPE_STRING, .default_json = "\"caf\\u00e9\""},
      {.name = "f", .type = WFC_TYPE_NUMBER, .default_json = "1.5"},
      {0}};
  assert_int_equal(wfc__schema_check(good_defaults, err, sizeof err), 0);
}

/* A schema that refers to itself: validation stops at the depth cap
 * instead of recursing without bound. */
static const wfc_field self_fields[];
static const wfc_field self_item = {
    .name = "node", .type = WFC_TYPE_OBJECT, .fields = self_fields};
static const wfc_field self_fields[] = {
    {.name = "kids", .type = WFC_TYPE_LIST, .items = &self_item}, {0}};

static void test_depth_cap(void **state) {
  (void)state;
  char err[300];
  assert_int_equal(wfc__schema_check(self_fields, err, sizeof err),
                   WFC_EREGISTER);
  assert_non_null(strstr(err, "schema nested too deeply"));
  /* Build {"kids":[{"kids":[...]}]} 20 levels deep: fine (the parser caps
   * input depth at 32, the validator at 32 schema levels). */
  struct json_object *in = json_object_new_object(), *cur = in;
  for (int i = 0; i < 20; i++) {
    struct json_object *arr = json_object_new_array();
    struct json_object *kid = json_object_new_object();
    json_object_array_add(arr, kid);
    json_object_object_add(cur, "kids", arr);
    cur = kid;
  }
  struct json_object *out = NULL;
  assert_int_equal(wfc__validate(self_fields, in, &out, err, sizeof err),
                   WFC_EVALIDATION);
  assert_non_null(strstr(err, "nested too deeply"));
  json_object_put(in);
  in = J("{\"kids\": [{\"kids\": []}, {}]}");
  assert_int_equal(wfc__validate(self_fields, in, &out, err, sizeof err), 0);
  json_object_put(out);
  json_object_put(in);
}

/* Random inputs built from the schema's own names and values of every
 * kind: the validator either accepts, and its output validates again to
 * the same output (normalisation is idempotent), or refuses with a message
 * that starts at the root. Run under ASan this doubles as a small fuzz. */
static uint32_t rnd_state = 2463534242u;
static uint32_t rnd(void) {
  rnd_state ^= rnd_state << 13;
  rnd_state ^= rnd_state >> 17;
  rnd_state ^= rnd_state << 5;
  return rnd_state;
}

static struct json_object *random_value(int depth);

static struct json_object *random_object(int depth) {
  static const char *keys[] = {
      "to",      "subject", "message", "importance",  "top",   "ratio",
      "save",    "headers", "after",   "attachments", "extra", "counts",
      "mailbox", "name",    "value",   "id",          "zzz"};
  struct json_object *o = json_object_new_object();
  int n = (int)(rnd() % 6);
  for (int i = 0; i < n; i++)
    json_object_object_add(o, keys[rnd() % (sizeof keys / sizeof keys[0])],
                           random_value(depth + 1));
  return o;
}

static struct json_object *random_value(int depth) {
  static const char *strings[] = {"a@b.c",  "not an email",
                                  "42",     "-7",
                                  "x",      "high",
                                  "normal", "2024-05-01T09:30:00Z",
                                  "",       "0123456789abcdef",
                                  "1e3"};
  switch (rnd() % (depth > 4 ? 6 : 8)) {
  case 0:
    return NULL;
  case 1:
    return json_object_new_boolean(rnd() % 2);
  case 2:
    return json_object_new_int64((int64_t)(rnd() % 2000) - 500);
  case 3:
    return json_object_new_double((double)(rnd() % 100) / 8.0);
  case 4:
  case 5:
    return json_object_new_string(
        strings[rnd() % (sizeof strings / sizeof strings[0])]);
  case 6: {
    struct json_object *a = json_object_new_array();
    int n = (int)(rnd() % 7);
    for (int i = 0; i < n; i++)
      json_object_array_add(a, random_value(depth + 1));
    return a;
  }
  default:
    return random_object(depth);
  }
}

static void test_random_inputs(void **state) {
  (void)state;
  int accepted = 0, refused = 0;
  for (int iter = 0; iter < 20000; iter++) {
    struct json_object *in = random_object(0), *out = NULL, *again = NULL;
    if (rnd() % 2) { /* give the required fields a fair chance */
      struct json_object *to = json_object_new_array();
      json_object_array_add(to, json_object_new_string("a@b.c"));
      json_object_object_add(in, "to", to);
      json_object_object_add(in, "message", json_object_new_string("m"));
    }
    char err[300] = "", cerr[300] = "x";
    int rc = wfc__validate(send_email, in, &out, err, sizeof err);
    /* The check-only walk (outputs) says the same, word for word. */
    assert_int_equal(
        wfc__validate_check(send_email, in, "input", cerr, sizeof cerr), rc);
    assert_string_equal(cerr, err);
    if (rc == 0) {
      assert_int_equal(wfc__validate(send_email, out, &again, err, sizeof err),
                       0);
      assert_true(json_object_equal(out, again));
      accepted++;
    } else {
      assert_int_equal(rc, WFC_EVALIDATION);
      assert_null(out);
      assert_true(strncmp(err, "input", 5) == 0);
      assert_non_null(strstr(err, ": "));
      refused++;
    }
    json_object_put(again);
    json_object_put(out);
    json_object_put(in);
  }
  assert_true(refused > 1000);
  assert_true(accepted > 500);
}

/* ---- text: invalid UTF-8 and NUL, wherever a string is ----------------- */

/* Replaces the string "@" (and the key "@") anywhere in v with bytes
 * (a host building input in C can put any bytes in a json-c string). */
static void plant(struct json_object *v, const char *bytes, size_t len) {
  if (json_object_is_type(v, json_type_array)) {
    for (size_t i = 0; i < json_object_array_length(v); i++)
      plant(json_object_array_get_idx(v, i), bytes, len);
  } else if (json_object_is_type(v, json_type_object)) {
    struct json_object *moved = NULL;
    json_object_object_foreach(v, k, iv) {
      plant(iv, bytes, len);
      if (strcmp(k, "@") == 0)
        moved = json_object_get(iv);
    }
    if (moved != NULL) {
      char key[64];
      assert_true(len < sizeof key && memchr(bytes, '\0', len) == NULL);
      memcpy(key, bytes, len);
      key[len] = '\0';
      json_object_object_del(v, "@");
      json_object_object_add(v, key, moved);
    }
  } else if (json_object_is_type(v, json_type_string) &&
             strcmp(json_object_get_string(v), "@") == 0) {
    json_object_set_string_len(v, bytes, (int)len);
  }
}

static void expect_planted(const char *tmpl, const char *bytes, size_t len,
                           const char *msg) {
  struct json_object *in = J(tmpl), *out = (struct json_object *)1;
  char err[300] = "";
  plant(in, bytes, len);
  int rc = wfc__validate(send_email, in, &out, err, sizeof err);
  if (rc != WFC_EVALIDATION || strcmp(err, msg) != 0)
    fail_msg("for %s with %zu planted bytes: rc %d, got \"%s\", want \"%s\"",
             tmpl, len, rc, err, msg);
  assert_null(out);
  json_object_put(in);
}

/* Where a string can be, with the path the message must give. %s: the
 * key's component for key templates. */
static const struct {
  const char *tmpl, *path;
} text_places[] = {
    {"{\"to\": [\"a@x.com\"], \"message\": \"@\"}", "input.message"},
    {"{\"to\": [\"a@x.com\", \"@\"], \"message\": \"m\"}", "input.to[1]"},
    {"{\"to\": [\"a@x.com\"], \"message\": \"m\", \"headers\": [{\"name\": "
     "\"n\"}, {\"name\": \"n\", \"value\": \"@\"}]}",
     "input.headers[1].value"},
    {"{\"to\": [\"a@x.com\"], \"message\": \"m\", \"extra\": {\"a\": [1, "
     "{\"b\": \"@\"}]}}",
     "input.extra.a[1].b"},
    {"{\"to\": [\"a@x.com\"], \"message\": \"m\", \"extra\": [[[\"@\"]]]}",
     "input.extra[0][0][0]"},
    {"{\"to\": [\"a@x.com\"], \"message\": \"m\", \"attachments\": "
     "[{\"id\": \"f1\", \"name\": \"@\"}]}",
     "input.attachments[0].name"},
    {"{\"to\": [\"a@x.com\"], \"message\": \"m\", \"after\": \"@\"}",
     "input.after"},
    {"{\"to\": [\"a@x.com\"], \"message\": \"m\", \"mailbox\": \"@\"}",
     "input.mailbox"},
    {"{\"to\": [\"a@x.com\"], \"message\": \"m\", \"subject\": \"@\"}",
     "input.subject"},
};

static void test_text_invalid_utf8(void **state) {
  (void)state;
  char bytes[32], msg[300], key[64];

  for (size_t b = 0; b < sizeof bad_utf8 / sizeof bad_utf8[0]; b++) {
    size_t n = bad_utf8[b].len;
    /* In the middle ("ab" BAD "cd"), first and last. */
    const struct {
      const char *pre, *post;
    } around[] = {{"ab", "cd"}, {"", "cd"}, {"ab", ""}};
    for (size_t a = 0; a < 3; a++) {
      size_t pre = strlen(around[a].pre), post = strlen(around[a].post);
      memcpy(bytes, around[a].pre, pre);
      memcpy(bytes + pre, bad_utf8[b].bytes, n);
      memcpy(bytes + pre + n, around[a].post, post);
      for (size_t p = 0; p < sizeof text_places / sizeof text_places[0]; p++) {
        snprintf(msg, sizeof msg, "%s: invalid UTF-8 at byte %zu",
                 text_places[p].path, pre);
        expect_planted(text_places[p].tmpl, bytes, pre + n + post, msg);
      }
      /* As a key: of a MAP, and of an object inside an ANY value. Keys
       * show each byte outside printable ASCII as '?'. */
      size_t k = 0;
      key[k++] = '[';
      key[k++] = '"';
      for (size_t i = 0; i < pre + n + post; i++)
        key[k++] = (unsigned char)bytes[i] < 0x80 ? bytes[i] : '?';
      key[k++] = '"';
      key[k++] = ']';
      key[k] = '\0';
      snprintf(msg, sizeof msg,
               "input.counts%s (the key): invalid UTF-8 at byte %zu", key, pre);
      expect_planted("{\"to\": [\"a@x.com\"], \"message\": \"m\", "
                     "\"counts\": {\"ok\": 1, \"@\": 2}}",
                     bytes, pre + n + post, msg);
      snprintf(msg, sizeof msg,
               "input.extra.k[0]%s (the key): invalid UTF-8 at byte %zu", key,
               pre);
      expect_planted("{\"to\": [\"a@x.com\"], \"message\": \"m\", "
                     "\"extra\": {\"k\": [{\"@\": true}]}}",
                     bytes, pre + n + post, msg);
    }
  }
}

static void test_text_nul(void **state) {
  (void)state;
  static const struct {
    const char *bytes;
    size_t len, at;
  } nul[] = {{"a\0b", 3, 1},  {"\0", 1, 0},           {"\0abc", 4, 0},
             {"abc\0", 4, 3}, {"h\xc3\xa9\0x", 5, 3}, {"a\0\0", 3, 1}};
  char msg[300];

  for (size_t i = 0; i < sizeof nul / sizeof nul[0]; i++)
    for (size_t p = 0; p < sizeof text_places / sizeof text_places[0]; p++) {
      snprintf(msg, sizeof msg,
               "%s: contains a NUL character (\\u0000) at byte %zu",
               text_places[p].path, nul[i].at);
      expect_planted(text_places[p].tmpl, nul[i].bytes, nul[i].len, msg);
    }

  /* From JSON text, as a host's API or wfc card run gives it: json-c keeps
   * the length, the validator sees the whole string. */
  expect_error(send_email,
               "{\"to\": [\"a@x.com\"], \"message\": \"a\\u0000b\"}",
               "input.message: contains a NUL character (\\u0000) at byte 1");
  expect_error(
      send_email,
      "{\"to\": [\"a@x.com\"], \"message\": \"m\", \"extra\": "
      "{\"q\": [\"x\", \"\\u00e9\\n\\u0000\"]}}",
      "input.extra.q[1]: contains a NUL character (\\u0000) at byte 3");

  /* Connection params: the same rule, under their root. */
  struct json_object *in = J("{\"to\": [\"a@x.com\"], \"message\": \"@\"}");
  struct json_object *out = NULL;
  char err[300];
  plant(in, "ok\0", 3);
  assert_int_equal(
      wfc__validate_at(send_email, in, "params", &out, err, sizeof err),
      WFC_EVALIDATION);
  assert_string_equal(
      err, "params.message: contains a NUL character (\\u0000) at byte 2");
  /* Outputs are passed on as they are (a mail body may hold U+0000). */
  assert_int_equal(
      wfc__validate_check(send_email, in, "output", err, sizeof err), 0);
  json_object_put(in);
}

static void test_text_valid(void **state) {
  (void)state;
  static const char *const good[] = {
      "h\xc3\xa9",        "\xc2\x80",         "\xdf\xbf",
      "\xe0\xa0\x80",     "\xe2\x82\xac",     "\xed\x9f\xbf",
      "\xee\x80\x80",     "\xef\xbf\xbd",     "\xf0\x90\x80\x80",
      "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf", "plain ascii ~\x7f",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    struct json_object *in =
        J("{\"to\": [\"a@x.com\"], \"message\": \"@\", \"extra\": {\"@\": "
          "[\"@\"]}, \"counts\": {\"@\": 1}}");
    struct json_object *out = NULL;
    char err[300] = "";
    plant(in, good[i], strlen(good[i]));
    if (wfc__validate(send_email, in, &out, err, sizeof err) != 0)
      fail_msg("%s refused: %s", good[i], err);
    json_object_put(out);
    json_object_put(in);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_documented_messages),
      cmocka_unit_test(test_normalised_output),
      cmocka_unit_test(test_defaults),
      cmocka_unit_test(test_fields_small_and_large_tables),
      cmocka_unit_test(test_input_not_changed),
      cmocka_unit_test(test_type_errors),
      cmocka_unit_test(test_more_errors),
      cmocka_unit_test(test_root),
      cmocka_unit_test(test_email),
      cmocka_unit_test(test_datetime),
      cmocka_unit_test(test_schema_check),
      cmocka_unit_test(test_depth_cap),
      cmocka_unit_test(test_random_inputs),
      cmocka_unit_test(test_text_invalid_utf8),
      cmocka_unit_test(test_text_nul),
      cmocka_unit_test(test_text_valid),
      cmocka_unit_test(test_did_you_mean),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
