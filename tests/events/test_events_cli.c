/* test_events_cli.c - `wfc event watch` end to end: the real wfc binary and
 * wfc-o365mail.so on a fresh store, against the emulator. The admin
 * connects through the real OAuth flow (`wfc connection new --print-url`,
 * the test playing the browser), then messages injected through the
 * emulator's admin API come out of `wfc event watch --once` as JSON lines,
 * each once: also across a run that exits after printing and before the
 * acknowledgement (--exit-before-ack, what a crash leaves), and across an
 * expired delta link. */
#include <stddef.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../emulator/identity_flow.h"
#include "wfc_user.h"

static wuser u;

static int setup(void **state) {
  if (wuser_init(&u, "events") != 0)
    return -1;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return emu_setup(state);
}

static int teardown(void **state) {
  int rc = emu_teardown(state);
  if (wuser_cleanup(&u) != 0)
    rc = -1;
  curl_global_cleanup();
  return rc;
}

/* `wfc connection new` for the admin, consenting for the admin only. */
static void connect_admin(void) {
  char auth[256], graph[256], url[4096];
  snprintf(auth, sizeof auth, "authority_url=%s", base());
  snprintf(graph, sizeof graph, "graph_url=%s/v1.0", base());
  const char *const args[] = {
      "connection",  "new",         "--plugin", "o365mail",
      "--nickname",  "admin",       "--env",    "preview",
      "--tenant",    TENANT_DOMAIN, "--param",  auth,
      "--param",     graph,         "--param",  "client_id=" PREVIEW,
      "--print-url", NULL};
  wproc p;
  wuser_spawn(&u, &p, args);
  wuser_read_url(&p, base(), url, sizeof url);
  tclient *b = tclient_new(1);
  tresp page, after, done;
  get(b, url, &page);
  sign_in(b, &page, ADMIN_UPN, ADMIN_PW, &after);
  consent(b, &after, 1, 0, &done);
  long st = wuser_to_listener(&done);
  tresp_free(&page);
  tresp_free(&after);
  tresp_free(&done);
  tclient_free(b);
  assert_int_equal(wuser_finish(&u, &p), 0);
  assert_int_equal(st, 200);
}

static void inject(const char *subject) {
  char body[512];
  snprintf(body, sizeof body,
           "{\"subject\":\"%s\",\"from\":\"bob@contoso.test\","
           "\"body\":{\"contentType\":\"text\",\"content\":\"hi\"}}",
           subject);
  json_object *j =
      admin("POST", "/__emulator/mail/" ADMIN_UPN "/messages", body, 201);
  json_object_put(j);
}

/* The events printed by a run: one JSON object per stdout line, asserted;
 * returns how many, and copies the subjects (comma-separated) into subj. */
static int events_of(const wproc *p, char *subj, size_t len) {
  int n = 0;
  subj[0] = '\0';
  char *copy = strdup(p->stdout_), *save = NULL;
  for (char *line = strtok_r(copy, "\n", &save); line != NULL;
       line = strtok_r(NULL, "\n", &save)) {
    json_object *e = json_tokener_parse(line);
    if (!json_object_is_type(e, json_type_object))
      fail_msg("not a JSON object line: %s", line);
    json_object *s = NULL;
    assert_true(json_object_object_get_ex(e, "subject", &s));
    assert_true(json_object_object_get_ex(e, "id", NULL));
    size_t k = strlen(subj);
    snprintf(subj + k, len - k, "%s%s", n ? "," : "",
             json_object_get_string(s));
    json_object_put(e);
    n++;
  }
  free(copy);
  return n;
}

#define WATCH(...)                                                             \
  (const char *const[]) {                                                      \
    "event", "watch", "--card", "new_email", "--connection", "admin",          \
        __VA_ARGS__, NULL                                                      \
  }

static void watch_prints_each_message_once(void **state) {
  (void)state;
  connect_admin();
  wproc p;
  char subj[1024];

  /* First run: the watch starts now; the mailbox's older mail is not
   * replayed. */
  assert_int_equal(wuser_run(&u, &p, WATCH("--once", "--json")), 0);
  assert_int_equal(events_of(&p, subj, sizeof subj), 0);

  inject("cli-1");
  inject("cli-2");
  assert_int_equal(wuser_run(&u, &p, WATCH("--once", "--json")), 0);
  assert_int_equal(events_of(&p, subj, sizeof subj), 2);
  assert_string_equal(subj, "cli-1,cli-2");
  assert_int_equal(wuser_run(&u, &p, WATCH("--once", "--json")), 0);
  assert_int_equal(events_of(&p, subj, sizeof subj), 0);

  /* A run dies after printing, before the acknowledgement: the next run
   * polls the same changes again and prints none of them twice. */
  inject("cli-3");
  assert_int_equal(
      wuser_run(&u, &p, WATCH("--once", "--json", "--exit-before-ack")), 0);
  assert_int_equal(events_of(&p, subj, sizeof subj), 1);
  assert_string_equal(subj, "cli-3");
  assert_non_null(strstr(p.stderr_, "exiting before the acknowledgement"));
  assert_int_equal(wuser_run(&u, &p, WATCH("--once", "--json")), 0);
  assert_int_equal(events_of(&p, subj, sizeof subj), 0);

  /* Text mode: the same JSON lines, a summary on stderr. */
  inject("cli-4");
  assert_int_equal(wuser_run(&u, &p, WATCH("--once")), 0);
  assert_int_equal(events_of(&p, subj, sizeof subj), 1);
  assert_string_equal(subj, "cli-4");
  assert_non_null(strstr(p.stderr_, "wfc: 1 new event(s)"));

  /* The delta link expires: one log line says so, the new message comes,
   * the old ones do not. */
  inject("cli-5");
  admin_ok("POST", "/__emulator/delta/expire", NULL);
  assert_int_equal(wuser_run(&u, &p, WATCH("--once", "--json")), 0);
  assert_int_equal(events_of(&p, subj, sizeof subj), 1);
  assert_string_equal(subj, "cli-5");
  assert_non_null(strstr(p.stderr_, "delta link expired (syncStateNotFound); "
                                    "resyncing from"));
  assert_int_equal(wuser_run(&u, &p, WATCH("--once", "--json")), 0);
  assert_int_equal(events_of(&p, subj, sizeof subj), 0);

  /* --param makes another subscription (its own start). The start has a
   * one-second resolution (Graph's receivedDateTime): let cli-5 fall
   * before it. */
  sleep(1);
  assert_int_equal(
      wuser_run(&u, &p, WATCH("--once", "--json", "--param", "page_size=5")),
      0);
  assert_int_equal(events_of(&p, subj, sizeof subj), 0);
  inject("cli-6");
  assert_int_equal(
      wuser_run(&u, &p, WATCH("--once", "--json", "--param", "page_size=5")),
      0);
  assert_int_equal(events_of(&p, subj, sizeof subj), 1);
  assert_string_equal(subj, "cli-6");
  /* ... which the first one sees too, on its own. */
  assert_int_equal(wuser_run(&u, &p, WATCH("--once", "--json")), 0);
  assert_int_equal(events_of(&p, subj, sizeof subj), 1);
  assert_string_equal(subj, "cli-6");
}

static void watch_refusals_name_the_cause(void **state) {
  (void)state;
  wproc p;
  /* A wrong input: the field is named, nothing is polled. */
  assert_int_equal(
      wuser_run(&u, &p, WATCH("--once", "--param", "page_size=abc")), 1);
  assert_non_null(strstr(p.stderr_, "page_size"));
  assert_int_equal(wuser_run(&u, &p, WATCH("--once", "--param", "bogus=1")), 1);
  assert_non_null(strstr(p.stderr_, "bogus"));
  /* An action card is not an event card. */
  const char *const action[] = {
      "event",        "watch", "--card", "get_message",
      "--connection", "admin", "--once", NULL};
  assert_int_equal(wuser_run(&u, &p, action), 1);
  assert_non_null(strstr(p.stderr_, "not an event card"));
  const char *const noconn[] = {"event",        "watch", "--card", "new_email",
                                "--connection", "ghost", "--once", NULL};
  assert_int_equal(wuser_run(&u, &p, noconn), 1);
  assert_non_null(strstr(p.stderr_, "no connection \"ghost\""));
  const char *const usage[] = {"event", "watch", "--card", "new_email", NULL};
  assert_int_equal(wuser_run(&u, &p, usage), 2);
  assert_non_null(strstr(p.stderr_, "--connection NAME"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(watch_prints_each_message_once),
      cmocka_unit_test(watch_refusals_name_the_cause),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
