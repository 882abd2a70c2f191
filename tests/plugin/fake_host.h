/* fake_host.h - an in-process stand-in for the host's services table, for
 * the plugin's unit tests: scripted HTTP responses, virtual time, recorded
 * calls. Everything runs synchronously in fake_run(); nothing listens on a
 * socket. Used by tests/plugin/test_*.c only. */
#ifndef O365_TEST_FAKE_HOST_H
#define O365_TEST_FAKE_HOST_H

#include <stddef.h>
#include <stdint.h>

#include <json-c/json.h>
#include <wfc/plugin.h>

typedef struct fake_req {
  char *method;
  char *url;
  char **headers; /* NULL-terminated copies */
  char *body;
  size_t body_len;
  int64_t at_ms; /* virtual time when it was sent */
} fake_req;

struct wfc_call {
  struct json_object *input; /* owned */
  wfc_conn *conn;
  int done;   /* call_done count */
  int failed; /* call_fail count */
  int fail_code;
  char message[2048];
  struct json_object *output; /* owned */
  struct json_object *detail; /* owned */
  void (*cancel_cb)(void *);
  void *cancel_arg;
};

struct wfc_conn {
  struct json_object *params; /* owned */
  const char *token;          /* current access token */
  const char *next_token;     /* handed out after a rejection */
  int token_error;            /* conn_token answers this when non-zero */
  int token_calls;
  int rejected;
};

/* Resets everything and installs the fake table as o365_api. */
void fake_reset(void);
const wfc_host_api *fake_api(void);
void fake_teardown(void);

/* Scripts the next HTTP response (FIFO). headers: "Name: v\nName: v". */
void fake_http_push(long status, const char *headers, const char *body);
void fake_http_push_error(int error);
size_t fake_http_count(void);
/* Most HTTP requests ever in flight at once since fake_reset(). */
size_t fake_http_max_inflight(void);
const fake_req *fake_http_req(size_t i);
/* Value of a request header (case-insensitive), or NULL. */
const char *fake_req_header(const fake_req *r, const char *name);
/* Value of a form field / query parameter, decoded (static buffer). */
const char *fake_param(const char *encoded, const char *name);
size_t fake_http_pending(void); /* scripted responses not yet used */

/* Runs queued events (HTTP answers, timers, tokens) in time order,
 * advancing virtual time, until none is left. */
void fake_run(void);
/* Runs only the next event; 0 when there was none. */
int fake_step(void);
int64_t fake_now_ms(void);
void fake_set_now_ms(int64_t t);
/* Virtual time spent waiting in timers since fake_reset(). */
int64_t fake_waited_ms(void);

wfc_call *fake_call_new(struct json_object *input /* transfer */,
                        wfc_conn *conn);
void fake_call_free(wfc_call *c);
/* Runs the call's cancel callback (as the host would). */
void fake_call_cancel(wfc_call *c);
wfc_conn *fake_conn_new(struct json_object *params /* transfer */,
                        const char *token);
void fake_conn_free(wfc_conn *c);

int fake_is_secret(const char *value);
/* 1 when the plugin passed value to secret_forget (ABI 1.1). */
int fake_was_forgotten(const char *value);
const char *fake_log(void);

/* Cards and connection types registered through the table. */
size_t fake_registered_cards(void);
const wfc_card_desc *fake_card(size_t i);
const wfc_conn_type_desc *fake_conn_type(void);
/* The i-th connection type registered (0: the first), or NULL. */
const wfc_conn_type_desc *fake_conn_type_at(int i);

#endif
