/* conn.h - the "o365mail" connection type: its parameters and hooks
 * (authorize in auth.c, refresh in token.c, revoke and test here). */
#ifndef O365_CONN_H
#define O365_CONN_H

#include <wfc/plugin.h>

extern const wfc_field o365_conn_params[];
extern const wfc_conn_type_desc o365_conn_type;

int o365_conn_revoke(wfc_call *call);
int o365_conn_test(wfc_call *call);

#endif
