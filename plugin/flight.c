/* flight.c - see flight.h. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "flight.h"

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "entry.h"
#include "util.h"

typedef struct waiter {
  struct waiter *next;
  wfc_call *call; /* host-owned, valid until completed */
  void *arg;      /* owned until started or freed */
} waiter;

typedef struct flight {
  struct flight *next;
  char *key;
  wfc_call *leader;
  o365_flight_start_fn start;
  o365_flight_free_fn free_arg;
  waiter *head, **tail; /* in arrival order */
} flight;

static flight *flights; /* per plugin instance; loop thread only */

static flight **find(const char *key) {
  flight **p = &flights;
  while (*p != NULL && strcmp((*p)->key, key) != 0)
    p = &(*p)->next;
  return p;
}

static void flight_remove(flight *f) {
  flight **p = &flights;
  while (*p != f)
    p = &(*p)->next;
  *p = f->next;
  free(f->key);
  free(f);
}

int o365_flight_join(const char *key, wfc_call *call,
                     o365_flight_start_fn start, void *arg,
                     o365_flight_free_fn free_arg) {
  flight *f = *find(key);
  if (f != NULL) {
    waiter *w = calloc(1, sizeof *w);
    if (w == NULL) {
      if (free_arg != NULL)
        free_arg(arg);
      return WFC_ENOMEM;
    }
    w->call = call;
    w->arg = arg;
    *f->tail = w;
    f->tail = &w->next;
    return 0;
  }
  f = calloc(1, sizeof *f);
  if (f == NULL || (f->key = strdup(key)) == NULL) {
    free(f);
    if (free_arg != NULL)
      free_arg(arg);
    return WFC_ENOMEM;
  }
  f->leader = call;
  f->start = start;
  f->free_arg = free_arg;
  f->tail = &f->head;
  f->next = flights;
  flights = f;
  /* Nobody can join while start runs (one thread), so a failed start
   * leaves no waiter behind. */
  int rc = start(call, arg);
  if (rc != 0)
    flight_remove(f);
  return rc;
}

/* The leader's output for a waiter: a copy marked deduplicated (this run
 * sent nothing). */
static struct json_object *waiter_out(struct json_object *out) {
  struct json_object *o = NULL;
  if (json_object_deep_copy(out, &o, NULL) != 0 || o == NULL)
    return NULL;
  O365_JSON_ADD(o, "deduplicated", json_object_new_boolean(1));
  return o;
}

void o365_flight_end(const char *key, wfc_call *call, struct json_object *out) {
  flight *f = *find(key);
  if (f == NULL || f->leader != call)
    return;
  if (out != NULL) {
    for (waiter *w = f->head, *next; w != NULL; w = next) {
      next = w->next;
      struct json_object *o = waiter_out(out);
      if (o != NULL)
        o365_api->call_done(w->call, o);
      else
        o365_api->call_fail(w->call, WFC_ENOMEM, NULL,
                            "out of memory copying the first run's outcome");
      if (f->free_arg != NULL)
        f->free_arg(w->arg);
      free(w);
    }
    flight_remove(f);
    return;
  }
  /* The leader failed: the next waiter makes its own attempt. */
  while (f->head != NULL) {
    waiter *w = f->head;
    f->head = w->next;
    if (f->head == NULL)
      f->tail = &f->head;
    f->leader = w->call;
    int rc = f->start(w->call, w->arg);
    free(w);
    if (rc == 0)
      return;
    o365_api->call_fail(f->leader, rc, NULL,
                        "the attempt could not start after an earlier run "
                        "with the same key failed");
  }
  flight_remove(f);
}
