/* delete_email.c - Delete Email.
 * Graph: by default POST {mb}/messages/{id}/move {"destinationId":
 * "deleteditems"}, what Outlook's Delete does (the user can restore it);
 * with permanent, DELETE {mb}/messages/{id}: Exchange keeps it only in
 * Recoverable Items (restorable by an administrator until the retention
 * period ends). */
#include <json-c/json.h>

#include "entry.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_MESSAGE_ID("Id of the message to delete.")},
    {.name = "permanent",
     .type = WFC_TYPE_BOOLEAN,
     .description = "Delete for good (Recoverable Items) instead of moving "
                    "it to Deleted Items.",
     .default_json = "false"},
    {0}};

static const wfc_field outputs[] = {
    {.name = "deleted", .type = WFC_TYPE_BOOLEAN, .flags = WFC_FIELD_REQUIRED},
    {.name = "permanent",
     .type = WFC_TYPE_BOOLEAN,
     .flags = WFC_FIELD_REQUIRED},
    {.name = "id",
     .type = WFC_TYPE_STRING,
     .description = "Id of the message in Deleted Items (not permanent)."},
    {0}};

static struct json_object *out(wfc_call *call, const o365_graph_res *res) {
  (void)call;
  struct json_object *o = json_object_new_object();
  O365_JSON_ADD(o, "deleted", json_object_new_boolean(1));
  const char *id = o365_json_str(res->json, "id");
  O365_JSON_ADD(o, "permanent", json_object_new_boolean(id == NULL));
  if (id != NULL)
    o365_json_add_str(o, "id", id);
  return o;
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  struct json_object *perm = NULL;
  int permanent = json_object_object_get_ex(in, "permanent", &perm) &&
                  json_object_get_boolean(perm);
  o365_buf path;
  o365_buf_init(&path);
  o365_msg_path(&path, o365_call_mailbox(call), o365_json_str(in, "message_id"),
                permanent ? NULL : "move");
  if (!permanent)
    o365_buf_query(&path, "$select", "id");
  struct json_object *body = NULL;
  if (!permanent) {
    body = json_object_new_object();
    o365_json_add_str(body, "destinationId", "deleteditems");
  }
  o365_graph_opts o = {
      .method = permanent ? "DELETE" : "POST", .path = path.data, .body = body};
  int rc = path.oom
               ? WFC_ENOMEM
               : o365_msg_one(call, &o, "deleting the message failed", out);
  o365_buf_free(&path);
  json_object_put(body);
  return rc;
}

const wfc_card_desc o365_card_delete_email = {
    .id = "delete_email",
    .name = "Delete Email",
    .description = "Deletes a message: to Deleted Items (restorable by the "
                   "user), or permanently.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
