/* main.c - m365-emulator: command line, start-up order, port file, signals.
 *
 *   m365-emulator --port 0 --port-file F [--tls-cert C --tls-key K]
 *                 [--config tenant.json] [--seed N] [--state-dir DIR]
 *
 * Without --state-dir everything lives in memory and a restart forgets
 * every token and grant. With it, each module's durable state (emu.h,
 * emu_state_hook_add: DIR/identity.json, refresh tokens and consent;
 * DIR/apponly.json, app credentials, app role grants and application
 * access policies) is read at start and written when the emulator stops
 * on SIGTERM/SIGINT (not on SIGKILL), mode 0600: it holds secrets.
 */
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, sigemptyset, sigaddset */
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f) {
  fprintf(f, "usage: m365-emulator [--port N] [--port-file FILE]\n"
             "                     [--tls-cert PEM --tls-key PEM]\n"
             "                     [--config tenant.json] [--seed N]\n"
             "                     [--state-dir DIR]\n"
             "Serves an emulated Microsoft identity platform and Graph mail\n"
             "on 127.0.0.1. --port 0 picks a free port; --port-file gets it\n"
             "(written atomically once the server listens).\n"
             "Everything is in memory unless --state-dir DIR is given: the\n"
             "refresh tokens and consent grants (DIR/identity.json), the\n"
             "app credentials, app role grants and application access\n"
             "policies (DIR/apponly.json) are then read at start and saved\n"
             "when the emulator stops (SIGTERM, Ctrl-C), so connections\n"
             "survive a restart.\n"
             "Mailboxes and access tokens do not (clients refresh).\n");
}

/* Writes the port to path via a temporary file and rename(), so a reader
 * never sees a partial file. */
static int write_port_file(const char *path, int port) {
  char tmp[4096];
  if (snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >=
      (int)sizeof tmp)
    return -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return -1;
  char buf[32];
  int n = snprintf(buf, sizeof buf, "%d\n", port);
  int ok = write(fd, buf, (size_t)n) == n && fsync(fd) == 0;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return -1;
  }
  return 0;
}

/* DIR/{name}.json of each state hook (emu.h), when there is one:
 * restored into its module. 0, or -1 with the reason printed. */
static int state_load(const char *dir) {
  size_t n = 0;
  const emu__state_hook *h = emu__state_hooks(&n);
  for (size_t i = 0; i < n; i++) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.json", dir, h[i].name);
    if (access(path, F_OK) != 0)
      continue; /* a first start, or nothing of this module yet */
    json_object *doc = json_object_from_file(path);
    if (doc == NULL) {
      fprintf(stderr, "m365-emulator: --state-dir: %s: %s\n", path,
              json_util_get_last_err());
      return -1;
    }
    char err[256] = "";
    emu_lock();
    int rc = h[i].load(doc, err, sizeof err);
    emu_unlock();
    json_object_put(doc);
    if (rc != 0) {
      fprintf(stderr, "m365-emulator: --state-dir: %s: %s\n", path, err);
      return -1;
    }
    fprintf(stderr, "m365-emulator: state restored from %s\n", path);
  }
  return 0;
}

/* Writes each state hook's document to DIR/{name}.json (0600) via a
 * temporary file and rename(): a reader never sees half of one. */
static int state_save(const char *dir) {
  size_t n = 0;
  const emu__state_hook *h = emu__state_hooks(&n);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    char path[4096], tmp[4200];
    snprintf(path, sizeof path, "%s/%s.json", dir, h[i].name);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    emu_lock();
    json_object *doc = h[i].save();
    emu_unlock();
    const char *text =
        json_object_to_json_string_ext(doc, JSON_C_TO_STRING_PLAIN);
    size_t len = strlen(text);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    int ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    ok = (fd >= 0 && close(fd) == 0) && ok;
    json_object_put(doc);
    if (!ok || rename(tmp, path) != 0) {
      fprintf(stderr, "m365-emulator: --state-dir: cannot write %s: %s\n", path,
              strerror(errno));
      unlink(tmp);
      rc = -1;
    }
  }
  return rc;
}

int main(int argc, char **argv) {
  static const struct option opts[] = {
      {"port", required_argument, NULL, 'p'},
      {"port-file", required_argument, NULL, 'f'},
      {"tls-cert", required_argument, NULL, 'c'},
      {"tls-key", required_argument, NULL, 'k'},
      {"config", required_argument, NULL, 'C'},
      {"seed", required_argument, NULL, 's'},
      {"state-dir", required_argument, NULL, 'S'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  emu_server_opts so = {0};
  const char *port_file = NULL, *config = NULL, *state_dir = NULL;
  int c;
  while ((c = getopt_long(argc, argv, "p:f:c:k:C:s:S:h", opts, NULL)) != -1) {
    char *end;
    switch (c) {
    case 'p': {
      long v = strtol(optarg, &end, 10);
      if (*end || v < 0 || v > 65535) {
        fprintf(stderr, "m365-emulator: --port: not a port: %s\n", optarg);
        return 2;
      }
      so.port = (int)v;
      break;
    }
    case 'f':
      port_file = optarg;
      break;
    case 'c':
      so.tls_cert = optarg;
      break;
    case 'k':
      so.tls_key = optarg;
      break;
    case 'C':
      config = optarg;
      break;
    case 'S':
      state_dir = optarg;
      if (mkdir(state_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "m365-emulator: --state-dir %s: %s\n", state_dir,
                strerror(errno));
        return 1;
      }
      break;
    case 's': {
      unsigned long long v = strtoull(optarg, &end, 10);
      if (*end || optarg[0] == '\0') {
        fprintf(stderr, "m365-emulator: --seed: not a number: %s\n", optarg);
        return 2;
      }
      emu__seed(v);
      break;
    }
    case 'h':
      usage(stdout);
      return 0;
    default:
      usage(stderr);
      return 2;
    }
  }
  if (optind < argc) {
    fprintf(stderr, "m365-emulator: unexpected argument: %s\n", argv[optind]);
    return 2;
  }

  json_object *doc;
  if (config) {
    doc = json_object_from_file(config);
    if (doc == NULL) {
      fprintf(stderr, "m365-emulator: --config %s: %s\n", config,
              json_util_get_last_err());
      return 1;
    }
  } else {
    doc = emu_tenant_default_doc();
  }
  char err[512];
  if (emu_tenant_load(doc, err, sizeof err) != 0) {
    fprintf(stderr, "m365-emulator: %s: %s\n", config ? config : "default",
            err);
    return 1;
  }

  /* Signals are taken by sigwait() below; every thread (MHD's included)
   * inherits the blocked mask. */
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  signal(SIGPIPE, SIG_IGN);

  int rc = 1;
  if (emu__modules_init() != 0)
    goto out;
  emu_lock();
  emu__reset_hooks_run();
  emu_unlock();
  if (state_dir != NULL && state_load(state_dir) != 0)
    goto out;
  if (emu__server_start(&so) != 0)
    goto out;
  if (port_file && write_port_file(port_file, emu__server_port()) != 0) {
    fprintf(stderr, "m365-emulator: cannot write --port-file %s: %s\n",
            port_file, strerror(errno));
    emu__server_stop();
    goto out;
  }
  fprintf(stderr, "m365-emulator: listening on %s://127.0.0.1:%d\n",
          so.tls_cert ? "https" : "http", emu__server_port());
  int sig = 0;
  sigwait(&set, &sig);
  emu__server_stop();
  rc = state_dir != NULL && state_save(state_dir) != 0 ? 1 : 0;
out:
  emu__router_shutdown();
  emu__faults_clear();
  emu__throttle_reset();
  emu_tenant_shutdown();
  return rc;
}
