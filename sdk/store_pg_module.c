/* store_pg_module.c - the entry of wfc-store-pg.so, the PostgreSQL backend
 * as a module (store_module.h): keeps the host's table of store.c's
 * services and defines, on top of it, the functions store_pg.c calls
 * (store_backend.h, clock.h, crypto.h), so that the module links nothing
 * of libwfc. Built into the module only, never into libwfc. */
#define _POSIX_C_SOURCE 200809L
#include "store_module.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "crypto.h"
#include "wfc/version.h"

/* Set once by wfc__store_module_init, before any backend call (store.c
 * calls the table only after init returned it). Borrowed from libwfc. */
static const wfc__store_host *host;

__attribute__((visibility("default"))) const wfc__store_ops *
wfc__store_module_init(const wfc__store_host *h, char *why, size_t whylen);

const wfc__store_ops *wfc__store_module_init(const wfc__store_host *h,
                                             char *why, size_t whylen) {
  /* version first: a host of another layout is told so by the fields
   * every version has in the same place. */
  if (h == NULL || h->version != WFC__STORE_MODULE_VERSION ||
      h->size != sizeof *h || h->ops_size != sizeof(wfc__store_ops) ||
      h->sdk == NULL || strcmp(h->sdk, WFC_VERSION_STRING) != 0) {
    snprintf(why, whylen,
             "the module is of wfc %s (store module interface %u), the "
             "library is of wfc %s (interface %u)",
             WFC_VERSION_STRING, WFC__STORE_MODULE_VERSION,
             h != NULL && h->version == WFC__STORE_MODULE_VERSION && h->sdk
                 ? h->sdk
                 : "another version",
             h != NULL ? h->version : 0);
    return NULL;
  }
  host = h;
  return &wfc__store_pg_ops;
}

/* ---- store.c's services, through the host's table ------------------------
 */

int wfc__store_fail(int code, const char *fmt, ...) {
  char msg[512]; /* store.c's error buffer holds as much */
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return host->fail(code, "%s", msg);
}

void wfc__store_err_save(char *buf, size_t len) {
  host->err_save(buf, len);
}

void wfc__store_err_restore(const char *buf) {
  host->err_restore(buf);
}

int wfc__store_no_conn(const char *conn_id) {
  return host->no_conn(conn_id);
}

int wfc__store_conn_taken(const wfc__conn_rec *rec, int nickname) {
  return host->conn_taken(rec, nickname);
}

int wfc__store_cp_moved(const char *conn_id, const char *card_id) {
  return host->cp_moved(conn_id, card_id);
}

int wfc__store_lease_busy(const char *conn_id, const char *card_id,
                          const wfc__lease *cur) {
  return host->lease_busy(conn_id, card_id, cur);
}

int wfc__store_lease_none(const char *conn_id, const char *card_id) {
  return host->lease_none(conn_id, card_id);
}

int wfc__store_lease_long(const char *conn_id, const char *card_id) {
  return host->lease_long(conn_id, card_id);
}

void wfc__srow_clear(wfc__srow *row) {
  host->srow_clear(row);
}

int wfc__srow_text(wfc__srow *row, int i, const char *v, size_t n) {
  return host->srow_text(row, i, v, n);
}

int wfc__srow_blob(wfc__srow *row, int i, const void *v, size_t n) {
  return host->srow_blob(row, i, v, n);
}

void wfc__srow_int(wfc__srow *row, int i, int64_t v) {
  host->srow_int(row, i, v);
}

void wfc__srow_null(wfc__srow *row, int i) {
  host->srow_null(row, i);
}

int wfc__store_open_tx(wfc__store *st, void *be, int creating) {
  return host->open_tx(st, be, creating);
}

int wfc__store_wait_ms(const wfc__store *st) {
  return host->wait_ms(st);
}

void wfc__store_lost(void) {
  host->lost();
}

int64_t wfc__monotonic_ms(void) {
  return host->monotonic_ms();
}

int64_t wfc__now_ms(void) {
  return host->now_ms();
}

void wfc__cleanse(void *p, size_t len) {
  host->cleanse(p, len);
}
