/* host.c - a workflow host in one file: its own libuv loop, the wfc
 * runtime on it, the plugins of a directory, and a small flow: a trigger
 * (the event card echo.ticks) polled twice, and for each event an action
 * card (echo.echo). Built out of tree against an installed wfc (see
 * CMakeLists.txt here, or the pkg-config command of docs/hosts.md);
 * tests/install builds and runs it.
 *
 *   wfc-example-host [PLUGIN_DIR]
 *
 * PLUGIN_DIR defaults to the plugin directory of the installed wfc it was
 * built against (WFC_EXAMPLE_PLUGIN_DIR). Prints one line per step; exits
 * 0 when every call succeeded. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>
#include <uv.h>

#include <wfc/host.h>

#ifndef WFC_EXAMPLE_PLUGIN_DIR
#error "define WFC_EXAMPLE_PLUGIN_DIR: the installed wfc's plugin directory"
#endif

#define POLLS 2

typedef struct host {
  uv_loop_t loop;
  uv_timer_t timer;
  wfc_runtime *rt;
  char checkpoint[64]; /* the trigger's, kept in memory by this host */
  int polls, pending, failures, closed;
} host;

static void poll_trigger(host *h);

static void report_load(void *arg, const char *path, const char *message) {
  host *h = arg;
  h->failures++;
  fprintf(stderr, "host: cannot load %s: %s\n", path, message);
}

static void echo_done(void *arg, wfc_call *call, const wfc_outcome *o) {
  host *h = arg;
  (void)call;
  h->pending--;
  if (o->status != 0) {
    h->failures++;
    fprintf(stderr, "host: echo.echo failed: %s\n", o->message);
  } else {
    printf(
        "step echo.echo -> %s\n",
        json_object_get_string(json_object_object_get(o->output, "message")));
  }
}

static void on_timer(uv_timer_t *t) {
  poll_trigger(t->data);
}

static void close_done(void *arg) {
  host *h = arg;
  h->closed = 1;
}

/* The trigger's batch: one step per event, then the checkpoint moves on
 * (a durable host stores it after the steps: see wfc/events.h). */
static void ticks_done(void *arg, wfc_call *call, const wfc_outcome *o) {
  host *h = arg;
  (void)call;
  h->pending--;
  if (o->status != 0) {
    h->failures++;
    fprintf(stderr, "host: echo.ticks failed: %s\n", o->message);
    return;
  }
  json_object *events = json_object_object_get(o->output, "events");
  size_t n = json_object_array_length(events);
  printf("trigger echo.ticks: %zu events\n", n);
  for (size_t i = 0; i < n; i++) {
    json_object *ev = json_object_array_get_idx(events, i);
    char msg[64];
    snprintf(msg, sizeof msg, "tick %s",
             json_object_get_string(json_object_object_get(ev, "n")));
    json_object *in = json_object_new_object();
    json_object_object_add(in, "message", json_object_new_string(msg));
    wfc_invoke how = {.size = sizeof how, .on_done = echo_done, .arg = h};
    if (wfc_runtime_invoke(h->rt, "echo.echo", in, &how, NULL) == 0)
      h->pending++;
    else
      h->failures++;
    json_object_put(in);
  }
  snprintf(
      h->checkpoint, sizeof h->checkpoint, "%s",
      json_object_get_string(json_object_object_get(o->output, "checkpoint")));
  if (++h->polls < POLLS)
    uv_timer_start(&h->timer, on_timer, 10, 0); /* the next poll */
}

static void poll_trigger(host *h) {
  wfc_invoke how = {.size = sizeof how,
                    .checkpoint = h->checkpoint[0] ? h->checkpoint : NULL,
                    .on_done = ticks_done,
                    .arg = h};
  if (wfc_runtime_invoke(h->rt, "echo.ticks", NULL, &how, NULL) == 0)
    h->pending++;
  else
    h->failures++;
}

int main(int argc, char **argv) {
  const char *dir = argc > 1 ? argv[1] : WFC_EXAMPLE_PLUGIN_DIR;
  host h = {0};
  /* Process-wide set-up is the host's: libcurl, no core dumps. */
  wfc_process_harden(NULL);
  uv_loop_init(&h.loop);
  uv_timer_init(&h.loop, &h.timer);
  h.timer.data = &h;
  wfc_runtime_opts ro = {.size = sizeof ro};
  int rc = wfc_runtime_new(&h.loop, &ro, &h.rt);
  if (rc != 0) {
    fprintf(stderr, "host: cannot create the runtime: %s\n", wfc_strerror(rc));
    return 1;
  }
  int n = wfc_runtime_load_dir(h.rt, dir, report_load, &h);
  printf("loaded %d plugins from %s\n", n, dir);
  if (wfc_runtime_find_card(h.rt, "echo.ticks", NULL, NULL) != 0) {
    fprintf(stderr, "host: no echo plugin in %s\n", dir);
    h.failures++;
  } else {
    poll_trigger(&h);
  }
  /* Our loop: it runs until the flow is done (no call, no timer). */
  while (h.pending > 0 || uv_is_active((uv_handle_t *)&h.timer))
    uv_run(&h.loop, UV_RUN_ONCE);
  /* Ordered shutdown in one call (event watches, connection managers,
   * calls in flight, plugins, the runtime's handles; close_done reports
   * it), then our handles, then the loop. */
  wfc_runtime_shutdown(h.rt, close_done, &h);
  uv_close((uv_handle_t *)&h.timer, NULL);
  uv_run(&h.loop, UV_RUN_DEFAULT);
  int loop_rc = uv_loop_close(&h.loop);
  curl_global_cleanup();
  printf("done: %d failures%s\n", h.failures,
         h.closed && loop_rc == 0 ? "" : " (runtime or loop left open)");
  return h.failures == 0 && h.closed && loop_rc == 0 ? 0 : 1;
}
