/* Error table: every code has a distinct name and message. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "wfc/error.h"
#include "wfc/version.h"

static void test_names_and_messages(void **state) {
  (void)state;
  assert_string_equal(wfc_err_name(WFC_EINVAL), "EINVAL");
  assert_string_equal(wfc_strerror(WFC_EINVAL), "invalid argument");
  assert_string_equal(wfc_err_name(WFC_EREAUTH), "EREAUTH");
  assert_string_equal(wfc_strerror(0), "success");
  assert_string_equal(wfc_err_name(-1), "UNKNOWN");
  assert_string_equal(wfc_strerror(12345), "unknown error");
}

static void test_codes_distinct(void **state) {
  (void)state;
  static const int codes[] = {
#define XX(name, value, msg) WFC_##name,
      WFC_ERRNO_MAP(XX)
#undef XX
  };
  size_t n = sizeof codes / sizeof codes[0];
  for (size_t i = 0; i < n; i++) {
    assert_true(codes[i] < 0);
    for (size_t j = i + 1; j < n; j++)
      assert_int_not_equal(codes[i], codes[j]);
  }
}

static void test_versions(void **state) {
  (void)state;
  assert_string_equal(wfc_version(), WFC_VERSION_STRING);
  assert_int_equal(wfc_abi_version() >> 16, WFC_ABI_MAJOR);
  assert_int_equal(wfc_abi_version() & 0xffff, WFC_ABI_MINOR);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_names_and_messages),
      cmocka_unit_test(test_codes_distinct),
      cmocka_unit_test(test_versions),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
