/* fleet_proc.c - see fleet_proc.h. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include "fleet_proc.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "wfc/error.h"

int fleet_proc_open(fleet_proc *p, const char *who, const char *so,
                    const char *nick, const char *go) {
  char err[512];
  p->rt = NULL;
  p->m = NULL;
  p->conn = NULL;
  uv_loop_init(&p->loop);
  if (wfc_runtime_new(&p->loop, NULL, &p->rt) != 0 ||
      wfc_runtime_load(p->rt, so, NULL, err, sizeof err) != 0) {
    fprintf(stderr, "%s: runtime: %s\n", who, p->rt ? err : "new failed");
    return -1;
  }
  /* The store: $WFC_STORE; the key: $WFC_MASTER_KEY. */
  if (wfc_connmgr_open(p->rt, NULL, &p->m, err, sizeof err) != 0) {
    fprintf(stderr, "%s: %s\n", who, err);
    return -1;
  }
  int rc = wfc_connmgr_open_conn(p->m, nick, &p->conn);
  if (rc != 0) {
    fprintf(stderr, "%s: open %s: %s\n", who, nick, wfc_strerror(rc));
    return -1;
  }
  printf("ready\n");
  fflush(stdout);
  struct timespec tick = {0, 2000000};
  while (access(go, F_OK) != 0)
    nanosleep(&tick, NULL);
  return 0;
}

static void closed(void *arg) {
  *(int *)arg = 1;
}

void fleet_proc_close(fleet_proc *p) {
  wfc_conn_release(p->conn);
  int done = 0;
  wfc_connmgr_close(p->m, closed, &done);
  while (!done)
    uv_run(&p->loop, UV_RUN_ONCE);
  done = 0;
  wfc_runtime_close(p->rt, closed, &done);
  while (!done)
    uv_run(&p->loop, UV_RUN_ONCE);
  uv_run(&p->loop, UV_RUN_DEFAULT);
  uv_loop_close(&p->loop);
}
