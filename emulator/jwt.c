/* jwt.c - RS256 compact JWS, JWKS and PKCE for
 * the emulator's identity platform. See jwt.h. */
#include "jwt.h"
#include "emu.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct emu_jwt_key {
  EVP_PKEY *pkey; /* owned */
  char kid[44];   /* base64url of 32 random bytes = 43 chars */
};

/* Decodes base64url text of `len` chars (not NUL terminated) through the
 * core's decoder. */
static unsigned char *b64url_decode_n(const char *text, size_t len,
                                      size_t *out_len) {
  char *copy = malloc(len + 1);
  unsigned char *out;
  if (copy == NULL)
    return NULL;
  memcpy(copy, text, len);
  copy[len] = '\0';
  out = emu_b64_decode(copy, out_len);
  free(copy);
  return out;
}

emu_jwt_key *emu_jwt_key_new(void) {
  emu_jwt_key *key = calloc(1, sizeof(*key));
  unsigned char kid[32];
  char *s;
  if (key == NULL)
    return NULL;
  key->pkey = EVP_RSA_gen(2048);
  if (key->pkey == NULL)
    goto fail;
  emu_random_bytes(kid, sizeof(kid));
  s = emu_b64url_encode(kid, sizeof(kid));
  if (s == NULL)
    goto fail;
  snprintf(key->kid, sizeof(key->kid), "%s", s);
  free(s);
  return key;
fail:
  emu_jwt_key_free(key);
  return NULL;
}

void emu_jwt_key_free(emu_jwt_key *key) {
  if (key == NULL)
    return;
  EVP_PKEY_free(key->pkey);
  free(key);
}

const char *emu_jwt_key_kid(const emu_jwt_key *key) {
  return key->kid;
}

static char *bn_param_b64(const EVP_PKEY *pkey, const char *name) {
  BIGNUM *bn = NULL;
  unsigned char *buf;
  char *out = NULL;
  int n;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1)
    return NULL;
  n = BN_num_bytes(bn);
  buf = malloc((size_t)n + 1);
  if (buf != NULL) {
    BN_bn2bin(bn, buf);
    out = emu_b64url_encode(buf, (size_t)n);
    free(buf);
  }
  BN_free(bn);
  return out;
}

json_object *emu_jwt_jwks(const emu_jwt_key *key, const char *issuer) {
  char *n = bn_param_b64(key->pkey, OSSL_PKEY_PARAM_RSA_N);
  char *e = bn_param_b64(key->pkey, OSSL_PKEY_PARAM_RSA_E);
  json_object *doc = NULL;
  if (n != NULL && e != NULL) {
    json_object *jwk = json_object_new_object();
    json_object *keys = json_object_new_array();
    json_object_object_add(jwk, "kty", json_object_new_string("RSA"));
    json_object_object_add(jwk, "use", json_object_new_string("sig"));
    json_object_object_add(jwk, "kid", json_object_new_string(key->kid));
    /* Microsoft publishes x5t equal to kid for its signing keys. */
    json_object_object_add(jwk, "x5t", json_object_new_string(key->kid));
    json_object_object_add(jwk, "n", json_object_new_string(n));
    json_object_object_add(jwk, "e", json_object_new_string(e));
    if (issuer != NULL)
      json_object_object_add(jwk, "issuer", json_object_new_string(issuer));
    json_object_array_add(keys, jwk);
    doc = json_object_new_object();
    json_object_object_add(doc, "keys", keys);
  }
  free(n);
  free(e);
  return doc;
}

static char *json_b64(json_object *obj) {
  const char *s = json_object_to_json_string_ext(
      obj, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
  return emu_b64url_encode((const unsigned char *)s, strlen(s));
}

char *emu_jwt_sign(const emu_jwt_key *key, json_object *claims) {
  json_object *hdr = json_object_new_object();
  char *h64, *p64, *sig64 = NULL, *out = NULL, *input = NULL;
  unsigned char sig[512];
  size_t siglen = sizeof(sig);
  EVP_MD_CTX *md = NULL;

  json_object_object_add(hdr, "typ", json_object_new_string("JWT"));
  json_object_object_add(hdr, "alg", json_object_new_string("RS256"));
  json_object_object_add(hdr, "x5t", json_object_new_string(key->kid));
  json_object_object_add(hdr, "kid", json_object_new_string(key->kid));
  h64 = json_b64(hdr);
  p64 = json_b64(claims);
  json_object_put(hdr);
  if (h64 == NULL || p64 == NULL)
    goto done;
  size_t ilen = strlen(h64) + 1 + strlen(p64);
  input = malloc(ilen + 1);
  if (input == NULL)
    goto done;
  snprintf(input, ilen + 1, "%s.%s", h64, p64);
  md = EVP_MD_CTX_new();
  if (md == NULL ||
      EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key->pkey) != 1 ||
      EVP_DigestSign(md, sig, &siglen, (unsigned char *)input, ilen) != 1)
    goto done;
  sig64 = emu_b64url_encode(sig, siglen);
  if (sig64 == NULL)
    goto done;
  out = malloc(ilen + 1 + strlen(sig64) + 1);
  if (out != NULL)
    sprintf(out, "%s.%s", input, sig64);
done:
  EVP_MD_CTX_free(md);
  free(h64);
  free(p64);
  free(input);
  free(sig64);
  return out;
}

static json_object *decode_part(const char *s, size_t len) {
  size_t n;
  unsigned char *raw = b64url_decode_n(s, len, &n);
  json_tokener *tok;
  json_object *obj;
  if (raw == NULL)
    return NULL;
  /* The decoded bytes are not NUL terminated: parse exactly n of them. */
  tok = json_tokener_new();
  obj = tok ? json_tokener_parse_ex(tok, (const char *)raw, (int)n) : NULL;
  if (obj != NULL && json_tokener_get_parse_end(tok) != (size_t)n) {
    json_object_put(obj);
    obj = NULL;
  }
  json_tokener_free(tok);
  free(raw);
  if (obj != NULL && !json_object_is_type(obj, json_type_object)) {
    json_object_put(obj);
    return NULL;
  }
  return obj;
}

/* Splits "a.b.c" into its two dots; 0 on success. */
static int split3(const char *token, const char **d1, const char **d2) {
  *d1 = strchr(token, '.');
  if (*d1 == NULL)
    return -1;
  *d2 = strchr(*d1 + 1, '.');
  if (*d2 == NULL || strchr(*d2 + 1, '.') != NULL)
    return -1;
  return 0;
}

json_object *emu_jwt_peek(const char *token) {
  const char *d1, *d2;
  if (token == NULL || split3(token, &d1, &d2) != 0)
    return NULL;
  return decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
}

int emu_jwt_verify(const emu_jwt_key *key, const char *token,
                   json_object **claims) {
  const char *d1, *d2;
  json_object *hdr, *payload, *v;
  unsigned char *sig;
  size_t siglen;
  int rc = EMU_JWT_EMALFORMED;
  EVP_MD_CTX *md;

  if (claims != NULL)
    *claims = NULL;
  if (token == NULL || split3(token, &d1, &d2) != 0)
    return EMU_JWT_EMALFORMED;
  hdr = decode_part(token, (size_t)(d1 - token));
  payload = decode_part(d1 + 1, (size_t)(d2 - d1 - 1));
  sig = b64url_decode_n(d2 + 1, strlen(d2 + 1), &siglen);
  if (hdr == NULL || payload == NULL || sig == NULL)
    goto done;
  rc = EMU_JWT_EALG;
  if (!json_object_object_get_ex(hdr, "alg", &v) ||
      strcmp(json_object_get_string(v), "RS256") != 0)
    goto done;
  if (!json_object_object_get_ex(hdr, "kid", &v) ||
      !emu_secret_eq(json_object_get_string(v), key->kid))
    goto done;
  rc = EMU_JWT_ESIG;
  md = EVP_MD_CTX_new();
  if (md != NULL &&
      EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key->pkey) == 1 &&
      EVP_DigestVerify(md, sig, siglen, (const unsigned char *)token,
                       (size_t)(d2 - token)) == 1)
    rc = 0;
  EVP_MD_CTX_free(md);
done:
  json_object_put(hdr);
  free(sig);
  if (rc == 0 && claims != NULL)
    *claims = payload;
  else
    json_object_put(payload);
  return rc;
}

static int pkce_char_ok(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

int emu_pkce_verify(const char *challenge, const char *method,
                    const char *verifier) {
  size_t i, n;
  if (challenge == NULL || verifier == NULL)
    return 0;
  n = strlen(verifier);
  if (n < 43 || n > 128)
    return 0;
  for (i = 0; i < n; i++)
    if (!pkce_char_ok(verifier[i]))
      return 0;
  if (method == NULL || method[0] == '\0' || strcmp(method, "plain") == 0)
    return emu_secret_eq(challenge, verifier);
  if (strcmp(method, "S256") == 0) {
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char *enc;
    int ok;
    SHA256((const unsigned char *)verifier, n, digest);
    enc = emu_b64url_encode(digest, sizeof(digest));
    ok = enc != NULL && emu_secret_eq(challenge, enc);
    free(enc);
    return ok;
  }
  return 0;
}
