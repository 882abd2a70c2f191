/* export_email.c - Export Email (MIME).
 * Graph: GET {mb}/messages/{id}/$value, the RFC 5322 / MIME text of the
 * message (attachments included), streamed into a new blob of the host's
 * store (sink_blob): never whole in memory. Output: the FILE ref. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "entry.h"
#include "message.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_MESSAGE_ID("Id of the message to export.")},
    {.name = "file_name",
     .type = WFC_TYPE_STRING,
     .description = "Name of the file.",
     .default_json = "\"message.eml\"",
     .min = 1,
     .max = 255},
    {0}};

static const wfc_field outputs[] = {
    {.name = "file",
     .type = WFC_TYPE_FILE,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The message as a .eml file (message/rfc822)."},
    {.name = "size", .type = WFC_TYPE_INTEGER, .flags = WFC_FIELD_REQUIRED},
    {0}};

typedef struct job {
  wfc_call *call;
  wfc_blob *sink; /* ours until closed */
} job;

static void on_value(void *arg, const o365_graph_res *res) {
  job *j = arg;
  if (res->error != 0) {
    o365_msg_fail(j->call, res, "exporting the message failed");
  } else if (o365_api->blob_commit(j->sink) != 0) {
    o365_api->call_fail(j->call, WFC_EIO, NULL,
                        "the exported message could not be stored");
  } else {
    struct json_object *ref = o365_api->blob_ref(j->sink);
    struct json_object *size = NULL;
    json_object_object_get_ex(ref, "size", &size);
    struct json_object *out = json_object_new_object();
    O365_JSON_ADD(out, "size",
                  json_object_new_int64(json_object_get_int64(size)));
    O365_JSON_ADD(out, "file", ref);
    o365_api->call_done(j->call, out);
  }
  o365_api->blob_close(j->sink); /* deletes it unless committed */
  free(j);
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  const char *name = o365_json_str(in, "file_name");
  if (strchr(name ? name : "", '/') != NULL) {
    o365_api->call_fail(call, WFC_EVALIDATION, NULL,
                        "file_name: a name, not a path (no '/')");
    return 0;
  }
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return WFC_ENOMEM;
  j->call = call;
  int rc = o365_api->blob_create(name ? name : "message.eml", "message/rfc822",
                                 &j->sink);
  if (rc != 0) {
    free(j);
    return rc;
  }
  o365_buf path;
  o365_buf_init(&path);
  o365_msg_path(&path, o365_call_mailbox(call), o365_json_str(in, "message_id"),
                "$value");
  o365_graph_opts o = {.path = path.data,
                       .sink_blob = j->sink,
                       .timeout_ms = 3600000,
                       .flags = O365_GRAPH_RAW,
                       .accept = "application/octet-stream"};
  rc = path.oom ? WFC_ENOMEM : o365_graph_send(call, &o, on_value, j, NULL);
  o365_buf_free(&path);
  if (rc != 0) {
    o365_api->blob_close(j->sink);
    free(j);
  }
  return rc;
}

const wfc_card_desc o365_card_export_email = {
    .id = "export_email",
    .name = "Export Email",
    .description = "Saves a message with its attachments as a MIME (.eml) "
                   "file, for archiving or handing to another system.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
