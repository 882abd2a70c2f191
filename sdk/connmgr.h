/* connmgr.h - the connection manager (private parts; the public API is
 * include/wfc/connections.h, the design docs/connections-sdk.md).
 *
 * What the store holds for a connection, sealed (never in clear):
 *   {"credentials": {...the plugin's token set...},
 *    "secret_params": {...params whose schema field is WFC_FIELD_SECRET...}}
 * Non-secret params are kept in clear in the row's params column.
 */
#ifndef WFC_SDK_CONNMGR_H
#define WFC_SDK_CONNMGR_H

#include "wfc/connections.h"

/* Tokens are refreshed when they expire within this many ms (MSAL's
 * margin). */
#define WFC__TOKEN_MARGIN_MS (5 * 60 * 1000)

/* Refresh leases (store.h; docs/connections-sdk.md, "Across processes").
 * A lease lasts WFC__REFRESH_LEASE_MS and its holder renews it every third
 * of that while its refresh runs (the refresh hook's requests have their
 * own deadlines, 60 s each by default), so a holder that was killed blocks
 * the others for at most this long - and not at all when it ran on this
 * host: a gone process's lease is taken over at once. */
#define WFC__REFRESH_LEASE_MS (30 * 1000)
/* A process that finds the lease held polls the store, every
 * WFC__LEASE_POLL_MIN_MS at first, backing off to WFC__LEASE_POLL_MAX_MS,
 * and gives up (WFC_ETIMEDOUT) after WFC__REFRESH_WAIT_MAX_MS. */
#define WFC__LEASE_POLL_MIN_MS   10
#define WFC__LEASE_POLL_MAX_MS   200
#define WFC__REFRESH_WAIT_MAX_MS (150 * 1000)

/* The longest wait a refresh's Retry-After imposes (entry_throttle in
 * connmgr.c): a larger one, or a bogus date, is cut to this. */
#define WFC__REFRESH_RETRY_MAX_MS (60 * 60 * 1000)

/* The manager's store handle (borrowed, valid until wfc_connmgr_close),
 * for the SDK modules that keep per-connection state in it (events.c:
 * checkpoints and the events seen). */
struct wfc__store;
struct wfc__store *wfc__connmgr_store(wfc_connmgr *m);
/* The runtime the manager was opened on (borrowed). */
wfc_runtime *wfc__connmgr_runtime(wfc_connmgr *m);
/* For tests: how many times the refresh lease timer has looked at an
 * entry (placed one in its heap, or walked one at close). It grows with
 * the log of the entries that hold or wait for a lease, not with the
 * number of connections (docs/fleet.md, "Many connections on one host"). */
uint64_t wfc__connmgr_lease_looks(const wfc_connmgr *m);

#endif
