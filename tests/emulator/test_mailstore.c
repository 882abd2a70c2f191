/* Unit tests of the emulator's mail store (emulator/mailstore.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mailstore.h"

static int64_t fixed_now(void) {
  return 1700000000000LL; /* 2023-11-14T22:13:20Z */
}

static emu_mailstore *new_store(void) {
  emu_mailstore *s = emu_mailstore_new(NULL);
  assert_non_null(s);
  emu_mailstore_set_clock(s, fixed_now);
  return s;
}

static void test_wellknown_folders(void **state) {
  (void)state;
  emu_mailstore *s = new_store();
  emu_mailbox *mb = emu_mailbox_add(s, "u1", "alice@contoso.com", "Alice");
  assert_ptr_equal(emu_mailbox_find(s, "ALICE@contoso.com"), mb);
  assert_ptr_equal(emu_mailbox_find(s, "u1"), mb);
  const char *names[] = {"inbox",   "drafts",    "sentitems", "deleteditems",
                         "archive", "junkemail", "outbox",    "msgfolderroot"};
  for (size_t i = 0; i < 8; i++) {
    emu_folder *f = emu_folder_find(mb, names[i]);
    assert_non_null(f);
    assert_ptr_equal(emu_folder_find(mb, f->id), f);
  }
  emu_folder *inbox = emu_folder_find(mb, "Inbox");
  bool conflict;
  emu_folder *child =
      emu_folder_create(s, mb, inbox, "Projects", false, &conflict);
  assert_non_null(child);
  assert_null(emu_folder_create(s, mb, inbox, "projects", false, &conflict));
  assert_true(conflict);
  json_object *j = emu_folder_to_json(inbox);
  assert_int_equal(
      json_object_get_int(json_object_object_get(j, "childFolderCount")), 1);
  json_object_put(j);
  emu_mailstore_free(s);
}

static void test_message_lifecycle(void **state) {
  (void)state;
  emu_mailstore *s = new_store();
  emu_mailbox *mb = emu_mailbox_add(s, "u1", "alice@contoso.com", "Alice");
  emu_folder *inbox = emu_folder_find(mb, "inbox");
  emu_folder *archive = emu_folder_find(mb, "archive");
  emu_message *m = emu_message_add(
      s, inbox,
      json_tokener_parse("{\"subject\":\"Hi\",\"body\":{\"contentType\":"
                         "\"html\",\"content\":\"<p>Hello   <b>there</b></p>"
                         "\"}}"));
  json_object *j = emu_message_to_json(m, false);
  assert_string_equal(
      json_object_get_string(json_object_object_get(j, "bodyPreview")),
      "Hello there");
  assert_string_equal(
      json_object_get_string(json_object_object_get(j, "receivedDateTime")),
      "2023-11-14T22:13:20Z");
  assert_string_equal(
      json_object_get_string(json_object_object_get(j, "parentFolderId")),
      inbox->id);
  assert_false(
      json_object_get_boolean(json_object_object_get(j, "hasAttachments")));
  const char *ck1 =
      json_object_get_string(json_object_object_get(j, "changeKey"));
  char ck_before[64];
  snprintf(ck_before, sizeof(ck_before), "%s", ck1);
  json_object_put(j);

  char old_id[EMU_ID_MAX], imm[EMU_ID_MAX];
  snprintf(old_id, sizeof(old_id), "%s", m->id);
  snprintf(imm, sizeof(imm), "%s", m->immutable_id);
  uint64_t seq = m->seq;
  emu_message *mv = emu_message_move(s, m, archive);
  assert_string_not_equal(mv->id, old_id); /* new id on move */
  assert_string_equal(mv->immutable_id, imm);
  assert_null(emu_message_find(mb, old_id));
  assert_ptr_equal(emu_message_find(mb, imm), mv);
  assert_true(mv->seq > seq);
  assert_int_equal(inbox->ntombs, 1); /* delta sees it leave the inbox */
  assert_string_equal(inbox->tombs[0].id, old_id);
  j = emu_message_to_json(mv, false);
  assert_string_not_equal(
      json_object_get_string(json_object_object_get(j, "changeKey")),
      ck_before);
  json_object_put(j);

  emu_message *cp = emu_message_copy(s, mv, inbox);
  assert_string_not_equal(cp->id, mv->id);
  assert_string_not_equal(cp->immutable_id, mv->immutable_id);
  assert_int_equal(inbox->nmsgs, 1);
  assert_int_equal(archive->nmsgs, 1);
  emu_message_delete(s, cp);
  assert_int_equal(inbox->nmsgs, 0);
  assert_int_equal(inbox->ntombs, 2);
  emu_mailstore_free(s);
}

static void test_attachments_on_disk(void **state) {
  (void)state;
  emu_mailstore *s = new_store();
  emu_mailbox *mb = emu_mailbox_add(s, "u1", "alice@contoso.com", "Alice");
  emu_message *m = emu_message_add(s, emu_folder_find(mb, "drafts"),
                                   json_object_new_object());
  emu_attachment *a = emu_attachment_add_bytes(s, m, "a.txt", "text/plain",
                                               "hello", 5, false, NULL);
  assert_non_null(a);
  struct stat st;
  assert_int_equal(stat(a->path, &st), 0);
  assert_int_equal(st.st_size, 5);
  json_object *j = emu_attachment_to_json(a, true);
  assert_string_equal(
      json_object_get_string(json_object_object_get(j, "contentBytes")),
      "aGVsbG8=");
  assert_int_equal(json_object_get_int(json_object_object_get(j, "size")), 5);
  json_object_put(j);
  j = emu_message_to_json(m, false);
  assert_true(
      json_object_get_boolean(json_object_object_get(j, "hasAttachments")));
  json_object_put(j);
  /* A copy shares no state: deleting the original keeps the copy's bytes. */
  emu_message *cp = emu_message_copy(s, m, emu_folder_find(mb, "inbox"));
  char path[512];
  snprintf(path, sizeof(path), "%s", cp->atts[0]->path);
  emu_message_delete(s, m);
  assert_int_equal(stat(path, &st), 0);
  emu_message_delete(s, cp);
  assert_int_equal(stat(path, &st), -1);
  emu_mailstore_free(s);
}

static void test_load_tenant_section(void **state) {
  (void)state;
  emu_mailstore *s = new_store();
  json_object *doc = json_tokener_parse(
      "[{\"user\":\"alice@contoso.com\",\"folders\":[{\"displayName\":"
      "\"Projects\",\"parent\":\"inbox\"}],\"messages\":[{\"folder\":"
      "\"Projects\",\"subject\":\"One\",\"from\":\"bob@contoso.com\","
      "\"toRecipients\":[\"alice@contoso.com\"],\"body\":\"plain\","
      "\"attachments\":[{\"name\":\"x.bin\",\"contentBytes\":\"AAEC\"}]}]}]");
  char err[256] = "";
  assert_int_equal(emu_mailstore_load(s, doc, err, sizeof(err)), 0);
  emu_mailbox *mb = emu_mailbox_find(s, "alice@contoso.com");
  assert_non_null(mb);
  emu_folder *proj = NULL;
  for (size_t i = 0; i < mb->nfolders; i++)
    if (!strcmp(mb->folders[i]->display_name, "Projects"))
      proj = mb->folders[i];
  assert_non_null(proj);
  assert_int_equal(proj->nmsgs, 1);
  emu_message *m = proj->msgs[0];
  assert_int_equal(m->natts, 1);
  assert_int_equal(m->atts[0]->size, 3);
  json_object *j = emu_message_to_json(m, false);
  assert_string_equal(
      json_object_get_string(json_object_object_get(
          json_object_object_get(json_object_object_get(j, "from"),
                                 "emailAddress"),
          "address")),
      "bob@contoso.com");
  json_object_put(j);
  json_object_put(doc);
  doc = json_tokener_parse(
      "[{\"user\":\"bob@contoso.com\",\"messages\":[{\"folder\":\"nope\"}]}]");
  assert_int_equal(emu_mailstore_load(s, doc, err, sizeof(err)), -1);
  assert_non_null(strstr(err, "nope"));
  json_object_put(doc);
  emu_mailstore_free(s);
}

static void test_base64(void **state) {
  (void)state;
  size_t n;
  unsigned char *d = emu_base64_decode("aGVsbG8=", &n);
  assert_int_equal(n, 5);
  assert_memory_equal(d, "hello", 5);
  free(d);
  assert_null(emu_base64_decode("aGVsbG8", &n));
  assert_null(emu_base64_decode("a$==", &n));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_wellknown_folders),
      cmocka_unit_test(test_message_lifecycle),
      cmocka_unit_test(test_attachments_on_disk),
      cmocka_unit_test(test_load_tenant_section),
      cmocka_unit_test(test_base64),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
