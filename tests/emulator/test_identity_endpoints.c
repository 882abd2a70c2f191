/* The identity platform endpoints one by one, over HTTP against a real
 * m365-emulator: authorize parameter checks and error pages, prompt=none,
 * sign-in errors, the token endpoint's errors (codes, PKCE, redirect_uri,
 * client authentication, refresh token inactivity and revocation),
 * discovery and keys, Graph token validation. One emulator for the file;
 * each test starts from POST /__emulator/reset. */
#define _POSIX_C_SOURCE 200809L /* strndup, strdup */
#include "identity_flow.h"

#include <openssl/evp.h>

static int reset(void **state) {
  admin_ok("POST", "/__emulator/reset", NULL);
  return 0;
}

/* Signs Alice in and consents, returning the code of a fresh redirect. */
static char *alice_code(tclient *b, const char *extra) {
  tresp page, r;
  char *code;
  start(b, PREVIEW, ALICE_UPN, ALICE_PW, extra, &page);
  if (is_page(&page, "consent")) {
    consent(b, &page, 1, 0, &r);
    tresp_free(&page);
  } else {
    r = page;
  }
  code = expect_code(&r);
  tresp_free(&r);
  return code;
}

static void expect_error_page(const char *path, int aadsts) {
  tclient *c = tclient_new(0);
  char *u = url_of(path), want[64];
  tresp r;
  get(c, u, &r);
  assert_int_equal(r.status, 400);
  snprintf(want, sizeof(want), "data-aadsts=\"%d\"", aadsts);
  if (strstr(r.body, want) == NULL)
    fprintf(stderr, "want AADSTS%d page, got: %s\n", aadsts, r.body);
  assert_non_null(strstr(r.body, want));
  assert_null(tresp_header(&r, "Location"));
  tresp_free(&r);
  free(u);
  tclient_free(c);
}

static void test_authorize_error_pages(void **state) {
  /* Errors that cannot be sent to the app are shown on a page. */
  expect_error_page("/nosuch.example/oauth2/v2.0/authorize?client_id=" PREVIEW
                    "&response_type=code&redirect_uri=" REDIRECT_ENC
                    "&scope=openid",
                    90002);
  expect_error_page("/" TENANT_DOMAIN "/oauth2/v2.0/authorize?response_type="
                    "code&redirect_uri=" REDIRECT_ENC "&scope=openid",
                    900144);
  expect_error_page("/" TENANT_DOMAIN "/oauth2/v2.0/authorize?client_id="
                    "11111111-2222-3333-4444-555555555555&response_type=code"
                    "&redirect_uri=" REDIRECT_ENC "&scope=openid",
                    700016);
  expect_error_page("/" TENANT_DOMAIN
                    "/oauth2/v2.0/authorize?client_id=" PREVIEW
                    "&response_type=code&redirect_uri=https%3A%2F%2Fevil."
                    "example%2Fcallback&scope=openid",
                    50011);
  /* The loopback rule covers the port only, not the path. */
  expect_error_page("/" TENANT_DOMAIN
                    "/oauth2/v2.0/authorize?client_id=" PREVIEW
                    "&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1"
                    "%3A53682%2Fother&scope=openid",
                    50011);
}

static void test_authorize_redirect_errors(void **state) {
  tclient *b = tclient_new(1);
  tresp r;
  char path[1024], *u;
  /* Unknown scope, .default mixed with a Graph permission, bad challenge,
   * missing response_type, unsupported response_mode, bad prompt. */
  static const struct {
    const char *query;
    const char *error;
    int aadsts;
  } cases[] = {
      {"&response_type=code&scope=Mail.Fly", "invalid_scope", 70011},
      {"&response_type=code&scope=.default%20Mail.Send", "invalid_scope",
       70011},
      {"&response_type=code&scope=openid&code_challenge=short"
       "&code_challenge_method=S256",
       "invalid_request", 501491},
      {"&scope=openid", "invalid_request", 900144},
      {"&response_type=token&scope=openid", "unsupported_response_type", 70005},
      {"&response_type=code&scope=openid&response_mode=fragment",
       "invalid_request", 70007},
      {"&response_type=code&scope=openid&prompt=admin_consent",
       "invalid_request", 90023},
  };
  size_t i;
  for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
    snprintf(path, sizeof(path),
             "/%s/oauth2/v2.0/authorize?client_id=%s&redirect_uri=%s"
             "&state=%s%s",
             TENANT_DOMAIN, PREVIEW, REDIRECT_ENC, STATE, cases[i].query);
    u = url_of(path);
    get(b, u, &r);
    expect_redirect_error(&r, cases[i].error, cases[i].aadsts);
    tresp_free(&r);
    free(u);
  }
  tclient_free(b);
}

static void test_sign_in_and_prompt_none(void **state) {
  tclient *b = tclient_new(1);
  tresp page, r;
  char *code;
  /* prompt=none without a session: login_required. */
  start(b, PREVIEW, ALICE_UPN, ALICE_PW, "&prompt=none", &r);
  expect_redirect_error(&r, "login_required", 50058);
  tresp_free(&r);
  /* Wrong password: the form again with AADSTS50126; login_hint prefills. */
  {
    char *u = authorize_url(PREVIEW, "&login_hint=alice%40contoso.test");
    get(b, u, &page);
    free(u);
  }
  assert_non_null(strstr(page.body, "value=\"alice@contoso.test\""));
  sign_in(b, &page, ALICE_UPN, "wrong", &r);
  assert_true(is_page(&r, "signin"));
  /* Words for people, shown as an alert, and the name typed is kept. */
  assert_non_null(strstr(r.body, "role=\"alert\">Your account or password "
                                 "is incorrect."));
  assert_null(strstr(r.body, "AADSTS"));
  assert_non_null(strstr(r.body, "value=\"" ALICE_UPN "\""));
  tresp_free(&page);
  page = r;
  /* Shared mailboxes cannot sign in. */
  sign_in(b, &page, "support@contoso.test", "", &r);
  assert_true(is_page(&r, "signin"));
  tresp_free(&page);
  page = r;
  sign_in(b, &page, ALICE_UPN, ALICE_PW, &r);
  assert_true(is_page(&r, "consent"));
  assert_non_null(tresp_header(&r, "Set-Cookie"));
  tresp_free(&page);
  tresp_free(&r);
  /* Signed in, not consented: prompt=none says consent_required. */
  start(b, PREVIEW, ALICE_UPN, ALICE_PW, "&prompt=none", &r);
  expect_redirect_error(&r, "consent_required", 65001);
  tresp_free(&r);
  code = alice_code(b, NULL);
  free(code);
  /* Consented: prompt=none gives a code without any page. */
  code = alice_code(b, "&prompt=none");
  free(code);
  /* prompt=consent shows the consent page again. */
  start(b, PREVIEW, ALICE_UPN, ALICE_PW, "&prompt=consent", &r);
  assert_true(is_page(&r, "consent"));
  tresp_free(&r);
  /* A stale ctx is refused. */
  post_form(b, "/" TENANT_DOMAIN "/Consent/Set", "ctx=nope&action=accept", &r);
  assert_int_equal(r.status, 400);
  assert_non_null(strstr(r.body, "data-aadsts=\"50089\""));
  tresp_free(&r);
  tclient_free(b);
}

static void test_code_redemption_errors(void **state) {
  tclient *b = tclient_new(1);
  char *code, *form;
  json_object *j;
  code = alice_code(b, NULL);
  /* Wrong PKCE verifier. */
  form = tclient_form("grant_type", "authorization_code", "client_id", PREVIEW,
                      "code", code, "redirect_uri", REDIRECT, "code_verifier",
                      "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX", NULL);
  token_refused(form, 400, "invalid_grant", 501481);
  free(form);
  /* Missing verifier. */
  form = tclient_form("grant_type", "authorization_code", "client_id", PREVIEW,
                      "code", code, "redirect_uri", REDIRECT, NULL);
  token_refused(form, 400, "invalid_request", 900144);
  free(form);
  /* Another redirect_uri than on /authorize. */
  form = tclient_form("grant_type", "authorization_code", "client_id", PREVIEW,
                      "code", code, "redirect_uri",
                      "http://127.0.0.1:9999/callback", "code_verifier",
                      VERIFIER, NULL);
  token_refused(form, 400, "invalid_grant", 500112);
  free(form);
  /* Public client presenting a secret. */
  form = tclient_form("grant_type", "authorization_code", "client_id", PREVIEW,
                      "code", code, "redirect_uri", REDIRECT, "code_verifier",
                      VERIFIER, "client_secret", "x", NULL);
  token_refused(form, 401, "invalid_client", 700025);
  free(form);
  /* Redeemed once, then AADSTS54005. */
  j = redeem(PREVIEW, code, 200);
  json_object_put(j);
  j = redeem(PREVIEW, code, 400);
  expect_token_error(j, "invalid_grant", 54005, NULL);
  json_object_put(j);
  free(code);
  /* Codes expire after 10 (virtual) minutes: AADSTS70008. */
  code = alice_code(b, NULL);
  advance(601);
  j = redeem(PREVIEW, code, 400);
  expect_token_error(j, "invalid_grant", 70008, NULL);
  json_object_put(j);
  free(code);
  /* Garbage code. */
  j = redeem(PREVIEW, "not-a-code", 400);
  expect_token_error(j, "invalid_grant", 9002313, NULL);
  json_object_put(j);
  tclient_free(b);
}

static void test_token_request_errors(void **state) {
  json_object *j;
  token_refused("client_id=" PREVIEW, 400, "invalid_request", 900144);
  token_refused("grant_type=refresh_token&refresh_token=x", 400,
                "invalid_request", 900144);
  token_refused("grant_type=password&client_id=" PREVIEW, 400,
                "unsupported_grant_type", 70003);
  j = token_call("grant_type=refresh_token&refresh_token=x&client_id="
                 "11111111-2222-3333-4444-555555555555",
                 400);
  expect_token_error(j, "unauthorized_client", 700016, NULL);
  json_object_put(j);
  token_refused("grant_type=refresh_token&client_id=" PREVIEW, 400,
                "invalid_request", 900144);
}

static void test_client_secret_basic(void **state) {
  tclient *b = tclient_new(1), *c = tclient_new(0);
  tresp page, r;
  char *code, *form, *u, *cred, auth[512];
  const char *hdr[] = {"Content-Type: application/x-www-form-urlencoded", auth,
                       NULL};
  start(b, PROD, ALICE_UPN, ALICE_PW, NULL, &page);
  consent(b, &page, 1, 0, &r);
  code = expect_code(&r);
  tresp_free(&page);
  tresp_free(&r);
  /* RFC 6749 2.3.1: HTTP Basic with the form-encoded id and secret. */
  cred = strdup(PROD ":emu-prod-secret-Q7v%7ExK2pL9");
  {
    unsigned char b64[256];
    EVP_EncodeBlock(b64, (const unsigned char *)cred, (int)strlen(cred));
    snprintf(auth, sizeof(auth), "Authorization: Basic %s", b64);
  }
  form =
      tclient_form("grant_type", "authorization_code", "code", code,
                   "redirect_uri", REDIRECT, "code_verifier", VERIFIER, NULL);
  u = url_of("/" TENANT_DOMAIN "/oauth2/v2.0/token");
  assert_int_equal(tclient_request(c, "POST", u, hdr, form, &r), 0);
  assert_int_equal(r.status, 200);
  assert_non_null(strstr(r.body, "\"access_token\""));
  {
    /* Another app, the same user: another pairwise "sub". */
    json_object *tj = tresp_json(&r);
    json_object *at = jwt_payload(jstr(tj, "access_token"));
    json_object_put(tj);
    char *code2 = alice_code(b, NULL);
    tj = redeem(PREVIEW, code2, 200);
    json_object *at2 = jwt_payload(jstr(tj, "access_token"));
    assert_string_equal(jstr(at, "oid"), jstr(at2, "oid"));
    assert_string_not_equal(jstr(at, "sub"), jstr(at2, "sub"));
    json_object_put(at);
    json_object_put(at2);
    json_object_put(tj);
    free(code2);
  }
  tresp_free(&r);
  free(u);
  free(form);
  free(cred);
  free(code);
  tclient_free(b);
  tclient_free(c);
}

static void test_refresh_inactivity_and_revocation(void **state) {
  tclient *b = tclient_new(1);
  char *code = alice_code(b, NULL);
  json_object *tok = redeem(PREVIEW, code, 200), *j, *s;
  char *rt = strdup(jstr(tok, "refresh_token"));
  admin_ok("POST", "/__emulator/identity/settings",
           "{\"refreshTokenMaxInactiveSeconds\": 1000}");
  json_object_put(admin("POST", "/__emulator/identity/settings",
                        "{\"declineError\": \"nope\"}", 400));
  advance(900);
  j = refresh(PREVIEW, rt, 200); /* used: the window slides */
  json_object_put(j);
  advance(900);
  j = refresh(PREVIEW, rt, 200);
  json_object_put(j);
  advance(1001);
  j = refresh(PREVIEW, rt, 400);
  expect_token_error(j, "invalid_grant", 700082, "bad_token");
  json_object_put(j);
  /* revokeSignInSessions kills the user's refresh tokens (AADSTS50173). */
  json_object_put(tok);
  free(code);
  free(rt);
  code = alice_code(b, NULL);
  tok = redeem(PREVIEW, code, 200);
  j = admin("POST", "/__emulator/users/" ALICE_UPN "/revoke-sessions", NULL,
            200);
  assert_true(jint(j, "revokedRefreshTokens") >= 1);
  json_object_put(j);
  j = refresh(PREVIEW, jstr(tok, "refresh_token"), 400);
  expect_token_error(j, "invalid_grant", 50173, NULL);
  json_object_put(j);
  /* The counters saw it all. */
  j = admin("GET", "/__emulator/identity", NULL, 200);
  s = json_object_object_get(j, "stats");
  assert_int_equal(jint(s, "refreshes"), 2);
  assert_int_equal(jint(s, "refreshFailures"), 2);
  json_object_put(j);
  json_object_put(tok);
  free(code);
  tclient_free(b);
}

static void test_token_contents(void **state) {
  tclient *b = tclient_new(1);
  char *code = alice_code(b, NULL);
  json_object *tok = redeem(PREVIEW, code, 200), *at, *idt;
  assert_string_equal(jstr(tok, "token_type"), "Bearer");
  assert_int_equal(jint(tok, "expires_in"), jint(tok, "ext_expires_in"));
  assert_non_null(strstr(jstr(tok, "scope"),
                         "https://graph.microsoft.com/Mail.Send.Shared"));
  at = jwt_payload(jstr(tok, "access_token"));
  assert_string_equal(jstr(at, "aud"), "00000003-0000-0000-c000-000000000000");
  assert_string_equal(jstr(at, "tid"), TENANT_ID);
  assert_string_equal(jstr(at, "upn"), ALICE_UPN);
  assert_string_equal(jstr(at, "appid"), PREVIEW);
  assert_string_equal(jstr(at, "iss"),
                      "https://sts.windows.net/" TENANT_ID "/");
  /* offline_access is not a Graph permission: not in scp. */
  assert_null(strstr(jstr(at, "scp"), "offline_access"));
  assert_non_null(strstr(jstr(at, "scp"), "Mail.ReadWrite.Shared"));
  assert_int_equal(jint(at, "exp") - jint(at, "iat"), jint(tok, "expires_in"));
  idt = jwt_payload(jstr(tok, "id_token"));
  assert_string_equal(jstr(idt, "aud"), PREVIEW);
  assert_string_equal(jstr(idt, "preferred_username"), ALICE_UPN);
  /* "sub" is pairwise: the same user and app get the same one in every
   * token (MSAL keys its account cache on it), not the object id. */
  char sub[64];
  const char *isub = jstr(idt, "sub");
  assert_non_null(isub);
  snprintf(sub, sizeof sub, "%s", isub ? isub : "");
  assert_int_equal(strlen(sub), 43);
  assert_string_equal(jstr(at, "sub"), sub);
  assert_string_not_equal(sub, jstr(idt, "oid"));
  json_object_put(at);
  json_object_put(idt);
  json_object_put(tok);
  free(code);
  /* client_info=1 (MSAL): base64url {"uid","utid"}. */
  code = alice_code(b, NULL);
  {
    char *form =
        tclient_form("grant_type", "authorization_code", "client_id", PREVIEW,
                     "code", code, "redirect_uri", REDIRECT, "code_verifier",
                     VERIFIER, "client_info", "1", NULL);
    char *fake;
    tok = token_call(form, 200);
    free(form);
    /* Reuse the JWS payload decoder on "x.<client_info>.y". */
    const char *ci = jstr(tok, "client_info");
    assert_non_null(ci);
    fake = malloc(strlen(ci ? ci : "") + 5);
    sprintf(fake, "x.%s.y", ci ? ci : "");
    idt = jwt_payload(jstr(tok, "id_token"));
    assert_string_equal(jstr(idt, "sub"), sub); /* a second issuance */
    json_object_put(idt);
    at = jwt_payload(fake);
    assert_string_equal(jstr(at, "utid"), TENANT_ID);
    assert_non_null(jstr(at, "uid"));
    json_object_put(at);
    free(fake);
    json_object_put(tok);
  }
  free(code);
  /* The token endpoint only takes POST. */
  json_object_put(
      admin("GET", "/" TENANT_DOMAIN "/oauth2/v2.0/token", NULL, 400));
  tclient_free(b);
}

static void test_discovery_and_keys(void **state) {
  json_object *d, *k, *keys;
  char want[256];
  d = admin("GET", "/" TENANT_ID "/v2.0/.well-known/openid-configuration", NULL,
            200);
  assert_string_equal(jstr(d, "issuer"),
                      "https://login.microsoftonline.com/" TENANT_ID "/v2.0");
  snprintf(want, sizeof(want), "%s/%s/oauth2/v2.0/token", base(), TENANT_ID);
  assert_string_equal(jstr(d, "token_endpoint"), want);
  json_object_put(d);
  d = admin("GET", "/common/v2.0/.well-known/openid-configuration", NULL, 200);
  assert_string_equal(jstr(d, "issuer"),
                      "https://login.microsoftonline.com/{tenantid}/v2.0");
  json_object_put(d);
  json_object_put(admin("GET",
                        "/consumers/v2.0/.well-known/"
                        "openid-configuration",
                        NULL, 400));
  k = admin("GET", "/organizations/discovery/v2.0/keys", NULL, 200);
  assert_true(json_object_object_get_ex(k, "keys", &keys));
  assert_int_equal(json_object_array_length(keys), 1);
  assert_string_equal(jstr(json_object_array_get_idx(keys, 0), "kty"), "RSA");
  json_object_put(k);
}

static void test_graph_token_validation(void **state) {
  tclient *b = tclient_new(1);
  char *code = alice_code(b, NULL), *forged;
  json_object *tok = redeem(PREVIEW, code, 200);
  const char *at = jstr(tok, "access_token");
  size_t n = strlen(at);
  assert_int_equal(graph_status(at), 200);
  assert_int_equal(graph_status("not-a-jwt"), 401);
  assert_int_equal(graph_status(""), 401);
  forged = strdup(at);
  forged[n - 3] = forged[n - 3] == 'x' ? 'y' : 'x';
  assert_int_equal(graph_status(forged), 401);
  /* An id_token is not a Graph token (aud = the client). */
  assert_int_equal(graph_status(jstr(tok, "id_token")), 401);
  advance(jint(tok, "expires_in") + 1);
  assert_int_equal(graph_status(at), 401);
  free(forged);
  free(code);
  json_object_put(tok);
  tclient_free(b);
}

/* Removing one user's grant ends that user's refresh tokens (65001); the
 * enterprise app can be deleted, restored (no grants) and consented again. */
static void test_grant_removal_and_restore(void **state) {
  tclient *b = tclient_new(1);
  char *code = alice_code(b, NULL);
  json_object *tok = redeem(PREVIEW, code, 200), *j, *apps;
  tresp page;
  admin_ok("DELETE", "/__emulator/consent/grants/" PREVIEW "/" ALICE_UPN, NULL);
  json_object_put(admin("DELETE",
                        "/__emulator/consent/grants/" PREVIEW "/" ALICE_UPN,
                        NULL, 404));
  j = refresh(PREVIEW, jstr(tok, "refresh_token"), 400);
  expect_token_error(j, "invalid_grant", 65001, "consent_required");
  json_object_put(j);
  /* Consent asked again. */
  start(b, PREVIEW, ALICE_UPN, ALICE_PW, NULL, &page);
  assert_true(is_page(&page, "consent"));
  tresp_free(&page);
  admin_ok("DELETE", "/__emulator/apps/" PREVIEW, NULL);
  json_object_put(admin("DELETE", "/__emulator/apps/" PREVIEW, NULL, 404));
  j = admin("POST", "/__emulator/apps/" PREVIEW "/restore", NULL, 200);
  assert_true(json_object_object_get_ex(j, "apps", &apps));
  assert_true(json_object_get_boolean(
      json_object_object_get(json_object_array_get_idx(apps, 0), "exists")));
  json_object_put(j);
  free(code);
  code = alice_code(b, NULL);
  json_object_put(tok);
  tok = redeem(PREVIEW, code, 200);
  j = refresh(PREVIEW, jstr(tok, "refresh_token"), 200);
  json_object_put(j);
  json_object_put(tok);
  free(code);
  tclient_free(b);
}

/* A disabled app (Properties > "Enabled for users to sign-in" = No): the
 * authorize URL shows the AADSTS7000112 page; a refresh and a code are
 * refused with unauthorized_client 7000112, naming the app; grants and the
 * refresh token stay and work again once it is enabled. */
static void test_disabled_app(void **state) {
  tclient *b = tclient_new(1);
  char *code = alice_code(b, NULL);
  json_object *tok = redeem(PREVIEW, code, 200), *j, *apps;
  free(code);
  code = alice_code(b, NULL); /* a code issued before the app was disabled */
  j = admin("POST", "/__emulator/apps/" PREVIEW "/disable", NULL, 200);
  assert_true(json_object_object_get_ex(j, "apps", &apps));
  assert_false(json_object_get_boolean(json_object_object_get(
      json_object_array_get_idx(apps, 0), "accountEnabled")));
  json_object_put(j);
  expect_error_page(
      "/" TENANT_DOMAIN "/oauth2/v2.0/authorize?client_id=" PREVIEW
      "&response_type=code&redirect_uri=" REDIRECT_ENC "&scope=openid",
      7000112);
  j = refresh(PREVIEW, jstr(tok, "refresh_token"), 400);
  expect_token_error(j, "unauthorized_client", 7000112, NULL);
  assert_non_null(strstr(jstr(j, "error_description"),
                         "AADSTS7000112: Application '" PREVIEW "'("));
  assert_non_null(strstr(jstr(j, "error_description"), ") is disabled."));
  json_object_put(j);
  j = redeem(PREVIEW, code, 400);
  expect_token_error(j, "unauthorized_client", 7000112, NULL);
  json_object_put(j);
  json_object_put(admin("POST", "/__emulator/apps/nosuch/disable", NULL, 404));
  admin_ok("POST", "/__emulator/apps/" PREVIEW "/enable", NULL);
  j = refresh(PREVIEW, jstr(tok, "refresh_token"), 200);
  json_object_put(j);
  json_object_put(tok);
  free(code);
  tclient_free(b);
}

/* A Graph call with a bearer token; returns the status, the body in *out
 * (NULL when not JSON). */
static long graph_call(const char *method, const char *path, const char *at,
                       json_object **out) {
  tclient *c = tclient_new(0);
  char *u = url_of(path), auth[8192];
  const char *hdr[] = {auth, NULL};
  tresp r;
  long status;
  snprintf(auth, sizeof(auth), "Authorization: Bearer %s", at);
  assert_int_equal(tclient_request(c, method, u, hdr, NULL, &r), 0);
  status = r.status;
  if (out != NULL)
    *out = tresp_json(&r);
  tresp_free(&r);
  free(u);
  tclient_free(c);
  return status;
}

static void expect_graph_code(json_object *j, const char *code) {
  json_object *e;
  assert_true(json_object_object_get_ex(j, "error", &e));
  assert_string_equal(jstr(e, "code"), code);
  json_object_put(j);
}

/* The directory resources the connector's revoke walks: refused (403) with
 * mail scopes; with directory scopes an admin finds and deletes a user's
 * grant, and that user's refresh token dies (65001). */
static void test_directory_endpoints(void **state) {
  tclient *alice = tclient_new(1), *adm = tclient_new(1);
  char *code = alice_code(alice, NULL), *u, path[512];
  json_object *tok = redeem(PREVIEW, code, 200), *atok, *j, *v, *g;
  const char *at = jstr(tok, "access_token");
  tresp page, r;
  char sp[64], grant[64];

  assert_int_equal(graph_call("GET", "/v1.0/me", at, &j), 200);
  assert_string_equal(jstr(j, "userPrincipalName"), ALICE_UPN);
  assert_string_equal(jstr(j, "displayName"), "Alice Able");
  json_object_put(j);
  assert_int_equal(graph_call("GET", "/v1.0/me?$select=id", at, &j), 200);
  assert_non_null(jstr(j, "id"));
  assert_null(jstr(j, "displayName"));
  json_object_put(j);
  assert_int_equal(graph_call("GET", "/v1.0/users/" BOB_UPN, at, &j), 403);
  expect_graph_code(j, "Authorization_RequestDenied");
  assert_int_equal(
      graph_call("GET",
                 "/v1.0/servicePrincipals?$filter=appId%20eq%20'" PREVIEW "'",
                 at, &j),
      403);
  expect_graph_code(j, "Authorization_RequestDenied");
  assert_int_equal(graph_call("GET", "/v1.0/oauth2PermissionGrants", at, &j),
                   403);
  expect_graph_code(j, "Authorization_RequestDenied");
  assert_int_equal(
      graph_call("DELETE", "/v1.0/oauth2PermissionGrants/x", at, &j), 403);
  expect_graph_code(j, "Authorization_RequestDenied");

  /* An admin asks for directory permissions (admin-only: consent page). */
  u = url_of("/" TENANT_DOMAIN "/oauth2/v2.0/authorize?client_id=" PREVIEW
             "&response_type=code&redirect_uri=" REDIRECT_ENC
             "&scope=Directory.Read.All%20DelegatedPermissionGrant.ReadWrite."
             "All&state=" STATE "&code_challenge=" CHALLENGE
             "&code_challenge_method=S256");
  get(adm, u, &page);
  free(u);
  sign_in(adm, &page, ADMIN_UPN, ADMIN_PW, &r);
  tresp_free(&page);
  page = r;
  consent(adm, &page, 1, 0, &r);
  free(code);
  code = expect_code(&r);
  tresp_free(&page);
  tresp_free(&r);
  atok = redeem(PREVIEW, code, 200);
  at = jstr(atok, "access_token");

  assert_int_equal(
      graph_call("GET",
                 "/v1.0/servicePrincipals?$filter=appId%20eq%20'" PREVIEW
                 "'&$select=id",
                 at, &j),
      200);
  assert_true(json_object_object_get_ex(j, "value", &v));
  assert_int_equal(json_object_array_length(v), 1);
  snprintf(sp, sizeof(sp), "%s", jstr(json_object_array_get_idx(v, 0), "id"));
  json_object_put(j);
  g = admin("GET", "/__emulator/consent/grants?clientId=" PREVIEW, NULL, 200);
  assert_string_equal(
      jstr(json_object_array_get_idx(json_object_object_get(g, "apps"), 0),
           "servicePrincipalId"),
      sp);
  json_object_put(g);

  /* Directory.Read.All reads other users. */
  assert_int_equal(graph_call("GET", "/v1.0/users/" ALICE_UPN, at, &j), 200);
  assert_string_equal(jstr(j, "userPrincipalName"), ALICE_UPN);
  json_object_put(j);
  {
    json_object *me;
    char apath[512];
    assert_int_equal(
        graph_call("GET", "/v1.0/me", jstr(tok, "access_token"), &me), 200);
    snprintf(apath, sizeof(apath),
             "/v1.0/oauth2PermissionGrants?$filter=clientId%%20eq%%20'%s'"
             "%%20and%%20principalId%%20eq%%20'%s'",
             sp, jstr(me, "id"));
    json_object_put(me);
    assert_int_equal(graph_call("GET", apath, at, &j), 200);
  }
  assert_true(json_object_object_get_ex(j, "value", &v));
  assert_int_equal(json_object_array_length(v), 1);
  assert_string_equal(jstr(json_object_array_get_idx(v, 0), "consentType"),
                      "Principal");
  assert_non_null(
      strstr(jstr(json_object_array_get_idx(v, 0), "scope"), "Mail.Send"));
  snprintf(grant, sizeof(grant), "%s",
           jstr(json_object_array_get_idx(v, 0), "id"));
  json_object_put(j);
  snprintf(path, sizeof(path), "/v1.0/oauth2PermissionGrants/%s", grant);
  assert_int_equal(graph_call("DELETE", path, at, NULL), 204);
  assert_int_equal(graph_call("DELETE", path, at, &j), 404);
  expect_graph_code(j, "Request_ResourceNotFound");
  j = refresh(PREVIEW, jstr(tok, "refresh_token"), 400);
  expect_token_error(j, "invalid_grant", 65001, "consent_required");
  json_object_put(j);
  assert_int_equal(
      graph_call("GET", "/v1.0/oauth2PermissionGrants?$filter=foo%20eq%20'x'",
                 at, &j),
      400);
  expect_graph_code(j, "Request_UnsupportedQuery");
  json_object_put(tok);
  json_object_put(atok);
  free(code);
  tclient_free(alice);
  tclient_free(adm);
}

/* The tenant document's "identity" section: applied at start and on every
 * reset; a bad one stops the emulator. */
static void test_identity_config_section(void **state) {
  emu_proc *shared = emu;
  json_object *doc = emu_proc_example_doc(), *tok, *j;
  tclient *alice = tclient_new(1), *bob = tclient_new(1);
  tresp page, r;
  char *code;
  json_object_object_add(doc, "identity",
                         json_tokener_parse("{\"declineError\":"
                                            "\"access_denied\","
                                            "\"accessTokenLifetimeSeconds\":"
                                            "3600}"));
  emu = emu_proc_start_doc(doc, NULL);
  assert_non_null(emu);
  code = alice_code(alice, NULL);
  tok = redeem(PREVIEW, code, 200);
  assert_int_equal(jint(tok, "expires_in"), 3600);
  json_object_put(tok);
  free(code);
  admin_ok("POST", "/__emulator/reset", NULL);
  j = admin("GET", "/__emulator/identity", NULL, 200);
  assert_string_equal(
      jstr(json_object_object_get(j, "settings"), "declineError"),
      "access_denied");
  json_object_put(j);
  start(bob, PREVIEW, BOB_UPN, BOB_PW, NULL, &page);
  consent(bob, &page, 0, 0, &r);
  expect_redirect_error(&r, "access_denied", 65004);
  tresp_free(&page);
  tresp_free(&r);
  assert_int_equal(emu_proc_stop(emu), 0);
  json_object_object_add(doc, "identity",
                         json_tokener_parse("{\"declineError\":\"maybe\"}"));
  emu = emu_proc_start_doc(doc, NULL);
  assert_null(emu); /* exits 1 naming the field */
  emu = shared;
  json_object_put(doc);
  tclient_free(alice);
  tclient_free(bob);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_authorize_error_pages, reset),
      cmocka_unit_test_setup(test_authorize_redirect_errors, reset),
      cmocka_unit_test_setup(test_sign_in_and_prompt_none, reset),
      cmocka_unit_test_setup(test_code_redemption_errors, reset),
      cmocka_unit_test_setup(test_token_request_errors, reset),
      cmocka_unit_test_setup(test_client_secret_basic, reset),
      cmocka_unit_test_setup(test_refresh_inactivity_and_revocation, reset),
      cmocka_unit_test_setup(test_token_contents, reset),
      cmocka_unit_test_setup(test_discovery_and_keys, reset),
      cmocka_unit_test_setup(test_graph_token_validation, reset),
      cmocka_unit_test_setup(test_grant_removal_and_restore, reset),
      cmocka_unit_test_setup(test_disabled_app, reset),
      cmocka_unit_test_setup(test_directory_endpoints, reset),
      cmocka_unit_test(test_identity_config_section),
  };
  return cmocka_run_group_tests(tests, emu_setup, emu_teardown);
}
