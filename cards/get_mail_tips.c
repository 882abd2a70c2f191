/* get_mail_tips.c - Get Mail Tips: before sending, what Exchange knows
 * about each recipient (out of office, mailbox full, size limit, internal
 * or external, restrictions).
 * Graph: POST .../getMailTips {"EmailAddresses":[...],"MailTipsOptions":
 * "automaticReplies,mailboxFullStatus,..."}. */
#include <string.h>

#include <json-c/json.h>

#include "entry.h"
#include "graph.h"

static const char *const tip_values[] = {
    "automaticReplies",    "mailboxFullStatus",
    "maxMessageSize",      "recipientScope",
    "deliveryRestriction", "moderationStatus",
    "customMailTip",       "externalMemberCount",
    "totalMemberCount",    NULL};

static const wfc_field inputs[] = {
    {.name = "mailbox",
     .type = WFC_TYPE_STRING,
     .description = "Ask as this mailbox (UPN or id); empty for your own."},
    {.name = "recipients",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Addresses to get mail tips for.",
     .items = &(const wfc_field){.type = WFC_TYPE_EMAIL},
     .min = 1,
     .max = 100},
    {.name = "tips",
     .type = WFC_TYPE_LIST,
     .description = "Which tips to get.",
     .default_json = "[\"automaticReplies\",\"mailboxFullStatus\","
                     "\"maxMessageSize\",\"recipientScope\","
                     "\"deliveryRestriction\"]",
     .items =
         &(const wfc_field){.type = WFC_TYPE_STRING, .enum_values = tip_values},
     .min = 1},
    {0}};

static const wfc_field tip_fields[] = {
    {.name = "address", .type = WFC_TYPE_STRING},
    {.name = "automatic_replies",
     .type = WFC_TYPE_BOOLEAN,
     .description = "An automatic reply (out of office) is on."},
    {.name = "automatic_reply_message",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_NULLABLE},
    {.name = "mailbox_full", .type = WFC_TYPE_BOOLEAN},
    {.name = "max_message_size",
     .type = WFC_TYPE_INTEGER,
     .description = "Largest message the recipient accepts, in bytes."},
    {.name = "recipient_scope",
     .type = WFC_TYPE_STRING,
     .description = "internal, external, externalPartner, ..."},
    {.name = "delivery_restricted", .type = WFC_TYPE_BOOLEAN},
    {.name = "is_moderated", .type = WFC_TYPE_BOOLEAN},
    {.name = "custom_mail_tip", .type = WFC_TYPE_STRING},
    {.name = "external_member_count", .type = WFC_TYPE_INTEGER},
    {.name = "total_member_count", .type = WFC_TYPE_INTEGER},
    {.name = "error",
     .type = WFC_TYPE_STRING,
     .description = "Why the tips of this recipient are missing."},
    {0}};

static const wfc_field outputs[] = {
    {.name = "tips",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .items =
         &(const wfc_field){.type = WFC_TYPE_OBJECT, .fields = tip_fields}},
    {0}};

/* Copies Graph member from into our key to when present. */
static void copy(struct json_object *from, const char *gkey,
                 struct json_object *to, const char *key) {
  struct json_object *v = NULL;
  if (json_object_object_get_ex(from, gkey, &v) && v != NULL)
    o365_json_add_static(to, key, json_object_get(v));
}

static void on_tips(void *arg, const o365_graph_res *res) {
  wfc_call *call = arg;
  if (res->error != 0) {
    o365_graph_fail(call, res, "getting mail tips failed");
    return;
  }
  struct json_object *value = NULL, *list = json_object_new_array();
  json_object_object_get_ex(res->json, "value", &value);
  for (size_t i = 0; i < json_object_array_length(value); i++) {
    struct json_object *t = json_object_array_get_idx(value, i), *v = NULL;
    struct json_object *o = json_object_new_object();
    struct json_object *ea = NULL;
    json_object_object_get_ex(t, "emailAddress", &ea);
    o365_json_add_str(o, "address", o365_json_str(ea, "address"));
    if (json_object_object_get_ex(t, "automaticReplies", &v)) {
      const char *msg = o365_json_str(v, "message");
      O365_JSON_ADD(o, "automatic_replies",
                    json_object_new_boolean(msg && *msg));
      O365_JSON_ADD(o, "automatic_reply_message",
                    msg && *msg ? json_object_new_string(msg) : NULL);
    }
    copy(t, "mailboxFull", o, "mailbox_full");
    copy(t, "maxMessageSize", o, "max_message_size");
    copy(t, "recipientScope", o, "recipient_scope");
    copy(t, "deliveryRestricted", o, "delivery_restricted");
    copy(t, "isModerated", o, "is_moderated");
    copy(t, "customMailTip", o, "custom_mail_tip");
    copy(t, "externalMemberCount", o, "external_member_count");
    copy(t, "totalMemberCount", o, "total_member_count");
    if (json_object_object_get_ex(t, "error", &v) && v != NULL) {
      const char *m = o365_json_str(v, "message");
      o365_json_add_str(o, "error", m ? m : o365_json_str(v, "code"));
    }
    json_object_array_add(list, o);
  }
  struct json_object *out = json_object_new_object();
  O365_JSON_ADD(out, "tips", list);
  o365_api->call_done(call, out);
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  struct json_object *recipients = NULL, *tips = NULL;
  json_object_object_get_ex(in, "recipients", &recipients);
  json_object_object_get_ex(in, "tips", &tips);
  o365_buf opts;
  o365_buf_init(&opts);
  for (size_t i = 0; i < json_object_array_length(tips); i++)
    o365_buf_printf(&opts, "%s%s", i ? "," : "",
                    json_object_get_string(json_object_array_get_idx(tips, i)));
  if (tips == NULL)
    o365_buf_put(&opts, "automaticReplies,mailboxFullStatus,maxMessageSize,"
                        "recipientScope,deliveryRestriction");
  struct json_object *body = json_object_new_object();
  O365_JSON_ADD(body, "EmailAddresses", json_object_get(recipients));
  o365_json_add_str(body, "MailTipsOptions", opts.data ? opts.data : "");
  o365_buf path;
  o365_buf_init(&path);
  o365_graph_mailbox(&path, o365_call_mailbox(call));
  o365_buf_put(&path, "/getMailTips");
  /* A read: repeating it is harmless. */
  o365_graph_opts o = {.method = "POST",
                       .path = path.data,
                       .body = body,
                       .flags = O365_GRAPH_IDEMPOTENT};
  int rc = path.oom || opts.oom
               ? WFC_ENOMEM
               : o365_graph_send(call, &o, on_tips, call, NULL);
  o365_buf_free(&path);
  o365_buf_free(&opts);
  json_object_put(body);
  return rc;
}

const wfc_card_desc o365_card_get_mail_tips = {
    .id = "get_mail_tips",
    .name = "Get Mail Tips",
    .description = "Gets mail tips for recipients before sending: automatic "
                   "replies, full mailbox, message size limit, recipient "
                   "scope and delivery restrictions.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
