/* events.h - event card subscriptions (private parts; the public API is
 * include/wfc/events.h, the design docs/events.md). */
#ifndef WFC_SDK_EVENTS_H
#define WFC_SDK_EVENTS_H

#include <stddef.h>

#include "wfc/events.h"

struct wfc__store;

/* The watch without a connection manager: rt runs the card, st (borrowed;
 * must outlive the watch) keeps the checkpoint and the events seen under
 * conn_id (a connection row of st), conn (a reference is taken) is what the
 * card calls with. o->connection is ignored. wfc_event_watch_open is this
 * with the manager's store and connection. */
int wfc__event_watch_open_at(wfc_runtime *rt, struct wfc__store *st,
                             wfc_conn *conn, const char *conn_id,
                             const wfc_event_watch_opts *o,
                             wfc_event_watch **out, char *err, size_t errlen);

/* The subscription key of an input: its canonical JSON (object keys
 * sorted at every level, no spaces). Transfer (free()); NULL on OOM. */
char *wfc__event_sub_key(struct json_object *input);

#endif
