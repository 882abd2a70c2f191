/* browser.c - see browser.h. A deliberately small HTML reader: it finds
 * <form>, <input> and <button> tags and their attributes, which is all an
 * OAuth sign-in or consent page needs without scripts. */
#define _POSIX_C_SOURCE 200809L /* strdup, strndup */
#include "browser.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_FIELDS 32
#define MAX_FORMS  8
#define MAX_STEPS  12

typedef struct field {
  char *name, *value, *type; /* malloc'd; type lower-case, "" for none */
  char *label;               /* a button's text; malloc'd */
  int checked;
} field;

typedef struct form {
  char *id, *action, *method;
  field f[MAX_FIELDS];
  size_t n;
} form;

static const char *ci_find(const char *s, const char *end, const char *pat) {
  size_t n = strlen(pat);
  for (; s + n <= end; s++)
    if (strncasecmp(s, pat, n) == 0)
      return s;
  return NULL;
}

/* Decodes the entities an attribute or text may carry; malloc'd. */
static char *unescape(const char *s, size_t len) {
  char *out = malloc(len + 1), *w = out;
  for (size_t i = 0; i < len;) {
    if (s[i] == '&') {
      static const struct {
        const char *ent;
        char c;
      } named[] = {{"&amp;", '&'}, {"&quot;", '"'}, {"&apos;", '\''},
                   {"&lt;", '<'},  {"&gt;", '>'},   {NULL, 0}};
      int done = 0;
      for (size_t k = 0; named[k].ent && !done; k++) {
        size_t el = strlen(named[k].ent);
        if (i + el <= len && strncmp(s + i, named[k].ent, el) == 0) {
          *w++ = named[k].c;
          i += el;
          done = 1;
        }
      }
      if (!done && i + 2 < len && s[i + 1] == '#') {
        char *e = NULL;
        long v = s[i + 2] == 'x' ? strtol(s + i + 3, &e, 16)
                                 : strtol(s + i + 2, &e, 10);
        if (e != NULL && *e == ';' && v > 0 && v < 128) {
          *w++ = (char)v;
          i = (size_t)(e - s) + 1;
          done = 1;
        }
      }
      if (done)
        continue;
    }
    *w++ = s[i++];
  }
  *w = '\0';
  return out;
}

/* Value of attribute name in the tag [tag, end) or NULL; malloc'd.
 * A bare attribute (checked) gives "". */
static char *attr(const char *tag, const char *end, const char *name) {
  size_t n = strlen(name);
  for (const char *p = tag; p < end; p++) {
    if (!isspace((unsigned char)p[-1]) || strncasecmp(p, name, n) != 0)
      continue;
    const char *q = p + n;
    if (q < end && (isspace((unsigned char)*q) || *q == '>' || *q == '/'))
      return strdup("");
    if (q >= end || *q != '=')
      continue;
    q++;
    if (*q == '"' || *q == '\'') {
      char quote = *q++;
      const char *close = memchr(q, quote, (size_t)(end - q));
      if (close == NULL)
        return NULL;
      return unescape(q, (size_t)(close - q));
    }
    const char *e = q;
    while (e < end && !isspace((unsigned char)*e) && *e != '>')
      e++;
    return unescape(q, (size_t)(e - q));
  }
  return NULL;
}

static char *or_empty(char *s) {
  return s ? s : strdup("");
}

static void lower(char *s) {
  for (; *s; s++)
    *s = (char)tolower((unsigned char)*s);
}

static void form_free(form *f) {
  free(f->id);
  free(f->action);
  free(f->method);
  for (size_t i = 0; i < f->n; i++) {
    free(f->f[i].name);
    free(f->f[i].value);
    free(f->f[i].type);
    free(f->f[i].label);
  }
  memset(f, 0, sizeof *f);
}

/* The fields of one form body [p, end): inputs and buttons in order. */
static void read_fields(form *f, const char *p, const char *end) {
  while (f->n < MAX_FIELDS) {
    const char *in = ci_find(p, end, "<input");
    const char *bt = ci_find(p, end, "<button");
    const char *t = in && (!bt || in < bt) ? in : bt;
    if (t == NULL)
      return;
    const char *te = memchr(t, '>', (size_t)(end - t));
    if (te == NULL)
      return;
    field *x = &f->f[f->n++];
    x->name = attr(t + 1, te, "name");
    x->value = or_empty(attr(t + 1, te, "value"));
    x->type = attr(t + 1, te, "type");
    char *checked = attr(t + 1, te, "checked");
    x->checked = checked != NULL;
    free(checked);
    p = te + 1;
    if (t == bt) {
      if (x->type == NULL)
        x->type = strdup("submit"); /* a button's default type */
      const char *close = ci_find(p, end, "</button");
      x->label = unescape(p, close ? (size_t)(close - p) : 0);
      if (close)
        p = close;
    } else {
      x->label = strdup(x->value);
    }
    x->type = or_empty(x->type);
    lower(x->type);
  }
}

static size_t read_forms(const char *html, form *forms) {
  size_t n = 0;
  const char *end = html + strlen(html);
  for (const char *p = html; n < MAX_FORMS;) {
    const char *t = ci_find(p, end, "<form");
    if (t == NULL)
      break;
    const char *te = memchr(t, '>', (size_t)(end - t));
    if (te == NULL)
      break;
    const char *close = ci_find(te, end, "</form");
    if (close == NULL)
      close = end;
    form *f = &forms[n++];
    memset(f, 0, sizeof *f);
    f->id = or_empty(attr(t + 1, te, "id"));
    f->action = or_empty(attr(t + 1, te, "action"));
    f->method = or_empty(attr(t + 1, te, "method"));
    lower(f->method);
    read_fields(f, te + 1, close);
    p = close;
  }
  return n;
}

static int says(const char *s, const char *const *words) {
  char *l = strdup(s ? s : "");
  lower(l);
  int hit = 0;
  for (size_t i = 0; words[i] && !hit; i++)
    hit = strstr(l, words[i]) != NULL;
  free(l);
  return hit;
}

static const char *const no_words[] = {"cancel",  "abort",  "deny",
                                       "decline", "reject", NULL};
static const char *const login_names[] = {"login", "username", "loginfmt",
                                          "email", "user",     NULL};

static int is_submit(const field *x) {
  return strcmp(x->type, "submit") == 0 || strcmp(x->type, "image") == 0;
}

/* How well the (form, submit button) pair matches what the user wants:
 * -1 never, else higher is better. button may be NULL (a form without
 * one is submitted as if by Enter). */
static int score(const form *f, const field *button, int cancel) {
  char text[1024];
  snprintf(text, sizeof text, "%s %s %s %s %s", f->id, f->action,
           button && button->name ? button->name : "",
           button ? button->value : "", button ? button->label : "");
  int no = says(text, no_words);
  if (cancel)
    return no ? 2 : -1;
  if (no)
    return -1;
  static const char *const yes[] = {"accept", "continue", "allow",   "yes",
                                    "sign",   "consent",  "confirm", NULL};
  return says(text, yes) ? 2 : 1;
}

static char *origin_of(const char *url) {
  const char *p = strstr(url, "://");
  p = p ? strchr(p + 3, '/') : NULL;
  return strndup(url, p ? (size_t)(p - url) : strlen(url));
}

/* href resolved against the page at base; malloc'd. */
static char *resolve(const char *base, const char *href) {
  if (strncmp(href, "http://", 7) == 0 || strncmp(href, "https://", 8) == 0)
    return strdup(href);
  if (*href == '\0')
    return strdup(base);
  char *origin = origin_of(base);
  size_t cap = strlen(base) + strlen(href) + 2;
  char *out = malloc(cap);
  if (href[0] == '/') {
    snprintf(out, cap, "%s%s", origin, href);
  } else {
    const char *q = strchr(base, '?');
    size_t blen = q ? (size_t)(q - base) : strlen(base);
    const char *slash = base + blen;
    while (slash > base + strlen(origin) && slash[-1] != '/')
      slash--;
    snprintf(out, cap, "%.*s%s", (int)(slash - base), base, href);
  }
  free(origin);
  return out;
}

static void add_pair(char **body, const char *k, const char *v) {
  char *ek = tclient_escape(k), *ev = tclient_escape(v);
  size_t old = *body ? strlen(*body) : 0;
  *body = realloc(*body, old + strlen(ek) + strlen(ev) + 3);
  sprintf(*body + old, "%s%s=%s", old ? "&" : "", ek, ev);
  free(ek);
  free(ev);
}

/* The form body a person would send: their name and password typed in,
 * hidden fields as they are, ticked boxes, and the chosen button. */
static char *fill(const form *f, const field *button, const browser_user *who) {
  char *body = NULL;
  for (size_t i = 0; i < f->n; i++) {
    const field *x = &f->f[i];
    if (x->name == NULL || is_submit(x) || strcmp(x->type, "button") == 0)
      continue;
    if ((strcmp(x->type, "checkbox") == 0 || strcmp(x->type, "radio") == 0) &&
        !x->checked)
      continue;
    const char *v = x->value;
    if (strcmp(x->type, "password") == 0)
      v = who->password;
    else if ((strcmp(x->type, "text") == 0 || strcmp(x->type, "email") == 0 ||
              *x->type == '\0') &&
             says(x->name, login_names))
      v = who->login;
    add_pair(&body, x->name, v);
  }
  if (button != NULL && button->name != NULL)
    add_pair(&body, button->name, button->value);
  return body ? body : strdup("");
}

/* Chooses and submits a form of page (at url); 0 and the response in out. */
static int submit(tclient *b, const char *url, const tresp *page,
                  const browser_user *who, tresp *out) {
  memset(out, 0, sizeof *out);
  form forms[MAX_FORMS];
  size_t n = read_forms(page->body, forms);
  const form *best = NULL;
  const field *best_button = NULL;
  int best_score = -1;
  for (size_t i = 0; i < n; i++) {
    int buttons = 0;
    for (size_t k = 0; k < forms[i].n; k++) {
      if (!is_submit(&forms[i].f[k]))
        continue;
      buttons++;
      int s = score(&forms[i], &forms[i].f[k], who->cancel);
      if (s > best_score) {
        best_score = s;
        best = &forms[i];
        best_button = &forms[i].f[k];
      }
    }
    int s = buttons ? -1 : score(&forms[i], NULL, who->cancel);
    if (s > best_score) {
      best_score = s;
      best = &forms[i];
      best_button = NULL;
    }
  }
  if (best == NULL && who->cancel) {
    /* Nothing to cancel here (a sign-in page): go on as the user would,
     * to cancel on the consent page. */
    browser_user go_on = *who;
    go_on.cancel = 0;
    for (size_t i = 0; i < n; i++)
      form_free(&forms[i]);
    return submit(b, url, page, &go_on, out);
  }
  int rc = -1;
  if (best != NULL) {
    char *body = fill(best, best_button, who);
    char *target = resolve(url, best->action);
    if (strcmp(best->method, "get") == 0) {
      char *full = malloc(strlen(target) + strlen(body) + 2);
      sprintf(full, "%s%c%s", target, strchr(target, '?') ? '&' : '?', body);
      rc = tclient_request(b, "GET", full, NULL, NULL, out);
      free(full);
    } else {
      static const char *const hdr[] = {
          "Content-Type: application/x-www-form-urlencoded", NULL};
      rc = tclient_request(b, "POST", target, hdr, body, out);
    }
    free(target);
    free(body);
  } else {
    fprintf(stderr, "browser: no form to %s on %s:\n%s\n",
            who->cancel ? "cancel" : "continue", url, page->body);
  }
  for (size_t i = 0; i < n; i++)
    form_free(&forms[i]);
  return rc == 0 ? 0 : -1;
}

int browser_authorize(tclient *b, const char *url, const char *redirect_prefix,
                      const browser_user *who, char **location, int *pages) {
  char *at = strdup(url);
  tresp r;
  int rc = tclient_request(b, "GET", at, NULL, NULL, &r) == 0 ? 0 : -1;
  if (pages)
    *pages = 0;
  for (int step = 0; rc == 0 && step < MAX_STEPS; step++) {
    if (r.status >= 300 && r.status < 400) {
      const char *loc = tresp_header(&r, "Location");
      if (loc == NULL)
        break;
      char *next = resolve(at, loc);
      tresp_free(&r);
      free(at);
      at = next;
      if (strncmp(at, redirect_prefix, strlen(redirect_prefix)) == 0) {
        *location = at;
        return 0;
      }
      rc = tclient_request(b, "GET", at, NULL, NULL, &r) == 0 ? 0 : -1;
    } else if (r.status == 200) {
      if (getenv("BROWSER_DEBUG"))
        fprintf(stderr, "browser: page %s:\n%s\n", at, r.body);
      tresp next;
      rc = submit(b, at, &r, who, &next);
      if (pages)
        (*pages)++;
      tresp_free(&r);
      r = next;
    } else {
      break;
    }
  }
  fprintf(stderr, "browser: no redirect to %s; last page %s (%ld):\n%s\n",
          redirect_prefix, at, r.status, r.body ? r.body : "");
  tresp_free(&r);
  free(at);
  return -1;
}
