/* `wfc store migrate` and `wfc store copy` as a user runs them: the real
 * wfc against a real PostgreSQL (a throw-away cluster, pg_cluster.h) and
 * SQLite files. A store with connections, a checkpoint, an idempotency
 * key and events seen goes from SQLite to PostgreSQL and back: the counts
 * and table checksums are equal on every leg (rows are stored as the same
 * typed values in both backends), every record still authenticates and
 * its sealed secrets open with the same master key, and `wfc connection
 * list` works on the PostgreSQL store. */
#define _GNU_SOURCE /* mkdtemp, setenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "crypto.h"
#include "pg_cluster.h"
#include "store.h"
#include "wfc_proc.h"
#include "tsys.h"

static char wfc_bin[512], plugins[512], dir[256], src[300], back[300];
static char key_hex[80];
static pg_cluster *pg;

/* wfc ARGS (no --store added: the commands name their stores). */
static int run_wfc(wproc *p, const char *const *args) {
  const char *argv[16];
  int n = 0;

  argv[n++] = wfc_bin;
  for (int i = 0; args[i] != NULL && n < 15; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  wproc_start(p, argv, NULL, NULL);
  return wproc_wait(p);
}

static struct json_object *copy_json(const char *from, const char *to) {
  wproc p;
  const char *const args[] = {"store", "copy", from, to, "--json", NULL};
  if (run_wfc(&p, args) != 0)
    fail_msg("wfc store copy %s %s: %s", from, to, p.stderr_);
  struct json_object *o = json_tokener_parse(p.stdout_);
  assert_non_null(o);
  return o;
}

static long long rows_of(struct json_object *o, const char *table) {
  struct json_object *t, *e, *v;
  assert_true(json_object_object_get_ex(o, "tables", &t));
  assert_true(json_object_object_get_ex(t, table, &e));
  assert_true(json_object_object_get_ex(e, "rows", &v));
  return (long long)json_object_get_int64(v);
}

static const char *sum_of(struct json_object *o, const char *table) {
  struct json_object *t, *e, *v;
  assert_true(json_object_object_get_ex(o, "tables", &t));
  assert_true(json_object_object_get_ex(t, table, &e));
  assert_true(json_object_object_get_ex(e, "sha256", &v));
  return json_object_get_string(v);
}

static void make_rec(wfc__conn_rec *r, const char *nick) {
  memset(r, 0, sizeof *r);
  snprintf(r->nickname, sizeof r->nickname, "%s", nick);
  strcpy(r->plugin, "o365mail");
  strcpy(r->conn_type, "oauth2");
  strcpy(r->account, "adele@contoso.example");
  r->params = "{\"tenant\":\"contoso\"}";
}

/* The store's content checked through the SDK: what was put in by
 * fill_store, every seal open and every record authenticated. */
static void check_store(const char *loc, const char *ids[2]) {
  wfc__store *st = NULL;
  char err[512], *json = NULL, *cp = NULL;
  int64_t ev = 0;

  if (wfc__store_open(loc, &st, err, sizeof err) != 0)
    fail_msg("open %s: %s", loc, err);
  assert_int_equal(wfc__store_conn_secrets(st, ids[0], &json), 0);
  assert_string_equal(json, "{\"refresh_token\":\"rt-alpha\"}");
  wfc__secret_free(json);
  assert_int_equal(wfc__store_conn_secrets(st, ids[1], &json), 0);
  assert_string_equal(json, "{\"refresh_token\":\"rt-beta\"}");
  wfc__secret_free(json);
  assert_int_equal(
      wfc__store_checkpoint_get(st, ids[0], "new_email", "inbox", &cp, &ev), 0);
  assert_string_equal(cp, "https://graph.example/delta?token=2");
  assert_int_equal(ev, 5);
  free(cp);
  {
    wfc__idem_claim c;
    assert_int_equal(
        wfc__store_idem_claim(st, "send-1", ids[0], "B", 30000, &c), 0);
    assert_int_equal(c.state, WFC__CLAIM_SENT);
    assert_string_equal(c.result, "{\"sent\":true}");
    free(c.result);
  }
  assert_int_equal(
      wfc__store_event_seen(st, ids[0], "new_email", "inbox", "msg-2"), 1);
  assert_int_equal(
      wfc__store_event_seen(st, ids[0], "new_email", "inbox", "msg-9"), 0);
  wfc__store_close(st);
}

static void test_copy_sqlite_postgresql_and_back(void **state) {
  wfc__store *st = NULL;
  wfc__conn_rec a, b;
  char err[512], *url = pg_cluster_new_db(pg);
  const char *ids[2];
  wproc p;
  (void)state;

  assert_non_null(url);
  /* A file store with its key file, as `wfc connection new` leaves it. */
  unsetenv("WFC_MASTER_KEY");
  if (wfc__store_open(src, &st, err, sizeof err) != 0)
    fail_msg("open %s: %s", src, err);
  make_rec(&a, "alpha");
  make_rec(&b, "beta");
  assert_int_equal(
      wfc__store_conn_insert(st, &a, "{\"refresh_token\":\"rt-alpha\"}"), 0);
  assert_int_equal(
      wfc__store_conn_insert(st, &b, "{\"refresh_token\":\"rt-beta\"}"), 0);
  assert_int_equal(
      wfc__store_checkpoint_cas(st, a.id, "new_email", "inbox", NULL, "d1", 2),
      0);
  assert_int_equal(
      wfc__store_checkpoint_cas(st, a.id, "new_email", "inbox", "d1",
                                "https://graph.example/delta?token=2", 3),
      0);
  {
    wfc__idem_claim c;
    assert_int_equal(wfc__store_idem_claim(st, "send-1", a.id, "A", 30000, &c),
                     0);
  }
  assert_int_equal(wfc__store_idem_finish(st, "send-1", "{\"sent\":true}"), 0);
  for (int i = 1; i <= 3; i++) {
    char ev[16];
    snprintf(ev, sizeof ev, "msg-%d", i);
    assert_int_equal(wfc__store_event_mark(st, a.id, "new_email", "inbox", ev),
                     0);
  }
  assert_int_equal(wfc__store_lease_take(st, a.id, "h", 60000, NULL), 0);
  wfc__store_close(st);
  ids[0] = a.id;
  ids[1] = b.id;
  {
    FILE *fp;
    char kp[320];
    snprintf(kp, sizeof kp, "%s.key", src);
    fp = fopen(kp, "r");
    assert_non_null(fp);
    assert_non_null(fgets(key_hex, sizeof key_hex, fp));
    fclose(fp);
    key_hex[strcspn(key_hex, "\n")] = '\0';
  }

  /* A database has no key file: without WFC_MASTER_KEY, a clear refusal
   * naming the variable. */
  {
    const char *const args[] = {"store", "migrate", "--store", url, NULL};
    assert_int_equal(run_wfc(&p, args), 1);
    assert_non_null(strstr(p.stderr_, "WFC_MASTER_KEY"));
  }
  /* From the SQLite store's key file to PostgreSQL, the key read from the
   * file (WFC_MASTER_KEY unset). */
  struct json_object *to_pg = copy_json(src, url);
  assert_int_equal(rows_of(to_pg, "connections"), 2);
  assert_int_equal(rows_of(to_pg, "checkpoints"), 1);
  assert_int_equal(rows_of(to_pg, "idempotency"), 1);
  assert_int_equal(rows_of(to_pg, "events_seen"), 3);
  {
    struct json_object *v;
    assert_true(json_object_object_get_ex(to_pg, "connections_verified", &v));
    assert_int_equal(json_object_get_int(v), 2);
  }

  /* The PostgreSQL store, used with the same key, holds it all. */
  setenv("WFC_MASTER_KEY", key_hex, 1);
  check_store(url, ids);
  {
    const char *const args[] = {"store", "migrate", "--store", url, NULL};
    assert_int_equal(run_wfc(&p, args), 0);
    char want[64];
    snprintf(want, sizeof want, "schema version %d, up to date",
             WFC__STORE_SCHEMA_VERSION);
    assert_non_null(strstr(p.stdout_, want));
  }
  {
    const char *const args[] = {"connection", "list",         "--store", url,
                                "--json",     "--plugin-dir", plugins,   NULL};
    if (run_wfc(&p, args) != 0)
      fail_msg("wfc connection list on PostgreSQL: %s", p.stderr_);
    assert_non_null(strstr(p.stdout_, "alpha"));
    assert_non_null(strstr(p.stdout_, "beta"));
    assert_null(strstr(p.stdout_, "rt-alpha"));
  }

  /* A database store has no directory to keep blobs beside: they go to
   * the default data directory ($XDG_DATA_HOME/wfc/blobs). */
  {
    char file[320], blobs[320];
    const char *const args[] = {"blob", "put",    file, "--store",
                                url,    "--json", NULL};
    FILE *fp;
    snprintf(file, sizeof file, "%s/report.csv", dir);
    assert_non_null(fp = fopen(file, "w"));
    fputs("a,b\n", fp);
    fclose(fp);
    setenv("XDG_DATA_HOME", dir, 1);
    if (run_wfc(&p, args) != 0)
      fail_msg("wfc blob put with a PostgreSQL store: %s", p.stderr_);
    unsetenv("XDG_DATA_HOME");
    snprintf(blobs, sizeof blobs, "%s/wfc/blobs", dir);
    assert_int_equal(access(blobs, F_OK), 0);
  }

  /* Back to a new SQLite file: the same checksums on every table. */
  struct json_object *to_file = copy_json(url, back);
  const char *tables[] = {"connections", "checkpoints", "idempotency",
                          "events_seen"};
  for (int i = 0; i < 4; i++) {
    assert_int_equal(rows_of(to_file, tables[i]), rows_of(to_pg, tables[i]));
    assert_string_equal(sum_of(to_file, tables[i]), sum_of(to_pg, tables[i]));
  }
  check_store(back, ids);

  /* Never into a store that holds connections. */
  {
    const char *const args[] = {"store", "copy", src, url, NULL};
    assert_int_equal(run_wfc(&p, args), 1);
    assert_non_null(strstr(p.stderr_, "already holds 2 connection(s)"));
  }
  /* A wrong key for the source: the clear words, nothing copied. */
  setenv("WFC_MASTER_KEY",
         "ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1);
  {
    char other[320];
    const char *const args[] = {"store", "copy", url, other, NULL};
    snprintf(other, sizeof other, "%s/other.db", dir);
    assert_int_equal(run_wfc(&p, args), 1);
    assert_non_null(strstr(p.stderr_, "the master key does not match"));
  }
  unsetenv("WFC_MASTER_KEY");
  json_object_put(to_pg);
  json_object_put(to_file);
  free(url);
}

static int group_setup(void **state) {
  (void)state;
  snprintf(wfc_bin, sizeof wfc_bin, "%s/bin/wfc", WFC_BUILD_DIR);
  snprintf(plugins, sizeof plugins, "%s/tests/conn-plugins", WFC_BUILD_DIR);
  snprintf(dir, sizeof dir, "/tmp/wfc-storecli-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  snprintf(src, sizeof src, "%s/src.db", dir);
  snprintf(back, sizeof back, "%s/back.db", dir);
  return (pg = pg_cluster_start()) != NULL ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  if (tsys_rm_rf(dir) != 0)
    return -1;
  return pg_cluster_stop(pg) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_copy_sqlite_postgresql_and_back),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
