/* test_cli.c - `wfc connection ...` and `wfc card run` end to end: the test
 * plays the browser (GETs the redirect printed by --print-url) and the
 * token endpoint (ts_server), and checks the words, the JSON, the exit
 * codes, and that no token ever reaches the output or the store in clear. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "conn_util.h"
#include "tclient.h"
#include "wfc_proc.h"

static cli_fx cx;
static const char *other_plugin_dir; /* instead of the conntest one */

typedef wproc proc;

/* o[k] as a string (borrowed), NULL when absent. */
static const char *sget(json_object *o, const char *k) {
  json_object *v = NULL;
  return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static void spawn(proc *p, const char *const *args) {
  wproc_spawn(p, cx.wfc_bin, args, cx.store,
              other_plugin_dir ? other_plugin_dir : cx.plugin_dir);
}

static int finish(proc *p) {
  wproc_wait(p);
  /* Tokens and the client secret never reach the output. */
  assert_null(strstr(p->stdout_, "canary"));
  assert_null(strstr(p->stderr_, "canary"));
  return p->code;
}

static int wfc(proc *p, const char *const *args) {
  spawn(p, args);
  return finish(p);
}

/* Runs an authorizing command; the "browser" GETs the redirect with query.
 * Returns the exit code; *page the status the browser got. */
static int authorize(proc *p, const char *const *args, const char *query,
                     long *page) {
  spawn(p, args);
  char url[2048], full[2048];
  wproc_read_line(p, url, sizeof url); /* the URL, from --print-url */
  assert_true(
      strncmp(url, ts_server_url(cx.srv), strlen(ts_server_url(cx.srv))) == 0);
  callback_of(url, query, full, sizeof full);
  tclient *c = tclient_new(0);
  tresp r;
  tclient_request(c, "GET", full, NULL, NULL, &r);
  if (page != NULL)
    *page = r.status;
  tresp_free(&r);
  tclient_free(c);
  return finish(p);
}

static int setup(void **state) {
  (void)state;
  cli_fx_up(&cx, "wfc-conncli",
            "{\"access_token\":\"at-1-canary-cli\","
            "\"refresh_token\":\"rt-1-canary-cli\","
            "\"expires_in\":3600}");
  return 0;
}

static int teardown(void **state) {
  (void)state;
  cli_fx_down(&cx);
  return 0;
}

static void lifecycle(void **state) {
  (void)state;
  proc p;
  char param[256];
  snprintf(param, sizeof param, "token_url=%s", ts_server_url(cx.srv));
  long page = 0;
  /* The browser type's secret param from a file only its owner reads
   * (never from --param: tests/conn/test_cli_secrets.c). */
  char cs_file[256], cs_arg[300];
  snprintf(cs_file, sizeof cs_file, "%s/client_secret", cx.dir);
  FILE *fp = fopen(cs_file, "w");
  assert_non_null(fp);
  fputs("cs-canary-x\n", fp);
  fclose(fp);
  assert_int_equal(chmod(cs_file, 0600), 0);
  snprintf(cs_arg, sizeof cs_arg, "client_secret=%s", cs_file);
  const char *const new_args[] = {
      "connection",    "new",   "--plugin",    "conntest", "--nickname",
      "work",          "--env", "preview",     "--param",  param,
      "--secret-file", cs_arg,  "--print-url", NULL};
  assert_int_equal(authorize(&p, new_args, "code=abc", &page), 0);
  assert_int_equal(page, 200);
  assert_non_null(
      strstr(p.stdout_, "connected: \"work\" as user@conntest.example"));

  /* Same nickname again: refused with what to do instead. */
  assert_int_equal(wfc(&p, new_args), 1);
  assert_non_null(strstr(p.stderr_, "exists already"));
  assert_non_null(strstr(p.stderr_, "reauthorize"));

  const char *const list_args[] = {"connection", "list", "--json", NULL};
  assert_int_equal(wfc(&p, list_args), 0);
  json_object *arr = json_tokener_parse(p.stdout_);
  assert_int_equal(json_object_array_length(arr), 1);
  json_object *c0 = json_object_array_get_idx(arr, 0);
  assert_string_equal(sget(c0, "state"), "connected");
  assert_string_equal(sget(c0, "environment"), "preview");
  char id[64];
  snprintf(id, sizeof id, "%s", sget(c0, "id"));
  json_object_put(arr);
  const char *const list_text[] = {"connection", "list", NULL};
  assert_int_equal(wfc(&p, list_text), 0);
  assert_non_null(strstr(p.stdout_, "work"));
  const char *const show_args[] = {"connection", "show", "work", NULL};
  assert_int_equal(wfc(&p, show_args), 0);
  assert_non_null(strstr(p.stdout_, id));

  /* Cards with the connection. */
  const char *const run_args[] = {"card",         "run",    "conntest.whoami",
                                  "--connection", "work",   "--input",
                                  "{}",           "--json", NULL};
  assert_int_equal(wfc(&p, run_args), 0);
  json_object *out = json_tokener_parse(p.stdout_);
  assert_non_null(out);
  assert_int_equal(json_object_get_int(json_object_object_get(out, "status")),
                   200);
  json_object_put(out);
  const char *const items_args[] = {"card",          "run",    "conntest.items",
                                    "--connection",  "work",   "--input",
                                    "{\"count\":3}", "--json", NULL};
  assert_int_equal(wfc(&p, items_args), 0);
  assert_non_null(strstr(p.stdout_, "{\"n\":0}\n{\"n\":1}\n{\"n\":2}\n"));
  assert_non_null(strstr(p.stdout_, "\"emitted\":3"));
  const char *const bad_input[] = {"card",         "run",  "conntest.items",
                                   "--connection", "work", "--input",
                                   "{\"count\":",  NULL};
  assert_int_equal(wfc(&p, bad_input), 1);
  assert_non_null(strstr(p.stderr_, "--input: malformed JSON at byte 9"));
  const char *const no_conn[] = {"card", "run", "conntest.items", NULL};
  assert_int_equal(wfc(&p, no_conn), 1);
  assert_non_null(strstr(p.stderr_, "needs a connection"));

  const char *const test_args[] = {"connection", "test", "work", NULL};
  assert_int_equal(wfc(&p, test_args), 0);
  assert_non_null(strstr(p.stdout_, "healthy \"work\""));
  ts_server_reset_stats(cx.srv);
  const char *const refresh_args[] = {"connection", "refresh", "work", NULL};
  assert_int_equal(wfc(&p, refresh_args), 0);
  assert_non_null(strstr(p.stdout_, "refreshed \"work\""));
  ts_stats st;
  ts_server_stats(cx.srv, &st);
  assert_int_equal(st.requests, 1);

  /* Reauthorize: same id. */
  const char *const reauth_args[] = {"connection",  "reauthorize", "work",
                                     "--print-url", "--json",      "--prompt",
                                     "consent",     NULL};
  assert_int_equal(authorize(&p, reauth_args, "code=again", NULL), 0);
  assert_non_null(strstr(p.stdout_, "/authorize?prompt=consent&"));
  json_object *res = json_tokener_parse(strchr(p.stdout_, '\n') + 1);
  assert_non_null(res);
  json_object *conn = json_object_object_get(res, "connection");
  assert_string_equal(sget(conn, "id"), id);
  assert_string_equal(sget(res, "outcome"), "connected");
  json_object_put(res);

  /* Revoke: wiped, and cards then fail with the remedy. */
  const char *const revoke_args[] = {"connection", "revoke", "work", NULL};
  assert_int_equal(wfc(&p, revoke_args), 0);
  assert_non_null(strstr(p.stdout_, "revoked \"work\": secrets wiped"));
  assert_false(store_files_contain(cx.store, "at-1-canary-cli"));
  assert_false(store_files_contain(cx.store, "rt-1-canary-cli"));
  assert_false(store_files_contain(cx.store, "cs-canary-x"));
  assert_int_equal(wfc(&p, run_args), 1);
  assert_non_null(strstr(p.stderr_, "revoked"));
  assert_non_null(strstr(p.stderr_, "authorize it again"));

  const char *const delete_args[] = {"connection", "delete", "work", NULL};
  assert_int_equal(wfc(&p, delete_args), 0);
  assert_int_equal(wfc(&p, show_args), 1);
  assert_non_null(strstr(p.stderr_, "no connection \"work\""));
}

static void consent_outcome_in_words(void **state) {
  (void)state;
  proc p;
  char param[256];
  snprintf(param, sizeof param, "token_url=%s", ts_server_url(cx.srv));
  const char *const args[] = {"connection",  "new",    "--plugin", "conntest",
                              "--nickname",  "shared", "--param",  param,
                              "--print-url", NULL};
  long page = 0;
  assert_int_equal(authorize(&p, args, "error=consent_required", &page), 1);
  assert_int_equal(page, 400);
  assert_non_null(strstr(p.stdout_,
                         "needs admin approval: ask an administrator to grant "
                         "consent at https://admin.conntest.example/consent"));
  const char *const list_args[] = {"connection", "list", NULL};
  assert_int_equal(wfc(&p, list_args), 0);
  assert_non_null(strstr(p.stdout_, "needs_admin_approval"));
  assert_non_null(strstr(p.stdout_, "-> ask an administrator"));
  /* Its token requests fail fast with the remedy. */
  const char *const run_args[] = {"card",         "run",    "conntest.whoami",
                                  "--connection", "shared", NULL};
  assert_int_equal(wfc(&p, run_args), 1);
  assert_non_null(strstr(p.stderr_, "ask an administrator"));
}

/* Command lines refused with the exit code and, when there is one, the
 * words stderr must have. */
typedef struct usage_case {
  const char *const *args;
  int code;
  const char *says; /* or NULL */
} usage_case;

static void usage_errors(void **state) {
  (void)state;
  static const char *const no_plugin[] = {"connection", "new", "--nickname",
                                          "x", NULL};
  static const char *const no_name[] = {"connection", "show", NULL};
  static const char *const no_verb[] = {"connection", "frobnicate", "x", NULL};
  static const char *const bad_param[] = {
      "connection", "new",     "--plugin", "conntest", "--nickname",
      "x",          "--param", "novalue",  NULL};
  static const char *const no_type[] = {
      "connection", "new", "--plugin", "nosuch", "--nickname", "x", NULL};
  static const usage_case cases[] = {
      {no_plugin, 2, "--plugin is required"},
      {no_name, 2, NULL},
      {no_verb, 2, NULL},
      {bad_param, 2, "key=value"},
      {no_type, 1, "no connection type of plugin nosuch"},
      /* and where it looked, so a wrong plugin folder shows */
      {no_type, 1, "(plugins searched in "},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    proc p;
    assert_int_equal(wfc(&p, cases[i].args), cases[i].code);
    if (cases[i].says != NULL)
      assert_non_null(strstr(p.stderr_, cases[i].says));
  }
}

/* card run gives cards a blob store beside the connection store. */
static void card_run_with_blobs(void **state) {
  (void)state;
  char plugins[512];
  snprintf(plugins, sizeof plugins, "%s/plugins", WFC_BUILD_DIR);
  other_plugin_dir = plugins;
  proc p;
  const char *const args[] = {
      "card",   "run", "testplugin.mkblob", "--input", "{\"size\":1000}",
      "--json", NULL};
  int code = wfc(&p, args);
  other_plugin_dir = NULL;
  assert_int_equal(code, 0);
  json_object *out = json_tokener_parse(p.stdout_), *blob, *v;
  assert_true(json_object_object_get_ex(out, "blob", &blob));
  assert_true(json_object_object_get_ex(blob, "size", &v));
  assert_int_equal(json_object_get_int(v), 1000);
  assert_true(json_object_object_get_ex(blob, "id", &v));
  char path[512];
  snprintf(path, sizeof path, "%s/blobs/%s", cx.dir, json_object_get_string(v));
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_size, 1000);
  json_object_put(out);
}

/* The words a person meets when a connection needs them: a refresh with
 * no expiry says so (before: "token valid until " and nothing); a refresh
 * the provider refuses, and a revoked connection, name the command that
 * fixes them, in `connection show` / `list` too; with --json the failure
 * is one {"error":{...}} object on stdout. */
static void messages_name_the_command(void **state) {
  (void)state;
  proc p;
  char param[256];
  snprintf(param, sizeof param, "token_url=%s", ts_server_url(cx.srv));
  const char *const new_args[] = {"connection",  "new", "--plugin", "conntest",
                                  "--nickname",  "msg", "--param",  param,
                                  "--print-url", NULL};
  assert_int_equal(authorize(&p, new_args, "code=m", NULL), 0);

  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  ts_route noexp = {.method = "POST",
                    .path = "/token",
                    .headers = hdr,
                    .body = "{\"access_token\":\"at-2-canary-cli\","
                            "\"refresh_token\":\"rt-2-canary-cli\","
                            "\"expires_in\":0}"};
  ts_server_route(cx.srv, &noexp);
  const char *const refresh_args[] = {"connection", "refresh", "msg", NULL};
  assert_int_equal(wfc(&p, refresh_args), 0);
  assert_null(strstr(p.stdout_, "valid until \n"));
  assert_non_null(strstr(p.stdout_, "refreshed \"msg\": connected, the token "
                                    "has no stated expiry"));

  ts_route refused = {.method = "POST",
                      .path = "/token",
                      .status = 400,
                      .headers = hdr,
                      .body = "{\"error\":\"invalid_grant\","
                              "\"error_description\":\"The provider "
                              "refused to renew the sign-in.\"}"};
  ts_server_route(cx.srv, &refused);
  assert_int_equal(wfc(&p, refresh_args), 1);
  assert_non_null(strstr(p.stderr_, "The provider refused to renew the "
                                    "sign-in. Run `wfc connection "
                                    "reauthorize msg`"));
  const char *const show_args[] = {"connection", "show", "msg", NULL};
  assert_int_equal(wfc(&p, show_args), 0);
  assert_non_null(strstr(p.stdout_, "Run `wfc connection reauthorize msg`"));
  const char *const list_args[] = {"connection", "list", NULL};
  assert_int_equal(wfc(&p, list_args), 0);
  assert_non_null(strstr(p.stdout_, "Run `wfc connection reauthorize msg`"));
  /* A card on it: the same command. */
  const char *const run_args[] = {"card",         "run", "conntest.whoami",
                                  "--connection", "msg", NULL};
  assert_int_equal(wfc(&p, run_args), 1);
  assert_non_null(strstr(p.stderr_, "Run `wfc connection reauthorize msg`"));
  /* --json: one error object on stdout, the remedy with the command. */
  const char *const refresh_json[] = {"connection", "refresh", "msg", "--json",
                                      NULL};
  assert_int_equal(wfc(&p, refresh_json), 1);
  json_object *o = json_tokener_parse(p.stdout_), *e, *v;
  assert_non_null(o);
  assert_true(json_object_object_get_ex(o, "error", &e));
  assert_true(json_object_object_get_ex(e, "code", &v));
  assert_string_equal(json_object_get_string(v), "EREAUTH");
  assert_true(json_object_object_get_ex(e, "remedy", &v));
  assert_non_null(
      strstr(json_object_get_string(v), "`wfc connection reauthorize msg`"));
  json_object_put(o);

  /* Revoked: the card names the command. */
  const char *const revoke_args[] = {"connection", "revoke", "msg", NULL};
  assert_int_equal(wfc(&p, revoke_args), 0);
  assert_int_equal(wfc(&p, run_args), 1);
  assert_non_null(strstr(p.stderr_, "is revoked"));
  assert_non_null(strstr(p.stderr_, "Run `wfc connection reauthorize msg`"));

  /* The usual answers again for the tests after this one. */
  ts_route tok = {.method = "POST",
                  .path = "/token",
                  .headers = hdr,
                  .body = "{\"access_token\":\"at-1-canary-cli\","
                          "\"refresh_token\":\"rt-1-canary-cli\","
                          "\"expires_in\":3600}"};
  ts_server_route(cx.srv, &tok);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(lifecycle),
      cmocka_unit_test(consent_outcome_in_words),
      cmocka_unit_test(usage_errors),
      cmocka_unit_test(card_run_with_blobs),
      cmocka_unit_test(messages_name_the_command),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
