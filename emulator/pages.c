/* pages.c - markup of the emulated sign-in, consent, approval and error
 * pages. Wording follows what Microsoft shows (research/graph-protocol.md
 * A.10); layout is minimal. See pages.h. */
#include "pages.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Growable string; `oom` sticks once an allocation failed. */
typedef struct sbuf {
  char *p;
  size_t len, cap;
  int oom;
} sbuf;

static void sb_putn(sbuf *b, const char *s, size_t n) {
  if (b->oom)
    return;
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 1024;
    char *p;
    while (cap < b->len + n + 1)
      cap *= 2;
    p = realloc(b->p, cap);
    if (p == NULL) {
      b->oom = 1;
      return;
    }
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) {
  sb_putn(b, s, strlen(s));
}

/* Appends `s` HTML-escaped (NULL appends nothing). */
static void sb_esc(sbuf *b, const char *s) {
  for (; s && *s; s++) {
    switch (*s) {
    case '&':
      sb_puts(b, "&amp;");
      break;
    case '<':
      sb_puts(b, "&lt;");
      break;
    case '>':
      sb_puts(b, "&gt;");
      break;
    case '"':
      sb_puts(b, "&quot;");
      break;
    case '\'':
      sb_puts(b, "&#39;");
      break;
    default:
      sb_putn(b, s, 1);
    }
  }
}

/* printf where every %s argument is escaped: only %s and %d are used. */
static void sb_fmt(sbuf *b, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  while (*fmt) {
    const char *pct = strchr(fmt, '%');
    if (pct == NULL) {
      sb_puts(b, fmt);
      break;
    }
    sb_putn(b, fmt, (size_t)(pct - fmt));
    if (pct[1] == 's') {
      sb_esc(b, va_arg(ap, const char *));
    } else if (pct[1] == 'd') {
      char num[24];
      snprintf(num, sizeof(num), "%d", va_arg(ap, int));
      sb_puts(b, num);
    } else {
      sb_putn(b, pct, 2);
    }
    fmt = pct + 2;
  }
  va_end(ap);
}

static char *sb_finish(sbuf *b) {
  if (b->oom) {
    free(b->p);
    return NULL;
  }
  return b->p;
}

char *emu_html_escape(const char *s) {
  sbuf b = {0};
  sb_puts(&b, "");
  sb_esc(&b, s);
  return sb_finish(&b);
}

static void head(sbuf *b, const char *title) {
  sb_fmt(b,
         "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
         "<title>%s</title></head>\n<body>\n"
         "<div class=\"banner\">Microsoft (m365-emulator)</div>\n",
         title);
}

static void app_block(sbuf *b, const emu_page_app *app) {
  sb_fmt(b, "<div id=\"app\"><span id=\"app-name\">%s</span>\n",
         app->name ? app->name : "");
  if (app->publisher != NULL && app->verified)
    sb_fmt(b,
           "<span id=\"publisher\">%s</span> "
           "<span id=\"publisher-verified\">verified</span>\n",
           app->publisher);
  else
    sb_puts(b, "<span id=\"publisher-unverified\">unverified</span>\n");
  sb_puts(b, "</div>\n");
}

static void scope_list(sbuf *b, const emu_scopes *scopes) {
  size_t i;
  sb_puts(b, "<ul id=\"permissions\">\n");
  for (i = 0; i < scopes->n; i++) {
    const char *d = emu_scope_description(scopes->v[i]);
    sb_fmt(b, "<li data-scope=\"%s\">%s</li>\n", scopes->v[i],
           d ? d : scopes->v[i]);
  }
  sb_puts(b, "</ul>\n");
}

char *emu_page_signin(const char *action, const char *ctx,
                      const emu_page_app *app, const char *login_hint,
                      const char *error) {
  sbuf b = {0};
  head(&b, "Sign in to your account");
  sb_puts(&b, "<h1>Sign in</h1>\n");
  sb_fmt(&b, "<p>to continue to <span id=\"app-name\">%s</span></p>\n",
         app->name ? app->name : "");
  if (error != NULL)
    sb_fmt(&b, "<div id=\"error\" role=\"alert\">%s</div>\n", error);
  sb_fmt(&b,
         "<form id=\"signin\" method=\"post\" action=\"%s\">\n"
         "<input type=\"hidden\" name=\"ctx\" value=\"%s\">\n"
         "<p><label for=\"login\">Email, phone, or Skype</label><br>\n"
         "<input type=\"email\" id=\"login\" name=\"login\" value=\"%s\" "
         "placeholder=\"Email, phone, or Skype\" autocomplete=\"username\">"
         "</p>\n"
         "<p><label for=\"passwd\">Password</label><br>\n"
         "<input type=\"password\" id=\"passwd\" name=\"passwd\" "
         "placeholder=\"Password\" autocomplete=\"current-password\"></p>\n"
         "<p><input type=\"submit\" value=\"Sign in\"></p>\n</form>\n"
         "</body></html>\n",
         action, ctx, login_hint ? login_hint : "");
  return sb_finish(&b);
}

char *emu_page_consent(const char *action, const char *ctx,
                       const emu_page_app *app, const char *upn,
                       const emu_scopes *scopes, int org_checkbox,
                       int for_org) {
  sbuf b = {0};
  head(&b, "Permissions requested");
  sb_fmt(&b, "<div id=\"account\">%s</div>\n", upn);
  sb_puts(&b, for_org ? "<h1>Permissions requested</h1>\n"
                        "<p>Accept for your organization</p>\n"
                      : "<h1>Permissions requested</h1>\n");
  app_block(&b, app);
  sb_puts(&b, "<p>This app would like to:</p>\n");
  scope_list(&b, scopes);
  if (for_org)
    sb_puts(&b, "<p>If you accept, this app will get access to the "
                "specified resources for all users in your organization. "
                "No one else will be prompted to review these "
                "permissions.</p>\n");
  sb_fmt(&b,
         "<form id=\"consent\" method=\"post\" action=\"%s\">\n"
         "<input type=\"hidden\" name=\"ctx\" value=\"%s\">\n",
         action, ctx);
  if (org_checkbox)
    sb_puts(&b, "<label><input type=\"checkbox\" id=\"consent_org\" "
                "name=\"consent_org\" value=\"on\"> Consent on behalf of "
                "your organization</label>\n");
  sb_puts(&b, "<button type=\"submit\" name=\"action\" value=\"cancel\">"
              "Cancel</button>\n"
              "<button type=\"submit\" name=\"action\" value=\"accept\">"
              "Accept</button>\n</form>\n</body></html>\n");
  return sb_finish(&b);
}

char *emu_page_need_admin(const emu_page_app *app, const char *upn,
                          const char *return_url, const char *admin_url) {
  sbuf b = {0};
  head(&b, "Need admin approval");
  sb_fmt(&b, "<div id=\"account\">%s</div>\n<h1>Need admin approval</h1>\n",
         upn);
  app_block(&b, app);
  sb_fmt(&b,
         "<p>%s needs permission to access resources in your organization "
         "that only an admin can grant. Please ask an admin to grant "
         "permission to this app before you can use it.</p>\n"
         "<p id=\"code\">AADSTS90094: The grant requires admin "
         "permission.</p>\n"
         "<p><a id=\"admin-signin\" href=\"%s\">Have an admin account? Sign "
         "in with that account</a></p>\n"
         "<p><a id=\"return\" href=\"%s\">Return to the application without "
         "granting consent</a></p>\n</body></html>\n",
         app->name ? app->name : "", admin_url, return_url);
  return sb_finish(&b);
}

char *emu_page_request(const char *action, const char *ctx,
                       const emu_page_app *app, const char *upn,
                       const emu_scopes *scopes) {
  sbuf b = {0};
  head(&b, "Approval required");
  sb_fmt(&b, "<div id=\"account\">%s</div>\n<h1>Approval required</h1>\n", upn);
  app_block(&b, app);
  sb_puts(&b, "<p>This app requires your admin's approval to:</p>\n");
  scope_list(&b, scopes);
  sb_fmt(&b,
         "<form id=\"request\" method=\"post\" action=\"%s\">\n"
         "<input type=\"hidden\" name=\"ctx\" value=\"%s\">\n"
         "<p><label for=\"justification\">Enter justification for "
         "requesting this app</label><br>\n"
         "<textarea id=\"justification\" name=\"justification\" "
         "maxlength=\"1000\"></textarea></p>\n"
         "<button type=\"submit\" name=\"action\" value=\"cancel\">"
         "Back to app</button>\n"
         "<button type=\"submit\" name=\"action\" value=\"request\">"
         "Request approval</button>\n</form>\n</body></html>\n",
         action, ctx);
  return sb_finish(&b);
}

char *emu_page_request_sent(const emu_page_app *app, int already_pending,
                            const char *return_url) {
  sbuf b = {0};
  head(&b, already_pending ? "Request pending" : "Request sent");
  if (already_pending)
    sb_fmt(&b,
           "<h1>Request pending</h1>\n<p>You have already requested "
           "approval for %s. You will be notified when your request is "
           "reviewed.</p>\n",
           app->name ? app->name : "");
  else
    sb_fmt(&b,
           "<h1>Request sent</h1>\n<p>Your request for %s has been sent to "
           "your admin. You will get an email when it is reviewed.</p>\n",
           app->name ? app->name : "");
  sb_fmt(&b,
         "<p><a id=\"return\" href=\"%s\">Return to the application</a></p>\n"
         "</body></html>\n",
         return_url);
  return sb_finish(&b);
}

char *emu_page_error(int aadsts, const char *message, const char *request_id) {
  sbuf b = {0};
  head(&b, "Sign in to your account");
  sb_fmt(&b,
         "<h1>Sorry, but we're having trouble signing you in.</h1>\n"
         "<p id=\"code\" data-aadsts=\"%d\">AADSTS%d: %s</p>\n"
         "<p>Request Id: %s</p>\n</body></html>\n",
         aadsts, aadsts, message, request_id ? request_id : "");
  return sb_finish(&b);
}

char *emu_page_pick(const char *action, const char *ctx,
                    const emu_page_app *app, const char *const *upns, int n,
                    const char *other_url) {
  sbuf b = {0};
  int i;
  head(&b, "Pick an account");
  sb_puts(&b, "<h1>Pick an account</h1>\n");
  sb_fmt(&b, "<p>to continue to <span id=\"app-name\">%s</span></p>\n",
         app->name ? app->name : "");
  sb_fmt(&b,
         "<form id=\"pick\" method=\"post\" action=\"%s\">\n"
         "<input type=\"hidden\" name=\"ctx\" value=\"%s\">\n",
         action, ctx);
  for (i = 0; i < n; i++)
    sb_fmt(&b,
           "<p><button type=\"submit\" name=\"account\" value=\"%s\">"
           "%s <span class=\"status\">Signed in</span></button></p>\n",
           upns[i], upns[i]);
  sb_fmt(&b,
         "</form>\n<p><a id=\"other\" href=\"%s\">Use another account</a>"
         "</p>\n</body></html>\n",
         other_url);
  return sb_finish(&b);
}
