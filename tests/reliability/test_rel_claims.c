/* Reliability: several processes send with the same idempotency key at
 * once (docs/fleet.md, "Idempotency claims"). Each trial starts N real
 *   wfc card run o365mail.send_email --input {...,"idempotency_key":K}
 * processes together on one SQLite store against the emulator, with the
 * mailbox look-up of the marker check slowed down (an emulator delay
 * fault on GET .../messages) so that every process looks before any has
 * sent: the marker check alone then lets each of them send. With the
 * store's claims one sends; the others report the message deduplicated
 * or fail saying another run is sending it (WFC_EBUSY), and a rerun with
 * the key reports it sent. What must hold, from the emulator's own record
 * (GET /__emulator/mail/{user}/sent): exactly one message per key, none
 * lost; every process that fails names its cause; the store passes its
 * integrity check. Short: 4 trials of 4 processes; long: 40 of 8. The
 * PostgreSQL fleet version belongs to the fleet tests. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "emu_proc.h"
#include "reliability.h"
#include "wfc_user.h"

#define ALICE    "alice@contoso.test"
#define ALICE_PW "Alice-Passw0rd!"
#define MAXPROC  8

static emu_proc *emu;
static wuser u;

static int setup(void **state) {
  (void)state;
  return rel_up(&emu, &u, "rel-claims");
}

static int teardown(void **state) {
  (void)state;
  return rel_down(emu, &u);
}

static int sent_with(const char *subject) {
  json_object *v = rel_sent(emu_proc_url(emu), ALICE);
  int n = v ? rel_count_eq(v, "subject", subject) : -1;
  json_object_put(v);
  return n;
}

/* 1 when p reported sent (*dedup: deduplicated), 0 when it failed (a
 * failure that names no cause is counted). */
static int outcome(wproc *p, int *dedup, rel_counts *c) {
  json_object *out = NULL, *v = NULL;
  int ok = 0;
  *dedup = 0;
  if (p->code == 0) {
    out = json_tokener_parse(p->stdout_);
    ok = out != NULL && json_object_object_get_ex(out, "sent", &v) &&
         json_object_get_boolean(v);
    *dedup = out != NULL &&
             json_object_object_get_ex(out, "deduplicated", &v) &&
             json_object_get_boolean(v);
    if (!ok) {
      c->untruthful++;
      rel_note(c, "exit 0 without sent:true: %s", p->stdout_);
    }
    json_object_put(out);
    return ok;
  }
  rel_check_cli_error(c, p->stderr_);
  return 0;
}

static void same_key_at_once(void **state) {
  (void)state;
  rel_counts c = {.test = "same_key_at_once"};
  int n = rel_trials(4, 40), procs = rel_long() ? 8 : 4;
  long sent_reports = 0, dedups = 0, busy = 0, reruns = 0;
  char body[256];

  rel_watchdog("same_key_at_once", 240, 3600);
  rel_connect(u.bin, u.store, u.plugins, emu_proc_url(emu), "alice", ALICE,
              ALICE_PW);
  for (int k = 0; k < n; k++) {
    char subject[128], input[1024];
    wproc p[MAXPROC];
    int ok_any = 0;
    snprintf(subject, sizeof subject, "claimed %llu %d",
             (unsigned long long)rel_seed(), k);
    snprintf(input, sizeof input,
             "{\"to\":[\"bob@contoso.test\"],\"subject\":\"%s\","
             "\"body\":\"trial %d\",\"idempotency_key\":\"claim-%llu-%d\"}",
             subject, k, (unsigned long long)rel_seed(), k);
    /* Every look-up of the marker waits 1.5 s: all processes look before
     * any sends. */
    snprintf(body, sizeof body,
             "{\"method\":\"GET\",\"path\":\"/v1.0/me/messages\","
             "\"count\":%d,\"action\":\"delay\",\"delayMs\":1500}",
             procs);
    json_object_put(
        rel_admin(emu_proc_url(emu), "POST", "/__emulator/faults", body, NULL));
    const char *const args[] = {"card",         "run",    "o365mail.send_email",
                                "--connection", "alice",  "--input",
                                input,          "--json", NULL};
    for (int i = 0; i < procs; i++)
      wuser_spawn(&u, &p[i], args);
    for (int i = 0; i < procs; i++) {
      int dedup = 0;
      rel_wait_or_kill(&p[i], -1);
      if (outcome(&p[i], &dedup, &c)) {
        ok_any = 1;
        sent_reports++;
        dedups += dedup;
      } else if (strstr(p[i].stderr_, "EBUSY") != NULL) {
        busy++;
      }
    }
    json_object_put(rel_admin(emu_proc_url(emu), "DELETE", "/__emulator/faults",
                              NULL, NULL));
    /* A rerun with the key reports the message (deduplicated). */
    {
      wproc r;
      int dedup = 0;
      wuser_spawn(&u, &r, args);
      rel_wait_or_kill(&r, -1);
      reruns++;
      if (!outcome(&r, &dedup, &c) || !dedup) {
        c.lost++;
        rel_note(&c, "trial %d: the rerun did not report it deduplicated: %s%s",
                 k, r.stdout_, r.stderr_);
      }
      ok_any = 1;
    }
    int there = sent_with(subject);
    if (!ok_any || there == 0) {
      c.lost++;
      rel_note(&c, "trial %d: nothing sent", k);
    } else if (there > 1) {
      c.duplicates += there - 1;
      rel_note(&c, "trial %d: %d messages for one key from %d processes", k,
               there, procs);
    }
    c.trials++;
  }
  rel_check_store(&c, u.store);
  rel_figure(&c,
             "processes=%d reported_sent=%ld deduplicated=%ld busy=%ld "
             "reruns=%ld",
             procs, sent_reports, dedups, busy, reruns);
  assert_int_equal(rel_report(&c), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(same_key_at_once),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
