/* store_pg_load.c - finds and loads the PostgreSQL backend's module
 * (store_module.h, docs/store.md "How the PostgreSQL backend is loaded")
 * the first time a PostgreSQL location is opened, so that libwfc itself
 * does not link libpq: a process on an SQLite store loads neither.
 *
 * Where: $WFC_STORE_PG_MODULE when set (that file only); else beside the
 * object this code is in, found with dladdr: <dir>/wfc/wfc-store-pg.so
 * (libwfc in <prefix>/<libdir> installed, build/lib in the build tree),
 * or <dir>/../lib/wfc/wfc-store-pg.so for a program in build/bin or
 * build/tests holding the SDK statically. No environment needed. */
#define _GNU_SOURCE /* dladdr1, secure_getenv */
#include "store_module.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "crypto.h"
#include "elfcheck.h"
#include "wfc/version.h"

static const wfc__store_host host = {
    .version = WFC__STORE_MODULE_VERSION,
    .size = sizeof(wfc__store_host),
    .ops_size = sizeof(wfc__store_ops),
    .sdk = WFC_VERSION_STRING,
    .fail = wfc__store_fail,
    .err_save = wfc__store_err_save,
    .err_restore = wfc__store_err_restore,
    .no_conn = wfc__store_no_conn,
    .conn_taken = wfc__store_conn_taken,
    .cp_moved = wfc__store_cp_moved,
    .lease_busy = wfc__store_lease_busy,
    .lease_none = wfc__store_lease_none,
    .lease_long = wfc__store_lease_long,
    .srow_clear = wfc__srow_clear,
    .srow_text = wfc__srow_text,
    .srow_blob = wfc__srow_blob,
    .srow_int = wfc__srow_int,
    .srow_null = wfc__srow_null,
    .open_tx = wfc__store_open_tx,
    .wait_ms = wfc__store_wait_ms,
    .lost = wfc__store_lost,
    .monotonic_ms = wfc__monotonic_ms,
    .now_ms = wfc__now_ms,
    .cleanse = wfc__cleanse,
};

/* Under mu: the module's table once loaded (then never changed: the
 * module stays loaded), else why the last try failed. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static const wfc__store_ops *loaded;
static char load_err[PATH_MAX + 1024]; /* path, loader's words, hint */

/* The directory of the object (libwfc.so, or the program holding the SDK
 * statically: *program set) this code is in. 0, or -1. */
static int own_dir(char *buf, size_t len, int *program) {
  Dl_info di;
  struct link_map *lm = NULL;
  const char *name = NULL;
  char exe[PATH_MAX];

  *program = 0;
  if (dladdr1((void *)own_dir, &di, (void **)&lm, RTLD_DL_LINKMAP) != 0 &&
      lm != NULL && lm->l_name != NULL && lm->l_name[0] != '\0')
    name = lm->l_name; /* a shared object: the path it was loaded from */
  else {
    *program = 1;
    /* The main program: its link map has no name, and dladdr's is argv[0]
     * (relative, or not a path at all). */
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
      return -1;
    exe[n] = '\0';
    name = exe;
  }
  const char *slash = strrchr(name, '/');
  size_t n = slash != NULL ? (size_t)(slash - name) : 1;
  char raw[PATH_MAX], real[PATH_MAX];
  if (n >= sizeof raw)
    return -1;
  memcpy(raw, slash != NULL ? name : ".", n);
  raw[n] = '\0';
  /* Resolved ("bin/../lib" as RUNPATH $ORIGIN/../lib finds libwfc, names
   * the directory in messages as lib). */
  const char *dir = realpath(n > 0 ? raw : "/", real) != NULL ? real : raw;
  return (size_t)snprintf(buf, len, "%s", dir) >= len ? -1 : 0;
}

/* Checks and opens path (a regular file, not writable by group or others:
 * loading runs its code; its ELF headers sound: elfcheck.h) and returns
 * its table. NULL with why; *absent: there is no file at path. */
static const wfc__store_ops *try_load(const char *path, int *absent, char *why,
                                      size_t whylen) {
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  *absent = 0;
  if (fd < 0) {
    *absent = errno == ENOENT || errno == ENOTDIR;
    snprintf(why, whylen, "%s", strerror(errno));
    return NULL;
  }
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    snprintf(why, whylen, "not a regular file");
    return NULL;
  }
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    close(fd);
    snprintf(why, whylen,
             "refusing a group- or world-writable file (mode %04o)",
             (unsigned)(st.st_mode & 07777));
    return NULL;
  }
  wfc__elf_info info;
  int rc = wfc__elf_check(fd, (uint64_t)st.st_size, &info, why, whylen);
  close(fd);
  if (rc != 0)
    return NULL;

  dlerror();
  void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (dl == NULL) {
    /* e.g. "libpq.so.5: cannot open shared object file: ..." */
    const char *e = dlerror();
    size_t pn = strlen(path);
    if (e != NULL && strncmp(e, path, pn) == 0 && strncmp(e + pn, ": ", 2) == 0)
      e += pn + 2;
    snprintf(why, whylen, "%s", e ? e : "dlopen failed");
    return NULL;
  }
  wfc__store_module_init_fn init;
  *(void **)&init = dlsym(dl, WFC__STORE_MODULE_INIT);
  if (init == NULL) {
    snprintf(why, whylen, "not a wfc store module (no %s)",
             WFC__STORE_MODULE_INIT);
    dlclose(dl);
    return NULL;
  }
  const wfc__store_ops *ops = init(&host, why, whylen);
  if (ops == NULL)
    dlclose(dl);
  return ops; /* the module stays loaded for the life of the process */
}

/* Loads the module; mu held. NULL with load_err set. */
static const wfc__store_ops *load(void) {
  const char *env = secure_getenv(WFC__STORE_PG_MODULE_ENV);
  char dir[PATH_MAX], path[PATH_MAX + 64], why[512] = "";
  int absent, program;
  const wfc__store_ops *ops;

  if (env != NULL && env[0] != '\0') {
    /* A name without a slash would be searched in the library path. */
    snprintf(path, sizeof path, "%s%s", strchr(env, '/') ? "" : "./", env);
  } else if (own_dir(dir, sizeof dir, &program) == 0) {
    /* libwfc.so is in the library directory; a program holding the SDK
     * statically (tests, benchmarks) is in build/bin or build/tests. */
    snprintf(path, sizeof path, "%s/%s%s/%s", dir, program ? "../lib/" : "",
             WFC__STORE_MODULE_SUBDIR, WFC__STORE_PG_MODULE);
  } else {
    snprintf(load_err, sizeof load_err,
             "store: PostgreSQL stores need wfc's module %s, and the "
             "directory of libwfc could not be found to look for it; set "
             "%s to its path",
             WFC__STORE_PG_MODULE, WFC__STORE_PG_MODULE_ENV);
    return NULL;
  }
  if ((ops = try_load(path, &absent, why, sizeof why)) != NULL)
    return ops;
  if (absent)
    snprintf(load_err, sizeof load_err,
             "store: PostgreSQL stores need wfc's module %s, not found (%s); "
             "install it with wfc (cmake --install puts it in "
             "<libdir>/wfc/ beside libwfc), or set %s to its path",
             WFC__STORE_PG_MODULE, path, WFC__STORE_PG_MODULE_ENV);
  else if (strstr(why, "libpq") != NULL) /* dlopen: libpq not installed */
    snprintf(load_err, sizeof load_err,
             "store: PostgreSQL stores need wfc's module %s, which cannot be "
             "loaded: %s; install the PostgreSQL client library libpq "
             "(Debian/Ubuntu: apt-get install libpq5; Fedora: libpq)",
             path, why);
  else
    snprintf(load_err, sizeof load_err,
             "store: PostgreSQL stores need wfc's module %s, which cannot be "
             "loaded: %s; install the module of this wfc's build (cmake "
             "--install) or set %s to it",
             path, why, WFC__STORE_PG_MODULE_ENV);
  return NULL;
}

/* ---- the table of a module that could not be loaded ----------------------
 * Names its location without libpq (which would parse it), and fails the
 * open with load_err. */

static int missing_claims(const char *location) {
  return 1;
}

static void missing_describe(const char *location, char *buf, size_t len) {
  snprintf(buf, len, "(a PostgreSQL location)");
}

static int missing_open(wfc__store *st, const char *location, int timeout_ms,
                        void **be) {
  char msg[sizeof load_err];

  *be = NULL;
  pthread_mutex_lock(&mu);
  memcpy(msg, load_err, sizeof msg);
  pthread_mutex_unlock(&mu);
  return wfc__store_fail(WFC_ENOTSUP, "%s", msg);
}

static void missing_close(void *be) {
}

static const wfc__store_ops missing_ops = {
    .name = "postgresql",
    .noun = "store",
    .db_words = "a PostgreSQL database",
    .claims = missing_claims,
    .describe = missing_describe,
    .open = missing_open,
    .close = missing_close,
};

const wfc__store_ops *wfc__store_pg_backend(void) {
  const wfc__store_ops *ops;

  pthread_mutex_lock(&mu);
  if (loaded == NULL)
    loaded = load(); /* tried again next time if it failed */
  ops = loaded;
  pthread_mutex_unlock(&mu);
  return ops != NULL ? ops : &missing_ops;
}

int wfc__store_pg_location(const char *location) {
  if (strncmp(location, "postgresql://", 13) == 0 ||
      strncmp(location, "postgres://", 11) == 0)
    return 1;
  /* libpq's keyword form ("host=... dbname=..."): a path never parses as
   * one (a keyword must be one libpq knows), which only libpq can say. */
  if (strchr(location, '=') == NULL || location[0] == '/' || location[0] == '.')
    return 0;
  return wfc__store_pg_backend()->claims(location);
}
