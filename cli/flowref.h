/* flowref.h - references in `wfc flow run` files: "{{trigger.a.b}}",
 * "{{steps.NAME.list[0].id}}" resolved against the run's context
 * {"trigger": event, "steps": {NAME: output, ...}} (flow.c, flowcond.c). */
#ifndef WFC_CLI_FLOWREF_H
#define WFC_CLI_FLOWREF_H

#include <stddef.h>

#include <json-c/json.h>

/* The value at path ("trigger.a", "steps.x.list[0].id") in ctx, borrowed,
 * or NULL with why set ("no \"x\" there"). */
json_object *wfc__flow_resolve(json_object *ctx, const char *path, char *why,
                               size_t len);

/* The reference text between {{ and }} (a, n bytes) with blanks trimmed,
 * into out. */
void wfc__flow_ref_path(const char *a, size_t n, char *out, size_t len);

/* 1 when v is a string that is exactly one reference ("{{trigger.id}}"),
 * its path then in out; else 0. */
int wfc__flow_whole_ref(json_object *v, char *out, size_t len);

/* A copy of v with its references resolved against ctx (new reference):
 * a string that is exactly one reference becomes the value there (any
 * JSON type); references inside a longer string are replaced by the
 * value's text. NULL with err naming where ("steps[1].input.message_id:
 * {{trigger.nope}} does not resolve: no \"nope\" there"). */
json_object *wfc__flow_expand(json_object *v, json_object *ctx,
                              const char *where, char *err, size_t len);

#endif
