/* elfcheck.h - checks a plugin file's ELF structure before dlopen.
 *
 * dlopen maps a file's loadable segments and then touches them: a segment
 * that ends past the end of the file (a cut or half-written copy) is a
 * SIGBUS in the host, before any error can be returned. This module reads
 * the headers with pread into small buffers (never a mapping) and refuses
 * what the dynamic loader would choke on:
 *
 *   - not an ELF file; the ELF header cut short
 *   - another class (32/64-bit), byte order or machine than the host's
 *     (compared with the host's own ELF header), an unknown ELF version
 *   - not a shared object (ET_DYN)
 *   - program headers: wrong entry size, none, or ending past the file
 *   - any segment (every PT_LOAD, and the others) ending past the file; a
 *     loadable segment larger in the file than in memory; no PT_LOAD
 *   - section headers: wrong entry size, ending past the file, a section's
 *     contents past the file, a section name table index out of range
 *   - a dynamic section whose string table is outside every loadable
 *     segment
 *
 * Each refusal is one line of cause ("truncated: section headers end at
 * byte 58464, the file has 30000 bytes"); the caller names the file. */
#ifndef WFC_SDK_ELFCHECK_H
#define WFC_SDK_ELFCHECK_H

#include <stddef.h>
#include <stdint.h>

typedef struct wfc__elf_info {
  /* 1 when DT_RPATH, DT_RUNPATH or DT_NEEDED uses $ORIGIN: the object
   * finds its dependencies relative to its own path, so it must be opened
   * by that path (not through /proc/<pid>/fd). */
  int uses_origin;
} wfc__elf_info;

/* Checks the file open on fd, of size bytes (from fstat). Returns 0 (info
 * filled), WFC_ENOTPLUGIN with the cause in why, or WFC_EIO when the file
 * cannot be read (or shrank while being read). */
int wfc__elf_check(int fd, uint64_t size, wfc__elf_info *info, char *why,
                   size_t whylen);

/* wfc__elf_check, and needed(name, arg) for each DT_NEEDED entry of the
 * file, in order (the libraries the object links; name is borrowed for the
 * call). A non-zero return from needed stops the walk and is returned. */
int wfc__elf_needed(int fd, uint64_t size,
                    int (*needed)(const char *name, void *arg), void *arg,
                    char *why, size_t whylen);

#endif
