/* test_pg_cluster.c - the test harness's throw-away PostgreSQL
 * (tests/support/pg_cluster.h): it starts, answers SQL through libpq on
 * its URL, keyword and Unix-socket forms, restarts (fast and like a crash)
 * keeping committed data, stops leaving no process and no directory, and
 * nothing survives a test that dies without stopping it (exit, SIGKILL);
 * a server (re)started while another thread runs a child with wproc does
 * not hold that child's pipes (its wait ends with the child).
 * Fails, saying to run scripts/install-deps, when the server binaries are
 * missing: CI installs them. */
#define _POSIX_C_SOURCE 200809L /* kill, nanosleep, setenv */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "pg_cluster.h"
#include "tsys.h"
#include "wfc_proc.h"

/* The first value of the first row of sql on conninfo, into out. 0, or
 * -1 (the error in out). */
static int query1(const char *conninfo, const char *sql, char *out,
                  size_t cap) {
  PGconn *c = PQconnectdb(conninfo);
  int rc = -1;
  if (PQstatus(c) != CONNECTION_OK) {
    snprintf(out, cap, "%s", PQerrorMessage(c));
  } else {
    PGresult *r = PQexec(c, sql);
    if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) {
      snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
      rc = 0;
    } else if (PQresultStatus(r) == PGRES_COMMAND_OK) {
      snprintf(out, cap, "%s", PQcmdStatus(r));
      rc = 0;
    } else {
      snprintf(out, cap, "%s", PQerrorMessage(c));
    }
    PQclear(r);
  }
  PQfinish(c);
  return rc;
}

static void must_query(const char *conninfo, const char *sql,
                       const char *want) {
  char out[512];
  if (query1(conninfo, sql, out, sizeof out) != 0)
    fail_msg("%s on %s: %s", sql, conninfo, out);
  if (want != NULL && strcmp(out, want) != 0)
    fail_msg("%s: got '%s', want '%s'", sql, out, want);
}

/* Whether a process pid exists (not a zombie of ours: reaped ones are
 * gone). */
static int alive(pid_t pid) {
  return pid > 0 && (kill(pid, 0) == 0 || errno != ESRCH);
}

/* The children of ppid now (the server's backends and helpers), from
 * /proc/N/stat; n returned. */
static int children_of(pid_t ppid, pid_t *out, int cap) {
  DIR *d = opendir("/proc");
  struct dirent *e;
  int n = 0;
  if (d == NULL)
    return 0;
  while (n < cap && (e = readdir(d)) != NULL) {
    char path[300], buf[512];
    int pid = atoi(e->d_name), pp = 0;
    if (pid <= 0)
      continue;
    snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
    FILE *f = fopen(path, "r");
    if (f == NULL)
      continue;
    size_t len = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[len] = '\0';
    /* "pid (comm) state ppid ...": comm may hold spaces; after the last ')'. */
    char *rp = strrchr(buf, ')');
    if (rp != NULL && sscanf(rp + 1, " %*c %d", &pp) == 1 && pp == (int)ppid)
      out[n++] = (pid_t)pid;
  }
  closedir(d);
  return n;
}

static int dir_exists(const char *url_dir) {
  return access(url_dir, F_OK) == 0;
}

/* The temporary directory, from the Unix-socket conninfo "host=DIR ...". */
static void cluster_dir(const pg_cluster *pg, char *out, size_t cap) {
  const char *s = pg_cluster_socket_conninfo(pg) + strlen("host=");
  size_t n = strcspn(s, " ");
  snprintf(out, cap, "%.*s", (int)n, s);
}

static void test_start_sql_restart_stop(void **state) {
  (void)state;
  long long t0 = tsys_mono_ms();
  pg_cluster *pg = pg_cluster_start();
  long long started = tsys_mono_ms() - t0;
  if (pg == NULL)
    fail_msg("pg_cluster_start failed (see above); if the PostgreSQL server "
             "binaries are missing, run scripts/install-deps");
  printf("pg_cluster: started in %lld ms on port %d\n", started,
         pg_cluster_port(pg));

  char want[128], dir[128];
  snprintf(want, sizeof want, "postgresql://wfc@127.0.0.1:%d/wfc",
           pg_cluster_port(pg));
  assert_string_equal(pg_cluster_url(pg), want);
  cluster_dir(pg, dir, sizeof dir);
  assert_true(dir_exists(dir));

  /* The URL, the keyword form and the Unix socket reach the same
   * database as the test's role, which is not a superuser. */
  must_query(pg_cluster_url(pg), "CREATE TABLE t (id int PRIMARY KEY, v text)",
             NULL);
  must_query(pg_cluster_conninfo(pg), "INSERT INTO t VALUES (1, 'one')", NULL);
  must_query(pg_cluster_socket_conninfo(pg), "SELECT v FROM t WHERE id = 1",
             "one");
  must_query(pg_cluster_url(pg), "SELECT current_user", "wfc");
  must_query(pg_cluster_url(pg), "SELECT current_database()", "wfc");
  must_query(pg_cluster_url(pg),
             "SELECT rolsuper::text FROM pg_roles WHERE rolname = "
             "current_user",
             "false");
  must_query(pg_cluster_url(pg), "SHOW listen_addresses", "127.0.0.1");
  must_query(pg_cluster_admin_conninfo(pg), "SELECT current_user", "wfc_admin");

  /* A fresh database per test when wanted. */
  char *db = pg_cluster_new_db(pg);
  assert_non_null(db);
  must_query(db, "SELECT current_database()", "wfc_1");
  free(db);

  /* Restarted mid-run: an open session is cut, the URL works again, and
   * the committed row is there. */
  PGconn *held = PQconnectdb(pg_cluster_url(pg));
  assert_int_equal(PQstatus(held), CONNECTION_OK);
  pid_t pid1 = pg_cluster_pid(pg);
  t0 = tsys_mono_ms();
  assert_int_equal(pg_cluster_restart(pg), 0);
  printf("pg_cluster: restarted (fast) in %lld ms\n", tsys_mono_ms() - t0);
  assert_false(alive(pid1));
  assert_true(pg_cluster_pid(pg) > 0 && pg_cluster_pid(pg) != pid1);
  PGresult *r = PQexec(held, "SELECT 1");
  assert_int_not_equal(PQresultStatus(r), PGRES_TUPLES_OK);
  PQclear(r);
  PQfinish(held);
  must_query(pg_cluster_url(pg), "SELECT v FROM t WHERE id = 1", "one");

  /* Down like a crash (immediate), the database refuses, then up again:
   * recovery keeps what was committed. */
  must_query(pg_cluster_url(pg), "INSERT INTO t VALUES (2, 'two')", NULL);
  assert_int_equal(pg_cluster_down(pg, 1), 0);
  assert_int_equal(pg_cluster_pid(pg), 0);
  assert_int_equal(PQping(pg_cluster_conninfo(pg)), PQPING_NO_RESPONSE);
  t0 = tsys_mono_ms();
  assert_int_equal(pg_cluster_up(pg), 0);
  printf("pg_cluster: up after an immediate shutdown in %lld ms\n",
         tsys_mono_ms() - t0);
  must_query(pg_cluster_url(pg), "SELECT count(*) FROM t", "2");

  /* Stop: the postmaster and every process it had are gone, the port
   * answers nothing, the directory is removed. */
  PGconn *idle = PQconnectdb(pg_cluster_url(pg)); /* one backend more */
  assert_int_equal(PQstatus(idle), CONNECTION_OK);
  pid_t server = pg_cluster_pid(pg), kids[64];
  int nkids = children_of(server, kids, 64);
  assert_true(nkids >= 2); /* at least the backend and the checkpointer */
  char conninfo[160];
  snprintf(conninfo, sizeof conninfo, "%s", pg_cluster_conninfo(pg));
  t0 = tsys_mono_ms();
  assert_int_equal(pg_cluster_stop(pg), 0);
  printf("pg_cluster: stopped in %lld ms\n", tsys_mono_ms() - t0);
  PQfinish(idle);
  assert_false(alive(server));
  for (int i = 0; i < nkids; i++)
    assert_false(alive(kids[i]));
  assert_int_equal(PQping(conninfo), PQPING_NO_RESPONSE);
  assert_false(dir_exists(dir));
}

/* A test process that dies: by exit() without pg_cluster_stop (atexit)
 * or by SIGKILL (the server's parent-death signal; the next start sweeps
 * the directory). Either way no server is left and, after the next start,
 * no directory. */
static void crash_case(int how_kill) {
  int fds[2];
  assert_int_equal(pipe(fds), 0);
  pid_t child = fork();
  assert_true(child >= 0);
  if (child == 0) {
    close(fds[0]);
    pg_cluster *pg = pg_cluster_start();
    char msg[256] = {0}; /* all of it is written */
    if (pg == NULL)
      _exit(3);
    cluster_dir(pg, msg + 16, sizeof msg - 16);
    snprintf(msg, 16, "%-15d", (int)pg_cluster_pid(pg));
    msg[15] = ' ';
    if (write(fds[1], msg, sizeof msg) != (ssize_t)sizeof msg)
      _exit(4);
    if (how_kill)
      pause(); /* until SIGKILL */
    exit(0);   /* no pg_cluster_stop: the atexit handler */
  }
  close(fds[1]);
  char msg[256];
  ssize_t got = read(fds[0], msg, sizeof msg);
  close(fds[0]);
  if (got != (ssize_t)sizeof msg) {
    waitpid(child, NULL, 0);
    fail_msg("the child could not start a cluster");
  }
  pid_t server = (pid_t)atoi(msg);
  const char *dir = msg + 16;
  assert_true(alive(server));
  assert_true(dir_exists(dir));
  if (how_kill)
    kill(child, SIGKILL);
  int st;
  assert_int_equal(waitpid(child, &st, 0), child);
  if (!how_kill)
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  /* The server is gone within seconds (it is not our child: poll). */
  for (int i = 0; i < 1000 && alive(server); i++)
    tsys_sleep_ms(10);
  assert_false(alive(server));
  if (how_kill) {
    assert_true(dir_exists(dir)); /* nobody removed it yet */
    pg_cluster *next = pg_cluster_start();
    assert_non_null(next);
    assert_false(dir_exists(dir)); /* swept */
    assert_int_equal(pg_cluster_stop(next), 0);
  } else {
    assert_false(dir_exists(dir));
  }
}

static void test_exit_without_stop(void **state) {
  (void)state;
  crash_case(0);
}

static void test_sigkilled_test(void **state) {
  (void)state;
  crash_case(1);
}

/* Missing server binaries: a failure that says what to do, not a skip. */
static void test_missing_binaries(void **state) {
  (void)state;
  char *old = getenv("WFC_PG_BINDIR") ? strdup(getenv("WFC_PG_BINDIR")) : NULL;
  setenv("WFC_PG_BINDIR", "/nonexistent/postgresql/bin", 1);
  assert_null(pg_cluster_bindir());
  assert_null(pg_cluster_start());
  if (old != NULL)
    setenv("WFC_PG_BINDIR", old, 1);
  else
    unsetenv("WFC_PG_BINDIR");
  free(old);
}

/* A thread running short children with wproc while the test's main
 * thread restarts the server, as test_fleet_restart's hosts do. */
typedef struct runner {
  volatile int stop;
  int runs;
  long long held_ms; /* the longest wait for EOF after a child exited */
} runner;

static void *run_children(void *arg) {
  runner *r = arg;
  const char *const argv[] = {"/bin/true", NULL};
  while (!r->stop) {
    wproc p;
    wproc_start(&p, argv, NULL, NULL);
    while (wproc_running(&p))
      tsys_sleep_ms(1);
    long long exited = tsys_mono_ms();
    wproc_wait(&p);
    long long held = tsys_mono_ms() - exited;
    r->held_ms = held > r->held_ms ? held : r->held_ms;
    r->runs++;
  }
  return NULL;
}

/* The pipes wproc makes are close-on-exec until the child's ends are put
 * on its stdout/stderr: a process another thread forks meanwhile (here
 * the restarted postmaster, which lives on) must not keep a write end,
 * else the wait for that child's output (its EOF) lasts as long as the
 * server: test_fleet_restart's hosts waited there until its watchdog. */
static void test_restart_holds_no_child_pipe(void **state) {
  (void)state;
  pg_cluster *pg = pg_cluster_start();
  assert_non_null(pg);
  runner r = {0};
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, run_children, &r), 0);
  for (int i = 0; i < 4; i++) { /* each postmaster lives 1.5 s on */
    assert_int_equal(pg_cluster_restart(pg), 0);
    tsys_sleep_ms(1500);
  }
  /* Down first: a pipe the last postmaster kept is let go, so the
   * runner ends either way. */
  assert_int_equal(pg_cluster_down(pg, 0), 0);
  r.stop = 1;
  pthread_join(th, NULL);
  assert_int_equal(pg_cluster_stop(pg), 0);
  print_message("runs=%d held_ms=%lld\n", r.runs, r.held_ms);
  assert_true(r.runs > 0);
  /* The child had exited: its output was all there. A write end held by
   * a postmaster is let go only at its next shutdown (1.5 s on). */
  assert_true(r.held_ms < 1000);
  /* And in so many words: the parent's ends do not survive an exec. */
  wproc p;
  const char *const argv[] = {"/bin/true", NULL};
  wproc_start(&p, argv, NULL, NULL);
  assert_int_equal(fcntl(p.out, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  assert_int_equal(fcntl(p.err, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
  wproc_wait(&p);
}

int main(void) {
  if (pg_cluster_bindir() == NULL) {
    fprintf(stderr, "test_pg_cluster: FAIL: the PostgreSQL server binaries "
                    "(initdb, postgres) are missing: run "
                    "scripts/install-deps (Debian package postgresql)\n");
    return 1;
  }
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_start_sql_restart_stop),
      cmocka_unit_test(test_exit_without_stop),
      cmocka_unit_test(test_sigkilled_test),
      cmocka_unit_test(test_missing_binaries),
      cmocka_unit_test(test_restart_holds_no_child_pipe),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
