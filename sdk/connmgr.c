/* connmgr.c - see wfc/connections.h and docs/connections-sdk.md.
 *
 * The connection manager's core: its objects, open and close, the kick,
 * the token service, refresh leases, refresh / test / revoke / delete and
 * the reads. Authorization is in connmgr_auth.c; what the files share
 * (the structs below, a few wfc__connmgr_* functions) in connmgr_int.h.
 *
 * Objects and who owns what:
 *   wfc_connmgr  the caller's; owns the store handle, the entries, the ops
 *                in flight and the ready queue.
 *   entry        one per connection used in this process (token service
 *                state: the opened secrets as JSON text in secret memory,
 *                refresh in flight, lease, waiters). Owned by the manager
 *                and freed only at close, because every wfc_conn it
 *                opened points to it (ops_arg).
 *   op           one public operation in flight (authorize, refresh,
 *                revoke, delete, test); freed when its callback returned.
 *   waiter       one conn_token request; owned by its entry's waiter list
 *                or by the ready queue until its callback ran.
 *
 * Store I/O is synchronous on the loop thread: each operation is a few
 * SQLite statements on a local file (rotations are fsync'ed, a few ms), and
 * keeping it on the loop makes "persisted before handed out" a plain
 * sequence instead of a cross-thread hand-off.
 *
 * Across processes sharing the store, a refresh runs under the
 * connection's refresh lease (store.h): the single flight of one process
 * becomes one refresh at a time for every process. A process that finds
 * the lease held waits (the lease timer polls the store) for either the
 * rotated credentials, which it then uses without refreshing, or the
 * lease's release or expiry, after which it takes the lease itself. See
 * docs/connections-sdk.md, "Across processes".
 *
 * Secrets in memory (docs/security.md): what lives as long as the entry
 * (the opened secrets' text, the token copies) is in secret memory
 * (secmem.h), excluded from core dumps. JSON objects holding secrets live
 * in the ordinary heap, so they exist only while a hook uses them: parsed
 * from the text when needed, cleansed (wfc__json_cleanse_put) when done.
 */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, strdup, gmtime_r */
#include "connmgr_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <json-c/json.h>
#include <uv.h>

#include "clock.h"
#include "crypto.h"
#include "json.h"
#include "json_secret.h"
#include "lease.h"
#include "log.h"
#include "redirect.h"
#include "runtime.h"
#include "secmem.h"
#include "store.h"

/* ---- small helpers ---------------------------------------------------------
 */

/* The entry's token copies are held in the log's redaction table while
 * in use and released (the value is dead: rotated out or wiped) when
 * dropped, so the table holds the live connections' tokens only. */
static void secret_drop(char **s) {
  if (*s != NULL) {
    wfc__log_secret_release(*s);
    wfc__secret_free(*s);
    *s = NULL;
  }
}

static char *secret_dup(const char *s) {
  if (s == NULL || *s == '\0')
    return NULL;
  char *d = wfc__secmem_strdup(s);
  if (d != NULL && strlen(d) >= 4)
    wfc__log_secret_hold(d);
  return d;
}

/* The tokens of creds (borrowed) are dead, never used: every registration
 * of them (the plugin's, made when it got them) leaves the redaction
 * table. A hold and its release do exactly that. */
static void secrets_retire(json_object *creds) {
  static const char *const keys[] = {"access_token", "refresh_token"};
  for (size_t i = 0; i < 2; i++) {
    const char *v = wfc__json_str(creds, keys[i]);
    if (v != NULL && wfc__log_secret_hold(v) == 0)
      wfc__log_secret_release(v);
  }
}

static void iso_time(int64_t ms, char *buf, size_t len) {
  time_t t = (time_t)(ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void add_time(json_object *o, const char *k, int64_t ms) {
  if (ms <= 0) {
    json_object_object_add(o, k, NULL);
    return;
  }
  char b[32];
  iso_time(ms, b, sizeof b);
  json_object_object_add(o, k, json_object_new_string(b));
}

/* The remedy shown for a connection whose store record does not verify. */
static const char tampered_remedy[] =
    WFC_CONN_TAMPERED_WORDS ": nothing is sent with it; delete it and create "
                            "the connection again";

/* The connection JSON of r (borrowed). A record that does not verify is
 * shown as found (so the user can tell which one it is), with the state
 * "tampered" and its remedy in place of the stored ones, which are not
 * trusted. */
static json_object *rec_to_json(const wfc__conn_rec *r) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "id", json_object_new_string(r->id));
  json_object_object_add(o, "nickname", json_object_new_string(r->nickname));
  json_object_object_add(o, "plugin", json_object_new_string(r->plugin));
  json_object_object_add(o, "type", json_object_new_string(r->conn_type));
  json_object_object_add(o, "environment",
                         json_object_new_string(r->environment));
  json_object_object_add(o, "account", json_object_new_string(r->account));
  json_object_object_add(o, "owner", json_object_new_string(r->owner));
  json_object_object_add(
      o, "state",
      json_object_new_string(r->tampered ? WFC_CONN_TAMPERED : r->state));
  json_object_object_add(
      o, "remedy",
      json_object_new_string(r->tampered ? tampered_remedy : r->remedy));
  json_object *p = NULL;
  if (r->params == NULL ||
      wfc__json_parse(r->params, strlen(r->params), 0, &p, NULL, 0) != 0)
    p = json_object_new_object();
  json_object_object_add(o, "params", p);
  json_object_object_add(o, "has_secrets",
                         json_object_new_boolean(r->has_secrets));
  add_time(o, "created_at", r->created_at);
  add_time(o, "updated_at", r->updated_at);
  add_time(o, "last_used_at", r->last_used_at);
  add_time(o, "expires_at", r->expires_at);
  return o;
}

static json_object *conn_json(wfc_connmgr *m, const char *id) {
  wfc__conn_rec r;
  memset(&r, 0, sizeof r);
  int rc = wfc__store_conn_get(m->st, id, &r);
  if (rc != 0 && rc != WFC_EKEY) /* a tampered record is shown as such */
    return NULL;
  json_object *o = rec_to_json(&r);
  wfc__conn_rec_clear(&r);
  return o;
}

/* Splits params (borrowed) by the type's schema: the secret fields go to
 * *secret, the rest to *clear (both transferred, never NULL). */
void wfc__connmgr_split_params(const wfc_field *schema, json_object *params,
                               json_object **clear, json_object **secret) {
  *clear = json_object_new_object();
  *secret = json_object_new_object();
  if (params == NULL)
    return;
  json_object_object_foreach(params, k, v) {
    int is_secret = 0;
    for (const wfc_field *f = schema; f != NULL && f->name != NULL; f++)
      if (strcmp(f->name, k) == 0)
        is_secret = (f->flags & WFC_FIELD_SECRET) != 0;
    json_object_object_add(is_secret ? *secret : *clear, k, json_object_get(v));
  }
}

/* A deep copy (transfer), so that cleansing it cannot touch anybody else's
 * strings. */
json_object *wfc__connmgr_json_copy(json_object *v) {
  json_object *c = NULL;
  if (v != NULL && json_object_deep_copy(v, &c, NULL) != 0)
    c = NULL;
  return c;
}

/* The plugin's own words in a call's message: the runtime prefixes it with
 * "<plugin>.<type> <hook>: ", which means nothing to a user reading the
 * remedy. */
static const char *plugin_words(const char *msg, const char *plugin,
                                const char *type, const char *hook) {
  char prefix[3 * WFC__CONN_NAME_SIZE];
  snprintf(prefix, sizeof prefix, "%s.%s %s: ", plugin, type, hook);
  size_t n = strlen(prefix);
  return msg != NULL && strncmp(msg, prefix, n) == 0 ? msg + n : msg;
}

static int state_code(const char *state) {
  if (strcmp(state, WFC_CONN_CONNECTED) == 0)
    return 0;
  if (strcmp(state, WFC_CONN_REAUTHORIZATION_REQUIRED) == 0 ||
      strcmp(state, WFC_CONN_REVOKED) == 0)
    return WFC_EREAUTH;
  if (strcmp(state, WFC_CONN_NEEDS_ADMIN_APPROVAL) == 0 ||
      strcmp(state, WFC_CONN_APPROVAL_PENDING) == 0)
    return WFC_ECONSENT;
  return WFC_EAUTH;
}

/* ---- the kick: deliveries that must not run inside a start call ---------
 */

static void maybe_finish(wfc_connmgr *m);
static void op_deliver(struct op *o);

/* conn's info (borrowed) says until when its token requests are
 * throttled: "token_retry_at_ms" (wfc__now_ms time) while retry_at is in
 * the future, absent otherwise. The connection manager made the info
 * object (wfc_connmgr_open_conn) and changes it only on the loop, before
 * the call's token callback runs: the plugin reads it there to say when
 * to retry (docs/abi.md, conn_info). */
static void conn_note_retry(wfc_conn *conn, int64_t retry_at) {
  json_object *info = conn != NULL ? wfc_conn_get_info(conn) : NULL;
  if (info == NULL)
    return;
  if (retry_at > wfc__now_ms())
    json_object_object_add(info, "token_retry_at_ms",
                           json_object_new_int64(retry_at));
  else
    json_object_object_del(info, "token_retry_at_ms");
}

/* Runs w's callback, its connection's info set first; releases w's
 * reference to the connection (w itself is the caller's to free). */
static void waiter_deliver(waiter *w, int status, const char *token,
                           int64_t retry_at) {
  wfc_conn *conn = w->conn;
  w->conn = NULL;
  conn_note_retry(conn, retry_at);
  w->cb(w->arg, status, token);
  if (conn != NULL)
    wfc_conn_release(conn);
}

static void on_kick(uv_timer_t *t) {
  wfc_connmgr *m = t->data;
  m->kick_armed = 0;
  waiter *w = m->ready;
  m->ready = NULL;
  m->rtail = &m->ready;
  while (w != NULL) {
    waiter *next = w->next;
    waiter_deliver(w, w->status, w->status == 0 ? w->token : NULL, w->retry_at);
    wfc__secret_free(w->token);
    free(w);
    w = next;
  }
  for (op *o = m->ops; o != NULL; o = o->next)
    if (o->canceled && !o->done && o->call == NULL && !o->waiting_tok)
      wfc__connmgr_op_finish(o, WFC_ECANCELED, NULL, NULL, NULL,
                             "the connection manager was closed");
  /* Deliver finished operations; a callback may start new ones, so scan
   * again from the head after each. */
  for (;;) {
    op *o = m->ops;
    while (o != NULL && !o->done)
      o = o->next;
    if (o == NULL)
      break;
    op_deliver(o);
  }
  maybe_finish(m);
}

static void kick(wfc_connmgr *m) {
  if (!m->kick_armed && !m->kick_closing) {
    m->kick_armed = 1;
    uv_timer_start(&m->kick, on_kick, 0, 0);
  }
}

/* Queues a delivery for the next loop iteration. token is copied.
 * retry_at: the entry's (see entry.retry_at). */
static void ready_push(wfc_connmgr *m, waiter *w, int status, const char *token,
                       int64_t retry_at) {
  w->next = NULL;
  w->status = status;
  w->retry_at = retry_at;
  /* A copy in secret memory, not registered: the value is registered with
   * the redactor already (as the entry's token), and one registration per
   * waiter would churn the redactor's bounded table. */
  w->token = status == 0 && token != NULL ? wfc__secmem_strdup(token) : NULL;
  if (status == 0 && w->token == NULL)
    w->status = WFC_ENOMEM;
  *m->rtail = w;
  m->rtail = &w->next;
  kick(m);
}

/* ---- entries and the token service ---------------------------------------
 */

/* Takes the tokens from s (the opened secrets, borrowed). The new ones are
 * held before the old ones are released: a value in both (a refresh token
 * the endpoint did not rotate) stays registered throughout. */
static void entry_set_access(entry *e, json_object *s) {
  char *old_access = e->access, *old_refresh = e->refresh;
  e->expires_ms = 0;
  json_object *cr = wfc__json_obj(s, "credentials");
  e->access = secret_dup(wfc__json_str(cr, "access_token"));
  e->refresh = secret_dup(wfc__json_str(cr, "refresh_token"));
  secret_drop(&old_access);
  secret_drop(&old_refresh);
  int64_t at;
  if (wfc__json_int64(cr, "expires_at", &at) == 0 && at > 0)
    e->expires_ms = at * 1000;
}

void wfc__connmgr_entry_drop_secrets(entry *e) {
  /* A refresh in flight has its own copy (e->refresh_in). */
  wfc__secret_free(e->sealed);
  e->sealed = NULL;
  e->has_creds = 0;
  secret_drop(&e->access);
  secret_drop(&e->refresh);
  e->expires_ms = 0;
  e->dirty = 0;
}

/* Fills e from the store row (state, params); keeps loaded secrets. */
static void entry_sync(entry *e, const wfc__conn_rec *r) {
  snprintf(e->nickname, sizeof e->nickname, "%s", r->nickname);
  snprintf(e->plugin, sizeof e->plugin, "%s", r->plugin);
  snprintf(e->type, sizeof e->type, "%s", r->conn_type);
  if (!e->refreshing)
    snprintf(e->state, sizeof e->state, "%s", r->state);
  json_object *p = NULL;
  if (r->params == NULL ||
      wfc__json_parse(r->params, strlen(r->params), 0, &p, NULL, 0) != 0)
    p = json_object_new_object();
  json_object_put(e->params);
  e->params = p;
}

/* The entry of connection name (id or nickname), created on first use.
 * WFC_EKEY when its store record does not verify: nothing of it is used. */
static size_t id_bucket(const wfc_connmgr *m, const char *id) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (const unsigned char *p = (const unsigned char *)id; *p; p++)
    h = (h ^ *p) * 1099511628211ull;
  return (size_t)(h ^ (h >> 32)) & (m->nbyid - 1);
}

static entry *entry_by_id(const wfc_connmgr *m, const char *id) {
  if (m->byid == NULL)
    return NULL;
  for (entry *x = m->byid[id_bucket(m, id)]; x != NULL; x = x->id_next)
    if (strcmp(x->id, id) == 0)
      return x;
  return NULL;
}

/* Adds e (its id set) to the index, growing it. 0 or WFC_ENOMEM. */
static int entry_index(wfc_connmgr *m, entry *e) {
  if (2 * (m->nentries + 1) > m->nbyid) {
    size_t n = m->nbyid ? 2 * m->nbyid : 64;
    entry **t = calloc(n, sizeof *t);
    if (t == NULL)
      return WFC_ENOMEM;
    free(m->byid);
    m->byid = t;
    m->nbyid = n;
    for (entry *x = m->entries; x != NULL; x = x->next) {
      size_t b = id_bucket(m, x->id);
      x->id_next = m->byid[b];
      m->byid[b] = x;
    }
  }
  size_t b = id_bucket(m, e->id);
  e->id_next = m->byid[b];
  m->byid[b] = e;
  m->nentries++;
  return 0;
}

int wfc__connmgr_entry_get(wfc_connmgr *m, const char *name, entry **out,
                           wfc__conn_rec *rec_out) {
  wfc__conn_rec r;
  memset(&r, 0, sizeof r);
  int rc = wfc__store_conn_get(m->st, name, &r);
  if (rc == WFC_EKEY)
    wfc__conn_rec_clear(&r); /* filled to be shown, not used */
  if (rc != 0)
    return rc;
  entry *e = entry_by_id(m, r.id);
  if (e == NULL) {
    e = calloc(1, sizeof *e);
    if (e == NULL) {
      wfc__conn_rec_clear(&r);
      return WFC_ENOMEM;
    }
    e->m = m;
    snprintf(e->id, sizeof e->id, "%s", r.id);
    if (entry_index(m, e) != 0) {
      free(e);
      wfc__conn_rec_clear(&r);
      return WFC_ENOMEM;
    }
    e->wtail = &e->waiters;
    e->next = m->entries;
    m->entries = e;
  }
  e->deleted = 0;
  entry_sync(e, &r);
  if (rec_out != NULL)
    *rec_out = r;
  else
    wfc__conn_rec_clear(&r);
  *out = e;
  return 0;
}

/* The sealed secrets of e as stored: *text (transfer: wfc__secret_free
 * it), the JSON text in secret memory as wfc__store_conn_secrets gives it,
 * and *obj (transfer: wfc__json_cleanse_put it), the same parsed.
 * WFC_ENOTFOUND when the connection holds none. */
static int store_secrets(entry *e, char **text, json_object **obj) {
  *text = NULL;
  *obj = NULL;
  char *t = NULL;
  int rc = wfc__store_conn_secrets(e->m->st, e->id, &t);
  if (rc != 0)
    return rc;
  json_object *s = NULL;
  rc = wfc__json_parse_secret(t, strlen(t), &s, NULL, 0);
  if (rc != 0 || !json_object_is_type(s, json_type_object)) {
    wfc__json_cleanse_put(s);
    wfc__secret_free(t);
    return WFC_EKEY;
  }
  *text = t;
  *obj = s;
  return 0;
}

/* Makes text (transfer: JSON text in secret memory) e's opened secrets;
 * s (borrowed) is the same parsed, for the tokens. */
static void entry_take_secrets(entry *e, char *text, json_object *s) {
  wfc__secret_free(e->sealed);
  e->sealed = text;
  e->has_creds = wfc__json_obj(s, "credentials") != NULL;
  entry_set_access(e, s);
}

/* Opens the sealed secrets from the store into memory. force: even if
 * loaded (another process may have rotated them). */
int wfc__connmgr_entry_load(entry *e, int force) {
  if (e->dirty)
    return 0; /* memory is newer than the store */
  if (e->sealed != NULL && !force)
    return 0;
  char *text = NULL;
  json_object *s = NULL;
  int rc = store_secrets(e, &text, &s);
  if (rc == WFC_ENOTFOUND) {
    wfc__connmgr_entry_drop_secrets(e);
    return 0;
  }
  if (rc != 0)
    return rc;
  /* The text is in secret memory already (wfc__store_conn_secrets): kept
   * as is. */
  entry_take_secrets(e, text, s);
  wfc__json_cleanse_put(s);
  return 0;
}

/* Takes the store's credentials when another process rotated them since
 * e loaded its own (another access token): *rotated = 1. WFC_EREAUTH when
 * the secrets were wiped meanwhile (revoked). */
static int adopt_rotated(entry *e, int *rotated) {
  *rotated = 0;
  if (e->dirty)
    return 0; /* memory is newer than the store */
  char *text = NULL;
  json_object *s = NULL;
  int rc = store_secrets(e, &text, &s);
  if (rc == WFC_ENOTFOUND)
    return WFC_EREAUTH;
  if (rc != 0)
    return rc;
  const char *a =
      wfc__json_str(wfc__json_obj(s, "credentials"), "access_token");
  int same = a == NULL || e->access == NULL
                 ? a == e->access
                 : wfc__ct_equal(a, strlen(a), e->access, strlen(e->access));
  if (same) {
    wfc__json_cleanse_put(s);
    wfc__secret_free(text);
    return 0;
  }
  entry_take_secrets(e, text, s);
  wfc__json_cleanse_put(s);
  e->rejected = 0;
  *rotated = 1;
  return 0;
}

/* The opened secrets as an object (transfer: wfc__json_cleanse_put it, or
 * hand its members on), or NULL when none are loaded. */
json_object *wfc__connmgr_entry_secrets(entry *e) {
  json_object *s = NULL;
  if (e->sealed == NULL ||
      wfc__json_parse_secret(e->sealed, strlen(e->sealed), &s, NULL, 0) != 0)
    return NULL;
  return s;
}

/* Replaces the opened secrets with s (borrowed) and takes its tokens. */
static int entry_set_secrets(entry *e, json_object *s) {
  char *text = wfc__json_dump_secret(s);
  if (text == NULL)
    return WFC_ENOMEM;
  entry_take_secrets(e, text, s);
  return 0;
}

/* Takes member key out of s (transfer; NULL when absent). */
static json_object *json_take(json_object *s, const char *key) {
  json_object *v = NULL;
  if (json_object_object_get_ex(s, key, &v)) {
    json_object_get(v);
    json_object_object_del(s, key);
  }
  return v;
}

/* Params for a hook: clear params plus the sealed secret ones (new
 * object, transferred). */
json_object *wfc__connmgr_entry_hook_params(entry *e) {
  json_object *p = NULL;
  json_object_deep_copy(e->params, &p, NULL);
  if (p == NULL)
    p = json_object_new_object();
  json_object *s = wfc__connmgr_entry_secrets(e);
  json_object *sp = wfc__json_obj(s, "secret_params");
  if (sp != NULL) {
    json_object_object_foreach(sp, k, v) {
      json_object_object_add(p, k, wfc__connmgr_json_copy(v));
    }
  }
  wfc__json_cleanse_put(s);
  return p;
}

static int entry_fresh(entry *e) {
  if (e->access == NULL || e->rejected)
    return 0;
  if (e->expires_ms == 0)
    return 1; /* no expiry given: valid until the service rejects it */
  return e->expires_ms - wfc__now_ms() > WFC__TOKEN_MARGIN_MS;
}

/* Writes e->sealed (the text as it is) to the store (rotation). Holding
 * the refresh lease, the same transaction releases it: no other process
 * sees the lease free while the store still has the spent refresh token. */
static int entry_persist(entry *e) {
  wfc_connmgr *m = e->m;
  int released = 0;
  int rc = e->lease_held
               ? wfc__store_conn_rotate(m->st, e->id, e->sealed, e->expires_ms,
                                        m->holder, &released)
               : wfc__store_conn_update_secrets(m->st, e->id, e->sealed,
                                                e->expires_ms);
  if (rc == WFC_EREAUTH) {
    /* Revoked by another process during the refresh: the lease is
     * released, the new tokens are dropped. */
    wfc__log(WFC_LOG_INFO, "connection %s: %s", e->nickname,
             wfc__store_last_error());
    e->lease_held = 0;
    wfc__connmgr_entry_drop_secrets(e);
    snprintf(e->state, sizeof e->state, "%s", WFC_CONN_REVOKED);
    return rc;
  }
  if (rc != 0) {
    wfc__log(WFC_LOG_ERROR,
             "connection %s: cannot save rotated credentials: %s", e->id,
             wfc__store_last_error());
    return rc;
  }
  if (e->lease_held && !released)
    wfc__log(WFC_LOG_WARN,
             "connection %s: the refresh lease had expired and was taken "
             "over before the rotated credentials were saved",
             e->nickname);
  e->lease_held = 0;
  e->dirty = 0;
  return 0;
}

static void entry_set_state(entry *e, const char *state, const char *remedy) {
  snprintf(e->state, sizeof e->state, "%s", state);
  if (wfc__store_conn_update_state(e->m->st, e->id, state, remedy) != 0)
    wfc__log(WFC_LOG_ERROR, "connection %s: cannot save state %s: %s", e->id,
             state, wfc__store_last_error());
}

/* Completes every waiter of e (detached first: a callback may ask again). */
void wfc__connmgr_entry_complete(entry *e, int status) {
  waiter *w = e->waiters;
  e->waiters = NULL;
  e->wtail = &e->waiters;
  char *tok =
      status == 0 ? wfc__secmem_strdup(e->access ? e->access : "") : NULL;
  if (status == 0 && tok == NULL)
    status = WFC_ENOMEM;
  while (w != NULL) {
    waiter *next = w->next;
    waiter_deliver(w, status, status == 0 ? tok : NULL, e->retry_at);
    free(w);
    w = next;
  }
  if (tok != NULL)
    wfc__secret_free(tok);
}

static void on_refresh_done(void *arg, wfc_call *call, const wfc_outcome *out);

/* The input of a hook that needs the credentials: {"params", "credentials"}
 * (transfer; cleanse it once the hook is done). */
static json_object *entry_hook_input(entry *e) {
  json_object *s = wfc__connmgr_entry_secrets(e);
  json_object *in = json_object_new_object();
  json_object_object_add(in, "params", wfc__connmgr_entry_hook_params(e));
  json_object_object_add(in, "credentials", json_take(s, "credentials"));
  wfc__json_cleanse_put(s);
  return in;
}

static int entry_start_refresh(entry *e) {
  wfc_connmgr *m = e->m;
  json_object *in = entry_hook_input(e);
  char id[2 * WFC__CONN_NAME_SIZE];
  snprintf(id, sizeof id, "%s.%s", e->plugin, e->type);
  wfc_invoke how = {.size = sizeof how, .on_done = on_refresh_done, .arg = e};
  int rc = wfc_runtime_conn_hook(m->rt, id, WFC_HOOK_REFRESH, in, &how,
                                 &e->refresh_call);
  if (rc != 0) {
    wfc__json_cleanse_put(in);
    return rc;
  }
  e->refresh_in = in; /* the call shares its members until it is done */
  e->refreshing = 1;
  m->stats.refreshes++;
  wfc__log(WFC_LOG_INFO, "connection %s: refreshing its access token",
           e->nickname);
  return 0;
}

/* ---- refresh leases: one refresh at a time across processes ------------
 */

static void lease_timer_arm(wfc_connmgr *m);

/* ---- the lease heap (see wfc_connmgr.lheap) ---- */

static int leased(const entry *e) {
  return e->lease_wait || e->lease_held;
}

static void lheap_put(wfc_connmgr *m, size_t i, entry *e) {
  m->lease_looks++;
  m->lheap[i] = e;
  e->heap_pos = i + 1;
}

static void lheap_up(wfc_connmgr *m, size_t i) {
  entry *e = m->lheap[i];
  while (i > 0 && m->lheap[(i - 1) / 2]->due_ms > e->due_ms) {
    lheap_put(m, i, m->lheap[(i - 1) / 2]);
    i = (i - 1) / 2;
  }
  lheap_put(m, i, e);
}

static void lheap_down(wfc_connmgr *m, size_t i) {
  entry *e = m->lheap[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= m->nlheap)
      break;
    if (c + 1 < m->nlheap && m->lheap[c + 1]->due_ms < m->lheap[c]->due_ms)
      c++;
    if (m->lheap[c]->due_ms >= e->due_ms)
      break;
    lheap_put(m, i, m->lheap[c]);
    i = c;
  }
  lheap_put(m, i, e);
}

/* Room for every entry of m in the heap (an entry is in it at most once).
 * Called before an entry can enter it, so that entering never fails. 0 or
 * WFC_ENOMEM. */
static int lheap_reserve(wfc_connmgr *m) {
  if (m->caplheap >= m->nentries)
    return 0;
  size_t n = m->caplheap ? m->caplheap : 16;
  while (n < m->nentries)
    n *= 2;
  entry **t = realloc(m->lheap, n * sizeof *t);
  if (t == NULL)
    return WFC_ENOMEM;
  m->lheap = t;
  m->caplheap = n;
  return 0;
}

static void lheap_remove(wfc_connmgr *m, entry *e) {
  size_t i = e->heap_pos - 1;
  e->heap_pos = 0;
  entry *last = m->lheap[--m->nlheap];
  if (last == e)
    return;
  lheap_put(m, i, last);
  lheap_down(m, i);
  lheap_up(m, last->heap_pos - 1);
}

/* Puts e in the heap at its due_ms, or takes it out when it neither holds
 * nor waits for a lease. */
static void lease_sched(entry *e) {
  wfc_connmgr *m = e->m;
  if (!leased(e)) {
    if (e->heap_pos != 0)
      lheap_remove(m, e);
    return;
  }
  if (e->heap_pos == 0) {
    if (m->nlheap == m->caplheap && lheap_reserve(m) != 0) {
      /* Not reached: lease_step reserved a slot for every entry. */
      wfc__log(WFC_LOG_ERROR,
               "connection %s: out of memory for its refresh "
               "lease timer",
               e->nickname);
      return;
    }
    m->lheap[m->nlheap] = e;
    e->heap_pos = ++m->nlheap;
    lheap_up(m, m->nlheap - 1);
    return;
  }
  lheap_up(m, e->heap_pos - 1);
  lheap_down(m, e->heap_pos - 1);
}

/* The lease timer's next look at e is at `at` (monotonic ms). */
static void lease_due(entry *e, int64_t at) {
  e->due_ms = at;
  lease_sched(e);
}

void wfc__connmgr_lease_release(entry *e) {
  if (!e->lease_held)
    return;
  e->lease_held = 0;
  lease_sched(e);
  int rc = wfc__store_lease_release(e->m->st, e->id, e->m->holder);
  if (rc != 0 && rc != WFC_ENOTFOUND)
    wfc__log(WFC_LOG_WARN,
             "connection %s: cannot release the refresh lease (it expires "
             "by itself): %s",
             e->nickname, wfc__store_last_error());
}

/* 1 when cur (a lease row) keeps e waiting: another live holder's, not
 * expired. */
static int lease_busy(entry *e, const wfc__lease *cur) {
  return strcmp(cur->holder, e->m->holder) != 0 &&
         cur->expires_at > wfc__now_ms() &&
         !wfc__lease_holder_gone(cur->holder);
}

enum { LEASE_WAIT, LEASE_REFRESHING, LEASE_ADOPTED };

/* cur is the lease a throttled refresh handed over (wfc__store_lease_pass)
 * and its time has not passed: no token request until then. */
static int lease_retry_after(entry *e, const wfc__lease *cur) {
  if (strcmp(cur->holder, WFC__LEASE_RETRY_AFTER) != 0 ||
      cur->expires_at <= wfc__now_ms())
    return 0;
  e->retry_at = cur->expires_at;
  return 1;
}

/* One attempt at a token for e's waiters, across processes: take the
 * credentials another process rotated since e loaded its own, or else the
 * lease and start the refresh, or else (a live holder has the lease) wait.
 * force: rotated credentials are enough (the caller loaded e's at the
 * request, so a rotation since is a refresh since); otherwise they must
 * be fresh. *step says which; a non-zero return is a failure for the
 * waiters, with no lease held. */
static int lease_step(entry *e, int force, int *step) {
  wfc_connmgr *m = e->m;
  int rotated = 0;
  *step = LEASE_WAIT;
  int rc = adopt_rotated(e, &rotated);
  if (rc != 0)
    return rc;
  if (rotated && (force || entry_fresh(e))) {
    *step = LEASE_ADOPTED;
    return 0;
  }
  /* The identity provider throttled the last refresh (this process's,
   * or another's: the lease it handed over): fail at once, a forced
   * refresh too; asking again before its Retry-After only prolongs it. */
  if (e->retry_at > wfc__now_ms())
    return WFC_ETHROTTLED;
  /* Room for e in the lease heap before it may hold or wait for one. */
  if ((rc = lheap_reserve(m)) != 0)
    return rc;
  /* Read first, without the write lock: a waiter polls this. */
  wfc__lease cur;
  int got = wfc__store_lease_get(m->st, e->id, &cur) == 0;
  if (got && lease_retry_after(e, &cur))
    return WFC_ETHROTTLED;
  if (got && lease_busy(e, &cur))
    rc = WFC_EBUSY;
  else
    rc = wfc__store_lease_take(m->st, e->id, m->holder, WFC__REFRESH_LEASE_MS,
                               &cur);
  if (rc == WFC_EBUSY && lease_retry_after(e, &cur))
    return WFC_ETHROTTLED;
  if (rc == WFC_EBUSY && cur.holder[0] != '\0' &&
      wfc__lease_holder_gone(cur.holder)) {
    wfc__log(WFC_LOG_INFO,
             "connection %s: taking over the refresh lease of %s, a process "
             "that is gone",
             e->nickname, cur.holder);
    (void)wfc__store_lease_release(m->st, e->id, cur.holder);
    rc = wfc__store_lease_take(m->st, e->id, m->holder, WFC__REFRESH_LEASE_MS,
                               &cur);
  }
  if (rc == WFC_EBUSY && cur.holder[0] != '\0') {
    if (strcmp(e->other, cur.holder) != 0) {
      snprintf(e->other, sizeof e->other, "%s", cur.holder);
      wfc__log(WFC_LOG_INFO,
               "connection %s: being refreshed by %s; waiting for its result",
               e->nickname, cur.holder);
    }
    return 0;
  }
  if (rc != 0) {
    wfc__log(WFC_LOG_WARN, "connection %s: cannot take the refresh lease: %s",
             e->nickname, wfc__store_last_error());
    return rc;
  }
  e->lease_held = 1;
  lease_due(e, wfc__monotonic_ms() + WFC__REFRESH_LEASE_MS / 3);
  /* Nobody else rotates now: a holder that committed between our read and
   * our take left its credentials, use them. */
  rc = adopt_rotated(e, &rotated);
  if (rc == 0 && rotated && (force || entry_fresh(e))) {
    wfc__connmgr_lease_release(e);
    *step = LEASE_ADOPTED;
    return 0;
  }
  if (rc == 0)
    rc = entry_start_refresh(e);
  if (rc != 0) {
    wfc__connmgr_lease_release(e);
    return rc;
  }
  *step = LEASE_REFRESHING;
  return 0;
}

/* The waiters of e wait for another holder's refresh: polled by the lease
 * timer. */
static void lease_wait_start(entry *e, int force) {
  int64_t now = wfc__monotonic_ms();
  e->lease_wait = 1;
  e->wait_force = force;
  e->poll_ms = WFC__LEASE_POLL_MIN_MS;
  e->wait_end = now + WFC__REFRESH_WAIT_MAX_MS;
  lease_due(e, now + e->poll_ms);
}

/* The other holder's refresh failed for good (the state it stored), or
 * the connection was deleted: that is the waiters' result too. */
static int lease_outcome(entry *e) {
  wfc__conn_rec r;
  memset(&r, 0, sizeof r);
  int rc = wfc__store_conn_get(e->m->st, e->id, &r);
  if (rc == WFC_ENOTFOUND)
    return rc;
  if (rc == 0 && strcmp(r.state, e->state) != 0 &&
      (strcmp(r.state, WFC_CONN_REAUTHORIZATION_REQUIRED) == 0 ||
       strcmp(r.state, WFC_CONN_REVOKED) == 0))
    rc = WFC_EREAUTH;
  if (r.state[0] != '\0') /* e.g. connected again by the holder's refresh */
    snprintf(e->state, sizeof e->state, "%s", r.state);
  wfc__conn_rec_clear(&r);
  return rc;
}

/* A look at an entry whose waiters wait for another holder. */
static void lease_poll(entry *e) {
  int step = LEASE_WAIT;
  int rc = lease_outcome(e);
  if (rc == 0)
    rc = lease_step(e, e->wait_force, &step);
  if (rc == 0 && step == LEASE_WAIT) {
    int64_t now = wfc__monotonic_ms();
    if (now < e->wait_end) {
      e->poll_ms = e->poll_ms * 3 / 2;
      if (e->poll_ms > WFC__LEASE_POLL_MAX_MS)
        e->poll_ms = WFC__LEASE_POLL_MAX_MS;
      lease_due(e, now + e->poll_ms);
      return;
    }
    wfc__log(WFC_LOG_WARN,
             "connection %s: %s has held its refresh for more than %d s; "
             "giving up",
             e->nickname, e->other, WFC__REFRESH_WAIT_MAX_MS / 1000);
    rc = WFC_ETIMEDOUT;
  }
  e->lease_wait = 0;
  e->other[0] = '\0';
  if (rc == 0 && step == LEASE_REFRESHING)
    return; /* on_refresh_done completes the waiters */
  wfc__connmgr_entry_complete(e, rc);
}

/* A lease this manager holds: renewed while the refresh runs; when saving
 * the rotated credentials failed, saving is tried again (meanwhile the
 * lease keeps the others from refreshing with the spent refresh token). */
static void lease_renew(entry *e) {
  wfc_connmgr *m = e->m;
  int64_t now = wfc__monotonic_ms();
  if (e->dirty && !e->refreshing && entry_persist(e) == 0)
    return;
  wfc__lease cur;
  int rc = wfc__store_lease_take(m->st, e->id, m->holder, WFC__REFRESH_LEASE_MS,
                                 &cur);
  if (rc == WFC_EBUSY && cur.holder[0] != '\0') {
    wfc__log(WFC_LOG_WARN,
             "connection %s: the refresh lease expired and %s took it over",
             e->nickname, cur.holder);
    e->lease_held = 0;
    return;
  }
  if (rc != 0)
    wfc__log(WFC_LOG_WARN, "connection %s: cannot renew the refresh lease: %s",
             e->nickname, wfc__store_last_error());
  lease_due(e, now + (rc != 0 || e->dirty ? 1000 : WFC__REFRESH_LEASE_MS / 3));
}

static void on_lease_timer(uv_timer_t *t) {
  wfc_connmgr *m = t->data;
  int64_t now = wfc__monotonic_ms();
  if (m->closing) {
    /* Once, at close: every wait ends (new entries go to the head: the
     * walk sees each old one once). */
    for (entry *e = m->entries; e != NULL; e = e->next, m->lease_looks++) {
      if (e->lease_wait) {
        e->lease_wait = 0;
        lease_sched(e);
        wfc__connmgr_entry_complete(e, WFC_ECANCELED);
      }
    }
  }
  /* The entries due, earliest first. Each one looked at is either done
   * with its lease or due again after now (a poll or a renewal sets a
   * later time), so this ends; a callback of wfc__connmgr_entry_complete may
   * put entries in the heap meanwhile, also due after now. */
  while (m->nlheap > 0 && m->lheap[0]->due_ms <= now) {
    entry *e = m->lheap[0];
    lheap_remove(m, e);
    if (e->lease_wait && m->closing) {
      e->lease_wait = 0;
      wfc__connmgr_entry_complete(e, WFC_ECANCELED);
    } else if (e->lease_wait) {
      lease_poll(e);
    } else if (e->lease_held) {
      lease_renew(e);
    }
    lease_sched(e);
  }
  lease_timer_arm(m);
  maybe_finish(m);
}

/* Arms the lease timer for the earliest entry due, or stops it. */
static void lease_timer_arm(wfc_connmgr *m) {
  if (m->kick_closing)
    return;
  /* Entries whose lease ended elsewhere (saved, released, handed over)
   * leave the heap when they reach its top. */
  while (m->nlheap > 0 && !leased(m->lheap[0]))
    lheap_remove(m, m->lheap[0]);
  int64_t now = wfc__monotonic_ms();
  int64_t next = m->nlheap > 0 ? m->lheap[0]->due_ms : INT64_MAX;
  /* Closing: the waits end at once (on_lease_timer). Every waiting entry
   * is in the heap. */
  for (size_t i = 0; m->closing && i < m->nlheap && next > now;
       i++, m->lease_looks++)
    if (m->lheap[i]->lease_wait)
      next = now;
  if (next == INT64_MAX)
    uv_timer_stop(&m->lease_timer);
  else
    uv_timer_start(&m->lease_timer, on_lease_timer,
                   next > now ? (uint64_t)(next - now) : 0, 0);
}

/* w wants a token of e. force: refresh even if the token is fresh. On a
 * non-zero return w was not taken (the caller frees it). */
static int entry_want(entry *e, waiter *w, int force) {
  if (e->refreshing || e->lease_wait) { /* single flight: join */
    e->wait_force |= force;
    *e->wtail = w;
    e->wtail = &w->next;
    return 0;
  }
  /* Forced: the store's credentials now, so that only a rotation from
   * here on stands for the refresh asked for. */
  int rc = wfc__connmgr_entry_load(e, force);
  if (rc != 0)
    return rc;
  if (!e->has_creds)
    return WFC_EREAUTH;
  if (e->dirty && entry_persist(e) != 0)
    return WFC_ESTORE; /* never hand out what is not saved */
  if (!force && entry_fresh(e)) {
    ready_push(e->m, w, 0, e->access, e->retry_at);
    return 0;
  }
  int step;
  rc = lease_step(e, force, &step);
  if (rc == WFC_ETHROTTLED) {
    /* Delivered like any token outcome, so the caller learns it through
     * its callback, with the connection's info saying until when. */
    ready_push(e->m, w, rc, NULL, e->retry_at);
    return 0;
  }
  if (rc != 0)
    return rc;
  if (step == LEASE_ADOPTED) {
    ready_push(e->m, w, 0, e->access, e->retry_at);
    return 0;
  }
  if (step == LEASE_WAIT)
    lease_wait_start(e, force);
  *e->wtail = w;
  e->wtail = &w->next;
  lease_timer_arm(e->m);
  return 0;
}

/* Merges the refresh output's credentials (fresh, borrowed) over the
 * current ones in s (a token endpoint may omit an unchanged refresh token).
 * A value replaced leaves the tree here: it is cleansed first, since it
 * would be freed with the old token in it. */
static void merge_creds(json_object *s, json_object *fresh) {
  json_object *cr = wfc__json_obj(s, "credentials");
  if (cr == NULL) {
    cr = json_object_new_object();
    json_object_object_add(s, "credentials", cr);
  }
  json_object_object_foreach(fresh, k, v) {
    json_object *prev = NULL;
    if (json_object_object_get_ex(cr, k, &prev) && prev != v)
      wfc__json_cleanse(prev);
    json_object_object_add(cr, k, json_object_get(v));
  }
  /* An expiry is its access token's: a new token that states none has
   * none (valid until rejected), not the old token's. */
  if (json_object_object_get_ex(fresh, "access_token", NULL) &&
      !json_object_object_get_ex(fresh, "expires_at", NULL))
    json_object_object_del(cr, "expires_at");
}

/* A refresh failed for now and its hook gave "retry_after_ms" in the
 * detail (the identity provider's Retry-After: a 429 or 503 of its token
 * endpoint): no token request for e before then, here or in any process
 * sharing the store, which learns it from the lease this one hands over
 * instead of releasing it. A wait beyond WFC__REFRESH_RETRY_MAX_MS is cut
 * to that. */
static void entry_throttle(entry *e, json_object *detail) {
  json_object *v = NULL;
  if (detail == NULL ||
      !json_object_object_get_ex(detail, "retry_after_ms", &v) ||
      !json_object_is_type(v, json_type_int))
    return;
  int64_t ms = json_object_get_int64(v);
  if (ms <= 0)
    return;
  if (ms > WFC__REFRESH_RETRY_MAX_MS)
    ms = WFC__REFRESH_RETRY_MAX_MS;
  e->retry_at = wfc__now_ms() + ms;
  char at[32];
  iso_time(e->retry_at, at, sizeof at);
  wfc__log(WFC_LOG_WARN,
           "connection %s: the identity provider asks for no token request "
           "before %s (Retry-After %lld s); until then its calls that need a "
           "new token fail at once",
           e->nickname, at, (long long)((ms + 999) / 1000));
  if (!e->lease_held)
    return; /* taken over: the taker's refresh decides */
  int rc = wfc__store_lease_pass(e->m->st, e->id, e->m->holder,
                                 WFC__LEASE_RETRY_AFTER, e->retry_at);
  if (rc == 0)
    e->lease_held = 0;
  else if (rc != WFC_ENOTFOUND)
    wfc__log(WFC_LOG_WARN,
             "connection %s: cannot record the identity provider's "
             "Retry-After in the store (other processes may ask before it "
             "has passed): %s",
             e->nickname, wfc__store_last_error());
}

static void on_refresh_done(void *arg, wfc_call *call, const wfc_outcome *out) {
  entry *e = arg;
  wfc_connmgr *m = e->m;
  (void)call;
  e->refreshing = 0;
  e->refresh_call = NULL;
  int status = out->status;
  json_object *fresh = wfc__json_obj(out->output, "credentials");
  if (status == 0 && fresh == NULL)
    status = WFC_EPROTO;
  if (status == 0)
    e->retry_at = 0;
  if (status == 0 && (e->deleted || strcmp(e->state, WFC_CONN_REVOKED) == 0)) {
    /* Revoked or deleted while refreshing: the new tokens are dropped. */
    status = e->deleted ? WFC_ENOTFOUND : WFC_EREAUTH;
    secrets_retire(fresh);
  } else if (e->sealed == NULL) {
    /* Reauthorized while refreshing: the credentials of the new grant
     * (already in the store) win over what this refresh got. */
    if (status == 0)
      secrets_retire(fresh);
    status = wfc__connmgr_entry_load(e, 0);
    if (status == 0 && e->access == NULL)
      status = WFC_EREAUTH;
  } else if (status == 0) {
    json_object *s = wfc__connmgr_entry_secrets(e);
    if (s != NULL)
      merge_creds(s, fresh);
    int rc = s != NULL ? entry_set_secrets(e, s) : WFC_ENOMEM;
    wfc__json_cleanse_put(s);
    if (rc == 0) {
      e->rejected = 0;
      e->dirty = 1;
    }
    /* Rotation: on disk before anybody uses the new tokens, and the lease
     * released in the same transaction. */
    int prc = rc == 0 ? entry_persist(e) : 0;
    if (rc != 0) {
      status = rc;
    } else if (prc != 0) {
      status = prc == WFC_EREAUTH ? prc : WFC_ESTORE;
    } else {
      m->stats.rotations_saved++;
      if (strcmp(e->state, WFC_CONN_CONNECTED) != 0)
        entry_set_state(e, WFC_CONN_CONNECTED, "");
    }
  } else if (status == WFC_EREAUTH) {
    /* No retry loop: the state makes later requests fail fast. Its
     * remedy (the hook's words) is on the connection, shown with it. */
    entry_set_state(e, WFC_CONN_REAUTHORIZATION_REQUIRED,
                    plugin_words(out->message, e->plugin, e->type, "refresh"));
    wfc__log(WFC_LOG_INFO, "connection %s needs to be authorized again: %s",
             e->nickname, out->message);
  } else {
    e->why = plugin_words(out->message, e->plugin, e->type, "refresh");
    wfc__log(WFC_LOG_WARN, "connection %s: refresh failed: %s", e->nickname,
             out->message);
    entry_throttle(e, out->detail);
  }
  /* The hook is done: its input and output (credentials, old and new) are
   * cleansed before the call frees them. */
  wfc__json_cleanse(out->output);
  wfc__json_cleanse_put(e->refresh_in);
  e->refresh_in = NULL;
  /* After the state (a waiter in another process reads it once the lease
   * is free); an unsaved rotation keeps the lease (lease_renew). */
  if (!e->dirty)
    wfc__connmgr_lease_release(e);
  lease_timer_arm(m);
  wfc__connmgr_entry_complete(e, status);
  e->why = NULL;
  maybe_finish(m);
}

static int tok_token(void *ops_arg, wfc_conn *conn, token_cb cb, void *arg) {
  entry *e = ops_arg;
  wfc_connmgr *m = e->m;
  (void)conn;
  if (m->closing)
    return WFC_ECANCELED;
  m->stats.token_requests++;
  if (e->deleted)
    return WFC_ENOTFOUND;
  int rc = state_code(e->state);
  if (rc != 0)
    return rc; /* fail fast: the remedy is on the connection */
  waiter *w = calloc(1, sizeof *w);
  if (w == NULL)
    return WFC_ENOMEM;
  w->cb = cb;
  w->arg = arg;
  w->conn = wfc__conn_ref(conn);
  rc = entry_want(e, w, 0);
  /* Nothing is written here: a read-only card run must leave the store
   * as it was. last_used_at is set by the refresh a use causes
   * (wfc__store_conn_rotate), so it is at most a token lifetime old. */
  if (rc != 0) {
    wfc_conn_release(w->conn);
    free(w);
  }
  return rc;
}

static void tok_rejected(void *ops_arg, wfc_conn *conn, const char *token) {
  entry *e = ops_arg;
  (void)conn;
  /* Only the token in use counts: a late 401 for a token already replaced
   * must not cause another refresh. */
  if (token != NULL && e->access != NULL && !e->refreshing && !e->lease_wait &&
      wfc__ct_equal(token, strlen(token), e->access, strlen(e->access)))
    e->rejected = 1;
}

/* ---- idempotency claims (wfc_host_api.claim; docs/fleet.md) ---------------
 * In the manager's store, bound to the connection (a deleted connection
 * takes its keys along). A store error is logged with the store's words:
 * the plugin gets the code and goes on to its own check. */

static int claim_failed(entry *e, const char *what, const char *key, int rc) {
  wfc__log(rc == WFC_EKEY ? WFC_LOG_ERROR : WFC_LOG_WARN,
           "connection %s: idempotency claim %s (key %s): %s", e->nickname,
           what, key, wfc__store_last_error());
  return rc;
}

static int tok_claim(void *ops_arg, wfc_conn *conn, const char *key,
                     const char *holder, uint32_t ttl_ms, wfc_claim *out) {
  entry *e = ops_arg;
  wfc__idem_claim c;
  int rc;
  (void)conn;
  memset(out, 0, sizeof *out);
  if (e->deleted)
    return WFC_ENOTFOUND;
  rc = wfc__store_idem_claim(e->m->st, key, e->id, holder, ttl_ms, &c);
  if (rc != 0)
    return claim_failed(e, "refused", key, rc);
  out->state = c.state;
  out->taken_over = c.taken_over;
  out->until_ms = c.until_ms;
  if (c.state == WFC__CLAIM_SENT) {
    out->outcome = json_tokener_parse(c.result);
    free(c.result);
    if (out->outcome == NULL ||
        !json_object_is_type(out->outcome, json_type_object)) {
      json_object_put(out->outcome);
      memset(out, 0, sizeof *out);
      wfc__log(WFC_LOG_ERROR,
               "connection %s: idempotency key %s: the recorded outcome is "
               "not a JSON object",
               e->nickname, key);
      return WFC_ESTORE;
    }
  }
  if (c.state == WFC__CLAIM_MINE && c.taken_over)
    wfc__log(WFC_LOG_INFO,
             "connection %s: idempotency key %s taken over from a claim that "
             "ended without an outcome",
             e->nickname, key);
  return 0;
}

static int tok_claim_sent(void *ops_arg, wfc_conn *conn, const char *key,
                          const char *outcome_json) {
  entry *e = ops_arg;
  int rc;
  (void)conn;
  rc = wfc__store_idem_finish(e->m->st, key, outcome_json);
  return rc != 0 && rc != WFC_EEXIST ? claim_failed(e, "not recorded", key, rc)
                                     : rc;
}

static int tok_claim_release(void *ops_arg, wfc_conn *conn, const char *key,
                             const char *holder, int nothing_sent) {
  entry *e = ops_arg;
  int rc;
  (void)conn;
  rc = wfc__store_idem_end(e->m->st, key, holder, nothing_sent);
  return rc != 0 && rc != WFC_EBUSY ? claim_failed(e, "not ended", key, rc)
                                    : rc;
}

static const wfc_conn_ops token_ops = {
    .size = sizeof(wfc_conn_ops),
    .token = tok_token,
    .token_rejected = tok_rejected,
    .claim = tok_claim,
    .claim_sent = tok_claim_sent,
    .claim_release = tok_claim_release,
};

/* ---- open / close ----------------------------------------------------------
 */

/* The default data directory ($XDG_DATA_HOME/wfc, else
 * ~/.local/share/wfc, made with mode 0700) into dir. */
static int default_data_dir(char *dir, size_t dlen) {
  const int mk = 1;
  const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
  if (xdg != NULL && xdg[0] == '/') {
    snprintf(dir, dlen, "%s/wfc", xdg);
  } else if (home != NULL && *home != '\0') {
    snprintf(dir, dlen, "%s/.local/share/wfc", home);
    if (mk) {
      char d1[4096];
      snprintf(d1, sizeof d1, "%s/.local", home);
      mkdir(d1, 0700);
      snprintf(d1, sizeof d1, "%s/.local/share", home);
      mkdir(d1, 0700);
    }
  } else {
    return WFC_ENOTFOUND;
  }
  if (mk && mkdir(dir, 0700) != 0 && errno != EEXIST)
    return WFC_EIO;
  return 0;
}

int wfc_connmgr_default_blob_dir(const char *opts_path, char *buf, size_t len) {
  char sp[4200], dir[4096];
  const char *env = getenv("WFC_BLOB_DIR");
  if (env != NULL && *env != '\0')
    return (size_t)snprintf(buf, len, "%s", env) >= len ? WFC_ETOOBIG : 0;
  int rc = wfc_connmgr_default_store(opts_path, sp, sizeof sp);
  char *slash = rc == 0 ? strrchr(sp, '/') : NULL;

  /* A database store has no directory to stand beside. */
  if (rc == 0 && strcmp(wfc__store_backend_name(sp), "sqlite") != 0) {
    if ((rc = default_data_dir(dir, sizeof dir)) != 0)
      return rc;
    snprintf(sp, sizeof sp, "%s/store", dir);
    slash = strrchr(sp, '/');
  }
  if (slash != NULL)
    rc = (size_t)snprintf(buf, len, "%.*s/blobs", (int)(slash - sp), sp) >= len
             ? WFC_ETOOBIG
             : 0;
  else
    rc = (size_t)snprintf(buf, len, "blobs") >= len ? WFC_ETOOBIG : 0;
  return rc;
}

int wfc_connmgr_default_store(const char *opts_path, char *buf, size_t len) {
  const char *p = opts_path;
  if (p == NULL || *p == '\0')
    p = getenv("WFC_STORE");
  if (p != NULL && *p != '\0') {
    if ((size_t)snprintf(buf, len, "%s", p) >= len)
      return WFC_ETOOBIG;
    return 0;
  }
  char dir[4096];
  int rc = default_data_dir(dir, sizeof dir);
  if (rc != 0)
    return rc;
  if ((size_t)snprintf(buf, len, "%s/store.db", dir) >= len)
    return WFC_ETOOBIG;
  return 0;
}

/* wfc_runtime_shutdown closes a manager the host left open. */
static void close_child(wfc__rt_child *c) {
  wfc_connmgr_close(
      (wfc_connmgr *)(void *)((char *)c - offsetof(struct wfc_connmgr, child)),
      NULL, NULL);
}

int wfc_connmgr_open(wfc_runtime *rt, const wfc_connmgr_opts *opts,
                     wfc_connmgr **out, char *err, size_t errlen) {
  if (err != NULL && errlen > 0)
    err[0] = '\0';
  if (rt == NULL || out == NULL ||
      (opts != NULL && opts->size < sizeof(wfc_connmgr_opts)))
    return WFC_EINVAL;
  wfc_connmgr *m = calloc(1, sizeof *m);
  if (m == NULL)
    return WFC_ENOMEM;
  m->rt = rt;
  m->loop = wfc_runtime_loop(rt);
  m->rtail = &m->ready;
  m->redirect_timeout_ms = opts ? opts->redirect_timeout_ms : 0;
  snprintf(m->owner, sizeof m->owner, "%s",
           opts && opts->owner ? opts->owner : "");
  int rc = wfc_connmgr_default_store(opts ? opts->store_path : NULL,
                                     m->store_path, sizeof m->store_path);
  if (rc != 0) {
    if (err != NULL)
      snprintf(err, errlen,
               "no store path: give --store, WFC_STORE or set HOME");
    free(m);
    return rc;
  }
  wfc__store_opts so = {.master_key = opts ? opts->master_key : NULL};
  char serr[512];
  rc = wfc__store_open_ex(m->store_path, &so, &m->st, serr, sizeof serr);
  if (rc != 0) {
    if (err != NULL) {
      /* A database location may hold a password: shown as HOST:PORT/DB. */
      char where[512];
      wfc__store_describe(m->store_path, where, sizeof where);
      snprintf(err, errlen, "cannot open store %s: %s", where, serr);
    }
    free(m);
    return rc;
  }
  if ((rc = wfc__lease_holder_new(m->holder, sizeof m->holder)) != 0) {
    if (err != NULL)
      snprintf(err, errlen, "cannot make a refresh lease holder id: %s",
               wfc_strerror(rc));
    wfc__store_close(m->st);
    free(m);
    return rc;
  }
  m->child.order = 1;
  m->child.close = close_child;
  if ((rc = wfc__runtime_attach(rt, &m->child)) != 0) {
    if (err != NULL)
      snprintf(err, errlen, "the runtime is closing");
    wfc__store_close(m->st);
    free(m);
    return rc;
  }
  uv_timer_init(m->loop, &m->kick);
  m->kick.data = m;
  uv_timer_init(m->loop, &m->lease_timer);
  m->lease_timer.data = m;
  *out = m;
  return 0;
}

uint64_t wfc__connmgr_lease_looks(const wfc_connmgr *m) {
  return m->lease_looks;
}

const char *wfc_connmgr_store_path(const wfc_connmgr *m) {
  return m->store_path;
}

void wfc_connmgr_get_stats(const wfc_connmgr *m, wfc_connmgr_stats *out) {
  *out = m->stats;
}

static void on_kick_closed(uv_handle_t *h) {
  wfc_connmgr *m = h->data;
  for (entry *e = m->entries; e != NULL;) {
    entry *next = e->next;
    wfc__connmgr_entry_drop_secrets(e);
    wfc__json_cleanse_put(e->refresh_in);
    json_object_put(e->params);
    free(e);
    e = next;
  }
  free(m->byid);
  free(m->lheap);
  wfc__store_close(m->st);
  void (*done)(void *) = m->close_done;
  void *arg = m->close_arg;
  /* A runtime shutting down goes on from here (its own close completes
   * later, on the loop). */
  wfc__runtime_detach(&m->child);
  free(m);
  if (done != NULL)
    done(arg);
}

static void on_lease_timer_closed(uv_handle_t *h) {
  wfc_connmgr *m = h->data;
  uv_close((uv_handle_t *)&m->kick, on_kick_closed);
}

static void maybe_finish(wfc_connmgr *m) {
  if (!m->closing || m->kick_closing || m->ops != NULL || m->ready != NULL)
    return;
  for (entry *e = m->entries; e != NULL; e = e->next)
    if (e->refreshing || e->waiters != NULL || e->lease_wait)
      return;
  /* A lease still held guards an unsaved rotation that is lost now. */
  for (entry *e = m->entries; e != NULL; e = e->next)
    wfc__connmgr_lease_release(e);
  m->kick_closing = 1;
  uv_close((uv_handle_t *)&m->lease_timer, on_lease_timer_closed);
}

void wfc_connmgr_close(wfc_connmgr *m, void (*done)(void *arg), void *arg) {
  if (m == NULL || m->closing)
    return;
  m->closing = 1;
  m->close_done = done;
  m->close_arg = arg;
  for (op *o = m->ops; o != NULL; o = o->next) {
    o->canceled = 1;
    if (o->redirect != NULL) {
      wfc__redirect_close(o->redirect);
      o->redirect = NULL;
    }
    if (o->call != NULL)
      wfc_call_cancel(o->call);
  }
  for (entry *e = m->entries; e != NULL; e = e->next)
    if (e->refresh_call != NULL)
      wfc_call_cancel(e->refresh_call);
  lease_timer_arm(m); /* waits for other holders end (WFC_ECANCELED) */
  kick(m);
}

/* ---- operations ------------------------------------------------------------
 */

op *wfc__connmgr_op_new(wfc_connmgr *m, op_kind kind, wfc_connmgr_cb cb,
                        void *arg) {
  op *o = calloc(1, sizeof *o);
  if (o == NULL)
    return NULL;
  o->m = m;
  o->kind = kind;
  o->cb = cb;
  o->arg = arg;
  o->next = m->ops;
  m->ops = o;
  return o;
}

void wfc__connmgr_op_free(op *o) {
  wfc_connmgr *m = o->m;
  for (op **p = &m->ops; *p != NULL; p = &(*p)->next)
    if (*p == o) {
      *p = o->next;
      break;
    }
  wfc__redirect_close(o->redirect);
  wfc__json_cleanse_put(o->params);
  json_object_put(o->begin_extra);
  wfc__json_cleanse_put(o->session);
  wfc__json_cleanse_put(o->hook_in);
  json_object_put(o->revoke_detail);
  json_object_put(o->detail);
  free(o);
}

/* Records the outcome; the kick delivers it on a later loop iteration, so
 * no callback ever runs inside the call that started the operation. detail
 * is borrowed (a reference is taken). */
void wfc__connmgr_op_finish(op *o, int status, const char *outcome,
                            const char *remedy, json_object *detail,
                            const char *fmt, ...) {
  if (o->done)
    return;
  o->done = 1;
  o->status = status;
  if (status != 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(o->msg, sizeof o->msg, fmt, ap);
    va_end(ap);
    if (o->msg[0] == '\0')
      snprintf(o->msg, sizeof o->msg, "%s", wfc_strerror(status));
  }
  snprintf(o->outcome, sizeof o->outcome, "%s", outcome ? outcome : "");
  snprintf(o->remedy, sizeof o->remedy, "%s", remedy ? remedy : "");
  o->detail = detail ? json_object_get(detail) : NULL;
  kick(o->m);
}

static void op_deliver(op *o) {
  wfc_connmgr *m = o->m;
  json_object *conn = NULL;
  if (o->e != NULL && !o->e->deleted)
    conn = conn_json(m, o->e->id);
  else if (o->reauth_id[0] != '\0')
    conn = conn_json(m, o->reauth_id);
  wfc_connmgr_result r = {
      .status = o->status,
      .message = o->status != 0 ? o->msg : NULL,
      .outcome = o->outcome[0] ? o->outcome : NULL,
      .remedy = o->remedy[0] ? o->remedy : NULL,
      .connection = conn,
      .detail = o->detail,
  };
  if (o->cb != NULL)
    o->cb(o->arg, &r);
  json_object_put(conn);
  wfc__connmgr_op_free(o);
}

static int op_entry(wfc_connmgr *m, const char *name, entry **e) {
  if (m == NULL || name == NULL)
    return WFC_EINVAL;
  if (m->closing)
    return WFC_ESTATE;
  return wfc__connmgr_entry_get(m, name, e, NULL);
}

/* -- refresh -- */

/* Why a token could not be had: the hook's words when a refresh just
 * failed, the identity provider's throttling (and until when) when the
 * request was refused before asking it, else the code's text. buf: len
 * bytes. *detail (transfer, or NULL): {"retry_after_ms","retry_at"} when
 * throttled. */
static const char *token_why(entry *e, int status, char *buf, size_t len,
                             json_object **detail) {
  *detail = NULL;
  if (e->why != NULL)
    return e->why;
  int64_t left = e->retry_at - wfc__now_ms();
  if (status != WFC_ETHROTTLED || left <= 0)
    return wfc_strerror(status);
  char at[32];
  iso_time(e->retry_at, at, sizeof at);
  snprintf(buf, len,
           "the identity provider is throttling token requests for "
           "connection %s: no new token request before %s (in %lld s); "
           "try again then",
           e->nickname, at, (long long)((left + 999) / 1000));
  *detail = json_object_new_object();
  json_object_object_add(*detail, "retry_after_ms",
                         json_object_new_int64(left));
  json_object_object_add(*detail, "retry_at", json_object_new_string(at));
  return buf;
}

static void refresh_token_cb(void *arg, int status, const char *token) {
  op *o = arg;
  (void)token;
  o->waiting_tok = 0;
  if (o->canceled && status == 0)
    status = WFC_ECANCELED;
  const char *state = o->e->state;
  /* On failure the remedy, if any, is on the connection (result). */
  if (status == 0)
    wfc__connmgr_op_finish(o, 0, state, NULL, NULL, " ");
  else if (status == WFC_EKEY) /* the store record does not verify */
    wfc__connmgr_op_finish(o, status, state, NULL, NULL,
                           "connection %s: " WFC_CONN_TAMPERED_WORDS,
                           o->e->nickname);
  else {
    char buf[512];
    json_object *d = NULL;
    const char *why = token_why(o->e, status, buf, sizeof buf, &d);
    wfc__connmgr_op_finish(o, status, state, NULL, d, "%s", why);
    json_object_put(d);
  }
}

static int add_waiter(op *o, int force, token_cb cb) {
  waiter *w = calloc(1, sizeof *w);
  if (w == NULL)
    return WFC_ENOMEM;
  w->cb = cb;
  w->arg = o;
  int rc = entry_want(o->e, w, force);
  if (rc != 0)
    free(w);
  else
    o->waiting_tok = 1;
  return rc;
}

int wfc_connmgr_refresh(wfc_connmgr *m, const char *name, wfc_connmgr_cb cb,
                        void *arg) {
  entry *e;
  int rc = op_entry(m, name, &e);
  if (rc != 0)
    return rc;
  if (cb == NULL)
    return WFC_EINVAL;
  op *o = wfc__connmgr_op_new(m, OP_REFRESH, cb, arg);
  if (o == NULL)
    return WFC_ENOMEM;
  o->e = e;
  rc = add_waiter(o, 1, refresh_token_cb);
  if (rc != 0) {
    o->cb = NULL;
    wfc__connmgr_op_free(o);
  }
  return rc;
}

/* -- test -- */

static void on_test_done(void *arg, wfc_call *call, const wfc_outcome *out) {
  op *o = arg;
  (void)call;
  o->call = NULL;
  if (out->status != 0) {
    wfc__connmgr_op_finish(o, out->status, o->e->state, NULL, out->detail, "%s",
                           out->message);
    return;
  }
  wfc__connmgr_op_finish(o, 0, o->e->state, NULL, out->output, " ");
}

static void test_token_cb(void *arg, int status, const char *token) {
  op *o = arg;
  o->waiting_tok = 0;
  if (status == 0 && o->canceled)
    status = WFC_ECANCELED;
  if (status != 0) {
    if (status == WFC_EKEY)
      wfc__connmgr_op_finish(o, status, o->e->state, NULL, NULL,
                             "connection %s: " WFC_CONN_TAMPERED_WORDS,
                             o->e->nickname);
    else {
      char buf[512];
      json_object *d = NULL;
      const char *why = token_why(o->e, status, buf, sizeof buf, &d);
      wfc__connmgr_op_finish(o, status, o->e->state, NULL, d,
                             "no valid token: %s", why);
      json_object_put(d);
    }
    return;
  }
  json_object *in = entry_hook_input(o->e);
  json_object_object_add(in, "access_token", json_object_new_string(token));
  char id[2 * WFC__CONN_NAME_SIZE];
  snprintf(id, sizeof id, "%s.%s", o->e->plugin, o->e->type);
  wfc_invoke how = {.size = sizeof how, .on_done = on_test_done, .arg = o};
  int rc =
      wfc_runtime_conn_hook(o->m->rt, id, WFC_HOOK_TEST, in, &how, &o->call);
  /* The runtime's call shares its members until the hook has run: cleansed
   * when the op is freed. */
  o->hook_in = in;
  if (rc != 0)
    wfc__connmgr_op_finish(o, rc, o->e->state, NULL, NULL,
                           rc == WFC_ENOTSUP
                               ? "connection type %s has no test hook"
                               : "cannot run the test hook of %s",
                           id);
}

int wfc_connmgr_test(wfc_connmgr *m, const char *name, wfc_connmgr_cb cb,
                     void *arg) {
  entry *e;
  int rc = op_entry(m, name, &e);
  if (rc != 0)
    return rc;
  if (cb == NULL)
    return WFC_EINVAL;
  if ((rc = state_code(e->state)) != 0)
    return rc;
  op *o = wfc__connmgr_op_new(m, OP_TEST, cb, arg);
  if (o == NULL)
    return WFC_ENOMEM;
  o->e = e;
  rc = add_waiter(o, 0, test_token_cb);
  if (rc != 0) {
    o->cb = NULL;
    wfc__connmgr_op_free(o);
  }
  return rc;
}

/* -- revoke and delete -- */

static const char revoked_remedy[] =
    "the connection was revoked: authorize it again to use it";

static void revoke_finish(op *o) {
  entry *e = o->e;
  wfc_connmgr *m = o->m;
  /* Secret params (app configuration such as a client secret) survive so
   * that a reauthorization works; the user's tokens do not. */
  json_object *s = wfc__connmgr_entry_secrets(e);
  json_object *sp = json_take(s, "secret_params");
  wfc__json_cleanse_put(s);
  json_object *keep = NULL;
  if (sp != NULL && json_object_object_length(sp) > 0) {
    keep = json_object_new_object();
    json_object_object_add(keep, "secret_params", sp);
    sp = NULL;
  }
  wfc__json_cleanse_put(sp);
  int rc = wfc__store_conn_wipe_secrets(m->st, e->id);
  wfc__connmgr_entry_drop_secrets(e);
  if (rc == 0 && keep != NULL) {
    char *text = wfc__json_dump_secret(keep);
    if (text != NULL)
      rc = wfc__store_conn_update_secrets(m->st, e->id, text, 0);
    wfc__secret_free(text);
  }
  wfc__json_cleanse_put(keep);
  if (rc != 0) {
    wfc__connmgr_op_finish(o, rc, e->state, NULL, o->revoke_detail,
                           "cannot wipe the secrets of %s: %s", e->nickname,
                           wfc__store_last_error());
    return;
  }
  entry_set_state(e, WFC_CONN_REVOKED, revoked_remedy);
  if (o->kind == OP_DELETE) {
    rc = wfc__store_conn_delete(m->st, e->id);
    if (rc != 0) {
      wfc__connmgr_op_finish(o, rc, e->state, NULL, o->revoke_detail,
                             "cannot delete %s: %s", e->nickname,
                             wfc__store_last_error());
      return;
    }
    e->deleted = 1;
    wfc__connmgr_op_finish(o, 0, "deleted", NULL, o->revoke_detail, " ");
    return;
  }
  wfc__connmgr_op_finish(o, 0, WFC_CONN_REVOKED, revoked_remedy,
                         o->revoke_detail, " ");
}

static void on_revoke_done(void *arg, wfc_call *call, const wfc_outcome *out) {
  op *o = arg;
  (void)call;
  o->call = NULL;
  json_object *d = json_object_new_object();
  if (out->status == 0) {
    const char *remote = wfc__json_str(out->output, "remote");
    json_object_object_add(d, "remote",
                           json_object_new_string(remote ? remote : "none"));
    json_object *det = json_object_object_get(out->output, "detail");
    if (det != NULL)
      json_object_object_add(d, "detail", json_object_get(det));
  } else {
    /* Best effort: the local wipe happens whatever the remote side said. */
    json_object_object_add(d, "remote", json_object_new_string("failed"));
    json_object_object_add(d, "detail", json_object_new_string(out->message));
  }
  o->revoke_detail = d;
  revoke_finish(o);
}

/* Delete of a connection whose store record does not verify (or whose
 * sealed secrets do not open): nothing of it is trusted, so no hook runs
 * (revoke would send its token where the changed record says); the row
 * goes, with its checkpoints and idempotency keys. */
static int delete_unverified(wfc_connmgr *m, const char *name,
                             wfc_connmgr_cb cb, void *arg) {
  wfc__conn_rec r;
  memset(&r, 0, sizeof r);
  int rc = wfc__store_conn_get(m->st, name, &r);
  if (rc != 0 && rc != WFC_EKEY)
    return rc;
  op *o = wfc__connmgr_op_new(m, OP_DELETE, cb, arg);
  if (o == NULL) {
    wfc__conn_rec_clear(&r);
    return WFC_ENOMEM;
  }
  o->revoke_detail = json_object_new_object();
  json_object_object_add(o->revoke_detail, "remote",
                         json_object_new_string("skipped"));
  json_object_object_add(
      o->revoke_detail, "detail",
      json_object_new_string(WFC_CONN_TAMPERED_WORDS
                             ": nothing was sent with it, so its grant was "
                             "not revoked with the service"));
  rc = wfc__store_conn_delete(m->st, r.id);
  if (rc != 0) {
    wfc__connmgr_op_finish(o, rc, NULL, NULL, o->revoke_detail,
                           "cannot delete %s: %s", name,
                           wfc__store_last_error());
  } else {
    entry *e = entry_by_id(m, r.id);
    if (e != NULL) {
      e->deleted = 1;
      wfc__connmgr_entry_drop_secrets(e);
    }
    wfc__connmgr_op_finish(o, 0, "deleted", NULL, o->revoke_detail, " ");
  }
  wfc__conn_rec_clear(&r);
  return 0;
}

static int start_revoke(wfc_connmgr *m, const char *name, op_kind kind,
                        wfc_connmgr_cb cb, void *arg) {
  entry *e;
  if (cb == NULL)
    return WFC_EINVAL;
  int rc = op_entry(m, name, &e);
  if (rc == 0)
    rc = wfc__connmgr_entry_load(e, 1);
  if (rc == WFC_EKEY && kind == OP_DELETE)
    return delete_unverified(m, name, cb, arg);
  if (rc != 0)
    return rc;
  op *o = wfc__connmgr_op_new(m, kind, cb, arg);
  if (o == NULL)
    return WFC_ENOMEM;
  o->e = e;
  /* From now on the token service fails fast, and a refresh in flight
   * drops what it gets. */
  snprintf(e->state, sizeof e->state, "%s", WFC_CONN_REVOKED);
  if (!e->has_creds) {
    o->revoke_detail = json_object_new_object();
    json_object_object_add(o->revoke_detail, "remote",
                           json_object_new_string("none"));
    revoke_finish(o); /* nothing remote: finish now, but deliver later */
    return 0;
  }
  json_object *in = entry_hook_input(e);
  char id[2 * WFC__CONN_NAME_SIZE];
  snprintf(id, sizeof id, "%s.%s", e->plugin, e->type);
  wfc_invoke how = {.size = sizeof how, .on_done = on_revoke_done, .arg = o};
  rc = wfc_runtime_conn_hook(m->rt, id, WFC_HOOK_REVOKE, in, &how, &o->call);
  o->hook_in = in; /* cleansed when the op is freed */
  if (rc != 0) {
    /* The plugin is not loaded or has no hook: still wipe locally. */
    o->revoke_detail = json_object_new_object();
    json_object_object_add(o->revoke_detail, "remote",
                           json_object_new_string("failed"));
    json_object_object_add(o->revoke_detail, "detail",
                           json_object_new_string(wfc_strerror(rc)));
    revoke_finish(o);
  }
  return 0;
}

int wfc_connmgr_revoke(wfc_connmgr *m, const char *name, wfc_connmgr_cb cb,
                       void *arg) {
  return start_revoke(m, name, OP_REVOKE, cb, arg);
}

int wfc_connmgr_delete(wfc_connmgr *m, const char *name, wfc_connmgr_cb cb,
                       void *arg) {
  return start_revoke(m, name, OP_DELETE, cb, arg);
}

/* -- reads -- */

static int list_cb(const wfc__conn_rec *rec, void *arg) {
  json_object_array_add(arg, rec_to_json(rec));
  return 0;
}

int wfc_connmgr_list(wfc_connmgr *m, const char *plugin, json_object **out) {
  if (m == NULL || out == NULL)
    return WFC_EINVAL;
  json_object *arr = json_object_new_array();
  int rc = wfc__store_conn_list(m->st, plugin, list_cb, arr);
  if (rc != 0) {
    json_object_put(arr);
    return rc;
  }
  *out = arr;
  return 0;
}

int wfc_connmgr_show(wfc_connmgr *m, const char *name, json_object **out) {
  if (m == NULL || name == NULL || out == NULL)
    return WFC_EINVAL;
  wfc__conn_rec r;
  memset(&r, 0, sizeof r);
  int rc = wfc__store_conn_get(m->st, name, &r);
  if (rc != 0 && rc != WFC_EKEY) /* a tampered record is shown as such */
    return rc;
  *out = rec_to_json(&r);
  wfc__conn_rec_clear(&r);
  return 0;
}

int wfc_connmgr_open_conn(wfc_connmgr *m, const char *name, wfc_conn **out) {
  if (m == NULL || name == NULL || out == NULL)
    return WFC_EINVAL;
  if (m->closing)
    return WFC_ESTATE;
  wfc__conn_rec r;
  memset(&r, 0, sizeof r);
  entry *e;
  int rc = wfc__connmgr_entry_get(m, name, &e, &r);
  if (rc != 0)
    return rc;
  json_object *info = json_object_new_object();
  json_object_object_add(info, "id", json_object_new_string(r.id));
  json_object_object_add(info, "nickname", json_object_new_string(r.nickname));
  json_object_object_add(info, "plugin", json_object_new_string(r.plugin));
  json_object_object_add(info, "type", json_object_new_string(r.conn_type));
  json_object_object_add(info, "environment",
                         json_object_new_string(r.environment));
  json_object_object_add(info, "account", json_object_new_string(r.account));
  wfc__conn_rec_clear(&r);
  /* Plugins see the full params (secret ones included) like their hooks
   * do; they come from the sealed record, which must open. */
  if ((rc = wfc__connmgr_entry_load(e, 0)) != 0) {
    json_object_put(info);
    return rc;
  }
  json_object *params = wfc__connmgr_entry_hook_params(e);
  rc = wfc_conn_new(m->rt, params, info, &token_ops, e, out);
  json_object_put(params);
  json_object_put(info);
  return rc;
}

struct wfc__store *wfc__connmgr_store(wfc_connmgr *m) {
  return m != NULL && !m->closing ? m->st : NULL;
}

wfc_runtime *wfc__connmgr_runtime(wfc_connmgr *m) {
  return m != NULL ? m->rt : NULL;
}
