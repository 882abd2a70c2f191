/* Graph messages: list/get/create/update/delete, move/copy, MIME $value,
 * send, sendMail, reply/replyAll/forward and their create* drafts.
 * */
#include "graph_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Inline attachments are limited to 3 MB (message-post-attachments). */
#define INLINE_ATTACHMENT_MAX (3 * 1024 * 1024)

static json_object *obj_get(json_object *o, const char *k) {
  json_object *v = NULL;
  json_object_object_get_ex(o, k, &v);
  return v;
}

static json_object *recipient(const char *name, const char *addr) {
  json_object *r = json_object_new_object(), *ea = json_object_new_object();
  json_object_object_add(ea, "name", json_object_new_string(name));
  json_object_object_add(ea, "address", json_object_new_string(addr));
  json_object_object_add(r, "emailAddress", ea);
  return r;
}

static json_object *mailbox_recipient(const emu_mailbox *mb) {
  return recipient(mb->display_name, mb->upn);
}

/* ---- lists and single messages ------------------------------------------ */

static void list_messages(emu_req *r, emu_folder *only, graph_ctx *c) {
  json_object *items = json_object_new_array();
  for (size_t i = 0; i < c->mb->nfolders; i++) {
    emu_folder *f = c->mb->folders[i];
    if (only && f != only)
      continue;
    for (size_t j = 0; j < f->nmsgs; j++)
      json_object_array_add(items, graph_message_json(c, f->msgs[j]));
  }
  graph_reply_collection(c, items, "messages", emu_odata_message_props);
  json_object_put(items);
  (void)r;
}

static void h_list(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_READ, &c))
    return;
  emu_folder *f = NULL;
  if (emu_req_param(r, "folder") &&
      !(f = graph_folder(&c, emu_req_param(r, "folder"))))
    return;
  list_messages(r, f, &c);
}

static void h_count(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_READ, &c))
    return;
  emu_folder *only = NULL;
  if (emu_req_param(r, "folder") &&
      !(only = graph_folder(&c, emu_req_param(r, "folder"))))
    return;
  emu_odata_error err;
  emu_odata_node *flt = NULL;
  const char *fs = emu_req_query(r, "$filter");
  if (fs &&
      !(flt = emu_odata_filter_parse(fs, emu_odata_message_props, &err))) {
    emu_graph_error(r, err.status, err.code, "%s", err.message);
    return;
  }
  size_t n = 0;
  for (size_t i = 0; i < c.mb->nfolders; i++) {
    emu_folder *f = c.mb->folders[i];
    for (size_t j = 0; j < f->nmsgs && (!only || f == only); j++) {
      json_object *m = graph_message_json(&c, f->msgs[j]);
      n += emu_odata_filter_eval(flt, m);
      json_object_put(m);
    }
  }
  emu_odata_filter_free(flt);
  char buf[32];
  snprintf(buf, sizeof(buf), "%zu", n);
  emu_resp_bytes(r, 200, "text/plain", buf, strlen(buf));
}

static void reply_message(graph_ctx *c, int status, emu_message *m) {
  json_object *full = graph_message_json(c, m);
  emu_odata_params p = {.select = emu_req_query(c->r, "$select")};
  emu_odata_query q;
  emu_odata_error err;
  if (emu_odata_query_parse(&q, &p, emu_odata_message_props, &err) < 0) {
    json_object_put(full);
    emu_graph_error(c->r, err.status, err.code, "%s", err.message);
    return;
  }
  json_object *o = emu_odata_select(&q, full);
  json_object_put(full);
  char *ctx = graph_context_url(c, "messages/$entity");
  json_object *out = json_object_new_object();
  json_object_object_add(out, "@odata.context", json_object_new_string(ctx));
  free(ctx);
  json_object_object_foreach(o, k, v) {
    json_object_object_add(out, k, json_object_get(v));
  }
  json_object_put(o);
  emu_odata_query_clear(&q);
  emu_resp_json(c->r, status, out);
}

static void h_get(emu_req *r) {
  graph_ctx c;
  emu_message *m = graph_begin_message(r, GRAPH_READ, &c);
  if (m)
    reply_message(&c, 200, m);
}

int graph_add_inline_attachments(graph_ctx *c, emu_message *m,
                                 json_object *msg) {
  json_object *atts = obj_get(msg, "attachments");
  for (size_t i = 0; atts && i < json_object_array_length(atts); i++) {
    json_object *a = json_object_array_get_idx(atts, i);
    json_object *type = obj_get(a, "@odata.type"),
                *cb = obj_get(a, "contentBytes");
    if (!type || strcmp(json_object_get_string(type),
                        "#microsoft.graph.fileAttachment") != 0) {
      emu_graph_error(c->r, 400, "ErrorInvalidRequest",
                      "Only '#microsoft.graph.fileAttachment' attachments are "
                      "supported by the emulator ('@odata.type' missing or "
                      "different).");
      return -1;
    }
    static const char *const known[] = {"@odata.type",
                                        "name",
                                        "contentType",
                                        "contentBytes",
                                        "isInline",
                                        "contentId",
                                        "size",
                                        "id",
                                        "contentLocation",
                                        "lastModifiedDateTime",
                                        NULL};
    json_object_object_foreach(a, k, v) {
      (void)v;
      bool ok = false;
      for (size_t j = 0; known[j] && !ok; j++)
        ok = !strcmp(known[j], k);
      if (!ok) {
        emu_graph_error(c->r, 400, "RequestBodyRead",
                        "The property '%s' does not exist on type "
                        "'microsoft.graph.fileAttachment'. Make sure to only "
                        "use property names that are defined by the type or "
                        "mark the type as open type.",
                        k);
        return -1;
      }
    }
    if (!cb || !json_object_is_type(cb, json_type_string)) {
      emu_graph_error(c->r, 400, "ErrorInvalidRequest",
                      "The 'contentBytes' property is required for a file "
                      "attachment.");
      return -1;
    }
    size_t len = 0;
    unsigned char *bytes = emu_base64_decode(json_object_get_string(cb), &len);
    if (!bytes) {
      emu_graph_error(c->r, 400, "RequestBodyRead",
                      "Cannot convert the literal '%.40s' to the expected "
                      "type 'Edm.Binary'.",
                      json_object_get_string(cb));
      return -1;
    }
    if (len > INLINE_ATTACHMENT_MAX) {
      free(bytes);
      emu_graph_error(c->r, 413, "ErrorRequestEntityTooLarge",
                      "The request is larger than the maximum allowed size of "
                      "3 MB for an attachment; use an upload session.");
      return -1;
    }
    json_object *name = obj_get(a, "name"), *ct = obj_get(a, "contentType"),
                *inl = obj_get(a, "isInline"), *cid = obj_get(a, "contentId");
    emu_attachment_add_bytes(graph_store(), m,
                             name ? json_object_get_string(name) : "attachment",
                             ct ? json_object_get_string(ct) : NULL, bytes, len,
                             inl && json_object_get_boolean(inl),
                             cid ? json_object_get_string(cid) : NULL);
    free(bytes);
  }
  return 0;
}

static emu_message *create_draft(graph_ctx *c, emu_folder *f, json_object *b) {
  json_object *props = graph_writable_props(b);
  json_object_object_add(props, "isDraft", json_object_new_boolean(true));
  json_object_object_add(props, "isRead", json_object_new_boolean(true));
  if (!obj_get(props, "from") && !c->own)
    json_object_object_add(props, "from", mailbox_recipient(c->mb));
  emu_message *m = emu_message_add(graph_store(), f, props);
  if (graph_add_inline_attachments(c, m, b) < 0) {
    emu_message_delete(graph_store(), m);
    return NULL;
  }
  return m;
}

static void h_create(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_WRITE, &c))
    return;
  emu_folder *f = emu_folder_find(c.mb, "drafts");
  if (emu_req_param(r, "folder") &&
      !(f = graph_folder(&c, emu_req_param(r, "folder"))))
    return;
  json_object *b = graph_body_object(&c);
  if (!b || graph_validate_message(&c, b, 0))
    return;
  emu_message *m = create_draft(&c, f, b);
  if (m)
    reply_message(&c, 201, m);
}

static bool is_draft(const emu_message *m) {
  return json_object_get_boolean(obj_get(m->props, "isDraft"));
}

/* If-Match on PATCH and DELETE of a message (Graph's OpenAPI lists it on
 * both): "*" or one of the listed entity tags must match the message's
 * current one (W/"<changeKey>", compared weakly, so the bare quoted change
 * key matches too). Exchange answers a stale one with 412
 * ErrorIrresolvableConflict. 0, or -1 after answering 412. */
static int if_match_fails(emu_req *r, const emu_message *m) {
  const char *h = emu_req_header(r, "If-Match");
  if (h == NULL)
    return 0;
  const char *ck = json_object_get_string(obj_get(m->props, "changeKey"));
  size_t cklen = ck ? strlen(ck) : 0;
  for (const char *p = h; *p;) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    size_t n = strcspn(p, ",");
    const char *t = p;
    p += n;
    while (n > 0 && (t[n - 1] == ' ' || t[n - 1] == '\t'))
      n--;
    if (n == 1 && t[0] == '*')
      return 0;
    if (n >= 2 && t[0] == 'W' && t[1] == '/') {
      t += 2;
      n -= 2;
    }
    if (n >= 2 && t[0] == '"' && t[n - 1] == '"') {
      t++;
      n -= 2;
    }
    if (ck != NULL && n == cklen && n > 0 && memcmp(t, ck, n) == 0)
      return 0;
  }
  emu_graph_error(r, 412, "ErrorIrresolvableConflict",
                  "The send or update operation could not be performed "
                  "because the change key passed in the request does not "
                  "match the current change key for the item.");
  return -1;
}

static void h_patch(emu_req *r) {
  graph_ctx c;
  emu_message *m = graph_begin_message(r, GRAPH_WRITE, &c);
  if (!m || if_match_fails(r, m))
    return;
  json_object *b = graph_body_object(&c);
  if (!b || graph_validate_message(&c, b, 1))
    return;
  static const char *const draft_only[] = {"subject", "body", "replyTo",
                                           "internetMessageId", NULL};
  if (!is_draft(m)) {
    for (size_t i = 0; draft_only[i]; i++)
      if (obj_get(b, draft_only[i]) ||
          json_object_object_get_ex(b, draft_only[i], NULL)) {
        emu_graph_error(r, 400, "ErrorInvalidPropertyUpdateSentMessage",
                        "Update operation is invalid for property of a sent "
                        "message.");
        return;
      }
  }
  if (obj_get(b, "attachments")) {
    emu_graph_error(r, 400, "ErrorInvalidRequest",
                    "Attachments cannot be changed with PATCH; use the "
                    "attachments collection.");
    return;
  }
  json_object *w = graph_writable_props(b);
  json_object_object_foreach(w, k, v) {
    json_object_object_add(m->props, k, json_object_get(v));
  }
  json_object_put(w);
  emu_message_touch(graph_store(), m);
  reply_message(&c, 200, m);
}

static void h_delete(emu_req *r) {
  graph_ctx c;
  emu_message *m = graph_begin_message(r, GRAPH_WRITE, &c);
  if (!m || if_match_fails(r, m))
    return;
  if (!strcmp(m->folder->wellknown, "recoverableitemsdeletions")) {
    emu_graph_error(r, 400, "ErrorCannotDeleteObject",
                    "Object cannot be deleted.");
    return;
  }
  emu_message_delete(graph_store(), m);
  emu_resp_empty(r, 204);
}

static void h_move_copy(emu_req *r) {
  graph_ctx c;
  emu_message *m = graph_begin_message(r, GRAPH_WRITE, &c);
  if (!m)
    return;
  json_object *b = graph_body_object(&c);
  if (!b)
    return;
  json_object_object_foreach(b, k, v) {
    (void)v;
    if (strcmp(k, "destinationId") != 0) {
      emu_graph_error(r, 400, "RequestBodyRead",
                      "The parameter '%s' in the request payload is not a "
                      "valid parameter for the operation.",
                      k);
      return;
    }
  }
  json_object *d = obj_get(b, "destinationId");
  if (!d || !json_object_is_type(d, json_type_string)) {
    emu_graph_error(r, 400, "ErrorInvalidRequest",
                    "The 'destinationId' parameter is required.");
    return;
  }
  emu_folder *dst = emu_folder_find(c.mb, json_object_get_string(d));
  if (!dst) {
    emu_graph_error(r, 404, "ErrorItemNotFound",
                    "The specified folder could not be found in the store.");
    return;
  }
  bool copy = strstr(emu_req_route(r), "copy") != NULL;
  emu_message *res = copy ? emu_message_copy(graph_store(), m, dst)
                          : emu_message_move(graph_store(), m, dst);
  reply_message(&c, 201, res);
}

static void h_value(emu_req *r) {
  graph_ctx c;
  emu_message *m = graph_begin_message(r, GRAPH_READ, &c);
  if (!m)
    return;
  int64_t size = 0;
  int fd = emu_mime_render(m, &size);
  if (fd < 0) {
    emu_graph_error(r, 500, "ErrorInternalServerError",
                    "Could not render the message as MIME.");
    return;
  }
  emu_resp_fd(r, 200, "text/plain", fd, 0, (uint64_t)size);
}

/* ---- sending ------------------------------------------------------------ */

static int count_recips(json_object *props) {
  static const char *const k[] = {"toRecipients", "ccRecipients",
                                  "bccRecipients", NULL};
  int n = 0;
  for (size_t i = 0; k[i]; i++) {
    json_object *a = obj_get(props, k[i]);
    n += a ? (int)json_object_array_length(a) : 0;
  }
  return n;
}

/* 0, or -1 after answering ErrorInvalidRecipients. */
static int check_recipients(graph_ctx *c, json_object *props) {
  if (count_recips(props) == 0) {
    emu_graph_error(c->r, 400, "ErrorInvalidRecipients",
                    "At least one recipient isn't valid., A message can't be "
                    "sent because it contains no recipients.");
    return -1;
  }
  static const char *const k[] = {"toRecipients", "ccRecipients",
                                  "bccRecipients", NULL};
  for (size_t i = 0; k[i]; i++) {
    json_object *a = obj_get(props, k[i]);
    for (size_t j = 0; a && j < json_object_array_length(a); j++) {
      json_object *addr = emu_odata_path_get(json_object_array_get_idx(a, j),
                                             "emailAddress/address");
      if (!addr || !graph_address_valid(json_object_get_string(addr))) {
        emu_graph_error(c->r, 400, "ErrorInvalidRecipients",
                        "At least one recipient isn't valid., Recipient '%s' "
                        "is not resolved. All recipients must be resolved "
                        "before a message can be submitted.",
                        addr ? json_object_get_string(addr) : "");
        return -1;
      }
    }
  }
  return 0;
}

/* Sending as another mailbox through "from": needs SendAs on it. */
static int check_from(graph_ctx *c, json_object *props) {
  json_object *fa = emu_odata_path_get(props, "from/emailAddress/address");
  if (!fa || !c->caller)
    return 0;
  const emu_user *u = emu_user_find(json_object_get_string(fa));
  if (!u || !strcasecmp(u->id, c->mb->user_id))
    return 0;
  const emu_mailbox_perm *p = emu_mailbox_perm_find(u, c->caller->id);
  if (u == c->caller || (p && (p->send_as || p->send_on_behalf)))
    return 0;
  emu_graph_error(c->r, 403, "ErrorSendAsDenied",
                  "The user account which was used to submit this request "
                  "does not have the right to send mail on behalf of the "
                  "specified sending account., Cannot submit message.");
  return -1;
}

static int64_t message_size(const emu_message *m) {
  int64_t n = (int64_t)strlen(json_object_to_json_string(m->props));
  for (size_t i = 0; i < m->natts; i++)
    n += m->atts[i]->size * 4 / 3;
  return n;
}

/* Exchange answers a delivered message with the recipient's automatic
 * reply (internal senders get internalReplyMessage). Delivered straight into
 * the sender's Inbox: an automatic reply never triggers another one. */
static void auto_reply(emu_mailstore *s, emu_mailbox *rcpt, emu_mailbox *sender,
                       json_object *orig) {
  if (rcpt == sender || !graph_auto_replies_on(rcpt))
    return;
  json_object *msg = NULL;
  json_object_object_get_ex(rcpt->auto_replies, "internalReplyMessage", &msg);
  const char *subj = json_object_get_string(obj_get(orig, "subject"));
  char *s2 = emu_strdup_printf("Automatic reply: %s", subj ? subj : "");
  json_object *p = json_object_new_object();
  json_object_object_add(p, "subject", json_object_new_string(s2));
  free(s2);
  json_object *b = json_object_new_object();
  json_object_object_add(b, "contentType", json_object_new_string("html"));
  json_object_object_add(
      b, "content",
      json_object_new_string(msg ? json_object_get_string(msg) : ""));
  json_object_object_add(p, "body", b);
  json_object_object_add(p, "from", mailbox_recipient(rcpt));
  json_object_object_add(p, "sender", mailbox_recipient(rcpt));
  json_object *to = json_object_new_array();
  json_object_array_add(to, mailbox_recipient(sender));
  json_object_object_add(p, "toRecipients", to);
  emu_message_add(s, emu_folder_find(sender, "inbox"), p);
}

void graph_deliver(graph_ctx *c, emu_message *src, json_object *unused,
                   bool save_sent) {
  (void)unused;
  emu_mailstore *s = graph_store();
  char now[32];
  emu_mailstore_now_iso(s, now);
  json_object *p = src->props;
  json_object_object_add(p, "isDraft", json_object_new_boolean(false));
  json_object_object_add(p, "sentDateTime", json_object_new_string(now));
  json_object_object_add(p, "receivedDateTime", json_object_new_string(now));
  if (!obj_get(p, "from"))
    json_object_object_add(p, "from", mailbox_recipient(c->mb));
  if (!obj_get(p, "sender")) {
    /* On behalf of: sender is the signed-in user when it differs. */
    emu_mailbox *who = c->caller ? emu_mailbox_find(s, c->caller->id) : NULL;
    json_object_object_add(p, "sender", mailbox_recipient(who ? who : c->mb));
  }
  /* One copy per tenant mailbox among the recipients. */
  static const char *const k[] = {"toRecipients", "ccRecipients",
                                  "bccRecipients", NULL};
  emu_mailbox *done[64];
  size_t ndone = 0;
  for (size_t i = 0; k[i]; i++) {
    json_object *a = obj_get(p, k[i]);
    for (size_t j = 0; a && j < json_object_array_length(a); j++) {
      json_object *addr = emu_odata_path_get(json_object_array_get_idx(a, j),
                                             "emailAddress/address");
      const emu_user *u =
          addr ? emu_user_find(json_object_get_string(addr)) : NULL;
      emu_mailbox *mb = u ? emu_mailbox_find(s, u->id) : NULL;
      bool seen = false;
      for (size_t d = 0; d < ndone; d++)
        seen = seen || done[d] == mb;
      if (!mb || seen || ndone == 64)
        continue;
      done[ndone++] = mb;
      emu_message *cp = emu_message_copy(s, src, emu_folder_find(mb, "inbox"));
      auto_reply(s, mb, c->mb, p);
      json_object_object_add(cp->props, "isRead",
                             json_object_new_boolean(false));
      json_object_object_del(cp->props, "bccRecipients");
      json_object_object_add(cp->props, "bccRecipients",
                             json_object_new_array());
      emu_message_touch(s, cp);
    }
  }
  emu_mailbox_record_send(
      c->mb, json_object_get_string(obj_get(p, "subject")),
      json_object_get_string(obj_get(p, "internetMessageId")), count_recips(p));
  if (save_sent) {
    json_object_object_add(p, "isRead", json_object_new_boolean(true));
    emu_message_move(s, src, emu_folder_find(c->mb, "sentitems"));
  } else {
    emu_message_delete(s, src);
  }
}

static int send_checks(graph_ctx *c, emu_message *m) {
  if (check_recipients(c, m->props) || check_from(c, m->props))
    return -1;
  if (message_size(m) > c->mb->max_message_size) {
    emu_graph_error(c->r, 413, "ErrorMessageSizeExceeded",
                    "The message exceeds the maximum supported size.");
    return -1;
  }
  if (c->mb->full) {
    emu_graph_error(c->r, 507, "ErrorQuotaExceeded",
                    "The mailbox quota has been exceeded.");
    return -1;
  }
  return 0;
}

static void h_send(emu_req *r) {
  graph_ctx c;
  emu_message *m = graph_begin_message(r, GRAPH_SEND, &c);
  if (!m)
    return;
  size_t len = 0;
  emu_req_body(r, &len);
  if (len) {
    emu_graph_error(r, 400, "ErrorInvalidRequest",
                    "The send action takes no request body.");
    return;
  }
  if (!is_draft(m)) {
    emu_graph_error(r, 400, "ErrorInvalidOperation",
                    "The message has already been sent.");
    return;
  }
  if (send_checks(&c, m))
    return;
  graph_deliver(&c, m, NULL, true);
  emu_resp_empty(r, 202);
}

static int parse_bool_param(json_object *v, bool *out) {
  if (json_object_is_type(v, json_type_boolean)) {
    *out = json_object_get_boolean(v);
    return 0;
  }
  if (json_object_is_type(v, json_type_string)) {
    const char *s = json_object_get_string(v);
    if (!strcasecmp(s, "true") || !strcasecmp(s, "false")) {
      *out = !strcasecmp(s, "true");
      return 0;
    }
  }
  return -1;
}

static void h_sendmail(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_SEND, &c))
    return;
  const char *ct = emu_req_header(r, "Content-Type");
  if (ct && !strncasecmp(ct, "text/plain", 10)) {
    /* MIME sendMail: base64 of an RFC 5322 message. */
    size_t len;
    const char *raw = emu_req_body(r, &len);
    size_t dl = 0;
    unsigned char *mime = emu_b64_decode(raw, &dl);
    json_object *props = mime ? emu_mime_parse((const char *)mime, dl) : NULL;
    free(mime);
    if (!props) {
      emu_graph_error(r, 400, "ErrorMimeContentInvalidBase64String",
                      "Invalid base64 string for MIME content.");
      return;
    }
    json_object_object_add(props, "isDraft", json_object_new_boolean(true));
    emu_message *m =
        emu_message_add(graph_store(), emu_folder_find(c.mb, "drafts"), props);
    if (send_checks(&c, m)) {
      emu_message_delete(graph_store(), m);
      return;
    }
    graph_deliver(&c, m, NULL, true);
    emu_resp_empty(r, 202);
    return;
  }
  json_object *b = graph_body_object(&c);
  if (!b)
    return;
  bool save = true;
  json_object_object_foreach(b, k, v) {
    if (!strcmp(k, "message"))
      continue;
    if (!strcmp(k, "saveToSentItems")) {
      if (v && parse_bool_param(v, &save) < 0) {
        emu_graph_error(r, 400, "RequestBodyRead",
                        "Cannot convert the literal '%s' to the expected type "
                        "'Edm.Boolean'.",
                        json_object_get_string(v));
        return;
      }
      continue;
    }
    emu_graph_error(r, 400, "RequestBodyRead",
                    "The parameter '%s' in the request payload is not a valid "
                    "parameter for the operation 'sendMail'.",
                    k);
    return;
  }
  json_object *msg = obj_get(b, "message");
  if (!msg) {
    emu_graph_error(r, 400, "ErrorInvalidParameter",
                    "The value of the parameter 'Message' is empty.");
    return;
  }
  if (graph_validate_message(&c, msg, 0))
    return;
  emu_message *m = create_draft(&c, emu_folder_find(c.mb, "drafts"), msg);
  if (!m)
    return;
  if (send_checks(&c, m)) {
    emu_message_delete(graph_store(), m);
    return;
  }
  graph_deliver(&c, m, NULL, save);
  emu_resp_empty(r, 202);
}

/* ---- reply / replyAll / forward ----------------------------------------- */

enum rkind { R_REPLY, R_REPLY_ALL, R_FORWARD };

static bool same_addr(json_object *recip, const char *addr) {
  json_object *a = emu_odata_path_get(recip, "emailAddress/address");
  return a && addr && !strcasecmp(json_object_get_string(a), addr);
}

/* New draft answering m, in Drafts. comment goes above the quoted text. */
static emu_message *make_response(graph_ctx *c, emu_message *m, enum rkind kind,
                                  const char *comment) {
  json_object *p = json_object_new_object();
  const char *subj = json_object_get_string(obj_get(m->props, "subject"));
  char *s = emu_strdup_printf(
      "%s%s", kind == R_FORWARD ? "FW: " : "RE: ", subj ? subj : "");
  json_object_object_add(p, "subject", json_object_new_string(s));
  free(s);
  json_object *to = json_object_new_array();
  if (kind != R_FORWARD) {
    json_object *rt = obj_get(m->props, "replyTo");
    json_object *src =
        rt && json_object_array_length(rt) ? rt : NULL; /* honour replyTo */
    if (src) {
      for (size_t i = 0; i < json_object_array_length(src); i++)
        json_object_array_add(
            to, json_object_get(json_object_array_get_idx(src, i)));
    } else if (obj_get(m->props, "from")) {
      json_object_array_add(to, json_object_get(obj_get(m->props, "from")));
    }
  }
  json_object *cc = json_object_new_array();
  if (kind == R_REPLY_ALL) {
    static const char *const k[] = {"toRecipients", "ccRecipients", NULL};
    for (size_t i = 0; k[i]; i++) {
      json_object *a = obj_get(m->props, k[i]);
      for (size_t j = 0; a && j < json_object_array_length(a); j++) {
        json_object *e = json_object_array_get_idx(a, j);
        if (same_addr(e, c->mb->upn))
          continue;
        json_object_array_add(i == 0 ? to : cc, json_object_get(e));
      }
    }
  }
  json_object_object_add(p, "toRecipients", to);
  json_object_object_add(p, "ccRecipients", cc);
  const char *body =
      json_object_get_string(emu_odata_path_get(m->props, "body/content"));
  const char *from = json_object_get_string(
      emu_odata_path_get(m->props, "from/emailAddress/address"));
  char *content = emu_strdup_printf(
      "<html><body>%s<hr><b>From:</b> %s<br><b>Subject:</b> %s<br><br>%s"
      "</body></html>",
      comment ? comment : "", from ? from : "", subj ? subj : "",
      body ? body : "");
  json_object *bo = json_object_new_object();
  json_object_object_add(bo, "contentType", json_object_new_string("html"));
  json_object_object_add(bo, "content", json_object_new_string(content));
  free(content);
  json_object_object_add(p, "body", bo);
  json_object_object_add(p, "isDraft", json_object_new_boolean(true));
  json_object_object_add(p, "isRead", json_object_new_boolean(true));
  json_object_object_add(p, "conversationId",
                         json_object_get(obj_get(m->props, "conversationId")));
  emu_message *d =
      emu_message_add(graph_store(), emu_folder_find(c->mb, "drafts"), p);
  if (kind == R_FORWARD) /* forwards carry the attachments */
    for (size_t i = 0; i < m->natts; i++) {
      emu_attachment *a = m->atts[i];
      FILE *f = fopen(a->path, "rb");
      if (!f)
        continue;
      /* small enough in practice; large ones go through the file path */
      char *tmp = emu_strdup_printf("%s/fwd-%p", graph_store()->dir, (void *)a);
      FILE *o = fopen(tmp, "wb");
      char buf[65536];
      size_t n;
      while (o && (n = fread(buf, 1, sizeof(buf), f)) > 0)
        fwrite(buf, 1, n, o);
      if (o)
        fclose(o);
      fclose(f);
      emu_attachment_add_file(graph_store(), d, a->name, a->content_type, tmp,
                              a->size, a->is_inline, a->content_id);
      free(tmp);
    }
  return d;
}

static void h_respond(emu_req *r) {
  const char *route = emu_req_route(r);
  bool create = strstr(route, "create") != NULL;
  enum rkind kind = strstr(route, "orward")    ? R_FORWARD
                    : strstr(route, "eplyAll") ? R_REPLY_ALL
                                               : R_REPLY;
  graph_ctx c;
  if (graph_begin(r, create ? GRAPH_WRITE : GRAPH_SEND, &c))
    return;
  emu_message *m = graph_path_message(&c);
  if (!m)
    return;
  size_t len = 0;
  emu_req_body(r, &len);
  json_object *b = NULL;
  if (len) {
    b = graph_body_object(&c);
    if (!b)
      return;
  } else if (!create) {
    b = NULL;
  }
  const char *comment = NULL;
  json_object *msg = NULL, *to = NULL;
  if (b) {
    json_object_object_foreach(b, k, v) {
      if (!strcmp(k, "comment") && json_object_is_type(v, json_type_string))
        comment = json_object_get_string(v);
      else if (!strcmp(k, "message"))
        msg = v;
      else if (!strcmp(k, "toRecipients") && kind == R_FORWARD)
        to = v;
      else {
        emu_graph_error(r, 400, "RequestBodyRead",
                        "The parameter '%s' in the request payload is not a "
                        "valid parameter for the operation.",
                        k);
        return;
      }
    }
  }
  if (msg && graph_validate_message(&c, msg, 0))
    return;
  if (comment && msg && obj_get(msg, "body")) {
    emu_graph_error(r, 400, "ErrorInvalidRequest",
                    "Either the 'comment' parameter or the 'message.body' "
                    "property can be set, not both.");
    return;
  }
  if (kind == R_FORWARD && !create) {
    bool has_to = to && json_object_array_length(to);
    bool has_mto = msg && obj_get(msg, "toRecipients") &&
                   json_object_array_length(obj_get(msg, "toRecipients"));
    if (has_to == has_mto) {
      emu_graph_error(r, 400, "ErrorInvalidRecipients",
                      "At least one recipient isn't valid., Exactly one of "
                      "'toRecipients' or 'message.toRecipients' must be set.");
      return;
    }
  }
  emu_message *d = make_response(&c, m, kind, comment);
  if (to) {
    json_object *copy = NULL;
    json_object_deep_copy(to, &copy, NULL);
    json_object_object_add(d->props, "toRecipients", copy);
  }
  if (msg) {
    json_object *w = graph_writable_props(msg);
    json_object_object_foreach(w, k, v) {
      json_object_object_add(d->props, k, json_object_get(v));
    }
    json_object_put(w);
    if (graph_add_inline_attachments(&c, d, msg) < 0) {
      emu_message_delete(graph_store(), d);
      return;
    }
  }
  emu_message_touch(graph_store(), d);
  if (create) {
    reply_message(&c, 201, d);
    return;
  }
  if (send_checks(&c, d)) {
    emu_message_delete(graph_store(), d);
    return;
  }
  graph_deliver(&c, d, NULL, true);
  emu_resp_empty(r, 202);
}

void graph_messages_init(void) {
  const char *bases[] = {"/messages", "/mailFolders/{folder}/messages"};
  char p[256];
  for (size_t i = 0; i < 2; i++) {
    const char *b = bases[i];
    graph_route("GET", b, h_list, 0);
    graph_route("POST", b, h_create, 0);
    snprintf(p, sizeof(p), "%s/$count", b);
    graph_route("GET", p, h_count, 0);
    snprintf(p, sizeof(p), "%s/{id}", b);
    graph_route("GET", p, h_get, 0);
    graph_route("PATCH", p, h_patch, 0);
    graph_route("DELETE", p, h_delete, 0);
    snprintf(p, sizeof(p), "%s/{id}/$value", b);
    graph_route("GET", p, h_value, 0);
    static const char *const acts[] = {
        "move",    "copy",        "send",           "reply",         "replyAll",
        "forward", "createReply", "createReplyAll", "createForward",
    };
    for (size_t j = 0; j < sizeof(acts) / sizeof(acts[0]); j++) {
      emu_handler_fn fn = j < 2 ? h_move_copy : j == 2 ? h_send : h_respond;
      snprintf(p, sizeof(p), "%s/{id}/%s", b, acts[j]);
      graph_route("POST", p, fn, 0);
      snprintf(p, sizeof(p), "%s/{id}/microsoft.graph.%s", b, acts[j]);
      graph_route("POST", p, fn, 0);
    }
  }
  graph_route("POST", "/sendMail", h_sendmail, 0);
  graph_route("POST", "/microsoft.graph.sendMail", h_sendmail, 0);
}
