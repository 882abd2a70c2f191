/* wfc/version.h - versions of the SDK and of the plugin ABI.
 *
 * The promise: the same WFC_ABI_MAJOR means binary compatible. A minor
 * release only appends (new members at the end of size-prefixed structs, new
 * host services at the end of wfc_host_api, new error codes). A plugin built
 * against minor M loads in every host whose minor is >= M.
 */
#ifndef WFC_VERSION_H
#define WFC_VERSION_H

#define WFC_VERSION_MAJOR  0
#define WFC_VERSION_MINOR  1
#define WFC_VERSION_PATCH  0
#define WFC_VERSION_STRING "0.1.0"
#define WFC_VERSION_HEX                                                        \
  ((WFC_VERSION_MAJOR << 16) | (WFC_VERSION_MINOR << 8) | WFC_VERSION_PATCH)

#define WFC_ABI_MAJOR 1
#define WFC_ABI_MINOR 5

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The SDK's own version, "0.1.0". Static string. */
WFC_EXTERN const char *wfc_version(void);
/* (WFC_ABI_MAJOR << 16) | WFC_ABI_MINOR of the SDK library at run time. */
WFC_EXTERN unsigned wfc_abi_version(void);

#ifdef __cplusplus
}
#endif
#endif
