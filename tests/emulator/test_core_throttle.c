/* Emulator core: Graph throttling per app + mailbox - concurrency (5
 * concurrent -> one 429 with Retry-After), the request window in virtual
 * time, isolation between mailboxes and apps. */
#define _DEFAULT_SOURCE /* usleep, pthread_barrier_t, pthread_barrier_wait */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core_test.h"

typedef struct worker {
  pthread_t th;
  pthread_barrier_t *go;
  char url[512];
  long status;
  char retry_after[16];
  char message[128];
} worker;

static void *run(void *arg) {
  worker *w = arg;
  tclient *c = tclient_new(0);
  tresp r;
  pthread_barrier_wait(w->go);
  tclient_request(c, "GET", w->url, NULL, NULL, &r);
  w->status = r.status;
  const char *ra = tresp_header(&r, "Retry-After");
  snprintf(w->retry_after, sizeof w->retry_after, "%s", ra ? ra : "");
  json_object *o = tresp_json(&r);
  const char *code = tjson_str(o, "error.code");
  const char *msg = tjson_str(o, "error.message");
  if (code && msg)
    snprintf(w->message, sizeof w->message, "%s: %s", code, msg);
  json_object_put(o);
  tresp_free(&r);
  tclient_free(c);
  return NULL;
}

static void test_concurrency_limit(void **state) {
  fx *f = *state;
  enum { N = 5 };
  worker w[N];
  pthread_barrier_t go;
  pthread_barrier_init(&go, NULL, N);
  memset(w, 0, sizeof w);
  for (int i = 0; i < N; i++) {
    w[i].go = &go;
    snprintf(w[i].url, sizeof w[i].url,
             "%s/__emulator/debug/throttled?app=app-1&mailbox=alice&"
             "holdMs=3000",
             emu_proc_url(f->emu));
    pthread_create(&w[i].th, NULL, run, &w[i]);
  }
  /* While the four slots are held, another mailbox and another app are not
   * affected. */
  usleep(1000 * 1000);
  tresp r;
  tclient_request(f->c, "GET",
                  u(f, "/__emulator/debug/throttled?app=app-1&mailbox=bob"),
                  NULL, NULL, &r);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
  tclient_request(f->c, "GET",
                  u(f, "/__emulator/debug/throttled?app=app-2&mailbox=alice"),
                  NULL, NULL, &r);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
  for (int i = 0; i < N; i++)
    pthread_join(w[i].th, NULL);
  pthread_barrier_destroy(&go);
  int ok = 0, throttled = 0;
  for (int i = 0; i < N; i++)
    print_message("worker %d: %ld %s\n", i, w[i].status, w[i].message);
  for (int i = 0; i < N; i++) {
    if (w[i].status == 200) {
      ok++;
      continue;
    }
    assert_int_equal(w[i].status, 429);
    assert_string_equal(w[i].retry_after, "1");
    assert_string_equal(w[i].message,
                        "ApplicationThrottled: Application is over its "
                        "MailboxConcurrency limit.");
    throttled++;
  }
  assert_int_equal(ok, 4);
  assert_int_equal(throttled, 1);

  /* The slots were released when the answers went out; the mailbox key is
   * case-insensitive. */
  tclient_request(f->c, "GET",
                  u(f, "/__emulator/debug/throttled?app=APP-1&mailbox=Alice"),
                  NULL, NULL, &r);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
  tclient_request(f->c, "GET", u(f, "/__emulator/throttle"), NULL, NULL, &r);
  json_object *o = tresp_json(&r);
  json_object *b = tjson_get(o, "buckets");
  int seen = 0;
  for (size_t i = 0; i < json_object_array_length(b); i++) {
    json_object *e = json_object_array_get_idx(b, i);
    if (strcmp(tjson_str(e, "app"), "app-1") == 0 &&
        strcmp(tjson_str(e, "mailbox"), "alice") == 0) {
      seen = 1;
      assert_int_equal(json_object_get_int(tjson_get(e, "inflight")), 0);
      assert_int_equal(json_object_get_int(tjson_get(e, "windowCount")), 5);
      assert_int_equal(json_object_get_int(tjson_get(e, "throttled")), 1);
    }
  }
  assert_true(seen);
  json_object_put(o);
  tresp_free(&r);
}

static void test_window_limit_virtual_time(void **state) {
  fx *f = *state;
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  tresp r;
  tclient_request(f->c, "POST", u(f, "/__emulator/throttle"), hdr,
                  "{\"requestsPerWindow\":3,\"windowSeconds\":60}", &r);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
  const char *p = "/__emulator/debug/throttled?app=bulk&mailbox=carol";
  for (int i = 0; i < 3; i++) {
    tclient_request(f->c, "GET", u(f, p), NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    tresp_free(&r);
  }
  tclient_request(f->c, "GET", u(f, p), NULL, NULL, &r);
  assert_int_equal(r.status, 429);
  /* The rest of the window: up to 60 s (less the real time the first
   * requests took on a loaded machine). */
  int ra = atoi(tresp_header(&r, "Retry-After"));
  assert_true(ra > 30 && ra <= 60);
  json_object *o = tresp_json(&r);
  assert_string_equal(tjson_str(o, "error.code"), "ApplicationThrottled");
  assert_non_null(strstr(tjson_str(o, "error.message"), "MailboxRequests"));
  json_object_put(o);
  tresp_free(&r);

  /* Another mailbox of the same app has its own window. */
  tclient_request(f->c, "GET",
                  u(f, "/__emulator/debug/throttled?app=bulk&mailbox=support"),
                  NULL, NULL, &r);
  assert_int_equal(r.status, 200);
  tresp_free(&r);

  /* 30 s of virtual time later the limit holds, Retry-After 30 s shorter. */
  tclient_request(f->c, "POST", u(f, "/__emulator/time/advance"), hdr,
                  "{\"seconds\":30}", &r);
  tresp_free(&r);
  tclient_request(f->c, "GET", u(f, p), NULL, NULL, &r);
  assert_int_equal(r.status, 429);
  int ra2 = atoi(tresp_header(&r, "Retry-After"));
  assert_true(ra2 >= 1 && ra2 <= ra - 29);
  tresp_free(&r);

  /* After Retry-After seconds of virtual time the window has rolled. */
  char adv[64];
  snprintf(adv, sizeof adv, "{\"seconds\":%d}", ra2);
  tclient_request(f->c, "POST", u(f, "/__emulator/time/advance"), hdr, adv, &r);
  tresp_free(&r);
  tclient_request(f->c, "GET", u(f, p), NULL, NULL, &r);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
}

static void test_limits_disabled(void **state) {
  fx *f = *state;
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  tresp r;
  tclient_request(f->c, "POST", u(f, "/__emulator/throttle"), hdr,
                  "{\"requestsPerWindow\":0,\"concurrency\":0}", &r);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
  for (int i = 0; i < 20; i++) {
    tclient_request(f->c, "GET",
                    u(f, "/__emulator/debug/throttled?app=free&mailbox=alice"),
                    NULL, NULL, &r);
    assert_int_equal(r.status, 200);
    tresp_free(&r);
  }
}

/* A sub-request ($batch item) takes and releases its slot inside the
 * parent's handler, with the lock held: no deadlock, no leaked slot. */
static void test_subrequest_releases_slot(void **state) {
  fx *f = *state;
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  tresp r;
  for (int i = 0; i < 6; i++) { /* more than the 4 slots */
    treq q = {0};
    q.method = "POST";
    q.url = u(f, "/__emulator/debug/subrequest");
    q.headers = hdr;
    q.body = "{\"method\":\"GET\",\"url\":\"/__emulator/debug/"
             "throttled?app=batch&mailbox=alice\"}";
    q.body_len = strlen(q.body);
    q.timeout_ms = 5000;
    assert_int_equal(tclient_do(f->c, &q, &r), 0);
    assert_int_equal(r.status, 200);
    json_object *o = tresp_json(&r);
    assert_int_equal(json_object_get_int(tjson_get(o, "status")), 200);
    assert_true(json_object_get_boolean(tjson_get(o, "body.ok")));
    json_object_put(o);
    tresp_free(&r);
  }
  tclient_request(f->c, "GET", u(f, "/__emulator/throttle"), NULL, NULL, &r);
  json_object *o = tresp_json(&r);
  json_object *b = tjson_get(o, "buckets");
  assert_int_equal(json_object_array_length(b), 1);
  json_object *e = json_object_array_get_idx(b, 0);
  assert_int_equal(json_object_get_int(tjson_get(e, "inflight")), 0);
  assert_int_equal(json_object_get_int(tjson_get(e, "windowCount")), 6);
  json_object_put(o);
  tresp_free(&r);
}

/* A finished request no longer counts, even seen from another connection:
 * a client that has its answer never meets a 429 for it. */
static void test_slot_free_when_answer_received(void **state) {
  fx *f = *state;
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  tresp r;
  tclient_request(f->c, "POST", u(f, "/__emulator/throttle"), hdr,
                  "{\"concurrency\":1}", &r);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
  tclient *two[2] = {tclient_new(0), tclient_new(0)};
  int throttled = 0;
  for (int i = 0; i < 200; i++) {
    tclient_request(two[i % 2], "GET",
                    u(f, "/__emulator/debug/throttled?app=seq&mailbox=alice"),
                    NULL, NULL, &r);
    throttled += r.status == 429;
    tresp_free(&r);
  }
  tclient_free(two[0]);
  tclient_free(two[1]);
  assert_int_equal(throttled, 0);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup(test_concurrency_limit, reset),
      cmocka_unit_test_setup(test_window_limit_virtual_time, reset),
      cmocka_unit_test_setup(test_limits_disabled, reset),
      cmocka_unit_test_setup(test_subrequest_releases_slot, reset),
      cmocka_unit_test_setup(test_slot_free_when_answer_received, reset),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
