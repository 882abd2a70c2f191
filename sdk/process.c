/* process.c - wfc_process_harden (wfc/host.h): process-wide protection of
 * the secrets a host holds. See docs/security.md. */
#define _GNU_SOURCE /* malloc_usable_size */
#include <errno.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include <curl/curl.h>

#include "crypto.h"
#include "log.h"
#include "secmem.h"
#include "wfc/host.h"

/* ---- libcurl's memory: cleansed when freed -------------------------------
 * libcurl copies what it sends and receives (the request it builds, with
 * its Authorization header; the body of a token request; the response as it
 * arrives) into buffers it frees without clearing them, so the bytes of a
 * token would stay in freed heap memory until reused. These allocators
 * cleanse every block first. */

static atomic_ulong curl_allocs; /* blocks libcurl took through us */

static void *cl_malloc(size_t n) {
  atomic_fetch_add(&curl_allocs, 1);
  return malloc(n);
}

static void *cl_calloc(size_t n, size_t size) {
  atomic_fetch_add(&curl_allocs, 1);
  return calloc(n, size);
}

static char *cl_strdup(const char *s) {
  atomic_fetch_add(&curl_allocs, 1);
  return strdup(s);
}

static void cl_free(void *p) {
  if (p == NULL)
    return;
  wfc__cleanse(p, malloc_usable_size(p));
  free(p);
}

/* A move would free the old block uncleansed: done by hand. */
static void *cl_realloc(void *p, size_t n) {
  if (p == NULL)
    return cl_malloc(n);
  size_t old = malloc_usable_size(p);
  if (n == 0) {
    cl_free(p);
    return NULL;
  }
  if (n <= old) {
    wfc__cleanse((char *)p + n, old - n); /* the tail it gives up */
    return p;
  }
  void *q = malloc(n);
  if (q == NULL)
    return NULL;
  memcpy(q, p, old);
  cl_free(p);
  return q;
}

/* 1 when libcurl allocates through cl_*: it was not initialized before. */
static int curl_uses_ours(void) {
  unsigned long before = atomic_load(&curl_allocs);
  struct curl_slist *l = curl_slist_append(NULL, "x");
  int ours = atomic_load(&curl_allocs) != before;
  curl_slist_free_all(l);
  return ours;
}

/* ---- core dumps --------------------------------------------------------- */

static int no_core_dumps(void) {
#ifdef __linux__
  struct rlimit rl;
  /* The soft limit: a file core is not written. The hard one is left, so
   * the user's shell keeps its own. */
  if (getrlimit(RLIMIT_CORE, &rl) != 0)
    return WFC_EIO;
  rl.rlim_cur = 0;
  if (setrlimit(RLIMIT_CORE, &rl) != 0)
    return WFC_EIO;
  /* Not dumpable: no core even through a pipe core pattern (which ignores
   * RLIMIT_CORE), and no ptrace or /proc/PID/mem by other processes of the
   * user. */
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0)
    return WFC_EIO;
  return 0;
#else
  return WFC_ENOTSUP;
#endif
}

int wfc_process_harden(const wfc_harden_opts *opts) {
  wfc_harden_opts o;
  memset(&o, 0, sizeof o);
  if (opts != NULL)
    memcpy(&o, opts,
           opts->size && opts->size < sizeof o ? opts->size : sizeof o);
  int rc = 0;
  if (!o.allow_core_dumps)
    rc = no_core_dumps();
  else
    wfc__log(WFC_LOG_INFO, "core dumps are allowed (debugging): a core of "
                           "this process may hold secrets the SDK could not "
                           "keep apart");
  wfc__secmem_init();
  if (curl_global_init_mem(CURL_GLOBAL_DEFAULT, cl_malloc, cl_free, cl_realloc,
                           cl_strdup, cl_calloc) != CURLE_OK)
    return WFC_ENOMEM;
  if (rc == 0 && !curl_uses_ours())
    rc = WFC_ESTATE;
  return rc;
}
