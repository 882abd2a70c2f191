/* test_blob_cli.c - `wfc blob put FILE` / `wfc blob get ID OUT`: a local
 * file goes into the blob store `wfc card run` uses and comes back
 * byte for byte, with the reference a card's FILE input takes; errors name
 * the cause and exit 1 without leaving files behind. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "tsys.h"
#include <openssl/evp.h>

static char dir[256];
static char out[1 << 16], err[4096];

/* Runs `wfc ARGS` (a shell word list); stdout in out, stderr in err. */
static int wfc(const char *args) {
  char cmd[4096];
  snprintf(cmd, sizeof cmd, "'%s/bin/wfc' %s >'%s/out' 2>'%s/err'",
           getenv("WFC_BUILD_DIR"), args, dir, dir);
  int st = system(cmd);
  char path[1024];
  const char *names[2] = {"out", "err"};
  char *bufs[2] = {out, err};
  size_t caps[2] = {sizeof out, sizeof err};
  for (int i = 0; i < 2; i++) {
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    FILE *f = fopen(path, "rb");
    size_t n = f ? fread(bufs[i], 1, caps[i] - 1, f) : 0;
    bufs[i][n] = '\0';
    if (f)
      fclose(f);
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void write_file(const char *path, size_t size) {
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  for (size_t i = 0; i < size; i++)
    fputc((int)((i * 7919u) % 251u), f);
  fclose(f);
}

static void sha256_file(const char *path, char hex[65]) {
  unsigned char buf[4096], md[32];
  unsigned len = 0;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  EVP_DigestInit_ex(c, EVP_sha256(), NULL);
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, f)) > 0)
    EVP_DigestUpdate(c, buf, n);
  EVP_DigestFinal_ex(c, md, &len);
  EVP_MD_CTX_free(c);
  fclose(f);
  for (unsigned i = 0; i < 32; i++)
    sprintf(hex + 2 * i, "%02x", md[i]);
}

static int files_equal(const char *a, const char *b) {
  char cmd[2048];
  snprintf(cmd, sizeof cmd, "cmp -s '%s' '%s'", a, b);
  return system(cmd) == 0;
}

static int setup(void **state) {
  (void)state;
  snprintf(dir, sizeof dir, "%s/wfc-blobcli-XXXXXX",
           getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  return mkdtemp(dir) != NULL && getenv("WFC_BUILD_DIR") != NULL ? 0 : -1;
}

static int teardown(void **state) {
  (void)state;
  return tsys_rm_rf(dir);
}

static const char *jstr(json_object *o, const char *k) {
  json_object *v;
  return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* 200 KB (several 64 KB pieces) in and out, with the reference. */
static void put_then_get_round_trip(void **state) {
  (void)state;
  char src[512], back[512], args[2048], sha[65];
  snprintf(src, sizeof src, "%s/report.csv", dir);
  snprintf(back, sizeof back, "%s/back.csv", dir);
  write_file(src, 200000);
  sha256_file(src, sha);

  snprintf(args, sizeof args,
           "blob put '%s' --content-type text/csv --blob-dir '%s/b' --json",
           src, dir);
  assert_int_equal(wfc(args), 0);
  json_object *ref = json_tokener_parse(out);
  assert_non_null(ref);
  assert_string_equal(jstr(ref, "name"), "report.csv");
  assert_string_equal(jstr(ref, "content_type"), "text/csv");
  assert_string_equal(jstr(ref, "size"), "200000");
  assert_string_equal(jstr(ref, "sha256"), sha);
  const char *id = jstr(ref, "id");
  assert_int_equal(strlen(id), 32);

  snprintf(args, sizeof args, "blob get %s '%s' --blob-dir '%s/b'", id, back,
           dir);
  assert_int_equal(wfc(args), 0);
  assert_non_null(strstr(out, sha));
  assert_true(files_equal(src, back));
  struct stat st;
  assert_int_equal(stat(back, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);

  /* "-" writes the bytes to stdout. */
  snprintf(args, sizeof args, "blob get %s - --blob-dir '%s/b'", id, dir);
  assert_int_equal(wfc(args), 0);
  for (unsigned i = 0; i < 1000; i++)
    assert_int_equal((unsigned char)out[i], (i * 7919u) % 251u);
  json_object_put(ref);
}

/* --name, and the default store: blobs/ beside --store, as card run. */
static void name_and_default_dir(void **state) {
  (void)state;
  char src[512], args[2048], path[1024];
  snprintf(src, sizeof src, "%s/a.bin", dir);
  write_file(src, 10);
  snprintf(args, sizeof args,
           "blob put '%s' --name 'Q3 numbers.csv' --store '%s/s/store.db' "
           "--json",
           src, dir);
  assert_int_equal(wfc(args), 0);
  json_object *ref = json_tokener_parse(out);
  assert_non_null(ref);
  assert_string_equal(jstr(ref, "name"), "Q3 numbers.csv");
  assert_string_equal(jstr(ref, "content_type"), "application/octet-stream");
  snprintf(path, sizeof path, "%s/s/blobs/%s", dir, jstr(ref, "id"));
  assert_int_equal(access(path, R_OK), 0);
  json_object_put(ref);
}

static void errors_name_the_cause(void **state) {
  (void)state;
  char args[2048], path[512];
  snprintf(args, sizeof args, "blob put '%s/missing' --blob-dir '%s/b'", dir,
           dir);
  assert_int_equal(wfc(args), 1);
  assert_non_null(strstr(err, "no such file"));

  snprintf(path, sizeof path, "%s/never", dir);
  snprintf(args, sizeof args,
           "blob get ../../etc/passwd '%s' --blob-dir '%s/b'", path, dir);
  assert_int_equal(wfc(args), 1);
  assert_non_null(strstr(err, "not a blob id"));
  snprintf(args, sizeof args,
           "blob get 0123456789abcdef0123456789abcdef '%s' --blob-dir '%s/b'",
           path, dir);
  assert_int_equal(wfc(args), 1);
  assert_non_null(strstr(err, "no such blob"));
  assert_int_equal(access(path, F_OK), -1); /* nothing created */

  assert_int_equal(wfc("blob put"), 2);
  assert_non_null(strstr(err, "expected one FILE"));
  assert_int_equal(wfc("blob get onlyid"), 2);
  assert_int_equal(wfc("blob frobnicate x"), 2);
  assert_non_null(strstr(err, "unknown command"));
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(put_then_get_round_trip),
      cmocka_unit_test(name_and_default_dir),
      cmocka_unit_test(errors_name_the_cause),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
