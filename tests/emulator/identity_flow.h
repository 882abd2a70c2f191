/* identity_flow.h - a scripted browser for the emulator's sign-in pages,
 * shared by test_seed_scenarios.c and test_identity_endpoints.c (header
 * only: static functions, each test file is its own executable).
 *
 * The browser is a tclient with a cookie jar; it drives the pages through
 * their documented form fields (docs/emulator.md): sign-in (ctx, login,
 * passwd), consent (ctx, action, consent_org), request (ctx, action,
 * justification). Every helper asserts what it expects with cmocka. */
#ifndef IDENTITY_FLOW_H
#define IDENTITY_FLOW_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "emu_proc.h"
#include "tclient.h"

/* Not every test file uses every helper. */
#define FLOW_FN static __attribute__((unused))

#define TENANT_DOMAIN "contoso.test"
#define TENANT_ID     "6f1c2d3e-4a5b-4c6d-8e7f-90a1b2c3d4e5"
#define PREVIEW       "5e3b7c1a-9d2f-4b6e-a8c4-1f0d2e3c4b5a"
#define PROD          "8a4c6e2b-1f3d-4a5c-9b7e-2d4f6a8c0e1b"
#define PROD_SECRET   "emu-prod-secret-Q7v~xK2pL9"
#define ADMIN_UPN     "admin@contoso.test"
#define ADMIN_PW      "Admin-Passw0rd!"
#define ALICE_UPN     "alice@contoso.test"
#define ALICE_PW      "Alice-Passw0rd!"
#define BOB_UPN       "bob@contoso.test"
#define BOB_PW        "Bob-Passw0rd!"
/* Registered as http://127.0.0.1/callback: the loopback rule lets the port
 * differ. */
#define REDIRECT     "http://127.0.0.1:53682/callback"
#define REDIRECT_ENC "http%3A%2F%2F127.0.0.1%3A53682%2Fcallback"
#define STATE        "st-8d1f"
/* RFC 7636 appendix B. */
#define VERIFIER  "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
#define SCOPES_ENC                                                             \
  "offline_access%20Mail.ReadWrite%20Mail.ReadWrite.Shared%20Mail.Send%20"     \
  "Mail.Send.Shared%20openid%20profile%20User.Read"

static emu_proc *emu;

FLOW_FN const char *base(void) {
  return emu_proc_url(emu);
}

FLOW_FN int emu_setup(void **state) {
  emu = emu_proc_start(NULL, NULL);
  return emu ? 0 : -1;
}

FLOW_FN int emu_teardown(void **state) {
  int rc = emu_proc_stop(emu);
  emu = NULL;
  return rc == 0 ? 0 : -1;
}

FLOW_FN char *url_of(const char *path) {
  size_t n = strlen(base()) + strlen(path) + 1;
  char *u = malloc(n);
  snprintf(u, n, "%s%s", base(), path);
  return u;
}

FLOW_FN char *authorize_url(const char *app, const char *extra) {
  char path[2048];
  snprintf(path, sizeof(path),
           "/%s/oauth2/v2.0/authorize?client_id=%s&response_type=code"
           "&redirect_uri=%s&scope=%s&state=%s&code_challenge=%s"
           "&code_challenge_method=S256%s",
           TENANT_DOMAIN, app, REDIRECT_ENC, SCOPES_ENC, STATE, CHALLENGE,
           extra ? extra : "");
  return url_of(path);
}

FLOW_FN void get(tclient *b, const char *url, tresp *out) {
  assert_int_equal(tclient_request(b, "GET", url, NULL, NULL, out), 0);
}

/* The value of <input ... name="NAME" value="...">, malloc'ed. */
FLOW_FN char *form_value(const char *html, const char *name) {
  char pat[96];
  const char *p, *end;
  snprintf(pat, sizeof(pat), "name=\"%s\" value=\"", name);
  p = strstr(html, pat);
  if (p == NULL)
    return NULL;
  p += strlen(pat);
  end = strchr(p, '"');
  return end ? strndup(p, (size_t)(end - p)) : NULL;
}

/* The href of <a id="ID" href="...">, unescaped (&amp;), malloc'ed. */
FLOW_FN char *link_href(const char *html, const char *id) {
  char pat[96], *out, *w;
  const char *p, *end;
  snprintf(pat, sizeof(pat), "id=\"%s\" href=\"", id);
  p = strstr(html, pat);
  if (p == NULL)
    return NULL;
  p += strlen(pat);
  end = strchr(p, '"');
  out = strndup(p, (size_t)(end - p));
  for (p = w = out; *p;) {
    if (strncmp(p, "&amp;", 5) == 0) {
      *w++ = '&';
      p += 5;
    } else {
      *w++ = *p++;
    }
  }
  *w = '\0';
  return out;
}

FLOW_FN void post_form(tclient *b, const char *path, const char *form,
                       tresp *out) {
  static const char *const hdr[] = {
      "Content-Type: application/x-www-form-urlencoded", NULL};
  char *u = url_of(path);
  assert_int_equal(tclient_request(b, "POST", u, hdr, form, out), 0);
  free(u);
}

FLOW_FN int is_page(const tresp *r, const char *form_id) {
  char pat[64];
  snprintf(pat, sizeof(pat), "id=\"%s\"", form_id);
  return r->status == 200 && strstr(r->body, pat) != NULL;
}

/* Signs in on the page in `page` (must be the sign-in form). */
FLOW_FN void sign_in(tclient *b, const tresp *page, const char *upn,
                     const char *pw, tresp *out) {
  char *ctx, *form;
  assert_true(is_page(page, "signin"));
  ctx = form_value(page->body, "ctx");
  assert_non_null(ctx);
  form = tclient_form("ctx", ctx, "login", upn, "passwd", pw, NULL);
  post_form(b, "/" TENANT_DOMAIN "/login", form, out);
  free(form);
  free(ctx);
}

/* GET the authorize URL and sign in when asked: `out` is what follows. */
FLOW_FN void start(tclient *b, const char *app, const char *upn, const char *pw,
                   const char *extra, tresp *out) {
  char *u = authorize_url(app, extra);
  tresp page;
  get(b, u, &page);
  free(u);
  if (is_page(&page, "signin")) {
    sign_in(b, &page, upn, pw, out);
    tresp_free(&page);
  } else {
    *out = page;
  }
}

/* Submits the consent page: accept or cancel, with the org checkbox. */
FLOW_FN void consent(tclient *b, const tresp *page, int accept, int org,
                     tresp *out) {
  char *ctx, *form;
  assert_true(is_page(page, "consent"));
  ctx = form_value(page->body, "ctx");
  assert_non_null(ctx);
  form = org ? tclient_form("ctx", ctx, "consent_org", "on", "action",
                            accept ? "accept" : "cancel", NULL)
             : tclient_form("ctx", ctx, "action", accept ? "accept" : "cancel",
                            NULL);
  post_form(b, "/" TENANT_DOMAIN "/Consent/Set", form, out);
  free(form);
  free(ctx);
}

/* A 302 to REDIRECT with state and a code: returns the code. */
FLOW_FN char *expect_code(const tresp *r) {
  const char *loc = tresp_header(r, "Location");
  char *state, *code;
  if (r->status != 302)
    fprintf(stderr, "expected a redirect with a code, got %ld:\n%s\n",
            r->status, r->body);
  assert_int_equal(r->status, 302);
  assert_non_null(loc);
  assert_memory_equal(loc, REDIRECT "?", strlen(REDIRECT) + 1);
  state = tclient_url_param(loc, "state");
  assert_string_equal(state, STATE);
  free(state);
  assert_null(tclient_url_param(loc, "error"));
  code = tclient_url_param(loc, "code");
  assert_non_null(code);
  return code;
}

/* A 302 to REDIRECT with error=`error` and AADSTS`aadsts` in the
 * description. */
FLOW_FN void expect_redirect_error(const tresp *r, const char *error,
                                   int aadsts) {
  const char *loc = tresp_header(r, "Location");
  char *e, *d, *st, want[32];
  if (r->status != 302)
    fprintf(stderr, "expected an error redirect, got %ld:\n%s\n", r->status,
            r->body);
  assert_int_equal(r->status, 302);
  assert_non_null(loc);
  assert_memory_equal(loc, REDIRECT "?", strlen(REDIRECT) + 1);
  e = tclient_url_param(loc, "error");
  d = tclient_url_param(loc, "error_description");
  st = tclient_url_param(loc, "state");
  assert_non_null(e);
  assert_string_equal(e, error);
  snprintf(want, sizeof(want), "AADSTS%d:", aadsts);
  assert_non_null(d);
  assert_memory_equal(d, want, strlen(want));
  assert_string_equal(st, STATE);
  assert_null(tclient_url_param(loc, "code"));
  free(e);
  free(d);
  free(st);
}

FLOW_FN const char *jstr(json_object *o, const char *k) {
  json_object *v;
  if (o == NULL || !json_object_object_get_ex(o, k, &v))
    return NULL;
  return json_object_get_string(v);
}

FLOW_FN int64_t jint(json_object *o, const char *k) {
  json_object *v;
  assert_true(json_object_object_get_ex(o, k, &v));
  return json_object_get_int64(v);
}

/* POST /token with `form`; asserts the status; returns the JSON body. */
FLOW_FN json_object *token_call(const char *form, long want_status) {
  static const char *const hdr[] = {
      "Content-Type: application/x-www-form-urlencoded", NULL};
  tclient *c = tclient_new(0);
  char *u = url_of("/" TENANT_DOMAIN "/oauth2/v2.0/token");
  tresp r;
  json_object *j;
  assert_int_equal(tclient_request(c, "POST", u, hdr, form, &r), 0);
  if (r.status != want_status)
    fprintf(stderr, "token: want %ld got %ld: %s\n", want_status, r.status,
            r.body);
  assert_int_equal(r.status, want_status);
  j = tresp_json(&r);
  assert_non_null(j);
  tresp_free(&r);
  free(u);
  tclient_free(c);
  return j;
}

FLOW_FN json_object *redeem(const char *app, const char *code,
                            long want_status) {
  char *form =
      strcmp(app, PROD) == 0
          ? tclient_form("grant_type", "authorization_code", "client_id", app,
                         "code", code, "redirect_uri", REDIRECT,
                         "code_verifier", VERIFIER, "client_secret",
                         PROD_SECRET, NULL)
          : tclient_form("grant_type", "authorization_code", "client_id", app,
                         "code", code, "redirect_uri", REDIRECT,
                         "code_verifier", VERIFIER, NULL);
  json_object *j = token_call(form, want_status);
  free(form);
  return j;
}

FLOW_FN json_object *refresh(const char *app, const char *rt,
                             long want_status) {
  char *form = strcmp(app, PROD) == 0
                   ? tclient_form("grant_type", "refresh_token", "client_id",
                                  app, "refresh_token", rt, "client_secret",
                                  PROD_SECRET, NULL)
                   : tclient_form("grant_type", "refresh_token", "client_id",
                                  app, "refresh_token", rt, NULL);
  json_object *j = token_call(form, want_status);
  free(form);
  return j;
}

/* The error JSON of the token endpoint: error, AADSTS in error_codes and
 * description. */
FLOW_FN void expect_token_error(json_object *j, const char *error, int aadsts,
                                const char *suberror) {
  json_object *codes;
  char want[32];
  assert_string_equal(jstr(j, "error"), error);
  assert_true(json_object_object_get_ex(j, "error_codes", &codes));
  assert_int_equal(json_object_get_int(json_object_array_get_idx(codes, 0)),
                   aadsts);
  snprintf(want, sizeof(want), "AADSTS%d:", aadsts);
  assert_memory_equal(jstr(j, "error_description"), want, strlen(want));
  assert_non_null(jstr(j, "trace_id"));
  assert_non_null(jstr(j, "correlation_id"));
  /* Distinct GUIDs at Microsoft (no client-request-id was sent). */
  assert_string_not_equal(jstr(j, "trace_id"), jstr(j, "correlation_id"));
  assert_non_null(jstr(j, "timestamp"));
  if (suberror != NULL)
    assert_string_equal(jstr(j, "suberror"), suberror);
  else
    assert_null(jstr(j, "suberror"));
}

/* POST /token with form must be refused with want_status and the token
 * endpoint's error JSON for error / AADSTS aadsts (no suberror). */
FLOW_FN void token_refused(const char *form, long want_status,
                           const char *error, int aadsts) {
  json_object *j = token_call(form, want_status);
  expect_token_error(j, error, aadsts, NULL);
  json_object_put(j);
}

/* Admin API call; asserts the status; returns the JSON body (or NULL). */
FLOW_FN json_object *admin(const char *method, const char *path,
                           const char *body_json, long want_status) {
  tclient *c = tclient_new(0);
  char *u = url_of(path);
  json_object *body = body_json ? json_tokener_parse(body_json) : NULL, *j;
  tresp r;
  assert_int_equal(tclient_json(c, method, u, body, &r), 0);
  if (r.status != want_status)
    fprintf(stderr, "%s %s: want %ld got %ld: %s\n", method, path, want_status,
            r.status, r.body);
  assert_int_equal(r.status, want_status);
  j = tresp_json(&r);
  tresp_free(&r);
  json_object_put(body);
  free(u);
  tclient_free(c);
  return j;
}

FLOW_FN void admin_ok(const char *method, const char *path,
                      const char *body_json) {
  json_object *j =
      admin(method, path, body_json, strcmp(method, "DELETE") == 0 ? 204 : 200);
  json_object_put(j);
}

FLOW_FN void advance(int64_t seconds) {
  char body[64];
  snprintf(body, sizeof(body), "{\"seconds\": %lld}", (long long)seconds);
  admin_ok("POST", "/__emulator/time/advance", body);
}

FLOW_FN void set_user_consent(const char *mode) {
  char body[128];
  snprintf(body, sizeof(body), "{\"userConsent\":\"%s\"}", mode);
  admin_ok("POST", "/__emulator/consent/settings", body);
}

/* GET /v1.0/me/mailFolders with the token; returns the status, and checks
 * the 401 shape when it is one. */
FLOW_FN long graph_status(const char *access_token) {
  tclient *c = tclient_new(0);
  char *u = url_of("/v1.0/me/mailFolders"), auth[8192];
  const char *hdr[] = {auth, NULL};
  tresp r;
  long status;
  snprintf(auth, sizeof(auth), "Authorization: Bearer %s", access_token);
  assert_int_equal(tclient_request(c, "GET", u, hdr, NULL, &r), 0);
  status = r.status;
  if (status == 401) {
    json_object *j = tresp_json(&r), *e;
    const char *www = tresp_header(&r, "WWW-Authenticate");
    assert_non_null(www);
    assert_non_null(strstr(www, "client_id=\"00000003-0000-0000-c000-"
                                "000000000000\""));
    assert_non_null(strstr(www, "authorization_uri=\"https://"
                                "login.microsoftonline.com/common/oauth2/"
                                "authorize\""));
    assert_true(json_object_object_get_ex(j, "error", &e));
    assert_string_equal(jstr(e, "code"), "InvalidAuthenticationToken");
    json_object_put(j);
  }
  tresp_free(&r);
  free(u);
  tclient_free(c);
  return status;
}

/* The payload of a compact JWS, unverified (new reference). */
FLOW_FN json_object *jwt_payload(const char *jwt) {
  const char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  size_t n, i;
  char *b64;
  unsigned char *raw;
  int len;
  json_object *j;
  assert_non_null(d2);
  n = (size_t)(d2 - d1 - 1);
  b64 = calloc(1, n + 4);
  raw = calloc(1, n + 4);
  for (i = 0; i < n; i++)
    b64[i] = d1[1 + i] == '-' ? '+' : d1[1 + i] == '_' ? '/' : d1[1 + i];
  while (n % 4)
    b64[n++] = '=';
  len = EVP_DecodeBlock(raw, (unsigned char *)b64, (int)n);
  assert_true(len > 0);
  j = json_tokener_parse((char *)raw);
  assert_non_null(j);
  free(b64);
  free(raw);
  return j;
}

/* Tokens of one connection. */
typedef struct conn {
  char *access_token;
  char *refresh_token;
  int64_t expires_in;
} conn;

FLOW_FN void conn_from(conn *k, json_object *tok) {
  assert_string_equal(jstr(tok, "token_type"), "Bearer");
  k->access_token = strdup(jstr(tok, "access_token"));
  k->refresh_token =
      jstr(tok, "refresh_token") ? strdup(jstr(tok, "refresh_token")) : NULL;
  k->expires_in = jint(tok, "expires_in");
}

FLOW_FN void conn_free(conn *k) {
  free(k->access_token);
  free(k->refresh_token);
  memset(k, 0, sizeof(*k));
}

/* The redirect after sign-in (no page) redeemed into a connection. */
FLOW_FN void finish(const tresp *r, const char *app, conn *k) {
  char *code = expect_code(r);
  json_object *tok = redeem(app, code, 200);
  conn_from(k, tok);
  json_object_put(tok);
  free(code);
}

#endif
