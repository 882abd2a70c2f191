/* echo.c - a small wfc plugin: an action card, "echo", an event card (a
 * trigger), "ticks", and a connection type, "demo". Built out of tree against
 * an installed wfc (CMakeLists.txt here, or the pkg-config commands of
 * docs/plugin-authors.md); tests/install builds and loads it.
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

/* ---- The connection type: demo -------------------------------------------
 *
 * Today's SDK has one connection flow: authorization in a browser, ending
 * with a redirect to the host's listener (docs/connections-sdk.md). A
 * service without OAuth must go through it: authorize_begin returns a URL
 * that is the host's own redirect URI, carrying the state and the
 * account name as the "code"; opening it (a browser, curl) completes the
 * connection. A secret form (API key, password) without that detour is
 * issue 12, item 3. No secret is handled here: the "token" is made up. */

static const wfc_field demo_params[] = {
    {.name = "account",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The account name to connect as",
     .max = 64},
    {0}};

static int64_t now_s(void) {
  return api->now_ms() / 1000;
}

/* A fresh, unguessable state for the redirect. */
static int random_hex(char *out, size_t bytes) {
  unsigned char b[32];
  FILE *f = fopen("/dev/urandom", "rb");
  if (f == NULL || bytes > sizeof b || fread(b, 1, bytes, f) != bytes) {
    if (f != NULL)
      fclose(f);
    return -1;
  }
  fclose(f);
  for (size_t i = 0; i < bytes; i++)
    snprintf(out + 2 * i, 3, "%02x", b[i]);
  return 0;
}

static int demo_authorize_begin(wfc_call *call) {
  json_object *in = api->call_input(call);
  const char *redirect =
      json_object_get_string(json_object_object_get(in, "redirect_uri"));
  json_object *params = json_object_object_get(in, "params");
  const char *account =
      json_object_get_string(json_object_object_get(params, "account"));
  char state[65], url[2048];
  if (random_hex(state, 32) != 0) {
    api->call_fail(call, WFC_EIO, NULL, "no random bytes for the state");
    return 0;
  }
  /* The account name is plain [a-z0-9...]; a real plugin would
   * percent-encode what it puts in a URL. */
  snprintf(url, sizeof url, "%s?state=%s&code=%s", redirect, state, account);
  json_object *out = json_object_new_object();
  json_object_object_add(out, "url", json_object_new_string(url));
  json_object *session = json_object_new_object();
  json_object_object_add(session, "state", json_object_new_string(state));
  json_object_object_add(out, "session", session);
  api->call_done(call, out);
  return 0;
}

static json_object *credentials(const char *account) {
  json_object *c = json_object_new_object();
  json_object_object_add(c, "access_token",
                         json_object_new_string(account)); /* made up */
  json_object_object_add(c, "expires_at",
                         json_object_new_int64(now_s() + 3600));
  return c;
}

static int demo_authorize_complete(wfc_call *call) {
  json_object *in = api->call_input(call);
  json_object *query = json_object_object_get(in, "query");
  const char *code =
      json_object_get_string(json_object_object_get(query, "code"));
  json_object *out = json_object_new_object();
  json_object_object_add(out, "state", json_object_new_string("connected"));
  json_object_object_add(out, "account", json_object_new_string(code));
  json_object_object_add(out, "credentials", credentials(code));
  api->call_done(call, out);
  return 0;
}

static int demo_refresh(wfc_call *call) {
  json_object *in = api->call_input(call);
  json_object *params = json_object_object_get(in, "params");
  json_object *out = json_object_new_object();
  json_object_object_add(out, "credentials",
                         credentials(json_object_get_string(
                             json_object_object_get(params, "account"))));
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
    .description = "A made-up account, connected through the host's "
                   "redirect (no real sign-in).",
    .params = demo_params,
    .authorize_begin = demo_authorize_begin,
    .authorize_complete = demo_authorize_complete,
    .refresh = demo_refresh,
    .revoke = demo_revoke};

/* ---- Registration ---------------------------------------------------- */

static int init(const wfc_host_api *host, wfc_registrar *reg, wfc_error *err) {
  api = host;
  int rc = api->register_conn_type(reg, &demo_type, sizeof demo_type);
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
