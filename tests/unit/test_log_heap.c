/* log: OpenSSL's secure heap for the secret copies (wfc__secmem_init
 * and wfc_runtime_new): its size from WFC_SECURE_HEAP, a malformed value,
 * switched off, the host's own heap kept, the heap full, and OpenSSL
 * failing to set it up - redaction works in every case. The heap is
 * process-wide and set up once, so each case runs in a child process. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, setenv, unsetenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/crypto.h>
#include <uv.h>

#include "log.h"
#include "secmem.h"
#include "unit_test.h"
#include "wfc/host.h"

static char records[1 << 14];

static void capture_sink(void *arg, int level, const char *line) {
  (void)arg;
  (void)level;
  size_t n = strlen(records);
  snprintf(records + n, sizeof records - n, "%s\n", line);
}

static void (*child_case)(void);

/* In the child: the case with the log's lines captured in records. */
static void captured(void) {
  wfc__log_set_sink(capture_sink, NULL);
  child_case();
  wfc__log_forget_all();
}

/* Runs fn in a child with WFC_SECURE_HEAP = env (NULL: unset). */
static void in_child(const char *env, void (*fn)(void)) {
  child_case = fn;
  unit_in_child(env, captured);
}

/* Registers secret and checks a log line redacts it. */
static void check_redacted(const char *secret) {
  CHECK(wfc__log_secret(secret) == 0);
  records[0] = '\0';
  wfc__log(WFC_LOG_ERROR, "<%s>", secret);
  CHECK(strstr(records, "ERROR <[REDACTED]>\n") != NULL);
}

/* The same for the only secret, stored in the heap (in_heap 1) or not. */
static void check_only(const char *secret, size_t in_heap) {
  wfc__log_secret_stats s;
  check_redacted(secret);
  wfc__log_get_secret_stats(&s);
  CHECK(s.count == 1 && s.in_secure_heap == in_heap);
}

static int heap_ours(int st) {
  return st == WFC__SECMEM_HEAP_LOCKED || st == WFC__SECMEM_HEAP_UNLOCKED;
}

/* 64 KiB from the environment: small secrets share it; once full, the
 * rest take pages of their own and are redacted all the same;
 * forgetting gives the heap back. */
static void sized_from_env(void) {
  int st = wfc__secmem_init();
  CHECK(heap_ours(st));
  CHECK(wfc__secmem_init() == st); /* once */
  CHECK(CRYPTO_secure_malloc_initialized());
  check_only("small-secret-canary", 1);
  wfc__log_secret_stats s;
  CHECK(CRYPTO_secure_used() > 0);

  char big[1001], first[1001];
  for (int i = 0; i < 100; i++) {
    memset(big, 'a' + i % 26, 1000);
    snprintf(big, sizeof big, "big-%03d-", i);
    big[8] = 'x';
    big[1000] = '\0';
    if (i == 0)
      memcpy(first, big, sizeof big);
    check_redacted(big);
  }
  wfc__log_get_secret_stats(&s);
  CHECK(s.count == 101);
  /* 1 KiB blocks in a 64 KiB heap: some fit, the others did not. */
  CHECK(s.in_secure_heap >= 32 && s.in_secure_heap <= 64);
  CHECK(s.in_secure_heap < s.count);
  records[0] = '\0';
  wfc__log(WFC_LOG_ERROR, "%s|%s", first, big);
  CHECK(strstr(records, "ERROR [REDACTED]|[REDACTED]\n") != NULL);
  wfc__log_forget_all();
  CHECK(CRYPTO_secure_used() == 0);
}

static void env_sized(void **state) {
  (void)state;
  in_child("65536", sized_from_env);
}

static void switched_off(void) {
  CHECK(wfc__secmem_init() == WFC__SECMEM_HEAP_OFF);
  CHECK(!CRYPTO_secure_malloc_initialized());
  check_only("paged-secret-canary", 0);
  CHECK(strstr(records, "secure heap") == NULL); /* asked for: no warning */
}

static void env_zero(void **state) {
  (void)state;
  in_child("0", switched_off);
}

static void malformed(void) {
  CHECK(heap_ours(wfc__secmem_init()));
  CHECK(strstr(records, "WARN WFC_SECURE_HEAP=12345: expected 0 or a power "
                        "of two from 4096 to 1073741824 (bytes); using "
                        "4194304\n") != NULL);
  check_only("default-heap-canary", 1);
}

static void env_malformed(void **state) {
  (void)state;
  in_child("12345", malformed);
}

static void hosts_own(void) {
  CHECK(CRYPTO_secure_malloc_init(1 << 15, 16) != 0);
  CHECK(wfc__secmem_init() == WFC__SECMEM_HEAP_HOST);
  check_only("host-heap-canary", 1);
}

static void host_heap_kept(void **state) {
  (void)state;
  in_child("65536", hosts_own);
}

#if !defined(__SANITIZE_ADDRESS__)
/* OpenSSL cannot map the heap (address space limited below its size):
 * one warning, and secrets on page runs of their own. */
static void openssl_fails(void) {
  struct rlimit rl = {256u << 20, 256u << 20};
  CHECK(setrlimit(RLIMIT_AS, &rl) == 0);
  int st = wfc__secmem_init();
  if (st != WFC__SECMEM_HEAP_OFF)
    _exit(UNIT_SKIPPED); /* a tool in between ignores the limit */
  CHECK(!CRYPTO_secure_malloc_initialized());
  CHECK(strstr(records, "WARN no secure heap for secrets (1073741824 bytes): "
                        "each secret takes pages of its own\n") != NULL);
  check_only("fallback-canary", 0);
}
#endif

static void fallback_when_openssl_fails(void **state) {
  (void)state;
#if defined(__SANITIZE_ADDRESS__)
  skip(); /* ASan's shadow memory does not live under an RLIMIT_AS */
#else
  in_child("1073741824", openssl_fails);
#endif
}

static void on_closed(void *arg) {
  *(int *)arg = 1;
}

/* The runtime is the host: it sets the heap up (default size). */
static void by_runtime(void) {
  uv_loop_t loop;
  wfc_runtime *rt = NULL;
  int closed = 0;
  CHECK(!CRYPTO_secure_malloc_initialized());
  CHECK(uv_loop_init(&loop) == 0);
  CHECK(wfc_runtime_new(&loop, NULL, &rt) == 0);
  CHECK(CRYPTO_secure_malloc_initialized());
  CHECK(heap_ours(wfc__secmem_init()));
  check_only("runtime-heap-canary", 1);
  wfc_runtime_close(rt, on_closed, &closed);
  while (!closed)
    uv_run(&loop, UV_RUN_ONCE);
  CHECK(uv_loop_close(&loop) == 0);
}

static void runtime_sets_up(void **state) {
  (void)state;
  in_child(NULL, by_runtime);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(env_sized),
      cmocka_unit_test(env_zero),
      cmocka_unit_test(env_malformed),
      cmocka_unit_test(host_heap_kept),
      cmocka_unit_test(fallback_when_openssl_fails),
      cmocka_unit_test(runtime_sets_up),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
