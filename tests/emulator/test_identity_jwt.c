/* Unit tests of emulator/jwt.c: RS256 signing and verification, the JWKS
 * (checked by verifying a token with a key rebuilt from it), PKCE. */
#define _POSIX_C_SOURCE 200809L /* strndup */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <stdlib.h>
#include <string.h>

#include "emu.h"
#include "jwt.h"

static emu_jwt_key *key1, *key2;

static int setup(void **state) {
  key1 = emu_jwt_key_new();
  key2 = emu_jwt_key_new();
  return key1 && key2 ? 0 : -1;
}

static int teardown(void **state) {
  emu_jwt_key_free(key1);
  emu_jwt_key_free(key2);
  return 0;
}

static json_object *sample_claims(void) {
  json_object *c = json_object_new_object();
  json_object_object_add(
      c, "aud", json_object_new_string("00000003-0000-0000-c000-000000000000"));
  json_object_object_add(c, "scp", json_object_new_string("Mail.Send"));
  json_object_object_add(c, "exp", json_object_new_int64(1900000000));
  return c;
}

static void test_sign_verify_roundtrip(void **state) {
  json_object *c = sample_claims(), *out = NULL, *v;
  char *tok = emu_jwt_sign(key1, c);
  json_object *hdr;
  json_tokener *tk;
  const char *dot;
  size_t n;
  unsigned char *raw;
  char *h;
  assert_non_null(tok);
  assert_int_equal(emu_jwt_verify(key1, tok, &out), 0);
  assert_non_null(out);
  assert_true(json_object_object_get_ex(out, "scp", &v));
  assert_string_equal(json_object_get_string(v), "Mail.Send");
  assert_true(json_object_object_get_ex(out, "exp", &v));
  assert_int_equal(json_object_get_int64(v), 1900000000);
  /* Header: RS256 with our kid. */
  dot = strchr(tok, '.');
  h = strndup(tok, (size_t)(dot - tok));
  raw = emu_b64_decode(h, &n);
  assert_non_null(raw);
  tk = json_tokener_new();
  hdr = json_tokener_parse_ex(tk, (char *)raw, (int)n);
  json_tokener_free(tk);
  assert_non_null(hdr);
  assert_true(json_object_object_get_ex(hdr, "alg", &v));
  assert_string_equal(json_object_get_string(v), "RS256");
  assert_true(json_object_object_get_ex(hdr, "kid", &v));
  assert_string_equal(json_object_get_string(v), emu_jwt_key_kid(key1));
  json_object_put(hdr);
  free(raw);
  free(h);
  json_object_put(out);
  json_object_put(c);
  free(tok);
}

static void test_tampering_detected(void **state) {
  json_object *c = sample_claims(), *forged = sample_claims();
  char *tok = emu_jwt_sign(key1, c), *tok2;
  char *p1, *p2, *mixed;
  size_t len;
  assert_non_null(tok);
  /* Payload swapped for another validly encoded one: signature fails. */
  json_object_object_add(forged, "scp",
                         json_object_new_string("Mail.ReadWrite"));
  tok2 = emu_jwt_sign(key2, forged);
  p1 = strchr(tok, '.');
  p2 = strchr(tok2, '.');
  len = strlen(tok);
  mixed = malloc(len + strlen(tok2) + 1);
  /* header of tok + payload of tok2 + signature of tok */
  sprintf(mixed, "%.*s%.*s%s", (int)(p1 - tok), tok,
          (int)(strchr(p2 + 1, '.') - p2), p2, strrchr(tok, '.'));
  assert_int_equal(emu_jwt_verify(key1, mixed, NULL), EMU_JWT_ESIG);
  /* Last signature character flipped. */
  tok[len - 2] = tok[len - 2] == 'A' ? 'B' : 'A';
  assert_int_equal(emu_jwt_verify(key1, tok, NULL), EMU_JWT_ESIG);
  /* Another key's token: kid does not match. */
  assert_int_equal(emu_jwt_verify(key1, tok2, NULL), EMU_JWT_EALG);
  free(mixed);
  free(tok);
  free(tok2);
  json_object_put(c);
  json_object_put(forged);
}

static void test_alg_none_and_malformed(void **state) {
  char *h, *p, *tok;
  json_object *out = (json_object *)1;
  char hdr[256];
  snprintf(hdr, sizeof(hdr), "{\"alg\":\"none\",\"kid\":\"%s\"}",
           emu_jwt_key_kid(key1));
  h = emu_b64url_encode(hdr, strlen(hdr));
  p = emu_b64url_encode("{\"scp\":\"x\"}", 11);
  tok = emu_strdup_printf("%s.%s.", h, p);
  assert_int_equal(emu_jwt_verify(key1, tok, &out), EMU_JWT_EALG);
  assert_null(out);
  assert_int_equal(emu_jwt_verify(key1, "abc", NULL), EMU_JWT_EMALFORMED);
  assert_int_equal(emu_jwt_verify(key1, "a.b.c.d", NULL), EMU_JWT_EMALFORMED);
  assert_int_equal(emu_jwt_verify(key1, "!!.??.**", NULL), EMU_JWT_EMALFORMED);
  assert_int_equal(emu_jwt_verify(key1, NULL, NULL), EMU_JWT_EMALFORMED);
  free(h);
  free(p);
  free(tok);
}

/* Rebuilds the public key from the JWKS and verifies a token with it. */
static void test_jwks_matches_signing_key(void **state) {
  json_object *jwks = emu_jwt_jwks(key1, "https://issuer.example/v2.0");
  json_object *keys, *k, *v, *c = sample_claims();
  unsigned char *n, *e, *sig;
  size_t nlen, elen, siglen;
  BIGNUM *bn_n, *bn_e;
  OSSL_PARAM_BLD *bld;
  OSSL_PARAM *params;
  EVP_PKEY_CTX *pctx;
  EVP_PKEY *pub = NULL;
  EVP_MD_CTX *md;
  char *tok = emu_jwt_sign(key1, c);
  const char *last;

  assert_non_null(jwks);
  assert_true(json_object_object_get_ex(jwks, "keys", &keys));
  assert_int_equal(json_object_array_length(keys), 1);
  k = json_object_array_get_idx(keys, 0);
  assert_true(json_object_object_get_ex(k, "kty", &v));
  assert_string_equal(json_object_get_string(v), "RSA");
  assert_true(json_object_object_get_ex(k, "kid", &v));
  assert_string_equal(json_object_get_string(v), emu_jwt_key_kid(key1));
  assert_true(json_object_object_get_ex(k, "e", &v));
  assert_string_equal(json_object_get_string(v), "AQAB");
  e = emu_b64_decode(json_object_get_string(v), &elen);
  assert_true(json_object_object_get_ex(k, "n", &v));
  n = emu_b64_decode(json_object_get_string(v), &nlen);
  assert_int_equal(nlen, 256); /* RSA-2048 */

  bn_n = BN_bin2bn(n, (int)nlen, NULL);
  bn_e = BN_bin2bn(e, (int)elen, NULL);
  bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n);
  OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e);
  params = OSSL_PARAM_BLD_to_param(bld);
  pctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
  assert_int_equal(EVP_PKEY_fromdata_init(pctx), 1);
  assert_int_equal(EVP_PKEY_fromdata(pctx, &pub, EVP_PKEY_PUBLIC_KEY, params),
                   1);

  last = strrchr(tok, '.');
  sig = emu_b64_decode(last + 1, &siglen);
  md = EVP_MD_CTX_new();
  assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
  assert_int_equal(EVP_DigestVerify(md, sig, siglen, (unsigned char *)tok,
                                    (size_t)(last - tok)),
                   1);

  EVP_MD_CTX_free(md);
  free(sig);
  EVP_PKEY_free(pub);
  EVP_PKEY_CTX_free(pctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  free(n);
  free(e);
  free(tok);
  json_object_put(c);
  json_object_put(jwks);
}

static void test_pkce(void **state) {
  /* RFC 7636 appendix B. */
  const char *verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
  const char *challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
  assert_int_equal(emu_pkce_verify(challenge, "S256", verifier), 1);
  assert_int_equal(
      emu_pkce_verify(challenge, "S256",
                      "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXX"),
      0);
  /* plain, and plain assumed when the method is absent. */
  assert_int_equal(emu_pkce_verify(verifier, "plain", verifier), 1);
  assert_int_equal(emu_pkce_verify(verifier, NULL, verifier), 1);
  assert_int_equal(emu_pkce_verify(challenge, "plain", verifier), 0);
  /* RFC rules on the verifier: 43..128 unreserved characters. */
  assert_int_equal(emu_pkce_verify("short", "plain", "short"), 0);
  assert_int_equal(
      emu_pkce_verify("dBjftJeZ4CVP+mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "plain",
                      "dBjftJeZ4CVP+mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
      0);
  assert_int_equal(emu_pkce_verify(challenge, "S512", verifier), 0);
  assert_int_equal(emu_pkce_verify(NULL, "S256", verifier), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_sign_verify_roundtrip),
      cmocka_unit_test(test_tampering_detected),
      cmocka_unit_test(test_alg_none_and_malformed),
      cmocka_unit_test(test_jwks_matches_signing_key),
      cmocka_unit_test(test_pkce),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
