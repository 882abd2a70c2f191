/* flowcond.h - step conditions in `wfc flow run` files: a step with
 * "if" runs only when its condition holds for the run (the trigger's
 * event and the outputs of the steps before it); otherwise it is skipped.
 *
 *   {"eq": [A, B]}  {"ne": [A, B]}  {"lt": [A, B]}  {"gt": [A, B]}
 *   {"contains": [A, B]}  {"exists": "{{PATH}}"}
 *   {"and": [C, ...]}  {"or": [C, ...]}  {"not": C}
 *
 * An operand is a JSON value; a string that is exactly one reference
 * ("{{trigger.importance}}", "{{steps.get.size}}") is the value there,
 * absent when the path leads nowhere (absent compares like null); other
 * strings with references are text with the values' text put in (a
 * reference there that leads nowhere fails the run, as in an input).
 * eq/ne: numbers by value, else same type and value. lt/gt: two numbers,
 * or two strings (byte order: ISO times compare as times); absent or null
 * is never less or greater; other pairs fail the run naming the step.
 * contains: a string containing a string (case-sensitive), or a list with
 * an item equal to B; absent or null contains nothing. exists: the path
 * leads to a value other than null. */
#ifndef WFC_CLI_FLOWCOND_H
#define WFC_CLI_FLOWCOND_H

#include <stddef.h>

#include <json-c/json.h>

/* Checks cond (borrowed) when the flow is loaded: operators, operand
 * shapes, and every reference's root (trigger: only when has_trigger;
 * steps.NAME: only a step before this one, i.e. among the first n_before
 * of steps). 0, or -1 with err naming where ("steps[1].if.and[0]: ..."). */
int wfc__flow_cond_check(json_object *cond, const char *where,
                         json_object *steps, size_t n_before, int has_trigger,
                         char *err, size_t len);

/* Evaluates a checked cond against ctx ({"trigger","steps"}): 1 (holds),
 * 0 (does not), or -1 with err naming where and why. */
int wfc__flow_cond_eval(json_object *cond, json_object *ctx, const char *where,
                        char *err, size_t len);

#endif
