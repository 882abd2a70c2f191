/* consent.h - what the identity platform's errors mean for a connection.
 *
 * Parses the error of an /authorize redirect or of a /token response
 * (error, error_description with its AADSTS code, trace and correlation
 * ids), maps it to a connection state with a one-line remedy taken from the
 * seed page, and builds / parses the tenant-wide admin consent request
 * (/{tenant}/v2.0/adminconsent). Keys behaviour on `error` and the AADSTS
 * number, never on the free text. */
#ifndef O365_CONSENT_H
#define O365_CONSENT_H

#include <stddef.h>

#include <wfc/plugin.h>

#include "config.h"

struct json_object;

typedef struct o365_aad_err {
  char error[64];    /* "invalid_grant", "access_denied", ... or "" */
  char suberror[64]; /* "consent_required", "bad_token", ... or "" */
  long aadsts;       /* 65001, ... or 0 when none was given */
  char summary[512]; /* first line of error_description */
  char trace_id[80];
  char correlation_id[80];
} o365_aad_err;

/* From the query of an /authorize or /adminconsent redirect (object of
 * strings, borrowed). */
void o365_aad_err_from_query(struct json_object *query, o365_aad_err *e);
/* From a /token error body (borrowed; may be NULL, e.g. a non-JSON body). */
void o365_aad_err_from_json(struct json_object *body, o365_aad_err *e);
/* Fills trace/correlation ids and the AADSTS code from an
 * error_description text ("AADSTS65004: ...\r\nTrace ID: ...\r\n..."). */
void o365_aad_err_parse_description(const char *desc, o365_aad_err *e);

/* Connection states a user sees (DESIGN.md 3). */
typedef enum o365_state {
  O365_CONNECTED = 0,
  O365_NEEDS_ADMIN_APPROVAL,
  O365_APPROVAL_PENDING,
  O365_DENIED,
  O365_REAUTHORIZATION_REQUIRED,
  O365_REVOKED,
  O365_ERROR
} o365_state;

const char *o365_state_name(o365_state s);

/* Outcome of an /authorize redirect that carries an error. */
o365_state o365_authorize_outcome(const o365_aad_err *e);

/* How a failed /token refresh is handled. */
typedef enum o365_refresh_class {
  O365_REFRESH_REAUTH = 1, /* the user must authorize again: WFC_EREAUTH */
  O365_REFRESH_RETRY,      /* transient: try again later */
  O365_REFRESH_FATAL,      /* configuration error (client id/secret) */
  /* The app itself is switched off in the tenant (AADSTS7000112): only an
   * administrator can fix it, and then the same credentials work again,
   * so the connection keeps its state (WFC_EAUTH, o365_admin_fix words). */
  O365_REFRESH_ADMIN
} o365_refresh_class;

/* status: HTTP status of the token response (0 if none). */
o365_refresh_class o365_refresh_classify(long status, const o365_aad_err *e);

/* Words for a refusal of the identity platform that an administrator
 * lifts in the tenant and that needs nobody to sign in again afterwards
 * (the app's enterprise application is disabled, AADSTS7000112: "Enabled
 * for users to sign-in" is off), naming Microsoft's answer, the remedy and
 * the trace ids; NULL when e (borrowed) is not one. Transfer (free()). */
char *o365_admin_fix(const o365_aad_err *e);

/* One-line remedy for a state (transfer, free()). admin_url (the admin
 * portal's page of the app, o365_config.portal; NULL: the steps alone) is
 * used for O365_NEEDS_ADMIN_APPROVAL; e (may be NULL) adds the AADSTS code and
 * ids where they help. authority: the connection's authority URL, so that the
 * words name who refused (Microsoft, or the identity provider at its host:
 * o365_authority_name); NULL: Microsoft's. */
char *o365_remedy(o365_state s, const o365_aad_err *e, const char *admin_url,
                  const char *authority);

/* The tenant-wide admin consent URL:
 * {authority}/{tenant}/v2.0/adminconsent?client_id=&redirect_uri=
 *   &scope={graph resource}/.default&state=
 * "common" (refused by the endpoint) becomes "organizations". state may be
 * NULL (a fresh one is made). Transfer (free()), NULL on OOM. */
char *o365_admin_consent_url(const o365_config *cfg, const char *redirect_uri,
                             const char *state);

/* Result of an /adminconsent redirect. */
typedef struct o365_admin_consent {
  int granted;      /* admin_consent=True and no error */
  char tenant[256]; /* tenant GUID on success ("" otherwise) */
  char scope[512];
  o365_aad_err err; /* set when not granted */
} o365_admin_consent;

/* Parses the redirect query (borrowed). Returns 0, or WFC_EINVAL when the
 * query is not an admin consent redirect at all (no admin_consent key and
 * no error). */
int o365_admin_consent_parse(struct json_object *query,
                             o365_admin_consent *out);

/* Action card "admin_consent_url": prints the URL an administrator opens
 * to grant tenant-wide consent (needs no connection). */
extern const wfc_card_desc o365_card_admin_consent_url;

#endif
