/* copy_email.c - Copy Email.
 * Graph: (folder lookup, folders.h) then POST {mb}/messages/{id}/copy
 * {"destinationId"} (message.h: o365_msg_move_copy). */
#include "entry.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_MESSAGE_ID("Id of the message to copy.")},
    {O365_FIELD_DESTINATION_FOLDER},
    {0}};

static int invoke(wfc_call *call) {
  return o365_msg_move_copy(call, "copy");
}

const wfc_card_desc o365_card_copy_email = {
    .id = "copy_email",
    .name = "Copy Email",
    .description = "Copies a message into another folder; the output is the "
                   "copy.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_msg_fields,
    .invoke = invoke};
