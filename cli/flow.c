/* flow.c - `wfc flow run FILE`: a JSON flow, an optional trigger (an
 * event card, through the event watch API) and steps (cards) whose inputs
 * may reference the trigger's event and earlier steps' outputs:
 *
 *   {"connection": "work",
 *    "trigger": {"card": "new_email", "input": {"folder": "inbox"}},
 *    "steps": [{"name": "get", "card": "get_message",
 *               "input": {"message_id": "{{trigger.id}}"}},
 *              {"name": "flag", "card": "flag_email",
 *               "input": {"message_id": "{{steps.get.id}}"}}]}
 *
 * A string that is exactly one "{{path}}" becomes the value there (any
 * JSON type); references inside a longer string are replaced by the text
 * of the value. Paths: trigger.a.b, steps.NAME.list[0].id.
 *
 * A step with "if" (flowcond.h) runs only when its condition holds for
 * the run; otherwise it is skipped (no output; listed in the run line's
 * "skipped"). Conditions are checked when the file is loaded.
 *
 * One run per event, in order; each run prints one JSON line
 * {"trigger":...,"steps":{NAME: output, ...}}. The event is accepted (and
 * so never run again) only once every step succeeded; a failing step stops
 * the batch without an acknowledgement, so the event and those after it
 * come again at the next poll (at least once for the steps, never twice
 * after success). Without a trigger the steps run once. */
#define _XOPEN_SOURCE 700 /* realpath, <uv.h> */
#include "cli.h"

#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "wfc/events.h"

#include "flowcond.h"
#include "flowref.h"

const char wfc__cli_usage_flow[] =
    "  wfc flow run FILE [--once] [--interval S] [--store PATH]\n"
    "      [--plugin-dir DIR] [--json]\n";

typedef struct flow {
  wfc__cli_host *h;
  wfc_connmgr *m;
  json_object *doc;         /* the flow file (owned) */
  json_object *steps;       /* borrowed from doc */
  wfc_event_watch *w;       /* NULL without a trigger */
  const char *trigger_conn; /* its connection's name, borrowed from doc */
  wfc__cli_pacer pace;
  int json, once, stop, busy, exit_code;
  int standby; /* another runner holds the trigger (said once) */
  /* The run in progress. */
  json_object *batch; /* events of the batch (owned) */
  size_t next_event;
  json_object *ctx;     /* {"trigger": event, "steps": {...}} (owned) */
  json_object *skipped; /* names of the steps whose "if" did not hold */
  size_t step;
  wfc_conn *conn; /* of the step running (owned reference) */
} flow;

static void poll_now(flow *f);
static void run_step(flow *f);

static void on_tick(void *arg) {
  poll_now(arg);
}

/* ---- runs -------------------------------------------------------------------
 */

static void stop(flow *f, int code) {
  f->exit_code = code;
  f->stop = 1;
  wfc__cli_pacer_stop(&f->pace);
}

static const char *member(json_object *o, const char *k) {
  json_object *v = NULL;
  return json_object_object_get_ex(o, k, &v) &&
                 json_object_is_type(v, json_type_string)
             ? json_object_get_string(v)
             : NULL;
}

/* The batch is done (all runs succeeded): acknowledge and wait, or stop. */
static void batch_done(flow *f) {
  json_object_put(f->batch);
  f->batch = NULL;
  int rc = wfc_event_watch_ack(f->w);
  if (rc == WFC_EKEY)
    wfc__cli_tampered(f->trigger_conn, "its event checkpoint");
  else if (rc != 0)
    wfc__cli_error("the checkpoint was not stored (%s)", wfc_strerror(rc));
  if (f->once || rc == WFC_EKEY) {
    stop(f, rc == 0 ? WFC_CLI_OK : WFC_CLI_FAIL);
    return;
  }
  wfc__cli_pacer_later(&f->pace);
}

static void next_run(flow *f);

/* The trigger's subscription lease the batch was polled under was taken
 * over by another runner (this process did not run for longer than the
 * lease): the rest of the batch is that one's; this one drops it and
 * stands by. */
static void lease_lost(flow *f) {
  json_object_put(f->batch);
  f->batch = NULL;
  (void)wfc_event_watch_ack(f->w); /* fenced: writes nothing, drops it */
  wfc__cli_error("trigger on \"%s\": another runner took the subscription "
                 "over while this one did not run for longer than its lease; "
                 "it runs the rest of this batch",
                 f->trigger_conn);
  if (f->once)
    stop(f, WFC_CLI_FAIL);
  else
    wfc__cli_pacer_later(&f->pace);
}

/* One run ended: print it; accept its event when it succeeded. */
static void run_done(flow *f, int ok, const char *error) {
  json_object *line = json_object_new_object();
  json_object_object_add(line, "status",
                         json_object_new_string(ok ? "ok" : "failed"));
  if (!ok) {
    json_object *st = json_object_array_get_idx(f->steps, f->step);
    json_object_object_add(
        line, "step", json_object_new_string(st ? member(st, "name") : ""));
    json_object_object_add(line, "error", json_object_new_string(error));
  }
  json_object *t = NULL, *s = NULL;
  json_object_object_get_ex(f->ctx, "trigger", &t);
  json_object_object_get_ex(f->ctx, "steps", &s);
  if (t != NULL)
    json_object_object_add(line, "trigger", json_object_get(t));
  json_object_object_add(line, "steps", json_object_get(s));
  size_t nskipped = json_object_array_length(f->skipped);
  if (nskipped > 0)
    json_object_object_add(line, "skipped", json_object_get(f->skipped));
  if (f->json)
    puts(json_object_to_json_string_ext(
        line, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  else if (nskipped > 0) /* the steps had their lines (on_step) */
    printf("run %s%s%s (%zu step%s skipped by %s condition)\n",
           ok ? "done" : "failed",
           t != NULL && member(t, "id") ? " for event " : "",
           t != NULL && member(t, "id") ? member(t, "id") : "", nskipped,
           nskipped == 1 ? "" : "s", nskipped == 1 ? "its" : "their");
  else
    printf("run %s%s%s\n", ok ? "done" : "failed",
           t != NULL && member(t, "id") ? " for event " : "",
           t != NULL && member(t, "id") ? member(t, "id") : "");
  fflush(stdout);
  json_object_put(line);
  if (!ok)
    wfc__cli_error("%s", error);
  if (f->w == NULL) { /* no trigger: one run */
    stop(f, ok ? WFC_CLI_OK : WFC_CLI_FAIL);
    return;
  }
  if (!ok) {
    /* No accept, no ack: this event and the rest come again. */
    json_object_put(f->batch);
    f->batch = NULL;
    if (f->once)
      stop(f, WFC_CLI_FAIL);
    else
      wfc__cli_pacer_later(&f->pace);
    return;
  }
  int rc = wfc_event_watch_accept(f->w, t);
  if (rc == WFC_ESTALE) {
    lease_lost(f);
    return;
  }
  if (rc != 0) {
    wfc__cli_error("cannot record the event as handled: %s", wfc_strerror(rc));
    stop(f, WFC_CLI_FAIL);
    return;
  }
  next_run(f);
}

static void on_step(void *arg, wfc_call *call, const wfc_outcome *out) {
  flow *f = arg;
  (void)call;
  f->busy = 0;
  wfc_conn_release(f->conn);
  f->conn = NULL;
  json_object *st = json_object_array_get_idx(f->steps, f->step);
  if (out->status != 0) {
    char why[1024];
    const char *conn = member(st, "connection");
    if (conn == NULL)
      conn = member(f->doc, "connection");
    if (out->status == WFC_EKEY && conn != NULL)
      snprintf(why, sizeof why,
               "step \"%s\": connection \"%s\": " WFC_CONN_TAMPERED_WORDS
               " (%s)",
               member(st, "name"), conn, out->message);
    else
      snprintf(why, sizeof why, "step \"%s\": %s (%s)", member(st, "name"),
               out->message, wfc_err_name(out->status));
    if (!f->json)
      printf("  step %zu/%zu \"%s\" (%s): failed\n", f->step + 1,
             json_object_array_length(f->steps), member(st, "name"),
             member(st, "card"));
    run_done(f, 0, why);
    return;
  }
  json_object_object_add(json_object_object_get(f->ctx, "steps"),
                         member(st, "name"), json_object_get(out->output));
  if (!f->json) /* a short line per step; --json has the whole run */
    printf("  step %zu/%zu \"%s\" (%s): ok\n", f->step + 1,
           json_object_array_length(f->steps), member(st, "name"),
           member(st, "card"));
  f->step++;
  run_step(f);
}

static void run_step(flow *f) {
  if (f->step >= json_object_array_length(f->steps)) {
    run_done(f, 1, NULL);
    return;
  }
  json_object *st = json_object_array_get_idx(f->steps, f->step);
  char where[64], err[1024] = "";
  json_object *cond = NULL;
  if (json_object_object_get_ex(st, "if", &cond)) {
    char why[900] = "";
    snprintf(where, sizeof where, "steps[%zu].if", f->step);
    int holds = wfc__flow_cond_eval(cond, f->ctx, where, why, sizeof why);
    if (holds < 0) {
      snprintf(err, sizeof err, "step \"%s\": %s", member(st, "name"), why);
      run_done(f, 0, err);
      return;
    }
    if (!holds) { /* skipped: no output, the next step */
      json_object_array_add(f->skipped,
                            json_object_new_string(member(st, "name")));
      f->step++;
      run_step(f);
      return;
    }
  }
  snprintf(where, sizeof where, "steps[%zu].input", f->step);
  json_object *in = NULL;
  json_object_object_get_ex(st, "input", &in);
  json_object *x = in ? wfc__flow_expand(in, f->ctx, where, err, sizeof err)
                      : json_object_new_object();
  if (x == NULL) {
    run_done(f, 0, err);
    return;
  }
  const char *conn = member(st, "connection");
  if (conn == NULL)
    conn = member(f->doc, "connection");
  const char *card = member(st, "card");
  const wfc_card_desc *c = NULL;
  int rc = wfc_runtime_find_card(f->h->rt, card, NULL, &c);
  if (rc == 0 && c->conn_type != NULL && conn != NULL)
    rc = wfc_connmgr_open_conn(f->m, conn, &f->conn);
  if (rc == WFC_EKEY) {
    snprintf(err, sizeof err,
             "steps[%zu]: connection \"%s\": " WFC_CONN_TAMPERED_WORDS
             "; nothing was sent with it",
             f->step, conn);
    json_object_put(x);
    run_done(f, 0, err);
    return;
  }
  if (rc != 0) {
    if (f->conn == NULL && c != NULL && rc == WFC_ENOTFOUND)
      snprintf(err, sizeof err, "steps[%zu]: no connection \"%s\"", f->step,
               conn);
    else if (f->conn == NULL && c != NULL)
      snprintf(err, sizeof err, "steps[%zu]: cannot open connection \"%s\": %s",
               f->step, conn,
               *wfc_connmgr_open_error() ? wfc_connmgr_open_error()
                                         : wfc_strerror(rc));
    else
      snprintf(err, sizeof err,
               "steps[%zu]: no card \"%s\" (plugins searched in %s)", f->step,
               card, wfc__cli_searched(f->h));
    json_object_put(x);
    run_done(f, 0, err);
    return;
  }
  wfc_invoke how = {
      .size = sizeof how, .conn = f->conn, .on_done = on_step, .arg = f};
  rc = wfc_runtime_invoke(f->h->rt, card, x, &how, NULL);
  json_object_put(x);
  if (rc != 0) {
    wfc_conn_release(f->conn);
    f->conn = NULL;
    snprintf(err, sizeof err, "steps[%zu]: cannot run \"%s\": %s", f->step,
             card, wfc_strerror(rc));
    run_done(f, 0, err);
    return;
  }
  f->busy = 1;
}

static void start_run(flow *f, json_object *event) {
  json_object_put(f->ctx);
  f->ctx = json_object_new_object();
  if (event != NULL)
    json_object_object_add(f->ctx, "trigger", json_object_get(event));
  json_object_object_add(f->ctx, "steps", json_object_new_object());
  json_object_put(f->skipped);
  f->skipped = json_object_new_array();
  f->step = 0;
  run_step(f);
}

static void next_run(flow *f) {
  if (f->stop)
    return;
  if (f->next_event >= json_object_array_length(f->batch)) {
    batch_done(f);
    return;
  }
  /* Stalled past the lease, another runner took the trigger over. */
  if (wfc_event_watch_holds(f->w) == WFC_ESTALE) {
    lease_lost(f);
    return;
  }
  start_run(f, json_object_array_get_idx(f->batch, f->next_event++));
}

static void on_batch(void *arg, wfc_event_watch *w, const wfc_event_batch *b) {
  flow *f = arg;
  (void)w;
  f->busy = 0;
  if (f->stop)
    return;
  if (b->status != 0) {
    wfc__cli_error("trigger: %s (%s)", b->message, wfc_err_name(b->status));
    if (b->status == WFC_EKEY)
      wfc__cli_tampered(f->trigger_conn, NULL);
    if (f->once || b->status == WFC_EKEY)
      stop(f, WFC_CLI_FAIL);
    else
      wfc__cli_pacer_later(&f->pace);
    return;
  }
  if (b->first) { /* the start is stored: now the first real poll */
    if (wfc_event_watch_ack(f->w) == 0) {
      poll_now(f);
      return;
    }
  }
  f->batch = json_object_get(b->events);
  f->next_event = 0;
  next_run(f);
}

static void poll_now(flow *f) {
  if (f->stop)
    return;
  int rc = wfc_event_watch_poll(f->w, on_batch, f);
  if (rc == WFC_EBUSY && !f->once) {
    /* Never our own poll (one at a time): another runner's lease. */
    wfc__cli_standby(&f->standby, "trigger", f->trigger_conn);
    wfc__cli_pacer_later(&f->pace);
    return;
  }
  if (rc == WFC_EBUSY) {
    wfc__cli_error("trigger on \"%s\" is watched by another process sharing "
                   "the store: nothing polled; run it again once that one "
                   "stops",
                   f->trigger_conn);
    stop(f, WFC_CLI_FAIL);
    return;
  }
  f->standby = 0;
  if (rc == WFC_EKEY) {
    wfc__cli_tampered(f->trigger_conn, "its event checkpoint");
    stop(f, WFC_CLI_FAIL);
    return;
  }
  if (rc != 0) {
    wfc__cli_error("trigger: cannot poll: %s", wfc_strerror(rc));
    stop(f, WFC_CLI_FAIL);
    return;
  }
  f->busy = 1;
}

static void on_signal(void *arg) {
  stop(arg, WFC_CLI_OK);
}

/* ---- the file
 * ----------------------------------------------------------------
 */

/* Checks the shape before anything runs: every error names the field. */
static int check_doc(json_object *doc, char *err, size_t len) {
  json_object *steps = NULL, *trig = NULL;
  if (!json_object_is_type(doc, json_type_object))
    return snprintf(err, len, "the flow must be a JSON object"), -1;
  if (!json_object_object_get_ex(doc, "steps", &steps) ||
      !json_object_is_type(steps, json_type_array) ||
      json_object_array_length(steps) == 0)
    return snprintf(err, len, "steps: expected a non-empty list"), -1;
  json_object_object_foreach(doc, k, v) {
    (void)v;
    if (strcmp(k, "name") && strcmp(k, "connection") && strcmp(k, "trigger") &&
        strcmp(k, "steps") && strcmp(k, "description"))
      return snprintf(err, len, "unknown field \"%s\"", k), -1;
  }
  int has_trigger = json_object_object_get_ex(doc, "trigger", NULL);
  for (size_t i = 0; i < json_object_array_length(steps); i++) {
    json_object *st = json_object_array_get_idx(steps, i), *in = NULL;
    const char *name = member(st, "name");
    if (!json_object_is_type(st, json_type_object))
      return snprintf(err, len, "steps[%zu]: expected an object", i), -1;
    json_object_object_foreach(st, sk, sv) {
      (void)sv;
      if (strcmp(sk, "name") && strcmp(sk, "card") && strcmp(sk, "input") &&
          strcmp(sk, "connection") && strcmp(sk, "if") &&
          strcmp(sk, "description"))
        return snprintf(err, len,
                        "steps[%zu].%s: unknown field (name, card, input, "
                        "connection, if, description)",
                        i, sk),
               -1;
    }
    if (name == NULL || *name == '\0')
      return snprintf(err, len, "steps[%zu].name: required string", i), -1;
    if (member(st, "card") == NULL)
      return snprintf(err, len, "steps[%zu].card: required string", i), -1;
    if (json_object_object_get_ex(st, "input", &in) &&
        !json_object_is_type(in, json_type_object))
      return snprintf(err, len, "steps[%zu].input: expected an object", i), -1;
    for (size_t j = 0; j < i; j++)
      if (strcmp(member(json_object_array_get_idx(steps, j), "name"), name) ==
          0)
        return snprintf(err, len, "steps[%zu].name: \"%s\" is used twice", i,
                        name),
               -1;
    json_object *cond = NULL;
    if (json_object_object_get_ex(st, "if", &cond)) {
      char where[64], why[400];
      snprintf(where, sizeof where, "steps[%zu].if", i);
      if (wfc__flow_cond_check(cond, where, steps, i, has_trigger, why,
                               sizeof why) != 0)
        return snprintf(err, len, "step \"%s\": %s", name, why), -1;
    }
  }
  if (json_object_object_get_ex(doc, "trigger", &trig)) {
    json_object *in = NULL;
    if (!json_object_is_type(trig, json_type_object) ||
        member(trig, "card") == NULL)
      return snprintf(err, len, "trigger.card: required string"), -1;
    if (json_object_object_get_ex(trig, "input", &in) &&
        !json_object_is_type(in, json_type_object))
      return snprintf(err, len, "trigger.input: expected an object"), -1;
    if (member(trig, "connection") == NULL && member(doc, "connection") == NULL)
      return snprintf(err, len,
                      "trigger.connection: required (or a "
                      "top-level \"connection\")"),
             -1;
  }
  return 0;
}

static int run_cmd(int argc, char **argv) {
  static const struct option table[] = {
      {"json", no_argument, NULL, 'j'},
      {"once", no_argument, NULL, 'o'},
      {"interval", required_argument, NULL, 'n'},
      {"store", required_argument, NULL, 's'},
      {"plugin-dir", required_argument, NULL, 'd'},
      {NULL, 0, NULL, 0}};
  flow f = {.exit_code = WFC_CLI_FAIL};
  const char *store = NULL, *dir = NULL;
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", table, NULL)) != -1) {
    if (c == 'j') {
      f.json = 1;
    } else if (c == 'o') {
      f.once = 1;
    } else if (c == 's') {
      store = optarg;
    } else if (c == 'd') {
      dir = optarg;
    } else if (c != 'n' || wfc__cli_interval(optarg, &f.pace.interval_ms)) {
      return wfc__cli_usage(wfc__cli_usage_flow, "flow run: bad option \"%s\"",
                            argv[optind - 1]);
    }
  }
  if (optind + 1 != argc)
    return wfc__cli_usage(wfc__cli_usage_flow, "flow run: expected one FILE");
  char at[4096];
  snprintf(at, sizeof at, "@%s", argv[optind]);
  f.doc = wfc__cli_read_input(at, NULL);
  if (f.doc == NULL)
    return WFC_CLI_FAIL;
  char err[512];
  if (check_doc(f.doc, err, sizeof err) != 0) {
    json_object_put(f.doc);
    return wfc__cli_error("flow %s: %s", argv[optind], err);
  }
  json_object_object_get_ex(f.doc, "steps", &f.steps);
  wfc__cli_host h;
  if (wfc__cli_connmgr_open(&h, store, dir, 1, NULL, &f.m) != 0) {
    json_object_put(f.doc);
    return WFC_CLI_FAIL;
  }
  f.h = &h;
  json_object *trig = NULL;
  int rc = 0;
  if (json_object_object_get_ex(f.doc, "trigger", &trig)) {
    json_object *in = NULL;
    json_object_object_get_ex(trig, "input", &in);
    const char *conn = member(trig, "connection");
    /* The flow's own subscription: its name, else its file's path. */
    char consumer[4200], real[4096];
    const char *name = member(f.doc, "name");
    snprintf(consumer, sizeof consumer, "flow:%s",
             name ? name
                  : (realpath(argv[optind], real) ? real : argv[optind]));
    f.trigger_conn = conn ? conn : member(f.doc, "connection");
    wfc_event_watch_opts o = {.size = sizeof o,
                              .card = member(trig, "card"),
                              .connection = f.trigger_conn,
                              .input = in,
                              .consumer = consumer,
                              .lease_ms =
                                  wfc__cli_sub_lease_ms(f.pace.interval_ms)};
    rc = wfc_event_watch_open(f.m, &o, &f.w, err, sizeof err);
    if (rc == WFC_EKEY)
      wfc__cli_tampered(f.trigger_conn, NULL);
    else if (rc != 0)
      wfc__cli_error("flow %s: trigger: %s", argv[optind], err);
  }
  if (rc == 0) {
    f.pace.on_tick = on_tick;
    f.pace.on_signal = on_signal;
    f.pace.arg = &f;
    wfc__cli_pacer_start(&f.pace, &h.loop);
    if (f.w != NULL)
      poll_now(&f);
    else
      start_run(&f, NULL);
    while ((!f.stop || f.busy) && uv_run(&h.loop, UV_RUN_ONCE) != 0)
      ;
    wfc_event_watch_close(f.w);
    wfc__cli_pacer_close(&f.pace);
  }
  json_object_put(f.batch);
  json_object_put(f.ctx);
  json_object_put(f.skipped);
  json_object_put(f.doc);
  wfc__cli_connmgr_close(&h, f.m);
  return rc == 0 ? f.exit_code : WFC_CLI_FAIL;
}

int wfc__cli_flow(int argc, char **argv) {
  if (argc < 2)
    return wfc__cli_usage(wfc__cli_usage_flow, "flow: missing command");
  if (strcmp(argv[1], "run") == 0)
    return run_cmd(argc - 1, argv + 1);
  return wfc__cli_usage(wfc__cli_usage_flow, "flow: unknown command \"%s\"",
                        argv[1]);
}
