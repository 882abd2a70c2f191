/* test_emulator_restart.c - restarting the emulator in the middle of a
 * user's work, the two modes README.md and docs/emulator.md describe.
 *
 * With --state-dir DIR: alice connects and runs a card, the emulator
 * stops (SIGTERM) and starts again on the same directory (on another
 * port: the plugin follows the environment), and her next card works
 * without a sign-in: the refresh token and the consent were kept; the
 * access token of before the restart is refused (the signing key is new)
 * and the plugin refreshes. Before, every restart broke every connection.
 *
 * App-only (o365mail_app) with --state-dir: the client secret and the
 * certificate an administrator added to the app, the app roles consented
 * and an application access policy outlive the restart, so the connection
 * (its secret added through the admin API, not the tenant document)
 * fetches a new token and keeps working, on the mailboxes the policy
 * allows only.
 *
 * Without it (in memory): the same restart leaves the connection needing
 * a reauthorization, and the message names the command to run. */
#define _POSIX_C_SOURCE 200809L /* setenv (scen.h) */
#include "scen.h"
#include "tcert.h"
#include "tsys.h"

#include <stdio.h>
#include <sys/stat.h>

static char state_dir[256];

/* Stops the emulator and starts a new one, with extra (may be NULL); the
 * plugin's environment follows its new port. */
static void restart(const char *const *extra) {
  assert_int_equal(emu_proc_stop(emu), 0);
  emu = emu_proc_start(NULL, extra);
  assert_non_null(emu);
  char graph[256];
  snprintf(graph, sizeof graph, "%s/v1.0", base());
  setenv("O365MAIL_AUTHORITY_URL", base(), 1);
  setenv("O365MAIL_GRAPH_URL", graph, 1);
}

static int setup_state(void **state) {
  (void)state;
  snprintf(state_dir, sizeof state_dir, "/tmp/wfc-emustate-%ld",
           (long)getpid());
  const char *const extra[] = {"--state-dir", state_dir, NULL};
  return sc_up_args(NULL, extra);
}

static int teardown_state(void **state) {
  int down = sc_down(state); /* it writes the state as it stops */
  return down != 0 || tsys_rm_rf(state_dir) != 0 ? -1 : 0;
}

static void state_dir_keeps_connections(void **state) {
  (void)state;
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);
  long sign_ins = sc_identity_counter("codesIssued");
  assert_true(sign_ins >= 1);

  const char *const extra[] = {"--state-dir", state_dir, NULL};
  restart(extra);
  /* The tokens are kept, mode 0600: they are secrets. */
  char path[300];
  snprintf(path, sizeof path, "%s/identity.json", state_dir);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);

  assert_int_equal(sc_list_folders("alice"), 0);
  assert_int_equal(sc_test("alice"), 0);
  sc_expect("alice", "connected", NULL, NULL, 0);
  /* No new sign-in: a refresh did it. */
  assert_int_equal(sc_identity_counter("codesIssued"), 0);
  assert_true(sc_identity_counter("refreshes") >= 1);

  /* And again: the state written at the second stop is read at the
   * third start (the refresh token rotated in between). */
  restart(extra);
  assert_int_equal(sc_list_folders("alice"), 0);
}

#define DAEMON "7d1f6a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"

/* The example tenant plus a confidential daemon application with the
 * application permissions Mail.ReadWrite and Mail.Send (new reference). */
static json_object *daemon_doc(void) {
  json_object *doc = emu_proc_example_doc(), *apps = NULL;
  assert_non_null(doc);
  assert_true(json_object_object_get_ex(doc, "applications", &apps));
  json_object_array_add(
      apps,
      json_tokener_parse("{\"clientId\":\"" DAEMON "\",\"displayName\":\"Mail "
                         "Automation (daemon)\",\"publicClient\":false,"
                         "\"clientSecret\":\"from-the-tenant-document\","
                         "\"redirectUris\":[\"http://localhost\"],"
                         "\"applicationPermissions\":[\"Mail.ReadWrite\","
                         "\"Mail.Send\"]}"));
  return doc;
}

static int setup_daemon(void **state) {
  (void)state;
  snprintf(state_dir, sizeof state_dir, "/tmp/wfc-emustate-app-%ld",
           (long)getpid());
  const char *const extra[] = {"--state-dir", state_dir, NULL};
  json_object *doc = daemon_doc();
  int rc = sc_up_args(doc, extra);
  json_object_put(doc);
  return rc;
}

/* GET the daemon's credentials (new reference). */
static json_object *credentials(void) {
  return admin("GET", "/__emulator/apps/" DAEMON "/credentials", NULL, 200);
}

static void state_dir_keeps_app_only(void **state) {
  (void)state;
  /* The administrator's work: a client secret and a certificate, admin
   * consent to the application permissions, a policy that restricts the
   * app to alice's mailbox. */
  json_object_put(admin("POST", "/__emulator/apps/" DAEMON "/credentials",
                        "{\"type\":\"secret\",\"secret\":\"added-Secret-7\"}",
                        201));
  tcert c = tcert_make("restart", -60, 86400);
  json_object *body = json_object_new_object();
  json_object_object_add(body, "type", json_object_new_string("certificate"));
  json_object_object_add(body, "certificate", json_object_new_string(c.cert));
  tcert_free(&c);
  json_object_put(admin("POST", "/__emulator/apps/" DAEMON "/credentials",
                        json_object_to_json_string(body), 201));
  json_object_put(body);
  json_object_put(
      admin("POST", "/__emulator/apps/" DAEMON "/admin-consent", NULL, 200));
  json_object_put(admin("POST", "/__emulator/application-access-policies",
                        "{\"appId\":\"" DAEMON "\",\"accessRight\":"
                        "\"RestrictAccess\",\"members\":[\"" ALICE_UPN "\"]}",
                        201));
  json_object *before = credentials();

  /* The connection, with the added secret (from a file only its owner
   * reads). */
  char file[300], arg[320];
  snprintf(file, sizeof file, "%s/secret.txt", sc_dir);
  FILE *f = fopen(file, "w");
  assert_non_null(f);
  fputs("added-Secret-7", f);
  fclose(f);
  assert_int_equal(chmod(file, 0600), 0);
  snprintf(arg, sizeof arg, "client_secret=%s", file);
  const char *const add[] = {"connection",
                             "new",
                             "--plugin",
                             "o365mail",
                             "--type",
                             "o365mail_app",
                             "--nickname",
                             "daemon",
                             "--tenant",
                             TENANT_DOMAIN,
                             "--param",
                             "client_id=" DAEMON,
                             "--param",
                             "auth_method=secret",
                             "--secret-file",
                             arg,
                             NULL};
  wproc p;
  assert_int_equal(sc_wfc(&p, add), 0);
  sc_expect("daemon", "connected", NULL, NULL, 0);
  static const char alice_in[] =
      "{\"mailbox\":\"" ALICE_UPN "\",\"folder\":\"inbox\"}";
  static const char carol_in[] =
      "{\"mailbox\":\"carol@contoso.test\",\"folder\":\"inbox\"}";
  assert_int_equal(sc_card(&p, "search_emails", "daemon", alice_in), 0);
  assert_int_equal(sc_card(&p, "search_emails", "daemon", carol_in), 1);

  const char *const extra[] = {"--state-dir", state_dir, NULL};
  json_object *doc = daemon_doc();
  assert_int_equal(emu_proc_stop(emu), 0);
  emu = emu_proc_start_doc(doc, extra);
  json_object_put(doc);
  assert_non_null(emu);
  char graph[256];
  snprintf(graph, sizeof graph, "%s/v1.0", base());
  setenv("O365MAIL_AUTHORITY_URL", base(), 1);
  setenv("O365MAIL_GRAPH_URL", graph, 1);
  char path[300];
  snprintf(path, sizeof path, "%s/apponly.json", state_dir);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);

  /* The same credentials (ids, dates, thumbprints) and roles. */
  json_object *after = credentials();
  if (!json_object_equal(before, after))
    fail_msg("credentials before the restart:\n%s\nafter:\n%s",
             json_object_to_json_string(before),
             json_object_to_json_string(after));
  json_object_put(before);
  json_object_put(after);

  /* The old token dies with the signing key; the connection fetches a
   * new one with the kept secret, holding the kept roles, and the kept
   * policy still refuses carol's mailbox. */
  long tokens = sc_token_requests();
  assert_int_equal(sc_card(&p, "search_emails", "daemon", alice_in), 0);
  assert_true(sc_token_requests() > tokens);
  assert_int_equal(sc_card(&p, "search_emails", "daemon", carol_in), 1);
  if (strstr(p.stderr_, "AccessPolicy") == NULL)
    fail_msg("carol's mailbox after the restart: %s", p.stderr_);
  sc_expect("daemon", "connected", NULL, NULL, 0);
}

static void in_memory_forgets(void **state) {
  (void)state;
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);
  restart(NULL);
  wproc p;
  assert_int_equal(sc_card(&p, "list_folders", "alice", "{}"), 1);
  if (strstr(p.stderr_, "Run `wfc connection reauthorize alice`") == NULL)
    fail_msg("after a restart without --state-dir, card run says:\n%s",
             p.stderr_);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(state_dir_keeps_connections, setup_state,
                                      teardown_state),
      cmocka_unit_test_setup_teardown(state_dir_keeps_app_only, setup_daemon,
                                      teardown_state),
      cmocka_unit_test_setup_teardown(in_memory_forgets, sc_up, sc_down),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
