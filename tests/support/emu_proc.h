/* emu_proc.h - run build/bin/m365-emulator from a test.
 *
 *   emu_proc *e = emu_proc_start(NULL, NULL);   // built-in tenant
 *   ... requests against emu_proc_url(e) ...
 *   assert_int_equal(emu_proc_stop(e), 0);      // clean exit on SIGTERM
 *
 * The emulator binary is $M365_EMULATOR, or $WFC_BUILD_DIR/bin/m365-emulator
 * (ctest sets WFC_BUILD_DIR), or the build dir this library was built for. */
#ifndef EMU_PROC_H
#define EMU_PROC_H

#include <sys/types.h>

#include <json-c/json.h>

typedef struct emu_proc emu_proc;

/* Starts the emulator on a free 127.0.0.1 port with config (a tenant.json
 * path; NULL for the built-in default) and extra arguments (NULL-terminated
 * array, or NULL), and waits until /__emulator/health answers (10 s; over
 * TLS, "--tls-cert PEM" in extra_args is trusted as its own CA).
 * Returns NULL (after printing why) on failure. */
emu_proc *emu_proc_start(const char *config, const char *const *extra_args);
/* Same with the tenant document given as JSON (written to a temp file that
 * emu_proc_stop removes). Borrowed. */
emu_proc *emu_proc_start_doc(json_object *doc, const char *const *extra_args);
/* Any other test server that takes "--port 0 --port-file F" (e.g. the
 * foreign identity provider, node tests/foreign-idp/idp.mjs): cmd is its
 * argv prefix (NULL-terminated, cmd[0] searched in PATH, borrowed); ready
 * once GET health_path answers 200. Stopped with emu_proc_stop(). */
emu_proc *emu_proc_start_cmd(const char *const *cmd, const char *health_path);
/* "http://127.0.0.1:PORT" (https with --tls-cert). Borrowed. */
const char *emu_proc_url(const emu_proc *p);
int emu_proc_port(const emu_proc *p);
pid_t emu_proc_pid(const emu_proc *p);
/* SIGTERM, waitpid, free. Returns the exit status (0 = clean), or -1 if it
 * died from a signal or did not exit within 10 s (then SIGKILLed). */
int emu_proc_stop(emu_proc *p);

/* Path of examples/tenant.json in the source tree (static storage). */
const char *emu_proc_example_config(void);
/* examples/tenant.json parsed (new reference), to modify and pass to
 * emu_proc_start_doc(). */
json_object *emu_proc_example_doc(void);
/* VmHWM (peak RSS) or VmRSS of the process in KiB, from /proc; -1. */
long emu_proc_rss_kib(const emu_proc *p, int peak);

#endif /* EMU_PROC_H */
