/* forward_email.c - Forward Email.
 * Graph: without attachments POST {mb}/messages/{id}/forward {"comment",
 * "toRecipients", "message"?}; with attachments POST .../createForward
 * (same body), the attachments (attach.h), then POST .../{draft}/send.
 * With an idempotency_key the forward is sent at most once, as Send
 * Email's message (plugin/keysend.h): its Message-ID (the action's
 * message.internetMessageId) marks the copy in Sent Items. */
#include <stdlib.h>

#include <json-c/json.h>

#include "entry.h"
#include "keysend.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_MESSAGE_ID("Id of the message to forward.")},
    {.name = "to",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Who to forward it to.",
     .items = o365_msg_email_item,
     .min = 1,
     .max = O365_MSG_RECIPIENTS_MAX},
    {.name = "cc",
     .type = WFC_TYPE_LIST,
     .description = "Cc recipients.",
     .items = o365_msg_email_item,
     .max = O365_MSG_RECIPIENTS_MAX},
    {.name = "bcc",
     .type = WFC_TYPE_LIST,
     .description = "Bcc recipients.",
     .items = o365_msg_email_item,
     .max = O365_MSG_RECIPIENTS_MAX},
    {.name = "comment",
     .type = WFC_TYPE_STRING,
     .description = "The body text shown above the forwarded message.",
     .max = O365_MSG_BODY_MAX},
    {.name = "importance",
     .type = WFC_TYPE_STRING,
     .description = "low, normal or high.",
     .enum_values = o365_msg_importances},
    {.name = "attachments",
     .type = WFC_TYPE_LIST,
     .description = "Extra files to attach (the original's attachments are "
                    "forwarded anyway).",
     .items = o365_msg_file_item,
     .max = 100},
    {O365_FIELD_IDEMPOTENCY_KEY},
    {0}};

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  char err[256];
  if (o365_msg_check_compose(in, 1, err, sizeof err) != 0) {
    o365_api->call_fail(call, WFC_EVALIDATION, NULL, "%s", err);
    return 0;
  }
  struct json_object *files = NULL, *to = NULL;
  json_object_object_get_ex(in, "attachments", &files);
  json_object_object_get_ex(in, "to", &to);
  struct json_object *body = json_object_new_object();
  const char *comment = o365_json_str(in, "comment");
  if (comment != NULL)
    o365_json_add_str(body, "comment", comment);
  O365_JSON_ADD(body, "toRecipients", o365_msg_recipients(to));
  /* to goes at the top level; the rest in message. */
  struct json_object *msg = o365_msg_build(in);
  json_object_object_del(msg, "toRecipients");
  const char *key = o365_json_str(in, "idempotency_key");
  if (json_object_object_length(msg) > 0 || key != NULL)
    O365_JSON_ADD(body, "message", json_object_get(msg));
  o365_compose c = {.source_id = o365_json_str(in, "message_id"),
                    .create_action = "createForward",
                    .create_body = body,
                    .files = files,
                    .what = "forwarding failed"};
  int rc = o365_keysend_respond(call, "forward", key, msg, &c);
  json_object_put(msg);
  json_object_put(body);
  return rc;
}

const wfc_card_desc o365_card_forward_email = {
    .id = "forward_email",
    .name = "Forward Email",
    .description = "Forwards a message with its attachments to new "
                   "recipients, with an optional comment and extra files.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_msg_sent_fields,
    .invoke = invoke};
