/* Graph sending over real HTTP: sendMail (delivery to tenant inboxes, Sent
 * Items, saveToSentItems, validation), drafts and send, reply / replyAll /
 * forward and the create* drafts, shared mailboxes (SendAs), and the admin
 * count of sends. */
#define _GNU_SOURCE /* vasprintf, strndup, strdup, strtok_r */
#include "graph_test.h"

static char *bob, *carol, *alice_nosend; /* alice: tok (graph_test.h) */

static int setup(void **state) {
  (void)state;
  gt_up(NULL);
  bob = gt_token(&T, "bob@contoso.test", "Bob-Passw0rd!", GT_ALL_SCOPES);
  carol = gt_token(&T, "carol@contoso.test", "Carol-Passw0rd!", GT_ALL_SCOPES);
  alice_nosend = gt_token(&T, "alice@contoso.test", "Alice-Passw0rd!",
                          "openid Mail.ReadWrite");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free(bob);
  free(carol);
  free(alice_nosend);
  return gt_down_group(state);
}

static size_t count_subject(json_object *arr, const char *subject) {
  size_t n = 0;
  for (size_t i = 0; i < json_object_array_length(arr); i++)
    n += !strcmp(gt_str(json_object_array_get_idx(arr, i), "subject"), subject);
  return n;
}

static json_object *find_subject(json_object *arr, const char *subject) {
  for (size_t i = 0; i < json_object_array_length(arr); i++)
    if (!strcmp(gt_str(json_object_array_get_idx(arr, i), "subject"), subject))
      return json_object_array_get_idx(arr, i);
  return NULL;
}

static int sent_count(const char *user) {
  char *p = gt_printf("/__emulator/mail/%s/sent", user);
  json_object *o = NULL;
  assert_int_equal(gt_call(&T, NULL, "GET", p, NULL, NULL, &o, NULL), 200);
  free(p);
  int n = json_object_get_int(json_object_object_get(o, "count"));
  json_object_put(o);
  return n;
}

static void test_sendmail_delivers(void **state) {
  (void)state;
  int before = sent_count("alice@contoso.test");
  long st = gt_call(
      &T, tok, "POST", "/v1.0/me/sendMail",
      "{\"message\":{\"subject\":\"Hello Bob\",\"body\":{\"contentType\":"
      "\"text\",\"content\":\"Hi there\"},\"toRecipients\":[{\"emailAddress\":"
      "{\"address\":\"bob@contoso.test\"}}],\"ccRecipients\":[{"
      "\"emailAddress\":{\"address\":\"someone@fabrikam.example\"}}],"
      "\"bccRecipients\":[{\"emailAddress\":{\"address\":"
      "\"carol@contoso.test\"}}],\"attachments\":[{\"@odata.type\":\"#"
      "microsoft.graph.fileAttachment\",\"name\":\"n.txt\",\"contentBytes\":"
      "\"bm90ZQ==\"}]},\"saveToSentItems\":\"true\"}",
      NULL, NULL, NULL);
  assert_int_equal(st, 202);
  assert_int_equal(sent_count("alice@contoso.test"), before + 1);
  json_object *inbox = gt_admin_messages(&T, "bob@contoso.test", "inbox");
  json_object *m = find_subject(inbox, "Hello Bob");
  assert_non_null(m);
  assert_false(json_object_get_boolean(json_object_object_get(m, "isRead")));
  assert_false(json_object_get_boolean(json_object_object_get(m, "isDraft")));
  assert_true(
      json_object_get_boolean(json_object_object_get(m, "hasAttachments")));
  assert_string_equal(
      json_object_get_string(gt_path(m, "from/emailAddress/address")),
      "alice@contoso.test");
  /* bcc is not shown to recipients */
  assert_int_equal(
      json_object_array_length(json_object_object_get(m, "bccRecipients")), 0);
  json_object_put(inbox);
  inbox = gt_admin_messages(&T, "carol@contoso.test", "inbox");
  assert_int_equal(count_subject(inbox, "Hello Bob"), 1);
  json_object_put(inbox);
  json_object *sent = gt_admin_messages(&T, "alice@contoso.test", "sentitems");
  assert_int_equal(count_subject(sent, "Hello Bob"), 1);
  json_object_put(sent);
  json_object *drafts = gt_admin_messages(&T, "alice@contoso.test", "drafts");
  assert_int_equal(count_subject(drafts, "Hello Bob"), 0);
  json_object_put(drafts);

  /* saveToSentItems=false: delivered, no copy in Sent Items */
  gt_expect(&T, tok, "POST", "/v1.0/me/sendMail",
            "{\"message\":{\"subject\":\"No copy\",\"toRecipients\":[{"
            "\"emailAddress\":{\"address\":\"bob@contoso.test\"}}]},"
            "\"saveToSentItems\":false}",
            202, NULL);
  sent = gt_admin_messages(&T, "alice@contoso.test", "sentitems");
  assert_int_equal(count_subject(sent, "No copy"), 0);
  json_object_put(sent);
  inbox = gt_admin_messages(&T, "bob@contoso.test", "inbox");
  assert_int_equal(count_subject(inbox, "No copy"), 1);
  json_object_put(inbox);
}

static void test_sendmail_validation(void **state) {
  (void)state;
  int before = sent_count("alice@contoso.test");
  static const struct {
    const char *body, *code;
    long status;
  } cases[] = {
      {"{\"message\":{\"subject\":\"x\"}}", "ErrorInvalidRecipients", 400},
      {"{\"message\":{\"toRecipients\":[{\"emailAddress\":{\"address\":"
       "\"not-an-address\"}}]}}",
       "ErrorInvalidRecipients", 400},
      {"{\"message\":{\"subjekt\":\"x\",\"toRecipients\":[{\"emailAddress\":{"
       "\"address\":\"bob@contoso.test\"}}]}}",
       "RequestBodyRead", 400},
      {"{\"message\":{\"toRecipients\":{\"emailAddress\":{\"address\":"
       "\"bob@contoso.test\"}}}}",
       "RequestBodyRead", 400},
      {"{\"msg\":{}}", "RequestBodyRead", 400},
      {"{\"saveToSentItems\":true}", "ErrorInvalidParameter", 400},
      {"{\"message\":{\"toRecipients\":[{\"emailAddress\":{\"address\":"
       "\"bob@contoso.test\"}}]},\"saveToSentItems\":\"maybe\"}",
       "RequestBodyRead", 400},
      {"{\"message\":{\"toRecipients\":[{\"emailAddress\":{\"address\":"
       "\"bob@contoso.test\"}}],\"attachments\":[{\"@odata.type\":\"#"
       "microsoft.graph.fileAttachment\",\"name\":\"a\",\"contentBytes\":"
       "\"!!notbase64\"}]}}",
       "RequestBodyRead", 400},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    json_object *o = NULL;
    long st = gt_call(&T, tok, "POST", "/v1.0/me/sendMail", cases[i].body, NULL,
                      &o, NULL);
    if (st != cases[i].status)
      fail_msg("case %zu: status %ld", i, st);
    gt_assert_error(o, cases[i].code);
    json_object_put(o);
  }
  /* a token without Mail.Send */
  gt_expect(&T, alice_nosend, "POST", "/v1.0/me/sendMail",
            "{\"message\":{\"toRecipients\":[{\"emailAddress\":{\"address\":"
            "\"bob@contoso.test\"}}]}}",
            403, "ErrorAccessDenied");
  /* nothing was sent by any of these */
  assert_int_equal(sent_count("alice@contoso.test"), before);
  /* MIME sendMail */
  const char *mime = "From: alice@contoso.test\r\nTo: Bob <bob@contoso.test>"
                     "\r\nSubject: Via MIME\r\n\r\nplain body\r\n";
  char *b64 = NULL;
  {
    size_t n = strlen(mime);
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    b64 = calloc(4 * ((n + 2) / 3) + 1, 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i += 3) {
      unsigned v = (unsigned char)mime[i] << 16;
      if (i + 1 < n)
        v |= (unsigned char)mime[i + 1] << 8;
      if (i + 2 < n)
        v |= (unsigned char)mime[i + 2];
      b64[j++] = tbl[(v >> 18) & 63];
      b64[j++] = tbl[(v >> 12) & 63];
      b64[j++] = i + 1 < n ? tbl[(v >> 6) & 63] : '=';
      b64[j++] = i + 2 < n ? tbl[v & 63] : '=';
    }
  }
  char *auth = gt_printf("Authorization: Bearer %s", tok);
  const char *h[] = {auth, "Content-Type: text/plain", NULL};
  char *url = gt_printf("%s/v1.0/me/sendMail", T.url);
  tresp r = {0};
  tclient_request(T.c, "POST", url, h, b64, &r);
  assert_int_equal(r.status, 202);
  tresp_free(&r);
  tclient_request(T.c, "POST", url, h, "%%%not base64", &r);
  assert_int_equal(r.status, 400);
  json_object *e = tresp_json(&r);
  gt_assert_error(e, "ErrorMimeContentInvalidBase64String");
  json_object_put(e);
  tresp_free(&r);
  free(url);
  free(auth);
  free(b64);
  json_object *inbox = gt_admin_messages(&T, "bob@contoso.test", "inbox");
  assert_int_equal(count_subject(inbox, "Via MIME"), 1);
  json_object_put(inbox);
}

static void test_draft_send(void **state) {
  (void)state;
  json_object *d = NULL;
  assert_int_equal(
      gt_call(&T, tok, "POST", "/v1.0/me/messages",
              "{\"subject\":\"Drafted\",\"toRecipients\":[{\"emailAddress\":{"
              "\"address\":\"carol@contoso.test\"}}]}",
              NULL, &d, NULL),
      201);
  char *p = gt_printf("/v1.0/me/messages/%s/send", gt_need(d, "id"));
  json_object_put(d);
  int before = sent_count("alice@contoso.test");
  gt_expect(&T, tok, "POST", p, NULL, 202, NULL);
  assert_int_equal(sent_count("alice@contoso.test"), before + 1);
  /* the draft is gone (moved to Sent Items with a new id): sending again
   * cannot send twice */
  gt_expect(&T, tok, "POST", p, NULL, 404, "ErrorItemNotFound");
  free(p);
  assert_int_equal(sent_count("alice@contoso.test"), before + 1);
  json_object *inbox = gt_admin_messages(&T, "carol@contoso.test", "inbox");
  assert_int_equal(count_subject(inbox, "Drafted"), 1);
  json_object_put(inbox);
}

static void test_reply_forward(void **state) {
  (void)state;
  gt_expect(&T, bob, "POST", "/v1.0/me/sendMail",
            "{\"message\":{\"subject\":\"Team\",\"toRecipients\":[{"
            "\"emailAddress\":{\"address\":\"alice@contoso.test\"}},{"
            "\"emailAddress\":{\"address\":\"carol@contoso.test\"}}]}}",
            202, NULL);
  json_object *inbox = gt_admin_messages(&T, "alice@contoso.test", "inbox");
  char id[256];
  snprintf(id, sizeof(id), "%s", gt_str(find_subject(inbox, "Team"), "id"));
  json_object_put(inbox);

  char *p = gt_printf("/v1.0/me/messages/%s/reply", id);
  gt_expect(&T, tok, "POST", p, "{\"comment\":\"Sure\"}", 202, NULL);
  free(p);
  inbox = gt_admin_messages(&T, "bob@contoso.test", "inbox");
  json_object *re = find_subject(inbox, "RE: Team");
  assert_non_null(re);
  assert_non_null(
      strstr(json_object_get_string(gt_path(re, "body/content")), "Sure"));
  json_object_put(inbox);
  inbox = gt_admin_messages(&T, "carol@contoso.test", "inbox");
  assert_int_equal(count_subject(inbox, "RE: Team"), 0); /* reply: bob only */
  json_object_put(inbox);

  p = gt_printf("/v1.0/me/messages/%s/replyAll", id);
  gt_expect(&T, tok, "POST", p, "{\"comment\":\"All\"}", 202, NULL);
  free(p);
  inbox = gt_admin_messages(&T, "carol@contoso.test", "inbox");
  assert_int_equal(count_subject(inbox, "RE: Team"), 1);
  json_object_put(inbox);

  p = gt_printf("/v1.0/me/messages/%s/forward", id);
  json_object *o = NULL;
  /* forward needs exactly one of toRecipients / message.toRecipients */
  gt_expect(&T, tok, "POST", p, "{\"comment\":\"fyi\"}", 400,
            "ErrorInvalidRecipients");
  gt_expect(&T, tok, "POST", p,
            "{\"comment\":\"fyi\",\"toRecipients\":[{\"emailAddress\":{"
            "\"address\":\"admin@contoso.test\"}}]}",
            202, NULL);
  free(p);
  inbox = gt_admin_messages(&T, "admin@contoso.test", "inbox");
  assert_int_equal(count_subject(inbox, "FW: Team"), 1);
  json_object_put(inbox);

  /* comment and message.body together are refused */
  p = gt_printf("/v1.0/me/messages/%s/reply", id);
  gt_expect(&T, tok, "POST", p,
            "{\"comment\":\"a\",\"message\":{\"body\":{"
            "\"contentType\":\"text\",\"content\":\"b\"}}}",
            400, NULL);
  gt_expect(&T, tok, "POST", p, "{\"commentary\":\"a\"}", 400,
            "RequestBodyRead");
  free(p);

  /* createReplyAll: a draft, not sent */
  int before = sent_count("alice@contoso.test");
  p = gt_printf("/v1.0/me/messages/%s/createReplyAll", id);
  assert_int_equal(gt_call(&T, tok, "POST", p, NULL, NULL, &o, NULL), 201);
  free(p);
  gt_assert_message_shape(o);
  assert_true(json_object_get_boolean(json_object_object_get(o, "isDraft")));
  assert_string_equal(gt_str(o, "subject"), "RE: Team");
  assert_int_equal(
      json_object_array_length(json_object_object_get(o, "toRecipients")), 2);
  assert_int_equal(/* bob (sender) + carol; tok herself left out */
                   json_object_array_length(
                       json_object_object_get(o, "ccRecipients")),
                   0);
  assert_int_equal(sent_count("alice@contoso.test"), before);
  p = gt_printf("/v1.0/me/messages/%s/send", gt_need(o, "id"));
  json_object_put(o);
  gt_expect(&T, tok, "POST", p, NULL, 202, NULL);
  free(p);
  assert_int_equal(sent_count("alice@contoso.test"), before + 1);
  p = gt_printf("/v1.0/me/messages/%s/createForward", id);
  assert_int_equal(gt_call(&T, tok, "POST", p, NULL, NULL, &o, NULL), 201);
  assert_string_equal(gt_str(o, "subject"), "FW: Team");
  json_object_put(o);
  free(p);
}

static void test_shared_mailbox_send_as(void **state) {
  (void)state;
  const char *body = "{\"message\":{\"subject\":\"From support\","
                     "\"toRecipients\":[{\"emailAddress\":{\"address\":"
                     "\"carol@contoso.test\"}}]}}";
  /* tok has SendAs on support */
  gt_expect(&T, tok, "POST", "/v1.0/users/support@contoso.test/sendMail", body,
            202, NULL);
  json_object *inbox = gt_admin_messages(&T, "carol@contoso.test", "inbox");
  json_object *m = find_subject(inbox, "From support");
  assert_non_null(m);
  assert_string_equal(
      json_object_get_string(gt_path(m, "from/emailAddress/address")),
      "support@contoso.test");
  json_object_put(inbox);
  json_object *sent =
      gt_admin_messages(&T, "support@contoso.test", "sentitems");
  assert_int_equal(count_subject(sent, "From support"), 1);
  json_object_put(sent);
  /* carol has no rights on support */
  gt_expect(&T, carol, "POST", "/v1.0/users/support@contoso.test/sendMail",
            body, 403, "ErrorSendAsDenied");
  /* nor may carol put support in "from" on her own sendMail */
  gt_expect(&T, carol, "POST", "/v1.0/me/sendMail",
            "{\"message\":{\"subject\":\"spoof\",\"from\":{\"emailAddress\":"
            "{\"address\":\"support@contoso.test\"}},\"toRecipients\":[{"
            "\"emailAddress\":{\"address\":\"bob@contoso.test\"}}]}}",
            403, "ErrorSendAsDenied");
  /* nor read support's mail */
  gt_expect(&T, carol, "GET", "/v1.0/users/support@contoso.test/messages", NULL,
            403, "ErrorAccessDenied");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sendmail_delivers),
      cmocka_unit_test(test_sendmail_validation),
      cmocka_unit_test(test_draft_send),
      cmocka_unit_test(test_reply_forward),
      cmocka_unit_test(test_shared_mailbox_send_as),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
