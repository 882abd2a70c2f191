/* wfc/events.h - event card subscriptions for a host: poll an EVENT card,
 * hand the new events to the consumer (a flow), acknowledge.
 *
 * A watch is one subscription: (connection, card, input). Its checkpoint
 * (for new_email, a Graph delta link) lives in the connection manager's
 * store, keyed by the connection id, the card ("plugin.card"), the consumer
 * and the input as canonical JSON (keys sorted), so two watches with the
 * same consumer and input share it and different ones do not.
 *
 *   wfc_event_watch *w;
 *   wfc_event_watch_opts o = {sizeof o, .card = "o365mail.new_email",
 *                             .connection = "work", .input = input};
 *   wfc_event_watch_open(m, &o, &w, err, sizeof err);
 *   wfc_event_watch_poll(w, on_batch, ctx);   // on_batch later, once
 *   // in on_batch: for each event, run the flow, then
 *   //   wfc_event_watch_accept(w, event);    // durable before it returns
 *   // and when the whole batch is handled:
 *   //   wfc_event_watch_ack(w);              // the checkpoint advances
 *   wfc_event_watch_close(w);
 *
 * Guarantees (docs/events.md):
 *   - the checkpoint advances only in wfc_event_watch_ack, after the host
 *     accepted the batch; a crash before that polls the same changes again
 *     (at least once from the card);
 *   - every accepted event id is stored before accept returns, and a batch
 *     delivered again leaves out the ids accepted before (within the
 *     window: window_ms and window_max), so the consumer sees each event
 *     once across restarts and crashes;
 *   - an event is known by its string "event_id" member when it has one
 *     (a card whose events can happen more than once to one object, e.g.
 *     a message flagged, unflagged and flagged again), else by its "id";
 *     events with neither cannot be deduplicated and are always
 *     delivered.
 *
 * Everything runs on the runtime's loop thread; the store writes are
 * synchronous (synchronous=FULL). Callbacks follow libuv's rule: a non-zero
 * return means the callback never runs. */
#ifndef WFC_EVENTS_H
#define WFC_EVENTS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "connections.h"
#include "host.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_object;

typedef struct wfc_event_watch wfc_event_watch;

/* Defaults of the dedupe window. */
#define WFC_EVENT_WINDOW_MS  (7LL * 24 * 3600 * 1000)
#define WFC_EVENT_WINDOW_MAX 10000

typedef struct wfc_event_watch_opts {
  size_t size;               /* sizeof(wfc_event_watch_opts) */
  const char *card;          /* "plugin.card" or "card": an EVENT card */
  const char *connection;    /* id or nickname */
  struct json_object *input; /* card input (borrowed; copied); NULL: {} */
  uint64_t window_ms;        /* accepted ids kept this long; 0: 7 days */
  uint32_t window_max;       /* and at most this many; 0: 10,000 */
  /* Who takes the events (e.g. "flow:triage"), or NULL. Part of the
   * subscription key: two consumers of the same card and input keep their
   * own checkpoints and never take each other's events. */
  const char *consumer;
  /* Fleet mode (docs/fleet.md, "Triggers shared by a fleet"): > 0 makes
   * the watch take the subscription's lease in the store for this long at
   * each poll and ack (its heartbeat), so that of several watchers of one
   * subscription in any processes sharing the store only the holder polls;
   * the others' polls fail with WFC_EBUSY until it stops (released at
   * close), dies (on this host: at once; elsewhere: once the lease
   * expired) or stops renewing. Make it longer than the time between
   * polls. 0: no lease (every watcher polls; the checkpoint's
   * compare-and-set still keeps it from going backwards). */
  uint64_t lease_ms;
} wfc_event_watch_opts;

/* Opens a watch on m's connection (m borrowed: close the watch before the
 * manager, or leave both to wfc_runtime_shutdown, which closes watches
 * first). Fails with WFC_ENOTFOUND (card or connection), WFC_EINVAL (not
 * an EVENT card, input not an object), WFC_ESTATE (manager closing); err
 * (may be NULL) gets one line naming the cause. *out is the caller's. */
WFC_EXTERN int wfc_event_watch_open(wfc_connmgr *m,
                                    const wfc_event_watch_opts *o,
                                    wfc_event_watch **out, char *err,
                                    size_t errlen);

/* One poll's result, borrowed during the callback. */
typedef struct wfc_event_batch {
  int status;                 /* 0 or a negative WFC_E* code */
  const char *message;        /* why, when status != 0 */
  struct json_object *detail; /* on failure, may be NULL */
  /* The events not accepted before, in the card's order (array, never
   * NULL on success). json_object_get to keep one. */
  struct json_object *events;
  size_t duplicates; /* events left out: accepted before */
  int first;         /* no checkpoint was stored before this poll */
} wfc_event_batch;

typedef void (*wfc_event_batch_cb)(void *arg, wfc_event_watch *w,
                                   const wfc_event_batch *b);

/* Runs the card once from the stored checkpoint (NULL the first time).
 * cb runs exactly once, later. WFC_EBUSY when a poll is in flight, or with
 * lease_ms when another watcher holds the subscription's lease (nothing
 * was run: poll again later). A batch not acknowledged is simply polled
 * again (its accepted events left out). */
WFC_EXTERN int wfc_event_watch_poll(wfc_event_watch *w, wfc_event_batch_cb cb,
                                    void *arg);

/* The consumer has taken event (one of the last batch's, borrowed): its id
 * is stored before this returns. 0, or a store error; WFC_ESTALE (nothing
 * recorded) when the subscription lease the batch was polled under was
 * taken over (wfc_event_watch_holds). An event without an id is accepted
 * without a record. */
WFC_EXTERN int wfc_event_watch_accept(wfc_event_watch *w,
                                      struct json_object *event);

/* Before handing the next event of the last batch to its consumer: 0
 * while the batch is still this watch's (no lease, or the subscription
 * lease it was polled under is still held); WFC_ESTALE once another
 * watcher took the lease over (this process stalled past its expiry:
 * stopped, swapped, paused): stop handing the batch over, that watcher
 * delivers it; accept and ack then refuse too (WFC_ESTALE). Asks the
 * store only when the lease may have run out. Fencing: docs/fleet.md,
 * "Triggers shared by a fleet". */
WFC_EXTERN int wfc_event_watch_holds(wfc_event_watch *w);

/* The whole last batch is handled: stores its checkpoint if the stored one
 * is still the one the poll started from (WFC_ESTALE otherwise: another
 * watcher advanced it, or took the subscription lease over; nothing is
 * written), then trims the window.
 * WFC_ESTATE when there is no batch to acknowledge. */
WFC_EXTERN int wfc_event_watch_ack(wfc_event_watch *w);

/* The checkpoint stored for the watch (transfer, free()), or NULL. */
WFC_EXTERN char *wfc_event_watch_checkpoint(wfc_event_watch *w);

/* Frees the watch, releasing its subscription lease if it holds one. A
 * poll in flight is canceled; its callback does not run. A watch left
 * open is closed this way by wfc_runtime_shutdown. */
WFC_EXTERN void wfc_event_watch_close(wfc_event_watch *w);

#ifdef __cplusplus
}
#endif
#endif
