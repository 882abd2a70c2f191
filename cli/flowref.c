/* flowref.c - see flowref.h. */
#include "flowref.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The value at path ("trigger.a", "steps.x.list[0].id") in ctx, borrowed,
 * or NULL with why set. */
json_object *wfc__flow_resolve(json_object *ctx, const char *path, char *why,
                               size_t len) {
  json_object *v = ctx;
  const char *p = path;
  while (*p) {
    char key[256];
    size_t n = strcspn(p, ".[");
    if (n == 0 || n >= sizeof key) {
      snprintf(why, len, "malformed path");
      return NULL;
    }
    memcpy(key, p, n);
    key[n] = '\0';
    json_object *next = NULL;
    if (!json_object_is_type(v, json_type_object) ||
        !json_object_object_get_ex(v, key, &next)) {
      snprintf(why, len, "no \"%.64s\" there", key);
      return NULL;
    }
    v = next;
    p += n;
    while (*p == '[') {
      char *end;
      long i = strtol(p + 1, &end, 10);
      if (*end != ']' || i < 0) {
        snprintf(why, len, "malformed index");
        return NULL;
      }
      if (!json_object_is_type(v, json_type_array) ||
          (size_t)i >= json_object_array_length(v)) {
        snprintf(why, len, "no item [%ld] there", i);
        return NULL;
      }
      v = json_object_array_get_idx(v, (size_t)i);
      p = end + 1;
    }
    if (*p == '.')
      p++;
  }
  return v;
}

/* The reference text between {{ and }} with blanks trimmed, into out. */
void wfc__flow_ref_path(const char *a, size_t n, char *out, size_t len) {
  while (n > 0 && isspace((unsigned char)*a))
    a++, n--;
  while (n > 0 && isspace((unsigned char)a[n - 1]))
    n--;
  snprintf(out, len, "%.*s", (int)n, a);
}

int wfc__flow_whole_ref(json_object *v, char *out, size_t len) {
  if (!json_object_is_type(v, json_type_string))
    return 0;
  const char *s = json_object_get_string(v);
  size_t n = strlen(s);
  if (n <= 4 || strncmp(s, "{{", 2) != 0 || strcmp(s + n - 2, "}}") != 0 ||
      strstr(s + 2, "{{") != NULL || strstr(s + 2, "}}") != s + n - 2)
    return 0;
  wfc__flow_ref_path(s + 2, n - 4, out, len);
  return 1;
}

/* A copy of v with its references resolved against ctx (new reference),
 * or NULL with err naming where ("steps[1].input.message_id: ..."). */
json_object *wfc__flow_expand(json_object *v, json_object *ctx,
                              const char *where, char *err, size_t len) {
  if (json_object_is_type(v, json_type_object)) {
    json_object *o = json_object_new_object();
    json_object_object_foreach(v, k, val) {
      char w[512];
      snprintf(w, sizeof w, "%s.%s", where, k);
      json_object *x = wfc__flow_expand(val, ctx, w, err, len);
      if (x == NULL && val != NULL) {
        json_object_put(o);
        return NULL;
      }
      json_object_object_add(o, k, x);
    }
    return o;
  }
  if (json_object_is_type(v, json_type_array)) {
    json_object *a = json_object_new_array();
    for (size_t i = 0; i < json_object_array_length(v); i++) {
      char w[512];
      snprintf(w, sizeof w, "%s[%zu]", where, i);
      json_object *it = json_object_array_get_idx(v, i);
      json_object *x = wfc__flow_expand(it, ctx, w, err, len);
      if (x == NULL && it != NULL) {
        json_object_put(a);
        return NULL;
      }
      json_object_array_add(a, x);
    }
    return a;
  }
  if (!json_object_is_type(v, json_type_string))
    return json_object_get(v);
  const char *s = json_object_get_string(v);
  size_t slen = strlen(s);
  char path[512], why[128];
  /* A NUL in the text: passed on whole, for the card's validation to
   * refuse with its field and byte (read as a C string, it would be cut). */
  if (slen != (size_t)json_object_get_string_len(v))
    return json_object_get(v);
  const char *open = strstr(s, "{{");
  /* Exactly one reference: the value itself, with its type. */
  if (wfc__flow_whole_ref(v, path, sizeof path)) {
    json_object *r = wfc__flow_resolve(ctx, path, why, sizeof why);
    if (r == NULL) {
      snprintf(err, len, "%s: {{%s}} does not resolve: %s", where, path, why);
      return NULL;
    }
    json_object *copy = NULL;
    json_object_deep_copy(r, &copy, NULL);
    return copy;
  }
  if (open == NULL)
    return json_object_get(v);
  /* References inside a text: their text. */
  size_t cap = slen + 256, n = 0;
  char *out = malloc(cap);
  const char *p = s;
  while (out != NULL && (open = strstr(p, "{{")) != NULL) {
    const char *close = strstr(open + 2, "}}");
    if (close == NULL)
      break;
    wfc__flow_ref_path(open + 2, (size_t)(close - open - 2), path, sizeof path);
    json_object *r = wfc__flow_resolve(ctx, path, why, sizeof why);
    if (r == NULL) {
      snprintf(err, len, "%s: {{%s}} does not resolve: %s", where, path, why);
      free(out);
      return NULL;
    }
    /* By length: a NUL in the value stays, and validation refuses it. */
    size_t tlen;
    const char *t;
    if (json_object_is_type(r, json_type_string)) {
      t = json_object_get_string(r);
      tlen = (size_t)json_object_get_string_len(r);
    } else {
      t = json_object_to_json_string_length(r, JSON_C_TO_STRING_PLAIN, &tlen);
    }
    size_t need = n + (size_t)(open - p) + tlen + strlen(close) + 1;
    if (need > cap) {
      char *bigger = realloc(out, cap = need * 2);
      if (bigger == NULL) {
        free(out);
        out = NULL;
        break;
      }
      out = bigger;
    }
    memcpy(out + n, p, (size_t)(open - p));
    n += (size_t)(open - p);
    memcpy(out + n, t, tlen);
    n += tlen;
    p = close + 2;
  }
  if (out == NULL) {
    snprintf(err, len, "%s: out of memory", where);
    return NULL;
  }
  snprintf(out + n, cap - n, "%s", p);
  json_object *r = json_object_new_string_len(out, (int)(n + strlen(p)));
  free(out);
  return r;
}
