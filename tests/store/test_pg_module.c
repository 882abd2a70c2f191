/* The PostgreSQL backend is a module that libwfc loads only when a
 * PostgreSQL location is opened (docs/store.md, "How the PostgreSQL
 * backend is loaded"; issue 10: the single-host path unchanged in speed):
 *
 *   - libwfc's ELF DT_NEEDED names no libpq (read with the SDK's own ELF
 *     reader, elfcheck.h), and the module's does;
 *   - a real `wfc` process on an SQLite store (and `wfc --version`) loads
 *     neither libpq nor the module (the dynamic linker's own account of
 *     what it loaded: LD_DEBUG=files);
 *   - the same `wfc` on a throw-away PostgreSQL (pg_cluster.h) loads the
 *     module from build/lib/wfc/ with no environment, then libpq, and
 *     works;
 *   - without the module (WFC_STORE_PG_MODULE naming a file that is not
 *     there), or with a module whose libpq is not installed (a copy whose
 *     DT_NEEDED names a libpq that does not exist), opening a PostgreSQL
 *     store, URL or keyword form, fails with the path tried and what to
 *     install, and the same process environment still runs SQLite;
 *   - run again on an installed prefix (ctest install_pg_store): the same,
 *     and a copy of the prefix moved elsewhere finds its module, or
 *     without it says where it looked. */
#define _GNU_SOURCE /* mkdtemp, setenv */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfcheck.h"
#include "pg_cluster.h"
#include "tfile.h"
#include "wfc_proc.h"
#include "tsys.h"

#define KEY "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* build: the build tree, or an installed prefix (install_pg_store);
 * libdir: its library directory, relative. */
static char build[400], libdir[100], wfc_bin[512], module[600], dir[256];
static int installed;
static pg_cluster *pg;

/* ---- DT_NEEDED -------------------------------------------------------- */

typedef struct needs {
  char list[2048]; /* "a b c " */
} needs;

static int add_needed(const char *name, void *arg) {
  needs *n = arg;
  size_t o = strlen(n->list);
  snprintf(n->list + o, sizeof n->list - o, "%s ", name);
  return 0;
}

static void needed_of(const char *path, needs *n) {
  char why[512];
  struct stat st;
  int fd = open(path, O_RDONLY | O_CLOEXEC);

  memset(n, 0, sizeof *n);
  if (fd < 0 || fstat(fd, &st) != 0)
    fail_msg("cannot open %s", path);
  int rc =
      wfc__elf_needed(fd, (uint64_t)st.st_size, add_needed, n, why, sizeof why);
  close(fd);
  if (rc != 0)
    fail_msg("%s: %s", path, why);
}

static void test_libwfc_does_not_need_libpq(void **state) {
  char lib[600];
  needs n;
  (void)state;

  snprintf(lib, sizeof lib, "%s/%s/libwfc.so", build, libdir);
  needed_of(lib, &n);
  printf("libwfc needs: %s\n", n.list);
  /* The walk sees the library's needs (not an empty list passing)... */
  assert_non_null(strstr(n.list, "libc.so"));
  assert_non_null(strstr(n.list, "libsqlite3"));
  /* ...and libpq is not one of them. */
  if (strstr(n.list, "libpq") != NULL)
    fail_msg("libwfc links libpq: %s", n.list);
  needed_of(module, &n);
  printf("%s needs: %s\n", module, n.list);
  assert_non_null(strstr(n.list, "libpq.so"));
  /* It takes store.c's services from the table it is given, not from
   * libwfc (which would be a second copy in a program holding the SDK
   * statically). */
  assert_null(strstr(n.list, "libwfc"));
}

/* ---- what a `wfc` process loads --------------------------------------- */

typedef struct child_env {
  const char *ld_out;      /* LD_DEBUG_OUTPUT prefix, NULL: no LD_DEBUG */
  const char *store;       /* WFC_STORE */
  const char *module_path; /* WFC_STORE_PG_MODULE, NULL: unset */
} child_env;

static void prepare(void *arg) {
  const child_env *e = arg;
  if (e->ld_out != NULL) {
    setenv("LD_DEBUG", "files", 1);
    setenv("LD_DEBUG_OUTPUT", e->ld_out, 1);
  }
  setenv("WFC_STORE", e->store, 1);
  setenv("WFC_MASTER_KEY", KEY, 1);
  if (e->module_path != NULL)
    setenv("WFC_STORE_PG_MODULE", e->module_path, 1);
  else
    unsetenv("WFC_STORE_PG_MODULE");
}

/* Runs wfc ARGS in env; with ld (a buffer of ldlen), the dynamic linker's
 * log of the files it loaded. Returns the exit status. */
static int run(wproc *p, const char *const *args, child_env *e, char *ld,
               size_t ldlen) {
  const char *argv[16];
  char ldd[400], prefix[420];
  int n = 0;

  argv[n++] = wfc_bin;
  for (int i = 0; args[i] != NULL && n < 15; i++)
    argv[n++] = args[i];
  argv[n] = NULL;
  if (ld != NULL) {
    snprintf(ldd, sizeof ldd, "%s/ld-XXXXXX", dir);
    assert_non_null(mkdtemp(ldd));
    snprintf(prefix, sizeof prefix, "%s/out", ldd);
    e->ld_out = prefix;
  } else {
    e->ld_out = NULL;
  }
  wproc_start(p, argv, prepare, e);
  int code = wproc_wait(p);
  if (ld != NULL) {
    /* LD_DEBUG_OUTPUT appends ".<pid>" */
    DIR *d = opendir(ldd);
    struct dirent *de;
    size_t o = 0;
    assert_non_null(d);
    ld[0] = '\0';
    while ((de = readdir(d)) != NULL) {
      char f[700];
      if (de->d_name[0] == '.')
        continue;
      snprintf(f, sizeof f, "%s/%s", ldd, de->d_name);
      char *s = tfile_read(f, NULL);
      assert_non_null(s);
      o += (size_t)snprintf(ld + o, o < ldlen ? ldlen - o : 0, "%s", s);
      free(s);
      unlink(f);
    }
    closedir(d);
    rmdir(ldd);
    /* The log is the linker's: it names libwfc, which every wfc loads. */
    assert_non_null(strstr(ld, "libwfc.so"));
  }
  return code;
}

static char ld[1 << 20];

/* Whether the linker's log says it loaded the file at path (compared
 * resolved: the log names it as found, e.g. bin/../lib/...). */
static int loaded(const char *log, const char *path) {
  char want[PATH_MAX], got[PATH_MAX], name[PATH_MAX];

  if (realpath(path, want) == NULL)
    return 0;
  for (const char *f = strstr(log, "file="); f != NULL;
       f = strstr(f + 5, "file=")) {
    size_t n = strcspn(f + 5, " \t\n[");
    if (n == 0 || n >= sizeof name)
      continue;
    memcpy(name, f + 5, n);
    name[n] = '\0';
    if (strchr(name, '/') != NULL && realpath(name, got) != NULL &&
        strcmp(got, want) == 0)
      return 1;
  }
  return 0;
}

static void test_sqlite_process_loads_no_libpq(void **state) {
  char store[400];
  wproc p;
  child_env e = {0};
  (void)state;

  snprintf(store, sizeof store, "%s/one.db", dir);
  e.store = store;
  const char *const migrate[] = {"store", "migrate", NULL};
  if (run(&p, migrate, &e, ld, sizeof ld) != 0)
    fail_msg("wfc store migrate on %s: %s", store, p.stderr_);
  assert_null(strstr(ld, "libpq"));
  assert_null(strstr(ld, "wfc-store-pg"));

  const char *const list[] = {"connection", "list", NULL};
  if (run(&p, list, &e, ld, sizeof ld) != 0)
    fail_msg("wfc connection list on %s: %s", store, p.stderr_);
  assert_null(strstr(ld, "libpq"));

  const char *const version[] = {"--version", NULL};
  assert_int_equal(run(&p, version, &e, ld, sizeof ld), 0);
  assert_null(strstr(ld, "libpq"));
}

static void test_pg_process_loads_module(void **state) {
  char *url = pg_cluster_new_db(pg);
  wproc p;
  child_env e = {0};
  (void)state;

  assert_non_null(url);
  e.store = url;
  const char *const migrate[] = {"store", "migrate", "--json", NULL};
  if (run(&p, migrate, &e, ld, sizeof ld) != 0)
    fail_msg("wfc store migrate on PostgreSQL: %s", p.stderr_);
  assert_non_null(strstr(p.stdout_, "\"schema_version\""));
  /* Found beside libwfc (<libdir>/wfc/), with no environment... */
  if (!loaded(ld, module))
    fail_msg("%s not loaded:\n%s", module, ld);
  /* ...and libpq with it. */
  assert_non_null(strstr(ld, "libpq.so"));

  const char *const list[] = {"connection", "list", NULL};
  if (run(&p, list, &e, NULL, 0) != 0)
    fail_msg("wfc connection list on PostgreSQL: %s", p.stderr_);
  free(url);
}

/* A copy of the module whose DT_NEEDED names a libpq that is not
 * installed: "libpq.so.5" -> "libpq.so.0" in its string table (same
 * length), as on a machine without libpq5. */
static void module_without_libpq(const char *out) {
  size_t n = 0;
  char *b = tfile_read(module, &n);
  int hits = 0;

  assert_non_null(b);
  for (size_t i = 0; i + 11 <= n; i++)
    if (memcmp(b + i, "libpq.so.5", 11) == 0) { /* with its NUL */
      b[i + 9] = '0';
      hits++;
    }
  assert_int_equal(hits, 1);
  FILE *f = fopen(out, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(b, 1, n, f), n);
  assert_int_equal(fclose(f), 0);
  chmod(out, 0755);
  free(b);
}

static void test_missing_module_or_libpq_is_clear(void **state) {
  char gone[400], nolibpq[400], store[400];
  wproc p;
  child_env e = {0};
  (void)state;

  snprintf(gone, sizeof gone, "%s/nowhere/wfc-store-pg.so", dir);
  snprintf(nolibpq, sizeof nolibpq, "%s/wfc-store-pg.so", dir);
  snprintf(store, sizeof store, "%s/two.db", dir);
  module_without_libpq(nolibpq);
  const char *const migrate[] = {"store", "migrate", NULL};

  /* No module: the path tried and where it belongs, for the URL and the
   * keyword forms alike. */
  const char *locs[] = {pg_cluster_url(pg), pg_cluster_conninfo(pg)};
  for (int i = 0; i < 2; i++) {
    e.store = locs[i];
    e.module_path = gone;
    assert_int_not_equal(run(&p, migrate, &e, NULL, 0), 0);
    printf("without the module (%s): %s", i ? "keywords" : "URL", p.stderr_);
    assert_non_null(strstr(p.stderr_, gone));
    assert_non_null(strstr(p.stderr_, "wfc-store-pg.so, not found"));
    assert_non_null(strstr(p.stderr_, "WFC_STORE_PG_MODULE"));
    /* Never the location's text (it may hold a password). */
    assert_null(strstr(p.stderr_, locs[i]));
  }

  /* The module there, libpq not: the loader's words and what to install. */
  e.store = pg_cluster_url(pg);
  e.module_path = nolibpq;
  assert_int_not_equal(run(&p, migrate, &e, NULL, 0), 0);
  printf("without libpq: %s", p.stderr_);
  assert_non_null(strstr(p.stderr_, nolibpq));
  assert_non_null(strstr(p.stderr_, "libpq.so.0"));
  assert_non_null(strstr(p.stderr_, "libpq5"));

  /* SQLite does not care. */
  e.store = store;
  if (run(&p, migrate, &e, ld, sizeof ld) != 0)
    fail_msg("wfc store migrate on %s: %s", store, p.stderr_);
  assert_null(strstr(ld, "libpq"));
}

/* An installed prefix moved elsewhere (a copy: its paths are relative)
 * finds its module; without it, the PostgreSQL open names the path it
 * looked at, with no environment pointing anywhere, and SQLite runs. */
static void test_moved_prefix_without_module(void **state) {
  char copy[400], cmd[1000], path[700], store[500];
  wproc p;
  child_env e = {0};
  (void)state;

  if (!installed)
    skip(); /* a build tree's wfc finds its libwfc by absolute RUNPATH */
  snprintf(copy, sizeof copy, "%s/moved", dir);
  snprintf(cmd, sizeof cmd, "cp -a '%s' '%s'", build, copy);
  assert_int_equal(system(cmd), 0);
  snprintf(wfc_bin, sizeof wfc_bin, "%s/bin/wfc", copy);
  const char *const migrate[] = {"store", "migrate", NULL};

  char *url = pg_cluster_new_db(pg);
  assert_non_null(url);
  e.store = url;
  if (run(&p, migrate, &e, ld, sizeof ld) != 0)
    fail_msg("moved prefix, wfc store migrate on PostgreSQL: %s", p.stderr_);
  snprintf(path, sizeof path, "%s/%s/wfc/wfc-store-pg.so", copy, libdir);
  if (!loaded(ld, path))
    fail_msg("%s not loaded:\n%s", path, ld);

  assert_int_equal(unlink(path), 0);
  assert_int_not_equal(run(&p, migrate, &e, NULL, 0), 0);
  printf("moved prefix without the module: %s", p.stderr_);
  assert_non_null(strstr(p.stderr_, path));
  assert_non_null(strstr(p.stderr_, "not found"));
  free(url);

  snprintf(store, sizeof store, "%s/three.db", dir);
  e.store = store;
  if (run(&p, migrate, &e, ld, sizeof ld) != 0)
    fail_msg("moved prefix, wfc store migrate on %s: %s", store, p.stderr_);
  assert_null(strstr(ld, "libpq"));
  snprintf(wfc_bin, sizeof wfc_bin, "%s/bin/wfc", build);
}

static int group_setup(void **state) {
  /* $WFC_TEST_PREFIX: an installed prefix (install_pg_store), with its
   * $WFC_TEST_LIBDIR; else $WFC_BUILD_DIR (ctest sets it; another build's
   * wfc can be checked so). */
  const char *pfx = getenv("WFC_TEST_PREFIX"), *b = getenv("WFC_BUILD_DIR");
  const char *ldir = getenv("WFC_TEST_LIBDIR");
  (void)state;
  installed = pfx != NULL && *pfx;
  snprintf(build, sizeof build, "%s",
           installed         ? pfx
           : b != NULL && *b ? b
                             : WFC_BUILD_DIR);
  snprintf(libdir, sizeof libdir, "%s",
           installed && ldir != NULL && *ldir ? ldir : "lib");
  snprintf(wfc_bin, sizeof wfc_bin, "%s/bin/wfc", build);
  snprintf(module, sizeof module, "%s/%s/wfc/wfc-store-pg.so", build, libdir);
  snprintf(dir, sizeof dir, "/tmp/wfc-pgmodule-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  return (pg = pg_cluster_start()) != NULL ? 0 : -1;
}

static int group_teardown(void **state) {
  (void)state;
  if (tsys_rm_rf(dir) != 0)
    return -1;
  return pg_cluster_stop(pg) == 0 ? 0 : -1;
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_libwfc_does_not_need_libpq),
      cmocka_unit_test(test_sqlite_process_loads_no_libpq),
      cmocka_unit_test(test_pg_process_loads_module),
      cmocka_unit_test(test_missing_module_or_libpq_is_clear),
      cmocka_unit_test(test_moved_prefix_without_module),
  };
  return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
