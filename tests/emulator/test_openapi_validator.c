/* The OpenAPI validator (emulator/openapi.c) on its own, no server: Graph's
 * payload rules over the embedded extract of Microsoft's OpenAPI
 * (inheritance, closed types, action parameters, @odata.type, nullability,
 * enums, formats) and Graph's error wording with a JSON path. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openapi.h"

/* Checks `json` as the body of method + route; returns the result and
 * keeps the error in *e. */
static int req(const char *method, const char *route, const char *json,
               emu_openapi_err *e) {
  json_object *b = json_tokener_parse(json);
  assert_non_null(b);
  int rc = emu_openapi_check_request(method, route, b, e);
  json_object_put(b);
  return rc;
}

static void refused(const char *method, const char *route, const char *json,
                    const char *path, const char *msg_part) {
  emu_openapi_err e;
  assert_int_equal(req(method, route, json, &e), -1);
  assert_int_equal(e.status, 400);
  assert_string_equal(e.code, "RequestBodyRead");
  assert_string_equal(e.path, path);
  if (!strstr(e.message, msg_part))
    fail_msg("message \"%s\" lacks \"%s\"", e.message, msg_part);
}

static void accepted(const char *method, const char *route, const char *json) {
  emu_openapi_err e;
  if (req(method, route, json, &e) != 0)
    fail_msg("refused at %s: %s", e.path, e.message);
}

static void test_path_keys(void **state) {
  (void)state;
  char k[128];
  emu_openapi_path_key("/v1.0/me/messages/{id}/microsoft.graph.move", k,
                       sizeof k);
  assert_string_equal(k, "/messages/{}/move");
  emu_openapi_path_key("/v1.0/users/{user}/mailFolders/{folder}/messages/"
                       "microsoft.graph.delta()",
                       k, sizeof k);
  assert_string_equal(k, "/mailFolders/{}/messages/delta");
  emu_openapi_path_key("/users/{user-id}/messages/{message-id}/attachments/"
                       "microsoft.graph.createUploadSession",
                       k, sizeof k);
  assert_string_equal(k, "/messages/{}/attachments/createUploadSession");
  assert_true(emu_openapi_has("POST", "/v1.0/me/messages", true));
  assert_true(emu_openapi_has("GET", "/v1.0/me/messages", false));
  assert_false(emu_openapi_has("GET", "/v1.0/me/messages", true));
  assert_true(emu_openapi_has("PATCH", "/v1.0/me/mailboxSettings", true));
  assert_false(emu_openapi_has("POST", "/v1.0/me/nothingHere", true));
}

static void test_message_valid(void **state) {
  (void)state;
  /* Own properties, outlookItem's (categories) and entity's (id), nulls on
   * nullable and structured properties, instance annotations. */
  accepted("POST", "/v1.0/me/messages",
           "{\"@odata.type\":\"#microsoft.graph.message\",\"subject\":\"s\","
           "\"body\":{\"contentType\":\"html\",\"content\":\"<p>x</p>\"},"
           "\"toRecipients\":[{\"emailAddress\":{\"address\":\"a@b.test\","
           "\"name\":\"A\"}}],\"from\":null,\"importance\":\"high\","
           "\"categories\":[\"Red\"],\"id\":\"ignored\",\"isRead\":true,"
           "\"flag\":{\"flagStatus\":\"flagged\"},\"internetMessageHeaders\":"
           "[{\"name\":\"X-A\",\"value\":\"1\"}],\"receivedDateTime\":"
           "\"2024-01-02T03:04:05.123Z\",\"bodyPreview\":null,"
           "\"subject@odata.type\":\"String\"}");
  accepted("PATCH", "/v1.0/users/{user}/messages/{id}",
           "{\"isRead\":false,\"inferenceClassification\":\"other\"}");
}

static void test_message_refused(void **state) {
  (void)state;
  refused("POST", "/v1.0/me/messages", "{\"subjec\":\"x\"}", "$.subjec",
          "The property 'subjec' does not exist on type "
          "'microsoft.graph.message'. Make sure to only use property names");
  refused("POST", "/v1.0/me/messages",
          "{\"toRecipients\":[{\"emailAddress\":{\"adress\":\"a@b.test\"}}]}",
          "$.toRecipients[0].emailAddress.adress",
          "'adress' does not exist on type 'microsoft.graph.emailAddress'");
  refused("POST", "/v1.0/me/messages", "{\"subject\":5}", "$.subject",
          "Cannot convert the literal '5' to the expected type 'Edm.String'.");
  refused("PATCH", "/v1.0/me/messages/{id}", "{\"isRead\":\"yes\"}", "$.isRead",
          "Cannot convert the literal '\"yes\"' to the expected type "
          "'Edm.Boolean'.");
  refused("PATCH", "/v1.0/me/messages/{id}", "{\"importance\":\"urgent\"}",
          "$.importance",
          "Requested value 'urgent' was not found in enum "
          "'microsoft.graph.importance'.");
  refused("POST", "/v1.0/me/messages", "{\"toRecipients\":null}",
          "$.toRecipients",
          "A null value was found for the property named "
          "'toRecipients'");
  refused("POST", "/v1.0/me/messages", "{\"toRecipients\":{}}",
          "$.toRecipients", "An unexpected 'StartObject' node");
  refused("POST", "/v1.0/me/messages", "{\"body\":\"text\"}", "$.body",
          "An unexpected 'PrimitiveValue' node was found when reading "
          "property 'body'. A 'StartObject' node was expected.");
  refused("POST", "/v1.0/me/messages", "{\"subject\":[\"a\"]}", "$.subject",
          "An unexpected 'StartArray' node was found for property named "
          "'subject'");
  refused("POST", "/v1.0/me/messages", "{\"receivedDateTime\":\"yesterday\"}",
          "$.receivedDateTime",
          "'yesterday' to the expected type 'Edm.DateTimeOffset'");
  refused("POST", "/v1.0/me/messages", "[1]", "$",
          "An unexpected 'StartArray' node was found when reading a "
          "'microsoft.graph.message' resource.");
  /* Case matters for entity properties (only action parameters ignore it). */
  refused("POST", "/v1.0/me/messages", "{\"Subject\":\"x\"}", "$.Subject",
          "The property 'Subject' does not exist");
}

static void test_actions(void **state) {
  (void)state;
  accepted("POST", "/v1.0/me/messages/{id}/move", "{\"destinationId\":\"x\"}");
  accepted("POST", "/v1.0/me/messages/{id}/microsoft.graph.copy",
           "{\"DestinationId\":\"x\"}");
  refused("POST", "/v1.0/me/messages/{id}/move", "{\"destination\":\"x\"}",
          "$.destination",
          "The parameter 'destination' in the request payload is not a valid "
          "parameter for the operation 'move'.");
  /* Graph's own documentation sends saveToSentItems as a string. */
  accepted("POST", "/v1.0/me/sendMail",
           "{\"message\":{\"subject\":\"s\",\"toRecipients\":[{"
           "\"emailAddress\":{\"address\":\"a@b.test\"}}]},"
           "\"saveToSentItems\":\"false\"}");
  refused("POST", "/v1.0/me/sendMail",
          "{\"message\":{\"subject\":\"s\",\"bogus\":1}}", "$.message.bogus",
          "'bogus' does not exist on type 'microsoft.graph.message'");
  refused("POST", "/v1.0/me/sendMail",
          "{\"message\":{\"subject\":\"s\"},\"saveToSentItems\":\"maybe\"}",
          "$.saveToSentItems", "'Edm.Boolean'");
  accepted("POST", "/v1.0/me/messages/{id}/reply",
           "{\"comment\":\"thanks\",\"message\":{\"toRecipients\":[]}}");
  refused("POST", "/v1.0/me/messages/{id}/createForward",
          "{\"toRecipients\":[{\"emailAddress\":{\"address\":1}}]}",
          "$.toRecipients[0].emailAddress.address", "'Edm.String'");
  /* Flags enum: comma-separated members. */
  accepted("POST", "/v1.0/me/getMailTips",
           "{\"EmailAddresses\":[\"a@b.test\"],\"MailTipsOptions\":"
           "\"automaticReplies, mailboxFullStatus\"}");
  refused("POST", "/v1.0/me/getMailTips",
          "{\"EmailAddresses\":[\"a@b.test\"],\"MailTipsOptions\":"
          "\"automaticReplies, bogus\"}",
          "$.MailTipsOptions",
          "not found in enum 'microsoft.graph.mailTipsType'");
  accepted("POST", "/v1.0/me/messages/{id}/attachments/createUploadSession",
           "{\"AttachmentItem\":{\"attachmentType\":\"file\",\"name\":"
           "\"a.bin\",\"size\":3000000}}");
  refused("POST", "/v1.0/me/messages/{id}/attachments/createUploadSession",
          "{\"AttachmentItem\":{\"attachmentType\":\"file\",\"size\":"
          "\"big\"}}",
          "$.AttachmentItem.size", "'Edm.Int64'");
}

static void test_polymorphism(void **state) {
  (void)state;
  /* fileAttachment is not in the stored documents: open, base checked. */
  accepted("POST", "/v1.0/me/messages/{id}/attachments",
           "{\"@odata.type\":\"#microsoft.graph.fileAttachment\",\"name\":"
           "\"n.txt\",\"contentBytes\":\"bm90ZQ==\",\"isInline\":false}");
  refused("POST", "/v1.0/me/messages/{id}/attachments",
          "{\"@odata.type\":\"#microsoft.graph.fileAttachment\",\"name\":7}",
          "$.name", "'Edm.String'");
  /* Without @odata.type the base type is closed. */
  refused("POST", "/v1.0/me/messages/{id}/attachments",
          "{\"name\":\"n.txt\",\"contentBytes\":\"bm90ZQ==\"}",
          "$.contentBytes",
          "'contentBytes' does not exist on type 'microsoft.graph.attachment'");
  /* A known type that does not derive from the expected one. */
  refused("POST", "/v1.0/me/messages/{id}/attachments",
          "{\"@odata.type\":\"#microsoft.graph.mailFolder\"}", "$",
          "'microsoft.graph.mailFolder' was found");
  refused("POST", "/v1.0/me/messages/{id}/attachments",
          "{\"@odata.type\":\"#contoso.thing\"}", "$",
          "A type named 'contoso.thing' could not be resolved by the model.");
  refused("POST", "/v1.0/me/messages/{id}/attachments", "{\"size\":4294967296}",
          "$.size",
          "Cannot convert the literal '4294967296' to the expected type "
          "'Edm.Int32'.");
}

static void test_settings_and_folders(void **state) {
  (void)state;
  accepted("PATCH", "/v1.0/me/mailboxSettings",
           "{\"automaticRepliesSetting\":{\"status\":\"scheduled\","
           "\"scheduledStartDateTime\":{\"dateTime\":\"2024-03-01T08:00:00\","
           "\"timeZone\":\"UTC\"},\"internalReplyMessage\":\"away\"},"
           "\"timeZone\":\"UTC\"}");
  refused("PATCH", "/v1.0/me/mailboxSettings",
          "{\"automaticRepliesSetting\":{\"status\":\"sometimes\"}}",
          "$.automaticRepliesSetting.status",
          "enum 'microsoft.graph.automaticRepliesStatus'");
  accepted("POST", "/v1.0/me/mailFolders",
           "{\"displayName\":\"Projects\",\"isHidden\":false}");
  refused("POST", "/v1.0/me/mailFolders/{folder}/childFolders",
          "{\"displayName\":\"P\",\"colour\":\"red\"}", "$.colour",
          "'colour' does not exist on type 'microsoft.graph.mailFolder'");
  refused("PATCH", "/v1.0/me/mailFolders/{folder}",
          "{\"totalItemCount\":\"many\"}", "$.totalItemCount", "'Edm.Int32'");
}

static void test_schema_and_response(void **state) {
  (void)state;
  emu_openapi_err e;
  json_object *v = json_tokener_parse(
      "{\"value\":[{\"id\":\"A\",\"subject\":\"s\",\"isRead\":true}],"
      "\"@odata.nextLink\":\"https://x/next\",\"@odata.context\":\"c\"}");
  assert_int_equal(
      emu_openapi_check_response("GET", "/v1.0/me/messages", v, &e), 0);
  json_object_put(v);
  v = json_tokener_parse("{\"value\":[{\"id\":\"A\",\"isRead\":1}]}");
  assert_int_equal(
      emu_openapi_check_response("GET", "/v1.0/me/messages", v, &e), -1);
  assert_string_equal(e.path, "$.value[0].isRead");
  json_object_put(v);
  assert_int_equal(
      emu_openapi_check_response("GET", "/v1.0/me/nothingHere", NULL, &e), -2);
  v = json_tokener_parse("{\"address\":\"a@b.test\",\"name\":null}");
  assert_int_equal(
      emu_openapi_check_schema("microsoft.graph.emailAddress", v, true, &e), 0);
  assert_int_equal(
      emu_openapi_check_schema("microsoft.graph.nothing", v, true, &e), -2);
  json_object_put(v);
  /* Routes the extract has no request schema for accept anything. */
  v = json_tokener_parse("{\"whatever\":1}");
  assert_int_equal(
      emu_openapi_check_request("POST", "/v1.0/me/nothingHere", v, &e), 0);
  json_object_put(v);
}

static void test_rejection_counter(void **state) {
  (void)state;
  emu_openapi_reset_rejections();
  assert_int_equal(emu_openapi_rejections(), 0);
  emu_openapi_count_rejection();
  emu_openapi_count_rejection();
  assert_int_equal(emu_openapi_rejections(), 2);
  emu_openapi_reset_rejections();
  assert_int_equal(emu_openapi_rejections(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_path_keys),
      cmocka_unit_test(test_message_valid),
      cmocka_unit_test(test_message_refused),
      cmocka_unit_test(test_actions),
      cmocka_unit_test(test_polymorphism),
      cmocka_unit_test(test_settings_and_folders),
      cmocka_unit_test(test_schema_and_response),
      cmocka_unit_test(test_rejection_counter),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
