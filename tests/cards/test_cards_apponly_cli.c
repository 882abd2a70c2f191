/* test_cards_apponly_cli.c - an app-only connection (o365mail_app, a form
 * flow) as a person makes and uses it: real `wfc` processes on a fresh
 * store against a real m365-emulator. The private key (with the
 * certificate in the same PEM) and the client secret come from files only
 * their owner may read (--secret-file), never from the command line; the
 * connection then runs cards on several mailboxes, refreshes (fetches a
 * new token: there is no refresh token), and a card without a mailbox
 * fails naming the input. Nothing secret shows in any output (wuser_finish
 * checks for tokens; the key's body and the secret are looked for here). */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "cards_test.h"
#include "tcert.h"
#include "wfc_user.h"

#define DAEMON        "7d1f6a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define DAEMON_SECRET "daemon-Secret-CLI-9"

static wuser u;
static char key_body[80]; /* a line from the middle of the private key */

/* Writes a fresh RSA key and its self-signed certificate (one PEM) to
 * path (0600), registers the certificate on the daemon app. */
static void make_key_file(const char *path) {
  tcert c = tcert_make("cli-daemon", -60, 86400);
  char *key = c.key, *cert = c.cert;
  /* The third line of the key: base64 that must never be seen again. */
  const char *l = strchr(strchr(key, '\n') + 1, '\n') + 1;
  snprintf(key_body, sizeof key_body, "%.*s", (int)strcspn(l, "\n"), l);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(key, f);
  fputs(cert, f);
  fclose(f);
  assert_int_equal(chmod(path, 0600), 0);
  json_object *body = json_object_new_object();
  json_object_object_add(body, "type", json_object_new_string("certificate"));
  json_object_object_add(body, "certificate", json_object_new_string(cert));
  long st = 0;
  json_object_put(o365_fixture_admin(fx, "POST",
                                     "/__emulator/apps/" DAEMON "/credentials",
                                     json_object_to_json_string(body), &st));
  assert_int_equal(st, 201);
  json_object_put(body);
  tcert_free(&c);
}

static void write_secret(const char *path, const char *secret) {
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f, "%s\n", secret);
  fclose(f);
  assert_int_equal(chmod(path, 0600), 0);
}

/* Nothing secret in a finished command's outputs. */
static void no_secret_out(const wproc *p) {
  const char *outs[] = {p->stdout_, p->stderr_};
  for (size_t i = 0; i < 2; i++) {
    assert_null(strstr(outs[i], DAEMON_SECRET));
    assert_true(key_body[0] == '\0' || strstr(outs[i], key_body) == NULL);
    assert_null(strstr(outs[i], "PRIVATE KEY"));
  }
}

static int setup(void **state) {
  (void)state;
  if (ct_up_daemon(DAEMON, DAEMON_SECRET, "") != 0 ||
      wuser_init(&u, "apponly") != 0)
    return -1;
  u.on_output = no_secret_out;
  long st = 0;
  json_object_put(o365_fixture_admin(
      fx, "POST", "/__emulator/apps/" DAEMON "/admin-consent", NULL, &st));
  return st == 200 ? 0 : -1;
}

static int down(void **state) {
  (void)state;
  int rc = o365_fixture_free(fx);
  if (wuser_cleanup(&u) != 0)
    rc = -1;
  return rc;
}

/* Certificate: connect, use on two mailboxes, refresh, test, a card
 * without mailbox refused naming the input. */
static void certificate_connection_through_wfc(void **state) {
  (void)state;
  char keyfile[256], arg[300];
  snprintf(keyfile, sizeof keyfile, "%s/daemon.pem", u.dir);
  make_key_file(keyfile);
  snprintf(arg, sizeof arg, "private_key=%s", keyfile);
  wproc p;
  const char *const add[] = {"connection",
                             "new",
                             "--plugin",
                             "o365mail",
                             "--type",
                             "o365mail_app",
                             "--nickname",
                             "daemon",
                             "--tenant",
                             "contoso.test",
                             "--param",
                             "client_id=" DAEMON,
                             "--param",
                             "auth_method=certificate",
                             "--secret-file",
                             arg,
                             NULL};
  int code = wuser_run(&u, &p, add);
  if (code != 0)
    fprintf(stderr, "%s\n%s\n", p.stdout_, p.stderr_);
  assert_int_equal(code, 0);
  ct_says(p.stdout_, "connected");
  assert_null(strstr(p.stdout_, "Open this URL"));
  wuser_expect(&u, "daemon", "connected", NULL, NULL, 0);

  long alice_sent = o365_fixture_sent_count(fx, "alice@contoso.test");
  const char *const send[] = {
      "card",
      "run",
      "send_email",
      "--connection",
      "daemon",
      "--input",
      "{\"mailbox\":\"alice@contoso.test\",\"to\":[\"carol@contoso.test\"],"
      "\"subject\":\"cli app-only\",\"body\":\"x\"}",
      NULL};
  assert_int_equal(wuser_run(&u, &p, send), 0);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"),
                   alice_sent + 1);
  const char *const search[] = {
      "card",
      "run",
      "search_emails",
      "--connection",
      "daemon",
      "--input",
      "{\"mailbox\":\"carol@contoso.test\",\"folder\":\"inbox\","
      "\"subject\":\"cli app-only\"}",
      NULL};
  assert_int_equal(wuser_run(&u, &p, search), 0);
  ct_says(p.stdout_, "\"count\": 1");

  /* No mailbox: refused before any request, the input named. */
  long before = o365_fixture_graph_requests(fx);
  const char *const nomb[] = {
      "card",   "run",     "search_emails",          "--connection",
      "daemon", "--input", "{\"folder\":\"inbox\"}", NULL};
  assert_int_equal(wuser_run(&u, &p, nomb), 1);
  ct_says(p.stderr_, "\"mailbox\" input");
  assert_int_equal(o365_fixture_graph_requests(fx), before);

  /* A refresh is a new client credentials request (no refresh token). */
  long tokens =
      o365_fixture_route_count(fx, "POST", "/{tenant}/oauth2/v2.0/token");
  const char *const refresh[] = {"connection", "refresh", "daemon", NULL};
  assert_int_equal(wuser_run(&u, &p, refresh), 0);
  ct_says(p.stdout_, "refreshed \"daemon\": connected");
  assert_int_equal(
      o365_fixture_route_count(fx, "POST", "/{tenant}/oauth2/v2.0/token"),
      tokens + 1);
  const char *const test[] = {"connection", "test", "daemon", NULL};
  assert_int_equal(wuser_run(&u, &p, test), 0);
  ct_says(p.stdout_, "healthy");

  /* The store holds the key sealed: its text is not in the file. */
  FILE *f = fopen(u.store, "rb");
  assert_non_null(f);
  static char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  assert_null(memmem(buf, n, key_body, strlen(key_body)));
  assert_null(memmem(buf, n, "PRIVATE KEY", 11));
}

/* A wrong secret: the remedy says what to give; nothing is stored. The
 * right one connects. */
static void secret_connection_through_wfc(void **state) {
  (void)state;
  char file[256], arg[300];
  snprintf(file, sizeof file, "%s/secret.txt", u.dir);
  snprintf(arg, sizeof arg, "client_secret=%s", file);
  write_secret(file, "not-" DAEMON_SECRET "-at-all");
  const char *const add[] = {"connection",
                             "new",
                             "--plugin",
                             "o365mail",
                             "--type",
                             "o365mail_app",
                             "--nickname",
                             "daemon2",
                             "--tenant",
                             "contoso.test",
                             "--param",
                             "client_id=" DAEMON,
                             "--param",
                             "auth_method=secret",
                             "--param",
                             "mailbox=bob@contoso.test",
                             "--secret-file",
                             arg,
                             NULL};
  wproc p;
  assert_int_equal(wuser_run(&u, &p, add), 1);
  ct_says(p.stdout_, "AADSTS7000215");
  ct_says(p.stdout_, "secret's value (not its secret ID)");
  const char *const show[] = {"connection", "show", "daemon2", NULL};
  assert_int_not_equal(wuser_run(&u, &p, show), 0);

  write_secret(file, DAEMON_SECRET);
  assert_int_equal(wuser_run(&u, &p, add), 0);
  wuser_expect(&u, "daemon2", "connected", NULL, NULL, 0);
  /* The connection's default mailbox (bob) is where cards act. */
  free(o365_fixture_inject(
      fx, "bob@contoso.test",
      "{\"folder\":\"inbox\",\"subject\":\"only in bob's inbox\","
      "\"from\":\"carol@contoso.test\",\"toRecipients\":"
      "[\"bob@contoso.test\"],\"body\":\"x\"}"));
  const char *const search[] = {
      "card",
      "run",
      "search_emails",
      "--connection",
      "daemon2",
      "--input",
      "{\"folder\":\"inbox\",\"subject\":\"only in bob's inbox\"}",
      NULL};
  assert_int_equal(wuser_run(&u, &p, search), 0);
  ct_says(p.stdout_, "\"count\": 1");
}

/* The app disabled by an administrator: `connection refresh` and a card
 * say so (AADSTS7000112) with the remedy; the connection stays connected
 * and works again, as it is, once the app is enabled. */
static void disabled_app_through_wfc(void **state) {
  (void)state;
  long st = 0;
  json_object_put(o365_fixture_admin(
      fx, "POST", "/__emulator/apps/" DAEMON "/disable", NULL, &st));
  assert_int_equal(st, 200);
  wproc p;
  const char *const refresh[] = {"connection", "refresh", "daemon", NULL};
  assert_int_equal(wuser_run(&u, &p, refresh), 1);
  ct_says(p.stderr_, "AADSTS7000112: Application '" DAEMON "'");
  ct_says(p.stderr_, "\"Enabled for users to sign-in\" = Yes");
  wuser_expect(&u, "daemon", "connected", NULL, NULL, 0);
  json_object_put(o365_fixture_admin(
      fx, "POST", "/__emulator/apps/" DAEMON "/enable", NULL, &st));
  assert_int_equal(st, 200);
  assert_int_equal(wuser_run(&u, &p, refresh), 0);
  const char *const search[] = {
      "card",
      "run",
      "search_emails",
      "--connection",
      "daemon",
      "--input",
      "{\"mailbox\":\"carol@contoso.test\",\"folder\":\"inbox\"}",
      NULL};
  assert_int_equal(wuser_run(&u, &p, search), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(certificate_connection_through_wfc),
      cmocka_unit_test(disabled_app_through_wfc),
      cmocka_unit_test(secret_connection_through_wfc),
  };
  return cmocka_run_group_tests(tests, setup, down);
}
