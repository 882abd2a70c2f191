/* wfc_user.c - see wfc_user.h. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "wfc_user.h"
#include "tsys.h"

int wuser_init(wuser *u, const char *name) {
  memset(u, 0, sizeof *u);
  snprintf(u->dir, sizeof u->dir, "/tmp/wfc-%s-XXXXXX", name);
  if (mkdtemp(u->dir) == NULL)
    return -1;
  snprintf(u->store, sizeof u->store, "%s/store.db", u->dir);
  const char *bd = getenv("WFC_BUILD_DIR");
  if (bd == NULL)
    bd = WFC_BUILD_DIR;
  snprintf(u->bin, sizeof u->bin, "%s/bin/wfc", bd);
  snprintf(u->plugins, sizeof u->plugins, "%s/plugins", bd);
  return 0;
}

int wuser_cleanup(wuser *u) {
  if (u->dir[0] == '\0')
    return 0;
  int rc = tsys_rm_rf(u->dir);
  u->dir[0] = '\0';
  return rc;
}

void wuser_spawn(const wuser *u, wproc *p, const char *const *args) {
  wproc_spawn(p, u->bin, args, u->store, u->plugins);
}

int wuser_finish(const wuser *u, wproc *p) {
  wproc_wait(p);
  if (p->code != 0 && getenv("SC_VERBOSE") != NULL)
    fprintf(stderr, "wfc exit %d\nstdout: %s\nstderr: %s\n", p->code,
            p->stdout_, p->stderr_);
  if (u->on_output)
    u->on_output(p);
  /* The emulator's tokens are JWTs ({"alg", {"typ", ... in base64url): none
   * may be printed. Exact canaries are checked in tests/security. */
  static const char *const jwt[] = {"eyJhbGciOi", "eyJ0eXAiOi", "eyJraWQiOi",
                                    "eyJ4NXQiOi", NULL};
  for (int i = 0; jwt[i]; i++) {
    assert_null(strstr(p->stdout_, jwt[i]));
    assert_null(strstr(p->stderr_, jwt[i]));
  }
  return p->code;
}

int wuser_run(const wuser *u, wproc *p, const char *const *args) {
  wuser_spawn(u, p, args);
  return wuser_finish(u, p);
}

void wuser_read_url(wproc *p, const char *prefix, char *url, size_t len) {
  wproc_read_line(p, url, len);
  if (prefix != NULL && strncmp(url, prefix, strlen(prefix)) != 0)
    fail_msg("expected a URL at %s, read \"%s\"", prefix, url);
}

json_object *wuser_result(const wproc *p) {
  const char *nl = strchr(p->stdout_, '\n');
  json_object *j = nl ? json_tokener_parse(nl + 1) : NULL;
  if (j == NULL)
    fail_msg("no JSON result: %s\n%s", p->stdout_, p->stderr_);
  return j;
}

static const char *str_of(json_object *o, const char *k) {
  json_object *v;
  if (o == NULL || !json_object_object_get_ex(o, k, &v) ||
      !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

json_object *wuser_show(const wuser *u, const char *nickname) {
  wproc p;
  const char *const args[] = {"connection", "show", nickname, "--json", NULL};
  if (wuser_run(u, &p, args) != 0)
    fail_msg("show %s: exit %d: %s%s", nickname, p.code, p.stdout_, p.stderr_);
  json_object *c = json_tokener_parse(p.stdout_);
  assert_non_null(c);
  return c;
}

/* The line of text that starts with start (at a line start), or NULL. */
static const char *line_at(const char *text, const char *start) {
  size_t n = strlen(start);
  for (const char *l = text; l != NULL && *l != '\0';) {
    if (strncmp(l, start, n) == 0)
      return l;
    l = strchr(l, '\n');
    l = l ? l + 1 : NULL;
  }
  return NULL;
}

/* The remedy as the text commands show it: the JSON's words and the
 * command that settles the state (cli/util.c, wfc__cli_conn_remedy). */
static void text_remedy(const char *nickname, const char *state,
                        const char *remedy, char *buf, size_t len) {
  size_t n = strlen(remedy);
  if (n == 0 || strcmp(state, "connected") == 0) {
    snprintf(buf, len, "%s", remedy);
    return;
  }
  int wait = strcmp(state, "needs_admin_approval") == 0 ||
             strcmp(state, "approval_pending") == 0;
  snprintf(buf, len, "%s%s Run `wfc connection reauthorize %s`%s", remedy,
           remedy[n - 1] != '.' ? "." : "", nickname,
           wait ? " once that is done" : "");
}

/* `connection show NAME` as text: "state" and "remedy" rows as in the
 * JSON, with the command to run (no remedy row when it is empty). */
static void expect_show_text(const wuser *u, const char *nickname,
                             const char *state, const char *remedy) {
  wproc p;
  const char *const args[] = {"connection", "show", nickname, NULL};
  assert_int_equal(wuser_run(u, &p, args), 0);
  char want[1100];
  snprintf(want, sizeof want, "%-13s %s\n", "state", state);
  if (line_at(p.stdout_, want) == NULL)
    fail_msg("`connection show %s` lacks \"%s\":\n%s", nickname, want,
             p.stdout_);
  char text[1024];
  text_remedy(nickname, state, remedy, text, sizeof text);
  snprintf(want, sizeof want, "%-13s %s\n", "remedy", text);
  if (*remedy != '\0' ? line_at(p.stdout_, want) == NULL
                      : line_at(p.stdout_, "remedy ") != NULL)
    fail_msg("`connection show %s`: want remedy \"%s\":\n%s", nickname, remedy,
             p.stdout_);
}

/* `connection list` as text: the row of nickname with state, followed by
 * "  -> remedy" exactly when there is one. */
static void expect_list_text(const wuser *u, const char *nickname,
                             const char *state, const char *remedy) {
  wproc p;
  const char *const args[] = {"connection", "list", NULL};
  assert_int_equal(wuser_run(u, &p, args), 0);
  char row[256], first[128], second[128];
  snprintf(row, sizeof row, "%s ", nickname);
  const char *l = line_at(p.stdout_, row);
  if (l == NULL || sscanf(l, "%127s %127s", first, second) != 2 ||
      strcmp(second, state) != 0)
    fail_msg("`connection list` has no row \"%s %s\":\n%s", nickname, state,
             p.stdout_);
  const char *next = strchr(l, '\n');
  next = next ? next + 1 : "";
  char want[1100], text[1024];
  text_remedy(nickname, state, remedy, text, sizeof text);
  snprintf(want, sizeof want, "  -> %s\n", text);
  if (*remedy != '\0' ? strncmp(next, want, strlen(want)) != 0
                      : strncmp(next, "  -> ", 5) == 0)
    fail_msg("`connection list`: want remedy \"%s\" under %s:\n%s", remedy,
             nickname, p.stdout_);
}

/* `connection list --json`: the element of nickname has state and
 * remedy. */
static void expect_list_json(const wuser *u, const char *nickname,
                             const char *state, const char *remedy) {
  wproc p;
  const char *const args[] = {"connection", "list", "--json", NULL};
  assert_int_equal(wuser_run(u, &p, args), 0);
  json_object *arr = json_tokener_parse(p.stdout_), *found = NULL;
  assert_non_null(arr);
  assert_true(json_object_is_type(arr, json_type_array));
  for (size_t i = 0; i < json_object_array_length(arr); i++) {
    json_object *c = json_object_array_get_idx(arr, i);
    const char *n = str_of(c, "nickname");
    if (n != NULL && strcmp(n, nickname) == 0)
      found = c;
  }
  if (found == NULL)
    fail_msg("`connection list --json` lacks %s: %s", nickname, p.stdout_);
  const char *st = str_of(found, "state"), *rem = str_of(found, "remedy");
  assert_string_equal(st ? st : "-", state);
  assert_string_equal(rem ? rem : "", remedy);
  json_object_put(arr);
}

void wuser_expect(const wuser *u, const char *nickname, const char *state,
                  const char *remedy, char *id, size_t idlen) {
  json_object *c = wuser_show(u, nickname);
  const char *st = str_of(c, "state"), *rem = str_of(c, "remedy");
  if (st == NULL || strcmp(st, state) != 0)
    fail_msg("%s: state %s (want %s), remedy %s", nickname, st ? st : "-",
             state, rem ? rem : "-");
  if (remedy == NULL ? rem != NULL && *rem != '\0'
                     : rem == NULL || strstr(rem, remedy) == NULL)
    fail_msg("%s: remedy \"%s\", want %s%s%s", nickname, rem ? rem : "-",
             remedy ? "one with \"" : "none", remedy ? remedy : "",
             remedy ? "\"" : "");
  const char *nick = str_of(c, "nickname");
  assert_string_equal(nick ? nick : "-", nickname);
  if (id != NULL) {
    assert_non_null(str_of(c, "id"));
    snprintf(id, idlen, "%s", str_of(c, "id"));
  }
  /* The whole remedy, as the JSON has it, in the other three views. */
  char full[1024];
  snprintf(full, sizeof full, "%s", rem ? rem : "");
  json_object_put(c);
  expect_show_text(u, nickname, state, full);
  expect_list_text(u, nickname, state, full);
  expect_list_json(u, nickname, state, full);
}

long wuser_get_status(const char *url) {
  tclient *c = tclient_new(0);
  tresp page;
  tclient_request(c, "GET", url, NULL, NULL, &page);
  long st = page.status;
  tresp_free(&page);
  tclient_free(c);
  return st;
}

long wuser_to_listener(const tresp *r) {
  const char *loc = tresp_header(r, "Location");
  if (r->status != 302 || loc == NULL)
    fail_msg("expected a redirect, got %ld: %s", r->status, r->body);
  if (strncmp(loc, "http://127.0.0.1:", 17) != 0 ||
      strstr(loc, "/callback?") == NULL)
    fail_msg("redirect to %s, not to the loopback listener", loc);
  return wuser_get_status(loc);
}

/* base + path (malloc'd). */
static char *url_at(const char *base, const char *path) {
  size_t n = strlen(base) + strlen(path) + 1;
  char *u = malloc(n);
  assert_non_null(u);
  snprintf(u, n, "%s%s", base, path);
  return u;
}

long wuser_return_to_app(tclient *b, const char *base, const tresp *page) {
  assert_int_equal(page->status, 200);
  char *ret = tclient_html_attr(page->body, "id=\"return\"", "href");
  if (ret == NULL)
    fail_msg("no \"Return to the application\" link on: %s", page->body);
  char *u = url_at(base, ret);
  tresp r;
  assert_int_equal(tclient_request(b, "GET", u, NULL, NULL, &r), 0);
  long st = wuser_to_listener(&r);
  tresp_free(&r);
  free(u);
  free(ret);
  return st;
}

/* Submits the "Approval required" form with button action (request or
 * cancel); out is what follows. */
static void request_form(tclient *b, const char *base, const tresp *page,
                         const char *justification, const char *button,
                         tresp *out) {
  static const char *const hdr[] = {
      "Content-Type: application/x-www-form-urlencoded", NULL};
  assert_int_equal(page->status, 200);
  char *action =
      tclient_html_attr(page->body, "<form id=\"request\"", "action");
  char *ctx = tclient_html_attr(page->body, "name=\"ctx\"", "value");
  if (action == NULL || ctx == NULL)
    fail_msg("not the \"Approval required\" page: %s", page->body);
  char *form = tclient_form("ctx", ctx, "justification", justification,
                            "action", button, NULL);
  char *u = url_at(base, action);
  assert_int_equal(tclient_request(b, "POST", u, hdr, form, out), 0);
  free(u);
  free(form);
  free(ctx);
  free(action);
}

void wuser_request_approval(tclient *b, const char *base, const tresp *page,
                            const char *justification, tresp *out) {
  request_form(b, base, page, justification, "request", out);
}

long wuser_cancel_request(tclient *b, const char *base, const tresp *page) {
  tresp r;
  request_form(b, base, page, "", "cancel", &r);
  long st = wuser_to_listener(&r);
  tresp_free(&r);
  return st;
}

/* An admin API call on the emulator; asserts the status; the JSON body
 * (new reference) or NULL. */
static json_object *portal(const char *base, const char *method,
                           const char *path, const char *body,
                           long want_status) {
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  tclient *c = tclient_new(0);
  char *u = url_at(base, path);
  tresp r;
  assert_int_equal(tclient_request(c, method, u, body ? hdr : NULL, body, &r),
                   0);
  if (r.status != want_status)
    fail_msg("%s %s: want %ld, got %ld: %s", method, path, want_status,
             r.status, r.body);
  json_object *j = tresp_json(&r);
  tresp_free(&r);
  free(u);
  tclient_free(c);
  return j;
}

json_object *wuser_consent_requests(const char *base, const char *status) {
  char path[128];
  snprintf(path, sizeof path, "/__emulator/consent/requests%s%s",
           status ? "?status=" : "", status ? status : "");
  json_object *j = portal(base, "GET", path, NULL, 200), *v;
  assert_true(json_object_object_get_ex(j, "value", &v));
  json_object_get(v);
  json_object_put(j);
  return v;
}

void wuser_review(const char *base, const char *id, int approve,
                  const char *reviewer) {
  char path[256], body[256];
  snprintf(path, sizeof path, "/__emulator/consent/requests/%s/%s", id,
           approve ? "approve" : "deny");
  snprintf(body, sizeof body, "{\"reviewer\":\"%s\"}", reviewer);
  json_object_put(portal(base, "POST", path, body, 204));
}
