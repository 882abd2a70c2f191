/* The single-message cards against the emulator through the real plugin:
 * get_message, mark_read, flag_email, set_categories, move_email,
 * copy_email, delete_email, export_email; own and shared mailbox, not
 * found, access denied without rights, validation without requests. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cards_test.h"

static wfc_conn *carol; /* owned by fx */

static int setup(void **state) {
  (void)state;
  return ct_up(NULL, &carol);
}

static char *inject(const char *user, const char *subject) {
  char m[512];
  snprintf(m, sizeof m,
           "{\"folder\":\"inbox\",\"subject\":\"%s\",\"from\":"
           "\"bob@contoso.test\",\"toRecipients\":[\"%s\"],\"body\":"
           "{\"contentType\":\"html\",\"content\":\"<p>Hello "
           "<b>there</b></p>\"},\"isRead\":false,\"categories\":[\"Red\"]}",
           subject, user);
  char *id = o365_fixture_inject(fx, user, m);
  assert_non_null(id);
  return id;
}

/* tmpl with its one "%s" replaced by id (malloc'd). */
static char *in_id(const char *tmpl, const char *id) {
  const char *p = strstr(tmpl, "%s");
  assert_non_null(p);
  size_t n = strlen(tmpl) + strlen(id) + 1;
  char *s = malloc(n);
  snprintf(s, n, "%.*s%s%s", (int)(p - tmpl), tmpl, id, p + 2);
  return s;
}

static void test_get_message(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  char *id = inject("alice@contoso.test", "get me");
  char *in = in_id("{\"message_id\":\"%s\"}", id);
  o365_outcome o;
  run_ok("get_message", in, &o);
  assert_string_equal(jstr(o.output, "id"), id);
  assert_string_equal(jstr(o.output, "subject"), "get me");
  assert_string_equal(jstr(o.output, "from"), "bob@contoso.test");
  assert_string_equal(jstr(o.output, "body_type"), "html");
  assert_non_null(strstr(jstr(o.output, "body"), "<b>there</b>"));
  assert_false(jbool(o.output, "is_read"));
  assert_non_null(jstr(o.output, "received"));
  assert_non_null(jstr(o.output, "web_link"));
  json_object *to = NULL;
  assert_true(json_object_object_get_ex(o.output, "to", &to));
  assert_string_equal(json_object_get_string(json_object_array_get_idx(to, 0)),
                      "alice@contoso.test");
  o365_outcome_free(&o);
  free(in);
  /* As text. */
  in = in_id("{\"message_id\":\"%s\",\"body_type\":\"text\"}", id);
  run_ok("get_message", in, &o);
  assert_string_equal(jstr(o.output, "body_type"), "text");
  assert_null(strstr(jstr(o.output, "body"), "<b>"));
  o365_outcome_free(&o);
  free(in);
  /* Not found. */
  ct_fails("get_message", "{\"message_id\":\"AAMkAGnope\"}", WFC_ENOTFOUND,
           "not found");
  /* carol has no rights on alice's mailbox. */
  o365_fixture_use(fx, carol);
  in = in_id("{\"mailbox\":\"alice@contoso.test\",\"message_id\":\"%s\"}", id);
  assert_int_equal(o365_fixture_run(fx, "get_message", in, &o), WFC_EDENIED);
  ct_says(o.message, "access denied to alice@contoso.test");
  assert_string_equal(jstr(o.detail, "code"), "ErrorAccessDenied");
  o365_outcome_free(&o);
  free(in);
  /* Missing message_id: the SDK refuses it, nothing is sent. */
  ct_refused("get_message", "{}", WFC_EVALIDATION, "message_id");
  free(id);
}

static void test_shared_mailbox(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  char *id = inject("support@contoso.test", "for support");
  char *in = in_id("{\"mailbox\":\"support@contoso.test\","
                   "\"message_id\":\"%s\",\"read\":true}",
                   id);
  o365_outcome o;
  run_ok("mark_read", in, &o);
  assert_true(jbool(o.output, "is_read"));
  o365_outcome_free(&o);
  free(in);
  json_object *msgs =
      o365_fixture_messages(fx, "support@contoso.test", "inbox");
  int read = -1;
  for (size_t i = 0; i < json_object_array_length(msgs); i++) {
    json_object *m = json_object_array_get_idx(msgs, i);
    if (strcmp(jstr(m, "id"), id) == 0)
      read = jbool(m, "isRead");
  }
  assert_int_equal(read, 1);
  json_object_put(msgs);
  free(id);
}

static void test_mark_flag_categories(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  char *id = inject("alice@contoso.test", "to tag");
  o365_outcome o;
  char *in = in_id("{\"message_id\":\"%s\",\"read\":true}", id);
  run_ok("mark_read", in, &o);
  assert_true(jbool(o.output, "is_read"));
  o365_outcome_free(&o);
  free(in);
  in = in_id("{\"message_id\":\"%s\",\"read\":false}", id);
  run_ok("mark_read", in, &o);
  assert_false(jbool(o.output, "is_read"));
  o365_outcome_free(&o);
  free(in);
  in = in_id("{\"message_id\":\"%s\"}", id);
  run_ok("flag_email", in, &o);
  assert_string_equal(jstr(o.output, "flag"), "flagged");
  o365_outcome_free(&o);
  free(in);
  in = in_id("{\"message_id\":\"%s\",\"status\":\"complete\"}", id);
  run_ok("flag_email", in, &o);
  assert_string_equal(jstr(o.output, "flag"), "complete");
  o365_outcome_free(&o);
  free(in);
  /* A due date as Graph's dateTimeTimeZone: local "{date}T{time}" without
   * "Z" (an offset converted to UTC), and a start (now) before it. */
  in = in_id("{\"message_id\":\"%s\",\"due\":\"2030-01-01T10:00:00+02:00\"}",
             id);
  run_ok("flag_email", in, &o);
  o365_outcome_free(&o);
  free(in);
  json_object *stored = ct_message("alice@contoso.test", NULL, "to tag", NULL);
  json_object *flag = jget(stored, "flag");
  json_object *due = jget(flag, "dueDateTime"),
              *sdt = jget(flag, "startDateTime");
  assert_string_equal(jstr(due, "dateTime"), "2030-01-01T08:00:00");
  assert_string_equal(jstr(due, "timeZone"), "UTC");
  assert_string_equal(jstr(sdt, "timeZone"), "UTC");
  assert_null(strchr(jstr(sdt, "dateTime"), 'Z'));
  assert_true(strcmp(jstr(sdt, "dateTime"), "2030-01-01T08:00:00") < 0);
  json_object_put(stored);
  in = in_id("{\"message_id\":\"%s\",\"due\":\"2030-01-01T10:00:00Z\","
             "\"start\":\"2030-01-02T00:00:00Z\"}",
             id);
  ct_refused("flag_email", in, WFC_EVALIDATION, "start: after due");
  free(in);
  long before = o365_fixture_graph_requests(fx);
  in = in_id("{\"message_id\":\"%s\",\"status\":\"complete\",\"due\":"
             "\"2030-01-01T00:00:00Z\"}",
             id);
  ct_fails("flag_email", in, WFC_EVALIDATION, "due");
  free(in);
  assert_int_equal(o365_fixture_graph_requests(fx), before);
  /* Categories: add keeps Red, remove drops it, replace sets. */
  in = in_id("{\"message_id\":\"%s\",\"categories\":[\"Blue\",\"red\"],"
             "\"mode\":\"add\"}",
             id);
  run_ok("set_categories", in, &o);
  assert_string_equal(json_object_to_json_string(
                          json_object_object_get(o.output, "categories")),
                      "[ \"Red\", \"Blue\" ]");
  o365_outcome_free(&o);
  free(in);
  in = in_id("{\"message_id\":\"%s\",\"categories\":[\"RED\"],"
             "\"mode\":\"remove\"}",
             id);
  run_ok("set_categories", in, &o);
  assert_string_equal(json_object_to_json_string(
                          json_object_object_get(o.output, "categories")),
                      "[ \"Blue\" ]");
  o365_outcome_free(&o);
  free(in);
  in = in_id("{\"message_id\":\"%s\",\"categories\":[\"Green\"]}", id);
  run_ok("set_categories", in, &o);
  assert_string_equal(json_object_to_json_string(
                          json_object_object_get(o.output, "categories")),
                      "[ \"Green\" ]");
  o365_outcome_free(&o);
  free(in);
  free(id);
}

static void test_move_copy_delete(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  char *id = inject("alice@contoso.test", "to move");
  o365_outcome o;
  char *in = in_id("{\"message_id\":\"%s\",\"folder\":\"Archive\"}", id);
  run_ok("move_email", in, &o);
  char *moved = strdup(jstr(o.output, "id"));
  o365_outcome_free(&o);
  free(in);
  assert_int_equal(ct_count("alice@contoso.test", "archive", "to move"), 1);
  assert_int_equal(ct_count("alice@contoso.test", "inbox", "to move"), 0);
  in = in_id("{\"message_id\":\"%s\",\"folder\":\"inbox\"}", moved);
  run_ok("copy_email", in, &o);
  assert_string_not_equal(jstr(o.output, "id"), moved);
  assert_string_equal(jstr(o.output, "subject"), "to move");
  o365_outcome_free(&o);
  free(in);
  assert_int_equal(ct_count("alice@contoso.test", "archive", "to move"), 1);
  assert_int_equal(ct_count("alice@contoso.test", "inbox", "to move"), 1);
  /* An unknown folder is named, and nothing is moved. */
  in =
      in_id("{\"message_id\":\"%s\",\"folder\":\"Inbox/NoSuchFolder\"}", moved);
  ct_fails("move_email", in, WFC_ENOTFOUND, "NoSuchFolder");
  free(in);
  in = in_id("{\"message_id\":\"%s\"}", moved);
  run_ok("delete_email", in, &o);
  assert_true(jbool(o.output, "deleted"));
  assert_false(jbool(o.output, "permanent"));
  char *trashed = strdup(jstr(o.output, "id"));
  o365_outcome_free(&o);
  assert_int_equal(ct_count("alice@contoso.test", "archive", "to move"), 0);
  assert_int_equal(ct_count("alice@contoso.test", "deleteditems", "to move"),
                   1);
  free(in);
  in = in_id("{\"message_id\":\"%s\",\"permanent\":true}", trashed);
  run_ok("delete_email", in, &o);
  assert_true(jbool(o.output, "permanent"));
  o365_outcome_free(&o);
  assert_int_equal(ct_count("alice@contoso.test", "deleteditems", "to move"),
                   0);
  /* Gone: a second delete is not found. */
  ct_fails("delete_email", in, WFC_ENOTFOUND, NULL);
  free(in);
  free(trashed);
  free(moved);
  free(id);
}

static void test_export(void **state) {
  (void)state;
  o365_fixture_use(fx, alice);
  char *id = inject("alice@contoso.test", "export me");
  char *in = in_id("{\"message_id\":\"%s\",\"file_name\":\"x.eml\"}", id);
  o365_outcome o;
  run_ok("export_email", in, &o);
  json_object *file = json_object_object_get(o.output, "file");
  assert_non_null(file);
  assert_string_equal(jstr(file, "name"), "x.eml");
  assert_true(json_object_get_int64(json_object_object_get(o.output, "size")) >
              50);
  o365_outcome_free(&o);
  free(in);
  in = in_id("{\"message_id\":\"%s\",\"file_name\":\"a/b.eml\"}", id);
  ct_fails("export_email", in, WFC_EVALIDATION, NULL);
  free(in);
  ct_fails("export_email", "{\"message_id\":\"AAMkAGnope\"}", WFC_ENOTFOUND,
           NULL);
  free(id);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_get_message),
      cmocka_unit_test(test_shared_mailbox),
      cmocka_unit_test(test_mark_flag_categories),
      cmocka_unit_test(test_move_copy_delete),
      cmocka_unit_test(test_export),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
