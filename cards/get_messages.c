/* get_messages.c - Get Messages (bulk): many messages by id in few
 * requests.
 * Graph: POST /$batch with up to 20 GET {mb}/messages/{id}?$select=... each
 * (batch.h): 100 ids are 5 HTTP requests. Per-message results: the found
 * ones in "messages" (in the order asked), the others in "errors" with
 * Graph's status and code; an item Outlook throttles is retried after its
 * Retry-After. The run fails only when nothing could be asked (no token,
 * canceled). */
#include <stdlib.h>

#include <json-c/json.h>

#include "batch.h"
#include "entry.h"
#include "message.h"

#define IDS_MAX 1000

static const wfc_field id_item[] = {
    {.type = WFC_TYPE_STRING, .min = 1, .max = 512}, {0}};

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {.name = "message_ids",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Ids of the messages to read (at most 1000).",
     .items = id_item,
     .min = 1,
     .max = IDS_MAX},
    {.name = "include_body",
     .type = WFC_TYPE_BOOLEAN,
     .description = "Also return each message's body.",
     .default_json = "false"},
    {0}};

static const wfc_field msg_item[] = {
    {.type = WFC_TYPE_OBJECT, .fields = o365_msg_fields}, {0}};

static const wfc_field error_fields[] = {
    {.name = "message_id",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED},
    {.name = "status", .type = WFC_TYPE_INTEGER, .flags = WFC_FIELD_REQUIRED},
    {.name = "code", .type = WFC_TYPE_STRING},
    {.name = "message", .type = WFC_TYPE_STRING},
    {.name = "outcome", .type = WFC_TYPE_STRING},
    {0}};
static const wfc_field error_item[] = {
    {.type = WFC_TYPE_OBJECT, .fields = error_fields}, {0}};

static const wfc_field outputs[] = {
    {.name = "messages",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The messages read, in the order of message_ids.",
     .items = msg_item},
    {.name = "errors",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .description = "One per message that could not be read: its id, "
                    "Graph's status, code and message (404: no such "
                    "message).",
     .items = error_item},
    {.name = "count", .type = WFC_TYPE_INTEGER, .flags = WFC_FIELD_REQUIRED},
    {.name = "failed", .type = WFC_TYPE_INTEGER, .flags = WFC_FIELD_REQUIRED},
    {0}};

static void on_done(void *arg, int status, const o365_batch_result *r,
                    size_t n) {
  wfc_call *call = arg;
  struct json_object *ids = NULL;
  json_object_object_get_ex(o365_api->call_input(call), "message_ids", &ids);
  if (status != 0) {
    o365_batch_fail(call, status, "reading the messages", r, n);
    return;
  }
  struct json_object *msgs = json_object_new_array();
  struct json_object *errs = json_object_new_array();
  for (size_t i = 0; i < n; i++) {
    if (r[i].error == 0) {
      json_object_array_add(msgs, o365_msg_json(r[i].body));
      continue;
    }
    struct json_object *e = o365_batch_error_json(&r[i]);
    o365_json_add_str(
        e, "message_id",
        json_object_get_string(json_object_array_get_idx(ids, i)));
    json_object_array_add(errs, e);
  }
  struct json_object *out = json_object_new_object();
  O365_JSON_ADD(out, "count",
                json_object_new_int64((int64_t)json_object_array_length(msgs)));
  O365_JSON_ADD(out, "failed",
                json_object_new_int64((int64_t)json_object_array_length(errs)));
  O365_JSON_ADD(out, "messages", msgs);
  O365_JSON_ADD(out, "errors", errs);
  o365_api->call_done(call, out);
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call), *ids = NULL, *b = NULL;
  json_object_object_get_ex(in, "message_ids", &ids);
  int body = json_object_object_get_ex(in, "include_body", &b) &&
             json_object_get_boolean(b);
  size_t n = json_object_array_length(ids);
  o365_batch_list l;
  int rc = o365_batch_list_init(&l, n);
  for (size_t i = 0; rc == 0 && i < n; i++) {
    o365_buf *path = o365_batch_list_set(&l, i, "GET", NULL, -1);
    o365_msg_path(path, o365_call_mailbox(call),
                  json_object_get_string(json_object_array_get_idx(ids, i)),
                  NULL);
    o365_buf_query(path, "$select",
                   body ? O365_MSG_SELECT_BODY : O365_MSG_SELECT);
  }
  return rc != 0 ? rc : o365_batch_list_run(&l, call, on_done, call);
}

const wfc_card_desc o365_card_get_messages = {
    .id = "get_messages",
    .name = "Get Messages",
    .description = "Reads many messages by id in few requests (Graph JSON "
                   "batching, 20 per request), with a result or an error "
                   "per message.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
