/* wfc/error.h - one table of error codes for the SDK and its plugins.
 *
 * Public functions return int: 0 on success, a negative WFC_E* code on
 * failure (libuv style). Detail travels in a wfc_error (opaque, host-owned),
 * filled through wfc_host_api.error_set().
 */
#ifndef WFC_ERROR_H
#define WFC_ERROR_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

/* XX(name, value, message). Values are stable across the ABI major: append
 * only, never renumber. */
#define WFC_ERRNO_MAP(XX)                                                      \
  XX(EINVAL, -1001, "invalid argument")                                        \
  XX(ENOMEM, -1002, "out of memory")                                           \
  XX(ECANCELED, -1003, "operation canceled")                                   \
  XX(ETIMEDOUT, -1004, "operation timed out")                                  \
  XX(EIO, -1005, "input/output error")                                         \
  XX(ENOTFOUND, -1006, "not found")                                            \
  XX(EEXIST, -1007, "already exists")                                          \
  XX(EBUSY, -1008, "resource busy")                                            \
  XX(ESTATE, -1009, "operation not allowed in this state")                     \
  XX(ETOOBIG, -1010, "too large")                                              \
  XX(ENOTSUP, -1011, "not supported")                                          \
  XX(ENOTPLUGIN, -1100, "not a wfc plugin")                                    \
  XX(EABI, -1101, "plugin ABI major version differs")                          \
  XX(EABINEWER, -1102, "plugin needs a newer host ABI minor version")          \
  XX(EFINGERPRINT, -1103, "plugin built against other library versions")       \
  XX(EREGISTER, -1104, "invalid registration")                                 \
  XX(EMANIFEST, -1105, "plugin does not match its manifest")                   \
  XX(EPLUGININIT, -1106, "plugin initialisation failed")                       \
  XX(EVALIDATION, -1200, "input validation failed")                            \
  XX(EJSON, -1201, "malformed JSON")                                           \
  XX(ENET, -1300, "network error")                                             \
  XX(ETLS, -1301, "TLS error")                                                 \
  XX(EHTTP, -1302, "HTTP error status")                                        \
  XX(EPROTO, -1303, "malformed response")                                      \
  XX(EHEADER, -1304, "invalid HTTP header")                                    \
  XX(EAUTH, -1400, "authorization failed")                                     \
  XX(EREAUTH, -1401, "reauthorization required")                              \
  XX(ECONSENT, -1402, "admin approval required")                               \
  XX(EDENIED, -1403, "access denied")                                          \
  XX(ETHROTTLED, -1404, "throttled by the service")                            \
  XX(EREMOTE, -1405, "the service returned an error")                          \
  XX(ESTORE, -1500, "store error")                                             \
  XX(EKEY, -1501, "wrong master key or corrupted secret")                      \
  XX(ESTALE, -1502, "stale checkpoint")

typedef enum {
#define WFC__ERR_ENUM(name, value, msg) WFC_##name = value,
  WFC_ERRNO_MAP(WFC__ERR_ENUM)
#undef WFC__ERR_ENUM
      WFC_OK = 0
} wfc_errno_t;

/* "invalid argument" for WFC_EINVAL; "unknown error" otherwise. Static. */
WFC_EXTERN const char *wfc_strerror(int code);
/* "EINVAL" for WFC_EINVAL; "UNKNOWN" otherwise. Static. */
WFC_EXTERN const char *wfc_err_name(int code);

/* Opaque error detail, owned by the host. A plugin fills it only through
 * wfc_host_api.error_set() (in init); a call fails through call_fail(). */
typedef struct wfc_error wfc_error;

#ifdef __cplusplus
}
#endif
#endif
