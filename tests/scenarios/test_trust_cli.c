/* test_trust_cli.c - connections people can trust (issue 11, items 1, 2
 * and 4), as the person meets them: `wfc connection new|reauthorize` with
 * the real plugin against a fresh emulator, the test playing the browser.
 *
 * 1. Reauthorizing "alice" signed in as Bob is refused: the command says
 *    who signed in and who was expected, the connection keeps Alice's
 *    account and tokens (a card still acts as Alice); the reauthorize URL
 *    carries the stored account as login_hint; --allow-account-change
 *    switches on purpose (same id).
 * 2. A new connection asks the person to choose the account
 *    (prompt=select_account): with Alice signed in in the browser, Bob's
 *    connection shows the account picker, "Use another account" signs Bob
 *    in; picking Alice connects as Alice without a password.
 *    --login-hint sends the hint and no prompt.
 * 4. "Have an admin account? Sign in with that account" on "Need admin
 *    approval" signs the browser out, asks for a sign-in (prompt=login)
 *    and keeps the state, so the admin's consent ends in the CLI as
 *    connected. */
#define _POSIX_C_SOURCE 200809L /* strndup, strdup, setenv */
#include "scen.h"

/* Bob's mailbox is not Alice's: who a connection acts as, by Graph. */
static void expect_acts_as(const char *nickname, const char *upn) {
  wproc p;
  const char *const args[] = {"card",
                              "run",
                              "custom_api_action",
                              "--connection",
                              nickname,
                              "--input",
                              "{\"method\":\"GET\",\"relative_url\":\"/me\"}",
                              NULL};
  assert_int_equal(sc_wfc(&p, args), 0);
  if (strstr(p.stdout_, upn) == NULL)
    fail_msg("%s acts as someone else than %s:\n%s", nickname, upn, p.stdout_);
}

/* `wfc connection reauthorize NAME [extra]` in text mode; the URL it
 * prints into url. */
static void reauth_text(wproc *p, const char *nickname, const char *extra,
                        char *url, size_t len) {
  const char *const args[] = {"connection",  "reauthorize", nickname,
                              "--print-url", extra,         NULL};
  sc_spawn(p, args);
  sc_read_url(p, url, len);
}

static void reauthorize_as_another_account_is_refused(void **state) {
  (void)state;
  char id[64], now[64];
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, id, sizeof id);
  expect_acts_as("alice", ALICE_UPN);

  /* Bob, on the machine, signs in with his own account. */
  wproc p;
  char url[4096];
  reauth_text(&p, "alice", NULL, url, sizeof url);
  /* The identity provider is asked for Alice. */
  char *hint = tclient_url_param(url, "login_hint");
  assert_non_null(hint);
  assert_string_equal(hint, ALICE_UPN);
  free(hint);
  tclient *b = sc_browser();
  tresp page;
  sc_open(b, url, BOB_UPN, BOB_PW, &page);
  if (is_page(&page, "consent")) {
    tresp done;
    consent(b, &page, 1, 0, &done);
    tresp_free(&page);
    page = done;
  }
  long st = sc_to_listener(&page);
  tresp_free(&page);
  tclient_free(b);
  assert_int_equal(sc_finish(&p), 1);
  assert_int_equal(st, 400); /* the browser's page says it was refused */
  const char *want = "refused: Signed in as " BOB_UPN
                     ", but the connection \"alice\" belongs to " ALICE_UPN
                     "; nothing was changed.";
  if (strstr(p.stdout_, want) == NULL)
    fail_msg("no refusal naming both accounts in:\n%s", p.stdout_);
  assert_non_null(strstr(p.stdout_, "the connection \"alice\" keeps its "
                                    "account " ALICE_UPN));
  assert_non_null(strstr(p.stdout_, "--allow-account-change"));

  /* Nothing changed: same account, state, id; a card still acts as
   * Alice. */
  sc_expect("alice", "connected", NULL, now, sizeof now);
  assert_string_equal(now, id);
  json_object *c = sc_show("alice");
  assert_string_equal(jstr(c, "account"), ALICE_UPN);
  json_object_put(c);
  expect_acts_as("alice", ALICE_UPN);

  /* On purpose: --allow-account-change switches it to Bob, same id. */
  reauth_text(&p, "alice", "--allow-account-change", url, sizeof url);
  b = sc_browser();
  sc_open(b, url, BOB_UPN, BOB_PW, &page);
  if (is_page(&page, "consent")) {
    tresp done;
    consent(b, &page, 1, 0, &done);
    tresp_free(&page);
    page = done;
  }
  st = sc_to_listener(&page);
  tresp_free(&page);
  tclient_free(b);
  assert_int_equal(sc_finish(&p), 0);
  assert_int_equal(st, 200);
  assert_non_null(strstr(p.stdout_, "connected: \"alice\" as " BOB_UPN));
  sc_expect("alice", "connected", NULL, now, sizeof now);
  assert_string_equal(now, id);
  expect_acts_as("alice", BOB_UPN);

  /* And now Bob is whom it belongs to: Alice is refused. */
  reauth_text(&p, "alice", NULL, url, sizeof url);
  b = sc_browser();
  sc_open(b, url, ALICE_UPN, ALICE_PW, &page);
  sc_to_listener(&page);
  tresp_free(&page);
  tclient_free(b);
  assert_int_equal(sc_finish(&p), 1);
  assert_non_null(strstr(p.stdout_, "refused: Signed in as " ALICE_UPN));
  expect_acts_as("alice", BOB_UPN);
}

/* The same account reauthorizing is not refused (seed 10 holds). */
static void reauthorize_same_account_connects(void **state) {
  (void)state;
  char id[64];
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, id, sizeof id);
  sc_reauth_ok("alice", ALICE_UPN, ALICE_PW, id);
}

/* From page (the one after sign-in or the picker; freed) to the CLI:
 * accepts the consent page when shown; asserts `connected` as upn. */
static void finish_connected(wproc *p, tclient *b, tresp *page,
                             const char *upn) {
  if (is_page(page, "consent")) {
    tresp done;
    consent(b, page, 1, 0, &done);
    tresp_free(page);
    *page = done;
  }
  long st = sc_to_listener(page);
  tresp_free(page);
  assert_int_equal(sc_finish(p), 0);
  assert_int_equal(st, 200);
  json_object *res = sc_result(p);
  assert_string_equal(jstr(res, "outcome"), "connected");
  assert_string_equal(
      jstr(json_object_object_get(res, "connection"), "account"), upn);
  json_object_put(res);
}

/* `wfc connection new NAME [extra...]` --print-url --json; URL into url. */
static void new_conn(wproc *p, const char *nickname, const char *opt,
                     const char *val, char *url, size_t len) {
  const char *const args[] = {
      "connection", "new",      "--plugin",    "o365mail",    "--nickname",
      nickname,     "--tenant", TENANT_DOMAIN, "--print-url", "--json",
      opt,          val,        NULL};
  sc_spawn(p, args);
  sc_read_url(p, url, len);
}

static void new_connection_lets_the_person_choose(void **state) {
  (void)state;
  tclient *b = sc_browser(); /* one browser for the whole story */
  wproc p;
  tresp page, next;
  char url[4096];

  /* Alice connects: nobody is signed in, the sign-in page. */
  new_conn(&p, "alice", NULL, NULL, url, sizeof url);
  char *v = tclient_url_param(url, "prompt");
  assert_non_null(v);
  assert_string_equal(v, "select_account");
  free(v);
  sc_open(b, url, ALICE_UPN, ALICE_PW, &page);
  finish_connected(&p, b, &page, ALICE_UPN);

  /* Bob, at the same browser, connects his own mailbox: the picker shows
   * Alice and "Use another account"; he signs in as himself. */
  new_conn(&p, "bob", NULL, NULL, url, sizeof url);
  get(b, url, &page);
  assert_true(is_page(&page, "pick"));
  assert_non_null(strstr(page.body, "Pick an account"));
  assert_non_null(strstr(page.body, "value=\"" ALICE_UPN "\""));
  char *other = link_href(page.body, "other");
  assert_non_null(other);
  assert_non_null(strstr(page.body, ">Use another account</a>"));
  char *u = url_of(other);
  tresp_free(&page);
  get(b, u, &page);
  free(u);
  free(other);
  assert_true(is_page(&page, "signin"));
  sign_in(b, &page, BOB_UPN, BOB_PW, &next);
  tresp_free(&page);
  finish_connected(&p, b, &next, BOB_UPN);

  /* A second connection for Alice: she picks her account, no password. */
  new_conn(&p, "alice-2", NULL, NULL, url, sizeof url);
  get(b, url, &page);
  assert_true(is_page(&page, "pick"));
  assert_non_null(strstr(page.body, "value=\"" ALICE_UPN "\""));
  assert_non_null(strstr(page.body, "value=\"" BOB_UPN "\""));
  char *ctx = form_value(page.body, "ctx");
  char *form = tclient_form("ctx", ctx, "account", ALICE_UPN, NULL);
  post_form(b, "/" TENANT_DOMAIN "/login/select", form, &next);
  free(form);
  free(ctx);
  tresp_free(&page);
  assert_false(is_page(&next, "signin"));
  finish_connected(&p, b, &next, ALICE_UPN);

  /* --login-hint names the account: no prompt, the hint is sent, and the
   * browser's session for Bob signs him in without a page. */
  new_conn(&p, "bob-2", "--login-hint", BOB_UPN, url, sizeof url);
  assert_null(tclient_url_param(url, "prompt"));
  v = tclient_url_param(url, "login_hint");
  assert_string_equal(v, BOB_UPN);
  free(v);
  get(b, url, &page);
  assert_false(is_page(&page, "pick"));
  assert_false(is_page(&page, "signin"));
  finish_connected(&p, b, &page, BOB_UPN);
  tclient_free(b);

  /* `wfc connection new --help` says so. */
  const char *const help[] = {"connection", "new", "--help", NULL};
  sc_wfc(&p, help);
  if (strstr(p.stdout_, "select_account") == NULL &&
      strstr(p.stderr_, "select_account") == NULL)
    fail_msg("--help does not mention select_account:\n%s%s", p.stdout_,
             p.stderr_);
}

/* Item 4 through wfc: a user meets "Need admin approval", follows "Have an
 * admin account? Sign in with that account", the admin signs in and
 * consents for the organization: the CLI that waits gets the admin's
 * connection (the same state came back), nothing in the browser is a
 * developer's message. */
static void admin_account_link_keeps_the_request(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings",
           "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":false}");
  tclient *b = sc_browser();
  wproc p;
  tresp page, next, cons;
  char url[4096];
  new_conn(&p, "team", NULL, NULL, url, sizeof url);
  sc_open(b, url, ALICE_UPN, ALICE_PW, &page);
  assert_non_null(strstr(page.body, "Need admin approval"));
  char *adm = link_href(page.body, "admin-signin");
  assert_non_null(adm);
  char *u = url_of(adm);
  tresp_free(&page);
  get(b, u, &next); /* sign out, then the same request with prompt=login */
  free(u);
  free(adm);
  assert_int_equal(next.status, 302);
  get(b, tresp_header(&next, "Location"), &page);
  tresp_free(&next);
  assert_true(is_page(&page, "signin"));
  sign_in(b, &page, ADMIN_UPN, ADMIN_PW, &cons);
  tresp_free(&page);
  assert_true(is_page(&cons, "consent"));
  consent(b, &cons, 1, 1, &next);
  tresp_free(&cons);
  finish_connected(&p, b, &next, ADMIN_UPN);
  tclient_free(b);
}

/* The browser follows r's redirect to wfc's listener: the page it shows
 * (status and body into out). */
static void listener_page(const tresp *r, tresp *out) {
  const char *loc = tresp_header(r, "Location");
  if (r->status != 302 || loc == NULL || strstr(loc, "/callback?") == NULL)
    fail_msg("expected a redirect to wfc's listener, got %ld: %s", r->status,
             r->body);
  tclient *c = tclient_new(0);
  get(c, loc, out);
  tclient_free(c);
}

/* `wfc connection admin-consent NAME --print-url`: the URL into url. */
static void admin_consent_cmd(wproc *p, const char *nickname, char *url,
                              size_t len) {
  const char *const args[] = {"connection",  "admin-consent", nickname,
                              "--print-url", "--timeout",     "60",
                              NULL};
  sc_spawn(p, args);
  sc_read_url(p, url, len);
  assert_non_null(strstr(url, "/v2.0/adminconsent?"));
  char *st = tclient_url_param(url, "state");
  assert_non_null(st);
  assert_true(strlen(st) >= 32);
  free(st);
}

/* Item 3: the remedy of "Need admin approval" does not lead to a dead
 * page. `wfc connection admin-consent NAME` listens while the
 * administrator is at the page and reports the outcome; the administrator
 * ends on a page that says what happened: declined, an error (a user who
 * is no admin), granted; then the user reauthorizes. */
static void admin_consent_command_reports(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings",
           "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":false}");
  wproc p;
  tclient *b;
  tresp page, next, shown;
  char url[4096];
  /* Alice meets "Need admin approval"; wfc names the command. */
  const char *const args[] = {"connection",  "new",  "--plugin", "o365mail",
                              "--nickname",  "team", "--tenant", TENANT_DOMAIN,
                              "--print-url", NULL};
  sc_spawn(&p, args);
  sc_read_url(&p, url, sizeof url);
  b = sc_browser();
  sc_open(b, url, ALICE_UPN, ALICE_PW, &page);
  assert_non_null(strstr(page.body, "Need admin approval"));
  wuser_return_to_app(b, base(), &page);
  tresp_free(&page);
  tclient_free(b);
  assert_int_equal(sc_finish(&p), 1);
  assert_non_null(strstr(p.stdout_,
                         "an administrator can grant it with `wfc connection "
                         "admin-consent team`"));

  /* The administrator declines. */
  admin_consent_cmd(&p, "team", url, sizeof url);
  b = sc_browser();
  sc_open(b, url, ADMIN_UPN, ADMIN_PW, &page);
  assert_true(is_page(&page, "consent"));
  consent(b, &page, 0, 0, &next);
  listener_page(&next, &shown);
  assert_non_null(strstr(shown.body, "Admin consent declined"));
  assert_non_null(strstr(shown.body, "were declined"));
  tresp_free(&page), tresp_free(&next), tresp_free(&shown), tclient_free(b);
  assert_int_equal(sc_finish(&p), 1);
  assert_non_null(strstr(p.stdout_, "declined: The permissions for "));

  /* Bob, who is no administrator, opens it and returns: an error. */
  admin_consent_cmd(&p, "team", url, sizeof url);
  b = sc_browser();
  sc_open(b, url, BOB_UPN, BOB_PW, &page);
  assert_non_null(strstr(page.body, "Need admin approval"));
  char *ret = link_href(page.body, "return");
  char *u = url_of(ret);
  get(b, u, &next);
  free(u), free(ret);
  listener_page(&next, &shown);
  assert_non_null(strstr(shown.body, "Admin consent failed"));
  assert_non_null(strstr(shown.body, "nothing was granted"));
  tresp_free(&page), tresp_free(&next), tresp_free(&shown), tclient_free(b);
  assert_int_equal(sc_finish(&p), 1);
  assert_non_null(strstr(p.stdout_, "error: The admin consent for "));

  /* The administrator grants. */
  admin_consent_cmd(&p, "team", url, sizeof url);
  b = sc_browser();
  sc_open(b, url, ADMIN_UPN, ADMIN_PW, &page);
  consent(b, &page, 1, 0, &next);
  listener_page(&next, &shown);
  assert_int_equal(shown.status, 200);
  assert_non_null(strstr(shown.body, "Admin consent granted"));
  assert_non_null(strstr(shown.body, "for the whole organization"));
  tresp_free(&page), tresp_free(&next), tresp_free(&shown), tclient_free(b);
  assert_int_equal(sc_finish(&p), 0);
  assert_non_null(strstr(p.stdout_, "granted: An administrator granted "));
  assert_non_null(
      strstr(p.stdout_, "now run `wfc connection reauthorize team`"));

  /* Alice reauthorizes: no consent page, connected. */
  char id[64];
  sc_expect("team", "needs_admin_approval", "Ask an administrator", id,
            sizeof id);
  sc_reauth_ok("team", ALICE_UPN, ALICE_PW, id);
}

/* Item 3, the remedy's own link: "needs admin approval" prints a link an
 * administrator can open any time later (the app's page in the admin
 * portal, as the seed's administrators grant consent: Enterprise
 * applications > the app > Permissions > Grant admin consent), not an
 * admin consent URL redirecting to the listener of the command that has
 * ended. Following it, the administrator grants consent and the page says
 * so; the user then reauthorizes and connects. */
static void remedy_link_works_later(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings",
           "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":false}");
  wproc p;
  tresp page, granted;
  char url[4096];
  const char *const args[] = {"connection",  "new",  "--plugin", "o365mail",
                              "--nickname",  "crew", "--tenant", TENANT_DOMAIN,
                              "--print-url", NULL};
  sc_spawn(&p, args);
  sc_read_url(&p, url, sizeof url);
  tclient *b = sc_browser();
  sc_open(b, url, ALICE_UPN, ALICE_PW, &page);
  assert_non_null(strstr(page.body, "Need admin approval"));
  wuser_return_to_app(b, base(), &page);
  tresp_free(&page);
  tclient_free(b);
  assert_int_equal(sc_finish(&p), 1);
  /* wfc has exited: its listener is gone. The printed link: */
  const char *pre = "needs admin approval: Ask an administrator to grant "
                    "consent: ";
  const char *at = strstr(p.stdout_, pre);
  if (at == NULL)
    fail_msg("no remedy link in:\n%s", p.stdout_);
  at += strlen(pre);
  char *link = strndup(at, strcspn(at, " \n"));
  assert_non_null(strstr(link, "://"));

  /* The administrator opens it later, in another browser. */
  tclient *admin = sc_browser();
  get(admin, link, &page);
  if (page.status != 200 || strstr(page.body, "Grant admin consent") == NULL)
    fail_msg("the remedy's link %s gave %ld:\n%s", link, page.status,
             page.body);
  char *action = tclient_html_attr(page.body, "<form", "action");
  assert_non_null(action);
  char *u = url_of(action);
  assert_int_equal(tclient_request(admin, "POST", u, NULL, "", &granted), 0);
  assert_int_equal(granted.status, 200);
  assert_non_null(strstr(granted.body, "Admin consent granted"));
  free(u), free(action), free(link);
  tresp_free(&page), tresp_free(&granted), tclient_free(admin);

  /* Alice reauthorizes: no consent page, connected. */
  char id[64];
  sc_expect("crew", "needs_admin_approval", "Ask an administrator", id,
            sizeof id);
  sc_reauth_ok("crew", ALICE_UPN, ALICE_PW, id);
}

#define T(f) cmocka_unit_test_setup_teardown(f, sc_up, sc_down)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(reauthorize_as_another_account_is_refused),
      T(reauthorize_same_account_connects),
      T(new_connection_lets_the_person_choose),
      T(admin_account_link_keeps_the_request),
      T(admin_consent_command_reports),
      T(remedy_link_works_later),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
