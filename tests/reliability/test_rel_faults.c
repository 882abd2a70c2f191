/* Reliability: card runs under random faults (docs/reliability.md "Card
 * runs under random faults").
 *
 * The real plugin (dlopen) in the SDK runtime, its connection from a real
 * store (made by `wfc connection new`, opened with the connection manager,
 * which refreshes and persists tokens), against the emulator with random
 * fault rules (docs/emulator.md "Faults", probability + seed) on every
 * Graph path, the upload sessions and the token endpoint: about 10% of the
 * responses (measured: the share figure) are 5xx (500, 502, 503, 504), resets
 * before and after the handler, truncated or malformed bodies, 429 storms (3 in
 * a row, and 7: longer than the plugin retries) and delays past the request
 * deadline (1.5 s here). The runs are a mix of cards: send with and without an
 * idempotency key, with and without attachments (one of 3.2 MB: upload
 * session), reply, get, search, move, mark read, create folder, add and
 * download attachments, a token refresh forced now and then, and the
 * emulator's clock moved past the access token's expiry now and then (the
 * next card gets a 401 and the connection refreshes).
 *
 * Each run is judged from the emulator's own record (what was really sent,
 * moved, created, attached), in batches:
 *   success                      the effect is there exactly once;
 *   failure, outcome unknown     at most once;
 *   any other failure            no effect, except a draft the message says
 *                                is kept (send with attachments), and the
 *                                state set by an idempotent PATCH (mark
 *                                read: repeating it is harmless);
 *   keyed send, run again after  exactly once;
 *   each failure
 *   reads (get, search, download) the answer matches what the mailbox holds.
 * A success with the effect missing is lost work; an effect twice is a
 * duplicate; a failure that claims nothing was done while it was done is
 * untruthful. Every error message must be clear (rel_unclear, tested here
 * too). At the end the store passes PRAGMA integrity_check and the
 * connection is still connected. Short: 300 runs; long: 5,000. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <uv.h>

#include "o365_fixture.h"
#include "reliability.h"
#include "wfc/connections.h"
#include "wfc_user.h"

#define ALICE       "alice@contoso.test"
#define ALICE_PW    "Alice-Passw0rd!"
#define DEADLINE_MS 1500
#define BATCH       50
/* Attempts of a keyed send (and of the setup reads) before giving up:
 * more than a 429 storm of the token endpoint refuses in a row (7: each
 * attempt after the clock moved needs one refresh). */
#define MAX_ATTEMPTS 20

static o365_fixture *fx;
static wuser u;
static wfc_connmgr *mgr;
static wfc_conn *conn; /* one reference, ours */
static char small_ref[512], large_ref[512];
static char small_data[1500];

/* ---- The rule for clear errors ------------------------------------------- */

/* rel_unclear itself: bare code texts are refused, causes pass. */
static void clear_error_rule(void **state) {
  (void)state;
  static const char *const unclear[] = {
      "",
      "invalid argument",
      "o365mail.custom_api_action: invalid argument",
      "o365mail.custom_api_action: invalid argument (EINVAL)",
      "o365mail.send_email: sending the message failed: network error",
      "o365mail.get_message: reading failed: (null)",
      "o365mail.get_message: Graph returned an error status",
      "token eyJhbGciOiJSUzI1NiJ9.e30.x rejected",
      NULL};
  static const char *const clear[] = {
      "o365mail.send_email: sending the message failed: Empty reply from "
      "server (the outcome is unknown: ...)",
      "o365mail.get_message: reading the message failed: "
      "ErrorItemNotFound: The specified object was not found in the store.",
      "o365mail.send_email: input.to[0]: not an email address",
      "cannot record an event as delivered: store error: database is locked",
      NULL};
  for (size_t i = 0; unclear[i]; i++)
    if (rel_unclear(unclear[i]) == NULL)
      fail_msg("taken as clear: \"%s\"", unclear[i]);
  for (size_t i = 0; clear[i]; i++)
    if (rel_unclear(clear[i]) != NULL)
      fail_msg("taken as unclear (%s): \"%s\"", rel_unclear(clear[i]),
               clear[i]);
}

/* ---- Set-up ---------------------------------------------------------------
 */

static int setup(void **state) {
  (void)state;
  fx = o365_fixture_new_timeout(NULL, DEADLINE_MS);
  if (fx == NULL || wuser_init(&u, "rel-faults") != 0)
    return -1;
  /* The emulator's own throttling is not under test (its windows are
   * virtual time, which the runs move): off, so every 429 is a fault. */
  long st = 0;
  json_object_put(o365_fixture_admin(
      fx, "POST", "/__emulator/throttle",
      "{\"concurrency\":0,\"requestsPerWindow\":0,\"windowSeconds\":600}",
      &st));
  if (st / 100 != 2)
    return -1;
  for (size_t i = 0; i < sizeof small_data; i++)
    small_data[i] = (char)('A' + i % 23);
  char *large = malloc(3200 * 1024);
  if (large == NULL)
    return -1;
  memset(large, 'z', 3200 * 1024);
  int rc =
      o365_fixture_make_file(fx, "small.txt", "text/plain", small_data,
                             sizeof small_data, small_ref, sizeof small_ref) ||
      o365_fixture_make_file(fx, "large.bin", "application/octet-stream", large,
                             3200 * 1024, large_ref, sizeof large_ref);
  free(large);
  return rc ? -1 : 0;
}

static int teardown(void **state) {
  (void)state;
  if (conn != NULL)
    wfc_conn_release(conn);
  o365_fixture_close_connmgr(fx, mgr);
  int rc = o365_fixture_free(fx);
  if (wuser_cleanup(&u) != 0)
    rc = -1;
  return rc;
}

/* The store made by `wfc connection new`, opened in this process. */
static void open_connection(void) {
  rel_connect(u.bin, u.store, u.plugins, o365_fixture_url(fx), "alice", ALICE,
              ALICE_PW);
  wfc_connmgr_opts o = {sizeof o, .store_path = u.store};
  char err[512];
  if (wfc_connmgr_open(o365_fixture_runtime(fx), &o, &mgr, err, sizeof err))
    fail_msg("wfc_connmgr_open: %s", err);
  assert_int_equal(wfc_connmgr_open_conn(mgr, "alice", &conn), 0);
}

/* ---- The fault rules ------------------------------------------------------
 */

typedef struct kind_rule {
  const char *name;
  const char *rule; /* members after path, probability and seed */
  int burst;        /* requests one hit covers (its rule's "burst") */
} kind_rule;

static const kind_rule fault_kinds[] = {
    {"500", "\"action\":\"status\",\"status\":500", 1},
    {"502", "\"action\":\"status\",\"status\":502", 1},
    {"503", "\"action\":\"status\",\"status\":503,\"retryAfter\":0", 1},
    {"504", "\"action\":\"status\",\"status\":504", 1},
    {"reset", "\"action\":\"reset\"", 1},
    {"reset_after", "\"action\":\"reset\",\"afterHandler\":true", 1},
    {"truncate", "\"action\":\"truncate\"", 1},
    {"malformed", "\"action\":\"malformed\"", 1},
    {"429x3",
     "\"action\":\"status\",\"status\":429,\"retryAfter\":0,\"burst\":3", 3},
    {"429x7",
     "\"action\":\"status\",\"status\":429,\"retryAfter\":0,\"burst\":7", 7},
    {"delay", "\"action\":\"delay\",\"delayMs\":2000", 1},
};
#define NKINDS (sizeof fault_kinds / sizeof fault_kinds[0])

/* Graph, its upload sessions, the token endpoint. */
static const char *const fault_paths[] = {"/v1.0/", "/api/v2.0/",
                                          "/*/oauth2/v2.0/token"};
#define NPATHS (sizeof fault_paths / sizeof fault_paths[0])

/* One random rule per kind and path, all with the same probability p:
 * a request spared by one rule's draw goes on to the next, and a storm's
 * hit covers burst requests, so about p * (sum of the bursts) of the
 * responses are faulted: p is chosen for 10% (the share is measured and
 * reported). */
static void arm_faults(void) {
  int bursts = 0;
  for (size_t k = 0; k < NKINDS; k++)
    bursts += fault_kinds[k].burst;
  double p = 0.10 / bursts;
  for (size_t j = 0; j < NPATHS; j++)
    for (size_t k = 0; k < NKINDS; k++) {
      char rule[512];
      snprintf(
          rule, sizeof rule,
          "{\"path\":\"%s\",\"probability\":%.6f,\"seed\":%llu,%s}",
          fault_paths[j], p,
          (unsigned long long)((rel_seed() + j * NKINDS + k) % 2147483647u),
          fault_kinds[k].rule);
      assert_int_equal(o365_fixture_fault(fx, rule), 0);
    }
}

/* Requests the emulator answered (or reset) outside its admin API:
 * Graph, uploads and the identity platform. */
static long requests_total(void) {
  json_object *j = o365_fixture_admin(fx, "GET", "/__emulator/stats", NULL,
                                      NULL),
              *v = NULL;
  long n =
      json_object_object_get_ex(j, "total", &v) ? json_object_get_int(v) : -1;
  json_object_put(j);
  return n;
}

/* Requests faulted so far, per kind (hits of the armed rules). */
static long faults_hit(long per_kind[NKINDS]) {
  json_object *j = o365_fixture_admin(fx, "GET", "/__emulator/faults", NULL,
                                      NULL),
              *v = NULL;
  long total = 0;
  memset(per_kind, 0, NKINDS * sizeof *per_kind);
  if (json_object_object_get_ex(j, "value", &v))
    for (size_t i = 0; i < json_object_array_length(v); i++) {
      json_object *r = json_object_array_get_idx(v, i), *h = NULL;
      if (json_object_object_get_ex(r, "hits", &h)) {
        per_kind[i % NKINDS] += json_object_get_int(h);
        total += json_object_get_int(h);
      }
    }
  json_object_put(j);
  return total;
}

/* ---- Runs -----------------------------------------------------------------
 */

enum kind {
  K_SEND,
  K_SEND_KEY,
  K_SEND_ATT,
  K_SEND_ATT_KEY,
  K_REPLY,
  K_GET,
  K_SEARCH,
  K_MOVE,
  K_MARK,
  K_FOLDER,
  K_ADD_ATT,
  K_DOWNLOAD,
  K_REFRESH,
  K_COUNT
};
static const char *const kind_names[K_COUNT] = {
    "send",    "send_key", "send_att", "send_att_key", "reply",
    "get",     "search",   "move",     "mark_read",    "create_folder",
    "add_att", "download", "refresh"};
/* How often each kind is picked (out of the sum). */
static const unsigned kind_weight[K_COUNT] = {10, 10, 5, 5, 8, 8, 8,
                                              8,  8,  8, 6, 6, 8};

/* What a run did, judged when its batch is checked. */
typedef struct rec {
  enum kind kind;
  char tag[64];   /* its unique subject or folder name */
  int status;     /* the (last) run's status */
  int unknown;    /* detail.outcome == "unknown" */
  int draft_kept; /* the message says the draft is kept */
  char why[300];  /* the last failure's message (for the notes) */
  char log[1800]; /* a keyed send's attempts: "status message | ..." */
} rec;

typedef struct tallies {
  long runs[K_COUNT], failed[K_COUNT], unknown[K_COUNT];
  long attempts, setup_failures, clock_moves, drafts_left, read_despite_fail;
  long cut_downloads; /* downloads cut in half by a `malformed` fault */
} tallies;

static rel_counts c = {.test = "card_runs_random_faults"};
static tallies t;

/* Judges a failure's message (every run, every attempt). */
static void check_message(const char *card, const o365_outcome *o) {
  if (o->status == 0)
    return;
  const char *why = rel_unclear(o->message);
  if (why != NULL) {
    c.unclear++;
    rel_note(&c, "%s: unclear error (%s): %s", card, why, o->message);
  }
}

static int outcome_unknown(const o365_outcome *o) {
  json_object *v = NULL;
  return o->detail != NULL &&
         json_object_object_get_ex(o->detail, "outcome", &v) &&
         strcmp(json_object_get_string(v), "unknown") == 0;
}

/* Runs card once (input: JSON text) and judges its message; the outcome is
 * left in o (the caller frees it). */
static int run(const char *card, const char *input, o365_outcome *o) {
  t.attempts++;
  int rc = o365_fixture_run_on(fx, conn, card, input, o);
  check_message(card, o);
  return rc;
}

/* Runs a read-only card until it succeeds (setup steps under the same
 * faults); 0, or -1 after MAX_ATTEMPTS (counted, the run is skipped). */
static int run_until_ok(const char *card, const char *input, o365_outcome *o) {
  for (int i = 0; i < MAX_ATTEMPTS; i++) {
    if (run(card, input, o) == 0)
      return 0;
    o365_outcome_free(o);
  }
  t.setup_failures++;
  return -1;
}

static void record(rec *r, const o365_outcome *o) {
  r->status = o->status;
  r->unknown = o->status != 0 && outcome_unknown(o);
  r->draft_kept = o->status != 0 && strstr(o->message, "draft is kept");
  if (o->status != 0)
    snprintf(r->why, sizeof r->why, "%.299s", o->message);
  if (o->status != 0)
    t.failed[r->kind]++;
  if (r->unknown)
    t.unknown[r->kind]++;
}

/* A message in alice's mailbox (folder, extra members), through the admin
 * API (never faulted); its id (malloc'd). */
static char *inject(const char *tag, const char *folder, const char *extra) {
  char body[4096];
  snprintf(body, sizeof body,
           "{\"subject\":\"%s\",\"from\":\"bob@contoso.test\","
           "\"toRecipients\":[\"alice@contoso.test\"],\"body\":\"x\","
           "\"folder\":\"%s\"%s}",
           tag, folder, extra);
  char *id = o365_fixture_inject(fx, ALICE, body);
  assert_non_null(id);
  return id;
}

/* A message tagged r->tag injected into folder (extra: as inject takes
 * it), and into input the card input {"message_id":"<its id>"<more>}. */
static void message_input(const rec *r, const char *folder, const char *extra,
                          const char *more, char *input, size_t len) {
  char *id = inject(r->tag, folder, extra);
  snprintf(input, len, "{\"message_id\":\"%s\"%s}", id, more);
  free(id);
}

/* Runs card on input once and records the outcome in r; on success,
 * check (when not NULL) judges the output against what r did. */
static void run_and_record(rec *r, const char *card, const char *input,
                           void (*check)(const rec *, const o365_outcome *)) {
  o365_outcome o;
  if (run(card, input, &o) == 0 && check != NULL)
    check(r, &o);
  record(r, &o);
  o365_outcome_free(&o);
}

static void send_run(rec *r, int key, int attach, rel_rng *rng) {
  char input[1024], att[600] = "", k[128] = "";
  if (attach)
    snprintf(att, sizeof att, ",\"attachments\":[%s]",
             rel_rng_below(rng, 4) == 0 ? large_ref : small_ref);
  if (key)
    snprintf(k, sizeof k, ",\"idempotency_key\":\"%s\"", r->tag);
  snprintf(input, sizeof input,
           "{\"to\":[\"bob@contoso.test\"],\"subject\":\"%s\","
           "\"body\":\"run\"%s%s}",
           r->tag, att, k);
  o365_outcome o;
  int tries = key ? MAX_ATTEMPTS : 1;
  for (int i = 0; i < tries; i++) {
    int rc = run("o365mail.send_email", input, &o);
    record(r, &o);
    size_t l = strlen(r->log);
    snprintf(r->log + l, sizeof r->log - l, "%s%d %.160s", l ? " | " : "",
             o.status, o.status ? o.message : "sent");
    if (rc == 0) {
      if (!json_object_get_boolean(json_object_object_get(o.output, "sent"))) {
        c.untruthful++;
        rel_note(&c, "%s: success without sent:true", r->tag);
      }
      o365_outcome_free(&o);
      break;
    }
    o365_outcome_free(&o);
  }
}

static void reply_run(rec *r) {
  char input[1024];
  message_input(r, "inbox", "", ",\"comment\":\"ok\"", input, sizeof input);
  run_and_record(r, "o365mail.reply_email", input, NULL);
}

/* Get Message answered r's message. */
static void got_it(const rec *r, const o365_outcome *o) {
  json_object *s = json_object_object_get(o->output, "subject");
  if (s == NULL || strcmp(json_object_get_string(s), r->tag) != 0) {
    c.untruthful++;
    rel_note(&c, "get_message %s answered %s", r->tag,
             json_object_to_json_string(o->output));
  }
}

static void get_run(rec *r) {
  char input[1024];
  message_input(r, "inbox", "", ",\"include_body\":false", input, sizeof input);
  run_and_record(r, "o365mail.get_message", input, got_it);
}

/* The search found r's message once. */
static void found_once(const rec *r, const o365_outcome *o) {
  json_object *m = json_object_object_get(o->output, "messages");
  int n = rel_count_eq(m, "subject", r->tag);
  if (n != 1) {
    (n == 0 ? c.lost++ : (c.duplicates += n - 1));
    rel_note(&c, "search for %s found it %d times", r->tag, n);
  }
}

static void search_run(rec *r) {
  free(inject(r->tag, "inbox", ""));
  char input[1024];
  snprintf(input, sizeof input,
           "{\"folder\":\"inbox\",\"subject\":\"%s\",\"match\":\"exact\","
           "\"fields\":[\"subject\"]}",
           r->tag);
  run_and_record(r, "o365mail.search_emails", input, found_once);
}

static void move_run(rec *r) {
  char input[1024];
  message_input(r, "inbox", "", ",\"folder\":\"archive\"", input, sizeof input);
  run_and_record(r, "o365mail.move_email", input, NULL);
}

static void mark_run(rec *r) {
  char input[1024];
  message_input(r, "inbox", ",\"isRead\":false", ",\"read\":true", input,
                sizeof input);
  run_and_record(r, "o365mail.mark_read", input, NULL);
}

static void folder_run(rec *r) {
  char input[256];
  snprintf(input, sizeof input, "{\"name\":\"%s\"}", r->tag);
  run_and_record(r, "o365mail.create_folder", input, NULL);
}

static void add_att_run(rec *r, rel_rng *rng) {
  char files[600], input[1024];
  snprintf(files, sizeof files, ",\"files\":[%s]",
           rel_rng_below(rng, 4) == 0 ? large_ref : small_ref);
  message_input(r, "drafts", ",\"isDraft\":true", files, input, sizeof input);
  run_and_record(r, "o365mail.add_attachment", input, NULL);
}

/* What blob id (in the fixture's blob store) holds: 1 small_data, 2
 * exactly its first half (a `malformed` fault: a well-framed answer cut
 * in half, which no client can tell from a shorter file), 0 anything
 * else. The blob is removed. */
static int blob_holds(const char *id) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", o365_fixture_blob_dir(fx), id);
  FILE *f = fopen(path, "rb");
  if (f == NULL)
    return 0;
  char buf[sizeof small_data + 1];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  int what = memcmp(buf, small_data, n) != 0 ? 0
             : n == sizeof small_data        ? 1
             : n == sizeof small_data / 2    ? 2
                                             : 0;
  unlink(path);
  snprintf(path, sizeof path, "%s/%s.json", o365_fixture_blob_dir(fx), id);
  unlink(path);
  return what;
}

/* The downloaded file holds the attachment (or its first half: counted). */
static void holds_attachment(const rec *r, const o365_outcome *o) {
  json_object *file = json_object_object_get(o->output, "file");
  const char *bid = json_object_get_string(json_object_object_get(file, "id"));
  int held = bid ? blob_holds(bid) : 0;
  if (held == 2)
    t.cut_downloads++;
  else if (held != 1) {
    c.untruthful++;
    rel_note(&c, "download %s: the file does not hold the attachment: %s",
             r->tag, json_object_to_json_string(o->output));
  }
}

static void download_run(rec *r) {
  /* base64 of small_data, as the tenant document's attachments take it. */
  static char b64[2100];
  if (b64[0] == '\0')
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)small_data,
                    sizeof small_data);
  char extra[2400];
  snprintf(extra, sizeof extra,
           ",\"attachments\":[{\"name\":\"a.txt\",\"contentType\":"
           "\"text/plain\",\"contentBytes\":\"%s\"}]",
           b64);
  char *id = inject(r->tag, "inbox", extra);
  char input[1024];
  snprintf(input, sizeof input, "{\"message_id\":\"%s\"}", id);
  o365_outcome o;
  if (run_until_ok("o365mail.list_attachments", input, &o) != 0) {
    free(id);
    r->kind = K_COUNT; /* skipped */
    return;
  }
  json_object *atts = json_object_object_get(o.output, "attachments");
  json_object *a0 = json_object_array_get_idx(atts, 0);
  snprintf(input, sizeof input,
           "{\"message_id\":\"%s\",\"attachment_id\":\"%s\"}", id,
           json_object_get_string(json_object_object_get(a0, "id")));
  free(id);
  o365_outcome_free(&o);
  run_and_record(r, "o365mail.download_attachment", input, holds_attachment);
}

typedef struct refresh_wait {
  int done, status;
  char message[1024];
} refresh_wait;

static void on_refreshed(void *arg, const wfc_connmgr_result *res) {
  refresh_wait *w = arg;
  w->status = res->status;
  snprintf(w->message, sizeof w->message, "%s",
           res->message ? res->message : "");
  w->done = 1;
}

/* The connection's state in the store. */
static void state_of(char *buf, size_t len) {
  json_object *j = NULL, *st = NULL;
  buf[0] = '\0';
  if (wfc_connmgr_show(mgr, "alice", &j) == 0 &&
      json_object_object_get_ex(j, "state", &st))
    snprintf(buf, len, "%s", json_object_get_string(st));
  json_object_put(j);
}

static void refresh_run(rec *r) {
  refresh_wait w = {0};
  t.attempts++;
  assert_int_equal(wfc_connmgr_refresh(mgr, "alice", on_refreshed, &w), 0);
  while (!w.done)
    uv_run(o365_fixture_loop(fx), UV_RUN_ONCE);
  o365_outcome o = {.status = w.status};
  snprintf(o.message, sizeof o.message, "%s", w.message);
  check_message("refresh", &o);
  r->status = w.status;
  if (w.status != 0)
    t.failed[K_REFRESH]++;
  /* A transient failure leaves the connection as it was; losing it would
   * be lost work (every later run would fail). */
  char state[64];
  state_of(state, sizeof state);
  if (strcmp(state, "connected") != 0) {
    c.lost++;
    rel_note(&c, "refresh (%d %s) left the connection %s", w.status, w.message,
             state);
  }
}

static enum kind pick(rel_rng *rng) {
  unsigned sum = 0;
  for (int k = 0; k < K_COUNT; k++)
    sum += kind_weight[k];
  unsigned x = rel_rng_below(rng, sum);
  for (int k = 0; k < K_COUNT; k++) {
    if (x < kind_weight[k])
      return (enum kind)k;
    x -= kind_weight[k];
  }
  return K_SEND;
}

static void one_run(int i, rel_rng *rng, rec *r) {
  memset(r, 0, sizeof *r);
  r->kind = pick(rng);
  snprintf(r->tag, sizeof r->tag, "rf %llu %d %s",
           (unsigned long long)rel_seed(), i, kind_names[r->kind]);
  if (rel_rng_below(rng, 25) == 0) {
    /* Past the access token's lifetime at the emulator: the next Graph
     * request gets 401 and the connection refreshes. */
    long st = 0;
    json_object_put(o365_fixture_admin(fx, "POST", "/__emulator/time/advance",
                                       "{\"seconds\":5400}", &st));
    assert_int_equal(st, 200);
    t.clock_moves++;
  }
  t.runs[r->kind]++;
  switch (r->kind) {
  case K_SEND:
  case K_SEND_KEY:
  case K_SEND_ATT:
  case K_SEND_ATT_KEY:
    send_run(r, r->kind == K_SEND_KEY || r->kind == K_SEND_ATT_KEY,
             r->kind == K_SEND_ATT || r->kind == K_SEND_ATT_KEY, rng);
    break;
  case K_REPLY:
    reply_run(r);
    break;
  case K_GET:
    get_run(r);
    break;
  case K_SEARCH:
    search_run(r);
    break;
  case K_MOVE:
    move_run(r);
    break;
  case K_MARK:
    mark_run(r);
    break;
  case K_FOLDER:
    folder_run(r);
    break;
  case K_ADD_ATT:
    add_att_run(r, rng);
    break;
  case K_DOWNLOAD:
    download_run(r);
    break;
  default:
    refresh_run(r);
    break;
  }
}

/* ---- Judging a batch from the emulator's record -------------------------- */

typedef struct record_snap {
  json_object *sent, *inbox, *archive, *drafts, *folders;
} record_snap;

static json_object *folders_of(void) {
  json_object *j = o365_fixture_admin(
                  fx, "GET", "/__emulator/mail/" ALICE "/folders", NULL, NULL),
              *v = NULL;
  if (json_object_is_type(j, json_type_array))
    return j;
  if (json_object_object_get_ex(j, "value", &v))
    json_object_get(v);
  json_object_put(j);
  return v;
}

static void snap_take(record_snap *s) {
  const char *base = o365_fixture_url(fx);
  s->sent = rel_sent(base, ALICE);
  s->inbox = rel_messages(base, ALICE, "inbox");
  s->archive = rel_messages(base, ALICE, "archive");
  s->drafts = rel_messages(base, ALICE, "drafts");
  s->folders = folders_of();
  assert_non_null(s->sent);
  assert_non_null(s->inbox);
  assert_non_null(s->archive);
  assert_non_null(s->drafts);
  assert_non_null(s->folders);
}

static void snap_free(record_snap *s) {
  json_object_put(s->sent);
  json_object_put(s->inbox);
  json_object_put(s->archive);
  json_object_put(s->drafts);
  json_object_put(s->folders);
}

/* The message of arr with subject tag (borrowed) or NULL. */
static json_object *find(json_object *arr, const char *tag) {
  for (size_t i = 0; i < json_object_array_length(arr); i++) {
    json_object *m = json_object_array_get_idx(arr, i), *s = NULL;
    if (json_object_object_get_ex(m, "subject", &s) &&
        strcmp(json_object_get_string(s), tag) == 0)
      return m;
  }
  return NULL;
}

/* n effects of a run that should have n_ok: success exactly once, unknown
 * at most once, other failures none. */
static void judge_count(const rec *r, int n, const char *what) {
  if (r->status == 0 || r->kind == K_SEND_KEY || r->kind == K_SEND_ATT_KEY) {
    if (n == 0) {
      c.lost++;
      rel_note(&c, "%s: %s (status %d) but no %s; attempts: %s", r->tag,
               r->status ? "never succeeded" : "reported done", r->status, what,
               r->log[0] ? r->log : r->why);
    } else if (n > 1) {
      c.duplicates += n - 1;
      rel_note(&c, "%s: %d times %s (last failure: %s)", r->tag, n, what,
               r->why);
    }
  } else if (r->unknown) {
    if (n > 1) {
      c.duplicates += n - 1;
      rel_note(&c, "%s: outcome unknown, %d times %s", r->tag, n, what);
    }
  } else if (n > 0) {
    c.untruthful++;
    rel_note(&c, "%s: failed (%d) as if nothing was done, but %d %s: %s",
             r->tag, r->status, n, what, r->why);
  }
}

static void judge(const rec *r, const record_snap *s) {
  switch (r->kind) {
  case K_SEND:
  case K_SEND_KEY:
  case K_SEND_ATT:
  case K_SEND_ATT_KEY: {
    judge_count(r, rel_count_eq(s->sent, "subject", r->tag), "sent");
    int d = rel_count_eq(s->drafts, "subject", r->tag);
    t.drafts_left += d;
    if (d > 0 && r->status != 0 && !r->unknown && !r->draft_kept &&
        r->kind == K_SEND_ATT) {
      c.untruthful++;
      rel_note(&c, "%s: failed without saying a draft is kept, %d left: %s",
               r->tag, d, r->why);
    }
    break;
  }
  case K_REPLY: {
    char re[80];
    snprintf(re, sizeof re, "RE: %s", r->tag);
    judge_count(r, rel_count_eq(s->sent, "subject", re), "reply sent");
    break;
  }
  case K_MOVE: {
    int a = rel_count_eq(s->archive, "subject", r->tag);
    int b = rel_count_eq(s->inbox, "subject", r->tag);
    if (a + b != 1) {
      (a + b == 0 ? c.lost++ : (c.duplicates += a + b - 1));
      rel_note(&c, "%s: %d in archive, %d in inbox", r->tag, a, b);
    } else {
      judge_count(r, a, "moved");
      if (r->status == 0 && a == 0)
        rel_note(&c, "%s: reported moved, still in inbox", r->tag);
    }
    break;
  }
  case K_MARK: {
    json_object *m = find(s->inbox, r->tag), *rd = NULL;
    int is_read = m && json_object_object_get_ex(m, "isRead", &rd) &&
                  json_object_get_boolean(rd);
    if (r->status == 0 && !is_read) {
      c.lost++;
      rel_note(&c, "%s: reported read, is not", r->tag);
    } else if (r->status != 0 && is_read) {
      /* An idempotent PATCH carried out before its answer was lost:
       * running it again sets the same state. */
      t.read_despite_fail++;
    }
    break;
  }
  case K_FOLDER:
    judge_count(r, rel_count_eq(s->folders, "displayName", r->tag), "folder");
    break;
  case K_ADD_ATT: {
    json_object *m = find(s->drafts, r->tag), *n = NULL;
    int k = m && json_object_object_get_ex(m, "attachmentCount", &n)
                ? json_object_get_int(n)
                : -1;
    if (k < 0) {
      c.lost++;
      rel_note(&c, "%s: the draft is gone", r->tag);
    } else {
      judge_count(r, k, "attachment");
    }
    break;
  }
  default: /* reads and refreshes were judged when they ran */
    break;
  }
}

static void judge_batch(const rec *recs, int n) {
  record_snap s;
  snap_take(&s);
  for (int i = 0; i < n; i++)
    judge(&recs[i], &s);
  snap_free(&s);
}

static void card_runs_under_random_faults(void **state) {
  (void)state;
  open_connection();
  long before = requests_total();
  arm_faults();
  rel_rng rng = {rel_seed()};
  int n = rel_trials(300, 5000);
  rec batch[BATCH];
  int in_batch = 0;
  for (int i = 0; i < n; i++) {
    one_run(i, &rng, &batch[in_batch]);
    c.trials++;
    if (batch[in_batch].kind != K_COUNT)
      in_batch++;
    if (in_batch == BATCH || i == n - 1) {
      judge_batch(batch, in_batch);
      in_batch = 0;
    }
  }
  long per_kind[NKINDS];
  long hits = faults_hit(per_kind);
  json_object_put(
      o365_fixture_admin(fx, "DELETE", "/__emulator/faults", NULL, NULL));
  long requests = requests_total() - before;

  /* The store and the connection after it all. */
  char st[64];
  rel_check_store(&c, u.store);
  state_of(st, sizeof st);
  if (strcmp(st, "connected") != 0) {
    c.lost++;
    rel_note(&c, "the connection ended %s", st);
  }
  o365_outcome o;
  if (run("o365mail.list_folders", "{}", &o) != 0) {
    c.lost++;
    rel_note(&c, "after the faults, a card fails: %s", o.message);
  }
  o365_outcome_free(&o);

  long failed = 0, unknown = 0;
  for (int k = 0; k < K_COUNT; k++)
    failed += t.failed[k], unknown += t.unknown[k];
  rel_figure(&c, "attempts=%ld failed=%ld unknown=%ld", t.attempts, failed,
             unknown);
  rel_figure(&c, "faults=%ld requests=%ld share=%.1f%%", hits, requests,
             requests > 0 ? 100.0 * (double)hits / (double)requests : 0.0);
  char kinds[400] = "";
  for (size_t k = 0; k < NKINDS; k++) {
    size_t l = strlen(kinds);
    snprintf(kinds + l, sizeof kinds - l, "%s%s:%ld", k ? "," : "",
             fault_kinds[k].name, per_kind[k]);
  }
  rel_figure(&c, "by_fault=%s", kinds);
  char runs[600] = "";
  for (int k = 0; k < K_COUNT; k++) {
    size_t l = strlen(runs);
    snprintf(runs + l, sizeof runs - l, "%s%s:%ld/%ld", k ? "," : "",
             kind_names[k], t.failed[k], t.runs[k]);
  }
  rel_figure(&c, "failed_by_card=%s", runs);
  rel_figure(&c,
             "drafts_left=%ld read_despite_failure=%ld clock_moves=%ld "
             "setup_failures=%ld cut_downloads=%ld",
             t.drafts_left, t.read_despite_fail, t.clock_moves,
             t.setup_failures, t.cut_downloads);
  assert_int_equal(rel_report(&c), 0);
}

int main(void) {
  rel_watchdog("card_runs_random_faults", 420, 14400);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(clear_error_rule),
      cmocka_unit_test(card_runs_under_random_faults),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
