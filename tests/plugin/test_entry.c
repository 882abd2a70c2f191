/* The plugin's descriptor and init: one connection type with its
 * parameter schema, every card of the table, refusal of a short table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cards.h"
#include "conn.h"
#include "fake_host.h"

const wfc_plugin_desc *wfc_plugin_entry_v1(void);

static void test_descriptor(void **state) {
  (void)state;
  const wfc_plugin_desc *d = wfc_plugin_entry_v1();
  assert_int_equal(d->magic, WFC_PLUGIN_MAGIC);
  assert_int_equal(d->abi_major, WFC_ABI_MAJOR);
  assert_int_equal(d->abi_minor, WFC_ABI_MINOR);
  assert_int_equal(d->size, sizeof(wfc_plugin_desc));
  assert_string_equal(d->name, "o365mail");
  assert_string_equal(d->fingerprint, WFC_ABI_FINGERPRINT);
  assert_non_null(d->init);
}

static void test_init_registers(void **state) {
  (void)state;
  fake_reset();
  const wfc_plugin_desc *d = wfc_plugin_entry_v1();
  assert_int_equal(d->init(fake_api(), NULL, NULL), 0);
  const wfc_conn_type_desc *ct = fake_conn_type();
  assert_non_null(ct);
  assert_string_equal(ct->id, "o365mail");
  assert_non_null(ct->authorize_begin);
  assert_non_null(ct->authorize_complete);
  assert_non_null(ct->refresh);
  assert_non_null(ct->revoke);
  assert_non_null(ct->test);
  static const char *names[] = {"environment",   "tenant",        "cloud",
                                "authority_url", "graph_url",     "portal_url",
                                "client_id",     "client_secret", "login_hint"};
  size_t n = 0;
  for (; ct->params[n].name; n++) {
    assert_string_equal(ct->params[n].name, names[n]);
    assert_int_equal(ct->params[n].flags & WFC_FIELD_SECRET,
                     strcmp(names[n], "client_secret") == 0 ? WFC_FIELD_SECRET
                                                            : 0);
  }
  assert_int_equal(n, 9);
  /* The app-only type: no browser sign-in, secret params sealed. */
  const wfc_conn_type_desc *app = fake_conn_type_at(1);
  assert_non_null(app);
  assert_string_equal(app->id, "o365mail_app");
  assert_int_equal(app->flow, WFC_FLOW_FORM);
  assert_null(app->authorize_begin);
  assert_non_null(app->authorize_complete);
  assert_non_null(app->refresh);
  assert_non_null(app->revoke);
  assert_non_null(app->test);
  for (n = 0; app->params[n].name; n++)
    assert_int_equal(app->params[n].flags & WFC_FIELD_SECRET,
                     strcmp(app->params[n].name, "client_secret") == 0 ||
                             strcmp(app->params[n].name, "private_key") == 0
                         ? WFC_FIELD_SECRET
                         : 0);
  assert_null(fake_conn_type_at(2));
  size_t cards = 0;
  while (o365_cards[cards])
    cards++;
  assert_true(cards >= 1);
  assert_int_equal(fake_registered_cards(), cards);
  int found = 0;
  for (size_t i = 0; i < cards; i++)
    found |= strcmp(fake_card(i)->id, "admin_consent_url") == 0;
  assert_true(found);
  fake_teardown();
}

static void test_short_table_refused(void **state) {
  (void)state;
  wfc_host_api small = *fake_api();
  small.size = offsetof(wfc_host_api, http_send);
  const wfc_plugin_desc *d = wfc_plugin_entry_v1();
  assert_int_equal(d->init(&small, NULL, NULL), WFC_EABI);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_descriptor),
      cmocka_unit_test(test_init_registers),
      cmocka_unit_test(test_short_table_refused),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
