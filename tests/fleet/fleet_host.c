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
#define _POSIX_C_SOURCE 200809L /* uv.h: pthread_rwlock_t */
#include <stdio.h>
#include <stdlib.h>

#include <json-c/json.h>
#include <uv.h>

#include "fleet_proc.h"
#include "wfc/error.h"

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

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: fleet-host PLUGIN CARD NICKNAME N GOFILE\n");
    return 2;
  }
  const char *so = argv[1], *card = argv[2], *nick = argv[3], *go = argv[5];
  int n = atoi(argv[4]), rc;
  fleet_proc p;
  runs r = {.n = n};

  if (fleet_proc_open(&p, "fleet-host", so, nick, go) != 0)
    return 1;
  json_object *in = json_object_new_object();
  for (int i = 0; i < n; i++) {
    wfc_invoke how = {
        .size = sizeof how, .conn = p.conn, .on_done = on_done, .arg = &r};
    if ((rc = wfc_runtime_invoke(p.rt, card, in, &how, NULL)) != 0) {
      r.done++;
      if (r.failed++ == 0)
        fprintf(stderr, "fleet-host: invoke: %s\n", wfc_strerror(rc));
    }
  }
  while (r.done < n)
    uv_run(&p.loop, UV_RUN_ONCE);
  json_object_put(in);
  printf("ok=%d failed=%d\n", r.ok, r.failed);
  fflush(stdout);

  fleet_proc_close(&p);
  return r.failed == 0 && r.ok == n ? 0 : 1;
}
