/* test_readonly_cli.c - a read-only `wfc card run` writes nothing to the
 * connection store (issue 13 item 11): with a fresh access token, reading
 * mail (list_folders, search_emails, get_message, get_messages,
 * list_attachments) leaves the SQLite file's bytes and mtime as they were,
 * leaves no journal or WAL behind, and, when strace is installed, makes no
 * fsync/fdatasync and writes no byte to the store's files (the -shm index
 * SQLite rebuilds at every open is not the store). The real `wfc`, plugin
 * and emulator; the connection through the real authorization-code flow.
 * A refresh still writes (the rotated tokens, and last_used_at with them):
 * checked last, so the test also sees that last_used_at is kept. */
#define _POSIX_C_SOURCE 200809L /* strndup, strdup, setenv */
#include <fcntl.h>
#include <sys/stat.h>

#include "scen.h"

/* The store file's bytes and mtime. */
typedef struct snap {
  char *bytes;
  size_t len;
  struct timespec mtime;
} snap;

static void snap_take(snap *s) {
  struct stat st;
  assert_int_equal(stat(sc_store, &st), 0);
  s->mtime = st.st_mtim;
  s->len = (size_t)st.st_size;
  s->bytes = malloc(s->len + 1);
  assert_non_null(s->bytes);
  FILE *f = fopen(sc_store, "rb");
  assert_non_null(f);
  assert_int_equal(fread(s->bytes, 1, s->len, f), s->len);
  fclose(f);
}

static void snap_same(const snap *a, const char *what) {
  snap b;
  snap_take(&b);
  int same = a->len == b.len && memcmp(a->bytes, b.bytes, a->len) == 0;
  int same_time =
      a->mtime.tv_sec == b.mtime.tv_sec && a->mtime.tv_nsec == b.mtime.tv_nsec;
  if (!same || !same_time)
    fprintf(stderr, "%s: the store file %s\n", what,
            !same ? "changed" : "kept its bytes but its mtime changed");
  free(b.bytes);
  assert_true(same);
  assert_true(same_time);
  /* Nothing left half-written beside it either. */
  char side[256];
  snprintf(side, sizeof side, "%s-wal", sc_store);
  assert_int_equal(access(side, F_OK), -1);
  snprintf(side, sizeof side, "%s-journal", sc_store);
  assert_int_equal(access(side, F_OK), -1);
}

static int have_strace(void) {
  return access("/usr/bin/strace", X_OK) == 0 ? 1
         : access("/bin/strace", X_OK) == 0   ? 2
                                              : 0;
}

/* Syncs and writes to the store's files in an strace log (-y: the path of
 * every fd): fsync/fdatasync of anything, writes to the store, its WAL or
 * journal (not -shm). Prints them. */
static int store_writes(const char *log) {
  FILE *f = fopen(log, "r");
  assert_non_null(f);
  char line[4096];
  int n = 0;
  while (fgets(line, sizeof line, f) != NULL) {
    int sync =
        strstr(line, "fsync(") != NULL || strstr(line, "fdatasync(") != NULL;
    const char *at = strstr(line, sc_store);
    int write = strstr(line, "write") != NULL && at != NULL &&
                strncmp(at + strlen(sc_store), "-shm", 4) != 0;
    if (sync || write) {
      fprintf(stderr, "store write: %s", line);
      n++;
    }
  }
  fclose(f);
  return n;
}

/* `wfc card run CARD --connection alice --input IN --json`, under strace
 * when it is installed: the exit code; asserts the store unchanged and no
 * write. The output stays in p. */
static int run_read(wproc *p, const char *card, const char *in) {
  snap before;
  snap_take(&before);
  char log[256];
  snprintf(log, sizeof log, "%s/strace.log", sc_dir);
  int st = have_strace();
  /* LeakSanitizer cannot run under ptrace: off in the traced child only
   * (the untraced runs of the same binary keep it). */
  char asan[512];
  const char *ao = getenv("ASAN_OPTIONS");
  snprintf(asan, sizeof asan, "ASAN_OPTIONS=%s%sdetect_leaks=0", ao ? ao : "",
           ao && *ao ? ":" : "");
  const char *const plain[] = {"card",  "run",     card, "--connection",
                               "alice", "--input", in,   "--json",
                               NULL};
  const char *const traced[] = {
      st == 1 ? "/usr/bin/strace" : "/bin/strace",
      "-f",
      "-qq",
      "-y",
      "-E",
      asan,
      "-o",
      log,
      "-e",
      "trace=fsync,fdatasync,write,pwrite64,pwritev,pwritev2,writev",
      sc_u.bin,
      "card",
      "run",
      card,
      "--connection",
      "alice",
      "--input",
      in,
      "--json",
      "--store",
      sc_store,
      "--plugin-dir",
      sc_u.plugins,
      NULL};
  int rc;
  if (st) {
    wproc_start(p, traced, NULL, NULL);
    rc = sc_finish(p);
  } else {
    rc = sc_wfc(p, plain);
  }
  if (rc != 0)
    fprintf(stderr, "%s: %s\n", card, p->stderr_);
  assert_int_equal(rc, 0);
  snap_same(&before, card);
  free(before.bytes);
  if (st) {
    assert_int_equal(store_writes(log), 0);
    unlink(log);
  }
  return rc;
}

/* The "id" of the first element of o[key] (borrowed from o). */
static const char *first_id(json_object *o, const char *key) {
  json_object *a = json_object_object_get(o, key);
  assert_true(json_object_array_length(a) > 0);
  return jstr(json_object_array_get_idx(a, 0), "id");
}

static void reads_write_nothing(void **state) {
  (void)state;
  json_object_put(
      admin("POST", "/__emulator/mail/alice@contoso.test/messages",
            "{\"folder\":\"inbox\",\"subject\":\"Read me\",\"from\":"
            "\"bob@contoso.test\",\"toRecipients\":[\"alice@contoso.test\"],"
            "\"body\":\"text\",\"attachments\":[{\"name\":\"a.txt\","
            "\"contentType\":\"text/plain\",\"text\":\"hello\"}]}",
            201));
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);
  if (!have_strace())
    fprintf(stderr, "(strace not installed: the store's bytes and mtime "
                    "are checked, not the system calls)\n");
  long tokens = sc_token_requests();

  wproc p;
  run_read(&p, "list_folders", "{}");
  run_read(&p, "search_emails", "{\"subject\":\"Read me\"}");
  json_object *out = json_tokener_parse(p.stdout_);
  assert_non_null(out);
  char *id = strdup(first_id(out, "messages"));
  json_object_put(out);
  char in[1024];
  snprintf(in, sizeof in, "{\"message_id\":\"%s\"}", id);
  run_read(&p, "get_message", in);
  assert_non_null(strstr(p.stdout_, "Read me"));
  run_read(&p, "list_attachments", in);
  assert_non_null(strstr(p.stdout_, "a.txt"));
  snprintf(in, sizeof in, "{\"message_ids\":[\"%s\"]}", id);
  run_read(&p, "get_messages", in);
  free(id);
  /* The token was fresh: nothing was refreshed (nothing to write). */
  assert_int_equal(sc_token_requests(), tokens);

  /* A refresh writes the rotated tokens and last_used_at with them. */
  json_object *c = sc_show("alice");
  const char *used0 = jstr(c, "last_used_at");
  char *before = used0 ? strdup(used0) : NULL;
  json_object_put(c);
  advance(2 * 3600); /* the access token expired */
  snap s;
  snap_take(&s);
  assert_int_equal(sc_list_folders("alice"), 0);
  assert_true(sc_token_requests() > tokens);
  snap t;
  snap_take(&t);
  assert_false(s.len == t.len && memcmp(s.bytes, t.bytes, s.len) == 0);
  free(s.bytes), free(t.bytes);
  c = sc_show("alice");
  const char *used1 = jstr(c, "last_used_at");
  assert_non_null(used1);
  if (before != NULL)
    assert_true(strcmp(used1, before) > 0);
  json_object_put(c);
  free(before);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(reads_write_nothing, sc_up, sc_down),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
