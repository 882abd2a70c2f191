/* browser.h - a generic scripted browser for OAuth sign-in pages that knows
 * nothing of any one identity provider.
 *
 * It follows redirects (with cookies) from an authorize URL, and on each
 * HTML page submits a form the way a person would: the user name goes into
 * the text/email field named like a login (login, username, loginfmt, email,
 * user), the password into the password field, hidden fields keep their
 * values; with several forms or submit buttons it picks the one whose id,
 * action, name, value or label says accept/continue/sign in - or, when
 * `cancel` is set, the one that says cancel/abort/deny/decline. It stops at
 * the first redirect to the client's redirect URI, which it does not follow.
 *
 * Used against panva's oidc-provider (tests/foreign-idp) and against our
 * emulator's pages alike: nothing in it is specific to either. */
#ifndef BROWSER_H
#define BROWSER_H

#include <stddef.h>

#include "tclient.h"

typedef struct browser_user {
  const char *login;    /* the user name typed into the sign-in form */
  const char *password; /* typed into the password field */
  int cancel;           /* 1: choose cancel/deny on the consent page */
} browser_user;

/* Opens url in b (a tclient made with cookies) and plays the user until the
 * provider redirects to a URL starting with redirect_prefix. On success
 * returns 0 and that URL (malloc'd) in *location; pages passed on the way are
 * counted in *pages (may be NULL). On failure (no redirect within 12 steps,
 * a page with no usable form, an HTTP error) prints why with the page's
 * text and returns -1. */
int browser_authorize(tclient *b, const char *url, const char *redirect_prefix,
                      const browser_user *who, char **location, int *pages);

#endif /* BROWSER_H */
