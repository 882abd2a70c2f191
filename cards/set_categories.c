/* set_categories.c - Set Categories.
 * Graph: replace: PATCH {mb}/messages/{id} {"categories":[...]};
 * add/remove: GET {mb}/messages/{id}?$select=categories first, then the
 * PATCH with the merged list (case-insensitive, order kept). */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "entry.h"
#include "message.h"

static const char *const mode_values[] = {"replace", "add", "remove", NULL};

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_MESSAGE_ID("Id of the message.")},
    {.name = "categories",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Category names (as in Outlook's master list, e.g. Red "
                    "category).",
     .items = o365_msg_category_item,
     .max = 50},
    {.name = "mode",
     .type = WFC_TYPE_STRING,
     .description = "replace the message's categories, add these to them, "
                    "or remove these from them.",
     .default_json = "\"replace\"",
     .enum_values = mode_values},
    {0}};

static int has(struct json_object *list, const char *s) {
  for (size_t i = 0; i < json_object_array_length(list); i++)
    if (strcasecmp(json_object_get_string(json_object_array_get_idx(list, i)),
                   s) == 0)
      return 1;
  return 0;
}

static int patch(wfc_call *call, struct json_object *cats) {
  struct json_object *body = json_object_new_object();
  O365_JSON_ADD(body, "categories", json_object_get(cats));
  int rc = o365_msg_patch(call, body, "setting categories failed");
  json_object_put(body);
  return rc;
}

static void on_current(void *arg, const o365_graph_res *res) {
  wfc_call *call = arg;
  if (res->error != 0) {
    o365_msg_fail(call, res, "reading the message's categories failed");
    return;
  }
  struct json_object *in = o365_api->call_input(call);
  struct json_object *given = NULL, *cur = NULL;
  json_object_object_get_ex(in, "categories", &given);
  json_object_object_get_ex(res->json, "categories", &cur);
  int add = strcmp(o365_json_str(in, "mode"), "add") == 0;
  struct json_object *next = json_object_new_array();
  for (size_t i = 0; cur && i < json_object_array_length(cur); i++) {
    struct json_object *c = json_object_array_get_idx(cur, i);
    if (add || !has(given, json_object_get_string(c)))
      json_object_array_add(next, json_object_get(c));
  }
  for (size_t i = 0; add && i < json_object_array_length(given); i++) {
    struct json_object *c = json_object_array_get_idx(given, i);
    if (!has(next, json_object_get_string(c)))
      json_object_array_add(next, json_object_get(c));
  }
  int rc = patch(call, next);
  json_object_put(next);
  if (rc != 0)
    o365_api->call_fail(call, rc, NULL, "the update could not start");
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  const char *mode = o365_json_str(in, "mode");
  struct json_object *given = NULL;
  json_object_object_get_ex(in, "categories", &given);
  if (mode == NULL || strcmp(mode, "replace") == 0)
    return patch(call, given);
  o365_buf path;
  o365_buf_init(&path);
  o365_msg_path(&path, o365_call_mailbox(call), o365_json_str(in, "message_id"),
                NULL);
  o365_buf_query(&path, "$select", "categories");
  o365_graph_opts o = {.path = path.data};
  int rc =
      path.oom ? WFC_ENOMEM : o365_graph_send(call, &o, on_current, call, NULL);
  o365_buf_free(&path);
  return rc;
}

const wfc_card_desc o365_card_set_categories = {
    .id = "set_categories",
    .name = "Set Categories",
    .description = "Replaces, adds to or removes from the Outlook categories "
                   "of a message.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_msg_fields,
    .invoke = invoke};
