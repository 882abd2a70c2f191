/* hostsvc_plugin.c - wfc-hostsvc.so: a plugin for the host services tests
 * (test_host_services.c): what it logs and the settings it reads.
 *
 * Cards:
 *   log      registers `secret` (when given) with api->secret, then logs
 *            `message` at WARN
 *   setting  reads setting `key` now (api->setting) and reports it with
 *            the value of setting "greeting" read in init()
 *   wait     runs until canceled, then completes with WFC_ECANCELED
 * Its shutdown() logs "hostsvc: shutdown", so a host sees it ran.
 */
#include <string.h>

#include <json-c/json.h>

#include "wfc/plugin.h"

static const wfc_host_api *api;
static char greeting[128]; /* setting "greeting" as init() read it */

static const char *str_in(wfc_call *call, const char *key) {
  json_object *v = NULL;
  if (!json_object_object_get_ex(api->call_input(call), key, &v) || v == NULL)
    return NULL;
  return json_object_get_string(v);
}

static int log_invoke(wfc_call *call) {
  const char *secret = str_in(call, "secret");
  if (secret != NULL)
    api->secret(secret);
  api->log(1, "%s", str_in(call, "message"));
  api->call_done(call, NULL);
  return 0;
}

static json_object *text_or_null(const char *s) {
  return s != NULL ? json_object_new_string(s) : NULL;
}

static int setting_invoke(wfc_call *call) {
  char *v = api->setting(str_in(call, "key"));
  json_object *out = json_object_new_object();
  json_object_object_add(out, "value", text_or_null(v));
  json_object_object_add(out, "at_init",
                         text_or_null(greeting[0] ? greeting : NULL));
  api->free(v);
  api->call_done(call, out);
  return 0;
}

static void wait_canceled(void *arg) {
  api->call_fail(arg, WFC_ECANCELED, NULL, "canceled");
}

static int wait_invoke(wfc_call *call) {
  api->call_on_cancel(call, wait_canceled, call);
  return 0;
}

static const wfc_field log_in[] = {
    {.name = "message", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED},
    {.name = "secret", .type = WFC_TYPE_STRING},
    {0}};
static const wfc_field setting_in[] = {
    {.name = "key", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED}, {0}};
static const wfc_field setting_out[] = {
    {.name = "value", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_NULLABLE},
    {.name = "at_init", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_NULLABLE},
    {0}};

static const wfc_card_desc cards[] = {
    {"log", "Log", "Logs a message.", WFC_CARD_ACTION, NULL, log_in, NULL,
     log_invoke},
    {"setting", "Setting", "Reads a setting.", WFC_CARD_ACTION, NULL,
     setting_in, setting_out, setting_invoke},
    {"wait", "Wait", "Runs until canceled.", WFC_CARD_ACTION, NULL, NULL, NULL,
     wait_invoke},
};

static int init(const wfc_host_api *host, wfc_registrar *reg, wfc_error *err) {
  if (!WFC_API_HAS(host, setting)) {
    host->error_set(err, WFC_ENOTSUP, "host lacks settings (ABI 1.4)");
    return WFC_ENOTSUP;
  }
  api = host;
  char *g = api->setting("greeting");
  strncpy(greeting, g != NULL ? g : "", sizeof greeting - 1);
  api->free(g);
  api->log(2, "hostsvc: init");
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof cards / sizeof cards[0]; i++)
    rc = api->register_card(reg, &cards[i], sizeof cards[i]);
  return rc;
}

static void shutdown_(void) {
  api->log(1, "hostsvc: shutdown");
  api = NULL;
}

WFC_PLUGIN_DEFINE("hostsvc", "1.0.0", "Host services tests", init, shutdown_)
