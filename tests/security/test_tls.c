/* test_tls.c - the plugin against the emulator over HTTPS, served with a
 * certificate from a test CA (ts_tls_make): with WFC_CA_BUNDLE set to that
 * CA it connects and its cards work; with another CA, or none (the system
 * store), every call is refused with a clear TLS error. */
#define _POSIX_C_SOURCE 200809L /* strndup, strdup, setenv, unsetenv */
#include "../scenarios/scen.h"
#include "ts_server.h"

static ts_tls good, other;

static int up(void **state) {
  (void)state;
  if (ts_tls_make(&good) != 0 || ts_tls_make(&other) != 0)
    return -1;
  const char *const args[] = {"--tls-cert", good.cert_file, "--tls-key",
                              good.key_file, NULL};
  if (sc_up_args(NULL, args) != 0)
    return -1;
  if (strncmp(base(), "https://", 8) != 0)
    return -1;
  snprintf(sc_ca, sizeof sc_ca, "%s", good.ca_file);
  setenv("WFC_CA_BUNDLE", good.ca_file, 1);
  return 0;
}

static int down(void **state) {
  int rc = sc_down(state);
  unsetenv("WFC_CA_BUNDLE");
  ts_tls_cleanup(&good);
  ts_tls_cleanup(&other);
  return rc;
}

/* A TLS failure named as such on stderr. */
static void assert_tls_error(const wproc *p) {
  const char *e = p->stderr_;
  int named = strstr(e, "certificate") != NULL || strstr(e, "TLS") != NULL ||
              strstr(e, "SSL") != NULL;
  if (!named)
    fprintf(stderr, "no TLS error in: %s\n", e);
  assert_true(named);
}

static void connects_with_the_ca_and_refuses_others(void **state) {
  (void)state;
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, 1, NULL, 0);
  assert_int_equal(sc_test("alice"), 0);

  wproc p;
  setenv("WFC_CA_BUNDLE", other.ca_file, 1);
  assert_int_not_equal(sc_card(&p, "list_folders", "alice", "{}"), 0);
  assert_tls_error(&p);
  /* A TLS failure is not an authorization problem: still connected. */
  sc_expect("alice", "connected", NULL, NULL, 0);

  unsetenv("WFC_CA_BUNDLE");
  assert_int_not_equal(sc_card(&p, "list_folders", "alice", "{}"), 0);
  assert_tls_error(&p);

  /* A new connection cannot redeem its code either. */
  setenv("WFC_CA_BUNDLE", other.ca_file, 1);
  char url[4096];
  sc_new(&p, "bob", "preview", url, sizeof url);
  tclient *b = sc_browser();
  tresp page, done;
  sc_open(b, url, BOB_UPN, BOB_PW, &page);
  consent(b, &page, 1, 0, &done);
  sc_to_listener(&done);
  tresp_free(&page), tresp_free(&done), tclient_free(b);
  assert_int_not_equal(sc_finish(&p), 0);
  assert_tls_error(&p);

  setenv("WFC_CA_BUNDLE", good.ca_file, 1);
  assert_int_equal(sc_card(&p, "list_folders", "alice", "{}"), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(connects_with_the_ca_and_refuses_others,
                                      up, down),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
