/* Identity errors -> connection states and remedies, with the error
 * strings Microsoft really sends (research/graph-protocol.md A.3-A.7), and
 * the tenant-wide admin consent URL and redirect. */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "config.h"
#include "consent.h"
#include "fake_host.h"

static struct json_object *query2(const char *error, const char *desc) {
  struct json_object *q = json_object_new_object();
  json_object_object_add(q, "error", json_object_new_string(error));
  if (desc)
    json_object_object_add(q, "error_description",
                           json_object_new_string(desc));
  return q;
}

static o365_state outcome_of(const char *error, const char *desc) {
  struct json_object *q = query2(error, desc);
  o365_aad_err e;
  o365_aad_err_from_query(q, &e);
  json_object_put(q);
  return o365_authorize_outcome(&e);
}

static void test_parse_description(void **state) {
  (void)state;
  struct json_object *q = query2(
      "consent_required",
      "AADSTS65004: User declined to consent to access the app.\r\nTrace ID: "
      "0f2a9f5c-1f0b-4c1e-9a7e-3b1d2c4e5f60\r\nCorrelation ID: "
      "7c6b5a49-3d2e-4f10-8a9b-0c1d2e3f4a5b\r\nTimestamp: 2024-03-01 "
      "10:00:00Z");
  o365_aad_err e;
  o365_aad_err_from_query(q, &e);
  assert_string_equal(e.error, "consent_required");
  assert_int_equal(e.aadsts, 65004);
  assert_string_equal(e.summary,
                      "AADSTS65004: User declined to consent to access the "
                      "app.");
  assert_string_equal(e.trace_id, "0f2a9f5c-1f0b-4c1e-9a7e-3b1d2c4e5f60");
  assert_string_equal(e.correlation_id, "7c6b5a49-3d2e-4f10-8a9b-0c1d2e3f4a5b");
  json_object_put(q);

  /* Only error_uri carries the code (observed on admin consent cancel). */
  q = query2("access_denied", NULL);
  json_object_object_add(
      q, "error_uri",
      json_object_new_string("https://login.microsoftonline.com/error?code="
                             "65004"));
  o365_aad_err_from_query(q, &e);
  assert_int_equal(e.aadsts, 65004);
  json_object_put(q);
}

static void test_token_error_json(void **state) {
  (void)state;
  /* The field sample of A.6 (consent removed, refresh). */
  const char *body =
      "{\"error\":\"invalid_grant\",\"error_description\":\"AADSTS65001: The "
      "user or administrator has not consented to use the application with "
      "ID 'abc' named 'Office 365 Mail'. Send an interactive authorization "
      "request for this user and resource.\\r\\nTrace ID: "
      "t-1\\r\\nCorrelation ID: c-1\\r\\nTimestamp: 2024-01-01 "
      "00:00:00Z\",\"error_codes\":[65001],\"timestamp\":\"2024-01-01 "
      "00:00:00Z\",\"trace_id\":\"trace-json\",\"correlation_id\":\"corr-"
      "json\",\"suberror\":\"consent_required\"}";
  struct json_object *o = json_tokener_parse(body);
  o365_aad_err e;
  o365_aad_err_from_json(o, &e);
  assert_string_equal(e.error, "invalid_grant");
  assert_string_equal(e.suberror, "consent_required");
  assert_int_equal(e.aadsts, 65001);
  /* The JSON fields win over the text. */
  assert_string_equal(e.trace_id, "trace-json");
  assert_string_equal(e.correlation_id, "corr-json");
  assert_int_equal(o365_refresh_classify(400, &e), O365_REFRESH_REAUTH);
  char *r = o365_remedy(O365_REAUTHORIZATION_REQUIRED, &e, NULL, NULL);
  assert_string_equal(r, "The app's consent was removed (AADSTS65001). "
                         "Reauthorize this connection; an administrator may "
                         "need to grant consent again.");
  free(r);
  json_object_put(o);
  /* A nonsense error_codes entry is ignored; the text's code is used. */
  o = json_tokener_parse("{\"error\":\"invalid_grant\",\"error_codes\":"
                         "[-65001],\"error_description\":\"AADSTS700082: "
                         "expired\"}");
  o365_aad_err_from_json(o, &e);
  assert_int_equal(e.aadsts, 700082);
  json_object_put(o);
  /* Not JSON at all (a proxy's HTML): empty, not a crash. */
  o365_aad_err_from_json(NULL, &e);
  assert_string_equal(e.error, "");
  assert_int_equal(e.aadsts, 0);
}

static void test_authorize_outcomes(void **state) {
  (void)state;
  /* User clicks Cancel: both shapes seen in the field. */
  assert_int_equal(outcome_of("consent_required",
                              "AADSTS65004: User declined to consent to "
                              "access the app."),
                   O365_DENIED);
  assert_int_equal(outcome_of("access_denied", "AADSTS65004: User declined "
                                               "to consent to access the "
                                               "app."),
                   O365_DENIED);
  assert_int_equal(outcome_of("access_denied", "The user has denied access "
                                               "to the scope requested by "
                                               "the client application."),
                   O365_DENIED);
  /* Need admin approval. */
  assert_int_equal(outcome_of("access_denied",
                              "AADSTS90094: The grant requires admin "
                              "permission."),
                   O365_NEEDS_ADMIN_APPROVAL);
  assert_int_equal(outcome_of("invalid_client",
                              "AADSTS65001: The user or administrator has "
                              "not consented to use the application."),
                   O365_NEEDS_ADMIN_APPROVAL);
  assert_int_equal(outcome_of("consent_required", NULL),
                   O365_NEEDS_ADMIN_APPROVAL);
  /* Admin consent workflow: request submitted. */
  assert_int_equal(outcome_of("access_denied",
                              "AADSTS90095: Admin consent is required for "
                              "the permissions requested by this "
                              "application. An admin consent request may be "
                              "sent to the admin."),
                   O365_APPROVAL_PENDING);
  /* Anything else. */
  assert_int_equal(outcome_of("invalid_request",
                              "AADSTS50011: The redirect URI specified in the "
                              "request does not match."),
                   O365_ERROR);
  assert_int_equal(outcome_of("server_error", NULL), O365_ERROR);
}

static void test_refresh_classes(void **state) {
  (void)state;
  static const struct {
    long status;
    const char *error;
    const char *desc;
    o365_refresh_class want;
  } cases[] = {
      {400, "invalid_grant",
       "AADSTS700082: The refresh token has expired due to inactivity. The "
       "token was issued on 2023-01-01 and was inactive for 90.00:00:00.",
       O365_REFRESH_REAUTH},
      {400, "invalid_grant",
       "AADSTS50173: The provided grant has expired due to it being revoked, "
       "a fresh auth token is needed.",
       O365_REFRESH_REAUTH},
      {400, "interaction_required",
       "AADSTS53003: Access has been blocked by Conditional Access policies.",
       O365_REFRESH_REAUTH},
      {400, "unauthorized_client",
       "AADSTS700016: Application with identifier 'abc' was not found in the "
       "directory 'contoso'.",
       O365_REFRESH_REAUTH},
      {401, "invalid_client",
       "AADSTS7000215: Invalid client secret provided. Ensure the secret "
       "being sent in the request is the client secret value, not the "
       "client secret ID.",
       O365_REFRESH_FATAL},
      {400, "invalid_request",
       "AADSTS900144: The request body must contain "
       "the following parameter: 'grant_type'.",
       O365_REFRESH_FATAL},
      {429, "", NULL, O365_REFRESH_RETRY},
      {503, "", NULL, O365_REFRESH_RETRY},
      {500, "server_error", NULL, O365_REFRESH_RETRY},
      {400, "temporarily_unavailable", NULL, O365_REFRESH_RETRY},
      {0, "", NULL, O365_REFRESH_RETRY},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct json_object *q = query2(cases[i].error, cases[i].desc);
    o365_aad_err e;
    o365_aad_err_from_query(q, &e);
    json_object_put(q);
    assert_int_equal(o365_refresh_classify(cases[i].status, &e), cases[i].want);
  }
}

static void test_remedies(void **state) {
  (void)state;
  char *r = o365_remedy(O365_NEEDS_ADMIN_APPROVAL, NULL,
                        "https://portal/apps/1", NULL);
  assert_string_equal(r, "Ask an administrator to grant consent: "
                         "https://portal/apps/1 (Enterprise applications > "
                         "the app > Permissions > Grant admin consent).");
  free(r);
  r = o365_remedy(O365_NEEDS_ADMIN_APPROVAL, NULL, NULL, NULL);
  assert_string_equal(r, "Ask an administrator to grant consent to the app "
                         "(Enterprise applications > Permissions > Grant "
                         "admin consent).");
  free(r);
  r = o365_remedy(O365_APPROVAL_PENDING, NULL, NULL, NULL);
  assert_string_equal(r, "Your request was sent to your administrator; "
                         "reauthorize this connection once it is approved.");
  free(r);
  o365_aad_err e;
  memset(&e, 0, sizeof e);
  strcpy(e.error, "invalid_request");
  strcpy(e.summary, "AADSTS50011: The redirect URI does not match.");
  strcpy(e.trace_id, "T");
  strcpy(e.correlation_id, "C");
  r = o365_remedy(O365_ERROR, &e, NULL, NULL);
  assert_string_equal(r, "Sign-in failed: AADSTS50011: The redirect URI does "
                         "not match. [invalid_request] (Trace ID: T, "
                         "Correlation ID: C).");
  free(r);
  e.aadsts = 700082;
  r = o365_remedy(O365_REAUTHORIZATION_REQUIRED, &e, NULL, NULL);
  assert_non_null(strstr(r, "AADSTS700082"));
  assert_non_null(strstr(r, "Reauthorize this connection"));
  free(r);

  /* invalid_grant without an AADSTS code: who refused is named - Microsoft
   * on any national cloud's login host, the provider's host elsewhere. */
  memset(&e, 0, sizeof e);
  strcpy(e.error, "invalid_grant");
  r = o365_remedy(O365_REAUTHORIZATION_REQUIRED, &e, NULL, NULL);
  assert_string_equal(r, "Microsoft refused to renew the sign-in. "
                         "Reauthorize this connection.");
  free(r);
  static const char *const microsoft[] = {"https://login.microsoftonline.com",
                                          "https://LOGIN.microsoftonline.us/",
                                          "https://login.chinacloudapi.cn"};
  for (size_t i = 0; i < 3; i++) {
    r = o365_remedy(O365_REAUTHORIZATION_REQUIRED, &e, NULL, microsoft[i]);
    assert_string_equal(r, "Microsoft refused to renew the sign-in. "
                           "Reauthorize this connection.");
    free(r);
  }
  r = o365_remedy(O365_REAUTHORIZATION_REQUIRED, &e, NULL,
                  "https://idp.fabrikam.example:8443/tenant-path");
  assert_string_equal(r, "The identity provider at idp.fabrikam.example:8443 "
                         "refused to renew the sign-in (invalid_grant). "
                         "Reauthorize this connection.");
  free(r);
  /* A look-alike host is not Microsoft's. */
  r = o365_remedy(O365_REAUTHORIZATION_REQUIRED, &e, NULL,
                  "https://login.microsoftonline.com.evil.example");
  assert_null(strstr(r, "Microsoft"));
  free(r);
  assert_string_equal(o365_state_name(O365_NEEDS_ADMIN_APPROVAL),
                      "needs_admin_approval");
  assert_string_equal(o365_state_name(O365_APPROVAL_PENDING),
                      "approval_pending");
  assert_string_equal(o365_state_name(O365_REAUTHORIZATION_REQUIRED),
                      "reauthorization_required");
}

static void test_admin_consent_url(void **state) {
  (void)state;
  setenv("O365MAIL_PRODUCTION_CLIENT_ID",
         "11111111-2222-3333-4444-555555555555", 1);
  unsetenv("O365MAIL_AUTHORITY_URL");
  o365_config cfg;
  char err[256];
  struct json_object *p = json_tokener_parse("{\"tenant\":\"common\"}");
  assert_int_equal(o365_config_load(p, &cfg, err, sizeof err), 0);
  char *url = o365_admin_consent_url(&cfg, "http://localhost:8400/cb", "st");
  assert_string_equal(url, "https://login.microsoftonline.com/organizations/"
                           "v2.0/adminconsent?client_id=11111111-2222-3333-"
                           "4444-555555555555&redirect_uri=http%3A%2F%"
                           "2Flocalhost%3A8400%2Fcb&scope=https%3A%2F%"
                           "2Fgraph.microsoft.com%2F.default&state=st");
  free(url);
  o365_config_clear(&cfg);
  json_object_put(p);

  /* China: the cloud's Graph resource in .default. */
  p = json_tokener_parse("{\"tenant\":\"contoso.cn\",\"cloud\":\"china\"}");
  assert_int_equal(o365_config_load(p, &cfg, err, sizeof err), 0);
  url = o365_admin_consent_url(&cfg, "http://localhost", NULL);
  assert_non_null(strstr(url, "https://login.chinacloudapi.cn/contoso.cn/"
                              "v2.0/adminconsent?"));
  assert_non_null(strstr(url, "scope=https%3A%2F%2Fmicrosoftgraph."
                              "chinacloudapi.cn%2F.default"));
  assert_non_null(strstr(url, "&state="));
  free(url);
  o365_config_clear(&cfg);
  json_object_put(p);
}

static void test_admin_consent_parse(void **state) {
  (void)state;
  o365_admin_consent ac;
  struct json_object *q = json_tokener_parse(
      "{\"admin_consent\":\"True\",\"tenant\":\"a8990e1f-ff32-408a-9f8e-"
      "78d3b9139b95\",\"scope\":\"https://graph.microsoft.com/.default\","
      "\"state\":\"12345\"}");
  assert_int_equal(o365_admin_consent_parse(q, &ac), 0);
  assert_true(ac.granted);
  assert_string_equal(ac.tenant, "a8990e1f-ff32-408a-9f8e-78d3b9139b95");
  json_object_put(q);

  /* Observed on Cancel (MicrosoftDocs/azure-docs#114009). */
  q = json_tokener_parse(
      "{\"error\":\"access_denied\",\"error_description\":\"AADSTS65004: User "
      "declined to consent to access the app.\\r\\nTrace ID: x\\r\\n"
      "Correlation ID: y\",\"error_uri\":\"https://login.microsoftonline.com/"
      "error?code=65004\",\"admin_consent\":\"True\",\"state\":\"s\"}");
  assert_int_equal(o365_admin_consent_parse(q, &ac), 0);
  assert_false(ac.granted);
  assert_int_equal(ac.err.aadsts, 65004);
  assert_string_equal(ac.tenant, "");
  json_object_put(q);

  q = json_tokener_parse("{\"code\":\"abc\"}");
  assert_int_not_equal(o365_admin_consent_parse(q, &ac), 0);
  json_object_put(q);
}

static void test_admin_consent_card(void **state) {
  (void)state;
  fake_reset();
  setenv("O365MAIL_PREVIEW_CLIENT_ID", "pre-id", 1);
  wfc_call *c = fake_call_new(
      json_tokener_parse("{\"environment\":\"preview\",\"tenant\":\"contoso."
                         "com\"}"),
      NULL);
  assert_int_equal(o365_card_admin_consent_url.invoke(c), 0);
  assert_int_equal(c->done, 1);
  assert_int_equal(c->failed, 0);
  const char *url =
      json_object_get_string(json_object_object_get(c->output, "url"));
  assert_non_null(strstr(url, "/contoso.com/v2.0/adminconsent?client_id=pre-"
                              "id&redirect_uri=http%3A%2F%2Flocalhost&"));
  assert_string_equal(
      json_object_get_string(json_object_object_get(c->output, "app")),
      "Office 365 Mail (Preview)");
  /* The state it made is an output, so the receiver can check it. */
  const char *st =
      json_object_get_string(json_object_object_get(c->output, "state"));
  assert_non_null(st);
  assert_true(strlen(st) >= 32);
  const char *in_url = strstr(url, "&state=");
  assert_non_null(in_url);
  assert_string_equal(in_url + 7, st); /* base64url: sent as is, last */
  fake_call_free(c);

  /* A state of the caller's is sent as given. */
  setenv("O365MAIL_PREVIEW_CLIENT_ID", "pre-id", 1);
  c = fake_call_new(json_tokener_parse("{\"environment\":\"preview\","
                                       "\"state\":\"flow-42-abc\"}"),
                    NULL);
  assert_int_equal(o365_card_admin_consent_url.invoke(c), 0);
  url = json_object_get_string(json_object_object_get(c->output, "url"));
  assert_non_null(strstr(url, "&state=flow-42-abc"));
  assert_string_equal(
      json_object_get_string(json_object_object_get(c->output, "state")),
      "flow-42-abc");
  fake_call_free(c);

  /* No client id configured: a clear error naming the variable. */
  unsetenv("O365MAIL_PREVIEW_CLIENT_ID");
  c = fake_call_new(json_tokener_parse("{\"environment\":\"preview\"}"), NULL);
  assert_int_equal(o365_card_admin_consent_url.invoke(c), 0);
  assert_int_equal(c->failed, 1);
  assert_int_equal(c->done, 0);
  assert_non_null(strstr(c->message, "O365MAIL_PREVIEW_CLIENT_ID"));
  fake_call_free(c);
  fake_teardown();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_parse_description),
      cmocka_unit_test(test_token_error_json),
      cmocka_unit_test(test_authorize_outcomes),
      cmocka_unit_test(test_refresh_classes),
      cmocka_unit_test(test_remedies),
      cmocka_unit_test(test_admin_consent_url),
      cmocka_unit_test(test_admin_consent_parse),
      cmocka_unit_test(test_admin_consent_card),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
