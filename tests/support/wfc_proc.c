/* wfc_proc.c - see wfc_proc.h. */
#define _GNU_SOURCE /* pipe2; waitid, siginfo_t, clock_gettime */
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "wfc_proc.h"

void wproc_start(wproc *p, const char *const *argv, void (*prepare)(void *),
                 void *arg) {
  int o[2], e[2];
  /* Close-on-exec from the start (pipe2, not pipe + fcntl): a test's other
   * threads fork too (hosts, a watcher, a restarted PostgreSQL server), and
   * a child they start must not keep this child's write ends open, or the
   * wait for its output's end lasts as long as that other process (the
   * fleet_restart hang). dup2 onto 1 and 2 clears the flag there. */
  assert_int_equal(pipe2(o, O_CLOEXEC), 0);
  assert_int_equal(pipe2(e, O_CLOEXEC), 0);
  memset(p, 0, sizeof *p);
  p->pid = fork();
  assert_true(p->pid >= 0);
  if (p->pid == 0) {
    dup2(o[1], 1);
    dup2(e[1], 2);
    close(o[0]), close(o[1]), close(e[0]), close(e[1]);
    if (prepare != NULL)
      prepare(arg);
    execv(argv[0], (char *const *)argv);
    _exit(127);
  }
  close(o[1]);
  close(e[1]);
  p->out = o[0];
  p->err = e[0];
}

void wproc_spawn(wproc *p, const char *bin, const char *const *args,
                 const char *store, const char *plugin_dir) {
  const char *argv[64];
  int n = 0;
  argv[n++] = bin;
  for (; *args != NULL && n < 59; args++)
    argv[n++] = *args;
  argv[n++] = "--store";
  argv[n++] = store;
  argv[n++] = "--plugin-dir";
  argv[n++] = plugin_dir;
  argv[n] = NULL;
  wproc_start(p, argv, NULL, NULL);
}

void wproc_read_line(wproc *p, char *line, size_t len) {
  size_t n = 0;
  char ch;
  while (n + 1 < len && read(p->out, &ch, 1) == 1 && ch != '\n')
    line[n++] = ch;
  line[n] = '\0';
  snprintf(p->stdout_, sizeof p->stdout_, "%s\n", line);
}

void wproc_drain(int fd, char *buf, size_t cap) {
  size_t len = strlen(buf);
  ssize_t r;
  while (len + 1 < cap && (r = read(fd, buf + len, cap - 1 - len)) > 0)
    len += (size_t)r;
  buf[len] = '\0';
  /* Past cap the rest is read and dropped: closing the pipe instead would
   * kill a talkative child with SIGPIPE (exit 141) instead of letting it
   * finish. */
  char sink[4096];
  while ((r = read(fd, sink, sizeof sink)) > 0 || (r < 0 && errno == EINTR))
    ;
  close(fd);
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int wproc_await_stderr(wproc *p, const char *needle, int timeout_ms) {
  long end = now_ms() + timeout_ms;
  size_t len = strlen(p->stderr_);
  while (strstr(p->stderr_, needle) == NULL) {
    long left = end - now_ms();
    if (left <= 0 || len + 1 >= sizeof p->stderr_)
      return 0;
    struct pollfd pf = {.fd = p->err, .events = POLLIN};
    int n = poll(&pf, 1, (int)left);
    if (n < 0)
      continue; /* EINTR */
    if (n == 0)
      return 0;
    ssize_t r = read(p->err, p->stderr_ + len, sizeof p->stderr_ - 1 - len);
    if (r <= 0)
      return 0; /* closed: the child is gone */
    len += (size_t)r;
    p->stderr_[len] = '\0';
  }
  return 1;
}

int wproc_wait(wproc *p) {
  wproc_drain(p->out, p->stdout_, sizeof p->stdout_);
  wproc_drain(p->err, p->stderr_, sizeof p->stderr_);
  int st;
  waitpid(p->pid, &st, 0);
  p->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  return p->code;
}

int wproc_running(const wproc *p) {
  siginfo_t si;
  memset(&si, 0, sizeof si);
  assert_int_equal(
      waitid(P_PID, (id_t)p->pid, &si, WEXITED | WNOHANG | WNOWAIT), 0);
  return si.si_pid == 0;
}
