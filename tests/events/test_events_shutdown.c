/* test_events_shutdown.c - wfc_runtime_shutdown closes the event watches a
 * host left open, before anything else: one holding its subscription
 * lease (released, so another host takes over at its next poll, not after
 * the expiry) and one with a poll in flight (canceled; its callback never
 * runs). Real o365mail plugin, real emulator, real store. */
#define _GNU_SOURCE /* mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "events_test.h"

static void set_flag(void *arg) {
  *(int *)arg = 1;
}

static void test_shutdown_closes_watches(void **state) {
  (void)state;
  const char *input = "{\"max_events\":904}";
  json_object *in = json_tokener_parse(input);
  wfc_event_watch_opts o = {.size = sizeof o,
                            .card = "o365mail.new_email",
                            .input = in,
                            .lease_ms = 600000};
  wfc_event_watch *held = NULL, *polling = NULL;
  char err[256] = "";
  assert_int_equal(wfc__event_watch_open_at(o365_fixture_runtime(fx), st, alice,
                                            conn_id, &o, &held, err,
                                            sizeof err),
                   0);
  got g;
  poll_once(held, &g);
  json_object_put(g.events);
  char *sub = wfc__event_sub_key(in);
  wfc__lease l;
  assert_int_equal(
      wfc__store_sub_lease_get(st, conn_id, "o365mail.new_email", sub, &l), 0);

  /* Another watch (no lease) with its poll in flight. */
  polling = watch("{\"max_events\":905}");
  got g2;
  memset(&g2, 0, sizeof g2);
  assert_int_equal(wfc_event_watch_poll(polling, on_batch, &g2), 0);

  int done = 0;
  wfc_runtime_shutdown(o365_fixture_runtime(fx), set_flag, &done);
  uv_loop_t *loop = o365_fixture_loop(fx);
  while (!done)
    uv_run(loop, UV_RUN_ONCE);
  o365_fixture_runtime_gone(fx);
  /* Both freed by the shutdown (ASan would see a leak otherwise); the
   * lease is free now, the canceled poll never reported. */
  assert_int_equal(
      wfc__store_sub_lease_get(st, conn_id, "o365mail.new_email", sub, &l),
      WFC_ENOTFOUND);
  assert_int_equal(g2.done, 0);
  free(sub);
  json_object_put(in);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_shutdown_closes_watches, setup,
                                      teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
