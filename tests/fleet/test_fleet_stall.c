/* test_fleet_stall.c - a lease holder that stalls, not dies (issue 10;
 * docs/fleet.md, "Fencing"): a process stopped (SIGSTOP, as a GC pause, a
 * swap storm or a frozen VM would) past its lease while another process
 * takes the lease over and does the work, then let run again (SIGCONT).
 * Its writes under the lost lease must be refused (fencing numbers,
 * docs/store.md): it may not overwrite the newer tokens with its own, nor
 * hand over events the other one delivers.
 *
 * Real parts: the emulator, a connection made by `wfc connection new`
 * (the test plays the browser), the real `wfc` in every role, real
 * SIGSTOP/SIGCONT; each test on a SQLite store file and on a throw-away
 * PostgreSQL (pg_cluster.h).
 *
 * - refresh_stall: `wfc connection refresh` A takes the refresh lease,
 *   its token request held 2 s at the emulator; A is stopped; B (`wfc
 *   connection refresh`) waits out A's lease (30 s: A is alive, only
 *   stopped), refreshes and saves. A runs again and gets its answer: the
 *   store must still hold B's tokens (A's, older, dropped), the
 *   connection works, and a refresh with the stored refresh token works.
 * - watch_stall: `wfc event watch` A hands over a batch of new mails to
 *   a one-page pipe the test stops reading after A's first line, so that A
 *   blocks writing an event mid-batch (outside any store transaction:
 *   cli/event.c prints an event between recording the previous one and
 *   recording it) and is stopped there; B takes the subscription over once
 *   A's lease expired and delivers the rest; A runs again: it must stop
 *   handing its batch over. Every mail is delivered, none twice but the
 *   one line the documented window allows (the event A printed before it
 *   could record it, docs/events.md).
 *
 * - test_skewed_host_waits (PostgreSQL): a `wfc card run` whose clock is
 *   2 minutes ahead (WFC_TEST_CLOCK_SKEW_MS) while `wfc connection
 *   refresh` holds the lease: it waits for that refresh (expiry is the
 *   database's clock), 1 token request.
 *
 * Label `reliability`: "reliability:" lines; fails on a lost token or
 * event, a duplicate. */
#define _GNU_SOURCE /* F_SETPIPE_SZ; usleep, setenv, kill */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include "../scenarios/scen.h"
#include "clock.h"
#include "crypto.h"
#include "fleet_fixture.h"
#include "json.h"
#include "json_secret.h"
#include "pg_cluster.h"
#include "reliability.h"
#include "store.h"
#include "tsys.h"

#define NICK "stall"

static pg_cluster *pg;

static wfc__store *store_open(void) {
  wfc__store *st = NULL;
  char err[512];
  if (wfc__store_open(sc_store, &st, err, sizeof err) != 0)
    fail_msg("open %s: %s", sc_store, err);
  return st;
}

/* The stored secrets of conn_id (parsed; wfc__json_cleanse_put it). */
static json_object *stored_secrets(const char *conn_id) {
  wfc__store *st = store_open();
  char *text = NULL;
  assert_int_equal(wfc__store_conn_secrets(st, conn_id, &text), 0);
  json_object *s = json_tokener_parse(text);
  wfc__secret_free(text);
  wfc__store_close(st);
  assert_non_null(s);
  return s;
}

static const char *cred(json_object *s, const char *name) {
  const char *v = wfc__json_str(wfc__json_obj(s, "credentials"), name);
  return v != NULL ? v : "";
}

/* Ages the access token as an hour passing would. */
static void expire_access_token(const char *conn_id) {
  char err[512];
  if (fleet_expire_access_token(sc_store, conn_id, err, sizeof err) != 0)
    fail_msg("%s", err);
}

/* The next token request answered after delay_ms. */
static void token_delay(long delay_ms) {
  char b[256];
  admin_ok("DELETE", "/__emulator/faults", NULL);
  snprintf(b, sizeof b,
           "{\"method\":\"POST\",\"path\":\"/%s/oauth2/v2.0/token\","
           "\"action\":\"delay\",\"delayMs\":%ld,\"count\":1}",
           TENANT_DOMAIN, delay_ms);
  json_object_put(admin("POST", "/__emulator/faults", b, 201));
}

/* Starts `wfc argv` in *a and waits until it holds conn_id's refresh
 * lease (its token request held at the emulator); fails the test when it
 * ends or has not taken it within 20 s. */
static void spawn_lease_holder(wproc *a, const char *const *argv,
                               const char *conn_id) {
  sc_spawn(a, argv);
  wfc__store *st = store_open();
  wfc__lease l;
  long long end = tsys_mono_ms() + 20000;
  while (wfc__store_lease_get(st, conn_id, &l) != 0 && tsys_mono_ms() < end &&
         wproc_running(a))
    tsys_sleep_ms(10);
  wfc__store_close(st);
  if (!wproc_running(a) || tsys_mono_ms() >= end) {
    kill(a->pid, SIGKILL);
    sc_finish(a);
    fail_msg("A did not take the lease: %s", a->stderr_);
  }
}

static void refresh_stall(const char *name) {
  char conn_id[WFC__CONN_ID_SIZE];
  sc_connect(NICK, "preview", ALICE_UPN, ALICE_PW, 0, -1, conn_id,
             sizeof conn_id);
  expire_access_token(conn_id);
  token_delay(2000);
  long before = sc_token_requests();
  const char *const refresh[] = {"connection", "refresh", NICK, NULL};

  /* A takes the lease; its token request is held at the emulator. */
  wproc a;
  spawn_lease_holder(&a, refresh, conn_id);
  tsys_sleep_ms(200);
  kill(a.pid, SIGSTOP);

  /* B waits out A's lease (A lives: not taken over early), refreshes. */
  long t0 = tsys_mono_ms();
  wproc b;
  int code_b = sc_wfc(&b, refresh);
  long waited = tsys_mono_ms() - t0;
  json_object *after_b = stored_secrets(conn_id);

  /* A runs again: its answer (older tokens) arrives. */
  kill(a.pid, SIGCONT);
  int code_a = sc_finish(&a);
  json_object *final = stored_secrets(conn_id);
  int same_rt =
      strcmp(cred(after_b, "refresh_token"), cred(final, "refresh_token")) == 0;
  int same_at =
      strcmp(cred(after_b, "access_token"), cred(final, "access_token")) == 0;
  wfc__json_cleanse_put(after_b);
  wfc__json_cleanse_put(final);
  long tokens = sc_token_requests() - before;

  /* The connection works, and so does a refresh with the stored token. */
  int card = sc_list_folders(NICK);
  wproc r;
  int again = sc_wfc(&r, refresh);

  rel_counts c = {.test = name, .trials = 1};
  c.lost = !same_rt || !same_at || card != 0 || again != 0;
  rel_figure(&c, "b_waited_ms=%ld", waited);
  rel_figure(&c, "token_requests=%ld", tokens);
  rel_figure(&c, "a_exit=%d", code_a);
  rel_figure(&c, "store_kept_newest=%d", same_rt && same_at);
  if (!same_rt || !same_at)
    rel_note(&c, "A's older tokens overwrote B's: %s", a.stderr_);
  rel_report(&c);
  if (code_b != 0)
    fprintf(stderr, "B: %s", b.stderr_);
  assert_int_equal(code_b, 0);
  assert_true(waited >= 20000); /* A's lease was waited out, not stolen */
  assert_true(same_rt);
  assert_true(same_at);
  assert_int_equal(card, 0);
  assert_int_equal(again, 0);
  /* A reports the refresh done: the store's tokens (B's) serve it. */
  if (code_a != 0)
    fprintf(stderr, "A: %s", a.stderr_);
  assert_int_equal(code_a, 0);
  assert_non_null(strstr(a.stderr_, "taken over"));
}

/* PostgreSQL: a host whose clock runs 2 minutes ahead (a whole `wfc`
 * process, WFC_TEST_CLOCK_SKEW_MS) does not take the refresh lease that
 * `wfc connection refresh` holds (token request held 3 s): expiry is the
 * database's clock. It waits for that refresh and uses its token: 1 token
 * request. */
static void test_skewed_host_waits(void **state) {
  (void)state;
  char conn_id[WFC__CONN_ID_SIZE];
  sc_connect(NICK, "preview", ALICE_UPN, ALICE_PW, 0, -1, conn_id,
             sizeof conn_id);
  expire_access_token(conn_id);
  token_delay(3000);
  long before = sc_token_requests();
  const char *const refresh[] = {"connection", "refresh", NICK, NULL};
  wproc a;
  spawn_lease_holder(&a, refresh, conn_id);
  setenv("WFC_TEST_CLOCK_SKEW_MS", "120000", 1);
  wproc b;
  int code_b = sc_card(&b, "list_folders", NICK, "{}");
  unsetenv("WFC_TEST_CLOCK_SKEW_MS");
  int code_a = sc_finish(&a);
  long tokens = sc_token_requests() - before;
  rel_counts c = {.test = "fleet_skewed_host", .trials = 1};
  c.lost = code_a != 0 || code_b != 0;
  c.duplicates = tokens > 1 ? tokens - 1 : 0;
  rel_figure(&c, "skew_ms=120000");
  rel_figure(&c, "token_requests=%ld", tokens);
  rel_report(&c);
  if (code_b != 0)
    fprintf(stderr, "B: %s", b.stderr_);
  assert_int_equal(code_a, 0);
  assert_int_equal(code_b, 0);
  assert_int_equal(tokens, 1);
}

/* ---- watch_stall ---------------------------------------------------------
 */

/* B's stdout goes to a file (a pipe would fill while the test waits, and
 * block it); A's stays on its wproc pipe, which the test reads (pump). */
static void to_file(void *arg) {
  int fd = open(arg, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || dup2(fd, 1) < 0)
    _exit(127);
  close(fd);
}

/* interval: A's is long enough for every mail to be in before its first
 * real poll, so that its batch holds them all. */
static void spawn_watch(wproc *p, const char *out, const char *interval) {
  const char *argv[] = {
      sc_u.bin,       "event",        "watch",      "--card", "new_email",
      "--connection", NICK,           "--interval", interval, "--store",
      sc_store,       "--plugin-dir", sc_u.plugins, NULL};
  wproc_start(p, argv, out != NULL ? to_file : NULL, (void *)out);
}

/* Copies what the pipe fd (non-blocking) holds to the end of file path,
 * waiting up to wait_ms for the first bytes; returns 0 at end of file. */
static int pump(int fd, const char *path, int wait_ms) {
  struct pollfd pf = {.fd = fd, .events = POLLIN};
  if (poll(&pf, 1, wait_ms) <= 0)
    return 1;
  int out = open(path, O_WRONLY | O_CREAT | O_APPEND, 0600);
  assert_true(out >= 0);
  char buf[4096];
  ssize_t r;
  while ((r = read(fd, buf, sizeof buf)) > 0)
    assert_int_equal(write(out, buf, (size_t)r), r);
  close(out);
  if (r < 0 && errno != EAGAIN && errno != EINTR)
    fail_msg("reading A's stdout: %s", strerror(errno));
  return r != 0;
}

/* 1 once pid sleeps in a write to a full pipe (its wchan); waits up to
 * timeout_ms. 0 where the kernel does not say (the stop is still
 * mid-batch: the pipe holds A back). */
static int blocked_in_pipe_write(pid_t pid, long timeout_ms) {
  char path[64], w[128];
  snprintf(path, sizeof path, "/proc/%d/wchan", (int)pid);
  long end = tsys_mono_ms() + timeout_ms;
  do {
    FILE *fp = fopen(path, "r");
    size_t k = fp != NULL ? fread(w, 1, sizeof w - 1, fp) : 0;
    if (fp != NULL)
      fclose(fp);
    w[k] = '\0';
    if (strstr(w, "pipe_write") != NULL)
      return 1;
    tsys_sleep_ms(5);
  } while (tsys_mono_ms() < end);
  return 0;
}

/* The numbers of the subjects "<prefix><i>" in the first max complete lines
 * (all when max < 0) of file path, in order, into seen[] (counts) and the
 * last one into *last; returns the lines. */
static int count_lines_max(const char *path, const char *prefix, int n,
                           int *seen, int *last, int max) {
  FILE *fp = fopen(path, "r");
  char line[65536];
  int lines = 0;
  size_t k = strlen(prefix);
  *last = -1;
  if (fp == NULL)
    return 0;
  while ((max < 0 || lines < max) && fgets(line, sizeof line, fp) != NULL) {
    if (strchr(line, '\n') == NULL)
      break; /* being written */
    json_object *j = json_tokener_parse(line), *s = NULL;
    lines++;
    if (j != NULL && json_object_object_get_ex(j, "subject", &s)) {
      const char *v = json_object_get_string(s);
      if (v != NULL && strncmp(v, prefix, k) == 0) {
        int i = atoi(v + k);
        if (i >= 0 && i < n) {
          if (seen != NULL)
            seen[i]++;
          *last = i;
        }
      }
    }
    json_object_put(j);
  }
  fclose(fp);
  return lines;
}

static int count_lines(const char *path, const char *prefix, int n, int *seen,
                       int *last) {
  return count_lines_max(path, prefix, n, seen, last, -1);
}

/* 1 when a process holds the store's write lock (SQLite: a write
 * transaction) or an open transaction (PostgreSQL: its row locks), as a
 * process stopped inside one does. */
static int store_in_tx(void) {
  int busy = 0;
  if (strncmp(sc_store, "postgresql", 10) == 0) {
    PGconn *c = PQconnectdb(sc_store);
    PGresult *r = PQexec(c, "SELECT count(*) FROM pg_stat_activity"
                            " WHERE datname = current_database()"
                            " AND state LIKE 'idle in transaction%'");
    busy = PQresultStatus(r) == PGRES_TUPLES_OK && atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    PQfinish(c);
    return busy;
  }
  sqlite3 *db = NULL;
  if (sqlite3_open_v2(sc_store, &db, SQLITE_OPEN_READWRITE, NULL) ==
      SQLITE_OK) {
    sqlite3_busy_timeout(db, 0);
    busy = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK;
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
  }
  sqlite3_close(db);
  return busy;
}

/* Stops pid outside a store transaction: a process stopped inside one
 * holds its locks, and nobody can take its lease over until the database
 * ends it (SQLite: never, one machine; PostgreSQL: the session's
 * idle_in_transaction_session_timeout) - then there is nothing to fence.
 * The tries it took: 1 when pid sleeps in a write to its full stdout pipe;
 * more only where that could not be seen, with pid held back by that pipe
 * between tries (it records at most the event it is writing). */
static int stop_outside_tx(pid_t pid) {
  for (int tries = 1;; tries++) {
    kill(pid, SIGSTOP);
    usleep(20000); /* let a stop in flight land */
    if (!store_in_tx() || tries == 500)
      return tries;
    kill(pid, SIGCONT);
    usleep(1000 + 1000 * (tries % 5));
  }
}

static void watch_stall(const char *name) {
  char conn_id[WFC__CONN_ID_SIZE], out_a[256], out_b[256], prefix[64];
  int n = rel_trials(200, 500);
  sc_connect(NICK, "preview", ALICE_UPN, ALICE_PW, 0, -1, conn_id,
             sizeof conn_id);
  snprintf(out_a, sizeof out_a, "%s/a.out", sc_dir);
  snprintf(out_b, sizeof out_b, "%s/b.out", sc_dir);
  snprintf(prefix, sizeof prefix, "stall %llu #",
           (unsigned long long)rel_seed());

  /* The subscription's start stored first (a --once run), then the mails,
   * then A: its first poll hands them all over in one batch. */
  wproc a, b, once;
  const char *const first[] = {"event",        "watch", "--card", "new_email",
                               "--connection", NICK,    "--once", NULL};
  assert_int_equal(sc_wfc(&once, first), 0);
  for (int i = 0; i < n; i++) {
    char body[512];
    snprintf(body, sizeof body,
             "{\"subject\":\"%s%d\",\"from\":\"bob@contoso.test\","
             "\"body\":{\"contentType\":\"text\",\"content\":\"n %d\"}}",
             prefix, i, i);
    json_object_put(
        admin("POST", "/__emulator/mail/" ALICE_UPN "/messages", body, 201));
  }
  /* A's stdout: a one-page pipe (empty: A has not polled yet), read into
   * out_a until A's first line, then no more until A is stopped. A then
   * prints at most a page more and blocks in the write of an event
   * mid-batch: printed after the previous one was recorded, before its own
   * record (cli/event.c), so outside any store transaction. */
  spawn_watch(&a, NULL, "8");
  int page = (int)sysconf(_SC_PAGESIZE);
  assert_int_equal(fcntl(a.out, F_SETPIPE_SZ, page), page);
  assert_int_equal(fcntl(a.out, F_SETFL, O_NONBLOCK), 0);
  int last = -1;
  long end = tsys_mono_ms() + 30000;
  while (count_lines(out_a, prefix, n, NULL, &last) == 0 &&
         tsys_mono_ms() < end && wproc_running(&a))
    pump(a.out, out_a, 100);
  if (last < 0) {
    kill(a.pid, SIGKILL);
    wproc_wait(&a);
    fail_msg("A handed nothing over: %s", a.stderr_);
  }
  int blocked = blocked_in_pipe_write(a.pid, 20000);
  int tries = stop_outside_tx(a.pid);
  pump(a.out, out_a, 0); /* what A wrote before it stopped */
  int a_before = count_lines(out_a, prefix, n, NULL, &last);
  /* Printed, maybe not recorded, when A stopped: the last whole line (A
   * stopped between printing and recording it) or the one A was writing
   * (its line a_before, finished once it runs again). */
  int window = last, window_next = -1;
  /* A stopped with part of its batch still to hand over: by the pipe. */
  assert_true(a_before < n);

  /* B stands by until A's lease (2 intervals + 30 s: 46 s) expired, then
   * delivers what A did not record. */
  spawn_watch(&b, out_b, "1");
  int *seen = calloc((size_t)n, sizeof *seen);
  assert_non_null(seen);
  int covered = 0;
  end = tsys_mono_ms() + 120000;
  while (covered < n && tsys_mono_ms() < end) {
    tsys_sleep_ms(200);
    memset(seen, 0, (size_t)n * sizeof *seen);
    int l;
    count_lines(out_a, prefix, n, seen, &l);
    count_lines(out_b, prefix, n, seen, &l);
    covered = 0;
    for (int i = 0; i < n; i++)
      covered += seen[i] > 0;
  }

  /* A runs again, B keeps watching: a few of A's poll intervals; A's
   * stdout read to its end. */
  kill(a.pid, SIGCONT);
  end = tsys_mono_ms() + 4000;
  while (tsys_mono_ms() < end)
    pump(a.out, out_a, 100);
  kill(a.pid, SIGTERM);
  kill(b.pid, SIGTERM);
  end = tsys_mono_ms() + 30000;
  while (pump(a.out, out_a, 100) && tsys_mono_ms() < end)
    ;
  wproc_wait(&a);
  wproc_wait(&b);

  int l;
  if (count_lines_max(out_a, prefix, n, NULL, &l, a_before + 1) > a_before)
    window_next = l;
  memset(seen, 0, (size_t)n * sizeof *seen);
  int a_lines = count_lines(out_a, prefix, n, seen, &l);
  int b_lines = count_lines(out_b, prefix, n, seen, &l);
  rel_counts c = {.test = name, .trials = n};
  long window_repeats = 0;
  for (int i = 0; i < n; i++) {
    if (seen[i] == 0) {
      c.lost++;
      rel_note(&c, "mail %d never delivered", i);
    } else if (seen[i] > 1) {
      long extra = seen[i] - 1;
      if (i == window || i == window_next) {
        window_repeats++;
        extra--;
      }
      c.duplicates += extra;
      if (extra > 0)
        rel_note(&c, "mail %d delivered %d times", i, seen[i]);
    }
  }
  /* One event at most can be in the window (A stopped either after
   * printing it or while printing it). */
  if (window_repeats > 1)
    c.duplicates += window_repeats - 1;
  rel_figure(&c, "a_blocked_in_write=%d", blocked);
  rel_figure(&c, "stop_tries=%d", tries);
  rel_figure(&c, "a_lines_before_stop=%d", a_before);
  rel_figure(&c, "a_lines=%d", a_lines);
  rel_figure(&c, "b_lines=%d", b_lines);
  rel_figure(&c, "window_repeats=%ld", window_repeats);
  rel_report(&c);
  free(seen);
  if (c.duplicates > 0)
    fprintf(stderr, "A: %s\n", a.stderr_);
  assert_int_equal(c.lost, 0);
  assert_int_equal(c.duplicates, 0);
}

static void test_refresh_stall(void **state) {
  (void)state;
  refresh_stall(pg != NULL && strncmp(sc_store, "postgresql", 10) == 0
                    ? "fleet_stall_refresh_pg"
                    : "fleet_stall_refresh_sqlite");
}

static void test_watch_stall(void **state) {
  (void)state;
  watch_stall(strncmp(sc_store, "postgresql", 10) == 0
                  ? "fleet_stall_watch_pg"
                  : "fleet_stall_watch_sqlite");
}

/* A fresh SQLite store file (sc_up's). */
static int setup_sqlite(void **state) {
  unsetenv("WFC_STORE");
  return sc_up(state);
}

/* A fresh database store. */
static int setup_pg(void **state) {
  if (sc_up(state) != 0)
    return -1;
  char *db = pg_cluster_new_db(pg);
  if (db == NULL || strlen(db) >= sizeof sc_store) {
    free(db);
    return -1;
  }
  snprintf(sc_store, sizeof sc_store, "%s", db);
  free(db);
  setenv("WFC_STORE", sc_store, 1);
  return 0;
}

static int teardown(void **state) {
  unsetenv("WFC_STORE");
  return sc_down(state);
}

static int group_setup(void **state) {
  (void)state;
  uint8_t key[32];
  char hex[65];
  if (wfc__random(key, sizeof key) != 0 ||
      wfc__hex_encode(key, sizeof key, hex, sizeof hex) != 0)
    return -1;
  setenv("WFC_MASTER_KEY", hex, 1);
  return (pg = pg_cluster_start()) != NULL ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  return pg_cluster_stop(pg) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_refresh_stall, setup_sqlite,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_refresh_stall, setup_pg, teardown),
      cmocka_unit_test_setup_teardown(test_skewed_host_waits, setup_pg,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_watch_stall, setup_sqlite, teardown),
      cmocka_unit_test_setup_teardown(test_watch_stall, setup_pg, teardown),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
