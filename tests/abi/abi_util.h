/* abi_util.h - paths and small helpers shared by the tests in tests/abi. */
#ifndef WFC_TESTS_ABI_UTIL_H
#define WFC_TESTS_ABI_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $WFC_BUILD_DIR/<rel>, in a static buffer per slot. */
static inline const char *build_path(int slot, const char *rel) {
  static char buf[4][4096];
  const char *b = getenv("WFC_BUILD_DIR");
  snprintf(buf[slot], sizeof buf[slot], "%s/%s", b ? b : ".", rel);
  return buf[slot];
}

/* The test plugin: $WFC_TESTPLUGIN when set (abi_call_abi12: the same
 * plugin built against the ABI 1.2 headers), else the build's. */
static inline const char *testplugin_path(void) {
  const char *p = getenv("WFC_TESTPLUGIN");
  return p != NULL && *p != '\0' ? p
                                 : build_path(0, "plugins/wfc-testplugin.so");
}

/* $WFC_BROKEN_DIR/wfc-broken-<kind>.so */
static inline const char *broken_path(const char *kind) {
  static char buf[4096];
  const char *d = getenv("WFC_BROKEN_DIR");
  snprintf(buf, sizeof buf, "%s/wfc-broken-%s.so", d ? d : ".", kind);
  return buf;
}

/* ---- damaged copies of a plugin file (test_loader.c, test_cli.c) ------ */

#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

/* Copies the first limit bytes of src (all of it when limit is larger) to
 * dst, mode 0644. 0 or -1. */
static inline int abi_copy(const char *src, const char *dst, uint64_t limit) {
  int in = open(src, O_RDONLY), rc = -1;
  int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in >= 0 && out >= 0) {
    char buf[65536];
    uint64_t done = 0;
    ssize_t n;
    rc = 0;
    while (done < limit && (n = read(in, buf, sizeof buf)) > 0) {
      size_t k =
          (uint64_t)n < limit - done ? (size_t)n : (size_t)(limit - done);
      if (write(out, buf, k) != (ssize_t)k)
        rc = -1;
      done += k;
    }
  }
  if (in >= 0)
    close(in);
  if (out >= 0)
    close(out);
  return rc;
}

/* Writes n bytes at off of path. 0 or -1. */
static inline int abi_patch(const char *path, uint64_t off, const void *b,
                            size_t n) {
  int fd = open(path, O_WRONLY);
  int rc = fd >= 0 && pwrite(fd, b, n, (off_t)off) == (ssize_t)n ? 0 : -1;
  if (fd >= 0)
    close(fd);
  return rc;
}

/* Where a cut of the good plugin file lands, and what the loader must say
 * about it (after "<path>: "). */
typedef struct abi_cut {
  const char *name;
  uint64_t at;    /* bytes kept */
  char want[256]; /* the refusal */
} abi_cut;

/* The refusal of a file cut at c->at inside what (e.g. "program headers
 * end"), which ends at byte end. */
static inline void abi_cut_want(abi_cut *c, const char *what, uint64_t end) {
  snprintf(c->want, sizeof c->want,
           "not a wfc plugin: truncated: %s at byte %llu, the file has %llu "
           "bytes",
           what, (unsigned long long)end, (unsigned long long)c->at);
}

/* Four cuts of the ELF file at path: inside the ELF header, the program
 * headers, a loadable segment (the second PT_LOAD), the section headers.
 * Returns 4, or -1 when the file does not have that shape. */
static inline int abi_cuts(const char *path, abi_cut cut[4]) {
  int fd = open(path, O_RDONLY);
  struct stat st;
  ElfW(Ehdr) e;
  if (fd < 0 || fstat(fd, &st) != 0 || pread(fd, &e, sizeof e, 0) != sizeof e)
    return -1;
  unsigned long long size = (unsigned long long)st.st_size;
  ElfW(Phdr) ph[64];
  if (e.e_phnum > 64 ||
      pread(fd, ph, e.e_phnum * sizeof ph[0], (off_t)e.e_phoff) <= 0)
    return close(fd), -1;
  close(fd);
  int loads = 0, second = -1;
  for (int i = 0; i < e.e_phnum && second < 0; i++)
    if (ph[i].p_type == PT_LOAD && ++loads == 2 && ph[i].p_filesz > 2)
      second = i;
  if (second < 0 || e.e_shoff == 0)
    return -1;
  cut[0].name = "header";
  cut[0].at = 30;
  snprintf(cut[0].want, sizeof cut[0].want,
           "not a wfc plugin: truncated: the ELF header needs %zu bytes, the "
           "file has 30 bytes",
           sizeof e);
  cut[1].name = "phdrs";
  cut[1].at = e.e_phoff + e.e_phentsize + 3;
  abi_cut_want(&cut[1], "program headers end",
               e.e_phoff + (uint64_t)e.e_phnum * e.e_phentsize);
  /* The first segment in table order that passes the cut is the one named:
   * the second PT_LOAD when the segments before it end before the cut. */
  cut[2].name = "segment";
  cut[2].at = ph[second].p_offset + ph[second].p_filesz / 2;
  int first = -1;
  for (int i = 0; i < e.e_phnum && first < 0; i++)
    if (ph[i].p_offset + ph[i].p_filesz > cut[2].at)
      first = i;
  if (first != second)
    return -1;
  char what[64];
  snprintf(what, sizeof what, "loadable segment %d ends", second);
  abi_cut_want(&cut[2], what, ph[second].p_offset + ph[second].p_filesz);
  cut[3].name = "sections";
  cut[3].at = e.e_shoff + 2u * e.e_shentsize + 5;
  if (cut[3].at >= size)
    return -1;
  abi_cut_want(&cut[3], "section headers end",
               e.e_shoff + (uint64_t)e.e_shnum * e.e_shentsize);
  return 4;
}

#endif
