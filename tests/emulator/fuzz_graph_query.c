/* Fuzz target for the Graph OData query parsers (emulator/odata.c), which
 * read outside input straight from request URLs. The first byte picks the
 * parser: 0 $filter, 1 $search, 2 $select/$orderby/$top/$skip (lines), 3
 * the time parser. Properties, checked with abort(): a refusal is a 400
 * with a code and a NUL-terminated message; an accepted query evaluates
 * and pages without fault and never returns more than asked. Runs under
 * ctest through tests/fuzz/driver.c with corpus
 * tests/fuzz/corpus/fuzz_graph_query. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "odata.h"

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c))                                                                  \
      abort();                                                                 \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static json_object *sample(void) {
  return json_tokener_parse(
      "[{\"id\":\"1\",\"subject\":\"Hello\",\"isRead\":false,"
      "\"receivedDateTime\":\"2024-01-02T10:00:00Z\",\"importance\":\"high\","
      "\"categories\":[\"Red\"],\"hasAttachments\":true,\"from\":{"
      "\"emailAddress\":{\"address\":\"bob@x.com\",\"name\":\"Bob\"}},"
      "\"body\":{\"content\":\"hi there\"},\"flag\":{\"flagStatus\":"
      "\"flagged\"}},"
      "{\"id\":\"2\",\"subject\":null,\"isRead\":true,\"receivedDateTime\":"
      "\"bad\",\"categories\":[],\"toRecipients\":[{\"emailAddress\":{}}]}]");
}

static void check_error(const emu_odata_error *e) {
  CHECK(e->status == 400);
  CHECK(e->code != NULL && e->code[0] != '\0');
  CHECK(memchr(e->message, '\0', sizeof(e->message)) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  char *s = malloc(size);
  if (!s)
    return 0;
  memcpy(s, data + 1, size - 1);
  s[size - 1] = '\0'; /* URL values are NUL-free after decoding */
  json_object *items = sample();
  emu_odata_error err = {0};
  switch (data[0] % 4) {
  case 0: {
    emu_odata_node *n =
        emu_odata_filter_parse(s, emu_odata_message_props, &err);
    if (!n) {
      check_error(&err);
      break;
    }
    for (size_t i = 0; i < json_object_array_length(items); i++)
      (void)emu_odata_filter_eval(n, json_object_array_get_idx(items, i));
    const char *paths[8];
    (void)emu_odata_filter_paths(n, paths, 8);
    emu_odata_filter_free(n);
    break;
  }
  case 1: {
    emu_odata_search *q = emu_odata_search_parse(s, &err);
    if (!q) {
      check_error(&err);
      break;
    }
    for (size_t i = 0; i < json_object_array_length(items); i++)
      (void)emu_odata_search_eval(q, json_object_array_get_idx(items, i));
    emu_odata_search_free(q);
    break;
  }
  case 2: {
    /* lines: select, orderby, top, skip, filter */
    char *f[5] = {NULL, NULL, NULL, NULL, NULL};
    char *p = s;
    for (int i = 0; i < 5 && p; i++) {
      f[i] = p;
      p = strchr(p, '\n');
      if (p)
        *p++ = '\0';
    }
    emu_odata_params prm = {.select = f[0],
                            .orderby = f[1],
                            .top = f[2],
                            .skip = f[3],
                            .filter = f[4]};
    emu_odata_query q;
    if (emu_odata_query_parse(&q, &prm, emu_odata_message_props, &err) < 0) {
      check_error(&err);
      break;
    }
    size_t total = 0;
    json_object *page = emu_odata_apply(&q, items, 10, &total);
    CHECK(total <= json_object_array_length(items));
    size_t n = json_object_array_length(page);
    CHECK(n <= (q.top >= 0 ? (size_t)q.top : 10));
    for (size_t i = 0; i < n; i++) {
      json_object *o = emu_odata_select(&q, json_object_array_get_idx(page, i));
      CHECK(o != NULL);
      json_object_put(o);
    }
    json_object_put(page);
    emu_odata_query_clear(&q);
    break;
  }
  default: {
    double t;
    if (emu_odata_parse_time(s, &t) == 0)
      CHECK(strlen(s) >= 19);
    break;
  }
  }
  json_object_put(items);
  free(s);
  return 0;
}
