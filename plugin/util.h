/* util.h - small helpers shared by the plugin's modules: a growable string
 * buffer with URL encoders, base64url, randomness (PKCE, state, GUIDs),
 * constant-time comparison and json-c accessors.
 *
 * Memory: everything returned as char * is malloc'ed by the plugin and freed
 * by the plugin with free(); nothing here crosses the host boundary. */
#ifndef O365_UTIL_H
#define O365_UTIL_H

#include <stddef.h>
#include <stdint.h>

struct json_object;

/* A NUL-terminated growable buffer. After an allocation failure it stays
 * failed (oom set) and o365_buf_take() returns NULL, so callers check once
 * at the end instead of after every append. */
typedef struct o365_buf {
  char *data;
  size_t len;
  size_t cap;
  int oom;
} o365_buf;

void o365_buf_init(o365_buf *b);
void o365_buf_free(o365_buf *b); /* also wipes the bytes (may hold tokens) */
void o365_buf_putn(o365_buf *b, const char *s, size_t n);
void o365_buf_put(o365_buf *b, const char *s);
void o365_buf_printf(o365_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Percent-encodes s (RFC 3986: only ALPHA DIGIT - . _ ~ stay literal). Used
 * for query values, form values and path segments alike. */
void o365_buf_pct(o365_buf *b, const char *s);
/* Appends "/" and the percent-encoded segment. */
void o365_buf_seg(o365_buf *b, const char *segment);
/* Appends "?name=value" or "&name=value" (whichever fits: '?' if the buffer
 * has none yet). name is literal (a constant of ours), value encoded. */
void o365_buf_query(o365_buf *b, const char *name, const char *value);
/* Appends "name=value" to an x-www-form-urlencoded body, '&'-separated. */
void o365_buf_form(o365_buf *b, const char *name, const char *value);
/* Returns the string (transfer, free()) and resets b; NULL after OOM. */
char *o365_buf_take(o365_buf *b);

/* base64url without padding. Returns the encoded length, 0 if out is too
 * small (outsz must be >= 4*ceil(n/3)+1). */
size_t o365_b64url_encode(const uint8_t *in, size_t n, char *out, size_t outsz);
/* Decodes base64url (padding optional). *out (transfer, free()) is
 * NUL-terminated for convenience. 0, or WFC_EINVAL/WFC_ENOMEM. */
int o365_b64url_decode(const char *in, size_t len, uint8_t **out,
                       size_t *outlen);

/* nbytes random bytes (RAND_priv_bytes) as base64url. 0 or WFC_EIO. */
int o365_random_b64url(size_t nbytes, char *out, size_t outsz);
/* PKCE S256: base64url(SHA-256(verifier)). out needs 44 bytes. */
int o365_pkce_challenge(const char *verifier, char *out, size_t outsz);
/* Random RFC 4122 version-4 GUID, lower case, 36 chars + NUL (request
 * ids, assertion ids: unique, not secret; from a per-thread pool of
 * RAND_bytes). 0 or WFC_EIO. */
int o365_guid(char out[37]);
/* Uniform-ish random integer in [0, bound) for retry jitter (not secret). */
uint32_t o365_random_below(uint32_t bound);

/* Constant-time equality of two secrets (CRYPTO_memcmp). NULL never equals
 * anything; different lengths are unequal without an early exit on content.
 */
int o365_secret_equal(const char *a, const char *b);

/* Borrowed string member of a JSON object, or NULL when absent or not a
 * string. */
const char *o365_json_str(struct json_object *o, const char *key);
/* int64 member accepting an integer or a numeric string (expires_in). 0 or
 * WFC_EINVAL. */
int o365_json_int64(struct json_object *o, const char *key, int64_t *out);
/* The same for a member already in hand (NULL: WFC_EINVAL). */
int o365_json_to_int64(struct json_object *v, int64_t *out);
/* Parses a response body: strict, depth <= 32. NULL on any error. Transfer.
 * Loop thread only (one tokener is kept from parse to parse). */
struct json_object *o365_json_parse(const char *body, size_t len);
/* The same for a body holding secrets (a token response): json-c's buffer
 * is sized once for the whole body (a realloc would leave a partial copy
 * behind) and cleansed before it is freed, and every string of the tree is
 * overwritten when the last reference to its root goes (json_object_put as
 * usual; keep no reference to a member past the root). */
struct json_object *o365_json_parse_secret(const char *body, size_t len);
/* Frees o365_json_parse's kept tokener (at the plugin's shutdown). */
void o365_json_parse_release(void);
/* Output members. Every output object the plugin builds names its members
 * with static strings, so they are added with json-c's
 * JSON_C_OBJECT_ADD_CONSTANT_KEY: the object points at a shared copy of
 * the name instead of a malloc'ed copy of its own (a listing of N objects
 * of M members saved N*M strdup/free pairs). The shared copy is made once
 * per name and lives for the rest of the process (util.c: an output may
 * outlive the plugin), so outputs stay the caller's to keep, as before.
 *
 * o365_json_add_static: key has static storage (a literal, a static table's
 * entry; found again by its address); v is transferred. Replaces an
 * existing member of that name, like json_object_object_add. */
void o365_json_add_static(struct json_object *o, const char *key,
                          struct json_object *v);
/* The same where the key is known not to be in o yet (an object being
 * built member by member with distinct names): json-c skips its lookup. A
 * name added twice this way would be in the object twice. */
void o365_json_add_new(struct json_object *o, const char *key,
                       struct json_object *v);
/* A fixed list of distinct static names added together to new objects
 * (the members of one kind of output object): each name's shared copy is
 * found once, at the first use, instead of at every add. Declare it static,
 * e.g. static o365_json_names n = {.keys = {"id", "name", NULL}}. */
#define O365_JSON_NAMES_MAX 16
typedef struct o365_json_names {
  const char *keys[O365_JSON_NAMES_MAX + 1]; /* NULL-terminated */
  void *slots[O365_JSON_NAMES_MAX];          /* filled at the first use */
  int ready;
} o365_json_names;
/* Adds vals[i] (transferred; NULL: that member is left out) under
 * set->keys[i], in that order, to o, which has none of these names yet
 * (as o365_json_add_new). */
void o365_json_add_names(struct json_object *o, o365_json_names *set,
                         struct json_object *const *vals);
/* The usual spelling, for a string literal key (a non-literal does not
 * compile: "" key ""). */
#define O365_JSON_ADD(o, key, v) o365_json_add_static((o), "" key "", (v))
/* Adds key=string (copied) when value is non-NULL; key is static, as for
 * o365_json_add_static. */
void o365_json_add_str(struct json_object *o, const char *key,
                       const char *value);

/* Delay asked by a Retry-After header: delta-seconds or an HTTP-date
 * (RFC 9110), relative to now_ms (epoch ms). -1 when absent or malformed;
 * 0 for a date in the past. */
int64_t o365_retry_after_ms(const char *value, int64_t now_ms);

/* "YYYY-MM-DDTHH:MM:SSZ" (UTC, whole seconds, like Graph's times) of
 * epoch milliseconds ms; outsz >= 21. */
void o365_time_iso(int64_t ms, char *out, size_t outsz);

/* Graph's dateTimeTimeZone {"dateTime","timeZone"} for an ISO 8601 date
 * and time "YYYY-MM-DDTHH:MM:SS[.fff][Z|+hh:mm|-hh:mm]". Graph's rules:
 * dateTime is a local "{date}T{time}" with no offset or "Z" (the zone is
 * timeZone's alone); so a time with Z or an offset is converted to UTC and
 * timeZone is "UTC", and one without is taken as local to tz (a Windows or
 * IANA name; NULL = "UTC"), kept as written (fraction dropped).
 * *epoch (may be NULL): seconds since 1970 of the result read as UTC (for
 * ordering times of one zone). Transfer; NULL when s is malformed. */
struct json_object *o365_json_dttz(const char *s, const char *tz,
                                   long long *epoch);

/* Copies at most outsz-1 bytes of s (NULL = "") into out; returns 0, or -1
 * when s did not fit (out then holds a truncated copy). */
int o365_strlcpy(char *out, const char *s, size_t outsz);

#endif
