/* setting.c - see setting.h. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "setting.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "entry.h"

const char *o365_setting_env(const char *key, char *buf, size_t len) {
  /* Copied, not formatted: a Graph request reads a setting (its base). */
  static const char prefix[] = "O365MAIL_";
  size_t n = 0;
  if (len == 0)
    return buf;
  for (; n + 1 < len && prefix[n] != '\0'; n++)
    buf[n] = prefix[n];
  for (const char *k = key; n + 1 < len && *k != '\0'; k++)
    buf[n++] = (char)toupper((unsigned char)*k);
  buf[n] = '\0';
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
