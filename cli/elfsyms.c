/* elfsyms.c - a plugin file's dynamic symbols, read with pread and bounds
 * checked (the file is not trusted: it is what is being checked). */
#define _POSIX_C_SOURCE 200809L /* pread */
#include "elfsyms.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if UINTPTR_MAX > 0xffffffffu
typedef Elf64_Ehdr ehdr_t;
typedef Elf64_Shdr shdr_t;
typedef Elf64_Sym sym_t;
#define ELF_CLASS      ELFCLASS64
#define SYM_BIND(i)    ELF64_ST_BIND(i)
#define SYM_TYPE(i)    ELF64_ST_TYPE(i)
#define SYM_VISIBILITY ELF64_ST_VISIBILITY
#else
typedef Elf32_Ehdr ehdr_t;
typedef Elf32_Shdr shdr_t;
typedef Elf32_Sym sym_t;
#define ELF_CLASS      ELFCLASS32
#define SYM_BIND(i)    ELF32_ST_BIND(i)
#define SYM_TYPE(i)    ELF32_ST_TYPE(i)
#define SYM_VISIBILITY ELF32_ST_VISIBILITY
#endif

/* Sections larger than this are refused (a plugin's dynamic symbol table
 * is a few kilobytes). */
#define MAX_SECTION (64u << 20)

static int why_set(char *why, size_t len, const char *what) {
  snprintf(why, len, "%s", what);
  return -1;
}

/* Reads len bytes at off into a new buffer (transfer), or NULL. */
static void *read_at(int fd, uint64_t size, uint64_t off, uint64_t len) {
  if (len == 0 || len > MAX_SECTION || off > size || len > size - off)
    return NULL;
  char *buf = malloc(len);
  if (buf == NULL)
    return NULL;
  for (uint64_t got = 0; got < len;) {
    ssize_t n = pread(fd, buf + got, len - got, (off_t)(off + got));
    if (n <= 0) {
      free(buf);
      return NULL;
    }
    got += (uint64_t)n;
  }
  return buf;
}

static void append(char *list, size_t cap, const char *name) {
  size_t n = strlen(list);
  if (n + strlen(name) + 3 < cap)
    snprintf(list + n, cap - n, "%s%s", n ? ", " : "", name);
  else if (n + 5 < cap && strcmp(list + n - 3, "...") != 0)
    snprintf(list + n, cap - n, ", ...");
}

int wfc__cli_host_only(const char *name) {
  static const char *const exact[] = {
      /* process-global set-up (Lessons 13) */
      "curl_global_init", "curl_global_init_mem", "curl_global_cleanup",
      "curl_global_sslset", "curl_global_trace",
      "json_c_set_serialization_double_format", "setlocale", "signal",
      "sigaction", "uv_run", "uv_loop_close", "uv_library_shutdown",
      "uv_default_loop", "OPENSSL_cleanup", "OPENSSL_init_crypto",
      "OPENSSL_init_ssl", "CONF_modules_load_file", "OSSL_PROVIDER_load",
      "OSSL_LIB_CTX_set0_default", "EVP_set_default_properties",
      /* HTTP and handles of its own: api->http_send, api->timer_start */
      "curl_easy_perform", "uv_close", NULL};
  for (const char *const *e = exact; *e != NULL; e++)
    if (strcmp(name, *e) == 0)
      return 1;
  if (strncmp(name, "curl_multi_", 11) == 0)
    return 1;
  size_t n = strlen(name);
  return strncmp(name, "uv_", 3) == 0 &&
         ((n > 8 && strcmp(name + n - 5, "_init") == 0) ||
          (n > 11 && strcmp(name + n - 8, "_init_ex") == 0));
}

int wfc__cli_elf_syms(const char *path, wfc__cli_syms *out, char *why,
                      size_t whylen) {
  memset(out, 0, sizeof *out);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return why_set(why, whylen, strerror(errno));
  struct stat st;
  ehdr_t eh;
  int rc = -1;
  shdr_t *sh = NULL;
  sym_t *syms = NULL;
  char *strs = NULL;
  if (fstat(fd, &st) != 0 ||
      pread(fd, &eh, sizeof eh, 0) != (ssize_t)sizeof eh ||
      memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) {
    why_set(why, whylen, "not an ELF file");
    goto out;
  }
  if (eh.e_ident[EI_CLASS] != ELF_CLASS) {
    why_set(why, whylen, "not an ELF file of this host's class");
    goto out;
  }
  if (eh.e_shoff == 0 || eh.e_shnum == 0 || eh.e_shentsize != sizeof *sh) {
    why_set(why, whylen, "no section headers, so its symbols cannot be listed");
    goto out;
  }
  uint64_t size = (uint64_t)st.st_size;
  sh = read_at(fd, size, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof *sh);
  if (sh == NULL) {
    why_set(why, whylen, "section headers past the end of the file");
    goto out;
  }
  const shdr_t *dyn = NULL;
  for (unsigned i = 0; i < eh.e_shnum; i++)
    if (sh[i].sh_type == SHT_DYNSYM)
      dyn = &sh[i];
  if (dyn == NULL || dyn->sh_entsize != sizeof *syms ||
      dyn->sh_link >= eh.e_shnum) {
    why_set(why, whylen, "no dynamic symbol table");
    goto out;
  }
  const shdr_t *str = &sh[dyn->sh_link];
  syms = read_at(fd, size, dyn->sh_offset, dyn->sh_size);
  strs = read_at(fd, size, str->sh_offset, str->sh_size);
  if (syms == NULL || strs == NULL || strs[str->sh_size - 1] != '\0') {
    why_set(why, whylen, "dynamic symbol table past the end of the file");
    goto out;
  }
  size_t n = dyn->sh_size / sizeof *syms;
  for (size_t i = 1; i < n; i++) {
    const sym_t *s = &syms[i];
    if (s->st_name >= str->sh_size)
      continue;
    const char *name = strs + s->st_name;
    int bind = SYM_BIND(s->st_info), type = SYM_TYPE(s->st_info);
    if (*name == '\0' ||
        (bind != STB_GLOBAL && bind != STB_WEAK && bind != STB_GNU_UNIQUE))
      continue;
    if (s->st_shndx == SHN_UNDEF) {
      if (strncmp(name, "wfc_", 4) == 0) {
        out->nhost_refs++;
        append(out->host_refs, sizeof out->host_refs, name);
      } else if (wfc__cli_host_only(name)) {
        out->nhost_only++;
        append(out->host_only, sizeof out->host_only, name);
      }
      continue;
    }
    /* Linker-made markers (_end, __bss_start: NOTYPE) are not exports. */
    int vis = SYM_VISIBILITY(s->st_other);
    if ((type == STT_FUNC || type == STT_OBJECT || type == STT_GNU_IFUNC ||
         type == STT_TLS || type == STT_COMMON) &&
        (vis == STV_DEFAULT || vis == STV_PROTECTED)) {
      out->nexported++;
      append(out->exported, sizeof out->exported, name);
    }
  }
  rc = 0;
out:
  free(sh);
  free(syms);
  free(strs);
  close(fd);
  return rc;
}
