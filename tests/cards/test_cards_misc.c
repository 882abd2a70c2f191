/* Get Mail Tips, Set Automatic Replies and Custom API Action through the
 * real plugin and runtime against the emulator. Custom API Action's
 * refusals (another host, Authorization, CR/LF, '..') are checked to send
 * nothing at all: the emulator's request counters do not move.
 * */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv, strdup */
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
  /* bob is out of office, carol's mailbox is full with a 10 MB limit. */
  return ct_up_mailboxes(
      "[{\"user\":\"bob@contoso.test\",\"automaticRepliesSetting\":"
      "{\"status\":\"alwaysEnabled\",\"internalReplyMessage\":\"Bob is "
      "away\"}},{\"user\":\"carol@contoso.test\",\"mailboxFull\":true,"
      "\"maxMessageSize\":10485760}]",
      NULL);
}

static json_object *tip_for(json_object *out, const char *address) {
  json_object *tips = NULL;
  assert_true(json_object_object_get_ex(out, "tips", &tips));
  for (size_t i = 0; i < json_object_array_length(tips); i++) {
    json_object *t = json_object_array_get_idx(tips, i);
    if (strcmp(jstr(t, "address"), address) == 0)
      return t;
  }
  return NULL;
}

/* Runs Get Mail Tips for alice: her tip (borrowed from o->output, which
 * the caller frees). */
static json_object *alice_tip(o365_outcome *o) {
  run_ok("get_mail_tips", "{\"recipients\":[\"alice@contoso.test\"]}", o);
  return tip_for(o->output, "alice@contoso.test");
}

/* ---- Get Mail Tips ---- */

static void test_mail_tips(void **state) {
  (void)state;
  long before = o365_fixture_graph_requests(fx);
  o365_outcome o;
  run_ok("get_mail_tips",
         "{\"recipients\":[\"bob@contoso.test\","
         "\"carol@contoso.test\",\"someone@example.org\"]}",
         &o);
  assert_int_equal(o365_fixture_graph_requests(fx), before + 1);
  json_object *bob = tip_for(o.output, "bob@contoso.test");
  assert_non_null(bob);
  assert_int_equal(jbool(bob, "automatic_replies"), 1);
  assert_string_equal(jstr(bob, "automatic_reply_message"), "Bob is away");
  assert_int_equal(jbool(bob, "mailbox_full"), 0);
  assert_string_equal(jstr(bob, "recipient_scope"), "internal");
  assert_int_equal(jbool(bob, "delivery_restricted"), 0);
  json_object *carol = tip_for(o.output, "carol@contoso.test");
  assert_int_equal(jbool(carol, "automatic_replies"), 0);
  assert_int_equal(jbool(carol, "mailbox_full"), 1);
  assert_int_equal(jnum(carol, "max_message_size"), 10485760);
  json_object *ext = tip_for(o.output, "someone@example.org");
  assert_string_equal(jstr(ext, "recipient_scope"), "external");
  o365_outcome_free(&o);

  /* Only the tips asked for. */
  run_ok("get_mail_tips",
         "{\"recipients\":[\"carol@contoso.test\"],"
         "\"tips\":[\"mailboxFullStatus\"]}",
         &o);
  carol = tip_for(o.output, "carol@contoso.test");
  assert_int_equal(jbool(carol, "mailbox_full"), 1);
  assert_int_equal(jnum(carol, "max_message_size"), -1);
  o365_outcome_free(&o);

  /* Asked as the shared mailbox alice has full access to. */
  run_ok("get_mail_tips",
         "{\"mailbox\":\"support@contoso.test\","
         "\"recipients\":[\"bob@contoso.test\"]}",
         &o);
  assert_int_equal(
      jbool(tip_for(o.output, "bob@contoso.test"), "automatic_replies"), 1);
  o365_outcome_free(&o);
}

static void test_mail_tips_input_errors(void **state) {
  (void)state;
  ct_refused("get_mail_tips", "{\"recipients\":[\"not an address\"]}",
             WFC_EVALIDATION, "recipients[0]");
  ct_refused("get_mail_tips",
             "{\"recipients\":[\"bob@contoso.test\"],"
             "\"tips\":[\"horoscope\"]}",
             WFC_EVALIDATION, "tips[0]");
  ct_refused("get_mail_tips", "{}", WFC_EVALIDATION, NULL);
}

/* ---- Set Automatic Replies ---- */

static void test_auto_replies_needs_permission(void **state) {
  (void)state;
  /* The default scopes leave MailboxSettings.ReadWrite out: a clear 403. */
  ct_fails("set_automatic_replies", "{\"status\":\"alwaysEnabled\"}",
           WFC_EDENIED, "MailboxSettings.ReadWrite");
}

static void test_auto_replies_with_permission(void **state) {
  (void)state;
  setenv("O365MAIL_EXTRA_SCOPES", "MailboxSettings.ReadWrite bad$scope", 1);
  wfc_conn *c = o365_fixture_connect(fx, "alice@contoso.test");
  unsetenv("O365MAIL_EXTRA_SCOPES");
  assert_non_null(c);
  o365_fixture_use(fx, c);

  o365_outcome o;
  run_ok("set_automatic_replies",
         "{\"status\":\"alwaysEnabled\",\"internal_message\":"
         "\"Alice is on leave\",\"external_message\":\"Away\","
         "\"external_audience\":\"contactsOnly\"}",
         &o);
  assert_string_equal(jstr(o.output, "status"), "alwaysEnabled");
  assert_string_equal(jstr(o.output, "internal_message"), "Alice is on leave");
  assert_string_equal(jstr(o.output, "external_audience"), "contactsOnly");
  o365_outcome_free(&o);
  /* Senders now see it in the mail tips. */
  assert_string_equal(jstr(alice_tip(&o), "automatic_reply_message"),
                      "Alice is on leave");
  o365_outcome_free(&o);

  /* Scheduled, with offsets converted to UTC; a window around now. */
  run_ok("set_automatic_replies",
         "{\"status\":\"scheduled\",\"start\":"
         "\"2000-01-01T02:00:00+02:00\",\"end\":"
         "\"2099-12-31T23:30:00Z\"}",
         &o);
  assert_string_equal(jstr(o.output, "status"), "scheduled");
  assert_string_equal(jstr(o.output, "start"), "2000-01-01T00:00:00");
  assert_string_equal(jstr(o.output, "end"), "2099-12-31T23:30:00");
  assert_string_equal(jstr(o.output, "time_zone"), "UTC");
  o365_outcome_free(&o);
  assert_int_equal(jbool(alice_tip(&o), "automatic_replies"), 1);
  o365_outcome_free(&o);

  /* Disabled: the tip goes away. */
  run_ok("set_automatic_replies", "{\"status\":\"disabled\"}", &o);
  o365_outcome_free(&o);
  assert_int_equal(jbool(alice_tip(&o), "automatic_replies"), 0);
  o365_outcome_free(&o);

  /* Another user's mailbox: Graph refuses delegated settings access. */
  ct_fails("set_automatic_replies",
           "{\"mailbox\":\"support@contoso.test\","
           "\"status\":\"disabled\"}",
           WFC_EDENIED, "another mailbox");

  /* Checked before any request. */
  ct_refused("set_automatic_replies",
             "{\"status\":\"scheduled\",\"start\":"
             "\"2026-01-01T00:00:00Z\"}",
             WFC_EVALIDATION, "end");
  ct_refused("set_automatic_replies",
             "{\"status\":\"scheduled\",\"start\":"
             "\"2026-02-01T00:00:00Z\",\"end\":"
             "\"2026-01-01T00:00:00Z\"}",
             WFC_EVALIDATION, "after start");
  ct_refused("set_automatic_replies", "{\"status\":\"sometimes\"}",
             WFC_EVALIDATION, "status");
  o365_fixture_use(fx, alice);
}

/* ---- Custom API Action ---- */

/* Runs Custom API Action on input; it must succeed with Graph's answer
 * status. o is filled in (the caller frees it). */
static void custom_ok(const char *input, int64_t status, o365_outcome *o) {
  run_ok("custom_api_action", input, o);
  assert_int_equal(jnum(o->output, "status_code"), status);
}

/* ---- List Categories ---- */

static void test_list_categories(void **state) {
  (void)state;
  /* The default scopes leave MailboxSettings.Read out: a clear 403. */
  ct_fails("list_categories", "{}", WFC_EDENIED, "MailboxSettings.Read");
  setenv("O365MAIL_EXTRA_SCOPES", "MailboxSettings.Read", 1);
  wfc_conn *c = o365_fixture_connect(fx, "alice@contoso.test");
  unsetenv("O365MAIL_EXTRA_SCOPES");
  assert_non_null(c);
  o365_fixture_use(fx, c);
  o365_outcome o;
  run_ok("list_categories", "{}", &o);
  /* A new mailbox's list: Outlook's six colour categories. */
  assert_int_equal(jnum(o.output, "count"), 6);
  json_object *cats = jget(o.output, "categories");
  json_object *red = json_object_array_get_idx(cats, 0);
  assert_string_equal(jstr(red, "name"), "Red category");
  assert_string_equal(jstr(red, "color"), "preset0");
  assert_int_equal(strlen(jstr(red, "id")), 36);
  o365_outcome_free(&o);
  o365_fixture_use(fx, alice);
}

static void test_custom_get_paging(void **state) {
  (void)state;
  o365_outcome o;
  /* The number of top-level folders, from List Folders. */
  run_ok("list_folders", "{\"recursive\":false}", &o);
  int64_t top = jnum(o.output, "count");
  o365_outcome_free(&o);
  assert_true(top > 2);

  /* One page: $top from the query map. */
  custom_ok("{\"method\":\"GET\",\"relative_url\":"
            "\"/me/mailFolders\",\"query\":"
            "{\"$top\":2}}",
            200, &o);
  json_object *body = NULL, *value = NULL, *headers = NULL;
  assert_true(json_object_object_get_ex(o.output, "body", &body));
  assert_true(json_object_object_get_ex(body, "value", &value));
  assert_int_equal(json_object_array_length(value), 2);
  assert_non_null(jstr(body, "@odata.nextLink"));
  assert_true(json_object_object_get_ex(o.output, "headers", &headers));
  assert_non_null(strstr(jstr(headers, "Content-Type"), "application/json"));
  assert_non_null(jstr(headers, "request-id"));
  o365_outcome_free(&o);

  /* Following @odata.nextLink: every folder, no link left. */
  run_ok("custom_api_action",
         "{\"method\":\"GET\",\"relative_url\":"
         "\"me/mailFolders?$top=2\","
         "\"follow_next_link\":true,"
         "\"max_pages\":100}",
         &o);
  assert_true(json_object_object_get_ex(o.output, "body", &body));
  assert_true(json_object_object_get_ex(body, "value", &value));
  assert_int_equal(json_object_array_length(value), top);
  assert_null(jstr(body, "@odata.nextLink"));
  assert_int_equal(jnum(o.output, "pages"), (top + 1) / 2);
  o365_outcome_free(&o);

  /* max_pages stops early and leaves the link to continue from. */
  run_ok("custom_api_action",
         "{\"method\":\"GET\",\"relative_url\":"
         "\"/me/mailFolders?$top=1\","
         "\"follow_next_link\":true,"
         "\"max_pages\":2}",
         &o);
  assert_true(json_object_object_get_ex(o.output, "body", &body));
  assert_true(json_object_object_get_ex(body, "value", &value));
  assert_int_equal(json_object_array_length(value), 2);
  assert_non_null(jstr(body, "@odata.nextLink"));
  o365_outcome_free(&o);
}

static void test_custom_statuses_and_writes(void **state) {
  (void)state;
  o365_outcome o;
  /* A Graph error is an output, not a failure. */
  custom_ok("{\"method\":\"GET\",\"relative_url\":"
            "\"/me/messages/AAMkNope\"}",
            404, &o);
  json_object *body = NULL, *err = NULL;
  assert_true(json_object_object_get_ex(o.output, "body", &body));
  assert_true(json_object_object_get_ex(body, "error", &err));
  assert_string_equal(jstr(err, "code"), "ErrorItemNotFound");
  o365_outcome_free(&o);

  /* POST with a JSON body and an extra header; a shared mailbox path. */
  custom_ok("{\"method\":\"POST\",\"relative_url\":"
            "\"/users/support@contoso.test/messages\","
            "\"headers\":{\"Prefer\":\"IdType=\\\"ImmutableId\\\"\"},"
            "\"body\":{\"subject\":\"made by hand\"}}",
            201, &o);
  json_object *headers = NULL;
  assert_true(json_object_object_get_ex(o.output, "headers", &headers));
  assert_non_null(jstr(headers, "Preference-Applied"));
  assert_true(json_object_object_get_ex(o.output, "body", &body));
  assert_string_equal(jstr(body, "subject"), "made by hand");
  char *id = strdup(jstr(body, "id"));
  o365_outcome_free(&o);
  json_object *drafts =
      o365_fixture_messages(fx, "support@contoso.test", "drafts");
  assert_non_null(strstr(json_object_to_json_string(drafts), "made by hand"));
  json_object_put(drafts);

  /* PATCH then DELETE it; an absolute URL on the Graph base is fine. */
  char input[1024];
  snprintf(input, sizeof input,
           "{\"method\":\"PATCH\",\"relative_url\":\"%s/v1.0/users/"
           "support@contoso.test/messages/%s\",\"body\":{\"subject\":"
           "\"renamed\"}}",
           o365_fixture_url(fx), id);
  custom_ok(input, 200, &o);
  o365_outcome_free(&o);
  snprintf(input, sizeof input,
           "{\"method\":\"DELETE\",\"relative_url\":\"/users/"
           "support@contoso.test/messages/%s\"}",
           id);
  custom_ok(input, 204, &o);
  assert_true(json_object_object_get_ex(o.output, "body", &body));
  assert_null(body);
  o365_outcome_free(&o);
  free(id);
}

/* Runs the input and expects a refusal naming field, with no request. */
static void refused(const char *input, const char *field, const char *why) {
  long before = o365_fixture_graph_requests(fx);
  o365_outcome o;
  assert_int_equal(o365_fixture_run(fx, "custom_api_action", input, &o),
                   WFC_EVALIDATION);
  ct_says(o.message, field);
  ct_says(o.message, why);
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_graph_requests(fx), before);
}

static void test_custom_refusals_send_nothing(void **state) {
  (void)state;
  refused("{\"method\":\"GET\",\"relative_url\":"
          "\"https://evil.example.com/v1.0/me\"}",
          "relative_url", "Graph base");
  refused("{\"method\":\"GET\",\"relative_url\":\"//evil.example.com/x\"}",
          "relative_url", "another host");
  char input[512];
  /* Same host, other port: another origin. */
  snprintf(input, sizeof input,
           "{\"method\":\"GET\",\"relative_url\":\"http://127.0.0.1:1/v1.0/"
           "me\"}");
  refused(input, "relative_url", "Graph base");
  /* The Graph origin but outside its version path. */
  snprintf(input, sizeof input,
           "{\"method\":\"GET\",\"relative_url\":\"%s/__emulator/stats\"}",
           o365_fixture_url(fx));
  refused(input, "relative_url", "Graph base");
  refused("{\"method\":\"GET\",\"relative_url\":\"/me/../../__emulator/"
          "stats\"}",
          "relative_url", "'..'");
  refused("{\"method\":\"GET\",\"relative_url\":\"/me/%2e%2e/x\"}",
          "relative_url", "'..'");
  refused("{\"method\":\"GET\",\"relative_url\":\"/me\",\"headers\":"
          "{\"Authorization\":\"Bearer stolen\"}}",
          "headers.Authorization", "cannot be overridden");
  refused("{\"method\":\"GET\",\"relative_url\":\"/me\",\"headers\":"
          "{\"authorization\":\"Bearer stolen\"}}",
          "headers.authorization", "cannot be overridden");
  refused("{\"method\":\"GET\",\"relative_url\":\"/me\",\"headers\":"
          "{\"X-Test\":\"a\\r\\nAuthorization: Bearer x\"}}",
          "headers.X-Test", "CR or LF");
  refused("{\"method\":\"GET\",\"relative_url\":\"/me\",\"headers\":"
          "{\"X Bad\":\"a\"}}",
          "headers.X Bad", "not a valid header name");
  refused("{\"method\":\"GET\",\"relative_url\":\"/me\",\"headers\":"
          "{\"Host\":\"evil.example.com\"}}",
          "headers.Host", "set by the connector");
  refused("{\"method\":\"GET\",\"relative_url\":\"/me\",\"query\":"
          "{\"$filter\":{\"a\":1}}}",
          "query.$filter", "string, number or boolean");
  /* The schema: a method outside the list. */
  ct_refused("custom_api_action",
             "{\"method\":\"TRACE\",\"relative_url\":"
             "\"/me\"}",
             WFC_EVALIDATION, "method");
}

/* Runs the input and expects exactly "field: why; nothing was sent" (after
 * the card's label), with no request. */
static void refused_exactly(const char *input, const char *field,
                            const char *why) {
  char want[600];
  snprintf(want, sizeof want, "%s: %s; nothing was sent", field, why);
  refused(input, field, want);
}

/* Every header a flow cannot set, any case: refused with its name and
 * why, before anything is sent. */
static void test_custom_refused_headers(void **state) {
  (void)state;
  static const struct {
    const char *name, *why;
  } cases[] = {
      {"Transfer-Encoding", "Transfer-Encoding is a hop-by-hop header that "
                            "the HTTP client manages"},
      {"transfer-encoding", "Transfer-Encoding is a hop-by-hop header that "
                            "the HTTP client manages"},
      {"Connection",
       "Connection is a hop-by-hop header that the HTTP client manages"},
      {"Keep-Alive",
       "Keep-Alive is a hop-by-hop header that the HTTP client manages"},
      {"UPGRADE",
       "Upgrade is a hop-by-hop header that the HTTP client manages"},
      {"te", "TE is a hop-by-hop header that the HTTP client manages"},
      {"Trailer",
       "Trailer is a hop-by-hop header that the HTTP client manages"},
      {"Proxy-Authorization",
       "Proxy-* headers are for a proxy, which this request does not "
       "address, and may carry credentials"},
      {"proxy-connection",
       "Proxy-* headers are for a proxy, which this request does not "
       "address, and may carry credentials"},
      {"Cookie", "Cookie carries credentials; Graph is called with the "
                 "connection's token only"},
      {"COOKIE", "Cookie carries credentials; Graph is called with the "
                 "connection's token only"},
      {"Host", "Host is set by the connector from the Graph base URL"},
      {"content-length",
       "Content-Length is set by the connector from the body"},
      {"Authorization",
       "Authorization is set by the connection and cannot be overridden"},
      {"aUTHORIZATION",
       "Authorization is set by the connection and cannot be overridden"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char input[300], field[100];
    snprintf(input, sizeof input,
             "{\"method\":\"GET\",\"relative_url\":\"/me\",\"headers\":"
             "{\"Prefer\":\"x\",\"%s\":\"v\"}}",
             cases[i].name);
    snprintf(field, sizeof field, "headers.%s", cases[i].name);
    refused_exactly(input, field, cases[i].why);
  }
  /* Names that only look alike are the flow's own. */
  o365_outcome o;
  custom_ok("{\"method\":\"GET\",\"relative_url\":\"/me\",\"headers\":"
            "{\"X-Cookie-Jar\":\"1\",\"Proxy\":\"1\",\"TEx\":\"1\"}}",
            200, &o);
  o365_outcome_free(&o);
}

/* What relative_url refuses, with the byte, before anything is sent. */
static void test_custom_refused_urls(void **state) {
  (void)state;
  char input[600], why[400];
  snprintf(why, sizeof why,
           "an absolute URL must be on the connection's Graph base (%s/v1.0); "
           "give a path such as /me/messages",
           o365_fixture_url(fx));
  refused_exactly("{\"method\":\"GET\",\"relative_url\":"
                  "\"https://evil.example.com/v1.0/me\"}",
                  "relative_url", why);
  refused_exactly("{\"method\":\"GET\",\"relative_url\":"
                  "\"HTTPS://evil.example.com/v1.0/me?u=http://x\"}",
                  "relative_url", why);
  /* The Graph origin, outside the version path. */
  snprintf(input, sizeof input,
           "{\"method\":\"GET\",\"relative_url\":\"%s/v1.0x/me\"}",
           o365_fixture_url(fx));
  refused_exactly(input, "relative_url", why);
  refused_exactly(
      "{\"method\":\"GET\",\"relative_url\":\"//evil.example.com/x\"}",
      "relative_url",
      "a protocol-relative URL (\"//host\") names another host; give a path "
      "under the Graph base such as /me/messages");
  refused_exactly("{\"method\":\"GET\",\"relative_url\":"
                  "\"/me/messages\\r\\nHost: evil\"}",
                  "relative_url", "CR or LF at byte 12");
  refused_exactly("{\"method\":\"GET\",\"relative_url\":"
                  "\"/me/messages?$filter=a\\nb\"}",
                  "relative_url", "CR or LF at byte 22");
  refused_exactly("{\"method\":\"GET\",\"relative_url\":\"/me\\tx\"}",
                  "relative_url", "a control character at byte 3");
  refused_exactly("{\"method\":\"GET\",\"relative_url\":\"/me\\\\..\\\\x\"}",
                  "relative_url",
                  "a backslash at byte 3 (servers may read it as '/'); write "
                  "%5C for a literal one");
  refused_exactly("{\"method\":\"GET\",\"relative_url\":"
                  "\"/me/../../__emulator/stats\"}",
                  "relative_url",
                  "a '..' segment at byte 4 would leave the Graph version "
                  "path");
  refused_exactly("{\"method\":\"GET\",\"relative_url\":\"me/%2E%2e/x\"}",
                  "relative_url",
                  "a '..' segment at byte 3 would leave the Graph version "
                  "path");
  refused_exactly("{\"method\":\"GET\",\"relative_url\":\"/me/.%2e?a=b\"}",
                  "relative_url",
                  "a '..' segment at byte 4 would leave the Graph version "
                  "path");
  snprintf(input, sizeof input,
           "{\"method\":\"GET\",\"relative_url\":\"%s/v1.0/me/..\"}",
           o365_fixture_url(fx));
  snprintf(why, sizeof why,
           "a '..' segment at byte %zu would leave the Graph version path",
           strlen(o365_fixture_url(fx)) + strlen("/v1.0/me/"));
  refused_exactly(input, "relative_url", why);
}

/* s percent-encoded into dst: the bytes in only (NULL: all but ALPHA
 * DIGIT - . _ ~). */
static void pct(char *dst, size_t len, const char *s, const char *only) {
  size_t o = 0;
  for (; *s && o + 4 < len; s++) {
    unsigned char c = (unsigned char)*s;
    int keep = only != NULL
                   ? strchr(only, c) == NULL
                   : (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || strchr("-._~", c);
    if (keep)
      dst[o++] = (char)c;
    else
      o += (size_t)snprintf(dst + o, len - o, "%%%02X", c);
  }
  dst[o] = '\0';
}

/* A URL inside the query is data, encoded or not; an absolute URL on the
 * Graph base may spell its scheme and host in any case; what a URL cannot
 * hold is encoded rather than refused. Each reaches Graph whole. */
static void test_custom_urls_in_query(void **state) {
  (void)state;
  o365_outcome o;
  /* Two messages: the filter must pick one. */
  for (int i = 0; i < 2; i++) {
    char *id = o365_fixture_inject(
        fx, "alice@contoso.test",
        i == 0 ? "{\"subject\":\"linked 1\",\"from\":\"bob@contoso.test\","
                 "\"toRecipients\":[\"alice@contoso.test\"],\"body\":\"b\"}"
               : "{\"subject\":\"linked 2\",\"from\":\"bob@contoso.test\","
                 "\"toRecipients\":[\"alice@contoso.test\"],\"body\":\"b\"}");
    assert_non_null(id);
    free(id);
  }
  run_ok("custom_api_action",
         "{\"method\":\"GET\",\"relative_url\":"
         "\"/me/messages?$top=1&$select=subject,webLink\"}",
         &o);
  json_object *value = jget(jget(o.output, "body"), "value");
  assert_int_equal(json_object_array_length(value), 1);
  char *link = strdup(jstr(json_object_array_get_idx(value, 0), "webLink"));
  char *subject = strdup(jstr(json_object_array_get_idx(value, 0), "subject"));
  o365_outcome_free(&o);
  assert_non_null(strstr(link, "https://"));

  /* $filter on webLink: the raw URL (spaces, "https://", '?', '=' in the
   * query; only the link's '&' written %26, or it would end the filter),
   * with and without a leading '/'. */
  char input[2048], raw[1024], enc[1024];
  pct(raw, sizeof raw, link, "&");
  pct(enc, sizeof enc, link, NULL);
  const char *const forms[] = {"me/messages", "/me/messages"};
  for (int f = 0; f < 3; f++) {
    if (f < 2)
      snprintf(input, sizeof input,
               "{\"method\":\"GET\",\"relative_url\":\"%s?$filter=webLink eq "
               "'%s'\"}",
               forms[f], raw);
    else /* all percent-encoded */
      snprintf(input, sizeof input,
               "{\"method\":\"GET\",\"relative_url\":\"/me/messages?$filter="
               "webLink%%20eq%%20'%s'\"}",
               enc);
    long before = o365_fixture_graph_requests(fx);
    run_ok("custom_api_action", input, &o);
    assert_int_equal(o365_fixture_graph_requests(fx), before + 1);
    assert_int_equal(jnum(o.output, "status_code"), 200);
    value = jget(jget(o.output, "body"), "value");
    assert_int_equal(json_object_array_length(value), 1);
    assert_string_equal(jstr(json_object_array_get_idx(value, 0), "subject"),
                        subject);
    o365_outcome_free(&o);
  }

  /* Upper-case scheme and host on the Graph base. */
  char upper[256];
  snprintf(upper, sizeof upper, "%s", o365_fixture_url(fx));
  for (char *p = upper; *p; p++)
    if (*p >= 'a' && *p <= 'z')
      *p = (char)(*p - 'a' + 'A');
  snprintf(input, sizeof input,
           "{\"method\":\"GET\",\"relative_url\":\"%s/v1.0/me/"
           "mailFolders?$top=1&$filter=displayName ne 'http://x'\"}",
           upper);
  custom_ok(input, 200, &o);
  assert_int_equal(
      json_object_array_length(jget(jget(o.output, "body"), "value")), 1);
  o365_outcome_free(&o);

  /* A segment that starts with ".." is a name, not a climb. */
  long before = o365_fixture_graph_requests(fx);
  run_ok("custom_api_action",
         "{\"method\":\"GET\",\"relative_url\":\"/me/messages/..AAMk\"}", &o);
  assert_int_equal(o365_fixture_graph_requests(fx), before + 1);
  assert_int_equal(jnum(o.output, "status_code"), 404);
  o365_outcome_free(&o);
  free(link);
  free(subject);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_mail_tips),
      cmocka_unit_test(test_mail_tips_input_errors),
      cmocka_unit_test(test_auto_replies_needs_permission),
      cmocka_unit_test(test_auto_replies_with_permission),
      cmocka_unit_test(test_list_categories),
      cmocka_unit_test(test_custom_get_paging),
      cmocka_unit_test(test_custom_statuses_and_writes),
      cmocka_unit_test(test_custom_refusals_send_nothing),
      cmocka_unit_test(test_custom_refused_headers),
      cmocka_unit_test(test_custom_refused_urls),
      cmocka_unit_test(test_custom_urls_in_query),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
