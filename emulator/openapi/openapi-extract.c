/*
 * openapi-extract: reads Microsoft's OpenAPI 3 descriptions of Graph mail
 * (Mail.yml, Users.Actions.yml, Users.Functions.yml, several MB each) and
 * writes the small part the emulator serves as compact JSON
 * (emulator/openapi/graph-mail.json, committed; see docs/emulator.md):
 *
 *   {"paths": {"/messages/{}/move": {"post": {"action": true,
 *              "request": <schema>, "response": <schema>}}},
 *    "schemas": {"microsoft.graph.message": <schema>, ...}}
 *
 * An operation whose success response is not JSON also has "produces": the
 * media type it declares ("application/octet-stream" for .../$value), which
 * the emulator holds a request's Accept header to.
 *
 * Path keys are normalised: the "/users/{user-id}" prefix is dropped, every
 * {capture} becomes "{}", "microsoft.graph." and "()" are removed from
 * segments. Schemas keep type, format, nullable, enum, $ref, allOf, anyOf,
 * items, properties, readOnly and the discriminator mapping; descriptions and
 * x-ms-* annotations are dropped. Only $refs reachable from the kept paths
 * (plus the attachment subtypes selected by @odata.type) are copied.
 *
 * Usage: openapi-extract <dir-with-yml> <out.json>
 */
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

/* YAML node -> json-c value. Plain scalars that look like booleans, null or
 * integers become those JSON types (OpenAPI is written that way); quoted
 * scalars stay strings. Returns a new reference or NULL on error. */
static json_object *node_to_json(yaml_document_t *doc, yaml_node_t *n) {
  switch (n->type) {
  case YAML_SCALAR_NODE: {
    const char *s = (const char *)n->data.scalar.value;
    if (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
      if (!strcmp(s, "true"))
        return json_object_new_boolean(1);
      if (!strcmp(s, "false"))
        return json_object_new_boolean(0);
      if (!strcmp(s, "null") || !strcmp(s, "~"))
        return NULL;
      char *end;
      long long v = strtoll(s, &end, 10);
      if (*s && !*end && (s[0] != '0' || !s[1]))
        return json_object_new_int64(v);
    }
    return json_object_new_string_len(s, (int)n->data.scalar.length);
  }
  case YAML_SEQUENCE_NODE: {
    json_object *a = json_object_new_array();
    for (yaml_node_item_t *i = n->data.sequence.items.start;
         i < n->data.sequence.items.top; i++)
      json_object_array_add(a,
                            node_to_json(doc, yaml_document_get_node(doc, *i)));
    return a;
  }
  case YAML_MAPPING_NODE: {
    json_object *o = json_object_new_object();
    for (yaml_node_pair_t *p = n->data.mapping.pairs.start;
         p < n->data.mapping.pairs.top; p++) {
      yaml_node_t *k = yaml_document_get_node(doc, p->key);
      if (!k || k->type != YAML_SCALAR_NODE)
        continue;
      json_object_object_add(
          o, (const char *)k->data.scalar.value,
          node_to_json(doc, yaml_document_get_node(doc, p->value)));
    }
    return o;
  }
  default:
    return NULL;
  }
}

static json_object *load_yaml(const char *dir, const char *name) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "openapi-extract: cannot open %s\n", path);
    return NULL;
  }
  yaml_parser_t p;
  yaml_document_t doc;
  yaml_parser_initialize(&p);
  yaml_parser_set_input_file(&p, f);
  json_object *out = NULL;
  if (!yaml_parser_load(&p, &doc)) {
    fprintf(stderr, "openapi-extract: %s: %s at line %zu\n", path,
            p.problem ? p.problem : "parse error", p.problem_mark.line + 1);
  } else {
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    if (root)
      out = node_to_json(&doc, root);
    yaml_document_delete(&doc);
  }
  yaml_parser_delete(&p);
  fclose(f);
  return out;
}

/* The mail paths the emulator serves, normalised (see above). */
static const char *const wanted[] = {
    "/messages",
    "/messages/{}",
    "/messages/{}/$value",
    "/messages/{}/attachments",
    "/messages/{}/attachments/{}",
    "/messages/{}/attachments/createUploadSession",
    "/messages/{}/copy",
    "/messages/{}/move",
    "/messages/{}/send",
    "/messages/{}/reply",
    "/messages/{}/replyAll",
    "/messages/{}/forward",
    "/messages/{}/createReply",
    "/messages/{}/createReplyAll",
    "/messages/{}/createForward",
    "/messages/delta",
    "/mailFolders",
    "/mailFolders/{}",
    "/mailFolders/{}/childFolders",
    "/mailFolders/{}/messages",
    "/mailFolders/{}/messages/{}",
    "/mailFolders/{}/messages/delta",
    "/sendMail",
    "/getMailTips",
    NULL,
};

/* "/users/{user-id}/messages/{message-id}/microsoft.graph.move" ->
 * "/messages/{}/move"; NULL when not a /users/{user-id}/ path. */
static char *normalise(const char *p, bool *action) {
  const char *pre = "/users/{user-id}";
  if (strncmp(p, pre, strlen(pre)) != 0 || p[strlen(pre)] != '/')
    return NULL;
  p += strlen(pre);
  char *out = malloc(strlen(p) + 1), *o = out;
  *action = false;
  while (*p) {
    if (*p == '{') {
      const char *e = strchr(p, '}');
      if (!e)
        break;
      *o++ = '{';
      *o++ = '}';
      p = e + 1;
    } else if (!strncmp(p, "microsoft.graph.", 16)) {
      *action = true;
      p += 16;
    } else if (!strncmp(p, "()", 2)) {
      p += 2;
    } else {
      *o++ = *p++;
    }
  }
  *o = '\0';
  return out;
}

static json_object *components; /* merged components of the three files */

static json_object *component(const char *kind, const char *ref) {
  /* ref: "#/components/<kind>/<name>" */
  char pre[64];
  snprintf(pre, sizeof pre, "#/components/%s/", kind);
  if (!ref || strncmp(ref, pre, strlen(pre)) != 0)
    return NULL;
  json_object *k, *v;
  if (!json_object_object_get_ex(components, kind, &k) ||
      !json_object_object_get_ex(k, ref + strlen(pre), &v))
    return NULL;
  return v;
}

static const char *str_at(json_object *o, const char *key) {
  json_object *v;
  return json_object_object_get_ex(o, key, &v) &&
                 json_object_is_type(v, json_type_string)
             ? json_object_get_string(v)
             : NULL;
}

/* content -> application/json -> schema, following a components $ref of
 * `kind` (requestBodies / responses) first. Borrowed. */
static json_object *json_schema_of(json_object *holder, const char *kind) {
  if (!holder)
    return NULL;
  const char *ref = str_at(holder, "$ref");
  if (ref)
    holder = component(kind, ref);
  json_object *c, *aj, *s;
  if (holder && json_object_object_get_ex(holder, "content", &c) &&
      json_object_object_get_ex(c, "application/json", &aj) &&
      json_object_object_get_ex(aj, "schema", &s))
    return s;
  return NULL;
}

static const char *const kept_keys[] = {
    "type",  "format",   "nullable", "enum",    "$ref",
    "allOf", "anyOf",    "oneOf",    "items",   "properties",
    "title", "readOnly", "maximum",  "minimum", NULL,
};

static json_object *schemas_out;
static void want_schema(const char *ref);

/* Compact copy of a schema; records every $ref it meets. */
static json_object *compact(json_object *s) {
  if (json_object_is_type(s, json_type_array)) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(s); i++)
      json_object_array_add(a, compact(json_object_array_get_idx(s, i)));
    return a;
  }
  if (!json_object_is_type(s, json_type_object))
    return json_object_get(s);
  json_object *o = json_object_new_object();
  json_object_object_foreach(s, k, v) {
    bool keep = false;
    for (size_t i = 0; kept_keys[i] && !keep; i++)
      keep = !strcmp(k, kept_keys[i]);
    if (!keep)
      continue;
    if (!strcmp(k, "$ref"))
      want_schema(json_object_get_string(v));
    if (!strcmp(k, "properties")) {
      json_object *props = json_object_new_object();
      json_object_object_foreach(v, pk, pv)
          json_object_object_add(props, pk, compact(pv));
      json_object_object_add(o, k, props);
    } else if (!strcmp(k, "enum")) {
      json_object_object_add(o, k, json_object_get(v));
    } else {
      json_object_object_add(o, k, compact(v));
    }
  }
  return o;
}

static void want_schema(const char *ref) {
  const char *pre = "#/components/schemas/";
  if (!ref || strncmp(ref, pre, strlen(pre)) != 0)
    return;
  const char *name = ref + strlen(pre);
  if (json_object_object_get_ex(schemas_out, name, NULL))
    return;
  json_object *s = component("schemas", ref);
  if (!s) {
    fprintf(stderr, "openapi-extract: warning: %s not found\n", ref);
    return;
  }
  json_object_object_add(schemas_out, name, json_object_new_object());
  json_object_object_add(schemas_out, name, compact(s));
}

static void merge_components(json_object *doc) {
  json_object *c;
  if (!json_object_object_get_ex(doc, "components", &c))
    return;
  json_object_object_foreach(c, kind, tbl) {
    json_object *dst;
    if (!json_object_object_get_ex(components, kind, &dst)) {
      dst = json_object_new_object();
      json_object_object_add(components, kind, dst);
    }
    json_object_object_foreach(tbl, name, v) {
      if (!json_object_object_get_ex(dst, name, NULL))
        json_object_object_add(dst, name, json_object_get(v));
    }
  }
}

/* The media type a success response declares when it is not JSON
 * ("application/octet-stream" for .../$value), or NULL. Borrowed. */
static const char *media_of(json_object *holder) {
  if (!holder)
    return NULL;
  const char *ref = str_at(holder, "$ref");
  if (ref)
    holder = component("responses", ref);
  json_object *c;
  if (!holder || !json_object_object_get_ex(holder, "content", &c) ||
      json_object_object_get_ex(c, "application/json", NULL))
    return NULL;
  json_object_object_foreach(c, type, v) {
    (void)v;
    return type;
  }
  return NULL;
}

static void add_op(json_object *paths_out, const char *key, const char *method,
                   bool action, json_object *req, json_object *resp,
                   const char *produces) {
  json_object *p;
  if (!json_object_object_get_ex(paths_out, key, &p)) {
    p = json_object_new_object();
    json_object_object_add(paths_out, key, p);
  }
  json_object *op = json_object_new_object();
  if (action)
    json_object_object_add(op, "action", json_object_new_boolean(1));
  json_object_object_add(op, "request", req ? compact(req) : NULL);
  json_object_object_add(op, "response", resp ? compact(resp) : NULL);
  if (produces)
    json_object_object_add(op, "produces", json_object_new_string(produces));
  json_object_object_add(p, method, op);
}

static json_object *ref_schema(const char *name) {
  json_object *o = json_object_new_object();
  char ref[200];
  snprintf(ref, sizeof ref, "#/components/schemas/%s", name);
  json_object_object_add(o, "$ref", json_object_new_string(ref));
  return o;
}

/* add_op with schemas given by component name (NULL: none); add_op
 * borrows its schemas, so the $ref objects made here are freed here. */
static void add_ref_op(json_object *paths_out, const char *key,
                       const char *method, const char *req_name,
                       const char *resp_name) {
  json_object *req = req_name ? ref_schema(req_name) : NULL;
  json_object *resp = resp_name ? ref_schema(resp_name) : NULL;
  add_op(paths_out, key, method, false, req, resp, NULL);
  json_object_put(req);
  json_object_put(resp);
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s <graph-openapi dir> <out.json>\n", argv[0]);
    return 2;
  }
  static const char *const files[] = {"Mail.yml", "Users.Actions.yml",
                                      "Users.Functions.yml"};
  json_object *docs[3];
  components = json_object_new_object();
  for (int i = 0; i < 3; i++) {
    docs[i] = load_yaml(argv[1], files[i]);
    if (!docs[i])
      return 1;
    merge_components(docs[i]);
  }
  schemas_out = json_object_new_object();
  json_object *paths_out = json_object_new_object();
  static const char *const methods[] = {"get", "post",   "patch",
                                        "put", "delete", NULL};
  for (int i = 0; i < 3; i++) {
    json_object *paths;
    if (!json_object_object_get_ex(docs[i], "paths", &paths))
      continue;
    json_object_object_foreach(paths, pk, pv) {
      bool action;
      char *key = normalise(pk, &action);
      bool keep = false;
      for (size_t w = 0; key && wanted[w] && !keep; w++)
        keep = !strcmp(key, wanted[w]);
      for (size_t m = 0; keep && methods[m]; m++) {
        json_object *op, *rb = NULL, *resps, *ok = NULL;
        if (!json_object_object_get_ex(pv, methods[m], &op))
          continue;
        json_object_object_get_ex(op, "requestBody", &rb);
        if (json_object_object_get_ex(op, "responses", &resps) &&
            !json_object_object_get_ex(resps, "2XX", &ok) &&
            !json_object_object_get_ex(resps, "200", &ok))
          json_object_object_get_ex(resps, "201", &ok);
        add_op(paths_out, key, methods[m], action,
               json_schema_of(rb, "requestBodies"),
               json_schema_of(ok, "responses"), media_of(ok));
      }
      free(key);
    }
  }
  /* mailboxSettings is a property of user (Users.yml, not stored here):
   * its operations are described through the component schemas. */
  add_ref_op(paths_out, "/mailboxSettings", "get", NULL,
             "microsoft.graph.mailboxSettings");
  add_ref_op(paths_out, "/mailboxSettings", "patch",
             "microsoft.graph.mailboxSettings",
             "microsoft.graph.mailboxSettings");
  add_ref_op(paths_out, "/mailboxSettings/automaticRepliesSetting", "get", NULL,
             "microsoft.graph.automaticRepliesSetting");
  /* Subtypes chosen by "@odata.type" in bodies (no $ref leads to them),
   * and outlookCategory: the items of /outlook/masterCategories, whose
   * path lives in Users.yml (not stored), checked per item by tests. */
  static const char *const subtypes[] = {
      "microsoft.graph.fileAttachment",      "microsoft.graph.itemAttachment",
      "microsoft.graph.referenceAttachment", "microsoft.graph.message",
      "microsoft.graph.outlookCategory",     NULL};
  for (size_t i = 0; subtypes[i]; i++) {
    char ref[200];
    snprintf(ref, sizeof ref, "#/components/schemas/%s", subtypes[i]);
    want_schema(ref);
  }
  json_object *out = json_object_new_object();
  json_object_object_add(out, "paths", paths_out);
  json_object_object_add(out, "schemas", schemas_out);
  const char *text = json_object_to_json_string_ext(
      out, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_PRETTY_TAB |
               JSON_C_TO_STRING_NOSLASHESCAPE);
  FILE *f = fopen(argv[2], "wb");
  if (!f || fputs(text, f) < 0 || fputc('\n', f) < 0 || fclose(f) != 0) {
    fprintf(stderr, "openapi-extract: cannot write %s\n", argv[2]);
    return 1;
  }
  json_object_put(out);
  for (int i = 0; i < 3; i++)
    json_object_put(docs[i]);
  json_object_put(components);
  return 0;
}
