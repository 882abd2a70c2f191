/* reliability.c - see reliability.h. */
#define _POSIX_C_SOURCE 200809L
#include "reliability.h"

#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>
#include <sqlite3.h>

#include "browser.h"
#include "tclient.h"
#include "wfc/error.h"

int rel_long(void) {
  const char *m = getenv("WFC_RELIABILITY");
  return m != NULL && strcmp(m, "long") == 0;
}

int rel_trials(int short_n, int long_n) {
  const char *t = getenv("WFC_RELIABILITY_TRIALS");
  if (t != NULL && atoi(t) > 0)
    return atoi(t);
  return rel_long() ? long_n : short_n;
}

int64_t rel_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

uint64_t rel_seed(void) {
  static uint64_t seed;
  static int set;
  if (!set) {
    const char *s = getenv("WFC_RELIABILITY_SEED");
    if (s != NULL && *s != '\0') {
      seed = strtoull(s, NULL, 10);
    } else {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      /* Kept below 2^31 so it also serves as the emulator's rule seed. */
      seed = ((uint64_t)ts.tv_sec * 1000003u + (uint64_t)ts.tv_nsec / 1000 +
              (uint64_t)getpid()) %
             2147483647u;
    }
    set = 1;
  }
  return seed;
}

static const char *watchdog_test;

static void on_alarm(int sig) {
  (void)sig;
  /* Only async-signal-safe calls here. */
  static const char a[] = "reliability: ";
  static const char b[] = " timed out (rel_watchdog)\n";
  ssize_t w = write(1, a, sizeof a - 1);
  w = write(1, watchdog_test, strlen(watchdog_test));
  w = write(1, b, sizeof b - 1);
  (void)w;
  _exit(1);
}

void rel_watchdog(const char *test, unsigned short_s, unsigned long_s) {
  watchdog_test = test;
  signal(SIGALRM, on_alarm);
  alarm(rel_long() ? long_s : short_s);
}

uint64_t rel_rng_next(rel_rng *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

uint32_t rel_rng_below(rel_rng *r, uint32_t n) {
  return (uint32_t)(rel_rng_next(r) % n);
}

void rel_figure(rel_counts *c, const char *fmt, ...) {
  size_t k = strlen(c->extra);
  if (k + 2 >= sizeof c->extra)
    return;
  c->extra[k++] = ' ';
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->extra + k, sizeof c->extra - k, fmt, ap);
  va_end(ap);
}

void rel_note(rel_counts *c, const char *fmt, ...) {
  if (c->notes++ >= 30)
    return;
  char line[2048];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  fprintf(stderr, "%s: %s\n", c->test, line);
}

long rel_report(const rel_counts *c) {
  /* left_behind only when not 0: most tests have nothing to leave. */
  char left[48] = "";
  if (c->left_behind != 0)
    snprintf(left, sizeof left, " left_behind=%ld", c->left_behind);
  printf("reliability: %s mode=%s trials=%ld lost=%ld duplicates=%ld "
         "corrupt=%ld unclear=%ld untruthful=%ld%s seed=%llu%s\n",
         c->test, rel_long() ? "long" : "short", c->trials, c->lost,
         c->duplicates, c->corrupt, c->unclear, c->untruthful, left,
         (unsigned long long)rel_seed(), c->extra);
  fflush(stdout);
  return c->lost + c->duplicates + c->corrupt + c->unclear + c->untruthful +
         c->left_behind;
}

/* ---- Clear errors --------------------------------------------------------
 */

/* The generic texts that say no cause by themselves. */
#define REL_CODE_TEXT(name, value, msg) msg,
static const char *const generic[] = {
    WFC_ERRNO_MAP(REL_CODE_TEXT) "unknown error",
    "success",
    "Graph returned an error status",
    "error",
    "failed",
    NULL};
#undef REL_CODE_TEXT

static int is_generic(const char *s, size_t n) {
  while (n > 0 && (*s == ' ' || *s == '.'))
    s++, n--;
  while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '.'))
    n--;
  if (n == 0)
    return 1;
  for (size_t i = 0; generic[i]; i++)
    if (strlen(generic[i]) == n && strncasecmp(generic[i], s, n) == 0)
      return 1;
  return 0;
}

/* Length of a leading call label "plugin.card: " (lower-case letters,
 * digits, _ and one dot), else 0. */
static size_t label_len(const char *m) {
  size_t i = 0;
  int dots = 0;
  for (; m[i] && m[i] != ':'; i++) {
    char ch = m[i];
    if (ch == '.')
      dots++;
    else if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
               ch == '_'))
      return 0;
  }
  return dots == 1 && m[i] == ':' && m[i + 1] == ' ' ? i + 2 : 0;
}

const char *rel_unclear(const char *message) {
  if (message == NULL || *message == '\0')
    return "no message";
  if (strstr(message, "(null)") != NULL)
    return "prints (null)";
  if (strstr(message, "eyJ") != NULL)
    return "carries a token";
  const char *s = message + label_len(message);
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == ' '))
    n--;
  /* A trailing " (ENAME)" as the CLI prints it. */
  if (n > 3 && s[n - 1] == ')') {
    size_t k = n - 1;
    while (k > 0 && s[k - 1] >= 'A' && s[k - 1] <= 'Z')
      k--;
    if (k >= 3 && s[k - 1] == '(' && s[k] == 'E' && s[k - 2] == ' ')
      n = k - 2;
  }
  if (is_generic(s, n))
    return "only a code's generic text";
  /* The last part after ": " is the cause; it must say more than a code. */
  const char *last = s;
  for (const char *p = s; p + 1 < s + n; p++)
    if (p[0] == ':' && p[1] == ' ')
      last = p + 2;
  if (last != s && is_generic(last, (size_t)(s + n - last)))
    return "its cause is only a code's generic text";
  return NULL;
}

const char *rel_cli_error(const char *err, char *buf, size_t len) {
  buf[0] = '\0';
  for (const char *l = err; l != NULL && *l != '\0';) {
    const char *nl = strchr(l, '\n');
    size_t n = nl ? (size_t)(nl - l) : strlen(l);
    if (strncmp(l, "wfc: ", 5) == 0 && strncmp(l, "wfc: detail:", 12) != 0 &&
        strncmp(l, "wfc: stopping", 13) != 0) {
      snprintf(buf, len, "%.*s", (int)(n - 5), l + 5);
      break;
    }
    l = nl ? nl + 1 : NULL;
  }
  return buf;
}

int rel_check_cli_error(rel_counts *c, const char *err) {
  char msg[1024];
  const char *why = rel_unclear(rel_cli_error(err, msg, sizeof msg));
  if (why == NULL)
    return 0;
  c->unclear++;
  rel_note(c, "unclear error (%s): %s", why, err);
  return 1;
}

int rel_check_failed_run(rel_counts *c, struct json_object *line) {
  struct json_object *e = NULL;
  json_object_object_get_ex(line, "error", &e);
  const char *why = rel_unclear(e ? json_object_get_string(e) : NULL);
  if (why == NULL)
    return 0;
  c->unclear++;
  rel_note(c, "failed run with an unclear error (%s): %s", why,
           json_object_to_json_string(line));
  return 1;
}

/* ---- The store ------------------------------------------------------------
 */

int rel_store_check(const char *path, char *why, size_t len) {
  sqlite3 *db = NULL;
  int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
  if (rc != SQLITE_OK) {
    snprintf(why, len, "%s does not open: %s", path,
             db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    sqlite3_close(db);
    return -1;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt *st = NULL;
  int ok = 0;
  snprintf(why, len, "%s: integrity_check did not run", path);
  if (sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) ==
          SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    const char *r = (const char *)sqlite3_column_text(st, 0);
    ok = r != NULL && strcmp(r, "ok") == 0;
    snprintf(why, len, "%s: integrity_check: %s", path, r ? r : "(no row)");
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return ok ? 0 : -1;
}

void rel_check_store(rel_counts *c, const char *path) {
  char why[512];
  if (rel_store_check(path, why, sizeof why) != 0) {
    c->corrupt++;
    rel_note(c, "%s", why);
  }
}

/* ---- Set-up ---------------------------------------------------------------
 */

int rel_up(emu_proc **emu, wuser *u, const char *name) {
  *emu = emu_proc_start(NULL, NULL);
  if (*emu == NULL || wuser_init(u, name) != 0)
    return -1;
  return 0;
}

int rel_down(emu_proc *emu, wuser *u) {
  int rc = emu_proc_stop(emu) == 0 ? 0 : -1;
  if (wuser_cleanup(u) != 0)
    rc = -1;
  return rc;
}

/* ---- Children killed at a random moment -----------------------------------
 */

/* Appends what fd has now to buf (NUL-terminated, cap bytes); closes it
 * and sets *fd to -1 at its end. */
static void take(int *fd, char *buf, size_t cap) {
  size_t len = strlen(buf);
  char scratch[4096];
  ssize_t r = read(*fd, scratch, sizeof scratch);
  if (r > 0) {
    size_t k = (size_t)r;
    if (len + k + 1 > cap)
      k = cap - 1 - len; /* full: the rest is dropped */
    memcpy(buf + len, scratch, k);
    buf[len + k] = '\0';
    return;
  }
  if (r < 0 && (errno == EINTR || errno == EAGAIN))
    return;
  close(*fd);
  *fd = -1;
}

int rel_wait_or_kill(wproc *p, int64_t kill_after_us) {
  return rel_wait_or_signal(p, kill_after_us, SIGKILL);
}

int rel_wait_or_signal(wproc *p, int64_t kill_after_us, int sig) {
  int64_t deadline = kill_after_us < 0 ? -1 : rel_now_us() + kill_after_us;
  int sent = 0;
  while (p->out >= 0 || p->err >= 0) {
    struct pollfd fds[2];
    nfds_t n = 0;
    if (p->out >= 0)
      fds[n++] = (struct pollfd){.fd = p->out, .events = POLLIN};
    if (p->err >= 0)
      fds[n++] = (struct pollfd){.fd = p->err, .events = POLLIN};
    int timeout = -1;
    if (deadline >= 0 && !sent) {
      int64_t left = deadline - rel_now_us();
      if (left <= 0) {
        kill(p->pid, sig);
        sent = 1;
        continue;
      }
      timeout = (int)((left + 999) / 1000);
    }
    if (poll(fds, n, timeout) < 0 && errno != EINTR)
      break;
    for (nfds_t i = 0; i < n; i++) {
      if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
        continue;
      if (fds[i].fd == p->out)
        take(&p->out, p->stdout_, sizeof p->stdout_);
      else
        take(&p->err, p->stderr_, sizeof p->stderr_);
    }
  }
  int st = 0;
  while (waitpid(p->pid, &st, 0) < 0 && errno == EINTR)
    ;
  p->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
  if (sig != SIGKILL)
    return sent;
  return WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL && sent;
}

/* ---- The emulator's record ------------------------------------------------
 */

json_object *rel_admin(const char *base, const char *method, const char *path,
                       const char *body_json, long *status) {
  static const char *const hdr[] = {"Content-Type: application/json", NULL};
  char url[2048];
  snprintf(url, sizeof url, "%s%s", base, path);
  tclient *c = tclient_new(0);
  tresp r;
  tclient_request(c, method, url, body_json ? hdr : NULL, body_json, &r);
  if (status != NULL)
    *status = r.status;
  json_object *j = r.len > 0 ? tresp_json(&r) : NULL;
  tresp_free(&r);
  tclient_free(c);
  return j;
}

static json_object *value_of(json_object *j) {
  json_object *v = NULL;
  if (!json_object_object_get_ex(j, "value", &v)) {
    json_object_put(j);
    return NULL;
  }
  json_object_get(v);
  json_object_put(j);
  return v;
}

json_object *rel_sent(const char *base, const char *user) {
  char path[512];
  snprintf(path, sizeof path, "/__emulator/mail/%s/sent", user);
  return value_of(rel_admin(base, "GET", path, NULL, NULL));
}

json_object *rel_deliver_numbered(const char *base, const char *user,
                                  const char *prefix, int i, long *status) {
  char path[512], body[512];
  snprintf(path, sizeof path, "/__emulator/mail/%s/messages", user);
  snprintf(body, sizeof body,
           "{\"subject\":\"%s%d\",\"from\":\"bob@contoso.test\","
           "\"body\":{\"contentType\":\"text\",\"content\":\"n %d\"}}",
           prefix, i, i);
  return rel_admin(base, "POST", path, body, status);
}

json_object *rel_messages(const char *base, const char *user,
                          const char *folder) {
  char path[512];
  snprintf(path, sizeof path, "/__emulator/mail/%s/messages%s%s", user,
           folder ? "?folder=" : "", folder ? folder : "");
  return value_of(rel_admin(base, "GET", path, NULL, NULL));
}

int rel_count_eq(json_object *arr, const char *k, const char *value) {
  int n = 0;
  for (size_t i = 0; arr != NULL && i < json_object_array_length(arr); i++) {
    json_object *v = NULL;
    if (json_object_object_get_ex(json_object_array_get_idx(arr, i), k, &v) &&
        json_object_is_type(v, json_type_string) &&
        strcmp(json_object_get_string(v), value) == 0)
      n++;
  }
  return n;
}

/* ---- A connection through `wfc connection new` ---------------------------
 */

#define REL_PREVIEW_CLIENT "5e3b7c1a-9d2f-4b6e-a8c4-1f0d2e3c4b5a"

void rel_connect(const char *wfc_bin, const char *store, const char *plugin_dir,
                 const char *emu_url, const char *nickname, const char *upn,
                 const char *password) {
  char auth[256], graph[256], url[4096];
  snprintf(auth, sizeof auth, "authority_url=%s", emu_url);
  snprintf(graph, sizeof graph, "graph_url=%s/v1.0", emu_url);
  const char *const args[] = {"connection",  "new",
                              "--plugin",    "o365mail",
                              "--nickname",  nickname,
                              "--env",       "preview",
                              "--tenant",    "contoso.test",
                              "--param",     auth,
                              "--param",     graph,
                              "--param",     "client_id=" REL_PREVIEW_CLIENT,
                              "--print-url", "--timeout",
                              "60",          NULL};
  wproc p;
  wproc_spawn(&p, wfc_bin, args, store, plugin_dir);
  wproc_read_line(&p, url, sizeof url);
  if (strncmp(url, emu_url, strlen(emu_url)) != 0) {
    wproc_wait(&p);
    fail_msg("connection new: no URL: %s\n%s", url, p.stderr_);
  }
  tclient *b = tclient_new(1);
  browser_user who = {upn, password, 0};
  char *loc = NULL, *redirect = tclient_url_param(url, "redirect_uri");
  assert_non_null(redirect);
  int rc = browser_authorize(b, url, redirect, &who, &loc, NULL);
  free(redirect);
  long status = 0;
  if (rc == 0) {
    tresp page;
    tclient_request(b, "GET", loc, NULL, NULL, &page);
    status = page.status;
    tresp_free(&page);
  }
  free(loc);
  tclient_free(b);
  wproc_wait(&p);
  if (rc != 0 || status != 200 || p.code != 0)
    fail_msg("connection new %s: browser %d, listener %ld, exit %d: %s%s",
             nickname, rc, status, p.code, p.stdout_, p.stderr_);
}
