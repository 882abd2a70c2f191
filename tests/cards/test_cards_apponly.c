/* test_cards_apponly.c - app-only connections (type o365mail_app: client
 * credentials with a client secret or a certificate) end to end: the real
 * wfc-o365mail.so in the runtime against a real m365-emulator, connected as
 * a form flow does (authorize_complete with params and secrets), cards and
 * the new_email trigger on several mailboxes with one connection, the
 * tenant's application access policy, and each refusal with its remedy.
 * The certificates are made here with OpenSSL (RSA 2048, self-signed). */
#define _DEFAULT_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <uv.h>

#include "cards_test.h"
#include "tclient.h"
#include "tcert.h"

#define DAEMON        "7d1f6a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
#define DAEMON_SECRET "daemon-Secret-1"

/* ---- certificates ------------------------------------------------------ */

/* A JSON string literal of s (malloc'd), for building inputs. */
static char *jq(const char *s) {
  json_object *o = json_object_new_string(s);
  char *out = strdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
  json_object_put(o);
  return out;
}

/* Registers cert (PEM) on the daemon app (portal: Certificates & secrets). */
static void register_cert(const char *cert) {
  char *q = jq(cert);
  char body[8192];
  snprintf(body, sizeof body, "{\"type\":\"certificate\",\"certificate\":%s}",
           q);
  free(q);
  long st = 0;
  json_object_put(o365_fixture_admin(
      fx, "POST", "/__emulator/apps/" DAEMON "/credentials", body, &st));
  assert_int_equal(st, 201);
}

/* Submits form form_id of page (its ctx plus k1=v1, k2=v2) with browser
 * b; the answer into out. */
static void submit(tclient *b, const tresp *page, const char *form_id,
                   const char *k1, const char *v1, const char *k2,
                   const char *v2, tresp *out) {
  char marker[64];
  snprintf(marker, sizeof marker, "id=\"%s\"", form_id);
  char *action = tclient_html_attr(page->body, marker, "action");
  char *ctx = tclient_html_attr(page->body, "name=\"ctx\"", "value");
  if (action == NULL || ctx == NULL)
    fprintf(stderr, "no form %s in (%ld):\n%s\n", form_id, page->status,
            page->body);
  assert_non_null(action);
  assert_non_null(ctx);
  char *form = tclient_form("ctx", ctx, k1, v1, k2, v2, NULL);
  char url[2048];
  snprintf(url, sizeof url, "%s%s", o365_fixture_url(fx), action);
  static const char *const hdr[] = {
      "Content-Type: application/x-www-form-urlencoded", NULL};
  assert_int_equal(tclient_request(b, "POST", url, hdr, form, out), 0);
  free(form);
  free(action);
  free(ctx);
}

/* The tenant's administrator opens url (the remedy's admin consent URL),
 * signs in and accepts: the browser ends on the app's redirect URI with
 * admin_consent=True. */
static void administrator_consents(const char *url) {
  tclient *b = tclient_new(1);
  tresp r1 = {0}, r2 = {0}, r3 = {0}, r4 = {0};
  assert_int_equal(tclient_request(b, "GET", url, NULL, NULL, &r1), 0);
  assert_int_equal(r1.status, 302);
  const char *loc = tresp_header(&r1, "Location");
  assert_non_null(loc);
  ct_says(loc, "/v2.0/adminconsent?client_id=" DAEMON);
  char next[2048];
  snprintf(next, sizeof next, "%s%s", loc[0] == '/' ? o365_fixture_url(fx) : "",
           loc);
  assert_int_equal(tclient_request(b, "GET", next, NULL, NULL, &r2), 0);
  submit(b, &r2, "signin", "login", "admin@contoso.test", "passwd",
         "Admin-Passw0rd!", &r3);
  if (r3.status != 302)
    submit(b, &r3, "consent", "action", "accept", NULL, NULL, &r4);
  const tresp *last = r3.status == 302 ? &r3 : &r4;
  assert_int_equal(last->status, 302);
  ct_says(tresp_header(last, "Location"), "admin_consent=True");
  tresp_free(&r1);
  tresp_free(&r2);
  tresp_free(&r3);
  tresp_free(&r4);
  tclient_free(b);
}

/* ---- connections ----------------------------------------------------- */

/* Connects by secret (mailbox: the connection's default, or NULL); the
 * outcome must be state. Returns the connection when connected. */
static wfc_conn *connect_secret(const char *secret, const char *mailbox,
                                const char *state, o365_outcome *o) {
  char params[512], secrets[256];
  snprintf(params, sizeof params,
           "{\"tenant\":\"contoso.test\",\"client_id\":\"" DAEMON
           "\",\"auth_method\":\"secret\"%s%s%s}",
           mailbox ? ",\"mailbox\":\"" : "", mailbox ? mailbox : "",
           mailbox ? "\"" : "");
  snprintf(secrets, sizeof secrets, "{\"client_secret\":\"%s\"}", secret);
  wfc_conn *c = o365_fixture_connect_app(fx, params, secrets, o);
  const char *got = o->output ? jstr(o->output, "state") : NULL;
  if (got == NULL || strcmp(got, state) != 0)
    fprintf(stderr, "connect: %d %s %s\n", o->status, o->message,
            o->output ? json_object_to_json_string(o->output) : "");
  assert_non_null(got);
  assert_string_equal(got, state);
  return c;
}

/* Connects by certificate; o gets the outcome, whatever it is. */
static wfc_conn *connect_cert_raw(const tcert *p, o365_outcome *o) {
  char *cert = jq(p->cert), *key = jq(p->key);
  char params[8192], secrets[8192];
  snprintf(params, sizeof params,
           "{\"tenant\":\"contoso.test\",\"client_id\":\"" DAEMON
           "\",\"auth_method\":\"certificate\",\"certificate\":%s}",
           cert);
  snprintf(secrets, sizeof secrets, "{\"private_key\":%s}", key);
  free(cert);
  free(key);
  return o365_fixture_connect_app(fx, params, secrets, o);
}

static wfc_conn *connect_cert(const tcert *p, const char *state,
                              o365_outcome *o) {
  wfc_conn *c = connect_cert_raw(p, o);
  const char *got = o->output ? jstr(o->output, "state") : NULL;
  if (got == NULL || strcmp(got, state) != 0)
    fprintf(stderr, "connect: %d %s %s\n", o->status, o->message,
            o->output ? json_object_to_json_string(o->output) : "");
  assert_non_null(got);
  assert_string_equal(got, state);
  return c;
}

static const char *remedy(const o365_outcome *o) {
  return jstr(o->output, "remedy");
}

/* ---- set-up ------------------------------------------------------------ */

static wfc_conn *app; /* a secret connection without a default mailbox */

static int setup(void **state) {
  (void)state;
  return ct_up_daemon(DAEMON, DAEMON_SECRET,
                      "\"requiredPermissions\":[\"User.Read\"],");
}

/* ---- tests -------------------------------------------------------------- */

/* Before an administrator consents to the application permissions, the
 * credentials are good but the token holds no mail role: the connection is
 * needs_admin_approval with the admin consent URL. After consent: connected. */
static void admin_consent_needed_then_connected(void **state) {
  (void)state;
  o365_outcome o;
  assert_null(connect_secret(DAEMON_SECRET, NULL, "needs_admin_approval", &o));
  ct_says(remedy(&o), "has not consented to the app's application "
                      "permissions (Mail.ReadWrite, Mail.Send)");
  ct_says(remedy(&o), "/contoso.test/adminconsent?client_id=" DAEMON);
  char *url = strdup(jstr(jget(o.output, "detail"), "admin_consent_url"));
  o365_outcome_free(&o);

  /* The administrator follows the remedy. */
  administrator_consents(url);
  free(url);
  app = connect_secret(DAEMON_SECRET, NULL, "connected", &o);
  assert_non_null(app);
  assert_string_equal(jstr(o.output, "account"),
                      "Mail Automation (daemon) (app-only)");
  json_object *cr = jget(o.output, "credentials");
  assert_non_null(jstr(cr, "access_token"));
  assert_null(jstr(cr, "refresh_token"));
  assert_true(jnum(cr, "expires_at") > 0);
  o365_outcome_free(&o);
}

/* One connection, two mailboxes: send_email as alice and as carol, search
 * each inbox; every path is users/{mailbox}. */
static void cards_on_two_mailboxes(void **state) {
  (void)state;
  o365_fixture_use(fx, app);
  long alice_sent = o365_fixture_sent_count(fx, "alice@contoso.test");
  long carol_sent = o365_fixture_sent_count(fx, "carol@contoso.test");
  o365_outcome o;
  run_ok("send_email",
         "{\"mailbox\":\"alice@contoso.test\",\"to\":[\"bob@contoso.test\"],"
         "\"subject\":\"app-only from alice\",\"body\":\"hi\"}",
         &o);
  o365_outcome_free(&o);
  run_ok("send_email",
         "{\"mailbox\":\"carol@contoso.test\",\"to\":[\"bob@contoso.test\"],"
         "\"subject\":\"app-only from carol\",\"body\":\"hi\"}",
         &o);
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_sent_count(fx, "alice@contoso.test"),
                   alice_sent + 1);
  assert_int_equal(o365_fixture_sent_count(fx, "carol@contoso.test"),
                   carol_sent + 1);
  assert_int_equal(o365_fixture_route_count(fx, "POST", "/v1.0/me/sendMail"),
                   0);

  json_object *m =
      ct_message("bob@contoso.test", "inbox", "app-only from alice", NULL);
  assert_non_null(m);
  json_object *from = jget(jget(m, "from"), "emailAddress");
  assert_string_equal(jstr(from, "address"), "alice@contoso.test");
  json_object_put(m);

  run_ok("search_emails",
         "{\"mailbox\":\"bob@contoso.test\",\"folder\":\"inbox\","
         "\"subject\":\"app-only from\"}",
         &o);
  assert_int_equal(jnum(o.output, "count"), 2);
  o365_outcome_free(&o);
  run_ok("search_emails",
         "{\"mailbox\":\"carol@contoso.test\",\"folder\":\"sentitems\","
         "\"subject\":\"app-only from carol\"}",
         &o);
  assert_int_equal(jnum(o.output, "count"), 1);
  o365_outcome_free(&o);
}

/* The connection's "mailbox" parameter is the default of every card. */
static void default_mailbox_param(void **state) {
  (void)state;
  o365_outcome o;
  wfc_conn *c =
      connect_secret(DAEMON_SECRET, "carol@contoso.test", "connected", &o);
  o365_outcome_free(&o);
  assert_non_null(c);
  assert_int_equal(o365_fixture_run_on(fx, c, "send_email",
                                       "{\"to\":[\"bob@contoso.test\"],"
                                       "\"subject\":\"default mailbox\","
                                       "\"body\":\"x\"}",
                                       &o),
                   0);
  o365_outcome_free(&o);
  assert_int_equal(
      ct_count("carol@contoso.test", "sentitems", "default mailbox"), 1);
  /* The card's input wins over the default. */
  assert_int_equal(o365_fixture_run_on(fx, c, "search_emails",
                                       "{\"mailbox\":\"bob@contoso.test\","
                                       "\"folder\":\"inbox\","
                                       "\"subject\":\"default mailbox\"}",
                                       &o),
                   0);
  assert_int_equal(jnum(o.output, "count"), 1);
  o365_outcome_free(&o);
}

/* A card on an app-only connection without any mailbox fails before any
 * request, naming the "mailbox" input. */
static void no_mailbox_names_the_field(void **state) {
  (void)state;
  o365_fixture_use(fx, app);
  long before = o365_fixture_graph_requests(fx);
  o365_outcome o;
  int rc = o365_fixture_run(fx, "send_email",
                            "{\"to\":[\"bob@contoso.test\"],\"subject\":"
                            "\"x\",\"body\":\"x\"}",
                            &o);
  assert_int_equal(rc, WFC_EINVAL);
  ct_says(o.message, "app-only connection");
  ct_says(o.message, "\"mailbox\" input");
  assert_non_null(o.detail);
  assert_string_equal(jstr(o.detail, "field"), "mailbox");
  o365_outcome_free(&o);
  ct_refused("search_emails", "{\"folder\":\"inbox\"}", WFC_EINVAL,
             "\"mailbox\" input");
  ct_refused("list_folders", "{}", WFC_EINVAL, "\"mailbox\" input");
  assert_int_equal(o365_fixture_graph_requests(fx), before);
}

/* A certificate connection: the plugin signs an RS256 client assertion
 * (x5t#S256 of the certificate) that the emulator verifies against the
 * certificate registered on the app. */
static void certificate_connection(void **state) {
  (void)state;
  tcert p = tcert_make("mail-daemon", -60, 86400);
  register_cert(p.cert);
  o365_outcome o;
  wfc_conn *c = connect_cert(&p, "connected", &o);
  assert_non_null(c);
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_run_on(fx, c, "search_emails",
                                       "{\"mailbox\":\"bob@contoso.test\","
                                       "\"folder\":\"inbox\"}",
                                       &o),
                   0);
  o365_outcome_free(&o);
  /* The same key and certificate in one PEM (private_key alone). */
  char *both = malloc(strlen(p.key) + strlen(p.cert) + 1);
  strcpy(both, p.key);
  strcat(both, p.cert);
  char *q = jq(both);
  char secrets[8192];
  snprintf(secrets, sizeof secrets, "{\"private_key\":%s}", q);
  free(q);
  free(both);
  c = o365_fixture_connect_app(fx,
                               "{\"tenant\":\"contoso.test\",\"client_id\":"
                               "\"" DAEMON
                               "\",\"auth_method\":\"certificate\"}",
                               secrets, &o);
  assert_non_null(c);
  o365_outcome_free(&o);
  tcert_free(&p);
}

/* Refusals of the credentials, each with its remedy; nothing connected. */
static void refused_credentials_have_remedies(void **state) {
  (void)state;
  o365_outcome o;
  assert_null(connect_secret("not-the-secret", NULL, "error", &o));
  ct_says(remedy(&o), "AADSTS7000215");
  ct_says(remedy(&o), "secret's value (not its secret ID)");
  assert_string_equal(jstr(jget(o.output, "detail"), "code"), "AADSTS7000215");
  o365_outcome_free(&o);

  /* A secret that expires: good now, refused once it has expired. */
  long st = 0;
  json_object_put(o365_fixture_admin(fx, "POST",
                                     "/__emulator/apps/" DAEMON "/credentials",
                                     "{\"type\":\"secret\",\"secret\":\"short-"
                                     "lived\",\"expiresInSeconds\":60}",
                                     &st));
  assert_int_equal(st, 201);
  wfc_conn *c = connect_secret("short-lived", NULL, "connected", &o);
  assert_non_null(c);
  o365_outcome_free(&o);
  json_object_put(o365_fixture_admin(fx, "POST", "/__emulator/time/advance",
                                     "{\"seconds\":120}", &st));
  assert_null(connect_secret("short-lived", NULL, "error", &o));
  ct_says(remedy(&o), "has expired (AADSTS7000222)");
  o365_outcome_free(&o);

  /* An expired certificate, registered on the app. */
  tcert old = tcert_make("mail-daemon", -2 * 86400, -86400);
  register_cert(old.cert);
  assert_null(connect_cert(&old, "error", &o));
  ct_says(remedy(&o), "AADSTS1000502");
  ct_says(remedy(&o), "upload a new certificate");
  o365_outcome_free(&o);
  tcert_free(&old);

  /* A certificate the app does not know. */
  tcert stranger = tcert_make("mail-daemon", -60, 86400);
  assert_null(connect_cert(&stranger, "error", &o));
  ct_says(remedy(&o), "AADSTS700027");
  ct_says(remedy(&o), "upload its public part");
  o365_outcome_free(&o);

  /* A key that does not belong to the certificate: said before sending. */
  tcert other = tcert_make("mail-daemon", -60, 86400);
  free(other.cert);
  other.cert = strdup(stranger.cert);
  long tokens =
      o365_fixture_route_count(fx, "POST", "/{tenant}/oauth2/v2.0/token");
  assert_null(o365_fixture_connect_app(
      fx, "{\"tenant\":\"contoso.test\",\"client_id\":\"" DAEMON "\"}",
      "{\"private_key\":\"-----BEGIN PRIVATE KEY-----\\nAAAA\\n-----END "
      "PRIVATE KEY-----\\n\"}",
      &o));
  assert_int_equal(o.status, WFC_EINVAL);
  ct_says(o.message, "private_key");
  assert_string_equal(jstr(o.detail, "field"), "private_key");
  o365_outcome_free(&o);
  assert_null(connect_cert_raw(&other, &o));
  assert_int_equal(o.status, WFC_EINVAL);
  ct_says(o.message, "private_key does not belong to certificate");
  o365_outcome_free(&o);
  assert_int_equal(
      o365_fixture_route_count(fx, "POST", "/{tenant}/oauth2/v2.0/token"),
      tokens);
  tcert_free(&other);
  tcert_free(&stranger);
}

/* Graph refuses /me with an app-only token (400, "/me request is only valid
 * with delegated authentication flow."): the emulator as Graph does. */
static void me_refused_with_app_token(void **state) {
  (void)state;
  tclient *c = tclient_new(0);
  char url[512];
  snprintf(url, sizeof url, "%s/contoso.test/oauth2/v2.0/token",
           o365_fixture_url(fx));
  static const char *const form_hdr[] = {
      "Content-Type: application/x-www-form-urlencoded", NULL};
  char *form = tclient_form("grant_type", "client_credentials", "client_id",
                            DAEMON, "client_secret", DAEMON_SECRET, "scope",
                            "https://graph.microsoft.com/.default", NULL);
  tresp r = {0};
  assert_int_equal(tclient_request(c, "POST", url, form_hdr, form, &r), 0);
  free(form);
  assert_int_equal(r.status, 200);
  json_object *tok = json_tokener_parse(r.body);
  tresp_free(&r);
  char auth[4096];
  snprintf(auth, sizeof auth, "Authorization: Bearer %s",
           jstr(tok, "access_token"));
  json_object_put(tok);
  const char *hdr[] = {auth, NULL};
  static const char *const paths[] = {"/v1.0/me", "/v1.0/me/messages",
                                      "/v1.0/me/mailFolders/inbox", NULL};
  for (size_t i = 0; paths[i]; i++) {
    snprintf(url, sizeof url, "%s%s", o365_fixture_url(fx), paths[i]);
    assert_int_equal(tclient_request(c, "GET", url, hdr, NULL, &r), 0);
    assert_int_equal(r.status, 400);
    ct_says(r.body, "\"BadRequest\"");
    ct_says(r.body, "/me request is only valid with delegated authentication "
                    "flow.");
    tresp_free(&r);
  }
  /* The same token reads a named mailbox. */
  snprintf(url, sizeof url, "%s/v1.0/users/alice@contoso.test/messages",
           o365_fixture_url(fx));
  assert_int_equal(tclient_request(c, "GET", url, hdr, NULL, &r), 0);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
  tclient_free(c);
}

/* An application access policy (RestrictAccess to a group holding bob)
 * keeps the app out of alice's mailbox: 403 with words that say why and
 * what the administrator does; bob's still works. */
static void access_policy_refuses_other_mailboxes(void **state) {
  (void)state;
  o365_fixture_use(fx, app);
  long st = 0;
  json_object *pol = o365_fixture_admin(
      fx, "POST", "/__emulator/application-access-policies",
      "{\"appId\":\"" DAEMON "\",\"accessRight\":\"RestrictAccess\","
      "\"members\":[\"bob@contoso.test\"],\"description\":\"bob only\"}",
      &st);
  assert_int_equal(st, 201);
  char path[160];
  snprintf(path, sizeof path, "/__emulator/application-access-policies/%s",
           jstr(pol, "id"));
  o365_outcome o;
  int rc = o365_fixture_run(fx, "search_emails",
                            "{\"mailbox\":\"alice@contoso.test\","
                            "\"folder\":\"inbox\"}",
                            &o);
  assert_int_equal(rc, WFC_EDENIED);
  ct_says(o.message, "Blocked by tenant configured AppOnly AccessPolicy");
  ct_says(o.message, "application access policy");
  ct_says(o.message, "alice@contoso.test");
  ct_says(o.message, "an app-only connection needs the application "
                     "permissions");
  assert_null(strstr(o.message, "Full Access"));
  assert_string_equal(jstr(o.detail, "code"), "ErrorAccessDenied");
  o365_outcome_free(&o);
  run_ok("search_emails",
         "{\"mailbox\":\"bob@contoso.test\",\"folder\":\"inbox\"}", &o);
  o365_outcome_free(&o);
  json_object_put(o365_fixture_admin(fx, "DELETE", path, NULL, &st));
  assert_int_equal(st, 204);
  json_object_put(pol);
  run_ok("search_emails",
         "{\"mailbox\":\"alice@contoso.test\",\"folder\":\"inbox\"}", &o);
  o365_outcome_free(&o);
}

typedef struct poll_state {
  int done;
  int status;
  char message[512];
  json_object *output;
} poll_state;

static void on_poll(void *arg, wfc_call *call, const wfc_outcome *o) {
  (void)call;
  poll_state *p = arg;
  p->status = o->status;
  snprintf(p->message, sizeof p->message, "%s", o->message ? o->message : "");
  p->output = o->output ? json_object_get(o->output) : NULL;
  p->done = 1;
}

/* Runs the new_email trigger once on conn with input, from checkpoint
 * (NULL: the first poll); it must succeed. Returns the output {"events",
 * "checkpoint"} (new reference). */
static json_object *poll_new_email(wfc_conn *conn, const char *input,
                                   const char *checkpoint) {
  poll_state p = {0};
  json_object *in = json_tokener_parse(input);
  wfc_invoke how = {sizeof how, .conn = conn, .checkpoint = checkpoint,
                    .on_done = on_poll, .arg = &p};
  assert_int_equal(
      wfc_runtime_invoke(o365_fixture_runtime(fx), "new_email", in, &how, NULL),
      0);
  json_object_put(in);
  while (!p.done)
    uv_run(o365_fixture_loop(fx), UV_RUN_ONCE);
  if (p.status != 0)
    fprintf(stderr, "new_email: %d %s\n", p.status, p.message);
  assert_int_equal(p.status, 0);
  return p.output;
}

static void inject(const char *to, const char *subject) {
  char msg[512];
  snprintf(msg, sizeof msg,
           "{\"folder\":\"inbox\",\"subject\":\"%s\",\"from\":"
           "\"bob@contoso.test\",\"toRecipients\":[\"%s\"],\"body\":\"x\"}",
           subject, to);
  free(o365_fixture_inject(fx, to, msg));
}

/* The new_email trigger on two mailboxes with one app-only connection:
 * each watch has its own checkpoint and sees only its mailbox's mail. */
static void new_email_on_two_mailboxes(void **state) {
  (void)state;
  static const char in_alice[] =
      "{\"mailbox\":\"alice@contoso.test\",\"folder\":\"inbox\"}";
  static const char in_carol[] =
      "{\"mailbox\":\"carol@contoso.test\",\"folder\":\"inbox\"}";
  json_object *a = poll_new_email(app, in_alice, NULL);
  json_object *c = poll_new_email(app, in_carol, NULL);
  char *cp_a = strdup(jstr(a, "checkpoint")),
       *cp_c = strdup(jstr(c, "checkpoint"));
  json_object_put(a);
  json_object_put(c);
  inject("alice@contoso.test", "for alice 1");
  inject("carol@contoso.test", "for carol 1");
  inject("carol@contoso.test", "for carol 2");
  a = poll_new_email(app, in_alice, cp_a);
  c = poll_new_email(app, in_carol, cp_c);
  json_object *ea = jget(a, "events"), *ec = jget(c, "events");
  assert_int_equal(json_object_array_length(ea), 1);
  assert_string_equal(jstr(json_object_array_get_idx(ea, 0), "subject"),
                      "for alice 1");
  assert_int_equal(json_object_array_length(ec), 2);
  for (size_t i = 0; i < 2; i++)
    assert_non_null(
        strstr(jstr(json_object_array_get_idx(ec, i), "subject"), "for carol"));
  free(cp_a);
  free(cp_c);
  cp_a = strdup(jstr(a, "checkpoint"));
  json_object_put(a);
  json_object_put(c);
  /* Nothing new for alice: nothing delivered again. */
  a = poll_new_email(app, in_alice, cp_a);
  assert_int_equal(json_object_array_length(jget(a, "events")), 0);
  json_object_put(a);
  free(cp_a);
  assert_int_equal(o365_fixture_route_count(
                       fx, "GET", "/v1.0/me/mailFolders/{id}/messages/delta"),
                   0);
}

/* The access token expires (virtual time moves 2 h): the next card is
 * refused with 401, and the connection fetches a new token with the same
 * credentials (no refresh token: the client credentials grant again). */
static void expired_token_is_fetched_again(void **state) {
  (void)state;
  o365_fixture_use(fx, app);
  long st = 0;
  long tokens =
      o365_fixture_route_count(fx, "POST", "/{tenant}/oauth2/v2.0/token");
  json_object_put(o365_fixture_admin(fx, "POST", "/__emulator/time/advance",
                                     "{\"seconds\":7200}", &st));
  o365_outcome o;
  run_ok("search_emails",
         "{\"mailbox\":\"bob@contoso.test\",\"folder\":\"inbox\"}", &o);
  o365_outcome_free(&o);
  assert_int_equal(
      o365_fixture_route_count(fx, "POST", "/{tenant}/oauth2/v2.0/token"),
      tokens + 1);
}

/* An administrator disables the app (Enterprise applications > the app >
 * Properties > "Enabled for users to sign-in" = No): Microsoft answers
 * every token request with AADSTS7000112. A new connection is refused,
 * and a connected one whose token expired fails its cards, both naming
 * the app and the remedy; the connection stays connected, and once the
 * app is enabled again it works with the same credentials. */
static void disabled_app_named_then_works_again(void **state) {
  (void)state;
  o365_fixture_use(fx, app);
  long st = 0;
  json_object *g = o365_fixture_admin(
      fx, "POST", "/__emulator/apps/" DAEMON "/disable", NULL, &st);
  assert_int_equal(st, 200);
  json_object_put(g);

  o365_outcome o;
  assert_null(connect_secret(DAEMON_SECRET, NULL, "error", &o));
  ct_says(remedy(&o), "AADSTS7000112: Application '" DAEMON
                      "'(Mail Automation (daemon)) is disabled.");
  ct_says(remedy(&o), "Enterprise applications > the app > Properties > "
                      "\"Enabled for users to sign-in\" = Yes");
  assert_string_equal(jstr(jget(o.output, "detail"), "code"), "AADSTS7000112");
  o365_outcome_free(&o);

  /* The token of the connection expires: the next one is refused. */
  json_object_put(o365_fixture_admin(fx, "POST", "/__emulator/time/advance",
                                     "{\"seconds\":7200}", &st));
  int rc = o365_fixture_run(fx, "search_emails",
                            "{\"mailbox\":\"bob@contoso.test\"}", &o);
  assert_int_not_equal(rc, 0);
  assert_int_not_equal(rc, WFC_EREAUTH);
  ct_says(o.message, "AADSTS7000112");
  ct_says(o.message, "\"Enabled for users to sign-in\" = Yes");
  o365_outcome_free(&o);

  json_object_put(o365_fixture_admin(
      fx, "POST", "/__emulator/apps/" DAEMON "/enable", NULL, &st));
  assert_int_equal(st, 200);
  run_ok("search_emails", "{\"mailbox\":\"bob@contoso.test\"}", &o);
  o365_outcome_free(&o);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(admin_consent_needed_then_connected),
      cmocka_unit_test(cards_on_two_mailboxes),
      cmocka_unit_test(default_mailbox_param),
      cmocka_unit_test(no_mailbox_names_the_field),
      cmocka_unit_test(certificate_connection),
      cmocka_unit_test(me_refused_with_app_token),
      cmocka_unit_test(access_policy_refuses_other_mailboxes),
      cmocka_unit_test(new_email_on_two_mailboxes),
      cmocka_unit_test(expired_token_is_fetched_again),
      cmocka_unit_test(disabled_app_named_then_works_again),
      cmocka_unit_test(refused_credentials_have_remedies),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
