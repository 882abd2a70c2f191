/* test_host_services.c - what a host embedding the runtime gets besides
 * cards (docs/hosts.md), through the public headers only, with the real
 * wfc-hostsvc.so (hostsvc_plugin.c) and the real `wfc`:
 *   - the log sink and level: records with their module (the SDK's "wfc",
 *     a plugin's name), redacted before the sink sees them;
 *   - plugin settings given by the host, before and after load, each
 *     plugin reading only its own, bad ones refused with their name;
 *   - one runtime per process: the second refused with words, also when
 *     threads race for it;
 *   - wfc_runtime_shutdown: a connection manager left open and a call in
 *     flight closed in order, plugins shut down, done reported, loop empty;
 *   - the blob store default: the runtime and `wfc blob` agree;
 *   - `wfc --setting` / `--settings` read by o365mail before its
 *     environment, and bad ones refused by every command alike, also
 *     those that open no runtime. */
#define _GNU_SOURCE /* <uv.h>, mkdtemp, setenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <uv.h>

#include "abi_util.h"
#include "wfc/blobs.h"
#include "wfc/connections.h"
#include "wfc/host.h"
#include "wfc_proc.h"

#define SECRET "hs-Secret-0123456789abcdef"

/* ---- captured records ---------------------------------------------------- */

typedef struct rec {
  int level;
  char module[32];
  char message[512];
} rec;

static struct {
  pthread_mutex_t mu;
  rec r[256];
  int n;
} cap = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0};

static void sink(void *arg, int level, const char *module,
                 const char *message) {
  (void)arg;
  pthread_mutex_lock(&cap.mu);
  if (cap.n < 256) {
    rec *r = &cap.r[cap.n++];
    r->level = level;
    snprintf(r->module, sizeof r->module, "%s", module);
    snprintf(r->message, sizeof r->message, "%s", message);
  }
  pthread_mutex_unlock(&cap.mu);
}

static void cap_reset(void) {
  pthread_mutex_lock(&cap.mu);
  cap.n = 0;
  pthread_mutex_unlock(&cap.mu);
}

/* Index of the first record of module containing text, or -1. */
static int cap_find(const char *module, const char *text) {
  int at = -1;
  pthread_mutex_lock(&cap.mu);
  for (int i = 0; i < cap.n && at < 0; i++)
    if ((module == NULL || strcmp(cap.r[i].module, module) == 0) &&
        strstr(cap.r[i].message, text) != NULL)
      at = i;
  pthread_mutex_unlock(&cap.mu);
  return at;
}

/* ---- a runtime with the hostsvc plugin ----------------------------------- */

typedef struct fx {
  uv_loop_t loop;
  wfc_runtime *rt;
  int closed;
} fx;

static const char *hostsvc_path(void) {
  static char buf[4096];
  snprintf(buf, sizeof buf, "%s/wfc-hostsvc.so", getenv("WFC_HOSTSVC_DIR"));
  return buf;
}

static void fx_up(fx *f) {
  memset(f, 0, sizeof *f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  assert_int_equal(wfc_runtime_new(&f->loop, NULL, &f->rt), 0);
}

static void load_hostsvc(fx *f) {
  char err[1024] = "";
  if (wfc_runtime_load(f->rt, hostsvc_path(), NULL, err, sizeof err) != 0)
    fail_msg("%s", err);
}

static void on_closed(void *arg) {
  ((fx *)arg)->closed++;
}

static void fx_down(fx *f) {
  wfc_runtime_shutdown(f->rt, on_closed, f);
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(f->closed, 1);
  assert_int_equal(uv_loop_close(&f->loop), 0);
}

typedef struct outcome {
  int done, status;
  json_object *output;
} outcome;

static void on_done(void *arg, wfc_call *call, const wfc_outcome *o) {
  outcome *r = arg;
  (void)call;
  r->done++;
  r->status = o->status;
  r->output = o->output ? json_object_get(o->output) : NULL;
}

/* Runs card with input (JSON text) to completion; the outcome's output is
 * the caller's (json_object_put). */
static outcome run_card(fx *f, const char *card, const char *input) {
  outcome r = {0, 0, NULL};
  json_object *in = json_tokener_parse(input);
  wfc_invoke how = {.size = sizeof how, .on_done = on_done, .arg = &r};
  assert_int_equal(wfc_runtime_invoke(f->rt, card, in, &how, NULL), 0);
  json_object_put(in);
  while (!r.done)
    uv_run(&f->loop, UV_RUN_ONCE);
  return r;
}

/* ---- the log sink and level ---------------------------------------------- */

static void test_log_sink(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  cap_reset();
  wfc_runtime_set_log_sink(f.rt, sink, NULL);
  wfc_runtime_set_log_level(f.rt, WFC_LOG_INFO);
  assert_int_equal(wfc_runtime_log_level(f.rt), WFC_LOG_INFO);
  load_hostsvc(&f);
  /* The SDK's own record, and the plugin's from its init(). */
  int sdk = cap_find("wfc", "loaded plugin hostsvc");
  assert_true(sdk >= 0);
  assert_int_equal(cap.r[sdk].level, WFC_LOG_INFO);
  assert_true(cap_find("hostsvc", "hostsvc: init") >= 0);

  /* A secret the plugin registers never reaches the sink, also not in the
   * record that registers it. */
  outcome r = run_card(&f, "hostsvc.log",
                       "{\"message\": \"sending with " SECRET " now\", "
                       "\"secret\": \"" SECRET "\"}");
  assert_int_equal(r.status, 0);
  json_object_put(r.output);
  int at = cap_find("hostsvc", "sending with");
  assert_true(at >= 0);
  assert_int_equal(cap.r[at].level, WFC_LOG_WARN);
  assert_string_equal(cap.r[at].message, "sending with [REDACTED] now");
  /* and the credential patterns, for a value never registered */
  r = run_card(&f, "hostsvc.log",
               "{\"message\": \"Authorization: Bearer abcdEFGH.1234\"}");
  json_object_put(r.output);
  assert_true(cap_find("hostsvc", "Bearer [REDACTED]") >= 0);
  assert_int_equal(cap_find(NULL, SECRET), -1);
  assert_int_equal(cap_find(NULL, "abcdEFGH"), -1);

  /* The level, set at run time: WARN records dropped at ERROR. */
  wfc_runtime_set_log_level(f.rt, WFC_LOG_ERROR);
  r = run_card(&f, "hostsvc.log", "{\"message\": \"quiet please\"}");
  json_object_put(r.output);
  assert_int_equal(cap_find(NULL, "quiet please"), -1);
  wfc_runtime_set_log_level(f.rt, WFC_LOG_WARN);
  r = run_card(&f, "hostsvc.log", "{\"message\": \"loud again\"}");
  json_object_put(r.output);
  assert_true(cap_find("hostsvc", "loud again") >= 0);

  /* The plugin's shutdown() logs under its name, inside the shutdown. */
  fx_down(&f);
  assert_true(cap_find("hostsvc", "hostsvc: shutdown") >= 0);
}

/* ---- plugin settings ------------------------------------------------------
 */

static char *setting_of(fx *f, const char *key, char **at_init) {
  char in[256];
  snprintf(in, sizeof in, "{\"key\": \"%s\"}", key);
  outcome r = run_card(f, "hostsvc.setting", in);
  assert_int_equal(r.status, 0);
  json_object *v = json_object_object_get(r.output, "value");
  json_object *i = json_object_object_get(r.output, "at_init");
  char *out = v ? strdup(json_object_get_string(v)) : NULL;
  if (at_init != NULL)
    *at_init = i ? strdup(json_object_get_string(i)) : NULL;
  json_object_put(r.output);
  return out;
}

static void test_settings(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  char err[512];
  /* Before load: init() reads them. Numbers and booleans as text. */
  json_object *set = json_tokener_parse(
      "{\"greeting\": \"hello\", \"confirm_ms\": 15000, \"on\": true}");
  assert_int_equal(
      wfc_runtime_set_plugin_settings(f.rt, "hostsvc", set, err, sizeof err),
      0);
  json_object_put(set);
  /* Another plugin's settings are not hostsvc's. */
  assert_int_equal(wfc_runtime_set_plugin_setting(f.rt, "testplugin", "mine",
                                                  "not yours", err, sizeof err),
                   0);
  load_hostsvc(&f);
  char *init = NULL, *v = setting_of(&f, "confirm_ms", &init);
  assert_string_equal(v, "15000");
  assert_string_equal(init, "hello");
  free(v);
  free(init);
  v = setting_of(&f, "on", NULL);
  assert_string_equal(v, "true");
  free(v);
  assert_null(setting_of(&f, "mine", NULL));
  assert_null(setting_of(&f, "never_set", NULL));

  /* After load: later reads see the change; NULL removes. */
  assert_int_equal(wfc_runtime_set_plugin_setting(f.rt, "hostsvc", "confirm_ms",
                                                  "7", err, sizeof err),
                   0);
  v = setting_of(&f, "confirm_ms", NULL);
  assert_string_equal(v, "7");
  free(v);
  assert_int_equal(wfc_runtime_set_plugin_setting(f.rt, "hostsvc", "confirm_ms",
                                                  NULL, err, sizeof err),
                   0);
  assert_null(setting_of(&f, "confirm_ms", NULL));

  /* Refusals name what is wrong, and change nothing. */
  assert_int_equal(wfc_runtime_set_plugin_setting(f.rt, "Host Svc", "k", "v",
                                                  err, sizeof err),
                   WFC_EINVAL);
  assert_non_null(strstr(err, "\"Host Svc\" is not a plugin name"));
  assert_int_equal(wfc_runtime_set_plugin_setting(f.rt, "hostsvc", "a key", "v",
                                                  err, sizeof err),
                   WFC_EINVAL);
  assert_non_null(strstr(err, "key \"a key\""));
  set = json_tokener_parse("{\"greeting\": \"changed\", \"list\": [1]}");
  assert_int_equal(
      wfc_runtime_set_plugin_settings(f.rt, "hostsvc", set, err, sizeof err),
      WFC_EINVAL);
  json_object_put(set);
  assert_non_null(strstr(err, "list must be a string, number, boolean"));
  json_object *now = wfc_runtime_plugin_settings(f.rt, "hostsvc");
  assert_string_equal(
      json_object_get_string(json_object_object_get(now, "greeting")), "hello");
  json_object_put(now);
  fx_down(&f);
}

/* ---- one runtime per process ----------------------------------------------
 */

static void *second_runtime(void *arg) {
  uv_loop_t loop;
  wfc_runtime *rt = NULL;
  uv_loop_init(&loop);
  *(int *)arg = wfc_runtime_new(&loop, NULL, &rt);
  uv_loop_close(&loop);
  return NULL;
}

#define RACERS 4
static pthread_barrier_t race_start, race_tried;

typedef struct racer {
  pthread_t th;
  int rc;
} racer;

static void *race(void *arg) {
  racer *r = arg;
  uv_loop_t loop;
  wfc_runtime *rt = NULL;
  uv_loop_init(&loop);
  pthread_barrier_wait(&race_start);
  r->rc = wfc_runtime_new(&loop, NULL, &rt);
  /* Every racer has tried while the winner's runtime is open. */
  pthread_barrier_wait(&race_tried);
  if (r->rc == 0) {
    wfc_runtime_shutdown(rt, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
  }
  if (uv_loop_close(&loop) != 0 && r->rc == 0)
    r->rc = -1; /* the winner left a handle open */
  return NULL;
}

static void test_one_runtime_per_process(void **state) {
  (void)state;
  fx f;
  fx_up(&f);
  cap_reset();
  wfc_runtime_set_log_sink(f.rt, sink, NULL);
  /* Another thread, its own loop: refused, with words. */
  pthread_t th;
  int rc = 1;
  pthread_create(&th, NULL, second_runtime, &rc);
  pthread_join(th, NULL);
  assert_int_equal(rc, WFC_EBUSY);
  int at = cap_find("wfc", WFC_RUNTIME_BUSY_WORDS);
  assert_true(at >= 0);
  assert_int_equal(cap.r[at].level, WFC_LOG_ERROR);
  fx_down(&f);

  /* Threads racing for it: exactly one runtime, the others refused. */
  for (int round = 0; round < 20; round++) {
    racer r[RACERS];
    pthread_barrier_init(&race_start, NULL, RACERS);
    pthread_barrier_init(&race_tried, NULL, RACERS);
    for (int i = 0; i < RACERS; i++)
      pthread_create(&r[i].th, NULL, race, &r[i]);
    int won = 0, refused = 0;
    for (int i = 0; i < RACERS; i++) {
      pthread_join(r[i].th, NULL);
      won += r[i].rc == 0;
      refused += r[i].rc == WFC_EBUSY;
    }
    pthread_barrier_destroy(&race_start);
    pthread_barrier_destroy(&race_tried);
    assert_int_equal(won, 1);
    assert_int_equal(refused, RACERS - 1);
  }
  /* And once closed, a new one, here. */
  fx_up(&f);
  fx_down(&f);
}

/* ---- shutdown in one call -------------------------------------------------
 */

static outcome *wait_outcome;
static int done_after_call, shutdown_logged_before_done;

static void on_shutdown_done(void *arg) {
  fx *f = arg;
  f->closed++;
  done_after_call = wait_outcome->done == 1;
  shutdown_logged_before_done = cap_find("hostsvc", "hostsvc: shutdown") >= 0;
}

static void test_shutdown(void **state) {
  (void)state;
  char dir[] = "/tmp/wfc-hostsvc-XXXXXX", store[256];
  assert_non_null(mkdtemp(dir));
  snprintf(store, sizeof store, "%s/store.db", dir);
  fx f;
  fx_up(&f);
  cap_reset();
  wfc_runtime_set_log_sink(f.rt, sink, NULL);
  load_hostsvc(&f);
  /* A manager left open, and a call that runs until canceled. */
  static const uint8_t key[32] = {1, 2, 3};
  wfc_connmgr_opts mo = {
      .size = sizeof mo, .store_path = store, .master_key = key};
  wfc_connmgr *m = NULL;
  char err[512];
  assert_int_equal(wfc_connmgr_open(f.rt, &mo, &m, err, sizeof err), 0);
  outcome r = {0, 0, NULL};
  wait_outcome = &r;
  wfc_invoke how = {.size = sizeof how, .on_done = on_done, .arg = &r};
  assert_int_equal(wfc_runtime_invoke(f.rt, "hostsvc.wait", NULL, &how, NULL),
                   0);
  uv_run(&f.loop, UV_RUN_NOWAIT); /* the call has started */

  wfc_runtime_shutdown(f.rt, on_shutdown_done, &f);
  /* From now on nothing new starts. */
  assert_int_equal(wfc_runtime_invoke(f.rt, "hostsvc.wait", NULL, &how, NULL),
                   WFC_ESTATE);
  wfc_runtime_shutdown(f.rt, on_shutdown_done, &f); /* a no-op */
  assert_int_equal(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(f.closed, 1);
  assert_int_equal(r.done, 1);
  assert_int_equal(r.status, WFC_ECANCELED);
  assert_true(done_after_call);
  assert_true(shutdown_logged_before_done);
  /* Every handle (the manager's too) is closed. */
  assert_int_equal(uv_loop_close(&f.loop), 0);
  /* The sink was put back to the default at close: a new runtime's
   * records do not come here. */
  cap_reset();
  fx_up(&f);
  load_hostsvc(&f);
  fx_down(&f);
  assert_int_equal(cap_find(NULL, "hostsvc"), -1);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

/* ---- one default blob store -----------------------------------------------
 */

static void test_blob_default(void **state) {
  (void)state;
  char dir[] = "/tmp/wfc-hostsvc-XXXXXX", path[512], want[512], def[4200];
  assert_non_null(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/conn/store.db", dir);
  setenv("WFC_STORE", path, 1);
  unsetenv("WFC_BLOB_DIR");
  snprintf(want, sizeof want, "%s/conn/blobs", dir);

  fx f;
  fx_up(&f);
  assert_string_equal(wfc_runtime_blob_dir(f.rt), want);
  assert_int_equal(wfc_connmgr_default_blob_dir(NULL, def, sizeof def), 0);
  assert_string_equal(def, want);

  /* `wfc blob put` (the rule of `wfc card run`) puts it where this
   * runtime finds it. */
  snprintf(path, sizeof path, "%s/hello.txt", dir);
  FILE *fp = fopen(path, "w");
  fputs("hello blobs\n", fp);
  fclose(fp);
  const char *argv[] = {
      build_path(1, "bin/wfc"), "blob", "put", path, "--json", NULL};
  wproc p;
  wproc_start(&p, argv, NULL, NULL);
  assert_int_equal(wproc_wait(&p), 0);
  json_object *ref = json_tokener_parse(p.stdout_);
  assert_non_null(ref);
  const char *id = json_object_get_string(json_object_object_get(ref, "id"));
  char out[512];
  snprintf(out, sizeof out, "%s/copy.txt", dir);
  assert_int_equal(wfc_blob_get_file(wfc_runtime_blob_dir(f.rt), id, out, NULL),
                   0);
  json_object_put(ref);
  fx_down(&f);

  /* $WFC_BLOB_DIR wins, for both. */
  snprintf(want, sizeof want, "%s/elsewhere", dir);
  setenv("WFC_BLOB_DIR", want, 1);
  fx_up(&f);
  assert_string_equal(wfc_runtime_blob_dir(f.rt), want);
  fx_down(&f);
  assert_int_equal(wfc_connmgr_default_blob_dir(NULL, def, sizeof def), 0);
  assert_string_equal(def, want);
  unsetenv("WFC_BLOB_DIR");
  unsetenv("WFC_STORE");
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

/* ---- settings on the wfc command line, read by o365mail --------------- */

/* `wfc [pre...] rest...`: exit code, output in p. */
static int wfc_with(const char *const *pre, const char *const *rest, wproc *p) {
  const char *argv[24];
  int n = 0;
  argv[n++] = build_path(1, "bin/wfc");
  while (*pre != NULL)
    argv[n++] = *pre++;
  while (*rest != NULL)
    argv[n++] = *rest++;
  argv[n] = NULL;
  wproc_start(p, argv, NULL, NULL);
  return wproc_wait(p);
}

/* `wfc [pre...] card run o365mail.admin_consent_url` (its URL shows the
 * authority and client id the plugin read): exit code, stdout in out. */
static int consent_url(const char *const *pre, wproc *p) {
  const char *rest[] = {"card",
                        "run",
                        "o365mail.admin_consent_url",
                        "--input",
                        "{\"environment\": \"preview\"}",
                        "--json",
                        NULL};
  return wfc_with(pre, rest, p);
}

static void test_cli_settings(void **state) {
  (void)state;
  char dir[] = "/tmp/wfc-hostsvc-XXXXXX", store[256], file[256], cmd[300];
  assert_non_null(mkdtemp(dir));
  snprintf(store, sizeof store, "%s/store.db", dir);
  setenv("WFC_STORE", store, 1);
  setenv("O365MAIL_AUTHORITY_URL", "https://env.example", 1);
  unsetenv("O365MAIL_PREVIEW_CLIENT_ID");
  wproc p;

  /* The environment is the fallback... */
  const char *id_only[] = {"--setting", "o365mail.preview_client_id=id-1",
                           NULL};
  assert_int_equal(consent_url(id_only, &p), 0);
  assert_non_null(strstr(p.stdout_, "\"url\":\"https://env.example/"));
  assert_non_null(strstr(p.stdout_, "client_id=id-1&"));
  /* ... the host's setting wins over it ... */
  const char *both[] = {"--setting", "o365mail.preview_client_id=id-1",
                        "--setting=o365mail.authority_url=https://set.example",
                        NULL};
  assert_int_equal(consent_url(both, &p), 0);
  assert_non_null(strstr(p.stdout_, "\"url\":\"https://set.example/"));
  /* ... and a file gives them too (secrets stay off the command line). */
  snprintf(file, sizeof file, "%s/settings.json", dir);
  FILE *fp = fopen(file, "w");
  fputs("{\"o365mail\": {\"authority_url\": \"https://file.example\", "
        "\"preview_client_id\": \"id-2\"}}",
        fp);
  fclose(fp);
  const char *from_file[] = {"--settings", file, NULL};
  assert_int_equal(consent_url(from_file, &p), 0);
  assert_non_null(strstr(p.stdout_, "\"url\":\"https://file.example/"));
  assert_non_null(strstr(p.stdout_, "client_id=id-2&"));
  /* Without any, the message says where a client id can be given. */
  const char *none[] = {NULL};
  assert_int_equal(consent_url(none, &p), 1);
  assert_non_null(strstr(p.stderr_,
                         "the plugin setting preview_client_id "
                         "(environment O365MAIL_PREVIEW_CLIENT_ID)"));
  /* Bad ones are refused, naming what is wrong. */
  const char *bad_key[] = {"--setting", "o365mail.bad key=1", NULL};
  assert_int_equal(consent_url(bad_key, &p), 1);
  assert_non_null(strstr(p.stderr_, "key \"bad key\""));
  const char *no_eq[] = {"--setting", "o365mail", NULL};
  assert_int_equal(consent_url(no_eq, &p), 2);
  assert_non_null(strstr(p.stderr_, "expected PLUGIN.KEY=VALUE"));
  /* Every command checks them the same way before it does anything, also
   * those that open no runtime (store, blob, docs): the same error and
   * exit code, and nothing written. */
  char made[256], manifest[512];
  snprintf(made, sizeof made, "%s/made", dir);
  snprintf(manifest, sizeof manifest, "%s/manifest.json",
           getenv("WFC_SOURCE_DIR"));
  const char *const no_runtime[][8] = {
      {"store", "migrate", "--store", made, NULL},
      {"blob", "put", file, "--blob-dir", made, NULL},
      {"docs", "cards", manifest, "--output", made, NULL},
  };
  for (size_t i = 0; i < sizeof no_runtime / sizeof no_runtime[0]; i++) {
    assert_int_equal(wfc_with(bad_key, no_runtime[i], &p), 1);
    assert_non_null(strstr(p.stderr_, "key \"bad key\""));
    assert_int_equal(access(made, F_OK), -1);
    /* Good ones: the command runs (and makes what it makes). */
    assert_int_equal(wfc_with(id_only, no_runtime[i], &p), 0);
    assert_int_equal(access(made, F_OK), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", made);
    assert_int_equal(system(cmd), 0);
  }

  unsetenv("O365MAIL_AUTHORITY_URL");
  unsetenv("WFC_STORE");
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  assert_int_equal(system(cmd), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_log_sink),
      cmocka_unit_test(test_settings),
      cmocka_unit_test(test_one_runtime_per_process),
      cmocka_unit_test(test_shutdown),
      cmocka_unit_test(test_blob_default),
      cmocka_unit_test(test_cli_settings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
