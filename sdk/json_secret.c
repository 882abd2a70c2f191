/* json_secret.c - JSON that holds credentials (see json_secret.h). */
#include "json_secret.h"

#include <string.h>

#include <json-c/json.h>

#include "crypto.h"
#include "json.h"
#include "secmem.h"

int wfc__json_parse_secret(const char *text, size_t len,
                           struct json_object **out, char *err, size_t errlen) {
  return wfc__json_parse_wiped(text, len, out, err, errlen, wfc__cleanse);
}

/* JSON string escaping (RFC 8259), '/' left as is. Writes into out when
 * not NULL; returns the length either way. */
static size_t escape_into(const char *s, size_t n, char *out) {
  static const char hex[] = "0123456789abcdef";
  size_t o = 0;
#define PUT(c)                                                                 \
  do {                                                                         \
    if (out)                                                                   \
      out[o] = (c);                                                            \
    o++;                                                                       \
  } while (0)
  PUT('"');
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\') {
      PUT('\\');
      PUT((char)c);
    } else if (c < 0x20) {
      PUT('\\');
      PUT('u');
      PUT('0');
      PUT('0');
      PUT(hex[c >> 4]);
      PUT(hex[c & 15]);
    } else {
      PUT((char)c);
    }
  }
  PUT('"');
#undef PUT
  return o;
}

/* Compact text of v into out (NULL: only measure); returns its length, or
 * (size_t)-1 when a scalar cannot be printed. */
static size_t dump_into(struct json_object *v, char *out) {
  size_t o = 0, n;
  const char *t;
  int first = 1;

#define ADD(p, len)                                                            \
  do {                                                                         \
    if (out)                                                                   \
      memcpy(out + o, (p), (len));                                             \
    o += (len);                                                                \
  } while (0)
  switch (json_object_get_type(v)) {
  case json_type_string:
    return escape_into(json_object_get_string(v),
                       (size_t)json_object_get_string_len(v), out);
  case json_type_object:
    ADD("{", 1);
    json_object_object_foreach(v, k, x) {
      if (!first)
        ADD(",", 1);
      first = 0;
      o += escape_into(k, strlen(k), out ? out + o : NULL);
      ADD(":", 1);
      if ((n = dump_into(x, out ? out + o : NULL)) == (size_t)-1)
        return n;
      o += n;
    }
    ADD("}", 1);
    return o;
  case json_type_array:
    ADD("[", 1);
    for (size_t i = 0; i < json_object_array_length(v); i++) {
      if (i > 0)
        ADD(",", 1);
      n = dump_into(json_object_array_get_idx(v, i), out ? out + o : NULL);
      if (n == (size_t)-1)
        return n;
      o += n;
    }
    ADD("]", 1);
    return o;
  default:
    /* null, booleans and numbers hold no secret: json-c prints them. */
    t = json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN);
    if (t == NULL)
      return (size_t)-1;
    n = strlen(t);
    ADD(t, n);
    return o;
  }
#undef ADD
}

char *wfc__json_dump_secret(struct json_object *v) {
  size_t n = dump_into(v, NULL);
  char *text;

  if (n == (size_t)-1 || (text = wfc__secmem_alloc(n + 1)) == NULL)
    return NULL;
  dump_into(v, text);
  text[n] = '\0';
  return text;
}

void wfc__json_cleanse(struct json_object *v) {
  wfc__json_wipe(v, wfc__cleanse);
}

void wfc__json_cleanse_put(struct json_object *v) {
  if (v == NULL)
    return;
  wfc__json_cleanse(v);
  json_object_put(v);
}
