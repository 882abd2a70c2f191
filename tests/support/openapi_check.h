/* openapi_check.h - response shape checks against Microsoft's OpenAPI
 * description of Graph mail (the extract embedded from
 * emulator/openapi/graph-mail.json, validated by emulator/openapi.c).
 * Used by tests/emulator/test_openapi_graph.c; any
 * test that gets a Graph response may use it. */
#ifndef OPENAPI_CHECK_H
#define OPENAPI_CHECK_H

#include <json-c/json.h>
#include <stdbool.h>

/* Mismatch of a response with the documented schema: NULL when it
 * matches, else a malloc'd "<METHOD> <path>: <json path>: <Graph wording>".
 * path_pattern: an emulator route ("/v1.0/me/messages/{id}"), an OpenAPI
 * path, or a concrete path whose ids are passed as "{}". status: 2xx with a
 * JSON body (204 and non-JSON answers have nothing to check: NULL). An
 * undocumented method + path is a mismatch too (so a typo cannot pass). */
char *openapi_response_mismatch(const char *method, const char *path_pattern,
                                long status, json_object *body);

/* cmocka assertion around openapi_response_mismatch(): fails the test with
 * the mismatch. */
void openapi_check_response(const char *method, const char *path_pattern,
                            long status, json_object *body);

/* Whether the request body would be accepted by the emulator's OpenAPI
 * check (plugin-side: the requests our plugin sends). Same return as
 * openapi_response_mismatch. */
char *openapi_request_mismatch(const char *method, const char *path_pattern,
                               json_object *body);

#endif
