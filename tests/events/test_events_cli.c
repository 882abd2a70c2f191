/* test_events_cli.c - `wfc event watch` end to end: the real wfc binary and
 * wfc-o365mail.so on a fresh store, against the emulator. The admin
 * connects through the real OAuth flow (`wfc connection new --print-url`,
 * the test playing the browser), then messages injected through the
 * emulator's admin API come out of `wfc event watch --once` as JSON lines,
 * each once: also across a run that exits after printing and before the
 * acknowledgement (--exit-before-ack, what a crash leaves), and across an
 * expired delta link. */
#define _POSIX_C_SOURCE 200809L /* strndup, strdup, strtok_r, kill */
#include <signal.h>
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

/* Without --once: polls every --interval until SIGTERM, printing each new
 * message as it comes; the stop is clean (exit 0). */
static void watch_loop_until_signal(void **state) {
  (void)state;
  wproc p;
  char line[4096];
  wuser_spawn(&u, &p, WATCH("--json", "--interval", "0.2"));
  inject("loop-1");
  wproc_read_line(&p, line, sizeof line);
  assert_non_null(strstr(line, "\"subject\":\"loop-1\""));
  inject("loop-2");
  wproc_read_line(&p, line, sizeof line);
  assert_non_null(strstr(line, "\"subject\":\"loop-2\""));
  kill(p.pid, SIGTERM);
  assert_int_equal(wuser_finish(&u, &p), 0);
  /* Both were acknowledged: the next run has nothing. */
  char subj[256];
  assert_int_equal(wuser_run(&u, &p, WATCH("--once", "--json")), 0);
  assert_int_equal(events_of(&p, subj, sizeof subj), 0);
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

/* Writes a flow file into the user's directory; returns its path. */
static const char *flow_file(const char *name, const char *json) {
  static char path[256];
  snprintf(path, sizeof path, "%s/%s.json", u.dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(json, f);
  fclose(f);
  return path;
}

/* The flag status of the admin's message with subject s ("" if none). */
static const char *flag_of(const char *s, char *buf, size_t len) {
  json_object *j = admin(
      "GET", "/__emulator/mail/" ADMIN_UPN "/messages?folder=inbox", NULL, 200);
  json_object *v = NULL;
  buf[0] = '\0';
  assert_true(json_object_object_get_ex(j, "value", &v));
  for (size_t i = 0; i < json_object_array_length(v); i++) {
    json_object *m = json_object_array_get_idx(v, i), *f = NULL, *fs = NULL;
    if (strcmp(jstr(m, "subject"), s) == 0 &&
        json_object_object_get_ex(m, "flag", &f) &&
        json_object_object_get_ex(f, "flagStatus", &fs))
      snprintf(buf, len, "%s", json_object_get_string(fs));
  }
  json_object_put(j);
  return buf;
}

/* A flow: new_email triggers get_message on {{trigger.id}}, then
 * flag_email on {{steps.get.id}}; each message is handled once, and the
 * flow's subscription is its own (the plain watch above is not affected,
 * nor does it take the flow's events). */
static void flow_runs_steps_per_event(void **state) {
  (void)state;
  const char *path = flow_file(
      "triage",
      "{\"name\": \"triage\", \"connection\": \"admin\",\n"
      " \"trigger\": {\"card\": \"new_email\"},\n"
      " \"steps\": [\n"
      "  {\"name\": \"get\", \"card\": \"get_message\",\n"
      "   \"input\": {\"message_id\": \"{{trigger.id}}\", \"include_body\": "
      "false}},\n"
      "  {\"name\": \"flag\", \"card\": \"flag_email\",\n"
      "   \"input\": {\"message_id\": \"{{steps.get.id}}\", \"status\": "
      "\"flagged\"}}]}\n");
  const char *const run[] = {"flow", "run", path, "--once", "--json", NULL};
  wproc p;
  char subj[1024], buf[64];
  sleep(1); /* the flow's start falls after the earlier messages */
  assert_int_equal(wuser_run(&u, &p, run), 0);
  assert_string_equal(p.stdout_, "");

  inject("flow-1");
  inject("flow-2");
  assert_int_equal(wuser_run(&u, &p, run), 0);
  int lines = 0;
  for (char *l = p.stdout_; (l = strstr(l, "\"status\":\"ok\"")); l++)
    lines++;
  assert_int_equal(lines, 2);
  assert_non_null(strstr(p.stdout_, "\"subject\":\"flow-1\""));
  assert_non_null(strstr(p.stdout_, "\"subject\":\"flow-2\""));
  assert_string_equal(flag_of("flow-1", buf, sizeof buf), "flagged");
  assert_string_equal(flag_of("flow-2", buf, sizeof buf), "flagged");
  assert_int_equal(wuser_run(&u, &p, run), 0);
  assert_string_equal(p.stdout_, "");

  /* The plain watch still gets them, once, on its own subscription. */
  assert_int_equal(wuser_run(&u, &p, WATCH("--once", "--json")), 0);
  assert_int_equal(events_of(&p, subj, sizeof subj), 2);
  assert_string_equal(subj, "flow-1,flow-2");

  /* A reference that does not resolve fails the run, names the field, and
   * leaves the event to come again. */
  const char *bad = flow_file(
      "bad", "{\"name\": \"bad\", \"connection\": \"admin\",\n"
             " \"trigger\": {\"card\": \"new_email\"},\n"
             " \"steps\": [{\"name\": \"get\", \"card\": \"get_message\",\n"
             "   \"input\": {\"message_id\": \"{{trigger.nope}}\"}}]}\n");
  const char *const run_bad[] = {"flow", "run", bad, "--once", "--json", NULL};
  sleep(1);
  assert_int_equal(wuser_run(&u, &p, run_bad), 0); /* start */
  inject("flow-3");
  for (int i = 0; i < 2; i++) {
    assert_int_equal(wuser_run(&u, &p, run_bad), 1);
    assert_non_null(strstr(p.stderr_, "steps[0].input.message_id: "
                                      "{{trigger.nope}} does not resolve"));
    assert_non_null(strstr(p.stdout_, "\"subject\":\"flow-3\""));
  }

  /* Without a trigger the steps run once; a malformed file names the
   * field. */
  const char *once = flow_file(
      "once", "{\"connection\": \"admin\", \"steps\": [\n"
              " {\"name\": \"folders\", \"card\": \"list_folders\",\n"
              "  \"input\": {\"recursive\": false}},\n"
              " {\"name\": \"echo\", \"card\": \"list_folders\",\n"
              "  \"input\": {\"parent\": \"{{steps.folders.folders[0].id}}\"}}"
              "]}\n");
  const char *const run_once[] = {"flow", "run", once, "--json", NULL};
  assert_int_equal(wuser_run(&u, &p, run_once), 0);
  assert_non_null(strstr(p.stdout_, "\"status\":\"ok\""));
  assert_non_null(strstr(p.stdout_, "\"echo\":"));
  /* The example in the README passes the checks (its connection is not
   * in this store). */
  char example[512];
  snprintf(example, sizeof example, "%s/examples/flow.json",
           getenv("WFC_SOURCE_DIR") ? getenv("WFC_SOURCE_DIR")
                                    : WFC_SOURCE_DIR);
  const char *const run_example[] = {"flow", "run", example, "--once", NULL};
  assert_int_equal(wuser_run(&u, &p, run_example), 1);
  assert_non_null(strstr(p.stderr_, "no connection \"alice\""));
  const char *broken =
      flow_file("broken", "{\"steps\": [{\"card\": \"list_folders\"}]}");
  const char *const run_broken[] = {"flow", "run", broken, NULL};
  assert_int_equal(wuser_run(&u, &p, run_broken), 1);
  assert_non_null(strstr(p.stderr_, "steps[0].name: required string"));
}

/* Step conditions: "if" skips a step per event (and, or, not, eq, gt,
 * contains, exists on the trigger and earlier steps); the run line lists
 * the skipped steps; a condition that cannot be evaluated fails the run
 * naming the step; bad conditions are refused when the file is loaded,
 * naming the step and the field, before anything runs. */
static void flow_conditions_skip_steps(void **state) {
  (void)state;
  const char *path = flow_file(
      "cond",
      "{\"name\": \"cond\", \"connection\": \"admin\",\n"
      " \"trigger\": {\"card\": \"new_email\"},\n"
      " \"steps\": [\n"
      "  {\"name\": \"get\", \"card\": \"get_message\",\n"
      "   \"if\": {\"and\": [{\"contains\": [\"{{trigger.subject}}\", "
      "\"urgent\"]},\n"
      "                     {\"not\": {\"eq\": [\"{{trigger.importance}}\", "
      "\"low\"]}}]},\n"
      "   \"input\": {\"message_id\": \"{{trigger.id}}\"}},\n"
      "  {\"name\": \"flag\", \"card\": \"flag_email\",\n"
      "   \"if\": {\"exists\": \"{{steps.get.id}}\"},\n"
      "   \"input\": {\"message_id\": \"{{steps.get.id}}\"}},\n"
      "  {\"name\": \"read\", \"card\": \"mark_read\",\n"
      "   \"if\": {\"or\": [{\"eq\": [\"{{trigger.from}}\", \"x@y.test\"]},\n"
      "                    {\"gt\": [\"{{trigger.received}}\", "
      "\"2000-01-01T00:00:00Z\"]}]},\n"
      "   \"input\": {\"message_id\": \"{{trigger.id}}\", \"read\": "
      "true}}]}\n");
  const char *const run[] = {"flow", "run", path, "--once", "--json", NULL};
  wproc p;
  char buf[64];
  sleep(1);
  assert_int_equal(wuser_run(&u, &p, run), 0); /* the start */
  inject("cond urgent 1");
  inject("cond plain 2");
  json_object_put(admin("POST", "/__emulator/mail/" ADMIN_UPN "/messages",
                        "{\"subject\":\"cond urgent 3\",\"importance\":\"low\","
                        "\"from\":\"bob@contoso.test\"}",
                        201));
  assert_int_equal(wuser_run(&u, &p, run), 0);
  int runs = 0, urgent = 0, skipped_both = 0;
  for (char *l = p.stdout_, *nl; (nl = strchr(l, '\n')) != NULL; l = nl + 1) {
    *nl = '\0';
    json_object *j = json_tokener_parse(l), *t = NULL, *sk = NULL, *st = NULL;
    assert_non_null(j);
    assert_string_equal(jstr(j, "status"), "ok");
    assert_true(json_object_object_get_ex(j, "trigger", &t));
    assert_true(json_object_object_get_ex(j, "steps", &st));
    json_object_object_get_ex(j, "skipped", &sk);
    const char *subject = jstr(t, "subject");
    runs++;
    /* mark_read ran for each one (its "or" holds). */
    assert_true(json_object_object_get_ex(st, "read", NULL));
    if (strcmp(subject, "cond urgent 1") == 0) {
      urgent++;
      assert_null(sk);
      assert_true(json_object_object_get_ex(st, "get", NULL));
    } else {
      assert_non_null(sk);
      assert_string_equal(json_object_to_json_string(sk),
                          "[ \"get\", \"flag\" ]");
      assert_false(json_object_object_get_ex(st, "get", NULL));
      skipped_both++;
    }
    *nl = '\n';
    json_object_put(j);
  }
  assert_int_equal(runs, 3);
  assert_int_equal(urgent, 1);
  assert_int_equal(skipped_both, 2);
  assert_string_equal(flag_of("cond urgent 1", buf, sizeof buf), "flagged");
  assert_string_equal(flag_of("cond plain 2", buf, sizeof buf), "notFlagged");
  assert_string_equal(flag_of("cond urgent 3", buf, sizeof buf), "notFlagged");

  /* Evaluated but not comparable: the run fails naming the step and the
   * field; the event comes again. */
  const char *cmp = flow_file(
      "cmp", "{\"name\": \"cmp\", \"connection\": \"admin\",\n"
             " \"trigger\": {\"card\": \"new_email\"},\n"
             " \"steps\": [{\"name\": \"get\", \"card\": \"get_message\",\n"
             "   \"if\": {\"lt\": [\"{{trigger.subject}}\", 5]},\n"
             "   \"input\": {\"message_id\": \"{{trigger.id}}\"}}]}\n");
  const char *const run_cmp[] = {"flow", "run", cmp, "--once", "--json", NULL};
  sleep(1);
  assert_int_equal(wuser_run(&u, &p, run_cmp), 0);
  inject("cond cmp 4");
  for (int i = 0; i < 2; i++) {
    assert_int_equal(wuser_run(&u, &p, run_cmp), 1);
    assert_non_null(strstr(p.stderr_, "step \"get\": steps[0].if.lt: cannot "
                                      "compare string with int"));
  }

  /* Refused at load time, naming the step and the field. */
  static const struct {
    const char *step_extra, *trigger, *words;
  } bad[] = {
      {"\"if\": {\"equals\": [1, 1]}", "",
       "step \"s\": steps[1].if: unknown "
       "operator \"equals\""},
      {"\"if\": {\"eq\": [1]}", "", "steps[1].if.eq: expected [left, right]"},
      {"\"if\": {\"and\": []}", "", "steps[1].if.and: expected a non-empty"},
      {"\"if\": {\"not\": {\"exists\": \"trigger.id\"}}", "",
       "steps[1].if.not.exists: expected one reference"},
      {"\"if\": {\"eq\": [\"{{steps.later.id}}\", 1]}", "",
       "steps[1].if.eq[0]: {{steps.later.id}}: no step \"later\" before this "
       "one"},
      {"\"if\": {\"eq\": [\"{{steps.s.id}}\", 1]}", "",
       "no step \"s\" before this one"},
      {"\"if\": {\"eq\": [\"{{trigger.id}}\", 1]}", "",
       "steps[1].if.eq[0]: {{trigger.id}}: the flow has no trigger"},
      {"\"if\": {\"eq\": [\"{{nope.id}}\", 1]}", "",
       "a reference starts with trigger. or steps.NAME."},
      {"\"if\": {\"eq\": [1, 1], \"ne\": [1, 2]}", "",
       "steps[1].if: expected an object with one operator"},
      {"\"If\": {\"eq\": [1, 1]}", "", "steps[1].If: unknown field"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    char json[1024];
    snprintf(json, sizeof json,
             "{\"connection\": \"admin\", %s\"steps\": [\n"
             " {\"name\": \"first\", \"card\": \"list_folders\"},\n"
             " {\"name\": \"s\", \"card\": \"list_folders\", %s},\n"
             " {\"name\": \"later\", \"card\": \"list_folders\"}]}\n",
             bad[i].trigger, bad[i].step_extra);
    const char *const run_b[] = {"flow", "run", flow_file("badcond", json),
                                 "--once", NULL};
    assert_int_equal(wuser_run(&u, &p, run_b), 1);
    if (strstr(p.stderr_, bad[i].words) == NULL)
      fail_msg("case %zu: %s", i, p.stderr_);
    assert_string_equal(p.stdout_, "");
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(watch_prints_each_message_once),
      cmocka_unit_test(watch_loop_until_signal),
      cmocka_unit_test(watch_refusals_name_the_cause),
      cmocka_unit_test(flow_runs_steps_per_event),
      cmocka_unit_test(flow_conditions_skip_steps),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
