/* manifest.h - cross-check of a loaded plugin against its manifest.json
 * (public functions in wfc/host.h: wfc_plugin_check_manifest,
 * wfc_plugin_manifest_path).
 *
 * The manifest has the shape of `wfc plugin inspect --json` without
 * "fingerprint" and "path": {"name","version","abi":{"major","minor"},
 * "connection_types":[...],"cards":[...]}, plus any other top-level keys
 * (ignored here; the plugin's OAuth apps live there, for instance).
 */
#ifndef WFC_SDK_MANIFEST_H
#define WFC_SDK_MANIFEST_H

#include <stddef.h>

struct json_object;

/* First difference between a (manifest) and b (plugin) as
 * "<path>: manifest <a>, plugin <b>" in buf; returns 1, or 0 if equal.
 * Object key order does not matter. */
int wfc__json_diff(struct json_object *a, struct json_object *b,
                   const char *path, char *buf, size_t len);

#endif
