/* OData query engine for the emulator's Graph mail collections.
 * See odata.h. */
#define _GNU_SOURCE /* strcasestr, qsort_r, timegm, strndup, strdup */
#include "odata.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Message properties of v1.0 (Mail.yml); beta adds its own after them. */
#define MESSAGE_PROPS_V1                                                       \
  "id", "createdDateTime", "lastModifiedDateTime", "changeKey", "categories",  \
      "receivedDateTime", "sentDateTime", "hasAttachments",                    \
      "internetMessageId", "subject", "bodyPreview", "importance",             \
      "parentFolderId", "conversationId", "conversationIndex",                 \
      "isDeliveryReceiptRequested", "isReadReceiptRequested", "isRead",        \
      "isDraft", "webLink", "inferenceClassification", "body", "uniqueBody",   \
      "sender", "from", "toRecipients", "ccRecipients", "bccRecipients",       \
      "replyTo", "flag", "internetMessageHeaders", "attachments",

const char *const emu_odata_message_props[] = {MESSAGE_PROPS_V1 NULL};

/* beta: v1.0's and mentionsPreview (graph_beta.c). */
const char *const emu_odata_message_props_beta[] = {
    MESSAGE_PROPS_V1 "mentionsPreview", NULL};

const char *const emu_odata_folder_props[] = {
    "id",
    "displayName",
    "parentFolderId",
    "childFolderCount",
    "unreadItemCount",
    "totalItemCount",
    "isHidden",
    NULL,
};

__attribute__((format(printf, 3, 4))) static void
set_err(emu_odata_error *err, const char *code, const char *fmt, ...) {
  if (!err)
    return;
  err->status = 400;
  err->code = code;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->message, sizeof(err->message), fmt, ap);
  va_end(ap);
}

static bool known_prop(const char *const *props, const char *path) {
  size_t n = strcspn(path, "/");
  if (!props)
    return true;
  for (size_t i = 0; props[i]; i++)
    if (strlen(props[i]) == n && strncasecmp(props[i], path, n) == 0)
      return true;
  return false;
}

/* ---- time ---------------------------------------------------------- */

int emu_odata_parse_time(const char *s, double *out) {
  int y, mo, d, h, mi, sec, n = 0;
  if (!s ||
      sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) !=
          6 ||
      n != 19)
    return -1;
  const char *p = s + 19;
  double frac = 0;
  if (*p == '.') {
    double scale = 0.1;
    p++;
    if (!isdigit((unsigned char)*p))
      return -1;
    while (isdigit((unsigned char)*p)) {
      frac += (*p - '0') * scale;
      scale /= 10;
      p++;
    }
  }
  long off = 0;
  if (*p == 'Z' || *p == 'z') {
    p++;
  } else if (*p == '+' || *p == '-') {
    int oh, om;
    if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
      return -1;
    off = (oh * 3600L + om * 60L) * (*p == '-' ? -1 : 1);
    p += 6;
  } else if (*p != '\0') {
    return -1;
  }
  if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
      sec > 60)
    return -1;
  struct tm tm = {0};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  *out = (double)timegm(&tm) - (double)off + frac;
  return 0;
}

/* ---- lexer ----------------------------------------------------------- */

enum tok_kind {
  T_END,
  T_LP,
  T_RP,
  T_COMMA,
  T_COLON,
  T_STR,   /* 'text' */
  T_NUM,   /* 12, 1.5 */
  T_DATE,  /* 2024-01-01T00:00:00Z */
  T_IDENT, /* words and paths */
};

typedef struct lexer {
  const char *src, *p;
  enum tok_kind kind;
  char *text; /* owned, for STR/IDENT/NUM/DATE */
  size_t pos; /* start of current token */
  bool bad;
} lexer;

static void lex_next(lexer *lx) {
  free(lx->text);
  lx->text = NULL;
  while (*lx->p == ' ' || *lx->p == '\t')
    lx->p++;
  lx->pos = (size_t)(lx->p - lx->src);
  char c = *lx->p;
  if (!c) {
    lx->kind = T_END;
    return;
  }
  if (c == '(' || c == ')' || c == ',' || c == ':') {
    lx->kind = c == '(' ? T_LP : c == ')' ? T_RP : c == ',' ? T_COMMA : T_COLON;
    lx->p++;
    return;
  }
  if (c == '\'') {
    size_t cap = strlen(lx->p) + 1, n = 0;
    char *buf = malloc(cap);
    const char *q = lx->p + 1;
    for (;;) {
      if (!*q) { /* unterminated */
        free(buf);
        lx->bad = true;
        lx->kind = T_END;
        return;
      }
      if (*q == '\'') {
        if (q[1] == '\'') { /* '' escapes a quote */
          buf[n++] = '\'';
          q += 2;
          continue;
        }
        q++;
        break;
      }
      buf[n++] = *q++;
    }
    buf[n] = '\0';
    lx->text = buf;
    lx->kind = T_STR;
    lx->p = q;
    return;
  }
  const char *start = lx->p;
  if (isdigit((unsigned char)c) || c == '-' || c == '+') {
    const char *q = lx->p + 1;
    while (isalnum((unsigned char)*q) || *q == '.' || *q == ':' || *q == '-' ||
           *q == '+')
      q++;
    lx->text = strndup(start, (size_t)(q - start));
    lx->p = q;
    double t;
    char *end;
    if (strchr(lx->text, 'T') && emu_odata_parse_time(lx->text, &t) == 0) {
      lx->kind = T_DATE;
    } else {
      strtod(lx->text, &end);
      lx->kind = T_NUM;
      if (*end)
        lx->bad = true;
    }
    return;
  }
  if (isalpha((unsigned char)c) || c == '_' || c == '@' || c == '$') {
    const char *q = lx->p + 1;
    while (isalnum((unsigned char)*q) || *q == '_' || *q == '/' || *q == '.' ||
           *q == '@')
      q++;
    lx->text = strndup(start, (size_t)(q - start));
    lx->p = q;
    lx->kind = T_IDENT;
    return;
  }
  lx->bad = true;
  lx->kind = T_END;
}

static bool is_word(const lexer *lx, const char *w) {
  return lx->kind == T_IDENT && strcmp(lx->text, w) == 0;
}

/* ---- AST --------------------------------------------------------------- */

enum node_kind {
  N_OR,
  N_AND,
  N_NOT,
  N_CMP,
  N_FUNC,
  N_ANY,
  N_PATH,
  N_LIT,
};

enum cmp_op { OP_EQ, OP_NE, OP_GT, OP_GE, OP_LT, OP_LE };

enum lit_kind { L_NULL, L_BOOL, L_NUM, L_STR };

struct emu_odata_node {
  enum node_kind kind;
  enum cmp_op op;
  emu_odata_node *a, *b;
  char *name;  /* function name / path / lambda var */
  char *name2; /* lambda: variable */
  emu_odata_node *args[3];
  size_t nargs;
  enum lit_kind lit;
  bool b_val;
  double n_val;
  char *s_val;
};

void emu_odata_filter_free(emu_odata_node *n) {
  if (!n)
    return;
  emu_odata_filter_free(n->a);
  emu_odata_filter_free(n->b);
  for (size_t i = 0; i < n->nargs; i++)
    emu_odata_filter_free(n->args[i]);
  free(n->name);
  free(n->name2);
  free(n->s_val);
  free(n);
}

static emu_odata_node *node(enum node_kind k) {
  emu_odata_node *n = calloc(1, sizeof(*n));
  n->kind = k;
  return n;
}

typedef struct parser {
  lexer lx;
  const char *const *props;
  const char *lambda_var; /* inside any(): the bound variable */
  emu_odata_error *err;
  bool failed;
  int depth;
} parser;

static void syntax(parser *ps, const char *what) {
  if (ps->failed)
    return;
  ps->failed = true;
  char msg[200];
  snprintf(msg, sizeof(msg), "Syntax error at position %zu: %s", ps->lx.pos,
           what);
  set_err(ps->err, "BadRequest", "Invalid filter clause: %s", msg);
}

static emu_odata_node *parse_or(parser *ps);

static emu_odata_node *parse_operand(parser *ps) {
  lexer *lx = &ps->lx;
  if (lx->bad) {
    syntax(ps, "unexpected character");
    return NULL;
  }
  emu_odata_node *n = NULL;
  switch (lx->kind) {
  case T_STR:
    n = node(N_LIT);
    n->lit = L_STR;
    n->s_val = lx->text;
    lx->text = NULL;
    lex_next(lx);
    return n;
  case T_DATE:
    n = node(N_LIT);
    n->lit = L_STR;
    n->s_val = lx->text;
    lx->text = NULL;
    lex_next(lx);
    return n;
  case T_NUM:
    n = node(N_LIT);
    n->lit = L_NUM;
    n->n_val = strtod(lx->text, NULL);
    lex_next(lx);
    return n;
  case T_IDENT:
    break;
  default:
    syntax(ps, "operand expected");
    return NULL;
  }
  if (strcmp(lx->text, "true") == 0 || strcmp(lx->text, "false") == 0 ||
      strcmp(lx->text, "null") == 0) {
    n = node(N_LIT);
    n->lit = lx->text[0] == 'n' ? L_NULL : L_BOOL;
    n->b_val = lx->text[0] == 't';
    lex_next(lx);
    return n;
  }
  char *ident = lx->text;
  lx->text = NULL;
  lex_next(lx);
  size_t il = strlen(ident);
  if (lx->kind == T_LP && il > 4 &&
      (strcmp(ident + il - 4, "/any") == 0 ||
       strcmp(ident + il - 4, "/all") == 0)) {
    /* lambda: path/any(v: predicate) */
    n = node(N_ANY);
    n->op = ident[il - 2] == 'n' ? OP_EQ : OP_NE; /* EQ=any, NE=all */
    ident[il - 4] = '\0';
    n->name = ident;
    if (!known_prop(ps->props, ident)) {
      set_err(ps->err, "RequestBroker--ParseUri",
              "Could not find a property named '%s' on type "
              "'Microsoft.OutlookServices.Message'.",
              ident);
      ps->failed = true;
      return n;
    }
    lex_next(lx);
    if (lx->kind != T_IDENT) {
      syntax(ps, "lambda variable expected");
      return n;
    }
    n->name2 = lx->text;
    lx->text = NULL;
    lex_next(lx);
    if (lx->kind != T_COLON) {
      syntax(ps, "':' expected");
      return n;
    }
    lex_next(lx);
    if (++ps->depth > 50) {
      syntax(ps, "nesting too deep");
      return n;
    }
    const char *saved = ps->lambda_var;
    ps->lambda_var = n->name2;
    n->a = parse_or(ps);
    ps->lambda_var = saved;
    ps->depth--;
    if (ps->failed)
      return n;
    if (lx->kind != T_RP) {
      syntax(ps, "')' expected");
      return n;
    }
    lex_next(lx);
    return n;
  }
  if (lx->kind == T_LP) {
    n = node(N_FUNC);
    n->name = ident;
    if (strcmp(ident, "contains") && strcmp(ident, "startswith") &&
        strcmp(ident, "endswith")) {
      set_err(ps->err, "BadRequest",
              "Invalid filter clause: An unknown function with name '%s' was "
              "found.",
              ident);
      ps->failed = true;
      return n;
    }
    lex_next(lx);
    for (;;) {
      if (n->nargs == 2) {
        syntax(ps, "too many arguments");
        return n;
      }
      n->args[n->nargs] = parse_operand(ps);
      n->nargs++;
      if (ps->failed)
        return n;
      if (lx->kind == T_COMMA) {
        lex_next(lx);
        continue;
      }
      if (lx->kind == T_RP) {
        lex_next(lx);
        break;
      }
      syntax(ps, "')' or ',' expected");
      return n;
    }
    if (n->nargs != 2)
      syntax(ps, "function takes two arguments");
    return n;
  }
  /* property path, or the lambda variable (optionally with a sub-path) */
  n = node(N_PATH);
  n->name = ident;
  size_t vl = ps->lambda_var ? strlen(ps->lambda_var) : 0;
  if (vl && strncmp(ident, ps->lambda_var, vl) == 0 &&
      (ident[vl] == '\0' || ident[vl] == '/')) {
    n->name2 = strdup(ps->lambda_var); /* marks "relative to element" */
    return n;
  }
  if (!known_prop(ps->props, ident)) {
    set_err(ps->err, "RequestBroker--ParseUri",
            "Could not find a property named '%s' on type "
            "'Microsoft.OutlookServices.Message'.",
            ident);
    ps->failed = true;
  }
  return n;
}

static emu_odata_node *parse_cmp(parser *ps) {
  lexer *lx = &ps->lx;
  if (lx->kind == T_LP) {
    if (++ps->depth > 50) {
      syntax(ps, "nesting too deep");
      return NULL;
    }
    lex_next(lx);
    emu_odata_node *n = parse_or(ps);
    ps->depth--;
    if (ps->failed)
      return n;
    if (lx->kind != T_RP) {
      syntax(ps, "')' expected");
      return n;
    }
    lex_next(lx);
    return n;
  }
  emu_odata_node *l = parse_operand(ps);
  if (ps->failed)
    return l;
  static const char *ops[] = {"eq", "ne", "gt", "ge", "lt", "le"};
  for (int i = 0; i < 6; i++) {
    if (is_word(lx, ops[i])) {
      lex_next(lx);
      emu_odata_node *n = node(N_CMP);
      n->op = (enum cmp_op)i;
      n->a = l;
      n->b = parse_operand(ps);
      return n;
    }
  }
  if (l && l->kind == N_LIT) {
    syntax(ps, "comparison operator expected");
  }
  return l;
}

static emu_odata_node *parse_unary(parser *ps) {
  if (is_word(&ps->lx, "not")) {
    lex_next(&ps->lx);
    emu_odata_node *n = node(N_NOT);
    if (++ps->depth > 50) {
      syntax(ps, "nesting too deep");
      return n;
    }
    n->a = parse_unary(ps);
    ps->depth--;
    return n;
  }
  return parse_cmp(ps);
}

static emu_odata_node *parse_and(parser *ps) {
  emu_odata_node *l = parse_unary(ps);
  while (!ps->failed && is_word(&ps->lx, "and")) {
    lex_next(&ps->lx);
    emu_odata_node *n = node(N_AND);
    n->a = l;
    n->b = parse_unary(ps);
    l = n;
  }
  return l;
}

static emu_odata_node *parse_or(parser *ps) {
  emu_odata_node *l = parse_and(ps);
  while (!ps->failed && is_word(&ps->lx, "or")) {
    lex_next(&ps->lx);
    emu_odata_node *n = node(N_OR);
    n->a = l;
    n->b = parse_and(ps);
    l = n;
  }
  return l;
}

emu_odata_node *emu_odata_filter_parse(const char *text,
                                       const char *const *props,
                                       emu_odata_error *err) {
  parser ps = {0};
  ps.lx.src = ps.lx.p = text;
  ps.props = props;
  ps.err = err;
  lex_next(&ps.lx);
  if (ps.lx.kind == T_END) {
    syntax(&ps, "expression expected");
    free(ps.lx.text);
    return NULL;
  }
  emu_odata_node *n = parse_or(&ps);
  if (!ps.failed && (ps.lx.kind != T_END || ps.lx.bad))
    syntax(&ps, "unexpected token");
  free(ps.lx.text);
  if (ps.failed) {
    emu_odata_filter_free(n);
    return NULL;
  }
  return n;
}

size_t emu_odata_filter_paths(const emu_odata_node *n, const char **out,
                              size_t max) {
  size_t cnt = 0;
  /* iterative over a small explicit stack: left before right */
  const emu_odata_node *stack[128];
  size_t sp = 0;
  if (n)
    stack[sp++] = n;
  while (sp) {
    const emu_odata_node *c = stack[--sp];
    if ((c->kind == N_PATH && !c->name2) || c->kind == N_ANY) {
      bool dup = false;
      for (size_t i = 0; i < cnt && i < max; i++)
        if (strcasecmp(out[i], c->name) == 0)
          dup = true;
      if (!dup) {
        if (cnt < max)
          out[cnt] = c->name;
        cnt++;
      }
    }
    if (sp + 4 > 128)
      continue;
    for (size_t i = c->nargs; i > 0; i--)
      stack[sp++] = c->args[i - 1];
    if (c->b)
      stack[sp++] = c->b;
    if (c->a && c->kind != N_ANY)
      stack[sp++] = c->a;
  }
  return cnt;
}

/* ---- evaluation ------------------------------------------------------ */

json_object *emu_odata_path_get(json_object *item, const char *path) {
  char seg[128];
  const char *p = path;
  json_object *cur = item;
  while (cur && *p) {
    size_t n = strcspn(p, "/");
    if (n >= sizeof(seg))
      return NULL;
    memcpy(seg, p, n);
    seg[n] = '\0';
    if (!json_object_is_type(cur, json_type_object))
      return NULL;
    json_object *next = NULL;
    /* Graph property names are case-insensitive in queries. */
    json_object_object_foreach(cur, k, v) {
      if (strcasecmp(k, seg) == 0) {
        next = v;
        break;
      }
    }
    cur = next;
    p += n;
    if (*p == '/')
      p++;
  }
  return cur;
}

typedef struct val {
  enum lit_kind kind;
  bool b;
  double n;
  const char *s;
} val;

static val to_val(json_object *o) {
  val v = {L_NULL, false, 0, NULL};
  switch (json_object_get_type(o)) {
  case json_type_boolean:
    v.kind = L_BOOL;
    v.b = json_object_get_boolean(o);
    break;
  case json_type_int:
  case json_type_double:
    v.kind = L_NUM;
    v.n = json_object_get_double(o);
    break;
  case json_type_string:
    v.kind = L_STR;
    v.s = json_object_get_string(o);
    break;
  default:
    break;
  }
  return v;
}

static val eval_val(const emu_odata_node *n, json_object *item,
                    json_object *elem) {
  val v = {L_NULL, false, 0, NULL};
  if (n->kind == N_LIT) {
    v.kind = n->lit;
    v.b = n->b_val;
    v.n = n->n_val;
    v.s = n->s_val;
    return v;
  }
  if (n->kind == N_PATH) {
    if (n->name2) { /* lambda variable */
      const char *sub = n->name + strlen(n->name2);
      if (*sub == '/')
        sub++;
      return to_val(*sub ? emu_odata_path_get(elem, sub) : elem);
    }
    return to_val(emu_odata_path_get(item, n->name));
  }
  v.kind = L_BOOL;
  v.b = false;
  return v;
}

/* <0, 0, >0, or 2 for "not comparable" */
static int cmp_vals(val a, val b) {
  if (a.kind == L_NULL || b.kind == L_NULL)
    return a.kind == b.kind ? 0 : 2;
  if (a.kind == L_STR && b.kind == L_STR) {
    double ta, tb;
    if (emu_odata_parse_time(a.s, &ta) == 0 &&
        emu_odata_parse_time(b.s, &tb) == 0)
      return ta < tb ? -1 : ta > tb ? 1 : 0;
    /* Exchange compares strings case-insensitively. */
    int c = strcasecmp(a.s, b.s);
    return c < 0 ? -1 : c > 0 ? 1 : 0;
  }
  if (a.kind == L_NUM && b.kind == L_NUM)
    return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
  if (a.kind == L_BOOL && b.kind == L_BOOL)
    return a.b == b.b ? 0 : a.b ? 1 : -1;
  return 2;
}

static bool eval_node(const emu_odata_node *n, json_object *item,
                      json_object *elem) {
  switch (n->kind) {
  case N_OR:
    return eval_node(n->a, item, elem) || eval_node(n->b, item, elem);
  case N_AND:
    return eval_node(n->a, item, elem) && eval_node(n->b, item, elem);
  case N_NOT:
    return !eval_node(n->a, item, elem);
  case N_CMP: {
    int c = cmp_vals(eval_val(n->a, item, elem), eval_val(n->b, item, elem));
    switch (n->op) {
    case OP_EQ:
      return c == 0;
    case OP_NE:
      return c != 0;
    case OP_GT:
      return c == 1;
    case OP_GE:
      return c == 1 || c == 0;
    case OP_LT:
      return c == -1;
    case OP_LE:
      return c == -1 || c == 0;
    }
    return false;
  }
  case N_FUNC: {
    val h = eval_val(n->args[0], item, elem);
    val x = eval_val(n->args[1], item, elem);
    if (h.kind != L_STR || x.kind != L_STR)
      return false;
    size_t hl = strlen(h.s), xl = strlen(x.s);
    if (strcmp(n->name, "contains") == 0)
      return strcasestr(h.s, x.s) != NULL;
    if (xl > hl)
      return false;
    if (strcmp(n->name, "startswith") == 0)
      return strncasecmp(h.s, x.s, xl) == 0;
    return strcasecmp(h.s + hl - xl, x.s) == 0;
  }
  case N_ANY: {
    json_object *arr = emu_odata_path_get(item, n->name);
    bool all = n->op == OP_NE;
    if (!json_object_is_type(arr, json_type_array))
      return all;
    size_t len = json_object_array_length(arr);
    for (size_t i = 0; i < len; i++) {
      bool r = eval_node(n->a, item, json_object_array_get_idx(arr, i));
      if (r && !all)
        return true;
      if (!r && all)
        return false;
    }
    return all;
  }
  case N_PATH:
  case N_LIT: {
    val v = eval_val(n, item, elem);
    return v.kind == L_BOOL && v.b;
  }
  }
  return false;
}

bool emu_odata_filter_eval(const emu_odata_node *n, json_object *item) {
  return n ? eval_node(n, item, NULL) : true;
}

/* ---- $search (KQL subset) -------------------------------------------- */

typedef struct search_term {
  char *field; /* NULL = default fields (from, subject, body) */
  char *text;
  bool or_prev; /* joined to the previous term by OR (else AND) */
} search_term;

struct emu_odata_search {
  search_term *terms;
  size_t n;
};

void emu_odata_search_free(emu_odata_search *s) {
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++) {
    free(s->terms[i].field);
    free(s->terms[i].text);
  }
  free(s->terms);
  free(s);
}

static const char *const search_fields[] = {
    "subject",
    "from",
    "to",
    "cc",
    "bcc",
    "body",
    "hasattachment",
    "hasattachments",
    "participants",
    "recipients",
    "importance",
    NULL,
};

emu_odata_search *emu_odata_search_parse(const char *text,
                                         emu_odata_error *err) {
  size_t len = text ? strlen(text) : 0;
  if (len < 2 || text[0] != '"' || text[len - 1] != '"') {
    set_err(err, "BadRequest",
            "Syntax error: character '%.1s' is not valid at position 0 in "
            "the search query; the value must be enclosed in double quotes.",
            len ? text : "");
    return NULL;
  }
  emu_odata_search *s = calloc(1, sizeof(*s));
  const char *p = text + 1, *end = text + len - 1;
  bool pending_or = false;
  while (p < end) {
    while (p < end && isspace((unsigned char)*p))
      p++;
    if (p >= end)
      break;
    char *field = NULL, *word = NULL;
    /* optional "field:" */
    const char *q = p;
    while (q < end && (isalnum((unsigned char)*q)))
      q++;
    if (q < end && *q == ':' && q > p) {
      field = strndup(p, (size_t)(q - p));
      for (char *c = field; *c; c++)
        *c = (char)tolower((unsigned char)*c);
      bool ok = false;
      for (size_t i = 0; search_fields[i]; i++)
        ok = ok || strcmp(search_fields[i], field) == 0;
      if (!ok) {
        set_err(err, "BadRequest", "The search property '%s' is not supported.",
                field);
        free(field);
        emu_odata_search_free(s);
        return NULL;
      }
      p = q + 1;
    }
    if (p < end && (*p == '\'' || (*p == '\\' && p + 1 < end && p[1] == '"') ||
                    *p == '"')) {
      char quote = *p == '\\' ? '"' : *p;
      p += *p == '\\' ? 2 : 1;
      const char *st = p;
      while (p < end && *p != quote)
        p++;
      size_t wl = (size_t)(p - st);
      if (wl && st[wl - 1] == '\\')
        wl--;
      word = strndup(st, wl);
      if (p < end)
        p++;
    } else {
      const char *st = p;
      while (p < end && !isspace((unsigned char)*p))
        p++;
      word = strndup(st, (size_t)(p - st));
    }
    if (!field && (strcmp(word, "OR") == 0 || strcmp(word, "AND") == 0)) {
      pending_or = word[0] == 'O';
      free(word);
      continue;
    }
    if (!*word && !field) {
      free(word);
      continue;
    }
    s->terms = realloc(s->terms, (s->n + 1) * sizeof(*s->terms));
    s->terms[s->n].field = field;
    s->terms[s->n].text = word;
    s->terms[s->n].or_prev = pending_or;
    s->n++;
    pending_or = false;
  }
  if (s->n == 0) {
    set_err(err, "BadRequest", "The search query is empty.%s", "");
    emu_odata_search_free(s);
    return NULL;
  }
  return s;
}

static bool str_has(json_object *o, const char *needle) {
  const char *s = json_object_get_string(o);
  return o && json_object_is_type(o, json_type_string) && s &&
         strcasestr(s, needle);
}

static bool recips_have(json_object *arr, const char *needle) {
  if (!json_object_is_type(arr, json_type_array))
    return false;
  size_t n = json_object_array_length(arr);
  for (size_t i = 0; i < n; i++) {
    json_object *r = json_object_array_get_idx(arr, i);
    if (str_has(emu_odata_path_get(r, "emailAddress/address"), needle) ||
        str_has(emu_odata_path_get(r, "emailAddress/name"), needle))
      return true;
  }
  return false;
}

static bool one_recip_has(json_object *r, const char *needle) {
  return str_has(emu_odata_path_get(r, "emailAddress/address"), needle) ||
         str_has(emu_odata_path_get(r, "emailAddress/name"), needle);
}

static bool term_match(const search_term *t, json_object *m) {
  const char *f = t->field, *w = t->text;
  if (!f)
    return str_has(emu_odata_path_get(m, "subject"), w) ||
           str_has(emu_odata_path_get(m, "body/content"), w) ||
           one_recip_has(emu_odata_path_get(m, "from"), w);
  if (!strcmp(f, "subject"))
    return str_has(emu_odata_path_get(m, "subject"), w);
  if (!strcmp(f, "body"))
    return str_has(emu_odata_path_get(m, "body/content"), w);
  if (!strcmp(f, "from"))
    return one_recip_has(emu_odata_path_get(m, "from"), w);
  if (!strcmp(f, "to"))
    return recips_have(emu_odata_path_get(m, "toRecipients"), w);
  if (!strcmp(f, "cc"))
    return recips_have(emu_odata_path_get(m, "ccRecipients"), w);
  if (!strcmp(f, "bcc"))
    return recips_have(emu_odata_path_get(m, "bccRecipients"), w);
  if (!strcmp(f, "recipients"))
    return recips_have(emu_odata_path_get(m, "toRecipients"), w) ||
           recips_have(emu_odata_path_get(m, "ccRecipients"), w) ||
           recips_have(emu_odata_path_get(m, "bccRecipients"), w);
  if (!strcmp(f, "participants"))
    return one_recip_has(emu_odata_path_get(m, "from"), w) ||
           recips_have(emu_odata_path_get(m, "toRecipients"), w) ||
           recips_have(emu_odata_path_get(m, "ccRecipients"), w) ||
           recips_have(emu_odata_path_get(m, "bccRecipients"), w);
  if (!strcmp(f, "importance"))
    return str_has(emu_odata_path_get(m, "importance"), w);
  if (!strcmp(f, "hasattachment") || !strcmp(f, "hasattachments")) {
    json_object *h = emu_odata_path_get(m, "hasAttachments");
    bool want = strcasecmp(w, "true") == 0 || strcmp(w, "1") == 0;
    return (h && json_object_get_boolean(h)) == want;
  }
  return false;
}

bool emu_odata_search_eval(const emu_odata_search *s, json_object *item) {
  if (!s)
    return true;
  /* Left to right, AND binding tighter than OR: sum of products. */
  bool any = false, cur = true;
  for (size_t i = 0; i < s->n; i++) {
    if (i > 0 && s->terms[i].or_prev) {
      any = any || cur;
      cur = true;
    }
    cur = cur && term_match(&s->terms[i], item);
  }
  return any || cur;
}

/* ---- whole query ------------------------------------------------------- */

void emu_odata_query_clear(emu_odata_query *q) {
  for (size_t i = 0; i < q->nselect; i++)
    free(q->select[i]);
  free(q->select);
  emu_odata_filter_free(q->filter);
  emu_odata_search_free(q->search);
  for (size_t i = 0; i < q->norder; i++)
    free(q->order[i].path);
  free(q->order);
  memset(q, 0, sizeof(*q));
  q->top = -1;
}

static char *trim_dup(const char *s, size_t n) {
  while (n && isspace((unsigned char)*s)) {
    s++;
    n--;
  }
  while (n && isspace((unsigned char)s[n - 1]))
    n--;
  return strndup(s, n);
}

static int parse_int_opt(const char *s, const char *name, int min, int max,
                         int *out, emu_odata_error *err) {
  char *end;
  long v = strtol(s, &end, 10);
  if (!*s || *end || v < min || v > max) {
    char msg[80];
    snprintf(msg, sizeof(msg), "%s", name);
    set_err(err, "BadRequest",
            "Invalid value for the query option '%s'; expected an integer in "
            "range.",
            msg);
    if (strcmp(name, "$top") == 0 && !*end && v > max)
      set_err(err, "ErrorInvalidUrlQuery",
              "The value of '%s' must be between 1 and 1000.", name);
    return -1;
  }
  *out = (int)v;
  return 0;
}

int emu_odata_query_parse(emu_odata_query *q, const emu_odata_params *p,
                          const char *const *props, emu_odata_error *err) {
  memset(q, 0, sizeof(*q));
  q->top = -1;
  if (p->select && *p->select) {
    const char *s = p->select;
    while (*s) {
      size_t n = strcspn(s, ",");
      char *name = trim_dup(s, n);
      if (!*name || strchr(name, '/') || !known_prop(props, name)) {
        set_err(err, "RequestBroker--ParseUri",
                "Could not find a property named '%s' on type "
                "'Microsoft.OutlookServices.Message'.",
                name);
        free(name);
        goto fail;
      }
      q->select = realloc(q->select, (q->nselect + 1) * sizeof(char *));
      q->select[q->nselect++] = name;
      s += n;
      if (*s == ',')
        s++;
    }
  }
  if (p->filter) {
    q->filter = emu_odata_filter_parse(p->filter, props, err);
    if (!q->filter)
      goto fail;
  }
  if (p->search) {
    if (p->orderby) {
      set_err(err, "SearchWithOrderBy",
              "The query parameter '$orderBy' is not supported with "
              "'$search'.%s",
              "");
      goto fail;
    }
    if (p->filter) {
      set_err(err, "BadRequest",
              "The query parameter '$filter' is not supported with "
              "'$search'.%s",
              "");
      goto fail;
    }
    if (p->skip) {
      set_err(err, "BadRequest",
              "The query parameter '$skip' is not supported with "
              "'$search'.%s",
              "");
      goto fail;
    }
    q->search = emu_odata_search_parse(p->search, err);
    if (!q->search)
      goto fail;
  }
  if (p->orderby && *p->orderby) {
    const char *s = p->orderby;
    while (*s) {
      size_t n = strcspn(s, ",");
      char *item = trim_dup(s, n);
      char *sp = strchr(item, ' ');
      bool desc = false;
      if (sp) {
        *sp = '\0';
        const char *dir = sp + 1;
        while (*dir == ' ')
          dir++;
        if (strcasecmp(dir, "desc") == 0)
          desc = true;
        else if (strcasecmp(dir, "asc") != 0) {
          set_err(err, "BadRequest",
                  "Invalid $orderby direction '%s'; expected asc or desc.",
                  dir);
          free(item);
          goto fail;
        }
      }
      if (!*item || !known_prop(props, item)) {
        set_err(err, "RequestBroker--ParseUri",
                "Could not find a property named '%s' on type "
                "'Microsoft.OutlookServices.Message'.",
                item);
        free(item);
        goto fail;
      }
      q->order = realloc(q->order, (q->norder + 1) * sizeof(*q->order));
      q->order[q->norder].path = item;
      q->order[q->norder].desc = desc;
      q->norder++;
      s += n;
      if (*s == ',')
        s++;
    }
    q->order_given = true;
    if (q->filter) {
      /* Exchange's rule: every $orderby property must also be in $filter,
       * in the same order, before any other filter property. */
      const char *paths[32];
      size_t np = emu_odata_filter_paths(q->filter, paths, 32);
      bool ok = np >= q->norder;
      for (size_t i = 0; ok && i < q->norder; i++)
        ok = strcasecmp(paths[i], q->order[i].path) == 0;
      if (!ok) {
        set_err(err, "InefficientFilter",
                "The restriction or sort order is too complex for this "
                "operation.%s",
                "");
        goto fail;
      }
    }
  }
  if (p->top && parse_int_opt(p->top, "$top", 1, 1000, &q->top, err) < 0)
    goto fail;
  if (p->skip && parse_int_opt(p->skip, "$skip", 0, 1 << 30, &q->skip, err) < 0)
    goto fail;
  if (p->count) {
    if (strcmp(p->count, "true") == 0)
      q->count = true;
    else if (strcmp(p->count, "false") != 0) {
      set_err(err, "BadRequest",
              "Invalid value '%s' for $count; expected true or false.",
              p->count);
      goto fail;
    }
  }
  return 0;
fail:
  emu_odata_query_clear(q);
  return -1;
}

typedef struct sort_ctx {
  const emu_odata_order *order;
  size_t norder;
  bool by_sent; /* $search: sentDateTime desc */
} sort_ctx;

#define SORT_KEYS 8

/* One item with its sort keys extracted once (dates parsed once), so the
 * O(n log n) comparisons are cheap. */
typedef struct ranked {
  json_object *o;
  size_t idx;
  val k[SORT_KEYS];
  double t[SORT_KEYS];
  bool is_t[SORT_KEYS];
} ranked;

static const emu_odata_order *sort_keys(const sort_ctx *c, size_t *n) {
  static const emu_odata_order dflt = {"receivedDateTime", true};
  static const emu_odata_order sent = {"sentDateTime", true};
  *n = c->norder ? (c->norder < SORT_KEYS ? c->norder : SORT_KEYS) : 1;
  return c->norder ? c->order : c->by_sent ? &sent : &dflt;
}

static void rank_item(ranked *rk, json_object *o, size_t idx,
                      const sort_ctx *c) {
  size_t n;
  const emu_odata_order *ord = sort_keys(c, &n);
  rk->o = o;
  rk->idx = idx;
  for (size_t i = 0; i < n; i++) {
    rk->k[i] = to_val(emu_odata_path_get(o, ord[i].path));
    rk->is_t[i] = rk->k[i].kind == L_STR &&
                  emu_odata_parse_time(rk->k[i].s, &rk->t[i]) == 0;
  }
}

static int cmp_ranked(const void *a, const void *b, void *ctx) {
  const ranked *x = a, *y = b;
  size_t n;
  const emu_odata_order *ord = sort_keys(ctx, &n);
  for (size_t i = 0; i < n; i++) {
    val va = x->k[i], vb = y->k[i];
    int r;
    if (va.kind == L_NULL || vb.kind == L_NULL)
      r = va.kind == vb.kind ? 0 : va.kind == L_NULL ? -1 : 1;
    else if (x->is_t[i] && y->is_t[i])
      r = x->t[i] < y->t[i] ? -1 : x->t[i] > y->t[i];
    else {
      r = cmp_vals(va, vb);
      if (r == 2)
        r = 0;
    }
    if (r)
      return ord[i].desc ? -r : r;
  }
  return x->idx < y->idx ? -1 : x->idx > y->idx;
}

json_object *emu_odata_apply(const emu_odata_query *q, json_object *items,
                             size_t default_top, size_t *total) {
  size_t n = json_object_array_length(items), m = 0;
  json_object **sel = calloc(n ? n : 1, sizeof(*sel));
  for (size_t i = 0; i < n; i++) {
    json_object *it = json_object_array_get_idx(items, i);
    if (emu_odata_filter_eval(q->filter, it) &&
        emu_odata_search_eval(q->search, it))
      sel[m++] = it;
  }
  /* qsort_r with the original position as the last key: a stable
   * O(n log n) sort, so big mailboxes stay fast and ties keep store order */
  sort_ctx c = {q->order, q->norder, q->search != NULL};
  ranked *rk = calloc(m ? m : 1, sizeof(*rk));
  for (size_t i = 0; i < m; i++)
    rank_item(&rk[i], sel[i], i, &c);
  qsort_r(rk, m, sizeof(*rk), cmp_ranked, &c);
  for (size_t i = 0; i < m; i++)
    sel[i] = rk[i].o;
  free(rk);
  if (q->search && m > 1000)
    m = 1000; /* $search returns at most 1000 results */
  *total = m;
  size_t top = q->top >= 0 ? (size_t)q->top : default_top;
  json_object *page = json_object_new_array();
  for (size_t i = (size_t)q->skip; i < m && i < (size_t)q->skip + top; i++)
    json_object_array_add(page, json_object_get(sel[i]));
  free(sel);
  return page;
}

json_object *emu_odata_select(const emu_odata_query *q, json_object *item) {
  if (!q || !q->nselect)
    return json_object_get(item);
  json_object *out = json_object_new_object();
  json_object_object_foreach(item, k, v) {
    /* "attachments" is only present when $expand asked for it. */
    bool keep = strcmp(k, "id") == 0 || strcmp(k, "@odata.etag") == 0 ||
                strcmp(k, "@odata.type") == 0 || strcmp(k, "attachments") == 0;
    for (size_t i = 0; !keep && i < q->nselect; i++)
      keep = strcasecmp(k, q->select[i]) == 0;
    if (keep)
      json_object_object_add(out, k, json_object_get(v));
  }
  return out;
}
