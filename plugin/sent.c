/* sent.c - see sent.h. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "sent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "entry.h"
#include "folders.h"
#include "message.h"
#include "util.h"

#define FIRST_WAIT_MS      250
#define CONFIRM_DEFAULT_MS 15000
#define CONFIRM_MAX_MS     600000

uint32_t o365_sent_confirm_ms(void) {
  const char *v = getenv("O365MAIL_SEND_CONFIRM_MS");
  char *end = NULL;
  if (v == NULL || *v == '\0')
    return CONFIRM_DEFAULT_MS;
  unsigned long n = strtoul(v, &end, 10);
  if (*end != '\0' || n > CONFIRM_MAX_MS) {
    o365_api->log(1,
                  "o365mail: O365MAIL_SEND_CONFIRM_MS=%s is not a number of "
                  "milliseconds up to %d; using %d",
                  v, CONFIRM_MAX_MS, CONFIRM_DEFAULT_MS);
    return CONFIRM_DEFAULT_MS;
  }
  return (uint32_t)n;
}

/* ---- Finding the copy ----------------------------------------------------
 */

typedef struct finder {
  wfc_call *call;
  char *imid;
  int64_t deadline; /* host clock, epoch ms: no look starts after it */
  uint32_t wait;    /* before the next look */
  wfc_timer *timer; /* while waiting */
  o365_sent_found_fn cb;
  void *arg;
} finder;

static void finder_end(finder *f, const o365_graph_res *failed,
                       struct json_object *msg) {
  o365_sent_found_fn cb = f->cb;
  void *arg = f->arg;
  free(f->imid);
  free(f);
  cb(arg, failed, msg);
}

/* Ends f with code, for a failure that has no Graph result. */
static void finder_fail(finder *f, int code, const char *message) {
  o365_graph_res r;
  memset(&r, 0, sizeof r);
  r.error = code;
  r.message = message;
  r.body = "";
  r.retry_after_ms = -1;
  finder_end(f, &r, NULL);
}

static int look(finder *f);

static void on_wait_cancel(void *arg) {
  finder *f = arg;
  o365_api->timer_stop(f->timer);
  f->timer = NULL;
  o365_api->call_on_cancel(f->call, NULL, NULL);
  finder_fail(f, WFC_ECANCELED, "canceled");
}

static void on_wait_over(void *arg) {
  finder *f = arg;
  f->timer = NULL;
  o365_api->call_on_cancel(f->call, NULL, NULL);
  int rc = look(f);
  if (rc != 0)
    finder_fail(f, rc, "the look-up could not start");
}

static void on_looked(void *arg, const o365_graph_res *res) {
  finder *f = arg;
  if (res->error != 0) {
    finder_end(f, res, NULL);
    return;
  }
  struct json_object *value = NULL;
  json_object_object_get_ex(res->json, "value", &value);
  for (size_t i = 0; i < json_object_array_length(value); i++) {
    struct json_object *m = json_object_array_get_idx(value, i), *d = NULL;
    if (json_object_object_get_ex(m, "isDraft", &d) &&
        json_object_get_boolean(d))
      continue; /* a draft (an interrupted run's, or one being sent) */
    finder_end(f, NULL, m);
    return;
  }
  int64_t now = o365_api->now_ms();
  if (now >= f->deadline) {
    finder_end(f, NULL, NULL);
    return;
  }
  uint64_t wait = f->wait;
  if ((int64_t)wait > f->deadline - now)
    wait = (uint64_t)(f->deadline - now);
  f->wait *= 2;
  /* Graph's requests of this call are over (graph.h clears the cancel
   * slot): the wait answers a cancel itself. */
  o365_api->call_on_cancel(f->call, on_wait_cancel, f);
  if (o365_api->timer_start(wait, on_wait_over, f, &f->timer) != 0) {
    o365_api->call_on_cancel(f->call, NULL, NULL);
    finder_fail(f, WFC_ENOMEM, "cannot schedule the next look-up");
  }
}

/* GET {mb}/messages?$filter=internetMessageId eq '<imid>'. */
static int look(finder *f) {
  o365_buf path, filter;
  o365_buf_init(&path);
  o365_buf_init(&filter);
  o365_msg_path(&path, o365_call_mailbox(f->call), NULL, NULL);
  o365_buf_put(&filter, "internetMessageId eq ");
  o365_odata_literal(&filter, f->imid);
  o365_buf_query(&path, "$filter", filter.data ? filter.data : "");
  o365_buf_query(&path, "$select", "id,isDraft,subject,webLink");
  o365_buf_query(&path, "$top", "10");
  o365_graph_opts o = {.path = path.data, .headers = o365_msg_prefer_immutable};
  int rc = path.oom || filter.oom
               ? WFC_ENOMEM
               : o365_graph_send(f->call, &o, on_looked, f, NULL);
  o365_buf_free(&path);
  o365_buf_free(&filter);
  return rc;
}

int o365_sent_find(wfc_call *call, const char *imid, uint32_t window_ms,
                   o365_sent_found_fn cb, void *arg) {
  finder *f = calloc(1, sizeof *f);
  if (f == NULL || (f->imid = strdup(imid)) == NULL) {
    free(f);
    return WFC_ENOMEM;
  }
  f->call = call;
  f->deadline = o365_api->now_ms() + (int64_t)window_ms;
  f->wait = FIRST_WAIT_MS;
  f->cb = cb;
  f->arg = arg;
  int rc = look(f);
  if (rc != 0) {
    free(f->imid);
    free(f);
  }
  return rc;
}

/* ---- Settling an unknown outcome -----------------------------------------
 */

typedef struct settle {
  wfc_call *call;
  o365_graph_res res; /* the failed send, without its borrowed parts */
  char *message;      /* res.message */
  char *what;
  char *imid;
  uint32_t window_ms;
  struct json_object *out; /* owned: the output built so far, or NULL */
  o365_sent_end_fn on_end;
  void *arg;
} settle;

static void settle_end(settle *s, struct json_object *out) {
  if (s->on_end != NULL)
    s->on_end(s->arg, s->call, out);
  free(s->message);
  free(s->what);
  free(s->imid);
  json_object_put(s->out);
  free(s);
}

/* Fails s's call with its send's error and outcome unknown, hint saying
 * why and what to do, then ends s. */
static void settle_fail(settle *s, const char *hint) {
  o365_graph_fail_hint(s->call, &s->res, s->what, hint);
  settle_end(s, NULL);
}

static void settle_unfound(settle *s, const o365_graph_res *failed) {
  char hint[900];
  const char *rerun = "running the card again with the same idempotency_key "
                      "sends it only if it did not go out";
  if (failed != NULL && failed->error == WFC_ECANCELED) {
    s->res.error = WFC_ECANCELED;
    snprintf(hint, sizeof hint,
             "the run was canceled while looking for the message "
             "(Message-ID %s) in the mailbox; %s",
             s->imid, rerun);
  } else if (failed != NULL) {
    snprintf(hint, sizeof hint,
             "Microsoft may have sent the message, and looking for it "
             "(Message-ID %s) in the mailbox failed: %s; it was not sent "
             "again, and %s",
             s->imid, failed->message ? failed->message : "the look-up failed",
             rerun);
  } else {
    snprintf(hint, sizeof hint,
             "no copy of the message (Message-ID %s) was in the mailbox "
             "within %u ms, but Microsoft may have sent it and file the copy "
             "later, so it was not sent again; %s",
             s->imid, (unsigned)s->window_ms, rerun);
  }
  settle_fail(s, hint);
}

static void on_settle_found(void *arg, const o365_graph_res *failed,
                            struct json_object *msg) {
  settle *s = arg;
  if (msg == NULL) {
    settle_unfound(s, failed);
    return;
  }
  /* It went out: this run sent it (so not "deduplicated"). */
  struct json_object *out = NULL;
  if (s->out == NULL || json_object_deep_copy(s->out, &out, NULL) != 0 ||
      out == NULL)
    out = json_object_new_object();
  json_object_object_add(out, "sent", json_object_new_boolean(1));
  const char *id = o365_json_str(msg, "id");
  if (id != NULL)
    o365_json_add_str(out, "id", id);
  o365_json_add_str(out, "internet_message_id", s->imid);
  const char *subject = o365_json_str(msg, "subject");
  if (subject != NULL)
    o365_json_add_str(out, "subject", subject);
  const char *link = o365_json_str(msg, "webLink");
  if (link != NULL)
    o365_json_add_str(out, "web_link", link);
  o365_api->log(2,
                "o365mail: %s: the answer was lost, but the message "
                "(Message-ID %s) is in the mailbox: sent",
                s->what, s->imid);
  o365_api->call_done(s->call, json_object_get(out));
  settle_end(s, out);
  json_object_put(out);
}

void o365_sent_settle(wfc_call *call, const char *imid,
                      const o365_graph_res *failed, const char *what,
                      struct json_object *out, o365_sent_end_fn on_end,
                      void *arg) {
  settle *s = calloc(1, sizeof *s);
  if (s == NULL) {
    o365_graph_fail(call, failed, what);
    if (on_end != NULL)
      on_end(arg, call, NULL);
    return;
  }
  s->call = call;
  s->res = *failed;
  s->res.http = NULL;
  s->res.json = NULL;
  s->res.next_link = NULL;
  s->res.body = "";
  s->res.body_len = 0;
  s->message = strdup(failed->message ? failed->message : "");
  s->res.message = s->message;
  s->what = strdup(what);
  s->imid = imid != NULL ? strdup(imid) : NULL;
  s->out = out != NULL ? json_object_get(out) : NULL;
  s->on_end = on_end;
  s->arg = arg;
  if (s->message == NULL || s->what == NULL || (imid != NULL && !s->imid)) {
    s->res.message = failed->message;
    o365_graph_fail(call, &s->res, what);
    settle_end(s, NULL);
    return;
  }
  if (imid == NULL) {
    settle_fail(s, "Microsoft may have sent the message, so it was not "
                   "sent again; look in Sent Items before running the card "
                   "again; with an idempotency_key a rerun sends only what "
                   "did not go out");
    return;
  }
  s->window_ms = o365_sent_confirm_ms();
  int rc = o365_sent_find(call, imid, s->window_ms, on_settle_found, s);
  if (rc != 0) {
    o365_graph_res r;
    memset(&r, 0, sizeof r);
    r.error = rc;
    r.message = "the look-up could not start";
    settle_unfound(s, &r);
  }
}
