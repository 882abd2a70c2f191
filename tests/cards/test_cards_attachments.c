/* Add Attachment, List Attachments and Download Message Attachment
 * through the real plugin and runtime against the emulator: inline up to
 * 3 MB and upload sessions beyond (the 3 MB boundary, 100 MB up and down
 * with equal SHA-256, a failed PUT resumed), limits checked before any
 * byte is sent, a shared mailbox, and errors. Files are put into the
 * runtime's blob store in its documented layout (sdk/blob.h).
 * */
#define _GNU_SOURCE /* asprintf, ftruncate, strdup, setenv, unsetenv */
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/evp.h>

#include "cards_test.h"
#include "ts_server.h"

#define MiB       (1024LL * 1024)
#define PUT_ROUTE "/api/v2.0/{u}/{m}/{s}"

static int setup(void **state) {
  (void)state;
  return ct_up(NULL, NULL);
}

typedef struct blob {
  char id[33];
  char sha[65];
} blob;

/* Writes a committed blob of size bytes (xorshift stream from seed) with
 * its sidecar; sparse: a hole of that size (content never read). */
static void make_blob(const char *name, const char *ctype, int64_t size,
                      uint32_t seed, int sparse, blob *out) {
  static unsigned counter;
  snprintf(out->id, sizeof out->id, "%08x%08x%016llx", (unsigned)getpid(),
           ++counter, (unsigned long long)seed * 2654435761ULL);
  char path[512];
  snprintf(path, sizeof path, "%s/%s", o365_fixture_blob_dir(fx), out->id);
  int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
  assert_true(fd >= 0);
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  if (sparse) {
    assert_int_equal(ftruncate(fd, size), 0);
  } else {
    static uint32_t buf[16384];
    uint32_t x = seed | 1;
    for (int64_t done = 0; done < size;) {
      for (size_t i = 0; i < 16384; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        buf[i] = x;
      }
      size_t n = size - done < (int64_t)sizeof buf ? (size_t)(size - done)
                                                   : sizeof buf;
      assert_int_equal(write(fd, buf, n), (ssize_t)n);
      EVP_DigestUpdate(md, buf, n);
      done += (int64_t)n;
    }
  }
  close(fd);
  unsigned char dg[32];
  EVP_DigestFinal_ex(md, dg, NULL);
  EVP_MD_CTX_free(md);
  for (int i = 0; i < 32; i++)
    snprintf(out->sha + 2 * i, 3, "%02x", dg[i]);
  snprintf(path, sizeof path, "%s/%s.json", o365_fixture_blob_dir(fx), out->id);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fprintf(f,
          "{\"v\":1,\"name\":\"%s\",\"content_type\":\"%s\",\"size\":%lld,"
          "\"sha256\":\"%s\",\"created_ms\":0}",
          name, ctype, (long long)size, out->sha);
  fclose(f);
}

/* A new draft in mailbox (NULL = alice's own) through Custom API Action;
 * returns its id (malloc'd). */
static char *new_draft(const char *mailbox) {
  char input[512];
  snprintf(input, sizeof input,
           "{\"method\":\"POST\",\"relative_url\":\"%s%s/messages\","
           "\"body\":{\"subject\":\"with files\"}}",
           mailbox ? "/users/" : "/me", mailbox ? mailbox : "");
  o365_outcome o;
  run_ok("custom_api_action", input, &o);
  assert_int_equal(jnum(o.output, "status_code"), 201);
  char *id = strdup(jstr(jget(o.output, "body"), "id"));
  o365_outcome_free(&o);
  return id;
}

/* Runs add_attachment for files (JSON array text) on message. */
static int add(const char *mailbox, const char *message, const char *files,
               o365_outcome *o) {
  char *input = NULL;
  assert_true(asprintf(&input, "{%s%s%s\"message_id\":\"%s\",\"files\":%s}",
                       mailbox ? "\"mailbox\":\"" : "", mailbox ? mailbox : "",
                       mailbox ? "\"," : "", message, files) > 0);
  int rc = o365_fixture_run(fx, "add_attachment", input, o);
  if (rc != 0)
    fprintf(stderr, "add_attachment: %s\n", o->message);
  free(input);
  return rc;
}

/* Downloads and checks name, size and SHA-256 against b. */
static void download_and_check(const char *mailbox, const char *message,
                               const char *att, const char *name, int64_t size,
                               const blob *b) {
  char input[1024];
  snprintf(input, sizeof input,
           "{%s%s%s\"message_id\":\"%s\",\"attachment_id\":\"%s\"}",
           mailbox ? "\"mailbox\":\"" : "", mailbox ? mailbox : "",
           mailbox ? "\"," : "", message, att);
  o365_outcome o;
  run_ok("download_attachment", input, &o);
  json_object *file = jget(o.output, "file");
  assert_string_equal(jstr(o.output, "name"), name);
  assert_string_equal(jstr(file, "name"), name);
  assert_int_equal(jnum(file, "size"), size);
  assert_int_equal(jnum(o.output, "size"), size);
  assert_string_equal(jstr(file, "sha256"), b->sha);
  assert_string_equal(jstr(o.output, "kind"), "file");
  /* The new blob is a different file with the same bytes. */
  assert_string_not_equal(jstr(file, "id"), b->id);
  o365_outcome_free(&o);
}

/* One file of size bytes uploaded to a new draft of alice's (after the
 * fault rule, when there is one, is armed): the method the card chose,
 * the PUTs it took, and the file downloaded back with equal bytes. */
typedef struct upload_case {
  const char *name;
  const char *content_type;
  int64_t size;
  uint32_t seed;
  const char *fault;  /* armed before the upload, or NULL */
  const char *method; /* "inline" or "upload_session" */
  long puts;          /* PUT requests the upload took */
} upload_case;

/* Runs c; the draft's id and the attachment's go to *msg and *att
 * (malloc'd) when those are not NULL. */
static void upload_one(const upload_case *c, char **msg, char **att) {
  char *m = new_draft(NULL);
  blob b;
  make_blob(c->name, c->content_type, c->size, c->seed, 0, &b);
  if (c->fault != NULL)
    assert_int_equal(o365_fixture_fault(fx, c->fault), 0);
  char files[256];
  snprintf(files, sizeof files, "[{\"id\":\"%s\"}]", b.id);
  long puts_before = o365_fixture_route_count(fx, "PUT", PUT_ROUTE);
  o365_outcome o;
  assert_int_equal(add(NULL, m, files, &o), 0);
  json_object *a = json_object_array_get_idx(jget(o.output, "attachments"), 0);
  assert_string_equal(jstr(a, "method"), c->method);
  assert_string_equal(jstr(a, "name"), c->name);
  assert_string_equal(jstr(a, "content_type"), c->content_type);
  assert_int_equal(jnum(a, "size"), c->size);
  char *id = strdup(jstr(a, "id"));
  assert_true(strlen(id) > 0);
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_route_count(fx, "PUT", PUT_ROUTE) - puts_before,
                   c->puts);
  download_and_check(NULL, m, id, c->name, c->size, &b);
  if (c->fault != NULL)
    assert_int_equal(ct_clear_faults(), 0);
  if (msg != NULL)
    *msg = strdup(m);
  if (att != NULL)
    *att = strdup(id);
  free(id);
  free(m);
}

static void test_upload(void **state) {
  upload_one(*state, NULL, NULL);
}

static const upload_case up_inline = {.name = "report.pdf",
                                      .content_type = "application/pdf",
                                      .size = MiB + 5,
                                      .seed = 7,
                                      .method = "inline",
                                      .puts = 0};
/* 100 MiB in 4 MiB chunks. */
static const upload_case up_100mb = {.name = "big.iso",
                                     .content_type =
                                         "application/x-iso9660-image",
                                     .size = 100 * MiB,
                                     .seed = 42,
                                     .method = "upload_session",
                                     .puts = 25};
/* The second PUT fails once with a 500: it is sent again from the offset
 * the session expects (3 chunks, one of them twice). */
static const upload_case up_resumed = {
    .name = "resume.bin",
    .content_type = "application/octet-stream",
    .size = 10 * MiB,
    .seed = 5,
    .fault = "{\"method\":\"PUT\",\"path\":\"/api/v2.0/\",\"skip\":1,"
             "\"count\":1,\"action\":\"status\",\"status\":500}",
    .method = "upload_session",
    .puts = 4};

static void test_inline_roundtrip_and_list(void **state) {
  (void)state;
  char *msg = NULL, *att = NULL;
  upload_one(&up_inline, &msg, &att);
  char input[512];
  snprintf(input, sizeof input, "{\"message_id\":\"%s\"}", msg);
  o365_outcome o;
  run_ok("list_attachments", input, &o);
  assert_int_equal(jnum(o.output, "count"), 1);
  json_object *l = json_object_array_get_idx(jget(o.output, "attachments"), 0);
  assert_string_equal(jstr(l, "id"), att);
  assert_string_equal(jstr(l, "name"), "report.pdf");
  assert_string_equal(jstr(l, "kind"), "file");
  assert_int_equal(jnum(l, "size"), MiB + 5);
  assert_null(strstr(json_object_to_json_string(o.output), "contentBytes"));
  o365_outcome_free(&o);
  free(att);
  free(msg);
}

static void test_three_mb_boundary(void **state) {
  (void)state;
  char *msg = new_draft(NULL);
  blob at, over;
  make_blob("at.bin", "application/octet-stream", 3000000, 11, 0, &at);
  make_blob("over.bin", "application/octet-stream", 3000001, 12, 0, &over);
  char files[256];
  /* A name given in the reference wins over the blob's. */
  snprintf(files, sizeof files,
           "[{\"id\":\"%s\"},{\"id\":\"%s\",\"name\":\"renamed.bin\"}]", at.id,
           over.id);
  long puts_before = o365_fixture_route_count(fx, "PUT", PUT_ROUTE);
  o365_outcome o;
  assert_int_equal(add(NULL, msg, files, &o), 0);
  json_object *l = jget(o.output, "attachments");
  assert_int_equal(json_object_array_length(l), 2);
  assert_string_equal(jstr(json_object_array_get_idx(l, 0), "method"),
                      "inline");
  assert_string_equal(jstr(json_object_array_get_idx(l, 1), "method"),
                      "upload_session");
  assert_string_equal(jstr(json_object_array_get_idx(l, 1), "name"),
                      "renamed.bin");
  char *att = strdup(jstr(json_object_array_get_idx(l, 1), "id"));
  o365_outcome_free(&o);
  /* 3 MB + 1 byte fits one 4 MiB chunk. */
  assert_int_equal(o365_fixture_route_count(fx, "PUT", PUT_ROUTE),
                   puts_before + 1);
  download_and_check(NULL, msg, att, "renamed.bin", 3000001, &over);
  free(att);
  free(msg);
}

static void test_limits_checked_before_upload(void **state) {
  (void)state;
  char *msg = new_draft(NULL);
  blob small, huge;
  make_blob("small.txt", "text/plain", 100, 3, 0, &small);
  make_blob("huge.bin", "application/octet-stream", 150 * MiB + 1, 0, 1, &huge);
  char files[256];
  snprintf(files, sizeof files, "[{\"id\":\"%s\"},{\"id\":\"%s\"}]", small.id,
           huge.id);
  long before = o365_fixture_graph_requests(fx);
  o365_outcome o;
  assert_int_equal(add(NULL, msg, files, &o), WFC_ETOOBIG);
  ct_says(o.message, "files[1]");
  ct_says(o.message, "\"huge.bin\"");
  ct_says(o.message, "150 MB");
  o365_outcome_free(&o);
  /* Nothing went out, not even the small file. */
  assert_int_equal(o365_fixture_graph_requests(fx), before);

  /* A reference to no file: named, nothing sent. */
  assert_int_equal(
      add(NULL, msg, "[{\"id\":\"0123456789abcdef0123456789abcdef\"}]", &o),
      WFC_ENOTFOUND);
  ct_says(o.message, "files[0]");
  ct_says(o.message, "0123456789abcdef0123456789abcdef");
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_graph_requests(fx), before);

  /* Schema: a file needs an id; validated by the host before invoke. */
  assert_int_equal(add(NULL, msg, "[{\"name\":\"x\"}]", &o), WFC_EVALIDATION);
  ct_says(o.message, "files");
  o365_outcome_free(&o);
  assert_int_equal(add(NULL, msg, "[]", &o), WFC_EVALIDATION);
  o365_outcome_free(&o);
  assert_int_equal(o365_fixture_graph_requests(fx), before);
  free(msg);
}

static void test_shared_mailbox(void **state) {
  (void)state;
  char *msg = new_draft("support@contoso.test");
  blob small, big;
  make_blob("note.txt", "text/plain", 2000, 9, 0, &small);
  make_blob("scan.tif", "image/tiff", 5 * MiB, 10, 0, &big);
  char files[256];
  snprintf(files, sizeof files, "[{\"id\":\"%s\"},{\"id\":\"%s\"}]", small.id,
           big.id);
  o365_outcome o;
  assert_int_equal(add("support@contoso.test", msg, files, &o), 0);
  json_object *l = jget(o.output, "attachments");
  char *a0 = strdup(jstr(json_object_array_get_idx(l, 0), "id"));
  char *a1 = strdup(jstr(json_object_array_get_idx(l, 1), "id"));
  o365_outcome_free(&o);
  download_and_check("support@contoso.test", msg, a0, "note.txt", 2000, &small);
  download_and_check("support@contoso.test", msg, a1, "scan.tif", 5 * MiB,
                     &big);
  /* Not alice's own message: without the mailbox it is not found. */
  char input[512];
  snprintf(input, sizeof input, "{\"message_id\":\"%s\"}", msg);
  ct_fails("list_attachments", input, WFC_ENOTFOUND, NULL);
  snprintf(input, sizeof input,
           "{\"mailbox\":\"support@contoso.test\",\"message_id\":\"%s\"}", msg);
  run_ok("list_attachments", input, &o);
  assert_int_equal(jnum(o.output, "count"), 2);
  o365_outcome_free(&o);
  free(a0);
  free(a1);
  free(msg);
}

static size_t files_in_blob_dir(void) {
  DIR *d = opendir(o365_fixture_blob_dir(fx));
  assert_non_null(d);
  size_t n = 0;
  for (struct dirent *e = readdir(d); e != NULL; e = readdir(d))
    n += e->d_name[0] != '.';
  closedir(d);
  return n;
}

static void test_download_errors(void **state) {
  (void)state;
  char *msg = new_draft(NULL);
  size_t files_before = files_in_blob_dir();
  char input[512];
  snprintf(input, sizeof input,
           "{\"message_id\":\"%s\",\"attachment_id\":\"AAMkNoSuchThing\"}",
           msg);
  o365_outcome o;
  assert_int_equal(o365_fixture_run(fx, "download_attachment", input, &o),
                   WFC_ENOTFOUND);
  ct_says(o.message, "AAMkNoSuchThing");
  ct_says(o.message, "ErrorItemNotFound");
  assert_int_equal(jnum(o.detail, "status"), 404);
  o365_outcome_free(&o);
  /* A failed $value leaves no file behind. */
  blob b;
  make_blob("gone.bin", "application/octet-stream", 4 * MiB, 13, 0, &b);
  char files[128];
  snprintf(files, sizeof files, "[{\"id\":\"%s\"}]", b.id);
  assert_int_equal(add(NULL, msg, files, &o), 0);
  char *att = strdup(
      jstr(json_object_array_get_idx(jget(o.output, "attachments"), 0), "id"));
  o365_outcome_free(&o);
  files_before = files_in_blob_dir();
  assert_int_equal(o365_fixture_fault(fx, "{\"method\":\"GET\",\"path\":"
                                          "\"/v1.0/me/messages/*/$value\","
                                          "\"count\":1,\"action\":\"status\","
                                          "\"status\":403}"),
                   0);
  snprintf(input, sizeof input,
           "{\"message_id\":\"%s\",\"attachment_id\":\"%s\"}", msg, att);
  /* Graph's error body is read although the content is not JSON. */
  ct_fails("download_attachment", input, WFC_EDENIED,
           "downloading its content failed: ErrorAccessDenied: Injected fault "
           "(status 403)");
  assert_int_equal(files_in_blob_dir(), files_before);
  assert_int_equal(ct_clear_faults(), 0);
  /* A message that does not exist. */
  assert_int_equal(add(NULL, "AAMkNoSuchMessage", files, &o), WFC_ENOTFOUND);
  ct_says(o.message, "\"gone.bin\"");
  o365_outcome_free(&o);
  free(att);
  free(msg);
}

/* Lost answers: an attachment that may have been made although the answer
 * to its creation was lost is reported with the outcome unknown (in words
 * and in the detail), not as a plain failure: a malformed 201 to the
 * inline POST, and a reset after the last range of an upload session was
 * stored (a repeated PUT then finds the session gone: 404). Either way
 * the attachment is there, once. */
static void test_lost_answers_outcome_unknown(void **state) {
  (void)state;
  char *msg = new_draft(NULL);
  blob small, big;
  make_blob("lost-small.txt", "text/plain", 2000, 21, 0, &small);
  make_blob("lost-big.bin", "application/octet-stream", 3 * MiB + 4096, 22, 0,
            &big);
  const struct {
    const blob *b;
    const char *rule;
  } cases[] = {
      {&small, "{\"method\":\"POST\",\"path\":\"/v1.0/me/messages/*/"
               "attachments\",\"action\":\"malformed\",\"count\":1}"},
      {&big, "{\"method\":\"PUT\",\"path\":\"/api/v2.0/\",\"action\":"
             "\"reset\",\"afterHandler\":true,\"count\":1}"},
  };
  for (size_t i = 0; i < 2; i++) {
    assert_int_equal(o365_fixture_fault(fx, cases[i].rule), 0);
    char files[128];
    snprintf(files, sizeof files, "[{\"id\":\"%s\"}]", cases[i].b->id);
    o365_outcome o;
    assert_int_not_equal(add(NULL, msg, files, &o), 0);
    ct_says(o.message, "the outcome is unknown");
    assert_string_equal(jstr(o.detail, "outcome"), "unknown");
    o365_outcome_free(&o);
    assert_int_equal(ct_clear_faults(), 0);
  }
  char input[512];
  snprintf(input, sizeof input, "{\"message_id\":\"%s\"}", msg);
  o365_outcome o;
  run_ok("list_attachments", input, &o);
  assert_int_equal(jnum(o.output, "count"), 2);
  o365_outcome_free(&o);
  free(msg);
}

/* An uploadUrl that is neither https nor on the Graph base's origin gets
 * no byte: a scripted Graph (loopback server) hands out a plain-http URL
 * on another server, which must see no request at all. */
static void test_upload_url_elsewhere_refused(void **state) {
  (void)state;
  ts_server *graph = NULL, *other = NULL;
  assert_int_equal(ts_server_start(NULL, &graph), 0);
  assert_int_equal(ts_server_start(NULL, &other), 0);
  char body[512];
  snprintf(body, sizeof body,
           "{\"uploadUrl\":\"%s/up?authtoken=t\",\"expirationDateTime\":"
           "\"2030-01-01T00:00:00Z\",\"nextExpectedRanges\":[\"0-\"]}",
           ts_server_url(other));
  static const char *const json_hdr[] = {"Content-Type: application/json",
                                         NULL};
  ts_route session = {.method = "POST",
                      .path = "/v1.0/me/messages/M1/attachments/"
                              "createUploadSession",
                      .status = 201,
                      .headers = json_hdr,
                      .body = body};
  assert_int_equal(ts_server_route(graph, &session), 0);
  ts_route any = {.path = "*", .status = 201};
  assert_int_equal(ts_server_route(other, &any), 0);
  blob b;
  make_blob("elsewhere.bin", "application/octet-stream", 4 * MiB, 21, 0, &b);
  char files[128];
  snprintf(files, sizeof files, "[{\"id\":\"%s\"}]", b.id);

  const char *cur = getenv("O365MAIL_GRAPH_URL");
  char *saved = cur ? strdup(cur) : NULL;
  char url[256];
  snprintf(url, sizeof url, "%s/v1.0", ts_server_url(graph));
  setenv("O365MAIL_GRAPH_URL", url, 1);
  o365_outcome o;
  int rc = add(NULL, "M1", files, &o);
  if (saved != NULL)
    setenv("O365MAIL_GRAPH_URL", saved, 1);
  else
    unsetenv("O365MAIL_GRAPH_URL");
  free(saved);
  assert_int_equal(rc, WFC_EPROTO);
  ct_says(o.message, "uploadUrl");
  ct_says(o.message, "\"elsewhere.bin\"");
  o365_outcome_free(&o);
  ts_stats st;
  ts_server_stats(graph, &st);
  assert_int_equal(st.requests, 1);
  ts_server_stats(other, &st);
  assert_int_equal(st.requests, 0);
  assert_int_equal(st.connections, 0);
  ts_server_stop(graph);
  ts_server_stop(other);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inline_roundtrip_and_list),
      cmocka_unit_test(test_three_mb_boundary),
      {"test_100mb_up_and_down", test_upload, NULL, NULL, (void *)&up_100mb},
      {"test_failed_put_is_resumed", test_upload, NULL, NULL,
       (void *)&up_resumed},
      cmocka_unit_test(test_limits_checked_before_upload),
      cmocka_unit_test(test_shared_mailbox),
      cmocka_unit_test(test_download_errors),
      cmocka_unit_test(test_lost_answers_outcome_unknown),
      cmocka_unit_test(test_upload_url_elsewhere_refused),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}
