/* json.c - strict, bounded JSON parsing and typed lookups over json-c. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "json.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "crypto.h"
#include "wfc/error.h"

/* ---- text --------------------------------------------------------------- */

/* One step of strict UTF-8 decoding (RFC 3629, table 2 of Unicode 15 ch. 3):
 * no overlong forms, no encoded surrogates (ED A0..BF), nothing above
 * U+10FFFF. Returns 1 when c is acceptable here, 0 when it is not. */
static int utf8_step(wfc__utf8 *u, unsigned char c) {
  if (u->need > 0) {
    if (c < u->lo || c > u->hi)
      return 0;
    u->need--;
    u->lo = 0x80;
    u->hi = 0xBF;
    return 1;
  }
  u->lo = 0x80;
  u->hi = 0xBF;
  if (c < 0x80)
    return 1;
  if (c < 0xC2 || c > 0xF4)
    return 0; /* a continuation byte alone, C0/C1 (overlong), F5..FF */
  if (c < 0xE0) {
    u->need = 1;
  } else if (c < 0xF0) {
    u->need = 2;
    if (c == 0xE0)
      u->lo = 0xA0; /* overlong below U+0800 */
    else if (c == 0xED)
      u->hi = 0x9F; /* U+D800..DFFF */
  } else {
    u->need = 3;
    if (c == 0xF0)
      u->lo = 0x90; /* overlong below U+10000 */
    else if (c == 0xF4)
      u->hi = 0x8F; /* above U+10FFFF */
  }
  return 1;
}

int wfc__json_text_check(const char *s, size_t len, size_t *at) {
  wfc__utf8 u = {0, 0x80, 0xBF};
  size_t start = 0;

  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    if (u.need == 0)
      start = i;
    if (c == '\0' && u.need == 0) {
      *at = i;
      return WFC_JSON_TEXT_NUL;
    }
    if (!utf8_step(&u, c)) {
      *at = start;
      return WFC_JSON_TEXT_UTF8;
    }
  }
  if (u.need != 0) {
    *at = start;
    return WFC_JSON_TEXT_UTF8;
  }
  return 0;
}

const char *wfc__json_text_why(int problem) {
  switch (problem) {
  case WFC_JSON_TEXT_UTF8:
    return "invalid UTF-8";
  case WFC_JSON_TEXT_NUL:
    return "contains a NUL character (\\u0000)";
  case WFC_JSON_TEXT_SURROGATE:
    return "a lone surrogate escape (\\ud800-\\udfff without its pair)";
  }
  return "valid text";
}

static int is_ident_char(char c, int first) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_' ||
         (!first && c >= '0' && c <= '9');
}

size_t wfc__json_path_key(char *dst, size_t dstlen, const char *key,
                          size_t len) {
  size_t shown = len > WFC_JSON_KEY_SHOWN ? WFC_JSON_KEY_SHOWN : len, o = 0;
  int ident = len > 0 && len <= WFC_JSON_KEY_SHOWN;

  if (dstlen == 0)
    return 0;
  for (size_t i = 0; i < len && ident; i++)
    ident = is_ident_char(key[i], i == 0);
  /* Room for the worst case: every byte escaped, brackets, "...". */
  if (dstlen < 2 * shown + 10) {
    dst[0] = '\0';
    return 0;
  }
  if (ident) {
    dst[o++] = '.';
    memcpy(dst + o, key, len);
    o += len;
  } else {
    dst[o++] = '[';
    dst[o++] = '"';
    for (size_t i = 0; i < shown; i++) {
      unsigned char ch = (unsigned char)key[i];
      if (ch == '"' || ch == '\\')
        dst[o++] = '\\';
      dst[o++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
    }
    if (len > shown) {
      memcpy(dst + o, "...", 3);
      o += 3;
    }
    dst[o++] = '"';
    dst[o++] = ']';
  }
  dst[o] = '\0';
  return o;
}

/* ---- the stream --------------------------------------------------------- */

/* One open container, for the path in messages about a string. */
typedef struct frame {
  unsigned char arr;      /* 1: list, 0: object */
  unsigned char want_key; /* object: the next string is a key */
  unsigned char klen;     /* bytes in key; WFC_JSON_KEY_SHOWN + 1: cut */
  char key[WFC_JSON_KEY_SHOWN + 1]; /* current key, as the path shows it */
  size_t idx;                       /* list: index of the current item */
} frame;

/* Escape state of the pre-scan inside a string. */
enum { ESC_NONE, ESC_BACKSLASH, ESC_HEX /* ESC_HEX + digits read */ };
/* After a high surrogate escape: its low half must follow at once. */
enum { SUR_NONE, SUR_WANT_BACKSLASH, SUR_WANT_U, SUR_IN_LOW };

struct wfc__json_stream {
  struct json_tokener *tok;
  struct json_object *value; /* complete value, once seen; owned */
  size_t fed;                /* bytes accepted from the caller */
  size_t pos;                /* bytes handed to the tokener */
  size_t max;
  int error;                    /* sticky: 0 or a WFC_E* code */
  unsigned char num;            /* number state of the pre-scan (NUM_*) */
  unsigned char in_str, in_key; /* inside a string; it is a key */
  unsigned char esc, sur;       /* ESC_*, SUR_* */
  wfc__utf8 u8;                 /* a UTF-8 sequence being read */
  unsigned cu, hi;              /* \u code unit being read; pending high */
  size_t soff;                  /* decoded bytes of this string so far */
  size_t seq_off, seq_at;       /* where the current UTF-8 sequence or escape
                                   began: in the string, in the JSON text */
  size_t hi_off, hi_at;         /* the same for the pending high surrogate */
  size_t depth;                 /* containers open; frames kept up to the max */
  frame frames[WFC_JSON_MAX_DEPTH];
  char root[32];
  char msg[512]; /* why, when error != 0 */
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
   * whether they arrive with the value or in a later chunk. UTF-8 is
   * checked by the pre-scan: json-c's JSON_TOKENER_VALIDATE_UTF8 lets
   * overlong forms, encoded surrogates and code points above U+10FFFF
   * through, and cannot say which string the bad byte is in. */
  json_tokener_set_flags(s->tok, JSON_TOKENER_STRICT |
                                     JSON_TOKENER_ALLOW_TRAILING_CHARS);
  s->max = max_bytes != 0 ? max_bytes : WFC_JSON_DEFAULT_MAX;
  s->u8.lo = 0x80;
  s->u8.hi = 0xBF;
  return s;
}

void wfc__json_stream_root(wfc__json_stream *s, const char *root) {
  snprintf(s->root, sizeof s->root, "%s", root != NULL ? root : "");
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

static frame *top(wfc__json_stream *s) {
  return s->depth > 0 && s->depth <= WFC_JSON_MAX_DEPTH
             ? &s->frames[s->depth - 1]
             : NULL;
}

/* One decoded character of a key, as the path will show it. */
static void key_put(wfc__json_stream *s, unsigned ch) {
  frame *f = top(s);

  if (!s->in_key || f == NULL || f->klen > WFC_JSON_KEY_SHOWN)
    return;
  f->key[f->klen++] = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
}

static void open_container(wfc__json_stream *s, int arr) {
  frame *f;

  s->depth++;
  if ((f = top(s)) != NULL) {
    f->arr = (unsigned char)arr;
    f->want_key = (unsigned char)!arr;
    f->klen = 0;
    f->idx = 0;
  }
}

/* The path of the value or key being read: root, then .key / ["key"] /
 * [index] per container ("to[2]", "headers[\"X-?\"] (the key)"). */
static void stream_path(const wfc__json_stream *s, char *buf, size_t len) {
  size_t levels = s->depth, o;

  snprintf(buf, len, "%s", s->root);
  o = strlen(buf);
  for (size_t i = 0; i < levels && i < WFC_JSON_MAX_DEPTH && o + 1 < len; i++) {
    const frame *f = &s->frames[i];
    char part[2 * WFC_JSON_KEY_SHOWN + 16];
    if (f->arr) {
      snprintf(part, sizeof part, "[%zu]", f->idx);
    } else if (s->in_key && i + 1 == levels) {
      /* The key being read: what came before the bad byte, the bad byte
       * as '?', and "..." for the rest, never read. */
      char tmp[WFC_JSON_KEY_SHOWN + 2];
      size_t n = f->klen < WFC_JSON_KEY_SHOWN ? f->klen : WFC_JSON_KEY_SHOWN;
      memcpy(tmp, f->key, n);
      tmp[n++] = '\x7f';
      size_t plen = wfc__json_path_key(part, sizeof part, tmp, n);
      if (n <= WFC_JSON_KEY_SHOWN && plen >= 2)
        snprintf(part + plen - 2, sizeof part - (plen - 2), "...\"]");
    } else {
      wfc__json_path_key(part, sizeof part, f->key, f->klen);
    }
    snprintf(buf + o, len - o, "%s", part);
    o += strlen(buf + o);
  }
  if (buf[0] == '.')
    memmove(buf, buf + 1, strlen(buf)); /* no root: "subject", not ".subject" */
  if (buf[0] == '\0')
    snprintf(buf, len, "(the JSON value)");
  if (s->in_key) {
    o = strlen(buf);
    snprintf(buf + o, len - o, " (the key)");
  }
}

/* A string's text is refused: msg names the path and both offsets. */
static void text_fail(wfc__json_stream *s, int problem, size_t str_off,
                      size_t json_at, char *why, size_t whylen) {
  char path[320];

  stream_path(s, path, sizeof path);
  snprintf(why, whylen, "%s: %s at byte %zu (byte %zu of the JSON text)", path,
           wfc__json_text_why(problem), str_off, json_at);
}

/* A \uXXXX escape is complete (s->cu). 0, or the problem. */
static int code_unit(wfc__json_stream *s) {
  unsigned cu = s->cu;

  if (s->sur == SUR_IN_LOW) {
    s->sur = SUR_NONE;
    if (cu < 0xDC00 || cu > 0xDFFF) {
      s->seq_off = s->hi_off; /* the high half is the one left alone */
      s->seq_at = s->hi_at;
      return WFC_JSON_TEXT_SURROGATE;
    }
    s->soff += 4;
    key_put(s, '?');
    return 0;
  }
  if (cu >= 0xD800 && cu <= 0xDBFF) {
    s->sur = SUR_WANT_BACKSLASH;
    s->hi = cu;
    s->hi_off = s->seq_off;
    s->hi_at = s->seq_at;
    return 0;
  }
  if (cu >= 0xDC00 && cu <= 0xDFFF)
    return WFC_JSON_TEXT_SURROGATE;
  /* json-c keeps \u0000 in a value (with the length) but ends a key there
   * (keys are C strings): the key would change silently. */
  if (cu == 0 && s->in_key)
    return WFC_JSON_TEXT_NUL;
  s->soff += cu < 0x80 ? 1 : cu < 0x800 ? 2 : 3;
  key_put(s, cu);
  return 0;
}

/* One byte c of a string's source, at JSON offset at. 0, or the problem
 * (s->seq_off / s->seq_at say where). */
static int string_byte(wfc__json_stream *s, char c, size_t at) {
  unsigned char uc = (unsigned char)c;

  if (s->u8.need > 0) {
    if (!utf8_step(&s->u8, uc))
      return WFC_JSON_TEXT_UTF8;
    s->soff++;
    if (s->u8.need == 0)
      key_put(s, '?');
    return 0;
  }
  if (s->sur == SUR_WANT_BACKSLASH || s->sur == SUR_WANT_U) {
    if (s->sur == SUR_WANT_BACKSLASH && c == '\\') {
      s->sur = SUR_WANT_U;
      return 0;
    }
    if (s->sur == SUR_WANT_U && c == 'u') {
      s->sur = SUR_IN_LOW;
      s->esc = ESC_HEX;
      s->cu = 0;
      return 0;
    }
    s->seq_off = s->hi_off;
    s->seq_at = s->hi_at;
    return WFC_JSON_TEXT_SURROGATE;
  }
  if (s->esc == ESC_BACKSLASH) {
    s->esc = ESC_NONE;
    if (c == 'u') {
      s->esc = ESC_HEX;
      s->cu = 0;
      return 0;
    }
    s->soff++;
    key_put(s, c == '"' || c == '\\' || c == '/' ? (unsigned)c : '?');
    return 0;
  }
  if (s->esc >= ESC_HEX) {
    int h = wfc__hex_digit(c);
    if (h >= 0) {
      s->cu = s->cu * 16 + (unsigned)h;
      if (++s->esc < ESC_HEX + 4)
        return 0;
      s->esc = ESC_NONE;
      return code_unit(s);
    }
    /* Not an escape: json-c refuses it; read c as a plain byte. */
    s->esc = ESC_NONE;
    s->sur = SUR_NONE;
  }
  s->seq_off = s->soff;
  s->seq_at = at;
  if (c == '\\') {
    s->esc = ESC_BACKSLASH;
    return 0;
  }
  if (c == '"') {
    frame *f = top(s);
    s->in_str = 0;
    if (s->in_key && f != NULL)
      f->want_key = 0;
    s->in_key = 0;
    return 0;
  }
  if (!utf8_step(&s->u8, uc))
    return WFC_JSON_TEXT_UTF8;
  s->soff++;
  if (s->u8.need == 0)
    key_put(s, uc);
  return 0;
}

/* What json-c lets through in strict mode but RFC 8259 forbids: raw NUL
 * (json-c reads it as end of input), single-quoted strings, NaN and
 * Infinity, number characters the grammar does not allow (json-c 0.16
 * accepts "1234-" when a chunk ends inside the number), and strings that
 * are not UTF-8 text (invalid UTF-8, a lone surrogate escape that json-c
 * would turn into U+FFFD, \u0000 in a key that json-c would cut there).
 * Outside strings only structural characters, whitespace, numbers and the
 * letters of true/false/null may appear. Returns the index of the first
 * such byte (len if none) and why in why[], a whole message naming the
 * string when *text is set; the lexical state advances only over the bytes
 * before it. */
static size_t prescan(wfc__json_stream *s, const char *p, size_t len, char *why,
                      size_t whylen, int *text) {
  *text = 0;
  snprintf(why, whylen, "unexpected character");
  for (size_t i = 0; i < len; i++) {
    char c = p[i];
    frame *f;
    if (c == '\0') {
      snprintf(why, whylen, "NUL byte");
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
      int problem = string_byte(s, c, s->fed + i);
      if (problem != 0) {
        text_fail(s, problem, s->seq_off, s->seq_at, why, whylen);
        *text = 1;
        return i;
      }
    } else if (c == '"') {
      f = top(s);
      s->in_str = 1;
      s->in_key = f != NULL && !f->arr && f->want_key;
      if (s->in_key)
        f->klen = 0;
      s->soff = 0;
    } else if (c == '{' || c == '[') {
      open_container(s, c == '[');
    } else if (c == '}' || c == ']') {
      if (s->depth > 0)
        s->depth--;
    } else if (c == ',') {
      if ((f = top(s)) != NULL) {
        if (f->arr)
          f->idx++;
        else
          f->want_key = 1;
      }
    } else if (c == '-') {
      s->num = NUM_MINUS;
    } else if (c == '0') {
      s->num = NUM_ZERO;
    } else if (is_digit(c)) {
      s->num = NUM_INT;
    } else if (strchr(" \t\r\n:truefalsn", c) == NULL) {
      return i; /* ' quotes, NaN, Infinity, comments, stray bytes */
    }
  }
  return len;
}

int wfc__json_stream_feed(wfc__json_stream *s, const void *buf, size_t len) {
  const char *p = buf;
  char why[400];
  size_t good;
  int rc, text;

  if (s->error != 0)
    return s->error;
  if (len > s->max - s->fed)
    return stream_fail(s, WFC_ETOOBIG, s->fed, NULL);
  /* The tokener sees the bytes before a forbidden one first, so the error
   * reported is always the earliest, however the input was cut. */
  good = prescan(s, p, len, why, sizeof why, &text);
  rc = push(s, p, good);
  if (rc == 0 && good < len) {
    if (text) {
      s->error = rc = WFC_EJSON; /* why names the string */
      snprintf(s->msg, sizeof s->msg, "%s", why);
    } else {
      rc = stream_fail(s, WFC_EJSON, s->fed + good, why);
    }
  }
  s->fed += len;
  return rc;
}

int wfc__json_stream_finish(wfc__json_stream *s, struct json_object **out,
                            char *err, size_t errlen) {
  *out = NULL;
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

int wfc__json_parse_at(const char *text, size_t len, size_t max_bytes,
                       const char *root, struct json_object **out, char *err,
                       size_t errlen) {
  wfc__json_stream *s = wfc__json_stream_new(max_bytes);
  int rc;

  *out = NULL;
  if (s == NULL) {
    set_err(err, errlen, "out of memory");
    return WFC_ENOMEM;
  }
  wfc__json_stream_root(s, root);
  rc = wfc__json_stream_feed(s, text, len);
  if (rc == 0)
    rc = wfc__json_stream_finish(s, out, err, errlen);
  else
    set_err(err, errlen, s->msg);
  wfc__json_stream_free(s);
  return rc;
}

int wfc__json_parse(const char *text, size_t len, size_t max_bytes,
                    struct json_object **out, char *err, size_t errlen) {
  return wfc__json_parse_at(text, len, max_bytes, NULL, out, err, errlen);
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

/* ---- writing JSON text as it is made ----------------------------------
 * wfc__json_write gives the bytes json_object_to_json_string_ext gives
 * (json-c 0.16's layout: two-space indent, "key": value when pretty) but
 * writes them to the file as it goes, through a 64 KiB buffer, instead of
 * building the whole text in a printbuf that doubles (a 12 MB output cost
 * a 16 MB buffer, its reallocations, and the tree held alongside). The
 * same writer serializes the items of lists kept as text (below) into
 * their chunks. */

typedef struct jw {
  char *buf; /* the buffer being filled: cap bytes, n used */
  size_t cap, n;
  int pretty, failed;
  int empty_nl; /* pretty: json-c breaks the line inside {} and [] too */
  /* buf is full: take its n bytes and give room (n = 0 after); -1 when it
   * cannot (failed is then set and nothing more is written). */
  int (*flush)(struct jw *w);
  FILE *f;            /* flush_file's */
  struct jlist *list; /* flush_chunk's */
} jw;

static int flush_file(jw *w) {
  int rc = w->n > 0 && fwrite(w->buf, 1, w->n, w->f) != w->n ? -1 : 0;
  w->n = 0;
  return rc;
}

static void jw_put(jw *w, const char *p, size_t len) {
  while (len > 0 && !w->failed) {
    if (w->n == w->cap && w->flush(w) != 0) {
      w->failed = 1;
      return;
    }
    size_t k = w->cap - w->n < len ? w->cap - w->n : len;
    memcpy(w->buf + w->n, p, k);
    w->n += k;
    p += k;
    len -= k;
  }
}

static void jw_indent(jw *w, int level) {
  static const char sp[] = "                                ";
  if (!w->pretty)
    return;
  for (size_t left = 2 * (size_t)level; left > 0;) {
    size_t k = left < sizeof sp - 1 ? left : sizeof sp - 1;
    jw_put(w, sp, k);
    left -= k;
  }
}

/* A JSON string (json-c's escapes with JSON_C_TO_STRING_NOSLASHESCAPE:
 * \b \n \r \t \f \" \\, other control bytes as \u00xx, the rest as is). */
static void jw_str(jw *w, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t start = 0;
  jw_put(w, "\"", 1);
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)s[i];
    char esc[7];
    size_t elen = 2;
    if (c >= 0x20 && c != '"' && c != '\\')
      continue;
    esc[0] = '\\';
    switch (c) {
    case '\b':
      esc[1] = 'b';
      break;
    case '\n':
      esc[1] = 'n';
      break;
    case '\r':
      esc[1] = 'r';
      break;
    case '\t':
      esc[1] = 't';
      break;
    case '\f':
      esc[1] = 'f';
      break;
    case '"':
      esc[1] = '"';
      break;
    case '\\':
      esc[1] = '\\';
      break;
    default:
      memcpy(esc + 1, "u00", 3);
      esc[4] = hex[c >> 4];
      esc[5] = hex[c & 0xf];
      elen = 6;
    }
    jw_put(w, s + start, i - start);
    jw_put(w, esc, elen);
    start = i + 1;
  }
  jw_put(w, s + start, len - start);
  jw_put(w, "\"", 1);
}

static struct jlist *jlist_of(struct json_object *v);
static void jlist_write(jw *w, struct jlist *l, int level);

static void jw_value(jw *w, struct json_object *v, int level) {
  char num[32];
  switch (json_object_get_type(v)) {
  case json_type_null:
    jw_put(w, "null", 4);
    return;
  case json_type_boolean:
    if (json_object_get_boolean(v))
      jw_put(w, "true", 4);
    else
      jw_put(w, "false", 5);
    return;
  case json_type_string:
    jw_str(w, json_object_get_string(v), (size_t)json_object_get_string_len(v));
    return;
  case json_type_int: {
    int64_t i = json_object_get_int64(v);
    if (i != INT64_MAX) { /* else maybe a uint64 above it: json-c's text */
      int k = snprintf(num, sizeof num, "%lld", (long long)i);
      jw_put(w, num, (size_t)k);
      return;
    }
    break;
  }
  case json_type_object: {
    int any = 0;
    jw_put(w, "{", 1);
    json_object_object_foreach(v, key, val) {
      if (any)
        jw_put(w, ",", 1);
      if (w->pretty)
        jw_put(w, "\n", 1);
      any = 1;
      jw_indent(w, level + 1);
      jw_str(w, key, strlen(key));
      jw_put(w, w->pretty ? ": " : ":", w->pretty ? 2 : 1);
      jw_value(w, val, level + 1);
    }
    if (w->pretty && (any || w->empty_nl)) {
      jw_put(w, "\n", 1);
      jw_indent(w, level);
    }
    jw_put(w, "}", 1);
    return;
  }
  case json_type_array: {
    struct jlist *l = jlist_of(v);
    if (l != NULL) {
      jlist_write(w, l, level);
      return;
    }
    size_t n = json_object_array_length(v);
    jw_put(w, "[", 1);
    for (size_t i = 0; i < n; i++) {
      if (i > 0)
        jw_put(w, ",", 1);
      if (w->pretty)
        jw_put(w, "\n", 1);
      jw_indent(w, level + 1);
      jw_value(w, json_object_array_get_idx(v, i), level + 1);
    }
    if (w->pretty && (n > 0 || w->empty_nl)) {
      jw_put(w, "\n", 1);
      jw_indent(w, level);
    }
    jw_put(w, "]", 1);
    return;
  }
  default:
    break;
  }
  /* Numbers json-c formats its own way (doubles keep the text they were
   * parsed from): its text, made for this one small value. */
  size_t len = 0;
  const char *t = json_object_to_json_string_length(
      v,
      JSON_C_TO_STRING_NOSLASHESCAPE |
          (w->pretty ? JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED
                     : JSON_C_TO_STRING_PLAIN),
      &len);
  if (t == NULL)
    w->failed = 1;
  else
    jw_put(w, t, len);
}

/* 1 when this json-c prints an empty object, pretty, as "{\n}" (0.16),
 * 0 when as "{}" (0.17 on), -1 when it cannot tell (out of memory). */
static int empty_breaks_line(void) {
  struct json_object *o = json_object_new_object();
  const char *t = o ? json_object_to_json_string_ext(
                          o, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED)
                    : NULL;
  int r = t == NULL ? -1 : strchr(t, '\n') != NULL;
  json_object_put(o);
  return r;
}

int wfc__json_write(FILE *f, struct json_object *v, bool pretty) {
  /* Asked every time (a few hundred instructions): no shared state. */
  int empty_nl = pretty ? empty_breaks_line() : 0;
  if (empty_nl < 0)
    return WFC_ENOMEM;
  enum { BUF = 65536 };
  jw w = {.buf = malloc(BUF),
          .cap = BUF,
          .pretty = pretty,
          .empty_nl = empty_nl,
          .flush = flush_file,
          .f = f};
  if (w.buf == NULL)
    return WFC_ENOMEM;
  jw_value(&w, v, 0);
  if (!w.failed && flush_file(&w) != 0)
    w.failed = 1;
  free(w.buf);
  return w.failed ? WFC_EIO : 0;
}

/* ---- lists kept as text ------------------------------------------------
 * A json-c array standing for a list whose items are held as their
 * compact JSON text (wfc_host_api.list_new, ABI 1.5): the text sits in
 * chunks of CHUNK bytes hung on the array as json-c userdata (freed with
 * it), marked by JLIST_MAGIC so that any copy of this file (libwfc's and
 * the wfc host's) knows one; json-c sets userdata on arrays for nothing
 * else. Items are separated by "," in the text; the writer above splices
 * it in (compact) or re-indents it (pretty), so the bytes are those of
 * the array of the items. */

#define JLIST_MAGIC 0x574643544c495354ull /* "WFCTLIST" */
enum { CHUNK = 256 * 1024 - 64 };

typedef struct jchunk {
  struct jchunk *next;
  size_t len, cap;
  char data[];
} jchunk;

typedef struct jlist {
  uint64_t magic;
  size_t count;
  jchunk *head, *tail;
} jlist;

static jlist *jlist_of(struct json_object *v) {
  if (v == NULL || !json_object_is_type(v, json_type_array))
    return NULL;
  jlist *l = json_object_get_userdata(v);
  return l != NULL && l->magic == JLIST_MAGIC ? l : NULL;
}

static void jchunks_free(jchunk *c) {
  while (c != NULL) {
    jchunk *next = c->next;
    free(c);
    c = next;
  }
}

static void jlist_delete(struct json_object *v, void *ud) {
  (void)v;
  jlist *l = ud;
  jchunks_free(l->head);
  l->magic = 0;
  free(l);
}

/* json-c's own serialization of the array (a consumer that neither
 * writes it with wfc__json_write nor expands it): the compact text. */
static int jlist_to_json_string(struct json_object *v, struct printbuf *pb,
                                int level, int flags) {
  (void)level;
  (void)flags;
  jlist *l = jlist_of(v);
  if (printbuf_memappend(pb, "[", 1) < 0)
    return -1;
  for (jchunk *c = l ? l->head : NULL; c != NULL; c = c->next)
    if (c->len > 0 && printbuf_memappend(pb, c->data, (int)c->len) < 0)
      return -1;
  return printbuf_memappend(pb, "]", 1) < 0 ? -1 : 0;
}

static jchunk *jchunk_new(void) {
  jchunk *c = malloc(sizeof *c + CHUNK);
  if (c != NULL) {
    c->next = NULL;
    c->len = 0;
    c->cap = CHUNK;
  }
  return c;
}

/* The tail chunk is full: keep its bytes, go on in a new one. */
static int flush_chunk(jw *w) {
  jlist *l = w->list;
  jchunk *c = jchunk_new();
  if (c == NULL)
    return -1;
  l->tail->len += w->n;
  l->tail->next = c;
  l->tail = c;
  w->buf = c->data;
  w->cap = c->cap;
  w->n = 0;
  return 0;
}

struct json_object *wfc__json_list_new(void) {
  struct json_object *a = json_object_new_array_ext(1);
  jlist *l = calloc(1, sizeof *l);
  if (a == NULL || l == NULL) {
    json_object_put(a);
    free(l);
    return NULL;
  }
  l->magic = JLIST_MAGIC;
  json_object_set_serializer(a, jlist_to_json_string, l, jlist_delete);
  return a;
}

int wfc__json_list_is(struct json_object *v) {
  return jlist_of(v) != NULL;
}

size_t wfc__json_list_count(struct json_object *v) {
  jlist *l = jlist_of(v);
  return l != NULL ? l->count : json_object_array_length(v);
}

int wfc__json_list_add(struct json_object *list, struct json_object *item) {
  if (list == NULL || !json_object_is_type(list, json_type_array)) {
    json_object_put(item);
    return WFC_EINVAL;
  }
  jlist *l = jlist_of(list);
  if (l == NULL) {
    if (json_object_array_add(list, item) != 0) {
      json_object_put(item);
      return WFC_ENOMEM;
    }
    return 0;
  }
  if (l->tail == NULL && (l->head = l->tail = jchunk_new()) == NULL) {
    json_object_put(item);
    return WFC_ENOMEM;
  }
  /* Serialized now, compact; on failure the list goes back to this mark. */
  jchunk *mark = l->tail;
  size_t mark_len = mark->len;
  jw w = {.buf = mark->data + mark->len,
          .cap = mark->cap - mark->len,
          .flush = flush_chunk,
          .list = l};
  if (l->count > 0)
    jw_put(&w, ",", 1);
  jw_value(&w, item, 0);
  json_object_put(item);
  if (w.failed) {
    jchunks_free(mark->next);
    mark->next = NULL;
    mark->len = mark_len;
    l->tail = mark;
    return WFC_ENOMEM;
  }
  l->tail->len += w.n;
  l->count++;
  return 0;
}

/* Writes l as the array of its items at level: compact, its text as it
 * is; pretty, the text re-indented as jw_value would have laid out the
 * items (the text is jw's compact form: the only characters outside
 * strings that change are { [ , : ] }). */
static void jlist_write(jw *w, jlist *l, int level) {
  jw_put(w, "[", 1);
  if (l->count == 0) {
    if (w->pretty && w->empty_nl) {
      jw_put(w, "\n", 1);
      jw_indent(w, level);
    }
    jw_put(w, "]", 1);
    return;
  }
  if (!w->pretty) {
    for (jchunk *c = l->head; c != NULL; c = c->next)
      jw_put(w, c->data, c->len);
    jw_put(w, "]", 1);
    return;
  }
  int depth = level + 1, in_str = 0, esc = 0;
  char open = 0; /* an opening bracket not yet written: empty or not? */
  jw_put(w, "\n", 1);
  jw_indent(w, depth);
  for (jchunk *c = l->head; c != NULL; c = c->next) {
    const char *p = c->data, *end = c->data + c->len, *run = p;
    for (; p < end; p++) {
      char ch = *p;
      if (in_str) {
        if (esc)
          esc = 0;
        else if (ch == '\\')
          esc = 1;
        else if (ch == '"')
          in_str = 0;
        continue;
      }
      if (open != 0) {
        if (ch == (open == '{' ? '}' : ']')) {
          jw_put(w, &open, 1);
          if (w->empty_nl) {
            jw_put(w, "\n", 1);
            jw_indent(w, depth);
          }
          jw_put(w, &ch, 1);
          open = 0;
          run = p + 1;
          continue;
        }
        jw_put(w, &open, 1);
        jw_put(w, "\n", 1);
        jw_indent(w, ++depth);
        open = 0;
        run = p;
      }
      switch (ch) {
      case '"':
        in_str = 1;
        break;
      case '{':
      case '[':
        jw_put(w, run, (size_t)(p - run));
        open = ch;
        run = p + 1;
        break;
      case '}':
      case ']':
        jw_put(w, run, (size_t)(p - run));
        jw_put(w, "\n", 1);
        jw_indent(w, --depth);
        jw_put(w, &ch, 1);
        run = p + 1;
        break;
      case ',':
        jw_put(w, run, (size_t)(p - run));
        jw_put(w, ",\n", 2);
        jw_indent(w, depth);
        run = p + 1;
        break;
      case ':':
        jw_put(w, run, (size_t)(p - run));
        jw_put(w, ": ", 2);
        run = p + 1;
        break;
      default:
        break;
      }
    }
    jw_put(w, run, (size_t)(end - run));
  }
  jw_put(w, "\n", 1);
  jw_indent(w, level);
  jw_put(w, "]", 1);
}

/* Parses l's text back into v's items (v keeps its identity) and drops
 * the text. */
static int jlist_expand(struct json_object *v, jlist *l) {
  /* Items were written from trees of any depth (json-c's default is 32). */
  struct json_tokener *tok = json_tokener_new_ex(1024);
  if (tok == NULL)
    return WFC_ENOMEM;
  struct json_object *arr = json_tokener_parse_ex(tok, "[", 1);
  for (jchunk *c = l->head; arr == NULL && c != NULL; c = c->next)
    if (c->len > 0 &&
        (arr = json_tokener_parse_ex(tok, c->data, (int)c->len)) == NULL &&
        json_tokener_get_error(tok) != json_tokener_continue)
      break;
  if (arr == NULL && json_tokener_get_error(tok) == json_tokener_continue)
    arr = json_tokener_parse_ex(tok, "]", 1);
  enum json_tokener_error e = json_tokener_get_error(tok);
  json_tokener_free(tok);
  if (arr == NULL || e != json_tokener_success ||
      !json_object_is_type(arr, json_type_array)) {
    json_object_put(arr);
    return WFC_EPROTO;
  }
  size_t n = json_object_array_length(arr);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    if (json_object_array_add(
            v, json_object_get(json_object_array_get_idx(arr, i))) != 0)
      rc = WFC_ENOMEM;
  json_object_put(arr);
  if (rc != 0) {
    json_object_array_del_idx(v, 0, json_object_array_length(v));
    return rc;
  }
  /* Back to a plain array: frees the text (jlist_delete). */
  json_object_set_serializer(v, NULL, NULL, NULL);
  return 0;
}

int wfc__json_list_expand(struct json_object *v) {
  jlist *l = jlist_of(v);
  if (l != NULL)
    return jlist_expand(v, l);
  int rc = 0;
  if (json_object_is_type(v, json_type_object)) {
    json_object_object_foreach(v, key, val) {
      (void)key;
      if (rc == 0)
        rc = wfc__json_list_expand(val);
    }
  } else if (json_object_is_type(v, json_type_array)) {
    size_t n = json_object_array_length(v);
    for (size_t i = 0; rc == 0 && i < n; i++)
      rc = wfc__json_list_expand(json_object_array_get_idx(v, i));
  }
  return rc;
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

/* ---- text that holds secrets (json_secret.c) ---------------------------
 */

void wfc__json_wipe(struct json_object *v, void (*wipe)(void *p, size_t n)) {
  switch (json_object_get_type(v)) {
  case json_type_object: {
    json_object_object_foreach(v, k, x) {
      (void)k;
      wfc__json_wipe(x, wipe);
    }
    break;
  }
  case json_type_array:
    for (size_t i = 0; i < json_object_array_length(v); i++)
      wfc__json_wipe(json_object_array_get_idx(v, i), wipe);
    break;
  case json_type_string:
    /* json-c keeps the bytes inline or in one buffer: wiped in place. */
    wipe((void *)json_object_get_string(v),
         (size_t)json_object_get_string_len(v));
    break;
  default:
    break;
  }
}

int wfc__json_parse_wiped(const char *text, size_t len,
                          struct json_object **out, char *err, size_t errlen,
                          void (*wipe)(void *p, size_t n)) {
  wfc__json_stream *s = wfc__json_stream_new(0);
  struct printbuf *pb;
  int rc;

  *out = NULL;
  if (s == NULL) {
    set_err(err, errlen, "out of memory");
    return WFC_ENOMEM;
  }
  /* The tokener gathers every string in its printbuf, which grows by
   * realloc: sized for the whole text now, it never moves (a move would
   * free a partial copy unwiped). No string is longer than the text; a
   * text over the cap is refused before the tokener sees it. */
  pb = s->tok->pb;
  if (len < s->max && printbuf_memset(pb, 0, 0, (int)len + 1) < 0) {
    wfc__json_stream_free(s);
    set_err(err, errlen, "out of memory");
    return WFC_ENOMEM;
  }
  printbuf_reset(pb);
  rc = wfc__json_stream_feed(s, text, len);
  if (rc == 0)
    rc = wfc__json_stream_finish(s, out, err, errlen);
  else
    set_err(err, errlen, s->msg);
  wipe(pb->buf, (size_t)pb->size);
  wfc__json_wipe(s->value, wipe); /* a value refused for what follows it */
  json_tokener_free(s->tok);
  json_object_put(s->value);
  wipe(s, sizeof *s); /* the decoder's state: a code unit, key bytes */
  free(s);
  return rc;
}
