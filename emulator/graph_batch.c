/* Graph JSON batching: POST /v1.0/$batch with up to 20 requests, dependsOn
 * ordering and 424 for failed dependencies. Each sub-request goes through
 * the router (emu_subrequest), so it is authorized and throttled like a
 * normal one. */
#include "graph_priv.h"

#include "auth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define BATCH_MAX 20

typedef struct item {
  json_object *req; /* borrowed */
  const char *id;
  json_object *deps; /* borrowed array or NULL */
  json_object *resp; /* owned result */
  bool done;
} item;

static void batch_error(emu_req *r, const char *msg) {
  emu_graph_error(r, 400, "BadRequest", "%s", msg);
}

static int find(item *it, size_t n, const char *id) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(it[i].id, id))
      return (int)i;
  return -1;
}

static json_object *failed_dependency(const char *id) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "id", json_object_new_string(id));
  json_object_object_add(o, "status", json_object_new_int(424));
  json_object *h = json_object_new_object();
  json_object_object_add(h, "Content-Type",
                         json_object_new_string("application/json"));
  json_object_object_add(o, "headers", h);
  json_object *e = json_object_new_object(), *b = json_object_new_object();
  json_object_object_add(e, "code", json_object_new_string("FailedDependency"));
  json_object_object_add(
      e, "message",
      json_object_new_string("The request could not be executed because a "
                             "request it depends on failed."));
  json_object_object_add(b, "error", e);
  json_object_object_add(o, "body", b);
  return o;
}

static json_object *run_one(emu_req *r, item *it) {
  json_object *m = NULL, *u = NULL, *h = NULL, *b = NULL;
  json_object_object_get_ex(it->req, "method", &m);
  json_object_object_get_ex(it->req, "url", &u);
  json_object_object_get_ex(it->req, "headers", &h);
  json_object_object_get_ex(it->req, "body", &b);
  const char *url = json_object_get_string(u);
  char *full = emu_strdup_printf("/v1.0%s%s", url[0] == '/' ? "" : "/", url);
  const char *body = NULL;
  size_t len = 0;
  if (b) {
    body = json_object_is_type(b, json_type_string)
               ? json_object_get_string(b)
               : json_object_to_json_string_ext(b, JSON_C_TO_STRING_PLAIN);
    len = strlen(body);
  }
  char method[16];
  snprintf(method, sizeof(method), "%s", json_object_get_string(m));
  for (char *c = method; *c; c++)
    if (*c >= 'a' && *c <= 'z')
      *c = (char)(*c - 'a' + 'A');
  json_object *res = emu_subrequest(r, method, full, h, body, len);
  free(full);
  if (!res)
    return failed_dependency(it->id);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "id", json_object_new_string(it->id));
  json_object_object_foreach(res, k, v) {
    json_object_object_add(o, k, json_object_get(v));
  }
  json_object_put(res);
  return o;
}

static void h_batch(emu_req *r) {
  /* The batch itself needs a valid token; each step is checked again. */
  emu_principal p;
  if (emu_auth_graph(r, &p) != 0)
    return;
  json_object *b = emu_req_json(r), *reqs = NULL;
  if (!b || !json_object_is_type(b, json_type_object) ||
      !json_object_object_get_ex(b, "requests", &reqs) ||
      !json_object_is_type(reqs, json_type_array)) {
    batch_error(r, "Invalid batch payload format.");
    return;
  }
  size_t n = json_object_array_length(reqs);
  if (n == 0) {
    batch_error(r, "Invalid batch payload format: no requests.");
    return;
  }
  if (n > BATCH_MAX) {
    batch_error(r, "Number of batch request steps exceeds the maximum of 20.");
    return;
  }
  item it[BATCH_MAX] = {{0}};
  for (size_t i = 0; i < n; i++) {
    json_object *q = json_object_array_get_idx(reqs, i), *v = NULL;
    if (!json_object_is_type(q, json_type_object)) {
      batch_error(r, "Invalid batch payload format: a request is not an "
                     "object.");
      return;
    }
    it[i].req = q;
    if (!json_object_object_get_ex(q, "id", &v) ||
        !json_object_is_type(v, json_type_string) ||
        !*json_object_get_string(v)) {
      batch_error(r, "Invalid batch payload format: 'id' is required.");
      return;
    }
    it[i].id = json_object_get_string(v);
    if (find(it, i, it[i].id) >= 0) {
      batch_error(r, "Batch request steps must have unique ids.");
      return;
    }
    if (!json_object_object_get_ex(q, "method", &v) ||
        !json_object_is_type(v, json_type_string)) {
      batch_error(r, "Invalid batch payload format: 'method' is required.");
      return;
    }
    if (!json_object_object_get_ex(q, "url", &v) ||
        !json_object_is_type(v, json_type_string) ||
        strstr(json_object_get_string(v), "://")) {
      batch_error(r, "Invalid batch payload format: 'url' must be a relative "
                     "URL.");
      return;
    }
    json_object *h = NULL;
    bool has_h = json_object_object_get_ex(q, "headers", &h);
    if (has_h && !json_object_is_type(h, json_type_object)) {
      batch_error(r, "Invalid batch payload format: 'headers' must be an "
                     "object.");
      return;
    }
    if (json_object_object_get_ex(q, "body", &v)) {
      bool ct = false;
      if (has_h) {
        json_object_object_foreach(h, hk, hv) {
          (void)hv;
          ct = ct || !strcasecmp(hk, "Content-Type");
        }
      }
      if (!has_h || !ct) {
        batch_error(r, "A batch request step "
                       "requires a 'Content-Type' header when a body is "
                       "present.");
        return;
      }
    }
    static const char *const known[] = {"id",   "method",    "url", "headers",
                                        "body", "dependsOn", NULL};
    json_object_object_foreach(q, k, val) {
      (void)val;
      bool ok = false;
      for (size_t j = 0; known[j]; j++)
        ok = ok || !strcmp(known[j], k);
      if (!ok) {
        batch_error(r, "Invalid batch payload format: unknown property in a "
                       "request.");
        return;
      }
    }
    if (json_object_object_get_ex(q, "dependsOn", &v)) {
      if (!json_object_is_type(v, json_type_array)) {
        batch_error(r, "Invalid batch payload format: 'dependsOn' must be an "
                       "array.");
        return;
      }
      it[i].deps = v;
    }
  }
  for (size_t i = 0; i < n; i++)
    for (size_t j = 0; it[i].deps && j < json_object_array_length(it[i].deps);
         j++) {
      const char *d =
          json_object_get_string(json_object_array_get_idx(it[i].deps, j));
      if (!d || find(it, n, d) < 0 || !strcmp(d, it[i].id)) {
        batch_error(r, "Invalid batch payload format: 'dependsOn' names an "
                       "unknown request.");
        return;
      }
    }
  /* Graph's JSON batching takes dependsOn in three shapes only (a known
   * issue its SDKs check): none (parallel), serial (each request depends
   * on the one before it), or every dependent on one same request; a
   * request depends on one request at most. */
  bool any = false, serial = true, same = true;
  const char *first_dep = NULL;
  for (size_t i = 0; i < n; i++) {
    size_t nd = it[i].deps ? json_object_array_length(it[i].deps) : 0;
    if (nd > 1) {
      batch_error(r, "Invalid batch payload format: a request can depend on "
                     "one other request only.");
      return;
    }
    const char *d =
        nd ? json_object_get_string(json_object_array_get_idx(it[i].deps, 0))
           : NULL;
    any = any || d;
    if (i == 0 ? d != NULL : !d || strcmp(d, it[i - 1].id) != 0)
      serial = false;
    if (d && first_dep && strcmp(d, first_dep) != 0)
      same = false;
    if (d && !first_dep)
      first_dep = d;
  }
  if (any && !serial && !same) {
    batch_error(r, "Invalid batch payload format: dependsOn must make the "
                   "batch fully sequential (each request depends on the one "
                   "before it) or have every dependent request depend on the "
                   "same request.");
    return;
  }
  /* Run in dependency order (array order among the ready ones). */
  size_t done = 0;
  while (done < n) {
    bool progress = false;
    for (size_t i = 0; i < n; i++) {
      if (it[i].done)
        continue;
      bool ready = true, failed = false;
      for (size_t j = 0; it[i].deps && j < json_object_array_length(it[i].deps);
           j++) {
        item *d = &it[find(
            it, n,
            json_object_get_string(json_object_array_get_idx(it[i].deps, j)))];
        if (!d->done)
          ready = false;
        else {
          json_object *st = NULL;
          json_object_object_get_ex(d->resp, "status", &st);
          failed = failed || json_object_get_int(st) >= 400;
        }
      }
      if (!ready)
        continue;
      it[i].resp = failed ? failed_dependency(it[i].id) : run_one(r, &it[i]);
      it[i].done = true;
      done++;
      progress = true;
    }
    if (!progress) {
      for (size_t i = 0; i < n; i++)
        json_object_put(it[i].resp);
      batch_error(r, "Invalid batch payload format: 'dependsOn' forms a "
                     "cycle.");
      return;
    }
  }
  json_object *out = json_object_new_object(), *arr = json_object_new_array();
  for (size_t i = 0; i < n; i++)
    json_object_array_add(arr, it[i].resp);
  json_object_object_add(out, "responses", arr);
  emu_resp_json(r, 200, out);
}

void graph_batch_init(void) {
  emu_route_add("POST", "/v1.0/$batch", h_batch, 0);
}
