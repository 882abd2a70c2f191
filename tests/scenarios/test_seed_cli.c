/* test_seed_cli.c - the twelve seed scenarios (DESIGN.md section 5, the
 * Okta page in shared/seed) as a user lives them: `wfc connection ...` and
 * `wfc card run list_folders` with the real plugin against a fresh
 * emulator per test, the test playing the browser on the emulator's pages
 * and the admin in its portal (admin API). Every step asserts the stored
 * connection's state and remedy, and whether a Graph call works.
 *
 * Seed 4 as such is in tests/conn/test_emulator.c (same level); here 4 is
 * the second half of 1, and 9 extends that file's check with the
 * token-request count, other users and the admin's way back. 5 runs the
 * whole admin consent workflow, a denied request included, to a sent
 * email. */
#define _POSIX_C_SOURCE 200809L /* strndup, strdup, setenv */
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

#define WORKFLOW                                                               \
  "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":true}"
/* The remedy of approval_pending (plugin/consent.c). */
#define PENDING                                                                \
  "Your request was sent to your administrator; reauthorize "                  \
  "this connection once it is approved."
#define MAIL                                                                   \
  "{\"to\":[\"" ALICE_UPN "\"],\"subject\":\"Seed 5 approved\","               \
  "\"body\":\"Sent once the admin approved the request.\"}"

/* What the emulator's portal lists under "Admin consent requests" with
 * status (one expected): its id into id, asserted to be the Preview app's,
 * with justification. */
static void one_request(const char *status, const char *justification, char *id,
                        size_t len) {
  json_object *v = wuser_consent_requests(base(), status);
  assert_int_equal(json_object_array_length(v), 1);
  json_object *r = json_object_array_get_idx(v, 0);
  assert_string_equal(jstr(r, "clientId"), PREVIEW);
  assert_string_equal(jstr(r, "justification"), justification);
  assert_string_equal(jstr(r, "status"), status);
  snprintf(id, len, "%s", jstr(r, "id"));
  json_object_put(v);
}

/* Emails the emulator saw bob send (its mailbox inspection). */
static long bob_sent(void) {
  json_object *j = admin("GET", "/__emulator/mail/" BOB_UPN "/sent", NULL, 200);
  long n = (long)jint(j, "count");
  json_object_put(j);
  return n;
}

/* Bob's connection is still approval_pending with id, and the portal has
 * one pending request with justification: its id into rid. */
static void still_pending(const char *id, const char *justification, char *rid,
                          size_t len) {
  char now[64];
  sc_expect("bob", "approval_pending", PENDING, now, sizeof now);
  assert_string_equal(now, id);
  one_request("pending", justification, rid, len);
}

/* The user on "Approval required" requests approval and returns to the
 * app: the command (p, new or reauthorize) ends with approval_pending and
 * the remedy that says to wait for an administrator. */
static void request_approval(wproc *p, tclient *b, tresp *page,
                             const char *justification) {
  tresp sent;
  assert_true(is_page(page, "request"));
  assert_non_null(strstr(page->body, "Approval required"));
  wuser_request_approval(b, base(), page, justification, &sent);
  assert_non_null(strstr(sent.body, "Request sent"));
  assert_int_equal(wuser_return_to_app(b, base(), &sent), 400);
  tresp_free(&sent), tresp_free(page), tclient_free(b);
  assert_int_equal(sc_finish(p), 1);
  json_object *res = sc_result(p);
  assert_string_equal(jstr(res, "outcome"), "approval_pending");
  assert_string_equal(jstr(res, "remedy"), PENDING);
  json_object_put(res);
}

/* 5: the admin consent workflow. Bob cannot consent; he requests approval
 * with a justification: approval_pending, remedy "wait for an admin"; a
 * card fails at once naming state and remedy (no token request, nothing
 * sent). Trying again shows "Request pending" (no second request). The
 * admin denies: Bob's next attempt asks for a request again; he sends a
 * new one, the admin approves it, Bob reauthorizes (same connection, no
 * consent page) and send_email goes out: Alice's inbox has it. The
 * approval is tenant-wide: Alice connects with no page either. */
static void s05_admin_consent_workflow(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings", WORKFLOW);
  wproc p;
  tclient *b;
  tresp page;
  char id[64], rid[64], rid2[64];
  sc_begin(&p, "bob", "preview", BOB_UPN, BOB_PW, &b, &page);
  assert_false(is_page(&page, "consent"));
  request_approval(&p, b, &page, "Triage the support inbox");
  sc_expect("bob", "approval_pending", PENDING, id, sizeof id);
  one_request("pending", "Triage the support inbox", rid, sizeof rid);

  /* A card before approval: a clear error, no token request, no email. */
  long tok = sc_token_requests();
  assert_int_equal(sc_card(&p, "send_email", "bob", MAIL), 1);
  assert_string_equal(p.stdout_, "");
  assert_non_null(strstr(p.stderr_, "admin approval required (ECONSENT)"));
  assert_non_null(
      strstr(p.stderr_, "connection \"bob\" is approval_pending: " PENDING));
  assert_int_equal(sc_token_requests(), tok);
  assert_int_equal(bob_sent(), 0);
  sc_expect("bob", "approval_pending", PENDING, NULL, 0);

  /* Again before the review: "Request pending", the same request. */
  sc_begin_reauth(&p, "bob", BOB_UPN, BOB_PW, &b, &page);
  assert_non_null(strstr(page.body, "Request pending"));
  assert_false(is_page(&page, "request"));
  assert_int_equal(wuser_return_to_app(b, base(), &page), 400);
  tresp_free(&page), tclient_free(b);
  assert_int_equal(sc_finish(&p), 1);
  json_object *res = sc_result(&p);
  assert_string_equal(jstr(res, "outcome"), "approval_pending");
  json_object_put(res);
  still_pending(id, "Triage the support inbox", rid2, sizeof rid2);
  assert_string_equal(rid, rid2);

  /* The admin denies. wfc cannot know until Bob tries again: the emulator
   * (as Entra) then asks for a new request, since none is pending. */
  wuser_review(base(), rid, 0, ADMIN_UPN);
  one_request("denied", "Triage the support inbox", rid2, sizeof rid2);
  json_object *none = wuser_consent_requests(base(), "pending");
  assert_int_equal(json_object_array_length(none), 0);
  json_object_put(none);
  sc_expect("bob", "approval_pending", PENDING, NULL, 0);
  assert_int_not_equal(sc_card(&p, "send_email", "bob", MAIL), 0);
  /* Bob sees "Approval required" again and goes back to the app. The app
   * is not told that the request was denied (Entra tells the requester by
   * email), so the connection keeps its state, and wfc says so plainly. */
  const char *const reauth_text[] = {"connection", "reauthorize", "bob",
                                     "--print-url", NULL};
  char url[4096];
  sc_spawn(&p, reauth_text);
  sc_read_url(&p, url, sizeof url);
  b = sc_browser();
  sc_open(b, url, BOB_UPN, BOB_PW, &page);
  assert_true(is_page(&page, "request"));
  assert_int_equal(wuser_cancel_request(b, base(), &page), 400);
  tresp_free(&page), tclient_free(b);
  assert_int_equal(sc_finish(&p), 1);
  assert_non_null(strstr(p.stdout_, "denied: The permissions were declined; "
                                    "authorize again and click Accept.\n"
                                    "the connection \"bob\" keeps its state "
                                    "approval_pending\n"));
  sc_expect("bob", "approval_pending", PENDING, NULL, 0);
  /* The second request, from there. */
  sc_begin_reauth(&p, "bob", BOB_UPN, BOB_PW, &b, &page);
  assert_false(is_page(&page, "consent"));
  request_approval(&p, b, &page, "Second try: the support inbox");
  still_pending(id, "Second try: the support inbox", rid2, sizeof rid2);
  assert_string_not_equal(rid, rid2);

  /* The admin approves the new request; Bob reauthorizes: connected. */
  wuser_review(base(), rid2, 1, ADMIN_UPN);
  one_request("approved", "Second try: the support inbox", rid2, sizeof rid2);
  sc_reauth_ok("bob", BOB_UPN, BOB_PW, id);

  /* The card runs and the email reaches Alice, once. */
  assert_int_equal(sc_card(&p, "send_email", "bob", MAIL), 0);
  json_object *out = json_tokener_parse(p.stdout_);
  assert_non_null(out);
  assert_true(json_object_get_boolean(json_object_object_get(out, "sent")));
  assert_string_equal(jstr(out, "subject"), "Seed 5 approved");
  json_object_put(out);
  assert_int_equal(bob_sent(), 1);
  json_object *inbox = admin(
      "GET", "/__emulator/mail/" ALICE_UPN "/messages?folder=inbox", NULL, 200);
  json_object *msgs = json_object_object_get(inbox, "value");
  int found = 0;
  for (size_t i = 0; i < json_object_array_length(msgs); i++) {
    json_object *m = json_object_array_get_idx(msgs, i);
    if (strcmp(jstr(m, "subject"), "Seed 5 approved") == 0) {
      found++;
      assert_string_equal(tjson_str(m, "from.emailAddress.address"), BOB_UPN);
    }
  }
  assert_int_equal(found, 1);
  json_object_put(inbox);
  sc_expect("bob", "connected", NULL, NULL, 0);

  /* Approval granted the permissions tenant-wide. */
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, 0, NULL, 0);
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
 * a user needs approval; the admin follows the remedy's link (the app's
 * Permissions page in the portal) and grants for the organization; the user
 * reauthorizes: connected, same id, no consent page. */
static void s07_admin_forgot_checkbox(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings", NOT_ALLOWED);
  sc_connect("ada", "preview", ADMIN_UPN, ADMIN_PW, 0, 1, NULL, 0);
  sc_connect("ada2", "preview", ADMIN_UPN, ADMIN_PW, 0, 0, NULL, 0);

  wproc p;
  tclient *b;
  tresp page, done;
  char id[64];
  sc_begin(&p, "alice", "preview", ALICE_UPN, ALICE_PW, &b, &page);
  sc_need_approval(&p, b, &page, "alice", PREVIEW);
  sc_expect("alice", "needs_admin_approval", "/__emulator/portal/apps/", id,
            sizeof id);

  /* The admin opens the remedy's URL later (as the user would forward it):
   * the app's Permissions page; "Grant admin consent" says it worked. */
  char *adm = remedy_url("alice");
  b = sc_browser();
  get(b, adm, &page);
  assert_int_equal(page.status, 200);
  char *action = tclient_html_attr(page.body, "<form", "action");
  assert_non_null(action);
  char *u = url_of(action);
  assert_int_equal(tclient_request(b, "POST", u, NULL, "", &done), 0);
  assert_int_equal(done.status, 200);
  assert_non_null(strstr(done.body, "Admin consent granted"));
  free(u), free(action);
  tresp_free(&page), tresp_free(&done), tclient_free(b);
  free(adm);

  sc_reauth_ok("alice", ALICE_UPN, ALICE_PW, id);
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

  sc_reauth_ok("alice", ALICE_UPN, ALICE_PW, alice_id);
}

/* 10: reauthorize with the same account: same id and nickname, a new code
 * and new tokens (the emulator's counters), no consent page. */
static void s10_reauthorize_same_account(void **state) {
  (void)state;
  char id[64];
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, 1, id, sizeof id);
  long codes = sc_identity_counter("codesIssued");
  long tokens = sc_identity_counter("tokensIssued");
  assert_true(codes >= 1 && tokens >= 1);

  sc_reauth_ok("alice", ALICE_UPN, ALICE_PW, id);
  assert_int_equal(sc_identity_counter("codesIssued"), codes + 1);
  assert_int_equal(sc_identity_counter("tokensIssued"), tokens + 1);

  /* Only one connection in the list. */
  wproc p;
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
      T(s01_admin_without_org_consent),
      T(s02_admin_org_consent),
      T(s03_user_consent_allowed),
      T(s05_admin_consent_workflow),
      T(s06_low_impact_classification),
      T(s07_admin_forgot_checkbox),
      T(s08_portal_grant),
      T(s09_enterprise_app_deleted),
      T(s10_reauthorize_same_account),
      T(s11_several_connections),
      T(s12_preview_and_production),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
