/* test_http_tls.c - HTTPS against ts_server with a CA made at test time:
 * the right CA bundle (from the options or WFC_CA_BUNDLE) succeeds, another
 * CA or the system store fails with WFC_ETLS; verification is never off. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, unsetenv, setenv */
#include "http_test.h"

static ts_tls ca_a, ca_b;

static int tls_setup(void **state) {
  if (global_setup(state))
    return -1;
  if (ts_tls_make(&ca_a) || ts_tls_make(&ca_b))
    return -1;
  return 0;
}

static int tls_teardown(void **state) {
  ts_tls_cleanup(&ca_a);
  ts_tls_cleanup(&ca_b);
  return global_teardown(state);
}

static void https_server(fixture *f) {
  ts_server_opts so = {.cert_file = ca_a.cert_file, .key_file = ca_a.key_file};
  ts_route rt = {.path = "/secure", .body = "over tls"};
  fx_server(f, &so);
  ts_server_route(f->srv, &rt);
  assert_non_null(strstr(ts_server_url(f->srv), "https://127.0.0.1:"));
}

static void get_once(fixture *f, result *r) {
  wfc_http_req q = req_make("GET", fx_url(f, "/secure"));
  assert_int_equal(wfc__http_send(f->e, &q, NULL, on_result, r, NULL), 0);
  run_until(f, &r->calls, 1);
  assert_int_equal(r->calls, 1);
}

static void tls_right_ca(void **state) {
  fixture f;
  result r = {0}, r2 = {0};
  ts_stats st;
  wfc__http_opts o = {.size = sizeof o, .ca_bundle = ca_a.ca_file};
  unsetenv("WFC_CA_BUNDLE");
  fx_open(&f, &o);
  https_server(&f);
  get_once(&f, &r);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "over tls");
  get_once(&f, &r2); /* the TLS connection is reused */
  assert_int_equal(r2.status, 200);
  ts_server_stats(f.srv, &st);
  assert_int_equal(st.requests, 2);
  assert_int_equal(st.connections, 1);
  fx_close(&f);
  result_free(&r);
  result_free(&r2);
}

static void tls_ca_from_env(void **state) {
  fixture f;
  result r = {0};
  setenv("WFC_CA_BUNDLE", ca_a.ca_file, 1);
  fx_open(&f, NULL);
  unsetenv("WFC_CA_BUNDLE"); /* read once, at engine creation */
  https_server(&f);
  get_once(&f, &r);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.status, 200);
  fx_close(&f);
  result_free(&r);
}

static void tls_wrong_ca(void **state) {
  fixture f;
  result r = {0};
  wfc__http_opts o = {.size = sizeof o, .ca_bundle = ca_b.ca_file};
  fx_open(&f, &o);
  https_server(&f);
  get_once(&f, &r);
  assert_int_equal(r.error, WFC_ETLS);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.msg, "TLS"));
  assert_non_null(strstr(r.msg, "GET https://127.0.0.1:"));
  print_message("wrong CA: %s\n", r.msg);
  fx_close(&f);
  result_free(&r);
}

static void tls_system_store_refuses_test_ca(void **state) {
  fixture f;
  result r = {0};
  unsetenv("WFC_CA_BUNDLE");
  fx_open(&f, NULL);
  https_server(&f);
  get_once(&f, &r);
  assert_int_equal(r.error, WFC_ETLS);
  fx_close(&f);
  result_free(&r);
}

static void tls_missing_bundle_file(void **state) {
  fixture f;
  result r = {0};
  wfc__http_opts o = {.size = sizeof o, .ca_bundle = "/nonexistent/ca.pem"};
  fx_open(&f, &o);
  https_server(&f);
  get_once(&f, &r);
  assert_int_equal(r.error, WFC_ETLS); /* never falls back to no checks */
  fx_close(&f);
  result_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(tls_right_ca),
      cmocka_unit_test(tls_ca_from_env),
      cmocka_unit_test(tls_wrong_ca),
      cmocka_unit_test(tls_system_store_refuses_test_ca),
      cmocka_unit_test(tls_missing_bundle_file),
  };
  return cmocka_run_group_tests(tests, tls_setup, tls_teardown);
}
