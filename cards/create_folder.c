/* create_folder.c - Create Folder: a mail folder at the top level or under
 * a parent.
 * Graph: (parent lookup, folders.h) then POST .../mailFolders or
 * .../mailFolders/{parent}/childFolders {"displayName","isHidden"?}; when
 * it exists (409 ErrorFolderExists) and if_exists is return_existing,
 * GET .../childFolders?$filter=displayName eq '...'. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "entry.h"
#include "folders.h"
#include "graph.h"

static const char *const if_exists_values[] = {"error", "return_existing",
                                               NULL};

static const wfc_field inputs[] = {
    {.name = "mailbox",
     .type = WFC_TYPE_STRING,
     .description = "Shared or delegated mailbox (UPN or id); empty for "
                    "your own."},
    {.name = "name",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Display name of the new folder.",
     .min = 1,
     .max = 255},
    {.name = "parent",
     .type = WFC_TYPE_STRING,
     .description = "Create it under this folder (well-known name, path like "
                    "Inbox/Projects, or id); empty for the top level."},
    {.name = "if_exists",
     .type = WFC_TYPE_STRING,
     .description = "When a folder of that name exists there: error, or "
                    "return_existing to return it (created is then false).",
     .default_json = "\"error\"",
     .enum_values = if_exists_values},
    {.name = "hidden",
     .type = WFC_TYPE_BOOLEAN,
     .description = "Create a hidden folder (can't be changed later).",
     .default_json = "false"},
    {0}};

static const wfc_field outputs[] = {
    {.name = "id", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED},
    {.name = "name", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED},
    {.name = "parent_id", .type = WFC_TYPE_STRING},
    {.name = "child_count", .type = WFC_TYPE_INTEGER},
    {.name = "unread_count", .type = WFC_TYPE_INTEGER},
    {.name = "total_count", .type = WFC_TYPE_INTEGER},
    {.name = "is_hidden", .type = WFC_TYPE_BOOLEAN},
    {.name = "created",
     .type = WFC_TYPE_BOOLEAN,
     .flags = WFC_FIELD_REQUIRED,
     .description = "false when an existing folder was returned."},
    {0}};

typedef struct job {
  wfc_call *call;
  char *parent_id; /* NULL = top level */
} job;

static void job_done(job *j) {
  free(j->parent_id);
  free(j);
}

/* ".../mailFolders" or ".../mailFolders/{parent}/childFolders". */
static void folders_path(o365_buf *b, job *j) {
  o365_graph_mailbox(b, o365_call_mailbox(j->call));
  o365_buf_put(b, "/mailFolders");
  if (j->parent_id != NULL) {
    o365_buf_seg(b, j->parent_id);
    o365_buf_put(b, "/childFolders");
  }
}

static void finish(job *j, struct json_object *graph_folder, int created) {
  struct json_object *out = o365_folder_json(graph_folder);
  O365_JSON_ADD(out, "created", json_object_new_boolean(created));
  o365_api->call_done(j->call, out);
  job_done(j);
}

static const char *parent_label(job *j) {
  const char *p = o365_json_str(o365_api->call_input(j->call), "parent");
  return p && *p ? p : "the top level";
}

static void on_existing(void *arg, const o365_graph_res *res) {
  job *j = arg;
  const char *name = o365_json_str(o365_api->call_input(j->call), "name");
  if (res->error != 0) {
    o365_graph_fail(j->call, res, "looking up the existing folder failed");
    job_done(j);
    return;
  }
  struct json_object *value = NULL;
  json_object_object_get_ex(res->json, "value", &value);
  for (size_t i = 0; i < json_object_array_length(value); i++) {
    struct json_object *f = json_object_array_get_idx(value, i);
    const char *dn = o365_json_str(f, "displayName");
    if (dn != NULL && strcasecmp(dn, name) == 0) {
      finish(j, f, 0);
      return;
    }
  }
  o365_api->call_fail(j->call, WFC_EEXIST, NULL,
                      "folder \"%s\" exists under %s but could not be read "
                      "back",
                      name, parent_label(j));
  job_done(j);
}

static void on_created(void *arg, const o365_graph_res *res) {
  job *j = arg;
  struct json_object *in = o365_api->call_input(j->call);
  const char *name = o365_json_str(in, "name");
  if (res->error == WFC_EEXIST ||
      strcmp(res->gerr.code, "ErrorFolderExists") == 0) {
    const char *mode = o365_json_str(in, "if_exists");
    if (mode == NULL || strcmp(mode, "return_existing") != 0) {
      struct json_object *d = json_object_new_object();
      o365_json_add_str(d, "code", res->gerr.code);
      o365_api->call_fail(j->call, WFC_EEXIST, d,
                          "name: a folder named \"%s\" already exists under "
                          "%s (set if_exists to return_existing to get it)",
                          name, parent_label(j));
      job_done(j);
      return;
    }
    o365_buf path, filter;
    o365_buf_init(&path);
    o365_buf_init(&filter);
    folders_path(&path, j);
    o365_buf_put(&filter, "displayName eq ");
    o365_odata_literal(&filter, name);
    o365_buf_query(&path, "$filter", filter.data ? filter.data : "");
    o365_buf_query(&path, "includeHiddenFolders", "true");
    o365_graph_opts o = {.path = path.data};
    int rc = path.oom || filter.oom
                 ? WFC_ENOMEM
                 : o365_graph_send(j->call, &o, on_existing, j, NULL);
    o365_buf_free(&path);
    o365_buf_free(&filter);
    if (rc != 0) {
      o365_api->call_fail(j->call, rc, NULL, "could not start the request");
      job_done(j);
    }
    return;
  }
  if (res->error != 0) {
    o365_graph_fail(j->call, res, "creating the folder failed");
    job_done(j);
    return;
  }
  finish(j, res->json, 1);
}

static void create(job *j) {
  struct json_object *in = o365_api->call_input(j->call);
  struct json_object *body = json_object_new_object();
  o365_json_add_str(body, "displayName", o365_json_str(in, "name"));
  struct json_object *hidden = NULL;
  if (json_object_object_get_ex(in, "hidden", &hidden) &&
      json_object_get_boolean(hidden))
    O365_JSON_ADD(body, "isHidden", json_object_new_boolean(1));
  o365_buf path;
  o365_buf_init(&path);
  folders_path(&path, j);
  o365_graph_opts o = {.method = "POST", .path = path.data, .body = body};
  int rc =
      path.oom ? WFC_ENOMEM : o365_graph_send(j->call, &o, on_created, j, NULL);
  o365_buf_free(&path);
  json_object_put(body);
  if (rc != 0) {
    o365_api->call_fail(j->call, rc, NULL, "could not start the request");
    job_done(j);
  }
}

static void on_parent(void *arg, int status, const char *folder_id,
                      const char *error) {
  job *j = arg;
  if (status != 0) {
    o365_api->call_fail(j->call, status, NULL, "parent: %s", error);
    job_done(j);
    return;
  }
  j->parent_id = strdup(folder_id);
  if (j->parent_id == NULL) {
    o365_api->call_fail(j->call, WFC_ENOMEM, NULL, "out of memory");
    job_done(j);
    return;
  }
  create(j);
}

static int invoke(wfc_call *call) {
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return WFC_ENOMEM;
  j->call = call;
  const char *parent = o365_json_str(o365_api->call_input(call), "parent");
  if (parent == NULL || *parent == '\0') {
    create(j);
    return 0;
  }
  int rc =
      o365_folder_resolve(call, o365_call_mailbox(call), parent, on_parent, j);
  if (rc != 0)
    free(j);
  return rc;
}

const wfc_card_desc o365_card_create_folder = {
    .id = "create_folder",
    .name = "Create Folder",
    .description = "Creates a mail folder at the top level or under a parent "
                   "folder; an existing folder of that name is an error or is "
                   "returned.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
