/* store_sqlite.c - the SQLite backend of the store (store_backend.h,
 * docs/store.md): one file, WAL, a new store built in a temporary file and
 * linked into place complete.
 *
 * Every statement is prepared with bound parameters. Multi-statement
 * changes run in BEGIN IMMEDIATE transactions opened by store.c (single
 * statements run in their own autocommit transaction). This file sees only
 * sealed secrets and MACs computed by store.c. */
#define _POSIX_C_SOURCE 200809L /* O_NOFOLLOW, O_CLOEXEC, strdup, pread */
#include "store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "blob.h" /* wfc__mkdirs */
#include "clock.h"

typedef struct sq {
  sqlite3 *db;
} sq;

/* Maps an SQLite result to a WFC code, keeping SQLite's words (they name
 * tables and columns, never values). */
static int db_fail(sq *b, int rc, const char *what) {
  int code = WFC_ESTORE;

  switch (rc & 0xff) {
  case SQLITE_BUSY:
  case SQLITE_LOCKED:
    code = WFC_EBUSY;
    break;
  case SQLITE_NOMEM:
    code = WFC_ENOMEM;
    break;
  case SQLITE_IOERR:
  case SQLITE_FULL:
    code = WFC_EIO;
    break;
  }
  return wfc__store_fail(code, "store: %s: %s", what, sqlite3_errmsg(b->db));
}

/* ---- statements -------------------------------------------------------- */

static int prep(sq *b, sqlite3_stmt **s, const char *sql) {
  int rc = sqlite3_prepare_v2(b->db, sql, -1, s, NULL);
  if (rc != SQLITE_OK)
    return db_fail(b, rc, "prepare");
  return 0;
}

/* Runs every statement of sql (constant text, no parameters): migrations,
 * pragmas, transaction control. */
static int exec_sql(sq *b, const char *sql) {
  while (sql != NULL && *sql != '\0') {
    sqlite3_stmt *s = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(b->db, sql, -1, &s, &tail);
    if (rc != SQLITE_OK)
      return db_fail(b, rc, "prepare");
    if (s != NULL) {
      while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
      sqlite3_finalize(s);
      if (rc != SQLITE_DONE)
        return db_fail(b, rc, "exec");
    }
    sql = tail;
  }
  return 0;
}

static int sq_begin(void *be) {
  return exec_sql(be, "BEGIN IMMEDIATE");
}

static int sq_commit(void *be) {
  return exec_sql(be, "COMMIT");
}

static void sq_rollback(void *be) {
  sq *b = be;
  char saved[512];

  if (sqlite3_get_autocommit(b->db))
    return;
  wfc__store_err_save(saved, sizeof saved);
  (void)exec_sql(b, "ROLLBACK");
  wfc__store_err_restore(saved);
}

static int bind_text(sqlite3_stmt *s, int i, const char *v) {
  if (v == NULL)
    return sqlite3_bind_null(s, i);
  return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

/* ?1 ?2 ?3 of the statements on checkpoints and events seen: a
 * subscription (sub_key NULL = ""). */
static void bind_sub(sqlite3_stmt *s, const char *conn_id, const char *card_id,
                     const char *sub_key) {
  bind_text(s, 1, conn_id);
  bind_text(s, 2, card_id);
  bind_text(s, 3, sub_key != NULL ? sub_key : "");
}

static int bind_time(sqlite3_stmt *s, int i, int64_t v) {
  if (v == 0)
    return sqlite3_bind_null(s, i);
  return sqlite3_bind_int64(s, i, v);
}

/* Steps a write statement once and finalizes it. *changes (may be NULL)
 * receives the number of rows it changed. The raw SQLite code is kept in
 * *sqlrc (may be NULL) so callers can map constraints to their own codes. */
static int step_done(sq *b, sqlite3_stmt *s, const char *what, int *changes,
                     int *sqlrc) {
  int rc = sqlite3_step(s);

  if (sqlrc != NULL)
    *sqlrc = rc;
  if (rc != SQLITE_DONE) {
    rc = db_fail(b, rc, what); /* before finalize: keeps errmsg */
    sqlite3_finalize(s);
    return rc;
  }
  sqlite3_finalize(s);
  if (changes != NULL)
    *changes = sqlite3_changes(b->db);
  return 0;
}

/* Runs one write statement: sql with ?1..?n bound to text[0..n-1] (NULL
 * binds SQL NULL) and, when num is not NULL, ?n+1 to *num; then step_done
 * (what names it in errors; changes and sqlrc as there). */
static int exec1(sq *b, const char *what, const char *sql,
                 const char *const *text, int n, const int64_t *num,
                 int *changes, int *sqlrc) {
  sqlite3_stmt *s = NULL;
  int rc;

  if ((rc = prep(b, &s, sql)) == 0) {
    for (int i = 0; i < n; i++)
      bind_text(s, i + 1, text[i]);
    if (num != NULL)
      sqlite3_bind_int64(s, n + 1, *num);
    rc = step_done(b, s, what, changes, sqlrc);
  }
  return rc;
}

/* Column col of s's current row into row->v[i], with SQLite's type (the
 * MAC covers the type). */
static int col_to_row(sqlite3_stmt *s, int col, wfc__srow *row, int i) {
  switch (sqlite3_column_type(s, col)) {
  case SQLITE_INTEGER:
    wfc__srow_int(row, i, sqlite3_column_int64(s, col));
    return 0;
  case SQLITE_TEXT:
    return wfc__srow_text(row, i, (const char *)sqlite3_column_text(s, col),
                          (size_t)sqlite3_column_bytes(s, col));
  case SQLITE_BLOB:
    return wfc__srow_blob(row, i, sqlite3_column_blob(s, col),
                          (size_t)sqlite3_column_bytes(s, col));
  case SQLITE_FLOAT: {
    /* Never written by the store: kept as its 8 bytes, typed FLOAT, so
     * the MAC of such a row cannot match one wfc wrote. */
    double d = sqlite3_column_double(s, col);
    int rc = wfc__srow_blob(row, i, &d, sizeof d);
    row->v[i].type = WFC__SV_FLOAT;
    return rc;
  }
  default:
    wfc__srow_null(row, i);
    return 0;
  }
}

/* The first n columns of s's current row into row. */
static int stmt_to_row(sqlite3_stmt *s, int n, wfc__srow *row) {
  int rc = 0;

  row->n = n;
  for (int i = 0; rc == 0 && i < n; i++)
    rc = col_to_row(s, i, row, i);
  return rc;
}

/* ---- schema -------------------------------------------------------------
 * migrations[v - 1] takes a store from user_version v - 1 to v. Append
 * only: a released migration never changes. */
static const char *const migrations[] = {
    /* 1: metadata (key check) and connections. */
    "CREATE TABLE meta ("
    "  name TEXT PRIMARY KEY,"
    "  value BLOB NOT NULL"
    ") WITHOUT ROWID;"
    "CREATE TABLE connections ("
    "  id TEXT PRIMARY KEY,"
    "  nickname TEXT NOT NULL CHECK (length(nickname) > 0),"
    "  plugin TEXT NOT NULL CHECK (length(plugin) > 0),"
    "  conn_type TEXT NOT NULL CHECK (length(conn_type) > 0),"
    "  environment TEXT NOT NULL DEFAULT '',"
    "  account TEXT NOT NULL DEFAULT '',"
    "  owner TEXT NOT NULL DEFAULT '',"
    "  state TEXT NOT NULL CHECK (state IN ('authorizing', 'connected',"
    "    'needs_admin_approval', 'approval_pending',"
    "    'reauthorization_required', 'revoked', 'error')),"
    "  remedy TEXT NOT NULL DEFAULT '',"
    "  params TEXT NOT NULL DEFAULT '{}',"
    "  secrets BLOB,"
    "  created_at INTEGER NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  last_used_at INTEGER,"
    "  expires_at INTEGER,"
    "  UNIQUE (owner, nickname)"
    ");"
    "CREATE INDEX connections_by_plugin ON connections (plugin, created_at);",
    /* 2: event cards' checkpoints. */
    "CREATE TABLE checkpoints ("
    "  conn_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,"
    "  card_id TEXT NOT NULL,"
    "  sub_key TEXT NOT NULL DEFAULT '',"
    "  checkpoint TEXT NOT NULL,"
    "  events_accepted INTEGER NOT NULL DEFAULT 0,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (conn_id, card_id, sub_key)"
    ") WITHOUT ROWID;",
    /* 3: idempotency keys of side effects (sends). */
    "CREATE TABLE idempotency ("
    "  key TEXT PRIMARY KEY,"
    "  conn_id TEXT REFERENCES connections (id) ON DELETE CASCADE,"
    "  created_at INTEGER NOT NULL,"
    "  result TEXT"
    ") WITHOUT ROWID;"
    "CREATE INDEX idempotency_by_age ON idempotency (created_at);"
    "CREATE INDEX idempotency_by_conn ON idempotency (conn_id);",
    /* 4: events an event card's subscription handed to the host's consumer
     * (a flow), so a batch delivered again after a crash before its
     * checkpoint was stored is not seen twice (docs/events.md). */
    "CREATE TABLE events_seen ("
    "  conn_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,"
    "  card_id TEXT NOT NULL,"
    "  sub_key TEXT NOT NULL DEFAULT '',"
    "  event_id TEXT NOT NULL,"
    "  seen_at INTEGER NOT NULL,"
    "  PRIMARY KEY (conn_id, card_id, sub_key, event_id)"
    ") WITHOUT ROWID;"
    "CREATE INDEX events_seen_by_age ON events_seen"
    "  (conn_id, card_id, sub_key, seen_at);",
    /* 5: a MAC on every row that decides where a secret goes or whose it
     * is; store.c fills them for the rows present (docs/store.md). */
    "ALTER TABLE connections ADD COLUMN mac BLOB;"
    "ALTER TABLE checkpoints ADD COLUMN mac BLOB;"
    "ALTER TABLE idempotency ADD COLUMN mac BLOB;",
    /* 6: refresh leases: at most one refresh per connection at a time
     * across the processes sharing the store (docs/store.md). */
    "CREATE TABLE refresh_leases ("
    "  conn_id TEXT PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,"
    "  holder TEXT NOT NULL CHECK (length(holder) > 0),"
    "  taken_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL"
    ") WITHOUT ROWID;",
    /* 7: connections by nickname alone (what users type, any owner): the
     * (owner, nickname) index cannot serve it, so each lookup read every
     * row, sealed secrets included (10,000 connections: ~15 MB per card
     * run; docs/fleet.md). */
    "CREATE INDEX connections_by_nickname ON connections (nickname);",
    /* 8: idempotency claims with a holder and an expiry, so a claim of a
     * killed host blocks nobody for long (docs/fleet.md, "Idempotency
     * claims"). Not in the row's MAC: they say who is working on it, not
     * what happened (store.c). */
    "ALTER TABLE idempotency ADD COLUMN holder TEXT;"
    "ALTER TABLE idempotency ADD COLUMN expires_at INTEGER;",
    /* 9: subscription leases: one watcher of an event subscription at a
     * time across the processes sharing the store (docs/fleet.md). */
    "CREATE TABLE sub_leases ("
    "  conn_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,"
    "  card_id TEXT NOT NULL,"
    "  sub_key TEXT NOT NULL DEFAULT '',"
    "  holder TEXT NOT NULL CHECK (length(holder) > 0),"
    "  taken_at INTEGER NOT NULL,"
    "  expires_at INTEGER NOT NULL,"
    "  PRIMARY KEY (conn_id, card_id, sub_key)"
    ") WITHOUT ROWID;",
    /* 10: fencing numbers (docs/store.md, "Fencing"): each take of a
     * lease by a new holder gets the next number of its counter, kept in
     * lease_fences after the lease row is gone (card_id '' is the
     * connection's refresh lease); the writes done under a lease go
     * through only while the lease still carries the writer's number. */
    "CREATE TABLE lease_fences ("
    "  conn_id TEXT NOT NULL REFERENCES connections (id) ON DELETE CASCADE,"
    "  card_id TEXT NOT NULL,"
    "  sub_key TEXT NOT NULL,"
    "  fence INTEGER NOT NULL,"
    "  PRIMARY KEY (conn_id, card_id, sub_key)"
    ") WITHOUT ROWID;"
    "ALTER TABLE refresh_leases ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE sub_leases ADD COLUMN fence INTEGER NOT NULL DEFAULT 0;",
};

_Static_assert(sizeof migrations / sizeof migrations[0] ==
                   WFC__STORE_SCHEMA_VERSION,
               "one migration per schema version");

static int sq_version_get(void *be, int *v) {
  sq *b = be;
  sqlite3_stmt *s;
  int rc;

  if ((rc = prep(b, &s, "PRAGMA user_version")) != 0)
    return rc;
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    *v = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  return rc == SQLITE_ROW ? 0 : db_fail(b, rc, "read user_version");
}

static int sq_migrate(void *be, int v) {
  char pragma[48];
  int rc;

  if ((rc = exec_sql(be, migrations[v - 1])) != 0)
    return rc;
  snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v);
  return exec_sql(be, pragma);
}

static int sq_meta_get(void *be, const char *name, uint8_t **val, size_t *n) {
  sq *b = be;
  sqlite3_stmt *s;
  int rc;

  *val = NULL;
  *n = 0;
  if ((rc = prep(b, &s, "SELECT value FROM meta WHERE name = ?1")) != 0)
    return rc;
  bind_text(s, 1, name);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    *n = (size_t)sqlite3_column_bytes(s, 0);
    if ((*val = malloc(*n ? *n : 1)) != NULL && *n)
      memcpy(*val, sqlite3_column_blob(s, 0), *n);
    rc = *val != NULL ? 0 : wfc__store_fail(WFC_ENOMEM, "out of memory");
  } else if (rc == SQLITE_DONE) {
    rc = WFC_ENOTFOUND;
  } else {
    rc = db_fail(b, rc, "read meta");
  }
  sqlite3_finalize(s);
  return rc;
}

static int sq_meta_put(void *be, const char *name, const uint8_t *val,
                       size_t n) {
  sq *b = be;
  sqlite3_stmt *s;
  int rc;

  if ((rc = prep(b, &s,
                 "INSERT INTO meta (name, value) VALUES (?1, ?2)"
                 " ON CONFLICT (name) DO UPDATE SET value = excluded.value")) !=
      0)
    return rc;
  bind_text(s, 1, name);
  sqlite3_bind_blob(s, 2, val, (int)n, SQLITE_STATIC);
  return step_done(b, s, "write meta", NULL, NULL);
}

static void bind_keys(sqlite3_stmt *s, const char *const *keys, int n) {
  for (int i = 0; i < n; i++)
    bind_text(s, i + 1, keys[i]);
}

/* A write transaction holds the database's lock (BEGIN IMMEDIATE): lock
 * has nothing more to do here. */
static int sq_row_get(void *be, int kind, const char *const *keys, int with_mac,
                      int lock, wfc__srow *out) {
  const wfc__rowkind *k = &wfc__rowkinds[kind];
  sq *b = be;
  char sql[512], where[160];
  sqlite3_stmt *s;
  int rc;

  (void)lock;
  memset(out, 0, sizeof *out);
  wfc__rowkind_where(k, '?', where, sizeof where);
  snprintf(sql, sizeof sql, "SELECT %s, %s%s FROM %s WHERE %s", k->cols,
           with_mac ? "mac" : "NULL", k->extra, k->table, where);
  if ((rc = prep(b, &s, sql)) != 0)
    return rc;
  bind_keys(s, keys, k->nkeys);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    rc = stmt_to_row(s, k->ncols + 1 + k->nextra, out);
  else if (rc == SQLITE_DONE)
    rc = WFC_ENOTFOUND;
  else
    rc = db_fail(b, rc, "read");
  sqlite3_finalize(s);
  if (rc != 0)
    wfc__srow_clear(out);
  return rc;
}

static int sq_row_set_mac(void *be, int kind, const char *const *keys,
                          const uint8_t mac[WFC__SHA256_LEN]) {
  const wfc__rowkind *k = &wfc__rowkinds[kind];
  sq *b = be;
  char sql[512], where[160];
  sqlite3_stmt *s;
  int rc;

  wfc__rowkind_where(k, '?', where, sizeof where);
  snprintf(sql, sizeof sql, "UPDATE %s SET mac = ?%d WHERE %s", k->table,
           k->nkeys + 1, where);
  if ((rc = prep(b, &s, sql)) != 0)
    return rc;
  bind_keys(s, keys, k->nkeys);
  sqlite3_bind_blob(s, k->nkeys + 1, mac, WFC__SHA256_LEN, SQLITE_TRANSIENT);
  return step_done(b, s, "write the record's MAC", NULL, NULL);
}

static int sq_row_keys(void *be, int kind, char ***keysp, size_t *np) {
  const wfc__rowkind *k = &wfc__rowkinds[kind];
  sq *b = be;
  char sql[256], cols[160];
  sqlite3_stmt *s;
  char **keys = NULL;
  size_t n = 0, cap = 0;
  int rc;

  wfc__rowkind_keycols(k, cols, sizeof cols);
  snprintf(sql, sizeof sql, "SELECT %s FROM %s", cols, k->table);
  if ((rc = prep(b, &s, sql)) != 0)
    return rc;
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    if (n + (size_t)k->nkeys > cap) {
      size_t ncap = cap ? 2 * cap : 32;
      char **nk = realloc(keys, ncap * sizeof *nk);
      if (nk == NULL)
        break;
      keys = nk;
      cap = ncap;
    }
    for (int j = 0; j < k->nkeys; j++) {
      const char *v = (const char *)sqlite3_column_text(s, j);
      keys[n++] = strdup(v != NULL ? v : "");
    }
  }
  sqlite3_finalize(s);
  if (rc == SQLITE_DONE)
    rc = 0;
  else if (rc == SQLITE_ROW)
    rc = wfc__store_fail(WFC_ENOMEM, "out of memory");
  else
    rc = db_fail(b, rc, "read rows to authenticate");
  for (size_t j = 0; j < n; j++)
    if (keys[j] == NULL && rc == 0)
      rc = wfc__store_fail(WFC_ENOMEM, "out of memory");
  *keysp = keys;
  *np = n;
  return rc;
}

/* ---- connections ------------------------------------------------------- */

static int sq_conn_insert(void *be, const wfc__conn_rec *rec,
                          const char *params, const uint8_t *blob, size_t blen,
                          int64_t now) {
  sq *b = be;
  sqlite3_stmt *s = NULL;
  int rc, sqlrc = 0;

  if ((rc = prep(b, &s,
                 "INSERT INTO connections (id, nickname, plugin, conn_type,"
                 " environment, account, owner, state, remedy, params, secrets,"
                 " created_at, updated_at, last_used_at, expires_at)"
                 " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
                 " ?12, ?13, ?14)")) != 0)
    return rc;
  bind_text(s, 1, rec->id);
  bind_text(s, 2, rec->nickname);
  bind_text(s, 3, rec->plugin);
  bind_text(s, 4, rec->conn_type);
  bind_text(s, 5, rec->environment);
  bind_text(s, 6, rec->account);
  bind_text(s, 7, rec->owner);
  bind_text(s, 8, rec->state);
  bind_text(s, 9, rec->remedy);
  bind_text(s, 10, params);
  if (blob != NULL)
    sqlite3_bind_blob(s, 11, blob, (int)blen, SQLITE_STATIC);
  sqlite3_bind_int64(s, 12, now);
  bind_time(s, 13, rec->last_used_at);
  bind_time(s, 14, rec->expires_at);
  rc = step_done(b, s, "insert connection", NULL, &sqlrc);
  if (sqlrc == SQLITE_CONSTRAINT_UNIQUE ||
      sqlrc == SQLITE_CONSTRAINT_PRIMARYKEY)
    return wfc__store_conn_taken(rec, sqlrc == SQLITE_CONSTRAINT_UNIQUE);
  return rc;
}

static int sq_conn_find(void *be, int by, const char *key, int with_mac,
                        int (*cb)(const wfc__srow *row, void *arg), void *arg) {
  const wfc__rowkind *k = &wfc__rowkinds[WFC__ROW_CONN];
  static const char *const where[] = {
      [WFC__FIND_ID] = "id = ?1",
      [WFC__FIND_NICKNAME] = "nickname = ?1 LIMIT 2",
      [WFC__FIND_PLUGIN] = "?1 IS NULL OR plugin = ?1 ORDER BY created_at, id",
  };
  sq *b = be;
  char sql[512];
  sqlite3_stmt *s;
  wfc__srow row = {0};
  int rc;

  snprintf(sql, sizeof sql, "SELECT %s, %s%s FROM connections WHERE %s",
           k->cols, with_mac ? "mac" : "NULL", k->extra, where[by]);
  if ((rc = prep(b, &s, sql)) != 0)
    return rc;
  bind_text(s, 1, key);
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    int crc = stmt_to_row(s, k->ncols + 1 + k->nextra, &row);
    if (crc == 0)
      crc = cb(&row, arg);
    wfc__srow_clear(&row);
    if (crc != 0) {
      rc = crc;
      break;
    }
  }
  if (rc == SQLITE_DONE)
    rc = 0;
  else if (rc > 0) /* an SQLite code; ours are negative */
    rc = db_fail(b, rc, "read connection");
  sqlite3_finalize(s);
  return rc;
}

static int sq_conn_update(void *be, const char *id, const wfc__conn_change *ch,
                          int *changes) {
  sq *b = be;
  char sql[512];
  size_t o;
  sqlite3_stmt *s;
  int rc;

  o = (size_t)snprintf(sql, sizeof sql,
                       "UPDATE connections SET updated_at = ?2");
  if (ch->state != NULL)
    o += (size_t)snprintf(sql + o, sizeof sql - o, ", state = ?3");
  if (ch->remedy != NULL)
    o += (size_t)snprintf(sql + o, sizeof sql - o, ", remedy = ?4");
  if (ch->account != NULL)
    o += (size_t)snprintf(sql + o, sizeof sql - o, ", account = ?5");
  if (ch->params != NULL)
    o += (size_t)snprintf(sql + o, sizeof sql - o, ", params = ?6");
  if (ch->set_secrets)
    o += (size_t)snprintf(sql + o, sizeof sql - o,
                          ", secrets = ?7, expires_at = ?8");
  snprintf(sql + o, sizeof sql - o, " WHERE id = ?1%s",
           ch->unless_revoked ? " AND state <> 'revoked'" : "");
  if ((rc = prep(b, &s, sql)) != 0)
    return rc;
  bind_text(s, 1, id);
  sqlite3_bind_int64(s, 2, ch->updated_at);
  if (ch->state != NULL)
    bind_text(s, 3, ch->state);
  if (ch->remedy != NULL)
    bind_text(s, 4, ch->remedy);
  if (ch->account != NULL)
    bind_text(s, 5, ch->account);
  if (ch->params != NULL)
    bind_text(s, 6, ch->params);
  if (ch->set_secrets) {
    if (ch->blob != NULL)
      sqlite3_bind_blob(s, 7, ch->blob, (int)ch->blen, SQLITE_STATIC);
    bind_time(s, 8, ch->expires_at);
  }
  return step_done(b, s, "update connection", changes, NULL);
}

/* Folds the WAL back into the database and truncates it, so page images
 * of wiped or deleted rows do not linger there. Best effort: a reader on
 * another handle may hold the WAL, then the next checkpoint does it. */
static void wal_truncate(sq *b) {
  (void)sqlite3_wal_checkpoint_v2(b->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL,
                                  NULL);
}

/* In store.c's transaction, which ends with sq_commit_wipe. */
static int sq_conn_wipe(void *be, const char *id, int64_t now) {
  int rc;

  /* Overwritten first, so with secure_delete the old bytes go. */
  if ((rc = exec1(be, "wipe secrets",
                  "UPDATE connections SET secrets = zeroblob(length(secrets))"
                  " WHERE id = ?1 AND secrets IS NOT NULL",
                  &id, 1, NULL, NULL, NULL)) != 0)
    return rc;
  return exec1(be, "wipe secrets",
               "UPDATE connections SET secrets = NULL, expires_at = NULL,"
               " updated_at = ?2 WHERE id = ?1",
               &id, 1, &now, NULL, NULL);
}

static int sq_conn_touch(void *be, const char *id, int64_t now, int *changes) {
  return exec1(be, "update connection",
               "UPDATE connections SET last_used_at = ?2 WHERE id = ?1", &id, 1,
               &now, changes, NULL);
}

static int sq_conn_delete(void *be, const char *id, int *changes) {
  /* One statement: checkpoints and idempotency keys go with it (ON DELETE
   * CASCADE) in the same implicit transaction. */
  int rc =
      exec1(be, "delete connection", "DELETE FROM connections WHERE id = ?1",
            &id, 1, NULL, changes, NULL);
  if (rc == 0)
    wal_truncate(be);
  return rc;
}

/* The commit of a wipe: then the WAL, which holds the old page images,
 * is folded and truncated. */
static int sq_commit_wipe(void *be) {
  int rc = sq_commit(be);
  if (rc == 0)
    wal_truncate(be);
  return rc;
}

/* ---- refresh leases ---------------------------------------------------- */

static int sq_lease_delete(void *be, const char *conn_id, const char *holder,
                           int *changes) {
  return exec1(be, "release refresh lease",
               "DELETE FROM refresh_leases WHERE conn_id = ?1 AND holder = ?2",
               (const char *[]){conn_id, holder}, 2, NULL, changes, NULL);
}

/* A lease must be seen at once by the other processes, which the WAL does
 * on commit, but need not outlive a power loss (its holder does not): its
 * own transactions skip the fsync of synchronous=FULL. The rotation that
 * ends a refresh keeps it, and syncs these frames too. */
static int lease_sync_normal(sq *b, int on) {
  return exec_sql(b, on ? "PRAGMA synchronous = NORMAL"
                        : "PRAGMA synchronous = FULL");
}

static int sync_restore(sq *b, int rc) {
  if (lease_sync_normal(b, 0) != 0 && rc == 0)
    rc = wfc__store_fail(WFC_ESTORE, "store: cannot restore synchronous=FULL");
  return rc;
}

static int copy_col(sqlite3_stmt *s, int col, char *dst, size_t size) {
  const unsigned char *v = sqlite3_column_text(s, col);
  size_t n = (size_t)sqlite3_column_bytes(s, col);
  int cut = n >= size;

  if (cut)
    n = size - 1;
  if (n)
    memcpy(dst, v, n);
  dst[n] = '\0';
  return cut;
}

/* The refresh lease of conn_id (card_id NULL) or the lease of the
 * subscription (conn_id, card_id, sub_key): one code for both, the SQL
 * differs only in table and key columns. Binds the key from ?1 and
 * returns the next parameter's index. */
static int lease_key(sqlite3_stmt *s, const char *conn_id, const char *card_id,
                     const char *sub_key) {
  bind_text(s, 1, conn_id);
  if (card_id == NULL)
    return 2;
  bind_text(s, 2, card_id);
  bind_text(s, 3, sub_key);
  return 4;
}

/* The lease row into *out (may be NULL): 0, WFC_ENOTFOUND. */
static int lease_read(sq *b, const char *conn_id, const char *card_id,
                      const char *sub_key, wfc__lease *out) {
  sqlite3_stmt *s;
  int rc;

  if ((rc = prep(b, &s,
                 card_id != NULL
                     ? "SELECT holder, taken_at, expires_at, fence FROM"
                       " sub_leases"
                       " WHERE conn_id = ?1 AND card_id = ?2 AND sub_key = ?3"
                     : "SELECT holder, taken_at, expires_at, fence FROM"
                       " refresh_leases WHERE conn_id = ?1")) != 0)
    return rc;
  lease_key(s, conn_id, card_id, sub_key);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    rc = 0;
    if (out != NULL) {
      if (copy_col(s, 0, out->holder, sizeof out->holder))
        rc = wfc__store_lease_long(conn_id, card_id);
      out->taken_at = sqlite3_column_int64(s, 1);
      out->expires_at = sqlite3_column_int64(s, 2);
      out->fence = sqlite3_column_int64(s, 3);
    }
  } else if (rc == SQLITE_DONE) {
    rc = wfc__store_lease_none(conn_id, card_id);
  } else {
    rc = db_fail(b, rc,
                 card_id != NULL ? "read subscription lease"
                                 : "read refresh lease");
  }
  sqlite3_finalize(s);
  return rc;
}

static int lease_number(sq *b, const char *conn_id, const char *card_id,
                        const char *sub_key, wfc__lease *cur);

static int lease_take(sq *b, const char *conn_id, const char *card_id,
                      const char *sub_key, const char *holder, int64_t now,
                      int64_t expires_at, wfc__lease *cur) {
  sqlite3_stmt *s;
  int rc, i, changes = 0, sqlrc = 0;

  if ((rc = lease_sync_normal(b, 1)) != 0 || (rc = sq_begin(b)) != 0)
    goto done;
  /* One upsert: a free row is inserted; an existing one is overwritten only
   * when it is ours (renewal) or expired (take-over). */
  if ((rc = prep(
           b, &s,
           card_id != NULL
               ? "INSERT INTO sub_leases (conn_id, card_id, sub_key, holder,"
                 " taken_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                 " ON CONFLICT (conn_id, card_id, sub_key) DO UPDATE SET"
                 " taken_at = CASE WHEN holder = excluded.holder"
                 "   THEN taken_at ELSE excluded.taken_at END,"
                 " fence = CASE WHEN holder = excluded.holder"
                 "   THEN fence ELSE 0 END,"
                 " holder = excluded.holder, expires_at = excluded.expires_at"
                 " WHERE holder = excluded.holder OR expires_at <= ?5"
               : "INSERT INTO refresh_leases (conn_id, holder, taken_at,"
                 " expires_at) VALUES (?1, ?2, ?3, ?4)"
                 " ON CONFLICT (conn_id) DO UPDATE SET"
                 " taken_at = CASE WHEN holder = excluded.holder"
                 "   THEN taken_at ELSE excluded.taken_at END,"
                 " fence = CASE WHEN holder = excluded.holder"
                 "   THEN fence ELSE 0 END,"
                 " holder = excluded.holder, expires_at = excluded.expires_at"
                 " WHERE holder = excluded.holder OR expires_at <= ?3")) != 0)
    goto done;
  i = lease_key(s, conn_id, card_id, sub_key);
  bind_text(s, i, holder);
  sqlite3_bind_int64(s, i + 1, now);
  sqlite3_bind_int64(s, i + 2, expires_at);
  rc = step_done(
      b, s, card_id != NULL ? "take subscription lease" : "take refresh lease",
      &changes, &sqlrc);
  if (sqlrc == SQLITE_CONSTRAINT_FOREIGNKEY) {
    rc = wfc__store_no_conn(conn_id);
    goto done;
  }
  if (rc != 0)
    goto done;
  if (changes == 0 && (rc = lease_read(b, conn_id, card_id, sub_key, cur)) != 0)
    goto done;
  if (changes != 0 &&
      (rc = lease_number(b, conn_id, card_id, sub_key, cur)) != 0)
    goto done;
  if ((rc = sq_commit(b)) == 0 && changes == 0)
    rc = wfc__store_lease_busy(conn_id, card_id, cur);
done:
  if (rc != 0)
    sq_rollback(b);
  return sync_restore(b, rc);
}

/* Inside lease_take's transaction, after the upsert wrote the row: a row
 * taken by a new holder (fence 0, the upsert's mark) gets the next number
 * of its counter; a renewal keeps its own. The row into *cur (may be
 * NULL). */
static int lease_number(sq *b, const char *conn_id, const char *card_id,
                        const char *sub_key, wfc__lease *cur) {
  const char *k[3] = {conn_id, card_id != NULL ? card_id : "",
                      card_id != NULL ? sub_key : ""};
  wfc__lease l;
  int rc;

  if ((rc = lease_read(b, conn_id, card_id, sub_key, &l)) != 0)
    return rc;
  if (l.fence == 0) {
    if ((rc = exec1(b, "number lease",
                    "INSERT INTO lease_fences (conn_id, card_id, sub_key,"
                    " fence) VALUES (?1, ?2, ?3, 1)"
                    " ON CONFLICT (conn_id, card_id, sub_key) DO UPDATE SET"
                    " fence = fence + 1",
                    k, 3, NULL, NULL, NULL)) != 0 ||
        (rc = exec1(b, "number lease",
                    card_id != NULL
                        ? "UPDATE sub_leases SET fence = (SELECT fence FROM"
                          " lease_fences WHERE conn_id = ?1 AND card_id = ?2"
                          " AND sub_key = ?3) WHERE conn_id = ?1"
                          " AND card_id = ?2 AND sub_key = ?3"
                        : "UPDATE refresh_leases SET fence = (SELECT fence"
                          " FROM lease_fences WHERE conn_id = ?1"
                          " AND card_id = ?2 AND sub_key = ?3)"
                          " WHERE conn_id = ?1",
                    k, 3, NULL, NULL, NULL)) != 0 ||
        (rc = lease_read(b, conn_id, card_id, sub_key, &l)) != 0)
      return rc;
  }
  if (cur != NULL)
    *cur = l;
  return 0;
}

/* In the caller's write transaction (BEGIN IMMEDIATE: no other writer
 * can change the row before it ends); store.c judges it. */
static int sq_lease_lock(void *be, const char *conn_id, const char *card_id,
                         const char *sub_key, wfc__lease *out) {
  return lease_read(be, conn_id, card_id, sub_key, out);
}

static int sq_lease_take(void *be, const char *conn_id, const char *holder,
                         int64_t now, int64_t expires_at, wfc__lease *cur) {
  return lease_take(be, conn_id, NULL, NULL, holder, now, expires_at, cur);
}

static int sq_lease_release(sq *b, const char *conn_id, const char *holder,
                            int *changes) {
  int rc = lease_sync_normal(b, 1);
  if (rc == 0)
    rc = sq_lease_delete(b, conn_id, holder, changes);
  return sync_restore(b, rc);
}

/* Inside a transaction (the rotation), the lease goes with its durability;
 * alone, with synchronous=NORMAL. */
static int sq_lease_delete_op(void *be, const char *conn_id, const char *holder,
                              int *changes) {
  sq *b = be;
  if (!sqlite3_get_autocommit(b->db))
    return sq_lease_delete(b, conn_id, holder, changes);
  return sq_lease_release(b, conn_id, holder, changes);
}

static int sq_lease_pass(void *be, const char *conn_id, const char *holder,
                         const char *to, int64_t now, int64_t until_ms,
                         int *changes) {
  sq *b = be;
  sqlite3_stmt *s;
  int rc;

  if ((rc = lease_sync_normal(b, 1)) == 0 &&
      (rc = prep(b, &s,
                 "UPDATE refresh_leases SET holder = ?3, taken_at = ?4,"
                 " expires_at = ?5 WHERE conn_id = ?1 AND holder = ?2")) == 0) {
    bind_text(s, 1, conn_id);
    bind_text(s, 2, holder);
    bind_text(s, 3, to);
    sqlite3_bind_int64(s, 4, now);
    sqlite3_bind_int64(s, 5, until_ms);
    rc = step_done(b, s, "pass refresh lease", changes, NULL);
  }
  return sync_restore(b, rc);
}

static int sq_lease_get(void *be, const char *conn_id, wfc__lease *out) {
  return lease_read(be, conn_id, NULL, NULL, out);
}

/* ---- subscription leases ----------------------------------------------- */

static int sq_sub_lease_take(void *be, const char *conn_id, const char *card_id,
                             const char *sub_key, const char *holder,
                             int64_t now, int64_t expires_at, wfc__lease *cur) {
  return lease_take(be, conn_id, card_id, sub_key, holder, now, expires_at,
                    cur);
}

static int sq_sub_lease_delete(void *be, const char *conn_id,
                               const char *card_id, const char *sub_key,
                               const char *holder, int *changes) {
  sq *b = be;
  int rc = lease_sync_normal(b, 1);
  if (rc == 0)
    rc = exec1(b, "release subscription lease",
               "DELETE FROM sub_leases WHERE conn_id = ?1 AND card_id = ?2"
               " AND sub_key = ?3 AND holder = ?4",
               (const char *[]){conn_id, card_id, sub_key, holder}, 4, NULL,
               changes, NULL);
  return sync_restore(b, rc);
}

static int sq_sub_lease_get(void *be, const char *conn_id, const char *card_id,
                            const char *sub_key, wfc__lease *out) {
  return lease_read(be, conn_id, card_id, sub_key, out);
}

/* ---- checkpoints ------------------------------------------------------- */

static int cp_write(sq *b, const char *sql, const char *conn_id,
                    const char *card_id, const char *sub_key, const char *next,
                    int64_t accepted, int64_t now, int *sqlrc) {
  sqlite3_stmt *s;
  int rc;

  if ((rc = prep(b, &s, sql)) != 0)
    return rc;
  bind_sub(s, conn_id, card_id, sub_key);
  bind_text(s, 4, next);
  sqlite3_bind_int64(s, 5, accepted);
  sqlite3_bind_int64(s, 6, now);
  return step_done(b, s, "write checkpoint", NULL, sqlrc);
}

static int sq_cp_insert(void *be, const char *conn_id, const char *card_id,
                        const char *sub_key, const char *next, int64_t accepted,
                        int64_t now) {
  int sqlrc = 0;
  int rc = cp_write(be,
                    "INSERT INTO checkpoints (conn_id, card_id, sub_key,"
                    " checkpoint, events_accepted, updated_at)"
                    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    conn_id, card_id, sub_key, next, accepted, now, &sqlrc);
  if (sqlrc == SQLITE_CONSTRAINT_FOREIGNKEY)
    return wfc__store_no_conn(conn_id);
  if (sqlrc == SQLITE_CONSTRAINT_PRIMARYKEY)
    return wfc__store_cp_moved(conn_id, card_id);
  return rc;
}

static int sq_cp_update(void *be, const char *conn_id, const char *card_id,
                        const char *sub_key, const char *next, int64_t accepted,
                        int64_t now) {
  return cp_write(be,
                  "UPDATE checkpoints SET checkpoint = ?4,"
                  " events_accepted = events_accepted + ?5, updated_at = ?6"
                  " WHERE conn_id = ?1 AND card_id = ?2 AND sub_key = ?3",
                  conn_id, card_id, sub_key, next, accepted, now, NULL);
}

static int sq_cp_delete(void *be, const char *conn_id, const char *card_id,
                        const char *sub_key, int *changes) {
  return exec1(be, "delete checkpoint",
               "DELETE FROM checkpoints WHERE conn_id = ?1"
               " AND card_id = ?2 AND sub_key = ?3",
               (const char *[]){conn_id, card_id, sub_key ? sub_key : ""}, 3,
               NULL, changes, NULL);
}

/* ---- events seen ------------------------------------------------------- */

static int sq_ev_seen(void *be, const char *conn_id, const char *card_id,
                      const char *sub_key, const char *event_id) {
  sq *b = be;
  sqlite3_stmt *s = NULL;
  int rc;

  if ((rc = prep(b, &s,
                 "SELECT 1 FROM events_seen WHERE conn_id = ?1"
                 " AND card_id = ?2 AND sub_key = ?3 AND event_id = ?4")) != 0)
    return rc;
  bind_sub(s, conn_id, card_id, sub_key);
  bind_text(s, 4, event_id);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    rc = 1;
  else if (rc == SQLITE_DONE)
    rc = 0;
  else
    rc = db_fail(b, rc, "read events seen");
  sqlite3_finalize(s);
  return rc;
}

static int sq_ev_mark(void *be, const char *conn_id, const char *card_id,
                      const char *sub_key, const char *event_id, int64_t now,
                      int *changes) {
  int sqlrc = 0;
  int rc = exec1(
      be, "mark event seen",
      "INSERT INTO events_seen (conn_id, card_id, sub_key,"
      " event_id, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)"
      " ON CONFLICT DO NOTHING",
      (const char *[]){conn_id, card_id, sub_key ? sub_key : "", event_id}, 4,
      &now, changes, &sqlrc);
  if (sqlrc == SQLITE_CONSTRAINT_FOREIGNKEY)
    return wfc__store_no_conn(conn_id);
  return rc;
}

static int sq_ev_purge(void *be, const char *conn_id, const char *card_id,
                       const char *sub_key, int64_t before_ms, int64_t keep_max,
                       int *purged) {
  sq *b = be;
  const char *const sub[] = {conn_id, card_id, sub_key != NULL ? sub_key : ""};
  int rc, a = 0, c = 0;

  if ((rc = sq_begin(b)) != 0)
    goto done;
  if ((rc = exec1(b, "purge events seen",
                  "DELETE FROM events_seen WHERE conn_id = ?1 AND card_id = ?2"
                  " AND sub_key = ?3 AND seen_at < ?4",
                  sub, 3, &before_ms, &a, NULL)) != 0)
    goto done;
  /* Over the count bound: drop the oldest (the index gives them in order). */
  if (keep_max > 0 &&
      (rc = exec1(b, "purge events seen",
                  "DELETE FROM events_seen WHERE conn_id = ?1"
                  " AND card_id = ?2 AND sub_key = ?3 AND event_id IN"
                  " (SELECT event_id FROM events_seen WHERE conn_id = ?1"
                  "  AND card_id = ?2 AND sub_key = ?3"
                  "  ORDER BY seen_at DESC, event_id LIMIT -1 OFFSET ?4)",
                  sub, 3, &keep_max, &c, NULL)) != 0)
    goto done;
  rc = sq_commit(b);
done:
  if (rc != 0)
    sq_rollback(b);
  else
    *purged = a + c;
  return rc;
}

/* ---- idempotency ------------------------------------------------------- */

static int sq_idem_insert(void *be, const char *key, const char *conn_id,
                          int64_t now, int *changes) {
  int sqlrc = 0;
  int rc = exec1(be, "claim idempotency key",
                 "INSERT INTO idempotency (key, conn_id, created_at)"
                 " VALUES (?1, ?2, ?3) ON CONFLICT (key) DO NOTHING",
                 (const char *[]){key, conn_id}, 2, &now, changes, &sqlrc);
  if (sqlrc == SQLITE_CONSTRAINT_FOREIGNKEY)
    return wfc__store_no_conn(conn_id);
  return rc;
}

static int sq_idem_set_result(void *be, const char *key, const char *result) {
  return exec1(be, "finish idempotency key",
               "UPDATE idempotency SET result = ?2 WHERE key = ?1",
               (const char *[]){key, result}, 2, NULL, NULL, NULL);
}

static int sq_idem_hold_get(void *be, const char *key, char *holder,
                            int64_t *expires_at) {
  sq *b = be;
  sqlite3_stmt *s;
  int rc;

  if ((rc = prep(
           b, &s,
           "SELECT holder, expires_at FROM idempotency WHERE key = ?1")) != 0)
    return rc;
  bind_text(s, 1, key);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    rc = 0;
    holder[0] = '\0';
    if (sqlite3_column_type(s, 0) != SQLITE_NULL &&
        copy_col(s, 0, holder, WFC__LEASE_HOLDER_SIZE))
      rc = wfc__store_fail(
          WFC_ESTORE, "store: stored idempotency claim holder is too long");
    *expires_at = sqlite3_column_int64(s, 1);
  } else if (rc == SQLITE_DONE) {
    rc = wfc__store_fail(WFC_ENOTFOUND, "idempotency key was not claimed");
  } else {
    rc = db_fail(b, rc, "read idempotency claim");
  }
  sqlite3_finalize(s);
  return rc;
}

static int sq_idem_hold_set(void *be, const char *key, const char *holder,
                            int64_t expires_at) {
  if (holder == NULL)
    return exec1(be, "write idempotency claim",
                 "UPDATE idempotency SET holder = NULL, expires_at = NULL"
                 " WHERE key = ?1",
                 &key, 1, NULL, NULL, NULL);
  return exec1(be, "write idempotency claim",
               "UPDATE idempotency SET holder = ?2, expires_at = ?3"
               " WHERE key = ?1",
               (const char *[]){key, holder}, 2, &expires_at, NULL, NULL);
}

static int sq_idem_delete(void *be, const char *key, int *changes) {
  return exec1(be, "release idempotency key",
               "DELETE FROM idempotency WHERE key = ?1", &key, 1, NULL, changes,
               NULL);
}

static int sq_idem_purge(void *be, int64_t before_ms, int *changes) {
  return exec1(be, "purge idempotency keys",
               "DELETE FROM idempotency WHERE created_at < ?1", NULL, 0,
               &before_ms, changes, NULL);
}

/* ---- raw rows (store copy) ----------------------------------------------- */

static int sq_table_rows(void *be, const char *table,
                         int (*cb)(const char *cols, const wfc__srow *row,
                                   void *arg),
                         void *arg) {
  sq *b = be;
  char sql[256], cols[1024];
  sqlite3_stmt *s;
  wfc__srow row = {0};
  size_t o = 0;
  int rc, n;

  snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1, 2, 3", table);
  if (strcmp(table, "meta") == 0 || strcmp(table, "connections") == 0 ||
      strcmp(table, "idempotency") == 0)
    snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1", table);
  if ((rc = prep(b, &s, sql)) != 0)
    return rc;
  n = sqlite3_column_count(s);
  if (n > WFC__SROW_MAX) {
    sqlite3_finalize(s);
    return wfc__store_fail(WFC_ESTORE, "store: table %s has %d columns", table,
                           n);
  }
  cols[0] = '\0';
  for (int i = 0; i < n && o < sizeof cols; i++)
    o += (size_t)snprintf(cols + o, sizeof cols - o, "%s%s", i ? ", " : "",
                          sqlite3_column_name(s, i));
  while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
    int crc = stmt_to_row(s, n, &row);
    if (crc == 0)
      crc = cb(cols, &row, arg);
    wfc__srow_clear(&row);
    if (crc != 0) {
      rc = crc;
      break;
    }
  }
  if (rc == SQLITE_DONE)
    rc = 0;
  else if (rc > 0)
    rc = db_fail(b, rc, "read table");
  sqlite3_finalize(s);
  return rc;
}

static int sq_table_insert(void *be, const char *table, const char *cols,
                           const wfc__srow *row) {
  sq *b = be;
  char sql[2048];
  size_t o;
  sqlite3_stmt *s;
  int rc;

  o = (size_t)snprintf(sql, sizeof sql, "INSERT INTO %s (%s) VALUES (", table,
                       cols);
  for (int i = 0; i < row->n && o < sizeof sql; i++)
    o += (size_t)snprintf(sql + o, sizeof sql - o, "%s?%d", i ? ", " : "",
                          i + 1);
  if (o < sizeof sql)
    snprintf(sql + o, sizeof sql - o, ")");
  if ((rc = prep(b, &s, sql)) != 0)
    return rc;
  for (int i = 0; i < row->n; i++) {
    const wfc__sval *v = &row->v[i];
    if (v->type == WFC__SV_INT)
      sqlite3_bind_int64(s, i + 1, v->i);
    else if (v->type == WFC__SV_TEXT)
      sqlite3_bind_text(s, i + 1, v->p, (int)v->n, SQLITE_STATIC);
    else if (v->type == WFC__SV_BLOB)
      sqlite3_bind_blob(s, i + 1, v->p, (int)v->n, SQLITE_STATIC);
    else
      sqlite3_bind_null(s, i + 1);
  }
  return step_done(b, s, "copy a row", NULL, NULL);
}

/* ---- files ----------------------------------------------------------------
 */

/* The existing store file: ours, private, and an SQLite database. 0,
 * WFC_ENOTFOUND when there is no file (a new store), or WFC_ESTORE. A file
 * wfc did not make complete (empty, or anything but SQLite) is refused:
 * SQLite would take an empty file for a new database, and a store over it
 * would hide whatever was lost. */
static int check_db_file(const char *path) {
  static const char magic[16] = "SQLite format 3";
  char head[sizeof magic];
  struct stat sb;
  ssize_t n;
  int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc;

  if (fd < 0) {
    if (errno == ENOENT)
      return WFC_ENOTFOUND;
    if (errno == ELOOP)
      return wfc__store_fail(WFC_ESTORE,
                             "store file %s is a symbolic link: refused", path);
    return wfc__store_fail(WFC_ESTORE, "cannot open store file %s: %s", path,
                           strerror(errno));
  }
  if ((rc = wfc__store_check_private(path, fd, "store file", 1)) == 0 &&
      fstat(fd, &sb) != 0)
    rc =
        wfc__store_fail(WFC_ESTORE, "store file %s: %s", path, strerror(errno));
  if (rc == 0 && sb.st_size == 0)
    rc = wfc__store_fail(
        WFC_ESTORE,
        "store file %s is empty (0 bytes): it is not a wfc store, and "
        "wfc does not start a new store over an existing file (restore "
        "it from a backup, or remove it to start afresh)",
        path);
  if (rc == 0) {
    n = pread(fd, head, sizeof head, 0);
    if (n != (ssize_t)sizeof head || memcmp(head, magic, sizeof magic) != 0)
      rc = wfc__store_fail(WFC_ESTORE,
                           "store file %s is not a wfc store (not an SQLite "
                           "database): refused",
                           path);
  }
  close(fd);
  return rc;
}

static int pragma_is(sq *b, const char *path, const char *sql,
                     const char *want) {
  sqlite3_stmt *s;
  int rc, ok = 0;

  if ((rc = prep(b, &s, sql)) != 0)
    return rc;
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(s, 0);
    ok = v != NULL && strcmp(v, want) == 0;
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW)
    return db_fail(b, rc, sql);
  return ok ? 0
            : wfc__store_fail(WFC_ESTORE, "store %s: %s did not apply", path,
                              sql);
}

/* Switching a new database to WAL takes an exclusive lock and SQLite
 * reports SQLITE_BUSY at once, without its busy handler, while another
 * opener holds one: retry until the busy timeout. */
static int set_wal(sq *b, const char *path, int timeout_ms) {
  int64_t deadline = wfc__monotonic_ms() + timeout_ms;
  int rc;

  while ((rc = pragma_is(b, path, "PRAGMA journal_mode = WAL", "wal")) ==
             WFC_EBUSY &&
         wfc__monotonic_ms() < deadline) {
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return rc;
}

static void sq_close(void *be) {
  sq *b = be;
  if (b == NULL)
    return;
  if (b->db != NULL)
    sqlite3_close_v2(b->db);
  free(b);
}

/* Opens file (shown as path) with the connection settings (docs/store.md),
 * journal mode aside: *out, or an error with nothing open. */
static int db_open(const char *file, const char *path, int timeout_ms,
                   sq **out) {
  sq *b = calloc(1, sizeof *b);
  int rc;

  *out = NULL;
  if (b == NULL)
    return wfc__store_fail(WFC_ENOMEM, "out of memory");
  rc = sqlite3_open_v2(
      file, &b->db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK) {
    rc = wfc__store_fail(WFC_ESTORE, "cannot open store %s: %s", path,
                         b->db ? sqlite3_errmsg(b->db) : sqlite3_errstr(rc));
    sq_close(b);
    return rc;
  }
  sqlite3_extended_result_codes(b->db, 1);
  sqlite3_busy_timeout(b->db, timeout_ms);
  /* Defensive: no writable_schema tricks; schema may not call functions
   * with side effects. */
  sqlite3_db_config(b->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
  sqlite3_db_config(b->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
  /* FULL: a commit (a rotated refresh token, an advanced checkpoint) is on
   * disk when the call returns. secure_delete: freed pages are zeroed. */
  if ((rc = exec_sql(b, "PRAGMA foreign_keys = ON;"
                        "PRAGMA secure_delete = ON;"
                        "PRAGMA synchronous = FULL;")) != 0) {
    sq_close(b);
    return rc;
  }
  *out = b;
  return 0;
}

/* A new store: built complete in a temporary file beside path (mode 0600,
 * the key check written, the key file made when needed), then linked into
 * place, so path never holds a half-made store and an empty file there is
 * never ours. Of two creators the second link fails with EEXIST: it then
 * opens the winner's store (same key file, see store.c). */
static int create_store(wfc__store *st, const char *path, int timeout_ms) {
  char tmp[4200], side[4300];
  sq *b = NULL;
  int fd, rc;

  /* A store in a directory not made yet (WFC_STORE=/tmp/new/store.db):
   * the directory is made, mode 0700, as the default store's is. */
  snprintf(tmp, sizeof tmp, "%s", path);
  char *slash = strrchr(tmp, '/');
  if (slash != NULL && slash != tmp) {
    *slash = '\0';
    if (access(tmp, F_OK) != 0 && wfc__mkdirs(tmp) != 0)
      return wfc__store_fail(WFC_ESTORE,
                             "cannot create the store's directory %s: %s", tmp,
                             strerror(errno));
  }
  wfc__store_tmp_name(path, ".new.", tmp, sizeof tmp);
  /* Ours with mode 0600 before SQLite opens it (SQLite would use 0644, and
   * gives its side files the database file's mode). */
  fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return wfc__store_fail(WFC_ESTORE, "cannot create store file %s: %s", path,
                           strerror(errno));
  close(fd);
  if ((rc = db_open(tmp, path, timeout_ms, &b)) == 0)
    rc = wfc__store_open_tx(st, b, 1);
  sq_close(b);
  if (rc == 0 && link(tmp, path) != 0 && errno != EEXIST)
    rc = wfc__store_fail(WFC_ESTORE, "cannot create store file %s: %s", path,
                         strerror(errno));
  else if (rc == 0)
    wfc__store_fsync_parent_dir(path);
  unlink(tmp);
  snprintf(side, sizeof side, "%s-journal", tmp);
  unlink(side);
  return rc;
}

static int sq_open(wfc__store *st, const char *path, int timeout_ms,
                   void **out) {
  char side[4200];
  char *kpath = malloc(strlen(path) + 5);
  sq *b = NULL;
  int rc;

  *out = NULL;
  if (kpath == NULL)
    return wfc__store_fail(WFC_ENOMEM, "out of memory");
  sprintf(kpath, "%s.key", path);
  wfc__store_set_key_file(st, kpath);

  rc = check_db_file(path);
  if (rc == WFC_ENOTFOUND && (rc = create_store(st, path, timeout_ms)) == 0)
    rc = check_db_file(path);
  if (rc == WFC_ENOTFOUND)
    rc = wfc__store_fail(
        WFC_ESTORE, "store file %s was removed while it was created", path);
  if (rc != 0)
    return rc;
  if ((rc = db_open(path, path, timeout_ms, &b)) != 0)
    return rc;
  if ((rc = set_wal(b, path, timeout_ms)) != 0 ||
      (rc = wfc__store_open_tx(st, b, 0)) != 0)
    goto fail;
  snprintf(side, sizeof side, "%s-wal", path);
  if ((rc = wfc__store_check_private(side, -1, "store file", 0)) != 0)
    goto fail;
  snprintf(side, sizeof side, "%s-shm", path);
  if ((rc = wfc__store_check_private(side, -1, "store file", 0)) != 0)
    goto fail;
  *out = b;
  return 0;
fail:
  sq_close(b);
  return rc;
}

/* Every location no other backend claims is a file path. */
static int sq_claims(const char *location) {
  (void)location;
  return 1;
}

static void sq_describe(const char *location, char *buf, size_t len) {
  snprintf(buf, len, "%s", location);
}

const wfc__store_ops wfc__store_sqlite_ops = {
    .name = "sqlite",
    .noun = "store file",
    .db_words = "an SQLite database",
    .claims = sq_claims,
    .describe = sq_describe,
    .open = sq_open,
    .close = sq_close,
    .begin = sq_begin,
    .commit = sq_commit,
    .commit_wipe = sq_commit_wipe,
    .rollback = sq_rollback,
    .version_get = sq_version_get,
    .migrate = sq_migrate,
    .meta_get = sq_meta_get,
    .meta_put = sq_meta_put,
    .row_get = sq_row_get,
    .row_set_mac = sq_row_set_mac,
    .row_keys = sq_row_keys,
    .conn_insert = sq_conn_insert,
    .conn_find = sq_conn_find,
    .conn_update = sq_conn_update,
    .conn_wipe = sq_conn_wipe,
    .conn_touch = sq_conn_touch,
    .conn_delete = sq_conn_delete,
    .lease_take = sq_lease_take,
    .lease_delete = sq_lease_delete_op,
    .lease_pass = sq_lease_pass,
    .lease_get = sq_lease_get,
    .sub_lease_take = sq_sub_lease_take,
    .lease_lock = sq_lease_lock,
    .sub_lease_delete = sq_sub_lease_delete,
    .sub_lease_get = sq_sub_lease_get,
    .cp_insert = sq_cp_insert,
    .cp_update = sq_cp_update,
    .cp_delete = sq_cp_delete,
    .ev_seen = sq_ev_seen,
    .ev_mark = sq_ev_mark,
    .ev_purge = sq_ev_purge,
    .idem_insert = sq_idem_insert,
    .idem_set_result = sq_idem_set_result,
    .idem_delete = sq_idem_delete,
    .idem_purge = sq_idem_purge,
    .idem_hold_get = sq_idem_hold_get,
    .idem_hold_set = sq_idem_hold_set,
    .table_rows = sq_table_rows,
    .table_insert = sq_table_insert,
};
