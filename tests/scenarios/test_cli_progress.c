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

/* The {"progress":...} lines of err: each with a total of at least
 * min_total (0: any, a body without Content-Length) and elapsed_ms; the
 * last one's done equals its total (or, with no total, is at least
 * min_done). Returns how many. */
static int check_progress(const char *err, int64_t min_total,
                          int64_t min_done) {
  const char *last = NULL;
  int lines = 0;
  for (const char *l = err; (l = strstr(l, "{\"progress\":")) != NULL; l++) {
    json_object *o = json_tokener_parse(l), *pr, *v;
    assert_non_null(o);
    assert_true(json_object_object_get_ex(o, "progress", &pr));
    assert_true(json_object_object_get_ex(pr, "total", &v));
    assert_true(json_object_get_int64(v) >= min_total);
    assert_true(json_object_object_get_ex(pr, "elapsed_ms", &v));
    json_object_put(o);
    last = l;
    lines++;
  }
  if (last == NULL)
    fail_msg("no progress lines on stderr:\n%s", err);
  json_object *o = json_tokener_parse(last), *pr, *d, *t;
  json_object_object_get_ex(o, "progress", &pr);
  json_object_object_get_ex(pr, "done", &d);
  json_object_object_get_ex(pr, "total", &t);
  if (json_object_get_int64(t) > 0)
    assert_int_equal(json_object_get_int64(d), json_object_get_int64(t));
  assert_true(json_object_get_int64(d) >= min_done);
  json_object_put(o);
  return lines;
}

/* A 5 MB file in the blob store card run uses; its reference into ref. */
static void big_file(char *ref, size_t len) {
  char path[256];
  snprintf(path, sizeof path, "%s/big.bin", sc_dir);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  for (int i = 0; i < 5 * 1000 * 1000; i++)
    fputc(i * 7 & 0xff, f);
  fclose(f);
  wproc p;
  const char *const put[] = {sc_u.bin,  "blob",   "put",    path,
                             "--store", sc_store, "--json", NULL};
  wproc_start(&p, put, NULL, NULL);
  assert_int_equal(wproc_wait(&p), 0);
  snprintf(ref, len, "%.*s", (int)strcspn(p.stdout_, "\n"), p.stdout_);
}

static void upload_progress(void **state) {
  (void)state;
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);
  wproc p;
  char ref[1024], input[1400];
  big_file(ref, sizeof ref);
  snprintf(input, sizeof input,
           "{\"to\":[\"" BOB_UPN
           "\"],\"subject\":\"big\",\"attachments\":[%s]}",
           ref);
  const char *const send[] = {"card",  "run",     "send_email", "--connection",
                              "alice", "--input", input,        "--progress",
                              "json",  NULL};
  assert_int_equal(sc_wfc(&p, send), 0);
  /* One object per line; the last says everything went. */
  int lines = check_progress(p.stderr_, 5000000, 5000000);
  printf("%d progress lines\n", lines);

  /* Not a terminal and not asked: stdout and stderr stay clean. */
  const char *const quiet[] = {"card",  "run",     "send_email", "--connection",
                               "alice", "--input", input,        NULL};
  assert_int_equal(sc_wfc(&p, quiet), 0);
  assert_null(strstr(p.stderr_, "progress"));
  assert_null(strstr(p.stderr_, "MB"));
}

/* Downloads show progress as uploads do: download_attachment and
 * export_email stream Graph's body into a file, and its bytes are the
 * card's progress (the host reports them: wfc_http_req.progress_call),
 * ending at done == total. Before: no progress line at all. */
static void download_progress(void **state) {
  (void)state;
  wproc p;
  char ref[1024], input[1400];
  big_file(ref, sizeof ref);
  snprintf(input, sizeof input,
           "{\"to\":[\"" ALICE_UPN
           "\"],\"subject\":\"big-down\",\"attachments\":[%s]}",
           ref);
  assert_int_equal(sc_card(&p, "send_email", "alice", input), 0);
  /* The message in Alice's inbox, and its attachment. */
  json_object *all = admin(
                  "GET", "/__emulator/mail/" ALICE_UPN "/messages?folder=inbox",
                  NULL, 200),
              *v = NULL;
  assert_true(json_object_object_get_ex(all, "value", &v));
  char id[512] = "";
  for (size_t i = 0; i < json_object_array_length(v); i++) {
    json_object *m = json_object_array_get_idx(v, i);
    if (strcmp(jstr(m, "subject"), "big-down") == 0)
      snprintf(id, sizeof id, "%s", jstr(m, "id"));
  }
  json_object_put(all);
  assert_true(id[0] != '\0');
  snprintf(input, sizeof input, "{\"message_id\":\"%s\"}", id);
  assert_int_equal(sc_card(&p, "list_attachments", "alice", input), 0);
  json_object *out = json_tokener_parse(p.stdout_), *atts = NULL;
  assert_non_null(out);
  assert_true(json_object_object_get_ex(out, "attachments", &atts));
  char aid[512];
  snprintf(aid, sizeof aid, "%s",
           jstr(json_object_array_get_idx(atts, 0), "id"));
  json_object_put(out);

  snprintf(input, sizeof input,
           "{\"message_id\":\"%s\",\"attachment_id\":\"%s\"}", id, aid);
  const char *const dl[] = {
      "card",    "run", "download_attachment", "--connection", "alice",
      "--input", input, "--progress",          "json",         NULL};
  assert_int_equal(sc_wfc(&p, dl), 0);
  printf("%d download progress lines\n",
         check_progress(p.stderr_, 5000000, 5000000));

  snprintf(input, sizeof input, "{\"message_id\":\"%s\"}", id);
  const char *const ex[] = {"card",  "run",     "export_email", "--connection",
                            "alice", "--input", input,          "--progress",
                            "json",  NULL};
  assert_int_equal(sc_wfc(&p, ex), 0);
  /* MIME: base64 makes it larger than the file. */
  printf("%d export progress lines\n", check_progress(p.stderr_, 0, 5000000));

  /* Not asked, not a terminal: nothing. */
  const char *const quiet[] = {"card",         "run",   "export_email",
                               "--connection", "alice", "--input",
                               input,          NULL};
  assert_int_equal(sc_wfc(&p, quiet), 0);
  assert_null(strstr(p.stderr_, "progress"));
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
      cmocka_unit_test(download_progress),
      cmocka_unit_test(watch_says_what_it_does),
      cmocka_unit_test(flow_prints_its_steps),
  };
  return cmocka_run_group_tests(tests, setup, sc_down);
}
