/* flag_email.c - Flag Email.
 * Graph: PATCH {mb}/messages/{id} {"flag":{"flagStatus"[,"dueDateTime",
 * "startDateTime"]}} (repeatable: idempotent). Graph refuses a due date
 * without a start (followupFlag); the start is the given one, else now, or
 * the due date when that is already past. Both are dateTimeTimeZone
 * (o365_json_dttz: UTC, no "Z"). */
#include <string.h>

#include <json-c/json.h>

#include "entry.h"
#include "message.h"

static const char *const status_values[] = {"flagged", "complete", "notFlagged",
                                            NULL};

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {O365_FIELD_MESSAGE_ID("Id of the message.")},
    {.name = "status",
     .type = WFC_TYPE_STRING,
     .description = "flagged (follow up), complete, or notFlagged (clear).",
     .default_json = "\"flagged\"",
     .enum_values = status_values},
    {.name = "due",
     .type = WFC_TYPE_DATETIME,
     .description = "Follow-up due date for a flagged message."},
    {.name = "start",
     .type = WFC_TYPE_DATETIME,
     .description = "When the follow-up begins (with due; not after it). "
                    "Default: now, or the due date when that is past."},
    {0}};

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  const char *status = o365_json_str(in, "status");
  const char *due = o365_json_str(in, "due");
  if (status == NULL)
    status = "flagged";
  const char *start = o365_json_str(in, "start");
  if ((due != NULL || start != NULL) && strcmp(status, "flagged") != 0) {
    o365_api->call_fail(call, WFC_EVALIDATION, NULL,
                        "%s: only a flagged message has follow-up dates "
                        "(status is %s)",
                        due != NULL ? "due" : "start", status);
    return 0;
  }
  if (start != NULL && due == NULL) {
    o365_api->call_fail(call, WFC_EVALIDATION, NULL,
                        "start: given without due (Graph keeps a start only "
                        "with a due date)");
    return 0;
  }
  struct json_object *jd = NULL, *js = NULL;
  long long td = 0, ts = 0;
  if (due != NULL) {
    char now[32];
    o365_time_iso(o365_api->now_ms(), now, sizeof now);
    jd = o365_json_dttz(due, NULL, &td);
    js = o365_json_dttz(start != NULL ? start : now, NULL, &ts);
    if (jd == NULL || js == NULL) {
      json_object_put(jd);
      json_object_put(js);
      o365_api->call_fail(call, WFC_EVALIDATION, NULL,
                          "%s: not an ISO 8601 date and time",
                          jd == NULL ? "due" : "start");
      return 0;
    }
    if (ts > td && start != NULL) {
      json_object_put(jd);
      json_object_put(js);
      o365_api->call_fail(call, WFC_EVALIDATION, NULL, "start: after due (%s)",
                          due);
      return 0;
    }
    if (ts > td) { /* due already past: the follow-up began then */
      json_object_put(js);
      js = o365_json_dttz(due, NULL, NULL);
    }
  }
  struct json_object *flag = json_object_new_object();
  o365_json_add_str(flag, "flagStatus", status);
  if (jd != NULL) {
    O365_JSON_ADD(flag, "startDateTime", js);
    O365_JSON_ADD(flag, "dueDateTime", jd);
  }
  struct json_object *body = json_object_new_object();
  O365_JSON_ADD(body, "flag", flag);
  int rc = o365_msg_patch(call, body, "flagging the message failed");
  json_object_put(body);
  return rc;
}

const wfc_card_desc o365_card_flag_email = {
    .id = "flag_email",
    .name = "Flag Email",
    .description = "Flags a message for follow-up (with an optional due "
                   "date), marks the flag complete, or clears it.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_msg_fields,
    .invoke = invoke};
