/* test_cli_progress.c - long work shows itself, as a person (or a program)
 * running `wfc` meets it:
 * - `card run` sending a 5 MB attachment with --progress json writes
 *   machine-readable progress lines on stderr ending at done == total; a
 *   pipe without --progress gets none (a terminal gets MB, %, rate and
 *   time left: the same numbers, drawn in place);
 * - `event watch` says on stderr what it watches, and when it polls next;
 * - `flow run` prints a short line per step in text mode, and the JSON
 *   run line only with --json.
 * Before: progress was raw byte counts on a terminal only, the watch was
 * silent between polls, and flow run printed only JSON. */
#define _POSIX_C_SOURCE 200809L /* setenv (scen.h), kill */
#include "scen.h"

#include <signal.h>
#include <stdio.h>

static int setup(void **state) {
  if (sc_up(state) != 0)
    return -1;
  return 0;
}

static void upload_progress(void **state) {
  (void)state;
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);
  char path[256];
  snprintf(path, sizeof path, "%s/big.bin", sc_dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  for (int i = 0; i < 5 * 1000 * 1000; i++)
    fputc(i * 7 & 0xff, f);
  fclose(f);
  wproc p;
  /* Into the blob store card run uses (beside the store). */
  const char *const put[] = {sc_u.bin,  "blob",   "put",    path,
                             "--store", sc_store, "--json", NULL};
  wproc_start(&p, put, NULL, NULL);
  assert_int_equal(wproc_wait(&p), 0);
  char ref[1024], input[1400];
  snprintf(ref, sizeof ref, "%.*s", (int)strcspn(p.stdout_, "\n"), p.stdout_);
  snprintf(input, sizeof input,
           "{\"to\":[\"" BOB_UPN
           "\"],\"subject\":\"big\",\"attachments\":[%s]}",
           ref);
  const char *const send[] = {"card",  "run",     "send_email", "--connection",
                              "alice", "--input", input,        "--progress",
                              "json",  NULL};
  assert_int_equal(sc_wfc(&p, send), 0);
  /* One object per line; the last says everything went. */
  const char *last = NULL;
  int lines = 0;
  for (const char *l = p.stderr_; (l = strstr(l, "{\"progress\":")) != NULL;
       l++) {
    json_object *o = json_tokener_parse(l), *pr, *v;
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "progress", &pr));
    assert_true(json_object_object_get_ex(pr, "total", &v));
    assert_true(json_object_get_int64(v) >= 5000000);
    assert_true(json_object_object_get_ex(pr, "elapsed_ms", &v));
    json_object_put(o);
    last = l;
    lines++;
  }
  if (last == NULL)
    fail_msg("no progress lines on stderr:\n%s", p.stderr_);
  json_object *o = json_tokener_parse(last), *pr, *d, *t;
  json_object_object_get_ex(o, "progress", &pr);
  json_object_object_get_ex(pr, "done", &d);
  json_object_object_get_ex(pr, "total", &t);
  assert_int_equal(json_object_get_int64(d), json_object_get_int64(t));
  json_object_put(o);
  printf("%d progress lines\n", lines);

  /* Not a terminal and not asked: stdout and stderr stay clean. */
  const char *const quiet[] = {"card",  "run",     "send_email", "--connection",
                               "alice", "--input", input,        NULL};
  assert_int_equal(sc_wfc(&p, quiet), 0);
  assert_null(strstr(p.stderr_, "progress"));
  assert_null(strstr(p.stderr_, "MB"));
}

static void watch_says_what_it_does(void **state) {
  (void)state;
  wproc p;
  const char *const args[] = {"event",      "watch",        "--card",
                              "new_email",  "--connection", "alice",
                              "--interval", "0.2",          NULL};
  sc_spawn(&p, args);
  if (!wproc_await_stderr(&p, "next poll of new_email", 20000)) {
    kill(p.pid, SIGTERM);
    sc_finish(&p);
    fail_msg("event watch said:\n%s", p.stderr_);
  }
  kill(p.pid, SIGTERM);
  sc_finish(&p);
  assert_non_null(strstr(p.stderr_, "watching new_email for connection "
                                    "\"alice\" (every 0.2 s; Ctrl-C stops)"));
  assert_non_null(strstr(p.stderr_, "next poll of new_email for \"alice\" "
                                    "in 0.2 s"));
}

static void flow_prints_its_steps(void **state) {
  (void)state;
  char path[256];
  snprintf(path, sizeof path, "%s/flow.json", sc_dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("{\"connection\":\"alice\",\"steps\":["
        "{\"name\":\"folders\",\"card\":\"list_folders\","
        "\"input\":{\"recursive\":false}},"
        "{\"name\":\"tips\",\"card\":\"get_mail_tips\","
        "\"input\":{\"recipients\":[\"" BOB_UPN "\"]}}]}",
        f);
  fclose(f);
  wproc p;
  const char *const text[] = {"flow", "run", path, NULL};
  assert_int_equal(sc_wfc(&p, text), 0);
  assert_non_null(strstr(p.stdout_,
                         "  step 1/2 \"folders\" (list_folders): ok\n"
                         "  step 2/2 \"tips\" (get_mail_tips): ok\n"
                         "run done\n"));
  assert_null(strstr(p.stdout_, "{"));
  const char *const json[] = {"flow", "run", path, "--json", NULL};
  assert_int_equal(sc_wfc(&p, json), 0);
  json_object *o = json_tokener_parse(p.stdout_);
  assert_non_null(o);
  assert_string_equal(jstr(o, "status"), "ok");
  json_object_put(o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(upload_progress),
      cmocka_unit_test(watch_says_what_it_does),
      cmocka_unit_test(flow_prints_its_steps),
  };
  return cmocka_run_group_tests(tests, setup, sc_down);
}
