/* entry.h - the plugin's one piece of global state: the host's services
 * table, set once in init() and borrowed for the plugin's lifetime. */
#ifndef O365_ENTRY_H
#define O365_ENTRY_H

#include <wfc/plugin.h>

#define O365_PLUGIN_NAME    "o365mail"
#define O365_PLUGIN_VERSION "0.1.0"
#define O365_CONN_TYPE      "o365mail"

/* Host services (host-owned; valid from init() until shutdown). */
extern const wfc_host_api *o365_api;

#endif
