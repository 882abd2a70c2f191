/* Graph mailboxSettings (automaticRepliesSetting) and getMailTips.
 * */
#define _POSIX_C_SOURCE 200809L /* strtok_r */
#include "graph_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static json_object *settings_json(graph_ctx *c) {
  json_object *o = json_object_new_object();
  char *ctx = graph_context_url(c, "mailboxSettings");
  json_object_object_add(o, "@odata.context", json_object_new_string(ctx));
  free(ctx);
  emu_folder *archive = emu_folder_find(c->mb, "archive");
  json_object_object_add(o, "archiveFolder",
                         json_object_new_string(archive ? archive->id : ""));
  json_object *ar = NULL;
  json_object_deep_copy(c->mb->auto_replies, &ar, NULL);
  json_object_object_add(o, "automaticRepliesSetting", ar);
  json_object_object_add(o, "timeZone", json_object_new_string("UTC"));
  json_object_object_add(
      o, "language",
      json_tokener_parse("{\"locale\":\"en-US\",\"displayName\":\"English "
                         "(United States)\"}"));
  json_object_object_add(o, "dateFormat", json_object_new_string("M/d/yyyy"));
  json_object_object_add(o, "timeFormat", json_object_new_string("h:mm tt"));
  json_object_object_add(
      o, "userPurpose",
      json_object_new_string(c->mb->shared ? "shared" : "user"));
  json_object_object_add(o, "delegateMeetingMessageDeliveryOptions",
                         json_object_new_string("sendToDelegateOnly"));
  return o;
}

static void h_get(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_SETTINGS, &c))
    return;
  json_object *o = settings_json(&c);
  if (strstr(emu_req_route(r), "automaticRepliesSetting")) {
    json_object *ar = NULL;
    json_object_object_get_ex(o, "automaticRepliesSetting", &ar);
    json_object *out = NULL;
    json_object_deep_copy(ar, &out, NULL);
    json_object_put(o);
    char *ctx =
        graph_context_url(&c, "mailboxSettings/automaticRepliesSetting");
    json_object_object_add(out, "@odata.context", json_object_new_string(ctx));
    free(ctx);
    emu_resp_json(r, 200, out);
    return;
  }
  emu_resp_json(r, 200, o);
}

static bool one_of(const char *s, const char *const *v) {
  for (size_t i = 0; s && v[i]; i++)
    if (!strcmp(s, v[i]))
      return true;
  return false;
}

static int check_dttz(graph_ctx *c, const char *k, json_object *v) {
  json_object *dt = NULL, *tz = NULL;
  if (!json_object_is_type(v, json_type_object) ||
      !json_object_object_get_ex(v, "dateTime", &dt) ||
      !json_object_is_type(dt, json_type_string) ||
      (json_object_object_get_ex(v, "timeZone", &tz) &&
       !json_object_is_type(tz, json_type_string))) {
    emu_graph_error(c->r, 400, "RequestBodyRead",
                    "Property '%s' must be a dateTimeTimeZone object "
                    "{\"dateTime\",\"timeZone\"}.",
                    k);
    return -1;
  }
  char buf[64];
  snprintf(buf, sizeof(buf), "%.32sZ", json_object_get_string(dt));
  char *dot = strchr(buf, '.');
  if (dot)
    strcpy(dot, "Z");
  double t;
  if (emu_odata_parse_time(buf, &t) < 0) {
    emu_graph_error(c->r, 400, "RequestBodyRead",
                    "Cannot convert the literal '%s' to the expected type "
                    "'Edm.DateTime'.",
                    json_object_get_string(dt));
    return -1;
  }
  return 0;
}

static void h_patch(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_SETTINGS_WRITE, &c))
    return;
  json_object *b = graph_body_object(&c);
  if (!b)
    return;
  static const char *const known_top[] = {
      "automaticRepliesSetting",
      "timeZone",
      "language",
      "workingHours",
      "dateFormat",
      "timeFormat",
      "delegateMeetingMessageDeliveryOptions",
      "@odata.context",
      NULL};
  static const char *const status_v[] = {"disabled", "alwaysEnabled",
                                         "scheduled", NULL};
  static const char *const aud_v[] = {"none", "contactsOnly", "all", NULL};
  json_object *ar = NULL;
  json_object_object_foreach(b, tk, tv) {
    if (!one_of(tk, known_top)) {
      emu_graph_error(r, 400, "RequestBodyRead",
                      "The property '%s' does not exist on type "
                      "'microsoft.graph.mailboxSettings'. Make sure to only "
                      "use property names that are defined by the type or "
                      "mark the type as open type.",
                      tk);
      return;
    }
    if (!strcmp(tk, "automaticRepliesSetting"))
      ar = tv;
  }
  if (ar) {
    if (!json_object_is_type(ar, json_type_object)) {
      emu_graph_error(r, 400, "RequestBodyRead",
                      "'automaticRepliesSetting' must be an object.");
      return;
    }
    json_object_object_foreach(ar, k, v) {
      if (!strcmp(k, "status") || !strcmp(k, "externalAudience")) {
        const char *s = json_object_is_type(v, json_type_string)
                            ? json_object_get_string(v)
                            : NULL;
        if (!one_of(s, !strcmp(k, "status") ? status_v : aud_v)) {
          emu_graph_error(r, 400, "RequestBodyRead",
                          "Requested value '%s' was not found in enum "
                          "'microsoft.graph.%s'.",
                          json_object_get_string(v),
                          !strcmp(k, "status") ? "automaticRepliesStatus"
                                               : "externalAudienceScope");
          return;
        }
      } else if (!strcmp(k, "internalReplyMessage") ||
                 !strcmp(k, "externalReplyMessage")) {
        if (!json_object_is_type(v, json_type_string)) {
          emu_graph_error(r, 400, "RequestBodyRead",
                          "Cannot convert the literal '%s' to the expected "
                          "type 'Edm.String'.",
                          json_object_to_json_string(v));
          return;
        }
      } else if (!strcmp(k, "scheduledStartDateTime") ||
                 !strcmp(k, "scheduledEndDateTime")) {
        if (check_dttz(&c, k, v))
          return;
      } else if (strcmp(k, "@odata.type") != 0) {
        emu_graph_error(r, 400, "RequestBodyRead",
                        "The property '%s' does not exist on type "
                        "'microsoft.graph.automaticRepliesSetting'. Make sure "
                        "to only use property names that are defined by the "
                        "type or mark the type as open type.",
                        k);
        return;
      }
    }
    json_object_object_foreach(ar, k2, v2) {
      if (strcmp(k2, "@odata.type"))
        json_object_object_add(c.mb->auto_replies, k2, json_object_get(v2));
    }
  }
  emu_resp_json(r, 200, settings_json(&c));
}

/* ---- getMailTips ----------------------------------------------------------
 */

bool graph_auto_replies_on(emu_mailbox *mb) {
  json_object *st = NULL;
  json_object_object_get_ex(mb->auto_replies, "status", &st);
  const char *s = json_object_get_string(st);
  if (!s || !strcmp(s, "disabled"))
    return false;
  if (!strcmp(s, "alwaysEnabled"))
    return true;
  /* scheduled: between start and end, virtual time */
  json_object *a =
      emu_odata_path_get(mb->auto_replies, "scheduledStartDateTime/dateTime");
  json_object *b =
      emu_odata_path_get(mb->auto_replies, "scheduledEndDateTime/dateTime");
  char sa[64], sb[64];
  snprintf(sa, sizeof(sa), "%.19sZ", a ? json_object_get_string(a) : "");
  snprintf(sb, sizeof(sb), "%.19sZ", b ? json_object_get_string(b) : "");
  double ta, tb, now = (double)emu_now();
  return emu_odata_parse_time(sa, &ta) == 0 &&
         emu_odata_parse_time(sb, &tb) == 0 && now >= ta && now < tb;
}

static void h_mailtips(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_READ, &c))
    return;
  json_object *b = graph_body_object(&c);
  if (!b)
    return;
  json_object *addrs = NULL, *opts = NULL;
  json_object_object_foreach(b, k, v) {
    if (!strcasecmp(k, "EmailAddresses"))
      addrs = v;
    else if (!strcasecmp(k, "MailTipsOptions"))
      opts = v;
    else {
      emu_graph_error(r, 400, "RequestBodyRead",
                      "The parameter '%s' in the request payload is not a "
                      "valid parameter for the operation 'getMailTips'.",
                      k);
      return;
    }
  }
  if (!addrs || !json_object_is_type(addrs, json_type_array) ||
      !json_object_array_length(addrs) || !opts ||
      !json_object_is_type(opts, json_type_string)) {
    emu_graph_error(r, 400, "ErrorInvalidParameter",
                    "getMailTips needs 'EmailAddresses' (non-empty array) and "
                    "'MailTipsOptions' (string).");
    return;
  }
  static const char *const known[] = {"automaticReplies",
                                      "mailboxFullStatus",
                                      "customMailTip",
                                      "externalMemberCount",
                                      "totalMemberCount",
                                      "maxMessageSize",
                                      "deliveryRestriction",
                                      "moderationStatus",
                                      "recipientScope",
                                      "recipientSuggestions",
                                      NULL};
  char optbuf[512];
  snprintf(optbuf, sizeof(optbuf), "%s", json_object_get_string(opts));
  bool want[10] = {false};
  for (char *save = NULL, *t = strtok_r(optbuf, ", ", &save); t;
       t = strtok_r(NULL, ", ", &save)) {
    bool found = false;
    for (size_t i = 0; known[i]; i++)
      if (!strcasecmp(t, known[i]))
        want[i] = found = true;
    if (!found) {
      emu_graph_error(r, 400, "RequestBodyRead",
                      "Requested value '%s' was not found in enum "
                      "'microsoft.graph.mailTipsType'.",
                      t);
      return;
    }
  }
  json_object *vals = json_object_new_array();
  emu_tenant *tn = emu_tenant_get();
  for (size_t i = 0; i < json_object_array_length(addrs); i++) {
    const char *a = json_object_get_string(json_object_array_get_idx(addrs, i));
    const emu_user *u = a ? emu_user_find(a) : NULL;
    emu_mailbox *mb = u ? emu_mailbox_find(graph_store(), u->id) : NULL;
    json_object *t = json_object_new_object(), *ea = json_object_new_object();
    json_object_object_add(ea, "name", json_object_new_string(""));
    json_object_object_add(ea, "address", json_object_new_string(a ? a : ""));
    json_object_object_add(t, "emailAddress", ea);
    if (want[0]) {
      json_object *ar = json_object_new_object();
      if (mb && graph_auto_replies_on(mb)) {
        json_object *msg = NULL;
        json_object_object_get_ex(mb->auto_replies, "internalReplyMessage",
                                  &msg);
        json_object_object_add(ar, "message", json_object_get(msg));
      }
      json_object_object_add(t, "automaticReplies", ar);
    }
    if (want[1])
      json_object_object_add(t, "mailboxFull",
                             json_object_new_boolean(mb && mb->full));
    if (want[2])
      json_object_object_add(t, "customMailTip", json_object_new_string(""));
    if (want[3])
      json_object_object_add(t, "externalMemberCount", json_object_new_int(0));
    if (want[4])
      json_object_object_add(t, "totalMemberCount", json_object_new_int(1));
    if (want[5])
      json_object_object_add(
          t, "maxMessageSize",
          json_object_new_int64(mb ? mb->max_message_size : 37748736));
    if (want[6])
      json_object_object_add(t, "deliveryRestricted",
                             json_object_new_boolean(false));
    if (want[7])
      json_object_object_add(t, "isModerated", json_object_new_boolean(false));
    if (want[8]) {
      const char *at = a ? strchr(a, '@') : NULL;
      bool internal =
          u || (at && tn && tn->domain && !strcasecmp(at + 1, tn->domain));
      json_object_object_add(
          t, "recipientScope",
          json_object_new_string(internal ? "internal" : "external"));
    }
    if (want[9])
      json_object_object_add(t, "recipientSuggestions",
                             json_object_new_array());
    json_object_array_add(vals, t);
  }
  json_object *out = json_object_new_object();
  json_object_object_add(
      out, "@odata.context",
      json_object_new_string("https://graph.microsoft.com/v1.0/"
                             "$metadata#Collection(microsoft.graph.mailTips)"));
  json_object_object_add(out, "value", vals);
  emu_resp_json(r, 200, out);
}

/* GET /outlook/masterCategories: the mailbox's master category list. */
static void h_categories(emu_req *r) {
  graph_ctx c;
  if (graph_begin(r, GRAPH_SETTINGS, &c))
    return;
  json_object *out = json_object_new_object();
  char *ctx = graph_context_url(&c, "outlook/masterCategories");
  json_object_object_add(out, "@odata.context", json_object_new_string(ctx));
  free(ctx);
  json_object *v = NULL;
  json_object_deep_copy(c.mb->categories, &v, NULL);
  json_object_object_add(out, "value", v);
  emu_resp_json(r, 200, out);
}

void graph_settings_init(void) {
  graph_route("GET", "/outlook/masterCategories", h_categories, 0);
  graph_route("GET", "/mailboxSettings", h_get, 0);
  graph_route("GET", "/mailboxSettings/automaticRepliesSetting", h_get, 0);
  graph_route("PATCH", "/mailboxSettings", h_patch, 0);
  graph_route("POST", "/getMailTips", h_mailtips, 0);
  graph_route("POST", "/microsoft.graph.getMailTips", h_mailtips, 0);
}
