/* subreq.c - sub-requests run through the router inside another request,
 * for Graph JSON batching ($batch). Added by emugraph next to the core
 * (uses core.h internals); see emu_subrequest() in emu.h. */
#define _POSIX_C_SOURCE 200809L /* pread, strdup, strndup */
#include "core.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define SUBREQ_BODY_MAX (4u * 1024u * 1024u)

/* The response body as bytes (malloc'd), whatever kind it is. */
static char *resp_bytes(emu_req *r, size_t *len) {
  emu_resp *p = &r->resp;
  *len = 0;
  if (p->kind == EMU_RESP_BUF) {
    char *b = malloc(p->len + 1);
    if (b) {
      memcpy(b, p->buf ? p->buf : "", p->len);
      b[p->len] = '\0';
      *len = p->len;
    }
    return b;
  }
  size_t cap = 65536, n = 0;
  char *b = malloc(cap + 1);
  if (!b)
    return NULL;
  for (;;) {
    if (n == cap) {
      if (cap >= SUBREQ_BODY_MAX)
        break;
      cap *= 2;
      char *g = realloc(b, cap + 1);
      if (!g)
        break;
      b = g;
    }
    ssize_t got = -1;
    if (p->kind == EMU_RESP_FD) {
      if (p->size >= 0 && (int64_t)n >= p->size)
        break;
      got = pread(p->fd, b + n, cap - n, (off_t)(p->offset + n));
    } else if (p->kind == EMU_RESP_STREAM) {
      got = p->read(p->ctx, n, b + n, cap - n);
    }
    if (got <= 0)
      break;
    n += (size_t)got;
  }
  b[n] = '\0';
  *len = n;
  return b;
}

json_object *emu_subrequest(emu_req *parent, const char *method,
                            const char *url, json_object *headers,
                            const char *body, size_t len) {
  emu_req *r = calloc(1, sizeof *r);
  if (r == NULL)
    return NULL;
  r->conn = parent->conn;
  r->resp.fd = -1;
  r->started = 1;
  r->handled = 1;
  r->started_ms = emu_now_ms();
  r->raw_uri = strdup(url);
  r->method = strdup(method);
  const char *q = strchr(url, '?');
  r->path = strndup(url, q ? (size_t)(q - url) : strlen(url));
  r->query = r->raw_uri && q ? r->raw_uri + (q - url) + 1 : "";
  emu_uuid(r->request_id);
  if (parent->client_request_id)
    r->client_request_id = strdup(parent->client_request_id);
  if (headers && json_object_is_type(headers, json_type_object)) {
    size_t n = (size_t)json_object_object_length(headers), i = 0;
    r->hdr_over.v = calloc(n ? n : 1, sizeof(emu_kv));
    json_object_object_foreach(headers, k, v) {
      if (!r->hdr_over.v || i == n)
        break;
      r->hdr_over.v[i].name = strdup(k);
      r->hdr_over.v[i].value = strdup(v ? json_object_get_string(v) : "");
      r->hdr_over.n = ++i;
    }
  }
  if (body && len) {
    r->body = malloc(len + 1);
    if (r->body) {
      memcpy(r->body, body, len);
      r->body[len] = '\0';
      r->body_len = r->body_cap = len;
    }
  }
  if (r->method && r->path && emu__router_match(r) == 0) {
    if (emu__route_flags(r->route) & EMU_ROUTE_STREAM)
      emu_graph_error(r, 400, "BadRequest",
                      "This operation is not supported in a batch request.");
    else
      emu__router_run(r);
  }
  if (r->resp.kind == EMU_RESP_NONE)
    emu_graph_error(r, 500, "InternalServerError",
                    "The request produced no response.");

  json_object *out = json_object_new_object();
  json_object_object_add(out, "status", json_object_new_int(r->resp.status));
  json_object *hs = json_object_new_object();
  for (size_t i = 0; i < r->resp.headers.n; i++)
    json_object_object_add(hs, r->resp.headers.v[i].name,
                           json_object_new_string(r->resp.headers.v[i].value));
  const char *ct = r->resp.ctype;
  if (ct)
    json_object_object_add(hs, "Content-Type", json_object_new_string(ct));
  json_object_object_add(out, "headers", hs);
  size_t blen = 0;
  char *b = resp_bytes(r, &blen);
  if (b && blen) {
    json_object *bj = NULL;
    if (ct && strncasecmp(ct, "application/json", 16) == 0)
      bj = json_tokener_parse(b);
    if (!bj && ct && strncasecmp(ct, "text/", 5) == 0)
      bj = json_object_new_string_len(b, (int)blen);
    if (!bj) {
      char *enc = emu_b64_encode(b, blen);
      bj = json_object_new_string(enc ? enc : "");
      free(enc);
    }
    json_object_object_add(out, "body", bj);
  }
  free(b);
  emu__req_free(r, 1); /* we run under the lock */
  return out;
}
