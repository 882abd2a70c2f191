/* secmem: secret memory (sdk/secmem.h) and wfc_process_harden
 * (wfc/host.h). Blocks from OpenSSL's secure heap and in mappings of their
 * own, both excluded from core dumps (the "dd" flag of their mapping in
 * /proc/self/smaps), zeroed, resized and told apart from other pointers;
 * the hardening: not dumpable, RLIMIT_CORE 0, libcurl's allocators, and
 * what it does when told to allow cores or when libcurl was set up first.
 * The heap and the process settings are process-wide, so each case runs in
 * a child process (docs/security.md). */
#define _GNU_SOURCE /* setenv, unsetenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include "crypto.h"
#include "secmem.h"
#include "unit_test.h"
#include "wfc/host.h"

/* The VmFlags of the mapping holding p, from /proc/self/smaps ("" when not
 * found). */
static void vm_flags(const void *p, char *out, size_t len) {
  FILE *f = fopen("/proc/self/smaps", "r");
  char line[512];
  int in = 0;
  out[0] = '\0';
  CHECK(f != NULL);
  while (fgets(line, sizeof line, f) != NULL) {
    unsigned long lo, hi;
    if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') &&
        line[0] != 'V') {
      in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
    } else if (in && strncmp(line, "VmFlags:", 8) == 0) {
      size_t n = strlen(line + 8);
      if (n >= len)
        n = len - 1;
      memcpy(out, line + 8, n);
      out[n] = '\0';
      break;
    }
  }
  fclose(f);
}

/* p's mapping is excluded from core dumps. */
static int no_dump(const void *p) {
  char flags[512];
  vm_flags(p, flags, sizeof flags);
  return strstr(flags, " dd") != NULL;
}

static int all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i] != 0)
      return 0;
  return 1;
}

/* Small blocks share the secure heap; big ones get mappings of their own;
 * both are excluded from dumps, zeroed, and known to be ours. */
static void heap_and_mappings(void) {
  int st = wfc__secmem_init();
  CHECK(st == WFC__SECMEM_HEAP_LOCKED || st == WFC__SECMEM_HEAP_UNLOCKED);
  size_t used = CRYPTO_secure_used();

  char *small = wfc__secmem_strdup("a-refresh-token-canary");
  CHECK(small != NULL && strcmp(small, "a-refresh-token-canary") == 0);
  CHECK(CRYPTO_secure_allocated(small));
  CHECK(wfc__secmem_owns(small));
  CHECK(wfc__secmem_size(small) > strlen(small));
  CHECK(no_dump(small));

  size_t bign = WFC__SECMEM_HEAP_MAX + 1;
  unsigned char *big = wfc__secmem_alloc(bign);
  CHECK(big != NULL && !CRYPTO_secure_allocated(big));
  CHECK(wfc__secmem_owns(big));
  CHECK(wfc__secmem_size(big) >= bign);
  CHECK(all_zero(big, bign));
  CHECK(no_dump(big));
  wfc__secmem_stats s;
  wfc__secmem_get_stats(&s);
  CHECK(s.in_heap == 1 && s.mapped == 1 && s.mapped_size > bign);

  /* Growing moves (and cleanses the old block); the content follows. */
  memset(big, 'x', bign);
  unsigned char *bigger = wfc__secmem_realloc(big, 4 * bign);
  CHECK(bigger != NULL && bigger != big && wfc__secmem_owns(bigger));
  CHECK(!wfc__secmem_owns(big));
  CHECK(bigger[0] == 'x' && bigger[bign - 1] == 'x' && bigger[bign] == 0);
  CHECK(no_dump(bigger));

  /* Other pointers are not ours: malloc, the stack, NULL. */
  char *plain = strdup("plain");
  char local[16];
  CHECK(!wfc__secmem_owns(plain) && !wfc__secmem_owns(local) &&
        !wfc__secmem_owns(NULL));
  /* wfc__secret_free takes both kinds. */
  wfc__secret_free(plain);
  wfc__secret_free(small);
  wfc__secmem_free(bigger);
  wfc__secmem_free(NULL);
  wfc__secmem_get_stats(&s);
  CHECK(s.in_heap == 0 && s.mapped == 0 && s.mapped_size == 0);
  CHECK(CRYPTO_secure_used() == used);
}

static void secure_heap(void **state) {
  (void)state;
  unit_in_child("65536", heap_and_mappings);
}

/* Without a heap, small blocks take mappings of their own: excluded from
 * dumps all the same. */
static void mappings_only(void) {
  CHECK(wfc__secmem_init() == WFC__SECMEM_HEAP_OFF);
  char *t = wfc__secmem_strndup("token-canary-xyz", 5);
  CHECK(t != NULL && strcmp(t, "token") == 0);
  CHECK(wfc__secmem_owns(t) && no_dump(t));
  /* Shrinking a small block keeps it. */
  CHECK(wfc__secmem_realloc(t, 3) == t);
  wfc__secmem_free(t);
  wfc__secmem_stats s;
  wfc__secmem_get_stats(&s);
  CHECK(s.mapped == 0);
}

static void no_heap(void **state) {
  (void)state;
  unit_in_child("0", mappings_only);
}

/* Many blocks in mappings of their own (a host with thousands of
 * connections past its secure heap): each is known as ours, a pointer
 * inside one or just before it is not, and freeing them in a scattered order
 * forgets exactly the freed ones. Keeping track of a mapping costs a few
 * looks at the set, however many there are (a sorted array moved half of
 * itself on each). */
#define MANY_MAPS 20000
static void many_mappings(void) {
  CHECK(wfc__secmem_init() == WFC__SECMEM_HEAP_OFF);
  static unsigned char *b[MANY_MAPS];
  wfc__secmem_stats s0, s;
  wfc__secmem_get_stats(&s0);
  for (size_t i = 0; i < MANY_MAPS; i++) {
    b[i] = wfc__secmem_alloc(40);
    CHECK(b[i] != NULL);
    b[i][0] = (unsigned char)(i + 1);
  }
  wfc__secmem_get_stats(&s);
  CHECK(s.mapped == MANY_MAPS);
  for (size_t i = 0; i < MANY_MAPS; i++)
    CHECK(wfc__secmem_owns(b[i]) && !wfc__secmem_owns(b[i] + 16) &&
          !wfc__secmem_owns(b[i] - 1));
  /* Every third one, scattered (a stride prime to the count). */
  for (size_t k = 0, i = 0; k < MANY_MAPS; k++, i = (i + 7919) % MANY_MAPS)
    if (i % 3 == 0) {
      wfc__secmem_free(b[i]);
      b[i] = NULL;
    }
  size_t left = 0;
  for (size_t i = 0; i < MANY_MAPS; i++) {
    if (b[i] == NULL)
      continue;
    left++;
    CHECK(wfc__secmem_owns(b[i]) && b[i][0] == (unsigned char)(i + 1));
  }
  wfc__secmem_get_stats(&s);
  CHECK(s.mapped == left);
  for (size_t i = 0; i < MANY_MAPS; i++)
    wfc__secmem_free(b[i]);
  wfc__secmem_get_stats(&s);
  CHECK(s.mapped == 0 && s.mapped_size == 0);
  /* 20,000 allocations, 60,000 look-ups, 20,000 frees: a few looks each. */
  uint64_t ops = 5 * (uint64_t)MANY_MAPS;
  if (s.map_probes - s0.map_probes > 8 * ops) {
    fprintf(stderr, "%llu looks for %llu operations\n",
            (unsigned long long)(s.map_probes - s0.map_probes),
            (unsigned long long)ops);
    CHECK(0);
  }
}

static void many_blocks_mapped(void **state) {
  (void)state;
  unit_in_child("0", many_mappings);
}

/* ---- wfc_process_harden ------------------------------------------------- */

static void hardened(void) {
  struct rlimit rl;
  CHECK(getrlimit(RLIMIT_CORE, &rl) == 0);
  rl.rlim_cur = rl.rlim_max;
  CHECK(setrlimit(RLIMIT_CORE, &rl) == 0);
  CHECK(prctl(PR_GET_DUMPABLE) == 1);
  wfc_harden_opts o = {.size = sizeof o};
  CHECK(wfc_process_harden(&o) == 0);
  CHECK(prctl(PR_GET_DUMPABLE) == 0);
  CHECK(getrlimit(RLIMIT_CORE, &rl) == 0 && rl.rlim_cur == 0);
  CHECK(CRYPTO_secure_malloc_initialized());
  /* The process still reads its own /proc/self. */
  char exe[512];
  CHECK(readlink("/proc/self/exe", exe, sizeof exe) > 0);
  /* libcurl works with the cleansing allocators. */
  struct curl_slist *l = curl_slist_append(NULL, "Authorization: Bearer x");
  CHECK(l != NULL);
  l = curl_slist_append(l, "Accept: application/json");
  CHECK(l != NULL && l->next != NULL);
  curl_slist_free_all(l);
  CURL *c = curl_easy_init();
  CHECK(c != NULL);
  curl_easy_cleanup(c);
  curl_global_cleanup();
}

static void harden_default(void **state) {
  (void)state;
  unit_in_child(NULL, hardened);
}

static void allowed(void) {
  struct rlimit before, after;
  CHECK(getrlimit(RLIMIT_CORE, &before) == 0);
  CHECK(wfc_process_harden(&(wfc_harden_opts){.size = sizeof(wfc_harden_opts),
                                              .allow_core_dumps = 1}) == 0);
  CHECK(prctl(PR_GET_DUMPABLE) == 1);
  CHECK(getrlimit(RLIMIT_CORE, &after) == 0);
  CHECK(after.rlim_cur == before.rlim_cur);
  curl_global_cleanup();
}

static void harden_allowing_cores(void **state) {
  (void)state;
  unit_in_child(NULL, allowed);
}

/* libcurl set up first: its allocators cannot be ours any more; the core
 * settings are made all the same. NULL options are the defaults. */
static void curl_first(void) {
  CHECK(curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK);
  CHECK(wfc_process_harden(NULL) == WFC_ESTATE);
  CHECK(prctl(PR_GET_DUMPABLE) == 0);
  curl_global_cleanup();
  curl_global_cleanup();
}

static void harden_after_curl(void **state) {
  (void)state;
  unit_in_child(NULL, curl_first);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(secure_heap),
      cmocka_unit_test(no_heap),
      cmocka_unit_test(many_blocks_mapped),
      cmocka_unit_test(harden_default),
      cmocka_unit_test(harden_allowing_cores),
      cmocka_unit_test(harden_after_curl),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
