/* auth.c - validation of Graph access tokens (see auth.h). Stateless: an
 * access token is valid until it expires, even after its app was deleted
 * or consent revoked, as at Microsoft (research/graph-protocol.md A.6). */
#include "auth.h"
#include "identity.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static void deny(emu_req *r, const char *message) {
  emu_resp_header(r, "WWW-Authenticate",
                  "Bearer realm=\"\", authorization_uri=\"https://"
                  "login.microsoftonline.com/common/oauth2/authorize\", "
                  "client_id=\"" EMU_GRAPH_APP_ID "\"");
  emu_graph_error(r, 401, "InvalidAuthenticationToken", "%s", message);
}

static const char *claim(json_object *c, const char *name) {
  json_object *v;
  if (!json_object_object_get_ex(c, name, &v) ||
      !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

static int claim_int(json_object *c, const char *name, int64_t *out) {
  json_object *v;
  if (!json_object_object_get_ex(c, name, &v) ||
      !json_object_is_type(v, json_type_int))
    return -1;
  *out = json_object_get_int64(v);
  return 0;
}

static void copy(char *dst, size_t n, const char *src) {
  snprintf(dst, n, "%s", src ? src : "");
}

int emu_auth_graph(emu_req *r, emu_principal *p) {
  const char *h = emu_req_header(r, "Authorization");
  const char *tok, *aud, *tid, *oid;
  json_object *c = NULL;
  int64_t exp, nbf, now = emu_now();
  emu_user *u;
  int rc;

  memset(p, 0, sizeof(*p));
  if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
    deny(r, "Access token is empty.");
    return -1;
  }
  tok = h + 7;
  while (*tok == ' ')
    tok++;
  if (*tok == '\0') {
    deny(r, "Access token is empty.");
    return -1;
  }
  rc = emu_jwt_verify(emu_id_key(), tok, &c);
  if (rc == EMU_JWT_EMALFORMED) {
    /* What Graph says for a token that is not a JWT. */
    deny(r, "CompactToken parsing failed with error code: 80049217");
    return -1;
  }
  if (rc != 0) {
    deny(r, "Access token validation failure.");
    return -1;
  }
  aud = claim(c, "aud");
  tid = claim(c, "tid");
  oid = claim(c, "oid");
  if (aud == NULL || (strcmp(aud, EMU_GRAPH_APP_ID) != 0 &&
                      strcmp(aud, "https://graph.microsoft.com") != 0)) {
    deny(r, "Access token validation failure. Invalid audience.");
    goto fail;
  }
  if (tid == NULL || strcasecmp(tid, emu_tenant_get()->id) != 0) {
    deny(r, "Access token validation failure. Invalid issuer.");
    goto fail;
  }
  if (claim_int(c, "exp", &exp) != 0 || claim_int(c, "nbf", &nbf) != 0) {
    deny(r, "Access token validation failure.");
    goto fail;
  }
  if (now >= exp) {
    deny(r, "Lifetime validation failed, the token is expired.");
    goto fail;
  }
  if (now < nbf) {
    deny(r, "Access token has expired or is not yet valid.");
    goto fail;
  }
  {
    const char *idtyp = claim(c, "idtyp");
    if (idtyp != NULL && strcmp(idtyp, "app") == 0) {
      /* App-only: the app's service principal, no user behind it. */
      json_object *roles = NULL;
      p->app_only = 1;
      if (json_object_object_get_ex(c, "roles", &roles) &&
          json_object_is_type(roles, json_type_array)) {
        size_t used = 0;
        for (size_t i = 0; i < json_object_array_length(roles); i++) {
          const char *s =
              json_object_get_string(json_object_array_get_idx(roles, i));
          int n = snprintf(p->roles + used, sizeof(p->roles) - used, "%s%s",
                           used ? " " : "", s ? s : "");
          if (n < 0 || (size_t)n >= sizeof(p->roles) - used)
            break;
          used += (size_t)n;
        }
      }
      copy(p->app_id, sizeof(p->app_id), claim(c, "appid"));
      copy(p->tid, sizeof(p->tid), tid);
      p->exp = exp;
      json_object_put(c);
      return 0;
    }
  }
  u = oid ? emu_user_find(oid) : NULL;
  if (u == NULL || !u->account_enabled) {
    deny(r, "Access token validation failure. The user does not exist or "
            "is disabled.");
    goto fail;
  }
  copy(p->user_id, sizeof(p->user_id), oid);
  copy(p->upn, sizeof(p->upn), claim(c, "upn"));
  copy(p->app_id, sizeof(p->app_id), claim(c, "appid"));
  copy(p->tid, sizeof(p->tid), tid);
  copy(p->scp, sizeof(p->scp), claim(c, "scp"));
  p->exp = exp;
  json_object_put(c);
  return 0;
fail:
  json_object_put(c);
  return -1;
}

static int has_scope(const char *scp, const char *scope) {
  size_t n = strlen(scope);
  const char *p = scp;
  while (*p) {
    size_t len;
    while (*p == ' ')
      p++;
    len = strcspn(p, " ");
    if (len == n && strncasecmp(p, scope, n) == 0)
      return 1;
    p += len;
  }
  return 0;
}

int emu_scope_allows(const emu_principal *p, const char *scope) {
  /* Each permission followed by the ones that also satisfy it. */
  static const char *const implied[][5] = {
      {"Mail.ReadBasic", "Mail.Read", "Mail.ReadWrite", "Mail.Read.Shared",
       "Mail.ReadWrite.Shared"},
      {"Mail.Read", "Mail.ReadWrite", "Mail.Read.Shared",
       "Mail.ReadWrite.Shared", NULL},
      {"Mail.ReadWrite", "Mail.ReadWrite.Shared", NULL, NULL, NULL},
      {"Mail.Read.Shared", "Mail.ReadWrite.Shared", NULL, NULL, NULL},
      {"Mail.Send", "Mail.Send.Shared", NULL, NULL, NULL},
      {"MailboxSettings.Read", "MailboxSettings.ReadWrite", NULL, NULL, NULL},
      {"User.Read", "User.ReadWrite", "User.Read.All", NULL, NULL},
  };
  size_t i, j;
  if (p == NULL || scope == NULL)
    return 0;
  /* App-only tokens carry application permissions (roles), with the same
   * implications (there are no .Shared app roles). */
  const char *set = p->app_only ? p->roles : p->scp;
  if (has_scope(set, scope))
    return 1;
  for (i = 0; i < sizeof(implied) / sizeof(implied[0]); i++) {
    if (strcasecmp(implied[i][0], scope) != 0)
      continue;
    for (j = 1; j < 5 && implied[i][j] != NULL; j++)
      if (has_scope(set, implied[i][j]))
        return 1;
  }
  return 0;
}
