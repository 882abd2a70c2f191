/* conn_util.c - see conn_util.h. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, mkdtemp */
#include "conn_util.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "tclient.h"
#include "tsys.h"

static const char *plugin_dir(void) {
  const char *d = getenv("WFC_CONN_PLUGIN_DIR");
  return d ? d : WFC_BUILD_DIR "/tests/conn-plugins";
}

static const char *const json_hdr[] = {"Content-Type: application/json", NULL};

void fx_token_route(fx *f, unsigned status, const char *body,
                    unsigned delay_ms) {
  ts_route r = {.method = "POST",
                .path = "/token",
                .status = status,
                .headers = json_hdr,
                .body = body,
                .delay_ms = delay_ms};
  assert_int_equal(ts_server_route(f->srv, &r), 0);
}

uint64_t fx_requests(fx *f) {
  ts_stats s;
  ts_server_stats(f->srv, &s);
  return s.requests;
}

static void open_mgr(fx *f) {
  wfc_connmgr_opts o = {
      .size = sizeof o, .store_path = f->store, .redirect_timeout_ms = 20000};
  char err[512];
  int rc = wfc_connmgr_open(f->rt, &o, &f->m, err, sizeof err);
  if (rc != 0)
    fail_msg("wfc_connmgr_open: %s", err);
}

void fx_up(fx *f) {
  fx_up_in(f, "/tmp");
}

void fx_up_in(fx *f, const char *base) {
  memset(f, 0, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "%s/wfc-conn-XXXXXX", base);
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->store, sizeof f->store, "%s/store.db", f->dir);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(wfc_runtime_new(&f->loop, NULL, &f->rt), 0);
  char path[512], err[512];
  snprintf(path, sizeof path, "%s/wfc-conntest.so", plugin_dir());
  if (wfc_runtime_load(f->rt, path, NULL, err, sizeof err) != 0)
    fail_msg("load: %s", err);
  assert_int_equal(ts_server_start(NULL, &f->srv), 0);
  fx_token_route(f, 200,
                 "{\"access_token\":\"at-1-canary-7f3a\",\"refresh_token\":"
                 "\"rt-1-canary-7f3a\",\"expires_in\":3600}",
                 0);
  ts_route me = {.method = "GET", .path = "/me", .body = "{\"me\":1}"};
  ts_route rv = {.method = "POST", .path = "/revoke", .body = "{}"};
  assert_int_equal(ts_server_route(f->srv, &me), 0);
  assert_int_equal(ts_server_route(f->srv, &rv), 0);
  open_mgr(f);
}

static void set_flag(void *arg) {
  *(int *)arg = 1;
}

static void close_mgr(fx *f) {
  if (f->m == NULL)
    return;
  int closed = 0;
  wfc_connmgr_close(f->m, set_flag, &closed);
  fx_run_until(f, &closed);
  f->m = NULL;
}

void fx_reopen(fx *f) {
  close_mgr(f);
  open_mgr(f);
}

void fx_down(fx *f) {
  close_mgr(f);
  int closed = 0;
  wfc_runtime_close(f->rt, set_flag, &closed);
  fx_run_until(f, &closed);
  uv_run(&f->loop, UV_RUN_DEFAULT);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  ts_server_stop(f->srv);
  assert_int_equal(tsys_rm_rf(f->dir), 0);
  curl_global_cleanup();
}

void fx_run_until(fx *f, const int *flag) {
  uint64_t start = uv_hrtime();
  while (!*flag) {
    uv_run(&f->loop, UV_RUN_ONCE);
    if (uv_hrtime() - start > 20000000000ull)
      fail_msg("timed out waiting on the loop");
  }
}

void op_res_cb(void *arg, const wfc_connmgr_result *r) {
  op_res *o = arg;
  o->done = 1;
  o->status = r->status;
  snprintf(o->message, sizeof o->message, "%s", r->message ? r->message : "");
  snprintf(o->outcome, sizeof o->outcome, "%s", r->outcome ? r->outcome : "");
  snprintf(o->remedy, sizeof o->remedy, "%s", r->remedy ? r->remedy : "");
  o->conn = r->connection ? json_object_get(r->connection) : NULL;
  o->detail = r->detail ? json_object_get(r->detail) : NULL;
}

void op_res_clear(op_res *r) {
  json_object_put(r->conn);
  json_object_put(r->detail);
  memset(r, 0, sizeof *r);
}

static void *browser_main(void *arg) {
  browser *b = arg;
  tclient *c = tclient_new(0);
  tresp r;
  tclient_request(c, b->method ? b->method : "GET", b->url, NULL, NULL, &r);
  b->status = r.status;
  snprintf(b->body, sizeof b->body, "%s", r.body ? r.body : "");
  tresp_free(&r);
  tclient_free(c);
  return NULL;
}

void browser_start(browser *b, const char *url) {
  snprintf(b->url, sizeof b->url, "%s", url);
  b->status = 0;
  assert_int_equal(pthread_create(&b->th, NULL, browser_main, b), 0);
}

void browser_join(browser *b) {
  pthread_join(b->th, NULL);
}

void redirect_of(const char *url, char *out, size_t len) {
  const char *p = strstr(url, "redirect_uri=");
  assert_non_null(p);
  snprintf(out, len, "%s", p + strlen("redirect_uri="));
}

void callback_of(const char *url, const char *query, char *out, size_t len) {
  char uri[512];
  redirect_of(url, uri, sizeof uri);
  char *state = tclient_url_param(url, "state");
  assert_non_null(state);
  snprintf(out, len, "%s?%s%sstate=%s", uri, query, *query ? "&" : "", state);
  free(state);
}

typedef struct auth_ctx {
  browser b;
  const char *query;
  int started;
  op_res *res;
} auth_ctx;

static void on_url(void *arg, const char *url) {
  auth_ctx *a = arg;
  char full[2048];
  callback_of(url, a->query, full, sizeof full);
  browser_start(&a->b, full);
  a->started = 1;
}

static void auth_done(void *arg, const wfc_connmgr_result *r) {
  op_res_cb(((auth_ctx *)arg)->res, r);
}

void fx_authorize(fx *f, const char *nickname, const char *reauth,
                  const char *query, op_res *res, long *page_status, char *page,
                  size_t pagelen) {
  struct {
    auth_ctx a;
  } ctx;
  memset(&ctx, 0, sizeof ctx);
  ctx.a.query = query;
  ctx.a.res = res;
  json_object *params = json_object_new_object();
  json_object_object_add(params, "token_url",
                         json_object_new_string(ts_server_url(f->srv)));
  json_object_object_add(params, "client_secret",
                         json_object_new_string("cs-canary-7f3a"));
  wfc_authorize_req req = {.size = sizeof req,
                           .conn_type = "conntest.tokenconn",
                           .nickname = nickname,
                           .reauthorize = reauth,
                           .environment = "production",
                           .params = reauth ? NULL : params,
                           .on_url = on_url,
                           .on_done = auth_done,
                           .arg = &ctx};
  memset(res, 0, sizeof *res);
  assert_int_equal(wfc_connmgr_authorize(f->m, &req), 0);
  json_object_put(params);
  fx_run_until(f, &res->done);
  if (ctx.a.started)
    browser_join(&ctx.a.b);
  if (page_status != NULL)
    *page_status = ctx.a.b.status;
  if (page != NULL)
    snprintf(page, pagelen, "%s", ctx.a.b.body);
}

static int file_contains(const char *path, const char *needle) {
  FILE *fp = fopen(path, "rb");
  if (fp == NULL)
    return 0;
  size_t n = strlen(needle), cap = 1 << 20, len;
  char *buf = malloc(cap);
  int found = 0;
  size_t keep = 0;
  while ((len = fread(buf + keep, 1, cap - keep, fp)) > 0) {
    len += keep;
    for (size_t i = 0; i + n <= len && !found; i++)
      if (memcmp(buf + i, needle, n) == 0)
        found = 1;
    keep = n - 1 < len ? n - 1 : len;
    memmove(buf, buf + len - keep, keep);
  }
  free(buf);
  fclose(fp);
  return found;
}

int store_files_contain(const char *path, const char *needle) {
  char p[512];
  const char *suffix[] = {"", "-wal", "-shm"};
  for (int i = 0; i < 3; i++) {
    snprintf(p, sizeof p, "%s%s", path, suffix[i]);
    if (file_contains(p, needle))
      return 1;
  }
  return 0;
}

void cli_fx_up(cli_fx *f, const char *prefix, const char *token_json) {
  snprintf(f->dir, sizeof f->dir, "/tmp/%s-XXXXXX", prefix);
  assert_non_null(mkdtemp(f->dir));
  snprintf(f->store, sizeof f->store, "%s/store.db", f->dir);
  snprintf(f->plugin_dir, sizeof f->plugin_dir, "%s", plugin_dir());
  snprintf(f->wfc_bin, sizeof f->wfc_bin, "%s/bin/wfc", WFC_BUILD_DIR);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  assert_int_equal(ts_server_start(NULL, &f->srv), 0);
  ts_route tok = {.method = "POST",
                  .path = "/token",
                  .headers = json_hdr,
                  .body = token_json};
  ts_route me = {.method = "GET", .path = "/me", .body = "{\"me\":1}"};
  ts_route rv = {.method = "POST", .path = "/revoke", .body = "{}"};
  ts_server_route(f->srv, &tok);
  ts_server_route(f->srv, &me);
  ts_server_route(f->srv, &rv);
}

void cli_fx_down(cli_fx *f) {
  ts_server_stop(f->srv);
  assert_int_equal(tsys_rm_rf(f->dir), 0);
  curl_global_cleanup();
}
