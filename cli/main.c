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
    {"plugin", "inspect plugins", wfc__cli_plugin,
     "  wfc plugin inspect PATH [--manifest FILE] [--json] [--isolated]\n"
     "  wfc plugin check FILE [--manifest FILE]\n"
     "  wfc plugin list [--plugin-dir DIR] [--json]\n"},
    {"card", "list and describe cards", wfc__cli_card,
     "  wfc card list [--plugin-dir DIR] [--json]\n"
     "  wfc card describe CARD [--plugin-dir DIR] [--json]\n"
     "  wfc card run CARD [--connection NAME] [--input JSON|@file] [--json]\n"},
    {"connection", "create and manage connections", wfc__cli_connection,
     "  wfc connection new --plugin P --nickname NAME [--env E] [--tenant T]\n"
     "      [--param k=v ...] [--print-url] [--timeout S] [--json]\n"
     "  wfc connection list | show | reauthorize | refresh | revoke | delete\n"
     "      | test NAME [--json]\n"},
    {"event", "watch event cards", wfc__cli_event,
     "  wfc event watch --card CARD --connection NAME [--param k=v ...]\n"
     "      [--interval S] [--once] [--json]\n"},
    {"flow", "run flows (a trigger and steps)", wfc__cli_flow,
     "  wfc flow run FILE [--once] [--interval S] [--json]\n"},
    {"blob", "local files in and out of the blob store", wfc__cli_blob,
     "  wfc blob put FILE [--name N] [--content-type T] [--json]\n"
     "  wfc blob get ID OUT|- [--json]\n"},
    {"store", "migrate and copy the connection store", wfc__cli_store,
     "  wfc store migrate [--store LOCATION] [--json]\n"
     "  wfc store copy FROM TO [--json]\n"},
    {"docs", "generate reference docs", wfc__cli_docs,
     "  wfc docs cards [MANIFEST] [--output FILE]\n"},
};

static void help(FILE *f) {
  fprintf(f,
          "wfc %s (plugin ABI %d.%d) - workflow connector host\n\n"
          "usage:\n",
          wfc_version(), WFC_ABI_MAJOR, WFC_ABI_MINOR);
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
    fputs(groups[i].usage, f);
  fputs("  wfc version [--json]\n\n"
        "Plugins are looked for in --plugin-dir, else $WFC_PLUGIN_PATH\n"
        "(colon-separated), else <directory of wfc>/../lib/wfc/plugins\n"
        "(installed) and <directory of wfc>/../plugins (build tree);\n"
        "`wfc plugin list` says where it looked.\n"
        "Connections live in --store PATH, else $WFC_STORE, else\n"
        "$XDG_DATA_HOME/wfc/store.db (~/.local/share/wfc/store.db).\n"
        "Every command takes --json; errors go to stderr.\n"
        "No core dumps (a core would hold the tokens): set\n"
        "WFC_ALLOW_CORE_DUMPS=1 to allow them for debugging.\n",
        f);
}

int main(int argc, char **argv) {
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
  int rc = -1;
  for (size_t i = 0; i < sizeof groups / sizeof groups[0]; i++)
    if (strcmp(groups[i].name, g) == 0)
      rc = groups[i].run(argc - 1, argv + 1);
  if (rc == -1)
    rc = wfc__cli_usage("  wfc help\n", "unknown command group \"%s\"", g);
  curl_global_cleanup();
  return rc;
}
