/* tcert.c - self-signed certificates for app-only credentials in tests
 * (tcert.h). */
#include "tcert.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

static void die(const char *what) {
  fprintf(stderr, "tcert: %s failed\n", what);
  abort();
}

/* The memory BIO's bytes as a string (transfer); frees b. */
static char *bio_take(BIO *b) {
  char *data = NULL;
  long n = BIO_get_mem_data(b, &data);
  char *s = malloc((size_t)n + 1);
  if (s == NULL)
    die("malloc");
  memcpy(s, data, (size_t)n);
  s[n] = '\0';
  BIO_free(b);
  return s;
}

tcert tcert_make(const char *cn, long from_s, long to_s) {
  static long serial = 1;
  tcert c;
  EVP_PKEY *k = EVP_RSA_gen(2048);
  X509 *x = X509_new();
  if (k == NULL || x == NULL)
    die("key generation");
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), from_s);
  X509_gmtime_adj(X509_getm_notAfter(x), to_s);
  X509_NAME *n = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn,
                             -1, -1, 0);
  X509_set_issuer_name(x, n);
  X509_set_pubkey(x, k);
  if (X509_sign(x, k, EVP_sha256()) <= 0)
    die("X509_sign");
  BIO *bk = BIO_new(BIO_s_mem()), *bc = BIO_new(BIO_s_mem());
  if (bk == NULL || bc == NULL ||
      !PEM_write_bio_PrivateKey(bk, k, NULL, NULL, 0, NULL, NULL) ||
      !PEM_write_bio_X509(bc, x))
    die("PEM writing");
  c.key = bio_take(bk);
  c.cert = bio_take(bc);
  X509_free(x);
  EVP_PKEY_free(k);
  return c;
}

void tcert_free(tcert *c) {
  free(c->key);
  free(c->cert);
  c->key = c->cert = NULL;
}
