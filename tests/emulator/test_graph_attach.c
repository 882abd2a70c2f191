/* Graph folders and attachments over real HTTP: mailFolders list / get /
 * create / childFolders / delete; inline attachments (add, list, get,
 * $value, delete, the 3 MB limit); a 150 MB upload session streamed in 4 MB
 * ranged PUTs without Authorization and downloaded again through $value,
 * with the emulator's peak RSS not growing by anything like the size. */
#include "graph_test.h"

static gt T;
static char *tok;

static int setup(void **state) {
  (void)state;
  gt_start(&T, NULL);
  tok = gt_token(&T, "alice@contoso.test", "Alice-Passw0rd!", GT_ALL_SCOPES);
  return 0;
}

static int teardown(void **state) {
  (void)state;
  free(tok);
  gt_stop(&T);
  return 0;
}

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
  assert_int_equal(gt_call(&T, tok, "POST", "/v1.0/me/mailFolders",
                           "{\"displayName\":\"clients\"}", NULL, &o, NULL),
                   409);
  gt_assert_error(o, "ErrorFolderExists");
  json_object_put(o);
  assert_int_equal(gt_call(&T, tok, "POST", p,
                           "{\"displayName\":\"Acme\",\"isHidden\":false}",
                           NULL, &o, NULL),
                   201);
  json_object_put(o);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 200);
  assert_int_equal(json_object_array_length(json_object_object_get(o, "value")),
                   1);
  json_object_put(o);
  assert_int_equal(
      gt_call(&T, tok, "POST", p, "{\"name\":\"x\"}", NULL, &o, NULL), 400);
  gt_assert_error(o, "RequestBodyRead");
  json_object_put(o);
  assert_int_equal(gt_call(&T, tok, "DELETE", del, NULL, NULL, NULL, NULL),
                   204);
  assert_int_equal(gt_call(&T, tok, "GET", p, NULL, NULL, &o, NULL), 404);
  gt_assert_error(o, "ErrorItemNotFound");
  json_object_put(o);
  assert_int_equal(gt_call(&T, tok, "DELETE", "/v1.0/me/mailFolders/inbox",
                           NULL, NULL, NULL, NULL),
                   403);
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
  char *vp = gt_printf("%s/$value", ap);
  tresp raw;
  assert_int_equal(gt_call(&T, tok, "GET", vp, NULL, NULL, NULL, &raw), 200);
  assert_int_equal(raw.len, 11);
  assert_memory_equal(raw.body, "hello world", 11);
  assert_string_equal(tresp_header(&raw, "Content-Type"), "text/plain");
  tresp_free(&raw);
  free(vp);
  /* wrong type, bad base64, unknown property */
  assert_int_equal(gt_call(&T, tok, "POST", p,
                           "{\"@odata.type\":\"#microsoft.graph."
                           "itemAttachment\",\"name\":\"x\"}",
                           NULL, &o, NULL),
                   400);
  json_object_put(o);
  assert_int_equal(gt_call(&T, tok, "POST", p,
                           "{\"@odata.type\":\"#microsoft.graph."
                           "fileAttachment\",\"name\":\"x\",\"contentBytes\":"
                           "\"***\"}",
                           NULL, &o, NULL),
                   400);
  gt_assert_error(o, "RequestBodyRead");
  json_object_put(o);
  /* over 3 MB inline: refused (the limit is for upload sessions) */
  size_t raw_len = 3 * 1024 * 1024 + 3;
  size_t b64_len = 4 * (raw_len / 3);
  char *big = malloc(b64_len + 200);
  int n = sprintf(big, "{\"@odata.type\":\"#microsoft.graph.fileAttachment\","
                       "\"name\":\"big.bin\",\"contentBytes\":\"");
  memset(big + n, 'A', b64_len);
  strcpy(big + n + b64_len, "\"}");
  assert_int_equal(gt_call(&T, tok, "POST", p, big, NULL, &o, NULL), 413);
  json_object_put(o);
  free(big);
  assert_int_equal(gt_call(&T, tok, "DELETE", ap, NULL, NULL, NULL, NULL), 204);
  assert_int_equal(gt_call(&T, tok, "GET", ap, NULL, NULL, &o, NULL), 404);
  json_object_put(o);
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
  {
    char cr[96], cl[64];
    snprintf(cr, sizeof(cr), "Content-Range: bytes 10-19/%llu",
             (unsigned long long)total);
    snprintf(cl, sizeof(cl), "Content-Length: 10");
    const char *h[] = {cr, "Content-Type: application/octet-stream", NULL};
    treq q = {.method = "PUT",
              .url = upload,
              .headers = h,
              .body = "0123456789",
              .body_len = 10};
    tresp r = {0};
    tclient_do(T.c, &q, &r);
    assert_int_equal(r.status, 416);
    tresp_free(&r);
  }
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
  {
    const char *h[] = {"Content-Range: bytes 0-0/1", NULL};
    treq q = {.method = "PUT",
              .url = upload,
              .headers = h,
              .body = "x",
              .body_len = 1};
    tresp r = {0};
    tclient_do(T.c, &q, &r);
    assert_int_equal(r.status, 404);
    tresp_free(&r);
  }
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
  assert_int_equal(gt_call(&T, tok, "POST", p,
                           "{\"AttachmentItem\":{\"attachmentType\":\"file\","
                           "\"name\":\"x\",\"size\":200000000}}",
                           NULL, &o, NULL),
                   400);
  json_object_put(o);
  assert_int_equal(gt_call(&T, tok, "POST", p,
                           "{\"AttachmentItem\":{\"name\":\"x\",\"size\":10,"
                           "\"colour\":1}}",
                           NULL, &o, NULL),
                   400);
  gt_assert_error(o, "RequestBodyRead");
  json_object_put(o);
  assert_int_equal(gt_call(&T, tok, "POST", p,
                           "{\"AttachmentItem\":{\"attachmentType\":\"file\","
                           "\"name\":\"x\",\"size\":10}}",
                           NULL, &o, NULL),
                   201);
  char *bad = gt_printf("%s0", gt_need(o, "uploadUrl")); /* wrong token */
  json_object_put(o);
  const char *h[] = {"Content-Range: bytes 0-9/10", NULL};
  treq q = {.method = "PUT",
            .url = bad,
            .headers = h,
            .body = "0123456789",
            .body_len = 10};
  tresp r = {0};
  tclient_do(T.c, &q, &r);
  assert_int_equal(r.status, 404);
  tresp_free(&r);
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
  return cmocka_run_group_tests(tests, setup, teardown);
}
