/* trigger.c - see trigger.h. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "trigger.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "attachall.h"
#include "config.h"
#include "entry.h"
#include "folders.h"

static void trigger_free(o365_trigger *t) {
  if (t->card->cleanup != NULL)
    t->card->cleanup(t);
  json_object_put(t->cp);
  json_object_put(t->attach_events);
  free(t->link);
  free(t);
}

/* The poll's output: events (transferred) and the checkpoint; frees t. */
static void emit(o365_trigger *t, json_object *events) {
  if (t->link != NULL)
    O365_JSON_ADD(t->cp, "link", json_object_new_string(t->link));
  json_object *out = json_object_new_object();
  O365_JSON_ADD(out, "events", events);
  O365_JSON_ADD(
      out, "checkpoint",
      json_object_new_string(json_object_to_json_string_ext(
          t->cp, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)));
  o365_api->call_done(t->call, out);
  trigger_free(t);
}

static void attach_next(o365_trigger *t);

static void on_attachments(void *arg, int status, json_object *list,
                           const char *error) {
  o365_trigger *t = arg;
  if (status != 0) {
    /* The poll fails and the checkpoint stays: the next poll tries again
     * (blobs made so far stay in the store, unreferenced). */
    o365_trigger_fail(t, status, "%s: the attachments of a message: %s",
                      t->card->id, error);
    return;
  }
  O365_JSON_ADD(json_object_array_get_idx(t->attach_events, t->attach_next),
                "attachments", json_object_get(list));
  t->attach_next++;
  attach_next(t);
}

/* include_attachments: each event with attachments gets them, one
 * message at a time (the per-mailbox concurrency stays the card's), then
 * the poll's output. */
static void attach_next(o365_trigger *t) {
  for (; t->attach_next < json_object_array_length(t->attach_events);
       t->attach_next++) {
    json_object *ev =
        json_object_array_get_idx(t->attach_events, t->attach_next);
    json_object *has;
    if (!json_object_object_get_ex(ev, "has_attachments", &has) ||
        !json_object_get_boolean(has))
      continue;
    int rc = o365_attach_all(t->call, o365_call_mailbox(t->call),
                             o365_json_str(ev, "id"), on_attachments, t);
    if (rc != 0)
      o365_trigger_fail(t, rc, "%s: downloading attachments could not start",
                        t->card->id);
    return;
  }
  json_object *events = t->attach_events;
  t->attach_events = NULL;
  emit(t, events);
}

void o365_trigger_finish(o365_trigger *t, json_object *events) {
  json_object *inc = NULL;
  if (json_object_object_get_ex(o365_api->call_input(t->call),
                                "include_attachments", &inc) &&
      json_object_get_boolean(inc)) {
    t->attach_events = events;
    t->attach_next = 0;
    attach_next(t);
    return;
  }
  emit(t, events);
}

void o365_trigger_fail(o365_trigger *t, int status, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  o365_api->call_fail(t->call, status, NULL, "%s", msg);
  trigger_free(t);
}

static int start_round(o365_trigger *t, const char *link);

/* Starts the round over from the card's first request; logs why. */
static int restart(o365_trigger *t, const char *why) {
  char note[256] = "";
  t->card->resync_note(t, note, sizeof note);
  o365_api->log(1, "%s: %s; %s", t->card->id, why, note);
  t->resync = 1;
  return start_round(t, NULL);
}

static void on_round(void *arg, const o365_delta_res *res) {
  o365_trigger *t = arg;
  if (res->error != 0 && res->expired && !t->resync) {
    char why[160];
    snprintf(why, sizeof why, "the delta link expired (%s)", res->reason);
    int rc = restart(t, why);
    if (rc != 0)
      o365_trigger_fail(t, rc, "%s: resync failed", t->card->id);
    return;
  }
  if (res->error != 0) {
    char what[96];
    snprintf(what, sizeof what, "polling for %s failed", t->card->what);
    if (res->graph != NULL) {
      o365_graph_fail(t->call, res->graph, what);
      trigger_free(t);
    } else {
      o365_trigger_fail(t, res->error, "%s: %s", what,
                        res->message ? res->message : "error");
    }
    return;
  }
  t->link = strdup(res->link);
  if (t->link == NULL) {
    o365_trigger_fail(t, WFC_ENOMEM, "%s: out of memory", t->card->id);
    return;
  }
  t->card->round(t, res);
}

/* Immutable ids: an id stays the same when the message moves, so the
 * host's dedupe by id holds, and action cards accept it. One Prefer
 * header with both preferences (RFC 7240 allows a list). */
static void prefer_header(o365_trigger *t, char *buf, size_t n) {
  int64_t page = 50;
  o365_json_int64(o365_api->call_input(t->call), "page_size", &page);
  snprintf(buf, n, "Prefer: IdType=\"ImmutableId\", odata.maxpagesize=%lld",
           (long long)page);
}

/* A round's own first request: the watched folder's messages (tail: the
 * collection under it) with the card's query, appended to path (borrowed,
 * possibly holding a version base already). */
static void folder_request(o365_trigger *t, o365_buf *path, const char *tail) {
  o365_graph_mailbox(path, o365_call_mailbox(t->call));
  o365_buf_seg(path, "mailFolders");
  o365_buf_seg(path, o365_json_str(t->cp, "folder"));
  o365_buf_put(path, tail);
  t->card->request(t, path);
}

/* A page of a list round: the card's round hook sees it as a round. */
static void on_list_page(void *arg, const o365_graph_res *res) {
  o365_trigger *t = arg;
  if (res->error != 0) {
    char what[96];
    snprintf(what, sizeof what, "polling for %s failed", t->card->what);
    o365_graph_fail(t->call, res, what);
    trigger_free(t);
    return;
  }
  struct json_object *items = NULL;
  if (!json_object_object_get_ex(res->json, "value", &items) ||
      !json_object_is_type(items, json_type_array)) {
    o365_trigger_fail(t, WFC_EPROTO,
                      "polling for %s failed: Graph's answer has no "
                      "\"value\" list",
                      t->card->what);
    return;
  }
  o365_delta_res d = {.items = items,
                      .pages = 1,
                      .link = res->next_link,
                      .complete = res->next_link == NULL};
  t->card->round(t, &d);
}

/* A list round's page: the card's request on card->list_version (link
 * NULL) or a nextLink Graph gave. */
static int start_list(o365_trigger *t, const char *link) {
  char prefer[96];
  prefer_header(t, prefer, sizeof prefer);
  const char *headers[] = {prefer, NULL};
  o365_buf path;
  o365_buf_init(&path);
  if (link != NULL) {
    o365_buf_put(&path, link);
  } else {
    o365_config cfg;
    char base[512], err[256];
    int rc = o365_config_endpoints(
        o365_api->conn_params(o365_api->call_conn(t->call)), &cfg, err,
        sizeof err);
    if (rc == 0)
      rc = o365_config_graph_version(&cfg, t->card->list_version, base,
                                     sizeof base, err, sizeof err);
    o365_config_clear(&cfg);
    if (rc != 0) {
      o365_api->log(0, "%s: %s", t->card->id, err);
      o365_buf_free(&path);
      return rc;
    }
    o365_buf_put(&path, base);
    folder_request(t, &path, "/messages");
  }
  int rc = WFC_ENOMEM;
  if (!path.oom) {
    o365_graph_opts o = {.path = path.data, .headers = headers};
    rc = o365_graph_send(t->call, &o, on_list_page, t, NULL);
  }
  o365_buf_free(&path);
  return rc;
}

static void list_go_on(o365_trigger *t, const char *link) {
  int rc = start_list(t, link);
  if (rc != 0)
    o365_trigger_fail(t, rc, "%s: the next page could not be requested",
                      t->card->id);
}

void o365_trigger_next(o365_trigger *t) {
  list_go_on(t, NULL);
}

void o365_trigger_follow(o365_trigger *t, const char *link) {
  list_go_on(t, link);
}

/* The first request of a round (link NULL: the card's own, from its
 * watermark or the whole folder) or a link Graph gave. */
static int start_round(o365_trigger *t, const char *link) {
  if (t->card->list_version != NULL)
    return start_list(t, link);
  struct json_object *in = o365_api->call_input(t->call);
  int64_t max = 500;
  o365_json_int64(in, "max_events", &max);
  char prefer[96];
  prefer_header(t, prefer, sizeof prefer);
  const char *headers[] = {prefer, NULL};
  o365_buf path;
  o365_buf_init(&path);
  if (link != NULL) {
    o365_buf_put(&path, link);
  } else {
    folder_request(t, &path, "/messages/delta");
  }
  int rc = WFC_ENOMEM;
  if (!path.oom) {
    o365_delta_opts o = {
        .path = path.data,
        .headers = headers,
        .max_items = link == NULL && t->card->whole_first ? 0 : (size_t)max};
    rc = o365_delta_run(t->call, &o, on_round, t);
  }
  o365_buf_free(&path);
  return rc;
}

static void on_folder(void *arg, int status, const char *folder_id,
                      const char *error) {
  o365_trigger *t = arg;
  if (status != 0) {
    o365_trigger_fail(t, status, "folder: %s", error);
    return;
  }
  O365_JSON_ADD(t->cp, "folder", json_object_new_string(folder_id));
  if (!t->card->baseline) {
    /* Only where the watch starts is recorded; no events yet. */
    o365_trigger_finish(t, json_object_new_array());
    return;
  }
  int rc = start_round(t, NULL);
  if (rc != 0)
    o365_trigger_fail(t, rc, "%s: reading the folder failed", t->card->id);
}

int o365_trigger_invoke(wfc_call *call, const o365_trigger_card *card) {
  struct json_object *in = o365_api->call_input(call);
  const char *saved = o365_api->call_checkpoint(call);
  o365_trigger *t = calloc(1, card->size);
  if (t == NULL)
    return WFC_ENOMEM;
  t->call = call;
  t->card = card;
  if (saved == NULL) {
    t->first = 1;
    t->resync = card->baseline;
    t->cp = json_object_new_object();
    O365_JSON_ADD(t->cp, "v", json_object_new_int(1));
    int rc = card->begin != NULL ? card->begin(t) : 0;
    if (rc == 0)
      rc = o365_folder_resolve(call, o365_call_mailbox(call),
                               o365_json_str(in, "folder"), on_folder, t);
    if (rc != 0)
      trigger_free(t);
    return rc;
  }
  t->cp = o365_json_parse(saved, strlen(saved));
  if (t->cp == NULL || o365_json_str(t->cp, "folder") == NULL ||
      (card->load != NULL && card->load(t) != 0)) {
    o365_trigger_fail(t, WFC_EINVAL,
                      "checkpoint: not one this card wrote (expected %s)",
                      card->expect);
    return 0;
  }
  const char *link = o365_json_str(t->cp, "link");
  int rc = link != NULL          ? start_round(t, link)
           : card->link_required ? WFC_ESTALE
                                 : start_round(t, NULL);
  if (rc == WFC_ESTALE && (link != NULL || card->link_required))
    rc = restart(t, "the stored delta link is not on the connection's "
                    "Graph endpoint");
  if (rc != 0)
    trigger_free(t);
  return rc;
}
