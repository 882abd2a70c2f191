/* fleet.c - wfc-bench-fleet: the fleet figures of docs/fleet.md ("Figures",
 * issue 10 item 8) in one run. Figures only: nothing passes or fails on a
 * number; the exit status is non-zero only when a step could not run (a
 * failed card run, a store that would not open).
 *
 *   wfc-bench-fleet [-q] [-C N]
 *
 * -q: shorter runs. -C N: only N card runs on SQLite (step 2's first half),
 * to compare the single-host path of two builds: the `wfc`, the plugin and
 * the emulator are those of $WFC_BUILD_DIR (default: this build), e.g.
 * WFC_BUILD_DIR=/tmp/old/build build/bin/wfc-bench-fleet -C 50. With
 * $WFC_BENCH_WFC, step 2 runs that program in place of `wfc` (a wrapper
 * running it under callgrind: docs/fleet.md, "Figures").
 *
 * Real parts, as in tests/fleet: a throw-away PostgreSQL cluster
 * (tests/support/pg_cluster.h; without Debian's server binaries every
 * PostgreSQL row is skipped with a line saying so), the emulator, a
 * connection made by `wfc connection new` (the bench plays the browser),
 * real processes.
 *
 * 1. Store operations per second: build/bin/wfc-bench-store on a SQLite
 *    file and on a PostgreSQL database, one after the other.
 * 2. Card-run overhead: `wfc card run list_folders` (a whole host process:
 *    open the store, unseal the connection, one Graph request, close) N
 *    times on a SQLite store and on a PostgreSQL store, mean wall time and
 *    the ratio.
 * 3. Hosts: 1, 3 and 8 fleet-host processes (tests/fleet/fleet_host.c)
 *    sharing the PostgreSQL store start RUNS list_folders runs in all (split
 *    among them) at one moment on an expired access token, the token
 *    endpoint slowed to 300 ms: the token requests the emulator answered,
 *    the lease waits (a host waiting for another host's refresh: the
 *    connection manager's "waiting for its result" line, once per wait, in
 *    each host's log at WFC_LOG=info) and the refreshes started, and the
 *    wall time until every run ended. */
#define _GNU_SOURCE /* setenv, dup2 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "../tests/scenarios/scen.h"
#include "fleet_fixture.h"
#include "pg_cluster.h"
#include "store.h"

#define NICK "bench"

static pg_cluster *pg;
static int quick, card_only;
static char conn_id[WFC__CONN_ID_SIZE];

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static const char *bin_dir(void) {
  static char d[4096];
  snprintf(d, sizeof d, "%s/bin", WFC_BUILD_DIR);
  return d;
}

/* ---- 1. store operations ------------------------------------------------ */

static void store_ops(const char *loc, const char *label) {
  char b[4200], n[16], w[16];
  snprintf(b, sizeof b, "%s/wfc-bench-store", bin_dir());
  snprintf(n, sizeof n, "%d", quick ? 1000 : 2000);
  snprintf(w, sizeof w, "%d", quick ? 60 : 200);
  const char *argv[] = {b, "-n", n, "-w", w, loc, NULL};
  wproc p;
  wproc_start(&p, argv, NULL, NULL);
  int code = wproc_wait(&p);
  fputs(p.stdout_, stdout);
  if (code != 0)
    fail_msg("wfc-bench-store on %s: exit %d: %s", label, code, p.stderr_);
}

static void bench_store(void **state) {
  (void)state;
  char path[4200];
  snprintf(path, sizeof path, "%s/ops.db", sc_dir);
  store_ops(path, "SQLite");
  if (pg == NULL) {
    printf("store postgresql: skipped (no PostgreSQL server binaries: "
           "scripts/install-deps installs them)\n");
    return;
  }
  char *db = pg_cluster_new_db(pg);
  assert_non_null(db);
  store_ops(db, "PostgreSQL");
  free(db);
}

/* ---- 2. card-run overhead ----------------------------------------------- */

/* CPU time (user + system) of the children reaped so far: the `wfc`
 * processes (the emulator, a child too, is reaped only at the end). */
static double children_cpu_ms(void) {
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
         (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* Mean wall time of n `wfc card run list_folders` on the store sc_store;
 * *cpu: their mean CPU time (which the machine's load moves less). */
static double card_runs(int n, double *cpu) {
  double t0 = now_ms(), c0 = children_cpu_ms();
  for (int i = 0; i < n; i++)
    if (sc_list_folders(NICK) != 0)
      fail_msg("card run %d on %s failed", i, sc_store);
  *cpu = (children_cpu_ms() - c0) / n;
  return (now_ms() - t0) / n;
}

static void bench_card_run(void **state) {
  (void)state;
  int n = card_only ? card_only : quick ? 5 : 10;
  /* $WFC_BENCH_WFC: another program in place of `wfc` (a wrapper that
   * runs it under callgrind, say), given the same arguments. */
  const char *wrap = getenv("WFC_BENCH_WFC");
  if (wrap != NULL && *wrap != '\0')
    snprintf(sc_u.bin, sizeof sc_u.bin, "%s", wrap);
  double sq, pq = 0, sc, pc;
  sc_connect(NICK, "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);
  card_runs(1, &sc); /* page cache, lazy libraries */
  sq = card_runs(n, &sc);
  printf("card run sqlite: %.1f ms wall, %.1f ms CPU per `wfc card run "
         "list_folders` (%d runs, %s)\n",
         sq, sc, n, sc_u.bin);
  if (card_only)
    return;
  if (pg == NULL) {
    printf("card run postgresql: skipped (no PostgreSQL server binaries)\n");
    return;
  }
  char *db = pg_cluster_new_db(pg);
  assert_non_null(db);
  snprintf(sc_store, sizeof sc_store, "%s", db);
  free(db);
  sc_connect(NICK, "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);
  card_runs(1, &pc);
  pq = card_runs(n, &pc);
  printf("card run postgresql: %.1f ms wall, %.1f ms CPU per `wfc card run "
         "list_folders` (%d runs)\n",
         pq, pc, n);
  printf("card run postgresql/sqlite: %.2fx wall (+%.1f ms per run), %.2fx "
         "CPU\n",
         pq / sq, pq - sq, pc / sc);
}

/* ---- 3. token requests and lease waits with 1, 3, 8 hosts ---------------- */

/* Ages the access token of conn_id in the store sc_store as an hour would. */
static void expire_access_token(void) {
  char err[512];
  if (fleet_expire_access_token(sc_store, conn_id, err, sizeof err) != 0)
    fail_msg("%s", err);
}

/* The child's stderr to the file named by arg (its log). */
static void log_to_file(void *arg) {
  int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || dup2(fd, 2) < 0)
    _exit(127);
  close(fd);
}

/* Lines of path that contain needle. */
static int count_lines(const char *path, const char *needle) {
  FILE *f = fopen(path, "r");
  char line[4096];
  int n = 0;
  if (f == NULL)
    return -1;
  while (fgets(line, sizeof line, f) != NULL)
    n += strstr(line, needle) != NULL;
  fclose(f);
  return n;
}

static void hosts_run(int hosts, int runs) {
  char so[700], go[256], n[16], logs[8][300];
  wproc p[8];
  char *db = NULL;
  if (pg != NULL) {
    db = pg_cluster_new_db(pg);
    assert_non_null(db);
    snprintf(sc_store, sizeof sc_store, "%s", db);
    free(db);
  } else {
    snprintf(sc_store, sizeof sc_store, "%s/hosts-%d.db", sc_dir, hosts);
  }
  setenv("WFC_STORE", sc_store, 1);
  sc_connect(NICK, "preview", ALICE_UPN, ALICE_PW, 0, -1, conn_id,
             sizeof conn_id);
  expire_access_token();
  char fault[256];
  admin_ok("DELETE", "/__emulator/faults", NULL);
  snprintf(fault, sizeof fault,
           "{\"method\":\"POST\",\"path\":\"/%s/oauth2/v2.0/token\","
           "\"action\":\"delay\",\"delayMs\":300,\"count\":%d}",
           TENANT_DOMAIN, hosts);
  json_object_put(admin("POST", "/__emulator/faults", fault, 201));
  long before = sc_token_requests();

  snprintf(so, sizeof so, "%s/wfc-o365mail.so", sc_u.plugins);
  snprintf(go, sizeof go, "%s/go", sc_dir);
  unlink(go);
  setenv("WFC_LOG", "info", 1);
  for (int i = 0; i < hosts; i++) {
    snprintf(n, sizeof n, "%d", runs / hosts + (i < runs % hosts));
    snprintf(logs[i], sizeof logs[i], "%s/host-%d-%d.log", sc_dir, hosts, i);
    const char *argv[] = {
        WFC_FLEET_HOST, so, "list_folders", NICK, n, go, NULL};
    wproc_start(&p[i], argv, log_to_file, logs[i]);
  }
  unsetenv("WFC_LOG");
  for (int i = 0; i < hosts; i++) {
    char line[64];
    wproc_read_line(&p[i], line, sizeof line);
    if (strcmp(line, "ready") != 0)
      fail_msg("host %d: %s", i, line);
  }
  FILE *f = fopen(go, "w");
  assert_non_null(f);
  fclose(f);
  double t0 = now_ms();
  int ok = 0, failed = 0, waits = 0, refreshes = 0;
  for (int i = 0; i < hosts; i++) {
    int code = wproc_wait(&p[i]), k = 0, m = 0;
    const char *s = strstr(p[i].stdout_, "ok=");
    if (s == NULL || sscanf(s, "ok=%d failed=%d", &k, &m) != 2)
      m = runs;
    if (code != 0)
      fprintf(stderr, "host %d: exit %d (its log: %s)\n", i, code, logs[i]);
    ok += k;
    failed += m;
    waits += count_lines(logs[i], "waiting for its result");
    refreshes += count_lines(logs[i], "refreshing its access token");
  }
  double wall = now_ms() - t0;
  long tokens = sc_token_requests() - before;
  printf("hosts %d (%s): %d runs, %d ok, %d failed; token requests %ld; "
         "lease waits %d; refreshes started %d; %.0f ms until every run "
         "ended\n",
         hosts, pg != NULL ? "postgresql" : "sqlite", runs, ok, failed, tokens,
         waits, refreshes, wall);
  unsetenv("WFC_STORE");
  if (failed != 0)
    fail_msg("%d runs failed", failed);
}

static void bench_hosts(void **state) {
  (void)state;
  int runs = quick ? 60 : 240;
  if (pg == NULL)
    printf("hosts: no PostgreSQL server binaries: the hosts share a SQLite "
           "store instead (one machine)\n");
  hosts_run(1, runs);
  hosts_run(3, runs);
  hosts_run(8, runs);
}

static int setup(void **state) {
  return sc_up(state);
}

static int teardown(void **state) {
  unsetenv("WFC_STORE");
  return sc_down(state);
}

int main(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-q") == 0)
      quick = 1;
    else if (strcmp(argv[i], "-C") == 0 && i + 1 < argc &&
             atoi(argv[i + 1]) > 0)
      card_only = atoi(argv[++i]);
    else {
      fprintf(stderr, "usage: wfc-bench-fleet [-q] [-C card_runs]\n");
      return 2;
    }
  }
  if (fleet_master_key() != 0)
    return 1;
  /* Missing binaries: printed by pg_cluster_start; the rows say skipped. */
  if (!card_only)
    pg = pg_cluster_start();
  const struct CMUnitTest card[] = {
      cmocka_unit_test_setup_teardown(bench_card_run, setup, teardown),
  };
  if (card_only)
    return cmocka_run_group_tests_name("wfc-bench-fleet -C", card, NULL, NULL);
  const struct CMUnitTest steps[] = {
      cmocka_unit_test_setup_teardown(bench_store, setup, teardown),
      cmocka_unit_test_setup_teardown(bench_card_run, setup, teardown),
      cmocka_unit_test_setup_teardown(bench_hosts, setup, teardown),
  };
  int rc = cmocka_run_group_tests_name("wfc-bench-fleet", steps, NULL, NULL);
  if (pg != NULL && pg_cluster_stop(pg) != 0)
    rc = 1;
  return rc;
}
