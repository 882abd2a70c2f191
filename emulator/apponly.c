/* apponly.c - see apponly.h. Admin API (portal actions, no auth):
 *
 *   POST   /__emulator/apps/{clientId}/credentials      add a client secret
 *          {"type":"secret","secret"?,"expiresInSeconds"?} (a secret is
 *          made when absent and shown once, as secretText) or a certificate
 *          {"type":"certificate","certificate":"-----BEGIN CERTIFICATE..."}
 *   GET    /__emulator/apps/{clientId}/credentials      keyId, type, dates,
 *          thumbprints (never a secret)
 *   DELETE /__emulator/apps/{clientId}/credentials/{keyId}
 *   DELETE /__emulator/apps/{clientId}/app-roles        remove the consented
 *          application permissions (appRoleAssignments)
 *   POST   /__emulator/application-access-policies      New-ApplicationAccess-
 *          Policy: {"appId","accessRight":"RestrictAccess|DenyAccess",
 *          "members":[mailboxes of the scope group],"description"?}
 *   GET    /__emulator/application-access-policies      Get-...
 *   DELETE /__emulator/application-access-policies/{id} Remove-...
 *   GET    /__emulator/application-access-policies/test?appId=&identity=
 *          Test-ApplicationAccessPolicy: {"AccessCheckResult":"Granted|Denied"}
 *
 *   GET    /{tenant}/adminconsent?client_id=[&state=][&redirect_uri=]
 *          the older admin consent URL (no scope): the v2.0 endpoint with
 *          scope {Graph}/.default and the app's first redirect URI
 *
 * The tenant document may carry "applicationAccessPolicies" (same shape as
 * the POST body) and, per application, "applicationPermissions". */
#define _DEFAULT_SOURCE /* explicit_bzero, strndup, timegm */
#include "apponly.h"
#include "identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
/* Microsoft allows some clock skew on client assertions. */
#define ASSERTION_SKEW_S 300

static const char *role_canonical(const char *role) {
  return emu_app_role_name(role);
}

/* ---- state ------------------------------------------------------------- */

typedef struct cred {
  char key_id[37];
  char *client_id;
  int is_cert;
  char *secret;  /* secrets */
  EVP_PKEY *pub; /* certificates: the public key */
  char *pem;     /* certificates: as uploaded (kept by --state-dir) */
  char x5t[64];  /* base64url SHA-1 of the DER certificate */
  char x5t256[64];
  char thumb_hex[41];       /* SHA-1 hex, as the portal shows it */
  int64_t start_ms, end_ms; /* 0: unbounded */
  struct cred *next;
} cred;

typedef struct role_grant {
  char *client_id;
  uint64_t generation; /* of the enterprise app when granted */
  emu_scopes roles;
  struct role_grant *next;
} role_grant;

enum { POLICY_RESTRICT = 1, POLICY_DENY = 2 };

typedef struct policy {
  char id[37];
  char *app_id;
  int right;
  char **members; /* user ids */
  size_t nmembers;
  char *description;
  struct policy *next;
} policy;

static struct {
  cred *creds;
  role_grant *grants;
  policy *policies; /* in creation order */
  uint64_t tokens_issued;
} st;

static void cred_free(cred *c) {
  if (c->secret != NULL) {
    explicit_bzero(c->secret, strlen(c->secret));
    free(c->secret);
  }
  EVP_PKEY_free(c->pub);
  free(c->pem);
  free(c->client_id);
  free(c);
}

static void policy_free(policy *p) {
  for (size_t i = 0; i < p->nmembers; i++)
    free(p->members[i]);
  free(p->members);
  free(p->app_id);
  free(p->description);
  free(p);
}

static void state_clear(void) {
  while (st.creds) {
    cred *c = st.creds;
    st.creds = c->next;
    cred_free(c);
  }
  while (st.grants) {
    role_grant *g = st.grants;
    st.grants = g->next;
    free(g->client_id);
    emu_scopes_clear(&g->roles);
    free(g);
  }
  while (st.policies) {
    policy *p = st.policies;
    st.policies = p->next;
    policy_free(p);
  }
  st.tokens_issued = 0;
}

/* ---- app roles --------------------------------------------------------- */

static role_grant *grant_find(const char *client_id) {
  for (role_grant *g = st.grants; g; g = g->next)
    if (strcasecmp(g->client_id, client_id) == 0)
      return g;
  return NULL;
}

/* The roles consented for the app, or NULL: none, or the enterprise app
 * was deleted since (its grants went with it). Borrowed. */
static const emu_scopes *granted_roles(const char *client_id) {
  role_grant *g = grant_find(client_id);
  emu_consent *c = emu_id_consent();
  if (g == NULL || !emu_consent_app_exists(c, client_id) ||
      emu_consent_app_generation(c, client_id) != g->generation)
    return NULL;
  return &g->roles;
}

int emu_apponly_grant_roles(const emu_app *app) {
  if (app->napp_roles == 0)
    return 0;
  emu_consent *c = emu_id_consent();
  if (!emu_consent_app_exists(c, app->client_id))
    emu_consent_app_add(c, app->client_id);
  role_grant *g = grant_find(app->client_id);
  if (g == NULL) {
    g = calloc(1, sizeof *g);
    if (g == NULL || (g->client_id = strdup(app->client_id)) == NULL) {
      free(g);
      return -1;
    }
    g->next = st.grants;
    st.grants = g;
  }
  uint64_t gen = emu_consent_app_generation(c, app->client_id);
  if (g->generation != gen)
    emu_scopes_clear(&g->roles); /* granted to an app since deleted */
  g->generation = gen;
  for (size_t i = 0; i < app->napp_roles; i++)
    if (emu_scopes_add(&g->roles, role_canonical(app->app_roles[i])) != 0)
      return -1;
  return 0;
}

/* ---- application access policies ---------------------------------------- */

static int policy_has(const policy *p, const char *user_id) {
  for (size_t i = 0; i < p->nmembers; i++)
    if (strcasecmp(p->members[i], user_id) == 0)
      return 1;
  return 0;
}

int emu_apponly_mailbox_allowed(const char *app_id, const emu_user *mailbox) {
  int restricted = 0, in_restrict = 0;
  for (const policy *p = st.policies; p; p = p->next) {
    if (strcasecmp(p->app_id, app_id) != 0)
      continue;
    if (p->right == POLICY_DENY && policy_has(p, mailbox->id))
      return 0;
    if (p->right == POLICY_RESTRICT) {
      restricted = 1;
      in_restrict |= policy_has(p, mailbox->id);
    }
  }
  return !restricted || in_restrict;
}

void emu_apponly_policy_denied(emu_req *r) {
  /* Exchange Online's words (seen in the field, e.g. 403 bodies quoted in
   * public repositories; find_string "Blocked by tenant configured AppOnly
   * AccessPolicy"). */
  emu_graph_error(r, 403, "ErrorAccessDenied",
                  "Access to OData is disabled: [RAOP] : Blocked by tenant "
                  "configured AppOnly AccessPolicy settings.");
}

/* Parses a policy object (admin API body or tenant document entry) into a
 * new policy; NULL with the reason in err. */
static policy *policy_parse(json_object *o, char *err, size_t n) {
  json_object *v, *members;
  if (!json_object_is_type(o, json_type_object)) {
    snprintf(err, n, "a policy must be an object");
    return NULL;
  }
  const char *app_id = json_object_object_get_ex(o, "appId", &v)
                           ? json_object_get_string(v)
                           : NULL;
  const char *right = json_object_object_get_ex(o, "accessRight", &v)
                          ? json_object_get_string(v)
                          : NULL;
  if (app_id == NULL || emu_app_find(app_id) == NULL) {
    snprintf(err, n, "appId must name an application of the tenant");
    return NULL;
  }
  int r = right && strcasecmp(right, "RestrictAccess") == 0 ? POLICY_RESTRICT
          : right && strcasecmp(right, "DenyAccess") == 0   ? POLICY_DENY
                                                            : 0;
  if (r == 0) {
    snprintf(err, n, "accessRight must be RestrictAccess or DenyAccess");
    return NULL;
  }
  if (!json_object_object_get_ex(o, "members", &members) ||
      !json_object_is_type(members, json_type_array)) {
    snprintf(err, n,
             "members must be an array of the mailboxes (UPN or id) of the "
             "policy's scope group");
    return NULL;
  }
  policy *p = calloc(1, sizeof *p);
  size_t len = json_object_array_length(members);
  if (p == NULL ||
      (p->members = calloc(len ? len : 1, sizeof(char *))) == NULL) {
    free(p);
    snprintf(err, n, "out of memory");
    return NULL;
  }
  p->right = r;
  p->app_id = strdup(emu_app_find(app_id)->client_id);
  if (json_object_object_get_ex(o, "description", &v))
    p->description = strdup(json_object_get_string(v));
  for (size_t i = 0; i < len; i++) {
    const char *who =
        json_object_get_string(json_object_array_get_idx(members, i));
    emu_user *u = who ? emu_user_find(who) : NULL;
    if (u == NULL) {
      snprintf(err, n, "members[%zu]: '%s' is no mailbox of the tenant", i,
               who ? who : "");
      policy_free(p);
      return NULL;
    }
    p->members[p->nmembers++] = strdup(u->id);
  }
  emu_uuid(p->id);
  return p;
}

static void policy_append(policy *p) {
  policy **pp = &st.policies;
  while (*pp)
    pp = &(*pp)->next;
  *pp = p;
}

static json_object *policy_json(const policy *p) {
  json_object *o = json_object_new_object();
  const emu_tenant *t = emu_tenant_get();
  char identity[160];
  snprintf(identity, sizeof identity, "%s\\%s:%s", t->id, p->app_id, p->id);
  json_object_object_add(o, "id", json_object_new_string(p->id));
  json_object_object_add(o, "identity", json_object_new_string(identity));
  json_object_object_add(o, "appId", json_object_new_string(p->app_id));
  json_object_object_add(o, "accessRight",
                         json_object_new_string(p->right == POLICY_DENY
                                                    ? "DenyAccess"
                                                    : "RestrictAccess"));
  json_object *m = json_object_new_array();
  for (size_t i = 0; i < p->nmembers; i++) {
    emu_user *u = emu_user_find(p->members[i]);
    json_object_array_add(m,
                          json_object_new_string(u ? u->upn : p->members[i]));
  }
  json_object_object_add(o, "members", m);
  if (p->description)
    json_object_object_add(o, "description",
                           json_object_new_string(p->description));
  return o;
}

/* ---- the client credentials grant ---------------------------------------- */

/* Decodes len bytes of base64url at s into a new NUL-terminated buffer
 * (*out_len bytes before the NUL), or NULL. */
static char *b64url_part(const char *s, size_t len, size_t *out_len) {
  char *copy = strndup(s, len);
  size_t n = 0;
  unsigned char *raw = copy ? emu_b64_decode(copy, &n) : NULL;
  free(copy);
  char *out = raw ? malloc(n + 1) : NULL;
  if (out != NULL) {
    memcpy(out, raw, n);
    out[n] = '\0';
    *out_len = n;
  }
  free(raw);
  return out;
}

/* A base64url JSON object part of a JWT (new reference), or NULL. */
static json_object *json_part(const char *s, size_t len) {
  size_t n = 0;
  char *raw = b64url_part(s, len, &n);
  json_object *o = NULL;
  if (raw != NULL) {
    json_tokener *t = json_tokener_new();
    if (t != NULL)
      o = json_tokener_parse_ex(t, raw, (int)n);
    json_tokener_free(t);
  }
  free(raw);
  if (o != NULL && !json_object_is_type(o, json_type_object)) {
    json_object_put(o);
    o = NULL;
  }
  return o;
}

static const char *jstr(json_object *o, const char *k) {
  json_object *v;
  return json_object_object_get_ex(o, k, &v) &&
                 json_object_is_type(v, json_type_string)
             ? json_object_get_string(v)
             : NULL;
}

static int jint(json_object *o, const char *k, int64_t *out) {
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v) ||
      !(json_object_is_type(v, json_type_int) ||
        json_object_is_type(v, json_type_double)))
    return -1;
  *out = json_object_get_int64(v);
  return 0;
}

static void fmt_time(int64_t s, char out[32]) {
  emu_fmt_iso8601(s * 1000, out);
}

/* Checks the client assertion of the request for app. 0, or -1 after
 * setting the error response. */
static int check_assertion(emu_req *r, const emu_app *app, const char *jwt) {
  const char *d1 = strchr(jwt, '.');
  const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
  json_object *hdr = NULL, *cl = NULL;
  unsigned char *sig = NULL;
  size_t siglen = 0;
  int rc = -1;
  if (d2 == NULL || strchr(d2 + 1, '.') != NULL ||
      (hdr = json_part(jwt, (size_t)(d1 - jwt))) == NULL ||
      (cl = json_part(d1 + 1, (size_t)(d2 - d1 - 1))) == NULL ||
      (sig = (unsigned char *)b64url_part(d2 + 1, strlen(d2 + 1), &siglen)) ==
          NULL) {
    emu_id_error(r, 400, "invalid_request", 50027, NULL,
                 "JWT token is invalid or is malformed.");
    goto done;
  }
  const char *alg = jstr(hdr, "alg");
  if (alg == NULL || strcmp(alg, "RS256") != 0) {
    emu_id_error(r, 401, "invalid_client", 700027, NULL,
                 "Client assertion contains an invalid signature. [Reason - "
                 "The algorithm '%s' is not supported; sign with RS256.]",
                 alg ? alg : "");
    goto done;
  }
  /* The key: x5t#S256 (SHA-256 thumbprint) or x5t (SHA-1) of a
   * certificate registered on the app. */
  const char *x5t256 = jstr(hdr, "x5t#S256");
  const char *x5t = jstr(hdr, "x5t");
  cred *key = NULL;
  for (cred *c = st.creds; c && key == NULL; c = c->next)
    if (c->is_cert && strcasecmp(c->client_id, app->client_id) == 0 &&
        ((x5t256 && strcmp(x5t256, c->x5t256) == 0) ||
         (x5t && strcmp(x5t, c->x5t) == 0)))
      key = c;
  if (key == NULL) {
    emu_id_error(r, 401, "invalid_client", 700027, NULL,
                 "Client assertion contains an invalid signature. [Reason - "
                 "The key was not found., Thumbprint of key used by client: "
                 "'%s', Please visit the Azure Portal, Graph Explorer or "
                 "directly use MS Graph to see configured keys for app Id "
                 "'%s'.]",
                 x5t256 ? x5t256
                 : x5t  ? x5t
                        : "",
                 app->client_id);
    goto done;
  }
  int64_t now = emu_now();
  if ((key->end_ms && now * 1000 > key->end_ms) ||
      (key->start_ms && now * 1000 < key->start_ms)) {
    char end[32];
    fmt_time(key->end_ms / 1000, end);
    /* AADSTS1000502 (AzureAD/microsoft-identity-web#2834, #2840). */
    emu_id_error(r, 401, "invalid_client", 1000502, NULL,
                 "The provided certificate with identifier '%s' is not "
                 "within its specified validity window (valid until %s).",
                 key->thumb_hex, end);
    goto done;
  }
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  int ok = md != NULL &&
           EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key->pub) == 1 &&
           EVP_DigestVerify(md, sig, siglen, (const unsigned char *)jwt,
                            (size_t)(d2 - jwt)) == 1;
  EVP_MD_CTX_free(md);
  if (!ok) {
    emu_id_error(r, 401, "invalid_client", 700027, NULL,
                 "Client assertion contains an invalid signature. [Reason - "
                 "The provided signature value did not match the expected "
                 "signature value., Thumbprint of key used by client: '%s']",
                 key->thumb_hex);
    goto done;
  }
  const char *iss = jstr(cl, "iss"), *sub = jstr(cl, "sub");
  if (iss == NULL || sub == NULL || strcasecmp(iss, app->client_id) != 0 ||
      strcasecmp(sub, app->client_id) != 0) {
    emu_id_error(r, 401, "invalid_client", 700021, NULL,
                 "Client assertion application identifier doesn't match "
                 "'client_id' parameter. Review the documentation at "
                 "https://learn.microsoft.com/entra/identity-platform/"
                 "certificate-credentials .");
    goto done;
  }
  /* aud: this token endpoint, with the tenant as id or domain. */
  const char *aud = jstr(cl, "aud");
  const emu_tenant *t = emu_tenant_get();
  char want1[600], want2[600];
  snprintf(want1, sizeof want1, "%s/%s/oauth2/v2.0/token", emu_req_base_url(r),
           t->id);
  snprintf(want2, sizeof want2, "%s/%s/oauth2/v2.0/token", emu_req_base_url(r),
           t->domain);
  if (aud == NULL ||
      (strcasecmp(aud, want1) != 0 && strcasecmp(aud, want2) != 0)) {
    emu_id_error(r, 401, "invalid_client", 700027, NULL,
                 "Client assertion failed validation. [Reason - The audience "
                 "'%s' is not this token endpoint, %s.]",
                 aud ? aud : "", want1);
    goto done;
  }
  int64_t exp = 0, nbf = 0;
  if (jint(cl, "exp", &exp) != 0 || jstr(cl, "jti") == NULL) {
    emu_id_error(r, 400, "invalid_request", 50027, NULL,
                 "JWT token is invalid or is malformed (the client assertion "
                 "needs exp and jti).");
    goto done;
  }
  if (jint(cl, "nbf", &nbf) != 0)
    nbf = 0;
  if (now > exp + ASSERTION_SKEW_S || now + ASSERTION_SKEW_S < nbf) {
    char cur[32], from[32], to[32];
    fmt_time(now, cur);
    fmt_time(nbf, from);
    fmt_time(exp, to);
    emu_id_error(r, 401, "invalid_client", 700024, NULL,
                 "Client assertion is not within its valid time range. "
                 "Current time: %s, assertion valid from %s, expiry time of "
                 "assertion %s. Review the documentation at "
                 "https://learn.microsoft.com/entra/identity-platform/"
                 "certificate-credentials .",
                 cur, from, to);
    goto done;
  }
  rc = 0;
done:
  json_object_put(hdr);
  json_object_put(cl);
  free(sig);
  return rc;
}

/* Checks the client secret. 0, or -1 after setting the error. */
static int check_secret(emu_req *r, const emu_app *app, const char *secret) {
  if (app->client_secret != NULL && emu_secret_eq(app->client_secret, secret))
    return 0;
  int expired = 0;
  int64_t now_ms = emu_now_ms();
  for (cred *c = st.creds; c; c = c->next) {
    if (c->is_cert || strcasecmp(c->client_id, app->client_id) != 0 ||
        !emu_secret_eq(c->secret, secret))
      continue;
    if (c->end_ms == 0 || now_ms <= c->end_ms)
      return 0;
    expired = 1;
  }
  if (expired)
    emu_id_error(r, 401, "invalid_client", 7000222, NULL,
                 "The provided client secret keys for app '%s' are expired. "
                 "Visit the Azure portal to create new keys for your app: "
                 "https://aka.ms/NewClientSecret, or consider using "
                 "certificate credentials for added security: "
                 "https://aka.ms/certCreds.",
                 app->client_id);
  else
    emu_id_error(r, 401, "invalid_client", 7000215, NULL,
                 "Invalid client secret provided. Ensure the secret being "
                 "sent in the request is the client secret value, not the "
                 "client secret ID, for a secret added to app '%s'.",
                 app->client_id);
  return -1;
}

/* Client secret from the form or HTTP Basic (RFC 6749 2.3.1). malloc'd. */
static char *request_secret(emu_req *r) {
  const char *s = emu_req_form(r, "client_secret");
  if (s != NULL)
    return strdup(s);
  const char *auth = emu_req_header(r, "Authorization");
  if (auth == NULL || strncasecmp(auth, "Basic ", 6) != 0)
    return NULL;
  size_t n = 0;
  unsigned char *raw = emu_b64_decode(auth + 6, &n);
  char *text = raw ? strndup((char *)raw, n) : NULL;
  char *out = NULL;
  if (raw != NULL)
    explicit_bzero(raw, n);
  free(raw);
  char *colon = text ? strchr(text, ':') : NULL;
  if (colon != NULL && emu_url_decode(colon + 1, 1) >= 0)
    out = strdup(colon + 1);
  if (text != NULL) {
    explicit_bzero(text, strlen(text));
    free(text);
  }
  return out;
}

/* scope must be {resource}/.default with Graph as the resource. 0, or -1
 * after setting the error. */
static int check_scope(emu_req *r) {
  const char *scope = emu_req_form(r, "scope");
  if (scope == NULL || *scope == '\0') {
    emu_id_error(r, 400, "invalid_request", 900144, NULL,
                 "The request body must contain the following parameter: "
                 "'scope'.");
    return -1;
  }
  static const char *const ok[] = {"https://graph.microsoft.com/.default",
                                   EMU_GRAPH_APP_ID "/.default", NULL};
  for (size_t i = 0; ok[i]; i++)
    if (strcasecmp(scope, ok[i]) == 0)
      return 0;
  if (strchr(scope, ' ') == NULL && strcasecmp(scope, ".default") != 0 &&
      (strlen(scope) < 9 ||
       strcasecmp(scope + strlen(scope) - 9, "/.default") != 0)) {
    emu_id_error(r, 400, "invalid_scope", 1002012, NULL,
                 "The provided value for scope %s is not valid. Client "
                 "credential flows must have a scope value with /.default "
                 "suffixed to the resource identifier (application ID URI).",
                 scope);
    return -1;
  }
  emu_id_error(r, 400, "invalid_scope", 70011, NULL,
               "The provided request must include a 'scope' input parameter. "
               "The provided value for the input parameter 'scope' is not "
               "valid. The scope %s is not valid: the client credentials "
               "grant takes one resource's .default "
               "(https://graph.microsoft.com/.default).",
               scope);
  return -1;
}

void emu_apponly_token(emu_req *r, const emu_app *app) {
  const char *atype = emu_req_form(r, "client_assertion_type");
  const char *assertion = emu_req_form(r, "client_assertion");
  char *secret = request_secret(r);
  int how = 0; /* appidacr: 1 secret, 2 certificate */
  if (app->public_client) {
    emu_id_error(r, 400, "unauthorized_client", 700016, NULL,
                 "The application '%s' is a public client: the client "
                 "credentials grant needs a confidential client with a "
                 "secret or a certificate.",
                 app->client_id);
    goto done;
  }
  if (atype != NULL || assertion != NULL) {
    if (secret != NULL) {
      emu_id_error(r, 400, "invalid_request", 90014, NULL,
                   "Only one of 'client_assertion' and 'client_secret' may "
                   "be presented.");
      goto done;
    }
    if (atype == NULL || strcmp(atype, ASSERTION_TYPE) != 0) {
      emu_id_error(r, 400, "invalid_request", 900144, NULL,
                   "The request body must contain the following parameter: "
                   "'client_assertion_type' (" ASSERTION_TYPE ").");
      goto done;
    }
    if (assertion == NULL || *assertion == '\0') {
      emu_id_error(r, 400, "invalid_request", 900144, NULL,
                   "The request body must contain the following parameter: "
                   "'client_assertion'.");
      goto done;
    }
    if (check_assertion(r, app, assertion) != 0)
      goto done;
    how = 2;
  } else if (secret != NULL) {
    if (check_secret(r, app, secret) != 0)
      goto done;
    how = 1;
  } else {
    emu_id_error(r, 401, "invalid_client", 7000216, NULL,
                 "'client_assertion', 'client_secret' or 'request' is "
                 "required for the 'client_credentials' grant type.");
    goto done;
  }
  if (check_scope(r) != 0)
    goto done;

  /* An app registered in this tenant has its enterprise app (service
   * principal) from the start; once deleted, the app is not found. */
  emu_consent *cs = emu_id_consent();
  if (!emu_consent_app_exists(cs, app->client_id)) {
    if (emu_consent_app_generation(cs, app->client_id) == 0) {
      emu_consent_app_add(cs, app->client_id);
    } else {
      emu_id_error(
          r, 400, "unauthorized_client", 700016, NULL,
          "Application with identifier '%s' was not found in the "
          "directory '%s'. This can happen if the application has "
          "not been installed by the administrator of the tenant or "
          "consented to by any user in the tenant.",
          app->client_id,
          emu_tenant_get()->display_name ? emu_tenant_get()->display_name : "");
      goto done;
    }
  }

  /* The token: as Microsoft issues it, with a "roles" claim only for the
   * application permissions an administrator consented to (none: no
   * claim, and Graph refuses every mail request with 403). */
  const emu_tenant *tn = emu_tenant_get();
  int64_t now = emu_now(), life = emu_id_access_token_lifetime();
  const char *sp = emu_consent_app_sp_id(cs, app->client_id);
  char iss[128], uti[37];
  snprintf(iss, sizeof iss, "https://sts.windows.net/%s/", tn->id);
  emu_uuid(uti);
  json_object *at = json_object_new_object();
  json_object_object_add(at, "aud", json_object_new_string(EMU_GRAPH_APP_ID));
  json_object_object_add(at, "iss", json_object_new_string(iss));
  json_object_object_add(at, "iat", json_object_new_int64(now));
  json_object_object_add(at, "nbf", json_object_new_int64(now));
  json_object_object_add(at, "exp", json_object_new_int64(now + life));
  json_object_object_add(at, "app_displayname",
                         json_object_new_string(app->display_name));
  json_object_object_add(at, "appid", json_object_new_string(app->client_id));
  json_object_object_add(at, "appidacr",
                         json_object_new_string(how == 2 ? "2" : "1"));
  json_object_object_add(at, "idp", json_object_new_string(iss));
  json_object_object_add(at, "idtyp", json_object_new_string("app"));
  json_object_object_add(at, "oid", json_object_new_string(sp ? sp : ""));
  const emu_scopes *roles = granted_roles(app->client_id);
  if (roles != NULL && roles->n > 0) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < roles->n; i++)
      json_object_array_add(a, json_object_new_string(roles->v[i]));
    json_object_object_add(at, "roles", a);
  }
  json_object_object_add(at, "sub", json_object_new_string(sp ? sp : ""));
  json_object_object_add(at, "tid", json_object_new_string(tn->id));
  json_object_object_add(at, "uti", json_object_new_string(uti));
  json_object_object_add(at, "ver", json_object_new_string("1.0"));
  char *jwt = emu_jwt_sign(emu_id_key(), at);
  json_object_put(at);
  if (jwt == NULL) {
    emu_id_error(r, 500, "server_error", 50000, NULL,
                 "There was an error issuing a token.");
    goto done;
  }
  json_object *resp = json_object_new_object();
  json_object_object_add(resp, "token_type", json_object_new_string("Bearer"));
  json_object_object_add(resp, "expires_in", json_object_new_int64(life));
  json_object_object_add(resp, "ext_expires_in", json_object_new_int64(life));
  json_object_object_add(resp, "access_token", json_object_new_string(jwt));
  free(jwt);
  st.tokens_issued++;
  emu_resp_header(r, "Cache-Control", "no-store, no-cache");
  emu_resp_header(r, "Pragma", "no-cache");
  emu_resp_json(r, 200, resp);
done:
  if (secret != NULL) {
    explicit_bzero(secret, strlen(secret));
    free(secret);
  }
}

/* ---- admin API ---------------------------------------------------------- */

static const emu_app *app_or_404(emu_req *r) {
  const emu_app *app = emu_app_find(emu_req_param(r, "clientId"));
  if (app == NULL)
    emu_graph_error(r, 404, "Request_ResourceNotFound",
                    "Application '%s' is not registered in the tenant.",
                    emu_req_param(r, "clientId"));
  return app;
}

static json_object *cred_json(const cred *c) {
  json_object *o = json_object_new_object();
  char t[32];
  json_object_object_add(o, "keyId", json_object_new_string(c->key_id));
  json_object_object_add(
      o, "type", json_object_new_string(c->is_cert ? "certificate" : "secret"));
  if (c->start_ms) {
    emu_fmt_iso8601(c->start_ms, t);
    json_object_object_add(o, "startDateTime", json_object_new_string(t));
  }
  if (c->end_ms) {
    emu_fmt_iso8601(c->end_ms, t);
    json_object_object_add(o, "endDateTime", json_object_new_string(t));
  }
  if (c->is_cert) {
    json_object_object_add(o, "customKeyIdentifier",
                           json_object_new_string(c->thumb_hex));
    json_object_object_add(o, "x5t", json_object_new_string(c->x5t));
    json_object_object_add(o, "x5t#S256", json_object_new_string(c->x5t256));
  }
  return o;
}

static int64_t asn1_ms(const ASN1_TIME *t) {
  struct tm tm;
  if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
    return 0;
  return (int64_t)timegm(&tm) * 1000;
}

/* A certificate credential from PEM text. NULL with err set. */
static cred *cert_cred(const char *pem, char *err, size_t n) {
  BIO *b = BIO_new_mem_buf(pem, -1);
  X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  if (x == NULL) {
    snprintf(err, n,
             "certificate must be a PEM certificate "
             "(-----BEGIN CERTIFICATE-----)");
    return NULL;
  }
  cred *c = calloc(1, sizeof *c);
  unsigned char *der = NULL;
  int dlen = i2d_X509(x, &der);
  unsigned char md1[20], md2[32];
  unsigned int l1 = 0, l2 = 0;
  if (c == NULL || dlen <= 0 ||
      !EVP_Digest(der, (size_t)dlen, md1, &l1, EVP_sha1(), NULL) ||
      !EVP_Digest(der, (size_t)dlen, md2, &l2, EVP_sha256(), NULL) ||
      (c->pub = X509_get_pubkey(x)) == NULL ||
      EVP_PKEY_get_base_id(c->pub) != EVP_PKEY_RSA) {
    snprintf(err, n, "certificate must hold an RSA public key");
    if (c)
      EVP_PKEY_free(c->pub);
    free(c);
    OPENSSL_free(der);
    X509_free(x);
    return NULL;
  }
  char *e1 = emu_b64url_encode(md1, l1), *e2 = emu_b64url_encode(md2, l2);
  snprintf(c->x5t, sizeof c->x5t, "%s", e1 ? e1 : "");
  snprintf(c->x5t256, sizeof c->x5t256, "%s", e2 ? e2 : "");
  free(e1);
  free(e2);
  for (unsigned i = 0; i < l1; i++)
    snprintf(c->thumb_hex + 2 * i, 3, "%02X", md1[i]);
  c->is_cert = 1;
  c->start_ms = asn1_ms(X509_get0_notBefore(x));
  c->end_ms = asn1_ms(X509_get0_notAfter(x));
  OPENSSL_free(der);
  X509_free(x);
  return c;
}

static void h_cred_add(emu_req *r) {
  const emu_app *app = app_or_404(r);
  if (app == NULL)
    return;
  if (app->public_client) {
    emu_graph_error(r, 400, "BadRequest",
                    "Application '%s' is a public client: it has no "
                    "secrets or certificates.",
                    app->client_id);
    return;
  }
  json_object *b = emu_req_json(r);
  const char *type = jstr(b, "type");
  cred *c = NULL;
  char err[256] = "";
  json_object *out = NULL;
  if (type != NULL && strcmp(type, "certificate") == 0) {
    const char *pem = jstr(b, "certificate");
    c = pem ? cert_cred(pem, err, sizeof err) : NULL;
    if (c != NULL && (c->pem = strdup(pem)) == NULL) {
      cred_free(c);
      c = NULL;
    }
    if (pem == NULL)
      snprintf(err, sizeof err, "certificate (PEM text) is required");
  } else if (type != NULL && strcmp(type, "secret") == 0) {
    const char *given = jstr(b, "secret");
    int64_t ttl = 0;
    c = calloc(1, sizeof *c);
    if (c != NULL) {
      c->secret = given ? strdup(given) : emu_random_token(30);
      c->start_ms = emu_now_ms();
      if (jint(b, "expiresInSeconds", &ttl) == 0)
        c->end_ms = c->start_ms + ttl * 1000;
    }
  } else {
    snprintf(err, sizeof err, "type must be \"secret\" or \"certificate\"");
  }
  if (c == NULL) {
    emu_graph_error(r, 400, "BadRequest", "%s", err[0] ? err : "out of memory");
    return;
  }
  c->client_id = strdup(app->client_id);
  emu_uuid(c->key_id);
  c->next = st.creds;
  st.creds = c;
  out = cred_json(c);
  if (!c->is_cert && jstr(b, "secret") == NULL)
    json_object_object_add(out, "secretText",
                           json_object_new_string(c->secret));
  emu_resp_json(r, 201, out);
}

static void h_cred_list(emu_req *r) {
  const emu_app *app = app_or_404(r);
  if (app == NULL)
    return;
  json_object *v = json_object_new_array();
  for (cred *c = st.creds; c; c = c->next)
    if (strcasecmp(c->client_id, app->client_id) == 0)
      json_object_array_add(v, cred_json(c));
  json_object *o = json_object_new_object();
  json_object_object_add(o, "value", v);
  const emu_scopes *roles = granted_roles(app->client_id);
  json_object *ro = json_object_new_array();
  for (size_t i = 0; roles && i < roles->n; i++)
    json_object_array_add(ro, json_object_new_string(roles->v[i]));
  json_object_object_add(o, "grantedAppRoles", ro);
  json_object_object_add(o, "appTokensIssued",
                         json_object_new_int64((int64_t)st.tokens_issued));
  emu_resp_json(r, 200, o);
}

static void h_cred_delete(emu_req *r) {
  const emu_app *app = app_or_404(r);
  if (app == NULL)
    return;
  const char *id = emu_req_param(r, "keyId");
  for (cred **pp = &st.creds; *pp; pp = &(*pp)->next) {
    cred *c = *pp;
    if (strcasecmp(c->client_id, app->client_id) == 0 &&
        strcasecmp(c->key_id, id) == 0) {
      *pp = c->next;
      cred_free(c);
      emu_resp_empty(r, 204);
      return;
    }
  }
  emu_graph_error(r, 404, "Request_ResourceNotFound",
                  "No credential '%s' on application '%s'.", id,
                  app->client_id);
}

static void h_roles_delete(emu_req *r) {
  const emu_app *app = app_or_404(r);
  if (app == NULL)
    return;
  role_grant *g = grant_find(app->client_id);
  if (g != NULL)
    emu_scopes_clear(&g->roles);
  emu_resp_empty(r, 204);
}

static void h_policy_add(emu_req *r) {
  char err[256];
  policy *p = policy_parse(emu_req_json(r), err, sizeof err);
  if (p == NULL) {
    emu_graph_error(r, 400, "BadRequest", "%s", err);
    return;
  }
  policy_append(p);
  emu_resp_json(r, 201, policy_json(p));
}

static void h_policy_list(emu_req *r) {
  json_object *v = json_object_new_array();
  for (policy *p = st.policies; p; p = p->next)
    json_object_array_add(v, policy_json(p));
  json_object *o = json_object_new_object();
  json_object_object_add(o, "value", v);
  emu_resp_json(r, 200, o);
}

static void h_policy_delete(emu_req *r) {
  const char *id = emu_req_param(r, "id");
  for (policy **pp = &st.policies; *pp; pp = &(*pp)->next) {
    if (strcasecmp((*pp)->id, id) == 0) {
      policy *p = *pp;
      *pp = p->next;
      policy_free(p);
      emu_resp_empty(r, 204);
      return;
    }
  }
  emu_graph_error(r, 404, "Request_ResourceNotFound",
                  "No application access policy '%s'.", id);
}

static void h_policy_test(emu_req *r) {
  const emu_app *app = emu_app_find(emu_req_query(r, "appId"));
  const char *who = emu_req_query(r, "identity");
  emu_user *u = who ? emu_user_find(who) : NULL;
  if (app == NULL || u == NULL) {
    emu_graph_error(r, 400, "BadRequest",
                    "appId must name an application and identity a mailbox "
                    "of the tenant.");
    return;
  }
  json_object *o = json_object_new_object();
  json_object_object_add(o, "AppId", json_object_new_string(app->client_id));
  json_object_object_add(o, "Mailbox", json_object_new_string(u->upn));
  json_object_object_add(
      o, "AccessCheckResult",
      json_object_new_string(emu_apponly_mailbox_allowed(app->client_id, u)
                                 ? "Granted"
                                 : "Denied"));
  emu_resp_json(r, 200, o);
}

/* The admin consent URL without /v2.0 (what admins are often sent, and
 * what the app-only connection's remedy names): Microsoft sends it on to
 * the app's registered reply URL; here, to the v2.0 endpoint with the
 * app's .default and its first redirect URI (the v2.0 handler checks them
 * and shows the pages). */
static void h_adminconsent_v1(emu_req *r) {
  const char *cid = emu_req_query(r, "client_id");
  const emu_app *app = cid ? emu_app_find(cid) : NULL;
  const char *redirect = emu_req_query(r, "redirect_uri");
  if (redirect == NULL && app != NULL && app->nredirect_uris > 0)
    redirect = app->redirect_uris[0];
  const char *state = emu_req_query(r, "state");
  char *c = emu_url_encode(cid ? cid : "");
  char *ru = redirect ? emu_url_encode(redirect) : NULL;
  char *st_enc = state ? emu_url_encode(state) : NULL;
  char *seg = emu_url_encode(emu_req_param(r, "tenant"));
  char *loc = emu_strdup_printf(
      "/%s/v2.0/adminconsent?client_id=%s&scope=https%%3A%%2F%%2Fgraph."
      "microsoft.com%%2F.default%s%s%s%s",
      seg ? seg : "", c ? c : "", ru ? "&redirect_uri=" : "", ru ? ru : "",
      st_enc ? "&state=" : "", st_enc ? st_enc : "");
  emu_resp_redirect(r, loc);
  free(loc);
  free(c);
  free(ru);
  free(st_enc);
  free(seg);
}

static void apponly_reset(json_object *config) {
  json_object *arr;
  state_clear();
  if (config == NULL ||
      !json_object_object_get_ex(config, "applicationAccessPolicies", &arr) ||
      !json_object_is_type(arr, json_type_array))
    return;
  for (size_t i = 0; i < json_object_array_length(arr); i++) {
    char err[256];
    policy *p =
        policy_parse(json_object_array_get_idx(arr, i), err, sizeof err);
    if (p == NULL)
      fprintf(stderr,
              "m365-emulator: applicationAccessPolicies[%zu]: %s (ignored)\n",
              i, err);
    else
      policy_append(p);
  }
}

/* ---- state kept across restarts (--state-dir) ---------------------------
 *
 * {"version":1,"credentials":[{"keyId","clientId","type","secret" |
 * "certificate","startMs"?,"endMs"?}],"appRoleGrants":[{"clientId",
 * "roles":[..]}],"policies":[policy_json]}. Secrets in clear text, as
 * identity.json holds refresh tokens (the file is 0600). Grants of an
 * enterprise app deleted since are dead and not kept; a kept grant is of
 * the app as identity.json restores it. */

static json_object *apponly_state_json(void) {
  json_object *o = json_object_new_object();
  json_object *creds = json_object_new_array();
  json_object *grants = json_object_new_array();
  json_object *pols = json_object_new_array();
  json_object_object_add(o, "version", json_object_new_int(1));
  /* Oldest first, so that a restore (which prepends) keeps the order. */
  size_t n = 0;
  for (cred *c = st.creds; c; c = c->next)
    n++;
  for (size_t k = n; k-- > 0;) {
    cred *c = st.creds;
    for (size_t i = 0; i < k; i++)
      c = c->next;
    json_object *j = json_object_new_object();
    json_object_object_add(j, "keyId", json_object_new_string(c->key_id));
    json_object_object_add(j, "clientId", json_object_new_string(c->client_id));
    json_object_object_add(
        j, "type",
        json_object_new_string(c->is_cert ? "certificate" : "secret"));
    if (c->is_cert)
      json_object_object_add(j, "certificate", json_object_new_string(c->pem));
    else
      json_object_object_add(j, "secret", json_object_new_string(c->secret));
    if (c->start_ms)
      json_object_object_add(j, "startMs", json_object_new_int64(c->start_ms));
    if (c->end_ms)
      json_object_object_add(j, "endMs", json_object_new_int64(c->end_ms));
    json_object_array_add(creds, j);
  }
  for (role_grant *g = st.grants; g; g = g->next) {
    const emu_scopes *roles = granted_roles(g->client_id);
    if (roles == NULL || roles->n == 0)
      continue;
    json_object *j = json_object_new_object(), *a = json_object_new_array();
    json_object_object_add(j, "clientId", json_object_new_string(g->client_id));
    for (size_t i = 0; i < roles->n; i++)
      json_object_array_add(a, json_object_new_string(roles->v[i]));
    json_object_object_add(j, "roles", a);
    json_object_array_add(grants, j);
  }
  for (policy *p = st.policies; p; p = p->next)
    json_object_array_add(pols, policy_json(p));
  json_object_object_add(o, "credentials", creds);
  json_object_object_add(o, "appRoleGrants", grants);
  json_object_object_add(o, "policies", pols);
  return o;
}

/* The array doc[key], or NULL when absent; -1 when it is not an array. */
static int state_array(json_object *doc, const char *key, json_object **out) {
  *out = NULL;
  if (!json_object_object_get_ex(doc, key, out))
    return 0;
  return json_object_is_type(*out, json_type_array) ? 0 : -1;
}

static int state_cred(json_object *j, char *err, size_t n) {
  const char *cid = jstr(j, "clientId"), *type = jstr(j, "type");
  const char *kid = jstr(j, "keyId");
  const emu_app *app = cid ? emu_app_find(cid) : NULL;
  if (app == NULL || type == NULL || kid == NULL || strlen(kid) != 36) {
    snprintf(err, n,
             "clientId (an application of the tenant), type and "
             "keyId are required");
    return -1;
  }
  cred *c = NULL;
  if (strcmp(type, "certificate") == 0) {
    const char *pem = jstr(j, "certificate");
    c = pem ? cert_cred(pem, err, n) : NULL;
    if (pem == NULL)
      snprintf(err, n, "certificate is required");
    if (c != NULL && (c->pem = strdup(pem)) == NULL) {
      cred_free(c);
      c = NULL;
      snprintf(err, n, "out of memory");
    }
  } else if (strcmp(type, "secret") == 0 && jstr(j, "secret") != NULL) {
    c = calloc(1, sizeof *c);
    if (c == NULL || (c->secret = strdup(jstr(j, "secret"))) == NULL) {
      free(c);
      c = NULL;
      snprintf(err, n, "out of memory");
    } else {
      jint(j, "startMs", &c->start_ms);
      jint(j, "endMs", &c->end_ms);
    }
  } else {
    snprintf(err, n,
             "type must be \"secret\" (with secret) or "
             "\"certificate\"");
  }
  if (c == NULL)
    return -1;
  if ((c->client_id = strdup(app->client_id)) == NULL) {
    cred_free(c);
    snprintf(err, n, "out of memory");
    return -1;
  }
  memcpy(c->key_id, kid, 37);
  c->next = st.creds;
  st.creds = c;
  return 0;
}

static int state_grant(json_object *j, char *err, size_t n) {
  const char *cid = jstr(j, "clientId");
  const emu_app *app = cid ? emu_app_find(cid) : NULL;
  json_object *roles;
  if (app == NULL || !json_object_object_get_ex(j, "roles", &roles) ||
      !json_object_is_type(roles, json_type_array)) {
    snprintf(err, n,
             "clientId (an application of the tenant) and roles "
             "are required");
    return -1;
  }
  role_grant *g = grant_find(app->client_id);
  if (g == NULL) {
    g = calloc(1, sizeof *g);
    if (g == NULL || (g->client_id = strdup(app->client_id)) == NULL) {
      free(g);
      snprintf(err, n, "out of memory");
      return -1;
    }
    g->next = st.grants;
    st.grants = g;
  }
  /* The enterprise app as restored (identity.json): generation 0. */
  g->generation = 0;
  for (size_t i = 0; i < json_object_array_length(roles); i++) {
    const char *r = json_object_get_string(json_object_array_get_idx(roles, i));
    if (r == NULL || emu_scopes_add(&g->roles, role_canonical(r)) != 0) {
      snprintf(err, n, "roles[%zu] is not a role name", i);
      return -1;
    }
  }
  return 0;
}

static int apponly_state_load(json_object *doc, char *err, size_t errlen) {
  json_object *creds, *grants, *pols;
  int64_t v = 0;
  char why[256] = "";
  if (jint(doc, "version", &v) != 0 || v != 1) {
    snprintf(err, errlen, "\"version\" is not 1");
    return -1;
  }
  if (state_array(doc, "credentials", &creds) != 0 ||
      state_array(doc, "appRoleGrants", &grants) != 0 ||
      state_array(doc, "policies", &pols) != 0) {
    snprintf(err, errlen,
             "credentials, appRoleGrants and policies must be arrays");
    return -1;
  }
  /* What the reset hook made from the tenant document is replaced: the
   * saved state already holds it (with the changes made since). */
  state_clear();
  for (size_t i = 0; creds && i < json_object_array_length(creds); i++)
    if (state_cred(json_object_array_get_idx(creds, i), why, sizeof why) != 0) {
      snprintf(err, errlen, "credentials[%zu]: %s", i, why);
      return -1;
    }
  for (size_t i = 0; grants && i < json_object_array_length(grants); i++)
    if (state_grant(json_object_array_get_idx(grants, i), why, sizeof why) !=
        0) {
      snprintf(err, errlen, "appRoleGrants[%zu]: %s", i, why);
      return -1;
    }
  for (size_t i = 0; pols && i < json_object_array_length(pols); i++) {
    json_object *o = json_object_array_get_idx(pols, i);
    policy *p = policy_parse(o, why, sizeof why);
    const char *id = jstr(o, "id");
    if (p == NULL || id == NULL || strlen(id) != 36) {
      if (p != NULL)
        policy_free(p);
      snprintf(err, errlen, "policies[%zu]: %s", i,
               p == NULL ? why : "id is required");
      return -1;
    }
    memcpy(p->id, id, 37);
    policy_append(p);
  }
  return 0;
}

static int apponly_init(void) {
  static const emu_route_def routes[] = {
      {"GET", "/{tenant}/adminconsent", h_adminconsent_v1},
      {"POST", "/__emulator/apps/{clientId}/credentials", h_cred_add},
      {"GET", "/__emulator/apps/{clientId}/credentials", h_cred_list},
      {"DELETE", "/__emulator/apps/{clientId}/credentials/{keyId}",
       h_cred_delete},
      {"DELETE", "/__emulator/apps/{clientId}/app-roles", h_roles_delete},
      {"POST", "/__emulator/application-access-policies", h_policy_add},
      {"GET", "/__emulator/application-access-policies", h_policy_list},
      {"GET", "/__emulator/application-access-policies/test", h_policy_test},
      {"DELETE", "/__emulator/application-access-policies/{id}",
       h_policy_delete},
  };
  if (emu_routes_add("apponly", routes, sizeof routes / sizeof routes[0]) != 0)
    return -1;
  emu_reset_hook_add(apponly_reset);
  emu_state_hook_add("apponly", apponly_state_json, apponly_state_load);
  atexit(state_clear);
  return 0;
}

EMU_MODULE(apponly, apponly_init)
