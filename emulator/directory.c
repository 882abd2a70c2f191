/* directory.c - the few Microsoft Graph directory resources the connector
 * touches, backed by the identity module's state (owner: emuid):
 *
 *   GET    /v1.0/me, /v1.0/users/{user}          user profile (User.Read;
 *          other users need User.ReadBasic.All, User.Read.All or
 *          Directory.Read.All)
 *   GET    /v1.0/servicePrincipals?$filter=appId eq '...'
 *          (Application.Read.All or Directory.Read.All)
 *   GET    /v1.0/oauth2PermissionGrants?$filter=clientId eq '..' [and
 *          principalId eq '..']  (Directory.Read.All or
 *          DelegatedPermissionGrant.ReadWrite.All)
 *   DELETE /v1.0/oauth2PermissionGrants/{id}
 *          (DelegatedPermissionGrant.ReadWrite.All)
 *
 * The connector's revoke walks these; with its mail scopes Graph refuses
 * with 403 Authorization_RequestDenied, as Microsoft does. */
#include "auth.h"
#include "emu.h"
#include "identity.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static void denied(emu_req *r) {
  emu_graph_error(r, 403, "Authorization_RequestDenied",
                  "Insufficient privileges to complete the operation.");
}

static int allows_any(const emu_principal *p, const char *a, const char *b) {
  return emu_scope_allows(p, a) || (b != NULL && emu_scope_allows(p, b));
}

static void add_str(json_object *o, const char *k, const char *v) {
  json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

/* Only the properties named in $select (and @odata.context): returns `o`
 * itself when there is no $select, else a new object (o is released). */
static json_object *select_props(emu_req *r, json_object *o) {
  const char *sel = emu_req_query(r, "$select");
  json_object *keep;
  if (sel == NULL || sel[0] == '\0')
    return o;
  keep = json_object_new_object();
  json_object_object_foreach(o, k, v) {
    const char *p = sel;
    size_t n = strlen(k);
    int wanted = strcmp(k, "@odata.context") == 0;
    while (!wanted && *p) {
      size_t len = strcspn(p, ",");
      if (len == n && strncasecmp(p, k, n) == 0)
        wanted = 1;
      p += len + (p[len] == ',');
    }
    if (wanted)
      json_object_object_add(keep, k, json_object_get(v));
  }
  json_object_put(o);
  return keep;
}

static void h_user(emu_req *r) {
  emu_principal p;
  const char *who = emu_req_param(r, "user");
  const emu_user *u;
  json_object *o;
  char ctx[256];
  if (emu_auth_graph(r, &p) != 0)
    return;
  if (who == NULL && p.app_only) {
    /* Graph's answer to /me with an app-only token: there is no "me". */
    emu_graph_error(r, 400, "BadRequest",
                    "/me request is only valid with delegated authentication "
                    "flow.");
    return;
  }
  u = who ? emu_user_find(who) : emu_user_find(p.user_id);
  if (u == NULL) {
    emu_graph_error(r, 404, "Request_ResourceNotFound",
                    "Resource '%s' does not exist or one of its queried "
                    "reference-property objects are not present.",
                    who ? who : p.user_id);
    return;
  }
  /* Reading anyone: User.ReadBasic.All, User.Read.All, Directory.Read.All;
   * oneself: also User.Read. */
  if (!allows_any(&p, "User.ReadBasic.All", "User.Read.All") &&
      !emu_scope_allows(&p, "Directory.Read.All") &&
      !(strcmp(u->id, p.user_id) == 0 && emu_scope_allows(&p, "User.Read"))) {
    denied(r);
    return;
  }
  o = json_object_new_object();
  snprintf(ctx, sizeof(ctx), "%s/v1.0/$metadata#users/$entity",
           emu_req_base_url(r));
  add_str(o, "@odata.context", ctx);
  add_str(o, "id", u->id);
  add_str(o, "displayName", u->display_name);
  add_str(o, "mail", u->mail);
  add_str(o, "userPrincipalName", u->upn);
  json_object_object_add(o, "businessPhones", json_object_new_array());
  add_str(o, "givenName", NULL);
  add_str(o, "surname", NULL);
  add_str(o, "jobTitle", NULL);
  add_str(o, "officeLocation", NULL);
  add_str(o, "preferredLanguage", NULL);
  add_str(o, "mobilePhone", NULL);
  emu_resp_json(r, 200, select_props(r, o));
}

/* Parses "a eq 'x' and b eq 'y'" into up to two (name, value) pairs.
 * Returns the number of clauses or -1 when unsupported. Values have their
 * doubled quotes undone. */
typedef struct clause {
  char name[32];
  char value[128];
} clause;

static int parse_filter(const char *f, clause out[2]) {
  int n = 0;
  const char *p = f;
  while (*p) {
    size_t len = 0;
    while (*p == ' ')
      p++;
    if (n == 2)
      return -1;
    while (p[len] && p[len] != ' ')
      len++;
    if (len == 0 || len >= sizeof(out[n].name))
      return -1;
    memcpy(out[n].name, p, len);
    out[n].name[len] = '\0';
    p += len;
    if (strncmp(p, " eq '", 5) != 0)
      return -1;
    p += 5;
    len = 0;
    for (;;) {
      if (*p == '\0' || len + 1 >= sizeof(out[n].value))
        return -1;
      if (*p == '\'') {
        if (p[1] != '\'')
          break;
        p++;
      }
      out[n].value[len++] = *p++;
    }
    out[n].value[len] = '\0';
    p++; /* closing quote */
    n++;
    while (*p == ' ')
      p++;
    if (*p == '\0')
      break;
    if (strncasecmp(p, "and ", 4) != 0)
      return -1;
    p += 4;
  }
  return n;
}

static const char *clause_get(const clause *c, int n, const char *name) {
  int i;
  for (i = 0; i < n; i++)
    if (strcasecmp(c[i].name, name) == 0)
      return c[i].value;
  return NULL;
}

static void collection(emu_req *r, const char *entity, json_object *value) {
  json_object *o = json_object_new_object();
  char ctx[256];
  snprintf(ctx, sizeof(ctx), "%s/v1.0/$metadata#%s", emu_req_base_url(r),
           entity);
  add_str(o, "@odata.context", ctx);
  json_object_object_add(o, "value", value);
  emu_resp_json(r, 200, o);
}

static int filter_or_400(emu_req *r, clause c[2], const char *allowed1,
                         const char *allowed2) {
  const char *f = emu_req_query(r, "$filter");
  int n, i;
  if (f == NULL)
    return 0;
  n = parse_filter(f, c);
  for (i = 0; n > 0 && i < n; i++)
    if (strcasecmp(c[i].name, allowed1) != 0 &&
        (allowed2 == NULL || strcasecmp(c[i].name, allowed2) != 0))
      n = -1;
  if (n < 0)
    emu_graph_error(r, 400, "Request_UnsupportedQuery",
                    "Unsupported or invalid query filter clause specified "
                    "for property of resource.");
  return n;
}

static void h_service_principals(emu_req *r) {
  emu_principal p;
  clause c[2];
  const char *app_id;
  json_object *value;
  const emu_tenant *t = emu_tenant_get();
  size_t i;
  int n;
  if (emu_auth_graph(r, &p) != 0)
    return;
  if (!allows_any(&p, "Application.Read.All", "Directory.Read.All")) {
    denied(r);
    return;
  }
  n = filter_or_400(r, c, "appId", NULL);
  if (n < 0)
    return;
  app_id = clause_get(c, n, "appId");
  value = json_object_new_array();
  for (i = 0; i < t->napps; i++) {
    const emu_app *a = &t->apps[i];
    const char *sp = emu_consent_app_sp_id(emu_id_consent(), a->client_id);
    json_object *o;
    if (sp == NULL || (app_id && strcasecmp(app_id, a->client_id) != 0))
      continue;
    o = json_object_new_object();
    add_str(o, "id", sp);
    add_str(o, "appId", a->client_id);
    add_str(o, "displayName", a->display_name);
    add_str(o, "servicePrincipalType", "Application");
    json_object_array_add(value, o);
  }
  collection(r, "servicePrincipals", value);
}

static void h_grants_list(emu_req *r) {
  emu_principal p;
  clause c[2];
  int n;
  if (emu_auth_graph(r, &p) != 0)
    return;
  if (!allows_any(&p, "Directory.Read.All",
                  "DelegatedPermissionGrant.ReadWrite.All")) {
    denied(r);
    return;
  }
  n = filter_or_400(r, c, "clientId", "principalId");
  if (n < 0)
    return;
  collection(r, "oauth2PermissionGrants",
             emu_consent_graph_grants(emu_id_consent(),
                                      clause_get(c, n, "clientId"),
                                      clause_get(c, n, "principalId")));
}

static void h_grant_delete(emu_req *r) {
  emu_principal p;
  const char *id = emu_req_param(r, "id");
  if (emu_auth_graph(r, &p) != 0)
    return;
  if (!emu_scope_allows(&p, "DelegatedPermissionGrant.ReadWrite.All")) {
    denied(r);
    return;
  }
  if (!emu_consent_graph_grant_delete(emu_id_consent(), id)) {
    emu_graph_error(r, 404, "Request_ResourceNotFound",
                    "Resource '%s' does not exist or one of its queried "
                    "reference-property objects are not present.",
                    id);
    return;
  }
  emu_resp_empty(r, 204);
}

static int directory_init(void) {
  if (emu_route_add("GET", "/v1.0/me", h_user, 0) != 0 ||
      emu_route_add("GET", "/v1.0/users/{user}", h_user, 0) != 0 ||
      emu_route_add("GET", "/v1.0/servicePrincipals", h_service_principals,
                    0) != 0 ||
      emu_route_add("GET", "/v1.0/oauth2PermissionGrants", h_grants_list, 0) !=
          0 ||
      emu_route_add("DELETE", "/v1.0/oauth2PermissionGrants/{id}",
                    h_grant_delete, 0) != 0) {
    fprintf(stderr, "m365-emulator: directory: cannot add routes\n");
    return -1;
  }
  return 0;
}

EMU_MODULE(directory, directory_init)
