/* json.h - the one place where the SDK parses and reads JSON (json-c).
 *
 * Parsing: strict RFC 8259 (JSON_TOKENER_STRICT plus our own pre-scan),
 * nesting depth at most WFC_JSON_MAX_DEPTH, a size cap, and error messages
 * that name the cause and the byte offset ("malformed JSON at byte 17:
 * unexpected character"). Bodies arriving in pieces (HTTP) go through a
 * stream object fed chunk by chunk, so nothing is buffered twice.
 *
 * Strings must be text, and nothing in them is changed silently: refused
 * are invalid UTF-8 (stray continuation bytes, C0/C1/F5..FF, overlong
 * forms, encoded surrogates ED A0..BF, code points above U+10FFFF, cut
 * sequences), a surrogate escape without its pair ("\ud800" alone, which
 * json-c would turn into U+FFFD) and \u0000 in a key (json-c would cut
 * the key there). The message names the string by its path and gives the
 * byte offset in the decoded string and in the JSON text:
 *   input.subject: invalid UTF-8 at byte 7 (byte 20 of the JSON text)
 *   input.headers["X-?"] (the key): invalid UTF-8 at byte 2 (...)
 * \u0000 in a value is kept (json-c stores the length): whether a NUL may
 * be in a string is the validator's business (validate.h), not the
 * parser's.
 *
 * Getters borrow: a returned object or string lives as long as its parent
 * (json_object_get() it to keep it). JSON null counts as absent. JSON
 * objects stay on the loop thread.
 */
#ifndef WFC_SDK_JSON_H
#define WFC_SDK_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct json_object;

#define WFC_JSON_MAX_DEPTH   32
#define WFC_JSON_DEFAULT_MAX ((size_t)16 * 1024 * 1024) /* bytes */

/* Parses text[0..len) (need not be NUL-terminated) as one JSON value.
 * max_bytes 0 means WFC_JSON_DEFAULT_MAX. Returns 0 and *out (transfer), or
 * WFC_EJSON / WFC_ETOOBIG / WFC_ENOMEM with a message in err (may be NULL). */
int wfc__json_parse(const char *text, size_t len, size_t max_bytes,
                    struct json_object **out, char *err, size_t errlen);
/* The same, with root ("input", "params"; NULL none) at the head of the
 * paths in messages about a string, as the validator writes them. */
int wfc__json_parse_at(const char *text, size_t len, size_t max_bytes,
                       const char *root, struct json_object **out, char *err,
                       size_t errlen);

/* ---- streaming ---------------------------------------------------------- */

typedef struct wfc__json_stream wfc__json_stream;

/* max_bytes 0 means WFC_JSON_DEFAULT_MAX. NULL when out of memory. */
wfc__json_stream *wfc__json_stream_new(size_t max_bytes);
/* Names the root of paths in messages (copied; at most 31 bytes kept). */
void wfc__json_stream_root(wfc__json_stream *s, const char *root);
/* Feeds the next chunk (borrowed). Returns 0, or WFC_EJSON / WFC_ETOOBIG
 * once the input can no longer be valid (later feeds keep failing). */
int wfc__json_stream_feed(wfc__json_stream *s, const void *buf, size_t len);
/* Ends the input. Returns 0 and *out (transfer), or an error code with the
 * message in err (may be NULL). */
int wfc__json_stream_finish(wfc__json_stream *s, struct json_object **out,
                            char *err, size_t errlen);
/* Bytes fed so far. */
size_t wfc__json_stream_bytes(const wfc__json_stream *s);
/* NULL-safe. */
void wfc__json_stream_free(wfc__json_stream *s);

/* ---- typed getters (obj may be NULL or not an object: all say absent) ---- */

/* Borrowed string, or NULL when absent, null or not a string. */
const char *wfc__json_str(struct json_object *obj, const char *key);
/* An integer, or a string holding a base-10 integer ("3599"). Returns 0,
 * WFC_ENOTFOUND (absent or null), WFC_EINVAL (another type, not a number,
 * a fraction) or WFC_ETOOBIG (outside int64). *out is set only on 0. */
int wfc__json_int64(struct json_object *obj, const char *key, int64_t *out);
/* The same rules for a value itself (NULL: WFC_ENOTFOUND). */
int wfc__json_to_int64(struct json_object *v, int64_t *out);
/* A JSON boolean. 0, WFC_ENOTFOUND or WFC_EINVAL. */
int wfc__json_bool(struct json_object *obj, const char *key, bool *out);
/* Borrowed member of the given kind, or NULL. */
struct json_object *wfc__json_obj(struct json_object *obj, const char *key);
struct json_object *wfc__json_arr(struct json_object *obj, const char *key);

/* ---- text --------------------------------------------------------------- */

/* Strict UTF-8 decoder state: continuation bytes still expected and the
 * range the next one must be in. */
typedef struct wfc__utf8 {
  unsigned char need, lo, hi;
} wfc__utf8;

/* What is wrong with a string's text. */
enum {
  WFC_JSON_TEXT_UTF8 = 1,  /* invalid UTF-8 */
  WFC_JSON_TEXT_NUL,       /* a NUL character */
  WFC_JSON_TEXT_SURROGATE, /* a surrogate escape without its pair */
};

/* Checks s[0..len) (borrowed) is UTF-8 (the parser's rules above) without
 * NUL. Returns 0, or WFC_JSON_TEXT_UTF8 / WFC_JSON_TEXT_NUL with *at the
 * offset of the bad byte (of the first byte of a bad or cut sequence). */
int wfc__json_text_check(const char *s, size_t len, size_t *at);
/* The words for a problem: "invalid UTF-8", "contains a NUL character
 * (\u0000)", ... (static). */
const char *wfc__json_text_why(int problem);

/* Longest key shown in a path; longer ones end in "...". */
#define WFC_JSON_KEY_SHOWN 64
/* Writes key[0..len) as a path component: .name for an identifier, else
 * ["k?y"] (bytes outside printable ASCII as '?', quotes and backslashes
 * escaped, cut at WFC_JSON_KEY_SHOWN). dstlen must be at least
 * 2 * WFC_JSON_KEY_SHOWN + 10 (else writes ""). Returns the length. */
size_t wfc__json_path_key(char *dst, size_t dstlen, const char *key,
                          size_t len);

/* ---- output ------------------------------------------------------------- */

/* JSON text of v (NULL prints "null"), compact unless pretty. Returns a
 * malloc'd string (transfer; free()) or NULL when out of memory. */
char *wfc__json_dump(struct json_object *v, bool pretty);

/* Writes the text wfc__json_dump(v, pretty) gives to f as it is made
 * (a 64 KiB buffer, no copy of the whole text; nothing else written).
 * 0, WFC_ENOMEM, or WFC_EIO when f refused a write (f's error flag). */
int wfc__json_write(FILE *f, struct json_object *v, bool pretty);

/* ---- lists kept as text (wfc_host_api.list_new, ABI 1.5) ----------------
 * A JSON array whose items are held as their compact JSON text, not as
 * json-c objects: each item is serialized when added and freed. It is an
 * ordinary json-c array to everyone else (put, get, set as a member),
 * except that its items cannot be read (its json-c length is 0) until
 * wfc__json_list_expand. wfc__json_write writes it as the array of its
 * items, byte for byte what the array would give, compact or pretty;
 * json_object_to_json_string gives its compact text. */

/* A new empty list (transfer; json_object_put frees its text), or NULL. */
struct json_object *wfc__json_list_new(void);
/* Appends item (transfer, freed on every path) to list: a list kept as
 * text or an ordinary array. 0, WFC_EINVAL (list is not an array) or
 * WFC_ENOMEM (list as it was). */
int wfc__json_list_add(struct json_object *list, struct json_object *item);
/* 1 when v is a list kept as text. */
int wfc__json_list_is(struct json_object *v);
/* Its items (of any array). */
size_t wfc__json_list_count(struct json_object *v);
/* Turns every list kept as text inside v (v itself, members, items,
 * recursively) into an ordinary array of the parsed items, in place (the
 * same json_object). 0, WFC_ENOMEM or WFC_EPROTO (text that does not
 * parse: not expected). */
int wfc__json_list_expand(struct json_object *v);

/* "string", "integer", "number", "boolean", "object", "list", "null". */
const char *wfc__json_type_name(struct json_object *v);

/* ---- text that holds secrets -------------------------------------------
 * The means json_secret.c builds on; wipe(p, n) overwrites n bytes at p
 * (wfc__cleanse there). Here they take it as an argument so that this
 * module links alone (the wfc host compiles it in). */

/* Calls wipe on the bytes of every string inside v (members and items,
 * recursively), in place. NULL-safe. */
void wfc__json_wipe(struct json_object *v, void (*wipe)(void *p, size_t n));
/* wfc__json_parse (the same rules, errors and cap) whose tokener buffer is
 * sized once for the whole text, so that no realloc leaves a partial copy
 * behind, and wiped with the parser's state (and a value refused for what
 * follows it) before they are freed. */
int wfc__json_parse_wiped(const char *text, size_t len,
                          struct json_object **out, char *err, size_t errlen,
                          void (*wipe)(void *p, size_t n));

#endif
