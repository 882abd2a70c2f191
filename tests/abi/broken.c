/* broken.c - deliberately broken plugins, one per BROKEN_* kind (see
 * CMakeLists.txt); tests/abi/test_loader.c asserts each refusal message,
 * tests/abi/check_plugin_check.sh what `wfc plugin check` says of them. */
#include <signal.h>
#include <string.h>

#include "wfc/plugin.h"

static const wfc_host_api *api;

#if defined(BROKEN_INITTIMER)
static void late(void *arg) {
  (void)arg;
  api->log(3, "the timer of a plugin whose init failed ran");
}
#endif

static int invoke(wfc_call *call) {
  api->call_done(call, NULL);
  return 0;
}

#if defined(BROKEN_BADSCHEMA)
static const wfc_field bad_schema[] = {
    {.name = "recipients", .type = WFC_TYPE_LIST}, /* LIST without items */
    {0}};
#endif

__attribute__((unused)) static int init(const wfc_host_api *host,
                                        wfc_registrar *reg, wfc_error *err) {
  api = host;
  wfc_card_desc card = {"ok", "Ok", "A fine card", WFC_CARD_ACTION,
                        NULL, NULL, NULL,          invoke};
#if defined(BROKEN_INITTIMER)
  /* Fails after starting a timer: the host must keep the code mapped until
   * the timer has fired. */
  host->timer_start(1, late, NULL, NULL);
  host->error_set(err, WFC_EIO, "gave up after starting a timer");
  return WFC_EIO;
#elif defined(BROKEN_CRASH)
  /* Its own code crashes: no file check can see that coming; only `wfc
   * plugin inspect --isolated` survives it. */
  (void)card;
  (void)err;
  raise(SIGSEGV);
  return WFC_EIO;
#elif defined(BROKEN_INIT)
  host->error_set(err, WFC_EINVAL, "missing setting %s", "BROKEN_TENANT");
  return WFC_EINVAL;
#elif defined(BROKEN_NULLHOOK)
  card.invoke = NULL;
#elif defined(BROKEN_BADSCHEMA)
  card.inputs = bad_schema;
#elif defined(BROKEN_BADID)
  card.id = "Send-Mail";
#elif defined(BROKEN_OVERSIZED)
  struct {
    wfc_card_desc d;
    void *extra;
  } big = {card, (void *)&card};
  return host->register_card(reg, &big.d, sizeof big);
#elif defined(BROKEN_NOCONNTYPE)
  card.conn_type = "nowhere";
#elif defined(BROKEN_BADFLOW) || defined(BROKEN_NONESECRET) ||                 \
    defined(BROKEN_NOBEGIN)
  /* Connection types whose flow (ABI 1.4) does not fit: an unknown one; a
   * none flow declaring a secret nobody would ask for; a browser flow
   * without the authorize_begin that makes its URL. */
  static const wfc_field secret_param[] = {
      {.name = "api_key", .type = WFC_TYPE_STRING, .flags = WFC_FIELD_SECRET},
      {0}};
  wfc_conn_type_desc ct = {.id = "flowy",
                           .name = "Flowy",
                           .authorize_begin = invoke,
                           .authorize_complete = invoke,
                           .refresh = invoke,
                           .revoke = invoke};
#if defined(BROKEN_BADFLOW)
  ct.flow = (wfc_conn_flow)7;
  (void)secret_param;
#elif defined(BROKEN_NONESECRET)
  ct.flow = WFC_FLOW_NONE;
  ct.params = secret_param;
#else
  ct.authorize_begin = NULL;
  (void)secret_param;
#endif
  host->register_conn_type(reg, &ct, sizeof ct);
#endif
  (void)err;
  int rc = host->register_card(reg, &card, sizeof card);
#if defined(BROKEN_DUPCARD)
  if (rc == 0)
    rc = host->register_card(reg, &card, sizeof card);
#endif
  /* A sloppy plugin ignoring the error: the loader must refuse anyway. */
  (void)rc;
  return 0;
}

#if defined(BROKEN_EXPORTS)
/* Loads fine, but exports a second symbol (built with default visibility
 * for it): `wfc plugin check` flags it. */
__attribute__((visibility("default"))) int broken_helper(void);
int broken_helper(void) {
  return 7;
}
#endif

#if defined(BROKEN_HOSTSYM)
#include "wfc/error.h"
/* Loads fine (linked with libwfc), but calls a host symbol instead of the
 * services table: `wfc plugin check` flags it. */
const char *broken_host_call(void);
const char *broken_host_call(void) {
  return wfc_strerror(WFC_EIO);
}
#endif

#if defined(BROKEN_GLOBAL)
#include <locale.h>
/* Loads fine, but changes the process's locale, which is the host's:
 * `wfc plugin check` flags it. */
const char *broken_set_locale(void);
const char *broken_set_locale(void) {
  return setlocale(LC_ALL, "C");
}
#endif

#if defined(BROKEN_NOENTRY)
/* Exports nothing the host knows. */
__attribute__((visibility("default"))) int not_a_plugin_entry(void);
int not_a_plugin_entry(void) {
  return 42;
}
#else
WFC_PLUGIN_EXPORT const wfc_plugin_desc *wfc_plugin_entry_v1(void);
const wfc_plugin_desc *wfc_plugin_entry_v1(void) {
  static const wfc_plugin_desc desc = {
#if defined(BROKEN_MAGIC)
    0xdeadbeefu,
#else
    WFC_PLUGIN_MAGIC,
#endif
#if defined(BROKEN_MAJOR)
    WFC_ABI_MAJOR + 1,
#else
    WFC_ABI_MAJOR,
#endif
#if defined(BROKEN_MINOR)
    WFC_ABI_MINOR + 1,
#else
    WFC_ABI_MINOR,
#endif
#if defined(BROKEN_SIZE)
    16,
#else
    sizeof(wfc_plugin_desc),
#endif
    "broken",
    "0.0.1",
#if defined(BROKEN_FINGERPRINT)
    "ptr8-size8-long8-uv0-curl0-jsonc0-ossl0-asan0",
#else
    WFC_ABI_FINGERPRINT,
#endif
    "A broken plugin",
    init,
    NULL
  };
#if defined(BROKEN_NULLDESC)
  /* Touch desc so the compiler keeps quiet about it. */
  return desc.magic == 0 ? &desc : NULL;
#else
  return &desc;
#endif
}
#endif
