/* sent.h - a send identified by a Message-ID marker: finding its copy in
 * the mailbox, removing the drafts earlier runs with the marker left
 * (o365_sent_check), and settling a send whose outcome is unknown.
 *
 * A card with an idempotency key gives the message a Message-ID derived
 * from the key (internetMessageId). Graph keeps it on the copy it saves in
 * Sent Items, so the mailbox itself records whether that send went out:
 * o365_sent_find asks for a message with that internetMessageId that is
 * not a draft.
 *
 * When the send request itself ends without saying whether Graph carried
 * it out (o365_graph_res.outcome_unknown: the connection broke or timed
 * out after the request was sent, or a gateway answered 502/504; the HTTP
 * engine never resends it), o365_sent_settle looks for the copy again,
 * allowing for Graph to save it a moment after accepting the send (sendMail
 * answers 202 and files the copy asynchronously): at once, then after
 * waits of 250 ms doubling, until the copy shows or the confirmation window
 * is spent (O365MAIL_SEND_CONFIRM_MS milliseconds, default 15000, 0 = one
 * look). Found: the message went out, and the call completes as sent (not
 * deduplicated: this run sent it). Not found: the call fails with the
 * outcome still unknown and says so; it never claims a send it cannot see,
 * and it never sends again by itself: an absent copy after the window does
 * not prove that Graph did not take the message (it may file the copy
 * later), and a second send would then be a duplicate. A later run with the
 * same key looks again first, so it sends only when the copy is still
 * absent then.
 *
 * Everything here runs on the loop; strings are copied, JSON borrowed
 * unless said otherwise. */
#ifndef O365_SENT_H
#define O365_SENT_H

#include <stdint.h>

#include <wfc/plugin.h>

#include "graph.h"

struct json_object;

/* Result of a look-up: failed (borrowed) is the lookup's error when it
 * failed (failed->error != 0; msg NULL); else msg (borrowed) is the first
 * message with the marker that is not a draft ({"id","isDraft","subject",
 * "webLink"} as Graph gives them), or NULL when there is none. */
typedef void (*o365_sent_found_fn)(void *arg, const o365_graph_res *failed,
                                   struct json_object *msg);

/* Looks for imid (copied) in call's mailbox (the card input's "mailbox");
 * with window_ms > 0, looks again after waits (250 ms, doubling) while
 * nothing is found, until window_ms have passed since the first look. cb
 * runs exactly once, later; a cancel of the call during a wait makes it
 * run with failed->error WFC_ECANCELED. Returns 0, or an error (cb then
 * never runs). */
int o365_sent_find(wfc_call *call, const char *imid, uint32_t window_ms,
                   o365_sent_found_fn cb, void *arg);

/* A keyed send's first look, which also clears what earlier runs with the
 * key left behind. One GET of every message with the marker imid (copied)
 * in call's mailbox, drafts included; then each draft with the marker (an
 * interrupted or failed run's: never sent, and never to be sent by that
 * run again) is deleted with If-Match: its entity tag as the look saw it,
 * so a draft that changed since is not deleted (412): another run with the
 * key is attaching to it or sending it right now. Such a run whose draft
 * was deleted before its send fails at /send with 404 and reports nothing
 * sent; a send Graph already took is found by its marker.
 * cb runs exactly once, later:
 *   - failed NULL, msg the message with the marker that is not a draft (it
 *     was sent: the run reports it deduplicated), or msg NULL: not sent,
 *     and the earlier drafts are gone (the run sends);
 *   - failed->error WFC_EBUSY (failed->message says it in words, naming the
 *     draft): a draft had changed since the look, and a second look finds
 *     no sent message: another run is sending it now, and this one must
 *     not send too;
 *   - else failed is the look-up's error (a cancel: WFC_ECANCELED).
 * A draft that cannot be deleted for another reason (Graph refuses, keeps
 * failing) is left and logged: the send goes on; a later run with the key
 * tries again. Returns 0, or an error (cb then never runs). */
int o365_sent_check(wfc_call *call, const char *imid, o365_sent_found_fn cb,
                    void *arg);

/* The confirmation window: O365MAIL_SEND_CONFIRM_MS (0..600000), default
 * 15000. */
uint32_t o365_sent_confirm_ms(void);

/* Called once the call has been completed: out (borrowed) is its output
 * when it succeeded, NULL when it failed. */
typedef void (*o365_sent_end_fn)(void *arg, wfc_call *call,
                                 struct json_object *out);

/* The send request of call failed with failed->outcome_unknown (borrowed
 * during the call). imid: the send's marker, or NULL when the run has no
 * idempotency key (the call then fails at once, advising a key). out
 * (borrowed; may be NULL) is the output built so far (o365_msg_sent_fields:
 * attachments, ...). Completes call in every case (at once when imid is
 * NULL or the look-up cannot start): found within o365_sent_confirm_ms(),
 * with a copy of out
 * plus "sent": true and the copy's "id", "internet_message_id", "subject",
 * "web_link"; else with failed's error, detail "outcome": "unknown", and a
 * message saying what was looked for and what a rerun with the same key
 * does. what: "sending the message failed". Then on_end(arg, call, out or
 * NULL), when on_end is not NULL. */
void o365_sent_settle(wfc_call *call, const char *imid,
                      const o365_graph_res *failed, const char *what,
                      struct json_object *out, o365_sent_end_fn on_end,
                      void *arg);

#endif
