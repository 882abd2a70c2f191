/* tfile.c - see tfile.h. */
#include "tfile.h"

#include <stdio.h>
#include <stdlib.h>

char *tfile_read(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  char *s = NULL;
  long n;

  if (f == NULL)
    return NULL;
  if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
      fseek(f, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1)) != NULL) {
    if (fread(s, 1, (size_t)n, f) != (size_t)n) {
      free(s);
      s = NULL;
    } else {
      s[n] = '\0';
      if (len != NULL)
        *len = (size_t)n;
    }
  }
  fclose(f);
  return s;
}
