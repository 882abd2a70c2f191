/* List Folders and Create Folder through the real plugin and runtime
 * against the emulator: well-known names, display-name paths (any case,
 * quotes), ids, tree and flat listings with counts, "exists" handling, a
 * shared mailbox, a mailbox without rights, and input errors that send
 * nothing. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>

#include "cards_test.h"

static int setup(void **state) {
  (void)state;
  return ct_up(NULL, NULL);
}

/* The folder of list (array) whose key equals value, or NULL. */
static json_object *find(json_object *list, const char *key,
                         const char *value) {
  for (size_t i = 0; i < json_object_array_length(list); i++) {
    json_object *f = json_object_array_get_idx(list, i);
    const char *s = jstr(f, key);
    if (s != NULL && strcmp(s, value) == 0)
      return f;
  }
  return NULL;
}

static json_object *folders_of(o365_outcome *o) {
  json_object *v = NULL;
  assert_true(json_object_object_get_ex(o->output, "folders", &v));
  return v;
}

/* Runs create_folder, asserts success, returns the new id (malloc'd). */
static char *create(const char *input) {
  o365_outcome o;
  int rc = o365_fixture_run(fx, "create_folder", input, &o);
  if (rc != 0)
    fprintf(stderr, "create_folder %s: %s\n", input, o.message);
  assert_int_equal(rc, 0);
  char *id = strdup(jstr(o.output, "id"));
  o365_outcome_free(&o);
  return id;
}

static void test_list_top_level_flat(void **state) {
  (void)state;
  o365_outcome o;
  run_ok("list_folders", "{\"recursive\":false}", &o);
  json_object *list = folders_of(&o);
  assert_int_equal(jnum(o.output, "count"), json_object_array_length(list));
  json_object *inbox = find(list, "name", "Inbox");
  assert_non_null(inbox);
  assert_string_equal(jstr(inbox, "path"), "Inbox");
  assert_true(jnum(inbox, "total_count") >= 0);
  assert_true(jnum(inbox, "unread_count") >= 0);
  assert_non_null(find(list, "name", "Drafts"));
  assert_non_null(find(list, "name", "Sent Items"));
  o365_outcome_free(&o);
}

static void test_create_nested_by_path_and_list(void **state) {
  (void)state;
  char *projects = create("{\"name\":\"Projects\",\"parent\":\"inbox\"}");
  /* Path, any case: "INBOX/projects". */
  char *y2026 = create("{\"name\":\"2026\",\"parent\":\"INBOX/projects\"}");
  /* A quote in a name goes through the $filter escaped. */
  char *quote = create("{\"name\":\"Bob's stuff\",\"parent\":\"Inbox/"
                       "Projects/2026\"}");

  o365_outcome o;
  run_ok("list_folders", "{\"parent\":\"Inbox/Projects/2026\"}", &o);
  json_object *f = find(folders_of(&o), "name", "Bob's stuff");
  assert_non_null(f);
  assert_string_equal(jstr(f, "id"), quote);
  assert_string_equal(jstr(f, "parent_id"), y2026);
  o365_outcome_free(&o);

  /* The quote's folder resolves as a path segment too. */
  run_ok("list_folders", "{\"parent\":\"Inbox/Projects/2026/bob's STUFF\"}",
         &o);
  assert_int_equal(jnum(o.output, "count"), 0);
  o365_outcome_free(&o);

  /* Flat and recursive from the top: paths and depth. */
  run_ok("list_folders", NULL, &o);
  json_object *p = find(folders_of(&o), "path", "Inbox/Projects/2026");
  assert_non_null(p);
  assert_string_equal(jstr(p, "id"), y2026);
  assert_int_equal(jnum(p, "depth"), 2);
  assert_int_equal(jnum(p, "child_count"), 1);
  /* Depth-first: a folder below the top comes after its parent, and the
   * nearest folder one level up before it is that parent. */
  const char *open_ids[65] = {0};
  json_object *all = folders_of(&o);
  for (size_t i = 0; i < json_object_array_length(all); i++) {
    json_object *fo = json_object_array_get_idx(all, i);
    int64_t d = jnum(fo, "depth");
    assert_true(d >= 0 && d < 65);
    if (d > 0) {
      assert_non_null(open_ids[d - 1]);
      assert_string_equal(jstr(fo, "parent_id"), open_ids[d - 1]);
    }
    open_ids[d] = jstr(fo, "id");
    for (int64_t k = d + 1; k < 65; k++)
      open_ids[k] = NULL;
  }
  o365_outcome_free(&o);

  /* Tree: Inbox > Projects > 2026 > Bob's stuff. */
  run_ok("list_folders", "{\"format\":\"tree\"}", &o);
  json_object *inbox = find(folders_of(&o), "name", "Inbox"), *kids = NULL;
  assert_non_null(inbox);
  assert_true(json_object_object_get_ex(inbox, "children", &kids));
  json_object *pj = find(kids, "id", projects);
  assert_non_null(pj);
  assert_true(json_object_object_get_ex(pj, "children", &kids));
  json_object *yj = find(kids, "id", y2026);
  assert_non_null(yj);
  assert_true(json_object_object_get_ex(yj, "children", &kids));
  assert_non_null(find(kids, "id", quote));
  o365_outcome_free(&o);

  /* max_depth 0 under Inbox: Projects only, not its children. */
  run_ok("list_folders", "{\"parent\":\"Inbox\",\"max_depth\":0}", &o);
  assert_non_null(find(folders_of(&o), "id", projects));
  assert_null(find(folders_of(&o), "id", y2026));
  o365_outcome_free(&o);

  /* A folder id as parent (one GET by id). */
  char input[512];
  snprintf(input, sizeof input, "{\"parent\":\"%s\"}", projects);
  run_ok("list_folders", input, &o);
  assert_non_null(find(folders_of(&o), "id", y2026));
  o365_outcome_free(&o);
  free(projects);
  free(y2026);
  free(quote);
}

static void test_counts(void **state) {
  (void)state;
  char *id = o365_fixture_inject(
      fx, "alice@contoso.test",
      "{\"folder\":\"junkemail\",\"subject\":\"count me\","
      "\"from\":\"bob@contoso.test\",\"toRecipients\":[\"alice@contoso.test\"],"
      "\"body\":\"x\"}");
  assert_non_null(id);
  free(id);
  o365_outcome o;
  run_ok("list_folders", "{\"recursive\":false}", &o);
  json_object *junk = find(folders_of(&o), "name", "Junk Email");
  assert_non_null(junk);
  assert_true(jnum(junk, "total_count") >= 1);
  assert_true(jnum(junk, "unread_count") >= 1);
  o365_outcome_free(&o);
}

static void test_create_exists(void **state) {
  (void)state;
  char *id = create("{\"name\":\"Receipts\"}");
  o365_outcome o;
  assert_int_equal(
      o365_fixture_run(fx, "create_folder", "{\"name\":\"Receipts\"}", &o),
      WFC_EEXIST);
  ct_says(o.message, "\"Receipts\" already exists");
  ct_says(o.message, "top level");
  o365_outcome_free(&o);
  run_ok("create_folder",
         "{\"name\":\"receipts\",\"if_exists\":"
         "\"return_existing\"}",
         &o);
  assert_string_equal(jstr(o.output, "id"), id);
  json_object *created = NULL;
  assert_true(json_object_object_get_ex(o.output, "created", &created));
  assert_false(json_object_get_boolean(created));
  o365_outcome_free(&o);
  free(id);
}

static void test_not_found_names_the_folder(void **state) {
  (void)state;
  long before = o365_fixture_graph_requests(fx);
  o365_outcome o;
  assert_int_equal(o365_fixture_run(fx, "create_folder",
                                    "{\"name\":\"x\",\"parent\":"
                                    "\"Inbox/Nope/Deeper\"}",
                                    &o),
                   WFC_ENOTFOUND);
  ct_says(o.message, "Inbox/Nope/Deeper");
  ct_says(o.message, "\"Nope\" under \"Inbox\"");
  o365_outcome_free(&o);
  /* One lookup for "Nope", nothing created. */
  assert_int_equal(o365_fixture_graph_requests(fx), before + 1);
  ct_fails("list_folders", "{\"parent\":\"NoSuchTopLevel\"}", WFC_ENOTFOUND,
           "NoSuchTopLevel");
}

static void test_shared_mailbox(void **state) {
  (void)state;
  char *id = create("{\"mailbox\":\"support@contoso.test\",\"name\":"
                    "\"Escalations\",\"parent\":\"Inbox\"}");
  o365_outcome o;
  run_ok("list_folders",
         "{\"mailbox\":\"support@contoso.test\",\"parent\":"
         "\"inbox\"}",
         &o);
  assert_non_null(find(folders_of(&o), "id", id));
  o365_outcome_free(&o);
  /* Not in alice's own mailbox. */
  run_ok("list_folders", "{\"parent\":\"inbox\"}", &o);
  assert_null(find(folders_of(&o), "id", id));
  o365_outcome_free(&o);
  /* The emulator's own view of support's folders has it. */
  long st = 0;
  json_object *all = o365_fixture_admin(
      fx, "GET", "/__emulator/mail/support@contoso.test/folders", NULL, &st);
  assert_int_equal(st, 200);
  assert_non_null(strstr(json_object_to_json_string(all), id));
  json_object_put(all);
  free(id);
}

static void test_mailbox_without_rights(void **state) {
  (void)state;
  ct_fails("create_folder",
           "{\"mailbox\":\"carol@contoso.test\","
           "\"name\":\"Sneaky\"}",
           WFC_EDENIED, "ErrorAccessDenied");
  ct_fails("list_folders", "{\"mailbox\":\"carol@contoso.test\"}", WFC_EDENIED,
           NULL);
}

/* Get Folder, Rename Folder and Delete Folder: by path, well-known name and
 * id; a rename onto a sibling's name is 409 naming "name"; well-known
 * folders are refused before any request; a deleted folder is gone from
 * the emulator with its messages, and deleting again names it. */
static void test_get_rename_delete(void **state) {
  (void)state;
  char *id = create("{\"name\":\"Quarter\",\"parent\":\"inbox\"}");
  char *sib = create("{\"name\":\"Sibling\",\"parent\":\"inbox\"}");
  o365_outcome o;
  run_ok("get_folder", "{\"folder\":\"Inbox/quarter\"}", &o);
  assert_string_equal(jstr(o.output, "id"), id);
  assert_string_equal(jstr(o.output, "name"), "Quarter");
  assert_int_equal(jnum(o.output, "total_count"), 0);
  o365_outcome_free(&o);
  run_ok("get_folder", "{\"folder\":\"INBOX\"}", &o);
  assert_string_equal(jstr(o.output, "name"), "Inbox");
  o365_outcome_free(&o);

  char in[512];
  snprintf(in, sizeof in, "{\"folder\":\"%s\",\"name\":\"Q3 2026\"}", id);
  run_ok("rename_folder", in, &o);
  assert_string_equal(jstr(o.output, "id"), id);
  assert_string_equal(jstr(o.output, "name"), "Q3 2026");
  o365_outcome_free(&o);
  run_ok("get_folder", "{\"folder\":\"Inbox/Q3 2026\"}", &o);
  assert_string_equal(jstr(o.output, "id"), id);
  o365_outcome_free(&o);
  ct_fails("rename_folder",
           "{\"folder\":\"Inbox/Q3 2026\",\"name\":\"sibling\"}", WFC_EEXIST,
           "name: a folder named \"sibling\" already exists");
  ct_refused("rename_folder", "{\"folder\":\"sentitems\",\"name\":\"x\"}",
             WFC_EVALIDATION, "well-known folder sentitems");
  ct_refused("delete_folder", "{\"folder\":\"Inbox\"}", WFC_EVALIDATION,
             "well-known folder inbox");

  /* A message in it goes with it. */
  long st = 0;
  char m[512];
  snprintf(m, sizeof m, "{\"folder\":\"%s\",\"subject\":\"in the quarter\"}",
           id);
  char *mid = o365_fixture_inject(fx, "alice@contoso.test", m);
  assert_non_null(mid);
  free(mid);
  assert_int_equal(ct_count("alice@contoso.test", NULL, "in the quarter"), 1);
  snprintf(in, sizeof in, "{\"folder\":\"%s\"}", id);
  run_ok("delete_folder", in, &o);
  assert_true(jbool(o.output, "deleted"));
  o365_outcome_free(&o);
  assert_int_equal(ct_count("alice@contoso.test", NULL, "in the quarter"), 0);
  json_object *all = o365_fixture_admin(
      fx, "GET", "/__emulator/mail/alice@contoso.test/folders", NULL, &st);
  assert_int_equal(st, 200);
  assert_null(strstr(json_object_to_json_string(all), id));
  json_object_put(all);
  ct_fails("delete_folder", in, WFC_ENOTFOUND, NULL);
  ct_fails("get_folder", "{\"folder\":\"Inbox/Q3 2026\"}", WFC_ENOTFOUND,
           "Q3 2026");
  ct_refused("get_folder", "{}", WFC_EVALIDATION, "folder");
  ct_refused("rename_folder", "{\"folder\":\"Inbox/Sibling\"}", WFC_EVALIDATION,
             "name");
  free(sib);
  free(id);
}

static void test_input_errors_send_nothing(void **state) {
  (void)state;
  ct_refused("create_folder", "{}", WFC_EVALIDATION, "name");
  ct_refused("list_folders", "{\"format\":\"pyramid\"}", WFC_EVALIDATION,
             "format");
  ct_refused("create_folder", "{\"name\":\"a\",\"parent\":\" / \"}",
             WFC_EVALIDATION, "empty folder name");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_list_top_level_flat),
      cmocka_unit_test(test_create_nested_by_path_and_list),
      cmocka_unit_test(test_counts),
      cmocka_unit_test(test_create_exists),
      cmocka_unit_test(test_not_found_names_the_folder),
      cmocka_unit_test(test_shared_mailbox),
      cmocka_unit_test(test_mailbox_without_rights),
      cmocka_unit_test(test_input_errors_send_nothing),
      cmocka_unit_test(test_get_rename_delete),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
