/* admin.c - the admin API under /__emulator/: health, virtual time, reset,
 * stats, and the reset hooks other modules register. Fault and throttle
 * admin routes live in faults.c and throttle.c.
 *
 * Other modules add their own admin routes with emu_route_add() (portal
 * actions: emuid; mailbox inspection: emugraph). */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "core.h"
#include "openapi.h"

#include <math.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* ---- reset hooks ---- */

static emu_reset_fn hooks[32];
static size_t nhooks;

void emu_reset_hook_add(emu_reset_fn fn) {
  if (nhooks < sizeof hooks / sizeof hooks[0])
    hooks[nhooks++] = fn;
}

void emu__reset_hooks_run(void) {
  for (size_t i = 0; i < nhooks; i++)
    hooks[i](emu_tenant_config());
}

/* ---- state hooks (--state-dir) ---- */

static emu__state_hook state_hooks[8];
static size_t nstate_hooks;

void emu_state_hook_add(const char *name, emu_state_save_fn save,
                        emu_state_load_fn load) {
  if (nstate_hooks < sizeof state_hooks / sizeof state_hooks[0])
    state_hooks[nstate_hooks++] = (emu__state_hook){name, save, load};
}

const emu__state_hook *emu__state_hooks(size_t *n) {
  *n = nstate_hooks;
  return state_hooks;
}

/* ---- stats: requests per method + route pattern, by status ----
 * Recorded when a response is queued (outside the global lock), hence its
 * own mutex. Admin routes are not counted. */

typedef struct stat_row {
  char *method;
  char *route;
  int statuses[16];
  uint64_t counts[16];
  size_t nstatus;
  uint64_t total;
} stat_row;

static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;
static stat_row *rows;
static size_t nrows;
static uint64_t stats_total;

void emu__stats_record(const char *method, const char *route, int status) {
  if (route == NULL)
    route = "(unmatched)";
  else if (strncmp(route, "/__emulator/", 12) == 0 &&
           strncmp(route, "/__emulator/debug/", 18) != 0)
    return;
  pthread_mutex_lock(&stats_mu);
  stat_row *row = NULL;
  for (size_t i = 0; i < nrows; i++)
    if (strcmp(rows[i].method, method) == 0 &&
        strcmp(rows[i].route, route) == 0)
      row = &rows[i];
  if (row == NULL) {
    stat_row *grown = realloc(rows, (nrows + 1) * sizeof *rows);
    if (grown == NULL)
      goto out;
    rows = grown;
    row = &rows[nrows++];
    memset(row, 0, sizeof *row);
    row->method = strdup(method);
    row->route = strdup(route);
  }
  stats_total++;
  row->total++;
  for (size_t i = 0; i < row->nstatus; i++) {
    if (row->statuses[i] == status) {
      row->counts[i]++;
      goto out;
    }
  }
  if (row->nstatus < 16) {
    row->statuses[row->nstatus] = status;
    row->counts[row->nstatus++] = 1;
  }
out:
  pthread_mutex_unlock(&stats_mu);
}

void emu__stats_reset(void) {
  pthread_mutex_lock(&stats_mu);
  for (size_t i = 0; i < nrows; i++) {
    free(rows[i].method);
    free(rows[i].route);
  }
  free(rows);
  rows = NULL;
  nrows = 0;
  stats_total = 0;
  pthread_mutex_unlock(&stats_mu);
  emu_openapi_reset_rejections();
}

static void h_stats(emu_req *r) {
  json_object *top = json_object_new_object();
  json_object *arr = json_object_new_array();
  pthread_mutex_lock(&stats_mu);
  json_object_object_add(top, "total",
                         json_object_new_int64((int64_t)stats_total));
  for (size_t i = 0; i < nrows; i++) {
    json_object *o = json_object_new_object();
    json_object *by = json_object_new_object();
    json_object_object_add(o, "method", json_object_new_string(rows[i].method));
    json_object_object_add(o, "route", json_object_new_string(rows[i].route));
    json_object_object_add(o, "total",
                           json_object_new_int64((int64_t)rows[i].total));
    for (size_t j = 0; j < rows[i].nstatus; j++) {
      char k[16];
      /* 0 stands for "connection reset, no response". */
      snprintf(k, sizeof k, "%d", rows[i].statuses[j]);
      json_object_object_add(by, k,
                             json_object_new_int64((int64_t)rows[i].counts[j]));
    }
    json_object_object_add(o, "byStatus", by);
    json_object_array_add(arr, o);
  }
  pthread_mutex_unlock(&stats_mu);
  json_object_object_add(top, "routes", arr);
  /* Request bodies refused for OpenAPI shape reasons (emulator/openapi.c). */
  json_object_object_add(
      top, "openapi_rejections",
      json_object_new_int64((int64_t)emu_openapi_rejections()));
  emu_resp_json(r, 200, top);
}

/* ---- health, time, reset ---- */

static int64_t started_real_ms;

static void h_health(emu_req *r) {
  json_object *o = json_object_new_object();
  emu_tenant *t = emu_tenant_get();
  json_object_object_add(o, "status", json_object_new_string("ok"));
  json_object_object_add(o, "tenantId", json_object_new_string(t->id));
  json_object_object_add(o, "domain", json_object_new_string(t->domain));
  json_object_object_add(
      o, "uptimeSeconds",
      json_object_new_int64(
          (emu_now_ms() - emu_time_offset_ms() - started_real_ms) / 1000));
  emu_resp_json(r, 200, o);
}

static json_object *time_json(void) {
  char iso[32];
  int64_t now = emu_now_ms();
  emu_fmt_iso8601(now, iso);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "now", json_object_new_string(iso));
  json_object_object_add(o, "nowMs", json_object_new_int64(now));
  json_object_object_add(
      o, "offsetSeconds",
      json_object_new_double((double)emu_time_offset_ms() / 1000.0));
  return o;
}

static void h_time_get(emu_req *r) {
  emu_resp_json(r, 200, time_json());
}

static void h_time_advance(emu_req *r) {
  json_object *body = emu_req_json(r), *v;
  if (body == NULL || !json_object_object_get_ex(body, "seconds", &v) ||
      !(json_object_is_type(v, json_type_int) ||
        json_object_is_type(v, json_type_double))) {
    emu_graph_error(r, 400, "BadRequest",
                    "Body must be {\"seconds\": N} with N a number >= 0.");
    return;
  }
  double s = json_object_get_double(v);
  if (!(s >= 0) || s > 10.0 * 365 * 86400) {
    emu_graph_error(r, 400, "BadRequest",
                    "seconds must be between 0 and ten years; time only "
                    "moves forward.");
    return;
  }
  emu_time_advance_ms((int64_t)llround(s * 1000.0));
  emu_resp_json(r, 200, time_json());
}

static void h_reset(emu_req *r) {
  if (emu_tenant_reload() != 0) {
    emu_graph_error(r, 500, "InternalServerError", "Reload failed.");
    return;
  }
  emu_time_reset();
  emu__faults_clear();
  emu__throttle_reset();
  emu__stats_reset();
  emu__reset_hooks_run();
  json_object *o = json_object_new_object();
  json_object_object_add(o, "reset", json_object_new_boolean(1));
  emu_resp_json(r, 200, o);
}

static int admin_init(void) {
  started_real_ms = emu_now_ms() - emu_time_offset_ms();
  return emu_route_add("GET", "/__emulator/health", h_health, 0) ||
                 emu_route_add("GET", "/__emulator/time", h_time_get, 0) ||
                 emu_route_add("POST", "/__emulator/time/advance",
                               h_time_advance, 0) ||
                 emu_route_add("POST", "/__emulator/reset", h_reset, 0) ||
                 emu_route_add("GET", "/__emulator/stats", h_stats, 0)
             ? -1
             : 0;
}

EMU_MODULE(core_admin, admin_init)
