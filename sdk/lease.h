/* lease.h - who holds a refresh lease, and whether that holder is gone.
 *
 * A refresh lease (store.h, "refresh leases"; docs/store.md) names its
 * holder by an opaque text that this module makes and reads:
 *
 *   <16 hex random>.<pid>@<node>
 *
 * <node> says where the process runs: "<hostname>/<boot id>/<pid namespace
 * inode>" on Linux (the boot id and the namespace make a pid meaningful:
 * same node, same pid space), "<hostname>/<random>" elsewhere, which no
 * other process shares. The random part makes two holders in one process
 * (two connection managers) and a reused pid different holders.
 *
 * A holder on the same node whose process no longer exists (or is a
 * zombie: killed, not yet reaped) is gone, and its lease may be taken over
 * at once. A holder on another node (another host of a fleet, another
 * container's pid space) is never judged from here: its lease is waited
 * out until it expires. */
#ifndef WFC_SDK_LEASE_H
#define WFC_SDK_LEASE_H

#include <stddef.h>

/* The holder of a lease that a throttled refresh handed over (store.h,
 * wfc__store_lease_pass): the identity provider asked for no token request
 * before the lease's expires_at. Not a process: never "gone", and no
 * process waits for it (connmgr.c fails token requests that need a
 * refresh at once until then). */
#define WFC__LEASE_RETRY_AFTER "retry-after"

/* Writes a new holder id for this process into buf (len >= 256 is always
 * enough). 0, or WFC_ETOOBIG / the error of the random source. */
int wfc__lease_holder_new(char *buf, size_t len);

/* 1 when holder names a process of this node that has exited (or is a
 * zombie); 0 when it is alive, on another node, or cannot be told. */
int wfc__lease_holder_gone(const char *holder);

#endif
