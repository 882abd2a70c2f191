/* fleet_sender.c - one host of a fleet sending keyed mail, for
 * tests/fleet/test_fleet_send.c: a process built on the public SDK (a uv
 * loop, a runtime with the real plugin, a connection manager on
 * $WFC_STORE, a PostgreSQL store shared by every host) that runs one
 * o365mail.send_email per index at once on one stored connection, each
 * with its own idempotency key, as a worker host of a workflow platform
 * would when a batch of flow runs reaches their "send" step.
 *
 *   fleet-sender PLUGIN NICKNAME GOFILE TAG INDICES
 *
 * Run i sends {"to":["bob@contoso.test"],"subject":"TAG #i",
 * "idempotency_key":"TAG-i"}; INDICES is a comma-separated list of i
 * ("0,1,2,..."). It prints
 * "ready" once the connection is open, waits until GOFILE exists (so the
 * test starts every host's runs at the same moment), starts its runs
 * together, and prints one line per run as it ends:
 *
 *   run I STATUS DEDUP UNKNOWN
 *
 * STATUS the outcome's code (0: sent), DEDUP 1 when the output says
 * "deduplicated", UNKNOWN 1 when the failure's detail says "outcome":
 * "unknown"; then the failure's message on stderr ("run I: MESSAGE").
 * Exit 0 once every run has ended (whatever their outcomes). */
#define _POSIX_C_SOURCE 200809L /* uv.h: pthread_rwlock_t */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <uv.h>

#include "fleet_proc.h"
#include "wfc/error.h"

#define MAX_RUNS 10000

typedef struct run {
  int index;
  int *done; /* shared counter */
} run;

static int flag(struct json_object *o, const char *k) {
  struct json_object *v = NULL;
  return o != NULL && json_object_object_get_ex(o, k, &v) &&
         json_object_get_boolean(v);
}

static void on_done(void *arg, wfc_call *call, const wfc_outcome *out) {
  run *r = arg;
  struct json_object *v = NULL;
  (void)call;
  int unknown = out->status != 0 && out->detail != NULL &&
                json_object_object_get_ex(out->detail, "outcome", &v) &&
                strcmp(json_object_get_string(v), "unknown") == 0;
  printf("run %d %d %d %d\n", r->index, out->status,
         out->status == 0 && flag(out->output, "deduplicated"), unknown);
  fflush(stdout);
  if (out->status != 0)
    fprintf(stderr, "run %d: %s (%s)\n", r->index, out->message,
            wfc_err_name(out->status));
  (*r->done)++;
}

int main(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: fleet-sender PLUGIN NICKNAME GOFILE TAG INDICES\n");
    return 2;
  }
  const char *so = argv[1], *nick = argv[2], *go = argv[3], *tag = argv[4];
  static run runs[MAX_RUNS];
  int n = 0, done = 0;
  for (char *p = argv[5]; *p != '\0' && n < MAX_RUNS;) {
    char *end = NULL;
    runs[n].index = (int)strtol(p, &end, 10);
    runs[n].done = &done;
    n++;
    p = *end == ',' ? end + 1 : end;
    if (end == p && *p != '\0') {
      fprintf(stderr, "fleet-sender: bad INDICES at %s\n", p);
      return 2;
    }
  }
  fleet_proc h;
  int rc;
  if (fleet_proc_open(&h, "fleet-sender", so, nick, go) != 0)
    return 1;

  for (int i = 0; i < n; i++) {
    char subject[160], key[160];
    snprintf(subject, sizeof subject, "%s #%d", tag, runs[i].index);
    snprintf(key, sizeof key, "%s-%d", tag, runs[i].index);
    struct json_object *in = json_object_new_object(),
                       *to = json_object_new_array();
    json_object_array_add(to, json_object_new_string("bob@contoso.test"));
    json_object_object_add(in, "to", to);
    json_object_object_add(in, "subject", json_object_new_string(subject));
    json_object_object_add(in, "body", json_object_new_string("fleet send"));
    json_object_object_add(in, "idempotency_key", json_object_new_string(key));
    wfc_invoke how = {.size = sizeof how,
                      .conn = h.conn,
                      .on_done = on_done,
                      .arg = &runs[i]};
    if ((rc = wfc_runtime_invoke(h.rt, "o365mail.send_email", in, &how,
                                 NULL)) != 0) {
      printf("run %d %d 0 0\n", runs[i].index, rc);
      fprintf(stderr, "run %d: invoke: %s\n", runs[i].index, wfc_strerror(rc));
      done++;
    }
    json_object_put(in);
  }
  while (done < n)
    uv_run(&h.loop, UV_RUN_ONCE);
  fleet_proc_close(&h);
  return 0;
}
