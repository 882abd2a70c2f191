/* test_fleet_restart.c - the database restarted mid-run (issue 10 items 5
 * and 6; docs/fleet.md, "When the database restarts"): three hosts run
 * keyed sends (`wfc card run o365mail.send_email` with an idempotency key,
 * each key run by two hosts) and a `wfc event watch` takes the mail that
 * arrives, all on one PostgreSQL store, while the database is
 *
 *   A. restarted (fast shutdown, up again at once), then down for 3 s
 *      (an immediate shutdown, as a crash) and up again: shorter than the
 *      store's wait (WFC_STORE_WAIT_MS, 10 s by default), so every run
 *      must succeed: the store waits and runs its operations again;
 *   B. down for 3 s while the hosts' wait is 1 s: the runs that meet it
 *      must fail with an error naming the database (HOST:PORT/DB, never
 *      the password) and saying what to do; each such key is run again
 *      once the database is back.
 *
 * What must hold, read from the emulator's own record of alice's sends
 * and the store: every key's message sent exactly once (duplicates, lost);
 * every run that failed names the database (unclear); every mail
 * delivered into the inbox handed over by the watcher once; the store
 * afterwards: `wfc store copy` into a new SQLite file verifies every row
 * (counts, checksums, MACs), the keys' rows counted (a figure), no
 * subscription lease left held once its watcher stopped.
 *
 * Real parts: a throw-away PostgreSQL cluster (pg_cluster.h) restarted
 * and stopped for real, the emulator, the real `wfc` processes. */
#define _DEFAULT_SOURCE /* usleep, setenv */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <libpq-fe.h>

#include "emu_proc.h"
#include "fleet_fixture.h"
#include "pg_cluster.h"
#include "reliability.h"
#include "store.h"
#include "tfile.h"
#include "wfc_user.h"

#define ALICE    "alice@contoso.test"
#define ALICE_PW "Alice-Passw0rd!"
#define HOSTS    3

static emu_proc *emu;
static wuser u;
static pg_cluster *pg;
static char where[256]; /* the database as messages name it */

static const char *base(void) {
  return emu_proc_url(emu);
}

/* ---- the hosts: keyed sends ---------------------------------------------- */

typedef struct fleet {
  pthread_mutex_t mu;
  rel_counts *c;
  char prefix[64];
  int nkeys;         /* keys 0..nkeys-1; more while the chaos lasts */
  volatile int calm; /* the database's trouble is over */
  int expect_ok;     /* phase A: every run must succeed */
  int *done;         /* per key: a run reported it sent */
  long runs, ok, dedup, failed, named, busy;
} fleet;

static void key_input(const fleet *f, int k, char *buf, size_t len) {
  snprintf(buf, len,
           "{\"to\":[\"bob@contoso.test\"],\"subject\":\"%s%d\","
           "\"body\":\"key %d\",\"idempotency_key\":\"%s-key-%d\"}",
           f->prefix, k, k, f->prefix, k);
}

/* One run of key k: 1 when it reported sent. */
static int run_key(fleet *f, int k) {
  char input[512];
  key_input(f, k, input, sizeof input);
  const char *const args[] = {"card",         "run",    "o365mail.send_email",
                              "--connection", "alice",  "--input",
                              input,          "--json", NULL};
  wproc p;
  wuser_spawn(&u, &p, args);
  rel_wait_or_kill(&p, 120 * 1000000LL);
  int ok = 0, dedup = 0;
  if (p.code == 0) {
    json_object *out = json_tokener_parse(p.stdout_), *v = NULL;
    ok = out != NULL && json_object_object_get_ex(out, "sent", &v) &&
         json_object_get_boolean(v);
    dedup = out != NULL && json_object_object_get_ex(out, "deduplicated", &v) &&
            json_object_get_boolean(v);
    json_object_put(out);
  }
  pthread_mutex_lock(&f->mu);
  f->runs++;
  if (ok) {
    f->ok++;
    f->dedup += dedup;
    f->done[k] = 1;
  } else {
    char msg[1024];
    rel_cli_error(p.stderr_, msg, sizeof msg);
    if (p.code != 0 && strstr(msg, "same idempotency_key") != NULL &&
        strstr(msg, "(EBUSY)") != NULL) {
      /* The other host's run of the key is sending it: a clear "rerun
       * later" (docs/fleet.md), not the database's trouble. */
      f->busy++;
      pthread_mutex_unlock(&f->mu);
      return 0;
    }
    f->failed++;
    if (p.code == 0) {
      f->c->untruthful++;
      rel_note(f->c, "exit 0 without sent:true: %s", p.stdout_);
    } else if (strstr(msg, where) != NULL &&
               strstr(msg, "PostgreSQL database") != NULL) {
      f->named++;
      if (strstr(msg, "s3cr3t") != NULL) { /* the password: never shown */
        f->c->unclear++;
        rel_note(f->c, "the error shows the password: %s", msg);
      }
    } else {
      /* Every failure here comes from the database's trouble: it must
       * name the database. */
      f->c->unclear++;
      rel_note(f->c, "run of key %d failed without naming %s (exit %d): %s", k,
               where, p.code, p.stderr_);
    }
    if (f->expect_ok)
      rel_note(f->c, "run of key %d failed within the store's wait: %s", k,
               msg);
  }
  pthread_mutex_unlock(&f->mu);
  return ok;
}

typedef struct host_arg {
  fleet *f;
  int w;
} host_arg;

/* Host w runs every key k with k % HOSTS != w (each key by two hosts),
 * in order, until the chaos is over and the keys are done. */
static void *host(void *arg) {
  host_arg *h = arg;
  fleet *f = h->f;
  for (int k = 0;; k++) {
    pthread_mutex_lock(&f->mu);
    if (k >= f->nkeys && f->calm) {
      pthread_mutex_unlock(&f->mu);
      break;
    }
    if (k >= f->nkeys)
      f->nkeys = k + 1;
    pthread_mutex_unlock(&f->mu);
    if (k % HOSTS != h->w)
      run_key(f, k);
  }
  return NULL;
}

/* ---- the watcher ----------------------------------------------------------
 */

typedef struct watch {
  pthread_t th;
  char prefix[64];
  int n; /* inbox messages delivered */
  volatile int stop;
  int *seen;
  long runs, exits, lines;
  rel_counts *c;
} watch;

static int number_of(const watch *w, const char *subject) {
  size_t k = strlen(w->prefix);
  if (subject == NULL || strncmp(subject, w->prefix, k) != 0)
    return -1;
  int i = atoi(subject + k);
  return i >= 0 && i < w->n ? i : -1;
}

static void take_lines(watch *w, const char *out) {
  const char *l = out;
  for (const char *nl; (nl = strchr(l, '\n')) != NULL; l = nl + 1) {
    char line[4096];
    snprintf(line, sizeof line, "%.*s", (int)(nl - l), l);
    json_object *j = json_tokener_parse(line), *s = NULL;
    if (j == NULL)
      continue;
    w->lines++;
    json_object_object_get_ex(j, "subject", &s);
    int i = s != NULL ? number_of(w, json_object_get_string(s)) : -1;
    json_object_put(j);
    if (i >= 0)
      w->seen[i]++;
  }
}

#define WATCH(...)                                                             \
  (const char *const[]) {                                                      \
    "event", "watch", "--card", "new_email", "--connection", "alice",          \
        "--json", __VA_ARGS__, NULL                                            \
  }

/* The watcher's stdout and stderr go to files (a pipe nobody reads while
 * it runs would fill and stop it). */
static char watch_out[600], watch_err[600];

static void to_files(void *arg) {
  (void)arg;
  int o = open(watch_out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int e = open(watch_err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
    _exit(127);
  close(o);
  close(e);
}

/* The whole file (malloc'd, NUL-terminated; "" when unreadable). */
static char *slurp(const char *path) {
  size_t n = 0;
  char *buf = tfile_read(path, &n);
  return buf != NULL ? buf : calloc(1, 1);
}

/* One `wfc event watch` for the whole test, stopped (SIGTERM) at the end;
 * one that exits by itself must have named its cause, and is started
 * again. */
static void *watcher(void *arg) {
  watch *w = arg;
  while (!w->stop) {
    const char *const argv[] = {
        u.bin,          "event", "watch",        "--card",     "new_email",
        "--connection", "alice", "--json",       "--interval", "0.2",
        "--store",      u.store, "--plugin-dir", u.plugins,    NULL};
    wproc p;
    wproc_start(&p, argv, to_files, NULL);
    w->runs++;
    while (!w->stop && wproc_running(&p))
      usleep(50000);
    int stopped = w->stop;
    if (stopped) {
      kill(p.pid, SIGTERM);
      for (int i = 0; i < 600 && wproc_running(&p); i++)
        usleep(50000);
      if (wproc_running(&p)) {
        kill(p.pid, SIGKILL);
        w->c->unclear++;
        rel_note(w->c, "the watcher did not stop on SIGTERM within 30 s");
      }
    }
    wproc_wait(&p);
    char *out = slurp(watch_out), *err = slurp(watch_err);
    take_lines(w, out);
    if (!stopped) {
      char msg[1024];
      rel_cli_error(err, msg, sizeof msg);
      w->exits++;
      if (p.code != 0 && strstr(msg, where) == NULL) {
        w->c->unclear++;
        rel_note(w->c, "the watcher exited (%d) without naming %s: %s", p.code,
                 where, err);
      }
    } else if (p.code != 0) {
      w->c->unclear++;
      rel_note(w->c, "the watcher stopped with exit %d: %s", p.code, err);
    }
    free(out);
    free(err);
  }
  return NULL;
}

/* ---- the database's trouble -----------------------------------------------
 */

static void sleep_ms(int ms) {
  usleep((useconds_t)ms * 1000u);
}

static void deliver(watch *w, int i) {
  long st = 0;
  json_object_put(rel_deliver_numbered(base(), ALICE, w->prefix, i, &st));
  assert_int_equal(st, 201);
}

/* Runs the hosts while trouble() happens to the database, mail arriving
 * every 200 ms meanwhile; then waits for the hosts. */
static void phase(fleet *f, watch *w, void (*trouble)(void)) {
  pthread_t th[HOSTS];
  host_arg ha[HOSTS];
  for (int i = 0; i < HOSTS; i++) {
    ha[i] = (host_arg){f, i};
    assert_int_equal(pthread_create(&th[i], NULL, host, &ha[i]), 0);
  }
  sleep_ms(1500);
  deliver(w, w->n++);
  trouble();
  for (int i = 0; i < 5; i++) {
    deliver(w, w->n++);
    sleep_ms(200);
  }
  pthread_mutex_lock(&f->mu);
  f->calm = 1;
  pthread_mutex_unlock(&f->mu);
  for (int i = 0; i < HOSTS; i++)
    pthread_join(th[i], NULL);
}

static void restart_then_crash(void) {
  assert_int_equal(pg_cluster_restart(pg), 0);
  sleep_ms(1500);
  assert_int_equal(pg_cluster_down(pg, 1), 0);
  sleep_ms(3000);
  assert_int_equal(pg_cluster_up(pg), 0);
}

static void down_longer_than_the_wait(void) {
  assert_int_equal(pg_cluster_down(pg, 1), 0);
  sleep_ms(3000);
  assert_int_equal(pg_cluster_up(pg), 0);
}

/* ---- the store afterwards --------------------------------------------------
 */

static long db_count(const char *sql) {
  PGconn *c = PQconnectdb(u.store);
  long v = -1;
  if (PQstatus(c) == CONNECTION_OK) {
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1)
      v = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
  }
  PQfinish(c);
  return v;
}

static void check_store(rel_counts *c, long keys) {
  /* Every row verifies in a verified copy (counts, checksums, MACs). */
  char copy[600];
  snprintf(copy, sizeof copy, "%s/after-restart.db", u.dir);
  const char *const argv[] = {u.bin, "store", "copy", u.store, copy, NULL};
  wproc p;
  wproc_start(&p, argv, NULL, NULL);
  rel_wait_or_kill(&p, 60 * 1000000LL);
  if (p.code != 0) {
    c->corrupt++;
    rel_note(c, "wfc store copy: %s%s", p.stdout_, p.stderr_);
  }
  /* The keys' rows: how many, how many with an outcome (a figure: a run
   * that failed after its send leaves the outcome to the next claimant,
   * which may learn it from the mailbox marker instead; what must hold is
   * each message once at the emulator, counted above). */
  long rows = db_count("SELECT count(*) FROM idempotency");
  long finished = db_count("SELECT count(*) FROM idempotency WHERE result IS"
                           " NOT NULL AND holder IS NULL");
  rel_figure(c, "keys=%ld key_rows=%ld key_rows_finished=%ld", keys, rows,
             finished);
  if (rows != keys || finished != keys) {
    PGconn *pc = PQconnectdb(u.store);
    PGresult *r = PQexec(pc, "SELECT key, holder, expires_at, result IS NULL"
                             " FROM idempotency WHERE result IS NULL OR"
                             " holder IS NOT NULL");
    for (int i = 0; PQresultStatus(r) == PGRES_TUPLES_OK && i < PQntuples(r);
         i++)
      printf("fleet_db_restart: unfinished key %s holder %s expires_at %s\n",
             PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2));
    PQclear(r);
    PQfinish(pc);
  }
  /* The watcher stopped: its lease is released or expires; never stuck. */
  long held = db_count("SELECT count(*) FROM sub_leases WHERE expires_at >"
                       " (extract(epoch from clock_timestamp()) * 1000 + "
                       "  120000)::bigint");
  if (held != 0) {
    c->corrupt++;
    rel_note(c, "%ld subscription lease(s) held for more than 2 minutes", held);
  }
}

/* ---- the test
 * ------------------------------------------------------------------ */

static void count_sends(rel_counts *c, const fleet *f) {
  json_object *sent = rel_sent(base(), ALICE);
  assert_non_null(sent);
  for (int k = 0; k < f->nkeys; k++) {
    char subject[128];
    snprintf(subject, sizeof subject, "%s%d", f->prefix, k);
    int n = rel_count_eq(sent, "subject", subject);
    c->trials++;
    if (n == 0) {
      c->lost++;
      rel_note(c, "key %d was never sent", k);
    } else if (n > 1) {
      c->duplicates += n - 1;
      rel_note(c, "key %d sent %d times", k, n);
    }
  }
  json_object_put(sent);
}

static void database_restarted_mid_run(void **state) {
  (void)state;
  rel_counts c = {.test = "fleet_db_restart"};
  rel_connect(u.bin, u.store, u.plugins, base(), "alice", ALICE, ALICE_PW);

  watch w = {.c = &c};
  snprintf(w.prefix, sizeof w.prefix, "inbox %llu #",
           (unsigned long long)rel_seed());
  w.seen = calloc(64, sizeof *w.seen);
  snprintf(watch_out, sizeof watch_out, "%s/watch.out", u.dir);
  snprintf(watch_err, sizeof watch_err, "%s/watch.err", u.dir);
  assert_non_null(w.seen);
  {
    /* Records where the subscription starts: mail from now on is new. */
    wproc p;
    assert_int_equal(wuser_run(&u, &p, WATCH("--once")), 0);
  }
  assert_int_equal(pthread_create(&w.th, NULL, watcher, &w), 0);

  /* A: restart and a short crash, within the store's wait. */
  fleet a = {.c = &c, .expect_ok = 1};
  pthread_mutex_init(&a.mu, NULL);
  snprintf(a.prefix, sizeof a.prefix, "restart %llu A #",
           (unsigned long long)rel_seed());
  a.done = calloc(4096, sizeof *a.done);
  assert_non_null(a.done);
  phase(&a, &w, restart_then_crash);

  /* B: down longer than the hosts' wait: named errors, then again. */
  setenv("WFC_STORE_WAIT_MS", "1000", 1);
  fleet b = {.c = &c};
  pthread_mutex_init(&b.mu, NULL);
  snprintf(b.prefix, sizeof b.prefix, "restart %llu B #",
           (unsigned long long)rel_seed());
  b.done = calloc(4096, sizeof *b.done);
  assert_non_null(b.done);
  phase(&b, &w, down_longer_than_the_wait);
  unsetenv("WFC_STORE_WAIT_MS");
  long retried = 0;
  for (int k = 0; k < b.nkeys; k++)
    for (int t = 0; !b.done[k] && t < 3; t++, retried++)
      run_key(&b, k);

  /* The watcher: stopped; a last run takes what is left. */
  sleep_ms(1000);
  w.stop = 1;
  pthread_join(w.th, NULL);
  {
    wproc p;
    wuser_spawn(&u, &p, WATCH("--once"));
    rel_wait_or_kill(&p, 60 * 1000000LL);
    take_lines(&w, p.stdout_);
    if (p.code != 0) {
      c.unclear++;
      rel_note(&c, "the last watch failed: %s", p.stderr_);
    }
  }
  for (int i = 0; i < w.n; i++) {
    c.trials++;
    if (w.seen[i] == 0) {
      c.lost++;
      rel_note(&c, "inbox message %d was never handed over", i);
    } else if (w.seen[i] > 1) {
      c.duplicates += w.seen[i] - 1;
      rel_note(&c, "inbox message %d handed over %d times", i, w.seen[i]);
    }
  }

  count_sends(&c, &a);
  count_sends(&c, &b);
  check_store(&c, (long)a.nkeys + b.nkeys);
  rel_figure(&c,
             "hosts=%d runs_a=%ld failed_a=%ld runs_b=%ld failed_b=%ld "
             "named_b=%ld retried_b=%ld dedup=%ld busy=%ld watcher_runs=%ld "
             "watcher_exits=%ld",
             HOSTS, a.runs, a.failed, b.runs, b.failed, b.named, retried,
             a.dedup + b.dedup, a.busy + b.busy, w.runs, w.exits);
  /* A: the store's wait covers the restart and the short crash. */
  if (a.failed != 0)
    c.lost += a.failed;
  free(a.done);
  free(b.done);
  free(w.seen);
  assert_int_equal(rel_report(&c), 0);
  /* B: the database was down longer than the wait while runs went on:
   * some met it, and said so by name. */
  assert_true(b.failed > 0);
  assert_int_equal(b.named, b.failed);
}

static int setup(void **state) {
  (void)state;
  unsetenv("WFC_STORE_WAIT_MS");
  if (fleet_up(&pg, &emu, &u, "fleet-restart") != 0)
    return -1;
  wfc__store_describe(u.store, where, sizeof where);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  return fleet_down(pg, emu, &u);
}

int main(void) {
  rel_watchdog("fleet-restart", 400, 900);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(database_restarted_mid_run),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
