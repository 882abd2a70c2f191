/* store.c - the connection store (see store.h, docs/store.md): what does
 * not depend on the database. Argument checks, the sealing of secrets, the
 * record MACs, the master key and the key check, the order of the opening
 * transaction; the rows themselves move through a backend's table of
 * operations (store_backend.h: store_sqlite.c, store_pg.c).
 *
 * Secrets are sealed here, in the caller's thread, before any backend sees
 * them: the database only holds ciphertext. The rows that decide where a
 * secret goes carry a MAC, computed here from the typed values the backend
 * read back, checked on every read and rewritten by every write in the
 * write's transaction: the same row gets the same MAC in every backend. */
#define _POSIX_C_SOURCE 200809L /* lstat, O_NOFOLLOW, O_CLOEXEC, strdup */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include "clock.h"
#include "crypto.h"
#include "json.h"
#include "lease.h"
#include "secmem.h"
#include "store_backend.h"
#include "store_module.h"
#include "wfc/connections.h"

struct wfc__store {
  const wfc__store_ops *ops;
  void *be; /* the backend's state */
  pthread_mutex_t mu;
  uint8_t seal_key[WFC__KEY_LEN]; /* HKDF(master key), see derive_keys */
  uint8_t mac_key[WFC__KEY_LEN];  /* idem, for record authentication */
  /* The rows carry MACs (schema >= WFC__STORE_MAC_VERSION); 0 only for a
   * store opened at an older schema_version (upgrade tests). */
  int authenticated;
  char *path;     /* the location as messages show it (no password) */
  char *key_file; /* "<path>.key" (SQLite), NULL: none */
  /* While opening only (cleansed after). */
  uint8_t master[WFC__KEY_LEN];
  int have_master; /* master came from the host or the environment */
  const char *key_src;
  int target;    /* schema version to migrate to */
  int opened_at; /* the version found by the opening transaction */
  /* How long an operation that lost its database connection keeps trying
   * again (docs/store.md, "When the database goes away"). */
  int wait_ms;
};

/* ---- errors ------------------------------------------------------------ */

static _Thread_local char last_err[512];

const char *wfc__store_last_error(void) {
  return last_err;
}

int wfc__store_fail(int code, const char *fmt, ...) {
  va_list ap;

  va_start(ap, fmt);
  vsnprintf(last_err, sizeof last_err, fmt, ap);
  va_end(ap);
  return code;
}

#define fail wfc__store_fail

/* Set by a backend when the failure it just reported is a lost database
 * connection and the operation certainly changed nothing (wfc__store_lost):
 * the operation may run again from its start. Reset by each attempt. */
static _Thread_local int lost;

void wfc__store_lost(void) {
  lost = 1;
}

/* ---- attempts ---------------------------------------------------------
 * Every operation runs as one or more attempts, each on a backend
 * connection of its own for the attempt:
 *
 *   attempt a = {.st = st};
 *   do {
 *     if ((rc = att_begin(&a)) == 0)
 *       rc = ...operation on a.be...;
 *   } while (att_again(&a, &rc));
 *
 * A backend with one connection (SQLite) has it under the handle's mutex
 * and never loses it: one attempt, exactly the cost of the mutex. A
 * backend with a pool (PostgreSQL) lends one of its connections; an
 * attempt that failed on a lost connection with nothing applied (the
 * backend says so with wfc__store_lost) runs again from its start, the
 * first time at once, then after growing pauses, until st->wait_ms after
 * the first loss; then the backend's message (naming the database) stays,
 * with how long it was tried. An operation is written so that running it
 * again from its start is the same as running it once: it re-reads what
 * it verifies and writes in one transaction. */
typedef struct attempt {
  wfc__store *st;
  void *be;         /* the connection of this attempt */
  int64_t deadline; /* monotonic ms; set at the first loss */
  int tries;
} attempt;

static int att_begin(attempt *a) {
  wfc__store *st = a->st;

  lost = 0;
  a->be = NULL;
  if (st->ops->acquire == NULL) {
    pthread_mutex_lock(&st->mu);
    a->be = st->be;
    return 0;
  }
  return st->ops->acquire(st->be, &a->be);
}

/* After a failed attempt (its connection given back): 1 when the
 * operation must run again (after a pause), else 0 with the final code in
 * *rc. */
static int att_retry(attempt *a, int *rc) {
  wfc__store *st = a->st;
  int64_t now, pause;

  if (*rc == 0 || !lost)
    return 0;
  lost = 0;
  now = wfc__monotonic_ms();
  if (a->tries == 0)
    a->deadline = now + st->wait_ms;
  if (now >= a->deadline) {
    char cause[sizeof last_err];
    memcpy(cause, last_err, sizeof cause);
    *rc = fail(*rc, "%s (tried for %d ms: WFC_STORE_WAIT_MS sets how long)",
               cause, st->wait_ms);
    return 0;
  }
  /* At once (a pooled connection that broke in a restart: the next one is
   * new), then 50, 100, 200, 400, 500 ms... */
  pause = a->tries == 0 ? 0 : 50LL << (a->tries < 4 ? a->tries - 1 : 3);
  if (pause > 500)
    pause = 500;
  if (pause > a->deadline - now)
    pause = a->deadline - now;
  if (pause > 0) {
    struct timespec ts = {(time_t)(pause / 1000),
                          (long)(pause % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
      ;
  }
  a->tries++;
  return 1;
}

/* Ends the attempt (the connection goes back): 1 when the operation must
 * run again, else 0 with the final code in *rc. */
static int att_again(attempt *a, int *rc) {
  wfc__store *st = a->st;

  if (st->ops->acquire == NULL)
    pthread_mutex_unlock(&st->mu);
  else if (a->be != NULL)
    st->ops->release(st->be, a->be);
  a->be = NULL;
  return att_retry(a, rc);
}

int wfc__store_wait_ms(const wfc__store *st) {
  return st->wait_ms;
}

void wfc__store_err_save(char *buf, size_t len) {
  snprintf(buf, len, "%s", last_err);
}

void wfc__store_err_restore(const char *buf) {
  snprintf(last_err, sizeof last_err, "%s", buf);
}

int wfc__store_no_conn(const char *conn_id) {
  return wfc__store_fail(WFC_ENOTFOUND, "no connection with id '%s'", conn_id);
}

int wfc__store_conn_taken(const wfc__conn_rec *rec, int nickname) {
  if (!nickname)
    return wfc__store_fail(WFC_EEXIST, "connection id %s already exists",
                           rec->id);
  return wfc__store_fail(
      WFC_EEXIST, "a connection named '%s' already exists%s%s", rec->nickname,
      rec->owner[0] ? " for owner " : "", rec->owner);
}

int wfc__store_cp_moved(const char *conn_id, const char *card_id) {
  return wfc__store_fail(WFC_ESTALE,
                         "checkpoint of card %s on connection %s was moved "
                         "by another writer",
                         card_id, conn_id);
}

int wfc__store_lease_busy(const char *conn_id, const char *card_id,
                          const wfc__lease *cur) {
  const char *by = cur != NULL ? cur->holder : "another holder";
  if (card_id != NULL)
    return wfc__store_fail(WFC_EBUSY, "subscription %s is watched by %s",
                           card_id, by);
  return wfc__store_fail(WFC_EBUSY, "connection %s is being refreshed by %s",
                         conn_id, by);
}

int wfc__store_lease_none(const char *conn_id, const char *card_id) {
  if (card_id != NULL)
    return wfc__store_fail(WFC_ENOTFOUND, "subscription %s: no lease is held",
                           card_id);
  return wfc__store_fail(WFC_ENOTFOUND,
                         "connection %s: no refresh lease is held", conn_id);
}

int wfc__store_lease_lost(const char *conn_id, const char *card_id,
                          int64_t fence) {
  if (card_id != NULL)
    return wfc__store_fail(WFC_ESTALE,
                           "subscription %s: the lease (fence %lld) was taken "
                           "over by another watcher; nothing was written",
                           card_id, (long long)fence);
  return wfc__store_fail(WFC_ESTALE,
                         "connection %s: the refresh lease (fence %lld) was "
                         "taken over by another process; nothing was written",
                         conn_id, (long long)fence);
}

int wfc__store_lease_long(const char *conn_id, const char *card_id) {
  if (card_id != NULL)
    return wfc__store_fail(WFC_ESTORE,
                           "subscription %s: stored lease holder is too long",
                           card_id);
  return wfc__store_fail(
      WFC_ESTORE, "connection %s: stored lease holder is too long", conn_id);
}

const char *wfc__store_where(const wfc__store *st) {
  return st->path;
}

void wfc__store_set_key_file(wfc__store *st, char *key_file) {
  free(st->key_file);
  st->key_file = key_file;
}

/* ---- rows ---------------------------------------------------------------- */

void wfc__srow_clear(wfc__srow *row) {
  if (row == NULL)
    return;
  for (int i = 0; i < WFC__SROW_MAX; i++)
    free(row->v[i].p);
  memset(row, 0, sizeof *row);
}

static int srow_bytes(wfc__srow *row, int i, int type, const void *v,
                      size_t n) {
  char *p = malloc(n + 1);

  if (p == NULL)
    return fail(WFC_ENOMEM, "out of memory");
  if (n)
    memcpy(p, v, n);
  p[n] = '\0';
  free(row->v[i].p);
  row->v[i] = (wfc__sval){.type = type, .p = p, .n = n};
  return 0;
}

int wfc__srow_text(wfc__srow *row, int i, const char *v, size_t n) {
  return srow_bytes(row, i, WFC__SV_TEXT, v, n);
}

int wfc__srow_blob(wfc__srow *row, int i, const void *v, size_t n) {
  return srow_bytes(row, i, WFC__SV_BLOB, v, n);
}

void wfc__srow_int(wfc__srow *row, int i, int64_t v) {
  free(row->v[i].p);
  row->v[i] = (wfc__sval){.type = WFC__SV_INT, .i = v};
}

void wfc__srow_null(wfc__srow *row, int i) {
  free(row->v[i].p);
  row->v[i] = (wfc__sval){.type = WFC__SV_NULL};
}

static const char *sv_text(const wfc__sval *v) {
  return v->type == WFC__SV_TEXT ? (const char *)v->p : NULL;
}

/* ---- record authentication -----------------------------------------------
 * A row's MAC is HMAC-SHA256 under mac_key over "wfc-row-v1|<table>|" and
 * its authenticated columns in a fixed order, each as its type (one byte,
 * SQLite's type codes) and value: nothing for NULL, 8 bytes big-endian for
 * an integer, a 4-byte big-endian length and the bytes for text and
 * blobs. The type and the lengths make the encoding unambiguous: no two
 * rows share an input. The MAC is stored in the row's own `mac` column (32
 * bytes). */

/* The authenticated columns of each kind: wfc__rowkinds (store_rows.c). */

typedef struct macbuf {
  uint8_t *p;
  size_t n, cap;
  int oom;
} macbuf;

static void mb_put(macbuf *b, const void *v, size_t n) {
  if (b->oom)
    return;
  if (b->n + n > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->n + n)
      cap *= 2;
    uint8_t *p = realloc(b->p, cap);
    if (p == NULL) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  if (n)
    memcpy(b->p + b->n, v, n);
  b->n += n;
}

static void mb_be(macbuf *b, uint64_t v, int bytes) {
  uint8_t x[8];
  for (int i = 0; i < bytes; i++)
    x[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
  mb_put(b, x, (size_t)bytes);
}

/* The MAC of the kind's columns of row. */
static int row_mac(wfc__store *st, int kind, const wfc__srow *row,
                   uint8_t out[WFC__SHA256_LEN]) {
  const wfc__rowkind *k = &wfc__rowkinds[kind];
  macbuf b = {0};
  int rc;

  mb_put(&b, "wfc-row-v1|", 11);
  mb_put(&b, k->table, strlen(k->table));
  mb_put(&b, "|", 1);
  for (int i = 0; i < k->ncols; i++) {
    const wfc__sval *v = &row->v[i];
    uint8_t t = (uint8_t)v->type;
    mb_put(&b, &t, 1);
    if (v->type == WFC__SV_INT) {
      mb_be(&b, (uint64_t)v->i, 8);
    } else if (v->type == WFC__SV_FLOAT) {
      uint64_t u = 0;
      memcpy(&u, v->p, v->n < sizeof u ? v->n : sizeof u);
      mb_be(&b, u, 8);
    } else if (v->type == WFC__SV_TEXT || v->type == WFC__SV_BLOB) {
      mb_be(&b, v->n, 4);
      mb_put(&b, v->p, v->n);
    }
  }
  rc = b.oom ? WFC_ENOMEM
             : wfc__hmac_sha256(st->mac_key, sizeof st->mac_key, b.p, b.n, out);
  /* The input holds sealed blobs and metadata, never clear secrets. */
  free(b.p);
  return rc;
}

/* 1 when the MAC of row (after its MAC columns) matches them, 0 when not
 * (or absent), or a negative code. Always 1 for a store without MACs. */
static int row_ok(wfc__store *st, int kind, const wfc__srow *row) {
  const wfc__sval *m = &row->v[wfc__rowkinds[kind].ncols];
  uint8_t mac[WFC__SHA256_LEN];
  int rc;

  if (!st->authenticated)
    return 1;
  if ((rc = row_mac(st, kind, row, mac)) != 0)
    return rc;
  if (m->type != WFC__SV_BLOB)
    return 0;
  return wfc__ct_equal(mac, sizeof mac, m->p, m->n);
}

/* The message for a row that does not verify: the clear words, naming the
 * connection (conn_id may be NULL) and, for rows other than the
 * connection's own, what they are. */
static int tampered(const char *conn_id, const char *what) {
  if (conn_id == NULL)
    return fail(WFC_EKEY, "%s: " WFC_CONN_TAMPERED_WORDS,
                what != NULL ? what : "a record");
  if (what == NULL)
    return fail(WFC_EKEY, "connection %s: " WFC_CONN_TAMPERED_WORDS, conn_id);
  return fail(WFC_EKEY, "connection %s: " WFC_CONN_TAMPERED_WORDS " (%s)",
              conn_id, what);
}

/* Inside a write's transaction, before it changes the row of keys: 0 and
 * the row in *row (may be NULL; clear it) when it verifies, WFC_ENOTFOUND
 * when there is none, WFC_EKEY (message from tampered(conn_id, what)) when
 * it does not verify, so a write never makes a changed row valid again.
 * The row stays locked until the transaction ends. */
static int row_verify(wfc__store *st, void *be, int kind,
                      const char *const *keys, const char *conn_id,
                      const char *what, wfc__srow *row) {
  wfc__srow r = {0};
  int rc = st->ops->row_get(be, kind, keys, st->authenticated, 1, &r);

  if (rc == 0) {
    rc = row_ok(st, kind, &r);
    rc = rc == 1 ? 0 : rc == 0 ? tampered(conn_id, what) : rc;
  }
  if (rc == 0 && row != NULL)
    *row = r;
  else
    wfc__srow_clear(&r);
  return rc;
}

/* Inside a write's transaction, after it changed (or inserted) the row of
 * keys: computes the MAC from what the database now holds and stores it. */
static int row_seal(wfc__store *st, void *be, int kind,
                    const char *const *keys) {
  uint8_t mac[WFC__SHA256_LEN];
  wfc__srow r = {0};
  int rc;

  if (!st->authenticated)
    return 0;
  rc = st->ops->row_get(be, kind, keys, 0, 0, &r);
  if (rc == WFC_ENOTFOUND)
    rc = fail(WFC_ENOTFOUND, "store: the %s row to authenticate is gone",
              wfc__rowkinds[kind].table);
  if (rc == 0)
    rc = row_mac(st, kind, &r, mac);
  wfc__srow_clear(&r);
  if (rc == 0)
    rc = st->ops->row_set_mac(be, kind, keys, mac);
  return rc;
}

/* Schema version WFC__STORE_MAC_VERSION, in the opening transaction once
 * the key is verified: every existing row of the three tables gets its MAC.
 * What the rows hold at this moment is trusted (docs/store.md). */
static int mac_existing_rows(wfc__store *st, void *be) {
  int rc = 0;

  for (int kind = 0; rc == 0 && kind < WFC__ROW_KINDS; kind++) {
    int nk = wfc__rowkinds[kind].nkeys;
    char **keys = NULL;
    size_t n = 0;

    rc = st->ops->row_keys(be, kind, &keys, &n);
    for (size_t j = 0; rc == 0 && j < n; j += (size_t)nk)
      rc = row_seal(st, be, kind, (const char *const *)&keys[j]);
    for (size_t j = 0; j < n; j++)
      free(keys[j]);
    free(keys);
  }
  return rc;
}

/* ---- schema ---------------------------------------------------------------
 * Each backend holds the SQL of every version (append only); the steps
 * that need the store's keys run here, after the SQL of every version and
 * the key check, in the same opening transaction, for each version this
 * open crossed. */
static const struct {
  int version;
  int (*run)(wfc__store *st, void *be);
} keyed_migrations[] = {
    {WFC__STORE_MAC_VERSION, mac_existing_rows},
};

/* Called inside the opening transaction, so concurrent openers migrate
 * once. cur: the version the store had when the transaction began. */
static int migrate(wfc__store *st, void *be, int cur, int target) {
  int rc;

  if (cur > WFC__STORE_SCHEMA_VERSION)
    return fail(WFC_ESTORE,
                "store %s has schema version %d, newer than this wfc "
                "understands (%d): upgrade wfc",
                st->path, cur, WFC__STORE_SCHEMA_VERSION);
  for (int v = cur + 1; v <= target; v++)
    if ((rc = st->ops->migrate(be, v)) != 0) {
      char cause[sizeof last_err];
      memcpy(cause, last_err, sizeof cause);
      return fail(rc, "store %s: migration to schema version %d failed (%s)",
                  st->path, v, cause);
    }
  return 0;
}

/* ---- files and keys ---------------------------------------------------- */

int wfc__store_check_private(const char *path, int fd, const char *what,
                             int must_exist) {
  struct stat sb;

  if (fd >= 0 ? fstat(fd, &sb) != 0 : lstat(path, &sb) != 0) {
    if (errno == ENOENT && !must_exist)
      return 0;
    return fail(WFC_ESTORE, "%s %s: %s", what, path, strerror(errno));
  }
  if (S_ISLNK(sb.st_mode))
    return fail(WFC_ESTORE, "%s %s is a symbolic link: refused", what, path);
  if (!S_ISREG(sb.st_mode))
    return fail(WFC_ESTORE, "%s %s is not a regular file", what, path);
  if (sb.st_uid != geteuid())
    return fail(WFC_ESTORE, "%s %s belongs to another user: refused", what,
                path);
  if ((sb.st_mode & 077) != 0)
    return fail(WFC_ESTORE,
                "%s %s has mode %04o: it must not be accessible by group or "
                "others (chmod 600 %s)",
                what, path, (unsigned)(sb.st_mode & 07777), path);
  return 0;
}

void wfc__store_tmp_name(const char *path, const char *infix, char *out,
                         size_t outsz) {
  uint8_t r[4];
  char rh[WFC__HEX_ENCLEN(sizeof r)];

  if (wfc__random(r, sizeof r) != 0 ||
      wfc__hex_encode(r, sizeof r, rh, sizeof rh) != 0)
    strcpy(rh, "0");
  snprintf(out, outsz, "%s%s%ld.%s", path, infix, (long)getpid(), rh);
}

/* 64 hex characters, or base64 (padded or base64url) of 32 bytes; trailing
 * whitespace (a key file's newline) is ignored. */
static int parse_key(const char *text, size_t len, uint8_t key[WFC__KEY_LEN]) {
  uint8_t buf[WFC__B64_DECLEN(44)];
  size_t n = 0;
  int ok;

  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' ||
                     text[len - 1] == ' ' || text[len - 1] == '\t'))
    len--;
  if (len == 2 * WFC__KEY_LEN)
    ok = wfc__hex_decode(text, len, buf, sizeof buf, &n) == 0;
  else
    ok = wfc__base64_decode(text, len, buf, sizeof buf, &n) == 0 ||
         wfc__base64url_decode(text, len, buf, sizeof buf, &n) == 0;
  ok = ok && n == WFC__KEY_LEN;
  if (ok)
    memcpy(key, buf, WFC__KEY_LEN);
  wfc__cleanse(buf, sizeof buf);
  return ok ? 0 : WFC_EINVAL;
}

/* 0 and the key; WFC_ENOTFOUND if the file does not exist. */
static int read_key_file(const char *kpath, uint8_t key[WFC__KEY_LEN]) {
  char buf[256];
  ssize_t n;
  int fd, rc;

  fd = open(kpath, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT)
      return WFC_ENOTFOUND;
    if (errno == ELOOP)
      return fail(WFC_ESTORE, "key file %s is a symbolic link: refused", kpath);
    return fail(WFC_ESTORE, "cannot open key file %s: %s", kpath,
                strerror(errno));
  }
  if ((rc = wfc__store_check_private(kpath, fd, "key file", 1)) != 0) {
    close(fd);
    return rc;
  }
  n = read(fd, buf, sizeof buf);
  close(fd);
  if (n < 0)
    return fail(WFC_ESTORE, "cannot read key file %s: %s", kpath,
                strerror(errno));
  rc = parse_key(buf, (size_t)n, key);
  wfc__cleanse(buf, sizeof buf);
  if (rc != 0)
    return fail(WFC_EINVAL,
                "key file %s must hold 64 hex characters or the base64 of "
                "32 bytes",
                kpath);
  return 0;
}

void wfc__store_fsync_parent_dir(const char *path) {
  char *dir = strdup(path), *slash;
  int fd;

  if (dir == NULL)
    return;
  slash = strrchr(dir, '/');
  if (slash == dir)
    slash[1] = '\0';
  else if (slash != NULL)
    *slash = '\0';
  else
    strcpy(dir, ".");
  fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)fsync(fd);
    close(fd);
  }
  free(dir);
}

/* A new random key, written in full to a temporary file and then linked
 * into place, so a reader never sees half a key and two creators cannot
 * both win: the loser reads the winner's key. */
static int create_key_file(const char *kpath, uint8_t key[WFC__KEY_LEN]) {
  char hex[WFC__HEX_ENCLEN(WFC__KEY_LEN) + 1];
  char *tmp;
  size_t tlen = strlen(kpath) + 32;
  int fd, rc = 0;

  if ((rc = wfc__random(key, WFC__KEY_LEN)) != 0)
    return fail(rc, "cannot draw a master key: the random generator failed");
  if ((tmp = malloc(tlen)) == NULL)
    return fail(WFC_ENOMEM, "out of memory");
  wfc__store_tmp_name(kpath, ".tmp.", tmp, tlen);
  (void)wfc__hex_encode(key, WFC__KEY_LEN, hex, sizeof hex - 1);
  strcat(hex, "\n");
  fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    rc =
        fail(WFC_ESTORE, "cannot create key file %s: %s", tmp, strerror(errno));
    goto done;
  }
  if (write(fd, hex, strlen(hex)) != (ssize_t)strlen(hex) || fsync(fd) != 0) {
    rc = fail(WFC_ESTORE, "cannot write key file %s: %s", tmp, strerror(errno));
    close(fd);
    unlink(tmp);
    goto done;
  }
  close(fd);
  if (link(tmp, kpath) != 0) {
    int e = errno;
    unlink(tmp);
    if (e == EEXIST) {
      rc = read_key_file(kpath, key);
      goto done;
    }
    rc = fail(WFC_ESTORE, "cannot create key file %s: %s", kpath, strerror(e));
    goto done;
  }
  unlink(tmp);
  wfc__store_fsync_parent_dir(kpath);
done:
  wfc__cleanse(hex, sizeof hex);
  free(tmp);
  return rc;
}

/* The master key is never used directly: sealing and record
 * authentication use sub-keys bound to their purpose, so the same master
 * key can safely serve other uses and no key serves two. */
static int derive_keys(wfc__store *st, const uint8_t master[WFC__KEY_LEN]) {
  static const char salt[] = "wfc-store-v1", info[] = "connection secrets",
                    mac_info[] = "record authentication";
  int rc = wfc__hkdf_sha256(master, WFC__KEY_LEN, salt, sizeof salt - 1, info,
                            sizeof info - 1, st->seal_key, WFC__KEY_LEN);
  if (rc == 0)
    rc = wfc__hkdf_sha256(master, WFC__KEY_LEN, salt, sizeof salt - 1, mac_info,
                          sizeof mac_info - 1, st->mac_key, WFC__KEY_LEN);
  return rc ? fail(rc, "cannot derive the store keys") : 0;
}

static const char key_check_aad[] = "wfc-keycheck-v1";
/* The key check's text also says whether the store's rows carry MACs, under
 * the seal: lowering the schema version (to have the MAC migration run
 * again over changed rows) or dropping the key check is then seen and
 * refused. */
static const char key_check_plain[] = "wfc key check: this store's key";
static const char key_check_plain_mac[] =
    "wfc key check: this store's key; records authenticated";

/* Writes the key check for a store whose rows carry MACs (mac) or not. */
static int write_key_check(wfc__store *st, void *be, int mac) {
  const char *text = mac ? key_check_plain_mac : key_check_plain;
  uint8_t *sealed = NULL;
  size_t slen = 0;
  int rc = wfc__seal(st->seal_key, key_check_aad, sizeof key_check_aad - 1,
                     text, strlen(text), &sealed, &slen);

  if (rc != 0)
    return fail(rc, "cannot seal the key check");
  rc = st->ops->meta_put(be, "key_check", sealed, slen);
  free(sealed);
  return rc;
}

/* Inside the opening transaction: verify the key-check record, or write it
 * when creating the store (creating: this open builds a new store; only
 * then may the key check, and the key file, be made). Without a master key
 * from the host or the environment the key file is read, or created for a
 * new store only (an existing store without its key must not get a new
 * one). *mac receives whether the key check says the rows carry MACs. */
static int key_check(wfc__store *st, void *be, int creating, int *mac) {
  uint8_t *sealed = NULL, *plain = NULL;
  size_t slen = 0, plen = 0;
  const char *key_src = st->key_src;
  int rc;

  *mac = 0;
  rc = st->ops->meta_get(be, "key_check", &sealed, &slen);
  if (rc != 0 && rc != WFC_ENOTFOUND)
    return rc;
  if (sealed == NULL && !creating)
    return fail(WFC_ESTORE,
                "store %s has no key check: " WFC_CONN_TAMPERED_WORDS
                " (refused: a new key check would bless whatever it holds)",
                st->path);

  if (!st->have_master && st->key_file == NULL) {
    rc = fail(WFC_EKEY,
              "store %s: WFC_MASTER_KEY is not set (a database store has no "
              "key file: give the master key through WFC_MASTER_KEY or the "
              "host)",
              st->path);
    goto done;
  }
  if (!st->have_master) {
    rc = read_key_file(st->key_file, st->master);
    if (rc == WFC_ENOTFOUND && sealed == NULL)
      rc = create_key_file(st->key_file, st->master);
    else if (rc == WFC_ENOTFOUND)
      rc = fail(WFC_EKEY,
                "store %s holds sealed data but its key file %s is missing "
                "and WFC_MASTER_KEY is not set",
                st->path, st->key_file);
    if (rc != 0)
      goto done;
    key_src = st->key_file;
  }
  if ((rc = derive_keys(st, st->master)) != 0)
    goto done;

  if (sealed != NULL) {
    rc = wfc__open(st->seal_key, key_check_aad, sizeof key_check_aad - 1,
                   sealed, slen, &plain, &plen);
    if (rc == 0 && wfc__ct_equal(plain, plen, key_check_plain_mac,
                                 sizeof key_check_plain_mac - 1))
      *mac = 1;
    else if (rc == WFC_EKEY ||
             (rc == 0 && !wfc__ct_equal(plain, plen, key_check_plain,
                                        sizeof key_check_plain - 1)))
      rc = fail(WFC_EKEY,
                "the master key does not match this store (%s; store %s)",
                key_src, st->path);
    else if (rc != 0)
      rc = fail(rc, "cannot verify the master key");
    goto done;
  }
  /* A new store: its rows carry MACs from the start when its schema does. */
  *mac = st->authenticated;
  rc = write_key_check(st, be, *mac);
done:
  free(sealed);
  wfc__secmem_free(plain);
  return rc;
}

/* ---- open / close ------------------------------------------------------ */

int wfc__store_open_tx(wfc__store *st, void *be, int creating) {
  const wfc__store_ops *ops = st->ops;
  int cur, ver, mac, rc;

  if ((rc = ops->begin(be)) != 0)
    return rc;
  if ((rc = ops->version_get(be, &cur)) != 0)
    goto done;
  st->opened_at = cur;
  if (cur == 0 && !creating) {
    rc = fail(WFC_ESTORE,
              "%s %s is %s but not a wfc store (schema version 0): refused "
              "(remove it to start afresh)",
              ops->noun, st->path, ops->db_words);
    goto done;
  }
  if ((rc = migrate(st, be, cur, st->target)) != 0 ||
      (rc = ops->version_get(be, &ver)) != 0)
    goto done;
  st->authenticated = creating && ver >= WFC__STORE_MAC_VERSION;
  if ((rc = key_check(st, be, creating, &mac)) != 0)
    goto done;
  if (!creating && mac != (cur >= WFC__STORE_MAC_VERSION)) {
    /* Lowering the version would have the MAC migration bless changed
     * rows; raising it (or an old key check) would skip verification. */
    rc = fail(WFC_ESTORE,
              "store %s: its schema version (%d) does not match its key "
              "check: " WFC_CONN_TAMPERED_WORDS,
              st->path, cur);
    goto done;
  }
  st->authenticated = ver >= WFC__STORE_MAC_VERSION;
  for (size_t i = 0;
       rc == 0 && i < sizeof keyed_migrations / sizeof *keyed_migrations; i++)
    if (cur < keyed_migrations[i].version &&
        keyed_migrations[i].version <= ver) {
      rc = keyed_migrations[i].run(st, be);
      if (rc != 0) {
        char cause[sizeof last_err];
        memcpy(cause, last_err, sizeof cause);
        rc = fail(rc, "store %s: migration to schema version %d failed (%s)",
                  st->path, keyed_migrations[i].version, cause);
      }
    }
  if (rc == 0 && st->authenticated && !mac)
    rc = write_key_check(st, be, 1);
  if (rc == 0)
    rc = ops->commit(be);
done:
  if (rc != 0)
    ops->rollback(be);
  return rc;
}

/* The backend a location names: PostgreSQL for a URL or libpq keywords
 * (a module loaded on first use: store_pg_load.c), else an SQLite file
 * path. */
static const wfc__store_ops *backend_of(const char *location) {
  if (wfc__store_pg_location(location))
    return wfc__store_pg_backend();
  return &wfc__store_sqlite_ops;
}

void wfc__store_describe(const char *location, char *buf, size_t len) {
  if (location == NULL) {
    snprintf(buf, len, "(none)");
    return;
  }
  backend_of(location)->describe(location, buf, len);
}

const char *wfc__store_backend_name(const char *location) {
  return backend_of(location)->name;
}

const wfc__store_ops *wfc__store_backend(wfc__store *st, void **be) {
  attempt a = {.st = st};

  *be = NULL;
  if (att_begin(&a) != 0) /* nothing lent (SQLite never fails here) */
    return NULL;
  *be = a.be;
  return st->ops;
}

void wfc__store_backend_done(wfc__store *st, void *be) {
  attempt a = {.st = st, .be = be};
  (void)att_again(&a, &(int){0});
}

int wfc__store_opened_at(const wfc__store *st) {
  return st->opened_at;
}

int wfc__store_resolve_key(const char *location, uint8_t key[WFC__KEY_LEN],
                           char *src, size_t srclen) {
  const char *env = getenv("WFC_MASTER_KEY");
  char kpath[4200];

  last_err[0] = '\0';
  if (env != NULL && env[0] != '\0') {
    snprintf(src, srclen, "WFC_MASTER_KEY");
    if (parse_key(env, strlen(env), key) != 0)
      return fail(WFC_EINVAL, "WFC_MASTER_KEY must be 64 hex characters or "
                              "the base64 of 32 bytes");
    return 0;
  }
  if (wfc__store_pg_location(location))
    return fail(WFC_EKEY,
                "WFC_MASTER_KEY is not set (a database store has no key "
                "file)");
  snprintf(kpath, sizeof kpath, "%s.key", location);
  snprintf(src, srclen, "%s", kpath);
  int rc = read_key_file(kpath, key);
  if (rc == WFC_ENOTFOUND)
    rc = fail(WFC_EKEY,
              "the key file %s is missing and WFC_MASTER_KEY is not "
              "set",
              kpath);
  return rc;
}

static int store_open(wfc__store *st, const char *location,
                      const wfc__store_opts *opts) {
  const char *env = getenv("WFC_MASTER_KEY");
  int timeout = opts->busy_timeout_ms > 0 ? opts->busy_timeout_ms : 5000;
  int rc;

  const char *wait = getenv("WFC_STORE_WAIT_MS");

  st->wait_ms = opts->wait_ms > 0 ? opts->wait_ms : 10000;
  if (opts->wait_ms == 0 && wait != NULL && wait[0] != '\0') {
    char *end;
    long v = strtol(wait, &end, 10);
    if (*end != '\0' || v < 0 || v > 24L * 3600 * 1000)
      return fail(WFC_EINVAL, "WFC_STORE_WAIT_MS must be a number of "
                              "milliseconds (0 to 86400000)");
    st->wait_ms = (int)v;
  }
  st->target = opts->schema_version;
  if (st->target == 0)
    st->target = WFC__STORE_SCHEMA_VERSION;
  if (st->target < 1 || st->target > WFC__STORE_SCHEMA_VERSION)
    return fail(WFC_EINVAL, "schema_version %d is out of range 1..%d",
                st->target, WFC__STORE_SCHEMA_VERSION);
  if (opts->master_key != NULL) {
    memcpy(st->master, opts->master_key, WFC__KEY_LEN);
    st->have_master = 1;
    st->key_src = "the master key given by the host";
  } else if (env != NULL && env[0] != '\0') {
    if (parse_key(env, strlen(env), st->master) != 0)
      return fail(WFC_EINVAL, "WFC_MASTER_KEY must be 64 hex characters or "
                              "the base64 of 32 bytes");
    st->have_master = 1;
    st->key_src = "WFC_MASTER_KEY";
  }
  /* A database that cannot be reached yet (starting, restarting) is
   * waited for as by every operation. */
  attempt a = {.st = st};
  do {
    lost = 0;
    rc = st->ops->open(st, location, timeout, &st->be);
  } while (att_retry(&a, &rc));
  wfc__cleanse(st->master, sizeof st->master);
  return rc;
}

int wfc__store_open_ex(const char *path, const wfc__store_opts *opts,
                       wfc__store **out, char *err, size_t errlen) {
  static const wfc__store_opts defaults;
  char where[512];
  wfc__store *st;
  int rc;

  last_err[0] = '\0';
  if (err != NULL && errlen > 0)
    err[0] = '\0';
  if (out == NULL) {
    rc = fail(WFC_EINVAL, "store: no output handle");
    goto report;
  }
  *out = NULL;
  if (path == NULL || path[0] == '\0' || strlen(path) > 4000) {
    rc = fail(WFC_EINVAL, "store: path is empty or too long");
    goto report;
  }
  wfc__store_describe(path, where, sizeof where);
  /* In secret memory: the handle holds the keys derived from the master
   * key, which open every sealed secret of the store. */
  if ((st = wfc__secmem_alloc(sizeof *st)) == NULL ||
      (st->path = strdup(where)) == NULL) {
    wfc__secmem_free(st);
    rc = fail(WFC_ENOMEM, "out of memory");
    goto report;
  }
  st->ops = backend_of(path);
  pthread_mutex_init(&st->mu, NULL);
  rc = store_open(st, path, opts != NULL ? opts : &defaults);
  if (rc != 0) {
    wfc__store_close(st);
    goto report;
  }
  *out = st;
  return 0;
report:
  if (err != NULL && errlen > 0)
    snprintf(err, errlen, "%s", last_err);
  return rc;
}

int wfc__store_open(const char *path, wfc__store **out, char *err,
                    size_t errlen) {
  return wfc__store_open_ex(path, NULL, out, err, errlen);
}

void wfc__store_close(wfc__store *st) {
  if (st == NULL)
    return;
  if (st->be != NULL)
    st->ops->close(st->be);
  wfc__cleanse(st->seal_key, sizeof st->seal_key);
  wfc__cleanse(st->mac_key, sizeof st->mac_key);
  pthread_mutex_destroy(&st->mu);
  free(st->path);
  free(st->key_file);
  wfc__secmem_free(st); /* cleansed */
}

int wfc__store_schema_version(wfc__store *st) {
  attempt a = {.st = st};
  int v = -1, rc;

  do {
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->version_get(a.be, &v);
  } while (att_again(&a, &rc));
  return rc == 0 ? v : -1;
}

/* ---- connections ------------------------------------------------------- */

static const char *const conn_states[] = {
    "authorizing",
    "connected",
    "needs_admin_approval",
    "approval_pending",
    "reauthorization_required",
    "revoked",
    "error",
};

int wfc__conn_state_valid(const char *state) {
  if (state == NULL)
    return 0;
  for (size_t i = 0; i < sizeof conn_states / sizeof *conn_states; i++)
    if (strcmp(state, conn_states[i]) == 0)
      return 1;
  return 0;
}

void wfc__conn_rec_clear(wfc__conn_rec *rec) {
  if (rec == NULL)
    return;
  free(rec->params);
  memset(rec, 0, sizeof *rec);
}

/* A text value for a field of size bytes (NUL included): terminated in
 * time, no control characters, present when required. */
static int check_field(const char *field, const char *v, size_t size,
                       int required) {
  size_t len;

  if (v == NULL) {
    if (required)
      return fail(WFC_EINVAL, "connection %s is required", field);
    return 0;
  }
  len = strnlen(v, size);
  if (len == size)
    return fail(WFC_EINVAL, "connection %s is longer than %zu bytes", field,
                size - 1);
  if (required && len == 0)
    return fail(WFC_EINVAL, "connection %s is required", field);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
      return fail(WFC_EINVAL, "connection %s contains a control character",
                  field);
  return 0;
}

static int check_id(const char *id) {
  int rc = check_field("id", id, WFC__CONN_ID_SIZE, 1);
  if (rc != 0)
    return rc;
  for (const char *p = id; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
          (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
      return fail(WFC_EINVAL, "connection id may hold only letters, digits, "
                              "'_' and '-'");
  return 0;
}

static int check_state(const char *state) {
  if (!wfc__conn_state_valid(state))
    return fail(WFC_EINVAL,
                "connection state must be one of authorizing, connected, "
                "needs_admin_approval, approval_pending, "
                "reauthorization_required, revoked, error");
  return 0;
}

/* The AAD binds a sealed blob to its record: copied to another row, it
 * does not open. */
static void conn_aad(char *buf, size_t size, const char *id,
                     const char *plugin) {
  snprintf(buf, size, "wfc-conn-v1|%s|%s", id, plugin);
}

#define CONN_AAD_SIZE (16 + WFC__CONN_ID_SIZE + WFC__CONN_NAME_SIZE)

static int seal_secrets(wfc__store *st, const char *id, const char *plugin,
                        const char *json, uint8_t **blob, size_t *blen) {
  char aad[CONN_AAD_SIZE];
  int rc;

  conn_aad(aad, sizeof aad, id, plugin);
  rc =
      wfc__seal(st->seal_key, aad, strlen(aad), json, strlen(json), blob, blen);
  return rc ? fail(rc, "cannot seal the secrets of connection %s", id) : 0;
}

/* params must be a JSON object: checked here, the same for every backend
 * (the database never parses it). */
static int check_params(const char *json) {
  struct json_object *o = NULL;
  int ok = wfc__json_parse(json, strlen(json), 0, &o, NULL, 0) == 0 &&
           json_object_is_type(o, json_type_object);

  json_object_put(o);
  return ok ? 0 : fail(WFC_EINVAL, "connection params must be a JSON object");
}

/* text into dst (size bytes, NUL included): 1 when it was cut. */
static int copy_text(const wfc__sval *v, char *dst, size_t size) {
  size_t n = v->type == WFC__SV_TEXT ? v->n : 0;
  int cut = n >= size;

  if (cut)
    n = size - 1;
  if (n)
    memcpy(dst, v->p, n);
  dst[n] = '\0';
  return cut;
}

/* rec from a connection row. A field too long for rec (only a row written
 * outside the store can hold one) is cut and the record marked tampered. */
static int row_to_rec(wfc__store *st, const wfc__srow *r, wfc__conn_rec *rec) {
  const char *params;
  int ok;

  memset(rec, 0, sizeof *rec);
  if ((ok = row_ok(st, WFC__ROW_CONN, r)) < 0)
    return ok;
  rec->tampered = !ok;
  rec->tampered |= copy_text(&r->v[WFC__CC_ID], rec->id, sizeof rec->id);
  rec->tampered |=
      copy_text(&r->v[WFC__CC_NICKNAME], rec->nickname, sizeof rec->nickname);
  rec->tampered |=
      copy_text(&r->v[WFC__CC_PLUGIN], rec->plugin, sizeof rec->plugin);
  rec->tampered |= copy_text(&r->v[WFC__CC_CONN_TYPE], rec->conn_type,
                             sizeof rec->conn_type);
  rec->tampered |= copy_text(&r->v[WFC__CC_ENVIRONMENT], rec->environment,
                             sizeof rec->environment);
  rec->tampered |=
      copy_text(&r->v[WFC__CC_ACCOUNT], rec->account, sizeof rec->account);
  rec->tampered |=
      copy_text(&r->v[WFC__CC_OWNER], rec->owner, sizeof rec->owner);
  rec->tampered |=
      copy_text(&r->v[WFC__CC_STATE], rec->state, sizeof rec->state);
  rec->tampered |=
      copy_text(&r->v[WFC__CC_REMEDY], rec->remedy, sizeof rec->remedy);
  params = sv_text(&r->v[WFC__CC_PARAMS]);
  if ((rec->params = strdup(params ? params : "{}")) == NULL)
    return fail(WFC_ENOMEM, "out of memory");
  rec->has_secrets = r->v[WFC__CC_SECRETS].type != WFC__SV_NULL;
  rec->created_at = r->v[WFC__CC_CREATED_AT].i;
  rec->updated_at = r->v[WFC__CC_UPDATED_AT].i;
  rec->expires_at = r->v[WFC__CC_EXPIRES_AT].i;
  rec->last_used_at = r->v[WFC__CC_LAST_USED_AT].i;
  return 0;
}

int wfc__store_conn_insert(wfc__store *st, wfc__conn_rec *rec,
                           const char *secrets_json) {
  uint8_t *blob = NULL;
  size_t blen = 0;
  int64_t now = wfc__now_ms();
  const char *params;
  int rc;

  last_err[0] = '\0';
  if (st == NULL || rec == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_field("nickname", rec->nickname, sizeof rec->nickname, 1)) ||
      (rc = check_field("plugin", rec->plugin, sizeof rec->plugin, 1)) ||
      (rc = check_field("conn_type", rec->conn_type, sizeof rec->conn_type,
                        1)) ||
      (rc = check_field("environment", rec->environment,
                        sizeof rec->environment, 0)) ||
      (rc = check_field("account", rec->account, sizeof rec->account, 0)) ||
      (rc = check_field("owner", rec->owner, sizeof rec->owner, 0)) ||
      (rc = check_field("remedy", rec->remedy, sizeof rec->remedy, 0)) ||
      (rc = check_field("state", rec->state, sizeof rec->state, 0)))
    return rc;
  if (rec->state[0] == '\0')
    strcpy(rec->state, "authorizing");
  if ((rc = check_state(rec->state)) != 0)
    return rc;
  if (rec->id[0] == '\0') {
    uint8_t raw[8];
    char hex[WFC__HEX_ENCLEN(sizeof raw)];
    if ((rc = wfc__random(raw, sizeof raw)) != 0)
      return fail(rc, "cannot draw a connection id");
    (void)wfc__hex_encode(raw, sizeof raw, hex, sizeof hex);
    snprintf(rec->id, sizeof rec->id, "conn_%s", hex);
  } else if ((rc = check_id(rec->id)) != 0) {
    return rc;
  }
  params = rec->params != NULL ? rec->params : "{}";
  if ((rc = check_params(params)) != 0)
    return rc;
  if (secrets_json != NULL &&
      (rc = seal_secrets(st, rec->id, rec->plugin, secrets_json, &blob,
                         &blen)) != 0)
    return rc;

  attempt a = {.st = st};
  do {
    void *be;
    if ((rc = att_begin(&a)) != 0)
      continue;
    be = a.be;
    if ((rc = st->ops->begin(be)) == 0 &&
        (rc = st->ops->conn_insert(be, rec, params, blob, blen, now)) == 0 &&
        (rc = row_seal(st, be, WFC__ROW_CONN,
                       (const char *const[]){rec->id})) == 0)
      rc = st->ops->commit(be);
    if (rc != 0)
      st->ops->rollback(be);
  } while (att_again(&a, &rc));
  if (rc == 0) {
    rec->created_at = rec->updated_at = now;
    rec->has_secrets = blob != NULL;
    rec->tampered = 0;
  }
  free(blob); /* ciphertext only */
  return rc;
}

/* conn_find collecting up to cap records (cap 0: no bound). */
typedef struct conn_collect {
  wfc__store *st;
  wfc__conn_rec *recs;
  size_t n, cap, max;
  int seen;
} conn_collect;

static int collect_cb(const wfc__srow *row, void *arg) {
  conn_collect *c = arg;
  int rc;

  c->seen++;
  if (c->max != 0 && c->n >= c->max)
    return 0;
  if (c->n == c->cap) {
    size_t ncap = c->cap ? 2 * c->cap : 8;
    wfc__conn_rec *nr = realloc(c->recs, ncap * sizeof *nr);
    if (nr == NULL)
      return fail(WFC_ENOMEM, "out of memory");
    c->recs = nr;
    c->cap = ncap;
  }
  if ((rc = row_to_rec(c->st, row, &c->recs[c->n])) != 0) {
    wfc__conn_rec_clear(&c->recs[c->n]);
    return rc;
  }
  c->n++;
  return 0;
}

static void collect_free(conn_collect *c) {
  for (size_t i = 0; i < c->n; i++)
    wfc__conn_rec_clear(&c->recs[i]);
  free(c->recs);
}

int wfc__store_conn_get(wfc__store *st, const char *id_or_nickname,
                        wfc__conn_rec *rec) {
  conn_collect c = {.st = st, .max = 1};
  int rc;

  last_err[0] = '\0';
  if (st == NULL || rec == NULL || id_or_nickname == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  memset(rec, 0, sizeof *rec);
  attempt a = {.st = st};
  do {
    collect_free(&c);
    c = (conn_collect){.st = st, .max = 1};
    if ((rc = att_begin(&a)) != 0)
      continue;
    /* An exact id wins over any nickname. */
    rc = st->ops->conn_find(a.be, WFC__FIND_ID, id_or_nickname,
                            st->authenticated, collect_cb, &c);
    if (rc == 0 && c.seen == 0)
      rc = st->ops->conn_find(a.be, WFC__FIND_NICKNAME, id_or_nickname,
                              st->authenticated, collect_cb, &c);
  } while (att_again(&a, &rc));
  if (rc == 0 && c.seen == 0)
    rc = fail(WFC_ENOTFOUND, "no connection with id or nickname '%s'",
              id_or_nickname);
  else if (rc == 0 && c.seen > 1)
    rc = fail(WFC_EINVAL,
              "nickname '%s' is used by several owners: name the connection "
              "by its id",
              id_or_nickname);
  if (rc == 0) {
    *rec = c.recs[0];
    c.n = 0; /* moved to rec */
    collect_free(&c);
    if (rec->tampered)
      return tampered(rec->id, NULL); /* rec kept, to be shown */
    return 0;
  }
  collect_free(&c);
  return rc;
}

int wfc__store_conn_list(wfc__store *st, const char *plugin,
                         wfc__conn_list_cb cb, void *arg) {
  conn_collect c = {.st = st};
  int rc;

  last_err[0] = '\0';
  if (st == NULL || cb == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  /* Collect first, then call back with the connection given back. */
  attempt a = {.st = st};
  do {
    collect_free(&c);
    c = (conn_collect){.st = st};
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->conn_find(a.be, WFC__FIND_PLUGIN, plugin, st->authenticated,
                              collect_cb, &c);
  } while (att_again(&a, &rc));
  for (size_t i = 0; i < c.n; i++)
    if (rc == 0)
      rc = cb(&c.recs[i], arg);
  collect_free(&c);
  return rc;
}

/* Runs one change of a verified connection in a transaction with its new
 * MAC. WFC_ENOTFOUND when no row has the id, WFC_EKEY when it does not
 * verify (nothing written). */
static int conn_update_tx(wfc__store *st, void *be, const char *id,
                          wfc__conn_change *ch) {
  int rc;

  if ((rc = st->ops->begin(be)) != 0)
    goto done;
  rc = row_verify(st, be, WFC__ROW_CONN, &id, id, NULL, NULL);
  if (rc == WFC_ENOTFOUND)
    rc = fail(WFC_ENOTFOUND, "no connection with id '%s'", id);
  ch->updated_at = wfc__now_ms();
  if (rc == 0 && (rc = st->ops->conn_update(be, id, ch, NULL)) == 0 &&
      (rc = row_seal(st, be, WFC__ROW_CONN, &id)) == 0)
    rc = st->ops->commit(be);
done:
  if (rc != 0)
    st->ops->rollback(be);
  return rc;
}

static int conn_update(wfc__store *st, const char *id, wfc__conn_change *ch) {
  attempt a = {.st = st};
  int rc;

  do {
    if ((rc = att_begin(&a)) == 0)
      rc = conn_update_tx(st, a.be, id, ch);
  } while (att_again(&a, &rc));
  return rc;
}

int wfc__store_conn_update_state(wfc__store *st, const char *id,
                                 const char *state, const char *remedy) {
  int rc;

  last_err[0] = '\0';
  if (st == NULL || id == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_state(state)) != 0 ||
      (rc = check_field("remedy", remedy, WFC__CONN_REMEDY_SIZE, 0)) != 0)
    return rc;
  return conn_update(
      st, id,
      &(wfc__conn_change){.state = state, .remedy = remedy ? remedy : ""});
}

int wfc__store_conn_update_account(wfc__store *st, const char *id,
                                   const char *account) {
  int rc;

  last_err[0] = '\0';
  if (st == NULL || id == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_field("account", account, WFC__CONN_ACCOUNT_SIZE, 1)) != 0)
    return rc;
  return conn_update(st, id, &(wfc__conn_change){.account = account});
}

int wfc__store_conn_update_params(wfc__store *st, const char *id,
                                  const char *params_json) {
  int rc;

  last_err[0] = '\0';
  if (st == NULL || id == NULL || params_json == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_params(params_json)) != 0)
    return rc;
  return conn_update(st, id, &(wfc__conn_change){.params = params_json});
}

/* The connection's row, verified, inside the caller's lock (and
 * transaction, for a write, which it locks): *row (clear it).
 * WFC_ENOTFOUND, WFC_EKEY (does not verify). */
static int conn_row(wfc__store *st, void *be, const char *id, int lock,
                    wfc__srow *row) {
  int rc =
      st->ops->row_get(be, WFC__ROW_CONN, &id, st->authenticated, lock, row);

  if (rc == WFC_ENOTFOUND)
    return fail(WFC_ENOTFOUND, "no connection with id '%s'", id);
  if (rc == 0) {
    rc = row_ok(st, WFC__ROW_CONN, row);
    rc = rc == 1 ? 0 : rc == 0 ? tampered(id, NULL) : rc;
  }
  if (rc != 0)
    wfc__srow_clear(row);
  return rc;
}

/* The fence of a write done under a lease (docs/store.md, "Fencing"),
 * inside the write's transaction on be: the lease row is read and stays
 * locked until the transaction ends (lease_lock). 0 when holder still
 * holds the lease with fence; WFC_ESTALE when the row has another holder
 * or number or is gone (taken over, released, renumbered: the write must
 * not happen); another error as the read gave it. The one verdict for
 * every backend and every fenced write. */
static int fence_check(wfc__store *st, void *be, const char *conn_id,
                       const char *card_id, const char *sub_key,
                       const char *holder, int64_t fence) {
  wfc__lease l;
  int rc = st->ops->lease_lock(be, conn_id, card_id, sub_key, &l);

  if (rc == WFC_ENOTFOUND ||
      (rc == 0 && (strcmp(l.holder, holder) != 0 || l.fence != fence)))
    return wfc__store_lease_lost(conn_id, card_id, fence);
  return rc;
}

/* One attempt of update_secrets on be. */
static int update_secrets_tx(wfc__store *st, void *be, const char *id,
                             const char *secrets_json, int64_t expires_at,
                             const char *holder, int64_t fence, int *released) {
  char plugin[WFC__CONN_NAME_SIZE];
  wfc__srow row = {0};
  uint8_t *blob = NULL;
  size_t blen = 0;
  int rc, changes = 0, gone = 0;

  if (released != NULL)
    *released = 0;
  if ((rc = st->ops->begin(be)) != 0)
    goto done;
  /* Fenced: a holder whose lease was taken over since (it stalled past
   * its expiry) writes nothing: the taker's tokens, or its refresh to
   * come, are newer. The lease row stays locked until the commit. */
  if (holder != NULL && fence > 0 &&
      (rc = fence_check(st, be, id, NULL, NULL, holder, fence)) != 0)
    goto done;
  if ((rc = conn_row(st, be, id, 1, &row)) != 0)
    goto done;
  /* The plugin names the record in the AAD. */
  (void)copy_text(&row.v[WFC__CC_PLUGIN], plugin, sizeof plugin);
  wfc__srow_clear(&row);
  if ((rc = seal_secrets(st, id, plugin, secrets_json, &blob, &blen)) != 0 ||
      (rc = st->ops->conn_update(be, id,
                                 &(wfc__conn_change){
                                     .set_secrets = 1,
                                     .blob = blob,
                                     .blen = blen,
                                     .expires_at = expires_at,
                                     .unless_revoked = holder != NULL,
                                     .updated_at = wfc__now_ms(),
                                 },
                                 &changes)) != 0)
    goto done;
  gone = changes == 0; /* revoked meanwhile (conn_row found the row) */
  if (!gone && (rc = row_seal(st, be, WFC__ROW_CONN, &id)) != 0)
    goto done;
  /* last_used_at is outside the MAC: no reseal after it. */
  if (!gone && holder != NULL &&
      (rc = st->ops->conn_touch(be, id, wfc__now_ms(), &changes)) != 0)
    goto done;
  if (holder != NULL) {
    if ((rc = st->ops->lease_delete(be, id, holder, &changes)) != 0)
      goto done;
    if (released != NULL)
      *released = changes > 0;
  }
  if ((rc = st->ops->commit(be)) != 0)
    goto done;
  if (gone)
    rc = fail(WFC_EREAUTH,
              "connection %s was revoked while it was refreshed; the new "
              "tokens were not stored",
              id);
  free(blob);
  return rc;
done:
  st->ops->rollback(be);
  free(blob); /* ciphertext only */
  if (released != NULL)
    *released = 0;
  return rc;
}

/* Writes the sealed secrets of id and, with a holder, releases its lease,
 * in one transaction. With a holder (the end of a refresh) a revoked
 * connection keeps its wiped secrets: WFC_EREAUTH, lease released; and
 * last_used_at is set in the same transaction (a refresh is what a use
 * writes: the token service writes nothing for a token still valid, so a
 * read-only card run leaves the store untouched). */
static int update_secrets(wfc__store *st, const char *id,
                          const char *secrets_json, int64_t expires_at,
                          const char *holder, int64_t fence, int *released) {
  attempt a = {.st = st};
  int rc;

  last_err[0] = '\0';
  if (released != NULL)
    *released = 0;
  if (st == NULL || id == NULL || secrets_json == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = update_secrets_tx(st, a.be, id, secrets_json, expires_at, holder,
                             fence, released);
  } while (att_again(&a, &rc));
  return rc;
}

int wfc__store_conn_update_secrets(wfc__store *st, const char *id,
                                   const char *secrets_json,
                                   int64_t expires_at) {
  return update_secrets(st, id, secrets_json, expires_at, NULL, 0, NULL);
}

int wfc__store_conn_rotate(wfc__store *st, const char *id,
                           const char *secrets_json, int64_t expires_at,
                           const char *holder, int64_t fence, int *released) {
  if (holder == NULL || holder[0] == '\0') {
    last_err[0] = '\0';
    return fail(WFC_EINVAL, "refresh lease: a holder is required");
  }
  return update_secrets(st, id, secrets_json, expires_at, holder, fence,
                        released);
}

int wfc__store_conn_secrets(wfc__store *st, const char *id, char **json) {
  char plugin[WFC__CONN_NAME_SIZE], aad[CONN_AAD_SIZE];
  wfc__srow row = {0};
  const wfc__sval *sec;
  uint8_t *plain = NULL;
  size_t plen;
  int rc;

  last_err[0] = '\0';
  if (st == NULL || id == NULL || json == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  *json = NULL;
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = conn_row(st, a.be, id, 0, &row);
  } while (att_again(&a, &rc));
  if (rc != 0)
    return rc;
  (void)copy_text(&row.v[WFC__CC_PLUGIN], plugin, sizeof plugin);
  sec = &row.v[WFC__CC_SECRETS];
  if (sec->type == WFC__SV_NULL) {
    rc = fail(WFC_ENOTFOUND, "connection %s holds no secrets", id);
    goto done;
  }
  conn_aad(aad, sizeof aad, id, plugin);
  rc = wfc__open(st->seal_key, aad, strlen(aad), sec->p, sec->n, &plain, &plen);
  if (rc == WFC_EKEY) /* a blob sealed before its row had a MAC */
    rc = tampered(id, "its sealed secrets do not open");
  else if (rc != 0)
    rc = fail(rc, "cannot open the secrets of connection %s", id);
  else
    *json = (char *)plain; /* NUL-terminated by wfc__open */
done:
  wfc__srow_clear(&row); /* ciphertext only */
  return rc;
}

static int wipe_tx(wfc__store *st, void *be, const char *id) {
  int rc;

  if ((rc = st->ops->begin(be)) != 0)
    goto done;
  rc = row_verify(st, be, WFC__ROW_CONN, &id, id, NULL, NULL);
  if (rc == WFC_ENOTFOUND)
    rc = fail(WFC_ENOTFOUND, "no connection with id '%s'", id);
  if (rc == 0 && (rc = st->ops->conn_wipe(be, id, wfc__now_ms())) == 0 &&
      (rc = row_seal(st, be, WFC__ROW_CONN, &id)) == 0)
    rc = st->ops->commit_wipe(be);
done:
  if (rc != 0)
    st->ops->rollback(be);
  return rc;
}

int wfc__store_conn_wipe_secrets(wfc__store *st, const char *id) {
  attempt a = {.st = st};
  int rc;

  last_err[0] = '\0';
  if (st == NULL || id == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = wipe_tx(st, a.be, id);
  } while (att_again(&a, &rc));
  return rc;
}

int wfc__store_conn_delete(wfc__store *st, const char *id) {
  int rc, changes = 0;

  last_err[0] = '\0';
  if (st == NULL || id == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->conn_delete(a.be, id, &changes);
  } while (att_again(&a, &rc));
  if (rc == 0 && changes == 0)
    return fail(WFC_ENOTFOUND, "no connection with id '%s'", id);
  return rc;
}

/* ---- refresh leases ---------------------------------------------------- */

static int check_lease_args(const char *conn_id, const char *holder) {
  if (conn_id == NULL || conn_id[0] == '\0')
    return fail(WFC_EINVAL, "refresh lease: a connection id is required");
  if (holder == NULL)
    return 0;
  return check_field("lease holder", holder, WFC__LEASE_HOLDER_SIZE, 1);
}

int wfc__store_lease_take(wfc__store *st, const char *conn_id,
                          const char *holder, int64_t ttl_ms, wfc__lease *cur) {
  int64_t now = wfc__now_ms();
  int rc;

  last_err[0] = '\0';
  if (cur != NULL)
    memset(cur, 0, sizeof *cur);
  if (st == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_lease_args(conn_id, holder)) != 0)
    return rc;
  if (holder == NULL || ttl_ms <= 0)
    return fail(WFC_EINVAL, "refresh lease: a holder and a positive length "
                            "are required");
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->lease_take(a.be, conn_id, holder, now, now + ttl_ms, cur);
  } while (att_again(&a, &rc));
  return rc;
}

int wfc__store_lease_release(wfc__store *st, const char *conn_id,
                             const char *holder) {
  int rc, changes = 0;

  last_err[0] = '\0';
  if (st == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_lease_args(conn_id, holder)) != 0)
    return rc;
  if (holder == NULL)
    return fail(WFC_EINVAL, "refresh lease: a holder is required");
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->lease_delete(a.be, conn_id, holder, &changes);
  } while (att_again(&a, &rc));
  if (rc == 0 && changes == 0)
    rc = fail(WFC_ENOTFOUND,
              "connection %s: the refresh lease is not held "
              "by this holder",
              conn_id);
  return rc;
}

int wfc__store_lease_pass(wfc__store *st, const char *conn_id,
                          const char *holder, const char *to,
                          int64_t until_ms) {
  int rc, changes = 0;

  last_err[0] = '\0';
  if (st == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_lease_args(conn_id, holder)) != 0 ||
      (rc = check_lease_args(conn_id, to)) != 0)
    return rc;
  if (holder == NULL || to == NULL)
    return fail(WFC_EINVAL, "refresh lease: a holder and its successor are "
                            "required");
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->lease_pass(a.be, conn_id, holder, to, wfc__now_ms(),
                               until_ms, &changes);
  } while (att_again(&a, &rc));
  if (rc == 0 && changes == 0)
    rc = fail(WFC_ENOTFOUND,
              "connection %s: the refresh lease is not held "
              "by this holder",
              conn_id);
  return rc;
}

int wfc__store_lease_get(wfc__store *st, const char *conn_id, wfc__lease *out) {
  int rc;

  last_err[0] = '\0';
  if (out != NULL)
    memset(out, 0, sizeof *out);
  if (st == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if ((rc = check_lease_args(conn_id, NULL)) != 0)
    return rc;
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->lease_get(a.be, conn_id, out);
  } while (att_again(&a, &rc));
  return rc;
}

/* ---- subscription leases ---------------------------------------------- */

static int check_sub_args(wfc__store *st, const char *conn_id,
                          const char *card_id, const char *holder) {
  if (st == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if (conn_id == NULL || conn_id[0] == '\0' || card_id == NULL ||
      card_id[0] == '\0')
    return fail(WFC_EINVAL, "subscription lease: connection id and card id "
                            "are required");
  if (holder == NULL)
    return 0;
  return check_field("lease holder", holder, WFC__LEASE_HOLDER_SIZE, 1);
}

int wfc__store_sub_lease_take(wfc__store *st, const char *conn_id,
                              const char *card_id, const char *sub_key,
                              const char *holder, int64_t ttl_ms,
                              wfc__lease *cur) {
  int64_t now = wfc__now_ms();
  int rc;

  last_err[0] = '\0';
  if (cur != NULL)
    memset(cur, 0, sizeof *cur);
  if ((rc = check_sub_args(st, conn_id, card_id, holder)) != 0)
    return rc;
  if (holder == NULL || ttl_ms <= 0)
    return fail(WFC_EINVAL, "subscription lease: a holder and a positive "
                            "length are required");
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->sub_lease_take(a.be, conn_id, card_id,
                                   sub_key != NULL ? sub_key : "", holder, now,
                                   now + ttl_ms, cur);
  } while (att_again(&a, &rc));
  return rc;
}

int wfc__store_sub_lease_release(wfc__store *st, const char *conn_id,
                                 const char *card_id, const char *sub_key,
                                 const char *holder) {
  int rc, changes = 0;

  last_err[0] = '\0';
  if ((rc = check_sub_args(st, conn_id, card_id, holder)) != 0)
    return rc;
  if (holder == NULL)
    return fail(WFC_EINVAL, "subscription lease: a holder is required");
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->sub_lease_delete(a.be, conn_id, card_id,
                                     sub_key != NULL ? sub_key : "", holder,
                                     &changes);
  } while (att_again(&a, &rc));
  if (rc == 0 && changes == 0)
    rc = fail(WFC_ENOTFOUND,
              "subscription %s: the lease is not held by this holder", card_id);
  return rc;
}

int wfc__store_sub_lease_get(wfc__store *st, const char *conn_id,
                             const char *card_id, const char *sub_key,
                             wfc__lease *out) {
  int rc;

  last_err[0] = '\0';
  if (out != NULL)
    memset(out, 0, sizeof *out);
  if ((rc = check_sub_args(st, conn_id, card_id, NULL)) != 0)
    return rc;
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->sub_lease_get(a.be, conn_id, card_id,
                                  sub_key != NULL ? sub_key : "", out);
  } while (att_again(&a, &rc));
  return rc;
}

/* ---- checkpoints ------------------------------------------------------- */

static int check_cp_args(wfc__store *st, const char *conn_id,
                         const char *card_id) {
  if (st == NULL || conn_id == NULL || card_id == NULL || card_id[0] == '\0')
    return fail(WFC_EINVAL, "checkpoint: connection id and card id are "
                            "required");
  return 0;
}

/* A checkpoint row that does not verify: its text may be a URL the card
 * would call with the connection's token. */
static int cp_tampered(const char *conn_id, const char *card_id) {
  char what[160];
  snprintf(what, sizeof what, "the checkpoint of %.100s", card_id);
  return tampered(conn_id, what);
}

/* The checkpoint row, verified (lock: inside a write transaction): 0 and
 * *row, WFC_ENOTFOUND (no message), WFC_EKEY. */
static int cp_row(wfc__store *st, void *be, const char *const keys[3], int lock,
                  wfc__srow *row) {
  int rc =
      st->ops->row_get(be, WFC__ROW_CP, keys, st->authenticated, lock, row);
  if (rc == 0) {
    rc = row_ok(st, WFC__ROW_CP, row);
    rc = rc == 1 ? 0 : rc == 0 ? cp_tampered(keys[0], keys[1]) : rc;
    if (rc != 0)
      wfc__srow_clear(row);
  }
  return rc;
}

int wfc__store_checkpoint_get(wfc__store *st, const char *conn_id,
                              const char *card_id, const char *sub_key,
                              char **checkpoint, int64_t *events_accepted) {
  const char *keys[3] = {conn_id, card_id, sub_key ? sub_key : ""};
  wfc__srow row = {0};
  int rc;

  last_err[0] = '\0';
  if (checkpoint != NULL)
    *checkpoint = NULL;
  if ((rc = check_cp_args(st, conn_id, card_id)) != 0)
    return rc;
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = cp_row(st, a.be, keys, 0, &row);
  } while (att_again(&a, &rc));
  if (rc == WFC_ENOTFOUND)
    return fail(WFC_ENOTFOUND, "no checkpoint for card %s of connection %s",
                card_id, conn_id);
  if (rc != 0)
    return rc;
  if (events_accepted != NULL)
    *events_accepted = row.v[4].i;
  if (checkpoint != NULL) {
    const char *t = sv_text(&row.v[3]);
    if ((*checkpoint = strdup(t ? t : "")) == NULL)
      rc = fail(WFC_ENOMEM, "out of memory");
  }
  wfc__srow_clear(&row);
  return rc;
}

/* One attempt of wfc__store_checkpoint_cas on be. */
static int cas_tx(wfc__store *st, void *be, const char *const keys[3],
                  const char *expected, const char *next, int64_t accepted,
                  int64_t now, const wfc__fence *f) {
  const char *conn_id = keys[0], *card_id = keys[1];
  wfc__srow row = {0};
  int rc, found = 0, match;

  /* The read and the write hold the row (SQLite: the write lock) together,
   * so another handle cannot move the checkpoint in between; a row that
   * appears meanwhile makes the insert fail (WFC_ESTALE). Fenced: only
   * while the subscription's lease is still the writer's. */
  if ((rc = st->ops->begin(be)) != 0)
    goto done;
  if (f != NULL && (rc = fence_check(st, be, conn_id, card_id, keys[2],
                                     f->holder, f->fence)) != 0)
    goto done;
  rc = cp_row(st, be, keys, 1, &row);
  if (rc == 0) {
    const char *cur = sv_text(&row.v[3]);
    found = 1;
    match = expected != NULL && cur != NULL && strcmp(cur, expected) == 0;
  } else if (rc == WFC_ENOTFOUND) {
    rc = 0;
    match = expected == NULL;
  } else {
    goto done;
  }
  wfc__srow_clear(&row);
  if (!match) {
    rc = fail(WFC_ESTALE,
              "checkpoint of card %s on connection %s was moved by another "
              "writer",
              card_id, conn_id);
    goto done;
  }
  rc = found ? st->ops->cp_update(be, conn_id, card_id, keys[2], next, accepted,
                                  now)
             : st->ops->cp_insert(be, conn_id, card_id, keys[2], next, accepted,
                                  now);
  if (rc == 0)
    rc = row_seal(st, be, WFC__ROW_CP, keys);
  if (rc == 0)
    rc = st->ops->commit(be);
done:
  wfc__srow_clear(&row);
  if (rc != 0)
    st->ops->rollback(be);
  return rc;
}

int wfc__store_checkpoint_cas(wfc__store *st, const char *conn_id,
                              const char *card_id, const char *sub_key,
                              const char *expected, const char *next,
                              int64_t accepted) {
  return wfc__store_checkpoint_cas_fenced(st, conn_id, card_id, sub_key,
                                          expected, next, accepted, NULL);
}

int wfc__store_checkpoint_cas_fenced(wfc__store *st, const char *conn_id,
                                     const char *card_id, const char *sub_key,
                                     const char *expected, const char *next,
                                     int64_t accepted, const wfc__fence *f) {
  const char *keys[3];
  int64_t now = wfc__now_ms();
  attempt a = {.st = st};
  int rc;

  last_err[0] = '\0';
  if ((rc = check_cp_args(st, conn_id, card_id)) != 0)
    return rc;
  if (next == NULL || accepted < 0)
    return fail(WFC_EINVAL, "checkpoint: next is required and accepted must "
                            "not be negative");
  keys[0] = conn_id;
  keys[1] = card_id;
  keys[2] = sub_key != NULL ? sub_key : "";
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = cas_tx(st, a.be, keys, expected, next, accepted, now, f);
  } while (att_again(&a, &rc));
  return rc;
}

int wfc__store_checkpoint_delete(wfc__store *st, const char *conn_id,
                                 const char *card_id, const char *sub_key) {
  int rc, changes = 0;

  last_err[0] = '\0';
  if ((rc = check_cp_args(st, conn_id, card_id)) != 0)
    return rc;
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->cp_delete(a.be, conn_id, card_id, sub_key, &changes);
  } while (att_again(&a, &rc));
  if (rc == 0 && changes == 0)
    rc = fail(WFC_ENOTFOUND, "no checkpoint for card %s of connection %s",
              card_id, conn_id);
  return rc;
}

/* ---- events seen ------------------------------------------------------- */

static int check_ev_args(wfc__store *st, const char *conn_id,
                         const char *card_id, const char *event_id) {
  int rc = check_cp_args(st, conn_id, card_id);
  if (rc == 0 && (event_id == NULL || event_id[0] == '\0'))
    rc = fail(WFC_EINVAL, "event: an event id is required");
  return rc;
}

int wfc__store_event_seen(wfc__store *st, const char *conn_id,
                          const char *card_id, const char *sub_key,
                          const char *event_id) {
  int rc;

  last_err[0] = '\0';
  if ((rc = check_ev_args(st, conn_id, card_id, event_id)) != 0)
    return rc;
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->ev_seen(a.be, conn_id, card_id, sub_key, event_id);
  } while (att_again(&a, &rc));
  return rc;
}

int wfc__store_event_mark(wfc__store *st, const char *conn_id,
                          const char *card_id, const char *sub_key,
                          const char *event_id) {
  return wfc__store_event_mark_fenced(st, conn_id, card_id, sub_key, event_id,
                                      NULL);
}

/* One attempt of a fenced mark: the lease check and the mark in one
 * transaction. */
static int mark_fenced_tx(wfc__store *st, void *be, const char *conn_id,
                          const char *card_id, const char *sub_key,
                          const char *event_id, const wfc__fence *f,
                          int *changes) {
  int rc;

  if ((rc = st->ops->begin(be)) == 0 &&
      (rc = fence_check(st, be, conn_id, card_id,
                        sub_key != NULL ? sub_key : "", f->holder, f->fence)) ==
          0 &&
      (rc = st->ops->ev_mark(be, conn_id, card_id, sub_key, event_id,
                             wfc__now_ms(), changes)) == 0)
    rc = st->ops->commit(be);
  if (rc != 0)
    st->ops->rollback(be);
  return rc;
}

int wfc__store_event_mark_fenced(wfc__store *st, const char *conn_id,
                                 const char *card_id, const char *sub_key,
                                 const char *event_id, const wfc__fence *f) {
  int rc, changes = 0;

  last_err[0] = '\0';
  if ((rc = check_ev_args(st, conn_id, card_id, event_id)) != 0)
    return rc;
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = f != NULL ? mark_fenced_tx(st, a.be, conn_id, card_id, sub_key,
                                      event_id, f, &changes)
                     : st->ops->ev_mark(a.be, conn_id, card_id, sub_key,
                                        event_id, wfc__now_ms(), &changes);
  } while (att_again(&a, &rc));
  if (rc == 0 && changes == 0)
    rc = WFC_EEXIST;
  return rc;
}

int wfc__store_events_purge(wfc__store *st, const char *conn_id,
                            const char *card_id, const char *sub_key,
                            int64_t before_ms, int64_t keep_max, int *purged) {
  int rc, n = 0;

  last_err[0] = '\0';
  if (purged != NULL)
    *purged = 0;
  if ((rc = check_cp_args(st, conn_id, card_id)) != 0)
    return rc;
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->ev_purge(a.be, conn_id, card_id, sub_key ? sub_key : "",
                             before_ms, keep_max, &n);
  } while (att_again(&a, &rc));
  if (rc == 0 && purged != NULL)
    *purged = n;
  return rc;
}

/* ---- idempotency ------------------------------------------------------- */

/* Claims have a holder and an expiry from schema WFC__STORE_CLAIM_VERSION
 * on (a store kept at an older version exists only in upgrade tests). */
static int hold_get(wfc__store *st, void *be, const char *key, char *holder,
                    int64_t *until) {
  holder[0] = '\0';
  *until = 0;
  if (st->target < WFC__STORE_CLAIM_VERSION)
    return 0;
  return st->ops->idem_hold_get(be, key, holder, until);
}

static int hold_set(wfc__store *st, void *be, const char *key,
                    const char *holder, int64_t until) {
  if (st->target < WFC__STORE_CLAIM_VERSION)
    return 0;
  return st->ops->idem_hold_set(be, key, holder, until);
}

/* The row of key, verified, locked until the transaction ends: 0, or
 * WFC_ENOTFOUND, or WFC_EKEY naming the key's connection. */
static int idem_verify(wfc__store *st, void *be, const char *key,
                       wfc__srow *row) {
  int rc = st->ops->row_get(be, WFC__ROW_IDEM, &key, st->authenticated, 1, row);
  if (rc == 0 && (rc = row_ok(st, WFC__ROW_IDEM, row)) != 1)
    rc = rc == 0 ? tampered(sv_text(&row->v[1]), "an idempotency key") : rc;
  else if (rc == 1)
    rc = 0;
  return rc;
}

/* One attempt of wfc__store_idem_claim on be. */
static int idem_claim_tx(wfc__store *st, void *be, const char *key,
                         const char *conn_id, const char *holder,
                         int64_t ttl_ms, int64_t now, wfc__idem_claim *out) {
  wfc__srow row = {0};
  char cur[WFC__LEASE_HOLDER_SIZE];
  int64_t until = 0;
  int rc, changes = 0;

  if ((rc = st->ops->begin(be)) != 0 ||
      (rc = st->ops->idem_insert(be, key, conn_id, now, &changes)) != 0)
    goto done;
  if (changes == 1) {
    /* New: mine. */
    if ((rc = row_seal(st, be, WFC__ROW_IDEM, &key)) != 0 ||
        (rc = hold_set(st, be, key, holder, now + ttl_ms)) != 0)
      goto done;
    out->state = WFC__CLAIM_MINE;
    out->until_ms = now + ttl_ms;
    rc = st->ops->commit(be);
    goto done;
  }
  /* Claimed before: what the row says counts only if the store wrote it
   * (a forged outcome would stop a send; a forged row is refused). */
  if ((rc = idem_verify(st, be, key, &row)) != 0) {
    if (rc == WFC_ENOTFOUND)
      rc = fail(WFC_ESTORE, "store: the idempotency key claimed before "
                            "is gone");
    goto done;
  }
  if (row.v[3].type != WFC__SV_NULL) {
    out->state = WFC__CLAIM_SENT;
    if ((out->result = strdup(sv_text(&row.v[3]) ? sv_text(&row.v[3]) : "")) ==
        NULL) {
      rc = fail(WFC_ENOMEM, "out of memory");
      goto done;
    }
    rc = st->ops->commit(be);
    goto done;
  }
  if ((rc = hold_get(st, be, key, cur, &until)) != 0)
    goto done;
  if (cur[0] != '\0' && strcmp(cur, holder) != 0 && until > now &&
      !wfc__lease_holder_gone(cur)) {
    /* Another live holder's, in progress. */
    out->state = WFC__CLAIM_HELD;
    out->until_ms = until;
    snprintf(out->holder, sizeof out->holder, "%s", cur);
    rc = st->ops->commit(be);
    goto done;
  }
  /* Mine again, or taken over: the holder before (expired, gone, or one
   * without a holder: written before schema 8, or whose claim was ended
   * with the outcome unknown) may have sent. */
  if ((rc = hold_set(st, be, key, holder, now + ttl_ms)) != 0)
    goto done;
  out->state = WFC__CLAIM_MINE;
  out->until_ms = now + ttl_ms;
  out->taken_over = strcmp(cur, holder) != 0;
  snprintf(out->holder, sizeof out->holder, "%s", cur);
  rc = st->ops->commit(be);
done:
  wfc__srow_clear(&row);
  if (rc != 0) {
    st->ops->rollback(be);
    free(out->result);
    memset(out, 0, sizeof *out);
  }
  return rc;
}

int wfc__store_idem_claim(wfc__store *st, const char *key, const char *conn_id,
                          const char *holder, int64_t ttl_ms,
                          wfc__idem_claim *out) {
  int64_t now = wfc__now_ms();
  attempt a = {.st = st};
  int rc;

  last_err[0] = '\0';
  if (out != NULL)
    memset(out, 0, sizeof *out);
  if (st == NULL || out == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  if (key == NULL || key[0] == '\0')
    return fail(WFC_EINVAL, "idempotency key is required");
  if (holder == NULL || holder[0] == '\0' ||
      strlen(holder) >= WFC__LEASE_HOLDER_SIZE)
    return fail(WFC_EINVAL, "idempotency claim: holder must be 1 to %d bytes",
                WFC__LEASE_HOLDER_SIZE - 1);
  if (ttl_ms <= 0)
    return fail(WFC_EINVAL, "idempotency claim: ttl_ms must be positive");
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = idem_claim_tx(st, a.be, key, conn_id, holder, ttl_ms, now, out);
  } while (att_again(&a, &rc));
  return rc;
}

static int idem_finish_tx(wfc__store *st, void *be, const char *key,
                          const char *result_json) {
  wfc__srow row = {0};
  int rc;

  if ((rc = st->ops->begin(be)) != 0)
    goto done;
  rc = idem_verify(st, be, key, &row);
  if (rc == WFC_ENOTFOUND)
    rc = fail(WFC_ENOTFOUND, "idempotency key was not claimed");
  /* Whoever holds the claim now: the send happened, and its outcome is
   * the record. The first recorded outcome stays. */
  if (rc == 0 && row.v[3].type != WFC__SV_NULL)
    rc = fail(WFC_EEXIST, "idempotency key already has a recorded outcome");
  if (rc == 0 && (rc = st->ops->idem_set_result(be, key, result_json)) == 0 &&
      (rc = row_seal(st, be, WFC__ROW_IDEM, &key)) == 0 &&
      (rc = hold_set(st, be, key, NULL, 0)) == 0)
    rc = st->ops->commit(be);
done:
  wfc__srow_clear(&row);
  if (rc != 0)
    st->ops->rollback(be);
  return rc;
}

int wfc__store_idem_finish(wfc__store *st, const char *key,
                           const char *result_json) {
  attempt a = {.st = st};
  int rc;

  last_err[0] = '\0';
  if (st == NULL || key == NULL || result_json == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = idem_finish_tx(st, a.be, key, result_json);
  } while (att_again(&a, &rc));
  return rc;
}

static int idem_end_tx(wfc__store *st, void *be, const char *key,
                       const char *holder, int release) {
  wfc__srow row = {0};
  char cur[WFC__LEASE_HOLDER_SIZE];
  int64_t until = 0;
  int rc, changes = 0;

  if ((rc = st->ops->begin(be)) != 0)
    goto done;
  rc = idem_verify(st, be, key, &row);
  if (rc == WFC_ENOTFOUND)
    rc = fail(WFC_ENOTFOUND, "idempotency key was not claimed");
  if (rc == 0 && row.v[3].type != WFC__SV_NULL)
    rc = fail(WFC_EEXIST, "idempotency key already has a recorded outcome");
  if (rc == 0 && (rc = hold_get(st, be, key, cur, &until)) == 0 &&
      strcmp(cur, holder) != 0)
    rc = fail(WFC_EBUSY, "idempotency key is claimed by another holder");
  if (rc == 0 && release)
    rc = st->ops->idem_delete(be, key, &changes);
  else if (rc == 0)
    rc = hold_set(st, be, key, NULL, 0);
  if (rc == 0)
    rc = st->ops->commit(be);
done:
  wfc__srow_clear(&row);
  if (rc != 0)
    st->ops->rollback(be);
  return rc;
}

int wfc__store_idem_end(wfc__store *st, const char *key, const char *holder,
                        int release) {
  attempt a = {.st = st};
  int rc;

  last_err[0] = '\0';
  if (st == NULL || key == NULL || holder == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = idem_end_tx(st, a.be, key, holder, release);
  } while (att_again(&a, &rc));
  return rc;
}

int wfc__store_idem_purge(wfc__store *st, int64_t before_ms, int *purged) {
  int rc, changes = 0;

  last_err[0] = '\0';
  if (purged != NULL)
    *purged = 0;
  if (st == NULL)
    return fail(WFC_EINVAL, "store: NULL argument");
  attempt a = {.st = st};
  do {
    if ((rc = att_begin(&a)) == 0)
      rc = st->ops->idem_purge(a.be, before_ms, &changes);
  } while (att_again(&a, &rc));
  if (rc == 0 && purged != NULL)
    *purged = changes;
  return rc;
}
