/* test_readme.c - README.md's "Try it by hand", run as written.
 *
 * The section's first code block starts the emulator; the test runs that
 * command with "--port 8400" swapped for a free port (--port 0
 * --port-file). The other code blocks run as one `bash -e` script, in a
 * fresh working directory that links build/, examples/ and scripts/ to
 * the tree under test, with 8400 replaced by the emulator's port and
 * /tmp/wfc-try by a directory that does not exist yet (the README's
 * commands must make what they need). The only step the test plays is the
 * person in the browser: when `wfc connection new` prints the URL, tests/
 * support/browser.c signs in as alice and follows the redirect back to the
 * CLI's listener. Then it checks what a person would see: connected, the
 * mail sent (the emulator's record), the file put and got back byte for
 * byte, and the event watch and flow run finishing.
 *
 * With WFC_README_STORE=pg in the environment (ctest docs_readme_pg) the
 * same commands run with the store on a throw-away PostgreSQL
 * (tests/support/pg_cluster.h): the README's one `WFC_STORE=` assignment,
 * whatever its value, gets the database's URL instead; everything else
 * (WFC_MASTER_KEY, the blob directory, the files) stays as written, so the
 * walk-through must work unchanged for a reader who sets WFC_STORE to a
 * postgresql:// URL.
 *
 * It also checks the demo transcript in README.md: its "Plugin: o365mail
 * V, N cards" line must give the plugin's version and card count. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, setenv, symlink, access */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <json-c/json.h>

#include "browser.h"
#include "emu_proc.h"
#include "pg_cluster.h"
#include "tclient.h"
#include "tfile.h"
#include "wfc_proc.h"
#include "tsys.h"

static char work[256];   /* the working directory of the commands */
static char *readme;     /* README.md */
static emu_proc *emu;    /* stopped by teardown when a check failed */
static pid_t script_pid; /* the commands' process group while they run */
static pg_cluster *pg;   /* WFC_README_STORE=pg: the store's server */
static char *pg_url;     /* its database for the commands (malloc'd) */

/* In the child: its own process group, so that a failed check can stop
 * the commands and whatever they started (a watch that never ends). */
static void own_group(void *arg) {
  (void)arg;
  setpgid(0, 0);
}

/* Replaces every from in s (malloc'd; freed) by to; returns the new text. */
static char *replace_all(char *s, const char *from, const char *to) {
  size_t fl = strlen(from), tl = strlen(to), n = 0;
  for (const char *p = s; (p = strstr(p, from)) != NULL; p += fl)
    n++;
  char *out = malloc(strlen(s) + n * (tl > fl ? tl - fl : 0) + 1), *o = out;
  assert_non_null(out);
  const char *p = s, *q;
  while ((q = strstr(p, from)) != NULL) {
    memcpy(o, p, (size_t)(q - p));
    o += q - p;
    memcpy(o, to, tl);
    o += tl;
    p = q + fl;
  }
  strcpy(o, p);
  free(s);
  return out;
}

/* The code blocks (lines indented by 4 spaces, without the indent) of the
 * section that starts with heading, up to the next "## ": block 0 into
 * first, the others one after another into rest. */
static void section_blocks(const char *heading, char **first, char **rest) {
  const char *s = strstr(readme, heading);
  assert_non_null(s);
  const char *end = strstr(s + strlen(heading), "\n## ");
  if (end == NULL)
    end = s + strlen(s);
  size_t cap = (size_t)(end - s) + 1;
  *first = calloc(1, cap);
  *rest = calloc(1, cap);
  assert_non_null(*first);
  assert_non_null(*rest);
  int block = -1, in = 0;
  for (const char *l = s; l < end;) {
    const char *nl = memchr(l, '\n', (size_t)(end - l));
    size_t len = nl ? (size_t)(nl - l) : (size_t)(end - l);
    int code = len >= 4 && strncmp(l, "    ", 4) == 0;
    if (code && !in)
      block++;
    if (len > 0)
      in = code; /* a blank line does not end a block */
    if (code) {
      char *dst = block == 0 ? *first : *rest;
      strncat(dst, l + 4, len - 4);
      strcat(dst, "\n");
    }
    l = nl ? nl + 1 : end;
  }
}

static int setup(void **state) {
  (void)state;
  const char *src = getenv("WFC_SOURCE_DIR"), *build = getenv("WFC_BUILD_DIR");
  if (src == NULL || build == NULL)
    return -1;
  char path[1024];
  snprintf(path, sizeof path, "%s/README.md", src);
  readme = tfile_read(path, NULL);
  snprintf(work, sizeof work, "/tmp/wfc-readme-XXXXXX");
  if (readme == NULL || mkdtemp(work) == NULL)
    return -1;
  static const char *const links[][2] = {
      {"build", NULL}, {"examples", "examples"}, {"scripts", "scripts"}};
  for (size_t i = 0; i < 3; i++) {
    char from[1024], to[1024];
    snprintf(from, sizeof from, "%s/%s", work, links[i][0]);
    if (links[i][1] == NULL)
      snprintf(to, sizeof to, "%s", build);
    else
      snprintf(to, sizeof to, "%s/%s", src, links[i][1]);
    if (symlink(to, from) != 0)
      return -1;
  }
  /* A fresh shell: nothing of the test's own environment leaks in. */
  static const char *const vars[] = {"WFC_STORE",
                                     "WFC_BLOB_DIR",
                                     "WFC_MASTER_KEY",
                                     "WFC_PLUGIN_PATH",
                                     "O365MAIL_AUTHORITY_URL",
                                     "O365MAIL_GRAPH_URL",
                                     "O365MAIL_PORTAL_URL",
                                     "O365MAIL_PREVIEW_CLIENT_ID",
                                     "O365MAIL_PRODUCTION_CLIENT_ID",
                                     NULL};
  for (size_t i = 0; vars[i] != NULL; i++)
    unsetenv(vars[i]);
  const char *mode = getenv("WFC_README_STORE");
  if (mode != NULL && strcmp(mode, "pg") == 0) {
    if ((pg = pg_cluster_start()) == NULL ||
        (pg_url = pg_cluster_new_db(pg)) == NULL)
      return -1;
  } else if (mode != NULL && *mode != '\0' && strcmp(mode, "sqlite") != 0) {
    fprintf(stderr, "WFC_README_STORE=%s: expected sqlite or pg\n", mode);
    return -1;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return chdir(work);
}

static int teardown(void **state) {
  (void)state;
  if (script_pid > 0)
    kill(-script_pid, SIGKILL);
  if (emu != NULL)
    emu_proc_stop(emu);
  int rc = tsys_rm_rf(work);
  free(readme);
  curl_global_cleanup();
  free(pg_url);
  if (pg != NULL && pg_cluster_stop(pg) != 0)
    rc = -1;
  return rc == 0 ? 0 : -1;
}

/* The emulator as block 1 starts it, on a free port. */
static emu_proc *start_emulator(const char *block) {
  char line[1024];
  snprintf(line, sizeof line, "%s", block);
  char *nl = strchr(line, '\n');
  if (nl)
    *nl = '\0';
  const char *argv[32];
  int n = 0, skip = 0;
  for (char *save = NULL, *w = strtok_r(line, " ", &save); w != NULL;
       w = strtok_r(NULL, " ", &save)) {
    if (skip) {
      assert_string_equal(w, "8400");
      skip = 0;
      continue;
    }
    if (strcmp(w, "--port") == 0) {
      skip = 1;
      continue;
    }
    assert_true(n < 30);
    argv[n++] = w;
  }
  argv[n] = NULL;
  assert_true(n >= 1);
  assert_string_equal(argv[0], "build/bin/m365-emulator");
  emu_proc *e = emu_proc_start_cmd(argv, "/__emulator/health");
  assert_non_null(e);
  return e;
}

/* Sets the value of the script's one WFC_STORE= assignment (up to the next
 * blank) to url, quoted; returns the new script (s freed). */
static char *store_to(char *s, const char *url) {
  const char *var = "WFC_STORE=", *at = strstr(s, var);
  if (at == NULL || strstr(at + 1, var) != NULL)
    fail_msg("README's commands should assign WFC_STORE once:\n%s", s);
  const char *val = at + strlen(var);
  size_t vlen = strcspn(val, " \t\n;");
  char *out = malloc(strlen(s) + strlen(url) + 3);
  assert_non_null(out);
  sprintf(out, "%.*s'%s'%s", (int)(val - s), s, url, val + vlen);
  free(s);
  return out;
}

/* The authorize URL `wfc connection new` printed on stderr. */
static void printed_url(const char *err, char *url, size_t len) {
  const char *p = strstr(err, "Open this URL in a browser");
  assert_non_null(p);
  p = strstr(p, "\n\n  ");
  assert_non_null(p);
  p += 4;
  size_t n = strcspn(p, "\n");
  assert_true(n < len);
  memcpy(url, p, n);
  url[n] = '\0';
}

/* How many messages upn sent, by the emulator's record. */
static long sent_count(const char *base, const char *upn) {
  char url[512];
  snprintf(url, sizeof url, "%s/__emulator/mail/%s/sent", base, upn);
  tclient *c = tclient_new(0);
  tresp r;
  assert_int_equal(tclient_request(c, "GET", url, NULL, NULL, &r), 0);
  assert_int_equal(r.status, 200);
  json_object *j = tresp_json(&r), *v;
  long n = json_object_object_get_ex(j, "count", &v)
               ? (long)json_object_get_int64(v)
               : -1;
  json_object_put(j);
  tresp_free(&r);
  tclient_free(c);
  return n;
}

static void try_it_by_hand(void **state) {
  (void)state;
  char *first, *rest;
  section_blocks("## Try it by hand", &first, &rest);
  /* What the walk-through promises is in it (not an empty extraction). */
  static const char *const promised[] = {"wfc connection new",
                                         "wfc card run o365mail.send_email",
                                         "wfc blob put",
                                         "wfc blob get",
                                         "wfc event watch",
                                         "wfc flow run",
                                         NULL};
  for (size_t i = 0; promised[i] != NULL; i++)
    if (strstr(rest, promised[i]) == NULL)
      fail_msg("README's \"Try it by hand\" lost `%s`", promised[i]);

  emu_proc *e = emu = start_emulator(first);
  char port[16], try_dir[320];
  snprintf(port, sizeof port, "%d", emu_proc_port(e));
  snprintf(try_dir, sizeof try_dir, "%s/try", work); /* does not exist */
  rest = replace_all(rest, "8400", port);
  rest = replace_all(rest, "/tmp/wfc-try", try_dir);
  if (pg_url != NULL)
    rest = store_to(rest, pg_url);
  char script[320];
  snprintf(script, sizeof script, "%s/try.sh", work);
  /* The commands' output goes to a file: the plugin's whole description
   * alone is larger than wproc's stdout buffer. */
  char outfile[340];
  snprintf(outfile, sizeof outfile, "%s/try.out", work);
  FILE *f = fopen(script, "w");
  assert_non_null(f);
  fprintf(f, "exec >'%s'\n", outfile);
  fputs(rest, f);
  fclose(f);

  const char *argv[] = {"/bin/bash", "-e", "-x", script, NULL};
  wproc p;
  wproc_start(&p, argv, own_group, NULL);
  script_pid = p.pid;
  /* The person in the browser: sign in as alice, back to the CLI. */
  if (!wproc_await_stderr(&p, "Waiting for the browser", 60000)) {
    kill(-script_pid, SIGKILL);
    wproc_wait(&p);
    script_pid = 0;
    fail_msg("no sign-in URL; the commands said:\n%s\n%s", p.stdout_,
             p.stderr_);
  }
  char url[4096];
  printed_url(p.stderr_, url, sizeof url);
  char *redirect = tclient_url_param(url, "redirect_uri");
  assert_non_null(redirect);
  tclient *b = tclient_new(1);
  browser_user alice = {"alice@contoso.test", "Alice-Passw0rd!", 0};
  char *loc = NULL;
  assert_int_equal(browser_authorize(b, url, redirect, &alice, &loc, NULL), 0);
  tresp r;
  assert_int_equal(tclient_request(b, "GET", loc, NULL, NULL, &r), 0);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
  free(loc);
  free(redirect);
  tclient_free(b);

  int code = wproc_wait(&p);
  script_pid = 0;
  char *out = tfile_read(outfile, NULL);
  assert_non_null(out);
  if (code != 0) {
    /* Printed whole, not in the message: cmocka's buffer is short and the
     * failure is at the end (after the plugin's long description). */
    fprintf(stderr, "%s\n%s\n", out, p.stderr_);
    fail_msg("the README's commands failed (exit %d); the last one is the "
             "last '+' line above",
             code);
  }
  assert_non_null(strstr(out, "connected: \"alice\" as "
                              "alice@contoso.test"));
  assert_non_null(strstr(out, "\"subject\": \"Hello\""));
  assert_non_null(strstr(out, "\"name\": \"report.csv\""));
  assert_non_null(strstr(out, "wrote "));
  free(out);
  assert_int_equal(sent_count(emu_proc_url(e), "alice@contoso.test"), 2);
  /* The file came back as it went in. */
  char a[512], c[512];
  snprintf(a, sizeof a, "%s/report.csv", try_dir);
  snprintf(c, sizeof c, "%s/copy.csv", try_dir);
  char *ta = tfile_read(a, NULL), *tc = tfile_read(c, NULL);
  assert_non_null(ta);
  assert_non_null(tc);
  assert_string_equal(ta, tc);
  free(ta);
  free(tc);
  if (pg_url != NULL) { /* the store was the database, not a file */
    char db[512];
    snprintf(db, sizeof db, "%s/store.db", try_dir);
    assert_int_equal(access(db, F_OK), -1);
  }
  emu = NULL;
  assert_int_equal(emu_proc_stop(e), 0);
  free(first);
  free(rest);
}

/* "Plugin: o365mail V, N cards" in the README's demo transcript. */
static void demo_transcript_counts(void **state) {
  (void)state;
  const char *l = strstr(readme, "Plugin: o365mail ");
  assert_non_null(l);
  char version[32];
  int cards = -1;
  assert_int_equal(
      sscanf(l, "Plugin: o365mail %31[^,], %d cards", version, &cards), 2);
  const char *argv[] = {"build/bin/wfc", "card", "list", "--json", NULL};
  wproc p;
  wproc_start(&p, argv, NULL, NULL);
  assert_int_equal(wproc_wait(&p), 0);
  json_object *arr = json_tokener_parse(p.stdout_);
  assert_non_null(arr);
  int n = 0;
  for (size_t i = 0; i < json_object_array_length(arr); i++) {
    json_object *v;
    if (json_object_object_get_ex(json_object_array_get_idx(arr, i), "plugin",
                                  &v) &&
        strcmp(json_object_get_string(v), "o365mail") == 0)
      n++;
  }
  json_object_put(arr);
  if (cards != n)
    fail_msg("README's demo transcript says %d cards; the plugin has %d", cards,
             n);
  const char *iargv[] = {"build/bin/wfc", "plugin", "inspect",
                         "build/plugins/wfc-o365mail.so", NULL};
  wproc_start(&p, iargv, NULL, NULL);
  assert_int_equal(wproc_wait(&p), 0);
  char want[64];
  snprintf(want, sizeof want, "plugin o365mail %s ", version);
  if (strstr(p.stdout_, want) == NULL)
    fail_msg("README's demo transcript says version %s:\n%.200s", version,
             p.stdout_);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(demo_transcript_counts),
      cmocka_unit_test(try_it_by_hand),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
