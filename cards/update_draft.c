/* update_draft.c - Update Draft: change what a draft says before it is
 * sent (recipients, subject, body, importance, reply-to, categories,
 * from); what is not given stays as it is.
 * Graph: GET {mb}/messages/{id}?$select=isDraft (its @odata.etag), then
 * PATCH {mb}/messages/{id} with If-Match: that etag. A message that is no
 * longer a draft is refused without a change (Graph would still take
 * categories or importance on a sent message), and a draft sent or changed
 * between the two requests gets 412: nothing is overwritten. Repeatable
 * (the PATCH is idempotent). Attachments: Add Attachment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "entry.h"
#include "message.h"

static const wfc_field inputs[] = {{O365_FIELD_MAILBOX},
                                   {O365_FIELD_MESSAGE_ID("Id of the draft.")},
                                   O365_FIELDS_COMPOSE_CORE(0),
                                   {0}};

typedef struct job {
  wfc_call *call;
  struct json_object *patch; /* owned */
} job;

static void job_free(job *j) {
  json_object_put(j->patch);
  free(j);
}

static void on_patched(void *arg, const o365_graph_res *res) {
  job *j = arg;
  if (res->status == 412)
    o365_api->call_fail(j->call, WFC_ESTATE, o365_graph_detail(res),
                        "message_id: the draft was sent or changed while it "
                        "was being updated; nothing was overwritten (read it "
                        "again, then update it)");
  else if (res->error != 0)
    o365_msg_fail(j->call, res, "updating the draft failed");
  else
    o365_api->call_done(j->call, o365_msg_json(res->json));
  job_free(j);
}

static void on_read(void *arg, const o365_graph_res *res) {
  job *j = arg;
  if (res->error != 0) {
    o365_msg_fail(j->call, res, "reading the draft failed");
    job_free(j);
    return;
  }
  struct json_object *d = NULL;
  const char *etag = o365_json_str(res->json, "@odata.etag");
  if (!json_object_object_get_ex(res->json, "isDraft", &d) ||
      !json_object_get_boolean(d)) {
    o365_api->call_fail(j->call, WFC_ESTATE, NULL,
                        "message_id: the message is not a draft (it was "
                        "sent or received); nothing was changed");
    job_free(j);
    return;
  }
  char if_match[300];
  const char *headers[] = {if_match, NULL};
  snprintf(if_match, sizeof if_match, "If-Match: %s",
           etag != NULL && strlen(etag) < 256 && !strpbrk(etag, "\r\n") ? etag
                                                                        : "*");
  o365_buf path;
  o365_buf_init(&path);
  o365_msg_path(&path, o365_call_mailbox(j->call),
                o365_json_str(o365_api->call_input(j->call), "message_id"),
                NULL);
  o365_buf_query(&path, "$select", O365_MSG_SELECT_BODY);
  o365_graph_opts o = {.method = "PATCH",
                       .path = path.data,
                       .body = j->patch,
                       .headers = headers,
                       .flags = O365_GRAPH_IDEMPOTENT};
  int rc =
      path.oom ? WFC_ENOMEM : o365_graph_send(j->call, &o, on_patched, j, NULL);
  o365_buf_free(&path);
  if (rc != 0) {
    o365_api->call_fail(j->call, rc, NULL, "could not start the request");
    job_free(j);
  }
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  char err[256];
  if (o365_msg_check_compose(in, 0, err, sizeof err) != 0) {
    o365_api->call_fail(call, WFC_EVALIDATION, NULL, "%s", err);
    return 0;
  }
  struct json_object *patch = o365_msg_build(in);
  if (json_object_object_length(patch) == 0) {
    json_object_put(patch);
    o365_api->call_fail(call, WFC_EVALIDATION, NULL,
                        "nothing to update: give at least one of to, cc, bcc, "
                        "subject, body, importance, reply_to, categories, "
                        "from");
    return 0;
  }
  job *j = calloc(1, sizeof *j);
  if (j == NULL) {
    json_object_put(patch);
    return WFC_ENOMEM;
  }
  j->call = call;
  j->patch = patch;
  o365_buf path;
  o365_buf_init(&path);
  o365_msg_path(&path, o365_call_mailbox(call), o365_json_str(in, "message_id"),
                NULL);
  o365_buf_query(&path, "$select", "id,isDraft");
  o365_graph_opts o = {.path = path.data};
  int rc = path.oom ? WFC_ENOMEM : o365_graph_send(call, &o, on_read, j, NULL);
  o365_buf_free(&path);
  if (rc != 0)
    job_free(j);
  return rc;
}

const wfc_card_desc o365_card_update_draft = {
    .id = "update_draft",
    .name = "Update Draft",
    .description = "Changes a draft's recipients, subject, body, importance, "
                   "reply-to, categories or sender before it is sent; what "
                   "is not given stays as it is.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = o365_msg_fields,
    .invoke = invoke};
