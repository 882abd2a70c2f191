/* test_cards_doc.c - docs/cards.md is exactly what `wfc docs cards`
 * generates from manifest.json (so the reference cannot drift from the
 * schemas), and the generator renders what the manifest says: every card,
 * every input with its type, required flag and default, nested fields,
 * cells escaped; a file that is not a manifest is refused. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tfile.h"
#include "tsys.h"

#define REGEN "build/bin/wfc docs cards manifest.json --output docs/cards.md"

static char dir[256];

/* Runs `wfc docs cards MANIFEST --output OUT`; returns the exit status. */
static int generate(const char *manifest, const char *out) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd,
           "'%s/bin/wfc' docs cards '%s' --output '%s' 2>'%s/err'",
           getenv("WFC_BUILD_DIR"), manifest, out, dir);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s/wfc-cardsdoc-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  return mkdtemp(dir) != NULL && getenv("WFC_BUILD_DIR") != NULL &&
                 getenv("WFC_SOURCE_DIR") != NULL
             ? 0
             : -1;
}

static int teardown(void **state) {
  (void)state;
  return tsys_rm_rf(dir);
}

static void committed_doc_is_current(void **state) {
  (void)state;
  char manifest[1024], committed[1024], out[512];
  snprintf(manifest, sizeof manifest, "%s/manifest.json",
           getenv("WFC_SOURCE_DIR"));
  snprintf(committed, sizeof committed, "%s/docs/cards.md",
           getenv("WFC_SOURCE_DIR"));
  snprintf(out, sizeof out, "%s/cards.md", dir);
  assert_int_equal(generate(manifest, out), 0);
  char *want = tfile_read(out, NULL), *have = tfile_read(committed, NULL);
  assert_non_null(want);
  if (have == NULL)
    fail_msg("docs/cards.md is missing: run " REGEN);
  if (strcmp(want, have) != 0) {
    int line = 1;
    const char *a = want, *b = have;
    for (; *a && *a == *b; a++, b++)
      line += *a == '\n';
    fail_msg("docs/cards.md is stale: run " REGEN " (first difference at "
             "line %d)",
             line);
  }
  free(want);
  free(have);
}

/* Every card of the real manifest, and each of its inputs, is there. */
static void every_card_and_input(void **state) {
  (void)state;
  char manifest[1024], out[512], needle[600];
  snprintf(manifest, sizeof manifest, "%s/manifest.json",
           getenv("WFC_SOURCE_DIR"));
  snprintf(out, sizeof out, "%s/all.md", dir);
  assert_int_equal(generate(manifest, out), 0);
  char *doc = tfile_read(out, NULL);
  json_object *m = json_object_from_file(manifest), *cards, *c, *v, *ins;
  assert_non_null(doc);
  assert_non_null(m);
  assert_true(json_object_object_get_ex(m, "cards", &cards));
  assert_true(json_object_array_length(cards) > 0);
  for (size_t i = 0; i < json_object_array_length(cards); i++) {
    c = json_object_array_get_idx(cards, i);
    assert_true(json_object_object_get_ex(c, "name", &v));
    snprintf(needle, sizeof needle, "\n## %s\n", json_object_get_string(v));
    if (strstr(doc, needle) == NULL)
      fail_msg("no section for card %s", json_object_get_string(v));
    assert_true(json_object_object_get_ex(c, "id", &v));
    snprintf(needle, sizeof needle, "`o365mail.%s`", json_object_get_string(v));
    assert_non_null(strstr(doc, needle));
    if (json_object_object_get_ex(c, "inputs", &ins))
      for (size_t k = 0; k < json_object_array_length(ins); k++) {
        json_object *name;
        json_object_object_get_ex(json_object_array_get_idx(ins, k), "name",
                                  &name);
        snprintf(needle, sizeof needle, "| `%s` |",
                 json_object_get_string(name));
        if (strstr(doc, needle) == NULL)
          fail_msg("input %s of %s missing", needle, json_object_get_string(v));
      }
  }
  json_object_put(m);
  free(doc);
}

static void renders_fields(void **state) {
  (void)state;
  char manifest[512], out[512];
  snprintf(manifest, sizeof manifest, "%s/m.json", dir);
  snprintf(out, sizeof out, "%s/m.md", dir);
  FILE *f = fopen(manifest, "w");
  assert_non_null(f);
  fputs("{\"id\":\"p\",\"version\":\"9.1\",\"description\":\"D\","
        "\"connection_types\":[{\"id\":\"p\",\"name\":\"P Account\"}],"
        "\"cards\":[{\"id\":\"c1\",\"name\":\"Card One\",\"kind\":\"action\","
        "\"connection_type\":\"p\",\"description\":\"Does one thing.\","
        "\"inputs\":[{\"name\":\"a\",\"type\":\"string\",\"required\":true,"
        "\"description\":\"x|y\",\"min\":1,\"max\":5},"
        "{\"name\":\"b\",\"type\":\"list\",\"required\":false,"
        "\"default\":[1],\"items\":{\"type\":\"object\",\"fields\":"
        "[{\"name\":\"z\",\"type\":\"integer\"}]}}],"
        "\"outputs\":[{\"name\":\"r\",\"type\":\"file\",\"nullable\":true}]},"
        "{\"id\":\"c2\",\"name\":\"Two\",\"kind\":\"action\",\"inputs\":[],"
        "\"outputs\":[]}]}",
        f);
  fclose(f);
  assert_int_equal(generate(manifest, out), 0);
  char *doc = tfile_read(out, NULL);
  assert_non_null(doc);
  assert_non_null(strstr(doc, "Plugin `p` 9.1: D"));
  assert_non_null(strstr(doc, "| [Card One](#c1) | `c1` | action | p |"));
  assert_non_null(strstr(doc, "Needs a connection of type `p` (P Account)."));
  assert_non_null(
      strstr(doc, "| `a` | string | yes |  | x\\|y (length >= 1, <= 5) |"));
  assert_non_null(strstr(doc, "| `b` | list of object | no | `[1]` |  |"));
  assert_non_null(strstr(doc, "| `b[].z` | integer | no |  |  |"));
  assert_non_null(strstr(doc, "| `r` | file |  May be null. |"));
  assert_non_null(strstr(doc, "`p.c2` (action). Needs no connection."));
  assert_non_null(strstr(doc, "**Inputs**\n\nNone.\n"));
  free(doc);

  /* Not a manifest: refused, exit 1. */
  f = fopen(manifest, "w");
  fputs("{\"id\":\"p\"}", f);
  fclose(f);
  assert_int_equal(generate(manifest, out), 1);
  char errp[512];
  snprintf(errp, sizeof errp, "%s/err", dir);
  char *err = tfile_read(errp, NULL);
  assert_non_null(strstr(err, "not a plugin manifest"));
  free(err);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(committed_doc_is_current),
      cmocka_unit_test(every_card_and_input),
      cmocka_unit_test(renders_fields),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
