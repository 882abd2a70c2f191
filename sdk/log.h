/* log.h - the SDK's logger, with secret redaction.
 *
 * One record is one line: "2026-11-27T10:40:00.123Z WARN message". CR and
 * LF inside a message become spaces, so a value cannot forge a record.
 *
 * Secrets: every value registered with wfc__log_secret() is replaced by
 * "[REDACTED]" wherever it appears in a later record, also inside a longer
 * string. As a second line of defence, anything that looks like a
 * credential is redacted too: "Bearer <x>", and the values of access_token,
 * refresh_token, id_token, code, code_verifier, client_secret,
 * client_assertion and password, in the form key=value (URLs, form
 * bodies) and "key":"value" (JSON).
 *
 * Threads: every function may be called from any thread (the loop thread
 * and libcurl's resolver threads); records are serialized by a mutex.
 */
#ifndef WFC_SDK_LOG_H
#define WFC_SDK_LOG_H

#include <stdarg.h>
#include <stddef.h>

enum {
  WFC_LOG_ERROR = 0,
  WFC_LOG_WARN = 1,
  WFC_LOG_INFO = 2,
  WFC_LOG_DEBUG = 3
};

/* Sink for finished records. line (borrowed during the call) is the whole
 * redacted record without the trailing newline. Called with the logger's
 * lock held: the sink must not log. */
typedef void (*wfc__log_sink_fn)(void *arg, int level, const char *line);

/* Logs one record when level <= the current level. fmt is printf-like. */
void wfc__log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void wfc__logv(int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

/* The level starts from the environment variable WFC_LOG (error, warn,
 * info or debug; default warn). The setter clamps to 0..3. */
void wfc__log_set_level(int level);
int wfc__log_level(void);
/* "error" -> 0 ... "debug" -> 3 (case-insensitive); -1 when unknown. */
int wfc__log_level_parse(const char *name);

/* Replaces the sink (fn NULL: back to stderr). arg is borrowed until the
 * sink is replaced. */
void wfc__log_set_sink(wfc__log_sink_fn fn, void *arg);

/* At most this many distinct secrets are kept; registering one more
 * forgets the one registered (or re-registered) longest ago. Tokens that
 * old have expired, and the pattern redaction still covers them. */
#define WFC_LOG_MAX_SECRETS 4096

/* Registers a secret (copied into locked memory excluded from core dumps,
 * cleansed when forgotten: OpenSSL's secure heap when the host has called
 * CRYPTO_secure_malloc_init, else a locked page of its own). Registering
 * the same value twice needs two forgets. Values shorter than 4 bytes are
 * refused (WFC_EINVAL): they would redact ordinary words. Returns 0 or a
 * negative WFC_E* code. */
int wfc__log_secret(const char *value);
/* Distinct secrets registered now. */
size_t wfc__log_secret_count(void);
/* Drops one registration of value; no-op when unknown. */
void wfc__log_forget_secret(const char *value);
/* Drops every secret (tests, shutdown). */
void wfc__log_forget_all(void);

/* Applies the same redaction as the logger to any text (e.g. an error
 * message the CLI prints). Returns a malloc'd string (transfer; free()),
 * or NULL when out of memory. */
char *wfc__log_redact(const char *text);

#endif
