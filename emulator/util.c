/* util.c - small helpers every emulator module uses: ids, randomness,
 * base64, percent-encoding, time formats. */
#define _GNU_SOURCE /* vasprintf, gmtime_r, timegm, strcasecmp, strndup */
#include "core.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

/* Under --seed the emulator is reproducible: ids, codes and tokens come from
 * a seeded generator (splitmix64) instead of OpenSSL. Tests only. */
static pthread_mutex_t rng_mu = PTHREAD_MUTEX_INITIALIZER;
static int rng_seeded;
static uint64_t rng_state;

void emu__seed(uint64_t seed) {
  pthread_mutex_lock(&rng_mu);
  rng_seeded = 1;
  rng_state = seed;
  pthread_mutex_unlock(&rng_mu);
}

static uint64_t splitmix64(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void emu_random_bytes(void *buf, size_t n) {
  unsigned char *p = buf;
  pthread_mutex_lock(&rng_mu);
  if (rng_seeded) {
    while (n > 0) {
      uint64_t x = splitmix64();
      size_t k = n < 8 ? n : 8;
      memcpy(p, &x, k);
      p += k;
      n -= k;
    }
    pthread_mutex_unlock(&rng_mu);
    return;
  }
  pthread_mutex_unlock(&rng_mu);
  if (RAND_bytes(p, (int)n) != 1) {
    fprintf(stderr, "m365-emulator: RAND_bytes failed\n");
    abort();
  }
}

void emu_uuid(char out[37]) {
  unsigned char b[16];
  emu_random_bytes(b, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
           "%02x%02x%02x%02x%02x%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
           b[11], b[12], b[13], b[14], b[15]);
}

static const char b64std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static char *b64_encode(const void *data, size_t len, const char *alpha,
                        int pad) {
  const unsigned char *p = data;
  char *out = malloc((len + 2) / 3 * 4 + 1);
  size_t o = 0, i = 0;
  if (out == NULL)
    return NULL;
  for (; i + 2 < len; i += 3) {
    uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
    out[o++] = alpha[v >> 18 & 63];
    out[o++] = alpha[v >> 12 & 63];
    out[o++] = alpha[v >> 6 & 63];
    out[o++] = alpha[v & 63];
  }
  if (i < len) {
    uint32_t v = (uint32_t)p[i] << 16;
    if (i + 1 < len)
      v |= (uint32_t)p[i + 1] << 8;
    out[o++] = alpha[v >> 18 & 63];
    out[o++] = alpha[v >> 12 & 63];
    if (i + 1 < len)
      out[o++] = alpha[v >> 6 & 63];
    else if (pad)
      out[o++] = '=';
    if (pad)
      out[o++] = '=';
  }
  out[o] = '\0';
  return out;
}

char *emu_b64url_encode(const void *data, size_t len) {
  return b64_encode(data, len, b64url, 0);
}

char *emu_b64_encode(const void *data, size_t len) {
  return b64_encode(data, len, b64std, 1);
}

static int b64_val(int c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '+' || c == '-')
    return 62;
  if (c == '/' || c == '_')
    return 63;
  return -1;
}

unsigned char *emu_b64_decode(const char *s, size_t *out_len) {
  size_t n = strlen(s);
  while (n > 0 && s[n - 1] == '=')
    n--;
  if (n % 4 == 1)
    return NULL;
  unsigned char *out = malloc(n / 4 * 3 + 3);
  size_t o = 0;
  uint32_t acc = 0;
  int bits = 0;
  if (out == NULL)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    int v = b64_val((unsigned char)s[i]);
    if (v < 0) {
      free(out);
      return NULL;
    }
    acc = acc << 6 | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (unsigned char)(acc >> bits & 0xff);
    }
  }
  if (out_len)
    *out_len = o;
  return out;
}

char *emu_random_token(size_t n) {
  unsigned char buf[256];
  if (n > sizeof buf)
    n = sizeof buf;
  emu_random_bytes(buf, n);
  return emu_b64url_encode(buf, n);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

ssize_t emu_url_decode(char *s, int plus_is_space) {
  char *w = s;
  for (const char *p = s; *p; p++) {
    if (*p == '%') {
      int hi = hexval((unsigned char)p[1]);
      int lo = hi < 0 ? -1 : hexval((unsigned char)p[2]);
      if (lo < 0 || (hi == 0 && lo == 0))
        return -1;
      *w++ = (char)(hi << 4 | lo);
      p += 2;
    } else if (*p == '+' && plus_is_space) {
      *w++ = ' ';
    } else {
      *w++ = *p;
    }
  }
  *w = '\0';
  return w - s;
}

char *emu_url_encode(const char *s) {
  size_t n = strlen(s);
  char *out = malloc(n * 3 + 1);
  char *w = out;
  if (out == NULL)
    return NULL;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (isalnum(*p) || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
      *w++ = (char)*p;
    } else {
      static const char hex[] = "0123456789ABCDEF";
      *w++ = '%';
      *w++ = hex[*p >> 4];
      *w++ = hex[*p & 15];
    }
  }
  *w = '\0';
  return out;
}

static void to_tm(int64_t ms, struct tm *tm) {
  time_t t = (time_t)(ms / 1000);
  gmtime_r(&t, tm);
}

void emu_fmt_iso8601(int64_t ms, char out[32]) {
  struct tm tm;
  to_tm(ms, &tm);
  strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void emu_fmt_id_timestamp(int64_t ms, char out[32]) {
  struct tm tm;
  to_tm(ms, &tm);
  strftime(out, 32, "%Y-%m-%d %H:%M:%SZ", &tm);
}

void emu_fmt_http_date(int64_t ms, char out[40]) {
  static const char *days[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char *mons[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                               "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  struct tm tm;
  to_tm(ms, &tm);
  /* Not strftime: %a/%b follow the locale, HTTP wants English names. */
  snprintf(out, 40, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
           tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
           tm.tm_min, tm.tm_sec);
}

static int digits(const char *s, int n, int *out) {
  int v = 0;
  for (int i = 0; i < n; i++) {
    if (!isdigit((unsigned char)s[i]))
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *out = v;
  return 0;
}

int emu_parse_iso8601(const char *s, int64_t *out_ms) {
  int y, mo, d, h, mi, sec, ms = 0;
  if (strlen(s) < 19 || digits(s, 4, &y) || s[4] != '-' ||
      digits(s + 5, 2, &mo) || s[7] != '-' || digits(s + 8, 2, &d) ||
      (s[10] != 'T' && s[10] != ' ') || digits(s + 11, 2, &h) || s[13] != ':' ||
      digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &sec))
    return -1;
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
    return -1;
  const char *p = s + 19;
  if (*p == '.') {
    int scale = 100;
    p++;
    if (!isdigit((unsigned char)*p))
      return -1;
    for (; isdigit((unsigned char)*p); p++) {
      ms += (*p - '0') * scale;
      scale /= 10;
    }
  }
  int64_t off = 0;
  if (*p == 'Z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
      return -1;
    off = (int64_t)(oh * 60 + om) * 60 * (*p == '+' ? 1 : -1);
    p += 6;
  }
  if (*p != '\0')
    return -1;
  struct tm tm = {0};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  time_t t = timegm(&tm);
  *out_ms = ((int64_t)t - off) * 1000 + ms;
  return 0;
}

int emu_secret_eq(const char *a, const char *b) {
  if (a == NULL || b == NULL)
    return 0;
  /* Compare digests so that the time depends on neither content nor the
   * length of the secret. */
  unsigned char da[32], db[32];
  unsigned int la = 0, lb = 0;
  EVP_Digest(a, strlen(a), da, &la, EVP_sha256(), NULL);
  EVP_Digest(b, strlen(b), db, &lb, EVP_sha256(), NULL);
  return la == 32 && lb == 32 && CRYPTO_memcmp(da, db, 32) == 0;
}

int emu_streq_ci(const char *a, const char *b) {
  return a != NULL && b != NULL && strcasecmp(a, b) == 0;
}

char *emu_strdup_printf(const char *fmt, ...) {
  va_list ap;
  char *out = NULL;
  va_start(ap, fmt);
  if (vasprintf(&out, fmt, ap) < 0)
    out = NULL;
  va_end(ap);
  return out;
}

/* ---- key=value&... decoding (query strings and form bodies) ---- */

void emu__kvv_parse(emu_kvv *out, const char *s, size_t len) {
  out->v = NULL;
  out->n = 0;
  size_t i = 0;
  while (i < len) {
    size_t j = i;
    while (j < len && s[j] != '&')
      j++;
    if (j > i) {
      const char *eq = memchr(s + i, '=', j - i);
      size_t klen = eq ? (size_t)(eq - (s + i)) : j - i;
      char *k = strndup(s + i, klen);
      char *v = eq ? strndup(eq + 1, (size_t)(s + j - eq - 1)) : strdup("");
      emu_kv *grown = realloc(out->v, (out->n + 1) * sizeof *out->v);
      if (k == NULL || v == NULL || grown == NULL || emu_url_decode(k, 1) < 0 ||
          emu_url_decode(v, 1) < 0) {
        /* A malformed pair is dropped, like the service ignores it. */
        free(k);
        free(v);
        if (grown)
          out->v = grown;
      } else {
        out->v = grown;
        out->v[out->n].name = k;
        out->v[out->n].value = v;
        out->n++;
      }
    }
    i = j + 1;
  }
}

void emu__kvv_free(emu_kvv *kv) {
  for (size_t i = 0; i < kv->n; i++) {
    free(kv->v[i].name);
    free(kv->v[i].value);
  }
  free(kv->v);
  kv->v = NULL;
  kv->n = 0;
}

const char *emu__kvv_get(const emu_kvv *kv, const char *name) {
  for (size_t i = 0; i < kv->n; i++)
    if (strcmp(kv->v[i].name, name) == 0)
      return kv->v[i].value;
  return NULL;
}
