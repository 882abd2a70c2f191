/* crypto.c - the SDK's cryptography on OpenSSL 3 (see crypto.h).
 *
 * Nothing here touches OpenSSL's process-global configuration: algorithms
 * are fetched from the default library context, which the host owns. */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#define _DEFAULT_SOURCE         /* explicit_bzero */
#include "crypto.h"
#include "secmem.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

int wfc__random(void *buf, size_t len) {
  if (len == 0)
    return 0;
  if (buf == NULL || len > INT_MAX)
    return WFC_EINVAL;
  /* == 1, not > 0: RAND_* return -1 when unsupported. */
  if (RAND_priv_bytes(buf, (int)len) != 1)
    return WFC_EIO;
  return 0;
}

int wfc__random_b64url(size_t nbytes, char *out, size_t outsz) {
  uint8_t raw[256];
  int rc;

  if (out == NULL || nbytes == 0 || nbytes > sizeof raw)
    return WFC_EINVAL;
  if (outsz < WFC__B64URL_ENCLEN(nbytes))
    return WFC_ETOOBIG;
  if (RAND_bytes(raw, (int)nbytes) != 1)
    return WFC_EIO;
  rc = wfc__base64url_encode(raw, nbytes, out, outsz, NULL);
  wfc__cleanse(raw, nbytes);
  return rc;
}

/* ---- base64 / base64url / hex ------------------------------------------ */

static const char b64_std[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char b64_url[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static int b64_encode(const char *alpha, int pad, const uint8_t *in, size_t len,
                      char *out, size_t outsz, size_t *outlen) {
  size_t need = pad ? WFC__B64_ENCLEN(len) : WFC__B64URL_ENCLEN(len);
  size_t i, o = 0;

  if (out == NULL || (in == NULL && len != 0))
    return WFC_EINVAL;
  if (len > (SIZE_MAX - 4) / 4 * 3 || outsz < need)
    return WFC_ETOOBIG;
  for (i = 0; i + 3 <= len; i += 3) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
    out[o++] = alpha[v >> 18];
    out[o++] = alpha[(v >> 12) & 63];
    out[o++] = alpha[(v >> 6) & 63];
    out[o++] = alpha[v & 63];
  }
  if (len - i == 1) {
    uint32_t v = (uint32_t)in[i] << 16;
    out[o++] = alpha[v >> 18];
    out[o++] = alpha[(v >> 12) & 63];
    if (pad) {
      out[o++] = '=';
      out[o++] = '=';
    }
  } else if (len - i == 2) {
    uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
    out[o++] = alpha[v >> 18];
    out[o++] = alpha[(v >> 12) & 63];
    out[o++] = alpha[(v >> 6) & 63];
    if (pad)
      out[o++] = '=';
  }
  out[o] = '\0';
  if (outlen != NULL)
    *outlen = o;
  return 0;
}

/* Value of c in the alphabet, or -1. A switch on ranges rather than a
 * table keeps both alphabets in one place. */
static int b64_value(unsigned char c, int url) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == (url ? '-' : '+'))
    return 62;
  if (c == (url ? '_' : '/'))
    return 63;
  return -1;
}

static int b64_decode(int url, const char *in, size_t len, uint8_t *out,
                      size_t outsz, size_t *outlen) {
  size_t data = len, tail, need, i, o = 0;
  uint32_t acc = 0;
  int bits = 0;

  if (outlen == NULL || (in == NULL && len != 0) || (out == NULL && outsz))
    return WFC_EINVAL;
  *outlen = 0;
  if (!url) {
    /* Padded form: whole quanta, at most two '=' and only at the end. */
    if (len % 4 != 0)
      return WFC_EINVAL;
    if (len > 0 && in[len - 1] == '=')
      data--;
    if (len > 1 && data == len - 1 && in[len - 2] == '=')
      data--;
  }
  tail = data % 4;
  if (tail == 1)
    return WFC_EINVAL;
  need = data / 4 * 3 + (tail ? tail - 1 : 0);
  if (need > outsz)
    return WFC_ETOOBIG;
  for (i = 0; i < data; i++) {
    int v = b64_value((unsigned char)in[i], url);
    if (v < 0)
      return WFC_EINVAL; /* also catches '=' in the middle */
    acc = (acc << 6) | (uint32_t)v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (uint8_t)(acc >> bits);
    }
  }
  /* Canonical encodings leave the unused low bits zero (RFC 4648 3.5). */
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0) {
    wfc__cleanse(out, o);
    return WFC_EINVAL;
  }
  *outlen = o;
  return 0;
}

int wfc__base64_encode(const void *in, size_t len, char *out, size_t outsz,
                       size_t *outlen) {
  return b64_encode(b64_std, 1, in, len, out, outsz, outlen);
}

int wfc__base64url_encode(const void *in, size_t len, char *out, size_t outsz,
                          size_t *outlen) {
  return b64_encode(b64_url, 0, in, len, out, outsz, outlen);
}

int wfc__base64_decode(const char *in, size_t len, void *out, size_t outsz,
                       size_t *outlen) {
  return b64_decode(0, in, len, out, outsz, outlen);
}

int wfc__base64url_decode(const char *in, size_t len, void *out, size_t outsz,
                          size_t *outlen) {
  return b64_decode(1, in, len, out, outsz, outlen);
}

int wfc__hex_encode(const void *in, size_t len, char *out, size_t outsz) {
  static const char digits[] = "0123456789abcdef";
  const uint8_t *p = in;

  if (out == NULL || (in == NULL && len != 0))
    return WFC_EINVAL;
  if (len > (SIZE_MAX - 1) / 2 || outsz < WFC__HEX_ENCLEN(len))
    return WFC_ETOOBIG;
  for (size_t i = 0; i < len; i++) {
    out[2 * i] = digits[p[i] >> 4];
    out[2 * i + 1] = digits[p[i] & 15];
  }
  out[2 * len] = '\0';
  return 0;
}

int wfc__hex_decode(const char *in, size_t len, void *out, size_t outsz,
                    size_t *outlen) {
  uint8_t *p = out;

  if (outlen == NULL || (in == NULL && len != 0) || (out == NULL && outsz))
    return WFC_EINVAL;
  *outlen = 0;
  if (len % 2 != 0)
    return WFC_EINVAL;
  if (len / 2 > outsz)
    return WFC_ETOOBIG;
  for (size_t i = 0; i < len / 2; i++) {
    int hi = wfc__hex_digit((unsigned char)in[2 * i]);
    int lo = wfc__hex_digit((unsigned char)in[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      wfc__cleanse(p, i);
      return WFC_EINVAL;
    }
    p[i] = (uint8_t)(hi << 4 | lo);
  }
  *outlen = len / 2;
  return 0;
}

/* ---- digests, MACs, KDF ------------------------------------------------ */

int wfc__sha256(const void *in, size_t len, uint8_t out[WFC__SHA256_LEN]) {
  size_t outlen = 0;

  if (out == NULL || (in == NULL && len != 0))
    return WFC_EINVAL;
  if (EVP_Q_digest(NULL, "SHA256", NULL, len ? in : "", len, out, &outlen) !=
          1 ||
      outlen != WFC__SHA256_LEN)
    return WFC_EIO;
  return 0;
}

struct wfc__sha256_ctx {
  EVP_MD_CTX *md;
  int finished;
};

wfc__sha256_ctx *wfc__sha256_new(void) {
  wfc__sha256_ctx *c = calloc(1, sizeof *c);

  if (c == NULL)
    return NULL;
  if ((c->md = EVP_MD_CTX_new()) == NULL ||
      EVP_DigestInit_ex2(c->md, EVP_sha256(), NULL) != 1) {
    wfc__sha256_free(c);
    return NULL;
  }
  return c;
}

int wfc__sha256_update(wfc__sha256_ctx *c, const void *in, size_t len) {
  if (c == NULL || c->finished || (in == NULL && len))
    return WFC_EINVAL;
  if (len && EVP_DigestUpdate(c->md, in, len) != 1)
    return WFC_EIO;
  return 0;
}

int wfc__sha256_final(wfc__sha256_ctx *c, uint8_t out[WFC__SHA256_LEN]) {
  unsigned int n = 0;

  if (c == NULL || c->finished || out == NULL)
    return WFC_EINVAL;
  c->finished = 1;
  if (EVP_DigestFinal_ex(c->md, out, &n) != 1 || n != WFC__SHA256_LEN)
    return WFC_EIO;
  return 0;
}

void wfc__sha256_free(wfc__sha256_ctx *c) {
  if (c == NULL)
    return;
  EVP_MD_CTX_free(c->md);
  free(c);
}

int wfc__hmac_sha256(const void *key, size_t keylen, const void *msg,
                     size_t len, uint8_t out[WFC__SHA256_LEN]) {
  EVP_MAC *mac = NULL;
  EVP_MAC_CTX *ctx = NULL;
  OSSL_PARAM params[2];
  size_t outlen = 0;
  int rc = WFC_EIO;

  if (out == NULL || (key == NULL && keylen) || (msg == NULL && len))
    return WFC_EINVAL;
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                               (char *)"SHA256", 0);
  params[1] = OSSL_PARAM_construct_end();
  mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  if (mac == NULL || (ctx = EVP_MAC_CTX_new(mac)) == NULL)
    goto done;
  /* A non-NULL key pointer even when empty: HMAC with an empty key is
   * valid, EVP_MAC_init with NULL means "keep the previous key". */
  if (EVP_MAC_init(ctx, keylen ? key : (const void *)"", keylen, params) != 1)
    goto done;
  if (len && EVP_MAC_update(ctx, msg, len) != 1)
    goto done;
  if (EVP_MAC_final(ctx, out, &outlen, WFC__SHA256_LEN) != 1 ||
      outlen != WFC__SHA256_LEN)
    goto done;
  rc = 0;
done:
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return rc;
}

int wfc__hkdf_sha256(const void *ikm, size_t ikmlen, const void *salt,
                     size_t saltlen, const void *info, size_t infolen,
                     void *out, size_t outlen) {
  EVP_KDF *kdf = NULL;
  EVP_KDF_CTX *ctx = NULL;
  OSSL_PARAM params[5], *p = params;
  int rc = WFC_EIO;

  if (ikm == NULL || ikmlen == 0 || out == NULL || outlen == 0 ||
      (salt == NULL && saltlen) || (info == NULL && infolen))
    return WFC_EINVAL;
  if (outlen > 255 * WFC__SHA256_LEN)
    return WFC_ETOOBIG;
  *p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
                                          (char *)"SHA256", 0);
  *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm,
                                           ikmlen);
  if (saltlen)
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
                                             saltlen);
  if (infolen)
    *p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info,
                                             infolen);
  *p = OSSL_PARAM_construct_end();
  kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
  if (kdf == NULL || (ctx = EVP_KDF_CTX_new(kdf)) == NULL)
    goto done;
  if (EVP_KDF_derive(ctx, out, outlen, params) != 1) {
    wfc__cleanse(out, outlen);
    goto done;
  }
  rc = 0;
done:
  EVP_KDF_CTX_free(ctx);
  EVP_KDF_free(kdf);
  return rc;
}

/* ---- PKCE -------------------------------------------------------------- */

int wfc__pkce_verifier(char *out, size_t len) {
  uint8_t raw[WFC__PKCE_VERIFIER_MAX];
  int rc;

  if (out == NULL || len < WFC__PKCE_VERIFIER_MIN ||
      len > WFC__PKCE_VERIFIER_MAX)
    return WFC_EINVAL;
  if ((rc = wfc__random(raw, len)) != 0)
    return rc;
  /* 64 symbols: the low 6 bits of each byte pick one without bias. */
  for (size_t i = 0; i < len; i++)
    out[i] = b64_url[raw[i] & 63];
  out[len] = '\0';
  wfc__cleanse(raw, sizeof raw);
  return 0;
}

static int pkce_char_ok(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

int wfc__pkce_challenge_s256(const char *verifier,
                             char out[WFC__PKCE_CHALLENGE_LEN + 1]) {
  uint8_t digest[WFC__SHA256_LEN];
  size_t len;
  int rc;

  if (verifier == NULL || out == NULL)
    return WFC_EINVAL;
  len = strnlen(verifier, WFC__PKCE_VERIFIER_MAX + 1);
  if (len < WFC__PKCE_VERIFIER_MIN || len > WFC__PKCE_VERIFIER_MAX)
    return WFC_EINVAL;
  for (size_t i = 0; i < len; i++)
    if (!pkce_char_ok((unsigned char)verifier[i]))
      return WFC_EINVAL;
  if ((rc = wfc__sha256(verifier, len, digest)) != 0)
    return rc;
  rc = wfc__base64url_encode(digest, sizeof digest, out,
                             WFC__PKCE_CHALLENGE_LEN + 1, NULL);
  wfc__cleanse(digest, sizeof digest);
  return rc;
}

/* ---- comparison and hygiene -------------------------------------------- */

int wfc__ct_equal(const void *a, size_t alen, const void *b, size_t blen) {
  if ((a == NULL && alen) || (b == NULL && blen))
    return 0;
  if (alen != blen) {
    /* Only the lengths leak; still spend the time of a comparison. */
    (void)CRYPTO_memcmp(a, a, alen);
    return 0;
  }
  if (alen == 0)
    return 1;
  return CRYPTO_memcmp(a, b, alen) == 0;
}

void wfc__cleanse(void *p, size_t len) {
  if (p == NULL || len == 0)
    return;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 25)
  /* glibc's wipe the compiler may not drop, at memset's speed:
   * OPENSSL_cleanse stores 8 bytes at a time (~800 instructions for a
   * 1.3 KB bearer token, cleansed for every request). */
  explicit_bzero(p, len);
#else
  OPENSSL_cleanse(p, len);
#endif
}

void wfc__secret_free(char *s) {
  if (s == NULL)
    return;
  if (wfc__secmem_owns(s)) {
    wfc__secmem_free(s);
    return;
  }
  wfc__cleanse(s, strlen(s));
  free(s);
}

/* ---- AES-256-GCM ------------------------------------------------------- */

/* The version byte is authenticated too: AAD = version | caller's aad. */
static int gcm_aad(EVP_CIPHER_CTX *ctx, int enc, uint8_t version,
                   const void *aad, size_t aadlen) {
  int outl = 0;
  int (*update)(EVP_CIPHER_CTX *, unsigned char *, int *, const unsigned char *,
                int) = enc ? EVP_EncryptUpdate : EVP_DecryptUpdate;

  if (update(ctx, NULL, &outl, &version, 1) != 1)
    return -1;
  if (aadlen && update(ctx, NULL, &outl, aad, (int)aadlen) != 1)
    return -1;
  return 0;
}

int wfc__seal(const uint8_t key[WFC__KEY_LEN], const void *aad, size_t aadlen,
              const void *plain, size_t plen, uint8_t **out, size_t *outlen) {
  EVP_CIPHER *cipher = NULL;
  EVP_CIPHER_CTX *ctx = NULL;
  OSSL_PARAM params[2];
  uint8_t *buf = NULL, *iv, *ct;
  int n = 0, fin = 0, rc = WFC_EIO;

  if (out == NULL || outlen == NULL)
    return WFC_EINVAL;
  *out = NULL;
  *outlen = 0;
  if (key == NULL || (aad == NULL && aadlen) || (plain == NULL && plen))
    return WFC_EINVAL;
  if (plen > INT_MAX - WFC__SEAL_OVERHEAD || aadlen > INT_MAX)
    return WFC_ETOOBIG;
  if ((buf = malloc(plen + WFC__SEAL_OVERHEAD)) == NULL)
    return WFC_ENOMEM;
  buf[0] = WFC__SEAL_VERSION;
  iv = buf + 1;
  ct = iv + WFC__SEAL_IV_LEN;
  /* Fresh for every seal: a (key, IV) pair must never repeat under GCM.
   * The IV is public, so the public DRBG is right here. */
  if (RAND_bytes(iv, WFC__SEAL_IV_LEN) != 1)
    goto done;
  cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
  if (cipher == NULL || (ctx = EVP_CIPHER_CTX_new()) == NULL)
    goto done;
  /* 12 bytes is GCM's default IV length: no IVLEN parameter needed. */
  if (EVP_EncryptInit_ex2(ctx, cipher, key, iv, NULL) != 1)
    goto done;
  if (gcm_aad(ctx, 1, WFC__SEAL_VERSION, aad, aadlen) != 0)
    goto done;
  if (plen && EVP_EncryptUpdate(ctx, ct, &n, plain, (int)plen) != 1)
    goto done;
  if (EVP_EncryptFinal_ex(ctx, ct + n, &fin) != 1 || (size_t)(n + fin) != plen)
    goto done;
  params[0] = OSSL_PARAM_construct_octet_string(OSSL_CIPHER_PARAM_AEAD_TAG,
                                                ct + plen, WFC__SEAL_TAG_LEN);
  params[1] = OSSL_PARAM_construct_end();
  if (EVP_CIPHER_CTX_get_params(ctx, params) != 1)
    goto done;
  *out = buf;
  *outlen = plen + WFC__SEAL_OVERHEAD;
  buf = NULL;
  rc = 0;
done:
  if (buf != NULL) {
    wfc__cleanse(buf, plen + WFC__SEAL_OVERHEAD);
    free(buf);
  }
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return rc;
}

int wfc__open(const uint8_t key[WFC__KEY_LEN], const void *aad, size_t aadlen,
              const void *sealed, size_t slen, uint8_t **plain, size_t *plen) {
  EVP_CIPHER *cipher = NULL;
  EVP_CIPHER_CTX *ctx = NULL;
  OSSL_PARAM params[2];
  const uint8_t *s = sealed, *iv, *ct;
  uint8_t *buf = NULL;
  size_t clen;
  int n = 0, fin = 0, rc = WFC_EIO;

  if (plain == NULL || plen == NULL)
    return WFC_EINVAL;
  *plain = NULL;
  *plen = 0;
  if (key == NULL || (aad == NULL && aadlen) || (sealed == NULL && slen))
    return WFC_EINVAL;
  /* Too short or an unknown version is a corrupted blob, like a bad tag. */
  if (slen < WFC__SEAL_OVERHEAD || s[0] != WFC__SEAL_VERSION)
    return WFC_EKEY;
  if (slen > INT_MAX || aadlen > INT_MAX)
    return WFC_ETOOBIG;
  clen = slen - WFC__SEAL_OVERHEAD;
  iv = s + 1;
  ct = iv + WFC__SEAL_IV_LEN;
  /* The plaintext is a secret: in secret memory from the first byte. */
  if ((buf = wfc__secmem_alloc(clen + 1)) == NULL)
    return WFC_ENOMEM;
  cipher = EVP_CIPHER_fetch(NULL, "AES-256-GCM", NULL);
  if (cipher == NULL || (ctx = EVP_CIPHER_CTX_new()) == NULL)
    goto done;
  if (EVP_DecryptInit_ex2(ctx, cipher, key, iv, NULL) != 1)
    goto done;
  if (gcm_aad(ctx, 0, s[0], aad, aadlen) != 0)
    goto done;
  if (clen && EVP_DecryptUpdate(ctx, buf, &n, ct, (int)clen) != 1)
    goto done;
  /* The expected tag goes in before Final, which verifies it. */
  params[0] = OSSL_PARAM_construct_octet_string(
      OSSL_CIPHER_PARAM_AEAD_TAG, (void *)(ct + clen), WFC__SEAL_TAG_LEN);
  params[1] = OSSL_PARAM_construct_end();
  if (EVP_CIPHER_CTX_set_params(ctx, params) != 1)
    goto done;
  if (EVP_DecryptFinal_ex(ctx, buf + n, &fin) <= 0) {
    /* Authentication failed: the bytes in buf must never be seen. */
    ERR_clear_error();
    rc = WFC_EKEY;
    goto done;
  }
  if ((size_t)(n + fin) != clen)
    goto done;
  buf[clen] = '\0';
  *plain = buf;
  *plen = clen;
  buf = NULL;
  rc = 0;
done:
  wfc__secmem_free(buf); /* cleansed */
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(cipher);
  return rc;
}
