/* blob.h - the host's file (blob) store for attachments.
 *
 * A blob is a file of any size, written and read in pieces, never whole in
 * memory. Layout of the store directory (mode 0700):
 *   <id>           the bytes, mode 0600; id = 32 lowercase hex digits
 *                  (128 random bits)
 *   <id>.json      sidecar: {"v":1,"name","content_type","size","sha256",
 *                  "created_ms"}; its presence means "committed"
 *   .tmp-<hex>     a blob being written (removed on close without commit;
 *                  leftovers older than a day are swept at open, with
 *                  data files a crash left without a sidecar)
 * Ids are validated (hex only), so no id can name a path outside the store.
 *
 * A created blob is written with wfc__blob_write (append), then
 * wfc__blob_commit fsyncs it and renames it to its id atomically; the
 * SHA-256 is computed while writing. An opened blob is read with
 * wfc__blob_read (pread: any offset, any thread holding the handle).
 *
 * struct wfc_blob is the type include/wfc/plugin.h declares opaque as
 * wfc_blob, so the host API hands these handles to plugins directly. A blob
 * is owned by whoever created or opened it and released by
 * wfc__blob_close. A blob keeps its store alive (reference count), so the
 * store may be closed before its blobs.
 */
#ifndef WFC_SDK_BLOB_H
#define WFC_SDK_BLOB_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "wfc/plugin.h"

#define WFC_BLOB_ID_LEN 32 /* hex digits */

typedef struct wfc__blobstore wfc__blobstore;

/* mkdir -p path, with mode 0700 for what it creates (the blob store, the
 * connection store's directory). 0, WFC_EIO or WFC_ENOMEM. */
int wfc__mkdirs(const char *path);

/* Opens (creating it and its parents with mode 0700 if needed) the store
 * in dir (borrowed; copied). dir NULL: $XDG_DATA_HOME/wfc/blobs, else
 * $HOME/.local/share/wfc/blobs. Returns 0 and *out (transfer: close with
 * wfc__blobstore_close), or WFC_EINVAL / WFC_EIO / WFC_ENOMEM. */
int wfc__blobstore_open(const char *dir, wfc__blobstore **out);
/* Drops the caller's reference; NULL-safe. */
void wfc__blobstore_close(wfc__blobstore *bs);
/* The store's directory (borrowed, lives as long as the store). */
const char *wfc__blobstore_dir(const wfc__blobstore *bs);

/* Starts a new blob. name (any UTF-8, at most 1024 bytes; NULL = "") and
 * content_type (printable ASCII without CR/LF, at most 255 bytes; NULL =
 * "application/octet-stream") are copied. Returns 0 and *out (transfer),
 * or WFC_EINVAL / WFC_EIO / WFC_ENOMEM. */
int wfc__blob_create(wfc__blobstore *bs, const char *name,
                     const char *content_type, wfc_blob **out);
/* Appends buf[0..len) (borrowed). WFC_ESTATE on a committed or opened
 * blob; WFC_EIO on a write error, which is sticky (commit fails too). */
int wfc__blob_write(wfc_blob *b, const void *buf, size_t len);
/* fsyncs and publishes a created blob under its new id; the handle then
 * reads like an opened one. WFC_ESTATE if not a created blob, WFC_EIO. */
int wfc__blob_commit(wfc_blob *b);

/* Opens a committed blob by id (borrowed). WFC_EINVAL for a malformed id,
 * WFC_ENOTFOUND, WFC_EIO (including a sidecar that does not match the
 * file). Returns 0 and *out (transfer). */
int wfc__blob_open(wfc__blobstore *bs, const char *id, wfc_blob **out);
/* Reads up to len bytes at off into buf. Returns the count (0 at or past
 * the end) or WFC_EIO. */
ssize_t wfc__blob_read(wfc_blob *b, uint64_t off, void *buf, size_t len);
/* Bytes written so far (created) or the blob's size. */
uint64_t wfc__blob_size(const wfc_blob *b);
/* The id (borrowed, lives with b), or NULL before commit. */
const char *wfc__blob_id(const wfc_blob *b);
/* Lowercase hex SHA-256 (borrowed), or NULL before commit. */
const char *wfc__blob_sha256(const wfc_blob *b);
/* {"id","name","content_type","size","sha256"} (transfer), or NULL before
 * commit or when out of memory. */
struct json_object *wfc__blob_ref(const wfc_blob *b);
/* Releases b; a created blob that was not committed is deleted.
 * NULL-safe. */
void wfc__blob_close(wfc_blob *b);

/* Removes a committed blob (open handles keep reading it until closed).
 * WFC_EINVAL for a malformed id, WFC_ENOTFOUND, WFC_EIO. */
int wfc__blob_delete(wfc__blobstore *bs, const char *id);

/* 1 when id is WFC_BLOB_ID_LEN lowercase hex digits, else 0. */
int wfc__blob_id_valid(const char *id);

#endif
