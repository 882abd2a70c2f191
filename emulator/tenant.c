/* tenant.c - the tenant model: parse and validate the --config document,
 * lookups, the loopback redirect URI rule.
 *
 * The document is kept (config) so that reset can rebuild everything, and so
 * that other modules can read their own sections ("mailboxes"...). */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "core.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "default_tenant.h" /* generated from examples/tenant.json */

static emu_tenant *cur;
static json_object *cur_doc;

emu_tenant *emu_tenant_get(void) {
  return cur;
}

json_object *emu_tenant_config(void) {
  return cur_doc;
}

json_object *emu_tenant_default_doc(void) {
  return json_tokener_parse((const char *)emu_default_tenant_json);
}

static void strv_free(char **v, size_t n) {
  for (size_t i = 0; i < n; i++)
    free(v[i]);
  free(v);
}

int emu_strv_replace(char ***dst, size_t *ndst, const char *const *v,
                     size_t n) {
  char **copy = calloc(n ? n : 1, sizeof *copy);
  if (copy == NULL)
    return -1;
  for (size_t i = 0; i < n; i++) {
    copy[i] = strdup(v[i]);
    if (copy[i] == NULL) {
      strv_free(copy, i);
      return -1;
    }
  }
  strv_free(*dst, *ndst);
  *dst = copy;
  *ndst = n;
  return 0;
}

static void tenant_free(emu_tenant *t) {
  if (t == NULL)
    return;
  for (size_t i = 0; i < t->nusers; i++) {
    emu_user *u = &t->users[i];
    free(u->id);
    free(u->upn);
    free(u->mail);
    free(u->display_name);
    free(u->password);
    for (size_t j = 0; j < u->nperms; j++)
      free(u->perms[j].user_id);
    free(u->perms);
  }
  free(t->users);
  for (size_t i = 0; i < t->napps; i++) {
    emu_app *a = &t->apps[i];
    free(a->client_id);
    free(a->display_name);
    free(a->publisher_name);
    free(a->client_secret);
    strv_free(a->redirect_uris, a->nredirect_uris);
    strv_free(a->permissions, a->npermissions);
    strv_free(a->app_roles, a->napp_roles);
  }
  free(t->apps);
  strv_free(t->policy.low_impact, t->policy.nlow_impact);
  strv_free(t->policy.reviewers, t->policy.nreviewers);
  free(t->id);
  free(t->domain);
  free(t->display_name);
  free(t);
}

/* ---- parsing helpers: each failure names the field ---- */

typedef struct pctx {
  char *err;
  size_t errlen;
} pctx;

__attribute__((format(printf, 2, 3))) static int fail(pctx *p, const char *fmt,
                                                      ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->err, p->errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* Optional string field; *out NULL when absent. */
static int get_str(pctx *p, json_object *o, const char *key, const char *path,
                   int required, char **out) {
  json_object *v;
  *out = NULL;
  if (!json_object_object_get_ex(o, key, &v) ||
      json_object_is_type(v, json_type_null)) {
    if (required)
      return fail(p, "%s.%s is required", path, key);
    return 0;
  }
  if (!json_object_is_type(v, json_type_string))
    return fail(p, "%s.%s must be a string", path, key);
  *out = strdup(json_object_get_string(v));
  return *out ? 0 : fail(p, "out of memory");
}

static int get_bool(pctx *p, json_object *o, const char *key, const char *path,
                    int dflt, int *out) {
  json_object *v;
  *out = dflt;
  if (!json_object_object_get_ex(o, key, &v))
    return 0;
  if (!json_object_is_type(v, json_type_boolean))
    return fail(p, "%s.%s must be true or false", path, key);
  *out = json_object_get_boolean(v);
  return 0;
}

static int get_int(pctx *p, json_object *o, const char *key, const char *path,
                   int dflt, int min, int *out) {
  json_object *v;
  *out = dflt;
  if (!json_object_object_get_ex(o, key, &v))
    return 0;
  if (!json_object_is_type(v, json_type_int))
    return fail(p, "%s.%s must be an integer", path, key);
  int64_t x = json_object_get_int64(v);
  if (x < min || x > 1000000000)
    return fail(p, "%s.%s out of range", path, key);
  *out = (int)x;
  return 0;
}

static int get_strv(pctx *p, json_object *o, const char *key, const char *path,
                    char ***out, size_t *n) {
  json_object *v;
  *out = NULL;
  *n = 0;
  if (!json_object_object_get_ex(o, key, &v))
    return 0;
  if (!json_object_is_type(v, json_type_array))
    return fail(p, "%s.%s must be an array of strings", path, key);
  size_t len = json_object_array_length(v);
  *out = calloc(len ? len : 1, sizeof **out);
  if (*out == NULL)
    return fail(p, "out of memory");
  for (size_t i = 0; i < len; i++) {
    json_object *e = json_object_array_get_idx(v, i);
    if (!json_object_is_type(e, json_type_string))
      return fail(p, "%s.%s[%zu] must be a string", path, key, i);
    (*out)[i] = strdup(json_object_get_string(e));
    (*n)++;
  }
  return 0;
}

static int is_guid(const char *s) {
  if (strlen(s) != 36)
    return 0;
  for (int i = 0; i < 36; i++) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-')
        return 0;
    } else if (!isxdigit((unsigned char)s[i])) {
      return 0;
    }
  }
  return 1;
}

/* Ids missing from the document are generated once and written back into
 * it, so that a reset rebuilds the same ids. */
static int ensure_id(pctx *p, json_object *o, const char *key, const char *path,
                     char **out) {
  if (get_str(p, o, key, path, 0, out) != 0)
    return -1;
  if (*out == NULL) {
    char id[37];
    emu_uuid(id);
    json_object_object_add(o, key, json_object_new_string(id));
    *out = strdup(id);
    return *out ? 0 : fail(p, "out of memory");
  }
  if (!is_guid(*out))
    return fail(p, "%s.%s must be a GUID", path, key);
  return 0;
}

static emu_user *find_user_in(emu_tenant *t, const char *s) {
  if (s == NULL)
    return NULL;
  for (size_t i = 0; i < t->nusers; i++) {
    emu_user *u = &t->users[i];
    if (emu_streq_ci(u->id, s) || emu_streq_ci(u->upn, s) ||
        emu_streq_ci(u->mail, s))
      return u;
  }
  return NULL;
}

static int parse_users(pctx *p, json_object *doc, emu_tenant *t) {
  json_object *arr;
  if (!json_object_object_get_ex(doc, "users", &arr) ||
      !json_object_is_type(arr, json_type_array))
    return fail(p, "users must be an array");
  size_t n = json_object_array_length(arr);
  t->users = calloc(n ? n : 1, sizeof *t->users);
  if (t->users == NULL)
    return fail(p, "out of memory");
  for (size_t i = 0; i < n; i++) {
    json_object *o = json_object_array_get_idx(arr, i);
    char path[96];
    snprintf(path, sizeof path, "users[%zu]", i);
    if (!json_object_is_type(o, json_type_object))
      return fail(p, "%s must be an object", path);
    emu_user *u = &t->users[t->nusers++];
    char *type = NULL;
    if (ensure_id(p, o, "id", path, &u->id) ||
        get_str(p, o, "userPrincipalName", path, 1, &u->upn) ||
        get_str(p, o, "mail", path, 0, &u->mail) ||
        get_str(p, o, "displayName", path, 0, &u->display_name) ||
        get_str(p, o, "password", path, 0, &u->password) ||
        get_str(p, o, "mailboxType", path, 0, &type) ||
        get_bool(p, o, "accountEnabled", path, 1, &u->account_enabled)) {
      free(type);
      return -1;
    }
    if (strchr(u->upn, '@') == NULL) {
      free(type);
      return fail(p, "%s.userPrincipalName must be user@domain", path);
    }
    if (type == NULL || strcmp(type, "user") == 0) {
      u->shared = 0;
    } else if (strcmp(type, "shared") == 0) {
      u->shared = 1;
    } else {
      free(type);
      return fail(p, "%s.mailboxType must be \"user\" or \"shared\"", path);
    }
    free(type);
    if (!u->shared && u->password == NULL)
      return fail(p, "%s.password is required for a user", path);
    if (u->shared && u->password != NULL)
      return fail(p, "%s: a shared mailbox has no password", path);
    if (u->mail == NULL && (u->mail = strdup(u->upn)) == NULL)
      return fail(p, "out of memory");
    if (u->display_name == NULL && (u->display_name = strdup(u->upn)) == NULL)
      return fail(p, "out of memory");
    char **roles;
    size_t nroles;
    if (get_strv(p, o, "roles", path, &roles, &nroles) != 0) {
      strv_free(roles, nroles);
      return -1;
    }
    for (size_t j = 0; j < nroles; j++)
      if (strcasecmp(roles[j], "Global Administrator") == 0)
        u->global_admin = 1;
    strv_free(roles, nroles);
    for (size_t j = 0; j < i; j++)
      if (find_user_in(t, u->upn) != u || find_user_in(t, u->id) != u)
        return fail(p, "%s: duplicate id or userPrincipalName", path);
  }
  /* Mailbox permissions name other users: resolve after all are known. */
  for (size_t i = 0; i < n; i++) {
    json_object *o = json_object_array_get_idx(arr, i), *perms;
    emu_user *u = &t->users[i];
    if (!json_object_object_get_ex(o, "mailboxPermissions", &perms))
      continue;
    if (!json_object_is_type(perms, json_type_array))
      return fail(p, "users[%zu].mailboxPermissions must be an array", i);
    size_t np = json_object_array_length(perms);
    u->perms = calloc(np ? np : 1, sizeof *u->perms);
    if (u->perms == NULL)
      return fail(p, "out of memory");
    for (size_t j = 0; j < np; j++) {
      json_object *po = json_object_array_get_idx(perms, j);
      char path[96];
      snprintf(path, sizeof path, "users[%zu].mailboxPermissions[%zu]", i, j);
      char *who = NULL;
      emu_mailbox_perm *mp = &u->perms[u->nperms];
      if (!json_object_is_type(po, json_type_object))
        return fail(p, "%s must be an object", path);
      if (get_str(p, po, "user", path, 1, &who) ||
          get_bool(p, po, "fullAccess", path, 0, &mp->full_access) ||
          get_bool(p, po, "sendAs", path, 0, &mp->send_as) ||
          get_bool(p, po, "sendOnBehalf", path, 0, &mp->send_on_behalf)) {
        free(who);
        return -1;
      }
      emu_user *d = find_user_in(t, who);
      free(who);
      if (d == NULL)
        return fail(p, "%s.user names no user of the tenant", path);
      mp->user_id = strdup(d->id);
      u->nperms++;
    }
  }
  return 0;
}

/* Application permissions of Microsoft Graph the emulator knows: the ones
 * mail automation uses, and the directory ones. Canonical case. */
const char *emu_app_role_name(const char *role) {
  static const char *const roles[] = {"Mail.Read",
                                      "Mail.ReadBasic",
                                      "Mail.ReadBasic.All",
                                      "Mail.ReadWrite",
                                      "Mail.Send",
                                      "MailboxSettings.Read",
                                      "MailboxSettings.ReadWrite",
                                      "User.Read.All",
                                      "User.ReadBasic.All",
                                      "Directory.Read.All",
                                      "Application.Read.All",
                                      NULL};
  for (size_t i = 0; role != NULL && roles[i]; i++)
    if (strcasecmp(roles[i], role) == 0)
      return roles[i];
  return NULL;
}

static int parse_apps(pctx *p, json_object *doc, emu_tenant *t) {
  json_object *arr;
  if (!json_object_object_get_ex(doc, "applications", &arr))
    return 0;
  if (!json_object_is_type(arr, json_type_array))
    return fail(p, "applications must be an array");
  size_t n = json_object_array_length(arr);
  t->apps = calloc(n ? n : 1, sizeof *t->apps);
  if (t->apps == NULL)
    return fail(p, "out of memory");
  for (size_t i = 0; i < n; i++) {
    json_object *o = json_object_array_get_idx(arr, i);
    char path[96];
    snprintf(path, sizeof path, "applications[%zu]", i);
    if (!json_object_is_type(o, json_type_object))
      return fail(p, "%s must be an object", path);
    emu_app *a = &t->apps[t->napps++];
    if (get_str(p, o, "clientId", path, 1, &a->client_id) ||
        get_str(p, o, "displayName", path, 1, &a->display_name) ||
        get_str(p, o, "publisherName", path, 0, &a->publisher_name) ||
        get_str(p, o, "clientSecret", path, 0, &a->client_secret) ||
        get_bool(p, o, "publicClient", path, 1, &a->public_client) ||
        get_bool(p, o, "verifiedPublisher", path, 0, &a->verified_publisher) ||
        get_strv(p, o, "redirectUris", path, &a->redirect_uris,
                 &a->nredirect_uris) ||
        get_strv(p, o, "requiredPermissions", path, &a->permissions,
                 &a->npermissions) ||
        get_strv(p, o, "applicationPermissions", path, &a->app_roles,
                 &a->napp_roles))
      return -1;
    for (size_t j = 0; j < a->napp_roles; j++)
      if (emu_app_role_name(a->app_roles[j]) == NULL)
        return fail(p,
                    "%s.applicationPermissions[%zu]: '%s' is not an "
                    "application permission of Microsoft Graph the emulator "
                    "knows",
                    path, j, a->app_roles[j]);
    if (!is_guid(a->client_id))
      return fail(p, "%s.clientId must be a GUID", path);
    if (a->public_client && a->client_secret)
      return fail(p, "%s: a public client has no clientSecret", path);
    if (!a->public_client && !a->client_secret)
      return fail(p, "%s.clientSecret is required for a confidential client",
                  path);
    /* A daemon (application permissions only, no sign-in) needs none. */
    if (a->nredirect_uris == 0 && (a->public_client || a->napp_roles == 0))
      return fail(p, "%s.redirectUris must not be empty", path);
    if (a->public_client && a->napp_roles > 0)
      return fail(p,
                  "%s: a public client cannot have applicationPermissions "
                  "(they need a secret or a certificate)",
                  path);
    for (size_t j = 0; j < i; j++)
      if (emu_streq_ci(t->apps[j].client_id, a->client_id))
        return fail(p, "%s.clientId is a duplicate", path);
  }
  return 0;
}

static int parse_policy(pctx *p, json_object *doc, emu_tenant *t) {
  json_object *o, *wf;
  t->policy.user_consent = EMU_CONSENT_ALLOWED;
  if (!json_object_object_get_ex(doc, "consentPolicy", &o))
    return 0;
  if (!json_object_is_type(o, json_type_object))
    return fail(p, "consentPolicy must be an object");
  char *uc = NULL;
  if (get_str(p, o, "userConsent", "consentPolicy", 0, &uc) != 0)
    return -1;
  if (uc) {
    int v = emu_user_consent_parse(uc);
    free(uc);
    if (v < 0)
      return fail(p, "consentPolicy.userConsent must be \"allowed\", "
                     "\"verified_publishers\" or \"not_allowed\"");
    t->policy.user_consent = (emu_user_consent)v;
  }
  if (get_strv(p, o, "lowImpactPermissions", "consentPolicy",
               &t->policy.low_impact, &t->policy.nlow_impact) != 0)
    return -1;
  if (!json_object_object_get_ex(o, "adminConsentWorkflow", &wf))
    return 0;
  if (!json_object_is_type(wf, json_type_object))
    return fail(p, "consentPolicy.adminConsentWorkflow must be an object");
  char **rev;
  size_t nrev;
  if (get_bool(p, wf, "enabled", "consentPolicy.adminConsentWorkflow", 0,
               &t->policy.admin_consent_workflow) ||
      get_strv(p, wf, "reviewers", "consentPolicy.adminConsentWorkflow", &rev,
               &nrev))
    return -1;
  t->policy.reviewers = calloc(nrev ? nrev : 1, sizeof(char *));
  for (size_t i = 0; i < nrev && t->policy.reviewers; i++) {
    emu_user *u = find_user_in(t, rev[i]);
    if (u == NULL) {
      strv_free(rev, nrev);
      return fail(p,
                  "consentPolicy.adminConsentWorkflow.reviewers[%zu] "
                  "names no user of the tenant",
                  i);
    }
    t->policy.reviewers[t->policy.nreviewers++] = strdup(u->id);
  }
  strv_free(rev, nrev);
  return 0;
}

static int parse_throttle(pctx *p, json_object *doc, emu_tenant *t) {
  json_object *o;
  t->throttle.concurrency = 4;
  t->throttle.window_requests = 10000;
  t->throttle.window_seconds = 600;
  if (!json_object_object_get_ex(doc, "throttling", &o))
    return 0;
  if (!json_object_is_type(o, json_type_object))
    return fail(p, "throttling must be an object");
  if (get_int(p, o, "concurrency", "throttling", 4, 0,
              &t->throttle.concurrency) ||
      get_int(p, o, "requestsPerWindow", "throttling", 10000, 0,
              &t->throttle.window_requests) ||
      get_int(p, o, "windowSeconds", "throttling", 600, 1,
              &t->throttle.window_seconds))
    return -1;
  return 0;
}

static emu_tenant *build(json_object *doc, char *err, size_t errlen) {
  pctx p = {err, errlen};
  json_object *to;
  emu_tenant *t = calloc(1, sizeof *t);
  if (t == NULL) {
    fail(&p, "out of memory");
    return NULL;
  }
  if (!json_object_is_type(doc, json_type_object)) {
    fail(&p, "the document must be a JSON object");
    goto bad;
  }
  if (!json_object_object_get_ex(doc, "tenant", &to) ||
      !json_object_is_type(to, json_type_object)) {
    fail(&p, "tenant must be an object with id and domain");
    goto bad;
  }
  if (ensure_id(&p, to, "id", "tenant", &t->id) ||
      get_str(&p, to, "domain", "tenant", 1, &t->domain) ||
      get_str(&p, to, "displayName", "tenant", 0, &t->display_name))
    goto bad;
  if (t->display_name == NULL && (t->display_name = strdup(t->domain)) == NULL)
    goto bad;
  if (parse_users(&p, doc, t) || parse_apps(&p, doc, t) ||
      parse_policy(&p, doc, t) || parse_throttle(&p, doc, t))
    goto bad;
  return t;
bad:
  tenant_free(t);
  return NULL;
}

int emu_tenant_load(json_object *doc, char *err, size_t errlen) {
  if (doc == NULL) {
    snprintf(err, errlen, "no document");
    return -1;
  }
  emu_tenant *t = build(doc, err, errlen);
  if (t == NULL) {
    json_object_put(doc);
    return -1;
  }
  tenant_free(cur);
  if (cur_doc)
    json_object_put(cur_doc);
  cur = t;
  cur_doc = doc;
  return 0;
}

int emu_tenant_reload(void) {
  char err[256];
  emu_tenant *t = build(cur_doc, err, sizeof err);
  if (t == NULL)
    return -1; /* cannot happen: the document was valid at load */
  tenant_free(cur);
  cur = t;
  return 0;
}

void emu_tenant_shutdown(void) {
  tenant_free(cur);
  cur = NULL;
  if (cur_doc)
    json_object_put(cur_doc);
  cur_doc = NULL;
}

emu_user *emu_user_find(const char *id_or_upn) {
  return cur ? find_user_in(cur, id_or_upn) : NULL;
}

emu_app *emu_app_find(const char *client_id) {
  for (size_t i = 0; cur && client_id && i < cur->napps; i++)
    if (emu_streq_ci(cur->apps[i].client_id, client_id))
      return &cur->apps[i];
  return NULL;
}

/* Splits "http://host[:port][/path]" into host and path (path "" when
 * absent); port returned in *port (-1 when absent). 0 on success. */
static int split_http_uri(const char *uri, char *host, size_t hostlen,
                          long *port, const char **path) {
  if (strncasecmp(uri, "http://", 7) != 0)
    return -1;
  const char *h = uri + 7;
  size_t hl = strcspn(h, ":/?#");
  if (hl == 0 || hl >= hostlen)
    return -1;
  memcpy(host, h, hl);
  host[hl] = '\0';
  const char *rest = h + hl;
  *port = -1;
  if (*rest == ':') {
    char *end;
    *port = strtol(rest + 1, &end, 10);
    if (end == rest + 1 || *port < 0 || *port > 65535)
      return -1;
    rest = end;
  }
  *path = rest;
  return 0;
}

static int is_loopback_host(const char *h) {
  return strcasecmp(h, "localhost") == 0 || strcmp(h, "127.0.0.1") == 0;
}

int emu_app_redirect_ok(const emu_app *app, const char *uri) {
  if (app == NULL || uri == NULL)
    return 0;
  for (size_t i = 0; i < app->nredirect_uris; i++) {
    const char *reg = app->redirect_uris[i];
    if (strcmp(reg, uri) == 0)
      return 1;
    char rh[64], ch[64];
    long rp, cp;
    const char *rpath, *cpath;
    if (split_http_uri(reg, rh, sizeof rh, &rp, &rpath) != 0 ||
        split_http_uri(uri, ch, sizeof ch, &cp, &cpath) != 0)
      continue;
    /* Native-app loopback rule: the port is ignored; host and path must
     * match ("" and "/" are the same path). */
    if (!is_loopback_host(rh) || strcasecmp(rh, ch) != 0)
      continue;
    if (strcmp(rpath[0] ? rpath : "/", cpath[0] ? cpath : "/") == 0)
      return 1;
  }
  return 0;
}

int emu_tenant_matches(const char *segment) {
  if (segment == NULL || cur == NULL)
    return 0;
  return strcasecmp(segment, "common") == 0 ||
         strcasecmp(segment, "organizations") == 0 ||
         emu_streq_ci(segment, cur->id) || emu_streq_ci(segment, cur->domain);
}

const emu_mailbox_perm *emu_mailbox_perm_find(const emu_user *mailbox,
                                              const char *user_id) {
  for (size_t i = 0; mailbox && user_id && i < mailbox->nperms; i++)
    if (emu_streq_ci(mailbox->perms[i].user_id, user_id))
      return &mailbox->perms[i];
  return NULL;
}

int emu_policy_is_low_impact(const char *scope) {
  for (size_t i = 0; cur && scope && i < cur->policy.nlow_impact; i++)
    if (strcasecmp(cur->policy.low_impact[i], scope) == 0)
      return 1;
  return 0;
}

const char *emu_user_consent_name(emu_user_consent c) {
  switch (c) {
  case EMU_CONSENT_ALLOWED:
    return "allowed";
  case EMU_CONSENT_VERIFIED_PUBLISHERS:
    return "verified_publishers";
  case EMU_CONSENT_NOT_ALLOWED:
    return "not_allowed";
  }
  return "allowed";
}

int emu_user_consent_parse(const char *s) {
  if (s == NULL)
    return -1;
  if (strcmp(s, "allowed") == 0)
    return EMU_CONSENT_ALLOWED;
  if (strcmp(s, "verified_publishers") == 0)
    return EMU_CONSENT_VERIFIED_PUBLISHERS;
  if (strcmp(s, "not_allowed") == 0)
    return EMU_CONSENT_NOT_ALLOWED;
  return -1;
}
