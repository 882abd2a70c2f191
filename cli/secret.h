/* secret.h - reading a secret for `wfc connection new|reauthorize` from a
 * terminal without echo, a line of stdin, or a file (docs/connections.md,
 * "Secret parameters"). Never from the command line: the values come back
 * in memory the caller cleanses and frees with wfc__cli_secret_free.
 *
 * Each function returns 0 with *out set (transfer), or -1 with one line in
 * err naming the cause (never the value). */
#ifndef WFC_CLI_SECRET_H
#define WFC_CLI_SECRET_H

#include <stddef.h>

/* Longest value taken: a line or a file. */
#define WFC_CLI_SECRET_MAX 65536

/* Asks on the terminal (stdin, which must be one): prompt on stderr, the
 * answer read with echo off (termios; restored also when a signal ends
 * the process meanwhile), one line. An empty answer gives "" (the caller
 * decides: skip an optional value, keep a stored one). */
int wfc__cli_secret_ask(const char *prompt, char **out, char *err,
                        size_t errlen);

/* One line of stdin (without its "\n" or "\r\n"), read byte by byte so
 * nothing past it is consumed; echo off when stdin is a terminal. An empty
 * line or end of input is an error. */
int wfc__cli_secret_line(char **out, char *err, size_t errlen);

/* The contents of path without one trailing "\n" or "\r\n". Refused: a
 * file that is not a regular file or a pipe, one any other user may read
 * or write (mode & 077: `chmod 600` it; a pipe such as bash's <(...) is
 * 0600), an empty one, one larger than WFC_CLI_SECRET_MAX, one holding a
 * NUL byte. */
int wfc__cli_secret_file(const char *path, char **out, char *err,
                         size_t errlen);

/* Cleanses and frees a value (NULL: nothing). */
void wfc__cli_secret_free(char *s);

/* Cleanses a string the caller does not own the memory of but may
 * overwrite (a json-c string about to be released). */
void wfc__cli_secret_wipe(const char *s);

#endif
