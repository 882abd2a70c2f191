/* plugin.c - `wfc plugin inspect PATH`, `wfc plugin check FILE` and
 * `wfc plugin list`. */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include "cli.h"
#include "elfsyms.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

const char wfc__cli_usage_plugin[] =
    "  wfc plugin inspect PATH [--manifest FILE] [--json] [--isolated]\n"
    "  wfc plugin check FILE [--manifest FILE]\n"
    "  wfc plugin list [--plugin-dir DIR] [--json]\n"
    "\n"
    "check is the conformance check for plugin authors. From the file:\n"
    "one exported symbol, no host symbol referenced, none of the calls\n"
    "only the host may make. Then, in a child process: ABI version,\n"
    "fingerprint, init, every schema and the manifest (required: beside\n"
    "FILE or --manifest). One line per check; exit 0 when all pass, 1\n"
    "otherwise, also when the plugin crashes.\n"
    "\n"
    "Plugins run inside the wfc process: a plugin whose own code crashes\n"
    "takes the command down with it. --isolated loads and checks PATH in a\n"
    "child process and reports a crash (the signal) or a hang (60 s) as an\n"
    "error instead; use it on a plugin you do not trust yet.\n";

/* How long an isolated inspect may take before its child is killed. */
#define ISOLATED_LIMIT_MS 60000

typedef struct problems {
  json_object *list; /* strings */
  const char *manifest;
} problems;

static void add_problem(void *arg, const char *line) {
  problems *p = arg;
  json_object_array_add(p->list, json_object_new_string(line));
}

static void print_text(const wfc_plugin *p, const char *mstatus,
                       const char *mpath) {
  unsigned abi = wfc_plugin_abi(p);
  printf("plugin %s %s (ABI %u.%u)\n", wfc_plugin_name(p),
         wfc_plugin_version(p), abi >> 16, abi & 0xffff);
  if (*wfc_plugin_description(p))
    printf("  %s\n", wfc_plugin_description(p));
  printf("path: %s\nfingerprint: %s\n", wfc_plugin_path(p),
         wfc_plugin_fingerprint(p));
  printf("connection types:%s\n",
         wfc_plugin_conn_type_count(p) ? "" : " (none)");
  for (size_t i = 0; i < wfc_plugin_conn_type_count(p); i++) {
    const wfc_conn_type_desc *t = wfc_plugin_conn_type(p, i);
    printf("  %s.%s - %s (flow: %s)\n", wfc_plugin_name(p), t->id, t->name,
           wfc_conn_flow_name(t->flow));
    if (t->description)
      printf("    %s\n", t->description);
    printf("    params:\n");
    wfc__cli_print_schema(stdout, t->params, 6);
  }
  printf("cards:%s\n", wfc_plugin_card_count(p) ? "" : " (none)");
  for (size_t i = 0; i < wfc_plugin_card_count(p); i++) {
    const wfc_card_desc *c = wfc_plugin_card(p, i);
    printf("  %s.%s [%s] - %s%s%s\n", wfc_plugin_name(p), c->id,
           c->kind == WFC_CARD_EVENT ? "event" : "action", c->name,
           c->conn_type ? ", connection " : "",
           c->conn_type ? c->conn_type : "");
    if (c->description)
      printf("    %s\n", c->description);
    printf("    inputs:\n");
    wfc__cli_print_schema(stdout, c->inputs, 6);
    printf("    outputs:\n");
    wfc__cli_print_schema(stdout, c->outputs, 6);
  }
  printf("manifest: %s (%s)\n", mstatus, mpath);
}

static const char *signal_abbrev(int sig) {
  static const struct {
    int sig;
    const char *name;
  } names[] = {
      {SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"},   {SIGABRT, "SIGABRT"},
      {SIGILL, "SIGILL"},   {SIGFPE, "SIGFPE"},   {SIGKILL, "SIGKILL"},
      {SIGTRAP, "SIGTRAP"}, {SIGSYS, "SIGSYS"},   {SIGTERM, "SIGTERM"},
      {SIGXCPU, "SIGXCPU"}, {SIGXFSZ, "SIGXFSZ"}, {SIGPIPE, "SIGPIPE"}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (names[i].sig == sig)
      return names[i].name;
  return "signal";
}

static int inspect_here(const char *path, const char *manifest, int json);

/* Runs fn(path, manifest, json) in a child process: a plugin that crashes
 * or hangs while being loaded ends the child, and the parent says so (on
 * stderr; json < 0, for `plugin check`: also a FAIL line on stdout). */
static int run_isolated(int (*fn)(const char *, const char *, int),
                        const char *path, const char *manifest, int json) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0)
    return wfc__cli_error("cannot start a child process: %s", strerror(errno));
  if (pid == 0) {
    int rc = fn(path, manifest, json);
    fflush(stdout);
    fflush(stderr);
    _exit(rc);
  }
  int st = 0, waited_ms = 0;
  pid_t w;
  while ((w = waitpid(pid, &st, WNOHANG)) == 0 &&
         waited_ms < ISOLATED_LIMIT_MS) {
    struct timespec nap = {0, 10 * 1000 * 1000};
    nanosleep(&nap, NULL);
    waited_ms += 10;
  }
  if (w == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    if (json < 0)
      printf("FAIL load: did not finish within %d s; killed\n",
             ISOLATED_LIMIT_MS / 1000);
    return wfc__cli_error("plugin %s: loading and checking it did not finish "
                          "within %d s in the child process; it was killed",
                          path, ISOLATED_LIMIT_MS / 1000);
  }
  if (w < 0)
    return wfc__cli_error("cannot wait for the child process: %s",
                          strerror(errno));
  if (WIFSIGNALED(st) && json < 0)
    printf("FAIL load: crashed in the child process: %s (%s)\n",
           signal_abbrev(WTERMSIG(st)), strsignal(WTERMSIG(st)));
  if (WIFSIGNALED(st))
    return wfc__cli_error(
        "plugin %s crashed while being loaded and checked in a child process: "
        "%s (%s). Plugins run inside wfc: loaded by a command, it would take "
        "that command down.",
        path, signal_abbrev(WTERMSIG(st)), strsignal(WTERMSIG(st)));
  return WIFEXITED(st) ? WEXITSTATUS(st) : WFC_CLI_FAIL;
}

static int inspect(int argc, char **argv) {
  static const struct option opts[] = {
      {"json", no_argument, NULL, 'j'},
      {"manifest", required_argument, NULL, 'm'},
      {"isolated", no_argument, NULL, 'i'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  int json = 0, isolated = 0, c;
  const char *manifest = NULL;
  optind = 0;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'j')
      json = 1;
    else if (c == 'm')
      manifest = optarg;
    else if (c == 'i')
      isolated = 1;
    else if (c == 'h')
      return fputs(wfc__cli_usage_plugin, stdout), WFC_CLI_OK;
    else
      return wfc__cli_usage(wfc__cli_usage_plugin,
                            "plugin inspect: bad option");
  }
  if (optind + 1 != argc)
    return wfc__cli_usage(wfc__cli_usage_plugin,
                          "plugin inspect: expected one PATH");
  const char *path = argv[optind];
  return isolated ? run_isolated(inspect_here, path, manifest, json)
                  : inspect_here(path, manifest, json);
}

/* Opens the host into h and loads path into *p: 0 (h open, closed by the
 * caller); 1 when the load failed (why in err, h closed); -1 when the
 * host did not open (it said why). */
static int host_load(wfc__cli_host *h, const char *path, wfc_plugin **p,
                     char *err, size_t len) {
  *p = NULL;
  if (wfc__cli_host_open(h) != 0)
    return -1;
  if (wfc_runtime_load(h->rt, path, p, err, len) != 0) {
    wfc__cli_host_close(h);
    return 1;
  }
  return 0;
}

/* Loads path in this process and prints it (and its manifest check). */
static int inspect_here(const char *path, const char *manifest, int json) {

  wfc__cli_host h;
  char err[1024];
  wfc_plugin *p;
  int lrc = host_load(&h, path, &p, err, sizeof err);
  if (lrc != 0) {
    if (lrc > 0)
      wfc__cli_error("%s", err);
    return WFC_CLI_FAIL;
  }

  char found[4096];
  const char *mpath = manifest;
  int mrc;
  problems pr = {json_object_new_array(), NULL};
  if (mpath == NULL) {
    mrc = wfc_plugin_manifest_path(wfc_plugin_path(p), found, sizeof found);
    mpath = found;
  } else {
    mrc = 0;
  }
  const char *status;
  if (mrc == WFC_ENOTFOUND) {
    /* No manifest beside the plugin: reported, not an error. */
    status = "missing";
  } else {
    mrc = wfc_plugin_check_manifest(p, mpath, add_problem, &pr);
    status = mrc == 0 ? "ok" : mrc == WFC_EMANIFEST ? "mismatch" : "error";
  }

  if (json) {
    json_object *o = wfc_plugin_to_json(p);
    json_object *m = json_object_new_object();
    json_object_object_add(m, "path", json_object_new_string(mpath));
    json_object_object_add(m, "status", json_object_new_string(status));
    json_object_object_add(m, "problems", json_object_get(pr.list));
    json_object_object_add(o, "manifest", m);
    wfc__cli_print_json(o);
    json_object_put(o);
  } else {
    print_text(p, status, mpath);
  }
  size_t n = json_object_array_length(pr.list);
  for (size_t i = 0; i < n; i++)
    wfc__cli_error(
        "manifest %s: %s", mpath,
        json_object_get_string(json_object_array_get_idx(pr.list, i)));
  if (strcmp(status, "missing") == 0)
    fprintf(stderr, "wfc: warning: no manifest found (looked for %s)\n", mpath);
  json_object_put(pr.list);
  int failed = strcmp(status, "ok") != 0 && strcmp(status, "missing") != 0;
  wfc__cli_host_close(&h);
  return failed ? WFC_CLI_FAIL : WFC_CLI_OK;
}

/* One line of `plugin check`: "ok   what: detail" or "FAIL what: detail"
 * on stdout (the report is the command's output). Returns ok. */
static int check_line(int ok, const char *what, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int check_line(int ok, const char *what, const char *fmt, ...) {
  va_list ap;
  printf("%s %s: ", ok ? "ok  " : "FAIL", what);
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  putchar('\n');
  return ok;
}

static void check_problem(void *arg, const char *line) {
  int *n = arg;
  (*n)++;
  check_line(0, "manifest", "%s", line);
}

/* The checks that load the plugin, run in a child process: the loader's
 * (ELF structure, entry symbol, magic, ABI major and minor, descriptor
 * size, fingerprint, init, every registered card's and connection type's
 * id, hooks and schemas), then the manifest. Exit status 0 or 1. */
static int check_loaded(const char *path, const char *manifest, int unused) {
  (void)unused;
  wfc__cli_host h;
  char err[1024];
  wfc_plugin *p;
  int lrc = host_load(&h, path, &p, err, sizeof err);
  if (lrc != 0) {
    if (lrc > 0)
      check_line(0, "load", "%s", err);
    return WFC_CLI_FAIL;
  }
  unsigned abi = wfc_plugin_abi(p);
  check_line(1, "abi", "plugin %u.%u, host %d.%d", abi >> 16, abi & 0xffff,
             WFC_ABI_MAJOR, WFC_ABI_MINOR);
  check_line(1, "fingerprint", "%s", wfc_plugin_fingerprint(p));
  size_t ncards = wfc_plugin_card_count(p),
         ncts = wfc_plugin_conn_type_count(p);
  check_line(1, "init", "%s %s registered %zu cards, %zu connection types",
             wfc_plugin_name(p), wfc_plugin_version(p), ncards, ncts);
  /* Registration checked each type's flow and its hooks (a browser type
   * has authorize_begin; a none type declares no secret). */
  for (size_t i = 0; i < ncts; i++) {
    const wfc_conn_type_desc *t = wfc_plugin_conn_type(p, i);
    check_line(1, "flow", "%s: %s%s", t->id, wfc_conn_flow_name(t->flow),
               abi < ((WFC_ABI_MAJOR << 16) | 4)
                   ? " (built before ABI 1.4: the browser flow)"
                   : "");
  }
  /* Registration refuses a card or connection type whose schema is not
   * valid (the load above would have failed, naming it). */
  check_line(1, "schemas",
             "%zu card input and output schemas, %zu "
             "connection parameter schemas valid",
             2 * ncards, ncts);
  char found[4096];
  const char *mpath = manifest;
  int failed = 0;
  if (mpath == NULL) {
    if (wfc_plugin_manifest_path(wfc_plugin_path(p), found, sizeof found) ==
        WFC_ENOTFOUND) {
      check_line(0, "manifest",
                 "none found (looked for %s); a plugin ships "
                 "one beside it, or give --manifest FILE",
                 found);
      wfc__cli_host_close(&h);
      return WFC_CLI_FAIL;
    }
    mpath = found;
  }
  int nproblems = 0;
  int rc = wfc_plugin_check_manifest(p, mpath, check_problem, &nproblems);
  if (rc == 0)
    check_line(1, "manifest",
               "%s matches the registered cards, connection "
               "types and schemas",
               mpath);
  else if (nproblems == 0)
    check_line(0, "manifest", "%s: %s", mpath, wfc_strerror(rc));
  failed = rc != 0;
  wfc__cli_host_close(&h);
  return failed ? WFC_CLI_FAIL : WFC_CLI_OK;
}

static int check(int argc, char **argv) {
  static const struct option opts[] = {
      {"manifest", required_argument, NULL, 'm'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  const char *manifest = NULL;
  int c;
  optind = 0;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'm')
      manifest = optarg;
    else if (c == 'h')
      return fputs(wfc__cli_usage_plugin, stdout), WFC_CLI_OK;
    else
      return wfc__cli_usage(wfc__cli_usage_plugin, "plugin check: bad option");
  }
  if (optind + 1 != argc)
    return wfc__cli_usage(wfc__cli_usage_plugin,
                          "plugin check: expected one FILE");
  const char *path = argv[optind];
  printf("checking %s\n", path);
  /* From the file, before any of its code runs. */
  wfc__cli_syms syms;
  char why[512];
  int ok = 1;
  if (wfc__cli_elf_syms(path, &syms, why, sizeof why) != 0) {
    ok = check_line(0, "exports", "%s", why);
  } else {
    if (syms.nexported == 1 &&
        strcmp(syms.exported, WFC_PLUGIN_ENTRY_SYMBOL) == 0)
      check_line(1, "exports", "one symbol, %s", syms.exported);
    else
      ok = check_line(0, "exports",
                      "%zu symbols (%s); a plugin exports exactly one, %s "
                      "(build it with hidden visibility: wfc_add_plugin, or "
                      "-fvisibility=hidden)",
                      syms.nexported, syms.nexported ? syms.exported : "none",
                      WFC_PLUGIN_ENTRY_SYMBOL);
    if (syms.nhost_refs == 0)
      check_line(1, "host symbols", "none referenced");
    else
      ok = check_line(0, "host symbols",
                      "references %s; a plugin reaches the host only through "
                      "its services table (link wfc::plugin, not wfc::host)",
                      syms.host_refs);
    if (syms.nhost_only == 0)
      check_line(1, "host-only calls", "none");
    else
      ok = check_line(0, "host-only calls",
                      "calls %s, which only the host may (process-global "
                      "set-up, or HTTP or loop handles of its own: use "
                      "api->http_send and api->timer_start; docs/abi.md)",
                      syms.host_only);
  }
  int rc = run_isolated(check_loaded, path, manifest, -1);
  if (rc != WFC_CLI_OK && rc != WFC_CLI_FAIL)
    rc = WFC_CLI_FAIL;
  ok = ok && rc == WFC_CLI_OK;
  printf("%s: %s\n", path, ok ? "conforms" : "does NOT conform");
  return ok ? WFC_CLI_OK : WFC_CLI_FAIL;
}

static int list(int argc, char **argv) {
  static const struct option opts[] = {
      {"json", no_argument, NULL, 'j'},
      {"plugin-dir", required_argument, NULL, 'd'},
      {NULL, 0, NULL, 0}};
  int json = 0, c;
  const char *dir = NULL;
  optind = 0;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'j')
      json = 1;
    else if (c == 'd')
      dir = optarg;
    else
      return wfc__cli_usage(wfc__cli_usage_plugin, "plugin list: bad option");
  }
  if (optind != argc)
    return wfc__cli_usage(wfc__cli_usage_plugin,
                          "plugin list: unexpected argument");
  wfc__cli_host h;
  if (wfc__cli_host_open(&h) != 0)
    return WFC_CLI_FAIL;
  int rc = wfc__cli_load_plugins(&h, dir);
  if (rc < 0) {
    wfc__cli_host_close(&h);
    return WFC_CLI_FAIL;
  }
  json_object *arr = json_object_new_array();
  for (size_t i = 0; i < wfc_runtime_plugin_count(h.rt); i++) {
    wfc_plugin *p = wfc_runtime_plugin(h.rt, i);
    if (json) {
      json_object *o = json_object_new_object();
      json_object_object_add(o, "name",
                             json_object_new_string(wfc_plugin_name(p)));
      json_object_object_add(o, "version",
                             json_object_new_string(wfc_plugin_version(p)));
      json_object_object_add(o, "path",
                             json_object_new_string(wfc_plugin_path(p)));
      json_object_object_add(
          o, "cards", json_object_new_int((int)wfc_plugin_card_count(p)));
      /* How each connection type is connected: a browser, a form of
       * secrets, or nothing to give. */
      json_object *cts = json_object_new_array();
      for (size_t j = 0; j < wfc_plugin_conn_type_count(p); j++) {
        const wfc_conn_type_desc *t = wfc_plugin_conn_type(p, j);
        json_object *ct = json_object_new_object();
        json_object_object_add(ct, "id", json_object_new_string(t->id));
        json_object_object_add(
            ct, "flow", json_object_new_string(wfc_conn_flow_name(t->flow)));
        json_object_array_add(cts, ct);
      }
      json_object_object_add(o, "connection_types", cts);
      json_object_array_add(arr, o);
    } else {
      printf("%-16s %-10s %3zu cards  %s\n", wfc_plugin_name(p),
             wfc_plugin_version(p), wfc_plugin_card_count(p),
             wfc_plugin_path(p));
      for (size_t j = 0; j < wfc_plugin_conn_type_count(p); j++) {
        const wfc_conn_type_desc *t = wfc_plugin_conn_type(p, j);
        printf("  connection type %s.%s (flow: %s)\n", wfc_plugin_name(p),
               t->id, wfc_conn_flow_name(t->flow));
      }
    }
  }
  /* Where they were looked for: the first thing to know when one is
   * missing. (--json keeps its array of plugins.) */
  if (json)
    wfc__cli_print_json(arr);
  else
    printf("%splugins searched in %s\n",
           wfc_runtime_plugin_count(h.rt) ? "" : "no plugins; ",
           wfc__cli_searched(&h));
  json_object_put(arr);
  wfc__cli_host_close(&h);
  return WFC_CLI_OK;
}

int wfc__cli_plugin(int argc, char **argv) {
  if (argc < 2)
    return wfc__cli_usage(wfc__cli_usage_plugin, "plugin: missing command");
  if (strcmp(argv[1], "inspect") == 0)
    return inspect(argc - 1, argv + 1);
  if (strcmp(argv[1], "list") == 0)
    return list(argc - 1, argv + 1);
  if (strcmp(argv[1], "check") == 0)
    return check(argc - 1, argv + 1);
  return wfc__cli_usage(wfc__cli_usage_plugin, "plugin: unknown command \"%s\"",
                        argv[1]);
}
