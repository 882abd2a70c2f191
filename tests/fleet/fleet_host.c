/* fleet_host.c - one host of a fleet for tests/fleet: a process built on the
 * public SDK (a uv loop, a runtime with the real plugin, a connection
 * manager on $WFC_STORE, here a PostgreSQL store shared by every host) that
 * runs N card runs at once on one stored connection, as a worker host of a
 * workflow platform would.
 *
 *   fleet-host PLUGIN CARD NICKNAME N GOFILE
 *
 * It prints "ready" once the connection is open, waits until GOFILE exists
 * (so the test starts every host's runs at the same moment), starts the N
 * runs together, waits for them all and prints "ok=K failed=M"; the first
 * failure's message goes to stderr. Exit 0 when all N succeeded. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <uv.h>

#include "wfc/connections.h"
#include "wfc/error.h"
#include "wfc/host.h"

typedef struct runs {
  int n, done, ok, failed;
} runs;

static void on_done(void *arg, wfc_call *call, const wfc_outcome *out) {
  runs *r = arg;
  (void)call;
  r->done++;
  if (out->status == 0) {
    r->ok++;
    return;
  }
  if (r->failed++ == 0)
    fprintf(stderr, "fleet-host: %s (%s)\n", out->message,
            wfc_err_name(out->status));
}

static void closed(void *arg) {
  *(int *)arg = 1;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: fleet-host PLUGIN CARD NICKNAME N GOFILE\n");
    return 2;
  }
  const char *so = argv[1], *card = argv[2], *nick = argv[3], *go = argv[5];
  int n = atoi(argv[4]);
  uv_loop_t loop;
  wfc_runtime *rt = NULL;
  wfc_connmgr *m = NULL;
  wfc_conn *conn = NULL;
  char err[512];
  runs r = {.n = n};

  uv_loop_init(&loop);
  if (wfc_runtime_new(&loop, NULL, &rt) != 0 ||
      wfc_runtime_load(rt, so, NULL, err, sizeof err) != 0) {
    fprintf(stderr, "fleet-host: runtime: %s\n", rt ? err : "new failed");
    return 1;
  }
  /* The store: $WFC_STORE; the key: $WFC_MASTER_KEY. */
  if (wfc_connmgr_open(rt, NULL, &m, err, sizeof err) != 0) {
    fprintf(stderr, "fleet-host: %s\n", err);
    return 1;
  }
  int rc = wfc_connmgr_open_conn(m, nick, &conn);
  if (rc != 0) {
    fprintf(stderr, "fleet-host: open %s: %s\n", nick, wfc_strerror(rc));
    return 1;
  }
  printf("ready\n");
  fflush(stdout);
  struct timespec tick = {0, 2000000};
  while (access(go, F_OK) != 0)
    nanosleep(&tick, NULL);

  json_object *in = json_object_new_object();
  for (int i = 0; i < n; i++) {
    wfc_invoke how = {
        .size = sizeof how, .conn = conn, .on_done = on_done, .arg = &r};
    if ((rc = wfc_runtime_invoke(rt, card, in, &how, NULL)) != 0) {
      r.done++;
      if (r.failed++ == 0)
        fprintf(stderr, "fleet-host: invoke: %s\n", wfc_strerror(rc));
    }
  }
  while (r.done < n)
    uv_run(&loop, UV_RUN_ONCE);
  json_object_put(in);
  printf("ok=%d failed=%d\n", r.ok, r.failed);
  fflush(stdout);

  wfc_conn_release(conn);
  int done = 0;
  wfc_connmgr_close(m, closed, &done);
  while (!done)
    uv_run(&loop, UV_RUN_ONCE);
  done = 0;
  wfc_runtime_close(rt, closed, &done);
  while (!done)
    uv_run(&loop, UV_RUN_ONCE);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  return r.failed == 0 && r.ok == n ? 0 : 1;
}
