/* token.c - see token.h. */
#include "token.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "entry.h"
#include "util.h"

/* ---- One /token request ------------------------------------------------ */

typedef struct token_req {
  o365_token_cb cb;
  void *arg;
} token_req;

static void register_secret(struct json_object *tok, const char *key) {
  const char *v = o365_json_str(tok, key);
  if (v != NULL && *v != '\0')
    o365_api->secret(v);
}

static void token_http_cb(void *arg, const wfc_http_res *http) {
  token_req *req = arg;
  o365_token_res res;
  memset(&res, 0, sizeof res);
  res.status = http->status;
  res.retry_after_ms = -1;
  struct json_object *body = NULL;

  if (http->error != 0) {
    res.error = http->error;
    res.message =
        http->error_message ? http->error_message : "the token request failed";
    goto done;
  }
  /* Tokens: no copy may stay behind in freed memory. */
  body = o365_json_parse_secret(http->body, http->body_len);
  /* Tokens are registered as secrets before anything could log them. */
  register_secret(body, "access_token");
  register_secret(body, "refresh_token");
  register_secret(body, "id_token");
  if (http->status >= 200 && http->status < 300) {
    if (body == NULL) {
      res.error = WFC_EPROTO;
      res.garbled = 1;
      res.message = "the identity platform's answer was cut or malformed "
                    "(not JSON)";
      goto done;
    }
    if (o365_json_str(body, "access_token") == NULL) {
      res.error = WFC_EPROTO;
      res.message = "the token response has no access_token";
      goto done;
    }
    const char *type = o365_json_str(body, "token_type");
    if (type != NULL && strcasecmp(type, "Bearer") != 0) {
      res.error = WFC_EPROTO;
      res.message = "the token response is not a Bearer token";
      goto done;
    }
    res.tok = body;
    goto done;
  }
  o365_aad_err_from_json(body, &res.aad);
  res.retry_after_ms = o365_retry_after_ms(
      o365_api->http_header(http, "Retry-After"), o365_api->now_ms());
  if (http->status == 429) {
    res.error = WFC_ETHROTTLED;
    res.message = "the identity platform is throttling requests";
  } else if (http->status >= 500) {
    res.error = WFC_EREMOTE;
    res.message = "the identity platform is unavailable";
  } else if (res.aad.error[0] != '\0') {
    res.error = WFC_EAUTH;
    res.message = res.aad.summary[0] ? res.aad.summary : res.aad.error;
  } else {
    res.error = WFC_EPROTO;
    res.message = "unexpected answer from the token endpoint";
  }

done:
  req->cb(req->arg, &res);
  json_object_put(body); /* cleansed with the last reference */
  free(req);
}

int o365_token_post(const o365_config *cfg, const char *tenant,
                    const char *form, o365_token_cb cb, void *arg,
                    wfc_http **out) {
  o365_buf url;
  o365_buf_init(&url);
  o365_buf_put(&url, cfg->authority);
  o365_buf_seg(&url, tenant);
  o365_buf_put(&url, "/oauth2/v2.0/token");
  char *u = o365_buf_take(&url);
  token_req *req = calloc(1, sizeof *req);
  if (u == NULL || req == NULL) {
    free(u);
    free(req);
    return WFC_ENOMEM;
  }
  req->cb = cb;
  req->arg = arg;
  static const char *const headers[] = {
      "Content-Type: application/x-www-form-urlencoded",
      "Accept: application/json", NULL};
  wfc_http_req hr;
  memset(&hr, 0, sizeof hr);
  hr.size = sizeof hr;
  hr.method = "POST";
  hr.url = u;
  hr.headers = headers;
  hr.body = form;
  hr.body_len = strlen(form);
  int rc = o365_api->http_send(&hr, token_http_cb, req, out);
  free(u);
  if (rc != 0)
    free(req);
  return rc;
}

/* with_scope 0: no scope pair (RFC 6749 section 6: the refresh then
 * covers the scope originally granted). */
static char *token_form_va(const o365_config *cfg, int with_scope,
                           const char *grant_type, va_list ap) {
  o365_buf b;
  o365_buf_init(&b);
  o365_buf_form(&b, "client_id", cfg->client_id);
  o365_buf_form(&b, "grant_type", grant_type);
  if (with_scope) {
    char *scopes = o365_config_scopes(cfg);
    if (scopes == NULL) {
      o365_buf_free(&b);
      return NULL;
    }
    o365_buf_form(&b, "scope", scopes);
    free(scopes);
  }
  for (;;) {
    const char *name = va_arg(ap, const char *);
    if (name == NULL)
      break;
    const char *value = va_arg(ap, const char *);
    if (value != NULL)
      o365_buf_form(&b, name, value);
  }
  /* Public clients must not send a secret (AADSTS700025). */
  if (cfg->client_secret != NULL)
    o365_buf_form(&b, "client_secret", cfg->client_secret);
  return o365_buf_take(&b);
}

char *o365_token_form(const o365_config *cfg, const char *grant_type, ...) {
  va_list ap;
  va_start(ap, grant_type);
  char *form = token_form_va(cfg, 1, grant_type, ap);
  va_end(ap);
  return form;
}

static char *refresh_form(const o365_config *cfg, int with_scope, ...) {
  va_list ap;
  va_start(ap, with_scope);
  char *form = token_form_va(cfg, with_scope, "refresh_token", ap);
  va_end(ap);
  return form;
}

void o365_secret_forget(const char *value) {
  if (value != NULL && WFC_API_HAS(o365_api, secret_forget))
    o365_api->secret_forget(value);
}

void o365_form_free(char *form) {
  if (form != NULL) {
    OPENSSL_cleanse(form, strlen(form));
    free(form);
  }
}

struct json_object *o365_id_token_claims(const char *id_token) {
  if (id_token == NULL)
    return NULL;
  const char *dot1 = strchr(id_token, '.');
  const char *dot2 = dot1 ? strchr(dot1 + 1, '.') : NULL;
  if (dot2 == NULL)
    return NULL;
  uint8_t *payload = NULL;
  size_t n = 0;
  if (o365_b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), &payload, &n) !=
      0)
    return NULL;
  struct json_object *claims = o365_json_parse((const char *)payload, n);
  free(payload);
  if (claims != NULL && !json_object_is_type(claims, json_type_object)) {
    json_object_put(claims);
    return NULL;
  }
  return claims;
}

struct json_object *o365_token_credentials(struct json_object *tok,
                                           struct json_object *old,
                                           int64_t now_ms) {
  struct json_object *c = json_object_new_object();
  if (c == NULL)
    return NULL;
  o365_json_add_str(c, "access_token", o365_json_str(tok, "access_token"));
  /* Rotation: the newest refresh token wins; Microsoft may also not send
   * one, and the old one then stays valid. */
  const char *rt = o365_json_str(tok, "refresh_token");
  if (rt == NULL)
    rt = o365_json_str(old, "refresh_token");
  o365_json_add_str(c, "refresh_token", rt);
  int64_t expires_in = 0;
  if (o365_json_int64(tok, "expires_in", &expires_in) != 0 || expires_in <= 0)
    expires_in = 3600; /* documented default lifetime, at least an hour */
  O365_JSON_ADD(c, "expires_at",
                json_object_new_int64(now_ms / 1000 + expires_in));
  const char *scope = o365_json_str(tok, "scope");
  o365_json_add_str(c, "scope", scope ? scope : o365_json_str(old, "scope"));
  const char *type = o365_json_str(tok, "token_type");
  o365_json_add_str(c, "token_type", type ? type : "Bearer");

  struct json_object *claims =
      o365_id_token_claims(o365_json_str(tok, "id_token"));
  const char *tid = o365_json_str(claims, "tid");
  const char *oid = o365_json_str(claims, "oid");
  o365_json_add_str(c, "tenant_id",
                    tid ? tid : o365_json_str(old, "tenant_id"));
  o365_json_add_str(c, "user_id", oid ? oid : o365_json_str(old, "user_id"));
  const char *upn = o365_json_str(claims, "preferred_username");
  o365_json_add_str(c, "username", upn ? upn : o365_json_str(old, "username"));
  json_object_put(claims);
  return c;
}

const char *o365_token_tenant(const o365_config *cfg,
                              struct json_object *creds) {
  const char *tid = o365_json_str(creds, "tenant_id");
  int alias = strcmp(cfg->tenant, "organizations") == 0 ||
              strcmp(cfg->tenant, "common") == 0;
  if (alias && tid != NULL && o365_tenant_valid(tid))
    return tid;
  return cfg->tenant;
}

/* ---- The refresh hook ---------------------------------------------------- */

typedef struct refresh_ctx {
  wfc_call *call;
  wfc_http *http;
  struct json_object *old; /* borrowed from the call's input */
  int scoped;              /* the request named the scopes */
  char authority[512];     /* whose refusal a remedy names */
} refresh_ctx;

static int refresh_send(refresh_ctx *ctx);

static void refresh_cancel(void *arg) {
  refresh_ctx *ctx = arg;
  if (ctx->http != NULL)
    o365_api->http_cancel(ctx->http); /* the callback completes the call */
}

struct json_object *o365_token_detail(const o365_token_res *res) {
  struct json_object *d = json_object_new_object();
  if (res->status)
    O365_JSON_ADD(d, "status", json_object_new_int64(res->status));
  if (res->aad.error[0])
    o365_json_add_str(d, "error", res->aad.error);
  if (res->aad.suberror[0])
    o365_json_add_str(d, "suberror", res->aad.suberror);
  if (res->aad.aadsts) {
    char code[32];
    snprintf(code, sizeof code, "AADSTS%ld", res->aad.aadsts);
    o365_json_add_str(d, "code", code);
  }
  if (res->aad.trace_id[0])
    o365_json_add_str(d, "trace_id", res->aad.trace_id);
  if (res->aad.correlation_id[0])
    o365_json_add_str(d, "correlation_id", res->aad.correlation_id);
  if (res->retry_after_ms >= 0)
    O365_JSON_ADD(d, "retry_after_ms",
                  json_object_new_int64(res->retry_after_ms));
  return d;
}

static void refresh_done(void *arg, const o365_token_res *res) {
  refresh_ctx *ctx = arg;
  wfc_call *call = ctx->call;
  ctx->http = NULL;
  o365_api->call_on_cancel(call, NULL, NULL);

  /* Microsoft wants the scopes named on a refresh (offline_access among
   * them); a server that refuses them as more than it granted (RFC 6749
   * section 6, e.g. OpenID Connect providers that grant offline_access
   * only with prompt=consent) is asked once more without, which means
   * "the scope originally granted". */
  if (res->error == WFC_EAUTH && ctx->scoped &&
      strcmp(res->aad.error, "invalid_scope") == 0) {
    ctx->scoped = 0;
    o365_api->log(3, "o365mail: refresh: the server refused the scope list "
                     "(invalid_scope); asking for the granted scope");
    int rc = refresh_send(ctx);
    if (rc == 0)
      return;
    free(ctx);
    o365_api->call_fail(call, rc, NULL,
                        "Refreshing the access token failed: the request "
                        "could not be sent again (error %d).",
                        rc);
    return;
  }

  /* The id_token of a refresh is not kept: the log need not either. */
  o365_secret_forget(o365_json_str(res->tok, "id_token"));
  if (res->error == 0) {
    struct json_object *creds =
        o365_token_credentials(res->tok, ctx->old, o365_api->now_ms());
    struct json_object *out = json_object_new_object();
    O365_JSON_ADD(out, "credentials", creds);
    free(ctx);
    o365_api->call_done(call, out);
    return;
  }
  char authority[sizeof ctx->authority];
  memcpy(authority, ctx->authority, sizeof authority);
  free(ctx);
  if (res->error == WFC_ECANCELED) {
    o365_api->call_fail(call, WFC_ECANCELED, NULL, "refresh canceled");
    return;
  }
  struct json_object *detail = o365_token_detail(res);
  o365_refresh_class cls =
      res->error == WFC_EAUTH ? o365_refresh_classify(res->status, &res->aad)
      : res->error == WFC_EPROTO && !res->garbled ? O365_REFRESH_FATAL
                                                  : O365_REFRESH_RETRY;
  if (cls == O365_REFRESH_REAUTH) {
    char *remedy =
        o365_remedy(O365_REAUTHORIZATION_REQUIRED, &res->aad, NULL, authority);
    o365_json_add_str(detail, "state", "reauthorization_required");
    o365_json_add_str(detail, "remedy", remedy);
    o365_api->call_fail(call, WFC_EREAUTH, detail, "%s",
                        remedy ? remedy : "Reauthorize this connection.");
    free(remedy);
  } else if (cls == O365_REFRESH_ADMIN) {
    /* Not the user's to fix, nor a reason to authorize again: the state
     * stays, and the next use refreshes with the same token once an
     * administrator has fixed the app. */
    char *words = o365_admin_fix(&res->aad);
    o365_json_add_str(detail, "remedy", words);
    o365_api->call_fail(call, WFC_EAUTH, detail,
                        "Refreshing the access "
                        "token failed: %s",
                        words ? words : res->message);
    free(words);
  } else if (cls == O365_REFRESH_RETRY) {
    O365_JSON_ADD(detail, "retryable", json_object_new_boolean(1));
    int code = res->error == WFC_EAUTH ? WFC_EREMOTE : res->error;
    /* With a Retry-After (detail "retry_after_ms") the host asks again
     * only once it has passed (docs/connections-sdk.md). */
    if (res->retry_after_ms > 0)
      o365_api->call_fail(call, code, detail,
                          "Refreshing the access token failed for now (%s, "
                          "asking to wait %lld s before the next token "
                          "request); it will be retried after that.",
                          res->message,
                          (long long)((res->retry_after_ms + 999) / 1000));
    else
      o365_api->call_fail(call, code, detail,
                          "Refreshing the access token failed for now (%s); "
                          "it will be retried.",
                          res->message);
  } else {
    o365_api->call_fail(call, res->error == WFC_EPROTO ? WFC_EPROTO : WFC_EAUTH,
                        detail,
                        "Refreshing the access token failed: %s. Check the "
                        "app's client id and secret.",
                        res->message);
  }
}

int o365_conn_refresh(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  struct json_object *params = NULL;
  struct json_object *creds = NULL;
  json_object_object_get_ex(in, "params", &params);
  json_object_object_get_ex(in, "credentials", &creds);
  const char *rt = o365_json_str(creds, "refresh_token");

  o365_config cfg;
  char err[256];
  int rc = o365_config_load(params, &cfg, err, sizeof err);
  if (rc != 0) {
    o365_api->call_fail(call, rc, NULL, "%s", err);
    o365_config_clear(&cfg);
    return 0;
  }
  if (rt == NULL) {
    o365_config_clear(&cfg);
    struct json_object *detail = json_object_new_object();
    o365_json_add_str(detail, "state", "reauthorization_required");
    o365_api->call_fail(call, WFC_EREAUTH, detail,
                        "The connection has no refresh token. Reauthorize "
                        "this connection.");
    return 0;
  }
  o365_api->secret(rt);
  refresh_ctx *ctx = calloc(1, sizeof *ctx);
  if (ctx == NULL) {
    o365_config_clear(&cfg);
    return WFC_ENOMEM;
  }
  snprintf(ctx->authority, sizeof ctx->authority, "%s", cfg.authority);
  o365_config_clear(&cfg);
  ctx->call = call;
  ctx->old = creds;
  ctx->scoped = 1;
  rc = refresh_send(ctx);
  if (rc != 0)
    free(ctx);
  return rc;
}

/* Posts the refresh of ctx (scoped or not); 0 or a WFC_E* code. */
static int refresh_send(refresh_ctx *ctx) {
  struct json_object *in = o365_api->call_input(ctx->call);
  struct json_object *params = NULL;
  json_object_object_get_ex(in, "params", &params);
  o365_config cfg;
  char err[256];
  int rc = o365_config_load(params, &cfg, err, sizeof err);
  char *form = rc == 0 ? refresh_form(&cfg, ctx->scoped, "refresh_token",
                                      o365_json_str(ctx->old, "refresh_token"),
                                      (const char *)NULL)
                       : NULL;
  if (rc == 0 && form == NULL)
    rc = WFC_ENOMEM;
  if (rc == 0)
    rc = o365_token_post(&cfg, o365_token_tenant(&cfg, ctx->old), form,
                         refresh_done, ctx, &ctx->http);
  o365_form_free(form);
  o365_config_clear(&cfg);
  if (rc == 0)
    o365_api->call_on_cancel(ctx->call, refresh_cancel, ctx);
  return rc;
}
