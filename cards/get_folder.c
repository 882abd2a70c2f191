/* get_folder.c - Get Folder: one mail folder's id, name and counts.
 * Graph: (folder lookup, folders.h) then GET {mb}/mailFolders/{id}. */
#include "entry.h"
#include "folders.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_FOLDER("The folder: a well-known name (inbox, archive...), "
                       "a path like Inbox/Projects, or a folder id.")},
    {0}};

static int invoke(wfc_call *call) {
  return o365_folder_op(call, "GET", NULL, "reading the folder failed", 0);
}

const wfc_card_desc o365_card_get_folder = {
    .id = "get_folder",
    .name = "Get Folder",
    .description = "Reads a mail folder (by well-known name, path or id): "
                   "its id, name, parent, and message and child counts.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_folder_fields,
    .invoke = invoke};
