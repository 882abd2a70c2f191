/* store_rows.c - the shapes of the authenticated rows (wfc__rowkinds:
 * tables, MAC columns and their types, key columns) and the SQL pieces over
 * their keys, shared by store.c (the MACs) and every backend. Data and
 * string formatting only, no state: compiled into libwfc and into the
 * PostgreSQL backend's module (wfc-store-pg.so, store_pg_load.c), which
 * links nothing of libwfc. */
#include "store_backend.h"

#include <stdio.h>

#define CONN_MAC_COLS                                                          \
  "id, nickname, plugin, conn_type, environment, account, owner, state, "      \
  "remedy, params, secrets, created_at, updated_at, expires_at"
#define CP_MAC_COLS                                                            \
  "conn_id, card_id, sub_key, checkpoint, events_accepted, updated_at"
#define IDEM_MAC_COLS "key, conn_id, created_at, result"

static const char *const conn_keys[] = {"id"};
static const char *const cp_keys[] = {"conn_id", "card_id", "sub_key"};
static const char *const idem_keys[] = {"key"};

const wfc__rowkind wfc__rowkinds[WFC__ROW_KINDS] = {
    [WFC__ROW_CONN] = {"connections", CONN_MAC_COLS, "TTTTTTTTTTBIII", 14,
                       conn_keys, 1, ", last_used_at", "I", 1},
    [WFC__ROW_CP] = {"checkpoints", CP_MAC_COLS, "TTTTII", 6, cp_keys, 3, "",
                     "", 0},
    [WFC__ROW_IDEM] = {"idempotency", IDEM_MAC_COLS, "TTIT", 4, idem_keys, 1,
                       "", "", 0},
};

void wfc__rowkind_where(const wfc__rowkind *k, char mark, char *buf,
                        size_t len) {
  size_t o = 0;

  buf[0] = '\0';
  for (int i = 0; i < k->nkeys && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, "%s%s = %c%d", i ? " AND " : "",
                          k->keycols[i], mark, i + 1);
}

void wfc__rowkind_keycols(const wfc__rowkind *k, char *buf, size_t len) {
  size_t o = 0;

  buf[0] = '\0';
  for (int i = 0; i < k->nkeys && o < len; i++)
    o += (size_t)snprintf(buf + o, len - o, "%s%s", i ? ", " : "",
                          k->keycols[i]);
}
