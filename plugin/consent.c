/* consent.c - see consent.h. */
#include "consent.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "entry.h"
#include "util.h"

/* Copies the text after "label" up to the end of its line. */
static void take_line_after(const char *desc, const char *label, char *out,
                            size_t outsz) {
  const char *p = strstr(desc, label);
  if (p == NULL)
    return;
  p += strlen(label);
  while (*p == ' ')
    p++;
  size_t n = strcspn(p, "\r\n");
  if (n >= outsz)
    n = outsz - 1;
  memcpy(out, p, n);
  out[n] = '\0';
}

void o365_aad_err_parse_description(const char *desc, o365_aad_err *e) {
  if (desc == NULL)
    return;
  if (e->summary[0] == '\0') {
    size_t n = strcspn(desc, "\r\n");
    if (n >= sizeof e->summary)
      n = sizeof e->summary - 1;
    memcpy(e->summary, desc, n);
    e->summary[n] = '\0';
  }
  if (e->aadsts == 0) {
    const char *p = strstr(desc, "AADSTS");
    if (p != NULL && isdigit((unsigned char)p[6])) {
      long v = 0;
      for (p += 6; isdigit((unsigned char)*p) && v < 100000000; p++)
        v = v * 10 + (*p - '0');
      e->aadsts = v;
    }
  }
  if (e->trace_id[0] == '\0')
    take_line_after(desc, "Trace ID:", e->trace_id, sizeof e->trace_id);
  if (e->correlation_id[0] == '\0')
    take_line_after(desc, "Correlation ID:", e->correlation_id,
                    sizeof e->correlation_id);
}

void o365_aad_err_from_query(struct json_object *query, o365_aad_err *e) {
  memset(e, 0, sizeof *e);
  o365_strlcpy(e->error, o365_json_str(query, "error"), sizeof e->error);
  o365_aad_err_parse_description(o365_json_str(query, "error_description"), e);
  /* Some redirects carry only error_uri=...?code=65004. */
  const char *uri = o365_json_str(query, "error_uri");
  const char *c = uri ? strstr(uri, "code=") : NULL;
  if (e->aadsts == 0 && c != NULL)
    e->aadsts = strtol(c + 5, NULL, 10);
}

void o365_aad_err_from_json(struct json_object *body, o365_aad_err *e) {
  memset(e, 0, sizeof *e);
  if (body == NULL || !json_object_is_type(body, json_type_object))
    return;
  o365_strlcpy(e->error, o365_json_str(body, "error"), sizeof e->error);
  o365_strlcpy(e->suberror, o365_json_str(body, "suberror"),
               sizeof e->suberror);
  o365_strlcpy(e->trace_id, o365_json_str(body, "trace_id"),
               sizeof e->trace_id);
  o365_strlcpy(e->correlation_id, o365_json_str(body, "correlation_id"),
               sizeof e->correlation_id);
  struct json_object *codes = NULL;
  if (json_object_object_get_ex(body, "error_codes", &codes) &&
      json_object_is_type(codes, json_type_array) &&
      json_object_array_length(codes) > 0) {
    /* Only a plausible AADSTS number; anything else is ignored and the
     * description's code (if any) is used. */
    struct json_object *c0 = json_object_array_get_idx(codes, 0);
    int64_t v =
        json_object_is_type(c0, json_type_int) ? json_object_get_int64(c0) : 0;
    if (v > 0 && v < 100000000)
      e->aadsts = (long)v;
  }
  o365_aad_err_parse_description(o365_json_str(body, "error_description"), e);
}

const char *o365_state_name(o365_state s) {
  switch (s) {
  case O365_CONNECTED:
    return "connected";
  case O365_NEEDS_ADMIN_APPROVAL:
    return "needs_admin_approval";
  case O365_APPROVAL_PENDING:
    return "approval_pending";
  case O365_DENIED:
    return "denied";
  case O365_REAUTHORIZATION_REQUIRED:
    return "reauthorization_required";
  case O365_REVOKED:
    return "revoked";
  case O365_ERROR:
    break;
  }
  return "error";
}

o365_state o365_authorize_outcome(const o365_aad_err *e) {
  switch (e->aadsts) {
  case 65004: /* UserDeclinedConsent */
    return O365_DENIED;
  case 65001:  /* DelegationDoesNotExist */
  case 90093:  /* user not allowed to grant these permissions */
  case 90094:  /* AdminConsentRequired ("Need admin approval") */
  case 900941: /* admin consent required: app considered risky */
    return O365_NEEDS_ADMIN_APPROVAL;
  case 90095:  /* admin consent workflow: request submitted */
  case 900981: /* risky app, admin consent workflow on */
    return O365_APPROVAL_PENDING;
  default:
    break;
  }
  if (strcmp(e->error, "access_denied") == 0)
    return O365_DENIED;
  if (strcmp(e->error, "consent_required") == 0)
    return O365_NEEDS_ADMIN_APPROVAL;
  return O365_ERROR;
}

o365_refresh_class o365_refresh_classify(long status, const o365_aad_err *e) {
  if (status == 0 || status == 429 || status >= 500)
    return O365_REFRESH_RETRY;
  if (strcmp(e->error, "temporarily_unavailable") == 0 ||
      strcmp(e->error, "server_error") == 0)
    return O365_REFRESH_RETRY;
  if (strcmp(e->error, "invalid_grant") == 0 ||
      strcmp(e->error, "interaction_required") == 0 ||
      strcmp(e->error, "consent_required") == 0 ||
      strcmp(e->error, "login_required") == 0)
    return O365_REFRESH_REAUTH;
  if (e->aadsts == 7000112)
    return O365_REFRESH_ADMIN;
  /* The app is not (any more) in the user's directory: the enterprise app
   * was deleted. Consent must be given again, by authorizing. */
  if (strcmp(e->error, "unauthorized_client") == 0 && e->aadsts == 700016)
    return O365_REFRESH_REAUTH;
  return O365_REFRESH_FATAL;
}

/* " (Trace ID: x, Correlation ID: y)" or "". */
static void put_ids(o365_buf *b, const o365_aad_err *e) {
  if (e == NULL || (e->trace_id[0] == '\0' && e->correlation_id[0] == '\0'))
    return;
  o365_buf_put(b, " (");
  if (e->trace_id[0])
    o365_buf_printf(b, "Trace ID: %s", e->trace_id);
  if (e->trace_id[0] && e->correlation_id[0])
    o365_buf_put(b, ", ");
  if (e->correlation_id[0])
    o365_buf_printf(b, "Correlation ID: %s", e->correlation_id);
  o365_buf_put(b, ")");
}

static void put_reauth(o365_buf *b, const o365_aad_err *e,
                       const char *authority) {
  long code = e ? e->aadsts : 0;
  switch (code) {
  case 65001:
    o365_buf_put(b, "The app's consent was removed (AADSTS65001). Reauthorize "
                    "this connection; an administrator may need to grant "
                    "consent again.");
    return;
  case 700016:
    o365_buf_put(b, "The app is no longer registered in your organization "
                    "(AADSTS700016). Reauthorize this connection; an "
                    "administrator may need to grant consent again.");
    return;
  case 700082:
  case 70008:
    o365_buf_printf(b,
                    "The connection was unused for too long and its "
                    "sign-in expired (AADSTS%ld). Reauthorize this "
                    "connection.",
                    code);
    return;
  case 50173:
  case 70043:
  case 50076:
  case 50079:
  case 53003:
    o365_buf_printf(b,
                    "Your sign-in is no longer valid (AADSTS%ld: password "
                    "change, revoked sessions or a sign-in policy). "
                    "Reauthorize this connection.",
                    code);
    return;
  default:
    break;
  }
  char buf[600];
  const char *who = o365_authority_name(authority, buf, sizeof buf);
  if (code != 0)
    o365_buf_printf(b,
                    "%s refused to renew the sign-in (AADSTS%ld). "
                    "Reauthorize this connection.",
                    who, code);
  else if (e != NULL && e->error[0] != '\0' && strcmp(who, "Microsoft") != 0)
    /* No AADSTS code to name: the OAuth error says what happened. */
    o365_buf_printf(b,
                    "%s refused to renew the sign-in (%s). Reauthorize this "
                    "connection.",
                    who, e->error);
  else
    o365_buf_printf(b,
                    "%s refused to renew the sign-in. Reauthorize this "
                    "connection.",
                    who);
}

char *o365_admin_fix(const o365_aad_err *e) {
  if (e == NULL || e->aadsts != 7000112)
    return NULL;
  o365_buf b;
  o365_buf_init(&b);
  /* The summary names the app ("AADSTS7000112: Application '{id}'({name})
   * is disabled."). */
  o365_buf_printf(&b,
                  "The app is disabled in the organization (%s): an "
                  "administrator re-enables it in Enterprise applications > "
                  "the app > Properties > \"Enabled for users to sign-in\" "
                  "= Yes; the connection then works again as it is, without "
                  "authorizing again",
                  e->summary[0] ? e->summary : "AADSTS7000112");
  put_ids(&b, e);
  o365_buf_put(&b, ".");
  return o365_buf_take(&b);
}

char *o365_remedy(o365_state s, const o365_aad_err *e, const char *admin_url,
                  const char *authority) {
  if (s == O365_ERROR) {
    char *fix = o365_admin_fix(e);
    if (fix != NULL)
      return fix;
  }
  o365_buf b;
  o365_buf_init(&b);
  switch (s) {
  case O365_CONNECTED:
    break;
  case O365_NEEDS_ADMIN_APPROVAL:
    /* The portal page, not an admin consent URL: that one redirects to
     * whoever asked (a listener that has ended by the time an
     * administrator opens it); the page works whenever it is opened. */
    if (admin_url != NULL)
      o365_buf_printf(&b,
                      "Ask an administrator to grant consent: %s "
                      "(Enterprise applications > the app > Permissions > "
                      "Grant admin consent).",
                      admin_url);
    else
      o365_buf_put(&b, "Ask an administrator to grant consent to the app "
                       "(Enterprise applications > Permissions > Grant admin "
                       "consent).");
    break;
  case O365_APPROVAL_PENDING:
    o365_buf_put(&b, "Your request was sent to your administrator; "
                     "reauthorize this connection once it is approved.");
    break;
  case O365_DENIED:
    o365_buf_put(&b, "The permissions were declined; authorize again and "
                     "click Accept.");
    break;
  case O365_REAUTHORIZATION_REQUIRED:
    put_reauth(&b, e, authority);
    break;
  case O365_REVOKED:
    o365_buf_put(&b, "This connection was revoked; reauthorize it to use it "
                     "again.");
    break;
  case O365_ERROR:
    o365_buf_put(&b, "Sign-in failed");
    if (e != NULL && e->summary[0])
      o365_buf_printf(&b, ": %s", e->summary);
    else if (e != NULL && e->error[0])
      o365_buf_printf(&b, ": %s", e->error);
    if (e != NULL && e->error[0] && e->summary[0])
      o365_buf_printf(&b, " [%s]", e->error);
    put_ids(&b, e);
    o365_buf_put(&b, ".");
    break;
  }
  return o365_buf_take(&b);
}

char *o365_admin_consent_url(const o365_config *cfg, const char *redirect_uri,
                             const char *state) {
  char fresh[64];
  if (state == NULL) {
    if (o365_random_b64url(32, fresh, sizeof fresh) != 0)
      return NULL;
    state = fresh;
  }
  /* The endpoint refuses "common"; "organizations" means any work or school
   * tenant, i.e. the admin's own. */
  const char *tenant =
      strcmp(cfg->tenant, "common") == 0 ? "organizations" : cfg->tenant;
  o365_buf b;
  o365_buf_init(&b);
  o365_buf_put(&b, cfg->authority);
  o365_buf_seg(&b, tenant);
  o365_buf_put(&b, "/v2.0/adminconsent");
  o365_buf_query(&b, "client_id", cfg->client_id);
  o365_buf_query(&b, "redirect_uri", redirect_uri);
  char scope[300];
  snprintf(scope, sizeof scope, "%s/.default", cfg->cloud->resource);
  o365_buf_query(&b, "scope", scope);
  o365_buf_query(&b, "state", state);
  return o365_buf_take(&b);
}

int o365_admin_consent_parse(struct json_object *query,
                             o365_admin_consent *out) {
  memset(out, 0, sizeof *out);
  const char *flag = o365_json_str(query, "admin_consent");
  const char *error = o365_json_str(query, "error");
  if (flag == NULL && error == NULL)
    return WFC_EINVAL;
  if (error != NULL) {
    o365_aad_err_from_query(query, &out->err);
    return 0;
  }
  out->granted = strcasecmp(flag, "true") == 0;
  o365_strlcpy(out->tenant, o365_json_str(query, "tenant"), sizeof out->tenant);
  o365_strlcpy(out->scope, o365_json_str(query, "scope"), sizeof out->scope);
  return 0;
}

/* ---- The admin_consent_url card ---------------------------------------- */

static const char *const env_values[] = {"preview", "production", NULL};

static const wfc_field consent_inputs[] = {
    {.name = "environment",
     .type = WFC_TYPE_STRING,
     .description = "Which OAuth app: preview or production.",
     .default_json = "\"production\"",
     .enum_values = env_values},
    {.name = "tenant",
     .type = WFC_TYPE_STRING,
     .description = "The organization's tenant id or domain; organizations "
                    "means the administrator's own.",
     .default_json = "\"organizations\""},
    O365_PARAM_CLOUD,
    {.name = "authority_url",
     .type = WFC_TYPE_STRING,
     .description = "Identity platform base URL, overriding the cloud's."},
    {.name = "client_id",
     .type = WFC_TYPE_STRING,
     .description = "Client id of the app, overriding "
                    "O365MAIL_<ENV>_CLIENT_ID."},
    {.name = "redirect_uri",
     .type = WFC_TYPE_STRING,
     .description = "Where the administrator is sent back to: a page of "
                    "yours, registered on the app, that checks the state "
                    "and tells the administrator what happened (docs/"
                    "connections.md, \"The admin consent URL card\").",
     .default_json = "\"http://localhost\""},
    {.name = "state",
     .type = WFC_TYPE_STRING,
     .description = "The state to send (echoed in the redirect); a fresh "
                    "random one when not given."},
    {0}};

static const wfc_field consent_outputs[] = {
    {.name = "url",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The admin consent URL to open as an administrator."},
    {.name = "app",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Name of the OAuth app consented to."},
    {.name = "client_id",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Client id of that app."},
    {.name = "state",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The state in the URL: whoever receives the redirect "
                    "accepts it only when its state equals this one."},
    {0}};

static int admin_consent_url_invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  o365_config cfg;
  char err[256];
  int rc = o365_config_load(in, &cfg, err, sizeof err);
  if (rc != 0) {
    o365_api->call_fail(call, WFC_EVALIDATION, o365_config_detail(&cfg), "%s",
                        err);
    o365_config_clear(&cfg);
    return 0;
  }
  const char *redirect = o365_json_str(in, "redirect_uri");
  const char *given = o365_json_str(in, "state");
  char state[64];
  if (given != NULL && *given != '\0')
    o365_strlcpy(state, given, sizeof state);
  else if (o365_random_b64url(32, state, sizeof state) != 0)
    state[0] = '\0';
  char *url = state[0]
                  ? o365_admin_consent_url(
                        &cfg, redirect ? redirect : "http://localhost", state)
                  : NULL;
  if (url == NULL) {
    o365_config_clear(&cfg);
    o365_api->call_fail(call, WFC_ENOMEM, NULL, "out of memory");
    return 0;
  }
  struct json_object *out = json_object_new_object();
  o365_json_add_str(out, "url", url);
  o365_json_add_str(out, "app", cfg.app->name);
  o365_json_add_str(out, "client_id", cfg.client_id);
  o365_json_add_str(out, "state", state);
  free(url);
  o365_config_clear(&cfg);
  o365_api->call_done(call, out);
  return 0;
}

const wfc_card_desc o365_card_admin_consent_url = {
    .id = "admin_consent_url",
    .name = "Admin Consent URL",
    .description = "Builds the URL an administrator opens to grant the app "
                   "tenant-wide consent, so that every user can connect.",
    .kind = WFC_CARD_ACTION,
    .conn_type = NULL,
    .inputs = consent_inputs,
    .outputs = consent_outputs,
    .invoke = admin_consent_url_invoke};
