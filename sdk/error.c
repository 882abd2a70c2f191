/* error.c - names and messages of the WFC_E* codes (include/wfc/error.h). */
#include "wfc/error.h"

const char *wfc_strerror(int code) {
  switch (code) {
  case 0:
    return "success";
#define XX(name, value, msg)                                                   \
  case value:                                                                  \
    return msg;
    WFC_ERRNO_MAP(XX)
#undef XX
  }
  return "unknown error";
}

const char *wfc_err_name(int code) {
  switch (code) {
  case 0:
    return "OK";
#define XX(name, value, msg)                                                   \
  case value:                                                                  \
    return #name;
    WFC_ERRNO_MAP(XX)
#undef XX
  }
  return "UNKNOWN";
}
