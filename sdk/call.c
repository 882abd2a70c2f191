/* call.c - the wfc_call object: start, completion exactly once, deferred
 * delivery, cancellation, streaming and progress. */
#define _GNU_SOURCE /* vasprintf, <uv.h>, strdup */
#include "call.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "json.h"
#include "log.h"
#include "validate.h"

#define CALL_LIVE 0x43414c4cu /* "CALL" */
#define CALL_DEAD 0x44454144u /* "DEAD" */

enum { ST_QUEUED = 1, ST_RUNNING = 2, ST_COMPLETED = 3 };
enum { OP_START = 1u, OP_CANCEL = 2u, OP_DELIVER = 4u };

struct wfc_call {
  uint32_t magic;
  int state;
  wfc_runtime *rt;
  wfc__call_spec spec;
  char label[160];
  uint64_t seq; /* this process's calls in start order, from 1 */

  struct json_object *input; /* normalized input, owned */
  wfc_conn *conn;            /* a reference, or NULL */
  char *checkpoint;          /* owned copy, or NULL */
  wfc_invoke how;

  int in_start;      /* inside spec.fn() */
  int abandoned;     /* delivered without its plugin's completion */
  int canceled;      /* wfc_call_cancel was called */
  int consumer_done; /* on_item asked for no more */
  int text_lists;    /* list_new gave a list kept as text */
  void (*cancel_cb)(void *arg);
  void *cancel_arg;

  unsigned ops; /* pending OP_* for the idle pass */
  int queued;   /* in rt's queue */
  struct wfc_call *qnext;
  struct wfc_call *prev, *next; /* rt->live */

  /* The outcome, once completed. */
  int status;
  char *message;
  struct json_object *output;
  struct json_object *detail;
};

/* ---- Quarantine of delivered calls --------------------------------------- */

/* A plugin keeping a call pointer after completing it is a bug we want to
 * report, not a use-after-free: the last QUARANTINE shells stay allocated,
 * marked dead. */
#define QUARANTINE 256
static struct wfc_call *quarantine[QUARANTINE];
static size_t quarantine_pos;

static void quarantine_push(struct wfc_call *c) {
  c->magic = CALL_DEAD;
  free(quarantine[quarantine_pos]);
  quarantine[quarantine_pos] = c;
  quarantine_pos = (quarantine_pos + 1) % QUARANTINE;
}

/* Shells of abandoned calls: their plugin may still complete them, so they
 * are never freed (a static list keeps them reachable). */
static struct wfc_call *abandoned_calls;

void wfc__call_quarantine_flush(void) {
  for (size_t i = 0; i < QUARANTINE; i++) {
    free(quarantine[i]);
    quarantine[i] = NULL;
  }
  quarantine_pos = 0;
}

/* ---- Helpers ------------------------------------------------------------- */

static void plugin_bug(struct wfc_call *c, const char *what) {
  if (c != NULL && c->rt != NULL)
    c->rt->stats.plugin_bugs++;
  else if (wfc__runtime_current() != NULL)
    wfc__runtime_current()->stats.plugin_bugs++;
  if (c != NULL)
    wfc__log(WFC_LOG_ERROR, "plugin bug in %s: %s", c->label, what);
  else
    wfc__log(WFC_LOG_ERROR, "plugin bug: %s", what);
}

/* Is c a call the plugin may still use? Logs the bug otherwise. */
static int usable(struct wfc_call *c, const char *what) {
  if (c == NULL) {
    plugin_bug(NULL, what);
    return 0;
  }
  if (c->magic == CALL_DEAD) {
    char m[128];
    snprintf(m, sizeof m, "%s on a call already delivered; ignored", what);
    plugin_bug(c, m);
    return 0;
  }
  if (c->magic != CALL_LIVE) {
    plugin_bug(NULL, "call services used with an invalid call pointer");
    return 0;
  }
  return 1;
}

static void enqueue(struct wfc_call *c, unsigned op) {
  wfc_runtime *rt = c->rt;
  c->ops |= op;
  if (!c->queued) {
    c->queued = 1;
    c->qnext = NULL;
    if (rt->queue_tail)
      rt->queue_tail->qnext = c;
    else
      rt->queue_head = c;
    rt->queue_tail = c;
  }
  wfc__runtime_kick(rt);
}

/* Records the outcome (taking output and detail) and schedules delivery. */
static void complete(struct wfc_call *c, int status, char *message,
                     struct json_object *output, struct json_object *detail) {
  c->state = ST_COMPLETED;
  c->status = status;
  c->message = message;
  c->output = output;
  c->detail = detail;
  enqueue(c, OP_DELIVER);
}

static char *fmt_message(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
static char *fmt_message(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0)
    s = NULL;
  va_end(ap);
  return s;
}

/* ---- Start --------------------------------------------------------------- */

int wfc__call_start(wfc_runtime *rt, const wfc__call_spec *spec,
                    struct json_object *input, const wfc_invoke *how,
                    struct wfc_call **out) {
  if (how == NULL || how->on_done == NULL || spec->fn == NULL)
    return WFC_EINVAL;
  struct wfc_call *c = calloc(1, sizeof *c);
  if (c == NULL)
    return WFC_ENOMEM;
  static _Atomic uint64_t next_seq;
  c->magic = CALL_LIVE;
  c->seq = ++next_seq;
  c->state = ST_QUEUED;
  c->rt = rt;
  c->spec = *spec;
  size_t ln = strnlen(spec->label, sizeof c->label - 1); /* cut as before */
  memcpy(c->label, spec->label, ln);
  c->label[ln] = '\0';
  c->spec.label = c->label;
  memcpy(&c->how, how,
         how->size && how->size < sizeof c->how ? how->size : sizeof c->how);
  /* Members read from the copy: an older caller's struct may be shorter. */
  if (c->how.checkpoint != NULL &&
      (c->checkpoint = strdup(c->how.checkpoint)) == NULL) {
    free(c);
    return WFC_ENOMEM;
  }
  if (c->how.conn != NULL)
    c->conn = wfc__conn_ref(c->how.conn);

  /* Link first: from here on the call is delivered exactly once. */
  c->next = rt->live;
  if (rt->live)
    rt->live->prev = c;
  rt->live = c;
  spec->plugin->in_flight++;
  rt->stats.calls_started++;
  rt->stats.calls_in_flight++;

  char err[512];
  struct json_object *norm = NULL;
  if (spec->validate) {
    int rc = wfc__validate_at(spec->in_schema, input,
                              spec->in_root ? spec->in_root : "input", &norm,
                              err, sizeof err);
    if (rc != 0) {
      complete(c, rc, fmt_message("%s: %s", c->label, err), NULL, NULL);
      goto started;
    }
  } else {
    norm = input ? json_object_get(input) : json_object_new_object();
  }
  c->input = norm;
  enqueue(c, OP_START);
started:
  if (out != NULL)
    *out = c;
  return 0;
}

/* ---- The idle pass ------------------------------------------------------- */

static void check_output(struct wfc_call *c) {
  if (c->status != 0)
    return;
  char err[512] = "";
  int bad = 0;
  if (c->spec.is_event) {
    struct json_object *ev, *cp;
    if (!json_object_object_get_ex(c->output, "events", &ev) ||
        !json_object_is_type(ev, json_type_array)) {
      snprintf(err, sizeof err, "output.events: expected a list");
      bad = 1;
    } else if (json_object_object_get_ex(c->output, "checkpoint", &cp) &&
               !json_object_is_type(cp, json_type_string) &&
               !json_object_is_type(cp, json_type_null)) {
      snprintf(err, sizeof err, "output.checkpoint: expected a string");
      bad = 1;
    }
  } else if (c->spec.check_out) {
    /* Only checked: the normalised copy was built and thrown away. */
    if (wfc__validate_check(c->spec.out_schema, c->output, "output", err,
                            sizeof err) != 0)
      bad = 1;
  }
  if (!bad)
    return;
  char m[700];
  snprintf(m, sizeof m, "output does not match its schema (%s); the call fails",
           err);
  plugin_bug(c, m);
  json_object_put(c->output);
  c->output = NULL;
  c->status = WFC_EPROTO;
  free(c->message);
  c->message =
      fmt_message("%s: output does not match its schema: %s", c->label, err);
}

/* Outputs checked against their schema are read as trees: the lists kept
 * as text become arrays first (the consumer's copy is then a tree too). */
static void expand_for_check(struct wfc_call *c) {
  if (c->status != 0 || !c->text_lists ||
      !(c->spec.check_out || c->spec.is_event))
    return;
  int rc = wfc__json_list_expand(c->output);
  if (rc == 0)
    return;
  json_object_put(c->output);
  c->output = NULL;
  c->status = rc;
  c->message = fmt_message("%s: its output's lists could not be read back: %s",
                           c->label, wfc_strerror(rc));
}

static void deliver(struct wfc_call *c) {
  wfc_runtime *rt = c->rt;
  if (c->status == 0 && c->output == NULL)
    c->output = json_object_new_object();
  expand_for_check(c);
  check_output(c);
  if (c->status != 0 && c->message == NULL)
    c->message = fmt_message("%s: %s", c->label, wfc_strerror(c->status));
  wfc_outcome o = {
      c->status, c->status ? (c->message ? c->message : "out of memory") : NULL,
      c->status ? NULL : c->output, c->detail};
  c->how.on_done(c->how.arg, c, &o);

  if (c->prev)
    c->prev->next = c->next;
  else
    rt->live = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->spec.plugin->in_flight--;
  rt->stats.calls_in_flight--;
  rt->stats.calls_completed++;
  json_object_put(c->input);
  json_object_put(c->output);
  json_object_put(c->detail);
  free(c->message);
  free(c->checkpoint);
  if (c->conn)
    wfc_conn_release(c->conn);
  c->input = c->output = c->detail = NULL;
  c->message = c->checkpoint = NULL;
  c->conn = NULL;
  if (c->abandoned) {
    c->magic = CALL_DEAD;
    c->qnext = abandoned_calls;
    c->rt = NULL; /* the shell outlives the runtime */
    abandoned_calls = c;
  } else {
    quarantine_push(c);
  }
  wfc__runtime_call_gone(rt);
}

static void run_start(struct wfc_call *c) {
  if (c->canceled) {
    /* Canceled before the hook ran: the plugin never sees it. */
    complete(c, WFC_ECANCELED,
             fmt_message("%s: %s", c->label, wfc_strerror(WFC_ECANCELED)), NULL,
             NULL);
    return;
  }
  c->state = ST_RUNNING;
  c->in_start = 1;
  int rc = c->spec.fn(c);
  c->in_start = 0;
  if (rc >= 0)
    return;
  if (c->state == ST_COMPLETED) {
    /* It completed and then also returned an error: the contract says the
     * error wins and the completion must not have happened. */
    plugin_bug(c, "hook completed its call and returned an error; the error "
                  "is reported");
    json_object_put(c->output);
    json_object_put(c->detail);
    free(c->message);
    c->output = c->detail = NULL;
    c->message = NULL;
    c->status = rc;
    c->message = fmt_message("%s: %s", c->label, wfc_strerror(rc));
    return; /* delivery is already queued */
  }
  complete(c, rc, fmt_message("%s: %s", c->label, wfc_strerror(rc)), NULL,
           NULL);
}

void wfc__call_run_queue(wfc_runtime *rt) {
  /* Only what was queued before this pass: work queued now (a completion
   * inside a hook) waits for the next loop iteration. */
  struct wfc_call *c = rt->queue_head;
  rt->queue_head = rt->queue_tail = NULL;
  while (c != NULL) {
    struct wfc_call *next = c->qnext;
    unsigned ops = c->ops;
    c->ops = 0;
    c->queued = 0;
    if ((ops & OP_START) && c->state == ST_QUEUED)
      run_start(c);
    if ((ops & OP_CANCEL) && c->state == ST_RUNNING && c->cancel_cb)
      c->cancel_cb(c->cancel_arg);
    if (ops & OP_DELIVER) {
      if (c->queued) {
        /* Re-queued during this pass (e.g. started and completed just
         * now): it is delivered on the next pass. */
        c->ops |= OP_DELIVER;
      } else {
        deliver(c);
      }
    }
    c = next;
  }
}

/* ---- Host services ------------------------------------------------------- */

struct json_object *wfc__call_input(wfc_call *c) {
  return usable(c, "call_input") ? c->input : NULL;
}

uint64_t wfc__call_seq(wfc_call *c) {
  return c != NULL ? c->seq : 0;
}

wfc_conn *wfc__call_conn(wfc_call *c) {
  return usable(c, "call_conn") ? c->conn : NULL;
}

const char *wfc__call_checkpoint(wfc_call *c) {
  return usable(c, "call_checkpoint") ? c->checkpoint : NULL;
}

void wfc__call_on_cancel(wfc_call *c, void (*cb)(void *arg), void *arg) {
  if (!usable(c, "call_on_cancel"))
    return;
  c->cancel_cb = cb;
  c->cancel_arg = arg;
  if (cb != NULL && c->canceled && c->state == ST_RUNNING)
    enqueue(c, OP_CANCEL);
}

void wfc__call_done(wfc_call *c, struct json_object *output) {
  if (!usable(c, "call_done")) {
    json_object_put(output);
    return;
  }
  if (c->state == ST_COMPLETED) {
    plugin_bug(c, "call completed twice (call_done); ignored");
    json_object_put(output);
    return;
  }
  complete(c, 0, NULL, output, NULL);
}

void wfc__call_failv(wfc_call *c, int code, struct json_object *detail,
                     const char *fmt, va_list ap) {
  if (!usable(c, "call_fail")) {
    json_object_put(detail);
    return;
  }
  if (c->state == ST_COMPLETED) {
    plugin_bug(c, "call completed twice (call_fail); ignored");
    json_object_put(detail);
    return;
  }
  if (code >= 0) {
    plugin_bug(c, "call_fail with a non-negative code; ignored");
    code = WFC_EIO;
  }
  char *msg = NULL;
  if (fmt != NULL && vasprintf(&msg, fmt, ap) < 0)
    msg = NULL;
  if (msg != NULL)
    for (char *p = msg; *p; p++)
      if (*p == '\r' || *p == '\n')
        *p = ' ';
  char *full = msg ? fmt_message("%s: %s", c->label, msg)
                   : fmt_message("%s: %s", c->label, wfc_strerror(code));
  free(msg);
  complete(c, code, full, NULL, detail);
}

int wfc__call_emit(wfc_call *c, struct json_object *item) {
  if (!usable(c, "call_emit")) {
    json_object_put(item);
    return WFC_ESTATE;
  }
  if (c->state == ST_COMPLETED) {
    plugin_bug(c, "call_emit after completion; ignored");
    json_object_put(item);
    return WFC_ESTATE;
  }
  if (c->canceled || c->consumer_done) {
    json_object_put(item);
    return WFC_ECANCELED;
  }
  int rc = 0;
  if (c->how.on_item != NULL && c->how.on_item(c->how.arg, c, item) != 0) {
    c->consumer_done = 1;
    rc = WFC_ECANCELED;
  }
  json_object_put(item);
  return rc;
}

struct json_object *wfc__call_list_new(wfc_call *c) {
  if (!usable(c, "list_new"))
    return NULL;
  if (!(c->how.flags & WFC_INVOKE_TEXT_LISTS))
    return json_object_new_array();
  struct json_object *l = wfc__json_list_new();
  if (l != NULL)
    c->text_lists = 1;
  return l;
}

void wfc__call_progress(wfc_call *c, uint64_t done, uint64_t total) {
  if (!usable(c, "call_progress") || c->state == ST_COMPLETED)
    return;
  if (c->how.on_progress != NULL)
    c->how.on_progress(c->how.arg, c, done, total);
}

/* ---- Public -------------------------------------------------------------- */

void wfc_call_cancel(wfc_call *c) {
  if (c == NULL || c->magic != CALL_LIVE || c->canceled ||
      c->state == ST_COMPLETED)
    return;
  c->canceled = 1;
  if (c->state == ST_QUEUED) {
    c->ops &= ~OP_START;
    complete(c, WFC_ECANCELED,
             fmt_message("%s: %s", c->label, wfc_strerror(WFC_ECANCELED)), NULL,
             NULL);
  } else if (c->cancel_cb != NULL) {
    enqueue(c, OP_CANCEL);
  }
}

void wfc__call_cancel_all(wfc_runtime *rt) {
  for (struct wfc_call *c = rt->live; c != NULL; c = c->next)
    wfc_call_cancel(c);
}

void wfc__call_abandon_all(wfc_runtime *rt, uint32_t waited_ms) {
  for (struct wfc_call *c = rt->live; c != NULL; c = c->next) {
    if (c->state == ST_COMPLETED)
      continue; /* completed, delivery queued */
    char m[160];
    snprintf(m, sizeof m,
             "call still running %u ms after cancel at shutdown; abandoned",
             (unsigned)waited_ms);
    plugin_bug(c, m);
    c->abandoned = 1;
    c->spec.plugin->abandoned = 1;
    c->ops &= ~OP_START;
    complete(c, WFC_ECANCELED,
             fmt_message("%s: did not stop when canceled; abandoned", c->label),
             NULL, NULL);
  }
}

int wfc_output_write(FILE *f, struct json_object *output, int pretty) {
  return f != NULL ? wfc__json_write(f, output, pretty != 0) : WFC_EINVAL;
}

int wfc_output_expand(struct json_object *output) {
  return wfc__json_list_expand(output);
}
