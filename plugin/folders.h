/* folders.h - mail folders by name, path or id, shared by every card that
 * takes a folder (list/create folder, search, move, copy, events). Owner:
 * cardsfolder.
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

#endif
