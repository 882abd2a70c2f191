/* send_email.c - Send Email.
 * Graph: without attachments POST {mb}/sendMail {"message","saveToSentItems"};
 * with attachments the draft pipeline (message.h: POST {mb}/messages,
 * attachments, POST {mb}/messages/{id}/send).
 *
 * No duplicate send (plugin/keysend.h, shared with Reply and Forward): with
 * an idempotency_key the message carries a Message-ID derived from the key
 * and the mailbox, runs with the key in this process wait for the first,
 * runs on other processes and hosts claim the key in the host's store
 * (claim.h, ABI 1.3) first, and the holder asks the mailbox for a sent
 * message with that id (sent.h) before it sends: found, it answers
 * deduplicated without sending. The state lives in the mailbox itself, so
 * a retry from another host or after a crash finds it, also on a host
 * without claims. It needs the sent copy: save_to_sent_items false with a
 * key is refused.
 *
 * A lost answer (the send request was sent, then the connection broke or
 * timed out, or a gateway answered 502/504: graph.h's outcome_unknown; the
 * HTTP engine never sends a POST twice) is settled in the same run
 * (o365_sent_settle): with a key the card looks for the copy again for up
 * to O365MAIL_SEND_CONFIRM_MS (15 s), since Graph files it a moment after
 * accepting the send. Found: reported as sent (not deduplicated: this run
 * sent it). Not found: the run fails with the outcome unknown and says so;
 * it does not send again, because an absent copy is no proof that Graph did
 * not take the message (it may file it later), and a second send would
 * then be a duplicate; a rerun with the key looks first and sends only if
 * the copy is still absent. Without a key the outcome stays unknown, and
 * the error says to look in Sent Items (or to use a key).
 *
 * Drafts of interrupted runs (with attachments the message goes through a
 * draft: create, attach, /send; a run killed or failed between the
 * creation and /send leaves the draft, marked with the key's Message-ID).
 * A keyed run's first look lists every message with the marker, drafts
 * included, and deletes those drafts before it sends (o365_sent_check);
 * it then makes a fresh draft. Deleting and making again was chosen over
 * reusing an earlier draft: reuse would have to prove the draft complete
 * and equal to what this run would send - every attachment's bytes (names
 * and sizes prove nothing about a cut upload session or a changed file),
 * the recipients and body (a rerun may carry corrected input) - and would
 * race with the run that made it; a fresh draft is right by construction,
 * at the cost of uploading the files again. A failed keyed run says so:
 * "the draft is kept in Drafts (draft_id ...) until a rerun with the same
 * idempotency_key deletes it". Another process sending with the same key
 * at that moment: each draft is deleted with If-Match (its entity tag as
 * the look saw it), so one that changed since (being attached to, being
 * sent) stays; the run then looks again and reports the message
 * deduplicated when it is there, else fails (WFC_EBUSY) without sending.
 * A draft deleted under a run between its last attachment and its /send
 * makes that /send fail with 404: the run reports nothing sent (never
 * "sent"), and the message goes out once, by the deleting run. */
#include <stdlib.h>

#include <json-c/json.h>

#include "entry.h"
#include "keysend.h"
#include "message.h"

static const wfc_field inputs[] = {{O365_FIELD_MAILBOX},
                                   O365_FIELDS_COMPOSE(0),
                                   {.name = "save_to_sent_items",
                                    .type = WFC_TYPE_BOOLEAN,
                                    .description = "Keep a copy in Sent Items.",
                                    .default_json = "true"},
                                   {O365_FIELD_IDEMPOTENCY_KEY},
                                   {0}};

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  char err[256];
  if (o365_msg_check_compose(in, 1, err, sizeof err) != 0) {
    o365_api->call_fail(call, WFC_EVALIDATION, NULL, "%s", err);
    return 0;
  }
  const char *key = o365_json_str(in, "idempotency_key");
  struct json_object *save = NULL, *files = NULL;
  json_object_object_get_ex(in, "save_to_sent_items", &save);
  json_object_object_get_ex(in, "attachments", &files);
  if (key != NULL && save != NULL && !json_object_get_boolean(save)) {
    o365_api->call_fail(call, WFC_EVALIDATION, NULL,
                        "idempotency_key: needs save_to_sent_items true (the "
                        "sent copy is how a retry knows it was sent)");
    return 0;
  }
  struct json_object *msg = o365_msg_build(in);
  struct json_object *body = json_object_new_object();
  O365_JSON_ADD(body, "message", json_object_get(msg));
  O365_JSON_ADD(
      body, "saveToSentItems",
      json_object_new_boolean(save == NULL || json_object_get_boolean(save)));
  char *path = o365_graph_path(o365_call_mailbox(call), "sendMail", NULL);
  o365_keysend ks = {.key = key,
                     .message = msg,
                     .path = path,
                     .body = body,
                     .compose = {.create_body = msg,
                                 .files = files,
                                 .what = "sending the message failed"}};
  int rc = path == NULL ? WFC_ENOMEM : o365_keysend_run(call, &ks);
  free(path);
  json_object_put(body);
  json_object_put(msg);
  return rc;
}

const wfc_card_desc o365_card_send_email = {
    .id = "send_email",
    .name = "Send Email",
    .description = "Sends an email (text or HTML, with attachments) from your "
                   "mailbox or a shared one; an idempotency key makes a "
                   "retried run send it once.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_msg_sent_fields,
    .invoke = invoke};
