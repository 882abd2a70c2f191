/* json.h - the one place where the SDK parses and reads JSON (json-c).
 *
 * Parsing: strict RFC 8259 (JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8),
 * nesting depth at most WFC_JSON_MAX_DEPTH, a size cap, and error messages
 * that name the cause and the byte offset ("malformed JSON at byte 17:
 * unexpected character"). Bodies arriving in pieces (HTTP) go through a
 * stream object fed chunk by chunk, so nothing is buffered twice.
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

struct json_object;

#define WFC_JSON_MAX_DEPTH   32
#define WFC_JSON_DEFAULT_MAX ((size_t)16 * 1024 * 1024) /* bytes */

/* Parses text[0..len) (need not be NUL-terminated) as one JSON value.
 * max_bytes 0 means WFC_JSON_DEFAULT_MAX. Returns 0 and *out (transfer), or
 * WFC_EJSON / WFC_ETOOBIG / WFC_ENOMEM with a message in err (may be NULL). */
int wfc__json_parse(const char *text, size_t len, size_t max_bytes,
                    struct json_object **out, char *err, size_t errlen);

/* ---- streaming ---------------------------------------------------------- */

typedef struct wfc__json_stream wfc__json_stream;

/* max_bytes 0 means WFC_JSON_DEFAULT_MAX. NULL when out of memory. */
wfc__json_stream *wfc__json_stream_new(size_t max_bytes);
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

/* ---- output ------------------------------------------------------------- */

/* JSON text of v (NULL prints "null"), compact unless pretty. Returns a
 * malloc'd string (transfer; free()) or NULL when out of memory. */
char *wfc__json_dump(struct json_object *v, bool pretty);

/* ---- secrets -------------------------------------------------------------
 * JSON that holds credentials (a connection's sealed secrets, a token
 * response) must leave no copy behind in the ordinary heap: json-c's own
 * buffers grow by realloc and are freed without being cleansed. These
 * functions keep the text in secret memory (secmem.h) and cleanse what
 * json-c used. The parsed objects themselves live in the ordinary heap:
 * release them with wfc__json_cleanse_put as soon as they are used. */

/* wfc__json_parse for a text holding secrets: the tokener's buffer is sized
 * once for the whole text (no realloc leaves a partial copy behind) and
 * cleansed before it is freed. */
int wfc__json_parse_secret(const char *text, size_t len,
                           struct json_object **out, char *err, size_t errlen);
/* Compact JSON text of v (an object, list or scalar; NULL prints "null"),
 * written straight into secret memory, never through json-c's printbuf.
 * Transfer: release with wfc__secret_free. NULL when out of memory. */
char *wfc__json_dump_secret(struct json_object *v);
/* Overwrites every string inside v (members and items, recursively) in
 * place. For a value borrowed from elsewhere whose strings are secrets and
 * whose owner frees it without cleansing. NULL-safe. */
void wfc__json_cleanse(struct json_object *v);
/* wfc__json_cleanse, then json_object_put. Only for a value whose strings
 * nobody else still reads. NULL-safe. */
void wfc__json_cleanse_put(struct json_object *v);

/* "string", "integer", "number", "boolean", "object", "list", "null". */
const char *wfc__json_type_name(struct json_object *v);

#endif
