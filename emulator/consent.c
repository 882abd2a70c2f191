/* consent.c - consent store and decision. See consent.h for the model; the
 * rules follow research/graph-protocol.md A.10/A.11 and the seed. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "consent.h"
#include "emu.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- permission catalogue ---------------------------------------------
 * Delegated permissions of Microsoft Graph the emulator knows, with the
 * text the consent page shows and Microsoft's "admin consent required"
 * default (permissions-reference). */
typedef struct {
  const char *name;
  const char *description;
  int admin_only;
  int oidc;
} scope_info;

static const scope_info catalogue[] = {
    {"openid", "Sign you in", 0, 1},
    {"profile", "View your basic profile", 0, 1},
    {"email", "View your email address", 0, 1},
    {"offline_access", "Maintain access to data you have given it access to", 0,
     1},
    {"User.Read", "Sign you in and read your profile", 0, 0},
    {"User.ReadBasic.All", "Read all users' basic profiles", 0, 0},
    {"User.Read.All", "Read all users' full profiles", 1, 0},
    {"Directory.Read.All", "Read directory data", 1, 0},
    {"Mail.Read", "Read your mail", 0, 0},
    {"Mail.ReadBasic", "Read user basic mail", 0, 0},
    {"Mail.ReadWrite", "Read and write access to your mail", 0, 0},
    {"Mail.Read.Shared", "Read mail you can access", 0, 0},
    {"Mail.ReadWrite.Shared", "Read and write mail you can access", 0, 0},
    {"Mail.Send", "Send mail as you", 0, 0},
    {"Mail.Send.Shared", "Send mail on behalf of others or yourself", 0, 0},
    {"MailboxSettings.Read", "Read your mailbox settings", 0, 0},
    {"MailboxSettings.ReadWrite", "Read and write to your mailbox settings", 0,
     0},
    {"Application.Read.All", "Read applications", 1, 0},
    {"DelegatedPermissionGrant.ReadWrite.All",
     "Manage all delegated permission grants", 1, 0},
};

static const scope_info *scope_lookup(const char *name) {
  size_t i;
  for (i = 0; i < sizeof(catalogue) / sizeof(catalogue[0]); i++)
    if (strcasecmp(catalogue[i].name, name) == 0)
      return &catalogue[i];
  return NULL;
}

const char *emu_scope_description(const char *scope) {
  const scope_info *s = scope_lookup(scope);
  return s ? s->description : NULL;
}

int emu_scope_admin_only(const char *scope) {
  const scope_info *s = scope_lookup(scope);
  return s ? s->admin_only : 0;
}

int emu_scope_is_oidc(const char *scope) {
  const scope_info *s = scope_lookup(scope);
  return s ? s->oidc : 0;
}

/* ---- scope sets ------------------------------------------------------- */

int emu_scopes_has(const emu_scopes *s, const char *scope) {
  size_t i;
  for (i = 0; i < s->n; i++)
    if (strcasecmp(s->v[i], scope) == 0)
      return 1;
  return 0;
}

int emu_scopes_add(emu_scopes *s, const char *scope) {
  char **v;
  if (emu_scopes_has(s, scope))
    return 0;
  v = realloc(s->v, (s->n + 1) * sizeof(*v));
  if (v == NULL)
    return -1;
  s->v = v;
  s->v[s->n] = strdup(scope);
  if (s->v[s->n] == NULL)
    return -1;
  s->n++;
  return 0;
}

void emu_scopes_clear(emu_scopes *s) {
  size_t i;
  for (i = 0; i < s->n; i++)
    free(s->v[i]);
  free(s->v);
  s->v = NULL;
  s->n = 0;
}

int emu_scopes_covers(const emu_scopes *have, const emu_scopes *need) {
  size_t i;
  for (i = 0; i < need->n; i++)
    if (!emu_scopes_has(have, need->v[i]))
      return 0;
  return 1;
}

char *emu_scopes_join(const emu_scopes *s) {
  size_t i, len = 1;
  char *out;
  for (i = 0; i < s->n; i++)
    len += strlen(s->v[i]) + 1;
  out = malloc(len);
  if (out == NULL)
    return NULL;
  out[0] = '\0';
  for (i = 0; i < s->n; i++) {
    if (i > 0)
      strcat(out, " ");
    strcat(out, s->v[i]);
  }
  return out;
}

int emu_scopes_parse(emu_scopes *out, const char *text, char **bad) {
  static const char graph_prefix[] = "https://graph.microsoft.com/";
  const char *p = text ? text : "";
  emu_scopes_clear(out);
  if (bad != NULL)
    *bad = NULL;
  while (*p) {
    size_t len;
    char name[256];
    const char *tok;
    const scope_info *info;
    while (*p == ' ' || *p == '+')
      p++;
    if (*p == '\0')
      break;
    len = strcspn(p, " +");
    tok = p;
    p += len;
    if (len >= sizeof(graph_prefix) - 1 &&
        strncasecmp(tok, graph_prefix, sizeof(graph_prefix) - 1) == 0) {
      tok += sizeof(graph_prefix) - 1;
      len -= sizeof(graph_prefix) - 1;
    }
    if (len == 0 || len >= sizeof(name))
      goto unknown;
    memcpy(name, tok, len);
    name[len] = '\0';
    if (strcmp(name, ".default") == 0) {
      if (emu_scopes_add(out, ".default") != 0)
        return -1;
      continue;
    }
    info = scope_lookup(name);
    if (info == NULL)
      goto unknown;
    if (emu_scopes_add(out, info->name) != 0)
      return -1;
    continue;
  unknown:
    if (bad != NULL) {
      *bad = malloc(len + 1);
      if (*bad != NULL) {
        memcpy(*bad, tok, len);
        (*bad)[len] = '\0';
      }
    }
    return -1;
  }
  return 0;
}

static int scopes_copy(emu_scopes *dst, const emu_scopes *src) {
  size_t i;
  for (i = 0; i < src->n; i++)
    if (emu_scopes_add(dst, src->v[i]) != 0)
      return -1;
  return 0;
}

/* ---- the store --------------------------------------------------------- */

typedef struct user_grant {
  char id[37]; /* oauth2PermissionGrant id */
  char *user_id;
  char *client_id;
  emu_scopes scopes;
  struct user_grant *next;
} user_grant;

typedef struct app_state {
  char *client_id;
  char sp_id[37];      /* object id of the service principal (new on re-add) */
  char grant_id[37];   /* id of the tenant-wide oauth2PermissionGrant */
  int exists;          /* the enterprise app is present in the tenant */
  int disabled;        /* "Enabled for users to sign-in" off (accountEnabled) */
  uint64_t generation; /* bumped on deletion */
  emu_scopes tenant;   /* tenant-wide (admin) grant, empty if none */
  struct app_state *next;
} app_state;

typedef struct request {
  char id[37];
  char *user_id;
  char *client_id;
  emu_scopes scopes;
  char *justification;
  emu_request_status status;
  char *reviewer;
  int64_t created, reviewed;
  struct request *next;
} request;

struct emu_consent {
  user_grant *grants;
  app_state *apps;
  request *requests; /* newest first */
};

emu_consent *emu_consent_new(void) {
  return calloc(1, sizeof(emu_consent));
}

void emu_consent_free(emu_consent *c) {
  if (c == NULL)
    return;
  while (c->grants) {
    user_grant *g = c->grants;
    c->grants = g->next;
    free(g->user_id);
    free(g->client_id);
    emu_scopes_clear(&g->scopes);
    free(g);
  }
  while (c->apps) {
    app_state *a = c->apps;
    c->apps = a->next;
    free(a->client_id);
    emu_scopes_clear(&a->tenant);
    free(a);
  }
  while (c->requests) {
    request *r = c->requests;
    c->requests = r->next;
    free(r->user_id);
    free(r->client_id);
    free(r->justification);
    free(r->reviewer);
    emu_scopes_clear(&r->scopes);
    free(r);
  }
  free(c);
}

/* Helpers. */

static app_state *app_find(emu_consent *c, const char *client_id, int create) {
  app_state *a;
  for (a = c->apps; a; a = a->next)
    if (strcmp(a->client_id, client_id) == 0)
      return a;
  if (!create)
    return NULL;
  a = calloc(1, sizeof(*a));
  if (a == NULL)
    return NULL;
  a->client_id = strdup(client_id);
  if (a->client_id == NULL) {
    free(a);
    return NULL;
  }
  a->next = c->apps;
  c->apps = a;
  return a;
}

static user_grant *grant_find(emu_consent *c, const char *user_id,
                              const char *client_id) {
  user_grant *g;
  for (g = c->grants; g; g = g->next)
    if (strcmp(g->user_id, user_id) == 0 &&
        strcmp(g->client_id, client_id) == 0)
      return g;
  return NULL;
}

static int covers_locked(emu_consent *c, const char *user_id,
                         const char *client_id, const emu_scopes *need) {
  app_state *a = app_find(c, client_id, 0);
  user_grant *g = grant_find(c, user_id, client_id);
  size_t i;
  if (a == NULL || !a->exists)
    return 0;
  for (i = 0; i < need->n; i++) {
    if (emu_scopes_has(&a->tenant, need->v[i]))
      continue;
    if (g != NULL && emu_scopes_has(&g->scopes, need->v[i]))
      continue;
    return 0;
  }
  return 1;
}

static int strv_has(char *const *v, size_t n, const char *s) {
  size_t i;
  for (i = 0; i < n; i++)
    if (strcasecmp(v[i], s) == 0)
      return 1;
  return 0;
}

/* Whether a regular user may consent to `scopes` for the app under the
 * tenant's policy. With the low-impact policy only verified publishers and
 * permissions classified low impact qualify (microsoft-user-default-low). */
static int user_may_consent(const emu_consent_policy *p,
                            const emu_consent_query *q,
                            const emu_scopes *scopes) {
  size_t i;
  for (i = 0; i < scopes->n; i++)
    if (emu_scope_admin_only(scopes->v[i]))
      return 0;
  switch (p->user_consent) {
  case EMU_CONSENT_ALLOWED:
    return 1;
  case EMU_CONSENT_VERIFIED_PUBLISHERS:
    if (!q->publisher_verified)
      return 0;
    for (i = 0; i < scopes->n; i++)
      if (!strv_has(p->low_impact, p->nlow_impact, scopes->v[i]))
        return 0;
    return 1;
  case EMU_CONSENT_NOT_ALLOWED:
    break;
  }
  return 0;
}

static request *pending_request(emu_consent *c, const char *user_id,
                                const char *client_id) {
  request *r;
  for (r = c->requests; r; r = r->next)
    if (r->status == EMU_REQUEST_PENDING && strcmp(r->user_id, user_id) == 0 &&
        strcmp(r->client_id, client_id) == 0)
      return r;
  return NULL;
}

emu_consent_outcome emu_consent_decide(emu_consent *c,
                                       const emu_consent_policy *policy,
                                       const emu_consent_query *q) {
  emu_consent_outcome out;
  emu_scopes missing = {0};
  const emu_scopes *judged;
  size_t i;
  app_state *a;
  user_grant *g;

  if (!q->force_prompt &&
      covers_locked(c, q->user_id, q->client_id, q->requested)) {
    out = EMU_CONSENT_GRANTED;
    goto done;
  }
  if (q->is_admin) {
    out = EMU_CONSENT_PROMPT_ADMIN;
    goto done;
  }
  /* A user only consents to what is not granted yet; prompt=consent asks
   * again for everything. */
  a = app_find(c, q->client_id, 0);
  g = grant_find(c, q->user_id, q->client_id);
  for (i = 0; i < q->requested->n; i++) {
    const char *s = q->requested->v[i];
    if (!q->force_prompt && a != NULL && a->exists &&
        (emu_scopes_has(&a->tenant, s) ||
         (g != NULL && emu_scopes_has(&g->scopes, s))))
      continue;
    if (emu_scopes_add(&missing, s) != 0)
      break;
  }
  judged = &missing;
  if (user_may_consent(policy, q, judged))
    out = EMU_CONSENT_PROMPT_USER;
  else if (!policy->admin_consent_workflow)
    out = EMU_CONSENT_NEED_ADMIN;
  else if (pending_request(c, q->user_id, q->client_id) != NULL)
    out = EMU_CONSENT_REQUEST_PENDING;
  else
    out = EMU_CONSENT_REQUEST;
done:
  emu_scopes_clear(&missing);
  return out;
}

static int app_ensure(emu_consent *c, const char *client_id, app_state **out) {
  app_state *a = app_find(c, client_id, 1);
  if (a == NULL)
    return -1;
  if (!a->exists) {
    /* A new service principal object, as after deletion + re-consent. */
    emu_uuid(a->sp_id);
    emu_uuid(a->grant_id);
    a->disabled = 0; /* a new service principal is enabled */
  }
  a->exists = 1;
  *out = a;
  return 0;
}

int emu_consent_grant_user(emu_consent *c, const char *user_id,
                           const char *client_id, const emu_scopes *s) {
  int rc = -1;
  app_state *a;
  user_grant *g;
  if (app_ensure(c, client_id, &a) != 0)
    goto done;
  g = grant_find(c, user_id, client_id);
  if (g == NULL) {
    g = calloc(1, sizeof(*g));
    if (g == NULL)
      goto done;
    g->user_id = strdup(user_id);
    g->client_id = strdup(client_id);
    if (g->user_id == NULL || g->client_id == NULL) {
      free(g->user_id);
      free(g->client_id);
      free(g);
      goto done;
    }
    emu_uuid(g->id);
    g->next = c->grants;
    c->grants = g;
  }
  rc = scopes_copy(&g->scopes, s);
done:
  return rc;
}

int emu_consent_grant_tenant(emu_consent *c, const char *client_id,
                             const emu_scopes *s) {
  int rc = -1;
  app_state *a;
  if (app_ensure(c, client_id, &a) == 0)
    rc = scopes_copy(&a->tenant, s);
  return rc;
}

static void drop_user_grants(emu_consent *c, const char *user_id,
                             const char *client_id) {
  user_grant **pp = &c->grants;
  while (*pp) {
    user_grant *g = *pp;
    if (strcmp(g->client_id, client_id) == 0 &&
        (user_id == NULL || strcmp(g->user_id, user_id) == 0)) {
      *pp = g->next;
      free(g->user_id);
      free(g->client_id);
      emu_scopes_clear(&g->scopes);
      free(g);
    } else {
      pp = &g->next;
    }
  }
}

int emu_consent_revoke_user(emu_consent *c, const char *user_id,
                            const char *client_id) {
  int had;
  had = grant_find(c, user_id, client_id) != NULL;
  drop_user_grants(c, user_id, client_id);
  return had;
}

int emu_consent_covers(emu_consent *c, const char *user_id,
                       const char *client_id, const emu_scopes *s) {
  int r;
  r = covers_locked(c, user_id, client_id, s);
  return r;
}

int emu_consent_app_exists(emu_consent *c, const char *client_id) {
  app_state *a;
  int r;
  a = app_find(c, client_id, 0);
  r = a != NULL && a->exists;
  return r;
}

uint64_t emu_consent_app_generation(emu_consent *c, const char *client_id) {
  app_state *a;
  uint64_t g;
  a = app_find(c, client_id, 0);
  g = a ? a->generation : 0;
  return g;
}

int emu_consent_app_delete(emu_consent *c, const char *client_id) {
  app_state *a;
  int existed;
  a = app_find(c, client_id, 0);
  existed = a != NULL && a->exists;
  if (existed) {
    a->exists = 0;
    a->generation++;
    emu_scopes_clear(&a->tenant);
  }
  drop_user_grants(c, NULL, client_id);
  return existed;
}

void emu_consent_app_add(emu_consent *c, const char *client_id) {
  app_state *a;
  (void)app_ensure(c, client_id, &a);
}

int emu_consent_app_set_enabled(emu_consent *c, const char *client_id,
                                int enabled) {
  app_state *a;
  if (app_ensure(c, client_id, &a) != 0)
    return -1;
  a->disabled = !enabled;
  return 0;
}

int emu_consent_app_enabled(emu_consent *c, const char *client_id) {
  app_state *a = app_find(c, client_id, 0);
  return a == NULL || !a->exists || !a->disabled;
}

int emu_consent_request_submit(emu_consent *c, const char *user_id,
                               const char *client_id, const emu_scopes *s,
                               const char *justification, int64_t now,
                               char id_out[37]) {
  request *r;
  int rc = -1;
  r = pending_request(c, user_id, client_id);
  if (r != NULL) {
    memcpy(id_out, r->id, 37);
    rc = 0;
    goto done;
  }
  r = calloc(1, sizeof(*r));
  if (r == NULL)
    goto done;
  emu_uuid(r->id);
  r->user_id = strdup(user_id);
  r->client_id = strdup(client_id);
  r->justification = strdup(justification ? justification : "");
  r->created = now;
  if (r->user_id == NULL || r->client_id == NULL || r->justification == NULL ||
      scopes_copy(&r->scopes, s) != 0) {
    free(r->user_id);
    free(r->client_id);
    free(r->justification);
    emu_scopes_clear(&r->scopes);
    free(r);
    goto done;
  }
  r->next = c->requests;
  c->requests = r;
  memcpy(id_out, r->id, 37);
  rc = 0;
done:
  return rc;
}

int emu_consent_request_review(emu_consent *c, const char *id, int approve,
                               const char *reviewer, int64_t now) {
  request *r;
  int rc = -1;
  for (r = c->requests; r; r = r->next)
    if (strcmp(r->id, id) == 0)
      break;
  if (r == NULL)
    goto done;
  rc = -2;
  if (r->status != EMU_REQUEST_PENDING)
    goto done;
  if (approve) {
    app_state *a;
    /* Approving in "Admin consent requests" is a tenant-wide grant of the
     * permissions the user asked for. */
    if (app_ensure(c, r->client_id, &a) != 0 ||
        scopes_copy(&a->tenant, &r->scopes) != 0) {
      rc = -1;
      goto done;
    }
  }
  r->status = approve ? EMU_REQUEST_APPROVED : EMU_REQUEST_DENIED;
  free(r->reviewer);
  r->reviewer = strdup(reviewer ? reviewer : "");
  r->reviewed = now;
  rc = 0;
done:
  return rc;
}

const char *emu_consent_app_sp_id(emu_consent *c, const char *client_id) {
  app_state *a = app_find(c, client_id, 0);
  return a != NULL && a->exists ? a->sp_id : NULL;
}

static void grant_json_add(json_object *arr, const char *id, const char *sp_id,
                           const char *principal, const emu_scopes *s) {
  json_object *j = json_object_new_object();
  char *scope = emu_scopes_join(s);
  json_object_object_add(j, "id", json_object_new_string(id));
  json_object_object_add(j, "clientId", json_object_new_string(sp_id));
  json_object_object_add(
      j, "consentType",
      json_object_new_string(principal ? "Principal" : "AllPrincipals"));
  json_object_object_add(j, "principalId",
                         principal ? json_object_new_string(principal) : NULL);
  json_object_object_add(j, "resourceId",
                         json_object_new_string(EMU_GRAPH_SP_ID));
  json_object_object_add(j, "scope",
                         json_object_new_string(scope ? scope : ""));
  free(scope);
  json_object_array_add(arr, j);
}

json_object *emu_consent_graph_grants(emu_consent *c, const char *sp_id,
                                      const char *principal_id) {
  json_object *arr = json_object_new_array();
  app_state *a;
  user_grant *g;
  for (a = c->apps; a; a = a->next) {
    if (!a->exists || (sp_id != NULL && strcasecmp(sp_id, a->sp_id) != 0))
      continue;
    if (a->tenant.n > 0 && principal_id == NULL)
      grant_json_add(arr, a->grant_id, a->sp_id, NULL, &a->tenant);
    for (g = c->grants; g; g = g->next)
      if (strcmp(g->client_id, a->client_id) == 0 &&
          (principal_id == NULL || strcasecmp(principal_id, g->user_id) == 0))
        grant_json_add(arr, g->id, a->sp_id, g->user_id, &g->scopes);
  }
  return arr;
}

int emu_consent_graph_grant_delete(emu_consent *c, const char *grant_id) {
  app_state *a;
  user_grant **pp;
  for (a = c->apps; a; a = a->next)
    if (a->exists && a->tenant.n > 0 && strcmp(a->grant_id, grant_id) == 0) {
      emu_scopes_clear(&a->tenant);
      emu_uuid(a->grant_id);
      return 1;
    }
  for (pp = &c->grants; *pp; pp = &(*pp)->next)
    if (strcmp((*pp)->id, grant_id) == 0) {
      user_grant *g = *pp;
      *pp = g->next;
      free(g->user_id);
      free(g->client_id);
      emu_scopes_clear(&g->scopes);
      free(g);
      return 1;
    }
  return 0;
}

/* ---- JSON snapshots ---------------------------------------------------- */

static json_object *scopes_json(const emu_scopes *s) {
  json_object *arr = json_object_new_array();
  size_t i;
  for (i = 0; i < s->n; i++)
    json_object_array_add(arr, json_object_new_string(s->v[i]));
  return arr;
}

json_object *emu_consent_grants_json(emu_consent *c, const char *client_id) {
  json_object *o = json_object_new_object();
  json_object *apps = json_object_new_array();
  json_object *users = json_object_new_array();
  app_state *a;
  user_grant *g;
  for (a = c->apps; a; a = a->next) {
    json_object *j;
    if (client_id != NULL && strcmp(client_id, a->client_id) != 0)
      continue;
    j = json_object_new_object();
    json_object_object_add(j, "clientId", json_object_new_string(a->client_id));
    json_object_object_add(j, "exists", json_object_new_boolean(a->exists));
    if (a->exists) {
      json_object_object_add(j, "servicePrincipalId",
                             json_object_new_string(a->sp_id));
      json_object_object_add(j, "accountEnabled",
                             json_object_new_boolean(!a->disabled));
    }
    json_object_object_add(j, "generation",
                           json_object_new_int64((int64_t)a->generation));
    json_object_object_add(j, "tenantWideScopes", scopes_json(&a->tenant));
    json_object_array_add(apps, j);
  }
  for (g = c->grants; g; g = g->next) {
    json_object *j;
    if (client_id != NULL && strcmp(client_id, g->client_id) != 0)
      continue;
    j = json_object_new_object();
    json_object_object_add(j, "clientId", json_object_new_string(g->client_id));
    json_object_object_add(j, "principalId",
                           json_object_new_string(g->user_id));
    json_object_object_add(j, "scopes", scopes_json(&g->scopes));
    json_object_array_add(users, j);
  }
  json_object_object_add(o, "apps", apps);
  json_object_object_add(o, "userGrants", users);
  return o;
}

static const char *status_name(emu_request_status s) {
  switch (s) {
  case EMU_REQUEST_PENDING:
    return "pending";
  case EMU_REQUEST_APPROVED:
    return "approved";
  case EMU_REQUEST_DENIED:
    return "denied";
  }
  return "unknown";
}

json_object *emu_consent_requests_json(emu_consent *c, const char *status) {
  json_object *arr = json_object_new_array();
  request *r;
  for (r = c->requests; r; r = r->next) {
    json_object *j;
    if (status != NULL && strcmp(status, status_name(r->status)) != 0)
      continue;
    j = json_object_new_object();
    json_object_object_add(j, "id", json_object_new_string(r->id));
    json_object_object_add(j, "requester", json_object_new_string(r->user_id));
    json_object_object_add(j, "clientId", json_object_new_string(r->client_id));
    json_object_object_add(j, "scopes", scopes_json(&r->scopes));
    json_object_object_add(j, "justification",
                           json_object_new_string(r->justification));
    json_object_object_add(j, "status",
                           json_object_new_string(status_name(r->status)));
    json_object_object_add(j, "createdAt", json_object_new_int64(r->created));
    if (r->reviewer != NULL) {
      json_object_object_add(j, "reviewer",
                             json_object_new_string(r->reviewer));
      json_object_object_add(j, "reviewedAt",
                             json_object_new_int64(r->reviewed));
    }
    json_object_array_add(arr, j);
  }
  return arr;
}
