/* loader.c - dlopen a plugin, check its descriptor, run its init. */
#define _GNU_SOURCE /* dlinfo, RTLD_NOLOAD, strdup */
#include "loader.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elfcheck.h"
#include "host_api.h"
#include "log.h"

static int fail(char *err, size_t errlen, int code, const char *path,
                const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* The plugin running init() or shutdown() now (not in a registry then),
 * for wfc__loader_plugin_at. Loop thread only. */
static struct wfc_plugin *active;

static void *object_base(const void *addr) {
  Dl_info di;
  return addr != NULL && dladdr(addr, &di) != 0 ? di.dli_fbase : NULL;
}

struct wfc_plugin *wfc__loader_plugin_at(const wfc__registry *r,
                                         const void *addr) {
  void *base = object_base(addr);
  if (base == NULL)
    return NULL;
  if (active != NULL && active->base == base)
    return active;
  for (size_t i = 0; r != NULL && i < r->n; i++)
    if (r->plugins[i]->base == base)
      return r->plugins[i];
  return NULL;
}

/* Every refusal is one line: "<path>: <reason>". */
static int fail(char *err, size_t errlen, int code, const char *path,
                const char *fmt, ...) {
  if (err != NULL && errlen > 0) {
    int n = snprintf(err, errlen, "%s: ", path);
    if (n >= 0 && (size_t)n < errlen) {
      va_list ap;
      va_start(ap, fmt);
      vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
      va_end(ap);
    }
    for (char *c = err; *c; c++)
      if (*c == '\n' || *c == '\r')
        *c = ' ';
  }
  return code;
}

static char *dupstr(const char *s) {
  return s ? strdup(s) : strdup("");
}

/* 1 when /proc/<pid>/fd/<fd> (into name) is the file open on fd: then
 * dlopen of that name maps exactly the file that was checked. Our pid, not
 * "self": the name is the object's name in the link map, which a debugger
 * attached to this process (gdb, gcore) opens in its own process, where
 * /proc/self/fd/<fd> is one of its own descriptors (a pipe: it hangs). */
static int fd_name(int fd, const struct stat *st, char *name, size_t len) {
  snprintf(name, len, "/proc/%ld/fd/%d", (long)getpid(), fd);
  struct stat ps;
  if (stat(name, &ps) != 0 || ps.st_dev != st->st_dev ||
      ps.st_ino != st->st_ino)
    return 0;
  /* An object still loaded under this very name (someone else's, whose fd
   * was closed and reused) would be returned by name instead of our file. */
  void *h = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
  if (h != NULL) {
    struct link_map *lm = NULL;
    int taken = dlinfo(h, RTLD_DI_LINKMAP, &lm) != 0 || lm == NULL ||
                lm->l_name == NULL || strcmp(lm->l_name, name) == 0;
    dlclose(h);
    if (taken)
      return 0;
  }
  return 1;
}

/* After the object opened on fd (under name, or "" when by path) was
 * dlclosed: closes fd, unless the object is still mapped under name (then
 * fd stays open so that the name keeps meaning this file). */
static void release_fd(int fd, const char *name) {
  if (fd < 0)
    return;
  if (name[0] != '\0') {
    void *h = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
    if (h != NULL) {
      dlclose(h);
      return;
    }
  }
  close(fd);
}

int wfc__loader_load(wfc__registry *r, const wfc_host_api *api,
                     const char *path, struct wfc_plugin **out, char *err,
                     size_t errlen) {
  /* The file is opened once: the checks and dlopen see the same file even
   * if the path is replaced meanwhile. O_NONBLOCK: a FIFO named like a
   * plugin must not hang the host. */
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT)
      return fail(err, errlen, WFC_ENOTFOUND, path, "file not found");
    return fail(err, errlen, WFC_EIO, path, "cannot open: %s", strerror(errno));
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return fail(err, errlen, WFC_EIO, path, "cannot stat: %s", strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return fail(err, errlen, WFC_ENOTPLUGIN, path,
                "not a wfc plugin: not a regular file");
  }
  /* Loading runs the file's code in the host: someone else able to write
   * it could run theirs (Lessons 18). */
  if (st.st_mode & (S_IWGRP | S_IWOTH)) {
    close(fd);
    return fail(err, errlen, WFC_EDENIED, path,
                "refusing a group- or world-writable file (mode %04o)",
                (unsigned)(st.st_mode & 07777));
  }
  /* A cut or half-copied file would make dlopen die of SIGBUS: check the
   * headers against the file's size first (elfcheck.h). */
  wfc__elf_info info;
  char why[512];
  int rc = wfc__elf_check(fd, (uint64_t)st.st_size, &info, why, sizeof why);
  if (rc != 0) {
    close(fd);
    return fail(err, errlen, rc, path, "%s%s",
                rc == WFC_ENOTPLUGIN ? "not a wfc plugin: " : "", why);
  }

  /* dlopen the checked file itself through /proc/<pid>/fd, unless the
   * object finds its dependencies through $ORIGIN (which would then be
   * /proc/<pid>/fd) or /proc is not there: then by path, and the window
   * between check and dlopen stays (docs/abi.md). */
  char dlname[32] = "";
  int by_fd = !info.uses_origin && fd_name(fd, &st, dlname, sizeof dlname) != 0;
  if (!by_fd)
    dlname[0] = '\0';
  /* A name without a slash would be searched in the library path. */
  char local[4096];
  const char *dlpath = by_fd ? dlname : path;
  if (!by_fd && strchr(path, '/') == NULL) {
    snprintf(local, sizeof local, "./%s", path);
    dlpath = local;
  }
  dlerror();
  void *dl = dlopen(dlpath, RTLD_NOW | RTLD_LOCAL);
  if (dl == NULL) {
    const char *e = dlerror();
    close(fd);
    /* dlerror names what dlopen got; the path is named already. */
    size_t dn = strlen(dlpath);
    if (e != NULL && strncmp(e, dlpath, dn) == 0 &&
        strncmp(e + dn, ": ", 2) == 0)
      e += dn + 2;
    return fail(err, errlen, WFC_ENOTPLUGIN, path, "not a wfc plugin: %s",
                e ? e : "dlopen failed");
  }
  if (!by_fd) {
    /* Opened by path: at least say so when that was not the checked file
     * (compared by identity through the still-open fd, when /proc is
     * there). */
    char name[32];
    if (fd_name(fd, &st, name, sizeof name)) {
      void *same = dlopen(name, RTLD_LAZY | RTLD_NOLOAD);
      if (same != NULL)
        dlclose(same);
      if (same != dl) {
        dlclose(dl);
        close(fd);
        return fail(err, errlen, WFC_ENOTPLUGIN, path,
                    "the file was replaced while it was being loaded");
      }
    }
    close(fd);
    fd = -1;
  }
  struct wfc_plugin *p = NULL;
  wfc_plugin_entry_fn entry;
  /* dlsym returns void*; POSIX guarantees the conversion for functions. */
  *(void **)&entry = dlsym(dl, WFC_PLUGIN_ENTRY_SYMBOL);
  if (entry == NULL) {
    rc = fail(err, errlen, WFC_ENOTPLUGIN, path,
              "not a wfc plugin: no %s symbol", WFC_PLUGIN_ENTRY_SYMBOL);
    goto refuse;
  }
  const wfc_plugin_desc *d = entry();
  if (d == NULL) {
    rc = fail(err, errlen, WFC_ENOTPLUGIN, path,
              "not a wfc plugin: %s returned NULL", WFC_PLUGIN_ENTRY_SYMBOL);
    goto refuse;
  }
  /* The first 8 bytes (magic, major, minor) are the same in every ABI
   * version; nothing past them is read before major and minor agree. */
  if (d->magic != WFC_PLUGIN_MAGIC) {
    rc = fail(err, errlen, WFC_ENOTPLUGIN, path,
              "not a wfc plugin: bad magic 0x%08x (expected 0x%08x)",
              (unsigned)d->magic, (unsigned)WFC_PLUGIN_MAGIC);
    goto refuse;
  }
  if (d->abi_major != WFC_ABI_MAJOR) {
    rc = fail(err, errlen, WFC_EABI, path,
              "plugin ABI %u.%u has another major version than the host's "
              "ABI %u.%u",
              (unsigned)d->abi_major, (unsigned)d->abi_minor,
              (unsigned)WFC_ABI_MAJOR, (unsigned)WFC_ABI_MINOR);
    goto refuse;
  }
  if (d->abi_minor > WFC_ABI_MINOR) {
    rc = fail(err, errlen, WFC_EABINEWER, path,
              "plugin needs ABI %u.%u, newer than the host's ABI %u.%u",
              (unsigned)d->abi_major, (unsigned)d->abi_minor,
              (unsigned)WFC_ABI_MAJOR, (unsigned)WFC_ABI_MINOR);
    goto refuse;
  }
  if (d->size < WFC__DESC_V1_SIZE) {
    rc = fail(err, errlen, WFC_ENOTPLUGIN, path,
              "descriptor size %u is smaller than the v1 header (%zu bytes)",
              (unsigned)d->size, (size_t)WFC__DESC_V1_SIZE);
    goto refuse;
  }
  /* Copy what the host knows; a newer-minor host reads zeros for members
   * an older plugin does not have. */
  wfc_plugin_desc desc;
  memset(&desc, 0, sizeof desc);
  memcpy(&desc, d, d->size < sizeof desc ? d->size : sizeof desc);
  if (desc.fingerprint == NULL ||
      strcmp(desc.fingerprint, WFC_ABI_FINGERPRINT) != 0) {
    rc = fail(err, errlen, WFC_EFINGERPRINT, path,
              "ABI fingerprint differs: plugin \"%s\", host \"%s\"",
              desc.fingerprint ? desc.fingerprint : "(null)",
              WFC_ABI_FINGERPRINT);
    goto refuse;
  }
  if (!wfc__id_valid(desc.name)) {
    rc = fail(err, errlen, WFC_ENOTPLUGIN, path,
              "bad descriptor: plugin name \"%s\" is not [a-z][a-z0-9_]*",
              desc.name ? desc.name : "(null)");
    goto refuse;
  }
  if (desc.version == NULL || desc.init == NULL) {
    rc = fail(err, errlen, WFC_ENOTPLUGIN, path, "bad descriptor: %s is NULL",
              desc.version == NULL ? "version" : "init");
    goto refuse;
  }
  struct wfc_plugin *other = wfc__registry_find(r, desc.name);
  if (other != NULL) {
    rc = fail(err, errlen, WFC_EEXIST, path,
              "a plugin named \"%s\" is already loaded from %s", desc.name,
              other->path);
    goto refuse;
  }

  p = calloc(1, sizeof *p);
  if (p == NULL) {
    rc = fail(err, errlen, WFC_ENOMEM, path, "out of memory");
    goto refuse;
  }
  p->path = dupstr(path);
  p->name = dupstr(desc.name);
  p->version = dupstr(desc.version);
  p->description = dupstr(desc.description);
  p->fingerprint = dupstr(desc.fingerprint);
  p->abi_major = desc.abi_major;
  p->abi_minor = desc.abi_minor;
  p->shutdown = desc.shutdown;
  p->dl = dl;
  p->base = object_base(*(void **)&entry);
  p->fd = fd;
  snprintf(p->dlname, sizeof p->dlname, "%s", dlname);
  if (!p->path || !p->name || !p->version || !p->description ||
      !p->fingerprint) {
    rc = fail(err, errlen, WFC_ENOMEM, path, "out of memory");
    goto refuse;
  }

  struct wfc_registrar *reg = &p->reg;
  reg->plugin = p;
  reg->open = 1;
  struct wfc_error e;
  memset(&e, 0, sizeof e);
  uint64_t live_before = wfc__host_live_handles();
  active = p;
  int irc = desc.init(api, reg, &e);
  active = NULL;
  reg->open = 0;
  /* A plugin that passes a registration error up without its own message
   * is refused for that registration: its detail is the useful one. */
  if (irc != 0 && !(reg->error != 0 && e.message[0] == '\0')) {
    const char *msg = e.message[0] ? e.message : wfc_strerror(irc);
    rc = fail(err, errlen, WFC_EPLUGININIT, path, "init failed: %s (%s)", msg,
              wfc_err_name(e.code ? e.code : irc));
    /* A failed init may have left a timer or request that would call into
     * the plugin: then the code must stay mapped. */
    if (wfc__host_live_handles() > live_before) {
      wfc__log(WFC_LOG_WARN,
               "%s: failed init left timers or requests running; the plugin "
               "stays loaded",
               path);
      dl = NULL;
    }
    goto refuse;
  }
  if (irc != 0 || wfc__registrar_finish(reg) != 0) {
    rc = fail(err, errlen, WFC_EREGISTER, path, "bad registration: %s",
              reg->message);
    /* shutdown() only undoes a successful init. */
    if (irc == 0 && p->shutdown != NULL) {
      active = p;
      p->shutdown();
      active = NULL;
    }
    if (wfc__host_live_handles() > live_before)
      dl = NULL;
    goto refuse;
  }
  rc = wfc__registry_add(r, p);
  if (rc != 0) {
    fail(err, errlen, rc, path, "cannot register: %s", wfc_strerror(rc));
    if (p->shutdown != NULL) {
      active = p;
      p->shutdown();
      active = NULL;
    }
    goto refuse;
  }
  wfc__log(WFC_LOG_INFO, "loaded plugin %s %s from %s (%zu cards)", p->name,
           p->version, path, p->ncards);
  if (out != NULL)
    *out = p;
  return 0;

refuse:
  wfc__plugin_free(p);
  if (dl != NULL) {
    dlclose(dl);
    release_fd(fd, dlname);
  } /* else the code stays mapped under dlname: fd stays open with it */
  return rc;
}

void wfc__loader_unload(struct wfc_plugin *p) {
  if (p->shutdown != NULL) {
    active = p;
    p->shutdown();
    active = NULL;
  }
  p->shutdown = NULL;
  if (p->dl != NULL) {
    dlclose(p->dl);
    release_fd(p->fd, p->dlname);
  }
  p->dl = NULL;
  p->fd = -1;
}
