/* lease.c - see lease.h. */
#include "lease.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "crypto.h"
#include "wfc/error.h"

/* This process's node (see lease.h), computed once; "" when unknown. */
static void node_of_this_process(char *buf, size_t len) {
  char host[256] = "";
  if (gethostname(host, sizeof host - 1) != 0 || host[0] == '\0')
    snprintf(host, sizeof host, "localhost");
  /* Printable text only: the store refuses control characters, and '@'
   * separates the node from the pid. */
  for (char *p = host; *p != '\0'; p++)
    if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '@')
      *p = '_';
  host[64] = '\0';

  char boot[64] = "";
  FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
  if (f != NULL) {
    if (fgets(boot, sizeof boot, f) == NULL)
      boot[0] = '\0';
    fclose(f);
    boot[strcspn(boot, "\r\n")] = '\0';
  }
  struct stat ns;
  if (boot[0] != '\0' && stat("/proc/self/ns/pid", &ns) == 0) {
    snprintf(buf, len, "%s/%s/%llu", host, boot, (unsigned long long)ns.st_ino);
    return;
  }
  /* No way to tell a pid apart from another host's: a node of our own. */
  uint8_t r[8];
  char hex[17];
  if (wfc__random(r, sizeof r) != 0 ||
      wfc__hex_encode(r, sizeof r, hex, sizeof hex) != 0)
    snprintf(hex, sizeof hex, "%lx", (unsigned long)getpid());
  snprintf(buf, len, "%s/%s", host, hex);
}

static char node[200];
static pthread_once_t node_once = PTHREAD_ONCE_INIT;

static void node_init(void) {
  node_of_this_process(node, sizeof node);
}

/* Computed once; never changes for the life of the process. */
static const char *this_node(void) {
  pthread_once(&node_once, node_init);
  return node;
}

int wfc__lease_holder_new(char *buf, size_t len) {
  uint8_t r[8];
  char hex[17];
  int rc = wfc__random(r, sizeof r);
  if (rc != 0)
    return rc;
  wfc__hex_encode(r, sizeof r, hex, sizeof hex);
  int n = snprintf(buf, len, "%s.%ld@%s", hex, (long)getpid(), this_node());
  return n < 0 || (size_t)n >= len ? WFC_ETOOBIG : 0;
}

/* 1 when /proc says pid is a zombie or dead (killed, not yet reaped). */
static int zombie(long pid) {
  char path[64], line[512];
  snprintf(path, sizeof path, "/proc/%ld/stat", pid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  size_t n = fread(line, 1, sizeof line - 1, f);
  fclose(f);
  line[n] = '\0';
  /* "pid (comm) S ...": comm may hold ')' itself, the state follows the
   * last one. */
  const char *p = strrchr(line, ')');
  return p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

int wfc__lease_holder_gone(const char *holder) {
  const char *at = holder != NULL ? strchr(holder, '@') : NULL;
  const char *dot = holder != NULL ? strchr(holder, '.') : NULL;
  if (at == NULL || dot == NULL || dot > at || strcmp(at + 1, this_node()) != 0)
    return 0;
  char *end = NULL;
  errno = 0;
  long pid = strtol(dot + 1, &end, 10);
  if (errno != 0 || end != at || pid <= 0 || pid == (long)getpid())
    return 0;
  if (kill((pid_t)pid, 0) == 0)
    return zombie(pid);
  return errno == ESRCH;
}
