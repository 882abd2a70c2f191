/*
 * openapi: validation of JSON values against the shapes of Microsoft's
 * OpenAPI description of Graph mail (the extract in
 * emulator/openapi/graph-mail.json, embedded at build time; see
 * docs/emulator.md "OpenAPI shapes").
 *
 * Pure json-c: used by the emulator (request bodies, before the handler)
 * and by tests (tests/support/openapi_check.h, responses). Thread-safe: the
 * extract is parsed once and only read afterwards.
 */
#ifndef EMU_OPENAPI_H
#define EMU_OPENAPI_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct emu_openapi_err {
  int status;        /* HTTP status Graph answers with (400) */
  char code[32];     /* Graph error code ("RequestBodyRead", "BadRequest") */
  char message[512]; /* Graph's wording */
  char path[256]; /* JSON path of the offending value ("$.from.emailAddress") */
} emu_openapi_err;

/* Route (emulator pattern "/v1.0/me/messages/{id}/move" or OpenAPI path
 * "/users/{user-id}/messages/{message-id}/microsoft.graph.move") to the
 * extract's key ("/messages/{}/move"). Writes at most n bytes. */
void emu_openapi_path_key(const char *route, char *out, size_t n);

/* Whether the extract describes a request body (request=true) or a success
 * response for method + route. */
bool emu_openapi_has(const char *method, const char *route, bool request);

/* The media type of the success response the documents declare for
 * method + route: "application/json" for a JSON schema, the declared type
 * otherwise ("application/octet-stream" for .../$value), NULL when the
 * extract does not describe the response. */
const char *emu_openapi_produces(const char *method, const char *route);

/* Does an Accept header value (NULL/empty: anything) admit media? Media
 * ranges with wildcards and q=0 refusals, as RFC 9110 12.5.1 reads them. */
bool emu_openapi_accepts(const char *accept, const char *media);

/* Validates a request body for method + route as Graph would: unknown
 * properties, wrong types, nulls where not allowed, enum values. Returns 0
 * when valid or when the extract has no request schema for the route, -1
 * with *err filled otherwise. */
int emu_openapi_check_request(const char *method, const char *route,
                              json_object *body, emu_openapi_err *err);

/* Validates a success response body against the documented schema. Returns
 * 0 when valid, -1 with *err filled when not, -2 when undocumented. */
int emu_openapi_check_response(const char *method, const char *route,
                               json_object *body, emu_openapi_err *err);

/* Validates v against a component schema ("microsoft.graph.message").
 * write: request rules (Graph's reading of a payload). Returns 0, -1 with
 * *err filled, -2 when the schema is not in the extract. */
int emu_openapi_check_schema(const char *name, json_object *v, bool write,
                             emu_openapi_err *err);

/* Count of request bodies the emulator refused for shape reasons since start
 * or the last reset (exposed as "openapi_rejections" in /__emulator/stats). */
void emu_openapi_count_rejection(void);
uint64_t emu_openapi_rejections(void);
void emu_openapi_reset_rejections(void);

#endif
