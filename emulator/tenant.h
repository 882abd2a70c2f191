/* tenant.h - the emulated tenant: users, shared mailboxes, the connector's app
 * registrations and the consent policy.
 *
 * Loaded from the --config document (examples/tenant.json shows the shape;
 * docs/emulator.md documents it) or the built-in default, and rebuilt from it
 * on POST /__emulator/reset. All of it lives under the global emulator lock:
 * handlers may read and change it (the portal actions change the policy);
 * pointers stay valid until the next reset.
 */
#ifndef EMU_TENANT_H
#define EMU_TENANT_H

#include <stddef.h>

#include <json-c/json.h>

typedef enum emu_user_consent {
  EMU_CONSENT_ALLOWED = 0,             /* "allowed": users consent to any app */
  EMU_CONSENT_VERIFIED_PUBLISHERS = 1, /* "verified_publishers" + low impact */
  EMU_CONSENT_NOT_ALLOWED = 2,         /* "not_allowed" */
} emu_user_consent;

/* A right a user holds on another mailbox (Exchange mailbox permissions). */
typedef struct emu_mailbox_perm {
  char *user_id; /* the delegate (resolved to the user's id) */
  int full_access;
  int send_as;
  int send_on_behalf;
} emu_mailbox_perm;

typedef struct emu_user {
  char *id;   /* GUID */
  char *upn;  /* userPrincipalName */
  char *mail; /* primary SMTP address (defaults to the UPN) */
  char *display_name;
  char *password;   /* NULL for shared mailboxes: they cannot sign in */
  int global_admin; /* "roles" contains "Global Administrator" */
  int shared;       /* "mailboxType": "shared" */
  int account_enabled;
  emu_mailbox_perm *perms; /* rights others hold on this mailbox */
  size_t nperms;
} emu_user;

typedef struct emu_app {
  char *client_id;
  char *display_name;
  char *publisher_name;
  char *client_secret; /* NULL: public client (no secret allowed) */
  int public_client;
  int verified_publisher;
  char **redirect_uris;
  size_t nredirect_uris;
  char **permissions; /* statically configured delegated scopes (.default) */
  size_t npermissions;
  /* Application permissions (app roles of Microsoft Graph, e.g. Mail.Send)
   * the app asks for: what an administrator's consent grants it for
   * app-only tokens (client credentials grant, apponly.c). */
  char **app_roles;
  size_t napp_roles;
} emu_app;

typedef struct emu_consent_policy {
  emu_user_consent user_consent;
  char **low_impact; /* permissions classified low impact */
  size_t nlow_impact;
  int admin_consent_workflow; /* users may request admin consent */
  char **reviewers;           /* user ids of the workflow's reviewers */
  size_t nreviewers;
} emu_consent_policy;

typedef struct emu_throttle_cfg {
  int concurrency;     /* concurrent requests per app+mailbox (4) */
  int window_requests; /* requests per window per app+mailbox (10000) */
  int window_seconds;  /* window length, virtual seconds (600) */
} emu_throttle_cfg;

typedef struct emu_tenant {
  char *id; /* GUID */
  char *domain;
  char *display_name;
  emu_user *users;
  size_t nusers;
  emu_app *apps;
  size_t napps;
  emu_consent_policy policy;
  emu_throttle_cfg throttle;
} emu_tenant;

/* The current tenant (lock held). Never NULL once the emulator runs. */
emu_tenant *emu_tenant_get(void);
/* The document it was built from (borrowed; other modules read their own
 * sections, e.g. "mailboxes"). */
json_object *emu_tenant_config(void);

/* User or shared mailbox by id or UPN/mail (case-insensitive); NULL if none. */
emu_user *emu_user_find(const char *id_or_upn);
/* App registration by client id (case-insensitive GUID); NULL if none. */
emu_app *emu_app_find(const char *client_id);
/* 1 if uri is a registered redirect URI of app: exact match, or, for a
 * registered http://127.0.0.1 or http://localhost URI, the same host and path
 * on any port (loopback rule for native apps). */
int emu_app_redirect_ok(const emu_app *app, const char *uri);
/* 1 if the {tenant} path segment names this tenant: its id, its domain, or
 * "common" / "organizations". */
int emu_tenant_matches(const char *segment);
/* Rights user_id holds on mailbox; NULL when none. */
const emu_mailbox_perm *emu_mailbox_perm_find(const emu_user *mailbox,
                                              const char *user_id);
/* The application permission (app role) of Microsoft Graph that role names
 * (case-insensitive), in its canonical case (static), or NULL when the
 * emulator does not know it. */
const char *emu_app_role_name(const char *role);
/* 1 if the scope is in the low-impact list (case-insensitive). */
int emu_policy_is_low_impact(const char *scope);
/* "allowed" | "verified_publishers" | "not_allowed" <-> enum; -1 if unknown */
const char *emu_user_consent_name(emu_user_consent c);
int emu_user_consent_parse(const char *s);
/* Replaces a string vector (e.g. policy.low_impact) with a copy of v. */
int emu_strv_replace(char ***dst, size_t *ndst, const char *const *v, size_t n);

/* ---- Core only (main.c, admin.c) ---- */

/* Parses and validates a tenant document; takes ownership of doc. Returns 0,
 * or -1 with a message naming the field in err. */
int emu_tenant_load(json_object *doc, char *err, size_t errlen);
/* Rebuilds the tenant from its document (reset). */
int emu_tenant_reload(void);
/* The built-in default document (new reference). */
json_object *emu_tenant_default_doc(void);
void emu_tenant_shutdown(void);

#endif /* EMU_TENANT_H */
