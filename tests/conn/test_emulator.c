/* test_emulator.c - `wfc connection new --print-url` with the real
 * o365mail plugin against the m365 emulator: the test plays the browser on
 * the emulator's sign-in and consent pages (tests/emulator/identity_flow.h)
 * and follows the redirect to the CLI's loopback listener. Then refresh,
 * reauthorize (same id, no consent page the second time), revoke, a user
 * who needs admin approval (the connection is kept with the remedy), and
 * the admin consent workflow; the listener ignores every local request
 * that does not carry this authorization's state. The connection's endpoints
 * and client id are given as --param (tests/scenarios use the environment).
 * Running `wfc`, the approval pages, the portal and the state checks are
 * tests/support/wfc_user.h. */
#define _POSIX_C_SOURCE 200809L /* strndup, strdup */
#include <stddef.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "../emulator/identity_flow.h"
#include "wfc_user.h"

/* The user of `wfc` (store directory, CLI and plugin paths). */
static wuser u;

/* The URL (first stdout line) of an authorizing command, at the emulator. */
static void read_url(wproc *p, char *url, size_t len) {
  wuser_read_url(p, base(), url, len);
  assert_non_null(strstr(url, "/oauth2/v2.0/authorize?"));
}

static int setup(void **state) {
  if (wuser_init(&u, "connemu") != 0)
    return -1;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return emu_setup(state);
}

static int teardown(void **state) {
  int rc = emu_teardown(state);
  if (wuser_cleanup(&u) != 0)
    rc = -1;
  curl_global_cleanup();
  return rc;
}

static void params(char *auth, char *graph, size_t len) {
  snprintf(auth, len, "authority_url=%s", base());
  snprintf(graph, len, "graph_url=%s/v1.0", base());
}

/* Starts `wfc connection new` for user nickname, with --timeout S when
 * timeout is not NULL; returns the URL. */
static void new_within(wproc *p, const char *nickname, const char *timeout,
                       char *url, size_t len) {
  static char auth[256], graph[256];
  params(auth, graph, sizeof auth);
  const char *const args[] = {"connection",  "new",
                              "--plugin",    "o365mail",
                              "--nickname",  nickname,
                              "--env",       "preview",
                              "--tenant",    TENANT_DOMAIN,
                              "--param",     auth,
                              "--param",     graph,
                              "--param",     "client_id=" PREVIEW,
                              "--print-url", timeout ? "--timeout" : NULL,
                              timeout,       NULL};
  wuser_spawn(&u, p, args);
  read_url(p, url, len);
}

static void new_for(wproc *p, const char *nickname, char *url, size_t len) {
  new_within(p, nickname, NULL, url, len);
}

/* A browser (returned; free it) that opened url and signed in as upn: the
 * page that follows is in *out. */
static tclient *signed_in_as(const char *url, const char *upn, const char *pw,
                             tresp *out) {
  tclient *b = tclient_new(1);
  tresp page;
  get(b, url, &page);
  sign_in(b, &page, upn, pw, out);
  tresp_free(&page);
  return b;
}

/* `wfc connection reauthorize NAME --print-url [--json]` where consent is
 * given already: sign-in as upn, no consent page, back to the listener;
 * asserts it succeeded (outputs in p). */
static void reauth_no_consent(wproc *p, const char *nickname, const char *upn,
                              const char *pw, int json) {
  const char *const args[] = {"connection",  "reauthorize",          nickname,
                              "--print-url", json ? "--json" : NULL, NULL};
  char url[4096];
  wuser_spawn(&u, p, args);
  read_url(p, url, sizeof url);
  tresp after;
  tclient *b = signed_in_as(url, upn, pw, &after);
  assert_false(is_page(&after, "consent"));
  long st = wuser_to_listener(&after);
  tresp_free(&after), tclient_free(b);
  assert_int_equal(wuser_finish(&u, p), 0);
  assert_int_equal(st, 200);
}

static void admin_connects_refreshes_reauthorizes_revokes(void **state) {
  (void)state;
  char url[4096];
  wproc p;
  new_for(&p, "admin", url, sizeof url);

  /* The browser: sign in as the admin, accept for the admin only. */
  tresp after, done;
  tclient *b = signed_in_as(url, ADMIN_UPN, ADMIN_PW, &after);
  consent(b, &after, 1, 0, &done);
  long st = wuser_to_listener(&done);
  tresp_free(&after);
  tresp_free(&done);
  tclient_free(b);
  assert_int_equal(wuser_finish(&u, &p), 0);
  assert_int_equal(st, 200);
  assert_non_null(strstr(p.stdout_, "connected: \"admin\" as " ADMIN_UPN));

  char id[64];
  wuser_expect(&u, "admin", "connected", NULL, id, sizeof id);
  json_object *c = wuser_show(&u, "admin");
  assert_string_equal(jstr(c, "environment"), "preview");
  json_object_put(c);

  const char *const refresh_args[] = {"connection", "refresh", "admin", NULL};
  assert_int_equal(wuser_run(&u, &p, refresh_args), 0);
  const char *const test_args[] = {"connection", "test", "admin", NULL};
  assert_int_equal(wuser_run(&u, &p, test_args), 0);

  /* Reauthorize: consent is remembered, so no consent page; same id. */
  reauth_no_consent(&p, "admin", ADMIN_UPN, ADMIN_PW, 1);
  json_object *res = wuser_result(&p);
  assert_string_equal(jstr(res, "outcome"), "connected");
  assert_string_equal(jstr(json_object_object_get(res, "connection"), "id"),
                      id);
  json_object_put(res);

  const char *const revoke_args[] = {"connection", "revoke", "admin", NULL};
  assert_int_equal(wuser_run(&u, &p, revoke_args), 0);
  assert_non_null(strstr(p.stdout_, "revoked \"admin\": secrets wiped"));
}

/* ---- the sign-in listener against other local requests ------------------
 */

/* A TCP connection to 127.0.0.1:port (answers time out after 10 s). */
static int dial_port(int port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_port = htons((uint16_t)port)};
  inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

/* GET listener + suffix as another program would: asserts the page for an
 * ignored request (400, plain words, no piece of the query) and that p
 * keeps waiting. The markers NOTOURCODE / NOTOURSTATE are long enough that
 * the command's own random state and PKCE values never contain them (the
 * two-letter markers used before did, now and then). */
static void ignored(const wproc *p, const char *listener, const char *suffix) {
  char url[1024];
  snprintf(url, sizeof url, "%s%s", listener, suffix);
  tclient *c = tclient_new(0);
  tresp r;
  tclient_request(c, "GET", url, NULL, NULL, &r);
  if (r.status != 400 ||
      strstr(r.body, "This page is not the answer to the sign-in wfc is "
                     "waiting for") == NULL)
    fail_msg("GET %s: %ld %s", suffix, r.status, r.body);
  assert_null(strstr(r.body, "NOTOURCODE"));
  assert_null(strstr(r.body, "NOTOURSTATE"));
  assert_null(strstr(r.body, "access_denied"));
  tresp_free(&r);
  tclient_free(c);
  assert_true(wproc_running(p));
}

/* Any local process can reach the listener of `wfc connection new`. During
 * a real authorization: requests without a query, with another state, an
 * error without or with another state, the state of an earlier
 * authorization, a flood of them, idle and slow connections and a huge
 * request: each is refused with a 400 page (431 for the huge one) and the
 * command keeps waiting; then the real sign-in completes and the
 * connection is connected. An earlier authorization that got only such a
 * request ends at its timeout, with a message saying so. */
static void listener_waits_for_this_authorization(void **state) {
  (void)state;
  /* The earlier authorization: a stray request, then its timeout. */
  wproc p1;
  char url1[4096];
  new_within(&p1, "earlier", "2", url1, sizeof url1);
  char *state1 = tclient_url_param(url1, "state");
  char *listener1 = tclient_url_param(url1, "redirect_uri");
  assert_non_null(state1);
  assert_non_null(listener1);
  ignored(&p1, listener1, "?code=NOTOURCODE1");
  assert_int_equal(wuser_finish(&u, &p1), 1);
  assert_non_null(strstr(p1.stderr_, "no answer from the browser in time"));
  assert_non_null(strstr(p1.stderr_,
                         "1 other request to the sign-in listener did not "
                         "carry this authorization's state and was ignored"));
  assert_null(strstr(p1.stderr_, "NOTOURCODE1"));
  assert_int_equal(wuser_get_status(listener1), 0); /* it is gone */

  /* The real one. */
  wproc p;
  char url[4096];
  new_for(&p, "carol", url, sizeof url);
  char *st = tclient_url_param(url, "state");
  char *listener = tclient_url_param(url, "redirect_uri");
  assert_non_null(st);
  assert_non_null(listener);
  assert_string_not_equal(st, state1);
  const char *colon = strrchr(listener, ':');
  int port = atoi(colon + 1);

  char q[512];
  ignored(&p, listener, "");
  ignored(&p, listener, "?");
  ignored(&p, listener, "?code=NOTOURCODE2");
  ignored(&p, listener, "?code=NOTOURCODE2&state=NOTOURSTATE-wrong");
  ignored(&p, listener, "?error=access_denied&error_description=NOTOURCODE3");
  ignored(&p, listener, "?error=access_denied&state=NOTOURSTATE-wrong");
  snprintf(q, sizeof q, "?code=NOTOURCODE4&state=%s", state1); /* replayed */
  ignored(&p, listener, q);
  snprintf(q, sizeof q, "?code=NOTOURCODE5&state=%.*s", (int)strlen(st) - 1,
           st);
  ignored(&p, listener, q); /* a prefix of the right one */

  /* Idle and slow connections, more than the listener's client slots. */
  enum { IDLE = 24 };
  int fds[IDLE];
  for (int i = 0; i < IDLE; i++) {
    fds[i] = dial_port(port);
    if (i % 2)
      assert_int_equal(write(fds[i], "GET /callback?co", 16), 16);
  }
  /* A request head over the listener's 8 KiB: 431. */
  static char big[12000];
  memset(big, 'a', sizeof big);
  memcpy(big, "GET /callback?x=", 16);
  int fd = dial_port(port);
  assert_true(write(fd, big, sizeof big) > 0);
  char ans[256] = "";
  ssize_t n = recv(fd, ans, sizeof ans - 1, 0);
  ans[n > 0 ? n : 0] = '\0';
  close(fd);
  assert_true(strncmp(ans, "HTTP/1.1 431", 12) == 0);
  /* A flood of wrong ones. */
  for (int i = 0; i < 50; i++) {
    snprintf(q, sizeof q, "?code=NOTOURCODE6&state=NOTOURSTATE-%d", i);
    ignored(&p, listener, q);
  }

  /* The browser: sign in (consent when asked), back to the listener. */
  tresp after, done;
  tclient *b = signed_in_as(url, ADMIN_UPN, ADMIN_PW, &after);
  long status;
  if (is_page(&after, "consent")) {
    consent(b, &after, 1, 0, &done);
    status = wuser_to_listener(&done);
    tresp_free(&done);
  } else {
    status = wuser_to_listener(&after);
  }
  tresp_free(&after);
  tclient_free(b);
  for (int i = 0; i < IDLE; i++)
    close(fds[i]);
  assert_int_equal(status, 200);
  assert_int_equal(wuser_finish(&u, &p), 0);
  assert_non_null(strstr(p.stdout_, "connected: \"carol\" as " ADMIN_UPN));
  /* One warning for the ignored requests, none of their query in it. */
  assert_non_null(strstr(p.stderr_, "sign-in listener: ignored a request"));
  assert_null(strstr(p.stderr_, "NOTOURCODE"));
  assert_null(strstr(p.stderr_, "NOTOURSTATE"));
  wuser_expect(&u, "carol", "connected", NULL, NULL, 0);
  free(state1), free(listener1), free(st), free(listener);
}

/* Seed scenario 4: user consent off. The user sees "Need admin approval";
 * the connection is kept as needs_admin_approval with the admin-consent
 * URL in its remedy. */
static void user_needs_admin_approval(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings",
           "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":"
           "false}");
  wproc p;
  char url[4096];
  new_for(&p, "alice", url, sizeof url);
  tresp signed_in;
  tclient *b = signed_in_as(url, ALICE_UPN, ALICE_PW, &signed_in);
  assert_non_null(strstr(signed_in.body, "Need admin approval"));
  long st = wuser_return_to_app(b, base(), &signed_in);
  tresp_free(&signed_in);
  tclient_free(b);
  assert_int_equal(wuser_finish(&u, &p), 1);
  assert_int_equal(st, 400);
  assert_non_null(strstr(p.stdout_, "needs admin approval: "));
  /* No portal_url with an identity platform of its own: the steps. */
  assert_non_null(strstr(p.stdout_, "(Enterprise applications > "
                                    "Permissions > Grant admin consent)"));
  wuser_expect(&u, "alice", "needs_admin_approval",
               "Ask an administrator to grant consent to the app", NULL, 0);
}

/* Seed scenario 5, then 9: the admin consent workflow (approval_pending,
 * the admin approves, the user reauthorizes the same connection), then the
 * enterprise app is deleted: the connection works until its access token
 * expires and then needs reauthorization, without a refresh loop. The
 * whole of 5 (denial, cards, mail) is in tests/scenarios. */
static void approval_workflow_then_app_deleted(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings",
           "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":"
           "true}");
  wproc p;
  char url[4096];
  new_for(&p, "bob", url, sizeof url);
  tresp signed_in, sent;
  tclient *b = signed_in_as(url, BOB_UPN, BOB_PW, &signed_in);
  wuser_request_approval(b, base(), &signed_in, "Support inbox", &sent);
  long st = wuser_return_to_app(b, base(), &sent);
  tresp_free(&signed_in), tresp_free(&sent);
  tclient_free(b);
  assert_int_equal(wuser_finish(&u, &p), 1);
  assert_int_equal(st, 400);
  assert_non_null(strstr(p.stdout_, "approval request submitted"));
  char id[64];
  wuser_expect(&u, "bob", "approval_pending", "once it is approved", id,
               sizeof id);

  /* The admin approves from "Admin consent requests". */
  json_object *v = wuser_consent_requests(base(), "pending");
  assert_int_equal(json_object_array_length(v), 1);
  json_object *rq = json_object_array_get_idx(v, 0);
  assert_string_equal(jstr(rq, "justification"), "Support inbox");
  wuser_review(base(), jstr(rq, "id"), 1, ADMIN_UPN);
  json_object_put(v);

  /* The user authorizes the same connection again: connected, same id. */
  reauth_no_consent(&p, "bob", BOB_UPN, BOB_PW, 0);
  assert_non_null(strstr(p.stdout_, "connected: \"bob\" as " BOB_UPN));
  assert_non_null(strstr(p.stdout_, id));
  wuser_expect(&u, "bob", "connected", NULL, NULL, 0);

  /* Scenario 9: the enterprise app is deleted. The token still works... */
  admin_ok("DELETE", "/__emulator/apps/" PREVIEW, NULL);
  const char *const test_args[] = {"connection", "test", "bob", NULL};
  assert_int_equal(wuser_run(&u, &p, test_args), 0);
  /* ...until it expires (virtual time); the refresh then fails for good. */
  advance(3700);
  const char *const refresh_args[] = {"connection", "refresh", "bob", NULL};
  assert_int_equal(wuser_run(&u, &p, refresh_args), 1);
  assert_non_null(
      strstr(p.stderr_, "refresh failed: reauthorization required"));
  assert_non_null(strstr(p.stderr_, "AADSTS"));
  wuser_expect(&u, "bob", "reauthorization_required", "AADSTS", NULL, 0);
  /* Fails fast afterwards: no request to the token endpoint. */
  assert_int_equal(wuser_run(&u, &p, test_args), 1);
  assert_non_null(strstr(p.stderr_, "reauthorization_required"));
}

/* Asserts that text contains what (text is printed when not). */
static void says(const char *text, const char *what) {
  if (strstr(text, what) == NULL)
    fprintf(stderr, "expected \"%s\" in: %s\n", what, text);
  assert_non_null(strstr(text, what));
}

/* An administrator disables the app (Enterprise applications > the app >
 * Properties > "Enabled for users to sign-in" = No): the refresh of a
 * delegated connection is refused (AADSTS7000112), and `connection
 * refresh` and a card say so with the remedy; the connection stays
 * connected (nothing for the user to do) and works again, with the same
 * refresh token, once the app is enabled. */
static void disabled_app_refresh_names_it(void **state) {
  (void)state;
  char url[4096];
  wproc p;
  new_for(&p, "dis", url, sizeof url);
  tresp after, done;
  tclient *b = signed_in_as(url, ADMIN_UPN, ADMIN_PW, &after);
  long st;
  if (is_page(&after, "consent")) {
    consent(b, &after, 1, 0, &done);
    st = wuser_to_listener(&done);
    tresp_free(&done);
  } else {
    st = wuser_to_listener(&after);
  }
  tresp_free(&after);
  tclient_free(b);
  assert_int_equal(wuser_finish(&u, &p), 0);
  assert_int_equal(st, 200);

  admin_ok("POST", "/__emulator/apps/" PREVIEW "/disable", NULL);
  advance(3 * 3600); /* the access token expires (60-90 min) */
  const char *const refresh_args[] = {"connection", "refresh", "dis", NULL};
  assert_int_equal(wuser_run(&u, &p, refresh_args), 1);
  says(p.stderr_, "AADSTS7000112: Application '" PREVIEW "'");
  says(p.stderr_, "is disabled");
  says(p.stderr_, "Properties > \"Enabled for users to sign-in\" = Yes");
  wuser_expect(&u, "dis", "connected", NULL, NULL, 0);
  const char *const card[] = {"card", "run",     "list_folders", "--connection",
                              "dis",  "--input", "{}",           NULL};
  int card_rc = wuser_run(&u, &p, card);
  if (card_rc != 1)
    fprintf(stderr, "card: %s\n%s\n", p.stdout_, p.stderr_);
  assert_int_equal(card_rc, 1);
  says(p.stderr_, "AADSTS7000112");
  says(p.stderr_, "\"Enabled for users to sign-in\" = Yes");

  admin_ok("POST", "/__emulator/apps/" PREVIEW "/enable", NULL);
  assert_int_equal(wuser_run(&u, &p, refresh_args), 0);
  assert_int_equal(wuser_run(&u, &p, card), 0);
  wuser_expect(&u, "dis", "connected", NULL, NULL, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(admin_connects_refreshes_reauthorizes_revokes),
      cmocka_unit_test(listener_waits_for_this_authorization),
      cmocka_unit_test(disabled_app_refresh_names_it),
      cmocka_unit_test(user_needs_admin_approval),
      cmocka_unit_test(approval_workflow_then_app_deleted),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
