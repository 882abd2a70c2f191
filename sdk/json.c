/* json.c - strict, bounded JSON parsing and typed lookups over json-c. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "crypto.h"
#include "secmem.h"
#include "wfc/error.h"

struct wfc__json_stream {
  struct json_tokener *tok;
  struct json_object *value; /* complete value, once seen; owned */
  size_t fed;                /* bytes accepted from the caller */
  size_t pos;                /* bytes handed to the tokener */
  size_t max;
  int error;                 /* sticky: 0 or a WFC_E* code */
  unsigned char in_str, esc; /* lexical state of our own pre-scan */
  unsigned char num;         /* number state of the pre-scan (NUM_*) */
  unsigned char carry_len;   /* incomplete UTF-8 sequence held back */
  char carry[4];
  char msg[160]; /* why, when error != 0 */
};

static void set_err(char *err, size_t errlen, const char *msg) {
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s", msg);
}

static int stream_fail(wfc__json_stream *s, int code, size_t at,
                       const char *why) {
  s->error = code;
  if (code == WFC_ETOOBIG)
    snprintf(s->msg, sizeof s->msg, "JSON text larger than %zu bytes", s->max);
  else
    snprintf(s->msg, sizeof s->msg, "malformed JSON at byte %zu: %s", at, why);
  return code;
}

wfc__json_stream *wfc__json_stream_new(size_t max_bytes) {
  wfc__json_stream *s = calloc(1, sizeof *s);

  if (s == NULL)
    return NULL;
  s->tok = json_tokener_new_ex(WFC_JSON_MAX_DEPTH);
  if (s->tok == NULL) {
    free(s);
    return NULL;
  }
  /* Trailing bytes are checked here (check_trailing), the same way
   * whether they arrive with the value or in a later chunk. */
  json_tokener_set_flags(s->tok, JSON_TOKENER_STRICT |
                                     JSON_TOKENER_VALIDATE_UTF8 |
                                     JSON_TOKENER_ALLOW_TRAILING_CHARS);
  s->max = max_bytes != 0 ? max_bytes : WFC_JSON_DEFAULT_MAX;
  return s;
}

void wfc__json_stream_free(wfc__json_stream *s) {
  if (s == NULL)
    return;
  json_tokener_free(s->tok);
  json_object_put(s->value);
  free(s);
}

size_t wfc__json_stream_bytes(const wfc__json_stream *s) {
  return s->fed;
}

static int is_ws(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* After the value is complete only whitespace may follow. */
static int check_trailing(wfc__json_stream *s, const char *p, size_t len,
                          size_t base) {
  for (size_t i = 0; i < len; i++)
    if (!is_ws(p[i]))
      return stream_fail(s, WFC_EJSON, base + i, "trailing data");
  return 0;
}

/* Hands p[0..len) to the tokener; once the value is complete only
 * whitespace may follow. */
static int push(wfc__json_stream *s, const char *p, size_t len) {
  while (len > 0) {
    size_t chunk = len > INT_MAX ? INT_MAX : len, end;
    struct json_object *v;
    enum json_tokener_error jerr;

    if (s->value != NULL) {
      int rc = check_trailing(s, p, len, s->pos);
      if (rc == 0)
        s->pos += len;
      return rc;
    }
    v = json_tokener_parse_ex(s->tok, p, (int)chunk);
    jerr = json_tokener_get_error(s->tok);
    end = json_tokener_get_parse_end(s->tok);
    if (v == NULL && jerr != json_tokener_continue)
      return stream_fail(s, WFC_EJSON, s->pos + end,
                         json_tokener_error_desc(jerr));
    if (v != NULL)
      s->value = v;
    else
      end = chunk; /* all consumed, more needed */
    s->pos += end;
    p += end;
    len -= end;
  }
  return 0;
}

static size_t utf8_seq_len(unsigned char c) {
  return c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
}

/* Bytes at the end of p[0..len) that start a UTF-8 sequence the chunk does
 * not finish. json-c's UTF-8 check fails on a sequence split across
 * chunks, so those bytes wait for the next one. */
static size_t incomplete_tail(const char *p, size_t len) {
  for (size_t k = 1; k <= 3 && k <= len; k++) {
    unsigned char c = (unsigned char)p[len - k];
    if ((c & 0xC0) == 0x80)
      continue;
    if (c >= 0xC0 && c < 0xF8)
      return utf8_seq_len(c) > k ? k : 0;
    return 0;
  }
  return 0;
}

/* JSON number grammar, -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, as
 * states of the pre-scan. */
enum {
  NUM_NONE,
  NUM_MINUS,
  NUM_ZERO,
  NUM_INT,
  NUM_DOT,
  NUM_FRAC,
  NUM_E,
  NUM_ESIGN,
  NUM_EXP
};

static int is_digit(char c) {
  return c >= '0' && c <= '9';
}

/* Next number state after c, or -1 when c is a number character the
 * grammar does not allow here, or NUM_NONE when c ends the number. */
static int num_next(int st, char c) {
  int d = is_digit(c), e = c == 'e' || c == 'E';

  switch (st) {
  case NUM_MINUS:
    if (c == '0')
      return NUM_ZERO;
    if (d)
      return NUM_INT;
    break;
  case NUM_ZERO:
    if (c == '.')
      return NUM_DOT;
    if (e)
      return NUM_E;
    break;
  case NUM_INT:
    if (d)
      return NUM_INT;
    if (c == '.')
      return NUM_DOT;
    if (e)
      return NUM_E;
    break;
  case NUM_DOT:
  case NUM_FRAC:
    if (d)
      return NUM_FRAC;
    if (st == NUM_FRAC && e)
      return NUM_E;
    break;
  case NUM_E:
    if (c == '+' || c == '-')
      return NUM_ESIGN;
    /* fall through */
  case NUM_ESIGN:
  case NUM_EXP:
    if (d)
      return NUM_EXP;
    break;
  }
  return (d || e || c == '.' || c == '+' || c == '-') ? -1 : NUM_NONE;
}

/* What json-c lets through in strict mode but RFC 8259 forbids: raw NUL
 * (json-c reads it as end of input), single-quoted strings, NaN and
 * Infinity, and number characters the grammar does not allow (json-c 0.16
 * accepts "1234-" when a chunk ends inside the number). Outside strings
 * only structural characters, whitespace, numbers and the letters of
 * true/false/null may appear. Returns the index of the first such
 * byte (len if none) and why in *why; the lexical state advances only over
 * the bytes before it. */
static size_t prescan(wfc__json_stream *s, const char *p, size_t len,
                      const char **why) {
  *why = "unexpected character";
  for (size_t i = 0; i < len; i++) {
    char c = p[i];
    if (c == '\0') {
      *why = "NUL byte";
      return i;
    }
    if (s->num != NUM_NONE) {
      int next = num_next(s->num, c);
      if (next < 0)
        return i;
      s->num = (unsigned char)next;
      if (next != NUM_NONE)
        continue;
    }
    if (s->in_str) {
      if (s->esc)
        s->esc = 0;
      else if (c == '\\')
        s->esc = 1;
      else if (c == '"')
        s->in_str = 0;
    } else if (c == '"') {
      s->in_str = 1;
    } else if (c == '-') {
      s->num = NUM_MINUS;
    } else if (c == '0') {
      s->num = NUM_ZERO;
    } else if (is_digit(c)) {
      s->num = NUM_INT;
    } else if (strchr(" \t\r\n{}[],:truefalsn", c) == NULL) {
      return i; /* ' quotes, NaN, Infinity, comments, stray bytes */
    }
  }
  return len;
}

/* Hands p[0..len) to the tokener, holding back (in s->carry) a UTF-8
 * sequence the bytes do not finish. */
static int push_utf8(wfc__json_stream *s, const char *p, size_t len) {
  size_t tail;
  int rc;

  if (s->carry_len > 0) {
    size_t need = utf8_seq_len((unsigned char)s->carry[0]) - s->carry_len;
    size_t take = need < len ? need : len;

    memcpy(s->carry + s->carry_len, p, take);
    s->carry_len += (unsigned char)take;
    p += take;
    len -= take;
    if (take < need)
      return 0;
    rc = push(s, s->carry, s->carry_len);
    s->carry_len = 0;
    if (rc != 0)
      return rc;
  }
  tail = incomplete_tail(p, len);
  rc = push(s, p, len - tail);
  if (rc != 0)
    return rc;
  memcpy(s->carry, p + len - tail, tail);
  s->carry_len = (unsigned char)tail;
  return 0;
}

/* Ends the held-back bytes: they are a cut sequence, and the tokener says
 * what it makes of them. */
static int flush_carry(wfc__json_stream *s) {
  int rc = 0;

  if (s->carry_len > 0)
    rc = push(s, s->carry, s->carry_len);
  s->carry_len = 0;
  return rc;
}

int wfc__json_stream_feed(wfc__json_stream *s, const void *buf, size_t len) {
  const char *p = buf, *why = NULL;
  size_t good;
  int rc;

  if (s->error != 0)
    return s->error;
  if (len > s->max - s->fed)
    return stream_fail(s, WFC_ETOOBIG, s->fed, NULL);
  /* The tokener sees the bytes before a forbidden one first, so the error
   * reported is always the earliest, however the input was cut. */
  good = prescan(s, p, len, &why);
  rc = push_utf8(s, p, good);
  if (rc == 0 && good < len) {
    rc = flush_carry(s);
    if (rc == 0)
      rc = stream_fail(s, WFC_EJSON, s->fed + good, why);
  }
  s->fed += len;
  return rc;
}

int wfc__json_stream_finish(wfc__json_stream *s, struct json_object **out,
                            char *err, size_t errlen) {
  *out = NULL;
  if (s->error == 0)
    flush_carry(s);
  if (s->error == 0 && s->value == NULL) {
    /* A top-level number or literal completes only at end of input, which
     * json-c wants as a final '\0' counted in the length. */
    struct json_object *v = json_tokener_parse_ex(s->tok, "", 1);
    enum json_tokener_error jerr = json_tokener_get_error(s->tok);

    if (v != NULL)
      s->value = v;
    else if (s->fed == 0 || jerr == json_tokener_continue)
      stream_fail(s, WFC_EJSON, s->pos, "unexpected end of input");
    else
      stream_fail(s, WFC_EJSON, s->pos, json_tokener_error_desc(jerr));
  }
  if (s->error != 0) {
    set_err(err, errlen, s->msg);
    return s->error;
  }
  *out = s->value;
  s->value = NULL;
  s->error = WFC_ESTATE; /* finished: no more feeds */
  snprintf(s->msg, sizeof s->msg, "JSON stream already finished");
  return 0;
}

int wfc__json_parse(const char *text, size_t len, size_t max_bytes,
                    struct json_object **out, char *err, size_t errlen) {
  wfc__json_stream *s = wfc__json_stream_new(max_bytes);
  int rc;

  *out = NULL;
  if (s == NULL) {
    set_err(err, errlen, "out of memory");
    return WFC_ENOMEM;
  }
  rc = wfc__json_stream_feed(s, text, len);
  if (rc == 0)
    rc = wfc__json_stream_finish(s, out, err, errlen);
  else
    set_err(err, errlen, s->msg);
  wfc__json_stream_free(s);
  return rc;
}

/* ---- getters ------------------------------------------------------------ */

static struct json_object *member(struct json_object *obj, const char *key) {
  struct json_object *v = NULL;

  if (obj == NULL || !json_object_is_type(obj, json_type_object))
    return NULL;
  if (!json_object_object_get_ex(obj, key, &v))
    return NULL;
  return v; /* NULL for JSON null */
}

const char *wfc__json_str(struct json_object *obj, const char *key) {
  struct json_object *v = member(obj, key);

  if (v == NULL || !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

static int parse_int64_text(const char *s, int64_t *out) {
  char *end;
  long long n;

  /* strtoll would skip spaces and accept "+"; a numeric string here is
   * exactly -?[0-9]+. */
  if (s[0] == '-' ? !(s[1] >= '0' && s[1] <= '9')
                  : !(s[0] >= '0' && s[0] <= '9'))
    return WFC_EINVAL;
  errno = 0;
  n = strtoll(s, &end, 10);
  if (*end != '\0')
    return WFC_EINVAL;
  if (errno == ERANGE)
    return WFC_ETOOBIG;
  if (errno != 0)
    return WFC_EINVAL;
  *out = (int64_t)n;
  return 0;
}

int wfc__json_to_int64(struct json_object *v, int64_t *out) {
  int64_t n;

  if (v == NULL)
    return WFC_ENOTFOUND;
  switch (json_object_get_type(v)) {
  case json_type_int:
    /* json-c keeps integers above INT64_MAX as uint64 and clamps them. */
    errno = 0;
    n = json_object_get_int64(v);
    if (n == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX)
      return WFC_ETOOBIG;
    *out = n;
    return 0;
  case json_type_string:
    return parse_int64_text(json_object_get_string(v), out);
  default:
    return WFC_EINVAL;
  }
}

int wfc__json_int64(struct json_object *obj, const char *key, int64_t *out) {
  return wfc__json_to_int64(member(obj, key), out);
}

int wfc__json_bool(struct json_object *obj, const char *key, bool *out) {
  struct json_object *v = member(obj, key);

  if (v == NULL)
    return WFC_ENOTFOUND;
  if (!json_object_is_type(v, json_type_boolean))
    return WFC_EINVAL;
  *out = json_object_get_boolean(v) != 0;
  return 0;
}

struct json_object *wfc__json_obj(struct json_object *obj, const char *key) {
  struct json_object *v = member(obj, key);

  return v != NULL && json_object_is_type(v, json_type_object) ? v : NULL;
}

struct json_object *wfc__json_arr(struct json_object *obj, const char *key) {
  struct json_object *v = member(obj, key);

  return v != NULL && json_object_is_type(v, json_type_array) ? v : NULL;
}

char *wfc__json_dump(struct json_object *v, bool pretty) {
  int flags = JSON_C_TO_STRING_NOSLASHESCAPE |
              (pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
                      : JSON_C_TO_STRING_PLAIN);
  size_t n;
  const char *s;
  char *copy;

  if (v == NULL)
    return strdup("null");
  /* The buffer belongs to v and dies with it (or the next call): copy. */
  s = json_object_to_json_string_length(v, flags, &n);
  if (s == NULL)
    return NULL;
  copy = malloc(n + 1);
  if (copy != NULL)
    memcpy(copy, s, n + 1);
  return copy;
}

const char *wfc__json_type_name(struct json_object *v) {
  switch (json_object_get_type(v)) {
  case json_type_null:
    return "null";
  case json_type_boolean:
    return "boolean";
  case json_type_double:
    return "number";
  case json_type_int:
    return "integer";
  case json_type_object:
    return "object";
  case json_type_array:
    return "list";
  case json_type_string:
    return "string";
  }
  return "unknown";
}

/* ---- secrets ------------------------------------------------------------ */

int wfc__json_parse_secret(const char *text, size_t len,
                           struct json_object **out, char *err, size_t errlen) {
  struct json_tokener *tok;
  struct json_object *v;
  enum json_tokener_error jerr;
  size_t end;
  int rc = 0;

  *out = NULL;
  if (text == NULL || len == 0 || len >= INT_MAX) {
    set_err(err, errlen, len == 0 ? "empty JSON text" : "JSON text too large");
    return len == 0 ? WFC_EJSON : WFC_ETOOBIG;
  }
  tok = json_tokener_new_ex(WFC_JSON_MAX_DEPTH);
  if (tok == NULL)
    return WFC_ENOMEM;
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
  /* The tokener gathers every string in its printbuf, which grows by
   * realloc: sized for the whole text now, it never moves (a move would
   * free a partial copy uncleansed). No string is longer than the text. */
  if (printbuf_memset(tok->pb, 0, 0, (int)len + 1) < 0) {
    json_tokener_free(tok);
    return WFC_ENOMEM;
  }
  printbuf_reset(tok->pb);
  v = json_tokener_parse_ex(tok, text, (int)len);
  jerr = json_tokener_get_error(tok);
  end = json_tokener_get_parse_end(tok);
  if (v == NULL) {
    char why[160];
    snprintf(why, sizeof why, "malformed JSON at byte %zu: %s", end,
             jerr == json_tokener_continue ? "unexpected end"
                                           : json_tokener_error_desc(jerr));
    set_err(err, errlen, why);
    rc = WFC_EJSON;
  } else {
    for (size_t i = end; i < len; i++)
      if (!is_ws(text[i])) {
        char why[160];
        snprintf(why, sizeof why, "malformed JSON at byte %zu: trailing data",
                 i);
        set_err(err, errlen, why);
        wfc__json_cleanse_put(v);
        v = NULL;
        rc = WFC_EJSON;
        break;
      }
  }
  wfc__cleanse(tok->pb->buf, (size_t)tok->pb->size);
  json_tokener_free(tok);
  *out = v;
  return rc;
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
  switch (json_object_get_type(v)) {
  case json_type_object: {
    json_object_object_foreach(v, k, x) {
      (void)k;
      wfc__json_cleanse(x);
    }
    break;
  }
  case json_type_array:
    for (size_t i = 0; i < json_object_array_length(v); i++)
      wfc__json_cleanse(json_object_array_get_idx(v, i));
    break;
  case json_type_string:
    /* json-c keeps the bytes inline or in one buffer: cleanse in place. */
    wfc__cleanse((void *)json_object_get_string(v),
                 (size_t)json_object_get_string_len(v));
    break;
  default:
    break;
  }
}

void wfc__json_cleanse_put(struct json_object *v) {
  if (v == NULL)
    return;
  wfc__json_cleanse(v);
  json_object_put(v);
}
