/* bk_jwt.h -- JSON Web Tokens (HS256 only): who a user is in jwt auth mode.
 *
 * jwt_verify() is what the broker calls on a client's `auth` token
 * (docs/protocol.md, "Identity and auth"); jwt_sign() mints tokens for
 * bin/roomcast-token and the tests. Only the compact form with exactly three
 * unpadded base64url parts is accepted, the header must say "alg":"HS256",
 * the signature is checked in constant time before the payload is read, and
 * the payload must be strict JSON (common/json.h).
 *
 * Claims read: `sub` (required, a uid), `name` (optional display name),
 * `exp` (required), `nbf` (optional), `rooms` (optional array of room names
 * or prefixes ending in '*'). Other claims (iat, iss, aud, jti ...) are
 * ignored. A header with `crit` is rejected, as RFC 7515 asks of a verifier
 * that understands no extensions.
 *
 * Pure functions of their arguments: any thread, no shared state, no locks.
 * Nothing here logs, least of all a token or a secret. */
#ifndef BK_JWT_H
#define BK_JWT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc.h"
#include "valid.h"

#define JWT_TOKEN_MAX 8192 /* bytes; a longer token is refused unread */
#define JWT_ROOMS_MAX 256  /* entries of the `rooms` claim */

typedef struct jwt_claims {
    char sub[UID_MAX + 1];         /* the uid; NUL-terminated, passes valid_uid */
    char name[NAME_MAX_BYTES + 1]; /* display name when has_name, else "" */
    bool has_name;                 /* the token carried `name` */
    int64_t exp;                   /* expiry, seconds since epoch */
    int64_t nbf;                   /* not-before, seconds; 0 when absent */
    char **rooms;    /* owned: nrooms NUL-terminated patterns ("lobby",
                        "team-*", "*"); NULL when nrooms is 0 */
    size_t nrooms;   /* entries in rooms, at most JWT_ROOMS_MAX */
    bool has_rooms;  /* the `rooms` claim was present: only rooms it allows
                        may be entered (an empty array allows none) */
} jwt_claims;

/* Verifies token[0..len) (need not be NUL-terminated) with the HS256 key
 * `secret` (a NUL-terminated string; an empty or NULL secret rejects every
 * token) at time `now`, seconds since epoch. Borrows every argument.
 *
 * On RC_OK *out is filled and owns its rooms array (free with
 * jwt_claims_free) and *why is left alone. On any error *out is untouched
 * and *why is set to a static short English reason, safe to send to the
 * client in a `noauth` message: "token too long", "malformed token",
 * "alg must be HS256", "typ must be JWT", "crit is not supported",
 * "bad signature", "malformed payload", "exp missing or invalid", "expired",
 * "nbf invalid", "not yet valid", "sub missing or invalid", "name invalid",
 * "rooms invalid", "too many rooms", "no secret configured".
 * Returns RC_NOAUTH when the token is rejected; RC_NOMEM ("out of memory")
 * or RC_INTERNAL ("internal error") when we failed, not the token: treat
 * every rc but RC_OK as "not authenticated". Expired means now >= exp; not
 * yet valid means now < nbf. The token is never logged. */
rc jwt_verify(const char *token, size_t len, const char *secret, int64_t now,
              jwt_claims *out, const char **why);

/* Frees the rooms array and sets rooms NULL, nrooms 0; keeps the struct and
 * its other fields. NULL ok; a second call is harmless. */
void jwt_claims_free(jwt_claims *c);

/* True when the claims let their user enter `room` (a NUL-terminated
 * string): when there is no rooms claim, or an entry equals room, or an
 * entry "prefix*" has room starting with prefix ("team-*" allows "team-"
 * and "team-a"; "*" allows every room). False for a NULL c or room.
 * Borrows both. */
bool jwt_room_allowed(const jwt_claims *c, const char *room);

/* True when s[0..len) may be an entry of the rooms claim: a valid room
 * name, "*", or a valid room name followed by '*'. Borrows s. */
bool jwt_room_pattern_valid(const char *s, size_t len);

/* Mints a token {"alg":"HS256","typ":"JWT"} with claims sub, name (omitted
 * when NULL), exp, nbf (omitted when 0) and rooms (the claim is omitted when
 * rooms is NULL; rooms non-NULL with nrooms 0 gives an empty claim that
 * allows no room). Borrows every argument.
 *
 * On RC_OK *out is an owned NUL-terminated token (free with free()) that
 * jwt_verify accepts between nbf and exp. RC_CONFIG when secret is NULL or
 * empty; RC_BAD_REQUEST when sub fails valid_uid, name fails valid_name, a
 * room fails jwt_room_pattern_valid, nrooms > JWT_ROOMS_MAX, exp < 1 or
 * nbf < 0; RC_TOO_LARGE when the token would exceed JWT_TOKEN_MAX;
 * RC_NOMEM or RC_INTERNAL on our failure. *out is untouched on error. */
rc jwt_sign(const char *secret, const char *sub, const char *name,
            int64_t exp, int64_t nbf, const char *const *rooms, size_t nrooms,
            char **out);

#endif
