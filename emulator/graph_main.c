/* Graph mail module: registration, the mail store's lifecycle, per-request
 * authorization (token, scopes, mailbox rights, throttling) and helpers the
 * other graph_*.c files share. */
#define _GNU_SOURCE /* strcasestr */
#include "graph_priv.h"

#include "apponly.h"
#include "auth.h"
#include "openapi.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static emu_mailstore *store;

emu_mailstore *graph_store(void) {
  return store;
}

/* Rebuilds the store from the tenant: one mailbox per user (shared ones
 * included), then the "mailboxes" section's folders and messages. */
static void graph_reset(json_object *config) {
  emu_mailstore_free(store);
  store = emu_mailstore_new(NULL);
  if (!store) {
    fprintf(stderr, "m365-emulator: graph: cannot create a temp directory\n");
    return;
  }
  emu_mailstore_set_clock(store, emu_now_ms);
  emu_tenant *t = emu_tenant_get();
  for (size_t i = 0; t && i < t->nusers; i++) {
    emu_mailbox *mb = emu_mailbox_add(store, t->users[i].id, t->users[i].upn,
                                      t->users[i].display_name);
    mb->shared = t->users[i].shared;
  }
  json_object *boxes = NULL;
  if (config && json_object_object_get_ex(config, "mailboxes", &boxes)) {
    char err[256];
    if (emu_mailstore_load(store, boxes, err, sizeof(err)) < 0)
      fprintf(stderr, "m365-emulator: graph: tenant \"mailboxes\": %s\n", err);
  }
}

static void graph_atexit(void) {
  emu_mailstore_free(store);
  store = NULL;
}

static int graph_init(void) {
  emu_reset_hook_add(graph_reset);
  atexit(graph_atexit);
  graph_messages_init();
  graph_folders_init();
  graph_attach_init();
  graph_delta_init();
  graph_settings_init();
  graph_admin_init();
  graph_batch_init();
  graph_beta_init();
  return 0;
}

EMU_MODULE(graph, graph_init)

void graph_route(const char *method, const char *suffix, emu_handler_fn fn,
                 unsigned flags) {
  char p[512];
  snprintf(p, sizeof(p), "/v1.0/me%s", suffix);
  if (emu_route_add(method, p, fn, flags) < 0)
    fprintf(stderr, "m365-emulator: graph: cannot add route %s %s\n", method,
            p);
  snprintf(p, sizeof(p), "/v1.0/users/{user}%s", suffix);
  if (emu_route_add(method, p, fn, flags) < 0)
    fprintf(stderr, "m365-emulator: graph: cannot add route %s %s\n", method,
            p);
}

/* ---- authorization ------------------------------------------------------ */

static void access_denied(emu_req *r) {
  emu_graph_error(r, 403, "ErrorAccessDenied",
                  "Access is denied. Check credentials and try again.");
}

int graph_begin(emu_req *r, enum graph_need need, graph_ctx *c) {
  memset(c, 0, sizeof(*c));
  c->r = r;
  emu_principal p;
  if (emu_auth_graph(r, &p) != 0)
    return -1; /* 401 already set */
  const emu_user *caller = p.user_id[0] ? emu_user_find(p.user_id) : NULL;
  c->caller = caller;
  snprintf(c->app, sizeof(c->app), "%s", p.app_id);
  const char *who = emu_req_param(r, "user");
  const emu_user *target = NULL;
  if (!who) {
    if (!caller) {
      emu_graph_error(r, 400, "BadRequest",
                      "/me request is only valid with delegated "
                      "authentication flow.");
      return -1;
    }
    target = caller;
  } else {
    target = emu_user_find(who);
    if (!target) {
      emu_graph_error(r, 404, "ErrorInvalidUser",
                      "The requested user '%s' is invalid.", who);
      return -1;
    }
  }
  c->mb = emu_mailbox_find(store, target->id);
  if (!c->mb) {
    emu_graph_error(r, 404, "MailboxNotEnabledForRESTAPI",
                    "The mailbox is either inactive, soft-deleted, or is "
                    "hosted on-premise.");
    return -1;
  }
  c->own = caller && caller == target;
  bool full = c->own, send_as = c->own;
  if (caller && !c->own) {
    const emu_mailbox_perm *perm = emu_mailbox_perm_find(target, caller->id);
    full = perm && perm->full_access;
    send_as = perm && (perm->send_as || perm->send_on_behalf);
  }
  if (!caller) /* application permissions reach every mailbox */
    full = send_as = true;
  c->send_as = send_as;
  bool shared = caller && !c->own;
  bool ok = false;
  switch (need) {
  case GRAPH_READ:
    ok =
        emu_scope_allows(&p, shared ? "Mail.Read.Shared" : "Mail.Read") && full;
    break;
  case GRAPH_WRITE:
    ok = emu_scope_allows(&p, shared ? "Mail.ReadWrite.Shared"
                                     : "Mail.ReadWrite") &&
         full;
    break;
  case GRAPH_SEND:
    ok = emu_scope_allows(&p, shared ? "Mail.Send.Shared" : "Mail.Send");
    if (ok && !send_as) {
      emu_graph_error(r, 403, "ErrorSendAsDenied",
                      "The user account which was used to submit this request "
                      "does not have the right to send mail on behalf of the "
                      "specified sending account., Cannot submit message.");
      return -1;
    }
    break;
  case GRAPH_SETTINGS:
  case GRAPH_SETTINGS_WRITE:
    ok = emu_scope_allows(&p, need == GRAPH_SETTINGS
                                  ? "MailboxSettings.Read"
                                  : "MailboxSettings.ReadWrite") &&
         (c->own || !caller);
    break;
  }
  if (!ok) {
    access_denied(r);
    return -1;
  }
  /* App-only: Exchange's application access policies may keep the app
   * out of this mailbox (New-ApplicationAccessPolicy). */
  if (!caller && !emu_apponly_mailbox_allowed(p.app_id, target)) {
    emu_apponly_policy_denied(r);
    return -1;
  }
  /* A strict server answers 406 when Accept admits none of what the
   * documents say the operation returns (JSON, or octet-stream for
   * .../$value). */
  const char *media = emu_openapi_produces(emu_req_method(r), emu_req_route(r));
  if (!emu_openapi_accepts(emu_req_header(r, "Accept"), media)) {
    emu_graph_error(r, 406, "NotAcceptable",
                    "This service doesn't support the format requested in "
                    "the Accept header (this operation returns %s).",
                    media);
    return -1;
  }
  const char *prefer = emu_req_header(r, "Prefer");
  if (prefer && strcasestr(prefer, "IdType=\"ImmutableId\"")) {
    c->immutable = true;
    emu_resp_header(r, "Preference-Applied", "IdType=\"ImmutableId\"");
  }
  const char *exp = emu_req_query(r, "$expand");
  if (exp) {
    if (strcasecmp(exp, "attachments") != 0) {
      emu_graph_error(r, 400, "BadRequest",
                      "Parsing OData Select and Expand failed: Could not find "
                      "a property named '%s' on type "
                      "'microsoft.graph.message'.",
                      exp);
      return -1;
    }
    c->expand_attachments = true;
  }
  snprintf(c->user_ref, sizeof(c->user_ref), "users('%s')", c->mb->user_id);
  if (emu_throttle_enter(r, c->app, c->mb->user_id) != 0)
    return -1;
  return 0;
}

/* ---- lookups and helpers ------------------------------------------------ */

void graph_not_found(graph_ctx *c) {
  emu_graph_error(c->r, 404, "ErrorItemNotFound",
                  "The specified object was not found in the store., The "
                  "process failed to get the correct properties.");
}

emu_message *graph_message(graph_ctx *c, const char *id) {
  emu_message *m = emu_message_find(c->mb, id);
  if (!m)
    graph_not_found(c);
  return m;
}

emu_message *graph_path_message(graph_ctx *c) {
  emu_message *m = graph_message(c, emu_req_param(c->r, "id"));
  if (!m)
    return NULL;
  const char *fid = emu_req_param(c->r, "folder");
  if (fid && emu_folder_find(c->mb, fid) != m->folder) {
    graph_not_found(c);
    return NULL;
  }
  return m;
}

emu_message *graph_begin_message(emu_req *r, enum graph_need need,
                                 graph_ctx *c) {
  return graph_begin(r, need, c) ? NULL : graph_path_message(c);
}

emu_folder *graph_folder(graph_ctx *c, const char *id) {
  emu_folder *f = emu_folder_find(c->mb, id);
  if (!f)
    graph_not_found(c);
  return f;
}

char *graph_context_url(graph_ctx *c, const char *what) {
  const char *path = emu_req_path(c->r);
  const char *version =
      path && strncmp(path, "/beta/", 6) == 0 ? "beta" : "v1.0";
  return emu_strdup_printf("%s/%s/$metadata#%s/%s", emu_req_base_url(c->r),
                           version, c->user_ref, what);
}

json_object *graph_body_object(graph_ctx *c) {
  size_t len = 0;
  const char *raw = emu_req_body(c->r, &len);
  json_object *j = emu_req_json(c->r);
  if (!len || !raw[0]) {
    emu_graph_error(c->r, 400, "BadRequest",
                    "Empty Payload, JSON content "
                    "expected");
    return NULL;
  }
  if (!j || !json_object_is_type(j, json_type_object)) {
    emu_graph_error(c->r, 400, "RequestBodyRead",
                    "Invalid JSON. A token was not recognized in the JSON "
                    "content.");
    return NULL;
  }
  /* Shapes of Microsoft's OpenAPI (emulator/openapi.c): unknown properties,
   * wrong types, bad enum values are refused before the handler's own
   * checks; counted as "openapi_rejections" in /__emulator/stats. */
  emu_openapi_err oe;
  if (emu_openapi_check_request(emu_req_method(c->r), emu_req_route(c->r), j,
                                &oe) != 0) {
    emu_openapi_count_rejection();
    emu_graph_error(c->r, oe.status, oe.code, "%s", oe.message);
    return NULL;
  }
  return j;
}

bool graph_address_valid(const char *a) {
  if (!a)
    return false;
  const char *at = strchr(a, '@');
  if (!at || at == a || strchr(at + 1, '@') || !strchr(at + 1, '.'))
    return false;
  for (const char *p = a; *p; p++)
    if (isspace((unsigned char)*p) || *p == '<' || *p == '>' || *p == ',' ||
        *p == ';' || (unsigned char)*p < 0x20)
      return false;
  const char *dot = strrchr(at, '.');
  return dot[1] != '\0' && at[1] != '.';
}

/* ---- request body validation (graph-openapi microsoft.graph.message) --- */

enum ptype {
  P_STR,
  P_BOOL,
  P_RECIP,
  P_RECIPS,
  P_BODY,
  P_FLAG,
  P_STRS,
  P_IMPORTANCE,
  P_INFERENCE,
  P_DATE,
  P_ATTS,
  P_HEADERS,
  P_RO, /* read-only: accepted and ignored in bodies */
};

typedef struct prop_spec {
  const char *name;
  enum ptype type;
  bool draft_only; /* writable only while isDraft */
} prop_spec;

static const prop_spec message_spec[] = {
    {"subject", P_STR, true},
    {"body", P_BODY, true},
    {"from", P_RECIP, false},
    {"sender", P_RECIP, false},
    {"toRecipients", P_RECIPS, false},
    {"ccRecipients", P_RECIPS, false},
    {"bccRecipients", P_RECIPS, false},
    {"replyTo", P_RECIPS, true},
    {"importance", P_IMPORTANCE, false},
    {"inferenceClassification", P_INFERENCE, false},
    {"isRead", P_BOOL, false},
    {"isDeliveryReceiptRequested", P_BOOL, false},
    {"isReadReceiptRequested", P_BOOL, false},
    {"categories", P_STRS, false},
    {"flag", P_FLAG, false},
    {"internetMessageId", P_STR, true},
    {"internetMessageHeaders", P_HEADERS, true},
    {"attachments", P_ATTS, true},
    {"conversationId", P_RO, false},
    {"conversationIndex", P_RO, false},
    {"id", P_RO, false},
    {"createdDateTime", P_RO, false},
    {"lastModifiedDateTime", P_RO, false},
    {"receivedDateTime", P_DATE, false},
    {"sentDateTime", P_DATE, false},
    {"changeKey", P_RO, false},
    {"hasAttachments", P_RO, false},
    {"bodyPreview", P_RO, false},
    {"parentFolderId", P_RO, false},
    {"isDraft", P_RO, false},
    {"webLink", P_RO, false},
    {"uniqueBody", P_RO, false},
    {"@odata.type", P_RO, false},
    {"@odata.etag", P_RO, false},
    {NULL, P_RO, false},
};

__attribute__((format(printf, 2, 3))) static int
bad_body(graph_ctx *c, const char *fmt, ...) {
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof(msg), fmt, ap);
  va_end(ap);
  emu_graph_error(c->r, 400, "RequestBodyRead", "%s", msg);
  return -1;
}

static int check_type(graph_ctx *c, const char *name, json_object *v,
                      json_type want, const char *edm) {
  if (v == NULL || json_object_is_type(v, want))
    return 0; /* null is allowed for nullable properties */
  if (want == json_type_string || want == json_type_boolean)
    return bad_body(c,
                    "Cannot convert the literal '%s' to the expected type "
                    "'%s'.",
                    json_object_to_json_string(v), edm);
  char what[160];
  snprintf(what, sizeof(what), "%s", name);
  return bad_body(c,
                  "An unexpected '%s' node was found when reading property "
                  "'%s'.",
                  json_object_is_type(v, json_type_array)    ? "StartArray"
                  : json_object_is_type(v, json_type_object) ? "StartObject"
                                                             : "PrimitiveValue",
                  what);
}

static int check_unknown(graph_ctx *c, json_object *o, const char *type,
                         const char *const *allowed) {
  json_object_object_foreach(o, k, v) {
    (void)v;
    bool ok = false;
    for (size_t i = 0; allowed[i] && !ok; i++)
      ok = strcmp(allowed[i], k) == 0;
    if (!ok)
      return bad_body(c,
                      "The property '%s' does not exist on type '%s'. Make "
                      "sure to only use property names that are defined by "
                      "the type or mark the type as open type.",
                      k, type);
  }
  return 0;
}

static int check_recip(graph_ctx *c, const char *name, json_object *v) {
  static const char *const rk[] = {"emailAddress", "@odata.type", NULL};
  static const char *const ek[] = {"name", "address", NULL};
  if (check_type(c, name, v, json_type_object, "microsoft.graph.recipient"))
    return -1;
  if (!v)
    return 0;
  if (check_unknown(c, v, "microsoft.graph.recipient", rk))
    return -1;
  json_object *ea = NULL;
  if (!json_object_object_get_ex(v, "emailAddress", &ea) || !ea)
    return 0;
  if (check_type(c, "emailAddress", ea, json_type_object,
                 "microsoft.graph.emailAddress") ||
      check_unknown(c, ea, "microsoft.graph.emailAddress", ek))
    return -1;
  json_object_object_foreach(ea, k, x) {
    if (check_type(c, k, x, json_type_string, "Edm.String"))
      return -1;
  }
  return 0;
}

static int check_prop(graph_ctx *c, const prop_spec *ps, json_object *v) {
  switch (ps->type) {
  case P_STR:
    return check_type(c, ps->name, v, json_type_string, "Edm.String");
  case P_BOOL:
    return check_type(c, ps->name, v, json_type_boolean, "Edm.Boolean");
  case P_DATE: {
    if (check_type(c, ps->name, v, json_type_string, "Edm.DateTimeOffset"))
      return -1;
    double t;
    if (v && emu_odata_parse_time(json_object_get_string(v), &t) < 0)
      return bad_body(c,
                      "Cannot convert the literal '%s' to the expected type "
                      "'Edm.DateTimeOffset'.",
                      json_object_get_string(v));
    return 0;
  }
  case P_RECIP:
    return check_recip(c, ps->name, v);
  case P_RECIPS:
  case P_STRS:
  case P_HEADERS:
  case P_ATTS: {
    if (check_type(c, ps->name, v, json_type_array, "Collection"))
      return -1;
    for (size_t i = 0; v && i < json_object_array_length(v); i++) {
      json_object *e = json_object_array_get_idx(v, i);
      if (ps->type == P_RECIPS && check_recip(c, ps->name, e))
        return -1;
      if (ps->type == P_STRS &&
          check_type(c, ps->name, e, json_type_string, "Edm.String"))
        return -1;
      if ((ps->type == P_HEADERS || ps->type == P_ATTS) &&
          check_type(c, ps->name, e, json_type_object, "object"))
        return -1;
    }
    return 0;
  }
  case P_BODY: {
    static const char *const bk[] = {"contentType", "content", "@odata.type",
                                     NULL};
    if (check_type(c, ps->name, v, json_type_object,
                   "microsoft.graph.itemBody"))
      return -1;
    if (!v || check_unknown(c, v, "microsoft.graph.itemBody", bk))
      return v ? -1 : 0;
    json_object *ct = NULL, *content = NULL;
    json_object_object_get_ex(v, "contentType", &ct);
    json_object_object_get_ex(v, "content", &content);
    if (check_type(c, "content", content, json_type_string, "Edm.String") ||
        check_type(c, "contentType", ct, json_type_string,
                   "microsoft.graph.bodyType"))
      return -1;
    if (ct && strcasecmp(json_object_get_string(ct), "text") &&
        strcasecmp(json_object_get_string(ct), "html"))
      return bad_body(c,
                      "Requested value '%s' was not found in enum "
                      "'microsoft.graph.bodyType'.",
                      json_object_get_string(ct));
    return 0;
  }
  case P_FLAG: {
    static const char *const fk[] = {"flagStatus",  "startDateTime",
                                     "dueDateTime", "completedDateTime",
                                     "@odata.type", NULL};
    if (check_type(c, ps->name, v, json_type_object,
                   "microsoft.graph.followupFlag"))
      return -1;
    if (!v)
      return 0;
    if (check_unknown(c, v, "microsoft.graph.followupFlag", fk))
      return -1;
    json_object *st = NULL;
    if (json_object_object_get_ex(v, "flagStatus", &st) && st) {
      const char *s = json_object_get_string(st);
      if (!json_object_is_type(st, json_type_string) ||
          (strcmp(s, "notFlagged") && strcmp(s, "complete") &&
           strcmp(s, "flagged")))
        return bad_body(c,
                        "Requested value '%s' was not found in enum "
                        "'microsoft.graph.followupFlagStatus'.",
                        s);
    }
    return 0;
  }
  case P_IMPORTANCE:
  case P_INFERENCE: {
    const char *en = ps->type == P_IMPORTANCE
                         ? "microsoft.graph.importance"
                         : "microsoft.graph.inferenceClassificationType";
    if (check_type(c, ps->name, v, json_type_string, en))
      return -1;
    const char *s = v ? json_object_get_string(v) : NULL;
    bool ok = !s || (ps->type == P_IMPORTANCE
                         ? !strcmp(s, "low") || !strcmp(s, "normal") ||
                               !strcmp(s, "high")
                         : !strcmp(s, "focused") || !strcmp(s, "other"));
    if (!ok)
      return bad_body(c, "Requested value '%s' was not found in enum '%s'.", s,
                      en);
    return 0;
  }
  case P_RO:
    return 0;
  }
  return 0;
}

int graph_validate_message(graph_ctx *c, json_object *msg, int mode) {
  if (!json_object_is_type(msg, json_type_object)) {
    emu_graph_error(c->r, 400, "RequestBodyRead",
                    "An unexpected '%s' node was found when reading a "
                    "'microsoft.graph.message' resource.",
                    json_object_is_type(msg, json_type_array)
                        ? "StartArray"
                        : "PrimitiveValue");
    return -1;
  }
  json_object_object_foreach(msg, k, v) {
    const prop_spec *ps = NULL;
    for (size_t i = 0; message_spec[i].name && !ps; i++)
      if (strcmp(message_spec[i].name, k) == 0)
        ps = &message_spec[i];
    if (!ps)
      return bad_body(c,
                      "The property '%s' does not exist on type "
                      "'microsoft.graph.message'. Make sure to only use "
                      "property names that are defined by the type or mark "
                      "the type as open type.",
                      k);
    if (check_prop(c, ps, v))
      return -1;
    (void)mode;
  }
  return 0;
}

json_object *graph_writable_props(json_object *msg) {
  json_object *out = json_object_new_object();
  json_object_object_foreach(msg, k, v) {
    for (size_t i = 0; message_spec[i].name; i++)
      if (!strcmp(message_spec[i].name, k) && message_spec[i].type != P_RO &&
          message_spec[i].type != P_ATTS && message_spec[i].type != P_DATE) {
        json_object *copy = NULL;
        json_object_deep_copy(v, &copy, NULL);
        json_object_object_add(out, k, copy);
      }
  }
  return out;
}

/* ---- rendering ---------------------------------------------------------- */

static void html_to_text(json_object *o) {
  json_object *body = NULL, *ct = NULL, *content = NULL;
  if (!json_object_object_get_ex(o, "body", &body) ||
      !json_object_object_get_ex(body, "contentType", &ct) ||
      strcasecmp(json_object_get_string(ct), "html") != 0 ||
      !json_object_object_get_ex(body, "content", &content))
    return;
  const char *s = json_object_get_string(content);
  char *t = malloc(strlen(s) + 1);
  size_t n = 0;
  bool tag = false;
  for (; *s; s++) {
    if (*s == '<')
      tag = true;
    else if (*s == '>')
      tag = false;
    else if (!tag)
      t[n++] = *s;
  }
  t[n] = '\0';
  json_object *nb = json_object_new_object();
  json_object_object_add(nb, "contentType", json_object_new_string("text"));
  json_object_object_add(nb, "content", json_object_new_string(t));
  json_object_object_add(o, "body", nb);
  free(t);
}

json_object *graph_message_json(graph_ctx *c, const emu_message *m) {
  json_object *o = emu_message_to_json(m, c->immutable);
  const char *prefer = emu_req_header(c->r, "Prefer");
  if (prefer && strcasestr(prefer, "outlook.body-content-type=\"text\"")) {
    html_to_text(o);
    if (!c->text_applied)
      emu_resp_header(c->r, "Preference-Applied",
                      "outlook.body-content-type=\"text\"");
    c->text_applied = true;
  }
  if (c->expand_attachments) {
    json_object *arr = json_object_new_array();
    for (size_t i = 0; i < m->natts; i++)
      json_object_array_add(
          arr, emu_attachment_to_json(m->atts[i],
                                      m->atts[i]->size <= 4 * 1024 * 1024));
    json_object_object_add(o, "attachments", arr);
  }
  return o;
}

static const char *skiptoken_prefix = "skip-";

void graph_reply_collection(graph_ctx *c, json_object *items, const char *what,
                            const char *const *props) {
  emu_req *r = c->r;
  emu_odata_params p = {
      .select = emu_req_query(r, "$select"),
      .filter = emu_req_query(r, "$filter"),
      .search = emu_req_query(r, "$search"),
      .orderby = emu_req_query(r, "$orderby"),
      .top = emu_req_query(r, "$top"),
      .skip = emu_req_query(r, "$skip"),
      .count = emu_req_query(r, "$count"),
      .skiptoken = emu_req_query(r, "$skiptoken"),
  };
  emu_odata_query q;
  emu_odata_error err;
  if (emu_odata_query_parse(&q, &p, props, &err) < 0) {
    emu_graph_error(r, err.status, err.code, "%s", err.message);
    return;
  }
  if (p.skiptoken) {
    size_t tl = 0;
    unsigned char *raw = emu_b64_decode(p.skiptoken, &tl);
    char tok[32] = ""; /* decoded bytes are not NUL-terminated */
    if (raw && tl < sizeof(tok))
      memcpy(tok, raw, tl);
    free(raw);
    int extra = -1;
    size_t pl = strlen(skiptoken_prefix);
    if (!strncmp(tok, skiptoken_prefix, pl) && tok[pl] &&
        strspn(tok + pl, "0123456789") == strlen(tok + pl) &&
        strlen(tok + pl) < 10)
      extra = atoi(tok + pl);
    if (extra < 0) {
      emu_graph_error(r, 400, "BadRequest", "The $skiptoken is invalid.");
      emu_odata_query_clear(&q);
      return;
    }
    q.skip = extra;
  }
  size_t page_size = 10;
  const char *prefer = emu_req_header(r, "Prefer");
  const char *mp = prefer ? strcasestr(prefer, "odata.maxpagesize=") : NULL;
  if (mp && q.top < 0) {
    int n = atoi(mp + strlen("odata.maxpagesize="));
    if (n > 0 && n <= 1000)
      page_size = (size_t)n;
  }
  size_t total = 0;
  json_object *page = emu_odata_apply(&q, items, page_size, &total);
  json_object *out = json_object_new_object();
  char ctxwhat[1024];
  if (q.nselect) {
    size_t n = (size_t)snprintf(ctxwhat, sizeof(ctxwhat), "%s(", what);
    for (size_t i = 0; i < q.nselect && n < sizeof(ctxwhat); i++)
      n += (size_t)snprintf(ctxwhat + n, sizeof(ctxwhat) - n, "%s%s",
                            i ? "," : "", q.select[i]);
    if (n < sizeof(ctxwhat))
      snprintf(ctxwhat + n, sizeof(ctxwhat) - n, ")");
  } else {
    snprintf(ctxwhat, sizeof(ctxwhat), "%s", what);
  }
  char *ctx = graph_context_url(c, ctxwhat);
  json_object_object_add(out, "@odata.context", json_object_new_string(ctx));
  free(ctx);
  if (q.count)
    json_object_object_add(out, "@odata.count",
                           json_object_new_int64((int64_t)total));
  json_object *vals = json_object_new_array();
  size_t n = json_object_array_length(page);
  for (size_t i = 0; i < n; i++)
    json_object_array_add(
        vals, emu_odata_select(&q, json_object_array_get_idx(page, i)));
  json_object_object_add(out, "value", vals);
  size_t top = q.top >= 0 ? (size_t)q.top : page_size;
  size_t next = (size_t)q.skip + n;
  if (next < total && n == top) {
    /* Next link: the request's own URL with the paging token replaced. */
    char tokraw[32];
    snprintf(tokraw, sizeof(tokraw), "%s%zu", skiptoken_prefix, next);
    char *tok = emu_b64url_encode(tokraw, strlen(tokraw));
    const char *raw = emu_req_raw_query(r);
    char *kept = malloc(strlen(raw) + 1);
    size_t kl = 0;
    const char *s = raw;
    while (*s) {
      size_t l = strcspn(s, "&");
      bool drop =
          (!strncmp(s, "$skip=", 6) || !strncmp(s, "%24skip=", 8) ||
           !strncmp(s, "$skiptoken=", 11) || !strncmp(s, "%24skiptoken=", 13));
      if (!drop && l) {
        if (kl)
          kept[kl++] = '&';
        memcpy(kept + kl, s, l);
        kl += l;
      }
      s += l;
      if (*s == '&')
        s++;
    }
    kept[kl] = '\0';
    char *link =
        emu_strdup_printf("%s%s?%s%s%%24skiptoken=%s", emu_req_base_url(r),
                          emu_req_path(r), kept, kl ? "&" : "", tok);
    json_object_object_add(out, "@odata.nextLink",
                           json_object_new_string(link));
    free(link);
    free(kept);
    free(tok);
  }
  json_object_put(page);
  emu_odata_query_clear(&q);
  emu_resp_json(r, 200, out);
}
