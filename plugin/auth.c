/* auth.c - see auth.h. */
#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include "consent.h"
#include "entry.h"
#include "graph.h"
#include "token.h"
#include "util.h"

char *o365_authorize_url(const o365_config *cfg, const char *redirect_uri,
                         const char *state, const char *challenge,
                         const char *prompt, const char *login_hint) {
  char *scopes = o365_config_scopes(cfg);
  if (scopes == NULL)
    return NULL;
  o365_buf b;
  o365_buf_init(&b);
  o365_buf_put(&b, cfg->authority);
  o365_buf_seg(&b, cfg->tenant);
  o365_buf_put(&b, "/oauth2/v2.0/authorize");
  o365_buf_query(&b, "client_id", cfg->client_id);
  o365_buf_query(&b, "response_type", "code");
  o365_buf_query(&b, "redirect_uri", redirect_uri);
  o365_buf_query(&b, "response_mode", "query");
  o365_buf_query(&b, "scope", scopes);
  o365_buf_query(&b, "state", state);
  o365_buf_query(&b, "code_challenge", challenge);
  o365_buf_query(&b, "code_challenge_method", "S256");
  if (prompt != NULL && *prompt != '\0')
    o365_buf_query(&b, "prompt", prompt);
  if (login_hint != NULL && *login_hint != '\0')
    o365_buf_query(&b, "login_hint", login_hint);
  free(scopes);
  return o365_buf_take(&b);
}

int o365_state_matches(struct json_object *session, struct json_object *query) {
  return o365_secret_equal(o365_json_str(session, "state"),
                           o365_json_str(query, "state"));
}

/* ---- authorize_begin ----------------------------------------------------- */

static const char *const prompts[] = {"login", "none", "consent",
                                      "select_account", NULL};

int o365_conn_authorize_begin(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  struct json_object *params = NULL;
  json_object_object_get_ex(in, "params", &params);
  const char *redirect = o365_json_str(in, "redirect_uri");
  const char *prompt = o365_json_str(in, "prompt");
  const char *hint = o365_json_str(in, "login_hint");

  o365_config cfg;
  char err[256];
  int rc = o365_config_load(params, &cfg, err, sizeof err);
  if (rc != 0) {
    o365_api->call_fail(call, rc, o365_config_detail(&cfg), "%s", err);
    o365_config_clear(&cfg);
    return 0;
  }
  if (redirect == NULL || (strncmp(redirect, "http://", 7) != 0 &&
                           strncmp(redirect, "https://", 8) != 0)) {
    o365_config_clear(&cfg);
    o365_api->call_fail(call, WFC_EINVAL, NULL,
                        "redirect_uri must be an http(s) URL");
    return 0;
  }
  if (prompt != NULL && *prompt != '\0') {
    int known = 0;
    for (size_t i = 0; prompts[i]; i++)
      known |= strcmp(prompts[i], prompt) == 0;
    if (!known) {
      o365_config_clear(&cfg);
      o365_api->call_fail(call, WFC_EINVAL, NULL,
                          "prompt must be login, none, consent or "
                          "select_account");
      return 0;
    }
  }
  if (hint == NULL || *hint == '\0')
    hint = cfg.login_hint;

  /* 32 random bytes each: state (CSRF) and the PKCE verifier (43 chars of
   * base64url, within RFC 7636's 43..128). */
  char state[64], verifier[64], challenge[64];
  if (o365_random_b64url(32, state, sizeof state) != 0 ||
      o365_random_b64url(32, verifier, sizeof verifier) != 0 ||
      o365_pkce_challenge(verifier, challenge, sizeof challenge) != 0) {
    o365_config_clear(&cfg);
    return WFC_EIO;
  }
  o365_api->secret(state);
  o365_api->secret(verifier);

  /* An administrator's tenant-wide consent (the host's admin consent,
   * docs/abi.md): the /adminconsent URL with this state, answered by
   * authorize_complete below. */
  struct json_object *ac = NULL;
  int admin = json_object_object_get_ex(in, "admin_consent", &ac) &&
              json_object_get_boolean(ac);
  char *url = admin ? o365_admin_consent_url(&cfg, redirect, state)
                    : o365_authorize_url(&cfg, redirect, state, challenge,
                                         prompt, hint);
  if (url == NULL) {
    o365_config_clear(&cfg);
    OPENSSL_cleanse(verifier, sizeof verifier);
    return WFC_ENOMEM;
  }
  struct json_object *session = json_object_new_object();
  o365_json_add_str(session, "state", state);
  o365_json_add_str(session, "verifier", verifier);
  o365_json_add_str(session, "redirect_uri", redirect);
  o365_json_add_str(session, "tenant", cfg.tenant);
  o365_json_add_str(session, "environment", cfg.app->environment);
  o365_json_add_str(session, "client_id", cfg.client_id);
  if (admin)
    O365_JSON_ADD(session, "admin_consent", json_object_new_boolean(1));
  struct json_object *out = json_object_new_object();
  o365_json_add_str(out, "url", url);
  O365_JSON_ADD(out, "session", session);
  if (admin)
    O365_JSON_ADD(out, "admin_consent", json_object_new_boolean(1));
  o365_api->log(3, "o365mail: authorize at %s as app \"%s\"", cfg.authority,
                cfg.app->name);
  free(url);
  OPENSSL_cleanse(verifier, sizeof verifier);
  OPENSSL_cleanse(state, sizeof state);
  o365_config_clear(&cfg);
  o365_api->call_done(call, out);
  return 0;
}

/* ---- authorize_complete -------------------------------------------------- */

typedef struct complete_ctx {
  wfc_call *call;
  o365_config cfg;
  wfc_http *http;              /* token request in flight */
  o365_graph_req *graph;       /* /me request in flight */
  struct json_object *tok;     /* token response (owned) */
  struct json_object *session; /* borrowed from the call's input */
  const char *code;            /* the same; registered as a secret */
} complete_ctx;

/* Always before the call completes (the input is still valid): the
 * session's state and verifier and the code are spent or refused now, and
 * the id_token was only read; the log need not keep them. */
static void complete_free(complete_ctx *ctx) {
  o365_secret_forget(o365_json_str(ctx->session, "state"));
  o365_secret_forget(o365_json_str(ctx->session, "verifier"));
  o365_secret_forget(ctx->code);
  o365_secret_forget(o365_json_str(ctx->tok, "id_token"));
  o365_config_clear(&ctx->cfg);
  json_object_put(ctx->tok);
  free(ctx);
}

static void complete_cancel(void *arg) {
  complete_ctx *ctx = arg;
  if (ctx->http != NULL)
    o365_api->http_cancel(ctx->http);
  if (ctx->graph != NULL)
    o365_graph_cancel(ctx->graph);
}

/* Completes with a non-connected state and its remedy. */
static void finish_state(wfc_call *call, o365_state s, const o365_aad_err *e,
                         const char *admin_url, const char *portal_url,
                         const char *authority) {
  struct json_object *out = json_object_new_object();
  char *remedy = o365_remedy(s, e, portal_url, authority);
  o365_json_add_str(out, "state", o365_state_name(s));
  o365_json_add_str(out, "remedy", remedy);
  struct json_object *detail = json_object_new_object();
  if (e != NULL) {
    if (e->error[0])
      o365_json_add_str(detail, "error", e->error);
    if (e->aadsts) {
      char code[32];
      snprintf(code, sizeof code, "AADSTS%ld", e->aadsts);
      o365_json_add_str(detail, "code", code);
    }
    if (e->summary[0])
      o365_json_add_str(detail, "description", e->summary);
    if (e->trace_id[0])
      o365_json_add_str(detail, "trace_id", e->trace_id);
    if (e->correlation_id[0])
      o365_json_add_str(detail, "correlation_id", e->correlation_id);
  }
  if (admin_url != NULL)
    o365_json_add_str(detail, "admin_consent_url", admin_url);
  if (portal_url != NULL)
    o365_json_add_str(detail, "admin_portal_url", portal_url);
  O365_JSON_ADD(out, "detail", detail);
  free(remedy);
  o365_api->call_done(call, out);
}

static void me_done(void *arg, const o365_graph_res *res) {
  complete_ctx *ctx = arg;
  wfc_call *call = ctx->call;
  ctx->graph = NULL;
  o365_api->call_on_cancel(call, NULL, NULL);
  if (res->error == WFC_ECANCELED) {
    complete_free(ctx);
    o365_api->call_fail(call, WFC_ECANCELED, NULL, "authorization canceled");
    return;
  }

  struct json_object *creds =
      o365_token_credentials(ctx->tok, NULL, o365_api->now_ms());
  struct json_object *me = res->error == 0 ? res->json : NULL;
  const char *upn = o365_json_str(me, "userPrincipalName");
  if (upn == NULL)
    upn = o365_json_str(me, "mail");
  if (upn == NULL) /* /me failed: the id_token still names the account */
    upn = o365_json_str(creds, "username");
  if (upn == NULL) {
    json_object_put(creds);
    complete_free(ctx);
    o365_graph_fail(call, res, "Signed in, but reading the account failed");
    return;
  }
  /* Who signed in, as the host compares it on a reauthorization
   * (docs/abi.md, account_key): the id token's object id and tenant id,
   * which stay when the user is renamed and tell apart two tenants' users
   * (MSAL's home account id has the same form). No key without both: the
   * host then compares the account names. */
  char key[160] = "";
  const char *id_oid = o365_json_str(creds, "user_id");
  const char *id_tid = o365_json_str(creds, "tenant_id");
  if (id_oid != NULL && id_tid != NULL && *id_oid && *id_tid)
    snprintf(key, sizeof key, "%s.%s", id_oid, id_tid);
  const char *oid = o365_json_str(me, "id");
  if (oid != NULL)
    O365_JSON_ADD(creds, "user_id", json_object_new_string(oid));

  struct json_object *out = json_object_new_object();
  o365_json_add_str(out, "state", "connected");
  o365_json_add_str(out, "account", upn);
  if (key[0] != '\0')
    o365_json_add_str(out, "account_key", key);
  o365_json_add_str(out, "remedy", "");
  struct json_object *detail = json_object_new_object();
  o365_json_add_str(detail, "user_id", o365_json_str(creds, "user_id"));
  o365_json_add_str(detail, "tenant_id", o365_json_str(creds, "tenant_id"));
  o365_json_add_str(detail, "display_name", o365_json_str(me, "displayName"));
  o365_json_add_str(detail, "mail", o365_json_str(me, "mail"));
  o365_json_add_str(detail, "app", ctx->cfg.app->name);
  o365_json_add_str(detail, "environment", ctx->cfg.app->environment);
  O365_JSON_ADD(out, "detail", detail);
  O365_JSON_ADD(out, "credentials", creds);
  complete_free(ctx);
  o365_api->call_done(call, out);
}

static void code_redeemed(void *arg, const o365_token_res *res) {
  complete_ctx *ctx = arg;
  wfc_call *call = ctx->call;
  ctx->http = NULL;
  if (res->error != 0) {
    char authority[sizeof ctx->cfg.authority];
    memcpy(authority, ctx->cfg.authority, sizeof authority);
    o365_api->call_on_cancel(call, NULL, NULL);
    complete_free(ctx);
    if (res->error == WFC_ECANCELED) {
      o365_api->call_fail(call, WFC_ECANCELED, NULL, "authorization canceled");
      return;
    }
    if (res->error == WFC_EAUTH) {
      /* Consent problems can also surface here (AADSTS65001...). */
      o365_state s = o365_authorize_outcome(&res->aad);
      if (s != O365_ERROR && s != O365_DENIED) {
        finish_state(call, s, &res->aad, NULL, NULL, authority);
        return;
      }
      finish_state(call, O365_ERROR, &res->aad, NULL, NULL, authority);
      return;
    }
    o365_api->call_fail(call, res->error, NULL,
                        "Redeeming the authorization code failed: %s",
                        res->message);
    return;
  }
  ctx->tok = json_object_get(res->tok);
  o365_graph_opts o = {.method = "GET",
                       .path =
                           "/me?$select=id,userPrincipalName,mail,displayName",
                       .base = ctx->cfg.graph,
                       .token = o365_json_str(ctx->tok, "access_token"),
                       .flags = O365_GRAPH_IDEMPOTENT};
  int rc = o365_graph_send(call, &o, me_done, ctx, &ctx->graph);
  if (rc != 0) {
    o365_api->call_on_cancel(call, NULL, NULL);
    complete_free(ctx);
    o365_api->call_fail(call, rc, NULL, "Reading the account failed");
  }
}

/* The redirect of an admin consent (the state checked already): granted,
 * declined (AADSTS65004 or access_denied) or error, in words for the
 * administrator's browser and the host. */
static int admin_consent_complete(wfc_call *call, struct json_object *params,
                                  struct json_object *query) {
  o365_admin_consent r;
  struct json_object *out = json_object_new_object();
  struct json_object *detail = json_object_new_object();
  o365_config cfg;
  char err[256];
  int have_cfg = o365_config_load(params, &cfg, err, sizeof err) == 0;
  const char *app = have_cfg ? cfg.app->name : "the app";
  char words[700];
  if (o365_admin_consent_parse(query, &r) != 0) {
    o365_json_add_str(out, "admin_consent", "error");
    snprintf(words, sizeof words,
             "The answer from the identity platform was not an admin "
             "consent result; nothing was granted.");
  } else if (r.granted) {
    o365_json_add_str(out, "admin_consent", "granted");
    snprintf(words, sizeof words,
             "An administrator granted %s its permissions for the whole "
             "organization. Users can now connect without a consent page.",
             app);
    o365_json_add_str(detail, "tenant", r.tenant);
    o365_json_add_str(detail, "scope", r.scope);
  } else {
    /* Cancel is AADSTS65004 (access_denied at /adminconsent); a plain
     * access_denied without a code (another identity provider) is a
     * decline too; any other code (a user who is no admin: 90094) is an
     * error. */
    int declined =
        r.err.aadsts == 65004 ||
        (r.err.aadsts == 0 && strcmp(r.err.error, "access_denied") == 0);
    o365_json_add_str(out, "admin_consent", declined ? "declined" : "error");
    if (declined)
      snprintf(words, sizeof words,
               "The permissions for %s were declined; nothing was granted.",
               app);
    else
      snprintf(words, sizeof words,
               "The admin consent for %s did not complete%s%s; nothing was "
               "granted.",
               app, r.err.summary[0] ? ": " : "", r.err.summary);
    if (r.err.error[0])
      o365_json_add_str(detail, "error", r.err.error);
    if (r.err.aadsts) {
      char code[32];
      snprintf(code, sizeof code, "AADSTS%ld", r.err.aadsts);
      o365_json_add_str(detail, "code", code);
    }
  }
  if (have_cfg)
    o365_json_add_str(detail, "client_id", cfg.client_id);
  o365_config_clear(&cfg);
  o365_json_add_str(out, "remedy", words);
  O365_JSON_ADD(out, "detail", detail);
  o365_api->call_done(call, out);
  return 0;
}

int o365_conn_authorize_complete(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  struct json_object *params = NULL, *session = NULL, *query = NULL;
  json_object_object_get_ex(in, "params", &params);
  json_object_object_get_ex(in, "session", &session);
  json_object_object_get_ex(in, "query", &query);

  /* The state is checked before anything else is looked at: a redirect
   * that does not carry this session's state may be forged (CSRF). */
  if (!o365_state_matches(session, query)) {
    o365_api->call_fail(call, WFC_EAUTH, NULL,
                        "The redirect's state does not match this "
                        "authorization request; it was refused.");
    return 0;
  }

  struct json_object *admin = NULL;
  if (json_object_object_get_ex(session, "admin_consent", &admin) &&
      json_object_get_boolean(admin))
    return admin_consent_complete(call, params, query);

  complete_ctx *ctx = calloc(1, sizeof *ctx);
  if (ctx == NULL)
    return WFC_ENOMEM;
  ctx->call = call;
  ctx->session = session;
  char err[256];
  int rc = o365_config_load(params, &ctx->cfg, err, sizeof err);
  if (rc != 0) {
    complete_free(ctx);
    o365_api->call_fail(call, rc, NULL, "%s", err);
    return 0;
  }
  const char *redirect = o365_json_str(session, "redirect_uri");
  if (redirect == NULL)
    redirect = o365_json_str(in, "redirect_uri");

  if (o365_json_str(query, "error") != NULL) {
    o365_aad_err e;
    o365_aad_err_from_query(query, &e);
    o365_state s = o365_authorize_outcome(&e);
    /* The tenant's admin consent URL (detail, for a redirect of the
     * host's own: this one's listener ends with this call), and the
     * portal page the remedy sends the administrator to, which works
     * whenever it is opened. */
    char *admin_url = NULL;
    if (s == O365_NEEDS_ADMIN_APPROVAL)
      admin_url = o365_admin_consent_url(
          &ctx->cfg, redirect ? redirect : "http://localhost", NULL);
    o365_api->log(2, "o365mail: authorization ended in %s (AADSTS%ld)",
                  o365_state_name(s), e.aadsts);
    finish_state(call, s, &e, admin_url,
                 s == O365_NEEDS_ADMIN_APPROVAL && ctx->cfg.portal[0]
                     ? ctx->cfg.portal
                     : NULL,
                 ctx->cfg.authority);
    free(admin_url);
    complete_free(ctx);
    return 0;
  }

  const char *code = o365_json_str(query, "code");
  if (code == NULL || *code == '\0') {
    /* An admin consent redirect lands here when the admin consent URL was
     * opened with this redirect URI: it grants consent but signs nobody
     * in. */
    o365_admin_consent ac;
    if (o365_admin_consent_parse(query, &ac) == 0 && ac.granted) {
      o365_aad_err e;
      memset(&e, 0, sizeof e);
      snprintf(e.summary, sizeof e.summary,
               "admin consent was granted for tenant %s; authorize the "
               "connection again to sign in",
               ac.tenant);
      finish_state(call, O365_ERROR, &e, NULL, NULL, ctx->cfg.authority);
    } else {
      o365_api->call_fail(call, WFC_EPROTO, NULL,
                          "The redirect carries neither a code nor an error.");
    }
    complete_free(ctx);
    return 0;
  }
  o365_api->secret(code);
  ctx->code = code;
  const char *verifier = o365_json_str(session, "verifier");
  const char *tenant = o365_json_str(session, "tenant");
  if (tenant == NULL || !o365_tenant_valid(tenant))
    tenant = ctx->cfg.tenant;
  char *form = o365_token_form(&ctx->cfg, "authorization_code", "code", code,
                               "redirect_uri", redirect, "code_verifier",
                               verifier, (const char *)NULL);
  if (form == NULL) {
    complete_free(ctx);
    return WFC_ENOMEM;
  }
  rc = o365_token_post(&ctx->cfg, tenant, form, code_redeemed, ctx, &ctx->http);
  o365_form_free(form);
  if (rc != 0) {
    complete_free(ctx);
    return rc;
  }
  o365_api->call_on_cancel(call, complete_cancel, ctx);
  return 0;
}
