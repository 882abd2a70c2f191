/* keysend.c - see keysend.h. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "keysend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "claim.h"
#include "entry.h"
#include "flight.h"
#include "sent.h"
#include "util.h"

typedef struct job {
  wfc_call *call;
  char *path;                  /* the POST without attachments */
  struct json_object *body;    /* its body (owned reference) */
  o365_compose compose;        /* create_body, files: owned references */
  char *source_id;             /* compose.source_id's copy */
  struct json_object *message; /* owned reference: where the marker is */
  char imid[128];              /* "" without a key */
  char flight[512];            /* with a key: "<account>\n<imid>" */
  o365_claim claim;            /* with a key: the store's claim (claim.h) */
} job;

static void job_free(job *j) {
  free(j->path);
  free(j->source_id);
  json_object_put(j->body);
  json_object_put(j->compose.create_body);
  json_object_put(j->compose.files);
  json_object_put(j->message);
  free(j);
}

static void job_free_arg(void *arg) {
  job_free(arg);
}

/* The run's end, after its call completed (out borrowed: the output, or
 * NULL for a failure): the claim records or releases the key, and the
 * runs waiting on the same key in this process learn it. */
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
  o365_sent_settle(j->call, j->imid[0] ? j->imid : NULL, res, j->compose.what,
                   out, on_composed, j);
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
    o365_msg_fail(j->call, res, j->compose.what);
    job_end(j, NULL);
    return;
  }
  struct json_object *out = json_object_new_object();
  O365_JSON_ADD(out, "sent", json_object_new_boolean(1));
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
  int rc;
  if (j->compose.files != NULL &&
      json_object_array_length(j->compose.files) > 0) {
    o365_compose c = j->compose;
    c.send = 1;
    c.kept_note = j->imid[0] ? kept_with_key : NULL;
    c.gone_note = j->imid[0] ? gone_with_key : NULL;
    c.on_end = on_composed;
    c.on_unknown = on_compose_unknown;
    c.end_arg = j;
    rc = o365_msg_compose(j->call, &c);
  } else {
    o365_graph_opts o = {.method = "POST", .path = j->path, .body = j->body};
    rc = o365_graph_send(j->call, &o, on_sent, j, NULL);
  }
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
    O365_JSON_ADD(out, "sent", json_object_new_boolean(1));
    O365_JSON_ADD(out, "deduplicated", json_object_new_boolean(1));
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
  o365_claim claim = j->claim;
  int rc = send(j);
  if (rc != 0) {
    o365_api->call_fail(call, rc, NULL, "sending the message could not start");
    o365_claim_end(call, &claim, NULL);
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
    O365_JSON_ADD(out, "deduplicated", json_object_new_boolean(1));
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
  int rc = o365_sent_check(j->call, j->imid, on_checked, j);
  if (rc != 0) {
    o365_api->call_fail(j->call, rc, NULL,
                        "checking the mailbox for an earlier send could not "
                        "start");
    job_end(j, NULL);
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

int o365_keysend_run(wfc_call *call, const o365_keysend *ks) {
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return WFC_ENOMEM;
  j->call = call;
  j->compose = ks->compose;
  j->compose.create_body = json_object_get(ks->compose.create_body);
  j->compose.files = json_object_get(ks->compose.files);
  j->body = json_object_get(ks->body);
  j->message = json_object_get(ks->message);
  j->path = ks->path != NULL ? strdup(ks->path) : NULL;
  j->source_id =
      ks->compose.source_id != NULL ? strdup(ks->compose.source_id) : NULL;
  j->compose.source_id = j->source_id;
  if (j->compose.what == NULL)
    j->compose.what = "sending the message failed";
  if ((ks->path != NULL && j->path == NULL) ||
      (ks->compose.source_id != NULL && j->source_id == NULL)) {
    job_free(j);
    return WFC_ENOMEM;
  }
  if (ks->key == NULL)
    return send(j);
  if (j->message == NULL) {
    job_free(j);
    return WFC_EINVAL;
  }
  if (key_message_id(o365_call_mailbox(call), ks->key, j->imid,
                     sizeof j->imid)) {
    job_free(j);
    return WFC_ENOMEM;
  }
  o365_json_add_str(j->message, "internetMessageId", j->imid);
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

int o365_keysend_respond(wfc_call *call, const char *action, const char *key,
                         struct json_object *message, const o365_compose *c) {
  o365_buf path;
  o365_buf_init(&path);
  o365_msg_path(&path, o365_call_mailbox(call), c->source_id, action);
  o365_keysend ks = {.key = key,
                     .message = message,
                     .path = path.data,
                     .body = c->create_body,
                     .compose = *c};
  int rc = path.oom ? WFC_ENOMEM : o365_keysend_run(call, &ks);
  o365_buf_free(&path);
  return rc;
}
