/* Emulator core: the tenant model in-process - the built-in default, field
 * validation messages, lookups, the loopback redirect URI rule, mailbox
 * permissions, consent policy names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "emu.h"

static int load_default(void **state) {
  char err[256];
  (void)state;
  return emu_tenant_load(emu_tenant_default_doc(), err, sizeof err);
}

static int unload(void **state) {
  (void)state;
  emu_tenant_shutdown();
  return 0;
}

static void test_default_tenant(void **state) {
  (void)state;
  emu_tenant *t = emu_tenant_get();
  assert_non_null(t);
  assert_string_equal(t->domain, "contoso.test");
  assert_int_equal(t->nusers, 5);
  assert_int_equal(t->napps, 2);
  emu_user *admin = emu_user_find("ADMIN@contoso.test");
  assert_non_null(admin);
  assert_true(admin->global_admin);
  assert_false(admin->shared);
  emu_user *alice = emu_user_find("alice@CONTOSO.test");
  assert_non_null(alice);
  assert_false(alice->global_admin);
  assert_ptr_equal(emu_user_find(alice->id), alice);
  emu_user *support = emu_user_find("support@contoso.test");
  assert_true(support->shared);
  assert_null(support->password);
  assert_null(emu_user_find("nobody@contoso.test"));
  assert_null(emu_user_find(NULL));

  const emu_mailbox_perm *p = emu_mailbox_perm_find(support, alice->id);
  assert_non_null(p);
  assert_true(p->full_access && p->send_as && !p->send_on_behalf);
  emu_user *bob = emu_user_find("bob@contoso.test");
  p = emu_mailbox_perm_find(support, bob->id);
  assert_true(p->full_access && !p->send_as && p->send_on_behalf);
  assert_null(
      emu_mailbox_perm_find(support, emu_user_find("carol@contoso.test")->id));

  assert_true(emu_tenant_matches("common"));
  assert_true(emu_tenant_matches("organizations"));
  assert_true(emu_tenant_matches("CONTOSO.TEST"));
  assert_true(emu_tenant_matches(t->id));
  assert_false(emu_tenant_matches("fabrikam.test"));
  assert_false(emu_tenant_matches("consumers"));

  assert_int_equal(t->policy.user_consent, EMU_CONSENT_ALLOWED);
  assert_true(emu_policy_is_low_impact("user.read"));
  assert_false(emu_policy_is_low_impact("Mail.Send"));
  assert_int_equal(t->policy.nreviewers, 1);
  assert_string_equal(t->policy.reviewers[0], admin->id);
  assert_int_equal(t->throttle.concurrency, 4);
}

static void test_apps_and_redirects(void **state) {
  (void)state;
  emu_tenant *t = emu_tenant_get();
  emu_app *prev = NULL, *prod = NULL;
  for (size_t i = 0; i < t->napps; i++) {
    if (strstr(t->apps[i].display_name, "Preview"))
      prev = &t->apps[i];
    if (strstr(t->apps[i].display_name, "Production"))
      prod = &t->apps[i];
  }
  assert_non_null(prev);
  assert_non_null(prod);
  assert_true(prev->public_client);
  assert_null(prev->client_secret);
  assert_false(prod->public_client);
  assert_non_null(prod->client_secret);
  assert_ptr_equal(emu_app_find(prev->client_id), prev);
  assert_null(emu_app_find("00000000-0000-0000-0000-000000000000"));

  /* Loopback: any port, same host and path. */
  assert_true(emu_app_redirect_ok(prev, "http://127.0.0.1"));
  assert_true(emu_app_redirect_ok(prev, "http://127.0.0.1:49152"));
  assert_true(emu_app_redirect_ok(prev, "http://127.0.0.1:8080/"));
  assert_true(emu_app_redirect_ok(prev, "http://localhost:5000/callback"));
  assert_false(emu_app_redirect_ok(prev, "http://localhost:5000/other"));
  assert_false(emu_app_redirect_ok(prev, "https://127.0.0.1:5000/callback"));
  assert_false(emu_app_redirect_ok(prev, "http://evil.test:5000/callback"));
  assert_false(emu_app_redirect_ok(prev, "http://127.0.0.2:5000/callback"));
  assert_false(emu_app_redirect_ok(prev, "http://127.0.0.1:99999/callback"));
  assert_false(emu_app_redirect_ok(prev, NULL));
}

static void test_validation_messages(void **state) {
  (void)state;
  static const struct {
    const char *doc;
    const char *msg;
  } cases[] = {
      {"[]", "must be a JSON object"},
      {"{\"users\":[]}", "tenant must be an object"},
      {"{\"tenant\":{\"id\":\"x\",\"domain\":\"d\"},\"users\":[]}",
       "tenant.id must be a GUID"},
      {"{\"tenant\":{\"domain\":\"d\"}}", "users must be an array"},
      {"{\"tenant\":{\"domain\":\"d\"},\"users\":[{\"password\":\"p\"}]}",
       "users[0].userPrincipalName is required"},
      {"{\"tenant\":{\"domain\":\"d\"},\"users\":[{\"userPrincipalName\":"
       "\"a@d\"}]}",
       "users[0].password is required"},
      {"{\"tenant\":{\"domain\":\"d\"},\"users\":[{\"userPrincipalName\":"
       "\"a@d\",\"password\":\"p\"},{\"userPrincipalName\":\"A@d\","
       "\"password\":\"q\"}]}",
       "users[1]: duplicate"},
      {"{\"tenant\":{\"domain\":\"d\"},\"users\":[{\"userPrincipalName\":"
       "\"s@d\",\"mailboxType\":\"shared\",\"mailboxPermissions\":[{\"user\":"
       "\"ghost@d\"}]}]}",
       "users[0].mailboxPermissions[0].user names no user"},
      {"{\"tenant\":{\"domain\":\"d\"},\"users\":[],\"applications\":[{"
       "\"clientId\":\"5e3b7c1a-9d2f-4b6e-a8c4-1f0d2e3c4b5a\",\"displayName\":"
       "\"x\",\"publicClient\":false,\"redirectUris\":[\"http://localhost\"]}"
       "]}",
       "applications[0].clientSecret is required"},
      {"{\"tenant\":{\"domain\":\"d\"},\"users\":[],\"consentPolicy\":{"
       "\"userConsent\":\"sometimes\"}}",
       "consentPolicy.userConsent must be"},
      {"{\"tenant\":{\"domain\":\"d\"},\"users\":[],\"throttling\":{"
       "\"windowSeconds\":0}}",
       "throttling.windowSeconds out of range"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char err[256] = "";
    json_object *doc = json_tokener_parse(cases[i].doc);
    assert_non_null(doc);
    assert_int_equal(emu_tenant_load(doc, err, sizeof err), -1);
    if (strstr(err, cases[i].msg) == NULL)
      fail_msg("case %zu: \"%s\" lacks \"%s\"", i, err, cases[i].msg);
  }
  /* A failed load leaves the previous tenant in place. */
  assert_string_equal(emu_tenant_get()->domain, "contoso.test");
}

static void test_generated_ids_survive_reload(void **state) {
  (void)state;
  char err[256];
  json_object *doc = json_tokener_parse(
      "{\"tenant\":{\"domain\":\"d.test\"},\"users\":[{\"userPrincipalName\":"
      "\"a@d.test\",\"password\":\"p\"}]}");
  assert_int_equal(emu_tenant_load(doc, err, sizeof err), 0);
  char tid[37], uid[37];
  snprintf(tid, sizeof tid, "%s", emu_tenant_get()->id);
  snprintf(uid, sizeof uid, "%s", emu_user_find("a@d.test")->id);
  assert_int_equal(strlen(tid), 36);
  assert_int_equal(emu_tenant_reload(), 0);
  assert_string_equal(emu_tenant_get()->id, tid);
  assert_string_equal(emu_user_find("a@d.test")->id, uid);
  assert_string_equal(emu_user_find("a@d.test")->mail, "a@d.test");
  /* Back to the default for the other tests. */
  assert_int_equal(load_default(state), 0);
}

static void test_policy_helpers(void **state) {
  (void)state;
  assert_int_equal(emu_user_consent_parse("verified_publishers"),
                   EMU_CONSENT_VERIFIED_PUBLISHERS);
  assert_int_equal(emu_user_consent_parse("nope"), -1);
  assert_string_equal(emu_user_consent_name(EMU_CONSENT_NOT_ALLOWED),
                      "not_allowed");
  emu_tenant *t = emu_tenant_get();
  static const char *const five[] = {"Mail.ReadWrite", "Mail.ReadWrite.Shared",
                                     "Mail.Send", "Mail.Send.Shared",
                                     "offline_access"};
  assert_int_equal(
      emu_strv_replace(&t->policy.low_impact, &t->policy.nlow_impact, five, 5),
      0);
  assert_true(emu_policy_is_low_impact("mail.send.shared"));
  assert_false(emu_policy_is_low_impact("User.Read"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_default_tenant),
      cmocka_unit_test(test_apps_and_redirects),
      cmocka_unit_test(test_validation_messages),
      cmocka_unit_test(test_generated_ids_survive_reload),
      cmocka_unit_test(test_policy_helpers),
  };
  return cmocka_run_group_tests(tests, load_default, unload);
}
