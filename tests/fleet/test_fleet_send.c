/* test_fleet_send.c - idempotency claims shared by a fleet (issue 10 items
 * 3 and 6; docs/fleet.md, "Idempotency claims"): three host processes send
 * the same 200 idempotency keys at the same moment through one PostgreSQL
 * store, and every key's message reaches the emulator exactly once.
 *
 * Real parts: a throw-away PostgreSQL cluster (pg_cluster.h), the
 * emulator, a connection made by `wfc connection new` into the database
 * store (the test plays the browser), and three fleet-sender processes
 * (fleet_sender.c: the SDK, the real plugin, the connection manager on
 * $WFC_STORE), each starting one o365mail.send_email per key at once.
 *
 * - fleet_send_same_keys: no faults. Each key: one run sends, the others
 *   report it deduplicated or fail with WFC_EBUSY (another run holds the
 *   claim);
 * - fleet_send_same_keys_faults: 10% of sendMail requests faulted by the
 *   emulator's random rules: 4% reset after the handler ran (the message
 *   went out, the answer is lost: the run settles it by the marker), 3%
 *   reset before it (nothing sent; the run looks for the copy for
 *   O365MAIL_SEND_CONFIRM_MS, here 2 s, and fails with the outcome
 *   unknown), 3% answered 503 (nothing sent).
 * Then, as a user would, every run that failed (busy, outcome unknown,
 * refused) is run again by its host with the same key (each host's failed
 * keys at once, the hosts together) until every run has succeeded (at
 * most 10 rounds). What must hold, from the emulator's own record of
 * alice's sent mail: each key's message exactly once (duplicates), none
 * missing and no run left failed (lost); at most one run per key says it
 * sent the message, the others deduplicated (untruthful); every failure
 * names its cause (unclear); the store opens and holds the connection
 * (corrupt). Short: 1 round of 200 keys per case (about 30 s in all);
 * long (WFC_RELIABILITY=long): 5 rounds of 200 fresh keys each.
 *
 * Label `reliability`: one `reliability:` line per case with the figures. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <setjmp.h>
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
#include "wfc/error.h"
#include "wfc_user.h"

#define ALICE    "alice@contoso.test"
#define ALICE_PW "Alice-Passw0rd!"
#define HOSTS    3
#define KEYS     200
#define RETRIES  10

static emu_proc *emu;
static wuser u;
static pg_cluster *pg;

static const char *base(void) {
  return emu_proc_url(emu);
}

/* What the runs of one key said, across the fleet. */
typedef struct key_state {
  int sent;  /* runs that reported it sent (deduplicated or not) */
  int fresh; /* of which not deduplicated */
} key_state;

typedef struct figures {
  long runs, reported_sent, deduplicated, busy, unknown, other_failed;
  long retried_runs, retry_rounds;
} figures;

/* Reads a sender's "run I STATUS DEDUP UNKNOWN" lines into ks and f, and
 * marks in failed[I] whether that run failed; its failures' messages
 * (stderr "run I: MESSAGE") are checked for a cause. */
static void tally(const wproc *p, key_state *ks, char *failed, figures *f,
                  rel_counts *c) {
  const char *s = p->stdout_;
  int i, status, dedup, unknown;
  while ((s = strstr(s, "run ")) != NULL) {
    if (sscanf(s, "run %d %d %d %d", &i, &status, &dedup, &unknown) == 4 &&
        i >= 0 && i < KEYS) {
      f->runs++;
      failed[i] = status != 0;
      if (status == 0) {
        ks[i].sent++;
        ks[i].fresh += !dedup;
        f->reported_sent += !dedup;
        f->deduplicated += dedup;
      } else if (status == WFC_EBUSY) {
        f->busy++;
      } else if (unknown) {
        f->unknown++;
      } else {
        f->other_failed++;
      }
    }
    s += 4;
  }
  for (const char *e = p->stderr_; (e = strstr(e, "run ")) != NULL;) {
    const char *colon = strstr(e, ": "), *nl = strchr(e, '\n');
    if (colon == NULL || nl == NULL)
      break;
    if (colon < nl) {
      char msg[2048];
      size_t len = (size_t)(nl - colon - 2);
      if (len >= sizeof msg)
        len = sizeof msg - 1;
      memcpy(msg, colon + 2, len);
      msg[len] = '\0';
      const char *why = rel_unclear(msg);
      if (why != NULL) {
        c->unclear++;
        rel_note(c, "unclear error (%s): %s", why, msg);
      }
    }
    e = nl + 1;
  }
}

/* Starts one sender per host h whose failed[h] has a key marked (its keys
 * at once; all hosts together: the go file), waits for them and tallies
 * what they said into ks, f and failed[h]. Returns the runs started. */
static int fleet_run(const char *tag, char failed[HOSTS][KEYS], key_state *ks,
                     figures *f, rel_counts *c) {
  char so[700], go[300];
  snprintf(so, sizeof so, "%s/wfc-o365mail.so", u.plugins);
  snprintf(go, sizeof go, "%s/go", u.dir);
  unlink(go);
  const char *bin = getenv("WFC_FLEET_SENDER");
  assert_non_null(bin);
  wproc p[HOSTS];
  int started[HOSTS] = {0}, runs = 0;
  char list[KEYS * 8];
  for (int h = 0; h < HOSTS; h++) {
    list[0] = '\0';
    for (int i = 0; i < KEYS; i++)
      if (failed[h][i])
        snprintf(list + strlen(list), 8, "%s%d", list[0] ? "," : "", i);
    if (list[0] == '\0')
      continue;
    const char *argv[] = {bin, so, "alice", go, tag, list, NULL};
    wproc_start(&p[h], argv, NULL, NULL);
    started[h] = 1;
    for (const char *x = list; x != NULL; x = strchr(x + 1, ','))
      runs++;
  }
  for (int h = 0; h < HOSTS; h++) {
    if (!started[h])
      continue;
    char line[256];
    wproc_read_line(&p[h], line, sizeof line);
    if (strcmp(line, "ready") != 0) {
      wproc_wait(&p[h]);
      fail_msg("sender %d: %s %s", h, line, p[h].stderr_);
    }
  }
  FILE *g = fopen(go, "w");
  assert_non_null(g);
  fclose(g);
  for (int h = 0; h < HOSTS; h++) {
    if (!started[h])
      continue;
    if (wproc_wait(&p[h]) != 0) {
      c->lost++;
      rel_note(c, "sender %d exited %d: %.500s", h, p[h].code, p[h].stderr_);
    }
    tally(&p[h], ks, failed[h], f, c);
  }
  return runs;
}

/* POST /v1.0/me/sendMail requests the emulator answered so far (any
 * status, resets included). */
static long sendmail_requests(void) {
  json_object *st = rel_admin(base(), "GET", "/__emulator/stats", NULL, NULL);
  json_object *routes = NULL;
  long n = 0;
  json_object_object_get_ex(st, "routes", &routes);
  for (size_t i = 0; i < json_object_array_length(routes); i++) {
    json_object *r = json_object_array_get_idx(routes, i), *v = NULL;
    const char *m = json_object_object_get_ex(r, "method", &v)
                        ? json_object_get_string(v)
                        : "";
    const char *route = json_object_object_get_ex(r, "route", &v)
                            ? json_object_get_string(v)
                            : "";
    if (strcmp(m, "POST") == 0 && strstr(route, "/sendMail") != NULL &&
        json_object_object_get_ex(r, "total", &v))
      n += json_object_get_int64(v);
  }
  json_object_put(st);
  return n;
}

/* Requests the armed fault rules faulted so far. */
static long fault_hits(void) {
  json_object *all = rel_admin(base(), "GET", "/__emulator/faults", NULL, NULL);
  json_object *rules = all;
  long n = 0;
  if (all != NULL && !json_object_is_type(all, json_type_array))
    json_object_object_get_ex(all, "value", &rules);
  for (size_t i = 0; i < json_object_array_length(rules); i++) {
    json_object *v = NULL;
    if (json_object_object_get_ex(json_object_array_get_idx(rules, i), "hits",
                                  &v))
      n += json_object_get_int64(v);
  }
  json_object_put(all);
  return n;
}

/* One case: rounds of KEYS fresh keys sent by HOSTS senders at once, the
 * unsettled ones retried, then counted at the emulator. */
static void fleet_case(const char *name, int faults) {
  static int connected;
  if (!connected)
    rel_connect(u.bin, u.store, u.plugins, base(), "alice", ALICE, ALICE_PW);
  connected = 1;
  rel_counts c = {.test = name};
  figures f = {0};
  int rounds = rel_trials(1, 5);
  long requests0 = sendmail_requests(), hits = 0;
  if (faults) {
    /* 10% of sendMail, three ways (each rule draws only on what the ones
     * before spared): 4% reset after the handler (sent, the answer lost:
     * settled by the marker), 3% reset before it (lost on the way: not
     * sent, the run ends with the outcome unknown), 3% 503 (refused,
     * nothing sent). */
    static const struct {
      const char *action;
      double p;
    } kinds[] = {
        {"\"action\":\"reset\",\"afterHandler\":true", 0.04},
        {"\"action\":\"reset\"", 0.03 / 0.96},
        {"\"action\":\"status\",\"status\":503", 0.03 / 0.93},
    };
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
      char rule[512];
      long st = 0;
      snprintf(rule, sizeof rule,
               "{\"method\":\"POST\",\"path\":\"/v1.0/me/sendMail\",%s,"
               "\"probability\":%.6f,\"seed\":%llu}",
               kinds[k].action, kinds[k].p,
               (unsigned long long)((rel_seed() + k) % 2147483647u));
      json_object_put(
          rel_admin(base(), "POST", "/__emulator/faults", rule, &st));
      assert_int_equal(st, 201);
    }
  }

  for (int r = 0; r < rounds; r++) {
    char tag[96];
    key_state ks[KEYS];
    memset(ks, 0, sizeof ks);
    snprintf(tag, sizeof tag, "%s %llu r%d", name,
             (unsigned long long)rel_seed(), r);
    /* Every host runs every key at once; then each run that failed is
     * run again by its host with its key, as the flow's user would (a
     * busy key is reported from the recorded outcome, an unknown
     * outcome settled by the marker), until every run has succeeded. */
    static char failed[HOSTS][KEYS];
    memset(failed, 1, sizeof failed);
    fleet_run(tag, failed, ks, &f, &c);
    for (int t = 0; t < RETRIES; t++) {
      int n = fleet_run(tag, failed, ks, &f, &c);
      if (n == 0)
        break;
      f.retry_rounds++;
      f.retried_runs += n;
    }
    for (int h = 0; h < HOSTS; h++)
      for (int i = 0; i < KEYS; i++)
        if (failed[h][i]) {
          c.lost++;
          rel_note(&c, "%s #%d: host %d's run never succeeded", tag, i, h);
        }

    /* The emulator's record: each key's message once. */
    json_object *sent = rel_sent(base(), ALICE);
    assert_non_null(sent);
    for (int i = 0; i < KEYS; i++) {
      char subject[160];
      snprintf(subject, sizeof subject, "%s #%d", tag, i);
      int there = rel_count_eq(sent, "subject", subject);
      c.trials++;
      if (there == 0 || ks[i].sent == 0) {
        c.lost++;
        rel_note(&c, "%s: %d at the emulator, reported sent %d times", subject,
                 there, ks[i].sent);
      } else if (there > 1) {
        c.duplicates += there - 1;
        rel_note(&c, "%s: %d messages", subject, there);
      }
      if (ks[i].fresh > 1) {
        /* Two runs each said they sent it: one of them is wrong. */
        c.untruthful += ks[i].fresh - 1;
        rel_note(&c, "%s: %d runs reported sending it", subject, ks[i].fresh);
      }
    }
    json_object_put(sent);
  }
  if (faults) {
    hits = fault_hits();
    json_object_put(
        rel_admin(base(), "DELETE", "/__emulator/faults", NULL, NULL));
  }

  /* The store: opens, the connection is there and verifies. */
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

  rel_figure(&c, "hosts=%d keys=%d rounds=%d runs=%ld", HOSTS, KEYS, rounds,
             f.runs);
  rel_figure(&c,
             "reported_sent=%ld deduplicated=%ld busy=%ld unknown=%ld "
             "other_failed=%ld",
             f.reported_sent, f.deduplicated, f.busy, f.unknown,
             f.other_failed);
  rel_figure(&c, "retry_rounds=%ld retried_runs=%ld send_requests=%ld",
             f.retry_rounds, f.retried_runs, sendmail_requests() - requests0);
  if (faults)
    rel_figure(&c, "faulted=%ld", hits);
  assert_int_equal(rel_report(&c), 0);
  /* The faults happened (else the case proves nothing). */
  if (faults)
    assert_true(hits > 0);
}

static void fleet_send_same_keys(void **state) {
  (void)state;
  fleet_case("fleet_send_same_keys", 0);
}

static void fleet_send_same_keys_faults(void **state) {
  (void)state;
  fleet_case("fleet_send_same_keys_faults", 1);
}

static int setup(void **state) {
  (void)state;
  if (fleet_up(&pg, &emu, &u, "fleet-send") != 0)
    return -1;
  setenv("WFC_STORE", u.store, 1);
  /* A send lost before the emulator ran it: the senders look for its copy
   * 2 s (not 15) before they say the outcome is unknown. */
  setenv("O365MAIL_SEND_CONFIRM_MS", "2000", 1);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  return fleet_down(pg, emu, &u);
}

int main(void) {
  rel_watchdog("fleet-send", 150, 3600);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fleet_send_same_keys),
      cmocka_unit_test(fleet_send_same_keys_faults),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
