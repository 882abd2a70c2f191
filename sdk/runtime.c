/* runtime.c - what a host embeds (wfc/host.h): the runtime, loading,
 * lookups, invoking cards and connection hooks, connections, shutdown. */
#define _POSIX_C_SOURCE 200809L /* <uv.h>, strdup */
#include "runtime.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <json-c/json.h>

#include "call.h"
#include "host_api.h"
#include "loader.h"
#include "validate.h"
#include "wfc/connections.h"
#include "json_secret.h"
#include "log.h"
#include "secmem.h"

/* The open runtime. One per process: the services table handed to plugins
 * is static and takes no runtime argument, a plugin loaded by a second
 * runtime would be the same mapped object (dlopen counts references) with
 * the same static state (its timers, caches, settings), and the logger,
 * its level and the secret redaction table are the process's. Atomic, so
 * two threads creating runtimes at once get one runtime and one clear
 * refusal, never two. RESERVED marks a creation under way. */
static _Atomic(wfc_runtime *) current;
static char reserved_mark;
#define RESERVED ((wfc_runtime *)(void *)&reserved_mark)

wfc_runtime *wfc__runtime_current(void) {
  wfc_runtime *rt = atomic_load(&current);
  return rt == RESERVED ? NULL : rt;
}

static void on_idle(uv_idle_t *h) {
  wfc_runtime *rt = h->data;
  wfc__call_run_queue(rt);
  if (rt->queue_head == NULL)
    uv_idle_stop(&rt->idle);
}

void wfc__runtime_kick(wfc_runtime *rt) {
  if (!uv_is_active((uv_handle_t *)&rt->idle))
    uv_idle_start(&rt->idle, on_idle);
}

static int runtime_new(uv_loop_t *loop, const wfc_runtime_opts *opts,
                       wfc_runtime **out);

int wfc_runtime_new(uv_loop_t *loop, const wfc_runtime_opts *opts,
                    wfc_runtime **out) {
  if (loop == NULL || out == NULL)
    return WFC_EINVAL;
  wfc_runtime *none = NULL;
  if (!atomic_compare_exchange_strong(&current, &none, RESERVED)) {
    wfc__log(WFC_LOG_ERROR, "%s", WFC_RUNTIME_BUSY_WORDS);
    return WFC_EBUSY;
  }
  int rc = runtime_new(loop, opts, out);
  atomic_store(&current, rc == 0 ? *out : NULL);
  return rc;
}

static int runtime_new(uv_loop_t *loop, const wfc_runtime_opts *opts,
                       wfc_runtime **out) {
  /* Process-global, the host's job (like curl_global_init): the secure
   * heap for secret memory (tokens, unsealed secrets, the log's copies),
   * before any secret is stored. Never fails: without it secrets take
   * pages of their own. */
  wfc__secmem_init();
  wfc_runtime *rt = calloc(1, sizeof *rt);
  if (rt == NULL)
    return WFC_ENOMEM;
  wfc_runtime_opts o;
  memset(&o, 0, sizeof o);
  if (opts != NULL)
    memcpy(&o, opts,
           opts->size && opts->size < sizeof o ? opts->size : sizeof o);
  rt->loop = loop;
#ifdef NDEBUG
  rt->check_outputs = o.check_outputs;
#else
  rt->check_outputs = 1; /* debug builds always check plugin outputs */
#endif
  /* ... and any build when asked from the environment (CI, plugin
   * authors running `wfc card run`). */
  const char *chk = getenv("WFC_CHECK_OUTPUTS");
  if (chk != NULL && *chk != '\0' && strcmp(chk, "0") != 0)
    rt->check_outputs = 1;
  if (o.blob_dir != NULL && (rt->blob_dir = strdup(o.blob_dir)) == NULL) {
    free(rt);
    return WFC_ENOMEM;
  }
  if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
    free(rt->blob_dir);
    free(rt);
    return WFC_ENOMEM;
  }
  wfc__http_opts ho = {.size = sizeof ho,
                       .ca_bundle = o.ca_bundle,
                       .default_timeout_ms = o.http_timeout_ms};
  int rc = wfc__http_engine_new(loop, &ho, &rt->http);
  if (rc != 0) {
    curl_global_cleanup();
    free(rt->blob_dir);
    free(rt);
    return rc;
  }
  uv_idle_init(loop, &rt->idle);
  rt->idle.data = rt;
  uv_timer_init(loop, &rt->grace);
  rt->grace.data = rt;
  rt->handles_open = 2;
  rt->close_grace_ms = o.close_grace_ms ? o.close_grace_ms : 10000;
  *out = rt;
  return 0;
}

const char *wfc_runtime_blob_dir(wfc_runtime *rt) {
  if (rt != NULL && rt->blob_dir == NULL) {
    /* Resolved on first use (it may create the data directory), by the
     * same rule as the CLI's, so both find the same blobs. */
    char dir[4200];
    if (wfc_connmgr_default_blob_dir(NULL, dir, sizeof dir) == 0)
      rt->blob_dir = strdup(dir);
  }
  return rt != NULL ? rt->blob_dir : NULL;
}

int wfc__runtime_blobstore(wfc_runtime *rt, wfc__blobstore **out) {
  if (rt == NULL)
    return WFC_ESTATE;
  if (rt->blobs == NULL) {
    if (wfc_runtime_blob_dir(rt) == NULL)
      return WFC_EINVAL; /* no HOME: nowhere to put blobs */
    int rc = wfc__blobstore_open(rt->blob_dir, &rt->blobs);
    if (rc != 0)
      return rc;
  }
  *out = rt->blobs;
  return 0;
}

uv_loop_t *wfc_runtime_loop(wfc_runtime *rt) {
  return rt->loop;
}

/* ---- Plugin settings --------------------------------------------------- */

static int setting_key_valid(const char *k) {
  size_t n = k != NULL ? strlen(k) : 0;
  if (n == 0 || n > 64)
    return 0;
  for (const char *c = k; *c; c++)
    if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
          (*c >= '0' && *c <= '9') || *c == '_' || *c == '.' || *c == '-'))
      return 0;
  return 1;
}

static int setting_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int setting_err(char *err, size_t errlen, const char *fmt, ...) {
  if (err != NULL && errlen > 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
  }
  return WFC_EINVAL;
}

/* A setting's value as the text a plugin reads (transfer), or NULL with
 * *bad set when the type is not accepted. */
static json_object *setting_text(json_object *v, int *bad) {
  *bad = 0;
  switch (json_object_get_type(v)) {
  case json_type_string:
    return json_object_new_string(json_object_get_string(v));
  case json_type_boolean:
  case json_type_int:
  case json_type_double:
    return json_object_new_string(
        json_object_to_json_string_ext(v, JSON_C_TO_STRING_PLAIN));
  default:
    *bad = 1;
    return NULL;
  }
}

int wfc_plugin_settings_check(const char *plugin, json_object *settings,
                              char *err, size_t errlen) {
  if (err != NULL && errlen > 0)
    err[0] = '\0';
  if (!wfc__id_valid(plugin))
    return setting_err(err, errlen,
                       "plugin settings: \"%s\" is not a plugin name "
                       "([a-z][a-z0-9_]*)",
                       plugin ? plugin : "(null)");
  if (!json_object_is_type(settings, json_type_object))
    return setting_err(err, errlen, "settings of plugin %s: not a JSON object",
                       plugin);
  json_object_object_foreach(settings, k, v) {
    int bad = 0;
    if (!setting_key_valid(k))
      return setting_err(err, errlen,
                         "settings of plugin %s: key \"%.80s\" is not 1..64 "
                         "characters of [A-Za-z0-9_.-]",
                         plugin, k);
    if (v != NULL) {
      json_object *t = setting_text(v, &bad);
      json_object_put(t);
      if (bad)
        return setting_err(err, errlen,
                           "settings of plugin %s: %s must be a string, "
                           "number, boolean or null (to remove it)",
                           plugin, k);
    }
  }
  return 0;
}

int wfc_runtime_set_plugin_settings(wfc_runtime *rt, const char *plugin,
                                    json_object *settings, char *err,
                                    size_t errlen) {
  if (rt == NULL)
    return setting_err(err, errlen, "plugin settings: no runtime");
  /* Checked whole before anything changes. */
  int rc = wfc_plugin_settings_check(plugin, settings, err, errlen);
  if (rc != 0)
    return rc;
  if (rt->settings == NULL && (rt->settings = json_object_new_object()) == NULL)
    return WFC_ENOMEM;
  json_object *mine = NULL;
  if (!json_object_object_get_ex(rt->settings, plugin, &mine)) {
    if ((mine = json_object_new_object()) == NULL)
      return WFC_ENOMEM;
    json_object_object_add(rt->settings, plugin, mine);
  }
  json_object_object_foreach(settings, k2, v2) {
    int bad;
    if (v2 == NULL) {
      json_object_object_del(mine, k2);
      continue;
    }
    json_object *t = setting_text(v2, &bad);
    if (t == NULL)
      return WFC_ENOMEM;
    json_object_object_add(mine, k2, t);
  }
  return 0;
}

int wfc_runtime_set_plugin_setting(wfc_runtime *rt, const char *plugin,
                                   const char *key, const char *value,
                                   char *err, size_t errlen) {
  json_object *one = json_object_new_object();
  if (one == NULL)
    return WFC_ENOMEM;
  if (key != NULL)
    json_object_object_add(
        one, key, value != NULL ? json_object_new_string(value) : NULL);
  int rc = key == NULL
               ? setting_err(err, errlen, "settings of plugin %s: no key",
                             plugin ? plugin : "(null)")
               : wfc_runtime_set_plugin_settings(rt, plugin, one, err, errlen);
  json_object_put(one);
  return rc;
}

json_object *wfc_runtime_plugin_settings(const wfc_runtime *rt,
                                         const char *plugin) {
  json_object *mine = NULL, *copy = NULL;
  if (rt == NULL || rt->settings == NULL || plugin == NULL ||
      !json_object_object_get_ex(rt->settings, plugin, &mine))
    return NULL;
  if (json_object_deep_copy(mine, &copy, NULL) != 0)
    return NULL;
  return copy;
}

const char *wfc__runtime_setting(const wfc_runtime *rt, const char *plugin,
                                 const char *key) {
  json_object *mine = NULL, *v = NULL;
  if (rt == NULL || rt->settings == NULL || plugin == NULL || key == NULL ||
      !json_object_object_get_ex(rt->settings, plugin, &mine) ||
      !json_object_object_get_ex(mine, key, &v))
    return NULL;
  return json_object_get_string(v);
}

/* ---- Logging ----------------------------------------------------------- */

void wfc_runtime_set_log_sink(wfc_runtime *rt, wfc_log_sink sink, void *arg) {
  if (rt == NULL || rt != wfc__runtime_current())
    return;
  rt->log_sink = sink != NULL;
  wfc__log_set_host_sink(sink, arg);
}

void wfc_runtime_set_log_level(wfc_runtime *rt, int level) {
  if (rt != NULL)
    wfc__log_set_level(level);
}

int wfc_runtime_log_level(const wfc_runtime *rt) {
  (void)rt;
  return wfc__log_level();
}

/* ---- Loading and lookups ------------------------------------------------- */

int wfc_runtime_load(wfc_runtime *rt, const char *path, wfc_plugin **out,
                     char *err, size_t errlen) {
  if (rt == NULL || path == NULL) {
    if (err && errlen)
      snprintf(err, errlen, "invalid argument");
    return WFC_EINVAL;
  }
  if (rt->closing || rt->shutting) {
    if (err && errlen)
      snprintf(err, errlen, "%s: the runtime is closing", path);
    return WFC_ESTATE;
  }
  return wfc__loader_load(&rt->reg, wfc__host_api(), path, out, err, errlen);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int wfc_runtime_load_dir(wfc_runtime *rt, const char *dir,
                         void (*report)(void *arg, const char *path,
                                        const char *message),
                         void *arg) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return WFC_ENOTFOUND;
  char **names = NULL;
  size_t n = 0, cap = 0;
  struct dirent *e;
  int rc = 0;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0)
      continue;
    if (n == cap) {
      cap = cap ? cap * 2 : 16;
      char **nn = realloc(names, cap * sizeof *nn);
      if (nn == NULL) {
        rc = WFC_ENOMEM;
        break;
      }
      names = nn;
    }
    if ((names[n] = strdup(e->d_name)) == NULL) {
      rc = WFC_ENOMEM;
      break;
    }
    n++;
  }
  closedir(d);
  if (n > 0)
    qsort(names, n, sizeof *names, cmp_str);
  int loaded = 0;
  for (size_t i = 0; i < n; i++) {
    char path[4096], err[1024];
    snprintf(path, sizeof path, "%s/%s", dir, names[i]);
    if (rc == 0) {
      if (wfc_runtime_load(rt, path, NULL, err, sizeof err) == 0)
        loaded++;
      else if (report != NULL)
        report(arg, path, err);
    }
    free(names[i]);
  }
  free(names);
  return rc ? rc : loaded;
}

size_t wfc_runtime_plugin_count(const wfc_runtime *rt) {
  return rt->reg.n;
}

wfc_plugin *wfc_runtime_plugin(const wfc_runtime *rt, size_t i) {
  return i < rt->reg.n ? rt->reg.plugins[i] : NULL;
}

wfc_plugin *wfc_runtime_find_plugin(const wfc_runtime *rt, const char *name) {
  return name ? wfc__registry_find(&rt->reg, name) : NULL;
}

int wfc_runtime_find_card(const wfc_runtime *rt, const char *id,
                          wfc_plugin **plugin, const wfc_card_desc **card) {
  return wfc__registry_find_card(&rt->reg, id, plugin, card);
}

int wfc_runtime_find_conn_type(const wfc_runtime *rt, const char *id,
                               wfc_plugin **plugin,
                               const wfc_conn_type_desc **ct) {
  return wfc__registry_find_conn_type(&rt->reg, id, plugin, ct);
}

/* ---- Calls
 * ------------------------------------------------------------------- */

int wfc_runtime_invoke(wfc_runtime *rt, const char *card_id,
                       struct json_object *input, const wfc_invoke *how,
                       wfc_call **out) {
  if (rt == NULL || card_id == NULL || how == NULL || how->on_done == NULL)
    return WFC_EINVAL;
  if (rt->closing || rt->shutting)
    return WFC_ESTATE;
  if (input != NULL && !json_object_is_type(input, json_type_object))
    return WFC_EINVAL;
  struct wfc_plugin *p;
  const wfc_card_desc *card;
  int rc = wfc__registry_find_card(&rt->reg, card_id, &p, &card);
  if (rc != 0)
    return rc;
  /* "plugin.card", cut to the label's size (no snprintf: this runs for
   * every card execution). */
  char label[160];
  size_t pn = strnlen(p->name, sizeof label - 1);
  size_t cn = pn + 1 < sizeof label - 1
                  ? strnlen(card->id, sizeof label - 1 - (pn + 1))
                  : 0;
  memcpy(label, p->name, pn);
  if (pn + 1 < sizeof label)
    label[pn++] = '.';
  memcpy(label + pn, card->id, cn);
  label[pn + cn] = '\0';
  wfc__call_spec spec = {
      .plugin = p,
      .fn = card->invoke,
      .label = label,
      .in_schema = card->inputs,
      .validate = 1,
      .out_schema = card->outputs,
      .check_out = rt->check_outputs && card->kind == WFC_CARD_ACTION,
      .is_event = card->kind == WFC_CARD_EVENT,
  };
  return wfc__call_start(rt, &spec, input, how, out);
}

/* Adds every member of src to dst (references). */
static void add_members(json_object *dst, json_object *src) {
  if (!json_object_is_type(src, json_type_object))
    return;
  json_object_object_foreach(src, k, v) {
    json_object_object_add(dst, k, json_object_get(v));
  }
}

/* The members of params (borrowed) into clear and secret (references), by
 * the WFC_FIELD_SECRET flag of schema's top-level fields. */
static void split_secret(const wfc_field *schema, json_object *params,
                         json_object *clear, json_object *secret) {
  json_object_object_foreach(params, k, v) {
    int is_secret = 0;
    for (const wfc_field *f = schema; f != NULL && f->name != NULL; f++)
      if (strcmp(f->name, k) == 0)
        is_secret = (f->flags & WFC_FIELD_SECRET) != 0;
    json_object_object_add(is_secret ? secret : clear, k, json_object_get(v));
  }
}

int wfc_runtime_conn_hook(wfc_runtime *rt, const char *type_id,
                          wfc_conn_hook hook, struct json_object *input,
                          const wfc_invoke *how, wfc_call **out) {
  if (rt == NULL || type_id == NULL || how == NULL || how->on_done == NULL)
    return WFC_EINVAL;
  if (rt->closing || rt->shutting)
    return WFC_ESTATE;
  if (input != NULL && !json_object_is_type(input, json_type_object))
    return WFC_EINVAL;
  struct wfc_plugin *p;
  const wfc_conn_type_desc *t;
  int rc = wfc__registry_find_conn_type(&rt->reg, type_id, &p, &t);
  if (rc != 0)
    return rc;
  static const char *const names[] = {
      "", "authorize_begin", "authorize_complete", "refresh", "revoke", "test"};
  wfc_call_fn fn;
  switch (hook) {
  case WFC_HOOK_AUTHORIZE_BEGIN:
    fn = t->authorize_begin;
    break;
  case WFC_HOOK_AUTHORIZE_COMPLETE:
    fn = t->authorize_complete;
    break;
  case WFC_HOOK_REFRESH:
    fn = t->refresh;
    break;
  case WFC_HOOK_REVOKE:
    fn = t->revoke;
    break;
  case WFC_HOOK_TEST:
    fn = t->test;
    break;
  default:
    return WFC_EINVAL;
  }
  if (fn == NULL)
    return WFC_ENOTSUP;
  char label[160];
  snprintf(label, sizeof label, "%s.%s %s", p->name, t->id, names[hook]);

  /* The hook's input is the caller's, with "params" replaced by its
   * validated, normalized form. The shallow copy shares the other members
   * by reference. */
  json_object *in = json_object_new_object();
  if (in == NULL)
    return WFC_ENOMEM;
  if (input != NULL) {
    json_object_object_foreach(input, k, v) {
      json_object_object_add(in, k, json_object_get(v));
    }
  }
  wfc__call_spec spec = {.plugin = p, .fn = fn, .label = label};
  json_object *params = NULL, *secrets = NULL;
  char err[512];
  if (json_object_object_get_ex(in, "secrets", &secrets)) {
    /* A form's authorize_complete (plugin.h): params and secrets are one
     * set of fields for the schema (a REQUIRED secret is in "secrets"),
     * validated together, then split again by WFC_FIELD_SECRET. */
    if (!json_object_is_type(secrets, json_type_object)) {
      json_object_put(in);
      return WFC_EINVAL;
    }
    json_object *all = json_object_new_object();
    if (json_object_object_get_ex(in, "params", &params))
      add_members(all, params);
    add_members(all, secrets);
    json_object *norm = NULL;
    rc = wfc__validate_at(t->params, all, "params", &norm, err, sizeof err);
    if (rc != 0) {
      spec.validate = 1;
      spec.in_schema = t->params;
      spec.in_root = "params";
      rc = wfc__call_start(rt, &spec, all, how, out);
      json_object_put(all);
      json_object_put(in);
      return rc;
    }
    json_object_put(all);
    json_object *clear = json_object_new_object();
    json_object *secret = json_object_new_object();
    split_secret(t->params, norm, clear, secret);
    json_object_put(norm);
    json_object_object_add(in, "params", clear);
    json_object_object_add(in, "secrets", secret);
  } else if (json_object_object_get_ex(in, "params", &params)) {
    json_object *norm = NULL;
    rc = wfc__validate_at(t->params, params, "params", &norm, err, sizeof err);
    if (rc != 0) {
      /* Same path as an invalid card input: the call fails, the hook is
       * never called. */
      spec.validate = 1;
      spec.in_schema = t->params;
      spec.in_root = "params";
      rc = wfc__call_start(rt, &spec, params, how, out);
      json_object_put(in);
      return rc;
    }
    json_object_object_add(in, "params", norm);
  }
  rc = wfc__call_start(rt, &spec, in, how, out);
  json_object_put(in);
  return rc;
}

void wfc_runtime_get_stats(const wfc_runtime *rt, wfc_runtime_stats *out) {
  *out = rt->stats;
}

/* ---- Connections
 * -------------------------------------------------------------- */

int wfc_conn_new(wfc_runtime *rt, struct json_object *params,
                 struct json_object *info, const wfc_conn_ops *ops,
                 void *ops_arg, wfc_conn **out) {
  if (rt == NULL || out == NULL)
    return WFC_EINVAL;
  wfc_conn *c = calloc(1, sizeof *c);
  if (c == NULL)
    return WFC_ENOMEM;
  c->rt = rt;
  c->refs = 1;
  c->params = params ? json_object_get(params) : json_object_new_object();
  c->info = info ? json_object_get(info) : json_object_new_object();
  c->ops = ops;
  c->ops_arg = ops_arg;
  *out = c;
  return 0;
}

wfc_conn *wfc__conn_ref(wfc_conn *c) {
  c->refs++;
  return c;
}

void wfc_conn_release(wfc_conn *c) {
  if (c == NULL || --c->refs > 0)
    return;
  json_object_put(c->params);
  json_object_put(c->info);
  free(c);
}

struct json_object *wfc_conn_get_params(wfc_conn *c) {
  return c->params;
}

struct json_object *wfc_conn_get_info(wfc_conn *c) {
  return c->info;
}

/* ---- Shutdown
 * ------------------------------------------------------------------ */

static void unload_one(struct wfc_plugin *p) {
  if (p->abandoned) {
    /* Its code may still run (the call it never finished): keep it. */
    wfc__log(WFC_LOG_ERROR,
             "plugin %s left a call running at shutdown; it stays loaded",
             p->name);
    return;
  }
  wfc__loader_unload(p);
}

static void on_handle_closed(uv_handle_t *h) {
  wfc_runtime *rt = h->data;
  if (--rt->handles_open > 0)
    return;
  void (*done)(void *) = rt->close_done;
  void *arg = rt->close_arg;
  free(rt->blob_dir);
  wfc__json_cleanse_put(rt->settings); /* may hold secrets */
  free(rt);
  curl_global_cleanup();
  if (done != NULL)
    done(arg);
}

/* Last steps, once the engine is closed: no request can call into a plugin
 * any more. Plugin timers left running are stopped, then the plugins shut
 * down and are unloaded, then the runtime's own handle closes. */
static void engine_closed(void *arg) {
  wfc_runtime *rt = arg;
  rt->http = NULL;
  wfc__host_timers_stop_all();
  wfc__registry_clear(&rt->reg, unload_one);
  wfc__call_quarantine_flush();
  wfc__blobstore_close(rt->blobs);
  rt->blobs = NULL;
  if (rt->log_sink)
    wfc__log_set_host_sink(NULL, NULL); /* its arg may die with the host */
  wfc_runtime *self = rt;
  atomic_compare_exchange_strong(&current, &self, NULL);
  uv_idle_stop(&rt->idle);
  uv_close((uv_handle_t *)&rt->idle, on_handle_closed);
  uv_close((uv_handle_t *)&rt->grace, on_handle_closed);
}

void wfc__runtime_call_gone(wfc_runtime *rt) {
  if (rt->closing == 1 && rt->live == NULL) {
    /* Every call delivered (Lessons 15): close the HTTP engine next; it
     * completes leftover requests (not tied to a call) with WFC_ECANCELED
     * while the plugins are still loaded. */
    rt->closing = 2;
    uv_timer_stop(&rt->grace);
    wfc__http_engine_close(rt->http, engine_closed, rt);
  }
}

/* Canceled calls that did not complete in time. */
static void on_grace(uv_timer_t *t) {
  wfc_runtime *rt = t->data;
  if (rt->closing == 1 && rt->live != NULL)
    wfc__call_abandon_all(rt, rt->close_grace_ms);
}

int wfc__runtime_attach(wfc_runtime *rt, wfc__rt_child *c) {
  if (rt->closing || rt->shutting)
    return WFC_ESTATE;
  c->rt = rt;
  c->closing = 0;
  c->next = rt->children;
  rt->children = c;
  return 0;
}

static void runtime_close(wfc_runtime *rt);

/* Closes the children, lowest order first, one order at a time; when none
 * is left, the runtime itself. */
static void shutdown_step(wfc_runtime *rt) {
  if (rt->stepping || rt->closing)
    return;
  rt->stepping = 1;
  for (;;) {
    int order = -1;
    for (wfc__rt_child *c = rt->children; c != NULL; c = c->next)
      if (order < 0 || c->order < order)
        order = c->order;
    if (order < 0) {
      rt->stepping = 0;
      runtime_close(rt);
      return;
    }
    wfc__rt_child *next = NULL;
    for (wfc__rt_child *c = rt->children; c != NULL; c = c->next)
      if (c->order == order && !c->closing) {
        next = c;
        break;
      }
    if (next == NULL)
      break; /* all of this order are closing: their detach steps on */
    next->closing = 1;
    next->close(next); /* may detach (and free) it, or others, at once */
  }
  rt->stepping = 0;
}

void wfc__runtime_detach(wfc__rt_child *c) {
  wfc_runtime *rt = c->rt;
  if (rt == NULL)
    return;
  for (wfc__rt_child **p = &rt->children; *p != NULL; p = &(*p)->next)
    if (*p == c) {
      *p = c->next;
      break;
    }
  c->rt = NULL;
  c->next = NULL;
  if (rt->shutting)
    shutdown_step(rt);
}

void wfc_runtime_shutdown(wfc_runtime *rt, void (*done)(void *arg), void *arg) {
  if (rt == NULL || rt->shutting || rt->closing)
    return;
  rt->shutting = 1;
  rt->close_done = done;
  rt->close_arg = arg;
  shutdown_step(rt);
}

void wfc_runtime_close(wfc_runtime *rt, void (*done)(void *arg), void *arg) {
  wfc_runtime_shutdown(rt, done, arg);
}

/* The runtime's own part, once nothing is open on it. */
static void runtime_close(wfc_runtime *rt) {
  rt->closing = 1;
  wfc__call_cancel_all(rt);
  if (rt->live != NULL)
    uv_timer_start(&rt->grace, on_grace, rt->close_grace_ms, 0);
  wfc__runtime_call_gone(rt);
}
