/* crypto.h - all of the SDK's cryptography, on OpenSSL 3 only.
 *
 * Randomness, base64/base64url/hex codecs, SHA-256, HMAC-SHA256, HKDF,
 * PKCE (RFC 7636 S256), constant-time comparison, cleansing, and the
 * AES-256-GCM sealing used by the connection store (docs/store.md).
 *
 * Conventions: functions return 0 or a negative WFC_E* code. Output buffers
 * are caller-owned with an explicit size unless a function says it
 * allocates; allocated results are transferred to the caller, who frees them
 * with free() (after wfc__cleanse when they held a secret). Decoders are
 * strict and total: any byte string is a valid input, and anything that is
 * not canonical is refused with WFC_EINVAL, so they can be fed untrusted
 * data and fuzzed directly.
 *
 * Internal to the SDK (not in include/wfc/): hidden in libwfc.so; the unit
 * tests reach it through the static wfc_internal.
 */
#ifndef WFC_SDK_CRYPTO_H
#define WFC_SDK_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include "wfc/error.h"

#define WFC__SHA256_LEN 32
#define WFC__KEY_LEN    32 /* AES-256 */

/* ---- randomness ---------------------------------------------------------
 * RAND_priv_bytes (the private DRBG): fit for keys and PKCE verifiers.
 * WFC_EIO if the DRBG fails (its result is checked == 1, never < 0). */
int wfc__random(void *buf, size_t len);
/* nbytes random bytes (RAND_bytes: public values such as an OAuth state or
 * nonce) written as base64url into out[outsz]; WFC_ETOOBIG if outsz is
 * smaller than WFC__B64URL_ENCLEN(nbytes). */
int wfc__random_b64url(size_t nbytes, char *out, size_t outsz);

/* ---- codecs -------------------------------------------------------------
 * Encoders write a NUL-terminated string into out[outsz] and, if outlen is
 * not NULL, its length without the NUL. WFC_ETOOBIG if outsz is too small
 * (use the *_ENCLEN macros, which include the NUL).
 *
 * Decoders read in[0..len) (no NUL needed) into out[outsz] and set *outlen.
 * WFC_EINVAL on any character outside the alphabet (whitespace included), a
 * bad length, misplaced or missing padding, or non-zero unused bits;
 * WFC_ETOOBIG if out is too small (the *_DECLEN macros are enough). */
#define WFC__B64_ENCLEN(n)    (4 * (((size_t)(n) + 2) / 3) + 1)
#define WFC__B64URL_ENCLEN(n) ((4 * (size_t)(n) + 2) / 3 + 1)
#define WFC__B64_DECLEN(n)    (3 * (((size_t)(n) + 3) / 4))
#define WFC__HEX_ENCLEN(n)    (2 * (size_t)(n) + 1)

/* RFC 4648 section 4: alphabet A-Z a-z 0-9 + /, always '='-padded. */
int wfc__base64_encode(const void *in, size_t len, char *out, size_t outsz,
                       size_t *outlen);
int wfc__base64_decode(const char *in, size_t len, void *out, size_t outsz,
                       size_t *outlen);
/* RFC 4648 section 5: alphabet A-Z a-z 0-9 - _, never padded (the form of
 * JWTs and PKCE); the decoder refuses '='. */
int wfc__base64url_encode(const void *in, size_t len, char *out, size_t outsz,
                          size_t *outlen);
int wfc__base64url_decode(const char *in, size_t len, void *out, size_t outsz,
                          size_t *outlen);
/* The value of hex digit c (either case), or -1 when c is not one: the one
 * digit reader of the SDK's hex, %XX and \uXXXX decoders. Inline so that
 * the JSON reader needs no crypto object (tests/fuzz builds it alone). */
static inline int wfc__hex_digit(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Lowercase hex; the decoder accepts either case, even lengths only. */
int wfc__hex_encode(const void *in, size_t len, char *out, size_t outsz);
int wfc__hex_decode(const char *in, size_t len, void *out, size_t outsz,
                    size_t *outlen);

/* ---- digests, MACs, KDF -------------------------------------------------
 * WFC_EIO when OpenSSL fails (the reason is in its error queue). */
int wfc__sha256(const void *in, size_t len, uint8_t out[WFC__SHA256_LEN]);
/* Streaming SHA-256 for data that does not fit in memory (blobs). new
 * returns NULL when out of memory; update/final return 0 or WFC_EIO; after
 * final only free is allowed. free is NULL-safe. */
typedef struct wfc__sha256_ctx wfc__sha256_ctx;
wfc__sha256_ctx *wfc__sha256_new(void);
int wfc__sha256_update(wfc__sha256_ctx *c, const void *in, size_t len);
int wfc__sha256_final(wfc__sha256_ctx *c, uint8_t out[WFC__SHA256_LEN]);
void wfc__sha256_free(wfc__sha256_ctx *c);
/* HMAC-SHA256 through EVP_MAC. */
int wfc__hmac_sha256(const void *key, size_t keylen, const void *msg,
                     size_t len, uint8_t out[WFC__SHA256_LEN]);
/* HKDF-SHA256 (RFC 5869) extract-and-expand through EVP_KDF; salt may be
 * NULL/0. outlen <= 255 * 32. Used to derive purpose-bound sub-keys from the
 * store's master key. */
int wfc__hkdf_sha256(const void *ikm, size_t ikmlen, const void *salt,
                     size_t saltlen, const void *info, size_t infolen,
                     void *out, size_t outlen);

/* ---- PKCE (RFC 7636) ----------------------------------------------------*/
#define WFC__PKCE_VERIFIER_MIN  43
#define WFC__PKCE_VERIFIER_MAX  128
#define WFC__PKCE_CHALLENGE_LEN 43 /* base64url of 32 bytes, no padding */

/* Writes a fresh verifier of len characters (43..128, 6 random bits each,
 * base64url alphabet, a subset of [A-Za-z0-9-._~]) plus a NUL into out,
 * which must hold len + 1 bytes. WFC_EINVAL for a length out of range. */
int wfc__pkce_verifier(char *out, size_t len);
/* out = BASE64URL(SHA256(verifier)), 43 characters + NUL. WFC_EINVAL if the
 * verifier's length or characters break RFC 7636 section 4.1. */
int wfc__pkce_challenge_s256(const char *verifier,
                             char out[WFC__PKCE_CHALLENGE_LEN + 1]);

/* ---- comparison and hygiene ---------------------------------------------
 * 1 if a[0..alen) equals b[0..blen), else 0, in time that depends only on
 * the lengths (CRYPTO_memcmp). Use it for every secret comparison (state,
 * tags, tokens). */
int wfc__ct_equal(const void *a, size_t alen, const void *b, size_t blen);
/* Overwrites p[0..len) with zeros in a way the compiler may not drop
 * (explicit_bzero with glibc, else OPENSSL_cleanse); NULL-safe. */
void wfc__cleanse(void *p, size_t len);
/* Cleanses a NUL-terminated secret string and frees it; NULL-safe. For the
 * strings the store and the token code transfer to their callers: a block
 * of secret memory (secmem.h) goes back there, any other string to free().
 */
void wfc__secret_free(char *s);

/* ---- AES-256-GCM sealing ------------------------------------------------
 * Sealed layout: version (1 byte, WFC__SEAL_VERSION) | IV (12 random bytes,
 * fresh from RAND_bytes on every call) | ciphertext (plen bytes) | tag (16).
 * The authenticated data is the version byte followed by the caller's aad,
 * so a blob only opens under the same key and the same context string. */
#define WFC__SEAL_VERSION  1
#define WFC__SEAL_IV_LEN   12
#define WFC__SEAL_TAG_LEN  16
#define WFC__SEAL_OVERHEAD (1 + WFC__SEAL_IV_LEN + WFC__SEAL_TAG_LEN)

/* *out (transfer, free()) receives plen + WFC__SEAL_OVERHEAD bytes.
 * aad may be NULL when aadlen is 0; plain may be NULL when plen is 0. */
int wfc__seal(const uint8_t key[WFC__KEY_LEN], const void *aad, size_t aadlen,
              const void *plain, size_t plen, uint8_t **out, size_t *outlen);
/* Inverse of wfc__seal. *plain (transfer) receives plen bytes plus a NUL
 * terminator not counted in *plen, in secret memory (secmem.h: excluded
 * from core dumps); the caller releases it with wfc__secmem_free (or
 * wfc__secret_free for text), never free(). WFC_EKEY for a wrong key, a
 * different aad, an unknown version, a truncated or any modified blob: in every
 * failure case nothing is returned (*plain = NULL), never unauthenticated
 * bytes. */
int wfc__open(const uint8_t key[WFC__KEY_LEN], const void *aad, size_t aadlen,
              const void *sealed, size_t slen, uint8_t **plain, size_t *plen);

#endif
