/* cli.h - shared pieces of the `wfc` command line (the reference host).
 *
 * main.c dispatches `wfc <group> <command> ...` to one function per
 * group, each in its own file cli/<group>.c (compiled into the wfc
 * executable only, not into libwfc). A new group is a new file plus one
 * line in main.c's table. The CLI uses only the public API
 * (wfc/host.h), like any other host.
 *
 * Conventions every command follows: --json for machine output on stdout;
 * errors on stderr as one line "wfc: ..." and a non-zero exit (1: the
 * command failed, 2: usage); with --json the error also goes to stdout as
 * one object {"error":{"code","message","detail","remedy"}} (main prints
 * what wfc__cli_error/_usage/_error_info collected, at exit). `--help`
 * (or -h) anywhere prints the group's usage, which lists every option its
 * commands parse (tests/docs/test_cli_help.c checks it).
 */
#ifndef WFC_SDK_CLI_H
#define WFC_SDK_CLI_H

#include <stdio.h>

#include <uv.h>

#include "wfc/host.h"

enum { WFC_CLI_OK = 0, WFC_CLI_FAIL = 1, WFC_CLI_USAGE = 2 };

/* A command group: argv[0] is the group name, argv[1] the command. */
typedef struct wfc__cli_group {
  const char *name;
  const char *summary;
  int (*run)(int argc, char **argv);
  /* Its usage, every option (`wfc --help`, `wfc GROUP --help`); a
   * second text for a command that has its own (card run), or NULL. */
  const char *usage[2];
} wfc__cli_group;

int wfc__cli_plugin(int argc, char **argv);
int wfc__cli_card(int argc, char **argv);
int wfc__cli_connection(int argc, char **argv); /* connection.c */
int wfc__cli_card_run(int argc, char **argv);   /* run.c: `card run` */
int wfc__cli_blob(int argc, char **argv);       /* blob.c */
int wfc__cli_docs(int argc, char **argv);       /* docs.c */
int wfc__cli_event(int argc, char **argv);      /* event.c */
int wfc__cli_flow(int argc, char **argv);       /* flow.c */
int wfc__cli_store(int argc, char **argv);      /* store.c */

/* Each group's usage text (its file): every command and option. */
extern const char wfc__cli_usage_plugin[], wfc__cli_usage_card[],
    wfc__cli_usage_card_run[], wfc__cli_usage_connection[],
    wfc__cli_usage_event[], wfc__cli_usage_flow[], wfc__cli_usage_blob[],
    wfc__cli_usage_docs[], wfc__cli_usage_store[];

/* "wfc: <message>" on stderr (and, with --json, the message of the JSON
 * error main prints at exit; the first one wins). Returns WFC_CLI_FAIL. */
int wfc__cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Usage error: message and the group's usage on stderr; WFC_CLI_USAGE. */
int wfc__cli_usage(const char *usage, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* The usage error of a getopt_long failure at arg (argv[optind - 1]: an
 * unknown option, or one without its value): "{group} {cmd}: unknown or
 * incomplete option \"{arg}\"" (group, cmd NULL: left out). */
int wfc__cli_bad_option(const char *usage, const char *group, const char *cmd,
                        const char *arg);

/* Set by main when --json is on the command line; 1 while it is. */
void wfc__cli_json_errors(int on);
int wfc__cli_json_mode(void);
/* With --json: the code (e.g. wfc_err_name), detail (borrowed; a
 * reference is taken) and remedy of the error being reported; each is
 * kept from its first non-NULL value. Nothing without --json. */
struct json_object;
void wfc__cli_error_info(const char *code, struct json_object *detail,
                         const char *remedy);
/* main, after the command: with --json and rc != 0, prints the collected
 * error as one JSON object on stdout (when a message was collected: a
 * command that printed its own JSON result has none). Resets. */
void wfc__cli_error_flush(int rc, const char *group);
/* Prints "usage:" and usage on stdout; WFC_CLI_OK. */
int wfc__cli_help(const char *usage);
/* The lines every help ends with (--help, --json errors). */
void wfc__cli_help_footer(void);
/* 1 when argv[1..] holds --help or -h (before any "--"). */
int wfc__cli_wants_help(int argc, char **argv);

/* A loop and a runtime for one command. */
typedef struct wfc__cli_host {
  uv_loop_t loop;
  wfc_runtime *rt;
  int load_failures;
  int quiet; /* do not print load failures */
  /* The plugin directories wfc__cli_load_plugins read (", "-separated),
   * named in "not found" messages. */
  char searched[4096];
} wfc__cli_host;

int wfc__cli_host_open(wfc__cli_host *h);

/* Plugin settings of the command line, before the group (main.c):
 * `--setting PLUGIN.KEY=VALUE` (repeatable) and `--settings FILE`
 * ({"PLUGIN": {"KEY": VALUE, ...}, ...}; a file keeps secrets off the
 * command line). Parsed and checked at once (0, or WFC_CLI_USAGE with
 * the error printed); given to every runtime the command opens. */
int wfc__cli_setting_arg(const char *opt, const char *value);
/* Checks them as a runtime would (wfc_plugin_settings_check: plugin name,
 * keys, values), for every command before it starts, whether it opens a
 * runtime or not: 0, or WFC_CLI_FAIL with the error printed. */
int wfc__cli_check_settings(void);
/* Gives them to rt: 0, or WFC_CLI_FAIL with the error printed. */
int wfc__cli_apply_settings(wfc_runtime *rt);
/* Drops them (main, at exit). */
void wfc__cli_settings_free(void);
/* Shuts the runtime down (wfc_runtime_shutdown: the connection manager and
 * event watches still open on it too) and closes the loop. */
void wfc__cli_host_close(wfc__cli_host *h);

/* Loads the plugins of the plugin path: dir when given, else every
 * directory of $WFC_PLUGIN_PATH (colon-separated), else those of
 * "<directory of wfc>/../lib/wfc/plugins" (installed) and
 * "<directory of wfc>/../plugins" (build tree) that exist. Load failures
 * are reported on stderr ("wfc: warning: ...") and counted. Returns the
 * number loaded or a negative code. */
int wfc__cli_load_plugins(wfc__cli_host *h, const char *dir);
/* The directories the last wfc__cli_load_plugins searched, for messages
 * ("card x not found; plugins searched in: ..."). Borrowed from h. */
const char *wfc__cli_searched(const wfc__cli_host *h);

/* A CLI host plus the connection manager on the store (NULL: WFC_STORE or
 * the default), loading plugins first when load is set, with the blob store
 * in blob_dir (NULL: none) (connection.c). Returns 0, or WFC_CLI_FAIL
 * with the error printed. */
struct wfc_connmgr;
int wfc__cli_connmgr_open(wfc__cli_host *h, const char *store,
                          const char *plugin_dir, int load,
                          const char *blob_dir, struct wfc_connmgr **m);
/* Closes the manager, then the host. */
void wfc__cli_connmgr_close(wfc__cli_host *h, struct wfc_connmgr *m);

/* A card input from --input: JSON text, or @file (@- for stdin), parsed by
 * the SDK's parser (json.h: strings must be text); root ("input", or NULL
 * for a flow file) heads the paths in its messages. Transfer; NULL when it
 * is not a JSON object (the error printed, naming the field and byte). */
struct json_object *wfc__cli_read_input(const char *arg, const char *root);
/* After a call on connection conn failed with status: when the status is
 * about the connection (WFC_EREAUTH, WFC_ECONSENT, WFC_EAUTH), one line
 * with its state and remedy on stderr; for WFC_EKEY, wfc__cli_tampered. */
void wfc__cli_say_remedy(struct wfc_connmgr *m, const char *conn, int status);
/* The one line for WFC_EKEY about connection conn (as the user named it):
 * its store record (what: NULL, or which part, e.g. its event checkpoint)
 * does not verify; nothing was sent; what to do. Returns WFC_CLI_FAIL. */
int wfc__cli_tampered(const char *conn, const char *what);

/* The remedy of connection nick (as the user named it) in state, as a
 * person reads it here: the plugin's words (remedy, may be NULL or "")
 * and, for every state a reauthorization settles, the command to run
 * (`wfc connection reauthorize NICK`). Into buf; returns buf ("" for a
 * connected connection with no remedy). */
const char *wfc__cli_conn_remedy(const char *nick, const char *state,
                                 const char *remedy, char *buf, size_t len);
/* For an error whose detail names a field the user must give
 * ({"field": NAME}, docs/abi.md): how to give it on this command line, as
 * a connection parameter (as_param) or in the card's --input. Into buf;
 * NULL when the detail names none. */
const char *wfc__cli_field_remedy(struct json_object *detail, int as_param,
                                  char *buf, size_t len);

/* What the polling commands (event watch, flow run) share: the pause
 * between polls and SIGINT/SIGTERM, on the host's loop. Set interval_ms
 * (0: 30 s), on_tick and on_signal (both get arg), then start. */
typedef struct wfc__cli_pacer {
  uv_timer_t timer;
  uv_signal_t sig[2];
  uint64_t interval_ms;
  void (*on_tick)(void *arg);
  void (*on_signal)(void *arg);
  void *arg;
} wfc__cli_pacer;
void wfc__cli_pacer_start(wfc__cli_pacer *p, uv_loop_t *loop);
/* on_tick once, interval_ms from now. */
void wfc__cli_pacer_later(wfc__cli_pacer *p);
/* No more ticks or signals. */
void wfc__cli_pacer_stop(wfc__cli_pacer *p);
void wfc__cli_pacer_close(wfc__cli_pacer *p);
/* The subscription lease of a polling command (docs/fleet.md, "Triggers
 * shared by a fleet"): twice the pause between polls (0: 30 s) plus 30 s,
 * so that a live watcher renews it well before it expires. */
uint64_t wfc__cli_sub_lease_ms(uint64_t interval_ms);
/* A poll refused with WFC_EBUSY: another watcher holds the subscription.
 * Says so on stderr the first time (*standby set), else nothing. */
void wfc__cli_standby(int *standby, const char *what, const char *conn);
/* --interval S (seconds, 0.01 to 86400) in ms. 0, or -1 when malformed. */
int wfc__cli_interval(const char *arg, uint64_t *ms);

/* Prints v (borrowed) as pretty JSON and a newline on stdout. */
void wfc__cli_print_json(struct json_object *v);
/* v and a newline on stdout, indented (pretty) or compact, written as it
 * is made (sdk/json.h wfc__json_write). 0 or WFC_EIO / WFC_ENOMEM. */
int wfc__cli_write_json(struct json_object *v, int pretty);

/* Prints a schema table as indented text lines. */
void wfc__cli_print_schema(FILE *f, const wfc_field *fields, int indent);

#endif
