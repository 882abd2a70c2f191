/* log.c - leveled logging to a sink, with secrets redacted. */
#define _GNU_SOURCE /* memmem, gmtime_r */
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdint.h>
#include <time.h>

#include <openssl/crypto.h>

#include "clock.h"
#include "secmem.h"
#include "wfc/error.h"

#define LOG_MSG_MAX (64 * 1024) /* longer messages are cut */
#define SECRET_MIN  4
#define REDACTED    "[REDACTED]"

typedef struct secret {
  char *value; /* copy in secret memory (secmem.h); owned here */
  size_t len;
  unsigned refs; /* plain registrations (wfc__log_secret) */
  unsigned held; /* holds (wfc__log_secret_hold); never 0 with refs 0 */
  uint64_t seq;  /* registration order */
  uint64_t key;  /* hash of the indexed bytes (key_of) */
  uint32_t next; /* index + 1 of the next in its bucket, 0: last */
  /* In the plain list (held 0: registered plainly only), oldest
   * registration first: index + 1 of the neighbours, 0: none. */
  uint32_t pprev, pnext;
} secret;

/* The index: a hash table of the secrets that grows with them, so that
 * finding one and redacting a record cost the same with 10 or 100,000
 * secrets (a record is scanned once, not once per secret: at each position
 * one or two lookups). A secret of WINDOW bytes or more is keyed by its
 * last WINDOW bytes, a shorter one by its first SECRET_MIN bytes. The end,
 * not the start: tokens of one issuer share long prefixes (every JWT of a
 * tenant starts with the same header, "eyJ0eXAiOiJKV1Qi..."), which would
 * put them all in one bucket, while their ends (a JWT's signature, an
 * opaque token's random part) differ. Bucket heads are index + 1. */
#define WINDOW      16
#define MIN_BUCKETS 1024
static uint32_t *heads; /* nheads entries, a power of two; NULL when empty */
static size_t nheads;
static size_t nshort; /* secrets shorter than WINDOW */

/* Guards secrets, the stats, the sink and the output order. */
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static secret *secrets;
static size_t nsecrets, capsecrets, nheld;
/* The plain list's ends (index + 1, 0: empty): the oldest plain-only
 * secret is evicted first, found without a walk of all of them. */
static uint32_t plain_head, plain_tail;
static uint64_t secret_seq, evicted;
static wfc__log_sink_fn sink_fn;
static void *sink_arg;
static wfc_log_sink host_sink_fn;
static void *host_sink_arg;

static atomic_int log_level = WFC_LOG_WARN;
static pthread_once_t level_once = PTHREAD_ONCE_INIT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const level_tags[] = {"ERROR", "WARN", "INFO", "DEBUG"};

/* Keys whose values are credentials wherever they appear. */
static const char *const secret_keys[] = {
    "access_token",  "refresh_token",    "id_token", "code", "code_verifier",
    "client_secret", "client_assertion", "password", NULL};

int wfc__log_level_parse(const char *name) {
  if (name == NULL)
    return -1;
  for (int i = 0; i < 4; i++)
    if (strcasecmp(name, level_names[i]) == 0)
      return i;
  return -1;
}

static void level_from_env(void) {
  int lv = wfc__log_level_parse(getenv("WFC_LOG"));

  if (lv >= 0)
    atomic_store(&log_level, lv);
}

void wfc__log_set_level(int level) {
  pthread_once(&level_once, level_from_env);
  if (level < WFC_LOG_ERROR)
    level = WFC_LOG_ERROR;
  if (level > WFC_LOG_DEBUG)
    level = WFC_LOG_DEBUG;
  atomic_store(&log_level, level);
}

int wfc__log_level(void) {
  pthread_once(&level_once, level_from_env);
  return atomic_load(&log_level);
}

void wfc__log_set_sink(wfc__log_sink_fn fn, void *arg) {
  pthread_mutex_lock(&log_mu);
  sink_fn = fn;
  sink_arg = fn != NULL ? arg : NULL;
  pthread_mutex_unlock(&log_mu);
}

void wfc__log_set_host_sink(wfc_log_sink fn, void *arg) {
  pthread_mutex_lock(&log_mu);
  host_sink_fn = fn;
  host_sink_arg = fn != NULL ? arg : NULL;
  pthread_mutex_unlock(&log_mu);
}

/* ---- secrets ------------------------------------------------------------ */

static void secret_free(secret *s) {
  wfc__secmem_free(s->value);
  s->value = NULL;
}

static uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

/* The key of the SECRET_MIN bytes at p (a short secret's start). */
static uint64_t key_short(const char *p) {
  uint32_t x;

  memcpy(&x, p, sizeof x);
  return mix64(x ^ 0x5851f42d4c957f2dull);
}

/* The key of the WINDOW bytes at p (a long secret's end). */
static uint64_t key_long(const char *p) {
  uint64_t a, b;

  memcpy(&a, p, sizeof a);
  memcpy(&b, p + 8, sizeof b);
  return mix64(a * 0x9e3779b97f4a7c15ull ^ mix64(b));
}

static uint64_t key_of(const char *value, size_t len) {
  return len >= WINDOW ? key_long(value + len - WINDOW) : key_short(value);
}

/* Caller holds log_mu; heads != NULL. */
static void index_link(size_t i) {
  size_t b = secrets[i].key & (nheads - 1);

  secrets[i].next = heads[b];
  heads[b] = (uint32_t)i + 1;
}

static void index_unlink(size_t i) {
  uint32_t *p = &heads[secrets[i].key & (nheads - 1)];

  while (*p != i + 1)
    p = &secrets[*p - 1].next;
  *p = secrets[i].next;
}

/* Caller holds log_mu. Makes room in the index for one more secret: at
 * most one per two buckets, so chains stay short. 0 or WFC_ENOMEM. */
static int index_reserve(void) {
  size_t want = nheads ? nheads : MIN_BUCKETS;
  uint32_t *n;

  while (want < 2 * (nsecrets + 1))
    want *= 2;
  if (want == nheads)
    return 0;
  n = calloc(want, sizeof *n);
  if (n == NULL)
    return WFC_ENOMEM;
  free(heads);
  heads = n;
  nheads = want;
  for (size_t i = 0; i < nsecrets; i++)
    index_link(i);
  return 0;
}

/* Caller holds log_mu. secrets[i] (held 0) goes to the plain list's end:
 * the newest plain registration. */
static void plain_append(size_t i) {
  secrets[i].pprev = plain_tail;
  secrets[i].pnext = 0;
  if (plain_tail != 0)
    secrets[plain_tail - 1].pnext = (uint32_t)i + 1;
  else
    plain_head = (uint32_t)i + 1;
  plain_tail = (uint32_t)i + 1;
}

/* Caller holds log_mu. secrets[i] (in the plain list) leaves it. */
static void plain_unlink(size_t i) {
  uint32_t p = secrets[i].pprev, n = secrets[i].pnext;

  if (p != 0)
    secrets[p - 1].pnext = n;
  else
    plain_head = n;
  if (n != 0)
    secrets[n - 1].pprev = p;
  else
    plain_tail = p;
}

/* Caller holds log_mu. A secret of the plain list was moved to
 * secrets[to]: its neighbours point there. */
static void plain_moved(size_t to) {
  uint32_t p = secrets[to].pprev, n = secrets[to].pnext;

  if (p != 0)
    secrets[p - 1].pnext = (uint32_t)to + 1;
  else
    plain_head = (uint32_t)to + 1;
  if (n != 0)
    secrets[n - 1].pprev = (uint32_t)to + 1;
  else
    plain_tail = (uint32_t)to + 1;
}

/* Caller holds log_mu. Removes secrets[i] (cleansed); the last one takes
 * its place. */
static void secret_remove(size_t i) {
  size_t last = nsecrets - 1;

  if (secrets[i].held > 0)
    nheld--;
  else
    plain_unlink(i);
  if (secrets[i].len < WINDOW)
    nshort--;
  index_unlink(i);
  secret_free(&secrets[i]);
  if (i != last) {
    index_unlink(last);
    secrets[i] = secrets[last];
    index_link(i);
    if (secrets[i].held == 0)
      plain_moved(i);
  }
  nsecrets--;
}

/* Caller holds log_mu and WFC_LOG_MAX_PLAIN plain-only secrets are
 * registered. The oldest of them goes: nobody would forget it (a plugin's
 * registration of a one-off value). Held ones (live tokens) never go. */
static void evict_oldest_plain(void) {
  if (plain_head != 0) {
    secret_remove(plain_head - 1);
    evicted++;
  }
}

/* Caller holds log_mu. The index of value (len >= SECRET_MIN), or
 * nsecrets. */
static size_t secret_find(const char *value, size_t len) {
  if (heads == NULL)
    return nsecrets;
  for (uint32_t k = heads[key_of(value, len) & (nheads - 1)]; k != 0;
       k = secrets[k - 1].next)
    if (secrets[k - 1].len == len &&
        memcmp(secrets[k - 1].value, value, len) == 0)
      return k - 1;
  return nsecrets;
}

/* One registration of value: a hold or a plain one. */
static int secret_add(const char *value, bool hold) {
  size_t len, i;
  char *copy;

  if (value == NULL)
    return WFC_EINVAL;
  len = strlen(value);
  if (len < SECRET_MIN)
    return WFC_EINVAL;

  pthread_mutex_lock(&log_mu);
  i = secret_find(value, len);
  if (i < nsecrets) {
    if (hold && secrets[i].held++ == 0) {
      nheld++;
      plain_unlink(i); /* held: never evicted */
    } else if (!hold) {
      secrets[i].refs++;
      if (secrets[i].held == 0) { /* the newest plain registration now */
        plain_unlink(i);
        plain_append(i);
      }
    }
    secrets[i].seq = ++secret_seq;
    pthread_mutex_unlock(&log_mu);
    return 0;
  }
  if (!hold && nsecrets - nheld >= WFC_LOG_MAX_PLAIN)
    evict_oldest_plain();
  if (index_reserve() != 0) {
    pthread_mutex_unlock(&log_mu);
    return WFC_ENOMEM;
  }
  if (nsecrets == capsecrets) {
    size_t ncap = capsecrets ? capsecrets * 2 : 16;
    secret *n = realloc(secrets, ncap * sizeof *n);
    if (n == NULL) {
      pthread_mutex_unlock(&log_mu);
      return WFC_ENOMEM;
    }
    secrets = n;
    capsecrets = ncap;
  }
  copy = wfc__secmem_strndup(value, len);
  if (copy == NULL) {
    pthread_mutex_unlock(&log_mu);
    return WFC_ENOMEM;
  }
  secrets[nsecrets] = (secret){
      copy, len, hold ? 0 : 1, hold ? 1 : 0, ++secret_seq, key_of(copy, len), 0,
      0,    0};
  index_link(nsecrets);
  if (!hold)
    plain_append(nsecrets);
  nsecrets++;
  if (hold)
    nheld++;
  if (len < WINDOW)
    nshort++;
  pthread_mutex_unlock(&log_mu);
  return 0;
}

int wfc__log_secret(const char *value) {
  return secret_add(value, false);
}

int wfc__log_secret_hold(const char *value) {
  return secret_add(value, true);
}

size_t wfc__log_secret_count(void) {
  size_t n;

  pthread_mutex_lock(&log_mu);
  n = nsecrets;
  pthread_mutex_unlock(&log_mu);
  return n;
}

void wfc__log_get_secret_stats(wfc__log_secret_stats *out) {
  pthread_mutex_lock(&log_mu);
  *out = (wfc__log_secret_stats){
      .count = nsecrets, .held = nheld, .evicted = evicted};
  for (size_t i = 0; CRYPTO_secure_malloc_initialized() && i < nsecrets; i++)
    if (CRYPTO_secure_allocated(secrets[i].value))
      out->in_secure_heap++;
  pthread_mutex_unlock(&log_mu);
}

/* Drops one registration of value: a hold or a plain one. */
static void secret_drop(const char *value, bool hold) {
  size_t i;

  if (value == NULL || strlen(value) < SECRET_MIN)
    return;
  pthread_mutex_lock(&log_mu);
  i = secret_find(value, strlen(value));
  if (i == nsecrets) {
    /* unknown: nothing to drop */
  } else if (hold && secrets[i].held == 1) {
    /* The last hold gone, the value is dead (rotated out, wiped): the
     * plain registrations of it go too, as nobody else would forget them. */
    secret_remove(i);
  } else if (hold && secrets[i].held > 1) {
    secrets[i].held--;
  } else if (!hold && secrets[i].refs > 0 && --secrets[i].refs == 0 &&
             secrets[i].held == 0) {
    secret_remove(i);
  }
  pthread_mutex_unlock(&log_mu);
}

void wfc__log_forget_secret(const char *value) {
  secret_drop(value, false);
}

void wfc__log_secret_release(const char *value) {
  secret_drop(value, true);
}

void wfc__log_forget_all(void) {
  pthread_mutex_lock(&log_mu);
  for (size_t i = 0; i < nsecrets; i++)
    secret_free(&secrets[i]);
  free(secrets);
  secrets = NULL;
  free(heads);
  heads = NULL;
  nsecrets = capsecrets = nheld = nheads = nshort = 0;
  plain_head = plain_tail = 0;
  evicted = 0;
  pthread_mutex_unlock(&log_mu);
}

/* ---- redaction ---------------------------------------------------------- */

static bool is_ident(unsigned char c) {
  return isalnum(c) || c == '_';
}

static bool is_token68(unsigned char c) {
  return isalnum(c) || strchr("-._~+/=", c) != NULL;
}

static void mask_range(bool *mask, size_t from, size_t to) {
  for (size_t i = from; i < to; i++)
    mask[i] = true;
}

/* "Bearer <token68>", any case. */
static void mask_bearer(const char *lower, size_t n, bool *mask) {
  const char *p = lower;

  while ((p = memmem(p, n - (size_t)(p - lower), "bearer", 6)) != NULL) {
    size_t at = (size_t)(p - lower), i = at + 6, start;

    p += 6;
    if (at > 0 && is_ident((unsigned char)lower[at - 1]))
      continue;
    if (i >= n || (lower[i] != ' ' && lower[i] != '\t'))
      continue;
    while (i < n && (lower[i] == ' ' || lower[i] == '\t'))
      i++;
    start = i;
    while (i < n && is_token68((unsigned char)lower[i]))
      i++;
    mask_range(mask, start, i);
  }
}

/* key=value (until a delimiter) and "key": "value" (until the closing
 * quote, escapes honoured). */
static void mask_key(const char *lower, size_t n, const char *key, bool *mask) {
  size_t klen = strlen(key);
  const char *p = lower;

  while ((p = memmem(p, n - (size_t)(p - lower), key, klen)) != NULL) {
    size_t at = (size_t)(p - lower), i = at + klen, start;

    p += klen;
    if (at > 0 && is_ident((unsigned char)lower[at - 1]))
      continue;
    if (i < n && lower[i] == '=') {
      start = ++i;
      while (i < n && strchr("&\"' \t\r\n,;)<>", lower[i]) == NULL)
        i++;
      mask_range(mask, start, i);
    } else if (i < n && lower[i] == '"') {
      i++;
      while (i < n && (lower[i] == ' ' || lower[i] == '\t'))
        i++;
      if (i >= n || lower[i] != ':')
        continue;
      i++;
      while (i < n && (lower[i] == ' ' || lower[i] == '\t'))
        i++;
      if (i >= n || lower[i] != '"')
        continue;
      start = ++i;
      while (i < n && lower[i] != '"') {
        if (lower[i] == '\\' && i + 1 < n)
          i++;
        i++;
      }
      mask_range(mask, start, i);
    }
  }
}

/* Caller holds log_mu. Returns a malloc'd copy of text[0..n) with every
 * masked run replaced by REDACTED and CR/LF turned into spaces. */
static char *redact_locked(const char *text, size_t n) {
  bool *mask = calloc(n + 1, sizeof *mask);
  char *lower = malloc(n + 1);
  char *out = NULL;
  size_t runs = 0, o = 0;

  if (mask == NULL || lower == NULL)
    goto done;
  for (size_t i = 0; i < n; i++)
    lower[i] = (char)tolower((unsigned char)text[i]);
  lower[n] = '\0';

  /* Every occurrence of every secret, overlapping ones included: at each
   * position i, the short secrets starting there and the long ones whose
   * last WINDOW bytes start there. */
  for (size_t i = 0; nsecrets > 0 && i + SECRET_MIN <= n; i++) {
    if (nshort > 0) {
      uint64_t key = key_short(text + i);
      for (uint32_t k = heads[key & (nheads - 1)]; k != 0;
           k = secrets[k - 1].next) {
        const secret *sec = &secrets[k - 1];
        if (sec->key == key && sec->len < WINDOW && sec->len <= n - i &&
            memcmp(text + i, sec->value, sec->len) == 0)
          mask_range(mask, i, i + sec->len);
      }
    }
    if (nsecrets > nshort && i + WINDOW <= n) {
      uint64_t key = key_long(text + i);
      size_t end = i + WINDOW;
      for (uint32_t k = heads[key & (nheads - 1)]; k != 0;
           k = secrets[k - 1].next) {
        const secret *sec = &secrets[k - 1];
        if (sec->key == key && sec->len >= WINDOW && sec->len <= end &&
            memcmp(text + end - sec->len, sec->value, sec->len) == 0)
          mask_range(mask, end - sec->len, end);
      }
    }
  }
  mask_bearer(lower, n, mask);
  for (size_t k = 0; secret_keys[k] != NULL; k++)
    mask_key(lower, n, secret_keys[k], mask);

  for (size_t i = 0; i < n; i++)
    if (mask[i] && (i == 0 || !mask[i - 1]))
      runs++;
  out = malloc(n + runs * (sizeof REDACTED - 1) + 1);
  if (out == NULL)
    goto done;
  for (size_t i = 0; i < n; i++) {
    if (mask[i]) {
      if (i == 0 || !mask[i - 1]) {
        memcpy(out + o, REDACTED, sizeof REDACTED - 1);
        o += sizeof REDACTED - 1;
      }
      continue;
    }
    out[o++] = (text[i] == '\r' || text[i] == '\n') ? ' ' : text[i];
  }
  out[o] = '\0';

done:
  if (lower != NULL)
    OPENSSL_cleanse(lower, n + 1);
  free(lower);
  free(mask);
  return out;
}

char *wfc__log_redact(const char *text) {
  char *out;

  if (text == NULL)
    return NULL;
  pthread_mutex_lock(&log_mu);
  out = redact_locked(text, strlen(text));
  pthread_mutex_unlock(&log_mu);
  return out;
}

/* ---- records ------------------------------------------------------------ */

static void stderr_sink(void *arg, int level, const char *line) {
  size_t n = strlen(line);
  char *buf = malloc(n + 1);

  (void)arg;
  (void)level;
  if (buf == NULL) {
    fprintf(stderr, "%s\n", line);
    return;
  }
  /* One write per record, so lines from processes sharing stderr do not
   * interleave mid-line. */
  memcpy(buf, line, n);
  buf[n] = '\n';
  fwrite(buf, 1, n + 1, stderr);
  fflush(stderr);
  free(buf);
}

void wfc__logv_module(int level, const char *module, const char *fmt,
                      va_list ap) {
  char stackbuf[1024], *msg = stackbuf, *line = NULL, *red = NULL;
  char stamp[64];
  struct tm tm;
  int64_t now;
  time_t secs;
  va_list ap2;
  int n;

  if (level < WFC_LOG_ERROR)
    level = WFC_LOG_ERROR;
  if (level > wfc__log_level())
    return;

  va_copy(ap2, ap);
  n = vsnprintf(stackbuf, sizeof stackbuf, fmt, ap);
  if (n < 0) {
    va_end(ap2);
    return;
  }
  if ((size_t)n >= sizeof stackbuf) {
    size_t cap = (size_t)n < LOG_MSG_MAX ? (size_t)n + 1 : LOG_MSG_MAX;
    msg = malloc(cap);
    if (msg == NULL) {
      va_end(ap2);
      return;
    }
    vsnprintf(msg, cap, fmt, ap2);
    n = (int)strlen(msg);
  }
  va_end(ap2);

  now = wfc__now_ms();
  if (now < 0)
    now = 0;
  secs = (time_t)(now / 1000);
  gmtime_r(&secs, &tm);
  snprintf(stamp, sizeof stamp, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ %s ",
           tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
           tm.tm_sec, (int)(now % 1000), level_tags[level]);

  pthread_mutex_lock(&log_mu);
  red = redact_locked(msg, (size_t)n);
  if (red != NULL && host_sink_fn != NULL) {
    /* The host's sink sees the redacted message only, like stderr. */
    host_sink_fn(host_sink_arg, level, module != NULL ? module : "wfc", red);
    free(red);
  } else if (red != NULL) {
    size_t sl = strlen(stamp), rl = strlen(red);
    line = malloc(sl + rl + 1);
    if (line != NULL) {
      memcpy(line, stamp, sl);
      memcpy(line + sl, red, rl + 1);
      (sink_fn != NULL ? sink_fn : stderr_sink)(sink_arg, level, line);
      free(line);
    }
    free(red);
  }
  pthread_mutex_unlock(&log_mu);

  /* The unredacted text held secrets. */
  OPENSSL_cleanse(msg, (size_t)n);
  if (msg != stackbuf)
    free(msg);
}

void wfc__logv(int level, const char *fmt, va_list ap) {
  wfc__logv_module(level, "wfc", fmt, ap);
}

void wfc__log(int level, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  wfc__logv(level, fmt, ap);
  va_end(ap);
}
