/* bench_http.c - wfc-bench-http: the SDK's HTTP engine against raw libcurl
 * multi doing the same requests.
 *
 *   wfc-bench-http [-n requests] [-c concurrency] [-k max_host_connections]
 *                  [-s body_bytes] [-r rounds] [URL]
 *
 * Without a URL it serves a body of -s bytes from an in-process ts_server
 * (its threads are not counted). For each round it runs N GETs through
 * the engine (driven by libuv) and through raw libcurl (curl_multi_perform +
 * curl_multi_poll), keeping the same number in flight, with the same easy
 * options, and prints requests/s and CPU time per request of the calling
 * thread (getrusage RUSAGE_THREAD), then the medians and the ratios
 * engine/raw (DESIGN.md section 7: CPU within 1.15x of raw libcurl).
 * Figures only: nothing here asserts on time. CPU time moves with the
 * machine's load; bench/callgrind-http.sh counts instructions per request
 * instead, which does not.
 */
#define _GNU_SOURCE /* RUSAGE_THREAD, <uv.h>, clock_gettime */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <uv.h>

#include "http.h"
#include "ts_server.h"
#include "wfc/version.h"

typedef struct cfg {
  long n, conc, max_host, rounds;
  size_t body;
  const char *url;
  int check_body; /* our own server: the body length is known */
  int only;       /* 1: engine only, 2: raw only (profiling) */
} cfg;

typedef struct figures {
  double wall_s, cpu_us_per_req, user_us, sys_us;
  long ok, failed;
} figures;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void cpu_now(double *user_us, double *sys_us) {
  struct rusage ru;
  getrusage(RUSAGE_THREAD, &ru);
  *user_us = (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec;
  *sys_us = (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

/* ---- the engine --------------------------------------------------------- */

typedef struct eng_run {
  const cfg *c;
  wfc__http_engine *e;
  long sent, done, ok, failed;
} eng_run;

static void eng_send(eng_run *r);

static void eng_cb(void *arg, const wfc_http_res *res) {
  eng_run *r = arg;
  r->done++;
  if (res->error == 0 && res->status == 200 &&
      (!r->c->check_body || res->body_len == r->c->body))
    r->ok++;
  else
    r->failed++;
  if (r->sent < r->c->n)
    eng_send(r);
}

static void eng_send(eng_run *r) {
  wfc_http_req q;
  memset(&q, 0, sizeof q);
  q.size = sizeof q;
  q.method = "GET";
  q.url = r->c->url;
  r->sent++;
  if (wfc__http_send(r->e, &q, NULL, eng_cb, r, NULL) != 0) {
    r->done++;
    r->failed++;
  }
}

static void eng_closed(void *arg) {
  *(int *)arg = 1;
}

static void run_engine(const cfg *c, figures *f) {
  uv_loop_t loop;
  eng_run r = {.c = c};
  wfc__http_opts o = {.size = sizeof o,
                      .max_host_connections = c->max_host,
                      .verbose = getenv("WFC_BENCH_VERBOSE") != NULL};
  double u0, s0, u1, s1, t0;
  int closed = 0;

  uv_loop_init(&loop);
  wfc__http_engine_new(&loop, &o, &r.e);
  cpu_now(&u0, &s0);
  t0 = now_s();
  for (long i = 0; i < c->conc && r.sent < c->n; i++)
    eng_send(&r);
  while (r.done < c->n)
    uv_run(&loop, UV_RUN_ONCE);
  f->wall_s = now_s() - t0;
  cpu_now(&u1, &s1);
  if (getenv("WFC_BENCH_STATS")) {
    wfc__http_stats st;
    wfc__http_engine_stats(r.e, &st);
    printf("  engine: %.2f socket_action/req, %.2f zero timeouts/req, "
           "%llu sockets\n",
           (double)st.socket_actions / (double)c->n,
           (double)st.zero_timeouts / (double)c->n,
           (unsigned long long)st.sockets_opened);
  }
  wfc__http_engine_close(r.e, eng_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  f->user_us = u1 - u0;
  f->sys_us = s1 - s0;
  f->cpu_us_per_req = (f->user_us + f->sys_us) / (double)c->n;
  f->ok = r.ok;
  f->failed = r.failed;
}

/* ---- raw libcurl multi -------------------------------------------------- */

typedef struct raw_xfer {
  char *p;
  size_t len, cap;
} raw_xfer;

static size_t raw_write(char *p, size_t size, size_t n, void *userp) {
  raw_xfer *x = userp;
  size_t len = size * n;
  if (x->len + len + 1 > x->cap) {
    size_t cap = x->cap ? x->cap : 1024;
    while (cap < x->len + len + 1)
      cap *= 2;
    char *np = realloc(x->p, cap);
    if (!np)
      return 0;
    x->p = np;
    x->cap = cap;
  }
  memcpy(x->p + x->len, p, len);
  x->len += len;
  x->p[x->len] = '\0';
  return len;
}

/* The same options the engine sets on its easy handles. */
static CURL *raw_easy(const cfg *c, raw_xfer *x) {
  CURL *e = curl_easy_init();
  curl_easy_setopt(e, CURLOPT_URL, c->url);
  curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
  curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  if (strncmp(c->url, "https:", 6) == 0)
    curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
  curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
  curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(e, CURLOPT_USERAGENT, "wfc/" WFC_VERSION_STRING);
  curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, raw_write);
  curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
  curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
  curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 60000L);
  return e;
}

static void run_raw(const cfg *c, figures *f) {
  CURLM *m = curl_multi_init();
  long sent = 0, done = 0, ok = 0, failed = 0;
  double u0, s0, u1, s1, t0;
  int running = 0;

  curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, c->max_host);
  cpu_now(&u0, &s0);
  t0 = now_s();
  for (; sent < c->conc && sent < c->n; sent++) {
    raw_xfer *x = calloc(1, sizeof *x);
    curl_multi_add_handle(m, raw_easy(c, x));
  }
  while (done < c->n) {
    CURLMsg *msg;
    int left;
    curl_multi_perform(m, &running);
    while ((msg = curl_multi_info_read(m, &left)) != NULL) {
      raw_xfer *x = NULL;
      long status = 0;
      CURL *e;
      if (msg->msg != CURLMSG_DONE)
        continue;
      e = msg->easy_handle;
      CURLcode rc = msg->data.result;
      curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
      curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
      curl_multi_remove_handle(m, e);
      curl_easy_cleanup(e);
      if (rc == CURLE_OK && status == 200 &&
          (!c->check_body || x->len == c->body))
        ok++;
      else
        failed++;
      free(x->p);
      free(x);
      done++;
      if (sent < c->n) {
        x = calloc(1, sizeof *x);
        curl_multi_add_handle(m, raw_easy(c, x));
        sent++;
      }
    }
    if (done < c->n)
      curl_multi_poll(m, NULL, 0, 1000, NULL);
  }
  f->wall_s = now_s() - t0;
  cpu_now(&u1, &s1);
  curl_multi_cleanup(m);
  f->user_us = u1 - u0;
  f->sys_us = s1 - s0;
  f->cpu_us_per_req = (f->user_us + f->sys_us) / (double)c->n;
  f->ok = ok;
  f->failed = failed;
}

/* ---- main --------------------------------------------------------------- */

static void print_row(const char *name, const cfg *c, const figures *f) {
  printf("  %-6s %8.0f req/s  CPU %7.1f us/req (user %6.1f + sys %6.1f)"
         "  ok %ld failed %ld\n",
         name, (double)c->n / f->wall_s, f->cpu_us_per_req,
         f->user_us / (double)c->n, f->sys_us / (double)c->n, f->ok, f->failed);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, long n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static long arg_long(const char *s, const char *what) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end || v <= 0) {
    fprintf(stderr, "wfc-bench-http: bad %s: %s\n", what, s);
    exit(2);
  }
  return v;
}

int main(int argc, char **argv) {
  cfg c = {.n = 20000, .conc = 32, .max_host = 8, .rounds = 3, .body = 1024};
  ts_server *srv = NULL;
  char url[256];
  int opt;

  while ((opt = getopt(argc, argv, "n:c:k:s:r:m:h")) != -1) {
    switch (opt) {
    case 'n':
      c.n = arg_long(optarg, "request count");
      break;
    case 'c':
      c.conc = arg_long(optarg, "concurrency");
      break;
    case 'k':
      c.max_host = arg_long(optarg, "max host connections");
      break;
    case 's':
      c.body = (size_t)arg_long(optarg, "body size");
      break;
    case 'r':
      c.rounds = arg_long(optarg, "rounds");
      break;
    case 'm':
      c.only = strcmp(optarg, "engine") == 0 ? 1
               : strcmp(optarg, "raw") == 0  ? 2
                                             : 0;
      break;
    default:
      fprintf(stderr, "usage: wfc-bench-http [-n requests] [-c concurrency] "
                      "[-k max_host_connections] [-s body_bytes] [-r rounds] "
                      "[-m engine|raw] [URL]\n");
      return opt == 'h' ? 0 : 2;
    }
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
    return 1;
  if (optind < argc) {
    c.url = argv[optind];
  } else {
    ts_route rt = {.method = "GET", .path = "/bench", .stream_bytes = c.body};
    if (ts_server_start(NULL, &srv) != 0)
      return 1;
    ts_server_route(srv, &rt);
    snprintf(url, sizeof url, "%s/bench", ts_server_url(srv));
  }
  if (!c.url) {
    c.url = url;
    c.check_body = 1;
  }
  printf("wfc-bench-http: %s\n  requests %ld, in flight %ld, max host "
         "connections %ld, body %zu B%s, rounds %ld\n",
         c.url, c.n, c.conc, c.max_host, c.body,
         c.check_body ? "" : " (not checked)", c.rounds);

  double *ecpu = calloc((size_t)c.rounds, sizeof *ecpu);
  double *rcpu = calloc((size_t)c.rounds, sizeof *rcpu);
  double *erps = calloc((size_t)c.rounds, sizeof *erps);
  double *rrps = calloc((size_t)c.rounds, sizeof *rrps);
  long failures = 0;
  for (long i = 0; i < c.rounds; i++) {
    figures fe, fr;
    printf("round %ld\n", i + 1);
    memset(&fe, 0, sizeof fe);
    memset(&fr, 0, sizeof fr);
    fe.wall_s = fr.wall_s = 1;
    if (c.only != 2) {
      run_engine(&c, &fe);
      print_row("engine", &c, &fe);
    }
    if (c.only != 1) {
      run_raw(&c, &fr);
      print_row("raw", &c, &fr);
    }
    ecpu[i] = fe.cpu_us_per_req;
    rcpu[i] = fr.cpu_us_per_req;
    erps[i] = (double)c.n / fe.wall_s;
    rrps[i] = (double)c.n / fr.wall_s;
    failures += fe.failed + fr.failed;
  }
  double me = median(ecpu, c.rounds), mr = median(rcpu, c.rounds);
  double te = median(erps, c.rounds), tr = median(rrps, c.rounds);
  printf("median engine: %.0f req/s, %.1f us CPU/req\n", te, me);
  printf("median raw:    %.0f req/s, %.1f us CPU/req\n", tr, mr);
  printf("ratio engine/raw: CPU %.3fx, throughput %.3fx\n", me / mr, te / tr);
  if (srv) {
    ts_stats st;
    ts_server_stats(srv, &st);
    printf("server: %llu requests over %llu connections\n",
           (unsigned long long)st.requests, (unsigned long long)st.connections);
    ts_server_stop(srv);
  }
  free(ecpu);
  free(rcpu);
  free(erps);
  free(rrps);
  curl_global_cleanup();
  return failures ? 1 : 0;
}
