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
#include "foreign_idp.h"
#include "o365_fixture.h"
#include "tclient.h"
#include "wfc/host.h"
#include "wfc_user.h"

#define REDIRECT "http://127.0.0.1:53682/callback"

static fidp idp;
/* 1: we started idp.mjs (its /__idp/stats counts requests). */
static int ours(void) {
  return idp.kind == FIDP_OIDC_PROVIDER;
}
typedef o365_outcome outcome;
#define outcome_free o365_outcome_free

static uv_loop_t loop;
static int loop_ok; /* loop initialised */
static wfc_runtime *rt;
static wuser cli;

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
  return fidp_token_requests(&idp);
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
  if (fidp_start(&idp) != 0 || wuser_init(&cli, "foreign") != 0)
    return -1;
  if (uv_loop_init(&loop) != 0)
    return -1;
  loop_ok = 1;
  return o365_runtime_up(&loop, NULL, &rt);
}

static int teardown(void **state) {
  (void)state;
  int rc = loop_ok ? o365_runtime_down(&loop, rt) : 0;
  if (fidp_stop(&idp) != 0)
    rc = -1;
  if (wuser_cleanup(&cli) != 0)
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
  if (ours())
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
  if (ours() || o.status != 0) {
    assert_int_equal(o.status, WFC_EREAUTH);
    assert_string_equal(jstr(o.detail, "state"), "reauthorization_required");
    assert_non_null(strstr(o.message, "Reauthorize"));
    /* The words name who refused: this server is not Microsoft. */
    if (ours()) {
      assert_null(strstr(o.message, "Microsoft"));
      assert_non_null(strstr(o.message, "identity provider"));
    }
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
  if (ours())
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
  return wuser_run(&cli, p, args);
}

static void test_wfc_connection_flow(void **state) {
  (void)state;
  wproc p;
  fidp_wfc_connect(&idp, &cli, "fabrikam", NULL);
  json_object *c = wuser_show(&cli, "fabrikam");
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
  c = wuser_show(&cli, "fabrikam");
  assert_string_equal(jstr(c, "state"), "connected");
  assert_string_equal(jstr(c, "id"), id);
  json_object_put(c);

  const char *const revoke_args[] = {"connection", "revoke", "fabrikam", NULL};
  if (wfc(&p, revoke_args) != 0)
    fprintf(stderr, "revoke: %s\n%s\n", p.stdout_, p.stderr_);
  assert_int_equal(p.code, 0);
  c = wuser_show(&cli, "fabrikam");
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
