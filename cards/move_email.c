/* move_email.c - Move Email.
 * Graph: (folder lookup, folders.h) then POST {mb}/messages/{id}/move
 * {"destinationId"} (message.h: o365_msg_move_copy). */
#include "entry.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_MESSAGE_ID("Id of the message to move.")},
    {O365_FIELD_DESTINATION_FOLDER},
    {0}};

static int invoke(wfc_call *call) {
  return o365_msg_move_copy(call, "move");
}

const wfc_card_desc o365_card_move_email = {
    .id = "move_email",
    .name = "Move Email",
    .description = "Moves a message to another folder; the output carries "
                   "its new id.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_msg_fields,
    .invoke = invoke};
