/* Graph folders and attachments over real HTTP: mailFolders list / get /
 * create / childFolders / delete; inline attachments (add, list, get,
 * $value, delete, the 3 MB limit); a 150 MB upload session streamed in 4 MB
 * ranged PUTs without Authorization and downloaded again through $value,
 * with the emulator's peak RSS not growing by anything like the size. */
#define _GNU_SOURCE /* vasprintf, strndup, strdup, strtok_r */
#include "graph_test.h"

static void test_folders(void **state) {
  (void)state;
  json_object *o = NULL;
  assert_int_equal(
      gt_call(&T, tok, "GET", "/v1.0/me/mailFolders", NULL, NULL, &o, NULL),
      200);
  json_object *v = json_object_object_get(o, "value");
  bool inbox = false, hidden = false;
  for (size_t i = 0; i < json_object_array_length(v); i++) {
    json_object *f = json_object_array_get_idx(v, i);
    gt_assert_folder_shape(f);
    inbox = inbox || !strcmp(gt_str(f, "displayName"), "Inbox");
    hidden = hidden ||
             json_object_get_boolean(json_object_object_get(f, "isHidden"));
  }
  assert_true(inbox);
  assert_false(hidden);
  json_object_put(o);
  const char *names[] = {"inbox",   "drafts",    "sentitems", "deleteditems",
                         "archive", "junkemail", "outbox",    "msgfolderroot"};
  for (size_t i = 0; i < 8; i++) {
    char *p = gt_printf("/v1.0/me/mailFolders/%s", names[i]);
    assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 200);
    gt_assert_folder_shape(o);
    json_object_put(o);
    free(p);
  }
  assert_int_equal(gt_call(&T, tok, "POST", "/v1.0/me/mailFolders",
                           "{\"displayName\":\"Clients\"}", NULL, &o, NULL),
                   201);
  gt_assert_folder_shape(o);
  char *p = gt_printf("/v1.0/me/mailFolders/%s/childFolders", gt_need(o, "id"));
  char *del = gt_printf("/v1.0/me/mailFolders/%s", gt_need(o, "id"));
  json_object_put(o);
  gt_expect(&T, tok, "POST", "/v1.0/me/mailFolders",
            "{\"displayName\":\"clients\"}", 409, "ErrorFolderExists");
  gt_expect(&T, tok, "POST", p, "{\"displayName\":\"Acme\",\"isHidden\":false}",
            201, NULL);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 200);
  assert_int_equal(json_object_array_length(json_object_object_get(o, "value")),
                   1);
  json_object_put(o);
  gt_expect(&T, tok, "POST", p, "{\"name\":\"x\"}", 400, "RequestBodyRead");
  gt_expect(&T, tok, "DELETE", del, NULL, 204, NULL);
  gt_expect(&T, tok, "GET", p, NULL, 404, "ErrorItemNotFound");
  gt_expect(&T, tok, "DELETE", "/v1.0/me/mailFolders/inbox", NULL, 403, NULL);
  free(p);
  free(del);
}

static char *new_draft(void) {
  json_object *o = NULL;
  assert_int_equal(gt_call(&T, tok, "POST", "/v1.0/me/messages",
                           "{\"subject\":\"With attachments\"}", NULL, &o,
                           NULL),
                   201);
  char *id = strdup(gt_str(o, "id"));
  json_object_put(o);
  return id;
}

static void test_inline_attachments(void **state) {
  (void)state;
  char *id = new_draft();
  char *p = gt_printf("/v1.0/me/messages/%s/attachments", id);
  json_object *o = NULL;
  assert_int_equal(
      gt_call(&T, tok, "POST", p,
              "{\"@odata.type\":\"#microsoft.graph.fileAttachment\",\"name\":"
              "\"hello.txt\",\"contentType\":\"text/plain\",\"contentBytes\":"
              "\"aGVsbG8gd29ybGQ=\"}",
              NULL, &o, NULL),
      201);
  assert_string_equal(gt_str(o, "name"), "hello.txt");
  assert_int_equal(json_object_get_int(json_object_object_get(o, "size")), 11);
  assert_string_equal(gt_str(o, "@odata.type"),
                      "#microsoft.graph.fileAttachment");
  char *ap = gt_printf("%s/%s", p, gt_need(o, "id"));
  json_object_put(o);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 200);
  assert_int_equal(json_object_array_length(json_object_object_get(o, "value")),
                   1);
  json_object_put(o);
  assert_int_equal(gt_call(&T, tok, "GET", ap, NULL, NULL, &o, NULL), 200);
  assert_string_equal(gt_str(o, "contentBytes"), "aGVsbG8gd29ybGQ=");
  json_object_put(o);
  /* $select without contentBytes: none made (download_attachment reads
   * the metadata so, then streams $value; bytes in JSON cost the file's
   * size in base64 for nothing). */
  char *sp = gt_printf("%s?$select=id,name,size", ap);
  assert_int_equal(gt_call(&T, tok, "GET", sp, NULL, NULL, &o, NULL), 200);
  free(sp);
  assert_null(gt_str(o, "contentBytes"));
  assert_null(gt_str(o, "contentType"));
  assert_string_equal(gt_str(o, "name"), "hello.txt");
  assert_string_equal(gt_str(o, "@odata.type"),
                      "#microsoft.graph.fileAttachment");
  json_object_put(o);
  sp = gt_printf("%s?$select=name,contentBytes", ap);
  assert_int_equal(gt_call(&T, tok, "GET", sp, NULL, NULL, &o, NULL), 200);
  free(sp);
  assert_string_equal(gt_str(o, "contentBytes"), "aGVsbG8gd29ybGQ=");
  json_object_put(o);
  sp = gt_printf("%s?$select=name", p);
  assert_int_equal(gt_call(&T, tok, "GET", sp, NULL, NULL, &o, NULL), 200);
  free(sp);
  assert_null(
      gt_str(json_object_array_get_idx(json_object_object_get(o, "value"), 0),
             "contentBytes"));
  json_object_put(o);
  char *vp = gt_printf("%s/$value", ap);
  tresp raw;
  assert_int_equal(gt_call(&T, tok, "GET", vp, NULL, NULL, NULL, &raw), 200);
  assert_int_equal(raw.len, 11);
  assert_memory_equal(raw.body, "hello world", 11);
  assert_string_equal(tresp_header(&raw, "Content-Type"), "text/plain");
  tresp_free(&raw);
  free(vp);
  /* wrong type, bad base64: 400 (with the Graph error code, if any) */
  static const char *const bad_inline[][2] = {
      {"{\"@odata.type\":\"#microsoft.graph.itemAttachment\",\"name\":\"x\"}",
       NULL},
      {"{\"@odata.type\":\"#microsoft.graph.fileAttachment\",\"name\":\"x\","
       "\"contentBytes\":\"***\"}",
       "RequestBodyRead"}};
  for (size_t i = 0; i < 2; i++)
    gt_expect(&T, tok, "POST", p, bad_inline[i][0], 400, bad_inline[i][1]);
  /* over 3 MB inline: refused (the limit is for upload sessions) */
  size_t raw_len = 3 * 1024 * 1024 + 3;
  size_t b64_len = 4 * (raw_len / 3);
  char *big = malloc(b64_len + 200);
  int n = sprintf(big, "{\"@odata.type\":\"#microsoft.graph.fileAttachment\","
                       "\"name\":\"big.bin\",\"contentBytes\":\"");
  memset(big + n, 'A', b64_len);
  strcpy(big + n + b64_len, "\"}");
  gt_expect(&T, tok, "POST", p, big, 413, NULL);
  free(big);
  gt_expect(&T, tok, "DELETE", ap, NULL, 204, NULL);
  gt_expect(&T, tok, "GET", ap, NULL, 404, NULL);
  free(ap);
  free(p);
  free(id);
}

/* Deterministic content: byte i is a function of i. */
static unsigned char byte_at(uint64_t i) {
  return (unsigned char)((i * 2654435761u) >> 13);
}

typedef struct src {
  uint64_t pos, end;
} src;

static size_t src_read(char *buf, size_t max, void *ctx) {
  src *s = ctx;
  size_t n = 0;
  while (n < max && s->pos < s->end)
    buf[n++] = (char)byte_at(s->pos++);
  return n;
}

typedef struct sink {
  uint64_t n;
  bool ok;
} sink;

static size_t sink_write(const char *buf, size_t len, void *ctx) {
  sink *s = ctx;
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)buf[i] != byte_at(s->n + i))
      s->ok = false;
  s->n += len;
  return len;
}

/* PUTs the body (len bytes) to an upload URL with range as its
 * Content-Range value, without Authorization (the URL's token is the
 * credential); returns the status. */
static long put_range(const char *url, const char *range, const char *body,
                      size_t len) {
  char cr[128];
  snprintf(cr, sizeof cr, "Content-Range: %s", range);
  const char *h[] = {cr, "Content-Type: application/octet-stream", NULL};
  treq q = {
      .method = "PUT", .url = url, .headers = h, .body = body, .body_len = len};
  tresp r = {0};
  tclient_do(T.c, &q, &r);
  long st = r.status;
  tresp_free(&r);
  return st;
}

static void test_upload_session_150mb(void **state) {
  (void)state;
  const uint64_t total = 150ull * 1024 * 1024;
  const uint64_t chunk = 4ull * 1024 * 1024;
  long rss0 = emu_proc_rss_kib(T.e, 1);
  assert_true(rss0 > 0);
  char *id = new_draft();
  char *p =
      gt_printf("/v1.0/me/messages/%s/attachments/createUploadSession", id);
  char *body = gt_printf("{\"AttachmentItem\":{\"attachmentType\":\"file\","
                         "\"name\":\"big.bin\",\"size\":%llu,\"contentType\":"
                         "\"application/octet-stream\"}}",
                         (unsigned long long)total);
  json_object *o = NULL;
  assert_int_equal(gt_call(&T, tok, "POST", p, body, NULL, &o, NULL), 201);
  free(body);
  char *upload = strdup(gt_str(o, "uploadUrl"));
  assert_non_null(strstr(upload, "authtoken="));
  assert_string_equal(json_object_get_string(json_object_array_get_idx(
                          json_object_object_get(o, "nextExpectedRanges"), 0)),
                      "0-");
  assert_non_null(gt_str(o, "expirationDateTime"));
  json_object_put(o);
  /* a range that does not start at the next expected byte */
  char range[96];
  snprintf(range, sizeof range, "bytes 10-19/%llu", (unsigned long long)total);
  assert_int_equal(put_range(upload, range, "0123456789", 10), 416);
  src s = {0, 0};
  char *location = NULL;
  for (uint64_t off = 0; off < total; off += chunk) {
    uint64_t end = off + chunk < total ? off + chunk : total;
    char cr[96];
    snprintf(cr, sizeof(cr), "Content-Range: bytes %llu-%llu/%llu",
             (unsigned long long)off, (unsigned long long)end - 1,
             (unsigned long long)total);
    /* no Authorization header: the URL's token is the credential */
    const char *h[] = {cr, "Content-Type: application/octet-stream", NULL};
    s.pos = off;
    s.end = end;
    treq q = {.method = "PUT",
              .url = upload,
              .headers = h,
              .read = src_read,
              .read_ctx = &s,
              .upload_size = (int64_t)(end - off),
              .timeout_ms = 60000};
    tresp r = {0};
    tclient_do(T.c, &q, &r);
    if (end < total) {
      assert_int_equal(r.status, 200);
      json_object *j = tresp_json(&r);
      char want[32];
      snprintf(want, sizeof(want), "%llu-", (unsigned long long)end);
      assert_string_equal(
          json_object_get_string(json_object_array_get_idx(
              json_object_object_get(j, "nextExpectedRanges"), 0)),
          want);
      json_object_put(j);
    } else {
      assert_int_equal(r.status, 201);
      assert_non_null(tresp_header(&r, "Location"));
      location = strdup(tresp_header(&r, "Location"));
    }
    tresp_free(&r);
  }
  assert_non_null(strstr(location, "attachments('"));
  /* the session is gone once complete */
  assert_int_equal(put_range(upload, "bytes 0-0/1", "x", 1), 404);
  /* find it and stream it back through $value */
  char *lp = gt_printf("/v1.0/me/messages/%s/attachments", id);
  assert_int_equal(gt_call(&T, tok, "GET", lp, NULL, NULL, &o, NULL), 200);
  json_object *a =
      json_object_array_get_idx(json_object_object_get(o, "value"), 0);
  assert_non_null(a);
  assert_int_equal(
      (uint64_t)json_object_get_int64(json_object_object_get(a, "size")),
      total);
  assert_null(gt_str(a, "contentBytes")); /* too large to inline in JSON */
  char *vp = gt_printf("%s%s/%s/$value", T.url, lp, gt_need(a, "id"));
  json_object_put(o);
  char *auth = gt_printf("Authorization: Bearer %s", tok);
  const char *h[] = {auth, NULL};
  sink k = {0, true};
  treq q = {.url = vp,
            .headers = h,
            .write = sink_write,
            .write_ctx = &k,
            .timeout_ms = 60000};
  tresp r = {0};
  tclient_do(T.c, &q, &r);
  assert_int_equal(r.status, 200);
  tresp_free(&r);
  assert_int_equal(k.n, total);
  assert_true(k.ok);
  long rss1 = emu_proc_rss_kib(T.e, 1);
  print_message("emulator VmHWM %ld KiB -> %ld KiB\n", rss0, rss1);
  /* Peak RSS grew by far less than the 150 MB that went through. */
  if (rss1 - rss0 > 40 * 1024)
    fail_msg("emulator VmHWM grew from %ld KiB to %ld KiB", rss0, rss1);
  free(auth);
  free(vp);
  free(lp);
  free(location);
  free(upload);
  free(p);
  free(id);
}

static void test_upload_session_errors(void **state) {
  (void)state;
  char *id = new_draft();
  char *p =
      gt_printf("/v1.0/me/messages/%s/attachments/createUploadSession", id);
  json_object *o = NULL;
  /* over 150 MB, an unknown property: 400 (with the Graph error code, if
   * any) */
  static const char *const bad_session[][2] = {
      {"{\"AttachmentItem\":{\"attachmentType\":\"file\",\"name\":\"x\","
       "\"size\":200000000}}",
       NULL},
      {"{\"AttachmentItem\":{\"name\":\"x\",\"size\":10,\"colour\":1}}",
       "RequestBodyRead"}};
  for (size_t i = 0; i < 2; i++)
    gt_expect(&T, tok, "POST", p, bad_session[i][0], 400, bad_session[i][1]);
  assert_int_equal(gt_call(&T, tok, "POST", p,
                           "{\"AttachmentItem\":{\"attachmentType\":\"file\","
                           "\"name\":\"x\",\"size\":10}}",
                           NULL, &o, NULL),
                   201);
  char *bad = gt_printf("%s0", gt_need(o, "uploadUrl")); /* wrong token */
  json_object_put(o);
  assert_int_equal(put_range(bad, "bytes 0-9/10", "0123456789", 10), 404);
  free(bad);
  free(p);
  free(id);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_folders),
      cmocka_unit_test(test_inline_attachments),
      cmocka_unit_test(test_upload_session_150mb),
      cmocka_unit_test(test_upload_session_errors),
  };
  return cmocka_run_group_tests(tests, gt_up_group, gt_down_group);
}
