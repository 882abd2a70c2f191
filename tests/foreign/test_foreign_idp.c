/* test_foreign_idp.c - the plugin against an identity provider that is not
 * ours. The plugin is pointed at the server only through the environment
 * (O365MAIL_AUTHORITY_URL, O365MAIL_GRAPH_URL, O365MAIL_PREVIEW_CLIENT_ID),
 * as a deployment would point it at login.microsoftonline.com, and the
 * browser step is played by tests/support/browser.c, which knows no
 * provider's pages. Nothing here uses our emulator's admin API.
 *
 * By default the server is panva's oidc-provider (OpenID Certified; pinned
 * in tests/foreign-idp/package.json), mounted on Microsoft's paths by
 * tests/foreign-idp/idp.mjs and started by this test. FOREIGN_IDP=emulator
 * runs the very same checks against our m365-emulator instead (ctest
 * foreign_idp_emulator), which shows the test holds for two independent
 * servers. To run it against another server speaking Microsoft's paths,
 * set
 *   FOREIGN_AUTHORITY_URL   e.g. https://login.example.com (no tenant)
 *   FOREIGN_GRAPH_URL       where GET /me answers for its tokens
 *   FOREIGN_TENANT, FOREIGN_CLIENT_ID (a public client allowing the
 *   loopback redirect http://127.0.0.1/callback on any port),
 *   FOREIGN_USER, FOREIGN_PASSWORD, and WFC_CA_BUNDLE if needed.
 *
 * What it checks, hook by hook and then through `wfc connection`:
 * - authorize: the URL is under the authority's /{tenant}/oauth2/v2.0/
 *   authorize with PKCE S256 and state; the provider (which requires PKCE
 *   for a public client and checks the verifier) accepts the code
 *   exchange; a forged state is refused before any token request; a
 *   replayed code is refused by the provider and reported as an error with
 *   the provider's own words (no AADSTS code to lean on); cancelling
 *   consent gives `denied` with its remedy;
 * - refresh: rotated tokens; the old refresh token, reused, is refused by
 *   the provider (reuse detection) and maps to reauthorization_required;
 * - test: the access token reads /me; revoke: secrets wiped, the remote
 *   removal reported as not done (no Graph grants API there);
 * - `wfc connection new|show|refresh|test|revoke`: the same flow through
 *   the connection manager, its sealed store and its loopback listener. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, setenv, unsetenv, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <uv.h>

#include "browser.h"
#include "emu_proc.h"
#include "o365_fixture.h"
#include "tclient.h"
#include "wfc/host.h"
#include "wfc_proc.h"

#define REDIRECT "http://127.0.0.1:53682/callback"

static struct {
  const char *authority, *graph, *tenant, *client_id, *user, *password;
  int ours; /* 1: we started idp.mjs (its /__idp/stats counts requests) */
} idp;
typedef o365_outcome outcome;
#define outcome_free o365_outcome_free

static emu_proc *node_idp;
static uv_loop_t loop;
static int loop_ok; /* loop initialised */
static wfc_runtime *rt;
static char dir[128], store[192], wfc_bin[512], plugin_dir[512];

static const char *env_or(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

/* ---- hooks --------------------------------------------------------------- */

static json_object *params(void) {
  json_object *p = json_object_new_object();
  json_object_object_add(p, "environment", json_object_new_string("preview"));
  json_object_object_add(p, "tenant", json_object_new_string(idp.tenant));
  return p;
}

/* Runs hook h with in (transferred) plus the connection's params. */
static void hook(wfc_conn_hook h, json_object *in, outcome *o) {
  json_object_object_add(in, "params", params());
  o365_hook_run(rt, &loop, h, in, o);
  json_object_put(in);
}

static json_object *with(const char *key, json_object *value) {
  json_object *in = json_object_new_object();
  json_object_object_add(in, key, value);
  return in;
}

static const char *jstr(json_object *o, const char *key) {
  json_object *v = NULL;
  if (o == NULL || !json_object_object_get_ex(o, key, &v))
    return NULL;
  return json_object_get_string(v);
}

/* The provider's count of token requests, or -1 for a server not ours. */
static long token_requests(void) {
  if (!idp.ours)
    return -1;
  char url[512];
  snprintf(url, sizeof url, "%s/__idp/stats", idp.authority);
  tclient *c = tclient_new(0);
  tresp r;
  assert_int_equal(tclient_request(c, "GET", url, NULL, NULL, &r), 0);
  json_object *j = tresp_json(&r);
  long n = json_object_get_int64(json_object_object_get(j, "token_requests"));
  json_object_put(j);
  tresp_free(&r);
  tclient_free(c);
  return n;
}

/* authorize_begin; the browser plays the user. Returns the query of the
 * redirect as the host hands it to authorize_complete, and the session.
 * To cancel, the consent page is asked for (prompt=consent): a user who
 * consented before would otherwise not see it. */
static json_object *authorize(int cancel, json_object **session) {
  outcome o;
  json_object *in = with("redirect_uri", json_object_new_string(REDIRECT));
  if (cancel)
    json_object_object_add(in, "prompt", json_object_new_string("consent"));
  hook(WFC_HOOK_AUTHORIZE_BEGIN, in, &o);
  assert_int_equal(o.status, 0);
  const char *url = jstr(o.output, "url");
  char want[512];
  snprintf(want, sizeof want, "%s/%s/oauth2/v2.0/authorize?", idp.authority,
           idp.tenant);
  assert_true(strncmp(url, want, strlen(want)) == 0);
  assert_non_null(strstr(url, "code_challenge_method=S256"));
  assert_non_null(strstr(url, "&state="));
  assert_non_null(strstr(url, "offline_access"));
  json_object_object_get_ex(o.output, "session", session);
  json_object_get(*session);

  tclient *b = tclient_new(1);
  browser_user who = {idp.user, idp.password, cancel};
  char *loc = NULL;
  int pages = 0;
  assert_int_equal(browser_authorize(b, url, REDIRECT "?", &who, &loc, &pages),
                   0);
  assert_true(pages >= 1); /* the provider's own sign-in page at least */
  json_object *q = json_object_new_object();
  static const char *const keys[] = {
      "code", "state", "error", "error_description", "iss", NULL};
  for (size_t i = 0; keys[i]; i++) {
    char *v = tclient_url_param(loc, keys[i]);
    if (v != NULL)
      json_object_object_add(q, keys[i], json_object_new_string(v));
    free(v);
  }
  free(loc);
  tclient_free(b);
  outcome_free(&o);
  return q;
}

static void complete(json_object *session, json_object *query, outcome *o) {
  json_object *in = with("redirect_uri", json_object_new_string(REDIRECT));
  json_object_object_add(in, "session", json_object_get(session));
  json_object_object_add(in, "query", json_object_get(query));
  hook(WFC_HOOK_AUTHORIZE_COMPLETE, in, o);
}

static json_object *refresh(json_object *creds, outcome *o) {
  hook(WFC_HOOK_REFRESH, with("credentials", json_object_get(creds)), o);
  json_object *fresh = NULL;
  if (o->status == 0)
    assert_true(json_object_object_get_ex(o->output, "credentials", &fresh));
  return fresh;
}

/* ---- set-up -------------------------------------------------------------- */

static int setup(void **state) {
  (void)state;
  idp.tenant = env_or("FOREIGN_TENANT", "fabrikam.example");
  idp.client_id =
      env_or("FOREIGN_CLIENT_ID", "0c9f6a2e-4b1d-4e7a-9c3f-f0reign0app1");
  idp.user = env_or("FOREIGN_USER", "ann@fabrikam.example");
  idp.password = env_or("FOREIGN_PASSWORD", "Ann-Passw0rd!");
  idp.authority = getenv("FOREIGN_AUTHORITY_URL");
  if (strcmp(env_or("FOREIGN_IDP", ""), "emulator") == 0) {
    /* The emulator's built-in tenant (examples/tenant.json). */
    idp.tenant = "contoso.test";
    idp.client_id = "5e3b7c1a-9d2f-4b6e-a8c4-1f0d2e3c4b5a";
    idp.user = "alice@contoso.test";
    idp.password = "Alice-Passw0rd!";
    node_idp = emu_proc_start(NULL, NULL);
    if (node_idp == NULL)
      return -1;
    idp.authority = emu_proc_url(node_idp);
  } else if (idp.authority == NULL || *idp.authority == '\0') {
    const char *src = env_or("WFC_SOURCE_DIR", WFC_SOURCE_DIR);
    char script[1024], modules[1024];
    snprintf(script, sizeof script, "%s/tests/foreign-idp/idp.mjs", src);
    snprintf(modules, sizeof modules,
             "%s/tests/foreign-idp/node_modules/oidc-provider", src);
    struct stat st;
    if (stat(modules, &st) != 0) {
      fprintf(stderr,
              "oidc-provider is not installed in tests/foreign-idp: run "
              "scripts/install-deps (npm ci there)\n");
      return -1;
    }
    const char *const cmd[] = {"node",
                               script,
                               "--tenant",
                               idp.tenant,
                               "--client-id",
                               idp.client_id,
                               "--redirect-uri",
                               "http://127.0.0.1/callback",
                               "--user",
                               idp.user,
                               "--password",
                               idp.password,
                               "--name",
                               "Ann Archer",
                               NULL};
    node_idp = emu_proc_start_cmd(cmd, "/__idp/stats");
    if (node_idp == NULL)
      return -1;
    idp.authority = emu_proc_url(node_idp);
    idp.ours = 1;
  }
  static char graph[512];
  snprintf(graph, sizeof graph, "%s/v1.0", idp.authority);
  idp.graph = env_or("FOREIGN_GRAPH_URL", graph);
  setenv("O365MAIL_AUTHORITY_URL", idp.authority, 1);
  setenv("O365MAIL_GRAPH_URL", idp.graph, 1);
  setenv("O365MAIL_PREVIEW_CLIENT_ID", idp.client_id, 1);
  unsetenv("O365MAIL_PREVIEW_CLIENT_SECRET");

  const char *bd = env_or("WFC_BUILD_DIR", WFC_BUILD_DIR);
  snprintf(wfc_bin, sizeof wfc_bin, "%s/bin/wfc", bd);
  snprintf(plugin_dir, sizeof plugin_dir, "%s/plugins", bd);
  snprintf(dir, sizeof dir, "/tmp/wfc-foreign-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  snprintf(store, sizeof store, "%s/store.db", dir);

  if (uv_loop_init(&loop) != 0)
    return -1;
  loop_ok = 1;
  return o365_runtime_up(&loop, NULL, &rt);
}

static int teardown(void **state) {
  (void)state;
  int rc = loop_ok ? o365_runtime_down(&loop, rt) : 0;
  if (node_idp != NULL && emu_proc_stop(node_idp) != 0)
    rc = -1;
  char cmd[256];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (dir[0] != '\0' && system(cmd) != 0)
    rc = -1;
  return rc;
}

/* ---- hook-level flows ---------------------------------------------------- */

static void test_connect_refresh_test_revoke(void **state) {
  (void)state;
  json_object *session = NULL;
  json_object *query = authorize(0, &session);
  assert_non_null(jstr(query, "code"));
  assert_null(jstr(query, "error"));

  /* A forged state: refused before the code is spent. */
  long before = token_requests();
  json_object *forged = json_tokener_parse(json_object_to_json_string(query));
  json_object_object_add(forged, "state",
                         json_object_new_string("forged-state-value"));
  outcome o;
  complete(session, forged, &o);
  assert_int_not_equal(o.status, 0);
  assert_non_null(strstr(o.message, "state"));
  assert_int_equal(token_requests(), before);
  json_object_put(forged);
  outcome_free(&o);

  /* The real redirect: the provider checks the PKCE verifier. */
  complete(session, query, &o);
  if (o.status != 0 || strcmp(jstr(o.output, "state"), "connected") != 0)
    fprintf(stderr, "complete: %d %s %s\n", o.status, o.message,
            o.output ? json_object_to_json_string(o.output) : "");
  assert_int_equal(o.status, 0);
  assert_string_equal(jstr(o.output, "state"), "connected");
  assert_string_equal(jstr(o.output, "account"), idp.user);
  json_object *creds = NULL;
  assert_true(json_object_object_get_ex(o.output, "credentials", &creds));
  creds = json_object_get(creds);
  assert_non_null(jstr(creds, "access_token"));
  assert_non_null(jstr(creds, "refresh_token"));
  outcome_free(&o);
  if (idp.ours)
    assert_int_equal(token_requests(), before + 1);

  /* Refresh: both tokens rotate. */
  json_object *fresh = refresh(creds, &o);
  assert_int_equal(o.status, 0);
  assert_string_not_equal(jstr(fresh, "access_token"),
                          jstr(creds, "access_token"));
  assert_non_null(jstr(fresh, "refresh_token"));
  assert_string_not_equal(jstr(fresh, "refresh_token"),
                          jstr(creds, "refresh_token"));
  json_object *old = creds;
  creds = json_object_get(fresh);
  outcome_free(&o);

  /* Test: the new access token reads /me. */
  json_object *in = with("credentials", json_object_get(creds));
  json_object_object_add(in, "access_token",
                         json_object_new_string(jstr(creds, "access_token")));
  hook(WFC_HOOK_TEST, in, &o);
  assert_int_equal(o.status, 0);
  assert_true(
      json_object_get_boolean(json_object_object_get(o.output, "healthy")));
  outcome_free(&o);

  /* The old refresh token, reused after rotation. oidc-provider refuses it
   * (reuse detection, and it revokes the grant): the connection must be
   * reauthorized, and is never retried in a loop. Microsoft keeps old
   * refresh tokens valid (graph-protocol.md A.5): then it must just work.
   * Either way never an error of another kind. */
  refresh(old, &o);
  if (idp.ours || o.status != 0) {
    assert_int_equal(o.status, WFC_EREAUTH);
    assert_string_equal(jstr(o.detail, "state"), "reauthorization_required");
    assert_non_null(strstr(o.message, "Reauthorize"));
  } else {
    assert_non_null(
        jstr(json_object_object_get(o.output, "credentials"), "access_token"));
  }
  outcome_free(&o);
  json_object_put(old);

  /* The same code again: the provider refuses it (single use; RFC 6749
   * 4.1.2); the user is told it failed, in the provider's words, not that
   * it connected. */
  complete(session, query, &o);
  assert_int_equal(o.status, 0);
  assert_string_equal(jstr(o.output, "state"), "error");
  json_object *detail = json_object_object_get(o.output, "detail");
  assert_string_equal(jstr(detail, "error"), "invalid_grant");
  assert_non_null(jstr(o.output, "remedy"));
  outcome_free(&o);

  json_object_put(query);
  json_object_put(session);

  /* Revoke: wiped here; nothing to remove remotely on this server, and
   * the result says so rather than claiming a removal. */
  hook(WFC_HOOK_REVOKE, with("credentials", json_object_get(creds)), &o);
  assert_int_equal(o.status, 0);
  const char *remote = jstr(o.output, "remote");
  assert_non_null(remote);
  assert_string_not_equal(remote, "removed");
  outcome_free(&o);
  json_object_put(creds);
}

static void test_cancel_is_denied(void **state) {
  (void)state;
  json_object *session = NULL;
  json_object *query = authorize(1, &session);
  assert_null(jstr(query, "code"));
  /* RFC 6749 says access_denied; Microsoft (and so the emulator) says
   * consent_required with AADSTS65004 in the description. Both are a
   * cancel, and the plugin must say `denied` for both. */
  assert_non_null(jstr(query, "error"));
  if (idp.ours)
    assert_string_equal(jstr(query, "error"), "access_denied");
  outcome o;
  complete(session, query, &o);
  assert_int_equal(o.status, 0);
  assert_string_equal(jstr(o.output, "state"), "denied");
  const char *remedy = jstr(o.output, "remedy");
  assert_non_null(remedy);
  assert_true(strlen(remedy) > 10);
  outcome_free(&o);
  json_object_put(query);
  json_object_put(session);
}

/* ---- through `wfc connection` -------------------------------------------- */

static int wfc(wproc *p, const char *const *args) {
  wproc_spawn(p, wfc_bin, args, store, plugin_dir);
  return wproc_wait(p);
}

static json_object *show(const char *name) {
  wproc p;
  const char *const args[] = {"connection", "show", name, "--json", NULL};
  assert_int_equal(wfc(&p, args), 0);
  json_object *c = json_tokener_parse(p.stdout_);
  assert_non_null(c);
  return c;
}

static void test_wfc_connection_flow(void **state) {
  (void)state;
  wproc p;
  const char *const args[] = {
      "connection",  "new",       "--plugin", "o365mail", "--nickname",
      "fabrikam",    "--env",     "preview",  "--tenant", idp.tenant,
      "--print-url", "--timeout", "60",       NULL};
  wproc_spawn(&p, wfc_bin, args, store, plugin_dir);
  char url[4096];
  wproc_read_line(&p, url, sizeof url);
  assert_true(strncmp(url, idp.authority, strlen(idp.authority)) == 0);

  /* The browser, then the provider's redirect to wfc's loopback listener
   * (a port the provider never saw registered: RFC 8252 7.3). */
  tclient *b = tclient_new(1);
  browser_user who = {idp.user, idp.password, 0};
  char *loc = NULL, *redirect = tclient_url_param(url, "redirect_uri");
  assert_non_null(redirect);
  assert_true(strncmp(redirect, "http://127.0.0.1:", 17) == 0);
  assert_int_equal(browser_authorize(b, url, redirect, &who, &loc, NULL), 0);
  free(redirect);
  tresp page;
  assert_int_equal(tclient_request(b, "GET", loc, NULL, NULL, &page), 0);
  assert_int_equal(page.status, 200);
  tresp_free(&page);
  free(loc);
  tclient_free(b);
  if (wproc_wait(&p) != 0)
    fprintf(stderr, "new: %s\n%s\n", p.stdout_, p.stderr_);
  assert_int_equal(p.code, 0);
  char want[256];
  snprintf(want, sizeof want, "connected: \"fabrikam\" as %s", idp.user);
  assert_non_null(strstr(p.stdout_, want));

  json_object *c = show("fabrikam");
  assert_string_equal(jstr(c, "state"), "connected");
  assert_string_equal(jstr(c, "account"), idp.user);
  char id[64];
  snprintf(id, sizeof id, "%s", jstr(c, "id"));
  json_object_put(c);

  const char *const refresh_args[] = {"connection", "refresh", "fabrikam",
                                      NULL};
  if (wfc(&p, refresh_args) != 0)
    fprintf(stderr, "refresh: %s\n%s\n", p.stdout_, p.stderr_);
  assert_int_equal(p.code, 0);
  const char *const test_args[] = {"connection", "test", "fabrikam", NULL};
  if (wfc(&p, test_args) != 0)
    fprintf(stderr, "test: %s\n%s\n", p.stdout_, p.stderr_);
  assert_int_equal(p.code, 0);
  c = show("fabrikam");
  assert_string_equal(jstr(c, "state"), "connected");
  assert_string_equal(jstr(c, "id"), id);
  json_object_put(c);

  const char *const revoke_args[] = {"connection", "revoke", "fabrikam", NULL};
  if (wfc(&p, revoke_args) != 0)
    fprintf(stderr, "revoke: %s\n%s\n", p.stdout_, p.stderr_);
  assert_int_equal(p.code, 0);
  c = show("fabrikam");
  assert_string_equal(jstr(c, "state"), "revoked");
  json_object_put(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_connect_refresh_test_revoke),
      cmocka_unit_test(test_cancel_is_denied),
      cmocka_unit_test(test_wfc_connection_flow),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
