/* core_test.h - the fixture of the emulator core tests (test_core_admin,
 * test_core_faults, test_core_stream, test_core_throttle): a fresh
 * m365-emulator with its built-in tenant per group, one HTTP client, and a
 * URL buffer. Header only (static helpers); include after <cmocka.h>.
 * */
#ifndef CORE_TEST_H
#define CORE_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include "emu_proc.h"
#include "tclient.h"

#define CORE_FN static __attribute__((unused))

typedef struct fx {
  emu_proc *emu;  /* owned */
  tclient *c;     /* owned */
  char buf[2048]; /* the last URL built by u() */
} fx;

CORE_FN int setup(void **state) {
  fx *f = calloc(1, sizeof *f);
  f->emu = emu_proc_start(NULL, NULL);
  f->c = tclient_new(0);
  *state = f;
  return f->emu && f->c ? 0 : -1;
}

CORE_FN int teardown(void **state) {
  fx *f = *state;
  tclient_free(f->c);
  int rc = emu_proc_stop(f->emu);
  free(f);
  return rc == 0 ? 0 : -1;
}

/* The emulator's URL of path, in f->buf (valid until the next call). */
CORE_FN const char *u(fx *f, const char *path) {
  snprintf(f->buf, sizeof f->buf, "%s%s", emu_proc_url(f->emu), path);
  return f->buf;
}

/* Each test starts from the loaded config. */
CORE_FN int reset(void **state) {
  fx *f = *state;
  tresp r;
  tclient_request(f->c, "POST", u(f, "/__emulator/reset"), NULL, "", &r);
  int ok = r.status == 200;
  tresp_free(&r);
  return ok ? 0 : -1;
}

#endif
