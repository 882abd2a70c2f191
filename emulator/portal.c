/* portal.c - the Azure portal actions of the seed, as admin API routes
 * under /__emulator/ (identity module; the core owns the rest of the admin
 * API). Errors use the Graph error shape like the core's admin routes.
 *
 *   GET    /__emulator/consent                      policy, grants, requests
 *   POST   /__emulator/consent/settings             {"userConsent",
 *          "lowImpactPermissions":[..], "adminConsentWorkflow":bool}
 *   GET    /__emulator/consent/requests[?status=pending|approved|denied]
 *   POST   /__emulator/consent/requests/{id}/approve   {"reviewer"?}
 *   POST   /__emulator/consent/requests/{id}/deny      {"reviewer"?}
 *   GET    /__emulator/consent/grants[?clientId=]
 *   DELETE /__emulator/consent/grants/{clientId}/{user}  one user's grant
 *   POST   /__emulator/apps/{clientId}/admin-consent   "Grant admin consent"
 *          (body optional: {"scopes":[..]}, default: required permissions
 *          and the application permissions, as app roles)
 *   DELETE /__emulator/apps/{clientId}                 delete enterprise app
 *   POST   /__emulator/apps/{clientId}/restore         re-add it
 *   POST   /__emulator/apps/{clientId}/disable         Properties > "Enabled
 *          for users to sign-in": No (every token request: AADSTS7000112)
 *   POST   /__emulator/apps/{clientId}/enable          ... Yes again
 *   GET    /__emulator/portal/apps/{clientId}       the app's Permissions page
 *   POST   /__emulator/portal/apps/{clientId}/grant "Grant admin consent for
 *          <organization>" (a page saying it was granted)
 *   GET    /__emulator/identity                     settings + token counts
 *   POST   /__emulator/identity/settings            see identity.h
 *   POST   /__emulator/users/{user}/revoke-sessions   revokeSignInSessions
 */
#include "emu.h"
#include "identity.h"
#include "pages.h"
#include "apponly.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_object *policy_json(void) {
  const emu_consent_policy *p = &emu_tenant_get()->policy;
  json_object *o = json_object_new_object(), *a = json_object_new_array();
  size_t i;
  json_object_object_add(
      o, "userConsent",
      json_object_new_string(emu_user_consent_name(p->user_consent)));
  for (i = 0; i < p->nlow_impact; i++)
    json_object_array_add(a, json_object_new_string(p->low_impact[i]));
  json_object_object_add(o, "lowImpactPermissions", a);
  json_object_object_add(o, "adminConsentWorkflow",
                         json_object_new_boolean(p->admin_consent_workflow));
  return o;
}

static void h_consent_get(emu_req *r) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "policy", policy_json());
  json_object_object_add(o, "grants",
                         emu_consent_grants_json(emu_id_consent(), NULL));
  json_object_object_add(o, "requests",
                         emu_consent_requests_json(emu_id_consent(), NULL));
  emu_resp_json(r, 200, o);
}

/* Reads a JSON array of known permission names into `out`. 0, or -1 with
 * a message in err. */
static int scope_array(json_object *a, emu_scopes *out, char *err,
                       size_t errlen, const char *field) {
  size_t i, n;
  if (!json_object_is_type(a, json_type_array)) {
    snprintf(err, errlen, "%s must be an array of permission names", field);
    return -1;
  }
  n = json_object_array_length(a);
  for (i = 0; i < n; i++) {
    json_object *v = json_object_array_get_idx(a, i);
    emu_scopes one = {0};
    char *bad = NULL;
    if (!json_object_is_type(v, json_type_string) ||
        emu_scopes_parse(&one, json_object_get_string(v), &bad) != 0 ||
        one.n != 1) {
      snprintf(err, errlen, "%s[%zu]: unknown permission '%s'", field, i,
               bad ? bad : json_object_get_string(v));
      free(bad);
      emu_scopes_clear(&one);
      return -1;
    }
    emu_scopes_add(out, one.v[0]);
    emu_scopes_clear(&one);
  }
  return 0;
}

static void h_consent_settings(emu_req *r) {
  json_object *b = emu_req_json(r), *v;
  emu_consent_policy *p = &emu_tenant_get()->policy;
  emu_scopes low = {0};
  int mode = -1, workflow = -1, have_low = 0;
  char err[256];
  if (b == NULL || !json_object_is_type(b, json_type_object)) {
    emu_graph_error(r, 400, "BadRequest",
                    "Body must be a JSON object with userConsent, "
                    "lowImpactPermissions and/or adminConsentWorkflow.");
    return;
  }
  if (json_object_object_get_ex(b, "userConsent", &v)) {
    mode = emu_user_consent_parse(json_object_get_string(v));
    if (mode < 0) {
      emu_graph_error(r, 400, "BadRequest",
                      "userConsent must be \"allowed\", "
                      "\"verified_publishers\" or \"not_allowed\".");
      return;
    }
  }
  if (json_object_object_get_ex(b, "lowImpactPermissions", &v)) {
    if (scope_array(v, &low, err, sizeof(err), "lowImpactPermissions") != 0) {
      emu_scopes_clear(&low);
      emu_graph_error(r, 400, "BadRequest", "%s", err);
      return;
    }
    have_low = 1;
  }
  if (json_object_object_get_ex(b, "adminConsentWorkflow", &v)) {
    if (!json_object_is_type(v, json_type_boolean)) {
      emu_scopes_clear(&low);
      emu_graph_error(r, 400, "BadRequest",
                      "adminConsentWorkflow must be a boolean.");
      return;
    }
    workflow = json_object_get_boolean(v);
  }
  /* Validated: apply. Existing grants stay (configure-user-consent.md). */
  if (mode >= 0)
    p->user_consent = (emu_user_consent)mode;
  if (have_low && emu_strv_replace(&p->low_impact, &p->nlow_impact,
                                   (const char *const *)low.v, low.n) != 0) {
    emu_scopes_clear(&low);
    emu_graph_error(r, 500, "InternalServerError", "Out of memory.");
    return;
  }
  emu_scopes_clear(&low);
  if (workflow >= 0)
    p->admin_consent_workflow = workflow;
  emu_resp_json(r, 200, policy_json());
}

static void h_requests(emu_req *r) {
  const char *status = emu_req_query(r, "status");
  json_object *o = json_object_new_object();
  json_object_object_add(o, "value",
                         emu_consent_requests_json(emu_id_consent(), status));
  emu_resp_json(r, 200, o);
}

static void review(emu_req *r, int approve) {
  json_object *b = emu_req_json(r), *v;
  const char *reviewer = NULL;
  int rc;
  if (b != NULL && json_object_object_get_ex(b, "reviewer", &v))
    reviewer = json_object_get_string(v);
  rc = emu_consent_request_review(emu_id_consent(), emu_req_param(r, "id"),
                                  approve, reviewer, emu_now());
  if (rc == -1) {
    emu_graph_error(r, 404, "Request_ResourceNotFound",
                    "Admin consent request '%s' does not exist.",
                    emu_req_param(r, "id"));
    return;
  }
  if (rc == -2) {
    emu_graph_error(r, 409, "Conflict",
                    "Admin consent request '%s' was already reviewed.",
                    emu_req_param(r, "id"));
    return;
  }
  emu_resp_empty(r, 204);
}

static void h_approve(emu_req *r) {
  review(r, 1);
}

static void h_deny(emu_req *r) {
  review(r, 0);
}

/* ---- the portal for people: "/" and /__emulator/portal ------------------
 * What an administrator does in the Azure portal's "Admin consent
 * requests", as a page with buttons (the JSON routes above do the same for
 * scripts). */

static void h_front(emu_req *r) {
  emu_resp_html(
      r, 200,
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>m365-emulator</title></head>\n<body>\n"
      "<h1>m365-emulator</h1>\n"
      "<p>A local stand-in for Microsoft's identity platform and Graph "
      "mail, for trying and testing connectors.</p>\n"
      "<p><a id=\"portal\" href=\"/__emulator/portal\">Admin portal: admin "
      "consent requests</a></p>\n"
      "<p><a id=\"docs\" href=\"/__emulator/docs\">Documentation: "
      "endpoints, pages and the admin API</a></p>\n"
      "</body></html>\n");
}

static void h_docs(emu_req *r) {
  emu_resp_html(
      r, 200,
      "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
      "<title>m365-emulator documentation</title></head>\n<body>\n"
      "<h1>m365-emulator documentation</h1>\n"
      "<p>The full guide is docs/emulator.md in the source tree.</p>\n"
      "<ul>\n<li>Sign-in: <code>/{tenant}/oauth2/v2.0/authorize</code>, "
      "<code>/token</code>, <code>/logout</code>, "
      "<code>/{tenant}/v2.0/adminconsent</code></li>\n"
      "<li>Graph mail: <code>/v1.0/me/...</code></li>\n"
      "<li>Admin API (JSON): <code>/__emulator/consent/settings</code>, "
      "<code>/__emulator/consent/requests</code>, "
      "<code>/__emulator/consent/grants</code>, "
      "<code>/__emulator/apps/{clientId}/admin-consent</code></li>\n</ul>\n"
      "<p><a href=\"/\">Back to the start page</a></p>\n"
      "</body></html>\n");
}

/* GET /__emulator/portal: the pending requests, each with Approve and
 * Deny. */
static void h_portal(emu_req *r) {
  json_object *v = emu_consent_requests_json(emu_id_consent(), "pending");
  size_t i, n = json_object_array_length(v);
  char *html = emu_strdup_printf(
      "%s", "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<title>Admin consent requests</title></head>\n<body>\n"
            "<h1>Admin consent requests</h1>\n");
  for (i = 0; html != NULL && i < n; i++) {
    json_object *q = json_object_array_get_idx(v, i), *f;
    const char *id = "", *just = "", *who = "", *app = "";
    if (json_object_object_get_ex(q, "id", &f))
      id = json_object_get_string(f);
    if (json_object_object_get_ex(q, "justification", &f))
      just = json_object_get_string(f);
    if (json_object_object_get_ex(q, "requester", &f))
      who = json_object_get_string(f);
    if (json_object_object_get_ex(q, "clientId", &f))
      app = json_object_get_string(f);
    const emu_user *u = emu_user_find(who);
    const emu_app *a = emu_app_find(app);
    char *e_who = emu_html_escape(u ? u->upn : who);
    char *e_app = emu_html_escape(a && a->display_name ? a->display_name : app);
    char *e_just = emu_html_escape(just);
    char *e_id = emu_html_escape(id);
    char *next = e_who && e_app && e_just && e_id
                     ? emu_strdup_printf(
                           "%s<section class=\"request\">\n<h2>%s</h2>\n"
                           "<p>Requested by %s</p>\n<p>Justification: %s</p>\n"
                           "<form method=\"post\" action=\"/__emulator/"
                           "portal/review\">\n<input type=\"hidden\" "
                           "name=\"id\" value=\"%s\">\n"
                           "<button type=\"submit\" name=\"action\" "
                           "value=\"approve\">Approve</button>\n"
                           "<button type=\"submit\" name=\"action\" "
                           "value=\"deny\">Deny</button>\n</form>\n"
                           "</section>\n",
                           html, e_app, e_who, e_just, e_id)
                     : NULL;
    free(e_who), free(e_app), free(e_just), free(e_id);
    free(html);
    html = next;
  }
  json_object_put(v);
  if (html != NULL) {
    char *next = emu_strdup_printf(
        "%s%s<p><a href=\"/\">Back to the start page</a></p>\n"
        "</body></html>\n",
        html, n == 0 ? "<p>No pending requests.</p>\n" : "");
    free(html);
    html = next;
  }
  if (html == NULL) {
    emu_resp_text(r, 500, "out of memory");
    return;
  }
  emu_resp_html(r, 200, html);
  free(html);
}

/* POST /__emulator/portal/review: id, action=approve|deny; back to the
 * list, which no longer shows it. */
static void h_portal_review(emu_req *r) {
  const char *id = emu_req_form(r, "id");
  const char *action = emu_req_form(r, "action");
  int approve = action != NULL && strcmp(action, "approve") == 0;
  if (id == NULL || action == NULL ||
      (!approve && strcmp(action, "deny") != 0) ||
      emu_consent_request_review(emu_id_consent(), id, approve, "portal",
                                 emu_now()) != 0) {
    emu_resp_html(r, 400,
                  "<!DOCTYPE html>\n<html lang=\"en\"><body><h1>That request "
                  "cannot be reviewed</h1><p>It was reviewed already or does "
                  "not exist.</p><p><a href=\"/__emulator/portal\">Back to "
                  "the requests</a></p></body></html>\n");
    return;
  }
  emu_resp_redirect(r, "/__emulator/portal");
}

static void h_grants(emu_req *r) {
  emu_resp_json(
      r, 200,
      emu_consent_grants_json(emu_id_consent(), emu_req_query(r, "clientId")));
}

static const emu_app *app_or_404(emu_req *r) {
  const emu_app *app = emu_app_find(emu_req_param(r, "clientId"));
  if (app == NULL)
    emu_graph_error(r, 404, "Request_ResourceNotFound",
                    "Application '%s' is not registered in the tenant.",
                    emu_req_param(r, "clientId"));
  return app;
}

static void h_grant_revoke(emu_req *r) {
  const emu_app *app = app_or_404(r);
  emu_user *u;
  if (app == NULL)
    return;
  u = emu_user_find(emu_req_param(r, "user"));
  if (u == NULL ||
      !emu_consent_revoke_user(emu_id_consent(), u->id, app->client_id)) {
    emu_graph_error(r, 404, "Request_ResourceNotFound",
                    "No delegated permission grant of '%s' for '%s'.",
                    app->client_id, emu_req_param(r, "user"));
    return;
  }
  emu_resp_empty(r, 204);
}

/* The app's configured (required) permissions, which "Grant admin
 * consent" grants, into s. */
static void required_scopes(const emu_app *app, emu_scopes *s) {
  for (size_t i = 0; i < app->npermissions; i++) {
    emu_scopes one = {0};
    if (emu_scopes_parse(&one, app->permissions[i], NULL) == 0 && one.n == 1)
      emu_scopes_add(s, one.v[0]);
    emu_scopes_clear(&one);
  }
}

static void h_admin_consent(emu_req *r) {
  const emu_app *app = app_or_404(r);
  json_object *b, *v;
  emu_scopes s = {0};
  char err[256];
  if (app == NULL)
    return;
  b = emu_req_json(r);
  if (b != NULL && json_object_object_get_ex(b, "scopes", &v)) {
    if (scope_array(v, &s, err, sizeof(err), "scopes") != 0) {
      emu_scopes_clear(&s);
      emu_graph_error(r, 400, "BadRequest", "%s", err);
      return;
    }
  } else {
    /* The portal grants the app's configured (required) permissions, the
     * application permissions (app roles) among them. */
    if (emu_apponly_grant_roles(app) != 0) {
      emu_graph_error(r, 500, "InternalServerError", "Out of memory.");
      return;
    }
    required_scopes(app, &s);
  }
  if (emu_consent_grant_tenant(emu_id_consent(), app->client_id, &s) != 0) {
    emu_scopes_clear(&s);
    emu_graph_error(r, 500, "InternalServerError", "Out of memory.");
    return;
  }
  emu_scopes_clear(&s);
  emu_resp_json(r, 200,
                emu_consent_grants_json(emu_id_consent(), app->client_id));
}

/* ---- an enterprise app's Permissions page ---------------------------------
 * Enterprise applications > the app > Permissions > "Grant admin consent
 * for <organization>", what the seed's administrators do (and the remedy of
 * "Need admin approval" links to): a page that works whenever it is
 * opened, and says what happened. */

static char *app_page(const emu_app *app, const char *note) {
  const emu_tenant *t = emu_tenant_get();
  char *e_app =
      emu_html_escape(app->display_name ? app->display_name : app->client_id);
  char *e_org = emu_html_escape(t && t->display_name ? t->display_name
                                                     : "your organization");
  char *e_id = emu_html_escape(app->client_id);
  char *perms = emu_strdup_printf("%s", "");
  for (size_t i = 0; perms != NULL && i < app->npermissions; i++) {
    char *e = emu_html_escape(app->permissions[i]);
    char *next = e ? emu_strdup_printf("%s<li>%s</li>\n", perms, e) : NULL;
    free(e);
    free(perms);
    perms = next;
  }
  char *html =
      e_app && e_org && e_id && perms
          ? emu_strdup_printf(
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
                "charset=\"utf-8\"><title>%s - Permissions</title></head>\n"
                "<body>\n<p>Enterprise applications &gt; %s &gt; "
                "Permissions</p>\n<h1>%s</h1>\n%s"
                "<p>Permissions the application needs:</p>\n<ul>\n%s</ul>\n"
                "<form method=\"post\" action=\"/__emulator/portal/apps/%s/"
                "grant\">\n<button type=\"submit\" id=\"grant\">Grant admin "
                "consent for %s</button>\n</form>\n"
                "<p><a href=\"/__emulator/portal\">Admin consent "
                "requests</a></p>\n<p><a href=\"/\">Back to the start "
                "page</a></p>\n</body></html>\n",
                e_app, e_app, e_app, note ? note : "", perms, e_id, e_org)
          : NULL;
  free(e_app), free(e_org), free(e_id), free(perms);
  return html;
}

static void h_app_page(emu_req *r) {
  const emu_app *app = emu_app_find(emu_req_param(r, "clientId"));
  if (app == NULL) {
    emu_resp_html(r, 404,
                  "<!DOCTYPE html>\n<html lang=\"en\"><body><h1>Application "
                  "not found</h1><p>No application with this id is "
                  "registered in the organization.</p><p><a "
                  "href=\"/\">Back to the start page</a></p></body></html>\n");
    return;
  }
  char *html = app_page(app, NULL);
  if (html == NULL) {
    emu_resp_text(r, 500, "out of memory");
    return;
  }
  emu_resp_html(r, 200, html);
  free(html);
}

static void h_app_grant(emu_req *r) {
  const emu_app *app = emu_app_find(emu_req_param(r, "clientId"));
  emu_scopes s = {0};
  if (app == NULL) {
    h_app_page(r);
    return;
  }
  /* As "Grant admin consent" above: the application permissions too. */
  int rc = emu_apponly_grant_roles(app);
  required_scopes(app, &s);
  if (rc == 0)
    rc = emu_consent_grant_tenant(emu_id_consent(), app->client_id, &s);
  emu_scopes_clear(&s);
  char *html = app_page(
      app, rc == 0 ? "<p id=\"outcome\" role=\"status\"><strong>Admin consent "
                     "granted.</strong> Everyone in the organization can now "
                     "use the application without a consent page; whoever "
                     "was waiting for approval can connect again.</p>\n"
                   : "<p id=\"outcome\" role=\"alert\"><strong>Admin "
                     "consent was not granted.</strong> Try again.</p>\n");
  if (html == NULL) {
    emu_resp_text(r, 500, "out of memory");
    return;
  }
  emu_resp_html(r, rc == 0 ? 200 : 500, html);
  free(html);
}

static void h_app_delete(emu_req *r) {
  const emu_app *app = app_or_404(r);
  if (app == NULL)
    return;
  if (!emu_consent_app_delete(emu_id_consent(), app->client_id)) {
    emu_graph_error(r, 404, "Request_ResourceNotFound",
                    "Enterprise application '%s' is not in the tenant.",
                    app->client_id);
    return;
  }
  emu_resp_empty(r, 204);
}

static void h_app_restore(emu_req *r) {
  const emu_app *app = app_or_404(r);
  if (app == NULL)
    return;
  emu_consent_app_add(emu_id_consent(), app->client_id);
  emu_resp_json(r, 200,
                emu_consent_grants_json(emu_id_consent(), app->client_id));
}

/* Enterprise applications > the app > Properties > "Enabled for users to
 * sign-in": No (disable) or Yes (enable). */
static void app_enable(emu_req *r, int enabled) {
  const emu_app *app = app_or_404(r);
  if (app == NULL)
    return;
  if (emu_consent_app_set_enabled(emu_id_consent(), app->client_id, enabled) !=
      0) {
    emu_graph_error(r, 500, "InternalServerError", "out of memory");
    return;
  }
  emu_resp_json(r, 200,
                emu_consent_grants_json(emu_id_consent(), app->client_id));
}

static void h_app_disable(emu_req *r) {
  app_enable(r, 0);
}

static void h_app_enable(emu_req *r) {
  app_enable(r, 1);
}

static void h_identity_get(emu_req *r) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "settings", emu_id_settings_json());
  json_object_object_add(o, "stats", emu_id_stats_json());
  emu_resp_json(r, 200, o);
}

static void h_identity_settings(emu_req *r) {
  char err[256];
  if (emu_id_settings_apply(emu_req_json(r), err, sizeof(err)) != 0) {
    emu_graph_error(r, 400, "BadRequest", "%s", err);
    return;
  }
  emu_resp_json(r, 200, emu_id_settings_json());
}

static void h_revoke_sessions(emu_req *r) {
  emu_user *u = emu_user_find(emu_req_param(r, "user"));
  json_object *o;
  if (u == NULL) {
    emu_graph_error(r, 404, "Request_ResourceNotFound",
                    "User '%s' does not exist.", emu_req_param(r, "user"));
    return;
  }
  o = json_object_new_object();
  json_object_object_add(o, "revokedRefreshTokens",
                         json_object_new_int(emu_id_revoke_user_tokens(u->id)));
  emu_resp_json(r, 200, o);
}

static int portal_init(void) {
  static const emu_route_def routes[] = {
      {"GET", "/", h_front},
      {"GET", "/__emulator/docs", h_docs},
      {"GET", "/__emulator/portal", h_portal},
      {"POST", "/__emulator/portal/review", h_portal_review},
      {"GET", "/__emulator/portal/apps/{clientId}", h_app_page},
      {"POST", "/__emulator/portal/apps/{clientId}/grant", h_app_grant},
      {"GET", "/__emulator/consent", h_consent_get},
      {"POST", "/__emulator/consent/settings", h_consent_settings},
      {"GET", "/__emulator/consent/requests", h_requests},
      {"POST", "/__emulator/consent/requests/{id}/approve", h_approve},
      {"POST", "/__emulator/consent/requests/{id}/deny", h_deny},
      {"GET", "/__emulator/consent/grants", h_grants},
      {"DELETE", "/__emulator/consent/grants/{clientId}/{user}",
       h_grant_revoke},
      {"POST", "/__emulator/apps/{clientId}/admin-consent", h_admin_consent},
      {"DELETE", "/__emulator/apps/{clientId}", h_app_delete},
      {"POST", "/__emulator/apps/{clientId}/restore", h_app_restore},
      {"POST", "/__emulator/apps/{clientId}/disable", h_app_disable},
      {"POST", "/__emulator/apps/{clientId}/enable", h_app_enable},
      {"GET", "/__emulator/identity", h_identity_get},
      {"POST", "/__emulator/identity/settings", h_identity_settings},
      {"POST", "/__emulator/users/{user}/revoke-sessions", h_revoke_sessions},
  };
  if (emu_routes_add("portal", routes, sizeof routes / sizeof routes[0]) != 0)
    return -1;
  return 0;
}

EMU_MODULE(portal, portal_init)
