/* foreign_idp.h - an identity provider for the tests that drive the
 * plugin's OAuth through servers other than login.microsoftonline.com.
 *
 * Which one, from the environment:
 *   FOREIGN_IDP=emulator     our m365-emulator, built-in tenant (it rotates
 *                            refresh tokens and keeps the spent one valid,
 *                            as Microsoft does);
 *   FOREIGN_AUTHORITY_URL    any server on Microsoft's paths (see
 *                            tests/foreign/test_foreign_idp.c);
 *   neither                  panva's oidc-provider (tests/foreign-idp/
 *                            idp.mjs), which rotates refresh tokens and
 *                            revokes the grant when a spent one is reused.
 * fidp_start() points the plugin at it (O365MAIL_AUTHORITY_URL,
 * O365MAIL_GRAPH_URL, O365MAIL_PREVIEW_CLIENT_ID), so `wfc` children and an
 * in-process runtime both use it. */
#ifndef FOREIGN_IDP_H
#define FOREIGN_IDP_H

#include <json-c/json.h>

#include "emu_proc.h"
#include "wfc_user.h"

typedef enum fidp_kind {
  FIDP_OIDC_PROVIDER, /* idp.mjs, started here: /__idp/ admin API */
  FIDP_EMULATOR,      /* m365-emulator, started here: /__emulator/ */
  FIDP_EXTERNAL       /* FOREIGN_AUTHORITY_URL: no admin API */
} fidp_kind;

typedef struct fidp {
  fidp_kind kind;
  const char *name; /* "oidc-provider", "emulator", "external" */
  const char *authority, *graph, *tenant, *client_id, *user, *password;
  emu_proc *proc; /* the server started, or NULL */
  char graph_buf[512];
} fidp;

/* Starts (or names) the provider the environment selects. 0, or -1 after
 * printing why (e.g. oidc-provider not installed: scripts/install-deps). */
int fidp_start(fidp *p);
/* Stops what fidp_start started. 0 when it exited cleanly. */
int fidp_stop(fidp *p);

/* Token requests (every grant) the provider answered, -1 when it cannot
 * tell (the emulator counts issued tokens, not requests; external). */
long fidp_token_requests(const fidp *p);
/* Refreshes the provider decided (refresh_token grants it answered with
 * tokens or refused as invalid_grant; oidc-provider's refusal of a scope
 * list, which the plugin repeats without it, is not one); -1 for an
 * external server. */
long fidp_refreshes(const fidp *p);

/* `wfc connection new` (reauth NULL) or `wfc connection reauthorize
 * REAUTH`, --print-url, for u's store, the browser (browser.h) signing in
 * as the provider's user: asserts the command ends connected as that user
 * and the CLI's page after the redirect answers 200. */
void fidp_wfc_connect(const fidp *p, const wuser *u, const char *nickname,
                      const char *reauth);

#endif
