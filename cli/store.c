/* store.c - `wfc store migrate` and `wfc store copy FROM TO`: the
 * connection store's schema brought up to date explicitly (opening does
 * it too), and a verified copy between stores, SQLite to PostgreSQL and
 * back (docs/store.md, "Operations"). */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "wfc/connections.h"

const char wfc__cli_usage_store[] =
    "  wfc store migrate [--store LOCATION] [--json]\n"
    "  wfc store copy FROM TO [--json]\n"
    "  (LOCATION, FROM, TO: a file path, or a PostgreSQL URL\n"
    "  postgresql://USER@HOST:PORT/DB or keywords \"host=... dbname=...\";\n"
    "  the master key: WFC_MASTER_KEY, else a file store's key file)\n";

static int migrate(const char *store, int json) {
  char loc[4096], err[1024];
  int from = 0, to = 0, rc;

  if ((rc = wfc_connmgr_default_store(store, loc, sizeof loc)) != 0)
    return wfc__cli_error("no store: give --store, WFC_STORE or set HOME");
  if ((rc = wfc_store_migrate(loc, &from, &to, err, sizeof err)) != 0)
    return wfc__cli_error("store migrate: %s", err);
  if (json)
    printf("{ \"schema_version\": %d, \"was\": %d }\n", to, from);
  else if (from == to)
    printf("store: schema version %d, up to date\n", to);
  else
    printf("store: schema version %d (was %d)\n", to, from);
  return WFC_CLI_OK;
}

static int copy(const char *from, const char *to, int json) {
  wfc_store_copy_report rep;
  char err[1024];
  int rc = wfc_store_copy(from, to, &rep, err, sizeof err);

  if (rc != 0)
    return wfc__cli_error("store copy: %s", err);
  if (json) {
    json_object *o = json_object_new_object(), *t = json_object_new_object();
    for (int i = 0; i < WFC_STORE_COPY_TABLES; i++) {
      json_object *e = json_object_new_object();
      json_object_object_add(e, "rows",
                             json_object_new_int64(rep.tables[i].rows_to));
      json_object_object_add(e, "sha256",
                             json_object_new_string(rep.tables[i].sum_to));
      json_object_object_add(t, rep.tables[i].table, e);
    }
    json_object_object_add(o, "tables", t);
    json_object_object_add(o, "connections_verified",
                           json_object_new_int(rep.connections_verified));
    puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    json_object_put(o);
    return WFC_CLI_OK;
  }
  for (int i = 0; i < WFC_STORE_COPY_TABLES; i++)
    printf("%-12s %6lld rows  sha256 %.16s  (source: %lld rows, %.16s)\n",
           rep.tables[i].table, rep.tables[i].rows_to, rep.tables[i].sum_to,
           rep.tables[i].rows_from, rep.tables[i].sum_from);
  printf("copied and verified: %d connection(s) authenticate in the copy\n",
         rep.connections_verified);
  return WFC_CLI_OK;
}

int wfc__cli_store(int argc, char **argv) {
  static const struct option table[] = {{"json", no_argument, NULL, 'j'},
                                        {"store", required_argument, NULL, 's'},
                                        {NULL, 0, NULL, 0}};
  const char *store = NULL;
  int json = 0, c;

  if (argc < 2)
    return wfc__cli_usage(wfc__cli_usage_store, "store: missing command");
  const char *cmd = argv[1];
  int is_copy = strcmp(cmd, "copy") == 0;
  if (!is_copy && strcmp(cmd, "migrate") != 0)
    return wfc__cli_usage(wfc__cli_usage_store, "store: unknown command \"%s\"",
                          cmd);
  argc--;
  argv++;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", table, NULL)) != -1) {
    switch (c) {
    case 'j':
      json = 1;
      break;
    case 's':
      store = optarg;
      break;
    default:
      return wfc__cli_bad_option(wfc__cli_usage_store, "store", cmd,
                                 argv[optind - 1]);
    }
  }
  if (is_copy) {
    if (store != NULL)
      return wfc__cli_usage(wfc__cli_usage_store,
                            "store copy: name FROM and TO, not --store");
    if (optind + 2 != argc)
      return wfc__cli_usage(wfc__cli_usage_store,
                            "store copy: expected FROM and TO");
    return copy(argv[optind], argv[optind + 1], json);
  }
  if (optind != argc)
    return wfc__cli_usage(wfc__cli_usage_store,
                          "store migrate: unexpected \"%s\"", argv[optind]);
  return migrate(store, json);
}
