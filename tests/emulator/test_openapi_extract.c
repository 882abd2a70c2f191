/* emulator/openapi/graph-mail.json is generated: when Microsoft's OpenAPI
 * documents are present (GRAPH_OPENAPI_DIR, or ../shared/graph-openapi
 * beside the source tree; CI may lack them), regenerating it with
 * openapi-extract must give the committed file byte for byte. Skipped
 * (cmocka skip, reported as such) when the documents or the generator
 * (libyaml missing) are absent. */
#define _GNU_SOURCE /* asprintf, mkstemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *slurp(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  size_t cap = 1 << 16, n = 0;
  char *b = malloc(cap);
  size_t r;
  while (b && (r = fread(b + n, 1, cap - n, f)) > 0) {
    n += r;
    if (n == cap)
      b = realloc(b, cap *= 2);
  }
  fclose(f);
  *len = n;
  return b;
}

static void test_regenerate_matches(void **state) {
  (void)state;
  const char *src =
      getenv("WFC_SOURCE_DIR") ? getenv("WFC_SOURCE_DIR") : WFC_SOURCE_DIR;
  const char *bld =
      getenv("WFC_BUILD_DIR") ? getenv("WFC_BUILD_DIR") : WFC_BUILD_DIR;
  char dir[4096], tool[4096], committed[4096], probe[4200];
  if (getenv("GRAPH_OPENAPI_DIR"))
    snprintf(dir, sizeof dir, "%s", getenv("GRAPH_OPENAPI_DIR"));
  else
    snprintf(dir, sizeof dir, "%s/../shared/graph-openapi", src);
  snprintf(probe, sizeof probe, "%s/Mail.yml", dir);
  if (access(probe, R_OK) != 0) {
    print_message("skip: no Graph OpenAPI documents at %s (set "
                  "GRAPH_OPENAPI_DIR)\n",
                  dir);
    skip();
  }
  snprintf(tool, sizeof tool, "%s/bin/openapi-extract", bld);
  if (access(tool, X_OK) != 0) {
    print_message("skip: %s not built (libyaml-dev missing)\n", tool);
    skip();
  }
  char out[] = "/tmp/openapi-extract-XXXXXX";
  int fd = mkstemp(out);
  assert_true(fd >= 0);
  close(fd);
  char *cmd = NULL;
  assert_true(asprintf(&cmd, "'%s' '%s' '%s'", tool, dir, out) > 0);
  assert_int_equal(system(cmd), 0);
  free(cmd);
  snprintf(committed, sizeof committed, "%s/emulator/openapi/graph-mail.json",
           src);
  size_t la = 0, lb = 0;
  char *a = slurp(out, &la), *b = slurp(committed, &lb);
  unlink(out);
  assert_non_null(a);
  assert_non_null(b);
  if (la != lb || memcmp(a, b, la) != 0)
    fail_msg("emulator/openapi/graph-mail.json is stale: regenerate with "
             "build/bin/openapi-extract %s emulator/openapi/graph-mail.json",
             dir);
  assert_true(la > 1000);
  free(a);
  free(b);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_regenerate_matches),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
