/* setting.h - the plugin's settings: what the host gives it first, the
 * process environment as the fallback.
 *
 * Setting KEY (e.g. "graph_url", "preview_client_id") is asked of the host
 * through api->setting (ABI 1.4: a host's wfc_runtime_set_plugin_settings,
 * `wfc --setting o365mail.KEY=VALUE`), and when the host has none (or is
 * older than 1.4), read from the environment variable O365MAIL_<KEY in
 * upper case> (O365MAIL_GRAPH_URL, O365MAIL_PREVIEW_CLIENT_ID). Every
 * setting of the plugin is read here, nowhere else. */
#ifndef O365_SETTING_H
#define O365_SETTING_H

#include <stddef.h>

/* The value of key (transfer: o365_setting_free), or NULL when neither
 * the host nor the environment has it, or it is empty. Loop thread. */
char *o365_setting(const char *key);
/* Cleanses (a value may be a client secret) and frees v; NULL-safe. */
void o365_setting_free(char *v);
/* The environment variable of key, "O365MAIL_<KEY>", into buf (for
 * messages that say where a value can be given). Returns buf. */
const char *o365_setting_env(const char *key, char *buf, size_t len);

#endif
