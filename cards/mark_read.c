/* mark_read.c - Mark as Read/Unread.
 * Graph: PATCH {mb}/messages/{id} {"isRead":b} (repeatable: idempotent). */
#include <json-c/json.h>

#include "entry.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_MESSAGE_ID("Id of the message.")},
    {.name = "read",
     .type = WFC_TYPE_BOOLEAN,
     .description = "true marks it read, false unread.",
     .default_json = "true"},
    {0}};

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  struct json_object *read = NULL;
  int r = !json_object_object_get_ex(in, "read", &read) ||
          json_object_get_boolean(read);
  struct json_object *body = json_object_new_object();
  O365_JSON_ADD(body, "isRead", json_object_new_boolean(r));
  int rc = o365_msg_patch(call, body, "marking the message failed");
  json_object_put(body);
  return rc;
}

const wfc_card_desc o365_card_mark_read = {
    .id = "mark_read",
    .name = "Mark as Read/Unread",
    .description = "Marks a message read or unread.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_msg_fields,
    .invoke = invoke};
