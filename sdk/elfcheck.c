/* elfcheck.c - see elfcheck.h. */
#define _POSIX_C_SOURCE 200809L /* pread */
#include "elfcheck.h"

#include <elf.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "wfc/error.h"

/* The host's class and byte order; its machine comes from its own ELF
 * header below. */
#if UINTPTR_MAX > 0xffffffffu
#define HOST_CLASS ELFCLASS64
#define HOST_BITS  64
typedef Elf64_Ehdr ehdr_t;
typedef Elf64_Phdr phdr_t;
typedef Elf64_Shdr shdr_t;
typedef Elf64_Dyn dyn_t;
#else
#define HOST_CLASS ELFCLASS32
#define HOST_BITS  32
typedef Elf32_Ehdr ehdr_t;
typedef Elf32_Phdr phdr_t;
typedef Elf32_Shdr shdr_t;
typedef Elf32_Dyn dyn_t;
#endif

#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define HOST_DATA ELFDATA2LSB
#else
#define HOST_DATA ELFDATA2MSB
#endif

/* The ELF header of the object this code is linked into (the host program
 * or libwfc.so), hence the host's machine. The GNU, gold and lld linkers
 * define it; weak, so that another linker leaves it NULL and the machine is
 * then not compared (dlopen still refuses a foreign one, with an error). */
extern const ehdr_t __ehdr_start __attribute__((weak, visibility("hidden")));

#define CHUNK 16 /* headers read at a time */

typedef struct chk {
  int fd;
  uint64_t size;
  char *why;
  size_t whylen;
  int (*needed)(const char *name, void *arg); /* wfc__elf_needed */
  void *arg;
} chk;

typedef unsigned long long ull;

static int bad(chk *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int bad(chk *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  if (c->why != NULL && c->whylen > 0)
    vsnprintf(c->why, c->whylen, fmt, ap);
  va_end(ap);
  return WFC_ENOTPLUGIN;
}

/* Reads n bytes at off; the caller has checked they lie in the file, so a
 * short read means the file shrank meanwhile. */
static int rd(chk *c, void *buf, size_t n, uint64_t off) {
  size_t got = 0;
  while (got < n) {
    ssize_t k = pread(c->fd, (char *)buf + got, n - got, (off_t)(off + got));
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      if (c->why != NULL && c->whylen > 0)
        snprintf(c->why, c->whylen, "cannot read %zu bytes at offset %llu: %s",
                 n, (ull)off,
                 k < 0 ? strerror(errno)
                       : "the file became shorter while it was checked");
      return WFC_EIO;
    }
    got += (size_t)k;
  }
  return 0;
}

/* The end of count entries of entsize bytes at off, saturated. */
static uint64_t end_of(uint64_t off, uint64_t count, uint64_t entsize) {
  if (entsize != 0 && count > (UINT64_MAX - off) / entsize)
    return UINT64_MAX;
  return off + count * entsize;
}

static const char *machine_name(unsigned m) {
  switch (m) {
  case EM_X86_64:
    return "x86-64";
  case EM_386:
    return "i386";
  case EM_AARCH64:
    return "AArch64";
  case EM_ARM:
    return "ARM";
  case EM_RISCV:
    return "RISC-V";
  case EM_PPC64:
    return "PowerPC64";
  case EM_PPC:
    return "PowerPC";
  case EM_S390:
    return "s390";
  case EM_MIPS:
    return "MIPS";
  default:
    return "another machine";
  }
}

static const char *type_name(unsigned t) {
  switch (t) {
  case ET_REL:
    return "a relocatable object (.o)";
  case ET_EXEC:
    return "an executable";
  case ET_CORE:
    return "a core dump";
  default:
    return "not a shared object";
  }
}

static int check_ident(chk *c, ehdr_t *e) {
  unsigned char id[EI_NIDENT];
  if (c->size < SELFMAG)
    return bad(c, "not an ELF file (%llu bytes)", (ull)c->size);
  size_t n = c->size < EI_NIDENT ? (size_t)c->size : EI_NIDENT;
  int rc = rd(c, id, n, 0);
  if (rc != 0)
    return rc;
  if (memcmp(id, ELFMAG, SELFMAG) != 0)
    return bad(c, "not an ELF file");
  if (c->size < sizeof *e)
    return bad(c,
               "truncated: the ELF header needs %zu bytes, the file has %llu "
               "bytes",
               sizeof *e, (ull)c->size);
  if (id[EI_CLASS] != HOST_CLASS)
    return bad(c, "a %s ELF file; this host loads %d-bit plugins",
               id[EI_CLASS] == ELFCLASS32   ? "32-bit"
               : id[EI_CLASS] == ELFCLASS64 ? "64-bit"
                                            : "bad-class",
               HOST_BITS);
  if (id[EI_DATA] != HOST_DATA)
    return bad(c, "a %s ELF file; this host is %s",
               id[EI_DATA] == ELFDATA2MSB   ? "big-endian"
               : id[EI_DATA] == ELFDATA2LSB ? "little-endian"
                                            : "bad-byte-order",
               HOST_DATA == ELFDATA2LSB ? "little-endian" : "big-endian");
  if (id[EI_VERSION] != EV_CURRENT)
    return bad(c, "unknown ELF version %u", (unsigned)id[EI_VERSION]);
  if ((rc = rd(c, e, sizeof *e, 0)) != 0)
    return rc;
  if (e->e_type != ET_DYN)
    return bad(c, "%s (ELF type %u), not a shared object", type_name(e->e_type),
               (unsigned)e->e_type);
  const ehdr_t *host = &__ehdr_start;
  if (host != NULL && e->e_machine != host->e_machine)
    return bad(c, "built for %s (ELF machine %u); this host is %s (%u)",
               machine_name(e->e_machine), (unsigned)e->e_machine,
               machine_name(host->e_machine), (unsigned)host->e_machine);
  return 0;
}

/* Every segment inside the file; *dyn gets the PT_DYNAMIC header (p_type
 * PT_NULL when there is none). */
static int check_segments(chk *c, const ehdr_t *e, phdr_t *dyn) {
  if (e->e_phentsize != sizeof(phdr_t))
    return bad(c, "program header entry size %u, expected %zu",
               (unsigned)e->e_phentsize, sizeof(phdr_t));
  if (e->e_phnum == 0 || e->e_phnum == PN_XNUM)
    return bad(c, "%s program headers", e->e_phnum ? "too many" : "no");
  uint64_t end = end_of(e->e_phoff, e->e_phnum, sizeof(phdr_t));
  if (end > c->size)
    return bad(c,
               "truncated: program headers end at byte %llu, the file has "
               "%llu bytes",
               (ull)end, (ull)c->size);
  memset(dyn, 0, sizeof *dyn);
  unsigned loads = 0;
  phdr_t ph[CHUNK];
  for (unsigned i = 0; i < e->e_phnum; i += CHUNK) {
    unsigned n = e->e_phnum - i < CHUNK ? e->e_phnum - i : CHUNK;
    int rc = rd(c, ph, n * sizeof *ph, e->e_phoff + (uint64_t)i * sizeof *ph);
    if (rc != 0)
      return rc;
    for (unsigned j = 0; j < n; j++) {
      const phdr_t *p = &ph[j];
      int load = p->p_type == PT_LOAD;
      end = end_of(p->p_offset, p->p_filesz, 1);
      if (end > c->size)
        return bad(c,
                   "truncated: %ssegment %u ends at byte %llu, the file has "
                   "%llu bytes",
                   load ? "loadable " : "", i + j, (ull)end, (ull)c->size);
      if (load && p->p_filesz > p->p_memsz)
        return bad(c,
                   "loadable segment %u has %llu bytes in the file but %llu "
                   "in memory",
                   i + j, (ull)p->p_filesz, (ull)p->p_memsz);
      loads += load;
      if (p->p_type == PT_DYNAMIC)
        *dyn = *p;
    }
  }
  if (loads == 0)
    return bad(c, "no loadable segment");
  return 0;
}

static int check_sections(chk *c, const ehdr_t *e) {
  if (e->e_shoff == 0 && e->e_shnum == 0)
    return 0; /* stripped of section headers: allowed */
  if (e->e_shentsize != sizeof(shdr_t))
    return bad(c, "section header entry size %u, expected %zu",
               (unsigned)e->e_shentsize, sizeof(shdr_t));
  if (e->e_shoff == 0)
    return bad(c, "%u section headers at offset 0", (unsigned)e->e_shnum);
  /* With e_shnum 0 (more than 0xff00 sections) the count is the first
   * entry's sh_size: that entry must be there first. */
  uint64_t shnum = e->e_shnum;
  uint64_t end = end_of(e->e_shoff, shnum ? shnum : 1, sizeof(shdr_t));
  if (end > c->size)
    goto truncated;
  shdr_t s0;
  int rc = rd(c, &s0, sizeof s0, e->e_shoff);
  if (rc != 0)
    return rc;
  if (shnum == 0) {
    shnum = s0.sh_size;
    end = end_of(e->e_shoff, shnum, sizeof(shdr_t));
    if (end > c->size)
      goto truncated;
  }
  uint64_t strndx = e->e_shstrndx == SHN_XINDEX ? s0.sh_link : e->e_shstrndx;
  if (strndx != SHN_UNDEF && strndx >= shnum)
    return bad(c,
               "section name table index %llu is out of range (%llu "
               "sections)",
               (ull)strndx, (ull)shnum);
  shdr_t sh[CHUNK];
  for (uint64_t i = 0; i < shnum; i += CHUNK) {
    size_t n = shnum - i < CHUNK ? (size_t)(shnum - i) : CHUNK;
    rc = rd(c, sh, n * sizeof *sh, e->e_shoff + i * sizeof *sh);
    if (rc != 0)
      return rc;
    for (size_t j = 0; j < n; j++) {
      if (sh[j].sh_type == SHT_NULL || sh[j].sh_type == SHT_NOBITS)
        continue;
      uint64_t send = end_of(sh[j].sh_offset, sh[j].sh_size, 1);
      if (send > c->size)
        return bad(c,
                   "truncated: section %llu ends at byte %llu, the file has "
                   "%llu bytes",
                   (ull)(i + j), (ull)send, (ull)c->size);
    }
  }
  return 0;
truncated:
  return bad(c,
             "truncated: section headers end at byte %llu, the file has %llu "
             "bytes",
             (ull)end, (ull)c->size);
}

/* The file offset of [vaddr, vaddr + len) when one loadable segment holds
 * it in the file; -1 otherwise. */
static int64_t file_offset(chk *c, const ehdr_t *e, uint64_t vaddr,
                           uint64_t len) {
  phdr_t ph[CHUNK];
  for (unsigned i = 0; i < e->e_phnum; i += CHUNK) {
    unsigned n = e->e_phnum - i < CHUNK ? e->e_phnum - i : CHUNK;
    if (rd(c, ph, n * sizeof *ph, e->e_phoff + (uint64_t)i * sizeof *ph) != 0)
      return -1;
    for (unsigned j = 0; j < n; j++)
      if (ph[j].p_type == PT_LOAD && vaddr >= ph[j].p_vaddr &&
          end_of(vaddr, len, 1) <= end_of(ph[j].p_vaddr, ph[j].p_filesz, 1))
        return (int64_t)(ph[j].p_offset + (vaddr - ph[j].p_vaddr));
  }
  return -1;
}

/* Sets info->uses_origin from the dynamic section's path strings, and
 * gives c->needed each DT_NEEDED name. */
static int check_dynamic(chk *c, const ehdr_t *e, const phdr_t *dyn,
                         wfc__elf_info *info) {
  uint64_t count = dyn->p_filesz / sizeof(dyn_t);
  uint64_t strtab = 0, strsz = 0;
  int have_strtab = 0, have_paths = 0;
  dyn_t d[CHUNK];
  /* Pass 1: the string table; pass 2: the strings that name paths. */
  for (int pass = 1; pass <= 2; pass++) {
    for (uint64_t i = 0; i < count; i += CHUNK) {
      size_t n = count - i < CHUNK ? (size_t)(count - i) : CHUNK;
      int rc = rd(c, d, n * sizeof *d, dyn->p_offset + i * sizeof *d);
      if (rc != 0)
        return rc;
      for (size_t j = 0; j < n; j++) {
        uint64_t tag = (uint64_t)d[j].d_tag;
        if (tag == DT_NULL)
          goto next_pass;
        if (pass == 1) {
          if (tag == DT_STRTAB)
            strtab = d[j].d_un.d_ptr, have_strtab = 1;
          else if (tag == DT_STRSZ)
            strsz = d[j].d_un.d_val;
          else if (tag == DT_RPATH || tag == DT_RUNPATH || tag == DT_NEEDED)
            have_paths = 1;
          continue;
        }
        if (tag != DT_RPATH && tag != DT_RUNPATH && tag != DT_NEEDED)
          continue;
        uint64_t at = d[j].d_un.d_val;
        if (at >= strsz)
          return bad(c,
                     "a dynamic entry names string %llu, past the string "
                     "table (%llu bytes)",
                     (ull)at, (ull)strsz);
        int64_t off = file_offset(c, e, strtab + at, 1);
        if (off < 0)
          return bad(c, "the dynamic string table is not in the file");
        char s[4096];
        uint64_t room = strsz - at;
        if ((uint64_t)off + room > c->size)
          room = c->size - (uint64_t)off;
        size_t take = room < sizeof s - 1 ? (size_t)room : sizeof s - 1;
        if ((rc = rd(c, s, take, (uint64_t)off)) != 0)
          return rc;
        s[take] = '\0';
        if (strstr(s, "$ORIGIN") != NULL || strstr(s, "${ORIGIN}") != NULL)
          info->uses_origin = 1;
        if (tag == DT_NEEDED && c->needed != NULL &&
            (rc = c->needed(s, c->arg)) != 0)
          return rc;
      }
    }
  next_pass:
    if (pass == 1) {
      if (!have_paths)
        return 0;
      if (!have_strtab || strsz == 0 || file_offset(c, e, strtab, strsz) < 0)
        return bad(c, "the dynamic string table is not in a loadable "
                      "segment of the file");
    }
  }
  return 0;
}

static int elf_check(chk *c, wfc__elf_info *info) {
  memset(info, 0, sizeof *info);
  if (c->why != NULL && c->whylen > 0)
    c->why[0] = '\0';
  ehdr_t e;
  phdr_t dyn;
  int rc = check_ident(c, &e);
  if (rc == 0)
    rc = check_segments(c, &e, &dyn);
  if (rc == 0)
    rc = check_sections(c, &e);
  if (rc == 0 && dyn.p_type == PT_DYNAMIC)
    rc = check_dynamic(c, &e, &dyn, info);
  return rc;
}

int wfc__elf_check(int fd, uint64_t size, wfc__elf_info *info, char *why,
                   size_t whylen) {
  chk c = {.fd = fd, .size = size, .why = why, .whylen = whylen};
  return elf_check(&c, info);
}

int wfc__elf_needed(int fd, uint64_t size,
                    int (*needed)(const char *name, void *arg), void *arg,
                    char *why, size_t whylen) {
  chk c = {.fd = fd,
           .size = size,
           .why = why,
           .whylen = whylen,
           .needed = needed,
           .arg = arg};
  wfc__elf_info info;
  return elf_check(&c, &info);
}
