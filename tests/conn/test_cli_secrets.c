/* test_cli_secrets.c - `wfc connection new|reauthorize` for connection types
 * without a browser (the conntest plugin's "formconn", an API key, and
 * "noneconn"), as real processes: the secret from stdin
 * (--secret-stdin), from a file (--secret-file, refused unless only its
 * owner may read it), from a pseudo-terminal without echo (forkpty: the
 * typed key never comes back in the terminal's output, and echo is on
 * again afterwards), refused on argv (--param), with --json, a refused
 * key, reauthorization, and the secret never in the output, the debug log
 * or the store's files in clear. */
#define _DEFAULT_SOURCE /* forkpty, setenv, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "conn_util.h"
#include "wfc_proc.h"

static cli_fx cx;
static char url_param[300];

/* Keys of the run: each a canary that must never show. */
#define KEY_STDIN "key-canary-stdin-4c1a"
#define KEY_FILE  "key-canary-file-8e2b"
#define KEY_TTY   "key-canary-tty-33d0"
#define KEY_ARGV  "key-canary-argv-0f9c"
#define KEY_NEW   "key-canary-new-71aa"

static const char *sget(json_object *o, const char *k) {
  json_object *v = NULL;
  return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* The child's stdin: a pipe holding text (NULL: /dev/null), and a debug
 * log on stderr (WFC_LOG=debug) so every log line is checked too. */
typedef struct child_in {
  const char *text;
} child_in;

static void prepare(void *arg) {
  const child_in *in = arg;
  setenv("WFC_LOG", "debug", 1);
  if (in->text == NULL) {
    int fd = open("/dev/null", O_RDONLY);
    dup2(fd, 0);
    close(fd);
    return;
  }
  int p[2];
  if (pipe(p) != 0)
    _exit(126);
  /* Small texts: the pipe holds them before anyone reads. */
  if (write(p[1], in->text, strlen(in->text)) != (ssize_t)strlen(in->text))
    _exit(126);
  close(p[1]);
  dup2(p[0], 0);
  close(p[0]);
}

static void argv_of(const char **argv, const char *const *args) {
  int n = 0;
  argv[n++] = cx.wfc_bin;
  for (; *args != NULL && n < 56; args++)
    argv[n++] = *args;
  argv[n++] = "--store";
  argv[n++] = cx.store;
  argv[n++] = "--plugin-dir";
  argv[n++] = cx.plugin_dir;
  argv[n] = NULL;
}

/* Runs wfc args with stdin text; no canary in its output, ever. */
static int run(wproc *p, const char *const *args, const char *text) {
  const char *argv[64];
  argv_of(argv, args);
  child_in in = {text};
  wproc_start(p, argv, prepare, &in);
  wproc_wait(p);
  assert_null(strstr(p->stdout_, "canary"));
  assert_null(strstr(p->stderr_, "canary"));
  assert_null(strstr(p->stderr_, "Open this URL"));
  return p->code;
}

static void assert_store_clean(void) {
  static const char *const keys[] = {KEY_STDIN, KEY_FILE, KEY_TTY, KEY_ARGV,
                                     KEY_NEW};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    assert_false(store_files_contain(cx.store, keys[i]));
  assert_false(store_files_contain(cx.store, "canary"));
}

/* A file holding text with mode; its path in path. */
static void write_file(char *path, size_t len, const char *name,
                       const char *text, mode_t mode) {
  snprintf(path, len, "%s/%s", cx.dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs(text, f);
  fclose(f);
  assert_int_equal(chmod(path, mode), 0);
}

static int setup(void **state) {
  (void)state;
  cli_fx_up(&cx, "wfc-clisecret",
            "{\"access_token\":\"at-canary-form\","
            "\"expires_in\":3600,\"account\":\"svc@form\"}");
  snprintf(url_param, sizeof url_param, "token_url=%s", ts_server_url(cx.srv));
  return 0;
}

static int teardown(void **state) {
  (void)state;
  cli_fx_down(&cx);
  return 0;
}

static void secret_from_stdin(void **state) {
  (void)state;
  wproc p;
  const char *const args[] = {
      "connection",     "new",        "--plugin", "conntest", "--type",
      "formconn",       "--nickname", "by-stdin", "--param",  url_param,
      "--secret-stdin", "api_key",    NULL};
  assert_int_equal(run(&p, args, KEY_STDIN "\n"), 0);
  assert_non_null(strstr(p.stdout_, "connected: \"by-stdin\" as svc@form"));
  /* The debug log ran (the check above covered it). */
  assert_non_null(strstr(p.stderr_, "INFO loaded plugin conntest"));
  /* The same with --json: the outcome object, the key nowhere. */
  const char *const jargs[] = {
      "connection",     "new",        "--plugin",   "conntest", "--type",
      "formconn",       "--nickname", "by-stdin-j", "--param",  url_param,
      "--secret-stdin", "api_key",    "--json",     NULL};
  assert_int_equal(run(&p, jargs, KEY_STDIN "\r\n"), 0);
  json_object *j = json_tokener_parse(p.stdout_);
  assert_non_null(j);
  assert_string_equal(sget(j, "outcome"), "connected");
  assert_string_equal(sget(json_object_object_get(j, "connection"), "type"),
                      "formconn");
  json_object_put(j);
  /* stdin ended before the line: said, nothing stored. */
  const char *const eargs[] = {
      "connection",     "new",        "--plugin",   "conntest", "--type",
      "formconn",       "--nickname", "by-stdin-e", "--param",  url_param,
      "--secret-stdin", "api_key",    NULL};
  assert_int_equal(run(&p, eargs, ""), 1);
  assert_non_null(
      strstr(p.stderr_, "--secret-stdin api_key: stdin ended before its line"));
  assert_store_clean();
}

static void secret_from_file(void **state) {
  (void)state;
  char path[256], arg[300];
  write_file(path, sizeof path, "key-open", KEY_FILE "\n", 0644);
  snprintf(arg, sizeof arg, "api_key=%s", path);
  wproc p;
  const char *const args[] = {
      "connection",    "new",        "--plugin", "conntest", "--type",
      "formconn",      "--nickname", "by-file",  "--param",  url_param,
      "--secret-file", arg,          NULL};
  /* Readable by others: refused, with the fix. */
  assert_int_equal(run(&p, args, NULL), 1);
  assert_non_null(strstr(p.stderr_, "--secret-file api_key:"));
  assert_non_null(strstr(p.stderr_, "mode 0644"));
  assert_non_null(strstr(p.stderr_, "chmod 600"));
  assert_int_equal(chmod(path, 0600), 0);
  assert_int_equal(run(&p, args, NULL), 0);
  assert_non_null(strstr(p.stdout_, "connected: \"by-file\""));
  /* No such file: named. */
  snprintf(arg, sizeof arg, "api_key=%s/nope", cx.dir);
  assert_int_equal(run(&p, args, NULL), 1);
  assert_non_null(strstr(p.stderr_, "cannot open"));
  assert_store_clean();
}

static void secret_refused_on_argv(void **state) {
  (void)state;
  wproc p;
  const char *const args[] = {"connection", "new",     "--plugin",
                              "conntest",   "--type",  "formconn",
                              "--nickname", "by-argv", "--param",
                              url_param,    "--param", "api_key=" KEY_ARGV,
                              NULL};
  assert_int_equal(run(&p, args, NULL), 2);
  assert_non_null(strstr(p.stderr_, "--param api_key: api_key is a secret "
                                    "parameter of conntest.formconn"));
  assert_non_null(strstr(p.stderr_, "--secret-stdin api_key"));
  assert_non_null(strstr(p.stderr_, "--secret-file api_key=PATH"));
  /* The browser type's secret too. */
  const char *const bargs[] = {"connection", "new",
                               "--plugin",   "conntest",
                               "--nickname", "b-argv",
                               "--param",    url_param,
                               "--param",    "client_secret=cs-canary-argv",
                               NULL};
  assert_int_equal(run(&p, bargs, NULL), 2);
  assert_non_null(strstr(p.stderr_, "client_secret is a secret parameter"));
  /* No terminal and no option: what to give, before anything is sent. */
  const char *const margs[] = {
      "connection", "new",     "--plugin", "conntest", "--type", "formconn",
      "--nickname", "missing", "--param",  url_param,  NULL};
  assert_int_equal(run(&p, margs, NULL), 2);
  assert_non_null(strstr(p.stderr_, "conntest.formconn needs the secret "
                                    "api_key: give it with --secret-stdin"));
  /* Not a secret of the type; browser-only options. */
  const char *const nargs[] = {
      "connection",     "new",        "--plugin", "conntest", "--type",
      "formconn",       "--nickname", "x",        "--param",  url_param,
      "--secret-stdin", "account",    NULL};
  assert_int_equal(run(&p, nargs, "x\n"), 2);
  assert_non_null(strstr(p.stderr_, "has no secret parameter \"account\" "
                                    "(its secret parameters: api_key)"));
  const char *const uargs[] = {
      "connection", "new", "--plugin", "conntest", "--type",      "formconn",
      "--nickname", "x",   "--param",  url_param,  "--print-url", NULL};
  assert_int_equal(run(&p, uargs, NULL), 2);
  assert_non_null(strstr(p.stderr_, "--print-url: the connection type "
                                    "conntest.formconn has no browser "
                                    "sign-in (its flow is form)"));
  const char *const largs[] = {"connection", "list", "--json", NULL};
  assert_int_equal(run(&p, largs, NULL), 0);
  assert_null(strstr(p.stdout_, "by-argv"));
  assert_null(strstr(p.stdout_, "\"missing\""));
  assert_store_clean();
}

/* Reads the pty master into buf (appending) until needle shows or the
 * child closed its side; 1 when found. */
static int pty_read_until(int fd, char *buf, size_t cap, const char *needle) {
  size_t n = strlen(buf);
  for (int waited = 0; waited < 20000;) {
    if (needle != NULL && strstr(buf, needle) != NULL)
      return 1;
    struct pollfd pf = {.fd = fd, .events = POLLIN};
    int r = poll(&pf, 1, 100);
    if (r == 0) {
      waited += 100;
      continue;
    }
    ssize_t got = read(fd, buf + n, cap - 1 - n);
    if (got <= 0)
      return needle == NULL; /* EIO: the child's side is closed */
    n += (size_t)got;
    buf[n] = '\0';
  }
  return 0;
}

static void secret_from_terminal(void **state) {
  (void)state;
  const char *const args[] = {
      "connection", "new",         "--plugin", "conntest", "--type",
      "formconn",   "--nickname",  "by-tty",   "--param",  url_param,
      "--param",    "account=ann", NULL};
  const char *argv[64];
  argv_of(argv, args);
  int master = -1;
  pid_t pid = forkpty(&master, NULL, NULL, NULL);
  assert_true(pid >= 0);
  if (pid == 0) {
    setenv("WFC_LOG", "debug", 1);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  static char out[65536];
  out[0] = '\0';
  /* The prompt names the field and says it is secret. */
  assert_true(pty_read_until(master, out, sizeof out,
                             "api_key - API key "
                             "(secret): "));
  /* Echo is off while it waits (the slave's settings, seen from here). */
  struct termios t;
  assert_int_equal(tcgetattr(master, &t), 0);
  assert_int_equal(t.c_lflag & ECHO, 0);
  const char line[] = KEY_TTY "\n";
  assert_int_equal(write(master, line, strlen(line)), (ssize_t)strlen(line));
  pty_read_until(master, out, sizeof out, NULL);
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  close(master);
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
    fail_msg("wfc over the terminal: status %d, output:\n%s", st, out);
  /* The key never came back on the terminal; the outcome did. */
  assert_null(strstr(out, KEY_TTY));
  assert_null(strstr(out, "canary"));
  assert_null(strstr(out, "Open this URL"));
  assert_non_null(strstr(out, "connected: \"by-tty\" as svc@form"));
  assert_store_clean();
}

/* Ctrl-C at the prompt: the process ends, and the terminal has its echo
 * back (the handler restored it before the default action). */
static void interrupted_prompt_restores_echo(void **state) {
  (void)state;
  const char *const args[] = {
      "connection", "new", "--plugin", "conntest", "--type", "formconn",
      "--nickname", "int", "--param",  url_param,  NULL};
  const char *argv[64];
  argv_of(argv, args);
  int master = -1;
  pid_t pid = forkpty(&master, NULL, NULL, NULL);
  assert_true(pid >= 0);
  if (pid == 0) {
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  static char out[16384];
  out[0] = '\0';
  assert_true(pty_read_until(master, out, sizeof out, "(secret): "));
  struct termios t;
  assert_int_equal(tcgetattr(master, &t), 0);
  assert_int_equal(t.c_lflag & ECHO, 0);
  assert_int_equal(write(master, "\003", 1), 1); /* ^C: SIGINT */
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFSIGNALED(st));
  assert_int_equal(WTERMSIG(st), SIGINT);
  assert_int_equal(tcgetattr(master, &t), 0);
  assert_int_not_equal(t.c_lflag & ECHO, 0);
  close(master);
}

static void refused_key_and_reauthorize(void **state) {
  (void)state;
  wproc p;
  /* A key the plugin refuses: its remedy, exit 1, nothing stored. */
  const char *const args[] = {
      "connection",     "new",        "--plugin", "conntest", "--type",
      "formconn",       "--nickname", "re",       "--param",  url_param,
      "--secret-stdin", "api_key",    "--json",   NULL};
  assert_int_equal(run(&p, args, "bad-canary-key\n"), 1);
  json_object *j = json_tokener_parse(p.stdout_);
  assert_string_equal(sget(j, "outcome"), "error");
  assert_non_null(strstr(sget(j, "remedy"), "keys start with"));
  json_object_put(j);
  assert_int_equal(run(&p, args, KEY_STDIN "\n"), 0);
  /* Reauthorize without a secret: the stored key (stdin not a terminal). */
  const char *const rargs[] = {"connection", "reauthorize", "re", NULL};
  assert_int_equal(run(&p, rargs, NULL), 0);
  assert_non_null(strstr(p.stdout_, "connected: \"re\""));
  /* With a new key from stdin; refresh then uses it (the plugin's
   * refresh fails without the key in its params). */
  const char *const nargs[] = {
      "connection", "reauthorize", "re", "--secret-stdin",
      "api_key",    "--json",      NULL};
  assert_int_equal(run(&p, nargs, KEY_NEW "\n"), 0);
  j = json_tokener_parse(p.stdout_);
  assert_string_equal(sget(j, "outcome"), "connected");
  json_object_put(j);
  const char *const fargs[] = {"connection", "refresh", "re", NULL};
  assert_int_equal(run(&p, fargs, NULL), 0);
  /* The secret options belong to new and reauthorize only. */
  const char *const badargs[] = {"connection",     "refresh", "re",
                                 "--secret-stdin", "api_key", NULL};
  assert_int_equal(run(&p, badargs, KEY_NEW "\n"), 2);
  assert_store_clean();
}

static void none_flow(void **state) {
  (void)state;
  wproc p;
  const char *const args[] = {
      "connection", "new",         "--plugin", "conntest", "--type",
      "noneconn",   "--nickname",  "open",     "--param",  url_param,
      "--param",    "account=bob", NULL};
  assert_int_equal(run(&p, args, NULL), 0);
  assert_non_null(strstr(p.stdout_, "connected: \"open\" as bob"));
  const char *const sargs[] = {"connection", "show", "open", "--json", NULL};
  assert_int_equal(run(&p, sargs, NULL), 0);
  json_object *j = json_tokener_parse(p.stdout_);
  assert_string_equal(sget(j, "state"), "connected");
  json_object_put(j);
  /* Reauthorized with --json: the same result object as every flow. */
  const char *const rargs[] = {"connection", "reauthorize", "open", "--json",
                               NULL};
  assert_int_equal(run(&p, rargs, NULL), 0);
  j = json_tokener_parse(p.stdout_);
  assert_string_equal(sget(j, "outcome"), "connected");
  assert_string_equal(sget(json_object_object_get(j, "connection"), "account"),
                      "bob");
  json_object_put(j);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(secret_from_stdin),
      cmocka_unit_test(secret_from_file),
      cmocka_unit_test(secret_refused_on_argv),
      cmocka_unit_test(secret_from_terminal),
      cmocka_unit_test(interrupted_prompt_restores_echo),
      cmocka_unit_test(refused_key_and_reauthorize),
      cmocka_unit_test(none_flow),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
