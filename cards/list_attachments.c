/* list_attachments.c - List Attachments: metadata of a message's
 * attachments, never their content.
 * Graph: GET .../messages/{id}/attachments?$select=... (paged). */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "attachall.h"
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
     .description = "The message (or draft) whose attachments to list.",
     .min = 1},
    {0}};

static const wfc_field att_fields[] = {
    {.name = "id", .type = WFC_TYPE_STRING},
    {.name = "name", .type = WFC_TYPE_STRING},
    {.name = "content_type", .type = WFC_TYPE_STRING},
    {.name = "size", .type = WFC_TYPE_INTEGER},
    {.name = "is_inline", .type = WFC_TYPE_BOOLEAN},
    {.name = "kind",
     .type = WFC_TYPE_STRING,
     .description = "file, item (an attached message or event) or reference "
                    "(a link)."},
    {.name = "last_modified", .type = WFC_TYPE_DATETIME},
    {0}};

static const wfc_field outputs[] = {
    {.name = "attachments",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .items =
         &(const wfc_field){.type = WFC_TYPE_OBJECT, .fields = att_fields}},
    {.name = "count", .type = WFC_TYPE_INTEGER, .flags = WFC_FIELD_REQUIRED},
    {0}};

typedef struct job {
  wfc_call *call;
  struct json_object *list; /* o365_list_new: counted in count */
  int64_t count;
} job;

static int on_page(void *arg, const o365_graph_res *res) {
  job *j = arg;
  if (res->error != 0) {
    o365_graph_fail(j->call, res, "listing the attachments failed");
    json_object_put(j->list);
    free(j);
    return 0;
  }
  struct json_object *value = NULL;
  json_object_object_get_ex(res->json, "value", &value);
  for (size_t i = 0; i < json_object_array_length(value); i++) {
    struct json_object *a = json_object_array_get_idx(value, i);
    struct json_object *o = json_object_new_object();
    o365_json_add_str(o, "id", o365_json_str(a, "id"));
    o365_json_add_str(o, "name", o365_json_str(a, "name"));
    o365_json_add_str(o, "content_type", o365_json_str(a, "contentType"));
    int64_t size = 0;
    o365_json_int64(a, "size", &size);
    O365_JSON_ADD(o, "size", json_object_new_int64(size));
    struct json_object *inl = NULL;
    json_object_object_get_ex(a, "isInline", &inl);
    O365_JSON_ADD(o, "is_inline",
                  json_object_new_boolean(json_object_get_boolean(inl)));
    o365_json_add_str(o, "kind",
                      o365_attach_kind(o365_json_str(a, "@odata.type")));
    o365_json_add_str(o, "last_modified",
                      o365_json_str(a, "lastModifiedDateTime"));
    if (o365_list_add(j->list, o) != 0) {
      o365_api->call_fail(j->call, WFC_ENOMEM, NULL, "out of memory");
      json_object_put(j->list);
      free(j);
      return 0;
    }
    j->count++;
  }
  if (res->next_link != NULL)
    return 1;
  struct json_object *out = json_object_new_object();
  O365_JSON_ADD(out, "count", json_object_new_int64(j->count));
  O365_JSON_ADD(out, "attachments", j->list);
  o365_api->call_done(j->call, out);
  free(j);
  return 0;
}

static int invoke(wfc_call *call) {
  const char *mid = o365_json_str(o365_api->call_input(call), "message_id");
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return WFC_ENOMEM;
  j->call = call;
  if ((j->list = o365_list_new(call)) == NULL) {
    free(j);
    return WFC_ENOMEM;
  }
  o365_buf b;
  o365_buf_init(&b);
  o365_graph_mailbox(&b, o365_call_mailbox(call));
  o365_buf_put(&b, "/messages");
  o365_buf_seg(&b, mid);
  o365_buf_put(&b, "/attachments");
  /* No contentBytes: the list must not carry the files themselves. */
  o365_buf_query(&b, "$select",
                 "id,name,contentType,size,isInline,lastModifiedDateTime");
  o365_graph_opts o = {.path = b.data};
  int rc = b.oom ? WFC_ENOMEM : o365_graph_pages(call, &o, on_page, j);
  o365_buf_free(&b);
  if (rc != 0) {
    json_object_put(j->list);
    free(j);
  }
  return rc;
}

const wfc_card_desc o365_card_list_attachments = {
    .id = "list_attachments",
    .name = "List Attachments",
    .description = "Lists the attachments of a message: names, types, sizes "
                   "and ids (no content).",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
