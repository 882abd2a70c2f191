/* Graph beta: only what the connector uses from /beta, as Microsoft's beta
 * documents describe it (the stored OpenAPI documents are v1.0's):
 *
 *   GET /beta/{me | users/{user}}/mailFolders/{folder}/messages
 *
 * the v1.0 list (same OData options, paging, ids, errors) whose messages
 * also carry "mentionsPreview" (beta resources/mentionspreview.md, message
 * .md): {"isMentioned": true} when the mailbox's user is among the
 * message's mentions, {"isMentioned": false} when others are, null when the
 * message mentions nobody. It can be filtered on
 * ($filter=mentionsPreview/isMentioned eq true: beta api/user-list-messages
 * .md, "messages mentioning me"). The mentions themselves (the "mentions"
 * navigation property) are not returned by a list without $expand, and v1.0
 * knows neither property. Mentions come with the message (the tenant
 * document's or the admin API's "mentions": addresses, or Graph mention
 * objects {"mentioned": {"name","address"}}: mailstore.c). */
#include "graph_priv.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* mentionsPreview of m for mb's user (new object, or NULL: no mentions). */
static json_object *mentions_preview(const emu_message *m,
                                     const emu_mailbox *mb) {
  json_object *list = NULL;
  if (!json_object_object_get_ex(m->props, "mentions", &list) ||
      json_object_array_length(list) == 0)
    return NULL;
  bool me = false;
  for (size_t i = 0; !me && i < json_object_array_length(list); i++) {
    json_object *who = NULL, *addr = NULL;
    json_object_object_get_ex(json_object_array_get_idx(list, i), "mentioned",
                              &who);
    json_object_object_get_ex(who, "address", &addr);
    me = addr && strcasecmp(json_object_get_string(addr), mb->upn) == 0;
  }
  json_object *o = json_object_new_object();
  json_object_object_add(o, "isMentioned", json_object_new_boolean(me));
  return o;
}

static void h_list(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_READ, &c))
    return;
  emu_folder *f = graph_folder(&c, emu_req_param(r, "folder"));
  if (!f)
    return;
  json_object *items = json_object_new_array();
  for (size_t j = 0; j < f->nmsgs; j++) {
    json_object *o = graph_message_json(&c, f->msgs[j]);
    json_object_object_add(o, "mentionsPreview",
                           mentions_preview(f->msgs[j], c.mb));
    json_object_array_add(items, o);
  }
  graph_reply_collection(&c, items, "messages", emu_odata_message_props_beta);
  json_object_put(items);
}

void graph_beta_init(void) {
  static const char *const bases[] = {"/beta/me", "/beta/users/{user}"};
  char p[256];
  for (size_t i = 0; i < 2; i++) {
    snprintf(p, sizeof p, "%s/mailFolders/{folder}/messages", bases[i]);
    if (emu_route_add("GET", p, h_list, 0) < 0)
      fprintf(stderr, "m365-emulator: graph: cannot add route GET %s\n", p);
  }
}
