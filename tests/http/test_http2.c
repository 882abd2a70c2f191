/* test_http2.c - the engine over HTTP/2 (ALPN) against a real HTTP/2
 * server: nginx from Debian, started by the test with a generated config in
 * a temporary directory, TLS with a certificate of a CA made at test time,
 * and a ts_server (plain HTTP) behind it for slow, large and echoed
 * answers. nginx's access log ($server_protocol $connection
 * $connection_requests) says which protocol and which TCP connection
 * served each request; the engine's socket counter says the same from the
 * client side.
 *
 * nginx missing fails the whole group (CI installs it through
 * scripts/install-deps); WFC_NGINX may name another binary, WFC_KEEP_H2=1
 * keeps nginx's directory (config, logs) for a look. docs/http.md lists
 * what each case checks. */
#define _XOPEN_SOURCE 700 /* nftw, FTW_DEPTH, FTW_PHYS, <uv.h>, nanosleep */
#include "http_test.h"
#include "tsys.h"

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NGINX_BIN  "/usr/sbin/nginx"
#define BIG        ((uint64_t)10 << 20) /* the streamed download and upload */
#define SLOW_MS    800                  /* upstream delay of /slow */
#define NCONC      50                   /* concurrent requests, one origin */
#define MAX_LINES  256
#define DRIP_BYTES (4 * 16384) /* /drip: 4 chunks, 300 ms apart */

static ts_tls ca_a, ca_b; /* nginx's certificate is signed by ca_a */
static ts_server *up;     /* the upstream behind nginx */
static char dir[64];      /* nginx's prefix: config, logs, temp files */
static char base[64];     /* "https://127.0.0.1:PORT" */
static pid_t ngx_pid;
static char big_sha[65]; /* SHA-256 (hex) of BIG bytes of ts_pattern */

/* ---- nginx ------------------------------------------------------------- */

static int port_open(unsigned short port) {
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), ok;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
  if (fd >= 0)
    close(fd);
  return ok;
}

static int write_conf(const char *path, unsigned short port) {
  FILE *f = fopen(path, "w");
  if (!f)
    return -1;
  fprintf(f,
          "daemon off;\nmaster_process off;\nworker_processes 1;\n"
          "pid %s/nginx.pid;\nerror_log %s/error.log warn;\n"
          "events { worker_connections 512; }\n"
          "http {\n"
          "  default_type application/json;\n"
          "  log_format h2 '$server_protocol $connection $connection_requests "
          "$status $request_method $uri $request_time';\n"
          "  access_log %s/access.log h2;\n"
          "  client_body_temp_path %s/body;\n  proxy_temp_path %s/proxy;\n"
          "  fastcgi_temp_path %s/fcgi;\n  uwsgi_temp_path %s/uwsgi;\n"
          "  scgi_temp_path %s/scgi;\n"
          "  client_max_body_size 32m;\n"
          "  server {\n"
          "    listen 127.0.0.1:%u ssl http2;\n" /* nginx 1.22 syntax */
          "    ssl_certificate %s;\n    ssl_certificate_key %s;\n"
          "    location = /hello {\n"
          "      add_header X-Server-Protocol $server_protocol always;\n"
          "      return 200 '{\"hello\":\"h2\"}';\n    }\n"
          "    location / {\n"
          "      proxy_pass %s;\n"
          "      proxy_buffering off;\n      proxy_request_buffering off;\n"
          "    }\n  }\n}\n",
          dir, dir, dir, dir, dir, dir, dir, dir, (unsigned)port,
          ca_a.cert_file, ca_a.key_file, ts_server_url(up));
  return fclose(f) == 0 ? 0 : -1;
}

static int file_has(const char *path, const char *needle) {
  char buf[8192];
  FILE *f = fopen(path, "r");
  size_t n;
  if (!f)
    return 0;
  n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  return strstr(buf, needle) != NULL;
}

/* Starts nginx on a free port; a port taken between our probe and nginx's
 * bind makes nginx exit, and we try another. */
static int nginx_start(void) {
  const char *bin = getenv("WFC_NGINX") ? getenv("WFC_NGINX") : NGINX_BIN;
  char conf[128], elog[128];

  if (access(bin, X_OK) != 0) {
    fprintf(stderr,
            "test_http2: nginx not found at %s: run scripts/install-deps "
            "(it installs Debian's nginx), or set WFC_NGINX\n",
            bin);
    return -1;
  }
  snprintf(conf, sizeof conf, "%s/nginx.conf", dir);
  snprintf(elog, sizeof elog, "%s/error.log", dir);
  for (int attempt = 0; attempt < 5; attempt++) {
    int free = tsys_free_port();
    unsigned short port = free > 0 ? (unsigned short)free : 0;
    int status;
    if (!port || write_conf(conf, port))
      return -1;
    ngx_pid = fork();
    if (ngx_pid < 0)
      return -1;
    if (ngx_pid == 0) {
      execl(bin, "nginx", "-p", dir, "-c", conf, "-e", elog, (char *)NULL);
      _exit(127);
    }
    for (int i = 0; i < 500; i++) { /* up to 5 s */
      if (waitpid(ngx_pid, &status, WNOHANG) == ngx_pid) {
        ngx_pid = 0;
        break;
      }
      if (port_open(port)) {
        snprintf(base, sizeof base, "https://127.0.0.1:%u", (unsigned)port);
        return 0;
      }
      tsys_sleep_ms(10);
    }
    if (ngx_pid) { /* alive but not listening: give up */
      kill(ngx_pid, SIGKILL);
      waitpid(ngx_pid, &status, 0);
      ngx_pid = 0;
      break;
    }
    if (!file_has(elog, "Address already in use"))
      break;
  }
  fprintf(stderr, "test_http2: nginx did not start; see %s\n", elog);
  return -1;
}

static void nginx_stop(void) {
  int status;
  if (!ngx_pid)
    return;
  kill(ngx_pid, SIGQUIT); /* graceful: finishes open requests, exits */
  for (int i = 0; i < 500; i++) {
    if (waitpid(ngx_pid, &status, WNOHANG) == ngx_pid) {
      ngx_pid = 0;
      return;
    }
    tsys_sleep_ms(10);
  }
  kill(ngx_pid, SIGKILL);
  waitpid(ngx_pid, &status, 0);
  ngx_pid = 0;
}

/* ---- the access log ---------------------------------------------------- */

typedef struct logline {
  char proto[16];
  long conn, nreq;
  int status;
  char method[16];
  char uri[64];
} logline;

static long log_size(void) {
  char path[128];
  struct stat st;
  snprintf(path, sizeof path, "%s/access.log", dir);
  return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* The lines written after offset from. */
static int log_read(long from, logline *out, int max) {
  char path[128], line[512];
  int n = 0;
  FILE *f;
  snprintf(path, sizeof path, "%s/access.log", dir);
  f = fopen(path, "r");
  if (!f)
    return 0;
  fseek(f, from, SEEK_SET);
  while (n < max && fgets(line, sizeof line, f))
    if (sscanf(line, "%15s %ld %ld %d %15s %63s", out[n].proto, &out[n].conn,
               &out[n].nreq, &out[n].status, out[n].method, out[n].uri) == 6)
      n++;
  fclose(f);
  return n;
}

/* nginx writes a request's line after its last byte went out, so the
 * client may have the answer first: wait (up to 3 s) for want lines. */
static int log_wait(long from, logline *out, int want) {
  int n = 0;
  for (int i = 0; i < 300 && (n = log_read(from, out, MAX_LINES)) < want; i++)
    tsys_sleep_ms(10);
  return n;
}

static int distinct_conns(const logline *l, int n) {
  int d = 0;
  for (int i = 0; i < n; i++) {
    int seen = 0;
    for (int j = 0; j < i; j++)
      seen |= l[j].conn == l[i].conn;
    d += !seen;
  }
  return d;
}

static void assert_all_h2(const logline *l, int n) {
  for (int i = 0; i < n; i++)
    if (strcmp(l[i].proto, "HTTP/2.0") != 0)
      fail_msg("%s %s was served over %s, not HTTP/2.0", l[i].method, l[i].uri,
               l[i].proto);
}

/* ---- set-up ------------------------------------------------------------ */

static void hex_of(const unsigned char *md, char *hex) {
  for (int i = 0; i < 32; i++)
    snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static int rm_entry(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  return remove(p);
}

static int group_setup(void **state) {
  ts_route slow = {
      .path = "/slow", .body = "{\"slow\":true}", .delay_ms = SLOW_MS};
  ts_route big = {.path = "/big", .stream_bytes = BIG};
  ts_route echo = {.path = "/up", .echo = 1};
  ts_route drip = {
      .path = "/drip", .stream_bytes = DRIP_BYTES, .chunk_delay_ms = 300};
  curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);

  if (global_setup(state))
    return -1;
  if (!(cv->features & CURL_VERSION_HTTP2)) {
    fprintf(stderr, "test_http2: libcurl %s has no HTTP/2 support\n",
            cv->version);
    return -1;
  }
  if (ts_tls_make(&ca_a) || ts_tls_make(&ca_b))
    return -1;
  if (ts_server_start(NULL, &up) || ts_server_route(up, &slow) ||
      ts_server_route(up, &big) || ts_server_route(up, &echo) ||
      ts_server_route(up, &drip))
    return -1;
  snprintf(dir, sizeof dir, "/tmp/wfc-h2-XXXXXX");
  if (!mkdtemp(dir)) {
    dir[0] = '\0';
    return -1;
  }
  pattern_sha256_hex(BIG, big_sha);
  return nginx_start();
}

static int group_teardown(void **state) {
  nginx_stop();
  if (up)
    ts_server_stop(up);
  if (dir[0] && !getenv("WFC_KEEP_H2"))
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
  ts_tls_cleanup(&ca_a);
  ts_tls_cleanup(&ca_b);
  return global_teardown(state);
}

static char *url(const char *path) {
  static char u[128];
  snprintf(u, sizeof u, "%s%s", base, path);
  return u;
}

static void open_a(fixture *f) {
  wfc__http_opts o = {.size = sizeof o, .ca_bundle = ca_a.ca_file};
  fx_open(f, &o);
}

static void get(fixture *f, const char *path, result *r, wfc_http **out) {
  wfc_http_req q = req_make("GET", url(path));
  assert_int_equal(wfc__http_send(f->e, &q, NULL, on_result, r, out), 0);
}

static uint64_t sockets_opened(fixture *f) {
  wfc__http_stats st;
  wfc__http_engine_stats(f->e, &st);
  return st.sockets_opened;
}

/* ---- tests ------------------------------------------------------------- */

/* The CA from WFC_CA_BUNDLE; ALPN picks h2; both sides agree. */
static void h2_get_negotiates_http2(void **state) {
  fixture f;
  result r = {.want_hdr = "X-Server-Protocol"}, r2 = {0};
  logline l[MAX_LINES];
  long from = log_size();

  setenv("WFC_CA_BUNDLE", ca_a.ca_file, 1);
  fx_open(&f, NULL);
  unsetenv("WFC_CA_BUNDLE");
  get(&f, "/hello", &r, NULL);
  run_until(&f, &r.calls, 1);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.status, 200);
  assert_string_equal(r.body, "{\"hello\":\"h2\"}");
  assert_string_equal(r.hdr, "HTTP/2.0");
  get(&f, "/hello", &r2, NULL); /* the same connection, stream 2 */
  run_until(&f, &r2.calls, 1);
  assert_int_equal(r2.status, 200);
  assert_int_equal(sockets_opened(&f), 1);
  fx_close(&f);

  assert_int_equal(log_wait(from, l, 2), 2);
  assert_all_h2(l, 2);
  assert_int_equal(l[0].conn, l[1].conn);
  assert_int_equal(l[0].nreq, 1);
  assert_int_equal(l[1].nreq, 2);
  result_free(&r);
  result_free(&r2);
}

/* 50 requests sent at once on a fresh engine: one TCP connection, and
 * upstream sees far more of them in flight at once than the 8 per host
 * HTTP/1.1 would allow: multiplexed, not queued. */
static void h2_concurrent_one_connection(void **state) {
  fixture f;
  static result r[NCONC];
  static logline l[MAX_LINES];
  ts_stats st;
  long from = log_size(), maxreq = 0;
  uint64_t t0;
  int n;

  memset(r, 0, sizeof r);
  ts_server_reset_stats(up);
  open_a(&f);
  t0 = uv_hrtime();
  for (int i = 0; i < NCONC; i++)
    get(&f, "/slow", &r[i], NULL);
  for (int i = 0; i < NCONC; i++)
    run_until(&f, &r[i].calls, 1);
  for (int i = 0; i < NCONC; i++) {
    if (r[i].error || r[i].status != 200)
      fail_msg("request %d: error %d status %ld: %s", i, r[i].error,
               r[i].status, r[i].msg);
    assert_string_equal(r[i].body, "{\"slow\":true}");
  }
  print_message("%d x /slow (%d ms each) in %llu ms\n", NCONC, SLOW_MS,
                (unsigned long long)((uv_hrtime() - t0) / 1000000));
  assert_int_equal(sockets_opened(&f), 1);
  fx_close(&f);

  n = log_wait(from, l, NCONC);
  assert_int_equal(n, NCONC);
  assert_all_h2(l, n);
  assert_int_equal(distinct_conns(l, n), 1);
  for (int i = 0; i < n; i++)
    if (l[i].nreq > maxreq)
      maxreq = l[i].nreq;
  assert_int_equal(maxreq, NCONC);
  ts_server_stats(up, &st);
  print_message("upstream: %llu requests, at most %llu at once\n",
                (unsigned long long)st.requests,
                (unsigned long long)st.max_open);
  assert_int_equal(st.requests, NCONC);
  assert_true(st.max_open > 8);
  for (int i = 0; i < NCONC; i++)
    result_free(&r[i]);
}

typedef struct shasink {
  EVP_MD_CTX *sha;
  uint64_t got;
} shasink;

static int sha_write(void *ctx, const void *buf, size_t len) {
  shasink *s = ctx;
  s->got += len;
  return EVP_DigestUpdate(s->sha, buf, len) == 1 ? 0 : -1;
}

static ssize_t pattern_read(void *ctx, uint64_t off, void *buf, size_t len) {
  return (ssize_t)pattern_fill(BIG, off, buf, len);
}

static void h2_download_10mib(void **state) {
  fixture f;
  result r = {0};
  shasink s = {.sha = EVP_MD_CTX_new()};
  wfc__http_io io = {.write = sha_write, .ctx = &s};
  wfc_http_req q = req_make("GET", url("/big"));
  unsigned char md[32];
  unsigned mdlen;
  char hex[65];
  logline l[MAX_LINES];
  long from = log_size();

  EVP_DigestInit_ex(s.sha, EVP_sha256(), NULL);
  open_a(&f);
  assert_int_equal(wfc__http_send(f.e, &q, &io, on_result, &r, NULL), 0);
  run_until(&f, &r.calls, 1);
  fx_close(&f);
  EVP_DigestFinal_ex(s.sha, md, &mdlen);
  EVP_MD_CTX_free(s.sha);
  hex_of(md, hex);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.status, 200);
  assert_int_equal(r.sunk, BIG);
  assert_int_equal(s.got, BIG);
  assert_string_equal(hex, big_sha);
  assert_int_equal(log_wait(from, l, 1), 1);
  assert_all_h2(l, 1);
  assert_string_equal(l[0].uri, "/big");
  result_free(&r);
}

static void h2_upload_10mib(void **state) {
  fixture f;
  result r = {0};
  wfc__http_io io = {.read = pattern_read};
  wfc_http_req q = req_make("PUT", url("/up"));
  const char *hs[] = {"Content-Type: application/octet-stream", NULL};
  json_object *o, *v;
  logline l[MAX_LINES];
  long from = log_size();

  q.headers = hs;
  q.body_length = BIG;
  open_a(&f);
  assert_int_equal(wfc__http_send(f.e, &q, &io, on_result, &r, NULL), 0);
  run_until(&f, &r.calls, 1);
  fx_close(&f);
  assert_int_equal(r.error, 0);
  assert_int_equal(r.status, 200);
  o = json_tokener_parse(r.body);
  assert_non_null(o);
  assert_true(json_object_object_get_ex(o, "body_length", &v));
  assert_int_equal(json_object_get_int64(v), (int64_t)BIG);
  assert_true(json_object_object_get_ex(o, "body_sha256", &v));
  assert_string_equal(json_object_get_string(v), big_sha);
  json_object_put(o);
  assert_int_equal(log_wait(from, l, 1), 1);
  assert_all_h2(l, 1);
  assert_string_equal(l[0].method, "PUT");
  result_free(&r);
}

typedef struct canceler {
  uv_timer_t t;
  wfc_http *victim;
} canceler;

static void cancel_cb(uv_timer_t *t) {
  canceler *c = t->data;
  wfc__http_cancel(c->victim);
  uv_close((uv_handle_t *)t, NULL);
}

/* Cancelling one stream in flight resets that stream only: the others on
 * the connection complete, and the connection serves the next request. */
static void h2_cancel_keeps_other_streams(void **state) {
  enum { N = 5 };
  fixture f;
  result warm = {0}, r[N], victim = {0}, after = {0};
  canceler c;
  logline l[MAX_LINES];
  long from = log_size();
  int n = 0, slow = 0;
  long last_hello = 0;

  memset(r, 0, sizeof r);
  open_a(&f);
  get(&f, "/hello", &warm, NULL); /* the connection, known to be h2 */
  run_until(&f, &warm.calls, 1);
  assert_int_equal(warm.status, 200);
  for (int i = 0; i < N; i++)
    get(&f, "/slow", &r[i], NULL);
  get(&f, "/slow", &victim, &c.victim);
  uv_timer_init(&f.loop, &c.t);
  c.t.data = &c;
  uv_timer_start(&c.t, cancel_cb, SLOW_MS / 4, 0); /* all 6 are upstream */
  run_until(&f, &victim.calls, 1);
  assert_int_equal(victim.error, WFC_ECANCELED);
  for (int i = 0; i < N; i++) /* called back early, not with the others */
    assert_int_equal(r[i].calls, 0);
  for (int i = 0; i < N; i++) {
    run_until(&f, &r[i].calls, 1);
    assert_int_equal(r[i].error, 0);
    assert_int_equal(r[i].status, 200);
  }
  get(&f, "/hello", &after, NULL);
  run_until(&f, &after.calls, 1);
  assert_int_equal(after.status, 200);
  assert_int_equal(sockets_opened(&f), 1);
  fx_close(&f);

  /* nginx 1.22 logs a reset stream of a proxied request when upstream
   * answers (status 200, body dropped). */
  n = log_wait(from, l, N + 3);
  assert_int_equal(n, N + 3);
  assert_all_h2(l, n);
  assert_int_equal(distinct_conns(l, n), 1);
  for (int i = 0; i < n; i++) {
    slow += strcmp(l[i].uri, "/slow") == 0;
    if (strcmp(l[i].uri, "/hello") == 0 && l[i].nreq > last_hello)
      last_hello = l[i].nreq;
  }
  assert_int_equal(slow, N + 1);
  assert_int_equal(last_hello, N + 3); /* after the reset, same connection */
  result_free(&warm);
  result_free(&victim);
  result_free(&after);
  for (int i = 0; i < N; i++)
    result_free(&r[i]);
}

/* A fresh origin: 8 long downloads (headers at once, the body over ~1 s)
 * fill the engine's pre-HTTP/2 cap of 8. The first HTTP/2 response
 * headers lift it, so a 9th request runs beside them, multiplexed, and
 * answers before any of them has ended. */
static void h2_known_at_first_headers(void **state) {
  enum { N = 8 };
  fixture f;
  result r[N], quick = {0};
  logline l[MAX_LINES];
  long from = log_size();
  int n;

  memset(r, 0, sizeof r);
  open_a(&f);
  for (int i = 0; i < N; i++)
    get(&f, "/drip", &r[i], NULL);
  get(&f, "/hello", &quick, NULL);
  run_until(&f, &quick.calls, 1);
  assert_int_equal(quick.status, 200);
  for (int i = 0; i < N; i++)
    assert_int_equal(r[i].calls, 0); /* still downloading */
  for (int i = 0; i < N; i++) {
    run_until(&f, &r[i].calls, 1);
    assert_int_equal(r[i].status, 200);
    assert_int_equal(r[i].body_len, DRIP_BYTES);
  }
  assert_int_equal(sockets_opened(&f), 1);
  fx_close(&f);
  n = log_wait(from, l, N + 1);
  assert_int_equal(n, N + 1);
  assert_all_h2(l, n);
  assert_int_equal(distinct_conns(l, n), 1);
  for (int i = 0; i < N; i++)
    result_free(&r[i]);
  result_free(&quick);
}

static void h2_wrong_ca_refuses(void **state) {
  fixture f;
  result r = {0};
  wfc__http_opts o = {.size = sizeof o, .ca_bundle = ca_b.ca_file};
  long from = log_size();
  logline l[4];

  fx_open(&f, &o);
  get(&f, "/hello", &r, NULL);
  run_until(&f, &r.calls, 1);
  fx_close(&f);
  assert_int_equal(r.error, WFC_ETLS);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.msg, "TLS"));
  assert_int_equal(log_read(from, l, 4), 0); /* no request reached nginx */
  result_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(h2_get_negotiates_http2),
      cmocka_unit_test(h2_concurrent_one_connection),
      cmocka_unit_test(h2_download_10mib),
      cmocka_unit_test(h2_upload_10mib),
      cmocka_unit_test(h2_cancel_keeps_other_streams),
      cmocka_unit_test(h2_known_at_first_headers),
      cmocka_unit_test(h2_wrong_ca_refuses),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
