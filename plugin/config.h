/* config.h - where a connection talks to and as which app.
 *
 * A connection's parameters (see o365_conn_params in conn.c) pick a national
 * cloud, a tenant and one of the two OAuth apps of manifest.json. Endpoints
 * may be overridden (tests, sandboxes) by the connection parameters
 * authority_url / graph_url / portal_url, or else by the plugin settings
 * authority_url / graph_url / portal_url (setting.h: the host's, else the
 * environment variables O365MAIL_AUTHORITY_URL / ...; portal_url is the
 * admin portal's app page, "{client_id}" in it standing for the app's
 * client id). Client ids and secrets are
 * configuration: parameters client_id / client_secret, or else the
 * settings {preview,production}_client_id / _client_secret
 * (O365MAIL_PREVIEW_CLIENT_ID, ...). Nothing secret is compiled in. The
 * setting extra_scopes (O365MAIL_EXTRA_SCOPES) adds delegated permissions
 * to the ones asked for (e.g. MailboxSettings.ReadWrite, which Set
 * Automatic Replies needs and the default scopes leave out);
 * send_confirm_ms (O365MAIL_SEND_CONFIRM_MS) is how long a keyed send whose
 * answer was lost looks for its copy (plugin/sent.h). */
#ifndef O365_CONFIG_H
#define O365_CONFIG_H

#include <stddef.h>

struct json_object;

/* Delegated scopes asked for on /authorize and /token (DESIGN.md 3). */
#define O365_SCOPES                                                            \
  "offline_access Mail.ReadWrite Mail.ReadWrite.Shared Mail.Send "             \
  "Mail.Send.Shared openid profile User.Read"

typedef struct o365_cloud {
  const char *id;        /* "global", "usgov", "china" */
  const char *authority; /* no trailing slash */
  const char *graph;     /* base incl. /v1.0 */
  const char *resource;  /* Graph's resource id, for scopes and .default */
  /* The admin center's Permissions page of an enterprise app, "{client_id}"
   * standing for its client id: where an administrator grants admin
   * consent (Enterprise applications > the app > Permissions). */
  const char *portal;
} o365_cloud;

typedef struct o365_app {
  const char *environment;   /* "preview" | "production" */
  const char *name;          /* "Office 365 Mail (Preview)" */
  const char *client_id_key; /* its settings (setting.h) */
  const char *client_secret_key;
} o365_app;

typedef struct o365_config {
  const o365_cloud *cloud; /* static */
  const o365_app *app;     /* static */
  char authority[512];     /* effective, no trailing slash */
  char graph[512];         /* effective, no trailing slash */
  /* The admin portal's Permissions page of this app (o365_cloud.portal
   * with the client id), or "" when not known: an overridden authority
   * without portal_url / O365MAIL_PORTAL_URL. Set with the client id. */
  char portal[1024];
  char tenant[256];
  char client_id[256];
  char *client_secret; /* malloc'ed, wiped on clear; NULL: public client */
  char login_hint[320];
  /* After a failed load: the parameter that must be given (static
   * string, e.g. "client_id"), or NULL. */
  const char *missing;
} o365_config;

extern const o365_cloud o365_clouds[3];
extern const o365_app o365_apps[2];
/* The ids of o365_clouds, NULL-terminated: the enum of the parameter. */
extern const char *const o365_cloud_ids[4];

/* The parameters every connection type (and the admin_consent_url card)
 * shares for where it talks to: entries of a wfc_field table. */
#define O365_PARAM_CLOUD                                                       \
  {                                                                            \
    .name = "cloud", .type = WFC_TYPE_STRING,                                  \
    .description = "Microsoft cloud: global, usgov (GCC High) or china.",      \
    .default_json = "\"global\"", .enum_values = o365_cloud_ids                \
  }
#define O365_PARAMS_ENDPOINTS                                                  \
  O365_PARAM_CLOUD,                                                            \
      {.name = "authority_url",                                                \
       .type = WFC_TYPE_STRING,                                                \
       .description = "Identity platform base URL overriding the cloud's "     \
                      "(tests, sandboxes); else the setting authority_url "    \
                      "(O365MAIL_AUTHORITY_URL)."},                            \
  {                                                                            \
    .name = "graph_url", .type = WFC_TYPE_STRING,                              \
    .description = "Microsoft Graph base URL with version overriding the "     \
                   "cloud's; else the setting graph_url "                      \
                   "(O365MAIL_GRAPH_URL)."                                     \
  }

const o365_cloud *o365_cloud_find(const char *id);
const o365_app *o365_app_find(const char *environment);

/* Fills cfg from a connection's parameters (borrowed; NULL = all defaults)
 * and the plugin's settings (setting.h). 0, or WFC_EINVAL with a message in err
 * naming the parameter or variable at fault. cfg must be cleared with
 * o365_config_clear() in both cases. */
int o365_config_load(struct json_object *params, o365_config *cfg, char *err,
                     size_t errsz);
/* Like o365_config_load, but only the cloud, tenant and endpoints (what
 * Graph calls need): no client id is required. */
int o365_config_endpoints(struct json_object *params, o365_config *cfg,
                          char *err, size_t errsz);
/* Only the effective Graph base URL (no trailing slash) into out: what
 * every Graph request needs, without the rest of o365_config_endpoints
 * (the authority, tenant and app are the sign-in's and refresh's, checked
 * where they are used). The parameter cloud and graph_url, else the setting
 * graph_url (read at each call: a host may change it), else the cloud's.
 * 0, or WFC_EINVAL with err naming the parameter or setting at fault, as
 * o365_config_endpoints says it. */
int o365_config_graph(struct json_object *params, char *out, size_t outsz,
                      char *err, size_t errsz);
void o365_config_clear(o365_config *cfg);
/* The base URL of another Graph version ("beta") on cfg's endpoint: its
 * Graph URL with the trailing "/v1.0" replaced (every cloud serves both
 * under one host). 0, or WFC_EINVAL with err saying why (a Graph URL that
 * does not end in /v1.0). */
int o365_config_graph_version(const o365_config *cfg, const char *version,
                              char *out, size_t outsz, char *err, size_t errsz);
/* The detail of a failed load for call_fail: {"field": NAME} when a
 * parameter is missing (the host says how to give it on its interface:
 * docs/abi.md "Error details"), else NULL. Transfer. */
struct json_object *o365_config_detail(const o365_config *cfg);

/* Who issues the tokens, in a sentence's first words: "Microsoft" when
 * authority (a URL; NULL counts as Microsoft's) is the login host of one of
 * the national clouds, else "The identity provider at HOST[:PORT]" written
 * into buf. Borrowed from static storage or buf. */
const char *o365_authority_name(const char *authority, char *buf, size_t len);

/* The scope string for this cloud: bare Graph scopes in the global cloud,
 * resource-qualified ones in national clouds. Transfer (free()). */
char *o365_config_scopes(const o365_config *cfg);

/* A tenant path segment is a GUID, a domain or an alias: [A-Za-z0-9.-]. */
int o365_tenant_valid(const char *tenant);

#endif
