/* card_cpu.c - wfc-bench-card: CPU per card execution (SDK runtime + the
 * real wfc-o365mail.so against m365-emulator) against raw libcurl doing the
 * same HTTP exchange (DESIGN.md 7: within 1.15x).
 *
 *   wfc-bench-card [-n executions] [-r rounds] [-m both|card|raw|rawjson]
 *                  [-C card -i input_json -p graph_path] [-k]
 *
 * Set-up (not measured): tests/support/o365_fixture starts the emulator,
 * loads the plugin and connects alice@contoso.test through the real OAuth
 * flow. The raw side then takes that connection's access token and sends,
 * on one reused easy handle (keep-alive), the request the card sends: same
 * URL, Authorization: Bearer, client-request-id (a fresh one each time),
 * Accept: application/json, the engine's user agent. "rawjson" also parses
 * the body with json-c, the least any client does with the answer.
 *
 * The fixture turns the runtime's output checks on (tests want them); a
 * release host runs without them (sdk/runtime.c: NDEBUG, no
 * WFC_CHECK_OUTPUTS), so the bench turns them off again unless -k.
 *
 * CPU is getrusage(RUSAGE_SELF) of this process (all its threads); the
 * emulator is another process and is not counted. Before measuring, each
 * side runs once and the emulator's request counter checks that both send
 * the same number of Graph requests per execution (printed).
 *
 * Built with <valgrind/callgrind.h>, the measured loop of a single mode is
 * bracketed by CALLGRIND_START/STOP_INSTRUMENTATION: under
 * `valgrind --tool=callgrind --instr-atstart=no` the totals are the
 * instructions of the loop alone (bench/callgrind-card.sh). Figures only:
 * nothing asserts on time. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, clock_gettime, CLOCK_MONOTONIC */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <openssl/rand.h>
#include <uv.h>

#include "o365_fixture.h"
#include "runtime.h" /* struct wfc_conn: its token service (conn->ops) */
#include "wfc/version.h"

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define HAVE_CALLGRIND 1
#endif
#endif
#ifndef HAVE_CALLGRIND
#define CALLGRIND_START_INSTRUMENTATION
#define CALLGRIND_STOP_INSTRUMENTATION
#endif

typedef struct cfg {
  long n, rounds;
  const char *mode; /* both, card, raw, rawjson */
  const char *card, *input, *path;
  int check_outputs; /* -k: keep the fixture's output checks */
} cfg;

static double cpu_us(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
         (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

static double wall_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the access token of the fixture's connection ----------------------- */

typedef struct tok_wait {
  int done, status;
  char *token;
} tok_wait;

static void on_token(void *arg, int status, const char *token) {
  tok_wait *w = arg;
  w->done = 1;
  w->status = status;
  w->token = token ? strdup(token) : NULL;
}

/* Asks the connection's token service (the one the plugin's conn_token
 * reaches) and runs the loop until it answers. Returns a malloc'd token. */
static char *conn_token(o365_fixture *fx, wfc_conn *conn) {
  tok_wait w = {0};
  wfc_runtime *rt = o365_fixture_runtime(fx);
  if (conn->ops == NULL || conn->ops->token == NULL ||
      conn->ops->token(conn->ops_arg, conn, on_token, &w) != 0)
    return NULL;
  while (!w.done)
    uv_run(wfc_runtime_loop(rt), UV_RUN_ONCE);
  if (w.status != 0) {
    free(w.token);
    return NULL;
  }
  return w.token;
}

/* ---- raw libcurl ----------------------------------------------------------
 */

typedef struct raw {
  CURL *h;
  char url[512], auth[4096];
  char *body;
  size_t len, cap;
  int parse;
  long ok, failed;
} raw;

static size_t raw_write(char *p, size_t sz, size_t nm, void *arg) {
  raw *r = arg;
  size_t n = sz * nm;
  if (r->len + n + 1 > r->cap) {
    size_t cap = (r->len + n + 1) * 2;
    char *b = realloc(r->body, cap);
    if (b == NULL)
      return 0;
    r->body = b;
    r->cap = cap;
  }
  memcpy(r->body + r->len, p, n);
  r->len += n;
  r->body[r->len] = '\0';
  return n;
}

/* The plugin sends a random UUID v4 as client-request-id: so do we. */
static void uuid4(char out[37]) {
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1)
    memset(b, 0x5a, sizeof b);
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
  snprintf(out, 37,
           "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x"
           "%02x",
           b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10],
           b[11], b[12], b[13], b[14], b[15]);
}

static void raw_once(raw *r) {
  char id[37], crid[64];
  struct curl_slist *hd = NULL;
  long status = 0;
  uuid4(id);
  snprintf(crid, sizeof crid, "client-request-id: %s", id);
  hd = curl_slist_append(hd, r->auth);
  hd = curl_slist_append(hd, crid);
  hd = curl_slist_append(hd, "Accept: application/json");
  r->len = 0;
  curl_easy_setopt(r->h, CURLOPT_HTTPHEADER, hd);
  CURLcode rc = curl_easy_perform(r->h);
  curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &status);
  int ok = rc == CURLE_OK && status == 200;
  if (ok && r->parse) {
    json_object *j = json_tokener_parse(r->body ? r->body : "");
    ok = j != NULL;
    json_object_put(j);
  }
  curl_slist_free_all(hd);
  if (ok)
    r->ok++;
  else
    r->failed++;
}

/* Same easy options as the engine (sdk/http.c) where they apply to plain
 * HTTP on loopback. */
static int raw_init(raw *r, const char *base, const char *path,
                    const char *token, int parse) {
  memset(r, 0, sizeof *r);
  r->parse = parse;
  snprintf(r->url, sizeof r->url, "%s%s", base, path);
  snprintf(r->auth, sizeof r->auth, "Authorization: Bearer %s", token);
  r->h = curl_easy_init();
  if (r->h == NULL)
    return -1;
  curl_easy_setopt(r->h, CURLOPT_URL, r->url);
  curl_easy_setopt(r->h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(r->h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(r->h, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(r->h, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(r->h, CURLOPT_USERAGENT, "wfc/" WFC_VERSION_STRING);
  curl_easy_setopt(r->h, CURLOPT_WRITEFUNCTION, raw_write);
  curl_easy_setopt(r->h, CURLOPT_WRITEDATA, r);
  curl_easy_setopt(r->h, CURLOPT_HTTPGET, 1L);
  return 0;
}

static void raw_free(raw *r) {
  curl_easy_cleanup(r->h);
  free(r->body);
  /* The token was in the header line: wipe our copy. */
  memset(r->auth, 0, sizeof r->auth);
}

/* ---- one measured loop ----------------------------------------------------
 */

typedef struct side {
  const char *name;
  double us_per_exec;
  double wall_us;
  long ok, failed;
} side;

/* One execution as a host runs it: wfc_runtime_invoke with the input as a
 * JSON object (parsed once, before the loop: the raw side has no input to
 * parse either), the loop run until on_done. The runtime releases the
 * output after on_done, inside the measured loop. Not o365_fixture_run:
 * its per-run input parse and outcome copy are the test harness's cost. */
typedef struct card_run {
  int done, status;
  long items;
} card_run;

static void card_done(void *arg, wfc_call *call, const wfc_outcome *o) {
  card_run *r = arg;
  (void)call;
  r->status = o->status;
  r->done = 1;
}

static int card_item(void *arg, wfc_call *call, json_object *item) {
  card_run *r = arg;
  (void)call;
  (void)item;
  r->items++;
  return 0;
}

static int card_once(wfc_runtime *rt, wfc_conn *conn, const char *card,
                     json_object *in) {
  card_run r = {0};
  wfc_invoke how = {sizeof how, .conn = conn, .on_item = card_item,
                    .on_done = card_done, .arg = &r};
  int rc = wfc_runtime_invoke(rt, card, in, &how, NULL);
  if (rc != 0)
    return rc;
  while (!r.done)
    uv_run(wfc_runtime_loop(rt), UV_RUN_ONCE);
  return r.status;
}

static void run_card_loop(o365_fixture *fx, wfc_conn *conn, json_object *in,
                          const cfg *c, side *s) {
  wfc_runtime *rt = o365_fixture_runtime(fx);
  double u0 = cpu_us(), t0 = wall_s();
  CALLGRIND_START_INSTRUMENTATION;
  for (long i = 0; i < c->n; i++) {
    if (card_once(rt, conn, c->card, in) == 0)
      s->ok++;
    else
      s->failed++;
  }
  CALLGRIND_STOP_INSTRUMENTATION;
  s->us_per_exec = (cpu_us() - u0) / (double)c->n;
  s->wall_us = (wall_s() - t0) * 1e6 / (double)c->n;
}

static void run_raw_loop(raw *r, const cfg *c, side *s) {
  long ok0 = r->ok, failed0 = r->failed;
  double u0 = cpu_us(), t0 = wall_s();
  CALLGRIND_START_INSTRUMENTATION;
  for (long i = 0; i < c->n; i++)
    raw_once(r);
  CALLGRIND_STOP_INSTRUMENTATION;
  s->us_per_exec = (cpu_us() - u0) / (double)c->n;
  s->wall_us = (wall_s() - t0) * 1e6 / (double)c->n;
  s->ok += r->ok - ok0;
  s->failed += r->failed - failed0;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static double median(double *v, long n) {
  qsort(v, (size_t)n, sizeof *v, cmp_double);
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(void) {
  fprintf(stderr, "usage: wfc-bench-card [-n executions] [-r rounds] "
                  "[-m both|card|raw|rawjson] [-C card -i input_json -p "
                  "graph_path] [-k]\n");
  exit(2);
}

int main(int argc, char **argv) {
  cfg c = {.n = 500,
           .rounds = 3,
           .mode = "both",
           .card = "list_folders",
           .input = "{\"recursive\":false}",
           .path = "/v1.0/me/mailFolders?$top=100"};
  int opt;
  while ((opt = getopt(argc, argv, "n:r:m:C:i:p:kh")) != -1) {
    switch (opt) {
    case 'n':
      c.n = atol(optarg);
      break;
    case 'r':
      c.rounds = atol(optarg);
      break;
    case 'm':
      c.mode = optarg;
      break;
    case 'C':
      c.card = optarg;
      break;
    case 'i':
      c.input = optarg;
      break;
    case 'p':
      c.path = optarg;
      break;
    case 'k':
      c.check_outputs = 1;
      break;
    default:
      usage();
    }
  }
  if (c.n < 1 || c.rounds < 1 || c.rounds > 64)
    usage();
  int do_card = !strcmp(c.mode, "both") || !strcmp(c.mode, "card");
  int do_raw = !strcmp(c.mode, "both") || !strcmp(c.mode, "raw");
  int do_json = !strcmp(c.mode, "both") || !strcmp(c.mode, "rawjson");
  if (!do_card && !do_raw && !do_json)
    usage();

  curl_global_init(CURL_GLOBAL_DEFAULT);
  o365_fixture *fx = o365_fixture_new(NULL);
  if (fx == NULL)
    return 1;
  o365_fixture_runtime(fx)->check_outputs = c.check_outputs;
  wfc_conn *conn = o365_fixture_connect(fx, "alice@contoso.test");
  char *token = conn ? conn_token(fx, conn) : NULL;
  if (token == NULL) {
    fprintf(stderr, "wfc-bench-card: no connection / token\n");
    o365_fixture_free(fx);
    return 1;
  }
  raw rs, rj;
  if (raw_init(&rs, o365_fixture_url(fx), c.path, token, 0) != 0 ||
      raw_init(&rj, o365_fixture_url(fx), c.path, token, 1) != 0)
    return 1;
  memset(token, 0, strlen(token));
  free(token);

  /* Warm-up and the same-exchange check: Graph requests per execution. */
  long g0 = o365_fixture_graph_requests(fx);
  o365_outcome o;
  int rc = o365_fixture_run(fx, c.card, c.input, &o);
  if (rc != 0) {
    fprintf(stderr, "wfc-bench-card: %s failed: %d %s\n", c.card, rc,
            o.message);
    o365_outcome_free(&o);
    o365_fixture_free(fx);
    return 1;
  }
  o365_outcome_free(&o);
  long g1 = o365_fixture_graph_requests(fx);
  raw_once(&rs);
  long g2 = o365_fixture_graph_requests(fx);
  if (rs.failed) {
    fprintf(stderr, "wfc-bench-card: raw GET %s failed\n", c.path);
    return 1;
  }
  raw_once(&rj);
  json_object *in = c.input ? json_tokener_parse(c.input) : NULL;
  if (c.input != NULL && in == NULL) {
    fprintf(stderr, "wfc-bench-card: -i is not JSON\n");
    return 1;
  }
  printf("card %s %s (output checks %s): %ld Graph request(s) per execution; "
         "raw libcurl: %ld "
         "(GET %s, %zu-byte JSON body)\n",
         c.card, c.input, c.check_outputs ? "on" : "off", g1 - g0, g2 - g1,
         c.path, rs.len);

  double cv[64], rv[64], jv[64];
  side sc = {.name = "card"}, sr = {.name = "raw"}, sj = {.name = "rawjson"};
  for (long k = 0; k < c.rounds; k++) {
    if (do_card) {
      run_card_loop(fx, conn, in, &c, &sc);
      cv[k] = sc.us_per_exec;
    }
    if (do_raw) {
      run_raw_loop(&rs, &c, &sr);
      rv[k] = sr.us_per_exec;
    }
    if (do_json) {
      run_raw_loop(&rj, &c, &sj);
      jv[k] = sj.us_per_exec;
    }
    printf("round %ld:", k + 1);
    if (do_card)
      printf(" card %.1f us CPU/exec (%.0f us wall)", sc.us_per_exec,
             sc.wall_us);
    if (do_raw)
      printf(" | raw %.1f us (%.0f)", sr.us_per_exec, sr.wall_us);
    if (do_json)
      printf(" | raw+json %.1f us (%.0f)", sj.us_per_exec, sj.wall_us);
    printf("\n");
  }
  if (do_card && do_raw && do_json) {
    double mc = median(cv, c.rounds), mr = median(rv, c.rounds),
           mj = median(jv, c.rounds);
    printf("median CPU per execution: card %.1f us, raw libcurl %.1f us, raw "
           "libcurl+json-c %.1f us; ratio card/raw %.3f, card/raw+json "
           "%.3f\n",
           mc, mr, mj, mc / mr, mc / mj);
  }
  if (sc.failed || sr.failed || sj.failed)
    fprintf(stderr, "wfc-bench-card: failures: card %ld raw %ld rawjson %ld\n",
            sc.failed, sr.failed, sj.failed);
  json_object_put(in);
  raw_free(&rs);
  raw_free(&rj);
  int frc = o365_fixture_free(fx);
  curl_global_cleanup();
  return (sc.failed || sr.failed || sj.failed || frc) ? 1 : 0;
}
