/* blob_file.c - wfc/blobs.h: local files in and out of the blob store, over
 * the store's internal API (blob.h). */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC */
#include "wfc/blobs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "blob.h"
#include "wfc/error.h"

#define CHUNK 65536

static int errno_code(int e) {
  return e == ENOENT ? WFC_ENOTFOUND : WFC_EIO;
}

WFC_EXTERN int wfc_blob_put_file(const char *blob_dir, const char *path,
                                 const char *name, const char *content_type,
                                 struct json_object **ref) {
  wfc__blobstore *bs = NULL;
  wfc_blob *b = NULL;
  char buf[CHUNK];
  int fd, rc;

  if (ref == NULL)
    return WFC_EINVAL;
  *ref = NULL;
  if (blob_dir == NULL || path == NULL)
    return WFC_EINVAL;
  if (name == NULL) {
    const char *slash = strrchr(path, '/');
    name = slash != NULL ? slash + 1 : path;
  }
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return errno_code(errno);
  rc = wfc__blobstore_open(blob_dir, &bs);
  if (rc == 0)
    rc = wfc__blob_create(bs, name, content_type, &b);
  while (rc == 0) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      rc = WFC_EIO;
    else if (n == 0)
      break;
    else
      rc = wfc__blob_write(b, buf, (size_t)n);
  }
  if (rc == 0)
    rc = wfc__blob_commit(b);
  if (rc == 0 && (*ref = wfc__blob_ref(b)) == NULL)
    rc = WFC_ENOMEM;
  /* An uncommitted blob is deleted by close, so a failure leaves nothing. */
  wfc__blob_close(b);
  wfc__blobstore_close(bs);
  close(fd);
  return rc;
}

static int write_all(int fd, const char *p, size_t len) {
  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return WFC_EIO;
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

WFC_EXTERN int wfc_blob_get_file(const char *blob_dir, const char *id,
                                 const char *path, struct json_object **ref) {
  wfc__blobstore *bs = NULL;
  wfc_blob *b = NULL;
  char buf[CHUNK];
  int fd = -1, rc;
  uint64_t off = 0;

  if (ref != NULL)
    *ref = NULL;
  if (blob_dir == NULL || id == NULL || path == NULL)
    return WFC_EINVAL;
  if (!wfc__blob_id_valid(id))
    return WFC_EINVAL;
  rc = wfc__blobstore_open(blob_dir, &bs);
  if (rc == 0)
    rc = wfc__blob_open(bs, id, &b);
  /* The blob is opened first, so a missing one creates no output file. */
  if (rc == 0) {
    fd = strcmp(path, "-") == 0
             ? STDOUT_FILENO
             : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
      rc = errno_code(errno);
  }
  while (rc == 0) {
    ssize_t n = wfc__blob_read(b, off, buf, sizeof buf);
    if (n < 0)
      rc = (int)n;
    else if (n == 0)
      break;
    else {
      rc = write_all(fd, buf, (size_t)n);
      off += (uint64_t)n;
    }
  }
  if (fd >= 0 && fd != STDOUT_FILENO && close(fd) != 0 && rc == 0)
    rc = WFC_EIO;
  if (rc == 0 && ref != NULL && (*ref = wfc__blob_ref(b)) == NULL)
    rc = WFC_ENOMEM;
  wfc__blob_close(b);
  wfc__blobstore_close(bs);
  return rc;
}
