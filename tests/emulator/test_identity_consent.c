/* Unit tests of emulator/consent.c: scope parsing, the consent decision
 * under each user consent setting, grants, the admin consent workflow and
 * the enterprise app lifecycle (seed scenarios in miniature). */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "consent.h"

#define PREVIEW "5e3b7c1a-9d2f-4b6e-a8c4-1f0d2e3c4b5a"
#define PROD    "8a4c6e2b-1f3d-4a5c-9b7e-2d4f6a8c0e1b"
#define ADMIN   "admin-oid"
#define ALICE   "alice-oid"
#define BOB     "bob-oid"

static const char *connector_scopes =
    "openid profile offline_access User.Read Mail.ReadWrite "
    "Mail.ReadWrite.Shared Mail.Send Mail.Send.Shared";

typedef struct fixture {
  emu_consent *c;
  emu_consent_policy policy;
  char *low[16];
  emu_scopes want;
} fixture;

static void set_low(fixture *f, const char *const *names, size_t n) {
  size_t i;
  for (i = 0; i < f->policy.nlow_impact; i++)
    free(f->low[i]);
  for (i = 0; i < n; i++)
    f->low[i] = strdup(names[i]);
  f->policy.low_impact = f->low;
  f->policy.nlow_impact = n;
}

static int setup(void **state) {
  fixture *f = calloc(1, sizeof(*f));
  f->c = emu_consent_new();
  f->policy.user_consent = EMU_CONSENT_ALLOWED;
  assert_int_equal(emu_scopes_parse(&f->want, connector_scopes, NULL), 0);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  size_t i;
  for (i = 0; i < f->policy.nlow_impact; i++)
    free(f->low[i]);
  emu_scopes_clear(&f->want);
  emu_consent_free(f->c);
  free(f);
  return 0;
}

static emu_consent_outcome decide(fixture *f, const char *user, int admin,
                                  const char *app, int verified, int force) {
  emu_consent_query q = {user, admin, app, verified, &f->want, force};
  return emu_consent_decide(f->c, &f->policy, &q);
}

static void test_scope_parsing(void **state) {
  emu_scopes s = {0};
  char *bad = NULL, *joined;
  assert_int_equal(
      emu_scopes_parse(&s,
                       "https://graph.microsoft.com/mail.send  OPENID "
                       "Mail.Send offline_access",
                       &bad),
      0);
  assert_null(bad);
  joined = emu_scopes_join(&s);
  /* Catalogue casing, prefix dropped, duplicates merged. */
  assert_string_equal(joined, "Mail.Send openid offline_access");
  free(joined);
  assert_int_equal(emu_scopes_parse(&s, "User.Read Calendars.Fly", &bad), -1);
  assert_string_equal(bad, "Calendars.Fly");
  free(bad);
  assert_int_equal(
      emu_scopes_parse(&s, "https://graph.microsoft.com/.default", NULL), 0);
  assert_int_equal(s.n, 1);
  assert_string_equal(s.v[0], ".default");
  emu_scopes_clear(&s);
  assert_true(emu_scope_is_oidc("offline_access"));
  assert_false(emu_scope_is_oidc("Mail.Send"));
  assert_true(emu_scope_admin_only("User.Read.All"));
  assert_false(emu_scope_admin_only("Mail.Send.Shared"));
  assert_string_equal(emu_scope_description("mail.send"), "Send mail as you");
}

/* Scenarios 1 and 3: the admin consents for self only; a user consents. */
static void test_user_and_admin_grants(void **state) {
  fixture *f = *state;
  assert_int_equal(decide(f, ADMIN, 1, PREVIEW, 1, 0),
                   EMU_CONSENT_PROMPT_ADMIN);
  assert_int_equal(emu_consent_grant_user(f->c, ADMIN, PREVIEW, &f->want), 0);
  /* Seed "Admin app approval": the page is not shown again. */
  assert_int_equal(decide(f, ADMIN, 1, PREVIEW, 1, 0), EMU_CONSENT_GRANTED);
  assert_int_equal(decide(f, ADMIN, 1, PREVIEW, 1, 1),
                   EMU_CONSENT_PROMPT_ADMIN);
  /* Works for the admin only. */
  assert_int_equal(decide(f, ALICE, 0, PREVIEW, 1, 0), EMU_CONSENT_PROMPT_USER);
  assert_int_equal(emu_consent_grant_user(f->c, ALICE, PREVIEW, &f->want), 0);
  assert_int_equal(decide(f, ALICE, 0, PREVIEW, 1, 0), EMU_CONSENT_GRANTED);
  assert_true(emu_consent_covers(f->c, ALICE, PREVIEW, &f->want));
  assert_false(emu_consent_covers(f->c, BOB, PREVIEW, &f->want));
  /* Scenario 12: Production is another app. */
  assert_false(emu_consent_covers(f->c, ALICE, PROD, &f->want));
  assert_int_equal(decide(f, ALICE, 0, PROD, 1, 0), EMU_CONSENT_PROMPT_USER);
}

/* Scenarios 2 and 8: tenant-wide consent covers every user. */
static void test_tenant_wide(void **state) {
  fixture *f = *state;
  f->policy.user_consent = EMU_CONSENT_NOT_ALLOWED;
  assert_int_equal(decide(f, BOB, 0, PREVIEW, 1, 0), EMU_CONSENT_NEED_ADMIN);
  assert_int_equal(emu_consent_grant_tenant(f->c, PREVIEW, &f->want), 0);
  assert_int_equal(decide(f, BOB, 0, PREVIEW, 1, 0), EMU_CONSENT_GRANTED);
  assert_int_equal(decide(f, ALICE, 0, PREVIEW, 1, 0), EMU_CONSENT_GRANTED);
  /* prompt=consent makes a user consent again, which policy forbids. */
  assert_int_equal(decide(f, BOB, 0, PREVIEW, 1, 1), EMU_CONSENT_NEED_ADMIN);
  assert_int_equal(decide(f, BOB, 0, PROD, 1, 0), EMU_CONSENT_NEED_ADMIN);
}

/* Scenario 6: verified publishers + low impact classification. */
static void test_low_impact(void **state) {
  fixture *f = *state;
  static const char *const six[] = {"openid",
                                    "profile",
                                    "User.Read",
                                    "Mail.ReadWrite",
                                    "Mail.ReadWrite.Shared",
                                    "Mail.Send",
                                    "Mail.Send.Shared",
                                    "offline_access"};
  f->policy.user_consent = EMU_CONSENT_VERIFIED_PUBLISHERS;
  set_low(f, six, 8);
  assert_int_equal(decide(f, ALICE, 0, PREVIEW, 1, 0), EMU_CONSENT_PROMPT_USER);
  /* Unverified publisher: not allowed whatever the classification. */
  assert_int_equal(decide(f, ALICE, 0, PREVIEW, 0, 0), EMU_CONSENT_NEED_ADMIN);
  /* Drop Mail.Send.Shared from the list: approval needed. */
  set_low(f, six, 7);
  assert_int_equal(decide(f, ALICE, 0, PREVIEW, 1, 0), EMU_CONSENT_NEED_ADMIN);
  /* An admin-only permission is never user-consentable. */
  f->policy.user_consent = EMU_CONSENT_ALLOWED;
  emu_scopes_add(&f->want, "User.Read.All");
  assert_int_equal(decide(f, ALICE, 0, PREVIEW, 1, 0), EMU_CONSENT_NEED_ADMIN);
  assert_int_equal(decide(f, ADMIN, 1, PREVIEW, 1, 0),
                   EMU_CONSENT_PROMPT_ADMIN);
}

/* Scenario 5: the admin consent workflow. */
static void test_workflow(void **state) {
  fixture *f = *state;
  char id1[37], id2[37];
  json_object *reqs, *r0, *v;
  f->policy.user_consent = EMU_CONSENT_NOT_ALLOWED;
  f->policy.admin_consent_workflow = 1;
  assert_int_equal(decide(f, BOB, 0, PREVIEW, 1, 0), EMU_CONSENT_REQUEST);
  assert_int_equal(emu_consent_request_submit(f->c, BOB, PREVIEW, &f->want,
                                              "Need mail flows", 100, id1),
                   0);
  assert_int_equal(decide(f, BOB, 0, PREVIEW, 1, 0),
                   EMU_CONSENT_REQUEST_PENDING);
  /* A second submission returns the pending request. */
  assert_int_equal(emu_consent_request_submit(f->c, BOB, PREVIEW, &f->want,
                                              "again", 101, id2),
                   0);
  assert_string_equal(id1, id2);
  reqs = emu_consent_requests_json(f->c, "pending");
  assert_int_equal(json_object_array_length(reqs), 1);
  r0 = json_object_array_get_idx(reqs, 0);
  assert_true(json_object_object_get_ex(r0, "justification", &v));
  assert_string_equal(json_object_get_string(v), "Need mail flows");
  assert_true(json_object_object_get_ex(r0, "requester", &v));
  assert_string_equal(json_object_get_string(v), BOB);
  json_object_put(reqs);

  assert_int_equal(emu_consent_request_review(f->c, "nope", 1, ADMIN, 200), -1);
  assert_int_equal(emu_consent_request_review(f->c, id1, 1, ADMIN, 200), 0);
  assert_int_equal(emu_consent_request_review(f->c, id1, 0, ADMIN, 201), -2);
  /* Approval is tenant-wide: Bob and Alice connect. */
  assert_int_equal(decide(f, BOB, 0, PREVIEW, 1, 0), EMU_CONSENT_GRANTED);
  assert_int_equal(decide(f, ALICE, 0, PREVIEW, 1, 0), EMU_CONSENT_GRANTED);
  reqs = emu_consent_requests_json(f->c, "approved");
  assert_int_equal(json_object_array_length(reqs), 1);
  json_object_put(reqs);

  /* A denied request lets the user ask again. */
  assert_int_equal(decide(f, ALICE, 0, PROD, 1, 0), EMU_CONSENT_REQUEST);
  assert_int_equal(
      emu_consent_request_submit(f->c, ALICE, PROD, &f->want, "", 300, id1), 0);
  assert_int_equal(emu_consent_request_review(f->c, id1, 0, ADMIN, 301), 0);
  assert_int_equal(decide(f, ALICE, 0, PROD, 1, 0), EMU_CONSENT_REQUEST);
  assert_false(emu_consent_covers(f->c, ALICE, PROD, &f->want));
}

/* Scenario 9: deleting the enterprise app drops every grant. */
static void test_delete_app(void **state) {
  fixture *f = *state;
  uint64_t gen;
  json_object *g, *v;
  assert_false(emu_consent_app_exists(f->c, PREVIEW));
  emu_consent_grant_tenant(f->c, PREVIEW, &f->want);
  emu_consent_grant_user(f->c, ADMIN, PREVIEW, &f->want);
  emu_consent_grant_user(f->c, ALICE, PROD, &f->want);
  assert_true(emu_consent_app_exists(f->c, PREVIEW));
  gen = emu_consent_app_generation(f->c, PREVIEW);
  assert_int_equal(emu_consent_app_delete(f->c, PREVIEW), 1);
  assert_int_equal(emu_consent_app_delete(f->c, PREVIEW), 0);
  assert_false(emu_consent_app_exists(f->c, PREVIEW));
  assert_true(emu_consent_app_generation(f->c, PREVIEW) == gen + 1);
  assert_false(emu_consent_covers(f->c, ADMIN, PREVIEW, &f->want));
  assert_false(emu_consent_covers(f->c, BOB, PREVIEW, &f->want));
  assert_int_equal(decide(f, ADMIN, 1, PREVIEW, 1, 0),
                   EMU_CONSENT_PROMPT_ADMIN);
  /* The other app is untouched. */
  assert_true(emu_consent_covers(f->c, ALICE, PROD, &f->want));
  /* Re-added: present, but no grant until someone consents. */
  emu_consent_app_add(f->c, PREVIEW);
  assert_true(emu_consent_app_exists(f->c, PREVIEW));
  assert_false(emu_consent_covers(f->c, ADMIN, PREVIEW, &f->want));
  g = emu_consent_grants_json(f->c, PREVIEW);
  assert_true(json_object_object_get_ex(g, "userGrants", &v));
  assert_int_equal(json_object_array_length(v), 0);
  json_object_put(g);
  /* Revoking one user's grant. */
  assert_int_equal(emu_consent_revoke_user(f->c, ALICE, PROD), 1);
  assert_int_equal(emu_consent_revoke_user(f->c, ALICE, PROD), 0);
  assert_false(emu_consent_covers(f->c, ALICE, PROD, &f->want));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_scope_parsing, setup, teardown),
      cmocka_unit_test_setup_teardown(test_user_and_admin_grants, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_tenant_wide, setup, teardown),
      cmocka_unit_test_setup_teardown(test_low_impact, setup, teardown),
      cmocka_unit_test_setup_teardown(test_workflow, setup, teardown),
      cmocka_unit_test_setup_teardown(test_delete_app, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
