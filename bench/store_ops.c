/* wfc-bench-store LOCATION [-n N] [-w W]: store operations per second on
 * one handle (figures, never pass/fail). LOCATION: a new SQLite file path,
 * or a PostgreSQL URL (docs/store.md); the master key is a fixed test key
 * unless WFC_MASTER_KEY is set.
 *
 * Reads (N each): conn_get by nickname, conn_secrets (read and unseal).
 * Writes (W each, every one a durable transaction): conn_insert (put a
 * connection: seal, MAC, insert), update_secrets (put a rotation), a
 * checkpoint compare-and-set (each one expecting the previous), an
 * idempotency claim of a new key plus its finish (claim, then the outcome
 * recorded), lease take + release (a refresh lease's two short
 * transactions, N times). One line per operation ("store BACKEND: op
 * R/s"), then one summary line. Used for docs/store.md ("Backends") and
 * docs/fleet.md ("Figures"). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "store.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static const char *backend;
static int failures;

static void report(const char *op, int n, double t0) {
  double dt = now() - t0;
  printf("store %s: %-26s %8.0f/s (%d in %.2f s)\n", backend, op, n / dt, n,
         dt);
}

static void check(int rc, const char *what) {
  if (rc != 0 && failures++ == 0)
    fprintf(stderr, "wfc-bench-store: %s: %d %s\n", what, rc,
            wfc__store_last_error());
}

int main(int argc, char **argv) {
  int n = 5000, nw = 300, opt;
  wfc__store *st = NULL;
  wfc__conn_rec r;
  char err[512];

  while ((opt = getopt(argc, argv, "n:w:")) != -1) {
    if (opt == 'n')
      n = atoi(optarg);
    else if (opt == 'w')
      nw = atoi(optarg);
    else
      break;
  }
  if (optind != argc - 1 || n < 1 || nw < 1) {
    fprintf(stderr, "usage: wfc-bench-store LOCATION [-n reads] [-w writes]\n");
    return 2;
  }
  const char *loc = argv[optind];
  setenv("WFC_MASTER_KEY",
         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 0);
  if (wfc__store_open(loc, &st, err, sizeof err) != 0) {
    fprintf(stderr, "wfc-bench-store: %s\n", err);
    return 1;
  }
  backend = wfc__store_backend_name(loc);
  static const char secrets[] =
      "{\"credentials\":{\"access_token\":"
      "\"eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9."
      "eyJhdWQiOiJodHRwczovL2dyYXBoLm1pY3Jvc29mdC5jb20ifQ.c2lnbmF0dXJl\","
      "\"refresh_token\":\"0.AXrt-bench\",\"expires_at\":4102444800}}";
  memset(&r, 0, sizeof r);
  snprintf(r.nickname, sizeof r.nickname, "bench-%d", (int)getpid());
  strcpy(r.plugin, "bench");
  strcpy(r.conn_type, "oauth2");
  if (wfc__store_conn_insert(st, &r, secrets) != 0) {
    fprintf(stderr, "wfc-bench-store: %s\n", wfc__store_last_error());
    return 1;
  }

  double t0 = now();
  for (int i = 0; i < n; i++) {
    wfc__conn_rec g;
    check(wfc__store_conn_get(st, r.nickname, &g), "conn_get");
    wfc__conn_rec_clear(&g);
  }
  report("get connection", n, t0);
  t0 = now();
  for (int i = 0; i < n; i++) {
    char *j = NULL;
    check(wfc__store_conn_secrets(st, r.id, &j), "conn_secrets");
    wfc__secret_free(j);
  }
  report("get secrets (unseal)", n, t0);

  /* Puts: new connections (deleted afterwards), then rotations. */
  char(*ids)[WFC__CONN_ID_SIZE] = calloc((size_t)nw, sizeof *ids);
  if (ids == NULL)
    return 1;
  t0 = now();
  for (int i = 0; i < nw; i++) {
    wfc__conn_rec c = r;
    c.id[0] = '\0';
    snprintf(c.nickname, sizeof c.nickname, "bench-%d-%d", (int)getpid(), i);
    check(wfc__store_conn_insert(st, &c, secrets), "conn_insert");
    memcpy(ids[i], c.id, sizeof ids[i]);
  }
  report("put connection (insert)", nw, t0);
  t0 = now();
  for (int i = 0; i < nw; i++)
    check(wfc__store_conn_update_secrets(st, r.id, secrets, 4102444800000LL),
          "update_secrets");
  report("put secrets (rotation)", nw, t0);

  /* Checkpoint compare-and-set: each expects the one before. */
  char prev[32] = "", next[32];
  t0 = now();
  for (int i = 0; i < nw; i++) {
    snprintf(next, sizeof next, "cp-%d", i);
    check(wfc__store_checkpoint_cas(st, r.id, "bench.card", "sub",
                                    i ? prev : NULL, next, 1),
          "checkpoint_cas");
    memcpy(prev, next, sizeof prev);
  }
  report("checkpoint CAS", nw, t0);

  /* Idempotency: a new key claimed, then its outcome recorded. */
  t0 = now();
  for (int i = 0; i < nw; i++) {
    char key[64];
    wfc__idem_claim c;
    snprintf(key, sizeof key, "bench-%d-%d", (int)getpid(), i);
    check(wfc__store_idem_claim(st, key, r.id, "bench-holder", 60000, &c),
          "idem_claim");
    check(wfc__store_idem_finish(st, key, "{\"sent\":true}"), "idem_finish");
  }
  report("idempotency claim+finish", nw, t0);

  t0 = now();
  for (int i = 0; i < n; i++) {
    check(wfc__store_lease_take(st, r.id, "bench", 1000, NULL), "lease_take");
    check(wfc__store_lease_release(st, r.id, "bench"), "lease_release");
  }
  report("lease take+release", n, t0);

  for (int i = 0; i < nw; i++)
    (void)wfc__store_conn_delete(st, ids[i]);
  free(ids);
  (void)wfc__store_conn_delete(st, r.id);
  wfc__store_close(st);
  if (failures > 0) {
    fprintf(stderr, "wfc-bench-store: %d operations failed\n", failures);
    return 1;
  }
  return 0;
}
