/* scen.h - the seed scenarios at the level a user sees: the real `wfc`
 * binary (build/bin/wfc), the real plugin (build/plugins/wfc-o365mail.so)
 * and a fresh m365-emulator per test, whose pages the test drives as a
 * browser (tests/emulator/identity_flow.h). Header only
 * (static helpers), shared by tests/scenarios and tests/security.
 *
 * The plugin is pointed at the emulator only through the environment
 * (O365MAIL_AUTHORITY_URL, O365MAIL_GRAPH_URL, O365MAIL_*_CLIENT_ID,
 * O365MAIL_PRODUCTION_CLIENT_SECRET), inherited by every `wfc` child, so
 * the flows are those of any server speaking Microsoft's paths.
 *
 * What is not bound to this file's emulator (running `wfc`, the state and
 * remedy checks, the return to the CLI's listener, the approval pages and
 * the portal's review) is tests/support/wfc_user.h, shared with
 * tests/conn/test_emulator.c; sc_* wrap it with this file's user. */
#ifndef SCEN_H
#define SCEN_H

#include <stddef.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../emulator/identity_flow.h"
#include "wfc_user.h"

#define SC_FN static __attribute__((unused))

/* The user of `wfc`: store directory, CLI and plugin paths. */
static wuser sc_u;
#define sc_dir   (sc_u.dir)
#define sc_store (sc_u.store)
/* Optional sink of every CLI output (the security tests grep them all). */
#define sc_on_output (sc_u.on_output)
/* CA bundle the test's browser trusts (the emulator over TLS); "" none. */
static char sc_ca[256];

/* A fresh emulator (built-in tenant, or doc when not NULL; borrowed) and a
 * fresh store directory; the plugin's environment points at the emulator. */
SC_FN int sc_up_args(json_object *doc, const char *const *extra) {
  if (wuser_init(&sc_u, "scen") != 0)
    return -1;
  curl_global_init(CURL_GLOBAL_DEFAULT);
  emu = doc ? emu_proc_start_doc(doc, extra) : emu_proc_start(NULL, extra);
  if (emu == NULL)
    return -1;
  char graph[256];
  snprintf(graph, sizeof graph, "%s/v1.0", base());
  setenv("O365MAIL_AUTHORITY_URL", base(), 1);
  setenv("O365MAIL_GRAPH_URL", graph, 1);
  /* The emulator's admin portal page of an app (its Entra stand-in). */
  char portal[256];
  snprintf(portal, sizeof portal, "%s/__emulator/portal/apps/{client_id}",
           base());
  setenv("O365MAIL_PORTAL_URL", portal, 1);
  setenv("O365MAIL_PREVIEW_CLIENT_ID", PREVIEW, 1);
  setenv("O365MAIL_PRODUCTION_CLIENT_ID", PROD, 1);
  setenv("O365MAIL_PRODUCTION_CLIENT_SECRET", PROD_SECRET, 1);
  return 0;
}

SC_FN int sc_up(void **state) {
  (void)state;
  return sc_up_args(NULL, NULL);
}

/* A browser: a cookie jar, trusting sc_ca when set. */
SC_FN tclient *sc_browser(void) {
  tclient *b = tclient_new(1);
  if (sc_ca[0] != '\0')
    tclient_set_ca(b, sc_ca);
  return b;
}

SC_FN int sc_down(void **state) {
  int rc = emu_teardown(state);
  if (wuser_cleanup(&sc_u) != 0)
    rc = -1;
  curl_global_cleanup();
  return rc;
}

/* Starts `wfc ARGS --store S --plugin-dir D` with stdout/stderr on pipes. */
SC_FN void sc_spawn(wproc *p, const char *const *args) {
  wuser_spawn(&sc_u, p, args);
}

/* Waits for the command; returns its exit code (no token in its outputs:
 * wuser_finish). */
SC_FN int sc_finish(wproc *p) {
  return wuser_finish(&sc_u, p);
}

SC_FN int sc_wfc(wproc *p, const char *const *args) {
  return wuser_run(&sc_u, p, args);
}

/* The URL (first stdout line) of an authorizing command. */
SC_FN void sc_read_url(wproc *p, char *url, size_t len) {
  wuser_read_url(p, getenv("O365MAIL_AUTHORITY_URL"), url, len);
}

/* `wfc connection new` for nickname in env ("preview" / "production"). */
SC_FN void sc_new(wproc *p, const char *nickname, const char *env, char *url,
                  size_t len) {
  const char *const args[] = {
      "connection",  "new",    "--plugin", "o365mail", "--nickname",
      nickname,      "--env",  env,        "--tenant", TENANT_DOMAIN,
      "--print-url", "--json", NULL};
  sc_spawn(p, args);
  sc_read_url(p, url, len);
}

SC_FN void sc_reauth(wproc *p, const char *nickname, char *url, size_t len) {
  const char *const args[] = {"connection",  "reauthorize", nickname,
                              "--print-url", "--json",      NULL};
  sc_spawn(p, args);
  sc_read_url(p, url, len);
}

/* The browser follows r's redirect to the CLI's loopback listener; returns
 * the status of the listener's page. */
SC_FN long sc_to_listener(const tresp *r) {
  return wuser_to_listener(r);
}

/* GET url in browser b and sign in as upn when the sign-in page shows;
 * out is the page (or redirect) that follows. */
SC_FN void sc_open(tclient *b, const char *url, const char *upn, const char *pw,
                   tresp *out) {
  tresp page;
  get(b, url, &page);
  if (is_page(&page, "signin")) {
    sign_in(b, &page, upn, pw, out);
    tresp_free(&page);
  } else {
    *out = page;
  }
}

/* The JSON result printed after the URL by an authorizing --json command
 * (new reference). */
SC_FN json_object *sc_result(const wproc *p) {
  return wuser_result(p);
}

/* `wfc connection show NAME --json` (new reference). */
SC_FN json_object *sc_show(const char *nickname) {
  return wuser_show(&sc_u, nickname);
}

/* Asserts state and remedy of a stored connection, in `wfc connection
 * show` and `list`, text and --json: remedy NULL means none, else a
 * substring the remedy must contain. Copies the id into id (may be NULL). */
SC_FN void sc_expect(const char *nickname, const char *state,
                     const char *remedy, char *id, size_t idlen) {
  wuser_expect(&sc_u, nickname, state, remedy, id, idlen);
}

/* `wfc connection test NAME`: exit code. */
SC_FN int sc_test(const char *nickname) {
  wproc p;
  const char *const args[] = {"connection", "test", nickname, NULL};
  return sc_wfc(&p, args);
}

/* `wfc card run CARD --connection NAME --input JSON`: exit code; the
 * process (outputs) in p. */
SC_FN int sc_card(wproc *p, const char *card, const char *nickname,
                  const char *input) {
  const char *const args[] = {"card",
                              "run",
                              card,
                              "--connection",
                              nickname,
                              "--input",
                              input ? input : "{}",
                              NULL};
  return sc_wfc(p, args);
}

/* The card every scenario uses as its Graph call: list_folders. */
SC_FN int sc_list_folders(const char *nickname) {
  wproc p;
  return sc_card(&p, "list_folders", nickname, "{}");
}

/* Requests the emulator answered (any status) on the routes that start
 * with prefix, or when prefix is NULL that contain part. */
SC_FN long sc_route_requests(const char *prefix, const char *part) {
  json_object *s = admin("GET", "/__emulator/stats", NULL, 200), *routes;
  long n = 0;
  assert_true(json_object_object_get_ex(s, "routes", &routes));
  for (size_t i = 0; i < json_object_array_length(routes); i++) {
    json_object *r = json_object_array_get_idx(routes, i);
    const char *route = jstr(r, "route");
    if (route != NULL && (prefix ? strncmp(route, prefix, strlen(prefix)) == 0
                                 : strstr(route, part) != NULL))
      n += (long)jint(r, "total");
  }
  json_object_put(s);
  return n;
}

/* Requests the emulator answered on the token endpoint (any status). */
SC_FN long sc_token_requests(void) {
  return sc_route_requests(NULL, "/oauth2/v2.0/token");
}

/* How many messages upn has sent, by the emulator's record. */
SC_FN long sc_sent_count(const char *upn) {
  char path[128];
  snprintf(path, sizeof path, "/__emulator/mail/%s/sent", upn);
  json_object *j = admin("GET", path, NULL, 200);
  long n = (long)jint(j, "count");
  json_object_put(j);
  return n;
}

/* The emulator's identity counter name (codesIssued, tokensIssued,
 * refreshes, refreshFailures). */
SC_FN long sc_identity_counter(const char *name) {
  json_object *j = admin("GET", "/__emulator/identity", NULL, 200), *v;
  long n = -1;
  if (json_object_object_get_ex(j, name, &v) ||
      (json_object_object_get_ex(j, "stats", &v) &&
       json_object_object_get_ex(v, name, &v)))
    n = (long)json_object_get_int64(v);
  json_object_put(j);
  return n;
}

/* Full successful connect of nickname as upn: consent page accepted when
 * shown (org: with the checkbox); want_consent_page 1/0 asserts whether it
 * was shown, -1 does not care. Asserts connected, no remedy, the card
 * works. Returns nothing; id copied when not NULL. */
SC_FN void sc_connect(const char *nickname, const char *env, const char *upn,
                      const char *pw, int org, int want_consent_page, char *id,
                      size_t idlen) {
  wproc p;
  char url[4096];
  sc_new(&p, nickname, env, url, sizeof url);
  tclient *b = sc_browser();
  tresp after, done;
  sc_open(b, url, upn, pw, &after);
  int shown = is_page(&after, "consent");
  if (want_consent_page >= 0)
    assert_int_equal(shown, want_consent_page);
  long st;
  if (shown) {
    consent(b, &after, 1, org, &done);
    st = sc_to_listener(&done);
    tresp_free(&done);
  } else {
    st = sc_to_listener(&after);
  }
  tresp_free(&after);
  tclient_free(b);
  assert_int_equal(sc_finish(&p), 0);
  assert_int_equal(st, 200);
  json_object *res = sc_result(&p);
  assert_string_equal(jstr(res, "outcome"), "connected");
  json_object_put(res);
  sc_expect(nickname, "connected", NULL, id, idlen);
  assert_int_equal(sc_list_folders(nickname), 0);
}

/* Starts a connect of nickname as upn and returns after sign-in: the page
 * the user sees is in *page (free it), the browser in *b, the process in p.
 */
SC_FN void sc_begin(wproc *p, const char *nickname, const char *env,
                    const char *upn, const char *pw, tclient **b, tresp *page) {
  char url[4096];
  sc_new(p, nickname, env, url, sizeof url);
  *b = sc_browser();
  sc_open(*b, url, upn, pw, page);
}

/* Starts `wfc connection reauthorize NAME` as upn and returns after
 * sign-in, as sc_begin. */
SC_FN void sc_begin_reauth(wproc *p, const char *nickname, const char *upn,
                           const char *pw, tclient **b, tresp *page) {
  char url[4096];
  sc_reauth(p, nickname, url, sizeof url);
  *b = sc_browser();
  sc_open(*b, url, upn, pw, page);
}

/* Reauthorizes nickname as upn where consent is given already: no consent
 * page, connected with the same id (want_id) and nickname, and
 * list_folders works. */
SC_FN void sc_reauth_ok(const char *nickname, const char *upn, const char *pw,
                        const char *want_id) {
  wproc p;
  tclient *b;
  tresp page;
  char id[64];
  sc_begin_reauth(&p, nickname, upn, pw, &b, &page);
  assert_false(is_page(&page, "consent"));
  assert_int_equal(sc_to_listener(&page), 200);
  tresp_free(&page), tclient_free(b);
  assert_int_equal(sc_finish(&p), 0);
  json_object *res = sc_result(&p), *c;
  assert_string_equal(jstr(res, "outcome"), "connected");
  assert_true(json_object_object_get_ex(res, "connection", &c));
  assert_string_equal(jstr(c, "id"), want_id);
  assert_string_equal(jstr(c, "nickname"), nickname);
  json_object_put(res);
  sc_expect(nickname, "connected", NULL, id, sizeof id);
  assert_string_equal(id, want_id);
  assert_int_equal(sc_list_folders(nickname), 0);
}

/* The user meets "Need admin approval" and returns to the app: the
 * connection is kept as needs_admin_approval with the admin consent URL
 * as remedy (for the app client_id). */
SC_FN void sc_need_approval(wproc *p, tclient *b, tresp *page,
                            const char *nickname, const char *client_id) {
  assert_int_equal(page->status, 200);
  assert_non_null(strstr(page->body, "Need admin approval"));
  assert_false(is_page(page, "consent"));
  long st = wuser_return_to_app(b, base(), page);
  tresp_free(page);
  tclient_free(b);
  assert_int_equal(sc_finish(p), 1);
  assert_int_equal(st, 400);
  json_object *res = sc_result(p);
  assert_string_equal(jstr(res, "outcome"), "needs_admin_approval");
  json_object_put(res);
  char want[256];
  /* The admin portal's page of the app: it works whenever it is opened
   * (an admin consent URL would redirect to wfc's ended listener). */
  snprintf(want, sizeof want, "/__emulator/portal/apps/%s ", client_id);
  sc_expect(nickname, "needs_admin_approval", want, NULL, 0);
  sc_expect(nickname, "needs_admin_approval",
            "Ask an administrator to grant consent: ", NULL, 0);
  /* Not usable: a card fails at once, without a Graph call. */
  assert_int_not_equal(sc_list_folders(nickname), 0);
}

#endif /* SCEN_H */
