/* graph_test.h - helpers shared by tests/emulator/test_graph_*.c (header
 * only: each test file is its own executable).
 *
 * Tokens come from the emulator's real identity platform: tenant-wide admin
 * consent through the portal admin API, then the authorization code flow
 * with PKCE (sign-in form, code, token endpoint). */
#ifndef GRAPH_TEST_H
#define GRAPH_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "emu_proc.h"
#include "tclient.h"

#define GT_PREVIEW_APP "5e3b7c1a-9d2f-4b6e-a8c4-1f0d2e3c4b5a"
#define GT_ALL_SCOPES                                                          \
  "openid profile offline_access User.Read Mail.ReadWrite "                    \
  "Mail.ReadWrite.Shared Mail.Send Mail.Send.Shared MailboxSettings.ReadWrite"

typedef struct gt {
  emu_proc *e;
  tclient *c;
  char url[128];
} gt;

static inline char *gt_printf(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static inline char *gt_printf(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0)
    s = NULL;
  va_end(ap);
  return s;
}

/* Value of the hidden input "ctx" in a sign-in/consent page; malloc'd. */
static inline char *gt_form_ctx(const char *html) {
  const char *p = html ? strstr(html, "name=\"ctx\" value=\"") : NULL;
  if (!p)
    return NULL;
  p += strlen("name=\"ctx\" value=\"");
  const char *q = strchr(p, '"');
  return q ? strndup(p, (size_t)(q - p)) : NULL;
}

/* Access token for user/password with `scope` (space separated). The app
 * gets tenant-wide consent for `scope` first, so no consent page shows. */
static inline char *gt_token(gt *t, const char *user, const char *password,
                             const char *scope) {
  tclient *c = tclient_new(1); /* own cookie jar: a fresh browser */
  tresp r = {0};
  /* Portal: "Grant admin consent" for exactly these scopes. */
  json_object *body = json_object_new_object(), *arr = json_object_new_array();
  char *sc = strdup(scope), *save = NULL;
  for (char *s = strtok_r(sc, " ", &save); s; s = strtok_r(NULL, " ", &save))
    json_object_array_add(arr, json_object_new_string(s));
  free(sc);
  json_object_object_add(body, "scopes", arr);
  char *u =
      gt_printf("%s/__emulator/apps/%s/admin-consent", t->url, GT_PREVIEW_APP);
  tclient_json(c, "POST", u, body, &r);
  free(u);
  json_object_put(body);
  assert_true(r.status == 200 || r.status == 204);
  tresp_free(&r);

  const char *verifier =
      "gt-verifier-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ";
  char *esc_scope = tclient_escape(scope);
  u = gt_printf("%s/common/oauth2/v2.0/authorize?client_id=%s&response_type="
                "code&redirect_uri=http%%3A%%2F%%2Flocalhost&scope=%s&state="
                "st&code_challenge=%s&code_challenge_method=plain&prompt=login",
                t->url, GT_PREVIEW_APP, esc_scope, verifier);
  free(esc_scope);
  tclient_request(c, "GET", u, NULL, NULL, &r);
  free(u);
  assert_int_equal(r.status, 200);
  char *ctx = gt_form_ctx(r.body);
  assert_non_null(ctx);
  tresp_free(&r);
  char *form =
      tclient_form("ctx", ctx, "login", user, "passwd", password, NULL);
  free(ctx);
  const char *fh[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
  u = gt_printf("%s/common/login", t->url);
  tclient_request(c, "POST", u, fh, form, &r);
  free(u);
  free(form);
  if (r.status == 200 && strstr(r.body, "Consent/Set")) { /* consent page */
    ctx = gt_form_ctx(r.body);
    tresp_free(&r);
    form = tclient_form("ctx", ctx, "action", "accept", NULL);
    free(ctx);
    u = gt_printf("%s/common/Consent/Set", t->url);
    tclient_request(c, "POST", u, fh, form, &r);
    free(u);
    free(form);
  }
  assert_int_equal(r.status, 302);
  char *code = tclient_url_param(tresp_header(&r, "Location"), "code");
  assert_non_null(code);
  tresp_free(&r);
  form = tclient_form("grant_type", "authorization_code", "client_id",
                      GT_PREVIEW_APP, "code", code, "redirect_uri",
                      "http://localhost", "code_verifier", verifier, NULL);
  free(code);
  u = gt_printf("%s/common/oauth2/v2.0/token", t->url);
  tclient_request(c, "POST", u, fh, form, &r);
  free(u);
  free(form);
  assert_int_equal(r.status, 200);
  json_object *j = tresp_json(&r);
  json_object *at = NULL;
  assert_true(json_object_object_get_ex(j, "access_token", &at));
  char *tok = strdup(json_object_get_string(at));
  json_object_put(j);
  tresp_free(&r);
  tclient_free(c);
  return tok;
}

/* Starts the emulator with doc (NULL: examples/tenant.json). */
static inline void gt_start(gt *t, json_object *doc) {
  memset(t, 0, sizeof(*t));
  t->e = doc ? emu_proc_start_doc(doc, NULL) : emu_proc_start(NULL, NULL);
  assert_non_null(t->e);
  snprintf(t->url, sizeof(t->url), "%s", emu_proc_url(t->e));
  t->c = tclient_new(0);
}

static inline void gt_stop(gt *t) {
  tclient_free(t->c);
  assert_int_equal(emu_proc_stop(t->e), 0);
}

/* Each test file's emulator and client, and alice's access token with
 * GT_ALL_SCOPES (malloc'd; set by gt_up), which most files run as. */
static gt T;
static char *tok __attribute__((unused));

/* Starts T on doc (NULL: examples/tenant.json) and signs alice in. */
static inline void gt_up(json_object *doc) {
  gt_start(&T, doc);
  tok = gt_token(&T, "alice@contoso.test", "Alice-Passw0rd!", GT_ALL_SCOPES);
}

/* Group fixtures for the files that need nothing more than gt_up(NULL). */
static inline int gt_up_group(void **state) {
  (void)state;
  gt_up(NULL);
  return 0;
}

static inline int gt_down_group(void **state) {
  (void)state;
  free(tok);
  gt_stop(&T);
  return 0;
}

/* A Graph call: path is relative to the base URL ("/v1.0/me/messages") or
 * absolute (a nextLink). body: JSON text or NULL. extra: one more header or
 * NULL. Returns the status; *out (may be NULL) gets the parsed JSON body. */
static inline long gt_call(gt *t, const char *token, const char *method,
                           const char *path, const char *body,
                           const char *extra, json_object **out, tresp *raw) {
  char *url = strncmp(path, "http", 4) == 0 ? strdup(path)
                                            : gt_printf("%s%s", t->url, path);
  char *auth = token ? gt_printf("Authorization: Bearer %s", token) : NULL;
  const char *h[4] = {0};
  size_t n = 0;
  if (auth)
    h[n++] = auth;
  if (body)
    h[n++] = "Content-Type: application/json";
  if (extra)
    h[n++] = extra;
  tresp r = {0};
  tclient_request(t->c, method, url, h, body, &r);
  free(url);
  free(auth);
  long st = r.status;
  if (out)
    *out = tresp_json(&r);
  if (raw)
    *raw = r;
  else
    tresp_free(&r);
  return st;
}

static inline const char *gt_str(json_object *o, const char *key) {
  json_object *v = NULL;
  if (!o || !json_object_object_get_ex(o, key, &v))
    return NULL;
  return json_object_get_string(v);
}

/* Like gt_str, for a member the test needs: fails the test when absent,
 * so the result is never NULL (and can go straight into a printf). */
static inline const char *gt_need(json_object *o, const char *key) {
  const char *s = gt_str(o, key);
  if (s == NULL)
    fail_msg("response lacks \"%s\"", key);
  return s ? s : "";
}

/* o["a"]["b"]... for "a/b"; borrowed or NULL. */
static inline json_object *gt_path(json_object *o, const char *path) {
  char buf[256];
  snprintf(buf, sizeof(buf), "%s", path);
  char *save = NULL;
  for (char *s = strtok_r(buf, "/", &save); s && o;
       s = strtok_r(NULL, "/", &save)) {
    json_object *n = NULL;
    o = json_object_object_get_ex(o, s, &n) ? n : NULL;
  }
  return o;
}

/* Asserts a Graph error body with the given code. */
static inline void gt_assert_error(json_object *o, const char *code) {
  json_object *e = NULL, *c = NULL, *m = NULL;
  assert_true(json_object_object_get_ex(o, "error", &e));
  assert_true(json_object_object_get_ex(e, "code", &c));
  assert_true(json_object_object_get_ex(e, "message", &m));
  if (strcmp(json_object_get_string(c), code) != 0)
    fail_msg("error code %s (%s), expected %s", json_object_get_string(c),
             json_object_get_string(m), code);
}

/* A Graph call that must answer status and, when code is not NULL, a Graph
 * error body with that code (the body is not kept). */
static inline void gt_expect(gt *t, const char *token, const char *method,
                             const char *path, const char *body, long status,
                             const char *code) {
  json_object *o = NULL;
  assert_int_equal(gt_call(t, token, method, path, body, NULL, &o, NULL),
                   status);
  if (code != NULL)
    gt_assert_error(o, code);
  json_object_put(o);
}

/* Shape check against graph-openapi microsoft.graph.message: the
 * properties present and their JSON types. */
static inline void gt_assert_message_shape(json_object *m) {
  static const struct {
    const char *name;
    json_type type;
  } props[] = {
      {"id", json_type_string},
      {"@odata.etag", json_type_string},
      {"createdDateTime", json_type_string},
      {"lastModifiedDateTime", json_type_string},
      {"changeKey", json_type_string},
      {"categories", json_type_array},
      {"receivedDateTime", json_type_string},
      {"sentDateTime", json_type_string},
      {"hasAttachments", json_type_boolean},
      {"internetMessageId", json_type_string},
      {"subject", json_type_string},
      {"bodyPreview", json_type_string},
      {"importance", json_type_string},
      {"parentFolderId", json_type_string},
      {"conversationId", json_type_string},
      {"isRead", json_type_boolean},
      {"isDraft", json_type_boolean},
      {"webLink", json_type_string},
      {"body", json_type_object},
      {"toRecipients", json_type_array},
      {"ccRecipients", json_type_array},
      {"bccRecipients", json_type_array},
      {"replyTo", json_type_array},
      {"flag", json_type_object},
  };
  for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(m, props[i].name, &v))
      fail_msg("message lacks '%s'", props[i].name);
    if (!json_object_is_type(v, props[i].type))
      fail_msg("message '%s' has the wrong JSON type", props[i].name);
  }
  json_object *b = NULL, *ct = NULL;
  json_object_object_get_ex(m, "body", &b);
  assert_true(json_object_object_get_ex(b, "contentType", &ct));
  assert_true(!strcmp(json_object_get_string(ct), "text") ||
              !strcmp(json_object_get_string(ct), "html"));
  const char *imp = gt_str(m, "importance");
  assert_true(!strcmp(imp, "low") || !strcmp(imp, "normal") ||
              !strcmp(imp, "high"));
}

static inline void gt_assert_folder_shape(json_object *f) {
  static const struct {
    const char *name;
    json_type type;
  } props[] = {
      {"id", json_type_string},
      {"displayName", json_type_string},
      {"parentFolderId", json_type_string},
      {"childFolderCount", json_type_int},
      {"unreadItemCount", json_type_int},
      {"totalItemCount", json_type_int},
      {"isHidden", json_type_boolean},
  };
  for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
    json_object *v = NULL;
    if (!json_object_object_get_ex(f, props[i].name, &v) ||
        !json_object_is_type(v, props[i].type))
      fail_msg("mailFolder '%s' missing or mistyped", props[i].name);
  }
}

/* Messages of a mailbox folder through the admin API (no auth). */
static inline json_object *gt_admin_messages(gt *t, const char *user,
                                             const char *folder) {
  char *p = gt_printf("/__emulator/mail/%s/messages%s%s", user,
                      folder ? "?folder=" : "", folder ? folder : "");
  json_object *o = NULL;
  long st = gt_call(t, NULL, "GET", p, NULL, NULL, &o, NULL);
  free(p);
  assert_int_equal(st, 200);
  json_object *v = NULL;
  json_object_object_get_ex(o, "value", &v);
  json_object_get(v);
  json_object_put(o);
  return v;
}

#endif
