/* Fuzz target: sdk/json.c on untrusted bytes (HTTP bodies, files).
 * Properties: the stream fed in pieces (sizes taken from the input) and
 * the one-shot parser agree on the code and the value; a parsed value
 * printed and parsed again is the same value. (The error offsets agree in
 * the unit test's corpus, but json-c reports some errors one byte later
 * when a chunk ends inside a number, e.g. "[0, -" + "0Id": not checked.) */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *text = (const char *)data;
  struct json_object *v1 = NULL, *v2 = NULL, *v3 = NULL;
  char e1[200] = "", e2[200] = "";
  unsigned seed = size > 0 ? data[0] : 1;
  int rc1, rc2;

  rc1 = wfc__json_parse(text, size, 0, &v1, e1, sizeof e1);

  wfc__json_stream *s = wfc__json_stream_new(0);
  if (s == NULL)
    abort();
  rc2 = 0;
  for (size_t off = 0; off < size && rc2 == 0;) {
    size_t piece = 1 + (seed = seed * 1103515245u + 12345u) % 9;
    if (piece > size - off)
      piece = size - off;
    rc2 = wfc__json_stream_feed(s, text + off, piece);
    off += piece;
  }
  rc2 = wfc__json_stream_finish(s, &v2, e2, sizeof e2);
  wfc__json_stream_free(s);

  if (rc1 != rc2 || (rc1 != 0 && (e1[0] == '\0' || e2[0] == '\0')))
    abort();
  if (rc1 == 0) {
    char *dump;
    if (!json_object_equal(v1, v2))
      abort();
    dump = wfc__json_dump(v1, false);
    if (dump == NULL ||
        wfc__json_parse(dump, strlen(dump), 0, &v3, NULL, 0) != 0 ||
        !json_object_equal(v1, v3))
      abort();
    free(dump);
  } else if (v1 != NULL || v2 != NULL) {
    abort();
  }
  json_object_put(v1);
  json_object_put(v2);
  json_object_put(v3);
  return 0;
}
