/* search.c - see search.h. */
#define _GNU_SOURCE /* strcasestr, strdup */
#include "search.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "folders.h"
#include "graph.h"
#include "message.h"
#include "util.h"

/* Our output field -> the Graph property that feeds it. */
static const struct {
  const char *field;
  const char *prop;
} field_props[] = {{"id", "id"},
                   {"subject", "subject"},
                   {"from", "from"},
                   {"from_name", "from"},
                   {"to", "toRecipients"},
                   {"cc", "ccRecipients"},
                   {"bcc", "bccRecipients"},
                   {"reply_to", "replyTo"},
                   {"received", "receivedDateTime"},
                   {"sent", "sentDateTime"},
                   {"is_read", "isRead"},
                   {"is_draft", "isDraft"},
                   {"importance", "importance"},
                   {"has_attachments", "hasAttachments"},
                   {"categories", "categories"},
                   {"flag", "flag"},
                   {"conversation_id", "conversationId"},
                   {"internet_message_id", "internetMessageId"},
                   {"parent_folder_id", "parentFolderId"},
                   {"web_link", "webLink"},
                   {"preview", "bodyPreview"},
                   {"body", "body"},
                   {"body_type", "body"},
                   {NULL, NULL}};

static struct json_object *get(struct json_object *o, const char *k) {
  struct json_object *v = NULL;
  return o != NULL && json_object_object_get_ex(o, k, &v) ? v : NULL;
}

static const char *match_mode(struct json_object *in) {
  const char *m = o365_json_str(in, "match");
  return m ? m : "contains";
}

/* One $filter clause on a string property. */
static void str_clause(o365_buf *f, const char *mode, const char *prop,
                       const char *value) {
  if (f->len > 0)
    o365_buf_put(f, " and ");
  if (strcmp(mode, "exact") == 0) {
    o365_buf_printf(f, "%s eq ", prop);
    o365_odata_literal(f, value);
    return;
  }
  o365_buf_printf(f, "%s(%s,",
                  strcmp(mode, "starts_with") == 0 ? "startswith" : "contains",
                  prop);
  o365_odata_literal(f, value);
  o365_buf_put(f, ")");
}

static void and_(o365_buf *f) {
  if (f->len > 0)
    o365_buf_put(f, " and ");
}

/* A KQL term prop:'value' with the quotes of value dropped (they can't be
 * escaped inside $search="..."). */
static void kql(o365_buf *s, const char *prop, const char *value) {
  if (s->len > 0)
    o365_buf_put(s, " ");
  o365_buf_printf(s, "%s:'", prop);
  for (const char *p = value; *p; p++)
    o365_buf_putn(s, *p == '"' || *p == '\'' || *p == '\\' ? " " : p, 1);
  o365_buf_put(s, "'");
}

static void add_prop(o365_buf *sel, const char *prop) {
  /* Each property once: look for ",prop," in ",sel,". */
  char probe[64];
  snprintf(probe, sizeof probe, ",%s,", prop);
  char *cur = malloc(sel->len + 3);
  if (cur != NULL) {
    snprintf(cur, sel->len + 3, ",%s,", sel->data ? sel->data : "");
    int dup = strstr(cur, probe) != NULL;
    free(cur);
    if (dup)
      return;
  }
  if (sel->len > 0)
    o365_buf_put(sel, ",");
  o365_buf_put(sel, prop);
}

int o365_search_build(struct json_object *in, const char *mailbox,
                      const char *folder_id, int page_size, o365_search *out,
                      char *err, size_t errsz) {
  memset(out, 0, sizeof *out);
  const char *after = o365_json_str(in, "received_after");
  const char *before = o365_json_str(in, "received_before");
  /* RFC 3339 in UTC compares as text when both end in Z. */
  if (after && before && after[strlen(after) - 1] == 'Z' &&
      before[strlen(before) - 1] == 'Z' && strcmp(after, before) >= 0) {
    snprintf(err, errsz,
             "received_after: %s is not earlier than received_before %s", after,
             before);
    return -1;
  }
  const char *subject = o365_json_str(in, "subject");
  const char *from = o365_json_str(in, "from");
  const char *to = o365_json_str(in, "to");
  const char *body = o365_json_str(in, "body");
  const char *imp = o365_json_str(in, "importance");
  const char *mode = match_mode(in);
  struct json_object *unread = get(in, "unread");
  struct json_object *atts = get(in, "has_attachments");

  o365_buf path, q, sel;
  o365_buf_init(&path);
  o365_buf_init(&q);
  o365_buf_init(&sel);
  o365_graph_mailbox(&path, mailbox);
  if (folder_id != NULL) {
    o365_buf_put(&path, "/mailFolders");
    o365_buf_seg(&path, folder_id);
  }
  o365_buf_put(&path, "/messages");

  if (body != NULL && *body != '\0') {
    out->search_mode = 1;
    out->local = 1;
    kql(&q, "body", body);
    if (subject)
      kql(&q, "subject", subject);
    if (from)
      kql(&q, "from", from);
    if (to)
      kql(&q, "to", to);
    o365_buf b2;
    o365_buf_init(&b2);
    o365_buf_printf(&b2, "\"%s\"", q.data ? q.data : "");
    o365_buf_query(&path, "$search", b2.data ? b2.data : "");
    o365_buf_free(&b2);
  } else {
    if (after) {
      o365_buf_printf(&q, "receivedDateTime ge %s", after);
    }
    if (before) {
      and_(&q);
      o365_buf_printf(&q, "receivedDateTime lt %s", before);
    }
    if (subject)
      str_clause(&q, mode, "subject", subject);
    if (from)
      str_clause(&q, mode, "from/emailAddress/address", from);
    if (to && strcmp(mode, "exact") == 0) {
      and_(&q);
      o365_buf_put(&q, "toRecipients/any(r:r/emailAddress/address eq ");
      o365_odata_literal(&q, to);
      o365_buf_put(&q, ")");
    } else if (to) {
      out->local = 1;
    }
    if (unread) {
      and_(&q);
      o365_buf_printf(&q, "isRead eq %s",
                      json_object_get_boolean(unread) ? "false" : "true");
    }
    if (atts) {
      and_(&q);
      o365_buf_printf(&q, "hasAttachments eq %s",
                      json_object_get_boolean(atts) ? "true" : "false");
    }
    if (imp) {
      and_(&q);
      o365_buf_put(&q, "importance eq ");
      o365_odata_literal(&q, imp);
    }
    if (q.len > 0)
      o365_buf_query(&path, "$filter", q.data);
  }

  /* $select: the fields asked for (default: all but the body), plus what
   * the local check reads. */
  struct json_object *fields = get(in, "fields");
  if (fields != NULL && json_object_array_length(fields) > 0) {
    add_prop(&sel, "id");
    for (size_t i = 0; i < json_object_array_length(fields); i++) {
      const char *f =
          json_object_get_string(json_object_array_get_idx(fields, i));
      for (size_t k = 0; field_props[k].field; k++)
        if (strcmp(field_props[k].field, f) == 0)
          add_prop(&sel, field_props[k].prop);
    }
  } else {
    o365_buf_put(&sel, O365_MSG_SELECT);
  }
  if (out->local) {
    static const char *const need[] = {
        "subject", "from",           "toRecipients", "receivedDateTime",
        "isRead",  "hasAttachments", "importance",   NULL};
    for (size_t i = 0; need[i]; i++)
      add_prop(&sel, need[i]);
  }
  o365_buf_query(&path, "$select", sel.data ? sel.data : "id");
  char top[16];
  snprintf(top, sizeof top, "%d", page_size);
  o365_buf_query(&path, "$top", top);
  int oom = path.oom || q.oom || sel.oom;
  o365_buf_free(&q);
  o365_buf_free(&sel);
  out->path = o365_buf_take(&path);
  if (oom || out->path == NULL) {
    free(out->path);
    out->path = NULL;
    snprintf(err, errsz, "out of memory");
    return -1;
  }
  return 0;
}

void o365_search_clear(o365_search *s) {
  free(s->path);
  memset(s, 0, sizeof *s);
}

static int str_match(const char *mode, const char *have, const char *want) {
  if (have == NULL)
    return 0;
  if (strcmp(mode, "exact") == 0)
    return strcasecmp(have, want) == 0;
  if (strcmp(mode, "starts_with") == 0)
    return strncasecmp(have, want, strlen(want)) == 0;
  return strcasestr(have, want) != NULL;
}

static const char *addr_of(struct json_object *recip) {
  return o365_json_str(get(recip, "emailAddress"), "address");
}

int o365_search_match(struct json_object *in, struct json_object *m) {
  const char *mode = match_mode(in);
  const char *v;
  if ((v = o365_json_str(in, "subject")) &&
      !str_match(mode, o365_json_str(m, "subject"), v))
    return 0;
  if ((v = o365_json_str(in, "from")) &&
      !str_match(mode, addr_of(get(m, "from")), v))
    return 0;
  if ((v = o365_json_str(in, "to")) != NULL) {
    struct json_object *a = get(m, "toRecipients");
    int any = 0;
    for (size_t i = 0; a && i < json_object_array_length(a); i++)
      any = any || str_match(mode, addr_of(json_object_array_get_idx(a, i)), v);
    if (!any)
      return 0;
  }
  const char *rcv = o365_json_str(m, "receivedDateTime");
  if ((v = o365_json_str(in, "received_after")) &&
      (rcv == NULL || strcmp(rcv, v) < 0))
    return 0;
  if ((v = o365_json_str(in, "received_before")) &&
      (rcv == NULL || strcmp(rcv, v) >= 0))
    return 0;
  struct json_object *b;
  if ((b = get(in, "unread")) != NULL &&
      json_object_get_boolean(get(m, "isRead")) == json_object_get_boolean(b))
    return 0;
  if ((b = get(in, "has_attachments")) != NULL &&
      json_object_get_boolean(get(m, "hasAttachments")) !=
          json_object_get_boolean(b))
    return 0;
  if ((v = o365_json_str(in, "importance")) &&
      !str_match("exact", o365_json_str(m, "importance"), v))
    return 0;
  return 1;
}

void o365_search_project(struct json_object *in, struct json_object *msg) {
  struct json_object *fields = get(in, "fields");
  if (fields == NULL || json_object_array_length(fields) == 0)
    return;
  char *drop[64]; /* copies: deleting frees the object's own keys */
  size_t n = 0;
  json_object_object_foreach(msg, k, v) {
    (void)v;
    int keep = strcmp(k, "id") == 0;
    for (size_t i = 0; !keep && i < json_object_array_length(fields); i++)
      keep =
          strcmp(json_object_get_string(json_object_array_get_idx(fields, i)),
                 k) == 0;
    if (!keep && n < 64 && (drop[n] = strdup(k)) != NULL)
      n++;
  }
  for (size_t i = 0; i < n; i++) {
    json_object_object_del(msg, drop[i]);
    free(drop[i]);
  }
}
