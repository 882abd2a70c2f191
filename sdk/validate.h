/* validate.h - checks JSON input against a wfc_field table (card inputs,
 * connection parameters) and produces its normalised copy.
 *
 * Rules, per wfc_type (include/wfc/plugin.h):
 *   STRING    a string; min/max bound its length in characters; enum_values
 *   INTEGER   an integer, or a string holding one ("42" becomes 42); min/max
 *             bound the value (max 0 = unbounded)
 *   NUMBER    an integer or a number
 *   BOOLEAN   true or false
 *   OBJECT    an object whose members are .fields; unknown keys refused
 *   LIST      a list of .items; min/max bound the count
 *   EMAIL     a string holding one address: local@domain (dot-atom local
 *             part, LDH domain labels), no spaces, CR/LF or angle brackets,
 *             at most 254 bytes (64 local, 63 per label)
 *   DATETIME  an RFC 3339 date-time: 2024-05-01T09:30:00Z, offsets and
 *             fractions allowed
 *   FILE      an object with at least a non-empty string "id" (a blob ref)
 *   ANY       any JSON value, passed through
 *   MAP       an object with free keys; each value checked against .items
 *             (NULL .items: any value)
 * Flags: REQUIRED (absent is an error), NULLABLE (null accepted and kept;
 * otherwise null is an error). An absent optional field with default_json
 * gets the default in the output. Errors name the full path and the cause:
 *   input.to[2]: expected an email address
 *   input.subject: expected a string, got integer
 *   input.importance: must be one of low, normal, high
 *   input: unknown field "foo"
 *   input.message: required field missing
 * Messages never quote input values (they may be secrets).
 *
 * Text: every string of the input, at any depth, is valid UTF-8 without
 * NUL (json.h's rules, read by length: a host's json-c string "a\0b" is
 * seen whole); ANY and FILE values are walked for it and MAP and ANY keys
 * checked too. The message gives the byte offset in the string:
 *   input.subject: invalid UTF-8 at byte 7
 *   input.body: contains a NUL character (\u0000) at byte 1
 *   input.counts["ab?"] (the key): invalid UTF-8 at byte 2
 * Outputs (wfc__validate_check) are not held to this.
 *
 * Recursion follows the schema's nesting, bounded by
 * WFC_VALIDATE_MAX_DEPTH; the walk of ANY values for text stops at twice
 * that ("nested too deeply").
 */
#ifndef WFC_SDK_VALIDATE_H
#define WFC_SDK_VALIDATE_H

#include <stddef.h>

#include "wfc/plugin.h"

#define WFC_VALIDATE_MAX_DEPTH 32

/* Validates input (borrowed; NULL is taken as {}) against schema (a table
 * ending with an entry whose name is NULL; NULL means no fields) that
 * passed wfc__schema_check(), as every registered table has: the copy is
 * built on its guarantees (names unique per level, defaults that pass
 * their own field's checks). root names
 * the top of the paths in messages ("input", "params"). On success returns
 * 0 and *out (transfer: a new object; values the validator did not change
 * are shared with input by reference count, so treat both as read-only).
 * On failure returns WFC_EVALIDATION (or WFC_ENOMEM), *out NULL, and the
 * first error in err (may be NULL). */
int wfc__validate_at(const wfc_field *schema, struct json_object *input,
                     const char *root, struct json_object **out, char *err,
                     size_t errlen);

/* The checks of wfc__validate_at() and the same errors, without building
 * the normalised copy (and without looking at defaults, which
 * wfc__schema_check() validated): for outputs, checked and passed on as
 * they are. v borrowed. 0, WFC_EVALIDATION or WFC_ENOMEM. */
int wfc__validate_check(const wfc_field *schema, struct json_object *v,
                        const char *root, char *err, size_t errlen);

/* wfc__validate_at() with root "input". */
int wfc__validate(const wfc_field *schema, struct json_object *input,
                  struct json_object **out, char *err, size_t errlen);

/* Checks that a table is well formed, at registration: names are
 * identifiers ([A-Za-z_][A-Za-z0-9_]*) and unique per level, types are
 * known, LIST has .items, OBJECT has .fields, enum_values only on STRING,
 * min <= max, reserved slots zero, no default on a REQUIRED field, and each
 * default_json parses and passes its own field's checks. Returns 0, or
 * WFC_EREGISTER with the path of the bad field in err. */
int wfc__schema_check(const wfc_field *schema, char *err, size_t errlen);

/* The checks behind EMAIL and DATETIME, for other modules: 1 valid, 0 not. */
int wfc__is_email(const char *s);
int wfc__is_datetime(const char *s);

#endif
