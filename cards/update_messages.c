/* update_messages.c - Update Messages (bulk): mark read/unread, flag, set
 * categories and/or move many messages in few requests.
 * Graph: (destination lookup, folders.h) then POST /$batch (batch.h), 20
 * steps per request: per message a PATCH {mb}/messages/{id} {isRead, flag,
 * categories} and a POST .../{id}/move {destinationId} that depends on the
 * PATCH (the move gives the message a new id, so it comes after the
 * PATCH's answer, in a later batch; a failed PATCH leaves the message
 * where it was: 424, the move not sent). Per-message results; items
 * Outlook throttles are retried after their Retry-After. Repeatable: a
 * rerun sets the same values, and a message already moved is "not found"
 * under its old id. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "batch.h"
#include "entry.h"
#include "folders.h"
#include "message.h"

#define IDS_MAX 1000

static const char *const flag_values[] = {"flagged", "complete", "notFlagged",
                                          NULL};
static const wfc_field id_item[] = {
    {.type = WFC_TYPE_STRING, .min = 1, .max = 512}, {0}};

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {.name = "message_ids",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Ids of the messages to change (at most 1000).",
     .items = id_item,
     .min = 1,
     .max = IDS_MAX},
    {.name = "read",
     .type = WFC_TYPE_BOOLEAN,
     .description = "Mark them read (true) or unread (false)."},
    {.name = "flag",
     .type = WFC_TYPE_STRING,
     .description = "Set their follow-up flag: flagged, complete or "
                    "notFlagged.",
     .enum_values = flag_values},
    {.name = "categories",
     .type = WFC_TYPE_LIST,
     .description = "Replace their categories with these ([] clears them).",
     .items = o365_msg_category_item,
     .max = 50},
    {.name = "folder",
     .type = WFC_TYPE_STRING,
     .description = "Move them to this folder (well-known name, path like "
                    "Inbox/Projects, or id), after the changes above.",
     .min = 1,
     .max = 1024},
    {0}};

static const wfc_field result_fields[] = {
    {.name = "message_id",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED},
    {.name = "ok", .type = WFC_TYPE_BOOLEAN, .flags = WFC_FIELD_REQUIRED},
    {.name = "new_id",
     .type = WFC_TYPE_STRING,
     .description = "Its id after a move."},
    {.name = "status", .type = WFC_TYPE_INTEGER},
    {.name = "code", .type = WFC_TYPE_STRING},
    {.name = "message", .type = WFC_TYPE_STRING},
    {.name = "outcome", .type = WFC_TYPE_STRING},
    {0}};
static const wfc_field result_item[] = {
    {.type = WFC_TYPE_OBJECT, .fields = result_fields}, {0}};

static const wfc_field outputs[] = {
    {.name = "results",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .description = "One per message, in the order of message_ids.",
     .items = result_item},
    {.name = "succeeded",
     .type = WFC_TYPE_INTEGER,
     .flags = WFC_FIELD_REQUIRED},
    {.name = "failed", .type = WFC_TYPE_INTEGER, .flags = WFC_FIELD_REQUIRED},
    {0}};

typedef struct job {
  wfc_call *call;
  int patch; /* a PATCH per message */
  int move;  /* a move per message */
} job;

static void on_done(void *arg, int status, const o365_batch_result *r,
                    size_t n) {
  job *j = arg;
  wfc_call *call = j->call;
  size_t per = (size_t)(j->patch + j->move);
  int move = j->move;
  free(j);
  if (status != 0) {
    o365_batch_fail(call, status, "updating the messages", r, n);
    return;
  }
  struct json_object *ids = NULL;
  json_object_object_get_ex(o365_api->call_input(call), "message_ids", &ids);
  struct json_object *list = json_object_new_array();
  int64_t ok = 0, bad = 0;
  for (size_t m = 0; m * per < n; m++) {
    const o365_batch_result *last = &r[m * per + per - 1];
    const o365_batch_result *fail = NULL;
    for (size_t k = 0; k < per && fail == NULL; k++)
      if (r[m * per + k].error != 0)
        fail = &r[m * per + k];
    struct json_object *o =
        fail != NULL ? o365_batch_error_json(fail) : json_object_new_object();
    o365_json_add_str(
        o, "message_id",
        json_object_get_string(json_object_array_get_idx(ids, m)));
    O365_JSON_ADD(o, "ok", json_object_new_boolean(fail == NULL));
    if (fail == NULL && move) /* the move's answer: the new id */
      o365_json_add_str(o, "new_id", o365_json_str(last->body, "id"));
    json_object_array_add(list, o);
    if (fail == NULL)
      ok++;
    else
      bad++;
  }
  struct json_object *out = json_object_new_object();
  O365_JSON_ADD(out, "results", list);
  O365_JSON_ADD(out, "succeeded", json_object_new_int64(ok));
  O365_JSON_ADD(out, "failed", json_object_new_int64(bad));
  o365_api->call_done(call, out);
}

/* The batch: per message [PATCH] [move after the PATCH]. dest: the
 * resolved destination id, NULL for no move. */
static int start(job *j, const char *dest) {
  struct json_object *in = o365_api->call_input(j->call), *v = NULL;
  struct json_object *ids = NULL;
  json_object_object_get_ex(in, "message_ids", &ids);
  size_t nids = json_object_array_length(ids);
  size_t per = (size_t)(j->patch + j->move), n = nids * per;
  struct json_object *patch = json_object_new_object(), *move = NULL;
  if (json_object_object_get_ex(in, "read", &v))
    O365_JSON_ADD(patch, "isRead",
                  json_object_new_boolean(json_object_get_boolean(v)));
  const char *flag = o365_json_str(in, "flag");
  if (flag != NULL) {
    struct json_object *f = json_object_new_object();
    o365_json_add_str(f, "flagStatus", flag);
    O365_JSON_ADD(patch, "flag", f);
  }
  if (json_object_object_get_ex(in, "categories", &v))
    O365_JSON_ADD(patch, "categories", json_object_get(v));
  if (dest != NULL) {
    move = json_object_new_object();
    o365_json_add_str(move, "destinationId", dest);
  }
  o365_batch_list l;
  int rc = o365_batch_list_init(&l, n);
  for (size_t m = 0; rc == 0 && m < nids; m++) {
    const char *id = json_object_get_string(json_object_array_get_idx(ids, m));
    size_t k = m * per;
    if (j->patch) {
      o365_buf *path = o365_batch_list_set(&l, k, "PATCH", patch, -1);
      o365_msg_path(path, o365_call_mailbox(j->call), id, NULL);
      o365_buf_query(path, "$select", "id");
      k++;
    }
    if (j->move)
      o365_msg_path(
          o365_batch_list_set(&l, k, "POST", move, j->patch ? (int)k - 1 : -1),
          o365_call_mailbox(j->call), id, "move");
  }
  if (rc == 0)
    rc = o365_batch_list_run(&l, j->call, on_done, j);
  json_object_put(patch);
  json_object_put(move);
  return rc;
}

static void on_folder(void *arg, int status, const char *folder_id,
                      const char *error) {
  job *j = arg;
  if (status != 0) {
    o365_api->call_fail(j->call, status, NULL,
                        "folder: %s; nothing was changed", error);
    free(j);
    return;
  }
  wfc_call *call = j->call;
  int rc = start(j, folder_id);
  if (rc != 0) {
    o365_api->call_fail(call, rc, NULL, "could not start the batch");
    free(j);
  }
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  const char *folder = o365_json_str(in, "folder");
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return WFC_ENOMEM;
  j->call = call;
  j->patch = json_object_object_get_ex(in, "read", NULL) ||
             json_object_object_get_ex(in, "flag", NULL) ||
             json_object_object_get_ex(in, "categories", NULL);
  j->move = folder != NULL;
  if (!j->patch && !j->move) {
    free(j);
    o365_api->call_fail(call, WFC_EVALIDATION, NULL,
                        "nothing to do: give read, flag, categories or "
                        "folder");
    return 0;
  }
  int rc = j->move ? o365_folder_resolve(call, o365_call_mailbox(call), folder,
                                         on_folder, j)
                   : start(j, NULL);
  if (rc != 0)
    free(j);
  return rc;
}

const wfc_card_desc o365_card_update_messages = {
    .id = "update_messages",
    .name = "Update Messages",
    .description = "Marks many messages read or unread, flags them, sets "
                   "their categories and/or moves them, in few requests "
                   "(Graph JSON batching), with a result per message.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
