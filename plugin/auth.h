/* auth.h - interactive authorization: the connection type's
 * authorize_begin and authorize_complete hooks (authorization code flow
 * with PKCE S256 and a state checked in constant time). */
#ifndef O365_AUTH_H
#define O365_AUTH_H

#include <wfc/plugin.h>

#include "config.h"

struct json_object;

/* The /authorize URL (transfer, free()), or NULL on OOM. prompt and
 * login_hint may be NULL. */
char *o365_authorize_url(const o365_config *cfg, const char *redirect_uri,
                         const char *state, const char *challenge,
                         const char *prompt, const char *login_hint);

/* Does the redirect's state (may be NULL) belong to this session's state?
 * Constant time, length-safe. */
int o365_state_matches(struct json_object *session, struct json_object *query);

int o365_conn_authorize_begin(wfc_call *call);
int o365_conn_authorize_complete(wfc_call *call);

#endif
