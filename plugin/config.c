/* config.c - see config.h. */
#define _POSIX_C_SOURCE 200809L /* strdup, strtok_r */
#include "config.h"

#include <ctype.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/crypto.h>

#include <wfc/plugin.h>

#include "graph.h"
#include "setting.h"
#include "util.h"

/* The portal pages: the Microsoft Entra admin center of each cloud, its
 * enterprise app blade opened on Permissions by app id. */
#define O365_ENTRA_APP_PAGE                                                    \
  "/#view/Microsoft_AAD_IAM/ManagedAppMenuBlade/~/Permissions/appId/"          \
  "{client_id}"

const o365_cloud o365_clouds[3] = {
    {"global", "https://login.microsoftonline.com",
     "https://graph.microsoft.com/v1.0", "https://graph.microsoft.com",
     "https://entra.microsoft.com" O365_ENTRA_APP_PAGE},
    {"usgov", "https://login.microsoftonline.us",
     "https://graph.microsoft.us/v1.0", "https://graph.microsoft.us",
     "https://entra.microsoft.us" O365_ENTRA_APP_PAGE},
    {"china", "https://login.chinacloudapi.cn",
     "https://microsoftgraph.chinacloudapi.cn/v1.0",
     "https://microsoftgraph.chinacloudapi.cn",
     "https://entra.microsoftonline.cn" O365_ENTRA_APP_PAGE},
};

/* cfg->portal from the template (borrowed) and cfg->client_id. */
static void set_portal(o365_config *cfg, const char *tpl) {
  o365_buf b;
  o365_buf_init(&b);
  const char *at;
  while (tpl != NULL && (at = strstr(tpl, "{client_id}")) != NULL) {
    o365_buf_printf(&b, "%.*s", (int)(at - tpl), tpl);
    o365_buf_put(&b, cfg->client_id);
    tpl = at + strlen("{client_id}");
  }
  if (tpl != NULL)
    o365_buf_put(&b, tpl);
  char *s = o365_buf_take(&b);
  if (s == NULL || o365_strlcpy(cfg->portal, s, sizeof cfg->portal) != 0)
    cfg->portal[0] = '\0';
  free(s);
}

const o365_app o365_apps[2] = {
    {"preview", "Office 365 Mail (Preview)", "preview_client_id",
     "preview_client_secret"},
    {"production", "Office 365 Mail (Production)", "production_client_id",
     "production_client_secret"},
};

const char *o365_authority_name(const char *authority, char *buf, size_t len) {
  if (authority == NULL)
    return "Microsoft";
  for (size_t i = 0; i < sizeof o365_clouds / sizeof *o365_clouds; i++)
    if (o365_url_same_origin(authority, o365_clouds[i].authority))
      return "Microsoft";
  const char *host = strstr(authority, "://");
  host = host != NULL ? host + 3 : authority;
  snprintf(buf, len, "The identity provider at %.*s", (int)strcspn(host, "/?#"),
           host);
  return buf;
}

const char *const o365_cloud_ids[4] = {"global", "usgov", "china", NULL};

const o365_cloud *o365_cloud_find(const char *id) {
  for (size_t i = 0; i < sizeof o365_clouds / sizeof o365_clouds[0]; i++)
    if (id != NULL && strcmp(o365_clouds[i].id, id) == 0)
      return &o365_clouds[i];
  return NULL;
}

const o365_app *o365_app_find(const char *environment) {
  for (size_t i = 0; i < sizeof o365_apps / sizeof o365_apps[0]; i++)
    if (environment != NULL &&
        strcmp(o365_apps[i].environment, environment) == 0)
      return &o365_apps[i];
  return NULL;
}

int o365_tenant_valid(const char *tenant) {
  if (tenant == NULL || *tenant == '\0' || strlen(tenant) > 253)
    return 0;
  for (const char *p = tenant; *p; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '.'))
      return 0;
  }
  return strcmp(tenant, ".") != 0 && strcmp(tenant, "..") != 0;
}

/* Parameter value (borrowed), or NULL when absent, null or "". */
static const char *param(struct json_object *params, const char *key) {
  const char *v = o365_json_str(params, key);
  return v != NULL && *v != '\0' ? v : NULL;
}

/* An http(s) base URL without whitespace or control characters; trailing
 * slashes are dropped so paths can be appended. */
static int set_base_url(char *out, size_t outsz, const char *url,
                        const char *what, char *err, size_t errsz) {
  if (strncmp(url, "https://", 8) != 0 && strncmp(url, "http://", 7) != 0) {
    snprintf(err, errsz, "%s must be an http:// or https:// URL", what);
    return WFC_EINVAL;
  }
  for (const unsigned char *p = (const unsigned char *)url; *p; p++) {
    if (*p <= ' ' || *p == 0x7f || *p == '?' || *p == '#') {
      snprintf(err, errsz,
               "%s must be a base URL without spaces, query or fragment", what);
      return WFC_EINVAL;
    }
  }
  if (o365_strlcpy(out, url, outsz) != 0) {
    snprintf(err, errsz, "%s is too long", what);
    return WFC_EINVAL;
  }
  size_t n = strlen(out);
  while (n > 0 && out[n - 1] == '/')
    out[--n] = '\0';
  return 0;
}

/* The Graph base of cloud into out; *setting (owned by the caller, freed
 * with o365_setting_free) is the setting read, if one was. */
static int graph_base(struct json_object *params, const o365_cloud *cloud,
                      char *out, size_t outsz, char *err, size_t errsz,
                      char **setting) {
  const char *graph = param(params, "graph_url");
  const char *what = "parameter graph_url";
  if (graph == NULL) {
    graph = *setting = o365_setting("graph_url");
    what = "setting graph_url (O365MAIL_GRAPH_URL)";
  }
  if (graph == NULL) {
    graph = cloud->graph;
    what = "graph";
  }
  return set_base_url(out, outsz, graph, what, err, errsz);
}

/* The cloud of params, or NULL with err said. */
static const o365_cloud *params_cloud(struct json_object *params, char *err,
                                      size_t errsz) {
  const char *cloud = param(params, "cloud");
  const o365_cloud *c = o365_cloud_find(cloud ? cloud : "global");
  if (c == NULL)
    snprintf(err, errsz,
             "parameter cloud: unknown cloud '%s' "
             "(global, usgov or china)",
             cloud);
  return c;
}

int o365_config_graph(struct json_object *params, char *out, size_t outsz,
                      char *err, size_t errsz) {
  if (errsz > 0)
    err[0] = '\0';
  const o365_cloud *cloud = params_cloud(params, err, errsz);
  if (cloud == NULL)
    return WFC_EINVAL;
  char *setting = NULL;
  int rc = graph_base(params, cloud, out, outsz, err, errsz, &setting);
  o365_setting_free(setting);
  return rc;
}

/* The settings load() reads (setting.h), owned, freed by load(). */
typedef struct settings {
  char *authority, *graph, *client_id, *client_secret, *portal;
} settings;

static int load_with(struct json_object *params, o365_config *cfg, char *err,
                     size_t errsz, int need_client, settings *set);

static int load(struct json_object *params, o365_config *cfg, char *err,
                size_t errsz, int need_client) {
  settings set = {0};
  int rc = load_with(params, cfg, err, errsz, need_client, &set);
  o365_setting_free(set.authority);
  o365_setting_free(set.graph);
  o365_setting_free(set.client_id);
  o365_setting_free(set.client_secret);
  o365_setting_free(set.portal);
  return rc;
}

static int load_with(struct json_object *params, o365_config *cfg, char *err,
                     size_t errsz, int need_client, settings *set) {
  char var[96];
  memset(cfg, 0, sizeof *cfg);
  if (errsz > 0)
    err[0] = '\0';

  cfg->cloud = params_cloud(params, err, errsz);
  if (cfg->cloud == NULL)
    return WFC_EINVAL;
  const char *environment = param(params, "environment");
  cfg->app = o365_app_find(environment ? environment : "production");
  if (cfg->app == NULL) {
    snprintf(err, errsz,
             "parameter environment: unknown environment '%s' "
             "(preview or production)",
             environment);
    return WFC_EINVAL;
  }

  const char *tenant = param(params, "tenant");
  if (tenant == NULL)
    tenant = "organizations";
  if (!o365_tenant_valid(tenant) ||
      o365_strlcpy(cfg->tenant, tenant, sizeof cfg->tenant) != 0) {
    snprintf(err, errsz,
             "parameter tenant: '%s' is not a tenant id, domain "
             "or alias",
             tenant);
    return WFC_EINVAL;
  }

  /* Connection parameters win over the plugin's settings (the host's,
   * else the environment), which win over the cloud's defaults. */
  const char *authority = param(params, "authority_url");
  const char *what = "parameter authority_url";
  if (authority == NULL) {
    authority = set->authority = o365_setting("authority_url");
    what = "setting authority_url (O365MAIL_AUTHORITY_URL)";
  }
  if (authority == NULL) {
    authority = cfg->cloud->authority;
    what = "authority";
  }
  int rc = set_base_url(cfg->authority, sizeof cfg->authority, authority, what,
                        err, errsz);
  if (rc != 0)
    return rc;

  rc = graph_base(params, cfg->cloud, cfg->graph, sizeof cfg->graph, err, errsz,
                  &set->graph);
  if (rc != 0)
    return rc;

  if (!need_client)
    return 0;

  const char *client_id = param(params, "client_id");
  if (client_id == NULL)
    client_id = set->client_id = o365_setting(cfg->app->client_id_key);
  if (client_id == NULL) {
    /* Where the value goes is the host's to say (a connection parameter,
     * a card input): the detail names the field. */
    snprintf(err, errsz,
             "no client id for the app \"%s\": give client_id, or the "
             "plugin setting %s (environment %s)",
             cfg->app->name, cfg->app->client_id_key,
             o365_setting_env(cfg->app->client_id_key, var, sizeof var));
    cfg->missing = "client_id";
    return WFC_EINVAL;
  }
  if (o365_strlcpy(cfg->client_id, client_id, sizeof cfg->client_id) != 0 ||
      strpbrk(client_id, "\r\n") != NULL) {
    snprintf(err, errsz, "client id of \"%s\" is malformed", cfg->app->name);
    return WFC_EINVAL;
  }

  /* The admin portal's page of the app: given, else the cloud's when the
   * identity platform is the cloud's own (another one's portal is not
   * known). */
  const char *portal = param(params, "portal_url");
  what = "parameter portal_url";
  if (portal == NULL) {
    portal = set->portal = o365_setting("portal_url");
    what = "setting portal_url (O365MAIL_PORTAL_URL)";
  }
  if (portal != NULL && strncmp(portal, "https://", 8) != 0 &&
      strncmp(portal, "http://", 7) != 0) {
    snprintf(err, errsz, "%s must be an http:// or https:// URL", what);
    return WFC_EINVAL;
  }
  if (portal == NULL && strcmp(cfg->authority, cfg->cloud->authority) == 0)
    portal = cfg->cloud->portal;
  set_portal(cfg, portal);

  const char *secret = param(params, "client_secret");
  if (secret == NULL)
    secret = set->client_secret = o365_setting(cfg->app->client_secret_key);
  if (secret != NULL) {
    cfg->client_secret = strdup(secret);
    if (cfg->client_secret == NULL) {
      snprintf(err, errsz, "out of memory");
      return WFC_ENOMEM;
    }
  }

  const char *hint = param(params, "login_hint");
  if (hint != NULL &&
      o365_strlcpy(cfg->login_hint, hint, sizeof cfg->login_hint) != 0) {
    snprintf(err, errsz, "parameter login_hint is too long");
    return WFC_EINVAL;
  }
  return 0;
}

int o365_config_load(struct json_object *params, o365_config *cfg, char *err,
                     size_t errsz) {
  return load(params, cfg, err, errsz, 1);
}

int o365_config_endpoints(struct json_object *params, o365_config *cfg,
                          char *err, size_t errsz) {
  return load(params, cfg, err, errsz, 0);
}

int o365_config_graph_version(const o365_config *cfg, const char *version,
                              char *out, size_t outsz, char *err,
                              size_t errsz) {
  size_t n = strlen(cfg->graph);
  if (n < 5 || strcmp(cfg->graph + n - 5, "/v1.0") != 0) {
    snprintf(err, errsz,
             "the Graph URL %s does not end in /v1.0, so its %s endpoint "
             "is not known",
             cfg->graph, version);
    return WFC_EINVAL;
  }
  if (snprintf(out, outsz, "%.*s/%s", (int)(n - 5), cfg->graph, version) >=
      (int)outsz) {
    snprintf(err, errsz, "the Graph URL %s is too long", cfg->graph);
    return WFC_EINVAL;
  }
  return 0;
}

struct json_object *o365_config_detail(const o365_config *cfg) {
  if (cfg->missing == NULL)
    return NULL;
  struct json_object *d = json_object_new_object();
  o365_json_add_str(d, "field", cfg->missing);
  return d;
}

void o365_config_clear(o365_config *cfg) {
  if (cfg->client_secret != NULL) {
    OPENSSL_cleanse(cfg->client_secret, strlen(cfg->client_secret));
    free(cfg->client_secret);
  }
  memset(cfg, 0, sizeof *cfg);
}

/* Delegated permissions a deployment opts into beyond O365_SCOPES (e.g.
 * MailboxSettings.ReadWrite for Set Automatic Replies), from the setting
 * extra_scopes (O365MAIL_EXTRA_SCOPES): space-separated permission names; a
 * name with other characters than [A-Za-z0-9._-] is skipped. Appended to b. */
static void put_extra_scopes(o365_buf *b) {
  char *copy = o365_setting("extra_scopes");
  char *save = NULL;
  for (char *s = copy ? strtok_r(copy, " ", &save) : NULL; s;
       s = strtok_r(NULL, " ", &save)) {
    int ok = 1;
    for (const char *p = s; *p; p++)
      ok &= isalnum((unsigned char)*p) || strchr("._-", *p) != NULL;
    if (ok) {
      o365_buf_put(b, " ");
      o365_buf_put(b, s);
    }
  }
  o365_setting_free(copy);
}

char *o365_config_scopes(const o365_config *cfg) {
  o365_buf list;
  o365_buf_init(&list);
  o365_buf_put(&list, O365_SCOPES);
  put_extra_scopes(&list);
  if (cfg->cloud == &o365_clouds[0] || list.oom)
    return o365_buf_take(&list);
  /* National clouds: a bare scope means graph.microsoft.com, so the Graph
   * permissions are qualified with the cloud's Graph resource; the OIDC
   * scopes stay bare. */
  static const char *const oidc[] = {"offline_access", "openid", "profile",
                                     NULL};
  o365_buf b;
  o365_buf_init(&b);
  char *save = NULL;
  for (char *s = strtok_r(list.data, " ", &save); s;
       s = strtok_r(NULL, " ", &save)) {
    int bare = 0;
    for (size_t i = 0; oidc[i]; i++)
      bare |= strcmp(s, oidc[i]) == 0;
    if (b.len > 0)
      o365_buf_put(&b, " ");
    if (!bare) {
      o365_buf_put(&b, cfg->cloud->resource);
      o365_buf_put(&b, "/");
    }
    o365_buf_put(&b, s);
  }
  o365_buf_free(&list);
  return o365_buf_take(&b);
}
