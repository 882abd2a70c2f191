/* main.c - `wfc`, the reference host on the command line.
 *
 * `wfc <group> <command> [options]`. Each group lives in cli/<group>.c;
 * to add one, write the file and add a line to the table below.
 *
 * Environment: WFC_ALLOW_CORE_DUMPS=1 lets a crash dump core (off by
 * default: a core would hold the connections' tokens; docs/security.md).
 */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "cli.h"

static const wfc__cli_group groups[] = {
    {"plugin",
     "inspect plugins",
     wfc__cli_plugin,
     {wfc__cli_usage_plugin, NULL}},
    {"card",
     "list, describe and run cards",
     wfc__cli_card,
     {wfc__cli_usage_card, wfc__cli_usage_card_run}},
    {"connection",
     "create and manage connections",
     wfc__cli_connection,
     {wfc__cli_usage_connection, NULL}},
    {"event",
     "watch event cards",
     wfc__cli_event,
     {wfc__cli_usage_event, NULL}},
    {"flow",
     "run flows (a trigger and steps)",
     wfc__cli_flow,
     {wfc__cli_usage_flow, NULL}},
    {"blob",
     "local files in and out of the blob store",
     wfc__cli_blob,
     {wfc__cli_usage_blob, NULL}},
    {"store",
     "migrate and copy the connection store",
     wfc__cli_store,
     {wfc__cli_usage_store, NULL}},
    {"docs",
     "generate reference docs",
     wfc__cli_docs,
     {wfc__cli_usage_docs, NULL}},
};

static void help(FILE *f) {
  fprintf(f,
          "wfc %s (plugin ABI %d.%d) - workflow connector host\n\n"
          "usage:\n",
          wfc_version(), WFC_ABI_MAJOR, WFC_ABI_MINOR);
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
    for (int k = 0; k < 2 && groups[i].usage[k] != NULL; k++)
      fputs(groups[i].usage[k], f);
  fputs("  wfc version [--json]\n"
        "  wfc GROUP --help, wfc GROUP COMMAND --help: that part alone\n\n"
        "Plugin settings, before GROUP (docs/hosts.md, \"Plugin settings\"):\n"
        "  wfc --setting PLUGIN.KEY=VALUE ... (repeatable), or\n"
        "  wfc --settings FILE ... with {\"PLUGIN\": {\"KEY\": VALUE}} (keeps\n"
        "  secrets off the command line); a plugin reads them before its\n"
        "  environment variables (o365mail: setting graph_url, else\n"
        "  O365MAIL_GRAPH_URL).\n",
        f);
  fputs("\n"
        "Plugins are looked for in --plugin-dir, else $WFC_PLUGIN_PATH\n"
        "(colon-separated), else <directory of wfc>/../lib/wfc/plugins\n"
        "(installed) and <directory of wfc>/../plugins (build tree);\n"
        "`wfc plugin list` says where it looked.\n"
        "Connections live in --store PATH, else $WFC_STORE, else\n"
        "$XDG_DATA_HOME/wfc/store.db (~/.local/share/wfc/store.db).\n"
        "With --json, results go to stdout as JSON, and so does an error,\n"
        "as one object {\"error\":{\"code\",\"message\",\"detail\","
        "\"remedy\"}}\n"
        "(the one-line \"wfc: ...\" stays on stderr); without it, errors go\n"
        "to stderr.\n"
        "No core dumps (a core would hold the tokens): set\n"
        "WFC_ALLOW_CORE_DUMPS=1 to allow them for debugging.\n",
        f);
}

/* `wfc GROUP [COMMAND] --help`: the group's usage, or the command's when
 * it has its own (card run). */
static int group_help(const wfc__cli_group *g, int argc, char **argv) {
  if (argc > 1 && g->usage[1] != NULL && strcmp(g->name, "card") == 0 &&
      strcmp(argv[1], "run") == 0) {
    wfc__cli_help(g->usage[1]);
  } else {
    printf("wfc %s - %s\n\n", g->name, g->summary);
    wfc__cli_help(g->usage[0]);
    if (g->usage[1] != NULL)
      fputs(g->usage[1], stdout);
  }
  wfc__cli_help_footer();
  return WFC_CLI_OK;
}

/* The options before the group: plugin settings. Returns how many argv
 * entries they took, or -1 after a usage error (printed). */
static int global_options(int argc, char **argv) {
  int i = 1;
  while (i < argc && strncmp(argv[i], "--setting", 9) == 0) {
    const char *a = argv[i], *eq = strchr(a, '=');
    size_t n = eq != NULL ? (size_t)(eq - a) : strlen(a);
    char opt[16];
    if (n >= sizeof opt || (n != 9 && n != 10) || (n == 10 && a[9] != 's'))
      break; /* not ours: the group's usage reports it */
    snprintf(opt, sizeof opt, "%.*s", (int)n, a);
    const char *value = eq != NULL ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
    if (wfc__cli_setting_arg(opt, value) != 0)
      return -1;
    i++;
  }
  return i - 1;
}

int main(int argc, char **argv) {
  int skip = global_options(argc, argv);
  if (skip < 0) {
    wfc__cli_settings_free();
    return WFC_CLI_USAGE;
  }
  argv[skip] = argv[0];
  argc -= skip;
  argv += skip;
  /* --json anywhere: an error is reported as one JSON object on stdout. */
  for (int i = 2; i < argc && strcmp(argv[i], "--") != 0; i++)
    if (strcmp(argv[i], "--json") == 0)
      wfc__cli_json_errors(1);
  /* The settings, checked the same way whatever the command (one that
   * opens no runtime would otherwise take bad ones in silence). */
  int rc = wfc__cli_check_settings();
  if (rc != 0) {
    wfc__cli_error_flush(rc, argc > 1 ? argv[1] : NULL);
    wfc__cli_settings_free();
    return rc;
  }
  if (argc < 2)
    return help(stderr), WFC_CLI_USAGE;
  const char *g = argv[1];
  if (strcmp(g, "help") == 0 || strcmp(g, "--help") == 0 ||
      strcmp(g, "-h") == 0)
    return help(stdout), WFC_CLI_OK;
  if (strcmp(g, "version") == 0 || strcmp(g, "--version") == 0) {
    if (argc > 2 && strcmp(argv[2], "--json") == 0)
      printf("{ \"version\": \"%s\", \"abi\": { \"major\": %d, \"minor\": %d "
             "} }\n",
             wfc_version(), WFC_ABI_MAJOR, WFC_ABI_MINOR);
    else
      printf("wfc %s (plugin ABI %d.%d)\n", wfc_version(), WFC_ABI_MAJOR,
             WFC_ABI_MINOR);
    return WFC_CLI_OK;
  }
  /* Process-global set-up is the host's (Lessons 13), once, here: libcurl
   * (with allocators that cleanse what they free), the secure heap, and no
   * core dumps, since a core would hold the live tokens (docs/security.md).
   * WFC_ALLOW_CORE_DUMPS=1 allows them, for debugging. */
  const char *allow = getenv("WFC_ALLOW_CORE_DUMPS");
  wfc_harden_opts ho = {.size = sizeof ho,
                        .allow_core_dumps = allow != NULL && *allow != '\0' &&
                                            strcmp(allow, "0") != 0};
  int hrc = wfc_process_harden(&ho);
  if (hrc != 0 && hrc != WFC_ENOTSUP)
    return wfc__cli_error("cannot protect this process's secrets (%s); "
                          "WFC_ALLOW_CORE_DUMPS=1 runs without",
                          wfc_strerror(hrc));
  rc = -1;
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
    if (strcmp(groups[i].name, g) == 0)
      rc = wfc__cli_wants_help(argc - 1, argv + 1)
               ? group_help(&groups[i], argc - 1, argv + 1)
               : groups[i].run(argc - 1, argv + 1);
  if (rc == -1)
    rc = wfc__cli_usage("  wfc --help\n", "unknown command group \"%s\"", g);
  wfc__cli_error_flush(rc, rc == -1 ? NULL : g);
  wfc__cli_settings_free();
  curl_global_cleanup();
  return rc;
}
