/* create_draft.c - Create Draft.
 * Graph: POST {mb}/messages (Prefer: IdType="ImmutableId") with the
 * message, then the attachments (attach.h); Send Draft sends it later. */
#include <json-c/json.h>

#include "entry.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX}, O365_FIELDS_COMPOSE(0), {0}};

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  char err[256];
  if (o365_msg_check_compose(in, 0, err, sizeof err) != 0) {
    o365_api->call_fail(call, WFC_EVALIDATION, NULL, "%s", err);
    return 0;
  }
  struct json_object *files = NULL;
  json_object_object_get_ex(in, "attachments", &files);
  struct json_object *msg = o365_msg_build(in);
  o365_compose c = {.create_body = msg,
                    .files = files,
                    .send = 0,
                    .what = "creating the draft failed"};
  int rc = o365_msg_compose(call, &c);
  json_object_put(msg);
  return rc;
}

const wfc_card_desc o365_card_create_draft = {
    .id = "create_draft",
    .name = "Create Draft",
    .description = "Saves a new message in Drafts (with attachments) "
                   "without sending it; Send Draft sends it.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_msg_sent_fields,
    .invoke = invoke};
