/* Manifest lookup beside the .so, and the cross-check: key order does not
 * matter, extra top-level keys are ignored, each difference is one line
 * with the path of the first differing value. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <unistd.h>

#include <json-c/json.h>
#include <uv.h>

#include "abi_util.h"
#include "wfc/host.h"

static void touch(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
}

static void test_lookup(void **state) {
  (void)state;
  char dir[] = "/tmp/wfc-manifest-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char so[128], first[128], second[128], buf[256];
  snprintf(so, sizeof so, "%s/wfc-x.so", dir);
  snprintf(first, sizeof first, "%s/wfc-x.manifest.json", dir);
  snprintf(second, sizeof second, "%s/manifest.json", dir);
  touch(so, "");
  assert_int_equal(wfc_plugin_manifest_path(so, buf, sizeof buf),
                   WFC_ENOTFOUND);
  assert_string_equal(buf, first); /* the preferred name, for messages */
  touch(second, "{}");
  assert_int_equal(wfc_plugin_manifest_path(so, buf, sizeof buf), 0);
  assert_string_equal(buf, second);
  touch(first, "{}");
  assert_int_equal(wfc_plugin_manifest_path(so, buf, sizeof buf), 0);
  assert_string_equal(buf, first);
  assert_int_equal(wfc_plugin_manifest_path(NULL, buf, sizeof buf), WFC_EINVAL);
  unlink(first);
  unlink(second);
  unlink(so);
  rmdir(dir);
}

/* A deep copy of v with every object's keys in reverse order. */
static json_object *reversed(json_object *v) {
  if (json_object_is_type(v, json_type_object)) {
    const char *keys[64];
    json_object *vals[64];
    int n = 0;
    json_object_object_foreach(v, k, x) {
      assert_true(n < 64);
      keys[n] = k;
      vals[n++] = x;
    }
    json_object *o = json_object_new_object();
    while (n-- > 0)
      json_object_object_add(o, keys[n], reversed(vals[n]));
    return o;
  }
  if (json_object_is_type(v, json_type_array)) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(v); i++)
      json_object_array_add(a, reversed(json_object_array_get_idx(v, i)));
    return a;
  }
  return json_object_get(v);
}

typedef struct lines {
  int n;
  char line[8][512];
} lines;

static void collect(void *arg, const char *line) {
  lines *l = arg;
  if (l->n < 8)
    snprintf(l->line[l->n], sizeof l->line[0], "%s", line);
  l->n++;
}

static int check(wfc_plugin *p, json_object *m, lines *l) {
  char path[64];
  snprintf(path, sizeof path, "/tmp/wfc-m-%d.json", (int)getpid());
  assert_int_equal(json_object_to_file(path, m), 0);
  memset(l, 0, sizeof *l);
  int rc = wfc_plugin_check_manifest(p, path, collect, l);
  unlink(path);
  return rc;
}

static void test_check(void **state) {
  (void)state;
  uv_loop_t loop;
  wfc_runtime *rt;
  assert_int_equal(uv_loop_init(&loop), 0);
  assert_int_equal(wfc_runtime_new(&loop, NULL, &rt), 0);
  char err[1024];
  wfc_plugin *p;
  assert_int_equal(wfc_runtime_load(rt, testplugin_path(), &p, err, sizeof err),
                   0);
  json_object *orig = json_object_from_file(
      build_path(1, "plugins/wfc-testplugin.manifest.json"));
  assert_non_null(orig);
  lines l;

  /* Same content, every key in another order, plus extra keys. */
  json_object *m = reversed(orig);
  json_object_object_add(m, "oauth_apps", json_object_new_array());
  assert_int_equal(check(p, m, &l), 0);
  assert_int_equal(l.n, 0);
  json_object_put(m);

  /* A parameter default and the ABI differ; "abi" missing is one line. */
  m = reversed(orig);
  json_object *ct = json_object_array_get_idx(
      json_object_object_get(m, "connection_types"), 0);
  json_object *params = json_object_object_get(ct, "params");
  for (size_t i = 0; i < json_object_array_length(params); i++) {
    json_object *f = json_object_array_get_idx(params, i);
    if (strcmp(json_object_get_string(json_object_object_get(f, "name")),
               "env") == 0)
      json_object_object_add(f, "default", json_object_new_string("preview"));
  }
  json_object_object_del(m, "abi");
  assert_int_equal(check(p, m, &l), WFC_EMANIFEST);
  assert_int_equal(l.n, 2);
  assert_string_equal(
      l.line[0], "abi: manifest (absent), plugin {\"major\":1,\"minor\":5}");
  assert_string_equal(l.line[1],
                      "connection type \"testconn\": params[1].default: "
                      "manifest \"preview\", plugin \"production\"");
  json_object_put(m);

  /* The connection flow: absent in the manifest (one written before ABI
   * 1.4) is the browser flow and matches; another flow is a difference. */
  m = reversed(orig);
  ct = json_object_array_get_idx(json_object_object_get(m, "connection_types"),
                                 0);
  json_object_object_del(ct, "flow");
  assert_int_equal(check(p, m, &l), 0);
  json_object_object_add(ct, "flow", json_object_new_string("form"));
  assert_int_equal(check(p, m, &l), WFC_EMANIFEST);
  assert_int_equal(l.n, 1);
  assert_string_equal(l.line[0], "connection type \"testconn\": flow: "
                                 "manifest \"form\", plugin \"browser\"");
  json_object_put(m);

  /* No card list at all; a card kind changed. */
  m = reversed(orig);
  json_object_object_del(m, "connection_types");
  json_object *card =
      json_object_array_get_idx(json_object_object_get(m, "cards"), 0);
  json_object_object_add(card, "kind", json_object_new_string("event"));
  assert_int_equal(check(p, m, &l), WFC_EMANIFEST);
  assert_int_equal(l.n, 2);
  assert_string_equal(l.line[0], "connection types: missing in the manifest "
                                 "(expected a list)");
  assert_string_equal(l.line[1], "card \"later\": kind: manifest \"event\", "
                                 "plugin \"action\"");
  json_object_put(m);

  /* Not an object. */
  m = json_object_new_array();
  assert_int_equal(check(p, m, &l), WFC_EJSON);
  assert_string_equal(l.line[0], "not a JSON object");
  json_object_put(m);
  assert_int_equal(
      wfc_plugin_check_manifest(p, "/nonexistent.json", NULL, NULL),
      WFC_ENOTFOUND);
  json_object_put(orig);

  wfc_runtime_close(rt, NULL, NULL);
  assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_lookup),
      cmocka_unit_test(test_check),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
