/* download_attachment.c - Download Message Attachment: one attachment,
 * streamed into a new file of the host's file store.
 * Graph (attach.h): GET .../attachments/{aid}?$select=... then GET
 * .../attachments/{aid}/$value into the blob. */
#include <string.h>

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
     .min = 1},
    {.name = "attachment_id",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .min = 1},
    {0}};

static const wfc_field outputs[] = {
    {.name = "file",
     .type = WFC_TYPE_FILE,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The attachment's content (an attached message as "
                    ".eml)."},
    {.name = "name", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED},
    {.name = "content_type", .type = WFC_TYPE_STRING},
    {.name = "size",
     .type = WFC_TYPE_INTEGER,
     .description = "Bytes written to the file."},
    {.name = "is_inline", .type = WFC_TYPE_BOOLEAN},
    {.name = "kind", .type = WFC_TYPE_STRING, .description = "file or item."},
    {0}};

static void on_download(void *arg, int status, struct json_object *file,
                        struct json_object *meta, const char *error,
                        struct json_object *detail) {
  wfc_call *call = arg;
  if (status != 0) {
    o365_api->call_fail(call, status, json_object_get(detail), "%s", error);
    return;
  }
  struct json_object *out = json_object_new_object();
  O365_JSON_ADD(out, "file", json_object_get(file));
  json_object_object_foreach(meta, k, v) {
    if (strcmp(k, "id") != 0 && strcmp(k, "size") != 0)
      json_object_object_add(out, k, json_object_get(v));
  }
  O365_JSON_ADD(out, "size",
                json_object_get(json_object_object_get(file, "size")));
  o365_api->call_done(call, out);
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  return o365_attach_download(
      call, o365_call_mailbox(call), o365_json_str(in, "message_id"),
      o365_json_str(in, "attachment_id"), on_download, call);
}

const wfc_card_desc o365_card_download_attachment = {
    .id = "download_attachment",
    .name = "Download Message Attachment",
    .description = "Downloads one attachment of a message into a file (up "
                   "to 2 GB, streamed, never whole in memory).",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
