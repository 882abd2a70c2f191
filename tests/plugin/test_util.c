/* Plugin helpers: base64url, percent-encoding, PKCE, state, GUIDs,
 * constant-time compare, Retry-After and JSON number parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "util.h"

static void test_b64url_vectors(void **state) {
  (void)state;
  /* RFC 4648 section 10, without padding. */
  static const char *in[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
  static const char *out[] = {"",       "Zg",      "Zm8",     "Zm9v",
                              "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
  char buf[32];
  for (size_t i = 0; i < 7; i++) {
    size_t n = o365_b64url_encode((const uint8_t *)in[i], strlen(in[i]), buf,
                                  sizeof buf);
    assert_int_equal(n, strlen(out[i]));
    assert_string_equal(buf, out[i]);
    uint8_t *dec = NULL;
    size_t dlen = 0;
    assert_int_equal(o365_b64url_decode(out[i], strlen(out[i]), &dec, &dlen),
                     0);
    assert_int_equal(dlen, strlen(in[i]));
    assert_memory_equal(dec, in[i], dlen);
    free(dec);
  }
  /* URL alphabet: 0xfb 0xff -> "-_8" (not "+/8"). */
  const uint8_t raw[] = {0xfb, 0xff};
  o365_b64url_encode(raw, 2, buf, sizeof buf);
  assert_string_equal(buf, "-_8");
  /* Too small an output buffer is refused, not overrun. */
  assert_int_equal(o365_b64url_encode((const uint8_t *)"foobar", 6, buf, 8), 0);
  uint8_t *dec = NULL;
  size_t dlen = 0;
  assert_int_not_equal(o365_b64url_decode("ab+c", 4, &dec, &dlen), 0);
  assert_int_not_equal(o365_b64url_decode("abcde", 5, &dec, &dlen), 0);
}

static void test_pct_encoding(void **state) {
  (void)state;
  o365_buf b;
  o365_buf_init(&b);
  o365_buf_pct(&b, "a b/c?d=e&f+g%h~_.-\xc3\xa9");
  assert_string_equal(b.data, "a%20b%2Fc%3Fd%3De%26f%2Bg%25h~_.-%C3%A9");
  o365_buf_free(&b);

  o365_buf_put(&b, "https://x/users");
  o365_buf_seg(&b, "adele.v@contoso.com");
  o365_buf_query(&b, "$select", "id,mail");
  o365_buf_query(&b, "$filter", "appId eq 'a''b'");
  char *s = o365_buf_take(&b);
  assert_string_equal(s, "https://x/users/adele.v%40contoso.com?$select=id%"
                         "2Cmail&$filter=appId%20eq%20%27a%27%27b%27");
  free(s);

  o365_buf_form(&b, "code", "M.C1/x+y");
  o365_buf_form(&b, "redirect_uri", "http://127.0.0.1:5000/cb");
  s = o365_buf_take(&b);
  assert_string_equal(s, "code=M.C1%2Fx%2By&redirect_uri=http%3A%2F%2F127.0."
                         "0.1%3A5000%2Fcb");
  free(s);
}

static void test_pkce_rfc7636_vector(void **state) {
  (void)state;
  /* RFC 7636 Appendix B. */
  char challenge[64];
  assert_int_equal(
      o365_pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk",
                          challenge, sizeof challenge),
      0);
  assert_string_equal(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
}

static void test_random_state(void **state) {
  (void)state;
  char a[64], b[64];
  assert_int_equal(o365_random_b64url(32, a, sizeof a), 0);
  assert_int_equal(o365_random_b64url(32, b, sizeof b), 0);
  assert_int_equal(strlen(a), 43); /* 32 bytes, no padding */
  assert_string_not_equal(a, b);
  assert_int_equal(strspn(a, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstu"
                             "vwxyz0123456789-_"),
                   43);
  char small[8];
  assert_int_not_equal(o365_random_b64url(32, small, sizeof small), 0);
}

static void test_guid(void **state) {
  (void)state;
  char g[37], h[37];
  assert_int_equal(o365_guid(g), 0);
  assert_int_equal(o365_guid(h), 0);
  assert_int_equal(strlen(g), 36);
  assert_true(g[8] == '-' && g[13] == '-' && g[18] == '-' && g[23] == '-');
  assert_int_equal(g[14], '4');
  assert_non_null(strchr("89ab", g[19]));
  assert_string_not_equal(g, h);
  for (size_t i = 0; i < 36; i++)
    if (i != 8 && i != 13 && i != 18 && i != 23)
      assert_non_null(strchr("0123456789abcdef", g[i]));
}

/* Output members are named with one shared copy of each static name (not
 * a copy per object, not the literal in the plugin's image: an output may
 * outlive the plugin); replacement and serialization as with
 * json_object_object_add. */
static const char *first_key(struct json_object *o) {
  struct json_object_iter it;
  json_object_object_foreachC(o, it) {
    return it.key;
  }
  return NULL;
}

static void test_json_add_static(void **state) {
  (void)state;
  static const char *const keys[] = {"name", "count"};
  struct json_object *o = json_object_new_object();
  O365_JSON_ADD(o, "id", json_object_new_string("a"));
  o365_json_add_static(o, keys[0], json_object_new_string("n"));
  o365_json_add_new(o, keys[1], json_object_new_int(2));
  o365_json_add_str(o, "text", "t");
  o365_json_add_str(o, "absent", NULL);
  O365_JSON_ADD(o, "id", json_object_new_string("b")); /* replaces */
  assert_string_equal(
      json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN),
      "{\"id\":\"b\",\"name\":\"n\",\"count\":2,\"text\":\"t\"}");
  /* Two objects named by one static string share the name's copy. */
  struct json_object *a = json_object_new_object(),
                     *b = json_object_new_object();
  o365_json_add_new(a, keys[0], json_object_new_int(1));
  o365_json_add_new(b, keys[0], json_object_new_int(2));
  assert_ptr_equal(first_key(a), first_key(b));
  assert_ptr_not_equal(first_key(a), keys[0]);
  assert_string_equal(first_key(a), "name");
  json_object_put(a);
  json_object_put(b);
  json_object_put(o);
}

/* The member names' hashes are computed once per name and hash function:
 * every member must still be found by json-c's own lookup, replaced in
 * place, and found again in objects made after a host switched json-c's
 * string hash (tables made before keep theirs). */
static void test_json_add_lookup(void **state) {
  (void)state;
  static const char *const keys[] = {"alpha",   "beta",  "gamma",  "delta",
                                     "epsilon", "zeta",  "eta",    "theta",
                                     "iota",    "kappa", "lambda", "mu"};
  size_t nkeys = sizeof keys / sizeof keys[0];
  struct json_object *before = json_object_new_object();
  for (size_t i = 0; i < nkeys; i++) /* 12 members: the table grows */
    o365_json_add_new(before, keys[i], json_object_new_int((int)i));
  json_global_set_string_hash(JSON_C_STR_HASH_PERLLIKE);
  struct json_object *after = json_object_new_object();
  for (size_t i = 0; i < nkeys; i++)
    o365_json_add_static(after, keys[i], json_object_new_int((int)i));
  for (size_t i = 0; i < nkeys; i++) {
    o365_json_add_static(before, keys[i], json_object_new_int((int)i + 100));
    o365_json_add_static(after, keys[i], json_object_new_int((int)i + 200));
  }
  json_global_set_string_hash(JSON_C_STR_HASH_DFLT);
  for (size_t i = 0; i < nkeys; i++) {
    struct json_object *v = NULL;
    assert_true(json_object_object_get_ex(before, keys[i], &v));
    assert_int_equal(json_object_get_int(v), (int)i + 100);
    assert_true(json_object_object_get_ex(after, keys[i], &v));
    assert_int_equal(json_object_get_int(v), (int)i + 200);
  }
  assert_int_equal(json_object_object_length(before), (int)nkeys);
  assert_int_equal(json_object_object_length(after), (int)nkeys);
  json_object_put(before);
  json_object_put(after);
}

/* GUIDs come from a pool of random bytes: a forked child must not hand
 * out the ids its parent hands out next. */
static void test_guid_fork(void **state) {
  (void)state;
  char g[37], child[37] = "", parent[37];
  int fds[2];
  assert_int_equal(o365_guid(g), 0); /* the pool is filled */
  assert_int_equal(pipe(fds), 0);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    char c[37];
    _exit(o365_guid(c) == 0 && write(fds[1], c, 37) == 37 ? 0 : 1);
  }
  close(fds[1]);
  assert_int_equal(o365_guid(parent), 0);
  assert_int_equal(read(fds[0], child, 37), 37);
  close(fds[0]);
  int st = 0;
  assert_int_equal(waitpid(pid, &st, 0), pid);
  assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  assert_string_not_equal(child, parent);
  assert_string_not_equal(g, parent);
}

static void test_secret_equal(void **state) {
  (void)state;
  assert_true(o365_secret_equal("abc", "abc"));
  assert_false(o365_secret_equal("abc", "abd"));
  assert_false(o365_secret_equal("abc", "abcd"));
  assert_false(o365_secret_equal("abcd", "abc"));
  assert_false(o365_secret_equal("", "x"));
  assert_false(o365_secret_equal(NULL, "abc"));
  assert_false(o365_secret_equal("abc", NULL));
  assert_false(o365_secret_equal(NULL, NULL));
}

static void test_retry_after(void **state) {
  (void)state;
  int64_t now = 784111777000LL; /* Sun, 06 Nov 1994 08:49:37 GMT */
  assert_int_equal(o365_retry_after_ms("3", now), 3000);
  assert_int_equal(o365_retry_after_ms(" 0 ", now), 0);
  assert_int_equal(o365_retry_after_ms("Sun, 06 Nov 1994 08:49:47 GMT", now),
                   10000);
  assert_int_equal(o365_retry_after_ms("Sun, 06 Nov 1994 08:49:00 GMT", now),
                   0);
  assert_int_equal(o365_retry_after_ms(NULL, now), -1);
  assert_int_equal(o365_retry_after_ms("", now), -1);
  assert_int_equal(o365_retry_after_ms("1.5", now), -1);
  assert_int_equal(o365_retry_after_ms("-1", now), -1);
  assert_int_equal(o365_retry_after_ms("soon", now), -1);
  assert_int_equal(o365_retry_after_ms("99999999999999999999", now), -1);
}

static void test_json_helpers(void **state) {
  (void)state;
  const char *text = "{\"a\":3599,\"b\":\"3600\",\"c\":\"x\",\"d\":true}";
  struct json_object *o = o365_json_parse(text, strlen(text));
  assert_non_null(o);
  int64_t v = 0;
  assert_int_equal(o365_json_int64(o, "a", &v), 0);
  assert_int_equal(v, 3599);
  assert_int_equal(o365_json_int64(o, "b", &v), 0);
  assert_int_equal(v, 3600);
  assert_int_not_equal(o365_json_int64(o, "c", &v), 0);
  assert_int_not_equal(o365_json_int64(o, "d", &v), 0);
  assert_int_not_equal(o365_json_int64(o, "zz", &v), 0);
  assert_string_equal(o365_json_str(o, "c"), "x");
  assert_null(o365_json_str(o, "a"));
  json_object_put(o);
  /* Truncated, trailing garbage, too deep. */
  assert_null(o365_json_parse("{\"a\":", 5));
  assert_null(o365_json_parse("{} x", 4));
  char deep[200];
  memset(deep, '[', 100);
  memset(deep + 100, ']', 100);
  assert_null(o365_json_parse(deep, sizeof deep));
  assert_null(o365_json_parse("", 0));
}

/* Parses in turn on the kept tokener: a failed parse leaves nothing for
 * the next one (its state and its half-read string), a secret parse and a
 * body with a long string (its tokener not kept) between them change
 * nothing. */
static void test_json_parse_in_turn(void **state) {
  (void)state;
  static const char *const bad[] = {"{\"a\":", "{\"s\":\"abc", "[1,2", "{} x",
                                    "{\"a\":tru"};
  size_t big = 200000;
  char *long_body = malloc(big + 16);
  assert_non_null(long_body);
  memcpy(long_body, "{\"s\":\"", 6);
  memset(long_body + 6, 'y', big);
  memcpy(long_body + 6 + big, "\"}", 3);
  for (int round = 0; round < 3; round++) {
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
      assert_null(o365_json_parse(bad[i], strlen(bad[i])));
      const char *good = "{\"b\":\"x\"}";
      struct json_object *o = o365_json_parse(good, strlen(good));
      assert_non_null(o);
      assert_string_equal(o365_json_str(o, "b"), "x");
      assert_int_equal(json_object_object_length(o), 1);
      json_object_put(o);
    }
    struct json_object *o = round == 1 ? o365_json_parse_secret("[7]", 3)
                                       : o365_json_parse(long_body, big + 8);
    assert_non_null(o);
    json_object_put(o);
    o = o365_json_parse("[1,2]", 5);
    assert_non_null(o);
    assert_int_equal(json_object_array_length(o), 2);
    json_object_put(o);
  }
  free(long_body);
  o365_json_parse_release();
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_b64url_vectors),
      cmocka_unit_test(test_pct_encoding),
      cmocka_unit_test(test_pkce_rfc7636_vector),
      cmocka_unit_test(test_random_state),
      cmocka_unit_test(test_guid),
      cmocka_unit_test(test_json_add_static),
      cmocka_unit_test(test_json_parse_in_turn),
      cmocka_unit_test(test_json_add_lookup),
      cmocka_unit_test(test_guid_fork),
      cmocka_unit_test(test_secret_equal),
      cmocka_unit_test(test_retry_after),
      cmocka_unit_test(test_json_helpers),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
