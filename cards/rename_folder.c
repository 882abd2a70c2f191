/* rename_folder.c - Rename Folder.
 * Graph: (folder lookup, folders.h) then PATCH {mb}/mailFolders/{id}
 * {"displayName"} (repeatable: the same name again changes nothing). A
 * well-known folder is refused before any request; a sibling of that name
 * is 409 ErrorFolderExists. */
#include <json-c/json.h>

#include "entry.h"
#include "folders.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_FOLDER("The folder to rename: a path like Inbox/Projects or "
                       "a folder id (not a well-known folder).")},
    {.name = "name",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Its new display name.",
     .min = 1,
     .max = 255},
    {0}};

static int invoke(wfc_call *call) {
  struct json_object *body = json_object_new_object();
  o365_json_add_str(body, "displayName",
                    o365_json_str(o365_api->call_input(call), "name"));
  int rc = o365_folder_op(call, "PATCH", body, "renaming the folder failed",
                          O365_FOLDER_OP_NOT_WELLKNOWN);
  json_object_put(body);
  return rc;
}

const wfc_card_desc o365_card_rename_folder = {
    .id = "rename_folder",
    .name = "Rename Folder",
    .description = "Gives a mail folder a new display name.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_folder_fields,
    .invoke = invoke};
