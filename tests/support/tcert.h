/* tcert.h - a fresh RSA key and a self-signed certificate, as the PEM
 * texts an app-only connection's certificate credential is made of (the
 * key signs the client assertion; the certificate is registered on the
 * app). For the TLS test server's CA and server certificates see
 * ts_server.h. */
#ifndef WFC_TEST_TCERT_H
#define WFC_TEST_TCERT_H

typedef struct tcert {
  char *key;  /* PEM private key (RSA 2048) */
  char *cert; /* PEM certificate, self-signed */
} tcert;

/* A key and a certificate for common name cn, valid from now + from_s to
 * now + to_s (seconds, may be negative: an expired one). Both texts are
 * malloc'ed (tcert_free); aborts the process when OpenSSL fails. */
tcert tcert_make(const char *cn, long from_s, long to_s);
void tcert_free(tcert *c);

#endif
