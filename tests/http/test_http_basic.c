/* test_http_basic.c - the HTTP engine against ts_server: GET/POST/other
 * methods, headers both ways, validation before sending, body cap, network
 * errors and their messages, a request sent from a callback, and which
 * requests carry a credential (their response in secret memory). */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include "http_test.h"
#include "secmem.h"

static json_object *parse(const result *r) {
  json_object *o = json_tokener_parse(r->body);
  assert_non_null(o);
  return o;
}

static const char *jstr(json_object *o, const char *k) {
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v))
    return NULL;
  return json_object_get_string(v);
}

static const char *jhdr(json_object *o, const char *name) {
  json_object *hs;
  assert_true(json_object_object_get_ex(o, "headers", &hs));
  return jstr(hs, name);
}

static void get_basic(void **state) {
  fixture f;
  result r = {.want_hdr = "X-TEST"};
  const char *hs[] = {"X-Test: one", "x-test: two", "Cache-Control: no-store",
                      NULL};
  ts_route rt = {
      .method = "GET", .path = "/hello", .body = "hello world", .headers = hs};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);

  wfc_http_req q = req_make("GET", fx_url(&f, "/hello"));
  wfc_http *h = NULL;
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, &h), 0);
  assert_non_null(h);
  assert_int_equal(r.calls, 0); /* never inside send */
  assert_int_equal(wfc__http_engine_pending(f.e), 1);
  run_until(&f, &r.calls, 1);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "hello world");
  assert_int_equal(r.body_len, 11);
  assert_string_equal(r.hdr, "two"); /* case-insensitive, last wins */
  assert_int_equal(wfc__http_engine_pending(f.e), 0);
  fx_close(&f);
  assert_int_equal(r.calls, 1);
  result_free(&r);
}

static void post_echo(void **state) {
  fixture f;
  result r = {0};
  const char *hs[] = {"X-Custom: v1", "Content-Type: text/plain", NULL};
  ts_route rt = {.path = "/echo", .echo = 1};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);

  wfc_http_req q = req_make("POST", fx_url(&f, "/echo"));
  q.headers = hs;
  q.body = "abc";
  q.body_len = 3;
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL), 0);
  run_until(&f, &r.calls, 1);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.status, 200);
  json_object *o = parse(&r);
  assert_string_equal(jstr(o, "method"), "POST");
  assert_string_equal(jstr(o, "path"), "/echo");
  assert_string_equal(jstr(o, "body"), "abc");
  assert_string_equal(jstr(o, "body_length"), "3");
  assert_string_equal(jhdr(o, "x-custom"), "v1");
  assert_string_equal(jhdr(o, "content-type"), "text/plain");
  assert_string_equal(jhdr(o, "content-length"), "3");
  assert_null(jhdr(o, "expect")); /* no 100-continue round trip */
  json_object_put(o);
  fx_close(&f);
  result_free(&r);
}

/* One engine, requests one after another: each gets its own method, body
 * and credential header, whatever the request before it had on the pooled
 * easy handle (same shape: only the request's options are set again;
 * another shape: reset) and in the reused, cleansed secret block of a
 * credential header (a shorter token after a longer one leaves nothing of
 * it behind). */
static void requests_in_turn_on_pooled_handles(void **state) {
  static const struct {
    const char *method, *body, *auth;
  } seq[] = {
      {"GET", NULL, "Authorization: Bearer LONGLONGLONGLONGLONGLONGLONGTOKEN"},
      {"GET", NULL, "Authorization: Bearer short"},
      {"POST", "a=1", "Authorization: Bearer mediumtoken"},
      {"POST", "bb=22", "Authorization: Bearer x"},
      {"PATCH", "{}", "Authorization: Bearer patchtoken"},
      {"GET", NULL, NULL},
      {"DELETE", NULL,
       "Authorization: Bearer LONGLONGLONGLONGLONGLONGLONGLONGLONG"},
      {"OPTIONS", NULL, "Authorization: Bearer opt"},
      {"PATCH", "{\"a\":1}", "Authorization: Bearer p2"},
      {"PATCH", "[]", NULL},
      {"GET", NULL, "Authorization: Bearer y"},
      {"HEAD", NULL, "Authorization: Bearer head"},
      {"GET", NULL, "Authorization: Bearer last"},
  };
  fixture f;
  ts_route rt = {.path = "/echo", .echo = 1};
  (void)state;
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  for (size_t i = 0; i < sizeof seq / sizeof *seq; i++) {
    result r = {0};
    const char *hs[] = {seq[i].auth, NULL};
    wfc_http_req q = req_make(seq[i].method, fx_url(&f, "/echo"));
    q.headers = hs;
    if (seq[i].body) {
      q.body = seq[i].body;
      q.body_len = strlen(seq[i].body);
    }
    assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL), 0);
    run_until(&f, &r.calls, 1);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    if (strcmp(seq[i].method, "HEAD") == 0) {
      assert_int_equal(r.body_len, 0);
      result_free(&r);
      continue;
    }
    json_object *o = parse(&r);
    assert_string_equal(jstr(o, "method"), seq[i].method);
    assert_string_equal(jstr(o, "body"), seq[i].body ? seq[i].body : "");
    if (seq[i].auth)
      assert_string_equal(jhdr(o, "authorization"),
                          seq[i].auth + strlen("Authorization: "));
    else
      assert_null(jhdr(o, "authorization"));
    json_object_put(o);
    result_free(&r);
  }
  fx_close(&f);
}

/* A kept-alive connection's socket poll is made once and started again
 * for each transfer on it; when the server closes the connection, its
 * poll goes with it and the next request's connection gets a new one. */
static void poll_kept_with_connection(void **state) {
  static const char *const closing[] = {"Connection: close", NULL};
  fixture f;
  ts_route echo = {.path = "/echo", .echo = 1};
  ts_route bye = {.path = "/bye", .headers = closing, .body = "bye"};
  wfc__http_stats st;
  (void)state;
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &echo);
  ts_server_route(f.srv, &bye);
  for (int i = 0; i < 11; i++) {
    result r = {0};
    wfc_http_req q = req_make("GET", fx_url(&f, i == 5 ? "/bye" : "/echo"));
    assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL), 0);
    run_until(&f, &r.calls, 1);
    assert_int_equal(r.error, 0);
    assert_int_equal(r.status, 200);
    result_free(&r);
    wfc__http_engine_stats(f.e, &st);
    assert_int_equal(st.polls, 0); /* idle: nothing watched */
    /* One connection up to /bye (closed after it), then a second one. */
    assert_int_equal(st.sockets_opened, i <= 5 ? 1 : 2);
    assert_int_equal(st.sockets_closed, i < 5 ? 0 : 1);
    assert_int_equal(st.polls_made, i <= 5 ? 1 : 2);
  }
  fx_close(&f);
}

static void other_methods(void **state) {
  static const char *methods[] = {"PUT", "PATCH", "DELETE", "OPTIONS", "POST"};
  fixture f;
  ts_route rt = {.path = "/echo", .echo = 1};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);

  for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
    result r = {0};
    wfc_http_req q = req_make(methods[i], fx_url(&f, "/echo"));
    assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL), 0);
    run_until(&f, &r.calls, 1);
    assert_int_equal(r.error, 0);
    json_object *o = parse(&r);
    assert_string_equal(jstr(o, "method"), methods[i]);
    assert_string_equal(jstr(o, "body_length"), "0");
    /* Bodiless POST/PUT/PATCH still say Content-Length: 0 (no 411). */
    if (strcmp(methods[i], "DELETE") && strcmp(methods[i], "OPTIONS"))
      assert_string_equal(jhdr(o, "content-length"), "0");
    json_object_put(o);
    result_free(&r);
  }

  /* HEAD: status and headers, no body. */
  result r = {.want_hdr = "content-length"};
  ts_route big = {.path = "/big", .stream_bytes = 5000};
  ts_server_route(f.srv, &big);
  wfc_http_req q = req_make("HEAD", fx_url(&f, "/big"));
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL), 0);
  run_until(&f, &r.calls, 1);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.body_len, 0);
  assert_string_equal(r.hdr, "5000");
  result_free(&r);
  fx_close(&f);
}

static void error_status_body_in_memory(void **state) {
  fixture f;
  result r = {0}, r404 = {0};
  const char *hs[] = {"Content-Type: application/json", NULL};
  ts_route rt = {.path = "/busy",
                 .status = 429,
                 .headers = hs,
                 .body = "{\"error\":{\"code\":\"TooManyRequests\"}}"};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  wfc_http_req q = req_make("GET", fx_url(&f, "/busy"));
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL), 0);
  wfc_http_req q2 = req_make("GET", fx_url(&f, "/nowhere"));
  assert_int_equal(wfc__http_send(f.e, &q2, NULL, on_result, &r404, NULL), 0);
  run_until(&f, &r404.calls, 1);
  run_until(&f, &r.calls, 1);
  assert_int_equal(r.error, 0); /* a status is not an engine error */
  assert_int_equal(r.status, 429);
  assert_string_equal(r.body, "{\"error\":{\"code\":\"TooManyRequests\"}}");
  assert_int_equal(r404.status, 404);
  assert_string_equal(r404.body, "no route");
  fx_close(&f);
  result_free(&r);
  result_free(&r404);
}

/* Every ASCII byte in a header name: a token character (RFC 9110:
 * letters, digits, !#$%&'*+-.^_`|~) is accepted and the request sent, any
 * other refused before sending. */
static void header_name_characters(void **state) {
  fixture f;
  ts_route rt = {.path = "*", .echo = 1};
  (void)state;
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  char good[200];
  snprintf(good, sizeof good, "%s/x", ts_server_url(f.srv));
  for (int ch = 1; ch < 128; ch++) {
    char name[32];
    if (ch == ':')
      continue; /* ends the name */
    snprintf(name, sizeof name, "X%cY: v", ch);
    const char *hs[] = {name, NULL};
    int tchar = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
                (ch >= '0' && ch <= '9') || strchr("!#$%&'*+-.^_`|~", ch);
    wfc_http_req q = req_make("GET", good);
    result ok = {0};
    q.headers = hs;
    int rc = wfc__http_send(f.e, &q, NULL, on_result, &ok, NULL);
    if (!tchar) {
      assert_int_equal(rc, WFC_EHEADER);
      continue;
    }
    assert_int_equal(rc, 0);
    run_until(&f, &ok.calls, 1);
    assert_int_equal(ok.status, 200);
    result_free(&ok);
  }
  fx_close(&f);
}

static void validation_refuses_before_sending(void **state) {
  fixture f;
  result r = {0};
  ts_stats st;
  ts_route rt = {.path = "*", .echo = 1};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  char good[200];
  snprintf(good, sizeof good, "%s/x", ts_server_url(f.srv));

  static const char *bad_headers[][2] = {
      {"X-A: b\r\nX-Evil: 1", NULL}, /* header injection */
      {"X-A: b\n", NULL},
      {"X-A: b\rc", NULL},
      {"X-A b", NULL},   /* no colon */
      {"X A: b", NULL},  /* name not a token */
      {": b", NULL},     /* empty name */
      {"X(A): b", NULL}, /* separator in name */
      {"X\rA: b", NULL}, /* CR in the name */
  };
  for (size_t i = 0; i < sizeof bad_headers / sizeof *bad_headers; i++) {
    const char *hs[] = {"Accept: */*", bad_headers[i][0], NULL};
    wfc_http_req q = req_make("GET", good);
    q.headers = hs;
    wfc_http *h = (wfc_http *)&r;
    assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, &h),
                     WFC_EHEADER);
    assert_null(h);
  }
  static const char *bad_methods[] = {"", "GE T", "GET\r\n", "G(ET",
                                      "AVERYLONGMETHODNAMETHATISOVERTHIRTYTWO"};
  for (size_t i = 0; i < sizeof bad_methods / sizeof *bad_methods; i++) {
    wfc_http_req q = req_make(bad_methods[i], good);
    assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL),
                     WFC_EINVAL);
  }
  static const char *bad_urls[] = {"",
                                   "/relative/path",
                                   "ftp://127.0.0.1/x",
                                   "file:///etc/passwd",
                                   "http://",
                                   "http://127.0.0.1/a\r\nX-Evil: 1",
                                   "http://127.0.0.1/a b"};
  for (size_t i = 0; i < sizeof bad_urls / sizeof *bad_urls; i++) {
    wfc_http_req q = req_make("GET", bad_urls[i]);
    assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL),
                     WFC_EINVAL);
  }
  wfc_http_req q = req_make("GET", NULL);
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL),
                   WFC_EINVAL);
  q = req_make("POST", good);
  q.body_len = 3; /* no body pointer */
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL),
                   WFC_EINVAL);
  q = req_make("GET", good);
  assert_int_equal(wfc__http_send(f.e, &q, NULL, NULL, &r, NULL), WFC_EINVAL);
  q.size = 8; /* older than any layout we know */
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL),
                   WFC_EINVAL);

  /* Let the loop run: nothing was queued, nothing reaches the server. */
  assert_int_equal(wfc__http_engine_pending(f.e), 0);
  uv_run(&f.loop, UV_RUN_NOWAIT);
  assert_int_equal(r.calls, 0);
  ts_server_stats(f.srv, &st);
  assert_int_equal(st.requests, 0);
  assert_int_equal(st.connections, 0);

  /* The same request with valid headers goes through. */
  const char *ok[] = {"X-A: b", "X-Empty:", NULL};
  q = req_make("GET", good);
  q.headers = ok;
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL), 0);
  run_until(&f, &r.calls, 1);
  assert_int_equal(r.status, 200);
  ts_server_stats(f.srv, &st);
  assert_int_equal(st.requests, 1);
  fx_close(&f);
  result_free(&r);
}

static void body_cap(void **state) {
  fixture f;
  result r = {0}, r2 = {0}, r3 = {0};
  wfc__http_opts o = {.size = sizeof o, .default_max_body = 4096};
  ts_route rt = {.path = "/big", .stream_bytes = 100000};
  ts_route small = {.path = "/small", .stream_bytes = 4000};
  fx_open(&f, &o);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  ts_server_route(f.srv, &small);

  wfc_http_req q = req_make("GET", fx_url(&f, "/big"));
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL), 0);
  q.max_body = 200000; /* a per-request cap above the engine's */
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r2, NULL), 0);
  wfc_http_req q3 = req_make("GET", fx_url(&f, "/small"));
  assert_int_equal(wfc__http_send(f.e, &q3, NULL, on_result, &r3, NULL), 0);
  run_until(&f, &r.calls, 1);
  run_until(&f, &r2.calls, 1);
  run_until(&f, &r3.calls, 1);
  assert_int_equal(r.error, WFC_ETOOBIG);
  assert_non_null(strstr(r.msg, "4096"));
  assert_int_equal(r.body_len, 0);
  assert_int_equal(r2.error, 0);
  assert_int_equal(r2.body_len, 100000);
  for (size_t i = 0; i < r2.body_len; i++)
    if ((unsigned char)r2.body[i] != ts_pattern(i))
      fail_msg("byte %zu differs", i);
  assert_int_equal(r3.error, 0);
  assert_int_equal(r3.body_len, 4000);
  fx_close(&f);
  result_free(&r);
  result_free(&r2);
  result_free(&r3);
}

static void network_errors_and_messages(void **state) {
  fixture f;
  result r = {0}, rd = {0};
  char url[256];
  ts_route drop = {.path = "/drop", .drop = 1};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &drop);

  /* A port nobody listens on: take one from a server we stop. */
  ts_server *gone;
  assert_int_equal(ts_server_start(NULL, &gone), 0);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/secret/path?token=SECRETQ",
           (unsigned)ts_server_port(gone));
  ts_server_stop(gone);

  const char *hs[] = {"Authorization: Bearer SECRETTOKEN", NULL};
  wfc_http_req q = req_make("GET", url);
  q.headers = hs;
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL), 0);
  wfc_http_req qd = req_make("GET", fx_url(&f, "/drop"));
  assert_int_equal(wfc__http_send(f.e, &qd, NULL, on_result, &rd, NULL), 0);
  run_until(&f, &r.calls, 1);
  run_until(&f, &rd.calls, 1);
  assert_int_equal(r.error, WFC_ENET);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.msg, "GET http://127.0.0.1:"));
  assert_null(strstr(r.msg, "SECRET")); /* no header, path or query */
  assert_null(strstr(r.msg, "/secret"));
  assert_int_equal(rd.error, WFC_ENET);
  assert_true(strlen(rd.msg) > 0);
  fx_close(&f);
  result_free(&r);
  result_free(&rd);
}

static void truncated_body(void **state) {
  fixture f;
  result r = {0}, r2 = {0};
  ts_route rt = {.path = "/cut", .stream_bytes = 200000, .truncate_at = 70000};
  ts_route ok = {.path = "/ok", .body = "fine"};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  ts_server_route(f.srv, &ok);
  wfc_http_req q = req_make("GET", fx_url(&f, "/cut"));
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL), 0);
  run_until(&f, &r.calls, 1);
  /* A body shorter than its Content-Length is a network error, never a
   * success with a short body. */
  assert_int_equal(r.error, WFC_ENET);
  assert_int_equal(r.body_len, 0);
  assert_true(strlen(r.msg) > 0);
  /* The broken connection is not reused. */
  wfc_http_req q2 = req_make("GET", fx_url(&f, "/ok"));
  assert_int_equal(wfc__http_send(f.e, &q2, NULL, on_result, &r2, NULL), 0);
  run_until(&f, &r2.calls, 1);
  assert_int_equal(r2.error, 0);
  assert_string_equal(r2.body, "fine");
  fx_close(&f);
  result_free(&r);
  result_free(&r2);
}

/* A host name goes through libcurl's threaded resolver, whose socketpair
 * the engine polls without owning it, and maybe through ::1 first (the
 * server listens on 127.0.0.1 only). Many at once, several rounds. */
static void resolve_localhost(void **state) {
  fixture f;
  ts_route rt = {.path = "/hello", .body = "hi"};
  char url[128];
  result r[20];
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  snprintf(url, sizeof url, "http://localhost:%u/hello",
           (unsigned)ts_server_port(f.srv));
  for (int round = 0; round < 3; round++) {
    int done = 0;
    memset(r, 0, sizeof r);
    for (int i = 0; i < 20; i++) {
      wfc_http_req q = req_make("GET", url);
      assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r[i], NULL),
                       0);
    }
    for (int i = 0; i < 20; i++) {
      run_until(&f, &r[i].calls, 1);
      done += r[i].calls;
      assert_int_equal(r[i].error, 0);
      assert_int_equal(r[i].status, 200);
      assert_string_equal(r[i].body, "hi");
      result_free(&r[i]);
    }
    assert_int_equal(done, 20);
  }
  fx_close(&f);
}

/* A callback that sends the next request, chain_left times. */
typedef struct chain {
  fixture *f;
  int left;
  int calls;
  int errors;
  int sent_ok;
} chain;

static void on_chain(void *arg, const wfc_http_res *res) {
  chain *c = arg;
  c->calls++;
  if (res->error || res->status != 200)
    c->errors++;
  if (c->left-- > 0) {
    wfc_http_req q = req_make("GET", fx_url(c->f, "/hello"));
    int before = c->calls;
    if (wfc__http_send(c->f->e, &q, NULL, on_chain, c, NULL) == 0)
      c->sent_ok++;
    assert_int_equal(c->calls, before); /* not called inside send */
  }
}

static void send_from_callback(void **state) {
  fixture f;
  chain c = {.f = &f, .left = 20};
  ts_route rt = {.path = "/hello", .body = "hi"};
  ts_stats st;
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  wfc_http_req q = req_make("GET", fx_url(&f, "/hello"));
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_chain, &c, NULL), 0);
  run_until(&f, &c.calls, 21);
  assert_int_equal(c.calls, 21);
  assert_int_equal(c.sent_ok, 20);
  assert_int_equal(c.errors, 0);
  ts_server_stats(f.srv, &st);
  assert_int_equal(st.requests, 21);
  assert_int_equal(st.connections, 1); /* kept alive and reused */
  fx_close(&f);
}

/* A request whose body carries a credential (any token request) gets its
 * response in secret memory (docs/security.md); other bodies do not. The
 * echo shows the request went out unchanged either way. */
static int secret_res; /* the last response body was secret memory */

static void on_result_secret(void *arg, const wfc_http_res *res) {
  secret_res = wfc__secmem_owns(res->body);
  on_result(arg, res);
}

static void credential_bodies(void **state) {
  static const struct {
    const char *body;
    int secret;
  } cases[] = {
      {"grant_type=refresh_token&refresh_token=1.Aabc&client_id=x", 1},
      {"client_id=x&code=abc&code_verifier=v", 1},
      {"token=abc&token_type_hint=refresh_token", 1},
      {"{\"grant_type\" : \"client_credentials\"}", 1},
      {"{\"subject\":\"a code=b\",\"body\":{\"content\":\"tokens\"}}", 0},
      {"mycode=1&barcode=2", 0},
      {"plain text", 0},
  };
  fixture f;
  ts_route rt = {.path = "/echo", .echo = 1};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  uint64_t n = 0;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    result r = {0};
    wfc_http_req q = req_make("POST", fx_url(&f, "/echo"));
    q.body = cases[i].body;
    q.body_len = strlen(cases[i].body);
    assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result_secret, &r, NULL),
                     0);
    run_until(&f, &r.calls, 1);
    assert_int_equal(r.status, 200);
    json_object *o = parse(&r);
    assert_string_equal(jstr(o, "body"), cases[i].body);
    json_object_put(o);
    if (secret_res != cases[i].secret)
      fail_msg("%s: response %s secret memory", cases[i].body,
               secret_res ? "in" : "not in");
    n += (uint64_t)cases[i].secret;
    wfc__http_stats st;
    wfc__http_engine_stats(f.e, &st);
    assert_int_equal(st.secret_requests, n);
    result_free(&r);
  }
  fx_close(&f);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(get_basic),
      cmocka_unit_test(post_echo),
      cmocka_unit_test(other_methods),
      cmocka_unit_test(requests_in_turn_on_pooled_handles),
      cmocka_unit_test(poll_kept_with_connection),
      cmocka_unit_test(error_status_body_in_memory),
      cmocka_unit_test(validation_refuses_before_sending),
      cmocka_unit_test(header_name_characters),
      cmocka_unit_test(body_cap),
      cmocka_unit_test(network_errors_and_messages),
      cmocka_unit_test(truncated_body),
      cmocka_unit_test(resolve_localhost),
      cmocka_unit_test(send_from_callback),
      cmocka_unit_test(credential_bodies),
  };
  return cmocka_run_group_tests(tests, global_setup, global_teardown);
}
