/* wfc/blobs.h - moving local files in and out of a host's blob store.
 *
 * Cards read and write files (attachments) as blobs: a card's FILE input is
 * a reference {"id", "name", "content_type", "size", "sha256"} to a blob in
 * the store the runtime was given (wfc_runtime_opts.blob_dir). These two
 * functions let a host (e.g. `wfc blob put|get`) turn a local file into
 * such a reference and a reference back into a local file, streaming in
 * pieces, never the whole file in memory. The store layout is sdk/blob.h's.
 */
#ifndef WFC_BLOBS_H
#define WFC_BLOBS_H

#include "wfc/common.h"

struct json_object;

/* Copies the file at path (borrowed) into the blob store in blob_dir
 * (borrowed; created with mode 0700 if missing). name (NULL: the file's
 * base name) and content_type (NULL: application/octet-stream) are stored
 * with it. Returns 0 and *ref, the blob's reference (transfer:
 * json_object_put), or WFC_EINVAL (bad argument or name), WFC_ENOTFOUND (no
 * such file), WFC_EIO, WFC_ENOMEM. Nothing is left in the store on error. */
WFC_EXTERN int wfc_blob_put_file(const char *blob_dir, const char *path,
                                 const char *name, const char *content_type,
                                 struct json_object **ref);

/* Writes the blob id (borrowed) of the store in blob_dir to path
 * (borrowed; created with mode 0600 or truncated; "-" is stdout). Returns 0
 * and, when ref is not NULL, *ref (transfer), or WFC_EINVAL (malformed id),
 * WFC_ENOTFOUND (no such blob), WFC_EIO, WFC_ENOMEM. */
WFC_EXTERN int wfc_blob_get_file(const char *blob_dir, const char *id,
                                 const char *path, struct json_object **ref);

#endif
