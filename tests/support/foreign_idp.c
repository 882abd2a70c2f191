/* foreign_idp.c - see foreign_idp.h. */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "browser.h"
#include "foreign_idp.h"
#include "tclient.h"

static const char *env_or(const char *name, const char *dflt) {
  const char *v = getenv(name);
  return v && *v ? v : dflt;
}

int fidp_start(fidp *p) {
  memset(p, 0, sizeof *p);
  p->tenant = env_or("FOREIGN_TENANT", "fabrikam.example");
  p->client_id =
      env_or("FOREIGN_CLIENT_ID", "0c9f6a2e-4b1d-4e7a-9c3f-f0reign0app1");
  p->user = env_or("FOREIGN_USER", "ann@fabrikam.example");
  p->password = env_or("FOREIGN_PASSWORD", "Ann-Passw0rd!");
  p->authority = getenv("FOREIGN_AUTHORITY_URL");
  if (strcmp(env_or("FOREIGN_IDP", ""), "emulator") == 0) {
    /* The emulator's built-in tenant (examples/tenant.json). */
    p->kind = FIDP_EMULATOR;
    p->name = "emulator";
    p->tenant = "contoso.test";
    p->client_id = "5e3b7c1a-9d2f-4b6e-a8c4-1f0d2e3c4b5a";
    p->user = "alice@contoso.test";
    p->password = "Alice-Passw0rd!";
    if ((p->proc = emu_proc_start(NULL, NULL)) == NULL)
      return -1;
    p->authority = emu_proc_url(p->proc);
  } else if (p->authority != NULL && *p->authority != '\0') {
    p->kind = FIDP_EXTERNAL;
    p->name = "external";
  } else {
    p->kind = FIDP_OIDC_PROVIDER;
    p->name = "oidc-provider";
    const char *src = env_or("WFC_SOURCE_DIR", WFC_SOURCE_DIR);
    char script[1024], modules[1024];
    snprintf(script, sizeof script, "%s/tests/foreign-idp/idp.mjs", src);
    snprintf(modules, sizeof modules,
             "%s/tests/foreign-idp/node_modules/oidc-provider", src);
    struct stat st;
    if (stat(modules, &st) != 0) {
      fprintf(stderr, "oidc-provider is not installed in tests/foreign-idp: "
                      "run scripts/install-deps (npm ci there)\n");
      return -1;
    }
    const char *const cmd[] = {"node",
                               script,
                               "--tenant",
                               p->tenant,
                               "--client-id",
                               p->client_id,
                               "--redirect-uri",
                               "http://127.0.0.1/callback",
                               "--user",
                               p->user,
                               "--password",
                               p->password,
                               "--name",
                               "Ann Archer",
                               NULL};
    if ((p->proc = emu_proc_start_cmd(cmd, "/__idp/stats")) == NULL)
      return -1;
    p->authority = emu_proc_url(p->proc);
  }
  snprintf(p->graph_buf, sizeof p->graph_buf, "%s/v1.0", p->authority);
  p->graph = env_or("FOREIGN_GRAPH_URL", p->graph_buf);
  setenv("O365MAIL_AUTHORITY_URL", p->authority, 1);
  setenv("O365MAIL_GRAPH_URL", p->graph, 1);
  setenv("O365MAIL_PREVIEW_CLIENT_ID", p->client_id, 1);
  unsetenv("O365MAIL_PREVIEW_CLIENT_SECRET");
  return 0;
}

int fidp_stop(fidp *p) {
  int rc = p->proc != NULL ? emu_proc_stop(p->proc) : 0;
  p->proc = NULL;
  return rc;
}

/* GET path on the provider (its admin API): the JSON answer (new
 * reference), asserted. */
static json_object *admin_get(const fidp *p, const char *path) {
  char url[512];
  snprintf(url, sizeof url, "%s%s", p->authority, path);
  tclient *c = tclient_new(0);
  tresp r;
  assert_int_equal(tclient_request(c, "GET", url, NULL, NULL, &r), 0);
  assert_int_equal(r.status, 200);
  json_object *j = tresp_json(&r);
  assert_non_null(j);
  tresp_free(&r);
  tclient_free(c);
  return j;
}

static long jint(json_object *o, const char *key) {
  json_object *v = NULL;
  if (!json_object_object_get_ex(o, key, &v))
    fail_msg("the provider's counters lack \"%s\"", key);
  return (long)json_object_get_int64(v);
}

long fidp_token_requests(const fidp *p) {
  if (p->kind != FIDP_OIDC_PROVIDER)
    return -1;
  json_object *j = admin_get(p, "/__idp/stats");
  long n = jint(j, "token_requests");
  json_object_put(j);
  return n;
}

long fidp_refreshes(const fidp *p) {
  long n = -1;
  json_object *j = NULL;
  if (p->kind == FIDP_OIDC_PROVIDER) {
    j = admin_get(p, "/__idp/stats");
    n = jint(j, "refreshes");
  } else if (p->kind == FIDP_EMULATOR) {
    j = admin_get(p, "/__emulator/identity");
    json_object *st = json_object_object_get(j, "stats");
    n = jint(st, "refreshes") + jint(st, "refreshFailures");
  }
  json_object_put(j);
  return n;
}

void fidp_wfc_connect(const fidp *p, const wuser *u, const char *nickname,
                      const char *reauth) {
  wproc *w = calloc(1, sizeof *w);
  assert_non_null(w);
  /* The login hint names the user, so wfc does not ask for
   * prompt=select_account, which oidc-provider does not support (it answers
   * "unsupported prompt value requested"). */
  const char *const fresh[] = {
      "connection",  "new",       "--plugin",     "o365mail",
      "--nickname",  nickname,    "--env",        "preview",
      "--tenant",    p->tenant,   "--login-hint", p->user,
      "--print-url", "--timeout", "60",           NULL};
  const char *const again[] = {"connection", "reauthorize", reauth,
                               "--print-url", NULL};
  wuser_spawn(u, w, reauth != NULL ? again : fresh);
  char url[4096];
  wuser_read_url(w, p->authority, url, sizeof url);

  /* The browser, then the provider's redirect to wfc's loopback listener
   * (a port the provider never saw registered: RFC 8252 7.3). */
  tclient *b = tclient_new(1);
  browser_user who = {p->user, p->password, 0};
  char *loc = NULL, *redirect = tclient_url_param(url, "redirect_uri");
  assert_non_null(redirect);
  assert_true(strncmp(redirect, "http://127.0.0.1:", 17) == 0);
  assert_int_equal(browser_authorize(b, url, redirect, &who, &loc, NULL), 0);
  free(redirect);
  tresp page;
  assert_int_equal(tclient_request(b, "GET", loc, NULL, NULL, &page), 0);
  assert_int_equal(page.status, 200);
  tresp_free(&page);
  free(loc);
  tclient_free(b);
  if (wuser_finish(u, w) != 0)
    fail_msg("connect %s: exit %d\n%s\n%s", nickname, w->code, w->stdout_,
             w->stderr_);
  char want[256];
  snprintf(want, sizeof want, "connected: \"%s\" as %s", nickname, p->user);
  if (strstr(w->stdout_, want) == NULL)
    fail_msg("connect %s: no \"%s\" in:\n%s", nickname, want, w->stdout_);
  free(w);
}
