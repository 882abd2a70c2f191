/* The `wfc` executable: plugin inspect (text, JSON, refusals, manifest
 * check, --isolated), card list and card describe, every command with
 * damaged plugin files in the plugin path, and card run / flow run of a
 * listing whose items the host keeps as text (ABI 1.5), run as a real
 * process. */
#define _POSIX_C_SOURCE 200809L /* mkdtemp, kill, pread/pwrite (abi_util.h) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "abi_util.h"
#include "wfc/plugin.h"
#include "tsys.h"

typedef struct run {
  int status;        /* exit code */
  char out[1 << 20]; /* inspect --json of a plugin with many cards */
  char err[1 << 14];
} run;

static void slurp(const char *path, char *buf, size_t len) {
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, len - 1, f) : 0;
  buf[n] = '\0';
  if (f)
    fclose(f);
}

/* Runs "<build>/bin/wfc <args>" with env extra (may be NULL, "K=V K2=V2"
 * prefix for the shell), capturing stdout and stderr. */
static run *wfc(const char *env, const char *args) {
  static run r;
  char cmd[8192];
  snprintf(cmd, sizeof cmd,
           "%s %s %s >/tmp/wfc-cli-out.%d 2>/tmp/wfc-cli-err.%d",
           env ? env : "", build_path(3, "bin/wfc"), args, (int)getpid(),
           (int)getpid());
  int st = system(cmd);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  char p[64];
  snprintf(p, sizeof p, "/tmp/wfc-cli-out.%d", (int)getpid());
  slurp(p, r.out, sizeof r.out);
  unlink(p);
  snprintf(p, sizeof p, "/tmp/wfc-cli-err.%d", (int)getpid());
  slurp(p, r.err, sizeof r.err);
  unlink(p);
  return &r;
}

static int count_lines(const char *s) {
  int n = 0;
  for (; *s; s++)
    n += *s == '\n';
  return n;
}

/* ---- a listing kept as text (ABI 1.5) ---------------------------------- */

/* Runs `wfc card run testplugin.list` with the plugins of dir (a store
 * and blob directory under tmp), stdout to out. Its exit status. */
static int card_list(const char *tmp, const char *dir, const char *input,
                     const char *flags, const char *out) {
  char cmd[16384];
  snprintf(cmd, sizeof cmd,
           "WFC_STORE=%s/store.db WFC_BLOB_DIR=%s/blobs WFC_PLUGIN_PATH=%s "
           "%s card run testplugin.list --input '%s' %s >%s 2>%s/err",
           tmp, tmp, dir, build_path(3, "bin/wfc"), input, flags, out, tmp);
  int st = system(cmd);
  return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int same_file(const char *a, const char *b) {
  char cmd[9000];
  snprintf(cmd, sizeof cmd, "cmp -s %s %s", a, b);
  return system(cmd) == 0;
}

/* `wfc card run` of a listing: the output the host writes from the list
 * kept as text is byte for byte the one of the same plugin built against
 * ABI 1.4 (json-c arrays, the tree path), compact and indented, across
 * the text's chunks (256 KiB: 2,000 items are ~380 KB) and pages; it
 * parses, holds every item in order; a failure mid-listing prints no
 * output and fails, as before. */
static void test_card_run_text_list(void **state) {
  (void)state;
  const char *old_dir = getenv("WFC_ABI14_DIR");
  assert_non_null(old_dir);
  char tmp[] = "/tmp/wfc-abi-list-XXXXXX";
  assert_non_null(mkdtemp(tmp));
  char dir[4200], a[4200], b[4200];
  snprintf(dir, sizeof dir, "%s", build_path(1, "plugins"));
  snprintf(a, sizeof a, "%s/new.json", tmp);
  snprintf(b, sizeof b, "%s/old.json", tmp);
  static const char *const inputs[] = {"{\"count\":2000,\"page\":7}",
                                       "{\"count\":0}", "{\"count\":1}"};
  for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
    for (int pretty = 0; pretty <= 1; pretty++) {
      const char *fl = pretty ? "" : "--json";
      assert_int_equal(card_list(tmp, dir, inputs[i], fl, a), 0);
      assert_int_equal(card_list(tmp, old_dir, inputs[i], fl, b), 0);
      if (!same_file(a, b))
        fail_msg("%s %s: outputs differ (%s, %s)", inputs[i], fl, a, b);
    }
  /* The last compact run of 2,000 items, parsed. */
  assert_int_equal(card_list(tmp, dir, inputs[0], "--json", a), 0);
  json_object *o = json_object_from_file(a);
  assert_non_null(o);
  json_object *items = json_object_object_get(o, "items");
  assert_int_equal(json_object_array_length(items), 2000);
  assert_int_equal(json_object_get_int64(json_object_object_get(o, "count")),
                   2000);
  for (size_t i = 0; i < 2000; i++)
    assert_int_equal(json_object_get_int64(json_object_object_get(
                         json_object_array_get_idx(items, i), "n")),
                     (int64_t)i);
  json_object_put(o);

  /* Failing after 150 items (some pages in): the error alone, no items. */
  assert_int_equal(card_list(tmp, dir,
                             "{\"count\":400,\"page\":7,\"fail_at\":150}",
                             "--json", a),
                   1);
  o = json_object_from_file(a);
  assert_non_null(o);
  assert_null(json_object_object_get(o, "items"));
  json_object *e = json_object_object_get(o, "error");
  assert_string_equal(json_object_get_string(json_object_object_get(e, "code")),
                      "EREMOTE");
  assert_non_null(
      strstr(json_object_get_string(json_object_object_get(e, "message")),
             "listing failed after 150"));
  json_object_put(o);
  assert_int_equal(tsys_rm_rf(tmp), 0);
}

/* A flow's step templates into a listing's items: flows take outputs as
 * trees, so a path into the list reads the item. */
static void test_flow_templates_into_list(void **state) {
  (void)state;
  char tmp[] = "/tmp/wfc-abi-flow-XXXXXX";
  assert_non_null(mkdtemp(tmp));
  char path[4200], env[8400], args[4300];
  snprintf(path, sizeof path, "%s/list.flow.json", tmp);
  FILE *f = fopen(path, "w");
  assert_non_null(f);
  fputs("{\"steps\":[{\"name\":\"a\",\"card\":\"testplugin.list\","
        "\"input\":{\"count\":400,\"page\":7}},"
        "{\"name\":\"b\",\"card\":\"testplugin.later\",\"input\":"
        "{\"text\":\"{{steps.a.items[302].tags[1]}} {{steps.a.count}}\","
        "\"delay_ms\":0}}]}",
        f);
  fclose(f);
  snprintf(env, sizeof env,
           "WFC_STORE=%s/store.db WFC_BLOB_DIR=%s/blobs WFC_PLUGIN_PATH=%s",
           tmp, tmp, build_path(1, "plugins"));
  snprintf(args, sizeof args, "flow run %s --json", path);
  run *r = wfc(env, args);
  if (r->status != 0)
    fail_msg("flow run: %d: %s", r->status, r->err);
  json_object *o = json_tokener_parse(r->out);
  assert_non_null(o);
  json_object *steps = json_object_object_get(o, "steps");
  assert_string_equal(json_object_get_string(json_object_object_get(
                          json_object_object_get(steps, "b"), "text")),
                      "t:1, 400");
  assert_int_equal(json_object_array_length(json_object_object_get(
                       json_object_object_get(steps, "a"), "items")),
                   400);
  json_object_put(o);
  assert_int_equal(tsys_rm_rf(tmp), 0);
}

static void test_inspect_json(void **state) {
  (void)state;
  char args[4200];
  snprintf(args, sizeof args, "plugin inspect %s --json", testplugin_path());
  run *r = wfc(NULL, args);
  assert_int_equal(r->status, 0);
  assert_string_equal(r->err, "");
  json_object *o = json_tokener_parse(r->out);
  assert_non_null(o);
  json_object *v;
  assert_string_equal(json_object_get_string(json_object_object_get(o, "name")),
                      "testplugin");
  assert_string_equal(
      json_object_get_string(json_object_object_get(o, "version")), "1.2.3");
  assert_string_equal(
      json_object_get_string(json_object_object_get(o, "fingerprint")),
      WFC_ABI_FINGERPRINT);
  v = json_object_object_get(o, "abi");
  assert_int_equal(json_object_get_int(json_object_object_get(v, "major")),
                   WFC_ABI_MAJOR);
  v = json_object_object_get(o, "cards");
  assert_int_equal(json_object_array_length(v), 16);
  json_object *later = json_object_array_get_idx(v, 0);
  assert_string_equal(
      json_object_get_string(json_object_object_get(later, "id")), "later");
  json_object *text =
      json_object_array_get_idx(json_object_object_get(later, "inputs"), 0);
  assert_string_equal(
      json_object_get_string(json_object_object_get(text, "type")), "string");
  assert_true(
      json_object_get_boolean(json_object_object_get(text, "required")));
  v = json_object_array_get_idx(json_object_object_get(o, "connection_types"),
                                0);
  assert_string_equal(json_object_get_string(json_object_object_get(v, "id")),
                      "testconn");
  v = json_object_object_get(o, "manifest");
  assert_string_equal(
      json_object_get_string(json_object_object_get(v, "status")), "ok");
  assert_int_equal(
      json_object_array_length(json_object_object_get(v, "problems")), 0);
  json_object_put(o);
}

static void test_inspect_text(void **state) {
  (void)state;
  char args[4200];
  snprintf(args, sizeof args, "plugin inspect %s", testplugin_path());
  run *r = wfc(NULL, args);
  assert_int_equal(r->status, 0);
  assert_non_null(strstr(r->out, "plugin testplugin 1.2.3 (ABI 1.5)\n"));
  assert_non_null(strstr(r->out, "  testplugin.events [event] - New Event\n"));
  assert_non_null(strstr(r->out, "manifest: ok ("));
  assert_non_null(strstr(r->out, "text                 string           "
                                 "required  - Text to echo"));
}

static void test_inspect_refusals(void **state) {
  (void)state;
  static const struct {
    const char *kind, *msg;
  } cases[] = {
      {"major",
       "plugin ABI 2.5 has another major version than the host's ABI 1.5"},
      {"minor", "plugin needs ABI 1.6, newer than the host's ABI 1.5"},
      {"magic", "not a wfc plugin: bad magic 0xdeadbeef (expected 0x57464331)"},
      {"noentry", "not a wfc plugin: no wfc_plugin_entry_v1 symbol"},
      {"init", "init failed: missing setting BROKEN_TENANT (EINVAL)"},
      {"dupcard", "bad registration: duplicate card id \"ok\""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    for (int json = 0; json < 2; json++) {
      char args[4200], want[4400];
      const char *path = broken_path(cases[i].kind);
      snprintf(args, sizeof args, "plugin inspect %s%s", path,
               json ? " --json" : "");
      run *r = wfc(NULL, args);
      snprintf(want, sizeof want, "wfc: %s: %s\n", path, cases[i].msg);
      assert_int_equal(r->status, 1);
      assert_string_equal(r->err, want);
      if (!json) {
        assert_string_equal(r->out, "");
        continue;
      }
      /* --json: the same error as one object on stdout. */
      json_object *o = json_tokener_parse(r->out), *e, *m;
      assert_non_null(o);
      assert_true(json_object_object_get_ex(o, "error", &e));
      assert_true(json_object_object_get_ex(e, "message", &m));
      want[strlen(want) - 1] = '\0';
      assert_string_equal(json_object_get_string(m), want + 5);
      json_object_put(o);
    }
  }
  run *r = wfc(NULL, "plugin inspect /nonexistent/x.so");
  assert_int_equal(r->status, 1);
  assert_string_equal(r->err, "wfc: /nonexistent/x.so: file not found\n");
  r = wfc(NULL, "plugin inspect");
  assert_int_equal(r->status, 2);
  r = wfc(NULL, "plugin frobnicate");
  assert_int_equal(r->status, 2);
  r = wfc(NULL, "nosuchgroup");
  assert_int_equal(r->status, 2);
}

/* A manifest that disagrees in version, one schema, and the card set. */
static void test_inspect_manifest_mismatch(void **state) {
  (void)state;
  char src[4096];
  snprintf(src, sizeof src, "%s",
           build_path(1, "plugins/wfc-testplugin.manifest.json"));
  json_object *m = json_object_from_file(src);
  assert_non_null(m);
  json_object_object_add(m, "version", json_object_new_string("9.9.9"));
  json_object *cards = json_object_object_get(m, "cards");
  json_object *later = json_object_array_get_idx(cards, 0);
  json_object *text =
      json_object_array_get_idx(json_object_object_get(later, "inputs"), 0);
  json_object_object_add(text, "required", json_object_new_boolean(0));
  json_object_array_del_idx(cards, 1, 1); /* "now" */
  json_object *ghost = json_object_new_object();
  json_object_object_add(ghost, "id", json_object_new_string("ghost"));
  json_object_array_add(cards, ghost);
  char path[64];
  snprintf(path, sizeof path, "/tmp/wfc-manifest-%d.json", (int)getpid());
  assert_int_equal(json_object_to_file(path, m), 0);
  json_object_put(m);

  char args[4300];
  snprintf(args, sizeof args, "plugin inspect %s --manifest %s --json",
           testplugin_path(), path);
  run *r = wfc(NULL, args);
  assert_int_equal(r->status, 1);
  char want[4][512];
  snprintf(want[0], sizeof want[0],
           "wfc: manifest %s: version: manifest \"9.9.9\", plugin \"1.2.3\"\n",
           path);
  snprintf(want[1], sizeof want[1],
           "wfc: manifest %s: card \"later\": inputs[0].required: manifest "
           "false, plugin true\n",
           path);
  snprintf(want[2], sizeof want[2],
           "wfc: manifest %s: card \"now\": registered by the plugin, not in "
           "the manifest\n",
           path);
  snprintf(want[3], sizeof want[3],
           "wfc: manifest %s: card \"ghost\": in the manifest, not registered "
           "by the plugin\n",
           path);
  for (int i = 0; i < 4; i++)
    if (strstr(r->err, want[i]) == NULL)
      fail_msg("missing line %d: %s\nstderr:\n%s", i, want[i], r->err);
  assert_int_equal(count_lines(r->err), 4);
  json_object *o = json_tokener_parse(r->out);
  assert_non_null(o);
  json_object *mo = json_object_object_get(o, "manifest");
  assert_string_equal(
      json_object_get_string(json_object_object_get(mo, "status")), "mismatch");
  assert_int_equal(
      json_object_array_length(json_object_object_get(mo, "problems")), 4);
  json_object_put(o);

  /* A manifest that is not JSON, and one that does not exist. */
  FILE *f = fopen(path, "w");
  fputs("{\"name\": ", f);
  fclose(f);
  r = wfc(NULL, args);
  assert_int_equal(r->status, 1);
  assert_non_null(strstr(r->err, "malformed JSON"));
  unlink(path);
  r = wfc(NULL, args);
  assert_int_equal(r->status, 1);
  assert_non_null(strstr(r->err, "cannot open"));
}

static void test_card_list_and_describe(void **state) {
  (void)state;
  char args[4300];
  const char *dir = build_path(1, "plugins");
  snprintf(args, sizeof args, "card list --plugin-dir %s --json", dir);
  run *r = wfc(NULL, args);
  assert_int_equal(r->status, 0);
  json_object *o = json_tokener_parse(r->out);
  assert_non_null(o);
  int seen = 0;
  for (size_t i = 0; i < json_object_array_length(o); i++) {
    json_object *c = json_object_array_get_idx(o, i);
    if (strcmp(json_object_get_string(json_object_object_get(c, "id")),
               "testplugin.events") == 0) {
      seen++;
      assert_string_equal(
          json_object_get_string(json_object_object_get(c, "kind")), "event");
      assert_string_equal(
          json_object_get_string(json_object_object_get(c, "plugin")),
          "testplugin");
    }
  }
  assert_int_equal(seen, 1);
  json_object_put(o);

  /* Default directory: <dir of wfc>/../plugins, no env. */
  r = wfc("env -u WFC_PLUGIN_PATH", "card list");
  assert_int_equal(r->status, 0);
  assert_non_null(strstr(r->out, "testplugin.later "));
  /* WFC_PLUGIN_PATH wins over the default. */
  r = wfc("WFC_PLUGIN_PATH=/nonexistent", "card list --json");
  assert_int_equal(r->status, 0);
  assert_null(strstr(r->out, "testplugin"));
  assert_non_null(strstr(r->err, "cannot read plugin directory /nonexistent"));
  /* Where plugins were searched: in `plugin list` and in "not found". */
  r = wfc("WFC_PLUGIN_PATH=/nonexistent:/nonexistent2", "plugin list");
  assert_int_equal(r->status, 0);
  assert_non_null(
      strstr(r->out, "plugins searched in /nonexistent, /nonexistent2"));
  r = wfc("env -u WFC_PLUGIN_PATH", "plugin list");
  assert_int_equal(r->status, 0);
  assert_non_null(strstr(r->out, "plugins searched in "));
  assert_non_null(strstr(r->out, "/bin/../plugins"));
  r = wfc("WFC_PLUGIN_PATH=/nonexistent", "card describe nosuch.card");
  assert_int_equal(r->status, 1);
  assert_non_null(strstr(r->err, "plugins searched in /nonexistent"));
  r = wfc("WFC_PLUGIN_PATH=/nonexistent", "card list");
  assert_int_equal(r->status, 0);
  assert_non_null(
      strstr(r->err, "no plugins loaded (plugins searched in /nonexistent)"));

  snprintf(args, sizeof args,
           "card describe testplugin.later --plugin-dir %s --json", dir);
  r = wfc(NULL, args);
  assert_int_equal(r->status, 0);
  o = json_tokener_parse(r->out);
  assert_non_null(o);
  assert_string_equal(json_object_get_string(json_object_object_get(o, "id")),
                      "testplugin.later");
  assert_int_equal(
      json_object_array_length(json_object_object_get(o, "inputs")), 2);
  json_object_put(o);

  snprintf(args, sizeof args, "card describe later --plugin-dir %s", dir);
  r = wfc(NULL, args);
  assert_int_equal(r->status, 0);
  assert_non_null(strstr(r->out, "testplugin.later [action] - Later\n"));

  snprintf(args, sizeof args, "card describe nope --plugin-dir %s", dir);
  r = wfc(NULL, args);
  assert_int_equal(r->status, 1);
  assert_string_equal(r->out, "");
  assert_non_null(strstr(r->err, "wfc: card \"nope\" not found"));
  assert_int_equal(count_lines(r->err), 1);
}

/* A plugin directory holding the good plugin beside cut copies of it (in
 * the ELF header, the program headers, a loadable segment, the section
 * headers: dlopen died of SIGBUS on some, and took every command down), a
 * 32-bit ELF header, a text file and a directory named like a plugin:
 * every command still works, each bad file is named in a warning with its
 * cause, and the good plugin loads. */
static void test_damaged_plugins_in_path(void **state) {
  (void)state;
  char dir[] = "/tmp/wfc-damaged-XXXXXX";
  assert_non_null(mkdtemp(dir));
  const char *good = testplugin_path();
  char path[512], bad[8][128], want[8][1600];
  int nbad = 0;
  snprintf(path, sizeof path, "%s/wfc-testplugin.so", dir);
  assert_int_equal(abi_copy(good, path, UINT64_MAX), 0);
  abi_cut cut[4];
  assert_int_equal(abi_cuts(good, cut), 4);
  for (int i = 0; i < 4; i++, nbad++) {
    snprintf(bad[nbad], sizeof bad[nbad], "%s/wfc-cut-%s.so", dir, cut[i].name);
    assert_int_equal(abi_copy(good, bad[nbad], cut[i].at), 0);
    snprintf(want[nbad], sizeof want[nbad], "wfc: warning: %s: %s\n", bad[nbad],
             cut[i].want);
  }
  snprintf(bad[nbad], sizeof bad[nbad], "%s/wfc-32bit.so", dir);
  assert_int_equal(abi_copy(good, bad[nbad], UINT64_MAX), 0);
  unsigned char cls = sizeof(void *) == 8 ? ELFCLASS32 : ELFCLASS64;
  assert_int_equal(abi_patch(bad[nbad], EI_CLASS, &cls, 1), 0);
  snprintf(want[nbad], sizeof want[nbad],
           "wfc: warning: %s: not a wfc plugin: a %s ELF file; this host "
           "loads %d-bit plugins\n",
           bad[nbad], cls == ELFCLASS32 ? "32-bit" : "64-bit",
           (int)sizeof(void *) * 8);
  nbad++;
  snprintf(bad[nbad], sizeof bad[nbad], "%s/wfc-text.so", dir);
  FILE *t = fopen(bad[nbad], "w");
  fputs("not a plugin\n", t);
  fclose(t);
  snprintf(want[nbad], sizeof want[nbad],
           "wfc: warning: %s: not a wfc plugin: not an ELF file\n", bad[nbad]);
  nbad++;
  snprintf(bad[nbad], sizeof bad[nbad], "%s/wfc-dir.so", dir);
  assert_int_equal(mkdir(bad[nbad], 0755), 0);
  snprintf(want[nbad], sizeof want[nbad],
           "wfc: warning: %s: not a wfc plugin: not a regular file\n",
           bad[nbad]);
  nbad++;

  /* describe is quiet about plugins that are not the card's. */
  static const struct {
    const char *cmd, *tail;
    int warns;
  } cmds[] = {{"plugin list", "", 1},
              {"card list", " --json", 1},
              {"card describe testplugin.later", "", 0}};
  size_t ncmds = sizeof cmds / sizeof cmds[0];
  for (size_t i = 0; i < ncmds + 1; i++) {
    char args[1024];
    run *r;
    if (i < ncmds) {
      snprintf(args, sizeof args, "%s --plugin-dir %s%s", cmds[i].cmd, dir,
               cmds[i].tail);
      r = wfc(NULL, args);
    } else { /* the plugin path from the environment */
      char env[600];
      snprintf(env, sizeof env, "WFC_PLUGIN_PATH=%s", dir);
      snprintf(args, sizeof args, "card list");
      r = wfc(env, args);
    }
    if (r->status != 0)
      fail_msg("%s: exit %d\n%s", args, r->status, r->err);
    assert_non_null(strstr(r->out, "testplugin"));
    if (i < ncmds && !cmds[i].warns) {
      assert_string_equal(r->err, "");
      continue;
    }
    for (int k = 0; k < nbad; k++)
      if (strstr(r->err, want[k]) == NULL)
        fail_msg("%s: no \"%s\" in:\n%s", args, want[k], r->err);
    assert_int_equal(count_lines(r->err), nbad);
  }
  /* Commands with a store load the same directory (quietly too). */
  char args[1024], env[600];
  snprintf(env, sizeof env, "WFC_PLUGIN_PATH=%s", dir);
  snprintf(args, sizeof args, "connection list --store %s/store.db", dir);
  run *r = wfc(env, args);
  if (r->status != 0)
    fail_msg("%s: exit %d\n%s", args, r->status, r->err);
  /* inspect of one of them names it, also --isolated. */
  for (int iso = 0; iso < 2; iso++) {
    snprintf(args, sizeof args, "plugin inspect %s%s", iso ? "--isolated " : "",
             bad[2]);
    r = wfc(NULL, args);
    assert_int_equal(r->status, 1);
    assert_string_equal(r->out, "");
    assert_non_null(strstr(r->err, strstr(want[2], bad[2])));
  }

  for (int k = 0; k < nbad; k++)
    if (unlink(bad[k]) != 0)
      rmdir(bad[k]);
  unlink(path);
  snprintf(path, sizeof path, "%s/store.db", dir);
  unlink(path);
  DIR *d = opendir(dir); /* the store's side files */
  struct dirent *e;
  while (d != NULL && (e = readdir(d)) != NULL)
    if (e->d_name[0] != '.') {
      snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
      unlink(path);
    }
  if (d != NULL)
    closedir(d);
  assert_int_equal(rmdir(dir), 0);
}

/* A plugin whose init raises SIGSEGV takes `plugin inspect` down (plugins
 * run in-process); with --isolated the child dies, and wfc reports the
 * signal and exits 1. A good plugin inspects the same either way. */
static void test_inspect_isolated(void **state) {
  (void)state;
  char crash[4200], args[4400];
  snprintf(crash, sizeof crash, "%s/wfc-broken-crash.so",
           getenv("WFC_ABI_EXTRA_DIR"));
  /* Under ASan its SEGV handler would turn the signal into an exit. */
  const char *env = "ASAN_OPTIONS=\"$ASAN_OPTIONS:handle_segv=0\"";
  snprintf(args, sizeof args, "plugin inspect --isolated %s", crash);
  run *r = wfc(env, args);
  assert_int_equal(r->status, 1);
  assert_string_equal(r->out, "");
  char want[4600];
  snprintf(want, sizeof want,
           "wfc: plugin %s crashed while being loaded and checked in a child "
           "process: SIGSEGV (",
           crash);
  if (strncmp(r->err, want, strlen(want)) != 0)
    fail_msg("got: %s", r->err);
  assert_int_equal(count_lines(r->err), 1);
  snprintf(args, sizeof args, "plugin inspect %s", crash);
  r = wfc(env, args);
  assert_int_equal(r->status, 128 + SIGSEGV); /* the shell's view of it */

  snprintf(args, sizeof args, "plugin inspect %s --json", testplugin_path());
  r = wfc(NULL, args);
  assert_int_equal(r->status, 0);
  char plain[sizeof r->out];
  snprintf(plain, sizeof plain, "%s", r->out);
  snprintf(args, sizeof args, "plugin inspect --isolated %s --json",
           testplugin_path());
  r = wfc(NULL, args);
  assert_int_equal(r->status, 0);
  assert_string_equal(r->err, "");
  assert_string_equal(r->out, plain);
  r = wfc(NULL, "plugin inspect --help");
  assert_int_equal(r->status, 0);
  assert_non_null(strstr(r->out, "--isolated"));
  assert_non_null(strstr(r->out, "Plugins run inside the wfc process"));
}

/* Every plugin the project builds loads and matches its manifest (the
 * real plugin's is the repository's manifest.json, copied beside it). */
static void test_every_plugin_matches_its_manifest(void **state) {
  (void)state;
  const char *dir = build_path(1, "plugins");
  DIR *d = opendir(dir);
  assert_non_null(d);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL) {
    size_t len = strlen(e->d_name);
    if (len < 4 || strcmp(e->d_name + len - 3, ".so") != 0)
      continue;
    char args[4400];
    snprintf(args, sizeof args, "plugin inspect %s/%s --json", dir, e->d_name);
    run *r = wfc(NULL, args);
    if (r->status != 0)
      fail_msg("%s: exit %d\n%s", e->d_name, r->status, r->err);
    json_object *o = json_tokener_parse(r->out);
    assert_non_null(o);
    json_object *m = json_object_object_get(o, "manifest");
    if (strcmp(json_object_get_string(json_object_object_get(m, "status")),
               "ok") != 0)
      fail_msg("%s: manifest %s\n%s", e->d_name,
               json_object_get_string(json_object_object_get(m, "status")),
               r->err);
    json_object_put(o);
    n++;
  }
  closedir(d);
  assert_true(n >= 1);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_inspect_json),
      cmocka_unit_test(test_inspect_text),
      cmocka_unit_test(test_inspect_refusals),
      cmocka_unit_test(test_inspect_manifest_mismatch),
      cmocka_unit_test(test_card_list_and_describe),
      cmocka_unit_test(test_damaged_plugins_in_path),
      cmocka_unit_test(test_inspect_isolated),
      cmocka_unit_test(test_every_plugin_matches_its_manifest),
      cmocka_unit_test(test_card_run_text_list),
      cmocka_unit_test(test_flow_templates_into_list),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
