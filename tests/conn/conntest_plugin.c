/* conntest_plugin.c - wfc-conntest.so, a plugin for tests/conn whose
 * connection type talks to a scripted loopback token endpoint (ts_server).
 *
 * Connection type "tokenconn", params: token_url (required; the server's
 * base URL), tenant, environment, client_secret (secret).
 *   authorize_begin    url = <token_url>/authorize?prompt=..&state=<fresh
 *                      random hex>&redirect_uri=<raw uri> (last, raw)
 *   authorize_complete query error=consent_required -> needs_admin_approval,
 *                      error=pending -> approval_pending, error=access_denied
 *                      -> denied, else POST <token_url>/token with the code
 *   refresh            POST <token_url>/token; 400 -> WFC_EREAUTH with the
 *                      server's error_description as remedy; 429 ->
 *                      ETHROTTLED, 5xx -> EREMOTE, a body's
 *                      "retry_after_ms" in the failure's detail
 *   revoke             POST <token_url>/revoke -> {"remote":"removed"}
 *   test               GET <token_url>/me -> {"healthy": status == 200}
 * Token endpoint answers: {"access_token","refresh_token"?,"expires_in",
 * "account"?}; no expires_in is 3600 s, 0 a token with no expiry.
 * Cards: "whoami" gets the token, GETs /me (on 401: token_rejected and one
 * retry with a new token), outputs {"status","attempts","body"};
 * "items" emits count items.
 *
 * The SDK's host HTTP engine is not yet in the services table, so the
 * hooks do blocking libcurl requests on libuv's thread pool (the host's
 * loop, api->loop()) and complete on the loop thread: still asynchronous,
 * as the ABI requires.
 */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, strdup */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <uv.h>

#include "wfc/plugin.h"

static const wfc_host_api *api;

/* ---- one blocking request on the thread pool ----------------------------- */

typedef struct req {
  uv_work_t work;
  char url[1024];
  char *body;      /* owned, may be NULL (GET) */
  char auth[2048]; /* "Authorization: Bearer x" or "" */
  long status;
  char *resp; /* owned */
  size_t resp_len;
  void (*done)(struct req *r);
  wfc_call *call; /* the hook's call, or NULL for a card request */
  void *ctx;      /* a card's own context */
  int attempt;
} req;

static size_t on_data(char *p, size_t sz, size_t n, void *arg) {
  req *r = arg;
  char *b = realloc(r->resp, r->resp_len + sz * n + 1);
  if (b == NULL)
    return 0;
  memcpy(b + r->resp_len, p, sz * n);
  r->resp_len += sz * n;
  b[r->resp_len] = '\0';
  r->resp = b;
  return sz * n;
}

static void work(uv_work_t *w) {
  req *r = w->data;
  CURL *c = curl_easy_init();
  struct curl_slist *h = NULL;
  if (r->auth[0])
    h = curl_slist_append(h, r->auth);
  curl_easy_setopt(c, CURLOPT_URL, r->url);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
  if (h != NULL)
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
  if (r->body != NULL)
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, r->body);
  if (curl_easy_perform(c) == CURLE_OK)
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
  curl_slist_free_all(h);
  curl_easy_cleanup(c);
}

static void after(uv_work_t *w, int status) {
  req *r = w->data;
  (void)status;
  r->done(r);
  free(r->body);
  free(r->resp);
  free(r);
}

static int send_req(wfc_call *call, void *ctx, const char *base,
                    const char *path, const char *body, const char *bearer,
                    void (*done)(req *r), int attempt) {
  req *r = calloc(1, sizeof *r);
  if (r == NULL)
    return WFC_ENOMEM;
  snprintf(r->url, sizeof r->url, "%s%s", base, path);
  if (body != NULL)
    r->body = strdup(body);
  if (bearer != NULL)
    snprintf(r->auth, sizeof r->auth, "Authorization: Bearer %s", bearer);
  r->call = call;
  r->ctx = ctx;
  r->done = done;
  r->attempt = attempt;
  r->work.data = r;
  int rc = uv_queue_work(api->loop(), &r->work, work, after);
  if (rc != 0) {
    free(r->body);
    free(r);
    return WFC_EIO;
  }
  return 0;
}

static const char *param(wfc_call *call, const char *name) {
  json_object *p, *v;
  if (!json_object_object_get_ex(api->call_input(call), "params", &p))
    p = api->conn_params(api->call_conn(call));
  if (!json_object_object_get_ex(p, name, &v))
    return NULL;
  return json_object_get_string(v);
}

static const char *cred(wfc_call *call, const char *name) {
  json_object *c, *v;
  if (!json_object_object_get_ex(api->call_input(call), "credentials", &c) ||
      !json_object_object_get_ex(c, name, &v))
    return NULL;
  return json_object_get_string(v);
}

/* Token endpoint answer -> {"credentials":{...}} (or the authorize
 * outcome), completing the call. */
static void token_answer(req *r, int authorize) {
  json_object *j = r->resp ? json_tokener_parse(r->resp) : NULL, *v;
  if (r->status == 400) {
    const char *d = "the grant is no longer valid: authorize again";
    if (json_object_object_get_ex(j, "error_description", &v))
      d = json_object_get_string(v);
    api->call_fail(r->call, WFC_EREAUTH, NULL, "%s", d);
  } else if (r->status != 200 || j == NULL) {
    /* A body {"retry_after_ms": N} stands for the Retry-After a real
     * plugin reads from the header: the detail carries it to the host. */
    json_object *d = NULL;
    if (json_object_object_get_ex(j, "retry_after_ms", &v)) {
      d = json_object_new_object();
      json_object_object_add(d, "retry_after_ms", json_object_get(v));
    }
    api->call_fail(r->call,
                   r->status == 429 ? WFC_ETHROTTLED
                   : r->status      ? WFC_EREMOTE
                                    : WFC_ENET,
                   d, "token endpoint answered %ld", r->status);
  } else {
    json_object *cr = json_object_new_object();
    const char *keys[] = {"access_token", "refresh_token"};
    for (int i = 0; i < 2; i++)
      if (json_object_object_get_ex(j, keys[i], &v)) {
        json_object_object_add(cr, keys[i], json_object_get(v));
        api->secret(json_object_get_string(v));
      }
    int64_t exp = 3600;
    if (json_object_object_get_ex(j, "expires_in", &v))
      exp = json_object_get_int64(v);
    if (exp > 0) /* "expires_in": 0 - a token with no stated expiry */
      json_object_object_add(cr, "expires_at",
                             json_object_new_int64(api->now_ms() / 1000 + exp));
    json_object *out = json_object_new_object();
    json_object_object_add(out, "credentials", cr);
    if (authorize) {
      json_object_object_add(out, "state", json_object_new_string("connected"));
      const char *acct = "user@conntest.example";
      if (json_object_object_get_ex(j, "account", &v))
        acct = json_object_get_string(v);
      json_object_object_add(out, "account", json_object_new_string(acct));
    }
    api->call_done(r->call, out);
  }
  json_object_put(j);
}

/* ---- connection type ------------------------------------------------------
 */

static int ct_begin(wfc_call *call) {
  json_object *in = api->call_input(call), *ru, *pr;
  json_object_object_get_ex(in, "redirect_uri", &ru);
  /* A fresh state per authorization, as every OAuth client sends. */
  unsigned char rnd[16];
  char state[33];
  if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
    return WFC_EIO;
  for (size_t i = 0; i < sizeof rnd; i++)
    snprintf(state + 2 * i, 3, "%02x", rnd[i]);
  const char *how = param(call, "url_state");
  char st[80] = "";
  if (how == NULL || strcmp(how, "fresh") == 0)
    snprintf(st, sizeof st, "state=%s&", state);
  else if (strcmp(how, "twice") == 0)
    snprintf(st, sizeof st, "state=%s&state=%s&", state, state);
  char url[2048];
  /* redirect_uri last, raw: the tests cut it from the end. */
  snprintf(url, sizeof url, "%s/authorize?prompt=%s&%sredirect_uri=%s",
           param(call, "token_url"),
           json_object_object_get_ex(in, "prompt", &pr)
               ? json_object_get_string(pr)
               : "",
           st, json_object_get_string(ru));
  json_object *out = json_object_new_object();
  json_object_object_add(out, "url", json_object_new_string(url));
  json_object *session = json_object_new_object();
  json_object_object_add(session, "nonce", json_object_new_string("n-42"));
  json_object_object_add(session, "state", json_object_new_string(state));
  json_object_object_add(out, "session", session);
  api->call_done(call, out); /* inside the start: the host delays it */
  return 0;
}

static void complete_done(req *r) {
  token_answer(r, 1);
}

static int ct_complete(wfc_call *call) {
  json_object *in = api->call_input(call), *q, *v, *s, *n;
  json_object_object_get_ex(in, "query", &q);
  /* The session from authorize_begin must come back. */
  if (!json_object_object_get_ex(in, "session", &s) ||
      !json_object_object_get_ex(s, "nonce", &n) ||
      strcmp(json_object_get_string(n), "n-42") != 0)
    return WFC_EINVAL;
  if (json_object_object_get_ex(q, "error", &v)) {
    const char *e = json_object_get_string(v);
    json_object *out = json_object_new_object();
    const char *state = "error", *remedy = "authorization failed";
    if (strcmp(e, "consent_required") == 0) {
      state = "needs_admin_approval";
      remedy = "ask an administrator to grant consent at "
               "https://admin.conntest.example/consent";
    } else if (strcmp(e, "pending") == 0) {
      state = "approval_pending";
      remedy = "wait for an administrator to approve the request";
    } else if (strcmp(e, "access_denied") == 0) {
      state = "denied";
      remedy = "you declined the permissions";
    }
    json_object_object_add(out, "state", json_object_new_string(state));
    json_object_object_add(out, "remedy", json_object_new_string(remedy));
    api->call_done(call, out);
    return 0;
  }
  if (!json_object_object_get_ex(q, "code", &v))
    return WFC_EINVAL;
  char body[512];
  snprintf(body, sizeof body, "grant_type=authorization_code&code=%s",
           json_object_get_string(v));
  return send_req(call, NULL, param(call, "token_url"), "/token", body, NULL,
                  complete_done, 0);
}

static void refresh_done(req *r) {
  token_answer(r, 0);
}

static int ct_refresh(wfc_call *call) {
  const char *rt = cred(call, "refresh_token");
  if (rt == NULL)
    return WFC_EREAUTH;
  char body[512];
  snprintf(body, sizeof body, "grant_type=refresh_token&refresh_token=%s", rt);
  return send_req(call, NULL, param(call, "token_url"), "/token", body, NULL,
                  refresh_done, 0);
}

static void revoke_done(req *r) {
  json_object *out = json_object_new_object();
  json_object_object_add(
      out, "remote",
      json_object_new_string(r->status == 200 ? "removed" : "failed"));
  api->call_done(r->call, out);
}

static int ct_revoke(wfc_call *call) {
  return send_req(call, NULL, param(call, "token_url"), "/revoke", "x=1", NULL,
                  revoke_done, 0);
}

static void test_done(req *r) {
  json_object *out = json_object_new_object();
  json_object_object_add(out, "healthy",
                         json_object_new_boolean(r->status == 200));
  api->call_done(r->call, out);
}

static int ct_test(wfc_call *call) {
  json_object *v;
  json_object_object_get_ex(api->call_input(call), "access_token", &v);
  return send_req(call, NULL, param(call, "token_url"), "/me", NULL,
                  json_object_get_string(v), test_done, 0);
}

/* ---- cards ----------------------------------------------------------------
 */

/* One whoami run: the call and how many tokens it asked for. */
typedef struct whoami_ctx {
  wfc_call *call;
  int attempt;
} whoami_ctx;

static void whoami_token(void *arg, int status, const char *token);

static void whoami_done(req *r) {
  whoami_ctx *w = r->ctx;
  if (r->status == 401 && w->attempt == 1) {
    /* The service refused the token: report it and try once more. */
    wfc_conn *conn = api->call_conn(w->call);
    api->conn_token_rejected(conn, r->auth + strlen("Authorization: Bearer "));
    int rc = api->conn_token(conn, whoami_token, w);
    if (rc != 0) {
      api->call_fail(w->call, rc, NULL, "no token for the retry");
      free(w);
    }
    return;
  }
  json_object *out = json_object_new_object();
  json_object_object_add(out, "status", json_object_new_int64(r->status));
  json_object_object_add(out, "attempts", json_object_new_int(w->attempt));
  json_object_object_add(out, "body",
                         json_object_new_string(r->resp ? r->resp : ""));
  api->call_done(w->call, out);
  free(w);
}

static void whoami_token(void *arg, int status, const char *token) {
  whoami_ctx *w = arg;
  if (status != 0) {
    api->call_fail(w->call, status, NULL, "no token: %d", status);
    free(w);
    return;
  }
  w->attempt++;
  int rc = send_req(w->call, w, param(w->call, "token_url"), "/me", NULL, token,
                    whoami_done, w->attempt);
  if (rc != 0) {
    api->call_fail(w->call, rc, NULL, "cannot send");
    free(w);
  }
}

static int whoami_invoke(wfc_call *call) {
  whoami_ctx *w = calloc(1, sizeof *w);
  if (w == NULL)
    return WFC_ENOMEM;
  w->call = call;
  int rc = api->conn_token(api->call_conn(call), whoami_token, w);
  if (rc != 0)
    free(w);
  return rc;
}

static int items_invoke(wfc_call *call) {
  json_object *v;
  int64_t n = 2;
  if (json_object_object_get_ex(api->call_input(call), "count", &v))
    n = json_object_get_int64(v);
  for (int64_t i = 0; i < n; i++) {
    json_object *it = json_object_new_object();
    json_object_object_add(it, "n", json_object_new_int64(i));
    api->call_emit(call, it);
  }
  json_object *out = json_object_new_object();
  json_object_object_add(out, "emitted", json_object_new_int64(n));
  api->call_done(call, out);
  return 0;
}

static const char *const env_values[] = {"production", "preview", NULL};
static const char *const url_state_values[] = {"fresh", "none", "twice", NULL};

static const wfc_field params[] = {
    {.name = "token_url",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Base URL of the token endpoint"},
    {.name = "tenant", .type = WFC_TYPE_STRING, .description = "Tenant"},
    {.name = "environment",
     .type = WFC_TYPE_STRING,
     .description = "App",
     .enum_values = env_values},
    {.name = "client_secret",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_SECRET,
     .description = "Client secret"},
    {.name = "url_state",
     .type = WFC_TYPE_STRING,
     .description = "The authorize URL's state: fresh (default), none or "
                    "twice (a plugin that gets it wrong)",
     .enum_values = url_state_values},
    {0}};

static const wfc_field whoami_out[] = {
    {.name = "status", .type = WFC_TYPE_INTEGER},
    {.name = "attempts", .type = WFC_TYPE_INTEGER},
    {.name = "body", .type = WFC_TYPE_STRING},
    {0}};
static const wfc_field items_item[] = {{.name = "n", .type = WFC_TYPE_INTEGER},
                                       {0}};
static const wfc_field items_in[] = {
    {.name = "count", .type = WFC_TYPE_INTEGER, .default_json = "2"}, {0}};
static const wfc_field items_out[] = {
    {.name = "items",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_STREAM,
     .items = &(const wfc_field){.name = "item",
                                 .type = WFC_TYPE_OBJECT,
                                 .fields = items_item}},
    {.name = "emitted", .type = WFC_TYPE_INTEGER},
    {0}};

static const wfc_card_desc whoami = {
    "whoami",        "Who am I",   "GETs /me with the connection's token.",
    WFC_CARD_ACTION, "tokenconn",  NULL,
    whoami_out,      whoami_invoke};
static const wfc_card_desc items = {
    "items",         "Items",     "Streams count items.",
    WFC_CARD_ACTION, "tokenconn", items_in,
    items_out,       items_invoke};

static const wfc_conn_type_desc tokenconn = {
    .id = "tokenconn",
    .name = "Token Connection",
    .description = "A connection with a token endpoint.",
    .params = params,
    .authorize_begin = ct_begin,
    .authorize_complete = ct_complete,
    .refresh = ct_refresh,
    .revoke = ct_revoke,
    .test = ct_test};

#ifndef CONNTEST_ABI13
/* ---- form and none flows (ABI 1.4) ----------------------------------------
 *
 * "formconn": params token_url, account; secret api_key (required).
 *   authorize_complete checks the form's contract (no redirect_uri,
 *   session or query; api_key in "secrets", not in "params"), refuses a
 *   key not starting "key-" with state "error" and a remedy, else POSTs
 *   <token_url>/token (grant_type=client_credentials) for the credentials.
 *   refresh: the same POST; fails when api_key is not in its params (the
 *   sealed secret must come back merged).
 * "noneconn": params token_url, account; authorize_complete gets params
 *   only and answers connected with a made-up token without expiry. */

static const wfc_field form_params[] = {
    {.name = "token_url",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Base URL of the token endpoint"},
    {.name = "account", .type = WFC_TYPE_STRING, .description = "Account"},
    {.name = "api_key",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED | WFC_FIELD_SECRET,
     .description = "API key",
     .min = 4},
    {0}};

static void form_fail(wfc_call *call, const char *state, const char *remedy) {
  json_object *out = json_object_new_object();
  json_object_object_add(out, "state", json_object_new_string(state));
  json_object_object_add(out, "remedy", json_object_new_string(remedy));
  api->call_done(call, out);
}

static int form_complete(wfc_call *call) {
  json_object *in = api->call_input(call), *p, *sec, *v;
  static const char *const browser_only[] = {"redirect_uri", "session",
                                             "query"};
  for (size_t i = 0; i < 3; i++)
    if (json_object_object_get_ex(in, browser_only[i], &v)) {
      api->call_fail(call, WFC_EPROTO, NULL, "a form got \"%s\"",
                     browser_only[i]);
      return 0;
    }
  if (!json_object_object_get_ex(in, "params", &p) ||
      json_object_object_get_ex(p, "api_key", &v) ||
      !json_object_object_get_ex(in, "secrets", &sec) ||
      !json_object_object_get_ex(sec, "api_key", &v)) {
    api->call_fail(call, WFC_EPROTO, NULL,
                   "api_key must come in \"secrets\" only");
    return 0;
  }
  const char *key = json_object_get_string(v);
  api->secret(key);
  if (strncmp(key, "key-", 4) != 0) {
    form_fail(call, "error",
              "the API key was refused: keys start with \"key-\"; give the "
              "right one");
    return 0;
  }
  char body[512];
  snprintf(body, sizeof body, "grant_type=client_credentials&api_key=%s", key);
  return send_req(call, NULL, param(call, "token_url"), "/token", body, NULL,
                  complete_done, 0);
}

static int form_refresh(wfc_call *call) {
  const char *key = param(call, "api_key");
  if (key == NULL) {
    api->call_fail(call, WFC_EPROTO, NULL, "refresh without api_key");
    return 0;
  }
  char body[512];
  snprintf(body, sizeof body, "grant_type=client_credentials&api_key=%s", key);
  return send_req(call, NULL, param(call, "token_url"), "/token", body, NULL,
                  refresh_done, 0);
}

static const wfc_conn_type_desc formconn = {
    .id = "formconn",
    .name = "Form Connection",
    .description = "An API key checked against a token endpoint.",
    .params = form_params,
    .authorize_complete = form_complete,
    .refresh = form_refresh,
    .revoke = ct_revoke,
    .test = ct_test,
    .flow = WFC_FLOW_FORM};

static const wfc_field none_params[] = {
    {.name = "token_url",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Base URL of the token endpoint"},
    {.name = "account", .type = WFC_TYPE_STRING, .description = "Account"},
    {0}};

static json_object *none_creds(wfc_call *call) {
  const char *acct = param(call, "account");
  char tok[128];
  snprintf(tok, sizeof tok, "none-%s", acct ? acct : "anyone");
  json_object *c = json_object_new_object();
  json_object_object_add(c, "access_token", json_object_new_string(tok));
  return c;
}

static int none_complete(wfc_call *call) {
  json_object *in = api->call_input(call), *v;
  if (json_object_object_get_ex(in, "secrets", &v) ||
      json_object_object_get_ex(in, "query", &v)) {
    api->call_fail(call, WFC_EPROTO, NULL, "a none flow got more than params");
    return 0;
  }
  const char *acct = param(call, "account");
  json_object *out = json_object_new_object();
  json_object_object_add(out, "state", json_object_new_string("connected"));
  json_object_object_add(out, "account",
                         json_object_new_string(acct ? acct : "anyone"));
  json_object_object_add(out, "credentials", none_creds(call));
  api->call_done(call, out);
  return 0;
}

static int none_refresh(wfc_call *call) {
  json_object *out = json_object_new_object();
  json_object_object_add(out, "credentials", none_creds(call));
  api->call_done(call, out);
  return 0;
}

static const wfc_conn_type_desc noneconn = {.id = "noneconn",
                                            .name = "No-secret Connection",
                                            .description =
                                                "Declared params only.",
                                            .params = none_params,
                                            .authorize_complete = none_complete,
                                            .refresh = none_refresh,
                                            .revoke = ct_revoke,
                                            .flow = WFC_FLOW_NONE};
#endif

static int init(const wfc_host_api *a, wfc_registrar *reg, wfc_error *err) {
  (void)err;
  api = a;
#ifdef CONNTEST_ABI13
  /* A plugin built against ABI 1.3 passes the descriptor as it knew it,
   * without .flow: the host reads a browser flow. */
  int rc = api->register_conn_type(reg, &tokenconn,
                                   offsetof(wfc_conn_type_desc, flow));
#else
  int rc = api->register_conn_type(reg, &tokenconn, sizeof tokenconn);
  if (rc == 0)
    rc = api->register_conn_type(reg, &formconn, sizeof formconn);
  if (rc == 0)
    rc = api->register_conn_type(reg, &noneconn, sizeof noneconn);
#endif
  if (rc == 0)
    rc = api->register_card(reg, &whoami, sizeof whoami);
  if (rc == 0)
    rc = api->register_card(reg, &items, sizeof items);
  return rc;
}

#ifdef CONNTEST_ABI13
/* WFC_PLUGIN_DEFINE with the ABI minor of a 1.3 build. */
WFC_PLUGIN_EXPORT const wfc_plugin_desc *wfc_plugin_entry_v1(void);
const wfc_plugin_desc *wfc_plugin_entry_v1(void) {
  static const wfc_plugin_desc desc = {WFC_PLUGIN_MAGIC,
                                       WFC_ABI_MAJOR,
                                       3,
                                       sizeof(wfc_plugin_desc),
                                       "conntest",
                                       "1.0.0",
                                       WFC_ABI_FINGERPRINT,
                                       "Connection manager tests (ABI 1.3)",
                                       init,
                                       NULL};
  return &desc;
}
#else
WFC_PLUGIN_DEFINE("conntest", "1.0.0", "Connection manager tests", init, NULL)
#endif
