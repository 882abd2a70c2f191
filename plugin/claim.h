/* claim.h - the host's idempotency claims (ABI 1.3, wfc_host_api.claim;
 * docs/fleet.md, "Idempotency claims") in front of the mailbox marker
 * check of a keyed send (sent.h).
 *
 * The marker check alone cannot stop two hosts that look at the mailbox
 * before either has sent. A claim in the host's store (shared by every
 * host of a fleet) lets one run at a time go on to the marker check and
 * the send; the others learn the recorded outcome (reported deduplicated)
 * or that another run is sending now (WFC_EBUSY, with until when). The
 * marker check stays the second line of defence: it runs after every
 * claim (a claim taken over from a holder that may have sent needs it),
 * and it alone guards a host without a store or an older one (the claim
 * then answers WFC_ENOTSUP and the run goes on as before).
 *
 * The claim lasts O365MAIL_CLAIM_TTL_MS milliseconds (default 300000;
 * longer than a send with its confirmation window); a run killed while
 * holding it blocks runs on other hosts for at most that long, runs on
 * its own node not at all (the host sees that its process is gone).
 *
 * Loop thread only; strings copied, JSON borrowed unless said. */
#ifndef O365_CLAIM_H
#define O365_CLAIM_H

#include <stdint.h>

#include <wfc/plugin.h>

struct json_object;

typedef struct o365_claim {
  char key[600];  /* "o365mail\n<account or connection id>\n<marker>" */
  int mine;       /* this run holds the claim: end it with o365_claim_end */
  int unclaimed;  /* the store failed the claim: the marker check alone */
  int maybe_sent; /* set by the card once the send request went out */
} o365_claim;

enum {
  O365_CLAIM_GO = 1, /* claimed, or claims unavailable: do the marker check */
  O365_CLAIM_SENT,   /* recorded outcome: recorded (borrowed during cb) */
  O365_CLAIM_HELD,   /* another run is sending now, until until_ms */
};

typedef void (*o365_claim_cb)(void *arg, int what, struct json_object *recorded,
                              int64_t until_ms);

/* Claims imid's send for call into *c (owned by the caller, alive until
 * o365_claim_end); cb runs once, on a later loop iteration. Returns 0, or
 * WFC_ENOMEM (cb never runs). */
int o365_claim_begin(wfc_call *call, const char *imid, o365_claim *c,
                     o365_claim_cb cb, void *arg);

/* The run ended: out (borrowed) its output when it succeeded (recorded as
 * the outcome every later claim gets), NULL when it failed (the claim is
 * released; the key forgotten unless c->maybe_sent). No-op unless c->mine,
 * or c->unclaimed with an output: a run that went on by the marker check
 * alone because the store failed its claim (a database restarting) and
 * sent, or found its message sent before, claims the key now and records
 * the outcome if the store answers, so that later runs learn it without
 * the mailbox. */
void o365_claim_end(wfc_call *call, o365_claim *c, struct json_object *out);

#endif
