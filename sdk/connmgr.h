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

#endif
