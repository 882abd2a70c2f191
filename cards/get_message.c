/* get_message.c - Get Message.
 * Graph: GET {mb}/messages/{id}?$select=... (Prefer:
 * outlook.body-content-type="text" when body_type is text). */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "entry.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_MESSAGE_ID("Id of the message (from New Email, Search "
                           "Emails, Send Email...).")},
    {.name = "include_body",
     .type = WFC_TYPE_BOOLEAN,
     .description = "Return the body.",
     .default_json = "true"},
    {.name = "body_type",
     .type = WFC_TYPE_STRING,
     .description = "Body as html (as stored) or converted to text.",
     .default_json = "\"html\"",
     .enum_values = o365_msg_body_types},
    {0}};

static const char *const prefer_text[] = {
    "Prefer: outlook.body-content-type=\"text\"", NULL};

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  struct json_object *inc = NULL;
  int body = !json_object_object_get_ex(in, "include_body", &inc) ||
             json_object_get_boolean(inc);
  const char *type = o365_json_str(in, "body_type");
  o365_buf path;
  o365_buf_init(&path);
  o365_msg_path(&path, o365_call_mailbox(call), o365_json_str(in, "message_id"),
                NULL);
  o365_buf_query(&path, "$select",
                 body ? O365_MSG_SELECT_BODY : O365_MSG_SELECT);
  o365_graph_opts o = {.path = path.data,
                       .headers = body && type && strcmp(type, "text") == 0
                                      ? prefer_text
                                      : NULL};
  int rc = path.oom
               ? WFC_ENOMEM
               : o365_msg_one(call, &o, "getting the message failed", NULL);
  o365_buf_free(&path);
  return rc;
}

const wfc_card_desc o365_card_get_message = {
    .id = "get_message",
    .name = "Get Message",
    .description = "Reads one message: sender, recipients, subject, body, "
                   "dates, flags and a link to open it in Outlook.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_msg_fields,
    .invoke = invoke};
