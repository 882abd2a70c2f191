/* The twelve scenarios of DESIGN.md section 5 (the seed's flows), driven
 * over HTTP against a real m365-emulator: authorize, sign-in form, consent
 * form, redirect, token endpoint, the portal actions of the admin API and
 * virtual time. One fresh emulator per scenario. */
#define _POSIX_C_SOURCE 200809L /* strndup, strdup */
#include "identity_flow.h"

/* 1. Admin connects without "Consent on behalf of your organization": the
 *    connection works for the admin only. */
static void test_s01_admin_without_org_consent(void **state) {
  tclient *adm = tclient_new(1), *alice = tclient_new(1);
  tresp page, r;
  conn k = {0};
  json_object *g, *apps, *users;
  start(adm, PREVIEW, ADMIN_UPN, ADMIN_PW, NULL, &page);
  assert_true(is_page(&page, "consent"));
  /* Admins see the checkbox; the page names app, publisher, permissions. */
  assert_non_null(strstr(page.body, "name=\"consent_org\""));
  assert_non_null(strstr(page.body, "Office 365 Mail (Preview)"));
  assert_non_null(strstr(page.body, "id=\"publisher-verified\""));
  assert_non_null(strstr(page.body, "data-scope=\"Mail.Send.Shared\""));
  consent(adm, &page, 1, 0, &r);
  finish(&r, PREVIEW, &k);
  assert_non_null(k.refresh_token);
  assert_true(k.expires_in >= 3599 && k.expires_in <= 5399);
  tresp_free(&page);
  tresp_free(&r);

  /* A user-level grant for the admin, nothing tenant-wide. */
  g = admin("GET", "/__emulator/consent/grants?clientId=" PREVIEW, NULL, 200);
  assert_true(json_object_object_get_ex(g, "userGrants", &users));
  assert_int_equal(json_object_array_length(users), 1);
  assert_true(json_object_object_get_ex(g, "apps", &apps));
  assert_int_equal(json_object_array_length(json_object_object_get(
                       json_object_array_get_idx(apps, 0), "tenantWideScopes")),
                   0);
  json_object_put(g);

  /* With user consent off, Alice cannot connect. */
  set_user_consent("not_allowed");
  start(alice, PREVIEW, ALICE_UPN, ALICE_PW, NULL, &r);
  assert_true(r.status == 200 && strstr(r.body, "Need admin approval"));
  tresp_free(&r);
  conn_free(&k);
  tclient_free(adm);
  tclient_free(alice);
}

/* 2. Admin consents on behalf of the organization: users connect with no
 *    prompt at all. */
static void test_s02_admin_org_consent(void **state) {
  tclient *adm = tclient_new(1), *bob = tclient_new(1);
  tresp page, r;
  conn k = {0}, kb = {0};
  start(adm, PREVIEW, ADMIN_UPN, ADMIN_PW, NULL, &page);
  consent(adm, &page, 1, 1, &r);
  finish(&r, PREVIEW, &k);
  tresp_free(&page);
  tresp_free(&r);
  set_user_consent("not_allowed");
  start(bob, PREVIEW, BOB_UPN, BOB_PW, NULL, &r); /* straight to the app */
  finish(&r, PREVIEW, &kb);
  tresp_free(&r);
  conn_free(&k);
  conn_free(&kb);
  tclient_free(adm);
  tclient_free(bob);
}

/* 3. User consent allowed: a user accepts and connects; declining returns
 *    AADSTS65004 (consent_required, or access_denied when configured). */
static void test_s03_user_consent_allowed(void **state) {
  tclient *alice = tclient_new(1), *bob = tclient_new(1);
  tresp page, r;
  conn k = {0};
  start(alice, PREVIEW, ALICE_UPN, ALICE_PW, NULL, &page);
  assert_true(is_page(&page, "consent"));
  assert_null(strstr(page.body, "consent_org")); /* users: no checkbox */
  consent(alice, &page, 1, 0, &r);
  finish(&r, PREVIEW, &k);
  tresp_free(&page);
  tresp_free(&r);

  start(bob, PREVIEW, BOB_UPN, BOB_PW, NULL, &page);
  consent(bob, &page, 0, 0, &r);
  expect_redirect_error(&r, "consent_required", 65004);
  tresp_free(&page);
  tresp_free(&r);
  admin_ok("POST", "/__emulator/identity/settings",
           "{\"declineError\":\"access_denied\"}");
  start(bob, PREVIEW, BOB_UPN, BOB_PW, NULL, &page); /* session: no sign-in */
  consent(bob, &page, 0, 0, &r);
  expect_redirect_error(&r, "access_denied", 65004);
  tresp_free(&page);
  tresp_free(&r);
  conn_free(&k);
  tclient_free(alice);
  tclient_free(bob);
}

/* 4. User consent off: "Need admin approval"; going back to the app carries
 *    AADSTS90094, and the page links the admin consent URL. */
static void test_s04_user_consent_off(void **state) {
  tclient *alice = tclient_new(1);
  tresp page, r;
  char *ret, *adm;
  set_user_consent("not_allowed");
  start(alice, PREVIEW, ALICE_UPN, ALICE_PW, NULL, &page);
  assert_int_equal(page.status, 200);
  assert_non_null(strstr(page.body, "<h1>Need admin approval</h1>"));
  assert_non_null(strstr(page.body, "AADSTS90094"));
  adm = link_href(page.body, "admin-signin");
  assert_non_null(adm);
  ret = link_href(page.body, "return");
  assert_non_null(ret);
  {
    char *u = url_of(ret);
    get(alice, u, &r);
    free(u);
  }
  expect_redirect_error(&r, "access_denied", 90094);
  tresp_free(&r);
  /* Silent sign-in cannot help either. */
  start(alice, PREVIEW, ALICE_UPN, ALICE_PW, "&prompt=none", &r);
  expect_redirect_error(&r, "interaction_required", 90094);
  tresp_free(&r);
  /* "Have an admin account? Sign in with that account": signs the browser
   * out and starts the same request again with prompt=login and the app's
   * state (issue 11, item 4). */
  {
    char *u = url_of(adm), *again, *v;
    tresp out, signin, cons, done;
    assert_non_null(strstr(adm, "/oauth2/v2.0/logout?"));
    again = tclient_url_param(u, "post_logout_redirect_uri");
    assert_non_null(again);
    v = tclient_url_param(again, "prompt");
    assert_string_equal(v, "login");
    free(v);
    v = tclient_url_param(again, "state");
    assert_string_equal(v, STATE);
    free(v);
    v = tclient_url_param(again, "code_challenge");
    assert_string_equal(v, CHALLENGE);
    free(v);
    tclient *b2 = alice; /* the browser with Alice's session */
    get(b2, u, &out);
    assert_int_equal(out.status, 302);
    assert_string_equal(tresp_header(&out, "Location"), again);
    get(b2, again, &signin);
    /* The session ended: the sign-in page, not Alice again. */
    assert_true(is_page(&signin, "signin"));
    sign_in(b2, &signin, ADMIN_UPN, ADMIN_PW, &cons);
    assert_true(is_page(&cons, "consent"));
    assert_non_null(strstr(cons.body, "id=\"consent_org\""));
    consent(b2, &cons, 1, 1, &done);
    free(expect_code(&done)); /* to the app, with its state */
    tresp_free(&out), tresp_free(&signin), tresp_free(&cons);
    tresp_free(&done);
    free(again);
    free(u);
  }
  tresp_free(&page);
  free(ret);
  free(adm);
  tclient_free(alice);
}

/* 5. Admin consent workflow: request with justification, pending, approved
 *    from "Admin consent requests", then the user connects. */
static void test_s05_admin_consent_workflow(void **state) {
  tclient *bob = tclient_new(1);
  tresp page, r, sent;
  char *ctx, *form, *ret, path[256];
  json_object *reqs, *v, *req;
  conn k = {0};
  admin_ok("POST", "/__emulator/consent/settings",
           "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":true}");
  start(bob, PREVIEW, BOB_UPN, BOB_PW, NULL, &page);
  assert_true(is_page(&page, "request"));
  assert_non_null(strstr(page.body, "<h1>Approval required</h1>"));
  assert_non_null(strstr(page.body, "name=\"justification\""));
  ctx = form_value(page.body, "ctx");
  form =
      tclient_form("ctx", ctx, "justification", "Automating the support inbox",
                   "action", "request", NULL);
  post_form(bob, "/" TENANT_DOMAIN "/Consent/Request", form, &sent);
  assert_int_equal(sent.status, 200);
  assert_non_null(strstr(sent.body, "<h1>Request sent</h1>"));
  ret = link_href(sent.body, "return");
  {
    char *u = url_of(ret);
    get(bob, u, &r);
    free(u);
  }
  /* approval_pending on the app side. */
  expect_redirect_error(&r, "access_denied", 90095);
  tresp_free(&r);

  reqs = admin("GET", "/__emulator/consent/requests?status=pending", NULL, 200);
  assert_true(json_object_object_get_ex(reqs, "value", &v));
  assert_int_equal(json_object_array_length(v), 1);
  req = json_object_array_get_idx(v, 0);
  assert_string_equal(jstr(req, "justification"),
                      "Automating the support inbox");
  assert_string_equal(jstr(req, "clientId"), PREVIEW);
  assert_string_equal(jstr(req, "status"), "pending");
  snprintf(path, sizeof(path), "/__emulator/consent/requests/%s/approve",
           jstr(req, "id"));

  /* Asking again while pending shows "Request pending". */
  tresp_free(&page);
  start(bob, PREVIEW, BOB_UPN, BOB_PW, NULL, &page);
  assert_true(page.status == 200 && strstr(page.body, "Request pending"));

  json_object_put(admin("POST", path, "{\"reviewer\":\"" ADMIN_UPN "\"}", 204));
  json_object_put(admin("POST", path, "{}", 409)); /* already reviewed */
  start(bob, PREVIEW, BOB_UPN, BOB_PW, NULL, &r);  /* reauthorize */
  finish(&r, PREVIEW, &k);
  tresp_free(&r);
  tresp_free(&page);
  tresp_free(&sent);
  json_object_put(reqs);
  conn_free(&k);
  free(ctx);
  free(form);
  free(ret);
  tclient_free(bob);
}

/* 6. Verified publishers + the five permissions classified low impact: the
 *    user connects; dropping one needs approval. */
static void test_s06_low_impact_classification(void **state) {
  tclient *alice = tclient_new(1), *bob = tclient_new(1);
  tresp page, r;
  conn k = {0};
  admin_ok("POST", "/__emulator/consent/settings",
           "{\"userConsent\":\"verified_publishers\",\"lowImpactPermissions\":"
           "[\"openid\",\"profile\",\"User.Read\",\"offline_access\","
           "\"Mail.ReadWrite\",\"Mail.ReadWrite.Shared\",\"Mail.Send\","
           "\"Mail.Send.Shared\"]}");
  start(alice, PREVIEW, ALICE_UPN, ALICE_PW, NULL, &page);
  consent(alice, &page, 1, 0, &r);
  finish(&r, PREVIEW, &k);
  tresp_free(&page);
  tresp_free(&r);
  admin_ok("POST", "/__emulator/consent/settings",
           "{\"lowImpactPermissions\":[\"openid\",\"profile\",\"User.Read\","
           "\"offline_access\",\"Mail.ReadWrite\",\"Mail.ReadWrite.Shared\","
           "\"Mail.Send\"]}");
  start(bob, PREVIEW, BOB_UPN, BOB_PW, NULL, &page);
  assert_true(page.status == 200 && strstr(page.body, "Need admin approval"));
  tresp_free(&page);
  /* Unknown permission names are refused with the field named. */
  json_object_put(admin("POST", "/__emulator/consent/settings",
                        "{\"lowImpactPermissions\":[\"Mail.Fly\"]}", 400));
  conn_free(&k);
  tclient_free(alice);
  tclient_free(bob);
}

/* 7. The admin forgot the checkbox: no consent page the second time; then
 *    tenant-wide consent through the admin consent URL. */
static void test_s07_admin_forgot_checkbox(void **state) {
  tclient *adm = tclient_new(1), *bob = tclient_new(1);
  tresp page, r;
  conn k = {0}, k2 = {0}, kb = {0};
  char *u, *v;
  start(adm, PREVIEW, ADMIN_UPN, ADMIN_PW, NULL, &page);
  consent(adm, &page, 1, 0, &r);
  finish(&r, PREVIEW, &k);
  tresp_free(&page);
  tresp_free(&r);
  start(adm, PREVIEW, ADMIN_UPN, ADMIN_PW, NULL, &r); /* no page now */
  finish(&r, PREVIEW, &k2);
  tresp_free(&r);

  set_user_consent("not_allowed");
  u = url_of("/" TENANT_DOMAIN "/v2.0/adminconsent?client_id=" PREVIEW
             "&redirect_uri=" REDIRECT_ENC
             "&scope=https%3A%2F%2Fgraph.microsoft.com%2F.default"
             "&state=" STATE);
  /* A regular user gets "Need admin approval" there. */
  get(bob, u, &page);
  sign_in(bob, &page, BOB_UPN, BOB_PW, &r);
  assert_true(r.status == 200 && strstr(r.body, "Need admin approval"));
  tresp_free(&page);
  tresp_free(&r);
  /* The admin (session cookie: no sign-in) accepts for the organization. */
  get(adm, u, &page);
  assert_true(is_page(&page, "consent"));
  assert_non_null(strstr(page.body, "Accept for your organization"));
  consent(adm, &page, 1, 0, &r);
  assert_int_equal(r.status, 302);
  v = tclient_url_param(tresp_header(&r, "Location"), "admin_consent");
  assert_string_equal(v, "True");
  free(v);
  v = tclient_url_param(tresp_header(&r, "Location"), "tenant");
  assert_string_equal(v, TENANT_ID);
  free(v);
  v = tclient_url_param(tresp_header(&r, "Location"), "scope");
  assert_non_null(strstr(v, "https://graph.microsoft.com/Mail.Send.Shared"));
  free(v);
  v = tclient_url_param(tresp_header(&r, "Location"), "state");
  assert_string_equal(v, STATE);
  free(v);
  tresp_free(&page);
  tresp_free(&r);
  start(bob, PREVIEW, BOB_UPN, BOB_PW, NULL, &r);
  finish(&r, PREVIEW, &kb);
  tresp_free(&r);

  /* Cancel at the admin consent endpoint: access_denied + admin_consent. */
  get(adm, u, &page);
  consent(adm, &page, 0, 0, &r);
  expect_redirect_error(&r, "access_denied", 65004);
  v = tclient_url_param(tresp_header(&r, "Location"), "admin_consent");
  assert_string_equal(v, "True");
  free(v);
  tresp_free(&page);
  tresp_free(&r);
  free(u);
  conn_free(&k);
  conn_free(&k2);
  conn_free(&kb);
  tclient_free(adm);
  tclient_free(bob);
}

/* 8. "Grant admin consent" in the portal: users connect. */
static void test_s08_portal_grant(void **state) {
  tclient *alice = tclient_new(1);
  tresp r;
  conn k = {0};
  set_user_consent("not_allowed");
  admin_ok("POST", "/__emulator/apps/" PREVIEW "/admin-consent", NULL);
  start(alice, PREVIEW, ALICE_UPN, ALICE_PW, NULL, &r);
  finish(&r, PREVIEW, &k);
  tresp_free(&r);
  json_object_put(admin("POST",
                        "/__emulator/apps/00000000-dead-beef-0000-000000000000"
                        "/admin-consent",
                        NULL, 404));
  conn_free(&k);
  tclient_free(alice);
}

/* 9. Delete the enterprise app: access tokens work until they expire, then
 *    401; refresh fails with invalid_grant AADSTS65001; users cannot
 *    connect; the admin reauthorizes and consents again. */
static void test_s09_delete_enterprise_app(void **state) {
  tclient *adm = tclient_new(1), *alice = tclient_new(1);
  tresp page, r;
  conn ka = {0}, kal = {0}, k2 = {0}, kal2 = {0};
  json_object *j;
  start(adm, PREVIEW, ADMIN_UPN, ADMIN_PW, NULL, &page);
  consent(adm, &page, 1, 1, &r);
  finish(&r, PREVIEW, &ka);
  tresp_free(&page);
  tresp_free(&r);
  set_user_consent("not_allowed");
  start(alice, PREVIEW, ALICE_UPN, ALICE_PW, NULL, &r);
  finish(&r, PREVIEW, &kal);
  tresp_free(&r);
  assert_int_equal(graph_status(kal.access_token), 200);

  admin_ok("DELETE", "/__emulator/apps/" PREVIEW, NULL);
  /* Already-issued access tokens keep working... */
  assert_int_equal(graph_status(kal.access_token), 200);
  assert_int_equal(graph_status(ka.access_token), 200);
  /* ...refresh does not. */
  j = refresh(PREVIEW, kal.refresh_token, 400);
  expect_token_error(j, "invalid_grant", 65001, "consent_required");
  json_object_put(j);
  /* Regular users cannot connect. */
  start(alice, PREVIEW, ALICE_UPN, ALICE_PW, NULL, &r);
  assert_true(r.status == 200 && strstr(r.body, "Need admin approval"));
  tresp_free(&r);
  /* One hour later (past exp) Graph says 401. */
  advance((kal.expires_in > ka.expires_in ? kal.expires_in : ka.expires_in) +
          1);
  assert_int_equal(graph_status(kal.access_token), 401);
  assert_int_equal(graph_status(ka.access_token), 401);
  /* The admin reauthorizes: the consent page is back. */
  start(adm, PREVIEW, ADMIN_UPN, ADMIN_PW, NULL, &page);
  assert_true(is_page(&page, "consent"));
  consent(adm, &page, 1, 1, &r);
  finish(&r, PREVIEW, &k2);
  assert_int_equal(graph_status(k2.access_token), 200);
  tresp_free(&page);
  tresp_free(&r);
  /* The old refresh token stays dead; Alice reconnects without a prompt. */
  j = refresh(PREVIEW, ka.refresh_token, 400);
  expect_token_error(j, "invalid_grant", 65001, "consent_required");
  json_object_put(j);
  start(alice, PREVIEW, ALICE_UPN, ALICE_PW, NULL, &r);
  finish(&r, PREVIEW, &kal2);
  tresp_free(&r);
  conn_free(&ka);
  conn_free(&kal);
  conn_free(&k2);
  conn_free(&kal2);
  tclient_free(adm);
  tclient_free(alice);
}

/* 10. Reauthorize with the same account: new tokens; refresh rotates and
 *     the previous refresh token keeps working, as at Microsoft. */
static void test_s10_reauthorize(void **state) {
  tclient *alice = tclient_new(1);
  tresp page, r;
  conn k1 = {0}, k2 = {0};
  json_object *j1, *j2;
  start(alice, PREVIEW, ALICE_UPN, ALICE_PW, NULL, &page);
  consent(alice, &page, 1, 0, &r);
  finish(&r, PREVIEW, &k1);
  tresp_free(&page);
  tresp_free(&r);
  start(alice, PREVIEW, ALICE_UPN, ALICE_PW, "&prompt=login", &r);
  finish(&r, PREVIEW, &k2); /* prompt=login: signed in again, no consent */
  tresp_free(&r);
  assert_string_not_equal(k1.access_token, k2.access_token);
  assert_string_not_equal(k1.refresh_token, k2.refresh_token);
  j1 = refresh(PREVIEW, k1.refresh_token, 200);
  assert_non_null(jstr(j1, "refresh_token"));
  assert_string_not_equal(jstr(j1, "refresh_token"), k1.refresh_token);
  j2 = refresh(PREVIEW, k1.refresh_token, 200); /* old one still valid */
  json_object_put(j2);
  j2 = refresh(PREVIEW, jstr(j1, "refresh_token"), 200);
  assert_int_equal(graph_status(jstr(j2, "access_token")), 200);
  json_object_put(j1);
  json_object_put(j2);
  j1 = admin("GET", "/__emulator/identity", NULL, 200);
  assert_int_equal(jint(json_object_object_get(j1, "stats"), "refreshes"), 3);
  assert_int_equal(jint(json_object_object_get(j1, "stats"), "tokensIssued"),
                   5);
  json_object_put(j1);
  conn_free(&k1);
  conn_free(&k2);
  tclient_free(alice);
}

/* 11. Several connections from one account, each with its own tokens. */
static void test_s11_several_connections(void **state) {
  tclient *alice = tclient_new(1);
  tresp page, r;
  conn k[3] = {{0}};
  int i;
  start(alice, PREVIEW, ALICE_UPN, ALICE_PW, NULL, &page);
  consent(alice, &page, 1, 0, &r);
  finish(&r, PREVIEW, &k[0]);
  tresp_free(&page);
  tresp_free(&r);
  for (i = 1; i < 3; i++) {
    start(alice, PREVIEW, ALICE_UPN, ALICE_PW, NULL, &r);
    finish(&r, PREVIEW, &k[i]);
    tresp_free(&r);
  }
  assert_string_not_equal(k[0].refresh_token, k[1].refresh_token);
  assert_string_not_equal(k[1].refresh_token, k[2].refresh_token);
  for (i = 0; i < 3; i++) {
    json_object *j = refresh(PREVIEW, k[i].refresh_token, 200);
    assert_int_equal(graph_status(jstr(j, "access_token")), 200);
    json_object_put(j);
    conn_free(&k[i]);
  }
  tclient_free(alice);
}

/* 12. Preview and Production are separate apps: consent to one does not
 *     cover the other; Production is confidential (client secret). */
static void test_s12_preview_and_production(void **state) {
  tclient *alice = tclient_new(1);
  tresp page, r;
  conn kp = {0};
  char *code, *form;
  json_object *j;
  start(alice, PREVIEW, ALICE_UPN, ALICE_PW, NULL, &page);
  consent(alice, &page, 1, 0, &r);
  finish(&r, PREVIEW, &kp);
  tresp_free(&page);
  tresp_free(&r);
  start(alice, PROD, ALICE_UPN, ALICE_PW, NULL, &page);
  assert_true(is_page(&page, "consent")); /* asked again for Production */
  assert_non_null(strstr(page.body, "Office 365 Mail (Production)"));
  consent(alice, &page, 1, 0, &r);
  code = expect_code(&r);
  tresp_free(&page);
  tresp_free(&r);
  /* Confidential client: no secret, then a wrong one, then the right one. */
  form = tclient_form("grant_type", "authorization_code", "client_id", PROD,
                      "code", code, "redirect_uri", REDIRECT, "code_verifier",
                      VERIFIER, NULL);
  token_refused(form, 401, "invalid_client", 7000218);
  free(form);
  form = tclient_form("grant_type", "authorization_code", "client_id", PROD,
                      "code", code, "redirect_uri", REDIRECT, "code_verifier",
                      VERIFIER, "client_secret", "not-the-secret", NULL);
  token_refused(form, 401, "invalid_client", 7000215);
  free(form);
  j = redeem(PROD, code, 200);
  json_object_put(j);
  /* A Preview token refreshes only as Preview. */
  j = refresh(PROD, kp.refresh_token, 400);
  expect_token_error(j, "invalid_grant", 70000, NULL);
  json_object_put(j);
  /* Deleting Production leaves Preview alone. */
  admin_ok("DELETE", "/__emulator/apps/" PROD, NULL);
  j = refresh(PREVIEW, kp.refresh_token, 200);
  json_object_put(j);
  free(code);
  conn_free(&kp);
  tclient_free(alice);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_s01_admin_without_org_consent,
                                      emu_setup, emu_teardown),
      cmocka_unit_test_setup_teardown(test_s02_admin_org_consent, emu_setup,
                                      emu_teardown),
      cmocka_unit_test_setup_teardown(test_s03_user_consent_allowed, emu_setup,
                                      emu_teardown),
      cmocka_unit_test_setup_teardown(test_s04_user_consent_off, emu_setup,
                                      emu_teardown),
      cmocka_unit_test_setup_teardown(test_s05_admin_consent_workflow,
                                      emu_setup, emu_teardown),
      cmocka_unit_test_setup_teardown(test_s06_low_impact_classification,
                                      emu_setup, emu_teardown),
      cmocka_unit_test_setup_teardown(test_s07_admin_forgot_checkbox, emu_setup,
                                      emu_teardown),
      cmocka_unit_test_setup_teardown(test_s08_portal_grant, emu_setup,
                                      emu_teardown),
      cmocka_unit_test_setup_teardown(test_s09_delete_enterprise_app, emu_setup,
                                      emu_teardown),
      cmocka_unit_test_setup_teardown(test_s10_reauthorize, emu_setup,
                                      emu_teardown),
      cmocka_unit_test_setup_teardown(test_s11_several_connections, emu_setup,
                                      emu_teardown),
      cmocka_unit_test_setup_teardown(test_s12_preview_and_production,
                                      emu_setup, emu_teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
