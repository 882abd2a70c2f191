/* schema_json.h - canonical JSON of schemas, cards, connection types and
 * plugins (public functions in wfc/host.h: wfc_schema_to_json, ...).
 *
 * One form used by `wfc plugin inspect`, the manifest cross-check and the
 * docs generator, so the three can never disagree. Keys that do not apply
 * are left out; docs/abi.md lists them.
 */
#ifndef WFC_SDK_SCHEMA_JSON_H
#define WFC_SDK_SCHEMA_JSON_H

#include "wfc/plugin.h"

/* "string", "integer", ..., or "unknown". Static. */
const char *wfc__type_name(wfc_type t);

#endif
