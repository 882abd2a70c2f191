/* json: strict parsing with offsets, caps, streaming in chunks, typed
 * getters (int64 from numbers and numeric strings), dump, and the secret
 * variants (parse, dump into secret memory, cleanse). */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "crypto.h"
#include "json.h"
#include "json_secret.h"
#include "secmem.h"
#include "unit_test.h"
#include "wfc/error.h"

static struct json_object *parse_ok(const char *text) {
  struct json_object *v = NULL;
  char err[200] = "";
  int rc = wfc__json_parse(text, strlen(text), 0, &v, err, sizeof err);
  if (rc != 0)
    fail_msg("parse of %s failed: %s", text, err);
  return v;
}

static int parse_err(const char *text, size_t len, char *err, size_t errlen) {
  struct json_object *v = (struct json_object *)1;
  int rc = wfc__json_parse(text, len, 0, &v, err, errlen);
  assert_null(v);
  return rc;
}

static void test_parse_values(void **state) {
  (void)state;
  struct json_object *v = parse_ok(" {\"a\": [1, 2.5, \"x\", true, null]}\n");
  assert_true(json_object_is_type(v, json_type_object));
  struct json_object *a = wfc__json_arr(v, "a");
  assert_non_null(a);
  assert_int_equal(json_object_array_length(a), 5);
  json_object_put(v);

  /* Top-level scalars complete only at end of input. */
  v = parse_ok("12345");
  assert_int_equal(json_object_get_int64(v), 12345);
  json_object_put(v);
  v = parse_ok("true");
  assert_true(json_object_get_boolean(v));
  json_object_put(v);
  v = parse_ok("\"h\\u00e9\"");
  assert_string_equal(json_object_get_string(v), "h\xc3\xa9");
  json_object_put(v);
}

static void test_parse_errors(void **state) {
  (void)state;
  char err[200];

  assert_int_equal(parse_err("{\"a\": 1,}", 9, err, sizeof err), WFC_EJSON);
  assert_non_null(strstr(err, "malformed JSON at byte 8"));

  assert_int_equal(parse_err("{\"a\": 1} x", 10, err, sizeof err), WFC_EJSON);
  assert_non_null(strstr(err, "at byte "));

  assert_int_equal(parse_err("", 0, err, sizeof err), WFC_EJSON);
  assert_string_equal(err, "malformed JSON at byte 0: unexpected end of input");

  assert_int_equal(parse_err("{\"a\": ", 6, err, sizeof err), WFC_EJSON);
  assert_non_null(strstr(err, "at byte 6"));

  /* Single quotes, comments and bare words are not JSON (strict). */
  assert_int_equal(parse_err("{'a': 1}", 8, err, sizeof err), WFC_EJSON);
  assert_int_equal(parse_err("[1] // c", 8, err, sizeof err), WFC_EJSON);
  assert_int_equal(parse_err("nan", 3, err, sizeof err), WFC_EJSON);
  /* json-c's strict mode takes these; RFC 8259 does not. */
  assert_int_equal(parse_err("NaN", 3, err, sizeof err), WFC_EJSON);
  assert_string_equal(err, "malformed JSON at byte 0: unexpected character");
  assert_int_equal(parse_err("[1, Infinity]", 13, err, sizeof err), WFC_EJSON);
  assert_string_equal(err, "malformed JSON at byte 4: unexpected character");
  assert_int_equal(parse_err("-Infinity", 9, err, sizeof err), WFC_EJSON);
  assert_int_equal(parse_err("[1 /* c */]", 11, err, sizeof err), WFC_EJSON);

  /* Invalid UTF-8 and NUL bytes. */
  assert_int_equal(parse_err("\"\xff\"", 3, err, sizeof err), WFC_EJSON);
  assert_int_equal(parse_err("[1,\0 2]", 7, err, sizeof err), WFC_EJSON);
  assert_string_equal(err, "malformed JSON at byte 3: NUL byte");

  assert_int_equal(parse_err("[\"\xc3 \"]", 6, err, sizeof err), WFC_EJSON);
  assert_int_equal(parse_err("\"\xc3", 2, err, sizeof err), WFC_EJSON);
  /* A quote inside a string is fine, outside it is not. */
  json_object_put(parse_ok("[\"it's\", \"a\\\"'b\"]"));
  assert_int_equal(parse_err("[\"a\\\"\", 'b']", 11, err, sizeof err),
                   WFC_EJSON);
  assert_string_equal(err, "malformed JSON at byte 8: unexpected character");

  /* The error text is optional. */
  assert_int_equal(parse_err("[", 1, NULL, 0), WFC_EJSON);
}

static void test_depth_limit(void **state) {
  (void)state;
  char deep[200], err[200];
  memset(deep, '[', 40);
  memset(deep + 40, ']', 40);
  assert_int_equal(parse_err(deep, 80, err, sizeof err), WFC_EJSON);
  assert_non_null(strstr(err, "nesting too deep"));
  /* 31 levels are fine. */
  memset(deep, '[', 31);
  memset(deep + 31, ']', 31);
  deep[62] = '\0';
  json_object_put(parse_ok(deep));
}

static void test_size_cap(void **state) {
  (void)state;
  struct json_object *v = NULL;
  char err[200];
  const char *t = "[1, 2, 3, 4, 5]";
  assert_int_equal(wfc__json_parse(t, strlen(t), 10, &v, err, sizeof err),
                   WFC_ETOOBIG);
  assert_null(v);
  assert_string_equal(err, "JSON text larger than 10 bytes");
  assert_int_equal(wfc__json_parse(t, strlen(t), 15, &v, err, sizeof err), 0);
  json_object_put(v);
}

static void test_stream_chunks(void **state) {
  (void)state;
  const char *t =
      "{\"value\": [{\"id\": \"AAMk\", \"n\": 12345678901234},"
      " {\"subject\": \"h\xc3\xa9llo\"}], \"@odata.nextLink\": null}"
      "  \r\n";
  size_t n = strlen(t);
  /* Every split point, byte by byte and in two halves. */
  for (size_t cut = 0; cut <= n; cut++) {
    wfc__json_stream *s = wfc__json_stream_new(0);
    struct json_object *v = NULL;
    assert_non_null(s);
    assert_int_equal(wfc__json_stream_feed(s, t, cut), 0);
    assert_int_equal(wfc__json_stream_feed(s, t + cut, n - cut), 0);
    assert_int_equal(wfc__json_stream_finish(s, &v, NULL, 0), 0);
    assert_int_equal(wfc__json_stream_bytes(s), n);
    struct json_object *arr = wfc__json_arr(v, "value");
    assert_int_equal(json_object_array_length(arr), 2);
    int64_t id;
    assert_int_equal(
        wfc__json_int64(json_object_array_get_idx(arr, 0), "n", &id), 0);
    assert_true(id == 12345678901234);
    json_object_put(v);
    wfc__json_stream_free(s);
  }
  wfc__json_stream *s = wfc__json_stream_new(0);
  struct json_object *v = NULL;
  for (size_t i = 0; i < n; i++)
    assert_int_equal(wfc__json_stream_feed(s, t + i, 1), 0);
  assert_int_equal(wfc__json_stream_finish(s, &v, NULL, 0), 0);
  assert_non_null(v);
  json_object_put(v);
  /* Finished: no more input accepted. */
  assert_int_equal(wfc__json_stream_feed(s, " ", 1), WFC_ESTATE);
  wfc__json_stream_free(s);
}

static void test_stream_errors(void **state) {
  (void)state;
  char err[200];
  struct json_object *v = NULL;

  /* Trailing data in a later chunk, with the absolute offset. */
  wfc__json_stream *s = wfc__json_stream_new(0);
  assert_int_equal(wfc__json_stream_feed(s, "{\"a\":1}", 7), 0);
  assert_int_equal(wfc__json_stream_feed(s, "  ", 2), 0);
  assert_int_equal(wfc__json_stream_feed(s, " {}", 3), WFC_EJSON);
  assert_int_equal(wfc__json_stream_feed(s, " ", 1), WFC_EJSON); /* sticky */
  assert_int_equal(wfc__json_stream_finish(s, &v, err, sizeof err), WFC_EJSON);
  assert_null(v);
  assert_string_equal(err, "malformed JSON at byte 10: trailing data");
  wfc__json_stream_free(s);

  /* Number grammar across a chunk boundary (json-c 0.16 alone takes
   * "1234" + "-]" as 1234). */
  static const char *bad_numbers[] = {"[1234-]", "[01]",    "[1.e5]", "[-]",
                                      "[1e+]",   "[1.5.2]", "[1e5e]", "[--1]",
                                      "[1+2]",   "[.5]",    NULL};
  for (const char **t = bad_numbers; *t != NULL; t++) {
    size_t n = strlen(*t);
    for (size_t cut = 0; cut <= n; cut++) {
      s = wfc__json_stream_new(0);
      int rc = wfc__json_stream_feed(s, *t, cut);
      if (rc == 0)
        rc = wfc__json_stream_feed(s, *t + cut, n - cut);
      if (rc == 0)
        rc = wfc__json_stream_finish(s, &v, err, sizeof err);
      if (rc != WFC_EJSON)
        fail_msg("%s cut at %zu: rc %d", *t, cut, rc);
      wfc__json_stream_free(s);
    }
  }
  static const char *good_numbers[] = {
      "[0, -0, 10, -1.5, 1e5, 1E+5, 2.5e-3, 0.0]", NULL};
  for (const char **t = good_numbers; *t != NULL; t++) {
    size_t n = strlen(*t);
    for (size_t cut = 0; cut <= n; cut++) {
      s = wfc__json_stream_new(0);
      assert_int_equal(wfc__json_stream_feed(s, *t, cut), 0);
      assert_int_equal(wfc__json_stream_feed(s, *t + cut, n - cut), 0);
      assert_int_equal(wfc__json_stream_finish(s, &v, err, sizeof err), 0);
      assert_int_equal(json_object_array_length(v), 8);
      json_object_put(v);
      wfc__json_stream_free(s);
    }
  }

  /* Truncated body. */
  s = wfc__json_stream_new(0);
  assert_int_equal(wfc__json_stream_feed(s, "{\"a\": [1, 2", 11), 0);
  assert_int_equal(wfc__json_stream_finish(s, &v, err, sizeof err), WFC_EJSON);
  assert_non_null(strstr(err, "at byte 11"));
  wfc__json_stream_free(s);

  /* Cap across chunks. */
  s = wfc__json_stream_new(8);
  assert_int_equal(wfc__json_stream_feed(s, "[1,2,", 5), 0);
  assert_int_equal(wfc__json_stream_feed(s, "3,4]", 4), WFC_ETOOBIG);
  assert_int_equal(wfc__json_stream_finish(s, &v, err, sizeof err),
                   WFC_ETOOBIG);
  wfc__json_stream_free(s);
  wfc__json_stream_free(NULL);
}

static void test_getters(void **state) {
  (void)state;
  struct json_object *v = parse_ok(
      "{\"s\": \"str\", \"i\": 42, \"neg\": -7, \"si\": \"3599\", \"sneg\": "
      "\"-12\", \"big\": 9223372036854775807, \"huge\": 9223372036854775808,"
      " \"sbig\": \"99999999999999999999\", \"d\": 1.5, \"sx\": \"12a\","
      " \"sp\": \" 12\", \"plus\": \"+1\", \"empty\": \"\", \"b\": true,"
      " \"nul\": null, \"o\": {}, \"a\": []}");
  int64_t n = 0;
  bool b = false;

  assert_string_equal(wfc__json_str(v, "s"), "str");
  assert_null(wfc__json_str(v, "i"));
  assert_null(wfc__json_str(v, "nul"));
  assert_null(wfc__json_str(v, "missing"));
  assert_null(wfc__json_str(NULL, "s"));
  assert_null(wfc__json_str(wfc__json_arr(v, "a"), "s"));

  assert_int_equal(wfc__json_int64(v, "i", &n), 0);
  assert_int_equal(n, 42);
  assert_int_equal(wfc__json_int64(v, "neg", &n), 0);
  assert_int_equal(n, -7);
  assert_int_equal(wfc__json_int64(v, "si", &n), 0);
  assert_int_equal(n, 3599);
  assert_int_equal(wfc__json_int64(v, "sneg", &n), 0);
  assert_int_equal(n, -12);
  assert_int_equal(wfc__json_int64(v, "big", &n), 0);
  assert_true(n == INT64_MAX);
  n = 5;
  assert_int_equal(wfc__json_int64(v, "huge", &n), WFC_ETOOBIG);
  assert_int_equal(wfc__json_int64(v, "sbig", &n), WFC_ETOOBIG);
  assert_int_equal(wfc__json_int64(v, "d", &n), WFC_EINVAL);
  assert_int_equal(wfc__json_int64(v, "sx", &n), WFC_EINVAL);
  assert_int_equal(wfc__json_int64(v, "sp", &n), WFC_EINVAL);
  assert_int_equal(wfc__json_int64(v, "plus", &n), WFC_EINVAL);
  assert_int_equal(wfc__json_int64(v, "empty", &n), WFC_EINVAL);
  assert_int_equal(wfc__json_int64(v, "b", &n), WFC_EINVAL);
  assert_int_equal(wfc__json_int64(v, "nul", &n), WFC_ENOTFOUND);
  assert_int_equal(wfc__json_int64(v, "missing", &n), WFC_ENOTFOUND);
  assert_int_equal(n, 5); /* untouched on failure */

  assert_int_equal(wfc__json_bool(v, "b", &b), 0);
  assert_true(b);
  assert_int_equal(wfc__json_bool(v, "s", &b), WFC_EINVAL);
  assert_int_equal(wfc__json_bool(v, "missing", &b), WFC_ENOTFOUND);

  assert_non_null(wfc__json_obj(v, "o"));
  assert_null(wfc__json_obj(v, "a"));
  assert_non_null(wfc__json_arr(v, "a"));
  assert_null(wfc__json_arr(v, "o"));
  assert_null(wfc__json_obj(v, "nul"));

  assert_string_equal(wfc__json_type_name(wfc__json_obj(v, "o")), "object");
  assert_string_equal(wfc__json_type_name(NULL), "null");
  json_object_put(v);
}

static void test_dump(void **state) {
  (void)state;
  struct json_object *v = parse_ok("{\"url\": \"https://x/y\", \"n\": [1, 2]}");
  char *s = wfc__json_dump(v, false);
  json_object_put(v); /* the copy outlives the object */
  assert_string_equal(s, "{\"url\":\"https://x/y\",\"n\":[1,2]}");
  free(s);
  s = wfc__json_dump(NULL, false);
  assert_string_equal(s, "null");
  free(s);
  v = parse_ok("{\"a\": 1}");
  s = wfc__json_dump(v, true);
  assert_non_null(strchr(s, '\n'));
  free(s);
  json_object_put(v);
}

/* wfc__json_write gives wfc__json_dump's bytes (json-c's), in both
 * layouts, for every kind of value: escapes, NUL inside strings, empty
 * containers, null members and items, extreme integers, doubles kept as
 * parsed and made, and random trees. */
static void write_same(struct json_object *v) {
  for (int pretty = 0; pretty < 2; pretty++) {
    char *want = wfc__json_dump(v, pretty);
    char *got = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&got, &len);
    assert_non_null(f);
    assert_int_equal(wfc__json_write(f, v, pretty), 0);
    fclose(f);
    if (strlen(want) != len || memcmp(want, got, len) != 0)
      fprintf(stderr, "want %s\n got %.*s\n", want, (int)len, got);
    assert_int_equal(strlen(want), len);
    assert_memory_equal(want, got, len);
    free(want);
    free(got);
  }
}

static struct json_object *random_tree(unsigned *seed, int depth) {
  static const char pieces[][8] = {
      "a",    "\"",       "\\", "/",  "\n", "\t", "\x01", "\x1f",
      "\x7f", "\xc3\xa9", " ",  "\b", "\f", "\r", "key",  "\xe2\x82\xac"};
  int kind = rand_r(seed) % (depth > 4 ? 6 : 8);
  switch (kind) {
  case 0:
    return NULL;
  case 1:
    return json_object_new_boolean(rand_r(seed) % 2);
  case 2:
    return json_object_new_int64((int64_t)rand_r(seed) - RAND_MAX / 2);
  case 3:
    return json_object_new_double((double)rand_r(seed) / 7.0);
  case 4:
  case 5: {
    char buf[128] = "";
    int n = rand_r(seed) % 8;
    for (int i = 0; i < n; i++)
      strcat(buf, pieces[rand_r(seed) % 16]);
    return json_object_new_string(buf);
  }
  case 6: {
    struct json_object *a = json_object_new_array();
    int n = rand_r(seed) % 5;
    for (int i = 0; i < n; i++)
      json_object_array_add(a, random_tree(seed, depth + 1));
    return a;
  }
  default: {
    struct json_object *o = json_object_new_object();
    int n = rand_r(seed) % 5;
    for (int i = 0; i < n; i++) {
      char key[64];
      snprintf(key, sizeof key, "k%d%s", i, pieces[rand_r(seed) % 16]);
      json_object_object_add(o, key, random_tree(seed, depth + 1));
    }
    return o;
  }
  }
}

/* wfc__json_write gives a and b the same bytes, in both layouts. */
static void write_equal(struct json_object *a, struct json_object *b) {
  for (int pretty = 0; pretty < 2; pretty++) {
    char *ta = NULL, *tb = NULL;
    size_t la = 0, lb = 0;
    FILE *fa = open_memstream(&ta, &la), *fb = open_memstream(&tb, &lb);
    assert_non_null(fa);
    assert_non_null(fb);
    assert_int_equal(wfc__json_write(fa, a, pretty), 0);
    assert_int_equal(wfc__json_write(fb, b, pretty), 0);
    fclose(fa);
    fclose(fb);
    if (la != lb || memcmp(ta, tb, la) != 0)
      fprintf(stderr, "pretty %d: lengths %zu, %zu\n", pretty, la, lb);
    assert_int_equal(la, lb);
    assert_memory_equal(ta, tb, la);
    free(ta);
    free(tb);
  }
}

/* A list kept as text (wfc_host_api.list_new, ABI 1.5) is written, by
 * wfc__json_write in both layouts and by json-c compact, as the array of
 * its items, byte for byte, whatever the items: random trees, a string
 * longer than a chunk, a NUL, containers and escapes cut across chunks
 * (3,000 items are several 256 KiB chunks), a list inside an item; once
 * expanded it is that array, the same object. */
static void test_list_kept_as_text(void **state) {
  (void)state;
  static const int counts[] = {0, 1, 2, 40, 3000};
  char *big = malloc(300001);
  assert_non_null(big);
  for (size_t i = 0; i < 300000; i++)
    big[i] = "a{\"[\\,:]}\n"[i % 10];
  big[300000] = '\0';
  for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++) {
    int n = counts[c];
    unsigned s1 = 7u + (unsigned)n, s2 = s1;
    struct json_object *list = wfc__json_list_new();
    struct json_object *arr = json_object_new_array();
    assert_non_null(list);
    assert_true(wfc__json_list_is(list));
    assert_false(wfc__json_list_is(arr));
    for (int i = 0; i < n; i++) {
      assert_int_equal(wfc__json_list_add(list, random_tree(&s1, 1)), 0);
      json_object_array_add(arr, random_tree(&s2, 1));
    }
    if (n == 3000) {
      assert_int_equal(wfc__json_list_add(list, json_object_new_string(big)),
                       0);
      json_object_array_add(arr, json_object_new_string(big));
      assert_int_equal(
          wfc__json_list_add(list, json_object_new_string_len("a\0b", 3)), 0);
      json_object_array_add(arr, json_object_new_string_len("a\0b", 3));
      /* A list inside an item. */
      struct json_object *inner = wfc__json_list_new(), *item;
      struct json_object *inner_arr = json_object_new_array();
      for (int i = 0; i < 3; i++) {
        assert_int_equal(wfc__json_list_add(inner, random_tree(&s1, 2)), 0);
        json_object_array_add(inner_arr, random_tree(&s2, 2));
      }
      item = json_object_new_object();
      json_object_object_add(item, "inner", inner);
      assert_int_equal(wfc__json_list_add(list, item), 0);
      item = json_object_new_object();
      json_object_object_add(item, "inner", inner_arr);
      json_object_array_add(arr, item);
    }
    assert_int_equal(wfc__json_list_count(list), json_object_array_length(arr));
    struct json_object *out = json_object_new_object();
    struct json_object *ref = json_object_new_object();
    json_object_object_add(out, "items", list);
    json_object_object_add(out, "n", json_object_new_int(n));
    json_object_object_add(ref, "items", arr);
    json_object_object_add(ref, "n", json_object_new_int(n));
    write_equal(out, ref);
    const int fl = JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE;
    assert_string_equal(json_object_to_json_string_ext(list, fl),
                        json_object_to_json_string_ext(arr, fl));
    /* Expanded in place: an ordinary array equal to the reference. */
    assert_int_equal(wfc__json_list_expand(out), 0);
    assert_ptr_equal(json_object_object_get(out, "items"), list);
    assert_false(wfc__json_list_is(list));
    assert_int_equal(json_object_array_length(list),
                     json_object_array_length(arr));
    assert_true(json_object_equal(out, ref));
    write_equal(out, ref);
    json_object_put(out);
    json_object_put(ref);
  }
  free(big);
  /* Adding to an ordinary array appends; to anything else is refused,
   * and the item is freed either way (ASan counts). */
  struct json_object *a = json_object_new_array(),
                     *o = json_object_new_object();
  assert_int_equal(wfc__json_list_add(a, json_object_new_int(1)), 0);
  assert_int_equal(json_object_array_length(a), 1);
  assert_int_equal(wfc__json_list_add(o, json_object_new_int(1)), WFC_EINVAL);
  assert_int_equal(wfc__json_list_add(NULL, json_object_new_int(1)),
                   WFC_EINVAL);
  json_object_put(a);
  json_object_put(o);
}

static void test_write_matches_dump(void **state) {
  (void)state;
  struct json_object *v = parse_ok(
      "{\"s\": \"a\\\"b\\\\c/d\\n\\t\\b\\f\\r\\u0001\\u001f\\u007f\u00e9\","
      " \"e\": {}, \"a\": [], \"n\": null, \"l\": [null, 1, -2, true,"
      " false, 1.50, 1e300, -0.0, 0.1, {\"x\": [[], {}]}],"
      " \"i\": [9223372036854775807, -9223372036854775808,"
      " 18446744073709551615], \"deep\": {\"a\": {\"b\": {\"c\": [1]}}}}");
  write_same(v);
  json_object_put(v);
  /* A NUL inside a string and a key with escapes. */
  v = json_object_new_object();
  json_object_object_add(v, "nul", json_object_new_string_len("a\0b", 3));
  json_object_object_add(v, "k\"\n/", json_object_new_double(2.5));
  json_object_object_add(v, "u", json_object_new_uint64(UINT64_MAX));
  write_same(v);
  json_object_put(v);
  write_same(NULL);
  v = json_object_new_string("top");
  write_same(v);
  json_object_put(v);
  /* A string longer than the writer's buffer. */
  char *big = malloc(200000);
  assert_non_null(big);
  for (size_t i = 0; i < 199999; i++)
    big[i] = (char)(i % 97 == 0 ? '\n' : 'a' + (int)(i % 26));
  big[199999] = '\0';
  v = json_object_new_array();
  json_object_array_add(v, json_object_new_string(big));
  json_object_array_add(v, json_object_new_string(big));
  free(big);
  write_same(v);
  json_object_put(v);
  unsigned seed = 13;
  for (int i = 0; i < 2000; i++) {
    v = random_tree(&seed, 0);
    write_same(v);
    json_object_put(v);
  }
  /* A write the file refuses is an error. */
  FILE *ro = fopen("/dev/null", "r");
  assert_non_null(ro);
  v = parse_ok("[1, 2]");
  assert_int_equal(wfc__json_write(ro, v, false), WFC_EIO);
  json_object_put(v);
  fclose(ro);
}

/* Differential check of the stream against one-shot parsing: random
 * mutations of valid documents, fed in random pieces, must give the same
 * code, the same error offset and the same value. */
static uint32_t rnd_state = 0x9e3779b9u;
static uint32_t rnd(void) {
  rnd_state ^= rnd_state << 13;
  rnd_state ^= rnd_state >> 17;
  rnd_state ^= rnd_state << 5;
  return rnd_state;
}

static void test_stream_matches_oneshot(void **state) {
  (void)state;
  static const char *corpus[] = {
      "{\"a\": [1, -2.5e3, \"x\\\"y\", true, false, null], \"b\": {}}",
      "[\"h\xc3\xa9\", \"\xe2\x82\xac\", \"\xf0\x9f\x98\x80\", "
      "\"\\u00e9\\ud83d\\ude00\"]",
      "{\"value\":[{\"id\":\"AAMk\",\"size\":123456789012}],"
      "\"@odata.deltaLink\":\"https://x/y?$deltatoken=abc\"}",
      "  12345  ",
      "\"just a string \xc3\xa9\"",
  };
  static const char alphabet[] = "'\"\\{}[],: 0-e.\xc3\xa9\xe2\x82\xac\xf0\x9f"
                                 "\xff\x80tnu";
  char buf[512];
  int checked = 0, valid = 0;

  for (int iter = 0; iter < 4000; iter++) {
    const char *base = corpus[rnd() % (sizeof corpus / sizeof corpus[0])];
    size_t n = strlen(base);
    memcpy(buf, base, n);
    int muts = (int)(rnd() % 3);
    for (int m = 0; m < muts; m++) {
      size_t at = rnd() % (n + 1);
      char c = alphabet[rnd() % (sizeof alphabet - 1)];
      if (rnd() % 8 == 0)
        c = '\0';
      switch (rnd() % 3) {
      case 0: /* replace */
        if (at < n)
          buf[at] = c;
        break;
      case 1: /* insert */
        if (n + 1 < sizeof buf) {
          memmove(buf + at + 1, buf + at, n - at);
          buf[at] = c;
          n++;
        }
        break;
      default: /* delete */
        if (at < n) {
          memmove(buf + at, buf + at + 1, n - at - 1);
          n--;
        }
      }
    }

    struct json_object *v1 = NULL, *v2 = NULL;
    char e1[200] = "", e2[200] = "";
    int rc1 = wfc__json_parse(buf, n, 0, &v1, e1, sizeof e1);

    wfc__json_stream *s = wfc__json_stream_new(0);
    size_t off = 0;
    int rc2 = 0;
    while (off < n && rc2 == 0) {
      size_t piece = 1 + rnd() % 7;
      if (piece > n - off)
        piece = n - off;
      rc2 = wfc__json_stream_feed(s, buf + off, piece);
      off += piece;
    }
    rc2 = wfc__json_stream_finish(s, &v2, e2, sizeof e2);
    wfc__json_stream_free(s);

    /* Same code and offset. The cause may be worded differently when the
     * stream saw the value end before the bad byte ("trailing data") and
     * json-c, given everything at once, flagged the byte itself. */
    char *c1 = strchr(e1, ':'), *c2 = strchr(e2, ':');
    if (c1 != NULL)
      *c1 = '\0';
    if (c2 != NULL)
      *c2 = '\0';
    if (rc1 != rc2 || strcmp(e1, e2) != 0)
      fail_msg("iteration %d [%.*s]: one-shot %d \"%s\", stream %d \"%s\"",
               iter, (int)n, buf, rc1, e1, rc2, e2);
    if (rc1 == 0) {
      assert_true(json_object_equal(v1, v2));
      valid++;
    }
    json_object_put(v1);
    json_object_put(v2);
    checked++;
  }
  assert_int_equal(checked, 4000);
  assert_true(valid > 100); /* the unmutated and harmless cases */
}

/* Secret JSON: the dump is in secret memory and parses back to the same
 * value (escapes, nesting, every scalar); the parse is as strict as
 * wfc__json_parse; cleansing overwrites every string in place. */
static void test_secret_json(void **state) {
  (void)state;
  static const char text[] = "{\"credentials\":{\"access_token\":\"eyJ."
                             "a\\\"b\\\\c\\n\\u0001d/e\",\"expires_at\":"
                             "1700000000,\"scopes\":[\"Mail.Send\",null,true,1."
                             "5]},\"secret_params\":{}}";
  struct json_object *v = NULL, *back = NULL;
  char err[200] = "";
  assert_int_equal(
      wfc__json_parse_secret(text, strlen(text), &v, err, sizeof err), 0);
  char *dump = wfc__json_dump_secret(v);
  assert_non_null(dump);
  assert_true(wfc__secmem_owns(dump));
  assert_int_equal(wfc__json_parse(dump, strlen(dump), 0, &back, NULL, 0), 0);
  assert_true(json_object_equal(v, back));
  wfc__secret_free(dump);
  json_object_put(back);

  /* Cleansed in place: same lengths, no byte of the secret left. */
  struct json_object *cr = json_object_object_get(v, "credentials");
  struct json_object *at = json_object_object_get(cr, "access_token");
  const char *s = json_object_get_string(at);
  size_t n = (size_t)json_object_get_string_len(at);
  wfc__json_cleanse(v);
  for (size_t i = 0; i < n; i++)
    assert_int_equal(s[i], 0);
  wfc__json_cleanse_put(v);
  wfc__json_cleanse_put(NULL);

  v = (struct json_object *)1;
  assert_int_equal(
      wfc__json_parse_secret("{\"a\":1} x", 10, &v, err, sizeof err),
      WFC_EJSON);
  assert_null(v);
  assert_string_equal(err, "malformed JSON at byte 8: unexpected character");
  assert_int_equal(wfc__json_parse_secret("{\"a\":", 5, &v, err, sizeof err),
                   WFC_EJSON);
  assert_non_null(strstr(err, "malformed JSON at byte"));
  char *null_dump = wfc__json_dump_secret(NULL);
  assert_string_equal(null_dump, "null");
  wfc__secret_free(null_dump);

  /* The same text rules as wfc__json_parse (json-c alone would have made
   * the lone surrogate U+FFFD and let the overlong '/' through). */
  static const char lone[] = "{\"t\":\"ab\\ud800\"}";
  assert_int_equal(
      wfc__json_parse_secret(lone, sizeof lone - 1, &v, err, sizeof err),
      WFC_EJSON);
  assert_null(v);
  assert_string_equal(err, "t: a lone surrogate escape (\\ud800-\\udfff "
                           "without its pair) at byte 2 (byte 8 of the JSON "
                           "text)");
  assert_int_equal(
      wfc__json_parse_secret("[\"\xc0\xaf\"]", 5, &v, err, sizeof err),
      WFC_EJSON);
  assert_string_equal(err,
                      "[0]: invalid UTF-8 at byte 0 (byte 2 of the JSON text)");
}

/* What wfc__json_parse_wiped hands to wipe: how many regions, and how
 * many held the secret. */
static struct { int calls, saw_secret; } wiped;
static const char wiped_secret[] = "rt-0123456789abcdef-secret";

static void record_wipe(void *p, size_t n) {
  wiped.calls++;
  if (memmem(p, n, wiped_secret, sizeof wiped_secret - 1) != NULL)
    wiped.saw_secret++;
  memset(p, 0, n);
}

/* The tokener's buffer, where json-c gathered the string, is wiped before
 * it is freed, with the parser's state, whether the parse succeeds or a
 * value is refused for what follows it; the value handed out is intact. */
static void test_parse_wiped(void **state) {
  (void)state;
  char text[200], err[200];
  struct json_object *v = NULL;
  int n =
      snprintf(text, sizeof text, "{\"refresh_token\":\"%s\"}", wiped_secret);
  memset(&wiped, 0, sizeof wiped);
  assert_int_equal(
      wfc__json_parse_wiped(text, (size_t)n, &v, err, sizeof err, record_wipe),
      0);
  assert_string_equal(wfc__json_str(v, "refresh_token"), wiped_secret);
  /* The tokener's buffer and the parser's state. */
  assert_int_equal(wiped.calls, 2);
  assert_int_equal(wiped.saw_secret, 1);
  /* wfc__json_wipe reaches every string, nested in objects and lists. */
  json_object_object_add(v, "list", json_object_new_array());
  json_object_array_add(json_object_object_get(v, "list"),
                        json_object_new_string(wiped_secret));
  memset(&wiped, 0, sizeof wiped);
  wfc__json_wipe(v, record_wipe);
  assert_int_equal(wiped.saw_secret, 2);
  assert_int_equal(wiped.calls, 2);
  json_object_put(v);

  /* Refused after the value: the value is wiped too before it goes. */
  n = snprintf(text, sizeof text, "{\"refresh_token\":\"%s\"} x", wiped_secret);
  memset(&wiped, 0, sizeof wiped);
  assert_int_equal(
      wfc__json_parse_wiped(text, (size_t)n, &v, err, sizeof err, record_wipe),
      WFC_EJSON);
  assert_null(v);
  assert_string_equal(err, "malformed JSON at byte 47: unexpected character");
  /* The tokener's buffer, the value's string, the parser's state. */
  assert_int_equal(wiped.calls, 3);
  assert_int_equal(wiped.saw_secret, 2);
}

/* ---- strings must be text ----------------------------------------------- */

/* Parses text[0..len) one-shot and in every two-piece split, byte by byte
 * too: all must refuse it with exactly msg. */
static void expect_text_error(const char *root, const char *text, size_t len,
                              const char *msg) {
  struct json_object *v = NULL;
  char err[400] = "";
  int rc = wfc__json_parse_at(text, len, 0, root, &v, err, sizeof err);
  if (rc != WFC_EJSON || strcmp(err, msg) != 0)
    fail_msg("[%.*s]: rc %d, got \"%s\", want \"%s\"", (int)len, text, rc, err,
             msg);
  for (size_t cut = 0; cut <= len + 1; cut++) {
    wfc__json_stream *s = wfc__json_stream_new(0);
    wfc__json_stream_root(s, root);
    if (cut <= len) { /* two pieces */
      rc = wfc__json_stream_feed(s, text, cut);
      if (rc == 0)
        rc = wfc__json_stream_feed(s, text + cut, len - cut);
    } else { /* byte by byte */
      rc = 0;
      for (size_t i = 0; i < len && rc == 0; i++)
        rc = wfc__json_stream_feed(s, text + i, 1);
    }
    err[0] = '\0';
    rc = wfc__json_stream_finish(s, &v, err, sizeof err);
    if (rc != WFC_EJSON || strcmp(err, msg) != 0)
      fail_msg("[%.*s] cut at %zu: rc %d, got \"%s\", want \"%s\"", (int)len,
               text, cut, rc, err, msg);
    assert_null(v);
    wfc__json_stream_free(s);
  }
}

/* Templates: "@" is where "ab" BAD "cd" goes; path as the message gives it
 * (root "input"); K: the key's component. */
static const struct {
  const char *tmpl, *path;
} places[] = {
    {"\"@\"", "input"},
    {"{\"subject\": \"@\"}", "input.subject"},
    {"{\"to\": [\"a.x.com\", \"@\"]}", "input.to[1]"},
    {"{\"a\": {\"b\": [1, {\"c\": \"@\"}]}, \"z\": 1}", "input.a.b[1].c"},
    {"[[1, [\"x\", \"@\"]]]", "input[0][1][1]"},
    {"{\"attachments\": [{\"id\": \"1\"}, {\"id\": \"2\", \"name\": \"@\"}]}",
     "input.attachments[1].name"},
    {"{\"X-Id\": {\"k\": \"@\"}}", "input[\"X-Id\"].k"},
    /* A key shows the bytes read before the bad one, '?' for it, and
     * "..." for the rest. */
    {"{\"ok\": 1, \"@\": 2}", "input[\"ab?...\"] (the key)"},
    {"{\"h\": [{\"@\": 2}]}", "input.h[0][\"ab?...\"] (the key)"},
};

static void test_text_invalid_utf8(void **state) {
  (void)state;
  char text[200], msg[400];

  for (size_t b = 0; b < sizeof bad_utf8 / sizeof bad_utf8[0]; b++) {
    for (size_t p = 0; p < sizeof places / sizeof places[0]; p++) {
      const char *at = strchr(places[p].tmpl, '@');
      size_t pre = (size_t)(at - places[p].tmpl), n = bad_utf8[b].len;
      size_t len = 0;
      memcpy(text, places[p].tmpl, pre);
      len = pre;
      memcpy(text + len, "ab", 2);
      len += 2;
      memcpy(text + len, bad_utf8[b].bytes, n);
      len += n;
      memcpy(text + len, "cd", 2);
      len += 2;
      memcpy(text + len, at + 1, strlen(at + 1));
      len += strlen(at + 1);
      snprintf(msg, sizeof msg,
               "%s: invalid UTF-8 at byte 2 (byte %zu of the JSON text)",
               places[p].path, pre + 2);
      expect_text_error("input", text, len, msg);
    }
  }

  /* Without a root the path starts at the first key; the offset in the
   * string counts decoded bytes (escapes as what they stand for). */
  const char esc[] = "{\"s\": \"a\\n\\u00e9\\u20ac\\ud83d\\ude00\xff\"}";
  expect_text_error(NULL, esc, sizeof esc - 1,
                    "s: invalid UTF-8 at byte 11 (byte 34 of the JSON text)");
  expect_text_error(NULL, "[\"\xff\"]", 5,
                    "[0]: invalid UTF-8 at byte 0 (byte 2 of the JSON text)");
  expect_text_error(NULL, "\"\xff\"", 3,
                    "(the JSON value): invalid UTF-8 at byte 0 (byte 1 of the "
                    "JSON text)");
  /* Long keys are cut in the path. */
  char longkey[200];
  int n = snprintf(longkey, sizeof longkey, "{\"%070d\": \"\xc0\"}", 0);
  char want[300];
  snprintf(want, sizeof want,
           "input[\"%064d...\"]: invalid UTF-8 at byte 0 (byte 76 of the JSON "
           "text)",
           0);
  expect_text_error("input", longkey, (size_t)n, want);

  /* Valid text of every length passes, and bytes are kept as they are. */
  struct json_object *v = parse_ok(
      "[\"\xc2\x80\xdf\xbf\", \"\xe0\xa0\x80\xed\x9f\xbf\xee\x80\x80\xef\xbf"
      "\xbd\", \"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"]");
  assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 2)),
                      "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf");
  json_object_put(v);
}

static void test_text_surrogates(void **state) {
  (void)state;
  /* A pair is one character (4 bytes of UTF-8), in either case. */
  struct json_object *v =
      parse_ok("[\"\\ud83d\\ude00\", \"\\uDBFF\\uDFFF\", \"\\uD800\\uDC00\"]");
  assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 0)),
                      "\xf0\x9f\x98\x80");
  assert_string_equal(json_object_get_string(json_object_array_get_idx(v, 1)),
                      "\xf4\x8f\xbf\xbf");
  json_object_put(v);

  /* Alone, json-c would write U+FFFD in its place: refused instead, at the
   * escape left without its pair. */
  static const struct {
    const char *text, *msg;
  } lone[] = {
      {"{\"s\": \"\\ud800\"}", "s: a lone surrogate escape (\\ud800-\\udfff "
                               "without its pair) at byte 0 (byte 7 of the "
                               "JSON text)"},
      {"{\"s\": \"x\\ud800y\"}", "s: a lone surrogate escape (\\ud800-\\udfff "
                                 "without its pair) at byte 1 (byte 8 of the "
                                 "JSON text)"},
      {"{\"s\": \"\\udc00\"}", "s: a lone surrogate escape (\\ud800-\\udfff "
                               "without its pair) at byte 0 (byte 7 of the "
                               "JSON text)"},
      {"{\"s\": \"ab\\ud800\\u0041\"}",
       "s: a lone surrogate escape (\\ud800-\\udfff without its pair) at byte "
       "2 (byte 9 of the JSON text)"},
      {"{\"s\": \"\\ud800\\ud800\\udc00\"}",
       "s: a lone surrogate escape (\\ud800-\\udfff without its pair) at byte "
       "0 (byte 7 of the JSON text)"},
      {"{\"s\": \"\\ud800\\n\"}", "s: a lone surrogate escape (\\ud800-\\udfff "
                                  "without its pair) at byte 0 (byte 7 of the "
                                  "JSON text)"},
      {"{\"s\": [\"\\u00e9\\udfff\"]}",
       "s[0]: a lone surrogate escape (\\ud800-\\udfff without its pair) at "
       "byte 2 (byte 14 of the JSON text)"},
      {"{\"\\ud800\": 1}", "[\"?...\"] (the key): a lone surrogate escape "
                           "(\\ud800-\\udfff without its pair) at byte 0 "
                           "(byte 2 of the JSON text)"},
  };
  for (size_t i = 0; i < sizeof lone / sizeof lone[0]; i++)
    expect_text_error(NULL, lone[i].text, strlen(lone[i].text), lone[i].msg);
}

static void test_text_nul(void **state) {
  (void)state;
  /* In a value \u0000 is kept with the length (the validator decides). */
  struct json_object *v = parse_ok("{\"s\": \"a\\u0000b\"}");
  struct json_object *s = json_object_object_get(v, "s");
  assert_int_equal(json_object_get_string_len(s), 3);
  assert_memory_equal(json_object_get_string(s), "a\0b", 3);
  json_object_put(v);
  /* In a key json-c would cut the key there: refused. */
  expect_text_error(
      NULL, "{\"a\\u0000b\": 1}", 15,
      "[\"a?...\"] (the key): contains a NUL character (\\u0000) at byte "
      "1 (byte 3 of the JSON text)");
  expect_text_error("input", "{\"m\": {\"\\u0000\": 1}}", 20,
                    "input.m[\"?...\"] (the key): contains a NUL character "
                    "(\\u0000) at byte 0 (byte 8 of the JSON text)");
  /* A raw NUL byte is not JSON at all. */
  char err[200];
  assert_int_equal(parse_err("{\"s\": \"a\0b\"}", 12, err, sizeof err),
                   WFC_EJSON);
  assert_string_equal(err, "malformed JSON at byte 8: NUL byte");
}

static void test_text_check(void **state) {
  (void)state;
  size_t at = 99;
  assert_int_equal(wfc__json_text_check("h\xc3\xa9", 3, &at), 0);
  assert_int_equal(wfc__json_text_check("", 0, &at), 0);
  assert_int_equal(wfc__json_text_check("ab\0", 3, &at), WFC_JSON_TEXT_NUL);
  assert_int_equal(at, 2);
  for (size_t b = 0; b < sizeof bad_utf8 / sizeof bad_utf8[0]; b++) {
    char buf[16] = "xy";
    memcpy(buf + 2, bad_utf8[b].bytes, bad_utf8[b].len);
    at = 99;
    assert_int_equal(wfc__json_text_check(buf, 2 + bad_utf8[b].len, &at),
                     WFC_JSON_TEXT_UTF8);
    assert_int_equal(at, 2);
  }
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_secret_json),
      cmocka_unit_test(test_parse_wiped),
      cmocka_unit_test(test_parse_values),
      cmocka_unit_test(test_parse_errors),
      cmocka_unit_test(test_depth_limit),
      cmocka_unit_test(test_size_cap),
      cmocka_unit_test(test_stream_chunks),
      cmocka_unit_test(test_stream_errors),
      cmocka_unit_test(test_getters),
      cmocka_unit_test(test_dump),
      cmocka_unit_test(test_stream_matches_oneshot),
      cmocka_unit_test(test_write_matches_dump),
      cmocka_unit_test(test_text_invalid_utf8),
      cmocka_unit_test(test_text_surrogates),
      cmocka_unit_test(test_text_nul),
      cmocka_unit_test(test_text_check),
      cmocka_unit_test(test_list_kept_as_text),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
