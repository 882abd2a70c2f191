/* Admin inspection of the mail store under /__emulator/mail (no auth, like
 * the rest of /__emulator/): mailboxes, folders, messages, what was sent,
 * injecting a message as if it had just arrived, and changing one as its
 * owner would (flag, read...). */
#include "graph_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static emu_mailbox *admin_mailbox(emu_req *r) {
  const char *u = emu_req_param(r, "user");
  emu_mailbox *mb = emu_mailbox_find(graph_store(), u);
  if (!mb) {
    const emu_user *usr = emu_user_find(u);
    mb = usr ? emu_mailbox_find(graph_store(), usr->id) : NULL;
  }
  if (!mb)
    emu_graph_error(r, 404, "ErrorInvalidUser", "No mailbox '%s'.", u);
  return mb;
}

static void h_boxes(emu_req *r) {
  emu_mailstore *s = graph_store();
  json_object *arr = json_object_new_array();
  for (size_t i = 0; i < s->nboxes; i++) {
    emu_mailbox *mb = s->boxes[i];
    size_t n = 0;
    for (size_t j = 0; j < mb->nfolders; j++)
      n += mb->folders[j]->nmsgs;
    json_object *o = json_object_new_object();
    json_object_object_add(o, "id", json_object_new_string(mb->user_id));
    json_object_object_add(o, "userPrincipalName",
                           json_object_new_string(mb->upn));
    json_object_object_add(o, "shared", json_object_new_boolean(mb->shared));
    json_object_object_add(o, "messageCount",
                           json_object_new_int64((int64_t)n));
    json_object_object_add(o, "sentCount", json_object_new_int(mb->sent_count));
    json_object_array_add(arr, o);
  }
  json_object *out = json_object_new_object();
  json_object_object_add(out, "value", arr);
  emu_resp_json(r, 200, out);
}

static void h_folders(emu_req *r) {
  emu_mailbox *mb = admin_mailbox(r);
  if (!mb)
    return;
  json_object *arr = json_object_new_array();
  for (size_t j = 0; j < mb->nfolders; j++) {
    json_object *o = emu_folder_to_json(mb->folders[j]);
    json_object_object_add(
        o, "wellKnownName",
        mb->folders[j]->wellknown[0]
            ? json_object_new_string(mb->folders[j]->wellknown)
            : NULL);
    json_object_array_add(arr, o);
  }
  json_object *out = json_object_new_object();
  json_object_object_add(out, "value", arr);
  emu_resp_json(r, 200, out);
}

static void h_messages(emu_req *r) {
  emu_mailbox *mb = admin_mailbox(r);
  if (!mb)
    return;
  const char *fq = emu_req_query(r, "folder");
  emu_folder *only = fq ? emu_folder_find(mb, fq) : NULL;
  if (fq && !only) {
    emu_graph_error(r, 404, "ErrorItemNotFound", "No folder '%s'.", fq);
    return;
  }
  json_object *arr = json_object_new_array();
  for (size_t j = 0; j < mb->nfolders; j++) {
    emu_folder *f = mb->folders[j];
    if (only && f != only)
      continue;
    for (size_t k = 0; k < f->nmsgs; k++) {
      json_object *o = emu_message_to_json(f->msgs[k], false);
      json_object_object_add(o, "immutableId",
                             json_object_new_string(f->msgs[k]->immutable_id));
      json_object_object_add(o, "attachmentCount",
                             json_object_new_int((int)f->msgs[k]->natts));
      json_object_array_add(arr, o);
    }
  }
  json_object *out = json_object_new_object();
  json_object_object_add(out, "value", arr);
  emu_resp_json(r, 200, out);
}

static void h_sent(emu_req *r) {
  emu_mailbox *mb = admin_mailbox(r);
  if (!mb)
    return;
  json_object *arr = json_object_new_array();
  for (size_t i = 0; i < mb->nsent; i++) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "subject",
                           json_object_new_string(mb->sent[i].subject));
    json_object_object_add(
        o, "internetMessageId",
        json_object_new_string(mb->sent[i].internet_message_id));
    json_object_object_add(o, "recipients",
                           json_object_new_int(mb->sent[i].recipients));
    json_object_array_add(arr, o);
  }
  json_object *out = json_object_new_object();
  json_object_object_add(out, "count", json_object_new_int(mb->sent_count));
  json_object_object_add(out, "value", arr);
  emu_resp_json(r, 200, out);
}

/* Body: a message as in the tenant file's "mailboxes[].messages[]" (Graph
 * fields, "folder" defaulting to inbox, "from" as an address or recipient,
 * "attachments" with contentBytes). Answers 201 with the stored message. */
static void h_inject(emu_req *r) {
  emu_mailbox *mb = admin_mailbox(r);
  if (!mb)
    return;
  json_object *b = emu_req_json(r);
  if (!b || !json_object_is_type(b, json_type_object)) {
    emu_graph_error(r, 400, "BadRequest", "A JSON message object is required.");
    return;
  }
  json_object *doc = json_object_new_array(), *box = json_object_new_object(),
              *msgs = json_object_new_array();
  json_object_object_add(box, "user", json_object_new_string(mb->upn));
  json_object_array_add(msgs, json_object_get(b));
  json_object_object_add(box, "messages", msgs);
  json_object_array_add(doc, box);
  char err[256];
  json_object *fj = NULL;
  json_object_object_get_ex(b, "folder", &fj);
  emu_folder *f =
      emu_folder_seed_find(mb, fj ? json_object_get_string(fj) : "inbox");
  int rc = emu_mailstore_load(graph_store(), doc, err, sizeof(err));
  json_object_put(doc);
  if (rc < 0 || !f || !f->nmsgs) {
    emu_graph_error(r, 400, "BadRequest", "%s", rc < 0 ? err : "bad folder");
    return;
  }
  emu_message *m = f->msgs[f->nmsgs - 1];
  json_object *o = emu_message_to_json(m, false);
  json_object_object_add(o, "immutableId",
                         json_object_new_string(m->immutable_id));
  emu_resp_json(r, 201, o);
}

/* Body: Graph properties to set on the message (as a PATCH by its owner
 * would, or a change made in Outlook: flag, isRead, importance,
 * categories...): each member replaces the property. The message is
 * modified (lastModifiedDateTime, changeKey), so delta reports it in its
 * next round. Answers 200 with the message. */
static void h_update(emu_req *r) {
  emu_mailbox *mb = admin_mailbox(r);
  if (!mb)
    return;
  const char *id = emu_req_param(r, "id");
  emu_message *m = emu_message_find(mb, id);
  json_object *b = emu_req_json(r);
  if (!m) {
    emu_graph_error(r, 404, "ErrorItemNotFound", "No message '%s'.", id);
    return;
  }
  if (!b || !json_object_is_type(b, json_type_object)) {
    emu_graph_error(r, 400, "BadRequest",
                    "A JSON object of properties is "
                    "required.");
    return;
  }
  json_object_object_foreach(b, k, v) {
    (void)v;
    if (!strcmp(k, "id") || !strcmp(k, "hasAttachments") ||
        !strcmp(k, "parentFolderId")) {
      emu_graph_error(r, 400, "BadRequest", "Property '%s' is read-only.", k);
      return;
    }
  }
  json_object_object_foreach(b, k2, v2) {
    json_object_object_add(m->props, k2, json_object_get(v2));
  }
  emu_message_touch(graph_store(), m);
  json_object *o = emu_message_to_json(m, false);
  json_object_object_add(o, "immutableId",
                         json_object_new_string(m->immutable_id));
  emu_resp_json(r, 200, o);
}

void graph_admin_init(void) {
  emu_route_add("GET", "/__emulator/mail", h_boxes, EMU_ROUTE_NO_FAULTS);
  emu_route_add("GET", "/__emulator/mail/{user}/folders", h_folders,
                EMU_ROUTE_NO_FAULTS);
  emu_route_add("GET", "/__emulator/mail/{user}/messages", h_messages,
                EMU_ROUTE_NO_FAULTS);
  emu_route_add("POST", "/__emulator/mail/{user}/messages", h_inject,
                EMU_ROUTE_NO_FAULTS);
  emu_route_add("GET", "/__emulator/mail/{user}/sent", h_sent,
                EMU_ROUTE_NO_FAULTS);
  emu_route_add("PATCH", "/__emulator/mail/{user}/messages/{id}", h_update,
                EMU_ROUTE_NO_FAULTS);
}
