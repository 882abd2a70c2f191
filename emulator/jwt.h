/* jwt.h - the emulator's token crypto: an RSA signing key with its JWKS,
 * compact JWS (RS256) signing and verification, base64url, PKCE checks and
 * random opaque tokens. Owned by the identity part of the emulator
 * (identity.c issues tokens, auth.c verifies them for Graph).
 *
 * Pure functions (base64url and randomness come from the core utilities
 * in emu.h): no server, no clock. Time checks (exp/nbf) are the
 * caller's job because the emulator runs on virtual time. */
#ifndef EMU_JWT_H
#define EMU_JWT_H

#include <stddef.h>
#include <json-c/json.h>

/* Errors of emu_jwt_verify(). */
#define EMU_JWT_EMALFORMED (-1) /* not three base64url parts of JSON */
#define EMU_JWT_EALG       (-2) /* header alg is not RS256 or kid unknown */
#define EMU_JWT_ESIG       (-3) /* signature does not verify */

typedef struct emu_jwt_key emu_jwt_key;

/* A fresh RSA-2048 key pair with a random key id. NULL on failure. */
emu_jwt_key *emu_jwt_key_new(void);
void emu_jwt_key_free(emu_jwt_key *key);
/* Borrowed; lives as long as the key. */
const char *emu_jwt_key_kid(const emu_jwt_key *key);

/* The discovery keys document {"keys":[{kty,use,kid,x5t,n,e,issuer}]}.
 * `issuer` may be NULL. Caller owns the returned object. */
json_object *emu_jwt_jwks(const emu_jwt_key *key, const char *issuer);

/* Signs `claims` (borrowed) as a compact RS256 JWS with header
 * {"typ":"JWT","alg":"RS256","kid":...}. Returns a malloc'ed string. */
char *emu_jwt_sign(const emu_jwt_key *key, json_object *claims);

/* Verifies signature, alg and kid. On success returns 0 and, when
 * `claims` is not NULL, stores the parsed payload (caller owns it). */
int emu_jwt_verify(const emu_jwt_key *key, const char *token,
                   json_object **claims);

/* Decodes the payload of a compact JWS without verifying it (tests and
 * inspection). Caller owns the result; NULL if malformed. */
json_object *emu_jwt_peek(const char *token);

/* RFC 7636: 1 if `verifier` matches `challenge` under `method` ("S256" or
 * "plain"; NULL/"" means plain as Microsoft assumes), 0 otherwise. The
 * verifier must be 43-128 characters of the unreserved set. */
int emu_pkce_verify(const char *challenge, const char *method,
                    const char *verifier);

#endif
