/* test_listing_cli.c - a listing's whole output from `wfc card run` (issue
 * 13 item 11: the host keeps the items as text, ABI 1.5 list_new) is byte
 * for byte what its items are when streamed, joined as a JSON array,
 * compact (--json) and indented; and a listing cut short by an unusable
 * @odata.nextLink keeps what was read (the card's contract) on that path
 * too; custom_api_action following pages (its items kept as text by
 * `wfc card run`) gives the body a flow step (a tree) gives. The real
 * `wfc`, plugin and emulator; the connection through the real
 * authorization-code flow. */
#define _GNU_SOURCE /* asprintf, strdup */
#include "scen.h"

#define N 60

static const char *const fields =
    "\"fields\":[\"subject\",\"from\",\"to\",\"cc\",\"received\",\"is_read\","
    "\"categories\",\"flag\",\"importance\"]";

/* `wfc card run search_emails --connection alice --input in [--json]`:
 * its stdout (malloc'd). */
static char *search(const char *in, int json) {
  wproc p;
  const char *const args[] = {"card",
                              "run",
                              "search_emails",
                              "--connection",
                              "alice",
                              "--input",
                              in,
                              json ? "--json" : NULL,
                              NULL};
  int rc = sc_wfc(&p, args);
  if (rc != 0)
    fprintf(stderr, "search_emails %s: %s\n", in, p.stderr_);
  assert_int_equal(rc, 0);
  assert_true(strlen(p.stdout_) < sizeof p.stdout_ - 1); /* not cut */
  return strdup(p.stdout_);
}

static void whole_is_the_streamed_items(void **state) {
  (void)state;
  for (int i = 0; i < N; i++) {
    char m[1024];
    snprintf(m, sizeof m,
             "{\"folder\":\"inbox\",\"subject\":\"lst-%02d \\\"q\\\" {x}, "
             "[y]: \\\\ \\u00e9\",\"from\":\"bob@contoso.test\","
             "\"toRecipients\":[\"alice@contoso.test\"],\"ccRecipients\":"
             "[\"carol@contoso.test\"],\"body\":\"b\",\"receivedDateTime\":"
             "\"2024-03-01T09:%02d:00Z\",\"isRead\":%s,\"categories\":%s}",
             i, i, i % 3 ? "true" : "false", i % 2 ? "[\"Blue\"]" : "[]");
    json_object_put(
        admin("POST", "/__emulator/mail/alice@contoso.test/messages", m, 201));
  }
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);

  char in[1024];
  snprintf(in, sizeof in,
           "{\"subject\":\"lst-\",\"limit\":%d,\"page_size\":25,%s}", N,
           fields);
  char in_whole[1024];
  snprintf(in_whole, sizeof in_whole, "%s", in);
  char *whole = search(in, 1);
  snprintf(in, sizeof in,
           "{\"subject\":\"lst-\",\"stream\":true,\"page_size\":25,%s}",
           fields);
  char *streamed = search(in, 1);
  /* The streamed lines: N items, then the output {"count":N,...}. */
  size_t cap = strlen(streamed) + 256, len = 0;
  char *want = malloc(cap);
  assert_non_null(want);
  len += (size_t)snprintf(want, cap, "{\"messages\":[");
  int items = 0;
  for (char *line = streamed, *nl; (nl = strchr(line, '\n')) != NULL;
       line = nl + 1) {
    if (nl[1] == '\0') { /* the last line: the output */
      assert_string_equal(line, "{\"count\":60,\"more\":false}\n");
      break;
    }
    if (items++ > 0)
      want[len++] = ',';
    memcpy(want + len, line, (size_t)(nl - line));
    len += (size_t)(nl - line);
  }
  assert_int_equal(items, N);
  len += (size_t)snprintf(want + len, cap - len,
                          "],\"count\":%d,\"more\":false}\n", N);
  assert_string_equal(whole, want);
  assert_non_null(strstr(whole, "lst-07 \\\"q\\\" {x}, [y]: \\\\ \xc3\xa9"));

  /* Indented: json-c's layout of the same document. */
  char *pretty = search(in_whole, 0);
  json_object *doc = json_tokener_parse(whole);
  assert_non_null(doc);
  char *jc = NULL;
  assert_true(
      asprintf(&jc, "%s\n",
               json_object_to_json_string_ext(
                   doc, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
                            JSON_C_TO_STRING_NOSLASHESCAPE)) > 0);
  assert_string_equal(pretty, jc);
  free(jc);
  json_object_put(doc);
  free(pretty);
  free(want);
  free(whole);
  free(streamed);

  /* An unusable nextLink on the first page: the page is kept, "more"
   * and the warning say why the rest is missing. */
  json_object_put(admin("POST", "/__emulator/faults",
                        "{\"method\":\"GET\",\"path\":\"/v1.0/me/messages\","
                        "\"action\":\"nextLink\",\"nextLink\":\"not a url\","
                        "\"count\":1}",
                        201));
  snprintf(in, sizeof in,
           "{\"subject\":\"lst-\",\"limit\":%d,\"page_size\":25,%s}", N,
           fields);
  char *cut = search(in, 1);
  doc = json_tokener_parse(cut);
  assert_non_null(doc);
  assert_int_equal(
      json_object_array_length(json_object_object_get(doc, "messages")), 25);
  assert_int_equal(json_object_get_int64(json_object_object_get(doc, "count")),
                   25);
  assert_true(json_object_get_boolean(json_object_object_get(doc, "more")));
  assert_non_null(strstr(jstr(doc, "warning"), "not a valid absolute URL"));
  json_object_put(doc);
  free(cut);
}

/* custom_api_action following @odata.nextLink: `wfc card run --json`
 * (items kept as text) and a flow step (an ordinary tree, printed by
 * json-c) give the same body, byte for byte: every page's items. */
static void custom_action_pages_as_a_flow_gets_them(void **state) {
  (void)state;
  for (int i = 0; i < 30; i++) {
    char m[512];
    snprintf(m, sizeof m,
             "{\"folder\":\"inbox\",\"subject\":\"pg-%02d, {a}: \\\"b\\\"\","
             "\"from\":\"bob@contoso.test\",\"toRecipients\":"
             "[\"alice@contoso.test\"],\"body\":\"b\",\"receivedDateTime\":"
             "\"2024-03-01T10:%02d:00Z\"}",
             i, i);
    json_object_put(
        admin("POST", "/__emulator/mail/alice@contoso.test/messages", m, 201));
  }
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);
  const char *in =
      "{\"method\":\"GET\",\"relative_url\":\"/me/messages\",\"query\":"
      "{\"$select\":\"subject,from,toRecipients\",\"$top\":\"7\"},"
      "\"follow_next_link\":true,\"max_pages\":10}";
  wproc p;
  const char *const args[] = {"card",
                              "run",
                              "custom_api_action",
                              "--connection",
                              "alice",
                              "--input",
                              in,
                              "--json",
                              NULL};
  int rc = sc_wfc(&p, args);
  if (rc != 0)
    fprintf(stderr, "custom_api_action: %s\n", p.stderr_);
  assert_int_equal(rc, 0);
  json_object *out = json_tokener_parse(p.stdout_);
  assert_non_null(out);
  json_object *body = json_object_object_get(out, "body");
  assert_true(json_object_array_length(json_object_object_get(body, "value")) >=
              30);
  assert_true(json_object_get_int64(json_object_object_get(out, "pages")) >= 5);
  char *body_text = strdup(json_object_to_json_string_ext(
      body, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  json_object_put(out);
  /* Written by `wfc card run`: the body's bytes as in the output. */
  assert_non_null(strstr(p.stdout_, body_text));

  char path[512];
  snprintf(path, sizeof path, "%s/pages.flow.json", sc_dir);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f,
          "{\"connection\":\"alice\",\"steps\":[{\"name\":\"a\",\"card\":"
          "\"custom_api_action\",\"input\":%s}]}",
          in);
  fclose(f);
  const char *const fargs[] = {"flow", "run", path, "--json", NULL};
  rc = sc_wfc(&p, fargs);
  if (rc != 0)
    fprintf(stderr, "flow run: %s\n", p.stderr_);
  assert_int_equal(rc, 0);
  assert_non_null(strstr(p.stdout_, body_text));
  free(body_text);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(whole_is_the_streamed_items, sc_up,
                                      sc_down),
      cmocka_unit_test_setup_teardown(custom_action_pages_as_a_flow_gets_them,
                                      sc_up, sc_down),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
