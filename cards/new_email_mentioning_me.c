/* new_email_mentioning_me.c - New Email Mentioning Me (event): each message
 * that arrives in a folder and @-mentions the mailbox's user, once (Power
 * Automate's "When a new email mentioning me arrives").
 *
 * Graph: mentionsPreview is a beta property (beta resources/message.md,
 * mentionspreview.md: "True if the signed-in user is mentioned", "Supports
 * filter"), and messages mentioning me are a filtered list (beta
 * api/user-list-messages.md: $filter=mentionsPreview/isMentioned eq true).
 * A delta query takes no such filter (only receivedDateTime: graph-protocol
 * .md B.8), so each page is
 *   GET /beta/{mb}/mailFolders/{f}/messages?$filter=receivedDateTime ge
 *   {cursor} and mentionsPreview/isMentioned eq true&$orderby=
 *   receivedDateTime asc&$select=...&$top={page_size}
 * (the $orderby property comes first in $filter, as Graph requires of the
 * two together), through the list rounds of plugin/trigger.h: the next
 * page is the same query from the newest time of the page (keyset paging:
 * a message deleted meanwhile cannot shift one out of view), or Graph's
 * nextLink when a full page did not move that time.
 *
 * The checkpoint (stored by the host only after it took the events) is
 * {"v":1,"folder":id,"start":t,"floor":t,"seen":[[id,t],...]}: the next
 * poll reads from "floor" and leaves out the ids in "seen" (every message
 * at or after the floor already delivered or left out by the filters), so
 * a poll repeated from the same checkpoint (a crash before the ack) finds
 * the same messages, which the host's dedupe by id leaves out, and
 * nothing is delivered twice after the ack. The floor trails the newest
 * time seen (or now, if that is later than now) by LOOKBACK_S, so that a
 * message that becomes visible after a newer one (delivery is not ordered
 * to the second) is still found; it is raised sooner only when more than
 * SEEN_MAX messages fall in that window.
 * A message moved into the folder keeps its receivedDateTime: it is new to
 * this trigger only if received within the window (new_email, on delta,
 * sees every message that enters the folder).
 * include_attachments is the trigger driver's (plugin/trigger.h), as for
 * new_email: the events' files are downloaded when the poll finishes. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "entry.h"
#include "message.h"
#include "msgfilter.h"
#include "trigger.h"

#define LOOKBACK_S 120
#define SEEN_MAX   500

static const wfc_field inputs[] = {
    O365_FIELDS_MAIL_TRIGGER, O365_FIELD_INCLUDE_ATTACHMENTS, {0}};

static const wfc_field outputs[] = {
    {.name = "events",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_REQUIRED,
     .description = "The new messages that mention the mailbox's user "
                    "(immutable ids), oldest first.",
     .items = &(const wfc_field){.type = WFC_TYPE_OBJECT,
                                 .fields = o365_msg_fields}},
    O365_FIELD_CHECKPOINT,
    {0}};

typedef struct poll {
  o365_trigger t;      /* first: the shared driver's part */
  json_object *seen;   /* [[id,t]...] handled at or after the floor (owned) */
  json_object *events; /* delivered by this poll (owned) */
  char cursor[40];     /* receivedDateTime ge this, for the next page */
  size_t filtered;     /* left out by the filters */
} poll;

static void cleanup(o365_trigger *t) {
  poll *p = (poll *)t;
  json_object_put(p->seen);
  json_object_put(p->events);
}

static const char *seen_id(json_object *e) {
  return json_object_get_string(json_object_array_get_idx(e, 0));
}

static const char *seen_time(json_object *e) {
  return json_object_get_string(json_object_array_get_idx(e, 1));
}

static int is_seen(json_object *seen, const char *id) {
  for (size_t i = 0; i < json_object_array_length(seen); i++)
    if (strcmp(seen_id(json_object_array_get_idx(seen, i)), id) == 0)
      return 1;
  return 0;
}

/* "YYYY-MM-DDTHH:MM:SSZ" of an ISO time in any offset; 0, or -1 when it
 * is not one. */
static int utc_iso(const char *s, long long shift_s, char *out, size_t n) {
  long long epoch = 0;
  json_object *d = o365_json_dttz(s, NULL, &epoch);
  if (d == NULL)
    return -1;
  json_object_put(d);
  o365_time_iso((int64_t)(epoch + shift_s) * 1000, out, n);
  return 0;
}

static int by_time(const void *a, const void *b) {
  return strcmp(seen_time(*(json_object *const *)a),
                seen_time(*(json_object *const *)b));
}

/* The end of the poll: the floor moves up to LOOKBACK_S before the newest
 * time seen (never down), "seen" keeps what is at or after it. */
static void done(poll *p) {
  o365_trigger *t = &p->t;
  char floor[40], newest[40] = "", trail[40];
  o365_strlcpy(floor, o365_json_str(t->cp, "floor"), sizeof floor);
  size_t n = json_object_array_length(p->seen);
  for (size_t i = 0; i < n; i++) {
    const char *ts = seen_time(json_object_array_get_idx(p->seen, i));
    if (strcmp(ts, newest) > 0)
      o365_strlcpy(newest, ts, sizeof newest);
  }
  /* A time ahead of this clock (a skewed sender's, a seeded one) must not
   * lift the floor past what arrives meanwhile. */
  char now[40];
  o365_time_iso(o365_api->now_ms(), now, sizeof now);
  if (strcmp(newest, now) > 0)
    o365_strlcpy(newest, now, sizeof newest);
  if (*newest && utc_iso(newest, -LOOKBACK_S, trail, sizeof trail) == 0 &&
      strcmp(trail, floor) > 0)
    o365_strlcpy(floor, trail, sizeof floor);
  json_object_array_sort(p->seen, by_time);
  if (n > SEEN_MAX) {
    /* A burst: keep the newest SEEN_MAX (and any at the same time as the
     * oldest of them: the floor cannot split a second). */
    const char *ts =
        seen_time(json_object_array_get_idx(p->seen, n - SEEN_MAX));
    if (strcmp(ts, floor) > 0)
      o365_strlcpy(floor, ts, sizeof floor);
  }
  json_object *kept = json_object_new_array();
  for (size_t i = 0; i < n; i++) {
    json_object *e = json_object_array_get_idx(p->seen, i);
    if (strcmp(seen_time(e), floor) >= 0)
      json_object_array_add(kept, json_object_get(e));
  }
  O365_JSON_ADD(t->cp, "floor", json_object_new_string(floor));
  O365_JSON_ADD(t->cp, "seen", kept);
  if (p->filtered > 0)
    o365_api->log(3,
                  "new_email_mentioning_me: %zu message(s) left out by the "
                  "filters",
                  p->filtered);
  json_object *events = p->events;
  p->events = NULL;
  o365_trigger_finish(t, events);
}

/* One page: what was not seen becomes an event (or is left out by the
 * filters, for good); then the next page or the end. */
static void on_page(o365_trigger *t, const o365_delta_res *res) {
  poll *p = (poll *)t;
  json_object *in = o365_api->call_input(t->call);
  int64_t max = 500;
  o365_json_int64(in, "max_events", &max);
  const char *last = NULL;
  size_t n = json_object_array_length(res->items);
  for (size_t i = 0; i < n; i++) {
    json_object *m = json_object_array_get_idx(res->items, i);
    const char *id = o365_json_str(m, "id");
    const char *rt = o365_json_str(m, "receivedDateTime");
    if (id == NULL || rt == NULL)
      continue;
    last = rt;
    if (is_seen(p->seen, id))
      continue;
    json_object *e = json_object_new_array();
    json_object_array_add(e, json_object_new_string(id));
    json_object_array_add(e, json_object_new_string(rt));
    json_object_array_add(p->seen, e);
    json_object *ev = o365_msg_json(m);
    if (o365_msg_filter_match(in, ev)) {
      json_object_array_add(p->events, ev);
    } else {
      json_object_put(ev);
      p->filtered++;
    }
  }
  if (res->link == NULL || json_object_array_length(p->events) >= (size_t)max) {
    done(p);
  } else if (last != NULL && strcmp(last, p->cursor) > 0) {
    o365_strlcpy(p->cursor, last, sizeof p->cursor);
    o365_trigger_next(t);
  } else {
    /* A full page all at the cursor's second: Graph's link goes past it. */
    o365_trigger_follow(t, res->link);
  }
}

static void request(o365_trigger *t, o365_buf *path) {
  poll *p = (poll *)t;
  json_object *in = o365_api->call_input(t->call), *inc = NULL;
  int64_t page = 50;
  o365_json_int64(in, "page_size", &page);
  int body = json_object_object_get_ex(in, "include_body", &inc) &&
             json_object_get_boolean(inc);
  char filter[160], top[24];
  snprintf(filter, sizeof filter,
           "receivedDateTime ge %s and mentionsPreview/isMentioned eq true",
           p->cursor);
  snprintf(top, sizeof top, "%lld", (long long)page);
  o365_buf_query(path, "$filter", filter);
  o365_buf_query(path, "$orderby", "receivedDateTime asc");
  o365_buf_query(path, "$select",
                 body ? O365_MSG_SELECT_BODY : O365_MSG_SELECT);
  o365_buf_query(path, "$top", top);
}

static void resync_note(o365_trigger *t, char *buf, size_t n) {
  snprintf(buf, n, "reading again from %s", ((poll *)t)->cursor);
}

/* First poll: record where the watch starts ("since", else now). */
static int begin(o365_trigger *t) {
  char start[40];
  const char *since = o365_json_str(o365_api->call_input(t->call), "since");
  if (since == NULL || *since == '\0')
    o365_time_iso(o365_api->now_ms(), start, sizeof start);
  else if (utc_iso(since, 0, start, sizeof start) != 0)
    return WFC_EINVAL; /* the SDK checked the date-time already */
  O365_JSON_ADD(t->cp, "start", json_object_new_string(start));
  O365_JSON_ADD(t->cp, "floor", json_object_new_string(start));
  O365_JSON_ADD(t->cp, "seen", json_object_new_array());
  return 0;
}

static int load(o365_trigger *t) {
  poll *p = (poll *)t;
  json_object *seen = NULL;
  const char *floor = o365_json_str(t->cp, "floor");
  if (o365_json_str(t->cp, "start") == NULL || floor == NULL ||
      o365_strlcpy(p->cursor, floor, sizeof p->cursor) != 0 ||
      !json_object_object_get_ex(t->cp, "seen", &seen) ||
      !json_object_is_type(seen, json_type_array))
    return -1;
  p->seen = json_object_new_array();
  for (size_t i = 0; i < json_object_array_length(seen); i++) {
    json_object *e = json_object_array_get_idx(seen, i);
    if (!json_object_is_type(e, json_type_array) ||
        json_object_array_length(e) != 2 ||
        !json_object_is_type(json_object_array_get_idx(e, 0),
                             json_type_string) ||
        !json_object_is_type(json_object_array_get_idx(e, 1), json_type_string))
      return -1;
    json_object_array_add(p->seen, json_object_get(e));
  }
  p->events = json_object_new_array();
  return 0;
}

static const o365_trigger_card trigger = {
    .id = "new_email_mentioning_me",
    .what = "new messages mentioning you",
    .size = sizeof(poll),
    .expect = "{\"v\":1,\"folder\",\"start\",\"floor\",\"seen\"}",
    .list_version = "beta",
    .begin = begin,
    .load = load,
    .request = request,
    .resync_note = resync_note,
    .round = on_page,
    .cleanup = cleanup};

static int invoke(wfc_call *call) {
  return o365_trigger_invoke(call, &trigger);
}

const wfc_card_desc o365_card_new_email_mentioning_me = {
    .id = "new_email_mentioning_me",
    .name = "New Email Mentioning Me",
    .description = "Triggers on each message that arrives in a folder and "
                   "@-mentions the mailbox's user (Graph beta "
                   "mentionsPreview), once: the host stores where the next "
                   "poll starts only after it has taken the messages.",
    .kind = WFC_CARD_EVENT,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
