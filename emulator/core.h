/* core.h - private to the emulator core (server, router, admin, faults,
 * throttle, main). Modules use emu.h only. */
#ifndef EMU_CORE_H
#define EMU_CORE_H

#include "emu.h"

#include <microhttpd.h>

#define EMU_MAX_CAPTURES 8

typedef struct emu_kv {
  char *name;
  char *value;
} emu_kv;

typedef struct emu_kvv {
  emu_kv *v;
  size_t n;
} emu_kvv;

enum emu_resp_kind {
  EMU_RESP_NONE = 0,
  EMU_RESP_BUF,
  EMU_RESP_STREAM,
  EMU_RESP_FD,
};

typedef struct emu_resp {
  enum emu_resp_kind kind;
  int status;
  emu_kvv headers;
  char *ctype;
  char *buf; /* BUF: owned */
  size_t len;
  emu_read_fn read; /* STREAM */
  void *ctx;
  void (*free_fn)(void *);
  int64_t size; /* STREAM/FD; -1 unknown */
  int fd;       /* FD: owned */
  uint64_t offset;
} emu_resp;

/* What the fault injector decided for one request. */
enum emu_fault_kind {
  EMU_FAULT_NONE = 0,
  EMU_FAULT_STATUS,    /* answer status (+Retry-After, code); no handler */
  EMU_FAULT_RESET,     /* close the connection with RST, no response */
  EMU_FAULT_TRUNCATE,  /* send half the body, then close */
  EMU_FAULT_MALFORMED, /* send a cut (invalid) JSON body */
  EMU_FAULT_DELAY,     /* only a delay */
  EMU_FAULT_NEXTLINK,  /* a JSON success body's @odata.nextLink replaced */
};

typedef struct emu_fault_hit {
  enum emu_fault_kind kind;
  int status;
  int retry_after;           /* -1: no header (unless retry_after_date) */
  char retry_after_date[40]; /* an HTTP-date sent as it is, or "" */
  char code[64];
  int delay_ms;
  int after_handler;   /* RESET: the handler runs, then the connection drops */
  char next_link[256]; /* NEXTLINK: the value put in @odata.nextLink */
} emu_fault_hit;

typedef struct emu_route emu_route;

struct emu_req {
  struct MHD_Connection *conn;
  char *raw_uri;
  char *method;
  char *path;        /* raw, no query */
  const char *query; /* raw, no "?"; points into raw_uri */
  emu_kvv qv;
  int q_parsed;
  emu_kvv form;
  int form_parsed;
  const emu_route *route;
  emu_kv caps[EMU_MAX_CAPTURES];
  size_t ncaps;
  char request_id[37];
  char *client_request_id;
  char correlation_id[37]; /* identity errors' when no client-request-id */
  char *base_url;
  char *body;
  size_t body_len, body_cap;
  json_object *json;
  int json_parsed;
  int started;
  int handled;      /* handler (or sink end) already ran */
  int discard_body; /* a response is set before the body is read */
  int queued;       /* the response went to MHD */
  emu_body_sink sink;
  int has_sink;
  emu_resp resp;
  void *data;
  void (*data_free)(void *);
  emu_fault_hit fault;
  void *throttle_ticket;
  int64_t started_ms;
  emu_kvv hdr_over; /* sub-requests ($batch): headers that override the
                       connection's (names compared case-insensitively) */
};

/* router.c */
int emu__router_match(emu_req *r); /* 0: route found; -1: resp set */
void emu__router_run(emu_req *r);  /* calls the handler, lock held */
unsigned emu__route_flags(const emu_route *rt);
const char *emu__route_pattern(const emu_route *rt);
int emu__modules_init(void);
void emu__router_shutdown(void);
void emu__kvv_parse(emu_kvv *out, const char *s, size_t len);
void emu__kvv_free(emu_kvv *kv);
const char *emu__kvv_get(const emu_kvv *kv, const char *name);

/* server.c */
typedef struct emu_server_opts {
  int port;
  const char *tls_cert; /* PEM file paths; both or none */
  const char *tls_key;
} emu_server_opts;
int emu__server_start(const emu_server_opts *o);
int emu__server_port(void);
void emu__server_stop(void);
void emu__resp_clear(emu_resp *resp);
/* Frees a request and everything it holds (server.c; also the
 * sub-requests of subreq.c). locked: the caller holds the emulator lock,
 * which the throttling release takes itself, so it is let go around it. */
void emu__req_free(emu_req *r, int locked);
int emu__lock_held(void); /* 1 if this thread holds the global lock */

/* admin.c */
void emu__stats_record(const char *method, const char *route, int status);
void emu__stats_reset(void);
void emu__reset_hooks_run(void);
typedef struct emu__state_hook {
  const char *name;
  emu_state_save_fn save;
  emu_state_load_fn load;
} emu__state_hook;
/* The registered state hooks (emu_state_hook_add), in registration order;
 * their count in *n. Borrowed. */
const emu__state_hook *emu__state_hooks(size_t *n);
int emu__admin_init(void);

/* faults.c */
void emu__fault_take(emu_req *r);
void emu__faults_clear(void);
const char *emu__fault_default_code(int status, int identity);
/* Graph's error message for an injected status, NULL when none is known
 * (the answer then says "Injected fault"). */
const char *emu__fault_default_message(int status);
int emu__faults_init(void);

/* throttle.c */
void emu__throttle_release(emu_req *r);
void emu__throttle_reset(void);
int emu__throttle_init(void);

/* util.c */
void emu__seed(uint64_t seed);

#endif /* EMU_CORE_H */
