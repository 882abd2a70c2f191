/* docs.c - `wfc docs cards [MANIFEST] [--output FILE]`: the card
 * reference (docs/cards.md) generated from a plugin's manifest.json, so the
 * reference cannot drift from the schemas the host checks (`wfc plugin
 * inspect` checks the plugin against the same manifest). The output is a
 * pure function of the manifest: no date, no path, no build facts. */
#define _POSIX_C_SOURCE 200809L /* <uv.h> */
#include "cli.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

const char wfc__cli_usage_docs[] =
    "  wfc docs cards [MANIFEST] [--output FILE]\n"
    "  (MANIFEST defaults to manifest.json; the Markdown goes to stdout or "
    "FILE)\n";

#define REGEN "build/bin/wfc docs cards manifest.json --output docs/cards.md"

static const char *str(json_object *o, const char *k) {
  json_object *v;
  if (o == NULL || !json_object_object_get_ex(o, k, &v) ||
      !json_object_is_type(v, json_type_string))
    return NULL;
  return json_object_get_string(v);
}

static json_object *arr(json_object *o, const char *k) {
  json_object *v;
  if (o == NULL || !json_object_object_get_ex(o, k, &v) ||
      !json_object_is_type(v, json_type_array))
    return NULL;
  return v;
}

static int flag(json_object *o, const char *k) {
  json_object *v;
  return o != NULL && json_object_object_get_ex(o, k, &v) &&
         json_object_get_boolean(v);
}

/* Text inside a table cell: '|' escaped, line breaks as spaces. */
static void cell(FILE *f, const char *s) {
  for (; s != NULL && *s; s++) {
    if (*s == '|')
      fputs("\\|", f);
    else if (*s == '\n' || *s == '\r')
      fputc(' ', f);
    else
      fputc(*s, f);
  }
}

static void json_cell(FILE *f, json_object *v) {
  fputc('`', f);
  cell(f, json_object_to_json_string_ext(
              v, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
  fputc('`', f);
}

/* "string", "list of email", "map of string", "string: a, b". */
static void type_cell(FILE *f, json_object *field) {
  json_object *items, *e = arr(field, "enum");
  const char *t = str(field, "type");
  cell(f, t ? t : "any");
  if (json_object_object_get_ex(field, "items", &items)) {
    fputs(" of ", f);
    cell(f, str(items, "type") ? str(items, "type") : "any");
    if (e == NULL)
      e = arr(items, "enum");
  }
  if (e != NULL) {
    fputs(": ", f);
    for (size_t i = 0; i < json_object_array_length(e); i++) {
      if (i > 0)
        fputs(", ", f);
      json_cell(f, json_object_array_get_idx(e, i));
    }
  }
}

/* Bounds mean a length (strings), a count (lists, maps) or a value. */
static void bounds(FILE *f, json_object *field) {
  json_object *mn = NULL, *mx = NULL;
  json_object_object_get_ex(field, "min", &mn);
  json_object_object_get_ex(field, "max", &mx);
  if (mn == NULL && mx == NULL)
    return;
  const char *t = str(field, "type");
  const char *what = t == NULL                  ? "value"
                     : strcmp(t, "string") == 0 ? "length"
                     : (strcmp(t, "list") == 0 || strcmp(t, "map") == 0)
                         ? "count"
                         : "value";
  fprintf(f, " (%s", what);
  if (mn != NULL)
    fprintf(f, " >= %s", json_object_to_json_string(mn));
  if (mn != NULL && mx != NULL)
    fputs(",", f);
  if (mx != NULL)
    fprintf(f, " <= %s", json_object_to_json_string(mx));
  fputs(")", f);
}

static void desc_cell(FILE *f, json_object *field) {
  cell(f, str(field, "description"));
  bounds(f, field);
  if (flag(field, "nullable"))
    fputs(" May be null.", f);
  if (flag(field, "stream"))
    fputs(" Streamed: each item is emitted as it arrives.", f);
}

/* One row per field; object fields (and those of list items) follow as
 * rows named parent.child / parent[].child. */
static void rows(FILE *f, json_object *fields, const char *prefix, int inputs) {
  for (size_t i = 0; fields && i < json_object_array_length(fields); i++) {
    json_object *fd = json_object_array_get_idx(fields, i), *items, *def;
    char name[512];
    snprintf(name, sizeof name, "%s%s", prefix,
             str(fd, "name") ? str(fd, "name") : "?");
    fputs("| `", f);
    cell(f, name);
    fputs("` | ", f);
    type_cell(f, fd);
    fputs(" | ", f);
    if (inputs) {
      fputs(flag(fd, "required") ? "yes" : "no", f);
      fputs(" | ", f);
      if (json_object_object_get_ex(fd, "default", &def))
        json_cell(f, def);
      fputs(" | ", f);
    }
    desc_cell(f, fd);
    fputs(" |\n", f);
    char sub[560];
    if (arr(fd, "fields") != NULL) {
      snprintf(sub, sizeof sub, "%s.", name);
      rows(f, arr(fd, "fields"), sub, inputs);
    }
    if (json_object_object_get_ex(fd, "items", &items) &&
        arr(items, "fields") != NULL) {
      snprintf(sub, sizeof sub, "%s[].", name);
      rows(f, arr(items, "fields"), sub, inputs);
    }
  }
}

static const char *conn_name(json_object *manifest, const char *id) {
  json_object *types = arr(manifest, "connection_types");
  for (size_t i = 0; types && i < json_object_array_length(types); i++) {
    json_object *t = json_object_array_get_idx(types, i);
    if (str(t, "id") && strcmp(str(t, "id"), id) == 0)
      return str(t, "name");
  }
  return NULL;
}

static void write_doc(FILE *f, json_object *m) {
  json_object *cards = arr(m, "cards");
  size_t n = cards ? json_object_array_length(cards) : 0;
  const char *plugin = str(m, "id") ? str(m, "id") : str(m, "name");

  fputs("# Cards\n\n", f);
  fputs("<!-- Generated from manifest.json by `wfc docs cards`: do not edit.\n"
        "     Regenerate with: " REGEN " -->\n\n",
        f);
  fprintf(f, "Plugin `%s` %s: ", plugin ? plugin : "?",
          str(m, "version") ? str(m, "version") : "");
  cell(f, str(m, "description"));
  fprintf(f,
          "\n\n%zu cards. Run one with `wfc card run %s.<id> --connection "
          "NAME --input JSON`;\nFILE inputs are blob references made with "
          "`wfc blob put FILE --json`. Every\ninput is checked against the "
          "table before any request: a wrong type, a missing\nrequired field "
          "or an unknown key is refused with the field's name.\n\n",
          n, plugin ? plugin : "plugin");
  fputs("| Card | id | Kind | Connection |\n|---|---|---|---|\n", f);
  for (size_t i = 0; i < n; i++) {
    json_object *c = json_object_array_get_idx(cards, i);
    const char *id = str(c, "id") ? str(c, "id") : "?";
    fputs("| [", f);
    cell(f, str(c, "name") ? str(c, "name") : id);
    fprintf(f, "](#%s) | `%s` | %s | %s |\n", id, id,
            str(c, "kind") ? str(c, "kind") : "action",
            str(c, "connection_type") ? str(c, "connection_type") : "none");
  }
  for (size_t i = 0; i < n; i++) {
    json_object *c = json_object_array_get_idx(cards, i);
    const char *id = str(c, "id") ? str(c, "id") : "?";
    const char *ct = str(c, "connection_type");
    fprintf(f, "\n<a id=\"%s\"></a>\n## %s\n\n", id,
            str(c, "name") ? str(c, "name") : id);
    fprintf(f, "`%s.%s` (%s). ", plugin ? plugin : "?", id,
            str(c, "kind") ? str(c, "kind") : "action");
    if (ct != NULL) {
      const char *cn = conn_name(m, ct);
      fprintf(f, "Needs a connection of type `%s`%s%s%s.\n\n", ct,
              cn ? " (" : "", cn ? cn : "", cn ? ")" : "");
    } else {
      fputs("Needs no connection.\n\n", f);
    }
    if (str(c, "description") != NULL)
      fprintf(f, "%s\n\n", str(c, "description"));
    json_object *in = arr(c, "inputs"), *out = arr(c, "outputs");
    fputs("**Inputs**\n\n", f);
    if (in != NULL && json_object_array_length(in) > 0) {
      fputs("| Name | Type | Required | Default | Description |\n"
            "|---|---|---|---|---|\n",
            f);
      rows(f, in, "", 1);
    } else {
      fputs("None.\n", f);
    }
    fputs("\n**Outputs**\n\n", f);
    if (out != NULL && json_object_array_length(out) > 0) {
      fputs("| Name | Type | Description |\n|---|---|---|\n", f);
      rows(f, out, "", 0);
    } else {
      fputs("None.\n", f);
    }
  }
}

static int docs_cards(int argc, char **argv) {
  static const struct option table[] = {
      {"output", required_argument, NULL, 'o'}, {NULL, 0, NULL, 0}};
  const char *output = NULL, *path = "manifest.json";
  int c;
  optind = 0;
  opterr = 0;
  while ((c = getopt_long(argc, argv, "", table, NULL)) != -1) {
    if (c != 'o')
      return wfc__cli_bad_option(wfc__cli_usage_docs, "docs", "cards",
                                 argv[optind - 1]);
    output = optarg;
  }
  if (optind + 1 < argc)
    return wfc__cli_usage(wfc__cli_usage_docs,
                          "docs cards: at most one MANIFEST");
  if (optind < argc)
    path = argv[optind];
  json_object *m = json_object_from_file(path);
  if (m == NULL || arr(m, "cards") == NULL) {
    json_object_put(m);
    return wfc__cli_error("%s: not a plugin manifest with a \"cards\" list "
                          "(%s)",
                          path, json_util_get_last_err());
  }
  FILE *f = output ? fopen(output, "w") : stdout;
  if (f == NULL) {
    json_object_put(m);
    return wfc__cli_error("cannot write %s", output);
  }
  write_doc(f, m);
  int bad = ferror(f);
  if (f != stdout)
    bad |= fclose(f) != 0;
  else
    bad |= fflush(f) != 0;
  json_object_put(m);
  return bad ? wfc__cli_error("writing %s failed", output ? output : "stdout")
             : WFC_CLI_OK;
}

int wfc__cli_docs(int argc, char **argv) {
  if (argc < 2)
    return wfc__cli_usage(wfc__cli_usage_docs, "docs: missing command");
  if (strcmp(argv[1], "cards") == 0)
    return docs_cards(argc - 1, argv + 1);
  return wfc__cli_usage(wfc__cli_usage_docs, "docs: unknown command \"%s\"",
                        argv[1]);
}
