/* tfile.h - a whole file read into memory, for tests that compare or
 * search files (docs tests, the TLS test server's PEM files, the store
 * test's look for clear text on disk). */
#ifndef WFC_TEST_TFILE_H
#define WFC_TEST_TFILE_H

#include <stddef.h>

/* The bytes of path, NUL-terminated (transfer: free()), their count in
 * *len when len is not NULL; NULL when it cannot be opened or read. */
char *tfile_read(const char *path, size_t *len);

#endif
