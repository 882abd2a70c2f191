/* emu_proc.c - spawn and stop m365-emulator for tests; see emu_proc.h.
 * */
#define _POSIX_C_SOURCE 200809L /* nanosleep, mkdtemp, kill */
#include "emu_proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tclient.h"
#include "tsys.h"

struct emu_proc {
  pid_t pid;
  int port;
  char url[64];
  char dir[64]; /* temp dir: port file, config */
  char port_file[96];
  char config_file[96]; /* "" unless start_doc wrote one */
  char health[256];     /* path answered with 200 once ready */
};

static const char *binary(void) {
  static char path[4096];
  const char *env = getenv("M365_EMULATOR");
  if (env && *env)
    return env;
  const char *bd = getenv("WFC_BUILD_DIR");
#ifdef WFC_BUILD_DIR
  if (bd == NULL || *bd == '\0')
    bd = WFC_BUILD_DIR;
#endif
  if (bd == NULL)
    bd = "build";
  snprintf(path, sizeof path, "%s/bin/m365-emulator", bd);
  return path;
}

const char *emu_proc_example_config(void) {
  static char path[4096];
  const char *sd = getenv("WFC_SOURCE_DIR");
#ifdef WFC_SOURCE_DIR
  if (sd == NULL || *sd == '\0')
    sd = WFC_SOURCE_DIR;
#endif
  snprintf(path, sizeof path, "%s/examples/tenant.json", sd ? sd : ".");
  return path;
}

json_object *emu_proc_example_doc(void) {
  return json_object_from_file(emu_proc_example_config());
}

static int read_port(const char *file) {
  FILE *f = fopen(file, "r");
  int port = 0;
  if (f == NULL)
    return 0;
  if (fscanf(f, "%d", &port) != 1)
    port = 0;
  fclose(f);
  return port;
}

/* ca: the PEM to trust over TLS (the emulator's self-signed certificate,
 * its own CA), or NULL. */
static int healthy(emu_proc *p, const char *ca) {
  tclient *c = tclient_new(0);
  if (c && ca)
    tclient_set_ca(c, ca);
  char url[384];
  tresp r;
  treq q = {0};
  snprintf(url, sizeof url, "%s%s", p->url, p->health);
  q.url = url;
  q.timeout_ms = 2000;
  int ok = 0;
  if (c && tclient_do(c, &q, &r) == 0 && r.status == 200)
    ok = 1;
  if (c)
    tresp_free(&r);
  tclient_free(c);
  return ok;
}

static void cleanup_files(emu_proc *p) {
  unlink(p->port_file);
  if (p->config_file[0])
    unlink(p->config_file);
  rmdir(p->dir);
}

/* Runs cmd (argv prefix, NULL-terminated; cmd[0] searched in PATH) with
 * "--port 0 --port-file F", [--config config] and extra appended. */
static emu_proc *start(emu_proc *p, const char *const *cmd, const char *config,
                       const char *const *extra) {
  const char *argv[64];
  int n = 0;
  const char *tls_cert = NULL;
  for (size_t i = 0; cmd[i] && n < 40; i++)
    argv[n++] = cmd[i];
  argv[n++] = "--port";
  argv[n++] = "0";
  argv[n++] = "--port-file";
  argv[n++] = p->port_file;
  if (config) {
    argv[n++] = "--config";
    argv[n++] = config;
  }
  for (size_t i = 0; extra && extra[i] && n < 62; i++) {
    if (strcmp(extra[i], "--tls-cert") == 0)
      tls_cert = extra[i + 1];
    argv[n++] = extra[i];
  }
  argv[n] = NULL;
  pid_t pid = fork();
  if (pid < 0) {
    perror("emu_proc: fork");
    cleanup_files(p);
    free(p);
    return NULL;
  }
  if (pid == 0) {
    /* The emulator writes to the test's stdout, which ctest reads to its
     * end: one left behind by a test that died (a watchdog's _exit, a
     * crash) would hold ctest until its timeout. It dies with the test. */
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() == 1)
      _exit(127);
    execvp(argv[0], (char *const *)argv);
    fprintf(stderr, "emu_proc: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  p->pid = pid;
  for (int i = 0; i < 1000; i++) { /* 10 s */
    int st;
    if (waitpid(pid, &st, WNOHANG) == pid) {
      fprintf(stderr, "emu_proc: %s exited early (status %d)\n", argv[0], st);
      cleanup_files(p);
      free(p);
      return NULL;
    }
    if (p->port == 0)
      p->port = read_port(p->port_file);
    if (p->port > 0) {
      snprintf(p->url, sizeof p->url, "%s://127.0.0.1:%d",
               tls_cert ? "https" : "http", p->port);
      if (healthy(p, tls_cert))
        return p;
    }
    tsys_sleep_ms(10);
  }
  fprintf(stderr, "emu_proc: %s did not answer %s in 10 s\n", argv[0],
          p->health);
  emu_proc_stop(p);
  return NULL;
}

static emu_proc *alloc(void) {
  emu_proc *p = calloc(1, sizeof *p);
  if (p == NULL)
    return NULL;
  snprintf(p->dir, sizeof p->dir, "/tmp/emu_proc.XXXXXX");
  if (mkdtemp(p->dir) == NULL) {
    perror("emu_proc: mkdtemp");
    free(p);
    return NULL;
  }
  snprintf(p->port_file, sizeof p->port_file, "%s/port", p->dir);
  snprintf(p->health, sizeof p->health, "/__emulator/health");
  return p;
}

emu_proc *emu_proc_start(const char *config, const char *const *extra_args) {
  emu_proc *p = alloc();
  const char *const cmd[] = {binary(), NULL};
  return p ? start(p, cmd, config, extra_args) : NULL;
}

emu_proc *emu_proc_start_cmd(const char *const *cmd, const char *health_path) {
  emu_proc *p = alloc();
  if (p == NULL)
    return NULL;
  snprintf(p->health, sizeof p->health, "%s", health_path);
  return start(p, cmd, NULL, NULL);
}

emu_proc *emu_proc_start_doc(json_object *doc, const char *const *extra_args) {
  emu_proc *p = alloc();
  if (p == NULL)
    return NULL;
  snprintf(p->config_file, sizeof p->config_file, "%s/tenant.json", p->dir);
  if (json_object_to_file_ext(p->config_file, doc, JSON_C_TO_STRING_PLAIN) !=
      0) {
    fprintf(stderr, "emu_proc: cannot write %s\n", p->config_file);
    cleanup_files(p);
    free(p);
    return NULL;
  }
  const char *const cmd[] = {binary(), NULL};
  return start(p, cmd, p->config_file, extra_args);
}

const char *emu_proc_url(const emu_proc *p) {
  return p->url;
}

int emu_proc_port(const emu_proc *p) {
  return p->port;
}

pid_t emu_proc_pid(const emu_proc *p) {
  return p->pid;
}

long emu_proc_rss_kib(const emu_proc *p, int peak) {
  char path[64], line[256];
  long v = -1;
  snprintf(path, sizeof path, "/proc/%d/status", (int)p->pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  const char *key = peak ? "VmHWM:" : "VmRSS:";
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, strlen(key)) == 0)
      v = strtol(line + strlen(key), NULL, 10);
  fclose(f);
  return v;
}

int emu_proc_stop(emu_proc *p) {
  if (p == NULL)
    return -1;
  int rc = -1, st = 0;
  kill(p->pid, SIGTERM);
  for (int i = 0; i < 1000; i++) {
    pid_t w = waitpid(p->pid, &st, WNOHANG);
    if (w == p->pid) {
      rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      if (WIFSIGNALED(st))
        fprintf(stderr, "emu_proc: pid %d died from signal %d\n", (int)p->pid,
                WTERMSIG(st));
      goto done;
    }
    tsys_sleep_ms(10);
  }
  fprintf(stderr, "emu_proc: emulator ignored SIGTERM for 10 s; killing\n");
  kill(p->pid, SIGKILL);
  waitpid(p->pid, &st, 0);
done:
  cleanup_files(p);
  free(p);
  return rc;
}
