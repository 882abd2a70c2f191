/* scripts/emu-signin (the headless browser for the demo and scripts)
 * against a real m365-emulator: a user connects, an admin consents for the
 * organization, an approval request is filed; each redirect is checked and
 * codes are redeemed. */
#define _POSIX_C_SOURCE 200809L /* strndup, strdup, popen, pclose */
#include "identity_flow.h"

#include <sys/wait.h>

/* Runs emu-signin with `opts` for `user`; returns its stdout (malloc'ed)
 * and asserts exit status 0. */
static char *signin(const char *opts, const char *user, const char *pw) {
  const char *src = getenv("WFC_SOURCE_DIR");
  char cmd[4096], *u = authorize_url(PREVIEW, NULL), *out = calloc(1, 4096);
  FILE *f;
  size_t n;
  assert_non_null(src);
  snprintf(cmd, sizeof(cmd),
           "'%s/scripts/emu-signin' --no-deliver %s '%s' "
           "'%s' '%s'",
           src, opts, u, user, pw);
  f = popen(cmd, "r");
  assert_non_null(f);
  n = fread(out, 1, 4095, f);
  out[n] = '\0';
  assert_int_equal(WEXITSTATUS(pclose(f)), 0);
  free(u);
  /* One line: the final redirect. */
  if (n > 0 && out[n - 1] == '\n')
    out[n - 1] = '\0';
  return out;
}

static char *param(const char *url, const char *name) {
  char *v = tclient_url_param(url, name);
  assert_non_null(v);
  return v;
}

static void test_script_drives_the_pages(void **state) {
  char *loc, *code, *err, *st;
  json_object *tok;
  /* A user accepts. */
  loc = signin("", ALICE_UPN, ALICE_PW);
  assert_memory_equal(loc, REDIRECT "?", strlen(REDIRECT) + 1);
  st = param(loc, "state");
  assert_string_equal(st, STATE);
  code = param(loc, "code");
  tok = redeem(PREVIEW, code, 200);
  assert_non_null(jstr(tok, "refresh_token"));
  json_object_put(tok);
  free(code);
  free(st);
  free(loc);
  /* Cancel. */
  loc = signin("--cancel", BOB_UPN, BOB_PW);
  err = param(loc, "error");
  assert_string_equal(err, "consent_required");
  free(err);
  free(loc);
  /* Admin for the organization, then Bob connects without a page. */
  set_user_consent("not_allowed");
  loc = signin("", BOB_UPN, BOB_PW);
  err = param(loc, "error_description");
  assert_memory_equal(err, "AADSTS90094:", 12);
  free(err);
  free(loc);
  loc = signin("--org", ADMIN_UPN, ADMIN_PW);
  free(param(loc, "code"));
  free(loc);
  loc = signin("", BOB_UPN, BOB_PW);
  free(param(loc, "code"));
  free(loc);
  /* Workflow: a request is filed with the justification. */
  admin_ok("DELETE", "/__emulator/apps/" PREVIEW, NULL);
  admin_ok("POST", "/__emulator/consent/settings",
           "{\"adminConsentWorkflow\":true}");
  loc = signin("--request 'for the demo'", BOB_UPN, BOB_PW);
  err = param(loc, "error_description");
  assert_memory_equal(err, "AADSTS90095:", 12);
  free(err);
  free(loc);
  tok = admin("GET", "/__emulator/consent/requests?status=pending", NULL, 200);
  assert_string_equal(
      jstr(json_object_array_get_idx(json_object_object_get(tok, "value"), 0),
           "justification"),
      "for the demo");
  json_object_put(tok);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_script_drives_the_pages),
  };
  return cmocka_run_group_tests(tests, emu_setup, emu_teardown);
}
