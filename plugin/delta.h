/* delta.h - one round of a Graph delta query over a folder's messages:
 * follow @odata.nextLink pages to the @odata.deltaLink, keep the items,
 * count the @removed ones, recognise an expired sync state. Shared by the
 * event cards through plugin/trigger.h (the poll around a round).
 *
 * Graph (graph-protocol.md B.8): GET {mb}/mailFolders/{f}/messages/delta
 * with the query options on the first request only ($select, $filter=
 * receivedDateTime ge X, changeType=created); every later page and round
 * is a link Graph gave (its tokens carry the options). An expired or
 * unknown token is 410 Gone, code syncStateNotFound or resyncRequired:
 * the caller starts a new round from its own watermark. Without
 * changeType, a round reports every message created or changed since the
 * last one (with its current properties) and the @removed ones: what
 * email_flagged needs to see a flag change. */
#ifndef O365_DELTA_H
#define O365_DELTA_H

#include <stddef.h>

#include <wfc/plugin.h>

#include "graph.h"

struct json_object;

typedef struct o365_delta_res {
  int error; /* 0, or a WFC_E* code (graph set when Graph answered it) */
  const char *message;         /* why, when error != 0 */
  const o365_graph_res *graph; /* the failing page, or NULL */
  /* The link was refused as expired: 410, syncStateNotFound or
   * resyncRequired. error is then non-zero too; reason names the code. */
  int expired;
  const char *reason;
  struct json_object *items;       /* messages, in Graph's order (borrowed) */
  size_t removed;                  /* @removed entries (deleted, moved out) */
  struct json_object *removed_ids; /* their ids (borrowed) */
  int pages;
  /* Where the next round starts: the deltaLink, or the nextLink when the
   * round stopped at max_items (the rest of it comes next time). */
  const char *link;
  int complete; /* 1: link is a deltaLink */
} o365_delta_res;

typedef void (*o365_delta_cb)(void *arg, const o365_delta_res *res);

typedef struct o365_delta_opts {
  const char *path;           /* first request ("/me/mailFolders/inbox/messages/
                                 delta?...") or a stored nextLink/deltaLink */
  const char *const *headers; /* extra headers (copied) */
  size_t max_items;           /* stop following pages past this many; 0: none */
} o365_delta_opts;

/* Runs the round for call (borrowed; open until cb). cb runs exactly
 * once, later, with everything borrowed during it. Returns 0, or a
 * negative code when nothing started (cb never runs): WFC_ESTALE when
 * o->path is an absolute link that is not on the connection's Graph
 * origin (a link stored before the endpoint changed: start over). */
int o365_delta_run(wfc_call *call, const o365_delta_opts *o, o365_delta_cb cb,
                   void *arg);

#endif
