/* send_email.c - Send Email. Owner: cardsmsg.
 * Graph: without attachments POST {mb}/sendMail {"message","saveToSentItems"};
 * with attachments the draft pipeline (message.h: POST {mb}/messages,
 * attachments, POST {mb}/messages/{id}/send).
 *
 * No duplicate send: with an idempotency_key the message carries a
 * Message-ID derived from the key and the mailbox (internetMessageId
 * "<wfc-<sha256 hex>@wfc.idempotency>"), and the card first asks the
 * mailbox for a sent message with that id (GET {mb}/messages?$filter=
 * internetMessageId eq '...'): found, it answers deduplicated without
 * sending. The state lives in the mailbox itself, so a retry from another
 * host, after a crash, or after a lost 202 (the request executed, the
 * answer reset) finds it; the host's store is not involved (the host API
 * exposes none to plugins). It needs the sent copy: save_to_sent_items
 * false with a key is refused.
 *
 * Concurrent runs with the same key in one process (plugin/flight.h): the
 * first one checks and sends, the others wait for it and report its
 * outcome as deduplicated, or, when it failed, make their own attempt in
 * turn. Not covered: two processes or hosts racing within the lookup
 * window (both may check before either has sent). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "entry.h"
#include "flight.h"
#include "folders.h"
#include "message.h"

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
         "once (the others wait and report it as deduplicated). Limit: runs "
         "on two different hosts or processes at the same moment can both "
         "send, as each checks the mailbox before the other has sent.",
     .min = 1,
     .max = 200},
    {0}};

typedef struct job {
  wfc_call *call;
  struct json_object *msg; /* Graph message */
  char imid[128];          /* "" without a key */
  char flight[512];        /* with a key: "<account>\n<imid>" */
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

static void on_sent(void *arg, const o365_graph_res *res) {
  job *j = arg;
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
                      .on_end = on_composed,
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

static void on_checked(void *arg, const o365_graph_res *res) {
  job *j = arg;
  if (res->error != 0) {
    o365_msg_fail(j->call, res,
                  "checking the mailbox for an earlier send failed");
    job_end(j, NULL);
    return;
  }
  struct json_object *value = NULL;
  json_object_object_get_ex(res->json, "value", &value);
  for (size_t i = 0; i < json_object_array_length(value); i++) {
    struct json_object *m = json_object_array_get_idx(value, i), *d = NULL;
    if (json_object_object_get_ex(m, "isDraft", &d) &&
        json_object_get_boolean(d))
      continue; /* an interrupted earlier run's draft: never sent */
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

/* A keyed run's attempt (the flight's start): the lookup, then on_checked.
 * Owns arg. */
static int check_then_send(wfc_call *call, void *arg) {
  job *j = arg;
  o365_buf path, filter;
  o365_buf_init(&path);
  o365_buf_init(&filter);
  o365_msg_path(&path, o365_call_mailbox(call), NULL, NULL);
  o365_buf_put(&filter, "internetMessageId eq ");
  o365_odata_literal(&filter, j->imid);
  o365_buf_query(&path, "$filter", filter.data ? filter.data : "");
  o365_buf_query(&path, "$select", "id,isDraft,subject,webLink");
  o365_buf_query(&path, "$top", "10");
  o365_graph_opts o = {.path = path.data, .headers = o365_msg_prefer_immutable};
  int rc = path.oom || filter.oom
               ? WFC_ENOMEM
               : o365_graph_send(call, &o, on_checked, j, NULL);
  o365_buf_free(&path);
  o365_buf_free(&filter);
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
