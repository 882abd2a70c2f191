/* cards_test.h - what every card test against the emulator shares: one
 * o365_fixture per group with alice (and carol) connected, JSON getters,
 * a run that must succeed, a run that must fail with a message naming the
 * cause, a file in the blob store for attachments, and the emulator's
 * mailboxes read back by subject. Header only
 * (static helpers); include after <cmocka.h>. */
#ifndef CARDS_TEST_H
#define CARDS_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "emu_proc.h"
#include "o365_fixture.h"

#define CT_FN static __attribute__((unused))

static o365_fixture *fx;
static wfc_conn *alice; /* owned by fx */

/* Connects carol into *carol when carol is not NULL, then alice, which
 * stays the default connection. 0, or -1 when either failed. */
CT_FN int ct_connect(wfc_conn **carol) {
  if (carol != NULL &&
      (*carol = o365_fixture_connect(fx, "carol@contoso.test")) == NULL)
    return -1;
  alice = o365_fixture_connect(fx, "alice@contoso.test");
  return alice ? 0 : -1;
}

/* A fixture on doc (borrowed; NULL: examples/tenant.json), then
 * ct_connect(carol). 0, or -1 when any step failed. */
CT_FN int ct_up(json_object *doc, wfc_conn **carol) {
  fx = doc ? o365_fixture_new_doc(doc) : o365_fixture_new(NULL);
  return fx ? ct_connect(carol) : -1;
}

/* ct_up on examples/tenant.json with its "mailboxes" (per-mailbox
 * settings: full, size limit, automatic replies) set to mailboxes (JSON
 * array text). */
CT_FN int ct_up_mailboxes(const char *mailboxes, wfc_conn **carol) {
  json_object *doc = emu_proc_example_doc();
  if (doc == NULL)
    return -1;
  json_object_object_add(doc, "mailboxes", json_tokener_parse(mailboxes));
  int rc = ct_up(doc, carol);
  json_object_put(doc);
  return rc;
}

/* fx on the emulator's example document plus a confidential "daemon"
 * application (client_id, secret) with the application permissions
 * Mail.ReadWrite and Mail.Send, not yet consented; extra: more members of
 * the application's JSON, each followed by a comma ("" for none).
 * 0, or -1 when the fixture did not start. */
CT_FN int ct_up_daemon(const char *client_id, const char *secret,
                       const char *extra) {
  json_object *doc = emu_proc_example_doc();
  json_object *apps = NULL;
  json_object_object_get_ex(doc, "applications", &apps);
  char app[1024];
  snprintf(app, sizeof app,
           "{\"clientId\":\"%s\",\"displayName\":\"Mail Automation "
           "(daemon)\",\"publicClient\":false,\"clientSecret\":\"%s\","
           "\"redirectUris\":[\"http://localhost\"],%s"
           "\"applicationPermissions\":[\"Mail.ReadWrite\",\"Mail.Send\"]}",
           client_id, secret, extra);
  json_object_array_add(apps, json_tokener_parse(app));
  fx = o365_fixture_new_doc(doc);
  json_object_put(doc);
  return fx ? 0 : -1;
}

CT_FN int teardown(void **state) {
  (void)state;
  return o365_fixture_free(fx);
}

/* Removes every armed fault rule. 0, or -1 when the emulator refused;
 * no assert, so it also serves as a cmocka teardown's body. */
CT_FN int ct_clear_faults(void) {
  long st = 0;
  json_object_put(
      o365_fixture_admin(fx, "DELETE", "/__emulator/faults", NULL, &st));
  return st / 100 == 2 ? 0 : -1;
}

/* A file holding text (type: its content type) in the fixture's blob
 * store; its FILE reference (JSON text) into ref. */
CT_FN void ct_file(const char *name, const char *type, const char *text,
                   char *ref, size_t refsz) {
  assert_int_equal(
      o365_fixture_make_file(fx, name, type, text, strlen(text), ref, refsz),
      0);
}

/* o[k] as a string (borrowed), NULL when absent. */
CT_FN const char *jstr(json_object *o, const char *k) {
  json_object *v = NULL;
  return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* o[k] as an integer, -1 when absent. */
CT_FN int64_t jnum(json_object *o, const char *k) {
  json_object *v = NULL;
  return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

/* o[k] as a boolean; the key must be there (asserted). */
CT_FN int jbool(json_object *o, const char *k) {
  json_object *v = NULL;
  assert_true(json_object_object_get_ex(o, k, &v));
  return json_object_get_boolean(v);
}

/* o[k] as a boolean where an absent key means false (outputs that leave
 * "deduplicated" out unless it is true). */
CT_FN int jflag(json_object *o, const char *k) {
  json_object *v = NULL;
  return json_object_object_get_ex(o, k, &v) && json_object_get_boolean(v);
}

/* o[k], which must be there (asserted); borrowed. */
CT_FN json_object *jget(json_object *o, const char *k) {
  json_object *v = NULL;
  assert_true(json_object_object_get_ex(o, k, &v));
  return v;
}

/* Asserts that message contains cause (the message is printed when not). */
CT_FN void ct_says(const char *message, const char *cause) {
  if (strstr(message, cause) == NULL)
    fprintf(stderr, "expected \"%s\" in: %s\n", cause, message);
  assert_non_null(strstr(message, cause));
}

/* Runs card on the default connection; it must succeed (the error is
 * printed when not). o is filled in (the caller frees it). */
CT_FN void run_ok(const char *card, const char *input, o365_outcome *o) {
  int rc = o365_fixture_run(fx, card, input, o);
  if (rc != 0)
    fprintf(stderr, "%s: %d %s\n", card, rc, o->message);
  assert_int_equal(rc, 0);
}

/* Runs card on the default connection; it must end with status and, when
 * says is not NULL, a message containing says. The outcome is freed. */
CT_FN void ct_fails(const char *card, const char *input, int status,
                    const char *says) {
  o365_outcome o;
  int rc = o365_fixture_run(fx, card, input, &o);
  if (rc != status)
    fprintf(stderr, "%s: %d %s\n", card, rc, o.message);
  assert_int_equal(rc, status);
  if (says != NULL)
    ct_says(o.message, says);
  o365_outcome_free(&o);
}

/* ct_fails for a refusal made before any request: the emulator's Graph
 * request counter must not move. */
CT_FN void ct_refused(const char *card, const char *input, int status,
                      const char *says) {
  long before = o365_fixture_graph_requests(fx);
  ct_fails(card, input, status, says);
  assert_int_equal(o365_fixture_graph_requests(fx), before);
}

/* The last message of user's folder (NULL: every folder) whose subject is
 * subject (new reference), or NULL; *count (optional) gets how many have
 * that subject. */
CT_FN json_object *ct_message(const char *user, const char *folder,
                              const char *subject, int *count) {
  json_object *msgs = o365_fixture_messages(fx, user, folder), *m = NULL;
  int n = 0;
  for (size_t i = 0; msgs && i < json_object_array_length(msgs); i++) {
    json_object *x = json_object_array_get_idx(msgs, i);
    const char *s = jstr(x, "subject");
    if (s != NULL && strcmp(s, subject) == 0) {
      json_object_put(m);
      m = json_object_get(x);
      n++;
    }
  }
  json_object_put(msgs);
  if (count != NULL)
    *count = n;
  return m;
}

/* How many messages of user's folder have that subject. */
CT_FN int ct_count(const char *user, const char *folder, const char *subject) {
  int n = 0;
  json_object_put(ct_message(user, folder, subject, &n));
  return n;
}

#endif
