/* test_http_cancel.c - cancellation (before the transfer starts, during
 * it, from an io callback, from another request's callback, twice) and the
 * engine's own deadline (slow server, queue time included). */
#define _DEFAULT_SOURCE /* usleep, <uv.h> */
#include "http_test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

static void tick(uv_timer_t *t) {
}

static void cancel_before_start(void **state) {
  fixture f;
  result r = {0};
  ts_route rt = {.path = "/x", .body = "x"};
  ts_stats st;
  wfc_http *h;
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  wfc_http_req q = req_make("GET", fx_url(&f, "/x"));
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, &h), 0);
  wfc__http_cancel(h);
  wfc__http_cancel(h);          /* twice: still one callback */
  assert_int_equal(r.calls, 0); /* never inside cancel */
  run_until(&f, &r.calls, 1);
  assert_int_equal(r.calls, 1);
  assert_int_equal(r.error, WFC_ECANCELED);
  assert_int_equal(r.status, 0);
  assert_non_null(strstr(r.msg, "canceled"));
  ts_server_stats(f.srv, &st);
  assert_int_equal(st.requests, 0); /* it never left */
  fx_close(&f);
  assert_int_equal(r.calls, 1);
  result_free(&r);
}

typedef struct sinkc {
  uint64_t got;
  wfc_http *h;
  int cancel_at; /* cancel from inside write once got >= this */
} sinkc;

static int sink_write(void *ctx, const void *buf, size_t len) {
  sinkc *s = ctx;
  s->got += len;
  if (s->cancel_at && s->got >= (uint64_t)s->cancel_at && s->h) {
    wfc__http_cancel(s->h); /* from inside libcurl: only queues */
    s->cancel_at = 0;
  }
  return 0;
}

static void cancel_timer_cb(uv_timer_t *t) {
  wfc__http_cancel(t->data);
}

static void cancel_during_transfer(void **state) {
  fixture f;
  result r1 = {0}, r2 = {0}, r3 = {0};
  sinkc s1 = {0}, s2 = {.cancel_at = 50000};
  /* 10 MB trickling at 16 KiB per 20 ms: minutes unless canceled. */
  ts_route rt = {
      .path = "/trickle", .stream_bytes = 10u << 20, .chunk_delay_ms = 20};
  ts_route ok = {.path = "/ok", .body = "fine"};
  wfc__http_io io1 = {.write = sink_write, .ctx = &s1};
  wfc__http_io io2 = {.write = sink_write, .ctx = &s2};
  uv_timer_t t, tk;
  wfc_http *h1;

  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  ts_server_route(f.srv, &ok);
  wfc_http_req q = req_make("GET", fx_url(&f, "/trickle"));
  assert_int_equal(wfc__http_send(f.e, &q, &io1, on_result, &r1, &h1), 0);
  assert_int_equal(wfc__http_send(f.e, &q, &io2, on_result, &r2, &s2.h), 0);

  /* r1: canceled by a timer once bytes flow; r2: from its own sink. */
  uv_timer_init(&f.loop, &t);
  uv_timer_init(&f.loop, &tk);
  uv_timer_start(&tk, tick, 10, 10);
  t.data = h1;
  while (s1.got < 40000)
    uv_run(&f.loop, UV_RUN_ONCE);
  uv_timer_start(&t, cancel_timer_cb, 0, 0);
  run_until(&f, &r1.calls, 1);
  run_until(&f, &r2.calls, 1);
  uv_close((uv_handle_t *)&t, NULL);
  uv_close((uv_handle_t *)&tk, NULL);
  assert_int_equal(r1.error, WFC_ECANCELED);
  assert_int_equal(r2.error, WFC_ECANCELED);
  assert_true(s1.got > 0 && s1.got < (10u << 20));
  assert_true(s2.got >= 50000 && s2.got < (10u << 20));

  /* The engine is still fine afterwards. */
  wfc_http_req q3 = req_make("GET", fx_url(&f, "/ok"));
  assert_int_equal(wfc__http_send(f.e, &q3, NULL, on_result, &r3, NULL), 0);
  run_until(&f, &r3.calls, 1);
  assert_int_equal(r3.error, 0);
  assert_string_equal(r3.body, "fine");
  fx_close(&f);
  assert_int_equal(r1.calls, 1);
  assert_int_equal(r2.calls, 1);
  result_free(&r1);
  result_free(&r2);
  result_free(&r3);
}

/* The first request's callback cancels the second (slow) one. */
typedef struct pair {
  result first;
  wfc_http *other;
} pair;

static void on_first_cancel_other(void *arg, const wfc_http_res *res) {
  pair *p = arg;
  on_result(&p->first, res);
  wfc__http_cancel(p->other);
}

static void cancel_from_another_callback(void **state) {
  fixture f;
  pair p = {0};
  result slow = {0};
  ts_route fast = {.path = "/fast", .body = "x"};
  ts_route sl = {.path = "/slow", .delay_ms = 5000};
  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &fast);
  ts_server_route(f.srv, &sl);
  wfc_http_req qs = req_make("GET", fx_url(&f, "/slow"));
  assert_int_equal(wfc__http_send(f.e, &qs, NULL, on_result, &slow, &p.other),
                   0);
  wfc_http_req qf = req_make("GET", fx_url(&f, "/fast"));
  assert_int_equal(
      wfc__http_send(f.e, &qf, NULL, on_first_cancel_other, &p, NULL), 0);
  run_until(&f, &slow.calls, 1);
  assert_int_equal(p.first.calls, 1);
  assert_int_equal(p.first.error, 0);
  assert_int_equal(slow.calls, 1);
  assert_int_equal(slow.error, WFC_ECANCELED);
  fx_close(&f);
  result_free(&p.first);
  result_free(&slow);
}

static void deadline_slow_server(void **state) {
  fixture f;
  result r = {0}, rd = {0};
  wfc__http_opts o = {.size = sizeof o, .default_timeout_ms = 250};
  ts_route rt = {.path = "/slow", .delay_ms = 4000, .body = "late"};
  ts_route tr = {
      .path = "/trickle", .stream_bytes = 1u << 20, .chunk_delay_ms = 50};
  fx_open(&f, &o);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  ts_server_route(f.srv, &tr);

  uint64_t t0 = uv_hrtime();
  wfc_http_req q = req_make("GET", fx_url(&f, "/slow"));
  q.timeout_ms = 200;
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL), 0);
  /* The engine default applies when the request gives none; the deadline
   * also cuts a body that keeps arriving. */
  wfc_http_req qd = req_make("GET", fx_url(&f, "/trickle"));
  assert_int_equal(wfc__http_send(f.e, &qd, NULL, on_result, &rd, NULL), 0);
  run_until(&f, &r.calls, 1);
  run_until(&f, &rd.calls, 1);
  uint64_t ms = (uv_hrtime() - t0) / 1000000;
  assert_int_equal(r.error, WFC_ETIMEDOUT);
  assert_non_null(strstr(r.msg, "deadline of 200 ms"));
  assert_int_equal(rd.error, WFC_ETIMEDOUT);
  assert_non_null(strstr(rd.msg, "deadline of 250 ms"));
  assert_true(ms < 3000); /* did not wait for the server */
  fx_close(&f);
  result_free(&r);
  result_free(&rd);
}

static void deadline_counts_queue_time(void **state) {
  fixture f;
  result a = {0}, b = {0};
  wfc__http_opts o = {.size = sizeof o, .max_host_connections = 1};
  ts_route rt = {.path = "/slow", .delay_ms = 800, .body = "ok"};
  ts_stats st;
  fx_open(&f, &o);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  wfc_http_req qa = req_make("GET", fx_url(&f, "/slow"));
  qa.timeout_ms = 10000;
  assert_int_equal(wfc__http_send(f.e, &qa, NULL, on_result, &a, NULL), 0);
  /* b waits for the only connection longer than its deadline. */
  wfc_http_req qb = req_make("GET", fx_url(&f, "/slow"));
  qb.timeout_ms = 300;
  assert_int_equal(wfc__http_send(f.e, &qb, NULL, on_result, &b, NULL), 0);
  run_until(&f, &b.calls, 1);
  assert_int_equal(a.calls, 0); /* a still in progress */
  assert_int_equal(b.error, WFC_ETIMEDOUT);
  run_until(&f, &a.calls, 1);
  assert_int_equal(a.error, 0);
  assert_int_equal(a.status, 200);
  ts_server_stats(f.srv, &st);
  assert_int_equal(st.requests, 1); /* b never reached the server */
  fx_close(&f);
  result_free(&a);
  result_free(&b);
}

/* A listener whose accept queue is full: the kernel drops further SYNs,
 * so a connect hangs until the engine's connect timeout. */
static void connect_timeout(void **state) {
  fixture f;
  result r = {0};
  wfc__http_opts o = {.size = sizeof o, .connect_timeout_ms = 300};
  struct sockaddr_in sin = {.sin_family = AF_INET};
  socklen_t len = sizeof sin;
  int lfd = socket(AF_INET, SOCK_STREAM, 0), fill[4];
  char url[128];

  sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
  assert_int_equal(listen(lfd, 0), 0);
  assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
  for (int i = 0; i < 4; i++) { /* fill the queue, never accepted */
    fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    connect(fill[i], (struct sockaddr *)&sin, sizeof sin);
  }
  usleep(50000);
  snprintf(url, sizeof url, "http://127.0.0.1:%u/", ntohs(sin.sin_port));
  fx_open(&f, &o);
  wfc_http_req q = req_make("GET", url);
  q.timeout_ms = 10000; /* the deadline is not what fires */
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_result, &r, NULL), 0);
  run_until(&f, &r.calls, 1);
  assert_int_equal(r.error, WFC_ETIMEDOUT);
  assert_null(strstr(r.msg, "deadline"));
  print_message("connect timeout: %s\n", r.msg);
  fx_close(&f);
  for (int i = 0; i < 4; i++)
    close(fill[i]);
  close(lfd);
  result_free(&r);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(cancel_before_start),
      cmocka_unit_test(cancel_during_transfer),
      cmocka_unit_test(cancel_from_another_callback),
      cmocka_unit_test(deadline_slow_server),
      cmocka_unit_test(deadline_counts_queue_time),
      cmocka_unit_test(connect_timeout),
  };
  return cmocka_run_group_tests(tests, global_setup, global_teardown);
}
