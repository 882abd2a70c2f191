/* event.c - `wfc event watch`: polls an event card on a stored
 * connection and prints each new event as one JSON line on stdout, through
 * the event watch API (wfc/events.h): an event is printed, then recorded
 * as accepted, and the checkpoint advances once the whole batch was
 * printed. Killed at any point, the next run prints nothing twice and
 * misses nothing (docs/events.md). */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, strndup */
#include "cli.h"

#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "wfc/events.h"

const char wfc__cli_usage_event[] =
    "  wfc event watch [CARD] --card CARD --connection NAME [--param k=v ...]\n"
    "      [--input JSON] [--interval S] [--once] [--exit-before-ack]\n"
    "      [--store PATH] [--plugin-dir DIR] [--json]\n";

typedef struct watch {
  wfc__cli_host *h;
  wfc_connmgr *m;
  wfc_event_watch *w;
  const char *conn, *card;
  wfc__cli_pacer pace;
  int json, once, exit_before_ack;
  int stop, polling, exit_code;
  int standby; /* another watcher holds the subscription (said once) */
} watch;

static void poll_now(watch *x);

/* On stderr, so that a person sees the watch is alive between polls. */
static void next_poll_note(const watch *x) {
  uint64_t ms = x->pace.interval_ms;
  fprintf(stderr, "wfc: next poll of %s for \"%s\" in %.3g s\n", x->card,
          x->conn, (double)ms / 1000);
  fflush(stderr);
}

static void stop(watch *x) {
  x->stop = 1;
  wfc__cli_pacer_stop(&x->pace);
}

static void on_signal(void *arg) {
  watch *x = arg;
  if (!x->json)
    fprintf(stderr, "wfc: stopping\n");
  x->exit_code = WFC_CLI_OK;
  stop(x);
}

static void on_tick(void *arg) {
  poll_now(arg);
}

/* The subscription lease the batch was polled under was taken over by
 * another watcher (this process did not run for longer than the lease):
 * the rest of the batch is that one's; this one drops it and stands by. */
static void lease_lost(watch *x, wfc_event_watch *w) {
  (void)wfc_event_watch_ack(w); /* fenced: writes nothing, drops the batch */
  wfc__cli_error("%s on \"%s\": another watcher took the subscription over "
                 "while this one did not run for longer than its lease; it "
                 "delivers the rest of this batch",
                 x->card, x->conn);
  if (x->once) {
    x->exit_code = WFC_CLI_FAIL;
    stop(x);
    return;
  }
  next_poll_note(x);
  wfc__cli_pacer_later(&x->pace);
}

static void on_batch(void *arg, wfc_event_watch *w, const wfc_event_batch *b) {
  watch *x = arg;
  x->polling = 0;
  if (x->stop)
    return;
  if (b->status != 0) {
    wfc__cli_error("%s (%s)", b->message, wfc_err_name(b->status));
    wfc__cli_say_remedy(x->m, x->conn, b->status);
    /* Transient failures (network, throttling, Graph 5xx) are retried at
     * the next interval; the rest need the user. */
    int fatal = x->once || b->status == WFC_EREAUTH ||
                b->status == WFC_ECONSENT || b->status == WFC_EAUTH ||
                b->status == WFC_EKEY || b->status == WFC_EVALIDATION ||
                b->status == WFC_EINVAL || b->status == WFC_ENOTFOUND;
    if (fatal) {
      x->exit_code = WFC_CLI_FAIL;
      stop(x);
    } else {
      next_poll_note(x);
      wfc__cli_pacer_later(&x->pace);
    }
    return;
  }
  size_t n = json_object_array_length(b->events);
  for (size_t i = 0; i < n; i++) {
    json_object *ev = json_object_array_get_idx(b->events, i);
    /* This process may have stalled past the subscription lease and
     * another watcher taken it over: that one delivers the rest. */
    if (wfc_event_watch_holds(w) == WFC_ESTALE) {
      lease_lost(x, w);
      return;
    }
    puts(json_object_to_json_string_ext(
        ev, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
    /* On the consumer's side before it is recorded as accepted: a crash in
     * between prints it again (at least once), never loses it. */
    if (fflush(stdout) != 0) {
      wfc__cli_error("cannot write the events: stopping before recording "
                     "them");
      x->exit_code = WFC_CLI_FAIL;
      stop(x);
      return;
    }
    int rc = wfc_event_watch_accept(w, ev);
    if (rc == WFC_ESTALE) {
      lease_lost(x, w);
      return;
    }
    if (rc != 0) {
      wfc__cli_error("cannot record an event as delivered: %s",
                     wfc_strerror(rc));
      x->exit_code = WFC_CLI_FAIL;
      stop(x);
      return;
    }
  }
  if (!x->json && (n > 0 || b->duplicates > 0))
    fprintf(stderr, "wfc: %zu new event(s)%s\n", n,
            b->duplicates > 0 ? ", some left out: delivered before" : "");
  if (x->exit_before_ack && n > 0) {
    /* For recovery tests: what a crash right here leaves behind. */
    fprintf(stderr, "wfc: exiting before the acknowledgement "
                    "(--exit-before-ack)\n");
    fflush(stderr);
    _exit(WFC_CLI_OK);
  }
  int rc = wfc_event_watch_ack(w);
  if (rc != 0) {
    /* The events are recorded: the next poll leaves them out. */
    if (rc == WFC_EKEY)
      wfc__cli_tampered(x->conn, "its event checkpoint");
    else
      wfc__cli_error("the checkpoint was not stored (%s); the next poll "
                     "starts from the previous one",
                     wfc_strerror(rc));
    if (x->once || rc == WFC_EKEY) {
      x->exit_code = WFC_CLI_FAIL;
      stop(x);
      return;
    }
  }
  if (b->first) {
    if (!x->json)
      fprintf(stderr, "wfc: watching from now on\n");
    poll_now(x); /* the start is stored: now the first real poll */
    return;
  }
  if (x->once) {
    x->exit_code = WFC_CLI_OK;
    stop(x);
    return;
  }
  next_poll_note(x);
  wfc__cli_pacer_later(&x->pace);
}

static void poll_now(watch *x) {
  if (x->stop)
    return;
  int rc = wfc_event_watch_poll(x->w, on_batch, x);
  if (rc == WFC_EBUSY && !x->once) {
    /* Never our own poll (one at a time): another watcher's lease. */
    wfc__cli_standby(&x->standby, x->card, x->conn);
    wfc__cli_pacer_later(&x->pace);
    return;
  }
  if (rc == WFC_EBUSY) {
    wfc__cli_error("%s on \"%s\" is watched by another process sharing the "
                   "store: nothing polled; run it again once that one stops",
                   x->card, x->conn);
    x->exit_code = WFC_CLI_FAIL;
    stop(x);
    return;
  }
  x->standby = 0;
  if (rc != 0) {
    if (rc == WFC_EKEY)
      wfc__cli_tampered(x->conn, "its event checkpoint");
    else
      wfc__cli_error("cannot poll: %s", wfc_strerror(rc));
    x->exit_code = WFC_CLI_FAIL;
    stop(x);
    return;
  }
  x->polling = 1;
}

/* "k=v": v as JSON when it is a JSON number, boolean or null, else as a
 * string. */
static int add_param(json_object *in, const char *kv) {
  const char *eq = strchr(kv, '=');
  if (eq == NULL || eq == kv)
    return -1;
  char *key = strndup(kv, (size_t)(eq - kv));
  const char *v = eq + 1;
  json_object *val = NULL;
  json_tokener *tok = json_tokener_new();
  json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
  json_object *p = json_tokener_parse_ex(tok, v, (int)strlen(v));
  if (json_tokener_get_error(tok) == json_tokener_success &&
      (json_object_is_type(p, json_type_int) ||
       json_object_is_type(p, json_type_double) ||
       json_object_is_type(p, json_type_boolean) || *v == 'n'))
    val = p;
  else
    json_object_put(p);
  json_tokener_free(tok);
  json_object_object_add(in, key, val ? val : json_object_new_string(v));
  free(key);
  return 0;
}

static int watch_cmd(int argc, char **argv) {
  static const struct option table[] = {
      {"json", no_argument, NULL, 'j'},
      {"card", required_argument, NULL, 'C'},
      {"connection", required_argument, NULL, 'c'},
      {"param", required_argument, NULL, 'p'},
      {"input", required_argument, NULL, 'i'},
      {"interval", required_argument, NULL, 'n'},
      {"once", no_argument, NULL, 'o'},
      {"exit-before-ack", no_argument, NULL, 'x'},
      {"store", required_argument, NULL, 's'},
      {"plugin-dir", required_argument, NULL, 'd'},
      {NULL, 0, NULL, 0}};
  watch x = {.exit_code = WFC_CLI_FAIL};
  const char *card = NULL, *store = NULL, *dir = NULL;
  json_object *in = json_object_new_object();
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", table, NULL)) != -1) {
    switch (c) {
    case 'j':
      x.json = 1;
      break;
    case 'C':
      card = optarg;
      break;
    case 'c':
      x.conn = optarg;
      break;
    case 'p':
      if (add_param(in, optarg) != 0) {
        json_object_put(in);
        return wfc__cli_usage(wfc__cli_usage_event,
                              "event watch: --param wants k=v, got "
                              "\"%s\"",
                              optarg);
      }
      break;
    case 'i': {
      json_object *v = wfc__cli_read_input(optarg, "input");
      if (v == NULL) {
        json_object_put(in);
        return WFC_CLI_USAGE;
      }
      json_object_object_foreach(v, k, val)
          json_object_object_add(in, k, json_object_get(val));
      json_object_put(v);
      break;
    }
    case 'n':
      if (wfc__cli_interval(optarg, &x.pace.interval_ms) != 0) {
        json_object_put(in);
        return wfc__cli_usage(wfc__cli_usage_event,
                              "event watch: --interval wants seconds "
                              "(0.01 to 86400), got \"%s\"",
                              optarg);
      }
      break;
    case 'o':
      x.once = 1;
      break;
    case 'x':
      x.exit_before_ack = 1;
      break;
    case 's':
      store = optarg;
      break;
    case 'd':
      dir = optarg;
      break;
    default:
      json_object_put(in);
      return wfc__cli_bad_option(wfc__cli_usage_event, "event", "watch",
                                 argv[optind - 1]);
    }
  }
  if (optind + 1 == argc && card == NULL)
    card = argv[optind++];
  if (optind != argc || card == NULL || x.conn == NULL) {
    json_object_put(in);
    return wfc__cli_usage(wfc__cli_usage_event,
                          "event watch: expected --card CARD and "
                          "--connection NAME");
  }
  wfc__cli_host h;
  if (wfc__cli_connmgr_open(&h, store, dir, 1, NULL, &x.m) != 0) {
    json_object_put(in);
    return WFC_CLI_FAIL;
  }
  x.h = &h;
  wfc_event_watch_opts o = {.size = sizeof o,
                            .card = card,
                            .connection = x.conn,
                            .input = in,
                            .lease_ms =
                                wfc__cli_sub_lease_ms(x.pace.interval_ms)};
  char err[512];
  int rc = wfc_event_watch_open(x.m, &o, &x.w, err, sizeof err);
  json_object_put(in);
  if (rc == WFC_EKEY) {
    wfc__cli_tampered(x.conn, NULL);
  } else if (rc == WFC_ENOTFOUND &&
             wfc_runtime_find_card(h.rt, card, NULL, NULL) == WFC_ENOTFOUND) {
    wfc__cli_error("%s (plugins searched in %s)", err, wfc__cli_searched(&h));
  } else if (rc != 0) {
    wfc__cli_error("%s", err);
  } else {
    x.pace.on_tick = on_tick;
    x.pace.on_signal = on_signal;
    x.pace.arg = &x;
    x.card = card;
    wfc__cli_pacer_start(&x.pace, &h.loop);
    fprintf(stderr,
            "wfc: watching %s for connection \"%s\"%s (every %.3g s%s)\n", card,
            x.conn, x.once ? ", one poll" : "",
            (double)x.pace.interval_ms / 1000, x.once ? "" : "; Ctrl-C stops");
    poll_now(&x);
    /* A poll in flight when stopped is let finish (its batch is neither
     * printed nor acknowledged: the next run gets it), so no card call
     * outlives the manager. */
    while ((!x.stop || x.polling) && uv_run(&h.loop, UV_RUN_ONCE) != 0)
      ;
    wfc_event_watch_close(x.w);
    wfc__cli_pacer_close(&x.pace);
  }
  wfc__cli_connmgr_close(&h, x.m);
  return rc == 0 ? x.exit_code : WFC_CLI_FAIL;
}

int wfc__cli_event(int argc, char **argv) {
  if (argc < 2)
    return wfc__cli_usage(wfc__cli_usage_event, "event: missing command");
  if (strcmp(argv[1], "watch") == 0)
    return watch_cmd(argc - 1, argv + 1);
  return wfc__cli_usage(wfc__cli_usage_event, "event: unknown command \"%s\"",
                        argv[1]);
}
