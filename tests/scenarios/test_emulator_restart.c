/* test_emulator_restart.c - restarting the emulator in the middle of a
 * user's work, the two modes README.md and docs/emulator.md describe.
 *
 * With --state-dir DIR: alice connects and runs a card, the emulator
 * stops (SIGTERM) and starts again on the same directory (on another
 * port: the plugin follows the environment), and her next card works
 * without a sign-in: the refresh token and the consent were kept; the
 * access token of before the restart is refused (the signing key is new)
 * and the plugin refreshes. Before, every restart broke every connection.
 *
 * Without it (in memory): the same restart leaves the connection needing
 * a reauthorization, and the message names the command to run. */
#define _POSIX_C_SOURCE 200809L /* setenv (scen.h) */
#include "scen.h"

#include <stdio.h>
#include <sys/stat.h>

static char state_dir[256];

/* Stops the emulator and starts a new one, with extra (may be NULL); the
 * plugin's environment follows its new port. */
static void restart(const char *const *extra) {
  assert_int_equal(emu_proc_stop(emu), 0);
  emu = emu_proc_start(NULL, extra);
  assert_non_null(emu);
  char graph[256];
  snprintf(graph, sizeof graph, "%s/v1.0", base());
  setenv("O365MAIL_AUTHORITY_URL", base(), 1);
  setenv("O365MAIL_GRAPH_URL", graph, 1);
}

static int setup_state(void **state) {
  (void)state;
  snprintf(state_dir, sizeof state_dir, "/tmp/wfc-emustate-%ld",
           (long)getpid());
  const char *const extra[] = {"--state-dir", state_dir, NULL};
  return sc_up_args(NULL, extra);
}

static int teardown_state(void **state) {
  int down = sc_down(state); /* it writes the state as it stops */
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", state_dir);
  return down != 0 || system(cmd) != 0 ? -1 : 0;
}

static void state_dir_keeps_connections(void **state) {
  (void)state;
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);
  long sign_ins = sc_identity_counter("codesIssued");
  assert_true(sign_ins >= 1);

  const char *const extra[] = {"--state-dir", state_dir, NULL};
  restart(extra);
  /* The tokens are kept, mode 0600: they are secrets. */
  char path[300];
  snprintf(path, sizeof path, "%s/identity.json", state_dir);
  struct stat st;
  assert_int_equal(stat(path, &st), 0);
  assert_int_equal(st.st_mode & 0777, 0600);

  assert_int_equal(sc_list_folders("alice"), 0);
  assert_int_equal(sc_test("alice"), 0);
  sc_expect("alice", "connected", NULL, NULL, 0);
  /* No new sign-in: a refresh did it. */
  assert_int_equal(sc_identity_counter("codesIssued"), 0);
  assert_true(sc_identity_counter("refreshes") >= 1);

  /* And again: the state written at the second stop is read at the
   * third start (the refresh token rotated in between). */
  restart(extra);
  assert_int_equal(sc_list_folders("alice"), 0);
}

static void in_memory_forgets(void **state) {
  (void)state;
  sc_connect("alice", "preview", ALICE_UPN, ALICE_PW, 0, -1, NULL, 0);
  restart(NULL);
  wproc p;
  assert_int_equal(sc_card(&p, "list_folders", "alice", "{}"), 1);
  if (strstr(p.stderr_, "Run `wfc connection reauthorize alice`") == NULL)
    fail_msg("after a restart without --state-dir, card run says:\n%s",
             p.stderr_);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test_setup_teardown(state_dir_keeps_connections, setup_state,
                                      teardown_state),
      cmocka_unit_test_setup_teardown(in_memory_forgets, sc_up, sc_down),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
