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
#include "setting.h"
#include "util.h"

#define FIRST_WAIT_MS      250
#define CONFIRM_DEFAULT_MS 15000
#define CONFIRM_MAX_MS     600000

uint32_t o365_sent_confirm_ms(void) {
  char *v = o365_setting("send_confirm_ms");
  char *end = NULL;
  if (v == NULL)
    return CONFIRM_DEFAULT_MS;
  unsigned long n = strtoul(v, &end, 10);
  if (*end != '\0' || n > CONFIRM_MAX_MS) {
    o365_api->log(1,
                  "o365mail: setting send_confirm_ms "
                  "(O365MAIL_SEND_CONFIRM_MS) %s is not a number of "
                  "milliseconds up to %d; using %d",
                  v, CONFIRM_MAX_MS, CONFIRM_DEFAULT_MS);
    o365_setting_free(v);
    return CONFIRM_DEFAULT_MS;
  }
  o365_setting_free(v);
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
  o365_graph_res_local(&r, code, message);
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

/* GET {mb}/messages?$filter=internetMessageId eq '<imid>'&$select=
 * select&$top=top: every message with the marker, in any folder, drafts
 * included (Graph filters on both properties; the one query answers both
 * "was it sent?" and "which drafts did earlier runs leave?"). */
static int marker_get(wfc_call *call, const char *imid, const char *select,
                      const char *top, o365_graph_cb cb, void *arg) {
  o365_buf path, filter;
  o365_buf_init(&path);
  o365_buf_init(&filter);
  o365_msg_path(&path, o365_call_mailbox(call), NULL, NULL);
  o365_buf_put(&filter, "internetMessageId eq ");
  o365_odata_literal(&filter, imid);
  o365_buf_query(&path, "$filter", filter.data ? filter.data : "");
  o365_buf_query(&path, "$select", select);
  o365_buf_query(&path, "$top", top);
  o365_graph_opts o = {.path = path.data, .headers = o365_msg_prefer_immutable};
  int rc = path.oom || filter.oom ? WFC_ENOMEM
                                  : o365_graph_send(call, &o, cb, arg, NULL);
  o365_buf_free(&path);
  o365_buf_free(&filter);
  return rc;
}

static int look(finder *f) {
  return marker_get(f->call, f->imid, "id,isDraft,subject,webLink", "10",
                    on_looked, f);
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

/* ---- The keyed send's first look, and its earlier drafts ------------------
 */

/* Drafts looked at in one run: Graph's largest page is 1000; a key's
 * drafts are removed at every run, so more than a few never pile up. */
#define CHECK_TOP "100"

typedef struct check {
  wfc_call *call;
  char *imid;
  struct json_object *sent;   /* owned: the first non-draft, or NULL */
  struct json_object *drafts; /* owned: [{"id","@odata.etag"}...] */
  size_t next;                /* index of the draft to delete next */
  size_t removed;
  char *changed; /* id of a draft that changed since the look (412) */
  o365_sent_found_fn cb;
  void *arg;
} check;

static void check_end(check *c, const o365_graph_res *failed,
                      struct json_object *msg) {
  o365_sent_found_fn cb = c->cb;
  void *arg = c->arg;
  json_object_get(msg); /* msg may be c->sent, freed below */
  if (c->removed > 0)
    o365_api->log(2,
                  "o365mail: removed %zu draft(s) that earlier runs with this "
                  "idempotency key left (Message-ID %s)",
                  c->removed, c->imid);
  free(c->imid);
  free(c->changed);
  json_object_put(c->sent);
  json_object_put(c->drafts);
  free(c);
  cb(arg, failed, msg);
  json_object_put(msg);
}

/* Ends c with a failure that has no Graph result of its own. */
static void check_fail(check *c, int code, const char *message) {
  o365_graph_res r;
  o365_graph_res_local(&r, code, message);
  check_end(c, &r, NULL);
}

static void delete_next(check *c);

static void on_relooked(void *arg, const o365_graph_res *failed,
                        struct json_object *msg) {
  check *c = arg;
  if (failed != NULL || msg != NULL) {
    check_end(c, failed, msg);
    return;
  }
  char why[600];
  snprintf(why, sizeof why,
           "another run with the same idempotency_key is sending this message "
           "now: its draft (draft_id %.200s) changed while this run was "
           "removing the drafts of earlier runs, and the message is not in "
           "the mailbox yet; nothing was sent by this run (run it again "
           "later: it sends the message only if that run did not)",
           c->changed);
  check_fail(c, WFC_EBUSY, why);
}

/* Every draft was looked at: report, or look once more when one had
 * changed (another run attaching to it or sending it). */
static void check_done(check *c) {
  if (c->changed == NULL || c->sent != NULL) {
    check_end(c, NULL, c->sent);
    return;
  }
  int rc = o365_sent_find(c->call, c->imid, 0, on_relooked, c);
  if (rc != 0)
    check_fail(c, rc, "the second look-up could not start");
}

static void on_deleted(void *arg, const o365_graph_res *res) {
  check *c = arg;
  struct json_object *d = json_object_array_get_idx(c->drafts, c->next);
  const char *id = o365_json_str(d, "id");
  c->next++;
  if (res->error == 0 || res->status == 404 ||
      strcmp(res->gerr.code, "ErrorCannotDeleteObject") == 0) {
    /* Gone now (an immutable id that is gone answers 403
     * ErrorCannotDeleteObject rather than 404). */
    c->removed += res->error == 0;
  } else if (res->status == 412) {
    if (c->changed == NULL)
      c->changed = strdup(id ? id : "");
  } else if (res->error == WFC_ECANCELED) {
    check_end(c, res, NULL);
    return;
  } else {
    /* Left for a later run: the send itself matters more than a draft. */
    o365_api->log(1,
                  "o365mail: could not remove the draft %s that an earlier "
                  "run with this idempotency key left: %s",
                  id ? id : "?", res->message ? res->message : "");
  }
  delete_next(c);
}

/* DELETE {mb}/messages/{id} with If-Match: the draft's entity tag as the
 * look saw it, so that a draft that changed since (another run with the
 * key attaching to it or sending it: the tag changes) is left alone (412).
 * A send already in Graph's hands is then found by its marker. */
static void delete_next(check *c) {
  while (c->next < json_object_array_length(c->drafts)) {
    struct json_object *d = json_object_array_get_idx(c->drafts, c->next);
    const char *etag = o365_json_str(d, "@odata.etag");
    o365_buf path, im;
    o365_buf_init(&path);
    o365_buf_init(&im);
    o365_msg_path(&path, o365_call_mailbox(c->call), o365_json_str(d, "id"),
                  NULL);
    o365_buf_printf(&im, "If-Match: %s", etag);
    const char *headers[] = {o365_msg_prefer_immutable[0], im.data, NULL};
    o365_graph_opts o = {
        .method = "DELETE", .path = path.data, .headers = headers};
    int rc = path.oom || im.oom
                 ? WFC_ENOMEM
                 : o365_graph_send(c->call, &o, on_deleted, c, NULL);
    o365_buf_free(&path);
    o365_buf_free(&im);
    if (rc == 0)
      return;
    o365_api->log(1, "o365mail: could not start removing an earlier draft");
    c->next++;
  }
  check_done(c);
}

static void on_checked(void *arg, const o365_graph_res *res) {
  check *c = arg;
  if (res->error != 0) {
    check_end(c, res, NULL);
    return;
  }
  struct json_object *value = NULL;
  json_object_object_get_ex(res->json, "value", &value);
  for (size_t i = 0; i < json_object_array_length(value); i++) {
    struct json_object *m = json_object_array_get_idx(value, i), *v = NULL;
    if (!json_object_object_get_ex(m, "isDraft", &v) ||
        !json_object_get_boolean(v)) {
      if (c->sent == NULL)
        c->sent = json_object_get(m);
      continue;
    }
    /* A draft: deleted only with its entity tag (never blindly). */
    const char *id = o365_json_str(m, "id");
    const char *etag = o365_json_str(m, "@odata.etag");
    const char *ck = o365_json_str(m, "changeKey");
    char tag[300];
    if (etag == NULL && ck != NULL) {
      snprintf(tag, sizeof tag, "W/\"%s\"", ck);
      etag = tag;
    }
    if (id == NULL || etag == NULL || strpbrk(etag, "\r\n") != NULL)
      continue;
    struct json_object *d = json_object_new_object();
    o365_json_add_str(d, "id", id);
    o365_json_add_str(d, "@odata.etag", etag);
    json_object_array_add(c->drafts, d);
  }
  delete_next(c);
}

int o365_sent_check(wfc_call *call, const char *imid, o365_sent_found_fn cb,
                    void *arg) {
  check *c = calloc(1, sizeof *c);
  if (c == NULL || (c->imid = strdup(imid)) == NULL ||
      (c->drafts = json_object_new_array()) == NULL) {
    if (c != NULL)
      free(c->imid);
    free(c);
    return WFC_ENOMEM;
  }
  c->call = call;
  c->cb = cb;
  c->arg = arg;
  int rc = marker_get(call, imid, "id,isDraft,subject,webLink,changeKey",
                      CHECK_TOP, on_checked, c);
  if (rc != 0) {
    json_object_put(c->drafts);
    free(c->imid);
    free(c);
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
  O365_JSON_ADD(out, "sent", json_object_new_boolean(1));
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
    o365_graph_res_local(&r, rc, "the look-up could not start");
    settle_unfound(s, &r);
  }
}
