/* test_demo.c - runs scripts/demo against the build directory, as `make
 * demo` does, and checks its exit status and the lines a reader relies on:
 * both connections through the real OAuth flow, every mail step, the
 * downloaded attachment's SHA-256, the summary. */
#define _POSIX_C_SOURCE 200809L /* popen, pclose */
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
  static const char *const lines[] = {
      "Mail tips for Bob, before Alice writes: automatic replies off",
      "Alice sends 'Quarterly numbers' to bob@contoso.test (with "
      "q3-numbers.csv) ... delivered",
      "Alice sends 'Lunch on Friday?' to bob@contoso.test ... delivered",
      "The emulator recorded 3 messages sent by Alice",
      "Search for 'numbers' in Bob's inbox: 2 messages",
      "Search for 'lunch' in Bob's inbox: found 'Lunch on Friday?'",
      "Alice's inbox now holds 'RE: Lunch on Friday?'",
      "Bob creates the folder 'Finance' ... created",
      "Bob moves 'Quarterly numbers' into 'Finance' ... moved",
      "Bob downloads q3-numbers.csv: 60 bytes",
      "matches what Alice sent",
      "14 steps passed",
  };
  for (size_t i = 0; i < sizeof lines / sizeof lines[0]; i++)
    if (!has(lines[i]))
      fail_msg("the demo's output lacks \"%s\"", lines[i]);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(exits_zero_with_summary),
      cmocka_unit_test(connects_through_the_real_flow),
      cmocka_unit_test(runs_the_mail_steps),
  };
  return cmocka_run_group_tests(tests, run_demo, free_output);
}
