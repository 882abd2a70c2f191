/* fleet_fixture.c - see fleet_fixture.h. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include "fleet_fixture.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "clock.h"
#include "crypto.h"
#include "json.h"
#include "reliability.h"
#include "store.h"

int fleet_master_key(void) {
  uint8_t key[32];
  char hex[65];
  if (wfc__random(key, sizeof key) != 0 ||
      wfc__hex_encode(key, sizeof key, hex, sizeof hex) != 0)
    return -1;
  return setenv("WFC_MASTER_KEY", hex, 1) == 0 ? 0 : -1;
}

int fleet_up(pg_cluster **pg, emu_proc **emu, wuser *u, const char *name) {
  *pg = NULL;
  *emu = NULL;
  if (fleet_master_key() != 0 || (*pg = pg_cluster_start()) == NULL ||
      rel_up(emu, u, name) != 0)
    return -1;
  char *db = pg_cluster_new_db(*pg);
  if (db == NULL || strlen(db) >= sizeof u->store) {
    free(db);
    return -1;
  }
  memcpy(u->store, db, strlen(db) + 1);
  free(db);
  return 0;
}

int fleet_down(pg_cluster *pg, emu_proc *emu, wuser *u) {
  int rc = rel_down(emu, u);
  if (pg_cluster_stop(pg) != 0)
    rc = -1;
  return rc;
}

int fleet_expire_access_token(const char *store, const char *conn_id, char *err,
                              size_t errlen) {
  wfc__store *st = NULL;
  char *text = NULL;
  int rc = -1;
  if (wfc__store_open(store, &st, err, errlen) != 0)
    return -1;
  if (wfc__store_conn_secrets(st, conn_id, &text) != 0) {
    snprintf(err, errlen, "%s: no secrets for connection %s", store, conn_id);
    wfc__store_close(st);
    return -1;
  }
  json_object *s = json_tokener_parse(text);
  wfc__secret_free(text);
  json_object *cr = wfc__json_obj(s, "credentials");
  if (cr == NULL) {
    snprintf(err, errlen, "connection %s: no credentials", conn_id);
  } else {
    int64_t past = wfc__now_ms() / 1000 - 60;
    json_object_object_add(cr, "expires_at", json_object_new_int64(past));
    const char *out = json_object_to_json_string_ext(s, JSON_C_TO_STRING_PLAIN);
    if (wfc__store_conn_update_secrets(st, conn_id, out, past * 1000) != 0)
      snprintf(err, errlen, "connection %s: secrets not updated", conn_id);
    else
      rc = 0;
  }
  json_object_put(s);
  wfc__store_close(st);
  return rc;
}
