/* flight.h - single flight per key inside this plugin instance.
 *
 * Two runs of Send Email with the same idempotency key in one process can
 * both look the key up in the mailbox before either has sent, and both
 * send. A flight serialises them: the first run (the leader) makes its
 * attempt, later runs with the key wait. When the leader succeeded (sent,
 * or found the message already sent), every waiter completes with a copy of
 * its output marked "deduplicated": true; when it failed, the first waiter
 * becomes the leader and makes its own attempt (which looks the key up
 * again, so a send whose answer was lost is found), the others keep
 * waiting. Runs with other keys never wait for each other.
 *
 * Not covered: two processes or hosts racing within the lookup window (the
 * mailbox lookup is then the only guard).
 *
 * Loop thread only (the plugin's hooks and callbacks all run there): no
 * lock. The table is a list: it holds one entry per key in the air. */
#ifndef O365_FLIGHT_H
#define O365_FLIGHT_H

#include <stddef.h>

#include <wfc/plugin.h>

struct json_object;

/* Starts call's attempt with arg. Owns arg whatever it returns (frees it
 * when it fails to start). 0 when started: the attempt then ends with
 * o365_flight_end after completing call. */
typedef int (*o365_flight_start_fn)(wfc_call *call, void *arg);
typedef void (*o365_flight_free_fn)(void *arg);

/* With no flight of key (copied) in the air, call leads: returns
 * start(call, arg). Otherwise call waits behind the leader (returns 0) and
 * later either completes with the leader's output (arg freed with
 * free_arg) or is started in its turn. arg is consumed in every case
 * (WFC_ENOMEM: freed, nothing started). */
int o365_flight_join(const char *key, wfc_call *call,
                     o365_flight_start_fn start, void *arg,
                     o365_flight_free_fn free_arg);

/* The leader call of key's flight has completed: out (borrowed) is its
 * output when it succeeded, NULL when it failed. Completes or starts the
 * waiters as above. No-op when call does not lead key's flight. */
void o365_flight_end(const char *key, wfc_call *call, struct json_object *out);

#endif
