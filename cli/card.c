/* card.c - `wfc card list` and `wfc card describe CARD`. */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include "cli.h"

#include <getopt.h>
#include <string.h>

#include <json-c/json.h>

const char wfc__cli_usage_card[] =
    "  wfc card list [--plugin-dir DIR] [--json]\n"
    "  wfc card describe CARD [--plugin-dir DIR] [--json]\n";

/* Options shared by both commands. Returns -1 on a usage error. */
static int parse(int argc, char **argv, int *json, const char **dir) {
  static const struct option opts[] = {
      {"json", no_argument, NULL, 'j'},
      {"plugin-dir", required_argument, NULL, 'd'},
      {NULL, 0, NULL, 0}};
  int c;
  optind = 0;
  while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
    if (c == 'j')
      *json = 1;
    else if (c == 'd')
      *dir = optarg;
    else
      return -1;
  }
  return optind;
}

static json_object *card_json(const wfc_plugin *p, const wfc_card_desc *c) {
  json_object *o = wfc_card_to_json(c);
  char full[256];
  snprintf(full, sizeof full, "%s.%s", wfc_plugin_name(p), c->id);
  json_object_object_add(o, "card",
                         json_object_get(json_object_object_get(o, "id")));
  json_object_object_add(o, "id", json_object_new_string(full));
  json_object_object_add(o, "plugin",
                         json_object_new_string(wfc_plugin_name(p)));
  return o;
}

static int list(int argc, char **argv) {
  int json = 0;
  const char *dir = NULL;
  int i = parse(argc, argv, &json, &dir);
  if (i < 0 || i != argc)
    return wfc__cli_usage(wfc__cli_usage_card, "card list: bad arguments");
  wfc__cli_host h;
  if (wfc__cli_host_open(&h) != 0)
    return WFC_CLI_FAIL;
  if (wfc__cli_load_plugins(&h, dir) < 0) {
    wfc__cli_host_close(&h);
    return WFC_CLI_FAIL;
  }
  if (wfc_runtime_plugin_count(h.rt) == 0)
    wfc__cli_error("no plugins loaded (plugins searched in %s)",
                   wfc__cli_searched(&h));
  json_object *arr = json_object_new_array();
  for (size_t k = 0; k < wfc_runtime_plugin_count(h.rt); k++) {
    wfc_plugin *p = wfc_runtime_plugin(h.rt, k);
    for (size_t j = 0; j < wfc_plugin_card_count(p); j++) {
      const wfc_card_desc *c = wfc_plugin_card(p, j);
      if (json) {
        json_object *o = card_json(p, c);
        json_object_object_del(o, "inputs");
        json_object_object_del(o, "outputs");
        json_object_array_add(arr, o);
      } else {
        char full[256];
        snprintf(full, sizeof full, "%s.%s", wfc_plugin_name(p), c->id);
        printf("%-32s %-6s %s\n", full,
               c->kind == WFC_CARD_EVENT ? "event" : "action", c->name);
      }
    }
  }
  if (json)
    wfc__cli_print_json(arr);
  json_object_put(arr);
  wfc__cli_host_close(&h);
  return WFC_CLI_OK;
}

static int describe(int argc, char **argv) {
  int json = 0;
  const char *dir = NULL;
  int i = parse(argc, argv, &json, &dir);
  if (i < 0 || i + 1 != argc)
    return wfc__cli_usage(wfc__cli_usage_card,
                          "card describe: expected one CARD");
  const char *id = argv[i];
  wfc__cli_host h;
  if (wfc__cli_host_open(&h) != 0)
    return WFC_CLI_FAIL;
  h.quiet = 1; /* only the card matters here */
  if (wfc__cli_load_plugins(&h, dir) < 0) {
    wfc__cli_host_close(&h);
    return WFC_CLI_FAIL;
  }
  wfc_plugin *p;
  const wfc_card_desc *c;
  int rc = wfc_runtime_find_card(h.rt, id, &p, &c);
  if (rc != 0) {
    if (rc == WFC_EEXIST)
      wfc__cli_error("card \"%s\" is ambiguous: name it as plugin.card", id);
    else
      wfc__cli_error("card \"%s\" not found (%zu plugins loaded%s; plugins "
                     "searched in %s)",
                     id, wfc_runtime_plugin_count(h.rt),
                     h.load_failures ? ", some failed to load" : "",
                     wfc__cli_searched(&h));
    wfc__cli_host_close(&h);
    return WFC_CLI_FAIL;
  }
  if (json) {
    json_object *o = card_json(p, c);
    wfc__cli_print_json(o);
    json_object_put(o);
  } else {
    printf("%s.%s [%s] - %s\n", wfc_plugin_name(p), c->id,
           c->kind == WFC_CARD_EVENT ? "event" : "action", c->name);
    if (c->description)
      printf("  %s\n", c->description);
    if (c->conn_type)
      printf("connection: %s.%s\n", wfc_plugin_name(p), c->conn_type);
    printf("inputs:\n");
    wfc__cli_print_schema(stdout, c->inputs, 2);
    printf("outputs:\n");
    wfc__cli_print_schema(stdout, c->outputs, 2);
  }
  wfc__cli_host_close(&h);
  return WFC_CLI_OK;
}

int wfc__cli_card(int argc, char **argv) {
  if (argc < 2)
    return wfc__cli_usage(wfc__cli_usage_card, "card: missing command");
  if (strcmp(argv[1], "list") == 0)
    return list(argc - 1, argv + 1);
  if (strcmp(argv[1], "describe") == 0)
    return describe(argc - 1, argv + 1);
  if (strcmp(argv[1], "run") == 0) /* run.c */
    return wfc__cli_card_run(argc - 1, argv + 1);
  return wfc__cli_usage(wfc__cli_usage_card, "card: unknown command \"%s\"",
                        argv[1]);
}
