/* blob.c - `wfc blob put FILE` / `wfc blob get ID OUT`: local files in
 * and out of the blob store that `wfc card run` gives cards, so a card's
 * FILE input can be a local file (`--input '{"files":[<put's JSON>]}'`) and
 * a card's FILE output can be saved. */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "wfc/blobs.h"
#include "wfc/connections.h"

const char wfc__cli_usage_blob[] =
    "  wfc blob put FILE [--name N] [--content-type T] [--json]\n"
    "  wfc blob get ID OUT|- [--json]\n"
    "      [--blob-dir DIR] [--store PATH]\n"
    "  (the blob store is --blob-dir, else $WFC_BLOB_DIR, else blobs/ beside\n"
    "  the connection store, as for `wfc card run`)\n";

/* The same rule as `wfc card run` (run.c). */
static void blob_dir_for(const char *blobs, const char *store, char *buf,
                         size_t len) {
  if (blobs != NULL && *blobs != '\0')
    snprintf(buf, len, "%s", blobs);
  else if (wfc_connmgr_default_blob_dir(store, buf, len) != 0)
    snprintf(buf, len, "blobs");
}

static void print_ref(json_object *ref, int json, const char *verb,
                      const char *file) {
  if (json) {
    puts(json_object_to_json_string_ext(
        ref, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    return;
  }
  json_object *v;
  const char *id =
      json_object_object_get_ex(ref, "id", &v) ? json_object_get_string(v) : "";
  long long size = json_object_object_get_ex(ref, "size", &v)
                       ? (long long)json_object_get_int64(v)
                       : 0;
  const char *sha = json_object_object_get_ex(ref, "sha256", &v)
                        ? json_object_get_string(v)
                        : "";
  printf("%s %s: blob %s, %lld bytes, sha256 %s\n", verb, file, id, size, sha);
}

int wfc__cli_blob(int argc, char **argv) {
  static const struct option table[] = {
      {"json", no_argument, NULL, 'j'},
      {"name", required_argument, NULL, 'n'},
      {"content-type", required_argument, NULL, 't'},
      {"blob-dir", required_argument, NULL, 'b'},
      {"store", required_argument, NULL, 's'},
      {NULL, 0, NULL, 0}};
  const char *name = NULL, *ctype = NULL, *store = NULL,
             *blobs = NULL; /* else the default ($WFC_BLOB_DIR, ...) */
  int json = 0, c;

  if (argc < 2)
    return wfc__cli_usage(wfc__cli_usage_blob, "blob: missing command");
  const char *cmd = argv[1];
  int put = strcmp(cmd, "put") == 0;
  if (!put && strcmp(cmd, "get") != 0)
    return wfc__cli_usage(wfc__cli_usage_blob, "blob: unknown command \"%s\"",
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
    case 'n':
      name = optarg;
      break;
    case 't':
      ctype = optarg;
      break;
    case 'b':
      blobs = optarg;
      break;
    case 's':
      store = optarg;
      break;
    default:
      return wfc__cli_bad_option(wfc__cli_usage_blob, "blob", cmd,
                                 argv[optind - 1]);
    }
  }
  if (optind + (put ? 1 : 2) != argc)
    return wfc__cli_usage(wfc__cli_usage_blob,
                          put ? "blob put: expected one FILE"
                              : "blob get: expected ID and OUT");
  if (!put && (name != NULL || ctype != NULL))
    return wfc__cli_usage(wfc__cli_usage_blob,
                          "blob get: --name and --content-type are for "
                          "put");
  char dir[4096];
  blob_dir_for(blobs, store, dir, sizeof dir);

  json_object *ref = NULL;
  int rc;
  if (put) {
    rc = wfc_blob_put_file(dir, argv[optind], name, ctype, &ref);
    if (rc != 0)
      return wfc__cli_error(
          "cannot put %s into the blob store %s: %s", argv[optind], dir,
          rc == WFC_ENOTFOUND ? "no such file" : wfc_strerror(rc));
    print_ref(ref, json, "stored", argv[optind]);
  } else {
    const char *out = argv[optind + 1];
    rc = wfc_blob_get_file(dir, argv[optind], out, &ref);
    if (rc != 0)
      return wfc__cli_error(
          "cannot get blob %s from %s into %s: %s", argv[optind], dir, out,
          rc == WFC_ENOTFOUND ? "no such blob (or output directory)"
          : rc == WFC_EINVAL  ? "not a blob id (32 hex digits)"
                              : wfc_strerror(rc));
    /* With OUT "-" the bytes went to stdout: the report goes to stderr. */
    if (strcmp(out, "-") != 0)
      print_ref(ref, json, "wrote", out);
  }
  json_object_put(ref);
  return WFC_CLI_OK;
}
