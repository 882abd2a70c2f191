/* attachall.h - every attachment of a message, downloaded into blobs of
 * the host's file store: for the mail triggers' include_attachments (an
 * event then carries its files as blob references, as Power Automate's
 * "Include Attachments" does).
 *
 * Graph: GET {mb}/messages/{id}/attachments?$select=id,name,contentType,
 * size,isInline (paged; no contentBytes), then for each file or item
 * attachment o365_attach_download (attach.h: metadata, then $value
 * streamed into a new blob). A reference attachment (a link to a file
 * elsewhere) has no content here: it is listed without "file". */
#ifndef O365_ATTACHALL_H
#define O365_ATTACHALL_H

#include <wfc/plugin.h>

struct json_object;

/* "file", "item" or "reference" for an attachment's @odata.type. */
const char *o365_attach_kind(const char *odata_type);

/* status 0: list (borrowed during cb) is [{"id","name","content_type",
 * "size","is_inline","kind","file"?}], "file" the FILE ref of the blob.
 * Else a negative WFC_E* code and error (a sentence); blobs made before
 * the failure stay in the store. */
typedef void (*o365_attach_all_cb)(void *arg, int status,
                                   struct json_object *list, const char *error);

/* Downloads the attachments of message_id in mailbox (NULL/"" = own) for
 * call (borrowed until cb). cb runs exactly once, later. Returns 0, or a
 * negative code when nothing was started (cb never runs). */
int o365_attach_all(wfc_call *call, const char *mailbox, const char *message_id,
                    o365_attach_all_cb cb, void *arg);

#endif
