/* wfc-bench-store LOCATION: store operations per second on one handle
 * (figures, never pass/fail): conn_secrets and conn_get (reads), lease
 * take+release (the refresh lease's short transactions), update_state (a
 * verified write: one durable transaction each). LOCATION: a new SQLite
 * file path, or a PostgreSQL URL (docs/store.md); the master key is a
 * fixed test key unless WFC_MASTER_KEY is set. Used for the before/after
 * figures of the backend split in docs/store.md. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "store.h"

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  const int n = 20000, nw = 500;
  wfc__store *st = NULL;
  wfc__conn_rec r;
  char err[512];
  double t0, t1, t2, t3, t4;

  if (argc != 2) {
    fprintf(stderr, "usage: wfc-bench-store LOCATION\n");
    return 2;
  }
  setenv("WFC_MASTER_KEY",
         "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", 0);
  if (wfc__store_open(argv[1], &st, err, sizeof err) != 0) {
    fprintf(stderr, "wfc-bench-store: %s\n", err);
    return 1;
  }
  memset(&r, 0, sizeof r);
  strcpy(r.nickname, "bench");
  strcpy(r.plugin, "bench");
  strcpy(r.conn_type, "oauth2");
  if (wfc__store_conn_insert(st, &r, "{\"refresh_token\":\"x\"}") != 0) {
    fprintf(stderr, "wfc-bench-store: %s\n", wfc__store_last_error());
    return 1;
  }
  t0 = now();
  for (int i = 0; i < n; i++) {
    char *j = NULL;
    (void)wfc__store_conn_secrets(st, r.id, &j);
    wfc__secret_free(j);
  }
  t1 = now();
  for (int i = 0; i < n; i++) {
    wfc__conn_rec g;
    (void)wfc__store_conn_get(st, "bench", &g);
    wfc__conn_rec_clear(&g);
  }
  t2 = now();
  for (int i = 0; i < n; i++) {
    (void)wfc__store_lease_take(st, r.id, "bench", 1000, NULL);
    (void)wfc__store_lease_release(st, r.id, "bench");
  }
  t3 = now();
  for (int i = 0; i < nw; i++)
    (void)wfc__store_conn_update_state(st, r.id, "connected", "");
  t4 = now();
  printf("store %s: conn_secrets %.0f/s, conn_get %.0f/s, lease take+release "
         "%.0f/s, update_state %.0f/s\n",
         wfc__store_backend_name(argv[1]), n / (t1 - t0), n / (t2 - t1),
         n / (t3 - t2), nw / (t4 - t3));
  (void)wfc__store_conn_delete(st, r.id);
  wfc__store_close(st);
  return 0;
}
