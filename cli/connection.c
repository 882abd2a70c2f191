/* connection.c - `wfc connection new|list|show|reauthorize|refresh|
 * revoke|delete|test`, on the public connection manager
 * (wfc/connections.h). Tokens are never printed: the manager's results
 * carry no secrets. */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <json-c/json.h>

#include "secret.h"
#include "wfc/connections.h"

const char wfc__cli_usage_connection[] =
    "  wfc connection new --plugin P --nickname NAME [--type T]\n"
    "      [--env production|preview] [--tenant T] [--param k=v ...]\n"
    "      [--secret-stdin NAME ...] [--secret-file NAME=PATH ...]\n"
    "      [--login-hint USER] [--prompt login|consent|select_account]\n"
    "      [--print-url] [--timeout S]\n"
    "      (without --login-hint or --prompt: select_account, so the\n"
    "      person chooses the account instead of reusing the browser's;\n"
    "      those three are for a type whose flow is browser)\n"
    "      Secret parameters never come from --param: on a terminal wfc\n"
    "      asks for them without echo; --secret-stdin NAME reads one line\n"
    "      of stdin per option, in their order; --secret-file NAME=PATH\n"
    "      reads a file only its owner may read (chmod 600)\n"
    "  wfc connection list [--plugin P]\n"
    "  wfc connection show|refresh|revoke|delete|test NAME\n"
    "  wfc connection reauthorize NAME [--param k=v ...] [--print-url]\n"
    "      [--secret-stdin NAME ...] [--secret-file NAME=PATH ...]\n"
    "      [--timeout S] [--allow-account-change]\n"
    "      (secret parameters not given keep their stored values; on a\n"
    "      terminal a form type asks, Enter keeping the stored one)\n"
    "      (asks for the connection's account; a sign-in as another\n"
    "      account is refused unless --allow-account-change)\n"
    "  wfc connection admin-consent NAME [--print-url] [--timeout S]\n"
    "      (an administrator grants the connection's app for the whole\n"
    "      organization: wfc prints the URL, waits, and reports granted,\n"
    "      declined or error)\n"
    "  (all take --store PATH, --plugin-dir DIR, --json)\n";

#define MAX_SECRET_OPTS 16

typedef struct opts {
  int json, print_url, allow_account_change;
  const char *store, *plugin_dir, *plugin, *nickname, *type, *env, *tenant,
      *login_hint, *prompt;
  uint64_t timeout_ms;
  json_object *params; /* owned */
  const char *name;    /* positional */
  /* --secret-stdin NAME and --secret-file NAME=PATH, in order (argv). */
  const char *sec_stdin[MAX_SECRET_OPTS], *sec_file[MAX_SECRET_OPTS];
  int nstdin, nfile;
} opts;

static int parse(int argc, char **argv, opts *o) {
  static const struct option table[] = {
      {"json", no_argument, NULL, 'j'},
      {"print-url", no_argument, NULL, 'u'},
      {"allow-account-change", no_argument, NULL, 'A'},
      {"store", required_argument, NULL, 's'},
      {"plugin-dir", required_argument, NULL, 'd'},
      {"plugin", required_argument, NULL, 'p'},
      {"nickname", required_argument, NULL, 'n'},
      {"type", required_argument, NULL, 't'},
      {"env", required_argument, NULL, 'e'},
      {"tenant", required_argument, NULL, 'T'},
      {"param", required_argument, NULL, 'P'},
      {"login-hint", required_argument, NULL, 'l'},
      {"prompt", required_argument, NULL, 'R'},
      {"timeout", required_argument, NULL, 'o'},
      {"secret-stdin", required_argument, NULL, 'I'},
      {"secret-file", required_argument, NULL, 'F'},
      {NULL, 0, NULL, 0}};
  memset(o, 0, sizeof *o);
  o->params = json_object_new_object();
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", table, NULL)) != -1) {
    switch (c) {
    case 'j':
      o->json = 1;
      break;
    case 'u':
      o->print_url = 1;
      break;
    case 'A':
      o->allow_account_change = 1;
      break;
    case 's':
      o->store = optarg;
      break;
    case 'd':
      o->plugin_dir = optarg;
      break;
    case 'p':
      o->plugin = optarg;
      break;
    case 'n':
      o->nickname = optarg;
      break;
    case 't':
      o->type = optarg;
      break;
    case 'e':
      o->env = optarg;
      break;
    case 'T':
      o->tenant = optarg;
      break;
    case 'l':
      o->login_hint = optarg;
      break;
    case 'R':
      o->prompt = optarg;
      break;
    case 'o': {
      char *end;
      long s = strtol(optarg, &end, 10);
      if (*end != '\0' || s <= 0 || s > 86400)
        return wfc__cli_usage(wfc__cli_usage_connection,
                              "--timeout wants seconds (1..86400)");
      o->timeout_ms = (uint64_t)s * 1000;
      break;
    }
    case 'I':
    case 'F':
      if ((c == 'I' ? o->nstdin : o->nfile) == MAX_SECRET_OPTS)
        return wfc__cli_usage(wfc__cli_usage_connection,
                              "at most %d --secret-%s options", MAX_SECRET_OPTS,
                              c == 'I' ? "stdin" : "file");
      if (c == 'F' && (strchr(optarg, '=') == NULL || *optarg == '=' ||
                       strchr(optarg, '=')[1] == '\0'))
        return wfc__cli_usage(wfc__cli_usage_connection,
                              "--secret-file wants NAME=PATH, got \"%s\"",
                              optarg);
      if (c == 'I')
        o->sec_stdin[o->nstdin++] = optarg;
      else
        o->sec_file[o->nfile++] = optarg;
      break;
    case 'P': {
      const char *eq = strchr(optarg, '=');
      if (eq == NULL || eq == optarg)
        return wfc__cli_usage(wfc__cli_usage_connection,
                              "--param wants key=value, got \"%s\"", optarg);
      char key[128];
      snprintf(key, sizeof key, "%.*s", (int)(eq - optarg), optarg);
      json_object_object_add(o->params, key, json_object_new_string(eq + 1));
      break;
    }
    default:
      return wfc__cli_bad_option(wfc__cli_usage_connection, NULL, NULL,
                                 argv[optind - 1]);
    }
  }
  if (optind < argc)
    o->name = argv[optind++];
  if (optind < argc)
    return wfc__cli_usage(wfc__cli_usage_connection,
                          "unexpected argument \"%s\"", argv[optind]);
  if (o->tenant != NULL)
    json_object_object_add(o->params, "tenant",
                           json_object_new_string(o->tenant));
  return 0;
}

/* ---- the manager on a CLI host ------------------------------------------- */

/* wfc__cli_host_open with a blob store. */
static int host_open(wfc__cli_host *h, const char *blob_dir) {
  if (blob_dir == NULL)
    return wfc__cli_host_open(h);
  memset(h, 0, sizeof *h);
  int rc = uv_loop_init(&h->loop);
  if (rc != 0)
    return wfc__cli_error("cannot create the event loop: %s", uv_strerror(rc));
  wfc_runtime_opts o = {.size = sizeof o, .blob_dir = blob_dir};
  rc = wfc_runtime_new(&h->loop, &o, &h->rt);
  if (rc != 0) {
    uv_loop_close(&h->loop);
    return wfc__cli_error("cannot create the runtime (blob store %s): %s",
                          blob_dir, wfc_strerror(rc));
  }
  if (wfc__cli_apply_settings(h->rt) != 0) {
    wfc__cli_host_close(h);
    return WFC_CLI_FAIL;
  }
  return 0;
}

int wfc__cli_connmgr_open(wfc__cli_host *h, const char *store,
                          const char *plugin_dir, int load,
                          const char *blob_dir, wfc_connmgr **m) {
  if (host_open(h, blob_dir) != 0)
    return WFC_CLI_FAIL;
  if (load) {
    h->quiet = 1; /* a broken unrelated plugin must not clutter the output */
    if (wfc__cli_load_plugins(h, plugin_dir) < 0) {
      wfc__cli_host_close(h);
      return WFC_CLI_FAIL;
    }
  }
  wfc_connmgr_opts mo = {.size = sizeof mo, .store_path = store};
  char err[600];
  int rc = wfc_connmgr_open(h->rt, &mo, m, err, sizeof err);
  if (rc != 0) {
    wfc__cli_error("%s", err[0] ? err : wfc_strerror(rc));
    wfc__cli_host_close(h);
    return WFC_CLI_FAIL;
  }
  return 0;
}

void wfc__cli_connmgr_close(wfc__cli_host *h, wfc_connmgr *m) {
  (void)m; /* open on h's runtime: its shutdown closes it first */
  wfc__cli_host_close(h);
}

/* ---- printing ------------------------------------------------------------ */

static const char *jstr(json_object *o, const char *k) {
  json_object *v;
  if (!json_object_object_get_ex(o, k, &v) || v == NULL)
    return "";
  return json_object_get_string(v);
}

static void print_conn_text(json_object *c) {
  static const char *const keys[] = {
      "id",           "nickname",   "plugin", "type",       "environment",
      "account",      "state",      "remedy", "created_at", "updated_at",
      "last_used_at", "expires_at", NULL};
  char remedy[2048];
  for (int i = 0; keys[i] != NULL; i++) {
    const char *v = jstr(c, keys[i]);
    if (strcmp(keys[i], "remedy") == 0 && *v != '\0')
      v = wfc__cli_conn_remedy(jstr(c, "nickname"), jstr(c, "state"), v, remedy,
                               sizeof remedy);
    if (*v != '\0' && strcmp(v, "null") != 0)
      printf("%-13s %s\n", keys[i], v);
  }
  json_object *p = json_object_object_get(c, "params");
  if (p != NULL && json_object_object_length(p) > 0)
    printf("%-13s %s\n", "params",
           json_object_to_json_string_ext(
               p, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
}

/* ---- list / show ----------------------------------------------------------
 */

static int cmd_list(opts *o) {
  wfc__cli_host h;
  wfc_connmgr *m;
  if (wfc__cli_connmgr_open(&h, o->store, o->plugin_dir, 0, NULL, &m) != 0)
    return WFC_CLI_FAIL;
  json_object *arr;
  int rc = wfc_connmgr_list(m, o->plugin, &arr);
  if (rc != 0) {
    wfc__cli_error("cannot list connections: %s", wfc_strerror(rc));
  } else if (o->json) {
    wfc__cli_print_json(arr);
  } else {
    size_t n = json_object_array_length(arr);
    if (n == 0)
      printf("no connections (create one with `wfc connection new`)\n");
    else
      printf("%-20s %-26s %-10s %-28s %s\n", "NICKNAME", "STATE", "PLUGIN",
             "ACCOUNT", "ID");
    for (size_t i = 0; i < n; i++) {
      json_object *c = json_object_array_get_idx(arr, i);
      printf("%-20s %-26s %-10s %-28s %s\n", jstr(c, "nickname"),
             jstr(c, "state"), jstr(c, "plugin"), jstr(c, "account"),
             jstr(c, "id"));
      char remedy[2048];
      if (*jstr(c, "remedy") != '\0')
        printf("  -> %s\n",
               wfc__cli_conn_remedy(jstr(c, "nickname"), jstr(c, "state"),
                                    jstr(c, "remedy"), remedy, sizeof remedy));
    }
  }
  json_object_put(arr);
  wfc__cli_connmgr_close(&h, m);
  return rc == 0 ? WFC_CLI_OK : WFC_CLI_FAIL;
}

static int not_found(int rc, const char *name) {
  if (rc == WFC_EKEY)
    return wfc__cli_tampered(name, NULL);
  if (rc == WFC_ENOTFOUND)
    return wfc__cli_error("no connection \"%s\" (see `wfc connection list`)",
                          name);
  if (rc == WFC_EINVAL)
    return wfc__cli_error("\"%s\" names several connections: use the id", name);
  return wfc__cli_error("connection \"%s\": %s", name, wfc_strerror(rc));
}

static int cmd_show(opts *o) {
  wfc__cli_host h;
  wfc_connmgr *m;
  if (wfc__cli_connmgr_open(&h, o->store, o->plugin_dir, 0, NULL, &m) != 0)
    return WFC_CLI_FAIL;
  json_object *c;
  int rc = wfc_connmgr_show(m, o->name, &c);
  if (rc != 0) {
    not_found(rc, o->name);
  } else {
    if (o->json)
      wfc__cli_print_json(c);
    else
      print_conn_text(c);
    json_object_put(c);
  }
  wfc__cli_connmgr_close(&h, m);
  return rc == 0 ? WFC_CLI_OK : WFC_CLI_FAIL;
}

/* ---- asynchronous operations ----------------------------------------------
 */

typedef struct run {
  opts *o;
  const char *what; /* "authorize", "admin-consent", or the command */
  int done;
  int exit_code;
  /* authorize: the connection type when known (plugin-owned), for the
   * remedy of a missing parameter. */
  const wfc_conn_type_desc *ct;
} run;

static json_object *result_json(const wfc_connmgr_result *r) {
  json_object *j = json_object_new_object();
  json_object_object_add(
      j, "status",
      json_object_new_string(r->status ? wfc_err_name(r->status) : "ok"));
  if (r->message)
    json_object_object_add(j, "message", json_object_new_string(r->message));
  if (r->outcome)
    json_object_object_add(j, "outcome", json_object_new_string(r->outcome));
  if (r->remedy)
    json_object_object_add(j, "remedy", json_object_new_string(r->remedy));
  if (r->connection)
    json_object_object_add(j, "connection", json_object_get(r->connection));
  if (r->detail)
    json_object_object_add(j, "detail", json_object_get(r->detail));
  return j;
}

/* One line, in words, for an authorization outcome. */
static void print_outcome(const wfc_connmgr_result *r) {
  const char *o = r->outcome ? r->outcome : "error";
  const char *nick = jstr(r->connection, "nickname");
  const char *remedy = r->remedy ? r->remedy : "";
  if (strcmp(o, WFC_CONN_CONNECTED) == 0)
    printf("connected: \"%s\" as %s (id %s)\n", nick,
           jstr(r->connection, "account"), jstr(r->connection, "id"));
  else if (strcmp(o, WFC_CONN_NEEDS_ADMIN_APPROVAL) == 0)
    printf("needs admin approval: %s\n", remedy);
  else if (strcmp(o, WFC_CONN_APPROVAL_PENDING) == 0)
    printf("approval request submitted, pending: %s\n", remedy);
  else if (strcmp(o, WFC_CONN_WRONG_ACCOUNT) == 0)
    printf("refused: %s\n", remedy);
  else if (strcmp(o, "denied") == 0)
    printf("denied: %s\n", *remedy ? remedy : "the permissions were declined");
  else
    printf("error: %s\n", *remedy ? remedy : "the authorization failed");
  if (r->connection == NULL || strcmp(o, WFC_CONN_CONNECTED) == 0)
    return;
  const char *st = jstr(r->connection, "state");
  if (strcmp(o, WFC_CONN_WRONG_ACCOUNT) == 0)
    printf("the connection \"%s\" keeps its account %s and its state %s; "
           "to switch it to %s, run `wfc connection reauthorize %s "
           "--allow-account-change`\n",
           nick, jstr(r->connection, "account"), st, jstr(r->detail, "account"),
           nick);
  else if (st == NULL || strcmp(st, o) != 0)
    printf("the connection \"%s\" keeps its state %s\n", nick,
           st ? st : "(unknown)");
  else if (strcmp(o, WFC_CONN_NEEDS_ADMIN_APPROVAL) == 0)
    printf("the connection \"%s\" is saved with state %s; an administrator "
           "can grant it with `wfc connection admin-consent %s` (it shows "
           "them the page and reports the outcome); then run `wfc "
           "connection reauthorize %s`\n",
           nick, st, nick, nick);
  else if (strcmp(o, WFC_CONN_APPROVAL_PENDING) == 0)
    printf("the connection \"%s\" is saved with state %s; run `wfc "
           "connection reauthorize %s` when that is done\n",
           nick, st, nick);
  else
    printf("the connection \"%s\" is saved with state %s; run `wfc "
           "connection reauthorize %s` to try again\n",
           nick, st, nick);
}

/* revoke / delete: the secrets are wiped either way; what happened to the
 * app's grant at the provider (detail "remote", docs/connections-sdk.md)
 * in words, with the plugin's detail. not_permitted is an outcome, not a
 * failure: the app may not remove its own grant and the detail says the
 * administrator's step. */
static void print_removed(const wfc_connmgr_result *r, const char *what,
                          const char *nick) {
  const char *remote = jstr(r->detail, "remote");
  const char *detail = jstr(r->detail, "detail");
  const char *words;
  if (strcmp(remote, "removed") == 0)
    words = "the app's grant was removed at the provider";
  else if (strcmp(remote, "not_permitted") == 0)
    words = "the app's grant stays at the provider until an administrator "
            "removes it";
  else if (strcmp(remote, "failed") == 0)
    words = "removing the app's grant at the provider failed";
  else if (*remote == '\0' || strcmp(remote, "none") == 0)
    words = "no grant of its own to remove at the provider";
  else
    words = remote;
  printf("%s \"%s\": secrets wiped; %s%s%s\n",
         strcmp(what, "revoke") == 0 ? "revoked" : "deleted", nick, words,
         *detail ? ".\n  " : "", detail);
}

/* The outcome of `wfc connection admin-consent`. */
static void print_admin_consent(const run *x, const wfc_connmgr_result *r) {
  const char *o = r->outcome ? r->outcome : "error";
  const char *words = r->remedy ? r->remedy : "";
  const char *nick = *jstr(r->connection, "nickname")
                         ? jstr(r->connection, "nickname")
                         : x->o->name;
  printf("%s: %s\n", o, words);
  if (strcmp(o, "granted") == 0)
    printf("now run `wfc connection reauthorize %s` to connect\n", nick);
}

/* ---- secret parameters ----------------------------------------------------
 * Never taken from argv (every user's `ps` and the shell history see it):
 * a terminal prompt without echo, a line of stdin, or a file
 * (docs/connections.md, "Secret parameters"). */

static const wfc_field *field_of(const wfc_conn_type_desc *ct,
                                 const char *name) {
  for (const wfc_field *f = ct ? ct->params : NULL; f && f->name; f++)
    if (strcmp(f->name, name) == 0)
      return f;
  return NULL;
}

static int is_secret(const wfc_conn_type_desc *ct, const char *name) {
  const wfc_field *f = field_of(ct, name);
  return f != NULL && (f->flags & WFC_FIELD_SECRET) != 0;
}

static const char safe_ways[] =
    "--secret-stdin %s (one line of stdin), --secret-file %s=PATH (a file "
    "only you may read), or run on a terminal to be asked";

/* The remedy of a missing secret parameter the plugin reported: how to
 * give it here (not --param). Returns 1 when buf holds it. */
static int secret_field_remedy(const wfc_conn_type_desc *ct,
                               json_object *detail, char *buf, size_t len) {
  const char *f = jstr(detail, "field");
  if (*f == '\0' || !is_secret(ct, f))
    return 0;
  int n = snprintf(buf, len, "give the secret %s with ", f);
  if (n > 0 && (size_t)n < len)
    snprintf(buf + n, len - (size_t)n, safe_ways, f, f);
  return 1;
}

/* The secret params of ct, "a, b" (or "none"). */
static void secret_names(const wfc_conn_type_desc *ct, char *buf, size_t len) {
  size_t n = 0;
  buf[0] = '\0';
  for (const wfc_field *f = ct->params; f && f->name && n < len; f++)
    if (f->flags & WFC_FIELD_SECRET)
      n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", f->name);
  if (n == 0)
    snprintf(buf, len, "none");
}

/* The connection type an authorization is for (plugin-owned), or NULL
 * when it is not found (the manager then says so). */
static const wfc_conn_type_desc *auth_type(opts *o, wfc__cli_host *h,
                                           wfc_connmgr *m, const char *type_id,
                                           char *label, size_t len) {
  const wfc_conn_type_desc *ct = NULL;
  wfc_plugin *p = NULL;
  if (o->nickname == NULL) {
    json_object *c = NULL;
    if (wfc_connmgr_show(m, o->name, &c) == 0) {
      char id[256];
      snprintf(id, sizeof id, "%s.%s", jstr(c, "plugin"), jstr(c, "type"));
      wfc_runtime_find_conn_type(h->rt, id, &p, &ct);
    }
    json_object_put(c);
  } else if (type_id != NULL) {
    wfc_runtime_find_conn_type(h->rt, type_id, &p, &ct);
  } else if (o->plugin != NULL) {
    p = wfc_runtime_find_plugin(h->rt, o->plugin);
    if (p != NULL && wfc_plugin_conn_type_count(p) > 0)
      ct = wfc_plugin_conn_type(p, 0);
  }
  if (ct != NULL)
    snprintf(label, len, "%s.%s", wfc_plugin_name(p), ct->id);
  return ct;
}

/* Cleanses the string members of params (borrowed), about to be freed. */
static void wipe_strings(json_object *params) {
  json_object_object_foreach(params, k, v) {
    (void)k;
    if (json_object_is_type(v, json_type_string))
      wfc__cli_secret_wipe(json_object_get_string(v));
  }
}

/* Puts value (transfer: cleansed here) into params as name. */
static void put_secret(json_object *params, const char *name, char *value) {
  json_object_object_add(params, name, json_object_new_string(value));
  wfc__cli_secret_free(value);
}

/* Checks the secret options against ct and reads the values into
 * o->params: files, then stdin lines in the order of the options, then
 * (stdin a terminal, nothing read from it) a prompt for each secret not
 * given: every one of a form, the required ones of a new browser
 * connection. 0, or the command's exit code. */
static int collect_secrets(opts *o, const wfc_conn_type_desc *ct,
                           const char *label) {
  int reauth = o->nickname == NULL;
  char names[512], err[600];
  secret_names(ct, names, sizeof names);
  json_object_object_foreach(o->params, pk, pv) {
    (void)pv;
    if (is_secret(ct, pk)) {
      char ways[400];
      snprintf(ways, sizeof ways, safe_ways, pk, pk);
      return wfc__cli_usage(wfc__cli_usage_connection,
                            "--param %s: %s is a secret parameter of %s; "
                            "it is not taken from the command line, where "
                            "other users' `ps` and the shell history see "
                            "it: give it with %s",
                            pk, pk, label, ways);
    }
  }
  if (ct->flow != WFC_FLOW_BROWSER &&
      (o->print_url || o->login_hint || o->prompt))
    return wfc__cli_usage(wfc__cli_usage_connection,
                          "%s: the connection type %s has no browser "
                          "sign-in (its flow is %s)",
                          o->print_url    ? "--print-url"
                          : o->login_hint ? "--login-hint"
                                          : "--prompt",
                          label, wfc_conn_flow_name(ct->flow));
  char given[2 * MAX_SECRET_OPTS][128];
  int ngiven = 0;
  for (int i = 0; i < o->nfile + o->nstdin; i++) {
    int file = i < o->nfile;
    const char *arg = file ? o->sec_file[i] : o->sec_stdin[i - o->nfile];
    char name[128];
    size_t nl = file ? (size_t)(strchr(arg, '=') - arg) : strlen(arg);
    snprintf(name, sizeof name, "%.*s", (int)nl, arg);
    if (!is_secret(ct, name))
      return wfc__cli_usage(wfc__cli_usage_connection,
                            "--secret-%s %s: %s has no secret parameter "
                            "\"%s\" (its secret parameters: %s)",
                            file ? "file" : "stdin", arg, label, name, names);
    for (int j = 0; j < ngiven; j++)
      if (strcmp(given[j], name) == 0)
        return wfc__cli_usage(wfc__cli_usage_connection,
                              "the secret %s is given twice", name);
    snprintf(given[ngiven++], sizeof given[0], "%s", name);
  }
  /* Read them: files first, then stdin in the options' order. */
  for (int i = 0; i < o->nfile; i++) {
    const char *eq = strchr(o->sec_file[i], '=');
    char name[128], *v = NULL;
    snprintf(name, sizeof name, "%.*s", (int)(eq - o->sec_file[i]),
             o->sec_file[i]);
    if (wfc__cli_secret_file(eq + 1, &v, err, sizeof err) != 0)
      return wfc__cli_error("--secret-file %s: %s", name, err);
    put_secret(o->params, name, v);
  }
  for (int i = 0; i < o->nstdin; i++) {
    char *v = NULL;
    if (wfc__cli_secret_line(&v, err, sizeof err) != 0)
      return wfc__cli_error("--secret-stdin %s: %s (one value per line, in "
                            "the order of the --secret-stdin options)",
                            o->sec_stdin[i], err);
    put_secret(o->params, o->sec_stdin[i], v);
  }
  int tty = o->nstdin == 0 && isatty(STDIN_FILENO);
  for (const wfc_field *f = ct->params; f && f->name; f++) {
    if (!(f->flags & WFC_FIELD_SECRET) ||
        json_object_object_get_ex(o->params, f->name, NULL))
      continue;
    int required = (f->flags & WFC_FIELD_REQUIRED) != 0;
    int ask = tty && (ct->flow == WFC_FLOW_FORM || (required && !reauth));
    if (!ask) {
      if (required && !reauth)
        return wfc__cli_usage(wfc__cli_usage_connection,
                              "%s needs the secret %s: give it with "
                              "--secret-stdin %s (one line of stdin) or "
                              "--secret-file %s=PATH (a file only you may "
                              "read), or run on a terminal to be asked",
                              label, f->name, f->name, f->name);
      continue;
    }
    char prompt[512];
    snprintf(prompt, sizeof prompt, "%s%s%s (secret%s): ", f->name,
             f->description ? " - " : "", f->description ? f->description : "",
             reauth      ? "; Enter keeps the stored one"
             : !required ? "; Enter skips it"
                         : "");
    char *v = NULL;
    if (wfc__cli_secret_ask(prompt, &v, err, sizeof err) != 0)
      return wfc__cli_error("%s: %s", f->name, err);
    if (v[0] == '\0') {
      wfc__cli_secret_free(v);
      if (required && !reauth)
        return wfc__cli_error("%s: nothing entered; it is required", f->name);
      continue;
    }
    put_secret(o->params, f->name, v);
  }
  return 0;
}

static void on_done(void *arg, const wfc_connmgr_result *r) {
  run *x = arg;
  x->done = 1;
  if (strcmp(x->what, "admin-consent") == 0) {
    x->exit_code = r->status == 0 && r->outcome != NULL &&
                           strcmp(r->outcome, "granted") == 0
                       ? WFC_CLI_OK
                       : WFC_CLI_FAIL;
    if (x->o->json) {
      json_object *j = result_json(r);
      wfc__cli_print_json(j);
      json_object_put(j);
    } else if (r->status == 0) {
      print_admin_consent(x, r);
    }
    if (r->status != 0)
      wfc__cli_error("admin consent failed: %s", r->message);
    return;
  }
  int authorize = strcmp(x->what, "authorize") == 0;
  int ok = r->status == 0 &&
           (!authorize || strcmp(r->outcome, WFC_CONN_CONNECTED) == 0);
  x->exit_code = ok ? WFC_CLI_OK : WFC_CLI_FAIL;
  if (x->o->json && r->status == 0) {
    json_object *j = result_json(r);
    wfc__cli_print_json(j);
    json_object_put(j);
    return;
  }
  if (r->status != 0) {
    /* With --json, main prints this as the one error object. */
    wfc__cli_error("%s failed: %s", x->what, r->message);
    const char *remedy = r->remedy ? r->remedy : jstr(r->connection, "remedy");
    const char *nick = jstr(r->connection, "nickname");
    char buf[2048];
    if (*remedy != '\0') {
      remedy = wfc__cli_conn_remedy(*nick ? nick : x->o->name,
                                    jstr(r->connection, "state"), remedy, buf,
                                    sizeof buf);
      fprintf(stderr, "wfc: connection \"%s\" is %s: %s\n",
              *nick ? nick : x->o->name, jstr(r->connection, "state"), remedy);
    } else if (secret_field_remedy(x->ct, r->detail, buf, sizeof buf) ||
               wfc__cli_field_remedy(r->detail, 1, buf, sizeof buf) != NULL) {
      /* A parameter the plugin needs: how to give it here. */
      remedy = buf;
      fprintf(stderr, "wfc: %s\n", remedy);
    }
    wfc__cli_error_info(wfc_err_name(r->status), r->detail, remedy);
    return;
  }
  if (authorize) {
    print_outcome(r);
    if (!ok)
      wfc__cli_error("the connection is not usable yet (%s)", r->outcome);
    return;
  }
  const char *nick = jstr(r->connection, "nickname");
  if (strcmp(x->what, "refresh") == 0) {
    const char *exp = jstr(r->connection, "expires_at");
    if (*exp != '\0' && strcmp(exp, "null") != 0)
      printf("refreshed \"%s\": %s, token valid until %s\n", nick,
             jstr(r->connection, "state"), exp);
    else
      printf("refreshed \"%s\": %s, the token has no stated expiry (it is "
             "used until the service rejects it)\n",
             nick, jstr(r->connection, "state"));
  } else if (strcmp(x->what, "revoke") == 0 || strcmp(x->what, "delete") == 0) {
    print_removed(r, x->what, *nick ? nick : x->o->name);
  } else if (strcmp(x->what, "test") == 0) {
    json_object *h = json_object_object_get(r->detail, "healthy");
    int healthy = h != NULL && json_object_get_boolean(h);
    printf("%s \"%s\": %s%s%s\n", healthy ? "healthy" : "unhealthy", nick,
           jstr(r->connection, "state"),
           *jstr(r->detail, "detail") ? " - " : "", jstr(r->detail, "detail"));
    if (!healthy)
      x->exit_code = WFC_CLI_FAIL;
  }
}

static void on_url(void *arg, const char *url) {
  run *x = arg;
  if (x->o->print_url) {
    printf("%s\n", url);
    fflush(stdout);
  }
  if (!x->o->print_url || !x->o->json)
    fprintf(stderr,
            strcmp(x->what, "admin-consent") == 0
                ? "An administrator of the organization opens this URL in a "
                  "browser to grant the app's permissions:\n\n  %s\n\n"
                  "Waiting for the browser to come back...\n"
                : "Open this URL in a browser to authorize the connection:\n\n"
                  "  %s\n\nWaiting for the browser to come back...\n",
            url);
}

static int cmd_async(opts *o, const char *what) {
  int admin = strcmp(what, "admin-consent") == 0;
  int authorize = strcmp(what, "authorize") == 0 || admin;
  wfc__cli_host h;
  wfc_connmgr *m;
  if (wfc__cli_connmgr_open(&h, o->store, o->plugin_dir, 1, NULL, &m) != 0)
    return WFC_CLI_FAIL;
  run x = {.o = o, .what = what, .exit_code = WFC_CLI_FAIL};
  int rc;
  if (authorize) {
    wfc_authorize_req req = {.size = sizeof req,
                             .conn_type = NULL,
                             .plugin = o->plugin,
                             .nickname = o->nickname,
                             .reauthorize = o->nickname ? NULL : o->name,
                             .environment = o->env,
                             .params = o->params,
                             .login_hint = o->login_hint,
                             .prompt = o->prompt,
                             .timeout_ms = o->timeout_ms,
                             .on_url = on_url,
                             .on_done = on_done,
                             .arg = &x,
                             .allow_account_change = o->allow_account_change,
                             .admin_consent = admin};
    /* A new connection lets the person choose the account (OpenID
     * Connect's prompt=select_account) rather than silently take the one
     * the browser is signed in with; a hint or an explicit prompt wins. */
    if (o->nickname != NULL && o->prompt == NULL && o->login_hint == NULL)
      req.prompt = "select_account";
    char type_id[256];
    if (o->type != NULL) {
      if (strchr(o->type, '.') == NULL && o->plugin != NULL)
        snprintf(type_id, sizeof type_id, "%s.%s", o->plugin, o->type);
      else
        snprintf(type_id, sizeof type_id, "%s", o->type);
      req.conn_type = type_id;
    }
    char label[256];
    x.ct =
        admin ? NULL : auth_type(o, &h, m, req.conn_type, label, sizeof label);
    if (x.ct != NULL) {
      int crc = collect_secrets(o, x.ct, label);
      if (crc != 0) {
        wfc__cli_connmgr_close(&h, m);
        return crc;
      }
      if (x.ct->flow != WFC_FLOW_BROWSER)
        req.prompt = NULL; /* the default select_account: a browser's */
    }
    rc = wfc_connmgr_authorize(m, &req);
    if (rc == WFC_EEXIST)
      wfc__cli_error("a connection named \"%s\" exists already (use `wfc "
                     "connection reauthorize %s` to authorize it again)",
                     o->nickname, o->nickname);
    else if (rc == WFC_ENOTFOUND && o->nickname != NULL && o->type != NULL)
      wfc__cli_error("no connection type %s among the loaded plugins "
                     "(plugins searched in %s)",
                     o->type, wfc__cli_searched(&h));
    else if (rc == WFC_ENOTFOUND && o->nickname != NULL)
      wfc__cli_error("no connection type of plugin %s among the loaded "
                     "plugins (plugins searched in %s)",
                     o->plugin, wfc__cli_searched(&h));
    else if (rc != 0)
      not_found(rc, o->name ? o->name : o->nickname);
  } else if (strcmp(what, "refresh") == 0) {
    rc = wfc_connmgr_refresh(m, o->name, on_done, &x);
  } else if (strcmp(what, "revoke") == 0) {
    rc = wfc_connmgr_revoke(m, o->name, on_done, &x);
  } else if (strcmp(what, "delete") == 0) {
    rc = wfc_connmgr_delete(m, o->name, on_done, &x);
  } else {
    rc = wfc_connmgr_test(m, o->name, on_done, &x);
  }
  if (rc != 0 && !authorize) {
    if (rc == WFC_EREAUTH || rc == WFC_ECONSENT || rc == WFC_EAUTH) {
      json_object *c = NULL;
      wfc_connmgr_show(m, o->name, &c);
      char buf[2048];
      wfc__cli_conn_remedy(o->name, jstr(c, "state"), jstr(c, "remedy"), buf,
                           sizeof buf);
      wfc__cli_error("connection \"%s\" is %s: %s", o->name, jstr(c, "state"),
                     buf);
      wfc__cli_error_info(wfc_err_name(rc), NULL, buf);
      json_object_put(c);
    } else {
      not_found(rc, o->name);
    }
  }
  if (rc == 0)
    while (!x.done && uv_run(&h.loop, UV_RUN_ONCE) != 0)
      ;
  wfc__cli_connmgr_close(&h, m);
  return rc == 0 ? x.exit_code : WFC_CLI_FAIL;
}

int wfc__cli_connection(int argc, char **argv) {
  if (argc < 2)
    return wfc__cli_usage(wfc__cli_usage_connection,
                          "connection: missing command");
  const char *cmd = argv[1];
  opts o;
  int rc = parse(argc - 1, argv + 1, &o);
  if (rc != 0) {
    json_object_put(o.params);
    return rc;
  }
  static const char *const known[] = {
      "new",    "list",   "show", "reauthorize",   "refresh",
      "revoke", "delete", "test", "admin-consent", NULL};
  int k = 0;
  while (known[k] != NULL && strcmp(known[k], cmd) != 0)
    k++;
  int need_name = strcmp(cmd, "new") != 0 && strcmp(cmd, "list") != 0;
  if (known[k] == NULL)
    rc = wfc__cli_usage(wfc__cli_usage_connection,
                        "connection: unknown command \"%s\"", cmd);
  else if (need_name && o.name == NULL)
    rc = wfc__cli_usage(wfc__cli_usage_connection,
                        "connection %s: missing NAME", cmd);
  else if (!need_name && o.name != NULL)
    rc = wfc__cli_usage(wfc__cli_usage_connection,
                        "connection %s: unexpected \"%s\"", cmd, o.name);
  else if (strcmp(cmd, "new") == 0) {
    if (o.plugin == NULL && o.type == NULL)
      rc = wfc__cli_usage(wfc__cli_usage_connection,
                          "connection new: --plugin is required");
    else if (o.nickname == NULL || *o.nickname == '\0')
      rc = wfc__cli_usage(wfc__cli_usage_connection,
                          "connection new: --nickname is required");
    else
      rc = cmd_async(&o, "authorize");
  } else if ((o.nstdin || o.nfile) && strcmp(cmd, "reauthorize") != 0) {
    rc = wfc__cli_usage(wfc__cli_usage_connection,
                        "connection %s: --secret-stdin and --secret-file are "
                        "for new and reauthorize",
                        cmd);
  } else if (o.allow_account_change && strcmp(cmd, "reauthorize") != 0) {
    rc = wfc__cli_usage(wfc__cli_usage_connection,
                        "connection %s: --allow-account-change is for "
                        "reauthorize",
                        cmd);
  } else if (strcmp(cmd, "reauthorize") == 0) {
    o.nickname = NULL;
    rc = cmd_async(&o, "authorize");
  } else if (strcmp(cmd, "admin-consent") == 0) {
    o.nickname = NULL;
    rc = cmd_async(&o, "admin-consent");
  } else if (strcmp(cmd, "list") == 0) {
    rc = cmd_list(&o);
  } else if (strcmp(cmd, "show") == 0) {
    rc = cmd_show(&o);
  } else if (strcmp(cmd, "refresh") == 0 || strcmp(cmd, "revoke") == 0 ||
             strcmp(cmd, "delete") == 0 || strcmp(cmd, "test") == 0) {
    rc = cmd_async(&o, cmd);
  } else {
    rc = wfc__cli_usage(wfc__cli_usage_connection,
                        "connection: unknown command \"%s\"", cmd);
  }
  /* The secrets read (and anything else given) are cleansed before the
   * memory goes back to the heap. */
  wipe_strings(o.params);
  json_object_put(o.params);
  return rc;
}
