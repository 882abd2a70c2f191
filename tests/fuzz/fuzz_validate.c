/* Fuzz target: sdk/validate.c on untrusted card inputs. Properties: the
 * validator accepts or refuses with a message rooted at "input"; accepted
 * output validates again to the same output; the email and date-time
 * checkers never read past the string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json.h"
#include "validate.h"

static const char *const levels[] = {"low", "normal", "high", NULL};
static const wfc_field email_item = {.name = "to", .type = WFC_TYPE_EMAIL};
static const wfc_field file_item = {.name = "f", .type = WFC_TYPE_FILE};
static const wfc_field int_item = {
    .name = "n", .type = WFC_TYPE_INTEGER, .min = -5, .max = 500};
static const wfc_field hdr_fields[] = {
    {.name = "name", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED},
    {.name = "value", .type = WFC_TYPE_STRING, .min = 1, .max = 20},
    {.name = "when", .type = WFC_TYPE_DATETIME},
    {0}};
static const wfc_field hdr_item = {
    .name = "h", .type = WFC_TYPE_OBJECT, .fields = hdr_fields};
static const wfc_field hdr_list = {
    .name = "hl", .type = WFC_TYPE_LIST, .items = &hdr_item, .max = 4};
static const wfc_field schema[] = {
    {.name = "to", .type = WFC_TYPE_LIST, .items = &email_item, .min = 1},
    {.name = "subject", .type = WFC_TYPE_STRING, .max = 30},
    {.name = "importance",
     .type = WFC_TYPE_STRING,
     .enum_values = levels,
     .default_json = "\"normal\""},
    {.name = "top", .type = WFC_TYPE_INTEGER, .min = 1, .max = 1000},
    {.name = "ratio", .type = WFC_TYPE_NUMBER},
    {.name = "save", .type = WFC_TYPE_BOOLEAN, .default_json = "false"},
    {.name = "headers", .type = WFC_TYPE_LIST, .items = &hdr_item},
    {.name = "nested", .type = WFC_TYPE_LIST, .items = &hdr_list},
    {.name = "files", .type = WFC_TYPE_LIST, .items = &file_item},
    {.name = "counts", .type = WFC_TYPE_MAP, .items = &int_item},
    {.name = "free", .type = WFC_TYPE_MAP},
    {.name = "any", .type = WFC_TYPE_ANY},
    {.name = "mailbox", .type = WFC_TYPE_EMAIL, .flags = WFC_FIELD_NULLABLE},
    {.name = "after", .type = WFC_TYPE_DATETIME},
    {0}};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  struct json_object *in = NULL, *out = NULL, *again = NULL;
  char err[300];
  char *str = malloc(size + 1);
  int rc;

  if (str == NULL)
    abort();
  memcpy(str, data, size);
  str[size] = '\0';
  (void)wfc__is_email(str);
  (void)wfc__is_datetime(str);
  free(str);

  if (wfc__json_parse((const char *)data, size, 0, &in, NULL, 0) != 0)
    return 0;
  rc = wfc__validate(schema, in, &out, err, sizeof err);
  if (rc == 0) {
    if (wfc__validate(schema, out, &again, err, sizeof err) != 0 ||
        !json_object_equal(out, again))
      abort();
  } else if (rc != WFC_EVALIDATION || out != NULL ||
             strncmp(err, "input", 5) != 0) {
    abort();
  }
  json_object_put(again);
  json_object_put(out);
  json_object_put(in);
  return 0;
}
