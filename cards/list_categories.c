/* list_categories.c - List Categories: the mailbox's master category list
 * (the names and colours Outlook offers; set_categories puts names on
 * messages).
 * Graph: GET {mb}/outlook/masterCategories (MailboxSettings.Read, which
 * the connection's default scopes do not include: a 403 says so). */
#include <json-c/json.h>

#include "entry.h"
#include "graph.h"
#include "message.h"

static const wfc_field inputs[] = {{O365_FIELD_MAILBOX}, {0}};

static const wfc_field category_fields[] = {
    {.name = "id", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED},
    {.name = "name", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED},
    {.name = "color",
     .type = WFC_TYPE_STRING,
     .description = "Outlook's colour preset (preset0 = red ... preset24), "
                    "or none."},
    {0}};

static const wfc_field category_item[] = {
    {.type = WFC_TYPE_OBJECT, .fields = category_fields}, {0}};

static const wfc_field outputs[] = {
    {.name = "categories",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .items = category_item},
    {.name = "count", .type = WFC_TYPE_INTEGER, .flags = WFC_FIELD_REQUIRED},
    {0}};

static void on_list(void *arg, const o365_graph_res *res) {
  wfc_call *call = arg;
  if (res->status == 403) {
    o365_graph_fail(call, res,
                    "reading the category list was refused: it needs the "
                    "MailboxSettings.Read permission (not among this "
                    "connection's default scopes) and, for another mailbox, "
                    "the right to read its settings");
    return;
  }
  if (res->error != 0) {
    o365_graph_fail(call, res, "reading the category list failed");
    return;
  }
  struct json_object *value = NULL, *list = json_object_new_array();
  json_object_object_get_ex(res->json, "value", &value);
  size_t n = json_object_is_type(value, json_type_array)
                 ? json_object_array_length(value)
                 : 0;
  for (size_t i = 0; i < n; i++) {
    struct json_object *c = json_object_array_get_idx(value, i);
    struct json_object *o = json_object_new_object();
    o365_json_add_str(o, "id", o365_json_str(c, "id"));
    o365_json_add_str(o, "name", o365_json_str(c, "displayName"));
    o365_json_add_str(o, "color", o365_json_str(c, "color"));
    json_object_array_add(list, o);
  }
  struct json_object *out = json_object_new_object();
  O365_JSON_ADD(out, "categories", list);
  O365_JSON_ADD(out, "count", json_object_new_int64((int64_t)n));
  o365_api->call_done(call, out);
}

static int invoke(wfc_call *call) {
  o365_buf path;
  o365_buf_init(&path);
  o365_graph_mailbox(&path, o365_call_mailbox(call));
  o365_buf_put(&path, "/outlook/masterCategories");
  o365_graph_opts o = {.path = path.data};
  int rc =
      path.oom ? WFC_ENOMEM : o365_graph_send(call, &o, on_list, call, NULL);
  o365_buf_free(&path);
  return rc;
}

const wfc_card_desc o365_card_list_categories = {
    .id = "list_categories",
    .name = "List Categories",
    .description = "Lists the mailbox's master categories: the names and "
                   "colours Outlook offers for tagging messages.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
