/* Graph delta, $batch, mailboxSettings, getMailTips and the mail admin API
 * over real HTTP. */
#define _GNU_SOURCE /* vasprintf, strndup, strdup, strtok_r */
#include "graph_test.h"

static int setup(void **state) {
  (void)state;
  json_object *doc = emu_proc_example_doc();
  json_object *boxes = json_object_new_array();
  json_object *box =
      json_tokener_parse("{\"user\":\"alice@contoso.test\",\"messages\":[]}");
  json_object *msgs = json_object_object_get(box, "messages");
  for (int i = 0; i < 5; i++) {
    char m[200];
    snprintf(m, sizeof(m),
             "{\"subject\":\"Seed %d\",\"from\":\"bob@contoso.test\","
             "\"receivedDateTime\":\"2024-04-0%dT10:00:00Z\"}",
             i, i + 1);
    json_object_array_add(msgs, json_tokener_parse(m));
  }
  json_object_array_add(boxes, box);
  json_object_object_add(doc, "mailboxes", boxes);
  gt_up(doc);
  json_object_put(doc);
  return 0;
}

typedef struct round {
  size_t items, removed;
  char *delta_link;
  char subjects[512];
} round;

/* Follows nextLinks from `start` to the deltaLink. */
static round delta_round(const char *start, const char *prefer) {
  round r = {0};
  char *link = strdup(start);
  int pages = 0;
  while (link) {
    json_object *o = NULL;
    assert_int_equal(gt_call(&T, tok, "GET", link, NULL, prefer, &o, NULL),
                     200);
    free(link);
    link = NULL;
    pages++;
    json_object *v = json_object_object_get(o, "value");
    if (prefer)
      assert_true(json_object_array_length(v) <= 2);
    for (size_t i = 0; i < json_object_array_length(v); i++) {
      json_object *m = json_object_array_get_idx(v, i);
      assert_non_null(gt_str(m, "id"));
      if (json_object_object_get_ex(m, "@removed", NULL)) {
        assert_string_equal(
            gt_str(json_object_object_get(m, "@removed"), "reason"), "deleted");
        r.removed++;
      } else {
        r.items++;
        strncat(r.subjects, gt_str(m, "subject"),
                sizeof(r.subjects) - strlen(r.subjects) - 2);
        strcat(r.subjects, ";");
      }
    }
    if (gt_str(o, "@odata.nextLink")) {
      assert_null(gt_str(o, "@odata.deltaLink"));
      link = strdup(gt_str(o, "@odata.nextLink"));
    } else {
      assert_non_null(gt_str(o, "@odata.deltaLink"));
      r.delta_link = strdup(gt_str(o, "@odata.deltaLink"));
    }
    json_object_put(o);
  }
  return r;
}

static void test_delta_rounds(void **state) {
  (void)state;
  const char *prefer = "Prefer: odata.maxpagesize=2";
  round r1 = delta_round(
      "/v1.0/me/mailFolders/inbox/messages/delta?$select=subject", prefer);
  assert_int_equal(r1.items, 5);
  assert_int_equal(r1.removed, 0);
  assert_non_null(strstr(r1.delta_link, "deltatoken"));

  /* nothing changed: empty round, a new deltaLink */
  round r2 = delta_round(r1.delta_link, prefer);
  assert_int_equal(r2.items + r2.removed, 0);

  /* a new message, a read flag, a move out, a delete */
  gt_expect(&T, NULL, "POST", "/__emulator/mail/alice@contoso.test/messages",
            "{\"subject\":\"Fresh\",\"from\":\"carol@contoso."
            "test\"}",
            201, NULL);
  json_object *list = gt_admin_messages(&T, "alice@contoso.test", "inbox");
  char ids[3][256];
  size_t k = 0;
  for (size_t i = 0; i < json_object_array_length(list) && k < 3; i++) {
    json_object *m = json_object_array_get_idx(list, i);
    if (strncmp(gt_str(m, "subject"), "Seed", 4) == 0)
      snprintf(ids[k++], sizeof(ids[0]), "%s", gt_str(m, "id"));
  }
  json_object_put(list);
  assert_int_equal(k, 3);
  char *p = gt_printf("/v1.0/me/messages/%s", ids[0]);
  gt_expect(&T, tok, "PATCH", p, "{\"isRead\":true}", 200, NULL);
  free(p);
  p = gt_printf("/v1.0/me/messages/%s/move", ids[1]);
  gt_expect(&T, tok, "POST", p, "{\"destinationId\":\"archive\"}", 201, NULL);
  free(p);
  p = gt_printf("/v1.0/me/messages/%s", ids[2]);
  gt_expect(&T, tok, "DELETE", p, NULL, 204, NULL);
  free(p);

  round r3 = delta_round(r2.delta_link, prefer);
  assert_int_equal(r3.items, 2); /* Fresh + the one marked read */
  assert_non_null(strstr(r3.subjects, "Fresh;"));
  assert_int_equal(r3.removed, 2); /* moved out + deleted */

  /* the next round is empty again: no item is reported twice */
  round r4 = delta_round(r3.delta_link, NULL);
  assert_int_equal(r4.items + r4.removed, 0);

  /* changeType=created on a fresh sync of the archive: the moved message */
  round r5 = delta_round(
      "/v1.0/me/mailFolders/archive/messages/delta?changeType=created", NULL);
  assert_int_equal(r5.items, 1);

  json_object *o = NULL;
  gt_expect(&T, tok, "GET",
            "/v1.0/me/mailFolders/inbox/messages/delta?$deltatoken=garbage",
            NULL, 400, NULL);
  gt_expect(&T, tok, "GET",
            "/v1.0/me/mailFolders/inbox/messages/delta?$search="
            "%22x%22",
            NULL, 400, NULL);
  assert_int_equal(gt_call(&T, tok, "GET",
                           "/v1.0/me/mailFolders/inbox/messages/delta?$filter="
                           "receivedDateTime%20ge%202024-04-03T00:00:00Z",
                           NULL, NULL, &o, NULL),
                   200);
  assert_int_equal(json_object_array_length(json_object_object_get(o, "value")),
                   3); /* Seed 3, Seed 4 and Fresh (Seed 0-2 are older or
                          gone) */
  json_object_put(o);
  free(r1.delta_link);
  free(r2.delta_link);
  free(r3.delta_link);
  free(r4.delta_link);
  free(r5.delta_link);
}

static void test_batch(void **state) {
  (void)state;
  json_object *o = NULL;
  long st = gt_call(
      &T, tok, "POST", "/v1.0/$batch",
      "{\"requests\":["
      "{\"id\":\"1\",\"method\":\"POST\",\"url\":\"/me/mailFolders\","
      "\"headers\":{\"Content-Type\":\"application/json\"},\"body\":{"
      "\"displayName\":\"Batched\"}},"
      "{\"id\":\"2\",\"dependsOn\":[\"1\"],\"method\":\"POST\",\"url\":"
      "\"/me/mailFolders\",\"headers\":{\"Content-Type\":\"application/json\"},"
      "\"body\":{\"displayName\":\"Batched\"}},"
      "{\"id\":\"3\",\"dependsOn\":[\"2\"],\"method\":\"GET\",\"url\":"
      "\"/me/mailFolders/inbox\"}]}",
      NULL, &o, NULL);
  assert_int_equal(st, 200);
  json_object *resps = json_object_object_get(o, "responses");
  assert_int_equal(json_object_array_length(resps), 3);
  /* A parallel batch in the same reply shape. */
  json_object *o2 = NULL;
  st = gt_call(&T, tok, "POST", "/v1.0/$batch",
               "{\"requests\":["
               "{\"id\":\"4\",\"method\":\"GET\",\"url\":\"me/messages?$top=1&"
               "$select=subject\"},"
               "{\"id\":\"5\",\"method\":\"GET\",\"url\":\"/me/messages/"
               "nope\"}]}",
               NULL, &o2, NULL);
  assert_int_equal(st, 200);
  json_object *r2 = json_object_object_get(o2, "responses");
  for (size_t i = 0; i < 2; i++)
    json_object_array_add(resps,
                          json_object_get(json_object_array_get_idx(r2, i)));
  json_object_put(o2);
  for (size_t i = 0; i < 5; i++) {
    json_object *r = json_object_array_get_idx(resps, i);
    const char *id = gt_str(r, "id");
    int status = json_object_get_int(json_object_object_get(r, "status"));
    json_object *body = json_object_object_get(r, "body");
    if (!strcmp(id, "1")) {
      assert_int_equal(status, 201);
      assert_string_equal(gt_str(body, "displayName"), "Batched");
    } else if (!strcmp(id, "2")) {
      assert_int_equal(status, 409); /* same name again */
    } else if (!strcmp(id, "3")) {
      assert_int_equal(status, 424); /* its dependency failed */
      gt_assert_error(body, "FailedDependency");
    } else if (!strcmp(id, "4")) {
      assert_int_equal(status, 200);
      assert_int_equal(
          json_object_array_length(json_object_object_get(body, "value")), 1);
    } else {
      assert_int_equal(status, 404);
      gt_assert_error(body, "ErrorItemNotFound");
    }
  }
  json_object_put(o);
  /* 21 requests: refused as a whole */
  char big[8192];
  size_t n = (size_t)snprintf(big, sizeof(big), "{\"requests\":[");
  for (int i = 0; i < 21; i++)
    n += (size_t)snprintf(big + n, sizeof(big) - n,
                          "%s{\"id\":\"%d\",\"method\":\"GET\",\"url\":\"/me/"
                          "mailFolders\"}",
                          i ? "," : "", i);
  snprintf(big + n, sizeof(big) - n, "]}");
  gt_expect(&T, tok, "POST", "/v1.0/$batch", big, 400, "BadRequest");
  /* duplicate ids, missing url, unknown dependency */
  const char *bad[] = {
      "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/me\"},{"
      "\"id\":\"1\",\"method\":\"GET\",\"url\":\"/me\"}]}",
      "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\"}]}",
      "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/me\","
      "\"dependsOn\":[\"9\"]}]}",
      "{\"requests\":[{\"id\":\"1\",\"method\":\"POST\",\"url\":\"/me/"
      "mailFolders\",\"body\":{}}]}",
      /* dependsOn neither serial, parallel nor all on one request (Graph's
       * known issue: such batches are refused) */
      "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/me\"},"
      "{\"id\":\"2\",\"method\":\"GET\",\"url\":\"/me\"},"
      "{\"id\":\"3\",\"method\":\"GET\",\"url\":\"/me\",\"dependsOn\":[\"1\"]},"
      "{\"id\":\"4\",\"method\":\"GET\",\"url\":\"/me\",\"dependsOn\":[\"2\"]}"
      "]}",
      "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\",\"url\":\"/me\"},"
      "{\"id\":\"2\",\"method\":\"GET\",\"url\":\"/me\"},"
      "{\"id\":\"3\",\"method\":\"GET\",\"url\":\"/me\",\"dependsOn\":[\"1\","
      "\"2\"]}]}",
      "{\"reqs\":[]}",
  };
  for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
    gt_expect(&T, tok, "POST", "/v1.0/$batch", bad[i], 400, NULL);
  }
  /* no token: 401 for the batch */
  gt_expect(&T, NULL, "POST", "/v1.0/$batch",
            "{\"requests\":[{\"id\":\"1\",\"method\":\"GET\","
            "\"url\":\"/me/messages\"}]}",
            401, NULL);
}

static void test_mailbox_settings_and_tips(void **state) {
  (void)state;
  json_object *o = NULL;
  assert_int_equal(
      gt_call(&T, tok, "GET", "/v1.0/me/mailboxSettings", NULL, NULL, &o, NULL),
      200);
  assert_string_equal(
      gt_str(json_object_object_get(o, "automaticRepliesSetting"), "status"),
      "disabled");
  json_object_put(o);
  assert_int_equal(
      gt_call(&T, tok, "PATCH", "/v1.0/me/mailboxSettings",
              "{\"automaticRepliesSetting\":{\"status\":\"alwaysEnabled\","
              "\"internalReplyMessage\":\"I am away\",\"externalAudience\":"
              "\"none\"}}",
              NULL, &o, NULL),
      200);
  assert_string_equal(
      gt_str(json_object_object_get(o, "automaticRepliesSetting"), "status"),
      "alwaysEnabled");
  json_object_put(o);
  gt_expect(&T, tok, "PATCH", "/v1.0/me/mailboxSettings",
            "{\"automaticRepliesSetting\":{\"status\":"
            "\"sometimes\"}}",
            400, "RequestBodyRead");
  gt_expect(&T, tok, "PATCH", "/v1.0/me/mailboxSettings",
            "{\"holidayMode\":true}", 400, NULL);
  assert_int_equal(gt_call(&T, tok, "GET",
                           "/v1.0/me/mailboxSettings/automaticRepliesSetting",
                           NULL, NULL, &o, NULL),
                   200);
  assert_string_equal(gt_str(o, "internalReplyMessage"), "I am away");
  json_object_put(o);

  /* mail tips as bob sees alice */
  char *bob = gt_token(&T, "bob@contoso.test", "Bob-Passw0rd!", GT_ALL_SCOPES);
  assert_int_equal(
      gt_call(&T, bob, "POST", "/v1.0/me/getMailTips",
              "{\"EmailAddresses\":[\"alice@contoso.test\",\"x@fabrikam."
              "example\"],\"MailTipsOptions\":\"automaticReplies, "
              "mailboxFullStatus, maxMessageSize, recipientScope\"}",
              NULL, &o, NULL),
      200);
  json_object *v = json_object_object_get(o, "value");
  assert_int_equal(json_object_array_length(v), 2);
  json_object *a = json_object_array_get_idx(v, 0);
  assert_string_equal(
      gt_str(json_object_object_get(a, "automaticReplies"), "message"),
      "I am away");
  assert_false(
      json_object_get_boolean(json_object_object_get(a, "mailboxFull")));
  assert_true(
      json_object_get_int64(json_object_object_get(a, "maxMessageSize")) > 0);
  assert_string_equal(gt_str(a, "recipientScope"), "internal");
  assert_string_equal(gt_str(json_object_array_get_idx(v, 1), "recipientScope"),
                      "external");
  json_object_put(o);
  gt_expect(&T, bob, "POST", "/v1.0/me/getMailTips",
            "{\"EmailAddresses\":[\"a@b.c\"],\"MailTipsOptions\":"
            "\"fortune\"}",
            400, NULL);
  /* alice's automatic reply comes back to bob when he writes to her */
  gt_expect(&T, bob, "POST", "/v1.0/me/sendMail",
            "{\"message\":{\"subject\":\"Ping\",\"toRecipients\":[{"
            "\"emailAddress\":{\"address\":\"alice@contoso.test\"}}]}}",
            202, NULL);
  json_object *inbox = gt_admin_messages(&T, "bob@contoso.test", "inbox");
  bool got = false;
  for (size_t i = 0; i < json_object_array_length(inbox); i++) {
    json_object *m = json_object_array_get_idx(inbox, i);
    if (!strcmp(gt_str(m, "subject"), "Automatic reply: Ping")) {
      got = true;
      assert_string_equal(json_object_get_string(gt_path(m, "body/content")),
                          "I am away");
    }
  }
  assert_true(got);
  json_object_put(inbox);
  /* bob may not read alice's settings */
  gt_expect(&T, bob, "GET", "/v1.0/users/alice@contoso.test/mailboxSettings",
            NULL, 403, "ErrorAccessDenied");
  free(bob);
}

static void test_admin_api(void **state) {
  (void)state;
  json_object *o = NULL;
  assert_int_equal(
      gt_call(&T, NULL, "GET", "/__emulator/mail", NULL, NULL, &o, NULL), 200);
  json_object *v = json_object_object_get(o, "value");
  bool support = false;
  for (size_t i = 0; i < json_object_array_length(v); i++) {
    json_object *b = json_object_array_get_idx(v, i);
    if (!strcmp(gt_str(b, "userPrincipalName"), "support@contoso.test"))
      support = json_object_get_boolean(json_object_object_get(b, "shared"));
  }
  assert_true(support);
  json_object_put(o);
  assert_int_equal(gt_call(&T, NULL, "GET",
                           "/__emulator/mail/alice@contoso.test/folders", NULL,
                           NULL, &o, NULL),
                   200);
  assert_true(json_object_array_length(json_object_object_get(o, "value")) >=
              8);
  json_object_put(o);
  gt_expect(&T, NULL, "GET", "/__emulator/mail/nobody/folders", NULL, 404,
            NULL);
  gt_expect(&T, NULL, "POST", "/__emulator/mail/bob@contoso.test/messages",
            "{\"folder\":\"nowhere\",\"subject\":\"x\"}", 400, NULL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_delta_rounds),
      cmocka_unit_test(test_batch),
      cmocka_unit_test(test_mailbox_settings_and_tips),
      cmocka_unit_test(test_admin_api),
  };
  return cmocka_run_group_tests(tests, setup, gt_down_group);
}
