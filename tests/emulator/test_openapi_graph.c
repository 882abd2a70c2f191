/* Every Graph mail endpoint of the emulator once, over real HTTP, each
 * success response checked against Microsoft's OpenAPI description
 * (tests/support/openapi_check.h); request bodies the OpenAPI refuses get
 * Graph's 400 and are counted as "openapi_rejections" in /__emulator/stats. */
#define _GNU_SOURCE /* vasprintf, strndup, strdup, strtok_r */
#include "graph_test.h"
#include "openapi_check.h"

static int mismatches;

/* One call: status must be 2xx; the response is checked against the
 * documented schema of `pattern`. Returns the parsed body (caller frees). */
static json_object *step(const char *method, const char *pattern,
                         const char *path, const char *body) {
  json_object *o = NULL;
  long st = gt_call(&T, tok, method, path, body, NULL, &o, NULL);
  if (st < 200 || st > 299)
    fail_msg("%s %s: status %ld: %s", method, path, st,
             o ? json_object_to_json_string(o) : "");
  char *m = openapi_response_mismatch(method, pattern, st, o);
  if (m) {
    print_message("MISMATCH %s\n", m);
    free(m);
    mismatches++;
  }
  return o;
}

static int64_t rejections(void) {
  json_object *o = NULL;
  assert_int_equal(
      gt_call(&T, NULL, "GET", "/__emulator/stats", NULL, NULL, &o, NULL), 200);
  json_object *v = NULL;
  assert_true(json_object_object_get_ex(o, "openapi_rejections", &v));
  int64_t n = json_object_get_int64(v);
  json_object_put(o);
  return n;
}

static void test_every_endpoint_matches(void **state) {
  (void)state;
  int64_t before = rejections();
  mismatches = 0;
  json_object *o;
  o = step("GET", "/v1.0/me/messages", "/v1.0/me/messages?$top=5", NULL);
  json_object_put(o);
  o = step("GET", "/v1.0/me/mailFolders", "/v1.0/me/mailFolders", NULL);
  json_object_put(o);
  o = step("GET", "/v1.0/me/mailFolders/{}", "/v1.0/me/mailFolders/inbox",
           NULL);
  json_object_put(o);
  o = step("GET", "/v1.0/me/mailFolders/{}/messages",
           "/v1.0/me/mailFolders/inbox/messages?$top=3", NULL);
  json_object_put(o);
  o = step("GET", "/v1.0/me/mailFolders/{}/childFolders",
           "/v1.0/me/mailFolders/inbox/childFolders", NULL);
  json_object_put(o);
  o = step("POST", "/v1.0/me/mailFolders/{}/childFolders",
           "/v1.0/me/mailFolders/inbox/childFolders",
           "{\"displayName\":\"OpenAPI child\"}");
  char *folder = strdup(gt_need(o, "id"));
  json_object_put(o);
  char *p = gt_printf("/v1.0/me/mailFolders/%s", folder);
  o = step("PATCH", "/v1.0/me/mailFolders/{}", p,
           "{\"displayName\":\"OpenAPI child 2\"}");
  json_object_put(o);
  free(p);
  o = step("POST", "/v1.0/me/messages", "/v1.0/me/messages",
           "{\"subject\":\"OpenAPI draft\",\"body\":{\"contentType\":\"text\","
           "\"content\":\"hi\"},\"toRecipients\":[{\"emailAddress\":{"
           "\"address\":\"bob@contoso.test\"}}],\"importance\":\"low\"}");
  char *id = strdup(gt_need(o, "id"));
  json_object_put(o);
#define MP(suffix) gt_printf("/v1.0/me/messages/%s%s", id, suffix)
  p = MP("");
  o = step("GET", "/v1.0/me/messages/{}", p, NULL);
  json_object_put(o);
  o = step("PATCH", "/v1.0/me/messages/{}", p,
           "{\"categories\":[\"Blue\"],\"flag\":{\"flagStatus\":\"flagged\"}}");
  json_object_put(o);
  free(p);
  p = MP("/attachments");
  o = step("POST", "/v1.0/me/messages/{}/attachments", p,
           "{\"@odata.type\":\"#microsoft.graph.fileAttachment\",\"name\":"
           "\"a.txt\",\"contentBytes\":\"aGVsbG8=\"}");
  char *att = strdup(gt_need(o, "id"));
  json_object_put(o);
  o = step("GET", "/v1.0/me/messages/{}/attachments", p, NULL);
  json_object_put(o);
  free(p);
  p = gt_printf("/v1.0/me/messages/%s/attachments/%s", id, att);
  o = step("GET", "/v1.0/me/messages/{}/attachments/{}", p, NULL);
  json_object_put(o);
  free(p);
  free(att);
  p = MP("/attachments/createUploadSession");
  o = step("POST", "/v1.0/me/messages/{}/attachments/createUploadSession", p,
           "{\"AttachmentItem\":{\"attachmentType\":\"file\",\"name\":"
           "\"big.bin\",\"size\":4000000}}");
  json_object_put(o);
  free(p);
  static const char *const drafts[] = {"/createReply", "/createReplyAll",
                                       "/createForward"};
  for (size_t i = 0; i < 3; i++) {
    char pat[96];
    snprintf(pat, sizeof pat, "/v1.0/me/messages/{}%s", drafts[i]);
    p = MP(drafts[i]);
    o = step("POST", pat, p, "{}");
    json_object_put(o);
    free(p);
  }
  p = MP("/copy");
  char *dest = gt_printf("{\"destinationId\":\"%s\"}", folder);
  o = step("POST", "/v1.0/me/messages/{}/copy", p, dest);
  json_object_put(o);
  free(p);
  p = MP("/move");
  o = step("POST", "/v1.0/me/messages/{}/move", p, dest);
  json_object_put(o);
  free(p);
  free(dest);
#undef MP
  o = step("GET", "/v1.0/me/messages/delta",
           "/v1.0/me/mailFolders/inbox/messages/delta", NULL);
  json_object_put(o);
  o = step("GET", "/v1.0/me/mailboxSettings", "/v1.0/me/mailboxSettings", NULL);
  json_object_put(o);
  o = step("PATCH", "/v1.0/me/mailboxSettings", "/v1.0/me/mailboxSettings",
           "{\"automaticRepliesSetting\":{\"status\":\"disabled\"}}");
  json_object_put(o);
  o = step("GET", "/v1.0/me/mailboxSettings/automaticRepliesSetting",
           "/v1.0/me/mailboxSettings/automaticRepliesSetting", NULL);
  json_object_put(o);
  o = step("POST", "/v1.0/me/getMailTips", "/v1.0/me/getMailTips",
           "{\"EmailAddresses\":[\"bob@contoso.test\"],\"MailTipsOptions\":"
           "\"automaticReplies, mailboxFullStatus\"}");
  json_object_put(o);
  o = step("POST", "/v1.0/me/sendMail", "/v1.0/me/sendMail",
           "{\"message\":{\"subject\":\"OpenAPI send\",\"toRecipients\":[{"
           "\"emailAddress\":{\"address\":\"bob@contoso.test\"}}]},"
           "\"saveToSentItems\":false}");
  json_object_put(o);
  free(id);
  free(folder);
  /* Valid bodies only: nothing refused for shape reasons. */
  assert_int_equal(rejections(), before);
  assert_int_equal(mismatches, 0);
}

static void test_refused_bodies_are_counted(void **state) {
  (void)state;
  int64_t before = rejections();
  json_object *o = NULL;
  long st = gt_call(&T, tok, "POST", "/v1.0/me/messages",
                    "{\"subject\":\"x\",\"colour\":\"red\"}", NULL, &o, NULL);
  assert_int_equal(st, 400);
  gt_assert_error(o, "RequestBodyRead");
  const char *msg = gt_str(gt_path(o, "error"), "message");
  assert_non_null(msg);
  assert_non_null(strstr(msg, "The property 'colour' does not exist on type "
                              "'microsoft.graph.message'"));
  json_object_put(o);
  st = gt_call(&T, tok, "PATCH", "/v1.0/me/mailboxSettings",
               "{\"automaticRepliesSetting\":{\"status\":\"often\"}}", NULL, &o,
               NULL);
  assert_int_equal(st, 400);
  gt_assert_error(o, "RequestBodyRead");
  json_object_put(o);
  assert_int_equal(rejections(), before + 2);
  /* The admin reset clears the counter with the other stats. */
  assert_int_equal(
      gt_call(&T, NULL, "POST", "/__emulator/reset", "{}", NULL, NULL, NULL) /
          100,
      2);
  assert_int_equal(rejections(), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_every_endpoint_matches),
      cmocka_unit_test(test_refused_bodies_are_counted),
  };
  return cmocka_run_group_tests(tests, gt_up_group, gt_down_group);
}
