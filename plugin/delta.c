/* delta.c - see delta.h. */
#include "delta.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "entry.h"

typedef struct round {
  wfc_call *call;
  o365_delta_cb cb;
  void *arg;
  size_t max_items;
  json_object *items;
  json_object *removed_ids; /* ids of the @removed entries */
  size_t removed;
  int pages;
} round;

static void finish(round *r, o365_delta_res *res) {
  res->items = r->items;
  res->removed_ids = r->removed_ids;
  res->removed = r->removed;
  res->pages = r->pages;
  r->cb(r->arg, res);
  json_object_put(r->items);
  json_object_put(r->removed_ids);
  free(r);
}

static int is_expired(const o365_graph_res *g) {
  return g->status == 410 ||
         strcasecmp(g->gerr.code, "syncStateNotFound") == 0 ||
         strcasecmp(g->gerr.code, "resyncRequired") == 0;
}

static int on_page(void *arg, const o365_graph_res *g) {
  round *r = arg;
  o365_delta_res res = {0};
  if (g->error != 0) {
    res.error = g->error;
    res.message = g->message;
    res.graph = g->status != 0 ? g : NULL;
    if (g->status != 0 && is_expired(g)) {
      res.expired = 1;
      res.reason = g->gerr.code[0] ? g->gerr.code : "410 Gone";
    }
    finish(r, &res);
    return 0;
  }
  r->pages++;
  json_object *value = NULL;
  if (!json_object_object_get_ex(g->json, "value", &value) ||
      !json_object_is_type(value, json_type_array)) {
    res.error = WFC_EPROTO;
    res.message = "Graph's delta page has no \"value\" list";
    finish(r, &res);
    return 0;
  }
  size_t n = json_object_array_length(value);
  for (size_t i = 0; i < n; i++) {
    json_object *it = json_object_array_get_idx(value, i);
    if (json_object_object_get_ex(it, "@removed", NULL)) {
      r->removed++;
      const char *id = o365_json_str(it, "id");
      if (id != NULL)
        json_object_array_add(r->removed_ids, json_object_new_string(id));
    } else if (json_object_is_type(it, json_type_object))
      json_object_array_add(r->items, json_object_get(it));
  }
  if (g->next_link != NULL) {
    if (r->max_items == 0 || json_object_array_length(r->items) < r->max_items)
      return 1; /* o365_graph_pages follows it */
    res.link = g->next_link;
    finish(r, &res);
    return 0;
  }
  res.link = o365_json_str(g->json, "@odata.deltaLink");
  res.complete = 1;
  if (res.link == NULL) {
    res.error = WFC_EPROTO;
    res.message = "Graph's last delta page has neither @odata.nextLink nor "
                  "@odata.deltaLink";
  }
  finish(r, &res);
  return 0;
}

int o365_delta_run(wfc_call *call, const o365_delta_opts *o, o365_delta_cb cb,
                   void *arg) {
  if (o == NULL || o->path == NULL || cb == NULL)
    return WFC_EINVAL;
  round *r = calloc(1, sizeof *r);
  if (r == NULL)
    return WFC_ENOMEM;
  r->call = call;
  r->cb = cb;
  r->arg = arg;
  r->max_items = o->max_items;
  r->items = json_object_new_array();
  r->removed_ids = json_object_new_array();
  o365_graph_opts g = {.path = o->path, .headers = o->headers};
  int rc = o365_graph_pages(call, &g, on_page, r);
  if (rc != 0) {
    json_object_put(r->items);
    json_object_put(r->removed_ids);
    free(r);
    if (rc == WFC_EINVAL && strstr(o->path, "://") != NULL)
      rc = WFC_ESTALE;
  }
  return rc;
}
