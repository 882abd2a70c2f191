/* events_test.h - what the event card tests share: the fixture (alice
 * connected) and a real sealed store on a temp file, log lines captured,
 * a watch on a card with an input, one poll run to completion, the flow
 * taking a batch and acknowledging, a started subscription, messages
 * injected into alice's inbox. Header only (static helpers); include after
 * <cmocka.h>. */
#ifndef EVENTS_TEST_H
#define EVENTS_TEST_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>
#include <uv.h>

#include "events.h"
#include "log.h"
#include "o365_fixture.h"
#include "store.h"

#define ET_FN static __attribute__((unused))

#define ALICE "alice@contoso.test"

static o365_fixture *fx;
static wfc_conn *alice;
static wfc__store *st;
static char dir[64], db[128];
static char conn_id[WFC__CONN_ID_SIZE];
static char logs[16384]; /* warn/info lines logged during a test */

ET_FN void sink(void *arg, int level, const char *line) {
  (void)arg;
  (void)level;
  size_t n = strlen(logs);
  snprintf(logs + n, sizeof logs - n, "%s\n", line);
}

ET_FN int setup(void **state) {
  (void)state;
  fx = o365_fixture_new(NULL);
  if (fx == NULL || (alice = o365_fixture_connect(fx, ALICE)) == NULL)
    return -1;
  snprintf(dir, sizeof dir, "/tmp/wfc-events-XXXXXX");
  if (mkdtemp(dir) == NULL)
    return -1;
  snprintf(db, sizeof db, "%s/store.db", dir);
  static const uint8_t key[32] = {7, 7, 7};
  wfc__store_opts o = {.master_key = key};
  char err[256];
  if (wfc__store_open_ex(db, &o, &st, err, sizeof err) != 0) {
    fprintf(stderr, "store: %s\n", err);
    return -1;
  }
  /* The row the checkpoints hang on (the fixture's connection has its
   * tokens in memory; the store only needs the id). */
  wfc__conn_rec r;
  memset(&r, 0, sizeof r);
  snprintf(r.nickname, sizeof r.nickname, "alice");
  snprintf(r.plugin, sizeof r.plugin, "o365mail");
  snprintf(r.conn_type, sizeof r.conn_type, "o365mail");
  snprintf(r.state, sizeof r.state, "connected");
  if (wfc__store_conn_insert(st, &r, NULL) != 0)
    return -1;
  memcpy(conn_id, r.id, sizeof conn_id);
  wfc__log_set_sink(sink, NULL);
  wfc__log_set_level(WFC_LOG_INFO);
  return 0;
}

ET_FN int teardown(void **state) {
  (void)state;
  wfc__log_set_sink(NULL, NULL);
  wfc__store_close(st);
  char cmd[160];
  snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
  int rc = system(cmd) == 0 ? 0 : -1;
  return o365_fixture_free(fx) == 0 ? rc : -1;
}

/* ---- helpers --------------------------------------------------------------
 */

typedef struct got {
  int done, status, first;
  size_t duplicates;
  char message[512];
  json_object *events; /* owned */
} got;

ET_FN void on_batch(void *arg, wfc_event_watch *w, const wfc_event_batch *b) {
  got *g = arg;
  (void)w;
  g->done = 1;
  g->status = b->status;
  g->first = b->first;
  g->duplicates = b->duplicates;
  snprintf(g->message, sizeof g->message, "%s", b->message ? b->message : "");
  g->events = b->events ? json_object_get(b->events) : NULL;
}

/* A watch on card ("o365mail.x") with input_json. */
ET_FN wfc_event_watch *watch_card(const char *card, const char *input_json) {
  json_object *in = json_tokener_parse(input_json);
  assert_non_null(in);
  wfc_event_watch_opts o = {.size = sizeof o, .card = card, .input = in};
  wfc_event_watch *w = NULL;
  char err[256] = "";
  int rc = wfc__event_watch_open_at(o365_fixture_runtime(fx), st, alice,
                                    conn_id, &o, &w, err, sizeof err);
  json_object_put(in);
  if (rc != 0)
    fail_msg("open: %s", err);
  return w;
}

ET_FN wfc_event_watch *watch(const char *input_json) {
  return watch_card("o365mail.new_email", input_json);
}

/* One poll, run to completion. g->events must be put by the caller. */
ET_FN void poll_once(wfc_event_watch *w, got *g) {
  memset(g, 0, sizeof *g);
  assert_int_equal(wfc_event_watch_poll(w, on_batch, g), 0);
  uv_loop_t *loop = o365_fixture_loop(fx);
  while (!g->done)
    uv_run(loop, UV_RUN_ONCE);
  if (g->status != 0)
    fail_msg("poll failed: %s", g->message);
}

ET_FN const char *jstr(json_object *o, const char *k) {
  json_object *v = NULL;
  return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* The flow takes the events of the batch with subject s (every event
 * when s is NULL), without acknowledging (a crash may follow). */
ET_FN void accept_subject(wfc_event_watch *w, got *g, const char *s) {
  for (size_t i = 0; i < json_object_array_length(g->events); i++) {
    json_object *e = json_object_array_get_idx(g->events, i);
    const char *x = jstr(e, "subject");
    if (s == NULL || (x != NULL && strcmp(x, s) == 0))
      assert_int_equal(wfc_event_watch_accept(w, e), 0);
  }
}

/* The flow: takes every event of the batch, then acknowledges. */
ET_FN void accept_all_ack(wfc_event_watch *w, got *g) {
  accept_subject(w, g, NULL);
  assert_int_equal(wfc_event_watch_ack(w), 0);
}

/* A new subscription on card, started (first poll stored). */
ET_FN wfc_event_watch *started_card(const char *card, const char *input_json) {
  /* The start has a one-second resolution (Graph's $filter on
   * receivedDateTime): let the earlier tests' messages fall before it. */
  usleep(1100 * 1000);
  wfc_event_watch *w = watch_card(card, input_json);
  got g;
  poll_once(w, &g);
  assert_true(g.first);
  assert_int_equal(json_object_array_length(g.events), 0);
  accept_all_ack(w, &g);
  json_object_put(g.events);
  return w;
}

ET_FN wfc_event_watch *started(const char *input_json) {
  return started_card("o365mail.new_email", input_json);
}

ET_FN char *inject(const char *subject) {
  char body[512];
  snprintf(body, sizeof body,
           "{\"subject\":\"%s\",\"from\":\"bob@contoso.test\","
           "\"toRecipients\":[{\"emailAddress\":{\"address\":\"" ALICE
           "\"}}],\"body\":{\"contentType\":\"text\",\"content\":\"hi\"}}",
           subject);
  char *id = o365_fixture_inject(fx, ALICE, body);
  assert_non_null(id);
  return id;
}

/* How many events of events have subject s. */
ET_FN int count_subject(json_object *events, const char *s) {
  int n = 0;
  for (size_t i = 0; i < json_object_array_length(events); i++) {
    const char *x = jstr(json_object_array_get_idx(events, i), "subject");
    n += x != NULL && strcmp(x, s) == 0;
  }
  return n;
}

/* events holds exactly n events, subjects "<prefix>-00".."<prefix>-<n-1>"
 * (two digits), each once. */
ET_FN void assert_each_once(json_object *events, const char *prefix, int n) {
  assert_int_equal(json_object_array_length(events), n);
  for (int i = 0; i < n; i++) {
    char s[64];
    snprintf(s, sizeof s, "%s-%02d", prefix, i);
    assert_int_equal(count_subject(events, s), 1);
  }
}

/* One poll: n new events (one of them with subject, when not NULL), all
 * taken and acknowledged. */
ET_FN void expect_new(wfc_event_watch *w, size_t n, const char *subject) {
  got g;
  poll_once(w, &g);
  assert_int_equal(json_object_array_length(g.events), n);
  if (subject != NULL)
    assert_int_equal(count_subject(g.events, subject), 1);
  accept_all_ack(w, &g);
  json_object_put(g.events);
}

/* A restart after the flow took every event of the batch but died before
 * the ack: the new watch on card with input in delivers nothing (dups of
 * them counted duplicates), and its ack moves the checkpoint. Returns the
 * watch (the caller closes it). */
ET_FN wfc_event_watch *restart_all_taken(const char *card, const char *in,
                                         size_t dups) {
  wfc_event_watch *w = watch_card(card, in);
  got g;
  poll_once(w, &g);
  assert_int_equal(g.duplicates, dups);
  assert_int_equal(json_object_array_length(g.events), 0);
  assert_int_equal(wfc_event_watch_ack(w), 0);
  json_object_put(g.events);
  return w;
}

/* The crash-between-emit-and-ack driver both mail triggers share, on a
 * new subscription of card with input in: crash-1..3 arrive (arrive puts
 * a message with that subject where card sees it). Run 1 takes crash-1
 * and dies before the ack: the restarted watch starts from the same
 * checkpoint. Run 2 gets crash-2 and crash-3 only (crash-1 counted a
 * duplicate), takes both and dies again. Run 3 gets nothing (3
 * duplicates) and acks, which moves the checkpoint. Returns run 3's watch
 * (the caller closes it). */
ET_FN wfc_event_watch *crash_before_ack_runs(const char *card, const char *in,
                                             void (*arrive)(const char *)) {
  wfc_event_watch *w = started_card(card, in);
  char *cp0 = wfc_event_watch_checkpoint(w);
  arrive("crash-1");
  arrive("crash-2");
  arrive("crash-3");

  /* Run 1: the flow takes crash-1 only, then the process dies. */
  got g;
  poll_once(w, &g);
  assert_int_equal(json_object_array_length(g.events), 3);
  accept_subject(w, &g, "crash-1");
  json_object_put(g.events);
  wfc_event_watch_close(w); /* no ack */
  char *cp1 = wfc_event_watch_checkpoint(w = watch_card(card, in));
  assert_string_equal(cp0, cp1); /* not advanced */
  free(cp1);

  /* Run 2: the same messages come again; crash-1 is left out. */
  poll_once(w, &g);
  assert_int_equal(g.duplicates, 1);
  assert_int_equal(json_object_array_length(g.events), 2);
  assert_int_equal(count_subject(g.events, "crash-1"), 0);
  assert_int_equal(count_subject(g.events, "crash-2"), 1);
  assert_int_equal(count_subject(g.events, "crash-3"), 1);
  /* The flow takes both, and dies before the ack again. */
  accept_subject(w, &g, NULL);
  json_object_put(g.events);
  wfc_event_watch_close(w);

  /* Run 3: nothing is delivered twice; the ack then moves the checkpoint. */
  w = restart_all_taken(card, in, 3);
  char *cp2 = wfc_event_watch_checkpoint(w);
  assert_string_not_equal(cp0, cp2);
  free(cp2);
  free(cp0);
  return w;
}

ET_FN long delta_requests(void) {
  return o365_fixture_route_count(fx, "GET",
                                  "/v1.0/me/mailFolders/{folder}/messages/"
                                  "delta");
}

#endif
