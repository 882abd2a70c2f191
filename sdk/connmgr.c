/* connmgr.c - see wfc/connections.h and docs/connections-sdk.md.
 *
 * The connection manager's core: its objects, open and close, the kick,
 * refresh / test / revoke / delete and the reads. The token service
 * (entries, refresh, refresh leases) is in connmgr_token.c, authorization
 * in connmgr_auth.c; what the files share (the structs, a few
 * wfc__connmgr_* functions) in connmgr_int.h.
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

void wfc__connmgr_iso_time(int64_t ms, char *buf, size_t len) {
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
  wfc__connmgr_iso_time(ms, b, sizeof b);
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

/* Takes member key out of s (transfer; NULL when absent). */
json_object *wfc__connmgr_json_take(json_object *s, const char *key) {
  json_object *v = NULL;
  if (json_object_object_get_ex(s, key, &v)) {
    json_object_get(v);
    json_object_object_del(s, key);
  }
  return v;
}

int wfc__connmgr_state_code(const char *state) {
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

static void op_deliver(struct op *o);

/* conn's info (borrowed) says until when its token requests are
 * throttled: "token_retry_at_ms" (wfc__now_ms time) while retry_at is in
 * the future, absent otherwise; and why a refresh just failed:
 * "token_error" (the refresh hook's words) with a failed delivery that
 * has them, absent otherwise. The connection manager made the info
 * object (wfc_connmgr_open_conn) and changes it only on the loop, before
 * the call's token callback runs: the plugin reads it there to say when
 * to retry and why (docs/abi.md, conn_info). */
static void conn_note(wfc_conn *conn, int64_t retry_at, const char *why) {
  json_object *info = conn != NULL ? wfc_conn_get_info(conn) : NULL;
  if (info == NULL)
    return;
  if (retry_at > wfc__now_ms())
    json_object_object_add(info, "token_retry_at_ms",
                           json_object_new_int64(retry_at));
  else
    json_object_object_del(info, "token_retry_at_ms");
  if (why != NULL)
    json_object_object_add(info, "token_error", json_object_new_string(why));
  else
    json_object_object_del(info, "token_error");
}

/* Runs w's callback, its connection's info set first; releases w's
 * reference to the connection (w itself is the caller's to free). */
void wfc__connmgr_waiter_deliver(waiter *w, int status, const char *token,
                                 int64_t retry_at, const char *why) {
  wfc_conn *conn = w->conn;
  w->conn = NULL;
  conn_note(conn, retry_at, status != 0 ? why : NULL);
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
    wfc__connmgr_waiter_deliver(w, w->status, w->status == 0 ? w->token : NULL,
                                w->retry_at, NULL);
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
  wfc__connmgr_maybe_finish(m);
}

static void kick(wfc_connmgr *m) {
  if (!m->kick_armed && !m->kick_closing) {
    m->kick_armed = 1;
    uv_timer_start(&m->kick, on_kick, 0, 0);
  }
}

/* Queues a delivery for the next loop iteration. token is copied.
 * retry_at: the entry's (see entry.retry_at). */
void wfc__connmgr_ready_push(wfc_connmgr *m, waiter *w, int status,
                             const char *token, int64_t retry_at) {
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

void wfc__connmgr_maybe_finish(wfc_connmgr *m) {
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
  wfc__connmgr_lease_timer_arm(
      m); /* waits for other holders end (WFC_ECANCELED) */
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
  wfc__connmgr_iso_time(e->retry_at, at, sizeof at);
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
  int rc = wfc__connmgr_entry_want(o->e, w, force);
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
  json_object *in = wfc__connmgr_entry_hook_input(o->e);
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
  if ((rc = wfc__connmgr_state_code(e->state)) != 0)
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
  json_object *sp = wfc__connmgr_json_take(s, "secret_params");
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
  wfc__connmgr_entry_set_state(e, WFC_CONN_REVOKED, revoked_remedy);
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
    entry *e = wfc__connmgr_entry_by_id(m, r.id);
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
  json_object *in = wfc__connmgr_entry_hook_input(e);
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

/* Why the calling thread's last open_conn failed (wfc_connmgr_open_error). */
static _Thread_local char open_err[512];

const char *wfc_connmgr_open_error(void) {
  return open_err;
}

/* rc, after keeping the store's words for it (the store call that failed
 * cleared them when it started: they are its own). */
static int open_failed(int rc) {
  snprintf(open_err, sizeof open_err, "%s", wfc__store_last_error());
  return rc;
}

int wfc_connmgr_open_conn(wfc_connmgr *m, const char *name, wfc_conn **out) {
  open_err[0] = '\0';
  if (m == NULL || name == NULL || out == NULL)
    return WFC_EINVAL;
  if (m->closing)
    return WFC_ESTATE;
  wfc__conn_rec r;
  memset(&r, 0, sizeof r);
  entry *e;
  int rc = wfc__connmgr_entry_get(m, name, &e, &r);
  if (rc != 0)
    return open_failed(rc);
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
    return open_failed(rc);
  }
  json_object *params = wfc__connmgr_entry_hook_params(e);
  rc = wfc_conn_new(m->rt, params, info, &wfc__connmgr_token_ops, e, out);
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
