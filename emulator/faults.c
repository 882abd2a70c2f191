/* faults.c - fault injection: the next N requests matching a method and a
 * path (prefix, or glob when it has * ? [) get a status, a delay, a
 * connection reset, a truncated or a malformed body; or, with a
 * probability, a reproducible random share of them (seeded per rule), in
 * bursts when asked.
 *
 *   POST   /__emulator/faults   {"method","path","count","skip","action",
 *                                "status","retryAfter","code","delayMs",
 *                                "afterHandler","probability","seed",
 *                                "burst"}  -> 201 {"id",...}
 *   GET    /__emulator/faults   -> {"value":[...]}
 *   DELETE /__emulator/faults   -> 204 (all)
 *   DELETE /__emulator/faults/{id}
 *
 * Taken in server.c when the request's headers are in, without the global
 * lock, hence the list's own mutex. Admin paths are exempt, except
 * /__emulator/debug/. */
#define _XOPEN_SOURCE 700 /* strdup, strptime */
#include "core.h"

#include <fnmatch.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct fault {
  char id[37];
  char method[16];
  char *path;
  int glob;
  int remaining; /* requests still to hit; -1: no limit */
  int skip;      /* matching requests to let through first */
  int hits;
  /* Random rules: each matching request (after skip) draws from the rule's
   * own generator, so a seeded rule decides the same way for the same
   * sequence of requests. probability 1 draws nothing (every one hits). */
  double probability;
  uint64_t seed, rng;
  int burst;      /* requests a draw that hits covers (a storm) */
  int burst_left; /* of the current burst, still to hit without a draw */
  emu_fault_hit hit;
} fault;

static pthread_mutex_t faults_mu = PTHREAD_MUTEX_INITIALIZER;
static fault *faults;
static size_t nfaults;

static void fault_remove(size_t i) {
  free(faults[i].path);
  memmove(&faults[i], &faults[i + 1], (nfaults - i - 1) * sizeof *faults);
  nfaults--;
}

void emu__faults_clear(void) {
  pthread_mutex_lock(&faults_mu);
  while (nfaults > 0)
    fault_remove(nfaults - 1);
  free(faults);
  faults = NULL;
  pthread_mutex_unlock(&faults_mu);
}

static int fault_matches(const fault *f, const emu_req *r) {
  if (strcmp(f->method, "*") != 0 && strcmp(f->method, r->method) != 0)
    return 0;
  if (f->glob)
    return fnmatch(f->path, r->path, 0) == 0;
  return strncmp(r->path, f->path, strlen(f->path)) == 0;
}

/* The rule's next draw in [0, 1) (splitmix64, the generator util.c uses
 * under --seed). */
static double fault_draw(fault *f) {
  uint64_t z = (f->rng += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) / 9007199254740992.0; /* 2^53 */
}

/* Does matching request hit f? A burst in progress hits without drawing;
 * otherwise the draw decides, and a hit starts a burst of f->burst. */
static int fault_fires(fault *f) {
  if (f->burst_left > 0) {
    f->burst_left--;
    return 1;
  }
  if (f->probability < 1.0 && fault_draw(f) >= f->probability)
    return 0;
  f->burst_left = f->burst - 1;
  return 1;
}

void emu__fault_take(emu_req *r) {
  pthread_mutex_lock(&faults_mu);
  /* First registered, first served; a random rule that does not fire lets
   * the request on to the next rule. */
  for (size_t i = 0; i < nfaults; i++) {
    fault *f = &faults[i];
    if (!fault_matches(f, r))
      continue;
    if (f->skip > 0) {
      f->skip--;
      continue;
    }
    if (!fault_fires(f))
      continue;
    r->fault = f->hit;
    f->hits++;
    if (f->remaining > 0 && --f->remaining == 0)
      fault_remove(i);
    break;
  }
  pthread_mutex_unlock(&faults_mu);
}

static const char *kind_name(enum emu_fault_kind k) {
  switch (k) {
  case EMU_FAULT_STATUS:
    return "status";
  case EMU_FAULT_RESET:
    return "reset";
  case EMU_FAULT_TRUNCATE:
    return "truncate";
  case EMU_FAULT_MALFORMED:
    return "malformed";
  case EMU_FAULT_DELAY:
    return "delay";
  case EMU_FAULT_NEXTLINK:
    return "nextLink";
  default:
    return "none";
  }
}

static json_object *fault_json(const fault *f) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "id", json_object_new_string(f->id));
  json_object_object_add(o, "method", json_object_new_string(f->method));
  json_object_object_add(o, "path", json_object_new_string(f->path));
  json_object_object_add(o, "action",
                         json_object_new_string(kind_name(f->hit.kind)));
  /* No limit: "remaining" is null. */
  json_object_object_add(o, "remaining",
                         f->remaining < 0 ? NULL
                                          : json_object_new_int(f->remaining));
  json_object_object_add(o, "skip", json_object_new_int(f->skip));
  json_object_object_add(o, "hits", json_object_new_int(f->hits));
  if (f->probability < 1.0 || f->burst > 1) {
    json_object_object_add(o, "probability",
                           json_object_new_double(f->probability));
    json_object_object_add(o, "seed", json_object_new_int64((int64_t)f->seed));
    json_object_object_add(o, "burst", json_object_new_int(f->burst));
  }
  if (f->hit.kind == EMU_FAULT_STATUS) {
    json_object_object_add(o, "status", json_object_new_int(f->hit.status));
    if (f->hit.code[0])
      json_object_object_add(o, "code", json_object_new_string(f->hit.code));
    if (f->hit.retry_after_date[0])
      json_object_object_add(o, "retryAfter",
                             json_object_new_string(f->hit.retry_after_date));
    else if (f->hit.retry_after >= 0)
      json_object_object_add(o, "retryAfter",
                             json_object_new_int(f->hit.retry_after));
  }
  if (f->hit.delay_ms > 0)
    json_object_object_add(o, "delayMs", json_object_new_int(f->hit.delay_ms));
  if (f->hit.after_handler)
    json_object_object_add(o, "afterHandler", json_object_new_boolean(1));
  return o;
}

const char *emu__fault_default_code(int status, int identity) {
  if (identity)
    return status == 500                    ? "server_error"
           : status >= 500 || status == 429 ? "temporarily_unavailable"
                                            : "invalid_request";
  switch (status) {
  case 429: /* what Outlook's throttling answers on Graph mail */
    return "ApplicationThrottled";
  case 503:
    return "ServiceUnavailable";
  case 504:
    return "GatewayTimeout";
  case 500:
    return "InternalServerError";
  case 502:
    return "BadGateway";
  case 401:
    return "InvalidAuthenticationToken";
  case 403:
    return "ErrorAccessDenied";
  case 404:
    return "ErrorItemNotFound";
  default:
    return "UnknownError";
  }
}

const char *emu__fault_default_message(int status) {
  /* Graph mail's words where they are known (graph-protocol.md B.1: the
   * 429 of Outlook's throttling); else say it is injected. */
  return status == 429 ? "Application is over its MailboxConcurrency limit."
                       : NULL;
}

/* Reads an optional integer field in [min,max]; -1 on a wrong type/range. */
static int opt_int(json_object *o, const char *k, int dflt, int min, int max,
                   int *out) {
  json_object *v;
  *out = dflt;
  if (!json_object_object_get_ex(o, k, &v))
    return 0;
  if (!json_object_is_type(v, json_type_int))
    return -1;
  int64_t x = json_object_get_int64(v);
  if (x < min || x > max)
    return -1;
  *out = (int)x;
  return 0;
}

/* The optional "probability": a number in (0, 1]; 1 when absent. -1 on a
 * wrong type or range. */
static int opt_probability(json_object *o, double *out) {
  json_object *v;
  *out = 1.0;
  if (!json_object_object_get_ex(o, "probability", &v))
    return 0;
  if (!json_object_is_type(v, json_type_double) &&
      !json_object_is_type(v, json_type_int))
    return -1;
  double p = json_object_get_double(v);
  if (!isfinite(p) || p <= 0.0 || p > 1.0)
    return -1;
  *out = p;
  return 0;
}

static const char *opt_str(json_object *o, const char *k) {
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v) ||
      !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

static void h_add(emu_req *r) {
  json_object *b = emu_req_json(r), *v;
  if (b == NULL || !json_object_is_type(b, json_type_object)) {
    emu_graph_error(r, 400, "BadRequest", "Body must be a JSON object.");
    return;
  }
  fault f;
  memset(&f, 0, sizeof f);
  f.hit.retry_after = -1;
  const char *method = opt_str(b, "method");
  const char *path = opt_str(b, "path");
  const char *action = opt_str(b, "action");
  const char *code = opt_str(b, "code");
  if (method == NULL)
    method = "*";
  if (path == NULL || path[0] != '/') {
    emu_graph_error(r, 400, "BadRequest",
                    "path is required and starts with '/' (prefix, or a glob "
                    "with * ? [).");
    return;
  }
  if (strlen(method) >= sizeof f.method || strpbrk(method, " \r\n")) {
    emu_graph_error(r, 400, "BadRequest", "method is invalid.");
    return;
  }
  if (opt_probability(b, &f.probability) != 0) {
    emu_graph_error(r, 400, "BadRequest",
                    "probability must be a number greater than 0 and at "
                    "most 1.");
    return;
  }
  /* retryAfter as a string: an HTTP-date (IMF-fixdate), sent as it is. */
  if (json_object_object_get_ex(b, "retryAfter", &v) &&
      json_object_is_type(v, json_type_string)) {
    const char *d = json_object_get_string(v);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(d, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    if (end == NULL || *end != '\0' ||
        strlen(d) >= sizeof f.hit.retry_after_date) {
      emu_graph_error(r, 400, "BadRequest",
                      "retryAfter is a number of seconds or an HTTP-date "
                      "(\"Sun, 06 Nov 1994 08:49:37 GMT\").");
      return;
    }
    snprintf(f.hit.retry_after_date, sizeof f.hit.retry_after_date, "%s", d);
    json_object_object_del(b, "retryAfter");
  }
  int random_rule = json_object_object_get_ex(b, "probability", NULL);
  int seed = 0;
  /* A random rule hits until it is removed unless count says otherwise. */
  if (opt_int(b, "count", random_rule ? -1 : 1, 1, 1000000, &f.remaining) ||
      opt_int(b, "skip", 0, 0, 1000000, &f.skip) ||
      opt_int(b, "status", 0, 0, 599, &f.hit.status) ||
      opt_int(b, "retryAfter", -1, 0, 86400, &f.hit.retry_after) ||
      opt_int(b, "delayMs", 0, 0, 600000, &f.hit.delay_ms) ||
      opt_int(b, "burst", 1, 1, 1000000, &f.burst) ||
      opt_int(b, "seed", -1, 0, INT32_MAX, &seed)) {
    emu_graph_error(r, 400, "BadRequest",
                    "count (>=1), skip, status (100-599), retryAfter "
                    "(seconds), delayMs, burst (>=1) and seed (0 to "
                    "2147483647) must be integers in range.");
    return;
  }
  if (seed >= 0) {
    f.seed = (uint64_t)seed;
  } else {
    uint32_t s32;
    emu_random_bytes(&s32, sizeof s32);
    f.seed = s32 & 0x7fffffffu; /* reported, so a run can be replayed */
  }
  f.rng = f.seed;
  if (json_object_object_get_ex(b, "afterHandler", &v))
    f.hit.after_handler = json_object_get_boolean(v);
  if (action == NULL)
    action = f.hit.status ? "status" : f.hit.delay_ms ? "delay" : "";
  if (strcmp(action, "status") == 0) {
    if (f.hit.status < 100) {
      emu_graph_error(r, 400, "BadRequest",
                      "status is required for action \"status\".");
      return;
    }
    f.hit.kind = EMU_FAULT_STATUS;
  } else if (strcmp(action, "reset") == 0) {
    f.hit.kind = EMU_FAULT_RESET;
  } else if (strcmp(action, "truncate") == 0) {
    f.hit.kind = EMU_FAULT_TRUNCATE;
  } else if (strcmp(action, "malformed") == 0) {
    f.hit.kind = EMU_FAULT_MALFORMED;
  } else if (strcmp(action, "delay") == 0) {
    if (f.hit.delay_ms <= 0) {
      emu_graph_error(r, 400, "BadRequest",
                      "delayMs is required for action \"delay\".");
      return;
    }
    f.hit.kind = EMU_FAULT_DELAY;
  } else if (strcmp(action, "nextLink") == 0) {
    /* A page whose @odata.nextLink is not what Graph would send (not a
     * URL, another host...): how clients treat a bad link. */
    const char *nl = opt_str(b, "nextLink");
    if (nl == NULL || strlen(nl) >= sizeof f.hit.next_link) {
      emu_graph_error(r, 400, "BadRequest",
                      "nextLink (a string under %zu bytes) is required for "
                      "action \"nextLink\".",
                      sizeof f.hit.next_link);
      return;
    }
    snprintf(f.hit.next_link, sizeof f.hit.next_link, "%s", nl);
    f.hit.kind = EMU_FAULT_NEXTLINK;
  } else {
    emu_graph_error(r, 400, "BadRequest",
                    "action must be status, reset, truncate, malformed, "
                    "delay or nextLink.");
    return;
  }
  if (code && (strlen(code) >= sizeof f.hit.code || strpbrk(code, "\r\n"))) {
    emu_graph_error(r, 400, "BadRequest", "code is too long.");
    return;
  }
  /* Without a code the default depends on the path's error shape, chosen
   * when the fault hits. */
  snprintf(f.hit.code, sizeof f.hit.code, "%s", code ? code : "");
  snprintf(f.method, sizeof f.method, "%s", method);
  f.path = strdup(path);
  f.glob = strpbrk(path, "*?[") != NULL;
  emu_uuid(f.id);
  pthread_mutex_lock(&faults_mu);
  fault *grown =
      f.path ? realloc(faults, (nfaults + 1) * sizeof *faults) : NULL;
  if (grown == NULL) {
    pthread_mutex_unlock(&faults_mu);
    free(f.path);
    emu_graph_error(r, 500, "InternalServerError", "Out of memory.");
    return;
  }
  faults = grown;
  faults[nfaults++] = f;
  json_object *o = fault_json(&f);
  pthread_mutex_unlock(&faults_mu);
  emu_resp_json(r, 201, o);
}

static void h_list(emu_req *r) {
  json_object *arr = json_object_new_array();
  pthread_mutex_lock(&faults_mu);
  for (size_t i = 0; i < nfaults; i++)
    json_object_array_add(arr, fault_json(&faults[i]));
  pthread_mutex_unlock(&faults_mu);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "value", arr);
  emu_resp_json(r, 200, o);
}

static void h_clear(emu_req *r) {
  emu__faults_clear();
  emu_resp_empty(r, 204);
}

static void h_delete_one(emu_req *r) {
  const char *id = emu_req_param(r, "id");
  int found = 0;
  pthread_mutex_lock(&faults_mu);
  for (size_t i = 0; i < nfaults; i++) {
    if (strcmp(faults[i].id, id) == 0) {
      fault_remove(i);
      found = 1;
      break;
    }
  }
  pthread_mutex_unlock(&faults_mu);
  if (found)
    emu_resp_empty(r, 204);
  else
    emu_graph_error(r, 404, "ResourceNotFound", "No fault with id '%.64s'.",
                    id);
}

int emu__faults_init(void) {
  return emu_route_add("POST", "/__emulator/faults", h_add, 0) ||
                 emu_route_add("GET", "/__emulator/faults", h_list, 0) ||
                 emu_route_add("DELETE", "/__emulator/faults", h_clear, 0) ||
                 emu_route_add("DELETE", "/__emulator/faults/{id}",
                               h_delete_one, 0)
             ? -1
             : 0;
}

EMU_MODULE(core_faults, emu__faults_init)
