/* wfc/connections.h - the connection manager a host embeds.
 *
 * The manager keeps a host's connections in the sealed store (SQLite,
 * secrets under AES-256-GCM; docs/store.md) and runs the connection types'
 * hooks through the runtime (wfc/host.h):
 *
 *   authorize     begin hook -> the URL for the browser -> the loopback
 *                 redirect (http://127.0.0.1:<port>/callback) -> complete
 *                 hook -> the connection is stored with its outcome; for
 *                 a form or none type (no browser) the complete hook at
 *                 once, with the params and the secrets apart;
 *   token service the wfc_conn_ops of every wfc_conn it opens: a valid
 *                 access token, refreshed 5 minutes ahead of expiry or after
 *                 a 401, one refresh per connection however many calls wait,
 *                 rotated credentials persisted before any waiter gets them;
 *   refresh, revoke, delete, test, list, show.
 *
 * Everything runs on the runtime's loop thread. Store I/O is synchronous on
 * that thread (a few SQLite statements, fsync'ed for rotations); see
 * docs/connections-sdk.md for why, the state machine and the guarantees.
 *
 * Connection JSON (list, show, results), never with secrets:
 *   {"id","nickname","plugin","type","environment","account","owner",
 *    "state","remedy","params":{...},"has_secrets":bool,
 *    "created_at","updated_at","last_used_at","expires_at"}
 * Times are RFC 3339 strings (UTC) or null. last_used_at is saved with the
 * tokens of the refresh a use causes (a card run with a valid token writes
 * nothing), so it is at most an access token's lifetime old, and null until
 * the first refresh.
 *
 * Functions taking a callback follow libuv's rule: a non-zero return means
 * the callback is never called; otherwise it runs exactly once, later, on
 * the loop.
 */
#ifndef WFC_CONNECTIONS_H
#define WFC_CONNECTIONS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "host.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_object;

typedef struct wfc_connmgr wfc_connmgr;

/* State names stored and shown (wfc_connmgr results, list, show). */
#define WFC_CONN_CONNECTED                "connected"
#define WFC_CONN_NEEDS_ADMIN_APPROVAL     "needs_admin_approval"
#define WFC_CONN_APPROVAL_PENDING         "approval_pending"
#define WFC_CONN_REAUTHORIZATION_REQUIRED "reauthorization_required"
#define WFC_CONN_REVOKED                  "revoked"
#define WFC_CONN_ERROR                    "error"
/* An authorize outcome, never a stored state: a reauthorization that came
 * back signed in as another account than the connection's (the plugin's
 * "account_key", docs/abi.md) and was refused; nothing was changed. */
#define WFC_CONN_WRONG_ACCOUNT "wrong_account"
/* Shown (list, show, results), never stored: the connection's store record
 * does not verify. Its metadata or sealed secrets were changed outside the
 * SDK (without the master key), or are corrupted; nothing in it is
 * trusted. Every operation that would use it (open_conn, refresh, test,
 * revoke, reauthorize, event watches) fails with WFC_EKEY before anything
 * is sent; delete removes it without calling the revoke hook. Its remedy
 * and those failures' messages carry WFC_CONN_TAMPERED_WORDS. */
#define WFC_CONN_TAMPERED "tampered"
#define WFC_CONN_TAMPERED_WORDS                                                \
  "the store record was changed outside wfc or is corrupted"

typedef struct wfc_connmgr_opts {
  size_t size; /* sizeof(wfc_connmgr_opts) */
  /* Store file (copied). NULL: $WFC_STORE, else
   * $XDG_DATA_HOME/wfc/store.db, else ~/.local/share/wfc/store.db (the
   * directory is created with mode 0700). */
  const char *store_path;
  /* 32 bytes (copied), or NULL: $WFC_MASTER_KEY, else "<store>.key". */
  const uint8_t *master_key;
  /* Host user owning new connections; NULL: "" (the local user). */
  const char *owner;
  /* How long authorize waits for the browser; 0: 5 minutes. */
  uint64_t redirect_timeout_ms;
} wfc_connmgr_opts;

/* Opens the manager on rt (borrowed; must outlive the manager's use) and
 * its store. opts may be NULL. On failure err (may be NULL) gets one line
 * naming the store and the cause. *out is owned by the caller. */
WFC_EXTERN int wfc_connmgr_open(wfc_runtime *rt, const wfc_connmgr_opts *opts,
                                wfc_connmgr **out, char *err, size_t errlen);

/* Closes the manager: operations in flight fail with WFC_ECANCELED (their
 * callbacks run), hook calls are canceled, the redirect listeners close,
 * secrets in memory are cleansed, the store is closed; then done(arg) runs
 * on the loop (done may be NULL). The wfc_conn objects it opened must not
 * be used any more: close the manager after the card calls using them have
 * completed. A manager left open is closed this way (and freed) by
 * wfc_runtime_shutdown, after the event watches and before the calls in
 * flight are canceled. Opening one on a runtime that is shutting down
 * fails with WFC_ESTATE. */
WFC_EXTERN void wfc_connmgr_close(wfc_connmgr *m, void (*done)(void *arg),
                                  void *arg);

/* The store path a manager opened with store_path (NULL: $WFC_STORE, then
 * the default) would use, written into buf; creates the default directory
 * (mode 0700). Lets a host put other files beside the store (e.g. the blob
 * store) before it opens anything. 0, WFC_ETOOBIG, WFC_ENOTFOUND (no HOME)
 * or WFC_EIO. */
WFC_EXTERN int wfc_connmgr_default_store(const char *store_path, char *buf,
                                         size_t len);
/* The default blob store directory, the one rule of the SDK: the runtime
 * without wfc_runtime_opts.blob_dir (store_path NULL), `wfc card run` and
 * `wfc blob` without --blob-dir (store_path: their --store) all use it.
 * $WFC_BLOB_DIR when set; else blobs/ beside the store (store_path, else
 * $WFC_STORE, else the default store.db) when it is a file; for a
 * database store (which has no directory), blobs/ in the default data
 * directory ($XDG_DATA_HOME/wfc, else ~/.local/share/wfc). So, with
 * nothing set: ~/.local/share/wfc/blobs, beside ~/.local/share/wfc/store.db.
 * 0, WFC_ETOOBIG, WFC_ENOTFOUND (no HOME), WFC_EIO. */
WFC_EXTERN int wfc_connmgr_default_blob_dir(const char *store_path, char *buf,
                                            size_t len);

/* ---- store maintenance (docs/store.md, "Operations") --------------------
 * location: an SQLite file path, or a PostgreSQL URL / keyword string
 * (docs/store.md, "Choosing a backend"). The master key: WFC_MASTER_KEY,
 * else a file store's key file. err (may be NULL) receives the reason,
 * which names a database as HOST:PORT/DB, never with its password. */

/* Opens the store, running the migrations it needs (in one transaction),
 * and reports the schema version before (0: the store was made now) and
 * after. */
WFC_EXTERN int wfc_store_migrate(const char *location, int *from_version,
                                 int *to_version, char *err, size_t errlen);

#define WFC_STORE_COPY_TABLES 4

/* What a copy moved, table by table, read back from both stores after the
 * copy: row counts and a checksum of each table (SHA-256 over its rows,
 * order-independent), equal on both sides when the copy is exact. */
typedef struct wfc_store_copy_report {
  struct {
    const char *table; /* static */
    long long rows_from, rows_to;
    char sum_from[65], sum_to[65]; /* hex */
  } tables[WFC_STORE_COPY_TABLES];
  int connections_verified; /* records of `to` whose MAC and seal open */
} wfc_store_copy_report;

/* Copies every connection (sealed secrets as they are: the same master key
 * opens both), checkpoint, idempotency key and event seen from `from` into
 * `to`, which must hold no connection (it is made if it does not exist),
 * in one transaction on `to`. Refresh leases are not copied (they belong
 * to running processes). Then verifies: counts and checksums equal, every
 * record of `to` authenticated (WFC_ESTORE otherwise, naming the table).
 * A new file store `to` gets a key file holding the key when `from`'s came
 * from its key file. */
WFC_EXTERN int wfc_store_copy(const char *from, const char *to,
                              wfc_store_copy_report *rep, char *err,
                              size_t errlen);

/* The store path in use (owned by the manager). */
WFC_EXTERN const char *wfc_connmgr_store_path(const wfc_connmgr *m);

/* The outcome of an operation, borrowed during the callback. */
typedef struct wfc_connmgr_result {
  int status;          /* 0 or a negative WFC_E* code */
  const char *message; /* why, when status != 0 (never NULL then) */
  /* authorize: "connected", "needs_admin_approval", "approval_pending",
   * "denied", "wrong_account" or "error"; others: the connection's state after.
   * NULL when the operation failed before any outcome. */
  const char *outcome;
  const char *remedy;             /* one line, or NULL */
  struct json_object *connection; /* the connection after, or NULL */
  /* Hook facts without secrets: revoke {"remote","detail"}, test
   * {"healthy","detail"}, authorize the hook's "detail"; or NULL. */
  struct json_object *detail;
} wfc_connmgr_result;

typedef void (*wfc_connmgr_cb)(void *arg, const wfc_connmgr_result *res);

/* ---- authorize ------------------------------------------------------------
 */

typedef struct wfc_authorize_req {
  size_t size; /* sizeof(wfc_authorize_req) */
  /* New connection: the connection type ("plugin.type", or "type" when
   * unique), or NULL with plugin set: the plugin's first connection type. */
  const char *conn_type;
  const char *plugin;
  const char *nickname; /* required for a new connection; unique per owner */
  /* Or: the id or nickname of an existing connection to authorize again
   * (same id and nickname afterwards; conn_type/plugin/nickname ignored). */
  const char *reauthorize;
  const char *environment;    /* stored on the connection; also given to the
                                 type as param "environment" when it has one */
  struct json_object *params; /* borrowed; merged over the stored params on
                                 reauthorize; NULL: {}. Secret params
                                 (WFC_FIELD_SECRET) go here too: the
                                 manager seals them, never stores or shows
                                 them in clear */
  const char *login_hint;     /* optional, passed to authorize_begin */
  const char *prompt;         /* optional, passed to authorize_begin */
  uint64_t timeout_ms;        /* 0: the manager's redirect timeout */
  /* Called once with the URL the user must open (borrowed during the
   * call), before the manager waits for the redirect. Required for a
   * browser type; never called for a form or none type (the type's
   * .flow, wfc/plugin.h), whose authorize_complete runs at once. */
  void (*on_url)(void *arg, const char *url);
  wfc_connmgr_cb on_done; /* required */
  void *arg;
  /* Reauthorize only: accept a sign-in as another account than the
   * connection's and switch the connection to it. 0 (the default): such a
   * sign-in is refused with the outcome "wrong_account" and the connection
   * keeps its account and secrets. (Appended: a caller built with an
   * older header passes a smaller size and gets 0.) */
  int allow_account_change;
  /* With reauthorize: an administrator's tenant-wide consent to the
   * connection's app instead of a sign-in (the remedy of
   * needs_admin_approval). The URL handed to on_url is the plugin's admin
   * consent URL, redirecting to the manager's loopback listener, which
   * checks its state like a sign-in's; the browser then shows what
   * happened. Outcome "granted", "declined" or "error" with the plugin's
   * remedy; nothing is stored (authorize the connection again once
   * granted). WFC_ENOTSUP in on_done when the type has none. */
  int admin_consent;
} wfc_authorize_req;

/* Starts an authorization. Fails at once with WFC_EEXIST (the nickname is
 * taken), WFC_ENOTFOUND (type or connection), WFC_EINVAL, WFC_ESTATE
 * (closing). Outcome in on_done:
 *   connected            stored with its credentials sealed;
 *   needs_admin_approval, approval_pending
 *                        new: stored with that state, its remedy and no
 *                        secrets (authorize it again once an admin acted);
 *                        reauthorize: state and remedy set, row kept;
 *   error                new: nothing stored; reauthorize: state and remedy
 *                        set;
 *   denied               nothing stored or changed;
 *   wrong_account        reauthorize only: the sign-in was another account
 *                        than the connection's (the plugins' account_key,
 *                        or the account name when a side has no key) and
 *                        allow_account_change was 0: nothing changed; the
 *                        remedy names both accounts, detail is
 *                        {"account": signed in, "expected": the stored one}.
 * A reauthorization sends the stored account as login_hint unless the
 * caller gives one.
 * status is 0 whenever the plugin reported an outcome (check outcome);
 * WFC_ETIMEDOUT when the browser never came back. */
WFC_EXTERN int wfc_connmgr_authorize(wfc_connmgr *m,
                                     const wfc_authorize_req *req);

/* ---- other operations (name: id or nickname) ---------------------------- */

/* Refreshes now (joins a refresh in flight). WFC_EREAUTH moves the
 * connection to reauthorization_required with the plugin's remedy. */
WFC_EXTERN int wfc_connmgr_refresh(wfc_connmgr *m, const char *name,
                                   wfc_connmgr_cb cb, void *arg);
/* Calls the revoke hook (best effort: its outcome is reported in detail,
 * {"remote":"removed|not_permitted|failed|none","detail":...}), then wipes
 * the secrets from the store and memory and sets state revoked. */
WFC_EXTERN int wfc_connmgr_revoke(wfc_connmgr *m, const char *name,
                                  wfc_connmgr_cb cb, void *arg);
/* Revokes first when the connection holds secrets, then deletes it (with
 * its checkpoints and idempotency keys). A connection whose record does not
 * verify (WFC_CONN_TAMPERED) is deleted without the revoke hook: detail
 * {"remote":"skipped","detail":...}. */
WFC_EXTERN int wfc_connmgr_delete(wfc_connmgr *m, const char *name,
                                  wfc_connmgr_cb cb, void *arg);
/* Gets a valid token (refreshing as needed) and runs the type's test hook;
 * detail is {"healthy":bool,"detail":...}. WFC_ENOTSUP without a hook. */
WFC_EXTERN int wfc_connmgr_test(wfc_connmgr *m, const char *name,
                                wfc_connmgr_cb cb, void *arg);

/* Synchronous reads. *out is transferred (json_object_put). plugin NULL:
 * all. WFC_ENOTFOUND for an unknown name. */
WFC_EXTERN int wfc_connmgr_list(wfc_connmgr *m, const char *plugin,
                                struct json_object **out);
WFC_EXTERN int wfc_connmgr_show(wfc_connmgr *m, const char *name,
                                struct json_object **out);

/* A connection for card calls (wfc_invoke.conn): params, info (id,
 * nickname, plugin, type, environment, account) and the token service.
 * The caller owns one reference (wfc_conn_release). WFC_ENOTFOUND; the
 * connection need not be connected (its token requests then fail with
 * WFC_EREAUTH, WFC_ECONSENT or WFC_EAUTH according to its state). */
WFC_EXTERN int wfc_connmgr_open_conn(wfc_connmgr *m, const char *name,
                                     wfc_conn **out);
/* Why the calling thread's last wfc_connmgr_open_conn that failed
 * failed, in words naming the cause (a store that cannot be reached names
 * its database and what to do; never a password); "" when it gave none.
 * Thread-local; valid until the thread's next open_conn. */
WFC_EXTERN const char *wfc_connmgr_open_error(void);

/* Counters for tests and diagnostics. */
typedef struct wfc_connmgr_stats {
  uint64_t refreshes;       /* refresh hook calls started */
  uint64_t token_requests;  /* conn_token calls */
  uint64_t rotations_saved; /* credentials persisted after a refresh */
} wfc_connmgr_stats;
WFC_EXTERN void wfc_connmgr_get_stats(const wfc_connmgr *m,
                                      wfc_connmgr_stats *out);

#ifdef __cplusplus
}
#endif
#endif
