/* custom_api_action.c - Custom API Action: an authenticated Microsoft
 * Graph request of the flow's own making, relative to the connection's
 * Graph base.
 *
 * relative_url: a path under the Graph base ("/me/messages", "me/messages",
 * with a query after '?'), or an absolute URL on the Graph base's origin
 * and version path (scheme and host in any case). A URL inside the query
 * ($filter=webLink eq 'https://...', encoded or not) is data, not where
 * the request goes. Bytes a URL cannot hold are percent-encoded for the
 * flow: space, '#' (a fragment is never sent, so '#' is data too), '"',
 * '<', '>', '^', '`', '{', '|', '}', non-ASCII bytes, and a '%' not
 * followed by two hex digits. Refused before anything is sent, each with
 * the byte where it is: CR/LF and other control characters, an absolute
 * URL to another origin or outside the version path, a protocol-relative
 * "//host", a backslash in the path, a ".." segment (encoded or not).
 *
 * headers: refused are names that are not HTTP tokens, CR/LF in a value,
 * the credentials and framing the connector sets (Authorization, Host,
 * Content-Length, Cookie), the hop-by-hop headers the HTTP client manages
 * (Connection, Keep-Alive, Transfer-Encoding, TE, Trailer, Upgrade) and
 * Proxy-* (there is no proxy to address; they carry credentials). Names
 * compare without case. Non-2xx answers are outputs (status_code), not
 * failures, as in Okta's card. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "config.h"
#include "entry.h"
#include "graph.h"

static const char *const methods[] = {"GET",   "POST",   "PUT",
                                      "PATCH", "DELETE", NULL};

static const wfc_field inputs[] = {
    {.name = "method",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .enum_values = methods},
    {.name = "relative_url",
     .type = WFC_TYPE_STRING,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Path under the Graph base, e.g. /me/mailFolders "
                    "(a query may follow '?', and may hold URLs as data); "
                    "an absolute URL only on the Graph base. Spaces, '#' "
                    "and non-ASCII are encoded for you; CR/LF, control "
                    "characters, backslashes in the path and '..' "
                    "segments are refused.",
     .min = 1,
     .max = 8192},
    {.name = "headers",
     .type = WFC_TYPE_MAP,
     .description = "Extra request headers. Refused: Authorization, "
                    "Cookie, Host and Content-Length (the connector sets "
                    "them), the hop-by-hop Connection, Keep-Alive, "
                    "Transfer-Encoding, TE, Trailer and Upgrade, and "
                    "Proxy-*.",
     .items = &(const wfc_field){.type = WFC_TYPE_STRING}},
    {.name = "query",
     .type = WFC_TYPE_MAP,
     .description = "Query parameters, encoded for you.",
     .items = &(const wfc_field){.type = WFC_TYPE_ANY}},
    {.name = "body", .type = WFC_TYPE_ANY, .description = "JSON body."},
    {.name = "follow_next_link",
     .type = WFC_TYPE_BOOLEAN,
     .description = "GET only: follow @odata.nextLink and return every "
                    "page's value items in body.value.",
     .default_json = "false"},
    {.name = "max_pages",
     .type = WFC_TYPE_INTEGER,
     .description = "Pages to fetch at most when following.",
     .default_json = "10",
     .min = 1,
     .max = 1000},
    {0}};

static const wfc_field outputs[] = {
    {.name = "status_code",
     .type = WFC_TYPE_INTEGER,
     .flags = WFC_FIELD_REQUIRED},
    {.name = "headers",
     .type = WFC_TYPE_MAP,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The response headers the host exposes (Content-Type, "
                    "Location, ETag, request ids, Retry-After, ...).",
     .items = &(const wfc_field){.type = WFC_TYPE_STRING}},
    {.name = "body",
     .type = WFC_TYPE_ANY,
     .flags = WFC_FIELD_NULLABLE,
     .description = "JSON, or the text of a non-JSON answer."},
    {.name = "pages", .type = WFC_TYPE_INTEGER},
    {0}};

/* Response headers worth returning (the host API reads them by name). */
static const char *const resp_headers[] = {"Content-Type",
                                           "Location",
                                           "ETag",
                                           "request-id",
                                           "client-request-id",
                                           "Retry-After",
                                           "Preference-Applied",
                                           "OData-Version",
                                           "x-ms-ags-diagnostic",
                                           "Content-Location",
                                           "Deprecation",
                                           "Sunset",
                                           NULL};

typedef struct job {
  wfc_call *call;
  int pages, max_pages;
  struct json_object *items; /* accumulated value items when following */
  struct json_object *first; /* first page's body (owned) */
  char **headers;            /* NULL-terminated, owned */
} job;

static void job_free(job *j) {
  json_object_put(j->items);
  json_object_put(j->first);
  for (size_t i = 0; j->headers && j->headers[i]; i++)
    free(j->headers[i]);
  free(j->headers);
  free(j);
}

static int is_tchar(int c) {
  return isalnum(c) || (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Headers a flow cannot give, and why (names compare without case). */
static const struct {
  const char *name, *why;
} refused_headers[] = {
    {"Authorization",
     "Authorization is set by the connection and cannot be overridden"},
    {"Cookie", "Cookie carries credentials; Graph is called with the "
               "connection's token only"},
    {"Host", "Host is set by the connector from the Graph base URL"},
    {"Content-Length", "Content-Length is set by the connector from the body"},
    {"Transfer-Encoding", "Transfer-Encoding is a hop-by-hop header that the "
                          "HTTP client manages"},
    {"Connection",
     "Connection is a hop-by-hop header that the HTTP client manages"},
    {"Keep-Alive",
     "Keep-Alive is a hop-by-hop header that the HTTP client manages"},
    {"Upgrade", "Upgrade is a hop-by-hop header that the HTTP client manages"},
    {"TE", "TE is a hop-by-hop header that the HTTP client manages"},
    {"Trailer", "Trailer is a hop-by-hop header that the HTTP client manages"},
};

/* Why the header is refused, or NULL. */
static const char *header_problem(const char *name, const char *value) {
  if (*name == '\0')
    return "empty header name";
  for (const char *p = name; *p; p++)
    if (!is_tchar((unsigned char)*p))
      return strpbrk(name, "\r\n") ? "CR or LF in a header name"
                                   : "not a valid header name";
  if (value == NULL)
    return "header value must be a string";
  if (strpbrk(value, "\r\n") != NULL)
    return "CR or LF in a header value";
  for (size_t i = 0; i < sizeof refused_headers / sizeof *refused_headers; i++)
    if (strcasecmp(name, refused_headers[i].name) == 0)
      return refused_headers[i].why;
  if (strncasecmp(name, "Proxy-", 6) == 0)
    return "Proxy-* headers are for a proxy, which this request does not "
           "address, and may carry credentials";
  return NULL;
}

static int is_hex(char c) {
  return isxdigit((unsigned char)c) != 0;
}

/* Bytes kept as they are in the request target; others are encoded. */
static int url_byte_ok(unsigned char c) {
  return c > 0x20 && c < 0x7f && strchr("\"#<>\\^`{|}%", c) == NULL;
}

/* Is url[start..end) a ".." segment, '.' written as itself or %2e? */
static int dotdot(const char *seg, size_t len) {
  int dots = 0;
  for (size_t i = 0; i < len; dots++) {
    if (seg[i] == '.')
      i++;
    else if (len - i >= 3 && seg[i] == '%' && seg[i + 1] == '2' &&
             (seg[i + 2] == 'e' || seg[i + 2] == 'E'))
      i += 3;
    else
      return 0;
  }
  return dots == 2;
}

/* relative_url as a request path under the Graph base (see the top of the
 * file). Returns 0 with the path appended to b, or -1 with why (for the
 * user, naming the byte) in why. base: the Graph base URL. */
static int url_path(const char *url, const char *base, o365_buf *b, char *why,
                    size_t whylen) {
  for (size_t i = 0; url[i] != '\0'; i++) {
    unsigned char c = (unsigned char)url[i];
    if (c == '\r' || c == '\n')
      return snprintf(why, whylen, "CR or LF at byte %zu", i), -1;
    if (c < 0x20 || c == 0x7f)
      return snprintf(why, whylen, "a control character at byte %zu", i), -1;
  }
  if (strncmp(url, "//", 2) == 0)
    return snprintf(why, whylen,
                    "a protocol-relative URL (\"//host\") names another "
                    "host; give a path under the Graph base such as "
                    "/me/messages"),
           -1;
  const char *rest = url;
  size_t origin = o365_url_origin_len(url);
  if (origin > 0) {
    /* Absolute (a scheme opens it; "://" in the query does not count): on
     * the Graph base only, any case, and the path from there on. */
    size_t bl = strlen(base);
    if (!o365_url_same_origin(url, base) || strncasecmp(url, base, bl) != 0 ||
        (url[bl] != '/' && url[bl] != '?' && url[bl] != '#' && url[bl] != '\0'))
      return snprintf(why, whylen,
                      "an absolute URL must be on the connection's Graph "
                      "base (%s); give a path such as /me/messages",
                      base),
             -1;
    rest = url + bl;
  }
  size_t off = (size_t)(rest - url); /* byte offsets name url's bytes */
  if (rest[0] != '/')
    o365_buf_put(b, "/");
  size_t qpos = strcspn(rest, "?");
  size_t seg = 0;
  for (size_t i = 0; i <= qpos; i++) {
    if (i < qpos && rest[i] == '\\')
      return snprintf(why, whylen,
                      "a backslash at byte %zu (servers may read it as "
                      "'/'); write %%5C for a literal one",
                      off + i),
             -1;
    if (i == qpos || rest[i] == '/') {
      /* libcurl would fold "../" away (leaving the version path), and a
       * server may decode %2e%2e: neither gets through. */
      if (dotdot(rest + seg, i - seg))
        return snprintf(why, whylen,
                        "a '..' segment at byte %zu would leave the Graph "
                        "version path",
                        off + seg),
               -1;
      seg = i + 1;
    }
  }
  static const char hex[] = "0123456789ABCDEF";
  for (size_t i = 0; rest[i] != '\0'; i++) {
    unsigned char c = (unsigned char)rest[i];
    if (url_byte_ok(c) ||
        (c == '%' && is_hex(rest[i + 1]) && is_hex(rest[i + 2]))) {
      o365_buf_putn(b, rest + i, 1);
    } else {
      char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
      o365_buf_putn(b, esc, 3);
    }
  }
  return 0;
}

static struct json_object *headers_out(const o365_graph_res *res) {
  struct json_object *h = json_object_new_object();
  for (size_t i = 0; res->http != NULL && resp_headers[i]; i++) {
    const char *v = o365_api->http_header(res->http, resp_headers[i]);
    if (v != NULL)
      o365_json_add_str(h, resp_headers[i], v);
  }
  return h;
}

static struct json_object *body_out(const o365_graph_res *res) {
  if (res->json != NULL)
    return json_object_get(res->json);
  if (res->body_len == 0)
    return NULL;
  return json_object_new_string_len(res->body, (int)res->body_len);
}

static void done(job *j, const o365_graph_res *res, struct json_object *body) {
  struct json_object *out = json_object_new_object();
  O365_JSON_ADD(out, "status_code", json_object_new_int64(res->status));
  O365_JSON_ADD(out, "headers", headers_out(res));
  O365_JSON_ADD(out, "body", body);
  O365_JSON_ADD(out, "pages", json_object_new_int(j->pages));
  o365_api->call_done(j->call, out);
  job_free(j);
}

/* Transport errors (no HTTP answer) fail the card; HTTP statuses do not. */
static int failed_without_answer(job *j, const o365_graph_res *res) {
  if (res->status != 0)
    return 0;
  o365_graph_fail(j->call, res, "the Graph request failed");
  job_free(j);
  return 1;
}

static void on_single(void *arg, const o365_graph_res *res) {
  job *j = arg;
  if (failed_without_answer(j, res))
    return;
  j->pages = 1;
  done(j, res, body_out(res));
}

static int on_page(void *arg, const o365_graph_res *res) {
  job *j = arg;
  if (failed_without_answer(j, res))
    return 0;
  j->pages++;
  struct json_object *value = NULL;
  int ok = res->error == 0 && res->json != NULL &&
           json_object_object_get_ex(res->json, "value", &value) &&
           json_object_is_type(value, json_type_array);
  if (!ok) {
    /* An error page (or no collection): return it as it is. */
    done(j, res, body_out(res));
    return 0;
  }
  if (j->first == NULL)
    json_object_deep_copy(res->json, &j->first, NULL);
  for (size_t i = 0; i < json_object_array_length(value); i++)
    if (o365_list_add(j->items, json_object_get(json_object_array_get_idx(
                                    value, i))) != 0) {
      o365_api->call_fail(j->call, WFC_ENOMEM, NULL, "out of memory");
      job_free(j);
      return 0;
    }
  if (res->next_link != NULL && j->pages < j->max_pages)
    return 1;
  struct json_object *body = j->first;
  j->first = NULL;
  O365_JSON_ADD(body, "value", j->items);
  j->items = NULL;
  json_object_object_del(body, "@odata.nextLink");
  if (res->next_link != NULL)
    o365_json_add_str(body, "@odata.nextLink", res->next_link);
  done(j, res, body);
  return 0;
}

static int refuse(wfc_call *call, const char *field, const char *why) {
  o365_api->call_fail(call, WFC_EVALIDATION, NULL, "%s: %s; nothing was sent",
                      field, why);
  return 0;
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  const char *method = o365_json_str(in, "method");
  const char *url = o365_json_str(in, "relative_url");

  char base[512] = "";
  wfc_conn *conn = o365_api->call_conn(call);
  o365_config cfg;
  char err[256];
  int rc = conn ? o365_config_endpoints(o365_api->conn_params(conn), &cfg, err,
                                        sizeof err)
                : WFC_EINVAL;
  if (rc == 0)
    o365_strlcpy(base, cfg.graph, sizeof base);
  o365_config_clear(&cfg);
  if (rc != 0)
    return refuse(call, "connection", "no Graph base URL");
  o365_buf path;
  char why[400];
  o365_buf_init(&path);
  if (url_path(url, base, &path, why, sizeof why) != 0) {
    o365_buf_free(&path);
    return refuse(call, "relative_url", why);
  }

  job *j = calloc(1, sizeof *j);
  if (j == NULL) {
    o365_buf_free(&path);
    return WFC_ENOMEM;
  }
  j->call = call;
  struct json_object *hdrs = NULL, *query = NULL, *body = NULL, *v = NULL;
  json_object_object_get_ex(in, "headers", &hdrs);
  json_object_object_get_ex(in, "query", &query);
  json_object_object_get_ex(in, "body", &body);
  size_t nh = hdrs ? (size_t)json_object_object_length(hdrs) : 0;
  j->headers = calloc(nh + 1, sizeof *j->headers);
  if (j->headers == NULL) {
    o365_buf_free(&path);
    job_free(j);
    return WFC_ENOMEM;
  }
  size_t k = 0;
  if (hdrs != NULL) {
    json_object_object_foreach(hdrs, hn, hv) {
      const char *val = json_object_is_type(hv, json_type_string)
                            ? json_object_get_string(hv)
                            : NULL;
      const char *hp = header_problem(hn, val);
      if (hp != NULL) {
        char field[300];
        snprintf(field, sizeof field, "headers.%s",
                 strpbrk(hn, "\r\n") ? "(invalid name)" : hn);
        o365_buf_free(&path);
        job_free(j);
        return refuse(call, field, hp);
      }
      o365_buf h;
      o365_buf_init(&h);
      o365_buf_printf(&h, "%s: %s", hn, val);
      j->headers[k++] = o365_buf_take(&h);
      if (j->headers[k - 1] == NULL) {
        o365_buf_free(&path);
        job_free(j);
        return WFC_ENOMEM;
      }
    }
  }

  if (query != NULL) {
    json_object_object_foreach(query, qn, qv) {
      if (json_object_is_type(qv, json_type_object) ||
          json_object_is_type(qv, json_type_array)) {
        char field[300];
        snprintf(field, sizeof field, "query.%.200s", qn);
        o365_buf_free(&path);
        job_free(j);
        return refuse(call, field,
                      "a query value must be a string, number "
                      "or boolean");
      }
      /* name encoded too: it is the flow's, not a constant of ours */
      o365_buf_put(&path, strchr(path.data ? path.data : "", '?') ? "&" : "?");
      o365_buf_pct(&path, qn);
      o365_buf_put(&path, "=");
      o365_buf_pct(&path, qv ? json_object_get_string(qv) : "");
    }
  }
  int follow = json_object_object_get_ex(in, "follow_next_link", &v) &&
               json_object_get_boolean(v);
  int64_t maxp = 10;
  o365_json_int64(in, "max_pages", &maxp);
  j->max_pages = (int)maxp;
  o365_graph_opts o = {.method = method,
                       .path = path.data,
                       .headers = (const char *const *)j->headers,
                       .body = body};
  if (path.oom) {
    rc = WFC_ENOMEM;
  } else if (follow && strcmp(method, "GET") == 0 && body == NULL) {
    /* The pages' items, kept as text where the host can. */
    j->items = o365_list_new(call);
    rc = j->items == NULL ? WFC_ENOMEM : o365_graph_pages(call, &o, on_page, j);
  } else {
    rc = o365_graph_send(call, &o, on_single, j, NULL);
  }
  o365_buf_free(&path);
  if (rc == WFC_EHEADER) {
    job_free(j);
    return refuse(call, "headers", "CR or LF in a header");
  }
  if (rc == WFC_EINVAL) {
    /* url_path() leaves the Graph layer nothing to refuse: kept so that a
     * refusal there can never reach the user as a bare code. */
    job_free(j);
    return refuse(call, "relative_url", "not a path the Graph layer accepts");
  }
  if (rc != 0)
    job_free(j);
  return rc;
}

const wfc_card_desc o365_card_custom_api_action = {
    .id = "custom_api_action",
    .name = "Custom API Action",
    .description = "Makes an authenticated Microsoft Graph request relative "
                   "to the connection's Graph base and returns its status, "
                   "headers and body.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
