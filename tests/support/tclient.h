/* tclient.h - a small blocking libcurl client for tests.
 * Used by the emulator, identity, graph and scenario tests.
 *
 * One tclient = one curl easy handle: requests reuse the connection
 * (keep-alive) and, when made with cookies, share an in-memory cookie jar.
 * Redirects are never followed (tests inspect Location). Not thread-safe:
 * one client per thread. */
#ifndef TCLIENT_H
#define TCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

typedef struct tclient tclient;

typedef struct tresp {
  long status;   /* 0 when no response (see curl_code) */
  int curl_code; /* CURLcode: 0 ok, 52 empty reply, 56 recv error, 18 partial */
  char *body;    /* NUL-terminated; "" when none or when streamed out */
  size_t len;
  char **headers; /* "Name: value" lines of the final response */
  size_t nheaders;
  long new_connections; /* connections opened for this request (0: reused) */
} tresp;

typedef struct treq {
  const char *method; /* NULL: GET */
  const char *url;
  const char *const *headers; /* NULL-terminated "Name: value", or NULL */
  const char *body;           /* copied by curl as needed; NULL: none */
  size_t body_len;
  /* Streamed upload instead of body: read() fills buf, returns the count,
   * 0 at the end. upload_size -1: chunked. */
  size_t (*read)(char *buf, size_t max, void *ctx);
  void *read_ctx;
  int64_t upload_size;
  /* Streamed download: the body goes to write() and is not kept. */
  size_t (*write)(const char *buf, size_t len, void *ctx);
  void *write_ctx;
  long timeout_ms; /* 0: 30 s */
} treq;

/* cookies: keep a cookie jar for this client. NULL only on out of memory. */
tclient *tclient_new(int cookies);
void tclient_free(tclient *c);
/* Trust this CA bundle (PEM) for https URLs; copied. */
void tclient_set_ca(tclient *c, const char *ca_file);

/* Performs the request. Returns the CURLcode (also in out->curl_code); out
 * is filled in either case and must be released with tresp_free(). */
int tclient_do(tclient *c, const treq *q, tresp *out);
/* Shorthand: method, url, NULL-terminated headers (or NULL), body (or NULL,
 * NUL-terminated). */
int tclient_request(tclient *c, const char *method, const char *url,
                    const char *const *headers, const char *body, tresp *out);
/* JSON body (may be NULL) with Content-Type: application/json. Borrowed. */
int tclient_json(tclient *c, const char *method, const char *url,
                 json_object *body, tresp *out);
/* Value of a response header (case-insensitive name, first one); NULL. */
const char *tresp_header(const tresp *r, const char *name);
/* Body parsed as JSON (new reference) or NULL. */
json_object *tresp_json(const tresp *r);
void tresp_free(tresp *r);

/* x-www-form-urlencoded "k1=v1&k2=v2" from NULL-terminated pairs
 * (k1, v1, k2, v2, ..., NULL); malloc'd. */
char *tclient_form(const char *first_key, ...);
/* Percent-encodes s (malloc'd). */
char *tclient_escape(const char *s);
/* Value of query parameter name in url (e.g. a Location), decoded; malloc'd
 * or NULL. */
char *tclient_url_param(const char *url, const char *name);

/* The value of attribute attr (attr="...") after the first occurrence of
 * marker in html (e.g. marker "id=\"return\"", attr "href"), with &amp;
 * decoded; malloc'd, or NULL when either is missing. For the emulator's
 * plain HTML pages, not HTML in general. */
char *tclient_html_attr(const char *html, const char *marker, const char *attr);

/* Dotted lookup in a JSON object ("error.innerError.date"), borrowed; NULL
 * when a step is missing. Array steps are not supported. */
json_object *tjson_get(json_object *o, const char *dotted);
/* Same, as a string (borrowed) or NULL. */
const char *tjson_str(json_object *o, const char *dotted);

#endif /* TCLIENT_H */
