/* store_copy.c - store operations across backends: explicit migration and
 * a verified copy from one store to another (wfc store migrate|copy,
 * docs/store.md "Operations").
 *
 * A copy moves rows as they are stored: sealed secrets stay sealed (the
 * same master key opens both stores) and MACs are copied, not recomputed,
 * since every backend authenticates a row over the same typed values
 * (store_backend.h). That they still verify in the destination is then
 * checked through the store itself. */
#define _POSIX_C_SOURCE 200809L
#include "store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "wfc/connections.h"

static const char *const copy_tables[WFC_STORE_COPY_TABLES] = {
    "connections", "checkpoints", "idempotency", "events_seen"};

static void report_err(char *err, size_t errlen) {
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s", wfc__store_last_error());
}

int wfc_store_migrate(const char *location, int *from_version, int *to_version,
                      char *err, size_t errlen) {
  wfc__store *st = NULL;
  int rc = wfc__store_open(location, &st, err, errlen);

  if (rc != 0)
    return rc;
  if (from_version != NULL)
    *from_version = wfc__store_opened_at(st);
  if (to_version != NULL)
    *to_version = wfc__store_schema_version(st);
  wfc__store_close(st);
  return 0;
}

/* A table's checksum: the sum (mod 2^256) of the SHA-256 of each row's
 * encoding (type byte, then 8 bytes big-endian or a 4-byte length and the
 * bytes), so it does not depend on the order a backend returns rows in. */
typedef struct tsum {
  long long rows;
  uint8_t sum[WFC__SHA256_LEN];
  /* the copy: destination, or NULL to only count */
  const wfc__store_ops *to_ops;
  void *to_be;
  const char *table;
} tsum;

static int sum_row(tsum *t, const wfc__srow *row) {
  uint8_t h[WFC__SHA256_LEN];
  wfc__sha256_ctx *c = wfc__sha256_new();
  int rc = c != NULL ? 0 : WFC_ENOMEM;

  for (int i = 0; rc == 0 && i < row->n; i++) {
    const wfc__sval *v = &row->v[i];
    uint8_t b[9] = {(uint8_t)v->type};
    size_t n = 1;
    if (v->type == WFC__SV_INT) {
      for (int k = 0; k < 8; k++)
        b[1 + k] = (uint8_t)((uint64_t)v->i >> (56 - 8 * k));
      n = 9;
    } else if (v->type != WFC__SV_NULL) {
      for (int k = 0; k < 4; k++)
        b[1 + k] = (uint8_t)((uint64_t)v->n >> (24 - 8 * k));
      n = 5;
    }
    rc = wfc__sha256_update(c, b, n);
    if (rc == 0 && v->type != WFC__SV_NULL && v->type != WFC__SV_INT)
      rc = wfc__sha256_update(c, v->p, v->n);
  }
  if (rc == 0)
    rc = wfc__sha256_final(c, h);
  wfc__sha256_free(c);
  if (rc != 0)
    return wfc__store_fail(rc, "cannot compute a table checksum");
  for (int i = WFC__SHA256_LEN - 1, carry = 0; i >= 0; i--) {
    int s = t->sum[i] + h[i] + carry;
    t->sum[i] = (uint8_t)s;
    carry = s >> 8;
  }
  t->rows++;
  return 0;
}

static int row_cb(const char *cols, const wfc__srow *row, void *arg) {
  tsum *t = arg;
  int rc = sum_row(t, row);

  if (rc == 0 && t->to_ops != NULL)
    rc = t->to_ops->table_insert(t->to_be, t->table, cols, row);
  return rc;
}

static int verify_cb(const wfc__conn_rec *rec, void *arg) {
  int *n = arg;

  if (rec->tampered)
    return wfc__store_fail(
        WFC_ESTORE, "connection %s does not verify in the copy", rec->id);
  (*n)++;
  return 0;
}

/* The key file of a new file store, holding key (hex), if there is none. */
static int write_key_file(const char *location, const uint8_t *key) {
  char path[4200], hex[WFC__HEX_ENCLEN(WFC__KEY_LEN) + 2];
  int fd, rc = 0;

  snprintf(path, sizeof path, "%s.key", location);
  fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return errno == EEXIST
               ? 0
               : wfc__store_fail(WFC_ESTORE, "cannot create key file %s: %s",
                                 path, strerror(errno));
  (void)wfc__hex_encode(key, WFC__KEY_LEN, hex, sizeof hex - 1);
  strcat(hex, "\n");
  if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) || fsync(fd) != 0)
    rc = wfc__store_fail(WFC_ESTORE, "cannot write key file %s: %s", path,
                         strerror(errno));
  close(fd);
  wfc__cleanse(hex, sizeof hex);
  return rc;
}

int wfc_store_copy(const char *from, const char *to, wfc_store_copy_report *rep,
                   char *err, size_t errlen) {
  uint8_t key[WFC__KEY_LEN];
  char src[4200], msg[512];
  wfc__store_opts o = {.master_key = key};
  wfc__store *a = NULL, *b = NULL;
  const wfc__store_ops *aops, *bops;
  void *abe = NULL, *bbe = NULL;
  tsum sums[2][WFC_STORE_COPY_TABLES];
  int rc, n = 0, from_file;

  memset(sums, 0, sizeof sums);
  if (err != NULL && errlen > 0)
    err[0] = '\0';
  if (from == NULL || to == NULL || rep == NULL)
    return WFC_EINVAL;
  memset(rep, 0, sizeof *rep);
  if ((rc = wfc__store_resolve_key(from, key, src, sizeof src)) != 0) {
    report_err(err, errlen);
    return rc;
  }
  from_file = strcmp(src, "WFC_MASTER_KEY") != 0;
  if ((rc = wfc__store_open_ex(from, &o, &a, msg, sizeof msg)) != 0) {
    if (err != NULL)
      snprintf(err, errlen, "from: %s", msg);
    goto done;
  }
  if ((rc = wfc__store_open_ex(to, &o, &b, msg, sizeof msg)) != 0) {
    if (err != NULL)
      snprintf(err, errlen, "to: %s", msg);
    goto done;
  }
  if ((aops = wfc__store_backend(a, &abe)) == NULL ||
      (bops = wfc__store_backend(b, &bbe)) == NULL) {
    rc = WFC_ESTORE;
    goto fail;
  }
  /* Only into an empty store: a copy never merges. */
  {
    tsum t = {0};
    if ((rc = bops->table_rows(bbe, "connections", row_cb, &t)) != 0)
      goto fail;
    if (t.rows != 0) {
      rc = wfc__store_fail(WFC_EEXIST,
                           "to: the store %s already holds %lld "
                           "connection(s): a copy goes into an empty store",
                           to, t.rows);
      goto fail;
    }
  }
  /* In one transaction on `to`: all or nothing. */
  if ((rc = bops->begin(bbe)) != 0)
    goto fail;
  for (int i = 0; rc == 0 && i < WFC_STORE_COPY_TABLES; i++) {
    sums[0][i].to_ops = bops;
    sums[0][i].to_be = bbe;
    sums[0][i].table = copy_tables[i];
    rc = aops->table_rows(abe, copy_tables[i], row_cb, &sums[0][i]);
  }
  if (rc == 0)
    rc = bops->commit(bbe);
  if (rc != 0) {
    bops->rollback(bbe);
    goto fail;
  }
  /* Read both back. */
  for (int i = 0; rc == 0 && i < WFC_STORE_COPY_TABLES; i++) {
    memset(&sums[0][i], 0, sizeof sums[0][i]);
    if ((rc = aops->table_rows(abe, copy_tables[i], row_cb, &sums[0][i])) == 0)
      rc = bops->table_rows(bbe, copy_tables[i], row_cb, &sums[1][i]);
  }
  if (rc != 0)
    goto fail;
  for (int i = 0; i < WFC_STORE_COPY_TABLES; i++) {
    rep->tables[i].table = copy_tables[i];
    rep->tables[i].rows_from = sums[0][i].rows;
    rep->tables[i].rows_to = sums[1][i].rows;
    (void)wfc__hex_encode(sums[0][i].sum, WFC__SHA256_LEN,
                          rep->tables[i].sum_from,
                          sizeof rep->tables[i].sum_from);
    (void)wfc__hex_encode(sums[1][i].sum, WFC__SHA256_LEN,
                          rep->tables[i].sum_to, sizeof rep->tables[i].sum_to);
    if (sums[0][i].rows != sums[1][i].rows ||
        memcmp(sums[0][i].sum, sums[1][i].sum, WFC__SHA256_LEN) != 0) {
      rc = wfc__store_fail(WFC_ESTORE,
                           "the copy of table %s differs: %lld rows, %lld "
                           "copied",
                           copy_tables[i], sums[0][i].rows, sums[1][i].rows);
      goto fail;
    }
  }
  /* Through the store (its connections given back first): every record
   * authenticates in the copy. */
  wfc__store_backend_done(a, abe);
  wfc__store_backend_done(b, bbe);
  abe = bbe = NULL;
  /* Through the store: every record authenticates in the copy. */
  if ((rc = wfc__store_conn_list(b, NULL, verify_cb, &n)) != 0)
    goto fail;
  rep->connections_verified = n;
  if (from_file && strcmp(wfc__store_backend_name(to), "sqlite") == 0)
    rc = write_key_file(to, key);
  if (rc != 0)
    goto fail;
  goto done;
fail:
  report_err(err, errlen);
done:
  if (abe != NULL)
    wfc__store_backend_done(a, abe);
  if (bbe != NULL)
    wfc__store_backend_done(b, bbe);
  wfc__store_close(a);
  wfc__store_close(b);
  wfc__cleanse(key, sizeof key);
  return rc;
}
