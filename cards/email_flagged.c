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

#include "delta.h"
#include "entry.h"
#include "folders.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {.name = "folder",
     .type = WFC_TYPE_STRING,
     .description = "Folder to watch (well-known name, path like "
                    "Inbox/Projects, or id).",
     .default_json = "\"inbox\"",
     .min = 1,
     .max = 1024},
    {.name = "page_size",
     .type = WFC_TYPE_INTEGER,
     .description = "Messages per Graph page (odata.maxpagesize).",
     .default_json = "50",
     .min = 1,
     .max = 1000},
    {.name = "max_events",
     .type = WFC_TYPE_INTEGER,
     .description = "At most about this many changed messages per poll; "
                    "the rest come with the next one (the first poll and "
                    "a resync read the whole folder).",
     .default_json = "500",
     .min = 1,
     .max = 10000},
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
    {.name = "checkpoint",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Where the next poll starts (kept by the host)."},
    {0}};

typedef struct poll {
  wfc_call *call;
  json_object *cp; /* the checkpoint being built (owned) */
  int64_t round;   /* of the checkpoint the poll started from */
  int full;        /* this round reads the whole folder (first, resync) */
  int first;       /* no checkpoint: the baseline, no events */
} poll;

static void poll_free(poll *p) {
  json_object_put(p->cp);
  free(p);
}

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

static int start_round(poll *p, const char *link);

static void on_round(void *arg, const o365_delta_res *res) {
  poll *p = arg;
  if (res->error != 0 && res->expired && !p->full) {
    o365_api->log(1,
                  "email_flagged: the delta link expired (%s); reading the "
                  "folder again, delivering only the flaggings not "
                  "delivered before",
                  res->reason);
    p->full = 1;
    int rc = start_round(p, NULL);
    if (rc != 0) {
      o365_api->call_fail(p->call, rc, NULL, "email_flagged: resync failed");
      poll_free(p);
    }
    return;
  }
  if (res->error != 0) {
    if (res->graph != NULL)
      o365_graph_fail(p->call, res->graph,
                      "polling for flagged messages "
                      "failed");
    else
      o365_api->call_fail(p->call, res->error, NULL,
                          "polling for flagged messages failed: %s",
                          res->message ? res->message : "error");
    poll_free(p);
    return;
  }
  json_object *had = NULL;
  json_object_object_get_ex(p->cp, "flagged", &had);
  /* A full read replaces the list; a delta round edits it. */
  json_object *now = json_object_new_array();
  if (!p->full)
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
    if (p->first || find(had, id) >= 0)
      continue; /* baseline, or a full read of one flagged before */
    json_object *ev = o365_msg_json(m);
    char eid[640];
    snprintf(eid, sizeof eid, "%s/flagged/%lld", id, (long long)p->round);
    json_object_object_add(ev, "event_id", json_object_new_string(eid));
    json_object_array_add(events, ev);
  }
  json_object_object_add(p->cp, "flagged", now);
  json_object_object_add(p->cp, "link", json_object_new_string(res->link));
  json_object_object_add(p->cp, "round", json_object_new_int64(p->round + 1));
  json_object *out = json_object_new_object();
  json_object_object_add(out, "events", events);
  json_object_object_add(
      out, "checkpoint",
      json_object_new_string(json_object_to_json_string_ext(
          p->cp, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)));
  o365_api->call_done(p->call, out);
  poll_free(p);
}

/* A full read of the folder (link NULL) or a link Graph gave. */
static int start_round(poll *p, const char *link) {
  struct json_object *in = o365_api->call_input(p->call);
  int64_t page = 50, max = 500;
  o365_json_int64(in, "page_size", &page);
  o365_json_int64(in, "max_events", &max);
  /* Immutable ids: a message keeps its id when moved, and every message
   * card accepts it. */
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
    o365_graph_mailbox(&path, o365_call_mailbox(p->call));
    o365_buf_seg(&path, "mailFolders");
    o365_buf_seg(&path, o365_json_str(p->cp, "folder"));
    o365_buf_put(&path, "/messages/delta");
    o365_buf_query(&path, "$select", O365_MSG_SELECT);
  }
  int rc = WFC_ENOMEM;
  if (!path.oom) {
    /* A full read goes to its end: the list must be complete. */
    o365_delta_opts o = {.path = path.data,
                         .headers = headers,
                         .max_items = p->full ? 0 : (size_t)max};
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
  json_object_object_add(p->cp, "folder", json_object_new_string(folder_id));
  int rc = start_round(p, NULL);
  if (rc != 0) {
    o365_api->call_fail(p->call, rc, NULL,
                        "email_flagged: reading the folder failed");
    poll_free(p);
  }
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  const char *saved = o365_api->call_checkpoint(call);
  poll *p = calloc(1, sizeof *p);
  if (p == NULL)
    return WFC_ENOMEM;
  p->call = call;
  if (saved == NULL) {
    p->first = p->full = 1;
    p->round = 1;
    p->cp = json_object_new_object();
    json_object_object_add(p->cp, "v", json_object_new_int(1));
    int rc = o365_folder_resolve(call, o365_call_mailbox(call),
                                 o365_json_str(in, "folder"), on_folder, p);
    if (rc != 0)
      poll_free(p);
    return rc;
  }
  p->cp = o365_json_parse(saved, strlen(saved));
  json_object *list = NULL;
  if (p->cp == NULL || o365_json_str(p->cp, "folder") == NULL ||
      o365_json_int64(p->cp, "round", &p->round) != 0 ||
      !json_object_object_get_ex(p->cp, "flagged", &list) ||
      !json_object_is_type(list, json_type_array)) {
    poll_free(p);
    o365_api->call_fail(call, WFC_EINVAL, NULL,
                        "checkpoint: not one this card wrote (expected "
                        "{\"v\":1,\"folder\",\"round\",\"flagged\",...})");
    return 0;
  }
  const char *link = o365_json_str(p->cp, "link");
  int rc = link != NULL ? start_round(p, link) : WFC_ESTALE;
  if (rc == WFC_ESTALE) {
    o365_api->log(1, "email_flagged: the stored delta link is not on the "
                     "connection's Graph endpoint; reading the folder again");
    p->full = 1;
    rc = start_round(p, NULL);
  }
  if (rc != 0)
    poll_free(p);
  return rc;
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
