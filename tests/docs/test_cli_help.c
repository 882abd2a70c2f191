/* test_cli_help.c - `--help` at every level of `wfc` lists every option
 * the code parses. The options are read from the source: every
 * `{"name", no_argument|required_argument, ...}` entry of a getopt_long
 * table in cli/<file>.c must appear as `--name` in the help of each
 * command that file serves, and in `wfc --help`. A cli/ file with an option
 * table that no command here covers fails the test too, so a new command
 * cannot go without help. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tfile.h"
#include "wfc_proc.h"

/* Which commands each file of cli/ parses options for. */
static const struct {
  const char *file;
  const char *cmds[12]; /* "group command", NULL-terminated */
} files[] = {
    {"plugin.c",
     {"plugin", "plugin inspect", "plugin check", "plugin list", NULL}},
    {"card.c", {"card", "card list", "card describe", NULL}},
    {"run.c", {"card run", NULL}},
    {"connection.c",
     {"connection", "connection new", "connection list", "connection show",
      "connection reauthorize", "connection refresh", "connection revoke",
      "connection delete", "connection test", "connection admin-consent",
      NULL}},
    {"event.c", {"event", "event watch", NULL}},
    {"flow.c", {"flow", "flow run", NULL}},
    {"blob.c", {"blob", "blob put", "blob get", NULL}},
    {"docs.c", {"docs", "docs cards", NULL}},
    {"store.c", {"store", "store migrate", "store copy", NULL}},
};
enum { NFILES = sizeof files / sizeof files[0] };

static char *slurp(const char *path) {
  char *s = tfile_read(path, NULL);
  assert_non_null(s);
  return s;
}

/* The long options of src's getopt tables, as "--name" (at most max). */
static int options_of(const char *src, char opts[][48], int max) {
  int n = 0;
  for (const char *p = src; (p = strstr(p, "_argument,")) != NULL; p++) {
    /* back to the `{"name",` that starts this entry */
    const char *q = p;
    while (q > src && *q != '{')
      q--;
    const char *a = strchr(q, '"');
    const char *b = a ? strchr(a + 1, '"') : NULL;
    if (a == NULL || b == NULL || b > p || b - a > 40)
      continue;
    assert_true(n < max);
    snprintf(opts[n++], sizeof opts[0], "--%.*s", (int)(b - a - 1), a + 1);
  }
  return n;
}

/* `wfc WORDS... --help`: asserts exit 0; stdout into out. */
static void help_of(const char *cmd, char *out, size_t len) {
  char buf[128];
  snprintf(buf, sizeof buf, "%s", cmd);
  const char *argv[8];
  int n = 0;
  char bin[512];
  snprintf(bin, sizeof bin, "%s/bin/wfc", getenv("WFC_BUILD_DIR"));
  argv[n++] = bin;
  for (char *save = NULL, *w = strtok_r(buf, " ", &save); w != NULL;
       w = strtok_r(NULL, " ", &save))
    argv[n++] = w;
  argv[n++] = "--help";
  argv[n] = NULL;
  wproc p;
  wproc_start(&p, argv, NULL, NULL);
  int code = wproc_wait(&p);
  if (code != 0)
    fprintf(stderr, "`wfc %s --help` exited %d: %s\n", cmd, code, p.stderr_);
  assert_int_equal(code, 0);
  snprintf(out, len, "%s", p.stdout_);
}

static void every_option_in_help(void **state) {
  (void)state;
  char top[65536];
  help_of("", top, sizeof top);
  int checked = 0;
  for (int i = 0; i < NFILES; i++) {
    char path[1024];
    snprintf(path, sizeof path, "%s/cli/%s", getenv("WFC_SOURCE_DIR"),
             files[i].file);
    char *src = slurp(path);
    char opts[64][48];
    int n = options_of(src, opts, 64);
    free(src);
    assert_true(n > 0);
    for (int c = 0; files[i].cmds[c] != NULL; c++) {
      char out[65536];
      help_of(files[i].cmds[c], out, sizeof out);
      for (int k = 0; k < n; k++) {
        if (strstr(out, opts[k]) == NULL)
          fail_msg("`wfc %s --help` does not list %s (parsed in cli/%s)",
                   files[i].cmds[c], opts[k], files[i].file);
        checked++;
      }
    }
    for (int k = 0; k < n; k++)
      if (strstr(top, opts[k]) == NULL)
        fail_msg("`wfc --help` does not list %s (cli/%s)", opts[k],
                 files[i].file);
  }
  printf("checked %d options in the help of every command\n", checked);
}

/* Every cli/ file that parses options is covered above. */
static void every_file_covered(void **state) {
  (void)state;
  char dir[1024];
  snprintf(dir, sizeof dir, "%s/cli", getenv("WFC_SOURCE_DIR"));
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 3 || strcmp(e->d_name + len - 2, ".c") != 0)
      continue;
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    char *src = slurp(path);
    int has = strstr(src, "_argument,") != NULL;
    free(src);
    if (!has)
      continue;
    int found = 0;
    for (int i = 0; i < NFILES; i++)
      found |= strcmp(files[i].file, e->d_name) == 0;
    if (!found)
      fail_msg("cli/%s parses options but no command of it is checked here",
               e->d_name);
  }
  closedir(d);
}

/* -h works too, and help is on stdout with exit 0 even with other
 * arguments around it. */
static void help_among_arguments(void **state) {
  (void)state;
  char bin[512];
  snprintf(bin, sizeof bin, "%s/bin/wfc", getenv("WFC_BUILD_DIR"));
  const char *argv[] = {bin, "connection", "new", "--nickname",
                        "x", "-h",         NULL};
  wproc p;
  wproc_start(&p, argv, NULL, NULL);
  assert_int_equal(wproc_wait(&p), 0);
  assert_non_null(strstr(p.stdout_, "--login-hint"));
  assert_string_equal(p.stderr_, "");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(every_option_in_help),
      cmocka_unit_test(every_file_covered),
      cmocka_unit_test(help_among_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
