/* email_flagged.c - Email Flagged (event): each time a message in a folder
 * becomes flagged (flag.flagStatus changes to "flagged"), once per
 * flagging: unflagged and flagged again is a new event.
 * Graph: GET {mb}/mailFolders/{f}/messages/delta?$select=... (no
 * changeType: Graph reports every message created or changed since the
 * last round with its current properties, and the @removed ones), then
 * the links Graph gives (plugin/delta.h).
 *
 * Graph says that a message changed, not what changed, so the card keeps
 * the ids of the folder's flagged messages in its checkpoint: a message
 * reported flagged that is not among them is a new flagging; one reported
 * not flagged, or removed, leaves them. The checkpoint (stored by the host
 * only after it accepted the events) is JSON: {"v":1,"folder":id,
 * "link":deltaLink or nextLink,"round":k,"flagged":[ids]}. Each event's
 * "event_id" (the host's dedupe key, docs/abi.md section 5) is
 * "{id}/flagged/{k}", k the round of the checkpoint the poll started
 * from: a poll repeated from the same checkpoint (a crash before the ack)
 * finds the same flaggings with the same ids, which the host leaves out;
 * a later flagging of the same message has a later round.
 *
 * The first poll reads the whole folder once (the baseline: what is
 * flagged already is not an event) and delivers nothing. An expired delta
 * link reads the whole folder again: flagged now and not in the list are
 * the flaggings missed meanwhile; the list becomes what is flagged now. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "entry.h"
#include "message.h"
#include "trigger.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    O365_FIELD_WATCH_FOLDER,
    O365_FIELD_PAGE_SIZE,
    O365_FIELD_MAX_EVENTS("At most about this many changed messages per poll; "
                          "the rest come with the next one (the first poll and "
                          "a resync read the whole folder)."),
    {0}};

static const wfc_field outputs[] = {
    {.name = "events",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The messages newly flagged (immutable ids), in "
                    "Graph's order; each also has \"event_id\" "
                    "({id}/flagged/{round}), one per flagging.",
     .items = &(const wfc_field){.type = WFC_TYPE_OBJECT,
                                 .fields = o365_msg_fields}},
    O365_FIELD_CHECKPOINT,
    {0}};

typedef struct poll {
  o365_trigger t; /* first: the shared driver's part (t.resync: a full read) */
  int64_t round;  /* of the checkpoint the poll started from */
} poll;

static int find(json_object *list, const char *id) {
  size_t n = json_object_array_length(list);
  for (size_t i = 0; i < n; i++)
    if (strcmp(json_object_get_string(json_object_array_get_idx(list, i)),
               id) == 0)
      return (int)i;
  return -1;
}

static const char *flag_status(json_object *m) {
  json_object *f = NULL;
  json_object_object_get_ex(m, "flag", &f);
  return o365_json_str(f, "flagStatus");
}

static void on_round(o365_trigger *t, const o365_delta_res *res) {
  poll *p = (poll *)t;
  json_object *had = NULL;
  json_object_object_get_ex(t->cp, "flagged", &had);
  /* A full read (the first poll, a resync) replaces the list; a delta
   * round edits it. */
  json_object *now = json_object_new_array();
  if (!t->resync)
    for (size_t i = 0; i < json_object_array_length(had); i++)
      json_object_array_add(now,
                            json_object_get(json_object_array_get_idx(had, i)));
  json_object *events = json_object_new_array();
  for (size_t i = 0; i < json_object_array_length(res->removed_ids); i++) {
    int k = find(now, json_object_get_string(
                          json_object_array_get_idx(res->removed_ids, i)));
    if (k >= 0)
      json_object_array_del_idx(now, (size_t)k, 1);
  }
  size_t n = json_object_array_length(res->items);
  for (size_t i = 0; i < n; i++) {
    json_object *m = json_object_array_get_idx(res->items, i);
    const char *id = o365_json_str(m, "id");
    const char *fs = flag_status(m);
    if (id == NULL)
      continue;
    int flagged = fs != NULL && strcmp(fs, "flagged") == 0;
    int k = find(now, id);
    if (!flagged) {
      if (k >= 0)
        json_object_array_del_idx(now, (size_t)k, 1);
      continue;
    }
    if (k >= 0)
      continue; /* flagged before: changed otherwise (read, moved...) */
    json_object_array_add(now, json_object_new_string(id));
    if (t->first || find(had, id) >= 0)
      continue; /* baseline, or a full read of one flagged before */
    json_object *ev = o365_msg_json(m);
    char eid[640];
    snprintf(eid, sizeof eid, "%s/flagged/%lld", id, (long long)p->round);
    O365_JSON_ADD(ev, "event_id", json_object_new_string(eid));
    json_object_array_add(events, ev);
  }
  O365_JSON_ADD(t->cp, "flagged", now);
  O365_JSON_ADD(t->cp, "round", json_object_new_int64(p->round + 1));
  o365_trigger_finish(t, events);
}

/* The first request of a round: a full read of the folder. */
static void request(o365_trigger *t, o365_buf *path) {
  (void)t;
  o365_buf_query(path, "$select", O365_MSG_SELECT);
}

static void resync_note(o365_trigger *t, char *buf, size_t n) {
  (void)t;
  snprintf(buf, n,
           "reading the folder again, delivering only the "
           "flaggings not delivered before");
}

static int begin(o365_trigger *t) {
  ((poll *)t)->round = 1;
  return 0;
}

static int load(o365_trigger *t) {
  json_object *list = NULL;
  if (o365_json_int64(t->cp, "round", &((poll *)t)->round) != 0 ||
      !json_object_object_get_ex(t->cp, "flagged", &list) ||
      !json_object_is_type(list, json_type_array))
    return -1;
  return 0;
}

static const o365_trigger_card trigger = {
    .id = "email_flagged",
    .what = "flagged messages",
    .size = sizeof(poll),
    .expect = "{\"v\":1,\"folder\",\"round\",\"flagged\",...}",
    .baseline = 1,
    .whole_first = 1,
    .link_required = 1,
    .begin = begin,
    .load = load,
    .request = request,
    .resync_note = resync_note,
    .round = on_round};

static int invoke(wfc_call *call) {
  return o365_trigger_invoke(call, &trigger);
}

const wfc_card_desc o365_card_email_flagged = {
    .id = "email_flagged",
    .name = "Email Flagged",
    .description = "Triggers each time a message in a folder is flagged "
                   "(Graph delta query), once per flagging: the host "
                   "stores the delta link only after it has taken the "
                   "events.",
    .kind = WFC_CARD_EVENT,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
