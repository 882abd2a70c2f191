/* Loading plugins: the good test plugin, every refusal of the loader in
 * its order, each with its one-line message, the ELF checks before dlopen
 * (cut and crafted files), and that the loaded object is the checked file.
 * test_refusals also covers the /proc/<pid>/fd names: each broken plugin
 * gets a descriptor number a previous one had, and must still be itself. */
#define _GNU_SOURCE /* dlinfo, RTLD_DI_LINKMAP, <uv.h>, mkdtemp */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <link.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <uv.h>

#include "abi_util.h"
#include "wfc/host.h"

typedef struct fixture {
  uv_loop_t loop;
  wfc_runtime *rt;
  int closed;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  assert_int_equal(uv_loop_init(&f->loop), 0);
  wfc_runtime_opts o = {.size = sizeof o, .check_outputs = 1};
  assert_int_equal(wfc_runtime_new(&f->loop, &o, &f->rt), 0);
  *state = f;
  return 0;
}

static void on_closed(void *arg) {
  ((fixture *)arg)->closed++;
}

static int teardown(void **state) {
  fixture *f = *state;
  wfc_runtime_close(f->rt, on_closed, f);
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  assert_int_equal(f->closed, 1);
  assert_int_equal(uv_loop_close(&f->loop), 0);
  free(f);
  return 0;
}

static void test_load_testplugin(void **state) {
  fixture *f = *state;
  char err[1024] = "";
  wfc_plugin *p = NULL;
  int rc = wfc_runtime_load(f->rt, testplugin_path(), &p, err, sizeof err);
  if (rc != 0)
    fail_msg("%s", err);
  assert_non_null(p);
  assert_string_equal(wfc_plugin_name(p), "testplugin");
  assert_string_equal(wfc_plugin_version(p), "1.2.3");
  assert_string_equal(wfc_plugin_path(p), testplugin_path());
  assert_string_equal(wfc_plugin_fingerprint(p), WFC_ABI_FINGERPRINT);
  assert_int_equal(wfc_plugin_abi(p), (WFC_ABI_MAJOR << 16) | WFC_ABI_MINOR);
  assert_int_equal(wfc_plugin_card_count(p), 16);
  assert_int_equal(wfc_plugin_conn_type_count(p), 1);
  assert_string_equal(wfc_plugin_card(p, 0)->id, "later");
  assert_null(wfc_plugin_card(p, 16));
  assert_string_equal(wfc_plugin_conn_type(p, 0)->id, "testconn");
  assert_int_equal(wfc_runtime_plugin_count(f->rt), 1);
  assert_ptr_equal(wfc_runtime_plugin(f->rt, 0), p);
  assert_ptr_equal(wfc_runtime_find_plugin(f->rt, "testplugin"), p);
  assert_null(wfc_runtime_find_plugin(f->rt, "other"));

  wfc_plugin *fp = NULL;
  const wfc_card_desc *c = NULL;
  assert_int_equal(wfc_runtime_find_card(f->rt, "testplugin.stream", &fp, &c),
                   0);
  assert_ptr_equal(fp, p);
  assert_string_equal(c->name, "Stream");
  assert_int_equal(wfc_runtime_find_card(f->rt, "events", NULL, &c), 0);
  assert_int_equal(c->kind, WFC_CARD_EVENT);
  assert_int_equal(wfc_runtime_find_card(f->rt, "testplugin.nope", NULL, NULL),
                   WFC_ENOTFOUND);
  assert_int_equal(wfc_runtime_find_card(f->rt, "other.later", NULL, NULL),
                   WFC_ENOTFOUND);
  const wfc_conn_type_desc *t = NULL;
  assert_int_equal(
      wfc_runtime_find_conn_type(f->rt, "testplugin.testconn", NULL, &t), 0);
  assert_string_equal(t->name, "Test Connection");

  /* The same plugin twice: refused by name, the first stays. */
  rc = wfc_runtime_load(f->rt, testplugin_path(), NULL, err, sizeof err);
  assert_int_equal(rc, WFC_EEXIST);
  assert_non_null(strstr(err, "a plugin named \"testplugin\" is already"));
  assert_int_equal(wfc_runtime_plugin_count(f->rt), 1);
}

static void test_schema_json(void **state) {
  fixture *f = *state;
  char err[1024];
  wfc_plugin *p;
  assert_int_equal(
      wfc_runtime_load(f->rt, testplugin_path(), &p, err, sizeof err), 0);
  json_object *s = wfc_schema_to_json(wfc_plugin_card(p, 0)->inputs);
  assert_string_equal(
      json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN),
      "[{\"name\":\"text\",\"type\":\"string\",\"required\":true,"
      "\"description\":\"Text to echo\",\"max\":100},"
      "{\"name\":\"delay_ms\",\"type\":\"integer\",\"required\":false,"
      "\"description\":\"Delay before completion\",\"default\":5,"
      "\"max\":10000}]");
  json_object_put(s);
  s = wfc_card_to_json(wfc_plugin_card(p, 10));
  assert_string_equal(
      json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN),
      "{\"id\":\"events\",\"name\":\"New Event\",\"description\":\"Polls a "
      "fixed list of events.\",\"kind\":\"event\",\"inputs\":[{\"name\":"
      "\"folder\",\"type\":\"string\",\"required\":false,\"default\":"
      "\"inbox\",\"enum\":[\"inbox\",\"archive\"]}],\"outputs\":[]}");
  json_object_put(s);
  s = wfc_conn_type_to_json(wfc_plugin_conn_type(p, 0));
  json_object *hooks = json_object_object_get(s, "hooks");
  assert_int_equal(json_object_array_length(hooks), 4);
  json_object_put(s);
  s = wfc_schema_to_json(NULL);
  assert_string_equal(json_object_to_json_string(s), "[ ]");
  json_object_put(s);
}

typedef struct refusal {
  const char *kind;
  int code;
  const char *message; /* after "<path>: " */
  int prefix_only;     /* message is a prefix of the rest */
} refusal;

static const refusal refusals[] = {
    {"magic", WFC_ENOTPLUGIN,
     "not a wfc plugin: bad magic 0xdeadbeef (expected 0x57464331)", 0},
    {"nulldesc", WFC_ENOTPLUGIN,
     "not a wfc plugin: wfc_plugin_entry_v1 returned NULL", 0},
    {"noentry", WFC_ENOTPLUGIN,
     "not a wfc plugin: no wfc_plugin_entry_v1 symbol", 0},
    {"major", WFC_EABI,
     "plugin ABI 2.5 has another major version than the host's ABI 1.5", 0},
    {"minor", WFC_EABINEWER,
     "plugin needs ABI 1.6, newer than the host's ABI 1.5", 0},
    {"size", WFC_ENOTPLUGIN, "descriptor size 16 is smaller than the v1 header",
     1},
    {"fingerprint", WFC_EFINGERPRINT,
     "ABI fingerprint differs: plugin "
     "\"ptr8-size8-long8-uv0-curl0-jsonc0-ossl0-asan0\", host "
     "\"" WFC_ABI_FINGERPRINT "\"",
     0},
    {"init", WFC_EPLUGININIT,
     "init failed: missing setting BROKEN_TENANT (EINVAL)", 0},
    {"inittimer", WFC_EPLUGININIT,
     "init failed: gave up after starting a timer (EIO)", 0},
    {"nullhook", WFC_EREGISTER,
     "bad registration: card \"ok\": invoke hook is NULL", 0},
    {"dupcard", WFC_EREGISTER, "bad registration: duplicate card id \"ok\"", 0},
    {"badschema", WFC_EREGISTER,
     "bad registration: card \"ok\": bad input schema: schema.recipients: "
     "LIST needs .items",
     0},
    {"badid", WFC_EREGISTER,
     "bad registration: card id \"Send-Mail\" is not [a-z][a-z0-9_]* (max "
     "64)",
     0},
    {"oversized", WFC_EREGISTER, "bad registration: card descriptor of ", 1},
    {"noconntype", WFC_EREGISTER,
     "bad registration: card \"ok\" needs connection type \"nowhere\", which "
     "the plugin does not register",
     0},
    {"badflow", WFC_EREGISTER,
     "bad registration: connection type \"flowy\": unknown flow 7 (0 "
     "browser, 1 form, 2 none)",
     0},
    {"nonesecret", WFC_EREGISTER,
     "bad registration: connection type \"flowy\": flow none takes no secret "
     "param, but \"api_key\" is secret (use flow form)",
     0},
    {"nobegin", WFC_EREGISTER,
     "bad registration: connection type \"flowy\": authorize_begin hook is "
     "NULL",
     0},
};

static void test_refusals(void **state) {
  fixture *f = *state;
  for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
    const refusal *r = &refusals[i];
    const char *path = broken_path(r->kind);
    char err[1024] = "";
    wfc_plugin *p = (wfc_plugin *)1;
    int rc = wfc_runtime_load(f->rt, path, &p, err, sizeof err);
    char expect[4096 + 512];
    snprintf(expect, sizeof expect, "%s: %s", path, r->message);
    if (rc != r->code)
      fail_msg("%s: code %s, want %s (%s)", r->kind, wfc_err_name(rc),
               wfc_err_name(r->code), err);
    if (r->prefix_only ? strncmp(err, expect, strlen(expect)) != 0
                       : strcmp(err, expect) != 0)
      fail_msg("%s:\n got  %s\n want %s", r->kind, err, expect);
    assert_null(strchr(err, '\n'));
    assert_ptr_equal(p, (wfc_plugin *)1); /* untouched on failure */
  }
  assert_int_equal(wfc_runtime_plugin_count(f->rt), 0);
  /* The failed plugin's timer still runs its code, which must still be
   * mapped (a dlclose would crash here). */
  wfc_runtime_stats st;
  wfc_runtime_get_stats(f->rt, &st);
  assert_int_equal(st.timers_active, 1);
  assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
  wfc_runtime_get_stats(f->rt, &st);
  assert_int_equal(st.timers_active, 0);
  /* The oversized message gives both sizes. */
  char err[1024];
  wfc_runtime_load(f->rt, broken_path("oversized"), NULL, err, sizeof err);
  char want[128];
  snprintf(want, sizeof want, "of %zu bytes (host knows %zu) has non-zero",
           sizeof(wfc_card_desc) + sizeof(void *), sizeof(wfc_card_desc));
  assert_non_null(strstr(err, want));
}

static void test_file_checks(void **state) {
  fixture *f = *state;
  char err[1024];
  const char *missing = build_path(1, "plugins/no-such-plugin.so");
  assert_int_equal(wfc_runtime_load(f->rt, missing, NULL, err, sizeof err),
                   WFC_ENOTFOUND);
  char want[4200];
  snprintf(want, sizeof want, "%s: file not found", missing);
  assert_string_equal(err, want);

  /* A copy of the good plugin, made world-writable. */
  char dir[] = "/tmp/wfc-abi-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char copy[256], text[256];
  snprintf(copy, sizeof copy, "%s/copy.so", dir);
  snprintf(text, sizeof text, "%s/text.so", dir);
  int in = open(testplugin_path(), O_RDONLY);
  int out = open(copy, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  assert_true(in >= 0 && out >= 0);
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof buf)) > 0)
    assert_int_equal(write(out, buf, (size_t)n), n);
  close(in);
  close(out);
  assert_int_equal(chmod(copy, 0666), 0);
  assert_int_equal(wfc_runtime_load(f->rt, copy, NULL, err, sizeof err),
                   WFC_EDENIED);
  snprintf(want, sizeof want,
           "%s: refusing a group- or world-writable file (mode 0666)", copy);
  assert_string_equal(err, want);
  assert_int_equal(chmod(copy, 0620), 0);
  assert_int_equal(wfc_runtime_load(f->rt, copy, NULL, err, sizeof err),
                   WFC_EDENIED);
  /* Fixed, it loads. */
  assert_int_equal(chmod(copy, 0644), 0);
  assert_int_equal(wfc_runtime_load(f->rt, copy, NULL, err, sizeof err), 0);

  /* Not a shared object at all. */
  FILE *t = fopen(text, "w");
  fputs("hello\n", t);
  fclose(t);
  assert_int_equal(wfc_runtime_load(f->rt, text, NULL, err, sizeof err),
                   WFC_ENOTPLUGIN);
  snprintf(want, sizeof want, "%s: not a wfc plugin: ", text);
  assert_memory_equal(err, want, strlen(want));
  /* A directory. */
  assert_int_equal(wfc_runtime_load(f->rt, dir, NULL, err, sizeof err),
                   WFC_ENOTPLUGIN);
  unlink(copy);
  unlink(text);
  rmdir(dir);
}

/* The loader checks the file before dlopen: cut copies of the good plugin
 * (inside the ELF header, the program headers, a loadable segment, the
 * section headers; dlopen dies of SIGBUS on some of them) and crafted
 * headers (another class, byte order, machine, type; a segment bigger in
 * the file than in memory; a bad section name index; not ELF at all) are
 * refused with the cause; then a copy without section headers, and the
 * good plugin, still load in the same runtime. */
static void test_elf_checks(void **state) {
  fixture *f = *state;
  char dir[] = "/tmp/wfc-elf-XXXXXX";
  assert_non_null(mkdtemp(dir));
  const char *good = testplugin_path();
  abi_cut cut[4];
  assert_int_equal(abi_cuts(good, cut), 4);
  char path[256], err[1024], want[1400];
  for (int i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "%s/cut-%s.so", dir, cut[i].name);
    assert_int_equal(abi_copy(good, path, cut[i].at), 0);
    int rc = wfc_runtime_load(f->rt, path, NULL, err, sizeof err);
    snprintf(want, sizeof want, "%s: %s", path, cut[i].want);
    if (rc != WFC_ENOTPLUGIN || strcmp(err, want) != 0)
      fail_msg("%s: %s\n got  %s\n want %s", cut[i].name, wfc_err_name(rc), err,
               want);
    unlink(path);
  }

  /* Crafted headers on whole copies. */
  int fd = open(good, O_RDONLY);
  ElfW(Ehdr) e;
  assert_int_equal(pread(fd, &e, sizeof e, 0), sizeof e);
  ElfW(Phdr) ph;
  int load = -1;
  for (int i = 0; i < e.e_phnum && load < 0; i++) {
    assert_int_equal(
        pread(fd, &ph, sizeof ph, (off_t)(e.e_phoff + i * sizeof ph)),
        sizeof ph);
    if (ph.p_type == PT_LOAD && ph.p_filesz > 1)
      load = i;
  }
  close(fd);
  assert_true(load >= 0);
  uint8_t other_class = sizeof(void *) == 8 ? ELFCLASS32 : ELFCLASS64;
  uint8_t other_data =
      e.e_ident[EI_DATA] == ELFDATA2LSB ? ELFDATA2MSB : ELFDATA2LSB;
  uint16_t other_machine = e.e_machine == EM_AARCH64 ? EM_X86_64 : EM_AARCH64;
  uint16_t exec = ET_EXEC;
  uint16_t bad_strndx = (uint16_t)(e.e_shnum + 5);
  ElfW(Phdr) small = ph;
  small.p_memsz = ph.p_filesz - 1;
  char want_class[128], want_data[128], want_memsz[160], want_strndx[128];
  snprintf(want_class, sizeof want_class,
           "not a wfc plugin: a %s ELF file; this host loads %d-bit plugins",
           other_class == ELFCLASS32 ? "32-bit" : "64-bit",
           (int)(sizeof(void *) * 8));
  snprintf(want_data, sizeof want_data,
           "not a wfc plugin: a %s ELF file; "
           "this host is %s",
           other_data == ELFDATA2MSB ? "big-endian" : "little-endian",
           other_data == ELFDATA2MSB ? "little-endian" : "big-endian");
  snprintf(want_memsz, sizeof want_memsz,
           "not a wfc plugin: loadable segment %d has %llu bytes in the file "
           "but %llu in memory",
           load, (unsigned long long)ph.p_filesz,
           (unsigned long long)small.p_memsz);
  snprintf(want_strndx, sizeof want_strndx,
           "not a wfc plugin: section name table index %u is out of range "
           "(%u sections)",
           (unsigned)bad_strndx, (unsigned)e.e_shnum);
  const struct {
    const char *name;
    uint64_t off;
    const void *bytes;
    size_t n;
    const char *want; /* prefix of the message after "<path>: " */
  } crafted[] = {
      {"class", EI_CLASS, &other_class, 1, want_class},
      {"data", EI_DATA, &other_data, 1, want_data},
      {"machine", offsetof(ElfW(Ehdr), e_machine), &other_machine, 2,
       "not a wfc plugin: built for "},
      {"type", offsetof(ElfW(Ehdr), e_type), &exec, 2,
       "not a wfc plugin: an executable (ELF type 2), not a shared object"},
      {"memsz", e.e_phoff + (uint64_t)load * sizeof ph, &small, sizeof small,
       want_memsz},
      {"shstrndx", offsetof(ElfW(Ehdr), e_shstrndx), &bad_strndx, 2,
       want_strndx},
      {"text", 0, "hello\n", 7, "not a wfc plugin: not an ELF file"},
  };
  for (size_t i = 0; i < sizeof crafted / sizeof crafted[0]; i++) {
    snprintf(path, sizeof path, "%s/crafted-%s.so", dir, crafted[i].name);
    assert_int_equal(
        abi_copy(good, path, strcmp(crafted[i].name, "text") ? UINT64_MAX : 0),
        0);
    assert_int_equal(
        abi_patch(path, crafted[i].off, crafted[i].bytes, crafted[i].n), 0);
    int rc = wfc_runtime_load(f->rt, path, NULL, err, sizeof err);
    snprintf(want, sizeof want, "%s: %s", path, crafted[i].want);
    if (rc != WFC_ENOTPLUGIN || strncmp(err, want, strlen(want)) != 0)
      fail_msg("%s: %s\n got  %s\n want %s...", crafted[i].name,
               wfc_err_name(rc), err, want);
    unlink(path);
  }
  snprintf(path, sizeof path, "%s/empty.so", dir);
  assert_int_equal(abi_copy(good, path, 0), 0);
  assert_int_equal(wfc_runtime_load(f->rt, path, NULL, err, sizeof err),
                   WFC_ENOTPLUGIN);
  snprintf(want, sizeof want, "%s: not a wfc plugin: not an ELF file (0 bytes)",
           path);
  assert_string_equal(err, want);
  unlink(path);
  assert_int_equal(wfc_runtime_plugin_count(f->rt), 0);

  /* Without section headers (as `strip` can leave it): loads. */
  snprintf(path, sizeof path, "%s/nosections.so", dir);
  assert_int_equal(abi_copy(good, path, UINT64_MAX), 0);
  ElfW(Ehdr) ns = e;
  ns.e_shoff = 0;
  ns.e_shnum = 0;
  ns.e_shstrndx = 0;
  assert_int_equal(abi_patch(path, 0, &ns, sizeof ns), 0);
  wfc_plugin *p = NULL;
  if (wfc_runtime_load(f->rt, path, &p, err, sizeof err) != 0)
    fail_msg("%s", err);
  assert_string_equal(wfc_plugin_path(p), path);
  unlink(path);
  rmdir(dir);
}

/* The object of a loaded plugin, as the dynamic loader names it. */
static const char *loaded_name(const char *path) {
  static char name[4096];
  void *h = dlopen(path, RTLD_LAZY | RTLD_NOLOAD);
  assert_non_null(h);
  struct link_map *lm = NULL;
  assert_int_equal(dlinfo(h, RTLD_DI_LINKMAP, &lm), 0);
  snprintf(name, sizeof name, "%s", lm->l_name);
  dlclose(h);
  return name;
}

/* The loaded object is the checked file: opened once, dlopened through
 * /proc/<pid>/fd (our pid, a name a debugger can open too); the plugin keeps
 * the path it was given (for messages and the manifest beside it). Symlinks are
 * followed; a dangling one is "file not found"; a FIFO is refused without
 * hanging. */
static void test_checked_file_is_loaded(void **state) {
  fixture *f = *state;
  char dir[] = "/tmp/wfc-elfid-XXXXXX";
  assert_non_null(mkdtemp(dir));
  char link[256], fifo[256], dangling[256], err[1024], want[1400];
  snprintf(fifo, sizeof fifo, "%s/fifo.so", dir);
  assert_int_equal(mkfifo(fifo, 0644), 0);
  assert_int_equal(wfc_runtime_load(f->rt, fifo, NULL, err, sizeof err),
                   WFC_ENOTPLUGIN);
  snprintf(want, sizeof want, "%s: not a wfc plugin: not a regular file", fifo);
  assert_string_equal(err, want);
  snprintf(dangling, sizeof dangling, "%s/dangling.so", dir);
  assert_int_equal(symlink("/nonexistent/x.so", dangling), 0);
  assert_int_equal(wfc_runtime_load(f->rt, dangling, NULL, err, sizeof err),
                   WFC_ENOTFOUND);

  snprintf(link, sizeof link, "%s/link.so", dir);
  assert_int_equal(symlink(testplugin_path(), link), 0);
  wfc_plugin *p = NULL;
  if (wfc_runtime_load(f->rt, link, &p, err, sizeof err) != 0)
    fail_msg("%s", err);
  assert_string_equal(wfc_plugin_path(p), link);
  char fdname[64];
  int n = snprintf(fdname, sizeof fdname, "/proc/%ld/fd/", (long)getpid());
  assert_memory_equal(loaded_name(testplugin_path()), fdname, (size_t)n);
  /* The same file under its own path: the same object, refused by name. */
  assert_int_equal(
      wfc_runtime_load(f->rt, testplugin_path(), NULL, err, sizeof err),
      WFC_EEXIST);
  unlink(link);
  unlink(fifo);
  unlink(dangling);
  rmdir(dir);
}

/* The manifest is found beside the path given, not beside /proc/<pid>/fd. */
static void test_manifest_beside_path(void **state) {
  fixture *f = *state;
  char err[1024], mpath[4096];
  wfc_plugin *p = NULL;
  assert_int_equal(
      wfc_runtime_load(f->rt, testplugin_path(), &p, err, sizeof err), 0);
  assert_int_equal(
      wfc_plugin_manifest_path(wfc_plugin_path(p), mpath, sizeof mpath), 0);
  assert_string_equal(mpath,
                      build_path(1, "plugins/wfc-testplugin.manifest.json"));
  assert_int_equal(wfc_plugin_check_manifest(p, mpath, NULL, NULL), 0);
}

/* A plugin whose RUNPATH uses $ORIGIN is opened by its path ($ORIGIN of
 * /proc/<pid>/fd/N would be /proc/<pid>/fd) and still loads. */
static void test_origin_plugin_by_path(void **state) {
  fixture *f = *state;
  char path[4096], err[1024];
  snprintf(path, sizeof path, "%s/wfc-testplugin-origin.so",
           getenv("WFC_ABI_EXTRA_DIR"));
  wfc_plugin *p = NULL;
  if (wfc_runtime_load(f->rt, path, &p, err, sizeof err) != 0)
    fail_msg("%s", err);
  assert_string_equal(loaded_name(path), path);
}

typedef struct reports {
  int n;
  char last[1024];
} reports;

static void on_report(void *arg, const char *path, const char *message) {
  reports *r = arg;
  r->n++;
  assert_memory_equal(message, path, strlen(path));
  snprintf(r->last, sizeof r->last, "%s", message);
}

static void test_load_dir(void **state) {
  fixture *f = *state;
  reports r = {0, ""};
  int n = wfc_runtime_load_dir(f->rt, getenv("WFC_BROKEN_DIR"), on_report, &r);
  assert_int_equal(n, 0);
  assert_int_equal(r.n, (int)(sizeof refusals / sizeof refusals[0]));
  assert_int_equal(wfc_runtime_load_dir(f->rt, "/nonexistent/dir", NULL, NULL),
                   WFC_ENOTFOUND);
}

static void test_one_runtime(void **state) {
  fixture *f = *state;
  wfc_runtime *other = NULL;
  assert_int_equal(wfc_runtime_new(&f->loop, NULL, &other), WFC_EBUSY);
  assert_null(other);
  assert_ptr_equal(wfc_runtime_loop(f->rt), &f->loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(test_load_testplugin, setup, teardown),
      cmocka_unit_test_setup_teardown(test_schema_json, setup, teardown),
      cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
      cmocka_unit_test_setup_teardown(test_file_checks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_elf_checks, setup, teardown),
      cmocka_unit_test_setup_teardown(test_checked_file_is_loaded, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_manifest_beside_path, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_origin_plugin_by_path, setup,
                                      teardown),
      cmocka_unit_test_setup_teardown(test_load_dir, setup, teardown),
      cmocka_unit_test_setup_teardown(test_one_runtime, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
