/* identity.h - shared state of the identity module (identity.c owns it;
 * portal.c and auth.c use it). Private to the emulator's identity files;
 * Graph code uses auth.h only. Everything here runs under the emulator
 * lock (emu_lock), as every handler does. */
#ifndef EMU_IDENTITY_H
#define EMU_IDENTITY_H

#include <stdint.h>
#include <json-c/json.h>

#include "consent.h"
#include "jwt.h"

/* Microsoft Graph's application id: the `aud` of Graph access tokens. */
#define EMU_GRAPH_APP_ID "00000003-0000-0000-c000-000000000000"

/* The consent store and the signing key (borrowed; live until exit). */
emu_consent *emu_id_consent(void);
const emu_jwt_key *emu_id_key(void);

/* Identity settings (admin API and the tenant document's "identity"
 * object): declineError ("consent_required" | "access_denied"),
 * refreshTokenMaxInactiveSeconds, accessTokenLifetimeSeconds (0 = Microsoft's
 * random 60-90 minutes), authCodeLifetimeSeconds. Returns 0, or -1 with a
 * message naming the field in `err`. */
int emu_id_settings_apply(json_object *settings, char *err, size_t errlen);
json_object *emu_id_settings_json(void);
/* Lifetime of a new access token, seconds: accessTokenLifetimeSeconds, or
 * Microsoft's random 60-90 minutes. */
int64_t emu_id_access_token_lifetime(void);

/* Counters and live objects for inspection (caller owns the JSON). */
json_object *emu_id_stats_json(void);

/* Revokes every refresh token of a user (Microsoft's revokeSignInSessions):
 * later refreshes fail with AADSTS50173. Returns how many were revoked. */
int emu_id_revoke_user_tokens(const char *user_id);

/* What outlives a restart with --state-dir (main.c): the refresh tokens
 * and the consent they rest on (per-user and tenant-wide grants), as
 * {"version":1,"refreshTokens":[...],"consent":{...}}. Not kept: the
 * signing key (access tokens issued before a restart are refused, 401, and
 * the client refreshes, as after Microsoft's key rollover), sign-in
 * sessions, codes, consent requests, mailboxes. New reference. */
json_object *emu_id_state_json(void);
/* Restores emu_id_state_json's document (after the reset hooks ran, before
 * serving). 0, or -1 with what is wrong in err. */
int emu_id_state_load(json_object *state, char *err, size_t errlen);

#endif
