/* connmgr_int.h - the connection manager's shared state, private to its
 * source files (the public API is include/wfc/connections.h, the SDK-wide
 * private parts connmgr.h, the design docs/connections-sdk.md).
 *
 * The manager is split by concern:
 *   connmgr.c       the objects (wfc_connmgr, op, waiter), open and
 *                   close, the kick, refresh / test / revoke / delete,
 *                   the reads;
 *   connmgr_token.c the token service: entries, their secrets and
 *                   tokens, single-flight refresh, refresh leases across
 *                   processes, the wfc_conn_ops (tokens, claims);
 *   connmgr_auth.c  authorization: wfc_connmgr_authorize, its browser,
 *                   form and none flows, and storing their outcome.
 * What one file uses from another is declared here, prefixed
 * wfc__connmgr_; the rest stays static in its file. Everything runs on the
 * loop thread. Who owns what: see connmgr.c's header comment.
 */
#ifndef WFC_SDK_CONNMGR_INT_H
#define WFC_SDK_CONNMGR_INT_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <uv.h>

#include "connmgr.h"
#include "lease.h"
#include "redirect.h"
#include "runtime.h"
#include "store.h"

typedef void (*token_cb)(void *arg, int status, const char *token);

typedef struct waiter {
  struct waiter *next;
  token_cb cb;
  void *arg;
  int status;  /* ready queue: the result */
  char *token; /* ready queue: a copy in secret memory, or NULL */
  /* The card call's connection (a reference), or NULL (an operation's
   * own waiter): its info says until when token requests are throttled
   * (conn_note_retry) before the callback runs. */
  wfc_conn *conn;
  int64_t retry_at; /* ready queue: the entry's retry_at at the push */
} waiter;

typedef struct entry {
  struct entry *next;
  struct entry *id_next; /* in the manager's by-id index */
  wfc_connmgr *m;
  char id[WFC__CONN_ID_SIZE];
  char nickname[WFC__CONN_NICKNAME_SIZE];
  char plugin[WFC__CONN_NAME_SIZE];
  char type[WFC__CONN_NAME_SIZE];
  char state[WFC__CONN_STATE_SIZE];
  json_object *params; /* clear params (owned) */
  char *sealed;  /* opened secrets: JSON text in secret memory (owned), NULL
                   until loaded */
  int has_creds; /* sealed holds "credentials" */
  char *access;  /* current access token (secret copy), or NULL */
  char *refresh; /* current refresh token (secret copy), or NULL */
  int64_t expires_ms; /* of access; 0: unknown */
  int rejected;       /* the current access token got a 401 */
  int dirty;          /* rotated credentials not yet persisted */
  int deleted;
  int refreshing;
  wfc_call *refresh_call;
  json_object *refresh_in; /* the refresh hook's input (owned): cleansed
                              once the hook is done */
  waiter *waiters, **wtail;
  /* While a refresh that failed for now (not EREAUTH: that one's words
   * are the connection's remedy) completes its waiters: why, in the hook's
   * words (borrowed from its outcome), so that an operation waiting on it
   * (refresh, test) reports the cause and not only the code. NULL
   * otherwise. */
  const char *why;
  /* The store's refresh lease (see the lease timer). */
  int lease_held; /* this manager holds it: refreshing, or unsaved */
  /* The fence of the take the running (or unsaved) refresh started under
   * (wfc__lease.fence), kept after the lease is lost so that its save is
   * refused (docs/store.md, "Fencing"); 0: no refresh under a lease. */
  int64_t lease_fence;
  int lease_wait;   /* waiters wait for another holder's refresh */
  int wait_force;   /* ... and one of them asked for a forced refresh */
  int64_t due_ms;   /* monotonic: the lease timer's next look at e; set
                       with lease_due (it is e's key in the lease heap) */
  size_t heap_pos;  /* 1 + e's index in the manager's lease heap, 0: not in
                       it */
  int64_t poll_ms;  /* the current interval between polls */
  int64_t wait_end; /* monotonic: give up waiting then */
  char other[WFC__LEASE_HOLDER_SIZE]; /* the holder waited for */
  /* The identity provider throttled the last refresh (its Retry-After):
   * wall clock (wfc__now_ms, as the store's leases), no token request
   * before it in any process sharing the store. 0: none known. */
  int64_t retry_at;
} entry;

typedef enum op_kind {
  OP_AUTHORIZE,
  OP_REFRESH,
  OP_REVOKE,
  OP_DELETE,
  OP_TEST
} op_kind;

typedef struct op {
  struct op *next;
  wfc_connmgr *m;
  op_kind kind;
  wfc_connmgr_cb cb;
  void *arg;
  entry *e;
  wfc_call *call;  /* hook in flight, or NULL */
  int waiting_tok; /* a waiter of e is ours */
  int canceled;    /* close: finish with WFC_ECANCELED from the kick */
  /* authorize */
  void (*on_url)(void *arg, const char *url);
  wfc__redirect *redirect;
  char type_id[2 * WFC__CONN_NAME_SIZE];
  char plugin[WFC__CONN_NAME_SIZE];
  char type[WFC__CONN_NAME_SIZE];
  char nickname[WFC__CONN_NICKNAME_SIZE];
  char environment[WFC__CONN_ENV_SIZE];
  char reauth_id[WFC__CONN_ID_SIZE];
  /* reauthorize: who the connection belongs to (the stored account and
   * the plugin's account_key from the sealed secrets, "" when unknown),
   * and whether the caller lets the sign-in switch it. */
  char expect_account[WFC__CONN_ACCOUNT_SIZE];
  char expect_key[WFC__CONN_ACCOUNT_SIZE];
  int allow_account_change;
  /* An admin consent for the connection's app (wfc_authorize_req
   * .admin_consent): nothing is stored, the outcome is the plugin's. */
  int admin_consent;
  json_object *params;        /* full params for the hooks (owned) */
  const wfc_field *schema;    /* the type's params (plugin-owned) */
  json_object *begin_extra;   /* login_hint / prompt (owned) */
  json_object *session;       /* from authorize_begin (owned) */
  json_object *revoke_detail; /* revoke outcome (owned) */
  json_object *hook_in;       /* test / revoke / form authorize_complete
                                 hook input holding secrets
                                 (owned): cleansed when the op is freed */
  /* the outcome, once done (delivered by the kick) */
  int done;
  int status;
  char msg[1024];
  char outcome[40];
  char remedy[WFC__CONN_REMEDY_SIZE];
  json_object *detail; /* owned reference */
} op;

struct wfc_connmgr {
  wfc_runtime *rt;
  uv_loop_t *loop;
  wfc__store *st;
  char store_path[4096];
  char owner[WFC__CONN_ACCOUNT_SIZE];
  uint64_t redirect_timeout_ms;
  entry *entries;
  /* The entries by id (a hash table; entries stay until close): finding
   * one costs the same with 10 or 10,000 connections. nbyid is a power of
   * two, at least twice nentries. */
  entry **byid;
  size_t nbyid, nentries;
  op *ops;
  waiter *ready, **rtail;
  uv_timer_t kick;
  int kick_armed;
  int closing;
  int kick_closing;
  /* Refresh leases: this manager's holder id (lease.h), and one timer
   * that polls the entries waiting for another holder and renews the
   * leases held while their refresh runs. The timer looks at the entries
   * in lheap only: a binary min-heap on due_ms of every entry that holds
   * or waits for a lease (and of some that stopped since: dropped when
   * they reach the top), so that arming it costs O(log n) and not a walk
   * of every connection. Its slots are borrowed entries; caplheap is
   * reserved before an entry can enter (lease_step). */
  char holder[WFC__LEASE_HOLDER_SIZE];
  uv_timer_t lease_timer;
  entry **lheap;
  size_t nlheap, caplheap;
  uint64_t lease_looks; /* wfc__connmgr_lease_looks */
  void (*close_done)(void *arg);
  void *close_arg;
  wfc_connmgr_stats stats;
  wfc__rt_child child; /* closed by wfc_runtime_shutdown, after watches */
};

/* ---- connmgr.c: helpers, the kick, operations ---- */

/* Splits params (borrowed) by the type's schema: the secret fields go to
 * *secret, the rest to *clear (both transferred, never NULL). */
void wfc__connmgr_split_params(const wfc_field *schema, json_object *params,
                               json_object **clear, json_object **secret);
/* A deep copy (transfer), so that cleansing it cannot touch anybody else's
 * strings. */
json_object *wfc__connmgr_json_copy(json_object *v);

/* Takes member key out of s (transfer; NULL when absent). */
json_object *wfc__connmgr_json_take(json_object *s, const char *key);
/* ms (wall clock) as ISO 8601 UTC text ("2026-01-02T03:04:05Z"). */
void wfc__connmgr_iso_time(int64_t ms, char *buf, size_t len);
/* The status code of a connection state: 0 (connected), WFC_EREAUTH,
 * WFC_ECONSENT or WFC_EAUTH. */
int wfc__connmgr_state_code(const char *state);

/* Queues a delivery for the next loop iteration (the kick). token is
 * copied. retry_at: the entry's (see entry.retry_at). */
void wfc__connmgr_ready_push(wfc_connmgr *m, waiter *w, int status,
                             const char *token, int64_t retry_at);
/* Runs w's callback, its connection's info set first; releases w's
 * reference to the connection (w itself is the caller's to free). why: the
 * refresh hook's words when a refresh just failed with status (borrowed),
 * else NULL. */
void wfc__connmgr_waiter_deliver(waiter *w, int status, const char *token,
                                 int64_t retry_at, const char *why);
/* Closing and nothing left in flight: releases the leases still held and
 * closes the timers, which frees the manager. */
void wfc__connmgr_maybe_finish(wfc_connmgr *m);

/* ---- connmgr_token.c: entries and the token service ---- */

/* The token service of every wfc_conn the manager opens (ops_arg: its
 * entry). */
extern const wfc_conn_ops wfc__connmgr_token_ops;

/* The entry of connection id in this process, or NULL. */
entry *wfc__connmgr_entry_by_id(const wfc_connmgr *m, const char *id);
/* The entry of the connection named name (nickname or id) as the store
 * has it now, created on first use (owned by the manager until close);
 * rec_out (optional) gets the record (transfer: wfc__conn_rec_clear it). */
int wfc__connmgr_entry_get(wfc_connmgr *m, const char *name, entry **out,
                           wfc__conn_rec *rec_out);
/* Opens the sealed secrets from the store into memory. force: even if
 * loaded (another process may have rotated them). */
int wfc__connmgr_entry_load(entry *e, int force);
/* Forgets the opened secrets and token copies of e. */
void wfc__connmgr_entry_drop_secrets(entry *e);
/* The opened secrets as an object (transfer: wfc__json_cleanse_put it, or
 * hand its members on), or NULL when none are loaded. */
json_object *wfc__connmgr_entry_secrets(entry *e);
/* Params for a hook: clear params plus the sealed secret ones (new
 * object, transferred). */
json_object *wfc__connmgr_entry_hook_params(entry *e);
/* Completes every waiter of e (detached first: a callback may ask again). */
void wfc__connmgr_entry_complete(entry *e, int status);
/* Sets e's state, in memory and in the store (a failure is logged). */
void wfc__connmgr_entry_set_state(entry *e, const char *state,
                                  const char *remedy);
/* The input of a hook that needs the credentials: {"params", "credentials"}
 * (transfer; cleanse it once the hook is done). */
json_object *wfc__connmgr_entry_hook_input(entry *e);
/* w wants a token of e. force: refresh even if the token is fresh. On a
 * non-zero return w was not taken (the caller frees it). */
int wfc__connmgr_entry_want(entry *e, waiter *w, int force);
/* Releases e's refresh lease if this manager holds it. */
void wfc__connmgr_lease_release(entry *e);
/* Arms the lease timer for the earliest entry due, or stops it. */
void wfc__connmgr_lease_timer_arm(wfc_connmgr *m);

/* ---- connmgr.c: operations ---- */

/* A new operation in flight (NULL: out of memory); freed by
 * wfc__connmgr_op_free, or by the kick once its callback returned. */
op *wfc__connmgr_op_new(wfc_connmgr *m, op_kind kind, wfc_connmgr_cb cb,
                        void *arg);
void wfc__connmgr_op_free(op *o);
/* Records the outcome; the kick delivers it on a later loop iteration, so
 * no callback ever runs inside the call that started the operation. detail
 * is borrowed (a reference is taken). */
void wfc__connmgr_op_finish(op *o, int status, const char *outcome,
                            const char *remedy, json_object *detail,
                            const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

#endif
