/* message.h - what the message cards share.
 *
 *   - schema pieces: the optional "mailbox" and "message_id" inputs, the
 *     composition inputs (to/cc/bcc, subject, body, body_type, importance,
 *     reply_to, categories, from) and the one output shape of a message
 *     (o365_msg_fields), so every card says the same thing the same way;
 *   - semantic validation of a composition (the SDK has checked types);
 *   - the Graph message JSON built from those inputs;
 *   - our JSON for a Graph message (id, subject, from, to, received,
 *     is_read, web_link, ...), and the $select that feeds it;
 *   - Graph errors turned into card errors that say what to do;
 *   - o365_msg_one(): one request, then complete the call.
 *
 * Memory: JSON returned is a new reference (transfer); everything taken is
 * borrowed. */
#ifndef O365_MESSAGE_H
#define O365_MESSAGE_H

#include <stddef.h>

#include <wfc/plugin.h>

#include "graph.h"
#include "util.h"

struct json_object;

/* Graph limits the whole message (with attachments) to 150 MB through
 * upload sessions, 4 MB in one request; a body is text in the JSON, kept
 * under 3.5 MB so that sendMail never meets 413 for the body alone. */
#define O365_MSG_BODY_MAX (3500 * 1024)
/* Exchange Online: at most 500 recipients per message. */
#define O365_MSG_RECIPIENTS_MAX 500

#define O365_MSG_MAILBOX_DESC                                                  \
  "Shared or delegated mailbox (UPN or object id) to act in; empty for "       \
  "the connected account's own (an app-only connection: its default "          \
  "mailbox, which it must then have)."

/* A schema entry: {O365_FIELD_MAILBOX}, */
#define O365_FIELD_MAILBOX                                                     \
  .name = "mailbox", .type = WFC_TYPE_STRING,                                  \
  .description = O365_MSG_MAILBOX_DESC, .max = 320

#define O365_FIELD_MESSAGE_ID(desc)                                            \
  .name = "message_id", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED,  \
  .description = (desc), .min = 1, .max = 512

/* Item of an address list. */
extern const wfc_field o365_msg_email_item[];
/* Item of a category list. */
extern const wfc_field o365_msg_category_item[];
/* Item of an attachment list (FILE). */
extern const wfc_field o365_msg_file_item[];
extern const char *const o365_msg_body_types[];  /* text, html */
extern const char *const o365_msg_importances[]; /* low, normal, high */

/* Entries for a composition (spread into a card's inputs):
 * O365_FIELDS_COMPOSE_CORE without attachments, O365_FIELDS_COMPOSE with. */
#define O365_FIELDS_COMPOSE_CORE(to_flags)                                     \
  {.name = "to",                                                               \
   .type = WFC_TYPE_LIST,                                                      \
   .flags = (to_flags),                                                        \
   .description = "To recipients (email addresses).",                          \
   .items = o365_msg_email_item,                                               \
   .max = O365_MSG_RECIPIENTS_MAX},                                            \
      {.name = "cc",                                                           \
       .type = WFC_TYPE_LIST,                                                  \
       .description = "Cc recipients (email addresses).",                      \
       .items = o365_msg_email_item,                                           \
       .max = O365_MSG_RECIPIENTS_MAX},                                        \
      {.name = "bcc",                                                          \
       .type = WFC_TYPE_LIST,                                                  \
       .description = "Bcc recipients (email addresses), hidden from the "     \
                      "others.",                                               \
       .items = o365_msg_email_item,                                           \
       .max = O365_MSG_RECIPIENTS_MAX},                                        \
      {.name = "subject",                                                      \
       .type = WFC_TYPE_STRING,                                                \
       .description = "Subject line.",                                         \
       .max = 255},                                                            \
      {.name = "body",                                                         \
       .type = WFC_TYPE_STRING,                                                \
       .description = "Message body, as text or HTML (see body_type); at "     \
                      "most 3.5 MB.",                                          \
       .max = O365_MSG_BODY_MAX},                                              \
      {.name = "body_type",                                                    \
       .type = WFC_TYPE_STRING,                                                \
       .description = "How body is meant: text (shown as typed) or html.",     \
       .default_json = "\"text\"",                                             \
       .enum_values = o365_msg_body_types},                                    \
      {.name = "importance",                                                   \
       .type = WFC_TYPE_STRING,                                                \
       .description = "low, normal or high.",                                  \
       .enum_values = o365_msg_importances},                                   \
      {.name = "reply_to",                                                     \
       .type = WFC_TYPE_LIST,                                                  \
       .description = "Addresses replies should go to instead of the "         \
                      "sender.",                                               \
       .items = o365_msg_email_item,                                           \
       .max = 50},                                                             \
      {.name = "categories",                                                   \
       .type = WFC_TYPE_LIST,                                                  \
       .description = "Outlook categories to set on the message.",             \
       .items = o365_msg_category_item,                                        \
       .max = 50},                                                             \
  {                                                                            \
    .name = "from", .type = WFC_TYPE_EMAIL,                                    \
    .description = "Send as / on behalf of this address (a shared "            \
                   "mailbox the account has Send As or Send on Behalf "        \
                   "rights on); empty: the mailbox's own address."             \
  }

#define O365_FIELDS_COMPOSE(to_flags)                                          \
  O365_FIELDS_COMPOSE_CORE(to_flags), {                                        \
    .name = "attachments", .type = WFC_TYPE_LIST,                              \
    .description = "Files to attach (up to 150 MB each; over 3 MB they "       \
                   "go through an upload session).",                           \
    .items = o365_msg_file_item, .max = 100                                    \
  }

/* The output shape of a message: {"id","subject","from","from_name",
 * "to","cc","bcc","reply_to","received","sent","is_read","is_draft",
 * "importance","has_attachments","categories","flag","conversation_id",
 * "internet_message_id","parent_folder_id","web_link","preview",
 * "body","body_type"}; keys Graph did not return are left out. */
extern const wfc_field o365_msg_fields[];
/* $select for o365_msg_json (without / with the body). */
#define O365_MSG_SELECT                                                        \
  "id,subject,from,toRecipients,ccRecipients,bccRecipients,replyTo,"           \
  "receivedDateTime,sentDateTime,isRead,isDraft,importance,hasAttachments,"    \
  "categories,flag,conversationId,internetMessageId,parentFolderId,webLink,"   \
  "bodyPreview"
#define O365_MSG_SELECT_BODY O365_MSG_SELECT ",body"

/* Our JSON for a Graph message (borrowed); NULL in, empty object out. */
struct json_object *o365_msg_json(struct json_object *graph_msg);

/* Checks a composition beyond types: at least one recipient across
 * to/cc/bcc when need_recipient, at most O365_MSG_RECIPIENTS_MAX in all,
 * the body's size. 0, or -1 with err naming the field. */
int o365_msg_check_compose(struct json_object *in, int need_recipient,
                           char *err, size_t errsz);
/* The Graph message JSON for the composition inputs present in in (only
 * those: a reply's message holds only what the caller gave). */
struct json_object *o365_msg_build(struct json_object *in);
/* Graph recipients [{"emailAddress":{"address":..}}] of a list of
 * addresses (strings); NULL when list is NULL. */
struct json_object *o365_msg_recipients(struct json_object *list);

/* ".../me/messages/{id}[/action]" (mailbox NULL/"" = /me). */
void o365_msg_path(o365_buf *b, const char *mailbox, const char *message_id,
                   const char *action);

/* Completes call with res's Graph error, explained: not found, access
 * denied to the mailbox, send-as denied, invalid recipients, mailbox full,
 * too large, throttled. what: "sending the message" ... */
void o365_msg_fail(wfc_call *call, const o365_graph_res *res, const char *what);

/* One request for call, then completion: on 2xx call_done(out(call, res))
 * (out NULL: o365_msg_json(res->json)); else o365_msg_fail(what). Returns
 * 0 or the code of a request that did not start (nothing completed). */
typedef struct json_object *(*o365_msg_out_fn)(wfc_call *call,
                                               const o365_graph_res *res);
int o365_msg_one(wfc_call *call, const o365_graph_opts *o, const char *what,
                 o365_msg_out_fn out);

/* PATCH {mb}/messages/{id} of the call's input ("mailbox", "message_id")
 * with body (borrowed) and $select=O365_MSG_SELECT, then completes like
 * o365_msg_one (output: the updated message). Repeatable (idempotent). */
int o365_msg_patch(wfc_call *call, struct json_object *body, const char *what);

/* Output of the cards that write a message (send, draft, reply,
 * forward, send draft): {"sent","id"?,"internet_message_id"?,"subject"?,
 * "web_link"?,"deduplicated"?,"attachments"?:[{"id","name",
 * "content_type","size","method"}]}. */
extern const wfc_field o365_msg_sent_fields[];

/* The draft pipeline: create a draft (POST .../messages with
 * create_body as the message, or POST .../messages/{reply_to_id}/
 * {create_action} with create_body as the action's body), attach files
 * (plugin/attach.h), then send it (POST .../messages/{id}/send) when send
 * is set; complete the call with o365_msg_sent_fields. Immutable ids are
 * asked for, so the id stays valid once the message is in Sent Items.
 * When a step after the creation fails, the error says the draft (id in
 * the detail "draft_id") is kept in Drafts, followed by kept_note; when it
 * fails because the draft is gone (404: deleted meanwhile), it says so
 * instead, followed by gone_note. Borrowed: everything. */
typedef struct o365_compose {
  const char *source_id;     /* NULL: new message; else the one answered */
  const char *create_action; /* with source_id: "createReply", ... */
  struct json_object *create_body;
  struct json_object *files; /* FILE refs, or NULL */
  int send;
  const char *what; /* "sending the message" */
  /* Optional words after "the draft is kept in Drafts (draft_id X)" and
   * after "the draft (draft_id X) was deleted ...": what a rerun does
   * about it (Send Email with a key: the rerun deletes it). */
  const char *kept_note;
  const char *gone_note;
  /* Optional: runs once, right after the call was completed (never when
   * o365_msg_compose returns an error): out (borrowed) is the output on
   * success, NULL on failure. */
  void (*on_end)(void *arg, wfc_call *call, struct json_object *out);
  void *end_arg;
  /* Optional: the final send's outcome is unknown (res->outcome_unknown:
   * Graph may have sent it; it was not repeated). Called with end_arg
   * instead of failing the call: it must complete the call itself (Send
   * Email: o365_sent_settle), and on_end is not run. out (borrowed) is the
   * output built so far (id, internet_message_id, attachments, ...). NULL:
   * the call fails with the outcome unknown. */
  void (*on_unknown)(void *arg, wfc_call *call, const o365_graph_res *res,
                     struct json_object *out);
} o365_compose;
int o365_msg_compose(wfc_call *call, const o365_compose *c);

/* The "folder" input of the cards on o365_msg_move_copy. */
#define O365_FIELD_DESTINATION_FOLDER                                          \
  .name = "folder", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED,      \
  .description = "Destination: a well-known name (inbox, archive, "            \
                 "deleteditems...), a path like Inbox/Projects, or a "         \
                 "folder id.",                                                 \
  .min = 1, .max = 1024

/* Move or copy (action "move" / "copy") the input's message_id to the
 * input's "folder" (folders.h: well-known name, path or id): resolve, then
 * POST {mb}/messages/{id}/{action} {"destinationId"}; completes the call
 * with o365_msg_fields of the message in its new place (a move gives it a
 * new id). */
int o365_msg_move_copy(wfc_call *call, const char *action);

/* The Prefer header asking Graph for immutable ids (they survive moves and
 * sends), to put in o365_graph_opts.headers. */
extern const char *const o365_msg_prefer_immutable[];

#endif
