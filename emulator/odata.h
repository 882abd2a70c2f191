/* OData system query options for Graph mail collections ($select, $filter,
 * $search, $orderby, $top, $skip, $count), evaluated over json-c objects that
 * hold Graph resources. Pure module: no server, no store.
 *
 * Errors carry the HTTP status, the Graph error code and a message, as the
 * real service words them (research/graph-protocol.md B.1, B.3). */
#ifndef EMU_ODATA_H
#define EMU_ODATA_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct emu_odata_error {
  int status;       /* HTTP status, 400 for every query error */
  const char *code; /* static string, e.g. "BadRequest" */
  char message[256];
} emu_odata_error;

typedef struct emu_odata_node emu_odata_node; /* $filter AST */
typedef struct emu_odata_search emu_odata_search;

typedef struct emu_odata_order {
  char *path; /* "receivedDateTime", "from/emailAddress/address" */
  bool desc;
} emu_odata_order;

/* Raw option values as they came in the query string (borrowed, may be
 * NULL). */
typedef struct emu_odata_params {
  const char *select, *filter, *search, *orderby, *top, *skip, *count,
      *skiptoken, *expand;
} emu_odata_params;

typedef struct emu_odata_query {
  char **select; /* NULL = all properties */
  size_t nselect;
  emu_odata_node *filter;
  emu_odata_search *search;
  emu_odata_order *order;
  size_t norder;
  bool order_given; /* $orderby was in the request (not the default) */
  int top;          /* -1 when absent */
  int skip;         /* 0 when absent; $skiptoken adds to it */
  bool count;
} emu_odata_query;

/* Which properties a resource type knows: NULL-terminated list of top-level
 * names, used to refuse unknown properties in $select/$filter/$orderby. */
extern const char *const emu_odata_message_props[];
extern const char *const emu_odata_message_props_beta[];
extern const char *const emu_odata_folder_props[];

/* Parses every option; on error fills `err` and returns -1 (q is then
 * cleared). `props` is the resource's property list. */
int emu_odata_query_parse(emu_odata_query *q, const emu_odata_params *p,
                          const char *const *props, emu_odata_error *err);
void emu_odata_query_clear(emu_odata_query *q);

/* Filter pieces, exposed for unit tests and the delta endpoint. */
emu_odata_node *emu_odata_filter_parse(const char *text,
                                       const char *const *props,
                                       emu_odata_error *err);
bool emu_odata_filter_eval(const emu_odata_node *n, json_object *item);
void emu_odata_filter_free(emu_odata_node *n);
/* Property paths of the filter in order of first appearance (for the
 * $filter/$orderby InefficientFilter rule); returns count, fills up to max
 * borrowed strings. */
size_t emu_odata_filter_paths(const emu_odata_node *n, const char **out,
                              size_t max);

emu_odata_search *emu_odata_search_parse(const char *text,
                                         emu_odata_error *err);
bool emu_odata_search_eval(const emu_odata_search *s, json_object *item);
void emu_odata_search_free(emu_odata_search *s);

/* Resolves "a/b/c" in `item`; returns borrowed object or NULL. */
json_object *emu_odata_path_get(json_object *item, const char *path);

/* Filters, orders and pages `items` (array of objects; borrowed). Returns a
 * new array holding references to the page's items (not yet $select-ed),
 * and sets *total to the number of matches before paging. */
json_object *emu_odata_apply(const emu_odata_query *q, json_object *items,
                             size_t default_top, size_t *total);

/* New object with only the selected properties of `item` (plus "id" and
 * "@odata.etag", which Graph always returns); a new reference to `item`
 * when q selects everything. */
json_object *emu_odata_select(const emu_odata_query *q, json_object *item);

/* ISO-8601 UTC parse: seconds since epoch (+ fraction); -1 if not a date. */
int emu_odata_parse_time(const char *s, double *out);

#endif
