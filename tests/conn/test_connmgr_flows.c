/* test_connmgr_flows.c - the connection manager's form and none flows
 * (ABI 1.4, wfc/plugin.h) against the conntest plugin's "formconn" (an
 * API key, checked and exchanged at the scripted token endpoint) and
 * "noneconn" (declared params only): no URL and no redirect listener,
 * authorize_complete with params and secrets apart, the secret sealed and
 * handed back merged into refresh's params, refused keys, missing and
 * misplaced fields, reauthorization keeping or replacing the secret, and
 * what a browser flow still requires. */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conn_util.h"
#include "crypto.h"
#include "store.h"

static const char key1[] = "key-canary-9d1e";
static const char key2[] = "key-canary-2b7c";

static const char *sget(json_object *o, const char *k) {
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v))
    return NULL;
  return json_object_get_string(v);
}

/* A form or none flow has no URL: on_url must never run. */
static void on_url_never(void *arg, const char *url) {
  (void)arg;
  fail_msg("on_url called for a flow without a browser: %s", url);
}

/* Runs an authorization of type (new nickname, or reauth) with params
 * (borrowed, may be NULL) to its end. */
static void run_auth(fx *f, const char *type, const char *nick,
                     const char *reauth, json_object *params, op_res *r) {
  memset(r, 0, sizeof *r);
  wfc_authorize_req req = {.size = sizeof req,
                           .conn_type = type,
                           .nickname = nick,
                           .reauthorize = reauth,
                           .params = params,
                           .on_url = on_url_never,
                           .on_done = op_res_cb,
                           .arg = r};
  assert_int_equal(wfc_connmgr_authorize(f->m, &req), 0);
  fx_run_until(f, &r->done);
}

static json_object *form_params(fx *f, const char *key) {
  json_object *p = json_object_new_object();
  json_object_object_add(p, "token_url",
                         json_object_new_string(ts_server_url(f->srv)));
  json_object_object_add(p, "account", json_object_new_string("alice"));
  if (key != NULL)
    json_object_object_add(p, "api_key", json_object_new_string(key));
  return p;
}

/* The sealed secrets of nick as the store holds them (free), or NULL. */
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
  char *copy = json ? strdup(json) : NULL;
  wfc__secret_free(json);
  return copy;
}

static size_t conn_count(fx *f) {
  json_object *list = NULL;
  assert_int_equal(wfc_connmgr_list(f->m, NULL, &list), 0);
  size_t n = json_object_array_length(list);
  json_object_put(list);
  return n;
}

static void form_connects_and_seals(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  uint64_t before = fx_requests(&f);
  json_object *p = form_params(&f, key1);
  op_res r;
  run_auth(&f, "conntest.formconn", "keyed", NULL, p, &r);
  json_object_put(p);
  if (r.status != 0)
    fail_msg("authorize: %s", r.message);
  assert_string_equal(r.outcome, "connected");
  assert_string_equal(sget(r.conn, "type"), "formconn");
  assert_string_equal(sget(r.conn, "state"), "connected");
  json_object *cp = json_object_object_get(r.conn, "params");
  assert_string_equal(sget(cp, "account"), "alice");
  assert_null(sget(cp, "api_key")); /* never among the clear params */
  assert_string_equal(sget(r.conn, "has_secrets"), "true");
  op_res_clear(&r);
  /* One request: the plugin's exchange of the key at /token. */
  assert_int_equal(fx_requests(&f) - before, 1);

  /* Sealed with the credentials, never in the store's files in clear. */
  char *sealed = stored_secrets(f.store, "keyed");
  assert_non_null(sealed);
  json_object *s = json_tokener_parse(sealed);
  assert_string_equal(
      sget(json_object_object_get(s, "secret_params"), "api_key"), key1);
  assert_non_null(json_object_object_get(s, "credentials"));
  json_object_put(s);
  free(sealed);
  assert_false(store_files_contain(f.store, key1));

  /* refresh gets the key back merged into params (the plugin fails
   * otherwise), and so does the test hook's connection. */
  memset(&r, 0, sizeof r);
  assert_int_equal(wfc_connmgr_refresh(f.m, "keyed", op_res_cb, &r), 0);
  fx_run_until(&f, &r.done);
  if (r.status != 0)
    fail_msg("refresh: %s", r.message);
  op_res_clear(&r);
  /* A manager opened anew (another process) gets it from the store. */
  fx_reopen(&f);
  assert_int_equal(wfc_connmgr_refresh(f.m, "keyed", op_res_cb, &r), 0);
  fx_run_until(&f, &r.done);
  if (r.status != 0)
    fail_msg("refresh after reopen: %s", r.message);
  op_res_clear(&r);
  assert_int_equal(wfc_connmgr_test(f.m, "keyed", op_res_cb, &r), 0);
  fx_run_until(&f, &r.done);
  assert_int_equal(r.status, 0);
  assert_string_equal(sget(r.detail, "healthy"), "true");
  op_res_clear(&r);
  fx_down(&f);
}

static void form_refused_key_stores_nothing(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  uint64_t before = fx_requests(&f);
  json_object *p = form_params(&f, "bad-canary-5e5e");
  op_res r;
  run_auth(&f, "conntest.formconn", "keyed", NULL, p, &r);
  json_object_put(p);
  assert_int_equal(r.status, 0); /* an outcome of the plugin */
  assert_string_equal(r.outcome, "error");
  assert_non_null(strstr(r.remedy, "keys start with \"key-\""));
  assert_null(r.conn);
  op_res_clear(&r);
  assert_int_equal(conn_count(&f), 0);
  assert_int_equal(fx_requests(&f), before);
  assert_false(store_files_contain(f.store, "bad-canary-5e5e"));

  /* The token endpoint refusing the key is the plugin's failure, said. */
  fx_token_route(&f, 503, "{}", 0);
  p = form_params(&f, key1);
  run_auth(&f, "conntest.formconn", "keyed", NULL, p, &r);
  json_object_put(p);
  assert_int_equal(r.status, WFC_EREMOTE);
  assert_non_null(strstr(r.message, "token endpoint answered 503"));
  op_res_clear(&r);
  assert_int_equal(conn_count(&f), 0);
  fx_down(&f);
}

static void form_validates_params_and_secrets_together(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  uint64_t before = fx_requests(&f);
  /* The required secret missing: named, the plugin never called. */
  json_object *p = form_params(&f, NULL);
  op_res r;
  run_auth(&f, "conntest.formconn", "keyed", NULL, p, &r);
  assert_int_equal(r.status, WFC_EVALIDATION);
  assert_non_null(strstr(r.message, "params.api_key: required field missing"));
  op_res_clear(&r);
  /* Too short (the schema's min): named without its value. */
  json_object_object_add(p, "api_key", json_object_new_string("k1"));
  run_auth(&f, "conntest.formconn", "keyed", NULL, p, &r);
  assert_int_equal(r.status, WFC_EVALIDATION);
  assert_non_null(strstr(r.message, "params.api_key"));
  assert_null(strstr(r.message, "\"k1\""));
  op_res_clear(&r);
  /* A param the type does not declare. */
  json_object_object_add(p, "api_key", json_object_new_string(key1));
  json_object_object_add(p, "bogus", json_object_new_string("x"));
  run_auth(&f, "conntest.formconn", "keyed", NULL, p, &r);
  assert_int_equal(r.status, WFC_EVALIDATION);
  assert_non_null(strstr(r.message, "unknown field \"bogus\""));
  op_res_clear(&r);
  json_object_put(p);
  assert_int_equal(fx_requests(&f), before);
  assert_int_equal(conn_count(&f), 0);
  fx_down(&f);
}

static void form_reauthorize_keeps_or_replaces_key(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  json_object *p = form_params(&f, key1);
  op_res r;
  run_auth(&f, "conntest.formconn", "keyed", NULL, p, &r);
  json_object_put(p);
  assert_string_equal(r.outcome, "connected");
  char id[64];
  snprintf(id, sizeof id, "%s", sget(r.conn, "id"));
  op_res_clear(&r);

  /* Nothing given: the sealed key is checked again. */
  run_auth(&f, NULL, NULL, "keyed", NULL, &r);
  if (r.status != 0)
    fail_msg("reauthorize: %s", r.message);
  assert_string_equal(r.outcome, "connected");
  assert_string_equal(sget(r.conn, "id"), id);
  op_res_clear(&r);

  /* A new key replaces it; a refused one changes nothing. */
  p = json_object_new_object();
  json_object_object_add(p, "api_key", json_object_new_string(key2));
  run_auth(&f, NULL, NULL, "keyed", p, &r);
  assert_string_equal(r.outcome, "connected");
  op_res_clear(&r);
  char *sealed = stored_secrets(f.store, "keyed");
  assert_non_null(strstr(sealed, key2));
  assert_null(strstr(sealed, key1));
  free(sealed);
  json_object_object_add(p, "api_key", json_object_new_string("bad-key-0"));
  run_auth(&f, NULL, NULL, "keyed", p, &r);
  assert_string_equal(r.outcome, "error");
  op_res_clear(&r);
  json_object_put(p);
  sealed = stored_secrets(f.store, "keyed");
  assert_non_null(strstr(sealed, key2));
  free(sealed);
  fx_down(&f);
}

static void none_flow(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  json_object *p = json_object_new_object();
  json_object_object_add(p, "token_url",
                         json_object_new_string(ts_server_url(f.srv)));
  json_object_object_add(p, "account", json_object_new_string("bob"));
  op_res r;
  run_auth(&f, "conntest.noneconn", "open", NULL, p, &r);
  if (r.status != 0)
    fail_msg("authorize: %s", r.message);
  assert_string_equal(r.outcome, "connected");
  assert_string_equal(sget(r.conn, "account"), "bob");
  op_res_clear(&r);
  /* A none type takes nothing it did not declare. */
  json_object_object_add(p, "api_key", json_object_new_string(key1));
  run_auth(&f, "conntest.noneconn", "open2", NULL, p, &r);
  assert_int_equal(r.status, WFC_EVALIDATION);
  assert_non_null(strstr(r.message, "unknown field \"api_key\""));
  op_res_clear(&r);
  json_object_put(p);
  /* Its token service works as a browser type's. */
  memset(&r, 0, sizeof r);
  assert_int_equal(wfc_connmgr_refresh(f.m, "open", op_res_cb, &r), 0);
  fx_run_until(&f, &r.done);
  assert_int_equal(r.status, 0);
  op_res_clear(&r);
  fx_down(&f);
}

static void what_each_flow_requires(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  op_res r;
  memset(&r, 0, sizeof r);
  /* A browser flow has a URL to hand over: on_url is required. */
  wfc_authorize_req req = {.size = sizeof req,
                           .conn_type = "conntest.tokenconn",
                           .nickname = "b",
                           .on_done = op_res_cb,
                           .arg = &r};
  assert_int_equal(wfc_connmgr_authorize(f.m, &req), WFC_EINVAL);
  /* A form needs none. */
  json_object *p = form_params(&f, key1);
  req.conn_type = "conntest.formconn";
  req.params = p;
  assert_int_equal(wfc_connmgr_authorize(f.m, &req), 0);
  fx_run_until(&f, &r.done);
  assert_string_equal(r.outcome, "connected");
  op_res_clear(&r);
  json_object_put(p);
  /* No admin consent without a browser. */
  req = (wfc_authorize_req){.size = sizeof req,
                            .reauthorize = "b",
                            .admin_consent = 1,
                            .on_done = op_res_cb,
                            .arg = &r};
  assert_int_equal(wfc_connmgr_authorize(f.m, &req), 0);
  fx_run_until(&f, &r.done);
  assert_int_equal(r.status, WFC_ENOTSUP);
  assert_non_null(strstr(r.message, "flow is form"));
  op_res_clear(&r);
  /* The types say their flow. */
  const wfc_conn_type_desc *ct;
  assert_int_equal(
      wfc_runtime_find_conn_type(f.rt, "conntest.formconn", NULL, &ct), 0);
  assert_int_equal(ct->flow, WFC_FLOW_FORM);
  assert_null(ct->authorize_begin);
  json_object *j = wfc_conn_type_to_json(ct);
  assert_string_equal(sget(j, "flow"), "form");
  json_object_put(j);
  assert_int_equal(
      wfc_runtime_find_conn_type(f.rt, "conntest.noneconn", NULL, &ct), 0);
  assert_string_equal(wfc_conn_flow_name(ct->flow), "none");
  assert_int_equal(
      wfc_runtime_find_conn_type(f.rt, "conntest.tokenconn", NULL, &ct), 0);
  assert_string_equal(wfc_conn_flow_name(ct->flow), "browser");
  fx_down(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(form_connects_and_seals),
      cmocka_unit_test(form_refused_key_stores_nothing),
      cmocka_unit_test(form_validates_params_and_secrets_together),
      cmocka_unit_test(form_reauthorize_keeps_or_replaces_key),
      cmocka_unit_test(none_flow),
      cmocka_unit_test(what_each_flow_requires),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
