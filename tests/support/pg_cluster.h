/* pg_cluster.h - a throw-away PostgreSQL server for a test.
 *
 *   pg_cluster *pg = pg_cluster_start();        // NULL: printed why
 *   PGconn *c = PQconnectdb(pg_cluster_url(pg)); // or pg_cluster_conninfo
 *   ...
 *   assert_int_equal(pg_cluster_restart(pg), 0); // "restarted mid-run"
 *   assert_int_equal(pg_cluster_stop(pg), 0);    // server gone, dir removed
 *
 * What it is: Debian's server binaries (package postgresql, installed by
 * scripts/install-deps) run on a temporary directory /tmp/wfc-pg.XXXXXX:
 * initdb (superuser "wfc_admin", trust authentication), then `postgres`
 * listening on 127.0.0.1 only, on a free port (bound to port 0 first; tried
 * again on another port if taken meanwhile), and on a Unix socket in the
 * temporary directory; then a login role "wfc" (not a superuser) owning a
 * database "wfc" for the test. Start-up takes about 1 s (docs/fleet.md).
 *
 * The binaries: $WFC_PG_BINDIR, else the directory CMake found at configure
 * time (-DWFC_PG_BINDIR=..., default: the newest /usr/lib/postgresql/N/bin),
 * else `pg_config --bindir`. Missing binaries are a failure (NULL and a
 * message saying to run scripts/install-deps), never a silent skip: CI
 * installs them.
 *
 * As root: initdb and postgres refuse to run as root, so they run as the
 * `postgres` system user the package creates (the forked child drops to it
 * with setgid/setuid before exec, as `runuser -u postgres` would, but
 * without an intermediate process, see below); the temporary directory is
 * handed to that user. As any other user: as that user.
 *
 * Nothing outlives the test: the server is the test's own child (no pg_ctl
 * daemon), started with PR_SET_PDEATHSIG = SIGQUIT, PostgreSQL's immediate
 * shutdown, so it stops when the thread that started it dies, however it
 * dies (SIGKILL included). So call pg_cluster_start from the thread that
 * outlives the cluster (the test's main thread). A process that exits
 * without pg_cluster_stop stops its clusters and removes their directories
 * at exit (atexit). A directory left by a test killed outright is removed
 * by the next pg_cluster_start (each holds the pid of its test in
 * "owner.pid"; one whose test is gone is swept).
 *
 * Threads: one thread per cluster; the functions are not thread-safe among
 * themselves (start/stop from the test's main thread). */
#ifndef PG_CLUSTER_H
#define PG_CLUSTER_H

#include <sys/types.h>

typedef struct pg_cluster pg_cluster;

/* Starts a fresh cluster and waits until it accepts connections (PQping,
 * 30 s). NULL on failure, after printing why (and the server log's tail). */
pg_cluster *pg_cluster_start(void);

/* "postgresql://wfc@127.0.0.1:PORT/wfc": the test's role and database.
 * Borrowed, valid until pg_cluster_stop. */
const char *pg_cluster_url(const pg_cluster *c);
/* The same in libpq's keyword form: "host=127.0.0.1 port=PORT user=wfc
 * dbname=wfc". Borrowed. */
const char *pg_cluster_conninfo(const pg_cluster *c);
/* Keyword form over the Unix socket: "host=DIR port=PORT user=wfc
 * dbname=wfc" (DIR: the temporary directory). Borrowed. */
const char *pg_cluster_socket_conninfo(const pg_cluster *c);
/* Keyword form for the superuser "wfc_admin" on database "postgres", for
 * what a test does as the operator (pg_terminate_backend, a new database).
 * Borrowed. */
const char *pg_cluster_admin_conninfo(const pg_cluster *c);
int pg_cluster_port(const pg_cluster *c);
/* The postmaster's pid (changes on restart); 0 while down. */
pid_t pg_cluster_pid(const pg_cluster *c);

/* Creates one more database owned by "wfc", named "wfc_N" (N counting up
 * from 1 per cluster), and returns its URL (malloc'd: the caller frees) or
 * NULL after printing why. For tests that want a fresh database each. */
char *pg_cluster_new_db(pg_cluster *c);

/* Stops the server (immediate != 0: SIGQUIT, like a crash, the next start
 * runs recovery; 0: SIGINT, pg_ctl's "-m fast": clients disconnected,
 * checkpoint) and waits for it to exit. The data stay; the port stays
 * reserved to the cluster's URL. 0, or -1 (printed why). */
int pg_cluster_down(pg_cluster *c, int immediate);
/* Starts the server of a stopped cluster again on the same port and waits
 * until it accepts connections. 0, or -1 (printed why). */
int pg_cluster_up(pg_cluster *c);
/* pg_cluster_down(c, 0) then pg_cluster_up(c): every client connection is
 * cut; the same URL works again after. 0, or -1. */
int pg_cluster_restart(pg_cluster *c);

/* Stops the server (fast shutdown; SIGKILL if it has not exited in 30 s),
 * removes the directory, frees c. 0 when the server had exited cleanly and
 * the directory is gone, -1 otherwise. NULL: -1. */
int pg_cluster_stop(pg_cluster *c);

/* The server binaries' directory pg_cluster_start would use, or NULL when
 * none has initdb and postgres (static storage). */
const char *pg_cluster_bindir(void);

#endif /* PG_CLUSTER_H */
