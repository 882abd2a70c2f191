/* run.c - `wfc card run CARD [--connection NAME] [--input JSON|@file]`:
 * runs one card with a stored connection and prints its output JSON;
 * streamed items are printed as JSON lines as they arrive, and a progress
 * line goes to stderr when stderr is a terminal. */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "wfc/connections.h"

const char wfc__cli_usage_card_run[] =
    "  wfc card run CARD [--connection NAME] [--input JSON|@file]\n"
    "      [--store PATH] [--blob-dir DIR] [--plugin-dir DIR] [--json]\n"
    "  (files go to --blob-dir, else $WFC_BLOB_DIR, else blobs/ beside the\n"
    "  store)\n";

typedef struct run {
  int json, tty, done, exit_code, items;
  wfc_connmgr *m;
  const char *conn_name;
} run;

static int on_item(void *arg, wfc_call *call, json_object *item) {
  run *r = arg;
  (void)call;
  r->items++;
  puts(json_object_to_json_string_ext(
      item, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  fflush(stdout);
  return 0;
}

static void on_progress(void *arg, wfc_call *call, uint64_t done,
                        uint64_t total) {
  run *r = arg;
  (void)call;
  if (!r->tty)
    return;
  if (total > 0)
    fprintf(stderr, "\r%llu / %llu", (unsigned long long)done,
            (unsigned long long)total);
  else
    fprintf(stderr, "\r%llu", (unsigned long long)done);
}

static void on_done(void *arg, wfc_call *call, const wfc_outcome *out) {
  run *r = arg;
  (void)call;
  r->done = 1;
  if (r->tty)
    fputs("\r\033[K", stderr);
  if (out->status == 0) {
    if (r->json)
      puts(json_object_to_json_string_ext(out->output,
                                          JSON_C_TO_STRING_PLAIN |
                                              JSON_C_TO_STRING_NOSLASHESCAPE));
    else
      wfc__cli_print_json(out->output);
    r->exit_code = WFC_CLI_OK;
    return;
  }
  r->exit_code = WFC_CLI_FAIL;
  wfc__cli_error("%s (%s)", out->message, wfc_err_name(out->status));
  wfc__cli_error_info(wfc_err_name(out->status), out->detail, NULL);
  /* An empty detail says nothing: no "detail: {}". */
  if (out->detail != NULL &&
      !(json_object_is_type(out->detail, json_type_object) &&
        json_object_object_length(out->detail) == 0))
    fprintf(stderr, "wfc: detail: %s\n",
            json_object_to_json_string_ext(out->detail,
                                           JSON_C_TO_STRING_PLAIN |
                                               JSON_C_TO_STRING_NOSLASHESCAPE));
  char how[512];
  if (wfc__cli_field_remedy(out->detail, 0, how, sizeof how) != NULL) {
    fprintf(stderr, "wfc: %s\n", how);
    wfc__cli_error_info(NULL, NULL, how);
  }
  if (r->conn_name != NULL)
    wfc__cli_say_remedy(r->m, r->conn_name, out->status);
}

int wfc__cli_card_run(int argc, char **argv) {
  static const struct option table[] = {
      {"json", no_argument, NULL, 'j'},
      {"connection", required_argument, NULL, 'c'},
      {"input", required_argument, NULL, 'i'},
      {"store", required_argument, NULL, 's'},
      {"plugin-dir", required_argument, NULL, 'd'},
      {"blob-dir", required_argument, NULL, 'b'},
      {NULL, 0, NULL, 0}};
  run r = {.exit_code = WFC_CLI_FAIL, .tty = isatty(2)};
  const char *conn = NULL, *input = "{}", *store = NULL, *dir = NULL,
             *blobs = getenv("WFC_BLOB_DIR");
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", table, NULL)) != -1) {
    switch (c) {
    case 'j':
      r.json = 1;
      break;
    case 'c':
      conn = optarg;
      break;
    case 'i':
      input = optarg;
      break;
    case 's':
      store = optarg;
      break;
    case 'd':
      dir = optarg;
      break;
    case 'b':
      blobs = optarg;
      break;
    default:
      return wfc__cli_usage(wfc__cli_usage_card_run,
                            "card run: unknown or incomplete option "
                            "\"%s\"",
                            argv[optind - 1]);
    }
  }
  if (optind + 1 != argc)
    return wfc__cli_usage(wfc__cli_usage_card_run,
                          "card run: expected one CARD");
  const char *card_id = argv[optind];
  json_object *in = wfc__cli_read_input(input, "input");
  if (in == NULL)
    return WFC_CLI_FAIL;
  r.conn_name = conn;

  /* Cards read and write files (attachments) through the blob store; by
   * default it lives beside the connection store. */
  char blob_dir[4096];
  if (blobs == NULL || *blobs == '\0') {
    char sp[4096];
    int rc = wfc_connmgr_default_store(store, sp, sizeof sp);
    char *slash = rc == 0 ? strrchr(sp, '/') : NULL;
    if (slash != NULL)
      snprintf(blob_dir, sizeof blob_dir, "%.*s/blobs", (int)(slash - sp), sp);
    else
      snprintf(blob_dir, sizeof blob_dir, "blobs");
  } else {
    snprintf(blob_dir, sizeof blob_dir, "%s", blobs);
  }
  wfc__cli_host h;
  if (wfc__cli_connmgr_open(&h, store, dir, 1, blob_dir, &r.m) != 0) {
    json_object_put(in);
    return WFC_CLI_FAIL;
  }
  const wfc_card_desc *card = NULL;
  int rc = wfc_runtime_find_card(h.rt, card_id, NULL, &card);
  wfc_conn *wc = NULL;
  if (rc != 0) {
    wfc__cli_error(rc == WFC_EEXIST
                       ? "card \"%s\" is ambiguous: name it as plugin.card"
                       : "card \"%s\" not found among the loaded plugins",
                   card_id);
  } else if (card->conn_type != NULL && conn == NULL) {
    rc = WFC_EINVAL;
    wfc__cli_error("card \"%s\" needs a connection: --connection NAME",
                   card_id);
  } else if (conn != NULL && (rc = wfc_connmgr_open_conn(r.m, conn, &wc))) {
    if (rc == WFC_EKEY)
      wfc__cli_tampered(conn, NULL);
    else
      wfc__cli_error(rc == WFC_ENOTFOUND
                         ? "no connection \"%s\" (see `wfc connection list`)"
                         : "cannot open connection \"%s\"",
                     conn);
  }
  if (rc == 0) {
    wfc_invoke how = {.size = sizeof how,
                      .conn = wc,
                      .on_item = on_item,
                      .on_progress = on_progress,
                      .on_done = on_done,
                      .arg = &r};
    rc = wfc_runtime_invoke(h.rt, card_id, in, &how, NULL);
    if (rc != 0)
      wfc__cli_error("cannot run card \"%s\": %s", card_id, wfc_strerror(rc));
    else
      while (!r.done && uv_run(&h.loop, UV_RUN_ONCE) != 0)
        ;
  }
  if (wc != NULL)
    wfc_conn_release(wc);
  json_object_put(in);
  wfc__cli_connmgr_close(&h, r.m);
  return rc == 0 ? r.exit_code : WFC_CLI_FAIL;
}
