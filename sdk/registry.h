/* registry.h - loaded plugins, their cards and connection types.
 *
 * The registry owns the wfc_plugin records (host copies of what the
 * descriptor and the registrations said). Card and connection type
 * descriptors are copied (size-tagged, zero-filled); the strings and schema
 * tables inside them stay borrowed from the plugin, which is why a plugin
 * is only dlclosed after the runtime is done with every record.
 */
#ifndef WFC_SDK_REGISTRY_H
#define WFC_SDK_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "wfc/host.h"
#include "wfc/plugin.h"

/* Given to init() (borrowed, valid only during init). Records the first
 * registration error; the loader refuses the plugin if there is one. It is
 * embedded in the plugin record, so a plugin that keeps the pointer and
 * registers later gets WFC_ESTATE instead of writing to a dead stack. */
struct wfc_registrar {
  struct wfc_plugin *plugin;
  int open;  /* 1 during init, registrations refused otherwise */
  int error; /* first error code, 0 if none */
  char message[384];
};

struct wfc_plugin {
  /* Copied from the descriptor before any dlclose (owned, malloc). */
  char *path;
  char *name;
  char *version;
  char *description;
  char *fingerprint;
  unsigned abi_major;
  unsigned abi_minor;

  void *dl;   /* dlopen handle, NULL once closed */
  void *base; /* where the object is mapped (dladdr's dli_fbase): finds
                 the plugin a host service was called from */
  /* The file the loader checked, open while the code is mapped, and the
   * /proc/<pid>/fd name dlopen got (fd -1 and "" when loaded by path): the
   * name must not come to mean another file while an object bears it. */
  int fd;
  char dlname[32];
  void (*shutdown)(void); /* from the descriptor, may be NULL */

  wfc_card_desc *cards; /* host copies, registration order */
  size_t ncards, cards_cap;
  wfc_conn_type_desc *cts;
  size_t ncts, cts_cap;

  struct wfc_registrar reg; /* open only during init() */
  uint64_t in_flight;       /* calls started and not yet delivered */
  int abandoned;            /* a call did not stop at close: never unloaded */
};

typedef struct wfc__registry {
  struct wfc_plugin **plugins;
  size_t n, cap;
} wfc__registry;

/* The syntax of plugin, card and connection type ids: [a-z][a-z0-9_]*,
 * 1..64 characters. */
int wfc__id_valid(const char *id);

/* Registration (called through wfc_host_api.register_*). Returns 0 or a
 * negative WFC_E* code; on error reg->message says why. */
int wfc__registrar_card(struct wfc_registrar *reg, const wfc_card_desc *desc,
                        size_t size);
int wfc__registrar_conn_type(struct wfc_registrar *reg,
                             const wfc_conn_type_desc *desc, size_t size);
/* Checks done once init() has returned: every card's conn_type is one of
 * the plugin's connection types. */
int wfc__registrar_finish(struct wfc_registrar *reg);

/* Takes ownership of p. WFC_EEXIST if a plugin of that name is there. */
int wfc__registry_add(wfc__registry *r, struct wfc_plugin *p);
struct wfc_plugin *wfc__registry_find(const wfc__registry *r, const char *name);
/* Lookups by "plugin.id", or "id" when exactly one plugin has it: 0,
 * WFC_ENOTFOUND, or WFC_EEXIST when a short id is ambiguous. */
int wfc__registry_find_card(const wfc__registry *r, const char *id,
                            struct wfc_plugin **pp, const wfc_card_desc **cp);
int wfc__registry_find_conn_type(const wfc__registry *r, const char *id,
                                 struct wfc_plugin **pp,
                                 const wfc_conn_type_desc **tp);
/* Frees the record (not the dl handle: the loader's job). */
void wfc__plugin_free(struct wfc_plugin *p);
/* Drops every record after fn(p) (may be NULL) ran on each, last loaded
 * first. */
void wfc__registry_clear(wfc__registry *r, void (*fn)(struct wfc_plugin *p));

#endif
