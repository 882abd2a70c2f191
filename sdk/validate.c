/* validate.c - schema checks for card inputs and connection parameters. */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include "validate.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <json-c/json.h>

#include "json.h"

/* Path of the value being checked, grown and shrunk as we descend. */
typedef struct vctx {
  char path[512];
  size_t plen;
  char *err;
  size_t errlen;
  int depth;
  int check_only; /* wfc__validate_check: no normalised copy is built */
} vctx;

static void ctx_init(vctx *c, const char *root, char *err, size_t errlen) {
  c->plen = 0;
  c->path[0] = '\0';
  c->err = err;
  c->errlen = errlen;
  c->depth = 0;
  c->check_only = 0;
  if (err != NULL && errlen > 0)
    err[0] = '\0';
  c->plen = strnlen(root, sizeof c->path - 1); /* cut as snprintf did */
  memcpy(c->path, root, c->plen);
  c->path[c->plen] = '\0';
}

/* Appends to the path without printf: the hot paths append a key or an
 * index for every field of every call (and every output field when
 * outputs are checked), and every field of every card table at each
 * plugin load; vsnprintf cost more than the checks themselves. Cuts at
 * the path's size. */
static size_t path_putn(vctx *c, const char *s, size_t n) {
  size_t saved = c->plen;
  size_t room = sizeof c->path - c->plen - 1;

  if (n > room)
    n = room;
  memcpy(c->path + c->plen, s, n);
  c->plen += n;
  c->path[c->plen] = '\0';
  return saved;
}

static size_t path_index(vctx *c, size_t i) {
  char buf[24];
  size_t o = sizeof buf;

  buf[--o] = ']';
  do {
    buf[--o] = (char)('0' + i % 10);
    i /= 10;
  } while (i != 0);
  buf[--o] = '[';
  return path_putn(c, buf + o, sizeof buf - o);
}

static void path_pop(vctx *c, size_t saved) {
  c->plen = saved;
  c->path[saved] = '\0';
}

static bool is_ident(const char *s) {
  if (s == NULL ||
      !((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') || *s == '_'))
    return false;
  for (s++; *s; s++)
    if (!((*s >= 'A' && *s <= 'Z') || (*s >= 'a' && *s <= 'z') ||
          (*s >= '0' && *s <= '9') || *s == '_'))
      return false;
  return true;
}

/* A key as it may appear in a message: printable ASCII, quotes and
 * backslashes escaped, at most 64 bytes. */
static void safe_key(char *dst, size_t dstlen, const char *key) {
  size_t o = 0;

  for (size_t i = 0; key[i] != '\0' && o + 4 < dstlen; i++) {
    unsigned char ch = (unsigned char)key[i];
    if (i == 64) {
      memcpy(dst + o, "...", 3);
      o += 3;
      break;
    }
    if (ch == '"' || ch == '\\')
      dst[o++] = '\\';
    dst[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
  }
  dst[o] = '\0';
}

/* A field name of a schema: wfc__schema_check() made sure it is an
 * identifier. */
static size_t push_name(vctx *c, const char *name) {
  size_t saved = path_putn(c, ".", 1);

  path_putn(c, name, strlen(name));
  return saved;
}

/* A free key (MAP, ANY): .key or ["k?y"], as the parser writes it. */
static size_t push_key(vctx *c, const char *key, size_t len) {
  char part[2 * WFC_JSON_KEY_SHOWN + 16];

  return path_putn(c, part, wfc__json_path_key(part, sizeof part, key, len));
}

static __attribute__((format(printf, 2, 3))) int fail(vctx *c, const char *fmt,
                                                      ...) {
  va_list ap;
  size_t n;

  if (c->err == NULL || c->errlen == 0)
    return WFC_EVALIDATION;
  snprintf(c->err, c->errlen, "%s: ", c->path);
  n = strlen(c->err);
  va_start(ap, fmt);
  vsnprintf(c->err + n, c->errlen - n, fmt, ap);
  va_end(ap);
  return WFC_EVALIDATION;
}

/* ---- formats ------------------------------------------------------------ */

static bool is_atext(unsigned char ch) {
  return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
         (ch >= '0' && ch <= '9') || ch >= 0x80 ||
         strchr("!#$%&'*+/=?^_`{|}~-", ch) != NULL;
}

int wfc__is_email(const char *s) {
  const char *at, *d;
  size_t len, llen, lab = 0;

  if (s == NULL)
    return 0;
  len = strlen(s);
  at = strchr(s, '@');
  if (len > 254 || at == NULL || strchr(at + 1, '@') != NULL)
    return 0;
  llen = (size_t)(at - s);
  if (llen == 0 || llen > 64 || s[0] == '.' || at[-1] == '.')
    return 0;
  for (const char *p = s; p < at; p++) {
    if (*p == '.') {
      if (p[1] == '.')
        return 0;
    } else if (!is_atext((unsigned char)*p)) {
      return 0;
    }
  }
  d = at + 1;
  if (*d == '\0' || strlen(d) > 253)
    return 0;
  for (const char *p = d;; p++) {
    unsigned char ch = (unsigned char)*p;
    if (ch == '.' || ch == '\0') {
      if (lab == 0 || lab > 63 || p[-1] == '-')
        return 0;
      if (ch == '\0')
        return 1;
      lab = 0;
      continue;
    }
    if (lab == 0 && ch == '-')
      return 0;
    if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
          (ch >= '0' && ch <= '9') || ch == '-' || ch >= 0x80))
      return 0;
    lab++;
  }
}

static bool digits(const char *s, int n, int *out) {
  int v = 0;

  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return false;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return true;
}

int wfc__is_datetime(const char *s) {
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, mo, d, h, mi, se, oh, om;
  bool leap;

  if (s == NULL || strlen(s) < 20)
    return 0;
  if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
      s[7] != '-' || !digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') ||
      !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
      s[16] != ':' || !digits(s + 17, 2, &se))
    return 0;
  leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
      (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || se > 60)
    return 0;
  s += 19;
  if (*s == '.') {
    s++;
    if (*s < '0' || *s > '9')
      return 0;
    while (*s >= '0' && *s <= '9')
      s++;
  }
  if ((s[0] == 'Z' || s[0] == 'z') && s[1] == '\0')
    return 1;
  if ((s[0] != '+' && s[0] != '-') || !digits(s + 1, 2, &oh) || s[3] != ':' ||
      !digits(s + 4, 2, &om) || s[6] != '\0')
    return 0;
  return oh <= 23 && om <= 59;
}

/* ---- validation --------------------------------------------------------- */

static const char *expected_name(wfc_type t) {
  switch (t) {
  case WFC_TYPE_STRING:
    return "a string";
  case WFC_TYPE_INTEGER:
    return "an integer";
  case WFC_TYPE_NUMBER:
    return "a number";
  case WFC_TYPE_BOOLEAN:
    return "a boolean";
  case WFC_TYPE_OBJECT:
  case WFC_TYPE_MAP:
    return "an object";
  case WFC_TYPE_LIST:
    return "a list";
  case WFC_TYPE_EMAIL:
    return "an email address";
  case WFC_TYPE_DATETIME:
    return "an RFC 3339 date-time";
  case WFC_TYPE_FILE:
    return "a file reference";
  case WFC_TYPE_ANY:
    return "a value";
  }
  return "a value";
}

static int wrong_type(vctx *c, const wfc_field *f, struct json_object *v) {
  return fail(c, "expected %s, got %s", expected_name(f->type),
              wfc__json_type_name(v));
}

static bool has_bounds(const wfc_field *f) {
  return f->min != 0 || f->max != 0;
}

static int check_enum(vctx *c, const wfc_field *f, const char *s) {
  char list[400];
  size_t o = 0;

  if (f->enum_values == NULL)
    return 0;
  for (const char *const *e = f->enum_values; *e != NULL; e++)
    if (strcmp(*e, s) == 0)
      return 0;
  list[0] = '\0';
  for (const char *const *e = f->enum_values; *e != NULL && o < sizeof list;
       e++) {
    int n = snprintf(list + o, sizeof list - o, "%s%s",
                     e == f->enum_values ? "" : ", ", *e);
    if (n < 0)
      break;
    o += (size_t)n;
  }
  return fail(c, "must be one of %s", list);
}

/* ---- text --------------------------------------------------------------- */

/* Strings must be text (json.h): no invalid UTF-8 and no NUL, in card
 * inputs and connection params at any depth, keys included, whether they
 * came from JSON text or were built by a host in C (json-c keeps a string's
 * length, so "a\0b" built with json_object_new_string_len reaches here
 * whole, and code reading it as a C string would see "a"). */
static int text_fail(vctx *c, int problem, size_t at) {
  return fail(c, "%s at byte %zu", wfc__json_text_why(problem), at);
}

static int check_string(vctx *c, struct json_object *v) {
  size_t at = 0;
  int problem = wfc__json_text_check(
      json_object_get_string(v), (size_t)json_object_get_string_len(v), &at);

  return problem != 0 ? text_fail(c, problem, at) : 0;
}

/* The path already ends with the key's component. */
static int check_key(vctx *c, const char *key) {
  size_t at = 0;
  int problem = wfc__json_text_check(key, strlen(key), &at);

  if (problem == 0)
    return 0;
  path_putn(c, " (the key)", 10);
  return text_fail(c, problem, at);
}

/* Every string and key of v (an ANY or FILE value, which the schema does
 * not describe further). Bounded like the parser's nesting, twice over
 * for values a host built deeper. */
static int check_tree(vctx *c, struct json_object *v, int depth) {
  int rc = 0;

  switch (json_object_get_type(v)) {
  case json_type_string:
    return check_string(c, v);
  case json_type_object:
  case json_type_array:
    if (c->depth + depth >= 2 * WFC_VALIDATE_MAX_DEPTH)
      return fail(c, "nested too deeply");
    break;
  default:
    return 0;
  }
  if (json_object_is_type(v, json_type_array)) {
    size_t n = json_object_array_length(v);
    for (size_t i = 0; i < n && rc == 0; i++) {
      size_t saved = path_index(c, i);
      rc = check_tree(c, json_object_array_get_idx(v, i), depth + 1);
      path_pop(c, saved);
    }
    return rc;
  }
  json_object_object_foreach(v, key, iv) {
    size_t saved = push_key(c, key, strlen(key));
    rc = check_key(c, key);
    if (rc == 0)
      rc = check_tree(c, iv, depth + 1);
    path_pop(c, saved);
    if (rc != 0)
      return rc;
  }
  return 0;
}

static int validate_value(vctx *c, const wfc_field *f, struct json_object *v,
                          struct json_object **out);

/* The value of a default_json for a call. Defaults are constants that
 * wfc__schema_check() parsed at registration, and almost all are a
 * boolean, a small integer or a plain ASCII string: those are built
 * directly instead of running the tokenizer for each absent field on every
 * call. Anything else (escapes, non-ASCII, fractions, objects...) goes
 * through the parser as before. Returns 1 when built (*out, transfer; NULL
 * only on allocation failure), 0 to fall back. */
static int default_fast(const char *t, struct json_object **out) {
  size_t n = strlen(t);

  if ((t[0] == 't' && strcmp(t, "true") == 0) ||
      (t[0] == 'f' && strcmp(t, "false") == 0)) {
    *out = json_object_new_boolean(t[0] == 't');
    return 1;
  }
  if (n >= 2 && t[0] == '"' && t[n - 1] == '"') {
    for (size_t i = 1; i + 1 < n; i++) {
      unsigned char ch = (unsigned char)t[i];
      if (ch < 0x20 || ch >= 0x80 || ch == '"' || ch == '\\')
        return 0;
    }
    *out = json_object_new_string_len(t + 1, (int)(n - 2));
    return 1;
  }
  {
    const char *d = t[0] == '-' ? t + 1 : t;
    size_t nd = strlen(d);
    int64_t v = 0;

    /* At most 18 digits: no overflow; no leading zero (not JSON), no
     * "-0" (left to the parser). */
    if (nd == 0 || nd > 18 || (d[0] == '0' && (nd > 1 || d != t)))
      return 0;
    for (size_t i = 0; i < nd; i++) {
      if (d[i] < '0' || d[i] > '9')
        return 0;
      v = v * 10 + (d[i] - '0');
    }
    *out = json_object_new_int64(t[0] == '-' ? -v : v);
    return 1;
  }
}

/* ---- "did you mean" for an unknown field --------------------------------
 *
 * Generic, from the schema alone: the field whose name is closest to the
 * key (optimal string alignment distance, case-insensitive) when close
 * enough to be a slip (1 edit for names of up to 4 characters, 2 above),
 * else the field whose description uses the key as a word (a schema that
 * says "The body of your answer" for "comment" gets `body` -> `comment`).
 */

static int lower(int ch) {
  return ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
}

/* Distance between a and b, or 99 when either is longer than 64. */
static int name_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  int d[65][65];

  if (la > 64 || lb > 64)
    return 99;
  for (size_t i = 0; i <= la; i++)
    d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++)
    d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++)
    for (size_t j = 1; j <= lb; j++) {
      int cost =
          lower((unsigned char)a[i - 1]) != lower((unsigned char)b[j - 1]);
      int v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v)
        v = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < v)
        v = d[i - 1][j - 1] + cost;
      if (i > 1 && j > 1 &&
          lower((unsigned char)a[i - 1]) == lower((unsigned char)b[j - 2]) &&
          lower((unsigned char)a[i - 2]) == lower((unsigned char)b[j - 1]) &&
          d[i - 2][j - 2] + 1 < v)
        v = d[i - 2][j - 2] + 1;
      d[i][j] = v;
    }
  return d[la][lb];
}

static bool is_word_char(int ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
         (ch >= '0' && ch <= '9') || ch == '_';
}

/* 1 when text holds word (case-insensitive) with no letter either side. */
static bool has_word(const char *text, const char *word) {
  size_t n = strlen(word);

  if (text == NULL || n < 3)
    return false;
  for (const char *p = text; *p != '\0'; p++) {
    size_t i = 0;
    while (i < n && p[i] != '\0' &&
           lower((unsigned char)p[i]) == lower((unsigned char)word[i]))
      i++;
    if (i == n && (p == text || !is_word_char((unsigned char)p[-1])) &&
        !is_word_char((unsigned char)p[n]))
      return true;
  }
  return false;
}

static const char *suggest_field(const wfc_field *fields, const char *key) {
  const wfc_field *best = NULL;
  int best_d = 99, limit = strlen(key) <= 4 ? 1 : 2;

  for (const wfc_field *f = fields; f != NULL && f->name != NULL; f++) {
    int d = name_distance(key, f->name);
    if (d < best_d)
      best_d = d, best = f;
  }
  if (best != NULL && best_d <= limit)
    return best->name;
  for (const wfc_field *f = fields; f != NULL && f->name != NULL; f++)
    if (has_word(f->description, key))
      return f->name;
  return NULL;
}

/* "a, b, c" of the schema's field names (cut with "..." when long). */
static void field_names(const wfc_field *fields, char *buf, size_t len) {
  size_t o = 0;

  buf[0] = '\0';
  for (const wfc_field *f = fields; f != NULL && f->name != NULL; f++) {
    int n = snprintf(buf + o, len - o, "%s%s", o ? ", " : "", f->name);
    if (n < 0 || (size_t)n >= len - o) {
      memcpy(buf + (o + 5 <= len ? o : len - 5), " ...", 5); /* len > 5 */
      return;
    }
    o += (size_t)n;
  }
}

/* A default built by default_fast() whose field's checks keep it as it is
 * (a boolean for BOOLEAN; an integer for INTEGER or NUMBER; a plain ASCII
 * string for STRING; any of them for ANY): wfc__schema_check() ran those
 * checks on this very value at registration, so validate_value() would
 * only hand it back. */
static bool default_as_is(const wfc_field *f, struct json_object *def) {
  switch (f->type) {
  case WFC_TYPE_BOOLEAN:
    return json_object_is_type(def, json_type_boolean);
  case WFC_TYPE_INTEGER:
  case WFC_TYPE_NUMBER:
    return json_object_is_type(def, json_type_int);
  case WFC_TYPE_STRING:
    return json_object_is_type(def, json_type_string);
  case WFC_TYPE_ANY:
    return true;
  default:
    return false;
  }
}

/* Tables of up to this many fields get their values from the pass over
 * the object's keys (validate_fields); larger ones look each one up. */
#define FIELDS_DIRECT 64

static int validate_fields(vctx *c, const wfc_field *fields,
                           struct json_object *obj, struct json_object **out) {
  struct json_object_iterator it, end;
  struct json_object *res;
  struct json_object *vals[FIELDS_DIRECT];
  bool seen[FIELDS_DIRECT];
  size_t nf = 0;
  bool direct;
  int rc;

  if (c->depth >= WFC_VALIDATE_MAX_DEPTH)
    return fail(c, "nested too deeply");
  while (fields != NULL && fields[nf].name != NULL)
    nf++;
  direct = nf <= FIELDS_DIRECT;
  if (direct)
    memset(seen, 0, nf * sizeof *seen);
  /* Unknown keys first: a misspelt name is better reported as such than
   * as the required field it was meant to be. The pass matches every key
   * with its field: it keeps the value for the fields' pass below. */
  it = json_object_iter_begin(obj);
  end = json_object_iter_end(obj);
  for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
    const char *key = json_object_iter_peek_name(&it);
    const wfc_field *f = fields;
    char safe[80];

    while (f != NULL && f->name != NULL && strcmp(f->name, key) != 0)
      f++;
    if (f == NULL || f->name == NULL) {
      const char *hint = suggest_field(fields, key);
      char names[300];
      safe_key(safe, sizeof safe, key);
      if (hint != NULL)
        return fail(c, "unknown field \"%s\": did you mean \"%s\"?", safe,
                    hint);
      field_names(fields, names, sizeof names);
      return fail(c, "unknown field \"%s\" (the fields are: %s)", safe,
                  names[0] ? names : "none");
    }
    if (direct) {
      seen[f - fields] = true;
      vals[f - fields] = json_object_iter_peek_value(&it);
    }
  }

  res = NULL;
  if (!c->check_only && (res = json_object_new_object()) == NULL)
    return WFC_ENOMEM;
  c->depth++;
  for (size_t i = 0; i < nf; i++) {
    const wfc_field *f = &fields[i];
    struct json_object *v = NULL, *vout = NULL, *def = NULL;
    size_t saved = push_name(c, f->name);
    bool present =
        direct ? seen[i] : json_object_object_get_ex(obj, f->name, &v);

    if (present) {
      if (direct)
        v = vals[i];
      rc = validate_value(c, f, v, &vout);
    } else if (f->flags & WFC_FIELD_REQUIRED) {
      rc = fail(c, "required field missing");
    } else if (f->default_json != NULL && !c->check_only) {
      /* (A check only skips defaults: wfc__schema_check() validated them
       * at registration.) */
      char jerr[160];
      if (default_fast(f->default_json, &def)) {
        if (def == NULL) {
          rc = WFC_ENOMEM;
        } else if (default_as_is(f, def)) {
          vout = def; /* transfer */
          def = NULL;
          rc = 0;
        } else {
          rc = validate_value(c, f, def, &vout);
        }
      } else if ((rc = wfc__json_parse(f->default_json, strlen(f->default_json),
                                       0, &def, jerr, sizeof jerr)) != 0)
        rc = fail(c, "invalid default: %s", jerr);
      else
        rc = validate_value(c, f, def, &vout);
      json_object_put(def);
    } else {
      path_pop(c, saved);
      continue;
    }
    path_pop(c, saved);
    if (rc != 0) {
      c->depth--;
      json_object_put(res);
      return rc;
    }
    /* Names are unique per table (wfc__schema_check): no lookup first. */
    if (res != NULL)
      json_object_object_add_ex(res, f->name, vout,
                                JSON_C_OBJECT_ADD_KEY_IS_NEW);
  }
  c->depth--;
  *out = res;
  return 0;
}

static int validate_list(vctx *c, const wfc_field *f, struct json_object *v,
                         struct json_object **out) {
  size_t n = json_object_array_length(v);
  struct json_object *res;

  if (has_bounds(f) && (int64_t)n < f->min)
    return fail(c, "must have at least %lld item%s", (long long)f->min,
                f->min == 1 ? "" : "s");
  if (f->max > 0 && (int64_t)n > f->max)
    return fail(c, "must have at most %lld item%s", (long long)f->max,
                f->max == 1 ? "" : "s");
  if (c->depth >= WFC_VALIDATE_MAX_DEPTH)
    return fail(c, "nested too deeply");
  res = NULL;
  if (!c->check_only && (res = json_object_new_array_ext((int)n)) == NULL)
    return WFC_ENOMEM;
  c->depth++;
  for (size_t i = 0; i < n; i++) {
    struct json_object *iv = NULL;
    size_t saved = path_index(c, i);
    int rc = validate_value(c, f->items, json_object_array_get_idx(v, i), &iv);

    path_pop(c, saved);
    if (rc != 0) {
      c->depth--;
      json_object_put(res);
      return rc;
    }
    if (res != NULL)
      json_object_array_add(res, iv);
  }
  c->depth--;
  *out = res;
  return 0;
}

static int validate_map(vctx *c, const wfc_field *f, struct json_object *v,
                        struct json_object **out) {
  struct json_object_iterator it, end;
  struct json_object *res;

  if (c->depth >= WFC_VALIDATE_MAX_DEPTH)
    return fail(c, "nested too deeply");
  res = NULL;
  if (!c->check_only && (res = json_object_new_object()) == NULL)
    return WFC_ENOMEM;
  c->depth++;
  it = json_object_iter_begin(v);
  end = json_object_iter_end(v);
  for (; !json_object_iter_equal(&it, &end); json_object_iter_next(&it)) {
    const char *key = json_object_iter_peek_name(&it);
    struct json_object *iv = json_object_iter_peek_value(&it), *ov = NULL;
    size_t saved = push_key(c, key, strlen(key));
    int rc = c->check_only ? 0 : check_key(c, key);

    if (rc == 0 && f->items != NULL)
      rc = validate_value(c, f->items, iv, &ov);
    else if (rc == 0 && !c->check_only)
      ov = json_object_get(iv);
    path_pop(c, saved);
    if (rc != 0) {
      c->depth--;
      json_object_put(res);
      return rc;
    }
    if (res != NULL)
      json_object_object_add(res, key, ov);
  }
  c->depth--;
  *out = res;
  return 0;
}

static size_t utf8_chars(const char *s) {
  size_t n = 0;

  for (; *s; s++)
    if (((unsigned char)*s & 0xC0) != 0x80)
      n++;
  return n;
}

static int validate_value(vctx *c, const wfc_field *f, struct json_object *v,
                          struct json_object **out) {
  int64_t n;
  int rc;

  *out = NULL;
  /* json-c represents JSON null as a NULL object. */
  if (v == NULL) {
    if ((f->flags & WFC_FIELD_NULLABLE) || f->type == WFC_TYPE_ANY)
      return 0;
    return wrong_type(c, f, v);
  }

  /* Text first: the checks below read strings as C strings. Outputs
   * (check_only) are passed on as they are. */
  if (!c->check_only) {
    if (f->type == WFC_TYPE_ANY || f->type == WFC_TYPE_FILE)
      rc = check_tree(c, v, 0);
    else if (json_object_is_type(v, json_type_string))
      rc = check_string(c, v);
    else
      rc = 0;
    if (rc != 0)
      return rc;
  }

  switch (f->type) {
  case WFC_TYPE_STRING: {
    size_t len = 0;
    if (!json_object_is_type(v, json_type_string))
      return wrong_type(c, f, v);
    /* Counted only when bounded: ids and bodies are long. */
    if (has_bounds(f))
      len = utf8_chars(json_object_get_string(v));
    if (has_bounds(f) && (int64_t)len < f->min)
      return fail(c, "must be at least %lld character%s long",
                  (long long)f->min, f->min == 1 ? "" : "s");
    if (f->max > 0 && (int64_t)len > f->max)
      return fail(c, "must be at most %lld character%s long", (long long)f->max,
                  f->max == 1 ? "" : "s");
    rc = check_enum(c, f, json_object_get_string(v));
    if (rc != 0)
      return rc;
    break;
  }
  case WFC_TYPE_INTEGER:
    rc = wfc__json_to_int64(v, &n);
    if (rc == WFC_ETOOBIG)
      return fail(c, "integer out of range");
    if (rc != 0 && json_object_is_type(v, json_type_string))
      return fail(c, "expected an integer, got a non-numeric string");
    if (rc != 0)
      return wrong_type(c, f, v);
    if (has_bounds(f) && n < f->min)
      return fail(c, "must be at least %lld", (long long)f->min);
    if (f->max != 0 && n > f->max)
      return fail(c, "must be at most %lld", (long long)f->max);
    if (json_object_is_type(v, json_type_string) && !c->check_only) {
      *out = json_object_new_int64(n);
      return *out != NULL ? 0 : WFC_ENOMEM;
    }
    break;
  case WFC_TYPE_NUMBER:
    if (!json_object_is_type(v, json_type_int) &&
        !json_object_is_type(v, json_type_double))
      return wrong_type(c, f, v);
    break;
  case WFC_TYPE_BOOLEAN:
    if (!json_object_is_type(v, json_type_boolean))
      return wrong_type(c, f, v);
    break;
  case WFC_TYPE_OBJECT:
    if (!json_object_is_type(v, json_type_object))
      return wrong_type(c, f, v);
    return validate_fields(c, f->fields, v, out);
  case WFC_TYPE_LIST:
    if (!json_object_is_type(v, json_type_array))
      return wrong_type(c, f, v);
    return validate_list(c, f, v, out);
  case WFC_TYPE_MAP:
    if (!json_object_is_type(v, json_type_object))
      return wrong_type(c, f, v);
    return validate_map(c, f, v, out);
  case WFC_TYPE_EMAIL:
    if (!json_object_is_type(v, json_type_string))
      return wrong_type(c, f, v);
    if (!wfc__is_email(json_object_get_string(v)))
      return fail(c, "expected an email address");
    break;
  case WFC_TYPE_DATETIME:
    if (!json_object_is_type(v, json_type_string))
      return wrong_type(c, f, v);
    if (!wfc__is_datetime(json_object_get_string(v)))
      return fail(c, "expected an RFC 3339 date-time, e.g. "
                     "2024-05-01T09:30:00Z");
    break;
  case WFC_TYPE_FILE: {
    const char *id;
    /* A bare blob id is the usual slip: say the shape, with it. */
    if (json_object_is_type(v, json_type_string)) {
      char safe[80];
      safe_key(safe, sizeof safe, json_object_get_string(v));
      return fail(c,
                  "expected a file reference, an object like {\"id\": "
                  "\"%s\"} (the blob store's reference), got a string",
                  safe);
    }
    if (!json_object_is_type(v, json_type_object))
      return wrong_type(c, f, v);
    id = wfc__json_str(v, "id");
    if (id == NULL || id[0] == '\0')
      return fail(c, "expected a file reference with a string \"id\"");
    break;
  }
  case WFC_TYPE_ANY:
    break;
  default:
    return fail(c, "field has an unknown type %d", (int)f->type);
  }
  *out = c->check_only ? NULL : json_object_get(v);
  return 0;
}

static int validate_root(vctx *c, const wfc_field *schema,
                         struct json_object *input, struct json_object **out) {
  struct json_object *empty = NULL;
  int rc;

  *out = NULL;
  if (input == NULL) {
    empty = json_object_new_object();
    if (empty == NULL)
      return WFC_ENOMEM;
    input = empty;
  }
  if (!json_object_is_type(input, json_type_object))
    rc = fail(c, "expected an object, got %s", wfc__json_type_name(input));
  else
    rc = validate_fields(c, schema, input, out);
  json_object_put(empty);
  return rc;
}

int wfc__validate_at(const wfc_field *schema, struct json_object *input,
                     const char *root, struct json_object **out, char *err,
                     size_t errlen) {
  vctx c;

  ctx_init(&c, root != NULL ? root : "input", err, errlen);
  return validate_root(&c, schema, input, out);
}

int wfc__validate_check(const wfc_field *schema, struct json_object *v,
                        const char *root, char *err, size_t errlen) {
  struct json_object *out = NULL;
  vctx c;
  int rc;

  ctx_init(&c, root != NULL ? root : "input", err, errlen);
  c.check_only = 1;
  rc = validate_root(&c, schema, v, &out);
  json_object_put(out); /* NULL: nothing is built */
  return rc;
}

int wfc__validate(const wfc_field *schema, struct json_object *input,
                  struct json_object **out, char *err, size_t errlen) {
  return wfc__validate_at(schema, input, "input", out, err, errlen);
}

/* ---- schema checks ------------------------------------------------------ */

static int bad(vctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int bad(vctx *c, const char *fmt, ...) {
  va_list ap;
  size_t n;

  if (c->err != NULL && c->errlen > 0) {
    snprintf(c->err, c->errlen, "%s: ", c->path);
    n = strlen(c->err);
    va_start(ap, fmt);
    vsnprintf(c->err + n, c->errlen - n, fmt, ap);
    va_end(ap);
  }
  return WFC_EREGISTER;
}

static int check_table(vctx *c, const wfc_field *fields);

static const uint32_t known_flags = WFC_FIELD_REQUIRED | WFC_FIELD_SECRET |
                                    WFC_FIELD_STREAM | WFC_FIELD_NULLABLE;

static int check_field(vctx *c, const wfc_field *f) {
  int rc;

  if (c->depth >= WFC_VALIDATE_MAX_DEPTH)
    return bad(c, "schema nested too deeply");
  if (f->type < WFC_TYPE_STRING || f->type > WFC_TYPE_MAP)
    return bad(c, "unknown type %d", (int)f->type);
  if (f->flags & ~known_flags)
    return bad(c, "unknown flags 0x%x", (unsigned)(f->flags & ~known_flags));
  if (f->reserved[0] != NULL || f->reserved[1] != NULL)
    return bad(c, "reserved members must be zero");
  if (f->enum_values != NULL && f->type != WFC_TYPE_STRING)
    return bad(c, "enum_values only apply to STRING");
  if (f->enum_values != NULL && f->enum_values[0] == NULL)
    return bad(c, "enum_values is empty");
  if (f->type == WFC_TYPE_OBJECT && f->fields == NULL)
    return bad(c, "OBJECT needs .fields");
  if (f->type != WFC_TYPE_OBJECT && f->fields != NULL)
    return bad(c, ".fields only apply to OBJECT");
  if (f->type == WFC_TYPE_LIST && f->items == NULL)
    return bad(c, "LIST needs .items");
  if (f->type != WFC_TYPE_LIST && f->type != WFC_TYPE_MAP && f->items != NULL)
    return bad(c, ".items only apply to LIST and MAP");
  if (f->min != 0 || f->max != 0) {
    if (f->type != WFC_TYPE_STRING && f->type != WFC_TYPE_INTEGER &&
        f->type != WFC_TYPE_LIST)
      return bad(c, "min/max only apply to STRING, INTEGER and LIST");
    if (f->type != WFC_TYPE_INTEGER && (f->min < 0 || f->max < 0))
      return bad(c, "min/max must not be negative");
    if (f->max != 0 && f->min > f->max)
      return bad(c, "min is greater than max");
  }
  if (f->default_json != NULL) {
    struct json_object *def = NULL, *out = NULL;
    char jerr[200], verr[300];
    vctx dc;

    if (f->flags & WFC_FIELD_REQUIRED)
      return bad(c, "a REQUIRED field cannot have a default");
    /* The literals default_fast() takes are the ones a call builds with
     * it; only the rest needs the parser (about 10,000 instructions each,
     * for every default of every card at every plugin load). */
    if (default_fast(f->default_json, &def)) {
      if (def == NULL)
        return bad(c, "default_json: out of memory");
    } else if (wfc__json_parse(f->default_json, strlen(f->default_json), 0,
                               &def, jerr, sizeof jerr) != 0)
      return bad(c, "default_json: %s", jerr);
    ctx_init(&dc, "default", verr, sizeof verr);
    rc = validate_value(&dc, f, def, &out);
    json_object_put(def);
    json_object_put(out);
    if (rc != 0)
      return bad(c, "%s", verr);
  }
  c->depth++;
  rc = 0;
  if (f->type == WFC_TYPE_OBJECT) {
    rc = check_table(c, f->fields);
  } else if (f->items != NULL) {
    size_t saved = path_putn(c, "[]", 2);
    rc = check_field(c, f->items);
    path_pop(c, saved);
  }
  c->depth--;
  return rc;
}

static int check_table(vctx *c, const wfc_field *fields) {
  for (size_t i = 0; fields[i].name != NULL; i++) {
    const wfc_field *f = &fields[i];
    size_t saved;
    int rc;

    if (!is_ident(f->name)) {
      char safe[80];
      safe_key(safe, sizeof safe, f->name);
      return bad(c, "field name \"%s\" is not an identifier", safe);
    }
    for (size_t j = 0; j < i; j++)
      if (strcmp(fields[j].name, f->name) == 0)
        return bad(c, "duplicate field \"%s\"", f->name);
    saved = push_name(c, f->name); /* an identifier, checked above */
    rc = check_field(c, f);
    path_pop(c, saved);
    if (rc != 0)
      return rc;
  }
  return 0;
}

int wfc__schema_check(const wfc_field *schema, char *err, size_t errlen) {
  vctx c;

  ctx_init(&c, "schema", err, errlen);
  if (schema == NULL)
    return 0;
  return check_table(&c, schema);
}
