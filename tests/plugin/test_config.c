/* Connection configuration: clouds, overrides (parameters over
 * environment over defaults), the two apps, missing client ids. */
#define _POSIX_C_SOURCE 200809L /* unsetenv, setenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <wfc/plugin.h>

#include "config.h"

static int setup(void **state) {
  (void)state;
  unsetenv("O365MAIL_AUTHORITY_URL");
  unsetenv("O365MAIL_GRAPH_URL");
  unsetenv("O365MAIL_PREVIEW_CLIENT_ID");
  unsetenv("O365MAIL_PREVIEW_CLIENT_SECRET");
  unsetenv("O365MAIL_PRODUCTION_CLIENT_SECRET");
  setenv("O365MAIL_PRODUCTION_CLIENT_ID", "prod-id", 1);
  return 0;
}

static int load(const char *params_json, o365_config *cfg, char *err) {
  struct json_object *p = params_json ? json_tokener_parse(params_json) : NULL;
  int rc = o365_config_load(p, cfg, err, 256);
  json_object_put(p);
  return rc;
}

static void test_defaults(void **state) {
  (void)state;
  o365_config cfg;
  char err[256];
  assert_int_equal(load(NULL, &cfg, err), 0);
  assert_string_equal(cfg.authority, "https://login.microsoftonline.com");
  assert_string_equal(cfg.graph, "https://graph.microsoft.com/v1.0");
  assert_string_equal(cfg.tenant, "organizations");
  assert_string_equal(cfg.client_id, "prod-id");
  assert_null(cfg.client_secret);
  assert_string_equal(cfg.app->name, "Office 365 Mail (Production)");
  char *scopes = o365_config_scopes(&cfg);
  assert_string_equal(scopes, "offline_access Mail.ReadWrite "
                              "Mail.ReadWrite.Shared Mail.Send "
                              "Mail.Send.Shared openid profile User.Read");
  free(scopes);
  o365_config_clear(&cfg);
}

static void test_clouds(void **state) {
  (void)state;
  o365_config cfg;
  char err[256];
  assert_int_equal(load("{\"cloud\":\"usgov\"}", &cfg, err), 0);
  assert_string_equal(cfg.authority, "https://login.microsoftonline.us");
  assert_string_equal(cfg.graph, "https://graph.microsoft.us/v1.0");
  char *scopes = o365_config_scopes(&cfg);
  assert_string_equal(
      scopes, "offline_access https://graph.microsoft.us/Mail.ReadWrite "
              "https://graph.microsoft.us/Mail.ReadWrite.Shared "
              "https://graph.microsoft.us/Mail.Send "
              "https://graph.microsoft.us/Mail.Send.Shared openid "
              "profile https://graph.microsoft.us/User.Read");
  free(scopes);
  o365_config_clear(&cfg);
  assert_int_equal(load("{\"cloud\":\"china\"}", &cfg, err), 0);
  assert_string_equal(cfg.authority, "https://login.chinacloudapi.cn");
  assert_string_equal(cfg.graph,
                      "https://microsoftgraph.chinacloudapi.cn/v1.0");
  o365_config_clear(&cfg);
  assert_int_equal(load("{\"cloud\":\"mars\"}", &cfg, err), WFC_EINVAL);
  assert_non_null(strstr(err, "cloud"));
  o365_config_clear(&cfg);
}

static void test_overrides(void **state) {
  (void)state;
  o365_config cfg;
  char err[256];
  setenv("O365MAIL_AUTHORITY_URL", "http://127.0.0.1:4001/", 1);
  setenv("O365MAIL_GRAPH_URL", "http://127.0.0.1:4001/v1.0//", 1);
  assert_int_equal(load(NULL, &cfg, err), 0);
  assert_string_equal(cfg.authority, "http://127.0.0.1:4001");
  assert_string_equal(cfg.graph, "http://127.0.0.1:4001/v1.0");
  o365_config_clear(&cfg);
  /* Parameters win over the environment. */
  assert_int_equal(load("{\"authority_url\":\"https://a.example\","
                        "\"graph_url\":\"https://g.example/beta\","
                        "\"client_id\":\"param-id\",\"client_secret\":\"s3\"}",
                        &cfg, err),
                   0);
  assert_string_equal(cfg.authority, "https://a.example");
  assert_string_equal(cfg.graph, "https://g.example/beta");
  assert_string_equal(cfg.client_id, "param-id");
  assert_string_equal(cfg.client_secret, "s3");
  o365_config_clear(&cfg);
  /* Malformed overrides are named. */
  setenv("O365MAIL_GRAPH_URL", "ftp://x", 1);
  assert_int_equal(load(NULL, &cfg, err), WFC_EINVAL);
  assert_non_null(strstr(err, "O365MAIL_GRAPH_URL"));
  o365_config_clear(&cfg);
  assert_int_equal(load("{\"authority_url\":\"https://a b\"}", &cfg, err),
                   WFC_EINVAL);
  assert_non_null(strstr(err, "authority_url"));
  o365_config_clear(&cfg);
  unsetenv("O365MAIL_AUTHORITY_URL");
  unsetenv("O365MAIL_GRAPH_URL");
}

static void test_apps_and_secrets(void **state) {
  (void)state;
  o365_config cfg;
  char err[256];
  /* Preview without its variable: the error names it. */
  assert_int_equal(load("{\"environment\":\"preview\"}", &cfg, err),
                   WFC_EINVAL);
  assert_non_null(strstr(err, "O365MAIL_PREVIEW_CLIENT_ID"));
  assert_non_null(strstr(err, "Office 365 Mail (Preview)"));
  o365_config_clear(&cfg);
  setenv("O365MAIL_PREVIEW_CLIENT_ID", "pre-id", 1);
  setenv("O365MAIL_PREVIEW_CLIENT_SECRET", "pre-secret", 1);
  assert_int_equal(load("{\"environment\":\"preview\"}", &cfg, err), 0);
  assert_string_equal(cfg.client_id, "pre-id");
  assert_string_equal(cfg.client_secret, "pre-secret");
  assert_string_equal(cfg.app->name, "Office 365 Mail (Preview)");
  o365_config_clear(&cfg);
  /* The production app does not pick up the preview secret. */
  assert_int_equal(load("{\"environment\":\"production\"}", &cfg, err), 0);
  assert_string_equal(cfg.client_id, "prod-id");
  assert_null(cfg.client_secret);
  o365_config_clear(&cfg);
  assert_int_equal(load("{\"environment\":\"staging\"}", &cfg, err),
                   WFC_EINVAL);
  assert_non_null(strstr(err, "environment"));
  o365_config_clear(&cfg);
  /* Endpoints alone need no client id. */
  unsetenv("O365MAIL_PRODUCTION_CLIENT_ID");
  struct json_object *p = json_tokener_parse("{}");
  assert_int_equal(o365_config_endpoints(p, &cfg, err, sizeof err), 0);
  o365_config_clear(&cfg);
  assert_int_equal(o365_config_load(p, &cfg, err, sizeof err), WFC_EINVAL);
  assert_non_null(strstr(err, "O365MAIL_PRODUCTION_CLIENT_ID"));
  o365_config_clear(&cfg);
  json_object_put(p);
}

static void test_tenants(void **state) {
  (void)state;
  assert_true(o365_tenant_valid("organizations"));
  assert_true(o365_tenant_valid("contoso.onmicrosoft.com"));
  assert_true(o365_tenant_valid("72f988bf-86f1-41af-91ab-2d7cd011db47"));
  assert_false(o365_tenant_valid(""));
  assert_false(o365_tenant_valid(".."));
  assert_false(o365_tenant_valid("a/b"));
  assert_false(o365_tenant_valid("a?b"));
  assert_false(o365_tenant_valid("a b"));
  o365_config cfg;
  char err[256];
  assert_int_equal(load("{\"tenant\":\"../x\"}", &cfg, err), WFC_EINVAL);
  assert_non_null(strstr(err, "tenant"));
  o365_config_clear(&cfg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_defaults, setup),
      cmocka_unit_test_setup(test_clouds, setup),
      cmocka_unit_test_setup(test_overrides, setup),
      cmocka_unit_test_setup(test_apps_and_secrets, setup),
      cmocka_unit_test_setup(test_tenants, setup),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
