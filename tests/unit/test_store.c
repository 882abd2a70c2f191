/* sdk/store.c: the sealed connection store, on each backend: the tests
 * that do not depend on a file run twice, on SQLite and on a throw-away
 * PostgreSQL cluster (tests/support/pg_cluster.h; a fresh database per
 * test). The sealed SQLite connection store. Files are private,
 * secrets never reach the disk in clear, a wrong key or a modified record
 * is a clear WFC_EKEY, every field that decides where a secret goes is
 * authenticated (edited with the sqlite3 library, as an attacker without
 * the key would), a file that is not a wfc store is refused, schemas
 * migrate forward, checkpoints are compare-and-set across handles and
 * threads. */
#define _GNU_SOURCE /* memmem, mkdtemp, unsetenv, mode_t, lstat, symlink */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "clock.h"
#include "pg_cluster.h"
#include "tfile.h"
#include "crypto.h"
#include "lease.h"
#include "store.h"

typedef struct {
  char dir[256];
  char db[300];
  char key[310];
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  const char *tmp = getenv("TMPDIR");

  if (f == NULL)
    return -1;
  snprintf(f->dir, sizeof f->dir, "%s/wfc-store-XXXXXX",
           tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(f->dir) == NULL)
    return -1;
  snprintf(f->db, sizeof f->db, "%s/store.db", f->dir);
  snprintf(f->key, sizeof f->key, "%s.key", f->db);
  unsetenv("WFC_MASTER_KEY");
  *state = f;
  return 0;
}

/* The PostgreSQL group: one cluster for the group, a database per test.
 * A database store has no key file: the master key comes from
 * WFC_MASTER_KEY. */
static pg_cluster *pg;

static int pg_group_setup(void **state) {
  (void)state;
  return (pg = pg_cluster_start()) != NULL ? 0 : -1;
}

static int pg_group_teardown(void **state) {
  (void)state;
  return pg_cluster_stop(pg) == 0 ? 0 : -1;
}

static int setup_pg(void **state) {
  fixture *f;
  char *url;

  if (setup(state) != 0)
    return -1;
  f = *state;
  if ((url = pg_cluster_new_db(pg)) == NULL)
    return -1;
  snprintf(f->db, sizeof f->db, "%s", url);
  free(url);
  setenv("WFC_MASTER_KEY",
         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1);
  return 0;
}

static int is_pg(const char *db) {
  return strncmp(db, "postgresql://", 13) == 0;
}

static void assert_time(const char *db, int64_t got, int64_t want);

/* The SQL for the fixture's backend. */
static const char *sqlx(const char *db, const char *sqlite_sql,
                        const char *pg_sql) {
  return is_pg(db) ? pg_sql : sqlite_sql;
}

static PGresult *pg_raw(const char *db, const char *sql) {
  PGconn *c = PQconnectdb(db);
  PGresult *r;
  if (PQstatus(c) != CONNECTION_OK)
    fail_msg("%s: %s", db, PQerrorMessage(c));
  r = PQexec(c, sql);
  if (PQresultStatus(r) != PGRES_COMMAND_OK &&
      PQresultStatus(r) != PGRES_TUPLES_OK)
    fail_msg("%s: %s", sql, PQerrorMessage(c));
  PQfinish(c);
  return r;
}

static int teardown(void **state) {
  fixture *f = *state;
  DIR *d = opendir(f->dir);
  struct dirent *e;

  while (d != NULL && (e = readdir(d)) != NULL) {
    char p[600];
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
      continue;
    snprintf(p, sizeof p, "%s/%s", f->dir, e->d_name);
    unlink(p);
  }
  if (d != NULL)
    closedir(d);
  rmdir(f->dir);
  unsetenv("WFC_MASTER_KEY");
  unsetenv("WFC_STORE_WAIT_MS");
  wfc__clock_set(NULL, NULL);
  free(f);
  return 0;
}

static wfc__store *open_ok(const char *path) {
  wfc__store *st = NULL;
  char err[512];
  int rc = wfc__store_open(path, &st, err, sizeof err);
  if (rc != 0)
    fail_msg("open %s: %s (%s)", path, wfc_err_name(rc), err);
  return st;
}

static void make_rec(wfc__conn_rec *r, const char *nick, const char *owner) {
  memset(r, 0, sizeof *r);
  snprintf(r->nickname, sizeof r->nickname, "%s", nick);
  snprintf(r->owner, sizeof r->owner, "%s", owner);
  strcpy(r->plugin, "o365mail");
  strcpy(r->conn_type, "oauth2");
  strcpy(r->environment, "production");
  strcpy(r->account, "adele@contoso.example");
}

static mode_t file_mode(const char *path) {
  struct stat sb;
  assert_int_equal(lstat(path, &sb), 0);
  return sb.st_mode & 07777;
}

/* 1 if needle occurs in the file at path, 0 if not (or no such file). */
static int file_contains(const char *path, const char *needle) {
  size_t n = 0;
  char *buf = tfile_read(path, &n);
  int found = buf != NULL && memmem(buf, n, needle, strlen(needle)) != NULL;

  free(buf);
  return found;
}

static int any_store_file_contains(const fixture *f, const char *needle) {
  char p[400];
  int found = file_contains(f->db, needle);
  snprintf(p, sizeof p, "%s-wal", f->db);
  found |= file_contains(p, needle);
  snprintf(p, sizeof p, "%s-shm", f->db);
  found |= file_contains(p, needle);
  return found;
}

static void raw_exec(const char *db, const char *sql) {
  sqlite3 *h;
  if (is_pg(db)) {
    PQclear(pg_raw(db, sql));
    return;
  }
  assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
  sqlite3_busy_timeout(h, 5000);
  if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(h));
  sqlite3_close(h);
}

static int raw_int(const char *db, const char *sql) {
  sqlite3 *h;
  sqlite3_stmt *s;
  int v = -1;
  if (is_pg(db)) {
    PGresult *r = pg_raw(db, sql);
    if (PQntuples(r) > 0)
      v = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
  }
  assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
  assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &s, NULL), SQLITE_OK);
  if (sqlite3_step(s) == SQLITE_ROW)
    v = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  sqlite3_close(h);
  return v;
}

static void test_open_creates_private_files(void **state) {
  fixture *f = *state;
  char p[400], keytext[80];
  wfc__store *st = open_ok(f->db);
  FILE *fp;
  size_t n;

  assert_int_equal(wfc__store_schema_version(st), WFC__STORE_SCHEMA_VERSION);
  assert_int_equal(file_mode(f->db), 0600);
  assert_int_equal(file_mode(f->key), 0600);
  snprintf(p, sizeof p, "%s-wal", f->db);
  assert_int_equal(file_mode(p), 0600);
  snprintf(p, sizeof p, "%s-shm", f->db);
  assert_int_equal(file_mode(p), 0600);
  /* The key file: 64 hex characters and a newline, usable as
   * WFC_MASTER_KEY. */
  fp = fopen(f->key, "r");
  assert_non_null(fp);
  n = fread(keytext, 1, sizeof keytext, fp);
  fclose(fp);
  assert_int_equal(n, 65);
  assert_int_equal(keytext[64], '\n');
  {
    uint8_t k[32];
    size_t kn;
    assert_int_equal(wfc__hex_decode(keytext, 64, k, sizeof k, &kn), 0);
  }
  wfc__store_close(st);
  /* Reopening reuses the key file. */
  st = open_ok(f->db);
  wfc__store_close(st);
}

static void test_refuses_loose_modes_and_symlinks(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db);
  char err[512], link_path[400];
  wfc__store_close(st);

  assert_int_equal(chmod(f->db, 0644), 0);
  assert_int_equal(wfc__store_open(f->db, &st, err, sizeof err), WFC_ESTORE);
  assert_null(st);
  assert_non_null(strstr(err, "chmod 600"));
  assert_int_equal(chmod(f->db, 0600), 0);

  assert_int_equal(chmod(f->key, 0640), 0);
  assert_int_equal(wfc__store_open(f->db, &st, err, sizeof err), WFC_ESTORE);
  assert_non_null(strstr(err, "key file"));
  assert_int_equal(chmod(f->key, 0600), 0);

  snprintf(link_path, sizeof link_path, "%s/link.db", f->dir);
  assert_int_equal(symlink(f->db, link_path), 0);
  assert_int_equal(wfc__store_open(link_path, &st, err, sizeof err),
                   WFC_ESTORE);
  assert_non_null(strstr(err, "symbolic link"));

  st = open_ok(f->db);
  wfc__store_close(st);
}

static int count_cb(const wfc__conn_rec *rec, void *arg) {
  int *n = arg;
  assert_non_null(rec->params);
  (*n)++;
  return 0;
}

static void test_connection_roundtrip(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db);
  wfc__conn_rec r, g;
  char *json = NULL;
  int n = 0;

  make_rec(&r, "work mail", "");
  r.params = "{\"tenant\":\"contoso\"}";
  r.expires_at = 1234567;
  assert_int_equal(
      wfc__store_conn_insert(st, &r, "{\"refresh_token\":\"rt-1\"}"), 0);
  assert_int_equal(strncmp(r.id, "conn_", 5), 0);
  assert_int_equal(strlen(r.id), 21);
  assert_string_equal(r.state, "authorizing");
  assert_true(r.has_secrets);

  /* By id and by nickname. */
  assert_int_equal(wfc__store_conn_get(st, r.id, &g), 0);
  assert_string_equal(g.nickname, "work mail");
  assert_string_equal(g.account, "adele@contoso.example");
  assert_string_equal(g.params, "{\"tenant\":\"contoso\"}");
  assert_int_equal(g.expires_at, 1234567);
  assert_int_equal(g.created_at, r.created_at);
  assert_true(g.has_secrets);
  wfc__conn_rec_clear(&g);
  assert_int_equal(wfc__store_conn_get(st, "work mail", &g), 0);
  assert_string_equal(g.id, r.id);
  wfc__conn_rec_clear(&g);
  assert_int_equal(wfc__store_conn_get(st, "nope", &g), WFC_ENOTFOUND);

  assert_int_equal(wfc__store_conn_secrets(st, r.id, &json), 0);
  assert_string_equal(json, "{\"refresh_token\":\"rt-1\"}");
  wfc__secret_free(json);

  /* Rotation, state, params, account. */
  assert_int_equal(wfc__store_conn_update_secrets(
                       st, r.id, "{\"refresh_token\":\"rt-2\"}", 999),
                   0);
  assert_int_equal(wfc__store_conn_secrets(st, r.id, &json), 0);
  assert_string_equal(json, "{\"refresh_token\":\"rt-2\"}");
  wfc__secret_free(json);
  assert_int_equal(wfc__store_conn_update_state(st, r.id,
                                                "needs_admin_approval",
                                                "Ask an admin to consent"),
                   0);
  assert_int_equal(wfc__store_conn_update_state(st, r.id, "happy", NULL),
                   WFC_EINVAL);
  assert_non_null(strstr(wfc__store_last_error(), "state"));
  assert_int_equal(wfc__store_conn_update_params(st, r.id, "[1]"), WFC_EINVAL);
  assert_int_equal(wfc__store_conn_update_params(st, r.id, "{\"a\":1}"), 0);
  assert_int_equal(wfc__store_conn_update_account(st, r.id, "meg@contoso"), 0);
  assert_int_equal(wfc__store_conn_get(st, r.id, &g), 0);
  assert_int_equal(g.last_used_at, 0); /* reads and updates leave it */
  wfc__conn_rec_clear(&g);
  /* A refresh (rotate under the lease) is a use: it sets last_used_at. */
  int released = 0;
  assert_int_equal(wfc__store_lease_take(st, r.id, "h", 30000, NULL), 0);
  assert_int_equal(wfc__store_conn_rotate(st, r.id,
                                          "{\"refresh_token\":\"rt-3\"}", 999,
                                          "h", 0, &released),
                   0);
  assert_int_equal(released, 1);
  assert_int_equal(wfc__store_conn_get(st, r.id, &g), 0);
  assert_string_equal(g.state, "needs_admin_approval");
  assert_string_equal(g.remedy, "Ask an admin to consent");
  assert_string_equal(g.params, "{\"a\":1}");
  assert_string_equal(g.account, "meg@contoso");
  assert_int_equal(g.expires_at, 999);
  assert_true(g.last_used_at > 0);
  wfc__conn_rec_clear(&g);
  assert_int_equal(wfc__store_conn_update_state(st, "conn_none", "error", ""),
                   WFC_ENOTFOUND);

  /* Nicknames are unique per owner. */
  {
    wfc__conn_rec d;
    make_rec(&d, "work mail", "");
    assert_int_equal(wfc__store_conn_insert(st, &d, NULL), WFC_EEXIST);
    assert_non_null(strstr(wfc__store_last_error(), "work mail"));
    make_rec(&d, "work mail", "bob");
    assert_int_equal(wfc__store_conn_insert(st, &d, NULL), 0);
    assert_false(d.has_secrets);
    assert_int_equal(wfc__store_conn_secrets(st, d.id, &json), WFC_ENOTFOUND);
    /* Now the nickname alone is ambiguous; the id is not. */
    assert_int_equal(wfc__store_conn_get(st, "work mail", &g), WFC_EINVAL);
    assert_int_equal(wfc__store_conn_get(st, d.id, &g), 0);
    assert_string_equal(g.owner, "bob");
    wfc__conn_rec_clear(&g);
  }

  /* Field validation names the field. */
  {
    wfc__conn_rec b;
    make_rec(&b, "", "");
    assert_int_equal(wfc__store_conn_insert(st, &b, NULL), WFC_EINVAL);
    assert_non_null(strstr(wfc__store_last_error(), "nickname"));
    make_rec(&b, "x", "");
    b.plugin[0] = '\0';
    assert_int_equal(wfc__store_conn_insert(st, &b, NULL), WFC_EINVAL);
    assert_non_null(strstr(wfc__store_last_error(), "plugin"));
    make_rec(&b, "x", "");
    memset(b.nickname, 'n', sizeof b.nickname); /* not terminated */
    assert_int_equal(wfc__store_conn_insert(st, &b, NULL), WFC_EINVAL);
    assert_non_null(strstr(wfc__store_last_error(), "longer"));
    make_rec(&b, "line\nbreak", "");
    assert_int_equal(wfc__store_conn_insert(st, &b, NULL), WFC_EINVAL);
    make_rec(&b, "x", "");
    b.params = "not json";
    assert_int_equal(wfc__store_conn_insert(st, &b, NULL), WFC_EINVAL);
    assert_non_null(strstr(wfc__store_last_error(), "params"));
  }

  assert_int_equal(wfc__store_conn_list(st, NULL, count_cb, &n), 0);
  assert_int_equal(n, 2);
  n = 0;
  assert_int_equal(wfc__store_conn_list(st, "other", count_cb, &n), 0);
  assert_int_equal(n, 0);
  wfc__store_close(st);
}

/* PostgreSQL: whether any row of any wfc table holds needle, as text or
 * as the hex of a bytea (what the database holds, whatever its files). */
static int pg_holds(const char *db, const char *needle) {
  char hex[256], sql[1024];
  size_t n = strlen(needle);

  assert_true(2 * n < sizeof hex);
  for (size_t i = 0; i < n; i++)
    snprintf(hex + 2 * i, 3, "%02x", (unsigned char)needle[i]);
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM (SELECT t::text AS v FROM connections t"
           " UNION ALL SELECT t::text FROM meta t"
           " UNION ALL SELECT t::text FROM checkpoints t"
           " UNION ALL SELECT t::text FROM idempotency t"
           " UNION ALL SELECT t::text FROM events_seen t) x"
           " WHERE strpos(v, '%s') > 0 OR strpos(v, '%s') > 0",
           needle, hex);
  return raw_int(db, sql) > 0;
}

/* What the store holds: the files (SQLite) or the rows (PostgreSQL). */
static int store_holds(const fixture *f, const char *needle) {
  return is_pg(f->db) ? pg_holds(f->db, needle)
                      : any_store_file_contains(f, needle);
}

static void test_nothing_in_clear(void **state) {
  fixture *f = *state;
  static const char canary1[] = "CANARY-refresh-7f3a9c";
  static const char canary2[] = "CANARY-rotated-b81e20";
  char secrets[128];
  wfc__store *st = open_ok(f->db);
  wfc__conn_rec r;

  make_rec(&r, "nick-visible-42", "");
  snprintf(secrets, sizeof secrets, "{\"refresh_token\":\"%s\"}", canary1);
  assert_int_equal(wfc__store_conn_insert(st, &r, secrets), 0);
  assert_false(store_holds(f, canary1));
  assert_true(store_holds(f, "nick-visible-42"));
  snprintf(secrets, sizeof secrets, "{\"refresh_token\":\"%s\"}", canary2);
  assert_int_equal(wfc__store_conn_update_secrets(st, r.id, secrets, 0), 0);
  assert_false(store_holds(f, canary1));
  assert_false(store_holds(f, canary2));
  wfc__store_close(st);

  /* Closed: the WAL is folded into the database file. */
  assert_true(store_holds(f, "nick-visible-42"));
  assert_false(store_holds(f, canary1));
  assert_false(store_holds(f, canary2));
  assert_false(store_holds(f, "refresh_token"));
}

static void test_wrong_key_is_a_clear_error(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db);
  wfc__conn_rec r;
  char err[512], keytext[80], b64[64];
  uint8_t key[32];
  size_t n;
  FILE *fp;

  make_rec(&r, "a", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, "{\"t\":\"s\"}"), 0);
  wfc__store_close(st);
  fp = fopen(f->key, "r");
  assert_non_null(fp);
  n = fread(keytext, 1, sizeof keytext - 1, fp);
  fclose(fp);
  keytext[n] = '\0';

  /* Another key in the environment. */
  setenv("WFC_MASTER_KEY",
         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1);
  assert_int_equal(wfc__store_open(f->db, &st, err, sizeof err), WFC_EKEY);
  assert_null(st);
  assert_non_null(strstr(err, "does not match"));
  assert_non_null(strstr(err, "WFC_MASTER_KEY"));
  assert_string_equal(wfc__store_last_error(), err);
  /* Malformed. */
  setenv("WFC_MASTER_KEY", "not-a-key", 1);
  assert_int_equal(wfc__store_open(f->db, &st, err, sizeof err), WFC_EINVAL);
  assert_non_null(strstr(err, "WFC_MASTER_KEY"));
  /* The right key, as hex and as base64, works without the file. */
  keytext[64] = '\0';
  setenv("WFC_MASTER_KEY", keytext, 1);
  st = open_ok(f->db);
  wfc__store_close(st);
  assert_int_equal(wfc__hex_decode(keytext, 64, key, sizeof key, &n), 0);
  assert_int_equal(wfc__base64_encode(key, 32, b64, sizeof b64, NULL), 0);
  setenv("WFC_MASTER_KEY", b64, 1);
  st = open_ok(f->db);
  {
    char *json = NULL;
    assert_int_equal(wfc__store_conn_secrets(st, r.id, &json), 0);
    assert_string_equal(json, "{\"t\":\"s\"}");
    wfc__secret_free(json);
  }
  wfc__store_close(st);
  unsetenv("WFC_MASTER_KEY");

  /* Another key in the key file. */
  fp = fopen(f->key, "w");
  assert_non_null(fp);
  fputs("ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100\n",
        fp);
  fclose(fp);
  assert_int_equal(wfc__store_open(f->db, &st, err, sizeof err), WFC_EKEY);
  assert_non_null(strstr(err, ".key"));
  /* No key at all for a store with sealed data: refused, and no new key
   * file is made up. */
  assert_int_equal(unlink(f->key), 0);
  assert_int_equal(wfc__store_open(f->db, &st, err, sizeof err), WFC_EKEY);
  assert_non_null(strstr(err, "missing"));
  assert_int_equal(access(f->key, F_OK), -1);
}

#define WORDS "the store record was changed outside wfc or is corrupted"

/* The last store error names the connection and says the clear words. */
static void assert_tampered(const char *id) {
  const char *e = wfc__store_last_error();
  if (strstr(e, WORDS) == NULL || strstr(e, id) == NULL)
    fail_msg("expected the tamper words for %s, got \"%s\"", id, e);
}

static int tampered_cb(const wfc__conn_rec *rec, void *arg) {
  int *n = arg;
  n[0]++;
  n[1] += rec->tampered;
  return 0;
}

static void test_tampered_record_fails_alone(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db);
  wfc__conn_rec a, b, g;
  char sql[256], *json = NULL;
  int n[2] = {0, 0};

  make_rec(&a, "a", "");
  make_rec(&b, "b", "");
  assert_int_equal(wfc__store_conn_insert(st, &a, "{\"t\":\"secret-a\"}"), 0);
  assert_int_equal(wfc__store_conn_insert(st, &b, "{\"t\":\"secret-b\"}"), 0);

  /* Flip the last byte (in the tag) of a's sealed blob, behind the store's
   * back. */
  if (is_pg(f->db))
    snprintf(sql, sizeof sql,
             "UPDATE connections SET secrets = set_byte(secrets, "
             "length(secrets) - 1, get_byte(secrets, length(secrets) - 1) "
             "# 1) WHERE id = '%s'",
             a.id);
  else
    snprintf(sql, sizeof sql,
             "UPDATE connections SET secrets = substr(secrets, 1, "
             "length(secrets) - 1) || (CASE WHEN substr(secrets, -1) = "
             "x'00' THEN x'01' ELSE x'00' END) WHERE id = '%s'",
             a.id);
  raw_exec(f->db, sql);
  assert_int_equal(wfc__store_conn_secrets(st, a.id, &json), WFC_EKEY);
  assert_null(json);
  assert_tampered(a.id);
  assert_int_equal(wfc__store_conn_secrets(st, b.id, &json), 0);
  assert_string_equal(json, "{\"t\":\"secret-b\"}");
  wfc__secret_free(json);
  /* get still shows it, marked; list shows both, a marked. */
  assert_int_equal(wfc__store_conn_get(st, "a", &g), WFC_EKEY);
  assert_tampered(a.id);
  assert_true(g.tampered);
  assert_string_equal(g.id, a.id);
  wfc__conn_rec_clear(&g);
  assert_int_equal(wfc__store_conn_get(st, "b", &g), 0);
  assert_false(g.tampered);
  wfc__conn_rec_clear(&g);
  assert_int_equal(wfc__store_conn_list(st, NULL, tampered_cb, n), 0);
  assert_int_equal(n[0], 2);
  assert_int_equal(n[1], 1);

  /* b's intact blob copied into a's row does not open either (the AAD
   * names the record, the MAC covers the blob). */
  snprintf(sql, sizeof sql,
           "UPDATE connections SET secrets = (SELECT secrets FROM connections "
           "WHERE id = '%s') WHERE id = '%s'",
           b.id, a.id);
  raw_exec(f->db, sql);
  assert_int_equal(wfc__store_conn_secrets(st, a.id, &json), WFC_EKEY);
  assert_int_equal(wfc__store_conn_secrets(st, b.id, &json), 0);
  wfc__secret_free(json);

  /* No write makes it valid again (a rotation, a state, a wipe would
   * otherwise bless what was changed); delete gets rid of it. */
  assert_int_equal(
      wfc__store_conn_update_secrets(st, a.id, "{\"t\":\"new\"}", 0), WFC_EKEY);
  assert_tampered(a.id);
  assert_int_equal(wfc__store_conn_update_state(st, a.id, "connected", ""),
                   WFC_EKEY);
  assert_int_equal(wfc__store_conn_update_params(st, a.id, "{}"), WFC_EKEY);
  assert_int_equal(wfc__store_conn_update_account(st, a.id, "x@y"), WFC_EKEY);
  assert_int_equal(wfc__store_conn_wipe_secrets(st, a.id), WFC_EKEY);
  assert_int_equal(wfc__store_conn_get(st, a.id, &g), WFC_EKEY);
  wfc__conn_rec_clear(&g);
  assert_int_equal(wfc__store_conn_delete(st, a.id), 0);
  assert_int_equal(wfc__store_conn_get(st, a.id, &g), WFC_ENOTFOUND);
  assert_int_equal(wfc__store_conn_get(st, "b", &g), 0);
  wfc__conn_rec_clear(&g);
  wfc__store_close(st);
}

/* A raw handle on the store, as an attacker (or a broken tool) would use:
 * no key, plain SQL; SQLite or PostgreSQL as the location says. */
typedef struct raw_h {
  sqlite3 *lite;
  PGconn *pg;
} raw_h;

static raw_h *raw_open(const char *db) {
  raw_h *h = calloc(1, sizeof *h);
  assert_non_null(h);
  if (is_pg(db)) {
    h->pg = PQconnectdb(db);
    if (PQstatus(h->pg) != CONNECTION_OK)
      fail_msg("%s: %s", db, PQerrorMessage(h->pg));
    return h;
  }
  assert_int_equal(sqlite3_open(db, &h->lite), SQLITE_OK);
  sqlite3_busy_timeout(h->lite, 5000);
  return h;
}

static void raw_close(raw_h *h) {
  if (h->pg != NULL)
    PQfinish(h->pg);
  if (h->lite != NULL)
    sqlite3_close(h->lite);
  free(h);
}

static void raw_do(raw_h *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void raw_do(raw_h *h, const char *fmt, ...) {
  char sql[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(sql, sizeof sql, fmt, ap);
  va_end(ap);
  if (h->pg != NULL) {
    PGresult *r = PQexec(h->pg, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK &&
        PQresultStatus(r) != PGRES_TUPLES_OK)
      fail_msg("%s: %s", sql, PQerrorMessage(h->pg));
    PQclear(r);
    return;
  }
  if (sqlite3_exec(h->lite, sql, NULL, NULL, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(h->lite));
}

/* Each column that decides where a secret goes or whose it is, changed
 * alone (and the nicknames of two connections swapped): the record is
 * refused by every read and write that would use it, with the clear words;
 * put back as it was, it verifies again. last_used_at is outside the MAC
 * (docs/store.md). */
static void test_every_field_is_authenticated(void **state) {
  fixture *f = *state;
  static const struct {
    const char *col, *expr, *pg_expr; /* pg_expr NULL: expr */
  } edits[] = {
      {"id", "'conn_0000000000000000'", NULL},
      {"nickname", "'mallory'", NULL},
      {"plugin", "'other'", NULL},
      {"conn_type", "'other'", NULL},
      {"environment", "'preview'", NULL},
      {"account", "'mallory@evil.example'", NULL},
      {"owner", "'mallory'", NULL},
      {"state", "'connected'", NULL},
      {"remedy", "'run evil.sh'", NULL},
      {"params", "json_set(params, '$.graph_url', 'http://127.0.0.1:9/v1.0')",
       "jsonb_set(params::jsonb, '{graph_url}', "
       "'\"http://127.0.0.1:9/v1.0\"')::text"},
      {"params", "json_set(params, '$.authority_url', 'http://127.0.0.1:9')",
       "jsonb_set(params::jsonb, '{authority_url}', "
       "'\"http://127.0.0.1:9\"')::text"},
      {"params", "json_set(params, '$.tenant', 'evil.example')",
       "jsonb_set(params::jsonb, '{tenant}', '\"evil.example\"')::text"},
      {"params", "json_set(params, '$.client_id', 'evil-app')",
       "jsonb_set(params::jsonb, '{client_id}', '\"evil-app\"')::text"},
      {"params", "' ' || params", NULL},
      {"secrets", "NULL", NULL},
      {"secrets", "substr(secrets, 1, length(secrets) - 1) || x'00'",
       "set_byte(secrets, length(secrets) - 1, get_byte(secrets, "
       "length(secrets) - 1) # 1)"},
      {"created_at", "created_at + 1", NULL},
      {"updated_at", "updated_at + 1", NULL},
      {"expires_at", "expires_at + 3600000", NULL},
      {"mac", "NULL", NULL},
      {"mac", "(SELECT mac FROM connections WHERE nickname = 'bob')", NULL},
  };
  wfc__store *st = open_ok(f->db);
  wfc__conn_rec a, b, g;
  raw_h *h;
  char *json = NULL;

  make_rec(&a, "alice", "");
  a.params = "{\"tenant\":\"contoso\",\"graph_url\":\"http://good/v1.0\"}";
  a.expires_at = 5000;
  assert_int_equal(wfc__store_conn_insert(st, &a, "{\"t\":\"a\"}"), 0);
  make_rec(&b, "bob", "");
  assert_int_equal(wfc__store_conn_insert(st, &b, "{\"t\":\"b\"}"), 0);
  h = raw_open(f->db);
  raw_do(h, "CREATE TEMP TABLE saved AS SELECT * FROM connections");
  for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
    const char *id =
        strcmp(edits[i].col, "id") == 0 ? "conn_0000000000000000" : a.id;
    const char *expr = is_pg(f->db) && edits[i].pg_expr != NULL
                           ? edits[i].pg_expr
                           : edits[i].expr;
    raw_do(h, "UPDATE connections SET %s = %s WHERE id = '%s'", edits[i].col,
           expr, a.id);
    if (wfc__store_conn_get(st, id, &g) != WFC_EKEY)
      fail_msg("%s = %s: get did not refuse", edits[i].col, expr);
    assert_tampered(id);
    assert_true(g.tampered);
    wfc__conn_rec_clear(&g);
    assert_int_equal(wfc__store_conn_secrets(st, id, &json), WFC_EKEY);
    assert_null(json);
    assert_tampered(id);
    assert_int_equal(wfc__store_conn_update_state(st, id, "error", "x"),
                     WFC_EKEY);
    assert_int_equal(wfc__store_conn_update_secrets(st, id, "{}", 0), WFC_EKEY);
    /* The other connection is untouched. */
    assert_int_equal(wfc__store_conn_secrets(st, b.id, &json), 0);
    wfc__secret_free(json);
    /* Put back: it verifies again (the check is exact, not sticky). */
    raw_do(h,
           "UPDATE connections SET %s = (SELECT %s FROM saved WHERE "
           "saved.id = '%s') WHERE id = '%s'",
           edits[i].col, edits[i].col, a.id, id);
    assert_int_equal(wfc__store_conn_get(st, a.id, &g), 0);
    wfc__conn_rec_clear(&g);
    assert_int_equal(wfc__store_conn_secrets(st, a.id, &json), 0);
    assert_string_equal(json, "{\"t\":\"a\"}");
    wfc__secret_free(json);
  }

  /* Nicknames swapped: "send as alice" must not find bob's record. */
  raw_do(h, "UPDATE connections SET nickname = 'tmp' WHERE nickname = 'alice';"
            "UPDATE connections SET nickname = 'alice' WHERE nickname = 'bob';"
            "UPDATE connections SET nickname = 'bob' WHERE nickname = 'tmp'");
  assert_int_equal(wfc__store_conn_get(st, "alice", &g), WFC_EKEY);
  assert_string_equal(g.id, b.id);
  wfc__conn_rec_clear(&g);
  assert_int_equal(wfc__store_conn_get(st, "bob", &g), WFC_EKEY);
  wfc__conn_rec_clear(&g);
  assert_int_equal(wfc__store_conn_secrets(st, b.id, &json), WFC_EKEY);
  assert_int_equal(wfc__store_conn_secrets(st, a.id, &json), WFC_EKEY);
  raw_do(h, "UPDATE connections SET nickname = 'tmp' WHERE nickname = 'alice';"
            "UPDATE connections SET nickname = 'alice' WHERE nickname = 'bob';"
            "UPDATE connections SET nickname = 'bob' WHERE nickname = 'tmp'");

  /* last_used_at decides nothing: outside the MAC, so an edit of it
   * leaves the row verifying. */
  raw_do(h, "UPDATE connections SET last_used_at = 42 WHERE id = '%s'", a.id);
  assert_int_equal(wfc__store_conn_get(st, "alice", &g), 0);
  assert_int_equal(g.last_used_at, 42);
  wfc__conn_rec_clear(&g);
  raw_close(h);

  /* Legitimate writes keep it valid. */
  assert_int_equal(wfc__store_conn_update_state(st, a.id, "error", "x"), 0);
  assert_int_equal(wfc__store_conn_update_params(st, a.id, "{\"x\":1}"), 0);
  assert_int_equal(wfc__store_conn_update_account(st, a.id, "a@b"), 0);
  assert_int_equal(wfc__store_conn_update_secrets(st, a.id, "{\"t\":2}", 7), 0);
  assert_int_equal(wfc__store_conn_wipe_secrets(st, a.id), 0);
  assert_int_equal(wfc__store_conn_get(st, a.id, &g), 0);
  assert_string_equal(g.params, "{\"x\":1}");
  wfc__conn_rec_clear(&g);
  wfc__store_close(st);
}

/* A checkpoint can be a URL (a Graph delta link) the card GETs with the
 * bearer token: one edited outside the store is refused, by get and by
 * compare-and-set; so is one moved or copied to another connection. */
static void test_checkpoints_are_authenticated(void **state) {
  fixture *f = *state;
  static const char *const edits[] = {
      "checkpoint = 'http://127.0.0.1:9/steal?token'",
      "events_accepted = events_accepted + 1",
      "updated_at = updated_at + 1",
      "sub_key = 'other'",
      "card_id = 'other.card'",
      "mac = NULL",
  };
  wfc__store *st = open_ok(f->db);
  wfc__conn_rec a, b;
  raw_h *h;
  char *cp = NULL;
  int64_t ev = 0;

  make_rec(&a, "alice", "");
  make_rec(&b, "bob", "");
  assert_int_equal(wfc__store_conn_insert(st, &a, NULL), 0);
  assert_int_equal(wfc__store_conn_insert(st, &b, NULL), 0);
  assert_int_equal(
      wfc__store_checkpoint_cas(st, a.id, "o.new_email", "{}", NULL, "d1", 2),
      0);
  h = raw_open(f->db);
  raw_do(h, "CREATE TEMP TABLE saved AS SELECT * FROM checkpoints");
  for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
    raw_do(h, "UPDATE checkpoints SET %s", edits[i]);
    /* sub_key / card_id: the row is now another subscription's. */
    const char *card =
        strncmp(edits[i], "card_id", 7) == 0 ? "other.card" : "o.new_email";
    const char *sub = strncmp(edits[i], "sub_key", 7) == 0 ? "other" : "{}";
    assert_int_equal(wfc__store_checkpoint_get(st, a.id, card, sub, &cp, &ev),
                     WFC_EKEY);
    assert_null(cp);
    assert_tampered(a.id);
    assert_non_null(strstr(wfc__store_last_error(), "checkpoint"));
    assert_int_equal(
        wfc__store_checkpoint_cas(st, a.id, card, sub, "d1", "d2", 1),
        WFC_EKEY);
    raw_do(h, "DELETE FROM checkpoints;"
              "INSERT INTO checkpoints SELECT * FROM saved");
    assert_int_equal(
        wfc__store_checkpoint_get(st, a.id, "o.new_email", "{}", &cp, &ev), 0);
    assert_string_equal(cp, "d1");
    assert_int_equal(ev, 2);
    free(cp);
    cp = NULL;
  }
  /* Moved to bob, or copied to bob with its MAC. */
  raw_do(h, "UPDATE checkpoints SET conn_id = '%s'", b.id);
  assert_int_equal(
      wfc__store_checkpoint_get(st, b.id, "o.new_email", "{}", &cp, NULL),
      WFC_EKEY);
  assert_tampered(b.id);
  raw_do(h,
         "DELETE FROM checkpoints;"
         "INSERT INTO checkpoints SELECT * FROM saved;"
         "INSERT INTO checkpoints SELECT '%s', card_id, sub_key, "
         "checkpoint, events_accepted, updated_at, mac FROM saved",
         b.id);
  assert_int_equal(
      wfc__store_checkpoint_get(st, b.id, "o.new_email", "{}", &cp, NULL),
      WFC_EKEY);
  assert_int_equal(
      wfc__store_checkpoint_get(st, a.id, "o.new_email", "{}", &cp, NULL), 0);
  free(cp);
  raw_close(h);
  /* A legitimate advance keeps it valid. */
  assert_int_equal(
      wfc__store_checkpoint_cas(st, a.id, "o.new_email", "{}", "d1", "d2", 1),
      0);
  assert_int_equal(
      wfc__store_checkpoint_get(st, a.id, "o.new_email", "{}", &cp, &ev), 0);
  assert_string_equal(cp, "d2");
  assert_int_equal(ev, 3);
  free(cp);
  wfc__store_close(st);
}

/* The claim calls of the tests before claims had holders: 0 when the
 * caller ("h") holds the claim, WFC_EEXIST (and *res the recorded outcome,
 * or NULL) when not, else the store's error. */
static int claim_h(wfc__store *st, const char *key, const char *conn_id,
                   char **res) {
  wfc__idem_claim c;
  int rc = wfc__store_idem_claim(st, key, conn_id, "h", 60000, &c);
  if (res != NULL)
    *res = NULL;
  if (rc != 0)
    return rc;
  if (c.state == WFC__CLAIM_MINE)
    return 0;
  if (res != NULL)
    *res = c.result;
  else
    free(c.result);
  return WFC_EEXIST;
}

/* A recorded result of a side effect is what a retry reports instead of
 * acting: one edited outside the store is not handed out. */
static void test_idempotency_results_are_authenticated(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db);
  wfc__conn_rec a;
  char *res = NULL;

  make_rec(&a, "alice", "");
  assert_int_equal(wfc__store_conn_insert(st, &a, NULL), 0);
  assert_int_equal(claim_h(st, "k1", a.id, NULL), 0);
  assert_int_equal(claim_h(st, "k2", NULL, NULL), 0);
  assert_int_equal(wfc__store_idem_finish(st, "k1", "{\"sent\":true}"), 0);
  raw_exec(f->db, "UPDATE idempotency SET result = '{\"sent\":false}' "
                  "WHERE key = 'k1'");
  assert_int_equal(claim_h(st, "k1", a.id, &res), WFC_EKEY);
  assert_null(res);
  assert_tampered(a.id);
  assert_int_equal(wfc__store_idem_finish(st, "k1", "{}"), WFC_EKEY);
  /* A claim still in progress made to look finished. */
  raw_exec(f->db, "UPDATE idempotency SET result = '{}' WHERE key = 'k2'");
  assert_int_equal(claim_h(st, "k2", NULL, &res), WFC_EKEY);
  assert_non_null(strstr(wfc__store_last_error(), WORDS));
  assert_int_equal(wfc__store_idem_finish(st, "k2", "{}"), WFC_EKEY);
  wfc__store_close(st);
}

static const uint8_t opts_key[32] = {42, 1, 2, 3};

static void test_migrates_from_older_schema(void **state) {
  fixture *f = *state;
  wfc__store_opts o = {.master_key = opts_key, .schema_version = 1};
  wfc__store *st = NULL;
  wfc__conn_rec r, g;
  char err[512], *cp = NULL;
  int64_t ev = 0;

  /* A store as release 1 of the schema left it. */
  assert_int_equal(wfc__store_open_ex(f->db, &o, &st, err, sizeof err), 0);
  assert_int_equal(wfc__store_schema_version(st), 1);
  make_rec(&r, "old", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, "{\"t\":\"old\"}"), 0);
  wfc__store_close(st);
  assert_int_equal(
      raw_int(f->db, sqlx(f->db,
                          "SELECT count(*) FROM sqlite_schema WHERE "
                          "name = 'checkpoints'",
                          "SELECT count(*) FROM pg_tables WHERE "
                          "tablename = 'checkpoints'")),
      0);
  /* The host key was used: no key file was created. */
  assert_int_equal(access(f->key, F_OK), -1);

  o.schema_version = 0;
  assert_int_equal(wfc__store_open_ex(f->db, &o, &st, err, sizeof err), 0);
  assert_int_equal(wfc__store_schema_version(st), WFC__STORE_SCHEMA_VERSION);
  assert_int_equal(raw_int(f->db, sqlx(f->db, "PRAGMA user_version",
                                       "SELECT version FROM wfc_schema")),
                   WFC__STORE_SCHEMA_VERSION);
  assert_int_equal(wfc__store_conn_get(st, "old", &g), 0);
  wfc__conn_rec_clear(&g);
  assert_int_equal(wfc__store_conn_secrets(st, r.id, &cp), 0);
  assert_string_equal(cp, "{\"t\":\"old\"}");
  wfc__secret_free(cp);
  assert_int_equal(
      wfc__store_checkpoint_cas(st, r.id, "new_email", NULL, NULL, "d1", 1), 0);
  assert_int_equal(
      wfc__store_checkpoint_get(st, r.id, "new_email", NULL, &cp, &ev), 0);
  assert_string_equal(cp, "d1");
  free(cp);
  assert_int_equal(claim_h(st, "k1", r.id, NULL), 0);
  assert_int_equal(wfc__store_lease_take(st, r.id, "h", 1000, NULL), 0);
  wfc__store_close(st);

  /* A store from a newer release is refused, not misread. */
  raw_exec(f->db, sqlx(f->db, "PRAGMA user_version = 99",
                       "UPDATE wfc_schema SET version = 99"));
  assert_int_equal(wfc__store_open_ex(f->db, &o, &st, err, sizeof err),
                   WFC_ESTORE);
  assert_non_null(strstr(err, "newer"));
  o.schema_version = WFC__STORE_SCHEMA_VERSION + 1;
  raw_exec(f->db, sqlx(f->db, "PRAGMA user_version = 3",
                       "UPDATE wfc_schema SET version = 3"));
  assert_int_equal(wfc__store_open_ex(f->db, &o, &st, err, sizeof err),
                   WFC_EINVAL);
}

/* From the schema before WFC__STORE_MAC_VERSION (no MACs) to it: the rows
 * there at the upgrade get their MACs (trusted as they are then:
 * docs/store.md) and verify; changes made afterwards are refused. Lowering
 * user_version again to have the migration bless changed rows, or
 * dropping the key check, is refused. */
static void test_migration_authenticates_existing_rows(void **state) {
  fixture *f = *state;
  const int before = WFC__STORE_MAC_VERSION - 1;
  wfc__store_opts o = {.master_key = opts_key, .schema_version = before};
  wfc__store *st = NULL;
  wfc__conn_rec r, g;
  char err[512], *cp = NULL, *res = NULL;
  raw_h *h;

  assert_int_equal(wfc__store_open_ex(f->db, &o, &st, err, sizeof err), 0);
  assert_int_equal(wfc__store_schema_version(st), before);
  make_rec(&r, "old", "");
  r.params = "{\"tenant\":\"contoso\"}";
  assert_int_equal(wfc__store_conn_insert(st, &r, "{\"t\":\"old\"}"), 0);
  assert_int_equal(
      wfc__store_checkpoint_cas(st, r.id, "o.new_email", NULL, NULL, "d1", 1),
      0);
  assert_int_equal(claim_h(st, "k", r.id, NULL), 0);
  assert_int_equal(wfc__store_idem_finish(st, "k", "{\"sent\":true}"), 0);
  wfc__store_close(st);

  o.schema_version = 0;
  assert_int_equal(wfc__store_open_ex(f->db, &o, &st, err, sizeof err), 0);
  assert_int_equal(wfc__store_schema_version(st), WFC__STORE_SCHEMA_VERSION);
  assert_int_equal(wfc__store_conn_get(st, "old", &g), 0);
  assert_false(g.tampered);
  wfc__conn_rec_clear(&g);
  assert_int_equal(wfc__store_conn_secrets(st, r.id, &cp), 0);
  assert_string_equal(cp, "{\"t\":\"old\"}");
  wfc__secret_free(cp);
  assert_int_equal(
      wfc__store_checkpoint_get(st, r.id, "o.new_email", NULL, &cp, NULL), 0);
  assert_string_equal(cp, "d1");
  free(cp);
  assert_int_equal(claim_h(st, "k", r.id, &res), WFC_EEXIST);
  assert_string_equal(res, "{\"sent\":true}");
  free(res);
  wfc__store_close(st);
  assert_int_equal(raw_int(f->db, "SELECT count(*) FROM connections WHERE "
                                  "length(mac) = 32"),
                   1);

  /* Changed after the upgrade: refused. */
  h = raw_open(f->db);
  raw_do(h, "%s",
         sqlx(f->db,
              "UPDATE connections SET params = json_set(params, "
              "'$.graph_url', 'http://127.0.0.1:9/v1.0')",
              "UPDATE connections SET params = jsonb_set(params::jsonb, "
              "'{graph_url}', '\"http://127.0.0.1:9/v1.0\"')::text"));
  assert_int_equal(wfc__store_open_ex(f->db, &o, &st, err, sizeof err), 0);
  assert_int_equal(wfc__store_conn_get(st, "old", &g), WFC_EKEY);
  wfc__conn_rec_clear(&g);
  wfc__store_close(st);

  /* The schema lowered (and the MACs dropped) so that the upgrade runs
   * again over the changed row: the key check says the rows had MACs. */
  raw_do(h,
         "ALTER TABLE connections DROP COLUMN mac;"
         "ALTER TABLE checkpoints DROP COLUMN mac;"
         "ALTER TABLE idempotency DROP COLUMN mac;"
         /* the later versions' tables and indexes too */
         "DROP TABLE refresh_leases;"
         "DROP INDEX connections_by_nickname;"
         "ALTER TABLE idempotency DROP COLUMN holder;"
         "ALTER TABLE idempotency DROP COLUMN expires_at;"
         "DROP TABLE sub_leases;"
         "DROP TABLE lease_fences;"
         "%s = %d",
         sqlx(f->db, "PRAGMA user_version", "UPDATE wfc_schema SET version"),
         before);
  assert_int_equal(wfc__store_open_ex(f->db, &o, &st, err, sizeof err),
                   WFC_ESTORE);
  assert_null(st);
  assert_non_null(strstr(err, WORDS));
  /* Refused before anything was written: still the old version. */
  assert_int_equal(raw_int(f->db, sqlx(f->db, "PRAGMA user_version",
                                       "SELECT version FROM wfc_schema")),
                   before);
  /* Nor may the key check go, for a new one to be written. */
  raw_do(h, "DELETE FROM meta WHERE name = 'key_check'");
  assert_int_equal(wfc__store_open_ex(f->db, &o, &st, err, sizeof err),
                   WFC_ESTORE);
  assert_non_null(strstr(err, "key check"));
  assert_int_equal(raw_int(f->db, "SELECT count(*) FROM meta"), 0);
  raw_close(h);
}

/* Only a store wfc made is opened: an empty file (SQLite would take it for
 * a new database), a file that is not SQLite, an SQLite database that is
 * not a wfc store are refused and left as they were; no key is made up. A
 * new store leaves no temporary file behind. */
static void test_refuses_what_is_not_a_store(void **state) {
  fixture *f = *state;
  wfc__store *st = NULL;
  char err[512];
  struct stat sb;
  FILE *fp;
  DIR *d;
  struct dirent *e;
  int files = 0;

  fp = fopen(f->db, "w");
  assert_non_null(fp);
  fclose(fp);
  assert_int_equal(chmod(f->db, 0600), 0);
  assert_int_equal(wfc__store_open(f->db, &st, err, sizeof err), WFC_ESTORE);
  assert_null(st);
  assert_non_null(strstr(err, "empty (0 bytes)"));
  assert_non_null(strstr(err, f->db));
  assert_int_equal(stat(f->db, &sb), 0);
  assert_int_equal(sb.st_size, 0);
  assert_int_equal(access(f->key, F_OK), -1);

  fp = fopen(f->db, "w");
  fputs("these are not the rows you are looking for\n", fp);
  fclose(fp);
  assert_int_equal(wfc__store_open(f->db, &st, err, sizeof err), WFC_ESTORE);
  assert_non_null(strstr(err, "not an SQLite database"));

  assert_int_equal(unlink(f->db), 0);
  raw_exec(f->db, "CREATE TABLE notes (t TEXT)");
  assert_int_equal(chmod(f->db, 0600), 0);
  assert_int_equal(wfc__store_open(f->db, &st, err, sizeof err), WFC_ESTORE);
  assert_non_null(strstr(err, "not a wfc store"));
  assert_int_equal(access(f->key, F_OK), -1);

  assert_int_equal(unlink(f->db), 0);
  st = open_ok(f->db);
  wfc__store_close(st);
  d = opendir(f->dir);
  while ((e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') {
      files++;
      if (strcmp(e->d_name, "store.db") != 0 &&
          strcmp(e->d_name, "store.db.key") != 0)
        fail_msg("left behind: %s", e->d_name);
    }
  closedir(d);
  assert_int_equal(files, 2);
}

static void test_two_handles_share_one_file(void **state) {
  fixture *f = *state;
  wfc__store *s1 = open_ok(f->db), *s2 = open_ok(f->db);
  wfc__conn_rec r, g;
  char *cp = NULL;
  int64_t ev = 0;

  make_rec(&r, "shared", "");
  assert_int_equal(wfc__store_conn_insert(s1, &r, "{}"), 0);
  assert_int_equal(wfc__store_conn_get(s2, "shared", &g), 0);
  wfc__conn_rec_clear(&g);

  assert_int_equal(
      wfc__store_checkpoint_get(s1, r.id, "card", "inbox", &cp, &ev),
      WFC_ENOTFOUND);
  assert_int_equal(
      wfc__store_checkpoint_cas(s1, r.id, "card", "inbox", NULL, "d1", 3), 0);
  /* s2 also thought there was none: it loses. */
  assert_int_equal(
      wfc__store_checkpoint_cas(s2, r.id, "card", "inbox", NULL, "x", 9),
      WFC_ESTALE);
  assert_int_equal(
      wfc__store_checkpoint_cas(s2, r.id, "card", "inbox", "d1", "d2", 2), 0);
  /* s1 is now behind. */
  assert_int_equal(
      wfc__store_checkpoint_cas(s1, r.id, "card", "inbox", "d1", "d3", 1),
      WFC_ESTALE);
  assert_int_equal(
      wfc__store_checkpoint_get(s1, r.id, "card", "inbox", &cp, &ev), 0);
  assert_string_equal(cp, "d2");
  assert_int_equal(ev, 5);
  free(cp);
  /* Other subscription keys are independent. */
  assert_int_equal(
      wfc__store_checkpoint_cas(s1, r.id, "card", NULL, NULL, "o1", 1), 0);
  assert_int_equal(
      wfc__store_checkpoint_cas(s1, "conn_missing", "card", NULL, NULL, "d", 0),
      WFC_ENOTFOUND);
  assert_int_equal(wfc__store_checkpoint_delete(s2, r.id, "card", NULL), 0);
  assert_int_equal(
      wfc__store_checkpoint_get(s1, r.id, "card", NULL, NULL, NULL),
      WFC_ENOTFOUND);
  wfc__store_close(s1);
  wfc__store_close(s2);
}

typedef struct {
  const char *db;
  const char *conn_id;
  int rounds;
  int stale;
} cas_worker;

/* Each worker advances the checkpoint "n" -> "n+1" through its own handle,
 * re-reading after losing a race. */
static void *cas_thread(void *arg) {
  cas_worker *w = arg;
  wfc__store *st = NULL;
  char err[256];

  if (wfc__store_open(w->db, &st, err, sizeof err) != 0)
    return "open";
  for (int done = 0; done < w->rounds;) {
    char *cur = NULL, next[32];
    int rc =
        wfc__store_checkpoint_get(st, w->conn_id, "card", NULL, &cur, NULL);
    if (rc != 0 && rc != WFC_ENOTFOUND) {
      wfc__store_close(st);
      return "get";
    }
    snprintf(next, sizeof next, "%d", cur ? atoi(cur) + 1 : 1);
    rc = wfc__store_checkpoint_cas(st, w->conn_id, "card", NULL, cur, next, 1);
    free(cur);
    if (rc == 0)
      done++;
    else if (rc == WFC_ESTALE)
      w->stale++;
    else {
      wfc__store_close(st);
      return "cas";
    }
  }
  wfc__store_close(st);
  return NULL;
}

static void test_checkpoint_cas_across_threads(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db);
  wfc__conn_rec r;
  cas_worker w[2];
  pthread_t t[2];
  char *cp = NULL;
  int64_t ev = 0;

  make_rec(&r, "events", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, NULL), 0);
  for (int i = 0; i < 2; i++) {
    w[i] = (cas_worker){f->db, r.id, 40, 0};
    assert_int_equal(pthread_create(&t[i], NULL, cas_thread, &w[i]), 0);
  }
  for (int i = 0; i < 2; i++) {
    void *res;
    assert_int_equal(pthread_join(t[i], &res), 0);
    if (res != NULL)
      fail_msg("worker %d failed at %s", i, (char *)res);
  }
  /* Every advance counted once: no lost or doubled update. */
  assert_int_equal(wfc__store_checkpoint_get(st, r.id, "card", NULL, &cp, &ev),
                   0);
  assert_string_equal(cp, "80");
  assert_int_equal(ev, 80);
  free(cp);
  wfc__store_close(st);
}

typedef struct {
  const char *db;
  pthread_barrier_t *go;
  int rc;
  char id[WFC__CONN_ID_SIZE];
  char err[256];
} opener;

static void *open_thread(void *arg) {
  opener *o = arg;
  wfc__store *st = NULL;
  wfc__conn_rec r;

  pthread_barrier_wait(o->go);
  o->rc = wfc__store_open(o->db, &st, NULL, 0);
  if (o->rc != 0)
    snprintf(o->err, sizeof o->err, "%s", wfc__store_last_error());
  if (o->rc == 0) {
    make_rec(&r, o->id[0] ? "second" : "first", "");
    o->rc = wfc__store_conn_insert(st, &r, "{\"t\":1}");
    memcpy(o->id, r.id, sizeof o->id);
    wfc__store_close(st);
  }
  return NULL;
}

/* Two processes creating the same new store at once agree on one key: each
 * can open what the other sealed. */
static void test_concurrent_first_open(void **state) {
  fixture *f = *state;
  pthread_barrier_t go;
  pthread_t t[2];
  opener o[2] = {{f->db, &go, -1, "", ""}, {f->db, &go, -1, "x", ""}};
  wfc__store *st;
  char *json = NULL;

  assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_create(&t[i], NULL, open_thread, &o[i]), 0);
  for (int i = 0; i < 2; i++)
    assert_int_equal(pthread_join(t[i], NULL), 0);
  pthread_barrier_destroy(&go);
  for (int i = 0; i < 2; i++)
    if (o[i].rc != 0)
      fail_msg("opener %d: %s (%s)", i, wfc_err_name(o[i].rc), o[i].err);
  st = open_ok(f->db);
  for (int i = 0; i < 2; i++) {
    assert_int_equal(wfc__store_conn_secrets(st, o[i].id, &json), 0);
    assert_string_equal(json, "{\"t\":1}");
    wfc__secret_free(json);
  }
  wfc__store_close(st);
}

static int64_t fixed_clock(void *arg) {
  return *(int64_t *)arg;
}

static void test_idempotency_keys(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db);
  int64_t now = 1000000;
  int purged = -1;
  wfc__idem_claim c;
  wfc__conn_rec r;

  wfc__clock_set(fixed_clock, &now);
  make_rec(&r, "sender", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, NULL), 0);
  assert_int_equal(r.created_at, 1000000);

  /* Two holders: the first claims, the second learns it is in progress
   * until when, and by whom. */
  assert_int_equal(wfc__store_idem_claim(st, "send-1", r.id, "A", 30000, &c),
                   0);
  assert_int_equal(c.state, WFC__CLAIM_MINE);
  assert_false(c.taken_over);
  assert_int_equal(c.until_ms, 1030000);
  assert_int_equal(wfc__store_idem_claim(st, "send-1", r.id, "B", 30000, &c),
                   0);
  assert_int_equal(c.state, WFC__CLAIM_HELD);
  assert_time(f->db, c.until_ms, 1030000);
  assert_string_equal(c.holder, "A");
  /* Neither release nor end by another holder. */
  assert_int_equal(wfc__store_idem_end(st, "send-1", "B", 1), WFC_EBUSY);
  /* The holder claiming again renews. */
  now += 10000;
  assert_int_equal(wfc__store_idem_claim(st, "send-1", r.id, "A", 30000, &c),
                   0);
  assert_int_equal(c.state, WFC__CLAIM_MINE);
  assert_false(c.taken_over);
  assert_int_equal(c.until_ms, 1040000);
  /* Marked sent: every claimant gets the outcome, the first one stays. */
  assert_int_equal(wfc__store_idem_finish(st, "send-1", "{\"sent\":true}"), 0);
  assert_int_equal(wfc__store_idem_finish(st, "send-1", "{\"sent\":2}"),
                   WFC_EEXIST);
  assert_int_equal(wfc__store_idem_claim(st, "send-1", NULL, "B", 30000, &c),
                   0);
  assert_int_equal(c.state, WFC__CLAIM_SENT);
  assert_string_equal(c.result, "{\"sent\":true}");
  free(c.result);
  assert_int_equal(wfc__store_idem_end(st, "send-1", "A", 1), WFC_EEXIST);
  assert_int_equal(wfc__store_idem_finish(st, "nope", "{}"), WFC_ENOTFOUND);
  assert_int_equal(wfc__store_idem_end(st, "nope", "A", 1), WFC_ENOTFOUND);
  assert_int_equal(
      wfc__store_idem_claim(st, "send-2", "conn_missing", "A", 30000, &c),
      WFC_ENOTFOUND);
  assert_int_equal(wfc__store_idem_claim(st, "send-2", NULL, "", 30000, &c),
                   WFC_EINVAL);
  assert_int_equal(wfc__store_idem_claim(st, "send-2", NULL, "A", 0, &c),
                   WFC_EINVAL);

  /* Released (nothing sent): the next claimant's, not taken over. */
  assert_int_equal(wfc__store_idem_claim(st, "send-3", NULL, "A", 30000, &c),
                   0);
  assert_int_equal(wfc__store_idem_end(st, "send-3", "A", 1), 0);
  assert_int_equal(wfc__store_idem_claim(st, "send-3", NULL, "B",
                                         is_pg(f->db) ? 300 : 30000, &c),
                   0);
  assert_int_equal(c.state, WFC__CLAIM_MINE);
  assert_false(c.taken_over);

  /* Expired: taken over, and the taker is told the holder may have sent.
   * On PostgreSQL the database's clock decides: the host's moving does not
   * expire it (test_pg_skewed_clocks), real time does. */
  now += 30000; /* send-3's claim ends at now */
  if (is_pg(f->db))
    usleep(400 * 1000);
  assert_int_equal(wfc__store_idem_claim(st, "send-3", NULL, "C", 30000, &c),
                   0);
  assert_int_equal(c.state, WFC__CLAIM_MINE);
  assert_true(c.taken_over);
  assert_string_equal(c.holder, "B");
  /* The holder that lost it finds it held, and still records its send. */
  assert_int_equal(wfc__store_idem_claim(st, "send-3", NULL, "B", 30000, &c),
                   0);
  assert_int_equal(c.state, WFC__CLAIM_HELD);
  assert_string_equal(c.holder, "C");
  assert_int_equal(wfc__store_idem_finish(st, "send-3", "{\"by\":\"B\"}"), 0);
  assert_int_equal(wfc__store_idem_claim(st, "send-3", NULL, "C", 30000, &c),
                   0);
  assert_int_equal(c.state, WFC__CLAIM_SENT);
  assert_string_equal(c.result, "{\"by\":\"B\"}");
  free(c.result);

  /* Ended with the outcome unknown: kept, and the next claimant takes it
   * over (it checks the service first). */
  assert_int_equal(wfc__store_idem_claim(st, "send-5", NULL, "A", 30000, &c),
                   0);
  assert_int_equal(wfc__store_idem_end(st, "send-5", "A", 0), 0);
  assert_int_equal(wfc__store_idem_claim(st, "send-5", NULL, "B", 30000, &c),
                   0);
  assert_int_equal(c.state, WFC__CLAIM_MINE);
  assert_true(c.taken_over);

  /* A holder of this node whose process is gone: taken over at once. */
  {
    char gone[WFC__LEASE_HOLDER_SIZE] = "";
    int fds[2];
    pid_t pid;
    assert_int_equal(pipe(fds), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
      char h[WFC__LEASE_HOLDER_SIZE];
      ssize_t w = -1;
      if (wfc__lease_holder_new(h, sizeof h) == 0)
        w = write(fds[1], h, strlen(h) + 1);
      _exit(w > 0 ? 0 : 1);
    }
    close(fds[1]);
    assert_true(read(fds[0], gone, sizeof gone - 1) > 0);
    close(fds[0]);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    assert_int_equal(wfc__store_idem_claim(st, "send-6", NULL, gone, 30000, &c),
                     0);
    assert_int_equal(wfc__store_idem_claim(st, "send-6", NULL, "B", 30000, &c),
                     0);
    assert_int_equal(c.state, WFC__CLAIM_MINE);
    assert_true(c.taken_over);
    assert_string_equal(c.holder, gone);
  }

  /* Purge forgets keys by age. */
  now = 2000000;
  assert_int_equal(wfc__store_idem_claim(st, "send-4", NULL, "A", 30000, &c),
                   0);
  assert_int_equal(wfc__store_idem_purge(st, 1500000, &purged), 0);
  assert_int_equal(purged, 4); /* send-1, -3, -5, -6 */
  assert_int_equal(wfc__store_idem_claim(st, "send-4", NULL, "B", 30000, &c),
                   0);
  assert_int_equal(c.state, WFC__CLAIM_HELD);
  assert_int_equal(wfc__store_idem_claim(st, "send-1", NULL, "B", 30000, &c),
                   0);
  assert_int_equal(c.state, WFC__CLAIM_MINE);
  assert_false(c.taken_over);
  wfc__store_close(st);
}

/* A claim in progress whose row was changed outside the store (its
 * connection, its age) is refused, not handed out or taken over. */
static void test_idempotency_claim_tampered(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db);
  wfc__idem_claim c;
  wfc__conn_rec a, b;

  make_rec(&a, "alice", "");
  make_rec(&b, "bob", "");
  assert_int_equal(wfc__store_conn_insert(st, &a, NULL), 0);
  assert_int_equal(wfc__store_conn_insert(st, &b, NULL), 0);
  assert_int_equal(wfc__store_idem_claim(st, "k", a.id, "A", 30000, &c), 0);
  raw_exec(f->db, "UPDATE idempotency SET conn_id = (SELECT id FROM "
                  "connections WHERE nickname = 'bob') WHERE key = 'k'");
  assert_int_equal(wfc__store_idem_claim(st, "k", a.id, "B", 30000, &c),
                   WFC_EKEY);
  assert_int_equal(c.state, 0);
  assert_non_null(strstr(wfc__store_last_error(), WORDS));
  assert_int_equal(wfc__store_idem_finish(st, "k", "{}"), WFC_EKEY);
  assert_int_equal(wfc__store_idem_end(st, "k", "A", 1), WFC_EKEY);
  wfc__store_close(st);
}

static void test_wipe_and_delete(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db);
  wfc__conn_rec r, g;
  char *json = NULL;

  make_rec(&r, "to-revoke", "");
  r.expires_at = 5000;
  assert_int_equal(wfc__store_conn_insert(st, &r, "{\"t\":\"CANARY-wipe\"}"),
                   0);
  assert_int_equal(
      wfc__store_checkpoint_cas(st, r.id, "card", NULL, NULL, "d", 1), 0);
  assert_int_equal(claim_h(st, "k", r.id, NULL), 0);

  assert_int_equal(wfc__store_conn_wipe_secrets(st, r.id), 0);
  assert_int_equal(wfc__store_conn_update_state(st, r.id, "revoked", ""), 0);
  assert_int_equal(wfc__store_conn_get(st, r.id, &g), 0);
  assert_false(g.has_secrets);
  assert_int_equal(g.expires_at, 0);
  assert_string_equal(g.state, "revoked");
  wfc__conn_rec_clear(&g);
  assert_int_equal(wfc__store_conn_secrets(st, r.id, &json), WFC_ENOTFOUND);
  assert_int_equal(wfc__store_conn_wipe_secrets(st, "conn_none"),
                   WFC_ENOTFOUND);

  /* Delete takes checkpoints and idempotency keys with it. */
  assert_int_equal(wfc__store_conn_delete(st, r.id), 0);
  assert_int_equal(wfc__store_conn_get(st, r.id, &g), WFC_ENOTFOUND);
  assert_int_equal(wfc__store_conn_delete(st, r.id), WFC_ENOTFOUND);
  assert_int_equal(
      wfc__store_checkpoint_get(st, r.id, "card", NULL, NULL, NULL),
      WFC_ENOTFOUND);
  assert_int_equal(claim_h(st, "k", NULL, NULL), 0);
  wfc__store_close(st);
  assert_int_equal(raw_int(f->db, "SELECT count(*) FROM checkpoints"), 0);
}

/* ---- refresh leases ---------------------------------------------------- */

/* A lease or claim time read back: on PostgreSQL the database's clock
 * decides (docs/store.md, "Clocks"), translated into the host's in the
 * statement that read it, so it is the host's value to within the
 * statements' own duration. */
static void assert_time(const char *db, int64_t got, int64_t want) {
  if (!is_pg(db))
    assert_int_equal(got, want);
  else if (got < want - 2000 || got > want + 2000)
    fail_msg("time %lld, expected about %lld", (long long)got, (long long)want);
}

static int64_t fake_now;
static int64_t fake_clock(void *arg) {
  (void)arg;
  return fake_now;
}

static char *secrets_of(wfc__store *st, const char *id) {
  char *json = NULL;
  assert_int_equal(wfc__store_conn_secrets(st, id, &json), 0);
  return json;
}

/* holder's token save (json) under fence is refused as taken over, and
 * the stored secrets stay kept. */
static void assert_save_refused(wfc__store *st, const char *id,
                                const char *json, const char *holder,
                                int64_t fence, const char *kept) {
  int released = -1;
  assert_int_equal(
      wfc__store_conn_rotate(st, id, json, 0, holder, fence, &released),
      WFC_ESTALE);
  assert_non_null(strstr(wfc__store_last_error(), "taken over"));
  char *now = secrets_of(st, id);
  assert_string_equal(now, kept);
  wfc__secret_free(now);
}

static void test_refresh_lease(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db), *other = open_ok(f->db);
  wfc__conn_rec r, g;
  wfc__lease l;
  char *json;
  int released = -1;

  fake_now = 1800000000000;
  wfc__clock_set(fake_clock, NULL);
  make_rec(&r, "leased", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, "{\"rt\":\"0\"}"), 0);

  /* Take: free -> ours, seen the same from another handle. */
  assert_int_equal(wfc__store_lease_get(st, r.id, &l), WFC_ENOTFOUND);
  assert_int_equal(wfc__store_lease_take(st, r.id, "A", 30000, NULL), 0);
  assert_int_equal(wfc__store_lease_get(other, r.id, &l), 0);
  assert_string_equal(l.holder, "A");
  assert_time(f->db, l.taken_at, fake_now);
  assert_time(f->db, l.expires_at, fake_now + 30000);

  /* Contend: another holder is refused and told who holds it until when;
   * the holder renews (taken_at kept). */
  fake_now += 10000;
  assert_int_equal(wfc__store_lease_take(other, r.id, "B", 30000, &l),
                   WFC_EBUSY);
  assert_string_equal(l.holder, "A");
  if (!is_pg(f->db)) /* PostgreSQL: no time passed on its clock */
    assert_int_equal(l.expires_at, fake_now + 20000);
  assert_non_null(strstr(wfc__store_last_error(), "being refreshed by A"));
  assert_int_equal(wfc__store_lease_take(st, r.id, "A", 30000, NULL), 0);
  assert_int_equal(wfc__store_lease_get(st, r.id, &l), 0);
  assert_time(f->db, l.taken_at, is_pg(f->db) ? fake_now : fake_now - 10000);
  assert_time(f->db, l.expires_at, fake_now + 30000);

  /* Release: only by its holder. */
  assert_int_equal(wfc__store_lease_release(other, r.id, "B"), WFC_ENOTFOUND);
  assert_int_equal(wfc__store_lease_release(st, r.id, "A"), 0);
  assert_int_equal(wfc__store_lease_get(st, r.id, &l), WFC_ENOTFOUND);
  assert_int_equal(wfc__store_lease_release(st, r.id, "A"), WFC_ENOTFOUND);

  /* Expire: a holder that stopped renewing is taken over once expires_at
   * has passed, not a millisecond before; its late release does nothing. */
  assert_int_equal(wfc__store_lease_take(st, r.id, "A", 1000, NULL), 0);
  fake_now += 999;
  assert_int_equal(wfc__store_lease_take(other, r.id, "B", 30000, NULL),
                   WFC_EBUSY);
  fake_now += 1;
  if (is_pg(f->db)) { /* the database's clock decides */
    assert_int_equal(wfc__store_lease_take(other, r.id, "B", 30000, NULL),
                     WFC_EBUSY);
    usleep(1100 * 1000);
  }
  assert_int_equal(wfc__store_lease_take(other, r.id, "B", 30000, NULL), 0);
  assert_int_equal(wfc__store_lease_get(st, r.id, &l), 0);
  assert_string_equal(l.holder, "B");
  assert_time(f->db, l.taken_at, fake_now);
  assert_int_equal(wfc__store_lease_release(st, r.id, "A"), WFC_ENOTFOUND);

  /* Rotate: the new secrets and the release in one call. */
  assert_int_equal(wfc__store_conn_rotate(other, r.id, "{\"rt\":\"1\"}",
                                          fake_now + 3600000, "B", 0,
                                          &released),
                   0);
  assert_int_equal(released, 1);
  assert_int_equal(wfc__store_lease_get(st, r.id, &l), WFC_ENOTFOUND);
  json = secrets_of(st, r.id);
  assert_string_equal(json, "{\"rt\":\"1\"}");
  wfc__secret_free(json);
  assert_int_equal(wfc__store_conn_get(st, r.id, &g), 0);
  assert_int_equal(g.expires_at, fake_now + 3600000);
  wfc__conn_rec_clear(&g);

  /* Unfenced (fence 0), a holder whose lease was taken over still saves
   * what it got, and leaves the new holder's lease alone (fenced, it
   * would not: test_lease_fencing). */
  assert_int_equal(wfc__store_lease_take(st, r.id, "C", 5000, NULL), 0);
  assert_int_equal(wfc__store_conn_rotate(other, r.id, "{\"rt\":\"2\"}", 0, "B",
                                          0, &released),
                   0);
  assert_int_equal(released, 0);
  assert_int_equal(wfc__store_lease_get(st, r.id, &l), 0);
  assert_string_equal(l.holder, "C");
  json = secrets_of(st, r.id);
  assert_string_equal(json, "{\"rt\":\"2\"}");
  wfc__secret_free(json);

  /* Revoked meanwhile (another process wiped it): nothing is written over
   * the wipe, the lease is released all the same. */
  assert_int_equal(wfc__store_conn_wipe_secrets(other, r.id), 0);
  assert_int_equal(wfc__store_conn_update_state(other, r.id, "revoked", ""), 0);
  assert_int_equal(
      wfc__store_conn_rotate(st, r.id, "{\"rt\":\"3\"}", 0, "C", 0, &released),
      WFC_EREAUTH);
  assert_non_null(strstr(wfc__store_last_error(), "revoked"));
  assert_int_equal(released, 1);
  assert_int_equal(wfc__store_conn_secrets(st, r.id, &json), WFC_ENOTFOUND);
  assert_int_equal(wfc__store_lease_get(st, r.id, &l), WFC_ENOTFOUND);

  /* Bad arguments, unknown connections; the lease goes with the
   * connection. */
  assert_int_equal(wfc__store_lease_take(st, r.id, "", 1000, NULL), WFC_EINVAL);
  assert_int_equal(wfc__store_lease_take(st, r.id, "A\nB", 1000, NULL),
                   WFC_EINVAL);
  assert_int_equal(wfc__store_lease_take(st, r.id, "A", 0, NULL), WFC_EINVAL);
  assert_int_equal(wfc__store_lease_take(st, "conn_none", "A", 1000, NULL),
                   WFC_ENOTFOUND);
  assert_int_equal(
      wfc__store_conn_rotate(st, r.id, "{}", 0, NULL, 0, &released),
      WFC_EINVAL);
  assert_int_equal(wfc__store_lease_take(st, r.id, "A", 1000, NULL), 0);
  assert_int_equal(wfc__store_conn_delete(st, r.id), 0);
  assert_int_equal(raw_int(f->db, "SELECT count(*) FROM refresh_leases"), 0);
  wfc__store_close(other);
  wfc__store_close(st);
}

/* What another process sees of a rotation, in its own read transactions:
 * the lease held with the secrets it was taken with, then the lease free
 * with the new secrets - never the new secrets under the lease (saved
 * before the release) nor the lease free over the spent ones (released
 * before the save), which would let a waiter refresh with a spent token. */
typedef struct lease_watch {
  const char *db, *id;
  volatile int stop;
  volatile int seen_held; /* the iteration whose lease was seen held */
  volatile int seen_free; /* ... and then seen released */
  volatile int iteration;
  int reads, violations;
} lease_watch;

/* One look at the lease and the secrets, in one snapshot, through the
 * database's own client: 0 and *held, blob; -1 to try again. */
typedef struct lease_look {
  sqlite3 *h;
  sqlite3_stmt *s;
  PGconn *pc;
} lease_look;

static int look(lease_look *lk, const char *id, int *held, char *blob,
                size_t len) {
  if (lk->pc != NULL) {
    const char *v[1] = {id};
    PGresult *r = PQexecParams(
        lk->pc,
        "SELECT (SELECT count(*) FROM refresh_leases WHERE conn_id = $1),"
        " encode(secrets, 'hex') FROM connections WHERE id = $1",
        1, NULL, v, NULL, NULL, 0);
    int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    if (ok) {
      *held = atoi(PQgetvalue(r, 0, 0));
      snprintf(blob, len, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return ok ? 0 : -1;
  }
  if (sqlite3_step(lk->s) != SQLITE_ROW) { /* busy: try again */
    sqlite3_reset(lk->s);
    return -1;
  }
  *held = sqlite3_column_int(lk->s, 0);
  snprintf(blob, len, "%s", sqlite3_column_text(lk->s, 1));
  sqlite3_reset(lk->s); /* ends the statement's read transaction */
  return 0;
}

static void *lease_watcher(void *arg) {
  lease_watch *w = arg;
  lease_look lk = {0};
  char free_blob[512] = "", blob[512];
  int was_free = 1;
  if (is_pg(w->db)) {
    lk.pc = PQconnectdb(w->db);
    assert_int_equal(PQstatus(lk.pc), CONNECTION_OK);
  } else {
    assert_int_equal(sqlite3_open_v2(w->db, &lk.h, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    sqlite3_busy_timeout(lk.h, 5000);
    assert_int_equal(
        sqlite3_prepare_v2(lk.h,
                           "SELECT (SELECT count(*) FROM refresh_leases WHERE "
                           "conn_id = ?1), hex(secrets) FROM connections "
                           "WHERE id = ?1",
                           -1, &lk.s, NULL),
        SQLITE_OK);
    sqlite3_bind_text(lk.s, 1, w->id, -1, SQLITE_STATIC);
  }
  while (!w->stop) {
    int it = w->iteration, held = 0;
    if (look(&lk, w->id, &held, blob, sizeof blob) != 0)
      continue;
    w->reads++;
    if (held) {
      if (free_blob[0] != '\0' && strcmp(blob, free_blob) != 0)
        w->violations++; /* saved before released */
      w->seen_held = it;
      was_free = 0;
    } else {
      if (was_free && free_blob[0] != '\0' && strcmp(blob, free_blob) != 0)
        w->violations++; /* released before saved */
      snprintf(free_blob, sizeof free_blob, "%s", blob);
      was_free = 1;
      w->seen_free = it;
    }
  }
  sqlite3_finalize(lk.s);
  sqlite3_close(lk.h);
  PQfinish(lk.pc);
  return NULL;
}

/* Subscription leases (docs/fleet.md): the refresh lease's semantics per
 * (connection, card, subscription): take, contend with the holder named,
 * renew keeping taken_at, other subscriptions apart, release by the holder
 * only, expiry to the millisecond, gone with the connection. */
static void test_subscription_lease(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db), *other = open_ok(f->db);
  wfc__conn_rec r;
  wfc__lease l;
  const char *card = "p.new_email", *sub = "{\"folder\":\"inbox\"}";

  fake_now = 1800000000000;
  wfc__clock_set(fake_clock, NULL);
  make_rec(&r, "watched", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, "{}"), 0);
  assert_int_equal(wfc__store_sub_lease_get(st, r.id, card, sub, &l),
                   WFC_ENOTFOUND);
  assert_int_equal(
      wfc__store_sub_lease_take(st, r.id, card, sub, "A", 30000, NULL), 0);
  assert_int_equal(wfc__store_sub_lease_get(other, r.id, card, sub, &l), 0);
  assert_string_equal(l.holder, "A");
  assert_time(f->db, l.expires_at, fake_now + 30000);

  fake_now += 10000;
  assert_int_equal(
      wfc__store_sub_lease_take(other, r.id, card, sub, "B", 30000, &l),
      WFC_EBUSY);
  assert_string_equal(l.holder, "A");
  assert_non_null(strstr(wfc__store_last_error(), "watched by A"));
  /* Another subscription (input, card) is another lease. */
  assert_int_equal(
      wfc__store_sub_lease_take(other, r.id, card, "{}", "B", 30000, NULL), 0);
  assert_int_equal(wfc__store_sub_lease_take(other, r.id, "p.email_flagged",
                                             sub, "B", 30000, NULL),
                   0);
  /* Renewal (the heartbeat) keeps taken_at. */
  assert_int_equal(
      wfc__store_sub_lease_take(st, r.id, card, sub, "A", 30000, NULL), 0);
  assert_int_equal(wfc__store_sub_lease_get(st, r.id, card, sub, &l), 0);
  assert_time(f->db, l.taken_at, is_pg(f->db) ? fake_now : fake_now - 10000);
  assert_time(f->db, l.expires_at, fake_now + 30000);

  assert_int_equal(wfc__store_sub_lease_release(other, r.id, card, sub, "B"),
                   WFC_ENOTFOUND);
  assert_int_equal(wfc__store_sub_lease_release(st, r.id, card, sub, "A"), 0);
  assert_int_equal(wfc__store_sub_lease_get(st, r.id, card, sub, &l),
                   WFC_ENOTFOUND);

  /* A holder that stopped renewing is taken over at its expiry. */
  assert_int_equal(
      wfc__store_sub_lease_take(st, r.id, card, sub, "A", 1000, NULL), 0);
  fake_now += 999;
  assert_int_equal(
      wfc__store_sub_lease_take(other, r.id, card, sub, "B", 30000, NULL),
      WFC_EBUSY);
  fake_now += 1;
  if (is_pg(f->db)) { /* the database's clock decides */
    assert_int_equal(
        wfc__store_sub_lease_take(other, r.id, card, sub, "B", 30000, NULL),
        WFC_EBUSY);
    usleep(1100 * 1000);
  }
  assert_int_equal(
      wfc__store_sub_lease_take(other, r.id, card, sub, "B", 30000, NULL), 0);
  assert_int_equal(wfc__store_sub_lease_release(st, r.id, card, sub, "A"),
                   WFC_ENOTFOUND);

  /* Unknown connection; gone with its connection. */
  assert_int_equal(
      wfc__store_sub_lease_take(st, "conn_nope", card, sub, "A", 30000, NULL),
      WFC_ENOTFOUND);
  assert_int_equal(wfc__store_conn_delete(st, r.id), 0);
  assert_int_equal(wfc__store_sub_lease_get(st, r.id, card, sub, &l),
                   WFC_ENOTFOUND);
  wfc__clock_set(NULL, NULL);
  wfc__conn_rec_clear(&r);
  wfc__store_close(st);
  wfc__store_close(other);
}

/* Fencing (docs/store.md, "Fencing"): a holder that stalled past its
 * lease while another took it over writes nothing under it any more:
 * not its rotated tokens, not the subscription's checkpoint, not an event
 * mark; the taker's writes go through. Real time (short leases). */
static void test_lease_fencing(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db), *other = open_ok(f->db);
  const char *card = "p.new_email", *sub = "{}";
  wfc__conn_rec r;
  wfc__lease a, b, l;
  int released = -1;

  make_rec(&r, "fenced", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, "{\"rt\":\"0\"}"), 0);

  /* Refresh lease: A takes it, stalls past it; B takes it over. */
  assert_int_equal(wfc__store_lease_take(st, r.id, "A", 300, &a), 0);
  assert_true(a.fence > 0);
  assert_int_equal(wfc__store_lease_take(st, r.id, "A", 300, &l), 0);
  assert_int_equal(l.fence, a.fence); /* a renewal keeps it */
  usleep(400 * 1000);
  assert_int_equal(wfc__store_lease_take(other, r.id, "B", 30000, &b), 0);
  assert_true(b.fence > a.fence);
  assert_int_equal(wfc__store_conn_rotate(other, r.id, "{\"rt\":\"B\"}", 0, "B",
                                          b.fence, &released),
                   0);
  assert_int_equal(released, 1);
  /* A resumes: its save is refused, B's tokens stay. */
  assert_save_refused(st, r.id, "{\"rt\":\"A\"}", "A", a.fence,
                      "{\"rt\":\"B\"}");
  /* Its lease timer takes the (free) lease again: a new number, never
   * A's old one, so the old save stays refused. */
  assert_int_equal(wfc__store_lease_take(st, r.id, "A", 30000, &l), 0);
  assert_true(l.fence > b.fence);
  assert_int_equal(wfc__store_conn_rotate(st, r.id, "{\"rt\":\"A\"}", 0, "A",
                                          a.fence, &released),
                   WFC_ESTALE);
  assert_int_equal(wfc__store_lease_get(other, r.id, &b), 0);
  assert_int_equal(b.fence, l.fence);
  assert_int_equal(wfc__store_lease_release(st, r.id, "A"), 0);

  /* Subscription lease: the checkpoint and the marks. */
  assert_int_equal(wfc__store_sub_lease_take(st, r.id, card, sub, "A", 300, &a),
                   0);
  wfc__fence fa = {"A", a.fence};
  assert_int_equal(wfc__store_event_mark_fenced(st, r.id, card, sub, "e1", &fa),
                   0);
  assert_int_equal(wfc__store_checkpoint_cas_fenced(st, r.id, card, sub, NULL,
                                                    "cp1", 1, &fa),
                   0);
  usleep(400 * 1000);
  assert_int_equal(
      wfc__store_sub_lease_take(other, r.id, card, sub, "B", 30000, &b), 0);
  assert_true(b.fence > a.fence);
  wfc__fence fb = {"B", b.fence};
  assert_int_equal(wfc__store_event_mark_fenced(st, r.id, card, sub, "e2", &fa),
                   WFC_ESTALE);
  assert_int_equal(wfc__store_event_seen(st, r.id, card, sub, "e2"), 0);
  assert_int_equal(wfc__store_checkpoint_cas_fenced(st, r.id, card, sub, "cp1",
                                                    "cp2", 1, &fa),
                   WFC_ESTALE);
  assert_int_equal(
      wfc__store_event_mark_fenced(other, r.id, card, sub, "e2", &fb), 0);
  assert_int_equal(wfc__store_checkpoint_cas_fenced(other, r.id, card, sub,
                                                    "cp1", "cp2", 1, &fb),
                   0);
  char *cp = NULL;
  assert_int_equal(wfc__store_checkpoint_get(st, r.id, card, sub, &cp, NULL),
                   0);
  assert_string_equal(cp, "cp2");
  free(cp);
  wfc__conn_rec_clear(&r);
  wfc__store_close(st);
  wfc__store_close(other);
}

/* The fence is the holder and its number together: a write that names
 * the lease's current number under another holder's name is refused as
 * well (every other test of a stale write has both differ), on each
 * fenced write; the holder's own writes then go through. */
static void test_lease_fence_names_holder(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db);
  const char *card = "p.new_email", *sub = "{}";
  wfc__conn_rec r;
  wfc__lease a;
  char *json, *cp = NULL;
  int released = -1;

  make_rec(&r, "holder", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, "{\"rt\":\"0\"}"), 0);

  assert_int_equal(wfc__store_lease_take(st, r.id, "A", 30000, &a), 0);
  assert_save_refused(st, r.id, "{\"rt\":\"B\"}", "B", a.fence,
                      "{\"rt\":\"0\"}");
  assert_int_equal(wfc__store_conn_rotate(st, r.id, "{\"rt\":\"A\"}", 0, "A",
                                          a.fence, &released),
                   0);
  json = secrets_of(st, r.id);
  assert_string_equal(json, "{\"rt\":\"A\"}");
  wfc__secret_free(json);

  assert_int_equal(
      wfc__store_sub_lease_take(st, r.id, card, sub, "A", 30000, &a), 0);
  wfc__fence fa = {"A", a.fence}, fb = {"B", a.fence};
  assert_int_equal(wfc__store_event_mark_fenced(st, r.id, card, sub, "e1", &fb),
                   WFC_ESTALE);
  assert_non_null(strstr(wfc__store_last_error(), "taken over"));
  assert_int_equal(wfc__store_event_seen(st, r.id, card, sub, "e1"), 0);
  assert_int_equal(wfc__store_checkpoint_cas_fenced(st, r.id, card, sub, NULL,
                                                    "cp1", 1, &fb),
                   WFC_ESTALE);
  assert_int_equal(wfc__store_checkpoint_get(st, r.id, card, sub, &cp, NULL),
                   WFC_ENOTFOUND);
  assert_int_equal(wfc__store_event_mark_fenced(st, r.id, card, sub, "e1", &fa),
                   0);
  assert_int_equal(wfc__store_event_seen(st, r.id, card, sub, "e1"), 1);
  assert_int_equal(wfc__store_checkpoint_cas_fenced(st, r.id, card, sub, NULL,
                                                    "cp1", 1, &fa),
                   0);
  assert_int_equal(wfc__store_checkpoint_get(st, r.id, card, sub, &cp, NULL),
                   0);
  assert_string_equal(cp, "cp1");
  free(cp);
  wfc__conn_rec_clear(&r);
  wfc__store_close(st);
}

static int64_t skew_ms;
static int64_t skewed_clock(void *arg) {
  (void)arg;
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + skew_ms;
}

/* PostgreSQL: lease and claim expiry run on the database's clock, so a
 * host whose clock is a minute ahead (or behind) neither takes a live
 * lease or claim early nor reads a wrong expiry (docs/store.md,
 * "Clocks"). */
static void test_pg_skewed_clocks(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db), *other = open_ok(f->db);
  const char *card = "p.new_email";
  wfc__conn_rec r;
  wfc__lease l;
  wfc__idem_claim c;

  make_rec(&r, "skewed", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, "{}"), 0);
  skew_ms = 0;
  wfc__clock_set(skewed_clock, NULL);
  assert_int_equal(wfc__store_lease_take(st, r.id, "A", 30000, NULL), 0);
  assert_int_equal(
      wfc__store_sub_lease_take(st, r.id, card, "", "A", 30000, NULL), 0);
  assert_int_equal(wfc__store_idem_claim(st, "k1", r.id, "A", 30000, &c), 0);
  assert_int_equal(c.state, WFC__CLAIM_MINE);

  /* Another host, its clock 60 s ahead: all three are still A's, and the
   * expiry it reads is 30 s from its own now. */
  skew_ms = 60000;
  assert_int_equal(wfc__store_lease_take(other, r.id, "B", 30000, &l),
                   WFC_EBUSY);
  assert_string_equal(l.holder, "A");
  assert_time(f->db, l.expires_at, wfc__now_ms() + 30000);
  assert_int_equal(
      wfc__store_sub_lease_take(other, r.id, card, "", "B", 30000, &l),
      WFC_EBUSY);
  assert_int_equal(wfc__store_idem_claim(other, "k1", r.id, "B", 30000, &c), 0);
  assert_int_equal(c.state, WFC__CLAIM_HELD);
  assert_time(f->db, c.until_ms, wfc__now_ms() + 30000);

  /* One 60 s behind takes a lease for 1 s: expired for everyone after 1 s
   * of real time, not after 61. */
  skew_ms = -60000;
  assert_int_equal(wfc__store_lease_release(st, r.id, "A"), 0);
  assert_int_equal(wfc__store_lease_take(st, r.id, "A", 1000, NULL), 0);
  skew_ms = 0;
  usleep(1100 * 1000);
  assert_int_equal(wfc__store_lease_take(other, r.id, "B", 30000, NULL), 0);
  wfc__clock_set(NULL, NULL);
  wfc__conn_rec_clear(&r);
  wfc__store_close(st);
  wfc__store_close(other);
}

static void test_rotation_releases_atomically(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db);
  wfc__conn_rec r;
  pthread_t th;
  char secrets[64];

  make_rec(&r, "atomic", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, "{\"rt\":\"0\"}"), 0);
  lease_watch w = {.db = f->db, .id = r.id};
  assert_int_equal(pthread_create(&th, NULL, lease_watcher, &w), 0);
  for (int i = 1; i <= 100; i++) {
    w.iteration = i;
    assert_int_equal(wfc__store_lease_take(st, r.id, "H", 30000, NULL), 0);
    /* The watcher sees this lease held before it is released. */
    while (w.seen_held != i)
      usleep(100);
    w.seen_free = 0; /* the watcher's free sightings so far came before */
    snprintf(secrets, sizeof secrets, "{\"rt\":\"%d\"}", i);
    int released = 0;
    assert_int_equal(
        wfc__store_conn_rotate(st, r.id, secrets, 0, "H", 0, &released), 0);
    assert_int_equal(released, 1);
    /* ... and released before it is taken again. */
    while (w.seen_free != i)
      usleep(100);
  }
  w.stop = 1;
  pthread_join(th, NULL);
  wfc__store_close(st);
  assert_true(w.reads > 100);
  assert_int_equal(w.violations, 0);
}

/* PostgreSQL only: the location's forms, the errors that name the database
 * (never its password) and say what to do, a database store without a
 * master key, and a server restarted under an open handle. */
static void test_pg_locations_and_errors(void **state) {
  fixture *f = *state;
  wfc__store *st = NULL, *st2 = NULL;
  wfc__conn_rec r, g;
  char err[512], loc[512], where[256];
  char *json = NULL;

  /* Nothing listens there: the clear words, no password, after the
   * store's wait (short here). */
  setenv("WFC_STORE_WAIT_MS", "300", 1);
  assert_int_equal(wfc__store_open("postgresql://wfc:s3cr3t-pw@127.0.0.1:1/x",
                                   &st, err, sizeof err),
                   WFC_ESTORE);
  assert_non_null(strstr(err, "tried for 300 ms"));
  assert_null(st);
  assert_non_null(strstr(err, "the PostgreSQL database at 127.0.0.1:1/x "
                              "cannot be reached"));
  assert_non_null(strstr(err, "check that it runs and WFC_STORE"));
  assert_null(strstr(err, "s3cr3t-pw"));
  wfc__store_describe("postgres://u:pw@db.example:6543/wfc?sslmode=verify-full",
                      where, sizeof where);
  assert_string_equal(where, "db.example:6543/wfc");
  assert_string_equal(wfc__store_backend_name("host=db.example dbname=wfc"),
                      "postgresql");
  assert_string_equal(wfc__store_backend_name("/var/lib/wfc/store.db"),
                      "sqlite");
  assert_string_equal(wfc__store_backend_name("./a=b.db"), "sqlite");

  /* No key file for a database: without WFC_MASTER_KEY, a clear refusal. */
  unsetenv("WFC_MASTER_KEY");
  assert_int_equal(wfc__store_open(f->db, &st, err, sizeof err), WFC_EKEY);
  assert_non_null(strstr(err, "WFC_MASTER_KEY"));
  setenv("WFC_MASTER_KEY",
         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1);

  st = open_ok(f->db);
  make_rec(&r, "pgconn", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, "{\"t\":\"pg\"}"), 0);
  /* The keyword form names the same database. */
  snprintf(loc, sizeof loc, "host=127.0.0.1 port=%d user=wfc dbname=%s",
           pg_cluster_port(pg), strrchr(f->db, '/') + 1);
  st2 = open_ok(loc);
  assert_int_equal(wfc__store_conn_get(st2, "pgconn", &g), 0);
  wfc__conn_rec_clear(&g);
  wfc__store_close(st2);

  /* A wrong master key is the same clear error as with SQLite. */
  setenv("WFC_MASTER_KEY",
         "ff112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1);
  assert_int_equal(wfc__store_open(f->db, &st2, err, sizeof err), WFC_EKEY);
  assert_non_null(strstr(err, "the master key does not match this store"));
  setenv("WFC_MASTER_KEY",
         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 1);

  /* The server restarts: the handle reconnects on its next call. */
  assert_int_equal(pg_cluster_restart(pg), 0);
  assert_int_equal(wfc__store_conn_secrets(st, r.id, &json), 0);
  assert_string_equal(json, "{\"t\":\"pg\"}");
  wfc__secret_free(json);
  /* Down: a named error, nothing half-done; up again: it works. */
  assert_int_equal(pg_cluster_down(pg, 1), 0);
  assert_int_equal(wfc__store_conn_update_state(st, r.id, "connected", ""),
                   WFC_ESTORE);
  assert_non_null(strstr(wfc__store_last_error(), "cannot be reached"));
  assert_int_equal(pg_cluster_up(pg), 0);
  assert_int_equal(wfc__store_conn_update_state(st, r.id, "connected", ""), 0);
  assert_int_equal(wfc__store_conn_get(st, r.id, &g), 0);
  assert_string_equal(g.state, "connected");
  wfc__conn_rec_clear(&g);
  wfc__store_close(st);
  unsetenv("WFC_STORE_WAIT_MS");
}

/* ---- PostgreSQL: the pool and a database that goes away ------------------
 * (docs/store.md, "Connection pool" and "When the database goes away".) */

/* The first column of the first row of sql on PostgreSQL conninfo. */
static int pg_int(const char *conninfo, const char *sql) {
  PGresult *r = pg_raw(conninfo, sql);
  int v = PQntuples(r) > 0 ? atoi(PQgetvalue(r, 0, 0)) : -1;
  PQclear(r);
  return v;
}

typedef struct bg_op {
  wfc__store *st;
  const char *id, *state;
  volatile int done;
  int rc;
  char err[512];
} bg_op;

static void *bg_update_state(void *arg) {
  bg_op *o = arg;
  o->rc = wfc__store_conn_update_state(o->st, o->id, o->state, "bg");
  snprintf(o->err, sizeof o->err, "%s", wfc__store_last_error());
  o->done = 1;
  return NULL;
}

/* One handle, two threads: while one operation waits for a row another
 * session holds locked, the handle's other operations go on (on a
 * connection of their own: nothing serializes them on one). */
static void test_pg_pool_runs_side_by_side(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db);
  wfc__conn_rec a, b, g;
  char sql[256];
  pthread_t th;
  PGconn *op = PQconnectdb(f->db);

  make_rec(&a, "held", "");
  make_rec(&b, "free", "");
  assert_int_equal(wfc__store_conn_insert(st, &a, "{}"), 0);
  assert_int_equal(wfc__store_conn_insert(st, &b, "{}"), 0);
  assert_int_equal(PQstatus(op), CONNECTION_OK);
  snprintf(sql, sizeof sql,
           "BEGIN; SELECT 1 FROM connections WHERE id = '%s' FOR UPDATE", a.id);
  PQclear(PQexec(op, sql));
  bg_op o = {.st = st, .id = a.id, .state = "error"};
  assert_int_equal(pthread_create(&th, NULL, bg_update_state, &o), 0);
  /* Until the update waits on the lock. */
  for (int i = 0;
       i < 200 && raw_int(f->db, "SELECT count(*) FROM pg_stat_activity WHERE"
                                 " application_name = 'wfc' AND"
                                 " wait_event_type = 'Lock'") == 0;
       i++)
    usleep(20000);
  assert_false(o.done);
  assert_int_equal(wfc__store_conn_get(st, b.id, &g), 0);
  wfc__conn_rec_clear(&g);
  assert_int_equal(wfc__store_checkpoint_cas(st, b.id, "c", NULL, NULL, "1", 1),
                   0);
  assert_int_equal(wfc__store_conn_update_state(st, b.id, "connected", ""), 0);
  assert_false(o.done); /* still waiting: the others did not wait for it */
  PQclear(PQexec(op, "COMMIT"));
  pthread_join(th, NULL);
  assert_int_equal(o.rc, 0);
  PQfinish(op);
  wfc__store_close(st);
}

typedef struct hammer {
  wfc__store *st;
  const char *id;
  int errors;
} hammer;

static void *hammer_run(void *arg) {
  hammer *h = arg;
  for (int i = 0; i < 40; i++) {
    char *json = NULL;
    if (wfc__store_conn_secrets(h->st, h->id, &json) != 0 ||
        wfc__store_conn_update_state(h->st, h->id, "connected", "") != 0)
      h->errors++;
    wfc__secret_free(json);
  }
  return NULL;
}

/* pool_max in the location bounds the connections a handle opens, however
 * many threads call it; a bad value is refused naming it. */
static void test_pg_pool_is_bounded(void **state) {
  fixture *f = *state;
  char loc[600], err[512];
  wfc__store *st = NULL;
  wfc__conn_rec r;
  pthread_t th[8];
  hammer h[8];
  int most = 0;
  const char *count = "SELECT count(*) FROM pg_stat_activity WHERE"
                      " application_name = 'wfc' AND"
                      " datname = current_database()";

  snprintf(loc, sizeof loc, "%s?pool_max=0", f->db);
  assert_int_equal(wfc__store_open(loc, &st, err, sizeof err), WFC_EINVAL);
  assert_non_null(strstr(err, "pool_max must be a number from 1 to"));
  snprintf(loc, sizeof loc, "%s?pool_max=lots", f->db);
  assert_int_equal(wfc__store_open(loc, &st, err, sizeof err), WFC_EINVAL);
  /* Shown without it, as any location. */
  snprintf(loc, sizeof loc, "%s?pool_max=2&connect_timeout=5", f->db);
  char where[256], plain[256];
  wfc__store_describe(loc, where, sizeof where);
  wfc__store_describe(f->db, plain, sizeof plain);
  assert_string_equal(where, plain);
  st = open_ok(loc);
  make_rec(&r, "busy", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, "{\"t\":\"x\"}"), 0);
  for (int i = 0; i < 8; i++) {
    h[i] = (hammer){.st = st, .id = r.id};
    assert_int_equal(pthread_create(&th[i], NULL, hammer_run, &h[i]), 0);
  }
  for (int i = 0; i < 20; i++) {
    int n = raw_int(f->db, count);
    most = n > most ? n : most;
    usleep(10000);
  }
  for (int i = 0; i < 8; i++) {
    pthread_join(th[i], NULL);
    assert_int_equal(h[i].errors, 0);
  }
  /* The pool keeps what it made: at most 2, and 2 were needed. */
  assert_true(most <= 2);
  assert_int_equal(raw_int(f->db, count), 2);
  wfc__store_close(st);
  assert_int_equal(raw_int(f->db, count), 0);

  /* The keyword form takes it too. */
  snprintf(loc, sizeof loc,
           "host=127.0.0.1 port=%d user=wfc dbname=%s "
           "pool_max=1",
           pg_cluster_port(pg), strrchr(f->db, '/') + 1);
  st = open_ok(loc);
  assert_int_equal(wfc__store_conn_update_state(st, r.id, "connected", ""), 0);
  wfc__store_close(st);
}

/* Down, then up within the store's wait: the operation waits and is done
 * once; down for longer: it fails naming the database and the wait. */
static void test_pg_waits_for_the_database(void **state) {
  fixture *f = *state;
  wfc__store *st;
  wfc__conn_rec r, g;
  pthread_t th;

  setenv("WFC_STORE_WAIT_MS", "20000", 1);
  st = open_ok(f->db);
  make_rec(&r, "patient", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, "{}"), 0);
  assert_int_equal(pg_cluster_down(pg, 1), 0);
  bg_op o = {.st = st, .id = r.id, .state = "error"};
  assert_int_equal(pthread_create(&th, NULL, bg_update_state, &o), 0);
  usleep(1500000);
  assert_false(o.done); /* waiting for the database */
  assert_int_equal(pg_cluster_up(pg), 0);
  pthread_join(th, NULL);
  assert_int_equal(o.rc, 0);
  assert_int_equal(wfc__store_conn_get(st, r.id, &g), 0);
  assert_string_equal(g.state, "error");
  wfc__conn_rec_clear(&g);
  wfc__store_close(st);

  /* A shorter wait than the outage. */
  setenv("WFC_STORE_WAIT_MS", "500", 1);
  st = open_ok(f->db);
  assert_int_equal(pg_cluster_restart(pg), 0); /* the pool's connections cut */
  assert_int_equal(pg_cluster_down(pg, 1), 0);
  int64_t t0 = wfc__monotonic_ms();
  assert_int_equal(wfc__store_conn_update_state(st, r.id, "connected", ""),
                   WFC_ESTORE);
  assert_true(wfc__monotonic_ms() - t0 >= 500);
  char where[256];
  wfc__store_describe(f->db, where, sizeof where);
  assert_non_null(strstr(wfc__store_last_error(), where));
  assert_non_null(strstr(wfc__store_last_error(), "cannot be reached"));
  assert_non_null(strstr(wfc__store_last_error(), "tried for 500 ms"));
  assert_int_equal(pg_cluster_up(pg), 0);
  assert_int_equal(wfc__store_conn_get(st, r.id, &g), 0);
  assert_string_equal(g.state, "error"); /* nothing half-done */
  wfc__conn_rec_clear(&g);
  wfc__store_close(st);
}

/* The connection cut while COMMIT runs (a deferred trigger makes the
 * commit slow; the operator ends the session): the store asks the database
 * whether the transaction committed (txid_status), learns it did not, and
 * runs the operation again: done once, its row verifying. */
static void test_pg_commit_cut_runs_again(void **state) {
  fixture *f = *state;
  wfc__store *st = open_ok(f->db);
  wfc__conn_rec r, g;
  pthread_t th;
  int pid = 0;

  make_rec(&r, "slow-commit", "");
  assert_int_equal(wfc__store_conn_insert(st, &r, "{}"), 0);
  raw_exec(f->db,
           "CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql AS"
           " $$BEGIN PERFORM pg_sleep(1); RETURN NULL; END$$;"
           "CREATE CONSTRAINT TRIGGER slow_commit AFTER UPDATE ON connections"
           " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW"
           " EXECUTE FUNCTION slow_commit()");
  bg_op o = {.st = st, .id = r.id, .state = "error"};
  assert_int_equal(pthread_create(&th, NULL, bg_update_state, &o), 0);
  for (int i = 0; i < 500 && pid == 0; i++) {
    pid = pg_int(pg_cluster_admin_conninfo(pg),
                 "SELECT coalesce(max(pid), 0) FROM pg_stat_activity WHERE"
                 " application_name = 'wfc' AND state = 'active' AND"
                 " query = 'COMMIT'");
    if (pid == 0)
      usleep(10000);
  }
  assert_true(pid > 0);
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)::int", pid);
  assert_int_equal(pg_int(pg_cluster_admin_conninfo(pg), sql), 1);
  pthread_join(th, NULL);
  assert_int_equal(o.rc, 0);
  assert_int_equal(wfc__store_conn_get(st, r.id, &g), 0); /* verifies */
  assert_string_equal(g.state, "error");
  assert_string_equal(g.remedy, "bg");
  wfc__conn_rec_clear(&g);
  wfc__store_close(st);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_open_creates_private_files, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_refuses_loose_modes_and_symlinks,
                                      setup, teardown),
      cmocka_unit_test_setup_teardown(test_connection_roundtrip, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_nothing_in_clear, setup, teardown),
      cmocka_unit_test_setup_teardown(test_wrong_key_is_a_clear_error, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_tampered_record_fails_alone, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_every_field_is_authenticated, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_checkpoints_are_authenticated, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_idempotency_results_are_authenticated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_migrates_from_older_schema, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(
          test_migration_authenticates_existing_rows, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refuses_what_is_not_a_store, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_two_handles_share_one_file, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_checkpoint_cas_across_threads, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_idempotency_keys, setup, teardown),
      cmocka_unit_test_setup_teardown(test_idempotency_claim_tampered, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wipe_and_delete, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refresh_lease, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lease_fencing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_lease_fence_names_holder, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_subscription_lease, setup, teardown),
      cmocka_unit_test_setup_teardown(test_rotation_releases_atomically, setup,
                                      teardown),
  };
  /* The same tests on PostgreSQL, all but those about the file itself
   * (modes, symlinks, the key file, foreign files); "nothing in clear"
   * reads the rows instead of the file, the lease watcher reads through
   * libpq; then the pool and a database that goes away. */
  const struct CMUnitTest pg_tests[] = {
      cmocka_unit_test_setup_teardown(test_connection_roundtrip, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_tampered_record_fails_alone,
                                      setup_pg, teardown),
      cmocka_unit_test_setup_teardown(test_every_field_is_authenticated,
                                      setup_pg, teardown),
      cmocka_unit_test_setup_teardown(test_checkpoints_are_authenticated,
                                      setup_pg, teardown),
      cmocka_unit_test_setup_teardown(
          test_idempotency_results_are_authenticated, setup_pg, teardown),
      cmocka_unit_test_setup_teardown(
          test_migration_authenticates_existing_rows, setup_pg, teardown),
      cmocka_unit_test_setup_teardown(test_migrates_from_older_schema, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_two_handles_share_one_file, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_checkpoint_cas_across_threads,
                                      setup_pg, teardown),
      cmocka_unit_test_setup_teardown(test_concurrent_first_open, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_idempotency_keys, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_idempotency_claim_tampered, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_wipe_and_delete, setup_pg, teardown),
      cmocka_unit_test_setup_teardown(test_refresh_lease, setup_pg, teardown),
      cmocka_unit_test_setup_teardown(test_lease_fencing, setup_pg, teardown),
      cmocka_unit_test_setup_teardown(test_lease_fence_names_holder, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_pg_skewed_clocks, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_subscription_lease, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_pg_locations_and_errors, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_nothing_in_clear, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_rotation_releases_atomically,
                                      setup_pg, teardown),
      cmocka_unit_test_setup_teardown(test_pg_pool_runs_side_by_side, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_pg_pool_is_bounded, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_pg_waits_for_the_database, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_pg_commit_cut_runs_again, setup_pg,
                                      teardown),
  };
  int failed =
      cmocka_run_group_tests_name("store on SQLite", tests, NULL, NULL);
  failed += cmocka_run_group_tests_name("store on PostgreSQL", pg_tests,
                                        pg_group_setup, pg_group_teardown);
  return failed;
}
