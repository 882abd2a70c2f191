/* tclient.c - blocking libcurl client for tests; see tclient.h.
 * */
#define _POSIX_C_SOURCE 200809L /* strndup, strdup */
#include "tclient.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

struct tclient {
  CURL *easy;
};

static pthread_once_t once = PTHREAD_ONCE_INIT;

static void global_init(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
}

tclient *tclient_new(int cookies) {
  pthread_once(&once, global_init);
  tclient *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->easy = curl_easy_init();
  if (c->easy == NULL) {
    free(c);
    return NULL;
  }
  if (cookies)
    curl_easy_setopt(c->easy, CURLOPT_COOKIEFILE, ""); /* in-memory jar */
  return c;
}

void tclient_free(tclient *c) {
  if (c == NULL)
    return;
  curl_easy_cleanup(c->easy);
  free(c);
}

typedef struct sink {
  tresp *out;
  size_t cap;
  const treq *q;
} sink;

static size_t on_body(char *ptr, size_t size, size_t n, void *ud) {
  sink *s = ud;
  size_t len = size * n;
  if (s->q->write)
    return s->q->write(ptr, len, s->q->write_ctx);
  tresp *o = s->out;
  if (o->len + len + 1 > s->cap) {
    size_t cap = s->cap ? s->cap : 4096;
    while (cap < o->len + len + 1)
      cap *= 2;
    char *grown = realloc(o->body, cap);
    if (grown == NULL)
      return 0;
    o->body = grown;
    s->cap = cap;
  }
  memcpy(o->body + o->len, ptr, len);
  o->len += len;
  o->body[o->len] = '\0';
  return len;
}

static void free_headers(tresp *o) {
  for (size_t i = 0; i < o->nheaders; i++)
    free(o->headers[i]);
  free(o->headers);
  o->headers = NULL;
  o->nheaders = 0;
}

static size_t on_header(char *ptr, size_t size, size_t n, void *ud) {
  sink *s = ud;
  tresp *o = s->out;
  size_t len = size * n;
  /* A status line starts a new response (100 Continue, ...): keep only the
   * final response's headers. */
  if (len >= 5 && strncmp(ptr, "HTTP/", 5) == 0) {
    free_headers(o);
    return len;
  }
  while (len > 0 && (ptr[len - 1] == '\r' || ptr[len - 1] == '\n'))
    len--;
  if (len == 0)
    return size * n;
  char **grown = realloc(o->headers, (o->nheaders + 1) * sizeof *grown);
  if (grown == NULL)
    return 0;
  o->headers = grown;
  o->headers[o->nheaders] = strndup(ptr, len);
  if (o->headers[o->nheaders] == NULL)
    return 0;
  o->nheaders++;
  return size * n;
}

static size_t on_read(char *buf, size_t size, size_t n, void *ud) {
  const treq *q = ud;
  return q->read(buf, size * n, q->read_ctx);
}

void tclient_set_ca(tclient *c, const char *ca_file) {
  curl_easy_setopt(c->easy, CURLOPT_CAINFO, ca_file);
}

json_object *tjson_get(json_object *o, const char *dotted) {
  const char *p = dotted;
  while (o != NULL && *p) {
    size_t n = strcspn(p, ".");
    char key[256];
    if (n >= sizeof key)
      return NULL;
    memcpy(key, p, n);
    key[n] = '\0';
    if (!json_object_is_type(o, json_type_object) ||
        !json_object_object_get_ex(o, key, &o))
      return NULL;
    p += n;
    if (*p == '.')
      p++;
  }
  return o;
}

const char *tjson_str(json_object *o, const char *dotted) {
  json_object *v = tjson_get(o, dotted);
  return v ? json_object_get_string(v) : NULL;
}

int tclient_do(tclient *c, const treq *q, tresp *out) {
  memset(out, 0, sizeof *out);
  sink s = {out, 0, q};
  CURL *e = c->easy;
  struct curl_slist *hl = NULL;
  const char *method = q->method ? q->method : "GET";
  curl_easy_setopt(e, CURLOPT_URL, q->url);
  curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                   q->timeout_ms ? q->timeout_ms : 30000L);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
  curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(e, CURLOPT_HEADERDATA, &s);
  /* Reset per-request state left by a previous request on this handle. */
  curl_easy_setopt(e, CURLOPT_NOBODY, 0L);
  curl_easy_setopt(e, CURLOPT_UPLOAD, 0L);
  curl_easy_setopt(e, CURLOPT_POST, 0L);
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
  if (q->read) {
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(e, CURLOPT_READDATA, (void *)q);
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE,
                     (curl_off_t)(q->upload_size >= 0 ? q->upload_size : -1));
    if (strcmp(method, "PUT") != 0)
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  } else if (q->body) {
    curl_easy_setopt(e, CURLOPT_POST, 1L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
    curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, q->body);
    if (strcmp(method, "POST") != 0)
      curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  } else if (strcmp(method, "HEAD") == 0) {
    curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
  } else if (strcmp(method, "GET") != 0) {
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
  }
  for (size_t i = 0; q->headers && q->headers[i]; i++)
    hl = curl_slist_append(hl, q->headers[i]);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, hl);
  CURLcode rc = curl_easy_perform(e);
  curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &out->status);
  curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &out->new_connections);
  curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
  curl_slist_free_all(hl);
  out->curl_code = (int)rc;
  if (out->body == NULL) {
    out->body = calloc(1, 1);
    out->len = 0;
  }
  return (int)rc;
}

int tclient_request(tclient *c, const char *method, const char *url,
                    const char *const *headers, const char *body, tresp *out) {
  treq q = {0};
  q.method = method;
  q.url = url;
  q.headers = headers;
  q.body = body;
  q.body_len = body ? strlen(body) : 0;
  return tclient_do(c, &q, out);
}

int tclient_json(tclient *c, const char *method, const char *url,
                 json_object *body, tresp *out) {
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  const char *s =
      body ? json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN)
           : NULL;
  return tclient_request(c, method, url, hdr, s, out);
}

const char *tresp_header(const tresp *r, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < r->nheaders; i++) {
    const char *h = r->headers[i];
    if (strncasecmp(h, name, n) == 0 && h[n] == ':') {
      h += n + 1;
      while (*h == ' ' || *h == '\t')
        h++;
      return h;
    }
  }
  return NULL;
}

json_object *tresp_json(const tresp *r) {
  if (r->body == NULL || r->len == 0)
    return NULL;
  json_tokener *tok = json_tokener_new();
  json_object *o = json_tokener_parse_ex(tok, r->body, (int)r->len);
  if (o && json_tokener_get_parse_end(tok) != r->len) {
    json_object_put(o);
    o = NULL;
  }
  json_tokener_free(tok);
  return o;
}

void tresp_free(tresp *r) {
  free(r->body);
  free_headers(r);
  memset(r, 0, sizeof *r);
}

char *tclient_escape(const char *s) {
  char *e = curl_easy_escape(NULL, s, 0);
  char *out = e ? strdup(e) : NULL;
  curl_free(e);
  return out;
}

char *tclient_form(const char *first_key, ...) {
  va_list ap;
  size_t cap = 256, len = 0;
  char *out = malloc(cap);
  if (out == NULL)
    return NULL;
  out[0] = '\0';
  va_start(ap, first_key);
  for (const char *k = first_key; k != NULL; k = va_arg(ap, const char *)) {
    const char *v = va_arg(ap, const char *);
    char *ek = tclient_escape(k);
    char *ev = tclient_escape(v ? v : "");
    size_t need = len + strlen(ek) + strlen(ev) + 3;
    if (need > cap) {
      while (cap < need)
        cap *= 2;
      out = realloc(out, cap);
    }
    len += (size_t)sprintf(out + len, "%s%s=%s", len ? "&" : "", ek, ev);
    free(ek);
    free(ev);
  }
  va_end(ap);
  return out;
}

char *tclient_html_attr(const char *html, const char *marker,
                        const char *attr) {
  const char *p = strstr(html, marker);
  char pat[64];
  snprintf(pat, sizeof pat, " %s=\"", attr);
  p = p ? strstr(p, pat) : NULL;
  if (p == NULL)
    return NULL;
  p += strlen(pat);
  const char *end = strchr(p, '"');
  char *out = end ? strndup(p, (size_t)(end - p)) : NULL, *w = out;
  for (const char *s = out; s != NULL && *s != '\0';) {
    int amp = strncmp(s, "&amp;", 5) == 0;
    *w++ = *s;
    s += amp ? 5 : 1;
  }
  if (out != NULL)
    *w = '\0';
  return out;
}

char *tclient_url_param(const char *url, const char *name) {
  const char *q = strchr(url, '?');
  size_t n = strlen(name);
  if (q == NULL)
    return NULL;
  for (const char *p = q + 1; *p;) {
    size_t seg = strcspn(p, "&#");
    if (seg > n && strncmp(p, name, n) == 0 && p[n] == '=') {
      char *raw = strndup(p + n + 1, seg - n - 1);
      for (char *x = raw; x && *x; x++)
        if (*x == '+')
          *x = ' ';
      int outlen = 0;
      char *dec = curl_easy_unescape(NULL, raw, 0, &outlen);
      char *res = dec ? strndup(dec, (size_t)outlen) : NULL;
      curl_free(dec);
      free(raw);
      return res;
    }
    p += seg;
    if (*p == '#')
      break;
    if (*p)
      p++;
  }
  return NULL;
}
