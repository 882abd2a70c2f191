/* folders.c - see folders.h. */
#define _POSIX_C_SOURCE 200809L /* strdup, strndup */
#include "folders.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <json-c/json.h>

#include "entry.h"
#include "graph.h"

static const char *const wellknown[] = {
    "archive",       "clutter",
    "conflicts",     "conversationhistory",
    "deleteditems",  "drafts",
    "inbox",         "junkemail",
    "localfailures", "msgfolderroot",
    "outbox",        "recoverableitemsdeletions",
    "scheduled",     "searchfolders",
    "sentitems",     "serverfailures",
    "syncissues",    NULL};

const char *o365_folder_wellknown(const char *name) {
  for (size_t i = 0; name != NULL && wellknown[i] != NULL; i++)
    if (strcasecmp(name, wellknown[i]) == 0)
      return wellknown[i];
  return NULL;
}

void o365_odata_literal(o365_buf *b, const char *s) {
  o365_buf_put(b, "'");
  for (const char *p = s; *p; p++) {
    if (*p == '\'')
      o365_buf_put(b, "''");
    else
      o365_buf_putn(b, p, 1);
  }
  o365_buf_put(b, "'");
}

/* Graph ids are long base64 tokens ("AAMkAGI2..."): no spaces, no '/'. A
 * display name of 32+ such characters is rare, and still works: a miss by
 * id falls back to the name. */
static int looks_like_id(const char *s) {
  size_t n = strlen(s);
  if (n < 32)
    return 0;
  for (const char *p = s; *p; p++)
    if (!isalnum((unsigned char)*p) && !strchr("-_=+.", *p))
      return 0;
  return 1;
}

typedef struct resolve {
  wfc_call *call; /* host-owned */
  char *mailbox;  /* owned copies below */
  char *folder;
  char **segs;
  size_t nsegs;
  size_t i;     /* segment being looked up */
  char *cur_id; /* id of the folder found for segment i-1 */
  int by_id;    /* the GET by id is in flight */
  o365_folder_cb cb;
  void *arg;
  int status; /* for a delayed delivery */
  char *error;
} resolve;

static void resolve_free(resolve *r) {
  free(r->mailbox);
  free(r->folder);
  for (size_t i = 0; i < r->nsegs; i++)
    free(r->segs[i]);
  free(r->segs);
  free(r->cur_id);
  free(r->error);
  free(r);
}

static void finish(resolve *r, int status, const char *id, const char *err) {
  r->cb(r->arg, status, status == 0 ? id : NULL, status == 0 ? NULL : err);
  resolve_free(r);
}

static void finish_fmt_graph(resolve *r, const o365_graph_res *res,
                             const char *seg) {
  o365_buf b;
  o365_buf_init(&b);
  o365_buf_printf(&b, "folder \"%s\": looking up \"%s\" failed: ", r->folder,
                  seg);
  if (res->gerr.code[0])
    o365_buf_printf(&b, "%s: ", res->gerr.code);
  o365_buf_put(&b, res->message ? res->message : "request failed");
  finish(r, res->error ? res->error : WFC_EREMOTE, NULL,
         b.data ? b.data : "folder lookup failed");
  o365_buf_free(&b);
}

static void next_segment(resolve *r);

static void on_child(void *arg, const o365_graph_res *res) {
  resolve *r = arg;
  const char *seg = r->segs[r->i];
  if (res->error != 0) {
    finish_fmt_graph(r, res, seg);
    return;
  }
  struct json_object *value = NULL;
  const char *found = NULL;
  if (json_object_object_get_ex(res->json, "value", &value) &&
      json_object_is_type(value, json_type_array)) {
    for (size_t k = 0; k < json_object_array_length(value) && !found; k++) {
      struct json_object *f = json_object_array_get_idx(value, k);
      const char *dn = o365_json_str(f, "displayName");
      if (dn != NULL && strcasecmp(dn, seg) == 0)
        found = o365_json_str(f, "id");
    }
  }
  if (found == NULL) {
    o365_buf b;
    o365_buf_init(&b);
    if (r->i == 0) {
      o365_buf_printf(&b,
                      "folder \"%s\" not found: no top-level folder named "
                      "\"%s\" (and it is not a well-known folder name",
                      r->folder, seg);
      o365_buf_put(&b, r->nsegs == 1 && looks_like_id(seg) ? " or a folder id)"
                                                           : ")");
    } else {
      o365_buf_printf(&b,
                      "folder \"%s\" not found: no folder named \"%s\" "
                      "under \"",
                      r->folder, seg);
      for (size_t k = 0; k < r->i; k++)
        o365_buf_printf(&b, "%s%s", k ? "/" : "", r->segs[k]);
      o365_buf_put(&b, "\"");
    }
    finish(r, WFC_ENOTFOUND, NULL, b.data ? b.data : "folder not found");
    o365_buf_free(&b);
    return;
  }
  char *id = strdup(found);
  if (id == NULL) {
    finish(r, WFC_ENOMEM, NULL, "out of memory");
    return;
  }
  free(r->cur_id);
  r->cur_id = id;
  r->i++;
  next_segment(r);
}

static void on_by_id(void *arg, const o365_graph_res *res) {
  resolve *r = arg;
  r->by_id = 0;
  const char *id = res->error == 0 ? o365_json_str(res->json, "id") : NULL;
  if (id != NULL) {
    finish(r, 0, id, NULL);
    return;
  }
  /* 404 (or 400 ErrorInvalidIdMalformed): not an id; try it as a name. */
  if (res->error != 0 && res->status != 404 && res->status != 400) {
    finish_fmt_graph(r, res, r->segs[0]);
    return;
  }
  next_segment(r);
}

/* Looks up segment i (or finishes after the last one). */
static void next_segment(resolve *r) {
  if (r->i == r->nsegs) {
    finish(r, 0, r->cur_id, NULL);
    return;
  }
  const char *seg = r->segs[r->i];
  if (r->i == 0) {
    const char *wk = o365_folder_wellknown(seg);
    if (wk != NULL) {
      r->cur_id = strdup(wk);
      if (r->cur_id == NULL) {
        finish(r, WFC_ENOMEM, NULL, "out of memory");
        return;
      }
      r->i++;
      next_segment(r);
      return;
    }
  }
  o365_buf path, filter;
  o365_buf_init(&path);
  o365_buf_init(&filter);
  o365_graph_mailbox(&path, r->mailbox);
  o365_buf_put(&path, "/mailFolders");
  if (r->i > 0) {
    o365_buf_seg(&path, r->cur_id);
    o365_buf_put(&path, "/childFolders");
  }
  o365_buf_put(&filter, "displayName eq ");
  o365_odata_literal(&filter, seg);
  o365_buf_query(&path, "$filter", filter.data ? filter.data : "");
  o365_buf_query(&path, "$select", "id,displayName");
  o365_buf_query(&path, "$top", "10");
  int rc = WFC_ENOMEM;
  if (!path.oom && !filter.oom) {
    o365_graph_opts o = {.path = path.data};
    rc = o365_graph_send(r->call, &o, on_child, r, NULL);
  }
  o365_buf_free(&path);
  o365_buf_free(&filter);
  if (rc != 0)
    finish(r, rc, NULL, "could not start the folder lookup");
}

static void deliver_later(void *arg) {
  resolve *r = arg;
  finish(r, r->status, r->cur_id, r->error);
}

static void start_later(void *arg) {
  next_segment(arg);
}

static int split(resolve *r) {
  size_t cap = 1;
  for (const char *p = r->folder; *p; p++)
    cap += *p == '/';
  r->segs = calloc(cap, sizeof *r->segs);
  if (r->segs == NULL)
    return WFC_ENOMEM;
  const char *p = r->folder;
  while (*p) {
    size_t n = strcspn(p, "/");
    /* Trim spaces around each segment; skip empty ones ("/Inbox/"). */
    const char *s = p, *e = p + n;
    while (s < e && isspace((unsigned char)*s))
      s++;
    while (e > s && isspace((unsigned char)e[-1]))
      e--;
    if (e > s) {
      char *seg = strndup(s, (size_t)(e - s));
      if (seg == NULL)
        return WFC_ENOMEM;
      r->segs[r->nsegs++] = seg;
    }
    p += n;
    if (*p == '/')
      p++;
  }
  return 0;
}

int o365_folder_resolve(wfc_call *call, const char *mailbox, const char *folder,
                        o365_folder_cb cb, void *arg) {
  if (call == NULL || folder == NULL || cb == NULL)
    return WFC_EINVAL;
  resolve *r = calloc(1, sizeof *r);
  if (r == NULL)
    return WFC_ENOMEM;
  r->call = call;
  r->cb = cb;
  r->arg = arg;
  r->folder = strdup(folder);
  r->mailbox = mailbox && *mailbox ? strdup(mailbox) : NULL;
  if (r->folder == NULL || (mailbox && *mailbox && r->mailbox == NULL) ||
      split(r) != 0) {
    resolve_free(r);
    return WFC_ENOMEM;
  }
  if (r->nsegs == 0) {
    /* Delivered on a later iteration like every other outcome. */
    r->status = WFC_EVALIDATION;
    r->error = strdup("folder: empty folder name");
    if (r->error == NULL ||
        o365_api->timer_start(0, deliver_later, r, NULL) != 0) {
      resolve_free(r);
      return WFC_ENOMEM;
    }
    return 0;
  }
  if (r->nsegs == 1 && looks_like_id(r->segs[0])) {
    o365_buf path;
    o365_buf_init(&path);
    o365_graph_mailbox(&path, r->mailbox);
    o365_buf_put(&path, "/mailFolders");
    o365_buf_seg(&path, r->segs[0]);
    o365_buf_query(&path, "$select", "id,displayName");
    int rc = WFC_ENOMEM;
    if (!path.oom) {
      o365_graph_opts o = {.path = path.data};
      r->by_id = 1;
      rc = o365_graph_send(call, &o, on_by_id, r, NULL);
    }
    o365_buf_free(&path);
    if (rc != 0)
      resolve_free(r);
    return rc;
  }
  /* next_segment() reports its failures through cb, which must not run
   * inside this call (and a well-known name needs no request at all):
   * start it from the loop. */
  int rc = o365_api->timer_start(0, start_later, r, NULL);
  if (rc != 0)
    resolve_free(r);
  return rc;
}

/* ---- Listing ------------------------------------------------------------ */

/* A folder's output is made of Graph's values, not copies of them (the
 * parsed strings, counts and flag, one reference each). */
typedef struct folder_vals {
  struct json_object *str[3];   /* id, displayName, parentFolderId */
  struct json_object *count[3]; /* child, unread, total item counts */
  struct json_object *hidden;   /* isHidden */
} folder_vals;

/* Where Graph's member k with value v goes in fv: its slot, or NULL (a
 * member the output has no use for, or a name that must be a string and
 * is not). By first letter, then the whole name: most members of a folder
 * are compared once. */
static struct json_object **folder_slot(folder_vals *fv, const char *k,
                                        struct json_object *v) {
  struct json_object **slot = NULL;
  int must_str = 1;
  switch (k[0]) {
  case 'i':
    if (strcmp(k, "id") == 0)
      slot = &fv->str[0];
    else if (strcmp(k, "isHidden") == 0)
      slot = &fv->hidden, must_str = 0;
    break;
  case 'd':
    if (strcmp(k, "displayName") == 0)
      slot = &fv->str[1];
    break;
  case 'p':
    if (strcmp(k, "parentFolderId") == 0)
      slot = &fv->str[2];
    break;
  case 'c':
    if (strcmp(k, "childFolderCount") == 0)
      slot = &fv->count[0], must_str = 0;
    break;
  case 'u':
    if (strcmp(k, "unreadItemCount") == 0)
      slot = &fv->count[1], must_str = 0;
    break;
  case 't':
    if (strcmp(k, "totalItemCount") == 0)
      slot = &fv->count[2], must_str = 0;
    break;
  default:
    break;
  }
  return slot != NULL && must_str && !json_object_is_type(v, json_type_string)
             ? NULL
             : slot;
}

/* Takes references to g's values (g borrowed), one pass over its members
 * instead of a hash lookup per field. */
static void folder_scan(struct json_object *g, folder_vals *fv) {
  memset(fv, 0, sizeof *fv);
  if (!json_object_is_type(g, json_type_object))
    return;
  json_object_object_foreach(g, k, v) {
    struct json_object **slot = folder_slot(fv, k, v);
    if (slot != NULL)
      *slot = json_object_get(v);
  }
}

static void folder_vals_put(folder_vals *fv) {
  for (size_t i = 0; i < 3; i++) {
    json_object_put(fv->str[i]);
    json_object_put(fv->count[i]);
  }
  json_object_put(fv->hidden);
}

/* What a listing reads of a folder once its output is made: the child
 * folder count and the id (borrowed from the output, NULL when Graph sent
 * none). */
typedef struct folder_key {
  int64_t children;
  const char *id;
} folder_key;

/* The output's members, in their documented order. */
static o365_json_names folder_names = {
    .keys = {"id", "name", "parent_id", "child_count", "unread_count",
             "total_count", "is_hidden", "path", "depth", NULL}};

/* Adds the output members to o; fv's references, path and depth (NULL: a
 * single folder's output has neither) are transferred. o is empty, or
 * holds only Graph's id member when has_id (the output's "id" already,
 * fv->str[0] its value, borrowed). */
static void folder_fill(struct json_object *o, folder_vals *fv, int has_id,
                        struct json_object *path, struct json_object *depth,
                        folder_key *k) {
  struct json_object *v[9] = {has_id ? NULL : fv->str[0], fv->str[1],
                              fv->str[2]};
  k->id = fv->str[0] ? json_object_get_string(fv->str[0]) : NULL;
  for (size_t i = 0; i < 3; i++) {
    struct json_object *c = fv->count[i];
    int64_t n = 0;
    o365_json_to_int64(c, &n);
    if (i == 0)
      k->children = n;
    /* An integer as parsed is the value itself; anything else (absent, a
     * numeric string) becomes one. */
    if (!json_object_is_type(c, json_type_int)) {
      json_object_put(c);
      c = json_object_new_int64(n);
    }
    v[3 + i] = c;
  }
  struct json_object *h = fv->hidden;
  if (!json_object_is_type(h, json_type_boolean)) {
    int b = json_object_get_boolean(h);
    json_object_put(h);
    h = json_object_new_boolean(b);
  }
  v[6] = h;
  v[7] = path;
  v[8] = depth;
  o365_json_add_names(o, &folder_names, v);
}

struct json_object *o365_folder_json(struct json_object *g) {
  folder_vals fv;
  folder_key k;
  folder_scan(g, &fv);
  struct json_object *o = json_object_new_object();
  if (o == NULL) {
    folder_vals_put(&fv);
    return NULL;
  }
  folder_fill(o, &fv, 0, NULL, NULL, &k);
  return o;
}

/* Makes Graph's folder object g, which the caller owns alone, ready to
 * become its output (folder_fill): its values are moved into fv and its
 * members removed, but for its id, which Graph sends first under the
 * output's own name (returns 1 then; fv->str[0] is that member's value,
 * borrowed). A listing reuses the parsed objects instead of building a
 * second object per folder and freeing both: the values move without a
 * reference taken and dropped (the entry's value is cleared before it
 * goes), the names and the object are not made again (json-c's public
 * linkhash API). */
static int folder_strip(struct json_object *g, folder_vals *fv) {
  memset(fv, 0, sizeof *fv);
  struct lh_table *t = json_object_get_object(g);
  struct lh_entry *e = t->head, *next;
  int has_id = 0;
  for (; e != NULL; e = next) {
    next = e->next;
    struct json_object *v = (struct json_object *)lh_entry_v(e);
    struct json_object **slot = folder_slot(fv, (const char *)lh_entry_k(e), v);
    if (slot == &fv->str[0] && e == t->head) {
      fv->str[0] = v; /* stays where it is */
      has_id = 1;
      continue;
    }
    if (slot != NULL) {
      *slot = v;
      lh_entry_set_val(e, NULL);
    }
    lh_table_delete_entry(t, e);
  }
  return has_id;
}

#define NO_FOLDER ((size_t)-1)

typedef struct pending {
  char *id; /* NULL = top level */
  char *path;
  int depth;
  size_t folder; /* recs index of the folder listed, NO_FOLDER: the parent */
} pending;

/* A listed folder, and its place in the tree: the children of a folder are
 * what the GET of its childFolders returned, in that order. */
typedef struct rec {
  struct json_object *obj; /* owned reference */
  size_t first, last;      /* its children (recs indexes) */
  size_t next;             /* its next sibling */
} rec;

typedef struct lister {
  wfc_call *call;
  char *mailbox;
  int recursive, include_hidden, max_depth;
  size_t max_folders;
  pending *queue; /* FIFO: queue[head..n) */
  size_t head, n, cap;
  rec *recs; /* fetch order */
  size_t nrecs, reccap;
  size_t first, last; /* the top-level folders */
  int truncated;
  struct json_object *depth[65]; /* each depth's value, made once */
  o365_folder_list_cb cb;
  void *arg;
} lister;

static void lister_free(lister *l) {
  for (size_t i = 0; i < l->n; i++) {
    free(l->queue[i].id);
    free(l->queue[i].path);
  }
  free(l->queue);
  free(l->mailbox);
  for (size_t i = 0; i < l->nrecs; i++)
    json_object_put(l->recs[i].obj);
  free(l->recs);
  for (int i = 0; i <= l->max_depth; i++)
    json_object_put(l->depth[i]);
  free(l);
}

/* A new reference to the listing's value of depth d (0..64), or NULL when
 * out of memory. */
static struct json_object *depth_value(lister *l, int d) {
  if (l->depth[d] == NULL)
    l->depth[d] = json_object_new_int(d);
  return json_object_get(l->depth[d]);
}

static int enqueue(lister *l, const char *id, const char *path, int depth,
                   size_t folder) {
  if (l->n == l->cap) {
    size_t cap = l->cap ? l->cap * 2 : 16;
    pending *q = realloc(l->queue, cap * sizeof *q);
    if (q == NULL)
      return WFC_ENOMEM;
    l->queue = q;
    l->cap = cap;
  }
  pending *p = &l->queue[l->n];
  p->id = id ? strdup(id) : NULL;
  p->path = path ? strdup(path) : NULL;
  p->depth = depth;
  p->folder = folder;
  if ((id && !p->id) || (path && !p->path)) {
    free(p->id);
    free(p->path);
    return WFC_ENOMEM;
  }
  l->n++;
  return 0;
}

/* Appends obj (transfer) as the last child of folder parent. */
static int add_rec(lister *l, struct json_object *obj, size_t parent) {
  if (l->nrecs == l->reccap) {
    size_t cap = l->reccap ? l->reccap * 2 : 32;
    rec *r = realloc(l->recs, cap * sizeof *r);
    if (r == NULL) {
      json_object_put(obj);
      return WFC_ENOMEM;
    }
    l->recs = r;
    l->reccap = cap;
  }
  size_t i = l->nrecs++;
  l->recs[i] = (rec){obj, NO_FOLDER, NO_FOLDER, NO_FOLDER};
  size_t *first = parent == NO_FOLDER ? &l->first : &l->recs[parent].first;
  size_t *last = parent == NO_FOLDER ? &l->last : &l->recs[parent].last;
  if (*first == NO_FOLDER)
    *first = i;
  else
    l->recs[*last].next = i;
  *last = i;
  return 0;
}

/* Appends folder i and its following siblings, each followed by its own
 * subtree (depth-first; recursion bounded by max_depth). */
static void emit(const lister *l, size_t i, struct json_object *out) {
  for (; i != NO_FOLDER; i = l->recs[i].next) {
    json_object_array_add(out, json_object_get(l->recs[i].obj));
    emit(l, l->recs[i].first, out);
  }
}

static void list_finish(lister *l, int status, const char *error) {
  struct json_object *out = NULL;
  if (status == 0) {
    out = json_object_new_array_ext((int)l->nrecs);
    emit(l, l->first, out);
  }
  l->cb(l->arg, status, out, l->truncated, error);
  json_object_put(out);
  lister_free(l);
}

static void list_next(lister *l);

static int on_list_page(void *arg, const o365_graph_res *res) {
  lister *l = arg;
  pending *p = &l->queue[l->head];
  if (res->error != 0) {
    o365_buf b;
    o365_buf_init(&b);
    o365_buf_printf(&b, "listing the folders of \"%s\" failed: ",
                    p->path ? p->path : "(top level)");
    if (res->gerr.code[0])
      o365_buf_printf(&b, "%s: ", res->gerr.code);
    o365_buf_put(&b, res->message ? res->message : "request failed");
    list_finish(l, res->error, b.data ? b.data : "listing folders failed");
    o365_buf_free(&b);
    return 0;
  }
  struct json_object *value = NULL;
  json_object_object_get_ex(res->json, "value", &value);
  size_t n = json_object_is_type(value, json_type_array)
                 ? json_object_array_length(value)
                 : 0;
  for (size_t i = 0; i < n; i++) {
    if (l->nrecs >= l->max_folders) {
      l->truncated = 1;
      break;
    }
    /* The page's folder becomes the output's: taken from the page (whose
     * tree is freed after this call, which reads it no more) and rewritten
     * in place. Anything else than an object gets an object of its own. */
    struct json_object *f = json_object_array_get_idx(value, i);
    folder_vals fv;
    int has_id = 0;
    if (json_object_is_type(f, json_type_object)) {
      has_id = folder_strip(json_object_get(f), &fv);
    } else {
      folder_scan(f, &fv);
      f = json_object_new_object();
    }
    const char *name = fv.str[1] ? json_object_get_string(fv.str[1]) : "";
    /* path: the parent's path + "/" + name, built on the stack when it
     * fits (most do: json-c copies it); at the top, the name itself. The
     * output's values are read-only (docs/abi.md), so a top folder's path
     * is its name's value and every depth one value of the listing. */
    size_t plen = p->path ? strlen(p->path) + 1 : 0, nlen = strlen(name);
    char small[256];
    char *path =
        plen + nlen + 1 <= sizeof small ? small : malloc(plen + nlen + 1);
    struct json_object *depth = depth_value(l, p->depth);
    if (f == NULL || path == NULL || depth == NULL) {
      if (has_id)
        fv.str[0] = NULL; /* f's own, freed with it */
      folder_vals_put(&fv);
      json_object_put(f);
      json_object_put(depth);
      if (path != small)
        free(path);
      list_finish(l, WFC_ENOMEM, "out of memory");
      return 0;
    }
    if (p->path != NULL) {
      memcpy(path, p->path, plen - 1);
      path[plen - 1] = '/';
    }
    memcpy(path + plen, name, nlen + 1);
    folder_key k;
    folder_fill(f, &fv, has_id,
                p->path == NULL && fv.str[1] != NULL
                    ? json_object_get(fv.str[1])
                    : json_object_new_string_len(path, (int)(plen + nlen)),
                depth, &k);
    size_t self = l->nrecs;
    int rc = add_rec(l, f, p->folder);
    if (rc == 0 && l->recursive && k.children > 0 && p->depth < l->max_depth &&
        k.id != NULL)
      rc = enqueue(l, k.id, path, p->depth + 1, self);
    if (path != small)
      free(path);
    if (rc != 0) {
      list_finish(l, WFC_ENOMEM, "out of memory");
      return 0;
    }
    p = &l->queue[l->head]; /* enqueue may have moved the queue */
  }
  if (!l->truncated && res->next_link != NULL)
    return 1;
  l->head++;
  list_next(l);
  return 0;
}

/* Sends the GET of the next pending folder's children: 0, or the error
 * (on_list_page then never runs). */
static int list_send(lister *l) {
  pending *p = &l->queue[l->head];
  o365_buf path;
  o365_buf_init(&path);
  o365_graph_mailbox(&path, l->mailbox);
  o365_buf_put(&path, "/mailFolders");
  if (p->id != NULL) {
    o365_buf_seg(&path, p->id);
    o365_buf_put(&path, "/childFolders");
  }
  o365_buf_query(&path, "$top", "100");
  if (l->include_hidden)
    o365_buf_query(&path, "includeHiddenFolders", "true");
  int rc = WFC_ENOMEM;
  if (!path.oom) {
    o365_graph_opts o = {.path = path.data};
    rc = o365_graph_pages(l->call, &o, on_list_page, l);
  }
  o365_buf_free(&path);
  return rc;
}

static void list_next(lister *l) {
  int rc;
  if (l->head == l->n || l->truncated)
    list_finish(l, 0, NULL);
  else if ((rc = list_send(l)) != 0)
    list_finish(l, rc, "could not start listing folders");
}

int o365_folder_list(wfc_call *call, const o365_folder_list_opts *o,
                     o365_folder_list_cb cb, void *arg) {
  if (call == NULL || o == NULL || cb == NULL)
    return WFC_EINVAL;
  lister *l = calloc(1, sizeof *l);
  if (l == NULL)
    return WFC_ENOMEM;
  l->call = call;
  l->cb = cb;
  l->arg = arg;
  l->recursive = o->recursive;
  l->include_hidden = o->include_hidden;
  /* The depths kept (depth_value) and the card's limit. */
  l->max_depth = o->max_depth < 0 ? 0 : o->max_depth > 64 ? 64 : o->max_depth;
  l->max_folders = o->max_folders ? o->max_folders : 1000;
  l->first = l->last = NO_FOLDER;
  l->mailbox = o->mailbox && *o->mailbox ? strdup(o->mailbox) : NULL;
  int rc = WFC_ENOMEM;
  if (!(o->mailbox && *o->mailbox) || l->mailbox)
    rc = enqueue(l, o->parent_id, NULL, 0, NO_FOLDER);
  /* The first page is asked for at once: the pager answers later, and a
   * request that cannot start is this call's error (cb never runs). */
  if (rc == 0)
    rc = list_send(l);
  if (rc != 0)
    lister_free(l);
  return rc;
}

/* ---- One operation on one folder ---------------------------------------- */

typedef struct folder_op {
  wfc_call *call;
  char *method;
  struct json_object *body; /* owned reference, or NULL */
  char *what;
  unsigned flags;
} folder_op;

static void folder_op_free(folder_op *f) {
  free(f->method);
  free(f->what);
  json_object_put(f->body);
  free(f);
}

static const char *folder_input(wfc_call *call) {
  return o365_json_str(o365_api->call_input(call), "folder");
}

static void on_folder_op(void *arg, const o365_graph_res *res) {
  folder_op *f = arg;
  if (res->error == WFC_EEXIST) {
    o365_api->call_fail(f->call, WFC_EEXIST, o365_graph_detail(res),
                        "name: a folder named \"%s\" already exists beside "
                        "\"%s\"",
                        o365_json_str(o365_api->call_input(f->call), "name"),
                        folder_input(f->call));
  } else if (res->error == WFC_ENOTFOUND) {
    o365_api->call_fail(f->call, WFC_ENOTFOUND, o365_graph_detail(res),
                        "folder: \"%s\" no longer exists (%s)",
                        folder_input(f->call), f->what);
  } else if (res->error != 0) {
    o365_graph_fail(f->call, res, f->what);
  } else if (strcmp(f->method, "DELETE") == 0) {
    struct json_object *out = json_object_new_object();
    O365_JSON_ADD(out, "deleted", json_object_new_boolean(1));
    o365_api->call_done(f->call, out);
  } else {
    o365_api->call_done(f->call, o365_folder_json(res->json));
  }
  folder_op_free(f);
}

static void on_op_folder(void *arg, int status, const char *folder_id,
                         const char *error) {
  folder_op *f = arg;
  if (status != 0) {
    o365_api->call_fail(f->call, status, NULL, "folder: %s", error);
    folder_op_free(f);
    return;
  }
  if ((f->flags & O365_FOLDER_OP_NOT_WELLKNOWN) &&
      o365_folder_wellknown(folder_id) != NULL) {
    /* Outlook's own folders (Inbox, Sent Items...) are neither renamed
     * nor deleted: say so before Graph answers a bare 403. */
    o365_api->call_fail(f->call, WFC_EVALIDATION, NULL,
                        "folder: \"%s\" is the well-known folder %s, which "
                        "Outlook does not let be renamed or deleted; nothing "
                        "was changed",
                        folder_input(f->call), folder_id);
    folder_op_free(f);
    return;
  }
  o365_buf path;
  o365_buf_init(&path);
  o365_graph_mailbox(&path, o365_call_mailbox(f->call));
  o365_buf_put(&path, "/mailFolders");
  o365_buf_seg(&path, folder_id);
  o365_graph_opts o = {.method = f->method, .path = path.data, .body = f->body};
  int rc = path.oom ? WFC_ENOMEM
                    : o365_graph_send(f->call, &o, on_folder_op, f, NULL);
  o365_buf_free(&path);
  if (rc != 0) {
    o365_api->call_fail(f->call, rc, NULL, "could not start the request");
    folder_op_free(f);
  }
}

int o365_folder_op(wfc_call *call, const char *method, struct json_object *body,
                   const char *what, unsigned flags) {
  folder_op *f = calloc(1, sizeof *f);
  if (f == NULL)
    return WFC_ENOMEM;
  f->call = call;
  f->method = strdup(method);
  f->what = strdup(what);
  f->body = body ? json_object_get(body) : NULL;
  f->flags = flags;
  if (f->method == NULL || f->what == NULL) {
    folder_op_free(f);
    return WFC_ENOMEM;
  }
  int rc = o365_folder_resolve(call, o365_call_mailbox(call),
                               folder_input(call), on_op_folder, f);
  if (rc != 0)
    folder_op_free(f);
  return rc;
}

const wfc_field o365_folder_fields[] = {
    {.name = "id", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED},
    {.name = "name", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_REQUIRED},
    {.name = "parent_id", .type = WFC_TYPE_STRING},
    {.name = "child_count", .type = WFC_TYPE_INTEGER},
    {.name = "unread_count", .type = WFC_TYPE_INTEGER},
    {.name = "total_count", .type = WFC_TYPE_INTEGER},
    {.name = "is_hidden", .type = WFC_TYPE_BOOLEAN},
    {0}};
