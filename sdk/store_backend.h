/* store_backend.h - the table of storage operations under the store
 * (private to sdk/store*.c; docs/store.md, "Backends").
 *
 * store.c holds everything that does not depend on the database: argument
 * checks, the sealing of secrets (AES-256-GCM), the record MACs, the key
 * derivation and the key check, the order of the opening transaction.
 * A backend (store_sqlite.c, store_pg.c) only moves rows: it never sees a
 * key or a secret in clear, and hands back column values with their types
 * so that store.c computes the same MAC over the same row whichever
 * database holds it (a row copied between backends, MAC included, still
 * verifies).
 *
 * Every operation runs on one backend connection for the whole of one
 * store operation (store.c's attempts): the backend's only connection
 * under the handle's mutex (SQLite), or one lent by the backend's pool
 * (acquire/release: PostgreSQL), so that operations from several threads
 * run side by side. Return values: 0 or a negative WFC_E* code with
 * the reason set by wfc__store_fail(). Operations that change rows report
 * how many they changed in *changes when asked. */
#ifndef WFC_SDK_STORE_BACKEND_H
#define WFC_SDK_STORE_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "store.h"

/* ---- column values ------------------------------------------------------
 * The type codes are SQLite's fundamental types: the MAC input carries
 * them (docs/store.md, "Record authentication"), so they are part of the
 * stored format and fixed here for every backend. */
enum {
  WFC__SV_INT = 1,
  WFC__SV_FLOAT = 2, /* never written by wfc; p holds the host double */
  WFC__SV_TEXT = 3,
  WFC__SV_BLOB = 4,
  WFC__SV_NULL = 5,
};

typedef struct wfc__sval {
  int type;
  int64_t i; /* WFC__SV_INT */
  void *p;   /* TEXT (NUL-terminated) and BLOB: owned by the row */
  size_t n;  /* bytes of p, NUL excluded */
} wfc__sval;

#define WFC__SROW_MAX 16

/* A row read by row_get / conn_find: the kind's MAC columns in order, then
 * its MAC (NULL when absent or when the store has no MACs), then the
 * kind's extra columns (connections: last_used_at). */
typedef struct wfc__srow {
  int n;
  wfc__sval v[WFC__SROW_MAX];
} wfc__srow;

/* Frees the values and zeroes the row. NULL-safe. */
void wfc__srow_clear(wfc__srow *row);
/* Setters for backends filling a row (copies the bytes). 0 or
 * WFC_ENOMEM. */
int wfc__srow_text(wfc__srow *row, int i, const char *v, size_t n);
int wfc__srow_blob(wfc__srow *row, int i, const void *v, size_t n);
void wfc__srow_int(wfc__srow *row, int i, int64_t v);
void wfc__srow_null(wfc__srow *row, int i);

/* ---- the authenticated rows ---------------------------------------------
 * For each kind: its table, the columns its MAC covers (in MAC order, the
 * key columns first), their types as written by the store (T text, B blob,
 * I integer: what a backend with static types reads them as), the key
 * columns, and the extra columns read along. */
enum { WFC__ROW_CONN, WFC__ROW_CP, WFC__ROW_IDEM, WFC__ROW_KINDS };

typedef struct wfc__rowkind {
  const char *table;
  const char *cols;
  const char *types;
  int ncols;
  const char *const *keycols;
  int nkeys;
  const char *extra; /* "" or ", col..." */
  const char *extra_types;
  int nextra;
} wfc__rowkind;

extern const wfc__rowkind wfc__rowkinds[WFC__ROW_KINDS];

/* Column indexes of a connection row (WFC__ROW_CONN). */
enum {
  WFC__CC_ID,
  WFC__CC_NICKNAME,
  WFC__CC_PLUGIN,
  WFC__CC_CONN_TYPE,
  WFC__CC_ENVIRONMENT,
  WFC__CC_ACCOUNT,
  WFC__CC_OWNER,
  WFC__CC_STATE,
  WFC__CC_REMEDY,
  WFC__CC_PARAMS,
  WFC__CC_SECRETS,
  WFC__CC_CREATED_AT,
  WFC__CC_UPDATED_AT,
  WFC__CC_EXPIRES_AT,
  WFC__CC_MAC,
  WFC__CC_LAST_USED_AT,
};

/* A change of a connection row (conn_update). NULL text: unchanged. */
typedef struct wfc__conn_change {
  const char *state, *remedy, *account, *params;
  int set_secrets; /* write secrets (blob, NULL: none) and expires_at */
  const uint8_t *blob;
  size_t blen;
  int64_t expires_at; /* 0: NULL */
  int unless_revoked; /* leave a revoked connection unchanged */
  int64_t updated_at; /* always written */
} wfc__conn_change;

/* How conn_find selects. */
enum { WFC__FIND_ID, WFC__FIND_NICKNAME, WFC__FIND_PLUGIN };

/* The tables a store copy moves, in an order that satisfies the foreign
 * keys (refresh leases are not copied: they belong to live processes). */
#define WFC__STORE_TABLES                                                      \
  { "meta", "connections", "checkpoints", "idempotency", "events_seen" }

/* ---- the operations -------------------------------------------------------
 * be: the backend's own state (from open). */
typedef struct wfc__store_ops {
  const char *name; /* "sqlite", "postgresql" */
  /* How messages name the store and what a foreign one is ("store file",
   * "an SQLite database"). */
  const char *noun, *db_words;
  /* Whether location is this backend's (store.c asks PostgreSQL first),
   * and how messages show it (no password): buf. */
  int (*claims)(const char *location);
  void (*describe)(const char *location, char *buf, size_t len);
  /* Opens location for st and runs the opening transaction with
   * wfc__store_open_tx (a new SQLite store is built in a temporary file
   * first): 0 and *be (closed with close), or an error with nothing left
   * open. A backend that keeps the master key in a file beside the store
   * names it first with wfc__store_set_key_file. */
  int (*open)(wfc__store *st, const char *location, int timeout_ms, void **be);
  void (*close)(void *be);
  /* A backend with a pool of connections lends one for one attempt of a
   * store operation: *conn is then the be of every operation below until
   * release gives it back. Fails as an operation does (a database that
   * cannot be reached: with wfc__store_lost). NULL: one connection (be
   * itself), serialized by the handle's mutex. */
  int (*acquire)(void *be, void **conn);
  void (*release)(void *be, void *conn);

  /* A write transaction: BEGIN IMMEDIATE in SQLite (the database's write
   * lock); in PostgreSQL rows read with lock set are locked FOR UPDATE. */
  int (*begin)(void *be);
  int (*commit)(void *be);
  /* The commit of a transaction that wiped secrets: also drops what the
   * database keeps of the old bytes where it can (SQLite: the WAL). */
  int (*commit_wipe)(void *be);
  /* Rolls back if a transaction is open, keeping the first error. */
  void (*rollback)(void *be);

  /* Schema: the version, and migration step v (from v - 1) with the new
   * version recorded, inside the opening transaction. */
  int (*version_get)(void *be, int *v);
  int (*migrate)(void *be, int v);
  /* meta rows: *val (transfer, free()); WFC_ENOTFOUND. */
  int (*meta_get)(void *be, const char *name, uint8_t **val, size_t *n);
  int (*meta_put)(void *be, const char *name, const uint8_t *val, size_t n);

  /* The row of kind with key values keys (wfc__rowkinds[kind].nkeys),
   * with_mac: the store's rows have a mac column; lock: inside a write
   * transaction, the row is locked until it ends. WFC_ENOTFOUND. */
  int (*row_get)(void *be, int kind, const char *const *keys, int with_mac,
                 int lock, wfc__srow *out);
  int (*row_set_mac)(void *be, int kind, const char *const *keys,
                     const uint8_t mac[WFC__SHA256_LEN]);
  /* Every key of kind: *keys (transfer: free each, then the array) holds
   * *n rows of nkeys strings. */
  int (*row_keys)(void *be, int kind, char ***keys, size_t *n);

  /* connections */
  /* WFC_EEXIST (message naming the nickname or the id) on a duplicate. */
  int (*conn_insert)(void *be, const wfc__conn_rec *rec, const char *params,
                     const uint8_t *blob, size_t blen, int64_t now);
  /* Calls cb for each row (by id, by nickname: at most 2; by plugin, NULL
   * all: oldest first). The row is borrowed for the call; cb must not call
   * the backend. A non-zero return from cb stops and is returned. */
  int (*conn_find)(void *be, int by, const char *key, int with_mac,
                   int (*cb)(const wfc__srow *row, void *arg), void *arg);
  int (*conn_update)(void *be, const char *id, const wfc__conn_change *ch,
                     int *changes);
  /* The sealed secrets overwritten, then NULL, expires_at NULL. */
  int (*conn_wipe)(void *be, const char *id, int64_t now);
  int (*conn_touch)(void *be, const char *id, int64_t now, int *changes);
  /* With its checkpoints, keys, events and lease. */
  int (*conn_delete)(void *be, const char *id, int *changes);

  /* refresh leases (docs/store.md): take is its own transaction. */
  int (*lease_take)(void *be, const char *conn_id, const char *holder,
                    int64_t now, int64_t expires_at, wfc__lease *cur);
  /* Deletes the lease if holder holds it; in the caller's transaction when
   * one is open. */
  int (*lease_delete)(void *be, const char *conn_id, const char *holder,
                      int *changes);
  int (*lease_pass)(void *be, const char *conn_id, const char *holder,
                    const char *to, int64_t now, int64_t until_ms,
                    int *changes);
  int (*lease_get)(void *be, const char *conn_id, wfc__lease *out);

  /* subscription leases (store.h): take is its own transaction and, like
   * lease_take, fails with WFC_EBUSY (cur filled) when another holder's
   * row has not expired. */
  int (*sub_lease_take)(void *be, const char *conn_id, const char *card_id,
                        const char *sub_key, const char *holder, int64_t now,
                        int64_t expires_at, wfc__lease *cur);
  int (*sub_lease_delete)(void *be, const char *conn_id, const char *card_id,
                          const char *sub_key, const char *holder,
                          int *changes);
  int (*sub_lease_get)(void *be, const char *conn_id, const char *card_id,
                       const char *sub_key, wfc__lease *out);
  /* Fencing (schema 10): a take by a new holder numbers the row with the
   * next fence of the lease's counter (a renewal keeps it), and both
   * takes fill *cur (may be NULL) with the row taken on success. Inside
   * the caller's write transaction, lease_lock reads the lease row
   * (card_id NULL: the refresh lease) into *out and keeps it from
   * changing until the transaction ends: PostgreSQL locks it FOR UPDATE,
   * so a take-over waits for the write it guards; in SQLite the write
   * transaction already excludes every other writer. WFC_ENOTFOUND when
   * there is no row. It only reads: store.c decides whether the write
   * may happen (fence_check: a holder or fence that differs, or no row,
   * is WFC_ESTALE). */
  int (*lease_lock)(void *be, const char *conn_id, const char *card_id,
                    const char *sub_key, wfc__lease *out);

  /* checkpoints: insert fails with WFC_ESTALE when the row exists (another
   * writer), WFC_ENOTFOUND for an unknown connection. */
  int (*cp_insert)(void *be, const char *conn_id, const char *card_id,
                   const char *sub_key, const char *next, int64_t accepted,
                   int64_t now);
  int (*cp_update)(void *be, const char *conn_id, const char *card_id,
                   const char *sub_key, const char *next, int64_t accepted,
                   int64_t now);
  int (*cp_delete)(void *be, const char *conn_id, const char *card_id,
                   const char *sub_key, int *changes);

  /* events seen */
  int (*ev_seen)(void *be, const char *conn_id, const char *card_id,
                 const char *sub_key, const char *event_id);
  int (*ev_mark)(void *be, const char *conn_id, const char *card_id,
                 const char *sub_key, const char *event_id, int64_t now,
                 int *changes);
  int (*ev_purge)(void *be, const char *conn_id, const char *card_id,
                  const char *sub_key, int64_t before_ms, int64_t keep_max,
                  int *purged);

  /* idempotency keys: insert does nothing (changes 0) when key exists. */
  int (*idem_insert)(void *be, const char *key, const char *conn_id,
                     int64_t now, int *changes);
  int (*idem_set_result)(void *be, const char *key, const char *result);
  /* The claim on a key (schema 8): its holder (buf of
   * WFC__LEASE_HOLDER_SIZE; "" when none) and expires_at (0: none).
   * WFC_ENOTFOUND when the key has no row. set: holder NULL clears both. */
  int (*idem_hold_get)(void *be, const char *key, char *holder,
                       int64_t *expires_at);
  int (*idem_hold_set)(void *be, const char *key, const char *holder,
                       int64_t expires_at);
  int (*idem_delete)(void *be, const char *key, int *changes);
  int (*idem_purge)(void *be, int64_t before_ms, int *changes);

  /* Raw rows of a table (WFC__STORE_TABLES) for a copy: cb gets the column
   * names (cols, "a, b, ...") once per row with the values in order, MAC
   * included, ordered by primary key. */
  int (*table_rows)(void *be, const char *table,
                    int (*cb)(const char *cols, const wfc__srow *row,
                              void *arg),
                    void *arg);
  /* Inserts one raw row into table (cols as table_rows gave them). */
  int (*table_insert)(void *be, const char *table, const char *cols,
                      const wfc__srow *row);
} wfc__store_ops;

extern const wfc__store_ops wfc__store_sqlite_ops;
extern const wfc__store_ops wfc__store_pg_ops;

/* ---- services of store.c to the backends -------------------------------- */

/* Sets the calling thread's store error (wfc__store_last_error) and
 * returns code. */
__attribute__((format(printf, 2, 3))) int wfc__store_fail(int code,
                                                          const char *fmt, ...);
/* The last error text (a backend that runs a cleanup after an error keeps
 * it with these). */
void wfc__store_err_save(char *buf, size_t len);
void wfc__store_err_restore(const char *buf);

/* The errors every backend gives for the same cause (the messages are
 * the store's, whichever database found it): no connection conn_id (a
 * foreign key), a connection id or nickname taken, a checkpoint row
 * written by another writer, a lease held by another, no lease, a
 * lease holder longer than wfc__lease holds. The lease errors speak of
 * conn_id's refresh lease when card_id is NULL, else of the
 * subscription's lease. */
int wfc__store_no_conn(const char *conn_id);
int wfc__store_conn_taken(const wfc__conn_rec *rec, int nickname);
int wfc__store_cp_moved(const char *conn_id, const char *card_id);
int wfc__store_lease_busy(const char *conn_id, const char *card_id,
                          const wfc__lease *cur);
int wfc__store_lease_none(const char *conn_id, const char *card_id);
int wfc__store_lease_long(const char *conn_id, const char *card_id);
/* SQL pieces over the key columns of k: "a = ?1 AND b = ?2" (mark is the
 * placeholder's prefix: '?' SQLite, '$' PostgreSQL) and "a, b". */
void wfc__rowkind_where(const wfc__rowkind *k, char mark, char *buf,
                        size_t len);
void wfc__rowkind_keycols(const wfc__rowkind *k, char *buf, size_t len);
/* The key file of the store (transfer; NULL: none, the key must come
 * from the host or WFC_MASTER_KEY). */
void wfc__store_set_key_file(wfc__store *st, char *key_file);
/* The location as shown in messages (no password). */
const char *wfc__store_where(const wfc__store *st);
/* The opening transaction (migrations, key check, keyed migrations) on be
 * (a temporary one during an SQLite creation). creating: the store is new
 * (schema version 0 expected): only then may a key check (and a key file)
 * be written. */
int wfc__store_open_tx(wfc__store *st, void *be, int creating);

/* The backend of an open store and a connection of it for the caller
 * alone (store_copy.c), given back with wfc__store_backend_done: no
 * other call on st may run in between (SQLite: the handle's mutex is
 * held). NULL (and *be NULL) when none can be had (the reason in
 * wfc__store_last_error). */
const wfc__store_ops *wfc__store_backend(wfc__store *st, void **be);
void wfc__store_backend_done(wfc__store *st, void *be);
/* Says that the failure just reported (wfc__store_fail) is a lost
 * connection to the database and that the operation certainly changed
 * nothing: store.c then runs the operation again from its start, within
 * the store's wait (wfc__store_wait_ms). A backend calls it only when it
 * knows: a failure before COMMIT was sent, a connection that could not be
 * made, a read, or a COMMIT the database reports as not committed. */
void wfc__store_lost(void);
/* How long (ms) an operation keeps trying while the database cannot be
 * reached (wfc__store_opts.wait_ms, WFC_STORE_WAIT_MS, 10 s). */
int wfc__store_wait_ms(const wfc__store *st);
/* The schema version the store had before this handle's open migrated it
 * (0: it made the store). */
int wfc__store_opened_at(const wfc__store *st);
/* The master key a location opens with when the host gives none:
 * WFC_MASTER_KEY, else (a file store) its key file; src names which. */
int wfc__store_resolve_key(const char *location, uint8_t key[WFC__KEY_LEN],
                           char *src, size_t srclen);

/* Our own regular file, not a symlink, no access for group or others. fd
 * < 0: by path, and a missing file is fine unless must_exist. */
int wfc__store_check_private(const char *path, int fd, const char *what,
                             int must_exist);
/* "<path><infix><pid>.<8 random hex>": a temporary name beside path. */
void wfc__store_tmp_name(const char *path, const char *infix, char *out,
                         size_t outsz);
void wfc__store_fsync_parent_dir(const char *path);

#endif
