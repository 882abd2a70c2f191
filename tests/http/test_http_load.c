/* test_http_load.c - many requests at once: each completes exactly once with
 * its own response, connections are reused (counted by the server), the
 * per-host cap holds, libcurl is never re-entered, and shutdown with
 * requests in flight cancels each exactly once and leaves a closable loop.
 */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include "http_test.h"

#define N_PARALLEL 1000

typedef struct slot {
  int calls;
  int error;
  long status;
  int index_ok;
  int order; /* value of *done after this callback */
  int *done;
} slot;

static void on_slot(void *arg, const wfc_http_res *res) {
  slot *s = arg;
  s->calls++;
  s->error = res->error;
  s->status = res->status;
  (*s->done)++;
  s->order = *s->done;
  if (res->error == 0 && res->status == 200) {
    /* The echo names the query we sent: the right answer reached the right
     * callback. */
    json_object *o = json_tokener_parse(res->body), *q;
    if (o && json_object_object_get_ex(o, "query", &q))
      s->index_ok = (int)strtol(json_object_get_string(q), NULL, 10);
    json_object_put(o);
  }
}

static void parallel_1000_reuse(void **state) {
  fixture f;
  wfc__http_opts o = {.size = sizeof o, .max_host_connections = 6};
  ts_route rt = {.path = "/n", .echo = 1};
  slot *slots = calloc(N_PARALLEL, sizeof *slots);
  int done = 0;
  ts_stats st;
  wfc__http_stats es;
  char url[256];

  fx_open(&f, &o);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  for (int i = 0; i < N_PARALLEL; i++) {
    snprintf(url, sizeof url, "%s/n?q=%d", ts_server_url(f.srv), i);
    wfc_http_req q = req_make("GET", url);
    slots[i].done = &done;
    slots[i].index_ok = -1;
    assert_int_equal(wfc__http_send(f.e, &q, NULL, on_slot, &slots[i], NULL),
                     0);
  }
  assert_int_equal(done, 0);
  assert_int_equal(wfc__http_engine_pending(f.e), N_PARALLEL);
  run_until(&f, &done, N_PARALLEL);
  assert_int_equal(done, N_PARALLEL);
  for (int i = 0; i < N_PARALLEL; i++) {
    assert_int_equal(slots[i].calls, 1);
    assert_int_equal(slots[i].error, 0);
    assert_int_equal(slots[i].status, 200);
    assert_int_equal(slots[i].index_ok, i);
  }
  ts_server_stats(f.srv, &st);
  assert_int_equal(st.requests, N_PARALLEL);
  /* Reuse, seen from the server: a handful of connections, never more than
   * the cap at once. */
  assert_true(st.connections <= 6);
  assert_true(st.max_open <= 6);
  wfc__http_engine_stats(f.e, &es);
  assert_int_equal(es.max_curl_depth, 1); /* libcurl never re-entered */
  assert_true(es.zero_timeouts > 0);      /* ... and 0 ms was deferred */
  assert_int_equal(es.sockets_opened, st.connections);
  fx_close(&f);
  /* Nothing ran twice during shutdown either. */
  for (int i = 0; i < N_PARALLEL; i++)
    assert_int_equal(slots[i].calls, 1);
  free(slots);
}

static void per_host_cap(void **state) {
  fixture f;
  wfc__http_opts o = {.size = sizeof o, .max_host_connections = 2};
  ts_route rt = {.path = "/slow", .delay_ms = 30, .body = "ok"};
  slot slots[12] = {{0}};
  int done = 0;
  ts_stats st;

  fx_open(&f, &o);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  for (int i = 0; i < 12; i++) {
    wfc_http_req q = req_make("GET", fx_url(&f, "/slow"));
    slots[i].done = &done;
    assert_int_equal(wfc__http_send(f.e, &q, NULL, on_slot, &slots[i], NULL),
                     0);
  }
  run_until(&f, &done, 12);
  for (int i = 0; i < 12; i++) {
    assert_int_equal(slots[i].calls, 1);
    assert_int_equal(slots[i].status, 200);
  }
  ts_server_stats(f.srv, &st);
  assert_int_equal(st.requests, 12);
  assert_true(st.max_open <= 2);
  assert_true(st.connections <= 2);
  fx_close(&f);
}

/* Requests over the per-host cap wait in the engine in send order; one
 * cancelled while waiting neither runs nor stalls those behind it. */
static void waiting_in_order_and_cancel(void **state) {
  fixture f;
  wfc__http_opts o = {.size = sizeof o, .max_host_connections = 1};
  ts_route rt = {.path = "/n", .delay_ms = 20, .echo = 1};
  slot slots[6] = {{0}};
  wfc_http *hs[6];
  int done = 0;
  char url[256];
  ts_stats st;

  fx_open(&f, &o);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  for (int i = 0; i < 6; i++) {
    snprintf(url, sizeof url, "%s/n?q=%d", ts_server_url(f.srv), i);
    wfc_http_req q = req_make("GET", url);
    slots[i].done = &done;
    slots[i].index_ok = -1;
    assert_int_equal(wfc__http_send(f.e, &q, NULL, on_slot, &slots[i], &hs[i]),
                     0);
  }
  run_until(&f, &slots[0].calls, 1); /* 1..5 wait behind 0 */
  wfc__http_cancel(hs[2]);
  wfc__http_cancel(hs[5]);
  run_until(&f, &done, 6);
  for (int i = 0; i < 6; i++) {
    assert_int_equal(slots[i].calls, 1);
    if (i == 2 || i == 5) {
      assert_int_equal(slots[i].error, WFC_ECANCELED);
    } else {
      assert_int_equal(slots[i].error, 0);
      assert_int_equal(slots[i].index_ok, i);
    }
  }
  /* With one connection, in send order. */
  assert_true(slots[0].order < slots[1].order);
  assert_true(slots[1].order < slots[3].order);
  assert_true(slots[3].order < slots[4].order);
  ts_server_stats(f.srv, &st);
  assert_int_equal(st.requests, 4); /* the cancelled ones never left */
  assert_int_equal(st.max_open, 1);
  fx_close(&f);
}

static void tick(uv_timer_t *t) {
}

static void shutdown_with_100_in_flight(void **state) {
  fixture f;
  ts_route rt = {.path = "/slow", .delay_ms = 5000, .body = "late"};
  slot slots[100] = {{0}};
  int done = 0;
  ts_stats st;
  wfc__http_stats es;
  uv_timer_t t;

  fx_open(&f, NULL);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &rt);
  for (int i = 0; i < 100; i++) {
    wfc_http_req q = req_make("GET", fx_url(&f, "/slow"));
    slots[i].done = &done;
    assert_int_equal(wfc__http_send(f.e, &q, NULL, on_slot, &slots[i], NULL),
                     0);
  }
  /* Let the transfers start (the server holds each answer for 5 s). */
  uv_timer_init(&f.loop, &t);
  uv_timer_start(&t, tick, 10, 10); /* bounds each UV_RUN_ONCE */
  for (int i = 0; i < 300; i++) {
    uv_run(&f.loop, UV_RUN_ONCE);
    ts_server_stats(f.srv, &st);
    if (st.requests >= 8)
      break;
  }
  uv_close((uv_handle_t *)&t, NULL);
  assert_int_equal(done, 0);
  assert_true(st.requests >= 1);
  wfc__http_engine_stats(f.e, &es);
  assert_true(es.polls > 0);

  wfc__http_engine_close(f.e, on_engine_closed, &f);
  assert_int_equal(done, 0); /* callbacks come later, on the loop */
  wfc_http_req q = req_make("GET", fx_url(&f, "/slow"));
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_slot, &slots[0], NULL),
                   WFC_ESTATE);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  assert_int_equal(done, 100);
  for (int i = 0; i < 100; i++) {
    assert_int_equal(slots[i].calls, 1);
    assert_int_equal(slots[i].error, WFC_ECANCELED);
  }
  assert_int_equal(f.closed, 1);
  assert_int_equal(uv_loop_close(&f.loop), 0);
  ts_server_stop(f.srv);
}

/* Closing from inside a callback, with others in flight. */
typedef struct closer {
  fixture *f;
  int calls;
  int error;
} closer;

static void on_close_here(void *arg, const wfc_http_res *res) {
  closer *c = arg;
  c->calls++;
  c->error = res->error;
  wfc__http_engine_close(c->f->e, on_engine_closed, c->f);
  wfc__http_engine_close(c->f->e, on_engine_closed, c->f); /* no-op */
}

static void close_from_callback(void **state) {
  fixture f;
  closer c = {.f = &f};
  /* Room for every request at once: the fast one must not queue behind
   * the slow ones. */
  wfc__http_opts o = {.size = sizeof o, .max_host_connections = 16};
  ts_route fast = {.path = "/fast", .body = "x"};
  ts_route slow = {.path = "/slow", .delay_ms = 5000};
  slot slots[10] = {{0}};
  int done = 0;

  fx_open(&f, &o);
  fx_server(&f, NULL);
  ts_server_route(f.srv, &fast);
  ts_server_route(f.srv, &slow);
  for (int i = 0; i < 10; i++) {
    wfc_http_req q = req_make("GET", fx_url(&f, "/slow"));
    slots[i].done = &done;
    assert_int_equal(wfc__http_send(f.e, &q, NULL, on_slot, &slots[i], NULL),
                     0);
  }
  wfc_http_req q = req_make("GET", fx_url(&f, "/fast"));
  assert_int_equal(wfc__http_send(f.e, &q, NULL, on_close_here, &c, NULL), 0);
  uv_run(&f.loop, UV_RUN_DEFAULT);
  assert_int_equal(c.calls, 1);
  assert_int_equal(c.error, 0);
  assert_int_equal(done, 10);
  for (int i = 0; i < 10; i++)
    assert_int_equal(slots[i].error, WFC_ECANCELED);
  assert_int_equal(f.closed, 1);
  assert_int_equal(uv_loop_close(&f.loop), 0);
  ts_server_stop(f.srv);
}

static void close_idle_engine(void **state) {
  fixture f;
  fx_open(&f, NULL);
  fx_close(&f); /* nothing was ever sent */
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(parallel_1000_reuse),
      cmocka_unit_test(per_host_cap),
      cmocka_unit_test(waiting_in_order_and_cancel),
      cmocka_unit_test(shutdown_with_100_in_flight),
      cmocka_unit_test(close_from_callback),
      cmocka_unit_test(close_idle_engine),
  };
  return cmocka_run_group_tests(tests, global_setup, global_teardown);
}
