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

#include "wfc/host.h" /* WFC_LOG_ERROR .. WFC_LOG_DEBUG, wfc_log_sink */

/* Sink for finished records. line (borrowed during the call) is the whole
 * redacted record without the trailing newline. Called with the logger's
 * lock held: the sink must not log. */
typedef void (*wfc__log_sink_fn)(void *arg, int level, const char *line);

/* Logs one record when level <= the current level. fmt is printf-like.
 * The module is "wfc" (the SDK itself). */
void wfc__log(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void wfc__logv(int level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* The same for a record of module (borrowed; a plugin's name). */
void wfc__logv_module(int level, const char *module, const char *fmt,
                      va_list ap) __attribute__((format(printf, 3, 0)));

/* The level starts from the environment variable WFC_LOG (error, warn,
 * info or debug; default warn). The setter clamps to 0..3. */
void wfc__log_set_level(int level);
int wfc__log_level(void);
/* "error" -> 0 ... "debug" -> 3 (case-insensitive); -1 when unknown. */
int wfc__log_level_parse(const char *name);

/* Replaces the sink (fn NULL: back to stderr). arg is borrowed until the
 * sink is replaced. */
void wfc__log_set_sink(wfc__log_sink_fn fn, void *arg);
/* The host's sink (wfc_runtime_set_log_sink): when set, it takes every
 * record (level, module, redacted message without time stamp) in place of
 * the sink above. fn NULL: none. Same lock rule: it must not log. */
void wfc__log_set_host_sink(wfc_log_sink fn, void *arg);

/* Secrets come in two kinds of registration:
 * - plain (wfc__log_secret; a plugin's api->secret, an authorization
 *   code): nobody is sure to forget them; refcounted by
 *   wfc__log_forget_secret;
 * - held (wfc__log_secret_hold; the connection manager's live tokens):
 *   the owner releases them (wfc__log_secret_release) when the value is
 *   replaced or wiped, and then every registration of the value goes.
 * So the table holds the live connections' tokens (2 per connection) plus
 * plain one-off values. Held values are never dropped for room: every live
 * token of every connection stays redacted exactly, however many (the
 * table and its index grow with them; finding the secrets in a record
 * costs the same with 10 or 20,000 of them, docs/fleet.md). Plain-only
 * values are bounded: at most WFC_LOG_MAX_PLAIN; registering one more
 * evicts the oldest plain-only one (counted in .evicted), which is then
 * still caught by the pattern redaction when it appears as a bearer token
 * or a known key's value, not when it appears bare. */
#define WFC_LOG_MAX_PLAIN 4096

/* Registers a secret (copied into secret memory, secmem.h: excluded from
 * core dumps, locked when it can be, cleansed when forgotten).
 * Registering the same value twice needs two forgets. Values shorter than
 * 4 bytes are refused (WFC_EINVAL): they would redact ordinary words.
 * Returns 0 or a negative WFC_E* code. */
int wfc__log_secret(const char *value);
/* The same as a hold: for an owner that calls wfc__log_secret_release
 * when the value is no longer in use. Hold the new value before releasing
 * the old one, so a value in both (an unchanged refresh token) is never
 * left out. */
int wfc__log_secret_hold(const char *value);
/* Drops one hold of value; with the last hold the value is dead and goes
 * entirely (its plain registrations too), cleansed. No-op when unknown or
 * not held. */
void wfc__log_secret_release(const char *value);
/* Distinct secrets registered now. */
size_t wfc__log_secret_count(void);

typedef struct wfc__log_secret_stats {
  size_t count;               /* distinct secrets now */
  size_t held;                /* of which held */
  size_t in_secure_heap;      /* of which in OpenSSL's secure heap */
  unsigned long long evicted; /* plain-only ones dropped for room */
} wfc__log_secret_stats;
/* A snapshot of the table (tests, diagnostics). */
void wfc__log_get_secret_stats(wfc__log_secret_stats *out);

/* Drops one plain registration of value; no-op when unknown. A held value
 * stays until released. */
void wfc__log_forget_secret(const char *value);
/* Drops every secret and resets the counters (tests, shutdown). */
void wfc__log_forget_all(void);

/* Applies the same redaction as the logger to any text (e.g. an error
 * message the CLI prints). Returns a malloc'd string (transfer; free()),
 * or NULL when out of memory. */
char *wfc__log_redact(const char *text);

#endif
