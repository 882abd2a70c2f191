/* secmem.c - secret memory (see secmem.h). */
#define _DEFAULT_SOURCE /* MADV_DONTDUMP, MAP_ANONYMOUS */
#include "secmem.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "log.h"

/* ---- the secure heap ---------------------------------------------------- */

static pthread_once_t heap_once = PTHREAD_ONCE_INIT;
static int heap_state = WFC__SECMEM_HEAP_OFF;

/* WFC_SECURE_HEAP: bytes, a power of two in [4096, 1 GiB], or 0 for none.
 * Returns the size, or the default with a warning when malformed. */
static size_t heap_size_from_env(void) {
  const char *v = getenv("WFC_SECURE_HEAP");
  unsigned long long n;
  char *end;

  if (v == NULL || *v == '\0')
    return WFC__SECMEM_HEAP_DEFAULT;
  errno = 0;
  n = strtoull(v, &end, 10);
  if (errno == 0 && *end == '\0' && v[0] != '-' &&
      (n == 0 || (n >= 4096 && n <= (1ull << 30) && (n & (n - 1)) == 0)))
    return (size_t)n;
  wfc__log(WFC_LOG_WARN,
           "WFC_SECURE_HEAP=%s: expected 0 or a power of two from 4096 to "
           "1073741824 (bytes); using %d",
           v, WFC__SECMEM_HEAP_DEFAULT);
  return WFC__SECMEM_HEAP_DEFAULT;
}

static void heap_init_once(void) {
  size_t size;
  int rc;

  if (CRYPTO_secure_malloc_initialized()) {
    heap_state = WFC__SECMEM_HEAP_HOST;
    return;
  }
  size = heap_size_from_env();
  if (size == 0)
    return; /* off by request: mappings of their own */
  rc = CRYPTO_secure_malloc_init(size, WFC__SECMEM_HEAP_MIN);
  if (rc == 1) {
    heap_state = WFC__SECMEM_HEAP_LOCKED;
  } else if (rc == 2) {
    /* Mapped but not locked or not guarded (RLIMIT_MEMLOCK below the size,
     * mostly): still apart from the ordinary heap, excluded from dumps and
     * cleansed. */
    heap_state = WFC__SECMEM_HEAP_UNLOCKED;
    wfc__log(WFC_LOG_WARN,
             "the secure heap for secrets (%zu bytes) could not be locked in "
             "memory (RLIMIT_MEMLOCK?): secrets may be swapped out",
             size);
  } else {
    wfc__log(WFC_LOG_WARN,
             "no secure heap for secrets (%zu bytes): each secret takes "
             "pages of its own",
             size);
  }
}

int wfc__secmem_init(void) {
  pthread_once(&heap_once, heap_init_once);
  return heap_state;
}

/* ---- mappings of their own ---------------------------------------------- */

/* A mapped block: this header at the start of its mapping, the caller's
 * bytes after it. */
typedef struct maphdr {
  size_t map_len;  /* bytes mapped */
  size_t user_len; /* bytes usable by the caller */
  int locked;
  int pad;
} maphdr;
#define HDR ((sizeof(maphdr) + 15) & ~(size_t)15)

/* The live mappings' addresses in a hash set (open addressing, linear
 * probing, at most half full), so that wfc__secmem_owns() can tell a block
 * of ours from any other pointer without reading it, and adding or
 * removing one costs the same with 10 or 100,000 of them (a host holding
 * 10,000 connections past the secure heap has ~50,000). Slot 0 is empty:
 * a mapping's address never is. */
static pthread_mutex_t map_mu = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *maps;
static size_t nmaps, capmaps, mapped_bytes;
static uint64_t map_probes; /* slots looked at, for wfc__secmem_get_stats */

static size_t map_slot(uintptr_t base) {
  uint64_t x = (uint64_t)base >> 12; /* page-aligned: the low bits are 0 */
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return (size_t)x & (capmaps - 1);
}

/* Caller holds map_mu; capmaps > 0. The slot of base, or the empty slot
 * where it would go. */
static size_t map_find(uintptr_t base) {
  size_t i = map_slot(base);
  for (map_probes++; maps[i] != 0 && maps[i] != base; map_probes++)
    i = (i + 1) & (capmaps - 1);
  return i;
}

/* Caller holds map_mu. Makes room for one more: 0 or -1. */
static int map_reserve(void) {
  if (2 * (nmaps + 1) <= capmaps)
    return 0;
  size_t ncap = capmaps ? capmaps * 2 : 64;
  uintptr_t *n = calloc(ncap, sizeof *n), *old = maps;
  size_t oldcap = capmaps;
  if (n == NULL)
    return -1;
  maps = n;
  capmaps = ncap;
  for (size_t i = 0; i < oldcap; i++)
    if (old[i] != 0)
      maps[map_find(old[i])] = old[i];
  free(old);
  return 0;
}

static int map_register(uintptr_t base, size_t len) {
  int rc = 0;
  pthread_mutex_lock(&map_mu);
  if (map_reserve() != 0) {
    rc = -1;
  } else {
    maps[map_find(base)] = base;
    nmaps++;
    mapped_bytes += len;
  }
  pthread_mutex_unlock(&map_mu);
  return rc;
}

/* 1 when base was registered (and is no more). */
static int map_unregister(uintptr_t base, size_t len) {
  int found = 0;
  pthread_mutex_lock(&map_mu);
  size_t i = capmaps > 0 ? map_find(base) : 0;
  if (capmaps > 0 && maps[i] == base) {
    found = 1;
    nmaps--;
    mapped_bytes -= len;
    /* Backward shift: the entries after it in its run that could sit
     * earlier move into the gap, so no lookup stops early at it. */
    size_t j = i;
    for (;;) {
      maps[i] = 0;
      for (;;) {
        j = (j + 1) & (capmaps - 1);
        map_probes++;
        if (maps[j] == 0)
          goto out;
        size_t k = map_slot(maps[j]);
        /* maps[j] stays when its home k lies cyclically in (i, j]. */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
          continue;
        break;
      }
      maps[i] = maps[j];
      i = j;
    }
  }
out:
  pthread_mutex_unlock(&map_mu);
  return found;
}

static int map_known(uintptr_t base) {
  int found;
  pthread_mutex_lock(&map_mu);
  found = capmaps > 0 && maps[map_find(base)] == base;
  pthread_mutex_unlock(&map_mu);
  return found;
}

static void *map_alloc(size_t n) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  if (n > SIZE_MAX - HDR - page)
    return NULL;
  size_t len = (n + HDR + page - 1) / page * page;
  unsigned char *m = mmap(NULL, len, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED)
    return NULL;
  /* Best effort both: a kernel without MADV_DONTDUMP, or a small
   * RLIMIT_MEMLOCK, still leaves a block apart and cleansed. */
  (void)madvise(m, len, MADV_DONTDUMP);
  maphdr *h = (maphdr *)m;
  h->map_len = len;
  h->user_len = len - HDR;
  h->locked = len <= WFC__SECMEM_LOCK_MAX && mlock(m, len) == 0;
  if (map_register((uintptr_t)m, len) != 0) {
    if (h->locked)
      munlock(m, len);
    munmap(m, len);
    return NULL;
  }
  return m + HDR; /* zeroed: a fresh anonymous mapping */
}

static void map_free(unsigned char *m) {
  maphdr *h = (maphdr *)m;
  size_t len = h->map_len;
  int locked = h->locked;
  map_unregister((uintptr_t)m, len);
  /* The pages go back to the kernel, which zeroes them before any reuse;
   * cleansing first also covers a page the kernel has not taken yet. */
  OPENSSL_cleanse(m, len);
  if (locked)
    munlock(m, len);
  munmap(m, len);
}

/* ---- blocks ------------------------------------------------------------- */

static atomic_size_t heap_blocks; /* live blocks in the secure heap */

static int in_heap(const void *p) {
  return CRYPTO_secure_malloc_initialized() && CRYPTO_secure_allocated(p);
}

void *wfc__secmem_alloc(size_t n) {
  if (n == 0)
    n = 1;
  /* The heap is only used once set up (wfc__secmem_init): setting it up
   * here could log while the logger's lock is held (log.c allocates its
   * copies under it). */
  if (n <= WFC__SECMEM_HEAP_MAX && CRYPTO_secure_malloc_initialized()) {
    void *p = OPENSSL_secure_zalloc(n);
    if (p != NULL && CRYPTO_secure_allocated(p)) {
      atomic_fetch_add(&heap_blocks, 1);
      return p;
    }
    /* Full: OpenSSL fell back to its ordinary heap. */
    OPENSSL_secure_free(p);
  }
  return map_alloc(n);
}

int wfc__secmem_owns(const void *p) {
  if (p == NULL)
    return 0;
  if (in_heap(p))
    return 1;
  return (uintptr_t)p >= HDR && map_known((uintptr_t)p - HDR);
}

size_t wfc__secmem_size(const void *p) {
  if (p == NULL)
    return 0;
  if (in_heap(p))
    return OPENSSL_secure_actual_size((void *)p);
  return ((const maphdr *)((const unsigned char *)p - HDR))->user_len;
}

void wfc__secmem_free(void *p) {
  if (p == NULL)
    return;
  if (in_heap(p)) {
    OPENSSL_secure_clear_free(p, OPENSSL_secure_actual_size(p));
    atomic_fetch_sub(&heap_blocks, 1);
  } else
    map_free((unsigned char *)p - HDR);
}

void *wfc__secmem_realloc(void *p, size_t n) {
  if (p == NULL)
    return wfc__secmem_alloc(n);
  size_t old = wfc__secmem_size(p);
  if (n <= old)
    return p; /* fits: no copy to leave behind */
  void *q = wfc__secmem_alloc(n);
  if (q == NULL)
    return NULL;
  memcpy(q, p, old < n ? old : n);
  wfc__secmem_free(p);
  return q;
}

char *wfc__secmem_strndup(const char *s, size_t n) {
  if (s == NULL || n == SIZE_MAX)
    return NULL;
  char *d = wfc__secmem_alloc(n + 1);
  if (d != NULL)
    memcpy(d, s, n); /* d[n] is already 0 */
  return d;
}

char *wfc__secmem_strdup(const char *s) {
  return s != NULL ? wfc__secmem_strndup(s, strlen(s)) : NULL;
}

void wfc__secmem_get_stats(wfc__secmem_stats *out) {
  pthread_mutex_lock(&map_mu);
  out->mapped = nmaps;
  out->mapped_size = mapped_bytes;
  out->map_probes = map_probes;
  pthread_mutex_unlock(&map_mu);
  out->in_heap = atomic_load(&heap_blocks);
}
