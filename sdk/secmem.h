/* secmem.h - secret memory: where the SDK keeps tokens, unsealed store
 * secrets, token responses and the log's redaction copies.
 *
 * Secret memory is excluded from core dumps (MADV_DONTDUMP; OpenSSL's
 * secure heap is mapped so too), locked in RAM when it can be (mlock:
 * RLIMIT_MEMLOCK may be small, and a secret that could not be locked is
 * still kept apart and cleansed), and cleansed when freed. Small blocks
 * come from OpenSSL's secure heap (CRYPTO_secure_malloc: shared locked
 * pages); a block that does not fit, or any block when there is no heap,
 * gets an anonymous mapping of its own (whole pages, locked only up to
 * WFC__SECMEM_LOCK_MAX bytes). See docs/security.md.
 *
 * Threads: every function may be called from any thread.
 */
#ifndef WFC_SDK_SECMEM_H
#define WFC_SDK_SECMEM_H

#include <stddef.h>
#include <stdint.h>

/* The secure heap's size: $WFC_SECURE_HEAP bytes (a power of two from 4096
 * to 1 GiB; 0: none), default WFC__SECMEM_HEAP_DEFAULT: room for about
 * 2,000 tokens of up to 2 KiB (the allocator rounds up to powers of two)
 * and within the usual 8 MiB RLIMIT_MEMLOCK. */
#define WFC__SECMEM_HEAP_DEFAULT (4 * 1024 * 1024)
#define WFC__SECMEM_HEAP_MIN     32 /* smallest block, bytes */
/* Blocks larger than this never go to the secure heap (a response body
 * must not crowd the tokens out). */
#define WFC__SECMEM_HEAP_MAX (64 * 1024)
/* Mappings of their own are locked up to this size; larger ones are only
 * excluded from dumps. */
#define WFC__SECMEM_LOCK_MAX (64 * 1024)

enum {
  WFC__SECMEM_HEAP_OFF = 0,      /* none: WFC_SECURE_HEAP=0, or OpenSSL
                                    could not map it */
  WFC__SECMEM_HEAP_LOCKED = 1,   /* ours, locked and guarded */
  WFC__SECMEM_HEAP_UNLOCKED = 2, /* ours, but mlock or guard pages failed
                                    (still excluded from dumps) */
  WFC__SECMEM_HEAP_HOST = 3      /* the host's own, set up before */
};

/* Sets the secure heap up, once per process (the first call decides; a
 * heap the host set up itself with CRYPTO_secure_malloc_init is kept as
 * is). Never fails: without a heap every block takes a mapping of its own;
 * a heap that could not be locked is used all the same, with one warning.
 * Called by wfc_process_harden() and wfc_runtime_new() before any secret is
 * stored. Returns the outcome (WFC__SECMEM_HEAP_*), the same on every call.
 */
int wfc__secmem_init(void);

/* n zeroed bytes of secret memory (n 0 counts as 1), or NULL when out of
 * memory. Free with wfc__secmem_free (or wfc__secret_free for text). */
void *wfc__secmem_alloc(size_t n);
/* Resizes p (NULL: alloc) to n bytes, keeping min(old, n) bytes; the old
 * block is cleansed and freed. NULL when out of memory (p unchanged). */
void *wfc__secmem_realloc(void *p, size_t n);
/* Cleanses and frees p; NULL-safe. p must come from this module. */
void wfc__secmem_free(void *p);
/* 1 when p is a block of this module (from the secure heap or a mapping of
 * its own), else 0. */
int wfc__secmem_owns(const void *p);
/* Usable bytes of block p (at least what was asked). */
size_t wfc__secmem_size(const void *p);

/* A copy of s[0..n) plus a NUL in secret memory, or NULL. */
char *wfc__secmem_strndup(const char *s, size_t n);
/* A copy of s in secret memory, or NULL (also for s NULL). */
char *wfc__secmem_strdup(const char *s);

typedef struct wfc__secmem_stats {
  size_t in_heap;     /* live blocks in the secure heap */
  size_t mapped;      /* live blocks in mappings of their own */
  size_t mapped_size; /* their bytes */
  /* Slots of the mappings' hash set looked at so far (a few per block
   * mapped, freed or asked about, however many there are): for tests. */
  uint64_t map_probes;
} wfc__secmem_stats;
void wfc__secmem_get_stats(wfc__secmem_stats *out);

#endif
