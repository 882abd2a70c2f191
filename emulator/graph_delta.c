/* Graph delta query for a folder's messages: nextLink pages, a deltaLink to
 * resume from, @removed entries for messages deleted or moved out. State is
 * carried in the tokens (opaque base64url JSON): the folder, the sequence the
 * round started after ("since"), the snapshot ("upto"), the paging cursor
 * and the first request's options. */
#define _GNU_SOURCE /* strcasestr */
#include "graph_priv.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Bumped by POST /__emulator/delta/expire: tokens of an older generation
 * answer 410 syncStateNotFound, as Graph does when it dropped a sync state
 * (kept across resets, so a token from before a reset stays expired). */
static _Atomic uint64_t generation;

typedef struct delta_state {
  uint64_t gen;
  char folder[EMU_ID_MAX];
  uint64_t since, upto, cursor;
  char change_type[16]; /* "", created, updated, deleted */
  char select[512];
  double min_received; /* $filter receivedDateTime ge|gt; <0 none */
  bool min_strict;
} delta_state;

static char *encode_state(const delta_state *st) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "g", json_object_new_int64((int64_t)st->gen));
  json_object_object_add(o, "f", json_object_new_string(st->folder));
  json_object_object_add(o, "s", json_object_new_int64((int64_t)st->since));
  json_object_object_add(o, "u", json_object_new_int64((int64_t)st->upto));
  json_object_object_add(o, "c", json_object_new_int64((int64_t)st->cursor));
  json_object_object_add(o, "t", json_object_new_string(st->change_type));
  json_object_object_add(o, "sel", json_object_new_string(st->select));
  json_object_object_add(o, "r", json_object_new_double(st->min_received));
  json_object_object_add(o, "rs", json_object_new_boolean(st->min_strict));
  const char *js = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
  char *tok = emu_b64url_encode(js, strlen(js));
  json_object_put(o);
  return tok;
}

static int decode_state(const char *tok, delta_state *st) {
  size_t n = 0;
  unsigned char *raw = emu_b64_decode(tok, &n);
  if (!raw)
    return -1;
  char *txt = malloc(n + 1);
  memcpy(txt, raw, n);
  txt[n] = '\0';
  free(raw);
  json_object *o = json_tokener_parse(txt);
  free(txt);
  if (!o || !json_object_is_type(o, json_type_object)) {
    json_object_put(o);
    return -1;
  }
  json_object *g, *f, *s, *u, *c, *t, *sel, *rmin, *rs;
  int rc = -1;
  if (json_object_object_get_ex(o, "g", &g) &&
      json_object_object_get_ex(o, "f", &f) &&
      json_object_object_get_ex(o, "s", &s) &&
      json_object_object_get_ex(o, "u", &u) &&
      json_object_object_get_ex(o, "c", &c) &&
      json_object_object_get_ex(o, "t", &t) &&
      json_object_object_get_ex(o, "sel", &sel) &&
      json_object_object_get_ex(o, "r", &rmin) &&
      json_object_object_get_ex(o, "rs", &rs)) {
    st->gen = (uint64_t)json_object_get_int64(g);
    snprintf(st->folder, sizeof(st->folder), "%s", json_object_get_string(f));
    st->since = (uint64_t)json_object_get_int64(s);
    st->upto = (uint64_t)json_object_get_int64(u);
    st->cursor = (uint64_t)json_object_get_int64(c);
    snprintf(st->change_type, sizeof(st->change_type), "%s",
             json_object_get_string(t));
    snprintf(st->select, sizeof(st->select), "%s", json_object_get_string(sel));
    st->min_received = json_object_get_double(rmin);
    st->min_strict = json_object_get_boolean(rs);
    rc = 0;
  }
  json_object_put(o);
  return rc;
}

typedef struct entry {
  uint64_t seq;
  emu_message *m; /* or */
  emu_tombstone *tomb;
} entry;

static int cmp_entry(const void *a, const void *b) {
  const entry *x = a, *y = b;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static int first_request(graph_ctx *c, emu_folder *f, delta_state *st) {
  emu_req *r = c->r;
  memset(st, 0, sizeof(*st));
  st->gen = atomic_load(&generation);
  snprintf(st->folder, sizeof(st->folder), "%s", f->id);
  st->min_received = -1;
  const char *ct = emu_req_query(r, "changeType");
  if (ct) {
    if (strcmp(ct, "created") && strcmp(ct, "updated") &&
        strcmp(ct, "deleted")) {
      emu_graph_error(r, 400, "BadRequest",
                      "Invalid changeType '%s'; expected created, updated or "
                      "deleted.",
                      ct);
      return -1;
    }
    snprintf(st->change_type, sizeof(st->change_type), "%s", ct);
  }
  if (emu_req_query(r, "$search")) {
    emu_graph_error(r, 400, "BadRequest",
                    "The query parameter '$search' is not supported with delta "
                    "queries.");
    return -1;
  }
  const char *ob = emu_req_query(r, "$orderby");
  if (ob && strcasecmp(ob, "receivedDateTime desc") != 0) {
    emu_graph_error(r, 400, "BadRequest",
                    "Delta queries support only '$orderby=receivedDateTime "
                    "desc'.");
    return -1;
  }
  const char *flt = emu_req_query(r, "$filter");
  if (flt) {
    char op[3] = "";
    char val[64] = "";
    double t;
    if (sscanf(flt, "receivedDateTime %2s %63s", op, val) != 2 ||
        (strcmp(op, "ge") && strcmp(op, "gt")) ||
        emu_odata_parse_time(val, &t) < 0) {
      emu_graph_error(r, 400, "BadRequest",
                      "Delta queries support only '$filter=receivedDateTime "
                      "ge|gt {value}'.");
      return -1;
    }
    st->min_received = t;
    st->min_strict = op[1] == 't';
  }
  const char *sel = emu_req_query(r, "$select");
  if (sel) {
    emu_odata_params p = {.select = sel};
    emu_odata_query q;
    emu_odata_error err;
    if (emu_odata_query_parse(&q, &p, emu_odata_message_props, &err) < 0) {
      emu_graph_error(r, err.status, err.code, "%s", err.message);
      return -1;
    }
    emu_odata_query_clear(&q);
    snprintf(st->select, sizeof(st->select), "%s", sel);
  }
  st->since = 0;
  st->upto = emu_mailstore_seq(graph_store());
  st->cursor = 0;
  return 0;
}

static void h_delta(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_READ, &c))
    return;
  emu_folder *f = graph_folder(&c, emu_req_param(r, "folder"));
  if (!f)
    return;
  delta_state st;
  const char *skip = emu_req_query(r, "$skiptoken");
  const char *dtok = emu_req_query(r, "$deltatoken");
  if (skip || dtok) {
    if (decode_state(skip ? skip : dtok, &st) < 0) {
      emu_graph_error(r, 400, "BadRequest", "The delta token is malformed.");
      return;
    }
    if (st.gen != atomic_load(&generation)) {
      emu_graph_error(r, 410, "syncStateNotFound",
                      "The sync state generation is not found. The delta "
                      "token is expired and data must be synchronized "
                      "again.");
      return;
    }
    if (strcmp(st.folder, f->id) != 0) {
      emu_graph_error(r, 410, "SyncStateNotFound",
                      "The sync state does not belong to this folder. Restart "
                      "the synchronization.");
      return;
    }
    if (dtok) { /* a new round from the saved point */
      st.since = st.upto;
      st.cursor = 0;
      st.upto = emu_mailstore_seq(graph_store());
    }
  } else if (first_request(&c, f, &st) < 0) {
    return;
  }
  size_t page = 10;
  const char *prefer = emu_req_header(r, "Prefer");
  const char *mp = prefer ? strcasestr(prefer, "odata.maxpagesize=") : NULL;
  if (mp) {
    int n = atoi(mp + strlen("odata.maxpagesize="));
    if (n > 0 && n <= 1000) {
      page = (size_t)n;
      char pa[48];
      snprintf(pa, sizeof(pa), "odata.maxpagesize=%d", n);
      emu_resp_header(r, "Preference-Applied", pa);
    }
  }
  const char *top = emu_req_query(r, "$top");
  if (top && atoi(top) > 0 && atoi(top) <= 1000)
    page = (size_t)atoi(top);

  uint64_t lo = st.cursor > st.since ? st.cursor : st.since;
  entry *ents = calloc(f->nmsgs + f->ntombs + 1, sizeof(*ents));
  size_t n = 0;
  bool want_created = !st.change_type[0] || !strcmp(st.change_type, "created");
  bool want_updated = !st.change_type[0] || !strcmp(st.change_type, "updated");
  bool want_deleted = !st.change_type[0] || !strcmp(st.change_type, "deleted");
  for (size_t i = 0; i < f->nmsgs; i++) {
    emu_message *m = f->msgs[i];
    if (m->seq <= lo || m->seq > st.upto)
      continue;
    bool created = m->cseq > st.since;
    if ((created && !want_created) || (!created && !want_updated))
      continue;
    if (st.min_received >= 0) {
      double t;
      json_object *rv = NULL;
      json_object_object_get_ex(m->props, "receivedDateTime", &rv);
      if (emu_odata_parse_time(json_object_get_string(rv), &t) < 0 ||
          t < st.min_received || (st.min_strict && t == st.min_received))
        continue;
    }
    ents[n++] = (entry){m->seq, m, NULL};
  }
  if (st.since > 0 && want_deleted)
    for (size_t i = 0; i < f->ntombs; i++)
      if (f->tombs[i].seq > lo && f->tombs[i].seq <= st.upto)
        ents[n++] = (entry){f->tombs[i].seq, NULL, &f->tombs[i]};
  qsort(ents, n, sizeof(*ents), cmp_entry);

  emu_odata_params p = {.select = st.select[0] ? st.select : NULL};
  emu_odata_query q;
  emu_odata_error err;
  emu_odata_query_parse(&q, &p, emu_odata_message_props, &err);
  json_object *vals = json_object_new_array();
  size_t count = n < page ? n : page;
  for (size_t i = 0; i < count; i++) {
    json_object *o;
    if (ents[i].m) {
      json_object *full = graph_message_json(&c, ents[i].m);
      o = emu_odata_select(&q, full);
      json_object_put(full);
      json_object_object_add(
          o, "@odata.type", json_object_new_string("#microsoft.graph.message"));
    } else {
      o = json_object_new_object();
      json_object_object_add(
          o, "@odata.type", json_object_new_string("#microsoft.graph.message"));
      json_object_object_add(
          o, "id",
          json_object_new_string(c.immutable ? ents[i].tomb->immutable_id
                                             : ents[i].tomb->id));
      json_object *rm = json_object_new_object();
      json_object_object_add(rm, "reason", json_object_new_string("deleted"));
      json_object_object_add(o, "@removed", rm);
    }
    json_object_array_add(vals, o);
  }
  emu_odata_query_clear(&q);
  json_object *out = json_object_new_object();
  char *ctx = graph_context_url(&c, "messages");
  json_object_object_add(out, "@odata.context", json_object_new_string(ctx));
  free(ctx);
  if (n > count) {
    st.cursor = ents[count - 1].seq;
    char *tok = encode_state(&st);
    char *link = emu_strdup_printf("%s%s?%%24skiptoken=%s", emu_req_base_url(r),
                                   emu_req_path(r), tok);
    json_object_object_add(out, "@odata.nextLink",
                           json_object_new_string(link));
    free(link);
    free(tok);
  } else {
    st.cursor = 0;
    char *tok = encode_state(&st);
    char *link = emu_strdup_printf("%s%s?%%24deltatoken=%s",
                                   emu_req_base_url(r), emu_req_path(r), tok);
    json_object_object_add(out, "@odata.deltaLink",
                           json_object_new_string(link));
    free(link);
    free(tok);
  }
  json_object_object_add(out, "value", vals);
  free(ents);
  emu_resp_json(r, 200, out);
}

static void h_expire(emu_req *r) {
  uint64_t g = atomic_fetch_add(&generation, 1) + 1;
  json_object *o = json_object_new_object();
  json_object_object_add(o, "generation", json_object_new_int64((int64_t)g));
  emu_resp_json(r, 200, o);
}

void graph_delta_init(void) {
  emu_route_add("POST", "/__emulator/delta/expire", h_expire,
                EMU_ROUTE_NO_FAULTS);
  graph_route("GET", "/mailFolders/{folder}/messages/delta", h_delta, 0);
  graph_route("GET", "/mailFolders/{folder}/messages/microsoft.graph.delta()",
              h_delta, 0);
}
