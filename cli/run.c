/* run.c - `wfc card run CARD [--connection NAME] [--input JSON|@file]`:
 * runs one card with a stored connection and prints its output JSON;
 * streamed items are printed as JSON lines as they arrive, and a progress
 * line goes to stderr when stderr is a terminal. */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "wfc/connections.h"

const char wfc__cli_usage_card_run[] =
    "  wfc card run CARD [--connection NAME] [--input JSON|@file]\n"
    "      [--store PATH] [--blob-dir DIR] [--plugin-dir DIR] [--json]\n"
    "      [--progress text|json|none]\n"
    "  (--progress: uploads and downloads; text on a terminal by default,\n"
    "  json: one {\"progress\":{\"done\",\"total\",\"elapsed_ms\",\n"
    "  \"bytes_per_s\"}} line per 200 ms on stderr, for programs)\n"
    "  (files go to --blob-dir, else $WFC_BLOB_DIR, else blobs/ beside the\n"
    "  store)\n";

typedef struct run {
  int json, tty, done, exit_code, items;
  int progress;      /* 0 none, 1 text (a terminal), 2 JSON lines */
  uint64_t start_ms; /* uv_now at the call's start */
  uint64_t last_ms;  /* of the last progress printed */
  uv_loop_t *loop;
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

/* n bytes in units people read: "512 B", "1.5 KB", "12.3 MB", "1.02 GB"
 * (powers of 1000, as file managers and Outlook's limits count). */
static const char *human_bytes(double n, char *buf, size_t len) {
  static const char *const units[] = {"B", "KB", "MB", "GB", "TB"};
  int u = 0;
  while (n >= 1000 && u < 4)
    n /= 1000, u++;
  snprintf(buf, len, u == 0 ? "%.0f %s" : "%.1f %s", n, units[u]);
  return buf;
}

/* Uploads and downloads: on a terminal one line redrawn in place (done,
 * total, %, rate, time left), at most every 200 ms; with --progress json
 * one JSON object per line on stderr
 * {"progress":{"done","total","elapsed_ms","bytes_per_s"}}, at most every
 * 200 ms and at the end, for a program to read. */
static void on_progress(void *arg, wfc_call *call, uint64_t done,
                        uint64_t total) {
  run *r = arg;
  (void)call;
  if (r->progress == 0)
    return;
  uv_update_time(r->loop);
  uint64_t now = uv_now(r->loop), el = now - r->start_ms;
  int last = total > 0 && done >= total;
  if (!last && r->last_ms != 0 && now - r->last_ms < 200)
    return;
  r->last_ms = now;
  double rate = el > 0 ? (double)done * 1000.0 / (double)el : 0;
  if (r->progress == 2) {
    fprintf(stderr,
            "{\"progress\":{\"done\":%llu,\"total\":%llu,\"elapsed_ms\":%llu,"
            "\"bytes_per_s\":%.0f}}\n",
            (unsigned long long)done, (unsigned long long)total,
            (unsigned long long)el, rate);
    fflush(stderr);
    return;
  }
  char d[32], t[32], s[32];
  human_bytes((double)done, d, sizeof d);
  human_bytes(rate, s, sizeof s);
  if (total > 0) {
    double left =
        rate > 0 ? (double)(total - (done < total ? done : total)) / rate : -1;
    char eta[32] = "";
    if (left >= 0)
      snprintf(eta, sizeof eta, ", %.0f s left", left);
    fprintf(stderr, "\r\033[K%s of %s (%.0f%%), %s/s%s", d,
            human_bytes((double)total, t, sizeof t),
            100.0 * (double)done / (double)total, s, eta);
  } else {
    fprintf(stderr, "\r\033[K%s, %s/s", d, s);
  }
  fflush(stderr);
}

static void on_done(void *arg, wfc_call *call, const wfc_outcome *out) {
  run *r = arg;
  (void)call;
  r->done = 1;
  if (r->progress == 1)
    fputs("\r\033[K", stderr);
  if (out->status == 0) {
    /* Compact with --json, else indented; written as it is made. */
    if (wfc__cli_write_json(out->output, !r->json) != 0) {
      wfc__cli_error("cannot write the output: %s", strerror(errno));
      r->exit_code = WFC_CLI_FAIL;
      return;
    }
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
      {"progress", required_argument, NULL, 'P'},
      {NULL, 0, NULL, 0}};
  run r = {.exit_code = WFC_CLI_FAIL, .tty = isatty(2)};
  int progress_set = 0;
  const char *conn = NULL, *input = "{}", *store = NULL, *dir = NULL,
             *blobs = NULL; /* else the default ($WFC_BLOB_DIR, ...) */
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
    case 'P':
      if (strcmp(optarg, "json") == 0)
        r.progress = 2;
      else if (strcmp(optarg, "text") == 0)
        r.progress = 1;
      else if (strcmp(optarg, "none") == 0)
        r.progress = 0;
      else
        return wfc__cli_usage(wfc__cli_usage_card_run,
                              "card run: --progress is text, json or none, "
                              "not \"%s\"",
                              optarg);
      progress_set = 1;
      break;
    default:
      return wfc__cli_bad_option(wfc__cli_usage_card_run, "card", "run",
                                 argv[optind - 1]);
    }
  }
  if (optind + 1 != argc)
    return wfc__cli_usage(wfc__cli_usage_card_run,
                          "card run: expected one CARD");
  const char *card_id = argv[optind];
  if (!progress_set)
    r.progress = r.tty ? 1 : 0; /* a terminal sees it; a pipe asks */
  json_object *in = wfc__cli_read_input(input, "input");
  if (in == NULL)
    return WFC_CLI_FAIL;
  r.conn_name = conn;

  /* Cards read and write files (attachments) through the blob store; by
   * default it lives beside the connection store. */
  char blob_dir[4096];
  if (blobs == NULL || *blobs == '\0') {
    if (wfc_connmgr_default_blob_dir(store, blob_dir, sizeof blob_dir) != 0)
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
    if (rc == WFC_EEXIST)
      wfc__cli_error("card \"%s\" is ambiguous: name it as plugin.card",
                     card_id);
    else
      wfc__cli_error("card \"%s\" not found among the loaded plugins "
                     "(plugins searched in %s)",
                     card_id, wfc__cli_searched(&h));
  } else if (card->conn_type != NULL && conn == NULL) {
    rc = WFC_EINVAL;
    wfc__cli_error("card \"%s\" needs a connection: --connection NAME",
                   card_id);
  } else if (conn != NULL && (rc = wfc_connmgr_open_conn(r.m, conn, &wc))) {
    if (rc == WFC_EKEY)
      wfc__cli_tampered(conn, NULL);
    else if (rc == WFC_ENOTFOUND)
      wfc__cli_error("no connection \"%s\" (see `wfc connection list`)", conn);
    else
      wfc__cli_error("cannot open connection \"%s\": %s", conn,
                     *wfc_connmgr_open_error() ? wfc_connmgr_open_error()
                                               : wfc_strerror(rc));
  }
  if (rc == 0) {
    r.loop = &h.loop;
    uv_update_time(&h.loop);
    r.start_ms = uv_now(&h.loop);
    wfc_invoke how = {.size = sizeof how,
                      .conn = wc,
                      .on_item = on_item,
                      .on_progress = on_progress,
                      .on_done = on_done,
                      .arg = &r,
                      /* Written out as is: listings keep their items as
                       * text, not as json-c objects (wfc/host.h). */
                      .flags = WFC_INVOKE_TEXT_LISTS};
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
