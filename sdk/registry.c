/* registry.c - plugin records, registration checks and lookups. */
#include "registry.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "validate.h"

int wfc__id_valid(const char *id) {
  if (id == NULL || !(id[0] >= 'a' && id[0] <= 'z'))
    return 0;
  size_t n = 0;
  for (const char *c = id; *c; c++, n++) {
    if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
      return 0;
  }
  return n <= 64;
}

static int reg_error(struct wfc_registrar *reg, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Keeps the first error only: it is the one the plugin author must fix
 * first, and later ones are often consequences. */
static int reg_error(struct wfc_registrar *reg, int code, const char *fmt,
                     ...) {
  if (reg->error == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(reg->message, sizeof reg->message, fmt, ap);
    va_end(ap);
    reg->error = code;
  }
  return code;
}

/* Size-tagged copy (OBS's obs_register_source_s, the kernel's
 * copy_struct_from_user): a smaller struct is zero-filled, a larger one is
 * accepted only if the bytes the host does not know are all zero. */
static int copy_sized(void *dst, size_t dst_size, const void *src,
                      size_t size) {
  memset(dst, 0, dst_size);
  if (size > dst_size) {
    const unsigned char *tail = (const unsigned char *)src + dst_size;
    for (size_t i = 0; i < size - dst_size; i++)
      if (tail[i] != 0)
        return -1;
    size = dst_size;
  }
  memcpy(dst, src, size);
  return 0;
}

static int check_schema(struct wfc_registrar *reg, const char *what,
                        const char *id, const char *part,
                        const wfc_field *schema) {
  char err[256];
  if (schema == NULL)
    return 0;
  if (wfc__schema_check(schema, err, sizeof err) != 0)
    return reg_error(reg, WFC_EREGISTER, "%s \"%s\": bad %s schema: %s", what,
                     id, part, err);
  return 0;
}

static int check_open(struct wfc_registrar *reg, const void *desc, size_t size,
                      const char *what) {
  if (reg == NULL)
    return WFC_EINVAL;
  if (!reg->open) {
    /* Not recorded: the plugin is already loaded (or refused). */
    wfc__log(WFC_LOG_ERROR,
             "plugin bug in %s: %s registered outside init(); ignored",
             reg->plugin ? reg->plugin->name : "?", what);
    return WFC_ESTATE;
  }
  if (desc == NULL || size == 0)
    return reg_error(reg, WFC_EREGISTER, "%s: NULL descriptor or size 0", what);
  return 0;
}

int wfc__registrar_card(struct wfc_registrar *reg, const wfc_card_desc *desc,
                        size_t size) {
  int rc = check_open(reg, desc, size, "card");
  if (rc != 0)
    return rc;
  wfc_card_desc c;
  if (copy_sized(&c, sizeof c, desc, size) != 0)
    return reg_error(reg, WFC_EREGISTER,
                     "card descriptor of %zu bytes (host knows %zu) has "
                     "non-zero bytes past the end",
                     size, sizeof c);
  if (!wfc__id_valid(c.id))
    return reg_error(reg, WFC_EREGISTER,
                     "card id \"%s\" is not [a-z][a-z0-9_]* (max 64)",
                     c.id ? c.id : "(null)");
  if (c.name == NULL)
    return reg_error(reg, WFC_EREGISTER, "card \"%s\": name is NULL", c.id);
  if (c.kind != WFC_CARD_ACTION && c.kind != WFC_CARD_EVENT)
    return reg_error(reg, WFC_EREGISTER, "card \"%s\": unknown kind %d", c.id,
                     (int)c.kind);
  if (c.invoke == NULL)
    return reg_error(reg, WFC_EREGISTER, "card \"%s\": invoke hook is NULL",
                     c.id);
  if (c.conn_type != NULL && !wfc__id_valid(c.conn_type))
    return reg_error(reg, WFC_EREGISTER,
                     "card \"%s\": connection type id \"%s\" is not valid",
                     c.id, c.conn_type);
  struct wfc_plugin *p = reg->plugin;
  for (size_t i = 0; i < p->ncards; i++)
    if (strcmp(p->cards[i].id, c.id) == 0)
      return reg_error(reg, WFC_EREGISTER, "duplicate card id \"%s\"", c.id);
  if (check_schema(reg, "card", c.id, "input", c.inputs) ||
      check_schema(reg, "card", c.id, "output", c.outputs))
    return WFC_EREGISTER;
  if (p->ncards == p->cards_cap) {
    size_t cap = p->cards_cap ? p->cards_cap * 2 : 16;
    wfc_card_desc *n = realloc(p->cards, cap * sizeof *n);
    if (n == NULL)
      return reg_error(reg, WFC_ENOMEM, "out of memory");
    p->cards = n;
    p->cards_cap = cap;
  }
  p->cards[p->ncards++] = c;
  return 0;
}

int wfc__registrar_conn_type(struct wfc_registrar *reg,
                             const wfc_conn_type_desc *desc, size_t size) {
  int rc = check_open(reg, desc, size, "connection type");
  if (rc != 0)
    return rc;
  wfc_conn_type_desc t;
  if (copy_sized(&t, sizeof t, desc, size) != 0)
    return reg_error(reg, WFC_EREGISTER,
                     "connection type descriptor of %zu bytes (host knows "
                     "%zu) has non-zero bytes past the end",
                     size, sizeof t);
  if (!wfc__id_valid(t.id))
    return reg_error(reg, WFC_EREGISTER,
                     "connection type id \"%s\" is not [a-z][a-z0-9_]* "
                     "(max 64)",
                     t.id ? t.id : "(null)");
  if (t.name == NULL)
    return reg_error(reg, WFC_EREGISTER, "connection type \"%s\": name is NULL",
                     t.id);
  if (t.flow != WFC_FLOW_BROWSER && t.flow != WFC_FLOW_FORM &&
      t.flow != WFC_FLOW_NONE)
    return reg_error(reg, WFC_EREGISTER,
                     "connection type \"%s\": unknown flow %d (0 browser, 1 "
                     "form, 2 none)",
                     t.id, (int)t.flow);
  /* Only a browser flow has a URL to open: authorize_begin is not called
   * for the others. */
  const char *missing = t.authorize_begin == NULL && t.flow == WFC_FLOW_BROWSER
                            ? "authorize_begin"
                        : t.authorize_complete == NULL ? "authorize_complete"
                        : t.refresh == NULL            ? "refresh"
                        : t.revoke == NULL             ? "revoke"
                                                       : NULL;
  if (missing != NULL)
    return reg_error(reg, WFC_EREGISTER,
                     "connection type \"%s\": %s hook is NULL", t.id, missing);
  struct wfc_plugin *p = reg->plugin;
  for (size_t i = 0; i < p->ncts; i++)
    if (strcmp(p->cts[i].id, t.id) == 0)
      return reg_error(reg, WFC_EREGISTER,
                       "duplicate connection type id \"%s\"", t.id);
  if (check_schema(reg, "connection type", t.id, "params", t.params))
    return WFC_EREGISTER;
  /* A none flow asks for nothing: a secret it declared could never be
   * given. (Top level only: the host seals top-level secret params.) */
  for (const wfc_field *f = t.params;
       t.flow == WFC_FLOW_NONE && f != NULL && f->name != NULL; f++)
    if (f->flags & WFC_FIELD_SECRET)
      return reg_error(reg, WFC_EREGISTER,
                       "connection type \"%s\": flow none takes no secret "
                       "param, but \"%s\" is secret (use flow form)",
                       t.id, f->name);
  if (p->ncts == p->cts_cap) {
    size_t cap = p->cts_cap ? p->cts_cap * 2 : 4;
    wfc_conn_type_desc *n = realloc(p->cts, cap * sizeof *n);
    if (n == NULL)
      return reg_error(reg, WFC_ENOMEM, "out of memory");
    p->cts = n;
    p->cts_cap = cap;
  }
  p->cts[p->ncts++] = t;
  return 0;
}

int wfc__registrar_finish(struct wfc_registrar *reg) {
  struct wfc_plugin *p = reg->plugin;
  reg->open = 0;
  if (reg->error != 0)
    return reg->error;
  for (size_t i = 0; i < p->ncards; i++) {
    const char *ct = p->cards[i].conn_type;
    if (ct == NULL)
      continue;
    size_t j = 0;
    while (j < p->ncts && strcmp(p->cts[j].id, ct) != 0)
      j++;
    if (j == p->ncts)
      return reg_error(reg, WFC_EREGISTER,
                       "card \"%s\" needs connection type \"%s\", which the "
                       "plugin does not register",
                       p->cards[i].id, ct);
  }
  return 0;
}

int wfc__registry_add(wfc__registry *r, struct wfc_plugin *p) {
  if (wfc__registry_find(r, p->name) != NULL)
    return WFC_EEXIST;
  if (r->n == r->cap) {
    size_t cap = r->cap ? r->cap * 2 : 8;
    struct wfc_plugin **n = realloc(r->plugins, cap * sizeof *n);
    if (n == NULL)
      return WFC_ENOMEM;
    r->plugins = n;
    r->cap = cap;
  }
  r->plugins[r->n++] = p;
  return 0;
}

struct wfc_plugin *wfc__registry_find(const wfc__registry *r,
                                      const char *name) {
  for (size_t i = 0; i < r->n; i++)
    if (strcmp(r->plugins[i]->name, name) == 0)
      return r->plugins[i];
  return NULL;
}

void wfc__plugin_free(struct wfc_plugin *p) {
  if (p == NULL)
    return;
  free(p->path);
  free(p->name);
  free(p->version);
  free(p->description);
  free(p->fingerprint);
  free(p->cards);
  free(p->cts);
  free(p);
}

void wfc__registry_clear(wfc__registry *r, void (*fn)(struct wfc_plugin *p)) {
  while (r->n > 0) {
    struct wfc_plugin *p = r->plugins[--r->n];
    if (fn != NULL)
      fn(p);
    wfc__plugin_free(p);
  }
  free(r->plugins);
  r->plugins = NULL;
  r->cap = 0;
}

/* ---- Public accessors ---------------------------------------------------- */

const char *wfc_plugin_name(const wfc_plugin *p) {
  return p->name;
}

const char *wfc_plugin_version(const wfc_plugin *p) {
  return p->version;
}

const char *wfc_plugin_description(const wfc_plugin *p) {
  return p->description;
}

const char *wfc_plugin_path(const wfc_plugin *p) {
  return p->path;
}

const char *wfc_plugin_fingerprint(const wfc_plugin *p) {
  return p->fingerprint;
}

unsigned wfc_plugin_abi(const wfc_plugin *p) {
  return (p->abi_major << 16) | p->abi_minor;
}

size_t wfc_plugin_card_count(const wfc_plugin *p) {
  return p->ncards;
}

const wfc_card_desc *wfc_plugin_card(const wfc_plugin *p, size_t i) {
  return i < p->ncards ? &p->cards[i] : NULL;
}

size_t wfc_plugin_conn_type_count(const wfc_plugin *p) {
  return p->ncts;
}

const wfc_conn_type_desc *wfc_plugin_conn_type(const wfc_plugin *p, size_t i) {
  return i < p->ncts ? &p->cts[i] : NULL;
}

/* Shared by the two lookups: items are arrays of structs whose first member
 * is the id. */
static int find_item(const wfc__registry *r, const char *id, int cards,
                     struct wfc_plugin **pp, const void **out) {
  if (id == NULL)
    return WFC_EINVAL;
  const char *dot = strchr(id, '.');
  const char *item = dot ? dot + 1 : id;
  size_t plen = dot ? (size_t)(dot - id) : 0;
  int found = 0;
  for (size_t i = 0; i < r->n; i++) {
    struct wfc_plugin *p = r->plugins[i];
    if (dot && (strlen(p->name) != plen || strncmp(p->name, id, plen) != 0))
      continue;
    size_t n = cards ? p->ncards : p->ncts;
    for (size_t j = 0; j < n; j++) {
      const char *jid = cards ? p->cards[j].id : p->cts[j].id;
      /* The first byte first: most ids differ there, and this runs over
       * every card of every plugin for each execution. */
      if (jid[0] != item[0] || strcmp(jid, item) != 0)
        continue;
      if (found)
        return WFC_EEXIST;
      found = 1;
      if (pp)
        *pp = p;
      if (out)
        *out = cards ? (const void *)&p->cards[j] : (const void *)&p->cts[j];
    }
  }
  return found ? 0 : WFC_ENOTFOUND;
}

int wfc__registry_find_card(const wfc__registry *r, const char *id,
                            struct wfc_plugin **pp, const wfc_card_desc **cp) {
  const void *v = NULL;
  int rc = find_item(r, id, 1, pp, &v);
  if (rc == 0 && cp)
    *cp = v;
  return rc;
}

int wfc__registry_find_conn_type(const wfc__registry *r, const char *id,
                                 struct wfc_plugin **pp,
                                 const wfc_conn_type_desc **tp) {
  const void *v = NULL;
  int rc = find_item(r, id, 0, pp, &v);
  if (rc == 0 && tp)
    *tp = v;
  return rc;
}
