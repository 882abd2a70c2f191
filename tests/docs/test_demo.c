/* test_demo.c - runs scripts/demo against the build directory, as `make
 * demo` does, and checks its exit status and the lines a reader relies on.
 * A card step may only be missing when the demo says the card is not in
 * this build yet (cards land one by one); then its line must be the skip
 * line, never silence. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <cmocka.h>

static char *output; /* the demo's stdout + stderr */
static int status;   /* its exit status, or -1 */

static int run_demo(void **state) {
  (void)state;
  const char *src = getenv("WFC_SOURCE_DIR"), *build = getenv("WFC_BUILD_DIR");
  if (src == NULL || build == NULL) {
    fprintf(stderr, "WFC_SOURCE_DIR and WFC_BUILD_DIR must be set (ctest)\n");
    return -1;
  }
  char cmd[8192];
  snprintf(cmd, sizeof cmd, "'%s/scripts/demo' '%s' 2>&1", src, build);
  FILE *p = popen(cmd, "r");
  if (p == NULL)
    return -1;
  size_t cap = 1 << 16, len = 0, n;
  output = malloc(cap);
  while (output != NULL && (n = fread(output + len, 1, cap - len - 1, p)) > 0) {
    len += n;
    if (cap - len < 2) {
      char *t = realloc(output, cap *= 2);
      if (t == NULL)
        free(output);
      output = t;
    }
  }
  int st = pclose(p);
  if (output == NULL)
    return -1;
  output[len] = '\0';
  status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  /* ctest shows it on failure: what a person running `make demo` saw. */
  fputs(output, stderr);
  return 0;
}

static int free_output(void **state) {
  (void)state;
  free(output);
  return 0;
}

static int has(const char *s) {
  return strstr(output, s) != NULL;
}

static void skipped_or(const char *card, const char *line) {
  char skip[200];
  snprintf(skip, sizeof skip, "no card \"%s\" yet", card);
  if (!has(line) && !has(skip))
    fail_msg("neither \"%s\" nor the skip line of %s in the demo's output",
             line, card);
}

static void exits_zero_with_summary(void **state) {
  (void)state;
  assert_int_equal(status, 0);
  assert_true(has("demo OK"));
  assert_false(has("FAILED at:"));
  assert_true(has("== Summary"));
}

static void connects_through_the_real_flow(void **state) {
  (void)state;
  assert_true(has("Emulator: tenant contoso.test on http://127.0.0.1:"));
  assert_true(has("connection \"alice\" is connected"));
  assert_true(has("connection \"bob\" is connected"));
  assert_true(has("2 connections"));
}

static void runs_the_mail_steps(void **state) {
  (void)state;
  assert_true(has("Bob creates the folder 'Finance' ... created"));
  assert_true(has("Bob's folders: "));
  skipped_or("send_email",
             "Alice sends 'Quarterly numbers' to bob@contoso.test (with "
             "q3-numbers.csv) ... delivered");
  skipped_or("send_email", "The emulator recorded 3 messages sent by Alice");
  skipped_or("search_emails",
             "Search for 'numbers' in Bob's inbox: 2 messages");
  skipped_or("reply_email", "Alice's inbox now holds 'RE: Lunch on Friday?'");
  skipped_or("move_email",
             "Bob moves 'Quarterly numbers' into 'Finance' ... moved");
  if (!has("no card \"send_email\" yet"))
    assert_true(has("Bob downloads q3-numbers.csv: 60 bytes") &&
                has("matches what Alice sent"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(exits_zero_with_summary),
      cmocka_unit_test(connects_through_the_real_flow),
      cmocka_unit_test(runs_the_mail_steps),
  };
  return cmocka_run_group_tests(tests, run_demo, free_output);
}
