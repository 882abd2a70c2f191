/* test_secrets.c - what must never leak, checked from outside with the
 * real `wfc`, the real plugin and the emulator.
 *
 * A recording reverse proxy (libmicrohttpd + libcurl, in this process)
 * sits between the plugin and the emulator: O365MAIL_AUTHORITY_URL and
 * O365MAIL_GRAPH_URL point at it, so it sees every request the plugin
 * makes. It gives the canaries (authorization code and PKCE verifier from
 * the token POSTs, access and refresh tokens from their answers) and shows
 * where the verifier went.
 *
 *   - a wrong or replayed `state` on the redirect: refused (400, the
 *     command keeps waiting), no token request reaches the emulator;
 *   - the verifier is sent only in the authorization_code token POST;
 *   - connect + card + refresh + revoke with WFC_LOG=debug: no canary in
 *     any CLI output or in the store directory's files;
 *   - CR/LF in a header of custom_api_action: refused before sending. */
#define _GNU_SOURCE /* memmem, strndup, setenv, strcasecmp */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/stat.h>

#include <microhttpd.h>

#include "../scenarios/scen.h"

/* ---- The recording proxy ------------------------------------------- */

typedef struct rec {
  char *method, *uri, *body, *answer; /* what went through, owned */
  char *bearer;                       /* Authorization value, or NULL */
} rec;

static struct {
  struct MHD_Daemon *d;
  char url[64];
  const char *upstream; /* the emulator's base URL (borrowed) */
  pthread_mutex_t mu;
  rec recs[512];
  size_t n;
} px = {.mu = PTHREAD_MUTEX_INITIALIZER};

typedef struct pconn {
  char *uri;
  char *body;
  size_t len;
  int started; /* MHD's first call carries no body yet */
  struct curl_slist *hdrs;
} pconn;

static void *px_uri(void *cls, const char *uri, struct MHD_Connection *c) {
  (void)cls, (void)c;
  pconn *pc = calloc(1, sizeof *pc);
  pc->uri = strdup(uri);
  pc->body = calloc(1, 1);
  return pc;
}

static enum MHD_Result px_hdr(void *cls, enum MHD_ValueKind kind, const char *k,
                              const char *v) {
  (void)kind;
  pconn *pc = cls;
  static const char *const skip[] = {
      "Host",   "Content-Length",  "Connection", "Transfer-Encoding",
      "Expect", "Accept-Encoding", NULL};
  for (int i = 0; skip[i]; i++)
    if (strcasecmp(k, skip[i]) == 0)
      return MHD_YES;
  char line[8192];
  snprintf(line, sizeof line, "%s: %s", k, v ? v : "");
  pc->hdrs = curl_slist_append(pc->hdrs, line);
  return MHD_YES;
}

typedef struct buf {
  char *p;
  size_t n;
} buf;

static size_t px_write(char *d, size_t s, size_t n, void *arg) {
  buf *b = arg;
  char *q = realloc(b->p, b->n + s * n + 1);
  if (q == NULL)
    return 0;
  memcpy(q + b->n, d, s * n);
  b->n += s * n;
  q[b->n] = '\0';
  b->p = q;
  return s * n;
}

static size_t px_header(char *d, size_t s, size_t n, void *arg) {
  return px_write(d, s, n, arg);
}

static enum MHD_Result px_handle(void *cls, struct MHD_Connection *c,
                                 const char *url, const char *method,
                                 const char *version, const char *up,
                                 size_t *up_size, void **con_cls) {
  (void)cls, (void)url, (void)version;
  pconn *pc = *con_cls;
  if (!pc->started) {
    pc->started = 1;
    return MHD_YES;
  }
  if (*up_size > 0) {
    pc->body = realloc(pc->body, pc->len + *up_size + 1);
    memcpy(pc->body + pc->len, up, *up_size);
    pc->len += *up_size;
    pc->body[pc->len] = '\0';
    *up_size = 0;
    return MHD_YES;
  }
  if (pc->hdrs == NULL)
    MHD_get_connection_values(c, MHD_HEADER_KIND, px_hdr, pc);
  pc->hdrs = curl_slist_append(pc->hdrs, "Expect:");
  char target[8192];
  snprintf(target, sizeof target, "%s%s", px.upstream, pc->uri);
  CURL *h = curl_easy_init();
  buf body = {calloc(1, 1), 0}, hdrs = {calloc(1, 1), 0};
  curl_easy_setopt(h, CURLOPT_URL, target);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, pc->hdrs);
  if (pc->len > 0 || strcmp(method, "POST") == 0 ||
      strcmp(method, "PATCH") == 0 || strcmp(method, "PUT") == 0) {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, pc->body);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)pc->len);
  }
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, px_write);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, px_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &hdrs);
  long status = 502;
  if (curl_easy_perform(h) == CURLE_OK)
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_cleanup(h);

  pthread_mutex_lock(&px.mu);
  if (px.n < sizeof px.recs / sizeof px.recs[0]) {
    rec *r = &px.recs[px.n++];
    r->method = strdup(method);
    r->uri = strdup(pc->uri);
    r->body = strdup(pc->body);
    r->answer = strdup(body.p);
    const char *az =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    r->bearer = az ? strdup(az) : NULL;
  }
  pthread_mutex_unlock(&px.mu);

  struct MHD_Response *resp =
      MHD_create_response_from_buffer(body.n, body.p, MHD_RESPMEM_MUST_FREE);
  /* Headers worth passing back (the last block after redirects: none). */
  static const char *const keep[] = {"Content-Type", "Location", "Retry-After",
                                     "WWW-Authenticate", NULL};
  for (char *line = strtok(hdrs.p, "\r\n"); line; line = strtok(NULL, "\r\n")) {
    char *colon = strchr(line, ':');
    if (colon == NULL)
      continue;
    *colon = '\0';
    for (int i = 0; keep[i]; i++)
      if (strcasecmp(line, keep[i]) == 0)
        MHD_add_response_header(resp, keep[i],
                                colon + 1 + strspn(colon + 1, " "));
  }
  free(hdrs.p);
  enum MHD_Result ok = MHD_queue_response(c, (unsigned)status, resp);
  MHD_destroy_response(resp);
  return ok;
}

static void px_done(void *cls, struct MHD_Connection *c, void **con_cls,
                    enum MHD_RequestTerminationCode t) {
  (void)cls, (void)c, (void)t;
  pconn *pc = *con_cls;
  if (pc == NULL)
    return;
  curl_slist_free_all(pc->hdrs);
  free(pc->uri);
  free(pc->body);
  free(pc);
  *con_cls = NULL;
}

static void px_start(void) {
  struct sockaddr_in sa = {.sin_family = AF_INET,
                           .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  px.upstream = base();
  px.d = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0, NULL,
      NULL, px_handle, NULL, MHD_OPTION_SOCK_ADDR, &sa,
      MHD_OPTION_URI_LOG_CALLBACK, px_uri, NULL, MHD_OPTION_NOTIFY_COMPLETED,
      px_done, NULL, MHD_OPTION_END);
  assert_non_null(px.d);
  const union MHD_DaemonInfo *i =
      MHD_get_daemon_info(px.d, MHD_DAEMON_INFO_BIND_PORT);
  snprintf(px.url, sizeof px.url, "http://127.0.0.1:%u", (unsigned)i->port);
  char graph[128];
  snprintf(graph, sizeof graph, "%s/v1.0", px.url);
  setenv("O365MAIL_AUTHORITY_URL", px.url, 1);
  setenv("O365MAIL_GRAPH_URL", graph, 1);
}

static void px_stop(void) {
  if (px.d)
    MHD_stop_daemon(px.d);
  px.d = NULL;
  for (size_t i = 0; i < px.n; i++) {
    free(px.recs[i].method), free(px.recs[i].uri);
    free(px.recs[i].body), free(px.recs[i].answer);
    free(px.recs[i].bearer);
  }
  px.n = 0;
}

static int up(void **state) {
  if (sc_up(state) != 0)
    return -1;
  px_start();
  return 0;
}

static int down(void **state) {
  px_stop();
  unsetenv("WFC_LOG");
  sc_on_output = NULL;
  return sc_down(state);
}

/* The browser signs in and accepts; the final redirect (to the CLI's
 * listener) is returned in *out. The authorize URL points at the proxy:
 * the sign-in page's forms post to the emulator itself. */
static void browse(const char *url, const char *upn, const char *pw,
                   tresp *out) {
  tclient *b = sc_browser();
  tresp page;
  sc_open(b, url, upn, pw, &page);
  if (is_page(&page, "consent")) {
    consent(b, &page, 1, 0, out);
    tresp_free(&page);
  } else {
    *out = page;
  }
  tclient_free(b);
}

/* Form field name of the body of a recorded request (malloc'd) or NULL. */
static char *form_field(const char *body, const char *name) {
  char url[16384];
  snprintf(url, sizeof url, "x:/?%s", body);
  return tclient_url_param(url, name);
}

/* Number of recorded token POSTs. */
static size_t token_posts(void) {
  size_t n = 0;
  pthread_mutex_lock(&px.mu);
  for (size_t i = 0; i < px.n; i++)
    if (strstr(px.recs[i].uri, "/oauth2/v2.0/token") != NULL)
      n++;
  pthread_mutex_unlock(&px.mu);
  return n;
}

/* GET loc on the listener with its state replaced by `state`. */
static long deliver_with_state(const char *loc, const char *state) {
  char url[8192];
  const char *s = strstr(loc, "state=");
  assert_non_null(s);
  const char *end = strchr(s, '&');
  snprintf(url, sizeof url, "%.*sstate=%s%s", (int)(s - loc), loc, state,
           end ? end : "");
  return wuser_get_status(url);
}

/* The listener's URL of redirect r, re-pointed at the port of the loopback
 * redirect_uri in authorize URL url (a replay into another attempt). */
static char *retarget(const char *loc, const char *url) {
  char *ru = tclient_url_param(url, "redirect_uri");
  assert_non_null(ru);
  const char *q = strchr(loc, '?');
  assert_non_null(q);
  size_t n = strlen(ru) + strlen(q) + 1;
  char *out = malloc(n);
  snprintf(out, n, "%s%s", ru, q);
  free(ru);
  return out;
}

/* A wrong state on the redirect is refused before any token request, and
 * the command keeps waiting: the real redirect then connects. A redirect
 * replayed (code and state of that earlier attempt) into a new attempt is
 * refused the same way; that attempt ends at its timeout. */
static void wrong_or_replayed_state_refused(void **state) {
  (void)state;
  wproc p;
  char url[4096];
  tresp done;
  long tok0 = sc_token_requests();
  sc_new(&p, "alice", "preview", url, sizeof url);
  browse(url, ALICE_UPN, ALICE_PW, &done);
  assert_int_equal(done.status, 302);
  char *loc = strdup(tresp_header(&done, "Location"));
  tresp_free(&done);
  long st = deliver_with_state(loc, "forged-state");
  assert_int_equal(st, 400);
  assert_true(wproc_running(&p));
  assert_int_equal(sc_token_requests(), tok0);
  assert_int_equal(token_posts(), 0);
  /* The code itself is still unused: the real redirect redeems it. */
  assert_int_equal(wuser_get_status(loc), 200);
  assert_int_equal(sc_finish(&p), 0);
  long tok1 = sc_token_requests();
  size_t posts1 = token_posts();
  assert_int_equal(posts1, 1);

  /* Replay: a fresh attempt gets the previous redirect (a spent code and
   * the previous attempt's state). */
  const char *const args[] = {
      "connection", "new",   "--plugin",    "o365mail", "--nickname",
      "alice2",     "--env", "preview",     "--tenant", TENANT_DOMAIN,
      "--timeout",  "2",     "--print-url", NULL};
  sc_spawn(&p, args);
  sc_read_url(&p, url, sizeof url);
  char *replay = retarget(loc, url);
  st = wuser_get_status(replay);
  assert_int_equal(st, 400);
  assert_true(wproc_running(&p));
  assert_int_not_equal(sc_finish(&p), 0);
  assert_non_null(strstr(p.stderr_, "no answer from the browser in time"));
  assert_int_equal(sc_token_requests(), tok1);
  assert_int_equal(token_posts(), posts1);
  free(replay);
  free(loc);
  json_object *l = NULL;
  const char *const list[] = {"connection", "list", "--json", NULL};
  assert_int_equal(sc_wfc(&p, list), 0);
  l = json_tokener_parse(p.stdout_);
  assert_non_null(l);
  /* alice from the real redirect; nothing from the replay. */
  assert_int_equal(json_object_array_length(l), 1);
  assert_non_null(strstr(p.stdout_, "\"alice\""));
  json_object_put(l);
}

/* ---- Canaries ------------------------------------------------------ */

static char *outputs;
static size_t outputs_len;

static void keep_output(const wproc *p) {
  size_t a = strlen(p->stdout_), b = strlen(p->stderr_);
  outputs = realloc(outputs, outputs_len + a + b + 2);
  memcpy(outputs + outputs_len, p->stdout_, a);
  outputs_len += a;
  outputs[outputs_len++] = '\n';
  memcpy(outputs + outputs_len, p->stderr_, b);
  outputs_len += b;
  outputs[outputs_len] = '\0';
}

/* 1 when any regular file under dir contains needle. */
static int dir_contains(const char *dir, const char *needle) {
  DIR *d = opendir(dir);
  if (d == NULL)
    return 0;
  struct dirent *e;
  int found = 0;
  while (!found && (e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    char path[1024];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    if (lstat(path, &sb) != 0)
      continue;
    if (S_ISDIR(sb.st_mode)) {
      found = dir_contains(path, needle);
      continue;
    }
    if (!S_ISREG(sb.st_mode))
      continue;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
      continue;
    char *data = malloc((size_t)sb.st_size + 1);
    size_t n = fread(data, 1, (size_t)sb.st_size, f);
    fclose(f);
    found = memmem(data, n, needle, strlen(needle)) != NULL;
    if (found)
      fprintf(stderr, "canary found in %s\n", path);
    free(data);
  }
  closedir(d);
  return found;
}

typedef struct canaries {
  char *v[64];
  const char *what[64];
  size_t n;
} canaries;

static void add(canaries *c, const char *what, char *v) {
  if (v == NULL || *v == '\0' || c->n == 64) {
    free(v);
    return;
  }
  c->what[c->n] = what;
  c->v[c->n++] = v;
}

/* Every code, verifier, access and refresh token seen at the token
 * endpoint; asserts where the verifier travelled. */
static void collect(canaries *c) {
  size_t verifiers = 0;
  pthread_mutex_lock(&px.mu);
  for (size_t i = 0; i < px.n; i++) {
    rec *r = &px.recs[i];
    if (strstr(r->uri, "/oauth2/v2.0/token") == NULL)
      continue;
    char *gt = form_field(r->body, "grant_type");
    if (gt && strcmp(gt, "authorization_code") == 0) {
      add(c, "authorization code", form_field(r->body, "code"));
      add(c, "PKCE verifier", form_field(r->body, "code_verifier"));
      verifiers++;
    } else if (gt && strcmp(gt, "refresh_token") == 0) {
      add(c, "refresh token (sent)", form_field(r->body, "refresh_token"));
    }
    free(gt);
    json_object *a = json_tokener_parse(r->answer);
    if (a != NULL) {
      if (jstr(a, "access_token"))
        add(c, "access token", strdup(jstr(a, "access_token")));
      if (jstr(a, "refresh_token"))
        add(c, "refresh token", strdup(jstr(a, "refresh_token")));
      json_object_put(a);
    }
  }
  /* The verifier went only in those token POSTs: no other request (the
   * authorize URL, Graph, revoke) carried it in its URI or body. */
  for (size_t k = 0; k < c->n; k++) {
    if (strcmp(c->what[k], "PKCE verifier") != 0)
      continue;
    for (size_t i = 0; i < px.n; i++) {
      rec *r = &px.recs[i];
      int token = strstr(r->uri, "/oauth2/v2.0/token") != NULL;
      if (!token || strstr(r->body, "authorization_code") == NULL) {
        assert_null(strstr(r->uri, c->v[k]));
        assert_null(strstr(r->body, c->v[k]));
      }
    }
  }
  pthread_mutex_unlock(&px.mu);
  assert_true(verifiers >= 1);
}

/* Connect, card, refresh (forced and after expiry), revoke with
 * WFC_LOG=debug: no canary in any output or in the store's files. */
static void no_secret_in_logs_outputs_or_store(void **state) {
  (void)state;
  setenv("WFC_LOG", "debug", 1);
  outputs = NULL;
  outputs_len = 0;
  sc_on_output = keep_output;

  wproc p;
  char url[4096];
  tresp done;
  sc_new(&p, "alice", "preview", url, sizeof url);
  /* The authorize URL carries the challenge, never a verifier. */
  assert_non_null(strstr(url, "code_challenge="));
  assert_null(strstr(url, "code_verifier"));
  browse(url, ALICE_UPN, ALICE_PW, &done);
  char *loc = strdup(tresp_header(&done, "Location"));
  assert_int_equal(sc_to_listener(&done), 200);
  tresp_free(&done);
  assert_int_equal(sc_finish(&p), 0);
  assert_int_equal(sc_list_folders("alice"), 0);
  const char *const refresh[] = {"connection", "refresh", "alice", NULL};
  assert_int_equal(sc_wfc(&p, refresh), 0);
  advance(5500);
  assert_int_equal(sc_list_folders("alice"), 0);
  assert_int_equal(sc_test("alice"), 0);
  sc_expect("alice", "connected", NULL, NULL, 0);
  const char *const revoke[] = {"connection", "revoke", "alice", NULL};
  assert_int_equal(sc_wfc(&p, revoke), 0);
  sc_expect("alice", "revoked", "authorize it again", NULL, 0);

  /* Debug logging really was on (else the check proves little). */
  assert_non_null(strstr(outputs, " DEBUG "));

  canaries c = {0};
  add(&c, "authorization code (redirect)", tclient_url_param(loc, "code"));
  free(loc);
  collect(&c);
  size_t access = 0, refreshes = 0;
  for (size_t i = 0; i < c.n; i++) {
    access += strcmp(c.what[i], "access token") == 0;
    refreshes += strcmp(c.what[i], "refresh token") == 0;
    if (strstr(outputs, c.v[i]) != NULL)
      fail_msg("the %s appears in a CLI output", c.what[i]);
    if (dir_contains(sc_dir, c.v[i]))
      fail_msg("the %s appears in the store's files", c.what[i]);
  }
  /* Initial tokens and at least two refreshes (forced, then expired). */
  assert_true(access >= 3);
  assert_true(refreshes >= 3);
  for (size_t i = 0; i < c.n; i++)
    free(c.v[i]);
  free(outputs);
  outputs = NULL;
}

/* CR/LF in a header value of a card's input: refused before anything is
 * sent (no Graph request reaches the emulator). */
static void crlf_header_refused_before_sending(void **state) {
  (void)state;
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, 1, NULL, 0);
  pthread_mutex_lock(&px.mu);
  size_t before = px.n;
  pthread_mutex_unlock(&px.mu);
  static const char *const inputs[] = {
      "{\"method\":\"GET\",\"relative_url\":\"/me/mailFolders\",\"headers\":"
      "{\"X-Test\":\"a\\r\\nX-Injected: 1\"}}",
      "{\"method\":\"GET\",\"relative_url\":\"/me/mailFolders\",\"headers\":"
      "{\"X-Test\":\"a\\nb\"}}",
      "{\"method\":\"GET\",\"relative_url\":\"/me/mailFolders\",\"headers\":"
      "{\"X-Te\\r\\nst\":\"a\"}}",
      NULL};
  for (int i = 0; inputs[i]; i++) {
    wproc p;
    assert_int_not_equal(sc_card(&p, "custom_api_action", "alice", inputs[i]),
                         0);
    assert_non_null(strstr(p.stderr_, "CR or LF"));
  }
  pthread_mutex_lock(&px.mu);
  size_t after = px.n;
  pthread_mutex_unlock(&px.mu);
  assert_int_equal(after, before);
  /* The same card with a clean header does reach Graph. */
  wproc p;
  assert_int_equal(sc_card(&p, "custom_api_action", "alice",
                           "{\"method\":\"GET\",\"relative_url\":\"/me/"
                           "mailFolders\",\"headers\":"
                           "{\"X-Test\":\"ok\"}}"),
                   0);
  pthread_mutex_lock(&px.mu);
  after = px.n;
  pthread_mutex_unlock(&px.mu);
  assert_true(after > before);
}

/* The bearer of the last Graph request and the access token of the last
 * token answer (malloc'd; NULL when none). */
static char *last_bearer(void) {
  char *out = NULL;
  pthread_mutex_lock(&px.mu);
  for (size_t i = px.n; i-- > 0 && out == NULL;)
    if (strncmp(px.recs[i].uri, "/v1.0/", 6) == 0 && px.recs[i].bearer)
      out = strdup(px.recs[i].bearer + strlen("Bearer "));
  pthread_mutex_unlock(&px.mu);
  return out;
}

static char *last_issued(void) {
  char *out = NULL;
  pthread_mutex_lock(&px.mu);
  for (size_t i = px.n; i-- > 0 && out == NULL;) {
    if (strstr(px.recs[i].uri, "/oauth2/v2.0/token") == NULL)
      continue;
    json_object *a = json_tokener_parse(px.recs[i].answer);
    if (jstr(a, "access_token"))
      out = strdup(jstr(a, "access_token"));
    json_object_put(a);
  }
  pthread_mutex_unlock(&px.mu);
  return out;
}

/* Seed 10 seen from the wire: after `wfc connection reauthorize` with the
 * same account (same id), the cards use the new access token, and the
 * refresh uses the new refresh token. */
static void reauthorize_replaces_the_tokens(void **state) {
  (void)state;
  char id[64], id2[64], url[4096];
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, 1, id, sizeof id);
  char *old_at = last_bearer(), *issued = last_issued();
  assert_non_null(old_at);
  assert_string_equal(old_at, issued);
  free(issued);

  wproc p;
  sc_reauth(&p, "alice", url, sizeof url);
  tresp done;
  browse(url, ALICE_UPN, ALICE_PW, &done);
  assert_int_equal(sc_to_listener(&done), 200);
  tresp_free(&done);
  assert_int_equal(sc_finish(&p), 0);
  sc_expect("alice", "connected", NULL, id2, sizeof id2);
  assert_string_equal(id, id2);
  char *new_issued = last_issued();
  assert_int_equal(sc_list_folders("alice"), 0);
  char *new_at = last_bearer();
  assert_string_not_equal(old_at, new_at);
  assert_string_equal(new_at, new_issued);

  /* The refresh sends the refresh token of the reauthorization. */
  char *new_rt = NULL;
  pthread_mutex_lock(&px.mu);
  for (size_t i = px.n; i-- > 0 && new_rt == NULL;) {
    json_object *a = json_tokener_parse(px.recs[i].answer);
    if (jstr(a, "refresh_token"))
      new_rt = strdup(jstr(a, "refresh_token"));
    json_object_put(a);
  }
  pthread_mutex_unlock(&px.mu);
  assert_non_null(new_rt);
  const char *const refresh[] = {"connection", "refresh", "alice", NULL};
  assert_int_equal(sc_wfc(&p, refresh), 0);
  pthread_mutex_lock(&px.mu);
  char *sent = form_field(px.recs[px.n - 1].body, "refresh_token");
  pthread_mutex_unlock(&px.mu);
  assert_non_null(sent);
  assert_string_equal(sent, new_rt);
  free(sent), free(new_rt), free(old_at), free(new_at), free(new_issued);
}

#define T(f) cmocka_unit_test_setup_teardown(f, up, down)

int main(void) {
  const struct CMUnitTest tests[] = {
      T(wrong_or_replayed_state_refused),
      T(no_secret_in_logs_outputs_or_store),
      T(crlf_header_refused_before_sending),
      T(reauthorize_replaces_the_tokens),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
