/* conn.c - see conn.h. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "auth.h"
#include "config.h"
#include "entry.h"
#include "graph.h"
#include "token.h"
#include "util.h"

static const char *const env_values[] = {"preview", "production", NULL};

const wfc_field o365_conn_params[] = {
    {.name = "environment",
     .type = WFC_TYPE_STRING,
     .description = "Which OAuth app to authorize: \"Office 365 Mail "
                    "(Preview)\" or \"Office 365 Mail (Production)\".",
     .default_json = "\"production\"",
     .enum_values = env_values},
    {.name = "tenant",
     .type = WFC_TYPE_STRING,
     .description = "Tenant id or domain to sign in to; organizations "
                    "lets the user's own work or school tenant decide.",
     .default_json = "\"organizations\""},
    O365_PARAMS_ENDPOINTS,
    {.name = "portal_url",
     .type = WFC_TYPE_STRING,
     .description = "The admin portal's page of the app, where an "
                    "administrator grants admin consent ({client_id} "
                    "stands for the app's id), overriding the cloud's "
                    "Entra admin center; else O365MAIL_PORTAL_URL."},
    {.name = "client_id",
     .type = WFC_TYPE_STRING,
     .description = "Client id of the OAuth app; else "
                    "O365MAIL_PREVIEW_CLIENT_ID / "
                    "O365MAIL_PRODUCTION_CLIENT_ID."},
    {.name = "client_secret",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_SECRET,
     .description = "Client secret, only for a confidential app; else "
                    "O365MAIL_<ENV>_CLIENT_SECRET."},
    {.name = "login_hint",
     .type = WFC_TYPE_STRING,
     .description = "User name to prefill on the sign-in page."},
    {0}};

/* ---- revoke ------------------------------------------------------------- */

enum revoke_step { RV_SP, RV_ME, RV_GRANTS, RV_DELETE };

typedef struct revoke_ctx {
  wfc_call *call;
  o365_config cfg;
  char *token;
  char *sp_id;
  char *user_id;
  char *grant_id;
  enum revoke_step step;
  wfc_http *http;
} revoke_ctx;

static void revoke_free(revoke_ctx *ctx) {
  o365_config_clear(&ctx->cfg);
  if (ctx->token != NULL) {
    OPENSSL_cleanse(ctx->token, strlen(ctx->token));
    free(ctx->token);
  }
  free(ctx->sp_id);
  free(ctx->user_id);
  free(ctx->grant_id);
  free(ctx);
}

static void revoke_finish(revoke_ctx *ctx, const char *remote,
                          const char *detail) {
  wfc_call *call = ctx->call;
  struct json_object *out = json_object_new_object();
  o365_json_add_str(out, "remote", remote);
  o365_json_add_str(out, "detail", detail);
  o365_api->log(2, "o365mail: revoke: remote %s", remote);
  revoke_free(ctx);
  o365_api->call_done(call, out);
}

/* A Graph error during revoke: 403 means the connection lacks the
 * directory rights (the usual case: Mail.* scopes cannot manage grants). */
static void revoke_graph_error(revoke_ctx *ctx, const o365_graph_res *res,
                               const char *what) {
  char detail[768];
  if (res->error == WFC_ECANCELED) {
    wfc_call *call = ctx->call;
    revoke_free(ctx);
    o365_api->call_fail(call, WFC_ECANCELED, NULL, "revoke canceled");
    return;
  }
  if (res->status == 403) {
    snprintf(detail, sizeof detail,
             "Microsoft lets only an administrator remove this app's "
             "permission grant (%s was refused: %s). Nothing more to do "
             "here; to withdraw the consent too, an administrator removes "
             "it in the Microsoft Entra admin center: Enterprise "
             "applications > the app > Permissions.",
             what, res->gerr.code[0] ? res->gerr.code : "403");
    revoke_finish(ctx, "not_permitted", detail);
    return;
  }
  snprintf(detail, sizeof detail,
           "%s failed (%ld %s: %s); the secrets were wiped locally.", what,
           res->status, res->gerr.code[0] ? res->gerr.code : "-",
           res->message ? res->message : "error");
  revoke_finish(ctx, "failed", detail);
}

static int revoke_send(revoke_ctx *ctx, const char *method, const char *path);

static char *first_id(const o365_graph_res *res) {
  struct json_object *value = NULL;
  if (!json_object_object_get_ex(res->json, "value", &value) ||
      !json_object_is_type(value, json_type_array) ||
      json_object_array_length(value) == 0)
    return NULL;
  const char *id = o365_json_str(json_object_array_get_idx(value, 0), "id");
  return id ? strdup(id) : NULL;
}

static void revoke_next(revoke_ctx *ctx) {
  o365_buf b;
  o365_buf_init(&b);
  int rc = 0;
  switch (ctx->step) {
  case RV_SP: {
    /* OData string literal: a quote is doubled. */
    o365_buf f;
    o365_buf_init(&f);
    o365_buf_put(&f, "appId eq '");
    for (const char *p = ctx->cfg.client_id; *p; p++)
      o365_buf_putn(&f, *p == '\'' ? "''" : p, *p == '\'' ? 2 : 1);
    o365_buf_put(&f, "'");
    o365_buf_put(&b, "/servicePrincipals");
    o365_buf_query(&b, "$filter", f.data ? f.data : "");
    o365_buf_query(&b, "$select", "id");
    o365_buf_free(&f);
    break;
  }
  case RV_ME:
    o365_buf_put(&b, "/me?$select=id");
    break;
  case RV_GRANTS: {
    o365_buf f;
    o365_buf_init(&f);
    o365_buf_printf(&f, "clientId eq '%s' and principalId eq '%s'", ctx->sp_id,
                    ctx->user_id);
    o365_buf_put(&b, "/oauth2PermissionGrants");
    o365_buf_query(&b, "$filter", f.data ? f.data : "");
    o365_buf_free(&f);
    break;
  }
  case RV_DELETE:
    o365_buf_put(&b, "/oauth2PermissionGrants");
    o365_buf_seg(&b, ctx->grant_id);
    break;
  }
  char *path = o365_buf_take(&b);
  rc = path ? revoke_send(ctx, ctx->step == RV_DELETE ? "DELETE" : "GET", path)
            : WFC_ENOMEM;
  free(path);
  if (rc != 0)
    revoke_finish(ctx, "failed", "Could not start the Graph request.");
}

/* Ids from Graph go into OData literals and paths: GUID characters only. */
static int safe_id(const char *id) {
  if (id == NULL || *id == '\0' || strlen(id) > 128)
    return 0;
  for (const char *p = id; *p; p++)
    if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
          (*p >= 'A' && *p <= 'Z') || *p == '-' || *p == '_'))
      return 0;
  return 1;
}

static void revoke_graph_cb(void *arg, const o365_graph_res *res) {
  revoke_ctx *ctx = arg;
  switch (ctx->step) {
  case RV_SP:
    if (res->error != 0) {
      revoke_graph_error(ctx, res, "Looking up the app's service principal");
      return;
    }
    ctx->sp_id = first_id(res);
    if (ctx->sp_id == NULL) {
      revoke_finish(ctx, "none",
                    "The app has no service principal in this tenant: no "
                    "grant to remove.");
      return;
    }
    if (!safe_id(ctx->sp_id)) {
      revoke_finish(ctx, "failed", "Graph returned an unexpected id.");
      return;
    }
    ctx->step = ctx->user_id ? RV_GRANTS : RV_ME;
    break;
  case RV_ME:
    if (res->error != 0) {
      revoke_graph_error(ctx, res, "Reading the signed-in user");
      return;
    }
    ctx->user_id = o365_json_str(res->json, "id")
                       ? strdup(o365_json_str(res->json, "id"))
                       : NULL;
    if (!safe_id(ctx->user_id)) {
      revoke_finish(ctx, "failed", "Graph returned no usable user id.");
      return;
    }
    ctx->step = RV_GRANTS;
    break;
  case RV_GRANTS:
    if (res->error != 0) {
      revoke_graph_error(ctx, res, "Listing the app's permission grants");
      return;
    }
    ctx->grant_id = first_id(res);
    if (ctx->grant_id == NULL) {
      revoke_finish(ctx, "none",
                    "There is no grant for this user alone; consent given for "
                    "the whole organization stays until an administrator "
                    "removes it.");
      return;
    }
    ctx->step = RV_DELETE;
    break;
  case RV_DELETE:
    if (res->error != 0) {
      revoke_graph_error(ctx, res, "Deleting the app's permission grant");
      return;
    }
    revoke_finish(ctx, "removed",
                  "The app's delegated permission grant for this user was "
                  "deleted; the connection's secrets were wiped.");
    return;
  }
  revoke_next(ctx);
}

static int revoke_send(revoke_ctx *ctx, const char *method, const char *path) {
  o365_graph_opts o = {.method = method,
                       .path = path,
                       .base = ctx->cfg.graph,
                       .token = ctx->token};
  return o365_graph_send(ctx->call, &o, revoke_graph_cb, ctx, NULL);
}

static void revoke_refreshed(void *arg, const o365_token_res *res) {
  revoke_ctx *ctx = arg;
  ctx->http = NULL;
  o365_api->call_on_cancel(ctx->call, NULL, NULL);
  if (res->error == WFC_ECANCELED) {
    wfc_call *call = ctx->call;
    revoke_free(ctx);
    o365_api->call_fail(call, WFC_ECANCELED, NULL, "revoke canceled");
    return;
  }
  const char *at =
      res->error == 0 ? o365_json_str(res->tok, "access_token") : NULL;
  if (at == NULL) {
    char detail[640];
    snprintf(detail, sizeof detail,
             "No valid access token to remove the grant with (%s); the "
             "secrets were wiped locally.",
             res->message ? res->message : "refresh failed");
    revoke_finish(ctx, "failed", detail);
    return;
  }
  if (ctx->token != NULL) {
    OPENSSL_cleanse(ctx->token, strlen(ctx->token));
    free(ctx->token);
  }
  ctx->token = strdup(at);
  revoke_next(ctx);
}

static void revoke_cancel(void *arg) {
  revoke_ctx *ctx = arg;
  if (ctx->http != NULL)
    o365_api->http_cancel(ctx->http);
}

int o365_conn_revoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  struct json_object *params = NULL, *creds = NULL;
  json_object_object_get_ex(in, "params", &params);
  json_object_object_get_ex(in, "credentials", &creds);
  revoke_ctx *ctx = calloc(1, sizeof *ctx);
  if (ctx == NULL)
    return WFC_ENOMEM;
  ctx->call = call;
  char err[256];
  if (o365_config_load(params, &ctx->cfg, err, sizeof err) != 0) {
    revoke_finish(ctx, "failed", err);
    return 0;
  }
  const char *at = o365_json_str(creds, "access_token");
  const char *rt = o365_json_str(creds, "refresh_token");
  const char *uid = o365_json_str(creds, "user_id");
  if (uid != NULL && safe_id(uid))
    ctx->user_id = strdup(uid);
  int64_t expires_at = 0;
  o365_json_int64(creds, "expires_at", &expires_at);
  int fresh = at != NULL && expires_at > o365_api->now_ms() / 1000 + 60;
  if (fresh) {
    ctx->token = strdup(at);
    ctx->step = RV_SP;
    revoke_next(ctx);
    return 0;
  }
  if (rt == NULL) {
    revoke_finish(ctx, "none",
                  "The connection holds no usable token; only the local "
                  "secrets were wiped.");
    return 0;
  }
  /* The access token expired: one refresh, just to remove the grant. The
   * new tokens are not kept (the host wipes the connection). */
  o365_api->secret(rt);
  char *form = o365_token_form(&ctx->cfg, "refresh_token", "refresh_token", rt,
                               (const char *)NULL);
  int rc = form
               ? o365_token_post(&ctx->cfg, o365_token_tenant(&ctx->cfg, creds),
                                 form, revoke_refreshed, ctx, &ctx->http)
               : WFC_ENOMEM;
  o365_form_free(form);
  if (rc != 0) {
    revoke_free(ctx);
    return rc;
  }
  ctx->step = RV_SP;
  o365_api->call_on_cancel(call, revoke_cancel, ctx);
  return 0;
}

/* ---- test --------------------------------------------------------------- */

static void test_cb(void *arg, const o365_graph_res *res) {
  wfc_call *call = arg;
  if (res->error == WFC_ECANCELED) {
    o365_api->call_fail(call, WFC_ECANCELED, NULL, "test canceled");
    return;
  }
  struct json_object *out = json_object_new_object();
  O365_JSON_ADD(out, "healthy", json_object_new_boolean(res->error == 0));
  char detail[768];
  if (res->error == 0)
    snprintf(detail, sizeof detail, "The inbox is reachable.");
  else if (res->status != 0)
    snprintf(detail, sizeof detail, "Graph %ld %s: %s (request-id %s)",
             res->status, res->gerr.code[0] ? res->gerr.code : "-",
             res->message ? res->message : "error",
             res->gerr.request_id[0] ? res->gerr.request_id : "-");
  else
    snprintf(detail, sizeof detail, "Graph unreachable: %s",
             res->message ? res->message : "error");
  o365_json_add_str(out, "detail", detail);
  o365_api->call_done(call, out);
}

int o365_conn_test(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  struct json_object *params = NULL, *creds = NULL;
  json_object_object_get_ex(in, "params", &params);
  json_object_object_get_ex(in, "credentials", &creds);
  const char *token = o365_json_str(in, "access_token");
  if (token == NULL)
    token = o365_json_str(creds, "access_token");
  o365_config cfg;
  char err[256];
  int rc = o365_config_endpoints(params, &cfg, err, sizeof err);
  if (rc != 0) {
    o365_config_clear(&cfg);
    o365_api->call_fail(call, rc, NULL, "%s", err);
    return 0;
  }
  if (token == NULL) {
    o365_config_clear(&cfg);
    o365_api->call_fail(call, WFC_EREAUTH, NULL,
                        "The connection has no access token.");
    return 0;
  }
  o365_graph_opts o = {.path = "/me/mailFolders/inbox?$select=id",
                       .base = cfg.graph,
                       .token = token};
  rc = o365_graph_send(call, &o, test_cb, call, NULL);
  o365_config_clear(&cfg);
  return rc;
}

const wfc_conn_type_desc o365_conn_type = {
    .id = O365_CONN_TYPE,
    .name = "Office 365 Mail",
    .description = "A Microsoft 365 work or school account, authorized "
                   "through the Microsoft identity platform (OAuth 2.0 "
                   "authorization code flow with PKCE).",
    .params = o365_conn_params,
    .authorize_begin = o365_conn_authorize_begin,
    .authorize_complete = o365_conn_authorize_complete,
    .refresh = o365_conn_refresh,
    .revoke = o365_conn_revoke,
    .test = o365_conn_test};
