/* store.h - the connection store: secrets sealed with AES-256-GCM, in an
 * SQLite file or a PostgreSQL database (the location decides:
 * wfc__store_backend_name; the backends are behind store_backend.h).
 *
 * One store holds the connections (metadata in clear, secrets sealed), the
 * event cards' checkpoints and the idempotency keys of sends. The format,
 * the sealing, the key handling and the backends are described in
 * docs/store.md.
 *
 * Threads: a wfc__store handle may be used from any thread (the loop and
 * uv_queue_work workers). On SQLite calls on one handle are serialized by
 * its mutex; on PostgreSQL each call borrows a connection of the handle's
 * pool (at most pool_max, docs/store.md "Connection pool"), so calls from
 * several threads run at once.
 * Several handles, in one or several processes, may share one file (WAL;
 * writers wait up to the busy timeout).
 *
 * Errors: 0 or a negative WFC_E* code. The reason, in words, is available
 * from wfc__store_last_error() on the calling thread until its next store
 * call. Messages never contain secrets.
 *
 * Record authentication: every connection, checkpoint and idempotency row
 * carries a MAC under a key derived from the master key. A row whose MAC
 * does not verify (changed outside the SDK, or corrupted) is refused with
 * WFC_EKEY and a message "connection <id>: the store record was changed
 * outside wfc or is corrupted" by every call that would use or update it;
 * nothing of it is trusted. Only get/list hand it out, marked tampered, so
 * a host can show which connection is bad; delete removes it.
 *
 * Times (*_at) are milliseconds since the Unix epoch, UTC, from
 * wfc__now_ms() (injectable in tests); 0 means "never" or "unknown".
 */
#ifndef WFC_SDK_STORE_H
#define WFC_SDK_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "wfc/error.h"

/* The newest schema this code writes (PRAGMA user_version). */
#define WFC__STORE_SCHEMA_VERSION 10
/* The schema from which idempotency claims have a holder and an expiry. */
#define WFC__STORE_CLAIM_VERSION 8
/* The schema from which every connection, checkpoint and idempotency row
 * carries a MAC (docs/store.md, "Record authentication"). */
#define WFC__STORE_MAC_VERSION 5

typedef struct wfc__store wfc__store;

typedef struct wfc__store_opts {
  /* 32 bytes, borrowed during open (copied). NULL: the environment
   * variable WFC_MASTER_KEY, then the key file "<path>.key". */
  const uint8_t *master_key;
  /* 0: migrate to WFC__STORE_SCHEMA_VERSION. A lower value stops the
   * migrations there (to test upgrades from an older release). */
  int schema_version;
  /* How long a writer waits for another; 0: 5000 ms. */
  int busy_timeout_ms;
  /* A database store (PostgreSQL): how long an operation keeps trying
   * while the database cannot be reached (down, restarting) before it
   * fails with an error naming it; 0: WFC_STORE_WAIT_MS, else 10000 ms.
   * Unused by SQLite. (docs/store.md, "When the database goes away".) */
  int wait_ms;
} wfc__store_opts;

/* Opens (creating if needed) the store at path. A new store is built in a
 * temporary file (mode 0600) and linked into place complete, so the path
 * never holds a half-made store. The file is refused (WFC_ESTORE) if it,
 * its -wal or -shm file, or the key file is a symlink, not ours, or
 * readable by group or others; and if it is not a wfc store (empty, not an
 * SQLite database, or an SQLite database wfc did not make): an existing
 * file is never taken for a new store.
 *
 * Master key: opts->master_key, else WFC_MASTER_KEY (64 hex characters or
 * base64 of 32 bytes), else "<path>.key" (same formats, created with mode
 * 0600 from RAND_priv_bytes when the store is new). A key that does not
 * open the store's key-check record fails with WFC_EKEY; a malformed one
 * with WFC_EINVAL. err (may be NULL) receives the reason. *out is
 * transferred to the caller: wfc__store_close() it. */
int wfc__store_open(const char *path, wfc__store **out, char *err,
                    size_t errlen);
int wfc__store_open_ex(const char *path, const wfc__store_opts *opts,
                       wfc__store **out, char *err, size_t errlen);
/* How messages show a store location: a file path as it is, a database
 * as "HOST:PORT/DB" (never a password). */
void wfc__store_describe(const char *location, char *buf, size_t len);
/* "sqlite" or "postgresql": the backend location selects (docs/store.md,
 * "Choosing a backend"). */
const char *wfc__store_backend_name(const char *location);
/* Closes the database and cleanses the keys. NULL-safe. */
void wfc__store_close(wfc__store *st);
/* PRAGMA user_version of the open store. */
int wfc__store_schema_version(wfc__store *st);
/* Why the calling thread's last failing store call failed ("" if none).
 * Thread-local storage; valid until the thread's next store call. */
const char *wfc__store_last_error(void);

/* ---- connections --------------------------------------------------------
 * Field sizes, NUL included. Text fields hold UTF-8 without control
 * characters; longer values are refused (WFC_EINVAL naming the field). */
#define WFC__CONN_ID_SIZE       32
#define WFC__CONN_NICKNAME_SIZE 129
#define WFC__CONN_NAME_SIZE     65 /* plugin, conn_type */
#define WFC__CONN_ENV_SIZE      33
#define WFC__CONN_ACCOUNT_SIZE  257 /* account, owner */
#define WFC__CONN_STATE_SIZE    33
#define WFC__CONN_REMEDY_SIZE   1025

/* A connection as stored, without its secrets. */
typedef struct wfc__conn_rec {
  char id[WFC__CONN_ID_SIZE];             /* "conn_" + 16 hex; never changes */
  char nickname[WFC__CONN_NICKNAME_SIZE]; /* unique per owner */
  char plugin[WFC__CONN_NAME_SIZE];       /* e.g. "o365mail" */
  char conn_type[WFC__CONN_NAME_SIZE];
  char environment[WFC__CONN_ENV_SIZE]; /* e.g. "production", "preview" */
  char account[WFC__CONN_ACCOUNT_SIZE]; /* who authorized, e.g. a UPN */
  char owner[WFC__CONN_ACCOUNT_SIZE];   /* host user owning it; "" = local */
  char state[WFC__CONN_STATE_SIZE];     /* see wfc__conn_state_valid */
  char remedy[WFC__CONN_REMEDY_SIZE];   /* one line: what the user should do */
  /* JSON object text, not secret (tenant, endpoints...). In insert: borrowed,
   * NULL means "{}". Filled by get/list: owned by the record, released by
   * wfc__conn_rec_clear(). */
  char *params;
  int64_t created_at, updated_at;
  int64_t last_used_at; /* set by wfc__store_conn_rotate (a refresh) */
  int64_t expires_at;   /* access-token expiry (not secret); 0 = none */
  int has_secrets;      /* a sealed secrets blob is present */
  /* Filled by get/list: the row's MAC does not verify. Every field above is
   * as found in the file (possibly truncated) and must not be used for
   * anything but showing which record is bad. */
  int tampered;
} wfc__conn_rec;

/* Frees rec->params and zeroes the record. NULL-safe. */
void wfc__conn_rec_clear(wfc__conn_rec *rec);
/* 1 for connected, needs_admin_approval, approval_pending,
 * reauthorization_required, revoked, error, authorizing; else 0. */
int wfc__conn_state_valid(const char *state);

/* Inserts rec. An empty rec->id gets a fresh random "conn_<16 hex>"; an
 * empty state becomes "authorizing"; created_at/updated_at are set to now.
 * The id and times are written back into rec. secrets_json (borrowed, may
 * be NULL: none yet) is sealed, never stored in clear. WFC_EEXIST when the
 * owner already has that nickname or the id exists. */
int wfc__store_conn_insert(wfc__store *st, wfc__conn_rec *rec,
                           const char *secrets_json);
/* Looks a connection up by id, else by nickname (a nickname used by several
 * owners is WFC_EINVAL: use the id). rec is overwritten (clear it after).
 * WFC_ENOTFOUND when nothing matches. WFC_EKEY when the record found does
 * not verify: rec is filled anyway, with tampered set (to show it). */
int wfc__store_conn_get(wfc__store *st, const char *id_or_nickname,
                        wfc__conn_rec *rec);
/* Calls cb for every connection (of plugin, when not NULL), oldest first,
 * those that do not verify included (tampered set; plugin matches the
 * stored text). rec is borrowed for the call; the store is not locked
 * during callbacks, so cb may call the store. A non-zero return from cb
 * stops the walk and is returned. */
typedef int (*wfc__conn_list_cb)(const wfc__conn_rec *rec, void *arg);
int wfc__store_conn_list(wfc__store *st, const char *plugin,
                         wfc__conn_list_cb cb, void *arg);

/* The updates below verify the row first (WFC_EKEY when it does not: a
 * write never makes a changed record valid again) and write its new MAC in
 * the same transaction. */

/* State and its one-line remedy (NULL: ""). */
int wfc__store_conn_update_state(wfc__store *st, const char *id,
                                 const char *state, const char *remedy);
int wfc__store_conn_update_account(wfc__store *st, const char *id,
                                   const char *account);
/* params_json: a JSON object (WFC_EINVAL otherwise). */
int wfc__store_conn_update_params(wfc__store *st, const char *id,
                                  const char *params_json);
/* Replaces the secrets (rotation) and the access-token expiry in one
 * transaction, sealed with a fresh IV. secrets_json is borrowed. */
int wfc__store_conn_update_secrets(wfc__store *st, const char *id,
                                   const char *secrets_json,
                                   int64_t expires_at);
/* The end of a refresh: replaces the secrets as wfc__store_conn_update_
 * secrets does AND releases holder's refresh lease of the connection, in
 * one transaction, so no other process can see the lease free with the
 * old secrets. The same transaction sets last_used_at (a refresh happens
 * because the connection is used; nothing else on the card path writes). A
 * revoked connection is not written (WFC_EREAUTH; the lease is still released).
 * *released (may be NULL) is 1 when holder held the lease, 0 when it had been
 * taken over (it expired) or never taken.
 * fence > 0 (the wfc__lease.fence of holder's take) fences the write: a
 * holder whose lease another took since (it stalled past the expiry)
 * writes nothing and gets WFC_ESTALE: the taker's tokens are newer, and
 * the holder must drop its own and read the store again (docs/store.md,
 * "Fencing"). fence 0 writes whoever holds the lease. */
int wfc__store_conn_rotate(wfc__store *st, const char *id,
                           const char *secrets_json, int64_t expires_at,
                           const char *holder, int64_t fence, int *released);
/* Opens the connection's secrets: *json (transfer) must be released with
 * wfc__secret_free(). WFC_ENOTFOUND if there is no such connection or it
 * holds no secrets; WFC_EKEY if the record does not verify or the sealed
 * blob does not open (tampered, copied from another record): that record
 * only, the others still open. */
int wfc__store_conn_secrets(wfc__store *st, const char *id, char **json);
/* Overwrites the sealed blob with zeros, then sets it NULL and clears
 * expires_at (revoke). With secure_delete on and a WAL checkpoint after,
 * the old bytes do not linger in the file. */
int wfc__store_conn_wipe_secrets(wfc__store *st, const char *id);
/* Deletes the connection, its checkpoints and idempotency keys; also one
 * that does not verify (the way to get rid of it). */
int wfc__store_conn_delete(wfc__store *st, const char *id);

/* ---- refresh leases ----------------------------------------------------
 * At most one refresh of a connection at a time across every handle and
 * process sharing the store (docs/store.md, "Refresh leases"). A lease is
 * a row (connection id, holder, taken_at, expires_at), taken and released
 * in short transactions; a holder that dies stops renewing it and it is
 * taken over once expires_at has passed. Times are wfc__now_ms(): the
 * processes sharing a store must agree on the time to well within a
 * lease's length. */
#define WFC__LEASE_HOLDER_SIZE 256

typedef struct wfc__lease {
  char holder[WFC__LEASE_HOLDER_SIZE]; /* who holds it (opaque text) */
  int64_t taken_at;                    /* when this holder took it */
  int64_t expires_at;                  /* free for others from then on */
  /* The fencing number of this holder's take (schema 10; 0 before): a
   * new one, higher than every earlier one of this lease, whenever
   * another holder takes it; kept by renewals. The writes done under the
   * lease name it (docs/store.md, "Fencing"). */
  int64_t fence;
} wfc__lease;

/* Takes conn_id's lease for holder (printable text, 1..255 bytes) until
 * now + ttl_ms (ttl_ms > 0), in one BEGIN IMMEDIATE transaction. 0 when it
 * was free, expired, or holder's already (then renewed: taken_at kept);
 * WFC_EBUSY when another holder has it and it has not expired, its row
 * copied into *cur (may be NULL; a store too busy to answer within the
 * busy timeout is WFC_EBUSY too, with cur->holder ""); WFC_ENOTFOUND for
 * an unknown connection. */
int wfc__store_lease_take(wfc__store *st, const char *conn_id,
                          const char *holder, int64_t ttl_ms, wfc__lease *cur);
/* Releases conn_id's lease if holder holds it: 0, or WFC_ENOTFOUND when it
 * does not (never taken, released, or taken over after it expired). Also
 * what a taker does to a holder it knows to be dead. */
int wfc__store_lease_release(wfc__store *st, const char *conn_id,
                             const char *holder);
/* Hands holder's lease of conn_id to the holder text to until until_ms
 * (taken_at = now), in one statement: what a refresh that the identity
 * provider throttled does, so that no process refreshes before its
 * Retry-After has passed (connmgr.c; to is then WFC__LEASE_RETRY_AFTER).
 * 0, or WFC_ENOTFOUND when holder does not hold it (taken over). */
int wfc__store_lease_pass(wfc__store *st, const char *conn_id,
                          const char *holder, const char *to, int64_t until_ms);
/* The lease row of conn_id, expired or not: 0, or WFC_ENOTFOUND when no
 * lease is held. */
int wfc__store_lease_get(wfc__store *st, const char *conn_id, wfc__lease *out);

/* ---- subscription leases ------------------------------------------------
 * At most one watcher of an event subscription (connection id, card id,
 * subscription key as for checkpoints) at a time across every process
 * sharing the store (docs/fleet.md, "Triggers shared by a fleet"): the
 * refresh lease's semantics (take = insert, renew or take over an expired
 * row in one transaction; release by the holder only), its own table.
 * The holder renews it at each poll (the heartbeat); a holder that dies
 * stops renewing it and it is free once expires_at has passed. */

/* Takes or renews the subscription's lease for holder until now + ttl_ms.
 * 0; WFC_EBUSY with the holder's row in *cur (may be NULL) when another
 * holder has it and it has not expired; WFC_ENOTFOUND for an unknown
 * connection. */
int wfc__store_sub_lease_take(wfc__store *st, const char *conn_id,
                              const char *card_id, const char *sub_key,
                              const char *holder, int64_t ttl_ms,
                              wfc__lease *cur);
/* Releases it if holder holds it: 0, else WFC_ENOTFOUND. */
int wfc__store_sub_lease_release(wfc__store *st, const char *conn_id,
                                 const char *card_id, const char *sub_key,
                                 const char *holder);
/* The lease row, expired or not: 0, or WFC_ENOTFOUND when none is held. */
int wfc__store_sub_lease_get(wfc__store *st, const char *conn_id,
                             const char *card_id, const char *sub_key,
                             wfc__lease *out);

/* ---- checkpoints of event cards -----------------------------------------
 * Keyed by (connection id, card id, subscription key; sub_key NULL = ""). */

/* *checkpoint (transfer, free()) and *events_accepted (either may be NULL).
 * WFC_ENOTFOUND when none was stored yet; WFC_EKEY when the row does not
 * verify (a checkpoint can be a URL the card calls with the token). */
int wfc__store_checkpoint_get(wfc__store *st, const char *conn_id,
                              const char *card_id, const char *sub_key,
                              char **checkpoint, int64_t *events_accepted);
/* Compare-and-set in one transaction: stores next and adds accepted to the
 * events_accepted count only if the current checkpoint is expected (NULL:
 * none stored yet). WFC_ESTALE if another writer moved it first (nothing
 * written); WFC_ENOTFOUND if the connection does not exist; WFC_EKEY if
 * the stored row does not verify. */
int wfc__store_checkpoint_cas(wfc__store *st, const char *conn_id,
                              const char *card_id, const char *sub_key,
                              const char *expected, const char *next,
                              int64_t accepted);
/* The error of a write refused by its fence (WFC_ESTALE, the reason set):
 * conn_id's refresh lease when card_id is NULL, else the subscription's
 * lease. */
int wfc__store_lease_lost(const char *conn_id, const char *card_id,
                          int64_t fence);
/* A write done under a lease names the lease's holder and the fence its
 * take returned (wfc__lease.fence; docs/store.md, "Fencing"). */
typedef struct wfc__fence {
  const char *holder;
  int64_t fence;
} wfc__fence;
/* wfc__store_checkpoint_cas done only while the subscription's lease is
 * f's (f NULL: unfenced): else WFC_ESTALE and nothing written. */
int wfc__store_checkpoint_cas_fenced(wfc__store *st, const char *conn_id,
                                     const char *card_id, const char *sub_key,
                                     const char *expected, const char *next,
                                     int64_t accepted, const wfc__fence *f);
int wfc__store_checkpoint_delete(wfc__store *st, const char *conn_id,
                                 const char *card_id, const char *sub_key);

/* ---- events seen (an event card subscription's dedupe window) ------------
 * Keyed like checkpoints, plus the event's id (for new_email: the message's
 * immutable id). The host marks an event once its consumer accepted it. */

/* 1 when event_id was marked for this subscription, 0 when not, or a
 * negative code. */
int wfc__store_event_seen(wfc__store *st, const char *conn_id,
                          const char *card_id, const char *sub_key,
                          const char *event_id);
/* Marks event_id (seen_at = now), durably when it returns. 0, WFC_EEXIST
 * when it was marked before, WFC_ENOTFOUND for an unknown connection. */
int wfc__store_event_mark(wfc__store *st, const char *conn_id,
                          const char *card_id, const char *sub_key,
                          const char *event_id);
/* wfc__store_event_mark done only while the subscription's lease is f's
 * (f NULL: unfenced): else WFC_ESTALE and nothing marked. */
int wfc__store_event_mark_fenced(wfc__store *st, const char *conn_id,
                                 const char *card_id, const char *sub_key,
                                 const char *event_id, const wfc__fence *f);
/* Bounds the window: forgets marks older than before_ms, then all but the
 * keep_max newest (keep_max <= 0: no count bound). *purged (may be NULL)
 * counts. One transaction. */
int wfc__store_events_purge(wfc__store *st, const char *conn_id,
                            const char *card_id, const char *sub_key,
                            int64_t before_ms, int64_t keep_max, int *purged);

/* ---- idempotency keys ("no duplicate send") -----------------------------
 * Claim a key before a side effect, record its outcome after; the state
 * machine and its failure cases are in docs/fleet.md, "Idempotency
 * claims". key, conn_id and the outcome are in the row's MAC; the holder
 * and the expiry are not (they say who works on it, not what happened: a
 * forged one can only make a claimant wait or fall back to the service's
 * own record of the send). */

enum {
  WFC__CLAIM_MINE = 1, /* the caller holds the claim until until_ms */
  WFC__CLAIM_SENT = 2, /* an outcome is recorded: result */
  WFC__CLAIM_HELD = 3, /* another live holder's, until until_ms */
};

typedef struct wfc__idem_claim {
  int state;
  /* MINE: the claim was another holder's, expired, gone (a process of
   * this node that no longer runs) or ended without an outcome: that
   * holder may have sent, so check the service before sending. */
  int taken_over;
  int64_t until_ms;
  char holder[WFC__LEASE_HOLDER_SIZE]; /* HELD, taken_over: the other */
  char *result;                        /* SENT: transfer, free() */
} wfc__idem_claim;

/* Claims key for holder (opaque, 1..WFC__LEASE_HOLDER_SIZE-1 bytes) for
 * ttl_ms, for conn_id (may be NULL), in one transaction: 0 and *out, or
 * WFC_EKEY when the key's row does not verify (nothing is trusted from
 * it), WFC_ENOTFOUND for an unknown connection. A holder claiming again
 * renews its claim. */
int wfc__store_idem_claim(wfc__store *st, const char *key, const char *conn_id,
                          const char *holder, int64_t ttl_ms,
                          wfc__idem_claim *out);
/* Records the outcome (JSON) of a sent key and ends its claim, whoever
 * holds it (the send happened). WFC_ENOTFOUND if not claimed, WFC_EEXIST
 * when an outcome is recorded already (the first stays). */
int wfc__store_idem_finish(wfc__store *st, const char *key,
                           const char *result_json);
/* Ends holder's claim on a key with no outcome: release 1 deletes the key
 * (the side effect certainly did not happen), 0 keeps it without a holder
 * (the outcome is unknown: the next claimant takes it over and checks the
 * service). WFC_EBUSY when another holder has it, WFC_EEXIST when an
 * outcome is recorded, WFC_ENOTFOUND when not claimed. */
int wfc__store_idem_end(wfc__store *st, const char *key, const char *holder,
                        int release);
/* Deletes keys created before before_ms; *purged (may be NULL) counts. */
int wfc__store_idem_purge(wfc__store *st, int64_t before_ms, int *purged);

#endif
