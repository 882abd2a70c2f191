/* util.c - see util.h. */
#define _GNU_SOURCE /* strptime, timegm, gmtime_r */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <wfc/plugin.h>

void o365_buf_init(o365_buf *b) {
  memset(b, 0, sizeof *b);
}

void o365_buf_free(o365_buf *b) {
  if (b->data != NULL) {
    OPENSSL_cleanse(b->data, b->cap);
    free(b->data);
  }
  o365_buf_init(b);
}

static int buf_reserve(o365_buf *b, size_t extra) {
  if (b->oom)
    return -1;
  if (b->len + extra + 1 <= b->cap)
    return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + extra + 1) {
    if (cap > SIZE_MAX / 2) {
      b->oom = 1;
      return -1;
    }
    cap *= 2;
  }
  /* Not realloc: the old block may hold a token, so it is wiped first. */
  char *p = malloc(cap);
  if (p == NULL) {
    b->oom = 1;
    return -1;
  }
  if (b->data != NULL) {
    memcpy(p, b->data, b->len + 1);
    OPENSSL_cleanse(b->data, b->cap);
    free(b->data);
  } else {
    p[0] = '\0';
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

void o365_buf_putn(o365_buf *b, const char *s, size_t n) {
  if (buf_reserve(b, n) != 0)
    return;
  memcpy(b->data + b->len, s, n);
  b->len += n;
  b->data[b->len] = '\0';
}

void o365_buf_put(o365_buf *b, const char *s) {
  o365_buf_putn(b, s, strlen(s));
}

void o365_buf_printf(o365_buf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0 || buf_reserve(b, (size_t)n) != 0) {
    b->oom = 1;
    return;
  }
  va_start(ap, fmt);
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

void o365_buf_pct(o365_buf *b, const char *s) {
  static const char hex[] = "0123456789ABCDEF";
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (unreserved(*p)) {
      o365_buf_putn(b, (const char *)p, 1);
    } else {
      char esc[3] = {'%', hex[*p >> 4], hex[*p & 15]};
      o365_buf_putn(b, esc, 3);
    }
  }
}

void o365_buf_seg(o365_buf *b, const char *segment) {
  o365_buf_put(b, "/");
  o365_buf_pct(b, segment);
}

void o365_buf_query(o365_buf *b, const char *name, const char *value) {
  int has_q = b->data != NULL && strchr(b->data, '?') != NULL;
  o365_buf_put(b, has_q ? "&" : "?");
  o365_buf_put(b, name);
  o365_buf_put(b, "=");
  o365_buf_pct(b, value);
}

void o365_buf_form(o365_buf *b, const char *name, const char *value) {
  if (b->len > 0)
    o365_buf_put(b, "&");
  o365_buf_put(b, name);
  o365_buf_put(b, "=");
  o365_buf_pct(b, value);
}

char *o365_buf_take(o365_buf *b) {
  if (b->oom) {
    o365_buf_free(b);
    return NULL;
  }
  char *s = b->data;
  if (s == NULL)
    s = calloc(1, 1);
  o365_buf_init(b);
  return s;
}

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t o365_b64url_encode(const uint8_t *in, size_t n, char *out,
                          size_t outsz) {
  size_t need = (n + 2) / 3 * 4 + 1;
  if (outsz < need)
    return 0;
  size_t o = 0;
  size_t i = 0;
  for (; i + 3 <= n; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = b64url_alphabet[v >> 18];
    out[o++] = b64url_alphabet[(v >> 12) & 63];
    out[o++] = b64url_alphabet[(v >> 6) & 63];
    out[o++] = b64url_alphabet[v & 63];
  }
  if (n - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = b64url_alphabet[v >> 18];
    out[o++] = b64url_alphabet[(v >> 12) & 63];
  } else if (n - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = b64url_alphabet[v >> 18];
    out[o++] = b64url_alphabet[(v >> 12) & 63];
    out[o++] = b64url_alphabet[(v >> 6) & 63];
  }
  out[o] = '\0';
  return o;
}

static int b64url_value(unsigned char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

int o365_b64url_decode(const char *in, size_t len, uint8_t **out,
                       size_t *outlen) {
  while (len > 0 && in[len - 1] == '=')
    len--;
  if (len % 4 == 1)
    return WFC_EINVAL;
  uint8_t *buf = malloc(len / 4 * 3 + 3 + 1);
  if (buf == NULL)
    return WFC_ENOMEM;
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  for (size_t i = 0; i < len; i++) {
    int v = b64url_value((unsigned char)in[i]);
    if (v < 0) {
      free(buf);
      return WFC_EINVAL;
    }
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      buf[o++] = (uint8_t)(acc >> bits);
    }
  }
  buf[o] = '\0';
  *out = buf;
  *outlen = o;
  return 0;
}

int o365_random_b64url(size_t nbytes, char *out, size_t outsz) {
  uint8_t raw[64];
  if (nbytes > sizeof raw || RAND_priv_bytes(raw, (int)nbytes) != 1)
    return WFC_EIO;
  size_t n = o365_b64url_encode(raw, nbytes, out, outsz);
  OPENSSL_cleanse(raw, sizeof raw);
  return n ? 0 : WFC_EINVAL;
}

int o365_pkce_challenge(const char *verifier, char *out, size_t outsz) {
  unsigned char md[32];
  size_t mdlen = 0;
  if (EVP_Q_digest(NULL, "SHA256", NULL, verifier, strlen(verifier), md,
                   &mdlen) != 1 ||
      mdlen != sizeof md)
    return WFC_EIO;
  return o365_b64url_encode(md, mdlen, out, outsz) ? 0 : WFC_EINVAL;
}

/* Random bytes for GUIDs, drawn from OpenSSL 32 GUIDs at a time: every
 * Graph request takes one (client-request-id), and a RAND_bytes call
 * costs about as much for 512 bytes as for 16. Per thread (a runtime runs
 * on one loop thread, several may share the plugin), and refilled in a
 * forked child so that parent and child never hand out the same ids. */
static _Thread_local struct {
  uint8_t bytes[512];
  size_t used; /* bytes handed out; sizeof bytes = empty */
  pid_t pid;
} guid_pool = {.used = sizeof guid_pool.bytes};

static int guid_bytes(uint8_t r[16]) {
  pid_t pid = getpid();
  if (guid_pool.used + 16 > sizeof guid_pool.bytes || guid_pool.pid != pid) {
    if (RAND_bytes(guid_pool.bytes, sizeof guid_pool.bytes) != 1)
      return WFC_EIO;
    guid_pool.used = 0;
    guid_pool.pid = pid;
  }
  memcpy(r, guid_pool.bytes + guid_pool.used, 16);
  /* Handed-out bytes are not kept. */
  OPENSSL_cleanse(guid_pool.bytes + guid_pool.used, 16);
  guid_pool.used += 16;
  return 0;
}

int o365_guid(char out[37]) {
  uint8_t r[16];
  if (guid_bytes(r) != 0)
    return WFC_EIO;
  r[6] = (uint8_t)((r[6] & 0x0f) | 0x40);
  r[8] = (uint8_t)((r[8] & 0x3f) | 0x80);
  /* Every Graph request carries one (client-request-id): written by hand,
   * snprintf of 16 "%02x" cost as much as the random bytes. */
  static const char hex[] = "0123456789abcdef";
  char *p = out;
  for (size_t i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10)
      *p++ = '-';
    *p++ = hex[r[i] >> 4];
    *p++ = hex[r[i] & 15];
  }
  *p = '\0';
  return 0;
}

uint32_t o365_random_below(uint32_t bound) {
  uint32_t v = 0;
  if (bound == 0)
    return 0;
  if (RAND_bytes((unsigned char *)&v, sizeof v) != 1)
    return 0;
  return v % bound;
}

int o365_secret_equal(const char *a, const char *b) {
  if (a == NULL || b == NULL)
    return 0;
  size_t la = strlen(a);
  size_t lb = strlen(b);
  if (la != lb) {
    /* Same work as a real comparison, so the length test is the only
     * observable difference (and lengths are not secret here). */
    (void)CRYPTO_memcmp(a, a, la);
    return 0;
  }
  return CRYPTO_memcmp(a, b, la) == 0;
}

const char *o365_json_str(struct json_object *o, const char *key) {
  struct json_object *v = NULL;
  if (o == NULL || !json_object_is_type(o, json_type_object) ||
      !json_object_object_get_ex(o, key, &v) ||
      !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

int o365_json_int64(struct json_object *o, const char *key, int64_t *out) {
  struct json_object *v = NULL;
  if (o == NULL || !json_object_object_get_ex(o, key, &v))
    return WFC_EINVAL;
  return o365_json_to_int64(v, out);
}

int o365_json_to_int64(struct json_object *v, int64_t *out) {
  if (v == NULL)
    return WFC_EINVAL;
  if (json_object_is_type(v, json_type_int)) {
    *out = json_object_get_int64(v);
    return 0;
  }
  if (json_object_is_type(v, json_type_string)) {
    const char *s = json_object_get_string(v);
    char *end = NULL;
    errno = 0;
    long long n = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
      return WFC_EINVAL;
    *out = n;
    return 0;
  }
  return WFC_EINVAL;
}

static void json_cleanse(struct json_object *o);

/* json-c's delete hook of a secret tree's root: runs before the members
 * are released. */
static void cleanse_on_delete(struct json_object *o, void *userdata) {
  (void)userdata;
  json_cleanse(o);
}

/* The tokener of the last parse, kept for the next one: making one (the
 * tokener, its stack and its string buffer grown by realloc) cost about as
 * much as a listing's output. Plugins run on the loop thread only. A
 * secret body gets a tokener of its own (its buffer is sized once and
 * cleansed), and one whose buffer grew past TOK_KEEP is not kept. */
#define TOK_KEEP 65536
static struct json_tokener *kept_tok;

void o365_json_parse_release(void) {
  if (kept_tok != NULL) /* json-c's free takes no NULL */
    json_tokener_free(kept_tok);
  kept_tok = NULL;
}

static struct json_object *json_parse(const char *body, size_t len,
                                      int secret) {
  if (body == NULL || len == 0 || len >= INT32_MAX)
    return NULL;
  struct json_tokener *tok = secret ? NULL : kept_tok;
  if (tok != NULL) {
    kept_tok = NULL;
    json_tokener_reset(tok);
  } else if ((tok = json_tokener_new_ex(32)) == NULL) {
    return NULL;
  } else {
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
  }
  /* The tokener gathers each string in its printbuf, which grows by
   * realloc: sized for the whole body, it never moves. */
  if (secret && printbuf_memset(tok->pb, 0, 0, (int)len + 1) < 0) {
    json_tokener_free(tok);
    return NULL;
  }
  if (secret)
    printbuf_reset(tok->pb);
  struct json_object *o = json_tokener_parse_ex(tok, body, (int)len);
  enum json_tokener_error err = json_tokener_get_error(tok);
  size_t used = json_tokener_get_parse_end(tok);
  if (secret)
    OPENSSL_cleanse(tok->pb->buf, (size_t)tok->pb->size);
  if (!secret && kept_tok == NULL && tok->pb->size <= TOK_KEEP)
    kept_tok = tok;
  else
    json_tokener_free(tok);
  if (secret && o != NULL)
    json_object_set_userdata(o, NULL, cleanse_on_delete);
  if (o != NULL && err == json_tokener_success) {
    /* Trailing bytes other than whitespace mean a malformed body. */
    for (size_t i = used; i < len && o != NULL; i++)
      if (body[i] != ' ' && body[i] != '\n' && body[i] != '\r' &&
          body[i] != '\t')
        err = json_tokener_error_parse_unexpected;
  }
  if (o == NULL || err != json_tokener_success) {
    json_object_put(o);
    return NULL;
  }
  return o;
}

struct json_object *o365_json_parse(const char *body, size_t len) {
  return json_parse(body, len, 0);
}

struct json_object *o365_json_parse_secret(const char *body, size_t len) {
  return json_parse(body, len, 1);
}

static void json_cleanse(struct json_object *o) {
  switch (json_object_get_type(o)) {
  case json_type_object: {
    json_object_object_foreach(o, k, v) {
      (void)k;
      json_cleanse(v);
    }
    break;
  }
  case json_type_array:
    for (size_t i = 0; i < json_object_array_length(o); i++)
      json_cleanse(json_object_array_get_idx(o, i));
    break;
  case json_type_string:
    OPENSSL_cleanse((void *)json_object_get_string(o),
                    (size_t)json_object_get_string_len(o));
    break;
  default:
    break;
  }
}

/* Interned member names. json-c's JSON_C_OBJECT_ADD_CONSTANT_KEY keeps
 * the name's pointer instead of a strdup'ed copy; but an output may outlive
 * the plugin (the CLI prints an error's detail after the runtime closed and
 * unloaded it; docs/abi.md lets an embedder keep an outcome with
 * json_object_get), so the pointer cannot be the literal in our image. Each
 * static name is copied once into memory mapped for the rest of the
 * process (never unmapped, so valid after dlclose, and no leak to a
 * checker: a mapping is not a heap block), and found again by the
 * literal's address. Only the loop thread builds outputs (one runtime per
 * process). A reload maps afresh: a few KB per load. */
#define NAME_SLOTS 1024 /* power of two; half full at most */
#define NAME_ARENA (64 * 1024)
typedef struct name_slot {
  const char *key;     /* the static name (our image) */
  const char *copy;    /* its process-lifetime copy */
  lh_hash_fn *hash_fn; /* json-c's hash of copy by that function: */
  unsigned long hash;  /* computed once instead of at every add */
} name_slot;
static struct {
  name_slot slot[NAME_SLOTS];
  size_t used;
  char *arena; /* current mapping */
  size_t arena_used;
} names;

/* The slot of static name key, or NULL (full, no memory: the caller
 * copies the name the usual way). */
static name_slot *name_interned(const char *key) {
  uintptr_t h = (uintptr_t)key;
  h = (h >> 3) * (uintptr_t)0x9E3779B97F4A7C15u;
  size_t i = (size_t)(h >> 20) & (NAME_SLOTS - 1);
  while (names.slot[i].key != NULL) {
    if (names.slot[i].key == key)
      return &names.slot[i];
    i = (i + 1) & (NAME_SLOTS - 1);
  }
  size_t n = strlen(key) + 1;
  if (names.used >= NAME_SLOTS / 2 || n > 256)
    return NULL;
  if (names.arena == NULL || names.arena_used + n > NAME_ARENA) {
    void *m = mmap(NULL, NAME_ARENA, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
      return NULL;
    names.arena = m;
    names.arena_used = 0;
  }
  char *c = names.arena + names.arena_used;
  memcpy(c, key, n);
  names.arena_used += n;
  names.slot[i] = (name_slot){.key = key, .copy = c};
  names.used++;
  return &names.slot[i];
}

/* Inserts v (transfer) into t under the slot's name, known not to be in
 * t, with the hash json-c would compute (kept per hash function: json-c's
 * string hash is seeded once per process, and a host may choose another
 * one with json_global_set_string_hash). */
static void slot_insert(struct lh_table *t, name_slot *s,
                        struct json_object *v) {
  if (s->hash_fn != t->hash_fn) {
    s->hash_fn = t->hash_fn;
    s->hash = lh_get_hash(t, s->copy);
  }
  if (lh_table_insert_w_hash(t, s->copy, v, s->hash,
                             JSON_C_OBJECT_ADD_CONSTANT_KEY) != 0)
    json_object_put(v);
}

/* Adds v under the slot's name: json_object_object_add_ex without hashing
 * the name again, the same lookup-or-insert through json-c's public
 * linkhash API. */
static void add_slot(struct json_object *o, name_slot *s, struct json_object *v,
                     unsigned opts) {
  struct lh_table *t = json_object_get_object(o);
  if (t == NULL || o == v) {
    json_object_put(v);
    return;
  }
  if (!(opts & JSON_C_OBJECT_ADD_KEY_IS_NEW)) {
    if (s->hash_fn != t->hash_fn) {
      s->hash_fn = t->hash_fn;
      s->hash = lh_get_hash(t, s->copy);
    }
    struct lh_entry *e = lh_table_lookup_entry_w_hash(t, s->copy, s->hash);
    if (e != NULL) {
      json_object_put((struct json_object *)lh_entry_v(e));
      lh_entry_set_val(e, v);
      return;
    }
  }
  slot_insert(t, s, v);
}

static void add_named(struct json_object *o, const char *key,
                      struct json_object *v, unsigned opts) {
  name_slot *s = name_interned(key);
  if (s != NULL)
    add_slot(o, s, v, opts);
  else
    json_object_object_add_ex(o, key, v, opts);
}

void o365_json_add_names(struct json_object *o, o365_json_names *set,
                         struct json_object *const *vals) {
  if (!set->ready) {
    for (size_t i = 0; i < O365_JSON_NAMES_MAX && set->keys[i]; i++)
      set->slots[i] = name_interned(set->keys[i]);
    set->ready = 1;
  }
  struct lh_table *t = json_object_get_object(o);
  for (size_t i = 0; i < O365_JSON_NAMES_MAX && set->keys[i]; i++) {
    struct json_object *v = vals[i];
    if (v == NULL)
      continue;
    if (t == NULL || o == v)
      json_object_put(v);
    else if (set->slots[i] != NULL)
      slot_insert(t, set->slots[i], v);
    else /* not interned (no memory): the usual copy */
      json_object_object_add_ex(o, set->keys[i], v,
                                JSON_C_OBJECT_ADD_KEY_IS_NEW);
  }
}

void o365_json_add_static(struct json_object *o, const char *key,
                          struct json_object *v) {
  add_named(o, key, v, 0);
}

void o365_json_add_new(struct json_object *o, const char *key,
                       struct json_object *v) {
  add_named(o, key, v, JSON_C_OBJECT_ADD_KEY_IS_NEW);
}

void o365_json_add_str(struct json_object *o, const char *key,
                       const char *value) {
  if (value != NULL)
    o365_json_add_static(o, key, json_object_new_string(value));
}

int64_t o365_retry_after_ms(const char *value, int64_t now_ms) {
  if (value == NULL)
    return -1;
  while (*value == ' ' || *value == '\t')
    value++;
  if (*value >= '0' && *value <= '9') {
    char *end = NULL;
    errno = 0;
    long long secs = strtoll(value, &end, 10);
    while (*end == ' ' || *end == '\t')
      end++;
    if (errno != 0 || *end != '\0' || secs < 0 || secs > 86400 * 365)
      return -1;
    return (int64_t)secs * 1000;
  }
  /* IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
  struct tm tm;
  memset(&tm, 0, sizeof tm);
  const char *end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == NULL || *end != '\0')
    return -1;
  time_t t = timegm(&tm);
  if (t == (time_t)-1)
    return -1;
  int64_t delta = (int64_t)t * 1000 - now_ms;
  return delta > 0 ? delta : 0;
}

int o365_strlcpy(char *out, const char *s, size_t outsz) {
  if (outsz == 0)
    return -1;
  if (s == NULL)
    s = "";
  size_t n = strlen(s);
  if (n >= outsz) {
    memcpy(out, s, outsz - 1);
    out[outsz - 1] = '\0';
    return -1;
  }
  memcpy(out, s, n + 1);
  return 0;
}

void o365_time_iso(int64_t ms, char *out, size_t outsz) {
  time_t t = (time_t)(ms / 1000);
  struct tm u;
  gmtime_r(&t, &u);
  if (strftime(out, outsz, "%Y-%m-%dT%H:%M:%SZ", &u) == 0 && outsz > 0)
    out[0] = '\0';
}

struct json_object *o365_json_dttz(const char *s, const char *tz,
                                   long long *epoch) {
  struct tm tm = {0};
  int n = 0;
  if (s == NULL ||
      sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon,
             &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 ||
      n != 19 || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
      tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60)
    return NULL;
  const char *p = s + n;
  if (*p == '.') {
    p++;
    if (!isdigit((unsigned char)*p))
      return NULL;
    while (isdigit((unsigned char)*p))
      p++;
  }
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  int mday = tm.tm_mday;
  time_t t = timegm(&tm); /* normalises tm: a day past the month's end */
  if (tm.tm_mday != mday)
    return NULL;
  int zoned = 0;
  if (*p == 'Z' || *p == 'z') {
    zoned = 1;
    p++;
  } else if (*p == '+' || *p == '-') {
    if (!isdigit((unsigned char)p[1]) || !isdigit((unsigned char)p[2]) ||
        p[3] != ':' || !isdigit((unsigned char)p[4]) ||
        !isdigit((unsigned char)p[5]))
      return NULL;
    int hh = (p[1] - '0') * 10 + (p[2] - '0');
    int mm = (p[4] - '0') * 10 + (p[5] - '0');
    if (hh > 23 || mm > 59)
      return NULL;
    long off = (hh * 3600L + mm * 60L) * (*p == '+' ? 1 : -1);
    t -= off;
    zoned = 1;
    p += 6;
  }
  if (*p != '\0')
    return NULL;
  struct tm u;
  gmtime_r(&t, &u);
  char buf[32];
  strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &u);
  struct json_object *o = json_object_new_object();
  o365_json_add_str(o, "dateTime", buf);
  o365_json_add_str(o, "timeZone", zoned || tz == NULL ? "UTC" : tz);
  if (epoch != NULL)
    *epoch = (long long)t;
  return o;
}
