/* attach.c - see attach.h.
 *
 * Memory: an upload holds at most one inline JSON body (4/3 of a file of
 * at most 3 MB, plus the copy o365_graph_send makes) or nothing at all for
 * an upload session, whose PUTs read the blob through the host. A download
 * goes from the socket to the blob store (sink_blob). */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "attach.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "config.h"
#include "entry.h"
#include "graph.h"
#include "util.h"

#define B64_STEP       (48 * 1024) /* multiple of 3: no padding between steps */
#define PUT_TIMEOUT_MS 600000

/* ---- Shared ------------------------------------------------------------ */

/* "<what>: <Graph code>: <message>" into a new buffer's data. */
static void graph_message(o365_buf *b, const char *what,
                          const o365_graph_res *res) {
  o365_buf_put(b, what);
  o365_buf_put(b, ": ");
  if (res->gerr.code[0])
    o365_buf_printf(b, "%s: ", res->gerr.code);
  o365_buf_put(b, res->message ? res->message : "request failed");
}

/* ---- Upload ------------------------------------------------------------ */

typedef struct upfile {
  char *blob_id;
  char *name;
  char *ctype;
  uint64_t size;
} upfile;

typedef struct upjob {
  wfc_call *call; /* host-owned */
  char *mailbox;  /* owned copies */
  char *message_id;
  char graph_base[512];
  upfile *files;
  size_t nfiles;
  size_t i;                 /* file in progress */
  struct json_object *done; /* result array (owned) */
  o365_attach_cb cb;
  void *arg;
  wfc_blob *blob; /* current file, opened by us */
  char *upload_url;
  uint64_t off; /* next byte the session expects */
  uint64_t put_len;
  int put_attempts;
  wfc_http *http;
  wfc_timer *timer;
  int canceled;
  int status; /* for a delivery from the loop */
  char *error;
} upjob;

static void upjob_free(upjob *j) {
  for (size_t i = 0; i < j->nfiles; i++) {
    free(j->files[i].blob_id);
    free(j->files[i].name);
    free(j->files[i].ctype);
  }
  free(j->files);
  free(j->mailbox);
  free(j->message_id);
  json_object_put(j->done);
  if (j->blob != NULL)
    o365_api->blob_close(j->blob);
  free(j->upload_url);
  free(j->error);
  free(j);
}

static void up_finish(upjob *j, int status, const char *error,
                      struct json_object *detail) {
  if (j->call != NULL)
    o365_api->call_on_cancel(j->call, NULL, NULL);
  if (status != 0) {
    if (detail == NULL)
      detail = json_object_new_object();
    struct json_object *ids = json_object_new_array();
    for (size_t k = 0; k < json_object_array_length(j->done); k++)
      json_object_array_add(ids,
                            json_object_get(json_object_object_get(
                                json_object_array_get_idx(j->done, k), "id")));
    O365_JSON_ADD(detail, "attached", ids);
    if (j->i < j->nfiles)
      o365_json_add_str(detail, "file", j->files[j->i].name);
  }
  j->cb(j->arg, status, status == 0 ? j->done : NULL, error, detail);
  json_object_put(detail);
  upjob_free(j);
}

/* A failure after which the attachment may exist all the same (its
 * creation's answer was lost): said in words and in the detail
 * ("outcome": "unknown"), as o365_graph_fail does for one request, so
 * that nobody reads "failed" as "not attached". */
#define UNKNOWN_WORDS                                                          \
  " (the outcome is unknown: it may have been attached although the answer "   \
  "was lost; look at the message's attachments before running the card "       \
  "again)"

static void up_fail_graph(upjob *j, const char *what,
                          const o365_graph_res *res) {
  o365_buf b;
  o365_buf_init(&b);
  o365_buf_printf(&b, "attachment \"%s\": ", j->files[j->i].name);
  graph_message(&b, what, res);
  struct json_object *detail = o365_graph_detail(res);
  if (res->outcome_unknown) {
    o365_buf_put(&b, UNKNOWN_WORDS);
    o365_json_add_str(detail, "outcome", "unknown");
  }
  up_finish(j, res->error ? res->error : WFC_EREMOTE, b.data ? b.data : what,
            detail);
  o365_buf_free(&b);
}

static void up_fail(upjob *j, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void up_fail(upjob *j, int status, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  up_finish(j, status, msg, NULL);
}

static void up_next(upjob *j);

static void add_done(upjob *j, const char *id, const char *method) {
  upfile *f = &j->files[j->i];
  struct json_object *o = json_object_new_object();
  o365_json_add_str(o, "id", id ? id : "");
  o365_json_add_str(o, "name", f->name);
  o365_json_add_str(o, "content_type", f->ctype);
  O365_JSON_ADD(o, "size", json_object_new_int64((int64_t)f->size));
  o365_json_add_str(o, "method", method);
  json_object_array_add(j->done, o);
}

/* Prefix "/me/messages/{id}/attachments" of every upload request. */
static void attachments_path(o365_buf *b, const char *mailbox,
                             const char *message_id) {
  o365_graph_mailbox(b, mailbox);
  o365_buf_put(b, "/messages");
  o365_buf_seg(b, message_id);
  o365_buf_put(b, "/attachments");
}

static void on_inline(void *arg, const o365_graph_res *res) {
  upjob *j = arg;
  if (res->error != 0) {
    up_fail_graph(j, "adding it failed", res);
    return;
  }
  add_done(j, o365_json_str(res->json, "id"), "inline");
  o365_api->blob_close(j->blob);
  j->blob = NULL;
  j->i++;
  up_next(j);
}

/* Builds the fileAttachment JSON with contentBytes read from the blob in
 * B64_STEP steps. Transfer (free()), NULL with *rc set. */
static char *inline_body(upjob *j, size_t *len, int *rc) {
  upfile *f = &j->files[j->i];
  struct json_object *name = json_object_new_string(f->name);
  struct json_object *ctype = json_object_new_string(f->ctype);
  o365_buf head;
  o365_buf_init(&head);
  o365_buf_printf(
      &head,
      "{\"@odata.type\":\"#microsoft.graph.fileAttachment\",\"name\":%s,"
      "\"contentType\":%s,\"contentBytes\":\"",
      json_object_to_json_string_ext(name, JSON_C_TO_STRING_PLAIN),
      json_object_to_json_string_ext(ctype, JSON_C_TO_STRING_PLAIN));
  json_object_put(name);
  json_object_put(ctype);
  if (head.oom) {
    *rc = WFC_ENOMEM;
    o365_buf_free(&head);
    return NULL;
  }
  size_t b64 = 4 * (((size_t)f->size + 2) / 3);
  size_t total = head.len + b64 + 2;
  char *body = malloc(total + 1);
  unsigned char *raw = malloc(B64_STEP);
  if (body == NULL || raw == NULL) {
    free(body);
    free(raw);
    o365_buf_free(&head);
    *rc = WFC_ENOMEM;
    return NULL;
  }
  memcpy(body, head.data, head.len);
  size_t pos = head.len;
  o365_buf_free(&head);
  uint64_t off = 0;
  while (off < f->size) {
    size_t want = f->size - off < B64_STEP ? (size_t)(f->size - off) : B64_STEP;
    ssize_t got = o365_api->blob_read(j->blob, off, raw, want);
    if (got != (ssize_t)want) {
      free(body);
      free(raw);
      *rc = got < 0 ? (int)got : WFC_EIO;
      return NULL;
    }
    pos += (size_t)EVP_EncodeBlock((unsigned char *)body + pos, raw, (int)want);
    off += want;
  }
  free(raw);
  memcpy(body + pos, "\"}", 3);
  *len = pos + 2;
  return body;
}

static void start_inline(upjob *j) {
  int rc = 0;
  size_t len = 0;
  char *body = inline_body(j, &len, &rc);
  if (body == NULL) {
    up_fail(j, rc, "attachment \"%s\": reading the file failed",
            j->files[j->i].name);
    return;
  }
  o365_buf path;
  o365_buf_init(&path);
  attachments_path(&path, j->mailbox, j->message_id);
  rc = WFC_ENOMEM;
  if (!path.oom) {
    o365_graph_opts o = {.method = "POST",
                         .path = path.data,
                         .raw_body = body,
                         .raw_len = len,
                         .content_type = "application/json"};
    rc = o365_graph_send(j->call, &o, on_inline, j, NULL);
  }
  free(body); /* o365_graph_send copied it */
  o365_buf_free(&path);
  if (rc != 0)
    up_fail(j, rc, "attachment \"%s\": could not start the request",
            j->files[j->i].name);
}

/* ---- upload session ---- */

static void put_chunk(upjob *j);

static void up_on_cancel(void *arg) {
  upjob *j = arg;
  j->canceled = 1;
  if (j->http != NULL) {
    o365_api->http_cancel(j->http); /* put_cb delivers */
  } else if (j->timer != NULL) {
    o365_api->timer_stop(j->timer);
    j->timer = NULL;
    up_finish(j, WFC_ECANCELED, "canceled", NULL);
  }
}

static void put_retry_cb(void *arg) {
  upjob *j = arg;
  j->timer = NULL;
  put_chunk(j);
}

/* First number of nextExpectedRanges ("4194304-"), or -1. */
static int64_t next_expected(struct json_object *body) {
  struct json_object *r = NULL;
  if (body == NULL ||
      (!json_object_object_get_ex(body, "nextExpectedRanges", &r) &&
       !json_object_object_get_ex(body, "NextExpectedRanges", &r)) ||
      !json_object_is_type(r, json_type_array) ||
      json_object_array_length(r) == 0)
    return -1;
  const char *s = json_object_get_string(json_object_array_get_idx(r, 0));
  if (s == NULL || *s < '0' || *s > '9')
    return -1;
  return strtoll(s, NULL, 10);
}

/* The attachment id from the final PUT's Location header
 * (".../attachments('ID')"), or NULL. Writes into out. */
static const char *location_id(const char *loc, char *out, size_t outsz) {
  const char *p = loc ? strstr(loc, "ttachments('") : NULL;
  if (p == NULL)
    return NULL;
  p += strlen("ttachments('");
  size_t n = strcspn(p, "'");
  if (n == 0 || n >= outsz)
    return NULL;
  memcpy(out, p, n);
  out[n] = '\0';
  return out;
}

static void put_cb(void *arg, const wfc_http_res *res) {
  upjob *j = arg;
  j->http = NULL;
  upfile *f = &j->files[j->i];
  if (j->canceled || res->error == WFC_ECANCELED) {
    up_finish(j, WFC_ECANCELED, "canceled", NULL);
    return;
  }
  struct json_object *body = res->error == 0 && res->body_len > 0
                                 ? o365_json_parse(res->body, res->body_len)
                                 : NULL;
  if (res->error == 0 && res->status == 201) {
    char idbuf[512];
    const char *id = location_id(o365_api->http_header(res, "Location"), idbuf,
                                 sizeof idbuf);
    json_object_put(body);
    /* The last chunk went: the file is whole (progress ends at total). */
    o365_api->call_progress(j->call, f->size, f->size);
    add_done(j, id, "upload_session");
    o365_api->blob_close(j->blob);
    j->blob = NULL;
    free(j->upload_url);
    j->upload_url = NULL;
    j->i++;
    o365_api->call_on_cancel(j->call, NULL, NULL);
    up_next(j);
    return;
  }
  if (res->error == 0 && res->status == 200) {
    int64_t next = next_expected(body);
    json_object_put(body);
    if (next < 0 || (uint64_t)next <= j->off || (uint64_t)next > f->size) {
      up_fail(j, WFC_EPROTO,
              "attachment \"%s\": the upload session answered without a "
              "usable nextExpectedRanges",
              f->name);
      return;
    }
    j->off = (uint64_t)next;
    j->put_attempts = 0;
    o365_api->call_progress(j->call, j->off, f->size);
    put_chunk(j);
    return;
  }
  /* Failure. The session remembers what it has: a 416 says where to go on
   * (nextExpectedRanges, or the offset in the emulator's message). */
  if (res->error == 0 && res->status == 416) {
    int64_t next = next_expected(body);
    struct json_object *err = NULL;
    const char *msg = NULL;
    if (next < 0 && body != NULL &&
        json_object_object_get_ex(body, "error", &err))
      msg = o365_json_str(err, "message");
    const char *paren = msg ? strrchr(msg, '(') : NULL;
    if (next < 0 && paren != NULL && paren[1] >= '0' && paren[1] <= '9')
      next = strtoll(paren + 1, NULL, 10);
    if (next >= 0 && (uint64_t)next <= f->size &&
        j->put_attempts < O365_ATTACH_PUT_ATTEMPTS) {
      json_object_put(body);
      j->put_attempts++;
      j->off = (uint64_t)next;
      put_chunk(j);
      return;
    }
  }
  int transient = res->error != 0 || res->status == 429 || res->status >= 500;
  if (transient && j->put_attempts + 1 < O365_ATTACH_PUT_ATTEMPTS) {
    j->put_attempts++;
    int64_t delay =
        res->error == 0
            ? o365_retry_after_ms(o365_api->http_header(res, "Retry-After"),
                                  o365_api->now_ms())
            : -1;
    if (delay < 0)
      delay = 500LL << (j->put_attempts - 1);
    if (delay > O365_GRAPH_MAX_WAIT_MS)
      delay = O365_GRAPH_MAX_WAIT_MS;
    json_object_put(body);
    o365_api->log(2,
                  "o365mail: upload of \"%s\" at byte %" PRIu64
                  " failed (%ld%s%s); retrying in %lld ms",
                  f->name, j->off, res->status, res->error ? ", " : "",
                  res->error ? res->error_message : "", (long long)delay);
    if (o365_api->timer_start((uint64_t)delay, put_retry_cb, j, &j->timer) == 0)
      return;
    up_fail(j, WFC_ENOMEM, "attachment \"%s\": cannot schedule a retry",
            f->name);
    return;
  }
  /* The last range completes the attachment: when its answer is lost
   * (the connection broke, possibly on an attempt the transport repeated
   * on its own), the attachment may exist, and the session, done, is gone
   * (404) for a later attempt. */
  int last = j->off + j->put_len >= f->size;
  if (res->error != 0) {
    json_object_put(body);
    if (last) {
      struct json_object *d = json_object_new_object();
      o365_json_add_str(d, "outcome", "unknown");
      char msg[1024];
      snprintf(msg, sizeof msg,
               "attachment \"%s\": uploading bytes %" PRIu64
               "- failed: %s" UNKNOWN_WORDS,
               f->name, j->off,
               res->error_message ? res->error_message : "network error");
      up_finish(j, res->error, msg, d);
      return;
    }
    up_fail(j, res->error,
            "attachment \"%s\": uploading bytes %" PRIu64 "- failed: %s",
            f->name, j->off,
            res->error_message ? res->error_message : "network error");
    return;
  }
  o365_graph_res gr;
  memset(&gr, 0, sizeof gr);
  gr.status = res->status;
  gr.error = o365_graph_status_error(res->status);
  o365_graph_err_parse(body, o365_api->http_header(res, "request-id"),
                       o365_api->http_header(res, "client-request-id"),
                       &gr.gerr);
  gr.message = gr.gerr.message[0] ? gr.gerr.message : "the upload failed";
  gr.retry_after_ms = -1;
  gr.outcome_unknown = last && res->status == 404;
  up_fail_graph(j, "uploading to the upload session failed", &gr);
  json_object_put(body);
}

static void put_chunk(upjob *j) {
  upfile *f = &j->files[j->i];
  uint64_t len = f->size - j->off;
  if (len > (uint64_t)O365_ATTACH_CHUNK)
    len = (uint64_t)O365_ATTACH_CHUNK;
  j->put_len = len;
  char range[128];
  snprintf(range, sizeof range,
           "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, j->off,
           j->off + len - 1, f->size);
  /* No Authorization: the uploadUrl carries its own token, and a bearer
   * token must not travel to the upload host. */
  const char *headers[] = {"Content-Type: application/octet-stream", range,
                           NULL};
  wfc_http_req hr;
  memset(&hr, 0, sizeof hr);
  hr.size = sizeof hr;
  hr.method = "PUT";
  hr.url = j->upload_url;
  hr.headers = headers;
  hr.body_blob = j->blob;
  hr.body_offset = j->off;
  hr.body_length = len;
  hr.timeout_ms = PUT_TIMEOUT_MS;
  o365_api->call_on_cancel(j->call, up_on_cancel, j);
  int rc = o365_api->http_send(&hr, put_cb, j, &j->http);
  if (rc != 0)
    up_fail(j, rc, "attachment \"%s\": could not start the upload", f->name);
}

/* The upload URL must not take bytes anywhere unexpected: https, or the
 * Graph base's own origin (the emulator, plain http on loopback). */
static int upload_url_ok(const upjob *j, const char *url) {
  if (strncmp(url, "https://", 8) == 0)
    return 1;
  return j->graph_base[0] != '\0' && o365_url_same_origin(url, j->graph_base);
}

static void on_session(void *arg, const o365_graph_res *res) {
  upjob *j = arg;
  upfile *f = &j->files[j->i];
  if (res->error != 0) {
    /* A session whose creation's answer was lost holds no attachment
     * (only its last range would make one) and expires by itself: nothing
     * to report as possibly done. */
    o365_graph_res known = *res;
    known.outcome_unknown = 0;
    up_fail_graph(j, "creating the upload session failed", &known);
    return;
  }
  const char *url = o365_json_str(res->json, "uploadUrl");
  if (url == NULL || !upload_url_ok(j, url) || strpbrk(url, "\r\n ")) {
    up_fail(j, WFC_EPROTO,
            "attachment \"%s\": the upload session's uploadUrl is missing "
            "or not an https URL; nothing was sent to it",
            f->name);
    return;
  }
  j->upload_url = strdup(url);
  if (j->upload_url == NULL) {
    up_fail(j, WFC_ENOMEM, "out of memory");
    return;
  }
  int64_t next = next_expected(res->json);
  j->off = next > 0 && (uint64_t)next < f->size ? (uint64_t)next : 0;
  j->put_attempts = 0;
  put_chunk(j);
}

static void start_session(upjob *j) {
  upfile *f = &j->files[j->i];
  struct json_object *item = json_object_new_object();
  o365_json_add_str(item, "attachmentType", "file");
  o365_json_add_str(item, "name", f->name);
  O365_JSON_ADD(item, "size", json_object_new_int64((int64_t)f->size));
  o365_json_add_str(item, "contentType", f->ctype);
  struct json_object *body = json_object_new_object();
  O365_JSON_ADD(body, "AttachmentItem", item);
  o365_buf path;
  o365_buf_init(&path);
  attachments_path(&path, j->mailbox, j->message_id);
  o365_buf_put(&path, "/createUploadSession");
  int rc = WFC_ENOMEM;
  if (!path.oom) {
    /* A second session after a lost answer costs nothing: unused sessions
     * expire, and nothing is attached until all bytes arrive. */
    o365_graph_opts o = {.method = "POST",
                         .path = path.data,
                         .body = body,
                         .flags = O365_GRAPH_IDEMPOTENT};
    rc = o365_graph_send(j->call, &o, on_session, j, NULL);
  }
  json_object_put(body);
  o365_buf_free(&path);
  if (rc != 0)
    up_fail(j, rc, "attachment \"%s\": could not start the request", f->name);
}

/* Starts file i, or completes after the last one. */
static void up_next(upjob *j) {
  if (j->i == j->nfiles) {
    up_finish(j, 0, NULL, NULL);
    return;
  }
  upfile *f = &j->files[j->i];
  int rc = o365_api->blob_open(f->blob_id, &j->blob);
  if (rc != 0) {
    j->blob = NULL;
    up_fail(j, rc, "attachment \"%s\": the file %s cannot be opened", f->name,
            f->blob_id);
    return;
  }
  /* Worst case of the JSON around the base64 (every name byte escaped as
   * \uXXXX): a long name sends a small file through a session instead of
   * over Graph's 4 MiB request limit. */
  uint64_t body_max = 4 * ((f->size + 2) / 3) + 6 * strlen(f->name) +
                      6 * strlen(f->ctype) + 200;
  if (f->size <= (uint64_t)O365_ATTACH_INLINE_MAX && body_max <= 4194304)
    start_inline(j);
  else
    start_session(j);
}

static void up_deliver_later(void *arg) {
  upjob *j = arg;
  if (j->status != 0)
    up_finish(j, j->status, j->error ? j->error : "attachment failed", NULL);
  else
    up_next(j);
}

static char *dup_str(const char *s, const char *fallback) {
  return strdup(s != NULL && *s ? s : fallback);
}

/* Reads every file's name, type and size; the first problem (naming the
 * file) goes to j->status / j->error. 0, or WFC_ENOMEM. */
static int up_prepare(upjob *j, struct json_object *files) {
  size_t n = json_object_array_length(files);
  j->files = calloc(n ? n : 1, sizeof *j->files);
  if (j->files == NULL)
    return WFC_ENOMEM;
  for (size_t k = 0; k < n && j->status == 0; k++) {
    struct json_object *ref = json_object_array_get_idx(files, k);
    const char *id = o365_json_str(ref, "id");
    char label[64];
    snprintf(label, sizeof label, "files[%zu]", k);
    if (id == NULL || *id == '\0') {
      char msg[128];
      snprintf(msg, sizeof msg, "%s: a file reference needs an \"id\"", label);
      j->status = WFC_EVALIDATION;
      j->error = strdup(msg);
      break;
    }
    wfc_blob *b = NULL;
    int rc = o365_api->blob_open(id, &b);
    struct json_object *info = rc == 0 ? o365_api->blob_ref(b) : NULL;
    if (b != NULL)
      o365_api->blob_close(b);
    const char *name = o365_json_str(ref, "name");
    if (name == NULL || *name == '\0')
      name = o365_json_str(info, "name");
    upfile *f = &j->files[j->nfiles++];
    f->blob_id = strdup(id);
    f->name = dup_str(name, "attachment");
    const char *ct = o365_json_str(ref, "content_type");
    f->ctype = dup_str(ct && *ct ? ct : o365_json_str(info, "content_type"),
                       "application/octet-stream");
    int64_t size = -1;
    if (info != NULL)
      o365_json_int64(info, "size", &size);
    json_object_put(info);
    if (f->blob_id == NULL || f->name == NULL || f->ctype == NULL)
      return WFC_ENOMEM;
    char msg[1024];
    if (rc != 0 || size < 0) {
      snprintf(msg, sizeof msg, "%s: file \"%s\" (%s) is not in the blob store",
               label, f->name, id);
      j->status = rc != 0 ? rc : WFC_ENOTFOUND;
    } else if (size > O365_ATTACH_MAX_BYTES) {
      snprintf(msg, sizeof msg,
               "%s: file \"%s\" is %" PRId64
               " bytes; Outlook takes attachments up to 150 MB (%lld bytes)",
               label, f->name, size, (long long)O365_ATTACH_MAX_BYTES);
      j->status = WFC_ETOOBIG;
    } else {
      f->size = (uint64_t)size;
      continue;
    }
    j->error = strdup(msg);
  }
  return 0;
}

int o365_attach_files(wfc_call *call, const char *mailbox,
                      const char *message_id, struct json_object *files,
                      o365_attach_cb cb, void *arg) {
  if (call == NULL || message_id == NULL || cb == NULL || files == NULL ||
      !json_object_is_type(files, json_type_array))
    return WFC_EINVAL;
  upjob *j = calloc(1, sizeof *j);
  if (j == NULL)
    return WFC_ENOMEM;
  j->call = call;
  j->cb = cb;
  j->arg = arg;
  j->done = json_object_new_array();
  j->message_id = strdup(message_id);
  j->mailbox = mailbox && *mailbox ? strdup(mailbox) : NULL;
  int rc = WFC_ENOMEM;
  if (j->done != NULL && j->message_id != NULL &&
      (!(mailbox && *mailbox) || j->mailbox != NULL))
    rc = up_prepare(j, files);
  if (rc == 0) {
    wfc_conn *conn = o365_api->call_conn(call);
    char err[256];
    if (conn != NULL &&
        o365_config_graph(o365_api->conn_params(conn), j->graph_base,
                          sizeof j->graph_base, err, sizeof err) != 0)
      j->graph_base[0] = '\0';
    /* Everything, the first request included, starts from the loop: cb
     * never runs inside this call. */
    rc = o365_api->timer_start(0, up_deliver_later, j, NULL);
  }
  if (rc != 0) {
    upjob_free(j);
    return rc;
  }
  return 0;
}

/* ---- Download ---------------------------------------------------------- */

typedef struct dljob {
  wfc_call *call;
  char *mailbox;
  char *message_id;
  char *attachment_id;
  o365_download_cb cb;
  void *arg;
  struct json_object *meta; /* owned */
  wfc_blob *sink;           /* created by us; closed (deleted) on failure */
} dljob;

static void dl_finish(dljob *j, int status, struct json_object *file,
                      const char *error, struct json_object *detail) {
  j->cb(j->arg, status, file, status == 0 ? j->meta : NULL, error, detail);
  json_object_put(file);
  json_object_put(detail);
  if (j->sink != NULL)
    o365_api->blob_close(j->sink);
  json_object_put(j->meta);
  free(j->mailbox);
  free(j->message_id);
  free(j->attachment_id);
  free(j);
}

static void dl_fail_graph(dljob *j, const char *what,
                          const o365_graph_res *res) {
  o365_buf b;
  o365_buf_init(&b);
  o365_buf_printf(&b, "attachment %s of message %s: ", j->attachment_id,
                  j->message_id);
  graph_message(&b, what, res);
  dl_finish(j, res->error ? res->error : WFC_EREMOTE, NULL,
            b.data ? b.data : what, o365_graph_detail(res));
  o365_buf_free(&b);
}

static void attachment_path(o365_buf *b, const dljob *j) {
  attachments_path(b, j->mailbox, j->message_id);
  o365_buf_seg(b, j->attachment_id);
}

static void on_value(void *arg, const o365_graph_res *res) {
  dljob *j = arg;
  if (res->error != 0) {
    dl_fail_graph(j, "downloading its content failed", res);
    return;
  }
  int rc = o365_api->blob_commit(j->sink);
  if (rc != 0) {
    dl_finish(j, rc, NULL, "the downloaded file could not be stored", NULL);
    return;
  }
  struct json_object *ref = o365_api->blob_ref(j->sink);
  if (ref == NULL) {
    dl_finish(j, WFC_ENOMEM, NULL, "out of memory", NULL);
    return;
  }
  dl_finish(j, 0, ref, NULL, NULL);
}

static void on_meta(void *arg, const o365_graph_res *res) {
  dljob *j = arg;
  if (res->error != 0) {
    dl_fail_graph(j, "reading it failed", res);
    return;
  }
  const char *type = o365_json_str(res->json, "@odata.type");
  const char *name = o365_json_str(res->json, "name");
  const char *ctype = o365_json_str(res->json, "contentType");
  int64_t size = 0;
  o365_json_int64(res->json, "size", &size);
  const char *kind = "file";
  if (type != NULL && strstr(type, "referenceAttachment") != NULL) {
    struct json_object *d = json_object_new_object();
    o365_json_add_str(d, "type", type);
    o365_json_add_str(d, "name", name);
    o365_json_add_str(d, "source_url", o365_json_str(res->json, "sourceUrl"));
    char msg[512];
    snprintf(msg, sizeof msg,
             "attachment \"%s\" is a link to a file stored elsewhere "
             "(referenceAttachment), not a file in the message: download it "
             "from its source",
             name ? name : j->attachment_id);
    dl_finish(j, WFC_ENOTSUP, NULL, msg, d);
    return;
  }
  if (type != NULL && strstr(type, "itemAttachment") != NULL) {
    kind = "item"; /* $value is the attached item's MIME */
    ctype = "message/rfc822";
  }
  if (size > O365_ATTACH_DOWNLOAD_MAX) {
    char msg[512];
    snprintf(msg, sizeof msg,
             "attachment \"%s\" is %" PRId64
             " bytes; downloads are limited to 2 GB",
             name ? name : j->attachment_id, size);
    dl_finish(j, WFC_ETOOBIG, NULL, msg, NULL);
    return;
  }
  char fname[512];
  snprintf(fname, sizeof fname, "%s%s", name && *name ? name : "attachment",
           strcmp(kind, "item") == 0 ? ".eml" : "");
  j->meta = json_object_new_object();
  o365_json_add_str(j->meta, "id", o365_json_str(res->json, "id"));
  o365_json_add_str(j->meta, "name", fname);
  o365_json_add_str(j->meta, "content_type",
                    ctype ? ctype : "application/octet-stream");
  O365_JSON_ADD(j->meta, "size", json_object_new_int64(size));
  struct json_object *inl = NULL;
  json_object_object_get_ex(res->json, "isInline", &inl);
  O365_JSON_ADD(j->meta, "is_inline",
                json_object_new_boolean(json_object_get_boolean(inl)));
  o365_json_add_str(j->meta, "kind", kind);

  int rc = o365_api->blob_create(
      fname, ctype ? ctype : "application/octet-stream", &j->sink);
  if (rc != 0) {
    j->sink = NULL;
    dl_finish(j, rc, NULL, "cannot create a file in the blob store", NULL);
    return;
  }
  o365_buf path;
  o365_buf_init(&path);
  attachment_path(&path, j);
  o365_buf_put(&path, "/$value");
  rc = WFC_ENOMEM;
  if (!path.oom) {
    o365_graph_opts o = {.path = path.data,
                         .sink_blob = j->sink,
                         .timeout_ms = 3600000,
                         .flags = O365_GRAPH_RAW,
                         .accept = "*/*"};
    rc = o365_graph_send(j->call, &o, on_value, j, NULL);
  }
  o365_buf_free(&path);
  if (rc != 0)
    dl_finish(j, rc, NULL, "could not start the download", NULL);
}

static void dl_start(void *arg) {
  dljob *j = arg;
  o365_buf path;
  o365_buf_init(&path);
  attachment_path(&path, j);
  /* Metadata only: contentBytes would put the whole file in memory. */
  o365_buf_query(&path, "$select", "id,name,contentType,size,isInline");
  int rc = WFC_ENOMEM;
  if (!path.oom) {
    o365_graph_opts o = {.path = path.data};
    rc = o365_graph_send(j->call, &o, on_meta, j, NULL);
  }
  o365_buf_free(&path);
  if (rc != 0)
    dl_finish(j, rc, NULL, "could not start the request", NULL);
}

int o365_attach_download(wfc_call *call, const char *mailbox,
                         const char *message_id, const char *attachment_id,
                         o365_download_cb cb, void *arg) {
  if (call == NULL || message_id == NULL || attachment_id == NULL || cb == NULL)
    return WFC_EINVAL;
  dljob *j = calloc(1, sizeof *j);
  if (j == NULL)
    return WFC_ENOMEM;
  j->call = call;
  j->cb = cb;
  j->arg = arg;
  j->message_id = strdup(message_id);
  j->attachment_id = strdup(attachment_id);
  j->mailbox = mailbox && *mailbox ? strdup(mailbox) : NULL;
  if (j->message_id == NULL || j->attachment_id == NULL ||
      (mailbox && *mailbox && j->mailbox == NULL)) {
    free(j->message_id);
    free(j->attachment_id);
    free(j->mailbox);
    free(j);
    return WFC_ENOMEM;
  }
  /* Started from the loop so that errors reach cb, never inside here. */
  int rc = o365_api->timer_start(0, dl_start, j, NULL);
  if (rc != 0) {
    free(j->message_id);
    free(j->attachment_id);
    free(j->mailbox);
    free(j);
  }
  return rc;
}
