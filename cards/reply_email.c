/* reply_email.c - Reply to Email (reply-all option).
 * Graph: without attachments POST {mb}/messages/{id}/reply|replyAll
 * {"comment", "message"?}; with attachments POST .../createReply|
 * createReplyAll (same body) for a draft, the attachments (attach.h),
 * then POST .../messages/{draft}/send (message.h: o365_msg_compose).
 * With an idempotency_key the reply is sent at most once, as Send Email's
 * message (plugin/keysend.h): its Message-ID (the action's
 * message.internetMessageId) marks the copy in Sent Items. */
#include <stdlib.h>

#include <json-c/json.h>

#include "entry.h"
#include "keysend.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_MESSAGE_ID("Id of the message to answer.")},
    {.name = "comment",
     .type = WFC_TYPE_STRING,
     .description = "The body of your answer, shown above the quoted "
                    "message (HTML or text).",
     .max = O365_MSG_BODY_MAX},
    {.name = "reply_all",
     .type = WFC_TYPE_BOOLEAN,
     .description = "Answer the sender and every recipient (Reply All) "
                    "instead of the sender only.",
     .default_json = "false"},
    {.name = "to",
     .type = WFC_TYPE_LIST,
     .description = "Replace the reply's To recipients (default: the "
                    "sender, or everyone with reply_all).",
     .items = o365_msg_email_item,
     .max = O365_MSG_RECIPIENTS_MAX},
    {.name = "cc",
     .type = WFC_TYPE_LIST,
     .description = "Cc recipients of the reply.",
     .items = o365_msg_email_item,
     .max = O365_MSG_RECIPIENTS_MAX},
    {.name = "bcc",
     .type = WFC_TYPE_LIST,
     .description = "Bcc recipients of the reply.",
     .items = o365_msg_email_item,
     .max = O365_MSG_RECIPIENTS_MAX},
    {.name = "importance",
     .type = WFC_TYPE_STRING,
     .description = "low, normal or high.",
     .enum_values = o365_msg_importances},
    {.name = "categories",
     .type = WFC_TYPE_LIST,
     .description = "Outlook categories of the reply.",
     .items = o365_msg_category_item,
     .max = 50},
    {.name = "attachments",
     .type = WFC_TYPE_LIST,
     .description = "Files to attach to the reply.",
     .items = o365_msg_file_item,
     .max = 100},
    {O365_FIELD_IDEMPOTENCY_KEY},
    {0}};

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  char err[256];
  if (o365_msg_check_compose(in, 0, err, sizeof err) != 0) {
    o365_api->call_fail(call, WFC_EVALIDATION, NULL, "%s", err);
    return 0;
  }
  struct json_object *all = NULL, *files = NULL;
  int reply_all = json_object_object_get_ex(in, "reply_all", &all) &&
                  json_object_get_boolean(all);
  json_object_object_get_ex(in, "attachments", &files);
  struct json_object *body = json_object_new_object();
  const char *comment = o365_json_str(in, "comment");
  if (comment != NULL)
    o365_json_add_str(body, "comment", comment);
  const char *key = o365_json_str(in, "idempotency_key");
  /* The marker (with a key) goes in the message too. */
  struct json_object *msg = o365_msg_build(in);
  if (json_object_object_length(msg) > 0 || key != NULL)
    O365_JSON_ADD(body, "message", json_object_get(msg));
  o365_compose c = {.source_id = o365_json_str(in, "message_id"),
                    .create_action =
                        reply_all ? "createReplyAll" : "createReply",
                    .create_body = body,
                    .files = files,
                    .what = "replying failed"};
  int rc = o365_keysend_respond(call, reply_all ? "replyAll" : "reply", key,
                                msg, &c);
  json_object_put(msg);
  json_object_put(body);
  return rc;
}

const wfc_card_desc o365_card_reply_email = {
    .id = "reply_email",
    .name = "Reply to Email",
    .description = "Replies to a message (or to everyone on it), with a "
                   "comment above the quoted text and optional attachments.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_msg_sent_fields,
    .invoke = invoke};
