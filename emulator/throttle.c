/* throttle.c - Graph (Outlook) throttling per app + mailbox: concurrent
 * requests and requests per fixed window of virtual time.
 *
 * State lives under the global lock: emu_throttle_enter() runs in handlers;
 * the release at the end of the request takes the lock itself.
 *
 *   GET  /__emulator/throttle  -> limits and current counters
 *   POST /__emulator/throttle  {"concurrency","requestsPerWindow",
 *                               "windowSeconds"}  (0 disables a limit)
 */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "core.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct bucket {
  char *key; /* lowercase "app|mailbox" */
  int inflight;
  int64_t window_start_ms;
  int count;
  uint64_t throttled;
} bucket;

typedef struct ticket {
  char *key;
  uint64_t generation;
} ticket;

static bucket *buckets;
static size_t nbuckets;
static uint64_t generation; /* bumped by reset: old tickets are ignored */

void emu__throttle_reset(void) {
  for (size_t i = 0; i < nbuckets; i++)
    free(buckets[i].key);
  free(buckets);
  buckets = NULL;
  nbuckets = 0;
  generation++;
}

static bucket *find(const char *key, int create) {
  for (size_t i = 0; i < nbuckets; i++)
    if (strcmp(buckets[i].key, key) == 0)
      return &buckets[i];
  if (!create)
    return NULL;
  bucket *grown = realloc(buckets, (nbuckets + 1) * sizeof *buckets);
  if (grown == NULL)
    return NULL;
  buckets = grown;
  bucket *b = &buckets[nbuckets];
  memset(b, 0, sizeof *b);
  b->key = strdup(key);
  if (b->key == NULL)
    return NULL;
  nbuckets++;
  return b;
}

static void throttled(emu_req *r, int retry_after, const char *msg) {
  char ra[16];
  snprintf(ra, sizeof ra, "%d", retry_after);
  emu_graph_error(r, 429, "ApplicationThrottled", "%s", msg);
  emu_resp_header(r, "Retry-After", ra);
}

int emu_throttle_enter(emu_req *r, const char *app, const char *mailbox) {
  if (r->throttle_ticket)
    return 0;
  emu_tenant *t = emu_tenant_get();
  char *key =
      emu_strdup_printf("%s|%s", app ? app : "", mailbox ? mailbox : "");
  if (key == NULL)
    return 0; /* out of memory: do not throttle rather than fail */
  for (char *p = key; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  bucket *b = find(key, 1);
  if (b == NULL) {
    free(key);
    return 0;
  }
  int64_t now = emu_now_ms();
  int64_t win = (int64_t)t->throttle.window_seconds * 1000;
  if (b->window_start_ms == 0 || now >= b->window_start_ms + win) {
    b->window_start_ms = now;
    b->count = 0;
  }
  if (t->throttle.concurrency > 0 && b->inflight >= t->throttle.concurrency) {
    b->throttled++;
    free(key);
    throttled(r, 1, "Application is over its MailboxConcurrency limit.");
    return -1;
  }
  if (t->throttle.window_requests > 0 &&
      b->count >= t->throttle.window_requests) {
    int64_t left = b->window_start_ms + win - now;
    int ra = (int)((left + 999) / 1000);
    b->throttled++;
    free(key);
    throttled(r, ra < 1 ? 1 : ra,
              "Application is over its MailboxRequests limit.");
    return -1;
  }
  ticket *tk = malloc(sizeof *tk);
  if (tk == NULL) {
    free(key);
    return 0;
  }
  b->count++;
  b->inflight++;
  tk->key = key;
  tk->generation = generation;
  r->throttle_ticket = tk;
  return 0;
}

/* Called when the request ends (response sent or connection gone), without
 * the lock; or when a sub-request ($batch) ends, inside its parent's
 * handler, with it. */
void emu__throttle_release(emu_req *r) {
  ticket *tk = r->throttle_ticket;
  int locked = emu__lock_held();
  r->throttle_ticket = NULL;
  if (!locked)
    emu_lock();
  if (tk->generation == generation) {
    bucket *b = find(tk->key, 0);
    if (b && b->inflight > 0)
      b->inflight--;
  }
  if (!locked)
    emu_unlock();
  free(tk->key);
  free(tk);
}

static json_object *state_json(void) {
  emu_tenant *t = emu_tenant_get();
  json_object *o = json_object_new_object();
  json_object_object_add(o, "concurrency",
                         json_object_new_int(t->throttle.concurrency));
  json_object_object_add(o, "requestsPerWindow",
                         json_object_new_int(t->throttle.window_requests));
  json_object_object_add(o, "windowSeconds",
                         json_object_new_int(t->throttle.window_seconds));
  json_object *arr = json_object_new_array();
  for (size_t i = 0; i < nbuckets; i++) {
    json_object *b = json_object_new_object();
    const char *bar = strchr(buckets[i].key, '|');
    json_object_object_add(b, "app",
                           json_object_new_string_len(
                               buckets[i].key, (int)(bar - buckets[i].key)));
    json_object_object_add(b, "mailbox", json_object_new_string(bar + 1));
    json_object_object_add(b, "inflight",
                           json_object_new_int(buckets[i].inflight));
    json_object_object_add(b, "windowCount",
                           json_object_new_int(buckets[i].count));
    json_object_object_add(
        b, "throttled", json_object_new_int64((int64_t)buckets[i].throttled));
    json_object_array_add(arr, b);
  }
  json_object_object_add(o, "buckets", arr);
  return o;
}

static void h_get(emu_req *r) {
  emu_resp_json(r, 200, state_json());
}

static int opt_limit(json_object *o, const char *k, int min, int *out) {
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v))
    return 0;
  if (!json_object_is_type(v, json_type_int))
    return -1;
  int64_t x = json_object_get_int64(v);
  if (x < min || x > 100000000)
    return -1;
  *out = (int)x;
  return 0;
}

static void h_set(emu_req *r) {
  json_object *b = emu_req_json(r);
  emu_throttle_cfg c = emu_tenant_get()->throttle;
  if (b == NULL || !json_object_is_type(b, json_type_object) ||
      opt_limit(b, "concurrency", 0, &c.concurrency) ||
      opt_limit(b, "requestsPerWindow", 0, &c.window_requests) ||
      opt_limit(b, "windowSeconds", 1, &c.window_seconds)) {
    emu_graph_error(r, 400, "BadRequest",
                    "Body must be {\"concurrency\",\"requestsPerWindow\","
                    "\"windowSeconds\"} with integers (0 disables a limit; "
                    "windowSeconds >= 1).");
    return;
  }
  emu_tenant_get()->throttle = c;
  emu_resp_json(r, 200, state_json());
}

int emu__throttle_init(void) {
  return emu_route_add("GET", "/__emulator/throttle", h_get, 0) ||
                 emu_route_add("POST", "/__emulator/throttle", h_set, 0)
             ? -1
             : 0;
}

EMU_MODULE(core_throttle, emu__throttle_init)
