/* Fuzz target for the emulator core's parsers of outside input: percent-
 * decoding, query/form pairs, base64, ISO 8601 times and tenant documents.
 * Properties are checked with abort(). Runs under ctest through
 * tests/fuzz/driver.c with corpus tests/fuzz/corpus/fuzz_emu_parsers.
 * */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core.h"

#define CHECK(c)                                                               \
  do {                                                                         \
    if (!(c))                                                                  \
      abort();                                                                 \
  } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void url_decode(const char *s, size_t n) {
  char *d = strdup(s);
  ssize_t k = emu_url_decode(d, 1);
  if (k >= 0) {
    CHECK((size_t)k <= n);
    CHECK(strlen(d) == (size_t)k); /* no NUL smuggled in */
  }
  free(d);
  /* Round trip: decode(encode(s)) == s. */
  char *e = emu_url_encode(s);
  CHECK(e != NULL);
  CHECK(strspn(e, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                  "0123456789-._~%") == strlen(e));
  CHECK(emu_url_decode(e, 0) == (ssize_t)n);
  CHECK(strcmp(e, s) == 0);
  free(e);
}

static void pairs(const char *s, size_t n) {
  emu_kvv kv;
  size_t amps = 0;
  for (size_t i = 0; i < n; i++)
    amps += s[i] == '&';
  emu__kvv_parse(&kv, s, n);
  CHECK(kv.n <= amps + 1);
  for (size_t i = 0; i < kv.n; i++) {
    CHECK(kv.v[i].name && kv.v[i].value);
    CHECK(strlen(kv.v[i].name) <= n && strlen(kv.v[i].value) <= n);
    CHECK(emu__kvv_get(&kv, kv.v[i].name) != NULL);
  }
  emu__kvv_free(&kv);
}

static void base64(const uint8_t *data, size_t size, const char *s) {
  char *a = emu_b64_encode(data, size), *b = emu_b64url_encode(data, size);
  CHECK(a && b);
  size_t la = 0, lb = 0;
  unsigned char *da = emu_b64_decode(a, &la), *db = emu_b64_decode(b, &lb);
  CHECK(da && db && la == size && lb == size);
  CHECK(size == 0 ||
        (memcmp(da, data, size) == 0 && memcmp(db, data, size) == 0));
  free(a);
  free(b);
  free(da);
  free(db);
  size_t ln = 0;
  unsigned char *dx = emu_b64_decode(s, &ln);
  if (dx)
    CHECK(ln <= strlen(s));
  free(dx);
}

static void times(const char *s) {
  int64_t ms;
  if (emu_parse_iso8601(s, &ms) != 0)
    return;
  /* What we print we parse back to the same second. */
  char out[32];
  int64_t sec = ms - (((ms % 1000) + 1000) % 1000);
  if (sec < 0 || sec > 253402300799000LL) /* years 1970..9999 */
    return;
  emu_fmt_iso8601(sec, out);
  int64_t back;
  CHECK(emu_parse_iso8601(out, &back) == 0);
  CHECK(back == sec);
}

static void tenant_doc(const char *s) {
  json_object *doc = json_tokener_parse(s);
  char err[256];
  if (doc == NULL)
    return;
  if (emu_tenant_load(doc, err, sizeof err) != 0) {
    CHECK(err[0] != '\0'); /* a refusal always says why */
    return;
  }
  emu_tenant *t = emu_tenant_get();
  CHECK(t && t->id && t->domain);
  for (size_t i = 0; i < t->nusers; i++) {
    CHECK(t->users[i].id && t->users[i].upn && t->users[i].mail);
    CHECK(emu_user_find(t->users[i].upn) != NULL);
    CHECK(t->users[i].shared == (t->users[i].password == NULL));
  }
  for (size_t i = 0; i < t->napps; i++) {
    CHECK(emu_app_find(t->apps[i].client_id) != NULL);
    CHECK(t->apps[i].public_client == (t->apps[i].client_secret == NULL));
  }
  CHECK(emu_tenant_reload() == 0);
  emu_tenant_shutdown();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s = malloc(size + 1);
  if (s == NULL)
    return 0;
  memcpy(s, data, size);
  s[size] = '\0';
  size_t n = strlen(s); /* up to the first NUL */
  url_decode(s, n);
  pairs(s, n);
  base64(data, size, s);
  times(s);
  tenant_doc(s);
  free(s);
  return 0;
}
