/* trigger.h - the poll of a folder-watching event card, once: the first
 * poll resolves the "folder" input and records it; later polls run one
 * Graph delta round (plugin/delta.h) from the stored link, with the
 * Prefer header (immutable ids, "page_size" as odata.maxpagesize) and
 * "max_events", start over from the card's own first request when the
 * link expired or is not on the connection's Graph endpoint, and report
 * Graph's errors. The card decides what in a round is an event (its
 * round hook) and ends the poll with o365_trigger_finish, which outputs
 * the events and the checkpoint (JSON, opaque to the host: {"v":1,
 * "folder":id, ...the card's..., "link":...}). Used by cards/new_email.c
 * and cards/email_flagged.c.
 *
 * A card whose condition delta cannot express (delta takes no $filter
 * but receivedDateTime) sets list_version: its rounds are then pages of a
 * plain list, GET {graph}/{list_version}/{mb}/mailFolders/{f}/messages
 * with the card's query, one page per request; the card's round hook
 * moves its own watermark in t->cp and asks for the next page with
 * o365_trigger_next (the query again from the new watermark: keyset
 * paging, which no deletion between pages can shift) or
 * o365_trigger_follow (Graph's nextLink, for a page that did not move the
 * watermark); no link is stored. Used by cards/new_email_mentioning_me.c
 * on /beta. */
#ifndef O365_TRIGGER_H
#define O365_TRIGGER_H

#include <stddef.h>

#include <wfc/plugin.h>

#include "delta.h"
#include "util.h"

struct json_object;

/* The schema fields the driver reads or writes, for the cards' tables
 * (in the card's order): the folder watched, odata.maxpagesize, about how
 * many items a poll delivers (desc: of what), and the checkpoint output. */
#define O365_FIELD_WATCH_FOLDER                                                \
  {                                                                            \
    .name = "folder", .type = WFC_TYPE_STRING,                                 \
    .description = "Folder to watch (well-known name, path like "              \
                   "Inbox/Projects, or id).",                                  \
    .default_json = "\"inbox\"", .min = 1, .max = 1024                         \
  }
#define O365_FIELD_PAGE_SIZE                                                   \
  {                                                                            \
    .name = "page_size", .type = WFC_TYPE_INTEGER,                             \
    .description = "Messages per Graph page (odata.maxpagesize).",             \
    .default_json = "50", .min = 1, .max = 1000                                \
  }
#define O365_FIELD_MAX_EVENTS(desc)                                            \
  {                                                                            \
    .name = "max_events", .type = WFC_TYPE_INTEGER, .description = (desc),     \
    .default_json = "500", .min = 1, .max = 10000                              \
  }
/* Read by o365_trigger_finish: a card that lists it delivers each
 * event's attachments as blob references (plugin/attachall.h). */
#define O365_FIELD_INCLUDE_ATTACHMENTS                                         \
  {                                                                            \
    .name = "include_attachments", .type = WFC_TYPE_BOOLEAN,                   \
    .description = "Download each message's attachments into the host's "      \
                   "file store; the event's \"attachments\" lists them "       \
                   "with their files (blob references).",                      \
    .default_json = "false"                                                    \
  }
#define O365_FIELD_CHECKPOINT                                                  \
  {                                                                            \
    .name = "checkpoint", .type = WFC_TYPE_STRING,                             \
    .flags = WFC_FIELD_REQUIRED,                                               \
    .description = "Where the next poll starts (kept by the host)."            \
  }

typedef struct o365_trigger o365_trigger;

typedef struct o365_trigger_card {
  const char *id;   /* the card's id: prefixes log lines and errors */
  const char *what; /* "polling for {what} failed" */
  size_t size;      /* of the card's poll struct (o365_trigger first) */
  /* The checkpoint fields the card needs, for the error on a bad one. */
  const char *expect;
  /* The first poll reads the whole folder (a baseline) instead of only
   * recording where the watch starts. */
  int baseline;
  /* A round from the card's first request (no link) reads to its end,
   * not only max_events (a full read must be complete). */
  int whole_first;
  /* A stored checkpoint without a link is read again from the start as
   * after a refused link (else the round just starts from the card's
   * first request). */
  int link_required;
  /* List rounds on this Graph version ("beta": the connection's Graph URL
   * with its "/v1.0" replaced) instead of delta rounds; NULL: delta. */
  const char *list_version;
  /* First poll, before the folder is resolved: add the card's start to
   * t->cp. 0 or a WFC_E* code. May be NULL. */
  int (*begin)(o365_trigger *t);
  /* A stored checkpoint: check and read the card's fields. 0, or -1 when
   * it is not one this card wrote. May be NULL. */
  int (*load)(o365_trigger *t);
  /* The query options of the first request of a round, appended to
   * "{mb}/mailFolders/{folder}/messages/delta" (list rounds: to ".../
   * messages", for every page the card asks for with o365_trigger_next). */
  void (*request)(o365_trigger *t, o365_buf *path);
  /* What the log says the card does when it starts over (after "; "). */
  void (*resync_note)(o365_trigger *t, char *buf, size_t n);
  /* A successful round: edit t->cp and end with o365_trigger_finish or
   * o365_trigger_fail. res is borrowed during the call. List rounds: one
   * page (res->items; res->link its nextLink or NULL, res->complete when
   * NULL); the card may also go on with o365_trigger_next/_follow. */
  void (*round)(o365_trigger *t, const o365_delta_res *res);
  /* Frees what the card's poll struct owns. May be NULL. */
  void (*cleanup)(o365_trigger *t);
} o365_trigger_card;

struct o365_trigger {
  wfc_call *call; /* borrowed; open until the poll ends */
  const o365_trigger_card *card;
  struct json_object *cp; /* the checkpoint being built (owned) */
  /* This round started over from the card's first request after a
   * refused link, or is the baseline read: an expiry is not retried. */
  int resync;
  int first;  /* no checkpoint: this poll is the first */
  char *link; /* where the next round starts (owned), set by the round */
  /* include_attachments: the events being completed (owned) and the one
   * whose attachments are being downloaded. */
  struct json_object *attach_events;
  size_t attach_next;
};

/* The card's invoke: runs the poll of call with card's hooks. */
int o365_trigger_invoke(wfc_call *call, const o365_trigger_card *card);
/* Ends the poll: events (transferred) and the checkpoint; frees t. With
 * the input's include_attachments true, first downloads the attachments
 * of each event whose has_attachments is true into blobs ("attachments":
 * plugin/attachall.h's list), later; a failed download fails the poll
 * and the checkpoint stays. Either way t is the driver's from here on. */
void o365_trigger_finish(o365_trigger *t, struct json_object *events);
/* List rounds: the next page, from the card's request (its watermark as
 * the round hook left it in t->cp) or from Graph's link (borrowed). On
 * failure to start, the poll ends with the error (t is freed). */
void o365_trigger_next(o365_trigger *t);
void o365_trigger_follow(o365_trigger *t, const char *link);
/* Ends the poll with an error (the checkpoint stays); frees t. */
void o365_trigger_fail(o365_trigger *t, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
