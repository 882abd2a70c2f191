/* store_module.h - a store backend built as a module of its own, loaded by
 * libwfc only when a location needs it (private to sdk/store*.c;
 * docs/store.md, "How the PostgreSQL backend is loaded").
 *
 * The PostgreSQL backend (store_pg.c) links libpq, and libpq brings
 * libssl, GSSAPI, LDAP... into every process that loads it. So it is not
 * part of libwfc: it is wfc-store-pg.so (store_pg.c, store_pg_module.c,
 * store_rows.c), installed in <libdir>/wfc/ beside libwfc's directory
 * (build tree: build/lib/wfc/), which store_pg_load.c dlopen()s the first
 * time a PostgreSQL location is opened. A process on an SQLite store never
 * loads it, nor libpq.
 *
 * The module links no symbol of libwfc (-Wl,--no-undefined; libwfc keeps
 * its wfc__* symbols hidden, and a test program holds the SDK statically:
 * the module must call the copy that opened it). What the backend calls of
 * store.c, it calls through wfc__store_host, given to the module's one
 * exported function; store_pg_module.c defines the functions store_pg.c
 * calls (wfc__store_fail...) on top of it, so store_pg.c reads the same
 * in or out of a module. */
#ifndef WFC_SDK_STORE_MODULE_H
#define WFC_SDK_STORE_MODULE_H

#include <stddef.h>
#include <stdint.h>

#include "store_backend.h"

/* The module of the PostgreSQL backend: its file name, the directory it
 * is installed in relative to libwfc's (also the build tree's layout),
 * and the environment variable that names another file. */
#define WFC__STORE_PG_MODULE     "wfc-store-pg.so"
#define WFC__STORE_MODULE_SUBDIR "wfc"
#define WFC__STORE_PG_MODULE_ENV "WFC_STORE_PG_MODULE"

/* What a module and the libwfc that loads it must agree on: bumped with
 * any change of wfc__store_host or wfc__store_ops. The module also
 * compares the sizes and the SDK version (a module from another build of
 * wfc is refused with both versions named). 3: the ops' lease_check
 * became lease_lock (same slot, same ops size) and the host lost
 * lease_lost (store.c gives the verdict). */
#define WFC__STORE_MODULE_VERSION 3

/* store.c's services to a backend (store_backend.h), for a module. The
 * functions are those of the copy of store.c that loaded the module;
 * valid for the life of the process (a module is never unloaded). */
typedef struct wfc__store_host {
  unsigned version; /* WFC__STORE_MODULE_VERSION */
  size_t size;      /* sizeof(wfc__store_host) */
  size_t ops_size;  /* sizeof(wfc__store_ops) */
  const char *sdk;  /* WFC_VERSION_STRING */
  /* wfc__store_fail with the message formatted (fmt is "%s"). */
  int (*fail)(int code, const char *fmt, ...);
  void (*err_save)(char *buf, size_t len);
  void (*err_restore)(const char *buf);
  int (*no_conn)(const char *conn_id);
  int (*conn_taken)(const wfc__conn_rec *rec, int nickname);
  int (*cp_moved)(const char *conn_id, const char *card_id);
  int (*lease_busy)(const char *conn_id, const char *card_id,
                    const wfc__lease *cur);
  int (*lease_none)(const char *conn_id, const char *card_id);
  int (*lease_long)(const char *conn_id, const char *card_id);
  void (*srow_clear)(wfc__srow *row);
  int (*srow_text)(wfc__srow *row, int i, const char *v, size_t n);
  int (*srow_blob)(wfc__srow *row, int i, const void *v, size_t n);
  void (*srow_int)(wfc__srow *row, int i, int64_t v);
  void (*srow_null)(wfc__srow *row, int i);
  int (*open_tx)(wfc__store *st, void *be, int creating);
  int (*wait_ms)(const wfc__store *st);
  void (*lost)(void);
  int64_t (*monotonic_ms)(void);
  /* The wall clock of the loading copy (its injected clock, its test skew). */
  int64_t (*now_ms)(void);
  void (*cleanse)(void *p, size_t len);
} wfc__store_host;

/* The module's one exported function (WFC__STORE_MODULE_INIT): keeps host
 * (borrowed, must outlive the module) and returns the backend's table, or
 * NULL with the reason in why (a module of another build). */
typedef const wfc__store_ops *(*wfc__store_module_init_fn)(
    const wfc__store_host *host, char *why, size_t whylen);
#define WFC__STORE_MODULE_INIT "wfc__store_module_init"

/* ---- in libwfc (store_pg_load.c) ----------------------------------------- */

/* Whether location names a PostgreSQL store: a postgresql:// or
 * postgres:// URL, or libpq's keyword form (which only libpq can tell from
 * a file name: the module is loaded to ask it; without the module a
 * location with '=' that is not a path starting with / or . counts as
 * PostgreSQL, so that its open says what is missing). */
int wfc__store_pg_location(const char *location);
/* The PostgreSQL backend: the module's table, loaded on the first call
 * (thread-safe; never unloaded). When the module cannot be loaded, a table
 * whose open fails with the reason: the module paths tried, the loader's
 * words, and what to install; SQLite stores are not affected. */
const wfc__store_ops *wfc__store_pg_backend(void);

#endif
