/* unit_test.h - what the unit tests (tests/unit/) share: the byte
 * sequences that are not UTF-8, which every text check must refuse
 * (test_json.c, test_validate.c), and running a case in a child process
 * for what is process-wide, such as OpenSSL's secure heap (test_secmem.c,
 * test_log_heap.c). Header only. */
#ifndef WFC_UNIT_TEST_H
#define WFC_UNIT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

/* Not UTF-8: each must be refused wherever a string can be. */
static const struct {
  const char *bytes;
  size_t len;
} bad_utf8[] __attribute__((unused)) = {
    {"\x80", 1},                     /* continuation byte alone */
    {"\xbf", 1},                     /* the last one */
    {"\xff", 1},                     /* never in UTF-8 */
    {"\xfe", 1},                     /* never in UTF-8 */
    {"\xc0\xaf", 2},                 /* overlong '/' */
    {"\xc1\xbf", 2},                 /* overlong U+007F */
    {"\xe0\x80\xaf", 3},             /* overlong '/' in 3 bytes */
    {"\xe0\x9f\xbf", 3},             /* overlong U+07FF */
    {"\xf0\x80\x80\xaf", 4},         /* overlong '/' in 4 bytes */
    {"\xf0\x8f\xbf\xbf", 4},         /* overlong U+FFFF */
    {"\xed\xa0\x80", 3},             /* U+D800 encoded (high surrogate) */
    {"\xed\xbf\xbf", 3},             /* U+DFFF encoded (low surrogate) */
    {"\xed\xa0\xbd\xed\xb8\x80", 6}, /* CESU-8 pair for U+1F600 */
    {"\xf4\x90\x80\x80", 4},         /* U+110000 */
    {"\xf5\x80\x80\x80", 4},         /* F5 lead */
    {"\xf8\x88\x80\x80\x80", 5},     /* 5-byte form */
    {"\xc3", 1},                     /* cut: 2-byte lead, then 'c' */
    {"\xe2\x82", 2},                 /* cut euro sign */
    {"\xf0\x9f\x98", 3},             /* cut emoji */
};

/* A child's exit code that skips the test (unit_in_child). */
#define UNIT_SKIPPED 77

/* Child side: a failed check exits with its line. */
#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c)) {                                                                \
      fprintf(stderr, "line %d: check failed: %s\n", __LINE__, #c);            \
      _exit(1);                                                                \
    }                                                                          \
  } while (0)

/* Runs fn in a child process with WFC_SECURE_HEAP = env (NULL: unset). The
 * test fails unless the child exits 0, and is skipped when it exits
 * UNIT_SKIPPED. Needs setenv/unsetenv (_POSIX_C_SOURCE 200809L). */
static inline void unit_in_child(const char *env, void (*fn)(void)) {
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    if (env != NULL)
      setenv("WFC_SECURE_HEAP", env, 1);
    else
      unsetenv("WFC_SECURE_HEAP");
    fn();
    _exit(0);
  }
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st));
  if (WEXITSTATUS(st) == UNIT_SKIPPED)
    skip();
  assert_int_equal(WEXITSTATUS(st), 0);
}

#endif /* WFC_UNIT_TEST_H */
