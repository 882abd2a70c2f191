/* search.h - the Graph query of Search Emails, from the card's criteria.
 *
 * Criteria (the card's inputs): subject, from, to, body (text), match
 * (exact | contains | starts_with, for subject/from/to), received_after,
 * received_before, unread, has_attachments, importance, fields.
 *
 * Two ways to ask Graph, because $search and $filter don't mix (Graph
 * answers 400) and a body can only be searched with $search:
 *   - no body: $filter with every criterion, dates first (Graph's
 *     InefficientFilter rule), except "to" with contains / starts_with:
 *     Graph can't apply a function inside a recipients lambda, so that one
 *     is checked here on each result (o365_search_match);
 *   - body given: $search="body:... subject:... from:... to:..." (KQL, as
 *     Outlook's search box; word matching), and every criterion is then
 *     also checked here on each result, exactly as asked.
 * $select asks only for the output fields wanted plus what the local
 * check needs. */
#ifndef O365_SEARCH_H
#define O365_SEARCH_H

#include <stddef.h>

struct json_object;

typedef struct o365_search {
  char *path;      /* ".../messages?..." relative to the Graph base */
  int local;       /* results need o365_search_match */
  int search_mode; /* $search (1) or $filter (0) */
} o365_search;

/* Builds the request for the criteria in in (the card input, borrowed),
 * mailbox (NULL/"" = own), folder_id (resolved; NULL = every folder) and
 * page size. 0, or -1 with err naming the field (e.g. received_after
 * later than received_before). Free with o365_search_clear. */
int o365_search_build(struct json_object *in, const char *mailbox,
                      const char *folder_id, int page_size, o365_search *out,
                      char *err, size_t errsz);
void o365_search_clear(o365_search *s);

/* Does Graph message m satisfy every criterion of in? (Only needed when
 * out->local.) */
int o365_search_match(struct json_object *in, struct json_object *m);

/* Removes from msg (our message JSON) every key not in in's "fields"
 * (when given; "id" always stays). */
void o365_search_project(struct json_object *in, struct json_object *msg);

#endif
