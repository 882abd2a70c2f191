/* connmgr_auth.c - authorizing a connection: wfc_connmgr_authorize (see
 * wfc/connections.h and docs/connections-sdk.md, "Authorization").
 *
 * A browser flow runs authorize_begin (the URL the person opens), a local
 * redirect listener for the answer, then authorize_complete; a form or none
 * flow runs authorize_complete at once. Its outcome is stored here: a new
 * connection's row, or a reauthorized one's new grant (refused when the
 * sign-in was another account's, unless the caller allows the change).
 * An admin consent stores nothing. The browser is told the outcome in
 * plain words, the caller through the operation's callback (op_finish:
 * delivered by the kick, connmgr.c).
 *
 * Part of the connection manager (connmgr_int.h); everything here runs on
 * the loop thread.
 */
#define _POSIX_C_SOURCE 200809L /* strcasecmp, snprintf */
#include "connmgr_int.h"

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "crypto.h"
#include "json.h"
#include "json_secret.h"
#include "log.h"
#include "redirect.h"
#include "runtime.h"
#include "store.h"

static int valid_outcome(const char *s) {
  static const char *const ok[] = {WFC_CONN_CONNECTED,
                                   WFC_CONN_NEEDS_ADMIN_APPROVAL,
                                   WFC_CONN_APPROVAL_PENDING,
                                   "denied",
                                   WFC_CONN_ERROR,
                                   NULL};
  for (int i = 0; s != NULL && ok[i] != NULL; i++)
    if (strcmp(s, ok[i]) == 0)
      return 1;
  return 0;
}

/* The sealed JSON text for credentials, secret params and the account key
 * (transfer). The account key is sealed, not a column, so that it is
 * authenticated like the credentials and needs no schema change; it
 * survives refreshes (merge_creds keeps the other members). A revoke wipes
 * it with the tokens: the account name (a column) is compared then. */
static char *seal_text(json_object *creds, json_object *secret_params,
                       const char *account_key) {
  json_object *s = json_object_new_object();
  if (creds != NULL)
    json_object_object_add(s, "credentials", json_object_get(creds));
  if (secret_params != NULL && json_object_object_length(secret_params) > 0)
    json_object_object_add(s, "secret_params", json_object_get(secret_params));
  if (account_key != NULL && *account_key != '\0')
    json_object_object_add(s, "account_key",
                           json_object_new_string(account_key));
  char *text =
      json_object_object_length(s) > 0 ? wfc__json_dump_secret(s) : NULL;
  json_object_put(s); /* the members are the caller's */
  return text;
}

/* The browser's page when the authorization failed before an outcome. */
static const char people_failed[] =
    "The sign-in could not be completed. The application you started it "
    "from says why and what to do next. You can close this window.";

static void auth_page(op *o, int ok, const char *title, const char *msg) {
  wfc__redirect_respond(o->redirect, ok, title, msg);
  wfc__redirect_close(o->redirect);
  o->redirect = NULL;
}

/* Whether a reauthorization signed in as another account than o's
 * connection: the plugins' account keys when both sides have one (a stable
 * id, e.g. tenant and object id: a renamed account is still the same), the
 * account names (case-insensitive) otherwise; unknown on either side: no. */
static int other_account(const op *o, const char *key, const char *account) {
  if (o->expect_key[0] != '\0' && key != NULL && *key != '\0')
    return strcmp(o->expect_key, key) != 0;
  if (o->expect_account[0] != '\0' && account != NULL && *account != '\0')
    return strcasecmp(o->expect_account, account) != 0;
  return 0;
}

/* Refuses a reauthorization as another account: nothing is stored, the
 * browser and the caller are told who signed in and who was expected. */
static void auth_refuse_account(op *o, const char *account) {
  const char *got = account != NULL && *account ? account : "another account";
  const char *want =
      o->expect_account[0] ? o->expect_account : "its own account";
  char remedy[WFC__CONN_REMEDY_SIZE];
  snprintf(remedy, sizeof remedy,
           "Signed in as %s, but the connection \"%s\" belongs to %s; "
           "nothing was changed. Authorize it again signed in as %s, or "
           "allow the account change to switch it to %s.",
           got, o->nickname, want, want, got);
  char page[WFC__CONN_REMEDY_SIZE + 64];
  snprintf(page, sizeof page,
           "You signed in as %s, but this connection belongs to %s. Nothing "
           "was changed. You can close this window.",
           got, want);
  auth_page(o, 0, "Wrong account", page);
  json_object *d = json_object_new_object();
  json_object_object_add(d, "account", json_object_new_string(got));
  json_object_object_add(d, "expected", json_object_new_string(want));
  wfc__connmgr_op_finish(o, 0, WFC_CONN_WRONG_ACCOUNT, remedy, d, " ");
  json_object_put(d);
}

/* Stores the outcome of authorize_complete (output borrowed). */
static void auth_apply(op *o, json_object *output) {
  wfc_connmgr *m = o->m;
  const char *state = wfc__json_str(output, "state");
  const char *remedy = wfc__json_str(output, "remedy");
  const char *account = wfc__json_str(output, "account");
  const char *account_key = wfc__json_str(output, "account_key");
  json_object *creds = wfc__json_obj(output, "credentials");
  json_object *detail = json_object_object_get(output, "detail");
  if (!valid_outcome(state)) {
    auth_page(o, 0, "Authorization failed", "The connector gave no outcome.");
    wfc__connmgr_op_finish(o, WFC_EPROTO, NULL, NULL, NULL,
                           "authorize_complete of %s gave no valid \"state\"",
                           o->type_id);
    return;
  }
  int connected = strcmp(state, WFC_CONN_CONNECTED) == 0;
  if (connected && creds == NULL) {
    auth_page(o, 0, "Authorization failed", "No credentials were received.");
    wfc__connmgr_op_finish(
        o, WFC_EPROTO, NULL, NULL, NULL,
        "authorize_complete of %s said connected without credentials",
        o->type_id);
    return;
  }
  if (connected && o->reauth_id[0] != '\0' && !o->allow_account_change &&
      other_account(o, account_key, account)) {
    auth_refuse_account(o, account);
    return;
  }
  json_object *clear, *secret;
  wfc__connmgr_split_params(o->schema, o->params, &clear, &secret);
  char *params_text = wfc__json_dump(clear, false);
  int64_t exp_s = 0;
  wfc__json_int64(creds, "expires_at", &exp_s);
  int rc = 0;
  const char *what = "";
  if (o->reauth_id[0] == '\0') {
    /* New: a row for connected, and for the two states an admin can turn
     * into connected (the user then reauthorizes the same nickname). */
    if (connected || strcmp(state, WFC_CONN_NEEDS_ADMIN_APPROVAL) == 0 ||
        strcmp(state, WFC_CONN_APPROVAL_PENDING) == 0) {
      wfc__conn_rec r;
      memset(&r, 0, sizeof r);
      snprintf(r.nickname, sizeof r.nickname, "%s", o->nickname);
      snprintf(r.plugin, sizeof r.plugin, "%s", o->plugin);
      snprintf(r.conn_type, sizeof r.conn_type, "%s", o->type);
      snprintf(r.environment, sizeof r.environment, "%s", o->environment);
      snprintf(r.account, sizeof r.account, "%s", account ? account : "");
      snprintf(r.owner, sizeof r.owner, "%s", m->owner);
      snprintf(r.state, sizeof r.state, "%s", state);
      snprintf(r.remedy, sizeof r.remedy, "%s",
               remedy && !connected ? remedy : "");
      r.params = params_text;
      r.expires_at = connected ? exp_s * 1000 : 0;
      char *sealed = seal_text(connected ? creds : NULL, secret, account_key);
      rc = wfc__store_conn_insert(m->st, &r, sealed);
      wfc__secret_free(sealed);
      what = "save the connection";
      if (rc == 0) {
        r.params = NULL;
        entry *e;
        if (wfc__connmgr_entry_get(m, r.id, &e, NULL) == 0)
          o->e = e;
      }
    }
  } else {
    entry *e = NULL;
    wfc__connmgr_entry_get(m, o->reauth_id, &e, NULL);
    o->e = e;
    if (connected) {
      char *sealed = seal_text(creds, secret, account_key);
      rc = wfc__store_conn_update_secrets(m->st, o->reauth_id, sealed,
                                          exp_s * 1000);
      wfc__secret_free(sealed);
      if (rc == 0 && account != NULL)
        rc = wfc__store_conn_update_account(m->st, o->reauth_id, account);
      if (rc == 0)
        rc = wfc__store_conn_update_params(m->st, o->reauth_id, params_text);
      if (rc == 0)
        rc = wfc__store_conn_update_state(m->st, o->reauth_id,
                                          WFC_CONN_CONNECTED, "");
      what = "save the new credentials";
      if (rc == 0 && e != NULL) {
        e->rejected = 0;
        e->dirty = 0; /* the new grant wins over an unsaved rotation */
        /* Open the new grant now (its tokens held before the old ones are
         * released); with a refresh in flight, drop what memory held: the
         * refresh sees no secrets and takes the new grant from the store. */
        if (e->refreshing || wfc__connmgr_entry_load(e, 1) != 0)
          wfc__connmgr_entry_drop_secrets(e);
        if (!e->refreshing)
          wfc__connmgr_lease_release(
              e); /* an unsaved rotation of the old grant */
        if (e->lease_wait && e->access != NULL) {
          /* Waiting for another process's refresh of the old grant: the
           * new grant is the answer. */
          e->lease_wait = 0;
          wfc__connmgr_entry_complete(e, 0);
        }
        wfc__connmgr_entry_get(m, o->reauth_id, &e, NULL);
      }
    } else if (strcmp(state, "denied") != 0) {
      rc = wfc__store_conn_update_state(m->st, o->reauth_id, state, remedy);
      what = "save the state";
      if (rc == 0 && e != NULL)
        snprintf(e->state, sizeof e->state, "%s", state);
    }
  }
  free(params_text);
  json_object_put(clear);
  wfc__json_cleanse_put(secret);
  if (rc != 0) {
    auth_page(o, 0, "Authorization failed",
              "The connection could not be saved.");
    wfc__connmgr_op_finish(
        o, rc, state, NULL, detail, "cannot %s \"%s\": %s", what, o->nickname,
        rc == WFC_EEXIST ? "the nickname is taken" : wfc__store_last_error());
    return;
  }
  if (connected) {
    char msg[400];
    snprintf(msg, sizeof msg, "Connected%s%s. You can close this window.",
             account ? " as " : "", account ? account : "");
    auth_page(o, 1, "Connection authorized", msg);
  } else {
    auth_page(o, 0, "Connection not authorized",
              remedy ? remedy : "You can close this window.");
  }
  wfc__connmgr_op_finish(o, 0, state, remedy, detail, " ");
}

/* The outcome of an admin consent (output borrowed): granted, declined or
 * error, in the plugin's words; told to the browser, then the caller.
 * Nothing is stored: the connection is authorized again afterwards. */
static void admin_apply(op *o, json_object *output) {
  const char *outcome = wfc__json_str(output, "admin_consent");
  const char *remedy = wfc__json_str(output, "remedy");
  json_object *detail = json_object_object_get(output, "detail");
  int granted = outcome != NULL && strcmp(outcome, "granted") == 0;
  if (outcome == NULL || (!granted && strcmp(outcome, "declined") != 0 &&
                          strcmp(outcome, "error") != 0)) {
    auth_page(o, 0, "Admin consent failed", people_failed);
    wfc__connmgr_op_finish(
        o, WFC_EPROTO, NULL, NULL, NULL,
        "authorize_complete of %s gave no admin consent outcome", o->type_id);
    return;
  }
  auth_page(o, granted,
            granted                            ? "Admin consent granted"
            : strcmp(outcome, "declined") == 0 ? "Admin consent declined"
                                               : "Admin consent failed",
            remedy != NULL && *remedy ? remedy : "You can close this window.");
  wfc__connmgr_op_finish(o, 0, outcome, remedy, detail, " ");
}

static void on_complete_done(void *arg, wfc_call *call,
                             const wfc_outcome *out) {
  op *o = arg;
  (void)call;
  o->call = NULL;
  if (o->admin_consent && out->status == 0) {
    admin_apply(o, out->output);
    return;
  }
  if (out->status != 0) {
    /* The hook's message is for the caller (a developer's words, e.g. a
     * refused state); the person at the browser is told where to look. */
    auth_page(o, 0, "Authorization failed", people_failed);
    wfc__connmgr_op_finish(o, out->status, NULL, NULL, out->detail, "%s",
                           out->message);
    return;
  }
  auth_apply(o, out->output);
  /* The new grant is sealed in the store: no copy of it stays behind when
   * the call frees its output. */
  wfc__json_cleanse(wfc__json_obj(out->output, "credentials"));
}

static void on_redirect(void *arg, int status, json_object *query) {
  op *o = arg;
  if (status != 0) {
    unsigned ignored = wfc__redirect_ignored(o->redirect);
    wfc__redirect_close(o->redirect);
    o->redirect = NULL;
    if (status == WFC_ETIMEDOUT && ignored > 0)
      wfc__connmgr_op_finish(
          o, status, NULL, NULL, NULL,
          "no answer from the browser in time (the authorization page "
          "was not completed); %u other request%s to the sign-in "
          "listener did not carry this authorization's state and %s "
          "ignored",
          ignored, ignored == 1 ? "" : "s", ignored == 1 ? "was" : "were");
    else
      wfc__connmgr_op_finish(
          o, status, NULL, NULL, NULL, "%s",
          status == WFC_ETIMEDOUT
              ? "no answer from the browser in time (the authorization "
                "page was not completed)"
              : "the redirect listener failed");
    return;
  }
  const char *code = wfc__json_str(query, "code");
  if (code != NULL && strlen(code) >= 4)
    wfc__log_secret(code);
  json_object *in = json_object_new_object();
  json_object_object_add(in, "params", json_object_get(o->params));
  json_object_object_add(
      in, "redirect_uri",
      json_object_new_string(wfc__redirect_uri(o->redirect)));
  json_object_object_add(in, "session", json_object_get(o->session));
  json_object_object_add(in, "query", json_object_get(query));
  wfc_invoke how = {.size = sizeof how, .on_done = on_complete_done, .arg = o};
  int rc = wfc_runtime_conn_hook(
      o->m->rt, o->type_id, WFC_HOOK_AUTHORIZE_COMPLETE, in, &how, &o->call);
  json_object_put(in);
  if (rc != 0) {
    auth_page(o, 0, "Authorization failed", people_failed);
    wfc__connmgr_op_finish(o, rc, NULL, NULL, NULL,
                           "cannot run authorize_complete: %s",
                           wfc_strerror(rc));
  }
}

static void on_begin_done(void *arg, wfc_call *call, const wfc_outcome *out) {
  op *o = arg;
  (void)call;
  o->call = NULL;
  const char *url = wfc__json_str(out->output, "url");
  if (out->status != 0 || url == NULL || o->canceled) {
    wfc__connmgr_op_finish(
        o, out->status ? out->status : WFC_EPROTO, NULL, NULL, out->detail,
        "%s", out->status ? out->message : "authorize_begin gave no \"url\"");
    return;
  }
  /* The listener ends only on a redirect carrying the URL's state (the
   * authorization server sends it back unchanged): any other local request
   * to the port is ignored. A URL without one cannot tell them apart. */
  char *state = NULL;
  int rc = wfc__redirect_url_param(url, "state", &state);
  if (rc == 0 && state[0] != '\0')
    rc = wfc__redirect_expect(o->redirect, state);
  else if (rc == 0)
    rc = WFC_ENOTFOUND;
  wfc__secret_free(state);
  if (rc != 0) {
    wfc__connmgr_op_finish(
        o, rc == WFC_ENOMEM ? rc : WFC_EPROTO, NULL, NULL, NULL,
        "authorize_begin of %s gave a URL %s; the sign-in listener "
        "needs exactly one non-empty \"state\" parameter in it to tell "
        "the browser's redirect from other local requests",
        o->type_id,
        rc == WFC_ENOTFOUND ? "without a \"state\" parameter"
                            : "with a repeated or malformed \"state\"");
    return;
  }
  if (o->admin_consent) {
    /* A plugin that does not know admin consents gives a sign-in URL:
     * never sent to an administrator as if it were one. */
    json_object *ac = json_object_object_get(out->output, "admin_consent");
    if (ac == NULL || !json_object_get_boolean(ac)) {
      wfc__connmgr_op_finish(o, WFC_ENOTSUP, NULL, NULL, NULL,
                             "the connection type %s has no admin consent",
                             o->type_id);
      return;
    }
  }
  json_object *session = json_object_object_get(out->output, "session");
  o->session = session ? json_object_get(session) : json_object_new_object();
  o->on_url(o->arg, url);
}

/* The secret params of o (from the caller or the store) are redacted
 * from every log line from now on: the plugin may log a URL or a message
 * holding one before it registers it itself. Plain registrations, not
 * holds: a plugin that registered the value too keeps its own. */
static void secrets_redact(op *o) {
  json_object *clear, *secret;
  wfc__connmgr_split_params(o->schema, o->params, &clear, &secret);
  json_object_object_foreach(secret, k, v) {
    (void)k;
    const char *s = json_object_get_string(v);
    if (json_object_is_type(v, json_type_string) && strlen(s) >= 4)
      wfc__log_secret(s);
  }
  json_object_put(clear);
  json_object_put(secret); /* the values are o->params' */
}

/* A form or none flow (wfc/plugin.h): no URL, no redirect listener;
 * authorize_complete runs at once with the params split into "params" and
 * "secrets" (form) or the params alone (none), and its outcome is stored
 * as a browser flow's (on_complete_done). The runtime validates params
 * and secrets together against the type's schema. */
static int form_start(op *o, wfc_conn_flow flow) {
  json_object *clear, *secret;
  wfc__connmgr_split_params(o->schema, o->params, &clear, &secret);
  json_object *in = json_object_new_object();
  json_object_object_add(in, "params", clear);
  if (flow == WFC_FLOW_FORM)
    json_object_object_add(in, "secrets", secret);
  else
    json_object_put(secret); /* none declares no secret (registry.c) */
  wfc_invoke how = {.size = sizeof how, .on_done = on_complete_done, .arg = o};
  int rc = wfc_runtime_conn_hook(
      o->m->rt, o->type_id, WFC_HOOK_AUTHORIZE_COMPLETE, in, &how, &o->call);
  /* The call shares in's strings until it is done: cleansed with the op. */
  o->hook_in = in;
  return rc;
}

static int has_field(const wfc_field *f, const char *name) {
  for (; f != NULL && f->name != NULL; f++)
    if (strcmp(f->name, name) == 0)
      return 1;
  return 0;
}

int wfc_connmgr_authorize(wfc_connmgr *m, const wfc_authorize_req *req) {
  /* allow_account_change was appended: an older caller's smaller struct
   * is accepted and reads as 0. */
  if (m == NULL || req == NULL ||
      req->size < offsetof(wfc_authorize_req, allow_account_change) ||
      req->on_done == NULL)
    return WFC_EINVAL;
  if (m->closing)
    return WFC_ESTATE;
  if (req->params != NULL &&
      !json_object_is_type(req->params, json_type_object))
    return WFC_EINVAL;
  op *o = wfc__connmgr_op_new(m, OP_AUTHORIZE, req->on_done, req->arg);
  if (o == NULL)
    return WFC_ENOMEM;
  o->on_url = req->on_url;
  o->allow_account_change =
      req->size >= offsetof(wfc_authorize_req, allow_account_change) +
                       sizeof req->allow_account_change &&
      req->allow_account_change;
  o->admin_consent = req->size >= offsetof(wfc_authorize_req, admin_consent) +
                                      sizeof req->admin_consent &&
                     req->admin_consent;
  if (o->admin_consent && req->reauthorize == NULL) {
    o->cb = NULL;
    wfc__connmgr_op_free(o);
    return WFC_EINVAL; /* an admin consent is for a connection's app */
  }
  int rc = 0;
  o->params = json_object_new_object();
  const wfc_conn_type_desc *ct = NULL;
  wfc_plugin *p = NULL;
  if (req->reauthorize != NULL) {
    wfc__conn_rec r;
    memset(&r, 0, sizeof r);
    entry *e;
    rc = wfc__connmgr_entry_get(m, req->reauthorize, &e, &r);
    if (rc != 0)
      goto fail;
    snprintf(o->reauth_id, sizeof o->reauth_id, "%s", r.id);
    snprintf(o->nickname, sizeof o->nickname, "%s", r.nickname);
    snprintf(o->plugin, sizeof o->plugin, "%s", r.plugin);
    snprintf(o->type, sizeof o->type, "%s", r.conn_type);
    snprintf(o->environment, sizeof o->environment, "%s", r.environment);
    snprintf(o->expect_account, sizeof o->expect_account, "%s", r.account);
    wfc__conn_rec_clear(&r);
    snprintf(o->type_id, sizeof o->type_id, "%s.%s", o->plugin, o->type);
    rc = wfc_runtime_find_conn_type(m->rt, o->type_id, &p, &ct);
    if (rc != 0)
      goto fail;
    /* Stored params (and sealed secret ones) first, then the caller's:
     * from a record that verifies only (they say where the code goes). */
    if ((rc = wfc__connmgr_entry_load(e, 1)) != 0)
      goto fail;
    json_object *hp = wfc__connmgr_entry_hook_params(e);
    json_object_put(o->params);
    o->params = hp;
    json_object *sealed = wfc__connmgr_entry_secrets(e);
    const char *key = wfc__json_str(sealed, "account_key");
    snprintf(o->expect_key, sizeof o->expect_key, "%s", key ? key : "");
    wfc__json_cleanse_put(sealed);
  } else {
    if (req->nickname == NULL || req->nickname[0] == '\0' ||
        strlen(req->nickname) >= sizeof o->nickname) {
      rc = WFC_EINVAL;
      goto fail;
    }
    if (req->conn_type != NULL) {
      rc = wfc_runtime_find_conn_type(m->rt, req->conn_type, &p, &ct);
    } else if (req->plugin != NULL) {
      p = wfc_runtime_find_plugin(m->rt, req->plugin);
      rc = p == NULL || wfc_plugin_conn_type_count(p) == 0 ? WFC_ENOTFOUND : 0;
      if (rc == 0)
        ct = wfc_plugin_conn_type(p, 0);
    } else {
      rc = WFC_EINVAL;
    }
    if (rc != 0)
      goto fail;
    snprintf(o->nickname, sizeof o->nickname, "%s", req->nickname);
    snprintf(o->plugin, sizeof o->plugin, "%s", wfc_plugin_name(p));
    snprintf(o->type, sizeof o->type, "%s", ct->id);
    snprintf(o->type_id, sizeof o->type_id, "%s.%s", o->plugin, o->type);
    /* Refuse a taken nickname before the user goes through the browser. */
    wfc__conn_rec r;
    memset(&r, 0, sizeof r);
    int grc = wfc__store_conn_get(m->st, req->nickname, &r);
    if (grc == 0 || grc == WFC_EKEY) {
      int same_owner = strcmp(r.owner, m->owner) == 0;
      wfc__conn_rec_clear(&r);
      if (same_owner) {
        rc = WFC_EEXIST;
        goto fail;
      }
    }
  }
  o->schema = ct->params;
  if (req->params != NULL) {
    json_object_object_foreach(req->params, k, v) {
      json_object_object_add(o->params, k, wfc__connmgr_json_copy(v));
    }
  }
  if (req->environment != NULL) {
    snprintf(o->environment, sizeof o->environment, "%s", req->environment);
    if (has_field(ct->params, "environment"))
      json_object_object_add(o->params, "environment",
                             json_object_new_string(req->environment));
  } else if (o->environment[0] == '\0') {
    const char *env = wfc__json_str(o->params, "environment");
    snprintf(o->environment, sizeof o->environment, "%s", env ? env : "");
  }
  secrets_redact(o);
  if (ct->flow != WFC_FLOW_BROWSER) {
    if (o->admin_consent) {
      /* Delivered like the plugin's "none" of a browser type. */
      wfc__connmgr_op_finish(
          o, WFC_ENOTSUP, NULL, NULL, NULL,
          "the connection type %s has no admin consent (its flow is "
          "%s: nobody signs in in a browser)",
          o->type_id, wfc_conn_flow_name(ct->flow));
      return 0;
    }
    rc = form_start(o, ct->flow);
    if (rc != 0)
      goto fail;
    return 0;
  }
  if (req->on_url == NULL) {
    rc = WFC_EINVAL; /* a browser flow has a URL to hand over */
    goto fail;
  }
  rc = wfc__redirect_start(m->loop, "/callback",
                           req->timeout_ms ? req->timeout_ms
                                           : m->redirect_timeout_ms,
                           on_redirect, o, &o->redirect);
  if (rc != 0)
    goto fail;
  json_object *in = json_object_new_object();
  json_object_object_add(in, "params", json_object_get(o->params));
  json_object_object_add(
      in, "redirect_uri",
      json_object_new_string(wfc__redirect_uri(o->redirect)));
  /* Reauthorizing: the identity provider is asked for the connection's
   * own account (the caller may name another). */
  const char *hint = req->login_hint;
  if (hint == NULL && o->expect_account[0] != '\0' && !o->admin_consent)
    hint = o->expect_account;
  if (hint != NULL)
    json_object_object_add(in, "login_hint", json_object_new_string(hint));
  if (req->prompt != NULL)
    json_object_object_add(in, "prompt", json_object_new_string(req->prompt));
  if (o->admin_consent)
    json_object_object_add(in, "admin_consent", json_object_new_boolean(1));
  wfc_invoke how = {.size = sizeof how, .on_done = on_begin_done, .arg = o};
  rc = wfc_runtime_conn_hook(m->rt, o->type_id, WFC_HOOK_AUTHORIZE_BEGIN, in,
                             &how, &o->call);
  json_object_put(in);
  if (rc != 0)
    goto fail;
  return 0;
fail:
  o->cb = NULL;
  wfc__connmgr_op_free(o);
  return rc;
}
