/* search_emails.c - Search Emails.
 * Graph: (folder lookup, folders.h) then GET {mb}[/mailFolders/{f}]/
 * messages?$filter=...|$search=...&$select=...&$top=<page_size>, following
 * @odata.nextLink (plugin/search.h builds the query). The first `limit`
 * matches come back in "messages"; with stream, every match is emitted
 * page by page (api->call_emit) as it arrives and the output keeps only
 * the count. */
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "entry.h"
#include "folders.h"
#include "graph.h"
#include "message.h"
#include "search.h"

static const char *const match_values[] = {"exact", "contains", "starts_with",
                                           NULL};
static const char *const field_values[] = {"id",
                                           "subject",
                                           "from",
                                           "from_name",
                                           "to",
                                           "cc",
                                           "bcc",
                                           "reply_to",
                                           "received",
                                           "sent",
                                           "is_read",
                                           "is_draft",
                                           "importance",
                                           "has_attachments",
                                           "categories",
                                           "flag",
                                           "conversation_id",
                                           "internet_message_id",
                                           "parent_folder_id",
                                           "web_link",
                                           "preview",
                                           "body",
                                           "body_type",
                                           NULL};
static const wfc_field field_item[] = {
    {.type = WFC_TYPE_STRING, .enum_values = field_values}, {0}};

static const wfc_field inputs[] = {
    {O365_FIELD_MAILBOX},
    {.name = "folder",
     .type = WFC_TYPE_STRING,
     .description = "Search only this folder (well-known name, path like "
                    "Inbox/Projects, or id); empty: every folder.",
     .max = 1024},
    {.name = "match",
     .type = WFC_TYPE_STRING,
     .description = "How subject, from and to are compared: exact, "
                    "contains or starts_with (case-insensitive).",
     .default_json = "\"contains\"",
     .enum_values = match_values},
    {.name = "subject", .type = WFC_TYPE_STRING, .min = 1, .max = 255},
    {.name = "from",
     .type = WFC_TYPE_STRING,
     .description = "Sender's address (or part of it, with contains / "
                    "starts_with).",
     .min = 1,
     .max = 320},
    {.name = "to",
     .type = WFC_TYPE_STRING,
     .description = "A To recipient's address (or part of it).",
     .min = 1,
     .max = 320},
    {.name = "body",
     .type = WFC_TYPE_STRING,
     .description = "Words in the body (Outlook search: word matching; "
                    "every other criterion still applies exactly).",
     .min = 1,
     .max = 255},
    {.name = "received_after",
     .type = WFC_TYPE_DATETIME,
     .description = "Received at or after this time (UTC, RFC 3339)."},
    {.name = "received_before",
     .type = WFC_TYPE_DATETIME,
     .description = "Received before this time."},
    {.name = "unread",
     .type = WFC_TYPE_BOOLEAN,
     .description = "true: unread only; false: read only; absent: both."},
    {.name = "has_attachments", .type = WFC_TYPE_BOOLEAN},
    {.name = "importance",
     .type = WFC_TYPE_STRING,
     .enum_values = o365_msg_importances},
    {.name = "fields",
     .type = WFC_TYPE_LIST,
     .description = "Output fields wanted (id always); empty: all but the "
                    "body. Only these are asked of Graph ($select).",
     .items = field_item,
     .max = 30},
    {.name = "limit",
     .type = WFC_TYPE_INTEGER,
     .description = "How many matches to return (newest first); ignored "
                    "with stream.",
     .default_json = "200",
     .min = 1,
     .max = 10000},
    {.name = "stream",
     .type = WFC_TYPE_BOOLEAN,
     .description = "Emit every match, page by page, instead of returning "
                    "the first ones.",
     .default_json = "false"},
    {.name = "page_size",
     .type = WFC_TYPE_INTEGER,
     .description = "Messages per Graph request.",
     .default_json = "100",
     .min = 1,
     .max = 1000},
    {0}};

static const wfc_field msg_item[] = {
    {.type = WFC_TYPE_OBJECT, .fields = o365_msg_fields}, {0}};

static const wfc_field outputs[] = {
    {.name = "messages",
     .type = WFC_TYPE_LIST,
     .description = "The first matches, newest first (without stream).",
     .items = msg_item},
    {.name = "records",
     .type = WFC_TYPE_LIST,
     .flags = WFC_FIELD_STREAM,
     .description = "Every match, streamed (with stream).",
     .items = msg_item},
    {.name = "count",
     .type = WFC_TYPE_INTEGER,
     .flags = WFC_FIELD_REQUIRED,
     .description = "Matches returned or emitted."},
    {.name = "more",
     .type = WFC_TYPE_BOOLEAN,
     .flags = WFC_FIELD_REQUIRED,
     .description = "true when more matches exist than were returned."},
    {.name = "warning",
     .type = WFC_TYPE_STRING,
     .description = "Set when reading stopped early although Graph had more "
                    "(an @odata.nextLink that cannot be followed): why. "
                    "The matches read before are returned, more is true."},
    {0}};

typedef struct job {
  wfc_call *call;
  int stream;
  int64_t limit;
  int64_t count;
  int more;
  int local;
  char warning[320];        /* why paging stopped early, "" if it did not */
  struct json_object *list; /* without stream */
} job;

static void finish(job *j) {
  struct json_object *out = json_object_new_object();
  if (!j->stream) {
    O365_JSON_ADD(out, "messages", j->list);
    j->list = NULL;
  }
  O365_JSON_ADD(out, "count", json_object_new_int64(j->count));
  O365_JSON_ADD(out, "more", json_object_new_boolean(j->more));
  if (j->warning[0] != '\0')
    o365_json_add_str(out, "warning", j->warning);
  o365_api->call_done(j->call, out);
  json_object_put(j->list);
  free(j);
}

static int on_page(void *arg, const o365_graph_res *res) {
  job *j = arg;
  struct json_object *in = o365_api->call_input(j->call);
  if (!o365_graph_page_readable(res)) {
    o365_msg_fail(j->call, res, "searching failed");
    json_object_put(j->list);
    free(j);
    return 0;
  }
  struct json_object *value = NULL;
  json_object_object_get_ex(res->json, "value", &value);
  size_t n = value ? json_object_array_length(value) : 0;
  for (size_t i = 0; i < n; i++) {
    struct json_object *m = json_object_array_get_idx(value, i);
    if (j->local && !o365_search_match(in, m))
      continue;
    if (!j->stream && j->count == j->limit) {
      j->more = 1;
      finish(j);
      return 0;
    }
    struct json_object *item = o365_msg_json(m);
    o365_search_project(in, item);
    j->count++;
    if (!j->stream) {
      if (o365_list_add(j->list, item) != 0) {
        o365_api->call_fail(j->call, WFC_ENOMEM, NULL, "out of memory");
        json_object_put(j->list);
        free(j);
        return 0;
      }
    } else if (o365_api->call_emit(j->call, item) != 0) {
      j->more = 1; /* the consumer wants no more */
      finish(j);
      return 0;
    }
  }
  if (res->next_link_error != NULL) {
    /* Graph has more, but its link is unusable: keep what was read and
     * say why the rest is missing ("more" promises no completeness). */
    j->more = 1;
    o365_strlcpy(j->warning, res->next_link_error, sizeof j->warning);
    finish(j);
    return 0;
  }
  if (res->next_link == NULL) {
    finish(j);
    return 0;
  }
  if (!j->stream && j->count == j->limit && !j->local) {
    j->more = 1; /* a next page exists */
    finish(j);
    return 0;
  }
  return 1;
}

static int start(job *j, const char *folder_id) {
  struct json_object *in = o365_api->call_input(j->call);
  struct json_object *ps = NULL;
  json_object_object_get_ex(in, "page_size", &ps);
  int page = ps ? (int)json_object_get_int64(ps) : 100;
  if (!j->stream && j->limit < page)
    page = (int)j->limit;
  o365_search s;
  char err[300];
  if (o365_search_build(in, o365_call_mailbox(j->call), folder_id, page, &s,
                        err, sizeof err) != 0) {
    o365_api->call_fail(j->call, WFC_EVALIDATION, NULL, "%s", err);
    json_object_put(j->list);
    free(j);
    return 0;
  }
  j->local = s.local;
  o365_graph_opts o = {.path = s.path};
  int rc = o365_graph_pages(j->call, &o, on_page, j);
  o365_search_clear(&s);
  if (rc != 0) {
    json_object_put(j->list);
    free(j);
  }
  return rc;
}

static void on_folder(void *arg, int status, const char *folder_id,
                      const char *error) {
  job *j = arg;
  if (status != 0) {
    o365_api->call_fail(j->call, status, NULL, "folder: %s", error);
    json_object_put(j->list);
    free(j);
    return;
  }
  wfc_call *call = j->call;
  int rc = start(j, folder_id);
  if (rc != 0)
    o365_api->call_fail(call, rc, NULL, "the search could not start");
}

static int invoke(wfc_call *call) {
  struct json_object *in = o365_api->call_input(call);
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return WFC_ENOMEM;
  j->call = call;
  struct json_object *v = NULL;
  j->stream =
      json_object_object_get_ex(in, "stream", &v) && json_object_get_boolean(v);
  j->limit = json_object_object_get_ex(in, "limit", &v)
                 ? json_object_get_int64(v)
                 : 200;
  /* Without stream, the items are kept as text where the host can. */
  if (!j->stream && (j->list = o365_list_new(call)) == NULL) {
    free(j);
    return WFC_ENOMEM;
  }
  const char *folder = o365_json_str(in, "folder");
  if (folder == NULL || *folder == '\0')
    return start(j, NULL);
  int rc =
      o365_folder_resolve(call, o365_call_mailbox(call), folder, on_folder, j);
  if (rc != 0) {
    json_object_put(j->list);
    free(j);
  }
  return rc;
}

const wfc_card_desc o365_card_search_emails = {
    .id = "search_emails",
    .name = "Search Emails",
    .description = "Finds messages by subject, sender, recipient, body "
                   "words, date, read state, attachments or importance; "
                   "returns the first matches or streams them all.",
    .kind = WFC_CARD_ACTION,
    .conn_type = O365_CONN_TYPE,
    .inputs = inputs,
    .outputs = outputs,
    .invoke = invoke};
