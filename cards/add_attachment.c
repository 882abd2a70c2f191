/* add_attachment.c - Add Attachment: files from the host's file store to
 * an existing message or draft.
 * Graph (attach.h): per file, POST .../messages/{id}/attachments (up to
 * 3 MB, inline) or POST .../attachments/createUploadSession + PUTs to the
 * uploadUrl (to 150 MB). */
#include <json-c/json.h>

#include "attach.h"
#include "entry.h"
#include "graph.h"

static const wfc_field inputs[] = {
    {.name = "mailbox",
     .type = WFC_TYPE_STRING,
     .description = "Shared or delegated mailbox (UPN or id); empty for "
                    "your own."},
    {.name = "message_id",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The message or draft to attach to.",
     .min = 1},
    {.name = "files",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Files to attach (each up to 150 MB; sizes are checked "
                    "before anything is uploaded).",
     .items = &(const wfc_field){.type = WFC_TYPE_FILE},
     .min = 1,
     .max = 100},
    {0}};

static const wfc_field att_fields[] = {
    {.name = "id", .type = WFC_TYPE_STRING},
    {.name = "name", .type = WFC_TYPE_STRING},
    {.name = "content_type", .type = WFC_TYPE_STRING},
    {.name = "size", .type = WFC_TYPE_INTEGER},
    {.name = "method",
     .type = WFC_TYPE_STRING,
     .description = "inline (up to 3 MB) or upload_session."},
    {0}};

static const wfc_field outputs[] = {
    {.name = "attachments",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .items =
         &(const wfc_field){.type = WFC_TYPE_OBJECT, .fields = att_fields}},
    {0}};

static void on_attached(void *arg, int status, struct json_object *list,
                        const char *error, struct json_object *detail) {
  wfc_call *call = arg;
  if (status != 0) {
    o365_api->call_fail(call, status, json_object_get(detail), "%s", error);
    return;
  }
  struct json_object *out = json_object_new_object();
  O365_JSON_ADD(out, "attachments", json_object_get(list));
  o365_api->call_done(call, out);
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call), *files = NULL;
  json_object_object_get_ex(in, "files", &files);
  return o365_attach_files(call, o365_call_mailbox(call),
                           o365_json_str(in, "message_id"), files, on_attached,
                           call);
}

const wfc_card_desc o365_card_add_attachment = {
    .id = "add_attachment",
    .name = "Add Attachment",
    .description = "Attaches files to an existing message or draft: up to "
                   "3 MB inline, larger ones (to 150 MB) through an upload "
                   "session.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
