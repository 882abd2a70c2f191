/* test_core_dump.c - live tokens never reach a core dump (issue 9, item 4).
 * The real `wfc event watch`, the real plugin and the emulator; the
 * emulator's access tokens live 60 s, less than the SDK's 5-minute margin,
 * so every poll refreshes: the watch holds tokens it read from the store
 * and tokens it received from the token endpoint itself.
 *
 *   - by default `wfc` writes no core: SIGABRT with RLIMIT_CORE raised by
 *     the test and the core pattern a file in the watch's directory leaves
 *     no core (the wait status says none was dumped, and no file);
 *   - with WFC_ALLOW_CORE_DUMPS=1 the core is written, and holds neither
 *     the access nor the refresh token, the ones the watch started with nor
 *     the ones it got (memory holding secrets is excluded from dumps);
 *   - the same for a debugger's dump of the running watch (gdb's gcore),
 *     when this gdb honours MADV_DONTDUMP (checked first on a canary);
 *   - `wfc` starts and works with RLIMIT_MEMLOCK 0 and no CAP_IPC_LOCK (the
 *     secure heap cannot be locked: one warning), and as an unprivileged
 *     user, non-dumpable, still finding its plugins through /proc/self/exe.
 *
 * The tokens are learnt from the store itself (the SDK's store API with
 * the store's key file), after the watch has stopped. Copies of a token
 * are looked for whole and by 24-byte slices of its secret part (a freed
 * copy may have its first bytes overwritten by the allocator). */
#define _GNU_SOURCE /* memmem, setenv, mkdtemp, kill */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "../scenarios/scen.h"
#include "crypto.h"
#include "store.h"

/* ---- the tokens --------------------------------------------------------- */

#define MAX_TOKENS 16
static char *tokens[MAX_TOKENS]; /* every token seen in the store, owned */
static size_t ntokens;

static void remember(const char *t) {
  if (t == NULL || *t == '\0')
    return;
  for (size_t i = 0; i < ntokens; i++)
    if (strcmp(tokens[i], t) == 0)
      return;
  assert_true(ntokens < MAX_TOKENS);
  tokens[ntokens++] = strdup(t);
}

/* Adds the connection's current access and refresh tokens to tokens[]. */
static void learn_tokens(const char *nickname) {
  wfc__store *st = NULL;
  char err[512];
  if (wfc__store_open(sc_store, &st, err, sizeof err) != 0)
    fail_msg("cannot open the store: %s", err);
  wfc__conn_rec rec;
  memset(&rec, 0, sizeof rec);
  assert_int_equal(wfc__store_conn_get(st, nickname, &rec), 0);
  char *text = NULL;
  assert_int_equal(wfc__store_conn_secrets(st, rec.id, &text), 0);
  json_object *s = json_tokener_parse(text), *cr = NULL;
  assert_true(json_object_object_get_ex(s, "credentials", &cr));
  const char *at = jstr(cr, "access_token"), *rt = jstr(cr, "refresh_token");
  assert_non_null(at);
  assert_non_null(rt);
  remember(at);
  remember(rt);
  json_object_put(s);
  wfc__secret_free(text);
  wfc__conn_rec_clear(&rec);
  wfc__store_close(st);
}

/* Where the secret part of token t starts: a JWT's header and claims are
 * much the same for every token of the user (and its id_token), so only its
 * signature counts. */
static size_t secret_start(const char *t) {
  const char *dot = strrchr(t, '.');
  return strncmp(t, "eyJ", 3) == 0 && dot != NULL ? (size_t)(dot - t) + 1 : 0;
}

typedef struct hit {
  size_t token; /* index in tokens[] */
  size_t off;   /* in the dump */
  size_t len;   /* bytes matched */
} hit;

/* Looks for every token of tokens[] in dump: whole, and its secret part by
 * 24-byte slices every 24 bytes. Fills at most max findings; returns how
 * many there were. */
#define SLICE 24
static size_t find_tokens(const unsigned char *dump, size_t n, hit *f,
                          size_t max) {
  size_t k = 0;
  for (size_t i = 0; i < ntokens; i++) {
    const char *t = tokens[i];
    size_t len = strlen(t), from = secret_start(t);
    for (size_t s = from; s + SLICE <= len; s += SLICE) {
      const unsigned char *p = dump, *end = dump + n;
      while ((p = memmem(p, (size_t)(end - p), t + s, SLICE)) != NULL) {
        /* One finding per copy: skip slices of a copy already found. */
        size_t at = (size_t)(p - dump) - s;
        int dup = 0;
        for (size_t j = 0; j < k && j < max; j++)
          if (f[j].token == i && f[j].off == at)
            dup = 1;
        if (!dup) {
          if (k < max)
            f[k] =
                (hit){i, at, memmem(p - s, len, t, len) == p - s ? len : SLICE};
          k++;
        }
        p += SLICE;
      }
    }
  }
  return k;
}

/* The virtual address and mapping of file offset off in an ELF core, for
 * the failure message ("" when not in a PT_LOAD segment). */
static void core_where(const unsigned char *core, size_t n, size_t off,
                       char *out, size_t len) {
  out[0] = '\0';
  if (n < 64 || memcmp(core, "\177ELF", 4) != 0 || core[4] != 2)
    return;
  uint64_t phoff;
  uint16_t phentsize, phnum;
  memcpy(&phoff, core + 32, 8);
  memcpy(&phentsize, core + 54, 2);
  memcpy(&phnum, core + 56, 2);
  for (uint16_t i = 0; i < phnum; i++) {
    const unsigned char *ph = core + phoff + (size_t)i * phentsize;
    if (phoff + (size_t)(i + 1) * phentsize > n)
      return;
    uint32_t type, flags;
    uint64_t foff, vaddr, filesz;
    memcpy(&type, ph, 4);
    memcpy(&flags, ph + 4, 4);
    memcpy(&foff, ph + 8, 8);
    memcpy(&vaddr, ph + 16, 8);
    memcpy(&filesz, ph + 32, 8);
    if (type == 1 && off >= foff && off < foff + filesz) {
      snprintf(out, len, "at 0x%llx (segment 0x%llx, %llu bytes, %c%c%c)",
               (unsigned long long)(vaddr + off - foff),
               (unsigned long long)vaddr, (unsigned long long)filesz,
               flags & 4 ? 'r' : '-', flags & 2 ? 'w' : '-',
               flags & 1 ? 'x' : '-');
      return;
    }
  }
}

/* A dump read into memory: its data only. A core can be a sparse file far
 * larger than its data (a sanitizer's reserved address space), so the
 * holes (zeros) are skipped: ext[] maps the buffer back to file offsets. */
typedef struct dump {
  unsigned char *buf;
  size_t n;
  struct {
    size_t foff, boff, len;
  } * ext;
  size_t next;
} dump;

static void dump_free(dump *d) {
  free(d->buf);
  free(d->ext);
}

/* Reads the data of the file at path; asserts. */
static void dump_read(const char *path, dump *d) {
  memset(d, 0, sizeof *d);
  int fd = open(path, O_RDONLY);
  if (fd < 0)
    fail_msg("cannot open %s", path);
  off_t size = lseek(fd, 0, SEEK_END);
  assert_true(size > 0);
  for (off_t at = 0; at < size;) {
    off_t data = lseek(fd, at, SEEK_DATA), hole;
    if (data < 0 && errno == EINVAL && at == 0)
      data = 0, hole = size; /* no SEEK_DATA here: all of it */
    else if (data < 0)
      break; /* no data after at */
    else if ((hole = lseek(fd, data, SEEK_HOLE)) < 0)
      hole = size;
    size_t len = (size_t)(hole - data);
    if (d->n + len > ((size_t)4 << 30))
      fail_msg("%s holds more than 4 GiB of data", path);
    d->buf = realloc(d->buf, d->n + len);
    d->ext = realloc(d->ext, (d->next + 1) * sizeof *d->ext);
    assert_non_null(d->buf);
    assert_non_null(d->ext);
    assert_int_equal(pread(fd, d->buf + d->n, len, data), (ssize_t)len);
    d->ext[d->next].foff = (size_t)data;
    d->ext[d->next].boff = d->n;
    d->ext[d->next].len = len;
    d->next++;
    d->n += len;
    at = hole;
  }
  close(fd);
  /* The ELF header and program headers are at the start, in data. */
  assert_true(d->next > 0 && d->ext[0].foff == 0);
}

/* The file offset of buffer offset b. */
static size_t dump_foff(const dump *d, size_t b) {
  for (size_t i = 0; i < d->next; i++)
    if (b >= d->ext[i].boff && b < d->ext[i].boff + d->ext[i].len)
      return d->ext[i].foff + (b - d->ext[i].boff);
  return b;
}

/* Fails naming every copy of a token in the dump at path. */
static void expect_no_token(const char *path, const char *what) {
  dump d;
  dump_read(path, &d);
  hit f[32];
  size_t k = find_tokens(d.buf, d.n, f, 32);
  for (size_t i = 0; i < k && i < 32; i++) {
    char where[160], ctx[49];
    size_t foff = dump_foff(&d, f[i].off);
    core_where(d.buf, d.ext[0].len, foff, where, sizeof where);
    /* The 48 bytes before the copy, printable ones only: what held it. */
    size_t from = f[i].off > 48 ? f[i].off - 48 : 0, c = 0;
    for (size_t j = from; j < f[i].off; j++)
      ctx[c++] = d.buf[j] >= 32 && d.buf[j] < 127 ? (char)d.buf[j] : '.';
    ctx[c] = '\0';
    print_message("%s: token %zu (%.6s...) %s at offset %zu %s after \"%s\"\n",
                  what, f[i].token, tokens[f[i].token],
                  f[i].len == strlen(tokens[f[i].token]) ? "whole" : "in part",
                  foff, where, ctx);
  }
  dump_free(&d);
  if (k > 0)
    fail_msg("%s holds %zu copies of live tokens (of %zu tokens)", what, k,
             ntokens);
}

/* ---- the watch ---------------------------------------------------------- */

static char cwd_dir[256]; /* the watch's directory: its core goes there */
static int watches;

/* A fresh directory under the store's for the next watch. */
static void fresh_cwd(void) {
  snprintf(cwd_dir, sizeof cwd_dir, "%s/run%d", sc_dir, ++watches);
  assert_int_equal(mkdir(cwd_dir, 0700), 0);
}

/* Starts `wfc event watch` (polling once an hour) in cwd_dir with
 * RLIMIT_CORE raised to its hard limit, waits for the injected message's
 * event line (the poll, with its refresh, is done), then lets the
 * acknowledgement finish. allow: WFC_ALLOW_CORE_DUMPS=1. */
static void start_watch(wproc *p, int allow) {
  static int n;
  char subject[64];
  snprintf(subject, sizeof subject, "core-%d", ++n);
  char body[256];
  snprintf(body, sizeof body,
           "{\"subject\":\"%s\",\"from\":\"bob@contoso.test\","
           "\"body\":{\"contentType\":\"text\",\"content\":\"hi\"}}",
           subject);
  json_object_put(
      admin("POST", "/__emulator/mail/" ADMIN_UPN "/messages", body, 201));

  fresh_cwd();
  char here[4096];
  assert_non_null(getcwd(here, sizeof here));
  struct rlimit saved, raised;
  assert_int_equal(getrlimit(RLIMIT_CORE, &saved), 0);
  raised = saved;
  raised.rlim_cur = saved.rlim_max;
  assert_int_equal(setrlimit(RLIMIT_CORE, &raised), 0);
  assert_int_equal(chdir(cwd_dir), 0);
  if (allow)
    setenv("WFC_ALLOW_CORE_DUMPS", "1", 1);
  else
    unsetenv("WFC_ALLOW_CORE_DUMPS");
  /* Under AddressSanitizer (the sanitizer build), whose default is no
   * core on 64-bit. */
  const char *asan = getenv("ASAN_OPTIONS");
  char *saved_asan = asan ? strdup(asan) : NULL, opts[1024];
  snprintf(opts, sizeof opts, "%s%sdisable_coredump=0", asan ? asan : "",
           asan && *asan ? ":" : "");
  setenv("ASAN_OPTIONS", opts, 1);
  const char *const args[] = {
      "event", "watch",      "--card", "new_email", "--connection",
      "admin", "--interval", "3600",   "--json",    NULL};
  sc_spawn(p, args);
  if (saved_asan != NULL)
    setenv("ASAN_OPTIONS", saved_asan, 1);
  else
    unsetenv("ASAN_OPTIONS");
  free(saved_asan);
  unsetenv("WFC_ALLOW_CORE_DUMPS");
  assert_int_equal(chdir(here), 0);
  assert_int_equal(setrlimit(RLIMIT_CORE, &saved), 0);

  char line[4096];
  wproc_read_line(p, line, sizeof line);
  if (strstr(line, subject) == NULL) {
    kill(p->pid, SIGKILL);
    wproc_wait(p);
    fail_msg("expected the event %s, read \"%s\"; stderr: %s", subject, line,
             p->stderr_);
  }
  /* After the line: recording the event and the checkpoint (store writes,
   * no token); then the watch sleeps until the next poll. */
  usleep(500 * 1000);
}

/* SIGABRT, reap; returns the raw wait status. */
static int abort_watch(wproc *p) {
  assert_int_equal(kill(p->pid, SIGABRT), 0);
  wproc_drain(p->out, p->stdout_, sizeof p->stdout_);
  wproc_drain(p->err, p->stderr_, sizeof p->stderr_);
  int st = 0;
  assert_int_equal(waitpid(p->pid, &st, 0), p->pid);
  assert_true(WIFSIGNALED(st));
  assert_int_equal(WTERMSIG(st), SIGABRT);
  return st;
}

/* The core file in dir (its name "core" or "core.<pid>"), into path;
 * 0 when there is none. */
static int core_file(const char *dir, char *path, size_t len) {
  DIR *d = opendir(dir);
  assert_non_null(d);
  struct dirent *e;
  int found = 0;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, "core") == 0 || strncmp(e->d_name, "core.", 5) == 0) {
      snprintf(path, len, "%s/%s", dir, e->d_name);
      found = 1;
    }
  closedir(d);
  return found;
}

/* 1 when the kernel writes cores as a file in the crashing process's
 * directory ("core", possibly with %p/%e...), which this test can read. */
static int cores_to_cwd(void) {
  char pat[256] = "";
  FILE *f = fopen("/proc/sys/kernel/core_pattern", "r");
  if (f != NULL) {
    if (fgets(pat, sizeof pat, f) == NULL)
      pat[0] = '\0';
    fclose(f);
  }
  pat[strcspn(pat, "\n")] = '\0';
  return strncmp(pat, "core", 4) == 0 && strchr(pat, '/') == NULL &&
         strchr(pat, '%') == NULL;
}

/* ---- the tests ---------------------------------------------------------- */

static int group_up(void **state) {
  if (sc_up(state) != 0)
    return -1;
  /* Every use of a token refreshes it first (60 s < the 5-minute margin). */
  admin_ok("POST", "/__emulator/identity/settings",
           "{\"accessTokenLifetimeSeconds\":60}");
  sc_connect("admin", "preview", ADMIN_UPN, ADMIN_PW, 0, -1, NULL, 0);
  /* The subscription starts now (a first run), so the watches below each
   * get the message injected for them. */
  wproc p;
  const char *const args[] = {"event",     "watch",        "--card",
                              "new_email", "--connection", "admin",
                              "--once",    "--json",       NULL};
  assert_int_equal(sc_wfc(&p, args), 0);
  learn_tokens("admin");
  return 0;
}

static int group_down(void **state) {
  for (size_t i = 0; i < ntokens; i++)
    free(tokens[i]);
  ntokens = 0;
  return sc_down(state);
}

/* (a) By default: no core, whatever RLIMIT_CORE the parent gave. */
static void no_core_by_default(void **state) {
  (void)state;
  wproc p;
  start_watch(&p, 0);
  int st = abort_watch(&p);
  char path[512];
  int file = core_file(cwd_dir, path, sizeof path);
  if (WCOREDUMP(st) || file)
    fail_msg("wfc dumped core on SIGABRT without WFC_ALLOW_CORE_DUMPS "
             "(status says %s, file %s)",
             WCOREDUMP(st) ? "dumped" : "none", file ? path : "none");
  learn_tokens("admin");
}

/* (b) Allowed for debugging: a core, without the tokens. */
static void allowed_core_holds_no_token(void **state) {
  (void)state;
  if (!cores_to_cwd()) {
    print_message("skipped: /proc/sys/kernel/core_pattern does not write a "
                  "file in the process's directory; the core cannot be "
                  "read here\n");
    skip();
  }
  wproc p;
  start_watch(&p, 1);
  int st = abort_watch(&p);
  learn_tokens("admin");
  char path[512];
  if (!WCOREDUMP(st) || !core_file(cwd_dir, path, sizeof path))
    fail_msg("WFC_ALLOW_CORE_DUMPS=1: no core was written (status says %s); "
             "stderr: %s",
             WCOREDUMP(st) ? "dumped" : "none", p.stderr_);
  assert_true(ntokens >= 4); /* the refresh in the watch rotated them */
  expect_no_token(path, "the core of wfc event watch");
}

/* A child of this test with a canary on a MADV_DONTDUMP page: 1 when
 * gcore leaves the canary out, 0 when it dumps it, -1 when gcore does not
 * work here (no gdb, no ptrace). */
static int gcore_honours_dontdump(void) {
  static const char canary[] = "wfc-dontdump-canary-6d1c3a";
  int ready[2];
  assert_int_equal(pipe(ready), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    long page = sysconf(_SC_PAGESIZE);
    char *mem = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED || madvise(mem, (size_t)page, MADV_DONTDUMP) != 0)
      _exit(1);
    memcpy(mem, canary, sizeof canary);
    if (write(ready[1], "x", 1) != 1)
      _exit(1);
    for (;;)
      pause();
  }
  close(ready[1]);
  char c;
  assert_int_equal(read(ready[0], &c, 1), 1);
  close(ready[0]);
  char prefix[512], cmd[1024], path[600];
  snprintf(prefix, sizeof prefix, "%s/canary", sc_dir);
  snprintf(cmd, sizeof cmd, "gcore -o '%s' %d >/dev/null 2>&1", prefix,
           (int)pid);
  int rc = system(cmd);
  kill(pid, SIGKILL);
  waitpid(pid, NULL, 0);
  snprintf(path, sizeof path, "%s.%d", prefix, (int)pid);
  struct stat sb;
  if (rc != 0 || stat(path, &sb) != 0)
    return -1;
  dump d;
  dump_read(path, &d);
  int honours = memmem(d.buf, d.n, canary, sizeof canary - 1) == NULL;
  dump_free(&d);
  unlink(path);
  return honours;
}

/* (c) A debugger's dump of the running watch. */
static void gcore_holds_no_token(void **state) {
  (void)state;
#if defined(__SANITIZE_ADDRESS__)
  /* gdb writes an AddressSanitizer process's reserved shadow and heap
   * space out in full: terabytes. The kernel's core (above) is checked. */
  print_message("skipped: gcore of a sanitized process\n");
  skip();
#endif
  int h = gcore_honours_dontdump();
  if (h != 1) {
    print_message("skipped: %s\n",
                  h < 0 ? "gcore cannot dump a process here (no gdb or no "
                          "ptrace)"
                        : "this gdb's gcore ignores MADV_DONTDUMP");
    skip();
  }
  wproc p;
  start_watch(&p, 1); /* dumpable, so that gcore may attach as any user */
  char prefix[512], cmd[1024], path[600];
  snprintf(prefix, sizeof prefix, "%s/gcore", cwd_dir);
  snprintf(cmd, sizeof cmd, "gcore -o '%s' %d >/dev/null 2>&1", prefix,
           (int)p.pid);
  int rc = system(cmd);
  kill(p.pid, SIGTERM);
  assert_int_equal(sc_finish(&p), 0);
  learn_tokens("admin");
  snprintf(path, sizeof path, "%s.%d", prefix, (int)p.pid);
  if (rc != 0)
    fail_msg("gcore of the watch failed (%d)", rc);
  expect_no_token(path, "gcore of wfc event watch");
}

/* In the child of run_limited: RLIMIT_MEMLOCK 0, no CAP_IPC_LOCK (dropped
 * from the bounding set: root keeps no way to lock), the uid *arg unless
 * it is (uid_t)-1, the plugins next to the binary, no WFC_SECURE_HEAP. */
static void limit_child(void *arg) {
  uid_t uid = *(const uid_t *)arg;
  (void)prctl(PR_CAPBSET_DROP, CAP_IPC_LOCK, 0, 0, 0); /* EPERM unless root */
  struct rlimit rl = {0, 0};
  if (setrlimit(RLIMIT_MEMLOCK, &rl) != 0)
    _exit(126);
  if (uid != (uid_t)-1 &&
      (setgroups(0, NULL) != 0 || setgid(uid) != 0 || setuid(uid) != 0))
    _exit(126);
  unsetenv("WFC_PLUGIN_PATH");
  unsetenv("WFC_SECURE_HEAP");
}

/* Runs `wfc ARGS` in a child limited as limit_child says, as uid unless it
 * is (uid_t)-1; stdout and stderr into p. Returns the exit code, 128 when
 * it did not exit. */
static int run_limited(wproc *p, const char *const *args, uid_t uid) {
  const char *argv[16];
  int n = 0;
  argv[n++] = sc_u.bin;
  for (; *args != NULL && n < 15; args++)
    argv[n++] = *args;
  argv[n] = NULL;
  wproc_start(p, argv, limit_child, &uid);
  return wproc_wait(p);
}

/* Without locked memory and as an unprivileged user: wfc works. */
static void limits_and_unprivileged_user(void **state) {
  (void)state;
  uid_t uid = geteuid() == 0 ? 65534 : (uid_t)-1; /* root: as nobody */
  char dir[512], store[600];
  snprintf(dir, sizeof dir, "%s/unprivileged", sc_dir);
  assert_int_equal(mkdir(dir, 0700), 0);
  if (uid != (uid_t)-1) {
    assert_int_equal(chown(dir, uid, (gid_t)uid), 0);
    assert_int_equal(chmod(sc_dir, 0711), 0); /* nobody may pass through */
  }
  snprintf(store, sizeof store, "%s/store.db", dir);
  wproc p;
  /* The plugin directory from /proc/self/exe, in a non-dumpable process. */
  const char *const list[] = {"plugin", "list", "--json", NULL};
  if (run_limited(&p, list, uid) != 0)
    fail_msg("wfc plugin list as uid %d: exit %d: %s", (int)uid, p.code,
             p.stderr_);
  assert_non_null(strstr(p.stdout_, "\"o365mail\""));
  /* A store: the secure heap (4 MiB) cannot be locked; one warning. */
  const char *const conns[] = {"connection", "list", "--json",
                               "--store",    store,  NULL};
  if (run_limited(&p, conns, uid) != 0)
    fail_msg("wfc connection list under RLIMIT_MEMLOCK 0: exit %d: %s", p.code,
             p.stderr_);
  assert_non_null(strstr(p.stdout_, "["));
  assert_non_null(strstr(p.stderr_, "could not be locked in memory"));
  if (uid != (uid_t)-1)
    assert_int_equal(chmod(sc_dir, 0700), 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(no_core_by_default),
      cmocka_unit_test(allowed_core_holds_no_token),
      cmocka_unit_test(gcore_holds_no_token),
      cmocka_unit_test(limits_and_unprivileged_user),
  };
  return cmocka_run_group_tests(tests, group_up, group_down);
}
