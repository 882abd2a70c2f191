/* fleet_proc.h - what the fleet's host programs (fleet_host.c,
 * fleet_sender.c) share: a uv loop, a runtime with the real plugin, a
 * connection manager on $WFC_STORE (key $WFC_MASTER_KEY) and one stored
 * connection open; "ready" printed, then the start signal (a file) awaited
 * so that the test starts every host's runs at the same moment. */
#ifndef WFC_FLEET_PROC_H
#define WFC_FLEET_PROC_H

#include <uv.h>

#include "wfc/connections.h"
#include "wfc/host.h"

typedef struct fleet_proc {
  uv_loop_t loop;
  wfc_runtime *rt;
  wfc_connmgr *m;
  wfc_conn *conn; /* the connection nick, open */
} fleet_proc;

/* Loads the plugin so, opens the connection manager and the connection
 * nick, prints "ready" and waits until the file go exists. 0, or -1 with
 * the cause on stderr after "who: ". */
int fleet_proc_open(fleet_proc *p, const char *who, const char *so,
                    const char *nick, const char *go);
/* Releases the connection, closes the manager and the runtime, runs the
 * loop out and closes it. */
void fleet_proc_close(fleet_proc *p);

#endif
