/* store.c - the connection store on SQLite (see store.h, docs/store.md).
 *
 * Every statement is prepared with bound parameters; multi-statement
 * changes run in BEGIN IMMEDIATE transactions (single statements run in
 * their own autocommit transaction). Secrets are sealed here, in the
 * caller's thread, before SQLite ever sees them: the database only holds
 * ciphertext. The rows that decide where a secret goes carry a MAC, checked
 * on every read and rewritten by every write in the write's transaction. */
#define _POSIX_C_SOURCE 200809L /* lstat, O_NOFOLLOW, O_CLOEXEC, strdup */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "blob.h" /* wfc__mkdirs */
#include "clock.h"
#include "crypto.h"
#include "secmem.h"
#include "wfc/connections.h"

struct wfc__store {
  sqlite3 *db;
  pthread_mutex_t mu;
  uint8_t seal_key[WFC__KEY_LEN]; /* HKDF(master key), see derive_keys */
  uint8_t mac_key[WFC__KEY_LEN];  /* idem, for record authentication */
  /* The rows carry MACs (schema >= WFC__STORE_MAC_VERSION); 0 only for a
   * store opened at an older schema_version (upgrade tests). */
  int authenticated;
  const char *mac_col; /* "mac", or "NULL" when not authenticated */
  char *path;
};

/* ---- errors ------------------------------------------------------------ */

static _Thread_local char last_err[512];

const char *wfc__store_last_error(void) {
  return last_err;
}

__attribute__((format(printf, 2, 3))) static int fail(int code, const char *fmt,
                                                      ...) {
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(last_err, sizeof last_err, fmt, ap);
  va_end(ap);
  return code;
}

/* Maps an SQLite result to a WFC code, keeping SQLite's words (they name
 * tables and columns, never values). */
static int db_fail(wfc__store *st, int rc, const char *what) {
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
  return fail(code, "store: %s: %s", what, sqlite3_errmsg(st->db));
}

/* ---- statements -------------------------------------------------------- */

static int prep(wfc__store *st, sqlite3_stmt **s, const char *sql) {
  int rc = sqlite3_prepare_v2(st->db, sql, -1, s, NULL);
  if (rc != SQLITE_OK)
    return db_fail(st, rc, "prepare");
  return 0;
}

/* Runs every statement of sql (constant text, no parameters): migrations,
 * pragmas, transaction control. */
static int exec_sql(wfc__store *st, const char *sql) {
  while (sql != NULL && *sql != '\0') {
    sqlite3_stmt *s = NULL;
    const char *tail = NULL;
    int rc = sqlite3_prepare_v2(st->db, sql, -1, &s, &tail);
    if (rc != SQLITE_OK)
      return db_fail(st, rc, "prepare");
    if (s != NULL) {
      while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
      sqlite3_finalize(s);
      if (rc != SQLITE_DONE)
        return db_fail(st, rc, "exec");
    }
    sql = tail;
  }
  return 0;
}

static int tx_begin(wfc__store *st) {
  return exec_sql(st, "BEGIN IMMEDIATE");
}

static int tx_commit(wfc__store *st) {
  return exec_sql(st, "COMMIT");
}

/* Rolls back if a transaction is open, keeping the first error message. */
static void tx_rollback(wfc__store *st) {
  char saved[sizeof last_err];

  if (sqlite3_get_autocommit(st->db))
    return;
  memcpy(saved, last_err, sizeof saved);
  (void)exec_sql(st, "ROLLBACK");
  memcpy(last_err, saved, sizeof saved);
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
static int step_done(wfc__store *st, sqlite3_stmt *s, const char *what,
                     int *changes, int *sqlrc) {
  int rc = sqlite3_step(s);

  if (sqlrc != NULL)
    *sqlrc = rc;
  if (rc != SQLITE_DONE) {
    rc = db_fail(st, rc, what); /* before finalize: keeps errmsg */
    sqlite3_finalize(s);
    return rc;
  }
  sqlite3_finalize(s);
  if (changes != NULL)
    *changes = sqlite3_changes(st->db);
  return 0;
}

/* Runs one write statement under the store's lock: sql with ?1..?n bound
 * to text[0..n-1] (NULL binds SQL NULL) and, when num is not NULL, ?n+1 to
 * *num; then step_done (what names it in errors; changes and sqlrc as
 * there). The single-statement writes are this call plus their own reading
 * of *changes. */
static int exec1(wfc__store *st, const char *what, const char *sql,
                 const char *const *text, int n, const int64_t *num,
                 int *changes, int *sqlrc) {
  sqlite3_stmt *s = NULL;
  int rc;

  pthread_mutex_lock(&st->mu);
  if ((rc = prep(st, &s, sql)) == 0) {
    for (int i = 0; i < n; i++)
      bind_text(s, i + 1, text[i]);
    if (num != NULL)
      sqlite3_bind_int64(s, n + 1, *num);
    rc = step_done(st, s, what, changes, sqlrc);
  }
  pthread_mutex_unlock(&st->mu);
  return rc;
}

/* ---- record authentication -----------------------------------------------
 * A row's MAC is HMAC-SHA256 under mac_key over "wfc-row-v1|<table>|" and
 * its authenticated columns in a fixed order, each as its SQLite type (one
 * byte) and value: nothing for NULL, 8 bytes big-endian for an integer, a
 * 4-byte big-endian length and the bytes for text and blobs. The type and
 * the lengths make the encoding unambiguous: no two rows share an input.
 * The MAC is stored in the row's own `mac` column (32 bytes). */

/* The columns of a table the MAC covers (docs/store.md says why these). A
 * SELECT of `cols` then `mac`, and the primary key bound to ?1..?nkeys. */
typedef struct rowkind {
  const char *table;
  const char *cols;
  int ncols;
  const char *where;
  int nkeys;
} rowkind;

#define CONN_MAC_COLS                                                          \
  "id, nickname, plugin, conn_type, environment, account, owner, state, "      \
  "remedy, params, secrets, created_at, updated_at, expires_at"
#define CP_MAC_COLS                                                            \
  "conn_id, card_id, sub_key, checkpoint, events_accepted, updated_at"
#define IDEM_MAC_COLS "key, conn_id, created_at, result"

static const rowkind conn_kind = {"connections", CONN_MAC_COLS, 14, "id = ?1",
                                  1};
static const rowkind cp_kind = {
    "checkpoints", CP_MAC_COLS, 6,
    "conn_id = ?1 AND card_id = ?2 AND sub_key = ?3", 3};
static const rowkind idem_kind = {"idempotency", IDEM_MAC_COLS, 4, "key = ?1",
                                  1};

typedef struct macbuf {
  uint8_t *p;
  size_t n, cap;
  int oom;
} macbuf;

static void mb_put(macbuf *b, const void *v, size_t n) {
  if (b->oom)
    return;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n)
      cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  if (n)
    memcpy(b->p + b->n, v, n);
  b->n += n;
}

static void mb_be(macbuf *b, uint64_t v, int bytes) {
  uint8_t x[8];
  for (int i = 0; i < bytes; i++)
    x[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
  mb_put(b, x, (size_t)bytes);
}

/* The MAC of columns 0..k->ncols-1 of the current row of s. */
static int row_mac(wfc__store *st, const rowkind *k, sqlite3_stmt *s,
                   uint8_t out[WFC__SHA256_LEN]) {
  macbuf b = {0};
  int rc;

  mb_put(&b, "wfc-row-v1|", 11);
  mb_put(&b, k->table, strlen(k->table));
  mb_put(&b, "|", 1);
  for (int i = 0; i < k->ncols; i++) {
    int type = sqlite3_column_type(s, i);
    uint8_t t = (uint8_t)type;
    mb_put(&b, &t, 1);
    if (type == SQLITE_INTEGER) {
      mb_be(&b, (uint64_t)sqlite3_column_int64(s, i), 8);
    } else if (type == SQLITE_FLOAT) {
      double d = sqlite3_column_double(s, i);
      uint64_t u;
      memcpy(&u, &d, sizeof u);
      mb_be(&b, u, 8);
    } else if (type == SQLITE_TEXT || type == SQLITE_BLOB) {
      const void *v = type == SQLITE_TEXT
                          ? (const void *)sqlite3_column_text(s, i)
                          : sqlite3_column_blob(s, i);
      size_t n = (size_t)sqlite3_column_bytes(s, i);
      mb_be(&b, n, 4);
      mb_put(&b, v, n);
    }
  }
  rc = b.oom ? WFC_ENOMEM
             : wfc__hmac_sha256(st->mac_key, sizeof st->mac_key, b.p, b.n, out);
  /* The input holds sealed blobs and metadata, never clear secrets. */
  free(b.p);
  return rc;
}

/* 1 when the MAC in column k->ncols of s's current row matches its
 * columns, 0 when not (or absent), or a negative code. Always 1 for a
 * store without MACs. */
static int row_ok(wfc__store *st, const rowkind *k, sqlite3_stmt *s) {
  uint8_t mac[WFC__SHA256_LEN];
  int rc;

  if (!st->authenticated)
    return 1;
  if ((rc = row_mac(st, k, s, mac)) != 0)
    return rc;
  if (sqlite3_column_type(s, k->ncols) != SQLITE_BLOB)
    return 0;
  return wfc__ct_equal(mac, sizeof mac, sqlite3_column_blob(s, k->ncols),
                       (size_t)sqlite3_column_bytes(s, k->ncols));
}

/* The message for a row that does not verify: the clear words, naming the
 * connection (conn_id may be NULL) and, for rows other than the
 * connection's own, what they are. */
static int tampered(const char *conn_id, const char *what) {
  if (conn_id == NULL)
    return fail(WFC_EKEY, "%s: " WFC_CONN_TAMPERED_WORDS,
                what != NULL ? what : "a record");
  if (what == NULL)
    return fail(WFC_EKEY, "connection %s: " WFC_CONN_TAMPERED_WORDS, conn_id);
  return fail(WFC_EKEY, "connection %s: " WFC_CONN_TAMPERED_WORDS " (%s)",
              conn_id, what);
}

static void bind_keys(sqlite3_stmt *s, const char *const *keys, int n) {
  for (int i = 0; i < n; i++)
    bind_text(s, i + 1, keys[i]);
}

/* Inside a write's transaction, before it changes the row of keys: 0 when
 * it verifies, WFC_ENOTFOUND when there is none, WFC_EKEY (message from
 * tampered(conn_id, what)) when it does not verify, so a write never makes
 * a changed row valid again. */
static int row_verify(wfc__store *st, const rowkind *k, const char *const *keys,
                      const char *conn_id, const char *what) {
  char sql[512];
  sqlite3_stmt *s;
  int rc;

  snprintf(sql, sizeof sql, "SELECT %s, %s FROM %s WHERE %s", k->cols,
           st->mac_col, k->table, k->where);
  if ((rc = prep(st, &s, sql)) != 0)
    return rc;
  bind_keys(s, keys, k->nkeys);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    rc = row_ok(st, k, s);
    rc = rc == 1 ? 0 : rc == 0 ? tampered(conn_id, what) : rc;
  } else if (rc == SQLITE_DONE) {
    rc = WFC_ENOTFOUND;
  } else {
    rc = db_fail(st, rc, "read for verification");
  }
  sqlite3_finalize(s);
  return rc;
}

/* Inside a write's transaction, after it changed (or inserted) the row of
 * keys: computes the MAC from what SQLite now holds and stores it. */
static int row_seal(wfc__store *st, const rowkind *k, const char *const *keys) {
  uint8_t mac[WFC__SHA256_LEN];
  char sql[512];
  sqlite3_stmt *s;
  int rc;

  if (!st->authenticated)
    return 0;
  snprintf(sql, sizeof sql, "SELECT %s FROM %s WHERE %s", k->cols, k->table,
           k->where);
  if ((rc = prep(st, &s, sql)) != 0)
    return rc;
  bind_keys(s, keys, k->nkeys);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    rc = row_mac(st, k, s, mac);
  else if (rc == SQLITE_DONE)
    rc = fail(WFC_ENOTFOUND, "store: the %s row to authenticate is gone",
              k->table);
  else
    rc = db_fail(st, rc, "read for authentication");
  sqlite3_finalize(s);
  if (rc != 0)
    return rc;
  snprintf(sql, sizeof sql, "UPDATE %s SET mac = ?%d WHERE %s", k->table,
           k->nkeys + 1, k->where);
  if ((rc = prep(st, &s, sql)) != 0)
    return rc;
  bind_keys(s, keys, k->nkeys);
  sqlite3_bind_blob(s, k->nkeys + 1, mac, sizeof mac, SQLITE_TRANSIENT);
  return step_done(st, s, "write the record's MAC", NULL, NULL);
}

/* Schema version WFC__STORE_MAC_VERSION, in the opening transaction once
 * the key is verified: every existing row of the three tables gets its MAC.
 * What the rows hold at this moment is trusted (docs/store.md). */
static int mac_existing_rows(wfc__store *st) {
  static const rowkind *const kinds[] = {&conn_kind, &cp_kind, &idem_kind};
  int rc = 0;

  for (size_t i = 0; rc == 0 && i < sizeof kinds / sizeof *kinds; i++) {
    const rowkind *k = kinds[i];
    char sql[512];
    sqlite3_stmt *s;
    /* The keys first (row_seal runs its own statements on the table). */
    char **keys = NULL;
    size_t n = 0, cap = 0;

    snprintf(sql, sizeof sql, "SELECT %s FROM %s", k->cols, k->table);
    if ((rc = prep(st, &s, sql)) != 0)
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
      /* The key columns lead the MAC columns of every kind. */
      for (int j = 0; j < k->nkeys; j++) {
        const char *v = (const char *)sqlite3_column_text(s, j);
        keys[n++] = strdup(v != NULL ? v : "");
      }
    }
    sqlite3_finalize(s);
    if (rc == SQLITE_DONE)
      rc = 0;
    else if (rc == SQLITE_ROW)
      rc = fail(WFC_ENOMEM, "out of memory");
    else
      rc = db_fail(st, rc, "read rows to authenticate");
    for (size_t j = 0; j < n; j++)
      if (keys[j] == NULL && rc == 0)
        rc = fail(WFC_ENOMEM, "out of memory");
    for (size_t j = 0; rc == 0 && j < n; j += (size_t)k->nkeys)
      rc = row_seal(st, k, (const char *const *)&keys[j]);
    for (size_t j = 0; j < n; j++)
      free(keys[j]);
    free(keys);
  }
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
     * is; mac_existing_rows (below) fills them (docs/store.md). */
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
};

_Static_assert(sizeof migrations / sizeof migrations[0] ==
                   WFC__STORE_SCHEMA_VERSION,
               "one migration per schema version");

/* Steps of a migration that need the store's keys: they run after the SQL
 * of every version and the key check, in the same opening transaction, for
 * each version this open crossed. */
static const struct {
  int version;
  int (*run)(wfc__store *st);
} keyed_migrations[] = {
    {WFC__STORE_MAC_VERSION, mac_existing_rows},
};

static int user_version(wfc__store *st, int *v) {
  sqlite3_stmt *s;
  int rc;

  if ((rc = prep(st, &s, "PRAGMA user_version")) != 0)
    return rc;
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    *v = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  return rc == SQLITE_ROW ? 0 : db_fail(st, rc, "read user_version");
}

/* Called inside the opening transaction, so concurrent openers migrate
 * once. cur: the version the store had when the transaction began. */
static int migrate(wfc__store *st, int cur, int target) {
  int rc;

  if (cur > WFC__STORE_SCHEMA_VERSION)
    return fail(WFC_ESTORE,
                "store %s has schema version %d, newer than this wfc "
                "understands (%d): upgrade wfc",
                st->path, cur, WFC__STORE_SCHEMA_VERSION);
  for (int v = cur + 1; v <= target; v++) {
    char pragma[48];
    if ((rc = exec_sql(st, migrations[v - 1])) != 0) {
      char cause[sizeof last_err];
      memcpy(cause, last_err, sizeof cause);
      return fail(rc, "store %s: migration to schema version %d failed (%s)",
                  st->path, v, cause);
    }
    snprintf(pragma, sizeof pragma, "PRAGMA user_version = %d", v);
    if ((rc = exec_sql(st, pragma)) != 0)
      return rc;
  }
  return 0;
}

/* ---- files and keys ---------------------------------------------------- */

/* Our own regular file, no access for group or others. fd < 0: by path
 * (lstat, so symlinks are refused), and a missing file is fine unless
 * must_exist. */
static int check_private(const char *path, int fd, const char *what,
                         int must_exist) {
  struct stat sb;

  if (fd >= 0 ? fstat(fd, &sb) != 0 : lstat(path, &sb) != 0) {
    if (errno == ENOENT && !must_exist)
      return 0;
    return fail(WFC_ESTORE, "%s %s: %s", what, path, strerror(errno));
  }
  if (S_ISLNK(sb.st_mode))
    return fail(WFC_ESTORE, "%s %s is a symbolic link: refused", what, path);
  if (!S_ISREG(sb.st_mode))
    return fail(WFC_ESTORE, "%s %s is not a regular file", what, path);
  if (sb.st_uid != geteuid())
    return fail(WFC_ESTORE, "%s %s belongs to another user: refused", what,
                path);
  if ((sb.st_mode & 077) != 0)
    return fail(WFC_ESTORE,
                "%s %s has mode %04o: it must not be accessible by group or "
                "others (chmod 600 %s)",
                what, path, (unsigned)(sb.st_mode & 07777), path);
  return 0;
}

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
      return fail(WFC_ESTORE, "store file %s is a symbolic link: refused",
                  path);
    return fail(WFC_ESTORE, "cannot open store file %s: %s", path,
                strerror(errno));
  }
  if ((rc = check_private(path, fd, "store file", 1)) == 0 &&
      fstat(fd, &sb) != 0)
    rc = fail(WFC_ESTORE, "store file %s: %s", path, strerror(errno));
  if (rc == 0 && sb.st_size == 0)
    rc = fail(WFC_ESTORE,
              "store file %s is empty (0 bytes): it is not a wfc store, and "
              "wfc does not start a new store over an existing file (restore "
              "it from a backup, or remove it to start afresh)",
              path);
  if (rc == 0) {
    n = pread(fd, head, sizeof head, 0);
    if (n != (ssize_t)sizeof head || memcmp(head, magic, sizeof magic) != 0)
      rc = fail(WFC_ESTORE,
                "store file %s is not a wfc store (not an SQLite database): "
                "refused",
                path);
  }
  close(fd);
  return rc;
}

/* "<path><infix><pid>.<8 random hex>": a temporary name beside path,
 * unique per attempt, also between threads of one process. */
static void tmp_name(const char *path, const char *infix, char *out,
                     size_t outsz) {
  uint8_t r[4];
  char rh[WFC__HEX_ENCLEN(sizeof r)];

  if (wfc__random(r, sizeof r) != 0 ||
      wfc__hex_encode(r, sizeof r, rh, sizeof rh) != 0)
    strcpy(rh, "0");
  snprintf(out, outsz, "%s%s%ld.%s", path, infix, (long)getpid(), rh);
}

/* 64 hex characters, or base64 (padded or base64url) of 32 bytes; trailing
 * whitespace (a key file's newline) is ignored. */
static int parse_key(const char *text, size_t len, uint8_t key[WFC__KEY_LEN]) {
  uint8_t buf[WFC__B64_DECLEN(44)];
  size_t n = 0;
  int ok;

  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
                     text[len - 1] == ' ' || text[len - 1] == '\t'))
    len--;
  if (len == 2 * WFC__KEY_LEN)
    ok = wfc__hex_decode(text, len, buf, sizeof buf, &n) == 0;
  else
    ok = wfc__base64_decode(text, len, buf, sizeof buf, &n) == 0 ||
         wfc__base64url_decode(text, len, buf, sizeof buf, &n) == 0;
  ok = ok && n == WFC__KEY_LEN;
  if (ok)
    memcpy(key, buf, WFC__KEY_LEN);
  wfc__cleanse(buf, sizeof buf);
  return ok ? 0 : WFC_EINVAL;
}

/* 0 and the key; WFC_ENOTFOUND if the file does not exist. */
static int read_key_file(const char *kpath, uint8_t key[WFC__KEY_LEN]) {
  char buf[256];
  ssize_t n;
  int fd, rc;

  fd = open(kpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return WFC_ENOTFOUND;
    if (errno == ELOOP)
      return fail(WFC_ESTORE, "key file %s is a symbolic link: refused", kpath);
    return fail(WFC_ESTORE, "cannot open key file %s: %s", kpath,
                strerror(errno));
  }
  if ((rc = check_private(kpath, fd, "key file", 1)) != 0) {
    close(fd);
    return rc;
  }
  n = read(fd, buf, sizeof buf);
  close(fd);
  if (n < 0)
    return fail(WFC_ESTORE, "cannot read key file %s: %s", kpath,
                strerror(errno));
  rc = parse_key(buf, (size_t)n, key);
  wfc__cleanse(buf, sizeof buf);
  if (rc != 0)
    return fail(WFC_EINVAL,
                "key file %s must hold 64 hex characters or the base64 of "
                "32 bytes",
                kpath);
  return 0;
}

static void fsync_parent_dir(const char *path) {
  char *dir = strdup(path), *slash;
  int fd;

  if (dir == NULL)
    return;
  slash = strrchr(dir, '/');
  if (slash == dir)
    slash[1] = '\0';
  else if (slash != NULL)
    *slash = '\0';
  else
    strcpy(dir, ".");
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  free(dir);
}

/* A new random key, written in full to a temporary file and then linked
 * into place, so a reader never sees half a key and two creators cannot
 * both win: the loser reads the winner's key. */
static int create_key_file(const char *kpath, uint8_t key[WFC__KEY_LEN]) {
  char hex[WFC__HEX_ENCLEN(WFC__KEY_LEN) + 1];
  char *tmp;
  size_t tlen = strlen(kpath) + 32;
  int fd, rc = 0;

  if ((rc = wfc__random(key, WFC__KEY_LEN)) != 0)
    return fail(rc, "cannot draw a master key: the random generator failed");
  if ((tmp = malloc(tlen)) == NULL)
    return fail(WFC_ENOMEM, "out of memory");
  tmp_name(kpath, ".tmp.", tmp, tlen);
  (void)wfc__hex_encode(key, WFC__KEY_LEN, hex, sizeof hex - 1);
  strcat(hex, "\n");
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc =
        fail(WFC_ESTORE, "cannot create key file %s: %s", tmp, strerror(errno));
    goto done;
  }
  if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) || fsync(fd) != 0) {
    rc = fail(WFC_ESTORE, "cannot write key file %s: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    goto done;
  }
  close(fd);
  if (link(tmp, kpath) != 0) {
    int e = errno;
    unlink(tmp);
    if (e == EEXIST) {
      rc = read_key_file(kpath, key);
      goto done;
    }
    rc = fail(WFC_ESTORE, "cannot create key file %s: %s", kpath, strerror(e));
    goto done;
  }
  unlink(tmp);
  fsync_parent_dir(kpath);
done:
  wfc__cleanse(hex, sizeof hex);
  free(tmp);
  return rc;
}

/* The master key is never used directly: sealing and record
 * authentication use sub-keys bound to their purpose, so the same master
 * key can safely serve other uses and no key serves two. */
static int derive_keys(wfc__store *st, const uint8_t master[WFC__KEY_LEN]) {
  static const char salt[] = "wfc-store-v1", info[] = "connection secrets",
                    mac_info[] = "record authentication";
  int rc = wfc__hkdf_sha256(master, WFC__KEY_LEN, salt, sizeof salt - 1, info,
                            sizeof info - 1, st->seal_key, WFC__KEY_LEN);
  if (rc == 0)
    rc = wfc__hkdf_sha256(master, WFC__KEY_LEN, salt, sizeof salt - 1, mac_info,
                          sizeof mac_info - 1, st->mac_key, WFC__KEY_LEN);
  return rc ? fail(rc, "cannot derive the store keys") : 0;
}

static const char key_check_aad[] = "wfc-keycheck-v1";
/* The key check's text also says whether the store's rows carry MACs, under
 * the seal: lowering user_version (to have the MAC migration run again over
 * changed rows) or dropping the key check is then seen and refused. */
static const char key_check_plain[] = "wfc key check: this store's key";
static const char key_check_plain_mac[] =
    "wfc key check: this store's key; records authenticated";

/* Writes (replace: 1, over the existing row) the key check for a store
 * whose rows carry MACs (mac) or not. */
static int write_key_check(wfc__store *st, int mac, int replace) {
  const char *text = mac ? key_check_plain_mac : key_check_plain;
  uint8_t *sealed = NULL;
  size_t slen = 0;
  sqlite3_stmt *s;
  int rc = wfc__seal(st->seal_key, key_check_aad, sizeof key_check_aad - 1,
                     text, strlen(text), &sealed, &slen);

  if (rc != 0)
    return fail(rc, "cannot seal the key check");
  if ((rc = prep(st, &s,
                 replace ? "UPDATE meta SET value = ?1 WHERE name = "
                           "'key_check'"
                         : "INSERT INTO meta (name, value) VALUES "
                           "('key_check', ?1)")) == 0) {
    sqlite3_bind_blob(s, 1, sealed, (int)slen, SQLITE_STATIC);
    rc = step_done(st, s, "write key check", NULL, NULL);
  }
  free(sealed);
  return rc;
}

/* Inside the opening transaction: verify the key-check record, or write it
 * when creating the store (creating: this open builds a new store; only
 * then may the key check, and the key file, be made). have_master: the key
 * came from opts or the environment; otherwise the key file is read, or
 * created for a new store only (an existing store without its key must not
 * get a new one). *mac receives whether the key check says the rows carry
 * MACs. */
static int key_check(wfc__store *st, uint8_t master[WFC__KEY_LEN],
                     int have_master, const char *key_src, int creating,
                     int *mac) {
  sqlite3_stmt *s;
  uint8_t *sealed = NULL, *plain = NULL;
  size_t slen = 0, plen = 0;
  char kpath[4096];
  int rc;

  *mac = 0;
  snprintf(kpath, sizeof kpath, "%s.key", st->path);
  if ((rc = prep(st, &s, "SELECT value FROM meta WHERE name = 'key_check'")) !=
      0)
    return rc;
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    slen = (size_t)sqlite3_column_bytes(s, 0);
    sealed = malloc(slen ? slen : 1);
    if (sealed != NULL && slen)
      memcpy(sealed, sqlite3_column_blob(s, 0), slen);
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return db_fail(st, rc, "read key check");
  if (rc == SQLITE_ROW && sealed == NULL)
    return fail(WFC_ENOMEM, "out of memory");
  if (sealed == NULL && !creating)
    return fail(WFC_ESTORE,
                "store %s has no key check: " WFC_CONN_TAMPERED_WORDS
                " (refused: a new key check would bless whatever it holds)",
                st->path);

  if (!have_master) {
    rc = read_key_file(kpath, master);
    if (rc == WFC_ENOTFOUND && sealed == NULL)
      rc = create_key_file(kpath, master);
    else if (rc == WFC_ENOTFOUND)
      rc = fail(WFC_EKEY,
                "store %s holds sealed data but its key file %s is missing "
                "and WFC_MASTER_KEY is not set",
                st->path, kpath);
    if (rc != 0)
      goto done;
    key_src = kpath;
  }
  if ((rc = derive_keys(st, master)) != 0)
    goto done;

  if (sealed != NULL) {
    rc = wfc__open(st->seal_key, key_check_aad, sizeof key_check_aad - 1,
                   sealed, slen, &plain, &plen);
    if (rc == 0 && wfc__ct_equal(plain, plen, key_check_plain_mac,
                                 sizeof key_check_plain_mac - 1))
      *mac = 1;
    else if (rc == WFC_EKEY ||
             (rc == 0 && !wfc__ct_equal(plain, plen, key_check_plain,
                                        sizeof key_check_plain - 1)))
      rc = fail(WFC_EKEY,
                "the master key does not match this store (%s; store %s)",
                key_src, st->path);
    else if (rc != 0)
      rc = fail(rc, "cannot verify the master key");
    goto done;
  }
  /* A new store: its rows carry MACs from the start when its schema does. */
  *mac = st->authenticated;
  rc = write_key_check(st, *mac, 0);
done:
  free(sealed);
  wfc__secmem_free(plain);
  return rc;
}

/* ---- open / close ------------------------------------------------------ */

static int pragma_is(wfc__store *st, const char *sql, const char *want) {
  sqlite3_stmt *s;
  int rc, ok = 0;

  if ((rc = prep(st, &s, sql)) != 0)
    return rc;
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    const char *v = (const char *)sqlite3_column_text(s, 0);
    ok = v != NULL && strcmp(v, want) == 0;
  }
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW)
    return db_fail(st, rc, sql);
  return ok ? 0 : fail(WFC_ESTORE, "store %s: %s did not apply", st->path, sql);
}

/* Switching a new database to WAL takes an exclusive lock and SQLite
 * reports SQLITE_BUSY at once, without its busy handler, while another
 * opener holds one: retry until the busy timeout. */
static int set_wal(wfc__store *st, int timeout_ms) {
  int64_t deadline = wfc__monotonic_ms() + timeout_ms;
  int rc;

  while ((rc = pragma_is(st, "PRAGMA journal_mode = WAL", "wal")) ==
             WFC_EBUSY &&
         wfc__monotonic_ms() < deadline) {
    struct timespec ts = {0, 5 * 1000 * 1000};
    nanosleep(&ts, NULL);
  }
  return rc;
}

static void set_authenticated(wfc__store *st, int on) {
  st->authenticated = on;
  st->mac_col = on ? "mac" : "NULL";
}

/* Opens path as st->db with the connection settings (docs/store.md),
 * journal mode aside. */
static int db_open(wfc__store *st, const char *path, int timeout_ms) {
  int rc = sqlite3_open_v2(
      path, &st->db,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_NOMUTEX, NULL);
  if (rc != SQLITE_OK)
    return fail(WFC_ESTORE, "cannot open store %s: %s", st->path,
                st->db ? sqlite3_errmsg(st->db) : sqlite3_errstr(rc));
  sqlite3_extended_result_codes(st->db, 1);
  sqlite3_busy_timeout(st->db, timeout_ms);
  /* Defensive: no writable_schema tricks; schema may not call functions
   * with side effects. */
  sqlite3_db_config(st->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
  sqlite3_db_config(st->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
  /* FULL: a commit (a rotated refresh token, an advanced checkpoint) is on
   * disk when the call returns. secure_delete: freed pages are zeroed. */
  return exec_sql(st, "PRAGMA foreign_keys = ON;"
                      "PRAGMA secure_delete = ON;"
                      "PRAGMA synchronous = FULL;");
}

/* The opening transaction: migrations from the version found to target,
 * the key check, then the migrations' keyed steps, so concurrent openers
 * migrate once and a failure leaves the store as it was. creating: the
 * first open of a new store (create_store), the only one allowed to find
 * schema version 0 and to write a key check. */
static int open_tx(wfc__store *st, uint8_t master[WFC__KEY_LEN], int have,
                   const char *src, int target, int creating) {
  int cur, ver, mac, rc;

  if ((rc = tx_begin(st)) != 0)
    return rc;
  if ((rc = user_version(st, &cur)) != 0)
    goto done;
  if (cur == 0 && !creating) {
    rc = fail(WFC_ESTORE,
              "store file %s is an SQLite database but not a wfc store "
              "(schema version 0): refused (remove it to start afresh)",
              st->path);
    goto done;
  }
  if ((rc = migrate(st, cur, target)) != 0 ||
      (rc = user_version(st, &ver)) != 0)
    goto done;
  set_authenticated(st, creating && ver >= WFC__STORE_MAC_VERSION);
  if ((rc = key_check(st, master, have, src, creating, &mac)) != 0)
    goto done;
  if (!creating && mac != (cur >= WFC__STORE_MAC_VERSION)) {
    /* Lowering user_version would have the MAC migration bless changed
     * rows; raising it (or an old key check) would skip verification. */
    rc = fail(WFC_ESTORE,
              "store %s: its schema version (%d) does not match its key "
              "check: " WFC_CONN_TAMPERED_WORDS,
              st->path, cur);
    goto done;
  }
  set_authenticated(st, ver >= WFC__STORE_MAC_VERSION);
  for (size_t i = 0;
       rc == 0 && i < sizeof keyed_migrations / sizeof *keyed_migrations; i++)
    if (cur < keyed_migrations[i].version &&
        keyed_migrations[i].version <= ver) {
      if ((rc = keyed_migrations[i].run(st)) != 0) {
        char cause[sizeof last_err];
        memcpy(cause, last_err, sizeof cause);
        rc = fail(rc, "store %s: migration to schema version %d failed (%s)",
                  st->path, keyed_migrations[i].version, cause);
      }
    }
  if (rc == 0 && st->authenticated && !mac)
    rc = write_key_check(st, 1, 1);
  if (rc == 0)
    rc = tx_commit(st);
done:
  if (rc != 0)
    tx_rollback(st);
  return rc;
}

/* A new store: built complete in a temporary file beside path (mode 0600,
 * the key check written, the key file made when needed), then linked into
 * place, so path never holds a half-made store and an empty file there is
 * never ours. Of two creators the second link fails with EEXIST: it then
 * opens the winner's store (same key file, see create_key_file). */
static int create_store(wfc__store *st, uint8_t master[WFC__KEY_LEN], int have,
                        const char *src, int target, int timeout_ms) {
  char tmp[4200], side[4300];
  int fd, rc;

  /* A store in a directory not made yet (WFC_STORE=/tmp/new/store.db):
   * the directory is made, mode 0700, as the default store's is. */
  snprintf(tmp, sizeof tmp, "%s", st->path);
  char *slash = strrchr(tmp, '/');
  if (slash != NULL && slash != tmp) {
    *slash = '\0';
    if (access(tmp, F_OK) != 0 && wfc__mkdirs(tmp) != 0)
      return fail(WFC_ESTORE, "cannot create the store's directory %s: %s", tmp,
                  strerror(errno));
  }
  tmp_name(st->path, ".new.", tmp, sizeof tmp);
  /* Ours with mode 0600 before SQLite opens it (SQLite would use 0644, and
   * gives its side files the database file's mode). */
  fd = open(tmp, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return fail(WFC_ESTORE, "cannot create store file %s: %s", st->path,
                strerror(errno));
  close(fd);
  if ((rc = db_open(st, tmp, timeout_ms)) == 0)
    rc = open_tx(st, master, have, src, target, 1);
  sqlite3_close_v2(st->db);
  st->db = NULL;
  if (rc == 0 && link(tmp, st->path) != 0 && errno != EEXIST)
    rc = fail(WFC_ESTORE, "cannot create store file %s: %s", st->path,
              strerror(errno));
  else if (rc == 0)
    fsync_parent_dir(st->path);
  unlink(tmp);
  snprintf(side, sizeof side, "%s-journal", tmp);
  unlink(side);
  return rc;
}

static int store_open(wfc__store *st, const wfc__store_opts *opts) {
  uint8_t master[WFC__KEY_LEN];
  const char *env = getenv("WFC_MASTER_KEY"), *src = NULL;
  char side[4096];
  int have = 0, target = opts->schema_version, rc;
  int timeout = opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;

  if (target == 0)
    target = WFC__STORE_SCHEMA_VERSION;
  if (target < 1 || target > WFC__STORE_SCHEMA_VERSION)
    return fail(WFC_EINVAL, "schema_version %d is out of range 1..%d", target,
                WFC__STORE_SCHEMA_VERSION);
  if (opts->master_key != NULL) {
    memcpy(master, opts->master_key, WFC__KEY_LEN);
    have = 1;
    src = "the master key given by the host";
  } else if (env != NULL && env[0] != '\0') {
    if (parse_key(env, strlen(env), master) != 0)
      return fail(WFC_EINVAL, "WFC_MASTER_KEY must be 64 hex characters or "
                              "the base64 of 32 bytes");
    have = 1;
    src = "WFC_MASTER_KEY";
  }

  rc = check_db_file(st->path);
  if (rc == WFC_ENOTFOUND &&
      (rc = create_store(st, master, have, src, target, timeout)) == 0)
    rc = check_db_file(st->path);
  if (rc == WFC_ENOTFOUND)
    rc = fail(WFC_ESTORE, "store file %s was removed while it was created",
              st->path);
  if (rc != 0)
    goto done;
  if ((rc = db_open(st, st->path, timeout)) != 0 ||
      (rc = set_wal(st, timeout)) != 0 ||
      (rc = open_tx(st, master, have, src, target, 0)) != 0)
    goto done;

  snprintf(side, sizeof side, "%s-wal", st->path);
  if ((rc = check_private(side, -1, "store file", 0)) != 0)
    goto done;
  snprintf(side, sizeof side, "%s-shm", st->path);
  rc = check_private(side, -1, "store file", 0);
done:
  wfc__cleanse(master, sizeof master);
  return rc;
}

int wfc__store_open_ex(const char *path, const wfc__store_opts *opts,
                       wfc__store **out, char *err, size_t errlen) {
  static const wfc__store_opts defaults;
  wfc__store *st;
  int rc;

  last_err[0] = '\0';
  if (err != NULL && errlen > 0)
    err[0] = '\0';
  if (out == NULL) {
    rc = fail(WFC_EINVAL, "store: no output handle");
    goto report;
  }
  *out = NULL;
  if (path == NULL || path[0] == '\0' || strlen(path) > 4000) {
    rc = fail(WFC_EINVAL, "store: path is empty or too long");
    goto report;
  }
  /* In secret memory: the handle holds the keys derived from the master
   * key, which open every sealed secret of the file. */
  if ((st = wfc__secmem_alloc(sizeof *st)) == NULL ||
      (st->path = strdup(path)) == NULL) {
    wfc__secmem_free(st);
    rc = fail(WFC_ENOMEM, "out of memory");
    goto report;
  }
  pthread_mutex_init(&st->mu, NULL);
  set_authenticated(st, 0);
  rc = store_open(st, opts != NULL ? opts : &defaults);
  if (rc != 0) {
    wfc__store_close(st);
    goto report;
  }
  *out = st;
  return 0;
report:
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s", last_err);
  return rc;
}

int wfc__store_open(const char *path, wfc__store **out, char *err,
                    size_t errlen) {
  return wfc__store_open_ex(path, NULL, out, err, errlen);
}

void wfc__store_close(wfc__store *st) {
  if (st == NULL)
    return;
  if (st->db != NULL)
    sqlite3_close_v2(st->db);
  wfc__cleanse(st->seal_key, sizeof st->seal_key);
  wfc__cleanse(st->mac_key, sizeof st->mac_key);
  pthread_mutex_destroy(&st->mu);
  free(st->path);
  wfc__secmem_free(st); /* cleansed */
}

int wfc__store_schema_version(wfc__store *st) {
  int v = -1;

  pthread_mutex_lock(&st->mu);
  if (user_version(st, &v) != 0)
    v = -1;
  pthread_mutex_unlock(&st->mu);
  return v;
}

/* ---- connections ------------------------------------------------------- */

static const char *const conn_states[] = {
    "authorizing",
    "connected",
    "needs_admin_approval",
    "approval_pending",
    "reauthorization_required",
    "revoked",
    "error",
};

int wfc__conn_state_valid(const char *state) {
  if (state == NULL)
    return 0;
  for (size_t i = 0; i < sizeof conn_states / sizeof *conn_states; i++)
    if (strcmp(state, conn_states[i]) == 0)
      return 1;
  return 0;
}

void wfc__conn_rec_clear(wfc__conn_rec *rec) {
  if (rec == NULL)
    return;
  free(rec->params);
  memset(rec, 0, sizeof *rec);
}

/* A text value for a field of size bytes (NUL included): terminated in
 * time, no control characters, present when required. */
static int check_field(const char *field, const char *v, size_t size,
                       int required) {
  size_t len;

  if (v == NULL) {
    if (required)
      return fail(WFC_EINVAL, "connection %s is required", field);
    return 0;
  }
  len = strnlen(v, size);
  if (len == size)
    return fail(WFC_EINVAL, "connection %s is longer than %zu bytes", field,
                size - 1);
  if (required && len == 0)
    return fail(WFC_EINVAL, "connection %s is required", field);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
      return fail(WFC_EINVAL, "connection %s contains a control character",
                  field);
  return 0;
}

static int check_id(const char *id) {
  int rc = check_field("id", id, WFC__CONN_ID_SIZE, 1);
  if (rc != 0)
    return rc;
  for (const char *p = id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
      return fail(WFC_EINVAL, "connection id may hold only letters, digits, "
                              "'_' and '-'");
  return 0;
}

static int check_state(const char *state) {
  if (!wfc__conn_state_valid(state))
    return fail(WFC_EINVAL,
                "connection state must be one of authorizing, connected, "
                "needs_admin_approval, approval_pending, "
                "reauthorization_required, revoked, error");
  return 0;
}

/* The AAD binds a sealed blob to its record: copied to another row, it
 * does not open. */
static void conn_aad(char *buf, size_t size, const char *id,
                     const char *plugin) {
  snprintf(buf, size, "wfc-conn-v1|%s|%s", id, plugin);
}

#define CONN_AAD_SIZE (16 + WFC__CONN_ID_SIZE + WFC__CONN_NAME_SIZE)

static int seal_secrets(wfc__store *st, const char *id, const char *plugin,
                        const char *json, uint8_t **blob, size_t *blen) {
  char aad[CONN_AAD_SIZE];
  int rc;

  conn_aad(aad, sizeof aad, id, plugin);
  rc =
      wfc__seal(st->seal_key, aad, strlen(aad), json, strlen(json), blob, blen);
  return rc ? fail(rc, "cannot seal the secrets of connection %s", id) : 0;
}

/* params must be a JSON object. Checked by a query rather than a CHECK
 * constraint: with trusted_schema off, the schema may not call json_*. */
static int check_params(wfc__store *st, const char *json) {
  sqlite3_stmt *s;
  int rc, ok = 0;

  if ((rc = prep(st, &s,
                 "SELECT json_valid(?1) AND json_type(?1) = 'object'")) != 0)
    return rc;
  bind_text(s, 1, json);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW)
    ok = sqlite3_column_int(s, 0);
  sqlite3_finalize(s);
  if (rc != SQLITE_ROW)
    return fail(WFC_EINVAL, "connection params must be a JSON object");
  return ok ? 0 : fail(WFC_EINVAL, "connection params must be a JSON object");
}

/* A connection's row as read by get, list and secrets: the MAC columns
 * (0..13, conn_kind), the MAC (14), last_used_at (15). The MAC column is
 * named at run time (st->mac_col): a store opened at an older schema has
 * none. */
#define CONN_SELECT                                                            \
  "SELECT " CONN_MAC_COLS ", %s, last_used_at FROM connections"

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

/* rec from a CONN_SELECT row. A field too long for rec (only a row written
 * outside the store can hold one) is cut and the record marked tampered. */
static int row_to_rec(wfc__store *st, sqlite3_stmt *s, wfc__conn_rec *rec) {
  const char *params;
  int ok;

  memset(rec, 0, sizeof *rec);
  if ((ok = row_ok(st, &conn_kind, s)) < 0)
    return ok;
  rec->tampered = !ok;
  rec->tampered |= copy_col(s, 0, rec->id, sizeof rec->id);
  rec->tampered |= copy_col(s, 1, rec->nickname, sizeof rec->nickname);
  rec->tampered |= copy_col(s, 2, rec->plugin, sizeof rec->plugin);
  rec->tampered |= copy_col(s, 3, rec->conn_type, sizeof rec->conn_type);
  rec->tampered |= copy_col(s, 4, rec->environment, sizeof rec->environment);
  rec->tampered |= copy_col(s, 5, rec->account, sizeof rec->account);
  rec->tampered |= copy_col(s, 6, rec->owner, sizeof rec->owner);
  rec->tampered |= copy_col(s, 7, rec->state, sizeof rec->state);
  rec->tampered |= copy_col(s, 8, rec->remedy, sizeof rec->remedy);
  params = (const char *)sqlite3_column_text(s, 9);
  if ((rec->params = strdup(params ? params : "{}")) == NULL)
    return fail(WFC_ENOMEM, "out of memory");
  rec->has_secrets = sqlite3_column_type(s, 10) != SQLITE_NULL;
  rec->created_at = sqlite3_column_int64(s, 11);
  rec->updated_at = sqlite3_column_int64(s, 12);
  rec->expires_at = sqlite3_column_int64(s, 13);
  rec->last_used_at = sqlite3_column_int64(s, 15);
  return 0;
}

int wfc__store_conn_insert(wfc__store *st, wfc__conn_rec *rec,
                           const char *secrets_json) {
  sqlite3_stmt *s = NULL;
  uint8_t *blob = NULL;
  size_t blen = 0;
  int64_t now = wfc__now_ms();
  int rc, sqlrc = 0;

  last_err[0] = '\0';
  if (st == NULL || rec == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_field("nickname", rec->nickname, sizeof rec->nickname, 1)) ||
      (rc = check_field("plugin", rec->plugin, sizeof rec->plugin, 1)) ||
      (rc = check_field("conn_type", rec->conn_type, sizeof rec->conn_type,
                        1)) ||
      (rc = check_field("environment", rec->environment,
                        sizeof rec->environment, 0)) ||
      (rc = check_field("account", rec->account, sizeof rec->account, 0)) ||
      (rc = check_field("owner", rec->owner, sizeof rec->owner, 0)) ||
      (rc = check_field("remedy", rec->remedy, sizeof rec->remedy, 0)) ||
      (rc = check_field("state", rec->state, sizeof rec->state, 0)))
    return rc;
  if (rec->state[0] == '\0')
    strcpy(rec->state, "authorizing");
  if ((rc = check_state(rec->state)) != 0)
    return rc;
  if (rec->id[0] == '\0') {
    uint8_t raw[8];
    char hex[WFC__HEX_ENCLEN(sizeof raw)];
    if ((rc = wfc__random(raw, sizeof raw)) != 0)
      return fail(rc, "cannot draw a connection id");
    (void)wfc__hex_encode(raw, sizeof raw, hex, sizeof hex);
    snprintf(rec->id, sizeof rec->id, "conn_%s", hex);
  } else if ((rc = check_id(rec->id)) != 0) {
    return rc;
  }
  if (secrets_json != NULL &&
      (rc = seal_secrets(st, rec->id, rec->plugin, secrets_json, &blob,
                         &blen)) != 0)
    return rc;

  pthread_mutex_lock(&st->mu);
  rc = check_params(st, rec->params != NULL ? rec->params : "{}");
  if (rc == 0)
    rc = tx_begin(st);
  if (rc == 0)
    rc = prep(st, &s,
              "INSERT INTO connections (id, nickname, plugin, conn_type,"
              " environment, account, owner, state, remedy, params, secrets,"
              " created_at, updated_at, last_used_at, expires_at)"
              " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12,"
              " ?13, ?14)");
  if (rc == 0) {
    bind_text(s, 1, rec->id);
    bind_text(s, 2, rec->nickname);
    bind_text(s, 3, rec->plugin);
    bind_text(s, 4, rec->conn_type);
    bind_text(s, 5, rec->environment);
    bind_text(s, 6, rec->account);
    bind_text(s, 7, rec->owner);
    bind_text(s, 8, rec->state);
    bind_text(s, 9, rec->remedy);
    bind_text(s, 10, rec->params != NULL ? rec->params : "{}");
    if (blob != NULL)
      sqlite3_bind_blob(s, 11, blob, (int)blen, SQLITE_STATIC);
    sqlite3_bind_int64(s, 12, now);
    bind_time(s, 13, rec->last_used_at);
    bind_time(s, 14, rec->expires_at);
    rc = step_done(st, s, "insert connection", NULL, &sqlrc);
  }
  if (rc == 0)
    rc = row_seal(st, &conn_kind, (const char *const[]){rec->id});
  if (rc == 0)
    rc = tx_commit(st);
  if (rc != 0)
    tx_rollback(st);
  pthread_mutex_unlock(&st->mu);
  if (rc == 0) {
    rec->created_at = rec->updated_at = now;
    rec->has_secrets = blob != NULL;
    rec->tampered = 0;
  }
  free(blob); /* ciphertext only */
  if (sqlrc == SQLITE_CONSTRAINT_UNIQUE)
    return fail(WFC_EEXIST, "a connection named '%s' already exists%s%s",
                rec->nickname, rec->owner[0] ? " for owner " : "", rec->owner);
  if (sqlrc == SQLITE_CONSTRAINT_PRIMARYKEY)
    return fail(WFC_EEXIST, "connection id %s already exists", rec->id);
  return rc;
}

/* Steps a CONN_SELECT ... WHERE ?1 (where: the condition and limit) bound
 * to key: 0 and *found = the number of rows seen (at most 2), the first
 * one copied into rec. */
static int conn_select(wfc__store *st, const char *where, const char *key,
                       wfc__conn_rec *rec, int *found) {
  char sql[512];
  sqlite3_stmt *s;
  int rc;

  *found = 0;
  snprintf(sql, sizeof sql, CONN_SELECT " WHERE %s", st->mac_col, where);
  if ((rc = prep(st, &s, sql)) != 0)
    return rc;
  bind_text(s, 1, key);
  while (*found < 2 && (rc = sqlite3_step(s)) == SQLITE_ROW)
    if ((*found)++ == 0 && (rc = row_to_rec(st, s, rec)) != 0)
      break;
  if (rc == SQLITE_ROW || rc == SQLITE_DONE)
    rc = 0;
  else if (rc > 0)
    rc = db_fail(st, rc, "read connection");
  sqlite3_finalize(s);
  return rc;
}

int wfc__store_conn_get(wfc__store *st, const char *id_or_nickname,
                        wfc__conn_rec *rec) {
  int rc, found = 0;

  last_err[0] = '\0';
  if (st == NULL || rec == NULL || id_or_nickname == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  memset(rec, 0, sizeof *rec);
  pthread_mutex_lock(&st->mu);
  /* An exact id wins over any nickname. */
  rc = conn_select(st, "id = ?1", id_or_nickname, rec, &found);
  if (rc == 0 && found == 0)
    rc = conn_select(st, "nickname = ?1 LIMIT 2", id_or_nickname, rec, &found);
  pthread_mutex_unlock(&st->mu);
  if (rc == 0 && found == 0)
    rc = fail(WFC_ENOTFOUND, "no connection with id or nickname '%s'",
              id_or_nickname);
  else if (rc == 0 && found > 1)
    rc = fail(WFC_EINVAL,
              "nickname '%s' is used by several owners: name the connection "
              "by its id",
              id_or_nickname);
  else if (rc == 0 && rec->tampered)
    return tampered(rec->id, NULL); /* rec kept, to be shown */
  if (rc != 0)
    wfc__conn_rec_clear(rec);
  return rc;
}

int wfc__store_conn_list(wfc__store *st, const char *plugin,
                         wfc__conn_list_cb cb, void *arg) {
  char sql[512];
  sqlite3_stmt *s = NULL;
  wfc__conn_rec *recs = NULL;
  size_t n = 0, cap = 0;
  int rc;

  last_err[0] = '\0';
  if (st == NULL || cb == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  /* Collect first, then call back with the lock released. */
  pthread_mutex_lock(&st->mu);
  snprintf(sql, sizeof sql,
           CONN_SELECT " WHERE ?1 IS NULL OR plugin = ?1 ORDER BY "
                       "created_at, id",
           st->mac_col);
  rc = prep(st, &s, sql);
  if (rc == 0) {
    bind_text(s, 1, plugin);
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      if (n == cap) {
        size_t ncap = cap ? 2 * cap : 8;
        wfc__conn_rec *nr = realloc(recs, ncap * sizeof *nr);
        if (nr == NULL) {
          rc = fail(WFC_ENOMEM, "out of memory");
          break;
        }
        recs = nr;
        cap = ncap;
      }
      if ((rc = row_to_rec(st, s, &recs[n])) != 0) {
        wfc__conn_rec_clear(&recs[n]);
        break;
      }
      n++;
    }
    if (rc == SQLITE_DONE)
      rc = 0;
    else if (rc > 0) /* an SQLite code; ours are negative */
      rc = db_fail(st, rc, "list connections");
  }
  sqlite3_finalize(s);
  pthread_mutex_unlock(&st->mu);
  for (size_t i = 0; i < n; i++) {
    if (rc == 0)
      rc = cb(&recs[i], arg);
    wfc__conn_rec_clear(&recs[i]);
  }
  free(recs);
  return rc;
}

/* Runs one UPDATE of a verified connection in a transaction with its new
 * MAC: text[0] is its id (?1), the caller's values follow (?2..?n), ?n+1
 * is bound to now. WFC_ENOTFOUND when no row has the id, WFC_EKEY when it
 * does not verify (nothing written). */
static int conn_update(wfc__store *st, const char *sql, const char *const *text,
                       int n) {
  sqlite3_stmt *s = NULL;
  int rc;

  pthread_mutex_lock(&st->mu);
  if ((rc = tx_begin(st)) != 0)
    goto done;
  rc = row_verify(st, &conn_kind, text, text[0], NULL);
  if (rc == WFC_ENOTFOUND)
    rc = fail(WFC_ENOTFOUND, "no connection with id '%s'", text[0]);
  if (rc != 0 || (rc = prep(st, &s, sql)) != 0)
    goto done;
  for (int i = 0; i < n; i++)
    bind_text(s, i + 1, text[i]);
  sqlite3_bind_int64(s, n + 1, wfc__now_ms());
  if ((rc = step_done(st, s, "update connection", NULL, NULL)) == 0 &&
      (rc = row_seal(st, &conn_kind, text)) == 0)
    rc = tx_commit(st);
done:
  if (rc != 0)
    tx_rollback(st);
  pthread_mutex_unlock(&st->mu);
  return rc;
}

int wfc__store_conn_update_state(wfc__store *st, const char *id,
                                 const char *state, const char *remedy) {
  int rc;

  last_err[0] = '\0';
  if (st == NULL || id == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_state(state)) != 0 ||
      (rc = check_field("remedy", remedy, WFC__CONN_REMEDY_SIZE, 0)) != 0)
    return rc;
  return conn_update(st,
                     "UPDATE connections SET state = ?2, remedy = ?3,"
                     " updated_at = ?4 WHERE id = ?1",
                     (const char *[]){id, state, remedy ? remedy : ""}, 3);
}

int wfc__store_conn_update_account(wfc__store *st, const char *id,
                                   const char *account) {
  int rc;

  last_err[0] = '\0';
  if (st == NULL || id == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_field("account", account, WFC__CONN_ACCOUNT_SIZE, 1)) != 0)
    return rc;
  return conn_update(st,
                     "UPDATE connections SET account = ?2, updated_at = ?3"
                     " WHERE id = ?1",
                     (const char *[]){id, account}, 2);
}

int wfc__store_conn_update_params(wfc__store *st, const char *id,
                                  const char *params_json) {
  int rc;

  last_err[0] = '\0';
  if (st == NULL || id == NULL || params_json == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  pthread_mutex_lock(&st->mu);
  rc = check_params(st, params_json);
  pthread_mutex_unlock(&st->mu);
  if (rc != 0)
    return rc;
  return conn_update(st,
                     "UPDATE connections SET params = ?2, updated_at = ?3"
                     " WHERE id = ?1",
                     (const char *[]){id, params_json}, 2);
}

int wfc__store_conn_touch(wfc__store *st, const char *id) {
  int64_t now = wfc__now_ms();
  int rc, changes = 0;

  last_err[0] = '\0';
  if (st == NULL || id == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  rc = exec1(st, "update connection",
             "UPDATE connections SET last_used_at = ?2 WHERE id = ?1", &id, 1,
             &now, &changes, NULL);
  if (rc == 0 && changes == 0)
    rc = fail(WFC_ENOTFOUND, "no connection with id '%s'", id);
  return rc;
}

/* The connection's row, verified, inside the caller's lock (and
 * transaction, for a write): *s (transfer: finalize it) is on the
 * CONN_SELECT row. WFC_ENOTFOUND, WFC_EKEY (does not verify). */
static int conn_row(wfc__store *st, const char *id, sqlite3_stmt **s) {
  char sql[512];
  int rc;

  snprintf(sql, sizeof sql, CONN_SELECT " WHERE id = ?1", st->mac_col);
  if ((rc = prep(st, s, sql)) != 0)
    return rc;
  bind_text(*s, 1, id);
  rc = sqlite3_step(*s);
  if (rc == SQLITE_ROW) {
    rc = row_ok(st, &conn_kind, *s);
    rc = rc == 1 ? 0 : rc == 0 ? tampered(id, NULL) : rc;
  } else if (rc == SQLITE_DONE) {
    rc = fail(WFC_ENOTFOUND, "no connection with id '%s'", id);
  } else {
    rc = db_fail(st, rc, "read connection");
  }
  if (rc != 0) {
    sqlite3_finalize(*s);
    *s = NULL;
  }
  return rc;
}

static int lease_delete(wfc__store *st, const char *conn_id, const char *holder,
                        int *changes);

/* Writes the sealed secrets of id and, with a holder, releases its lease,
 * in one transaction. With a holder (the end of a refresh) a revoked
 * connection keeps its wiped secrets: WFC_EREAUTH, lease released. */
static int update_secrets(wfc__store *st, const char *id,
                          const char *secrets_json, int64_t expires_at,
                          const char *holder, int *released) {
  char plugin[WFC__CONN_NAME_SIZE];
  sqlite3_stmt *s = NULL;
  uint8_t *blob = NULL;
  size_t blen = 0;
  int rc, changes = 0, gone = 0;

  last_err[0] = '\0';
  if (released != NULL)
    *released = 0;
  if (st == NULL || id == NULL || secrets_json == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  pthread_mutex_lock(&st->mu);
  if ((rc = tx_begin(st)) != 0 || (rc = conn_row(st, id, &s)) != 0)
    goto done;
  /* The plugin names the record in the AAD. */
  (void)copy_col(s, 2, plugin, sizeof plugin);
  sqlite3_finalize(s);
  s = NULL;
  if ((rc = seal_secrets(st, id, plugin, secrets_json, &blob, &blen)) != 0 ||
      (rc = prep(st, &s,
                 holder != NULL
                     ? "UPDATE connections SET secrets = ?2, expires_at = ?3,"
                       " updated_at = ?4 WHERE id = ?1 AND state <> 'revoked'"
                     : "UPDATE connections SET secrets = ?2, expires_at = ?3,"
                       " updated_at = ?4 WHERE id = ?1")) != 0)
    goto done;
  bind_text(s, 1, id);
  sqlite3_bind_blob(s, 2, blob, (int)blen, SQLITE_STATIC);
  bind_time(s, 3, expires_at);
  sqlite3_bind_int64(s, 4, wfc__now_ms());
  rc = step_done(st, s, "update secrets", &changes, NULL);
  s = NULL;
  if (rc != 0)
    goto done;
  gone = changes == 0; /* revoked meanwhile (conn_row found the row) */
  if (!gone && (rc = row_seal(st, &conn_kind, &id)) != 0)
    goto done;
  if (holder != NULL) {
    if ((rc = lease_delete(st, id, holder, &changes)) != 0)
      goto done;
    if (released != NULL)
      *released = changes > 0;
  }
  if ((rc = tx_commit(st)) != 0)
    goto done;
  if (gone)
    rc = fail(WFC_EREAUTH,
              "connection %s was revoked while it was refreshed; the new "
              "tokens were not stored",
              id);
  pthread_mutex_unlock(&st->mu);
  free(blob);
  return rc;
done:
  sqlite3_finalize(s);
  tx_rollback(st);
  pthread_mutex_unlock(&st->mu);
  free(blob);
  return rc;
}

int wfc__store_conn_update_secrets(wfc__store *st, const char *id,
                                   const char *secrets_json,
                                   int64_t expires_at) {
  return update_secrets(st, id, secrets_json, expires_at, NULL, NULL);
}

int wfc__store_conn_rotate(wfc__store *st, const char *id,
                           const char *secrets_json, int64_t expires_at,
                           const char *holder, int *released) {
  if (holder == NULL || holder[0] == '\0') {
    last_err[0] = '\0';
    return fail(WFC_EINVAL, "refresh lease: a holder is required");
  }
  return update_secrets(st, id, secrets_json, expires_at, holder, released);
}

int wfc__store_conn_secrets(wfc__store *st, const char *id, char **json) {
  char plugin[WFC__CONN_NAME_SIZE], aad[CONN_AAD_SIZE];
  sqlite3_stmt *s = NULL;
  uint8_t *plain = NULL;
  size_t plen;
  int rc;

  last_err[0] = '\0';
  if (st == NULL || id == NULL || json == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  *json = NULL;
  pthread_mutex_lock(&st->mu);
  if ((rc = conn_row(st, id, &s)) != 0)
    goto done;
  (void)copy_col(s, 2, plugin, sizeof plugin);
  if (sqlite3_column_type(s, 10) == SQLITE_NULL) {
    rc = fail(WFC_ENOTFOUND, "connection %s holds no secrets", id);
    goto done;
  }
  conn_aad(aad, sizeof aad, id, plugin);
  rc = wfc__open(st->seal_key, aad, strlen(aad), sqlite3_column_blob(s, 10),
                 (size_t)sqlite3_column_bytes(s, 10), &plain, &plen);
  if (rc == WFC_EKEY) /* a blob sealed before its row had a MAC */
    rc = tampered(id, "its sealed secrets do not open");
  else if (rc != 0)
    rc = fail(rc, "cannot open the secrets of connection %s", id);
  else
    *json = (char *)plain; /* NUL-terminated by wfc__open */
done:
  sqlite3_finalize(s);
  pthread_mutex_unlock(&st->mu);
  return rc;
}

/* Folds the WAL back into the database and truncates it, so page images
 * of wiped or deleted rows do not linger there. Best effort: a reader on
 * another handle may hold the WAL, then the next checkpoint does it. */
static void wal_truncate(wfc__store *st) {
  (void)sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                  NULL, NULL);
}

int wfc__store_conn_wipe_secrets(wfc__store *st, const char *id) {
  sqlite3_stmt *s;
  int rc;

  last_err[0] = '\0';
  if (st == NULL || id == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  pthread_mutex_lock(&st->mu);
  if ((rc = tx_begin(st)) != 0)
    goto done;
  rc = row_verify(st, &conn_kind, &id, id, NULL);
  if (rc == WFC_ENOTFOUND)
    rc = fail(WFC_ENOTFOUND, "no connection with id '%s'", id);
  if (rc != 0 ||
      (rc = prep(st, &s,
                 "UPDATE connections SET secrets = zeroblob(length(secrets))"
                 " WHERE id = ?1 AND secrets IS NOT NULL")) != 0)
    goto done;
  bind_text(s, 1, id);
  if ((rc = step_done(st, s, "wipe secrets", NULL, NULL)) != 0)
    goto done;
  if ((rc = prep(st, &s,
                 "UPDATE connections SET secrets = NULL, expires_at = NULL,"
                 " updated_at = ?2 WHERE id = ?1")) != 0)
    goto done;
  bind_text(s, 1, id);
  sqlite3_bind_int64(s, 2, wfc__now_ms());
  if ((rc = step_done(st, s, "wipe secrets", NULL, NULL)) != 0 ||
      (rc = row_seal(st, &conn_kind, &id)) != 0)
    goto done;
  if ((rc = tx_commit(st)) == 0)
    wal_truncate(st);
done:
  if (rc != 0)
    tx_rollback(st);
  pthread_mutex_unlock(&st->mu);
  return rc;
}

int wfc__store_conn_delete(wfc__store *st, const char *id) {
  int rc, changes = 0;

  last_err[0] = '\0';
  if (st == NULL || id == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  /* One statement: checkpoints and idempotency keys go with it (ON DELETE
   * CASCADE) in the same implicit transaction. */
  rc = exec1(st, "delete connection", "DELETE FROM connections WHERE id = ?1",
             &id, 1, NULL, &changes, NULL);
  if (rc == 0 && changes == 0)
    return fail(WFC_ENOTFOUND, "no connection with id '%s'", id);
  if (rc == 0) {
    pthread_mutex_lock(&st->mu);
    wal_truncate(st);
    pthread_mutex_unlock(&st->mu);
  }
  return rc;
}

/* ---- refresh leases ---------------------------------------------------- */

/* Deletes conn_id's lease if holder holds it, inside the caller's
 * transaction or as its own statement. */
static int lease_delete(wfc__store *st, const char *conn_id, const char *holder,
                        int *changes) {
  sqlite3_stmt *s;
  int rc;

  if ((rc = prep(st, &s,
                 "DELETE FROM refresh_leases WHERE conn_id = ?1"
                 " AND holder = ?2")) != 0)
    return rc;
  bind_text(s, 1, conn_id);
  bind_text(s, 2, holder);
  return step_done(st, s, "release refresh lease", changes, NULL);
}

/* A lease must be seen at once by the other processes, which the WAL does
 * on commit, but need not outlive a power loss (its holder does not): its
 * own transactions skip the fsync of synchronous=FULL. The rotation that
 * ends a refresh (update_secrets) keeps it, and syncs these frames too. */
static int lease_sync_normal(wfc__store *st, int on) {
  return exec_sql(st, on ? "PRAGMA synchronous = NORMAL"
                         : "PRAGMA synchronous = FULL");
}

static int check_lease_args(const char *conn_id, const char *holder) {
  if (conn_id == NULL || conn_id[0] == '\0')
    return fail(WFC_EINVAL, "refresh lease: a connection id is required");
  if (holder == NULL)
    return 0;
  return check_field("lease holder", holder, WFC__LEASE_HOLDER_SIZE, 1);
}

/* The lease row of conn_id into *out (may be NULL): 0, WFC_ENOTFOUND. */
static int lease_read(wfc__store *st, const char *conn_id, wfc__lease *out) {
  sqlite3_stmt *s;
  int rc;

  if ((rc = prep(st, &s,
                 "SELECT holder, taken_at, expires_at FROM refresh_leases"
                 " WHERE conn_id = ?1")) != 0)
    return rc;
  bind_text(s, 1, conn_id);
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    rc = 0;
    if (out != NULL) {
      if (copy_col(s, 0, out->holder, sizeof out->holder))
        rc = fail(WFC_ESTORE, "connection %s: stored lease holder is too long",
                  conn_id);
      out->taken_at = sqlite3_column_int64(s, 1);
      out->expires_at = sqlite3_column_int64(s, 2);
    }
  } else if (rc == SQLITE_DONE) {
    rc =
        fail(WFC_ENOTFOUND, "connection %s: no refresh lease is held", conn_id);
  } else {
    rc = db_fail(st, rc, "read refresh lease");
  }
  sqlite3_finalize(s);
  return rc;
}

int wfc__store_lease_take(wfc__store *st, const char *conn_id,
                          const char *holder, int64_t ttl_ms, wfc__lease *cur) {
  sqlite3_stmt *s;
  int64_t now = wfc__now_ms();
  int rc, changes = 0, sqlrc = 0;

  last_err[0] = '\0';
  if (cur != NULL)
    memset(cur, 0, sizeof *cur);
  if (st == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_lease_args(conn_id, holder)) != 0)
    return rc;
  if (holder == NULL || ttl_ms <= 0)
    return fail(WFC_EINVAL, "refresh lease: a holder and a positive length "
                            "are required");
  pthread_mutex_lock(&st->mu);
  if ((rc = lease_sync_normal(st, 1)) != 0 || (rc = tx_begin(st)) != 0)
    goto done;
  /* One upsert: a free row is inserted; an existing one is overwritten only
   * when it is ours (renewal) or expired (take-over). */
  if ((rc = prep(st, &s,
                 "INSERT INTO refresh_leases (conn_id, holder, taken_at,"
                 " expires_at) VALUES (?1, ?2, ?3, ?4)"
                 " ON CONFLICT (conn_id) DO UPDATE SET"
                 " taken_at = CASE WHEN holder = excluded.holder"
                 "   THEN taken_at ELSE excluded.taken_at END,"
                 " holder = excluded.holder, expires_at = excluded.expires_at"
                 " WHERE holder = excluded.holder OR expires_at <= ?3")) != 0)
    goto done;
  bind_text(s, 1, conn_id);
  bind_text(s, 2, holder);
  sqlite3_bind_int64(s, 3, now);
  sqlite3_bind_int64(s, 4, now + ttl_ms);
  rc = step_done(st, s, "take refresh lease", &changes, &sqlrc);
  if (sqlrc == SQLITE_CONSTRAINT_FOREIGNKEY) {
    rc = fail(WFC_ENOTFOUND, "no connection with id '%s'", conn_id);
    goto done;
  }
  if (rc != 0)
    goto done;
  if (changes == 0 && (rc = lease_read(st, conn_id, cur)) != 0)
    goto done;
  if ((rc = tx_commit(st)) == 0 && changes == 0)
    rc = fail(WFC_EBUSY, "connection %s is being refreshed by %s", conn_id,
              cur != NULL ? cur->holder : "another holder");
done:
  if (rc != 0)
    tx_rollback(st);
  if (lease_sync_normal(st, 0) != 0 && rc == 0)
    rc = fail(WFC_ESTORE, "store: cannot restore synchronous=FULL");
  pthread_mutex_unlock(&st->mu);
  return rc;
}

int wfc__store_lease_release(wfc__store *st, const char *conn_id,
                             const char *holder) {
  int rc, changes = 0;

  last_err[0] = '\0';
  if (st == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_lease_args(conn_id, holder)) != 0)
    return rc;
  if (holder == NULL)
    return fail(WFC_EINVAL, "refresh lease: a holder is required");
  pthread_mutex_lock(&st->mu);
  if ((rc = lease_sync_normal(st, 1)) == 0)
    rc = lease_delete(st, conn_id, holder, &changes);
  if (lease_sync_normal(st, 0) != 0 && rc == 0)
    rc = fail(WFC_ESTORE, "store: cannot restore synchronous=FULL");
  pthread_mutex_unlock(&st->mu);
  if (rc == 0 && changes == 0)
    rc = fail(WFC_ENOTFOUND,
              "connection %s: the refresh lease is not held "
              "by this holder",
              conn_id);
  return rc;
}

int wfc__store_lease_pass(wfc__store *st, const char *conn_id,
                          const char *holder, const char *to,
                          int64_t until_ms) {
  sqlite3_stmt *s;
  int rc, changes = 0;

  last_err[0] = '\0';
  if (st == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_lease_args(conn_id, holder)) != 0 ||
      (rc = check_lease_args(conn_id, to)) != 0)
    return rc;
  if (holder == NULL || to == NULL)
    return fail(WFC_EINVAL, "refresh lease: a holder and its successor are "
                            "required");
  pthread_mutex_lock(&st->mu);
  if ((rc = lease_sync_normal(st, 1)) == 0 &&
      (rc = prep(st, &s,
                 "UPDATE refresh_leases SET holder = ?3, taken_at = ?4,"
                 " expires_at = ?5 WHERE conn_id = ?1 AND holder = ?2")) == 0) {
    bind_text(s, 1, conn_id);
    bind_text(s, 2, holder);
    bind_text(s, 3, to);
    sqlite3_bind_int64(s, 4, wfc__now_ms());
    sqlite3_bind_int64(s, 5, until_ms);
    rc = step_done(st, s, "pass refresh lease", &changes, NULL);
  }
  if (lease_sync_normal(st, 0) != 0 && rc == 0)
    rc = fail(WFC_ESTORE, "store: cannot restore synchronous=FULL");
  pthread_mutex_unlock(&st->mu);
  if (rc == 0 && changes == 0)
    rc = fail(WFC_ENOTFOUND,
              "connection %s: the refresh lease is not held "
              "by this holder",
              conn_id);
  return rc;
}

int wfc__store_lease_get(wfc__store *st, const char *conn_id, wfc__lease *out) {
  int rc;

  last_err[0] = '\0';
  if (out != NULL)
    memset(out, 0, sizeof *out);
  if (st == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_lease_args(conn_id, NULL)) != 0)
    return rc;
  pthread_mutex_lock(&st->mu);
  rc = lease_read(st, conn_id, out);
  pthread_mutex_unlock(&st->mu);
  return rc;
}

/* ---- checkpoints ------------------------------------------------------- */

static int check_cp_args(wfc__store *st, const char *conn_id,
                         const char *card_id) {
  if (st == NULL || conn_id == NULL || card_id == NULL || card_id[0] == '\0')
    return fail(WFC_EINVAL, "checkpoint: connection id and card id are "
                            "required");
  return 0;
}

/* A checkpoint row that does not verify: its text may be a URL the card
 * would call with the connection's token. */
static int cp_tampered(const char *conn_id, const char *card_id) {
  char what[160];
  snprintf(what, sizeof what, "the checkpoint of %.100s", card_id);
  return tampered(conn_id, what);
}

/* The SELECT of a checkpoint row: CP_MAC_COLS (0..5) and the MAC (6). */
static int cp_select(wfc__store *st, sqlite3_stmt **s, const char *conn_id,
                     const char *card_id, const char *sub_key) {
  char sql[512];
  int rc;

  snprintf(sql, sizeof sql,
           "SELECT " CP_MAC_COLS ", %s FROM checkpoints WHERE conn_id = ?1"
           " AND card_id = ?2 AND sub_key = ?3",
           st->mac_col);
  if ((rc = prep(st, s, sql)) == 0)
    bind_sub(*s, conn_id, card_id, sub_key);
  return rc;
}

int wfc__store_checkpoint_get(wfc__store *st, const char *conn_id,
                              const char *card_id, const char *sub_key,
                              char **checkpoint, int64_t *events_accepted) {
  sqlite3_stmt *s = NULL;
  int rc;

  last_err[0] = '\0';
  if (checkpoint != NULL)
    *checkpoint = NULL;
  if ((rc = check_cp_args(st, conn_id, card_id)) != 0)
    return rc;
  pthread_mutex_lock(&st->mu);
  if ((rc = cp_select(st, &s, conn_id, card_id, sub_key)) != 0)
    goto done;
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW && (rc = row_ok(st, &cp_kind, s)) != 1) {
    if (rc == 0)
      rc = cp_tampered(conn_id, card_id);
  } else if (rc == 1) {
    rc = 0;
    if (events_accepted != NULL)
      *events_accepted = sqlite3_column_int64(s, 4);
    if (checkpoint != NULL &&
        (*checkpoint = strdup((const char *)sqlite3_column_text(s, 3))) == NULL)
      rc = fail(WFC_ENOMEM, "out of memory");
  } else if (rc == SQLITE_DONE) {
    rc = fail(WFC_ENOTFOUND, "no checkpoint for card %s of connection %s",
              card_id, conn_id);
  } else {
    rc = db_fail(st, rc, "read checkpoint");
  }
done:
  sqlite3_finalize(s);
  pthread_mutex_unlock(&st->mu);
  return rc;
}

int wfc__store_checkpoint_cas(wfc__store *st, const char *conn_id,
                              const char *card_id, const char *sub_key,
                              const char *expected, const char *next,
                              int64_t accepted) {
  sqlite3_stmt *s = NULL;
  int rc, sqlrc = 0, match;

  last_err[0] = '\0';
  if ((rc = check_cp_args(st, conn_id, card_id)) != 0)
    return rc;
  if (next == NULL || accepted < 0)
    return fail(WFC_EINVAL, "checkpoint: next is required and accepted must "
                            "not be negative");
  if (sub_key == NULL)
    sub_key = "";
  pthread_mutex_lock(&st->mu);
  /* IMMEDIATE: the read and the write hold the write lock together, so
   * another handle cannot move the checkpoint in between. */
  if ((rc = tx_begin(st)) != 0 ||
      (rc = cp_select(st, &s, conn_id, card_id, sub_key)) != 0)
    goto done;
  rc = sqlite3_step(s);
  if (rc == SQLITE_ROW) {
    const char *cur = (const char *)sqlite3_column_text(s, 3);
    if ((rc = row_ok(st, &cp_kind, s)) != 1) {
      if (rc == 0)
        rc = cp_tampered(conn_id, card_id);
      goto done;
    }
    match = expected != NULL && cur != NULL && strcmp(cur, expected) == 0;
  } else if (rc == SQLITE_DONE) {
    match = expected == NULL;
  } else {
    rc = db_fail(st, rc, "read checkpoint");
    goto done;
  }
  sqlite3_finalize(s);
  s = NULL;
  if (!match) {
    rc = fail(WFC_ESTALE,
              "checkpoint of card %s on connection %s was moved by another "
              "writer",
              card_id, conn_id);
    goto done;
  }
  if ((rc =
           prep(st, &s,
                "INSERT INTO checkpoints (conn_id, card_id, sub_key,"
                " checkpoint, events_accepted, updated_at)"
                " VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
                " ON CONFLICT (conn_id, card_id, sub_key) DO UPDATE SET"
                " checkpoint = excluded.checkpoint,"
                " events_accepted = events_accepted + excluded.events_accepted,"
                " updated_at = excluded.updated_at")) != 0)
    goto done;
  bind_sub(s, conn_id, card_id, sub_key);
  bind_text(s, 4, next);
  sqlite3_bind_int64(s, 5, accepted);
  sqlite3_bind_int64(s, 6, wfc__now_ms());
  rc = step_done(st, s, "write checkpoint", NULL, &sqlrc);
  s = NULL;
  if (sqlrc == SQLITE_CONSTRAINT_FOREIGNKEY) {
    rc = fail(WFC_ENOTFOUND, "no connection with id '%s'", conn_id);
    goto done;
  }
  if (rc == 0)
    rc = row_seal(st, &cp_kind,
                  (const char *const[]){conn_id, card_id, sub_key});
  if (rc == 0)
    rc = tx_commit(st);
done:
  sqlite3_finalize(s);
  if (rc != 0)
    tx_rollback(st);
  pthread_mutex_unlock(&st->mu);
  return rc;
}

int wfc__store_checkpoint_delete(wfc__store *st, const char *conn_id,
                                 const char *card_id, const char *sub_key) {
  int rc, changes = 0;

  last_err[0] = '\0';
  if ((rc = check_cp_args(st, conn_id, card_id)) != 0)
    return rc;
  rc = exec1(st, "delete checkpoint",
             "DELETE FROM checkpoints WHERE conn_id = ?1"
             " AND card_id = ?2 AND sub_key = ?3",
             (const char *[]){conn_id, card_id, sub_key ? sub_key : ""}, 3,
             NULL, &changes, NULL);
  if (rc == 0 && changes == 0)
    rc = fail(WFC_ENOTFOUND, "no checkpoint for card %s of connection %s",
              card_id, conn_id);
  return rc;
}

/* ---- events seen ------------------------------------------------------- */

static int check_ev_args(wfc__store *st, const char *conn_id,
                         const char *card_id, const char *event_id) {
  int rc = check_cp_args(st, conn_id, card_id);
  if (rc == 0 && (event_id == NULL || event_id[0] == '\0'))
    rc = fail(WFC_EINVAL, "event: an event id is required");
  return rc;
}

int wfc__store_event_seen(wfc__store *st, const char *conn_id,
                          const char *card_id, const char *sub_key,
                          const char *event_id) {
  sqlite3_stmt *s = NULL;
  int rc;

  last_err[0] = '\0';
  if ((rc = check_ev_args(st, conn_id, card_id, event_id)) != 0)
    return rc;
  pthread_mutex_lock(&st->mu);
  if ((rc = prep(st, &s,
                 "SELECT 1 FROM events_seen WHERE conn_id = ?1"
                 " AND card_id = ?2 AND sub_key = ?3 AND event_id = ?4")) ==
      0) {
    bind_sub(s, conn_id, card_id, sub_key);
    bind_text(s, 4, event_id);
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
      rc = 1;
    else if (rc == SQLITE_DONE)
      rc = 0;
    else
      rc = db_fail(st, rc, "read events seen");
  }
  sqlite3_finalize(s);
  pthread_mutex_unlock(&st->mu);
  return rc;
}

int wfc__store_event_mark(wfc__store *st, const char *conn_id,
                          const char *card_id, const char *sub_key,
                          const char *event_id) {
  int rc, changes = 0, sqlrc = 0;
  int64_t now = wfc__now_ms();

  last_err[0] = '\0';
  if ((rc = check_ev_args(st, conn_id, card_id, event_id)) != 0)
    return rc;
  rc = exec1(
      st, "mark event seen",
      "INSERT INTO events_seen (conn_id, card_id, sub_key,"
      " event_id, seen_at) VALUES (?1, ?2, ?3, ?4, ?5)"
      " ON CONFLICT DO NOTHING",
      (const char *[]){conn_id, card_id, sub_key ? sub_key : "", event_id}, 4,
      &now, &changes, &sqlrc);
  if (sqlrc == SQLITE_CONSTRAINT_FOREIGNKEY)
    return fail(WFC_ENOTFOUND, "no connection with id '%s'", conn_id);
  if (rc == 0 && changes == 0)
    rc = WFC_EEXIST;
  return rc;
}

int wfc__store_events_purge(wfc__store *st, const char *conn_id,
                            const char *card_id, const char *sub_key,
                            int64_t before_ms, int64_t keep_max, int *purged) {
  sqlite3_stmt *s = NULL;
  int rc, a = 0, b = 0;

  last_err[0] = '\0';
  if (purged != NULL)
    *purged = 0;
  if ((rc = check_cp_args(st, conn_id, card_id)) != 0)
    return rc;
  if (sub_key == NULL)
    sub_key = "";
  pthread_mutex_lock(&st->mu);
  if ((rc = tx_begin(st)) != 0)
    goto done;
  if ((rc = prep(st, &s,
                 "DELETE FROM events_seen WHERE conn_id = ?1 AND card_id = ?2"
                 " AND sub_key = ?3 AND seen_at < ?4")) != 0)
    goto done;
  bind_sub(s, conn_id, card_id, sub_key);
  sqlite3_bind_int64(s, 4, before_ms);
  if ((rc = step_done(st, s, "purge events seen", &a, NULL)) != 0)
    goto done;
  /* Over the count bound: drop the oldest (the index gives them in order). */
  if (keep_max > 0) {
    if ((rc = prep(st, &s,
                   "DELETE FROM events_seen WHERE conn_id = ?1"
                   " AND card_id = ?2 AND sub_key = ?3 AND event_id IN"
                   " (SELECT event_id FROM events_seen WHERE conn_id = ?1"
                   "  AND card_id = ?2 AND sub_key = ?3"
                   "  ORDER BY seen_at DESC, event_id LIMIT -1 OFFSET ?4)")) !=
        0)
      goto done;
    bind_sub(s, conn_id, card_id, sub_key);
    sqlite3_bind_int64(s, 4, keep_max);
    if ((rc = step_done(st, s, "purge events seen", &b, NULL)) != 0)
      goto done;
  }
  s = NULL;
  rc = tx_commit(st);
done:
  if (rc != 0)
    tx_rollback(st);
  pthread_mutex_unlock(&st->mu);
  if (rc == 0 && purged != NULL)
    *purged = a + b;
  return rc;
}

/* ---- idempotency ------------------------------------------------------- */

int wfc__store_idem_claim(wfc__store *st, const char *key, const char *conn_id,
                          char **result) {
  sqlite3_stmt *s = NULL;
  int rc, changes = 0, sqlrc = 0;

  last_err[0] = '\0';
  if (result != NULL)
    *result = NULL;
  if (st == NULL || key == NULL || key[0] == '\0')
    return fail(WFC_EINVAL, "idempotency key is required");
  pthread_mutex_lock(&st->mu);
  if ((rc = tx_begin(st)) != 0)
    goto done;
  if ((rc = prep(st, &s,
                 "INSERT INTO idempotency (key, conn_id, created_at)"
                 " VALUES (?1, ?2, ?3) ON CONFLICT (key) DO NOTHING")) != 0)
    goto done;
  bind_text(s, 1, key);
  bind_text(s, 2, conn_id);
  sqlite3_bind_int64(s, 3, wfc__now_ms());
  rc = step_done(st, s, "claim idempotency key", &changes, &sqlrc);
  s = NULL;
  if (sqlrc == SQLITE_CONSTRAINT_FOREIGNKEY) {
    rc = fail(WFC_ENOTFOUND, "no connection with id '%s'", conn_id);
    goto done;
  }
  if (rc != 0)
    goto done;
  if (changes == 1 && (rc = row_seal(st, &idem_kind, &key)) != 0)
    goto done;
  if (changes == 0) {
    /* Claimed before: report what the first claimant recorded, if it is
     * what the store wrote. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT " IDEM_MAC_COLS ", %s FROM idempotency WHERE key = ?1",
             st->mac_col);
    if ((rc = prep(st, &s, sql)) != 0)
      goto done;
    bind_text(s, 1, key);
    rc = sqlite3_step(s);
    if (rc != SQLITE_ROW) {
      rc = db_fail(st, rc, "read idempotency key");
      goto done;
    }
    if ((rc = row_ok(st, &idem_kind, s)) != 1) {
      if (rc == 0)
        rc = tampered((const char *)sqlite3_column_text(s, 1),
                      "an idempotency key");
      goto done;
    }
    if (result != NULL && sqlite3_column_type(s, 3) != SQLITE_NULL &&
        (*result = strdup((const char *)sqlite3_column_text(s, 3))) == NULL) {
      rc = fail(WFC_ENOMEM, "out of memory");
      goto done;
    }
    rc = fail(WFC_EEXIST, "idempotency key was already claimed");
  }
  sqlite3_finalize(s);
  s = NULL;
  {
    int crc = tx_commit(st);
    if (crc != 0) {
      rc = crc;
      if (result != NULL) {
        free(*result);
        *result = NULL;
      }
    }
  }
done:
  sqlite3_finalize(s);
  if (rc != 0 && rc != WFC_EEXIST)
    tx_rollback(st);
  pthread_mutex_unlock(&st->mu);
  return rc;
}

int wfc__store_idem_finish(wfc__store *st, const char *key,
                           const char *result_json) {
  sqlite3_stmt *s = NULL;
  int rc;

  last_err[0] = '\0';
  if (st == NULL || key == NULL || result_json == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  pthread_mutex_lock(&st->mu);
  if ((rc = tx_begin(st)) != 0)
    goto done;
  rc = row_verify(st, &idem_kind, &key, NULL, "an idempotency key");
  if (rc == WFC_ENOTFOUND)
    rc = fail(WFC_ENOTFOUND, "idempotency key was not claimed");
  if (rc != 0 ||
      (rc = prep(st, &s,
                 "UPDATE idempotency SET result = ?2 WHERE key = ?1")) != 0)
    goto done;
  bind_text(s, 1, key);
  bind_text(s, 2, result_json);
  if ((rc = step_done(st, s, "finish idempotency key", NULL, NULL)) == 0 &&
      (rc = row_seal(st, &idem_kind, &key)) == 0)
    rc = tx_commit(st);
done:
  if (rc != 0)
    tx_rollback(st);
  pthread_mutex_unlock(&st->mu);
  return rc;
}

int wfc__store_idem_release(wfc__store *st, const char *key) {
  int rc, changes = 0;

  last_err[0] = '\0';
  if (st == NULL || key == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  rc = exec1(st, "release idempotency key",
             "DELETE FROM idempotency WHERE key = ?1", &key, 1, NULL, &changes,
             NULL);
  if (rc == 0 && changes == 0)
    rc = fail(WFC_ENOTFOUND, "idempotency key was not claimed");
  return rc;
}

int wfc__store_idem_purge(wfc__store *st, int64_t before_ms, int *purged) {
  int rc, changes = 0;

  last_err[0] = '\0';
  if (purged != NULL)
    *purged = 0;
  if (st == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  rc = exec1(st, "purge idempotency keys",
             "DELETE FROM idempotency WHERE created_at < ?1", NULL, 0,
             &before_ms, &changes, NULL);
  if (rc == 0 && purged != NULL)
    *purged = changes;
  return rc;
}
