/* consent.h - the tenant's consent state and the consent decision, as the
 * Microsoft identity platform applies it: delegated grants per user and
 * app, tenant-wide (admin) grants per app, the user consent settings with
 * the "low impact" permission classification, the admin consent workflow
 * (requests) and the enterprise app (service principal) lifecycle.
 *
 * The settings themselves (user consent mode, low-impact list, workflow
 * switch) live in the tenant (tenant.h, emu_consent_policy); this module
 * holds what consent created. Pure logic plus a store, no HTTP: identity.c
 * asks it what to show, portal.c changes it from the admin API. Not locked:
 * callers hold the emulator lock (every handler does). Strings passed in
 * are borrowed (copied when kept); strings returned are malloc'ed. */
#ifndef EMU_CONSENT_H
#define EMU_CONSENT_H

#include <stddef.h>
#include <stdint.h>
#include <json-c/json.h>

#include "tenant.h"

/* A set of delegated permissions (Microsoft Graph scopes), canonical case,
 * no duplicates, in insertion order. */
typedef struct emu_scopes {
  char **v;
  size_t n;
} emu_scopes;

/* Parses a space separated `scope` parameter into `out` (emptied first):
 * "https://graph.microsoft.com/" prefixes are dropped, names matched
 * case-insensitively against the catalogue and given its casing. Returns 0,
 * or -1 and a malloc'ed copy of the first unknown scope in `*bad` (when
 * `bad` is not NULL). ".default" is kept as is. */
int emu_scopes_parse(emu_scopes *out, const char *text, char **bad);
int emu_scopes_add(emu_scopes *s, const char *scope);
int emu_scopes_has(const emu_scopes *s, const char *scope);
/* 1 if every scope of `need` is in `have`. */
int emu_scopes_covers(const emu_scopes *have, const emu_scopes *need);
/* Space separated, malloc'ed ("" for an empty set). */
char *emu_scopes_join(const emu_scopes *s);
void emu_scopes_clear(emu_scopes *s);

/* The permission catalogue: description shown on the consent page and
 * whether Microsoft requires admin consent for the delegated permission.
 * NULL when unknown. Borrowed, static. */
const char *emu_scope_description(const char *scope);
int emu_scope_admin_only(const char *scope);
/* Scopes that are OpenID Connect, not Graph permissions (not in `scp`). */
int emu_scope_is_oidc(const char *scope);

typedef enum {
  EMU_REQUEST_PENDING = 0,
  EMU_REQUEST_APPROVED,
  EMU_REQUEST_DENIED
} emu_request_status;

/* What the authorize flow must do for a signed-in user. */
typedef enum {
  EMU_CONSENT_GRANTED = 0,    /* covered: issue a code without a page */
  EMU_CONSENT_PROMPT_USER,    /* consent page, the user accepts for self */
  EMU_CONSENT_PROMPT_ADMIN,   /* consent page with "on behalf of org" */
  EMU_CONSENT_NEED_ADMIN,     /* "Need admin approval" (AADSTS90094) */
  EMU_CONSENT_REQUEST,        /* workflow on: request page (AADSTS90095) */
  EMU_CONSENT_REQUEST_PENDING /* workflow on, a request is pending */
} emu_consent_outcome;

typedef struct emu_consent_query {
  const char *user_id;         /* the signed-in user's object id */
  int is_admin;                /* may grant tenant-wide consent */
  const char *client_id;       /* the app */
  int publisher_verified;      /* the app's publisher is verified */
  const emu_scopes *requested; /* after .default expansion */
  int force_prompt;            /* prompt=consent */
} emu_consent_query;

typedef struct emu_consent emu_consent;

emu_consent *emu_consent_new(void);
void emu_consent_free(emu_consent *c);

/* The decision (see emu_consent_outcome) under the tenant's user consent
 * settings `policy` (tenant.h; borrowed). */
emu_consent_outcome emu_consent_decide(emu_consent *c,
                                       const emu_consent_policy *policy,
                                       const emu_consent_query *q);

/* Records consent given on the consent page / adminconsent / portal. Both
 * create the enterprise app if it was absent. 0 or -1 (out of memory). */
int emu_consent_grant_user(emu_consent *c, const char *user_id,
                           const char *client_id, const emu_scopes *s);
int emu_consent_grant_tenant(emu_consent *c, const char *client_id,
                             const emu_scopes *s);
/* Removes one user's delegated grant (oauth2PermissionGrant delete). 1 if
 * a grant existed. */
int emu_consent_revoke_user(emu_consent *c, const char *user_id,
                            const char *client_id);
/* 1 if the user's grant or the tenant-wide grant covers `s`. */
int emu_consent_covers(emu_consent *c, const char *user_id,
                       const char *client_id, const emu_scopes *s);

/* Enterprise app (service principal) of `client_id` in the tenant. It
 * exists once consent was given or the portal added it. Deleting it drops
 * every grant of the app and bumps its generation: refresh tokens carry
 * the generation they were issued under and die with it. */
int emu_consent_app_exists(emu_consent *c, const char *client_id);
uint64_t emu_consent_app_generation(emu_consent *c, const char *client_id);
/* 1 if it existed. */
int emu_consent_app_delete(emu_consent *c, const char *client_id);
void emu_consent_app_add(emu_consent *c, const char *client_id);
/* The enterprise app's "Enabled for users to sign-in" (Graph's
 * servicePrincipal accountEnabled). A disabled app gets no token, for any
 * grant (AADSTS7000112); its grants and refresh tokens stay, and work
 * again once it is enabled. Setting it adds the enterprise app if absent
 * (0, or -1 out of memory); a re-added one starts enabled. enabled: 1 when
 * the app is absent or enabled. */
int emu_consent_app_set_enabled(emu_consent *c, const char *client_id,
                                int enabled);
int emu_consent_app_enabled(emu_consent *c, const char *client_id);

/* Graph's view (directory.c): the service principal's object id (NULL
 * when the app is absent; borrowed until the next change), the grants as
 * oauth2PermissionGrant objects filtered by client service principal id and
 * principal id (NULL: any; a principal filter leaves out the tenant-wide
 * grant), and deleting one by id (1 if it existed). */
#define EMU_GRAPH_SP_ID "c1a0b2d3-0000-4000-8000-00000003c000"
const char *emu_consent_app_sp_id(emu_consent *c, const char *client_id);
json_object *emu_consent_graph_grants(emu_consent *c, const char *sp_id,
                                      const char *principal_id);
int emu_consent_graph_grant_delete(emu_consent *c, const char *grant_id);

/* Admin consent workflow. Submitting writes a pending request (or returns
 * the existing pending one) and its id into `id_out` (37 bytes). */
int emu_consent_request_submit(emu_consent *c, const char *user_id,
                               const char *client_id, const emu_scopes *s,
                               const char *justification, int64_t now,
                               char id_out[37]);
/* Approve (grants tenant-wide consent for the requested scopes) or deny a
 * pending request. 0, -1 unknown id, -2 not pending. */
int emu_consent_request_review(emu_consent *c, const char *id, int approve,
                               const char *reviewer, int64_t now);

/* Snapshots for the admin API (caller owns the JSON). */
json_object *emu_consent_grants_json(emu_consent *c, const char *client_id);
json_object *emu_consent_requests_json(emu_consent *c, const char *status);

#endif
