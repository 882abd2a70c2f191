/* The connection type's hooks against the fake host: authorize_begin,
 * authorize_complete (state check, consent outcomes, code redemption,
 * /me), refresh (rotation, EREAUTH, retryable), revoke and test. */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv, strtok_r */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "auth.h"
#include "conn.h"
#include "fake_host.h"
#include "token.h"
#include "util.h"

#define AUTH  "http://127.0.0.1:4001"
#define GRAPH "http://127.0.0.1:4001/v1.0"

static int setup(void **state) {
  (void)state;
  fake_reset();
  setenv("O365MAIL_AUTHORITY_URL", AUTH, 1);
  setenv("O365MAIL_GRAPH_URL", GRAPH, 1);
  setenv("O365MAIL_PRODUCTION_CLIENT_ID", "prod-client", 1);
  unsetenv("O365MAIL_PRODUCTION_CLIENT_SECRET");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  fake_teardown();
  return 0;
}

static const char *jstr(struct json_object *o, const char *path) {
  /* "a.b" lookups. */
  char buf[128];
  snprintf(buf, sizeof buf, "%s", path);
  struct json_object *cur = o;
  for (char *save = NULL, *k = strtok_r(buf, ".", &save); k;
       k = strtok_r(NULL, ".", &save))
    if (!json_object_object_get_ex(cur, k, &cur))
      return NULL;
  return json_object_get_string(cur);
}

static char *id_token(const char *payload) {
  static char tok[1024];
  char p[700];
  o365_b64url_encode((const uint8_t *)payload, strlen(payload), p, sizeof p);
  snprintf(tok, sizeof tok, "eyJhbGciOiJSUzI1NiJ9.%s.c2ln", p);
  return tok;
}

/* authorize_begin; returns the session (owned by the caller). */
static struct json_object *begin(const char *params, const char **url_out) {
  char in[512];
  snprintf(in, sizeof in,
           "{\"params\":%s,\"redirect_uri\":\"http://127.0.0.1:8123/"
           "callback\",\"login_hint\":\"adele@contoso.com\"}",
           params);
  wfc_call *c = fake_call_new(json_tokener_parse(in), NULL);
  assert_int_equal(o365_conn_authorize_begin(c), 0);
  assert_int_equal(c->done, 1);
  assert_int_equal(c->failed, 0);
  static char url[2048];
  snprintf(url, sizeof url, "%s", jstr(c->output, "url"));
  if (url_out)
    *url_out = url;
  struct json_object *session = NULL;
  json_object_object_get_ex(c->output, "session", &session);
  json_object_get(session);
  fake_call_free(c);
  return session;
}

static wfc_call *complete_call(struct json_object *session,
                               struct json_object *query) {
  struct json_object *in = json_object_new_object();
  json_object_object_add(in, "params", json_object_new_object());
  json_object_object_add(in, "redirect_uri",
                         json_object_new_string("http://127.0.0.1:8123/"
                                                "callback"));
  json_object_object_add(in, "session", session);
  json_object_object_add(in, "query", query);
  return fake_call_new(in, NULL);
}

static struct json_object *query_with_state(struct json_object *session,
                                            const char *extra_json) {
  struct json_object *q = json_tokener_parse(extra_json);
  json_object_object_add(q, "state",
                         json_object_new_string(jstr(session, "state")));
  return q;
}

static void test_begin_url(void **state) {
  (void)state;
  const char *url = NULL;
  struct json_object *s = begin("{}", &url);
  assert_true(strncmp(url, AUTH "/organizations/oauth2/v2.0/authorize?", 52) ==
              0);
  assert_string_equal(fake_param(url, "client_id"), "prod-client");
  assert_string_equal(fake_param(url, "response_type"), "code");
  assert_string_equal(fake_param(url, "response_mode"), "query");
  assert_string_equal(fake_param(url, "redirect_uri"),
                      "http://127.0.0.1:8123/callback");
  assert_string_equal(fake_param(url, "scope"),
                      "offline_access Mail.ReadWrite Mail.ReadWrite.Shared "
                      "Mail.Send Mail.Send.Shared openid profile User.Read");
  assert_string_equal(fake_param(url, "code_challenge_method"), "S256");
  assert_string_equal(fake_param(url, "login_hint"), "adele@contoso.com");
  assert_null(fake_param(url, "prompt"));
  /* The challenge is S256 of the session's verifier. */
  char challenge[64];
  o365_pkce_challenge(jstr(s, "verifier"), challenge, sizeof challenge);
  assert_string_equal(fake_param(url, "code_challenge"), challenge);
  assert_string_equal(fake_param(url, "state"), jstr(s, "state"));
  assert_int_equal(strlen(jstr(s, "state")), 43);
  assert_int_equal(strlen(jstr(s, "verifier")), 43);
  /* Both are registered as secrets, never logged in clear. */
  assert_true(fake_is_secret(jstr(s, "state")));
  assert_true(fake_is_secret(jstr(s, "verifier")));
  assert_null(strstr(fake_log(), jstr(s, "verifier")));
  /* The encoded URL has no raw space or '@'. */
  assert_null(strchr(url, ' '));
  assert_null(strchr(url, '@'));
  json_object_put(s);

  /* A second authorization gets a fresh state and verifier. */
  struct json_object *s1 = begin("{}", NULL);
  struct json_object *s2 = begin("{\"tenant\":\"contoso.com\","
                                 "\"environment\":\"production\"}",
                                 &url);
  assert_string_not_equal(jstr(s1, "state"), jstr(s2, "state"));
  assert_string_not_equal(jstr(s1, "verifier"), jstr(s2, "verifier"));
  assert_non_null(strstr(url, AUTH "/contoso.com/oauth2/v2.0/authorize?"));
  json_object_put(s1);
  json_object_put(s2);
}

static void test_begin_errors(void **state) {
  (void)state;
  unsetenv("O365MAIL_PRODUCTION_CLIENT_ID");
  wfc_call *c = fake_call_new(
      json_tokener_parse("{\"params\":{},\"redirect_uri\":\"http://"
                         "127.0.0.1:1/cb\"}"),
      NULL);
  assert_int_equal(o365_conn_authorize_begin(c), 0);
  assert_int_equal(c->failed, 1);
  assert_int_equal(c->done, 0);
  assert_non_null(strstr(c->message, "O365MAIL_PRODUCTION_CLIENT_ID"));
  fake_call_free(c);
  setenv("O365MAIL_PRODUCTION_CLIENT_ID", "prod-client", 1);
  c = fake_call_new(
      json_tokener_parse("{\"params\":{},\"redirect_uri\":\"http://"
                         "127.0.0.1:1/cb\",\"prompt\":\"admin_consent\"}"),
      NULL);
  assert_int_equal(o365_conn_authorize_begin(c), 0);
  assert_int_equal(c->failed, 1);
  assert_non_null(strstr(c->message, "prompt"));
  fake_call_free(c);
}

static void test_state_refused_first(void **state) {
  (void)state;
  struct json_object *s = begin("{}", NULL);
  /* Wrong state with a valid-looking code: refused, no request sent. */
  wfc_call *c = complete_call(
      json_object_get(s),
      json_tokener_parse("{\"code\":\"abc\",\"state\":\"forged\"}"));
  assert_int_equal(o365_conn_authorize_complete(c), 0);
  fake_run();
  assert_int_equal(c->failed, 1);
  assert_int_equal(c->done, 0);
  assert_int_equal(c->fail_code, WFC_EAUTH);
  assert_non_null(strstr(c->message, "state"));
  assert_int_equal(fake_http_count(), 0);
  fake_call_free(c);
  /* Missing state, even with an error: refused too. */
  c = complete_call(json_object_get(s),
                    json_tokener_parse("{\"error\":\"access_denied\"}"));
  assert_int_equal(o365_conn_authorize_complete(c), 0);
  assert_int_equal(c->failed, 1);
  assert_int_equal(c->fail_code, WFC_EAUTH);
  fake_call_free(c);
  /* The state with one more character. */
  char longer[80];
  snprintf(longer, sizeof longer, "{\"code\":\"a\",\"state\":\"%sx\"}",
           jstr(s, "state"));
  c = complete_call(json_object_get(s), json_tokener_parse(longer));
  assert_int_equal(o365_conn_authorize_complete(c), 0);
  assert_int_equal(c->failed, 1);
  assert_int_equal(fake_http_count(), 0);
  fake_call_free(c);
  json_object_put(s);
}

static wfc_call *complete_with_error(const char *error, const char *desc) {
  struct json_object *s = begin("{}", NULL);
  struct json_object *q = json_object_new_object();
  json_object_object_add(q, "error", json_object_new_string(error));
  json_object_object_add(q, "error_description", json_object_new_string(desc));
  json_object_object_add(q, "state", json_object_new_string(jstr(s, "state")));
  wfc_call *c = complete_call(s, q);
  assert_int_equal(o365_conn_authorize_complete(c), 0);
  fake_run();
  assert_int_equal(c->done, 1);
  assert_int_equal(c->failed, 0);
  return c;
}

static void test_redirect_outcomes(void **state) {
  (void)state;
  wfc_call *c = complete_with_error(
      "consent_required",
      "AADSTS65004: User declined to consent to access the app.\r\nTrace ID: "
      "tr\r\nCorrelation ID: co\r\nTimestamp: 2024-01-01 00:00:00Z");
  assert_string_equal(jstr(c->output, "state"), "denied");
  assert_string_equal(jstr(c->output, "detail.code"), "AADSTS65004");
  fake_call_free(c);

  c = complete_with_error("access_denied",
                          "AADSTS90094: The grant requires admin permission."
                          "\r\nTrace ID: tr2\r\nCorrelation ID: co2");
  assert_string_equal(jstr(c->output, "state"), "needs_admin_approval");
  /* An identity platform of its own and no portal_url: the remedy says
   * the steps; the tenant's admin consent URL is in the detail (its
   * redirect is this listener's: for a receiver of the host's own). */
  assert_string_equal(jstr(c->output, "remedy"),
                      "Ask an administrator to grant consent to the app "
                      "(Enterprise applications > Permissions > Grant admin "
                      "consent).");
  assert_true(strncmp(jstr(c->output, "detail.admin_consent_url"),
                      AUTH "/organizations/v2.0/adminconsent?client_id=prod-"
                           "client&redirect_uri=http%3A%2F%2F127.0.0.1%3A8123%"
                           "2Fcallback&scope=https%3A%2F%2Fgraph.microsoft."
                           "com%2F.default&state=",
                      180) == 0);
  assert_null(jstr(c->output, "detail.admin_portal_url"));
  assert_string_equal(jstr(c->output, "detail.trace_id"), "tr2");
  assert_int_equal(fake_http_count(), 0);
  fake_call_free(c);

  /* With the portal's page of the app: the remedy links to it (the
   * client id in place of {client_id}), a page that works later. */
  setenv("O365MAIL_PORTAL_URL", "https://portal.test/apps/{client_id}/perm", 1);
  c = complete_with_error("access_denied",
                          "AADSTS90094: The grant requires admin permission.");
  unsetenv("O365MAIL_PORTAL_URL");
  assert_string_equal(jstr(c->output, "remedy"),
                      "Ask an administrator to grant consent: "
                      "https://portal.test/apps/prod-client/perm (Enterprise "
                      "applications > the app > Permissions > Grant admin "
                      "consent).");
  assert_string_equal(jstr(c->output, "detail.admin_portal_url"),
                      "https://portal.test/apps/prod-client/perm");
  fake_call_free(c);

  c = complete_with_error("access_denied",
                          "AADSTS90095: Admin consent is required for the "
                          "permissions requested by this application. An "
                          "admin consent request may be sent to the admin.");
  assert_string_equal(jstr(c->output, "state"), "approval_pending");
  assert_string_equal(jstr(c->output, "remedy"),
                      "Your request was sent to your administrator; "
                      "reauthorize this connection once it is approved.");
  fake_call_free(c);

  c = complete_with_error("invalid_request",
                          "AADSTS50011: The redirect URI 'x' specified in the "
                          "request does not match the redirect URIs "
                          "configured for the application 'y'.\r\nTrace ID: "
                          "T9\r\nCorrelation ID: C9");
  assert_string_equal(jstr(c->output, "state"), "error");
  assert_string_equal(jstr(c->output, "detail.code"), "AADSTS50011");
  assert_string_equal(jstr(c->output, "detail.correlation_id"), "C9");
  assert_non_null(strstr(jstr(c->output, "remedy"), "Trace ID: T9"));
  fake_call_free(c);
}

#define TOKEN_OK                                                               \
  "{\"token_type\":\"Bearer\",\"scope\":\"Mail.ReadWrite Mail.Send "           \
  "User.Read\",\"expires_in\":3599,\"ext_expires_in\":3599,"                   \
  "\"access_token\":\"AT-1\",\"refresh_token\":\"RT-1\",\"id_token\":\"%s\"}"

static void test_complete_connected(void **state) {
  (void)state;
  setenv("O365MAIL_PRODUCTION_CLIENT_SECRET", "conf-secret", 1);
  struct json_object *s = begin("{}", NULL);
  char verifier[64];
  snprintf(verifier, sizeof verifier, "%s", jstr(s, "verifier"));
  char tok[2048];
  snprintf(tok, sizeof tok, TOKEN_OK,
           id_token("{\"tid\":\"tenant-guid\",\"oid\":\"oid-1\","
                    "\"preferred_username\":\"adele@contoso.com\"}"));
  fake_http_push(200, "Content-Type: application/json", tok);
  fake_http_push(200, "Content-Type: application/json; odata.metadata=minimal",
                 "{\"id\":\"user-oid\",\"userPrincipalName\":\"AdeleV@"
                 "contoso.onmicrosoft.com\",\"mail\":\"adele@contoso.com\","
                 "\"displayName\":\"Adele Vance\"}");
  wfc_call *c =
      complete_call(s, query_with_state(s, "{\"code\":\"M.C-code\"}"));
  assert_int_equal(o365_conn_authorize_complete(c), 0);
  assert_int_equal(c->done + c->failed, 0); /* not from inside the hook */
  fake_run();
  assert_int_equal(c->failed, 0);
  assert_int_equal(c->done, 1);
  assert_int_equal(fake_http_count(), 2);

  const fake_req *t = fake_http_req(0);
  assert_string_equal(t->method, "POST");
  assert_string_equal(t->url, AUTH "/organizations/oauth2/v2.0/token");
  assert_string_equal(fake_req_header(t, "Content-Type"),
                      "application/x-www-form-urlencoded");
  assert_string_equal(fake_param(t->body, "grant_type"), "authorization_code");
  assert_string_equal(fake_param(t->body, "code"), "M.C-code");
  assert_string_equal(fake_param(t->body, "code_verifier"), verifier);
  assert_string_equal(fake_param(t->body, "redirect_uri"),
                      "http://127.0.0.1:8123/callback");
  assert_string_equal(fake_param(t->body, "client_id"), "prod-client");
  assert_string_equal(fake_param(t->body, "client_secret"), "conf-secret");

  const fake_req *me = fake_http_req(1);
  assert_string_equal(me->method, "GET");
  assert_string_equal(me->url, GRAPH "/me?$select=id,userPrincipalName,mail,"
                                     "displayName");
  assert_string_equal(fake_req_header(me, "Authorization"), "Bearer AT-1");
  assert_int_equal(strlen(fake_req_header(me, "client-request-id")), 36);

  struct json_object *o = c->output;
  assert_string_equal(jstr(o, "state"), "connected");
  assert_string_equal(jstr(o, "account"), "AdeleV@contoso.onmicrosoft.com");
  assert_string_equal(jstr(o, "credentials.access_token"), "AT-1");
  assert_string_equal(jstr(o, "credentials.refresh_token"), "RT-1");
  assert_string_equal(jstr(o, "credentials.tenant_id"), "tenant-guid");
  assert_string_equal(jstr(o, "credentials.user_id"), "user-oid");
  assert_string_equal(jstr(o, "credentials.token_type"), "Bearer");
  struct json_object *exp = NULL;
  assert_true(json_object_object_get_ex(
      json_object_object_get(o, "credentials"), "expires_at", &exp));
  assert_int_equal(json_object_get_int64(exp), fake_now_ms() / 1000 + 3599);
  assert_true(fake_is_secret("AT-1"));
  assert_true(fake_is_secret("RT-1"));
  /* The one-off values were registered, then forgotten once spent; the
   * live tokens stay (the host holds them while the connection lives). */
  char state_[64];
  snprintf(state_, sizeof state_, "%s", jstr(s, "state"));
  assert_true(fake_was_forgotten("M.C-code"));
  assert_true(fake_was_forgotten(state_));
  assert_true(fake_was_forgotten(verifier));
  assert_false(fake_is_secret("M.C-code"));
  assert_false(fake_is_secret(state_));
  assert_false(fake_is_secret(verifier));
  assert_false(fake_was_forgotten("AT-1"));
  assert_false(fake_was_forgotten("RT-1"));
  assert_null(strstr(fake_log(), "AT-1"));
  assert_null(strstr(fake_log(), "conf-secret"));
  fake_call_free(c);
}

static void test_complete_public_client_and_token_error(void **state) {
  (void)state;
  struct json_object *s = begin("{}", NULL);
  fake_http_push(
      400, "Content-Type: application/json",
      "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS54005: "
      "OAuth2 Authorization code was already redeemed, please retry with a "
      "new valid code or use an existing refresh token.\\r\\nTrace ID: "
      "tid-9\\r\\nCorrelation ID: cid-9\",\"error_codes\":[70002,54005],"
      "\"trace_id\":\"tid-9\",\"correlation_id\":\"cid-9\"}");
  wfc_call *c = complete_call(s, query_with_state(s, "{\"code\":\"used\"}"));
  assert_int_equal(o365_conn_authorize_complete(c), 0);
  fake_run();
  /* A public client sends no secret. */
  assert_null(fake_param(fake_http_req(0)->body, "client_secret"));
  assert_int_equal(c->done, 1);
  assert_string_equal(jstr(c->output, "state"), "error");
  assert_string_equal(jstr(c->output, "detail.code"), "AADSTS70002");
  assert_string_equal(jstr(c->output, "detail.trace_id"), "tid-9");
  assert_string_equal(jstr(c->output, "detail.correlation_id"), "cid-9");
  assert_non_null(strstr(jstr(c->output, "remedy"), "AADSTS54005"));
  assert_int_equal(fake_http_count(), 1);
  fake_call_free(c);
}

static wfc_call *refresh_call(const char *creds_json) {
  char in[1024];
  snprintf(in, sizeof in, "{\"params\":{},\"credentials\":%s}", creds_json);
  wfc_call *c = fake_call_new(json_tokener_parse(in), NULL);
  assert_int_equal(o365_conn_refresh(c), 0);
  fake_run();
  assert_int_equal(c->done + c->failed, 1);
  return c;
}

static void test_refresh_rotation(void **state) {
  (void)state;
  fake_http_push(200, "Content-Type: application/json",
                 "{\"token_type\":\"Bearer\",\"expires_in\":\"3600\","
                 "\"access_token\":\"AT-2\",\"refresh_token\":\"RT-2\","
                 "\"scope\":\"Mail.Send\"}");
  wfc_call *c = refresh_call(
      "{\"access_token\":\"AT-1\",\"refresh_token\":\"RT-1\",\"tenant_id\":"
      "\"tenant-guid\",\"user_id\":\"u1\",\"expires_at\":1}");
  assert_int_equal(c->done, 1);
  const fake_req *r = fake_http_req(0);
  /* The connection's own tenant, learnt at sign-in, replaces the alias. */
  assert_string_equal(r->url, AUTH "/tenant-guid/oauth2/v2.0/token");
  assert_string_equal(fake_param(r->body, "grant_type"), "refresh_token");
  assert_string_equal(fake_param(r->body, "refresh_token"), "RT-1");
  assert_string_equal(jstr(c->output, "credentials.access_token"), "AT-2");
  assert_string_equal(jstr(c->output, "credentials.refresh_token"), "RT-2");
  assert_string_equal(jstr(c->output, "credentials.user_id"), "u1");
  assert_string_equal(jstr(c->output, "credentials.tenant_id"), "tenant-guid");
  assert_true(fake_is_secret("RT-2"));
  fake_call_free(c);

  /* No new refresh token in the answer: the old one is kept. */
  fake_http_push(200, "",
                 "{\"token_type\":\"Bearer\",\"expires_in\":60,"
                 "\"access_token\":\"AT-3\"}");
  c = refresh_call("{\"refresh_token\":\"RT-2\"}");
  assert_string_equal(jstr(c->output, "credentials.refresh_token"), "RT-2");
  fake_call_free(c);
}

/* A server that did not grant every scope named (RFC 6749 section 6; an
 * OpenID Connect provider without prompt=consent drops offline_access)
 * answers invalid_scope: asked once more without scope, i.e. for what was
 * granted. Microsoft's first request is unchanged. A second invalid_scope
 * is not retried again. */
static void test_refresh_invalid_scope_retried_once(void **state) {
  (void)state;
  fake_http_push(400, "Content-Type: application/json",
                 "{\"error\":\"invalid_scope\",\"error_description\":"
                 "\"refresh token missing requested scope\"}");
  fake_http_push(200, "Content-Type: application/json",
                 "{\"token_type\":\"Bearer\",\"expires_in\":3600,"
                 "\"access_token\":\"AT-9\",\"refresh_token\":\"RT-9\"}");
  wfc_call *c = refresh_call("{\"refresh_token\":\"RT-1\"}");
  assert_int_equal(c->done, 1);
  assert_int_equal(fake_http_count(), 2);
  const fake_req *first = fake_http_req(0), *second = fake_http_req(1);
  assert_non_null(fake_param(first->body, "scope"));
  assert_non_null(strstr(fake_param(first->body, "scope"), "offline_access"));
  assert_null(fake_param(second->body, "scope"));
  assert_string_equal(fake_param(second->body, "refresh_token"), "RT-1");
  assert_string_equal(fake_param(second->body, "grant_type"), "refresh_token");
  assert_string_equal(jstr(c->output, "credentials.access_token"), "AT-9");
  assert_string_equal(jstr(c->output, "credentials.refresh_token"), "RT-9");
  fake_call_free(c);

  fake_http_push(400, "", "{\"error\":\"invalid_scope\"}");
  fake_http_push(400, "", "{\"error\":\"invalid_scope\"}");
  c = refresh_call("{\"refresh_token\":\"RT-1\"}");
  assert_int_equal(c->failed, 1);
  assert_int_equal(fake_http_count(), 4);
  fake_call_free(c);
}

static void test_refresh_reauth(void **state) {
  (void)state;
  fake_http_push(
      400, "Content-Type: application/json",
      "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS65001: The "
      "user or administrator has not consented to use the application with "
      "ID 'prod-client' named 'Office 365 Mail'. Send an interactive "
      "authorization request for this user and resource.\\r\\nTrace ID: "
      "t1\\r\\nCorrelation ID: c1\",\"error_codes\":[65001],\"trace_id\":"
      "\"t1\",\"correlation_id\":\"c1\",\"suberror\":\"consent_required\"}");
  wfc_call *c = refresh_call("{\"refresh_token\":\"RT-1\"}");
  assert_int_equal(c->failed, 1);
  assert_int_equal(c->fail_code, WFC_EREAUTH);
  assert_string_equal(c->message,
                      "The app's consent was removed (AADSTS65001). "
                      "Reauthorize this connection; an administrator may "
                      "need to grant consent again.");
  assert_string_equal(jstr(c->detail, "state"), "reauthorization_required");
  assert_string_equal(jstr(c->detail, "code"), "AADSTS65001");
  assert_string_equal(jstr(c->detail, "trace_id"), "t1");
  fake_call_free(c);

  fake_http_push(400, "",
                 "{\"error\":\"interaction_required\","
                 "\"error_description\":\"AADSTS50079: Due to a "
                 "configuration change made by your administrator, "
                 "you must enroll in multi-factor authentication.\","
                 "\"error_codes\":[50079],\"suberror\":"
                 "\"basic_action\"}");
  c = refresh_call("{\"refresh_token\":\"RT-1\"}");
  assert_int_equal(c->fail_code, WFC_EREAUTH);
  fake_call_free(c);

  /* No refresh token at all. */
  c = refresh_call("{\"access_token\":\"x\"}");
  assert_int_equal(c->fail_code, WFC_EREAUTH);
  assert_int_equal(fake_http_count(), 2);
  fake_call_free(c);
}

static void test_refresh_transient(void **state) {
  (void)state;
  fake_http_push(503, "Retry-After: 7", "<html>busy</html>");
  wfc_call *c = refresh_call("{\"refresh_token\":\"RT-1\"}");
  assert_int_equal(c->failed, 1);
  assert_int_not_equal(c->fail_code, WFC_EREAUTH);
  assert_int_equal(c->fail_code, WFC_EREMOTE);
  struct json_object *v = NULL;
  assert_true(json_object_object_get_ex(c->detail, "retryable", &v));
  assert_true(json_object_get_boolean(v));
  assert_true(json_object_object_get_ex(c->detail, "retry_after_ms", &v));
  assert_int_equal(json_object_get_int64(v), 7000);
  fake_call_free(c);

  fake_http_push(429, "", "");
  c = refresh_call("{\"refresh_token\":\"RT-1\"}");
  assert_int_equal(c->fail_code, WFC_ETHROTTLED);
  fake_call_free(c);

  fake_http_push_error(WFC_ENET);
  c = refresh_call("{\"refresh_token\":\"RT-1\"}");
  assert_int_equal(c->fail_code, WFC_ENET);
  fake_call_free(c);

  fake_http_push(401, "",
                 "{\"error\":\"invalid_client\",\"error_description\""
                 ":\"AADSTS7000215: Invalid client secret "
                 "provided.\",\"error_codes\":[7000215]}");
  c = refresh_call("{\"refresh_token\":\"RT-1\"}");
  assert_int_equal(c->fail_code, WFC_EAUTH);
  assert_non_null(strstr(c->message, "AADSTS7000215"));
  fake_call_free(c);

  /* A 200 without a token is not a success. */
  fake_http_push(200, "", "{\"token_type\":\"Bearer\"}");
  c = refresh_call("{\"refresh_token\":\"RT-1\"}");
  assert_int_equal(c->fail_code, WFC_EPROTO);
  fake_call_free(c);

  /* A 200 cut on the way (not JSON): transient, retried later, and not
   * blamed on the app's client id and secret. */
  fake_http_push(200, "Content-Type: application/json",
                 "{\"token_type\":\"Bearer\",\"expires_in\":36");
  c = refresh_call("{\"refresh_token\":\"RT-1\"}");
  assert_int_equal(c->fail_code, WFC_EPROTO);
  assert_true(json_object_object_get_ex(c->detail, "retryable", &v));
  assert_non_null(strstr(c->message, "cut or malformed"));
  assert_null(strstr(c->message, "client id"));
  fake_call_free(c);
}

static wfc_call *revoke_call(const char *creds_json) {
  char in[1024];
  snprintf(in, sizeof in, "{\"params\":{},\"credentials\":%s}", creds_json);
  wfc_call *c = fake_call_new(json_tokener_parse(in), NULL);
  assert_int_equal(o365_conn_revoke(c), 0);
  fake_run();
  assert_int_equal(c->done, 1);
  assert_int_equal(c->failed, 0);
  return c;
}

static char fresh_creds[256];

static const char *creds_fresh(void) {
  snprintf(fresh_creds, sizeof fresh_creds,
           "{\"access_token\":\"AT-R\",\"refresh_token\":\"RT-R\","
           "\"user_id\":\"user-1\",\"expires_at\":%lld}",
           (long long)(fake_now_ms() / 1000 + 3000));
  return fresh_creds;
}

static void test_revoke_removed(void **state) {
  (void)state;
  fake_http_push(200, "Content-Type: application/json",
                 "{\"value\":[{\"id\":\"sp-1\"}]}");
  fake_http_push(200, "Content-Type: application/json",
                 "{\"value\":[{\"id\":\"grant-1\",\"clientId\":\"sp-1\","
                 "\"consentType\":\"Principal\",\"principalId\":"
                 "\"user-1\"}]}");
  fake_http_push(204, "", "");
  wfc_call *c = revoke_call(creds_fresh());
  assert_string_equal(jstr(c->output, "remote"), "removed");
  assert_int_equal(fake_http_count(), 3);
  assert_string_equal(fake_http_req(0)->url,
                      GRAPH "/servicePrincipals?$filter=appId%20eq%20%27prod-"
                            "client%27&$select=id");
  assert_string_equal(fake_req_header(fake_http_req(0), "Authorization"),
                      "Bearer AT-R");
  assert_string_equal(fake_http_req(1)->url,
                      GRAPH "/oauth2PermissionGrants?$filter=clientId%20eq%"
                            "20%27sp-1%27%20and%20principalId%20eq%20%27user-"
                            "1%27");
  assert_string_equal(fake_http_req(2)->method, "DELETE");
  assert_string_equal(fake_http_req(2)->url,
                      GRAPH "/oauth2PermissionGrants/grant-1");
  fake_call_free(c);
}

static void test_revoke_other_outcomes(void **state) {
  (void)state;
  /* No rights to read grants (the usual case with Mail.* scopes). */
  fake_http_push(403, "Content-Type: application/json",
                 "{\"error\":{\"code\":\"Authorization_RequestDenied\","
                 "\"message\":\"Insufficient privileges to complete the "
                 "operation.\"}}");
  wfc_call *c = revoke_call(creds_fresh());
  assert_string_equal(jstr(c->output, "remote"), "not_permitted");
  assert_non_null(
      strstr(jstr(c->output, "detail"), "Authorization_RequestDenied"));
  fake_call_free(c);

  /* Tenant-wide consent only: nothing per user to remove. */
  fake_http_push(200, "", "{\"value\":[{\"id\":\"sp-1\"}]}");
  fake_http_push(200, "", "{\"value\":[]}");
  c = revoke_call(creds_fresh());
  assert_string_equal(jstr(c->output, "remote"), "none");
  fake_call_free(c);

  /* The emulator / service does not know the path. */
  fake_http_push(404, "",
                 "{\"error\":{\"code\":\"ResourceNotFound\","
                 "\"message\":\"Resource could not be "
                 "discovered.\"}}");
  c = revoke_call(creds_fresh());
  assert_string_equal(jstr(c->output, "remote"), "failed");
  assert_non_null(strstr(jstr(c->output, "detail"), "ResourceNotFound"));
  fake_call_free(c);

  /* Expired access token: one refresh first, then the lookups. */
  size_t before = fake_http_count();
  fake_http_push(200, "",
                 "{\"token_type\":\"Bearer\",\"expires_in\":3600,"
                 "\"access_token\":\"AT-NEW\"}");
  fake_http_push(200, "", "{\"value\":[]}");
  c = revoke_call("{\"access_token\":\"old\",\"refresh_token\":\"RT-R\","
                  "\"expires_at\":5}");
  assert_string_equal(jstr(c->output, "remote"), "none");
  assert_non_null(strstr(fake_http_req(before)->url, "/oauth2/v2.0/token"));
  assert_string_equal(
      fake_req_header(fake_http_req(before + 1), "Authorization"),
      "Bearer AT-NEW");
  fake_call_free(c);

  /* Nothing usable at all. */
  c = revoke_call("{}");
  assert_string_equal(jstr(c->output, "remote"), "none");
  fake_call_free(c);
}

static void test_test_hook(void **state) {
  (void)state;
  fake_http_push(200, "Content-Type: application/json",
                 "{\"id\":\"AAMkAGI2\"}");
  wfc_call *c =
      fake_call_new(json_tokener_parse("{\"params\":{},\"credentials\":{},"
                                       "\"access_token\":\"AT-T\"}"),
                    NULL);
  assert_int_equal(o365_conn_test(c), 0);
  fake_run();
  assert_int_equal(c->done, 1);
  assert_true(
      json_object_get_boolean(json_object_object_get(c->output, "healthy")));
  assert_string_equal(fake_http_req(0)->url,
                      GRAPH "/me/mailFolders/inbox?$select=id");
  fake_call_free(c);

  fake_http_push(404, "request-id: rq-1\nContent-Type: application/json",
                 "{\"error\":{\"code\":\"MailboxNotEnabledForRESTAPI\","
                 "\"message\":\"REST API is not yet supported for this "
                 "mailbox.\"}}");
  c = fake_call_new(json_tokener_parse("{\"params\":{},\"credentials\":{"
                                       "\"access_token\":\"AT-T\"}}"),
                    NULL);
  assert_int_equal(o365_conn_test(c), 0);
  fake_run();
  assert_int_equal(c->done, 1);
  assert_false(
      json_object_get_boolean(json_object_object_get(c->output, "healthy")));
  assert_non_null(
      strstr(jstr(c->output, "detail"), "MailboxNotEnabledForRESTAPI"));
  assert_non_null(strstr(jstr(c->output, "detail"), "rq-1"));
  fake_call_free(c);
}

static void test_cancel_during_token_exchange(void **state) {
  (void)state;
  struct json_object *s = begin("{}", NULL);
  fake_http_push(200, "", "{\"access_token\":\"x\"}");
  wfc_call *c = complete_call(s, query_with_state(s, "{\"code\":\"c\"}"));
  assert_int_equal(o365_conn_authorize_complete(c), 0);
  fake_call_cancel(c);
  fake_run();
  assert_int_equal(c->failed, 1);
  assert_int_equal(c->done, 0);
  assert_int_equal(c->fail_code, WFC_ECANCELED);
  assert_int_equal(fake_http_count(), 1); /* no /me after cancel */
  fake_call_free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_begin_url, setup, teardown),
      cmocka_unit_test_setup_teardown(test_begin_errors, setup, teardown),
      cmocka_unit_test_setup_teardown(test_state_refused_first, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_redirect_outcomes, setup, teardown),
      cmocka_unit_test_setup_teardown(test_complete_connected, setup, teardown),
      cmocka_unit_test_setup_teardown(
          test_complete_public_client_and_token_error, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refresh_rotation, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refresh_invalid_scope_retried_once,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_refresh_reauth, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refresh_transient, setup, teardown),
      cmocka_unit_test_setup_teardown(test_revoke_removed, setup, teardown),
      cmocka_unit_test_setup_teardown(test_revoke_other_outcomes, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_test_hook, setup, teardown),
      cmocka_unit_test_setup_teardown(test_cancel_during_token_exchange, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
