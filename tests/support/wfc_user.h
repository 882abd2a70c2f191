/* wfc_user.h - the user of the `wfc` CLI in end-to-end tests: runs the real
 * build/bin/wfc on a fresh store, plays the browser's steps that are not
 * sign-in (back to the CLI's loopback listener, the emulator's "Approval
 * required" and "Return to the application" pages), the admin's review in
 * the emulator's portal, and checks a connection's state and remedy the
 * four ways a user reads them (`wfc connection show` and `list`, as text
 * and --json; the text adds the command to run, `wfc connection
 * reauthorize NAME`). Used by tests/scenarios/scen.h (the seed
 * scenarios and tests/security) and tests/conn/test_emulator.c. Every
 * check fails the running cmocka test.
 *
 * Sign-in and the consent page stay in tests/emulator/identity_flow.h
 * (header only, bound to its test's emulator). */
#ifndef WFC_USER_H
#define WFC_USER_H

#include <stddef.h>

#include <json-c/json.h>

#include "tclient.h"
#include "wfc_proc.h"

typedef struct wuser {
  char dir[128];     /* temporary directory, removed by wuser_cleanup() */
  char store[192];   /* dir/store.db */
  char bin[512];     /* $WFC_BUILD_DIR/bin/wfc */
  char plugins[512]; /* $WFC_BUILD_DIR/plugins */
  /* Called with every finished command, or NULL (tests/security keeps
   * every output to grep it for secrets). */
  void (*on_output)(const wproc *p);
} wuser;

/* A fresh /tmp/wfc-NAME-XXXXXX with the store path; the CLI and plugins of
 * $WFC_BUILD_DIR (ctest) or of the build this library belongs to. 0 or -1
 * (nothing to clean up then). */
int wuser_init(wuser *u, const char *name);
/* Removes the directory. 0 or -1. */
int wuser_cleanup(wuser *u);

/* Starts `wfc ARGS --store S --plugin-dir D` (stdout/stderr on pipes). */
void wuser_spawn(const wuser *u, wproc *p, const char *const *args);
/* Waits for it and returns its exit code. Asserts no access or refresh
 * token (the emulator's are JWTs) is in its outputs. With SC_VERBOSE set,
 * a failing command's outputs go to stderr. */
int wuser_finish(const wuser *u, wproc *p);
/* wuser_spawn + wuser_finish. */
int wuser_run(const wuser *u, wproc *p, const char *const *args);

/* The URL (first stdout line) of an authorizing command started with
 * --print-url; asserts it starts with prefix (the authority) when not NULL.
 */
void wuser_read_url(wproc *p, const char *prefix, char *url, size_t len);
/* The JSON result an authorizing `--print-url --json` command prints after
 * the URL (new reference; asserted present). */
json_object *wuser_result(const wproc *p);

/* `wfc connection show NAME --json` (new reference; asserted to succeed). */
json_object *wuser_show(const wuser *u, const char *nickname);
/* Asserts the connection's state, and its remedy: NULL means none, else a
 * substring of it. Checked in `connection show` --json and as text, and in
 * `connection list` --json and as text (the row, then "  -> remedy"): the
 * four must agree. Copies the id into id when not NULL. */
void wuser_expect(const wuser *u, const char *nickname, const char *state,
                  const char *remedy, char *id, size_t idlen);

/* GET url with a fresh client (no cookies): the status, 0 when nothing
 * answered (e.g. the CLI's listener is gone). */
long wuser_get_status(const char *url);
/* The browser follows r's redirect (asserted: 302 to 127.0.0.1) to the
 * CLI's loopback listener; returns the status of the listener's page (0
 * when it did not answer). */
long wuser_to_listener(const tresp *r);

/* On one of the emulator's approval pages at base ("Need admin approval",
 * "Request sent", "Request pending"), the browser b clicks "Return to the
 * application" (a#return) and follows the redirect to the listener;
 * returns the listener's status. */
long wuser_return_to_app(tclient *b, const char *base, const tresp *page);
/* On the "Approval required" page (form#request), b requests approval with
 * justification; out is the page that follows ("Request sent"). */
void wuser_request_approval(tclient *b, const char *base, const tresp *page,
                            const char *justification, tresp *out);
/* On the "Approval required" page, b clicks Cancel (back to the app) and
 * follows the redirect to the listener; returns the listener's status. */
long wuser_cancel_request(tclient *b, const char *base, const tresp *page);

/* The emulator's "Admin consent requests" (status "pending", "approved",
 * "denied" or NULL for all): the "value" array, new reference. */
json_object *wuser_consent_requests(const char *base, const char *status);
/* The admin approves (or denies) request id as reviewer: asserts 204. */
void wuser_review(const char *base, const char *id, int approve,
                  const char *reviewer);

#endif /* WFC_USER_H */
