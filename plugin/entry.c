/* entry.c - the plugin's one exported symbol and its init. */
#include "entry.h"

#include "apponly.h"
#include "cards.h"
#include "conn.h"
#include "graph.h"

const wfc_host_api *o365_api;

static int o365_init(const wfc_host_api *api, wfc_registrar *reg,
                     wfc_error *err) {
  /* Everything up to blob_ref is ABI 1.0; a smaller table is a host that
   * lies about its version. */
  if (api == NULL ||
      api->size < offsetof(wfc_host_api, blob_ref) + sizeof api->blob_ref) {
    if (api != NULL && api->error_set != NULL)
      api->error_set(err, WFC_EABI, "host services table too small");
    return WFC_EABI;
  }
  o365_api = api;
  int rc = api->register_conn_type(reg, &o365_conn_type, sizeof o365_conn_type);
  if (rc != 0) {
    api->error_set(err, rc, "registering connection type %s failed",
                   o365_conn_type.id);
    return rc;
  }
  rc = api->register_conn_type(reg, &o365_app_conn_type,
                               sizeof o365_app_conn_type);
  if (rc != 0) {
    api->error_set(err, rc, "registering connection type %s failed",
                   o365_app_conn_type.id);
    return rc;
  }
  return o365_cards_register(reg, err);
}

/* After every call has completed (and the host has stopped our timers). */
static void o365_shutdown(void) {
  o365_graph_shutdown();
  o365_json_parse_release();
}

WFC_PLUGIN_DEFINE(O365_PLUGIN_NAME, O365_PLUGIN_VERSION,
                  "Office 365 Mail: send, search and manage Microsoft 365 "
                  "mail through Microsoft Graph.",
                  o365_init, o365_shutdown)
