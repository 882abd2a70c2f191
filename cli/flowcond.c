/* flowcond.c - see flowcond.h. */
#include "flowcond.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "flowref.h"

static const char ops_list[] = "eq, ne, lt, gt, contains, exists, and, or, not";

static int is_binary(const char *op) {
  return !strcmp(op, "eq") || !strcmp(op, "ne") || !strcmp(op, "lt") ||
         !strcmp(op, "gt") || !strcmp(op, "contains");
}

/* The one operator of cond and its operand, or NULL. */
static const char *op_of(json_object *cond, json_object **arg) {
  if (!json_object_is_type(cond, json_type_object) ||
      json_object_object_length(cond) != 1)
    return NULL;
  json_object_object_foreach(cond, k, v) {
    *arg = v;
    return k;
  }
  return NULL;
}

/* Checks the root of one reference path. */
static int check_path(const char *path, const char *where, json_object *steps,
                      size_t n_before, int has_trigger, char *err, size_t len) {
  size_t n = strcspn(path, ".[");
  if (n == 7 && strncmp(path, "trigger", 7) == 0) {
    if (!has_trigger)
      return snprintf(err, len,
                      "%s: {{%s}}: the flow has no trigger to refer to", where,
                      path),
             -1;
    return 0;
  }
  if (n == 5 && strncmp(path, "steps", 5) == 0 && path[5] == '.') {
    const char *name = path + 6;
    size_t k = strcspn(name, ".[");
    for (size_t i = 0; i < n_before; i++) {
      json_object *st = json_object_array_get_idx(steps, i), *nm = NULL;
      json_object_object_get_ex(st, "name", &nm);
      const char *s = json_object_get_string(nm);
      if (s != NULL && strlen(s) == k && strncmp(s, name, k) == 0)
        return 0;
    }
    return snprintf(err, len,
                    "%s: {{%s}}: no step \"%.*s\" before this one (a "
                    "condition can refer to the trigger and earlier steps)",
                    where, path, (int)k, name),
           -1;
  }
  return snprintf(err, len,
                  "%s: {{%s}}: a reference starts with trigger. or "
                  "steps.NAME.",
                  where, path),
         -1;
}

/* Checks every reference in an operand (whole or inside a text). */
static int check_operand(json_object *v, const char *where, json_object *steps,
                         size_t n_before, int has_trigger, char *err,
                         size_t len) {
  if (!json_object_is_type(v, json_type_string))
    return 0;
  const char *p = json_object_get_string(v), *open;
  while ((open = strstr(p, "{{")) != NULL) {
    const char *close = strstr(open + 2, "}}");
    if (close == NULL)
      return snprintf(err, len, "%s: \"{{\" without \"}}\"", where), -1;
    char path[512];
    wfc__flow_ref_path(open + 2, (size_t)(close - open - 2), path, sizeof path);
    if (check_path(path, where, steps, n_before, has_trigger, err, len) != 0)
      return -1;
    p = close + 2;
  }
  return 0;
}

int wfc__flow_cond_check(json_object *cond, const char *where,
                         json_object *steps, size_t n_before, int has_trigger,
                         char *err, size_t len) {
  json_object *arg = NULL;
  const char *op = op_of(cond, &arg);
  if (op == NULL)
    return snprintf(err, len, "%s: expected an object with one operator (%s)",
                    where, ops_list),
           -1;
  char w[512];
  snprintf(w, sizeof w, "%s.%s", where, op);
  if (is_binary(op)) {
    if (!json_object_is_type(arg, json_type_array) ||
        json_object_array_length(arg) != 2)
      return snprintf(err, len, "%s: expected [left, right]", w), -1;
    for (size_t i = 0; i < 2; i++) {
      char wi[544];
      snprintf(wi, sizeof wi, "%s[%zu]", w, i);
      if (check_operand(json_object_array_get_idx(arg, i), wi, steps, n_before,
                        has_trigger, err, len) != 0)
        return -1;
    }
    return 0;
  }
  if (!strcmp(op, "exists")) {
    char path[512];
    if (!wfc__flow_whole_ref(arg, path, sizeof path))
      return snprintf(err, len,
                      "%s: expected one reference, like "
                      "\"{{trigger.flag}}\"",
                      w),
             -1;
    return check_path(path, w, steps, n_before, has_trigger, err, len);
  }
  if (!strcmp(op, "and") || !strcmp(op, "or")) {
    if (!json_object_is_type(arg, json_type_array) ||
        json_object_array_length(arg) == 0)
      return snprintf(err, len, "%s: expected a non-empty list of conditions",
                      w),
             -1;
    for (size_t i = 0; i < json_object_array_length(arg); i++) {
      char wi[544];
      snprintf(wi, sizeof wi, "%s[%zu]", w, i);
      if (wfc__flow_cond_check(json_object_array_get_idx(arg, i), wi, steps,
                               n_before, has_trigger, err, len) != 0)
        return -1;
    }
    return 0;
  }
  if (!strcmp(op, "not"))
    return wfc__flow_cond_check(arg, w, steps, n_before, has_trigger, err, len);
  return snprintf(err, len, "%s: unknown operator \"%s\" (%s)", where, op,
                  ops_list),
         -1;
}

/* ---- evaluation ---------------------------------------------------------- */

/* The operand's value (new reference; NULL: absent or null), or -1. */
static int value_of(json_object *v, json_object *ctx, const char *where,
                    json_object **out, char *err, size_t len) {
  char path[512], why[128];
  *out = NULL;
  if (wfc__flow_whole_ref(v, path, sizeof path)) {
    json_object *r = wfc__flow_resolve(ctx, path, why, sizeof why);
    *out = json_object_get(r);
    return 0;
  }
  json_object *x = wfc__flow_expand(v, ctx, where, err, len);
  if (x == NULL && v != NULL)
    return -1;
  *out = x;
  return 0;
}

static int is_number(json_object *v) {
  return json_object_is_type(v, json_type_int) ||
         json_object_is_type(v, json_type_double);
}

static int equal(json_object *a, json_object *b) {
  if (is_number(a) && is_number(b))
    return json_object_get_double(a) == json_object_get_double(b);
  if (a == NULL || b == NULL)
    return a == b;
  return json_object_equal(a, b);
}

static const char *type_name(json_object *v) {
  return v == NULL ? "nothing" : json_type_to_name(json_object_get_type(v));
}

/* lt (sign -1) or gt (sign 1): 1, 0, or -1 with err. */
static int compare(json_object *a, json_object *b, int sign, const char *where,
                   char *err, size_t len) {
  if (a == NULL || b == NULL)
    return 0;
  double c;
  if (is_number(a) && is_number(b)) {
    double x = json_object_get_double(a), y = json_object_get_double(b);
    if (isnan(x) || isnan(y))
      return 0;
    c = x < y ? -1 : x > y;
  } else if (json_object_is_type(a, json_type_string) &&
             json_object_is_type(b, json_type_string)) {
    c = strcmp(json_object_get_string(a), json_object_get_string(b));
  } else {
    return snprintf(err, len,
                    "%s: cannot compare %s with %s (two numbers or two "
                    "strings)",
                    where, type_name(a), type_name(b)),
           -1;
  }
  return sign < 0 ? c < 0 : c > 0;
}

static int contains(json_object *a, json_object *b, const char *where,
                    char *err, size_t len) {
  if (a == NULL)
    return 0;
  if (json_object_is_type(a, json_type_array)) {
    for (size_t i = 0; i < json_object_array_length(a); i++)
      if (equal(json_object_array_get_idx(a, i), b))
        return 1;
    return 0;
  }
  if (json_object_is_type(a, json_type_string) &&
      json_object_is_type(b, json_type_string))
    return strstr(json_object_get_string(a), json_object_get_string(b)) != NULL;
  return snprintf(err, len,
                  "%s: %s cannot contain %s (a string contains a string, a "
                  "list contains an item)",
                  where, type_name(a), type_name(b)),
         -1;
}

int wfc__flow_cond_eval(json_object *cond, json_object *ctx, const char *where,
                        char *err, size_t len) {
  json_object *arg = NULL;
  const char *op = op_of(cond, &arg);
  char w[512];
  snprintf(w, sizeof w, "%s.%s", where, op ? op : "?");
  if (op == NULL)
    return snprintf(err, len, "%s: not a condition", where), -1;
  if (is_binary(op)) {
    json_object *a = NULL, *b = NULL;
    char wi[544];
    snprintf(wi, sizeof wi, "%s[0]", w);
    if (value_of(json_object_array_get_idx(arg, 0), ctx, wi, &a, err, len))
      return -1;
    snprintf(wi, sizeof wi, "%s[1]", w);
    if (value_of(json_object_array_get_idx(arg, 1), ctx, wi, &b, err, len)) {
      json_object_put(a);
      return -1;
    }
    int r;
    if (!strcmp(op, "eq"))
      r = equal(a, b);
    else if (!strcmp(op, "ne"))
      r = !equal(a, b);
    else if (!strcmp(op, "lt") || !strcmp(op, "gt"))
      r = compare(a, b, op[0] == 'l' ? -1 : 1, w, err, len);
    else
      r = contains(a, b, w, err, len);
    json_object_put(a);
    json_object_put(b);
    return r;
  }
  if (!strcmp(op, "exists")) {
    json_object *v = NULL;
    if (value_of(arg, ctx, w, &v, err, len) != 0)
      return -1;
    int r = v != NULL;
    json_object_put(v);
    return r;
  }
  if (!strcmp(op, "not")) {
    int r = wfc__flow_cond_eval(arg, ctx, w, err, len);
    return r < 0 ? r : !r;
  }
  int any = !strcmp(op, "or");
  for (size_t i = 0; i < json_object_array_length(arg); i++) {
    char wi[544];
    snprintf(wi, sizeof wi, "%s[%zu]", w, i);
    int r = wfc__flow_cond_eval(json_object_array_get_idx(arg, i), ctx, wi, err,
                                len);
    if (r < 0 || r == any)
      return r; /* an error, or decided (short-circuit) */
  }
  return !any;
}
