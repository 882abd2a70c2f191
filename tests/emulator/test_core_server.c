/* Emulator core: start/stop, port file, health, standard headers, routing
 * shapes (404/405), request decoding. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "emu_proc.h"
#include "tclient.h"

typedef struct fx {
  emu_proc *emu;
  tclient *c;
} fx;

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->emu = emu_proc_start(NULL, NULL);
  f->c = tclient_new(0);
  if (f->emu == NULL || f->c == NULL)
    return -1;
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fx *f = *state;
  tclient_free(f->c);
  int rc = emu_proc_stop(f->emu);
  free(f);
  return rc == 0 ? 0 : -1;
}

static char *url(fx *f, const char *path) {
  static char buf[2048];
  snprintf(buf, sizeof buf, "%s%s", emu_proc_url(f->emu), path);
  return buf;
}

static json_object *get_json(json_object *o, const char *path) {
  /* "a.b.c" lookup */
  char tmp[256];
  snprintf(tmp, sizeof tmp, "%s", path);
  for (char *k = strtok(tmp, "."); k && o; k = strtok(NULL, "."))
    if (!json_object_object_get_ex(o, k, &o))
      return NULL;
  return o;
}

static const char *get_str(json_object *o, const char *path) {
  json_object *v = get_json(o, path);
  return v ? json_object_get_string(v) : NULL;
}

static void test_health_and_headers(void **state) {
  fx *f = *state;
  tresp r;
  assert_int_equal(tclient_request(f->c, "GET", url(f, "/__emulator/health"),
                                   NULL, NULL, &r),
                   0);
  assert_int_equal(r.status, 200);
  json_object *o = tresp_json(&r);
  assert_non_null(o);
  assert_string_equal(get_str(o, "status"), "ok");
  assert_string_equal(get_str(o, "domain"), "contoso.test");
  json_object_put(o);
  const char *rid = tresp_header(&r, "request-id");
  assert_non_null(rid);
  assert_int_equal(strlen(rid), 36);
  /* Without a client-request-id the request-id is echoed in its place. */
  assert_string_equal(tresp_header(&r, "client-request-id"), rid);
  const char *date = tresp_header(&r, "Date");
  assert_non_null(date);
  assert_non_null(strstr(date, " GMT"));
  assert_string_equal(tresp_header(&r, "Content-Type"),
                      "application/json; charset=utf-8");
  tresp_free(&r);

  static const char *const hdr[] = {"client-request-id: my-crid-123", NULL};
  assert_int_equal(
      tclient_request(f->c, "GET", url(f, "/__emulator/health"), hdr, NULL, &r),
      0);
  assert_string_equal(tresp_header(&r, "client-request-id"), "my-crid-123");
  assert_string_not_equal(tresp_header(&r, "request-id"), "my-crid-123");
  tresp_free(&r);
}

static void test_graph_404_405_shapes(void **state) {
  fx *f = *state;
  tresp r;
  static const char *const hdr[] = {"client-request-id: crid-404", NULL};
  tclient_request(f->c, "GET", url(f, "/v1.0/me/nosuchthing"), hdr, NULL, &r);
  assert_int_equal(r.status, 404);
  json_object *o = tresp_json(&r);
  assert_non_null(o);
  assert_string_equal(get_str(o, "error.code"), "ResourceNotFound");
  assert_non_null(strstr(get_str(o, "error.message"), "nosuchthing"));
  assert_string_equal(get_str(o, "error.innerError.client-request-id"),
                      "crid-404");
  assert_string_equal(get_str(o, "error.innerError.request-id"),
                      tresp_header(&r, "request-id"));
  assert_non_null(get_str(o, "error.innerError.date"));
  json_object_put(o);
  tresp_free(&r);

  /* Outside /v1.0: plain text. */
  tclient_request(f->c, "GET", url(f, "/nothing/here"), NULL, NULL, &r);
  assert_int_equal(r.status, 404);
  assert_null(tresp_json(&r));
  assert_non_null(strstr(tresp_header(&r, "Content-Type"), "text/plain"));
  tresp_free(&r);

  /* A known path with the wrong method: 405 and Allow. */
  tclient_request(f->c, "DELETE", url(f, "/__emulator/health"), NULL, NULL, &r);
  assert_int_equal(r.status, 405);
  assert_string_equal(tresp_header(&r, "Allow"), "GET");
  tresp_free(&r);
}

static void test_captures_query_form_cookies(void **state) {
  fx *f = *state;
  tresp r;
  static const char *const hdr[] = {
      "X-Probe: probe-value", "Cookie: sid=abc123; other=1",
      "Content-Type: application/x-www-form-urlencoded", NULL};
  tclient_request(f->c, "POST",
                  url(f, "/__emulator/debug/echo/a%2Fb%20c/xy"
                         "?%24select=subject%2Cfrom&%24filter=isRead+eq+false"
                         "&header=x-probe&cookie=sid"),
                  hdr, "grant_type=authorization_code&code=a%2Bb+c&empty=", &r);
  assert_int_equal(r.status, 200);
  json_object *o = tresp_json(&r);
  assert_non_null(o);
  assert_string_equal(get_str(o, "route"), "/__emulator/debug/echo/{a}/{b}");
  assert_string_equal(get_str(o, "params.a"), "a/b c");
  assert_string_equal(get_str(o, "params.b"), "xy");
  json_object *q = get_json(o, "query");
  assert_int_equal(json_object_array_length(q), 4);
  json_object *p0 = json_object_array_get_idx(q, 0);
  assert_string_equal(json_object_get_string(json_object_array_get_idx(p0, 0)),
                      "$select");
  assert_string_equal(json_object_get_string(json_object_array_get_idx(p0, 1)),
                      "subject,from");
  json_object *p1 = json_object_array_get_idx(q, 1);
  assert_string_equal(json_object_get_string(json_object_array_get_idx(p1, 1)),
                      "isRead eq false");
  assert_string_equal(get_str(o, "form.grant_type"), "authorization_code");
  assert_string_equal(get_str(o, "form.code"), "a+b c");
  assert_string_equal(get_str(o, "form.empty"), "");
  assert_string_equal(get_str(o, "header"), "probe-value");
  assert_string_equal(get_str(o, "cookie"), "abc123");
  json_object_put(o);
  tresp_free(&r);

  /* A literal segment beats a capture; fewer segments route elsewhere. */
  tclient_request(f->c, "GET", url(f, "/__emulator/debug/echo/only"), NULL,
                  NULL, &r);
  o = tresp_json(&r);
  assert_string_equal(get_str(o, "route"), "/__emulator/debug/echo/{a}");
  json_object_put(o);
  tresp_free(&r);

  /* A bad escape in a captured segment is a 400, not a crash. */
  tclient_request(f->c, "GET", url(f, "/__emulator/debug/echo/bad%zz"), NULL,
                  NULL, &r);
  assert_int_equal(r.status, 400);
  tresp_free(&r);
}

static void test_keepalive_reuses_connection(void **state) {
  fx *f = *state;
  tresp r;
  for (int i = 0; i < 50; i++) {
    assert_int_equal(tclient_request(f->c, "GET", url(f, "/__emulator/health"),
                                     NULL, NULL, &r),
                     0);
    assert_int_equal(r.status, 200);
    if (i > 0)
      assert_int_equal(r.new_connections, 0); /* keep-alive */
    tresp_free(&r);
  }
  /* A JSON body that is not JSON is reported as such by the core. */
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  tclient_request(f->c, "POST", url(f, "/__emulator/debug/echo"), hdr,
                  "{\"a\":1} trailing", &r);
  json_object *o = tresp_json(&r);
  assert_false(json_object_get_boolean(get_json(o, "json")));
  json_object_put(o);
  tresp_free(&r);
}

static void test_port_file_and_clean_exit(void **state) {
  (void)state;
  /* A second instance gets another free port; stopping it is clean. */
  emu_proc *e = emu_proc_start(NULL, NULL);
  assert_non_null(e);
  assert_true(emu_proc_port(e) > 0);
  fx *f = *state;
  assert_int_not_equal(emu_proc_port(e), emu_proc_port(f->emu));
  assert_int_equal(emu_proc_stop(e), 0);
}

static void test_bad_config_fails_fast(void **state) {
  (void)state;
  json_object *doc = emu_proc_example_doc();
  assert_non_null(doc);
  json_object *users;
  json_object_object_get_ex(doc, "users", &users);
  json_object *u0 = json_object_array_get_idx(users, 0);
  json_object_object_del(u0, "password");
  emu_proc *e = emu_proc_start_doc(doc, NULL);
  assert_null(e); /* the emulator refuses it and exits */
  json_object_put(doc);
}

static char *first_request_id(const char *seed) {
  const char *args[] = {"--seed", seed, NULL};
  emu_proc *e = emu_proc_start(NULL, args);
  assert_non_null(e);
  tclient *c = tclient_new(0);
  char u[256];
  tresp r;
  snprintf(u, sizeof u, "%s/__emulator/debug/echo", emu_proc_url(e));
  tclient_request(c, "GET", u, NULL, NULL, &r);
  char *id = strdup(tresp_header(&r, "request-id"));
  tresp_free(&r);
  tclient_free(c);
  assert_int_equal(emu_proc_stop(e), 0);
  return id;
}

static void test_seed_is_reproducible(void **state) {
  (void)state;
  char *a = first_request_id("7");
  char *b = first_request_id("7");
  char *c = first_request_id("8");
  assert_string_equal(a, b);
  assert_string_not_equal(a, c);
  free(a);
  free(b);
  free(c);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_health_and_headers),
      cmocka_unit_test(test_graph_404_405_shapes),
      cmocka_unit_test(test_captures_query_form_cookies),
      cmocka_unit_test(test_keepalive_reuses_connection),
      cmocka_unit_test(test_port_file_and_clean_exit),
      cmocka_unit_test(test_bad_config_fails_fast),
      cmocka_unit_test(test_seed_is_reproducible),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
