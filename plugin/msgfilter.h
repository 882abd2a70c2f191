/* msgfilter.h - the message filters of the mail triggers (new_email,
 * new_email_mentioning_me), as Power Automate's and n8n's mail triggers
 * offer them: sender, To, Cc (each: any of a list), subject contains,
 * importance, only with attachments.
 *
 * Graph's delta query takes no $filter but receivedDateTime, so the
 * filters run in the plugin on each message of a round, before it becomes
 * an event; the caller moves its checkpoint past a message whether or not
 * it matched, so a message left out is never delivered later (the filters
 * are part of the input, hence of the subscription: a different filter is
 * a different subscription). All filters given must match (and); within
 * a list, any address (case-insensitive, as mail addresses compare). */
#ifndef O365_MSGFILTER_H
#define O365_MSGFILTER_H

#include <wfc/plugin.h>

#include "message.h"
#include "trigger.h"

struct json_object;

/* Schema entries, spread into a trigger's inputs. */
#define O365_FIELDS_MSG_FILTER                                                 \
  {.name = "from",                                                             \
   .type = WFC_TYPE_LIST,                                                      \
   .description = "Only messages from one of these addresses.",                \
   .items = o365_msg_email_item,                                               \
   .max = O365_MSG_RECIPIENTS_MAX},                                            \
      {.name = "to",                                                           \
       .type = WFC_TYPE_LIST,                                                  \
       .description = "Only messages with one of these addresses among "       \
                      "their To recipients.",                                  \
       .items = o365_msg_email_item,                                           \
       .max = O365_MSG_RECIPIENTS_MAX},                                        \
      {.name = "cc",                                                           \
       .type = WFC_TYPE_LIST,                                                  \
       .description = "Only messages with one of these addresses among "       \
                      "their Cc recipients.",                                  \
       .items = o365_msg_email_item,                                           \
       .max = O365_MSG_RECIPIENTS_MAX},                                        \
      {.name = "subject_contains",                                             \
       .type = WFC_TYPE_STRING,                                                \
       .description = "Only messages whose subject contains this text "        \
                      "(ASCII letters compared case-insensitively).",          \
       .max = 255},                                                            \
      {.name = "importance",                                                   \
       .type = WFC_TYPE_STRING,                                                \
       .description = "Only messages of this importance: low, normal or "      \
                      "high.",                                                 \
       .enum_values = o365_msg_importances},                                   \
  {                                                                            \
    .name = "only_with_attachments", .type = WFC_TYPE_BOOLEAN,                 \
    .description = "Only messages that have attachments.",                     \
    .default_json = "false"                                                    \
  }

/* The inputs both mail triggers share, in their order: mailbox, folder,
 * since, include_body, page_size, max_events, then the filters; a card
 * adds its own after them. */
#define O365_FIELDS_MAIL_TRIGGER                                               \
  {O365_FIELD_MAILBOX}, O365_FIELD_WATCH_FOLDER,                               \
      {.name = "since",                                                        \
       .type = WFC_TYPE_DATETIME,                                              \
       .description = "First run only: deliver messages received from this "   \
                      "time on; empty: from the moment the watch starts."},    \
      {.name = "include_body",                                                 \
       .type = WFC_TYPE_BOOLEAN,                                               \
       .description = "Return each message's body.",                           \
       .default_json = "false"},                                               \
      O365_FIELD_PAGE_SIZE,                                                    \
      O365_FIELD_MAX_EVENTS("At most about this many messages per poll; the "  \
                            "rest come with the next one."),                   \
      O365_FIELDS_MSG_FILTER

/* 1 when msg (our JSON, o365_msg_json, borrowed) passes every filter of
 * the card input in (borrowed), else 0. */
int o365_msg_filter_match(struct json_object *in, struct json_object *msg);

#endif
