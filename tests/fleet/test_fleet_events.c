/* test_fleet_events.c - triggers shared by a fleet (issue 10 item 4;
 * docs/fleet.md, "Triggers shared by a fleet"): three `wfc event watch`
 * processes on one subscription, sharing a PostgreSQL store, while mail
 * arrives; each is stopped (SIGTERM) or SIGKILLed at random moments and
 * started again. Each message must be handed over exactly once across the
 * fleet: the subscription lease lets one watcher poll at a time, the
 * others stand by and take over when it stops or dies.
 *
 * Real parts: a throw-away PostgreSQL cluster (pg_cluster.h), the
 * emulator, a connection made by `wfc connection new` through its pages,
 * the real `wfc`, real SIGKILL. A sender thread delivers numbered messages
 * into alice's inbox through the emulator's admin API.
 *
 * Counted as in tests/reliability/test_rel_events.c: lost (a message never
 * handed over), duplicates (handed over twice, except the one window the
 * host documents: the last line a killed process printed may come again,
 * counted as window_repeats), unclear (an exit with an error naming no
 * cause), corrupt (the store does not open at the end).
 * Short: 100 messages, 8 SIGKILLs; long (WFC_RELIABILITY=long): 1,000
 * messages, 20 SIGKILLs. */
#define _DEFAULT_SOURCE /* usleep, setenv */
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
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "emu_proc.h"
#include "fleet_fixture.h"
#include "pg_cluster.h"
#include "reliability.h"
#include "store.h"
#include "tfile.h"
#include "wfc_user.h"

#define ALICE    "alice@contoso.test"
#define ALICE_PW "Alice-Passw0rd!"
#define WATCHERS 3

static emu_proc *emu;
static wuser u;
static pg_cluster *pg;

static const char *base(void) {
  return emu_proc_url(emu);
}

/* ---- The sender ---------------------------------------------------------- */

typedef struct sender {
  pthread_t th;
  char prefix[64]; /* subjects are "<prefix><i>" */
  int n, gap_ms;
  uint64_t seed;
  volatile int done;
  int failed; /* deliveries the emulator refused */
} sender;

static void *send_all(void *arg) {
  sender *s = arg;
  rel_rng rng = {s->seed};
  for (int i = 0; i < s->n; i++) {
    long st = 0;
    json_object_put(rel_deliver_numbered(base(), ALICE, s->prefix, i, &st));
    s->failed += st != 201;
    usleep(1000u * rel_rng_below(&rng, (uint32_t)(2 * s->gap_ms + 1)));
  }
  s->done = 1;
  return NULL;
}

/* ---- What the fleet handed over ------------------------------------------ */

typedef struct fleet {
  pthread_mutex_t mu;
  char prefix[64];
  int n;
  int *seen, *window;
  long runs, kills, stops, standbys, lines, kills_left, failed_runs;
  int flow; /* `wfc flow run` (else `wfc event watch`) */
  const char *const *loop_args, *const *once_args;
  rel_counts *c;
  const sender *s;
  uint64_t seed;
} fleet;

static int number_of(const fleet *f, const char *subject) {
  size_t k = strlen(f->prefix);
  if (subject == NULL || strncmp(subject, f->prefix, k) != 0)
    return -1;
  int i = atoi(subject + k);
  return i >= 0 && i < f->n ? i : -1;
}

/* A run's stdout goes to a file of its own (wproc keeps only 64 KiB, less
 * than a flow's backlog of lines under a slow build). */
typedef struct run_out {
  char path[256];
} run_out;

static void to_file(void *arg) {
  const run_out *o = arg;
  int fd = open(o->path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || dup2(fd, 1) < 0)
    _exit(127);
  close(fd);
}

/* Starts `wfc ARGS --store S --plugin-dir D`, its stdout into o->path. */
static void spawn(wproc *p, const char *const *args, run_out *o) {
  static long seq;
  const char *argv[32];
  int n = 0;
  __atomic_add_fetch(&seq, 1, __ATOMIC_RELAXED);
  snprintf(o->path, sizeof o->path, "%s/out.%ld.%lu", u.dir,
           __atomic_load_n(&seq, __ATOMIC_RELAXED),
           (unsigned long)pthread_self());
  argv[n++] = u.bin;
  for (int i = 0; args[i] != NULL && n < 26; i++)
    argv[n++] = args[i];
  argv[n++] = "--store";
  argv[n++] = u.store;
  argv[n++] = "--plugin-dir";
  argv[n++] = u.plugins;
  argv[n] = NULL;
  wproc_start(p, argv, to_file, o);
}

/* The whole file, then removed (malloc'd, NUL-terminated; "" when
 * unreadable). */
static char *slurp(const char *path) {
  char *buf = tfile_read(path, NULL);
  unlink(path);
  return buf != NULL ? buf : calloc(1, 1);
}

/* One finished watcher's output into f (f->mu held). */
static void take_output(fleet *f, const wproc *p, const run_out *o, int killed,
                        int stopped) {
  rel_counts *c = f->c;
  f->runs++;
  f->kills += killed;
  if (strstr(p->stderr_, "standing by") != NULL)
    f->standbys++;
  char *out = slurp(o->path);
  if (!killed && !stopped && p->code != 0)
    rel_check_cli_error(c, p->stderr_);
  int last = -1;
  char *l = out;
  for (char *nl; (nl = strchr(l, '\n')) != NULL; l = nl + 1) {
    char *line = l;
    *nl = '\0';
    json_object *j = json_tokener_parse(line), *s = NULL;
    if (j == NULL) {
      c->unclear++;
      rel_note(c, "not a JSON line: %s", line);
      continue;
    }
    f->lines++;
    json_object *st = NULL, *tr = NULL;
    if (f->flow) {
      /* A flow's run line hands the message over when it is "ok" (its
       * steps ran); a "failed" one must name its cause. */
      s = NULL;
      if (json_object_object_get_ex(j, "status", &st) &&
          strcmp(json_object_get_string(st), "ok") == 0) {
        if (json_object_object_get_ex(j, "trigger", &tr))
          json_object_object_get_ex(tr, "subject", &s);
      } else if (st != NULL) {
        f->failed_runs++;
        rel_check_failed_run(c, j);
      }
    } else {
      json_object_object_get_ex(j, "subject", &s);
    }
    int i = s != NULL ? number_of(f, json_object_get_string(s)) : -1;
    json_object_put(j);
    if (i < 0)
      continue;
    f->seen[i]++;
    last = i;
  }
  free(out);
  if (killed && last >= 0)
    f->window[last]++;
}

#define WATCH(...)                                                             \
  (const char *const[]) {                                                      \
    "event", "watch", "--card", "new_email", "--connection", "alice",          \
        "--json", __VA_ARGS__, NULL                                            \
  }

/* One host of the fleet: a watcher started again and again until the
 * sender is done, each stopped (SIGTERM) or SIGKILLed after 0.2-1 s. */
static void *host(void *arg) {
  fleet *f = arg;
  pthread_mutex_lock(&f->mu);
  rel_rng rng = {f->seed ^ (uint64_t)(uintptr_t)&rng};
  pthread_mutex_unlock(&f->mu);
  while (!f->s->done) {
    wproc p;
    run_out o;
    spawn(&p, f->loop_args, &o);
    pthread_mutex_lock(&f->mu);
    int sig =
        f->kills_left > 0 && rel_rng_below(&rng, 2) == 0 ? SIGKILL : SIGTERM;
    if (sig == SIGKILL)
      f->kills_left--;
    pthread_mutex_unlock(&f->mu);
    int64_t after = 200000 + (int64_t)rel_rng_below(&rng, 800000);
    int sent = rel_wait_or_signal(&p, after, sig);
    pthread_mutex_lock(&f->mu);
    take_output(f, &p, &o, sig == SIGKILL && sent, sig == SIGTERM && sent);
    if (sig == SIGTERM && sent)
      f->stops++;
    if (sig == SIGKILL && !sent)
      f->kills_left++;
    pthread_mutex_unlock(&f->mu);
  }
  return NULL;
}

static void once(fleet *f) {
  wproc p;
  run_out o;
  spawn(&p, f->once_args, &o);
  rel_wait_or_kill(&p, -1);
  pthread_mutex_lock(&f->mu);
  take_output(f, &p, &o, 0, 0);
  pthread_mutex_unlock(&f->mu);
}

/* The whole trial: name for the reliability line, what in the subjects,
 * the commands a host runs again and again, and the one that takes the
 * rest at the end. */
static void trial(const char *name, const char *what, int flow,
                  const char *const *loop_args, const char *const *once_args) {
  rel_counts c = {.test = name};
  fleet f = {.n = rel_trials(100, 1000),
             .kills_left = rel_trials(8, 20),
             .c = &c,
             .seed = rel_seed(),
             .flow = flow,
             .loop_args = loop_args,
             .once_args = once_args};
  long budget = f.kills_left;
  pthread_mutex_init(&f.mu, NULL);
  snprintf(f.prefix, sizeof f.prefix, "%s %llu #", what,
           (unsigned long long)rel_seed());
  f.seen = calloc((size_t)f.n, sizeof *f.seen);
  f.window = calloc((size_t)f.n, sizeof *f.window);
  assert_non_null(f.seen);
  assert_non_null(f.window);

  once(&f); /* records the start */
  /* A flow's steps take Graph calls: mail a little slower. */
  sender s = {.n = f.n, .gap_ms = flow ? 100 : 40, .seed = rel_seed() ^ 0xfeed};
  snprintf(s.prefix, sizeof s.prefix, "%s", f.prefix);
  f.s = &s;
  assert_int_equal(pthread_create(&s.th, NULL, send_all, &s), 0);
  pthread_t hosts[WATCHERS];
  for (int i = 0; i < WATCHERS; i++)
    assert_int_equal(pthread_create(&hosts[i], NULL, host, &f), 0);
  pthread_join(s.th, NULL);
  for (int i = 0; i < WATCHERS; i++)
    pthread_join(hosts[i], NULL);
  assert_int_equal(s.failed, 0);
  for (int round = 0; round < 20; round++) {
    long before = f.lines;
    once(&f);
    if (f.lines == before)
      break;
  }

  long window_repeats = 0;
  for (int i = 0; i < f.n; i++) {
    c.trials++;
    if (f.seen[i] == 0) {
      c.lost++;
      rel_note(&c, "%s%d was never handed over", f.prefix, i);
      continue;
    }
    int extra = f.seen[i] - 1;
    int explained = extra < f.window[i] ? extra : f.window[i];
    window_repeats += explained;
    if (extra > explained) {
      c.duplicates += extra - explained;
      rel_note(&c, "%s%d handed over %d times (%d as a killed run's last line)",
               f.prefix, i, f.seen[i], f.window[i]);
    }
  }
  /* The store: opens, the connection verifies. */
  wfc__store *st = NULL;
  char err[512];
  wfc__conn_rec rec;
  memset(&rec, 0, sizeof rec);
  if (wfc__store_open(u.store, &st, err, sizeof err) != 0 ||
      wfc__store_conn_get(st, "alice", &rec) != 0) {
    c.corrupt++;
    rel_note(&c, "the store: %s", st ? wfc__store_last_error() : err);
  }
  wfc__conn_rec_clear(&rec);
  wfc__store_close(st);
  rel_figure(&c,
             "hosts=%d runs=%ld kills=%ld stops=%ld standbys=%ld "
             "window_repeats=%ld failed_runs=%ld",
             WATCHERS, f.runs, f.kills, f.stops, f.standbys, window_repeats,
             f.failed_runs);
  free(f.seen);
  free(f.window);
  pthread_mutex_destroy(&f.mu);
  assert_int_equal(rel_report(&c), 0);
  /* The kills happened (a run can end before its kill: given back). */
  assert_true(f.kills > 0 && f.kills <= budget);
}

static void three_watchers_one_subscription(void **state) {
  (void)state;
  rel_connect(u.bin, u.store, u.plugins, base(), "alice", ALICE, ALICE_PW);
  trial("fleet_event_watch_sigkill", "watch", 0, WATCH("--interval", "0.2"),
        WATCH("--once"));
}

/* examples/flow.json (on alice): each new message read and flagged. Its
 * steps run between the poll and the acceptance, so without the lease two
 * runners taking the same batch would both run them. */
static void three_flow_runners_one_trigger(void **state) {
  (void)state;
  static char path[512];
  snprintf(path, sizeof path, "%s/examples/flow.json",
           getenv("WFC_SOURCE_DIR") ? getenv("WFC_SOURCE_DIR")
                                    : WFC_SOURCE_DIR);
  const char *const loop[] = {"flow",       "run", path, "--json",
                              "--interval", "0.2", NULL};
  const char *const once[] = {"flow", "run", path, "--json", "--once", NULL};
  trial("fleet_flow_run_sigkill", "flow", 1, loop, once);
}

static int setup(void **state) {
  (void)state;
  return fleet_up(&pg, &emu, &u, "fleet-events");
}

static int teardown(void **state) {
  (void)state;
  return fleet_down(pg, emu, &u);
}

int main(void) {
  rel_watchdog("fleet-events", 300, 3600);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(three_watchers_one_subscription),
      cmocka_unit_test(three_flow_runners_one_trigger),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
