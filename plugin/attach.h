/* attach.h - file attachments between the host's blob store and Graph,
 * never whole in memory.
 *
 * Upload (o365_attach_files): each file is a FILE reference of the host's
 * blob store ({"id", "name"?, "content_type"?, ...}); all sizes are
 * checked first (api->blob_open + blob_ref), so a file over
 * O365_ATTACH_MAX_BYTES fails the whole batch, naming the file, before any
 * byte is sent. Then, one file at a time, in order:
 *   - size <= O365_ATTACH_INLINE_MAX: POST .../messages/{id}/attachments
 *     with a fileAttachment whose contentBytes is base64 streamed from the
 *     blob in 48 KiB steps into the JSON text (memory ~ 4/3 of the file);
 *   - larger: POST .../attachments/createUploadSession, then sequential
 *     PUTs of O365_ATTACH_CHUNK bytes (a multiple of 320 KiB) to the
 *     uploadUrl straight from the blob (api->http_send with body_blob),
 *     with Content-Range and WITHOUT Authorization (the URL carries its
 *     own token). A failed PUT (transport error, 5xx, 429) is repeated
 *     from the offset the session expects (nextExpectedRanges), up to
 *     O365_ATTACH_PUT_ATTEMPTS times per chunk.
 * A failure after which the attachment may exist all the same says the
 * outcome is unknown (in its words and "outcome": "unknown" in the
 * detail): the inline POST's answer lost (graph.h outcome_unknown), or the
 * last range's answer lost (its repeat then meets 404: the session is done
 * and gone). A lost answer to createUploadSession is not such a case: a
 * session holds no attachment until its last range.
 * The uploadUrl must be https, or on the Graph base's own origin (the
 * emulator): anything else is refused before a byte goes out.
 *
 * Download (o365_attach_download): GET .../attachments/{aid} for the
 * metadata ($select without contentBytes), then GET .../$value streamed
 * into a new blob (sink_blob). fileAttachment: the file's bytes;
 * itemAttachment: the attached item as MIME (.eml, message/rfc822);
 * referenceAttachment: a clear error (the content lives elsewhere: its
 * sourceUrl is in the error detail). */
#ifndef O365_ATTACH_H
#define O365_ATTACH_H

#include <stdint.h>

#include <wfc/plugin.h>

struct json_object;

/* Inline when the file is at most 3 MB (decimal, as Outlook documents it):
 * its base64 (4 MB) and the JSON around it stay under Graph's 4 MiB
 * request limit, which 3 MiB would not. */
#define O365_ATTACH_INLINE_MAX   3000000LL
#define O365_ATTACH_MAX_BYTES    (150LL * 1024 * 1024)
#define O365_ATTACH_CHUNK        (4LL * 1024 * 1024) /* 13 x 320 KiB ~ 4 MB */
#define O365_ATTACH_PUT_ATTEMPTS 5
/* Okta's Download Message Attachment limit. */
#define O365_ATTACH_DOWNLOAD_MAX (2LL * 1024 * 1024 * 1024)

/* status 0: attachments (borrowed during cb) is an array with one object
 * per file, in order: {"id","name","content_type","size","method":
 * "inline"|"upload_session"}. Else a negative WFC_E* code, error (a
 * sentence naming the file) and detail (borrowed, may be NULL: Graph's
 * status/code/request ids). Files attached before a failure stay attached
 * (their ids are in detail "attached"). */
typedef void (*o365_attach_cb)(void *arg, int status,
                               struct json_object *attachments,
                               const char *error, struct json_object *detail);

/* Attaches files (a JSON array of FILE refs, borrowed: copied) to the
 * message or draft message_id of mailbox (NULL/"" = own) for call
 * (borrowed until cb). cb runs exactly once, later. Returns 0, or a
 * negative code when nothing was started (cb never runs). An empty array
 * completes with an empty list and no request. */
int o365_attach_files(wfc_call *call, const char *mailbox,
                      const char *message_id, struct json_object *files,
                      o365_attach_cb cb, void *arg);

/* status 0: file (borrowed during cb) is the FILE ref of the new,
 * committed blob ({"id","name","content_type","size","sha256"}) and meta
 * the attachment's metadata {"id","name","content_type","size",
 * "is_inline","kind":"file"|"item"}. */
typedef void (*o365_download_cb)(void *arg, int status,
                                 struct json_object *file,
                                 struct json_object *meta, const char *error,
                                 struct json_object *detail);

/* Downloads attachment attachment_id of message_id into a new blob. */
int o365_attach_download(wfc_call *call, const char *mailbox,
                         const char *message_id, const char *attachment_id,
                         o365_download_cb cb, void *arg);

#endif
