/* Fuzz target for the plugin's parsers of outside input (the identity
 * platform's and Graph's answers, redirect values, headers). The first
 * byte picks the parser, the rest is the input; properties are checked
 * with abort(). Replayed under ctest by tests/fuzz/driver.c over
 * tests/plugin/corpus/fuzz_o365_parsers plus mutations. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "consent.h"
#include "graph.h"
#include "token.h"
#include "util.h"

static void check_str(const char *s, size_t cap) {
  if (memchr(s, '\0', cap) == NULL)
    abort();
}

static void aad_checks(const o365_aad_err *e) {
  check_str(e->error, sizeof e->error);
  check_str(e->suberror, sizeof e->suberror);
  check_str(e->summary, sizeof e->summary);
  check_str(e->trace_id, sizeof e->trace_id);
  check_str(e->correlation_id, sizeof e->correlation_id);
  if (e->aadsts < 0)
    abort();
  o365_state s = o365_authorize_outcome(e);
  if (s != O365_DENIED && s != O365_NEEDS_ADMIN_APPROVAL &&
      s != O365_APPROVAL_PENDING && s != O365_ERROR)
    abort();
  for (int st = O365_CONNECTED; st <= O365_ERROR; st++) {
    char *r = o365_remedy((o365_state)st, e, "https://x/adminconsent",
                          st % 2 ? "http://127.0.0.1:1" : NULL);
    if (r == NULL)
      abort();
    free(r);
  }
  o365_refresh_class c = o365_refresh_classify(400, e);
  if (c < O365_REFRESH_REAUTH || c > O365_REFRESH_FATAL)
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1)
    return 0;
  char *s = malloc(size);
  if (s == NULL)
    return 0;
  memcpy(s, data + 1, size - 1);
  s[size - 1] = '\0';
  size_t n = size - 1;
  switch (data[0] % 7) {
  case 0: { /* error_description text of a redirect */
    o365_aad_err e;
    memset(&e, 0, sizeof e);
    o365_aad_err_parse_description(s, &e);
    aad_checks(&e);
    break;
  }
  case 1: { /* token endpoint error body */
    struct json_object *j = o365_json_parse(s, n);
    o365_aad_err e;
    o365_aad_err_from_json(j, &e);
    aad_checks(&e);
    json_object_put(j);
    break;
  }
  case 2: { /* Graph error body */
    struct json_object *j = o365_json_parse(s, n);
    o365_graph_err e;
    o365_graph_err_parse(j, "rid", NULL, &e);
    check_str(e.code, sizeof e.code);
    check_str(e.message, sizeof e.message);
    check_str(e.request_id, sizeof e.request_id);
    check_str(e.client_request_id, sizeof e.client_request_id);
    json_object_put(j);
    break;
  }
  case 3: { /* Retry-After header */
    int64_t v = o365_retry_after_ms(s, 1700000000000LL);
    if (v < -1)
      abort();
    break;
  }
  case 4: { /* id_token */
    struct json_object *c = o365_id_token_claims(s);
    if (c != NULL && !json_object_is_type(c, json_type_object))
      abort();
    json_object_put(c);
    break;
  }
  case 5: { /* base64url: decoding never overruns; re-encoding agrees */
    uint8_t *out = NULL;
    size_t len = 0;
    if (o365_b64url_decode(s, n, &out, &len) == 0) {
      char *enc = malloc(len / 3 * 4 + 8);
      if (enc == NULL ||
          (o365_b64url_encode(out, len, enc, len / 3 * 4 + 8) == 0 && len > 0))
        abort();
      uint8_t *back = NULL;
      size_t blen = 0;
      if (o365_b64url_decode(enc, strlen(enc), &back, &blen) != 0 ||
          blen != len || memcmp(back, out, len) != 0)
        abort();
      free(back);
      free(enc);
      free(out);
    }
    break;
  }
  case 6: { /* origins of two URLs (nextLink check) are symmetric */
    char *nl = strchr(s, '\n');
    const char *b = "https://graph.microsoft.com/v1.0";
    if (nl != NULL) {
      *nl = '\0';
      b = nl + 1;
    }
    if (o365_url_same_origin(s, b) != o365_url_same_origin(b, s))
      abort();
    break;
  }
  }
  free(s);
  return 0;
}
