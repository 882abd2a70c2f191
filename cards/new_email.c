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

#include "attachall.h"
#include "delta.h"
#include "entry.h"
#include "folders.h"
#include "message.h"
#include "msgfilter.h"

#define LAST_IDS_MAX 200

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {.name = "folder",
     .type = WFC_TYPE_STRING,
     .description = "Folder to watch (well-known name, path like "
                    "Inbox/Projects, or id).",
     .default_json = "\"inbox\"",
     .min = 1,
     .max = 1024},
    {.name = "since",
     .type = WFC_TYPE_DATETIME,
     .description = "First run only: deliver messages received from this "
                    "time on; empty: from the moment the watch starts."},
    {.name = "include_body",
     .type = WFC_TYPE_BOOLEAN,
     .description = "Return each message's body.",
     .default_json = "false"},
    {.name = "page_size",
     .type = WFC_TYPE_INTEGER,
     .description = "Messages per Graph page (odata.maxpagesize).",
     .default_json = "50",
     .min = 1,
     .max = 1000},
    {.name = "max_events",
     .type = WFC_TYPE_INTEGER,
     .description = "At most about this many messages per poll; the rest "
                    "come with the next one.",
     .default_json = "500",
     .min = 1,
     .max = 10000},
    O365_FIELDS_MSG_FILTER,
    {.name = "include_attachments",
     .type = WFC_TYPE_BOOLEAN,
     .description = "Download each message's attachments into the host's "
                    "file store; the event's \"attachments\" lists them "
                    "with their files (blob references).",
     .default_json = "false"},
    {0}};

static const wfc_field outputs[] = {
    {.name = "events",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The new messages (immutable ids), oldest change "
                    "first.",
     .items = &(const wfc_field){.type = WFC_TYPE_OBJECT,
                                 .fields = o365_msg_fields}},
    {.name = "checkpoint",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Where the next poll starts (kept by the host)."},
    {0}};

typedef struct poll {
  wfc_call *call;
  json_object *cp;       /* the checkpoint being built (owned) */
  json_object *skip_ids; /* ids not to deliver again (borrowed from cp) */
  int resync;            /* this round started over after an expired link */
  json_object *events;   /* include_attachments: the events (owned) */
  size_t next;           /* the event whose attachments are downloaded */
} poll;

static void poll_free(poll *p) {
  json_object_put(p->cp);
  json_object_put(p->events);
  free(p);
}

static void finish(poll *p, json_object *events) {
  json_object *out = json_object_new_object();
  json_object_object_add(out, "events", events);
  json_object_object_add(
      out, "checkpoint",
      json_object_new_string(json_object_to_json_string_ext(
          p->cp, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)));
  o365_api->call_done(p->call, out);
  poll_free(p);
}

static int in_list(json_object *list, const char *id) {
  size_t n = list ? json_object_array_length(list) : 0;
  for (size_t i = 0; i < n; i++)
    if (strcmp(json_object_get_string(json_object_array_get_idx(list, i)),
               id) == 0)
      return 1;
  return 0;
}

static int start_round(poll *p, const char *link);

static void attach_next(poll *p);

static void on_attachments(void *arg, int status, json_object *list,
                           const char *error) {
  poll *p = arg;
  if (status != 0) {
    /* The poll fails and the checkpoint stays: the next poll tries again
     * (blobs made so far stay in the store, unreferenced). */
    o365_api->call_fail(p->call, status, NULL,
                        "new_email: the attachments of a message: %s", error);
    poll_free(p);
    return;
  }
  json_object_object_add(json_object_array_get_idx(p->events, p->next),
                         "attachments", json_object_get(list));
  p->next++;
  attach_next(p);
}

/* include_attachments: each event with attachments gets them, one
 * message at a time, then the poll completes. */
static void attach_next(poll *p) {
  for (; p->next < json_object_array_length(p->events); p->next++) {
    json_object *ev = json_object_array_get_idx(p->events, p->next), *has;
    if (!json_object_object_get_ex(ev, "has_attachments", &has) ||
        !json_object_get_boolean(has))
      continue;
    int rc = o365_attach_all(p->call, o365_call_mailbox(p->call),
                             o365_json_str(ev, "id"), on_attachments, p);
    if (rc != 0) {
      o365_api->call_fail(p->call, rc, NULL,
                          "new_email: downloading attachments could not "
                          "start");
      poll_free(p);
    }
    return;
  }
  json_object *events = p->events;
  p->events = NULL;
  finish(p, events);
}

static void on_round(void *arg, const o365_delta_res *res) {
  poll *p = arg;
  if (res->error != 0 && res->expired && !p->resync) {
    const char *from = o365_json_str(p->cp, "last");
    if (from == NULL)
      from = o365_json_str(p->cp, "start");
    o365_api->log(1,
                  "new_email: the delta link expired (%s); resyncing from "
                  "%s without repeating what was delivered",
                  res->reason, from ? from : "the start");
    p->resync = 1;
    int rc = start_round(p, NULL);
    if (rc != 0) {
      o365_api->call_fail(p->call, rc, NULL, "new_email: resync failed");
      poll_free(p);
    }
    return;
  }
  if (res->error != 0) {
    if (res->graph != NULL)
      o365_graph_fail(p->call, res->graph, "polling for new messages failed");
    else
      o365_api->call_fail(p->call, res->error, NULL,
                          "polling for new messages failed: %s",
                          res->message ? res->message : "error");
    poll_free(p);
    return;
  }
  /* Deliver what was not delivered before; move the watermark. */
  const char *last0 = o365_json_str(p->cp, "last");
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
    if (id == NULL || (p->resync && in_list(p->skip_ids, id)))
      continue;
    /* Filtered out: not an event, but the watermark still moves past it
     * (below), so it is never delivered later. */
    json_object *ev = o365_msg_json(m);
    if (o365_msg_filter_match(o365_api->call_input(p->call), ev)) {
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
    json_object_object_add(p->cp, "last", json_object_new_string(last));
  json_object_object_add(p->cp, "last_ids", last_ids);
  json_object_object_add(p->cp, "link", json_object_new_string(res->link));
  free(last);
  if (res->removed > 0)
    o365_api->log(3, "new_email: %zu removed or moved-out message(s) ignored",
                  res->removed);
  if (filtered > 0)
    o365_api->log(3, "new_email: %zu message(s) left out by the filters",
                  filtered);
  struct json_object *inc = NULL;
  if (json_object_object_get_ex(o365_api->call_input(p->call),
                                "include_attachments", &inc) &&
      json_object_get_boolean(inc)) {
    p->events = events;
    p->next = 0;
    attach_next(p);
    return;
  }
  finish(p, events);
}

/* The first request of a round (link NULL: from the watermark) or a link
 * Graph gave. */
static int start_round(poll *p, const char *link) {
  struct json_object *in = o365_api->call_input(p->call);
  int64_t page = 50, max = 500;
  o365_json_int64(in, "page_size", &page);
  o365_json_int64(in, "max_events", &max);
  /* Immutable ids: an id stays the same when the message moves, so the
   * host's dedupe by id holds, and action cards accept it. One Prefer
   * header with both preferences (RFC 7240 allows a list). */
  char prefer[96];
  snprintf(prefer, sizeof prefer,
           "Prefer: IdType=\"ImmutableId\", odata.maxpagesize=%lld",
           (long long)page);
  const char *headers[] = {prefer, NULL};
  o365_buf path;
  o365_buf_init(&path);
  if (link != NULL) {
    o365_buf_put(&path, link);
  } else {
    const char *from = o365_json_str(p->cp, "last");
    if (from == NULL)
      from = o365_json_str(p->cp, "start");
    struct json_object *inc = NULL;
    int body = json_object_object_get_ex(in, "include_body", &inc) &&
               json_object_get_boolean(inc);
    o365_graph_mailbox(&path, o365_call_mailbox(p->call));
    o365_buf_seg(&path, "mailFolders");
    o365_buf_seg(&path, o365_json_str(p->cp, "folder"));
    o365_buf_put(&path, "/messages/delta");
    o365_buf_query(&path, "changeType", "created");
    o365_buf_query(&path, "$select",
                   body ? O365_MSG_SELECT_BODY : O365_MSG_SELECT);
    char filter[128];
    snprintf(filter, sizeof filter, "receivedDateTime ge %s",
             from ? from : "1970-01-01T00:00:00Z");
    o365_buf_query(&path, "$filter", filter);
  }
  int rc = WFC_ENOMEM;
  if (!path.oom) {
    o365_delta_opts o = {
        .path = path.data, .headers = headers, .max_items = (size_t)max};
    rc = o365_delta_run(p->call, &o, on_round, p);
  }
  o365_buf_free(&path);
  return rc;
}

static void on_folder(void *arg, int status, const char *folder_id,
                      const char *error) {
  poll *p = arg;
  if (status != 0) {
    o365_api->call_fail(p->call, status, NULL, "folder: %s", error);
    poll_free(p);
    return;
  }
  /* First poll: record where the subscription starts; no events yet. */
  json_object_object_add(p->cp, "folder", json_object_new_string(folder_id));
  finish(p, json_object_new_array());
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  const char *saved = o365_api->call_checkpoint(call);
  poll *p = calloc(1, sizeof *p);
  if (p == NULL)
    return WFC_ENOMEM;
  p->call = call;
  if (saved == NULL) {
    p->cp = json_object_new_object();
    char now[32];
    const char *since = o365_json_str(in, "since");
    if (since == NULL || *since == '\0') {
      o365_time_iso(o365_api->now_ms(), now, sizeof now);
      since = now;
    }
    json_object_object_add(p->cp, "v", json_object_new_int(1));
    json_object_object_add(p->cp, "start", json_object_new_string(since));
    int rc = o365_folder_resolve(call, o365_call_mailbox(call),
                                 o365_json_str(in, "folder"), on_folder, p);
    if (rc != 0)
      poll_free(p);
    return rc;
  }
  p->cp = o365_json_parse(saved, strlen(saved));
  if (p->cp == NULL || o365_json_str(p->cp, "folder") == NULL ||
      o365_json_str(p->cp, "start") == NULL) {
    poll_free(p);
    o365_api->call_fail(call, WFC_EINVAL, NULL,
                        "checkpoint: not one this card wrote (expected "
                        "{\"v\":1,\"folder\",\"start\",...})");
    return 0;
  }
  json_object_object_get_ex(p->cp, "last_ids", &p->skip_ids);
  const char *link = o365_json_str(p->cp, "link");
  int rc = start_round(p, link);
  if (rc == WFC_ESTALE && link != NULL) {
    o365_api->log(1,
                  "new_email: the stored delta link is not on the "
                  "connection's Graph endpoint; resyncing from %s",
                  o365_json_str(p->cp, "last") ? o365_json_str(p->cp, "last")
                                               : "the start");
    p->resync = 1;
    rc = start_round(p, NULL);
  }
  if (rc != 0)
    poll_free(p);
  return rc;
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
