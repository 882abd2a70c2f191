/* msgfilter.c - see msgfilter.h. */
#define _GNU_SOURCE /* strcasestr */
#include "msgfilter.h"

#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "util.h"

static struct json_object *list_of(struct json_object *o, const char *key) {
  struct json_object *v = NULL;
  return json_object_object_get_ex(o, key, &v) &&
                 json_object_is_type(v, json_type_array) &&
                 json_object_array_length(v) > 0
             ? v
             : NULL;
}

static int addr_in(struct json_object *list, const char *addr) {
  for (size_t i = 0; addr != NULL && i < json_object_array_length(list); i++) {
    const char *a = json_object_get_string(json_object_array_get_idx(list, i));
    if (a != NULL && strcasecmp(a, addr) == 0)
      return 1;
  }
  return 0;
}

/* Some address of the message's field (a string or a list) is wanted. */
static int any_addr(struct json_object *wanted, struct json_object *msg,
                    const char *field) {
  struct json_object *v = NULL;
  if (!json_object_object_get_ex(msg, field, &v))
    return 0;
  if (json_object_is_type(v, json_type_string))
    return addr_in(wanted, json_object_get_string(v));
  for (size_t i = 0; i < json_object_array_length(v); i++)
    if (addr_in(wanted,
                json_object_get_string(json_object_array_get_idx(v, i))))
      return 1;
  return 0;
}

int o365_msg_filter_match(struct json_object *in, struct json_object *msg) {
  static const char *const addr_filters[][2] = {
      {"from", "from"}, {"to", "to"}, {"cc", "cc"}};
  for (size_t i = 0; i < sizeof addr_filters / sizeof *addr_filters; i++) {
    struct json_object *wanted = list_of(in, addr_filters[i][0]);
    if (wanted != NULL && !any_addr(wanted, msg, addr_filters[i][1]))
      return 0;
  }
  const char *sub = o365_json_str(in, "subject_contains");
  if (sub != NULL && *sub != '\0') {
    const char *s = o365_json_str(msg, "subject");
    if (s == NULL || strcasestr(s, sub) == NULL)
      return 0;
  }
  const char *imp = o365_json_str(in, "importance");
  if (imp != NULL && *imp != '\0') {
    const char *m = o365_json_str(msg, "importance");
    if (m == NULL || strcasecmp(m, imp) != 0)
      return 0;
  }
  struct json_object *att = NULL;
  if (json_object_object_get_ex(in, "only_with_attachments", &att) &&
      json_object_get_boolean(att)) {
    struct json_object *has = NULL;
    if (!json_object_object_get_ex(msg, "has_attachments", &has) ||
        !json_object_get_boolean(has))
      return 0;
  }
  return 1;
}
