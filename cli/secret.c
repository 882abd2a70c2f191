/* secret.c - see secret.h. */
#define _DEFAULT_SOURCE /* explicit_bzero */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

void wfc__cli_secret_wipe(const char *s) {
  if (s != NULL)
    explicit_bzero((char *)s, strlen(s));
}

void wfc__cli_secret_free(char *s) {
  wfc__cli_secret_wipe(s);
  free(s);
}

/* ---- echo off, restored whatever happens --------------------------------
 * The terminal settings before the prompt, for the signal handler: a
 * Ctrl-C at the prompt must not leave the person's shell without echo. */

static struct termios saved_tio;
static volatile sig_atomic_t echo_off;
static const int caught[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};
#define NCAUGHT (sizeof caught / sizeof caught[0])
static struct sigaction saved_sa[NCAUGHT];

static void on_signal(int sig) {
  if (echo_off)
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio); /* async-signal-safe */
  signal(sig, SIG_DFL);
  raise(sig);
}

static int echo_disable(void) {
  if (tcgetattr(STDIN_FILENO, &saved_tio) != 0)
    return -1;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < NCAUGHT; i++)
    sigaction(caught[i], &sa, &saved_sa[i]);
  struct termios t = saved_tio;
  t.c_lflag &= ~(tcflag_t)ECHO;
  t.c_lflag |= ECHONL; /* the Enter still moves to the next line */
  echo_off = 1;
  if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) != 0) {
    echo_off = 0;
    for (size_t i = 0; i < NCAUGHT; i++)
      sigaction(caught[i], &saved_sa[i], NULL);
    return -1;
  }
  return 0;
}

static void echo_restore(void) {
  tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tio);
  echo_off = 0;
  for (size_t i = 0; i < NCAUGHT; i++)
    sigaction(caught[i], &saved_sa[i], NULL);
}

/* One line of fd 0 into *out (transfer): 0, 1 at end of input before any
 * byte, -1 on a read error or a line longer than the limit. */
static int read_line(char **out, char *err, size_t errlen) {
  size_t cap = 256, n = 0;
  char *buf = malloc(cap);
  if (buf == NULL) {
    snprintf(err, errlen, "out of memory");
    return -1;
  }
  for (;;) {
    char c;
    ssize_t r = read(STDIN_FILENO, &c, 1);
    if (r < 0 && errno == EINTR)
      continue;
    if (r < 0) {
      snprintf(err, errlen, "cannot read stdin: %s", strerror(errno));
      wfc__cli_secret_free(buf);
      return -1;
    }
    if (r == 0 || c == '\n') {
      if (r == 0 && n == 0) {
        free(buf);
        return 1;
      }
      break;
    }
    if (n + 2 > cap) {
      if (cap >= WFC_CLI_SECRET_MAX) {
        snprintf(err, errlen, "the line is longer than %d bytes",
                 WFC_CLI_SECRET_MAX);
        wfc__cli_secret_free(buf);
        return -1;
      }
      /* Grown by hand so the old copy is cleansed, not left in the heap. */
      char *nb = malloc(cap * 2);
      if (nb == NULL) {
        snprintf(err, errlen, "out of memory");
        wfc__cli_secret_free(buf);
        return -1;
      }
      memcpy(nb, buf, n);
      explicit_bzero(buf, cap);
      free(buf);
      buf = nb;
      cap *= 2;
    }
    buf[n++] = c;
  }
  if (n > 0 && buf[n - 1] == '\r')
    n--;
  buf[n] = '\0';
  *out = buf;
  return 0;
}

/* read_line with echo off when stdin is a terminal. */
static int read_line_quiet(char **out, char *err, size_t errlen) {
  int tty = isatty(STDIN_FILENO) && echo_disable() == 0;
  int rc = read_line(out, err, errlen);
  if (tty)
    echo_restore();
  return rc;
}

int wfc__cli_secret_ask(const char *prompt, char **out, char *err,
                        size_t errlen) {
  *out = NULL;
  if (!isatty(STDIN_FILENO)) {
    snprintf(err, errlen, "stdin is not a terminal");
    return -1;
  }
  /* Echo off before the prompt shows: nothing typed after it echoes. */
  int quiet = echo_disable() == 0;
  fprintf(stderr, "%s", prompt);
  fflush(stderr);
  int rc = read_line(out, err, errlen);
  if (quiet)
    echo_restore();
  if (rc == 1) {
    fputc('\n', stderr);
    snprintf(err, errlen, "no answer (end of input)");
    return -1;
  }
  return rc;
}

int wfc__cli_secret_line(char **out, char *err, size_t errlen) {
  *out = NULL;
  int rc = read_line_quiet(out, err, errlen);
  if (rc == 1) {
    snprintf(err, errlen, "stdin ended before its line");
    return -1;
  }
  if (rc == 0 && (*out)[0] == '\0') {
    wfc__cli_secret_free(*out);
    *out = NULL;
    snprintf(err, errlen, "its line on stdin is empty");
    return -1;
  }
  return rc;
}

int wfc__cli_secret_file(const char *path, char **out, char *err,
                         size_t errlen) {
  *out = NULL;
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) {
    snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
    return -1;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !(S_ISREG(st.st_mode) || S_ISFIFO(st.st_mode))) {
    snprintf(err, errlen, "%s is not a regular file or a pipe", path);
    close(fd);
    return -1;
  }
  if ((st.st_mode & 077) != 0) {
    snprintf(err, errlen,
             "%s may be read or written by other users (mode %04o); "
             "`chmod 600 %s` first",
             path, (unsigned)(st.st_mode & 07777), path);
    close(fd);
    return -1;
  }
  /* The open did not wait for a writer of a pipe; the reads do. */
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0)
    fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  char *buf = malloc(WFC_CLI_SECRET_MAX + 1);
  size_t n = 0;
  ssize_t r = 0;
  while (buf != NULL && n <= WFC_CLI_SECRET_MAX &&
         ((r = read(fd, buf + n, WFC_CLI_SECRET_MAX + 1 - n)) > 0 ||
          (r < 0 && errno == EINTR)))
    if (r > 0)
      n += (size_t)r;
  int e = errno;
  close(fd);
  const char *why = buf == NULL              ? "out of memory"
                    : r < 0                  ? strerror(e)
                    : n > WFC_CLI_SECRET_MAX ? "larger than 65536 bytes"
                    : memchr(buf, '\0', n)   ? "it holds a NUL byte"
                                             : NULL;
  if (why == NULL) {
    if (n > 0 && buf[n - 1] == '\n')
      n--;
    if (n > 0 && buf[n - 1] == '\r')
      n--;
    if (n == 0)
      why = "it is empty";
  }
  if (why != NULL) {
    snprintf(err, errlen, "%s: %s", path, why);
    if (buf != NULL) {
      explicit_bzero(buf, WFC_CLI_SECRET_MAX + 1);
      free(buf);
    }
    return -1;
  }
  buf[n] = '\0';
  *out = buf;
  return 0;
}
