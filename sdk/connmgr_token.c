/* connmgr_token.c - the connection manager's token service: the entries
 * (one per connection used in this process: its opened secrets, token
 * copies and waiters), the wfc_conn_ops every wfc_conn it opens gets
 * (conn_token with single-flight refresh, conn_token_rejected, the
 * idempotency claims), and the refresh leases that make that single
 * flight one refresh at a time across processes.
 *
 * Across processes sharing the store, a refresh runs under the
 * connection's refresh lease (store.h): the single flight of one process
 * becomes one refresh at a time for every process. A process that finds
 * the lease held waits (the lease timer polls the store) for either the
 * rotated credentials, which it then uses without refreshing, or the
 * lease's release or expiry, after which it takes the lease itself. See
 * docs/connections-sdk.md, "Across processes".
 *
 * Part of the connection manager (connmgr_int.h; who owns what:
 * connmgr.c); everything here runs on the loop thread.
 */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, strdup */
#include "connmgr_int.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <uv.h>

#include "clock.h"
#include "crypto.h"
#include "json.h"
#include "json_secret.h"
#include "lease.h"
#include "log.h"
#include "runtime.h"
#include "secmem.h"
#include "store.h"

/* ---- token copies ----------------------------------------------------------
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

entry *wfc__connmgr_entry_by_id(const wfc_connmgr *m, const char *id) {
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
  entry *e = wfc__connmgr_entry_by_id(m, r.id);
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
  /* A refresh run under a lease saves fenced by it, even once the lease
   * is known lost: then the store refuses (WFC_ESTALE). */
  int rc = e->lease_held || e->lease_fence != 0
               ? wfc__store_conn_rotate(m->st, e->id, e->sealed, e->expires_ms,
                                        m->holder, e->lease_fence, &released)
               : wfc__store_conn_update_secrets(m->st, e->id, e->sealed,
                                                e->expires_ms);
  if (rc == WFC_ESTALE) {
    /* This process stalled (stopped, swapped, paused) past its lease and
     * another took it over since: that one's tokens (saved, or to come)
     * are newer. What this refresh got is dropped, the store read again. */
    wfc__log(WFC_LOG_WARN,
             "connection %s: %s; the tokens this refresh got are dropped and "
             "the stored ones used",
             e->nickname, wfc__store_last_error());
    e->lease_held = 0;
    e->lease_fence = 0;
    e->dirty = 0;
    int lrc = wfc__connmgr_entry_load(e, 1);
    return lrc != 0 ? lrc : WFC_ESTALE;
  }
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
  e->lease_fence = 0;
  e->dirty = 0;
  return 0;
}

void wfc__connmgr_entry_set_state(entry *e, const char *state,
                                  const char *remedy) {
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
    wfc__connmgr_waiter_deliver(w, status, status == 0 ? tok : NULL,
                                e->retry_at, status != 0 ? e->why : NULL);
    free(w);
    w = next;
  }
  if (tok != NULL)
    wfc__secret_free(tok);
}

static void on_refresh_done(void *arg, wfc_call *call, const wfc_outcome *out);

/* The input of a hook that needs the credentials: {"params", "credentials"}
 * (transfer; cleanse it once the hook is done). */
json_object *wfc__connmgr_entry_hook_input(entry *e) {
  json_object *s = wfc__connmgr_entry_secrets(e);
  json_object *in = json_object_new_object();
  json_object_object_add(in, "params", wfc__connmgr_entry_hook_params(e));
  json_object_object_add(in, "credentials",
                         wfc__connmgr_json_take(s, "credentials"));
  wfc__json_cleanse_put(s);
  return in;
}

static int entry_start_refresh(entry *e) {
  wfc_connmgr *m = e->m;
  json_object *in = wfc__connmgr_entry_hook_input(e);
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
  e->lease_fence = 0; /* the refresh it fenced is over */
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
  e->lease_fence = cur.fence;
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
  if (e->dirty && !e->refreshing) {
    int prc = entry_persist(e);
    if (prc == 0 || prc == WFC_ESTALE)
      return;
  }
  wfc__lease cur;
  int rc = wfc__store_lease_take(m->st, e->id, m->holder, WFC__REFRESH_LEASE_MS,
                                 &cur);
  if (rc == WFC_EBUSY && cur.holder[0] != '\0') {
    wfc__log(WFC_LOG_WARN,
             "connection %s: the refresh lease expired and %s took it over",
             e->nickname, cur.holder);
    e->lease_held = 0; /* lease_fence kept: the save is refused */
    return;
  }
  if (rc == 0 && cur.fence != e->lease_fence) {
    /* Taken over and freed again while this process did not run: the
     * take just made is a new lease, not the one the refresh started
     * under. Given back; the refresh's save is refused (lease_fence). */
    wfc__log(WFC_LOG_WARN,
             "connection %s: the refresh lease was taken over by another "
             "process while this one did not run",
             e->nickname);
    e->lease_held = 0;
    if (wfc__store_lease_release(m->st, e->id, m->holder) != 0)
      wfc__log(WFC_LOG_WARN,
               "connection %s: cannot release the refresh lease (it expires "
               "by itself): %s",
               e->nickname, wfc__store_last_error());
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
  wfc__connmgr_lease_timer_arm(m);
  wfc__connmgr_maybe_finish(m);
}

/* Arms the lease timer for the earliest entry due, or stops it. */
void wfc__connmgr_lease_timer_arm(wfc_connmgr *m) {
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
int wfc__connmgr_entry_want(entry *e, waiter *w, int force) {
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
  if (e->dirty) {
    rc = entry_persist(e);
    if (rc != 0 && rc != WFC_ESTALE) /* ESTALE: the store's were loaded */
      return WFC_ESTORE;             /* never hand out what is not saved */
  }
  if (!force && entry_fresh(e)) {
    wfc__connmgr_ready_push(e->m, w, 0, e->access, e->retry_at);
    return 0;
  }
  int step;
  rc = lease_step(e, force, &step);
  if (rc == WFC_ETHROTTLED) {
    /* Delivered like any token outcome, so the caller learns it through
     * its callback, with the connection's info saying until when. */
    wfc__connmgr_ready_push(e->m, w, rc, NULL, e->retry_at);
    return 0;
  }
  if (rc != 0)
    return rc;
  if (step == LEASE_ADOPTED) {
    wfc__connmgr_ready_push(e->m, w, 0, e->access, e->retry_at);
    return 0;
  }
  if (step == LEASE_WAIT)
    lease_wait_start(e, force);
  *e->wtail = w;
  e->wtail = &w->next;
  wfc__connmgr_lease_timer_arm(e->m);
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
  wfc__connmgr_iso_time(e->retry_at, at, sizeof at);
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
  int status = out->status, rewait = 0;
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
    } else if (prc == WFC_ESTALE) {
      /* Fenced out (entry_persist): the store's tokens, saved by the
       * process that took the lease over, serve the waiters; not saved
       * yet (it still refreshes), they wait for it. */
      rewait = !entry_fresh(e);
      status = 0;
    } else if (prc != 0) {
      status = prc == WFC_EREAUTH ? prc : WFC_ESTORE;
    } else {
      m->stats.rotations_saved++;
      if (strcmp(e->state, WFC_CONN_CONNECTED) != 0)
        wfc__connmgr_entry_set_state(e, WFC_CONN_CONNECTED, "");
    }
  } else if (status == WFC_EREAUTH) {
    /* No retry loop: the state makes later requests fail fast. Its
     * remedy (the hook's words) is on the connection, shown with it. */
    wfc__connmgr_entry_set_state(
        e, WFC_CONN_REAUTHORIZATION_REQUIRED,
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
  if (rewait) {
    lease_wait_start(e, e->wait_force);
    wfc__connmgr_lease_timer_arm(m);
    return;
  }
  wfc__connmgr_lease_timer_arm(m);
  wfc__connmgr_entry_complete(e, status);
  e->why = NULL;
  wfc__connmgr_maybe_finish(m);
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
  int rc = wfc__connmgr_state_code(e->state);
  if (rc != 0)
    return rc; /* fail fast: the remedy is on the connection */
  waiter *w = calloc(1, sizeof *w);
  if (w == NULL)
    return WFC_ENOMEM;
  w->cb = cb;
  w->arg = arg;
  w->conn = wfc__conn_ref(conn);
  rc = wfc__connmgr_entry_want(e, w, 0);
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

const wfc_conn_ops wfc__connmgr_token_ops = {
    .size = sizeof(wfc_conn_ops),
    .token = tok_token,
    .token_rejected = tok_rejected,
    .claim = tok_claim,
    .claim_sent = tok_claim_sent,
    .claim_release = tok_claim_release,
};
