/* elfsyms.h - the dynamic symbols of a plugin file, read from the file
 * (not loaded), for `wfc plugin check`: what it exports and which host
 * symbols it references. */
#ifndef WFC_CLI_ELFSYMS_H
#define WFC_CLI_ELFSYMS_H

#include <stddef.h>

typedef struct wfc__cli_syms {
  /* Defined, visible (default or protected), global or weak functions and
   * objects: what dlsym can reach. ", "-separated, and their number. */
  char exported[1024];
  size_t nexported;
  /* Undefined references to host symbols (wfc_*): a plugin reaches the
   * host through its services table only. ", "-separated. */
  char host_refs[1024];
  size_t nhost_refs;
  /* Undefined references to what only the host may call: process-global
   * set-up (curl_global_*, setlocale, signal handlers, OpenSSL library
   * configuration, running or closing the loop), and HTTP or libuv handles
   * of the plugin's own (curl_easy_perform, curl_multi_*, uv_*_init,
   * uv_close): see docs/abi.md. ", "-separated. */
  char host_only[1024];
  size_t nhost_only;
} wfc__cli_syms;

/* 1 when name is one of the functions only the host may call (above). */
int wfc__cli_host_only(const char *name);

/* Reads the .dynsym of the ELF shared object at path (of this host's
 * class). 0, or -1 with the cause in why. */
int wfc__cli_elf_syms(const char *path, wfc__cli_syms *out, char *why,
                      size_t whylen);

#endif
