/* http.c - the asynchronous HTTP engine (see http.h).
 *
 * Wiring (curl docs/examples/multi-uv.c, with research/c-anchors.md 2.2):
 * - one CURLM per engine; CURLMOPT_SOCKETFUNCTION starts a uv_poll_t per
 *   fd, CURLMOPT_TIMERFUNCTION drives one uv_timer_t;
 * - the engine owns sockets (CURLOPT_OPENSOCKETFUNCTION /
 *   CLOSESOCKETFUNCTION): a socket's poll is stopped before close(2), and the
 *   per-socket contexts live in a map fd -> context owned by the engine, not
 *   in curl's socketp (which can outlive the socket);
 * - a request moves through lists: pending (sent, not yet in the multi),
 *   active (in the multi), done (detached, callback not yet run). Nothing
 *   touches libcurl from inside a libcurl callback: sends, cancellations,
 *   deadlines and completions only move requests between lists, and
 *   engine_pump() applies them from a libuv callback, after socket_action
 *   has returned;
 * - a curl timeout of 0 sets a flag served by a uv_idle_t on the next loop
 *   iteration; -1 stops the timer;
 * - deadlines (queue time included) use one uv_timer_t per engine, armed
 *   at the earliest deadline and rescanning the live requests when it fires.
 */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, strdup */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/ssl.h>

#include "crypto.h"
#include "log.h"
#include "secmem.h"
#include "wfc/version.h"

#define HTTP_MAGIC       0x77666368u /* "wfch" */
#define DEF_MAX_HOST     8
#define DEF_CONNECT_MS   10000
#define DEF_TIMEOUT_MS   60000
#define DEF_MAX_BODY     ((size_t)16 << 20)
#define MAX_HEADER_BYTES ((size_t)64 << 10)
#define MAX_METHOD_LEN   32
#define EASY_POOL        32
#define SECRET_SPARE     8 /* cleansed credential-header blocks kept */

/* The shape of a request: which easy options it sets beyond the engine's
 * (request_shape, easy_take). */
#define SH_HTTPS   0x01u /* CURLOPT_PIPEWAIT */
#define SH_GET     0x02u /* CURLOPT_HTTPGET */
#define SH_HEAD    0x04u /* CURLOPT_NOBODY */
#define SH_MEMBODY 0x08u /* CURLOPT_POST, POSTFIELDS */
#define SH_STREAM  0x10u /* CURLOPT_POST, READ/SEEKFUNCTION */
#define SH_CUSTOM  0x20u /* CURLOPT_CUSTOMREQUEST */
#define SH_DIRTY   0x80u /* never a request's: reset before reuse */

/* Every call into libcurl goes through this, so a re-entry would show in
 * st.max_curl_depth. */
#define CURL_ENTER(e)                                                          \
  do {                                                                         \
    if (++(e)->in_curl > (e)->st.max_curl_depth)                               \
      (e)->st.max_curl_depth = (e)->in_curl;                                   \
  } while (0)

enum { ST_PENDING = 1, ST_WAITING, ST_ACTIVE, ST_DONE, ST_DELIVERING };

typedef struct buf {
  char *p;
  size_t len, cap;
  int secret; /* p is in secret memory (secmem.h) */
} buf;

/* A request header: our own list node (libcurl only reads sl), so that a
 * credential header's copy can live in secret memory. */
typedef struct hnode {
  struct curl_slist sl;
  size_t len;         /* of the copy, NUL excluded */
  size_t secret_size; /* sl.data is a secret block of this size; 0: the
                         copy is text[] */
  char text[];
} hnode;

/* A cleansed (all-zero) block of secret memory and its usable size. */
typedef struct spare {
  char *p;
  size_t size;
} spare;

typedef struct rlist {
  wfc_http *head, *tail;
  size_t n;
} rlist;

/* A scheme://host:port the engine talks to. Over HTTP/1.1 at most
 * max_host_connections of its transfers are in the multi at once; the rest
 * wait here, in send order, so libcurl never holds transfers it cannot
 * start (each would parse its URL and look for a connection again every
 * time one frees). Once the origin answered over HTTP/2, libcurl
 * multiplexes and the engine stops counting. Freed with the engine. */
typedef struct origin {
  struct origin *next;
  struct origin *dirty_next; /* in e->dirty when a slot may have freed */
  int dirty;
  int inflight; /* transfers in the multi */
  int h2;
  rlist waiting;
  char key[]; /* "scheme://host:port", lower-case */
} origin;

/* A socket curl asked us to watch. Owned by the engine's fd map; freed in
 * the poll handle's close callback. */
typedef struct sock {
  uv_poll_t poll;
  wfc__http_engine *e;
  curl_socket_t fd;
  int owned; /* opened by open_socket_cb: its close reaches us */
  /* 1: curl said REMOVE during this pump; 2: stopped since (a kept-alive
   * connection, idle), kept for its next transfer until curl closes it. */
  int parked;
} sock;

struct wfc_http {
  wfc_http_res res; /* handed (borrowed) to the callback */
  uint32_t magic;
  wfc__http_engine *e;
  struct origin *org;    /* where it goes */
  wfc_http *prev, *next; /* in exactly one of the engine's lists */
  wfc_http *abort_next;  /* in the abort queue when abort_queued */
  int abort_queued;
  int state;
  CURL *easy;              /* owned; NULL once detached */
  struct curl_slist *hdrs; /* owned (our own nodes, see hdr_add); freed
                              after the easy handle */
  struct curl_slist *hdrs_tail;
  int secret; /* carries a credential in its body: see http.h */
  wfc_http_cb cb;
  void *arg;
  wfc__http_io io;   /* borrowed until the callback */
  uint64_t deadline; /* uv_now() ms */
  uint32_t timeout_ms;
  int error;
  long status;
  int in_2xx;     /* the current response is 2xx: its body goes to io.write */
  int repeatable; /* RFC 9110 9.2.2: libcurl may send it again */
  int sends;      /* times libcurl was about to send it (prereq_cb) */
  unsigned shape; /* the options its easy handle carries (SH_*) */
  int easy_clean; /* sent once and completed: the handle may be reused
                     without curl_easy_reset (easy_take) */
  uint64_t up_off, up_len;
  size_t max_body;
  buf body;        /* in-memory response body, NUL-terminated */
  buf hdr;         /* "name\0value\0" pairs of the final response */
  char *reqbody;   /* copy of the in-memory request body (secret memory
                      when h->secret) */
  char label[160]; /* "GET https://host:port", for messages */
  char errbuf[CURL_ERROR_SIZE];
  char msg[CURL_ERROR_SIZE + 256];
};

struct wfc__http_engine {
  uv_loop_t *loop;
  CURLM *multi; /* NULL after curl_multi_cleanup */
  uv_timer_t curl_timer;
  uv_timer_t deadline_timer;
  uv_idle_t idle;
  int idle_on;
  int timeout_now; /* curl asked for a 0 ms timeout */
  int in_curl;     /* depth of our calls into libcurl */
  wfc__http_stats st;
  int pumping;
  int closing; /* wfc__http_engine_close() was called */
  int closed;  /* multi cleaned, uv handles closing */
  int handles; /* open uv handles, sockets' polls included */
  void (*done)(void *arg);
  void *done_arg;
  rlist pending, active, donel;
  origin *origins;
  origin *dirty;
  wfc_http *abort_head, *abort_tail;
  size_t count; /* requests not yet called back */
  uint64_t deadline_due;
  int deadline_armed;
  sock **socks; /* fd -> context */
  size_t nsocks;
  unsigned char *owned;  /* fd -> 1 while a socket of ours */
  curl_socket_t *parked; /* fds parked during this pump */
  size_t nparked, capparked;
  long max_host;
  long connect_ms;
  uint32_t default_timeout_ms;
  size_t default_max_body;
  char *ca_bundle;
  int verbose;
  /* Easy handles kept for reuse, with the shape of their last request
   * (SH_DIRTY: reset before reuse). */
  struct {
    CURL *c;
    unsigned shape;
  } pool[EASY_POOL];
  int npool;
  /* Secret blocks of credential headers, cleansed and kept for the next
   * requests: a copy costs a memcpy instead of an allocation and a free in
   * OpenSSL's secure heap (a lock and its buddy allocator each). */
  spare spares[SECRET_SPARE];
  int nspares;
};

/* ---- small helpers ---------------------------------------------------- */

static void list_push(rlist *l, wfc_http *h) {
  h->next = NULL;
  h->prev = l->tail;
  if (l->tail)
    l->tail->next = h;
  else
    l->head = h;
  l->tail = h;
  l->n++;
}

static void list_unlink(rlist *l, wfc_http *h) {
  if (h->prev)
    h->prev->next = h->next;
  else
    l->head = h->next;
  if (h->next)
    h->next->prev = h->prev;
  else
    l->tail = h->prev;
  h->prev = h->next = NULL;
  l->n--;
}

static rlist *list_of(wfc__http_engine *e, wfc_http *h) {
  switch (h->state) {
  case ST_PENDING:
    return &e->pending;
  case ST_WAITING:
    return &h->org->waiting;
  case ST_ACTIVE:
    return &e->active;
  case ST_DONE:
    return &e->donel;
  }
  return NULL;
}

/* Makes room for n more bytes plus a NUL kept after them. */
static int buf_reserve(buf *b, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    while (cap < b->len + n + 1)
      cap *= 2;
    /* Secret memory moves by copy and cleanses the old block. */
    char *np = b->secret ? wfc__secmem_realloc(b->p, cap) : realloc(b->p, cap);
    if (!np)
      return WFC_ENOMEM;
    b->p = np;
    b->cap = cap;
  }
  return 0;
}

/* Appends n bytes plus a NUL kept after them (not counted in len). */
static int buf_add(buf *b, const void *p, size_t n) {
  if (buf_reserve(b, n))
    return WFC_ENOMEM;
  memcpy(b->p + b->len, p, n);
  b->len += n;
  b->p[b->len] = '\0';
  return 0;
}

static void buf_free(buf *b) {
  if (b->secret)
    wfc__secmem_free(b->p);
  else
    free(b->p);
  b->p = NULL;
  b->len = b->cap = 0;
}

/* RFC 9110 token characters: ASCII letters, digits and !#$%&'*+-.^_`|~
 * (a bit map of 0-127); above 127 what isalnum says, as it always did. */
static int is_tchar(unsigned char c) {
  static const uint64_t map[2] = {0x03ff6cfa00000000ull, 0x57ffffffc7fffffeull};
  if (c < 128)
    return (int)((map[c >> 6] >> (c & 63)) & 1u);
  return isalnum(c) != 0;
}

static int is_token(const char *s, size_t n) {
  if (n == 0)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!is_tchar((unsigned char)s[i]))
      return 0;
  return 1;
}

/* h->msg = "<label>: <cause>". */
__attribute__((format(printf, 2, 3))) static void
set_msg(wfc_http *h, const char *fmt, ...) {
  va_list ap;
  int n = snprintf(h->msg, sizeof h->msg, "%s: ", h->label);
  if (n < 0 || (size_t)n >= sizeof h->msg)
    return;
  va_start(ap, fmt);
  vsnprintf(h->msg + n, sizeof h->msg - (size_t)n, fmt, ap);
  va_end(ap);
}

static void engine_wake(wfc__http_engine *e);
static void engine_pump(wfc__http_engine *e);
static void engine_maybe_free(wfc__http_engine *e);

/* ---- sockets ---------------------------------------------------------- */

static void sock_close_cb(uv_handle_t *handle) {
  sock *s = handle->data;
  wfc__http_engine *e = s->e;
  free(s);
  e->handles--;
  engine_maybe_free(e);
}

/* Stops watching fd (before it is closed) and frees its context later. */
static void sock_release(wfc__http_engine *e, curl_socket_t fd) {
  if (fd < 0 || (size_t)fd >= e->nsocks || !e->socks[fd])
    return;
  sock *s = e->socks[fd];
  e->socks[fd] = NULL;
  if (s->parked != 2)
    e->st.polls--;
  uv_poll_stop(&s->poll);
  uv_close((uv_handle_t *)&s->poll, sock_close_cb);
}

/* Stops watching the sockets curl removed during this pump and did not
 * take back, keeping their polls: a kept-alive connection's next transfer
 * starts its poll again instead of making a new one (a handle init, close
 * and its context per request). Only our own sockets are parked: their
 * close always goes through close_socket_cb, which releases them. */
static void flush_parked(wfc__http_engine *e) {
  for (size_t i = 0; i < e->nparked; i++) {
    curl_socket_t fd = e->parked[i];
    sock *s = (size_t)fd < e->nsocks ? e->socks[fd] : NULL;
    if (s != NULL && s->parked == 1) {
      uv_poll_stop(&s->poll);
      s->parked = 2;
      e->st.polls--;
    }
  }
  e->nparked = 0;
}

/* Grows the fd-indexed maps to hold fd. */
static int fdmap_reserve(wfc__http_engine *e, curl_socket_t fd) {
  size_t n;
  if (fd < 0)
    return -1;
  if ((size_t)fd < e->nsocks)
    return 0;
  n = e->nsocks ? e->nsocks : 64;
  while (n <= (size_t)fd)
    n *= 2;
  sock **ns = realloc(e->socks, n * sizeof *ns);
  if (!ns)
    return -1;
  e->socks = ns;
  unsigned char *no = realloc(e->owned, n);
  if (!no)
    return -1; /* socks grew, nsocks did not: consistent */
  e->owned = no;
  memset(ns + e->nsocks, 0, (n - e->nsocks) * sizeof *ns);
  memset(no + e->nsocks, 0, n - e->nsocks);
  e->nsocks = n;
  return 0;
}

static void poll_cb(uv_poll_t *handle, int status, int events) {
  sock *s = handle->data;
  wfc__http_engine *e = s->e; /* s may be released inside socket_action */
  curl_socket_t fd = s->fd;
  int flags = 0;
  int running;

  if (status < 0) {
    flags = CURL_CSELECT_ERR;
  } else {
    if (events & UV_READABLE)
      flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
      flags |= CURL_CSELECT_OUT;
  }
  if (e->multi) {
    CURL_ENTER(e);
    e->st.socket_actions++;
    curl_multi_socket_action(e->multi, fd, flags, &running);
    e->in_curl--;
  }
  engine_pump(e);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp,
                     void *socketp) {
  wfc__http_engine *e = userp;
  sock *s;
  int events = 0;

  if (what == CURL_POLL_REMOVE) {
    s = (size_t)fd < e->nsocks ? e->socks[fd] : NULL;
    if (s && s->parked)
      return 0; /* stopped already, or about to be */
    if (s && s->owned && !e->closed) {
      if (e->nparked == e->capparked) {
        size_t n = e->capparked ? e->capparked * 2 : 16;
        curl_socket_t *np = realloc(e->parked, n * sizeof *np);
        if (!np) {
          sock_release(e, fd);
          return 0;
        }
        e->parked = np;
        e->capparked = n;
      }
      s->parked = 1;
      e->parked[e->nparked++] = fd;
      engine_wake(e); /* flushed by the next pump at the latest */
      return 0;
    }
    sock_release(e, fd);
    return 0;
  }
  if (fdmap_reserve(e, fd))
    return -1;
  s = e->socks[fd];
  if (!s) {
    s = calloc(1, sizeof *s);
    if (!s)
      return -1;
    if (uv_poll_init_socket(e->loop, &s->poll, fd) != 0) {
      free(s);
      return -1;
    }
    s->e = e;
    s->fd = fd;
    s->owned = e->owned[fd];
    s->poll.data = s;
    e->handles++;
    e->st.polls++;
    e->st.polls_made++;
    e->socks[fd] = s;
  } else if (s->parked == 2) {
    e->st.polls++;
  }
  s->parked = 0;
  if (what & CURL_POLL_IN)
    events |= UV_READABLE;
  if (what & CURL_POLL_OUT)
    events |= UV_WRITABLE;
  if (uv_poll_start(&s->poll, events, poll_cb) != 0)
    return -1;
  return 0;
}

/* A request that is not repeatable (h->sends counts prereq_cb's calls) is
 * about to go out again: libcurl retries on its own
 * when a reused connection closes without an answer, which also happens
 * after the server has read and carried out the request. It fails instead
 * (1 returned), before any byte of a second send and before a connection
 * is opened for it. */
static int resend_refused(wfc_http *h) {
  if (h->repeatable || h->sends == 0)
    return 0;
  if (h->error == 0) {
    h->error = WFC_ENET;
    set_msg(h,
            "the connection closed without an answer after the request was "
            "sent (not sent again: %.*s is not repeatable)",
            (int)strcspn(h->label, " "), h->label);
  }
  return 1;
}

static curl_socket_t open_socket_cb(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *addr) {
  wfc_http *h = clientp;
  wfc__http_engine *e = h->e;
  if (resend_refused(h))
    return CURL_SOCKET_BAD;
  int fd = socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
  if (fd < 0)
    return CURL_SOCKET_BAD;
  if (fdmap_reserve(e, fd)) {
    close(fd);
    return CURL_SOCKET_BAD;
  }
  e->st.sockets_opened++;
  /* A context still registered under this number belongs to a socket
   * closed behind our back (e.g. a resolver's socketpair): drop it so the
   * new socket gets a fresh poll handle. */
  sock_release(e, fd);
  e->owned[fd] = 1;
  return fd;
}

static int close_socket_cb(void *clientp, curl_socket_t fd) {
  wfc__http_engine *e = clientp;
  e->st.sockets_closed++;
  sock_release(e, fd); /* poll stopped before the close */
  if (fd >= 0 && (size_t)fd < e->nsocks)
    e->owned[fd] = 0;
  return close(fd);
}

/* ---- timers ----------------------------------------------------------- */

static void curl_timer_cb(uv_timer_t *t) {
  wfc__http_engine *e = t->data;
  int running;
  if (e->multi) {
    CURL_ENTER(e);
    e->st.socket_actions++;
    curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    e->in_curl--;
  }
  engine_pump(e);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp) {
  wfc__http_engine *e = userp;
  if (e->closed)
    return 0; /* inside curl_multi_cleanup: nothing more to drive */
  uv_timer_stop(&e->curl_timer);
  e->timeout_now = 0;
  if (timeout_ms == 0) {
    /* "call socket_action asap but not within the callback": next loop
     * iteration, from the idle handle. */
    e->timeout_now = 1;
    e->st.zero_timeouts++;
    engine_wake(e);
  } else if (timeout_ms > 0) {
    uv_timer_start(&e->curl_timer, curl_timer_cb, (uint64_t)timeout_ms, 0);
  }
  return 0;
}

static void request_abort(wfc_http *h, int code, const char *why);

static void deadline_cb(uv_timer_t *t);

/* Arms the engine's one deadline timer for due (uv_now() ms) unless it is
 * already armed earlier. */
static void deadline_arm(wfc__http_engine *e, uint64_t due) {
  uint64_t now;
  if (e->closed || (e->deadline_armed && e->deadline_due <= due))
    return;
  now = uv_now(e->loop);
  e->deadline_due = due;
  e->deadline_armed = 1;
  uv_timer_start(&e->deadline_timer, deadline_cb, due > now ? due - now : 0, 0);
}

static void deadline_scan(wfc__http_engine *e, rlist *l, uint64_t now,
                          uint64_t *next) {
  for (wfc_http *h = l->head; h; h = h->next) {
    if (h->deadline <= now) {
      char why[64];
      snprintf(why, sizeof why, "deadline of %u ms exceeded",
               (unsigned)h->timeout_ms);
      request_abort(h, WFC_ETIMEDOUT, why);
    } else if (h->deadline < *next) {
      *next = h->deadline;
    }
  }
}

static void deadline_cb(uv_timer_t *t) {
  wfc__http_engine *e = t->data;
  uint64_t now = uv_now(e->loop), next = UINT64_MAX;
  e->deadline_armed = 0;
  deadline_scan(e, &e->pending, now, &next);
  deadline_scan(e, &e->active, now, &next);
  for (origin *o = e->origins; o; o = o->next)
    deadline_scan(e, &o->waiting, now, &next);
  if (next != UINT64_MAX)
    deadline_arm(e, next);
  engine_pump(e);
}

/* ---- requests --------------------------------------------------------- */

/* Gives h's easy handle (out of any multi) back: pooled, which saves its
 * allocation and initialisation for the next request. Not the handle of a
 * secret request: libcurl keeps the last data it received in the handle's
 * buffer, which curl_easy_reset does not clear. The handle keeps its
 * options (pointers to h included: libcurl reads none of them until it is
 * set up again by easy_take + easy_setup). */
static void easy_put(wfc__http_engine *e, wfc_http *h) {
  CURL *c = h->easy;
  if (!c)
    return;
  h->easy = NULL;
  if (!h->secret && e->npool < EASY_POOL && !e->closing) {
    e->pool[e->npool].c = c;
    e->pool[e->npool].shape = h->easy_clean ? h->shape : SH_DIRTY;
    e->npool++;
  } else {
    curl_easy_cleanup(c);
  }
}

/* Frees a header list of hdr_add(), cleansing every copy: a credential
 * header's secret block goes back to the engine's spares (cleansed, so
 * all zero again) or to the secure heap. */
static void hdrs_free(wfc__http_engine *e, struct curl_slist *l) {
  while (l) {
    hnode *n = (hnode *)l;
    l = l->next;
    wfc__cleanse(n->sl.data, n->len);
    if (n->secret_size) {
      if (e->nspares < SECRET_SPARE && !e->closing) {
        e->spares[e->nspares].p = n->sl.data;
        e->spares[e->nspares].size = n->secret_size;
        e->nspares++;
      } else {
        wfc__secmem_free(n->sl.data);
      }
    }
    free(n);
  }
}

static void request_free(wfc_http *h) {
  easy_put(h->e, h);
  hdrs_free(h->e, h->hdrs);
  buf_free(&h->body);
  buf_free(&h->hdr);
  if (h->secret)
    wfc__secmem_free(h->reqbody);
  else
    free(h->reqbody);
  h->magic = 0;
  free(h);
}

/* Adds delta to o's transfers in flight and, when that may let a waiting
 * request start, queues o for run_adds(). */
static void origin_mark(wfc__http_engine *e, origin *o, int delta) {
  o->inflight += delta;
  if (delta <= 0 && !o->dirty && o->waiting.head) {
    o->dirty = 1;
    o->dirty_next = e->dirty;
    e->dirty = o;
  }
}

/* Takes h out of the multi (or the pending list) and queues its callback.
 * Never called from inside a libcurl callback. */
static void request_detach(wfc__http_engine *e, wfc_http *h) {
  rlist *l = list_of(e, h);
  if (h->state == ST_DONE || !l)
    return;
  list_unlink(l, h);
  if (h->state == ST_ACTIVE) {
    origin_mark(e, h->org, -1);
    if (e->multi) {
      CURL_ENTER(e);
      curl_multi_remove_handle(e->multi, h->easy);
      e->in_curl--;
    }
  }
  easy_put(e, h);
  h->state = ST_DONE;
  list_push(&e->donel, h);
}

/* Marks h failed with code and queues its removal. ECANCELED wins over any
 * other outcome not yet delivered; other codes keep an earlier error. */
static void request_abort(wfc_http *h, int code, const char *why) {
  wfc__http_engine *e = h->e;
  if (h->state == ST_DELIVERING)
    return;
  if (code == WFC_ECANCELED || h->error == 0) {
    h->error = code;
    set_msg(h, "%s", why);
  }
  if (h->state == ST_DONE || h->abort_queued)
    return;
  h->abort_queued = 1;
  h->abort_next = NULL;
  if (e->abort_tail)
    e->abort_tail->abort_next = h;
  else
    e->abort_head = h;
  e->abort_tail = h;
  engine_wake(e);
}

static int map_curl(CURLcode rc) {
  switch (rc) {
  case CURLE_OPERATION_TIMEDOUT:
    return WFC_ETIMEDOUT;
  case CURLE_SSL_CONNECT_ERROR:
  case CURLE_SSL_ENGINE_NOTFOUND:
  case CURLE_SSL_ENGINE_SETFAILED:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_CIPHER:
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_USE_SSL_FAILED:
  case CURLE_SSL_ENGINE_INITFAILED:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_SHUTDOWN_FAILED:
  case CURLE_SSL_CRL_BADFILE:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
  case CURLE_SSL_INVALIDCERTSTATUS:
  case CURLE_SSL_CLIENTCERT:
    return WFC_ETLS;
  case CURLE_OUT_OF_MEMORY:
    return WFC_ENOMEM;
  case CURLE_URL_MALFORMAT:
  case CURLE_UNSUPPORTED_PROTOCOL:
    return WFC_EINVAL;
  case CURLE_WRITE_ERROR:
  case CURLE_READ_ERROR:
  case CURLE_ABORTED_BY_CALLBACK:
    return WFC_EIO;
  default:
    return WFC_ENET;
  }
}

/* A transfer libcurl reports done. */
static void request_finished(wfc__http_engine *e, wfc_http *h, CURLcode rc) {
  long ver = 0;
  /* Served over HTTP/2: from now on libcurl multiplexes this origin. */
  if (!h->org->h2 && h->status > 0 &&
      curl_easy_getinfo(h->easy, CURLINFO_HTTP_VERSION, &ver) == CURLE_OK &&
      ver >= CURL_HTTP_VERSION_2_0) {
    h->org->h2 = 1;
    origin_mark(e, h->org, 0);
  }
  if (h->error == 0 && rc != CURLE_OK) {
    const char *detail = h->errbuf[0] ? h->errbuf : curl_easy_strerror(rc);
    h->error = map_curl(rc);
    switch (h->error) {
    case WFC_ETLS:
      set_msg(h, "TLS: %s", detail);
      break;
    case WFC_ETIMEDOUT:
      set_msg(h, "timed out: %s", detail);
      break;
    default:
      set_msg(h, "%s", detail);
    }
  }
  /* Sent exactly once and completed: libcurl did not retry it, and its
   * handle holds no state a reset would clear that the next request's
   * options do not set again (libcurl counts its silent retries in the
   * handle, across transfers, until curl_easy_reset). */
  h->easy_clean = rc == CURLE_OK && h->error == 0 && h->sends == 1;
  request_detach(e, h);
}

/* ---- libcurl callbacks (no libcurl calls in here) --------------------- */

static size_t header_cb(char *p, size_t size, size_t n, void *userp) {
  wfc_http *h = userp;
  size_t len = size * n, nlen, vlen;
  const char *colon, *v;

  if (len >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    /* A new response (an interim 1xx, then the final one): start over. */
    const char *sp = memchr(p, ' ', len);
    long status = 0;
    if (sp)
      for (const char *q = sp + 1; q < p + len && isdigit((unsigned char)*q);
           q++)
        status = status * 10 + (*q - '0');
    h->status = status;
    h->in_2xx = status >= 200 && status < 300;
    h->hdr.len = 0;
    /* An HTTP/2 answer: libcurl multiplexes this origin from now on, so
     * its waiting requests may start without waiting for this transfer to
     * end (origin_mark only queues; run_adds starts them after the pump). */
    if (!h->org->h2 && len >= 6 && memcmp(p, "HTTP/2", 6) == 0) {
      h->org->h2 = 1;
      origin_mark(h->e, h->org, 0);
      engine_wake(h->e);
    }
    return len;
  }
  colon = memchr(p, ':', len);
  if (!colon)
    return len; /* the blank line, or junk */
  nlen = (size_t)(colon - p);
  v = colon + 1;
  while (v < p + len && (*v == ' ' || *v == '\t'))
    v++;
  vlen = (size_t)(p + len - v);
  while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' ||
                  v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
    vlen--;
  if (h->hdr.len + nlen + vlen + 2 > MAX_HEADER_BYTES) {
    h->error = WFC_ETOOBIG;
    set_msg(h, "response headers over %zu bytes", MAX_HEADER_BYTES);
    return 0;
  }
  /* "name\0value\0", in one step. */
  if (buf_reserve(&h->hdr, nlen + vlen + 2)) {
    h->error = WFC_ENOMEM;
    set_msg(h, "%s", "out of memory for response headers");
    return 0;
  }
  char *d = h->hdr.p + h->hdr.len;
  memcpy(d, p, nlen);
  d[nlen] = '\0';
  memcpy(d + nlen + 1, v, vlen);
  d[nlen + 1 + vlen] = '\0';
  h->hdr.len += nlen + vlen + 2;
  h->hdr.p[h->hdr.len] = '\0';
  return len;
}

static size_t write_cb(char *p, size_t size, size_t n, void *userp) {
  wfc_http *h = userp;
  size_t len = size * n;

  if (h->io.write && h->in_2xx) {
    if (h->io.write(h->io.ctx, p, len) < 0) {
      h->error = WFC_EIO;
      set_msg(h, "%s", "the response sink failed");
      return 0;
    }
    h->res.sunk += len;
    if (h->io.progress) {
      const char *cl = wfc__http_header(&h->res, "Content-Length");
      uint64_t total = cl ? strtoull(cl, NULL, 10) : 0;
      h->io.progress(h->io.ctx, h->res.sunk, total);
    }
    return len;
  }
  if (h->body.len + len > h->max_body) {
    h->error = WFC_ETOOBIG;
    set_msg(h, "response body over the cap of %zu bytes", h->max_body);
    return 0;
  }
  if (buf_add(&h->body, p, len)) {
    h->error = WFC_ENOMEM;
    set_msg(h, "%s", "out of memory for the response body");
    return 0;
  }
  return len;
}

static size_t read_cb(char *p, size_t size, size_t n, void *userp) {
  wfc_http *h = userp;
  size_t len = size * n;
  uint64_t left = h->up_len - h->up_off;
  ssize_t got;

  if (left == 0)
    return 0;
  if (len > left)
    len = (size_t)left;
  got = h->io.read(h->io.ctx, h->up_off, p, len);
  if (got <= 0 || (size_t)got > len) {
    h->error = WFC_EIO;
    set_msg(h, "%s",
            got == 0 ? "the request body ended early"
                     : "the request body source failed");
    return CURL_READFUNC_ABORT;
  }
  h->up_off += (uint64_t)got;
  return (size_t)got;
}

static int seek_cb(void *userp, curl_off_t off, int whence) {
  wfc_http *h = userp;
  if (whence != SEEK_SET || off < 0 || (uint64_t)off > h->up_len)
    return CURL_SEEKFUNC_CANTSEEK;
  h->up_off = (uint64_t)off;
  return CURL_SEEKFUNC_OK;
}

/* libcurl is about to send the request on a connection (new or reused).
 * A second time is libcurl retrying on its own (resend_refused). */
static int prereq_cb(void *userp, char *conn_primary_ip, char *conn_local_ip,
                     int conn_primary_port, int conn_local_port) {
  wfc_http *h = userp;
  (void)conn_primary_ip;
  (void)conn_local_ip;
  (void)conn_primary_port;
  (void)conn_local_port;
  if (h->sends++ > 0 && resend_refused(h))
    return CURL_PREREQFUNC_ABORT;
  return CURL_PREREQFUNC_OK;
}

/* verbose: connection-level text only, never headers or data. */
static int debug_cb(CURL *easy, curl_infotype type, char *data, size_t size,
                    void *userp) {
  if (type == CURLINFO_TEXT)
    wfc__log(WFC_LOG_DEBUG, "http: %.*s",
             (int)(size && data[size - 1] == '\n' ? size - 1 : size), data);
  return 0;
}

/* ---- the pump --------------------------------------------------------- */

static void idle_cb(uv_idle_t *idle) {
  wfc__http_engine *e = idle->data;
  int running;
  if (e->timeout_now && e->multi) {
    e->timeout_now = 0;
    CURL_ENTER(e);
    e->st.socket_actions++;
    curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    e->in_curl--;
  }
  engine_pump(e);
}

static void engine_wake(wfc__http_engine *e) {
  if (!e->closed && !e->idle_on) {
    e->idle_on = 1;
    uv_idle_start(&e->idle, idle_cb);
  }
}

static void drain_info(wfc__http_engine *e) {
  CURLMsg *m;
  int left;
  if (!e->multi)
    return;
  while ((m = curl_multi_info_read(e->multi, &left)) != NULL) {
    wfc_http *h = NULL;
    CURLcode rc;
    if (m->msg != CURLMSG_DONE)
      continue;
    /* Read everything before remove_handle invalidates the message. */
    rc = m->data.result;
    curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&h);
    if (h && h->state == ST_ACTIVE)
      request_finished(e, h, rc);
  }
}

static void run_aborts(wfc__http_engine *e) {
  wfc_http *h;
  while ((h = e->abort_head) != NULL) {
    e->abort_head = h->abort_next;
    if (!e->abort_head)
      e->abort_tail = NULL;
    h->abort_queued = 0;
    request_detach(e, h);
  }
}

static int origin_has_slot(const wfc__http_engine *e, const origin *o) {
  return o->h2 || o->inflight < e->max_host;
}

/* Hands h to libcurl. */
static void add_one(wfc__http_engine *e, wfc_http *h) {
  CURLMcode mc;
  h->state = ST_ACTIVE;
  list_push(&e->active, h);
  origin_mark(e, h->org, 1);
  CURL_ENTER(e);
  mc = curl_multi_add_handle(e->multi, h->easy);
  e->in_curl--;
  if (mc != CURLM_OK) {
    list_unlink(&e->active, h);
    origin_mark(e, h->org, -1);
    h->state = ST_PENDING;
    list_push(&e->pending, h);
    h->error = mc == CURLM_OUT_OF_MEMORY ? WFC_ENOMEM : WFC_ENET;
    set_msg(h, "cannot start the transfer: %s", curl_multi_strerror(mc));
    request_detach(e, h);
  }
}

/* Starts what may start: first the waiting requests of origins where a
 * slot freed (they were sent earlier), then the newly sent ones, which
 * queue behind any waiting request of their origin. */
static void run_adds(wfc__http_engine *e) {
  wfc_http *h;
  origin *o;
  while ((o = e->dirty) != NULL) {
    e->dirty = o->dirty_next;
    o->dirty = 0;
    while ((h = o->waiting.head) != NULL && origin_has_slot(e, o)) {
      list_unlink(&o->waiting, h);
      add_one(e, h);
    }
  }
  while ((h = e->pending.head) != NULL) {
    list_unlink(&e->pending, h);
    o = h->org;
    if (o->waiting.head || !origin_has_slot(e, o)) {
      h->state = ST_WAITING;
      list_push(&o->waiting, h);
      continue;
    }
    add_one(e, h);
  }
}

static void deliver(wfc__http_engine *e, size_t max) {
  wfc_http *h;
  while (max-- > 0 && (h = e->donel.head) != NULL) {
    list_unlink(&e->donel, h);
    h->state = ST_DELIVERING;
    h->res.size = sizeof h->res;
    h->res.error = h->error;
    h->res.error_message = h->error ? h->msg : NULL;
    h->res.status = h->status;
    if (h->error || !h->body.p) {
      h->res.body = "";
      h->res.body_len = 0;
    } else {
      h->res.body = h->body.p;
      h->res.body_len = h->body.len;
    }
    e->count--;
    if (e->count == 0 && e->deadline_armed) {
      uv_timer_stop(&e->deadline_timer);
      e->deadline_armed = 0;
    }
    h->cb(h->arg, &h->res);
    request_free(h);
  }
}

static void handle_close_cb(uv_handle_t *handle) {
  wfc__http_engine *e = handle->data;
  e->handles--;
  engine_maybe_free(e);
}

static void engine_maybe_free(wfc__http_engine *e) {
  if (!e->closed || e->handles > 0)
    return;
  void (*done)(void *) = e->done;
  void *arg = e->done_arg;
  while (e->origins) {
    origin *o = e->origins;
    e->origins = o->next;
    free(o);
  }
  free(e->socks);
  free(e->owned);
  free(e->parked);
  free(e->ca_bundle);
  free(e);
  if (done)
    done(arg);
}

/* Every request has been called back: clean the multi while the uv handles
 * are alive (it may call our socket callbacks), then close them. */
static void engine_finish_close(wfc__http_engine *e) {
  e->closed = 1;
  while (e->npool)
    curl_easy_cleanup(e->pool[--e->npool].c);
  while (e->nspares)
    wfc__secmem_free(e->spares[--e->nspares].p);
  uv_idle_stop(&e->idle);
  e->idle_on = 0;
  if (e->multi) {
    CURL_ENTER(e);
    curl_multi_cleanup(e->multi);
    e->in_curl--;
    e->multi = NULL;
  }
  for (size_t fd = 0; fd < e->nsocks; fd++)
    sock_release(e, (curl_socket_t)fd);
  uv_close((uv_handle_t *)&e->curl_timer, handle_close_cb);
  uv_close((uv_handle_t *)&e->deadline_timer, handle_close_cb);
  uv_close((uv_handle_t *)&e->idle, handle_close_cb);
}

/* Applies everything queued. Runs only from libuv callbacks, never inside
 * libcurl. */
static void engine_pump(wfc__http_engine *e) {
  if (e->closed)
    return;
  if (e->pumping || e->in_curl) {
    engine_wake(e);
    return;
  }
  e->pumping = 1;
  drain_info(e);
  run_aborts(e);
  /* Only those done now: a callback that keeps sending and cancelling must
   * not starve the loop. */
  deliver(e, e->donel.n);
  if (!e->closing) {
    run_adds(e);
    /* A 0 ms timeout asked for while adding: serve it now that
     * curl_multi_add_handle has returned (outside any libcurl callback),
     * once per pump; anything it asks for again waits for the idle. */
    if (e->timeout_now && e->multi) {
      int running;
      e->timeout_now = 0;
      CURL_ENTER(e);
      e->st.socket_actions++;
      curl_multi_socket_action(e->multi, CURL_SOCKET_TIMEOUT, 0, &running);
      e->in_curl--;
      drain_info(e);
    }
  } else {
    run_aborts(e);
  }
  e->pumping = 0;
  flush_parked(e);

  if (e->closing && e->count == 0) {
    engine_finish_close(e);
    return;
  }
  if (e->pending.head || e->abort_head || e->donel.head || e->timeout_now ||
      e->closing) {
    engine_wake(e);
  } else if (e->idle_on) {
    e->idle_on = 0;
    uv_idle_stop(&e->idle);
  }
}

/* ---- public ----------------------------------------------------------- */

int wfc__http_engine_new(uv_loop_t *loop, const wfc__http_opts *opts,
                         wfc__http_engine **out) {
  wfc__http_opts o = {0};
  wfc__http_engine *e;
  const char *ca;

  if (!loop || !out)
    return WFC_EINVAL;
  *out = NULL;
  if (opts) {
    size_t n = opts->size && opts->size < sizeof o ? opts->size : sizeof o;
    memcpy(&o, opts, n);
  }
  e = calloc(1, sizeof *e);
  if (!e)
    return WFC_ENOMEM;
  e->loop = loop;
  e->max_host =
      o.max_host_connections > 0 ? o.max_host_connections : DEF_MAX_HOST;
  e->connect_ms =
      o.connect_timeout_ms > 0 ? o.connect_timeout_ms : DEF_CONNECT_MS;
  e->default_timeout_ms =
      o.default_timeout_ms ? o.default_timeout_ms : DEF_TIMEOUT_MS;
  e->default_max_body = o.default_max_body ? o.default_max_body : DEF_MAX_BODY;
  e->verbose = o.verbose;
  ca = o.ca_bundle ? o.ca_bundle : getenv("WFC_CA_BUNDLE");
  if (ca && *ca && !(e->ca_bundle = strdup(ca))) {
    free(e);
    return WFC_ENOMEM;
  }
  e->multi = curl_multi_init();
  if (!e->multi) {
    free(e->ca_bundle);
    free(e);
    return WFC_ENOMEM;
  }
  curl_multi_setopt(e->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
  curl_multi_setopt(e->multi, CURLMOPT_SOCKETDATA, e);
  curl_multi_setopt(e->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
  curl_multi_setopt(e->multi, CURLMOPT_TIMERDATA, e);
  curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, e->max_host);
  /* A fixed connection cache: libcurl's default follows the number of easy
   * handles in the multi, which drops to nearly zero when a batch of
   * transfers completes before their callbacks send the next ones, and it
   * would then close the idle connections we are about to reuse. */
  curl_multi_setopt(e->multi, CURLMOPT_MAXCONNECTS,
                    e->max_host * 4 > 32 ? e->max_host * 4 : 32L);
  /* These cannot fail once the loop is initialised. */
  uv_timer_init(loop, &e->curl_timer);
  uv_timer_init(loop, &e->deadline_timer);
  uv_idle_init(loop, &e->idle);
  e->curl_timer.data = e->deadline_timer.data = e->idle.data = e;
  e->handles = 3;
  *out = e;
  return 0;
}

void wfc__http_engine_close(wfc__http_engine *e, void (*done)(void *arg),
                            void *arg) {
  rlist *lists[3];
  if (!e || e->closing)
    return;
  e->closing = 1;
  e->done = done;
  e->done_arg = arg;
  lists[0] = &e->pending;
  lists[1] = &e->active;
  lists[2] = &e->donel;
  for (int i = 0; i < 3; i++)
    for (wfc_http *h = lists[i]->head; h; h = h->next)
      request_abort(h, WFC_ECANCELED, "canceled: the engine is shutting down");
  for (origin *o = e->origins; o; o = o->next)
    for (wfc_http *h = o->waiting.head; h; h = h->next)
      request_abort(h, WFC_ECANCELED, "canceled: the engine is shutting down");
  engine_wake(e); /* the rest happens in engine_pump() */
}

size_t wfc__http_engine_pending(const wfc__http_engine *e) {
  return e ? e->count : 0;
}

void wfc__http_engine_stats(const wfc__http_engine *e, wfc__http_stats *out) {
  *out = e->st;
}

/* Checks that url is an absolute http(s) URL with a host, with no space or
 * control character anywhere, and writes "METHOD scheme://host[:port]" into
 * label (no user info, path or query: they may carry secrets). libcurl
 * parses the rest; what it still refuses fails the request with
 * WFC_EINVAL. */
/* Writes s[0..n) at dst + o, cut to what fits in size with a NUL, as
 * snprintf would (it costs more than the checks around it here). Returns
 * the new length. size > 0, o < size. */
static size_t put_cut(char *dst, size_t size, size_t o, const char *s,
                      size_t n) {
  if (n > size - 1 - o)
    n = size - 1 - o;
  memcpy(dst + o, s, n);
  o += n;
  dst[o] = '\0';
  return o;
}

static int check_url(const char *url, const char *method, char *label,
                     size_t size) {
  const char *auth, *end, *host;
  size_t slen;

  if (strncasecmp(url, "http://", 7) == 0)
    slen = 4;
  else if (strncasecmp(url, "https://", 8) == 0)
    slen = 5;
  else
    return WFC_EINVAL;
  for (const unsigned char *p = (const unsigned char *)url; *p; p++)
    if (*p <= 0x20 || *p == 0x7f)
      return WFC_EINVAL;
  auth = url + slen + 3;
  end = auth + strcspn(auth, "/?#");
  host = auth;
  for (const char *p = auth; p < end; p++)
    if (*p == '@')
      host = p + 1;
  if (host == end || *host == ':')
    return WFC_EINVAL;
  for (const char *p = host; p < end; p++)
    if (!isalnum((unsigned char)*p) && !strchr("-._~%[]:", *p))
      return WFC_EINVAL;
  /* "http" is a prefix of "https": the scheme comes out lower-case. */
  size_t o = put_cut(label, size, 0, method, strlen(method));
  o = put_cut(label, size, o, " ", 1);
  o = put_cut(label, size, o, "https", slen);
  o = put_cut(label, size, o, "://", 3);
  put_cut(label, size, o, host, (size_t)(end - host));
  return 0;
}

/* The origin of "scheme://host[:port]" (the label's tail), created on
 * first use; the key gets the default port and lower case. */
static origin *origin_get(wfc__http_engine *e, const char *spec) {
  char key[sizeof((wfc_http *)0)->label + 8];
  const char *hostp = strstr(spec, "://");
  const char *port;
  size_t n;
  origin *o;

  if (!hostp)
    return NULL;
  hostp += 3;
  port = *hostp == '[' ? strstr(hostp, "]:") : strchr(hostp, ':');
  const char *dport = port ? "" : spec[4] == 's' ? ":443" : ":80";
  n = put_cut(key, sizeof key, 0, spec, strlen(spec));
  put_cut(key, sizeof key, n, dport, strlen(dport));
  for (char *p = key; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  for (o = e->origins; o; o = o->next)
    if (strcmp(o->key, key) == 0)
      return o;
  n = strlen(key);
  o = calloc(1, sizeof *o + n + 1);
  if (!o)
    return NULL;
  memcpy(o->key, key, n + 1);
  o->next = e->origins;
  e->origins = o;
  return o;
}

/* "Name: value" with a token name and no CR/LF anywhere (CR and LF are
 * not token characters: the name is checked by the same pass). */
static int check_header(const char *hv) {
  const char *p = hv;
  size_t n;
  while (*p != ':' && is_tchar((unsigned char)*p))
    p++;
  if (*p != ':' || p == hv)
    return WFC_EHEADER;
  n = strlen(p);
  if (memchr(p, '\r', n) || memchr(p, '\n', n))
    return WFC_EHEADER;
  return 0;
}

static int has_header(const char *const *hs, const char *name) {
  size_t n = strlen(name);
  for (; hs && *hs; hs++)
    if (strncasecmp(*hs, name, n) == 0 && (*hs)[n] == ':')
      return 1;
  return 0;
}

/* RFC 9110 9.2.2: the idempotent methods (the safe ones and PUT, DELETE)
 * may be sent again after a connection failure; any other may have taken
 * effect already. Methods are case-sensitive. */
static int method_repeatable(const char *m) {
  static const char *const idem[] = {"GET",   "HEAD", "OPTIONS",
                                     "TRACE", "PUT",  "DELETE"};
  for (size_t i = 0; i < sizeof idem / sizeof *idem; i++)
    if (strcmp(m, idem[i]) == 0)
      return 1;
  return 0;
}

/* Headers whose value is a credential: Authorization,
 * Proxy-Authorization, Cookie (any case). */
static int is_credential_header(const char *hv) {
  const char *name;
  size_t n;
  switch (hv[0]) {
  case 'A':
  case 'a':
    name = "Authorization", n = sizeof "Authorization" - 1;
    break;
  case 'P':
  case 'p':
    name = "Proxy-Authorization", n = sizeof "Proxy-Authorization" - 1;
    break;
  case 'C':
  case 'c':
    name = "Cookie", n = sizeof "Cookie" - 1;
    break;
  default:
    return 0;
  }
  return strncasecmp(hv, name, n) == 0 && hv[n] == ':';
}

/* A copy of s[0..n) and a NUL in a secret block: a spare of the engine
 * when one is large enough, else a new block (its size recorded in
 * *size). NULL when out of memory. */
static char *secret_copy(wfc__http_engine *e, const char *s, size_t n,
                         size_t *size) {
  char *p = NULL;
  for (int i = e->nspares - 1; i >= 0; i--) {
    if (e->spares[i].size > n) {
      p = e->spares[i].p;
      *size = e->spares[i].size;
      e->spares[i] = e->spares[--e->nspares];
      break;
    }
  }
  if (!p) {
    p = wfc__secmem_alloc(n + 1);
    if (!p)
      return NULL;
    *size = wfc__secmem_size(p);
  }
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

/* Appends s to h's header list. The nodes are ours (libcurl only reads
 * the list), so that a credential header's copy can live in secret memory
 * and be cleansed when freed; any other copy is in the node itself. */
static int hdr_add(wfc_http *h, const char *s) {
  size_t len = strlen(s);
  int secret = is_credential_header(s);
  hnode *n = malloc(sizeof *n + (secret ? 0 : len + 1));
  if (!n)
    return WFC_ENOMEM;
  n->len = len;
  n->secret_size = 0;
  n->sl.next = NULL;
  if (secret) {
    n->sl.data = secret_copy(h->e, s, len, &n->secret_size);
    if (!n->sl.data) {
      free(n);
      return WFC_ENOMEM;
    }
  } else {
    memcpy(n->text, s, len + 1);
    n->sl.data = n->text;
  }
  if (h->hdrs_tail)
    h->hdrs_tail->next = &n->sl;
  else
    h->hdrs = &n->sl;
  h->hdrs_tail = &n->sl;
  return 0;
}

/* 1 when an in-memory request body carries a credential (see http.h): a
 * form field or a JSON member named like an OAuth grant or credential.
 * Token requests are small; bodies over 64 KiB (uploads) are not read. */
static int body_has_credential(const char *b, size_t n) {
  static const char *const names[] = {
      "grant_type",    "refresh_token",    "code",      "code_verifier",
      "client_secret", "client_assertion", "assertion", "password",
      "access_token",  "id_token",         "token",     "device_code",
      "subject_token", "actor_token",      NULL};
  if (b == NULL || n == 0 || n > 64 * 1024)
    return 0;
  for (int k = 0; names[k]; k++) {
    size_t kl = strlen(names[k]);
    for (size_t i = 0; i + kl < n; i++) {
      if (b[i] != names[k][0] || memcmp(b + i, names[k], kl) != 0)
        continue;
      char before = i > 0 ? b[i - 1] : '&', after = b[i + kl];
      /* form: [&]name= ; JSON: "name" then ':' */
      if ((before == '&' && after == '=') || (before == '"' && after == '"')) {
        if (after == '=')
          return 1;
        size_t j = i + kl + 1;
        while (j < n &&
               (b[j] == ' ' || b[j] == '\t' || b[j] == '\r' || b[j] == '\n'))
          j++;
        if (j < n && b[j] == ':')
          return 1;
      }
    }
  }
  return 0;
}

/* TLS: the received plaintext (a token response) is cleansed from
 * OpenSSL's record buffer once handed over, instead of staying there until
 * the next record overwrites it. */
static CURLcode ssl_ctx_cb(CURL *c, void *sslctx, void *arg) {
  (void)c;
  (void)arg;
  SSL_CTX_set_options((SSL_CTX *)sslctx, SSL_OP_CLEANSE_PLAINTEXT);
  return CURLE_OK;
}

/* The easy options a request sets beyond the engine's (see easy_take). */
static unsigned request_shape(const char *spec, const char *method,
                              int has_body, int stream) {
  unsigned sh = strncmp(spec, "https:", 6) == 0 ? SH_HTTPS : 0;
  if (!has_body && strcmp(method, "GET") == 0)
    return sh | SH_GET;
  if (!has_body && strcmp(method, "HEAD") == 0)
    return sh | SH_HEAD;
  if (has_body)
    sh |= stream ? SH_STREAM : SH_MEMBODY;
  if (!has_body || strcmp(method, "POST") != 0)
    sh |= SH_CUSTOM;
  return sh;
}

/* An easy handle for a request of this shape: from the pool (the most
 * recently pooled first), else a new one. *same is 1 when the handle's
 * last request had this shape, sent once and completed cleanly: it then
 * carries every option the request needs except the request's own, which
 * wfc__http_send sets every time, so setting up costs 8 to 13 options
 * instead of curl_easy_reset and some 30. Any other pooled handle is reset
 * first (libcurl's retry count lives in the handle until a reset). */
static CURL *easy_take(wfc__http_engine *e, unsigned shape, int *same) {
  *same = 0;
  if (!e->npool)
    return curl_easy_init();
  e->npool--;
  CURL *c = e->pool[e->npool].c;
  if (e->pool[e->npool].shape == shape)
    *same = 1;
  else
    curl_easy_reset(c);
  return c;
}

int wfc__http_send(wfc__http_engine *e, const wfc_http_req *req,
                   const wfc__http_io *io, wfc_http_cb cb, void *arg,
                   wfc_http **out) {
  wfc_http_req r = {0};
  wfc_http *h;
  CURL *c;
  int stream, has_body, rc, same = 0;
  uint32_t timeout;

  if (out)
    *out = NULL;
  if (!e || !req || !cb)
    return WFC_EINVAL;
  if (e->closing)
    return WFC_ESTATE;
  if (req->size < offsetof(wfc_http_req, body_blob))
    return WFC_EINVAL;
  memcpy(&r, req, req->size < sizeof r ? req->size : sizeof r);
  if (!r.method || !is_token(r.method, strlen(r.method)) ||
      strlen(r.method) > MAX_METHOD_LEN || !r.url)
    return WFC_EINVAL;
  for (const char *const *hs = r.headers; hs && *hs; hs++)
    if (check_header(*hs))
      return WFC_EHEADER;
  stream = io && io->read;
  if ((r.body_len && !r.body) || (stream && r.body))
    return WFC_EINVAL;

  h = calloc(1, sizeof *h);
  if (!h)
    return WFC_ENOMEM;
  h->magic = HTTP_MAGIC;
  h->e = e;
  h->cb = cb;
  h->arg = arg;
  if (io)
    h->io = *io;
  rc = check_url(r.url, r.method, h->label, sizeof h->label);
  if (rc)
    goto fail;
  /* A request that sends a credential in its body gets one back (a token
   * request): its body copy and its response live in secret memory. */
  h->secret = !stream && body_has_credential(r.body, r.body_len);
  h->body.secret = h->secret;
  if (h->secret)
    e->st.secret_requests++;
  rc = WFC_ENOMEM;
  has_body = r.body != NULL || stream || strcmp(r.method, "POST") == 0 ||
             strcmp(r.method, "PUT") == 0 || strcmp(r.method, "PATCH") == 0;
  h->repeatable = method_repeatable(r.method);
  h->shape = request_shape(h->label + strlen(r.method) + 1, r.method, has_body,
                           stream);
  h->easy = c = easy_take(e, h->shape, &same);
  if (!c)
    goto fail;

  /* Headers: the caller's, plus suppressions of curl's own defaults that
   * would only cost a round trip (Expect) or mislabel a body. */
  for (const char *const *hs = r.headers; hs && *hs; hs++)
    if (hdr_add(h, *hs))
      goto fail;
  if (has_body && !has_header(r.headers, "Expect") && hdr_add(h, "Expect:"))
    goto fail;
  if (has_body && !has_header(r.headers, "Content-Type") &&
      hdr_add(h, "Content-Type:"))
    goto fail;

  /* The request's own options, every time. */
  curl_easy_setopt(c, CURLOPT_URL, r.url);
  curl_easy_setopt(c, CURLOPT_PRIVATE, (char *)h);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, h);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
  curl_easy_setopt(c, CURLOPT_PREREQDATA, h);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->errbuf);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->hdrs);
  if (!same) {
    /* A fresh or reset handle: the engine's options and those of the
     * request's shape. A handle whose last request had the same shape
     * carries them all already (easy_take). */
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Wait for a connection that may multiplex only over TLS, where ALPN
     * settles it at the handshake. Over plain http libcurl would learn
     * "not HTTP/2" only from the first response's status line, and every
     * other transfer to the host would wait for it. */
    if (h->shape & SH_HTTPS)
      curl_easy_setopt(c, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, e->connect_ms);
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    if (e->ca_bundle)
      curl_easy_setopt(c, CURLOPT_CAINFO, e->ca_bundle);
    /* Only with libcurl's OpenSSL backend (else CURLE_NOT_BUILT_IN). */
    curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "wfc/" WFC_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, open_socket_cb);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETFUNCTION, close_socket_cb);
    curl_easy_setopt(c, CURLOPT_CLOSESOCKETDATA, e);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
    /* Every request: it counts the sends (resend_refused, and whether
     * libcurl retried, for easy_take). */
    curl_easy_setopt(c, CURLOPT_PREREQFUNCTION, prereq_cb);
    if (e->verbose) {
      curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, debug_cb);
      curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);
    }
    if (h->shape & SH_GET) {
      curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else if (h->shape & SH_HEAD) {
      curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (has_body) {
      curl_easy_setopt(c, CURLOPT_POST, 1L);
      if (stream) {
        curl_easy_setopt(c, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, seek_cb);
      }
    }
  }
  if (has_body) {
    if (stream) {
      h->up_len = r.body_length;
      curl_easy_setopt(c, CURLOPT_READDATA, h);
      curl_easy_setopt(c, CURLOPT_SEEKDATA, h);
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
                       (curl_off_t)r.body_length);
    } else {
      /* Our copy: CURLOPT_POSTFIELDS does not copy. */
      h->reqbody = h->secret ? wfc__secmem_alloc(r.body_len + 1)
                             : malloc(r.body_len + 1);
      if (!h->reqbody)
        goto fail;
      if (r.body_len)
        memcpy(h->reqbody, r.body, r.body_len);
      h->reqbody[r.body_len] = '\0';
      curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r.body_len);
      curl_easy_setopt(c, CURLOPT_POSTFIELDS, h->reqbody);
    }
  }
  if (h->shape & SH_CUSTOM)
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r.method);

  h->max_body = r.max_body ? r.max_body : e->default_max_body;
  timeout = r.timeout_ms ? r.timeout_ms : e->default_timeout_ms;
  h->timeout_ms = timeout;
  /* uv_now() is cached at the start of the loop iteration: refresh it so
   * the deadline really counts from this call. */
  uv_update_time(e->loop);
  h->deadline = uv_now(e->loop) + timeout;

  h->org = origin_get(e, h->label + strlen(r.method) + 1);
  if (!h->org) {
    rc = WFC_ENOMEM;
    goto fail;
  }
  h->state = ST_PENDING;
  list_push(&e->pending, h);
  e->count++;
  deadline_arm(e, h->deadline);
  engine_wake(e);
  if (out)
    *out = h;
  return 0;

fail:
  request_free(h);
  return rc;
}

void wfc__http_cancel(wfc_http *h) {
  if (!h || h->magic != HTTP_MAGIC)
    return;
  request_abort(h, WFC_ECANCELED, "canceled");
}

const char *wfc__http_header(const wfc_http_res *res, const char *name) {
  const wfc_http *h;
  const char *p, *end, *found = NULL;
  if (!res || !name)
    return NULL;
  h = (const wfc_http *)((const char *)res - offsetof(wfc_http, res));
  if (h->magic != HTTP_MAGIC || !h->hdr.p)
    return NULL;
  p = h->hdr.p;
  end = p + h->hdr.len;
  while (p < end) {
    const char *v = p + strlen(p) + 1;
    if (strcasecmp(p, name) == 0)
      found = v;
    p = v + strlen(v) + 1;
  }
  return found;
}
