/* flag_email.c - Flag Email.
 * Graph: PATCH {mb}/messages/{id} {"flag":{"flagStatus"[,"dueDateTime",
 * "startDateTime"]}} (repeatable: idempotent). */
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
     .description = "Follow-up due date (UTC) for a flagged message."},
    {0}};

/* {"dateTime":"...","timeZone":"UTC"} */
static struct json_object *dt(const char *iso) {
  struct json_object *o = json_object_new_object();
  o365_json_add_str(o, "dateTime", iso);
  o365_json_add_str(o, "timeZone", "UTC");
  return o;
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  const char *status = o365_json_str(in, "status");
  const char *due = o365_json_str(in, "due");
  if (status == NULL)
    status = "flagged";
  if (due != NULL && strcmp(status, "flagged") != 0) {
    o365_api->call_fail(call, WFC_EVALIDATION, NULL,
                        "due: only a flagged message has a due date (status "
                        "is %s)",
                        status);
    return 0;
  }
  struct json_object *flag = json_object_new_object();
  o365_json_add_str(flag, "flagStatus", status);
  if (due != NULL) {
    json_object_object_add(flag, "startDateTime", dt(due));
    json_object_object_add(flag, "dueDateTime", dt(due));
  }
  struct json_object *body = json_object_new_object();
  json_object_object_add(body, "flag", flag);
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
