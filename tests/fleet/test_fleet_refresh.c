/* test_fleet_refresh.c - one refresh at a time per connection across a
 * fleet of hosts sharing a PostgreSQL store (issue 10 item 2; docs/fleet.md,
 * "One refresh across the fleet").
 *
 * Real parts: a throw-away PostgreSQL cluster (pg_cluster.h), the emulator,
 * a connection made by `wfc connection new` into the database store (the
 * test plays the browser), and real processes: three fleet-host processes
 * (fleet_host.c: the SDK, the real plugin, the connection manager on
 * $WFC_STORE) and `wfc` itself, real SIGKILL. The emulator counts the token
 * requests.
 *
 * - test_fleet_1000_runs: the access token expired; 3 hosts start 334, 333
 *   and 333 list_folders runs at the same moment (the token endpoint slowed
 *   to 300 ms, so every host arrives while the first refresh runs): all
 *   1,000 succeed and the emulator answered exactly 1 token request;
 * - test_fleet_killed_holder: `wfc connection refresh` SIGKILLed while its
 *   token request is held at the emulator (it holds the lease): a card run
 *   started then by another process takes over at once (the holder's pid
 *   is gone on this node) and succeeds, with one more token request;
 * - test_fleet_killed_foreign_holder: the same with the holder in a pid
 *   namespace of its own (another node, as on another machine): the card
 *   run waits for the lease's expiry, at most its length (30 s), then
 *   refreshes and succeeds.
 *
 * Label `reliability`: prints "reliability:" lines with the figures; fails
 * on a lost run (a failure), a duplicate (a second token request). */
#define _POSIX_C_SOURCE 200809L /* setenv, kill, nanosleep */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../scenarios/scen.h"
#include "fleet_fixture.h"
#include "pg_cluster.h"
#include "reliability.h"
#include "store.h"
#include "tsys.h"

#define NICK  "fleet"
#define HOSTS 3
#define RUNS  1000

static pg_cluster *pg;
static char url[160], conn_id[WFC__CONN_ID_SIZE];

static wfc__store *store_open(void) {
  wfc__store *st = NULL;
  char err[512];
  if (wfc__store_open(url, &st, err, sizeof err) != 0)
    fail_msg("open %s: %s", url, err);
  return st;
}

/* Ages the access token as an hour passing would. */
static void expire_access_token(void) {
  char err[512];
  if (fleet_expire_access_token(url, conn_id, err, sizeof err) != 0)
    fail_msg("%s", err);
}

/* The next count token requests answered after delay_ms. */
static void token_delay(long delay_ms, int count) {
  char b[256];
  admin_ok("DELETE", "/__emulator/faults", NULL);
  snprintf(b, sizeof b,
           "{\"method\":\"POST\",\"path\":\"/%s/oauth2/v2.0/token\","
           "\"action\":\"delay\",\"delayMs\":%ld,\"count\":%d}",
           TENANT_DOMAIN, delay_ms, count);
  json_object_put(admin("POST", "/__emulator/faults", b, 201));
}

/* A fresh database store with the connection NICK in it, its access token
 * expired. */
static int setup(void **state) {
  if (sc_up(state) != 0)
    return -1;
  char *db = pg_cluster_new_db(pg);
  if (db == NULL)
    return -1;
  if (strlen(db) >= sizeof url) {
    free(db);
    return -1;
  }
  memcpy(url, db, strlen(db) + 1);
  free(db);
  snprintf(sc_store, sizeof sc_store, "%s", url);
  setenv("WFC_STORE", url, 1);
  return 0;
}

static void connect_expired(void) {
  sc_connect(NICK, "preview", ALICE_UPN, ALICE_PW, 0, -1, conn_id,
             sizeof conn_id);
  expire_access_token();
}

static void go_file(char *path, size_t len) {
  snprintf(path, len, "%s/go", sc_dir);
  unlink(path);
}

static void test_fleet_1000_runs(void **state) {
  (void)state;
  connect_expired();
  token_delay(300, HOSTS);
  long before = sc_token_requests();

  char so[700], go[256], n[16];
  snprintf(so, sizeof so, "%s/wfc-o365mail.so", sc_u.plugins);
  go_file(go, sizeof go);
  const char *host = getenv("WFC_FLEET_HOST");
  assert_non_null(host);
  wproc p[HOSTS];
  for (int i = 0; i < HOSTS; i++) {
    snprintf(n, sizeof n, "%d", RUNS / HOSTS + (i < RUNS % HOSTS));
    const char *argv[] = {host, so, "list_folders", NICK, n, go, NULL};
    wproc_start(&p[i], argv, NULL, NULL);
  }
  for (int i = 0; i < HOSTS; i++) {
    char line[64];
    wproc_read_line(&p[i], line, sizeof line);
    if (strcmp(line, "ready") != 0)
      fail_msg("host %d: %s", i, line);
  }
  FILE *f = fopen(go, "w");
  assert_non_null(f);
  fclose(f);
  int ok = 0, failed = 0;
  for (int i = 0; i < HOSTS; i++) {
    int code = wproc_wait(&p[i]);
    int k = 0, m = 0;
    if (sscanf(strstr(p[i].stdout_, "ok=") ? strstr(p[i].stdout_, "ok=") : "",
               "ok=%d failed=%d", &k, &m) != 2)
      m = RUNS;
    if (code != 0)
      fprintf(stderr, "host %d: exit %d: %s", i, code, p[i].stderr_);
    ok += k;
    failed += m;
  }
  long tokens = sc_token_requests() - before;
  rel_counts c = {.test = "fleet_refresh", .trials = RUNS};
  c.lost = failed;
  c.duplicates = tokens > 1 ? tokens - 1 : 0;
  rel_figure(&c, "hosts=%d", HOSTS);
  rel_figure(&c, "token_requests=%ld", tokens);
  rel_report(&c);
  assert_int_equal(failed, 0);
  assert_int_equal(ok, RUNS);
  assert_int_equal(tokens, 1);
}

/* A refresh holding the lease SIGKILLed while its token request is held
 * at the emulator; then a card run in another process. foreign: the holder
 * runs in a pid namespace of its own (`unshare --pid`), so its holder text
 * names another node, as a host of the fleet on another machine would:
 * only the lease's expiry frees it. Returns how long the card run took. */
static long killed_holder(const char *name, int foreign) {
  connect_expired();
  token_delay(60000, 1); /* the holder's request does not end in time */
  long before = sc_token_requests();
  wproc holder;
  /* Not root: a user namespace of its own first (mapped to root there),
   * which lets an unprivileged user make the pid namespace. */
  const char *cmd[] = {sc_u.bin, "connection",   "refresh",    NICK, "--store",
                       sc_store, "--plugin-dir", sc_u.plugins, NULL};
  const char *argv[20];
  int n = 0;
  if (foreign) {
    argv[n++] = "/usr/bin/unshare";
    if (geteuid() != 0) {
      argv[n++] = "--user";
      argv[n++] = "--map-root-user";
    }
    argv[n++] = "--pid";
    argv[n++] = "--fork";
    argv[n++] = "--kill-child";
  }
  for (int i = 0; cmd[i] != NULL; i++)
    argv[n++] = cmd[i];
  argv[n] = NULL;
  wproc_start(&holder, argv, NULL, NULL);
  /* Wait until it holds the lease and its token request is in flight. */
  wfc__store *st = store_open();
  wfc__lease l;
  long end = tsys_mono_ms() + 20000;
  while (wfc__store_lease_get(st, conn_id, &l) != 0 && tsys_mono_ms() < end &&
         wproc_running(&holder))
    tsys_sleep_ms(20);
  wfc__store_close(st);
  if (!wproc_running(&holder) || tsys_mono_ms() >= end) {
    kill(holder.pid, SIGKILL);
    wproc_wait(&holder);
    fail_msg("the refresh did not take the lease: %s", holder.stderr_);
  }
  tsys_sleep_ms(300);
  kill(holder.pid, SIGKILL); /* --kill-child: its child too */
  wproc_wait(&holder);

  long t0 = tsys_mono_ms();
  wproc card;
  const char *const run[] = {"card",         "run", "list_folders",
                             "--connection", NICK,  NULL};
  int code = sc_wfc(&card, run);
  long waited = tsys_mono_ms() - t0;
  long tokens = sc_token_requests() - before;
  rel_counts c = {.test = name, .trials = 1};
  c.lost = code != 0;
  /* The killed holder's request (answered or not) and the successor's. */
  c.duplicates = tokens > 2 ? tokens - 2 : 0;
  rel_figure(&c, "waited_ms=%ld", waited);
  rel_figure(&c, "token_requests=%ld", tokens);
  rel_report(&c);
  if (code != 0)
    fprintf(stderr, "card run: %s", card.stderr_);
  assert_int_equal(code, 0);
  assert_true(tokens <= 2);
  return waited;
}

/* Same node: the holder's pid is gone, taken over at once. */
static void test_fleet_killed_holder(void **state) {
  (void)state;
  assert_true(killed_holder("fleet_killed_holder", 0) < 15000);
}

/* Another node: blocked at most the lease's length (30 s) plus the run. */
static void test_fleet_killed_foreign_holder(void **state) {
  (void)state;
  assert_true(killed_holder("fleet_killed_foreign_holder", 1) < 30000 + 15000);
}

static int teardown(void **state) {
  unsetenv("WFC_STORE");
  return sc_down(state);
}

static int group_setup(void **state) {
  (void)state;
  return fleet_master_key() == 0 && (pg = pg_cluster_start()) != NULL ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  return pg_cluster_stop(pg) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_fleet_1000_runs, setup, teardown),
      cmocka_unit_test_setup_teardown(test_fleet_killed_holder, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_fleet_killed_foreign_holder, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
