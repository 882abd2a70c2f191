/* conn_util.h - fixtures shared by the tests of tests/conn: a runtime with
 * the conntest plugin, a scripted token endpoint (ts_server), a manager on a
 * fresh store in a temporary directory, and a "browser" thread that GETs
 * the redirect. */
#ifndef CONN_UTIL_H
#define CONN_UTIL_H

#include <pthread.h>
#include <stddef.h>

#include <json-c/json.h>
#include <uv.h>

#include "ts_server.h"
#include "wfc/connections.h"
#include "wfc/host.h"

typedef struct fx {
  char dir[128];
  char store[192];
  uv_loop_t loop;
  wfc_runtime *rt;
  ts_server *srv;
  wfc_connmgr *m;
} fx;

/* Everything up; token endpoint with /token answering at-1/rt-1 (canary
 * values) and /me, /revoke answering 200. Asserts on failure. */
void fx_up(fx *f);
/* The same with the store in a temporary directory under base (fx_up:
 * "/tmp"); e.g. "/dev/shm" for a test that writes thousands of rows in
 * its setup, each commit an fsync. */
void fx_up_in(fx *f, const char *base);
void fx_down(fx *f);
/* A manager on the same store (closes the current one first). */
void fx_reopen(fx *f);

/* POST /token answers body with status (later routes win). */
void fx_token_route(fx *f, unsigned status, const char *body,
                    unsigned delay_ms);
uint64_t fx_requests(fx *f);

/* Runs the loop until *flag is set (asserts it is, within 20 s). */
void fx_run_until(fx *f, const int *flag);

/* The result of an operation, copied. */
typedef struct op_res {
  int done;
  int status;
  char message[512];
  char outcome[64];
  char remedy[512];
  json_object *conn;   /* owned */
  json_object *detail; /* owned */
} op_res;
void op_res_cb(void *arg, const wfc_connmgr_result *r);
void op_res_clear(op_res *r);

/* Authorizes: the browser thread GETs "<redirect_uri>?<query>" once the
 * URL is known. reauth: name to reauthorize, or NULL for a new nickname.
 * Returns the HTTP status the browser saw in *page_status (may be NULL). */
void fx_authorize(fx *f, const char *nickname, const char *reauth,
                  const char *query, op_res *res, long *page_status, char *page,
                  size_t pagelen);

/* Browser: GET url on a thread. */
typedef struct browser {
  pthread_t th;
  char url[2048];
  const char *method; /* NULL: GET */
  long status;
  char body[4096];
} browser;
void browser_start(browser *b, const char *url);
void browser_join(browser *b);

/* The redirect_uri in a conntest authorize URL, into out. */
void redirect_of(const char *url, char *out, size_t len);
/* The URL the authorization server would redirect to for the conntest
 * authorize URL url: <redirect_uri>?<query>&state=<url's state>. */
void callback_of(const char *url, const char *query, char *out, size_t len);

/* The fixture of the `wfc connection` CLI tests (real build/bin/wfc
 * processes): a temporary directory "/tmp/<prefix>-XXXXXX" holding the
 * store, the conntest plugin directory, the wfc binary, and a token
 * endpoint whose POST /token answers token_json (borrowed; JSON) and GET
 * /me, POST /revoke 200. Asserts on failure; cli_fx_down stops the
 * endpoint and removes the directory. */
typedef struct cli_fx {
  char dir[128], store[192], plugin_dir[512], wfc_bin[512];
  ts_server *srv;
} cli_fx;
void cli_fx_up(cli_fx *f, const char *prefix, const char *token_json);
void cli_fx_down(cli_fx *f);

/* 1 when any of path, path-wal, path-shm contains needle. */
int store_files_contain(const char *path, const char *needle);

#endif
