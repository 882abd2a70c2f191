/* The Graph client core against the fake host: token and headers, 401 ->
 * one refresh and retry, throttling with Retry-After and bounded retries,
 * the non-idempotent POST rule, error parsing into the call's failure,
 * paging within the same origin, cancellation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "fake_host.h"
#include "graph.h"

#define GRAPH "https://graph.test/v1.0"

typedef struct result {
  int calls;
  int error;
  long status;
  int attempts;
  int64_t retry_after_ms;
  char code[128];
  char next[512];
  char body_id[64];
  int unknown;       /* outcome_unknown */
  char message[200]; /* res->message, "" when none */
} result;

static void record(void *arg, const o365_graph_res *res) {
  result *r = arg;
  r->calls++;
  r->error = res->error;
  r->status = res->status;
  r->attempts = res->attempts;
  r->retry_after_ms = res->retry_after_ms;
  snprintf(r->code, sizeof r->code, "%s", res->gerr.code);
  snprintf(r->next, sizeof r->next, "%s", res->next_link ? res->next_link : "");
  const char *id = o365_json_str(res->json, "id");
  snprintf(r->body_id, sizeof r->body_id, "%s", id ? id : "");
  r->unknown = res->outcome_unknown;
  snprintf(r->message, sizeof r->message, "%s",
           res->message ? res->message : "");
}

static wfc_conn *conn;
static wfc_call *call;

static int setup(void **state) {
  (void)state;
  fake_reset();
  conn = fake_conn_new(json_tokener_parse("{\"graph_url\":\"" GRAPH "\"}"),
                       "TOKEN-A");
  call = fake_call_new(json_object_new_object(), conn);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fake_call_free(call);
  fake_conn_free(conn);
  o365_graph_shutdown(); /* mailbox gates are plugin-global */
  fake_teardown();
  return 0;
}

static void send(const char *method, const char *path, unsigned flags,
                 result *r) {
  o365_graph_opts o = {.method = method, .path = path, .flags = flags};
  memset(r, 0, sizeof *r);
  assert_int_equal(o365_graph_send(call, &o, record, r, NULL), 0);
  assert_int_equal(r->calls, 0); /* never from inside the start call */
  fake_run();
  assert_int_equal(r->calls, 1);
}

static void test_basic_get(void **state) {
  (void)state;
  fake_http_push(200, "Content-Type: application/json",
                 "{\"id\":\"m1\",\"@odata.nextLink\":\"" GRAPH
                 "/me/messages?$skiptoken=x\"}");
  result r;
  send(NULL, "/me/messages/m1", 0, &r);
  assert_int_equal(r.error, 0);
  assert_string_equal(r.body_id, "m1");
  assert_string_equal(r.next, GRAPH "/me/messages?$skiptoken=x");
  const fake_req *q = fake_http_req(0);
  assert_string_equal(q->method, "GET");
  assert_string_equal(q->url, GRAPH "/me/messages/m1");
  assert_string_equal(fake_req_header(q, "Authorization"), "Bearer TOKEN-A");
  assert_string_equal(fake_req_header(q, "Accept"), "application/json");
  const char *crid = fake_req_header(q, "client-request-id");
  assert_non_null(crid);
  assert_int_equal(strlen(crid), 36);
  assert_null(call->cancel_cb); /* slot released before the callback */
}

static void test_mailbox_paths(void **state) {
  (void)state;
  o365_buf b;
  o365_buf_init(&b);
  o365_graph_mailbox(&b, NULL);
  o365_buf_put(&b, "|");
  o365_graph_mailbox(&b, "");
  o365_buf_put(&b, "|");
  o365_graph_mailbox(&b, "shared mailbox@contoso.com");
  o365_buf_put(&b, "|");
  o365_graph_mailbox(&b, "../admin");
  assert_string_equal(b.data, "/me|/me|/users/shared%20mailbox%40contoso.com|"
                              "/users/..%2Fadmin");
  o365_buf_free(&b);
}

static void test_401_refresh_once(void **state) {
  (void)state;
  conn->next_token = "TOKEN-B";
  fake_http_push(401, "Content-Type: application/json",
                 "{\"error\":{\"code\":\"InvalidAuthenticationToken\","
                 "\"message\":\"Access token has expired or is not yet "
                 "valid.\"}}");
  fake_http_push(200, "", "{\"id\":\"ok\"}");
  result r;
  send("POST", "/me/sendMail", 0, &r);
  assert_int_equal(r.error, 0);
  assert_int_equal(conn->rejected, 1);
  assert_int_equal(fake_http_count(), 2);
  assert_string_equal(fake_req_header(fake_http_req(1), "Authorization"),
                      "Bearer TOKEN-B");

  /* A second 401 is final: no loop. */
  fake_http_push(401, "",
                 "{\"error\":{\"code\":\"InvalidAuthenticationToken\""
                 ",\"message\":\"x\"}}");
  fake_http_push(401, "",
                 "{\"error\":{\"code\":\"InvalidAuthenticationToken\""
                 ",\"message\":\"x\"}}");
  send(NULL, "/me", 0, &r);
  assert_int_equal(r.error, WFC_EAUTH);
  assert_int_equal(r.status, 401);
  assert_string_equal(r.code, "InvalidAuthenticationToken");
  assert_int_equal(fake_http_count(), 4);
}

static void test_claims_challenge_needs_reauth(void **state) {
  (void)state;
  fake_http_push(401,
                 "WWW-Authenticate: Bearer realm=\"\", authorization_uri=\""
                 "https://login.microsoftonline.com/common/oauth2/authorize\","
                 " error=\"insufficient_claims\", claims=\"eyJhY2Nlc3NfdG9rZW4"
                 "iOnsibmJmIjp7ImVzc2VudGlhbCI6dHJ1ZX19fQ==\"",
                 "{\"error\":{\"code\":\"InvalidAuthenticationToken\","
                 "\"message\":\"Continuous access evaluation resulted in "
                 "claims challenge\"}}");
  result r;
  send(NULL, "/me/messages", 0, &r);
  assert_int_equal(r.error, WFC_EREAUTH);
  assert_int_equal(r.status, 401);
  assert_string_equal(r.code, "InvalidAuthenticationToken");
  assert_int_equal(fake_http_count(), 1); /* no pointless refresh+retry */
  assert_int_equal(conn->rejected, 0);
}

static void test_token_unavailable(void **state) {
  (void)state;
  conn->token_error = WFC_EREAUTH;
  result r;
  send(NULL, "/me", 0, &r);
  assert_int_equal(r.error, WFC_EREAUTH);
  assert_int_equal(fake_http_count(), 0);
  /* A refresh the identity platform throttled: said so, not blamed on
   * Graph, and no Graph wait to report. */
  conn->token_error = WFC_ETHROTTLED;
  send(NULL, "/me", 0, &r);
  assert_int_equal(r.error, WFC_ETHROTTLED);
  assert_non_null(strstr(r.message, "identity platform is throttling"));
  assert_int_equal(r.retry_after_ms, -1);
  conn->token_error = WFC_EREMOTE;
  send(NULL, "/me", 0, &r);
  assert_non_null(strstr(r.message, "refreshing it failed for now"));
  assert_int_equal(fake_http_count(), 0);
}

static void test_429_retry_after(void **state) {
  (void)state;
  fake_http_push(429, "Retry-After: 2\nContent-Type: application/json",
                 "{\"error\":{\"code\":\"ApplicationThrottled\",\"message\":"
                 "\"Application is over its MailboxConcurrency limit.\"}}");
  fake_http_push(200, "", "{\"id\":\"sent\"}");
  result r;
  /* sendMail: a POST, retried on 429 because Graph did not process it. */
  send("POST", "/me/sendMail", 0, &r);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.attempts, 2);
  assert_int_equal(r.retry_after_ms, 2000);
  assert_true(fake_waited_ms() >= 2000);
  assert_true(fake_waited_ms() <= 2000 + 500); /* jitter is bounded */
  /* The same client-request-id for the same logical request. */
  assert_string_equal(fake_req_header(fake_http_req(0), "client-request-id"),
                      fake_req_header(fake_http_req(1), "client-request-id"));
}

static void test_503_without_retry_after_backs_off(void **state) {
  (void)state;
  fake_http_push(503, "", "");
  fake_http_push(503, "", "");
  fake_http_push(200, "", "{}");
  result r;
  send("POST", "/me/messages/m1/reply", 0, &r);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.attempts, 3);
  /* 1 s then 2 s of backoff, plus jitter. */
  assert_true(fake_waited_ms() >= 3000);
  assert_true(fake_waited_ms() < 4000);
}

static void test_bounded_retries(void **state) {
  (void)state;
  for (int i = 0; i < O365_GRAPH_MAX_ATTEMPTS; i++)
    fake_http_push(429, "Retry-After: 1", "");
  result r;
  send(NULL, "/me/messages", 0, &r);
  assert_int_equal(r.error, WFC_ETHROTTLED);
  assert_int_equal(r.attempts, O365_GRAPH_MAX_ATTEMPTS);
  assert_int_equal(fake_http_count(), O365_GRAPH_MAX_ATTEMPTS);
  assert_int_equal(fake_http_pending(), 0);

  /* A Retry-After beyond the cap is reported, not waited out. */
  fake_set_now_ms(fake_now_ms() + 2000); /* past the last Retry-After */
  int64_t waited = fake_waited_ms();
  fake_http_push(429, "Retry-After: 3600", "");
  send(NULL, "/me/messages", 0, &r);
  assert_int_equal(r.error, WFC_ETHROTTLED);
  assert_int_equal(r.retry_after_ms, 3600000);
  assert_int_equal(r.attempts, 1);
  assert_int_equal(fake_waited_ms(), waited);
  /* The mailbox stays closed for that hour: the next request is refused
   * at once (no request sent), with the delay. */
  size_t sent = fake_http_count();
  send(NULL, "/me/mailFolders", 0, &r);
  assert_int_equal(r.error, WFC_ETHROTTLED);
  assert_int_equal(fake_http_count(), sent);
  assert_true(r.retry_after_ms > 3500000);
  /* Another mailbox is not affected. */
  fake_http_push(200, "", "{}");
  send(NULL, "/users/bob@contoso.test/messages", 0, &r);
  assert_int_equal(r.error, 0);
  assert_int_equal(fake_waited_ms(), waited);
}

static void test_post_not_repeated_after_504_or_reset(void **state) {
  (void)state;
  fake_http_push(504, "", "");
  result r;
  send("POST", "/me/sendMail", 0, &r);
  assert_int_equal(r.error, WFC_EREMOTE);
  assert_int_equal(r.status, 504);
  assert_int_equal(fake_http_count(), 1);

  fake_http_push_error(WFC_ENET);
  send("POST", "/me/sendMail", 0, &r);
  assert_int_equal(r.error, WFC_ENET);
  assert_int_equal(fake_http_count(), 2);

  /* A GET is repeated after both. */
  fake_http_push(504, "", "");
  fake_http_push_error(WFC_ETIMEDOUT);
  fake_http_push(200, "", "{\"id\":\"x\"}");
  send("GET", "/me/messages", 0, &r);
  assert_int_equal(r.error, 0);
  assert_int_equal(fake_http_count(), 5);

  /* So is a POST marked idempotent. */
  fake_http_push_error(WFC_ENET);
  fake_http_push(200, "", "{}");
  send("POST", "/me/messages/m/move", O365_GRAPH_IDEMPOTENT, &r);
  assert_int_equal(r.error, 0);
  assert_int_equal(fake_http_count(), 7);
}

static void fail_with(void *arg, const o365_graph_res *res) {
  wfc_call *c = arg;
  o365_graph_fail(c, res, "Getting the message failed");
}

static void test_error_into_call(void **state) {
  (void)state;
  fake_http_push(404,
                 "Content-Type: application/json\nrequest-id: hdr-req\n"
                 "client-request-id: hdr-creq",
                 "{\"error\":{\"code\":\"ErrorItemNotFound\",\"message\":\"The "
                 "specified object was not found in the store., The process "
                 "failed to get the correct properties.\",\"innerError\":{"
                 "\"date\":\"2025-02-13T10:17:05\",\"request-id\":\"body-req\""
                 ",\"client-request-id\":\"body-creq\"}}}");
  o365_graph_opts o = {.path = "/me/messages/AAMk"};
  assert_int_equal(o365_graph_send(call, &o, fail_with, call, NULL), 0);
  fake_run();
  assert_int_equal(call->failed, 1);
  assert_int_equal(call->fail_code, WFC_ENOTFOUND);
  assert_string_equal(call->message,
                      "Getting the message failed: ErrorItemNotFound: The "
                      "specified object was not found in the store., The "
                      "process failed to get the correct properties.");
  struct json_object *v = NULL;
  assert_true(json_object_object_get_ex(call->detail, "status", &v));
  assert_int_equal(json_object_get_int(v), 404);
  assert_string_equal(
      json_object_get_string(json_object_object_get(call->detail, "code")),
      "ErrorItemNotFound");
  assert_string_equal(json_object_get_string(
                          json_object_object_get(call->detail, "request_id")),
                      "body-req");
  assert_string_equal(json_object_get_string(json_object_object_get(
                          call->detail, "client_request_id")),
                      "body-creq");

  /* Without innerError (429 ApplicationThrottled), ids from headers. */
  o365_graph_err e;
  struct json_object *body = json_tokener_parse(
      "{\"error\":{\"code\":\"ApplicationThrottled\",\"message\":\"m\"}}");
  o365_graph_err_parse(body, "h-req", "h-creq", &e);
  assert_string_equal(e.code, "ApplicationThrottled");
  assert_string_equal(e.request_id, "h-req");
  assert_string_equal(e.client_request_id, "h-creq");
  json_object_put(body);
  o365_graph_err_parse(NULL, NULL, NULL, &e);
  assert_string_equal(e.code, "");
  assert_int_equal(o365_graph_status_error(403), WFC_EDENIED);
  assert_int_equal(o365_graph_status_error(413), WFC_ETOOBIG);
  assert_int_equal(o365_graph_status_error(400), WFC_EREMOTE);
  assert_int_equal(o365_graph_status_error(204), 0);
}

static void test_malformed_and_body(void **state) {
  (void)state;
  fake_http_push(200, "Content-Type: application/json", "{\"value\":[{\"id\"");
  result r;
  send(NULL, "/me/messages", 0, &r);
  assert_int_equal(r.error, WFC_EPROTO);

  /* JSON body: serialized, typed; raw flag skips parsing. */
  struct json_object *msg = json_tokener_parse(
      "{\"message\":{\"subject\":\"Hi/there\"},\"saveToSentItems\":true}");
  o365_graph_opts o = {.method = "POST", .path = "/me/sendMail", .body = msg};
  fake_http_push(202, "", "");
  memset(&r, 0, sizeof r);
  assert_int_equal(o365_graph_send(call, &o, record, &r, NULL), 0);
  json_object_put(msg); /* copied at send */
  fake_run();
  assert_int_equal(r.error, 0);
  assert_int_equal(r.status, 202);
  const fake_req *q = fake_http_req(1);
  assert_string_equal(q->body, "{\"message\":{\"subject\":\"Hi/there\"},"
                               "\"saveToSentItems\":true}");
  assert_string_equal(fake_req_header(q, "Content-Type"), "application/json");

  fake_http_push(200, "Content-Type: message/rfc822", "From: a\r\n\r\nbody");
  send(NULL, "/me/messages/m/$value", O365_GRAPH_RAW, &r);
  assert_int_equal(r.error, 0);
  /* A raw request's error answer is Graph's JSON error all the same. */
  fake_http_push(404, "Content-Type: application/json",
                 "{\"error\":{\"code\":\"ErrorItemNotFound\",\"message\":"
                 "\"Not found.\"}}");
  send(NULL, "/me/messages/m/$value", O365_GRAPH_RAW, &r);
  assert_int_equal(r.error, WFC_ENOTFOUND);
  assert_string_equal(r.code, "ErrorItemNotFound");
  assert_string_equal(r.message, "Not found.");
  /* An error without Graph's words still names the status. */
  fake_http_push(500, "Content-Type: text/html", "<html>oops</html>");
  send(NULL, "/me/messages/m", 0, &r);
  assert_string_equal(r.message,
                      "Graph answered HTTP 500 without an error message");
  /* A 2xx with a cut body on a request that is not repeatable: carried
   * out, answer unreadable: the outcome is unknown, not "nothing done". */
  fake_http_push(201, "Content-Type: application/json", "{\"id\":\"f");
  send("POST", "/me/mailFolders", 0, &r);
  assert_int_equal(r.error, WFC_EPROTO);
  assert_int_equal(r.unknown, 1);
  assert_string_equal(r.message,
                      "Graph answered 201 but with a malformed JSON body");

  /* Headers with CR/LF are refused before anything is sent. */
  const char *bad[] = {"Prefer: x\r\nEvil: y", NULL};
  o365_graph_opts ob = {.path = "/me", .headers = bad};
  assert_int_equal(o365_graph_send(call, &ob, record, &r, NULL), WFC_EHEADER);
  /* Absolute URLs only on the Graph origin. */
  o365_graph_opts oa = {.path = "https://evil.test/v1.0/me"};
  assert_int_equal(o365_graph_send(call, &oa, record, &r, NULL), WFC_EINVAL);
  assert_int_equal(fake_http_count(), 6);
}

typedef struct pages {
  int seen;
  int stop_after;
  int last_error;
  int ids;
} pages;

static int on_page(void *arg, const o365_graph_res *res) {
  pages *p = arg;
  p->seen++;
  p->last_error = res->error;
  struct json_object *v = NULL;
  if (json_object_object_get_ex(res->json, "value", &v))
    p->ids += (int)json_object_array_length(v);
  return p->stop_after == 0 || p->seen < p->stop_after;
}

/* pages that keep a message for their last page (next_link_error). */
typedef struct link_pages {
  int seen, ids, readable;
  char why[320];
} link_pages;

static int on_link_page(void *arg, const o365_graph_res *res) {
  link_pages *p = arg;
  p->seen++;
  p->readable = o365_graph_page_readable(res);
  struct json_object *v = NULL;
  if (p->readable && json_object_object_get_ex(res->json, "value", &v))
    p->ids += (int)json_object_array_length(v);
  snprintf(p->why, sizeof p->why, "%s",
           res->next_link_error ? res->next_link_error : "");
  return 1;
}

/* A malformed @odata.nextLink: the page read is still there (readable)
 * and the words name the real fault, not "another host". */
static void test_next_link_malformed(void **state) {
  (void)state;
  static const struct {
    const char *link; /* JSON value */
    const char *says;
  } cases[] = {
      {"\"not a url\"", "not a valid absolute URL (\"not a url\")"},
      {"\"/me/messages?$skip=2\"", "not a valid absolute URL"},
      {"\"\"", "not a valid absolute URL"},
      {"\"https:///me/messages\"", "not a valid absolute URL"},
      {"42", "is a JSON int, not a URL"},
      {"\"https://evil.test/v1.0/me/messages\"",
       "another origin (https://evil.test)"},
  };
  o365_graph_opts o = {.path = "/me/messages?$top=2"};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char body[256];
    snprintf(body, sizeof body,
             "{\"value\":[{\"id\":\"1\"},{\"id\":\"2\"}],"
             "\"@odata.nextLink\":%s}",
             cases[i].link);
    fake_http_push(200, "Content-Type: application/json", body);
    link_pages p = {0};
    assert_int_equal(o365_graph_pages(call, &o, on_link_page, &p), 0);
    fake_run();
    assert_int_equal(p.seen, 1);
    assert_true(p.readable);
    assert_int_equal(p.ids, 2);
    if (strstr(p.why, cases[i].says) == NULL)
      fail_msg("case %zu: \"%s\" lacks \"%s\"", i, p.why, cases[i].says);
    if (i < 5)
      assert_null(strstr(p.why, "another"));
  }
  assert_int_equal(fake_http_count(), 6); /* no link followed */
}

/* Accept per request: JSON by default, the declared media type when given
 * (.../$value is application/octet-stream). */
static void test_accept_per_request(void **state) {
  (void)state;
  fake_http_push(200, "Content-Type: application/octet-stream", "MIME");
  o365_graph_opts o = {.path = "/me/messages/m1/$value",
                       .accept = "application/octet-stream",
                       .flags = O365_GRAPH_RAW};
  result r;
  memset(&r, 0, sizeof r);
  assert_int_equal(o365_graph_send(call, &o, record, &r, NULL), 0);
  fake_run();
  assert_int_equal(r.error, 0);
  assert_string_equal(fake_req_header(fake_http_req(0), "Accept"),
                      "application/octet-stream");
  o.accept = "application/json\r\nX-Evil: 1";
  assert_int_equal(o365_graph_send(call, &o, record, &r, NULL), WFC_EHEADER);
}

/* The header lines of a request are composed once and sent as they are by
 * every attempt (here a 401 and its retry with a fresh token): a method
 * outside the common ones, and Accept and Content-Type values longer than
 * any fixed line buffer, whole. */
static void test_header_lines_every_attempt(void **state) {
  (void)state;
  char accept[700], ctype[700];
  snprintf(accept, sizeof accept, "application/json;q=0.9, ");
  while (strlen(accept) < 600)
    strcat(accept, "application/vnd.example+json;q=0.5, ");
  strcat(accept, "*/*;q=0.1");
  snprintf(ctype, sizeof ctype, "text/plain; charset=utf-8; x=");
  while (strlen(ctype) < 600)
    strcat(ctype, "0123456789");
  conn->next_token = "TOKEN-B";
  fake_http_push(401, "",
                 "{\"error\":{\"code\":\"InvalidAuthenticationToken\","
                 "\"message\":\"expired\"}}");
  fake_http_push(200, "", "{\"id\":\"ok\"}");
  o365_graph_opts o = {.method = "REPORT",
                       .path = "/me/messages",
                       .raw_body = "hello",
                       .raw_len = 5,
                       .content_type = ctype,
                       .accept = accept};
  result r;
  memset(&r, 0, sizeof r);
  assert_int_equal(o365_graph_send(call, &o, record, &r, NULL), 0);
  fake_run();
  assert_int_equal(r.error, 0);
  assert_int_equal(fake_http_count(), 2);
  for (size_t i = 0; i < 2; i++) {
    const fake_req *q = fake_http_req(i);
    assert_string_equal(q->method, "REPORT");
    assert_string_equal(fake_req_header(q, "Accept"), accept);
    assert_string_equal(fake_req_header(q, "Content-Type"), ctype);
    assert_int_equal(q->body_len, 5);
  }
  assert_string_equal(fake_req_header(fake_http_req(0), "Authorization"),
                      "Bearer TOKEN-A");
  assert_string_equal(fake_req_header(fake_http_req(1), "Authorization"),
                      "Bearer TOKEN-B");
  assert_string_equal(fake_req_header(fake_http_req(0), "client-request-id"),
                      fake_req_header(fake_http_req(1), "client-request-id"));
  assert_int_equal(conn->rejected, 1);
}

static void test_paging(void **state) {
  (void)state;
  fake_http_push(200, "",
                 "{\"value\":[{\"id\":\"1\"},{\"id\":\"2\"}],"
                 "\"@odata.nextLink\":\"" GRAPH "/me/messages?$skip=2\"}");
  fake_http_push(200, "",
                 "{\"value\":[{\"id\":\"3\"}],\"@odata.nextLink\":"
                 "\"" GRAPH "/me/messages?$skip=3\"}");
  fake_http_push(200, "", "{\"value\":[{\"id\":\"4\"}]}");
  pages p = {0};
  o365_graph_opts o = {.path = "/me/messages?$top=2"};
  assert_int_equal(o365_graph_pages(call, &o, on_page, &p), 0);
  fake_run();
  assert_int_equal(p.seen, 3);
  assert_int_equal(p.ids, 4);
  assert_int_equal(p.last_error, 0);
  assert_string_equal(fake_http_req(2)->url, GRAPH "/me/messages?$skip=3");

  /* Stop early: no further request. */
  fake_http_push(200, "",
                 "{\"value\":[{\"id\":\"1\"}],\"@odata.nextLink\":"
                 "\"" GRAPH "/me/messages?$skip=1\"}");
  pages q = {.stop_after = 1};
  assert_int_equal(o365_graph_pages(call, &o, on_page, &q), 0);
  fake_run();
  assert_int_equal(q.seen, 1);
  assert_int_equal(fake_http_count(), 4);

  /* A nextLink to another host is not followed (the token would leak). */
  fake_http_push(200, "",
                 "{\"value\":[],\"@odata.nextLink\":\"https://"
                 "evil.test/v1.0/me/messages?$skip=1\"}");
  pages e = {0};
  assert_int_equal(o365_graph_pages(call, &o, on_page, &e), 0);
  fake_run();
  assert_int_equal(e.seen, 1);
  assert_int_equal(e.last_error, WFC_EPROTO);
  assert_int_equal(fake_http_count(), 5);
  assert_true(o365_url_same_origin("https://Graph.test/a", GRAPH));
  assert_false(o365_url_same_origin("https://graph.test:444/a", GRAPH));
  assert_false(o365_url_same_origin("http://graph.test/a", GRAPH));
  assert_false(o365_url_same_origin("https://graph.test.evil/a", GRAPH));
}

static void test_cancel_while_waiting(void **state) {
  (void)state;
  fake_http_push(429, "Retry-After: 30", "");
  fake_http_push(200, "", "{}");
  result r = {0};
  o365_graph_opts o = {.path = "/me/messages"};
  assert_int_equal(o365_graph_send(call, &o, record, &r, NULL), 0);
  assert_non_null(call->cancel_cb);
  assert_true(fake_step()); /* token */
  assert_true(fake_step()); /* the 429: a 30 s timer is started */
  assert_int_equal(r.calls, 0);
  fake_call_cancel(call);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.error, WFC_ECANCELED);
  fake_run(); /* the stopped timer never fires */
  assert_int_equal(r.calls, 1);
  assert_int_equal(fake_http_count(), 1);
  assert_int_equal(fake_waited_ms(), 0);
}

static void test_cancel_in_flight(void **state) {
  (void)state;
  fake_http_push(200, "", "{}");
  result r = {0};
  o365_graph_opts o = {.path = "/me/messages"};
  assert_int_equal(o365_graph_send(call, &o, record, &r, NULL), 0);
  assert_true(fake_step()); /* token; the HTTP request is now in flight */
  fake_call_cancel(call);
  fake_run();
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.error, WFC_ECANCELED);
}

static void test_several_requests_per_call(void **state) {
  (void)state;
  /* A finishes first; B stays cancelable; then C and D wait (429) and a
   * cancel stops both. */
  fake_http_push(200, "", "{\"id\":\"a\"}");
  fake_http_push(200, "", "{\"id\":\"b\"}");
  result a = {0}, b = {0};
  o365_graph_opts o = {.path = "/me/messages"};
  assert_int_equal(o365_graph_send(call, &o, record, &a, NULL), 0);
  assert_int_equal(o365_graph_send(call, &o, record, &b, NULL), 0);
  assert_true(fake_step()); /* A's token */
  assert_true(fake_step()); /* B's token */
  assert_true(fake_step()); /* A's answer */
  assert_int_equal(a.calls, 1);
  assert_non_null(call->cancel_cb); /* B still holds the slot */
  fake_call_cancel(call);
  fake_run();
  assert_int_equal(b.calls, 1);
  assert_int_equal(b.error, WFC_ECANCELED);
  assert_null(call->cancel_cb);

  fake_http_push(429, "Retry-After: 30", "");
  fake_http_push(429, "Retry-After: 30", "");
  result c = {0}, d = {0};
  assert_int_equal(o365_graph_send(call, &o, record, &c, NULL), 0);
  assert_int_equal(o365_graph_send(call, &o, record, &d, NULL), 0);
  for (int i = 0; i < 4; i++)
    assert_true(fake_step()); /* tokens and the two 429s */
  assert_int_equal(c.calls + d.calls, 0);
  fake_call_cancel(call);
  assert_int_equal(c.calls, 1);
  assert_int_equal(d.calls, 1);
  assert_int_equal(c.error, WFC_ECANCELED);
  assert_int_equal(d.error, WFC_ECANCELED);
  assert_null(call->cancel_cb);
  fake_run();
  assert_int_equal(fake_http_count(), 4);
}

static void test_mailbox_concurrency(void **state) {
  (void)state;
  result r[10], other[3];
  for (int i = 0; i < 10; i++)
    fake_http_push(200, "", "{}");
  for (int i = 0; i < 10; i++) {
    memset(&r[i], 0, sizeof r[i]);
    o365_graph_opts o = {.path = "/me/messages?$top=1"};
    assert_int_equal(o365_graph_send(call, &o, record, &r[i], NULL), 0);
  }
  fake_run();
  for (int i = 0; i < 10; i++) {
    assert_int_equal(r[i].calls, 1);
    assert_int_equal(r[i].error, 0);
  }
  assert_int_equal(fake_http_count(), 10);
  assert_int_equal(fake_http_max_inflight(), O365_GRAPH_MAX_CONCURRENT);

  /* Two mailboxes: each has its own four slots. */
  teardown(NULL);
  setup(NULL);
  for (int i = 0; i < 7; i++)
    fake_http_push(200, "", "{}");
  for (int i = 0; i < 4; i++) {
    memset(&r[i], 0, sizeof r[i]);
    o365_graph_opts o = {.path = "/me/messages"};
    assert_int_equal(o365_graph_send(call, &o, record, &r[i], NULL), 0);
  }
  for (int i = 0; i < 3; i++) {
    memset(&other[i], 0, sizeof other[i]);
    o365_graph_opts o = {.path = "/users/Shared%40contoso.test/messages"};
    assert_int_equal(o365_graph_send(call, &o, record, &other[i], NULL), 0);
  }
  fake_run();
  assert_int_equal(fake_http_max_inflight(), 7);

  /* A $batch of one mailbox's requests (gate_as) takes that mailbox's
   * gate: with its four slots busy it waits; without gate_as it would
   * not. */
  teardown(NULL);
  setup(NULL);
  for (int i = 0; i < 5; i++)
    fake_http_push(200, "", "{}");
  for (int i = 0; i < 4; i++) {
    memset(&r[i], 0, sizeof r[i]);
    o365_graph_opts o = {.path = "/me/messages"};
    assert_int_equal(o365_graph_send(call, &o, record, &r[i], NULL), 0);
  }
  memset(&other[0], 0, sizeof other[0]);
  o365_graph_opts b = {.method = "POST",
                       .path = "/$batch",
                       .gate_as = "/me/messages/m1",
                       .raw_body = "{}",
                       .raw_len = 2,
                       .content_type = "application/json"};
  assert_int_equal(o365_graph_send(call, &b, record, &other[0], NULL), 0);
  fake_run();
  assert_int_equal(other[0].calls, 1);
  assert_int_equal(fake_http_max_inflight(), O365_GRAPH_MAX_CONCURRENT);
  assert_string_equal(fake_http_req(4)->url, GRAPH "/$batch");
}

static void test_retry_after_pauses_mailbox(void **state) {
  (void)state;
  fake_http_push(429, "Retry-After: 5", "");
  fake_http_push(200, "", "{}"); /* C */
  fake_http_push(200, "", "{}"); /* A's retry */
  result a = {0}, c = {0};
  o365_graph_opts o = {.path = "/me/messages"};
  assert_int_equal(o365_graph_send(call, &o, record, &a, NULL), 0);
  assert_true(fake_step()); /* token */
  assert_true(fake_step()); /* A's 429: the mailbox closes for 5 s */
  int64_t t0 = fake_now_ms();
  assert_int_equal(o365_graph_send(call, &o, record, &c, NULL), 0);
  fake_run();
  assert_int_equal(a.error, 0);
  assert_int_equal(c.error, 0);
  assert_int_equal(fake_http_count(), 3);
  /* C was not sent into the throttled mailbox before Retry-After. */
  assert_true(fake_http_req(1)->at_ms >= t0 + 5000);
  assert_true(fake_http_req(2)->at_ms >= t0 + 5000);
}

static void test_card_helpers(void **state) {
  (void)state;
  char *p = o365_graph_path(NULL, "messages", "AAMk/+=", "attachments", NULL);
  assert_string_equal(p, "/me/messages/AAMk%2F%2B%3D/attachments");
  free(p);
  p = o365_graph_path("support@contoso.test", "mailFolders", "inbox", NULL);
  assert_string_equal(p, "/users/support%40contoso.test/mailFolders/inbox");
  free(p);

  struct json_object *in = json_tokener_parse(
      "[\"a@x.test\",{\"address\":\"b@x.test\",\"name\":\"B\"},"
      "{\"emailAddress\":{\"address\":\"c@x.test\"}}]");
  int bad = 0;
  struct json_object *out = o365_json_recipients(in, &bad);
  assert_non_null(out);
  assert_int_equal(bad, -1);
  assert_string_equal(
      json_object_to_json_string_ext(out, JSON_C_TO_STRING_PLAIN),
      "[{\"emailAddress\":{\"address\":\"a@x.test\"}},"
      "{\"emailAddress\":{\"address\":\"b@x.test\",\"name\":"
      "\"B\"}},{\"emailAddress\":{\"address\":\"c@x.test\"}}]");
  json_object_put(out);
  json_object_put(in);
  in = json_tokener_parse("[\"a@x.test\",\"not-an-address\"]");
  assert_null(o365_json_recipients(in, &bad));
  assert_int_equal(bad, 1);
  json_object_put(in);
  assert_null(o365_json_recipients(NULL, &bad));

  wfc_call *c =
      fake_call_new(json_tokener_parse("{\"mailbox\":\"s@x\"}"), NULL);
  assert_string_equal(o365_call_mailbox(c), "s@x");
  fake_call_free(c);
  c = fake_call_new(json_tokener_parse("{\"mailbox\":\"\"}"), NULL);
  assert_null(o365_call_mailbox(c));
  fake_call_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_basic_get, setup, teardown),
      cmocka_unit_test_setup_teardown(test_mailbox_paths, setup, teardown),
      cmocka_unit_test_setup_teardown(test_401_refresh_once, setup, teardown),
      cmocka_unit_test_setup_teardown(test_token_unavailable, setup, teardown),
      cmocka_unit_test_setup_teardown(test_claims_challenge_needs_reauth, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_429_retry_after, setup, teardown),
      cmocka_unit_test_setup_teardown(test_503_without_retry_after_backs_off,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_bounded_retries, setup, teardown),
      cmocka_unit_test_setup_teardown(test_post_not_repeated_after_504_or_reset,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_error_into_call, setup, teardown),
      cmocka_unit_test_setup_teardown(test_malformed_and_body, setup, teardown),
      cmocka_unit_test_setup_teardown(test_paging, setup, teardown),
      cmocka_unit_test_setup_teardown(test_next_link_malformed, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_accept_per_request, setup, teardown),
      cmocka_unit_test_setup_teardown(test_header_lines_every_attempt, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_cancel_while_waiting, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_cancel_in_flight, setup, teardown),
      cmocka_unit_test_setup_teardown(test_several_requests_per_call, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_mailbox_concurrency, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_retry_after_pauses_mailbox, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_card_helpers, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
