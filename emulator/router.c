/* router.c - route table, path matching with {captures}, 404/405 answers,
 * query/form decoding and the module registry.
 *
 * The table is built at start-up (modules' init) and read-only afterwards,
 * so matching needs no lock. */
#define _POSIX_C_SOURCE 200809L /* strdup, strndup */
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_SEGS 32

typedef struct seg {
  char *text; /* literal text, or the capture's name */
  int capture;
} seg;

struct emu_route {
  char *method;
  char *pattern;
  seg segs[MAX_SEGS];
  size_t nsegs;
  emu_handler_fn fn;
  unsigned flags;
};

static emu_route **routes;
static size_t nroutes;

typedef struct module {
  const char *name;
  emu_module_init_fn init;
} module;

static module modules[32];
static size_t nmodules;

void emu_module_register(const char *name, emu_module_init_fn init) {
  if (nmodules == sizeof modules / sizeof modules[0]) {
    fprintf(stderr, "m365-emulator: too many modules (%s)\n", name);
    abort();
  }
  modules[nmodules].name = name;
  modules[nmodules].init = init;
  nmodules++;
}

static int module_cmp(const void *a, const void *b) {
  return strcmp(((const module *)a)->name, ((const module *)b)->name);
}

int emu__modules_init(void) {
  /* Constructors run in link order; sort so start-up is deterministic. */
  qsort(modules, nmodules, sizeof modules[0], module_cmp);
  for (size_t i = 0; i < nmodules; i++) {
    if (modules[i].init() != 0) {
      fprintf(stderr, "m365-emulator: module %s failed to initialise\n",
              modules[i].name);
      return -1;
    }
  }
  return 0;
}

/* Splits a raw path into segments in place ("/a/b/" -> a, b, ""). */
static size_t split_path(char *p, char **out, size_t max) {
  size_t n = 0;
  if (*p == '/')
    p++;
  while (n < max) {
    out[n++] = p;
    char *slash = strchr(p, '/');
    if (slash == NULL)
      break;
    *slash = '\0';
    p = slash + 1;
  }
  return n;
}

static void route_free(emu_route *rt) {
  if (rt == NULL)
    return;
  for (size_t i = 0; i < rt->nsegs; i++)
    free(rt->segs[i].text);
  free(rt->method);
  free(rt->pattern);
  free(rt);
}

int emu_route_add(const char *method, const char *pattern, emu_handler_fn fn,
                  unsigned flags) {
  if (method == NULL || pattern == NULL || fn == NULL || pattern[0] != '/') {
    fprintf(stderr, "m365-emulator: bad route %s %s\n", method ? method : "?",
            pattern ? pattern : "?");
    return -1;
  }
  for (size_t i = 0; i < nroutes; i++) {
    if (strcmp(routes[i]->method, method) == 0 &&
        strcmp(routes[i]->pattern, pattern) == 0) {
      fprintf(stderr, "m365-emulator: duplicate route %s %s\n", method,
              pattern);
      return -1;
    }
  }
  emu_route *rt = calloc(1, sizeof *rt);
  char *copy = strdup(pattern);
  char *parts[MAX_SEGS + 1];
  if (rt == NULL || copy == NULL)
    goto fail;
  size_t n = split_path(copy, parts, MAX_SEGS + 1);
  if (n > MAX_SEGS)
    goto fail;
  size_t ncap = 0;
  for (size_t i = 0; i < n; i++) {
    size_t len = strlen(parts[i]);
    if (len >= 2 && parts[i][0] == '{' && parts[i][len - 1] == '}') {
      if (++ncap > EMU_MAX_CAPTURES)
        goto fail;
      rt->segs[i].capture = 1;
      rt->segs[i].text = strndup(parts[i] + 1, len - 2);
    } else {
      if (strchr(parts[i], '{') || strchr(parts[i], '}'))
        goto fail;
      rt->segs[i].text = strdup(parts[i]);
    }
    if (rt->segs[i].text == NULL)
      goto fail;
    rt->nsegs = i + 1;
  }
  rt->method = strdup(method);
  rt->pattern = strdup(pattern);
  rt->fn = fn;
  rt->flags = flags;
  if (rt->method == NULL || rt->pattern == NULL)
    goto fail;
  emu_route **grown = realloc(routes, (nroutes + 1) * sizeof *routes);
  if (grown == NULL)
    goto fail;
  routes = grown;
  routes[nroutes++] = rt;
  free(copy);
  return 0;
fail:
  fprintf(stderr, "m365-emulator: bad route pattern %s\n", pattern);
  free(copy);
  route_free(rt);
  return -1;
}

void emu__router_shutdown(void) {
  for (size_t i = 0; i < nroutes; i++)
    route_free(routes[i]);
  free(routes);
  routes = NULL;
  nroutes = 0;
}

unsigned emu__route_flags(const emu_route *rt) {
  return rt ? rt->flags : 0;
}

const char *emu__route_pattern(const emu_route *rt) {
  return rt ? rt->pattern : NULL;
}

/* Score of a match: bit (MAX_SEGS-1-i) set when segment i is a literal, so
 * that comparing scores compares literal-ness segment by segment from the
 * left. -1 when the route does not match. */
static int64_t match_score(const emu_route *rt, char **segs, size_t n) {
  if (rt->nsegs != n)
    return -1;
  int64_t score = 0;
  for (size_t i = 0; i < n; i++) {
    if (rt->segs[i].capture) {
      if (segs[i][0] == '\0')
        return -1;
      continue;
    }
    if (strcmp(rt->segs[i].text, segs[i]) != 0)
      return -1;
    score |= (int64_t)1 << (MAX_SEGS - 1 - i);
  }
  return score;
}

static int method_ok(const emu_route *rt, const char *method) {
  if (strcmp(rt->method, "*") == 0 || strcmp(rt->method, method) == 0)
    return 1;
  /* HEAD is served by the GET handler; MHD drops the body. */
  return strcmp(method, "HEAD") == 0 && strcmp(rt->method, "GET") == 0;
}

static int is_graph_path(const char *path) {
  return strncmp(path, "/v1.0/", 6) == 0 || strcmp(path, "/v1.0") == 0 ||
         strncmp(path, "/beta/", 6) == 0;
}

int emu__router_match(emu_req *r) {
  char *copy = strdup(r->path);
  char *segs[MAX_SEGS + 1];
  if (copy == NULL) {
    emu_resp_text(r, 500, "out of memory\n");
    return -1;
  }
  size_t n = split_path(copy, segs, MAX_SEGS + 1);
  const emu_route *best = NULL;
  int64_t best_score = -1;
  char allow[256] = "";
  int path_matched = 0;
  for (size_t i = 0; n <= MAX_SEGS && i < nroutes; i++) {
    int64_t s = match_score(routes[i], segs, n);
    if (s < 0)
      continue;
    path_matched = 1;
    if (!method_ok(routes[i], r->method)) {
      if (strstr(allow, routes[i]->method) == NULL &&
          strlen(allow) + strlen(routes[i]->method) + 3 < sizeof allow) {
        if (allow[0])
          strcat(allow, ", ");
        strcat(allow, routes[i]->method);
      }
      continue;
    }
    if (s > best_score) {
      best = routes[i];
      best_score = s;
    }
  }
  if (best != NULL) {
    r->route = best;
    for (size_t i = 0; i < best->nsegs; i++) {
      if (!best->segs[i].capture)
        continue;
      char *v = strdup(segs[i]);
      if (v == NULL || emu_url_decode(v, 0) < 0) {
        free(v);
        free(copy);
        if (is_graph_path(r->path))
          emu_graph_error(r, 400, "BadRequest",
                          "Invalid percent-encoding in the URL.");
        else
          emu_resp_text(r, 400, "invalid percent-encoding in the path\n");
        return -1;
      }
      r->caps[r->ncaps].name = best->segs[i].text;
      r->caps[r->ncaps].value = v;
      r->ncaps++;
    }
    free(copy);
    return 0;
  }
  const char *last = n > 0 ? segs[n - 1] : "";
  if (path_matched) {
    if (is_graph_path(r->path))
      emu_graph_error(r, 405, "Request_BadRequest",
                      "The HTTP method '%s' is not supported for this "
                      "resource.",
                      r->method);
    else
      emu_resp_text(r, 405, "method not allowed\n");
    emu_resp_header(r, "Allow", allow);
  } else if (is_graph_path(r->path)) {
    emu_graph_error(r, 404, "ResourceNotFound",
                    "Resource not found for the segment '%.100s'.", last);
  } else {
    emu_resp_text(r, 404, "not found\n");
  }
  free(copy);
  return -1;
}

void emu__router_run(emu_req *r) {
  r->route->fn(r);
}

/* ---- Request accessors ---- */

const char *emu_req_method(const emu_req *r) {
  return r->method;
}

const char *emu_req_path(const emu_req *r) {
  return r->path;
}

const char *emu_req_route(const emu_req *r) {
  return r->route ? r->route->pattern : NULL;
}

const char *emu_req_raw_query(const emu_req *r) {
  return r->query;
}

const char *emu_req_query(const emu_req *r, const char *name) {
  emu_req *m = (emu_req *)r; /* lazily parsed cache */
  if (!m->q_parsed) {
    emu__kvv_parse(&m->qv, m->query, strlen(m->query));
    m->q_parsed = 1;
  }
  return emu__kvv_get(&m->qv, name);
}

const char *emu_req_param(const emu_req *r, const char *name) {
  for (size_t i = 0; i < r->ncaps; i++)
    if (strcmp(r->caps[i].name, name) == 0)
      return r->caps[i].value;
  return NULL;
}

const char *emu_req_header(const emu_req *r, const char *name) {
  for (size_t i = 0; i < r->hdr_over.n; i++) /* sub-request headers */
    if (strcasecmp(r->hdr_over.v[i].name, name) == 0)
      return r->hdr_over.v[i].value;
  return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

const char *emu_req_cookie(const emu_req *r, const char *name) {
  return MHD_lookup_connection_value(r->conn, MHD_COOKIE_KIND, name);
}

const char *emu_req_body(const emu_req *r, size_t *len) {
  if (len)
    *len = r->body_len;
  return r->body ? r->body : "";
}

json_object *emu_req_json(emu_req *r) {
  if (!r->json_parsed) {
    r->json_parsed = 1;
    if (r->body_len > 0) {
      json_tokener *tok = json_tokener_new();
      if (tok != NULL) {
        r->json = json_tokener_parse_ex(tok, r->body, (int)r->body_len);
        /* Trailing garbage after the value makes the body invalid. */
        if (r->json != NULL && json_tokener_get_parse_end(tok) < r->body_len) {
          size_t end = json_tokener_get_parse_end(tok);
          for (; end < r->body_len; end++) {
            char c = r->body[end];
            if (c != ' ' && c != '\t' && c != '\r' && c != '\n') {
              json_object_put(r->json);
              r->json = NULL;
              break;
            }
          }
        }
        json_tokener_free(tok);
      }
    }
  }
  return r->json;
}

const char *emu_req_form(emu_req *r, const char *name) {
  if (!r->form_parsed) {
    r->form_parsed = 1;
    const char *ct = emu_req_header(r, "Content-Type");
    if (ct != NULL &&
        strncasecmp(ct, "application/x-www-form-urlencoded", 33) == 0 &&
        r->body != NULL)
      emu__kvv_parse(&r->form, r->body, r->body_len);
  }
  return emu__kvv_get(&r->form, name);
}

const char *emu_req_request_id(const emu_req *r) {
  return r->request_id;
}

const char *emu_req_client_request_id(const emu_req *r) {
  return r->client_request_id ? r->client_request_id : r->request_id;
}

void emu_req_set_data(emu_req *r, void *data, void (*free_fn)(void *)) {
  if (r->data_free && r->data)
    r->data_free(r->data);
  r->data = data;
  r->data_free = free_fn;
}

void *emu_req_data(const emu_req *r) {
  return r->data;
}

void emu_req_sink_body(emu_req *r, const emu_body_sink *sink) {
  r->sink = *sink;
  r->has_sink = 1;
}

int emu_routes_add(const char *owner, const emu_route_def *table, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (emu_route_add(table[i].method, table[i].pattern, table[i].fn, 0) != 0) {
      fprintf(stderr, "m365-emulator: %s: cannot add route %s %s\n", owner,
              table[i].method, table[i].pattern);
      return -1;
    }
  return 0;
}
