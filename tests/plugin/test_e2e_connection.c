/* End to end: the built plugin, loaded by the SDK runtime, against the
 * Microsoft 365 emulator, with a scripted browser (tclient) on the sign-in
 * and consent pages. Seed flows 3 (user consents and connects; then
 * refresh, test and revoke), 4 (user consent off: needs_admin_approval with
 * the admin consent URL), 5 (admin consent workflow: approval_pending), 4
 * then 7/8 (the remedy's admin consent URL granted by an administrator;
 * the user connects), 9 (enterprise app deleted: the token works until it
 * expires, the refresh asks for reauthorization) and 12 (Preview and
 * Production are separate apps). Each test starts from a reset tenant. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, strndup, setenv, strdup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <uv.h>

#include "emu_proc.h"
#include "o365_fixture.h"
#include "tclient.h"
#include "wfc/host.h"

#define TENANT      "contoso.test"
#define PREVIEW     "5e3b7c1a-9d2f-4b6e-a8c4-1f0d2e3c4b5a"
#define PROD        "8a4c6e2b-1f3d-4a5c-9b7e-2d4f6a8c0e1b"
#define PROD_SECRET "emu-prod-secret-Q7v~xK2pL9"
#define REDIRECT    "http://127.0.0.1:53682/callback"

static emu_proc *emu;
static uv_loop_t loop;
static wfc_runtime *rt;

typedef o365_outcome outcome;
#define outcome_free o365_outcome_free

/* Runs one hook of the o365mail connection type to completion. input is
 * borrowed. */
static void hook(wfc_conn_hook h, json_object *input, outcome *o) {
  o365_hook_run(rt, &loop, h, input, o);
  if (o->status != 0)
    fprintf(stderr, "hook %d failed: %s\n", (int)h, o->message);
}

static const char *jstr(json_object *o, const char *key) {
  json_object *v = NULL;
  if (o == NULL || !json_object_object_get_ex(o, key, &v))
    return NULL;
  return json_object_get_string(v);
}

static const char *environment = "preview";
static const char *tenant = TENANT;

static json_object *params(void) {
  json_object *p = json_object_new_object();
  json_object_object_add(p, "environment", json_object_new_string(environment));
  json_object_object_add(p, "tenant", json_object_new_string(tenant));
  return p;
}

static void admin_call(const char *method, const char *path, const char *body,
                       long want);

static void admin_post(const char *path, const char *body) {
  admin_call("POST", path, body, 200);
}

static void admin_call(const char *method, const char *path, const char *body,
                       long want) {
  tclient *c = tclient_new(0);
  char url[512];
  snprintf(url, sizeof url, "%s%s", emu_proc_url(emu), path);
  json_object *j = body ? json_tokener_parse(body) : NULL;
  tresp r;
  assert_int_equal(tclient_json(c, method, url, j, &r), 0);
  if (r.status != want)
    fprintf(stderr, "%s: %ld %s\n", path, r.status, r.body);
  assert_int_equal(r.status, want);
  tresp_free(&r);
  json_object_put(j);
  tclient_free(c);
}

/* ---- the browser -------------------------------------------------------- */

static char *attr_after(const char *html, const char *marker,
                        const char *attr) {
  const char *p = strstr(html, marker);
  if (p == NULL)
    return NULL;
  char pat[64];
  snprintf(pat, sizeof pat, "%s=\"", attr);
  p = strstr(p, pat);
  if (p == NULL)
    return NULL;
  p += strlen(pat);
  const char *end = strchr(p, '"');
  char *out = strndup(p, (size_t)(end - p));
  /* &amp; -> & */
  char *w = out;
  for (const char *s = out; *s;) {
    if (strncmp(s, "&amp;", 5) == 0) {
      *w++ = '&';
      s += 5;
    } else {
      *w++ = *s++;
    }
  }
  *w = '\0';
  return out;
}

static char *absolute(const char *href) {
  char *u = malloc(strlen(href) + 256);
  if (href[0] == '/')
    sprintf(u, "%s%s", emu_proc_url(emu), href);
  else
    strcpy(u, href);
  return u;
}

/* Submits form `form_id` of page with ctx plus the given pairs. */
static void submit(tclient *b, const tresp *page, const char *form_id,
                   const char *k1, const char *v1, const char *k2,
                   const char *v2, const char *k3, const char *v3, tresp *out) {
  char marker[64];
  snprintf(marker, sizeof marker, "id=\"%s\"", form_id);
  if (strstr(page->body, marker) == NULL)
    fprintf(stderr, "expected form %s in:\n%s\n", form_id, page->body);
  assert_non_null(strstr(page->body, marker));
  char *action = attr_after(page->body, marker, "action");
  char *ctx = attr_after(page->body, "name=\"ctx\"", "value");
  assert_non_null(action);
  assert_non_null(ctx);
  char *form = tclient_form("ctx", ctx, k1, v1, k2, v2, k3, v3, NULL);
  char *url = absolute(action);
  static const char *const hdr[] = {
      "Content-Type: application/x-www-form-urlencoded", NULL};
  assert_int_equal(tclient_request(b, "POST", url, hdr, form, out), 0);
  free(url);
  free(form);
  free(ctx);
  free(action);
}

static void follow_link(tclient *b, const tresp *page, const char *id,
                        tresp *out) {
  char marker[64];
  snprintf(marker, sizeof marker, "id=\"%s\"", id);
  char *href = attr_after(page->body, marker, "href");
  assert_non_null(href);
  char *url = absolute(href);
  assert_int_equal(tclient_request(b, "GET", url, NULL, NULL, out), 0);
  free(url);
  free(href);
}

/* The redirect's query as the host hands it to authorize_complete. */
static json_object *redirect_query(const tresp *r) {
  if (r->status != 302)
    fprintf(stderr, "expected a redirect, got %ld:\n%s\n", r->status, r->body);
  assert_int_equal(r->status, 302);
  const char *loc = tresp_header(r, "Location");
  assert_non_null(loc);
  assert_true(strncmp(loc, REDIRECT "?", strlen(REDIRECT) + 1) == 0);
  json_object *q = json_object_new_object();
  static const char *keys[] = {
      "code",      "state",         "error",  "error_description",
      "error_uri", "admin_consent", "tenant", NULL};
  for (size_t i = 0; keys[i]; i++) {
    char *v = tclient_url_param(loc, keys[i]);
    if (v != NULL)
      json_object_object_add(q, keys[i], json_object_new_string(v));
    free(v);
  }
  return q;
}

/* authorize_begin, then the browser signs in as upn; returns the page that
 * follows the sign-in, and the session in *session (owned). */
static void begin_and_sign_in(tclient *b, const char *upn, const char *pw,
                              json_object **session, tresp *after) {
  json_object *in = json_object_new_object();
  json_object_object_add(in, "params", params());
  json_object_object_add(in, "redirect_uri", json_object_new_string(REDIRECT));
  outcome o;
  hook(WFC_HOOK_AUTHORIZE_BEGIN, in, &o);
  json_object_put(in);
  assert_int_equal(o.status, 0);
  const char *url = jstr(o.output, "url");
  assert_non_null(url);
  char want[128];
  snprintf(want, sizeof want, "/%s/oauth2/v2.0/authorize?", tenant);
  assert_non_null(strstr(url, want));
  json_object_object_get_ex(o.output, "session", session);
  json_object_get(*session);
  tresp page;
  assert_int_equal(tclient_request(b, "GET", url, NULL, NULL, &page), 0);
  outcome_free(&o);
  submit(b, &page, "signin", "login", upn, "passwd", pw, NULL, NULL, after);
  tresp_free(&page);
}

static void complete(json_object *session, json_object *query, outcome *o) {
  json_object *in = json_object_new_object();
  json_object_object_add(in, "params", params());
  json_object_object_add(in, "redirect_uri", json_object_new_string(REDIRECT));
  json_object_object_add(in, "session", session);
  json_object_object_add(in, "query", query);
  hook(WFC_HOOK_AUTHORIZE_COMPLETE, in, o);
  json_object_put(in);
}

/* ---- set-up ----------------------------------------------------------------
 */

static int setup(void **state) {
  (void)state;
  emu = emu_proc_start(NULL, NULL);
  if (emu == NULL)
    return -1;
  char url[512];
  setenv("O365MAIL_AUTHORITY_URL", emu_proc_url(emu), 1);
  snprintf(url, sizeof url, "%s/v1.0", emu_proc_url(emu));
  setenv("O365MAIL_GRAPH_URL", url, 1);
  snprintf(url, sizeof url, "%s/__emulator/portal/apps/{client_id}",
           emu_proc_url(emu));
  setenv("O365MAIL_PORTAL_URL", url, 1);
  setenv("O365MAIL_PREVIEW_CLIENT_ID", PREVIEW, 1);
  unsetenv("O365MAIL_PREVIEW_CLIENT_SECRET");
  setenv("O365MAIL_PRODUCTION_CLIENT_ID", PROD, 1);
  setenv("O365MAIL_PRODUCTION_CLIENT_SECRET", PROD_SECRET, 1);
  if (uv_loop_init(&loop) != 0)
    return -1;
  return o365_runtime_up(&loop, NULL, &rt);
}

static int teardown(void **state) {
  (void)state;
  int rc = o365_runtime_down(&loop, rt);
  int erc = emu_proc_stop(emu);
  return rc == 0 && erc == 0 ? 0 : -1;
}

/* ---- the flows -------------------------------------------------------------
 */

static void test_user_connects_refresh_test_revoke(void **state) {
  (void)state;
  admin_post("/__emulator/reset", "{}");
  admin_post("/__emulator/consent/settings", "{\"userConsent\":\"allowed\"}");
  tclient *b = tclient_new(1);
  json_object *session = NULL;
  tresp page, redirect;
  begin_and_sign_in(b, "alice@contoso.test", "Alice-Passw0rd!", &session,
                    &page);
  submit(b, &page, "consent", "action", "accept", NULL, NULL, NULL, NULL,
         &redirect);
  json_object *query = redirect_query(&redirect);
  assert_non_null(jstr(query, "code"));
  outcome o;
  complete(session, query, &o);
  assert_int_equal(o.status, 0);
  assert_string_equal(jstr(o.output, "state"), "connected");
  assert_string_equal(jstr(o.output, "account"), "alice@contoso.test");
  json_object *creds = NULL;
  assert_true(json_object_object_get_ex(o.output, "credentials", &creds));
  json_object_get(creds);
  assert_non_null(jstr(creds, "access_token"));
  assert_non_null(jstr(creds, "refresh_token"));
  assert_non_null(jstr(creds, "tenant_id"));
  outcome_free(&o);
  tresp_free(&page);
  tresp_free(&redirect);

  /* refresh: rotated tokens. */
  json_object *in = json_object_new_object();
  json_object_object_add(in, "params", params());
  json_object_object_add(in, "credentials", json_object_get(creds));
  hook(WFC_HOOK_REFRESH, in, &o);
  json_object_put(in);
  assert_int_equal(o.status, 0);
  json_object *fresh = NULL;
  assert_true(json_object_object_get_ex(o.output, "credentials", &fresh));
  assert_string_not_equal(jstr(fresh, "access_token"),
                          jstr(creds, "access_token"));
  assert_non_null(jstr(fresh, "refresh_token"));
  json_object_put(creds);
  creds = json_object_get(fresh);
  outcome_free(&o);

  /* test: the inbox answers. */
  in = json_object_new_object();
  json_object_object_add(in, "params", params());
  json_object_object_add(in, "credentials", json_object_get(creds));
  json_object_object_add(in, "access_token",
                         json_object_new_string(jstr(creds, "access_token")));
  hook(WFC_HOOK_TEST, in, &o);
  json_object_put(in);
  assert_int_equal(o.status, 0);
  json_object *healthy = NULL;
  assert_true(json_object_object_get_ex(o.output, "healthy", &healthy));
  if (!json_object_get_boolean(healthy))
    fprintf(stderr, "test: %s\n", jstr(o.output, "detail"));
  assert_true(json_object_get_boolean(healthy));
  outcome_free(&o);

  /* revoke: best effort remotely, always reported. */
  in = json_object_new_object();
  json_object_object_add(in, "params", params());
  json_object_object_add(in, "credentials", json_object_get(creds));
  hook(WFC_HOOK_REVOKE, in, &o);
  json_object_put(in);
  assert_int_equal(o.status, 0);
  const char *remote = jstr(o.output, "remote");
  assert_non_null(remote);
  fprintf(stderr, "revoke: %s: %s\n", remote, jstr(o.output, "detail"));
  /* The mail scopes give no right to read or delete permission grants:
   * Graph (and the emulator) refuse with 403, reported as not_permitted. */
  assert_string_equal(remote, "not_permitted");
  outcome_free(&o);
  json_object_put(creds);
  tclient_free(b);
}

static void test_consent_off_needs_admin_approval(void **state) {
  (void)state;
  admin_post("/__emulator/reset", "{}");
  admin_post("/__emulator/consent/settings",
             "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":"
             "false}");
  tclient *b = tclient_new(1);
  json_object *session = NULL;
  tresp page, redirect;
  begin_and_sign_in(b, "bob@contoso.test", "Bob-Passw0rd!", &session, &page);
  assert_non_null(strstr(page.body, "Need admin approval"));
  follow_link(b, &page, "return", &redirect);
  outcome o;
  complete(session, redirect_query(&redirect), &o);
  assert_int_equal(o.status, 0);
  assert_string_equal(jstr(o.output, "state"), "needs_admin_approval");
  const char *remedy = jstr(o.output, "remedy");
  assert_non_null(strstr(remedy, "Ask an administrator to grant consent: "));
  assert_non_null(strstr(remedy, "/__emulator/portal/apps/" PREVIEW " "));
  assert_non_null(strstr(
      jstr(json_object_object_get(o.output, "detail"), "admin_consent_url"),
      "/" TENANT "/v2.0/adminconsent?client_id=" PREVIEW));
  outcome_free(&o);
  tresp_free(&page);
  tresp_free(&redirect);
  tclient_free(b);
}

static void test_workflow_request_is_pending(void **state) {
  (void)state;
  admin_post("/__emulator/reset", "{}");
  admin_post("/__emulator/consent/settings",
             "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":"
             "true}");
  tclient *b = tclient_new(1);
  json_object *session = NULL;
  tresp page, sent, redirect;
  begin_and_sign_in(b, "bob@contoso.test", "Bob-Passw0rd!", &session, &page);
  submit(b, &page, "request", "justification", "I need my mail in flows",
         "action", "request", NULL, NULL, &sent);
  follow_link(b, &sent, "return", &redirect);
  outcome o;
  complete(session, redirect_query(&redirect), &o);
  assert_int_equal(o.status, 0);
  assert_string_equal(jstr(o.output, "state"), "approval_pending");
  assert_string_equal(jstr(o.output, "remedy"),
                      "Your request was sent to your administrator; "
                      "reauthorize this connection once it is approved.");
  outcome_free(&o);
  tresp_free(&page);
  tresp_free(&sent);
  tresp_free(&redirect);
  tclient_free(b);
}

/* Connects upn: signs in, accepts a consent page when one is shown, and
 * returns the authorize_complete outcome (caller frees). */
static void connect_user(const char *upn, const char *pw, outcome *o) {
  tclient *b = tclient_new(1);
  json_object *session = NULL;
  tresp page, redirect;
  begin_and_sign_in(b, upn, pw, &session, &page);
  if (strstr(page.body, "id=\"consent\"") != NULL) {
    submit(b, &page, "consent", "action", "accept", NULL, NULL, NULL, NULL,
           &redirect);
  } else {
    redirect = page;
    memset(&page, 0, sizeof page);
  }
  complete(session, redirect_query(&redirect), o);
  tresp_free(&page);
  tresp_free(&redirect);
  tclient_free(b);
}

/* Runs hook h with {"params", "credentials"[, "access_token"]}. */
static void with_creds(wfc_conn_hook h, json_object *creds, outcome *o) {
  json_object *in = json_object_new_object();
  json_object_object_add(in, "params", params());
  json_object_object_add(in, "credentials", json_object_get(creds));
  if (h == WFC_HOOK_TEST)
    json_object_object_add(in, "access_token",
                           json_object_new_string(jstr(creds, "access_token")));
  hook(h, in, o);
  json_object_put(in);
}

static int healthy(json_object *creds) {
  outcome o;
  with_creds(WFC_HOOK_TEST, creds, &o);
  assert_int_equal(o.status, 0);
  json_object *v = NULL;
  assert_true(json_object_object_get_ex(o.output, "healthy", &v));
  int h = json_object_get_boolean(v);
  outcome_free(&o);
  return h;
}

/* Seeds 4 then 7/8: the remedy's admin consent URL, opened by an
 * administrator, grants consent for everyone; the user then connects
 * without a consent page. */
static void test_admin_consent_url_lets_users_connect(void **state) {
  (void)state;
  admin_post("/__emulator/reset", "{}");
  admin_post("/__emulator/consent/settings",
             "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":"
             "false}");
  tclient *b = tclient_new(1);
  json_object *session = NULL;
  tresp page, redirect;
  begin_and_sign_in(b, "bob@contoso.test", "Bob-Passw0rd!", &session, &page);
  follow_link(b, &page, "return", &redirect);
  outcome o;
  complete(session, redirect_query(&redirect), &o);
  assert_string_equal(jstr(o.output, "state"), "needs_admin_approval");
  json_object *detail = NULL;
  json_object_object_get_ex(o.output, "detail", &detail);
  char *admin_url = strdup(jstr(detail, "admin_consent_url"));
  outcome_free(&o);
  tresp_free(&page);
  tresp_free(&redirect);
  tclient_free(b);

  /* The administrator opens it, signs in and accepts. */
  tclient *admin = tclient_new(1);
  tresp signin, consent_page, back;
  assert_int_equal(
      tclient_request(admin, "GET", admin_url, NULL, NULL, &signin), 0);
  submit(admin, &signin, "signin", "login", "admin@contoso.test", "passwd",
         "Admin-Passw0rd!", NULL, NULL, &consent_page);
  submit(admin, &consent_page, "consent", "action", "accept", NULL, NULL, NULL,
         NULL, &back);
  json_object *q = redirect_query(&back);
  assert_string_equal(jstr(q, "admin_consent"), "True");
  assert_non_null(jstr(q, "tenant"));
  json_object_put(q);
  tresp_free(&signin);
  tresp_free(&consent_page);
  tresp_free(&back);
  tclient_free(admin);
  free(admin_url);

  /* Bob connects now, with no consent page. */
  connect_user("bob@contoso.test", "Bob-Passw0rd!", &o);
  assert_int_equal(o.status, 0);
  assert_string_equal(jstr(o.output, "state"), "connected");
  assert_string_equal(jstr(o.output, "account"), "bob@contoso.test");
  outcome_free(&o);
}

/* Seed 9: the enterprise app is deleted. The access token keeps working
 * until it expires; the refresh fails with WFC_EREAUTH and the remedy. */
static void test_deleted_app_needs_reauthorization(void **state) {
  (void)state;
  admin_post("/__emulator/reset", "{}");
  admin_post("/__emulator/consent/settings", "{\"userConsent\":\"allowed\"}");
  outcome o;
  connect_user("alice@contoso.test", "Alice-Passw0rd!", &o);
  assert_string_equal(jstr(o.output, "state"), "connected");
  json_object *creds = NULL;
  json_object_object_get_ex(o.output, "credentials", &creds);
  json_object_get(creds);
  outcome_free(&o);

  admin_call("DELETE", "/__emulator/apps/" PREVIEW, NULL, 204);
  assert_true(healthy(creds)); /* until the access token expires */
  admin_post("/__emulator/time/advance", "{\"seconds\": 7200}");
  assert_false(healthy(creds));

  with_creds(WFC_HOOK_REFRESH, creds, &o);
  assert_int_equal(o.status, WFC_EREAUTH);
  assert_non_null(strstr(o.message, "Reauthorize this connection"));
  assert_true(strstr(o.message, "AADSTS65001") != NULL ||
              strstr(o.message, "AADSTS700016") != NULL);
  assert_string_equal(jstr(o.detail, "state"), "reauthorization_required");
  outcome_free(&o);
  json_object_put(creds);
}

/* Seed 12: consent to the Preview app does not cover the Production app
 * (a confidential client here: its secret comes from the environment). */
static void test_preview_and_production_are_separate(void **state) {
  (void)state;
  admin_post("/__emulator/reset", "{}");
  admin_post("/__emulator/consent/settings", "{\"userConsent\":\"allowed\"}");
  outcome o;
  connect_user("alice@contoso.test", "Alice-Passw0rd!", &o);
  assert_string_equal(jstr(o.output, "state"), "connected");
  outcome_free(&o);

  admin_post("/__emulator/consent/settings",
             "{\"userConsent\":\"not_allowed\",\"adminConsentWorkflow\":"
             "false}");
  /* Preview again: already consented, connects. */
  connect_user("alice@contoso.test", "Alice-Passw0rd!", &o);
  assert_string_equal(jstr(o.output, "state"), "connected");
  outcome_free(&o);

  /* Production: a new consent, which alice may not give. */
  environment = "production";
  tclient *b = tclient_new(1);
  json_object *session = NULL;
  tresp page, redirect;
  begin_and_sign_in(b, "alice@contoso.test", "Alice-Passw0rd!", &session,
                    &page);
  follow_link(b, &page, "return", &redirect);
  complete(session, redirect_query(&redirect), &o);
  assert_string_equal(jstr(o.output, "state"), "needs_admin_approval");
  assert_non_null(strstr(jstr(o.output, "remedy"), "/apps/" PROD " "));
  outcome_free(&o);
  tresp_free(&page);
  tresp_free(&redirect);
  tclient_free(b);

  /* Granted for the organization, the confidential app connects. */
  admin_post("/__emulator/apps/" PROD "/admin-consent", "{}");
  connect_user("alice@contoso.test", "Alice-Passw0rd!", &o);
  assert_int_equal(o.status, 0);
  assert_string_equal(jstr(o.output, "state"), "connected");
  outcome_free(&o);
  environment = "preview";
}

/* The default tenant "organizations": sign-in through the alias, then the
 * refresh goes to the tenant id the id_token named. */
static void test_organizations_alias(void **state) {
  (void)state;
  admin_post("/__emulator/reset", "{}");
  admin_post("/__emulator/consent/settings", "{\"userConsent\":\"allowed\"}");
  tenant = "organizations";
  outcome o;
  connect_user("alice@contoso.test", "Alice-Passw0rd!", &o);
  assert_int_equal(o.status, 0);
  assert_string_equal(jstr(o.output, "state"), "connected");
  json_object *creds = NULL;
  json_object_object_get_ex(o.output, "credentials", &creds);
  json_object_get(creds);
  assert_string_equal(jstr(creds, "tenant_id"),
                      "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5");
  outcome_free(&o);
  with_creds(WFC_HOOK_REFRESH, creds, &o);
  assert_int_equal(o.status, 0);
  outcome_free(&o);
  json_object_put(creds);
  tenant = TENANT;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_user_connects_refresh_test_revoke),
      cmocka_unit_test(test_consent_off_needs_admin_approval),
      cmocka_unit_test(test_workflow_request_is_pending),
      cmocka_unit_test(test_admin_consent_url_lets_users_connect),
      cmocka_unit_test(test_deleted_app_needs_reauthorization),
      cmocka_unit_test(test_preview_and_production_are_separate),
      cmocka_unit_test(test_organizations_alias),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
