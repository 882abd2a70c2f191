/* identity.c - the emulated Microsoft identity platform (v2.0 endpoints):
 * authorize with the sign-in, consent, "Need admin approval" and admin
 * consent request pages; token (authorization_code, refresh_token);
 * adminconsent; OpenID discovery and keys.
 *
 * Protocol facts and error codes: research/graph-protocol.md part A. The
 * choices where Microsoft's behaviour is undocumented are listed in
 * docs/emulator.md ("Identity platform"). All state lives here, under the
 * emulator lock (every handler holds it). */
#define _DEFAULT_SOURCE /* explicit_bzero, strdup */
#include "identity.h"
#include "emu.h"
#include "pages.h"
#include "apponly.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>

#define SESSION_COOKIE "ESTSAUTH"

typedef enum { TXN_AUTHORIZE, TXN_ADMINCONSENT } txn_kind;

/* What the last page shown for a transaction was: decides the error the
 * "Return to the application" link carries. */
typedef enum { LAST_NONE, LAST_NEED_ADMIN, LAST_REQUEST } txn_last;

/* A pending interactive request (the `ctx` of the pages). */
typedef struct txn {
  char id[64];
  txn_kind kind;
  char *tenant; /* the {tenant} path segment as sent */
  char *client_id, *redirect_uri, *state, *prompt, *login_hint;
  char *challenge, *challenge_method, *nonce;
  char *scope_raw;   /* `scope` as sent: "sign in with another account"
                        starts the same request again */
  emu_scopes scopes; /* after .default expansion */
  char *user_id;     /* set once signed in */
  txn_last last;
  int64_t created;
  struct txn *next;
} txn;

/* A browser's sign-in session (the ESTSAUTH cookie). Like Microsoft's,
 * it may hold several accounts: signing in with another account adds it,
 * and prompt=select_account lists them (the account picker). The first is
 * the one used without a prompt. */
#define SESSION_MAX_USERS 8
typedef struct session {
  char id[64];
  char *user_ids[SESSION_MAX_USERS];
  int n;
  struct session *next;
} session;

typedef struct auth_code {
  char *code;
  char *client_id, *redirect_uri, *user_id, *challenge, *method, *nonce;
  emu_scopes scopes;
  int64_t expires;
  int redeemed;
  struct auth_code *next;
} auth_code;

typedef struct refresh_tok {
  char *token;
  char *client_id, *user_id;
  emu_scopes scopes;
  uint64_t generation; /* of the enterprise app when issued */
  int64_t issued, last_used;
  int revoked;
  struct refresh_tok *next;
} refresh_tok;

static struct {
  emu_jwt_key *key;
  emu_consent *consent;
  txn *txns;
  session *sessions;
  auth_code *codes;
  refresh_tok *rts;
  /* settings */
  char decline_error[32];
  int64_t rt_max_inactive;
  int64_t at_lifetime; /* 0: Microsoft's random 60-90 min */
  int64_t code_lifetime;
  /* counters */
  long codes_issued, tokens_issued, refreshes, refresh_failures;
} id;

emu_consent *emu_id_consent(void) {
  return id.consent;
}

const emu_jwt_key *emu_id_key(void) {
  return id.key;
}

/* ---- small helpers ----------------------------------------------------- */

static char *xstrdup(const char *s) {
  return s ? strdup(s) : NULL;
}

static const emu_tenant *tenant(void) {
  return emu_tenant_get();
}

static emu_page_app page_app(const emu_app *app) {
  emu_page_app p = {app->display_name, app->publisher_name,
                    app->verified_publisher};
  return p;
}

/* Graph permissions are named with the resource in `scope` responses and
 * adminconsent redirects; OpenID scopes stay bare. */
static char *scopes_with_resource(const emu_scopes *s) {
  size_t i, len = 1;
  char *out;
  for (i = 0; i < s->n; i++)
    len += strlen(s->v[i]) + 32;
  out = malloc(len);
  if (out == NULL)
    return NULL;
  out[0] = '\0';
  for (i = 0; i < s->n; i++) {
    if (i > 0)
      strcat(out, " ");
    if (!emu_scope_is_oidc(s->v[i]))
      strcat(out, "https://graph.microsoft.com/");
    strcat(out, s->v[i]);
  }
  return out;
}

/* Appends name=value (value URL-encoded) to a growing query. */
static void q_add(char **q, const char *name, const char *value) {
  char *enc, *next;
  if (value == NULL || *q == NULL)
    return;
  enc = emu_url_encode(value);
  if (enc == NULL)
    return;
  next = emu_strdup_printf("%s%s%s=%s", *q, (*q)[0] ? "&" : "", name, enc);
  free(enc);
  free(*q);
  *q = next;
}

/* 302 to redirect_uri with the query `q` appended (consumes q). */
static void redirect_with(emu_req *r, const char *redirect_uri, char *q) {
  char *loc;
  if (q == NULL) {
    emu_resp_text(r, 500, "out of memory");
    return;
  }
  loc = emu_strdup_printf("%s%s%s", redirect_uri,
                          strchr(redirect_uri, '?') ? "&" : "?", q);
  free(q);
  if (loc == NULL) {
    emu_resp_text(r, 500, "out of memory");
    return;
  }
  emu_resp_header(r, "Cache-Control", "no-store, no-cache");
  emu_resp_redirect(r, loc);
  free(loc);
}

/* Error redirect to the app: error, error_description (AADSTS text with
 * trace/correlation ids), error_uri, then admin_consent/state. */
static void redirect_error(emu_req *r, const char *redirect_uri,
                           const char *state, int admin_consent,
                           const char *error, int aadsts, const char *msg) {
  char *q = strdup("");
  char *desc = emu_id_error_description(r, aadsts, msg);
  char uri[80];
  snprintf(uri, sizeof(uri), "https://login.microsoftonline.com/error?code=%d",
           aadsts);
  q_add(&q, "error", error);
  q_add(&q, "error_description", desc ? desc : msg);
  q_add(&q, "error_uri", uri);
  if (admin_consent)
    q_add(&q, "admin_consent", "True");
  q_add(&q, "state", state);
  free(desc);
  redirect_with(r, redirect_uri, q);
}

/* An error Microsoft shows on its own page (nothing goes to the app). */
static void page_error(emu_req *r, int status, int aadsts, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void page_error(emu_req *r, int status, int aadsts, const char *fmt,
                       ...) {
  char msg[1024];
  char *html;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  html = emu_page_error(aadsts, msg, emu_req_request_id(r));
  if (html == NULL) {
    emu_resp_text(r, 500, "out of memory");
    return;
  }
  emu_resp_html(r, status, html);
  free(html);
}

static void send_html(emu_req *r, char *html) {
  if (html == NULL) {
    emu_resp_text(r, 500, "out of memory");
    return;
  }
  emu_resp_header(r, "Cache-Control", "no-store, no-cache");
  emu_resp_html(r, 200, html);
  free(html);
}

/* ---- transactions and sessions ----------------------------------------- */

static void txn_free(txn *t) {
  free(t->tenant);
  free(t->client_id);
  free(t->redirect_uri);
  free(t->state);
  free(t->prompt);
  free(t->login_hint);
  free(t->scope_raw);
  free(t->challenge);
  free(t->challenge_method);
  free(t->nonce);
  free(t->user_id);
  emu_scopes_clear(&t->scopes);
  free(t);
}

static txn *txn_find(const char *ctx) {
  txn *t;
  if (ctx == NULL)
    return NULL;
  for (t = id.txns; t; t = t->next)
    if (emu_secret_eq(t->id, ctx))
      return t;
  return NULL;
}

static void txn_drop(txn *t) {
  txn **pp;
  for (pp = &id.txns; *pp; pp = &(*pp)->next)
    if (*pp == t) {
      *pp = t->next;
      txn_free(t);
      return;
    }
}

/* The sign-in transaction of ctx is unknown or gone (AADSTS50089). */
static void page_flow_expired(emu_req *r) {
  page_error(r, 400, 50089,
             "Flow token expired: the sign-in request is unknown or has "
             "expired. Start again from the application.");
}

/* t's application registration vanished (a reset): t ends
 * (AADSTS700016). */
static void page_no_app(emu_req *r, txn *t) {
  txn_drop(t);
  page_error(r, 400, 700016, "Application was not found in the directory.");
}

/* The transaction of the form's ctx and its application, or NULL after
 * answering the error page. */
static txn *txn_form_app(emu_req *r, const emu_app **app) {
  txn *t = txn_find(emu_req_form(r, "ctx"));
  if (t == NULL) {
    page_flow_expired(r);
    return NULL;
  }
  *app = emu_app_find(t->client_id);
  if (*app == NULL) {
    page_no_app(r, t);
    return NULL;
  }
  return t;
}

/* Abandoned sign-ins (the browser went away) are forgotten after an hour of
 * virtual time, so the list stays short. */
static void txns_gc(int64_t now) {
  txn **pp = &id.txns;
  while (*pp) {
    txn *t = *pp;
    if (t->created + 3600 < now) {
      *pp = t->next;
      txn_free(t);
    } else {
      pp = &t->next;
    }
  }
}

static txn *txn_new(txn_kind kind, emu_req *r) {
  txn *t;
  char *tok;
  txns_gc(emu_now());
  t = calloc(1, sizeof(*t));
  tok = emu_random_token(32);
  if (t == NULL || tok == NULL) {
    free(t);
    free(tok);
    return NULL;
  }
  snprintf(t->id, sizeof(t->id), "%s", tok);
  free(tok);
  t->kind = kind;
  t->tenant = xstrdup(emu_req_param(r, "tenant"));
  t->created = emu_now();
  t->next = id.txns;
  id.txns = t;
  return t;
}

static void session_free(session *s) {
  int i;
  for (i = 0; i < s->n; i++)
    free(s->user_ids[i]);
  free(s);
}

static session *session_of(emu_req *r) {
  const char *sid = emu_req_cookie(r, SESSION_COOKIE);
  session *s;
  if (sid == NULL)
    return NULL;
  for (s = id.sessions; s; s = s->next)
    if (emu_secret_eq(s->id, sid))
      return s;
  return NULL;
}

/* The session's i-th account, when it still may sign in. */
static emu_user *session_account(const session *s, int i) {
  emu_user *u = s != NULL && i < s->n ? emu_user_find(s->user_ids[i]) : NULL;
  return u != NULL && u->account_enabled ? u : NULL;
}

/* The account used without a prompt: the last one signed in, or the one
 * login_hint names when the session holds it. */
static emu_user *session_user_hint(emu_req *r, const char *hint) {
  session *s = session_of(r);
  int i;
  if (s == NULL)
    return NULL;
  if (hint != NULL && hint[0] != '\0') {
    for (i = 0; i < s->n; i++) {
      emu_user *u = session_account(s, i);
      if (u != NULL && strcasecmp(u->upn, hint) == 0)
        return u;
    }
    return NULL;
  }
  return session_account(s, 0);
}

/* Adds u to the browser's session (first: the current account), or starts
 * one. */
static void session_start(emu_req *r, const emu_user *u) {
  session *s = session_of(r);
  char *tok, *cookie;
  int i;
  if (s != NULL) {
    char *uid = NULL;
    for (i = 0; i < s->n; i++)
      if (strcmp(s->user_ids[i], u->id) == 0) {
        uid = s->user_ids[i];
        memmove(&s->user_ids[1], &s->user_ids[0], (size_t)i * sizeof(char *));
        break;
      }
    if (uid == NULL) {
      if ((uid = strdup(u->id)) == NULL)
        return;
      if (s->n == SESSION_MAX_USERS)
        free(s->user_ids[--s->n]);
      memmove(&s->user_ids[1], &s->user_ids[0], (size_t)s->n * sizeof(char *));
      s->n++;
    }
    s->user_ids[0] = uid;
    return;
  }
  s = calloc(1, sizeof(*s));
  tok = emu_random_token(32);
  if (s == NULL || tok == NULL || (s->user_ids[0] = strdup(u->id)) == NULL) {
    free(s);
    free(tok);
    return;
  }
  s->n = 1;
  snprintf(s->id, sizeof(s->id), "%s", tok);
  free(tok);
  s->next = id.sessions;
  id.sessions = s;
  /* Lax: sent on the top-level navigation to /authorize; browsers refuse
   * SameSite=None without Secure, and Secure only works over https. */
  cookie = emu_strdup_printf(
      "%s=%s; path=/; HttpOnly; SameSite=Lax%s", SESSION_COOKIE, s->id,
      strncmp(emu_req_base_url(r), "https:", 6) == 0 ? "; Secure" : "");
  if (cookie != NULL)
    emu_resp_header(r, "Set-Cookie", cookie);
  free(cookie);
}

/* ---- codes and refresh tokens ------------------------------------------ */

static void code_free(auth_code *c) {
  free(c->code);
  free(c->client_id);
  free(c->redirect_uri);
  free(c->user_id);
  free(c->challenge);
  free(c->method);
  free(c->nonce);
  emu_scopes_clear(&c->scopes);
  free(c);
}

static void rt_free(refresh_tok *t) {
  free(t->token);
  free(t->client_id);
  free(t->user_id);
  emu_scopes_clear(&t->scopes);
  free(t);
}

static void copy_scopes(emu_scopes *dst, const emu_scopes *src) {
  size_t i;
  for (i = 0; i < src->n; i++)
    emu_scopes_add(dst, src->v[i]);
}

static void state_clear(void) {
  while (id.txns) {
    txn *t = id.txns;
    id.txns = t->next;
    txn_free(t);
  }
  while (id.sessions) {
    session *s = id.sessions;
    id.sessions = s->next;
    session_free(s);
  }
  while (id.codes) {
    auth_code *c = id.codes;
    id.codes = c->next;
    code_free(c);
  }
  while (id.rts) {
    refresh_tok *t = id.rts;
    id.rts = t->next;
    rt_free(t);
  }
  id.codes_issued = id.tokens_issued = id.refreshes = id.refresh_failures = 0;
}

/* Expired codes are dropped lazily so the list stays short. */
static void codes_gc(int64_t now) {
  auth_code **pp = &id.codes;
  while (*pp) {
    auth_code *c = *pp;
    if (c->expires + 3600 < now) {
      *pp = c->next;
      code_free(c);
    } else {
      pp = &c->next;
    }
  }
}

/* ---- the authorize flow ------------------------------------------------- */

/* Expands ".default" to the app's statically configured permissions. 0, or
 * -1 when ".default" is mixed with other Graph permissions. */
static int expand_default(const emu_app *app, emu_scopes *s) {
  emu_scopes out = {0};
  size_t i;
  int has_default = emu_scopes_has(s, ".default");
  if (!has_default)
    return 0;
  for (i = 0; i < s->n; i++) {
    if (strcmp(s->v[i], ".default") == 0)
      continue;
    if (!emu_scope_is_oidc(s->v[i])) {
      emu_scopes_clear(&out);
      return -1;
    }
    emu_scopes_add(&out, s->v[i]);
  }
  for (i = 0; i < app->npermissions; i++) {
    emu_scopes tmp = {0};
    if (emu_scopes_parse(&tmp, app->permissions[i], NULL) == 0)
      copy_scopes(&out, &tmp);
    emu_scopes_clear(&tmp);
  }
  emu_scopes_clear(s);
  *s = out;
  return 0;
}

static char *tenant_action(const txn *t, const char *suffix) {
  return emu_strdup_printf("/%s/%s", t->tenant, suffix);
}

/* The sign-in page; login: the name to show in the field (what the
 * person typed, after a wrong password), else the request's login_hint. */
static void show_signin(emu_req *r, txn *t, const emu_app *app,
                        const char *login, const char *error) {
  char *action = tenant_action(t, "login");
  emu_page_app pa = page_app(app);
  char *html = action ? emu_page_signin(action, t->id, &pa,
                                        login ? login : t->login_hint, error)
                      : NULL;
  free(action);
  send_html(r, html);
}

/* The account picker (prompt=select_account with a session): the
 * session's accounts, and "Use another account". */
static void show_picker(emu_req *r, txn *t, const emu_app *app,
                        const session *s) {
  const char *upns[SESSION_MAX_USERS];
  int i, n = 0;
  for (i = 0; i < s->n; i++) {
    emu_user *u = session_account(s, i);
    if (u != NULL)
      upns[n++] = u->upn;
  }
  if (n == 0) {
    show_signin(r, t, app, NULL, NULL);
    return;
  }
  char *action = tenant_action(t, "login/select");
  char *other = emu_strdup_printf("/%s/login/other?ctx=%s", t->tenant, t->id);
  emu_page_app pa = page_app(app);
  send_html(r, action && other
                   ? emu_page_pick(action, t->id, &pa, upns, n, other)
                   : NULL);
  free(action);
  free(other);
}

static void issue_code(emu_req *r, txn *t) {
  auth_code *c = calloc(1, sizeof(*c));
  char *q;
  char sess[37];
  int64_t now = emu_now();
  codes_gc(now);
  if (c == NULL || (c->code = emu_random_token(64)) == NULL) {
    free(c);
    emu_resp_text(r, 500, "out of memory");
    return;
  }
  c->client_id = xstrdup(t->client_id);
  c->redirect_uri = xstrdup(t->redirect_uri);
  c->user_id = xstrdup(t->user_id);
  c->challenge = xstrdup(t->challenge);
  c->method = xstrdup(t->challenge_method);
  c->nonce = xstrdup(t->nonce);
  copy_scopes(&c->scopes, &t->scopes);
  c->expires = now + id.code_lifetime;
  c->next = id.codes;
  id.codes = c;
  id.codes_issued++;
  q = strdup("");
  q_add(&q, "code", c->code);
  q_add(&q, "state", t->state);
  emu_uuid(sess);
  q_add(&q, "session_state", sess);
  {
    char *redirect = strdup(t->redirect_uri);
    txn_drop(t);
    if (redirect == NULL) {
      free(q);
      emu_resp_text(r, 500, "out of memory");
      return;
    }
    redirect_with(r, redirect, q);
    free(redirect);
  }
}

/* The error for the current transaction, then forget it. */
static void txn_fail(emu_req *r, txn *t, const char *error, int aadsts,
                     const char *msg) {
  char *redirect = strdup(t->redirect_uri);
  char *state = xstrdup(t->state);
  int admin = t->kind == TXN_ADMINCONSENT;
  txn_drop(t);
  if (redirect == NULL) {
    free(state);
    emu_resp_text(r, 500, "out of memory");
    return;
  }
  redirect_error(r, redirect, state, admin, error, aadsts, msg);
  free(redirect);
  free(state);
}

static void consent_65001(char *buf, size_t n, const emu_app *app) {
  snprintf(buf, n,
           "The user or administrator has not consented to use the "
           "application with ID '%s' named '%s'. Send an interactive "
           "authorization request for this user and resource.",
           app->client_id, app->display_name ? app->display_name : "");
}

static char *return_url(const txn *t) {
  return emu_strdup_printf("/%s/consent/return?ctx=%s", t->tenant, t->id);
}

/* "Have an admin account? Sign in with that account": as Microsoft's, it
 * signs the browser out (the session would sign the same user in again)
 * and starts the same request again with prompt=login, state and PKCE
 * challenge included, so the app gets its answer for the admin's
 * sign-in. */
static char *admin_url(emu_req *r, const txn *t) {
  const char *base = emu_req_base_url(r);
  char *q = strdup(""), *again, *enc, *u;
  q_add(&q, "client_id", t->client_id);
  if (t->kind == TXN_AUTHORIZE) {
    q_add(&q, "response_type", "code");
    q_add(&q, "redirect_uri", t->redirect_uri);
    q_add(&q, "response_mode", "query");
    q_add(&q, "scope", t->scope_raw);
    q_add(&q, "state", t->state);
    q_add(&q, "code_challenge", t->challenge);
    if (t->challenge != NULL)
      q_add(&q, "code_challenge_method", t->challenge_method);
    q_add(&q, "nonce", t->nonce);
  } else {
    q_add(&q, "redirect_uri", t->redirect_uri);
    q_add(&q, "scope", t->scope_raw);
    q_add(&q, "state", t->state);
  }
  q_add(&q, "prompt", "login");
  if (q == NULL)
    return NULL;
  again = emu_strdup_printf("%s/%s/%s?%s", base, t->tenant,
                            t->kind == TXN_AUTHORIZE ? "oauth2/v2.0/authorize"
                                                     : "v2.0/adminconsent",
                            q);
  free(q);
  enc = again ? emu_url_encode(again) : NULL;
  u = enc ? emu_strdup_printf(
                "/%s/oauth2/v2.0/logout?post_logout_redirect_uri=%s", t->tenant,
                enc)
          : NULL;
  free(again);
  free(enc);
  return u;
}

/* After sign-in: show consent or the approval pages, or issue the code.
 * `no_ui` is prompt=none: every page becomes an error redirect. */
static void continue_flow(emu_req *r, txn *t, const emu_user *u, int no_ui) {
  const emu_app *app = emu_app_find(t->client_id);
  emu_page_app pa;
  emu_consent_query q;
  emu_consent_outcome out;
  char msg[512];

  if (app == NULL) { /* the registration vanished with a reset */
    page_no_app(r, t);
    return;
  }
  pa = page_app(app);
  free(t->user_id);
  t->user_id = strdup(u->id);

  if (t->kind == TXN_ADMINCONSENT) {
    if (!u->global_admin) {
      char *ret = return_url(t), *adm = admin_url(r, t);
      t->last = LAST_NEED_ADMIN;
      send_html(r,
                ret && adm ? emu_page_need_admin(&pa, u->upn, ret, adm) : NULL);
      free(ret);
      free(adm);
      return;
    }
    {
      char *action = tenant_action(t, "Consent/Set");
      send_html(r, action ? emu_page_consent(action, t->id, &pa, u->upn,
                                             &t->scopes, 0, 1)
                          : NULL);
      free(action);
    }
    return;
  }

  q.user_id = u->id;
  q.is_admin = u->global_admin;
  q.client_id = app->client_id;
  q.publisher_verified = app->verified_publisher;
  q.requested = &t->scopes;
  q.force_prompt = t->prompt != NULL && strcmp(t->prompt, "consent") == 0;
  out = emu_consent_decide(id.consent, &tenant()->policy, &q);
  switch (out) {
  case EMU_CONSENT_GRANTED:
    issue_code(r, t);
    return;
  case EMU_CONSENT_PROMPT_USER:
  case EMU_CONSENT_PROMPT_ADMIN:
    if (no_ui) {
      consent_65001(msg, sizeof(msg), app);
      txn_fail(r, t, "consent_required", 65001, msg);
      return;
    }
    {
      char *action = tenant_action(t, "Consent/Set");
      send_html(r, action ? emu_page_consent(action, t->id, &pa, u->upn,
                                             &t->scopes,
                                             out == EMU_CONSENT_PROMPT_ADMIN, 0)
                          : NULL);
      free(action);
    }
    return;
  case EMU_CONSENT_NEED_ADMIN:
  case EMU_CONSENT_REQUEST:
  case EMU_CONSENT_REQUEST_PENDING:
    if (no_ui) {
      txn_fail(r, t, "interaction_required", 90094,
               "The grant requires admin permission.");
      return;
    }
    break;
  }
  if (out == EMU_CONSENT_NEED_ADMIN) {
    char *ret = return_url(t), *adm = admin_url(r, t);
    t->last = LAST_NEED_ADMIN;
    send_html(r,
              ret && adm ? emu_page_need_admin(&pa, u->upn, ret, adm) : NULL);
    free(ret);
    free(adm);
  } else if (out == EMU_CONSENT_REQUEST) {
    char *action = tenant_action(t, "Consent/Request");
    t->last = LAST_REQUEST;
    send_html(r, action
                     ? emu_page_request(action, t->id, &pa, u->upn, &t->scopes)
                     : NULL);
    free(action);
  } else {
    char *ret = return_url(t);
    t->last = LAST_REQUEST;
    send_html(r, ret ? emu_page_request_sent(&pa, 1, ret) : NULL);
    free(ret);
  }
}

/* Checks tenant, client_id and redirect_uri, the errors Microsoft shows on
 * its own page. Returns the app or NULL after answering. */
static const emu_app *check_client(emu_req *r, const char **redirect_uri) {
  const char *seg = emu_req_param(r, "tenant");
  const char *client_id = emu_req_query(r, "client_id");
  const emu_app *app;
  if (!emu_tenant_matches(seg)) {
    page_error(r, 400, 90002,
               "Tenant '%s' not found. Check to make sure you have the "
               "correct tenant ID and are signing into the correct cloud.",
               seg);
    return NULL;
  }
  if (client_id == NULL || client_id[0] == '\0') {
    page_error(r, 400, 900144,
               "The request body must contain the following parameter: "
               "'client_id'.");
    return NULL;
  }
  app = emu_app_find(client_id);
  if (app == NULL) {
    page_error(r, 400, 700016,
               "Application with identifier '%s' was not found in the "
               "directory '%s'.",
               client_id, tenant()->display_name ? tenant()->display_name : "");
    return NULL;
  }
  if (!emu_consent_app_enabled(id.consent, app->client_id)) {
    page_error(r, 400, 7000112, "Application '%s'(%s) is disabled.",
               app->client_id, app->display_name ? app->display_name : "");
    return NULL;
  }
  *redirect_uri = emu_req_query(r, "redirect_uri");
  if (*redirect_uri == NULL || !emu_app_redirect_ok(app, *redirect_uri)) {
    page_error(r, 400, 50011,
               "The redirect URI '%s' specified in the request does not "
               "match the redirect URIs configured for the application "
               "'%s'.",
               *redirect_uri ? *redirect_uri : "", app->client_id);
    return NULL;
  }
  return app;
}

/* Parses `scope` into t->scopes; on error redirects and returns -1. */
static int parse_scope(emu_req *r, const emu_app *app, txn *t,
                       const char *redirect_uri, const char *state, int admin) {
  const char *scope = emu_req_query(r, "scope");
  char *bad = NULL;
  char msg[512];
  if (scope == NULL || scope[0] == '\0') {
    redirect_error(r, redirect_uri, state, admin, "invalid_request", 900144,
                   "The request body must contain the following parameter: "
                   "'scope'.");
    return -1;
  }
  if (emu_scopes_parse(&t->scopes, scope, &bad) != 0) {
    snprintf(msg, sizeof(msg),
             "The provided value for the input parameter 'scope' is not "
             "valid. The scope '%s' does not exist.",
             bad ? bad : scope);
    free(bad);
    redirect_error(r, redirect_uri, state, admin, "invalid_scope", 70011, msg);
    return -1;
  }
  if (expand_default(app, &t->scopes) != 0) {
    redirect_error(r, redirect_uri, state, admin, "invalid_scope", 70011,
                   "The provided value for the input parameter 'scope' is "
                   "not valid. The .default scope can't be combined with "
                   "resource-specific scopes.");
    return -1;
  }
  return 0;
}

static void h_authorize(emu_req *r) {
  const char *redirect_uri = NULL;
  const emu_app *app = check_client(r, &redirect_uri);
  const char *state, *rt, *mode, *prompt, *challenge, *method;
  emu_user *u;
  txn *t;
  if (app == NULL)
    return;
  state = emu_req_query(r, "state");
  rt = emu_req_query(r, "response_type");
  mode = emu_req_query(r, "response_mode");
  prompt = emu_req_query(r, "prompt");
  challenge = emu_req_query(r, "code_challenge");
  method = emu_req_query(r, "code_challenge_method");

  if (rt == NULL || rt[0] == '\0') {
    redirect_error(r, redirect_uri, state, 0, "invalid_request", 900144,
                   "The request body must contain the following parameter: "
                   "'response_type'.");
    return;
  }
  if (strcmp(rt, "code") != 0) {
    redirect_error(r, redirect_uri, state, 0, "unsupported_response_type",
                   70005, "The emulator supports response_type 'code' only.");
    return;
  }
  if (mode != NULL && strcmp(mode, "query") != 0) {
    redirect_error(r, redirect_uri, state, 0, "invalid_request", 70007,
                   "The emulator supports response_mode 'query' only.");
    return;
  }
  if (prompt != NULL && strcmp(prompt, "login") != 0 &&
      strcmp(prompt, "none") != 0 && strcmp(prompt, "consent") != 0 &&
      strcmp(prompt, "select_account") != 0) {
    redirect_error(r, redirect_uri, state, 0, "invalid_request", 90023,
                   "Invalid value for the input parameter 'prompt'.");
    return;
  }
  if (challenge != NULL) {
    size_t n = strlen(challenge);
    if (method != NULL && method[0] != '\0' && strcmp(method, "S256") != 0 &&
        strcmp(method, "plain") != 0) {
      redirect_error(r, redirect_uri, state, 0, "invalid_request", 90023,
                     "Invalid value for the input parameter "
                     "'code_challenge_method'.");
      return;
    }
    if (n < 43 || n > 128) {
      redirect_error(r, redirect_uri, state, 0, "invalid_request", 501491,
                     "Invalid size of Code_Challenge parameter.");
      return;
    }
  }
  t = txn_new(TXN_AUTHORIZE, r);
  if (t == NULL) {
    emu_resp_text(r, 500, "out of memory");
    return;
  }
  t->client_id = strdup(app->client_id);
  t->redirect_uri = strdup(redirect_uri);
  t->state = xstrdup(state);
  t->prompt = xstrdup(prompt);
  t->login_hint = xstrdup(emu_req_query(r, "login_hint"));
  t->challenge = xstrdup(challenge);
  /* Microsoft assumes plain when a challenge comes without a method. */
  t->challenge_method =
      challenge ? strdup(method && method[0] ? method : "plain") : NULL;
  t->nonce = xstrdup(emu_req_query(r, "nonce"));
  t->scope_raw = xstrdup(emu_req_query(r, "scope"));
  if (parse_scope(r, app, t, redirect_uri, state, 0) != 0) {
    txn_drop(t);
    return;
  }

  /* Without a prompt the session's account signs in silently (the one
   * login_hint names, when given and in the session). */
  u = session_user_hint(r, t->login_hint);
  if (prompt != NULL && strcmp(prompt, "none") == 0) {
    if (u == NULL) {
      txn_fail(r, t, "login_required", 50058,
               "A silent sign-in request was sent but no user is signed "
               "in.");
      return;
    }
    continue_flow(r, t, u, 1);
    return;
  }
  if (prompt && strcmp(prompt, "select_account") == 0 && session_of(r)) {
    show_picker(r, t, app, session_of(r));
    return;
  }
  if (u == NULL || (prompt && (strcmp(prompt, "login") == 0 ||
                               strcmp(prompt, "select_account") == 0))) {
    show_signin(r, t, app, NULL, NULL);
    return;
  }
  continue_flow(r, t, u, 0);
}

static void h_adminconsent(emu_req *r) {
  const char *redirect_uri = NULL;
  const emu_app *app = check_client(r, &redirect_uri);
  const char *state, *seg;
  emu_user *u;
  txn *t;
  if (app == NULL)
    return;
  state = emu_req_query(r, "state");
  seg = emu_req_param(r, "tenant");
  /* v2 adminconsent needs a real tenant; /common answers like this
   * (MicrosoftDocs/azure-docs#45151). */
  if (strcasecmp(seg, "common") == 0) {
    char *q = strdup("");
    q_add(&q, "error", "invalid_request");
    q_add(&q, "error_description",
          "The provided request must include a "
          "'response_type' input parameter.");
    q_add(&q, "state", state);
    redirect_with(r, redirect_uri, q);
    return;
  }
  t = txn_new(TXN_ADMINCONSENT, r);
  if (t == NULL) {
    emu_resp_text(r, 500, "out of memory");
    return;
  }
  t->client_id = strdup(app->client_id);
  t->redirect_uri = strdup(redirect_uri);
  t->state = xstrdup(state);
  t->prompt = xstrdup(emu_req_query(r, "prompt"));
  t->login_hint = xstrdup(emu_req_query(r, "login_hint"));
  t->scope_raw = xstrdup(emu_req_query(r, "scope"));
  if (parse_scope(r, app, t, redirect_uri, state, 1) != 0) {
    txn_drop(t);
    return;
  }
  u = session_user_hint(r, t->login_hint);
  if (u == NULL || (t->prompt && strcmp(t->prompt, "login") == 0)) {
    show_signin(r, t, app, NULL, NULL);
    return;
  }
  continue_flow(r, t, u, 0);
}

/* POST /{tenant}/login: ctx, login, passwd. */
static void h_login(emu_req *r) {
  const char *login = emu_req_form(r, "login");
  const char *pw = emu_req_form(r, "passwd");
  const emu_app *app = NULL;
  emu_user *u;
  txn *t = txn_form_app(r, &app);
  if (t == NULL)
    return;
  u = login ? emu_user_find(login) : NULL;
  /* Shared mailboxes have no password: they cannot sign in. The compare
   * runs even for an unknown user so timing says little. */
  if (u == NULL || u->password == NULL || pw == NULL ||
      !emu_secret_eq(u->password, pw)) {
    show_signin(r, t, app, login,
                "Your account or password is incorrect. If you don't "
                "remember your password, reset it now.");
    return;
  }
  if (!u->account_enabled) {
    show_signin(r, t, app, login,
                "Your account has been locked. Contact your support person "
                "to unlock it, then try again.");
    return;
  }
  session_start(r, u);
  continue_flow(r, t, u, 0);
}

/* POST /{tenant}/login/select: ctx, account: an account of the picker. An
 * account no longer in the session asks for its password. */
static void h_login_select(emu_req *r) {
  const char *account = emu_req_form(r, "account");
  const emu_app *app = NULL;
  emu_user *u;
  txn *t = txn_form_app(r, &app);
  if (t == NULL)
    return;
  u = account != NULL && account[0] ? session_user_hint(r, account) : NULL;
  if (u == NULL) {
    show_signin(r, t, app, account, NULL);
    return;
  }
  session_start(r, u); /* the chosen account becomes the current one */
  continue_flow(r, t, u, 0);
}

/* GET /{tenant}/login/other?ctx=: "Use another account" on the picker. */
static void h_login_other(emu_req *r) {
  txn *t = txn_find(emu_req_query(r, "ctx"));
  const emu_app *app = t != NULL ? emu_app_find(t->client_id) : NULL;
  if (t == NULL || app == NULL) {
    page_flow_expired(r);
    return;
  }
  show_signin(r, t, app, "", NULL);
}

static void decline(emu_req *r, txn *t) {
  /* AADSTS65004 comes back as consent_required from the authorize
   * endpoint (PuzzleServer/mainpuzzleserver#571) unless configured to
   * access_denied; adminconsent uses access_denied
   * (MicrosoftDocs/azure-docs#114009). */
  const char *err =
      t->kind == TXN_ADMINCONSENT ? "access_denied" : id.decline_error;
  txn_fail(r, t, err, 65004, "User declined to consent to access the app.");
}

static txn *txn_signed_in(emu_req *r, emu_user **u) {
  txn *t = txn_find(emu_req_form(r, "ctx"));
  if (t == NULL || t->user_id == NULL) {
    page_flow_expired(r);
    return NULL;
  }
  *u = emu_user_find(t->user_id);
  if (*u == NULL) {
    txn_drop(t);
    page_error(r, 400, 50034, "The user account does not exist.");
    return NULL;
  }
  return t;
}

/* POST /{tenant}/Consent/Set: ctx, action=accept|cancel, consent_org=on. */
static void h_consent_set(emu_req *r) {
  emu_user *u = NULL;
  txn *t = txn_signed_in(r, &u);
  const char *action, *org;
  const emu_app *app;
  if (t == NULL)
    return;
  action = emu_req_form(r, "action");
  org = emu_req_form(r, "consent_org");
  app = emu_app_find(t->client_id);
  if (app == NULL) {
    page_no_app(r, t);
    return;
  }
  if (action == NULL || strcmp(action, "accept") != 0) {
    decline(r, t);
    return;
  }
  if (t->kind == TXN_ADMINCONSENT) {
    char *q, *granted;
    if (!u->global_admin) {
      txn_fail(r, t, "access_denied", 90094,
               "The grant requires admin permission.");
      return;
    }
    emu_consent_grant_tenant(id.consent, app->client_id, &t->scopes);
    /* Admin consent also grants the application permissions (app roles)
     * the app asks for, as Microsoft's does for .default. */
    emu_apponly_grant_roles(app);
    granted = scopes_with_resource(&t->scopes);
    q = strdup("");
    q_add(&q, "admin_consent", "True");
    q_add(&q, "tenant", tenant()->id);
    q_add(&q, "scope", granted);
    q_add(&q, "state", t->state);
    free(granted);
    {
      char *redirect = strdup(t->redirect_uri);
      txn_drop(t);
      if (redirect != NULL)
        redirect_with(r, redirect, q);
      else {
        free(q);
        emu_resp_text(r, 500, "out of memory");
      }
      free(redirect);
    }
    return;
  }
  {
    /* Decide again: the form is only honoured for what the page offered. */
    emu_consent_query q = {
        u->id,          u->global_admin,
        app->client_id, app->verified_publisher,
        &t->scopes,     t->prompt && strcmp(t->prompt, "consent") == 0};
    emu_consent_outcome out =
        emu_consent_decide(id.consent, &tenant()->policy, &q);
    if (out == EMU_CONSENT_PROMPT_ADMIN && org && strcmp(org, "on") == 0)
      emu_consent_grant_tenant(id.consent, app->client_id, &t->scopes);
    else if (out == EMU_CONSENT_PROMPT_ADMIN || out == EMU_CONSENT_PROMPT_USER)
      emu_consent_grant_user(id.consent, u->id, app->client_id, &t->scopes);
    else if (out != EMU_CONSENT_GRANTED) {
      txn_fail(r, t, "access_denied", 90094,
               "The grant requires admin permission.");
      return;
    }
  }
  issue_code(r, t);
}

/* POST /{tenant}/Consent/Request: ctx, justification, action. */
static void h_consent_request(emu_req *r) {
  emu_user *u = NULL;
  txn *t = txn_signed_in(r, &u);
  const char *action;
  const emu_app *app;
  char rid[37];
  char *ret;
  emu_page_app pa;
  if (t == NULL)
    return;
  action = emu_req_form(r, "action");
  app = emu_app_find(t->client_id);
  if (app == NULL || t->last != LAST_REQUEST ||
      !tenant()->policy.admin_consent_workflow) {
    page_error(r, 400, 90095,
               "No admin consent request can be made for this sign-in.");
    return;
  }
  if (action == NULL || strcmp(action, "request") != 0) {
    decline(r, t);
    return;
  }
  if (emu_consent_request_submit(id.consent, u->id, app->client_id, &t->scopes,
                                 emu_req_form(r, "justification"), emu_now(),
                                 rid) != 0) {
    emu_resp_text(r, 500, "out of memory");
    return;
  }
  pa = page_app(app);
  ret = return_url(t);
  send_html(r, ret ? emu_page_request_sent(&pa, 0, ret) : NULL);
  free(ret);
}

/* GET /{tenant}/consent/return?ctx=: "Return to the application". */
static void h_consent_return(emu_req *r) {
  txn *t = txn_find(emu_req_query(r, "ctx"));
  if (t == NULL || t->last == LAST_NONE) {
    page_flow_expired(r);
    return;
  }
  if (t->last == LAST_NEED_ADMIN)
    txn_fail(r, t, "access_denied", 90094,
             "The grant requires admin permission.");
  else
    txn_fail(r, t, "access_denied", 90095,
             "Admin consent is required for the permissions requested by "
             "this application. An admin consent request may be sent to the "
             "admin.");
}

/* GET /{tenant}/oauth2/v2.0/logout */
static void h_logout(emu_req *r) {
  const char *sid = emu_req_cookie(r, SESSION_COOKIE);
  const char *post = emu_req_query(r, "post_logout_redirect_uri");
  session **pp = &id.sessions;
  while (sid && *pp) {
    session *s = *pp;
    if (emu_secret_eq(s->id, sid)) {
      *pp = s->next;
      session_free(s);
    } else {
      pp = &s->next;
    }
  }
  emu_resp_header(r, "Set-Cookie",
                  SESSION_COOKIE
                  "=; path=/; expires=Thu, 01 Jan 1970 00:00:00 GMT");
  if (post != NULL &&
      (strncmp(post, "http://", 7) == 0 || strncmp(post, "https://", 8) == 0))
    emu_resp_redirect(r, post);
  else
    emu_resp_html(r, 200,
                  "<!DOCTYPE html><html><body><h1>You signed out "
                  "of your account</h1></body></html>\n");
}

/* ---- token endpoint ----------------------------------------------------- */

static int64_t random_range(int64_t lo, int64_t hi) {
  uint32_t v;
  emu_random_bytes(&v, sizeof(v));
  return lo + (int64_t)(v % (uint32_t)(hi - lo + 1));
}

static void add_str(json_object *o, const char *k, const char *v) {
  json_object_object_add(o, k, json_object_new_string(v ? v : ""));
}

/* The "sub" claim: Microsoft's is a pairwise identifier, the same for a
 * user in every token one app gets and different for another app, so
 * apps can key accounts on it. Derived, not stored: base64url (43 chars)
 * of SHA-256 over tenant, user object id and client id. Into out[48]. */
static void pairwise_sub(const emu_tenant *tn, const emu_user *u,
                         const emu_app *app, char out[48]) {
  char in[512];
  int n =
      snprintf(in, sizeof in, "sub\n%s\n%s\n%s", tn->id, u->id, app->client_id);
  unsigned char md[32];
  unsigned int mdlen = 0;
  out[0] = '\0';
  if (n < 0 || (size_t)n >= sizeof in ||
      !EVP_Digest(in, (size_t)n, md, &mdlen, EVP_sha256(), NULL))
    return;
  char *b = emu_b64url_encode(md, mdlen);
  if (b != NULL)
    snprintf(out, 48, "%s", b);
  free(b);
}

int64_t emu_id_access_token_lifetime(void) {
  return id.at_lifetime > 0 ? id.at_lifetime : random_range(3599, 3599 + 1800);
}

/* Issues access (+refresh, +id) tokens and answers 200. */
static void issue_tokens(emu_req *r, const emu_app *app, const emu_user *u,
                         const emu_scopes *scopes, const char *nonce) {
  const emu_tenant *tn = tenant();
  int64_t now = emu_now();
  int64_t life = emu_id_access_token_lifetime();
  json_object *at = json_object_new_object(), *resp = json_object_new_object();
  emu_scopes scp = {0};
  char *scp_text, *scope_text, *jwt, iss[128], uti[37], sub[48];
  size_t i;

  for (i = 0; i < scopes->n; i++)
    if (strcmp(scopes->v[i], "offline_access") != 0)
      emu_scopes_add(&scp, scopes->v[i]);
  scp_text = emu_scopes_join(&scp);
  emu_scopes_clear(&scp);
  /* Graph tokens are v1.0 tokens issued by sts.windows.net. */
  snprintf(iss, sizeof(iss), "https://sts.windows.net/%s/", tn->id);
  emu_uuid(uti);
  pairwise_sub(tn, u, app, sub);
  add_str(at, "aud", EMU_GRAPH_APP_ID);
  add_str(at, "iss", iss);
  json_object_object_add(at, "iat", json_object_new_int64(now));
  json_object_object_add(at, "nbf", json_object_new_int64(now));
  json_object_object_add(at, "exp", json_object_new_int64(now + life));
  add_str(at, "app_displayname", app->display_name);
  add_str(at, "appid", app->client_id);
  add_str(at, "appidacr",
          app->client_secret && !app->public_client ? "1" : "0");
  add_str(at, "idtyp", "user");
  add_str(at, "name", u->display_name);
  add_str(at, "oid", u->id);
  add_str(at, "scp", scp_text);
  add_str(at, "sub", sub);
  add_str(at, "tid", tn->id);
  add_str(at, "unique_name", u->upn);
  add_str(at, "upn", u->upn);
  add_str(at, "uti", uti);
  add_str(at, "ver", "1.0");
  jwt = emu_jwt_sign(id.key, at);
  json_object_put(at);
  free(scp_text);
  if (jwt == NULL) {
    json_object_put(resp);
    emu_id_error(r, 500, "server_error", 50000, NULL,
                 "There was an error issuing a token.");
    return;
  }
  scope_text = scopes_with_resource(scopes);
  add_str(resp, "token_type", "Bearer");
  add_str(resp, "scope", scope_text);
  free(scope_text);
  json_object_object_add(resp, "expires_in", json_object_new_int64(life));
  json_object_object_add(resp, "ext_expires_in", json_object_new_int64(life));
  json_object_object_add(resp, "access_token", json_object_new_string(jwt));
  free(jwt);

  if (emu_scopes_has(scopes, "offline_access")) {
    refresh_tok *rt = calloc(1, sizeof(*rt));
    if (rt != NULL && (rt->token = emu_random_token(96)) != NULL) {
      char *prefixed = emu_strdup_printf("1.A%s", rt->token);
      free(rt->token);
      rt->token = prefixed;
    }
    if (rt == NULL || rt->token == NULL) {
      free(rt);
      json_object_put(resp);
      emu_resp_text(r, 500, "out of memory");
      return;
    }
    rt->client_id = strdup(app->client_id);
    rt->user_id = strdup(u->id);
    copy_scopes(&rt->scopes, scopes);
    rt->generation = emu_consent_app_generation(id.consent, app->client_id);
    rt->issued = rt->last_used = now;
    rt->next = id.rts;
    id.rts = rt;
    add_str(resp, "refresh_token", rt->token);
  }
  if (emu_scopes_has(scopes, "openid")) {
    json_object *it = json_object_new_object();
    char iss2[160];
    snprintf(iss2, sizeof(iss2), "https://login.microsoftonline.com/%s/v2.0",
             tn->id);
    add_str(it, "aud", app->client_id);
    add_str(it, "iss", iss2);
    json_object_object_add(it, "iat", json_object_new_int64(now));
    json_object_object_add(it, "nbf", json_object_new_int64(now));
    json_object_object_add(it, "exp", json_object_new_int64(now + 3600));
    if (emu_scopes_has(scopes, "profile"))
      add_str(it, "name", u->display_name);
    if (nonce != NULL)
      add_str(it, "nonce", nonce);
    add_str(it, "oid", u->id);
    add_str(it, "preferred_username", u->upn);
    add_str(it, "sub", sub);
    add_str(it, "tid", tn->id);
    add_str(it, "ver", "2.0");
    jwt = emu_jwt_sign(id.key, it);
    json_object_put(it);
    if (jwt != NULL)
      add_str(resp, "id_token", jwt);
    free(jwt);
  }
  /* MSAL sends client_info=1 and keys its cache on uid.utid. */
  {
    const char *ci = emu_req_form(r, "client_info");
    if (ci != NULL && strcmp(ci, "1") == 0) {
      char *raw =
          emu_strdup_printf("{\"uid\":\"%s\",\"utid\":\"%s\"}", u->id, tn->id);
      char *enc = raw ? emu_b64url_encode(raw, strlen(raw)) : NULL;
      if (enc != NULL)
        add_str(resp, "client_info", enc);
      free(enc);
      free(raw);
    }
  }
  id.tokens_issued++;
  emu_resp_header(r, "Cache-Control", "no-store, no-cache");
  emu_resp_header(r, "Pragma", "no-cache");
  emu_resp_json(r, 200, resp);
}

/* client_id/client_secret from the form or HTTP Basic (RFC 6749 2.3.1:
 * both parts form-URL-encoded). Returns malloc'ed copies. */
static void client_credentials(emu_req *r, char **cid, char **secret) {
  const char *auth = emu_req_header(r, "Authorization");
  *cid = xstrdup(emu_req_form(r, "client_id"));
  *secret = xstrdup(emu_req_form(r, "client_secret"));
  if (auth != NULL && strncasecmp(auth, "Basic ", 6) == 0) {
    size_t n;
    unsigned char *raw = emu_b64_decode(auth + 6, &n);
    char *text = raw ? malloc(n + 1) : NULL;
    if (text != NULL) {
      char *colon;
      memcpy(text, raw, n);
      text[n] = '\0';
      colon = strchr(text, ':');
      if (colon != NULL) {
        *colon = '\0';
        if (emu_url_decode(text, 1) >= 0 && emu_url_decode(colon + 1, 1) >= 0) {
          if (*cid == NULL)
            *cid = strdup(text);
          if (*secret == NULL)
            *secret = strdup(colon + 1);
        }
      }
    }
    free(text);
    free(raw);
  }
}

static void token_code(emu_req *r, const emu_app *app) {
  const char *code = emu_req_form(r, "code");
  const char *redirect_uri = emu_req_form(r, "redirect_uri");
  const char *verifier = emu_req_form(r, "code_verifier");
  auth_code *c;
  emu_user *u;
  char msg[512];
  if (code == NULL || code[0] == '\0') {
    emu_id_error(r, 400, "invalid_request", 900144, NULL,
                 "The request body must contain the following parameter: "
                 "'code'.");
    return;
  }
  for (c = id.codes; c; c = c->next)
    if (emu_secret_eq(c->code, code))
      break;
  if (c == NULL) {
    emu_id_error(r, 400, "invalid_grant", 9002313, NULL,
                 "Invalid request. Request is malformed or invalid.");
    return;
  }
  if (c->redeemed) {
    emu_id_error(r, 400, "invalid_grant", 54005, NULL,
                 "OAuth2 Authorization code was already redeemed, please "
                 "retry with a new valid code or use an existing refresh "
                 "token.");
    return;
  }
  if (emu_now() >= c->expires) {
    emu_id_error(r, 400, "invalid_grant", 70008, NULL,
                 "The provided authorization code or refresh token has "
                 "expired due to inactivity. Send a new interactive "
                 "authorization request for this user and resource.");
    return;
  }
  if (strcmp(c->client_id, app->client_id) != 0) {
    emu_id_error(r, 400, "invalid_grant", 70000, NULL,
                 "Provided grant is invalid or malformed: the code was "
                 "issued to another client.");
    return;
  }
  if (redirect_uri == NULL) {
    emu_id_error(r, 400, "invalid_request", 900144, NULL,
                 "The request body must contain the following parameter: "
                 "'redirect_uri'.");
    return;
  }
  if (strcmp(redirect_uri, c->redirect_uri) != 0) {
    emu_id_error(r, 400, "invalid_grant", 500112, NULL,
                 "The reply address '%s' does not match the reply address "
                 "'%s' provided when requesting Authorization code.",
                 redirect_uri, c->redirect_uri);
    return;
  }
  if (c->challenge != NULL) {
    if (verifier == NULL) {
      emu_id_error(r, 400, "invalid_request", 900144, NULL,
                   "The request body must contain the following parameter: "
                   "'code_verifier'.");
      return;
    }
    if (!emu_pkce_verify(c->challenge, c->method, verifier)) {
      emu_id_error(r, 400, "invalid_grant", 501481, NULL,
                   "The Code_Verifier does not match the code_challenge "
                   "supplied in the authorization request.");
      return;
    }
  }
  u = emu_user_find(c->user_id);
  if (u == NULL || !u->account_enabled) {
    emu_id_error(r, 400, "invalid_grant", 50057, NULL,
                 "The user account is disabled or was deleted.");
    return;
  }
  /* Consent may have gone between authorize and redemption (app deleted). */
  if (!emu_consent_covers(id.consent, u->id, app->client_id, &c->scopes)) {
    consent_65001(msg, sizeof(msg), app);
    emu_id_error(r, 400, "invalid_grant", 65001, "consent_required", "%s", msg);
    return;
  }
  c->redeemed = 1;
  issue_tokens(r, app, u, &c->scopes, c->nonce);
}

static void fmt_duration(int64_t s, char *out, size_t n) {
  /* Microsoft prints TimeSpans as d.hh:mm:ss ("90.00:00:00"). */
  snprintf(out, n, "%lld.%02lld:%02lld:%02lld", (long long)(s / 86400),
           (long long)(s % 86400 / 3600), (long long)(s % 3600 / 60),
           (long long)(s % 60));
}

static void token_refresh(emu_req *r, const emu_app *app) {
  const char *tok = emu_req_form(r, "refresh_token");
  const char *scope = emu_req_form(r, "scope");
  refresh_tok *t;
  emu_user *u;
  emu_scopes want = {0};
  int64_t now = emu_now();
  char msg[512];
  if (tok == NULL || tok[0] == '\0') {
    emu_id_error(r, 400, "invalid_request", 900144, NULL,
                 "The request body must contain the following parameter: "
                 "'refresh_token'.");
    return;
  }
  for (t = id.rts; t; t = t->next)
    if (emu_secret_eq(t->token, tok))
      break;
  id.refresh_failures++; /* undone on success below */
  if (t == NULL) {
    emu_id_error(r, 400, "invalid_grant", 9002313, NULL,
                 "Invalid request. Request is malformed or invalid.");
    return;
  }
  if (strcmp(t->client_id, app->client_id) != 0) {
    emu_id_error(r, 400, "invalid_grant", 70000, NULL,
                 "Provided grant is invalid or malformed: the refresh token "
                 "was issued to another client.");
    return;
  }
  if (t->revoked) {
    emu_id_error(r, 400, "invalid_grant", 50173, NULL,
                 "The provided grant has expired due to it being revoked, a "
                 "fresh auth token is needed. The user might have changed or "
                 "reset their password.");
    return;
  }
  if (now - t->last_used > id.rt_max_inactive) {
    char issued[32], dur[32];
    emu_fmt_id_timestamp(t->issued * 1000, issued);
    fmt_duration(id.rt_max_inactive, dur, sizeof(dur));
    emu_id_error(r, 400, "invalid_grant", 700082, "bad_token",
                 "The refresh token has expired due to inactivity. The token "
                 "was issued on %s and was inactive for %s.",
                 issued, dur);
    return;
  }
  u = emu_user_find(t->user_id);
  if (u == NULL || !u->account_enabled) {
    emu_id_error(r, 400, "invalid_grant", 50057, NULL,
                 "The user account is disabled or was deleted.");
    return;
  }
  if (scope != NULL && scope[0] != '\0') {
    if (emu_scopes_parse(&want, scope, NULL) != 0 ||
        expand_default(app, &want) != 0) {
      emu_scopes_clear(&want);
      emu_id_error(r, 400, "invalid_scope", 70011, NULL,
                   "The provided value for the input parameter 'scope' is "
                   "not valid.");
      return;
    }
    /* A refresh token keeps access to what the user consented. */
    if (emu_scopes_has(&t->scopes, "offline_access"))
      emu_scopes_add(&want, "offline_access");
  } else {
    copy_scopes(&want, &t->scopes);
  }
  /* Deleting the enterprise app or removing the grant ends the refresh
   * tokens (python-o365#323 shows the error). */
  if (t->generation != emu_consent_app_generation(id.consent, app->client_id) ||
      !emu_consent_covers(id.consent, u->id, app->client_id, &want)) {
    emu_scopes_clear(&want);
    consent_65001(msg, sizeof(msg), app);
    emu_id_error(r, 400, "invalid_grant", 65001, "consent_required", "%s", msg);
    return;
  }
  /* The old refresh token stays valid (refresh-tokens.md); the response
   * carries a new one. */
  t->last_used = now;
  id.refresh_failures--;
  id.refreshes++;
  issue_tokens(r, app, u, &want, NULL);
  emu_scopes_clear(&want);
}

static void h_token(emu_req *r) {
  const char *seg = emu_req_param(r, "tenant");
  const char *grant = emu_req_form(r, "grant_type");
  char *cid = NULL, *secret = NULL;
  const emu_app *app;
  if (!emu_tenant_matches(seg)) {
    emu_id_error(r, 400, "invalid_request", 90002, NULL,
                 "Tenant '%s' not found. Check to make sure you have the "
                 "correct tenant ID and are signing into the correct cloud.",
                 seg);
    return;
  }
  if (grant == NULL || grant[0] == '\0') {
    emu_id_error(r, 400, "invalid_request", 900144, NULL,
                 "The request body must contain the following parameter: "
                 "'grant_type'.");
    return;
  }
  client_credentials(r, &cid, &secret);
  if (cid == NULL || cid[0] == '\0') {
    emu_id_error(r, 400, "invalid_request", 900144, NULL,
                 "The request body must contain the following parameter: "
                 "'client_id'.");
    goto done;
  }
  app = emu_app_find(cid);
  if (app == NULL) {
    emu_id_error(r, 400, "unauthorized_client", 700016, NULL,
                 "Application with identifier '%s' was not found in the "
                 "directory '%s'. This can happen if the application has not "
                 "been installed by the administrator of the tenant or "
                 "consented to by any user in the tenant.",
                 cid, tenant()->display_name ? tenant()->display_name : "");
    goto done;
  }
  if (!emu_consent_app_enabled(id.consent, app->client_id)) {
    /* Before the client authentication, as Microsoft answers it for every
     * grant (Worklytics/psoxy#74: unauthorized_client). */
    emu_id_error(r, 400, "unauthorized_client", 7000112, NULL,
                 "Application '%s'(%s) is disabled.", app->client_id,
                 app->display_name ? app->display_name : "");
    goto done;
  }
  if (strcmp(grant, "client_credentials") == 0) {
    /* App-only: its own client authentication (secret or certificate
     * assertion) and token (apponly.c). */
    emu_apponly_token(r, app);
    goto done;
  }
  if (strcmp(grant, "authorization_code") != 0 &&
      strcmp(grant, "refresh_token") != 0) {
    emu_id_error(r, 400, "unsupported_grant_type", 70003, NULL,
                 "The app requested an unsupported grant type '%s'.", grant);
    goto done;
  }
  if (app->public_client || app->client_secret == NULL) {
    if (secret != NULL) {
      emu_id_error(r, 401, "invalid_client", 700025, NULL,
                   "Client is public so neither 'client_assertion' nor "
                   "'client_secret' should be presented.");
      goto done;
    }
  } else if (secret == NULL) {
    emu_id_error(r, 401, "invalid_client", 7000218, NULL,
                 "The request body must contain the following parameter: "
                 "'client_assertion' or 'client_secret'.");
    goto done;
  } else if (!emu_secret_eq(app->client_secret, secret)) {
    emu_id_error(r, 401, "invalid_client", 7000215, NULL,
                 "Invalid client secret provided. Ensure the secret being "
                 "sent in the request is the client secret value, not the "
                 "client secret ID, for a secret added to app '%s'.",
                 app->client_id);
    goto done;
  }
  if (strcmp(grant, "authorization_code") == 0)
    token_code(r, app);
  else
    token_refresh(r, app);
done:
  free(cid);
  if (secret != NULL) {
    explicit_bzero(secret, strlen(secret));
    free(secret);
  }
}

/* GET on the token endpoint. */
static void h_token_get(emu_req *r) {
  emu_id_error(r, 400, "invalid_request", 900561, NULL,
               "The endpoint only accepts POST requests. Received a GET "
               "request.");
}

/* ---- discovery ---------------------------------------------------------- */

static void h_openid_config(emu_req *r) {
  const char *seg = emu_req_param(r, "tenant");
  const char *base = emu_req_base_url(r);
  const emu_tenant *tn = tenant();
  json_object *o, *a;
  char buf[512];
  int generic;
  if (!emu_tenant_matches(seg)) {
    emu_id_error(r, 400, "invalid_tenant", 90002, NULL,
                 "Tenant '%s' not found.", seg);
    return;
  }
  generic =
      strcasecmp(seg, "common") == 0 || strcasecmp(seg, "organizations") == 0;
  o = json_object_new_object();
#define URL(k, fmt)                                                            \
  do {                                                                         \
    snprintf(buf, sizeof(buf), fmt, base, seg);                                \
    add_str(o, k, buf);                                                        \
  } while (0)
  URL("token_endpoint", "%s/%s/oauth2/v2.0/token");
  URL("jwks_uri", "%s/%s/discovery/v2.0/keys");
  URL("authorization_endpoint", "%s/%s/oauth2/v2.0/authorize");
  URL("end_session_endpoint", "%s/%s/oauth2/v2.0/logout");
#undef URL
  a = json_object_new_array();
  json_object_array_add(a, json_object_new_string("client_secret_post"));
  json_object_array_add(a, json_object_new_string("client_secret_basic"));
  json_object_object_add(o, "token_endpoint_auth_methods_supported", a);
  a = json_object_new_array();
  json_object_array_add(a, json_object_new_string("query"));
  json_object_object_add(o, "response_modes_supported", a);
  a = json_object_new_array();
  json_object_array_add(a, json_object_new_string("code"));
  json_object_object_add(o, "response_types_supported", a);
  a = json_object_new_array();
  json_object_array_add(a, json_object_new_string("pairwise"));
  json_object_object_add(o, "subject_types_supported", a);
  a = json_object_new_array();
  json_object_array_add(a, json_object_new_string("RS256"));
  json_object_object_add(o, "id_token_signing_alg_values_supported", a);
  a = json_object_new_array();
  json_object_array_add(a, json_object_new_string("S256"));
  json_object_array_add(a, json_object_new_string("plain"));
  json_object_object_add(o, "code_challenge_methods_supported", a);
  a = json_object_new_array();
  json_object_array_add(a, json_object_new_string("openid"));
  json_object_array_add(a, json_object_new_string("profile"));
  json_object_array_add(a, json_object_new_string("email"));
  json_object_array_add(a, json_object_new_string("offline_access"));
  json_object_object_add(o, "scopes_supported", a);
  snprintf(buf, sizeof(buf), "https://login.microsoftonline.com/%s/v2.0",
           generic ? "{tenantid}" : tn->id);
  add_str(o, "issuer", buf);
  json_object_object_add(o, "request_uri_parameter_supported",
                         json_object_new_boolean(0));
  add_str(o, "userinfo_endpoint", "https://graph.microsoft.com/oidc/userinfo");
  add_str(o, "tenant_region_scope", "EU");
  add_str(o, "cloud_instance_name", "microsoftonline.com");
  add_str(o, "cloud_graph_host_name", "graph.windows.net");
  add_str(o, "msgraph_host", "graph.microsoft.com");
  emu_resp_json(r, 200, o);
}

static void h_keys(emu_req *r) {
  char iss[128];
  if (!emu_tenant_matches(emu_req_param(r, "tenant"))) {
    emu_id_error(r, 400, "invalid_tenant", 90002, NULL, "Tenant not found.");
    return;
  }
  snprintf(iss, sizeof(iss), "https://login.microsoftonline.com/%s/v2.0",
           tenant()->id);
  emu_resp_json(r, 200, emu_jwt_jwks(id.key, iss));
}

/* ---- settings, stats, reset -------------------------------------------- */

static void settings_defaults(void) {
  snprintf(id.decline_error, sizeof(id.decline_error), "consent_required");
  id.rt_max_inactive = 90LL * 86400;
  id.at_lifetime = 0;
  id.code_lifetime = 600;
}

int emu_id_settings_apply(json_object *s, char *err, size_t errlen) {
  json_object *v;
  if (s == NULL || !json_object_is_type(s, json_type_object)) {
    snprintf(err, errlen, "identity settings must be a JSON object");
    return -1;
  }
  if (json_object_object_get_ex(s, "declineError", &v)) {
    const char *e = json_object_get_string(v);
    if (e == NULL ||
        (strcmp(e, "consent_required") != 0 && strcmp(e, "access_denied"))) {
      snprintf(err, errlen,
               "declineError must be \"consent_required\" or "
               "\"access_denied\"");
      return -1;
    }
  }
#define CHECK_INT(name, lo)                                                    \
  if (json_object_object_get_ex(s, name, &v) &&                                \
      (!json_object_is_type(v, json_type_int) ||                               \
       json_object_get_int64(v) < (lo))) {                                     \
    snprintf(err, errlen, "%s must be an integer >= %d", name, (int)(lo));     \
    return -1;                                                                 \
  }
  CHECK_INT("refreshTokenMaxInactiveSeconds", 1)
  CHECK_INT("accessTokenLifetimeSeconds", 0)
  CHECK_INT("authCodeLifetimeSeconds", 1)
#undef CHECK_INT
  /* Validated: apply. */
  if (json_object_object_get_ex(s, "declineError", &v))
    snprintf(id.decline_error, sizeof(id.decline_error), "%s",
             json_object_get_string(v));
  if (json_object_object_get_ex(s, "refreshTokenMaxInactiveSeconds", &v))
    id.rt_max_inactive = json_object_get_int64(v);
  if (json_object_object_get_ex(s, "accessTokenLifetimeSeconds", &v))
    id.at_lifetime = json_object_get_int64(v);
  if (json_object_object_get_ex(s, "authCodeLifetimeSeconds", &v))
    id.code_lifetime = json_object_get_int64(v);
  return 0;
}

json_object *emu_id_settings_json(void) {
  json_object *o = json_object_new_object();
  add_str(o, "declineError", id.decline_error);
  json_object_object_add(o, "refreshTokenMaxInactiveSeconds",
                         json_object_new_int64(id.rt_max_inactive));
  json_object_object_add(o, "accessTokenLifetimeSeconds",
                         json_object_new_int64(id.at_lifetime));
  json_object_object_add(o, "authCodeLifetimeSeconds",
                         json_object_new_int64(id.code_lifetime));
  return o;
}

json_object *emu_id_stats_json(void) {
  json_object *o = json_object_new_object();
  refresh_tok *t;
  long live = 0;
  for (t = id.rts; t; t = t->next)
    if (!t->revoked)
      live++;
  json_object_object_add(o, "codesIssued",
                         json_object_new_int64(id.codes_issued));
  json_object_object_add(o, "tokensIssued",
                         json_object_new_int64(id.tokens_issued));
  json_object_object_add(o, "refreshes", json_object_new_int64(id.refreshes));
  json_object_object_add(o, "refreshFailures",
                         json_object_new_int64(id.refresh_failures));
  json_object_object_add(o, "refreshTokens", json_object_new_int64(live));
  return o;
}

int emu_id_revoke_user_tokens(const char *user_id) {
  refresh_tok *t;
  int n = 0;
  for (t = id.rts; t; t = t->next)
    if (!t->revoked && strcmp(t->user_id, user_id) == 0) {
      t->revoked = 1;
      n++;
    }
  return n;
}

static void id_reset(json_object *config) {
  json_object *s;
  char err[256];
  state_clear();
  emu_consent_free(id.consent);
  id.consent = emu_consent_new();
  settings_defaults();
  if (config != NULL && json_object_object_get_ex(config, "identity", &s) &&
      emu_id_settings_apply(s, err, sizeof(err)) != 0)
    fprintf(stderr, "m365-emulator: tenant \"identity\": %s (ignored)\n", err);
}

static void id_shutdown(void) {
  state_clear();
  emu_consent_free(id.consent);
  id.consent = NULL;
  emu_jwt_key_free(id.key);
  id.key = NULL;
}

static int id_init(void) {
  static const emu_route_def routes[] = {
      {"GET", "/{tenant}/oauth2/v2.0/authorize", h_authorize},
      {"POST", "/{tenant}/oauth2/v2.0/token", h_token},
      {"GET", "/{tenant}/oauth2/v2.0/token", h_token_get},
      {"GET", "/{tenant}/oauth2/v2.0/logout", h_logout},
      {"GET", "/{tenant}/v2.0/adminconsent", h_adminconsent},
      {"GET", "/{tenant}/v2.0/.well-known/openid-configuration",
       h_openid_config},
      {"GET", "/{tenant}/discovery/v2.0/keys", h_keys},
      {"POST", "/{tenant}/login", h_login},
      {"POST", "/{tenant}/login/select", h_login_select},
      {"GET", "/{tenant}/login/other", h_login_other},
      {"POST", "/{tenant}/Consent/Set", h_consent_set},
      {"POST", "/{tenant}/Consent/Request", h_consent_request},
      {"GET", "/{tenant}/consent/return", h_consent_return},
  };
  id.key = emu_jwt_key_new();
  id.consent = emu_consent_new();
  if (id.key == NULL || id.consent == NULL) {
    fprintf(stderr, "m365-emulator: identity: cannot create signing key\n");
    return -1;
  }
  settings_defaults();
  /* A bad "identity" section stops the emulator like any bad config; the
   * reset hook then applies it (again on every reset). */
  {
    json_object *cfg = emu_tenant_config(), *s;
    char err[256];
    if (cfg != NULL && json_object_object_get_ex(cfg, "identity", &s) &&
        emu_id_settings_apply(s, err, sizeof(err)) != 0) {
      fprintf(stderr, "m365-emulator: tenant \"identity\": %s\n", err);
      emu_jwt_key_free(id.key);
      emu_consent_free(id.consent);
      id.key = NULL;
      id.consent = NULL;
      return -1;
    }
    settings_defaults();
  }
  atexit(id_shutdown);
  if (emu_routes_add("identity", routes, sizeof routes / sizeof routes[0]) != 0)
    return -1;
  emu_reset_hook_add(id_reset);
  emu_state_hook_add("identity", emu_id_state_json, emu_id_state_load);
  return 0;
}

/* ---- state kept across restarts (--state-dir) ---------------------------
 */

static int scopes_from_json(json_object *arr, emu_scopes *out) {
  if (!json_object_is_type(arr, json_type_array))
    return -1;
  for (size_t i = 0; i < json_object_array_length(arr); i++) {
    json_object *v = json_object_array_get_idx(arr, i);
    if (!json_object_is_type(v, json_type_string) ||
        emu_scopes_add(out, json_object_get_string(v)) != 0)
      return -1;
  }
  return 0;
}

static json_object *scopes_to_json(const emu_scopes *s) {
  json_object *arr = json_object_new_array();
  for (size_t i = 0; i < s->n; i++)
    json_object_array_add(arr, json_object_new_string(s->v[i]));
  return arr;
}

json_object *emu_id_state_json(void) {
  json_object *o = json_object_new_object(), *rts = json_object_new_array();
  json_object_object_add(o, "version", json_object_new_int(1));
  for (refresh_tok *t = id.rts; t; t = t->next) {
    json_object *j = json_object_new_object();
    add_str(j, "token", t->token);
    add_str(j, "clientId", t->client_id);
    add_str(j, "userId", t->user_id);
    json_object_object_add(j, "scopes", scopes_to_json(&t->scopes));
    /* Whether the enterprise app is the one it was issued for: a deleted
     * app's tokens stay dead after the restart. */
    json_object_object_add(j, "currentApp",
                           json_object_new_boolean(
                               t->generation == emu_consent_app_generation(
                                                    id.consent, t->client_id)));
    json_object_object_add(j, "issued", json_object_new_int64(t->issued));
    json_object_object_add(j, "lastUsed", json_object_new_int64(t->last_used));
    json_object_object_add(j, "revoked", json_object_new_boolean(t->revoked));
    json_object_array_add(rts, j);
  }
  json_object_object_add(o, "refreshTokens", rts);
  json_object_object_add(o, "consent",
                         emu_consent_grants_json(id.consent, NULL));
  return o;
}

static const char *jstr_of(json_object *o, const char *k) {
  json_object *v;
  return json_object_object_get_ex(o, k, &v) &&
                 json_object_is_type(v, json_type_string)
             ? json_object_get_string(v)
             : NULL;
}

static int64_t jint_of(json_object *o, const char *k) {
  json_object *v;
  return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : 0;
}

int emu_id_state_load(json_object *state, char *err, size_t errlen) {
  json_object *consent, *arr;
  if (jint_of(state, "version") != 1) {
    snprintf(err, errlen, "\"version\" is not 1");
    return -1;
  }
  /* Consent first: restoring a grant creates the enterprise app. */
  if (json_object_object_get_ex(state, "consent", &consent)) {
    if (json_object_object_get_ex(consent, "apps", &arr))
      for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *a = json_object_array_get_idx(arr, i), *s;
        emu_scopes sc = {0};
        const char *client = jstr_of(a, "clientId");
        if (client == NULL ||
            !json_object_object_get_ex(a, "tenantWideScopes", &s) ||
            scopes_from_json(s, &sc) != 0) {
          emu_scopes_clear(&sc);
          snprintf(err, errlen, "consent.apps[%zu] is malformed", i);
          return -1;
        }
        /* The enterprise app itself (its app role grants, apponly.c,
         * rest on it even without delegated grants), or its deletion:
         * its refresh tokens and grants stay dead (generation > 0). */
        json_object *ex;
        int exists = !json_object_object_get_ex(a, "exists", &ex) ||
                     json_object_get_boolean(ex);
        if (exists) {
          emu_consent_app_add(id.consent, client);
          if (sc.n > 0)
            emu_consent_grant_tenant(id.consent, client, &sc);
        } else if (jint_of(a, "generation") > 0) {
          emu_consent_app_add(id.consent, client);
          emu_consent_app_delete(id.consent, client);
        }
        emu_scopes_clear(&sc);
        json_object *en;
        if (json_object_object_get_ex(a, "accountEnabled", &en) &&
            !json_object_get_boolean(en))
          emu_consent_app_set_enabled(id.consent, client, 0);
      }
    if (json_object_object_get_ex(consent, "userGrants", &arr))
      for (size_t i = 0; i < json_object_array_length(arr); i++) {
        json_object *g = json_object_array_get_idx(arr, i), *s;
        emu_scopes sc = {0};
        const char *client = jstr_of(g, "clientId"),
                   *user = jstr_of(g, "principalId");
        if (client == NULL || user == NULL ||
            !json_object_object_get_ex(g, "scopes", &s) ||
            scopes_from_json(s, &sc) != 0) {
          emu_scopes_clear(&sc);
          snprintf(err, errlen, "consent.userGrants[%zu] is malformed", i);
          return -1;
        }
        emu_consent_grant_user(id.consent, user, client, &sc);
        emu_scopes_clear(&sc);
      }
  }
  if (!json_object_object_get_ex(state, "refreshTokens", &arr))
    return 0;
  for (size_t i = json_object_array_length(arr); i-- > 0;) {
    json_object *j = json_object_array_get_idx(arr, i), *s, *v;
    const char *tok = jstr_of(j, "token"), *client = jstr_of(j, "clientId"),
               *user = jstr_of(j, "userId");
    refresh_tok *t = calloc(1, sizeof(*t));
    if (t == NULL || tok == NULL || client == NULL || user == NULL ||
        !json_object_object_get_ex(j, "scopes", &s) ||
        scopes_from_json(s, &t->scopes) != 0) {
      if (t != NULL)
        emu_scopes_clear(&t->scopes);
      free(t);
      snprintf(err, errlen, "refreshTokens[%zu] is malformed", i);
      return -1;
    }
    t->token = strdup(tok);
    t->client_id = strdup(client);
    t->user_id = strdup(user);
    uint64_t gen = emu_consent_app_generation(id.consent, client);
    int current = json_object_object_get_ex(j, "currentApp", &v) &&
                  json_object_get_boolean(v);
    t->generation = current ? gen : gen + 1; /* never equal: stays dead */
    t->issued = jint_of(j, "issued");
    t->last_used = jint_of(j, "lastUsed");
    t->revoked = json_object_object_get_ex(j, "revoked", &v) &&
                 json_object_get_boolean(v);
    t->next = id.rts; /* read backwards: the same order as saved */
    id.rts = t;
  }
  return 0;
}

EMU_MODULE(identity, id_init)
