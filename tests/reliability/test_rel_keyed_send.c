/* Reliability: a keyed send killed at a random moment (docs/reliability.md
 * "Keyed send under SIGKILL"). Each trial runs the real
 *   wfc card run o365mail.send_email --input {...,"idempotency_key":K}
 * on a real store against the emulator, SIGKILLs it at a random moment
 * (the first attempt always, the next two half of the time), then runs it
 * again with the same key until it reports success. What must hold, read
 * from the emulator's own record (GET /__emulator/mail/{user}/sent):
 * exactly one message per key, none lost; every run that ends on its own
 * either succeeds or names its cause; no draft of an interrupted run is
 * left once the key's message went out (left_behind); the store passes
 * its integrity check and the connection stays connected. Two tests:
 * without attachments
 * (sendMail) and with two (a small one inline and one of 3.2 MB through an
 * upload session: the draft pipeline). Short: 20 trials each; long: 200. */
#define _POSIX_C_SOURCE 200809L /* popen */
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
#include "reliability.h"
#include "wfc_user.h"

#define ALICE    "alice@contoso.test"
#define ALICE_PW "Alice-Passw0rd!"
/* Attempts per trial before the key counts as lost. */
#define MAX_ATTEMPTS 12

static emu_proc *emu;
static wuser u;
static char files_json[2048]; /* the two FILE references, a JSON array */

static const char *base(void) {
  return emu_proc_url(emu);
}

/* `wfc blob put` of a file of size bytes; its reference (JSON text)
 * appended to out. */
static void put_file(const char *name, size_t size, char *out, size_t len) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", u.dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  for (size_t i = 0; i < size; i++)
    fputc((int)('a' + i % 26), f);
  fclose(f);
  /* `wfc blob` takes no --plugin-dir: not through wproc_spawn. */
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "'%s' blob put '%s' --json --store '%s'", u.bin,
           path, u.store);
  FILE *pf = popen(cmd, "r");
  assert_non_null(pf);
  struct {
    char stdout_[4096];
  } p = {{0}};
  size_t got = fread(p.stdout_, 1, sizeof p.stdout_ - 1, pf);
  p.stdout_[got] = '\0';
  assert_int_equal(pclose(pf), 0);
  size_t n = strcspn(p.stdout_, "\n"), k = strlen(out);
  assert_true(k + n + 2 < len);
  if (k > 1)
    out[k++] = ',';
  memcpy(out + k, p.stdout_, n);
  out[k + n] = '\0';
}

static int setup(void **state) {
  (void)state;
  emu = emu_proc_start(NULL, NULL);
  if (emu == NULL || wuser_init(&u, "rel-keyed") != 0)
    return -1;
  return 0;
}

static int teardown(void **state) {
  (void)state;
  int rc = emu_proc_stop(emu) == 0 ? 0 : -1;
  if (wuser_cleanup(&u) != 0)
    rc = -1;
  return rc;
}

/* How many of alice's sends have this subject (-1: no answer). */
static int sent_with(const char *subject) {
  json_object *v = rel_sent(base(), ALICE);
  int n = v ? rel_count_eq(v, "subject", subject) : -1;
  json_object_put(v);
  return n;
}

/* How many of alice's drafts have this subject (-1: no answer). */
static int drafts_with(const char *subject) {
  json_object *v = rel_messages(base(), ALICE, "drafts");
  int n = v ? rel_count_eq(v, "subject", subject) : -1;
  json_object_put(v);
  return n;
}

/* Runs the card once; kills it after kill_us (< 0: never). Returns 1 when
 * it was killed, else 0 with *ok telling whether it reported sent. */
static int attempt(const char *input, int64_t kill_us, int *ok, int *dedup,
                   rel_counts *c) {
  const char *const args[] = {"card",         "run",    "o365mail.send_email",
                              "--connection", "alice",  "--input",
                              input,          "--json", NULL};
  wproc p;
  wuser_spawn(&u, &p, args);
  int killed = rel_wait_or_kill(&p, kill_us);
  *ok = 0;
  *dedup = 0;
  if (killed)
    return 1;
  if (p.code == 0) {
    json_object *out = json_tokener_parse(p.stdout_), *v = NULL;
    *ok = out != NULL && json_object_object_get_ex(out, "sent", &v) &&
          json_object_get_boolean(v);
    *dedup = out != NULL &&
             json_object_object_get_ex(out, "deduplicated", &v) &&
             json_object_get_boolean(v);
    if (!*ok) {
      c->untruthful++;
      rel_note(c, "exit 0 without sent:true: %s", p.stdout_);
    }
    json_object_put(out);
    return 0;
  }
  rel_check_cli_error(c, p.stderr_);
  return 0;
}

/* The time one whole run takes here (a keyed send that goes out), in
 * microseconds: the median of five, as the first runs are slower. Kills
 * are spread over it. */
static int64_t calibrate(const char *variant, const char *extra) {
  int64_t t[5];
  for (int i = 0; i < 5; i++) {
    char input[4096];
    snprintf(input, sizeof input,
             "{\"to\":[\"bob@contoso.test\"],\"subject\":\"calibrate %s\","
             "\"body\":\"x\",\"idempotency_key\":\"calibrate-%s-%llu-%d\"%s}",
             variant, variant, (unsigned long long)rel_seed(), i, extra);
    rel_counts scratch = {.test = "calibrate"};
    int ok = 0, dedup = 0;
    int64_t t0 = rel_now_us();
    attempt(input, -1, &ok, &dedup, &scratch);
    t[i] = rel_now_us() - t0;
    assert_true(ok);
  }
  for (int i = 1; i < 5; i++)
    for (int j = i; j > 0 && t[j - 1] > t[j]; j--) {
      int64_t x = t[j];
      t[j] = t[j - 1];
      t[j - 1] = x;
    }
  return t[2];
}

static void trials(const char *name, const char *variant, const char *extra) {
  rel_counts c = {.test = name};
  rel_rng rng = {rel_seed() ^ (uint64_t)strlen(variant)};
  int n = rel_trials(20, 200);
  int64_t whole = calibrate(variant, extra);
  /* Kills land anywhere from the start to after the answer (a quarter),
   * or in the second half of the run, where the requests are (the rest:
   * the first half is mostly the process starting). */
  uint32_t span = (uint32_t)(whole * 13 / 10);
  long kills = 0, after_effect = 0, attempts_total = 0, dedups = 0;
  long with_draft = 0;
  for (int k = 0; k < n; k++) {
    char subject[128], input[4096];
    snprintf(subject, sizeof subject, "keyed %s %llu %d", variant,
             (unsigned long long)rel_seed(), k);
    snprintf(input, sizeof input,
             "{\"to\":[\"bob@contoso.test\"],\"subject\":\"%s\","
             "\"body\":\"trial %d\",\"idempotency_key\":\"rel-%s-%llu-%d\"%s}",
             subject, k, variant, (unsigned long long)rel_seed(), k, extra);
    int ok = 0, dedup = 0, tries = 0;
    while (!ok && tries < MAX_ATTEMPTS) {
      int kill_now = tries == 0 || (tries < 3 && rel_rng_below(&rng, 2));
      int64_t at = -1;
      if (kill_now)
        at = rel_rng_below(&rng, 4) == 0
                 ? (int64_t)rel_rng_below(&rng, span)
                 : whole / 2 + (int64_t)rel_rng_below(&rng, span / 2);
      tries++;
      if (attempt(input, at, &ok, &dedup, &c)) {
        kills++;
        if (sent_with(subject) > 0)
          after_effect++;
        /* Killed between making its draft and sending it: the next run
         * must remove the draft. */
        if (extra[0] != '\0' && drafts_with(subject) > 0)
          with_draft++;
      }
    }
    attempts_total += tries;
    dedups += dedup;
    int there = sent_with(subject);
    if (!ok || there == 0) {
      c.lost++;
      rel_note(&c, "trial %d: %s after %d attempts, %d sent", k,
               ok ? "reported sent" : "never reported sent", tries, there);
    } else if (there > 1) {
      c.duplicates += there - 1;
      rel_note(&c, "trial %d: %d messages for one key (%d attempts)", k, there,
               tries);
    }
    c.trials++;
  }
  /* Drafts an interrupted attachment run left: the key's next run deletes
   * them before it sends (cards/send_email.c), and every attempt has ended
   * by now (none still owns one), so any left is counted. */
  json_object *drafts = rel_messages(base(), ALICE, "drafts");
  long left = 0;
  char prefix[64];
  snprintf(prefix, sizeof prefix, "keyed %s %llu ", variant,
           (unsigned long long)rel_seed());
  for (size_t i = 0; drafts && i < json_object_array_length(drafts); i++) {
    json_object *s = NULL;
    if (json_object_object_get_ex(json_object_array_get_idx(drafts, i),
                                  "subject", &s) &&
        strncmp(json_object_get_string(s), prefix, strlen(prefix)) == 0) {
      left++;
      rel_note(&c, "a draft was left behind: %s", json_object_get_string(s));
    }
  }
  json_object_put(drafts);
  c.left_behind += left;

  char why[512];
  if (rel_store_check(u.store, why, sizeof why) != 0) {
    c.corrupt++;
    rel_note(&c, "%s", why);
  }
  json_object *conn = wuser_show(&u, "alice"), *st = NULL;
  if (!json_object_object_get_ex(conn, "state", &st) ||
      strcmp(json_object_get_string(st), "connected") != 0) {
    c.lost++;
    rel_note(&c, "the connection is no longer connected: %s",
             json_object_to_json_string(conn));
  }
  json_object_put(conn);
  rel_figure(&c,
             "kills=%ld killed_after_send=%ld killed_with_draft=%ld "
             "attempts=%ld",
             kills, after_effect, with_draft, attempts_total);
  rel_figure(&c, "deduplicated=%ld drafts_left=%ld run_us=%lld", dedups, left,
             (long long)whole);
  assert_int_equal(rel_report(&c), 0);
}

static void keyed_send_killed(void **state) {
  (void)state;
  rel_connect(u.bin, u.store, u.plugins, base(), "alice", ALICE, ALICE_PW);
  trials("keyed_send_sigkill", "plain", "");
}

static void keyed_send_attachments_killed(void **state) {
  (void)state;
  snprintf(files_json, sizeof files_json, "[");
  put_file("small.txt", 1500, files_json, sizeof files_json);
  put_file("large.bin", 3200 * 1024, files_json, sizeof files_json);
  size_t k = strlen(files_json);
  snprintf(files_json + k, sizeof files_json - k, "]");
  char extra[2100];
  snprintf(extra, sizeof extra, ",\"attachments\":%s", files_json);
  trials("keyed_send_attachments_sigkill", "attach", extra);
}

int main(void) {
  rel_watchdog("keyed_send", 300, 7200);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(keyed_send_killed),
      cmocka_unit_test(keyed_send_attachments_killed),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
