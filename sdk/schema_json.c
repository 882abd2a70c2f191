/* schema_json.c - canonical JSON of schemas and descriptors. */
#include "schema_json.h"

#include <string.h>

#include <json-c/json.h>

#include "registry.h"
#include "wfc/host.h"

const char *wfc__type_name(wfc_type t) {
  switch (t) {
  case WFC_TYPE_STRING:
    return "string";
  case WFC_TYPE_INTEGER:
    return "integer";
  case WFC_TYPE_NUMBER:
    return "number";
  case WFC_TYPE_BOOLEAN:
    return "boolean";
  case WFC_TYPE_OBJECT:
    return "object";
  case WFC_TYPE_LIST:
    return "list";
  case WFC_TYPE_EMAIL:
    return "email";
  case WFC_TYPE_DATETIME:
    return "datetime";
  case WFC_TYPE_FILE:
    return "file";
  case WFC_TYPE_ANY:
    return "any";
  case WFC_TYPE_MAP:
    return "map";
  }
  return "unknown";
}

static void add_str(json_object *o, const char *key, const char *v) {
  if (v != NULL)
    json_object_object_add(o, key, json_object_new_string(v));
}

static json_object *field_to_json(const wfc_field *f, int depth);

static json_object *fields_to_json(const wfc_field *fields, int depth) {
  json_object *a = json_object_new_array();
  for (const wfc_field *f = fields; f != NULL && f->name != NULL; f++)
    json_object_array_add(a, field_to_json(f, depth + 1));
  return a;
}

/* depth bounds recursion on a (checked) table that refers to itself. */
static json_object *field_to_json(const wfc_field *f, int depth) {
  json_object *o = json_object_new_object();
  add_str(o, "name", f->name);
  json_object_object_add(o, "type",
                         json_object_new_string(wfc__type_name(f->type)));
  json_object_object_add(
      o, "required", json_object_new_boolean(f->flags & WFC_FIELD_REQUIRED));
  add_str(o, "description", f->description);
  if (f->default_json != NULL) {
    json_object *d = json_tokener_parse(f->default_json);
    /* A default that is not JSON is refused at registration; show it as
     * text rather than hide it. */
    if (d == NULL && strcmp(f->default_json, "null") != 0)
      d = json_object_new_string(f->default_json);
    json_object_object_add(o, "default", d);
  }
  if (f->enum_values != NULL) {
    json_object *e = json_object_new_array();
    for (const char *const *v = f->enum_values; *v != NULL; v++)
      json_object_array_add(e, json_object_new_string(*v));
    json_object_object_add(o, "enum", e);
  }
  if (depth < 32) {
    if (f->fields != NULL)
      json_object_object_add(o, "fields", fields_to_json(f->fields, depth));
    if (f->items != NULL)
      json_object_object_add(o, "items", field_to_json(f->items, depth + 1));
  }
  if (f->min != 0)
    json_object_object_add(o, "min", json_object_new_int64(f->min));
  if (f->max != 0)
    json_object_object_add(o, "max", json_object_new_int64(f->max));
  if (f->flags & WFC_FIELD_SECRET)
    json_object_object_add(o, "secret", json_object_new_boolean(1));
  if (f->flags & WFC_FIELD_STREAM)
    json_object_object_add(o, "stream", json_object_new_boolean(1));
  if (f->flags & WFC_FIELD_NULLABLE)
    json_object_object_add(o, "nullable", json_object_new_boolean(1));
  return o;
}

json_object *wfc_schema_to_json(const wfc_field *fields) {
  return fields_to_json(fields, 0);
}

json_object *wfc_card_to_json(const wfc_card_desc *c) {
  json_object *o = json_object_new_object();
  add_str(o, "id", c->id);
  add_str(o, "name", c->name);
  add_str(o, "description", c->description);
  json_object_object_add(
      o, "kind",
      json_object_new_string(c->kind == WFC_CARD_EVENT ? "event" : "action"));
  if (c->conn_type != NULL)
    add_str(o, "connection_type", c->conn_type);
  json_object_object_add(o, "inputs", wfc_schema_to_json(c->inputs));
  json_object_object_add(o, "outputs", wfc_schema_to_json(c->outputs));
  return o;
}

const char *wfc_conn_flow_name(wfc_conn_flow flow) {
  switch (flow) {
  case WFC_FLOW_BROWSER:
    return "browser";
  case WFC_FLOW_FORM:
    return "form";
  case WFC_FLOW_NONE:
    return "none";
  }
  return "unknown";
}

json_object *wfc_conn_type_to_json(const wfc_conn_type_desc *t) {
  json_object *o = json_object_new_object();
  add_str(o, "id", t->id);
  add_str(o, "name", t->name);
  add_str(o, "description", t->description);
  json_object_object_add(o, "flow",
                         json_object_new_string(wfc_conn_flow_name(t->flow)));
  json_object_object_add(o, "params", wfc_schema_to_json(t->params));
  json_object *h = json_object_new_array();
  static const char *const names[] = {"authorize_begin", "authorize_complete",
                                      "refresh", "revoke", "test"};
  const wfc_call_fn fns[] = {t->authorize_begin, t->authorize_complete,
                             t->refresh, t->revoke, t->test};
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++)
    if (fns[i] != NULL)
      json_object_array_add(h, json_object_new_string(names[i]));
  json_object_object_add(o, "hooks", h);
  return o;
}

json_object *wfc_plugin_to_json(const wfc_plugin *p) {
  json_object *o = json_object_new_object();
  add_str(o, "name", p->name);
  add_str(o, "version", p->version);
  add_str(o, "description", p->description);
  json_object *abi = json_object_new_object();
  json_object_object_add(abi, "major", json_object_new_int(p->abi_major));
  json_object_object_add(abi, "minor", json_object_new_int(p->abi_minor));
  json_object_object_add(o, "abi", abi);
  add_str(o, "fingerprint", p->fingerprint);
  add_str(o, "path", p->path);
  json_object *cts = json_object_new_array();
  for (size_t i = 0; i < p->ncts; i++)
    json_object_array_add(cts, wfc_conn_type_to_json(&p->cts[i]));
  json_object_object_add(o, "connection_types", cts);
  json_object *cards = json_object_new_array();
  for (size_t i = 0; i < p->ncards; i++)
    json_object_array_add(cards, wfc_card_to_json(&p->cards[i]));
  json_object_object_add(o, "cards", cards);
  return o;
}
