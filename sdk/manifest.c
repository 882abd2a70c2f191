/* manifest.c - find a plugin's manifest and cross-check it. */
#include "manifest.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "json.h"
#include "registry.h"
#include "wfc/host.h"

#define MANIFEST_MAX (4u << 20)

static const char *short_text(json_object *v, char *buf, size_t len) {
  if (v == NULL) {
    snprintf(buf, len, "(absent)");
    return buf;
  }
  const char *s = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
  if (strlen(s) > 60)
    snprintf(buf, len, "%.57s...", s);
  else
    snprintf(buf, len, "%s", s);
  return buf;
}

int wfc__json_diff(json_object *a, json_object *b, const char *path, char *buf,
                   size_t len) {
  char ta[80], tb[80];
  json_type at = a ? json_object_get_type(a) : json_type_null;
  json_type bt = b ? json_object_get_type(b) : json_type_null;
  if ((a == NULL) != (b == NULL) || at != bt) {
    snprintf(buf, len, "%s: manifest %s, plugin %s", path,
             short_text(a, ta, sizeof ta), short_text(b, tb, sizeof tb));
    return 1;
  }
  if (a == NULL)
    return 0;
  char sub[512];
  if (at == json_type_object) {
    json_object_object_foreach(a, k, va) {
      json_object *vb = NULL;
      json_object_object_get_ex(b, k, &vb);
      snprintf(sub, sizeof sub, "%s.%s", path, k);
      if (wfc__json_diff(va, vb, sub, buf, len))
        return 1;
    }
    json_object_object_foreach(b, k2, vb2) {
      if (!json_object_object_get_ex(a, k2, NULL)) {
        snprintf(sub, sizeof sub, "%s.%s", path, k2);
        return wfc__json_diff(NULL, vb2, sub, buf, len);
      }
    }
    return 0;
  }
  if (at == json_type_array) {
    size_t na = json_object_array_length(a), nb = json_object_array_length(b);
    for (size_t i = 0; i < na && i < nb; i++) {
      snprintf(sub, sizeof sub, "%s[%zu]", path, i);
      if (wfc__json_diff(json_object_array_get_idx(a, i),
                         json_object_array_get_idx(b, i), sub, buf, len))
        return 1;
    }
    if (na != nb) {
      snprintf(buf, len, "%s: manifest has %zu entries, plugin %zu", path, na,
               nb);
      return 1;
    }
    return 0;
  }
  if (!json_object_equal(a, b)) {
    snprintf(buf, len, "%s: manifest %s, plugin %s", path,
             short_text(a, ta, sizeof ta), short_text(b, tb, sizeof tb));
    return 1;
  }
  return 0;
}

int wfc_plugin_manifest_path(const char *so_path, char *buf, size_t len) {
  if (so_path == NULL || buf == NULL || len == 0)
    return WFC_EINVAL;
  const char *slash = strrchr(so_path, '/');
  const char *base = slash ? slash + 1 : so_path;
  int dirlen = slash ? (int)(slash - so_path) : 1;
  const char *dir = slash ? so_path : ".";
  size_t stem = strlen(base);
  if (stem > 3 && strcmp(base + stem - 3, ".so") == 0)
    stem -= 3;
  char first[4096];
  snprintf(first, sizeof first, "%.*s/%.*s.manifest.json", dirlen, dir,
           (int)stem, base);
  if (access(first, F_OK) == 0) {
    snprintf(buf, len, "%s", first);
    return 0;
  }
  char second[4096];
  snprintf(second, sizeof second, "%.*s/manifest.json", dirlen, dir);
  if (access(second, F_OK) == 0) {
    snprintf(buf, len, "%s", second);
    return 0;
  }
  snprintf(buf, len, "%s", first);
  return WFC_ENOTFOUND;
}

typedef struct report_ctx {
  void (*fn)(void *arg, const char *line);
  void *arg;
  int count;
} report_ctx;

static void say(report_ctx *r, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void say(report_ctx *r, const char *fmt, ...) {
  char line[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  r->count++;
  if (r->fn)
    r->fn(r->arg, line);
}

static json_object *find_by_id(json_object *arr, const char *id) {
  if (arr == NULL || !json_object_is_type(arr, json_type_array))
    return NULL;
  size_t n = json_object_array_length(arr);
  for (size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(arr, i), *v;
    if (json_object_object_get_ex(e, "id", &v) &&
        json_object_is_type(v, json_type_string) &&
        strcmp(json_object_get_string(v), id) == 0)
      return e;
  }
  return NULL;
}

static const char *const card_keys[] = {
    "name",   "description", "kind", "connection_type",
    "inputs", "outputs",     NULL};
static const char *const ct_keys[] = {"name", "description", "flow", "params",
                                      NULL};

/* Compares the two sets by id, then each common entry key by key. */
static void check_set(report_ctx *r, const char *what, json_object *mine,
                      json_object *theirs, const char *const *keys) {
  if (theirs == NULL || !json_object_is_type(theirs, json_type_array)) {
    say(r, "%ss: missing in the manifest (expected a list)", what);
    return;
  }
  size_t n = json_object_array_length(mine);
  for (size_t i = 0; i < n; i++) {
    json_object *p = json_object_array_get_idx(mine, i), *idv;
    json_object_object_get_ex(p, "id", &idv);
    const char *id = json_object_get_string(idv);
    json_object *m = find_by_id(theirs, id);
    if (m == NULL) {
      say(r, "%s \"%s\": registered by the plugin, not in the manifest", what,
          id);
      continue;
    }
    for (const char *const *k = keys; *k != NULL; k++) {
      json_object *a = NULL, *b = NULL;
      json_object_object_get_ex(m, *k, &a);
      json_object_object_get_ex(p, *k, &b);
      /* A manifest written before ABI 1.4 has no "flow": it describes a
       * browser type. */
      json_object *dflt = NULL;
      if (a == NULL && strcmp(*k, "flow") == 0)
        a = dflt = json_object_new_string("browser");
      char diff[700];
      if (wfc__json_diff(a, b, *k, diff, sizeof diff))
        say(r, "%s \"%s\": %s", what, id, diff);
      json_object_put(dflt);
    }
  }
  size_t nt = json_object_array_length(theirs);
  for (size_t i = 0; i < nt; i++) {
    json_object *m = json_object_array_get_idx(theirs, i), *idv;
    if (!json_object_object_get_ex(m, "id", &idv) ||
        !json_object_is_type(idv, json_type_string)) {
      say(r, "%ss[%zu]: no \"id\" in the manifest", what, i);
      continue;
    }
    if (find_by_id(mine, json_object_get_string(idv)) == NULL)
      say(r, "%s \"%s\": in the manifest, not registered by the plugin", what,
          json_object_get_string(idv));
  }
}

static json_object *read_json(const char *path, int *rc, char *why,
                              size_t whylen) {
  FILE *f = fopen(path, "rb");
  if (f == NULL) {
    *rc = errno == ENOENT ? WFC_ENOTFOUND : WFC_EIO;
    snprintf(why, whylen, "cannot open: %s", strerror(errno));
    return NULL;
  }
  char *buf = malloc(MANIFEST_MAX + 1);
  size_t n = buf ? fread(buf, 1, MANIFEST_MAX + 1, f) : 0;
  fclose(f);
  if (buf == NULL || n > MANIFEST_MAX) {
    free(buf);
    *rc = WFC_ETOOBIG;
    snprintf(why, whylen, "larger than %u bytes", MANIFEST_MAX);
    return NULL;
  }
  json_object *v = NULL;
  *rc = wfc__json_parse(buf, n, MANIFEST_MAX, &v, why, whylen);
  free(buf);
  return v;
}

int wfc_plugin_check_manifest(const wfc_plugin *p, const char *path,
                              void (*report)(void *arg, const char *line),
                              void *arg) {
  report_ctx r = {report, arg, 0};
  int rc = 0;
  char why[256];
  json_object *m = read_json(path, &rc, why, sizeof why);
  if (m == NULL) {
    say(&r, "%s", why);
    return rc;
  }
  if (!json_object_is_type(m, json_type_object)) {
    say(&r, "not a JSON object");
    json_object_put(m);
    return WFC_EJSON;
  }
  json_object *mine = wfc_plugin_to_json(p);
  json_object *a, *b;
  static const char *const top[] = {"name", "version", "abi", NULL};
  for (const char *const *k = top; *k; k++) {
    a = b = NULL;
    json_object_object_get_ex(m, *k, &a);
    json_object_object_get_ex(mine, *k, &b);
    char diff[700];
    if (wfc__json_diff(a, b, *k, diff, sizeof diff))
      say(&r, "%s", diff);
  }
  a = b = NULL;
  json_object_object_get_ex(m, "connection_types", &a);
  json_object_object_get_ex(mine, "connection_types", &b);
  check_set(&r, "connection type", b, a, ct_keys);
  a = b = NULL;
  json_object_object_get_ex(m, "cards", &a);
  json_object_object_get_ex(mine, "cards", &b);
  check_set(&r, "card", b, a, card_keys);
  json_object_put(mine);
  json_object_put(m);
  return r.count ? WFC_EMANIFEST : 0;
}
