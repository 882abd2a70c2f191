/* apponly.h - app-only access (owner: emuid): the client credentials grant
 * of the token endpoint, the credentials registered on an app ("Certificates
 * & secrets": client secrets and certificates for client assertions), the
 * application permissions (app roles) an administrator consented to, and
 * Exchange Online's application access policies that restrict an app to
 * some mailboxes (New-ApplicationAccessPolicy).
 *
 * With --state-dir all of it outlives a restart (DIR/apponly.json, a
 * state hook: emu.h). Everything runs under the emulator lock, like every
 * handler. Sources:
 * research/graph-protocol.md A.4/A.7 and docs/emulator.md "App-only". */
#ifndef EMU_APPONLY_H
#define EMU_APPONLY_H

#include "emu.h"
#include "tenant.h"

/* POST /{tenant}/oauth2/v2.0/token with grant_type=client_credentials for
 * app (identity.c has checked the tenant, grant and client id). Sets the
 * response: an app-only access token, or the identity platform's error. */
void emu_apponly_token(emu_req *r, const emu_app *app);

/* Grants the app every application permission it asks for
 * (applicationPermissions): what an administrator's tenant-wide consent
 * (adminconsent endpoint, portal "Grant admin consent") adds for app-only
 * tokens. 0, or -1 out of memory. */
int emu_apponly_grant_roles(const emu_app *app);

/* May app (client id) reach mailbox under the tenant's application access
 * policies? 1 yes, 0 refused (Graph answers 403 ErrorAccessDenied "...
 * Blocked by tenant configured AppOnly AccessPolicy settings."). */
int emu_apponly_mailbox_allowed(const char *app_id, const emu_user *mailbox);

/* The Graph error of a mailbox refused by a policy. */
void emu_apponly_policy_denied(emu_req *r);

#endif
