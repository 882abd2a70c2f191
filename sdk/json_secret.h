/* json_secret.h - JSON that holds credentials (a connection's sealed
 * secrets, a token response), which must leave no copy behind in the
 * ordinary heap: json-c's own buffers grow by realloc and are freed
 * without being cleansed. These functions keep the text in secret memory
 * (secmem.h) and cleanse what json-c used. The parsed objects themselves
 * live in the ordinary heap: release them with wfc__json_cleanse_put as
 * soon as they are used.
 *
 * Apart from json.c because they need the SDK's secret memory, which the
 * wfc host does not link (it compiles json.c in: see sdk/CMakeLists.txt). */
#ifndef WFC_SDK_JSON_SECRET_H
#define WFC_SDK_JSON_SECRET_H

#include <stddef.h>

struct json_object;

/* wfc__json_parse (the same rules and errors) for a text holding secrets:
 * the tokener's buffer is sized once for the whole text (no realloc leaves
 * a partial copy behind) and cleansed before it is freed. */
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

#endif
