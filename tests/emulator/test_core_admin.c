/* Emulator core: admin API - virtual time, stats, reset, throttle settings.
 * */
#define _GNU_SOURCE /* strptime, timegm */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "core_test.h"

/* Performs a request with a JSON body given as text; returns the parsed
 * answer (new ref, may be NULL) and the status in *status. */
static json_object *call(fx *f, const char *method, const char *path,
                         const char *json, long *status) {
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  tresp r;
  snprintf(f->buf, sizeof f->buf, "%s%s", emu_proc_url(f->emu), path);
  tclient_request(f->c, method, f->buf, json ? hdr : NULL, json, &r);
  if (status)
    *status = r.status;
  json_object *o = tresp_json(&r);
  tresp_free(&r);
  return o;
}

static int64_t now_ms(fx *f) {
  json_object *o = call(f, "GET", "/__emulator/time", NULL, NULL);
  int64_t v = json_object_get_int64(tjson_get(o, "nowMs"));
  json_object_put(o);
  return v;
}

static void test_virtual_time(void **state) {
  fx *f = *state;
  long st;
  int64_t real = (int64_t)time(NULL) * 1000;
  int64_t t0 = now_ms(f);
  assert_true(t0 >= real - 5000 && t0 <= real + 5000);

  json_object *o =
      call(f, "POST", "/__emulator/time/advance", "{\"seconds\":3600}", &st);
  assert_int_equal(st, 200);
  assert_true(json_object_get_double(tjson_get(o, "offsetSeconds")) == 3600.0);
  json_object_put(o);
  int64_t t1 = now_ms(f);
  assert_true(t1 - t0 >= 3600 * 1000 && t1 - t0 < 3600 * 1000 + 5000);

  /* The Date header follows the virtual clock: one hour ahead. */
  tresp r;
  snprintf(f->buf, sizeof f->buf, "%s/__emulator/health", emu_proc_url(f->emu));
  tclient_request(f->c, "GET", f->buf, NULL, NULL, &r);
  struct tm tm = {0};
  assert_non_null(
      strptime(tresp_header(&r, "Date"), "%a, %d %b %Y %H:%M:%S GMT", &tm));
  int64_t date = (int64_t)timegm(&tm);
  assert_true(date - time(NULL) > 3590 && date - time(NULL) < 3610);
  tresp_free(&r);

  /* Fractions are allowed; going back is not; junk is refused. */
  o = call(f, "POST", "/__emulator/time/advance", "{\"seconds\":0.5}", &st);
  assert_int_equal(st, 200);
  json_object_put(o);
  o = call(f, "POST", "/__emulator/time/advance", "{\"seconds\":-1}", &st);
  assert_int_equal(st, 400);
  assert_string_equal(tjson_str(o, "error.code"), "BadRequest");
  json_object_put(o);
  o = call(f, "POST", "/__emulator/time/advance", "{\"secs\":1}", &st);
  assert_int_equal(st, 400);
  json_object_put(o);
  o = call(f, "POST", "/__emulator/time/advance", "not json", &st);
  assert_int_equal(st, 400);
  json_object_put(o);

  /* Reset puts the clock back. */
  assert_int_equal(reset(state), 0);
  int64_t t2 = now_ms(f);
  assert_true(t2 - (int64_t)time(NULL) * 1000 < 5000);
}

static int64_t stat_count(json_object *stats, const char *method,
                          const char *route, const char *status) {
  json_object *routes = tjson_get(stats, "routes");
  for (size_t i = 0; routes && i < json_object_array_length(routes); i++) {
    json_object *row = json_object_array_get_idx(routes, i);
    if (strcmp(tjson_str(row, "method"), method) == 0 &&
        strcmp(tjson_str(row, "route"), route) == 0) {
      if (status == NULL)
        return json_object_get_int64(tjson_get(row, "total"));
      json_object *by = tjson_get(row, "byStatus"), *v;
      return json_object_object_get_ex(by, status, &v)
                 ? json_object_get_int64(v)
                 : 0;
    }
  }
  return 0;
}

static void test_stats_per_route_and_status(void **state) {
  fx *f = *state;
  long st;
  for (int i = 0; i < 3; i++)
    json_object_put(call(f, "GET", "/__emulator/debug/echo/x", NULL, NULL));
  json_object_put(call(f, "POST", "/__emulator/debug/echo/y", "{}", NULL));
  json_object_put(call(f, "GET", "/v1.0/nope", NULL, NULL));
  json_object_put(call(f, "GET", "/__emulator/debug/echo/bad%zz", NULL, NULL));
  json_object *s = call(f, "GET", "/__emulator/stats", NULL, &st);
  assert_int_equal(st, 200);
  assert_int_equal(stat_count(s, "GET", "/__emulator/debug/echo/{a}", "200"),
                   3);
  assert_int_equal(stat_count(s, "POST", "/__emulator/debug/echo/{a}", "200"),
                   1);
  assert_int_equal(stat_count(s, "GET", "(unmatched)", "404"), 1);
  assert_int_equal(stat_count(s, "GET", "/__emulator/debug/echo/{a}", "400"),
                   1);
  /* Admin calls are not counted. */
  assert_int_equal(stat_count(s, "GET", "/__emulator/stats", NULL), 0);
  assert_int_equal(json_object_get_int64(tjson_get(s, "total")), 6);
  json_object_put(s);

  assert_int_equal(reset(state), 0);
  s = call(f, "GET", "/__emulator/stats", NULL, &st);
  assert_int_equal(json_object_get_int64(tjson_get(s, "total")), 0);
  json_object_put(s);
}

static void test_reset_restores_config(void **state) {
  fx *f = *state;
  long st;
  json_object *o =
      call(f, "POST", "/__emulator/faults",
           "{\"path\":\"/v1.0/\",\"status\":503,\"count\":5}", &st);
  assert_int_equal(st, 201);
  json_object_put(o);
  o = call(f, "POST", "/__emulator/throttle", "{\"concurrency\":1}", &st);
  assert_int_equal(st, 200);
  assert_int_equal(json_object_get_int(tjson_get(o, "concurrency")), 1);
  json_object_put(o);

  assert_int_equal(reset(state), 0);
  o = call(f, "GET", "/__emulator/faults", NULL, &st);
  assert_int_equal(json_object_array_length(tjson_get(o, "value")), 0);
  json_object_put(o);
  o = call(f, "GET", "/__emulator/throttle", NULL, &st);
  assert_int_equal(json_object_get_int(tjson_get(o, "concurrency")), 4);
  assert_int_equal(json_object_get_int(tjson_get(o, "requestsPerWindow")),
                   10000);
  assert_int_equal(json_object_get_int(tjson_get(o, "windowSeconds")), 600);
  json_object_put(o);
}

static void test_throttle_settings_validated(void **state) {
  fx *f = *state;
  long st;
  json_object *o =
      call(f, "POST", "/__emulator/throttle", "{\"windowSeconds\":0}", &st);
  assert_int_equal(st, 400);
  json_object_put(o);
  o = call(f, "POST", "/__emulator/throttle", "{\"concurrency\":\"4\"}", &st);
  assert_int_equal(st, 400);
  json_object_put(o);
  o = call(f, "POST", "/__emulator/throttle",
           "{\"requestsPerWindow\":7,\"windowSeconds\":30}", &st);
  assert_int_equal(st, 200);
  assert_int_equal(json_object_get_int(tjson_get(o, "requestsPerWindow")), 7);
  assert_int_equal(json_object_get_int(tjson_get(o, "windowSeconds")), 30);
  assert_int_equal(json_object_get_int(tjson_get(o, "concurrency")), 4);
  json_object_put(o);
}

static void test_config_throttling_section(void **state) {
  (void)state;
  json_object *doc = emu_proc_example_doc();
  json_object *th = json_object_new_object();
  json_object_object_add(th, "concurrency", json_object_new_int(2));
  json_object_object_add(th, "requestsPerWindow", json_object_new_int(5));
  json_object_object_add(th, "windowSeconds", json_object_new_int(10));
  json_object_object_add(doc, "throttling", th);
  emu_proc *e = emu_proc_start_doc(doc, NULL);
  json_object_put(doc);
  assert_non_null(e);
  tclient *c = tclient_new(0);
  char u[256];
  tresp r;
  snprintf(u, sizeof u, "%s/__emulator/throttle", emu_proc_url(e));
  tclient_request(c, "GET", u, NULL, NULL, &r);
  json_object *o = tresp_json(&r);
  assert_int_equal(json_object_get_int(tjson_get(o, "concurrency")), 2);
  assert_int_equal(json_object_get_int(tjson_get(o, "requestsPerWindow")), 5);
  assert_int_equal(json_object_get_int(tjson_get(o, "windowSeconds")), 10);
  json_object_put(o);
  tresp_free(&r);
  tclient_free(c);
  assert_int_equal(emu_proc_stop(e), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_virtual_time, reset),
      cmocka_unit_test_setup(test_stats_per_route_and_status, reset),
      cmocka_unit_test_setup(test_reset_restores_config, reset),
      cmocka_unit_test_setup(test_throttle_settings_validated, reset),
      cmocka_unit_test(test_config_throttling_section),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
