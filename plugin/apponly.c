/* apponly.c - see apponly.h. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "apponly.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "config.h"
#include "consent.h"
#include "entry.h"
#include "graph.h"
#include "token.h"
#include "util.h"

#define ASSERTION_TYPE "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
/* Lifetime of a client assertion: Microsoft's libraries use 10 minutes. */
#define ASSERTION_LIFE_S 600

static const char *const method_values[] = {"secret", "certificate", NULL};

const wfc_field o365_app_conn_params[] = {
    {.name = "tenant",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Tenant id or domain of the organization whose "
                    "mailboxes the app reaches (app-only access is granted "
                    "per tenant: not organizations or common)."},
    {.name = "client_id",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Application (client) id of the app registration that "
                    "holds the application permissions (Mail.ReadWrite, "
                    "Mail.Send)."},
    {.name = "auth_method",
     .type = WFC_TYPE_STRING,
     .description = "How the app proves itself: certificate (a client "
                    "assertion signed with the certificate's private key; "
                    "Microsoft's recommendation) or secret (a client "
                    "secret).",
     .default_json = "\"certificate\"",
     .enum_values = method_values},
    {.name = "client_secret",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_SECRET,
     .description = "Client secret value (not its id), for auth_method "
                    "secret."},
    {.name = "private_key",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_SECRET,
     .description = "PEM RSA private key of the certificate registered on "
                    "the app, for auth_method certificate (the PEM may also "
                    "hold the certificate)."},
    {.name = "certificate",
     .type = WFC_TYPE_STRING,
     .description = "PEM certificate (public part, as uploaded to the app "
                    "registration) for auth_method certificate, unless "
                    "private_key holds it."},
    {.name = "mailbox",
     .type = WFC_TYPE_STRING,
     .max = 320,
     .description = "Mailbox (UPN or object id) cards act in when their "
                    "mailbox input is empty; without it every card needs "
                    "one."},
    O365_PARAMS_ENDPOINTS,
    {0}};

int o365_conn_is_app_only(wfc_conn *conn) {
  if (conn == NULL)
    return 0;
  const char *type = o365_json_str(o365_api->conn_info(conn), "type");
  return type != NULL && strcmp(type, O365_APP_CONN_TYPE) == 0;
}

/* ---- the client assertion --------------------------------------------- */

static char *b64url_dup(const uint8_t *in, size_t n) {
  size_t cap = (n + 2) / 3 * 4 + 1;
  char *out = malloc(cap);
  if (out != NULL && o365_b64url_encode(in, n, out, cap) == 0 && n > 0) {
    free(out);
    return NULL;
  }
  return out;
}

static char *b64url_json(struct json_object *o) {
  const char *s = json_object_to_json_string_ext(
      o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  return b64url_dup((const uint8_t *)s, strlen(s));
}

char *o365_client_assertion(const char *key_pem, const char *cert_pem,
                            const char *client_id, const char *token_url,
                            int64_t now_s, char *err, size_t errsz) {
  EVP_PKEY *key = NULL;
  X509 *cert = NULL;
  EVP_MD_CTX *md = NULL;
  struct json_object *hdr = NULL, *cl = NULL;
  char *h64 = NULL, *c64 = NULL, *out = NULL;
  unsigned char *der = NULL, *sig = NULL;
  snprintf(err, errsz, "out of memory");

  BIO *b = key_pem ? BIO_new_mem_buf(key_pem, -1) : NULL;
  key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  if (key == NULL) {
    snprintf(err, errsz,
             "private_key is not a PEM private key (-----BEGIN PRIVATE "
             "KEY----- or -----BEGIN RSA PRIVATE KEY-----, unencrypted)");
    goto done;
  }
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_RSA) {
    snprintf(err, errsz,
             "private_key is not an RSA key: Microsoft's certificate "
             "credentials are signed with RS256");
    goto done;
  }
  const char *cp = cert_pem != NULL && *cert_pem ? cert_pem : key_pem;
  b = BIO_new_mem_buf(cp, -1);
  cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
  BIO_free(b);
  if (cert == NULL) {
    snprintf(err, errsz,
             "certificate is missing or not a PEM certificate (-----BEGIN "
             "CERTIFICATE-----): give the certificate uploaded to the app "
             "registration");
    goto done;
  }
  if (X509_check_private_key(cert, key) != 1) {
    snprintf(err, errsz,
             "private_key does not belong to certificate: give the key the "
             "certificate was made with");
    goto done;
  }
  /* Thumbprints of the certificate: how Microsoft finds the key among the
   * app's registered certificates. */
  int dlen = i2d_X509(cert, &der);
  uint8_t sha1[20], sha256[32];
  unsigned int l1 = 0, l2 = 0;
  if (dlen <= 0 ||
      !EVP_Digest(der, (size_t)dlen, sha1, &l1, EVP_sha1(), NULL) ||
      !EVP_Digest(der, (size_t)dlen, sha256, &l2, EVP_sha256(), NULL))
    goto done;
  char *t1 = b64url_dup(sha1, l1), *t256 = b64url_dup(sha256, l2);
  char jti[37];
  hdr = json_object_new_object();
  o365_json_add_str(hdr, "alg", "RS256");
  o365_json_add_str(hdr, "typ", "JWT");
  o365_json_add_str(hdr, "x5t", t1);
  o365_json_add_str(hdr, "x5t#S256", t256);
  free(t1);
  free(t256);
  if (o365_guid(jti) != 0)
    goto done;
  cl = json_object_new_object();
  o365_json_add_str(cl, "aud", token_url);
  o365_json_add_str(cl, "iss", client_id);
  o365_json_add_str(cl, "sub", client_id);
  o365_json_add_str(cl, "jti", jti);
  O365_JSON_ADD(cl, "nbf", json_object_new_int64(now_s));
  O365_JSON_ADD(cl, "iat", json_object_new_int64(now_s));
  O365_JSON_ADD(cl, "exp", json_object_new_int64(now_s + ASSERTION_LIFE_S));
  h64 = b64url_json(hdr);
  c64 = b64url_json(cl);
  if (h64 == NULL || c64 == NULL)
    goto done;
  o365_buf in;
  o365_buf_init(&in);
  o365_buf_printf(&in, "%s.%s", h64, c64);
  char *signing = o365_buf_take(&in);
  size_t siglen = 0;
  md = EVP_MD_CTX_new();
  if (signing == NULL || md == NULL ||
      EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
      EVP_DigestSign(md, NULL, &siglen, (const unsigned char *)signing,
                     strlen(signing)) != 1 ||
      (sig = malloc(siglen)) == NULL ||
      EVP_DigestSign(md, sig, &siglen, (const unsigned char *)signing,
                     strlen(signing)) != 1) {
    snprintf(err, errsz, "signing the client assertion failed");
    free(signing);
    goto done;
  }
  char *s64 = b64url_dup(sig, siglen);
  if (s64 != NULL) {
    o365_buf o;
    o365_buf_init(&o);
    o365_buf_printf(&o, "%s.%s", signing, s64);
    out = o365_buf_take(&o);
  }
  free(s64);
  free(signing);
  if (out != NULL)
    err[0] = '\0';
done:
  EVP_MD_CTX_free(md);
  EVP_PKEY_free(key);
  X509_free(cert);
  OPENSSL_free(der);
  free(sig);
  free(h64);
  free(c64);
  json_object_put(hdr);
  json_object_put(cl);
  return out;
}

/* ---- configuration ------------------------------------------------------ */

typedef struct app_cfg {
  o365_config base; /* cloud, tenant, authority, graph */
  const char *client_id;
  int certificate;      /* auth_method */
  const char *secret;   /* borrowed from the params */
  const char *key_pem;  /* borrowed */
  const char *cert_pem; /* borrowed */
  const char *field;    /* the parameter at fault after a failed load */
} app_cfg;

/* Value of params[k] (borrowed), NULL when absent or "". */
static const char *param(struct json_object *params, const char *k) {
  const char *v = o365_json_str(params, k);
  return v != NULL && *v != '\0' ? v : NULL;
}

/* Loads from params (the clear and secret ones merged; borrowed for as
 * long as cfg is used). 0, or WFC_EINVAL with err naming the parameter. */
static int app_cfg_load(struct json_object *params, app_cfg *c, char *err,
                        size_t errsz) {
  memset(c, 0, sizeof *c);
  const char *tenant = param(params, "tenant");
  if (tenant == NULL || strcasecmp(tenant, "organizations") == 0 ||
      strcasecmp(tenant, "common") == 0 ||
      strcasecmp(tenant, "consumers") == 0) {
    snprintf(err, errsz,
             "parameter tenant: app-only access needs the organization's "
             "tenant id or domain (e.g. contoso.onmicrosoft.com), not "
             "'%s'",
             tenant ? tenant : "");
    c->field = "tenant";
    return WFC_EINVAL;
  }
  int rc = o365_config_endpoints(params, &c->base, err, errsz);
  if (rc != 0)
    return rc;
  c->client_id = param(params, "client_id");
  if (c->client_id == NULL || strpbrk(c->client_id, "\r\n&=") != NULL) {
    snprintf(err, errsz,
             "parameter client_id: give the application (client) id of the "
             "app registration");
    c->field = "client_id";
    return WFC_EINVAL;
  }
  const char *method = param(params, "auth_method");
  c->certificate = method == NULL || strcmp(method, "certificate") == 0;
  if (method != NULL && !c->certificate && strcmp(method, "secret") != 0) {
    snprintf(err, errsz, "parameter auth_method: secret or certificate");
    c->field = "auth_method";
    return WFC_EINVAL;
  }
  c->secret = param(params, "client_secret");
  c->key_pem = param(params, "private_key");
  c->cert_pem = param(params, "certificate");
  if (c->certificate && c->key_pem == NULL) {
    snprintf(err, errsz,
             "parameter private_key: auth_method certificate needs the PEM "
             "private key of the certificate registered on the app");
    c->field = "private_key";
    return WFC_EINVAL;
  }
  if (!c->certificate && c->secret == NULL) {
    snprintf(err, errsz,
             "parameter client_secret: auth_method secret needs the client "
             "secret's value");
    c->field = "client_secret";
    return WFC_EINVAL;
  }
  return 0;
}

/* The hook's params: "params" with "secrets" merged over them (a form
 * flow's authorize_complete; the host merges them itself for the other
 * hooks). New object. */
static struct json_object *merged_params(struct json_object *in) {
  struct json_object *params = NULL, *secrets = NULL;
  struct json_object *m = json_object_new_object();
  json_object_object_get_ex(in, "params", &params);
  json_object_object_get_ex(in, "secrets", &secrets);
  struct json_object *parts[] = {params, secrets};
  for (size_t i = 0; i < 2; i++) {
    if (parts[i] == NULL || !json_object_is_type(parts[i], json_type_object))
      continue;
    json_object_object_foreach(parts[i], k, v) {
      json_object_object_add(m, k, json_object_get(v));
    }
  }
  return m;
}

/* The admin consent page of the app in the tenant. Transfer. */
static char *admin_url(const app_cfg *c) {
  o365_buf b;
  o365_buf_init(&b);
  o365_buf_put(&b, c->base.authority);
  o365_buf_seg(&b, c->base.tenant);
  o365_buf_put(&b, "/adminconsent");
  o365_buf_query(&b, "client_id", c->client_id);
  return o365_buf_take(&b);
}

/* ---- one token request ----------------------------------------------------
 */

typedef struct fetch {
  wfc_call *call;
  struct json_object *params; /* merged, owned */
  app_cfg cfg;
  wfc_http *http;
  int hook;        /* which hook: see below */
  char *assertion; /* the client assertion sent (a secret until the answer) */
} fetch;

enum { HOOK_CONNECT, HOOK_REFRESH, HOOK_TEST };

static void fetch_free(fetch *f) {
  if (f->assertion != NULL) {
    o365_secret_forget(f->assertion);
    OPENSSL_cleanse(f->assertion, strlen(f->assertion));
    free(f->assertion);
  }
  o365_config_clear(&f->cfg.base);
  json_object_put(f->params); /* references to the input's values */
  free(f);
}

static void fetch_cancel(void *arg) {
  fetch *f = arg;
  if (f->http != NULL)
    o365_api->http_cancel(f->http);
}

/* Words for a refusal of the token endpoint, and the state it puts the
 * connection in. Keyed on error and the AADSTS number (never the text). */
static o365_state refusal(const fetch *f, const o365_token_res *res,
                          char *words, size_t n) {
  const o365_aad_err *e = &res->aad;
  char *url = admin_url(&f->cfg);
  const char *u = url ? url : "";
  o365_state s = O365_ERROR;
  switch (e->aadsts) {
  case 7000215:
    snprintf(words, n,
             "The client secret was refused (AADSTS7000215): give the "
             "secret's value (not its secret ID) from the app registration's "
             "Certificates & secrets.");
    break;
  case 7000222:
    snprintf(words, n,
             "The client secret has expired (AADSTS7000222): add a new client "
             "secret to the app registration (Certificates & secrets) and "
             "connect again with it.");
    break;
  case 700027:
    snprintf(words, n,
             "The certificate was refused (AADSTS700027): upload its public "
             "part to the app registration (Certificates & secrets) and give "
             "its own private key.");
    break;
  case 1000502:
    snprintf(words, n,
             "The certificate has expired or is not valid yet "
             "(AADSTS1000502): upload a new certificate to the app "
             "registration (Certificates & secrets) and connect again with "
             "it and its private key.");
    break;
  case 700024:
    snprintf(words, n,
             "The client assertion's time was refused (AADSTS700024): check "
             "this computer's clock, then connect again.");
    break;
  case 7000112: {
    char *fix = o365_admin_fix(e);
    snprintf(words, n, "%s", fix ? fix : "The app is disabled.");
    free(fix);
    break;
  }
  case 700016:
    snprintf(words, n,
             "The app %s is not in tenant %s (AADSTS700016): check client_id "
             "and tenant. If its enterprise application was deleted, an "
             "administrator adds it again and grants admin consent: %s",
             f->cfg.client_id, f->cfg.base.tenant, u);
    break;
  case 65001:
    s = O365_NEEDS_ADMIN_APPROVAL;
    snprintf(words, n,
             "The tenant's administrator has not consented to the app's "
             "application permissions (AADSTS65001): an administrator opens "
             "%s and accepts, then connect again.",
             u);
    break;
  default:
    snprintf(words, n,
             "The identity platform refused the app's credentials (%s%s%s): "
             "check tenant, client_id and the %s.",
             e->error[0] ? e->error : "error", e->summary[0] ? ": " : "",
             e->summary, f->cfg.certificate ? "certificate" : "client secret");
  }
  free(url);
  return s;
}

/* The roles claim of an access token (Microsoft's Graph tokens are JWTs;
 * read without checking the signature: it came straight from the token
 * endpoint over TLS, and Graph checks it). New array, or NULL. */
static struct json_object *token_roles(const char *at,
                                       struct json_object **claims_out) {
  struct json_object *cl = o365_id_token_claims(at);
  struct json_object *roles = NULL;
  if (cl != NULL && json_object_object_get_ex(cl, "roles", &roles) &&
      json_object_is_type(roles, json_type_array))
    json_object_get(roles);
  else
    roles = NULL;
  *claims_out = cl;
  return roles;
}

static int has_mail_role(struct json_object *roles) {
  for (size_t i = 0; roles && i < json_object_array_length(roles); i++) {
    const char *r = json_object_get_string(json_object_array_get_idx(roles, i));
    if (r != NULL && strncasecmp(r, "Mail.", 5) == 0)
      return 1;
  }
  return 0;
}

/* Credentials of a token response (borrowed). Transfer. */
static struct json_object *credentials(const fetch *f, struct json_object *tok,
                                       struct json_object *claims,
                                       struct json_object *roles) {
  struct json_object *c = json_object_new_object();
  o365_json_add_str(c, "access_token", o365_json_str(tok, "access_token"));
  int64_t expires_in = 0;
  if (o365_json_int64(tok, "expires_in", &expires_in) != 0 || expires_in <= 0)
    expires_in = 3600;
  O365_JSON_ADD(c, "expires_at",
                json_object_new_int64(o365_api->now_ms() / 1000 + expires_in));
  o365_json_add_str(c, "token_type", "Bearer");
  o365_json_add_str(c, "tenant_id", o365_json_str(claims, "tid"));
  o365_json_add_str(c, "app_id", f->cfg.client_id);
  o365_json_add_str(c, "auth_method",
                    f->cfg.certificate ? "certificate" : "secret");
  O365_JSON_ADD(c, "roles",
                roles ? json_object_get(roles) : json_object_new_array());
  return c;
}

static int transient(const o365_token_res *res) {
  return res->error != WFC_EAUTH &&
         !(res->error == WFC_EPROTO && !res->garbled);
}

static void test_done(void *arg, const o365_graph_res *res);

static void fetched(void *arg, const o365_token_res *res) {
  fetch *f = arg;
  wfc_call *call = f->call;
  f->http = NULL;
  o365_api->call_on_cancel(call, NULL, NULL);
  if (res->error == WFC_ECANCELED) {
    fetch_free(f);
    o365_api->call_fail(call, WFC_ECANCELED, NULL, "canceled");
    return;
  }
  if (res->error != 0 && transient(res)) {
    /* Not a verdict on the credentials: the connection keeps its state
     * and the next use tries again. */
    struct json_object *d = o365_token_detail(res);
    O365_JSON_ADD(d, "retryable", json_object_new_boolean(1));
    int code = res->error == WFC_EAUTH ? WFC_EREMOTE : res->error;
    fetch_free(f);
    o365_api->call_fail(call, code, d,
                        "Getting an app-only token failed for now (%s); it "
                        "will be retried.",
                        res->message);
    return;
  }
  if (res->error != 0) {
    char words[800];
    o365_state s = refusal(f, res, words, sizeof words);
    struct json_object *d = o365_token_detail(res);
    if (f->hook == HOOK_CONNECT) {
      struct json_object *out = json_object_new_object();
      o365_json_add_str(out, "state", o365_state_name(s));
      o365_json_add_str(out, "remedy", words);
      O365_JSON_ADD(out, "detail", d);
      fetch_free(f);
      o365_api->call_done(call, out);
      return;
    }
    if (o365_refresh_classify(res->status, &res->aad) == O365_REFRESH_ADMIN) {
      /* The app is switched off: the same credentials work again once an
       * administrator switches it on, so the connection keeps its state. */
      o365_json_add_str(d, "remedy", words);
      fetch_free(f);
      o365_api->call_fail(call, WFC_EAUTH, d, "%s", words);
      return;
    }
    /* refresh / test: the credentials no longer work; only new ones (a
     * reconnection) or an administrator help. */
    o365_json_add_str(d, "state", "reauthorization_required");
    o365_json_add_str(d, "remedy", words);
    fetch_free(f);
    o365_api->call_fail(call, WFC_EREAUTH, d, "%s", words);
    return;
  }
  struct json_object *claims = NULL;
  struct json_object *roles =
      token_roles(o365_json_str(res->tok, "access_token"), &claims);
  if (f->hook == HOOK_REFRESH) {
    struct json_object *out = json_object_new_object();
    O365_JSON_ADD(out, "credentials", credentials(f, res->tok, claims, roles));
    json_object_put(roles);
    json_object_put(claims);
    fetch_free(f);
    o365_api->call_done(call, out);
    return;
  }
  if (f->hook == HOOK_TEST) {
    json_object_put(claims);
    const char *mb = param(f->params, "mailbox");
    if (!has_mail_role(roles) || mb == NULL) {
      struct json_object *out = json_object_new_object();
      O365_JSON_ADD(out, "healthy",
                    json_object_new_boolean(has_mail_role(roles)));
      o365_json_add_str(out, "detail",
                        has_mail_role(roles)
                            ? "The app gets tokens with mail permissions; "
                              "no default mailbox to read."
                            : "The app gets tokens but holds no mail "
                              "permission: an administrator must consent to "
                              "its application permissions.");
      json_object_put(roles);
      fetch_free(f);
      o365_api->call_done(call, out);
      return;
    }
    json_object_put(roles);
    char *path = o365_graph_path(mb, "mailFolders", "inbox", NULL);
    o365_buf p;
    o365_buf_init(&p);
    o365_buf_put(&p, path ? path : "");
    o365_buf_query(&p, "$select", "id");
    free(path);
    char *full = o365_buf_take(&p);
    o365_graph_opts o = {.path = full,
                         .base = f->cfg.base.graph,
                         .token = o365_json_str(res->tok, "access_token")};
    int rc = full ? o365_graph_send(call, &o, test_done, f, NULL) : WFC_ENOMEM;
    free(full);
    if (rc != 0) {
      fetch_free(f);
      o365_api->call_fail(call, rc, NULL, "the test request was not sent");
    }
    return;
  }
  /* Connect: the token proves the credentials; its roles whether an
   * administrator consented to the application permissions. Without
   * them Graph refuses every mail request (403), so say so now. */
  struct json_object *out = json_object_new_object();
  if (!has_mail_role(roles)) {
    char *url = admin_url(&f->cfg);
    char words[800];
    snprintf(words, sizeof words,
             "The tenant's administrator has not consented to the app's "
             "application permissions (Mail.ReadWrite, Mail.Send): an "
             "administrator opens %s (or Microsoft Entra admin center > App "
             "registrations > the app > API permissions > Grant admin "
             "consent) and accepts, then connect again.",
             url ? url : "");
    o365_json_add_str(out, "state", "needs_admin_approval");
    o365_json_add_str(out, "remedy", words);
    struct json_object *d = json_object_new_object();
    o365_json_add_str(d, "admin_consent_url", url);
    O365_JSON_ADD(d, "roles", json_object_new_array());
    O365_JSON_ADD(out, "detail", d);
    free(url);
  } else {
    const char *app = o365_json_str(claims, "app_displayname");
    char account[400], key[600];
    snprintf(account, sizeof account, "%s (app-only)",
             app ? app : f->cfg.client_id);
    snprintf(key, sizeof key, "app:%s.%s", f->cfg.client_id,
             o365_json_str(claims, "tid") ? o365_json_str(claims, "tid")
                                          : f->cfg.base.tenant);
    o365_json_add_str(out, "state", "connected");
    o365_json_add_str(out, "remedy", "");
    o365_json_add_str(out, "account", account);
    o365_json_add_str(out, "account_key", key);
    O365_JSON_ADD(out, "credentials", credentials(f, res->tok, claims, roles));
    struct json_object *d = json_object_new_object();
    O365_JSON_ADD(d, "roles", json_object_get(roles));
    O365_JSON_ADD(out, "detail", d);
  }
  json_object_put(roles);
  json_object_put(claims);
  fetch_free(f);
  o365_api->call_done(call, out);
}

static void test_done(void *arg, const o365_graph_res *res) {
  fetch *f = arg;
  wfc_call *call = f->call;
  const char *mb = param(f->params, "mailbox");
  struct json_object *out = json_object_new_object();
  char detail[800];
  if (res->error == 0)
    snprintf(detail, sizeof detail, "The inbox of %s is reachable.", mb);
  else
    snprintf(detail, sizeof detail,
             "Reading the inbox of %s failed: %ld %s: %s", mb, res->status,
             res->gerr.code[0] ? res->gerr.code : "error",
             res->message ? res->message : "");
  O365_JSON_ADD(out, "healthy", json_object_new_boolean(res->error == 0));
  o365_json_add_str(out, "detail", detail);
  fetch_free(f);
  o365_api->call_done(call, out);
}

/* Starts the token request of a hook. Fails the call itself on bad
 * parameters. Returns 0 (the call completes later) or WFC_ENOMEM. */
static int fetch_start(wfc_call *call, int hook) {
  fetch *f = calloc(1, sizeof *f);
  if (f == NULL)
    return WFC_ENOMEM;
  f->call = call;
  f->hook = hook;
  f->params = merged_params(o365_api->call_input(call));
  char err[512];
  int rc = app_cfg_load(f->params, &f->cfg, err, sizeof err);
  if (rc == 0 && f->cfg.secret != NULL)
    o365_api->secret(f->cfg.secret);
  o365_buf url;
  o365_buf_init(&url);
  o365_buf_put(&url, f->cfg.base.authority);
  o365_buf_seg(&url, f->cfg.base.tenant);
  o365_buf_put(&url, "/oauth2/v2.0/token");
  char *token_url = o365_buf_take(&url);
  char *assertion = NULL;
  if (rc == 0 && f->cfg.certificate) {
    assertion = o365_client_assertion(
        f->cfg.key_pem, f->cfg.cert_pem, f->cfg.client_id, token_url,
        o365_api->now_ms() / 1000, err, sizeof err);
    if (assertion == NULL) {
      rc = WFC_EINVAL;
      f->cfg.field =
          strstr(err, "certificate") == err ? "certificate" : "private_key";
    }
  }
  free(token_url);
  if (rc != 0) {
    struct json_object *d = NULL;
    if (f->cfg.field != NULL) {
      d = json_object_new_object();
      o365_json_add_str(d, "field", f->cfg.field);
    }
    fetch_free(f);
    o365_api->call_fail(call, rc, d, "%s", err);
    return 0;
  }
  o365_buf form;
  o365_buf_init(&form);
  o365_buf_form(&form, "client_id", f->cfg.client_id);
  /* Application permissions are asked for only as the resource's
   * .default: every one an administrator consented to. */
  char scope[300];
  snprintf(scope, sizeof scope, "%s/.default", f->cfg.base.cloud->resource);
  o365_buf_form(&form, "scope", scope);
  o365_buf_form(&form, "grant_type", "client_credentials");
  if (assertion != NULL) {
    o365_buf_form(&form, "client_assertion_type", ASSERTION_TYPE);
    o365_buf_form(&form, "client_assertion", assertion);
    o365_api->secret(assertion);
  } else {
    o365_buf_form(&form, "client_secret", f->cfg.secret);
  }
  char *body = o365_buf_take(&form);
  f->assertion = assertion; /* forgotten once the answer is in */
  rc = body ? o365_token_post(&f->cfg.base, f->cfg.base.tenant, body, fetched,
                              f, &f->http)
            : WFC_ENOMEM;
  o365_form_free(body);
  if (rc != 0) {
    fetch_free(f);
    return rc;
  }
  o365_api->call_on_cancel(call, fetch_cancel, f);
  return 0;
}

/* ---- hooks ------------------------------------------------------------- */

static int app_authorize_complete(wfc_call *call) {
  return fetch_start(call, HOOK_CONNECT);
}

static int app_refresh(wfc_call *call) {
  return fetch_start(call, HOOK_REFRESH);
}

static int app_test(wfc_call *call) {
  return fetch_start(call, HOOK_TEST);
}

static int app_revoke(wfc_call *call) {
  struct json_object *out = json_object_new_object();
  o365_json_add_str(out, "remote", "none");
  o365_json_add_str(
      out, "detail",
      "An app-only connection holds no grant of its own: the app keeps its "
      "application permissions until an administrator removes them "
      "(Enterprise applications > the app > Permissions), and its secret or "
      "certificate until removed from the app registration.");
  o365_api->call_done(call, out);
  return 0;
}

const wfc_conn_type_desc o365_app_conn_type = {
    .id = O365_APP_CONN_TYPE,
    .name = "Office 365 Mail (app-only)",
    .description = "An app registration of a Microsoft 365 organization "
                   "acting on its own, without a signed-in user, on the "
                   "mailboxes its administrator allows (client credentials "
                   "with a certificate or a secret; application permissions "
                   "Mail.ReadWrite and Mail.Send with admin consent).",
    .params = o365_app_conn_params,
    /* A form: the host collects the params (the secret ones without
     * echo) and calls authorize_complete at once; nothing to open. */
    .flow = WFC_FLOW_FORM,
    .authorize_complete = app_authorize_complete,
    .refresh = app_refresh,
    .revoke = app_revoke,
    .test = app_test,
};
