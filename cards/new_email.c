/* new_email.c - New Email (event): each message that arrives in a folder,
 * once.
 * Graph: GET {mb}/mailFolders/{f}/messages/delta?changeType=created&
 * $select=...&$filter=receivedDateTime ge {start} (Prefer: ImmutableId,
 * odata.maxpagesize), then the links Graph gives (plugin/delta.h).
 *
 * The checkpoint (opaque to the host, stored only after the host accepted
 * the events) is JSON: {"v":1,"folder":id,"start":t,"link":deltaLink?,
 * "last":t?,"last_ids":[...]}. The first poll only records the start
 * ("since", else now) and the folder, with no request, so that once it is
 * stored nothing that arrives later can be missed, however long the next
 * poll takes. An expired delta link starts a new round from "last" (the
 * newest receivedDateTime delivered) and leaves out last_ids (the ids
 * delivered at exactly that time), so nothing is repeated. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "entry.h"
#include "message.h"
#include "msgfilter.h"
#include "trigger.h"

#define LAST_IDS_MAX 200

static const wfc_field inputs[] = {
    O365_FIELDS_MAIL_TRIGGER, O365_FIELD_INCLUDE_ATTACHMENTS, {0}};

static const wfc_field outputs[] = {
    {.name = "events",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The new messages (immutable ids), oldest change "
                    "first.",
     .items = &(const wfc_field){.type = WFC_TYPE_OBJECT,
                                 .fields = o365_msg_fields}},
    O365_FIELD_CHECKPOINT,
    {0}};

typedef struct poll {
  o365_trigger t;        /* first: the shared driver's part */
  json_object *skip_ids; /* ids not to deliver again (borrowed from t.cp) */
} poll;

static int in_list(json_object *list, const char *id) {
  size_t n = list ? json_object_array_length(list) : 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(json_object_get_string(json_object_array_get_idx(list, i)),
               id) == 0)
      return 1;
  return 0;
}

/* Deliver what was not delivered before; move the watermark. */
static void on_round(o365_trigger *t, const o365_delta_res *res) {
  poll *p = (poll *)t;
  const char *last0 = o365_json_str(t->cp, "last");
  char *last = last0 ? strdup(last0) : NULL;
  json_object *last_ids = json_object_new_array();
  if (last != NULL && p->skip_ids != NULL)
    for (size_t i = 0; i < json_object_array_length(p->skip_ids); i++)
      json_object_array_add(
          last_ids, json_object_get(json_object_array_get_idx(p->skip_ids, i)));
  json_object *events = json_object_new_array();
  size_t n = json_object_array_length(res->items), filtered = 0;
  for (size_t i = 0; i < n; i++) {
    json_object *m = json_object_array_get_idx(res->items, i);
    const char *id = o365_json_str(m, "id");
    const char *rt = o365_json_str(m, "receivedDateTime");
    if (id == NULL || (t->resync && in_list(p->skip_ids, id)))
      continue;
    /* Filtered out: not an event, but the watermark still moves past it
     * (below), so it is never delivered later. */
    json_object *ev = o365_msg_json(m);
    if (o365_msg_filter_match(o365_api->call_input(t->call), ev)) {
      json_object_array_add(events, ev);
    } else {
      json_object_put(ev);
      filtered++;
    }
    if (rt == NULL)
      continue;
    int c = last ? strcmp(rt, last) : 1;
    if (c > 0) {
      free(last);
      last = strdup(rt);
      json_object_put(last_ids);
      last_ids = json_object_new_array();
    }
    if (c >= 0 && json_object_array_length(last_ids) < LAST_IDS_MAX &&
        !in_list(last_ids, id))
      json_object_array_add(last_ids, json_object_new_string(id));
  }
  if (last != NULL)
    O365_JSON_ADD(t->cp, "last", json_object_new_string(last));
  O365_JSON_ADD(t->cp, "last_ids", last_ids);
  free(last);
  if (res->removed > 0)
    o365_api->log(3, "new_email: %zu removed or moved-out message(s) ignored",
                  res->removed);
  if (filtered > 0)
    o365_api->log(3, "new_email: %zu message(s) left out by the filters",
                  filtered);
  o365_trigger_finish(t, events); /* with include_attachments' files */
}

/* The first request of a round: created messages from the watermark. */
static void request(o365_trigger *t, o365_buf *path) {
  struct json_object *in = o365_api->call_input(t->call), *inc = NULL;
  const char *from = o365_json_str(t->cp, "last");
  if (from == NULL)
    from = o365_json_str(t->cp, "start");
  int body = json_object_object_get_ex(in, "include_body", &inc) &&
             json_object_get_boolean(inc);
  o365_buf_query(path, "changeType", "created");
  o365_buf_query(path, "$select",
                 body ? O365_MSG_SELECT_BODY : O365_MSG_SELECT);
  char filter[128];
  snprintf(filter, sizeof filter, "receivedDateTime ge %s",
           from ? from : "1970-01-01T00:00:00Z");
  o365_buf_query(path, "$filter", filter);
}

static void resync_note(o365_trigger *t, char *buf, size_t n) {
  const char *from = o365_json_str(t->cp, "last");
  if (from == NULL)
    from = o365_json_str(t->cp, "start");
  snprintf(buf, n, "resyncing from %s without repeating what was delivered",
           from ? from : "the start");
}

/* First poll: record where the watch starts ("since", else now). */
static int begin(o365_trigger *t) {
  char now[32];
  const char *since = o365_json_str(o365_api->call_input(t->call), "since");
  if (since == NULL || *since == '\0') {
    o365_time_iso(o365_api->now_ms(), now, sizeof now);
    since = now;
  }
  O365_JSON_ADD(t->cp, "start", json_object_new_string(since));
  return 0;
}

static int load(o365_trigger *t) {
  if (o365_json_str(t->cp, "start") == NULL)
    return -1;
  json_object_object_get_ex(t->cp, "last_ids", &((poll *)t)->skip_ids);
  return 0;
}

static const o365_trigger_card trigger = {
    .id = "new_email",
    .what = "new messages",
    .size = sizeof(poll),
    .expect = "{\"v\":1,\"folder\",\"start\",...}",
    .begin = begin,
    .load = load,
    .request = request,
    .resync_note = resync_note,
    .round = on_round};

static int invoke(wfc_call *call) {
  return o365_trigger_invoke(call, &trigger);
}

const wfc_card_desc o365_card_new_email = {
    .id = "new_email",
    .name = "New Email",
    .description = "Triggers on each message that arrives in a folder "
                   "(Graph delta query), once: the host stores the delta "
                   "link only after it has taken the messages.",
    .kind = WFC_CARD_EVENT,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
