/* claim.c - idempotency claims before the marker check (claim.h). */
#include "claim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "entry.h"
#include "setting.h"
#include "util.h"

/* The setting claim_ttl_ms (O365MAIL_CLAIM_TTL_MS), 1..3600000. */
static uint32_t claim_ttl_ms(void) {
  char *v = o365_setting("claim_ttl_ms");
  char *end = NULL;
  unsigned long n = v != NULL ? strtoul(v, &end, 10) : 0;
  int ok = v != NULL && *end == '\0' && n > 0 && n <= 3600000ul;
  o365_setting_free(v);
  return ok ? (uint32_t)n : 300000u;
}

typedef struct pending {
  o365_claim_cb cb;
  void *arg;
  int what;
  struct json_object *recorded; /* owned */
  int64_t until_ms;
} pending;

static void on_next(void *arg) {
  pending *p = arg;
  p->cb(p->arg, p->what, p->recorded, p->until_ms);
  json_object_put(p->recorded);
  free(p);
}

int o365_claim_begin(wfc_call *call, const char *imid, o365_claim *c,
                     o365_claim_cb cb, void *arg) {
  pending *p = calloc(1, sizeof *p);
  wfc_conn *conn = o365_api->call_conn(call);
  struct json_object *info = conn ? o365_api->conn_info(conn) : NULL;
  const char *who = o365_json_str(info, "account");
  wfc_claim got = {0};
  int rc;

  if (p == NULL)
    return WFC_ENOMEM;
  p->cb = cb;
  p->arg = arg;
  p->what = O365_CLAIM_GO;
  memset(c, 0, sizeof *c);
  /* Per account, like the in-process flight: the same key on another
   * account's mailbox is another message. */
  if (who == NULL || *who == '\0')
    who = o365_json_str(info, "id");
  snprintf(c->key, sizeof c->key, "o365mail\n%s\n%s", who ? who : "", imid);
  if (!WFC_API_HAS(o365_api, claim_release))
    rc = WFC_ENOTSUP; /* an ABI 1.2 host: the marker check alone */
  else
    rc = o365_api->claim(call, c->key, claim_ttl_ms(), &got);
  if (rc == 0 && got.state == WFC_CLAIM_MINE) {
    c->mine = 1;
  } else if (rc == 0 && got.state == WFC_CLAIM_SENT) {
    p->what = O365_CLAIM_SENT;
    p->recorded = got.outcome;
  } else if (rc == 0 && got.state == WFC_CLAIM_HELD) {
    p->what = O365_CLAIM_HELD;
    p->until_ms = got.until_ms;
  } else if (rc != WFC_ENOTSUP) {
    /* The store failed or refused the key's row (changed outside the
     * host): nothing from it is trusted, and the marker check decides. */
    o365_api->log(1,
                  "idempotency claim unavailable (error %d, the host's log "
                  "says why): checking the mailbox only",
                  rc);
    c->unclaimed = 1;
  }
  if ((rc = o365_api->timer_start(0, on_next, p, NULL)) != 0) {
    json_object_put(p->recorded);
    free(p);
    if (c->mine)
      (void)o365_api->claim_release(call, c->key, 1);
    c->mine = 0;
    return rc;
  }
  return 0;
}

/* A run that went on without its claim (the store failed it) and
 * succeeded: 1 when the key is now claimed, or held by another run, so
 * that claim_sent may record the outcome (it ends whoever's claim: the
 * send happened); 0 when an outcome is recorded already or the store
 * still fails (the next claimant's marker check records it then). */
static int claim_late(wfc_call *call, o365_claim *c) {
  wfc_claim got = {0};
  int rc = o365_api->claim(call, c->key, claim_ttl_ms(), &got);
  if (rc != 0)
    return 0;
  json_object_put(got.outcome);
  return got.state == WFC_CLAIM_MINE || got.state == WFC_CLAIM_HELD;
}

void o365_claim_end(wfc_call *call, o365_claim *c, struct json_object *out) {
  int late = c->unclaimed && out != NULL;
  c->unclaimed = 0;
  if (!c->mine && !late)
    return;
  c->mine = 0;
  if (out != NULL) {
    if (late && !claim_late(call, c))
      return;
    /* What later runs report: the output without this run's own flag. */
    struct json_object *rec = NULL;
    if (json_object_deep_copy(out, &rec, NULL) == 0 && rec != NULL) {
      json_object_object_del(rec, "deduplicated");
      (void)o365_api->claim_sent(call, c->key, rec);
    }
    json_object_put(rec);
    return;
  }
  (void)o365_api->claim_release(call, c->key, !c->maybe_sent);
}
