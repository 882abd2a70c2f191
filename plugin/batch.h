/* batch.h - many Graph requests through JSON batching (POST /$batch).
 *
 * o365_batch_run() sends a list of requests (items) in batches of at most
 * O365_BATCH_MAX (Graph's limit, 20), one batch at a time per call, and
 * calls back once with a result per item:
 *   - each batch is one o365_graph_send (token, 401 refresh, 429/503 of the
 *     whole batch waited out as for any request);
 *   - an item may depend on an earlier one (depends_on: a message is
 *     marked read before it is moved, as the move gives it a new id): it
 *     goes in a batch after its dependency's answer, and ends 424 without
 *     being sent when that one failed. Not "dependsOn" inside one batch:
 *     Graph takes a batch only fully parallel, fully serial, or with every
 *     dependent naming the same request (known issue of JSON batching;
 *     the emulator refuses other shapes), and per-message pairs are none
 *     of these; a serial chain would also make one missing message fail
 *     every later one (424). Independent items share batches;
 *   - an item answered 429 or 503 (Outlook throttles items of a batch
 *     separately; graph-protocol.md B.9) was not processed: it goes again
 *     in a later batch after the longest Retry-After of its batch (or a
 *     backoff), at most O365_GRAPH_MAX_ATTEMPTS times, then keeps that
 *     status as its result;
 *   - one batch at a time per call, in the gate of its first item's
 *     mailbox (graph.h: per-mailbox concurrency and Retry-After pauses);
 *     Outlook runs up to 4 items of a batch at once per mailbox (its
 *     concurrency limit). All items of one run address one mailbox.
 * A batch that fails as a whole gives its items that error (outcome
 * unknown for the items that are not safe to repeat, when the batch may
 * have run).
 *
 * Memory: items and their strings are copied; results are borrowed by the
 * callback (valid during it). */
#ifndef O365_BATCH_H
#define O365_BATCH_H

#include <stddef.h>

#include <wfc/plugin.h>

#include "graph.h"

struct json_object;

#define O365_BATCH_MAX 20

typedef struct o365_batch_item {
  const char *method; /* "GET", "PATCH", "POST", "DELETE" */
  const char *url;    /* relative to the version: "/me/messages/{id}?..." */
  struct json_object *body; /* JSON body (borrowed during the call), NULL */
  int depends_on;           /* index of an earlier item, or -1 */
} o365_batch_item;

typedef struct o365_batch_result {
  int status;               /* the item's HTTP status; 0: never answered */
  struct json_object *body; /* its JSON body, or NULL */
  int error;                /* 0 for 2xx; else a WFC_E* code */
  const char *message;      /* why, when error != 0 */
  o365_graph_err gerr;      /* Graph's code and message for >= 400 */
  int outcome_unknown;      /* the batch broke: may have been done */
} o365_batch_result;

/* cb runs exactly once, later, with n results in the order of items;
 * status: 0, or the code of a failure that ended everything (canceled,
 * no token, out of memory) - every result then says so too. */
typedef void (*o365_batch_cb)(void *arg, int status,
                              const o365_batch_result *results, size_t n);

/* Starts the batches for call (borrowed; open until cb); n >= 1. Returns
 * 0, or a negative code when nothing started (cb never runs). */
int o365_batch_run(wfc_call *call, const o365_batch_item *items, size_t n,
                   o365_batch_cb cb, void *arg);

/* A run's items with their URLs built in place, for the bulk cards:
 * o365_batch_list_init, then per item o365_batch_list_set (returns the
 * item's URL buffer to build), then o365_batch_list_run, which sends them
 * and frees the list whatever happens. */
typedef struct o365_batch_list {
  o365_batch_item *items; /* owned */
  o365_buf *paths;        /* owned: items[i]'s URL */
  size_t n;
} o365_batch_list;

/* n >= 1 items. 0 or WFC_ENOMEM (l then holds nothing to free). */
int o365_batch_list_init(o365_batch_list *l, size_t n);
/* Item i: method, body (borrowed until the run starts), depends_on.
 * Returns its URL buffer (initialised, empty) to build the URL in. */
o365_buf *o365_batch_list_set(o365_batch_list *l, size_t i, const char *method,
                              struct json_object *body, int depends_on);
/* o365_batch_run on the list (WFC_ENOMEM when a URL ran out of memory),
 * then frees it. Returns o365_batch_run's code. */
int o365_batch_list_run(o365_batch_list *l, wfc_call *call, o365_batch_cb cb,
                        void *arg);
/* Fails call after a run that ended everything (status != 0): "{what}
 * failed: {the first result's message}". */
void o365_batch_fail(wfc_call *call, int status, const char *what,
                     const o365_batch_result *results, size_t n);

/* {"status","code","message"} of a failed item (new object). */
struct json_object *o365_batch_error_json(const o365_batch_result *r);

#endif
