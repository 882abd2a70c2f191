/* test_seed_cli.c - the twelve seed scenarios (DESIGN.md section 5, the
 * Okta page in shared/seed) as a user lives them: `wfc connection ...` and
 * `wfc card run list_folders` with the real plugin against a fresh
 * emulator per test, the test playing the browser on the emulator's pages
 * and the admin in its portal (admin API). Every step asserts the stored
 * connection's state and remedy, and whether a Graph call works.
 *
 * Seeds 4 and 5 as such are in tests/conn/test_emulator.c (same level);
 * here 4 is the second half of 1, and 9 extends that file's check with the
 * token-request count, other users and the admin's way back. */
#include "scen.h"

#define NOT_ALLOWED                                                            \
  "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":false}"

/* 1 (and 4): the admin accepts without "Consent on behalf of your
 * organization": connected for the admin only; with user consent off a
 * regular user then meets "Need admin approval". */
static void s01_admin_without_org_consent(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings", NOT_ALLOWED);
  wproc p;
  tclient *b;
  tresp page, done;
  char url[4096];
  sc_new(&p, "ada", "preview", url, sizeof url);
  b = sc_browser();
  sc_open(b, url, ADMIN_UPN, ADMIN_PW, &page);
  assert_true(is_page(&page, "consent"));
  /* The admin's page carries the org checkbox; a user's does not. */
  assert_non_null(strstr(page.body, "id=\"consent_org\""));
  consent(b, &page, 1, 0, &done);
  assert_int_equal(sc_to_listener(&done), 200);
  tresp_free(&page), tresp_free(&done), tclient_free(b);
  assert_int_equal(sc_finish(&p), 0);
  sc_expect("ada", "connected", NULL, NULL, 0);
  assert_int_equal(sc_list_folders("ada"), 0);

  sc_begin(&p, "alice", "preview", ALICE_UPN, ALICE_PW, &b, &page);
  sc_need_approval(&p, b, &page, "alice", PREVIEW);
  /* The admin's connection is untouched. */
  assert_int_equal(sc_list_folders("ada"), 0);
}

/* 2: the admin accepts with the checkbox: every user then connects with no
 * consent page, even with user consent off. */
static void s02_admin_org_consent(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings", NOT_ALLOWED);
  sc_connect("ada", "preview", ADMIN_UPN, ADMIN_PW, 1, 1, NULL, 0);
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, 0, NULL, 0);
  sc_connect("bob", "preview", BOB_UPN, BOB_PW, 0, 0, NULL, 0);
}

/* 3: user consent allowed: the user sees the consent page (no org
 * checkbox), accepts and connects. */
static void s03_user_consent_allowed(void **state) {
  (void)state;
  set_user_consent("allowed");
  wproc p;
  tclient *b;
  tresp page, done;
  sc_begin(&p, "alice", "preview", ALICE_UPN, ALICE_PW, &b, &page);
  assert_true(is_page(&page, "consent"));
  assert_null(strstr(page.body, "id=\"consent_org\""));
  consent(b, &page, 1, 0, &done);
  assert_int_equal(sc_to_listener(&done), 200);
  tresp_free(&page), tresp_free(&done), tclient_free(b);
  assert_int_equal(sc_finish(&p), 0);
  json_object *res = sc_result(&p);
  assert_string_equal(jstr(res, "outcome"), "connected");
  assert_string_equal(
      jstr(json_object_object_get(res, "connection"), "account"), ALICE_UPN);
  json_object_put(res);
  sc_expect("alice", "connected", NULL, NULL, 0);
  assert_int_equal(sc_list_folders("alice"), 0);
}

/* 6: verified publishers only, with the connector's permissions classified
 * low impact: the user connects; one permission taken out of the
 * classification: the next user needs approval. */
static void s06_low_impact_classification(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings",
           "{\"userConsent\":\"verified_publishers\",\"lowImpactPermissions\":"
           "[\"openid\",\"profile\",\"offline_access\",\"User.Read\","
           "\"Mail.ReadWrite\",\"Mail.ReadWrite.Shared\",\"Mail.Send\","
           "\"Mail.Send.Shared\"]}");
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, 1, NULL, 0);
  admin_ok("POST", "/__emulator/consent/settings",
           "{\"userConsent\":\"verified_publishers\",\"lowImpactPermissions\":"
           "[\"openid\",\"profile\",\"offline_access\",\"User.Read\","
           "\"Mail.ReadWrite\",\"Mail.ReadWrite.Shared\",\"Mail.Send\"]}");
  wproc p;
  tclient *b;
  tresp page;
  sc_begin(&p, "bob", "preview", BOB_UPN, BOB_PW, &b, &page);
  sc_need_approval(&p, b, &page, "bob", PREVIEW);
  /* Alice consented before the change: her connection keeps working. */
  assert_int_equal(sc_list_folders("alice"), 0);
}

/* The admin consent URL in a needs_admin_approval remedy (malloc'd). */
static char *remedy_url(const char *nickname) {
  json_object *c = sc_show(nickname);
  const char *rem = jstr(c, "remedy"), *u = rem ? strstr(rem, "http") : NULL;
  assert_non_null(u);
  size_t n = strcspn(u, " \n\"");
  char *out = strndup(u, n);
  json_object_put(c);
  return out;
}

/* 7: the admin forgot the checkbox: no consent page for the admin again;
 * a user needs approval; the admin follows the remedy's admin consent URL
 * and grants for the organization; the user reauthorizes: connected, same
 * id, no consent page. */
static void s07_admin_forgot_checkbox(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings", NOT_ALLOWED);
  sc_connect("ada", "preview", ADMIN_UPN, ADMIN_PW, 0, 1, NULL, 0);
  sc_connect("ada2", "preview", ADMIN_UPN, ADMIN_PW, 0, 0, NULL, 0);

  wproc p;
  tclient *b;
  tresp page, done;
  char id[64], id2[64], url[4096];
  sc_begin(&p, "alice", "preview", ALICE_UPN, ALICE_PW, &b, &page);
  sc_need_approval(&p, b, &page, "alice", PREVIEW);
  sc_expect("alice", "needs_admin_approval", "adminconsent", id, sizeof id);

  /* The admin opens the remedy's URL (as the user would forward it). */
  char *adm = remedy_url("alice");
  b = sc_browser();
  sc_open(b, adm, ADMIN_UPN, ADMIN_PW, &page);
  assert_true(is_page(&page, "consent"));
  consent(b, &page, 1, 1, &done);
  assert_int_equal(done.status, 302);
  const char *loc = tresp_header(&done, "Location");
  assert_non_null(loc);
  assert_non_null(strstr(loc, "admin_consent=True"));
  assert_null(strstr(loc, "error="));
  tresp_free(&page), tresp_free(&done), tclient_free(b);
  free(adm);

  sc_reauth(&p, "alice", url, sizeof url);
  b = sc_browser();
  sc_open(b, url, ALICE_UPN, ALICE_PW, &page);
  assert_false(is_page(&page, "consent"));
  assert_int_equal(sc_to_listener(&page), 200);
  tresp_free(&page), tclient_free(b);
  assert_int_equal(sc_finish(&p), 0);
  sc_expect("alice", "connected", NULL, id2, sizeof id2);
  assert_string_equal(id, id2);
  assert_int_equal(sc_list_folders("alice"), 0);
  sc_connect("bob", "preview", BOB_UPN, BOB_PW, 0, 0, NULL, 0);
}

/* 8: tenant-wide consent granted in the portal: users connect without a
 * consent page. */
static void s08_portal_grant(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings", NOT_ALLOWED);
  json_object_put(
      admin("POST", "/__emulator/apps/" PREVIEW "/admin-consent", NULL, 200));
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, 0, NULL, 0);
  sc_connect("bob", "preview", BOB_UPN, BOB_PW, 0, 0, NULL, 0);
}

/* 9: the enterprise app is deleted. Connections work until their access
 * token expires, then need reauthorization (one token request each, no
 * loop); a user cannot connect; the admin reauthorizes with org consent
 * (same id) and the user then reauthorizes without a consent page. */
static void s09_enterprise_app_deleted(void **state) {
  (void)state;
  char ada_id[64], alice_id[64], id[64], url[4096];
  sc_connect("ada", "preview", ADMIN_UPN, ADMIN_PW, 0, 1, ada_id,
             sizeof ada_id);
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, 1, alice_id,
             sizeof alice_id);
  admin_ok("POST", "/__emulator/consent/settings", NOT_ALLOWED);
  admin_ok("DELETE", "/__emulator/apps/" PREVIEW, NULL);

  long tok0 = sc_token_requests();
  assert_int_equal(sc_list_folders("alice"), 0);
  assert_int_equal(sc_list_folders("ada"), 0);
  sc_expect("alice", "connected", NULL, NULL, 0);
  assert_int_equal(sc_token_requests(), tok0);

  /* Past the longest lifetime (3599 + 1800 s). */
  advance(5500);
  assert_int_not_equal(sc_list_folders("alice"), 0);
  sc_expect("alice", "reauthorization_required", "Reauthorize", NULL, 0);
  sc_expect("alice", "reauthorization_required", "AADSTS", NULL, 0);
  long tok1 = sc_token_requests();
  assert_int_equal(tok1, tok0 + 1);
  /* Fails fast: no further token request, and the state holds. */
  assert_int_not_equal(sc_list_folders("alice"), 0);
  assert_int_not_equal(sc_test("alice"), 0);
  assert_int_equal(sc_token_requests(), tok1);
  sc_expect("alice", "reauthorization_required", "Reauthorize", NULL, 0);
  assert_int_not_equal(sc_list_folders("ada"), 0);
  sc_expect("ada", "reauthorization_required", "Reauthorize", NULL, 0);
  assert_int_equal(sc_token_requests(), tok1 + 1);

  /* A regular user cannot connect. */
  wproc p;
  tclient *b;
  tresp page, done;
  sc_begin(&p, "bob", "preview", BOB_UPN, BOB_PW, &b, &page);
  sc_need_approval(&p, b, &page, "bob", PREVIEW);

  /* The admin reauthorizes and consents for the organization. */
  sc_reauth(&p, "ada", url, sizeof url);
  b = sc_browser();
  sc_open(b, url, ADMIN_UPN, ADMIN_PW, &page);
  assert_true(is_page(&page, "consent"));
  consent(b, &page, 1, 1, &done);
  assert_int_equal(sc_to_listener(&done), 200);
  tresp_free(&page), tresp_free(&done), tclient_free(b);
  assert_int_equal(sc_finish(&p), 0);
  sc_expect("ada", "connected", NULL, id, sizeof id);
  assert_string_equal(id, ada_id);
  assert_int_equal(sc_list_folders("ada"), 0);

  sc_reauth(&p, "alice", url, sizeof url);
  b = sc_browser();
  sc_open(b, url, ALICE_UPN, ALICE_PW, &page);
  assert_false(is_page(&page, "consent"));
  assert_int_equal(sc_to_listener(&page), 200);
  tresp_free(&page), tclient_free(b);
  assert_int_equal(sc_finish(&p), 0);
  sc_expect("alice", "connected", NULL, id, sizeof id);
  assert_string_equal(id, alice_id);
  assert_int_equal(sc_list_folders("alice"), 0);
}

/* 10: reauthorize with the same account: same id and nickname, a new code
 * and new tokens (the emulator's counters), no consent page. */
static void s10_reauthorize_same_account(void **state) {
  (void)state;
  char id[64], id2[64], url[4096];
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, 1, id, sizeof id);
  long codes = sc_identity_counter("codesIssued");
  long tokens = sc_identity_counter("tokensIssued");
  assert_true(codes >= 1 && tokens >= 1);

  wproc p;
  sc_reauth(&p, "alice", url, sizeof url);
  tclient *b = sc_browser();
  tresp page;
  sc_open(b, url, ALICE_UPN, ALICE_PW, &page);
  assert_false(is_page(&page, "consent"));
  assert_int_equal(sc_to_listener(&page), 200);
  tresp_free(&page), tclient_free(b);
  assert_int_equal(sc_finish(&p), 0);
  json_object *res = sc_result(&p);
  assert_string_equal(jstr(res, "outcome"), "connected");
  json_object *c = json_object_object_get(res, "connection");
  assert_string_equal(jstr(c, "id"), id);
  assert_string_equal(jstr(c, "nickname"), "alice");
  json_object_put(res);
  assert_int_equal(sc_identity_counter("codesIssued"), codes + 1);
  assert_int_equal(sc_identity_counter("tokensIssued"), tokens + 1);
  sc_expect("alice", "connected", NULL, id2, sizeof id2);
  assert_string_equal(id, id2);
  assert_int_equal(sc_list_folders("alice"), 0);

  /* Only one connection in the list. */
  const char *const list[] = {"connection", "list", "--json", NULL};
  assert_int_equal(sc_wfc(&p, list), 0);
  json_object *l = json_tokener_parse(p.stdout_);
  assert_non_null(l);
  json_object *arr = json_object_is_type(l, json_type_array)
                         ? l
                         : json_object_object_get(l, "connections");
  assert_non_null(arr);
  assert_int_equal(json_object_array_length(arr), 1);
  json_object_put(l);
}

/* 11: several connections from one account, each with its own nickname and
 * tokens: each refreshes on its own, and revoking one leaves the others
 * working. */
static void s11_several_connections(void **state) {
  (void)state;
  char a[64], b2[64], c[64];
  sc_connect("mail-1", "preview", ALICE_UPN, ALICE_PW, 0, 1, a, sizeof a);
  sc_connect("mail-2", "preview", ALICE_UPN, ALICE_PW, 0, 0, b2, sizeof b2);
  sc_connect("mail-3", "preview", ALICE_UPN, ALICE_PW, 0, 0, c, sizeof c);
  assert_string_not_equal(a, b2);
  assert_string_not_equal(b2, c);
  assert_string_not_equal(a, c);

  /* Each one's token expires: three separate refreshes. */
  advance(5500);
  long r0 = sc_identity_counter("refreshes");
  assert_int_equal(sc_list_folders("mail-1"), 0);
  assert_int_equal(sc_list_folders("mail-2"), 0);
  assert_int_equal(sc_list_folders("mail-3"), 0);
  assert_int_equal(sc_identity_counter("refreshes"), r0 + 3);

  wproc p;
  const char *const revoke[] = {"connection", "revoke", "mail-2", NULL};
  assert_int_equal(sc_wfc(&p, revoke), 0);
  sc_expect("mail-2", "revoked", "authorize it again", NULL, 0);
  assert_int_not_equal(sc_list_folders("mail-2"), 0);
  assert_int_equal(sc_list_folders("mail-1"), 0);
  assert_int_equal(sc_list_folders("mail-3"), 0);
  advance(5500);
  assert_int_equal(sc_list_folders("mail-1"), 0);
  assert_int_equal(sc_list_folders("mail-3"), 0);
  sc_expect("mail-1", "connected", NULL, NULL, 0);
  sc_expect("mail-3", "connected", NULL, NULL, 0);
}

/* 12: Preview and Production are separate apps: consent to one does not
 * cover the other; tenant-wide consent to Production does not cover
 * Preview either. */
static void s12_preview_and_production(void **state) {
  (void)state;
  sc_connect("alice-preview", "preview", ALICE_UPN, ALICE_PW, 0, 1, NULL, 0);
  /* Same user, the other app: asked again. */
  sc_connect("alice-prod", "production", ALICE_UPN, ALICE_PW, 0, 1, NULL, 0);

  json_object_put(
      admin("POST", "/__emulator/apps/" PROD "/admin-consent", NULL, 200));
  sc_connect("bob-prod", "production", BOB_UPN, BOB_PW, 0, 0, NULL, 0);

  /* Bob on Preview still gets the consent page; he declines. */
  wproc p;
  tclient *b;
  tresp page, done;
  sc_begin(&p, "bob-preview", "preview", BOB_UPN, BOB_PW, &b, &page);
  assert_true(is_page(&page, "consent"));
  consent(b, &page, 0, 0, &done);
  assert_int_equal(sc_to_listener(&done), 400);
  tresp_free(&page), tresp_free(&done), tclient_free(b);
  assert_int_equal(sc_finish(&p), 1);
  json_object *res = sc_result(&p);
  assert_string_equal(jstr(res, "outcome"), "denied");
  json_object_put(res);
  assert_non_null(strstr(p.stdout_, "declined"));
  /* denied stores nothing (connections-sdk.md): the nickname stays free. */
  const char *const show[] = {"connection", "show", "bob-preview", NULL};
  assert_int_not_equal(sc_wfc(&p, show), 0);
  assert_int_not_equal(sc_list_folders("bob-preview"), 0);
  assert_int_equal(sc_list_folders("bob-prod"), 0);
  assert_int_equal(sc_list_folders("alice-preview"), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, sc_up, sc_down)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(s01_admin_without_org_consent), T(s02_admin_org_consent),
      T(s03_user_consent_allowed),      T(s06_low_impact_classification),
      T(s07_admin_forgot_checkbox),     T(s08_portal_grant),
      T(s09_enterprise_app_deleted),    T(s10_reauthorize_same_account),
      T(s11_several_connections),       T(s12_preview_and_production),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
