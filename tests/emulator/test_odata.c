/* Unit tests of the emulator's OData engine (emulator/odata.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "odata.h"

static json_object *msg(const char *subject, const char *from, bool read,
                        const char *received, const char *importance,
                        const char *cats) {
  char buf[1024];
  snprintf(buf, sizeof(buf),
           "{\"id\":\"%s\",\"subject\":\"%s\",\"isRead\":%s,"
           "\"receivedDateTime\":\"%s\",\"sentDateTime\":\"%s\","
           "\"importance\":\"%s\",\"hasAttachments\":false,"
           "\"from\":{\"emailAddress\":{\"name\":\"N\",\"address\":\"%s\"}},"
           "\"toRecipients\":[{\"emailAddress\":{\"address\":\"to@x.com\"}}],"
           "\"body\":{\"contentType\":\"text\",\"content\":\"body of %s\"},"
           "\"flag\":{\"flagStatus\":\"notFlagged\"},\"categories\":%s}",
           subject, subject, read ? "true" : "false", received, received,
           importance, from, subject, cats);
  json_object *o = json_tokener_parse(buf);
  assert_non_null(o);
  return o;
}

static json_object *sample(void) {
  json_object *a = json_object_new_array();
  json_object_array_add(a, msg("Hello world", "bob@contoso.com", false,
                               "2024-01-02T10:00:00Z", "high", "[\"Red\"]"));
  json_object_array_add(a, msg("Invoice 42", "billing@fabrikam.com", true,
                               "2024-01-03T10:00:00Z", "normal", "[]"));
  json_object_array_add(a, msg("It's done", "bob@contoso.com", true,
                               "2024-01-01T10:00:00Z", "low",
                               "[\"Blue\",\"Red\"]"));
  return a;
}

static size_t count_filter(const char *f) {
  emu_odata_error err = {0};
  emu_odata_node *n = emu_odata_filter_parse(f, emu_odata_message_props, &err);
  if (!n)
    fail_msg("filter '%s' refused: %s", f, err.message);
  json_object *a = sample();
  size_t c = 0;
  for (size_t i = 0; i < json_object_array_length(a); i++)
    c += emu_odata_filter_eval(n, json_object_array_get_idx(a, i));
  emu_odata_filter_free(n);
  json_object_put(a);
  return c;
}

static void test_filter_basic(void **state) {
  (void)state;
  assert_int_equal(count_filter("isRead eq false"), 1);
  assert_int_equal(count_filter("isRead ne false"), 2);
  assert_int_equal(count_filter("subject eq 'invoice 42'"), 1);
  assert_int_equal(count_filter("subject eq 'It''s done'"), 1);
  assert_int_equal(count_filter("from/emailAddress/address eq "
                                "'bob@contoso.com'"),
                   2);
  assert_int_equal(count_filter("importance eq 'high' or importance eq 'low'"),
                   2);
  assert_int_equal(count_filter("not (isRead eq true) and importance eq "
                                "'high'"),
                   1);
  assert_int_equal(count_filter("hasAttachments eq true"), 0);
  assert_int_equal(count_filter("flag/flagStatus eq 'notFlagged'"), 3);
}

static void test_filter_dates_functions(void **state) {
  (void)state;
  assert_int_equal(count_filter("receivedDateTime ge 2024-01-02T00:00:00Z"), 2);
  assert_int_equal(count_filter("receivedDateTime gt 2024-01-02T10:00:00Z"), 1);
  assert_int_equal(count_filter("receivedDateTime le 2024-01-02T10:00:00.000Z"),
                   2);
  assert_int_equal(count_filter("contains(subject,'VOICE')"), 1);
  assert_int_equal(count_filter("startswith(subject, 'hello')"), 1);
  assert_int_equal(count_filter("endswith(from/emailAddress/address,"
                                "'contoso.com')"),
                   2);
  assert_int_equal(count_filter("categories/any(c:c eq 'Red')"), 2);
  assert_int_equal(count_filter("categories/any(c: c eq 'Blue') and isRead "
                                "eq true"),
                   1);
}

static void test_filter_errors(void **state) {
  (void)state;
  const char *bad[] = {"subject eq",
                       "subject eq 'x",
                       "(isRead eq true",
                       "isRead eq true)",
                       "frobnicate(subject,'x')",
                       "isRead eq true and",
                       "subject eq 'a' foo",
                       "",
                       "'a'"};
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    emu_odata_error err = {0};
    emu_odata_node *n =
        emu_odata_filter_parse(bad[i], emu_odata_message_props, &err);
    if (n)
      fail_msg("'%s' accepted", bad[i]);
    assert_int_equal(err.status, 400);
    assert_string_equal(err.code, "BadRequest");
  }
  emu_odata_error err = {0};
  assert_null(
      emu_odata_filter_parse("nosuchprop eq 1", emu_odata_message_props, &err));
  assert_string_equal(err.code, "RequestBroker--ParseUri");
  assert_non_null(strstr(err.message, "nosuchprop"));
}

static size_t run_query(emu_odata_params *p, json_object **page_out,
                        int *status, const char **code) {
  emu_odata_query q;
  emu_odata_error err = {0};
  if (emu_odata_query_parse(&q, p, emu_odata_message_props, &err) < 0) {
    *status = err.status;
    *code = err.code;
    return 0;
  }
  *status = 200;
  json_object *a = sample();
  size_t total = 0;
  *page_out = emu_odata_apply(&q, a, 10, &total);
  json_object_put(a);
  emu_odata_query_clear(&q);
  return total;
}

static const char *subj(json_object *page, size_t i) {
  return json_object_get_string(
      emu_odata_path_get(json_object_array_get_idx(page, i), "subject"));
}

static void test_order_top_skip(void **state) {
  (void)state;
  json_object *page = NULL;
  int st;
  const char *code;
  emu_odata_params p = {0};
  /* default order: receivedDateTime desc */
  assert_int_equal(run_query(&p, &page, &st, &code), 3);
  assert_string_equal(subj(page, 0), "Invoice 42");
  assert_string_equal(subj(page, 2), "It's done");
  json_object_put(page);
  p.orderby = "subject asc";
  p.top = "2";
  p.skip = "1";
  assert_int_equal(run_query(&p, &page, &st, &code), 3);
  assert_int_equal(json_object_array_length(page), 2);
  assert_string_equal(subj(page, 0), "Invoice 42");
  assert_string_equal(subj(page, 1), "It's done");
  json_object_put(page);
  p = (emu_odata_params){0};
  p.top = "1001";
  run_query(&p, &page, &st, &code);
  assert_int_equal(st, 400);
  p.top = "abc";
  run_query(&p, &page, &st, &code);
  assert_int_equal(st, 400);
}

static void test_filter_orderby_rule(void **state) {
  (void)state;
  json_object *page = NULL;
  int st;
  const char *code;
  emu_odata_params p = {0};
  p.filter = "isRead eq true";
  p.orderby = "receivedDateTime desc";
  run_query(&p, &page, &st, &code);
  assert_int_equal(st, 400);
  assert_string_equal(code, "InefficientFilter");
  p.filter = "receivedDateTime ge 2020-01-01T00:00:00Z and isRead eq true";
  assert_int_equal(run_query(&p, &page, &st, &code), 2);
  assert_int_equal(st, 200);
  assert_string_equal(subj(page, 0), "Invoice 42");
  json_object_put(page);
}

static void test_search(void **state) {
  (void)state;
  json_object *page = NULL;
  int st;
  const char *code;
  emu_odata_params p = {0};
  p.search = "\"invoice\"";
  assert_int_equal(run_query(&p, &page, &st, &code), 1);
  json_object_put(page);
  p.search = "\"from:bob@contoso.com\"";
  assert_int_equal(run_query(&p, &page, &st, &code), 2);
  json_object_put(page);
  p.search = "\"subject:'hello world'\"";
  assert_int_equal(run_query(&p, &page, &st, &code), 1);
  json_object_put(page);
  p.search = "\"hello OR invoice\"";
  assert_int_equal(run_query(&p, &page, &st, &code), 2);
  json_object_put(page);
  p.search = "\"to:to@x.com body:done\"";
  assert_int_equal(run_query(&p, &page, &st, &code), 1);
  json_object_put(page);
  p.search = "invoice"; /* not quoted */
  run_query(&p, &page, &st, &code);
  assert_int_equal(st, 400);
  p.search = "\"invoice\"";
  p.orderby = "subject";
  run_query(&p, &page, &st, &code);
  assert_string_equal(code, "SearchWithOrderBy");
  p.orderby = NULL;
  p.filter = "isRead eq true";
  run_query(&p, &page, &st, &code);
  assert_int_equal(st, 400);
}

static void test_select(void **state) {
  (void)state;
  emu_odata_params p = {.select = "subject, isRead"};
  emu_odata_query q;
  emu_odata_error err;
  assert_int_equal(emu_odata_query_parse(&q, &p, emu_odata_message_props, &err),
                   0);
  json_object *m = msg("S", "a@b.c", true, "2024-01-01T00:00:00Z", "low", "[]");
  json_object *o = emu_odata_select(&q, m);
  assert_int_equal(json_object_object_length(o), 3); /* id, subject, isRead */
  assert_true(json_object_object_get_ex(o, "id", NULL));
  assert_false(json_object_object_get_ex(o, "from", NULL));
  json_object_put(o);
  json_object_put(m);
  emu_odata_query_clear(&q);
  p.select = "subject,bogus";
  assert_int_equal(emu_odata_query_parse(&q, &p, emu_odata_message_props, &err),
                   -1);
  assert_non_null(strstr(err.message, "bogus"));
}

static void test_parse_time(void **state) {
  (void)state;
  double t;
  assert_int_equal(emu_odata_parse_time("1970-01-01T00:01:00Z", &t), 0);
  assert_true(t == 60.0);
  assert_int_equal(emu_odata_parse_time("1970-01-01T01:00:00+01:00", &t), 0);
  assert_true(t == 0.0);
  assert_int_equal(emu_odata_parse_time("1970-13-01T00:00:00Z", &t), -1);
  assert_int_equal(emu_odata_parse_time("yesterday", &t), -1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_filter_basic),
      cmocka_unit_test(test_filter_dates_functions),
      cmocka_unit_test(test_filter_errors),
      cmocka_unit_test(test_order_top_skip),
      cmocka_unit_test(test_filter_orderby_rule),
      cmocka_unit_test(test_search),
      cmocka_unit_test(test_select),
      cmocka_unit_test(test_parse_time),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
