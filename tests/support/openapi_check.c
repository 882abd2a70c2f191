/* openapi_check.c - see openapi_check.h. Thin: the rules live in
 * emulator/openapi.c so that the emulator and the tests agree. */
#define _GNU_SOURCE /* asprintf */
#include "openapi_check.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "openapi.h"

static char *describe(const char *method, const char *path,
                      const emu_openapi_err *e) {
  char *s = NULL;
  if (asprintf(&s, "%s %s: %s: %s", method, path, e->path, e->message) < 0)
    return NULL;
  return s;
}

char *openapi_response_mismatch(const char *method, const char *path_pattern,
                                long status, json_object *body) {
  if (status == 204 || status < 200 || status > 299)
    return NULL;
  emu_openapi_err e;
  int rc = emu_openapi_check_response(method, path_pattern, body, &e);
  if (rc == -2 && !body)
    return NULL; /* no content (202 of sendMail): nothing to check */
  if (rc == -2) {
    snprintf(e.path, sizeof e.path, "$");
    snprintf(e.message, sizeof e.message,
             "no documented response schema for this operation");
  }
  return rc == 0 ? NULL : describe(method, path_pattern, &e);
}

void openapi_check_response(const char *method, const char *path_pattern,
                            long status, json_object *body) {
  char *m = openapi_response_mismatch(method, path_pattern, status, body);
  if (m) {
    print_error("openapi: %s\n", m);
    free(m);
    fail();
  }
}

char *openapi_request_mismatch(const char *method, const char *path_pattern,
                               json_object *body) {
  emu_openapi_err e;
  if (emu_openapi_check_request(method, path_pattern, body, &e) == 0)
    return NULL;
  return describe(method, path_pattern, &e);
}
