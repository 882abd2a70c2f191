/* delete_folder.c - Delete Folder, with its messages and child folders.
 * Graph: (folder lookup, folders.h) then DELETE {mb}/mailFolders/{id}. A
 * well-known folder is refused before any request. A rerun after the
 * folder is gone ends with "not found" naming it. */
#include "entry.h"
#include "folders.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_FOLDER("The folder to delete: a path like Inbox/Projects or "
                       "a folder id (not a well-known folder).")},
    {0}};

static const wfc_field outputs[] = {
    {.name = "deleted", .type = WFC_TYPE_BOOLEAN, .flags = WFC_FIELD_REQUIRED},
    {0}};

static int invoke(wfc_call *call) {
  return o365_folder_op(call, "DELETE", NULL, "deleting the folder failed",
                        O365_FOLDER_OP_NOT_WELLKNOWN);
}

const wfc_card_desc o365_card_delete_folder = {
    .id = "delete_folder",
    .name = "Delete Folder",
    .description = "Deletes a mail folder with the messages and folders in "
                   "it.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
