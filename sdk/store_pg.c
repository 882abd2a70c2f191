/* store_pg.c - the PostgreSQL backend of the store on libpq
 * (store_backend.h, docs/store.md "PostgreSQL").
 *
 * A pool of libpq connections per store handle (at most pool_max, a
 * parameter of the location), each lent for one attempt of a store
 * operation (store.c); a lost connection is reported with wfc__store_lost
 * only when the operation certainly changed nothing (see "transactions"
 * below), and store.c runs it again within the store's wait.
 * Every statement is sent with PQexecParams: values as parameters, never
 * in the SQL text; results in binary format, so text and bytea come back
 * as their bytes and bigint as 8 big-endian bytes, typed as the store's
 * MAC needs them. Transactions are READ COMMITTED; a write transaction
 * locks the rows it verifies (SELECT ... FOR UPDATE) and an insert that
 * meets a row written meanwhile fails on the primary key, which the
 * callers map (a checkpoint moved: WFC_ESTALE). The session's lock_timeout
 * is the store's busy timeout: a writer waits that long for another, then
 * WFC_EBUSY, as with SQLite.
 *
 * This file sees sealed secrets and MACs only. Messages name the database
 * as HOST:PORT/DB, never with its password. */
#define _POSIX_C_SOURCE 200809L
#include "store_backend.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

#include "clock.h"

/* libpq type OIDs (server/catalog/pg_type_d.h, stable). */
#define OID_BYTEA 17
#define OID_INT8  20
#define OID_INT2  21
#define OID_INT4  23
#define OID_TEXT  25

/* Serializes concurrent openers' migrations (any constant; "wfc" in
 * ASCII). */
#define SCHEMA_LOCK_KEY 0x776663

/* The pool's size when the location names none, and the largest it may
 * name (docs/store.md, "Connection pool"). */
#define POOL_DEFAULT 4
#define POOL_MAX     64

typedef struct pgpool pgpool;

/* One connection of the pool. */
typedef struct pg {
  pgpool *pool;
  PGconn *conn;
  struct pg *next; /* idle list */
  unsigned epoch;  /* pool->epoch when it was (re)connected */
  int opening;     /* begin takes the schema lock */
  int in_tx;
  int committing;      /* a COMMIT is in flight: a loss is not "nothing" */
  char xid[24];        /* of the open transaction (txid_current, text) */
  char constraint[64]; /* of the last failure, "" if none */
} pg;

/* The pool of a store handle: at most max connections, made when first
 * needed, lent for one attempt of a store operation (store.c) and given
 * back. A connection found lost bumps epoch: the idle ones made before
 * are reconnected before they are lent again (a restart cut them all). */
struct pgpool {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  char *conninfo;  /* the location without wfc's own parameters: it may hold
                      a password, so it is never shown */
  char where[256]; /* HOST:PORT/DB */
  int timeout_ms;  /* lock_timeout, and the wait for a free connection */
  int wait_ms;     /* wfc__store_wait_ms: how long a commit's outcome is
                      asked for */
  int max, count;  /* size bound, connections in existence */
  unsigned epoch;
  pg *idle;
};

/* ---- locations ------------------------------------------------------------
 * wfc's own parameter in a location, pool_max=N (the URI's query or a
 * keyword), is taken out before libpq sees it (libpq refuses keywords it
 * does not know). */

/* Copies loc into out without pool_max, whose value goes to *pool_max
 * (-1: a value that is not a number; 0: none given). */
static void strip_wfc_params(const char *loc, char *out, size_t outsz,
                             int *pool_max) {
  size_t o = 0, n = strlen(loc);

  *pool_max = 0;
  if (outsz == 0)
    return;
#define PUT(c)                                                                 \
  do {                                                                         \
    if (o + 1 < outsz)                                                         \
      out[o++] = (c);                                                          \
  } while (0)
  if (strncmp(loc, "postgresql://", 13) == 0 ||
      strncmp(loc, "postgres://", 11) == 0) {
    const char *qm = strchr(loc, '?');
    size_t head = qm ? (size_t)(qm - loc) : n;
    int first = 1;
    for (size_t i = 0; i < head; i++)
      PUT(loc[i]);
    for (const char *p = qm ? qm + 1 : NULL; p != NULL && *p;) {
      const char *amp = strchr(p, '&');
      size_t len = amp ? (size_t)(amp - p) : strlen(p);
      if (len > 9 && strncmp(p, "pool_max=", 9) == 0) {
        char num[16];
        char *end;
        long v;
        snprintf(num, sizeof num, "%.*s", (int)(len - 9), p + 9);
        v = strtol(num, &end, 10);
        *pool_max =
            (*end == '\0' && len - 9 < sizeof num && v > 0 && v <= 1000000)
                ? (int)v
                : -1;
      } else if (len > 0) {
        PUT(first ? '?' : '&');
        first = 0;
        for (size_t i = 0; i < len; i++)
          PUT(p[i]);
      }
      p = amp ? amp + 1 : NULL;
    }
  } else {
    /* key = value pairs; a value may be quoted ('...', with \ escapes). */
    size_t i = 0;
    while (i < n) {
      size_t start = i, kend;
      int drop;
      while (i < n && (loc[i] == ' ' || loc[i] == '\t' || loc[i] == '\n'))
        i++;
      start = i;
      while (i < n && loc[i] != '=' && loc[i] != ' ' && loc[i] != '\t')
        i++;
      kend = i;
      drop = kend - start == 8 && strncmp(loc + start, "pool_max", 8) == 0;
      while (i < n && (loc[i] == ' ' || loc[i] == '\t'))
        i++;
      if (i < n && loc[i] == '=')
        i++;
      while (i < n && (loc[i] == ' ' || loc[i] == '\t'))
        i++;
      size_t vstart = i;
      if (i < n && loc[i] == '\'') {
        for (i++; i < n && loc[i] != '\''; i++)
          if (loc[i] == '\\' && i + 1 < n)
            i++;
        if (i < n)
          i++;
      } else {
        while (i < n && loc[i] != ' ' && loc[i] != '\t' && loc[i] != '\n')
          i++;
      }
      if (drop) {
        char num[16];
        char *end;
        long v;
        snprintf(num, sizeof num, "%.*s", (int)(i - vstart), loc + vstart);
        v = strtol(num, &end, 10);
        *pool_max = (*end == '\0' && num[0] != '\0' && v > 0 && v <= 1000000)
                        ? (int)v
                        : -1;
      } else if (i > start) {
        if (o > 0)
          PUT(' ');
        for (size_t k = start; k < i; k++)
          PUT(loc[k]);
      }
    }
  }
#undef PUT
  out[o] = '\0';
}

static int pg_claims(const char *loc) {
  PQconninfoOption *o;
  char *err = NULL, clean[4200];
  int pool_max;

  if (strncmp(loc, "postgresql://", 13) == 0 ||
      strncmp(loc, "postgres://", 11) == 0)
    return 1;
  /* libpq's keyword form ("host=... dbname=..."): a path never parses as
   * one (a keyword must be one libpq knows). */
  if (strchr(loc, '=') == NULL || loc[0] == '/' || loc[0] == '.')
    return 0;
  strip_wfc_params(loc, clean, sizeof clean, &pool_max);
  if ((o = PQconninfoParse(clean, &err)) == NULL) {
    PQfreemem(err);
    return 0;
  }
  PQconninfoFree(o);
  return 1;
}

static void pg_describe(const char *loc, char *buf, size_t len) {
  const char *host = NULL, *port = NULL, *db = NULL, *user = NULL;
  char clean[4200];
  int pool_max;
  PQconninfoOption *o;

  strip_wfc_params(loc, clean, sizeof clean, &pool_max);
  if ((o = PQconninfoParse(clean, NULL)) == NULL) {
    snprintf(buf, len, "(an unparsable PostgreSQL connection string)");
    return;
  }
  for (PQconninfoOption *p = o; p->keyword != NULL; p++) {
    if (p->val == NULL || p->val[0] == '\0')
      continue;
    if (strcmp(p->keyword, "host") == 0 ||
        (strcmp(p->keyword, "hostaddr") == 0 && host == NULL))
      host = p->val;
    else if (strcmp(p->keyword, "port") == 0)
      port = p->val;
    else if (strcmp(p->keyword, "dbname") == 0)
      db = p->val;
    else if (strcmp(p->keyword, "user") == 0)
      user = p->val;
  }
  snprintf(buf, len, "%s:%s/%s", host ? host : "localhost",
           port ? port : "5432",
           db     ? db
           : user ? user
                  : "(default)");
  PQconninfoFree(o);
}

/* ---- errors ---------------------------------------------------------------
 */

static void pool_lost(pgpool *pool) {
  pthread_mutex_lock(&pool->mu);
  pool->epoch++;
  pthread_mutex_unlock(&pool->mu);
}

/* The database cannot be reached or the connection broke: a message that
 * names the database (never the password) and what to do. nothing: the
 * operation certainly changed nothing (store.c may run it again). */
static int unreachable(pg *b, const char *why, int nothing) {
  char first[256];
  size_t n = strcspn(why, "\n");

  snprintf(first, sizeof first, "%.*s", (int)(n < 255 ? n : 255), why);
  wfc__store_fail(WFC_ESTORE,
                  "store: the PostgreSQL database at %s cannot be reached: "
                  "%s; check that it runs and WFC_STORE",
                  b->pool->where, first[0] ? first : "connection lost");
  /* While a COMMIT's outcome is unknown, nothing is certain. */
  if (nothing && !b->committing)
    wfc__store_lost();
  return WFC_ESTORE;
}

/* A failed result: the primary message only (the detail can quote
 * values). *state (may be NULL) receives the SQLSTATE. A lost connection
 * (the server went away: a restart, a crash, a network cut) is
 * unreachable(), with nothing changed unless a COMMIT was in flight. */
static int pg_fail(pg *b, PGresult *r, const char *what, char state[6]) {
  const char *ss = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  const char *msg = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  int code = WFC_ESTORE;

  const char *cn = r ? PQresultErrorField(r, PG_DIAG_CONSTRAINT_NAME) : NULL;

  snprintf(b->constraint, sizeof b->constraint, "%s", cn ? cn : "");
  if (state != NULL)
    snprintf(state, 6, "%s", ss ? ss : "");
  if (PQstatus(b->conn) == CONNECTION_BAD || ss == NULL ||
      strncmp(ss, "08", 2) == 0 || strncmp(ss, "57P", 3) == 0) {
    pool_lost(b->pool);
    return unreachable(b, PQerrorMessage(b->conn), 1);
  }
  if (strcmp(ss, "55P03") == 0 || strcmp(ss, "40001") == 0 ||
      strcmp(ss, "40P01") == 0)
    code = WFC_EBUSY;
  else if (strncmp(ss, "53", 2) == 0)
    code = WFC_EIO;
  return wfc__store_fail(code, "store: %s: %s (PostgreSQL %s, SQLSTATE %s)",
                         what, msg ? msg : "error", b->pool->where, ss);
}

/* ---- statements -----------------------------------------------------------
 */

typedef struct params {
  int n;
  const char *v[WFC__SROW_MAX + 4];
  int len[WFC__SROW_MAX + 4];
  int fmt[WFC__SROW_MAX + 4];
  Oid type[WFC__SROW_MAX + 4];
  char num[WFC__SROW_MAX + 4][24];
} params;

static void p_text(params *p, const char *v) {
  int i = p->n++;
  p->v[i] = v;
  p->len[i] = 0;
  p->fmt[i] = 0;
  p->type[i] = OID_TEXT;
}

static void p_int(params *p, int64_t v) {
  int i = p->n++;
  snprintf(p->num[i], sizeof p->num[i], "%lld", (long long)v);
  p->v[i] = p->num[i];
  p->len[i] = 0;
  p->fmt[i] = 0;
  p->type[i] = OID_INT8;
}

/* 0 is NULL (times: "never"). */
static void p_time(params *p, int64_t v) {
  if (v == 0) {
    int i = p->n++;
    p->v[i] = NULL;
    p->type[i] = OID_INT8;
    p->fmt[i] = 0;
    p->len[i] = 0;
  } else {
    p_int(p, v);
  }
}

static void p_blob(params *p, const void *v, size_t n) {
  int i = p->n++;
  p->v[i] = v;
  p->len[i] = (int)n;
  p->fmt[i] = 1;
  p->type[i] = OID_BYTEA;
}

/* Runs one statement sql with p (may be NULL): 0 and *out (may be NULL:
 * cleared) for a result; *changes (may be NULL) the rows a write changed;
 * state the SQLSTATE of a failure. */
static int run(pg *b, const char *what, const char *sql, const params *p,
               PGresult **out, int *changes, char state[6]) {
  PGresult *r;
  ExecStatusType es;
  int rc = 0;

  if (out != NULL)
    *out = NULL;
  if (state != NULL)
    state[0] = '\0';
  /* Broken earlier (the transaction it held, if any, died with it). */
  if (PQstatus(b->conn) != CONNECTION_OK) {
    pool_lost(b->pool);
    return unreachable(b, PQerrorMessage(b->conn), 1);
  }
  r = PQexecParams(b->conn, sql, p ? p->n : 0, p ? p->type : NULL,
                   p ? p->v : NULL, p ? p->len : NULL, p ? p->fmt : NULL, 1);
  es = PQresultStatus(r);
  if (es != PGRES_COMMAND_OK && es != PGRES_TUPLES_OK) {
    rc = pg_fail(b, r, what, state);
    PQclear(r);
    return rc;
  }
  if (changes != NULL) {
    const char *t = PQcmdTuples(r);
    *changes = t[0] ? atoi(t) : 0;
  }
  if (out != NULL)
    *out = r;
  else
    PQclear(r);
  return 0;
}

static int exec_sql(pg *b, const char *sql) {
  return run(b, "exec", sql, NULL, NULL, NULL, NULL);
}

static int pg_begin(void *be);
static int pg_commit(void *be);
static void pg_rollback(void *be);

/* run() for the operations: a read runs as it is (running it again is
 * harmless); a write outside a transaction runs in one of its own, so
 * that a connection lost under it leaves a known outcome (pg_commit). */
static int q(pg *b, const char *what, const char *sql, const params *p,
             PGresult **out, int *changes, char state[6]) {
  int rc;

  if (b->in_tx || strncmp(sql, "SELECT", 6) == 0)
    return run(b, what, sql, p, out, changes, state);
  if (out != NULL)
    *out = NULL;
  if (state != NULL)
    state[0] = '\0';
  if ((rc = pg_begin(b)) == 0 &&
      (rc = run(b, what, sql, p, out, changes, state)) == 0)
    rc = pg_commit(b);
  if (rc != 0) {
    pg_rollback(b);
    if (out != NULL) {
      PQclear(*out);
      *out = NULL;
    }
  }
  return rc;
}

static int64_t get_int(const PGresult *r, int row, int col) {
  const unsigned char *v = (const unsigned char *)PQgetvalue(r, row, col);
  int n = PQgetlength(r, row, col);
  uint64_t u = 0;

  for (int i = 0; i < n; i++)
    u = (u << 8) | v[i];
  if (n == 4)
    return (int32_t)(uint32_t)u;
  if (n == 2)
    return (int16_t)(uint16_t)u;
  return (int64_t)u;
}

/* Column col of r's row into out->v[i], typed by the column's type. */
static int col_to_row(const PGresult *r, int row, int col, wfc__srow *out,
                      int i) {
  Oid t = PQftype(r, col);

  if (PQgetisnull(r, row, col)) {
    wfc__srow_null(out, i);
    return 0;
  }
  if (t == OID_INT8 || t == OID_INT4 || t == OID_INT2) {
    wfc__srow_int(out, i, get_int(r, row, col));
    return 0;
  }
  if (t == OID_BYTEA)
    return wfc__srow_blob(out, i, PQgetvalue(r, row, col),
                          (size_t)PQgetlength(r, row, col));
  return wfc__srow_text(out, i, PQgetvalue(r, row, col),
                        (size_t)PQgetlength(r, row, col));
}

static int res_to_row(const PGresult *r, int row, wfc__srow *out) {
  int n = PQnfields(r), rc = 0;

  if (n > WFC__SROW_MAX)
    return wfc__store_fail(WFC_ESTORE, "store: a row has %d columns", n);
  out->n = n;
  for (int i = 0; rc == 0 && i < n; i++)
    rc = col_to_row(r, row, i, out, i);
  return rc;
}

/* ---- connections and the pool ---------------------------------------------
 */

static void sleep_ms(int64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
    ;
}

static int session_setup(pg *b) {
  char sql[96];
  int rc;

  /* Writers wait for each other as long as SQLite's busy timeout. */
  snprintf(sql, sizeof sql, "SET lock_timeout = %d", b->pool->timeout_ms);
  if ((rc = exec_sql(b, sql)) == 0)
    rc = exec_sql(b, "SET client_min_messages = warning");
  /* A transaction left idle that long (its process stopped or stalled
   * inside it) is ended by the server, its locks (a lease row locked by a
   * fenced write) freed for the others: the stalled process's commit then
   * fails, and its write is retried, fenced, from the start. */
  snprintf(sql, sizeof sql, "SET idle_in_transaction_session_timeout = %d",
           b->pool->timeout_ms);
  if (rc == 0)
    rc = exec_sql(b, sql);
  return rc;
}

/* (Re)connects b: 0, or unreachable (nothing done). */
static int pg_connect(pg *b) {
  /* connect_timeout first: a location that names one overrides it. */
  const char *kw[] = {"connect_timeout", "application_name", "dbname", NULL};
  const char *val[4];
  char ct[16];
  int t = b->pool->timeout_ms / 1000;

  snprintf(ct, sizeof ct, "%d", t > 2 ? t : 2);
  val[0] = ct;
  val[1] = "wfc";
  val[2] = b->pool->conninfo;
  val[3] = NULL;
  PQfinish(b->conn);
  b->conn = PQconnectdbParams(kw, val, 1);
  b->in_tx = 0;
  if (b->conn == NULL || PQstatus(b->conn) != CONNECTION_OK)
    return unreachable(b, b->conn ? PQerrorMessage(b->conn) : "out of memory",
                       1);
  return session_setup(b);
}

static void conn_free(pg *b) {
  if (b != NULL) {
    PQfinish(b->conn);
    free(b);
  }
}

/* Lends a connection: an idle one (reconnected when made before the last
 * loss), else a new one while fewer than max exist, else waits for one to
 * come back, up to the busy timeout (WFC_EBUSY). */
static int pg_acquire(void *be, void **out) {
  pgpool *pool = be;
  pg *b = NULL;
  struct timespec until;
  unsigned epoch;
  int rc = 0;

  *out = NULL;
  clock_gettime(CLOCK_REALTIME, &until);
  until.tv_sec += pool->timeout_ms / 1000;
  until.tv_nsec += (long)(pool->timeout_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&pool->mu);
  while (pool->idle == NULL && pool->count >= pool->max && rc == 0)
    rc = pthread_cond_timedwait(&pool->cv, &pool->mu, &until);
  if (pool->idle != NULL) {
    b = pool->idle;
    pool->idle = b->next;
    rc = 0;
  } else if (pool->count < pool->max) {
    if ((b = calloc(1, sizeof *b)) != NULL) {
      b->pool = pool;
      b->epoch = pool->epoch - 1; /* not connected yet */
      pool->count++;
    }
    rc = 0;
  }
  epoch = pool->epoch;
  pthread_mutex_unlock(&pool->mu);
  if (b == NULL && rc != 0)
    return wfc__store_fail(WFC_EBUSY,
                           "store: all %d connections to the PostgreSQL "
                           "database at %s stayed in use for %d ms (raise "
                           "pool_max in WFC_STORE)",
                           pool->max, pool->where, pool->timeout_ms);
  if (b == NULL)
    return wfc__store_fail(WFC_ENOMEM, "out of memory");
  b->next = NULL;
  if (b->conn == NULL || b->epoch != epoch ||
      PQstatus(b->conn) != CONNECTION_OK) {
    b->epoch = epoch;
    if ((rc = pg_connect(b)) != 0) {
      pthread_mutex_lock(&pool->mu);
      pool->count--;
      pthread_cond_signal(&pool->cv);
      pthread_mutex_unlock(&pool->mu);
      conn_free(b);
      return rc;
    }
  }
  *out = b;
  return 0;
}

static void pg_release(void *be, void *conn) {
  pgpool *pool = be;
  pg *b = conn;

  if (b == NULL)
    return;
  if (b->in_tx) /* never left open by store.c; a safety net */
    pg_rollback(b);
  pthread_mutex_lock(&pool->mu);
  if (PQstatus(b->conn) != CONNECTION_OK) {
    pool->count--;
  } else {
    b->next = pool->idle;
    pool->idle = b;
    b = NULL;
  }
  pthread_cond_signal(&pool->cv);
  pthread_mutex_unlock(&pool->mu);
  conn_free(b); /* a broken one: the next lender connects anew */
}

/* ---- transactions -----------------------------------------------------------
 * Every write transaction learns its transaction id at BEGIN (in the same
 * round trip). When the connection breaks while its COMMIT is in flight,
 * the outcome is unknown to the client: the transaction may or may not
 * have committed. pg_commit then asks the database on a new connection
 * with txid_status(), PostgreSQL's answer to exactly that question:
 * "committed" is a success, "aborted" is certainly nothing (the operation
 * may run again), "in progress" (the old session still ends) is asked
 * again. Only when the database cannot be reached within the store's wait
 * does the operation fail with the outcome unknown, and says so. */

static int pg_begin(void *be) {
  pg *b = be;
  char sql[80];
  PGresult *r;
  int rc = 0;

  if (PQstatus(b->conn) != CONNECTION_OK) {
    pool_lost(b->pool);
    return unreachable(b, PQerrorMessage(b->conn), 1);
  }
  /* Simple protocol: two statements, one round trip; the last result. */
  r = PQexec(b->conn, "BEGIN; SELECT txid_current()");
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
    rc = pg_fail(b, r, "begin a transaction", NULL);
    PQclear(r);
    /* A BEGIN that ran with a failing SELECT leaves a transaction. */
    if (PQstatus(b->conn) == CONNECTION_OK &&
        PQtransactionStatus(b->conn) != PQTRANS_IDLE)
      PQclear(PQexec(b->conn, "ROLLBACK"));
    return rc;
  }
  snprintf(b->xid, sizeof b->xid, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  b->in_tx = 1;
  if (b->opening) {
    snprintf(sql, sizeof sql, "SELECT pg_advisory_xact_lock(%d)",
             SCHEMA_LOCK_KEY);
    rc = exec_sql(b, sql);
  }
  return rc;
}

/* The outcome of b's transaction (b->xid) whose COMMIT got no answer. */
static int commit_outcome(pg *b) {
  char saved[512];
  int64_t deadline = wfc__monotonic_ms() + b->pool->wait_ms;
  int64_t pause = 50;

  wfc__store_err_save(saved, sizeof saved);
  for (;;) {
    params p = {0};
    PGresult *r = NULL;
    if (pg_connect(b) == 0) {
      p_text(&p, b->xid);
      p.type[0] = 0; /* bigint from text */
      if (run(b, "ask whether the change committed",
              "SELECT txid_status($1::bigint)", &p, &r, NULL, NULL) == 0) {
        const char *v = PQgetisnull(r, 0, 0) ? "" : PQgetvalue(r, 0, 0);
        int committed = strcmp(v, "committed") == 0;
        int aborted = strcmp(v, "aborted") == 0;
        PQclear(r);
        if (committed)
          return 0;
        if (aborted) {
          wfc__store_err_restore(saved);
          b->committing = 0;
          wfc__store_lost(); /* nothing happened: may run again */
          return WFC_ESTORE;
        }
        /* in progress: the old session still ends its transaction */
      }
    }
    if (wfc__monotonic_ms() + pause > deadline)
      break;
    sleep_ms(pause);
    if (pause < 500)
      pause *= 2;
  }
  return wfc__store_fail(
      WFC_ESTORE,
      "store: the connection to the PostgreSQL database at %s broke while a "
      "change was being committed, and the database could not be asked "
      "whether it was: the change may or may not be stored; check that the "
      "database runs, then run the operation again",
      b->pool->where);
}

static int pg_commit(void *be) {
  pg *b = be;
  int rc;

  b->committing = 1;
  rc = exec_sql(b, "COMMIT");
  if (rc != 0 && PQstatus(b->conn) != CONNECTION_OK)
    rc = commit_outcome(b);
  b->committing = 0;
  b->in_tx = 0;
  return rc;
}

static void pg_rollback(void *be) {
  pg *b = be;
  char saved[512];

  if (!b->in_tx)
    return;
  b->in_tx = 0;
  if (PQstatus(b->conn) != CONNECTION_OK)
    return;
  wfc__store_err_save(saved, sizeof saved);
  (void)exec_sql(b, "ROLLBACK");
  wfc__store_err_restore(saved);
}

/* ---- schema ----------------------------------------------------------------
 * The same versions as the SQLite backend (store_sqlite.c), in
 * PostgreSQL's types: text, bytea, bigint. Append only. The version lives
 * in wfc_schema (one row), created by version 1. */
static const char *const migrations[] = {
    /* 1: metadata (key check) and connections. */
    "CREATE TABLE wfc_schema (version integer NOT NULL);"
    "INSERT INTO wfc_schema VALUES (0);"
    "CREATE TABLE meta ("
    "  name text PRIMARY KEY,"
    "  value bytea NOT NULL);"
    "CREATE TABLE connections ("
    "  id text PRIMARY KEY,"
    "  nickname text NOT NULL CHECK (length(nickname) > 0),"
    "  plugin text NOT NULL CHECK (length(plugin) > 0),"
    "  conn_type text NOT NULL CHECK (length(conn_type) > 0),"
    "  environment text NOT NULL DEFAULT '',"
    "  account text NOT NULL DEFAULT '',"
    "  owner text NOT NULL DEFAULT '',"
    "  state text NOT NULL CHECK (state IN ('authorizing', 'connected',"
    "    'needs_admin_approval', 'approval_pending',"
    "    'reauthorization_required', 'revoked', 'error')),"
    "  remedy text NOT NULL DEFAULT '',"
    "  params text NOT NULL DEFAULT '{}',"
    "  secrets bytea,"
    "  created_at bigint NOT NULL,"
    "  updated_at bigint NOT NULL,"
    "  last_used_at bigint,"
    "  expires_at bigint,"
    "  UNIQUE (owner, nickname));"
    "CREATE INDEX connections_by_plugin ON connections (plugin, created_at);",
    /* 2: event cards' checkpoints. */
    "CREATE TABLE checkpoints ("
    "  conn_id text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,"
    "  card_id text NOT NULL,"
    "  sub_key text NOT NULL DEFAULT '',"
    "  checkpoint text NOT NULL,"
    "  events_accepted bigint NOT NULL DEFAULT 0,"
    "  updated_at bigint NOT NULL,"
    "  PRIMARY KEY (conn_id, card_id, sub_key));",
    /* 3: idempotency keys of side effects (sends). */
    "CREATE TABLE idempotency ("
    "  key text PRIMARY KEY,"
    "  conn_id text REFERENCES connections (id) ON DELETE CASCADE,"
    "  created_at bigint NOT NULL,"
    "  result text);"
    "CREATE INDEX idempotency_by_age ON idempotency (created_at);"
    "CREATE INDEX idempotency_by_conn ON idempotency (conn_id);",
    /* 4: events handed to the host's consumer (docs/events.md). */
    "CREATE TABLE events_seen ("
    "  conn_id text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,"
    "  card_id text NOT NULL,"
    "  sub_key text NOT NULL DEFAULT '',"
    "  event_id text NOT NULL,"
    "  seen_at bigint NOT NULL,"
    "  PRIMARY KEY (conn_id, card_id, sub_key, event_id));"
    "CREATE INDEX events_seen_by_age ON events_seen"
    "  (conn_id, card_id, sub_key, seen_at);",
    /* 5: record MACs (store.c fills them for the rows present). */
    "ALTER TABLE connections ADD COLUMN mac bytea;"
    "ALTER TABLE checkpoints ADD COLUMN mac bytea;"
    "ALTER TABLE idempotency ADD COLUMN mac bytea;",
    /* 6: refresh leases. */
    "CREATE TABLE refresh_leases ("
    "  conn_id text PRIMARY KEY REFERENCES connections (id) ON DELETE CASCADE,"
    "  holder text NOT NULL CHECK (length(holder) > 0),"
    "  taken_at bigint NOT NULL,"
    "  expires_at bigint NOT NULL);",
    /* 7: connections by nickname alone (store_sqlite.c says why). */
    "CREATE INDEX connections_by_nickname ON connections (nickname);",
    /* 8: idempotency claims with a holder and an expiry (store_sqlite.c
     * says why). */
    "ALTER TABLE idempotency ADD COLUMN holder text;"
    "ALTER TABLE idempotency ADD COLUMN expires_at bigint;",
    /* 9: subscription leases (docs/fleet.md). */
    "CREATE TABLE sub_leases ("
    "  conn_id text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,"
    "  card_id text NOT NULL,"
    "  sub_key text NOT NULL DEFAULT '',"
    "  holder text NOT NULL CHECK (length(holder) > 0),"
    "  taken_at bigint NOT NULL,"
    "  expires_at bigint NOT NULL,"
    "  PRIMARY KEY (conn_id, card_id, sub_key));",
    /* 10: fencing numbers (store_sqlite.c says why). */
    "CREATE TABLE lease_fences ("
    "  conn_id text NOT NULL REFERENCES connections (id) ON DELETE CASCADE,"
    "  card_id text NOT NULL,"
    "  sub_key text NOT NULL,"
    "  fence bigint NOT NULL,"
    "  PRIMARY KEY (conn_id, card_id, sub_key));"
    "ALTER TABLE refresh_leases ADD COLUMN fence bigint NOT NULL DEFAULT 0;"
    "ALTER TABLE sub_leases ADD COLUMN fence bigint NOT NULL DEFAULT 0;",
};

_Static_assert(sizeof migrations / sizeof migrations[0] ==
                   WFC__STORE_SCHEMA_VERSION,
               "one migration per schema version");

static int pg_version_get(void *be, int *v) {
  pg *b = be;
  PGresult *r;
  int rc;

  *v = 0;
  /* A scan of the catalog, not to_regclass: its cache could still miss a
   * table another opener made while this one waited for the schema lock. */
  if ((rc = q(b, "read the schema version",
              "SELECT count(*) FROM pg_catalog.pg_tables WHERE"
              " schemaname = current_schema() AND tablename = 'wfc_schema'",
              NULL, &r, NULL, NULL)) != 0)
    return rc;
  rc = PQntuples(r) == 1 && get_int(r, 0, 0) > 0;
  PQclear(r);
  if (!rc)
    return 0;
  if ((rc = q(b, "read the schema version", "SELECT version FROM wfc_schema",
              NULL, &r, NULL, NULL)) != 0)
    return rc;
  if (PQntuples(r) != 1)
    rc = wfc__store_fail(WFC_ESTORE,
                         "store %s: the table wfc_schema must hold one row",
                         b->pool->where);
  else
    *v = (int)get_int(r, 0, 0);
  PQclear(r);
  return rc;
}

static int pg_migrate(void *be, int v) {
  pg *b = be;
  params p = {0};
  int rc;

  /* A multi-statement text runs in the simple protocol. */
  PGresult *r = PQexec(b->conn, migrations[v - 1]);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    rc = pg_fail(b, r, "migrate", NULL);
    PQclear(r);
    return rc;
  }
  PQclear(r);
  p_int(&p, v);
  return q(b, "record the schema version", "UPDATE wfc_schema SET version = $1",
           &p, NULL, NULL, NULL);
}

static int pg_meta_get(void *be, const char *name, uint8_t **val, size_t *n) {
  params p = {0};
  PGresult *r;
  int rc;

  *val = NULL;
  *n = 0;
  p_text(&p, name);
  if ((rc = q(be, "read meta", "SELECT value FROM meta WHERE name = $1", &p, &r,
              NULL, NULL)) != 0)
    return rc;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return WFC_ENOTFOUND;
  }
  *n = (size_t)PQgetlength(r, 0, 0);
  if ((*val = malloc(*n ? *n : 1)) != NULL && *n)
    memcpy(*val, PQgetvalue(r, 0, 0), *n);
  PQclear(r);
  return *val != NULL ? 0 : wfc__store_fail(WFC_ENOMEM, "out of memory");
}

static int pg_meta_put(void *be, const char *name, const uint8_t *val,
                       size_t n) {
  params p = {0};

  p_text(&p, name);
  p_blob(&p, val, n);
  return q(be, "write meta",
           "INSERT INTO meta (name, value) VALUES ($1, $2)"
           " ON CONFLICT (name) DO UPDATE SET value = excluded.value",
           &p, NULL, NULL, NULL);
}

static int pg_row_get(void *be, int kind, const char *const *keys, int with_mac,
                      int lock, wfc__srow *out) {
  const wfc__rowkind *k = &wfc__rowkinds[kind];
  pg *b = be;
  char sql[512], where[160];
  params p = {0};
  PGresult *r;
  int rc;

  memset(out, 0, sizeof *out);
  wfc__rowkind_where(k, '$', where, sizeof where);
  snprintf(sql, sizeof sql, "SELECT %s, %s%s FROM %s WHERE %s%s", k->cols,
           with_mac ? "mac" : "NULL::bytea", k->extra, k->table, where,
           lock && b->in_tx ? " FOR UPDATE" : "");
  for (int i = 0; i < k->nkeys; i++)
    p_text(&p, keys[i]);
  if ((rc = q(b, "read", sql, &p, &r, NULL, NULL)) != 0)
    return rc;
  if (PQntuples(r) == 0)
    rc = WFC_ENOTFOUND;
  else
    rc = res_to_row(r, 0, out);
  PQclear(r);
  if (rc != 0)
    wfc__srow_clear(out);
  return rc;
}

static int pg_row_set_mac(void *be, int kind, const char *const *keys,
                          const uint8_t mac[WFC__SHA256_LEN]) {
  const wfc__rowkind *k = &wfc__rowkinds[kind];
  char sql[512], where[160];
  params p = {0};

  wfc__rowkind_where(k, '$', where, sizeof where);
  snprintf(sql, sizeof sql, "UPDATE %s SET mac = $%d WHERE %s", k->table,
           k->nkeys + 1, where);
  for (int i = 0; i < k->nkeys; i++)
    p_text(&p, keys[i]);
  p_blob(&p, mac, WFC__SHA256_LEN);
  return q(be, "write the record's MAC", sql, &p, NULL, NULL, NULL);
}

static int pg_row_keys(void *be, int kind, char ***keysp, size_t *np) {
  const wfc__rowkind *k = &wfc__rowkinds[kind];
  char sql[256], cols[160];
  PGresult *r;
  size_t n;
  char **keys;
  int rc;

  *keysp = NULL;
  *np = 0;
  wfc__rowkind_keycols(k, cols, sizeof cols);
  snprintf(sql, sizeof sql, "SELECT %s FROM %s", cols, k->table);
  if ((rc = q(be, "read rows to authenticate", sql, NULL, &r, NULL, NULL)) != 0)
    return rc;
  n = (size_t)PQntuples(r) * (size_t)k->nkeys;
  if ((keys = calloc(n ? n : 1, sizeof *keys)) == NULL) {
    PQclear(r);
    return wfc__store_fail(WFC_ENOMEM, "out of memory");
  }
  for (int i = 0; i < PQntuples(r); i++)
    for (int j = 0; j < k->nkeys; j++)
      if ((keys[(size_t)i * (size_t)k->nkeys + (size_t)j] =
               strdup(PQgetvalue(r, i, j))) == NULL)
        rc = wfc__store_fail(WFC_ENOMEM, "out of memory");
  PQclear(r);
  *keysp = keys;
  *np = n;
  return rc;
}

/* ---- connections ----------------------------------------------------------
 */

static int pg_conn_insert(void *be, const wfc__conn_rec *rec,
                          const char *params_json, const uint8_t *blob,
                          size_t blen, int64_t now) {
  char state[6];
  params p = {0};
  int rc;

  p_text(&p, rec->id);
  p_text(&p, rec->nickname);
  p_text(&p, rec->plugin);
  p_text(&p, rec->conn_type);
  p_text(&p, rec->environment);
  p_text(&p, rec->account);
  p_text(&p, rec->owner);
  p_text(&p, rec->state);
  p_text(&p, rec->remedy);
  p_text(&p, params_json);
  if (blob != NULL)
    p_blob(&p, blob, blen);
  else
    p_text(&p, NULL), p.type[p.n - 1] = OID_BYTEA;
  p_int(&p, now);
  p_time(&p, rec->last_used_at);
  p_time(&p, rec->expires_at);
  rc = q(be, "insert connection",
         "INSERT INTO connections (id, nickname, plugin, conn_type,"
         " environment, account, owner, state, remedy, params, secrets,"
         " created_at, updated_at, last_used_at, expires_at)"
         " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12,"
         " $13, $14)",
         &p, NULL, NULL, state);
  if (strcmp(state, "23505") == 0) {
    /* Which constraint: the primary key (the id) or the nickname. */
    return wfc__store_conn_taken(
        rec, strcmp(((pg *)be)->constraint, "connections_pkey") != 0);
  }
  return rc;
}

static int pg_conn_find(void *be, int by, const char *key, int with_mac,
                        int (*cb)(const wfc__srow *row, void *arg), void *arg) {
  const wfc__rowkind *k = &wfc__rowkinds[WFC__ROW_CONN];
  static const char *const where[] = {
      [WFC__FIND_ID] = "id = $1",
      [WFC__FIND_NICKNAME] = "nickname = $1 LIMIT 2",
      [WFC__FIND_PLUGIN] = "$1::text IS NULL OR plugin = $1"
                           " ORDER BY created_at, id",
  };
  char sql[512];
  params p = {0};
  PGresult *r;
  wfc__srow row = {0};
  int rc;

  snprintf(sql, sizeof sql, "SELECT %s, %s%s FROM connections WHERE %s",
           k->cols, with_mac ? "mac" : "NULL::bytea", k->extra, where[by]);
  p_text(&p, key);
  if ((rc = q(be, "read connection", sql, &p, &r, NULL, NULL)) != 0)
    return rc;
  for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
    if ((rc = res_to_row(r, i, &row)) == 0)
      rc = cb(&row, arg);
    wfc__srow_clear(&row);
  }
  PQclear(r);
  return rc;
}

static int pg_conn_update(void *be, const char *id, const wfc__conn_change *ch,
                          int *changes) {
  char sql[512];
  params p = {0};
  size_t o;

  p_text(&p, id);
  p_int(&p, ch->updated_at);
  o = (size_t)snprintf(sql, sizeof sql,
                       "UPDATE connections SET updated_at = $2");
#define SETTEXT(field, col)                                                    \
  if (ch->field != NULL) {                                                     \
    p_text(&p, ch->field);                                                     \
    o += (size_t)snprintf(sql + o, sizeof sql - o, ", " col " = $%d", p.n);    \
  }
  SETTEXT(state, "state")
  SETTEXT(remedy, "remedy")
  SETTEXT(account, "account")
  SETTEXT(params, "params")
#undef SETTEXT
  if (ch->set_secrets) {
    if (ch->blob != NULL)
      p_blob(&p, ch->blob, ch->blen);
    else
      p_text(&p, NULL), p.type[p.n - 1] = OID_BYTEA;
    p_time(&p, ch->expires_at);
    o += (size_t)snprintf(sql + o, sizeof sql - o,
                          ", secrets = $%d, expires_at = $%d", p.n - 1, p.n);
  }
  snprintf(sql + o, sizeof sql - o, " WHERE id = $1%s",
           ch->unless_revoked ? " AND state <> 'revoked'" : "");
  return q(be, "update connection", sql, &p, NULL, changes, NULL);
}

/* PostgreSQL keeps an old row version until VACUUM reclaims it (MVCC): it
 * holds ciphertext only (docs/store.md). */
static int pg_conn_wipe(void *be, const char *id, int64_t now) {
  params p = {0};

  p_text(&p, id);
  p_int(&p, now);
  return q(be, "wipe secrets",
           "UPDATE connections SET secrets = NULL, expires_at = NULL,"
           " updated_at = $2 WHERE id = $1",
           &p, NULL, NULL, NULL);
}

static int pg_conn_touch(void *be, const char *id, int64_t now, int *changes) {
  params p = {0};

  p_text(&p, id);
  p_int(&p, now);
  return q(be, "update connection",
           "UPDATE connections SET last_used_at = $2 WHERE id = $1", &p, NULL,
           changes, NULL);
}

static int pg_conn_delete(void *be, const char *id, int *changes) {
  params p = {0};

  p_text(&p, id);
  return q(be, "delete connection", "DELETE FROM connections WHERE id = $1", &p,
           NULL, changes, NULL);
}

/* ---- refresh leases --------------------------------------------------------
 * Lease and claim expiry run on the database's clock (docs/store.md,
 * "Clocks"): the hosts of a fleet sit on several machines whose clocks
 * may disagree, the database is one. A time a host asks for is sent as a
 * length from now (its expiry minus its now) and stored as the database's
 * now plus that length; "expired" is compared with the database's now in
 * the statement; a stored time read back is translated into the host's
 * clock by the offset between the two measured in the same statement (the
 * callers compare it with wfc__now_ms() and schedule their waits on it).
 * A row's expiry is thus the same instant for every host, whatever their
 * clocks say. */

/* The database's now in ms since the epoch: clock_timestamp(), not now(),
 * which stays at the start of the transaction. */
#define DB_NOW "(extract(epoch FROM clock_timestamp()) * 1000)::bigint"

/* A time of the database's clock (col of r, db_now its now in the same
 * statement) in the host's (host_now). */
static int64_t db_to_host(int64_t t, int64_t db_now, int64_t host_now) {
  return t - db_now + host_now;
}

static int no_conn(const char *state, const char *conn_id, int rc) {
  return strcmp(state, "23503") == 0 ? wfc__store_no_conn(conn_id) : rc;
}

/* The refresh lease of conn_id (card_id NULL) or the lease of the
 * subscription (conn_id, card_id, sub_key): one code for both, the SQL
 * differs only in table and key columns. */
static void lease_key(params *p, const char *conn_id, const char *card_id,
                      const char *sub_key) {
  p_text(p, conn_id);
  if (card_id != NULL) {
    p_text(p, card_id);
    p_text(p, sub_key);
  }
}

/* The lease row into *out (may be NULL): 0, WFC_ENOTFOUND. lock: FOR
 * UPDATE (in a transaction). */
static int lease_read_lock(pg *b, const char *conn_id, const char *card_id,
                           const char *sub_key, int lock, wfc__lease *out) {
  params p = {0};
  PGresult *r;
  int rc;

  lease_key(&p, conn_id, card_id, sub_key);
  if ((rc =
           q(b,
             card_id != NULL ? "read subscription lease" : "read refresh lease",
             card_id != NULL
                 ? (lock ? "SELECT holder, taken_at, expires_at, " DB_NOW
                           ", fence FROM sub_leases WHERE conn_id = $1"
                           " AND card_id = $2 AND sub_key = $3 FOR UPDATE"
                         : "SELECT holder, taken_at, expires_at, " DB_NOW
                           ", fence FROM sub_leases WHERE conn_id = $1"
                           " AND card_id = $2 AND sub_key = $3")
                 : (lock ? "SELECT holder, taken_at, expires_at, " DB_NOW
                           ", fence FROM refresh_leases WHERE conn_id = $1"
                           " FOR UPDATE"
                         : "SELECT holder, taken_at, expires_at, " DB_NOW
                           ", fence FROM refresh_leases WHERE conn_id = $1"),
             &p, &r, NULL, NULL)) != 0)
    return rc;
  int64_t host_now = wfc__now_ms();
  if (PQntuples(r) == 0) {
    PQclear(r);
    return wfc__store_lease_none(conn_id, card_id);
  }
  if (out != NULL) {
    int n = PQgetlength(r, 0, 0);
    if (n >= (int)sizeof out->holder)
      rc = wfc__store_lease_long(conn_id, card_id);
    else
      memcpy(out->holder, PQgetvalue(r, 0, 0), (size_t)n + 1);
    int64_t db_now = get_int(r, 0, 3);
    out->taken_at = db_to_host(get_int(r, 0, 1), db_now, host_now);
    out->expires_at = db_to_host(get_int(r, 0, 2), db_now, host_now);
    out->fence = get_int(r, 0, 4);
  }
  PQclear(r);
  return rc;
}

static int lease_read(pg *b, const char *conn_id, const char *card_id,
                      const char *sub_key, wfc__lease *out) {
  return lease_read_lock(b, conn_id, card_id, sub_key, 0, out);
}

/* Inside lease_take's transaction, after the upsert wrote the row: a row
 * taken by a new holder (fence 0, the upsert's mark) gets the next number
 * of its counter; a renewal keeps its own. The row into *cur (may be
 * NULL). */
static int lease_number(pg *b, const char *conn_id, const char *card_id,
                        const char *sub_key, wfc__lease *cur) {
  params p = {0};
  wfc__lease l;
  int rc;

  if ((rc = lease_read(b, conn_id, card_id, sub_key, &l)) != 0)
    return rc;
  if (l.fence == 0) {
    p_text(&p, conn_id);
    p_text(&p, card_id != NULL ? card_id : "");
    p_text(&p, card_id != NULL ? sub_key : "");
    if ((rc = q(b, "number lease",
                "INSERT INTO lease_fences AS f (conn_id, card_id, sub_key,"
                " fence) VALUES ($1, $2, $3, 1)"
                " ON CONFLICT (conn_id, card_id, sub_key) DO UPDATE SET"
                " fence = f.fence + 1",
                &p, NULL, NULL, NULL)) != 0 ||
        (rc = q(b, "number lease",
                card_id != NULL
                    ? "UPDATE sub_leases SET fence = (SELECT fence FROM"
                      " lease_fences WHERE conn_id = $1 AND card_id = $2"
                      " AND sub_key = $3) WHERE conn_id = $1"
                      " AND card_id = $2 AND sub_key = $3"
                    : "UPDATE refresh_leases SET fence = (SELECT fence"
                      " FROM lease_fences WHERE conn_id = $1"
                      " AND card_id = $2 AND sub_key = $3)"
                      " WHERE conn_id = $1",
                &p, NULL, NULL, NULL)) != 0 ||
        (rc = lease_read(b, conn_id, card_id, sub_key, &l)) != 0)
      return rc;
  }
  if (cur != NULL)
    *cur = l;
  return 0;
}

/* In the caller's transaction, the row locked until it ends (a take-over
 * waits for the guarded write); store.c judges it. */
static int pg_lease_lock(void *be, const char *conn_id, const char *card_id,
                         const char *sub_key, wfc__lease *out) {
  return lease_read_lock(be, conn_id, card_id, sub_key, 1, out);
}

static int lease_take(pg *b, const char *conn_id, const char *card_id,
                      const char *sub_key, const char *holder, int64_t now,
                      int64_t expires_at, wfc__lease *cur) {
  char state[6];
  params p = {0};
  int rc, changes = 0;

  if ((rc = pg_begin(b)) != 0)
    goto done;
  /* One upsert: a free row is inserted; an existing one (locked by the
   * conflict until the commit) is overwritten only when it is ours
   * (renewal) or expired (take-over). */
  /* The database's clock: taken now, for the length the host asked. */
  lease_key(&p, conn_id, card_id, sub_key);
  p_text(&p, holder);
  p_int(&p, expires_at - now);
  rc = q(b, card_id != NULL ? "take subscription lease" : "take refresh lease",
         card_id != NULL
             ? "INSERT INTO sub_leases AS l (conn_id, card_id, sub_key, holder,"
               " taken_at, expires_at) VALUES ($1, $2, $3, $4, " DB_NOW
               ", " DB_NOW " + $5)"
               " ON CONFLICT (conn_id, card_id, sub_key) DO UPDATE SET"
               " taken_at = CASE WHEN l.holder = excluded.holder"
               "   THEN l.taken_at ELSE excluded.taken_at END,"
               " fence = CASE WHEN l.holder = excluded.holder"
               "   THEN l.fence ELSE 0 END,"
               " holder = excluded.holder, expires_at = excluded.expires_at"
               " WHERE l.holder = excluded.holder OR l.expires_at <= " DB_NOW
             : "INSERT INTO refresh_leases AS l (conn_id, holder, taken_at,"
               " expires_at) VALUES ($1, $2, " DB_NOW ", " DB_NOW " + $3)"
               " ON CONFLICT (conn_id) DO UPDATE SET"
               " taken_at = CASE WHEN l.holder = excluded.holder"
               "   THEN l.taken_at ELSE excluded.taken_at END,"
               " fence = CASE WHEN l.holder = excluded.holder"
               "   THEN l.fence ELSE 0 END,"
               " holder = excluded.holder, expires_at = excluded.expires_at"
               " WHERE l.holder = excluded.holder OR l.expires_at <= " DB_NOW,
         &p, NULL, &changes, state);
  if ((rc = no_conn(state, conn_id, rc)) != 0)
    goto done;
  if (changes == 0 && (rc = lease_read(b, conn_id, card_id, sub_key, cur)) != 0)
    goto done;
  if (changes != 0 &&
      (rc = lease_number(b, conn_id, card_id, sub_key, cur)) != 0)
    goto done;
  if ((rc = pg_commit(b)) == 0 && changes == 0)
    rc = wfc__store_lease_busy(conn_id, card_id, cur);
done:
  if (rc != 0)
    pg_rollback(b);
  return rc;
}

static int pg_lease_take(void *be, const char *conn_id, const char *holder,
                         int64_t now, int64_t expires_at, wfc__lease *cur) {
  return lease_take(be, conn_id, NULL, NULL, holder, now, expires_at, cur);
}

static int pg_lease_delete(void *be, const char *conn_id, const char *holder,
                           int *changes) {
  params p = {0};

  p_text(&p, conn_id);
  p_text(&p, holder);
  return q(be, "release refresh lease",
           "DELETE FROM refresh_leases WHERE conn_id = $1 AND holder = $2", &p,
           NULL, changes, NULL);
}

static int pg_lease_pass(void *be, const char *conn_id, const char *holder,
                         const char *to, int64_t now, int64_t until_ms,
                         int *changes) {
  params p = {0};

  p_text(&p, conn_id);
  p_text(&p, holder);
  p_text(&p, to);
  p_int(&p, until_ms - now); /* the database's clock: a length from now */
  return q(be, "pass refresh lease",
           "UPDATE refresh_leases SET holder = $3, taken_at = " DB_NOW ","
           " expires_at = " DB_NOW " + $4 WHERE conn_id = $1 AND holder = $2",
           &p, NULL, changes, NULL);
}

static int pg_lease_get(void *be, const char *conn_id, wfc__lease *out) {
  return lease_read(be, conn_id, NULL, NULL, out);
}

/* ---- subscription leases --------------------------------------------------
 */

static int pg_sub_lease_take(void *be, const char *conn_id, const char *card_id,
                             const char *sub_key, const char *holder,
                             int64_t now, int64_t expires_at, wfc__lease *cur) {
  return lease_take(be, conn_id, card_id, sub_key, holder, now, expires_at,
                    cur);
}

static int pg_sub_lease_delete(void *be, const char *conn_id,
                               const char *card_id, const char *sub_key,
                               const char *holder, int *changes) {
  params p = {0};

  p_text(&p, conn_id);
  p_text(&p, card_id);
  p_text(&p, sub_key);
  p_text(&p, holder);
  return q(be, "release subscription lease",
           "DELETE FROM sub_leases WHERE conn_id = $1 AND card_id = $2"
           " AND sub_key = $3 AND holder = $4",
           &p, NULL, changes, NULL);
}

static int pg_sub_lease_get(void *be, const char *conn_id, const char *card_id,
                            const char *sub_key, wfc__lease *out) {
  return lease_read(be, conn_id, card_id, sub_key, out);
}

/* ---- checkpoints ----------------------------------------------------------
 */

static void cp_params(params *p, const char *conn_id, const char *card_id,
                      const char *sub_key, const char *next, int64_t accepted,
                      int64_t now) {
  p_text(p, conn_id);
  p_text(p, card_id);
  p_text(p, sub_key != NULL ? sub_key : "");
  p_text(p, next);
  p_int(p, accepted);
  p_int(p, now);
}

static int pg_cp_insert(void *be, const char *conn_id, const char *card_id,
                        const char *sub_key, const char *next, int64_t accepted,
                        int64_t now) {
  char state[6];
  params p = {0};
  int rc;

  cp_params(&p, conn_id, card_id, sub_key, next, accepted, now);
  rc = q(be, "write checkpoint",
         "INSERT INTO checkpoints (conn_id, card_id, sub_key, checkpoint,"
         " events_accepted, updated_at) VALUES ($1, $2, $3, $4, $5, $6)",
         &p, NULL, NULL, state);
  if (strcmp(state, "23505") == 0)
    return wfc__store_cp_moved(conn_id, card_id);
  return no_conn(state, conn_id, rc);
}

static int pg_cp_update(void *be, const char *conn_id, const char *card_id,
                        const char *sub_key, const char *next, int64_t accepted,
                        int64_t now) {
  params p = {0};

  cp_params(&p, conn_id, card_id, sub_key, next, accepted, now);
  return q(be, "write checkpoint",
           "UPDATE checkpoints SET checkpoint = $4,"
           " events_accepted = events_accepted + $5, updated_at = $6"
           " WHERE conn_id = $1 AND card_id = $2 AND sub_key = $3",
           &p, NULL, NULL, NULL);
}

static int pg_cp_delete(void *be, const char *conn_id, const char *card_id,
                        const char *sub_key, int *changes) {
  params p = {0};

  p_text(&p, conn_id);
  p_text(&p, card_id);
  p_text(&p, sub_key != NULL ? sub_key : "");
  return q(be, "delete checkpoint",
           "DELETE FROM checkpoints WHERE conn_id = $1 AND card_id = $2"
           " AND sub_key = $3",
           &p, NULL, changes, NULL);
}

/* ---- events seen ----------------------------------------------------------
 */

static void ev_params(params *p, const char *conn_id, const char *card_id,
                      const char *sub_key) {
  p_text(p, conn_id);
  p_text(p, card_id);
  p_text(p, sub_key != NULL ? sub_key : "");
}

static int pg_ev_seen(void *be, const char *conn_id, const char *card_id,
                      const char *sub_key, const char *event_id) {
  params p = {0};
  PGresult *r;
  int rc;

  ev_params(&p, conn_id, card_id, sub_key);
  p_text(&p, event_id);
  if ((rc = q(be, "read events seen",
              "SELECT 1 FROM events_seen WHERE conn_id = $1 AND card_id = $2"
              " AND sub_key = $3 AND event_id = $4",
              &p, &r, NULL, NULL)) != 0)
    return rc;
  rc = PQntuples(r) > 0;
  PQclear(r);
  return rc;
}

static int pg_ev_mark(void *be, const char *conn_id, const char *card_id,
                      const char *sub_key, const char *event_id, int64_t now,
                      int *changes) {
  char state[6];
  params p = {0};
  int rc;

  ev_params(&p, conn_id, card_id, sub_key);
  p_text(&p, event_id);
  p_int(&p, now);
  rc = q(be, "mark event seen",
         "INSERT INTO events_seen (conn_id, card_id, sub_key, event_id,"
         " seen_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
         &p, NULL, changes, state);
  return no_conn(state, conn_id, rc);
}

static int pg_ev_purge(void *be, const char *conn_id, const char *card_id,
                       const char *sub_key, int64_t before_ms, int64_t keep_max,
                       int *purged) {
  pg *b = be;
  params p = {0};
  int rc, a = 0, c = 0;

  if ((rc = pg_begin(b)) != 0)
    goto done;
  ev_params(&p, conn_id, card_id, sub_key);
  p_int(&p, before_ms);
  if ((rc = q(b, "purge events seen",
              "DELETE FROM events_seen WHERE conn_id = $1 AND card_id = $2"
              " AND sub_key = $3 AND seen_at < $4",
              &p, NULL, &a, NULL)) != 0)
    goto done;
  if (keep_max > 0) {
    p.n = 3;
    p_int(&p, keep_max);
    if ((rc = q(b, "purge events seen",
                "DELETE FROM events_seen WHERE conn_id = $1 AND card_id = $2"
                " AND sub_key = $3 AND event_id IN"
                " (SELECT event_id FROM events_seen WHERE conn_id = $1"
                "  AND card_id = $2 AND sub_key = $3"
                "  ORDER BY seen_at DESC, event_id OFFSET $4)",
                &p, NULL, &c, NULL)) != 0)
      goto done;
  }
  rc = pg_commit(b);
done:
  if (rc != 0)
    pg_rollback(b);
  else
    *purged = a + c;
  return rc;
}

/* ---- idempotency ----------------------------------------------------------
 */

static int pg_idem_insert(void *be, const char *key, const char *conn_id,
                          int64_t now, int *changes) {
  char state[6];
  params p = {0};
  int rc;

  p_text(&p, key);
  p_text(&p, conn_id);
  p_int(&p, now);
  rc = q(be, "claim idempotency key",
         "INSERT INTO idempotency (key, conn_id, created_at)"
         " VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
         &p, NULL, changes, state);
  return no_conn(state, conn_id, rc);
}

static int pg_idem_set_result(void *be, const char *key, const char *result) {
  params p = {0};

  p_text(&p, key);
  p_text(&p, result);
  return q(be, "finish idempotency key",
           "UPDATE idempotency SET result = $2 WHERE key = $1", &p, NULL, NULL,
           NULL);
}

static int pg_idem_hold_get(void *be, const char *key, char *holder,
                            int64_t *expires_at) {
  params p = {0};
  PGresult *r;
  int rc;

  p_text(&p, key);
  if ((rc = q(be, "read idempotency claim",
              "SELECT holder, expires_at, " DB_NOW
              " FROM idempotency WHERE key = $1",
              &p, &r, NULL, NULL)) != 0)
    return rc;
  int64_t host_now = wfc__now_ms();
  if (PQntuples(r) == 0) {
    PQclear(r);
    return wfc__store_fail(WFC_ENOTFOUND, "idempotency key was not claimed");
  }
  holder[0] = '\0';
  if (!PQgetisnull(r, 0, 0)) {
    int n = PQgetlength(r, 0, 0);
    if (n >= WFC__LEASE_HOLDER_SIZE)
      rc = wfc__store_fail(
          WFC_ESTORE, "store: stored idempotency claim holder is too long");
    else
      memcpy(holder, PQgetvalue(r, 0, 0), (size_t)n + 1);
  }
  /* In the host's clock, which store.c compares it with. */
  *expires_at = PQgetisnull(r, 0, 1)
                    ? 0
                    : db_to_host(get_int(r, 0, 1), get_int(r, 0, 2), host_now);
  PQclear(r);
  return rc;
}

static int pg_idem_hold_set(void *be, const char *key, const char *holder,
                            int64_t expires_at) {
  params p = {0};

  p_text(&p, key);
  if (holder == NULL)
    return q(be, "write idempotency claim",
             "UPDATE idempotency SET holder = NULL, expires_at = NULL"
             " WHERE key = $1",
             &p, NULL, NULL, NULL);
  p_text(&p, holder);
  /* expires_at is the host's: stored as the database's now plus the same
   * length from the host's now. */
  p_int(&p, expires_at - wfc__now_ms());
  return q(be, "write idempotency claim",
           "UPDATE idempotency SET holder = $2, expires_at = " DB_NOW
           " + $3 WHERE key = $1",
           &p, NULL, NULL, NULL);
}

static int pg_idem_delete(void *be, const char *key, int *changes) {
  params p = {0};

  p_text(&p, key);
  return q(be, "release idempotency key",
           "DELETE FROM idempotency WHERE key = $1", &p, NULL, changes, NULL);
}

static int pg_idem_purge(void *be, int64_t before_ms, int *changes) {
  params p = {0};

  p_int(&p, before_ms);
  return q(be, "purge idempotency keys",
           "DELETE FROM idempotency WHERE created_at < $1", &p, NULL, changes,
           NULL);
}

/* ---- raw rows (store copy) --------------------------------------------------
 */

static int pg_table_rows(void *be, const char *table,
                         int (*cb)(const char *cols, const wfc__srow *row,
                                   void *arg),
                         void *arg) {
  char sql[256], cols[1024];
  PGresult *r;
  wfc__srow row = {0};
  size_t o = 0;
  int rc, n;

  snprintf(sql, sizeof sql, "SELECT * FROM %s ORDER BY 1%s", table,
           strcmp(table, "checkpoints") == 0 ||
                   strcmp(table, "events_seen") == 0
               ? ", 2, 3"
               : "");
  if ((rc = q(be, "read table", sql, NULL, &r, NULL, NULL)) != 0)
    return rc;
  n = PQnfields(r);
  cols[0] = '\0';
  for (int i = 0; i < n && o < sizeof cols; i++)
    o += (size_t)snprintf(cols + o, sizeof cols - o, "%s%s", i ? ", " : "",
                          PQfname(r, i));
  for (int i = 0; rc == 0 && i < PQntuples(r); i++) {
    if ((rc = res_to_row(r, i, &row)) == 0)
      rc = cb(cols, &row, arg);
    wfc__srow_clear(&row);
  }
  PQclear(r);
  return rc;
}

static int pg_table_insert(void *be, const char *table, const char *cols,
                           const wfc__srow *row) {
  char sql[2048];
  params p = {0};
  size_t o;

  o = (size_t)snprintf(sql, sizeof sql, "INSERT INTO %s (%s) VALUES (", table,
                       cols);
  for (int i = 0; i < row->n && i < WFC__SROW_MAX; i++) {
    const wfc__sval *v = &row->v[i];
    if (v->type == WFC__SV_INT)
      p_int(&p, v->i);
    else if (v->type == WFC__SV_TEXT)
      p_text(&p, v->p);
    else if (v->type == WFC__SV_BLOB)
      p_blob(&p, v->p, v->n);
    else
      p_text(&p, NULL), p.type[p.n - 1] = 0; /* NULL: the column's type */
    if (o < sizeof sql)
      o += (size_t)snprintf(sql + o, sizeof sql - o, "%s$%d", i ? ", " : "",
                            i + 1);
  }
  if (o < sizeof sql)
    snprintf(sql + o, sizeof sql - o, ")");
  return q(be, "copy a row", sql, &p, NULL, NULL, NULL);
}

/* ---- open / close
 * ------------------------------------------------------------ */

static void pg_close(void *be) {
  pgpool *pool = be;

  if (pool == NULL)
    return;
  /* Every connection is back (store.c gives each back after its
   * attempt). */
  while (pool->idle != NULL) {
    pg *b = pool->idle;
    pool->idle = b->next;
    conn_free(b);
  }
  pthread_mutex_destroy(&pool->mu);
  pthread_cond_destroy(&pool->cv);
  if (pool->conninfo != NULL) {
    wfc__cleanse(pool->conninfo, strlen(pool->conninfo));
    free(pool->conninfo);
  }
  free(pool);
}

static int pg_open(wfc__store *st, const char *loc, int timeout_ms,
                   void **out) {
  size_t len = strlen(loc) + 1;
  pgpool *pool;
  pg *b = NULL;
  int rc, v = 0, pool_max;

  *out = NULL;
  if ((pool = calloc(1, sizeof *pool)) == NULL ||
      (pool->conninfo = malloc(len)) == NULL) {
    free(pool);
    return wfc__store_fail(WFC_ENOMEM, "out of memory");
  }
  pthread_mutex_init(&pool->mu, NULL);
  pthread_cond_init(&pool->cv, NULL);
  pg_describe(loc, pool->where, sizeof pool->where);
  strip_wfc_params(loc, pool->conninfo, len, &pool_max);
  pool->timeout_ms = timeout_ms;
  pool->wait_ms = wfc__store_wait_ms(st);
  pool->max = pool_max == 0 ? POOL_DEFAULT : pool_max;
  if (pool_max < 0 || pool_max > POOL_MAX) {
    rc = wfc__store_fail(WFC_EINVAL,
                         "store %s: pool_max must be a number from 1 to %d",
                         pool->where, POOL_MAX);
    goto fail;
  }
  if ((rc = pg_acquire(pool, (void **)&b)) != 0 ||
      (rc = pg_version_get(b, &v)) != 0)
    goto fail;
  /* No wfc schema yet: this open makes the store (concurrent openers are
   * serialized by the schema lock in the opening transaction, and the
   * second one finds the key check the first wrote). */
  b->opening = 1;
  rc = wfc__store_open_tx(st, b, v == 0);
  b->opening = 0;
  if (rc != 0)
    goto fail;
  pg_release(pool, b);
  *out = pool;
  return 0;
fail:
  if (b != NULL)
    pg_release(pool, b);
  pg_close(pool);
  return rc;
}

const wfc__store_ops wfc__store_pg_ops = {
    .name = "postgresql",
    .noun = "store",
    .db_words = "a PostgreSQL database",
    .claims = pg_claims,
    .describe = pg_describe,
    .open = pg_open,
    .close = pg_close,
    .acquire = pg_acquire,
    .release = pg_release,
    .begin = pg_begin,
    .commit = pg_commit,
    .commit_wipe = pg_commit,
    .rollback = pg_rollback,
    .version_get = pg_version_get,
    .migrate = pg_migrate,
    .meta_get = pg_meta_get,
    .meta_put = pg_meta_put,
    .row_get = pg_row_get,
    .row_set_mac = pg_row_set_mac,
    .row_keys = pg_row_keys,
    .conn_insert = pg_conn_insert,
    .conn_find = pg_conn_find,
    .conn_update = pg_conn_update,
    .conn_wipe = pg_conn_wipe,
    .conn_touch = pg_conn_touch,
    .conn_delete = pg_conn_delete,
    .lease_take = pg_lease_take,
    .lease_delete = pg_lease_delete,
    .lease_pass = pg_lease_pass,
    .lease_get = pg_lease_get,
    .sub_lease_take = pg_sub_lease_take,
    .lease_lock = pg_lease_lock,
    .sub_lease_delete = pg_sub_lease_delete,
    .sub_lease_get = pg_sub_lease_get,
    .cp_insert = pg_cp_insert,
    .cp_update = pg_cp_update,
    .cp_delete = pg_cp_delete,
    .ev_seen = pg_ev_seen,
    .ev_mark = pg_ev_mark,
    .ev_purge = pg_ev_purge,
    .idem_insert = pg_idem_insert,
    .idem_set_result = pg_idem_set_result,
    .idem_delete = pg_idem_delete,
    .idem_purge = pg_idem_purge,
    .idem_hold_get = pg_idem_hold_get,
    .idem_hold_set = pg_idem_hold_set,
    .table_rows = pg_table_rows,
    .table_insert = pg_table_insert,
};
