/* blob.c - on-disk blob store: temp file, streaming SHA-256, fsync and
 * atomic rename, JSON sidecar. */
#define _POSIX_C_SOURCE 200809L /* strdup, openat, O_DIRECTORY, O_CLOEXEC */
#include "blob.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/evp.h>

#include "clock.h"
#include "crypto.h"
#include "json.h"
#include "log.h"

#define NAME_MAX_BYTES    1024
#define CTYPE_MAX_BYTES   255
#define SIDECAR_MAX       (64 * 1024)
#define TMP_PREFIX        ".tmp-"
#define STALE_TMP_SECONDS (24 * 3600)

struct wfc__blobstore {
  atomic_int refs; /* the opener's, plus one per live blob */
  int dirfd;
  char *dir;
};

enum blob_state { BLOB_WRITING, BLOB_READABLE, BLOB_FAILED };

struct wfc_blob {
  wfc__blobstore *bs; /* holds a reference */
  int fd;
  enum blob_state state;
  bool created; /* by wfc__blob_create, not yet published */
  char tmp[sizeof TMP_PREFIX + WFC_BLOB_ID_LEN + 8]; /* while created */
  char id[WFC_BLOB_ID_LEN + 1];                      /* "" until committed */
  char sha256[65];                                   /* "" until committed */
  char *name;
  char *content_type;
  uint64_t size;
  EVP_MD_CTX *md; /* while writing */
};

int wfc__blob_id_valid(const char *id) {
  size_t i;

  if (id == NULL)
    return 0;
  for (i = 0; i < WFC_BLOB_ID_LEN; i++)
    if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
      return 0;
  return id[i] == '\0';
}

/* ---- store -------------------------------------------------------------- */

int wfc__mkdirs(const char *path) {
  char *p = strdup(path);
  int rc = 0;

  if (p == NULL)
    return WFC_ENOMEM;
  for (char *s = p + 1;; s++) {
    if (*s == '/' || *s == '\0') {
      char c = *s;
      *s = '\0';
      if (mkdir(p, 0700) != 0 && errno != EEXIST) {
        rc = WFC_EIO;
        break;
      }
      *s = c;
      if (c == '\0')
        break;
    }
  }
  free(p);
  return rc;
}

/* Removes what a crashed writer left behind: temp files, and data files
 * whose sidecar was never written (a crash between the two renames of a
 * commit). Recent ones may belong to another live process sharing the
 * store, so only those older than a day go. */
static void sweep_stale(wfc__blobstore *bs) {
  int fd = openat(bs->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  time_t now = time(NULL);
  struct dirent *de;
  DIR *d;

  if (fd < 0)
    return;
  d = fdopendir(fd);
  if (d == NULL) {
    close(fd);
    return;
  }
  while ((de = readdir(d)) != NULL) {
    char side[WFC_BLOB_ID_LEN + 8];
    struct stat st;
    bool orphan = false;

    if (wfc__blob_id_valid(de->d_name)) {
      memcpy(side, de->d_name, WFC_BLOB_ID_LEN);
      memcpy(side + WFC_BLOB_ID_LEN, ".json", sizeof ".json");
      orphan =
          faccessat(bs->dirfd, side, F_OK, AT_EACCESS) != 0 && errno == ENOENT;
    }
    if (!orphan && strncmp(de->d_name, TMP_PREFIX, sizeof TMP_PREFIX - 1) != 0)
      continue;
    if (fstatat(bs->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
        S_ISREG(st.st_mode) && now - st.st_mtime > STALE_TMP_SECONDS)
      unlinkat(bs->dirfd, de->d_name, 0);
  }
  closedir(d);
}

int wfc__blobstore_open(const char *dir, wfc__blobstore **out) {
  char defdir[4096];
  wfc__blobstore *bs;
  int rc;

  *out = NULL;
  if (dir == NULL) {
    const char *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int n;
    if (xdg != NULL && xdg[0] == '/')
      n = snprintf(defdir, sizeof defdir, "%s/wfc/blobs", xdg);
    else if (home != NULL && home[0] == '/')
      n = snprintf(defdir, sizeof defdir, "%s/.local/share/wfc/blobs", home);
    else
      return WFC_EINVAL;
    if (n < 0 || (size_t)n >= sizeof defdir)
      return WFC_EINVAL;
    dir = defdir;
  }
  if (dir[0] == '\0')
    return WFC_EINVAL;
  rc = wfc__mkdirs(dir);
  if (rc != 0) {
    wfc__log(WFC_LOG_ERROR, "blob store: cannot create %s: %s", dir,
             strerror(errno));
    return rc;
  }
  bs = calloc(1, sizeof *bs);
  if (bs == NULL)
    return WFC_ENOMEM;
  bs->dir = strdup(dir);
  bs->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (bs->dir == NULL || bs->dirfd < 0) {
    rc = bs->dir == NULL ? WFC_ENOMEM : WFC_EIO;
    if (bs->dirfd >= 0)
      close(bs->dirfd);
    free(bs->dir);
    free(bs);
    return rc;
  }
  atomic_init(&bs->refs, 1);
  sweep_stale(bs);
  *out = bs;
  return 0;
}

static void store_unref(wfc__blobstore *bs) {
  if (atomic_fetch_sub(&bs->refs, 1) != 1)
    return;
  close(bs->dirfd);
  free(bs->dir);
  free(bs);
}

void wfc__blobstore_close(wfc__blobstore *bs) {
  if (bs != NULL)
    store_unref(bs);
}

const char *wfc__blobstore_dir(const wfc__blobstore *bs) {
  return bs->dir;
}

/* ---- helpers ------------------------------------------------------------ */

static bool utf8_valid(const char *s) {
  const unsigned char *p = (const unsigned char *)s;

  while (*p) {
    size_t n;
    uint32_t cp;
    if (*p < 0x80) {
      p++;
      continue;
    }
    if (*p >= 0xC2 && *p <= 0xDF)
      n = 1, cp = *p & 0x1F;
    else if (*p >= 0xE0 && *p <= 0xEF)
      n = 2, cp = *p & 0x0F;
    else if (*p >= 0xF0 && *p <= 0xF4)
      n = 3, cp = *p & 0x07;
    else
      return false;
    for (size_t i = 1; i <= n; i++) {
      if ((p[i] & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
        (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    p += n + 1;
  }
  return true;
}

static bool ctype_valid(const char *s) {
  size_t n = strlen(s);

  if (n == 0 || n > CTYPE_MAX_BYTES)
    return false;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
      return false;
  return true;
}

static int write_all(int fd, const void *buf, size_t len) {
  const char *p = buf;

  while (len > 0) {
    ssize_t n = write(fd, p, len);
    if (n < 0) {
      if (errno == EINTR)
        continue;
      return WFC_EIO;
    }
    p += n;
    len -= (size_t)n;
  }
  return 0;
}

static int random_hex(char *out, size_t nbytes) {
  unsigned char raw[16];

  if (nbytes > sizeof raw || wfc__random(raw, nbytes) != 0)
    return WFC_EIO;
  return wfc__hex_encode(raw, nbytes, out, 2 * nbytes + 1);
}

static wfc_blob *blob_new(wfc__blobstore *bs) {
  wfc_blob *b = calloc(1, sizeof *b);

  if (b == NULL)
    return NULL;
  b->fd = -1;
  b->bs = bs;
  atomic_fetch_add(&bs->refs, 1);
  return b;
}

static void blob_free(wfc_blob *b) {
  if (b->fd >= 0)
    close(b->fd);
  EVP_MD_CTX_free(b->md);
  free(b->name);
  free(b->content_type);
  store_unref(b->bs);
  free(b);
}

/* ---- writing ------------------------------------------------------------ */

int wfc__blob_create(wfc__blobstore *bs, const char *name,
                     const char *content_type, wfc_blob **out) {
  char hex[WFC_BLOB_ID_LEN + 1];
  wfc_blob *b;
  int rc;

  *out = NULL;
  if (name == NULL)
    name = "";
  if (content_type == NULL)
    content_type = "application/octet-stream";
  if (strlen(name) > NAME_MAX_BYTES || !utf8_valid(name) ||
      !ctype_valid(content_type))
    return WFC_EINVAL;

  b = blob_new(bs);
  if (b == NULL)
    return WFC_ENOMEM;
  b->created = true;
  b->state = BLOB_WRITING;
  b->name = strdup(name);
  b->content_type = strdup(content_type);
  b->md = EVP_MD_CTX_new();
  if (b->name == NULL || b->content_type == NULL || b->md == NULL) {
    rc = WFC_ENOMEM;
    goto fail;
  }
  if (EVP_DigestInit_ex(b->md, EVP_sha256(), NULL) != 1) {
    rc = WFC_EIO;
    goto fail;
  }
  rc = random_hex(hex, WFC_BLOB_ID_LEN / 2);
  if (rc != 0)
    goto fail;
  snprintf(b->tmp, sizeof b->tmp, TMP_PREFIX "%s", hex);
  b->fd = openat(bs->dirfd, b->tmp,
                 O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (b->fd < 0) {
    wfc__log(WFC_LOG_ERROR, "blob store: cannot create a file in %s: %s",
             bs->dir, strerror(errno));
    b->tmp[0] = '\0';
    rc = WFC_EIO;
    goto fail;
  }
  *out = b;
  return 0;

fail:
  b->created = false;
  blob_free(b);
  return rc;
}

int wfc__blob_write(wfc_blob *b, const void *buf, size_t len) {
  if (b->state == BLOB_FAILED)
    return WFC_EIO;
  if (b->state != BLOB_WRITING)
    return WFC_ESTATE;
  if (len == 0)
    return 0;
  if (write_all(b->fd, buf, len) != 0 ||
      EVP_DigestUpdate(b->md, buf, len) != 1) {
    wfc__log(WFC_LOG_ERROR, "blob store: write failed in %s: %s", b->bs->dir,
             strerror(errno));
    b->state = BLOB_FAILED;
    return WFC_EIO;
  }
  b->size += len;
  return 0;
}

/* Writes the sidecar of b (id and sha256 set) durably under <id>.json. */
static int write_sidecar(wfc_blob *b) {
  char tmp[sizeof b->tmp + 8], final[WFC_BLOB_ID_LEN + 8];
  struct json_object *meta = json_object_new_object();
  char *text;
  int fd, rc = WFC_EIO;

  if (meta == NULL)
    return WFC_ENOMEM;
  json_object_object_add(meta, "v", json_object_new_int(1));
  json_object_object_add(meta, "name", json_object_new_string(b->name));
  json_object_object_add(meta, "content_type",
                         json_object_new_string(b->content_type));
  json_object_object_add(meta, "size", json_object_new_int64((int64_t)b->size));
  json_object_object_add(meta, "sha256", json_object_new_string(b->sha256));
  json_object_object_add(meta, "created_ms",
                         json_object_new_int64(wfc__now_ms()));
  text = wfc__json_dump(meta, false);
  json_object_put(meta);
  if (text == NULL)
    return WFC_ENOMEM;

  snprintf(tmp, sizeof tmp, "%s.json", b->tmp);
  snprintf(final, sizeof final, "%s.json", b->id);
  fd = openat(b->bs->dirfd, tmp,
              O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd >= 0) {
    if (write_all(fd, text, strlen(text)) == 0 && fsync(fd) == 0 &&
        renameat(b->bs->dirfd, tmp, b->bs->dirfd, final) == 0)
      rc = 0;
    close(fd);
    if (rc != 0)
      unlinkat(b->bs->dirfd, tmp, 0);
  }
  free(text);
  return rc;
}

int wfc__blob_commit(wfc_blob *b) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int dlen = 0;
  int rc;

  if (b->state == BLOB_FAILED)
    return WFC_EIO;
  if (b->state != BLOB_WRITING || !b->created)
    return WFC_ESTATE;
  if (EVP_DigestFinal_ex(b->md, digest, &dlen) != 1 ||
      wfc__hex_encode(digest, dlen, b->sha256, sizeof b->sha256) != 0)
    goto io_fail;
  rc = random_hex(b->id, WFC_BLOB_ID_LEN / 2);
  if (rc != 0)
    goto io_fail;
  /* Data first, then the sidecar: a sidecar always has its data, and a
   * crash in between leaves only an unreferenced file. */
  if (fsync(b->fd) != 0 ||
      renameat(b->bs->dirfd, b->tmp, b->bs->dirfd, b->id) != 0)
    goto io_fail;
  b->tmp[0] = '\0';
  rc = write_sidecar(b);
  if (rc != 0) {
    unlinkat(b->bs->dirfd, b->id, 0);
    b->state = BLOB_FAILED;
    b->id[0] = '\0';
    return rc;
  }
  (void)fsync(b->bs->dirfd); /* the renames themselves */
  EVP_MD_CTX_free(b->md);
  b->md = NULL;
  b->created = false;
  b->state = BLOB_READABLE;
  return 0;

io_fail:
  wfc__log(WFC_LOG_ERROR, "blob store: commit failed in %s: %s", b->bs->dir,
           strerror(errno));
  b->state = BLOB_FAILED;
  b->id[0] = '\0';
  b->sha256[0] = '\0';
  return WFC_EIO;
}

/* ---- reading ------------------------------------------------------------ */

static int read_sidecar(wfc__blobstore *bs, const char *id,
                        struct json_object **meta) {
  char path[WFC_BLOB_ID_LEN + 8], buf[SIDECAR_MAX];
  size_t len = 0;
  int fd, rc;

  snprintf(path, sizeof path, "%s.json", id);
  fd = openat(bs->dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return errno == ENOENT ? WFC_ENOTFOUND : WFC_EIO;
  for (;;) {
    ssize_t n = read(fd, buf + len, sizeof buf - len);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      close(fd);
      return WFC_EIO;
    }
    if (n == 0)
      break;
    len += (size_t)n;
    if (len == sizeof buf) {
      close(fd);
      return WFC_EIO;
    }
  }
  close(fd);
  rc = wfc__json_parse(buf, len, SIDECAR_MAX, meta, NULL, 0);
  return rc == 0 ? 0 : WFC_EIO;
}

int wfc__blob_open(wfc__blobstore *bs, const char *id, wfc_blob **out) {
  struct json_object *meta = NULL;
  const char *name, *ctype, *sha;
  int64_t size;
  struct stat st;
  wfc_blob *b;
  int rc;

  *out = NULL;
  if (!wfc__blob_id_valid(id))
    return WFC_EINVAL;
  rc = read_sidecar(bs, id, &meta);
  if (rc != 0)
    return rc;
  name = wfc__json_str(meta, "name");
  ctype = wfc__json_str(meta, "content_type");
  sha = wfc__json_str(meta, "sha256");
  if (name == NULL || ctype == NULL || sha == NULL || strlen(sha) != 64 ||
      wfc__json_int64(meta, "size", &size) != 0 || size < 0) {
    json_object_put(meta);
    return WFC_EIO;
  }
  b = blob_new(bs);
  if (b == NULL) {
    json_object_put(meta);
    return WFC_ENOMEM;
  }
  b->state = BLOB_READABLE;
  b->name = strdup(name);
  b->content_type = strdup(ctype);
  memcpy(b->sha256, sha, 65);
  memcpy(b->id, id, WFC_BLOB_ID_LEN + 1);
  b->size = (uint64_t)size;
  json_object_put(meta);
  if (b->name == NULL || b->content_type == NULL) {
    blob_free(b);
    return WFC_ENOMEM;
  }
  b->fd = openat(bs->dirfd, id, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (b->fd < 0) {
    rc = errno == ENOENT ? WFC_ENOTFOUND : WFC_EIO;
    blob_free(b);
    return rc;
  }
  if (fstat(b->fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      (uint64_t)st.st_size != b->size) {
    wfc__log(WFC_LOG_ERROR, "blob store: %s does not match its sidecar", id);
    blob_free(b);
    return WFC_EIO;
  }
  *out = b;
  return 0;
}

ssize_t wfc__blob_read(wfc_blob *b, uint64_t off, void *buf, size_t len) {
  size_t done = 0;

  if (b->fd < 0 || b->state == BLOB_FAILED)
    return WFC_EIO;
  if (off >= b->size || len == 0)
    return 0;
  if (len > b->size - off)
    len = (size_t)(b->size - off);
  if (len > (size_t)SSIZE_MAX)
    len = (size_t)SSIZE_MAX;
  while (done < len) {
    ssize_t n =
        pread(b->fd, (char *)buf + done, len - done, (off_t)(off + done));
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return WFC_EIO;
    if (n == 0)
      break; /* truncated underneath us */
    done += (size_t)n;
  }
  return (ssize_t)done;
}

uint64_t wfc__blob_size(const wfc_blob *b) {
  return b->size;
}

const char *wfc__blob_id(const wfc_blob *b) {
  return b->state == BLOB_READABLE ? b->id : NULL;
}

const char *wfc__blob_sha256(const wfc_blob *b) {
  return b->state == BLOB_READABLE ? b->sha256 : NULL;
}

struct json_object *wfc__blob_ref(const wfc_blob *b) {
  struct json_object *ref;

  if (b->state != BLOB_READABLE)
    return NULL;
  ref = json_object_new_object();
  if (ref == NULL)
    return NULL;
  if (json_object_object_add(ref, "id", json_object_new_string(b->id)) != 0 ||
      json_object_object_add(ref, "name", json_object_new_string(b->name)) !=
          0 ||
      json_object_object_add(ref, "content_type",
                             json_object_new_string(b->content_type)) != 0 ||
      json_object_object_add(ref, "size",
                             json_object_new_int64((int64_t)b->size)) != 0 ||
      json_object_object_add(ref, "sha256",
                             json_object_new_string(b->sha256)) != 0) {
    json_object_put(ref);
    return NULL;
  }
  return ref;
}

void wfc__blob_close(wfc_blob *b) {
  if (b == NULL)
    return;
  if (b->tmp[0] != '\0')
    unlinkat(b->bs->dirfd, b->tmp, 0); /* never committed */
  blob_free(b);
}

int wfc__blob_delete(wfc__blobstore *bs, const char *id) {
  char side[WFC_BLOB_ID_LEN + 8];
  int rc_side, rc_data;

  if (!wfc__blob_id_valid(id))
    return WFC_EINVAL;
  snprintf(side, sizeof side, "%s.json", id);
  /* Sidecar first: once it is gone the blob no longer exists for open. */
  rc_side = unlinkat(bs->dirfd, side, 0) == 0 ? 0 : errno;
  rc_data = unlinkat(bs->dirfd, id, 0) == 0 ? 0 : errno;
  if (rc_side == ENOENT && rc_data == ENOENT)
    return WFC_ENOTFOUND;
  if ((rc_side != 0 && rc_side != ENOENT) ||
      (rc_data != 0 && rc_data != ENOENT))
    return WFC_EIO;
  return 0;
}
