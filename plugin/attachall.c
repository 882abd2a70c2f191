/* attachall.c - see attachall.h. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "attachall.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "attach.h"
#include "entry.h"
#include "graph.h"

typedef struct job {
  wfc_call *call;
  char *mailbox, *message_id; /* owned copies */
  json_object *list;          /* owned */
  size_t next;                /* the attachment being downloaded */
  o365_attach_all_cb cb;
  void *arg;
} job;

const char *o365_attach_kind(const char *odata_type) {
  if (odata_type != NULL && strstr(odata_type, "itemAttachment"))
    return "item";
  if (odata_type != NULL && strstr(odata_type, "referenceAttachment"))
    return "reference";
  return "file";
}

static void end(job *j, int status, const char *error) {
  j->cb(j->arg, status, status == 0 ? j->list : NULL, error);
  json_object_put(j->list);
  free(j->mailbox);
  free(j->message_id);
  free(j);
}

static void download_next(job *j);

static void on_download(void *arg, int status, struct json_object *file,
                        struct json_object *meta, const char *error,
                        struct json_object *detail) {
  job *j = arg;
  (void)meta;
  (void)detail;
  if (status != 0) {
    end(j, status, error);
    return;
  }
  O365_JSON_ADD(json_object_array_get_idx(j->list, j->next), "file",
                json_object_get(file));
  j->next++;
  download_next(j);
}

static void download_next(job *j) {
  while (j->next < json_object_array_length(j->list)) {
    json_object *a = json_object_array_get_idx(j->list, j->next);
    if (strcmp(o365_json_str(a, "kind"), "reference") != 0) {
      int rc = o365_attach_download(j->call, j->mailbox, j->message_id,
                                    o365_json_str(a, "id"), on_download, j);
      if (rc != 0)
        end(j, rc, "downloading an attachment could not start");
      return;
    }
    j->next++;
  }
  end(j, 0, NULL);
}

static int on_page(void *arg, const o365_graph_res *res) {
  job *j = arg;
  if (res->error != 0) {
    char why[512];
    snprintf(why, sizeof why,
             "listing the attachments of a message failed: "
             "%s",
             res->message ? res->message : "error");
    end(j, res->error, why);
    return 0;
  }
  json_object *value = NULL;
  json_object_object_get_ex(res->json, "value", &value);
  for (size_t i = 0; i < json_object_array_length(value); i++) {
    json_object *a = json_object_array_get_idx(value, i), *v = NULL;
    json_object *o = json_object_new_object();
    o365_json_add_str(o, "id", o365_json_str(a, "id"));
    o365_json_add_str(o, "name", o365_json_str(a, "name"));
    o365_json_add_str(o, "content_type", o365_json_str(a, "contentType"));
    int64_t size = 0;
    if (o365_json_int64(a, "size", &size) == 0)
      O365_JSON_ADD(o, "size", json_object_new_int64(size));
    if (json_object_object_get_ex(a, "isInline", &v))
      O365_JSON_ADD(o, "is_inline", json_object_get(v));
    o365_json_add_str(o, "kind",
                      o365_attach_kind(o365_json_str(a, "@odata.type")));
    json_object_array_add(j->list, o);
  }
  if (res->next_link != NULL)
    return 1;
  download_next(j);
  return 0;
}

int o365_attach_all(wfc_call *call, const char *mailbox, const char *message_id,
                    o365_attach_all_cb cb, void *arg) {
  job *j = calloc(1, sizeof *j);
  if (j == NULL)
    return WFC_ENOMEM;
  j->call = call;
  j->cb = cb;
  j->arg = arg;
  j->mailbox = mailbox ? strdup(mailbox) : NULL;
  j->message_id = strdup(message_id);
  j->list = json_object_new_array();
  o365_buf b;
  o365_buf_init(&b);
  o365_graph_mailbox(&b, mailbox);
  o365_buf_put(&b, "/messages");
  o365_buf_seg(&b, message_id);
  o365_buf_put(&b, "/attachments");
  o365_buf_query(&b, "$select", "id,name,contentType,size,isInline");
  o365_graph_opts o = {.path = b.data};
  int rc = b.oom || j->message_id == NULL
               ? WFC_ENOMEM
               : o365_graph_pages(call, &o, on_page, j);
  o365_buf_free(&b);
  if (rc != 0) {
    json_object_put(j->list);
    free(j->mailbox);
    free(j->message_id);
    free(j);
  }
  return rc;
}
