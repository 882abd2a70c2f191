/* keysend.h - a message sent at most once per idempotency key: the one
 * path of every card that sends mail it composes (Send Email, Reply to
 * Email, Forward Email).
 *
 * The card builds its request (one POST: sendMail, reply, replyAll,
 * forward; or, with attachments, the draft pipeline of message.h:
 * createReply / createForward / a new draft, the attachments, /send) and
 * hands it over here. Without a key the request is sent as it is; a lost
 * answer fails the run with the outcome unknown (o365_sent_settle without
 * a marker, which says to look in Sent Items or to use a key).
 *
 * With a key the message carries a Message-ID derived from the key and the
 * mailbox (internetMessageId "<wfc-<40 hex of sha256(mailbox \n key)>
 * @wfc.idempotency>", set here on o365_keysend.message). Graph keeps it on
 * the copy it saves in Sent Items, for a reply or a forward as for a new
 * message (message-reply.md / message-forward.md: the action's "message"
 * takes the writable properties of the message sent; createReply /
 * createForward put it on the draft from its creation), so the mailbox
 * itself records whether the send went out. Then, in this order:
 *   1. one flight per account and marker in this process (flight.h): runs
 *      with the key at the same time wait for the first and report its
 *      outcome deduplicated;
 *   2. the host's idempotency claim (claim.h, ABI 1.3), shared by every
 *      process and host on the store: a recorded outcome is reported
 *      deduplicated, a claim another run holds fails the run (WFC_EBUSY);
 *      an older host has no claims and the marker check alone guards;
 *   3. the marker check (sent.h, o365_sent_check): a sent message with the
 *      marker is reported deduplicated; drafts earlier runs with the key
 *      left are deleted (with their entity tag);
 *   4. the send; a lost answer (graph.h's outcome_unknown) is settled by
 *      looking for the marker (o365_sent_settle): found, sent; not found,
 *      the run fails with the outcome unknown and never sends again by
 *      itself (a rerun with the key does, only when the copy is absent);
 *   5. the claim records the outcome (success), or is released (a failure
 *      that sent nothing; one that may have sent keeps the key for the
 *      marker check of the next claimant).
 * The same key on another mailbox or account is another message.
 *
 * Loop thread only. */
#ifndef O365_KEYSEND_H
#define O365_KEYSEND_H

#include <wfc/plugin.h>

#include "message.h"

struct json_object;

typedef struct o365_keysend {
  const char *key; /* the run's idempotency_key, or NULL */
  /* The Graph message object the marker goes in ("internetMessageId"),
   * reachable from body and compose.create_body (sendMail's "message",
   * the reply action's "message", a new draft itself). Needed with a
   * key. */
  struct json_object *message;
  /* Without attachments: POST path (relative to Graph, e.g. from
   * o365_graph_path / o365_msg_path) with body. */
  const char *path;
  struct json_object *body;
  /* With attachments (compose.files not empty): the draft pipeline.
   * compose.what and compose.create_action are static strings; its notes
   * and callbacks are set here (a keyed run's failure says the next run
   * with the key deletes the draft). compose.what also names the POST's
   * failures ("sending the message failed"). */
  o365_compose compose;
} o365_keysend;

/* Runs ks's send for call, as above, and completes call (output:
 * o365_msg_sent_fields; "internet_message_id" with a key, "subject" when
 * the input has one). Everything in ks is borrowed (copied or referenced
 * as needed). Returns 0, or an error when nothing started (call not
 * completed). */
int o365_keysend_run(wfc_call *call, const o365_keysend *ks);

/* Reply, reply all or forward (action "reply", "replyAll", "forward") of
 * c->source_id through o365_keysend_run: POST {mb}/messages/{id}/{action}
 * with c->create_body (the action's JSON: comment, message,
 * toRecipients), or, when c->files has entries, the draft pipeline through
 * c->create_action. message: the action's "message" object (in
 * create_body), where a key's marker goes; needed with a key. Borrowed:
 * everything. */
int o365_keysend_respond(wfc_call *call, const char *action, const char *key,
                         struct json_object *message, const o365_compose *c);

/* The "idempotency_key" input of the keyed cards: {O365_FIELD_IDEMPOTENCY_KEY},
 * (a key needs the copy in Sent Items: a card that can skip it refuses
 * the pair itself). */
#define O365_FIELD_IDEMPOTENCY_KEY                                             \
  .name = "idempotency_key", .type = WFC_TYPE_STRING,                          \
  .description =                                                               \
      "Any unique string for this message (e.g. the flow run and step): a "    \
      "retried run with the same key does not send it again, and runs with "   \
      "the same key at the same time on one host send it once (the others "    \
      "wait and report it as deduplicated). When the answer to the send is "   \
      "lost, the run looks for the message in the mailbox and reports it "     \
      "sent, or fails saying the outcome is unknown; it never sends it "       \
      "twice. Runs on other processes or hosts sharing the connection store "  \
      "claim the key there first: one sends, the others report it "            \
      "deduplicated or, while it is sending, fail saying so (rerun later).",   \
  .min = 1, .max = 200

#endif
