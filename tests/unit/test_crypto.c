/* sdk/crypto.c: codecs against RFC 4648, digests and MACs against their
 * RFC vectors, PKCE against RFC 7636 appendix B, and AES-256-GCM sealing
 * that refuses every wrong key, context or modified byte. */
#define _GNU_SOURCE /* memmem, strdup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto.h"
#include "secmem.h"

static void hex_to(const char *hex, uint8_t *out, size_t outsz, size_t *n) {
  assert_int_equal(wfc__hex_decode(hex, strlen(hex), out, outsz, n), 0);
}

/* RFC 4648 section 10. */
static const char *const rfc4648_plain[] = {"",     "f",     "fo",    "foo",
                                            "foob", "fooba", "foobar"};
static const char *const rfc4648_b64[] = {
    "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy"};
static const char *const rfc4648_b64url[] = {
    "", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
static const char *const rfc4648_hex[] = {
    "", "66", "666f", "666f6f", "666f6f62", "666f6f6261", "666f6f626172"};

static void test_base64_rfc4648_vectors(void **state) {
  (void)state;
  for (size_t i = 0; i < sizeof rfc4648_plain / sizeof *rfc4648_plain; i++) {
    const char *p = rfc4648_plain[i];
    char enc[32];
    uint8_t dec[32];
    size_t n = 99;

    assert_int_equal(wfc__base64_encode(p, strlen(p), enc, sizeof enc, &n), 0);
    assert_string_equal(enc, rfc4648_b64[i]);
    assert_int_equal(n, strlen(rfc4648_b64[i]));
    assert_true(WFC__B64_ENCLEN(strlen(p)) == n + 1);
    assert_int_equal(wfc__base64_decode(enc, n, dec, sizeof dec, &n), 0);
    assert_int_equal(n, strlen(p));
    assert_memory_equal(dec, p, n);

    assert_int_equal(wfc__base64url_encode(p, strlen(p), enc, sizeof enc, &n),
                     0);
    assert_string_equal(enc, rfc4648_b64url[i]);
    assert_true(WFC__B64URL_ENCLEN(strlen(p)) == n + 1);
    assert_int_equal(wfc__base64url_decode(enc, n, dec, sizeof dec, &n), 0);
    assert_int_equal(n, strlen(p));
    assert_memory_equal(dec, p, n);

    assert_int_equal(wfc__hex_encode(p, strlen(p), enc, sizeof enc), 0);
    assert_string_equal(enc, rfc4648_hex[i]);
  }
}

static void test_base64_alphabets(void **state) {
  static const uint8_t bytes[] = {0xfb, 0xff, 0xbf};
  char enc[16];
  uint8_t dec[8];
  size_t n;
  (void)state;

  assert_int_equal(wfc__base64_encode(bytes, 3, enc, sizeof enc, NULL), 0);
  assert_string_equal(enc, "+/+/");
  assert_int_equal(wfc__base64url_encode(bytes, 3, enc, sizeof enc, NULL), 0);
  assert_string_equal(enc, "-_-_");
  assert_int_equal(wfc__base64url_encode(bytes, 2, enc, sizeof enc, NULL), 0);
  assert_string_equal(enc, "-_8");
  /* Each alphabet refuses the other's two symbols. */
  assert_int_equal(wfc__base64_decode("-_-_", 4, dec, sizeof dec, &n),
                   WFC_EINVAL);
  assert_int_equal(wfc__base64url_decode("+/+/", 4, dec, sizeof dec, &n),
                   WFC_EINVAL);
  assert_int_equal(wfc__base64url_decode("-_-_", 4, dec, sizeof dec, &n), 0);
  assert_int_equal(n, 3);
  assert_memory_equal(dec, bytes, 3);
}

static void test_base64_strict_decoding(void **state) {
  static const char *const bad_std[] = {
      "Zg",       /* unpadded */
      "Zg=",      /* short quantum */
      "Zh==",     /* non-zero unused bits */
      "Zm9=",     /* non-zero unused bits */
      "Z===",     /* three pads */
      "====",     /* only padding */
      "Zg==Zg==", /* padding in the middle */
      "Zm 9v",    /* whitespace */
      "Zm9v\n",   /* trailing newline */
      "Zm9*",     /* outside the alphabet */
      "Zm9v\x80", /* high byte */
  };
  static const char *const bad_url[] = {"Zg==", "Z",     "Zh",   "Zm9",
                                        "Zm+v", "Zm9v=", "Zm\0v"};
  uint8_t dec[16];
  size_t n;
  (void)state;

  for (size_t i = 0; i < sizeof bad_std / sizeof *bad_std; i++)
    assert_int_equal(
        wfc__base64_decode(bad_std[i], strlen(bad_std[i]), dec, sizeof dec, &n),
        WFC_EINVAL);
  for (size_t i = 0; i < sizeof bad_url / sizeof *bad_url; i++) {
    size_t len = i == 6 ? 4 : strlen(bad_url[i]); /* embedded NUL */
    assert_int_equal(
        wfc__base64url_decode(bad_url[i], len, dec, sizeof dec, &n),
        WFC_EINVAL);
  }
  /* Buffers that are too small are refused, not overrun. */
  assert_int_equal(wfc__base64_decode("Zm9vYmFy", 8, dec, 5, &n), WFC_ETOOBIG);
  assert_int_equal(wfc__base64_decode("Zm9vYmFy", 8, dec, 6, &n), 0);
  {
    char enc[16];
    assert_int_equal(wfc__base64_encode("foobar", 6, enc, 8, &n), WFC_ETOOBIG);
    assert_int_equal(wfc__base64_encode("foobar", 6, enc, 9, &n), 0);
    assert_int_equal(wfc__base64url_encode("fooba", 5, enc, 7, &n),
                     WFC_ETOOBIG);
    assert_int_equal(wfc__hex_encode("abcd", 4, enc, 8), WFC_ETOOBIG);
  }
}

static void test_hex_strict(void **state) {
  uint8_t out[8];
  size_t n;
  (void)state;

  assert_int_equal(wfc__hex_decode("00fFaB", 6, out, sizeof out, &n), 0);
  assert_int_equal(n, 3);
  assert_int_equal(out[0], 0x00);
  assert_int_equal(out[1], 0xff);
  assert_int_equal(out[2], 0xab);
  assert_int_equal(wfc__hex_decode("abc", 3, out, sizeof out, &n), WFC_EINVAL);
  assert_int_equal(wfc__hex_decode("0g", 2, out, sizeof out, &n), WFC_EINVAL);
  assert_int_equal(wfc__hex_decode(" 0", 2, out, sizeof out, &n), WFC_EINVAL);
  assert_int_equal(wfc__hex_decode("0011", 4, out, 1, &n), WFC_ETOOBIG);
}

/* A deterministic stream of junk: decoders must never crash or read past
 * len, and whatever they accept must re-encode to exactly the input
 * (canonical, so one value has one spelling). */
static void test_decoders_total_and_canonical(void **state) {
  static const char alphabet[] = "AZaz09+/-_=\n \x80\xff";
  uint32_t x = 12345;
  (void)state;

  for (int iter = 0; iter < 20000; iter++) {
    size_t len = (size_t)(iter % 13);
    char *in = malloc(len ? len : 1); /* exact size: ASan catches overreads */
    uint8_t out[16];
    char re[32];
    size_t n;

    assert_non_null(in);
    for (size_t i = 0; i < len; i++) {
      x = x * 1103515245u + 12345u;
      in[i] = alphabet[(x >> 16) % (sizeof alphabet - 1)];
    }
    if (wfc__base64_decode(in, len, out, sizeof out, &n) == 0) {
      assert_int_equal(wfc__base64_encode(out, n, re, sizeof re, NULL), 0);
      assert_int_equal(strlen(re), len);
      assert_memory_equal(re, in, len);
    }
    if (wfc__base64url_decode(in, len, out, sizeof out, &n) == 0) {
      assert_int_equal(wfc__base64url_encode(out, n, re, sizeof re, NULL), 0);
      assert_int_equal(strlen(re), len);
      assert_memory_equal(re, in, len);
    }
    if (wfc__hex_decode(in, len, out, sizeof out, &n) == 0)
      assert_int_equal(n * 2, len);
    free(in);
  }
}

static void test_sha256_hmac_hkdf_vectors(void **state) {
  uint8_t d[WFC__SHA256_LEN], want[64], okm[42], ikm[22], salt[13], info[10];
  size_t n;
  (void)state;

  /* FIPS 180-2 "abc" and the empty string. */
  assert_int_equal(wfc__sha256("abc", 3, d), 0);
  hex_to("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
         want, sizeof want, &n);
  assert_memory_equal(d, want, 32);
  assert_int_equal(wfc__sha256(NULL, 0, d), 0);
  hex_to("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
         want, sizeof want, &n);
  assert_memory_equal(d, want, 32);

  /* RFC 4231 test case 2. */
  assert_int_equal(
      wfc__hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d), 0);
  hex_to("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
         want, sizeof want, &n);
  assert_memory_equal(d, want, 32);
  /* HMAC with an empty key is defined (and differs from SHA-256). */
  assert_int_equal(wfc__hmac_sha256(NULL, 0, "", 0, d), 0);
  hex_to("b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad",
         want, sizeof want, &n);
  assert_memory_equal(d, want, 32);

  /* RFC 5869 test case 1. */
  memset(ikm, 0x0b, sizeof ikm);
  for (size_t i = 0; i < sizeof salt; i++)
    salt[i] = (uint8_t)i;
  for (size_t i = 0; i < sizeof info; i++)
    info[i] = (uint8_t)(0xf0 + i);
  assert_int_equal(wfc__hkdf_sha256(ikm, sizeof ikm, salt, sizeof salt, info,
                                    sizeof info, okm, sizeof okm),
                   0);
  hex_to("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
         "34007208d5b887185865",
         want, sizeof want, &n);
  assert_int_equal(n, 42);
  assert_memory_equal(okm, want, 42);
  assert_int_equal(
      wfc__hkdf_sha256(ikm, sizeof ikm, NULL, 0, NULL, 0, okm, 255 * 32 + 1),
      WFC_ETOOBIG);
}

static void test_sha256_streaming(void **state) {
  uint8_t d[WFC__SHA256_LEN], want[32], chunk[1000];
  wfc__sha256_ctx *c;
  size_t n;
  (void)state;

  /* FIPS 180-2: one million 'a', fed in uneven pieces. */
  memset(chunk, 'a', sizeof chunk);
  assert_non_null(c = wfc__sha256_new());
  for (size_t done = 0, step = 1; done < 1000000; step = step % 997 + 1) {
    size_t k = step < 1000000 - done ? step : 1000000 - done;
    assert_int_equal(wfc__sha256_update(c, chunk, k), 0);
    done += k;
  }
  assert_int_equal(wfc__sha256_final(c, d), 0);
  hex_to("cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0",
         want, sizeof want, &n);
  assert_memory_equal(d, want, 32);
  /* Finished: no more input. */
  assert_int_equal(wfc__sha256_update(c, "x", 1), WFC_EINVAL);
  assert_int_equal(wfc__sha256_final(c, d), WFC_EINVAL);
  wfc__sha256_free(c);
  wfc__sha256_free(NULL);

  /* Same as the one-shot for "abc" split in two. */
  assert_non_null(c = wfc__sha256_new());
  assert_int_equal(wfc__sha256_update(c, "a", 1), 0);
  assert_int_equal(wfc__sha256_update(c, NULL, 0), 0);
  assert_int_equal(wfc__sha256_update(c, "bc", 2), 0);
  assert_int_equal(wfc__sha256_final(c, d), 0);
  wfc__sha256_free(c);
  assert_int_equal(wfc__sha256("abc", 3, want), 0);
  assert_memory_equal(d, want, 32);
}

static void test_pkce_rfc7636_appendix_b(void **state) {
  char ch[WFC__PKCE_CHALLENGE_LEN + 1];
  (void)state;

  assert_int_equal(wfc__pkce_challenge_s256(
                       "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", ch),
                   0);
  assert_string_equal(ch, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
  /* RFC 7636 4.1: 43..128 unreserved characters. */
  assert_int_equal(wfc__pkce_challenge_s256("short", ch), WFC_EINVAL);
  assert_int_equal(wfc__pkce_challenge_s256(
                       "dBjftJeZ4CVP+mB92K27uhbUJU1p1r_wW1gFWFOEjXk", ch),
                   WFC_EINVAL);
  {
    char v[130];
    memset(v, 'a', 129);
    v[129] = '\0';
    assert_int_equal(wfc__pkce_challenge_s256(v, ch), WFC_EINVAL);
    v[128] = '\0';
    assert_int_equal(wfc__pkce_challenge_s256(v, ch), 0);
  }
}

static void test_pkce_verifier(void **state) {
  char a[WFC__PKCE_VERIFIER_MAX + 1], b[WFC__PKCE_VERIFIER_MAX + 1];
  char ch[WFC__PKCE_CHALLENGE_LEN + 1];
  (void)state;

  assert_int_equal(wfc__pkce_verifier(a, 42), WFC_EINVAL);
  assert_int_equal(wfc__pkce_verifier(a, 129), WFC_EINVAL);
  for (size_t len = 43; len <= 128; len += 85) {
    assert_int_equal(wfc__pkce_verifier(a, len), 0);
    assert_int_equal(wfc__pkce_verifier(b, len), 0);
    assert_int_equal(strlen(a), len);
    assert_string_not_equal(a, b);
    /* Every character is one RFC 7636 allows: the challenge accepts it. */
    assert_int_equal(wfc__pkce_challenge_s256(a, ch), 0);
    assert_int_equal(strlen(ch), WFC__PKCE_CHALLENGE_LEN);
  }
}

static void test_ct_equal_and_random(void **state) {
  uint8_t r1[32], r2[32];
  (void)state;

  assert_true(wfc__ct_equal("abc", 3, "abc", 3));
  assert_false(wfc__ct_equal("abc", 3, "abd", 3));
  assert_false(wfc__ct_equal("abc", 3, "abcd", 4)); /* prefix is not equal */
  assert_false(wfc__ct_equal("abcd", 4, "abc", 3));
  assert_true(wfc__ct_equal(NULL, 0, "", 0));
  assert_false(wfc__ct_equal(NULL, 1, "a", 1));

  assert_int_equal(wfc__random(r1, sizeof r1), 0);
  assert_int_equal(wfc__random(r2, sizeof r2), 0);
  assert_memory_not_equal(r1, r2, sizeof r1);
  assert_int_equal(wfc__random(NULL, 0), 0);
  {
    char s1[WFC__B64URL_ENCLEN(32)], s2[WFC__B64URL_ENCLEN(32)];
    uint8_t back[32];
    size_t n;
    assert_int_equal(wfc__random_b64url(32, s1, sizeof s1), 0);
    assert_int_equal(wfc__random_b64url(32, s2, sizeof s2), 0);
    assert_int_equal(strlen(s1), 43);
    assert_string_not_equal(s1, s2);
    assert_int_equal(wfc__base64url_decode(s1, 43, back, sizeof back, &n), 0);
    assert_int_equal(n, 32);
    assert_int_equal(wfc__random_b64url(32, s1, 43), WFC_ETOOBIG);
  }
  wfc__cleanse(r1, sizeof r1);
  memset(r2, 0, sizeof r2);
  assert_memory_equal(r1, r2, sizeof r1);
  wfc__cleanse(NULL, 5);
  wfc__secret_free(NULL);
  wfc__secret_free(strdup("token"));
}

static const uint8_t key1[WFC__KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const uint8_t key2[WFC__KEY_LEN] = {1, 2, 3, 4, 5, 6, 7, 8, 10};
static const char aad1[] = "wfc-conn-v1|conn_0001|o365mail";

static void test_seal_roundtrip(void **state) {
  static const char secret[] = "{\"refresh_token\":\"0.AAAA-secret\"}";
  uint8_t *s1, *s2, *p;
  size_t n1, n2, pn;
  (void)state;

  assert_int_equal(
      wfc__seal(key1, aad1, strlen(aad1), secret, strlen(secret), &s1, &n1), 0);
  assert_int_equal(n1, strlen(secret) + WFC__SEAL_OVERHEAD);
  assert_int_equal(s1[0], WFC__SEAL_VERSION);
  assert_null(memmem(s1, n1, "refresh_token", 13));
  assert_int_equal(wfc__open(key1, aad1, strlen(aad1), s1, n1, &p, &pn), 0);
  assert_int_equal(pn, strlen(secret));
  assert_string_equal((char *)p, secret); /* NUL-terminated for text */
  wfc__secret_free((char *)p);

  /* Same key, same plaintext: a fresh IV makes every blob different. */
  assert_int_equal(
      wfc__seal(key1, aad1, strlen(aad1), secret, strlen(secret), &s2, &n2), 0);
  assert_int_equal(n1, n2);
  assert_memory_not_equal(s1 + 1, s2 + 1, WFC__SEAL_IV_LEN);
  assert_memory_not_equal(s1, s2, n1);
  free(s1);
  free(s2);

  /* Empty plaintext and empty AAD are fine. */
  assert_int_equal(wfc__seal(key1, NULL, 0, NULL, 0, &s1, &n1), 0);
  assert_int_equal(n1, WFC__SEAL_OVERHEAD);
  assert_int_equal(wfc__open(key1, NULL, 0, s1, n1, &p, &pn), 0);
  assert_int_equal(pn, 0);
  assert_string_equal((char *)p, "");
  /* The plaintext is in secret memory (excluded from core dumps). */
  assert_true(wfc__secmem_owns(p));
  wfc__secmem_free(p);
  free(s1);
}

static void test_open_refuses_wrong_key_context_and_tampering(void **state) {
  static const char secret[] = "access-token-canary";
  uint8_t *s, *p = (uint8_t *)"sentinel";
  size_t n, pn = 7;
  (void)state;

  assert_int_equal(
      wfc__seal(key1, aad1, strlen(aad1), secret, strlen(secret), &s, &n), 0);
  assert_int_equal(wfc__open(key2, aad1, strlen(aad1), s, n, &p, &pn),
                   WFC_EKEY);
  assert_null(p);
  assert_int_equal(pn, 0);
  /* A blob moved to another record (other id in the AAD) does not open. */
  assert_int_equal(wfc__open(key1, "wfc-conn-v1|conn_0002|o365mail",
                             strlen(aad1), s, n, &p, &pn),
                   WFC_EKEY);
  assert_int_equal(wfc__open(key1, NULL, 0, s, n, &p, &pn), WFC_EKEY);
  /* Every single modified byte, version, IV, ciphertext or tag, is caught. */
  for (size_t i = 0; i < n; i++) {
    s[i] ^= 0x01;
    assert_int_equal(wfc__open(key1, aad1, strlen(aad1), s, n, &p, &pn),
                     WFC_EKEY);
    assert_null(p);
    s[i] ^= 0x01;
  }
  /* Truncation and extension. */
  for (size_t len = 0; len < n; len++)
    assert_int_equal(wfc__open(key1, aad1, strlen(aad1), s, len, &p, &pn),
                     WFC_EKEY);
  {
    uint8_t *longer = malloc(n + 1);
    assert_non_null(longer);
    memcpy(longer, s, n);
    longer[n] = 0;
    assert_int_equal(
        wfc__open(key1, aad1, strlen(aad1), longer, n + 1, &p, &pn), WFC_EKEY);
    free(longer);
  }
  assert_int_equal(wfc__open(key1, aad1, strlen(aad1), s, n, &p, &pn), 0);
  wfc__secret_free((char *)p);
  free(s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_base64_rfc4648_vectors),
      cmocka_unit_test(test_base64_alphabets),
      cmocka_unit_test(test_base64_strict_decoding),
      cmocka_unit_test(test_hex_strict),
      cmocka_unit_test(test_decoders_total_and_canonical),
      cmocka_unit_test(test_sha256_hmac_hkdf_vectors),
      cmocka_unit_test(test_sha256_streaming),
      cmocka_unit_test(test_pkce_rfc7636_appendix_b),
      cmocka_unit_test(test_pkce_verifier),
      cmocka_unit_test(test_ct_equal_and_random),
      cmocka_unit_test(test_seal_roundtrip),
      cmocka_unit_test(test_open_refuses_wrong_key_context_and_tampering),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
