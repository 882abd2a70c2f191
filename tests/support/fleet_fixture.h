/* fleet_fixture.h - the set-up the fleet tests share (tests/fleet,
 * tests/foreign/test_refresh_lease.c, bench/fleet.c): a fresh master key, a
 * throw-away PostgreSQL cluster with the emulator and a `wfc` user whose
 * store is a new database on it, and an access token aged as an hour
 * passing would. */
#ifndef WFC_TEST_FLEET_FIXTURE_H
#define WFC_TEST_FLEET_FIXTURE_H

#include <stddef.h>

#include "emu_proc.h"
#include "pg_cluster.h"
#include "wfc_user.h"

/* Sets $WFC_MASTER_KEY to a fresh random key (64 hex digits): 0, or -1. */
int fleet_master_key(void);

/* fleet_master_key, then a PostgreSQL cluster in *pg, a fresh emulator in
 * *emu and user u (rel_up with name), u->store a new database of *pg. 0, or
 * -1 when any failed (what was started is left for fleet_down). */
int fleet_up(pg_cluster **pg, emu_proc **emu, wuser *u, const char *name);
/* Undoes fleet_up: stops the emulator and the cluster, removes the user's
 * directory. 0, or -1 when any failed or was never started. */
int fleet_down(pg_cluster *pg, emu_proc *emu, wuser *u);

/* Ages the access token of connection conn_id in the store at store (a
 * path or a postgresql:// URL): its expiry is now a minute in the past, so
 * the next use of the connection must refresh. 0, or -1 with why in err. */
int fleet_expire_access_token(const char *store, const char *conn_id, char *err,
                              size_t errlen);

#endif
