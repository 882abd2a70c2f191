/* pages.h - HTML pages of the emulated sign-in experience (private to the
 * identity module: identity.c renders, pages.c builds the markup).
 *
 * The pages are plain HTML forms so that a test or a headless driver can
 * fill them: every form posts application/x-www-form-urlencoded with a
 * hidden `ctx` field naming the pending request. Field names and ids are
 * documented in docs/emulator.md and stable. All functions return a
 * malloc'ed document (NULL when out of memory); arguments are borrowed and
 * HTML-escaped here. */
#ifndef EMU_PAGES_H
#define EMU_PAGES_H

#include "consent.h"

typedef struct emu_page_app {
  const char *name;      /* app display name */
  const char *publisher; /* publisher name, may be NULL */
  int verified;          /* verified publisher badge */
} emu_page_app;

/* Sign-in: form#signin POST `action` with ctx, login, passwd. `error`
 * (may be NULL) is shown above the form. */
char *emu_page_signin(const char *action, const char *ctx,
                      const emu_page_app *app, const char *login_hint,
                      const char *error);

/* "Permissions requested": form#consent POST `action` with ctx, an
 * optional checkbox consent_org=on (only when `org_checkbox`), and the
 * buttons action=accept / action=cancel. `for_org` words the page for the
 * admin consent endpoint ("Accept for your organization"). */
char *emu_page_consent(const char *action, const char *ctx,
                       const emu_page_app *app, const char *upn,
                       const emu_scopes *scopes, int org_checkbox, int for_org);

/* "Need admin approval" (AADSTS90094) with a#return to `return_url` and
 * a#admin-signin to `admin_url` ("Have an admin account?"). */
char *emu_page_need_admin(const emu_page_app *app, const char *upn,
                          const char *return_url, const char *admin_url);

/* "Approval required" (admin consent workflow, AADSTS90095): form#request
 * POST `action` with ctx, textarea justification and buttons
 * action=request / action=cancel. */
char *emu_page_request(const char *action, const char *ctx,
                       const emu_page_app *app, const char *upn,
                       const emu_scopes *scopes);

/* "Request sent" / "Request pending": a#return to `return_url`. */
char *emu_page_request_sent(const emu_page_app *app, int already_pending,
                            const char *return_url);

/* "Sorry, but we're having trouble signing you in." with AADSTSnnnnn and
 * the message (errors that cannot go back to the app). */
/* The account picker (prompt=select_account): one button per account of
 * the browser's session (upns, n), and a "Use another account" link. */
char *emu_page_pick(const char *action, const char *ctx,
                    const emu_page_app *app, const char *const *upns, int n,
                    const char *other_url);

char *emu_page_error(int aadsts, const char *message, const char *request_id);

/* HTML-escapes `s` (malloc'ed). */
char *emu_html_escape(const char *s);

#endif
