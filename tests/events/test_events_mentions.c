/* test_events_mentions.c - the new_email_mentioning_me event card and the
 * host's event watch end to end: the real wfc-o365mail.so against the
 * emulator's Graph beta list (emulator/graph_beta.c: messages seeded with
 * "mentions" carry mentionsPreview), the checkpoint and the events seen in
 * a real sealed store. A "restart" closes the watch and opens a new one on
 * the same store; a "crash between emit and ack" is a batch taken (or not)
 * without the acknowledgement. */
#define _DEFAULT_SOURCE /* usleep, <uv.h>, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <uv.h>

#include "events_test.h"
#include "tfile.h"

#define CARD "o365mail.new_email_mentioning_me"

static long beta_requests(void) {
  return o365_fixture_route_count(fx, "GET",
                                  "/beta/me/mailFolders/{folder}/messages");
}

/* A message from `from` into alice's `folder` (NULL: inbox) mentioning
 * `mentions` (a JSON list, or NULL: none), received at `received` (NULL:
 * now). */
static void inject_in(const char *folder, const char *subject, const char *from,
                      const char *mentions, const char *received) {
  char body[1024], rt[80] = "", mn[300] = "", fd[64] = "";
  if (folder != NULL)
    snprintf(fd, sizeof fd, ",\"folder\":\"%s\"", folder);
  if (received != NULL)
    snprintf(rt, sizeof rt, ",\"receivedDateTime\":\"%s\"", received);
  if (mentions != NULL)
    snprintf(mn, sizeof mn, ",\"mentions\":%s", mentions);
  snprintf(body, sizeof body,
           "{\"subject\":\"%s\",\"from\":\"%s\",\"toRecipients\":"
           "[{\"emailAddress\":{\"address\":\"" ALICE "\"}}],\"body\":"
           "{\"contentType\":\"text\",\"content\":\"@Alice see this\"}%s%s%s}",
           subject, from, rt, mn, fd);
  char *id = o365_fixture_inject(fx, ALICE, body);
  assert_non_null(id);
  free(id);
}

static void inject_m(const char *subject, const char *from,
                     const char *mentions, const char *received) {
  inject_in(NULL, subject, from, mentions, received);
}

#define ME "[\"" ALICE "\"]"

/* The UTC time `ago` seconds before now, as Graph writes it. */
static const char *ago(long ago_s, char *buf, size_t n) {
  time_t t = time(NULL) - ago_s;
  struct tm u;
  gmtime_r(&t, &u);
  strftime(buf, n, "%Y-%m-%dT%H:%M:%SZ", &u);
  return buf;
}

/* The first poll records the start and asks Graph nothing; then each
 * message that mentions alice comes once, and nothing else: not one that
 * mentions only others, not one that mentions nobody. */
static void each_mention_once(void **state) {
  (void)state;
  long before = beta_requests();
  wfc_event_watch *w = started_card(CARD, "{\"max_events\":801}");
  assert_int_equal(beta_requests(), before);
  inject_m("m-alice", "bob@contoso.test", ME, NULL);
  inject_m("m-bob-only", "carol@contoso.test", "[\"bob@contoso.test\"]", NULL);
  inject_m("m-none", "bob@contoso.test", NULL, NULL);
  inject_m("m-both", "carol@contoso.test",
           "[{\"mentioned\":{\"name\":\"Bob\",\"address\":\"bob@contoso."
           "test\"}},{\"mentioned\":{\"name\":\"Alice\",\"address\":"
           "\"Alice@Contoso.test\"}}]",
           NULL);
  got g;
  poll_once(w, &g);
  assert_false(g.first);
  assert_int_equal(json_object_array_length(g.events), 2);
  assert_int_equal(count_subject(g.events, "m-alice"), 1);
  assert_int_equal(count_subject(g.events, "m-both"), 1);
  json_object *e = json_object_array_get_idx(g.events, 0);
  assert_non_null(jstr(e, "id"));
  assert_non_null(jstr(e, "received"));
  accept_all_ack(w, &g);
  json_object_put(g.events);
  assert_true(beta_requests() > before);

  expect_new(w, 0, NULL);
  inject_m("m-later", "bob@contoso.test", ME, NULL);
  expect_new(w, 1, "m-later");
  /* Restart: nothing comes again. */
  wfc_event_watch_close(w);
  w = watch_card(CARD, "{\"max_events\":801}");
  expect_new(w, 0, NULL);
  wfc_event_watch_close(w);
}

/* A message with that subject into alice's inbox, mentioning her. */
static void arrive_mentioning_me(const char *subject) {
  inject_m(subject, "bob@contoso.test", ME, NULL);
}

/* Crash after the flow took some events, before the ack: the restarted
 * watch polls from the same checkpoint, the flow gets none twice; crash
 * before it took them: they come again. */
static void crash_between_emit_and_ack(void **state) {
  (void)state;
  wfc_event_watch *w =
      crash_before_ack_runs(CARD, "{\"max_events\":802}", arrive_mentioning_me);
  /* After the ack, a new poll delivers nothing (not even to the host's
   * dedupe: the checkpoint left them out). */
  got g;
  poll_once(w, &g);
  assert_int_equal(g.duplicates, 0);
  assert_int_equal(json_object_array_length(g.events), 0);
  json_object_put(g.events);
  wfc_event_watch_close(w);
}

/* Pages: 25 mentions at distinct times, 9 per page: each next page is the
 * query again from the newest time read (keyset); 12 more in one second
 * need Graph's nextLink past it. Every message once; max_events stops a
 * poll early and the next one goes on. */
static void pages_keyset_and_same_second(void **state) {
  (void)state;
  char in[160], since[40], t[40];
  snprintf(in, sizeof in,
           "{\"folder\":\"archive\",\"max_events\":803,\"page_size\":9,"
           "\"since\":\"%s\"}",
           ago(7200, since, sizeof since));
  wfc_event_watch *w = started_card(CARD, in);
  for (int i = 0; i < 25; i++) {
    char s[32];
    snprintf(s, sizeof s, "keyset-%02d", i);
    inject_in("archive", s, "bob@contoso.test", ME, ago(6000 - i, t, sizeof t));
  }
  long before = beta_requests();
  got g;
  poll_once(w, &g);
  /* 9 + 9 + 7 (the last page has no nextLink). */
  assert_int_equal(beta_requests() - before, 3);
  assert_each_once(g.events, "keyset", 25);
  accept_all_ack(w, &g);
  json_object_put(g.events);
  expect_new(w, 0, NULL);

  ago(5000, t, sizeof t);
  for (int i = 0; i < 12; i++) {
    char s[32];
    snprintf(s, sizeof s, "second-%02d", i);
    inject_in("archive", s, "bob@contoso.test", ME, t);
  }
  poll_once(w, &g);
  assert_each_once(g.events, "second", 12);
  accept_all_ack(w, &g);
  json_object_put(g.events);
  expect_new(w, 0, NULL);
  wfc_event_watch_close(w);

  char in2[160];
  snprintf(in2, sizeof in2,
           "{\"folder\":\"archive\",\"max_events\":5,\"page_size\":5,"
           "\"since\":\"%s\"}",
           since);
  w = started_card(CARD, in2);
  size_t total = 0;
  for (int round = 0; round < 12; round++) {
    poll_once(w, &g);
    size_t n = json_object_array_length(g.events);
    /* About max_events: the poll ends with the page that reached it. */
    assert_true(n <= 5 + 5 - 1);
    total += n;
    accept_all_ack(w, &g);
    json_object_put(g.events);
    if (n == 0)
      break;
  }
  assert_int_equal(total, 37);
  wfc_event_watch_close(w);
}

/* A message that becomes visible after a newer one (received 30 s before
 * it) is still found; one received long before the floor is not new. */
static void late_arrival_within_lookback(void **state) {
  (void)state;
  char in[160], t[40], newer[40], floor[80];
  snprintf(in, sizeof in,
           "{\"folder\":\"junkemail\",\"max_events\":804,\"since\":\"%s\"}",
           ago(3600, t, sizeof t));
  wfc_event_watch *w = started_card(CARD, in);
  time_t now = time(NULL);
  inject_in("junkemail", "late-newer", "bob@contoso.test", ME,
            ago(time(NULL) - now + 600, newer, sizeof newer));
  expect_new(w, 1, "late-newer");
  inject_in("junkemail", "late-older", "bob@contoso.test", ME,
            ago(time(NULL) - now + 630, t, sizeof t));
  inject_in("junkemail", "late-ancient", "bob@contoso.test", ME,
            ago(time(NULL) - now + 1800, t, sizeof t));
  got g;
  poll_once(w, &g);
  assert_int_equal(g.duplicates, 0);
  assert_int_equal(json_object_array_length(g.events), 1);
  assert_int_equal(count_subject(g.events, "late-older"), 1);
  accept_all_ack(w, &g);
  json_object_put(g.events);
  expect_new(w, 0, NULL);
  char *cp = wfc_event_watch_checkpoint(w);
  /* The floor trails the newest by two minutes. */
  snprintf(floor, sizeof floor, "\"floor\":\"%s\"",
           ago(time(NULL) - now + 600 + 120, t, sizeof t));
  assert_non_null(strstr(cp, floor));
  free(cp);
  wfc_event_watch_close(w);
}

/* The new_email filters apply: a mention left out is never delivered
 * later; a throttled page is retried and the poll delivers. */
static void filters_and_throttling(void **state) {
  (void)state;
  static const char in[] = "{\"max_events\":805,\"from\":"
                           "[\"Carol@Contoso.test\"],\"subject_contains\":"
                           "\"REVIEW\"}";
  wfc_event_watch *w = started_card(CARD, in);
  inject_m("Review 1", "carol@contoso.test", ME, NULL);
  inject_m("Review 2", "bob@contoso.test", ME, NULL);
  inject_m("Lunch 3", "carol@contoso.test", ME, NULL);
  logs[0] = '\0';
  wfc__log_set_level(WFC_LOG_DEBUG);
  got g;
  poll_once(w, &g);
  wfc__log_set_level(WFC_LOG_INFO);
  assert_int_equal(json_object_array_length(g.events), 1);
  assert_int_equal(count_subject(g.events, "Review 1"), 1);
  assert_non_null(strstr(logs, "2 message(s) left out by the filters"));
  accept_all_ack(w, &g);
  json_object_put(g.events);
  expect_new(w, 0, NULL);

  inject_m("review 4", "carol@contoso.test", ME, NULL);
  assert_int_equal(o365_fixture_fault(fx,
                                      "{\"method\":\"GET\",\"path\":\"/beta/me/"
                                      "mailFolders/*/messages*\",\"count\":2,"
                                      "\"action\":\"status\",\"status\":429,"
                                      "\"retryAfter\":1}"),
                   0);
  long t = o365_fixture_status_count(fx, 429);
  poll_once(w, &g);
  assert_int_equal(o365_fixture_status_count(fx, 429), t + 2);
  assert_int_equal(json_object_array_length(g.events), 1);
  assert_int_equal(count_subject(g.events, "review 4"), 1);
  accept_all_ack(w, &g);
  json_object_put(g.events);
  wfc_event_watch_close(w);
}

/* A checkpoint the card did not write is refused naming what it expects;
 * Graph's refusal of the request is the poll's error. */
static void errors_name_the_cause(void **state) {
  (void)state;
  static const char in[] = "{\"max_events\":806}";
  wfc_event_watch *w = watch_card(CARD, in);
  json_object *kin = json_tokener_parse(in);
  char *key = wfc__event_sub_key(kin);
  json_object_put(kin);
  assert_int_equal(wfc__store_checkpoint_cas(st, conn_id, CARD, key, NULL,
                                             "{\"v\":1,\"folder\":\"x\","
                                             "\"start\":\"2030-01-01T00:00:"
                                             "00Z\"}",
                                             0),
                   0);
  free(key);
  got g;
  memset(&g, 0, sizeof g);
  assert_int_equal(wfc_event_watch_poll(w, on_batch, &g), 0);
  while (!g.done)
    uv_run(o365_fixture_loop(fx), UV_RUN_ONCE);
  assert_int_equal(g.status, WFC_EINVAL);
  assert_non_null(strstr(g.message, "\"floor\""));
  wfc_event_watch_close(w);

  w = started_card(CARD, "{\"max_events\":807}");
  assert_int_equal(o365_fixture_fault(fx,
                                      "{\"method\":\"GET\",\"path\":\"/beta/me/"
                                      "mailFolders/*/messages*\",\"count\":1,"
                                      "\"action\":\"status\",\"status\":403}"),
                   0);
  memset(&g, 0, sizeof g);
  assert_int_equal(wfc_event_watch_poll(w, on_batch, &g), 0);
  while (!g.done)
    uv_run(o365_fixture_loop(fx), UV_RUN_ONCE);
  assert_int_equal(g.status, WFC_EDENIED);
  assert_non_null(strstr(g.message, "polling for new messages mentioning you "
                                    "failed"));
  wfc_event_watch_close(w);
}

/* The blob that the FILE reference ref (borrowed) names holds len bytes
 * equal to want. */
static void assert_blob(json_object *ref, const void *want, size_t len) {
  char path[512];
  const char *id = jstr(ref, "id");
  assert_non_null(id);
  snprintf(path, sizeof path, "%s/%s", o365_fixture_blob_dir(fx), id);
  size_t n = 0;
  char *got_bytes = tfile_read(path, &n);
  assert_non_null(got_bytes);
  assert_int_equal(n, len);
  assert_memory_equal(got_bytes, want, len);
  free(got_bytes);
  json_object *size = NULL;
  assert_true(json_object_object_get_ex(ref, "size", &size));
  assert_int_equal(json_object_get_int64(size), (int64_t)len);
}

/* The event of subject s in events (borrowed), or NULL. */
static json_object *event_of(json_object *events, const char *s) {
  for (size_t i = 0; i < json_object_array_length(events); i++) {
    json_object *e = json_object_array_get_idx(events, i);
    const char *x = jstr(e, "subject");
    if (x != NULL && strcmp(x, s) == 0)
      return e;
  }
  return NULL;
}

/* include_attachments: a mention's attachments come as blob references
 * whose bytes are the attachments' (binary too); a mention without any
 * has none; once per mention across a crash before the ack (the repeated
 * poll downloads again, and the host's dedupe leaves the taken one out). */
static void include_attachments_once(void **state) {
  (void)state;
  static const char in[] = "{\"max_events\":808,\"include_attachments\":true}";
  static const unsigned char bin[] = {0x00, 0x01, 0xfe, 0xff, 'h',
                                      'e',  'l',  'l',  'o'};
  wfc_event_watch *w = started_card(CARD, in);
  static const char atts[] =
      "[{\"name\":\"bin.dat\",\"contentType\":\"application/octet-stream\","
      "\"contentBytes\":\"AAH+/2hlbGxv\"},{\"name\":\"note.txt\","
      "\"contentType\":\"text/plain\",\"text\":\"second file\"}]";
  char body[1024];
  snprintf(body, sizeof body,
           "{\"subject\":\"att-1\",\"from\":\"bob@contoso.test\","
           "\"toRecipients\":[{\"emailAddress\":{\"address\":\"" ALICE
           "\"}}],\"mentions\":" ME ",\"attachments\":%s}",
           atts);
  char *id = o365_fixture_inject(fx, ALICE, body);
  assert_non_null(id);
  free(id);
  inject_m("att-2", "carol@contoso.test", ME, NULL);
  snprintf(body, sizeof body,
           "{\"subject\":\"att-3\",\"from\":\"bob@contoso.test\","
           "\"mentions\":[\"bob@contoso.test\"],\"attachments\":%s}",
           atts);
  assert_non_null(id = o365_fixture_inject(fx, ALICE, body));
  free(id);

  got g;
  poll_once(w, &g);
  assert_int_equal(json_object_array_length(g.events), 2);
  json_object *e1 = event_of(g.events, "att-1"), *list = NULL;
  assert_non_null(e1);
  assert_true(json_object_object_get_ex(e1, "attachments", &list));
  assert_int_equal(json_object_array_length(list), 2);
  for (size_t i = 0; i < 2; i++) {
    json_object *a = json_object_array_get_idx(list, i), *file = NULL;
    assert_string_equal(jstr(a, "kind"), "file");
    assert_true(json_object_object_get_ex(a, "file", &file));
    if (strcmp(jstr(a, "name"), "bin.dat") == 0)
      assert_blob(file, bin, sizeof bin);
    else
      assert_blob(file, "second file", 11);
  }
  json_object *e2 = event_of(g.events, "att-2");
  assert_non_null(e2);
  assert_false(json_object_object_get_ex(e2, "attachments", NULL));
  accept_subject(w, &g, "att-1");
  json_object_put(g.events);
  wfc_event_watch_close(w); /* a crash: no ack */

  w = watch_card(CARD, in);
  poll_once(w, &g);
  assert_int_equal(g.duplicates, 1);
  assert_int_equal(json_object_array_length(g.events), 1);
  assert_non_null(event_of(g.events, "att-2"));
  accept_all_ack(w, &g);
  json_object_put(g.events);
  expect_new(w, 0, NULL);
  wfc_event_watch_close(w);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(each_mention_once),
      cmocka_unit_test(crash_between_emit_and_ack),
      cmocka_unit_test(pages_keyset_and_same_second),
      cmocka_unit_test(late_arrival_within_lookback),
      cmocka_unit_test(filters_and_throttling),
      cmocka_unit_test(errors_name_the_cause),
      cmocka_unit_test(include_attachments_once),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
