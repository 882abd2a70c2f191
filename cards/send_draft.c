/* send_draft.c - Send Draft.
 * Graph: POST {mb}/messages/{id}/send (no body). Not repeated after a
 * lost answer (graph.h): a second send of a sent draft is refused by
 * Exchange anyway. */
#include <json-c/json.h>

#include "entry.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_MESSAGE_ID("Id of the draft (from Create Draft).")},
    {0}};

static struct json_object *out(wfc_call *call, const o365_graph_res *res) {
  (void)res;
  struct json_object *o = json_object_new_object();
  O365_JSON_ADD(o, "sent", json_object_new_boolean(1));
  o365_json_add_str(o, "id",
                    o365_json_str(o365_api->call_input(call), "message_id"));
  return o;
}

static int invoke(wfc_call *call) {
  o365_buf path;
  o365_buf_init(&path);
  o365_msg_path(&path, o365_call_mailbox(call),
                o365_json_str(o365_api->call_input(call), "message_id"),
                "send");
  o365_graph_opts o = {.method = "POST", .path = path.data};
  int rc = path.oom ? WFC_ENOMEM
                    : o365_msg_one(call, &o, "sending the draft failed", out);
  o365_buf_free(&path);
  return rc;
}

const wfc_card_desc o365_card_send_draft = {
    .id = "send_draft",
    .name = "Send Draft",
    .description = "Sends a draft message created earlier (Create Draft); it "
                   "then moves to Sent Items.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_msg_sent_fields,
    .invoke = invoke};
