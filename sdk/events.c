/* events.c - event card subscriptions: poll from the stored checkpoint,
 * leave out the events accepted before, store each accepted id, advance the
 * checkpoint on acknowledgement (see include/wfc/events.h and
 * docs/events.md).
 *
 * Ownership: a watch owns its copies of the card id, the input, the
 * subscription key, the checkpoints of the batch in hand, and one reference
 * on its wfc_conn; the store and the runtime are borrowed. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, strdup */
#include "events.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "clock.h"
#include "connmgr.h"
#include "lease.h"
#include "log.h"
#include "runtime.h"
#include "store.h"

struct wfc_event_watch {
  wfc_runtime *rt;
  wfc__rt_child child; /* closed by wfc_runtime_shutdown, before managers */
  wfc__store *st;
  wfc_conn *conn;     /* one reference */
  char *conn_id;      /* owned */
  char *card;         /* "plugin.card", owned */
  char *sub_key;      /* canonical input JSON, owned */
  json_object *input; /* owned */
  int64_t window_ms;
  int64_t window_max;
  /* The subscription lease (lease_ms > 0): this watch's holder text
   * (lease.h) and whether it holds the lease now. */
  int64_t lease_ms;
  char holder[WFC__LEASE_HOLDER_SIZE];
  int lease_held;
  /* The fence of the lease's take (wfc__lease.fence) and until when
   * (monotonic) it is surely still this watch's: taken at the start of
   * the take's request plus its length, a clock that counts the time the
   * process was stopped too. */
  int64_t fence;
  int64_t lease_until;
  /* The poll in flight. */
  wfc_call *call; /* valid until on_done returns */
  wfc_event_batch_cb cb;
  void *cb_arg;
  int closing; /* closed while polling: free when the call completes */
  /* The batch in hand (polled, not acknowledged). */
  int have_batch;
  char *from;       /* checkpoint the poll started from (NULL: none) */
  char *next;       /* checkpoint the card returned (NULL: none) */
  int64_t accepted; /* events accepted from the batch */
  /* The fence the batch was polled under: its marks and checkpoint are
   * written only while the lease still carries it (0: no lease). */
  int64_t batch_fence;
};

static int set_err(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int set_err(char *err, size_t errlen, int code, const char *fmt, ...) {
  if (err != NULL && errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return code;
}

/* ---- canonical JSON -------------------------------------------------------
 */

static int cmp_keys(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A copy of v whose objects have their keys in sorted order (json-c keeps
 * insertion order when serializing). New reference. */
static json_object *sorted_copy(json_object *v) {
  if (json_object_is_type(v, json_type_array)) {
    size_t n = json_object_array_length(v);
    json_object *a = json_object_new_array_ext((int)n);
    for (size_t i = 0; i < n; i++)
      json_object_array_add(a, sorted_copy(json_object_array_get_idx(v, i)));
    return a;
  }
  if (!json_object_is_type(v, json_type_object))
    return json_object_get(v);
  size_t n = (size_t)json_object_object_length(v), k = 0;
  const char **keys = calloc(n + 1, sizeof *keys);
  if (keys == NULL)
    return NULL;
  json_object_object_foreach(v, key, val) {
    (void)val;
    keys[k++] = key;
  }
  qsort(keys, k, sizeof *keys, cmp_keys);
  json_object *o = json_object_new_object();
  for (size_t i = 0; i < k; i++)
    json_object_object_add(o, keys[i],
                           sorted_copy(json_object_object_get(v, keys[i])));
  free(keys);
  return o;
}

char *wfc__event_sub_key(json_object *input) {
  json_object *c = sorted_copy(input);
  char *s = strdup(c != NULL ? json_object_to_json_string_ext(
                                   c, JSON_C_TO_STRING_PLAIN |
                                          JSON_C_TO_STRING_NOSLASHESCAPE)
                             : "{}");
  json_object_put(c);
  return s;
}

/* ---- open / close ---------------------------------------------------------
 */

static void batch_clear(wfc_event_watch *w) {
  free(w->from);
  free(w->next);
  w->from = w->next = NULL;
  w->have_batch = 0;
  w->accepted = 0;
}

static void watch_free(wfc_event_watch *w) {
  wfc__runtime_detach(&w->child);
  batch_clear(w);
  /* Another host takes over at its next poll, not after the expiry. */
  if (w->lease_held && wfc__store_sub_lease_release(w->st, w->conn_id, w->card,
                                                    w->sub_key, w->holder) != 0)
    wfc__log(WFC_LOG_WARN, "%s: releasing the subscription lease failed: %s",
             w->card, wfc__store_last_error());
  if (w->conn != NULL)
    wfc_conn_release(w->conn);
  json_object_put(w->input);
  free(w->conn_id);
  free(w->card);
  free(w->sub_key);
  free(w);
}

/* wfc_runtime_shutdown closes a watch the host left open. */
static void close_child(wfc__rt_child *c) {
  wfc_event_watch_close(
      (wfc_event_watch *)(void *)((char *)c -
                                  offsetof(struct wfc_event_watch, child)));
}

int wfc__event_watch_open_at(wfc_runtime *rt, wfc__store *st, wfc_conn *conn,
                             const char *conn_id, const wfc_event_watch_opts *o,
                             wfc_event_watch **out, char *err, size_t errlen) {
  if (rt == NULL || st == NULL || conn_id == NULL || o == NULL || out == NULL ||
      o->size < sizeof(size_t) || o->card == NULL)
    return set_err(err, errlen, WFC_EINVAL,
                   "event watch: runtime, store, connection and card are "
                   "required");
  if (o->input != NULL && !json_object_is_type(o->input, json_type_object))
    return set_err(err, errlen, WFC_EINVAL,
                   "event watch: input must be a JSON object");
  wfc_plugin *p;
  const wfc_card_desc *c;
  int rc = wfc_runtime_find_card(rt, o->card, &p, &c);
  if (rc != 0)
    return set_err(err, errlen, rc,
                   rc == WFC_EEXIST
                       ? "card \"%s\" is ambiguous: name it as plugin.card"
                       : "card \"%s\" not found among the loaded plugins",
                   o->card);
  if (c->kind != WFC_CARD_EVENT)
    return set_err(err, errlen, WFC_EINVAL,
                   "card \"%s\" is an action, not an event card", o->card);
  wfc_event_watch *w = calloc(1, sizeof *w);
  if (w == NULL)
    return set_err(err, errlen, WFC_ENOMEM, "out of memory");
  size_t n = strlen(wfc_plugin_name(p)) + strlen(c->id) + 2;
  w->card = malloc(n);
  if (w->card != NULL)
    snprintf(w->card, n, "%s.%s", wfc_plugin_name(p), c->id);
  w->rt = rt;
  w->st = st;
  w->conn_id = strdup(conn_id);
  w->input =
      o->input != NULL ? sorted_copy(o->input) : json_object_new_object();
  w->sub_key = wfc__event_sub_key(w->input);
  /* Members appended to the options are read only when the caller's
   * struct has them (size-prefixed, append-only like the ABI's). */
  const char *consumer =
      o->size >= offsetof(wfc_event_watch_opts, consumer) + sizeof(char *)
          ? o->consumer
          : NULL;
  if (w->sub_key != NULL && consumer != NULL && *consumer != '\0') {
    /* "consumer input": the input is JSON, so no consumer name can make
     * two keys collide unless both parts are equal. */
    size_t k = strlen(consumer) + strlen(w->sub_key) + 2;
    char *key = malloc(k);
    if (key != NULL)
      snprintf(key, k, "%s %s", consumer, w->sub_key);
    free(w->sub_key);
    w->sub_key = key;
  }
  w->window_ms = o->window_ms > 0 && o->window_ms < (uint64_t)INT64_MAX
                     ? (int64_t)o->window_ms
                     : WFC_EVENT_WINDOW_MS;
  w->window_max = o->window_max > 0 ? o->window_max : WFC_EVENT_WINDOW_MAX;
  uint64_t lease_ms =
      o->size >= offsetof(wfc_event_watch_opts, lease_ms) + sizeof(uint64_t)
          ? o->lease_ms
          : 0;
  w->lease_ms = lease_ms < (uint64_t)INT64_MAX ? (int64_t)lease_ms : 0;
  if (w->lease_ms > 0 &&
      (rc = wfc__lease_holder_new(w->holder, sizeof w->holder)) != 0) {
    watch_free(w);
    return set_err(err, errlen, rc, "event watch: cannot make a lease holder");
  }
  if (w->card == NULL || w->conn_id == NULL || w->input == NULL ||
      w->sub_key == NULL) {
    watch_free(w);
    return set_err(err, errlen, WFC_ENOMEM, "out of memory");
  }
  w->child.order = 0;
  w->child.close = close_child;
  if ((rc = wfc__runtime_attach(rt, &w->child)) != 0) {
    watch_free(w);
    return set_err(err, errlen, rc, "event watch: the runtime is closing");
  }
  if (conn != NULL)
    w->conn = wfc__conn_ref(conn);
  *out = w;
  return 0;
}

int wfc_event_watch_open(wfc_connmgr *m, const wfc_event_watch_opts *o,
                         wfc_event_watch **out, char *err, size_t errlen) {
  if (m == NULL || o == NULL || o->connection == NULL || out == NULL)
    return set_err(err, errlen, WFC_EINVAL,
                   "event watch: manager, options and connection are "
                   "required");
  wfc__store *st = wfc__connmgr_store(m);
  if (st == NULL)
    return set_err(err, errlen, WFC_ESTATE,
                   "event watch: the connection manager is closing");
  wfc_conn *conn = NULL;
  int rc = wfc_connmgr_open_conn(m, o->connection, &conn);
  if (rc == WFC_ENOTFOUND || rc == WFC_EKEY)
    return set_err(err, errlen, rc,
                   rc == WFC_ENOTFOUND
                       ? "no connection \"%s\" (see `wfc connection list`)"
                       : "connection \"%s\": " WFC_CONN_TAMPERED_WORDS,
                   o->connection);
  if (rc != 0)
    return set_err(err, errlen, rc, "cannot open connection \"%s\": %s",
                   o->connection,
                   *wfc_connmgr_open_error() ? wfc_connmgr_open_error()
                                             : wfc_strerror(rc));
  json_object *id = NULL;
  json_object_object_get_ex(wfc_conn_get_info(conn), "id", &id);
  /* The manager's runtime is the one the connection was made on. */
  rc =
      wfc__event_watch_open_at(wfc__connmgr_runtime(m), st, conn,
                               json_object_get_string(id), o, out, err, errlen);
  wfc_conn_release(conn); /* the watch took its own on success */
  return rc;
}

void wfc_event_watch_close(wfc_event_watch *w) {
  if (w == NULL)
    return;
  if (w->call != NULL) {
    w->closing = 1;
    wfc_call_cancel(w->call);
    return;
  }
  watch_free(w);
}

char *wfc_event_watch_checkpoint(wfc_event_watch *w) {
  char *cp = NULL;
  if (w != NULL)
    (void)wfc__store_checkpoint_get(w->st, w->conn_id, w->card, w->sub_key, &cp,
                                    NULL);
  return cp;
}

/* ---- poll ------------------------------------------------------------------
 */

static const char *str_member(json_object *ev, const char *key) {
  json_object *id = NULL;
  if (json_object_is_type(ev, json_type_object) &&
      json_object_object_get_ex(ev, key, &id) &&
      json_object_is_type(id, json_type_string) &&
      json_object_get_string_len(id) > 0)
    return json_object_get_string(id);
  return NULL;
}

/* The dedupe key: "event_id" when the card gives one (an event that can
 * happen more than once to one object, e.g. a message flagged again after
 * an unflag), else the object's "id". */
static const char *event_id(json_object *ev) {
  const char *id = str_member(ev, "event_id");
  return id != NULL ? id : str_member(ev, "id");
}

static void deliver(wfc_event_watch *w, const wfc_event_batch *b) {
  wfc_event_batch_cb cb = w->cb;
  void *arg = w->cb_arg;
  w->cb = NULL;
  w->cb_arg = NULL;
  cb(arg, w, b);
}

static int batch_owned(wfc_event_watch *w);

/* A poll that cannot be handed over: the batch is dropped (fresh, owned,
 * released) and the consumer gets status with message (borrowed). */
static void deliver_failed(wfc_event_watch *w, wfc_event_batch *b,
                           json_object *fresh, int status,
                           const char *message) {
  json_object_put(fresh);
  batch_clear(w);
  b->status = status;
  b->message = message;
  deliver(w, b);
}

static void on_polled(void *arg, wfc_call *call, const wfc_outcome *out) {
  wfc_event_watch *w = arg;
  (void)call;
  w->call = NULL;
  if (w->closing) {
    watch_free(w);
    return;
  }
  wfc_event_batch b = {.status = out->status,
                       .message = out->message,
                       .detail = out->detail,
                       .first = w->from == NULL};
  if (out->status != 0) {
    batch_clear(w);
    deliver(w, &b);
    return;
  }
  json_object *events = NULL, *cp = NULL;
  json_object_object_get_ex(out->output, "events", &events);
  json_object_object_get_ex(out->output, "checkpoint", &cp);
  /* Leave out what the consumer accepted before (a batch polled again
   * after a crash or a missed acknowledgement). */
  json_object *fresh = json_object_new_array();
  size_t n = json_object_array_length(events);
  int rc = 0;
  for (size_t i = 0; i < n && rc >= 0; i++) {
    json_object *ev = json_object_array_get_idx(events, i);
    const char *id = event_id(ev);
    rc = id != NULL
             ? wfc__store_event_seen(w->st, w->conn_id, w->card, w->sub_key, id)
             : 0;
    if (rc == 1)
      b.duplicates++;
    else if (rc == 0)
      json_object_array_add(fresh, json_object_get(ev));
  }
  if (rc < 0) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s: reading the events seen failed: %s", w->card,
             wfc__store_last_error());
    deliver_failed(w, &b, fresh, rc, msg);
    return;
  }
  w->have_batch = 1;
  w->accepted = 0;
  if (cp != NULL && (w->next = strdup(json_object_get_string(cp))) == NULL) {
    deliver_failed(w, &b, fresh, WFC_ENOMEM, "out of memory");
    return;
  }
  if (b.duplicates > 0)
    wfc__log(WFC_LOG_INFO,
             "%s: %zu event(s) delivered before left out (a batch polled "
             "again before its acknowledgement)",
             w->card, b.duplicates);
  /* The poll may have outlasted the lease (this process stalled): a batch
   * another watcher now delivers is not handed over here. */
  if ((rc = batch_owned(w)) != 0) {
    char msg[512];
    if (rc == WFC_ESTALE)
      snprintf(msg, sizeof msg,
               "%s: the subscription lease was lost while polling; the "
               "watcher that took it over delivers these events (%s)",
               w->card, wfc__store_last_error());
    else
      snprintf(msg, sizeof msg,
               "%s: cannot check the subscription lease; the events are "
               "polled again: %s",
               w->card, wfc__store_last_error());
    deliver_failed(w, &b, fresh, rc, msg);
    return;
  }
  b.events = fresh;
  deliver(w, &b);
  json_object_put(fresh);
}

/* Takes or renews the subscription lease (the heartbeat): 0, WFC_EBUSY
 * when another live watcher holds it, or a store error. A holder on this
 * host whose process is gone is released and the lease taken at once, as
 * the refresh lease does (connmgr.c); one on another host only expires. */
static int lease_renew(wfc_event_watch *w) {
  wfc__lease cur;
  int64_t start = wfc__monotonic_ms();
  int rc = wfc__store_sub_lease_take(w->st, w->conn_id, w->card, w->sub_key,
                                     w->holder, w->lease_ms, &cur);
  if (rc == WFC_EBUSY && cur.holder[0] != '\0' &&
      wfc__lease_holder_gone(cur.holder)) {
    wfc__log(WFC_LOG_INFO,
             "%s: the subscription's watcher %s is gone: taking over", w->card,
             cur.holder);
    (void)wfc__store_sub_lease_release(w->st, w->conn_id, w->card, w->sub_key,
                                       cur.holder);
    rc = wfc__store_sub_lease_take(w->st, w->conn_id, w->card, w->sub_key,
                                   w->holder, w->lease_ms, &cur);
  }
  if (rc == 0 && !w->lease_held)
    wfc__log(WFC_LOG_INFO, "%s: this watcher holds the subscription now",
             w->card);
  w->lease_held = rc == 0;
  if (rc == 0) {
    w->fence = cur.fence;
    w->lease_until = start + w->lease_ms;
  }
  return rc;
}

/* 0 while the batch in hand was polled under the lease this watch still
 * holds (or there is no lease), WFC_ESTALE once another watcher took it
 * over (this one stalled past its expiry): its events are that one's to
 * deliver. Asks the store only when the lease may have run out (a third
 * of its length left, by the monotonic clock). */
static int batch_owned(wfc_event_watch *w) {
  if (w->lease_ms <= 0 || w->batch_fence == 0)
    return 0;
  if (w->lease_held && w->fence == w->batch_fence &&
      wfc__monotonic_ms() < w->lease_until - w->lease_ms / 3)
    return 0;
  int rc = lease_renew(w);
  if (rc == 0 && w->fence == w->batch_fence)
    return 0;
  if (rc != 0 && rc != WFC_EBUSY)
    return rc; /* the store is unreachable: nothing may be decided */
  return wfc__store_lease_lost(w->conn_id, w->card, w->batch_fence);
}

int wfc_event_watch_poll(wfc_event_watch *w, wfc_event_batch_cb cb, void *arg) {
  if (w == NULL || cb == NULL)
    return WFC_EINVAL;
  if (w->call != NULL || w->closing)
    return WFC_EBUSY;
  batch_clear(w);
  int rc;
  if (w->lease_ms > 0 && (rc = lease_renew(w)) != 0)
    return rc;
  w->batch_fence = w->lease_ms > 0 ? w->fence : 0;
  rc = wfc__store_checkpoint_get(w->st, w->conn_id, w->card, w->sub_key,
                                 &w->from, NULL);
  if (rc != 0 && rc != WFC_ENOTFOUND)
    return rc;
  wfc_invoke how = {.size = sizeof how,
                    .conn = w->conn,
                    .checkpoint = w->from,
                    .on_done = on_polled,
                    .arg = w};
  w->cb = cb;
  w->cb_arg = arg;
  rc = wfc_runtime_invoke(w->rt, w->card, w->input, &how, &w->call);
  if (rc != 0) {
    w->call = NULL;
    w->cb = NULL;
    batch_clear(w);
  }
  return rc;
}

/* ---- accept / ack ----------------------------------------------------------
 */

int wfc_event_watch_accept(wfc_event_watch *w, json_object *event) {
  if (w == NULL || event == NULL)
    return WFC_EINVAL;
  if (!w->have_batch)
    return WFC_ESTATE;
  const char *id = event_id(event);
  /* Fenced: a watch whose lease was taken over records nothing more. */
  wfc__fence f = {w->holder, w->batch_fence};
  int rc =
      id != NULL
          ? wfc__store_event_mark_fenced(w->st, w->conn_id, w->card, w->sub_key,
                                         id, w->batch_fence != 0 ? &f : NULL)
          : batch_owned(w);
  if (rc == WFC_EEXIST)
    rc = 0; /* accepted twice by the consumer: one record */
  if (rc == 0)
    w->accepted++;
  return rc;
}

int wfc_event_watch_holds(wfc_event_watch *w) {
  if (w == NULL)
    return WFC_EINVAL;
  if (!w->have_batch)
    return WFC_ESTATE;
  return batch_owned(w);
}

int wfc_event_watch_ack(wfc_event_watch *w) {
  if (w == NULL)
    return WFC_EINVAL;
  if (!w->have_batch)
    return WFC_ESTATE;
  int rc = 0;
  /* The heartbeat of a long batch; lost to another watcher meanwhile (this
   * one stalled past the lease), the fenced compare-and-set below writes
   * nothing (WFC_ESTALE). */
  if (w->lease_ms > 0 && lease_renew(w) != 0)
    wfc__log(WFC_LOG_WARN, "%s: the subscription lease was lost: %s", w->card,
             wfc__store_last_error());
  wfc__fence f = {w->holder, w->batch_fence};
  if (w->next != NULL)
    rc = wfc__store_checkpoint_cas_fenced(
        w->st, w->conn_id, w->card, w->sub_key, w->from, w->next, w->accepted,
        w->batch_fence != 0 ? &f : NULL);
  if (rc == 0) {
    int purged = 0;
    if (wfc__store_events_purge(w->st, w->conn_id, w->card, w->sub_key,
                                wfc__now_ms() - w->window_ms, w->window_max,
                                &purged) != 0)
      wfc__log(WFC_LOG_WARN, "%s: trimming the events seen failed: %s", w->card,
               wfc__store_last_error());
    batch_clear(w);
  } else {
    wfc__log(WFC_LOG_WARN, "%s: checkpoint not stored: %s", w->card,
             wfc__store_last_error());
    batch_clear(w);
  }
  return rc;
}
