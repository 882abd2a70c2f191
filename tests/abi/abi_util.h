/* abi_util.h - paths and small helpers shared by the tests in tests/abi. */
#ifndef WFC_TESTS_ABI_UTIL_H
#define WFC_TESTS_ABI_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $WFC_BUILD_DIR/<rel>, in a static buffer per slot. */
static inline const char *build_path(int slot, const char *rel) {
  static char buf[4][4096];
  const char *b = getenv("WFC_BUILD_DIR");
  snprintf(buf[slot], sizeof buf[slot], "%s/%s", b ? b : ".", rel);
  return buf[slot];
}

static inline const char *testplugin_path(void) {
  return build_path(0, "plugins/wfc-testplugin.so");
}

/* $WFC_BROKEN_DIR/wfc-broken-<kind>.so */
static inline const char *broken_path(const char *kind) {
  static char buf[4096];
  const char *d = getenv("WFC_BROKEN_DIR");
  snprintf(buf, sizeof buf, "%s/wfc-broken-%s.so", d ? d : ".", kind);
  return buf;
}

#endif
