/* test_tamper.c - the store trusts only what it sealed, checked from
 * outside with the real `wfc`, the real plugin and the emulator.
 *
 * The attacker can write the store file but has no master key: the test
 * edits the SQLite file with the sqlite3 library, as such an attacker
 * would, then runs the commands a user or a flow would. A second loopback
 * listener (ts_server, "evil") stands for the attacker's host.
 *
 *   - params.graph_url / params.authority_url pointed at evil: every
 *     command that would use the connection (card run, connection test,
 *     refresh, revoke, reauthorize, event watch, flow run) refuses it with
 *     "connection X: the store record was changed outside wfc or is
 *     corrupted"; evil receives no connection at all; the emulator receives
 *     no request (no token leaves, no mail is sent); `connection list` and
 *     `show` report it as "tampered" while the other connection works;
 *   - the nicknames of alice and bob swapped: "send as alice" is refused,
 *     no mail goes out as bob (nor as alice);
 *   - account, tenant, client id, state changed: refused the same way;
 *   - an event checkpoint's delta link pointed at evil: event watch and a
 *     flow with that trigger refuse it;
 *   - a byte flipped in the sealed credentials: the same clear words from
 *     every command (not a bare EKEY); `connection delete` removes it
 *     without calling the revoke hook (nothing sent);
 *   - a 0-byte store file: refused by every command, left as it was.
 *
 * Every scenario starts from the same store (alice and bob connected,
 * saved once): the file is put back before each test. */
#define _POSIX_C_SOURCE 200809L /* truncate, strdup, setenv (scen.h) */
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>

#include "../scenarios/scen.h"
#include "ts_server.h"

#define WORDS "the store record was changed outside wfc or is corrupted"

static ts_server *evil;
static char saved[256]; /* the store as the group setup left it */
static char flow_file[256];

/* ---- files and SQL ------------------------------------------------------- */

static void copy_file(const char *from, const char *to) {
  int in = open(from, O_RDONLY), out;
  char buf[65536];
  ssize_t n;
  assert_true(in >= 0);
  unlink(to);
  out = open(to, O_WRONLY | O_CREAT | O_EXCL, 0600);
  assert_true(out >= 0);
  while ((n = read(in, buf, sizeof buf)) > 0)
    assert_int_equal(write(out, buf, (size_t)n), n);
  close(in);
  close(out);
}

static void remove_side_files(void) {
  char p[300];
  snprintf(p, sizeof p, "%s-wal", sc_store);
  unlink(p);
  snprintf(p, sizeof p, "%s-shm", sc_store);
  unlink(p);
}

/* Runs sql on the store with the sqlite3 library: no key, plain SQL. */
static void tamper(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void tamper(const char *fmt, ...) {
  char sql[2048];
  va_list ap;
  sqlite3 *h;
  va_start(ap, fmt);
  vsnprintf(sql, sizeof sql, fmt, ap);
  va_end(ap);
  assert_int_equal(sqlite3_open(sc_store, &h), SQLITE_OK);
  sqlite3_busy_timeout(h, 5000);
  if (sqlite3_exec(h, sql, NULL, NULL, NULL) != SQLITE_OK)
    fail_msg("%s: %s", sql, sqlite3_errmsg(h));
  assert_true(sqlite3_changes(h) > 0);
  sqlite3_close(h);
}

/* ---- what reached whom ------------------------------------------------- */

/* Requests the emulator answered (admin routes not counted). */
static long emu_total(void) {
  json_object *s = admin("GET", "/__emulator/stats", NULL, 200);
  long n = (long)jint(s, "total");
  json_object_put(s);
  return n;
}

typedef struct seen {
  long emu, alice_sent, bob_sent;
} seen;

static seen now_seen(void) {
  seen s = {emu_total(), sc_sent_count(ALICE_UPN), sc_sent_count(BOB_UPN)};
  return s;
}

/* Nothing reached the emulator or evil since before; evil never saw a
 * single TCP connection (so no token could have been sent to it). */
static void nothing_sent(const seen *before) {
  ts_stats e;
  ts_server_stats(evil, &e);
  assert_int_equal(e.connections, 0);
  assert_int_equal(e.requests, 0);
  seen after = now_seen();
  assert_int_equal(after.emu, before->emu);
  assert_int_equal(after.alice_sent, before->alice_sent);
  assert_int_equal(after.bob_sent, before->bob_sent);
}

/* ---- commands ---------------------------------------------------------- */

static const char send_input[] =
    "{\"to\":[\"carol@contoso.test\"],\"subject\":\"tamper\",\"body\":\"x\"}";

/* The command fails, and says why in the clear words naming the
 * connection as the user named it. */
static void refused(const char *name, const char *const *args) {
  wproc p;
  int code = sc_wfc(&p, args);
  char want[160];
  snprintf(want, sizeof want, "connection \"%s\": " WORDS, name);
  if (code == 0 || strstr(p.stderr_, want) == NULL)
    fail_msg("`wfc %s %s %s` (exit %d) did not refuse with \"%s\":\n%s%s",
             args[0], args[1], args[2] ? args[2] : "", code, want, p.stdout_,
             p.stderr_);
  /* Not a bare code. */
  assert_null(strstr(p.stderr_, "wrong master key"));
}

/* Every command that would use connection name: refused. */
static void every_command_refuses(const char *name) {
  const char *const card[] = {"card",         "run", "list_folders",
                              "--connection", name,  NULL};
  const char *const send[] = {"card", "run",     "send_email", "--connection",
                              name,   "--input", send_input,   NULL};
  const char *const test[] = {"connection", "test", name, NULL};
  const char *const refresh[] = {"connection", "refresh", name, NULL};
  const char *const revoke[] = {"connection", "revoke", name, NULL};
  const char *const reauth[] = {
      "connection", "reauthorize", name, "--print-url", "--timeout", "5", NULL};
  const char *const watch[] = {
      "event",        "watch", "--card", "o365mail.new_email",
      "--connection", name,    "--once", NULL};
  char flow[512];
  snprintf(flow, sizeof flow,
           "{\"connection\":\"%s\",\"steps\":[{\"name\":\"send\",\"card\":"
           "\"send_email\",\"input\":%s}]}",
           name, send_input);
  FILE *f = fopen(flow_file, "w");
  assert_non_null(f);
  fputs(flow, f);
  fclose(f);
  const char *const flowrun[] = {"flow", "run", flow_file, "--once", NULL};
  const char *const *all[] = {card,   send,   test,  refresh,
                              revoke, reauth, watch, flowrun};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++)
    refused(name, all[i]);
}

/* `wfc connection list --json` and `show NAME --json`: name is reported
 * as tampered with the words in its remedy; other is connected. */
static void listed_as_tampered(const char *name, const char *other) {
  json_object *c = sc_show(name);
  assert_string_equal(jstr(c, "state"), "tampered");
  assert_non_null(strstr(jstr(c, "remedy"), WORDS));
  json_object_put(c);
  c = sc_show(other);
  assert_string_equal(jstr(c, "state"), "connected");
  json_object_put(c);
  wproc p;
  const char *const list[] = {"connection", "list", NULL};
  assert_int_equal(sc_wfc(&p, list), 0);
  assert_non_null(strstr(p.stdout_, "tampered"));
  assert_non_null(strstr(p.stdout_, WORDS));
}

/* ---- setup ------------------------------------------------------------- */

static int group_up(void **state) {
  if (sc_up(state) != 0)
    return -1;
  ts_route r = {.path = "*", .echo = 1};
  if (ts_server_start(NULL, &evil) != 0 || ts_server_route(evil, &r) != 0)
    return -1;
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);
  sc_connect("bob", "preview", BOB_UPN, BOB_PW, 0, -1, NULL, 0);
  snprintf(saved, sizeof saved, "%s/saved.db", sc_dir);
  snprintf(flow_file, sizeof flow_file, "%s/flow.json", sc_dir);
  copy_file(sc_store, saved);
  return 0;
}

static int group_down(void **state) {
  ts_server_stop(evil);
  return sc_down(state);
}

/* Each test: the store as saved, evil's counters at zero. */
static int restore(void **state) {
  (void)state;
  remove_side_files();
  copy_file(saved, sc_store);
  ts_server_reset_stats(evil);
  return 0;
}

/* ---- the attacks -------------------------------------------------------- */

static void graph_url_to_another_host_is_refused(void **state) {
  (void)state;
  seen before = now_seen();
  tamper("UPDATE connections SET params = json_set(params, '$.graph_url', "
         "'%s/v1.0') WHERE nickname = 'alice'",
         ts_server_url(evil));
  every_command_refuses("alice");
  nothing_sent(&before);
  listed_as_tampered("alice", "bob");
  /* The other connection keeps working. */
  assert_int_equal(sc_list_folders("bob"), 0);
  assert_true(emu_total() > before.emu);
}

static void authority_url_to_another_host_is_refused(void **state) {
  (void)state;
  seen before = now_seen();
  long tokens = sc_token_requests();
  tamper("UPDATE connections SET params = json_set(params, "
         "'$.authority_url', '%s') WHERE nickname = 'alice'",
         ts_server_url(evil));
  every_command_refuses("alice");
  nothing_sent(&before);
  assert_int_equal(sc_token_requests(), tokens);
}

static void swapped_nicknames_are_refused(void **state) {
  (void)state;
  seen before = now_seen();
  tamper("UPDATE connections SET nickname = 'tmp' WHERE nickname = 'alice';"
         "UPDATE connections SET nickname = 'alice' WHERE nickname = 'bob';"
         "UPDATE connections SET nickname = 'bob' WHERE nickname = 'tmp'");
  const char *const as_alice[] = {"card",         "run",   "send_email",
                                  "--connection", "alice", "--input",
                                  send_input,     NULL};
  refused("alice", as_alice);
  const char *const as_bob[] = {"card", "run",     "send_email", "--connection",
                                "bob",  "--input", send_input,   NULL};
  refused("bob", as_bob);
  every_command_refuses("alice");
  nothing_sent(&before);
  json_object *c = sc_show("alice");
  assert_string_equal(jstr(c, "state"), "tampered");
  json_object_put(c);
}

/* Whose it is and how it authorizes: each change alone is refused. */
static void account_tenant_client_state_are_authenticated(void **state) {
  static const char *const edits[] = {
      "account = 'bob@contoso.test'",
      "params = json_set(params, '$.tenant', 'evil.example')",
      "params = json_set(params, '$.client_id', "
      "'00000000-0000-0000-0000-000000000bad')",
      "state = 'reauthorization_required'",
      "environment = 'production'",
      "plugin = 'other'",
      "conn_type = 'other'",
      "expires_at = expires_at + 86400000",
  };
  for (size_t i = 0; i < sizeof edits / sizeof *edits; i++) {
    restore(state);
    seen before = now_seen();
    tamper("UPDATE connections SET %s WHERE nickname = 'alice'", edits[i]);
    const char *const card[] = {"card",         "run",   "list_folders",
                                "--connection", "alice", NULL};
    const char *const send[] = {"card",         "run",   "send_email",
                                "--connection", "alice", "--input",
                                send_input,     NULL};
    const char *const refresh[] = {"connection", "refresh", "alice", NULL};
    refused("alice", card);
    refused("alice", send);
    refused("alice", refresh);
    nothing_sent(&before);
  }
  /* Put back as it was, it works again (the check is exact). */
  restore(state);
  assert_int_equal(sc_list_folders("alice"), 0);
}

static void checkpoint_to_another_host_is_refused(void **state) {
  (void)state;
  wproc p;
  const char *const watch[] = {
      "event",        "watch", "--card", "o365mail.new_email",
      "--connection", "alice", "--once", NULL};
  /* A subscription with a delta link stored. */
  assert_int_equal(sc_wfc(&p, watch), 0);
  assert_int_equal(sc_wfc(&p, watch), 0);
  char flow[256];
  snprintf(flow, sizeof flow,
           "{\"connection\":\"alice\",\"trigger\":{\"card\":\"new_email\"},"
           "\"steps\":[{\"name\":\"send\",\"card\":\"send_email\",\"input\":"
           "%s}]}",
           send_input);
  FILE *f = fopen(flow_file, "w");
  fputs(flow, f);
  fclose(f);
  const char *const flowrun[] = {"flow", "run", flow_file, "--once", NULL};
  assert_int_equal(sc_wfc(&p, flowrun), 0);
  assert_int_equal(sc_wfc(&p, flowrun), 0);
  ts_server_reset_stats(evil);
  seen before = now_seen();
  tamper("UPDATE checkpoints SET checkpoint = json_set(checkpoint, '$.link', "
         "'%s/v1.0/me/mailFolders/inbox/messages/delta?$deltatoken=x')",
         ts_server_url(evil));
  refused("alice", watch);
  refused("alice", flowrun);
  nothing_sent(&before);
  /* The connection itself is fine: its cards still run. */
  assert_int_equal(sc_list_folders("alice"), 0);
}

static void flipped_byte_in_sealed_credentials(void **state) {
  (void)state;
  seen before = now_seen();
  tamper("UPDATE connections SET secrets = substr(secrets, 1, 20) || "
         "(CASE WHEN substr(secrets, 21, 1) = x'00' THEN x'01' ELSE x'00' "
         "END) || substr(secrets, 22) WHERE nickname = 'alice'");
  every_command_refuses("alice");
  nothing_sent(&before);
  listed_as_tampered("alice", "bob");
  /* Delete removes it without the revoke hook (it would send the token
   * where the record says): nothing sent. */
  wproc p;
  const char *const del[] = {"connection", "delete", "alice", NULL};
  assert_int_equal(sc_wfc(&p, del), 0);
  assert_non_null(strstr(p.stdout_, "skipped"));
  nothing_sent(&before);
  const char *const list[] = {"connection", "list", "--json", NULL};
  assert_int_equal(sc_wfc(&p, list), 0);
  assert_null(strstr(p.stdout_, "\"alice\""));
  assert_non_null(strstr(p.stdout_, "\"bob\""));
}

static void empty_store_file_is_refused(void **state) {
  (void)state;
  seen before = now_seen();
  remove_side_files();
  assert_int_equal(truncate(sc_store, 0), 0);
  const char *const list[] = {"connection", "list", NULL};
  const char *const show[] = {"connection", "show", "alice", NULL};
  const char *const card[] = {"card",         "run",   "list_folders",
                              "--connection", "alice", NULL};
  const char *const refresh[] = {"connection", "refresh", "alice", NULL};
  const char *const fresh[] = {
      "connection", "new",         "--plugin",  "o365mail", "--nickname",
      "carol",      "--print-url", "--timeout", "5",        NULL};
  const char *const watch[] = {
      "event",        "watch", "--card", "o365mail.new_email",
      "--connection", "alice", "--once", NULL};
  const char *const flowrun[] = {"flow", "run", flow_file, "--once", NULL};
  FILE *f = fopen(flow_file, "w");
  fputs("{\"connection\":\"alice\",\"steps\":[{\"name\":\"l\",\"card\":"
        "\"list_folders\"}]}",
        f);
  fclose(f);
  const char *const *all[] = {list, show, card, refresh, fresh, watch, flowrun};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) {
    wproc p;
    int code = sc_wfc(&p, all[i]);
    if (code == 0 || strstr(p.stderr_, "empty (0 bytes)") == NULL)
      fail_msg("`wfc %s %s` (exit %d) did not refuse the empty store:\n%s%s",
               all[i][0], all[i][1], code, p.stdout_, p.stderr_);
    struct stat sb;
    assert_int_equal(stat(sc_store, &sb), 0);
    assert_int_equal(sb.st_size, 0);
  }
  nothing_sent(&before);
}

#define T(f) cmocka_unit_test_setup(f, restore)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(graph_url_to_another_host_is_refused),
      T(authority_url_to_another_host_is_refused),
      T(swapped_nicknames_are_refused),
      T(account_tenant_client_state_are_authenticated),
      T(checkpoint_to_another_host_is_refused),
      T(flipped_byte_in_sealed_credentials),
      T(empty_store_file_is_refused),
  };
  return cmocka_run_group_tests(tests, group_up, group_down);
}
