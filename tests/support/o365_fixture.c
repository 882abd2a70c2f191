/* o365_fixture.c - see o365_fixture.h. */
#define _XOPEN_SOURCE 700
#include "o365_fixture.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <fcntl.h>
#include <openssl/evp.h>
#include <uv.h>

#include "emu_proc.h"
#include "tclient.h"

#define FX_TENANT  "contoso.test"
#define FX_PREVIEW "5e3b7c1a-9d2f-4b6e-a8c4-1f0d2e3c4b5a"
/* Registered as http://127.0.0.1/callback: the loopback rule lets the port
 * differ. Nobody listens there: the browser below reads the redirect. */
#define FX_REDIRECT  "http://127.0.0.1:53682/callback"
#define FX_MAX_CONNS 16

typedef struct fx_conn {
  o365_fixture *fx;
  wfc_conn *conn;      /* one reference, released by o365_fixture_free */
  json_object *creds;  /* access_token, refresh_token, ... (owned) */
  int rejected;        /* a card reported the token: refresh first */
  const char *type;    /* connection type ("o365mail", "o365mail_app") */
  json_object *params; /* the refresh hook's params (owned): secret ones
                          merged in, as the connection manager does */
} fx_conn;

struct o365_fixture {
  emu_proc *emu;
  uv_loop_t loop;
  int loop_ok;
  wfc_runtime *rt;
  json_object *doc; /* tenant document: passwords */
  tclient *admin;
  char blob_dir[64];
  fx_conn *conns[FX_MAX_CONNS];
  size_t nconns;
  wfc_conn *current;
};

/* ---- Running calls ---------------------------------------------------- */

typedef struct run_state {
  o365_outcome *out;
  int done;
} run_state;

static void on_run_done(void *arg, wfc_call *call, const wfc_outcome *o) {
  run_state *s = arg;
  (void)call;
  s->out->status = o->status;
  snprintf(s->out->message, sizeof s->out->message, "%s",
           o->message ? o->message : "");
  s->out->output = o->output ? json_object_get(o->output) : NULL;
  s->out->detail = o->detail ? json_object_get(o->detail) : NULL;
  s->done = 1;
}

static int on_item(void *arg, wfc_call *call, json_object *item) {
  run_state *s = arg;
  (void)call;
  json_object_array_add(s->out->items, json_object_get(item));
  return 0;
}

static void outcome_init(o365_outcome *o) {
  memset(o, 0, sizeof *o);
  o->items = json_object_new_array();
}

void o365_outcome_free(o365_outcome *o) {
  json_object_put(o->output);
  json_object_put(o->detail);
  json_object_put(o->items);
  memset(o, 0, sizeof *o);
}

/* Runs a hook of connection type type to completion. input borrowed. */
static int hook_run_type(wfc_runtime *rt, struct uv_loop_s *loop,
                         const char *type, wfc_conn_hook h, json_object *input,
                         o365_outcome *out) {
  outcome_init(out);
  run_state s = {out, 0};
  wfc_invoke how = {sizeof how, .on_done = on_run_done, .arg = &s};
  int rc = wfc_runtime_conn_hook(rt, type, h, input, &how, NULL);
  if (rc != 0) {
    out->status = rc;
    snprintf(out->message, sizeof out->message, "hook %d did not start: %d",
             (int)h, rc);
    return rc;
  }
  while (!s.done)
    uv_run(loop, UV_RUN_ONCE);
  return out->status;
}

int o365_hook_run(wfc_runtime *rt, struct uv_loop_s *loop, wfc_conn_hook h,
                  json_object *input, o365_outcome *out) {
  return hook_run_type(rt, loop, "o365mail", h, input, out);
}

static int run_hook(o365_fixture *fx, wfc_conn_hook h, json_object *input,
                    o365_outcome *out) {
  return o365_hook_run(fx->rt, &fx->loop, h, input, out);
}

int o365_fixture_run_on(o365_fixture *fx, wfc_conn *conn, const char *card_id,
                        const char *input_json, o365_outcome *out) {
  outcome_init(out);
  json_object *in = NULL;
  if (input_json != NULL) {
    in = json_tokener_parse(input_json);
    if (in == NULL) {
      out->status = WFC_EJSON;
      snprintf(out->message, sizeof out->message,
               "fixture: input of %s is not JSON: %s", card_id, input_json);
      return out->status;
    }
  }
  run_state s = {out, 0};
  wfc_invoke how = {sizeof how, .conn = conn, .on_item = on_item,
                    .on_done = on_run_done, .arg = &s};
  int rc = wfc_runtime_invoke(fx->rt, card_id, in, &how, NULL);
  json_object_put(in);
  if (rc != 0) {
    out->status = rc;
    snprintf(out->message, sizeof out->message, "fixture: %s did not start: %d",
             card_id, rc);
    return rc;
  }
  while (!s.done)
    uv_run(&fx->loop, UV_RUN_ONCE);
  return out->status;
}

int o365_fixture_run(o365_fixture *fx, const char *card_id,
                     const char *input_json, o365_outcome *out) {
  return o365_fixture_run_on(fx, fx->current, card_id, input_json, out);
}

/* ---- The token service of the fixture's connections -------------------- */

typedef struct token_req {
  uv_timer_t timer;
  fx_conn *c;
  void (*cb)(void *arg, int status, const char *token);
  void *arg;
  int status;
} token_req;

static void token_req_closed(uv_handle_t *h) {
  free(h->data);
}

static void token_fire(uv_timer_t *t) {
  token_req *r = t->data;
  const char *tok = NULL;
  json_object *v = NULL;
  if (r->status == 0 &&
      json_object_object_get_ex(r->c->creds, "access_token", &v))
    tok = json_object_get_string(v);
  int status = r->status;
  if (status == 0 && tok == NULL)
    status = WFC_EAUTH;
  r->cb(r->arg, status, status == 0 ? tok : NULL);
  uv_close((uv_handle_t *)&r->timer, token_req_closed);
}

static json_object *conn_params(void) {
  return json_tokener_parse(
      "{\"environment\":\"preview\",\"tenant\":\"" FX_TENANT "\"}");
}

/* A refresh through the plugin's refresh hook, asynchronous (never a
 * nested uv_run: libuv's loop is not reentrant); the waiting token request
 * is answered when it completes. */
static void on_refreshed(void *arg, wfc_call *call, const wfc_outcome *o) {
  (void)call;
  token_req *r = arg;
  json_object *fresh = NULL;
  r->status = o->status;
  /* As the connection manager: the hook's words on the connection's info
   * ("token_error") for the token callback of a failed refresh. */
  json_object *info = wfc_conn_get_info(r->c->conn);
  if (o->status == 0 && o->output != NULL &&
      json_object_object_get_ex(o->output, "credentials", &fresh)) {
    json_object_put(r->c->creds);
    r->c->creds = json_object_get(fresh);
    if (info != NULL)
      json_object_object_del(info, "token_error");
  } else {
    if (r->status == 0)
      r->status = WFC_EPROTO;
    fprintf(stderr, "fixture: refresh failed: %s\n",
            o->message ? o->message : "");
    if (info != NULL && o->message != NULL)
      json_object_object_add(info, "token_error",
                             json_object_new_string(o->message));
  }
  uv_timer_start(&r->timer, token_fire, 0, 0);
}

static int token_op(void *ops_arg, wfc_conn *conn,
                    void (*cb)(void *arg, int status, const char *token),
                    void *arg) {
  (void)conn;
  fx_conn *c = ops_arg;
  token_req *r = calloc(1, sizeof *r);
  if (r == NULL)
    return WFC_ENOMEM;
  r->c = c;
  r->cb = cb;
  r->arg = arg;
  uv_timer_init(&c->fx->loop, &r->timer);
  r->timer.data = r;
  if (!c->rejected) {
    uv_timer_start(&r->timer, token_fire, 0, 0);
    return 0;
  }
  c->rejected = 0;
  json_object *in = json_object_new_object();
  json_object_object_add(in, "params", json_object_get(c->params));
  json_object_object_add(in, "credentials", json_object_get(c->creds));
  wfc_invoke how = {sizeof how, .on_done = on_refreshed, .arg = r};
  int rc = wfc_runtime_conn_hook(c->fx->rt, c->type, WFC_HOOK_REFRESH, in, &how,
                                 NULL);
  json_object_put(in);
  if (rc != 0) {
    r->status = rc;
    uv_timer_start(&r->timer, token_fire, 0, 0);
  }
  return 0;
}

static void token_rejected_op(void *ops_arg, wfc_conn *conn,
                              const char *token) {
  (void)conn;
  fx_conn *c = ops_arg;
  json_object *v = NULL;
  if (json_object_object_get_ex(c->creds, "access_token", &v) &&
      strcmp(json_object_get_string(v), token) == 0)
    c->rejected = 1;
}

static const wfc_conn_ops fx_ops = {.size = sizeof fx_ops,
                                    .token = token_op,
                                    .token_rejected = token_rejected_op};

/* ---- The browser -------------------------------------------------------- */

/* Submits form id of page with its ctx plus (k1,v1,k2,v2). */
static int submit(o365_fixture *fx, tclient *b, const tresp *page,
                  const char *form_id, const char *k1, const char *v1,
                  const char *k2, const char *v2, tresp *out) {
  char marker[64];
  snprintf(marker, sizeof marker, "id=\"%s\"", form_id);
  char *action = tclient_html_attr(page->body, marker, "action");
  char *ctx = tclient_html_attr(page->body, "name=\"ctx\"", "value");
  int rc = -1;
  if (action != NULL && ctx != NULL) {
    char *form = tclient_form("ctx", ctx, k1, v1, k2, v2, NULL);
    char url[2048];
    snprintf(url, sizeof url, "%s%s",
             action[0] == '/' ? emu_proc_url(fx->emu) : "", action);
    static const char *const hdr[] = {
        "Content-Type: application/x-www-form-urlencoded", NULL};
    rc = tclient_request(b, "POST", url, hdr, form, out) == 0 ? 0 : -1;
    free(form);
  } else {
    fprintf(stderr, "fixture: no form %s in the page (%ld):\n%s\n", form_id,
            page->status, page->body);
  }
  free(action);
  free(ctx);
  return rc;
}

static const char *password_of(o365_fixture *fx, const char *upn) {
  json_object *users = NULL;
  if (!json_object_object_get_ex(fx->doc, "users", &users))
    return NULL;
  for (size_t i = 0; i < json_object_array_length(users); i++) {
    json_object *u = json_object_array_get_idx(users, i);
    json_object *n = NULL, *pw = NULL;
    if (json_object_object_get_ex(u, "userPrincipalName", &n) &&
        strcasecmp(json_object_get_string(n), upn) == 0 &&
        json_object_object_get_ex(u, "password", &pw))
      return json_object_get_string(pw);
  }
  return NULL;
}

/* The redirect's query as the host hands it to authorize_complete. */
static json_object *redirect_query(const char *loc) {
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

/* Drives the browser from the authorize URL to the redirect; returns the
 * redirect's query (new reference) or NULL. */
static json_object *browse(o365_fixture *fx, const char *url, const char *upn,
                           const char *pw) {
  tclient *b = tclient_new(1);
  tresp page = {0}, next = {0};
  json_object *q = NULL;
  if (tclient_request(b, "GET", url, NULL, NULL, &page) != 0 ||
      submit(fx, b, &page, "signin", "login", upn, "passwd", pw, &next) != 0)
    goto out;
  if (next.status != 302 && strstr(next.body, "id=\"consent\"") != NULL) {
    tresp_free(&page);
    page = next;
    memset(&next, 0, sizeof next);
    if (submit(fx, b, &page, "consent", "action", "accept", NULL, NULL,
               &next) != 0)
      goto out;
  }
  const char *loc = tresp_header(&next, "Location");
  if (next.status != 302 || loc == NULL ||
      strncmp(loc, FX_REDIRECT "?", strlen(FX_REDIRECT) + 1) != 0) {
    fprintf(stderr, "fixture: sign-in of %s did not come back (%ld):\n%s\n",
            upn, next.status, next.body ? next.body : "");
    goto out;
  }
  q = redirect_query(loc);
out:
  tresp_free(&page);
  tresp_free(&next);
  tclient_free(b);
  return q;
}

wfc_conn *o365_fixture_connect(o365_fixture *fx, const char *upn) {
  const char *pw = password_of(fx, upn);
  if (pw == NULL || fx->nconns == FX_MAX_CONNS) {
    fprintf(stderr, "fixture: no password for %s in the tenant document\n",
            upn);
    return NULL;
  }
  json_object *in = json_object_new_object();
  json_object_object_add(in, "params", conn_params());
  json_object_object_add(in, "redirect_uri",
                         json_object_new_string(FX_REDIRECT));
  json_object_object_add(in, "login_hint", json_object_new_string(upn));
  o365_outcome o;
  int rc = run_hook(fx, WFC_HOOK_AUTHORIZE_BEGIN, in, &o);
  json_object_put(in);
  json_object *url = NULL, *session = NULL;
  if (rc != 0 || !json_object_object_get_ex(o.output, "url", &url) ||
      !json_object_object_get_ex(o.output, "session", &session)) {
    fprintf(stderr, "fixture: authorize_begin: %d %s\n", rc, o.message);
    o365_outcome_free(&o);
    return NULL;
  }
  json_object_get(session);
  json_object *query = browse(fx, json_object_get_string(url), upn, pw);
  o365_outcome_free(&o);
  if (query == NULL) {
    json_object_put(session);
    return NULL;
  }
  in = json_object_new_object();
  json_object_object_add(in, "params", conn_params());
  json_object_object_add(in, "redirect_uri",
                         json_object_new_string(FX_REDIRECT));
  json_object_object_add(in, "session", session);
  json_object_object_add(in, "query", query);
  rc = run_hook(fx, WFC_HOOK_AUTHORIZE_COMPLETE, in, &o);
  json_object_put(in);
  json_object *state = NULL, *creds = NULL;
  if (rc != 0 || !json_object_object_get_ex(o.output, "state", &state) ||
      strcmp(json_object_get_string(state), "connected") != 0 ||
      !json_object_object_get_ex(o.output, "credentials", &creds)) {
    fprintf(stderr, "fixture: authorize_complete for %s: %d %s %s\n", upn, rc,
            o.message, o.output ? json_object_to_json_string(o.output) : "");
    o365_outcome_free(&o);
    return NULL;
  }
  fx_conn *c = calloc(1, sizeof *c);
  c->fx = fx;
  c->creds = json_object_get(creds);
  c->type = "o365mail";
  c->params = conn_params();
  o365_outcome_free(&o);
  json_object *params = conn_params();
  json_object *info = json_object_new_object();
  json_object_object_add(info, "nickname", json_object_new_string(upn));
  json_object_object_add(info, "account", json_object_new_string(upn));
  rc = wfc_conn_new(fx->rt, params, info, &fx_ops, c, &c->conn);
  json_object_put(params);
  json_object_put(info);
  if (rc != 0) {
    fprintf(stderr, "fixture: wfc_conn_new: %d\n", rc);
    json_object_put(c->creds);
    json_object_put(c->params);
    free(c);
    return NULL;
  }
  fx->conns[fx->nconns++] = c;
  fx->current = c->conn;
  return c->conn;
}

wfc_conn *o365_fixture_connect_app(o365_fixture *fx, const char *params_json,
                                   const char *secrets_json,
                                   o365_outcome *out) {
  json_object *params = json_tokener_parse(params_json);
  json_object *secrets = json_tokener_parse(secrets_json ? secrets_json : "{}");
  if (params == NULL || secrets == NULL || fx->nconns == FX_MAX_CONNS) {
    outcome_init(out);
    out->status = WFC_EJSON;
    snprintf(out->message, sizeof out->message,
             "fixture: params or secrets are not JSON, or too many "
             "connections");
    json_object_put(params);
    json_object_put(secrets);
    return NULL;
  }
  json_object *in = json_object_new_object();
  json_object_object_add(in, "params", json_object_get(params));
  json_object_object_add(in, "secrets", json_object_get(secrets));
  int rc = hook_run_type(fx->rt, &fx->loop, "o365mail_app",
                         WFC_HOOK_AUTHORIZE_COMPLETE, in, out);
  json_object_put(in);
  json_object *state = NULL, *creds = NULL;
  if (rc != 0 || !json_object_object_get_ex(out->output, "state", &state) ||
      strcmp(json_object_get_string(state), "connected") != 0 ||
      !json_object_object_get_ex(out->output, "credentials", &creds)) {
    json_object_put(params);
    json_object_put(secrets);
    return NULL;
  }
  fx_conn *c = calloc(1, sizeof *c);
  c->fx = fx;
  c->creds = json_object_get(creds);
  c->type = "o365mail_app";
  /* The clear params are the connection's; the refresh hook gets the
   * secret ones merged in. */
  c->params = json_object_get(params);
  json_object *merged = NULL;
  json_object_deep_copy(params, &merged, NULL);
  json_object_object_foreach(secrets, k, v) {
    json_object_object_add(merged, k, json_object_get(v));
  }
  json_object_put(c->params);
  c->params = merged;
  json_object *info = json_object_new_object();
  json_object_object_add(info, "nickname", json_object_new_string("app"));
  json_object_object_add(info, "type", json_object_new_string("o365mail_app"));
  rc = wfc_conn_new(fx->rt, params, info, &fx_ops, c, &c->conn);
  json_object_put(params);
  json_object_put(secrets);
  json_object_put(info);
  if (rc != 0) {
    fprintf(stderr, "fixture: wfc_conn_new: %d\n", rc);
    json_object_put(c->creds);
    json_object_put(c->params);
    free(c);
    return NULL;
  }
  fx->conns[fx->nconns++] = c;
  return c->conn;
}

void o365_fixture_use(o365_fixture *fx, wfc_conn *conn) {
  fx->current = conn;
}

/* ---- Set-up and tear-down ---------------------------------------------- */

static o365_fixture *start(const char *config, json_object *doc,
                           uint32_t http_timeout_ms) {
  o365_fixture *fx = calloc(1, sizeof *fx);
  if (fx == NULL)
    return NULL;
  if (doc != NULL) {
    fx->doc = json_object_get(doc);
    fx->emu = emu_proc_start_doc(doc, NULL);
  } else {
    const char *path = config ? config : emu_proc_example_config();
    fx->doc = json_object_from_file(path);
    fx->emu = emu_proc_start(path, NULL);
  }
  if (fx->emu == NULL || fx->doc == NULL) {
    fprintf(stderr, "fixture: emulator did not start\n");
    o365_fixture_free(fx);
    return NULL;
  }
  char url[512];
  setenv("O365MAIL_AUTHORITY_URL", emu_proc_url(fx->emu), 1);
  snprintf(url, sizeof url, "%s/v1.0", emu_proc_url(fx->emu));
  setenv("O365MAIL_GRAPH_URL", url, 1);
  setenv("O365MAIL_PREVIEW_CLIENT_ID", FX_PREVIEW, 1);
  unsetenv("O365MAIL_PREVIEW_CLIENT_SECRET");
  fx->admin = tclient_new(0);
  snprintf(fx->blob_dir, sizeof fx->blob_dir, "/tmp/o365fx-XXXXXX");
  if (mkdtemp(fx->blob_dir) == NULL) {
    fx->blob_dir[0] = '\0';
    o365_fixture_free(fx);
    return NULL;
  }
  if (uv_loop_init(&fx->loop) != 0) {
    o365_fixture_free(fx);
    return NULL;
  }
  fx->loop_ok = 1;
  wfc_runtime_opts ro = {sizeof ro, .blob_dir = fx->blob_dir,
                         .check_outputs = 1,
                         .http_timeout_ms = http_timeout_ms};
  if (o365_runtime_up(&fx->loop, &ro, &fx->rt) != 0) {
    o365_fixture_free(fx);
    return NULL;
  }
  return fx;
}

static void closed(void *arg) {
  *(int *)arg = 1;
}

int o365_runtime_up(struct uv_loop_s *loop, const wfc_runtime_opts *opts,
                    wfc_runtime **rt) {
  *rt = NULL;
  if (wfc_runtime_new(loop, opts, rt) != 0) {
    fprintf(stderr, "fixture: wfc_runtime_new failed\n");
    *rt = NULL;
    return -1;
  }
  const char *bd = getenv("WFC_BUILD_DIR");
  char so[1024], err[512];
  snprintf(so, sizeof so, "%s/plugins/wfc-o365mail.so",
           bd && *bd ? bd : WFC_BUILD_DIR); /* ctest sets it */
  if (wfc_runtime_load(*rt, so, NULL, err, sizeof err) != 0) {
    fprintf(stderr, "fixture: %s\n", err);
    return -1; /* *rt stays set: o365_runtime_down closes it */
  }
  return 0;
}

int o365_runtime_down(struct uv_loop_s *loop, wfc_runtime *rt) {
  if (rt != NULL) {
    int done = 0;
    wfc_runtime_close(rt, closed, &done);
    while (!done)
      uv_run(loop, UV_RUN_ONCE);
  }
  uv_run(loop, UV_RUN_DEFAULT);
  if (uv_loop_close(loop) != 0) {
    fprintf(stderr, "fixture: handles left on the loop\n");
    return -1;
  }
  return 0;
}

o365_fixture *o365_fixture_new(const char *config) {
  return start(config, NULL, 0);
}

o365_fixture *o365_fixture_new_timeout(const char *config,
                                       uint32_t http_timeout_ms) {
  return start(config, NULL, http_timeout_ms);
}

static void connmgr_closed(void *arg) {
  *(int *)arg = 1;
}

void o365_fixture_close_connmgr(o365_fixture *fx, wfc_connmgr *mgr) {
  if (mgr == NULL)
    return;
  int closed = 0;
  wfc_connmgr_close(mgr, connmgr_closed, &closed);
  while (!closed)
    uv_run(&fx->loop, UV_RUN_ONCE);
}

struct uv_loop_s *o365_fixture_loop(o365_fixture *fx) {
  return &fx->loop;
}

o365_fixture *o365_fixture_new_doc(json_object *doc) {
  return start(NULL, doc, 0);
}

static int rm_entry(const char *path, const struct stat *sb, int type,
                    struct FTW *ftw) {
  (void)sb;
  (void)type;
  (void)ftw;
  return remove(path);
}

/* Request bodies the emulator refused because they do not match
 * Microsoft's OpenAPI shapes since the last reset; -1 when unknown. */
long o365_fixture_openapi_rejections(o365_fixture *fx) {
  long st = 0;
  json_object *j =
      o365_fixture_admin(fx, "GET", "/__emulator/stats", NULL, &st);
  json_object *n = NULL;
  long v = -1;
  if (st == 200 && json_object_object_get_ex(j, "openapi_rejections", &n))
    v = (long)json_object_get_int64(n);
  json_object_put(j);
  return v;
}

/* Every card test doubles as a check that the plugin's requests match the
 * Graph OpenAPI shapes: a rejection fails the run that caused it. */
static int check_shapes(o365_fixture *fx) {
  if (fx->emu == NULL || fx->admin == NULL)
    return 0;
  long n = o365_fixture_openapi_rejections(fx);
  if (n > 0) {
    fprintf(stderr,
            "fixture: the emulator refused %ld request body(ies) that do "
            "not match Graph's OpenAPI shapes\n",
            n);
    return 1;
  }
  return 0;
}

int o365_fixture_free(o365_fixture *fx) {
  if (fx == NULL)
    return 0;
  int bad = check_shapes(fx);
  for (size_t i = 0; i < fx->nconns; i++) {
    wfc_conn_release(fx->conns[i]->conn);
    json_object_put(fx->conns[i]->creds);
    json_object_put(fx->conns[i]->params);
    free(fx->conns[i]);
  }
  if (fx->loop_ok && o365_runtime_down(&fx->loop, fx->rt) != 0)
    bad = 1;
  if (fx->emu != NULL && emu_proc_stop(fx->emu) != 0) {
    fprintf(stderr, "fixture: emulator did not exit cleanly\n");
    bad = 1;
  }
  if (fx->blob_dir[0] != '\0')
    nftw(fx->blob_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  if (fx->admin != NULL)
    tclient_free(fx->admin);
  json_object_put(fx->doc);
  free(fx);
  return bad ? -1 : 0;
}

const char *o365_fixture_url(const o365_fixture *fx) {
  return emu_proc_url(fx->emu);
}

const char *o365_fixture_blob_dir(const o365_fixture *fx) {
  return fx->blob_dir;
}

wfc_runtime *o365_fixture_runtime(const o365_fixture *fx) {
  return fx->rt;
}

void o365_fixture_runtime_gone(o365_fixture *fx) {
  fx->rt = NULL;
}

/* ---- Admin API ----------------------------------------------------------- */

json_object *o365_fixture_admin(o365_fixture *fx, const char *method,
                                const char *path, const char *body_json,
                                long *status) {
  char url[2048];
  snprintf(url, sizeof url, "%s%s", emu_proc_url(fx->emu), path);
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  tresp r;
  tclient_request(fx->admin, method, url, body_json ? hdr : NULL, body_json,
                  &r);
  if (status != NULL)
    *status = r.status;
  json_object *j = tresp_json(&r);
  tresp_free(&r);
  return j;
}

int o365_fixture_reset(o365_fixture *fx) {
  if (check_shapes(fx))
    return -1;
  long st = 0;
  json_object_put(
      o365_fixture_admin(fx, "POST", "/__emulator/reset", NULL, &st));
  return st >= 200 && st < 300 ? 0 : -1;
}

static long count_routes(o365_fixture *fx, const char *method,
                         const char *route) {
  long st = 0;
  json_object *j =
      o365_fixture_admin(fx, "GET", "/__emulator/stats", NULL, &st);
  json_object *routes = NULL;
  if (st != 200 || !json_object_object_get_ex(j, "routes", &routes)) {
    json_object_put(j);
    return -1;
  }
  long n = 0;
  for (size_t i = 0; i < json_object_array_length(routes); i++) {
    json_object *e = json_object_array_get_idx(routes, i);
    json_object *m = NULL, *rt = NULL, *tot = NULL;
    json_object_object_get_ex(e, "method", &m);
    json_object_object_get_ex(e, "route", &rt);
    json_object_object_get_ex(e, "total", &tot);
    const char *rs = rt ? json_object_get_string(rt) : "";
    int match;
    if (method == NULL)
      match = strncmp(rs, "/v1.0/", 6) == 0 || strncmp(rs, "/api/", 5) == 0;
    else
      match = m != NULL && strcmp(json_object_get_string(m), method) == 0 &&
              strcmp(rs, route) == 0;
    if (match)
      n += (long)json_object_get_int64(tot);
  }
  json_object_put(j);
  return n;
}

long o365_fixture_status_count(o365_fixture *fx, long status) {
  long st = 0;
  json_object *j =
      o365_fixture_admin(fx, "GET", "/__emulator/stats", NULL, &st);
  json_object *routes = NULL;
  if (st != 200 || !json_object_object_get_ex(j, "routes", &routes)) {
    json_object_put(j);
    return -1;
  }
  char key[24];
  snprintf(key, sizeof key, "%ld", status);
  long n = 0;
  for (size_t i = 0; i < json_object_array_length(routes); i++) {
    json_object *e = json_object_array_get_idx(routes, i);
    json_object *rt = NULL, *by = NULL, *c = NULL;
    json_object_object_get_ex(e, "route", &rt);
    const char *rs = rt ? json_object_get_string(rt) : "";
    if ((strncmp(rs, "/v1.0/", 6) == 0 || strncmp(rs, "/beta/", 6) == 0 ||
         strncmp(rs, "/api/", 5) == 0) &&
        json_object_object_get_ex(e, "byStatus", &by) &&
        json_object_object_get_ex(by, key, &c))
      n += (long)json_object_get_int64(c);
  }
  json_object_put(j);
  return n;
}

long o365_fixture_graph_requests(o365_fixture *fx) {
  return count_routes(fx, NULL, NULL);
}

long o365_fixture_route_count(o365_fixture *fx, const char *method,
                              const char *route) {
  return count_routes(fx, method, route);
}

long o365_fixture_sent_count(o365_fixture *fx, const char *user) {
  char path[512];
  snprintf(path, sizeof path, "/__emulator/mail/%s/sent", user);
  long st = 0;
  json_object *j = o365_fixture_admin(fx, "GET", path, NULL, &st);
  json_object *c = NULL;
  long n = -1;
  if (st == 200 && json_object_object_get_ex(j, "count", &c))
    n = (long)json_object_get_int64(c);
  json_object_put(j);
  return n;
}

json_object *o365_fixture_messages(o365_fixture *fx, const char *user,
                                   const char *folder) {
  char path[512];
  snprintf(path, sizeof path, "/__emulator/mail/%s/messages%s%s", user,
           folder ? "?folder=" : "", folder ? folder : "");
  long st = 0;
  json_object *j = o365_fixture_admin(fx, "GET", path, NULL, &st);
  json_object *v = NULL;
  if (st != 200 || !json_object_object_get_ex(j, "value", &v)) {
    json_object_put(j);
    return NULL;
  }
  json_object_get(v);
  json_object_put(j);
  return v;
}

char *o365_fixture_inject(o365_fixture *fx, const char *user,
                          const char *message_json) {
  char path[512];
  snprintf(path, sizeof path, "/__emulator/mail/%s/messages", user);
  long st = 0;
  json_object *j = o365_fixture_admin(fx, "POST", path, message_json, &st);
  json_object *id = NULL;
  char *out = NULL;
  if (st == 201 && json_object_object_get_ex(j, "id", &id))
    out = strdup(json_object_get_string(id));
  else
    fprintf(stderr, "fixture: inject into %s: %ld %s\n", user, st,
            j ? json_object_to_json_string(j) : "");
  json_object_put(j);
  return out;
}

int o365_fixture_fault(o365_fixture *fx, const char *rule_json) {
  long st = 0;
  json_object *j =
      o365_fixture_admin(fx, "POST", "/__emulator/faults", rule_json, &st);
  if (st != 201)
    fprintf(stderr, "fixture: fault %s: %ld %s\n", rule_json, st,
            j ? json_object_to_json_string(j) : "");
  json_object_put(j);
  return st == 201 ? 0 : -1;
}

int o365_fixture_make_file(o365_fixture *fx, const char *name,
                           const char *content_type, const void *data,
                           size_t len, char *ref, size_t refsz) {
  static unsigned counter;
  char id[33], path[512];
  snprintf(id, sizeof id, "%08x%08xf1f1f1f1%08x", (unsigned)getpid(), ++counter,
           (unsigned)len);
  snprintf(path, sizeof path, "%s/%s", fx->blob_dir, id);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
    if (fd >= 0)
      close(fd);
    return -1;
  }
  close(fd);
  unsigned char dg[32];
  char sha[65];
  if (EVP_Digest(data, len, dg, NULL, EVP_sha256(), NULL) != 1)
    return -1;
  for (int i = 0; i < 32; i++)
    snprintf(sha + 2 * i, 3, "%02x", dg[i]);
  snprintf(path, sizeof path, "%s/%s.json", fx->blob_dir, id);
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return -1;
  json_object *side = json_object_new_object();
  json_object_object_add(side, "v", json_object_new_int(1));
  json_object_object_add(side, "name", json_object_new_string(name));
  json_object_object_add(side, "content_type",
                         json_object_new_string(content_type));
  json_object_object_add(side, "size", json_object_new_int64((int64_t)len));
  json_object_object_add(side, "sha256", json_object_new_string(sha));
  json_object_object_add(side, "created_ms", json_object_new_int(0));
  fputs(json_object_to_json_string(side), f);
  fclose(f);
  json_object_object_del(side, "v");
  json_object_object_del(side, "created_ms");
  json_object_object_del(side, "sha256");
  json_object_object_add(side, "id", json_object_new_string(id));
  int n =
      snprintf(ref, refsz, "%s",
               json_object_to_json_string_ext(side, JSON_C_TO_STRING_PLAIN));
  json_object_put(side);
  return n > 0 && (size_t)n < refsz ? 0 : -1;
}
