/* Emulator core: HTTPS with --tls-cert/--tls-key (a self-signed P-256
 * certificate made here), and refusal of a bad TLS setup. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "emu_proc.h"
#include "tclient.h"

typedef struct fx {
  char dir[64];
  char cert[96];
  char key[96];
} fx;

/* Writes a self-signed certificate for 127.0.0.1/localhost and its key. */
static int make_cert(const char *cert_path, const char *key_path) {
  EVP_PKEY *pk = EVP_EC_gen("P-256");
  X509 *x = X509_new();
  int ok = 0;
  if (pk == NULL || x == NULL)
    goto out;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, pk);
  X509_NAME *name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             (const unsigned char *)"127.0.0.1", -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
  X509_EXTENSION *san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
                                            "IP:127.0.0.1,DNS:localhost");
  X509_EXTENSION *bc =
      X509V3_EXT_conf_nid(NULL, &v3, NID_basic_constraints, "critical,CA:TRUE");
  if (san == NULL || bc == NULL)
    goto out;
  X509_add_ext(x, san, -1);
  X509_add_ext(x, bc, -1);
  X509_EXTENSION_free(san);
  X509_EXTENSION_free(bc);
  if (!X509_sign(x, pk, EVP_sha256()))
    goto out;
  FILE *cf = fopen(cert_path, "w");
  FILE *kf = fopen(key_path, "w");
  if (cf && kf && PEM_write_X509(cf, x) &&
      PEM_write_PrivateKey(kf, pk, NULL, NULL, 0, NULL, NULL))
    ok = 1;
  if (cf)
    fclose(cf);
  if (kf)
    fclose(kf);
out:
  X509_free(x);
  EVP_PKEY_free(pk);
  return ok ? 0 : -1;
}

static int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  snprintf(f->dir, sizeof f->dir, "/tmp/emu_tls.XXXXXX");
  if (mkdtemp(f->dir) == NULL)
    return -1;
  snprintf(f->cert, sizeof f->cert, "%s/cert.pem", f->dir);
  snprintf(f->key, sizeof f->key, "%s/key.pem", f->dir);
  *state = f;
  return make_cert(f->cert, f->key);
}

static int teardown(void **state) {
  fx *f = *state;
  unlink(f->cert);
  unlink(f->key);
  rmdir(f->dir);
  free(f);
  return 0;
}

static void test_https(void **state) {
  fx *f = *state;
  const char *args[] = {"--tls-cert", f->cert, "--tls-key", f->key, NULL};
  emu_proc *e = emu_proc_start(NULL, args);
  assert_non_null(e);
  assert_memory_equal(emu_proc_url(e), "https://127.0.0.1:", 18);
  char u[256];
  tresp r;
  tclient *c = tclient_new(0);
  tclient_set_ca(c, f->cert);
  snprintf(u, sizeof u, "https://localhost:%d/__emulator/debug/echo",
           emu_proc_port(e));
  assert_int_equal(tclient_request(c, "GET", u, NULL, NULL, &r), 0);
  assert_int_equal(r.status, 200);
  json_object *o = tresp_json(&r);
  char base[64];
  snprintf(base, sizeof base, "https://localhost:%d", emu_proc_port(e));
  /* Links the emulator builds use the scheme and host the client used. */
  assert_string_equal(tjson_str(o, "baseUrl"), base);
  json_object_put(o);
  tresp_free(&r);
  tclient_free(c);

  /* Without trusting the certificate the client refuses the server. */
  c = tclient_new(0);
  snprintf(u, sizeof u, "%s/__emulator/health", emu_proc_url(e));
  assert_int_not_equal(tclient_request(c, "GET", u, NULL, NULL, &r), 0);
  tresp_free(&r);
  /* Plain HTTP on the TLS port gets no HTTP answer. */
  snprintf(u, sizeof u, "http://127.0.0.1:%d/__emulator/health",
           emu_proc_port(e));
  tclient_request(c, "GET", u, NULL, NULL, &r);
  assert_int_not_equal(r.status, 200);
  tresp_free(&r);
  tclient_free(c);
  assert_int_equal(emu_proc_stop(e), 0);
}

static void test_bad_tls_setup_refused(void **state) {
  fx *f = *state;
  const char *only_cert[] = {"--tls-cert", f->cert, NULL};
  assert_null(emu_proc_start(NULL, only_cert));
  const char *missing[] = {"--tls-cert", "/nonexistent/c.pem", "--tls-key",
                           f->key, NULL};
  assert_null(emu_proc_start(NULL, missing));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_https),
      cmocka_unit_test(test_bad_tls_setup_refused),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
