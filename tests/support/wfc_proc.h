/* wfc_proc.h - runs the `wfc` CLI (build/bin/wfc) as a child process with
 * stdout/stderr on pipes, for the end-to-end tests: tests/conn/test_cli.c,
 * tests/conn/test_emulator.c and tests/scenarios/scen.h (scenarios,
 * security). Failures to pipe/fork fail the running cmocka test. */
#ifndef WFC_PROC_H
#define WFC_PROC_H

#include <stddef.h>
#include <sys/types.h>

typedef struct wproc {
  pid_t pid;
  int out, err; /* read ends of the child's stdout/stderr; owned */
  char stdout_[65536], stderr_[65536];
  int code; /* exit status; 128 when the child did not exit normally */
} wproc;

/* Starts argv[0] with argv (NULL-terminated; borrowed until the call
 * returns), stdout and stderr on pipes (close-on-exec in this process, so
 * a child another thread starts meanwhile does not hold them). In the child,
 * prepare(arg) runs before the exec when not NULL (to change its limits, user
 * or environment; it may _exit to give up). */
void wproc_start(wproc *p, const char *const *argv, void (*prepare)(void *),
                 void *arg);

/* Starts `bin ARGS --store STORE --plugin-dir PLUGIN_DIR` (args is
 * NULL-terminated; all strings borrowed until the call returns; at most 58
 * args are passed). The child inherits the environment. */
void wproc_spawn(wproc *p, const char *bin, const char *const *args,
                 const char *store, const char *plugin_dir);

/* Reads stdout up to the first newline into line (without it), and records
 * "line\n" as the start of p->stdout_. */
void wproc_read_line(wproc *p, char *line, size_t len);

/* Reads fd to end (appending to the NUL-terminated buf, keeping what fits
 * in cap and dropping the rest, so the child never meets a closed pipe)
 * and closes it. */
void wproc_drain(int fd, char *buf, size_t cap);

/* Reads the child's stderr while it runs (into p->stderr_, which
 * wproc_wait then completes) until it contains needle: 1, or 0 when
 * timeout_ms passed or stderr closed first. */
int wproc_await_stderr(wproc *p, const char *needle, int timeout_ms);

/* Drains stdout then stderr, reaps the child; returns and sets p->code. */
int wproc_wait(wproc *p);

/* 1 while the child has not exited (it is left for wproc_wait to reap). */
int wproc_running(const wproc *p);

#endif
