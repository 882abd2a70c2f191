/* send_email.c - Send Email.
 * Graph: without attachments POST {mb}/sendMail {"message","saveToSentItems"};
 * with attachments the draft pipeline (message.h: POST {mb}/messages,
 * attachments, POST {mb}/messages/{id}/send).
 *
 * No duplicate send: with an idempotency_key the message carries a
 * Message-ID derived from the key and the mailbox (internetMessageId
 * "<wfc-<sha256 hex>@wfc.idempotency>"), and the card first asks the
 * mailbox for a sent message with that id (sent.h, o365_sent_find): found,
 * it answers deduplicated without sending. The state lives in the mailbox
 * itself, so a retry from another host or after a crash finds it, also on
 * a host without idempotency claims (below). It needs the sent copy:
 * save_to_sent_items false with a key is refused.
 *
 * A lost answer (the send request was sent, then the connection broke or
 * timed out, or a gateway answered 502/504: graph.h's outcome_unknown; the
 * HTTP engine never sends a POST twice) is settled here, in the same run
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
 * "sent"), and the message goes out once, by the deleting run.
 *
 * Concurrent runs with the same key in one process (plugin/flight.h): the
 * first one checks and sends, the others wait for it and report its
 * outcome as deduplicated, or, when it failed, make their own attempt in
 * turn (which checks first, like any rerun). Across processes and hosts
 * the attempt first claims the key in the host's store (claim.h, ABI 1.3):
 * a recorded outcome is reported deduplicated, a claim another run holds
 * fails the run with WFC_EBUSY, and only the holder goes on to the marker
 * check and the send; a host without claims leaves the marker check alone
 * (both may then check before either has sent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "claim.h"
#include "entry.h"
#include "flight.h"
#include "message.h"
#include "sent.h"

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    O365_FIELDS_COMPOSE(0),
    {.name = "save_to_sent_items",
     .type = WFC_TYPE_BOOLEAN,
     .description = "Keep a copy in Sent Items.",
     .default_json = "true"},
    {.name = "idempotency_key",
     .type = WFC_TYPE_STRING,
     .description =
         "Any unique string for this send (e.g. the flow run and step): a "
         "retried run with the same key does not send the message again, "
         "and runs with the same key at the same time on one host send it "
         "once (the others wait and report it as deduplicated). When the "
         "answer to the send is lost, the run looks for the message in the "
         "mailbox and reports it sent, or fails saying the outcome is "
         "unknown; it never sends it twice. Runs on other processes or "
         "hosts sharing the connection store claim the key there first: "
         "one sends, the others report it deduplicated or, while it is "
         "sending, fail saying so (rerun later).",
     .min = 1,
     .max = 200},
    {0}};

typedef struct job {
  wfc_call *call;
  struct json_object *msg; /* Graph message */
  char imid[128];          /* "" without a key */
  char flight[512];        /* with a key: "<account>\n<imid>" */
  o365_claim claim;        /* with a key: the store's claim (claim.h) */
} job;

static void job_free(job *j) {
  json_object_put(j->msg);
  free(j);
}

static void job_free_arg(void *arg) {
  job_free(arg);
}

/* The run's end, after its call completed (out borrowed: the output, or
 * NULL for a failure): the runs waiting on the same key learn it. */
static void job_end(job *j, struct json_object *out) {
  o365_claim_end(j->call, &j->claim, out);
  if (j->flight[0])
    o365_flight_end(j->flight, j->call, out);
  job_free(j);
}

static void on_composed(void *arg, wfc_call *call, struct json_object *out) {
  (void)call;
  job_end(arg, out);
}

/* Completes j's call with out (transfer) and ends the run. */
static void job_done(job *j, struct json_object *out) {
  o365_api->call_done(j->call, json_object_get(out));
  job_end(j, out);
  json_object_put(out);
}

/* The send's outcome is unknown: settled by the key's marker (sent.h),
 * which completes the call and ends the run. out (borrowed): the output so
 * far, or NULL. */
static void settle(job *j, const o365_graph_res *res, struct json_object *out) {
  j->claim.maybe_sent = 1;
  o365_sent_settle(j->call, j->imid[0] ? j->imid : NULL, res,
                   "sending the message failed", out, on_composed, j);
}

static void on_compose_unknown(void *arg, wfc_call *call,
                               const o365_graph_res *res,
                               struct json_object *out) {
  (void)call;
  settle(arg, res, out);
}

static void on_sent(void *arg, const o365_graph_res *res) {
  job *j = arg;
  if (res->error != 0 && res->outcome_unknown) {
    settle(j, res, NULL);
    return;
  }
  if (res->error != 0) {
    o365_msg_fail(j->call, res, "sending the message failed");
    job_end(j, NULL);
    return;
  }
  struct json_object *out = json_object_new_object();
  json_object_object_add(out, "sent", json_object_new_boolean(1));
  if (j->imid[0])
    o365_json_add_str(out, "internet_message_id", j->imid);
  const char *subject = o365_json_str(o365_api->call_input(j->call), "subject");
  if (subject != NULL)
    o365_json_add_str(out, "subject", subject);
  job_done(j, out);
}

/* What a keyed run that failed after making its draft says about it
 * (message.h, o365_compose). */
static const char kept_with_key[] =
    " until a rerun with the same idempotency_key deletes it and sends the "
    "message once";
static const char gone_with_key[] =
    ", probably by another run with the same idempotency_key, which deletes "
    "the drafts of earlier runs before it sends; a rerun with the key sends "
    "the message only if no run did";

/* Sends j's message. On a non-zero return nothing was completed and j was
 * freed. */
static int send(job *j) {
  struct json_object *in = o365_api->call_input(j->call);
  struct json_object *files = NULL;
  json_object_object_get_ex(in, "attachments", &files);
  if (files != NULL && json_object_array_length(files) > 0) {
    o365_compose c = {.create_body = j->msg,
                      .files = files,
                      .send = 1,
                      .what = "sending the message failed",
                      .kept_note = j->imid[0] ? kept_with_key : NULL,
                      .gone_note = j->imid[0] ? gone_with_key : NULL,
                      .on_end = on_composed,
                      .on_unknown = on_compose_unknown,
                      .end_arg = j};
    int rc = o365_msg_compose(j->call, &c);
    if (rc != 0)
      job_free(j);
    return rc;
  }
  struct json_object *save = NULL;
  json_object_object_get_ex(in, "save_to_sent_items", &save);
  struct json_object *body = json_object_new_object();
  json_object_object_add(body, "message", json_object_get(j->msg));
  json_object_object_add(
      body, "saveToSentItems",
      json_object_new_boolean(save == NULL || json_object_get_boolean(save)));
  char *path = o365_graph_path(o365_call_mailbox(j->call), "sendMail", NULL);
  o365_graph_opts o = {.method = "POST", .path = path, .body = body};
  int rc = path == NULL ? WFC_ENOMEM
                        : o365_graph_send(j->call, &o, on_sent, j, NULL);
  free(path);
  json_object_put(body);
  if (rc != 0)
    job_free(j);
  return rc;
}

static void on_checked(void *arg, const o365_graph_res *failed,
                       struct json_object *m) {
  job *j = arg;
  if (failed != NULL && failed->error == WFC_EBUSY) {
    /* Another process is sending this key's message right now. */
    o365_api->call_fail(j->call, WFC_EBUSY, NULL, "%s", failed->message);
    job_end(j, NULL);
    return;
  }
  if (failed != NULL) {
    o365_msg_fail(j->call, failed,
                  "checking the mailbox for an earlier send failed");
    job_end(j, NULL);
    return;
  }
  if (m != NULL) {
    struct json_object *out = json_object_new_object();
    json_object_object_add(out, "sent", json_object_new_boolean(1));
    json_object_object_add(out, "deduplicated", json_object_new_boolean(1));
    o365_json_add_str(out, "id", o365_json_str(m, "id"));
    o365_json_add_str(out, "internet_message_id", j->imid);
    o365_json_add_str(out, "subject", o365_json_str(m, "subject"));
    o365_json_add_str(out, "web_link", o365_json_str(m, "webLink"));
    job_done(j, out);
    return;
  }
  wfc_call *call = j->call; /* send() frees j when it fails */
  char flight[sizeof j->flight];
  memcpy(flight, j->flight, sizeof flight);
  int rc = send(j);
  if (rc != 0) {
    o365_api->call_fail(call, rc, NULL, "sending the message could not start");
    o365_flight_end(flight, call, NULL);
  }
}

static void on_claimed(void *arg, int what, struct json_object *recorded,
                       int64_t until_ms) {
  job *j = arg;
  if (what == O365_CLAIM_SENT) {
    /* Sent before, by a run on this or another host. */
    struct json_object *out = NULL;
    if (json_object_deep_copy(recorded, &out, NULL) != 0 || out == NULL) {
      o365_api->call_fail(j->call, WFC_ENOMEM, NULL, "out of memory");
      job_end(j, NULL);
      return;
    }
    json_object_object_add(out, "deduplicated", json_object_new_boolean(1));
    job_done(j, out);
    return;
  }
  if (what == O365_CLAIM_HELD) {
    int64_t left = until_ms - o365_api->now_ms();
    o365_api->call_fail(
        j->call, WFC_EBUSY, NULL,
        "another run is sending this message with the same idempotency_key "
        "now (its claim lasts %lld more seconds): rerun later with the key; "
        "it sends the message only if that run did not",
        (long long)(left > 0 ? (left + 999) / 1000 : 0));
    job_end(j, NULL);
    return;
  }
  /* Claimed (or no claims here): the marker check, then the send. */
  wfc_call *call = j->call;
  char flight[sizeof j->flight];
  memcpy(flight, j->flight, sizeof flight);
  int rc = o365_sent_check(call, j->imid, on_checked, j);
  if (rc != 0) {
    o365_claim_end(call, &j->claim, NULL);
    job_free(j);
    o365_api->call_fail(call, rc, NULL,
                        "checking the mailbox for an earlier send could not "
                        "start");
    o365_flight_end(flight, call, NULL);
  }
}

/* A keyed run's attempt (the flight's start): the store's claim
 * (claim.h), then one look-up (which also deletes the drafts earlier runs
 * with the key left), then on_checked. Owns arg. */
static int check_then_send(wfc_call *call, void *arg) {
  job *j = arg;
  int rc = o365_claim_begin(call, j->imid, &j->claim, on_claimed, j);
  if (rc != 0)
    job_free(j);
  return rc;
}

/* "<wfc-<40 hex of sha256(mailbox \n key)>@wfc.idempotency>". */
static int key_message_id(const char *mailbox, const char *key, char *out,
                          size_t outsz) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  EVP_MD_CTX *c = EVP_MD_CTX_new();
  if (c == NULL || !EVP_DigestInit_ex(c, EVP_sha256(), NULL) ||
      !EVP_DigestUpdate(c, mailbox ? mailbox : "",
                        mailbox ? strlen(mailbox) : 0) ||
      !EVP_DigestUpdate(c, "\n", 1) || !EVP_DigestUpdate(c, key, strlen(key)) ||
      !EVP_DigestFinal_ex(c, md, &mdlen) || mdlen < 20) {
    EVP_MD_CTX_free(c);
    return WFC_ENOMEM;
  }
  EVP_MD_CTX_free(c);
  char hex[41];
  for (size_t i = 0; i < 20; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
  snprintf(out, outsz, "<wfc-%s@wfc.idempotency>", hex);
  return 0;
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  char err[256];
  if (o365_msg_check_compose(in, 1, err, sizeof err) != 0) {
    o365_api->call_fail(call, WFC_EVALIDATION, NULL, "%s", err);
    return 0;
  }
  const char *key = o365_json_str(in, "idempotency_key");
  struct json_object *save = NULL;
  json_object_object_get_ex(in, "save_to_sent_items", &save);
  if (key != NULL && save != NULL && !json_object_get_boolean(save)) {
    o365_api->call_fail(call, WFC_EVALIDATION, NULL,
                        "idempotency_key: needs save_to_sent_items true (the "
                        "sent copy is how a retry knows it was sent)");
    return 0;
  }
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return WFC_ENOMEM;
  j->call = call;
  j->msg = o365_msg_build(in);
  if (key == NULL)
    return send(j);
  if (key_message_id(o365_call_mailbox(call), key, j->imid, sizeof j->imid)) {
    job_free(j);
    return WFC_ENOMEM;
  }
  o365_json_add_str(j->msg, "internetMessageId", j->imid);
  /* One flight per account and Message-ID: the same key on another
   * account's /me is another message. */
  wfc_conn *conn = o365_api->call_conn(call);
  const char *account =
      conn ? o365_json_str(o365_api->conn_info(conn), "account") : NULL;
  if (account != NULL && *account != '\0')
    snprintf(j->flight, sizeof j->flight, "%s\n%s", account, j->imid);
  else
    snprintf(j->flight, sizeof j->flight, "%p\n%s", (void *)conn, j->imid);
  return o365_flight_join(j->flight, call, check_then_send, j, job_free_arg);
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
