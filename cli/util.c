/* util.c - helpers shared by the `wfc` command groups. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, strdup, strtok_r, readlink */
#include "cli.h"

#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "json.h"
#include "wfc/connections.h"

/* The error a --json command reports (main prints it once, at exit):
 * the first message wins; code, detail and remedy are added as the
 * command learns them. Owned here. */
static struct {
  int on;
  char *message, *code, *remedy;
  json_object *detail;
} jerr;

void wfc__cli_json_errors(int on) {
  jerr.on = on;
}

int wfc__cli_json_mode(void) {
  return jerr.on;
}

static void jerr_message(const char *fmt, va_list ap) {
  if (!jerr.on || jerr.message != NULL)
    return;
  char buf[2048];
  vsnprintf(buf, sizeof buf, fmt, ap);
  jerr.message = strdup(buf);
}

void wfc__cli_error_info(const char *code, json_object *detail,
                         const char *remedy) {
  if (!jerr.on)
    return;
  if (code != NULL && jerr.code == NULL)
    jerr.code = strdup(code);
  if (remedy != NULL && *remedy != '\0' && jerr.remedy == NULL)
    jerr.remedy = strdup(remedy);
  if (detail != NULL && jerr.detail == NULL)
    jerr.detail = json_object_get(detail);
}

void wfc__cli_error_flush(int rc, const char *group) {
  if (jerr.on && rc != WFC_CLI_OK && jerr.message != NULL) {
    char remedy[256];
    if (jerr.remedy == NULL && rc == WFC_CLI_USAGE) {
      snprintf(remedy, sizeof remedy,
               "`wfc %s --help` lists the commands and their options",
               group ? group : "");
      jerr.remedy = strdup(remedy);
    }
    json_object *e = json_object_new_object(), *o = json_object_new_object();
    json_object_object_add(e, "code",
                           json_object_new_string(jerr.code ? jerr.code
                                                  : rc == WFC_CLI_USAGE
                                                      ? "usage"
                                                      : "failed"));
    json_object_object_add(e, "message", json_object_new_string(jerr.message));
    json_object_object_add(e, "detail",
                           jerr.detail ? json_object_get(jerr.detail) : NULL);
    json_object_object_add(
        e, "remedy", jerr.remedy ? json_object_new_string(jerr.remedy) : NULL);
    json_object_object_add(o, "error", e);
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                               JSON_C_TO_STRING_NOSLASHESCAPE));
    fflush(stdout);
    json_object_put(o);
  }
  free(jerr.message);
  free(jerr.code);
  free(jerr.remedy);
  json_object_put(jerr.detail);
  memset(&jerr, 0, sizeof jerr);
}

int wfc__cli_error(const char *fmt, ...) {
  va_list ap;
  fputs("wfc: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  va_start(ap, fmt);
  jerr_message(fmt, ap);
  va_end(ap);
  return WFC_CLI_FAIL;
}

int wfc__cli_usage(const char *usage, const char *fmt, ...) {
  va_list ap;
  fputs("wfc: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  va_start(ap, fmt);
  jerr_message(fmt, ap);
  va_end(ap);
  wfc__cli_error_info("usage", NULL, NULL);
  fprintf(stderr, "\nusage:\n%s", usage);
  return WFC_CLI_USAGE;
}

int wfc__cli_bad_option(const char *usage, const char *group, const char *cmd,
                        const char *arg) {
  if (group == NULL)
    return wfc__cli_usage(usage, "unknown or incomplete option \"%s\"", arg);
  return wfc__cli_usage(usage, "%s%s%s: unknown or incomplete option \"%s\"",
                        group, cmd ? " " : "", cmd ? cmd : "", arg);
}

int wfc__cli_help(const char *usage) {
  printf("usage:\n%s", usage);
  return WFC_CLI_OK;
}

void wfc__cli_help_footer(void) {
  fputs("  (--help or -h anywhere: this text; with --json an error is one\n"
        "  JSON object {\"error\":{...}} on stdout)\n",
        stdout);
}

int wfc__cli_wants_help(int argc, char **argv) {
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0)
      return 0;
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
      return 1;
  }
  return 0;
}

/* {"plugin": {"key": value}} of --setting and --settings (owned). */
static json_object *cli_settings;

static const char setting_usage[] =
    "  wfc [--setting PLUGIN.KEY=VALUE]... [--settings FILE] GROUP ...\n";

/* Merges one plugin's settings (borrowed) into cli_settings. main checks
 * them before the command starts (wfc__cli_check_settings), naming the
 * first bad plugin name, key or value, as the runtime would. */
static void settings_add(const char *plugin, json_object *set) {
  if (cli_settings == NULL)
    cli_settings = json_object_new_object();
  json_object *mine = NULL;
  if (!json_object_object_get_ex(cli_settings, plugin, &mine)) {
    mine = json_object_new_object();
    json_object_object_add(cli_settings, plugin, mine);
  }
  json_object_object_foreach(set, k, v) {
    json_object_object_add(mine, k, json_object_get(v));
  }
}

int wfc__cli_setting_arg(const char *opt, const char *value) {
  if (value == NULL)
    return wfc__cli_usage(setting_usage, "%s needs a value", opt);
  if (strcmp(opt, "--settings") == 0) {
    char at[4200];
    snprintf(at, sizeof at, "@%s", value);
    json_object *file = wfc__cli_read_input(at, "settings");
    if (file == NULL)
      return WFC_CLI_USAGE;
    int rc = 0;
    json_object_object_foreach(file, plugin, set) {
      if (!json_object_is_type(set, json_type_object)) {
        rc = wfc__cli_usage(setting_usage,
                            "--settings %s: settings.%s must be an object "
                            "of the plugin's settings",
                            value, plugin);
        break;
      }
      settings_add(plugin, set);
    }
    json_object_put(file);
    return rc;
  }
  /* PLUGIN.KEY=VALUE: the plugin name has no dot; the key may. */
  const char *dot = strchr(value, '.'), *eq = strchr(value, '=');
  if (dot == NULL || eq == NULL || dot > eq || dot == value || eq == dot + 1)
    return wfc__cli_usage(setting_usage,
                          "--setting \"%s\": expected PLUGIN.KEY=VALUE", value);
  char plugin[80], key[80];
  snprintf(plugin, sizeof plugin, "%.*s", (int)(dot - value), value);
  snprintf(key, sizeof key, "%.*s", (int)(eq - dot - 1), dot + 1);
  json_object *one = json_object_new_object();
  json_object_object_add(one, key, json_object_new_string(eq + 1));
  settings_add(plugin, one);
  json_object_put(one);
  return 0;
}

/* Checks the settings (rt NULL) or gives them to rt, which checks them
 * the same way: 0, or WFC_CLI_FAIL with the first error printed. */
static int settings_to(wfc_runtime *rt) {
  if (cli_settings == NULL)
    return 0;
  json_object_object_foreach(cli_settings, plugin, set) {
    char err[512];
    int rc =
        rt != NULL
            ? wfc_runtime_set_plugin_settings(rt, plugin, set, err, sizeof err)
            : wfc_plugin_settings_check(plugin, set, err, sizeof err);
    if (rc != 0)
      return wfc__cli_error("%s", err);
  }
  return 0;
}

int wfc__cli_check_settings(void) {
  return settings_to(NULL);
}

int wfc__cli_apply_settings(wfc_runtime *rt) {
  return settings_to(rt);
}

void wfc__cli_settings_free(void) {
  json_object_put(cli_settings);
  cli_settings = NULL;
}

int wfc__cli_host_open(wfc__cli_host *h) {
  memset(h, 0, sizeof *h);
  int rc = uv_loop_init(&h->loop);
  if (rc != 0)
    return wfc__cli_error("cannot create the event loop: %s", uv_strerror(rc));
  wfc_runtime_opts o = {.size = sizeof o};
  rc = wfc_runtime_new(&h->loop, &o, &h->rt);
  if (rc != 0) {
    uv_loop_close(&h->loop);
    return wfc__cli_error("cannot create the runtime: %s", wfc_strerror(rc));
  }
  if (wfc__cli_apply_settings(h->rt) != 0) {
    wfc__cli_host_close(h);
    return WFC_CLI_FAIL;
  }
  return 0;
}

void wfc__cli_host_close(wfc__cli_host *h) {
  if (h->rt == NULL)
    return;
  wfc_runtime_shutdown(h->rt, NULL, NULL);
  uv_run(&h->loop, UV_RUN_DEFAULT);
  h->rt = NULL;
  if (uv_loop_close(&h->loop) != 0)
    wfc__cli_error("warning: handles left open at exit");
}

static void report_load(void *arg, const char *path, const char *message) {
  wfc__cli_host *h = arg;
  (void)path;
  h->load_failures++;
  if (!h->quiet)
    fprintf(stderr, "wfc: warning: %s\n", message);
}

/* Appends dir to the searched list (", "-separated), for messages. */
static void searched_add(wfc__cli_host *h, const char *dir) {
  size_t n = strlen(h->searched);
  snprintf(h->searched + n, sizeof h->searched - n, "%s%s", n ? ", " : "", dir);
}

static int load_dir(wfc__cli_host *h, const char *dir) {
  searched_add(h, dir);
  int rc = wfc_runtime_load_dir(h->rt, dir, report_load, h);
  if (rc < 0 && !h->quiet)
    fprintf(stderr, "wfc: warning: cannot read plugin directory %s\n", dir);
  return rc < 0 ? 0 : rc;
}

/* Where an installed wfc finds the installed plugins, relative to its own
 * directory (CMake sets it from the install's bindir and libdir). */
#ifndef WFC_CLI_INSTALLED_PLUGIN_DIR
#define WFC_CLI_INSTALLED_PLUGIN_DIR "../lib/wfc/plugins"
#endif

int wfc__cli_load_plugins(wfc__cli_host *h, const char *dir) {
  h->searched[0] = '\0';
  if (dir != NULL) {
    searched_add(h, dir);
    int rc = wfc_runtime_load_dir(h->rt, dir, report_load, h);
    if (rc < 0)
      return wfc__cli_error("cannot read plugin directory %s", dir), rc;
    return rc;
  }
  const char *env = getenv("WFC_PLUGIN_PATH");
  if (env != NULL && *env) {
    char *copy = strdup(env);
    int n = 0;
    for (char *save = NULL, *d = strtok_r(copy, ":", &save); d != NULL;
         d = strtok_r(NULL, ":", &save))
      n += load_dir(h, d);
    free(copy);
    return n;
  }
  char exe[PATH_MAX];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len <= 0)
    return wfc__cli_error("cannot find the wfc executable; use --plugin-dir"),
           WFC_ENOTFOUND;
  exe[len] = '\0';
  char *slash = strrchr(exe, '/');
  if (slash != NULL)
    *slash = '\0';
  /* The installed layout (<prefix>/bin/wfc, <prefix>/lib/wfc/plugins), then
   * the build tree's (build/bin/wfc, build/plugins). Only those that exist
   * are read; none existing is a warning naming both. */
  const char *const rel[] = {WFC_CLI_INSTALLED_PLUGIN_DIR, "../plugins"};
  char def[2][PATH_MAX + 64];
  int n = 0, found = 0;
  for (int i = 0; i < 2; i++) {
    snprintf(def[i], sizeof def[i], "%s/%s", exe, rel[i]);
    if (access(def[i], F_OK) != 0)
      continue;
    found++;
    n += load_dir(h, def[i]);
  }
  if (!found) {
    searched_add(h, def[0]);
    searched_add(h, def[1]);
    if (!h->quiet)
      fprintf(stderr,
              "wfc: warning: no plugin directory (looked for %s and %s)\n",
              def[0], def[1]);
  }
  return n;
}

const char *wfc__cli_searched(const wfc__cli_host *h) {
  return h->searched[0] ? h->searched : "(nowhere: no plugin was loaded)";
}

void wfc__cli_print_json(struct json_object *v) {
  wfc__cli_write_json(v, 1);
}

int wfc__cli_write_json(struct json_object *v, int pretty) {
  /* Written as it is made: no copy of the whole text (a card's output may
   * be tens of megabytes). */
  int rc = wfc__json_write(stdout, v, pretty != 0);
  if (rc == 0 && putchar('\n') == EOF)
    rc = WFC_EIO;
  return rc;
}

static const char *type_text(const wfc_field *f, char *buf, size_t len) {
  static const char *const names[] = {"?",        "string", "integer", "number",
                                      "boolean",  "object", "list",    "email",
                                      "datetime", "file",   "any",     "map"};
  const char *n = (f->type >= 1 && f->type <= 11) ? names[f->type] : "?";
  if ((f->type == WFC_TYPE_LIST || f->type == WFC_TYPE_MAP) && f->items) {
    const wfc_field *it = f->items;
    const char *in = (it->type >= 1 && it->type <= 11) ? names[it->type] : "?";
    snprintf(buf, len, "%s of %s", n, in);
  } else {
    snprintf(buf, len, "%s", n);
  }
  return buf;
}

void wfc__cli_print_schema(FILE *f, const wfc_field *fields, int indent) {
  if (fields == NULL || fields->name == NULL) {
    fprintf(f, "%*s(none)\n", indent, "");
    return;
  }
  for (const wfc_field *x = fields; x->name != NULL; x++) {
    char t[64];
    fprintf(f, "%*s%-20s %-16s%s%s%s%s", indent, "", x->name,
            type_text(x, t, sizeof t),
            (x->flags & WFC_FIELD_REQUIRED) ? " required" : " optional",
            (x->flags & WFC_FIELD_SECRET) ? " secret" : "",
            (x->flags & WFC_FIELD_STREAM) ? " stream" : "",
            (x->flags & WFC_FIELD_NULLABLE) ? " nullable" : "");
    if (x->default_json)
      fprintf(f, " default=%s", x->default_json);
    if (x->enum_values) {
      fputs(" one of", f);
      for (const char *const *e = x->enum_values; *e; e++)
        fprintf(f, "%s%s", e == x->enum_values ? " " : "|", *e);
    }
    if (x->description)
      fprintf(f, "  - %s", x->description);
    fputc('\n', f);
    if (x->type == WFC_TYPE_OBJECT && x->fields)
      wfc__cli_print_schema(f, x->fields, indent + 2);
    else if (x->items && x->items->type == WFC_TYPE_OBJECT && x->items->fields)
      wfc__cli_print_schema(f, x->items->fields, indent + 2);
  }
}

json_object *wfc__cli_read_input(const char *arg, const char *root) {
  char *text = NULL;
  size_t len = 0;
  const char *label = arg[0] == '@' ? arg + 1 : "--input";
  if (arg[0] == '@') {
    FILE *f = strcmp(arg + 1, "-") == 0 ? stdin : fopen(arg + 1, "rb");
    if (f == NULL) {
      wfc__cli_error("cannot open input file %s", arg + 1);
      return NULL;
    }
    size_t cap = 4096, n;
    text = malloc(cap);
    while (text != NULL && (n = fread(text + len, 1, cap - len - 1, f)) > 0) {
      len += n;
      if (cap - len < 2) {
        char *t = realloc(text, cap * 2);
        if (t == NULL) {
          free(text);
          text = NULL;
          break;
        }
        text = t;
        cap *= 2;
      }
    }
    if (f != stdin)
      fclose(f);
    if (text == NULL) {
      wfc__cli_error("out of memory reading %s", arg + 1);
      return NULL;
    }
    if (strcmp(arg + 1, "-") == 0)
      label = "standard input";
  } else {
    len = strlen(arg);
  }
  /* The SDK's parser, with its length: a NUL byte in a file, invalid
   * UTF-8 or a lone surrogate escape are refused with where they are, not
   * cut short or replaced on the way to the card. */
  json_object *v = NULL;
  char err[512];
  int rc =
      wfc__json_parse_at(text ? text : arg, len, 0, root, &v, err, sizeof err);
  free(text);
  if (rc != 0) {
    wfc__cli_error("%s: %s", label, err);
    return NULL;
  }
  if (!json_object_is_type(v, json_type_object)) {
    wfc__cli_error("%s must be a JSON object, got %s", label,
                   wfc__json_type_name(v));
    json_object_put(v);
    return NULL;
  }
  return v;
}

int wfc__cli_tampered(const char *conn, const char *what) {
  return wfc__cli_error("connection \"%s\": " WFC_CONN_TAMPERED_WORDS
                        "%s%s%s; nothing was sent with it. Delete it (`wfc "
                        "connection delete %s`) and connect it again",
                        conn, what ? " (" : "", what ? what : "",
                        what ? ")" : "", conn);
}

const char *wfc__cli_conn_remedy(const char *nick, const char *state,
                                 const char *remedy, char *buf, size_t len) {
  if (remedy == NULL)
    remedy = "";
  if (state == NULL || strcmp(state, WFC_CONN_CONNECTED) == 0 ||
      strstr(remedy, "wfc connection ") != NULL) {
    snprintf(buf, len, "%s", remedy);
    return buf;
  }
  /* Someone else acts first (an administrator): then the command. */
  int wait = strcmp(state, WFC_CONN_NEEDS_ADMIN_APPROVAL) == 0 ||
             strcmp(state, WFC_CONN_APPROVAL_PENDING) == 0;
  size_t n = strlen(remedy);
  snprintf(buf, len, "%s%s%s `wfc connection reauthorize %s`%s", remedy,
           n > 0 && remedy[n - 1] != '.' ? "." : "", n > 0 ? " Run" : "Run",
           nick, wait ? " once that is done" : "");
  return buf;
}

const char *wfc__cli_field_remedy(json_object *detail, int as_param, char *buf,
                                  size_t len) {
  json_object *v;
  if (detail == NULL || !json_object_object_get_ex(detail, "field", &v) ||
      !json_object_is_type(v, json_type_string))
    return NULL;
  const char *f = json_object_get_string(v);
  if (as_param)
    snprintf(buf, len, "give %s on the command line: --param %s=VALUE", f, f);
  else
    snprintf(buf, len,
             "give %s in the card's input: --input '{\"%s\": \"VALUE\", "
             "...}'",
             f, f);
  return buf;
}

void wfc__cli_say_remedy(struct wfc_connmgr *m, const char *conn, int status) {
  if (status == WFC_EKEY) {
    wfc__cli_tampered(conn, NULL);
    return;
  }
  if (status != WFC_EREAUTH && status != WFC_ECONSENT && status != WFC_EAUTH)
    return;
  json_object *c = NULL, *v;
  if (wfc_connmgr_show(m, conn, &c) == 0 &&
      json_object_object_get_ex(c, "remedy", &v) &&
      json_object_get_string_len(v) > 0) {
    const char *state =
        json_object_get_string(json_object_object_get(c, "state"));
    char buf[2048];
    wfc__cli_conn_remedy(conn, state, json_object_get_string(v), buf,
                         sizeof buf);
    fprintf(stderr, "wfc: connection \"%s\" is %s: %s\n", conn, state, buf);
    wfc__cli_error_info(NULL, NULL, buf);
  }
  json_object_put(c);
}

static void pacer_tick(uv_timer_t *t) {
  wfc__cli_pacer *p = t->data;
  p->on_tick(p->arg);
}

static void pacer_signal(uv_signal_t *s, int signum) {
  wfc__cli_pacer *p = s->data;
  (void)signum;
  p->on_signal(p->arg);
}

void wfc__cli_pacer_start(wfc__cli_pacer *p, uv_loop_t *loop) {
  static const int signums[2] = {SIGINT, SIGTERM};
  if (p->interval_ms == 0)
    p->interval_ms = 30000;
  uv_timer_init(loop, &p->timer);
  p->timer.data = p;
  for (int i = 0; i < 2; i++) {
    uv_signal_init(loop, &p->sig[i]);
    p->sig[i].data = p;
    uv_signal_start(&p->sig[i], pacer_signal, signums[i]);
  }
}

void wfc__cli_pacer_later(wfc__cli_pacer *p) {
  uv_timer_start(&p->timer, pacer_tick, p->interval_ms, 0);
}

void wfc__cli_pacer_stop(wfc__cli_pacer *p) {
  uv_timer_stop(&p->timer);
  uv_signal_stop(&p->sig[0]);
  uv_signal_stop(&p->sig[1]);
}

void wfc__cli_pacer_close(wfc__cli_pacer *p) {
  uv_close((uv_handle_t *)&p->timer, NULL);
  uv_close((uv_handle_t *)&p->sig[0], NULL);
  uv_close((uv_handle_t *)&p->sig[1], NULL);
}

uint64_t wfc__cli_sub_lease_ms(uint64_t interval_ms) {
  return 2 * (interval_ms > 0 ? interval_ms : 30000) + 30000;
}

void wfc__cli_standby(int *standby, const char *what, const char *conn) {
  if (*standby)
    return;
  *standby = 1;
  fprintf(stderr,
          "wfc: %s on \"%s\" is watched by another process sharing the "
          "store: standing by (it takes over when that one stops)\n",
          what, conn);
  fflush(stderr);
}

int wfc__cli_interval(const char *arg, uint64_t *ms) {
  char *end = NULL;
  double s = strtod(arg, &end);
  if (end == arg || *end != '\0' || !(s >= 0.01 && s <= 86400))
    return -1;
  *ms = (uint64_t)(s * 1000);
  return 0;
}
