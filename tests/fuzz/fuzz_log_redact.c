/* Fuzz target: sdk/log.c redaction on arbitrary text. Properties: a
 * registered secret planted anywhere in the text (at an offset taken from
 * the input) never survives redaction, and the result is one line. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define CANARY "CaNaRy-5e1f-SECRET"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int registered;
  size_t clen = strlen(CANARY), at;
  char *text, *out;

  if (!registered) {
    if (wfc__log_secret(CANARY) != 0)
      abort();
    registered = 1;
  }
  /* NUL-free text with the canary planted at an input-chosen offset. */
  text = malloc(size + clen + 1);
  if (text == NULL)
    abort();
  size_t n = 0;
  for (size_t i = 0; i < size; i++)
    if (data[i] != '\0')
      text[n++] = (char)data[i];
  at = size > 0 ? data[0] % (n + 1) : 0;
  memmove(text + at + clen, text + at, n - at);
  memcpy(text + at, CANARY, clen);
  text[n + clen] = '\0';

  out = wfc__log_redact(text);
  if (out == NULL || strstr(out, CANARY) != NULL || strchr(out, '\n') ||
      strchr(out, '\r'))
    abort();
  free(out);
  free(text);
  return 0;
}
