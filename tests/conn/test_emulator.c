/* test_emulator.c - `wfc connection new --print-url` with the real
 * o365mail plugin against the m365 emulator: the test plays the browser on
 * the emulator's sign-in and consent pages (tests/emulator/identity_flow.h)
 * and follows the redirect to the CLI's loopback listener. Then refresh,
 * reauthorize (same id, no consent page the second time), revoke, and a
 * user who needs admin approval (the connection is kept with the remedy). */
#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../emulator/identity_flow.h"
#include "conn_util.h"
#include "wfc_proc.h"

static char dir[128], store[192], wfc_bin[512], plugins[512];

typedef wproc proc;

static void proc_spawn(proc *p, const char *const *args) {
  wproc_spawn(p, wfc_bin, args, store, plugins);
}

static int proc_finish(proc *p) {
  wproc_wait(p);
  if (p->code != 0)
    fprintf(stderr, "wfc exit %d\nstdout: %s\nstderr: %s\n", p->code,
            p->stdout_, p->stderr_);
  /* No token in the output: the emulator's tokens are JWTs ("eyJ"). */
  assert_null(strstr(p->stdout_, "eyJ"));
  assert_null(strstr(p->stderr_, "eyJ"));
  return p->code;
}

static int wfc(proc *p, const char *const *args) {
  proc_spawn(p, args);
  return proc_finish(p);
}

/* Reads the URL (first stdout line) of an authorizing command. */
static void read_url(proc *p, char *url, size_t len) {
  wproc_read_line(p, url, len);
}

/* The browser: follows r's redirect to the CLI's listener. */
static long follow_to_listener(const tresp *r) {
  const char *loc = tresp_header(r, "Location");
  if (r->status != 302 || loc == NULL)
    fprintf(stderr, "expected a redirect, got %ld: %s\n", r->status, r->body);
  assert_int_equal(r->status, 302);
  assert_non_null(loc);
  assert_true(strncmp(loc, "http://127.0.0.1:", 17) == 0);
  assert_non_null(strstr(loc, "/callback?"));
  tclient *c = tclient_new(0);
  tresp page;
  tclient_request(c, "GET", loc, NULL, NULL, &page);
  long st = page.status; /* 0 when the listener did not answer */
  tresp_free(&page);
  tclient_free(c);
  return st;
}

static int setup(void **state) {
  snprintf(dir, sizeof dir, "/tmp/wfc-connemu-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  snprintf(store, sizeof store, "%s/store.db", dir);
  snprintf(wfc_bin, sizeof wfc_bin, "%s/bin/wfc", WFC_BUILD_DIR);
  snprintf(plugins, sizeof plugins, "%s/plugins", WFC_BUILD_DIR);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return emu_setup(state);
}

static int teardown(void **state) {
  int rc = emu_teardown(state);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0)
    rc = -1;
  curl_global_cleanup();
  return rc;
}

static void params(char *auth, char *graph, size_t len) {
  snprintf(auth, len, "authority_url=%s", base());
  snprintf(graph, len, "graph_url=%s/v1.0", base());
}

static void admin_connects_refreshes_reauthorizes_revokes(void **state) {
  (void)state;
  char auth[256], graph[256], url[4096];
  params(auth, graph, sizeof auth);
  const char *const new_args[] = {
      "connection",  "new",         "--plugin", "o365mail",
      "--nickname",  "admin",       "--env",    "preview",
      "--tenant",    TENANT_DOMAIN, "--param",  auth,
      "--param",     graph,         "--param",  "client_id=" PREVIEW,
      "--print-url", NULL};
  proc p;
  proc_spawn(&p, new_args);
  read_url(&p, url, sizeof url);
  assert_true(strncmp(url, base(), strlen(base())) == 0);
  assert_non_null(strstr(url, "/oauth2/v2.0/authorize?"));

  /* The browser: sign in as the admin, accept for the admin only. */
  tclient *b = tclient_new(1);
  tresp page, after, done;
  get(b, url, &page);
  sign_in(b, &page, ADMIN_UPN, ADMIN_PW, &after);
  consent(b, &after, 1, 0, &done);
  long st = follow_to_listener(&done);
  tresp_free(&page);
  tresp_free(&after);
  tresp_free(&done);
  tclient_free(b);
  assert_int_equal(proc_finish(&p), 0);
  assert_int_equal(st, 200);
  assert_non_null(strstr(p.stdout_, "connected: \"admin\" as " ADMIN_UPN));

  const char *const show[] = {"connection", "show", "admin", "--json", NULL};
  assert_int_equal(wfc(&p, show), 0);
  json_object *c = json_tokener_parse(p.stdout_);
  const char *cid = jstr(c, "id");
  assert_non_null(cid);
  char id[64];
  snprintf(id, sizeof id, "%s", cid ? cid : "");
  assert_string_equal(jstr(c, "state"), "connected");
  assert_string_equal(jstr(c, "environment"), "preview");
  json_object_put(c);

  const char *const refresh_args[] = {"connection", "refresh", "admin", NULL};
  assert_int_equal(wfc(&p, refresh_args), 0);
  const char *const test_args[] = {"connection", "test", "admin", NULL};
  assert_int_equal(wfc(&p, test_args), 0);

  /* Reauthorize: consent is remembered, so no consent page; same id. */
  const char *const re_args[] = {"connection",  "reauthorize", "admin",
                                 "--print-url", "--json",      NULL};
  proc_spawn(&p, re_args);
  read_url(&p, url, sizeof url);
  b = tclient_new(1);
  get(b, url, &page);
  sign_in(b, &page, ADMIN_UPN, ADMIN_PW, &after);
  st = follow_to_listener(&after);
  tresp_free(&page);
  tresp_free(&after);
  tclient_free(b);
  assert_int_equal(proc_finish(&p), 0);
  assert_int_equal(st, 200);
  json_object *res = json_tokener_parse(strchr(p.stdout_, '\n') + 1);
  assert_non_null(res);
  assert_string_equal(jstr(res, "outcome"), "connected");
  assert_string_equal(jstr(json_object_object_get(res, "connection"), "id"),
                      id);
  json_object_put(res);

  const char *const revoke_args[] = {"connection", "revoke", "admin", NULL};
  assert_int_equal(wfc(&p, revoke_args), 0);
  assert_non_null(strstr(p.stdout_, "revoked \"admin\": secrets wiped"));
}

/* Starts `wfc connection new` for user nickname; returns the URL. */
static void new_for(proc *p, const char *nickname, char *url, size_t len) {
  static char auth[256], graph[256];
  params(auth, graph, sizeof auth);
  const char *const args[] = {
      "connection",  "new",         "--plugin", "o365mail",
      "--nickname",  nickname,      "--env",    "preview",
      "--tenant",    TENANT_DOMAIN, "--param",  auth,
      "--param",     graph,         "--param",  "client_id=" PREVIEW,
      "--print-url", NULL};
  proc_spawn(p, args);
  read_url(p, url, len);
}

/* Seed scenario 4: user consent off. The user sees "Need admin approval";
 * the connection is kept as needs_admin_approval with the admin-consent
 * URL in its remedy. */
static void user_needs_admin_approval(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings",
           "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":"
           "false}");
  proc p;
  char url[4096];
  new_for(&p, "alice", url, sizeof url);
  tclient *b = tclient_new(1);
  tresp page, r;
  get(b, url, &page);
  tresp signed_in;
  sign_in(b, &page, ALICE_UPN, ALICE_PW, &signed_in);
  assert_non_null(strstr(signed_in.body, "Need admin approval"));
  char *ret = link_href(signed_in.body, "return");
  char *u = url_of(ret);
  get(b, u, &r);
  long st = follow_to_listener(&r);
  free(u);
  free(ret);
  tresp_free(&page);
  tresp_free(&signed_in);
  tresp_free(&r);
  tclient_free(b);
  assert_int_equal(proc_finish(&p), 1);
  assert_int_equal(st, 400);
  assert_non_null(strstr(p.stdout_, "needs admin approval: "));
  assert_non_null(strstr(p.stdout_, "/v2.0/adminconsent?client_id=" PREVIEW));
  const char *const show[] = {"connection", "show", "alice", "--json", NULL};
  assert_int_equal(wfc(&p, show), 0);
  json_object *c = json_tokener_parse(p.stdout_);
  assert_string_equal(jstr(c, "state"), "needs_admin_approval");
  assert_non_null(strstr(jstr(c, "remedy"), "adminconsent"));
  json_object_put(c);
}

/* Seed scenario 5, then 9: the admin consent workflow (approval_pending,
 * the admin approves, the user reauthorizes the same connection), then the
 * enterprise app is deleted: the connection works until its access token
 * expires and then needs reauthorization, without a refresh loop. */
static void approval_workflow_then_app_deleted(void **state) {
  (void)state;
  admin_ok("POST", "/__emulator/consent/settings",
           "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":"
           "true}");
  proc p;
  char url[4096];
  new_for(&p, "bob", url, sizeof url);
  tclient *b = tclient_new(1);
  tresp page, signed_in, sent, r;
  get(b, url, &page);
  sign_in(b, &page, BOB_UPN, BOB_PW, &signed_in);
  assert_true(is_page(&signed_in, "request"));
  char *ctx = form_value(signed_in.body, "ctx");
  char *form = tclient_form("ctx", ctx, "justification", "Support inbox",
                            "action", "request", NULL);
  post_form(b, "/" TENANT_DOMAIN "/Consent/Request", form, &sent);
  char *ret = link_href(sent.body, "return");
  char *u = url_of(ret);
  get(b, u, &r);
  long st = follow_to_listener(&r);
  free(u), free(ret), free(form), free(ctx);
  tresp_free(&page), tresp_free(&signed_in), tresp_free(&sent);
  tresp_free(&r);
  tclient_free(b);
  assert_int_equal(proc_finish(&p), 1);
  assert_int_equal(st, 400);
  assert_non_null(strstr(p.stdout_, "approval request submitted"));
  const char *const show[] = {"connection", "show", "bob", "--json", NULL};
  assert_int_equal(wfc(&p, show), 0);
  json_object *c = json_tokener_parse(p.stdout_);
  assert_string_equal(jstr(c, "state"), "approval_pending");
  const char *cid = jstr(c, "id");
  assert_non_null(cid);
  char id[64];
  snprintf(id, sizeof id, "%s", cid ? cid : "");
  json_object_put(c);

  /* The admin approves from "Admin consent requests". */
  json_object *reqs =
      admin("GET", "/__emulator/consent/requests?status=pending", NULL, 200);
  json_object *v = json_object_object_get(reqs, "value");
  assert_int_equal(json_object_array_length(v), 1);
  char path[256];
  snprintf(path, sizeof path, "/__emulator/consent/requests/%s/approve",
           jstr(json_object_array_get_idx(v, 0), "id"));
  json_object_put(reqs);
  json_object_put(admin("POST", path, "{\"reviewer\":\"" ADMIN_UPN "\"}", 204));

  /* The user authorizes the same connection again: connected, same id. */
  const char *const re[] = {"connection", "reauthorize", "bob", "--print-url",
                            NULL};
  proc_spawn(&p, re);
  read_url(&p, url, sizeof url);
  b = tclient_new(1);
  get(b, url, &page);
  sign_in(b, &page, BOB_UPN, BOB_PW, &signed_in);
  st = follow_to_listener(&signed_in);
  tresp_free(&page), tresp_free(&signed_in);
  tclient_free(b);
  assert_int_equal(proc_finish(&p), 0);
  assert_int_equal(st, 200);
  assert_non_null(strstr(p.stdout_, "connected: \"bob\" as " BOB_UPN));
  assert_non_null(strstr(p.stdout_, id));

  /* Scenario 9: the enterprise app is deleted. The token still works... */
  admin_ok("DELETE", "/__emulator/apps/" PREVIEW, NULL);
  const char *const test_args[] = {"connection", "test", "bob", NULL};
  assert_int_equal(wfc(&p, test_args), 0);
  /* ...until it expires (virtual time); the refresh then fails for good. */
  advance(3700);
  const char *const refresh_args[] = {"connection", "refresh", "bob", NULL};
  assert_int_equal(wfc(&p, refresh_args), 1);
  assert_non_null(
      strstr(p.stderr_, "refresh failed: reauthorization required"));
  assert_non_null(strstr(p.stderr_, "AADSTS"));
  assert_int_equal(wfc(&p, show), 0);
  c = json_tokener_parse(p.stdout_);
  assert_string_equal(jstr(c, "state"), "reauthorization_required");
  assert_true(strlen(jstr(c, "remedy")) > 0);
  json_object_put(c);
  /* Fails fast afterwards: no request to the token endpoint. */
  assert_int_equal(wfc(&p, test_args), 1);
  assert_non_null(strstr(p.stderr_, "reauthorization_required"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(admin_connects_refreshes_reauthorizes_revokes),
      cmocka_unit_test(user_needs_admin_approval),
      cmocka_unit_test(approval_workflow_then_app_deleted),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
