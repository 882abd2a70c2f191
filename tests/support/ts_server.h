/* ts_server.h - a scripted loopback HTTP(S) server for tests (libmicrohttpd).
 *
 * Binds 127.0.0.1 on a free port, serves from its own threads (one per
 * connection, so a delayed answer blocks nobody else and the test's uv loop
 * keeps running), and answers from routes the test registers: canned
 * status/headers/body, a delay, a dropped connection, a generated body of
 * any size, or an echo of the request. Counters (requests, TCP connections
 * accepted, connections open at once) let tests assert connection reuse
 * and per-host caps from the server's side.
 *
 * Used by tests/http/ and bench/; any test may use it.
 */
#ifndef WFC_TS_SERVER_H
#define WFC_TS_SERVER_H

#include <stddef.h>
#include <stdint.h>

typedef struct ts_server ts_server;

typedef struct ts_route {
  const char *method;         /* NULL: any method */
  const char *path;           /* exact path without query; "*": any */
  unsigned status;            /* 0: 200 */
  const char *const *headers; /* "Name: value" strings, NULL-terminated */
  const char *body;           /* NULL: empty */
  size_t body_len;            /* 0 with a body: strlen(body) */
  uint64_t stream_bytes;      /* > 0: a generated body of this many bytes,
                                 byte i being ts_pattern(i) */
  unsigned delay_ms;          /* wait before answering */
  unsigned chunk_delay_ms;    /* with stream_bytes: wait before each 16 KiB
                                 chunk after the first */
  uint64_t truncate_at;       /* with stream_bytes: announce the full
                                 length, close the connection after this
                                 many bytes */
  int drop;                   /* close the connection without an answer
                                 (after reading the whole request body) */
  unsigned drop_times;        /* with drop: only the first drop_times
                                 requests of the route are dropped, the
                                 later ones answered (0: every one) */
  int echo;                   /* answer 200 with a JSON echo of the request:
                                 {"method","path","query","headers" (names
                                 lower-cased),"body_length","body_sha256",
                                 "body" (when <= 64 KiB)} */
} ts_route;

typedef struct ts_server_opts {
  const char *cert_file; /* PEM; with key_file: serve HTTPS */
  const char *key_file;
} ts_server_opts;

typedef struct ts_stats {
  uint64_t requests;    /* requests whose headers arrived */
  uint64_t connections; /* TCP connections accepted */
  uint64_t open;        /* connections open now */
  uint64_t max_open;    /* most connections open at once */
} ts_stats;

/* Starts a server (opts may be NULL: plain HTTP). Returns 0 or -1 (with a
 * message on stderr). */
int ts_server_start(const ts_server_opts *opts, ts_server **out);
/* Stops the server (waits for its threads) and frees it. */
void ts_server_stop(ts_server *s);
unsigned short ts_server_port(const ts_server *s);
/* "http://127.0.0.1:PORT" or "https://..."; owned by the server. */
const char *ts_server_url(const ts_server *s);
/* Adds a route (copied). A later route wins over an earlier one that
 * matches the same request. Unmatched requests get 404. Thread-safe. */
int ts_server_route(ts_server *s, const ts_route *r);
void ts_server_stats(ts_server *s, ts_stats *out);
/* Requests whose headers arrived for the route added with this method and
 * path (the latest such route), dropped ones included; 0 when none. */
uint64_t ts_server_route_hits(ts_server *s, const char *method,
                              const char *path);
void ts_server_reset_stats(ts_server *s);

/* Byte i of a generated body. */
static inline unsigned char ts_pattern(uint64_t i) {
  return (unsigned char)((i * 131u + (i >> 13)) & 0xffu);
}

/* TLS material made at test time with OpenSSL: a fresh CA and a server
 * certificate it signed for 127.0.0.1 and localhost, as PEM files in a new
 * temporary directory. */
typedef struct ts_tls {
  char dir[128];
  char ca_file[160];   /* the CA certificate: a client's CA bundle */
  char cert_file[160]; /* the server certificate */
  char key_file[160];  /* the server key */
} ts_tls;

int ts_tls_make(ts_tls *t);
/* Removes the files and the directory. */
void ts_tls_cleanup(ts_tls *t);

#endif
