/* test_text_cli.c - `wfc card run` and `wfc flow run` given text that is
 * not text: raw invalid UTF-8 bytes in --input and in an @file, a raw NUL
 * byte in a file, a lone surrogate escape, \u0000 in a value (also inside
 * a flow template), and a connection param. Each is refused with the
 * field's path and the byte, no Graph request reaches the emulator (its
 * stats) and nothing is sent. Before, --input was read by json-c without the
 * UTF-8 check (sent with U+FFFD), an @file stopped at its first NUL byte, and a
 * flow template cut a string at \u0000. */
#define _POSIX_C_SOURCE 200809L /* strdup, strndup, setenv (scen.h) */
#include "scen.h"

#include <stdio.h>

static int setup(void **state) {
  if (sc_up(state) != 0)
    return -1;
  return 0;
}

/* Writes len bytes to dir/name; the path into path. */
static void write_file(const char *name, const char *bytes, size_t len,
                       char *path, size_t pathlen) {
  snprintf(path, pathlen, "%s/%s", sc_dir, name);
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(bytes, 1, len, f), len);
  fclose(f);
}

/* Runs args; it must fail, say want on stderr, and send nothing. */
static void refused(const char *const *args, const char *want) {
  long before = sc_route_requests("/v1.0/", NULL),
       sent = sc_sent_count(ALICE_UPN);
  wproc p;
  int code = sc_wfc(&p, args);
  if (code == 0 || strstr(p.stderr_, want) == NULL)
    fail_msg("exit %d, stderr \"%s\", want \"%s\"", code, p.stderr_, want);
  assert_int_equal(sc_route_requests("/v1.0/", NULL), before);
  assert_int_equal(sc_sent_count(ALICE_UPN), sent);
}

/* `wfc card run send_email --connection alice --input INPUT`: refused. */
static void send_refused(const char *input, const char *want) {
  const char *const args[] = {"card",  "run",     "send_email", "--connection",
                              "alice", "--input", input,        NULL};
  refused(args, want);
}

static void card_run_refuses_bad_text(void **state) {
  (void)state;
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);

  /* A raw 0xFF in --input. */
  send_refused("{\"to\":[\"bob@contoso.test\"],\"subject\":\"ab\xff"
               "cd\",\"body\":\"x\"}",
               "wfc: --input: input.subject: invalid UTF-8 at byte 2 (byte 40 "
               "of the JSON text)");

  /* In an @file: an overlong '/' deep in a list. */
  const char file[] =
      "{\"to\": [\"bob@contoso.test\"],\n \"subject\": \"s\",\n"
      " \"body\": \"x\", \"categories\": [\"ok\", \"a\xc0\xaf\"]}";
  char path[512], at[520], want[700];
  write_file("in.json", file, sizeof file - 1, path, sizeof path);
  snprintf(at, sizeof at, "@%s", path);
  snprintf(want, sizeof want,
           "wfc: %s: input.categories[1]: invalid UTF-8 at byte 1 (byte %zu "
           "of the JSON text)",
           path, (size_t)(strchr(file, '\xc0') - file));
  send_refused(at, want);

  /* A raw NUL byte in the file: not JSON (before, the text ended there). */
  const char nul[] = "{\"to\": [\"bob@contoso.test\"], \"subject\": \"s\","
                     " \"body\": \"a\0b\"}";
  write_file("nul.json", nul, sizeof nul - 1, path, sizeof path);
  snprintf(at, sizeof at, "@%s", path);
  snprintf(want, sizeof want, "wfc: %s: malformed JSON at byte %zu: NUL byte",
           path, strlen(nul));
  send_refused(at, want);

  /* A lone surrogate escape (json-c would write U+FFFD). */
  send_refused(
      "{\"to\":[\"bob@contoso.test\"],\"subject\":\"x\\ud83d\",\"body\":\"b\"}",
      "wfc: --input: input.subject: a lone surrogate escape "
      "(\\ud800-\\udfff without its pair) at byte 1 (byte 39 of the "
      "JSON text)");

  /* \u0000 in a value: JSON, but not text a card takes. */
  send_refused("{\"to\":[\"bob@contoso.test\"],\"subject\":\"s\","
               "\"body\":\"a\\u0000b\"}",
               "input.body: contains a NUL character (\\u0000) at byte 1");

  /* Connection params: the same rule, named under params. */
  const char *const a5[] = {"connection",
                            "new",
                            "--plugin",
                            "o365mail",
                            "--nickname",
                            "other",
                            "--tenant",
                            "ab\xff"
                            "c",
                            "--print-url",
                            NULL};
  refused(a5, "params.tenant: invalid UTF-8 at byte 2");

  /* The same text, valid, goes out. */
  long sent = sc_sent_count(ALICE_UPN);
  wproc p;
  assert_int_equal(
      sc_card(&p, "send_email", "alice",
              "{\"to\":[\"bob@contoso.test\"],\"subject\":\"h\xc3\xa9 "
              "\\ud83d\\ude00\",\"body\":\"b\"}"),
      0);
  assert_int_equal(sc_sent_count(ALICE_UPN), sent + 1);
}

static void flow_run_refuses_bad_text(void **state) {
  (void)state;
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);
  char path[512], want[700];
  const char *const args[] = {"flow", "run", path, NULL};

  /* Raw invalid UTF-8 in a step's input. */
  const char bad[] = "{\"connection\": \"alice\", \"steps\": [{\"name\": \"s\","
                     " \"card\": \"send_email\", \"input\": {\"to\": "
                     "[\"bob@contoso.test\"], \"subject\": \"\xe2\x82\", "
                     "\"body\": \"b\"}}]}";
  write_file("bad.flow.json", bad, sizeof bad - 1, path, sizeof path);
  snprintf(want, sizeof want,
           "wfc: %s: steps[0].input.subject: invalid UTF-8 at byte 0 (byte "
           "%zu of the JSON text)",
           path, (size_t)(strchr(bad, '\xe2') - bad));
  refused(args, want);

  /* \u0000 after a reference: the text is not cut at it (before, "n=" and
   * the count went out and the rest was lost). */
  const char tmpl[] =
      "{\"connection\": \"alice\", \"steps\": ["
      "{\"name\": \"l\", \"card\": \"list_folders\", \"input\": {}},"
      "{\"name\": \"s\", \"card\": \"send_email\", \"input\": {\"to\": "
      "[\"bob@contoso.test\"], \"subject\": \"s\", \"body\": "
      "\"n={{steps.l.count}}\\u0000 more\"}}]}";
  write_file("tmpl.flow.json", tmpl, sizeof tmpl - 1, path, sizeof path);
  long sent = sc_sent_count(ALICE_UPN);
  wproc p;
  int code = sc_wfc(&p, args);
  if (code == 0 ||
      strstr(p.stderr_, "input.body: contains a NUL character (\\u0000) at "
                        "byte 19") == NULL)
    fail_msg("exit %d, stderr \"%s\"", code, p.stderr_);
  assert_int_equal(sc_sent_count(ALICE_UPN), sent);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(card_run_refuses_bad_text, setup,
                                      sc_down),
      cmocka_unit_test_setup_teardown(flow_run_refuses_bad_text, setup,
                                      sc_down),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
