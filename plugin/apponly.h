/* apponly.h - the "o365mail_app" connection type: app-only access to many
 * mailboxes for unattended flows (OAuth 2.0 client credentials grant, RFC
 * 6749 section 4.4, with a client secret or a certificate: an RS256 client
 * assertion, RFC 7523, signed with the certificate's private key). No one
 * signs in: the app acts with the application permissions (app roles, the
 * token's "roles" claim) a tenant administrator consented to, on the
 * mailboxes Exchange's application access policies leave it. There is no
 * refresh token: a refresh fetches a new token with the same credentials.
 *
 * The type is connected from a form (the host collects the params, the
 * secret ones without echo): authorize_complete gets
 * {"params":{...},"secrets":{...}}, fetches a token to check them, and
 * answers "connected", or a state with the remedy (a wrong or expired
 * secret, a certificate the app does not know, no admin consent).
 *
 * Cards address mailboxes as users/{mailbox}: the card's "mailbox" input,
 * else the connection's "mailbox" parameter (o365_call_mailbox); a request
 * for "/me" on such a connection is refused before it is sent, naming the
 * "mailbox" input (graph.c). docs/connections.md "App-only connections". */
#ifndef O365_APPONLY_H
#define O365_APPONLY_H

#include <stddef.h>
#include <stdint.h>

#include <wfc/plugin.h>

#define O365_APP_CONN_TYPE "o365mail_app"

extern const wfc_field o365_app_conn_params[];
extern const wfc_conn_type_desc o365_app_conn_type;

/* Is conn (borrowed) an app-only connection (its type is
 * O365_APP_CONN_TYPE)? NULL: no. */
int o365_conn_is_app_only(wfc_conn *conn);

/* The client assertion: a compact RS256 JWS with header {alg, typ, x5t,
 * x5t#S256} (SHA-1 and SHA-256 thumbprints of the certificate's DER) and
 * claims {aud: token_url, iss = sub = client_id, jti: a fresh GUID, nbf =
 * iat = now_s, exp = now_s + 600}. key_pem: the RSA private key (PEM; may
 * also hold the certificate); cert_pem: the certificate (PEM), or NULL when
 * key_pem holds it. Transfer (free()), or NULL with why in err (the
 * parameter at fault named). */
char *o365_client_assertion(const char *key_pem, const char *cert_pem,
                            const char *client_id, const char *token_url,
                            int64_t now_s, char *err, size_t errsz);

#endif
