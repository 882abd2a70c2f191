/* message.c - see message.h. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "message.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "apponly.h"
#include "attach.h"
#include "entry.h"
#include "folders.h"

const wfc_field o365_msg_email_item[] = {{.type = WFC_TYPE_EMAIL}, {0}};
const wfc_field o365_msg_category_item[] = {
    {.type = WFC_TYPE_STRING, .min = 1, .max = 255}, {0}};
const wfc_field o365_msg_file_item[] = {{.type = WFC_TYPE_FILE}, {0}};
const char *const o365_msg_body_types[] = {"text", "html", NULL};
const char *const o365_msg_importances[] = {"low", "normal", "high", NULL};
const char *const o365_msg_prefer_immutable[] = {
    "Prefer: IdType=\"ImmutableId\"", NULL};

/* Addresses as Graph returns them (not re-validated on the way out). */
static const wfc_field addr_item[] = {{.type = WFC_TYPE_STRING}, {0}};

static const char *const flag_values[] = {"notFlagged", "flagged", "complete",
                                          NULL};

const wfc_field o365_msg_fields[] = {
    {.name = "id",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Message id (pass it to the other message cards)."},
    {.name = "subject", .type = WFC_TYPE_STRING},
    {.name = "from",
     .type = WFC_TYPE_STRING,
     .description = "Sender's address."},
    {.name = "from_name", .type = WFC_TYPE_STRING},
    {.name = "to", .type = WFC_TYPE_LIST, .items = addr_item},
    {.name = "cc", .type = WFC_TYPE_LIST, .items = addr_item},
    {.name = "bcc", .type = WFC_TYPE_LIST, .items = addr_item},
    {.name = "reply_to", .type = WFC_TYPE_LIST, .items = addr_item},
    {.name = "received", .type = WFC_TYPE_DATETIME},
    {.name = "sent", .type = WFC_TYPE_DATETIME},
    {.name = "is_read", .type = WFC_TYPE_BOOLEAN},
    {.name = "is_draft", .type = WFC_TYPE_BOOLEAN},
    {.name = "importance", .type = WFC_TYPE_STRING},
    {.name = "has_attachments", .type = WFC_TYPE_BOOLEAN},
    {.name = "categories",
     .type = WFC_TYPE_LIST,
     .items = o365_msg_category_item},
    {.name = "flag", .type = WFC_TYPE_STRING, .enum_values = flag_values},
    {.name = "conversation_id", .type = WFC_TYPE_STRING},
    {.name = "internet_message_id", .type = WFC_TYPE_STRING},
    {.name = "parent_folder_id", .type = WFC_TYPE_STRING},
    {.name = "web_link",
     .type = WFC_TYPE_STRING,
     .description = "Opens the message in Outlook on the web."},
    {.name = "preview",
     .type = WFC_TYPE_STRING,
     .description = "First 255 characters of the body, as text."},
    {.name = "body", .type = WFC_TYPE_STRING},
    {.name = "body_type",
     .type = WFC_TYPE_STRING,
     .enum_values = o365_msg_body_types},
    {0}};

/* ---- Graph message -> our JSON ------------------------------------------ */

static struct json_object *get(struct json_object *o, const char *key) {
  struct json_object *v = NULL;
  if (o == NULL || !json_object_object_get_ex(o, key, &v))
    return NULL;
  return v;
}

static void copy_str(struct json_object *out, const char *to,
                     struct json_object *in, const char *from) {
  struct json_object *v = get(in, from);
  if (v != NULL && json_object_is_type(v, json_type_string))
    o365_json_add_static(out, to, json_object_get(v));
}

static void copy_bool(struct json_object *out, const char *to,
                      struct json_object *in, const char *from) {
  struct json_object *v = get(in, from);
  if (v != NULL && json_object_is_type(v, json_type_boolean))
    o365_json_add_static(out, to, json_object_get(v));
}

/* in[from] when it is a string (borrowed), else NULL. */
static struct json_object *get_str(struct json_object *in, const char *from) {
  struct json_object *v = get(in, from);
  return v != NULL && json_object_is_type(v, json_type_string) ? v : NULL;
}

/* ["a@x", ...] of a Graph recipients array: the parsed address strings
 * moved in (a reference each, no copy), the list sized once. */
static void copy_addrs(struct json_object *out, const char *to,
                       struct json_object *in, const char *from) {
  struct json_object *a = get(in, from);
  if (a == NULL || !json_object_is_type(a, json_type_array))
    return;
  size_t n = json_object_array_length(a);
  struct json_object *list = json_object_new_array_ext(n > 0 ? (int)n : 1);
  for (size_t i = 0; i < n; i++) {
    struct json_object *addr = get_str(
        get(json_object_array_get_idx(a, i), "emailAddress"), "address");
    if (addr != NULL && json_object_get_string_len(addr) > 0)
      json_object_array_add(list, json_object_get(addr));
  }
  o365_json_add_static(out, to, list);
}

/* out[to] = v (borrowed; a reference is taken) when v is not NULL. */
static void add_ref(struct json_object *out, const char *to,
                    struct json_object *v) {
  if (v != NULL)
    o365_json_add_static(out, to, json_object_get(v));
}

struct json_object *o365_msg_json(struct json_object *m) {
  struct json_object *out = json_object_new_object();
  if (m == NULL)
    return out;
  copy_str(out, "id", m, "id");
  copy_str(out, "subject", m, "subject");
  struct json_object *from = get(get(m, "from"), "emailAddress");
  add_ref(out, "from", get_str(from, "address"));
  add_ref(out, "from_name", get_str(from, "name"));
  copy_addrs(out, "to", m, "toRecipients");
  copy_addrs(out, "cc", m, "ccRecipients");
  copy_addrs(out, "bcc", m, "bccRecipients");
  copy_addrs(out, "reply_to", m, "replyTo");
  copy_str(out, "received", m, "receivedDateTime");
  copy_str(out, "sent", m, "sentDateTime");
  copy_bool(out, "is_read", m, "isRead");
  copy_bool(out, "is_draft", m, "isDraft");
  copy_str(out, "importance", m, "importance");
  copy_bool(out, "has_attachments", m, "hasAttachments");
  struct json_object *cats = get(m, "categories");
  if (cats != NULL && json_object_is_type(cats, json_type_array))
    O365_JSON_ADD(out, "categories", json_object_get(cats));
  add_ref(out, "flag", get_str(get(m, "flag"), "flagStatus"));
  copy_str(out, "conversation_id", m, "conversationId");
  copy_str(out, "internet_message_id", m, "internetMessageId");
  copy_str(out, "parent_folder_id", m, "parentFolderId");
  copy_str(out, "web_link", m, "webLink");
  copy_str(out, "preview", m, "bodyPreview");
  struct json_object *body = get(m, "body");
  if (body != NULL) {
    const char *ct = o365_json_str(body, "contentType");
    copy_str(out, "body", body, "content");
    if (ct != NULL)
      o365_json_add_str(out, "body_type",
                        strcasecmp(ct, "html") == 0 ? "html" : "text");
  }
  return out;
}

/* ---- Composition -------------------------------------------------------- */

static size_t list_len(struct json_object *in, const char *key) {
  struct json_object *a = get(in, key);
  return a != NULL && json_object_is_type(a, json_type_array)
             ? json_object_array_length(a)
             : 0;
}

int o365_msg_check_compose(struct json_object *in, int need_recipient,
                           char *err, size_t errsz) {
  size_t n = list_len(in, "to") + list_len(in, "cc") + list_len(in, "bcc");
  if (need_recipient && n == 0) {
    snprintf(err, errsz,
             "to: at least one recipient is needed in to, cc "
             "or bcc");
    return -1;
  }
  if (n > O365_MSG_RECIPIENTS_MAX) {
    snprintf(err, errsz,
             "to: %zu recipients across to, cc and bcc; Exchange Online "
             "accepts at most %d per message",
             n, O365_MSG_RECIPIENTS_MAX);
    return -1;
  }
  const char *body = o365_json_str(in, "body");
  if (body != NULL && strlen(body) > O365_MSG_BODY_MAX) {
    snprintf(err, errsz,
             "body: %zu bytes; at most %d (attach larger content as a file)",
             strlen(body), O365_MSG_BODY_MAX);
    return -1;
  }
  /* A subject or body with a NUL would be cut by Graph: json-c strings may
   * hold one. */
  struct json_object *b = get(in, "body");
  if (b != NULL && (size_t)json_object_get_string_len(b) != strlen(body)) {
    snprintf(err, errsz, "body: contains a NUL character");
    return -1;
  }
  return 0;
}

struct json_object *o365_msg_recipients(struct json_object *list) {
  if (list == NULL || !json_object_is_type(list, json_type_array))
    return NULL;
  struct json_object *out = json_object_new_array();
  for (size_t i = 0; i < json_object_array_length(list); i++) {
    const char *addr =
        json_object_get_string(json_object_array_get_idx(list, i));
    struct json_object *ea = json_object_new_object();
    o365_json_add_str(ea, "address", addr);
    struct json_object *r = json_object_new_object();
    O365_JSON_ADD(r, "emailAddress", ea);
    json_object_array_add(out, r);
  }
  return out;
}

static void add_recips(struct json_object *msg, const char *key,
                       struct json_object *in, const char *from) {
  struct json_object *r = o365_msg_recipients(get(in, from));
  if (r != NULL)
    o365_json_add_static(msg, key, r);
}

struct json_object *o365_msg_build(struct json_object *in) {
  struct json_object *msg = json_object_new_object();
  add_recips(msg, "toRecipients", in, "to");
  add_recips(msg, "ccRecipients", in, "cc");
  add_recips(msg, "bccRecipients", in, "bcc");
  add_recips(msg, "replyTo", in, "reply_to");
  const char *subject = o365_json_str(in, "subject");
  if (subject != NULL)
    o365_json_add_str(msg, "subject", subject);
  const char *body = o365_json_str(in, "body");
  if (body != NULL) {
    const char *type = o365_json_str(in, "body_type");
    struct json_object *b = json_object_new_object();
    o365_json_add_str(b, "contentType",
                      type != NULL && strcmp(type, "html") == 0 ? "html"
                                                                : "text");
    o365_json_add_str(b, "content", body);
    O365_JSON_ADD(msg, "body", b);
  }
  const char *imp = o365_json_str(in, "importance");
  if (imp != NULL)
    o365_json_add_str(msg, "importance", imp);
  struct json_object *cats = get(in, "categories");
  if (cats != NULL && json_object_is_type(cats, json_type_array))
    O365_JSON_ADD(msg, "categories", json_object_get(cats));
  const char *from = o365_json_str(in, "from");
  if (from != NULL && *from != '\0') {
    struct json_object *ea = json_object_new_object();
    o365_json_add_str(ea, "address", from);
    struct json_object *r = json_object_new_object();
    O365_JSON_ADD(r, "emailAddress", ea);
    O365_JSON_ADD(msg, "from", r);
  }
  return msg;
}

void o365_msg_path(o365_buf *b, const char *mailbox, const char *message_id,
                   const char *action) {
  o365_graph_mailbox(b, mailbox);
  o365_buf_put(b, "/messages");
  if (message_id != NULL)
    o365_buf_seg(b, message_id);
  if (action != NULL) {
    o365_buf_put(b, "/");
    o365_buf_put(b, action);
  }
}

/* ---- Errors ---------------------------------------------------------------
 */

void o365_msg_fail(wfc_call *call, const o365_graph_res *res,
                   const char *what) {
  const char *mb = o365_call_mailbox(call);
  const char *who = mb != NULL && *mb != '\0' ? mb : "your own mailbox";
  const char *code = res->gerr.code;
  char why[700];
  why[0] = '\0';
  if (strcmp(code, "ErrorSendAsDenied") == 0) {
    const char *from = o365_json_str(o365_api->call_input(call), "from");
    snprintf(why, sizeof why,
             "%s: the connected account may not send as %s; it needs Send As "
             "or Send on Behalf permission on that mailbox",
             what, from != NULL && *from ? from : who);
  } else if (strcmp(code, "ErrorItemNotFound") == 0 ||
             (res->status == 404 && strcmp(code, "ErrorInvalidUser") != 0 &&
              strcmp(code, "MailboxNotEnabledForRESTAPI") != 0)) {
    snprintf(why, sizeof why,
             "%s: not found in %s (the id is wrong, or the message was moved "
             "or deleted: ids change when a message moves)",
             what, who);
  } else if (strcmp(code, "ErrorInvalidUser") == 0 ||
             strcmp(code, "MailboxNotEnabledForRESTAPI") == 0) {
    snprintf(why, sizeof why,
             "%s: mailbox: %s does not exist or has no "
             "Exchange Online mailbox",
             what, who);
  } else if ((strcmp(code, "ErrorAccessDenied") == 0 || res->status == 403) &&
             o365_conn_is_app_only(o365_api->call_conn(call))) {
    /* No account and no Full Access here: the app's own permissions and
     * the tenant's policy decide (the policy's case is told apart in
     * o365_graph_fail_hint). */
    snprintf(why, sizeof why,
             "%s: access denied to %s; an app-only connection needs the "
             "application permissions (Mail.ReadWrite to read and change, "
             "Mail.Send to send) granted by an administrator, and the "
             "mailbox inside the app's application access policy",
             what, who);
  } else if (strcmp(code, "ErrorAccessDenied") == 0 || res->status == 403) {
    snprintf(why, sizeof why,
             "%s: access denied to %s; the connected account needs Full "
             "Access to that mailbox (and the connection the "
             "Mail.ReadWrite.Shared permission)",
             what, who);
  } else if (strcmp(code, "ErrorInvalidRecipients") == 0) {
    snprintf(why, sizeof why, "%s: a recipient is invalid", what);
  } else if (strcmp(code, "ErrorQuotaExceeded") == 0) {
    snprintf(why, sizeof why,
             "%s: %s is full (its quota is reached: free some space)", what,
             who);
  } else if (strcmp(code, "ErrorMessageSizeExceeded") == 0 ||
             res->status == 413) {
    snprintf(why, sizeof why,
             "%s: the message is larger than the mailbox accepts", what);
  } else if (res->error == WFC_ETHROTTLED && !res->no_token &&
             (res->status != 0 || res->retry_after_ms >= 0)) {
    /* Graph's throttling (a 429/503, or the mailbox still blocked by
     * one); not the identity platform's, whose words the result has. */
    snprintf(why, sizeof why,
             "%s: Microsoft Graph is throttling requests to %s; retry after "
             "%lld s",
             what, who,
             (long long)(res->retry_after_ms < 0
                             ? 0
                             : (res->retry_after_ms + 999) / 1000));
  }
  o365_graph_fail(call, res, why[0] ? why : what);
}

/* ---- One request ------------------------------------------------------------
 */

typedef struct one_job {
  wfc_call *call;
  const char *what; /* static */
  o365_msg_out_fn out;
} one_job;

static void one_done(void *arg, const o365_graph_res *res) {
  one_job *j = arg;
  if (res->error != 0)
    o365_msg_fail(j->call, res, j->what);
  else
    o365_api->call_done(j->call, j->out != NULL ? j->out(j->call, res)
                                                : o365_msg_json(res->json));
  free(j);
}

int o365_msg_one(wfc_call *call, const o365_graph_opts *o, const char *what,
                 o365_msg_out_fn out) {
  one_job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return WFC_ENOMEM;
  j->call = call;
  j->what = what;
  j->out = out;
  int rc = o365_graph_send(call, o, one_done, j, NULL);
  if (rc != 0)
    free(j);
  return rc;
}

int o365_msg_patch(wfc_call *call, struct json_object *body, const char *what) {
  o365_buf path;
  o365_buf_init(&path);
  o365_msg_path(&path, o365_call_mailbox(call),
                o365_json_str(o365_api->call_input(call), "message_id"), NULL);
  o365_buf_query(&path, "$select", O365_MSG_SELECT);
  o365_graph_opts o = {.method = "PATCH",
                       .path = path.data,
                       .body = body,
                       .flags = O365_GRAPH_IDEMPOTENT};
  int rc = path.oom ? WFC_ENOMEM : o365_msg_one(call, &o, what, NULL);
  o365_buf_free(&path);
  return rc;
}

/* ---- Drafts: create, attach, send -----------------------------------------
 */

static const wfc_field att_fields[] = {
    {.name = "id", .type = WFC_TYPE_STRING},
    {.name = "name", .type = WFC_TYPE_STRING},
    {.name = "content_type", .type = WFC_TYPE_STRING},
    {.name = "size", .type = WFC_TYPE_INTEGER},
    {.name = "method", .type = WFC_TYPE_STRING},
    {0}};

const wfc_field o365_msg_sent_fields[] = {
    {.name = "sent",
     .type = WFC_TYPE_BOOLEAN,
     .flags = WFC_FIELD_REQUIRED,
     .description = "true once the message went out; false for a draft."},
    {.name = "id",
     .type = WFC_TYPE_STRING,
     .description = "Immutable id of the message (of the draft, or of the "
                    "copy in Sent Items); absent when Graph gives none "
                    "(sendMail without attachments)."},
    {.name = "internet_message_id",
     .type = WFC_TYPE_STRING,
     .description = "RFC 5322 Message-ID."},
    {.name = "subject", .type = WFC_TYPE_STRING},
    {.name = "web_link", .type = WFC_TYPE_STRING},
    {.name = "deduplicated",
     .type = WFC_TYPE_BOOLEAN,
     .description = "true when a message with this idempotency key had "
                    "already been sent: nothing was sent again."},
    {.name = "attachments",
     .type = WFC_TYPE_LIST,
     .items =
         &(const wfc_field){.type = WFC_TYPE_OBJECT, .fields = att_fields}},
    {0}};

typedef struct compose_job {
  wfc_call *call;
  int send;
  const char *what;      /* static */
  const char *kept_note; /* static, never NULL */
  const char *gone_note; /* static, never NULL */
  struct json_object *files;
  struct json_object *out; /* output being built */
  char *id;                /* the draft's */
  int ok;                  /* completed with out */
  void (*on_end)(void *arg, wfc_call *call, struct json_object *out);
  void (*on_unknown)(void *arg, wfc_call *call, const o365_graph_res *res,
                     struct json_object *out);
  void *end_arg;
} compose_job;

/* Every end of a job that completed its call comes here. */
static void compose_free(compose_job *j) {
  if (j->on_end != NULL)
    j->on_end(j->end_arg, j->call, j->ok ? j->out : NULL);
  json_object_put(j->files);
  json_object_put(j->out);
  free(j->id);
  free(j);
}

/* A failure after the draft exists: say it is kept, or, when the failure
 * is that it is gone (a 404 whose outcome is known: deleted meanwhile),
 * that it was deleted. */
static void compose_fail_kept(compose_job *j, int code, const char *why,
                              struct json_object *detail) {
  struct json_object *d = json_object_new_object(), *oc = NULL;
  int unknown = detail != NULL &&
                json_object_object_get_ex(detail, "outcome", &oc) &&
                strcmp(json_object_get_string(oc), "unknown") == 0;
  if (detail != NULL) {
    json_object_object_foreach(detail, k, v) {
      /* An attachment's unknown outcome is the draft's business: the
       * message's own is known (not sent). */
      if (strcmp(k, "outcome") != 0)
        json_object_object_add(d, k, json_object_get(v));
    }
  }
  o365_json_add_str(d, "draft_id", j->id);
  if (code == WFC_ENOTFOUND && !unknown)
    o365_api->call_fail(j->call, code, d,
                        "%s: %s; nothing was sent: the draft (draft_id %s) "
                        "was deleted while this run was using it%s",
                        j->what, why, j->id, j->gone_note);
  else
    o365_api->call_fail(j->call, code, d,
                        "%s: %s; nothing was sent, the draft is kept in "
                        "Drafts (draft_id %s)%s",
                        j->what, why, j->id, j->kept_note);
  compose_free(j);
}

static void compose_finish(compose_job *j, int sent) {
  O365_JSON_ADD(j->out, "sent", json_object_new_boolean(sent));
  o365_api->call_done(j->call, json_object_get(j->out));
  j->ok = 1;
  compose_free(j);
}

static void on_draft_sent(void *arg, const o365_graph_res *res) {
  compose_job *j = arg;
  if (res->error != 0 && res->outcome_unknown && j->on_unknown != NULL) {
    /* A lost answer (the connection broke after the request, 502/504)
     * may hide a send that happened: the card settles it (it owns the
     * completion from here). */
    j->on_end = NULL;
    j->on_unknown(j->end_arg, j->call, res, j->out);
    compose_free(j);
    return;
  }
  if (res->error != 0) {
    /* A lost answer (outcome_unknown) may hide a send that happened, so
     * the error is reported as it is and the flow decides (Send Email's
     * idempotency key makes a retry safe). Otherwise Graph refused or did
     * not process the send: nothing went out and the draft stays in
     * Drafts, which the message says (as compose_fail_kept does). */
    char what[900];
    if (!res->outcome_unknown && res->error == WFC_ENOTFOUND) {
      /* The draft is gone (deleted meanwhile): not "not found in the
       * mailbox, the id is wrong", which o365_msg_fail would say. */
      snprintf(what, sizeof what,
               "%s: the draft (draft_id %.300s) was deleted before it could "
               "be sent, so nothing was sent%s",
               j->what, j->id, j->gone_note);
      o365_graph_fail(j->call, res, what);
      compose_free(j);
      return;
    }
    if (!res->outcome_unknown)
      snprintf(what, sizeof what,
               "%s; nothing was sent, the draft is kept in Drafts (draft_id "
               "%.300s)%s",
               j->what, j->id, j->kept_note);
    o365_msg_fail(j->call, res, res->outcome_unknown ? j->what : what);
    compose_free(j);
    return;
  }
  compose_finish(j, 1);
}

static void send_draft(compose_job *j) {
  o365_buf path;
  o365_buf_init(&path);
  o365_msg_path(&path, o365_call_mailbox(j->call), j->id, "send");
  o365_graph_opts o = {.method = "POST", .path = path.data};
  int rc = path.oom ? WFC_ENOMEM
                    : o365_graph_send(j->call, &o, on_draft_sent, j, NULL);
  o365_buf_free(&path);
  if (rc != 0)
    compose_fail_kept(j, rc, "the send request could not start", NULL);
}

static void on_attached(void *arg, int status, struct json_object *atts,
                        const char *error, struct json_object *detail) {
  compose_job *j = arg;
  if (status != 0) {
    compose_fail_kept(j, status, error ? error : "attaching failed", detail);
    return;
  }
  O365_JSON_ADD(j->out, "attachments", json_object_get(atts));
  if (j->send)
    send_draft(j);
  else
    compose_finish(j, 0);
}

static void on_created(void *arg, const o365_graph_res *res) {
  compose_job *j = arg;
  if (res->error != 0) {
    o365_msg_fail(j->call, res, j->what);
    compose_free(j);
    return;
  }
  const char *id = o365_json_str(res->json, "id");
  j->id = id ? strdup(id) : NULL;
  if (j->id == NULL) {
    o365_api->call_fail(j->call, WFC_EPROTO, NULL,
                        "%s: Graph created a draft without an id", j->what);
    compose_free(j);
    return;
  }
  o365_json_add_str(j->out, "id", j->id);
  copy_str(j->out, "internet_message_id", res->json, "internetMessageId");
  copy_str(j->out, "subject", res->json, "subject");
  copy_str(j->out, "web_link", res->json, "webLink");
  if (j->files != NULL && json_object_array_length(j->files) > 0) {
    int rc = o365_attach_files(j->call, o365_call_mailbox(j->call), j->id,
                               j->files, on_attached, j);
    if (rc != 0)
      compose_fail_kept(j, rc, "attaching could not start", NULL);
    return;
  }
  if (j->send)
    send_draft(j);
  else
    compose_finish(j, 0);
}

int o365_msg_compose(wfc_call *call, const o365_compose *c) {
  compose_job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return WFC_ENOMEM;
  j->call = call;
  j->send = c->send;
  j->what = c->what;
  j->kept_note = c->kept_note ? c->kept_note : "";
  j->gone_note = c->gone_note ? c->gone_note : "";
  j->files = c->files ? json_object_get(c->files) : NULL;
  j->out = json_object_new_object();
  j->on_end = c->on_end;
  j->on_unknown = c->on_unknown;
  j->end_arg = c->end_arg;
  o365_buf path;
  o365_buf_init(&path);
  o365_msg_path(&path, o365_call_mailbox(call), c->source_id,
                c->source_id ? c->create_action : NULL);
  o365_graph_opts o = {.method = "POST",
                       .path = path.data,
                       .body = c->create_body,
                       .headers = o365_msg_prefer_immutable};
  int rc =
      path.oom ? WFC_ENOMEM : o365_graph_send(call, &o, on_created, j, NULL);
  o365_buf_free(&path);
  if (rc != 0) {
    j->on_end = NULL; /* nothing completed: the caller handles rc */
    compose_free(j);
  }
  return rc;
}

/* ---- Move / copy ----------------------------------------------------------
 */

typedef struct move_job {
  wfc_call *call;
  const char *action; /* static */
} move_job;

static void on_folder(void *arg, int status, const char *folder_id,
                      const char *error) {
  move_job *j = arg;
  wfc_call *call = j->call;
  const char *action = j->action;
  free(j);
  if (status != 0) {
    o365_api->call_fail(call, status, NULL, "folder: %s", error);
    return;
  }
  struct json_object *body = json_object_new_object();
  o365_json_add_str(body, "destinationId", folder_id);
  o365_buf path;
  o365_buf_init(&path);
  o365_msg_path(&path, o365_call_mailbox(call),
                o365_json_str(o365_api->call_input(call), "message_id"),
                action);
  o365_graph_opts o = {.method = "POST", .path = path.data, .body = body};
  int rc = path.oom ? WFC_ENOMEM
                    : o365_msg_one(call, &o,
                                   strcmp(action, "move") == 0
                                       ? "moving the message failed"
                                       : "copying the message failed",
                                   NULL);
  o365_buf_free(&path);
  json_object_put(body);
  if (rc != 0)
    o365_api->call_fail(call, rc, NULL, "the %s request could not start",
                        action);
}

int o365_msg_move_copy(wfc_call *call, const char *action) {
  move_job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return WFC_ENOMEM;
  j->call = call;
  j->action = action;
  int rc = o365_folder_resolve(
      call, o365_call_mailbox(call),
      o365_json_str(o365_api->call_input(call), "folder"), on_folder, j);
  if (rc != 0)
    free(j);
  return rc;
}
