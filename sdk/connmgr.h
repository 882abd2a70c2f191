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

/* The store path the manager would use for opts_path (NULL: environment
 * and defaults), written into buf. Creates the default directory (0700)
 * when mkdir is set. 0, WFC_ETOOBIG or WFC_ENOTFOUND (no HOME). */
int wfc__connmgr_default_store(const char *opts_path, int mkdir, char *buf,
                               size_t len);

#endif
