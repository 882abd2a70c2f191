/* Graph attachments: list/get/$value/add/delete and upload sessions (ranged
 * PUTs streamed to disk, no Authorization header). */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, pwrite */
#include "graph_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define UPLOAD_MAX (150LL * 1024 * 1024)
/* Above this, contentBytes is left out of JSON answers so the emulator's
 * memory stays flat; $value streams any size. */
#define JSON_BYTES_MAX (4LL * 1024 * 1024)

static emu_attachment *path_attachment(graph_ctx *c, emu_message **mo) {
  emu_message *m = graph_path_message(c);
  if (!m)
    return NULL;
  emu_attachment *a = emu_attachment_find(m, emu_req_param(c->r, "aid"));
  if (!a)
    graph_not_found(c);
  *mo = m;
  return a;
}

static const char *const att_props[] = {
    "id",           "name",      "contentType",     "size",
    "isInline",     "contentId", "contentLocation", "lastModifiedDateTime",
    "contentBytes", NULL};

/* Does the request's $select (absent: everything) ask for contentBytes?
 * Encoding them costs a read and base64 of the whole file, so they are
 * made only when asked for. */
static bool wants_bytes(emu_req *r) {
  emu_odata_params p = {.select = emu_req_query(r, "$select")};
  emu_odata_query q;
  emu_odata_error err;
  if (emu_odata_query_parse(&q, &p, att_props, &err) < 0)
    return false; /* the reply refuses the $select anyway */
  bool want = q.select == NULL;
  for (size_t i = 0; i < q.nselect && !want; i++)
    want = strcasecmp(q.select[i], "contentBytes") == 0;
  emu_odata_query_clear(&q);
  return want;
}

static void h_list(emu_req *r) {
  graph_ctx c;
  emu_message *m = graph_begin_message(r, GRAPH_READ, &c);
  if (!m)
    return;
  bool bytes = wants_bytes(r);
  json_object *items = json_object_new_array();
  for (size_t i = 0; i < m->natts; i++)
    json_object_array_add(
        items, emu_attachment_to_json(m->atts[i], bytes && m->atts[i]->size <=
                                                               JSON_BYTES_MAX));
  char what[EMU_ID_MAX + 40];
  snprintf(what, sizeof(what), "messages('%s')/attachments", m->id);
  graph_reply_collection(&c, items, what, att_props);
  json_object_put(items);
}

static void reply_attachment(graph_ctx *c, int status, emu_message *m,
                             emu_attachment *a, bool bytes) {
  json_object *o = json_object_new_object();
  char what[EMU_ID_MAX + 40];
  snprintf(what, sizeof(what), "messages('%s')/attachments/$entity", m->id);
  char *ctx = graph_context_url(c, what);
  json_object_object_add(o, "@odata.context", json_object_new_string(ctx));
  free(ctx);
  emu_odata_params p = {.select = emu_req_query(c->r, "$select")};
  emu_odata_query q;
  emu_odata_error err;
  if (emu_odata_query_parse(&q, &p, att_props, &err) < 0) {
    json_object_put(o);
    emu_graph_error(c->r, err.status, err.code, "%s", err.message);
    return;
  }
  json_object *aj = emu_attachment_to_json(a, bytes && wants_bytes(c->r) &&
                                                  a->size <= JSON_BYTES_MAX);
  json_object *sel = emu_odata_select(&q, aj);
  emu_odata_query_clear(&q);
  /* "@odata.type" tells which attachment type the rest belongs to: Graph
   * keeps it under $select too. */
  json_object *t = NULL;
  if (json_object_object_get_ex(aj, "@odata.type", &t))
    json_object_object_add(o, "@odata.type", json_object_get(t));
  json_object_object_foreach(sel, k, v) {
    json_object_object_add(o, k, json_object_get(v));
  }
  json_object_put(sel);
  json_object_put(aj);
  emu_resp_json(c->r, status, o);
}

static void h_get(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_READ, &c))
    return;
  emu_message *m;
  emu_attachment *a = path_attachment(&c, &m);
  if (a)
    reply_attachment(&c, 200, m, a, true);
}

static void h_value(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_READ, &c))
    return;
  emu_message *m;
  emu_attachment *a = path_attachment(&c, &m);
  if (!a)
    return;
  int fd = open(a->path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    emu_graph_error(r, 500, "ErrorInternalServerError",
                    "The attachment's content is unavailable.");
    return;
  }
  /* Streamed from the file by the core: never whole in memory. */
  emu_resp_fd(r, 200, a->content_type, fd, 0, (uint64_t)a->size);
}

static void h_add(emu_req *r) {
  graph_ctx c;
  emu_message *m = graph_begin_message(r, GRAPH_WRITE, &c);
  if (!m)
    return;
  json_object *b = graph_body_object(&c);
  if (!b)
    return;
  json_object *wrap = json_object_new_object(), *arr = json_object_new_array();
  json_object_array_add(arr, json_object_get(b));
  json_object_object_add(wrap, "attachments", arr);
  size_t before = m->natts;
  int rc = graph_add_inline_attachments(&c, m, wrap);
  json_object_put(wrap);
  if (rc < 0 || m->natts == before)
    return;
  reply_attachment(&c, 201, m, m->atts[m->natts - 1], true);
}

static void h_delete(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_WRITE, &c))
    return;
  emu_message *m;
  emu_attachment *a = path_attachment(&c, &m);
  if (!a)
    return;
  emu_attachment_delete(graph_store(), m, a);
  emu_resp_empty(r, 204);
}

/* ---- upload sessions ------------------------------------------------------
 */

static void expiry_iso(const emu_upload *u, char *buf) {
  emu_fmt_iso8601(u->expires, buf);
}

static void h_create_session(emu_req *r) {
  graph_ctx c;
  emu_message *m = graph_begin_message(r, GRAPH_WRITE, &c);
  if (!m)
    return;
  json_object *b = graph_body_object(&c);
  if (!b)
    return;
  json_object *item = NULL;
  json_object_object_foreach(b, k, v) {
    if (!strcmp(k, "AttachmentItem"))
      item = v;
    else {
      emu_graph_error(r, 400, "RequestBodyRead",
                      "The parameter '%s' in the request payload is not a "
                      "valid parameter for the operation "
                      "'createUploadSession'.",
                      k);
      return;
    }
  }
  if (!item || !json_object_is_type(item, json_type_object)) {
    emu_graph_error(r, 400, "ErrorInvalidParameter",
                    "The value of the parameter 'AttachmentItem' is empty.");
    return;
  }
  const char *name = NULL, *ctype = NULL, *cid = NULL;
  int64_t size = -1;
  bool is_inline = false;
  json_object_object_foreach(item, k2, v2) {
    if (!strcmp(k2, "attachmentType")) {
      if (strcmp(json_object_get_string(v2), "file") != 0) {
        emu_graph_error(r, 400, "ErrorInvalidParameter",
                        "Only attachmentType 'file' is supported.");
        return;
      }
    } else if (!strcmp(k2, "name") && json_object_is_type(v2, json_type_string))
      name = json_object_get_string(v2);
    else if (!strcmp(k2, "size") && json_object_is_type(v2, json_type_int))
      size = json_object_get_int64(v2);
    else if (!strcmp(k2, "contentType") &&
             json_object_is_type(v2, json_type_string))
      ctype = json_object_get_string(v2);
    else if (!strcmp(k2, "contentId") &&
             json_object_is_type(v2, json_type_string))
      cid = json_object_get_string(v2);
    else if (!strcmp(k2, "isInline") &&
             json_object_is_type(v2, json_type_boolean))
      is_inline = json_object_get_boolean(v2);
    else {
      emu_graph_error(r, 400, "RequestBodyRead",
                      "The property '%s' does not exist on type "
                      "'microsoft.graph.attachmentItem' or has the wrong "
                      "type.",
                      k2);
      return;
    }
  }
  if (!name || !*name || size < 0) {
    emu_graph_error(r, 400, "ErrorInvalidParameter",
                    "AttachmentItem needs 'name' and 'size'.");
    return;
  }
  if (size > UPLOAD_MAX) {
    emu_graph_error(
        r, 400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
        "The attachment size %" PRId64 " exceeds the maximum of 150 MB.", size);
    return;
  }
  emu_upload *u =
      emu_upload_new(graph_store(), c.mb, m, name, ctype, size, is_inline, cid);
  json_object *o = json_object_new_object();
  json_object_object_add(
      o, "@odata.context",
      json_object_new_string("https://graph.microsoft.com/v1.0/"
                             "$metadata#microsoft.graph.uploadSession"));
  char *url = emu_strdup_printf(
      "%s/api/v2.0/Users('%s')/Messages('%s')/AttachmentSessions('%.16s')"
      "?authtoken=%s",
      emu_req_base_url(r), c.mb->user_id, m->id, u->token, u->token);
  json_object_object_add(o, "uploadUrl", json_object_new_string(url));
  free(url);
  char exp[32];
  expiry_iso(u, exp);
  json_object_object_add(o, "expirationDateTime", json_object_new_string(exp));
  json_object *ranges = json_object_new_array();
  json_object_array_add(ranges, json_object_new_string("0-"));
  json_object_object_add(o, "nextExpectedRanges", ranges);
  emu_resp_json(r, 201, o);
}

/* Finds the session named by ?authtoken= in constant time per candidate. */
static emu_upload *session_of(emu_req *r) {
  const char *tok = emu_req_query(r, "authtoken");
  emu_mailstore *s = graph_store();
  emu_upload *found = NULL;
  for (size_t i = 0; tok && i < s->nuploads; i++)
    if (emu_secret_eq(s->uploads[i]->token, tok))
      found = s->uploads[i];
  if (found && found->expires < emu_now_ms()) {
    emu_upload_remove(s, found);
    found = NULL;
  }
  return found;
}

typedef struct put_ctx {
  char token[64];
  int fd;
  int64_t start, end, written;
  bool failed;
} put_ctx;

static int put_data(emu_req *r, const char *buf, size_t len, void *ctx) {
  put_ctx *p = ctx;
  (void)r;
  if (p->written + (int64_t)len > p->end - p->start + 1) {
    p->failed = true;
    emu_lock();
    emu_graph_error(r, 400, "ErrorInvalidRequest",
                    "The request body is longer than the Content-Range.");
    emu_unlock();
    return 1;
  }
  while (len) {
    ssize_t w = pwrite(p->fd, buf, len, (off_t)(p->start + p->written));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      p->failed = true;
      emu_lock();
      emu_graph_error(r, 507, "ErrorQuotaExceeded",
                      "Could not store the uploaded bytes.");
      emu_unlock();
      return 1;
    }
    buf += w;
    len -= (size_t)w;
    p->written += w;
  }
  return 0;
}

static void put_end(emu_req *r, void *ctx) {
  put_ctx *p = ctx;
  emu_mailstore *s = graph_store();
  emu_upload *u = NULL;
  for (size_t i = 0; i < s->nuploads; i++)
    if (!strcmp(s->uploads[i]->token, p->token))
      u = s->uploads[i];
  if (!u) {
    emu_graph_error(r, 404, "ErrorItemNotFound",
                    "The upload session no longer exists.");
    return;
  }
  u->busy = false;
  if (p->written != p->end - p->start + 1) {
    emu_graph_error(r, 400, "ErrorInvalidRequest",
                    "The request body is shorter than the Content-Range.");
    return;
  }
  u->next = p->end + 1;
  if (u->next < u->size) {
    json_object *o = json_object_new_object();
    char exp[32];
    expiry_iso(u, exp);
    json_object_object_add(
        o, "@odata.context",
        json_object_new_string("https://graph.microsoft.com/v1.0/"
                               "$metadata#microsoft.graph.uploadSession"));
    json_object_object_add(o, "expirationDateTime",
                           json_object_new_string(exp));
    json_object *ranges = json_object_new_array();
    char nx[32];
    snprintf(nx, sizeof(nx), "%" PRId64 "-", u->next);
    json_object_array_add(ranges, json_object_new_string(nx));
    json_object_object_add(o, "nextExpectedRanges", ranges);
    emu_resp_json(r, 200, o);
    return;
  }
  emu_message *m = emu_message_find(u->mailbox, u->message_id);
  if (!m) {
    emu_upload_remove(s, u);
    emu_graph_error(r, 404, "ErrorItemNotFound",
                    "The message of this upload session no longer exists.");
    return;
  }
  emu_attachment *a =
      emu_attachment_add_file(s, m, u->name, u->content_type, u->path, u->size,
                              u->is_inline, u->content_id);
  if (!a) {
    emu_graph_error(r, 500, "ErrorInternalServerError",
                    "Could not store the attachment.");
    return;
  }
  free(u->path);
  u->path = NULL; /* moved into the attachment */
  char *loc =
      emu_strdup_printf("%s/v1.0/users('%s')/messages('%s')/attachments('%s')",
                        emu_req_base_url(r), u->mailbox->user_id, m->id, a->id);
  emu_resp_header(r, "Location", loc);
  free(loc);
  emu_upload_remove(s, u);
  emu_resp_empty(r, 201);
}

static void put_cleanup(void *ctx) {
  put_ctx *p = ctx;
  if (p->fd >= 0)
    close(p->fd);
  if (p->failed || p->written == 0) {
    /* a dropped or refused PUT: free the session for a retry */
    emu_lock();
    emu_upload *u = emu_upload_find(graph_store(), p->token);
    if (u)
      u->busy = false;
    emu_unlock();
  }
  free(p);
}

static void h_put(emu_req *r) {
  emu_upload *u = session_of(r);
  if (!u) {
    emu_graph_error(r, 404, "ErrorItemNotFound",
                    "The upload session was not found or has expired.");
    return;
  }
  const char *cr = emu_req_header(r, "Content-Range");
  const char *cl = emu_req_header(r, "Content-Length");
  long long a = -1, b = -1, total = -1;
  if (!cr || sscanf(cr, "bytes %lld-%lld/%lld", &a, &b, &total) != 3 || a < 0 ||
      b < a || total != u->size || b >= total) {
    emu_graph_error(r, 400, "ErrorInvalidContentRange",
                    "The Content-Range header is missing or does not match "
                    "the session (bytes start-end/%" PRId64 ").",
                    u->size);
    return;
  }
  if (!cl || atoll(cl) != b - a + 1) {
    emu_graph_error(r, 400, "ErrorInvalidRequest",
                    "Content-Length must equal the length of the "
                    "Content-Range.");
    return;
  }
  if (a != u->next) {
    emu_graph_error(r, 416, "ErrorInvalidRange",
                    "The range does not start at the next expected byte "
                    "(%" PRId64 ").",
                    u->next);
    return;
  }
  if (u->busy) {
    emu_graph_error(r, 409, "ErrorConcurrentUpload",
                    "Another upload to this session is in progress.");
    return;
  }
  put_ctx *p = calloc(1, sizeof(*p));
  snprintf(p->token, sizeof(p->token), "%s", u->token);
  p->start = a;
  p->end = b;
  p->fd = open(u->path, O_WRONLY | O_CLOEXEC);
  if (p->fd < 0) {
    free(p);
    emu_graph_error(r, 500, "ErrorInternalServerError",
                    "The upload session's storage is unavailable.");
    return;
  }
  u->busy = true;
  emu_body_sink sink = {put_data, put_end, put_cleanup, p};
  emu_req_sink_body(r, &sink);
}

static void h_cancel(emu_req *r) {
  emu_upload *u = session_of(r);
  if (!u) {
    emu_graph_error(r, 404, "ErrorItemNotFound",
                    "The upload session was not found or has expired.");
    return;
  }
  emu_upload_remove(graph_store(), u);
  emu_resp_empty(r, 204);
}

void graph_attach_init(void) {
  const char *bases[] = {"/messages/{id}/attachments",
                         "/mailFolders/{folder}/messages/{id}/attachments"};
  char p[256];
  for (size_t i = 0; i < 2; i++) {
    graph_route("GET", bases[i], h_list, 0);
    graph_route("POST", bases[i], h_add, 0);
    snprintf(p, sizeof(p), "%s/{aid}", bases[i]);
    graph_route("GET", p, h_get, 0);
    graph_route("DELETE", p, h_delete, 0);
    snprintf(p, sizeof(p), "%s/{aid}/$value", bases[i]);
    graph_route("GET", p, h_value, 0);
    snprintf(p, sizeof(p), "%s/createUploadSession", bases[i]);
    graph_route("POST", p, h_create_session, 0);
    snprintf(p, sizeof(p), "%s/microsoft.graph.createUploadSession", bases[i]);
    graph_route("POST", p, h_create_session, 0);
  }
  emu_route_add("PUT", "/api/v2.0/{u}/{m}/{s}", h_put, EMU_ROUTE_STREAM);
  emu_route_add("DELETE", "/api/v2.0/{u}/{m}/{s}", h_cancel, 0);
}
