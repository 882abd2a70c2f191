/* echo.c - a small wfc plugin: an action card, "echo", an event card (a
 * trigger), "ticks", and two connection types without a browser: "demo"
 * (an API key the host asks for) and "guest" (nothing secret). Built out of
 * tree against an installed wfc (CMakeLists.txt here, or the pkg-config
 * commands of docs/plugin-authors.md); tests/install builds and loads it.
 *
 * It includes only <wfc/plugin.h> and calls json-c itself; everything else
 * (completing calls, logging, timers, HTTP) comes from the host's services
 * table, so it links no host symbol. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "wfc/plugin.h"

static const wfc_host_api *api; /* borrowed from init() for our lifetime */

/* ---- The card: echo ------------------------------------------------------ */

static const wfc_field echo_inputs[] = {
    {.name = "message",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "What to say back",
     .max = 1000},
    {.name = "times",
     .type = WFC_TYPE_INTEGER,
     .description = "How many times to repeat it",
     .default_json = "1",
     .min = 1,
     .max = 10},
    {0}};

static const wfc_field echo_outputs[] = {
    {.name = "message",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The message, repeated"},
    {0}};

/* The host has validated the input against echo_inputs (and filled in the
 * default of "times") before calling: no checks needed here. */
static int echo_invoke(wfc_call *call) {
  json_object *in = api->call_input(call); /* borrowed */
  const char *msg =
      json_object_get_string(json_object_object_get(in, "message"));
  int times = json_object_get_int(json_object_object_get(in, "times"));
  char out[1000 * 10 + 10] = "";
  size_t n = 0;
  for (int i = 0; i < times; i++)
    n += (size_t)snprintf(out + n, sizeof out - n, "%s%s", i ? " " : "", msg);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "message", json_object_new_string(out));
  api->call_done(call, o); /* transfers o; completes the call once */
  return 0;
}

static const wfc_card_desc echo_card = {
    .id = "echo",
    .name = "Echo",
    .description = "Says the message back, repeated.",
    .kind = WFC_CARD_ACTION,
    .conn_type = NULL, /* needs no connection */
    .inputs = echo_inputs,
    .outputs = echo_outputs,
    .invoke = echo_invoke};

/* ---- The event card (trigger): ticks -------------------------------------
 *
 * Each poll returns the next `per_poll` ticks after the checkpoint the host
 * last accepted (none the first time), and the new checkpoint. The host
 * stores the checkpoint only after it has handled the events, so a crash
 * in between polls the same ticks again (docs/events.md). */

static const wfc_field ticks_inputs[] = {{.name = "per_poll",
                                          .type = WFC_TYPE_INTEGER,
                                          .description = "Ticks per poll",
                                          .default_json = "2",
                                          .min = 1,
                                          .max = 100},
                                         {0}};

static int ticks_invoke(wfc_call *call) {
  json_object *in = api->call_input(call);
  int per_poll = json_object_get_int(json_object_object_get(in, "per_poll"));
  const char *cp = api->call_checkpoint(call); /* NULL the first time */
  long long last = cp != NULL ? strtoll(cp, NULL, 10) : 0;
  json_object *events = json_object_new_array();
  for (int i = 1; i <= per_poll; i++) {
    char id[32];
    snprintf(id, sizeof id, "tick-%lld", last + i);
    json_object *ev = json_object_new_object();
    /* "id": the host delivers each event once, across restarts. */
    json_object_object_add(ev, "id", json_object_new_string(id));
    json_object_object_add(ev, "n", json_object_new_int64(last + i));
    json_object_array_add(events, ev);
  }
  char next[32];
  snprintf(next, sizeof next, "%lld", last + per_poll);
  json_object *out = json_object_new_object();
  json_object_object_add(out, "events", events);
  json_object_object_add(out, "checkpoint", json_object_new_string(next));
  api->call_done(call, out);
  return 0;
}

static const wfc_card_desc ticks_card = {
    .id = "ticks",
    .name = "Ticks",
    .description = "A trigger: numbered ticks, a few per poll.",
    .kind = WFC_CARD_EVENT,
    .inputs = ticks_inputs,
    .invoke = ticks_invoke};

/* ---- The connection types: demo (a form) and guest (none) ---------------
 *
 * Not every service signs people in through a browser (OAuth). "demo"
 * stands for one that takes an API key: its flow is WFC_FLOW_FORM, so the
 * host asks for the key itself (on a terminal without echo, from stdin or
 * a file; never from a command line), calls no authorize_begin, and hands
 * authorize_complete {"params": {...}, "secrets": {"api_key": ...}}. A
 * real plugin would try the key against its service; this one checks its
 * format: "demo-" and 16 to 64 letters or digits. The host seals the key
 * with the credentials and gives it back inside "params" to refresh,
 * revoke and test. "guest" (WFC_FLOW_NONE) needs nothing but its declared
 * params. The "tokens" are made up. */

static const wfc_field demo_params[] = {
    {.name = "account",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The account name to connect as",
     .max = 64},
    {.name = "api_key",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED | WFC_FIELD_SECRET,
     .description = "The account's API key (demo-...)",
     .max = 256},
    {0}};

static int64_t now_s(void) {
  return api->now_ms() / 1000;
}

/* The format rule of a demo key. */
static int key_valid(const char *key) {
  size_t n = strlen(key);
  if (n < 5 + 16 || n > 5 + 64 || strncmp(key, "demo-", 5) != 0)
    return 0;
  for (size_t i = 5; i < n; i++)
    if (!((key[i] >= 'a' && key[i] <= 'z') ||
          (key[i] >= 'A' && key[i] <= 'Z') || (key[i] >= '0' && key[i] <= '9')))
      return 0;
  return 1;
}

static const char *str_of(json_object *o, const char *key) {
  json_object *v;
  return json_object_object_get_ex(o, key, &v) ? json_object_get_string(v)
                                               : NULL;
}

static json_object *credentials(const char *account) {
  json_object *c = json_object_new_object();
  char token[128];
  snprintf(token, sizeof token, "made-up-token-for-%s", account);
  json_object_object_add(c, "access_token", json_object_new_string(token));
  json_object_object_add(c, "expires_at",
                         json_object_new_int64(now_s() + 3600));
  return c;
}

static int demo_authorize_complete(wfc_call *call) {
  json_object *in = api->call_input(call); /* borrowed */
  json_object *params = json_object_object_get(in, "params");
  json_object *secrets = json_object_object_get(in, "secrets");
  const char *account = str_of(params, "account");
  const char *key = str_of(secrets, "api_key");
  if (key != NULL)    /* the host checked it is there: REQUIRED */
    api->secret(key); /* never in a log line from now on */
  json_object *out = json_object_new_object();
  if (key == NULL || !key_valid(key)) {
    /* An outcome, not a failure: the person gives another key. */
    json_object_object_add(out, "state", json_object_new_string("error"));
    json_object_object_add(
        out, "remedy",
        json_object_new_string("the API key was refused: demo keys are "
                               "\"demo-\" and 16 to 64 letters or digits"));
  } else {
    json_object_object_add(out, "state", json_object_new_string("connected"));
    json_object_object_add(out, "account", json_object_new_string(account));
    json_object_object_add(out, "credentials", credentials(account));
  }
  api->call_done(call, out);
  return 0;
}

/* refresh, for both types: params holds the sealed secrets too (demo's
 * api_key), as a real plugin would need them to get a new token. */
static int demo_refresh(wfc_call *call) {
  json_object *params = json_object_object_get(api->call_input(call), "params");
  const char *key = str_of(params, "api_key");
  if (key != NULL && !key_valid(key)) {
    api->call_fail(call, WFC_EREAUTH, NULL, "the stored API key is invalid");
    return 0;
  }
  json_object *out = json_object_new_object();
  json_object_object_add(out, "credentials",
                         credentials(str_of(params, "account")));
  api->call_done(call, out);
  return 0;
}

static int demo_revoke(wfc_call *call) {
  json_object *out = json_object_new_object();
  json_object_object_add(out, "remote", json_object_new_string("none"));
  api->call_done(call, out);
  return 0;
}

static const wfc_conn_type_desc demo_type = {
    .id = "demo",
    .name = "Demo account",
    .description = "A made-up account, connected with an API key the host "
                   "asks for (no browser).",
    .params = demo_params,
    .authorize_complete = demo_authorize_complete,
    .refresh = demo_refresh,
    .revoke = demo_revoke,
    .flow = WFC_FLOW_FORM};

static const wfc_field guest_params[] = {
    {.name = "account",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The guest name to connect as",
     .max = 64},
    {0}};

static int guest_authorize_complete(wfc_call *call) {
  json_object *params = json_object_object_get(api->call_input(call), "params");
  const char *account = str_of(params, "account");
  json_object *out = json_object_new_object();
  json_object_object_add(out, "state", json_object_new_string("connected"));
  json_object_object_add(out, "account", json_object_new_string(account));
  json_object_object_add(out, "credentials", credentials(account));
  api->call_done(call, out);
  return 0;
}

static const wfc_conn_type_desc guest_type = {
    .id = "guest",
    .name = "Guest",
    .description = "A made-up guest account: nothing to give but a name.",
    .params = guest_params,
    .authorize_complete = guest_authorize_complete,
    .refresh = demo_refresh,
    .revoke = demo_revoke,
    .flow = WFC_FLOW_NONE};

/* ---- Registration ---------------------------------------------------- */

static int init(const wfc_host_api *host, wfc_registrar *reg, wfc_error *err) {
  api = host;
  int rc = api->register_conn_type(reg, &demo_type, sizeof demo_type);
  if (rc == 0)
    rc = api->register_conn_type(reg, &guest_type, sizeof guest_type);
  if (rc == 0)
    rc = api->register_card(reg, &echo_card, sizeof echo_card);
  if (rc == 0)
    rc = api->register_card(reg, &ticks_card, sizeof ticks_card);
  if (rc != 0)
    api->error_set(err, rc, "cannot register: %s", "echo");
  return rc;
}

/* The one exported symbol, wfc_plugin_entry_v1. */
WFC_PLUGIN_DEFINE("echo", "1.0.0", "Says things back (an example plugin)", init,
                  NULL)
