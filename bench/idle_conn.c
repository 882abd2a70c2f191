/* idle_conn.c - wfc-bench-idle: memory per idle connection held by the
 * connection manager (DESIGN.md 7: "idle connections cost kilobytes").
 *
 *   wfc-bench-idle [-n connections] [-S secure_heap_bytes]
 *
 * Fills a fresh store (temp dir) with n connections shaped like the
 * plugin's (params {"tenant"}, sealed credentials with a JWT-sized access
 * token and a refresh token), opens the manager, then opens every
 * connection with wfc_connmgr_open_conn (which loads and keeps the sealed
 * secrets, the params and the info in memory) and keeps the n wfc_conn
 * references. Prints the RSS delta (VmRSS, page granular) and the heap
 * delta (mallinfo2, bytes in use) divided by n. Figures only.
 *
 * The log's redaction list keeps a locked copy of every token (sdk/log.c):
 * a page of its own each unless the host set up OpenSSL's secure heap;
 * -S sets one up (CRYPTO_secure_malloc_init) to show the difference. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, getopt, optarg, mkdtemp */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <uv.h>

#include "store.h"
#include "wfc/connections.h"
#include "wfc/host.h"

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

static int fill_store(const char *path, const uint8_t key[32], long n) {
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
    snprintf(r.plugin, sizeof r.plugin, "o365mail");
    snprintf(r.conn_type, sizeof r.conn_type, "oauth");
    snprintf(r.environment, sizeof r.environment, "production");
    snprintf(r.account, sizeof r.account, "user%05ld@contoso.test", i);
    snprintf(r.state, sizeof r.state, "%s", WFC_CONN_CONNECTED);
    r.params = "{\"tenant\":\"contoso.test\"}";
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

int main(int argc, char **argv) {
  long n = 1000, secure = 0;
  int opt;
  while ((opt = getopt(argc, argv, "n:S:")) != -1) {
    if (opt == 'n')
      n = atol(optarg);
    else if (opt == 'S')
      secure = atol(optarg);
    else {
      fprintf(stderr, "usage: wfc-bench-idle [-n connections] "
                      "[-S secure_heap_bytes]\n");
      return 2;
    }
  }
  if (secure > 0 && CRYPTO_secure_malloc_init((size_t)secure, 32) != 1) {
    fprintf(stderr, "wfc-bench-idle: CRYPTO_secure_malloc_init failed\n");
    return 1;
  }
  if (n < 1 || n > 100000)
    return 2;
  char dir[] = "/tmp/wfc-bench-idle-XXXXXX", path[128];
  if (mkdtemp(dir) == NULL)
    return 1;
  snprintf(path, sizeof path, "%s/store.db", dir);
  uint8_t key[32];
  for (int i = 0; i < 32; i++)
    key[i] = (uint8_t)(i * 7 + 1);
  int status = 1;
  if (fill_store(path, key, n + 1) != 0)
    goto out;

  uv_loop_t loop;
  uv_loop_init(&loop);
  wfc_runtime *rt = NULL;
  wfc_connmgr *m = NULL;
  char err[256] = "";
  wfc_connmgr_opts mo = {
      .size = sizeof mo, .store_path = path, .master_key = key};
  if (wfc_runtime_new(&loop, NULL, &rt) != 0 ||
      wfc_connmgr_open(rt, &mo, &m, err, sizeof err) != 0) {
    fprintf(stderr, "wfc-bench-idle: open: %s\n", err);
    goto out;
  }
  wfc_conn **conns = calloc((size_t)n + 1, sizeof *conns);
  char name[32];
  /* One first open: SQLite's page cache and statements, lazy libraries. */
  if (wfc_connmgr_open_conn(m, "idle-00000", &conns[n]) != 0)
    goto out;
  malloc_trim(0);
  long rss0 = rss_kib();
  size_t heap0 = heap_bytes();
  for (long i = 1; i <= n; i++) {
    snprintf(name, sizeof name, "idle-%05ld", i);
    int rc = wfc_connmgr_open_conn(m, name, &conns[i - 1]);
    if (rc != 0) {
      fprintf(stderr, "wfc-bench-idle: open_conn %s: %d\n", name, rc);
      goto out;
    }
  }
  long rss1 = rss_kib();
  size_t heap1 = heap_bytes();
  printf("idle connections: %ld opened (wfc_connmgr_open_conn, secrets "
         "loaded%s): RSS +%ld KiB = %.2f KiB/connection; heap +%zu bytes = "
         "%.2f KiB/connection\n",
         n, secure > 0 ? ", OpenSSL secure heap" : "", rss1 - rss0,
         (double)(rss1 - rss0) / (double)n, heap1 - heap0,
         (double)(heap1 - heap0) / 1024.0 / (double)n);
  for (long i = 0; i <= n; i++)
    wfc_conn_release(conns[i]);
  free(conns);
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
  snprintf(path, sizeof path, "rm -rf '%s'", dir);
  if (system(path) != 0)
    status = 1;
  return status;
}
