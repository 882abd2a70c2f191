/* setting.c - see setting.h. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "setting.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "entry.h"

const char *o365_setting_env(const char *key, char *buf, size_t len) {
  size_t n = (size_t)snprintf(buf, len, "O365MAIL_%s", key);
  for (size_t i = 9; i < n && i < len; i++)
    buf[i] = (char)toupper((unsigned char)buf[i]);
  return buf;
}

char *o365_setting(const char *key) {
  if (o365_api != NULL && WFC_API_HAS(o365_api, setting)) {
    char *h = o365_api->setting(key);
    if (h != NULL) {
      /* Our copy, so that every value is freed the same way. */
      char *v = *h != '\0' ? strdup(h) : NULL;
      OPENSSL_cleanse(h, strlen(h));
      o365_api->free(h);
      if (v != NULL)
        return v;
    }
  }
  char name[96];
  const char *e = getenv(o365_setting_env(key, name, sizeof name));
  return e != NULL && *e != '\0' ? strdup(e) : NULL;
}

void o365_setting_free(char *v) {
  if (v != NULL) {
    OPENSSL_cleanse(v, strlen(v));
    free(v);
  }
}
