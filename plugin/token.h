/* token.h - the identity platform's /token endpoint: redeeming an
 * authorization code, refreshing, and turning a token response into the
 * connection's credentials. Also the connection type's refresh hook. */
#ifndef O365_TOKEN_H
#define O365_TOKEN_H

#include <stdint.h>

#include <wfc/plugin.h>

#include "config.h"
#include "consent.h"

struct json_object;

/* Outcome of one /token request, borrowed during the callback.
 *   error 0:           tok is the parsed success body (borrowed; the
 *                      callback may json_object_get() it), every token in
 *                      it already registered with api->secret();
 *   WFC_EAUTH:         the endpoint answered with an OAuth error: aad;
 *   WFC_ETHROTTLED:    HTTP 429 (retry_after_ms when given);
 *   WFC_EREMOTE:       HTTP 5xx;
 *   WFC_EPROTO:        a 2xx body without an access token / not JSON;
 *   transport codes:   WFC_ENET, WFC_ETIMEDOUT, WFC_ETLS, WFC_ECANCELED...
 */
typedef struct o365_token_res {
  int error;
  long status;
  const char *message; /* human-readable cause when error != 0 */
  struct json_object *tok;
  o365_aad_err aad;
  int64_t retry_after_ms; /* -1 when absent */
  /* A 2xx whose body is not JSON (cut or corrupted on the way): worth
   * another try later, not a sign of a wrong configuration. */
  int garbled;
} o365_token_res;

typedef void (*o365_token_cb)(void *arg, const o365_token_res *res);

/* The failure detail of a token answer (transfer): HTTP status, OAuth
 * error, suberror, AADSTS code, trace and correlation ids, retry_after_ms;
 * the members the answer has. */
struct json_object *o365_token_detail(const o365_token_res *res);

/* POSTs form (x-www-form-urlencoded, borrowed during the call) to
 * {authority}/{tenant}/oauth2/v2.0/token. cb runs exactly once, later.
 * *out (optional) is the request until cb runs (for http_cancel). */
int o365_token_post(const o365_config *cfg, const char *tenant,
                    const char *form, o365_token_cb cb, void *arg,
                    wfc_http **out);

/* Builds the form of a token request: client_id, grant, scope and, for a
 * confidential app, client_secret, plus the given extra pairs
 * (name, value, ..., NULL). Transfer (free() after wiping: it holds
 * secrets; use o365_form_free). */
char *o365_token_form(const o365_config *cfg, const char *grant_type, ...)
    __attribute__((sentinel));
void o365_form_free(char *form);

/* Undoes one api->secret(value) of a one-off value that is gone (spent
 * code, state, verifier, id_token); NULL and hosts older than ABI 1.1:
 * nothing. */
void o365_secret_forget(const char *value);

/* Credentials object of a connection from a token response (borrowed).
 * old (borrowed, may be NULL) supplies what the response lacks (the refresh
 * token when it was not rotated, tenant and user ids). now_ms: host clock.
 * Transfer. */
struct json_object *o365_token_credentials(struct json_object *tok,
                                           struct json_object *old,
                                           int64_t now_ms);

/* Claims of an id_token's payload (no signature check: the token came
 * straight from the token endpoint over TLS). Transfer, or NULL. */
struct json_object *o365_id_token_claims(const char *id_token);

/* Tenant to use on /token for an existing connection: the configured one,
 * unless it is a multi-tenant alias and the credentials know the tenant id.
 * Borrowed from cfg or creds. */
const char *o365_token_tenant(const o365_config *cfg,
                              struct json_object *creds);

/* The connection type's refresh hook. */
int o365_conn_refresh(wfc_call *call);

#endif
