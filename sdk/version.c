/* version.c - run-time versions (include/wfc/version.h). */
#include "wfc/version.h"

const char *wfc_version(void) {
  return WFC_VERSION_STRING;
}

unsigned wfc_abi_version(void) {
  return ((unsigned)WFC_ABI_MAJOR << 16) | (unsigned)WFC_ABI_MINOR;
}
