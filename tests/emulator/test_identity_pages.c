/* Unit tests of emulator/pages.c: the forms carry the documented fields,
 * the admin checkbox appears only when asked, and everything that comes
 * from a request or the tenant is HTML-escaped. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "pages.h"

static const emu_page_app app = {"Mail <b>&</b> \"Co\"", "Contoso", 1};
static const emu_page_app unverified = {"Tool", NULL, 0};

static void test_escape(void **state) {
  char *s = emu_html_escape("<a href='x'>&\"</a>");
  assert_string_equal(s, "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;");
  free(s);
}

static void test_signin_escapes_hint_and_error(void **state) {
  char *h = emu_page_signin("/t/login", "ctx\"1", &app,
                            "\"><script>alert(1)</script>", "bad <pw>");
  assert_non_null(h);
  assert_non_null(strstr(h, "<form id=\"signin\" method=\"post\" "
                            "action=\"/t/login\">"));
  assert_non_null(strstr(h, "name=\"ctx\" value=\"ctx&quot;1\""));
  assert_non_null(strstr(h, "name=\"passwd\""));
  assert_null(strstr(h, "<script>"));
  assert_non_null(strstr(h, "&quot;&gt;&lt;script&gt;"));
  assert_non_null(strstr(h, "bad &lt;pw&gt;"));
  assert_non_null(strstr(h, "Mail &lt;b&gt;&amp;&lt;/b&gt; &quot;Co&quot;"));
  free(h);
}

static void test_consent_checkbox_and_permissions(void **state) {
  emu_scopes s = {0};
  char *user, *admin, *org;
  assert_int_equal(emu_scopes_parse(&s, "Mail.Send offline_access", NULL), 0);
  user = emu_page_consent("/t/Consent/Set", "c1", &app, "u@x", &s, 0, 0);
  admin = emu_page_consent("/t/Consent/Set", "c1", &app, "a@x", &s, 1, 0);
  org = emu_page_consent("/t/Consent/Set", "c1", &unverified, "a@x", &s, 0, 1);
  assert_null(strstr(user, "consent_org"));
  assert_non_null(strstr(admin, "name=\"consent_org\" value=\"on\""));
  assert_non_null(strstr(admin, "Consent on behalf of your organization"));
  assert_non_null(strstr(user, "<li data-scope=\"Mail.Send\">Send mail as "
                               "you</li>"));
  assert_non_null(strstr(user, "data-scope=\"offline_access\""));
  assert_non_null(strstr(user, "id=\"publisher-verified\""));
  assert_non_null(strstr(org, "id=\"publisher-unverified\""));
  assert_non_null(strstr(org, "Accept for your organization"));
  assert_non_null(strstr(user, "value=\"accept\""));
  assert_non_null(strstr(user, "value=\"cancel\""));
  free(user);
  free(admin);
  free(org);
  emu_scopes_clear(&s);
}

static void test_approval_pages(void **state) {
  emu_scopes s = {0};
  char *need, *req, *sent, *pend, *err;
  assert_int_equal(emu_scopes_parse(&s, "Mail.Send", NULL), 0);
  need = emu_page_need_admin(&app, "u@x", "/t/consent/return?ctx=a&b",
                             "/t/v2.0/adminconsent?client_id=1");
  assert_non_null(strstr(need, "<h1>Need admin approval</h1>"));
  assert_non_null(strstr(need, "id=\"return\" href=\"/t/consent/return?"
                               "ctx=a&amp;b\""));
  assert_non_null(strstr(need, "id=\"admin-signin\""));
  assert_non_null(strstr(need, "AADSTS90094"));
  req = emu_page_request("/t/Consent/Request", "c2", &app, "u@x", &s);
  assert_non_null(strstr(req, "<form id=\"request\""));
  assert_non_null(strstr(req, "name=\"justification\""));
  assert_non_null(strstr(req, "value=\"request\""));
  sent = emu_page_request_sent(&app, 0, "/r");
  pend = emu_page_request_sent(&app, 1, "/r");
  assert_non_null(strstr(sent, "<h1>Request sent</h1>"));
  assert_non_null(strstr(pend, "<h1>Request pending</h1>"));
  err = emu_page_error(50011, "URI '<x>' mismatch", "rid");
  assert_non_null(strstr(err, "data-aadsts=\"50011\""));
  assert_non_null(strstr(err, "AADSTS50011: URI &#39;&lt;x&gt;&#39;"));
  free(need);
  free(req);
  free(sent);
  free(pend);
  free(err);
  emu_scopes_clear(&s);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_escape),
      cmocka_unit_test(test_signin_escapes_hint_and_error),
      cmocka_unit_test(test_consent_checkbox_and_permissions),
      cmocka_unit_test(test_approval_pages),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
