/* set_automatic_replies.c - Set Automatic Replies: turns the mailbox's
 * automatic replies (out of office) off, on, or on for a period, with the
 * internal and external messages.
 * Graph: PATCH .../mailboxSettings {"automaticRepliesSetting":{...}}.
 * Needs MailboxSettings.ReadWrite, which the connection's default scopes
 * do not include: a 403 says so. */
#define _DEFAULT_SOURCE /* timegm, gmtime_r */
#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <json-c/json.h>

#include "entry.h"
#include "graph.h"

static const char *const status_values[] = {"disabled", "alwaysEnabled",
                                            "scheduled", NULL};
static const char *const audience_values[] = {"none", "contactsOnly", "all",
                                              NULL};

static const wfc_field inputs[] = {
    {.name = "mailbox",
     .type = WFC_TYPE_STRING,
     .description = "Shared or delegated mailbox (UPN or id); empty for "
                    "your own."},
    {.name = "status",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "disabled, alwaysEnabled, or scheduled (needs start and "
                    "end).",
     .enum_values = status_values},
    {.name = "internal_message",
     .type = WFC_TYPE_STRING,
     .description = "Reply sent to people in the organization (HTML or "
                    "text)."},
    {.name = "external_message",
     .type = WFC_TYPE_STRING,
     .description = "Reply sent to people outside the organization."},
    {.name = "external_audience",
     .type = WFC_TYPE_STRING,
     .description = "Who outside gets the external reply: none, "
                    "contactsOnly or all.",
     .enum_values = audience_values},
    {.name = "start",
     .type = WFC_TYPE_DATETIME,
     .description = "Start of a scheduled period (ISO 8601; with Z or an "
                    "offset it is converted to UTC)."},
    {.name = "end", .type = WFC_TYPE_DATETIME, .description = "End of it."},
    {.name = "time_zone",
     .type = WFC_TYPE_STRING,
     .description = "Time zone of start/end given without Z or offset.",
     .default_json = "\"UTC\""},
    {0}};

static const wfc_field outputs[] = {
    {.name = "status", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED},
    {.name = "external_audience", .type = WFC_TYPE_STRING},
    {.name = "internal_message", .type = WFC_TYPE_STRING},
    {.name = "external_message", .type = WFC_TYPE_STRING},
    {.name = "start", .type = WFC_TYPE_STRING},
    {.name = "end", .type = WFC_TYPE_STRING},
    {.name = "time_zone", .type = WFC_TYPE_STRING},
    {0}};

static void on_patched(void *arg, const o365_graph_res *res) {
  wfc_call *call = arg;
  if (res->status == 403) {
    o365_graph_fail(call, res,
                    "setting automatic replies was refused: it needs the "
                    "MailboxSettings.ReadWrite permission (not among this "
                    "connection's default scopes) and, for another mailbox, "
                    "the right to change its settings");
    return;
  }
  if (res->error != 0) {
    o365_graph_fail(call, res, "setting automatic replies failed");
    return;
  }
  struct json_object *ar = NULL, *out = json_object_new_object();
  json_object_object_get_ex(res->json, "automaticRepliesSetting", &ar);
  o365_json_add_str(out, "status", o365_json_str(ar, "status"));
  o365_json_add_str(out, "external_audience",
                    o365_json_str(ar, "externalAudience"));
  o365_json_add_str(out, "internal_message",
                    o365_json_str(ar, "internalReplyMessage"));
  o365_json_add_str(out, "external_message",
                    o365_json_str(ar, "externalReplyMessage"));
  struct json_object *s = NULL, *e = NULL;
  json_object_object_get_ex(ar, "scheduledStartDateTime", &s);
  json_object_object_get_ex(ar, "scheduledEndDateTime", &e);
  o365_json_add_str(out, "start", o365_json_str(s, "dateTime"));
  o365_json_add_str(out, "end", o365_json_str(e, "dateTime"));
  o365_json_add_str(out, "time_zone", o365_json_str(s, "timeZone"));
  if (o365_json_str(out, "status") == NULL)
    o365_json_add_str(out, "status",
                      o365_json_str(o365_api->call_input(call), "status"));
  o365_api->call_done(call, out);
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  const char *status = o365_json_str(in, "status");
  const char *start = o365_json_str(in, "start");
  const char *end = o365_json_str(in, "end");
  const char *tz = o365_json_str(in, "time_zone");
  struct json_object *ar = json_object_new_object();
  o365_json_add_str(ar, "status", status);
  o365_json_add_str(ar, "internalReplyMessage",
                    o365_json_str(in, "internal_message"));
  o365_json_add_str(ar, "externalReplyMessage",
                    o365_json_str(in, "external_message"));
  o365_json_add_str(ar, "externalAudience",
                    o365_json_str(in, "external_audience"));
  const char *bad = NULL;
  if (strcmp(status, "scheduled") == 0 && (start == NULL || end == NULL))
    bad = start == NULL ? "start: required when status is scheduled"
                        : "end: required when status is scheduled";
  long long ts = 0, te = 0;
  struct json_object *js = NULL, *je = NULL;
  if (bad == NULL && start != NULL &&
      (js = o365_json_dttz(start, tz, &ts)) == NULL)
    bad = "start: not an ISO 8601 date and time";
  if (bad == NULL && end != NULL && (je = o365_json_dttz(end, tz, &te)) == NULL)
    bad = "end: not an ISO 8601 date and time";
  if (bad == NULL && js != NULL && je != NULL && te <= ts)
    bad = "end: must be after start";
  if (js != NULL)
    O365_JSON_ADD(ar, "scheduledStartDateTime", js);
  if (je != NULL)
    O365_JSON_ADD(ar, "scheduledEndDateTime", je);
  if (bad != NULL) {
    json_object_put(ar);
    o365_api->call_fail(call, WFC_EVALIDATION, NULL, "%s", bad);
    return 0;
  }
  struct json_object *body = json_object_new_object();
  O365_JSON_ADD(body, "automaticRepliesSetting", ar);
  o365_buf path;
  o365_buf_init(&path);
  o365_graph_mailbox(&path, o365_call_mailbox(call));
  o365_buf_put(&path, "/mailboxSettings");
  /* Setting the same values twice is harmless. */
  o365_graph_opts o = {.method = "PATCH",
                       .path = path.data,
                       .body = body,
                       .flags = O365_GRAPH_IDEMPOTENT};
  int rc =
      path.oom ? WFC_ENOMEM : o365_graph_send(call, &o, on_patched, call, NULL);
  o365_buf_free(&path);
  json_object_put(body);
  return rc;
}

const wfc_card_desc o365_card_set_automatic_replies = {
    .id = "set_automatic_replies",
    .name = "Set Automatic Replies",
    .description = "Turns automatic replies (out of office) off, on, or on "
                   "for a scheduled period, with internal and external "
                   "messages. Needs the MailboxSettings.ReadWrite "
                   "permission.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
