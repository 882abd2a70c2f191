/* idle_conn.c - wfc-bench-idle: what each connection costs a host that
 * holds many (DESIGN.md 7: "idle connections cost kilobytes"; issue 10,
 * item 7: 10, 1,000 and 10,000 on one host).
 *
 *   wfc-bench-idle [-n connections] [-S secure_heap_bytes] [-r refreshes]
 *                  [-d dir]
 *
 * Fills a fresh store (a temporary directory under dir, default /tmp)
 * with n connections of the conntest plugin (tests/conn/conntest_plugin.c:
 * params {"token_url"}, sealed credentials with a JWT-sized access token
 * and a refresh token), opens the manager, then opens every connection
 * with wfc_connmgr_open_conn (which loads and keeps the sealed secrets,
 * the params and the info in memory, and holds both tokens in the log's
 * redaction table) and keeps the n wfc_conn references. Prints:
 * - the RSS delta (VmRSS, page granular) and the heap delta (mallinfo2,
 *   bytes in use) divided by n;
 * - the CPU (and wall) time of those opens divided by n;
 * - the CPU cost of one log record through the redaction (a no-op sink) with
 *   the 2n live tokens registered: a 160-byte record without a secret and
 *   a 1.6 KiB one holding an access token;
 * - with -r R (default 100; 0: none): R refreshes with rotation of
 *   connections spread over the n (wfc_connmgr_refresh against a loopback
 *   token endpoint, tests/support/ts_server.h; each gets new tokens, the
 *   old pair leaves the redaction table), mean wall time per refresh.
 * Figures only.
 *
 * The log's redaction list keeps a locked copy of every token (sdk/log.c)
 * in secret memory (sdk/secmem.h): OpenSSL's secure heap (4 MiB, set up by
 * wfc_runtime_new) while it has room, then a page of its own each; -S sets
 * up a heap of that size first. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, getopt, optarg, mkdtemp */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <uv.h>

#include "log.h"
#include "store.h"
#include "ts_server.h"
#include "wfc/connections.h"
#include "wfc/host.h"

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* CPU time of the process (every thread: the store work of the libuv
 * pool, the loopback server's). */
static double proc_cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/* CPU time of this thread: what opening and logging cost, unlike the wall
 * time, do not move with the machine's load. */
static double cpu_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  char line[256];
  long v = -1;
  if (f == NULL)
    return -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
      break;
  fclose(f);
  return v;
}

/* Memory mappings of the process (each counts towards vm.max_map_count). */
static long map_count(void) {
  FILE *f = fopen("/proc/self/maps", "r");
  long n = 0;
  int c;
  if (f == NULL)
    return -1;
  while ((c = fgetc(f)) != EOF)
    n += c == '\n';
  fclose(f);
  return n;
}

static size_t heap_bytes(void) {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

/* n random-looking characters of the base64url alphabet (a JWT's size,
 * not its content: nothing parses it here). */
static void fill(char *s, size_t n, unsigned seed) {
  static const char a[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  for (size_t i = 0; i < n; i++) {
    seed = seed * 1103515245u + 12345u;
    s[i] = a[(seed >> 16) & 63];
  }
  s[n] = '\0';
}

static int fill_store(const char *path, const uint8_t key[32], long n,
                      const char *token_url) {
  wfc__store_opts so = {.master_key = key};
  wfc__store *st = NULL;
  char err[256] = "";
  if (wfc__store_open_ex(path, &so, &st, err, sizeof err) != 0) {
    fprintf(stderr, "wfc-bench-idle: store: %s\n", err);
    return -1;
  }
  static char at[1501], rt[301], secrets[2048];
  for (long i = 0; i < n; i++) {
    wfc__conn_rec r;
    memset(&r, 0, sizeof r);
    snprintf(r.nickname, sizeof r.nickname, "idle-%05ld", i);
    snprintf(r.plugin, sizeof r.plugin, "conntest");
    snprintf(r.conn_type, sizeof r.conn_type, "tokenconn");
    snprintf(r.environment, sizeof r.environment, "production");
    snprintf(r.account, sizeof r.account, "user%05ld@contoso.test", i);
    snprintf(r.state, sizeof r.state, "%s", WFC_CONN_CONNECTED);
    char params[256];
    snprintf(params, sizeof params, "{\"token_url\":\"%s\"}", token_url);
    r.params = params;
    fill(at, sizeof at - 1, (unsigned)i * 2 + 1);
    fill(rt, sizeof rt - 1, (unsigned)i * 2 + 2);
    snprintf(secrets, sizeof secrets,
             "{\"credentials\":{\"access_token\":\"%s\",\"refresh_token\":"
             "\"%s\",\"expires_at\":4102444800,\"scope\":\"Mail.ReadWrite "
             "Mail.Send offline_access\"}}",
             at, rt);
    int rc = wfc__store_conn_insert(st, &r, secrets);
    if (rc != 0) {
      fprintf(stderr, "wfc-bench-idle: insert %ld: %d %s\n", i, rc,
              wfc__store_last_error());
      wfc__store_close(st);
      return -1;
    }
  }
  wfc__store_close(st);
  return 0;
}

static void set_flag(void *arg) {
  *(int *)arg = 1;
}

static void null_sink(void *arg, int level, const char *line) {
  (void)arg;
  (void)level;
  (void)line;
}

/* Mean CPU time of one wfc__log record of text, in microseconds. */
static double log_cost_us(const char *text, int reps) {
  double t0 = cpu_us();
  for (int i = 0; i < reps; i++)
    wfc__log(WFC_LOG_ERROR, "bench %d: %s", i, text);
  return (cpu_us() - t0) / reps;
}

typedef struct refresh_res {
  int done, status;
} refresh_res;

static void on_refreshed(void *arg, const wfc_connmgr_result *r) {
  refresh_res *o = arg;
  o->status = r->status;
  o->done = 1;
}

static const char *plugin_path(void) {
  static char path[4096];
  const char *d = getenv("WFC_CONN_PLUGIN_DIR");
  if (d != NULL && *d != '\0')
    snprintf(path, sizeof path, "%s/wfc-conntest.so", d);
  else
    snprintf(path, sizeof path, "%s/tests/conn-plugins/wfc-conntest.so",
             WFC_BUILD_DIR);
  return path;
}

/* R refreshes with rotation spread over the n connections; prints the
 * mean. 0 or -1. */
static int bench_refresh(uv_loop_t *loop, wfc_connmgr *m, ts_server *srv,
                         long n, long reps) {
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  static char at[1501], rt[301], body[2048];
  double total = 0, cpu0 = proc_cpu_us(), tcpu0 = cpu_us();
  for (long k = 0; k < reps; k++) {
    char name[32];
    long c = 1 + (k * 7919) % n;
    snprintf(name, sizeof name, "idle-%05ld", c);
    fill(at, sizeof at - 1, (unsigned)(k + 1) * 7777u);
    fill(rt, sizeof rt - 1, (unsigned)(k + 1) * 3333u);
    snprintf(body, sizeof body,
             "{\"access_token\":\"%s\",\"refresh_token\":\"%s\","
             "\"expires_in\":3600}",
             at, rt);
    ts_route r = {
        .method = "POST", .path = "/token", .headers = hdr, .body = body};
    if (ts_server_route(srv, &r) != 0)
      return -1;
    refresh_res o = {0, 0};
    double t0 = now_us();
    if (wfc_connmgr_refresh(m, name, on_refreshed, &o) != 0)
      return -1;
    while (!o.done)
      uv_run(loop, UV_RUN_ONCE);
    total += now_us() - t0;
    if (o.status != 0) {
      fprintf(stderr, "wfc-bench-idle: refresh %s: %d\n", name, o.status);
      return -1;
    }
  }
  printf("refresh with rotation: %ld over %ld live connections: %.0f us "
         "wall, %.0f us CPU (process), %.0f us CPU (loop thread)/refresh "
         "(wfc_connmgr_refresh, loopback token endpoint, store rotation)\n",
         reps, n, total / (double)reps, (proc_cpu_us() - cpu0) / (double)reps,
         (cpu_us() - tcpu0) / (double)reps);
  return 0;
}

int main(int argc, char **argv) {
  long n = 1000, secure = 0, refreshes = 100;
  const char *base = "/tmp";
  int opt;
  while ((opt = getopt(argc, argv, "n:S:r:d:")) != -1) {
    if (opt == 'n')
      n = atol(optarg);
    else if (opt == 'S')
      secure = atol(optarg);
    else if (opt == 'r')
      refreshes = atol(optarg);
    else if (opt == 'd')
      base = optarg;
    else {
      fprintf(stderr, "usage: wfc-bench-idle [-n connections] "
                      "[-S secure_heap_bytes] [-r refreshes] [-d dir]\n");
      return 2;
    }
  }
  if (secure > 0 && CRYPTO_secure_malloc_init((size_t)secure, 32) != 1) {
    fprintf(stderr, "wfc-bench-idle: CRYPTO_secure_malloc_init failed\n");
    return 1;
  }
  if (n < 1 || n > 100000 || refreshes < 0)
    return 2;
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s/wfc-bench-idle-XXXXXX", base);
  if (mkdtemp(dir) == NULL)
    return 1;
  snprintf(path, sizeof path, "%s/store.db", dir);
  uint8_t key[32];
  for (int i = 0; i < 32; i++)
    key[i] = (uint8_t)(i * 7 + 1);
  int status = 1;
  ts_server *srv = NULL;
  wfc_conn **conns = NULL;
  if (ts_server_start(NULL, &srv) != 0)
    goto out;
  if (fill_store(path, key, n + 1, ts_server_url(srv)) != 0)
    goto out;

  uv_loop_t loop;
  uv_loop_init(&loop);
  wfc_runtime *rt = NULL;
  wfc_connmgr *m = NULL;
  char err[256] = "";
  wfc_connmgr_opts mo = {
      .size = sizeof mo, .store_path = path, .master_key = key};
  if (wfc_runtime_new(&loop, NULL, &rt) != 0 ||
      wfc_runtime_load(rt, plugin_path(), NULL, err, sizeof err) != 0 ||
      wfc_connmgr_open(rt, &mo, &m, err, sizeof err) != 0) {
    fprintf(stderr, "wfc-bench-idle: open: %s\n", err);
    goto out;
  }
  conns = calloc((size_t)n + 1, sizeof *conns);
  char name[32];
  /* One first open: SQLite's page cache and statements, lazy libraries. */
  if (conns == NULL || wfc_connmgr_open_conn(m, "idle-00000", &conns[n]) != 0)
    goto out;
  malloc_trim(0);
  long rss0 = rss_kib(), maps0 = map_count();
  size_t heap0 = heap_bytes();
  double t0 = cpu_us(), w0 = now_us();
  for (long i = 1; i <= n; i++) {
    snprintf(name, sizeof name, "idle-%05ld", i);
    int rc = wfc_connmgr_open_conn(m, name, &conns[i - 1]);
    if (rc != 0) {
      fprintf(stderr, "wfc-bench-idle: open_conn %s: %d\n", name, rc);
      goto out;
    }
  }
  double open_us = (cpu_us() - t0) / (double)n;
  double open_wall = (now_us() - w0) / (double)n;
  long rss1 = rss_kib(), maps1 = map_count();
  size_t heap1 = heap_bytes();
  printf("idle connections: %ld opened (wfc_connmgr_open_conn, secrets "
         "loaded%s): RSS +%ld KiB = %.2f KiB/connection; heap +%zu bytes = "
         "%.2f KiB/connection\n",
         n, secure > 0 ? ", OpenSSL secure heap" : "", rss1 - rss0,
         (double)(rss1 - rss0) / (double)n, heap1 - heap0,
         (double)(heap1 - heap0) / 1024.0 / (double)n);
  printf("memory mappings: +%ld (secret memory past the secure heap: a "
         "mapping per block; vm.max_map_count bounds them)\n",
         maps1 - maps0);
  printf("open: %.0f us CPU (%.0f us wall)/connection (wfc_connmgr_open_conn "
         "by nickname, first open: store read, unseal, tokens held)\n",
         open_us, open_wall);

  /* A record through the redaction with every live token registered. */
  wfc__log_secret_stats st;
  wfc__log_get_secret_stats(&st);
  static char plain[161], with_token[1700], at[1501];
  memset(plain, 'x', sizeof plain - 1);
  fill(at, sizeof at - 1, (unsigned)(n / 2) * 2 + 1); /* a live token */
  snprintf(with_token, sizeof with_token, "token %s used", at);
  wfc__log_set_sink(null_sink, NULL);
  int reps = 2000;
  double c_plain = log_cost_us(plain, reps);
  double c_token = log_cost_us(with_token, reps);
  wfc__log_set_sink(NULL, NULL);
  printf("log record with %zu secrets registered: %.1f us CPU (160 bytes, "
         "no secret), %.1f us CPU (1.6 KiB holding a token)\n",
         st.count, c_plain, c_token);

  if (refreshes > 0 && bench_refresh(&loop, m, srv, n, refreshes) != 0)
    goto out;

  for (long i = 0; i <= n; i++)
    wfc_conn_release(conns[i]);
  free(conns);
  conns = NULL;
  int closed = 0;
  wfc_connmgr_close(m, set_flag, &closed);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  closed = 0;
  wfc_runtime_close(rt, set_flag, &closed);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  uv_run(&loop, UV_RUN_DEFAULT);
  status = uv_loop_close(&loop) == 0 ? 0 : 1;
out:
  free(conns);
  if (srv != NULL)
    ts_server_stop(srv);
  snprintf(path, sizeof path, "rm -rf '%s'", dir);
  if (system(path) != 0)
    status = 1;
  return status;
}
