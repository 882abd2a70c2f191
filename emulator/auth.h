/* auth.h - access token validation for the emulated Microsoft Graph.
 * Graph handlers call
 * emu_auth_graph() first, then emu_scope_allows() per operation. */
#ifndef EMU_AUTH_H
#define EMU_AUTH_H

#include <stdint.h>

#include "emu.h"

/* Who is calling, from a verified access token. */
typedef struct emu_principal {
  char user_id[64]; /* oid: the signed-in user's object id */
  char upn[256];    /* upn claim */
  char app_id[64];  /* appid: the client's application id */
  char tid[64];     /* tenant id */
  char scp[1024];   /* space separated delegated permissions */
  /* An app-only token (client credentials, idtyp "app"): no user
   * (user_id ""), and roles, the application permissions an administrator
   * granted, space separated, instead of scp. */
  int app_only;
  char roles[1024];
  int64_t exp; /* expiry, Unix seconds (virtual time) */
} emu_principal;

/* Checks `Authorization: Bearer <jwt>`: RS256 signature with the
 * emulator's key, aud = Graph, tid = this tenant, nbf <= now < exp in
 * virtual time, the user still exists. Returns 0 and fills *p, or -1 after
 * setting a 401 InvalidAuthenticationToken response on r (Graph error JSON
 * plus Microsoft's WWW-Authenticate header); the handler then just returns. */
int emu_auth_graph(emu_req *r, emu_principal *p);

/* 1 if the token's scopes (an app-only token: its roles) satisfy `scope`,
 * with Graph's implications:
 * Mail.ReadWrite satisfies Mail.Read and Mail.ReadBasic; the .Shared
 * variants satisfy the plain ones (Mail.ReadWrite.Shared satisfies
 * Mail.Read.Shared, Mail.ReadWrite, Mail.Read); Mail.Send.Shared satisfies
 * Mail.Send; MailboxSettings.ReadWrite satisfies MailboxSettings.Read. */
int emu_scope_allows(const emu_principal *p, const char *scope);

#endif
