/* o365_fixture.h - run the Office 365 Mail plugin's cards against the
 * emulator, through the real runtime and the real .so.
 * Used by tests/cards/ (and any test that runs cards end to end).
 *
 *   o365_fixture *fx = o365_fixture_new(NULL);       // examples/tenant.json
 *   o365_fixture_connect(fx, "alice@contoso.test");  // real OAuth flow
 *   o365_outcome o;
 *   o365_fixture_run(fx, "send_email", "{\"to\":[...],...}", &o);
 *   assert_int_equal(o.status, 0);
 *   o365_outcome_free(&o);
 *   assert_int_equal(o365_fixture_free(fx), 0);
 *
 * What it sets up: the emulator (emu_proc), a uv loop with a wfc runtime
 * (blob store in a private temp dir, removed by o365_fixture_free), the
 * plugin build/plugins/wfc-o365mail.so, and O365MAIL_AUTHORITY_URL /
 * O365MAIL_GRAPH_URL / O365MAIL_PREVIEW_CLIENT_ID pointing at the emulator
 * (preview app, tenant contoso.test).
 *
 * Connections: o365_fixture_connect() runs authorize_begin, signs in on the
 * emulator's pages with the user's password from the tenant document,
 * accepts the consent page when it is shown, and runs authorize_complete.
 * The resulting wfc_conn (owned by the fixture) serves the access token and
 * refreshes it through the plugin's refresh hook after a 401, so cards see
 * the same token service the connection manager gives them.
 *
 * Everything is synchronous for the test: each function runs the loop until
 * its work is done. Failures of the set-up itself print why and return
 * NULL / a negative value; the functions never call cmocka asserts, so the
 * fixture also works in setup/teardown. */
#ifndef O365_FIXTURE_H
#define O365_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>

#include "wfc/connections.h"
#include "wfc/host.h"

typedef struct o365_fixture o365_fixture;

/* What a card run ended with (owned by the caller; o365_outcome_free). */
typedef struct o365_outcome {
  int status;          /* 0, or a negative WFC_E* code */
  char message[1024];  /* why, when status != 0 */
  json_object *output; /* on success, or NULL */
  json_object *detail; /* on failure, or NULL */
  json_object *items;  /* array of streamed items (always an array) */
} o365_outcome;

/* Starts everything with config (a tenant.json path; NULL for
 * examples/tenant.json). NULL on failure (printed). */
o365_fixture *o365_fixture_new(const char *config);
/* Same with the runtime's default HTTP request deadline set to
 * http_timeout_ms (0: the runtime's default), for timeout tests. */
o365_fixture *o365_fixture_new_timeout(const char *config,
                                       uint32_t http_timeout_ms);
/* Same with a tenant document (borrowed). */
o365_fixture *o365_fixture_new_doc(json_object *doc);
/* Releases the connections, closes the runtime and the loop, stops the
 * emulator, removes the blob dir. 0 when all of it was clean. */
int o365_fixture_free(o365_fixture *fx);

/* The emulator's base URL ("http://127.0.0.1:PORT"). Borrowed. */
const char *o365_fixture_url(const o365_fixture *fx);
wfc_runtime *o365_fixture_runtime(const o365_fixture *fx);
/* The test shut the fixture's runtime down itself (wfc_runtime_shutdown,
 * its done callback ran): o365_fixture_free then only closes the loop. */
void o365_fixture_runtime_gone(o365_fixture *fx);
/* The fixture's loop (borrowed), for tests that start several runs with
 * wfc_runtime_invoke themselves and run the loop until they are done. */
struct uv_loop_s *o365_fixture_loop(o365_fixture *fx);
/* The runtime's blob store directory (layout: sdk/blob.h), so a test can
 * put files there that cards take as FILE inputs. Borrowed. */
const char *o365_fixture_blob_dir(const o365_fixture *fx);

/* Connects upn (password from the tenant document) through the real OAuth
 * flow; the connection becomes the fixture's default for o365_fixture_run.
 * Returns the connection (owned by the fixture), or NULL (printed). */
wfc_conn *o365_fixture_connect(o365_fixture *fx, const char *upn);
/* Connects an app-only connection (type o365mail_app) as a form flow does:
 * authorize_complete with {"params": params_json, "secrets": secrets_json}
 * (JSON texts; secrets may be NULL). out gets the hook's outcome (free it)
 * in every case. Returns the connection when the state is "connected"
 * (owned by the fixture; its info's type is o365mail_app; a rejected token
 * is fetched again through the type's refresh hook with the params and
 * secrets merged, as the connection manager does), else NULL. The default
 * connection does not change. */
wfc_conn *o365_fixture_connect_app(o365_fixture *fx, const char *params_json,
                                   const char *secrets_json, o365_outcome *out);
/* Switches the default connection (one returned by o365_fixture_connect). */
void o365_fixture_use(o365_fixture *fx, wfc_conn *conn);
/* Closes a connection manager the test opened on the fixture's loop and
 * runs the loop until it is closed. NULL is a no-op. */
void o365_fixture_close_connmgr(o365_fixture *fx, wfc_connmgr *mgr);

/* Runs card_id with input_json (JSON text; NULL = {}) on the default
 * connection until it completes. out is filled in every case (free it).
 * Returns out->status, or the wfc_runtime_invoke error when it did not
 * start (out->message says so). */
int o365_fixture_run(o365_fixture *fx, const char *card_id,
                     const char *input_json, o365_outcome *out);
/* Same on an explicit connection (NULL: none). */
int o365_fixture_run_on(o365_fixture *fx, wfc_conn *conn, const char *card_id,
                        const char *input_json, o365_outcome *out);
void o365_outcome_free(o365_outcome *o);
/* For tests with a runtime of their own: creates one on loop (initialised
 * by the caller) with opts (NULL: defaults) and loads the built plugin
 * ($WFC_BUILD_DIR/plugins/wfc-o365mail.so). 0, or -1 (printed). */
int o365_runtime_up(struct uv_loop_s *loop, const wfc_runtime_opts *opts,
                    wfc_runtime **rt);
/* Closes rt (NULL: none), drains and closes loop. 0 when nothing was left
 * on the loop. */
int o365_runtime_down(struct uv_loop_s *loop, wfc_runtime *rt);
/* Runs hook h of the o365mail connection type in rt (input borrowed) and
 * runs loop until it completes; for tests that drive the hooks without a
 * fixture (their own runtime). out as for o365_fixture_run. */
int o365_hook_run(wfc_runtime *rt, struct uv_loop_s *loop, wfc_conn_hook h,
                  json_object *input, o365_outcome *out);

/* Puts a committed file (data, len bytes) into the runtime's blob store in
 * its documented layout (sdk/blob.h: data file + JSON sidecar) and writes
 * its FILE reference {"id","name","content_type","size"} as JSON text into
 * ref (refsz bytes), ready to paste into a card input. 0 or -1. */
int o365_fixture_make_file(o365_fixture *fx, const char *name,
                           const char *content_type, const void *data,
                           size_t len, char *ref, size_t refsz);

/* ---- The emulator's admin API ---------------------------------------- */

/* method path (e.g. "/__emulator/mail") with body_json (JSON text or
 * NULL). Returns the parsed answer (new reference; NULL when empty or not
 * JSON) and the status in *status (optional; 0 when no answer). */
json_object *o365_fixture_admin(o365_fixture *fx, const char *method,
                                const char *path, const char *body_json,
                                long *status);
/* POST /__emulator/reset: tenant, mailboxes, faults, stats, grants. The
 * connections made before may stop working: connect again after it. */
int o365_fixture_reset(o365_fixture *fx);
/* How many Graph requests (routes under /v1.0 and the upload paths) the
 * emulator has answered since the start or the last reset. -1 on error. */
long o365_fixture_graph_requests(o365_fixture *fx);
/* Requests answered for one route template ("POST",
 * "/v1.0/users/{user}/sendMail"), -1 on error. */
long o365_fixture_route_count(o365_fixture *fx, const char *method,
                              const char *route);
/* Graph requests (as o365_fixture_graph_requests) answered with status
 * (0: connections reset without an answer). -1 on error. */
long o365_fixture_status_count(o365_fixture *fx, long status);
/* Request bodies the emulator refused for not matching Graph's OpenAPI
 * shapes since the last reset (-1: unknown). o365_fixture_reset and
 * o365_fixture_free fail when it is not 0. */
long o365_fixture_openapi_rejections(o365_fixture *fx);
/* Messages really sent by user (GET /__emulator/mail/{user}/sent count). */
long o365_fixture_sent_count(o365_fixture *fx, const char *user);
/* GET /__emulator/mail/{user}/messages[?folder=] -> the "value" array
 * (new reference) or NULL. */
json_object *o365_fixture_messages(o365_fixture *fx, const char *user,
                                   const char *folder);
/* Injects a message (JSON text, the tenant document's message shape) into
 * user's mailbox; returns its id (malloc'd) or NULL. */
char *o365_fixture_inject(o365_fixture *fx, const char *user,
                          const char *message_json);
/* Arms a fault rule (JSON text, docs/emulator.md "Faults"). 0 or -1. */
int o365_fixture_fault(o365_fixture *fx, const char *rule_json);

#endif /* O365_FIXTURE_H */
