/* test_connmgr.c - the connection manager against a scripted token
 * endpoint: authorize outcomes, single-flight refresh with 1,000 waiters,
 * rotation persisted before use, EREAUTH without a retry loop, reauthorize
 * keeping id and nickname, revoke wiping secrets, delete, test, close, and
 * two managers on one store (as two processes would be) sharing one
 * refresh through the store's refresh lease, and open_conn on a store that
 * cannot be reached saying why. */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "clock.h"
#include "conn_util.h"
#include "crypto.h"
#include "host_api.h"
#include "pg_cluster.h"
#include "store.h"

static const char at1[] = "at-1-canary-7f3a", rt1[] = "rt-1-canary-7f3a";
static const char short_lived[] =
    "{\"access_token\":\"at-1-canary-7f3a\",\"refresh_token\":"
    "\"rt-1-canary-7f3a\",\"expires_in\":60}";
static const char rotated[] =
    "{\"access_token\":\"at-2-canary-7f3a\",\"refresh_token\":"
    "\"rt-2-canary-7f3a\",\"expires_in\":3600}";

static const char *sget(json_object *o, const char *k) {
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v))
    return NULL;
  return json_object_get_string(v);
}

static void connect_one(fx *f, const char *nick, op_res *r) {
  long page = 0;
  char body[4096];
  fx_authorize(f, nick, NULL, "code=abc123", r, &page, body, sizeof body);
  if (r->status != 0)
    fail_msg("authorize: %s", r->message);
  assert_string_equal(r->outcome, "connected");
  assert_int_equal(page, 200);
  assert_non_null(strstr(body, "You can close this window"));
}

/* fx_up, then "work" connected; when token_json is not NULL, /token
 * answers it (instead of the default at-1/rt-1) from the start. */
static void up_with_work(fx *f, const char *token_json) {
  fx_up(f);
  if (token_json != NULL)
    fx_token_route(f, 200, token_json, 0);
  op_res r;
  connect_one(f, "work", &r);
  op_res_clear(&r);
}

/* The manager's view of nick (new reference; asserted to exist). */
static json_object *show(fx *f, const char *nick) {
  json_object *c = NULL;
  assert_int_equal(wfc_connmgr_show(f->m, nick, &c), 0);
  return c;
}

/* Asserts nick's state. */
static void assert_state(fx *f, const char *nick, const char *state) {
  json_object *c = show(f, nick);
  assert_string_equal(sget(c, "state"), state);
  json_object_put(c);
}

/* How many connections the manager lists. */
static size_t conn_count(fx *f) {
  json_object *list = NULL;
  assert_int_equal(wfc_connmgr_list(f->m, NULL, &list), 0);
  size_t n = json_object_array_length(list);
  json_object_put(list);
  return n;
}

/* The secrets JSON the store file holds for nick, read through a second
 * store handle as a crash-restarted host would (wfc__secret_free it), or
 * NULL when the store holds none. */
static char *stored_secrets(const char *store, const char *nick) {
  wfc__store *st;
  char err[256], *json = NULL;
  assert_int_equal(wfc__store_open(store, &st, err, sizeof err), 0);
  wfc__conn_rec rec;
  memset(&rec, 0, sizeof rec);
  assert_int_equal(wfc__store_conn_get(st, nick, &rec), 0);
  if (wfc__store_conn_secrets(st, rec.id, &json) != 0)
    json = NULL;
  wfc__conn_rec_clear(&rec);
  wfc__store_close(st);
  return json;
}

/* Opens nick's connection (release it). */
static wfc_conn *open_conn(fx *f, const char *nick) {
  wfc_conn *conn = NULL;
  assert_int_equal(wfc_connmgr_open_conn(f->m, nick, &conn), 0);
  return conn;
}

/* ---- token requests through the host services table ---------------------- */

typedef struct tok_run {
  int n, done, failures;
  int statuses[1000];
  char tokens[1000][32];
  const char *store; /* kill point: checked in the first callback */
  int first_saw_new; /* the store held rt-2 when the first waiter ran */
} tok_run;

typedef struct tok_one {
  tok_run *run;
  int i;
} tok_one;

static void tok_cb(void *arg, int status, const char *token) {
  tok_one *o = arg;
  tok_run *r = o->run;
  if (r->done == 0 && r->store != NULL && status == 0) {
    /* Kill point: a crash now must not lose the rotated refresh token. */
    char *json = stored_secrets(r->store, "work");
    assert_non_null(json);
    r->first_saw_new = strstr(json, "rt-2-canary-7f3a") != NULL;
    wfc__secret_free(json);
  }
  r->statuses[o->i] = status;
  snprintf(r->tokens[o->i], sizeof r->tokens[o->i], "%s",
           status == 0 ? token : "");
  if (status != 0)
    r->failures++;
  r->done++;
  free(o);
}

/* Starts n token requests on conn; returns how many started. */
static int tok_start(wfc_conn *conn, tok_run *r, int n) {
  const wfc_host_api *api = wfc__host_api();
  int started = 0;
  for (int i = 0; i < n; i++) {
    tok_one *o = malloc(sizeof *o);
    o->run = r;
    o->i = r->n++;
    int rc = api->conn_token(conn, tok_cb, o);
    if (rc != 0) {
      r->statuses[o->i] = rc;
      r->done++;
      r->failures++;
      free(o);
    } else {
      started++;
    }
  }
  return started;
}

static void tok_wait(fx *f, tok_run *r) {
  uint64_t start = uv_hrtime();
  while (r->done < r->n) {
    uv_run(&f->loop, UV_RUN_ONCE);
    if (uv_hrtime() - start > 20000000000ull)
      fail_msg("token requests did not complete");
  }
}

/* Frees run, releases conn and takes f down. */
static void down_with(fx *f, wfc_conn *conn, tok_run *run) {
  free(run);
  wfc_conn_release(conn);
  fx_down(f);
}

/* A fresh round on r: n token requests on conn, waited for. */
static void tok_round(fx *f, wfc_conn *conn, tok_run *r, int n) {
  memset(r, 0, sizeof *r);
  tok_start(conn, r, n);
  tok_wait(f, r);
}

/* ---- tests ------------------------------------------------------------------
 */

/* The plugin under test is the one meant: conn_connmgr runs against the
 * current ABI's build, conn_connmgr_abi13 against a 1.3 build whose
 * connection type descriptor has no .flow (WFC_CONN_EXPECT_ABI_MINOR=3),
 * which the host reads as a browser flow. */
static void plugin_abi(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  const char *want = getenv("WFC_CONN_EXPECT_ABI_MINOR");
  unsigned minor = want ? (unsigned)atoi(want) : WFC_ABI_MINOR;
  wfc_plugin *p;
  const wfc_conn_type_desc *ct;
  assert_int_equal(
      wfc_runtime_find_conn_type(f.rt, "conntest.tokenconn", &p, &ct), 0);
  assert_int_equal(wfc_plugin_abi(p), (WFC_ABI_MAJOR << 16) | minor);
  assert_int_equal(ct->flow, WFC_FLOW_BROWSER);
  assert_int_equal(wfc_plugin_conn_type_count(p), minor >= 4 ? 3 : 1);
  fx_down(&f);
}

static void authorize_connected(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  op_res r;
  connect_one(&f, "work", &r);
  assert_string_equal(sget(r.conn, "state"), "connected");
  assert_string_equal(sget(r.conn, "nickname"), "work");
  assert_string_equal(sget(r.conn, "account"), "user@conntest.example");
  assert_string_equal(sget(r.conn, "environment"), "production");
  assert_string_equal(sget(r.conn, "type"), "tokenconn");
  json_object *params = json_object_object_get(r.conn, "params");
  assert_non_null(sget(params, "token_url"));
  /* The secret param is sealed, never in the clear params. */
  assert_null(sget(params, "client_secret"));
  assert_string_equal(sget(r.conn, "has_secrets"), "true");
  op_res_clear(&r);

  /* The nickname is taken: refused before any browser round trip. */
  wfc_authorize_req req = {.size = sizeof req,
                           .conn_type = "conntest.tokenconn",
                           .nickname = "work",
                           .on_url = (void (*)(void *, const char *))abort,
                           .on_done = op_res_cb,
                           .arg = &r};
  assert_int_equal(wfc_connmgr_authorize(f.m, &req), WFC_EEXIST);

  /* list and show */
  assert_int_equal(conn_count(&f), 1);
  json_object *one = show(&f, "work");
  assert_true(strncmp(sget(one, "id"), "conn_", 5) == 0);
  json_object_put(one);
  assert_int_equal(wfc_connmgr_show(f.m, "nope", &one), WFC_ENOTFOUND);

  /* Secrets only sealed in the files. */
  assert_false(store_files_contain(f.store, at1));
  assert_false(store_files_contain(f.store, rt1));
  assert_false(store_files_contain(f.store, "cs-canary-7f3a"));
  assert_true(store_files_contain(f.store, "user@conntest.example"));
  fx_down(&f);
}

static void single_flight_1000(void **state) {
  (void)state;
  fx f;
  up_with_work(&f, short_lived); /* expires within the margin */
  /* A slow token endpoint, so that every waiter arrives during the
   * refresh. */
  fx_token_route(&f, 200, rotated, 300);
  ts_server_reset_stats(f.srv);
  wfc_conn *conn = open_conn(&f, "work");
  tok_run *run = calloc(1, sizeof *run);
  run->store = f.store;
  assert_int_equal(tok_start(conn, run, 1000), 1000);
  tok_wait(&f, run);
  assert_int_equal(run->failures, 0);
  for (int i = 0; i < 1000; i++)
    assert_string_equal(run->tokens[i], "at-2-canary-7f3a");
  assert_int_equal(fx_requests(&f), 1); /* one refresh at the server */
  assert_true(run->first_saw_new);      /* persisted before handed out */
  wfc_connmgr_stats st;
  wfc_connmgr_get_stats(f.m, &st);
  assert_int_equal(st.refreshes, 1);
  assert_int_equal(st.rotations_saved, 1);
  assert_int_equal(st.token_requests, 1000);

  /* Now fresh: served from memory, no request. */
  tok_round(&f, conn, run, 5);
  assert_int_equal(run->failures, 0);
  assert_string_equal(run->tokens[4], "at-2-canary-7f3a");
  assert_int_equal(fx_requests(&f), 1);
  /* The rotated tokens are sealed too. */
  assert_false(store_files_contain(f.store, "rt-2-canary-7f3a"));
  down_with(&f, conn, run);
}

static void rejected_token_refreshes_once(void **state) {
  (void)state;
  fx f;
  up_with_work(&f, NULL);
  wfc_conn *conn = open_conn(&f, "work");
  const wfc_host_api *api = wfc__host_api();
  tok_run *run = calloc(1, sizeof *run);
  ts_server_reset_stats(f.srv);
  tok_round(&f, conn, run, 1);
  assert_string_equal(run->tokens[0], at1);
  assert_int_equal(fx_requests(&f), 0); /* fresh: no refresh */

  fx_token_route(&f, 200, rotated, 50);
  /* Many calls got a 401 with the same token: one refresh. */
  for (int i = 0; i < 3; i++)
    api->conn_token_rejected(conn, at1);
  tok_round(&f, conn, run, 10);
  assert_int_equal(run->failures, 0);
  assert_string_equal(run->tokens[9], "at-2-canary-7f3a");
  assert_int_equal(fx_requests(&f), 1);

  /* A late 401 for the old token does not refresh again. */
  api->conn_token_rejected(conn, at1);
  api->conn_token_rejected(conn, "something-else");
  tok_round(&f, conn, run, 3);
  assert_string_equal(run->tokens[2], "at-2-canary-7f3a");
  assert_int_equal(fx_requests(&f), 1);
  down_with(&f, conn, run);
}

static void ereauth_then_reauthorize(void **state) {
  (void)state;
  fx f;
  up_with_work(&f, short_lived);
  json_object *c = show(&f, "work");
  char id[64];
  snprintf(id, sizeof id, "%s", sget(c, "id"));
  json_object_put(c);

  fx_token_route(&f, 400,
                 "{\"error\":\"invalid_grant\",\"error_description\":"
                 "\"AADSTS50173: the grant was revoked; authorize again\"}",
                 100);
  ts_server_reset_stats(f.srv);
  wfc_conn *conn = open_conn(&f, "work");
  tok_run *run = calloc(1, sizeof *run);
  tok_round(&f, conn, run, 5);
  assert_int_equal(run->failures, 5);
  for (int i = 0; i < 5; i++)
    assert_int_equal(run->statuses[i], WFC_EREAUTH);
  assert_int_equal(fx_requests(&f), 1);
  c = show(&f, "work");
  assert_string_equal(sget(c, "state"), "reauthorization_required");
  assert_non_null(strstr(sget(c, "remedy"), "AADSTS50173"));
  json_object_put(c);

  /* Later requests fail fast: no refresh loop. */
  const wfc_host_api *api = wfc__host_api();
  assert_int_equal(api->conn_token(conn, tok_cb, NULL), WFC_EREAUTH);
  assert_int_equal(fx_requests(&f), 1);
  wfc_conn_release(conn);

  /* Also after a restart (state is durable). */
  fx_reopen(&f);
  assert_int_equal(wfc_connmgr_open_conn(f.m, "work", &conn), 0);
  assert_int_equal(api->conn_token(conn, tok_cb, NULL), WFC_EREAUTH);
  wfc_conn_release(conn);
  assert_int_equal(fx_requests(&f), 1);

  /* Reauthorize: same id and nickname, new tokens, connected. */
  fx_token_route(&f, 200,
                 "{\"access_token\":\"at-3-canary-7f3a\",\"refresh_token\":"
                 "\"rt-3-canary-7f3a\",\"expires_in\":3600,\"account\":"
                 "\"user@conntest.example\"}",
                 0);
  op_res r;
  fx_authorize(&f, NULL, "work", "code=again", &r, NULL, NULL, 0);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.outcome, "connected");
  assert_string_equal(sget(r.conn, "id"), id);
  assert_string_equal(sget(r.conn, "nickname"), "work");
  assert_string_equal(sget(r.conn, "state"), "connected");
  assert_string_equal(sget(r.conn, "remedy"), "");
  op_res_clear(&r);
  assert_int_equal(conn_count(&f), 1);
  assert_int_equal(wfc_connmgr_open_conn(f.m, "work", &conn), 0);
  tok_round(&f, conn, run, 1);
  assert_string_equal(run->tokens[0], "at-3-canary-7f3a");
  down_with(&f, conn, run);
}

static void transient_failure_keeps_state(void **state) {
  (void)state;
  fx f;
  up_with_work(&f, short_lived);
  fx_token_route(&f, 503, "{}", 0);
  ts_server_reset_stats(f.srv);
  wfc_conn *conn = open_conn(&f, "work");
  tok_run *run = calloc(1, sizeof *run);
  tok_round(&f, conn, run, 3);
  assert_int_equal(run->failures, 3);
  assert_int_equal(run->statuses[0], WFC_EREMOTE);
  assert_state(&f, "work", "connected");
  /* A refresh asked for says why it failed, in the hook's words (not only
   * the code's "the service returned an error"). */
  op_res r = {0};
  assert_int_equal(wfc_connmgr_refresh(f.m, "work", op_res_cb, &r), 0);
  fx_run_until(&f, &r.done);
  assert_int_equal(r.status, WFC_EREMOTE);
  assert_non_null(strstr(r.message, "token endpoint answered 503"));
  op_res_clear(&r);
  assert_state(&f, "work", "connected");
  /* The next request tries again (not a permanent failure). */
  fx_token_route(&f, 200, rotated, 0);
  tok_round(&f, conn, run, 1);
  assert_string_equal(run->tokens[0], "at-2-canary-7f3a");
  assert_int_equal(fx_requests(&f), 3);
  down_with(&f, conn, run);
}

static void revoke_wipes_secrets(void **state) {
  (void)state;
  fx f;
  up_with_work(&f, NULL);
  wfc_conn *conn = open_conn(&f, "work");
  tok_run *run = calloc(1, sizeof *run);
  tok_round(&f, conn, run, 1); /* tokens now in memory too */
  ts_server_reset_stats(f.srv);
  op_res r = {0};
  assert_int_equal(wfc_connmgr_revoke(f.m, "work", op_res_cb, &r), 0);
  assert_false(r.done); /* never inside the call */
  fx_run_until(&f, &r.done);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.outcome, "revoked");
  assert_string_equal(sget(r.detail, "remote"), "removed");
  assert_string_equal(sget(r.conn, "state"), "revoked");
  assert_non_null(strstr(sget(r.conn, "remedy"), "authorize"));
  op_res_clear(&r);
  assert_int_equal(fx_requests(&f), 1); /* the revoke endpoint */

  /* Gone from the store (sealed or not) and refused from memory. */
  char *json = stored_secrets(f.store, "work");
  if (json != NULL) {
    assert_null(strstr(json, "credentials"));
    assert_null(strstr(json, "at-1"));
    wfc__secret_free(json);
  }
  assert_false(store_files_contain(f.store, at1));
  assert_false(store_files_contain(f.store, rt1));
  const wfc_host_api *api = wfc__host_api();
  assert_int_equal(api->conn_token(conn, tok_cb, NULL), WFC_EREAUTH);
  down_with(&f, conn, run);
}

static void consent_outcomes(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  op_res r;
  fx_authorize(&f, "needs", NULL, "error=consent_required", &r, NULL, NULL, 0);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.outcome, "needs_admin_approval");
  assert_non_null(strstr(r.remedy, "administrator"));
  assert_string_equal(sget(r.conn, "state"), "needs_admin_approval");
  assert_non_null(strstr(sget(r.conn, "remedy"), "grant consent"));
  char id[64];
  snprintf(id, sizeof id, "%s", sget(r.conn, "id"));
  op_res_clear(&r);
  wfc_conn *conn;
  assert_int_equal(wfc_connmgr_open_conn(f.m, "needs", &conn), 0);
  assert_int_equal(wfc__host_api()->conn_token(conn, tok_cb, NULL),
                   WFC_ECONSENT);
  wfc_conn_release(conn);

  /* An admin consented: the user authorizes the same connection again. */
  fx_authorize(&f, NULL, "needs", "code=ok", &r, NULL, NULL, 0);
  assert_string_equal(r.outcome, "connected");
  assert_string_equal(sget(r.conn, "id"), id);
  op_res_clear(&r);

  fx_authorize(&f, "pending", NULL, "error=pending", &r, NULL, NULL, 0);
  assert_string_equal(r.outcome, "approval_pending");
  assert_string_equal(sget(r.conn, "state"), "approval_pending");
  op_res_clear(&r);

  /* Denied: nothing stored. */
  long page;
  char body[4096];
  fx_authorize(&f, "declined", NULL, "error=access_denied", &r, &page, body,
               sizeof body);
  assert_int_equal(r.status, 0);
  assert_string_equal(r.outcome, "denied");
  assert_null(r.conn);
  assert_int_equal(page, 400);
  assert_non_null(strstr(body, "declined"));
  op_res_clear(&r);
  json_object *c;
  assert_int_equal(wfc_connmgr_show(f.m, "declined", &c), WFC_ENOTFOUND);
  /* Several connections of one account, each with its nickname. */
  fx_authorize(&f, "second", NULL, "code=two", &r, NULL, NULL, 0);
  assert_string_equal(r.outcome, "connected");
  op_res_clear(&r);
  assert_int_equal(conn_count(&f), 3);
  fx_down(&f);
}

static void delete_test_refresh(void **state) {
  (void)state;
  fx f;
  up_with_work(&f, NULL);
  op_res r = {0};
  assert_int_equal(wfc_connmgr_test(f.m, "work", op_res_cb, &r), 0);
  fx_run_until(&f, &r.done);
  assert_int_equal(r.status, 0);
  assert_string_equal(sget(r.detail, "healthy"), "true");
  op_res_clear(&r);

  fx_token_route(&f, 200, rotated, 0);
  ts_server_reset_stats(f.srv);
  assert_int_equal(wfc_connmgr_refresh(f.m, "work", op_res_cb, &r), 0);
  fx_run_until(&f, &r.done);
  assert_int_equal(r.status, 0);
  assert_int_equal(fx_requests(&f), 1); /* forced although fresh */
  assert_string_equal(sget(r.conn, "state"), "connected");
  op_res_clear(&r);

  ts_server_reset_stats(f.srv);
  assert_int_equal(wfc_connmgr_delete(f.m, "work", op_res_cb, &r), 0);
  fx_run_until(&f, &r.done);
  assert_int_equal(r.status, 0);
  assert_string_equal(sget(r.detail, "remote"), "removed");
  op_res_clear(&r);
  assert_int_equal(fx_requests(&f), 1); /* revoked first */
  json_object *c;
  assert_int_equal(wfc_connmgr_show(f.m, "work", &c), WFC_ENOTFOUND);
  assert_int_equal(wfc_connmgr_refresh(f.m, "work", op_res_cb, &r),
                   WFC_ENOTFOUND);
  fx_down(&f);
}

static void reauthorize_during_refresh(void **state) {
  (void)state;
  fx f;
  up_with_work(&f, short_lived);
  /* A slow refresh is in flight... */
  fx_token_route(&f, 200, rotated, 1500);
  wfc_conn *conn = open_conn(&f, "work");
  tok_run *run = calloc(1, sizeof *run);
  tok_start(conn, run, 3);
  /* ...while the user reauthorizes (a fast code exchange). */
  fx_token_route(&f, 200,
                 "{\"access_token\":\"at-3-canary-7f3a\",\"refresh_token\":"
                 "\"rt-3-canary-7f3a\",\"expires_in\":3600}",
                 0);
  op_res r;
  fx_authorize(&f, NULL, "work", "code=again", &r, NULL, NULL, 0);
  assert_string_equal(r.outcome, "connected");
  op_res_clear(&r);
  tok_wait(&f, run);
  /* The new grant wins over the late refresh result. */
  assert_int_equal(run->failures, 0);
  assert_string_equal(run->tokens[0], "at-3-canary-7f3a");
  assert_string_equal(run->tokens[2], "at-3-canary-7f3a");
  char *json = stored_secrets(f.store, "work");
  assert_non_null(json);
  assert_non_null(strstr(json, "rt-3-canary-7f3a"));
  wfc__secret_free(json);
  down_with(&f, conn, run);
}

typedef struct card_run {
  int done, ok, attempts2;
} card_run;

static void card_done(void *arg, wfc_call *call, const wfc_outcome *out) {
  card_run *r = arg;
  (void)call;
  r->done++;
  if (out->status == 0) {
    r->ok++;
    json_object *v;
    if (json_object_object_get_ex(out->output, "attempts", &v) &&
        json_object_get_int(v) == 2)
      r->attempts2++;
  }
}

/* 50 card calls all get a 401: each reports the token and retries; the
 * token endpoint sees one refresh. */
static void cards_401_one_refresh(void **state) {
  (void)state;
  fx f;
  up_with_work(&f, NULL);
  ts_route unauth = {.method = "GET", .path = "/me", .status = 401};
  assert_int_equal(ts_server_route(f.srv, &unauth), 0);
  fx_token_route(&f, 200, rotated, 100);
  ts_server_reset_stats(f.srv);
  wfc_conn *conn = open_conn(&f, "work");
  card_run cr = {0};
  wfc_invoke how = {
      .size = sizeof how, .conn = conn, .on_done = card_done, .arg = &cr};
  for (int i = 0; i < 50; i++)
    assert_int_equal(
        wfc_runtime_invoke(f.rt, "conntest.whoami", NULL, &how, NULL), 0);
  uint64_t t0 = uv_hrtime();
  while (cr.done < 50 && uv_hrtime() - t0 < 20000000000ull)
    uv_run(&f.loop, UV_RUN_ONCE);
  assert_int_equal(cr.done, 50);
  assert_int_equal(cr.ok, 50);
  assert_int_equal(cr.attempts2, 50); /* every call retried once */
  ts_stats st;
  ts_server_stats(f.srv, &st);
  assert_int_equal(st.requests, 101); /* 100 GET /me + 1 POST /token */
  wfc_connmgr_stats ms;
  wfc_connmgr_get_stats(f.m, &ms);
  assert_int_equal(ms.refreshes, 1);
  wfc_conn_release(conn);
  fx_down(&f);
}

/* A plugin whose authorize URL carries no state, or two, cannot have its
 * redirect told apart from other local requests: refused before the
 * browser is sent anywhere, with the reason, and nothing is stored. */
static void authorize_url_without_state(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  static const struct {
    const char *how, *msg;
  } cases[] = {{"none", "gave a URL without a \"state\" parameter"},
               {"twice", "gave a URL with a repeated or malformed \"state\""}};
  for (size_t i = 0; i < 2; i++) {
    json_object *params = json_object_new_object();
    json_object_object_add(params, "token_url",
                           json_object_new_string(ts_server_url(f.srv)));
    json_object_object_add(params, "url_state",
                           json_object_new_string(cases[i].how));
    op_res r;
    memset(&r, 0, sizeof r);
    wfc_authorize_req req = {.size = sizeof req,
                             .conn_type = "conntest.tokenconn",
                             .nickname = "nostate",
                             .params = params,
                             .on_url = (void (*)(void *, const char *))abort,
                             .on_done = op_res_cb,
                             .arg = &r};
    assert_int_equal(wfc_connmgr_authorize(f.m, &req), 0);
    json_object_put(params);
    fx_run_until(&f, &r.done);
    assert_int_equal(r.status, WFC_EPROTO);
    if (strstr(r.message, cases[i].msg) == NULL ||
        strstr(r.message, "conntest.tokenconn") == NULL)
      fail_msg("%s: %s", cases[i].how, r.message);
    op_res_clear(&r);
  }
  assert_int_equal(conn_count(&f), 0);
  fx_down(&f);
}

static void on_url_noop(void *arg, const char *url) {
  (void)url;
  *(int *)arg = 1;
}

typedef struct close_ctx {
  int url_seen;
  op_res res;
} close_ctx;

static void close_cancels(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  close_ctx cc;
  memset(&cc, 0, sizeof cc);
  json_object *params = json_object_new_object();
  json_object_object_add(params, "token_url",
                         json_object_new_string(ts_server_url(f.srv)));
  wfc_authorize_req req = {.size = sizeof req,
                           .conn_type = "conntest.tokenconn",
                           .nickname = "never",
                           .params = params,
                           .on_url = on_url_noop,
                           .on_done = op_res_cb,
                           .arg = &cc.res};
  /* on_url and on_done share arg: on_url_noop sets res.done (the first
   * member) to say the URL arrived; it is reset before the close. */
  assert_int_equal(wfc_connmgr_authorize(f.m, &req), 0);
  json_object_put(params);
  /* Wait for the URL (on_url sets res.done's first int: reset after). */
  fx_run_until(&f, &cc.res.done);
  cc.res.done = 0;
  fx_down(&f); /* closes the manager with the authorization waiting */
  assert_true(cc.res.done);
  assert_int_equal(cc.res.status, WFC_ECANCELED);
  op_res_clear(&cc.res);
}

/* ---- two managers on one store: the refresh lease ------------------------ */

static void set_done(void *arg) {
  *(int *)arg = 1;
}

/* A second manager on f's store and runtime, as another process would
 * have (its own store handle and lease holder id). */
static wfc_connmgr *second_mgr(fx *f) {
  wfc_connmgr_opts o = {.size = sizeof o, .store_path = f->store};
  wfc_connmgr *m = NULL;
  char err[512];
  if (wfc_connmgr_open(f->rt, &o, &m, err, sizeof err) != 0)
    fail_msg("wfc_connmgr_open: %s", err);
  return m;
}

static void close_second(fx *f, wfc_connmgr *m) {
  int closed = 0;
  wfc_connmgr_close(m, set_done, &closed);
  fx_run_until(f, &closed);
}

/* Counts from zero at f's server, then forces a refresh of "work" in f's
 * manager (r1) and in m2 (r2) at once and waits for both. */
static void refresh_both(fx *f, wfc_connmgr *m2, op_res *r1, op_res *r2) {
  ts_server_reset_stats(f->srv);
  memset(r1, 0, sizeof *r1);
  memset(r2, 0, sizeof *r2);
  assert_int_equal(wfc_connmgr_refresh(f->m, "work", op_res_cb, r1), 0);
  assert_int_equal(wfc_connmgr_refresh(m2, "work", op_res_cb, r2), 0);
  fx_run_until(f, &r1->done);
  fx_run_until(f, &r2->done);
}

static void two_managers_one_refresh(void **state) {
  (void)state;
  fx f;
  up_with_work(&f, short_lived); /* expires within the margin: stale */
  wfc_connmgr *m2 = second_mgr(&f);
  fx_token_route(&f, 200, rotated, 200);
  ts_server_reset_stats(f.srv);
  wfc_conn *c1 = open_conn(&f, "work"), *c2 = NULL;
  assert_int_equal(wfc_connmgr_open_conn(m2, "work", &c2), 0);

  /* Five token requests in each: one refresh in all, its token for all. */
  tok_run *run = calloc(1, sizeof *run);
  tok_start(c1, run, 5);
  tok_start(c2, run, 5);
  tok_wait(&f, run);
  assert_int_equal(run->failures, 0);
  for (int i = 0; i < 10; i++)
    assert_string_equal(run->tokens[i], "at-2-canary-7f3a");
  assert_int_equal(fx_requests(&f), 1);
  wfc_connmgr_stats s1, s2;
  wfc_connmgr_get_stats(f.m, &s1);
  wfc_connmgr_get_stats(m2, &s2);
  assert_int_equal(s1.refreshes + s2.refreshes, 1);
  /* The lease is gone with the rotation. */
  char *json = stored_secrets(f.store, "work");
  assert_non_null(strstr(json, "rt-2-canary-7f3a"));
  wfc__secret_free(json);

  /* Forced refreshes in both at once: one request, both succeed. */
  fx_token_route(&f, 200,
                 "{\"access_token\":\"at-3-canary-7f3a\",\"refresh_token\":"
                 "\"rt-3-canary-7f3a\",\"expires_in\":3600}",
                 200);
  op_res r1, r2;
  refresh_both(&f, m2, &r1, &r2);
  assert_int_equal(r1.status, 0);
  assert_int_equal(r2.status, 0);
  assert_string_equal(r1.outcome, "connected");
  assert_string_equal(r2.outcome, "connected");
  assert_int_equal(fx_requests(&f), 1);
  op_res_clear(&r1);
  op_res_clear(&r2);

  /* A refusal is shared too: the waiter fails with the holder's outcome
   * and does not try the spent token again. */
  fx_token_route(&f, 400,
                 "{\"error\":\"invalid_grant\",\"error_description\":"
                 "\"AADSTS50173: the grant was revoked\"}",
                 200);
  refresh_both(&f, m2, &r1, &r2);
  assert_int_equal(r1.status, WFC_EREAUTH);
  assert_int_equal(r2.status, WFC_EREAUTH);
  assert_int_equal(fx_requests(&f), 1);
  assert_state(&f, "work", "reauthorization_required");
  op_res_clear(&r1);
  op_res_clear(&r2);

  wfc_conn_release(c2);
  close_second(&f, m2);
  down_with(&f, c1, run);
}

/* Closing a manager whose token requests wait for another manager's
 * refresh fails them with WFC_ECANCELED and closes. */
static void close_while_waiting_for_lease(void **state) {
  (void)state;
  fx f;
  up_with_work(&f, short_lived);
  wfc_connmgr *m2 = second_mgr(&f);
  fx_token_route(&f, 200, rotated, 500);
  wfc_conn *c1 = open_conn(&f, "work"), *c2 = NULL;
  assert_int_equal(wfc_connmgr_open_conn(m2, "work", &c2), 0);
  tok_run *run = calloc(1, sizeof *run);
  tok_start(c1, run, 1); /* f.m takes the lease and refreshes */
  tok_start(c2, run, 3); /* m2 waits for it */
  for (int i = 0; i < 5; i++)
    uv_run(&f.loop, UV_RUN_NOWAIT);
  wfc_conn_release(c2);
  int closed = 0;
  wfc_connmgr_close(m2, set_done, &closed);
  fx_run_until(&f, &closed);
  for (int i = 1; i < 4; i++)
    assert_int_equal(run->statuses[i], WFC_ECANCELED);
  tok_wait(&f, run);
  assert_int_equal(run->statuses[0], 0);
  assert_string_equal(run->tokens[0], "at-2-canary-7f3a");
  down_with(&f, c1, run);
}

/* The injected wall clock of throttled_refresh_waits_retry_after. */
static int64_t fake_now_ms;
static int64_t fake_now(void *arg) {
  (void)arg;
  return fake_now_ms;
}

/* info["token_retry_at_ms"] of conn, or -1. */
static int64_t retry_at_of(wfc_conn *conn) {
  json_object *v = NULL;
  return json_object_object_get_ex(wfc_conn_get_info(conn), "token_retry_at_ms",
                                   &v)
             ? json_object_get_int64(v)
             : -1;
}

/* A refresh the identity provider throttles with a Retry-After (the hook's
 * failure detail "retry_after_ms"): until it has passed, no token request
 * for the connection reaches the endpoint again - neither from this
 * manager's later calls nor from another manager on the store (another
 * process), a forced refresh included; they fail at once with
 * WFC_ETHROTTLED, their connection's info saying until when, an
 * operation's message saying it in words. Then one refresh succeeds. A
 * Retry-After beyond an hour is cut to an hour. */
static void throttled_refresh_waits_retry_after(void **state) {
  (void)state;
  fx f;
  up_with_work(&f, short_lived); /* stale: every token request refreshes */
  fake_now_ms = wfc__now_ms();
  wfc__clock_set(fake_now, NULL);
  wfc_connmgr *m2 = second_mgr(&f);
  wfc_conn *c1 = open_conn(&f, "work"), *c2 = NULL;
  assert_int_equal(wfc_connmgr_open_conn(m2, "work", &c2), 0);
  fx_token_route(&f, 429, "{\"retry_after_ms\":5000}", 0);
  ts_server_reset_stats(f.srv);

  tok_run *run = calloc(1, sizeof *run);
  tok_round(&f, c1, run, 1);
  assert_int_equal(run->statuses[0], WFC_ETHROTTLED);
  assert_int_equal(fx_requests(&f), 1);
  /* 20 calls in a row, here and in the other manager: no request. */
  tok_round(&f, c1, run, 20);
  assert_int_equal(fx_requests(&f), 1);
  assert_int_equal(run->failures, 20);
  for (int i = 0; i < 20; i++)
    assert_int_equal(run->statuses[i], WFC_ETHROTTLED);
  assert_int_equal(retry_at_of(c1), fake_now_ms + 5000);
  fake_now_ms += 4000;
  tok_round(&f, c2, run, 20);
  assert_int_equal(fx_requests(&f), 1);
  assert_int_equal(run->failures, 20);
  assert_int_equal(run->statuses[19], WFC_ETHROTTLED);
  assert_int_equal(retry_at_of(c2), fake_now_ms + 1000);
  op_res r = {0};
  assert_int_equal(wfc_connmgr_refresh(m2, "work", op_res_cb, &r), 0);
  fx_run_until(&f, &r.done);
  assert_int_equal(r.status, WFC_ETHROTTLED);
  assert_non_null(
      strstr(r.message, "the identity provider is throttling token requests"));
  assert_non_null(strstr(r.message, "(in 1 s)"));
  json_object *ra = NULL;
  assert_true(json_object_object_get_ex(r.detail, "retry_after_ms", &ra));
  assert_int_equal(json_object_get_int64(ra), 1000);
  op_res_clear(&r);
  assert_int_equal(fx_requests(&f), 1);
  assert_state(&f, "work", "connected");

  /* Passed: one refresh, in one manager; the other adopts its token. */
  fake_now_ms += 1001;
  fx_token_route(&f, 200, rotated, 0);
  tok_round(&f, c2, run, 3);
  assert_int_equal(run->failures, 0);
  assert_string_equal(run->tokens[0], "at-2-canary-7f3a");
  assert_int_equal(retry_at_of(c2), -1);
  tok_round(&f, c1, run, 3);
  assert_int_equal(run->failures, 0);
  assert_string_equal(run->tokens[2], "at-2-canary-7f3a");
  assert_int_equal(fx_requests(&f), 2);

  /* A Retry-After of days is cut to an hour. */
  op_res_clear(&r);
  memset(&r, 0, sizeof r);
  fx_token_route(&f, 503, "{\"retry_after_ms\":864000000}", 0);
  assert_int_equal(wfc_connmgr_refresh(f.m, "work", op_res_cb, &r), 0);
  fx_run_until(&f, &r.done);
  assert_int_equal(r.status, WFC_EREMOTE);
  op_res_clear(&r);
  memset(&r, 0, sizeof r);
  assert_int_equal(wfc_connmgr_refresh(f.m, "work", op_res_cb, &r), 0);
  fx_run_until(&f, &r.done);
  assert_int_equal(r.status, WFC_ETHROTTLED);
  assert_true(json_object_object_get_ex(r.detail, "retry_after_ms", &ra));
  assert_int_equal(json_object_get_int64(ra), 3600 * 1000);
  op_res_clear(&r);
  assert_int_equal(fx_requests(&f), 3);
  /* The access token is still good: handed out, throttled or not. */
  tok_round(&f, c1, run, 1);
  assert_int_equal(run->statuses[0], 0);

  wfc__clock_set(NULL, NULL);
  wfc_conn_release(c2);
  close_second(&f, m2);
  down_with(&f, c1, run);
}

/* open_conn on a store that cannot be reached (PostgreSQL down longer
 * than the store's wait): the caller learns why in the store's words,
 * naming the database (wfc_connmgr_open_error; `wfc card run` and event
 * watches print it); once it is back, the same call works and says
 * nothing. */
static void open_conn_names_the_store(void **state) {
  (void)state;
  pg_cluster *pg = pg_cluster_start();
  assert_non_null(pg);
  char *url = pg_cluster_new_db(pg);
  assert_non_null(url);
  setenv("WFC_MASTER_KEY",
         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1);
  setenv("WFC_STORE_WAIT_MS", "300", 1);
  fx f;
  fx_up(&f);
  snprintf(f.store, sizeof f.store, "%s", url);
  fx_reopen(&f);
  op_res r;
  connect_one(&f, "work", &r);
  op_res_clear(&r);

  assert_int_equal(pg_cluster_down(pg, 1), 0);
  wfc_conn *c = NULL;
  assert_int_equal(wfc_connmgr_open_conn(f.m, "work", &c), WFC_ESTORE);
  char where[256];
  wfc__store_describe(url, where, sizeof where);
  const char *why = wfc_connmgr_open_error();
  assert_non_null(strstr(why, where));
  assert_non_null(strstr(why, "cannot be reached"));
  assert_int_equal(pg_cluster_up(pg), 0);
  assert_int_equal(wfc_connmgr_open_conn(f.m, "work", &c), 0);
  assert_string_equal(wfc_connmgr_open_error(), "");
  wfc_conn_release(c);
  fx_down(&f);
  unsetenv("WFC_STORE_WAIT_MS");
  unsetenv("WFC_MASTER_KEY");
  free(url);
  assert_int_equal(pg_cluster_stop(pg), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(plugin_abi),
      cmocka_unit_test(authorize_connected),
      cmocka_unit_test(authorize_url_without_state),
      cmocka_unit_test(single_flight_1000),
      cmocka_unit_test(rejected_token_refreshes_once),
      cmocka_unit_test(ereauth_then_reauthorize),
      cmocka_unit_test(transient_failure_keeps_state),
      cmocka_unit_test(revoke_wipes_secrets),
      cmocka_unit_test(consent_outcomes),
      cmocka_unit_test(delete_test_refresh),
      cmocka_unit_test(reauthorize_during_refresh),
      cmocka_unit_test(cards_401_one_refresh),
      cmocka_unit_test(close_cancels),
      cmocka_unit_test(two_managers_one_refresh),
      cmocka_unit_test(close_while_waiting_for_lease),
      cmocka_unit_test(throttled_refresh_waits_retry_after),
      cmocka_unit_test(open_conn_names_the_store),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
