/* ts_server.c - the scripted loopback test server (see ts_server.h).
 *
 * Threads: libmicrohttpd runs one thread per connection plus its listener.
 * Routes are appended under a mutex and never freed before stop, so a
 * request keeps a plain pointer to its route. Counters are atomics.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep, strdup, mkdtemp */
#include "ts_server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "tfile.h"

#define ECHO_BODY_MAX (64 * 1024)
#define CHUNK         16384

typedef struct route {
  struct route *next;
  char *method, *path;
  unsigned status;
  char **headers; /* NULL-terminated copies */
  char *body;
  size_t body_len;
  uint64_t stream_bytes, truncate_at;
  unsigned delay_ms, chunk_delay_ms;
  int drop, echo;
  unsigned drop_times;
  atomic_uint_fast64_t hits; /* requests matched */
} route;

struct ts_server {
  struct MHD_Daemon *d;
  unsigned short port;
  char url[64];
  pthread_mutex_t lock;
  route *routes; /* newest first */
  atomic_int stopping;
  atomic_uint_fast64_t requests, connections, open, max_open;
  char *cert_pem, *key_pem;
};

/* Per-request state (MHD's req_cls). */
typedef struct req {
  ts_server *s;
  route *r;
  uint64_t hit; /* this request's number among r's (1: the first) */
  EVP_MD_CTX *sha;
  uint64_t body_len;
  char *body; /* first ECHO_BODY_MAX bytes */
  size_t body_kept;
} req;

typedef struct stream {
  ts_server *s;
  uint64_t size;
  uint64_t truncate_at; /* 0: none */
  unsigned chunk_delay_ms;
} stream;

static void sleep_ms(ts_server *s, unsigned ms) {
  while (ms > 0 && !atomic_load(&s->stopping)) {
    unsigned step = ms < 10 ? ms : 10;
    struct timespec ts = {0, (long)step * 1000000L};
    nanosleep(&ts, NULL);
    ms -= step;
  }
}

static char *dup_n(const char *p, size_t n) {
  char *d = malloc(n + 1);
  if (d) {
    if (n)
      memcpy(d, p, n);
    d[n] = '\0';
  }
  return d;
}

static route *find_route(ts_server *s, const char *method, const char *path) {
  route *found = NULL;
  pthread_mutex_lock(&s->lock);
  for (route *r = s->routes; r; r = r->next) {
    if (r->method && strcmp(r->method, method) != 0)
      continue;
    if (strcmp(r->path, "*") != 0 && strcmp(r->path, path) != 0)
      continue;
    found = r;
    break;
  }
  pthread_mutex_unlock(&s->lock);
  return found;
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
  stream *st = cls;
  if (pos >= st->size)
    return MHD_CONTENT_READER_END_OF_STREAM;
  if (st->truncate_at && pos >= st->truncate_at)
    return MHD_CONTENT_READER_END_WITH_ERROR; /* MHD closes the socket */
  if (pos > 0 && st->chunk_delay_ms) {
    sleep_ms(st->s, st->chunk_delay_ms);
    if (atomic_load(&st->s->stopping))
      return MHD_CONTENT_READER_END_WITH_ERROR;
  }
  if (max > CHUNK)
    max = CHUNK;
  if (max > st->size - pos)
    max = (size_t)(st->size - pos);
  if (st->truncate_at && max > st->truncate_at - pos)
    max = (size_t)(st->truncate_at - pos);
  for (size_t i = 0; i < max; i++)
    buf[i] = (char)ts_pattern(pos + i);
  return (ssize_t)max;
}

static enum MHD_Result echo_header(void *cls, enum MHD_ValueKind kind,
                                   const char *key, const char *value) {
  json_object *hs = cls;
  char name[256];
  size_t i;
  for (i = 0; key[i] && i < sizeof name - 1; i++)
    name[i] = (char)tolower((unsigned char)key[i]);
  name[i] = '\0';
  json_object_object_add(hs, name, json_object_new_string(value ? value : ""));
  return MHD_YES;
}

static struct MHD_Response *echo_response(struct MHD_Connection *conn,
                                          const char *method, const char *url,
                                          req *q) {
  json_object *o = json_object_new_object(), *hs = json_object_new_object();
  unsigned char md[32];
  unsigned int mdlen = 0;
  char hex[65];
  const char *qs;
  struct MHD_Response *resp;

  EVP_DigestFinal_ex(q->sha, md, &mdlen);
  for (unsigned i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
  MHD_get_connection_values(conn, MHD_HEADER_KIND, echo_header, hs);
  json_object_object_add(o, "method", json_object_new_string(method));
  json_object_object_add(o, "path", json_object_new_string(url));
  qs = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "q");
  if (qs)
    json_object_object_add(o, "query", json_object_new_string(qs));
  json_object_object_add(o, "headers", hs);
  json_object_object_add(o, "body_length",
                         json_object_new_int64((int64_t)q->body_len));
  json_object_object_add(o, "body_sha256", json_object_new_string(hex));
  if (q->body_len <= ECHO_BODY_MAX)
    json_object_object_add(
        o, "body",
        json_object_new_string_len(q->body ? q->body : "", (int)q->body_kept));
  const char *txt = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
  resp = MHD_create_response_from_buffer(strlen(txt), (void *)txt,
                                         MHD_RESPMEM_MUST_COPY);
  json_object_put(o);
  if (resp)
    MHD_add_response_header(resp, "Content-Type", "application/json");
  return resp;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
                                  const char *url, const char *method,
                                  const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls) {
  ts_server *s = cls;
  req *q = *req_cls;
  struct MHD_Response *resp;
  enum MHD_Result ret;
  unsigned status;

  if (!q) {
    q = calloc(1, sizeof *q);
    if (!q)
      return MHD_NO;
    q->s = s;
    q->r = find_route(s, method, url);
    if (q->r)
      q->hit = atomic_fetch_add(&q->r->hits, 1) + 1;
    q->sha = EVP_MD_CTX_new();
    EVP_DigestInit_ex(q->sha, EVP_sha256(), NULL);
    *req_cls = q;
    atomic_fetch_add(&s->requests, 1);
    return MHD_YES;
  }
  if (*upload_size) {
    EVP_DigestUpdate(q->sha, upload, *upload_size);
    if (q->r && q->r->echo && q->body_kept + *upload_size <= ECHO_BODY_MAX) {
      char *nb = realloc(q->body, q->body_kept + *upload_size);
      if (nb) {
        q->body = nb;
        memcpy(q->body + q->body_kept, upload, *upload_size);
        q->body_kept += *upload_size;
      }
    }
    q->body_len += *upload_size;
    *upload_size = 0;
    return MHD_YES;
  }

  if (!q->r) {
    static const char nf[] = "no route";
    resp = MHD_create_response_from_buffer(sizeof nf - 1, (void *)nf,
                                           MHD_RESPMEM_PERSISTENT);
    ret = MHD_queue_response(conn, 404, resp);
    MHD_destroy_response(resp);
    return ret;
  }
  const route *r = q->r;
  if (r->delay_ms)
    sleep_ms(s, r->delay_ms);
  if (atomic_load(&s->stopping))
    return MHD_NO;
  /* hits was counted when this request's headers arrived: it is this
   * request's number on the route. */
  if (r->drop && (r->drop_times == 0 || q->hit <= r->drop_times))
    return MHD_NO;
  status = r->status ? r->status : 200;
  if (r->echo) {
    resp = echo_response(conn, method, url, q);
  } else if (r->stream_bytes) {
    stream *st = calloc(1, sizeof *st);
    if (!st)
      return MHD_NO;
    st->s = s;
    st->size = r->stream_bytes;
    st->chunk_delay_ms = r->chunk_delay_ms;
    st->truncate_at = r->truncate_at;
    resp = MHD_create_response_from_callback(r->stream_bytes, CHUNK,
                                             stream_read, st, free);
  } else {
    resp = MHD_create_response_from_buffer(r->body_len, r->body,
                                           MHD_RESPMEM_PERSISTENT);
  }
  if (!resp)
    return MHD_NO;
  for (char **h = r->headers; h && *h; h++) {
    char *colon = strchr(*h, ':');
    if (!colon)
      continue;
    char name[256];
    size_t n = (size_t)(colon - *h);
    if (n >= sizeof name)
      continue;
    memcpy(name, *h, n);
    name[n] = '\0';
    const char *v = colon + 1;
    while (*v == ' ')
      v++;
    MHD_add_response_header(resp, name, v);
  }
  ret = MHD_queue_response(conn, status, resp);
  MHD_destroy_response(resp);
  return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe) {
  req *q = *req_cls;
  if (!q)
    return;
  EVP_MD_CTX_free(q->sha);
  free(q->body);
  free(q);
  *req_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
  ts_server *s = cls;
  if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
    uint64_t open = atomic_fetch_add(&s->open, 1) + 1;
    uint64_t max = atomic_load(&s->max_open);
    atomic_fetch_add(&s->connections, 1);
    while (open > max &&
           !atomic_compare_exchange_weak(&s->max_open, &max, open))
      ;
  } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
    atomic_fetch_sub(&s->open, 1);
  }
}

int ts_server_start(const ts_server_opts *opts, ts_server **out) {
  ts_server *s = calloc(1, sizeof *s);
  struct sockaddr_in sin;
  unsigned flags = MHD_USE_THREAD_PER_CONNECTION |
                   MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL;
  const union MHD_DaemonInfo *info;
  int tls = opts && opts->cert_file && opts->key_file;

  *out = NULL;
  if (!s)
    return -1;
  pthread_mutex_init(&s->lock, NULL);
  memset(&sin, 0, sizeof sin);
  sin.sin_family = AF_INET;
  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sin.sin_port = 0;
  if (tls) {
    s->cert_pem = tfile_read(opts->cert_file, NULL);
    s->key_pem = tfile_read(opts->key_file, NULL);
    if (!s->cert_pem || !s->key_pem) {
      fprintf(stderr, "ts_server: cannot read %s or %s\n", opts->cert_file,
              opts->key_file);
      goto fail;
    }
    flags |= MHD_USE_TLS;
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sin,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
        MHD_OPTION_HTTPS_MEM_CERT, s->cert_pem, MHD_OPTION_HTTPS_MEM_KEY,
        s->key_pem, MHD_OPTION_END);
  } else {
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sin,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_END);
  }
  if (!s->d) {
    fprintf(stderr, "ts_server: MHD_start_daemon failed\n");
    goto fail;
  }
  info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
  if (!info || !info->port) {
    fprintf(stderr, "ts_server: no bound port\n");
    MHD_stop_daemon(s->d);
    goto fail;
  }
  s->port = info->port;
  snprintf(s->url, sizeof s->url, "%s://127.0.0.1:%u", tls ? "https" : "http",
           (unsigned)s->port);
  *out = s;
  return 0;
fail:
  free(s->cert_pem);
  free(s->key_pem);
  pthread_mutex_destroy(&s->lock);
  free(s);
  return -1;
}

void ts_server_stop(ts_server *s) {
  route *r, *next;
  if (!s)
    return;
  atomic_store(&s->stopping, 1);
  MHD_stop_daemon(s->d);
  for (r = s->routes; r; r = next) {
    next = r->next;
    for (char **h = r->headers; h && *h; h++)
      free(*h);
    free(r->headers);
    free(r->method);
    free(r->path);
    free(r->body);
    free(r);
  }
  free(s->cert_pem);
  free(s->key_pem);
  pthread_mutex_destroy(&s->lock);
  free(s);
}

unsigned short ts_server_port(const ts_server *s) {
  return s->port;
}

const char *ts_server_url(const ts_server *s) {
  return s->url;
}

int ts_server_route(ts_server *s, const ts_route *in) {
  route *r = calloc(1, sizeof *r);
  size_t nh = 0;
  if (!r)
    return -1;
  r->method = in->method ? strdup(in->method) : NULL;
  r->path = strdup(in->path ? in->path : "*");
  r->status = in->status;
  r->body_len = in->body ? (in->body_len ? in->body_len : strlen(in->body)) : 0;
  r->body = dup_n(in->body ? in->body : "", r->body_len);
  r->stream_bytes = in->stream_bytes;
  r->truncate_at = in->truncate_at;
  r->delay_ms = in->delay_ms;
  r->chunk_delay_ms = in->chunk_delay_ms;
  r->drop = in->drop;
  r->drop_times = in->drop_times;
  r->echo = in->echo;
  for (const char *const *h = in->headers; h && *h; h++)
    nh++;
  r->headers = calloc(nh + 1, sizeof *r->headers);
  for (size_t i = 0; r->headers && i < nh; i++)
    r->headers[i] = strdup(in->headers[i]);
  pthread_mutex_lock(&s->lock);
  r->next = s->routes;
  s->routes = r;
  pthread_mutex_unlock(&s->lock);
  return 0;
}

void ts_server_stats(ts_server *s, ts_stats *out) {
  out->requests = atomic_load(&s->requests);
  out->connections = atomic_load(&s->connections);
  out->open = atomic_load(&s->open);
  out->max_open = atomic_load(&s->max_open);
}

uint64_t ts_server_route_hits(ts_server *s, const char *method,
                              const char *path) {
  uint64_t n = 0;
  pthread_mutex_lock(&s->lock);
  for (route *r = s->routes; r; r = r->next) {
    if ((method == NULL) != (r->method == NULL) ||
        (method && strcmp(r->method, method) != 0) ||
        strcmp(r->path, path ? path : "*") != 0)
      continue;
    n = atomic_load(&r->hits);
    break;
  }
  pthread_mutex_unlock(&s->lock);
  return n;
}

void ts_server_reset_stats(ts_server *s) {
  atomic_store(&s->requests, 0);
  atomic_store(&s->connections, 0);
  atomic_store(&s->max_open, atomic_load(&s->open));
}

/* ---- TLS material ------------------------------------------------------ */

static int add_ext(X509 *issuer, X509 *x, int nid, const char *value) {
  X509V3_CTX ctx;
  X509_EXTENSION *ext;
  X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
  ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
  if (!ext)
    return -1;
  X509_add_ext(x, ext, -1);
  X509_EXTENSION_free(ext);
  return 0;
}

static X509 *make_cert(EVP_PKEY *key, const char *cn, X509 *issuer,
                       EVP_PKEY *issuer_key, long serial, int ca) {
  X509 *x = X509_new();
  X509_NAME *name;
  if (!x)
    return NULL;
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 30L * 24 * 3600);
  X509_set_pubkey(x, key);
  name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             (const unsigned char *)cn, -1, -1, 0);
  X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : name);
  if (!issuer)
    issuer = x;
  if (add_ext(issuer, x, NID_subject_key_identifier, "hash") ||
      (ca &&
       (add_ext(issuer, x, NID_basic_constraints, "critical,CA:TRUE") ||
        add_ext(issuer, x, NID_key_usage, "critical,keyCertSign,cRLSign"))) ||
      (!ca &&
       (add_ext(issuer, x, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(issuer, x, NID_authority_key_identifier, "keyid:always") ||
        add_ext(issuer, x, NID_key_usage, "critical,digitalSignature") ||
        add_ext(issuer, x, NID_ext_key_usage, "serverAuth") ||
        add_ext(issuer, x, NID_subject_alt_name,
                "IP:127.0.0.1,DNS:localhost"))) ||
      !X509_sign(x, issuer_key, EVP_sha256())) {
    X509_free(x);
    return NULL;
  }
  return x;
}

static int write_pem(const char *path, X509 *x, EVP_PKEY *k) {
  FILE *f = fopen(path, "w");
  int ok;
  if (!f)
    return -1;
  ok = x ? PEM_write_X509(f, x)
         : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
  return fclose(f) == 0 && ok ? 0 : -1;
}

int ts_tls_make(ts_tls *t) {
  static atomic_long serial = 1;
  EVP_PKEY *cak = NULL, *k = NULL;
  X509 *ca = NULL, *x = NULL;
  int rc = -1;

  memset(t, 0, sizeof *t);
  snprintf(t->dir, sizeof t->dir, "/tmp/wfc-tls-XXXXXX");
  if (!mkdtemp(t->dir))
    return -1;
  snprintf(t->ca_file, sizeof t->ca_file, "%s/ca.pem", t->dir);
  snprintf(t->cert_file, sizeof t->cert_file, "%s/server.pem", t->dir);
  snprintf(t->key_file, sizeof t->key_file, "%s/server.key", t->dir);
  cak = EVP_EC_gen("P-256");
  k = EVP_EC_gen("P-256");
  if (!cak || !k)
    goto out;
  ca =
      make_cert(cak, "wfc test CA", NULL, cak, atomic_fetch_add(&serial, 1), 1);
  if (!ca)
    goto out;
  x = make_cert(k, "127.0.0.1", ca, cak, atomic_fetch_add(&serial, 1), 0);
  if (!x)
    goto out;
  if (write_pem(t->ca_file, ca, NULL) || write_pem(t->cert_file, x, NULL) ||
      write_pem(t->key_file, NULL, k))
    goto out;
  rc = 0;
out:
  X509_free(ca);
  X509_free(x);
  EVP_PKEY_free(cak);
  EVP_PKEY_free(k);
  if (rc)
    ts_tls_cleanup(t);
  return rc;
}

void ts_tls_cleanup(ts_tls *t) {
  if (!t->dir[0])
    return;
  unlink(t->ca_file);
  unlink(t->cert_file);
  unlink(t->key_file);
  rmdir(t->dir);
  t->dir[0] = '\0';
}
