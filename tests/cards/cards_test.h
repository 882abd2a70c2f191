/* cards_test.h - what the card tests against the emulator share (used by
 * test_cards_folders, _message, _misc and _send): one o365_fixture per
 * group with alice (and carol) connected, and JSON getters. Header only
 * (static helpers); include after <cmocka.h>. */
#ifndef CARDS_TEST_H
#define CARDS_TEST_H

#include <stdint.h>

#include "o365_fixture.h"

#define CT_FN static __attribute__((unused))

static o365_fixture *fx;
static wfc_conn *alice; /* owned by fx */

/* A fixture on doc (borrowed; NULL: examples/tenant.json); connects carol
 * into *carol when carol is not NULL, then alice. 0, or -1 when any step
 * failed. */
CT_FN int ct_up(json_object *doc, wfc_conn **carol) {
  fx = doc ? o365_fixture_new_doc(doc) : o365_fixture_new(NULL);
  if (fx == NULL)
    return -1;
  if (carol != NULL &&
      (*carol = o365_fixture_connect(fx, "carol@contoso.test")) == NULL)
    return -1;
  alice = o365_fixture_connect(fx, "alice@contoso.test");
  return alice ? 0 : -1;
}

CT_FN int teardown(void **state) {
  (void)state;
  return o365_fixture_free(fx);
}

/* o[k] as a string (borrowed), NULL when absent. */
CT_FN const char *jstr(json_object *o, const char *k) {
  json_object *v = NULL;
  return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

/* o[k] as an integer, -1 when absent. */
CT_FN int64_t jnum(json_object *o, const char *k) {
  json_object *v = NULL;
  return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

#endif
