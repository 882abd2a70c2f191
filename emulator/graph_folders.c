/* Graph mailFolders: list/get/create/update/delete and childFolders, with
 * well-known names usable wherever an id is. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "graph_priv.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void reply_folder(graph_ctx *c, int status, emu_folder *f) {
  json_object *o = json_object_new_object();
  char *ctx = graph_context_url(c, "mailFolders/$entity");
  json_object_object_add(o, "@odata.context", json_object_new_string(ctx));
  free(ctx);
  json_object *fj = emu_folder_to_json(f);
  json_object_object_foreach(fj, k, v) {
    json_object_object_add(o, k, json_object_get(v));
  }
  json_object_put(fj);
  emu_resp_json(c->r, status, o);
}

static void list_children(graph_ctx *c, emu_folder *parent, const char *what) {
  const char *hid = emu_req_query(c->r, "includeHiddenFolders");
  bool hidden = hid && !strcasecmp(hid, "true");
  json_object *items = json_object_new_array();
  for (size_t i = 0; i < c->mb->nfolders; i++) {
    emu_folder *f = c->mb->folders[i];
    if (f->parent != parent || (f->hidden && !hidden))
      continue;
    json_object_array_add(items, emu_folder_to_json(f));
  }
  /* Folders have no receivedDateTime: under the default order they all
   * compare equal and the stable sort keeps creation order. */
  graph_reply_collection(c, items, what, emu_odata_folder_props);
  json_object_put(items);
}

static void h_list(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_READ, &c))
    return;
  list_children(&c, emu_folder_find(c.mb, "msgfolderroot"), "mailFolders");
}

static void h_children(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_READ, &c))
    return;
  emu_folder *f = graph_folder(&c, emu_req_param(r, "folder"));
  if (f)
    list_children(&c, f, "mailFolders");
}

static void h_get(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_READ, &c))
    return;
  emu_folder *f = graph_folder(&c, emu_req_param(r, "folder"));
  if (f)
    reply_folder(&c, 200, f);
}

/* {"displayName": "...", "isHidden": bool}; 0 or -1 after 400. */
static int check_folder_body(graph_ctx *c, json_object *b, bool create) {
  json_object_object_foreach(b, k, v) {
    if (!strcmp(k, "displayName")) {
      if (!json_object_is_type(v, json_type_string) ||
          !*json_object_get_string(v)) {
        emu_graph_error(c->r, 400, "ErrorInvalidParameter",
                        "The value of the 'displayName' parameter must be a "
                        "non-empty string.");
        return -1;
      }
    } else if (!strcmp(k, "isHidden")) {
      if (!json_object_is_type(v, json_type_boolean)) {
        emu_graph_error(c->r, 400, "RequestBodyRead",
                        "Cannot convert the literal '%s' to the expected type "
                        "'Edm.Boolean'.",
                        json_object_to_json_string(v));
        return -1;
      }
    } else if (strcmp(k, "@odata.type") != 0) {
      emu_graph_error(c->r, 400, "RequestBodyRead",
                      "The property '%s' does not exist on type "
                      "'microsoft.graph.mailFolder'. Make sure to only use "
                      "property names that are defined by the type or mark "
                      "the type as open type.",
                      k);
      return -1;
    }
  }
  if (create && !json_object_object_get_ex(b, "displayName", NULL)) {
    emu_graph_error(c->r, 400, "ErrorInvalidParameter",
                    "The 'displayName' property is required.");
    return -1;
  }
  return 0;
}

static void h_create(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_WRITE, &c))
    return;
  emu_folder *parent = emu_folder_find(c.mb, "msgfolderroot");
  if (emu_req_param(r, "folder") &&
      !(parent = graph_folder(&c, emu_req_param(r, "folder"))))
    return;
  json_object *b = graph_body_object(&c);
  if (!b || check_folder_body(&c, b, true))
    return;
  json_object *dn = NULL, *hid = NULL;
  json_object_object_get_ex(b, "displayName", &dn);
  json_object_object_get_ex(b, "isHidden", &hid);
  bool conflict = false;
  emu_folder *f =
      emu_folder_create(graph_store(), c.mb, parent, json_object_get_string(dn),
                        hid && json_object_get_boolean(hid), &conflict);
  if (!f) {
    emu_graph_error(r, 409, "ErrorFolderExists",
                    "A folder with the specified name already exists.");
    return;
  }
  reply_folder(&c, 201, f);
}

static void h_patch(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_WRITE, &c))
    return;
  emu_folder *f = graph_folder(&c, emu_req_param(r, "folder"));
  if (!f)
    return;
  json_object *b = graph_body_object(&c);
  if (!b || check_folder_body(&c, b, false))
    return;
  json_object *dn = NULL;
  if (json_object_object_get_ex(b, "displayName", &dn)) {
    if (f->wellknown[0]) {
      emu_graph_error(r, 403, "ErrorAccessDenied",
                      "Access is denied. Check credentials and try again.");
      return;
    }
    /* Names are unique among siblings, renames included (as creates). */
    for (size_t i = 0; i < c.mb->nfolders; i++) {
      emu_folder *o = c.mb->folders[i];
      if (o != f && o->parent == f->parent &&
          strcasecmp(o->display_name, json_object_get_string(dn)) == 0) {
        emu_graph_error(r, 409, "ErrorFolderExists",
                        "A folder with the specified name already exists.");
        return;
      }
    }
    free(f->display_name);
    f->display_name = strdup(json_object_get_string(dn));
  }
  reply_folder(&c, 200, f);
}

static void h_delete(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_WRITE, &c))
    return;
  emu_folder *f = graph_folder(&c, emu_req_param(r, "folder"));
  if (!f)
    return;
  if (f->wellknown[0]) {
    emu_graph_error(r, 403, "ErrorDeleteDistinguishedFolder",
                    "Distinguished folders cannot be deleted.");
    return;
  }
  emu_folder_delete(graph_store(), f);
  emu_resp_empty(r, 204);
}

void graph_folders_init(void) {
  graph_route("GET", "/mailFolders", h_list, 0);
  graph_route("POST", "/mailFolders", h_create, 0);
  graph_route("GET", "/mailFolders/{folder}", h_get, 0);
  graph_route("PATCH", "/mailFolders/{folder}", h_patch, 0);
  graph_route("DELETE", "/mailFolders/{folder}", h_delete, 0);
  graph_route("GET", "/mailFolders/{folder}/childFolders", h_children, 0);
  graph_route("POST", "/mailFolders/{folder}/childFolders", h_create, 0);
}
