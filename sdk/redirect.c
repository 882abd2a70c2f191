/* redirect.c - see redirect.h. */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include "redirect.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "crypto.h"
#include "log.h"
#include "wfc/error.h"

#define REQ_MAX     8192 /* request line + headers */
#define CLIENTS_MAX 16

typedef struct client {
  uv_tcp_t tcp; /* first: the handle's pointer is the client's */
  struct wfc__redirect *owner;
  struct client *next;
  char buf[REQ_MAX];
  size_t len;
  int done;    /* request parsed: no more reading */
  int waiting; /* the redirect: answered by wfc__redirect_respond */
  int closing;
  uv_write_t wr;
  char *out; /* response being written (owned) */
} client;

struct wfc__redirect {
  uv_loop_t *loop;
  uv_tcp_t server;
  uv_timer_t timer;
  char path[128];
  char uri[192];
  int port;
  wfc__redirect_cb cb;
  void *arg;
  client *clients;
  int listening; /* server handle open */
  int fired;     /* cb was called (or must not be) */
  int closing;   /* wfc__redirect_close called */
  int handles;   /* uv handles not yet closed */
  char *state;   /* the state that ends the listener (owned, cleansed) */
  size_t state_len;
  unsigned ignored; /* GETs of the path without that state */
};

/* ---- lifetime ------------------------------------------------------------ */

static void maybe_free(wfc__redirect *r) {
  if (r->closing && r->handles == 0) {
    wfc__secret_free(r->state);
    free(r);
  }
}

static void on_handle_closed(uv_handle_t *h) {
  wfc__redirect *r = h->data;
  r->handles--;
  maybe_free(r);
}

static void on_client_closed(uv_handle_t *h) {
  client *c = (client *)h;
  wfc__redirect *r = c->owner;
  for (client **p = &r->clients; *p != NULL; p = &(*p)->next)
    if (*p == c) {
      *p = c->next;
      break;
    }
  free(c->out);
  free(c);
  r->handles--;
  maybe_free(r);
}

static void client_close(client *c) {
  if (c->closing)
    return;
  c->closing = 1;
  uv_close((uv_handle_t *)&c->tcp, on_client_closed);
}

static void stop_listening(wfc__redirect *r) {
  if (!r->listening)
    return;
  r->listening = 0;
  uv_close((uv_handle_t *)&r->server, on_handle_closed);
}

/* ---- responses ----------------------------------------------------------- */

static void on_written(uv_write_t *w, int status) {
  (void)status;
  client_close(w->data);
}

static void html_escape(const char *in, char *out, size_t outsz) {
  size_t o = 0;
  for (; in != NULL && *in && o + 7 < outsz; in++) {
    const char *rep = NULL;
    switch (*in) {
    case '<':
      rep = "&lt;";
      break;
    case '>':
      rep = "&gt;";
      break;
    case '&':
      rep = "&amp;";
      break;
    case '"':
      rep = "&quot;";
      break;
    case '\'':
      rep = "&#39;";
      break;
    default:
      break;
    }
    if (rep != NULL) {
      size_t n = strlen(rep);
      memcpy(out + o, rep, n);
      o += n;
    } else if ((unsigned char)*in >= 0x20 || *in == '\t') {
      out[o++] = *in;
    }
  }
  out[o] = '\0';
}

/* Sends a complete response and closes the connection after it. */
static void send_page(client *c, int status, const char *reason,
                      const char *title, const char *message,
                      const char *extra_header) {
  if (c->closing || c->out != NULL)
    return;
  char t[512], m[2048];
  html_escape(title, t, sizeof t);
  html_escape(message, m, sizeof m);
  char body[3072];
  int blen = snprintf(body, sizeof body,
                      "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                      "<title>%s</title></head>\n<body><h1>%s</h1>\n<p>%s</p>"
                      "</body></html>\n",
                      t, t, m);
  if (blen < 0 || (size_t)blen >= sizeof body)
    blen = (int)strlen(body);
  size_t cap = (size_t)blen + 512;
  c->out = malloc(cap);
  if (c->out == NULL) {
    client_close(c);
    return;
  }
  /* no-store: the page may follow a URL that carried an authorization
   * code; no-referrer: it must not leak to anything the page loads. */
  int n =
      snprintf(c->out, cap,
               "HTTP/1.1 %d %s\r\n"
               "Content-Type: text/html; charset=utf-8\r\n"
               "Content-Length: %d\r\n"
               "Cache-Control: no-store\r\n"
               "Referrer-Policy: no-referrer\r\n"
               "X-Content-Type-Options: nosniff\r\n"
               "%s"
               "Connection: close\r\n\r\n%s",
               status, reason, blen, extra_header ? extra_header : "", body);
  uv_buf_t b = uv_buf_init(c->out, (unsigned)n);
  c->wr.data = c;
  if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0)
    client_close(c);
}

void wfc__redirect_respond(wfc__redirect *r, int ok, const char *title,
                           const char *message) {
  if (r == NULL)
    return;
  for (client *c = r->clients; c != NULL; c = c->next)
    if (c->waiting) {
      c->waiting = 0;
      send_page(c, ok ? 200 : 400, ok ? "OK" : "Bad Request", title, message,
                NULL);
    }
}

/* ---- query decoding -------------------------------------------------------
 */

/* Decodes in[0..len) into out (len + 1 bytes). -1 on a bad escape or NUL. */
static int form_decode(const char *in, size_t len, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < len; i++) {
    char ch = in[i];
    if (ch == '+') {
      ch = ' ';
    } else if (ch == '%') {
      if (i + 2 >= len)
        return -1;
      int hi = wfc__hex_digit(in[i + 1]), lo = wfc__hex_digit(in[i + 2]);
      if (hi < 0 || lo < 0)
        return -1;
      ch = (char)(hi * 16 + lo);
      i += 2;
    }
    if (ch == '\0')
      return -1;
    out[o++] = ch;
  }
  out[o] = '\0';
  return 0;
}

int wfc__redirect_parse_query(const char *q, size_t len, json_object **out) {
  *out = NULL;
  json_object *obj = json_object_new_object();
  char *key = malloc(len + 1), *val = malloc(len + 1);
  int rc = 0;
  if (obj == NULL || key == NULL || val == NULL) {
    rc = WFC_ENOMEM;
    goto done;
  }
  size_t i = 0;
  while (i < len) {
    size_t end = i;
    while (end < len && q[end] != '&')
      end++;
    if (end > i) { /* empty pieces ("a=1&&b=2") are skipped */
      size_t eq = i;
      while (eq < end && q[eq] != '=')
        eq++;
      if (eq == i || form_decode(q + i, eq - i, key) != 0 ||
          form_decode(q + (eq < end ? eq + 1 : end),
                      eq < end ? end - eq - 1 : 0, val) != 0 ||
          json_object_object_get_ex(obj, key, NULL)) {
        rc = WFC_EINVAL;
        goto done;
      }
      json_object_object_add(obj, key, json_object_new_string(val));
    }
    i = end + 1;
  }
done:
  /* The query carries the authorization code: cleanse the copies. */
  if (key != NULL)
    wfc__cleanse(key, len + 1);
  if (val != NULL)
    wfc__cleanse(val, len + 1);
  free(key);
  free(val);
  if (rc != 0)
    json_object_put(obj);
  else
    *out = obj;
  return rc;
}

int wfc__redirect_url_param(const char *url, const char *key, char **out) {
  *out = NULL;
  const char *q = strchr(url, '?');
  if (q == NULL)
    return WFC_ENOTFOUND;
  q++;
  size_t len = strcspn(q, "#");
  char *k = malloc(len + 1), *v = malloc(len + 1);
  int rc = WFC_ENOTFOUND;
  if (k == NULL || v == NULL) {
    rc = WFC_ENOMEM;
    goto done;
  }
  for (size_t i = 0; i < len;) {
    size_t end = i;
    while (end < len && q[end] != '&')
      end++;
    size_t eq = i;
    while (eq < end && q[eq] != '=')
      eq++;
    if (end > i && form_decode(q + i, eq - i, k) == 0 && strcmp(k, key) == 0) {
      if (*out != NULL || form_decode(q + (eq < end ? eq + 1 : end),
                                      eq < end ? end - eq - 1 : 0, v) != 0) {
        rc = WFC_EINVAL;
        goto done;
      }
      if ((*out = strdup(v)) == NULL) {
        rc = WFC_ENOMEM;
        goto done;
      }
      rc = 0;
    }
    i = end + 1;
  }
done:
  if (rc != 0 && *out != NULL) {
    wfc__secret_free(*out);
    *out = NULL;
  }
  if (v != NULL)
    wfc__cleanse(v, len + 1);
  free(k);
  free(v);
  return rc;
}

/* ---- requests ------------------------------------------------------------ */

/* A GET of the path whose query is not this authorization's answer: for
 * whoever opened it (an old browser tab, another program), in plain words;
 * nothing of the request is echoed. */
static void ignore_request(client *c) {
  wfc__redirect *r = c->owner;
  /* One warning, not one per request: a flood must not flood the log;
   * the owner reports the count. */
  wfc__log(r->ignored++ == 0 ? WFC_LOG_WARN : WFC_LOG_DEBUG,
           "sign-in listener: ignored a request to %s that is not the answer "
           "to this authorization (no or another \"state\"); still waiting",
           r->path);
  send_page(c, 400, "Bad Request", "This is not the sign-in wfc is waiting for",
            "This page is not the answer to the sign-in wfc is waiting for, "
            "so wfc ignored it and keeps waiting. If you are signing in, "
            "finish the sign-in in the browser window wfc opened for it (or "
            "at the address wfc printed).",
            NULL);
}

/* 1 when query carries the expected state (constant-time comparison). */
static int state_matches(const wfc__redirect *r, json_object *query) {
  json_object *v;
  if (r->state == NULL || !json_object_object_get_ex(query, "state", &v))
    return 0;
  return wfc__ct_equal(json_object_get_string(v),
                       (size_t)json_object_get_string_len(v), r->state,
                       r->state_len);
}

static void handle_request(client *c) {
  wfc__redirect *r = c->owner;
  c->done = 1;
  uv_read_stop((uv_stream_t *)&c->tcp);
  /* Request line: METHOD SP TARGET SP HTTP/1.x CRLF */
  char *eol = strstr(c->buf, "\r\n");
  char *sp1 = memchr(c->buf, ' ', eol ? (size_t)(eol - c->buf) : 0);
  char *sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
  if (eol == NULL || sp1 == NULL || sp2 == NULL ||
      strncmp(sp2 + 1, "HTTP/1.", 7) != 0 || sp2 + 9 != eol) {
    send_page(c, 400, "Bad Request", "Bad request",
              "The request could not be read.", NULL);
    return;
  }
  *sp1 = '\0';
  *sp2 = '\0';
  const char *method = c->buf, *target = sp1 + 1;
  const char *qm = strchr(target, '?');
  size_t plen = qm ? (size_t)(qm - target) : strlen(target);
  if (plen != strlen(r->path) || memcmp(target, r->path, plen) != 0) {
    send_page(c, 404, "Not Found", "Not found",
              "This address only receives the authorization redirect.", NULL);
    return;
  }
  if (strcmp(method, "GET") != 0) {
    send_page(c, 405, "Method Not Allowed", "Method not allowed",
              "Only GET is accepted here.", "Allow: GET\r\n");
    return;
  }
  json_object *query = NULL;
  const char *qs = qm ? qm + 1 : "";
  if (wfc__redirect_parse_query(qs, strlen(qs), &query) != 0) {
    wfc__cleanse(c->buf, sizeof c->buf);
    send_page(c, 400, "Bad Request", "Bad request",
              "The redirect's parameters are malformed.", NULL);
    return;
  }
  wfc__cleanse(c->buf, sizeof c->buf);
  if (!state_matches(r, query)) {
    json_object_put(query);
    ignore_request(c);
    return;
  }
  if (r->fired) { /* a second redirect raced the first */
    json_object_put(query);
    send_page(c, 409, "Conflict", "Already handled",
              "This authorization was already completed.", NULL);
    return;
  }
  r->fired = 1;
  c->waiting = 1;
  stop_listening(r);
  uv_timer_stop(&r->timer);
  r->cb(r->arg, 0, query);
  json_object_put(query);
}

static void on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf) {
  client *c = (client *)h;
  (void)hint;
  size_t room = sizeof c->buf - 1 - c->len;
  *buf = uv_buf_init(c->buf + c->len, (unsigned)room);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf) {
  client *c = (client *)s;
  (void)buf;
  if (n < 0) {
    client_close(c);
    return;
  }
  if (n == 0 || c->done)
    return;
  c->len += (size_t)n;
  c->buf[c->len] = '\0';
  if (memchr(c->buf, '\0', c->len) != NULL) {
    c->done = 1;
    uv_read_stop(s);
    send_page(c, 400, "Bad Request", "Bad request", "NUL in request.", NULL);
    return;
  }
  if (strstr(c->buf, "\r\n\r\n") != NULL) {
    handle_request(c);
  } else if (c->len >= sizeof c->buf - 1) {
    c->done = 1;
    uv_read_stop(s);
    send_page(c, 431, "Request Header Fields Too Large", "Request too large",
              "The request is too large.", NULL);
  }
}

/* All slots taken: closes the oldest client still sending its request
 * (the list is newest first). Returns 0 when there was none: every slot
 * then holds a request being answered, which ends soon. */
static int evict_oldest_idle(wfc__redirect *r) {
  client *oldest = NULL;
  for (client *c = r->clients; c != NULL; c = c->next)
    if (!c->done && !c->closing)
      oldest = c;
  if (oldest == NULL)
    return 0;
  client_close(oldest);
  return 1;
}

static int live_clients(const wfc__redirect *r) {
  int n = 0;
  for (const client *c = r->clients; c != NULL; c = c->next)
    n += !c->closing;
  return n;
}

static void on_connection(uv_stream_t *server, int status) {
  wfc__redirect *r = server->data;
  if (status != 0 || !r->listening)
    return;
  int full = live_clients(r) >= CLIENTS_MAX && !evict_oldest_idle(r);
  client *c = calloc(1, sizeof *c);
  if (c == NULL)
    return;
  c->owner = r;
  if (uv_tcp_init(r->loop, &c->tcp) != 0) {
    free(c);
    return;
  }
  c->tcp.data = r;
  r->handles++;
  c->next = r->clients;
  r->clients = c;
  if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 || full ||
      uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0)
    client_close(c);
}

static void on_timeout(uv_timer_t *t) {
  wfc__redirect *r = t->data;
  if (r->fired)
    return;
  r->fired = 1;
  stop_listening(r);
  r->cb(r->arg, WFC_ETIMEDOUT, NULL);
}

/* ---- start / close ------------------------------------------------------- */

int wfc__redirect_start(uv_loop_t *loop, const char *path, uint64_t timeout_ms,
                        wfc__redirect_cb cb, void *arg, wfc__redirect **out) {
  if (loop == NULL || path == NULL || path[0] != '/' || cb == NULL ||
      out == NULL || strlen(path) >= sizeof((wfc__redirect *)0)->path ||
      strpbrk(path, "?# \r\n") != NULL)
    return WFC_EINVAL;
  wfc__redirect *r = calloc(1, sizeof *r);
  if (r == NULL)
    return WFC_ENOMEM;
  r->loop = loop;
  r->cb = cb;
  r->arg = arg;
  snprintf(r->path, sizeof r->path, "%s", path);
  uv_tcp_init(loop, &r->server);
  uv_timer_init(loop, &r->timer);
  r->server.data = r;
  r->timer.data = r;
  r->handles = 2;
  r->listening = 1;
  struct sockaddr_in sa;
  uv_ip4_addr("127.0.0.1", 0, &sa);
  int rc = uv_tcp_bind(&r->server, (const struct sockaddr *)&sa, 0);
  if (rc == 0)
    rc = uv_listen((uv_stream_t *)&r->server, 16, on_connection);
  struct sockaddr_storage name;
  int namelen = sizeof name;
  if (rc == 0)
    rc = uv_tcp_getsockname(&r->server, (struct sockaddr *)&name, &namelen);
  if (rc != 0) {
    wfc__log(WFC_LOG_ERROR, "redirect listener: cannot listen on 127.0.0.1: %s",
             uv_strerror(rc));
    r->fired = 1;
    wfc__redirect_close(r);
    return WFC_EIO;
  }
  r->port = ntohs(((struct sockaddr_in *)&name)->sin_port);
  snprintf(r->uri, sizeof r->uri, "http://127.0.0.1:%d%s", r->port, r->path);
  uv_timer_start(&r->timer, on_timeout,
                 timeout_ms ? timeout_ms : WFC__REDIRECT_DEFAULT_TIMEOUT_MS, 0);
  *out = r;
  return 0;
}

int wfc__redirect_expect(wfc__redirect *r, const char *state) {
  if (r == NULL || state == NULL || state[0] == '\0')
    return WFC_EINVAL;
  char *copy = strdup(state);
  if (copy == NULL)
    return WFC_ENOMEM;
  wfc__secret_free(r->state);
  r->state = copy;
  r->state_len = strlen(copy);
  return 0;
}

unsigned wfc__redirect_ignored(const wfc__redirect *r) {
  return r->ignored;
}

const char *wfc__redirect_uri(const wfc__redirect *r) {
  return r->uri;
}

int wfc__redirect_port(const wfc__redirect *r) {
  return r->port;
}

void wfc__redirect_close(wfc__redirect *r) {
  if (r == NULL || r->closing)
    return;
  r->closing = 1;
  r->fired = 1;
  stop_listening(r);
  uv_close((uv_handle_t *)&r->timer, on_handle_closed);
  for (client *c = r->clients; c != NULL; c = c->next) {
    if (c->waiting) {
      c->waiting = 0;
      send_page(c, 200, "OK", "Authorization received",
                "You can close this window.", NULL);
    } else if (c->out == NULL) {
      client_close(c);
    }
  }
}
