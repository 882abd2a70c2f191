/* folders.h - mail folders by name, path or id, shared by every card that
 * takes a folder (list/create folder, search, move, copy, events).
 *
 * A folder is given as one of
 *   - a well-known name, case-insensitive: inbox, drafts, sentitems,
 *     deleteditems, archive, junkemail, outbox, msgfolderroot (and the
 *     other names of graph-protocol.md B.7); Graph accepts these wherever
 *     an id goes, so they resolve to themselves (lower case) without a
 *     request;
 *   - a display-name path "Inbox/Projects/2026": the first segment is a
 *     well-known name or a top-level folder, each next one a child folder,
 *     matched case-insensitively (one GET .../childFolders?$filter=
 *     displayName eq '...' per segment, quotes escaped);
 *   - a folder id (a long base64-like token without '/'): checked with one
 *     GET .../mailFolders/{id}; when that finds nothing it is tried as a
 *     top-level display name.
 * Not found ends with WFC_ENOTFOUND and a message naming the folder and the
 * segment that was missing. */
#ifndef O365_FOLDERS_H
#define O365_FOLDERS_H

#include <wfc/plugin.h>

#include "util.h"

/* status 0: folder_id is the id (or well-known name) to put in a Graph
 * path or a destinationId. Else a negative WFC_E* code and error, a full
 * sentence naming the folder. Both strings are borrowed during the
 * callback. */
typedef void (*o365_folder_cb)(void *arg, int status, const char *folder_id,
                               const char *error);

/* Resolves folder in mailbox (NULL or "" = the connection's own; else a
 * UPN or id, "/users/{mailbox}") for call (borrowed; must stay open until
 * cb). cb runs exactly once, later, on the loop. Returns 0, or a negative
 * code when nothing was started (cb then never runs). folder and mailbox
 * are copied. */
int o365_folder_resolve(wfc_call *call, const char *mailbox, const char *folder,
                        o365_folder_cb cb, void *arg);

/* The canonical (lower-case) well-known folder name equal to name
 * (case-insensitive), or NULL. Static string. */
const char *o365_folder_wellknown(const char *name);

/* Appends the OData string literal of s to b, not yet URL-encoded:
 * 'it''s' (quotes doubled). Encode the whole $filter with o365_buf_query. */
void o365_odata_literal(o365_buf *b, const char *s);

/* ---- Listing ---- */

/* status 0: folders (borrowed during cb) is a flat array in depth-first
 * order of {"id","name","path","parent_id","depth","child_count",
 * "unread_count","total_count","is_hidden"}; "path" is the display-name
 * path from the listed parent ("Projects/2026"), depth 0 for its direct
 * children. Else a code and a message. */
typedef void (*o365_folder_list_cb)(void *arg, int status,
                                    struct json_object *folders, int truncated,
                                    const char *error);

/* Lists the child folders of parent_id (a resolved id or well-known name;
 * NULL = the top level, i.e. msgfolderroot's children), following
 * @odata.nextLink, and their children down to max_depth levels (0 = the
 * direct children only, 64 at most) when recursive: one GET
 * .../childFolders per folder that has children. At most max_folders
 * folders (then the list ends and cb gets status 0 with what it has, and
 * truncated 1).
 * cb runs exactly once, later. */
typedef struct o365_folder_list_opts {
  const char *mailbox;   /* NULL/"" = own */
  const char *parent_id; /* NULL = top level */
  int recursive;
  int include_hidden;
  int max_depth;
  size_t max_folders;
} o365_folder_list_opts;

int o365_folder_list(wfc_call *call, const o365_folder_list_opts *o,
                     o365_folder_list_cb cb, void *arg);

/* ---- One folder ---- */

/* The "folder" input of the cards on o365_folder_op. */
#define O365_FIELD_FOLDER(desc)                                                \
  .name = "folder", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED,      \
  .description = (desc), .min = 1, .max = 1024

enum {
  /* Refuse a well-known folder (inbox, sentitems...) before any write. */
  O365_FOLDER_OP_NOT_WELLKNOWN = 1u << 0
};

/* The output of a folder card: o365_folder_json's keys. */
extern const wfc_field o365_folder_fields[];

/* Resolves the call's input "folder" (in its "mailbox") and sends method
 * ("GET", "PATCH", "DELETE") with body (borrowed; may be NULL) to
 * {mb}/mailFolders/{id}; completes the call with o365_folder_json of the
 * answer ({"deleted": true} for DELETE), or an error naming the folder
 * (what: "renaming the folder failed"). 409 names the input "name".
 * Returns 0, or a negative code when nothing started. */
int o365_folder_op(wfc_call *call, const char *method, struct json_object *body,
                   const char *what, unsigned flags);

/* Our JSON for one Graph mailFolder (new object): {"id","name",
 * "parent_id","child_count","unread_count","total_count","is_hidden"}. */
struct json_object *o365_folder_json(struct json_object *graph_folder);

#endif
