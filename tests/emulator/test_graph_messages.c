/* Graph messages over real HTTP: list with OData options and paging, get,
 * create, update, delete, move/copy (new ids, immutable ids), MIME $value,
 * and the authorization errors. */
#define _GNU_SOURCE /* vasprintf, strndup, strdup, strtok_r */
#include "graph_test.h"

static char *tok_read; /* alice, Mail.Read only */

static int setup(void **state) {
  (void)state;
  json_object *doc = emu_proc_example_doc();
  json_object *boxes = json_tokener_parse(
      "[{\"user\":\"alice@contoso.test\",\"folders\":[{\"displayName\":"
      "\"Projects\",\"parent\":\"inbox\"}],\"messages\":["
      "{\"subject\":\"Quarterly report\",\"from\":\"bob@contoso.test\","
      "\"toRecipients\":[\"alice@contoso.test\"],\"receivedDateTime\":"
      "\"2024-03-01T09:00:00Z\",\"body\":\"Numbers attached\",\"importance\":"
      "\"high\",\"categories\":[\"Finance\"]},"
      "{\"subject\":\"Lunch?\",\"from\":\"carol@contoso.test\","
      "\"receivedDateTime\":\"2024-03-02T09:00:00Z\",\"isRead\":true,"
      "\"body\":{\"contentType\":\"html\",\"content\":\"<p>Noon at "
      "<b>Luigi's</b></p>\"}},"
      "{\"subject\":\"Invoice 7\",\"from\":\"billing@fabrikam.example\","
      "\"receivedDateTime\":\"2024-03-03T09:00:00Z\",\"attachments\":[{"
      "\"name\":\"inv.txt\",\"contentType\":\"text/plain\",\"text\":"
      "\"total: 42\"}]},"
      "{\"folder\":\"Projects\",\"subject\":\"Plan\",\"from\":"
      "\"bob@contoso.test\",\"receivedDateTime\":\"2024-03-04T09:00:00Z\"}"
      "]}]");
  for (int i = 0; i < 12; i++) {
    char m[256];
    snprintf(m, sizeof(m),
             "{\"subject\":\"Bulk %02d\",\"from\":\"news@fabrikam.example\","
             "\"receivedDateTime\":\"2024-02-%02dT08:00:00Z\",\"isRead\":true}",
             i, i + 1);
    json_object *msgs = NULL;
    json_object_object_get_ex(json_object_array_get_idx(boxes, 0), "messages",
                              &msgs);
    json_object_array_add(msgs, json_tokener_parse(m));
  }
  json_object_object_add(doc, "mailboxes", boxes);
  gt_up(doc);
  json_object_put(doc);
  tok_read =
      gt_token(&T, "alice@contoso.test", "Alice-Passw0rd!", "openid Mail.Read");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free(tok_read);
  return gt_down_group(state);
}

static json_object *value(json_object *o) {
  json_object *v = NULL;
  assert_true(json_object_object_get_ex(o, "value", &v));
  assert_true(json_object_is_type(v, json_type_array));
  return v;
}

static const char *find_id(const char *subject) {
  static char id[256];
  json_object *o = NULL;
  char *p = gt_printf("/v1.0/me/messages?$top=100&$select=subject");
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 200);
  free(p);
  json_object *v = value(o);
  id[0] = '\0';
  for (size_t i = 0; i < json_object_array_length(v); i++) {
    json_object *m = json_object_array_get_idx(v, i);
    if (!strcmp(gt_str(m, "subject"), subject))
      snprintf(id, sizeof(id), "%s", gt_str(m, "id"));
  }
  json_object_put(o);
  assert_true(id[0] != '\0');
  return id;
}

static void test_list_default_page_and_paging(void **state) {
  (void)state;
  json_object *o = NULL;
  assert_int_equal(
      gt_call(&T, tok, "GET", "/v1.0/me/messages", NULL, NULL, &o, NULL), 200);
  json_object *v = value(o);
  assert_int_equal(json_object_array_length(v), 10); /* default page size */
  gt_assert_message_shape(json_object_array_get_idx(v, 0));
  /* receivedDateTime desc by default */
  assert_string_equal(gt_str(json_object_array_get_idx(v, 0), "subject"),
                      "Plan");
  assert_non_null(strstr(gt_str(o, "@odata.context"), "$metadata#users('"));
  const char *next = gt_str(o, "@odata.nextLink");
  assert_non_null(next);
  assert_true(strncmp(next, T.url, strlen(T.url)) == 0); /* absolute */
  assert_non_null(strstr(next, "skiptoken"));
  /* follow the links: every message exactly once */
  size_t seen = json_object_array_length(v);
  char *link = strdup(next);
  json_object_put(o);
  while (link) {
    assert_int_equal(gt_call(&T, tok, "GET", link, NULL, NULL, &o, NULL), 200);
    free(link);
    seen += json_object_array_length(value(o));
    const char *n = gt_str(o, "@odata.nextLink");
    link = n ? strdup(n) : NULL;
    json_object_put(o);
  }
  assert_int_equal(seen, 16);
}

static void test_list_query_options(void **state) {
  (void)state;
  json_object *o = NULL;
  assert_int_equal(
      gt_call(&T, tok, "GET",
              "/v1.0/me/messages?$filter=importance%20eq%20'high'%20and%20"
              "categories/any(c:c%20eq%20'Finance')&$select=subject,importance"
              "&$count=true",
              NULL, NULL, &o, NULL),
      200);
  json_object *v = value(o);
  assert_int_equal(json_object_array_length(v), 1);
  json_object *m = json_object_array_get_idx(v, 0);
  assert_string_equal(gt_str(m, "subject"), "Quarterly report");
  assert_null(gt_str(m, "from")); /* not selected */
  assert_non_null(gt_str(m, "id"));
  assert_int_equal(
      json_object_get_int(json_object_object_get(o, "@odata.count")), 1);
  assert_non_null(strstr(gt_str(o, "@odata.context"), "(subject,importance)"));
  json_object_put(o);

  assert_int_equal(gt_call(&T, tok, "GET",
                           "/v1.0/me/mailFolders/inbox/messages?$search="
                           "%22from:carol%22",
                           NULL, NULL, &o, NULL),
                   200);
  assert_int_equal(json_object_array_length(value(o)), 1);
  json_object_put(o);

  assert_int_equal(gt_call(&T, tok, "GET",
                           "/v1.0/me/messages?$orderby=subject%20asc&$top=2&"
                           "$skip=1",
                           NULL, NULL, &o, NULL),
                   200);
  v = value(o);
  assert_string_equal(gt_str(json_object_array_get_idx(v, 0), "subject"),
                      "Bulk 01");
  json_object_put(o);

  /* folder-scoped list: Projects has one message */
  assert_int_equal(gt_call(&T, tok, "GET",
                           "/v1.0/me/mailFolders/inbox/childFolders", NULL,
                           NULL, &o, NULL),
                   200);
  char *p = gt_printf("/v1.0/me/mailFolders/%s/messages",
                      gt_need(json_object_array_get_idx(value(o), 0), "id"));
  json_object_put(o);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 200);
  free(p);
  assert_int_equal(json_object_array_length(value(o)), 1);
  json_object_put(o);

  char buf[64];
  tresp raw;
  assert_int_equal(gt_call(&T, tok, "GET",
                           "/v1.0/me/messages/$count?$filter=isRead%20eq%20"
                           "false",
                           NULL, NULL, NULL, &raw),
                   200);
  snprintf(buf, sizeof(buf), "%s", raw.body);
  tresp_free(&raw);
  assert_string_equal(buf, "3");
}

static void test_list_query_errors(void **state) {
  (void)state;
  static const struct {
    const char *q, *code;
  } cases[] = {
      {"$filter=subject%20eq", "BadRequest"},
      {"$filter=nosuch%20eq%201", "RequestBroker--ParseUri"},
      {"$select=subject,nosuch", "RequestBroker--ParseUri"},
      {"$top=1001", "ErrorInvalidUrlQuery"},
      {"$search=%22a%22&$orderby=subject", "SearchWithOrderBy"},
      {"$search=%22a%22&$filter=isRead%20eq%20true", "BadRequest"},
      {"$filter=isRead%20eq%20true&$orderby=subject", "InefficientFilter"},
      {"$search=unquoted", "BadRequest"},
      {"$skiptoken=Zm9v", "BadRequest"},
      {"$expand=extensions", "BadRequest"},
  };
  for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    char *p = gt_printf("/v1.0/me/messages?%s", cases[i].q);
    json_object *o = NULL;
    long st = gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL);
    if (st != 400)
      fail_msg("%s: status %ld", cases[i].q, st);
    gt_assert_error(o, cases[i].code);
    json_object_put(o);
    free(p);
  }
}

static void test_get_patch_delete(void **state) {
  (void)state;
  char id[256];
  snprintf(id, sizeof(id), "%s", find_id("Lunch?"));
  char *p = gt_printf("/v1.0/me/messages/%s", id);
  json_object *o = NULL;
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 200);
  gt_assert_message_shape(o);
  assert_string_equal(gt_str(o, "bodyPreview"), "Noon at Luigi's");
  char etag[128];
  snprintf(etag, sizeof(etag), "%s", gt_str(o, "@odata.etag"));
  json_object_put(o);
  /* text body on request */
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL,
                           "Prefer: outlook.body-content-type=\"text\"", &o,
                           NULL),
                   200);
  assert_string_equal(json_object_get_string(json_object_object_get(
                          json_object_object_get(o, "body"), "contentType")),
                      "text");
  json_object_put(o);
  assert_int_equal(gt_call(&T, tok, "PATCH", p,
                           "{\"isRead\":false,\"categories\":[\"Red\"],"
                           "\"flag\":{\"flagStatus\":\"flagged\"}}",
                           NULL, &o, NULL),
                   200);
  assert_false(json_object_get_boolean(json_object_object_get(o, "isRead")));
  assert_string_not_equal(gt_str(o, "@odata.etag"), etag);
  json_object_put(o);
  /* not a draft: subject is read-only */
  gt_expect(&T, tok, "PATCH", p, "{\"subject\":\"x\"}", 400,
            "ErrorInvalidPropertyUpdateSentMessage");
  /* unknown property, wrong type, bad enum */
  gt_expect(&T, tok, "PATCH", p, "{\"colour\":\"red\"}", 400,
            "RequestBodyRead");
  gt_expect(&T, tok, "PATCH", p, "{\"isRead\":\"yes\"}", 400,
            "RequestBodyRead");
  gt_expect(&T, tok, "PATCH", p, "{\"importance\":\"urgent\"}", 400,
            "RequestBodyRead");
  /* read-only token cannot write */
  gt_expect(&T, tok_read, "PATCH", p, "{\"isRead\":true}", 403,
            "ErrorAccessDenied");
  /* but can read */
  gt_expect(&T, tok_read, "GET", p, NULL, 200, NULL);
  gt_expect(&T, tok, "DELETE", p, NULL, 204, NULL);
  gt_expect(&T, tok, "GET", p, NULL, 404, "ErrorItemNotFound");
  free(p);
}

static void test_create_draft(void **state) {
  (void)state;
  json_object *o = NULL;
  assert_int_equal(
      gt_call(&T, tok, "POST", "/v1.0/me/messages",
              "{\"subject\":\"Draft 1\",\"body\":{\"contentType\":\"text\","
              "\"content\":\"hello\"},\"toRecipients\":[{\"emailAddress\":{"
              "\"address\":\"bob@contoso.test\"}}],\"attachments\":[{"
              "\"@odata.type\":\"#microsoft.graph.fileAttachment\",\"name\":"
              "\"a.txt\",\"contentBytes\":\"aGVsbG8=\"}]}",
              NULL, &o, NULL),
      201);
  gt_assert_message_shape(o);
  assert_true(json_object_get_boolean(json_object_object_get(o, "isDraft")));
  assert_true(
      json_object_get_boolean(json_object_object_get(o, "hasAttachments")));
  json_object *drafts = NULL;
  assert_int_equal(gt_call(&T, tok, "GET", "/v1.0/me/mailFolders/drafts", NULL,
                           NULL, &drafts, NULL),
                   200);
  gt_assert_folder_shape(drafts);
  assert_string_equal(gt_str(o, "parentFolderId"), gt_str(drafts, "id"));
  /* drafts may change subject */
  char *p = gt_printf("/v1.0/me/messages/%s", gt_need(o, "id"));
  json_object *o2 = NULL;
  assert_int_equal(gt_call(&T, tok, "PATCH", p, "{\"subject\":\"Draft 2\"}",
                           NULL, &o2, NULL),
                   200);
  assert_string_equal(gt_str(o2, "subject"), "Draft 2");
  json_object_put(o2);
  free(p);
  json_object_put(drafts);
  json_object_put(o);
  /* bad bodies */
  gt_expect(&T, tok, "POST", "/v1.0/me/messages", "{\"subject\":1}", 400,
            "RequestBodyRead");
  gt_expect(&T, tok, "POST", "/v1.0/me/messages", "{not json", 400, NULL);
  gt_expect(&T, tok, "POST", "/v1.0/me/messages",
            "{\"toRecipients\":[{\"emailAddress\":{\"addr\":\"x\"}}]}", 400,
            "RequestBodyRead");
}

/* A header line "If-Match: <etag>" (malloc'd). */
static char *if_match(const char *etag) {
  return gt_printf("If-Match: %s", etag);
}

/* Drafts found by their Message-ID ($filter on internetMessageId and
 * isDraft, as Graph allows), and If-Match on DELETE and PATCH: a stale
 * entity tag (the draft changed: an attachment, a send) is refused with
 * 412 ErrorIrresolvableConflict and nothing changes; the current one, "*"
 * and the bare change key pass. */
static void test_draft_by_marker_if_match(void **state) {
  (void)state;
  const char *create = "{\"subject\":\"marked draft\",\"internetMessageId\":"
                       "\"<wfc-ifmatch@wfc.idempotency>\",\"toRecipients\":[{"
                       "\"emailAddress\":{\"address\":\"bob@contoso.test\"}}]}";
  json_object *d = NULL;
  /* An immutable id: it stays the message's through the send. */
  assert_int_equal(gt_call(&T, tok, "POST", "/v1.0/me/messages", create,
                           "Prefer: IdType=\"ImmutableId\"", &d, NULL),
                   201);
  char id[256], etag[128];
  snprintf(id, sizeof id, "%s", gt_need(d, "id"));
  snprintf(etag, sizeof etag, "%s", gt_need(d, "@odata.etag"));
  json_object_put(d);
  const char *q = "/v1.0/me/messages?$filter=internetMessageId%20eq%20"
                  "'%3Cwfc-ifmatch%40wfc.idempotency%3E'%20and%20isDraft%20eq"
                  "%20true&$select=id,isDraft,changeKey";
  json_object *l = NULL;
  assert_int_equal(gt_call(&T, tok, "GET", q, NULL,
                           "Prefer: IdType=\"ImmutableId\"", &l, NULL),
                   200);
  json_object *v = json_object_object_get(l, "value");
  assert_int_equal(json_object_array_length(v), 1);
  json_object *m0 = json_object_array_get_idx(v, 0);
  assert_string_equal(gt_str(m0, "id"), id);
  assert_string_equal(gt_str(m0, "@odata.etag"), etag);
  json_object_put(l);

  /* An attachment changes the draft: the etag seen before is stale. */
  char *p = gt_printf("/v1.0/me/messages/%s", id);
  char *pa = gt_printf("/v1.0/me/messages/%s/attachments", id);
  gt_expect(&T, tok, "POST", pa,
            "{\"@odata.type\":\"#microsoft.graph.fileAttachment\",\"name\":"
            "\"a.txt\",\"contentBytes\":\"aGVsbG8=\"}",
            201, NULL);
  char *stale = if_match(etag);
  assert_int_equal(gt_call(&T, tok, "DELETE", p, NULL, stale, &d, NULL), 412);
  gt_assert_error(d, "ErrorIrresolvableConflict");
  json_object_put(d);
  assert_int_equal(
      gt_call(&T, tok, "PATCH", p, "{\"subject\":\"x\"}", stale, &d, NULL),
      412);
  json_object_put(d);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &d, NULL), 200);
  assert_string_equal(gt_str(d, "subject"), "marked draft");
  snprintf(etag, sizeof etag, "%s", gt_need(d, "@odata.etag"));
  char ck[128];
  snprintf(ck, sizeof ck, "\"%s\"", gt_need(d, "changeKey"));
  json_object_put(d);
  /* The current tag, bare or weak, and "*" pass. */
  char *cur = if_match(etag), *bare = if_match(ck);
  assert_int_equal(
      gt_call(&T, tok, "PATCH", p, "{\"subject\":\"y\"}", bare, &d, NULL), 200);
  snprintf(etag, sizeof etag, "%s", gt_need(d, "@odata.etag"));
  json_object_put(d);
  assert_int_equal(gt_call(&T, tok, "PATCH", p, "{\"subject\":\"z\"}",
                           "If-Match: *", NULL, NULL),
                   200);
  /* Sent: the draft's last tag no longer matches what it became. */
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &d, NULL), 200);
  snprintf(etag, sizeof etag, "%s", gt_need(d, "@odata.etag"));
  json_object_put(d);
  free(cur);
  cur = if_match(etag);
  char *ps = gt_printf("/v1.0/me/messages/%s/send", id);
  gt_expect(&T, tok, "POST", ps, NULL, 202, NULL);
  assert_int_equal(gt_call(&T, tok, "DELETE", p, NULL, cur, NULL, NULL), 412);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &d, NULL), 200);
  assert_false(json_object_get_boolean(json_object_object_get(d, "isDraft")));
  snprintf(etag, sizeof etag, "%s", gt_need(d, "@odata.etag"));
  json_object_put(d);
  free(cur);
  cur = if_match(etag);
  assert_int_equal(gt_call(&T, tok, "DELETE", p, NULL, cur, NULL, NULL), 204);
  gt_expect(&T, tok, "GET", p, NULL, 404, "ErrorItemNotFound");
  free(cur);
  free(bare);
  free(stale);
  free(ps);
  free(pa);
  free(p);
}

static void test_move_copy_ids(void **state) {
  (void)state;
  char id[256];
  snprintf(id, sizeof(id), "%s", find_id("Invoice 7"));
  char *p = gt_printf("/v1.0/me/messages/%s/move", id);
  json_object *o = NULL;
  assert_int_equal(gt_call(&T, tok, "POST", p,
                           "{\"destinationId\":\"archive\"}", NULL, &o, NULL),
                   201);
  free(p);
  gt_assert_message_shape(o);
  char moved[256];
  snprintf(moved, sizeof(moved), "%s", gt_str(o, "id"));
  assert_string_not_equal(moved, id); /* a move gives a new id */
  json_object_put(o);
  p = gt_printf("/v1.0/me/messages/%s", id);
  gt_expect(&T, tok, "GET", p, NULL, 404, NULL);
  free(p);

  /* immutable ids survive a move */
  const char *imm_hdr = "Prefer: IdType=\"ImmutableId\"";
  p = gt_printf("/v1.0/me/messages/%s", moved);
  tresp raw;
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, imm_hdr, &o, &raw), 200);
  assert_non_null(tresp_header(&raw, "Preference-Applied"));
  tresp_free(&raw);
  free(p);
  char imm[256];
  snprintf(imm, sizeof(imm), "%s", gt_str(o, "id"));
  json_object_put(o);
  p = gt_printf("/v1.0/me/messages/%s/move", imm);
  assert_int_equal(gt_call(&T, tok, "POST", p, "{\"destinationId\":\"inbox\"}",
                           imm_hdr, &o, NULL),
                   201);
  assert_string_equal(gt_str(o, "id"), imm);
  json_object_put(o);
  free(p);

  /* copy: 201, a new message, the original stays */
  p = gt_printf("/v1.0/me/messages/%s/copy", imm);
  assert_int_equal(gt_call(&T, tok, "POST", p,
                           "{\"destinationId\":\"deleteditems\"}", NULL, &o,
                           NULL),
                   201);
  assert_string_not_equal(gt_str(o, "id"), imm);
  assert_true(
      json_object_get_boolean(json_object_object_get(o, "hasAttachments")));
  json_object_put(o);
  free(p);
  p = gt_printf("/v1.0/me/messages/%s/copy", imm);
  gt_expect(&T, tok, "POST", p, "{\"destinationId\":\"nope\"}", 404, NULL);
  gt_expect(&T, tok, "POST", p, "{\"destination\":\"inbox\"}", 400, NULL);
  free(p);
}

/* Accept as a strict server reads it against what the OpenAPI documents
 * declare: .../$value returns application/octet-stream, so an Accept of
 * application/json alone is answered 406; a JSON operation refuses an
 * Accept that admits only octet-stream; wildcards and no Accept pass. */
static void test_accept_negotiation(void **state) {
  (void)state;
  char id[256];
  snprintf(id, sizeof(id), "%s", find_id("Quarterly report"));
  char *p = gt_printf("/v1.0/me/messages/%s/$value", id);
  json_object *o = NULL;
  assert_int_equal(
      gt_call(&T, tok, "GET", p, NULL, "Accept: application/json", &o, NULL),
      406);
  json_object *e = gt_path(o, "error");
  assert_string_equal(gt_need(e, "code"), "NotAcceptable");
  assert_non_null(strstr(gt_need(e, "message"), "application/octet-stream"));
  json_object_put(o);
  static const char *const ok[] = {
      "Accept: application/octet-stream", "Accept: */*",
      "Accept: application/*", "Accept: text/html, application/octet-stream",
      NULL};
  for (size_t i = 0; ok[i]; i++)
    assert_int_equal(gt_call(&T, tok, "GET", p, NULL, ok[i], NULL, NULL), 200);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL,
                           "Accept: application/octet-stream;q=0, */*;q=0",
                           NULL, NULL),
                   406);
  free(p);
  p = gt_printf("/v1.0/me/messages/%s", id);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL,
                           "Accept: application/octet-stream", NULL, NULL),
                   406);
  tresp raw;
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL,
                           "Accept: application/json;odata.metadata=minimal",
                           NULL, &raw),
                   200);
  /* Graph's JSON is OData with minimal metadata, and says so. */
  assert_non_null(
      strstr(tresp_header(&raw, "Content-Type"), "odata.metadata=minimal"));
  tresp_free(&raw);
  free(p);
}

/* A missing item: Graph's code and its words (as observed in the field). */
static void test_not_found_words(void **state) {
  (void)state;
  json_object *o = NULL;
  assert_int_equal(gt_call(&T, tok, "GET", "/v1.0/me/messages/AAMkAGnothere",
                           NULL, NULL, &o, NULL),
                   404);
  json_object *e = gt_path(o, "error");
  assert_string_equal(gt_need(e, "code"), "ErrorItemNotFound");
  assert_string_equal(gt_need(e, "message"),
                      "The specified object was not found in the store., The "
                      "process failed to get the correct properties.");
  json_object_put(o);
}

/* Seeding through the admin API into a folder a user created (named by
 * its display name): 201 with the message, stored once. */
static void test_seed_into_user_folder(void **state) {
  (void)state;
  json_object *o = NULL;
  assert_int_equal(gt_call(&T, tok, "POST", "/v1.0/me/mailFolders",
                           "{\"displayName\":\"Seeded here\"}", NULL, &o, NULL),
                   201);
  char *fid = strdup(gt_need(o, "id"));
  json_object_put(o);
  assert_int_equal(gt_call(&T, NULL, "POST",
                           "/__emulator/mail/alice@contoso.test/messages",
                           "{\"folder\":\"Seeded here\",\"subject\":"
                           "\"seeded once\",\"from\":\"bob@contoso.test\"}",
                           NULL, &o, NULL),
                   201);
  assert_string_equal(gt_need(o, "subject"), "seeded once");
  assert_string_equal(gt_need(o, "parentFolderId"), fid);
  json_object_put(o);
  char *p = gt_printf("/v1.0/me/mailFolders/%s/messages?$select=subject", fid);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 200);
  assert_int_equal(json_object_array_length(value(o)), 1);
  json_object_put(o);
  free(p);
  free(fid);
}

/* Graph beta (emulator/graph_beta.c): a message seeded with "mentions"
 * carries mentionsPreview on /beta for the mailbox's user (true: among
 * them, false: others only, null: nobody), and the list filters on it;
 * v1.0 knows neither property. */
static void test_beta_mentions_preview(void **state) {
  (void)state;
  json_object *o = NULL;
  assert_int_equal(gt_call(&T, tok, "POST", "/v1.0/me/mailFolders",
                           "{\"displayName\":\"Mentions\"}", NULL, &o, NULL),
                   201);
  char *fid = strdup(gt_need(o, "id"));
  json_object_put(o);
  static const char *const seeds[] = {
      "{\"folder\":\"Mentions\",\"subject\":\"to alice\",\"from\":"
      "\"bob@contoso.test\",\"receivedDateTime\":\"2024-05-01T10:00:00Z\","
      "\"mentions\":[{\"mentioned\":{\"name\":\"Alice\",\"address\":"
      "\"Alice@contoso.test\"}}]}",
      "{\"folder\":\"Mentions\",\"subject\":\"to bob\",\"from\":"
      "\"carol@contoso.test\",\"receivedDateTime\":\"2024-05-01T09:00:00Z\","
      "\"mentions\":[\"bob@contoso.test\"]}",
      "{\"folder\":\"Mentions\",\"subject\":\"to nobody\",\"from\":"
      "\"bob@contoso.test\",\"receivedDateTime\":\"2024-05-01T08:00:00Z\"}",
  };
  for (size_t i = 0; i < 3; i++) {
    assert_int_equal(gt_call(&T, NULL, "POST",
                             "/__emulator/mail/alice@contoso.test/messages",
                             seeds[i], NULL, &o, NULL),
                     201);
    assert_null(json_object_object_get(o, "mentions"));
    json_object_put(o);
  }
  assert_int_equal(gt_call(&T, NULL, "POST",
                           "/__emulator/mail/alice@contoso.test/messages",
                           "{\"folder\":\"Mentions\",\"subject\":\"bad\","
                           "\"mentions\":[{\"mentioned\":{\"name\":\"x\"}}]}",
                           NULL, &o, NULL),
                   400);
  assert_non_null(strstr(json_object_to_json_string(o), "mentions[0]"));
  json_object_put(o);

  /* The trigger's query: the mentioning message only, ordered. */
  char *p = gt_printf(
      "/beta/me/mailFolders/%s/messages?$filter=receivedDateTime%%20ge%%20"
      "2024-01-01T00:00:00Z%%20and%%20mentionsPreview/isMentioned%%20eq%%20"
      "true&$orderby=receivedDateTime%%20asc&$select=subject,"
      "mentionsPreview&$top=5",
      fid);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 200);
  free(p);
  json_object *v = value(o);
  assert_int_equal(json_object_array_length(v), 1);
  json_object *m = json_object_array_get_idx(v, 0);
  assert_string_equal(gt_str(m, "subject"), "to alice");
  json_object *mp = json_object_object_get(m, "mentionsPreview");
  assert_true(
      json_object_get_boolean(json_object_object_get(mp, "isMentioned")));
  assert_non_null(strstr(gt_str(o, "@odata.context"), "/beta/$metadata#"));
  json_object_put(o);

  /* Every message: true, false, null; the mentions themselves are not
   * listed. */
  p = gt_printf("/beta/users/alice@contoso.test/mailFolders/%s/messages", fid);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 200);
  free(p);
  v = value(o);
  assert_int_equal(json_object_array_length(v), 3);
  for (size_t i = 0; i < 3; i++) {
    m = json_object_array_get_idx(v, i);
    const char *s = gt_str(m, "subject");
    assert_true(json_object_object_get_ex(m, "mentionsPreview", &mp));
    assert_null(json_object_object_get(m, "mentions"));
    if (strcmp(s, "to alice") == 0 || strcmp(s, "to bob") == 0)
      assert_int_equal(
          json_object_get_boolean(json_object_object_get(mp, "isMentioned")),
          strcmp(s, "to alice") == 0);
    else
      assert_null(mp);
  }
  json_object_put(o);

  /* Graph's rule for $orderby with $filter: its property first. */
  p = gt_printf("/beta/me/mailFolders/%s/messages?$filter=mentionsPreview/"
                "isMentioned%%20eq%%20true&$orderby=receivedDateTime",
                fid);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 400);
  free(p);
  assert_non_null(strstr(json_object_to_json_string(o), "InefficientFilter"));
  json_object_put(o);

  /* v1.0: no mentionsPreview, no mentions, and no filter on them. */
  p = gt_printf("/v1.0/me/mailFolders/%s/messages", fid);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 200);
  free(p);
  v = value(o);
  assert_int_equal(json_object_array_length(v), 3);
  for (size_t i = 0; i < 3; i++) {
    m = json_object_array_get_idx(v, i);
    assert_false(json_object_object_get_ex(m, "mentionsPreview", NULL));
    assert_false(json_object_object_get_ex(m, "mentions", NULL));
  }
  json_object_put(o);
  p = gt_printf("/v1.0/me/mailFolders/%s/messages?$filter=mentionsPreview/"
                "isMentioned%%20eq%%20true",
                fid);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 400);
  free(p);
  json_object_put(o);
  free(fid);
}

static void test_mime_value(void **state) {
  (void)state;
  char id[256];
  snprintf(id, sizeof(id), "%s", find_id("Quarterly report"));
  char *p = gt_printf("/v1.0/me/messages/%s/$value", id);
  tresp raw;
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, NULL, &raw), 200);
  free(p);
  assert_non_null(strstr(raw.body, "Subject: Quarterly report\r\n"));
  assert_non_null(strstr(raw.body, "From: <bob@contoso.test>") ||
                  strstr(raw.body, "From: \"bob@contoso.test\""));
  assert_non_null(strstr(raw.body, "MIME-Version: 1.0\r\n"));
  assert_non_null(strstr(raw.body, "Message-ID: <"));
  tresp_free(&raw);
  /* with an attachment: multipart, base64 part */
  snprintf(id, sizeof(id), "%s", find_id("Invoice 7"));
  p = gt_printf("/v1.0/me/messages/%s/$value", id);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, NULL, &raw), 200);
  free(p);
  assert_non_null(strstr(raw.body, "multipart/mixed"));
  assert_non_null(strstr(raw.body, "filename=\"inv.txt\""));
  assert_non_null(strstr(raw.body, "dG90YWw6IDQy")); /* "total: 42" */
  tresp_free(&raw);
  /* $expand=attachments inlines them, even with $select */
  p = gt_printf("/v1.0/me/messages/%s?$expand=attachments&$select=subject", id);
  json_object *o = NULL;
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 200);
  free(p);
  json_object *atts = json_object_object_get(o, "attachments");
  assert_int_equal(json_object_array_length(atts), 1);
  assert_string_equal(
      gt_str(json_object_array_get_idx(atts, 0), "contentBytes"),
      "dG90YWw6IDQy");
  assert_null(gt_str(o, "from"));
  json_object_put(o);
  p = gt_printf("/v1.0/me/messages/%s?$expand=extensions", id);
  gt_expect(&T, tok, "GET", p, NULL, 400, "BadRequest");
  free(p);
}

static void test_auth_errors(void **state) {
  (void)state;
  gt_expect(&T, NULL, "GET", "/v1.0/me/messages", NULL, 401,
            "InvalidAuthenticationToken");
  gt_expect(&T, "garbage", "GET", "/v1.0/me/messages", NULL, 401, NULL);
  /* another user's mailbox without rights: carol's */
  gt_expect(&T, tok, "GET", "/v1.0/users/carol@contoso.test/messages", NULL,
            403, "ErrorAccessDenied");
  gt_expect(&T, tok, "GET", "/v1.0/users/nobody@contoso.test/messages", NULL,
            404, "ErrorInvalidUser");
  /* own mailbox by UPN works like /me */
  gt_expect(&T, tok, "GET", "/v1.0/users/alice@contoso.test/messages?$top=1",
            NULL, 200, NULL);
  /* shared mailbox with FullAccess (alice on support) */
  gt_expect(&T, tok, "GET",
            "/v1.0/users/support@contoso.test/mailFolders/"
            "inbox/messages",
            NULL, 200, NULL);
  /* ...but not with a token lacking the .Shared scope */
  gt_expect(&T, tok_read, "GET", "/v1.0/users/support@contoso.test/messages",
            NULL, 403, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_list_default_page_and_paging),
      cmocka_unit_test(test_list_query_options),
      cmocka_unit_test(test_list_query_errors),
      cmocka_unit_test(test_get_patch_delete),
      cmocka_unit_test(test_create_draft),
      cmocka_unit_test(test_draft_by_marker_if_match),
      cmocka_unit_test(test_move_copy_ids),
      cmocka_unit_test(test_mime_value),
      cmocka_unit_test(test_accept_negotiation),
      cmocka_unit_test(test_not_found_words),
      cmocka_unit_test(test_seed_into_user_folder),
      cmocka_unit_test(test_auth_errors),
      cmocka_unit_test(test_beta_mentions_preview),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
