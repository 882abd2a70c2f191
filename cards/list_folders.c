/* list_folders.c - List Folders: the mailbox's folders, flat or as a tree,
 * with item counts, optionally under a parent.
 * Graph: (parent lookup, folders.h) then GET .../mailFolders or
 * .../mailFolders/{id}/childFolders, paged, once per folder with children
 * when recursive. */
#include <string.h>

#include <json-c/json.h>

#include "entry.h"
#include "folders.h"
#include "graph.h"

static const char *const formats[] = {"flat", "tree", NULL};

static const wfc_field folder_fields[] = {
    {.name = "id", .type = WFC_TYPE_STRING, .description = "Folder id."},
    {.name = "name", .type = WFC_TYPE_STRING, .description = "Display name."},
    {.name = "path",
     .type = WFC_TYPE_STRING,
     .description = "Display-name path from the listed parent."},
    {.name = "parent_id", .type = WFC_TYPE_STRING},
    {.name = "depth", .type = WFC_TYPE_INTEGER},
    {.name = "child_count", .type = WFC_TYPE_INTEGER},
    {.name = "unread_count", .type = WFC_TYPE_INTEGER},
    {.name = "total_count", .type = WFC_TYPE_INTEGER},
    {.name = "is_hidden", .type = WFC_TYPE_BOOLEAN},
    {.name = "children",
     .type = WFC_TYPE_LIST,
     .description = "Sub-folders (tree format only), same shape.",
     .items = &(const wfc_field){.type = WFC_TYPE_ANY}},
    {0}};

static const wfc_field inputs[] = {
    {.name = "mailbox",
     .type = WFC_TYPE_STRING,
     .description = "Shared or delegated mailbox (UPN or id); empty for "
                    "your own."},
    {.name = "parent",
     .type = WFC_TYPE_STRING,
     .description = "List under this folder (well-known name, path like "
                    "Inbox/Projects, or id); empty for the top level."},
    {.name = "recursive",
     .type = WFC_TYPE_BOOLEAN,
     .description = "Include sub-folders at every level.",
     .default_json = "true"},
    {.name = "format",
     .type = WFC_TYPE_STRING,
     .description = "flat: one list with paths; tree: nested children.",
     .default_json = "\"flat\"",
     .enum_values = formats},
    {.name = "include_hidden",
     .type = WFC_TYPE_BOOLEAN,
     .description = "Include hidden folders.",
     .default_json = "false"},
    {.name = "max_depth",
     .type = WFC_TYPE_INTEGER,
     .description = "Levels below the parent to descend (0: direct "
                    "children only).",
     .default_json = "10",
     .min = 0,
     .max = 64},
    {.name = "max_folders",
     .type = WFC_TYPE_INTEGER,
     .description = "Stop after this many folders (truncated is then true).",
     .default_json = "1000",
     .min = 1,
     .max = 100000},
    {0}};

static const wfc_field outputs[] = {
    {.name = "folders",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .items =
         &(const wfc_field){.type = WFC_TYPE_OBJECT, .fields = folder_fields}},
    {.name = "count",
     .type = WFC_TYPE_INTEGER,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Folders listed (all levels)."},
    {.name = "truncated",
     .type = WFC_TYPE_BOOLEAN,
     .flags = WFC_FIELD_REQUIRED},
    {0}};

static int64_t in_int(struct json_object *in, const char *key, int64_t def) {
  int64_t v = def;
  o365_json_int64(in, key, &v);
  return v;
}

static int in_bool(struct json_object *in, const char *key, int def) {
  struct json_object *v = NULL;
  return json_object_object_get_ex(in, key, &v) ? json_object_get_boolean(v)
                                                : def;
}

static void on_list(void *arg, int status, struct json_object *folders,
                    int truncated, const char *error) {
  wfc_call *call = arg;
  if (status != 0) {
    o365_api->call_fail(call, status, NULL, "%s", error);
    return;
  }
  const char *format = o365_json_str(o365_api->call_input(call), "format");
  struct json_object *out = json_object_new_object();
  size_t n = json_object_array_length(folders);
  O365_JSON_ADD(out, "count", json_object_new_int64((int64_t)n));
  O365_JSON_ADD(out, "truncated", json_object_new_boolean(truncated));
  if (format == NULL || strcmp(format, "tree") != 0) {
    O365_JSON_ADD(out, "folders", json_object_get(folders));
  } else {
    /* folders is depth-first: each folder's subtree follows it, so a
     * stack of the open ancestors nests them in one pass. */
    struct json_object *roots = json_object_new_array();
    struct json_object *stack[65];
    int top = -1;
    for (size_t i = 0; i < n; i++) {
      struct json_object *f = NULL;
      json_object_deep_copy(json_object_array_get_idx(folders, i), &f, NULL);
      int64_t depth = in_int(f, "depth", 0);
      while (top >= 0 && top >= depth)
        top--;
      struct json_object *kids = NULL;
      if (top >= 0 && json_object_object_get_ex(stack[top], "children", &kids))
        json_object_array_add(kids, f);
      else
        json_object_array_add(roots, f);
      O365_JSON_ADD(f, "children", json_object_new_array());
      if (depth < 64)
        stack[top = (int)depth] = f;
    }
    O365_JSON_ADD(out, "folders", roots);
  }
  o365_api->call_done(call, out);
}

static void start_list(wfc_call *call, const char *parent_id) {
  struct json_object *in = o365_api->call_input(call);
  o365_folder_list_opts o = {.mailbox = o365_call_mailbox(call),
                             .parent_id = parent_id,
                             .recursive = in_bool(in, "recursive", 1),
                             .include_hidden = in_bool(in, "include_hidden", 0),
                             .max_depth = (int)in_int(in, "max_depth", 10),
                             .max_folders =
                                 (size_t)in_int(in, "max_folders", 1000)};
  int rc = o365_folder_list(call, &o, on_list, call);
  if (rc != 0)
    o365_api->call_fail(call, rc, NULL, "could not start listing folders");
}

static void on_parent(void *arg, int status, const char *folder_id,
                      const char *error) {
  wfc_call *call = arg;
  if (status != 0)
    o365_api->call_fail(call, status, NULL, "parent: %s", error);
  else
    start_list(call, folder_id);
}

static int invoke(wfc_call *call) {
  const char *parent = o365_json_str(o365_api->call_input(call), "parent");
  if (parent == NULL || *parent == '\0') {
    start_list(call, NULL);
    return 0;
  }
  return o365_folder_resolve(call, o365_call_mailbox(call), parent, on_parent,
                             call);
}

const wfc_card_desc o365_card_list_folders = {
    .id = "list_folders",
    .name = "List Folders",
    .description = "Lists the mail folders of a mailbox, flat with paths or "
                   "as a tree, with unread and total item counts.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
