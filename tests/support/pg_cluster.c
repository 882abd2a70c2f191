/* pg_cluster.c - a throw-away PostgreSQL server for tests; see
 * pg_cluster.h. */
#define _GNU_SOURCE /* setgroups, mkdtemp, nftw, prctl */
#include "pg_cluster.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <libpq-fe.h>

#include "tsys.h"

#define PG_USER   "wfc"       /* the test's role and database */
#define PG_ADMIN  "wfc_admin" /* the cluster's superuser (initdb -U) */
#define PG_PREFIX "wfc-pg."   /* /tmp/wfc-pg.XXXXXX */
#define READY_MS  30000

struct pg_cluster {
  pid_t pid;   /* the postmaster, our child; 0 while down */
  pid_t owner; /* the process that started it (atexit acts only there) */
  int port;
  int ndb;      /* databases made by pg_cluster_new_db */
  long log_off; /* the server log's size when the server last started */
  char dir[64];
  char data[96];
  char log[96];
  char url[128];
  char conninfo[160];
  char socket_conninfo[192];
  char admin_conninfo[160];
  struct pg_cluster *next; /* live clusters, for the atexit handler */
};

static pg_cluster *live;
static int atexit_set;

static int has_server(const char *dir) {
  char p[4200], q[4200];
  snprintf(p, sizeof p, "%s/initdb", dir);
  snprintf(q, sizeof q, "%s/postgres", dir);
  return access(p, X_OK) == 0 && access(q, X_OK) == 0;
}

/* The newest /usr/lib/postgresql/N/bin with a server (Debian's layout). */
static int newest_debian(char *out, size_t cap) {
  DIR *d = opendir("/usr/lib/postgresql");
  struct dirent *e;
  long best = -1;
  char p[320]; /* d_name is at most 255 bytes */
  if (d == NULL)
    return -1;
  while ((e = readdir(d)) != NULL) {
    char *end;
    long v = strtol(e->d_name, &end, 10);
    if (end == e->d_name || *end != '\0' || v <= best)
      continue;
    snprintf(p, sizeof p, "/usr/lib/postgresql/%s/bin", e->d_name);
    if (has_server(p)) {
      best = v;
      snprintf(out, cap, "%s", p);
    }
  }
  closedir(d);
  return best >= 0 ? 0 : -1;
}

const char *pg_cluster_bindir(void) {
  static char dir[4096];
  const char *env = getenv("WFC_PG_BINDIR");
  if (env != NULL && *env != '\0') {
    snprintf(dir, sizeof dir, "%s", env);
    return has_server(dir) ? dir : NULL;
  }
#ifdef WFC_PG_BINDIR
  snprintf(dir, sizeof dir, "%s", WFC_PG_BINDIR);
  if (dir[0] != '\0' && has_server(dir))
    return dir;
#endif
  if (newest_debian(dir, sizeof dir) == 0)
    return dir;
  FILE *f = popen("pg_config --bindir 2>/dev/null", "r");
  if (f != NULL) {
    if (fgets(dir, sizeof dir, f) == NULL)
      dir[0] = '\0';
    pclose(f);
    dir[strcspn(dir, "\n")] = '\0';
    if (dir[0] != '\0' && has_server(dir))
      return dir;
  }
  return NULL;
}

/* The account the server runs as: the postgres system user when we are
 * root (initdb and postgres refuse root), else ourselves (NULL). */
static const struct passwd *server_user(void) {
  if (geteuid() != 0)
    return NULL;
  return getpwnam("postgres");
}

static int rm_entry(const char *path, const struct stat *sb, int flag,
                    struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

static int rm_tree(const char *dir) {
  return nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Removes /tmp/wfc-pg.* directories whose test process is gone (killed
 * outright: its server stopped by the parent-death signal, but nobody
 * removed the files). */
static void sweep_stale(void) {
  DIR *d = opendir("/tmp");
  struct dirent *e;
  if (d == NULL)
    return;
  while ((e = readdir(d)) != NULL) {
    char path[300], pidf[340];
    long pid = 0;
    if (strncmp(e->d_name, PG_PREFIX, strlen(PG_PREFIX)) != 0)
      continue;
    snprintf(path, sizeof path, "/tmp/%s", e->d_name);
    snprintf(pidf, sizeof pidf, "%s/owner.pid", path);
    FILE *f = fopen(pidf, "r");
    if (f == NULL)
      continue; /* being created, or not ours */
    if (fscanf(f, "%ld", &pid) != 1)
      pid = 0;
    fclose(f);
    if (pid > 0 && kill((pid_t)pid, 0) != 0 && errno == ESRCH)
      rm_tree(path);
  }
  closedir(d);
}

/* Forks argv (argv[0] an absolute path) as the server user, stdout and
 * stderr appended to c->log; with pdeath, the child gets SIGQUIT when this
 * thread dies. Returns the pid or -1. */
static pid_t spawn(pg_cluster *c, char *const *argv, int pdeath) {
  const struct passwd *pw = server_user();
  pid_t parent = getpid();
  if (geteuid() == 0 && pw == NULL) {
    fprintf(stderr, "pg_cluster: running as root but there is no "
                    "'postgres' system user to run the server as (install "
                    "the postgresql package: scripts/install-deps)\n");
    return -1;
  }
  pid_t pid = fork();
  if (pid < 0) {
    perror("pg_cluster: fork");
    return -1;
  }
  if (pid > 0)
    return pid;
  /* Child. Drop to the server user first: a credential change clears the
   * parent-death signal, so it is set after. */
  /* setgroups, not initgroups: no NSS look-up in a child forked from a
   * threaded test; the server needs no supplementary group. */
  if (pw != NULL && (setgroups(1, &pw->pw_gid) != 0 ||
                     setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0)) {
    fprintf(stderr, "pg_cluster: cannot become %s: %s\n", pw->pw_name,
            strerror(errno));
    _exit(126);
  }
  if (pdeath && (prctl(PR_SET_PDEATHSIG, SIGQUIT) != 0 ||
                 getppid() != parent)) /* the parent died already */
    _exit(125);
  int fd = open(c->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(fd, 1) < 0 ||
      dup2(fd, 2) < 0)
    _exit(126);
  if (pw != NULL) {
    setenv("HOME", pw->pw_dir, 1);
    setenv("USER", pw->pw_name, 1);
    setenv("LOGNAME", pw->pw_name, 1);
  }
  unsetenv("PGDATA");
  unsetenv("PGPORT");
  unsetenv("PGHOST");
  if (chdir(c->dir) != 0)
    _exit(126);
  execv(argv[0], argv);
  fprintf(stderr, "pg_cluster: exec %s: %s\n", argv[0], strerror(errno));
  _exit(127);
}

static void print_log_tail(const pg_cluster *c) {
  FILE *f = fopen(c->log, "r");
  char buf[4096];
  if (f == NULL)
    return;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, size > (long)sizeof buf - 1 ? size - (long)sizeof buf + 1 : 0,
        SEEK_SET);
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  fprintf(stderr, "pg_cluster: --- %s (tail) ---\n%s\npg_cluster: ---\n",
          c->log, buf);
}

static int log_says(const pg_cluster *c, const char *what) {
  FILE *f = fopen(c->log, "r");
  char line[1024];
  int found = 0;
  if (f == NULL)
    return 0;
  fseek(f, c->log_off, SEEK_SET);
  while (!found && fgets(line, sizeof line, f))
    found = strstr(line, what) != NULL;
  fclose(f);
  return found;
}

static void set_urls(pg_cluster *c) {
  snprintf(c->url, sizeof c->url, "postgresql://%s@127.0.0.1:%d/%s", PG_USER,
           c->port, PG_USER);
  snprintf(c->conninfo, sizeof c->conninfo,
           "host=127.0.0.1 port=%d user=%s dbname=%s", c->port, PG_USER,
           PG_USER);
  snprintf(c->socket_conninfo, sizeof c->socket_conninfo,
           "host=%s port=%d user=%s dbname=%s", c->dir, c->port, PG_USER,
           PG_USER);
  snprintf(c->admin_conninfo, sizeof c->admin_conninfo,
           "host=127.0.0.1 port=%d user=%s dbname=postgres", c->port, PG_ADMIN);
}

/* Waits for the postmaster to exit (30 s, then SIGKILL). 0 when it exited
 * with status 0. */
static int reap(pg_cluster *c) {
  int st = 0;
  for (int i = 0; i < 3000; i++) {
    pid_t w = waitpid(c->pid, &st, WNOHANG);
    if (w == c->pid || (w < 0 && errno == ECHILD))
      goto done;
    tsys_sleep_ms(10);
  }
  fprintf(stderr, "pg_cluster: server %d did not stop in 30 s; killing\n",
          (int)c->pid);
  kill(c->pid, SIGKILL);
  waitpid(c->pid, &st, 0);
  c->pid = 0;
  return -1;
done:
  c->pid = 0;
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Starts the postmaster on c->port and waits until it accepts connections.
 * 0; 1 when the port was taken (the caller may pick another); -1. */
static int run_server(pg_cluster *c) {
  char port[16], bin[4200];
  const char *bindir = pg_cluster_bindir();
  if (bindir == NULL)
    return -1;
  snprintf(bin, sizeof bin, "%s/postgres", bindir);
  snprintf(port, sizeof port, "%d", c->port);
  char *const argv[] = {bin, "-D", c->data, "-p", port, "-k", c->dir, "-c",
                        "listen_addresses=127.0.0.1",
                        /* a test database: no durability across an OS
                         * crash needed; a server crash (SIGQUIT) still
                         * recovers from the WAL */
                        "-c", "fsync=off", "-c", "max_connections=200", NULL};
  struct stat sb;
  c->log_off = stat(c->log, &sb) == 0 ? (long)sb.st_size : 0;
  c->pid = spawn(c, argv, 1);
  if (c->pid < 0) {
    c->pid = 0;
    return -1;
  }
  long long deadline = tsys_mono_ms() + READY_MS;
  while (tsys_mono_ms() < deadline) {
    int st;
    if (waitpid(c->pid, &st, WNOHANG) == c->pid) {
      c->pid = 0;
      if (log_says(c, "could not bind") || log_says(c, "already in use"))
        return 1;
      fprintf(stderr, "pg_cluster: postgres exited at start (status %d)\n", st);
      print_log_tail(c);
      return -1;
    }
    if (PQping(c->admin_conninfo) == PQPING_OK)
      return 0;
    tsys_sleep_ms(20);
  }
  fprintf(stderr,
          "pg_cluster: postgres did not accept connections on "
          "127.0.0.1:%d in %d s\n",
          c->port, READY_MS / 1000);
  print_log_tail(c);
  kill(c->pid, SIGQUIT);
  reap(c);
  return -1;
}

/* Runs one SQL statement as the superuser. 0 or -1 (printed). */
static int admin_sql(const pg_cluster *c, const char *sql) {
  PGconn *conn = PQconnectdb(c->admin_conninfo);
  int rc = -1;
  if (PQstatus(conn) != CONNECTION_OK) {
    fprintf(stderr, "pg_cluster: connect %s: %s", c->admin_conninfo,
            PQerrorMessage(conn));
  } else {
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) == PGRES_COMMAND_OK)
      rc = 0;
    else
      fprintf(stderr, "pg_cluster: %s: %s", sql, PQerrorMessage(conn));
    PQclear(r);
  }
  PQfinish(conn);
  return rc;
}

static void unlink_live(pg_cluster *c) {
  for (pg_cluster **p = &live; *p != NULL; p = &(*p)->next)
    if (*p == c) {
      *p = c->next;
      return;
    }
}

/* A test that exits without pg_cluster_stop (a failed assertion ends a
 * cmocka group early) leaves no server and no directory. */
static void stop_all_at_exit(void) {
  while (live != NULL) {
    pg_cluster *c = live;
    live = c->next;
    if (c->owner != getpid())
      continue; /* a forked child exiting: the clusters are its parent's */
    if (c->pid > 0) {
      kill(c->pid, SIGQUIT);
      reap(c);
    }
    rm_tree(c->dir);
    free(c);
  }
}

static int init_cluster(pg_cluster *c, const char *bindir) {
  char bin[4200];
  snprintf(bin, sizeof bin, "%s/initdb", bindir);
  char *const argv[] = {bin,         "-D",         c->data,
                        "-U",        PG_ADMIN,     "--auth=trust",
                        "--no-sync", "--locale=C", "--encoding=UTF8",
                        NULL};
  pid_t pid = spawn(c, argv, 1);
  int st = 0;
  if (pid < 0)
    return -1;
  if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
    fprintf(stderr, "pg_cluster: initdb failed (status %d)\n", st);
    print_log_tail(c);
    return -1;
  }
  return 0;
}

pg_cluster *pg_cluster_start(void) {
  const char *bindir = pg_cluster_bindir();
  if (bindir == NULL) {
    fprintf(stderr,
            "pg_cluster: the PostgreSQL server binaries (initdb, postgres) "
            "were not found ($WFC_PG_BINDIR, /usr/lib/postgresql/N/bin, "
            "pg_config --bindir): run scripts/install-deps (Debian package "
            "postgresql)\n");
    return NULL;
  }
  sweep_stale();
  pg_cluster *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->owner = getpid();
  snprintf(c->dir, sizeof c->dir, "/tmp/" PG_PREFIX "XXXXXX");
  if (mkdtemp(c->dir) == NULL) {
    perror("pg_cluster: mkdtemp");
    free(c);
    return NULL;
  }
  snprintf(c->data, sizeof c->data, "%s/data", c->dir);
  snprintf(c->log, sizeof c->log, "%s/server.log", c->dir);
  char pidf[128];
  snprintf(pidf, sizeof pidf, "%s/owner.pid", c->dir);
  FILE *f = fopen(pidf, "w");
  if (f != NULL) {
    fprintf(f, "%ld\n", (long)getpid());
    fclose(f);
  }
  const struct passwd *pw = server_user();
  if (pw != NULL && chown(c->dir, pw->pw_uid, pw->pw_gid) != 0) {
    fprintf(stderr, "pg_cluster: chown %s to postgres: %s\n", c->dir,
            strerror(errno));
    rm_tree(c->dir);
    free(c);
    return NULL;
  }
  c->next = live;
  live = c;
  if (!atexit_set && atexit(stop_all_at_exit) == 0)
    atexit_set = 1;

  if (init_cluster(c, bindir) != 0)
    goto fail;
  int rc = 1;
  for (int tries = 0; rc == 1 && tries < 5; tries++) {
    c->port = tsys_free_port();
    if (c->port <= 0)
      goto fail;
    set_urls(c);
    rc = run_server(c);
  }
  if (rc != 0) {
    if (rc == 1)
      fprintf(stderr, "pg_cluster: no free port after 5 tries\n");
    goto fail;
  }
  if (admin_sql(c, "CREATE ROLE " PG_USER " LOGIN") != 0 ||
      admin_sql(c, "CREATE DATABASE " PG_USER " OWNER " PG_USER) != 0)
    goto fail;
  return c;
fail:
  pg_cluster_stop(c);
  return NULL;
}

const char *pg_cluster_url(const pg_cluster *c) {
  return c->url;
}

const char *pg_cluster_conninfo(const pg_cluster *c) {
  return c->conninfo;
}

const char *pg_cluster_socket_conninfo(const pg_cluster *c) {
  return c->socket_conninfo;
}

const char *pg_cluster_admin_conninfo(const pg_cluster *c) {
  return c->admin_conninfo;
}

int pg_cluster_port(const pg_cluster *c) {
  return c->port;
}

pid_t pg_cluster_pid(const pg_cluster *c) {
  return c->pid;
}

char *pg_cluster_new_db(pg_cluster *c) {
  char sql[128], *url;
  int n = ++c->ndb;
  snprintf(sql, sizeof sql, "CREATE DATABASE %s_%d OWNER %s", PG_USER, n,
           PG_USER);
  if (admin_sql(c, sql) != 0)
    return NULL;
  url = malloc(160);
  if (url != NULL)
    snprintf(url, 160, "postgresql://%s@127.0.0.1:%d/%s_%d", PG_USER, c->port,
             PG_USER, n);
  return url;
}

int pg_cluster_down(pg_cluster *c, int immediate) {
  if (c->pid <= 0) {
    fprintf(stderr, "pg_cluster: down: the server is not running\n");
    return -1;
  }
  kill(c->pid, immediate ? SIGQUIT : SIGINT);
  int rc = reap(c);
  /* An immediate shutdown exits with status 0 too (PostgreSQL 15); any
   * other status means the server had died before. */
  if (rc != 0)
    fprintf(stderr, "pg_cluster: down: the server did not exit cleanly\n");
  return rc;
}

int pg_cluster_up(pg_cluster *c) {
  if (c->pid > 0) {
    fprintf(stderr, "pg_cluster: up: the server is running already\n");
    return -1;
  }
  /* The port is the cluster's (its URL); if something took it while the
   * server was down, wait a little for it to go. */
  for (int tries = 0; tries < 50; tries++) {
    int rc = run_server(c);
    if (rc != 1)
      return rc;
    tsys_sleep_ms(100);
  }
  fprintf(stderr, "pg_cluster: up: port %d stays taken\n", c->port);
  return -1;
}

int pg_cluster_restart(pg_cluster *c) {
  if (pg_cluster_down(c, 0) != 0)
    return -1;
  return pg_cluster_up(c);
}

int pg_cluster_stop(pg_cluster *c) {
  int rc = 0;
  if (c == NULL)
    return -1;
  if (c->pid > 0) {
    kill(c->pid, SIGINT);
    rc = reap(c);
  }
  unlink_live(c);
  if (rm_tree(c->dir) != 0 || access(c->dir, F_OK) == 0) {
    fprintf(stderr, "pg_cluster: cannot remove %s\n", c->dir);
    rc = -1;
  }
  free(c);
  return rc;
}
