/* blob: create/write/commit/open/read/ref/delete, uncommitted blobs
 * removed, ids validated, modes, and a 200 MB blob streamed with flat
 * memory and its SHA-256 checked. */
#define _XOPEN_SOURCE 700 /* nftw, FTW_DEPTH, FTW_PHYS, mkdtemp, truncate */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <ftw.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>

#include "blob.h"
#include "json.h"
#include "log.h"
#include "wfc/error.h"

static char root[256];

static int rm_cb(const char *p, const struct stat *st, int flag,
                 struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(p);
}

static int setup(void **state) {
  snprintf(root, sizeof root, "/tmp/wfc-blob-test-XXXXXX");
  if (mkdtemp(root) == NULL)
    return -1;
  wfc__blobstore *bs = NULL;
  char dir[300];
  snprintf(dir, sizeof dir, "%s/a/b/blobs", root);
  if (wfc__blobstore_open(dir, &bs) != 0)
    return -1;
  *state = bs;
  return 0;
}

static int teardown(void **state) {
  wfc__blobstore_close(*state);
  nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  return 0;
}

/* Entries in the store directory, dot files included. */
static int count_entries(wfc__blobstore *bs) {
  DIR *d = opendir(wfc__blobstore_dir(bs));
  struct dirent *de;
  int n = 0;
  assert_non_null(d);
  while ((de = readdir(d)) != NULL)
    if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
      n++;
  closedir(d);
  return n;
}

static void test_roundtrip(void **state) {
  wfc__blobstore *bs = *state;
  wfc_blob *b = NULL, *r = NULL;
  struct stat st;
  char path[400], buf[16];

  assert_int_equal(stat(wfc__blobstore_dir(bs), &st), 0);
  assert_int_equal(st.st_mode & 0777, 0700);

  assert_int_equal(
      wfc__blob_create(bs, "r\xc3\xa9sum\xc3\xa9.txt", "text/plain", &b), 0);
  assert_null(wfc__blob_id(b));
  assert_null(wfc__blob_ref(b));
  assert_int_equal(wfc__blob_write(b, "ab", 2), 0);
  assert_int_equal(wfc__blob_write(b, "", 0), 0);
  assert_int_equal(wfc__blob_write(b, "c", 1), 0);
  assert_int_equal(wfc__blob_size(b), 3);
  assert_int_equal(wfc__blob_commit(b), 0);
  assert_int_equal(wfc__blob_commit(b), WFC_ESTATE);
  assert_int_equal(wfc__blob_write(b, "d", 1), WFC_ESTATE);

  const char *id = wfc__blob_id(b);
  assert_non_null(id);
  assert_true(wfc__blob_id_valid(id));
  /* SHA-256("abc"), FIPS 180-2. */
  assert_string_equal(
      wfc__blob_sha256(b),
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  snprintf(path, sizeof path, "%s/%s", wfc__blobstore_dir(bs), id);
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);
  assert_int_equal(st.st_size, 3);

  /* The committed handle reads too. */
  assert_int_equal(wfc__blob_read(b, 1, buf, sizeof buf), 2);
  assert_memory_equal(buf, "bc", 2);

  struct json_object *ref = wfc__blob_ref(b);
  assert_non_null(ref);
  assert_string_equal(wfc__json_str(ref, "id"), id);
  assert_string_equal(wfc__json_str(ref, "name"), "r\xc3\xa9sum\xc3\xa9.txt");
  assert_string_equal(wfc__json_str(ref, "content_type"), "text/plain");
  int64_t size = 0;
  assert_int_equal(wfc__json_int64(ref, "size", &size), 0);
  assert_int_equal(size, 3);
  assert_string_equal(wfc__json_str(ref, "sha256"), wfc__blob_sha256(b));
  assert_int_equal(json_object_object_length(ref), 5);

  char idcopy[WFC_BLOB_ID_LEN + 1];
  strcpy(idcopy, id);
  wfc__blob_close(b);
  /* data + sidecar, no temp files */
  assert_int_equal(count_entries(bs), 2);

  assert_int_equal(wfc__blob_open(bs, idcopy, &r), 0);
  assert_int_equal(wfc__blob_size(r), 3);
  assert_int_equal(wfc__blob_read(r, 0, buf, sizeof buf), 3);
  assert_memory_equal(buf, "abc", 3);
  assert_int_equal(wfc__blob_read(r, 2, buf, 1), 1);
  assert_int_equal(buf[0], 'c');
  assert_int_equal(wfc__blob_read(r, 3, buf, sizeof buf), 0);
  assert_int_equal(wfc__blob_read(r, 1000, buf, sizeof buf), 0);
  assert_int_equal(wfc__blob_write(r, "x", 1), WFC_ESTATE);
  assert_int_equal(wfc__blob_commit(r), WFC_ESTATE);
  struct json_object *ref2 = wfc__blob_ref(r);
  assert_true(json_object_equal(ref, ref2));
  json_object_put(ref);
  json_object_put(ref2);

  /* Delete: gone for open, the open handle still reads. */
  assert_int_equal(wfc__blob_delete(bs, idcopy), 0);
  assert_int_equal(wfc__blob_delete(bs, idcopy), WFC_ENOTFOUND);
  assert_int_equal(wfc__blob_open(bs, idcopy, &b), WFC_ENOTFOUND);
  assert_null(b);
  assert_int_equal(wfc__blob_read(r, 0, buf, 3), 3);
  wfc__blob_close(r);
  assert_int_equal(count_entries(bs), 0);
}

static void test_empty_blob_and_defaults(void **state) {
  wfc__blobstore *bs = *state;
  wfc_blob *b = NULL, *r = NULL;
  char buf[4];

  assert_int_equal(wfc__blob_create(bs, NULL, NULL, &b), 0);
  assert_int_equal(wfc__blob_commit(b), 0);
  assert_string_equal(
      wfc__blob_sha256(b),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  assert_int_equal(wfc__blob_open(bs, wfc__blob_id(b), &r), 0);
  assert_int_equal(wfc__blob_size(r), 0);
  assert_int_equal(wfc__blob_read(r, 0, buf, sizeof buf), 0);
  struct json_object *ref = wfc__blob_ref(r);
  assert_string_equal(wfc__json_str(ref, "name"), "");
  assert_string_equal(wfc__json_str(ref, "content_type"),
                      "application/octet-stream");
  json_object_put(ref);
  wfc__blob_close(r);
  wfc__blob_close(b);
}

static void test_uncommitted_removed(void **state) {
  wfc__blobstore *bs = *state;
  wfc_blob *b = NULL;

  assert_int_equal(count_entries(bs), 0);
  assert_int_equal(wfc__blob_create(bs, "x", "text/plain", &b), 0);
  assert_int_equal(wfc__blob_write(b, "partial", 7), 0);
  assert_int_equal(count_entries(bs), 1); /* the temp file */
  wfc__blob_close(b);
  assert_int_equal(count_entries(bs), 0);
  wfc__blob_close(NULL);
}

static void test_ids_validated(void **state) {
  wfc__blobstore *bs = *state;
  wfc_blob *b = (wfc_blob *)1;
  static const char *bad[] = {
      "",
      "../../../../etc/passwd",
      "0123456789abcdef0123456789abcde",   /* 31 */
      "0123456789abcdef0123456789abcdef0", /* 33 */
      "0123456789ABCDEF0123456789ABCDEF",  /* uppercase */
      "0123456789abcdef0123456789abcde/",
      "0123456789abcdef0123456789abcdeg",
      ".tmp-0123456789abcdef0123456789ab",
      NULL};
  for (const char **p = bad; *p; p++) {
    assert_false(wfc__blob_id_valid(*p));
    assert_int_equal(wfc__blob_open(bs, *p, &b), WFC_EINVAL);
    assert_null(b);
    assert_int_equal(wfc__blob_delete(bs, *p), WFC_EINVAL);
  }
  assert_false(wfc__blob_id_valid(NULL));
  assert_int_equal(wfc__blob_open(bs, "0123456789abcdef0123456789abcdef", &b),
                   WFC_ENOTFOUND);
}

static void test_metadata_validated(void **state) {
  wfc__blobstore *bs = *state;
  wfc_blob *b = (wfc_blob *)1;
  char longname[1100];
  memset(longname, 'n', sizeof longname - 1);
  longname[sizeof longname - 1] = '\0';

  assert_int_equal(wfc__blob_create(bs, "a", "text/plain\r\nX-Evil: 1", &b),
                   WFC_EINVAL);
  assert_null(b);
  assert_int_equal(wfc__blob_create(bs, "a", "", &b), WFC_EINVAL);
  assert_int_equal(wfc__blob_create(bs, "bad\xff", "text/plain", &b),
                   WFC_EINVAL);
  assert_int_equal(wfc__blob_create(bs, "\xc3", "text/plain", &b), WFC_EINVAL);
  assert_int_equal(wfc__blob_create(bs, longname, "text/plain", &b),
                   WFC_EINVAL);
  assert_int_equal(count_entries(bs), 0);
}

static char last_log[512];
static void capture_sink(void *arg, int level, const char *line) {
  (void)arg;
  (void)level;
  snprintf(last_log, sizeof last_log, "%s", line);
}

static void test_sidecar_mismatch(void **state) {
  wfc__blobstore *bs = *state;
  wfc_blob *b = NULL, *r = (wfc_blob *)1;
  char path[400];

  assert_int_equal(wfc__blob_create(bs, "t", "text/plain", &b), 0);
  assert_int_equal(wfc__blob_write(b, "hello", 5), 0);
  assert_int_equal(wfc__blob_commit(b), 0);
  snprintf(path, sizeof path, "%s/%s", wfc__blobstore_dir(bs), wfc__blob_id(b));
  assert_int_equal(truncate(path, 2), 0);
  wfc__log_set_sink(capture_sink, NULL);
  assert_int_equal(wfc__blob_open(bs, wfc__blob_id(b), &r), WFC_EIO);
  wfc__log_set_sink(NULL, NULL);
  assert_null(r);
  assert_non_null(strstr(last_log, "ERROR blob store: "));
  assert_non_null(strstr(last_log, " does not match its sidecar"));
  /* A garbled sidecar is an I/O error, not a crash. */
  snprintf(path, sizeof path, "%s/%s.json", wfc__blobstore_dir(bs),
           wfc__blob_id(b));
  FILE *f = fopen(path, "w");
  fputs("{\"v\":1,", f);
  fclose(f);
  assert_int_equal(wfc__blob_open(bs, wfc__blob_id(b), &r), WFC_EIO);
  wfc__blob_close(b);
}

static void test_store_outlived_by_blob(void **state) {
  (void)state;
  wfc__blobstore *bs2 = NULL;
  wfc_blob *b = NULL;
  char dir[300], buf[4];
  snprintf(dir, sizeof dir, "%s/other", root);
  assert_int_equal(wfc__blobstore_open(dir, &bs2), 0);
  assert_int_equal(wfc__blob_create(bs2, "x", NULL, &b), 0);
  wfc__blobstore_close(bs2); /* the blob keeps it alive */
  assert_int_equal(wfc__blob_write(b, "xyz", 3), 0);
  assert_int_equal(wfc__blob_commit(b), 0);
  assert_int_equal(wfc__blob_read(b, 0, buf, 3), 3);
  wfc__blob_close(b);
}

static void test_default_dir(void **state) {
  (void)state;
  wfc__blobstore *bs2 = NULL;
  char xdg[300], want[320];
  snprintf(xdg, sizeof xdg, "%s/xdg", root);
  snprintf(want, sizeof want, "%s/wfc/blobs", xdg);
  setenv("XDG_DATA_HOME", xdg, 1);
  assert_int_equal(wfc__blobstore_open(NULL, &bs2), 0);
  assert_string_equal(wfc__blobstore_dir(bs2), want);
  wfc__blobstore_close(bs2);
  unsetenv("XDG_DATA_HOME");
}

/* Opening a store sweeps what crashed writers left, once it is a day old:
 * temp files and data files without a sidecar. Fresh ones and committed
 * blobs stay. */
static void touch_old(const char *dir, const char *name, int days) {
  char path[400];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("x", f);
  fclose(f);
  struct timespec ts[2];
  clock_gettime(CLOCK_REALTIME, &ts[0]);
  ts[0].tv_sec -= days * 86400 + 60;
  ts[1] = ts[0];
  assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static int exists(const char *dir, const char *name) {
  char path[400];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return access(path, F_OK) == 0;
}

static void test_sweep(void **state) {
  wfc__blobstore *bs = *state, *again = NULL;
  wfc_blob *b = NULL;
  const char *dir = wfc__blobstore_dir(bs);
  char keep_id[WFC_BLOB_ID_LEN + 1], side[64];

  assert_int_equal(wfc__blob_create(bs, "keep", NULL, &b), 0);
  assert_int_equal(wfc__blob_commit(b), 0);
  strcpy(keep_id, wfc__blob_id(b));
  wfc__blob_close(b);
  snprintf(side, sizeof side, "%s.json", keep_id);
  /* Committed long ago: must survive. */
  {
    char path[400];
    struct timespec ts[2] = {{0, 0}, {0, 0}};
    snprintf(path, sizeof path, "%s/%s", dir, keep_id);
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
  }
  touch_old(dir, ".tmp-00112233445566778899aabbccddeeff", 2);
  touch_old(dir, ".tmp-ffeeddccbbaa99887766554433221100", 0);
  touch_old(dir, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 2); /* orphan data */
  touch_old(dir, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 0); /* fresh orphan */
  touch_old(dir, "notes.txt", 2);                        /* not ours */

  assert_int_equal(wfc__blobstore_open(dir, &again), 0);
  assert_false(exists(dir, ".tmp-00112233445566778899aabbccddeeff"));
  assert_true(exists(dir, ".tmp-ffeeddccbbaa99887766554433221100"));
  assert_false(exists(dir, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
  assert_true(exists(dir, "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"));
  assert_true(exists(dir, "notes.txt"));
  assert_true(exists(dir, keep_id));
  assert_true(exists(dir, side));
  assert_int_equal(wfc__blob_open(again, keep_id, &b), 0);
  wfc__blob_close(b);
  wfc__blobstore_close(again);
}

static long vm_hwm_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long kb = -1;
  assert_non_null(f);
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
      break;
  fclose(f);
  return kb;
}

/* 200 MB in 64 KiB chunks of a deterministic pattern; read back in chunks
 * of another size; SHA-256 computed independently on both sides. */
static void test_large_blob_flat_memory(void **state) {
  wfc__blobstore *bs = *state;
  const size_t chunk = 64 * 1024;
  const uint64_t total = 200ull * 1024 * 1024;
  unsigned char *buf = malloc(chunk), *rbuf = malloc(100000);
  unsigned char want[32], got[32];
  char want_hex[65];
  unsigned int dl;
  wfc_blob *b = NULL, *r = NULL;
  uint32_t x = 12345;

  assert_non_null(buf);
  assert_non_null(rbuf);
  memset(rbuf, 0, 100000);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
  long before = vm_hwm_kb();

  assert_int_equal(wfc__blob_create(bs, "big.bin", NULL, &b), 0);
  for (uint64_t done = 0; done < total; done += chunk) {
    for (size_t i = 0; i < chunk; i += 4) {
      x = x * 1664525u + 1013904223u;
      memcpy(buf + i, &x, 4);
    }
    assert_int_equal(wfc__blob_write(b, buf, chunk), 0);
    EVP_DigestUpdate(md, buf, chunk);
  }
  assert_int_equal(wfc__blob_commit(b), 0);
  EVP_DigestFinal_ex(md, want, &dl);
  for (int i = 0; i < 32; i++)
    snprintf(want_hex + 2 * i, 3, "%02x", want[i]);
  assert_string_equal(wfc__blob_sha256(b), want_hex);
  assert_true(wfc__blob_size(b) == total);

  assert_int_equal(wfc__blob_open(bs, wfc__blob_id(b), &r), 0);
  assert_true(wfc__blob_size(r) == total);
  assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
  uint64_t off = 0;
  for (;;) {
    ssize_t n = wfc__blob_read(r, off, rbuf, 100000);
    assert_true(n >= 0);
    if (n == 0)
      break;
    EVP_DigestUpdate(md, rbuf, (size_t)n);
    off += (uint64_t)n;
  }
  assert_true(off == total);
  EVP_DigestFinal_ex(md, got, &dl);
  assert_memory_equal(got, want, 32);
  long after = vm_hwm_kb();
  assert_true(before > 0);
  if (after - before >= 16 * 1024)
    fail_msg("peak RSS grew by %ld kB", after - before);

  assert_int_equal(wfc__blob_delete(bs, wfc__blob_id(b)), 0);
  wfc__blob_close(r);
  wfc__blob_close(b);
  EVP_MD_CTX_free(md);
  free(buf);
  free(rbuf);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_roundtrip, setup, teardown),
      cmocka_unit_test_setup_teardown(test_empty_blob_and_defaults, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_uncommitted_removed, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_ids_validated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_metadata_validated, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sidecar_mismatch, setup, teardown),
      cmocka_unit_test_setup_teardown(test_store_outlived_by_blob, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_default_dir, setup, teardown),
      cmocka_unit_test_setup_teardown(test_sweep, setup, teardown),
      cmocka_unit_test_setup_teardown(test_large_blob_flat_memory, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
