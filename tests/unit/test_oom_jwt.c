/* test_oom_jwt.c -- allocation failures in broker/bk_jwt.c (oom.h):
 * jwt_sign and jwt_verify of a token with a `rooms` claim, with each of
 * the module's own allocations failing (json-c's and OpenSSL's, in shared
 * libraries, are not counted). As bk_jwt.h promises, a failure returns an
 * error with *out untouched (and *why set for jwt_verify), and nothing
 * leaks. Single-threaded. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_jwt.h"
#include "check.h"
#include "oom.h"

#define SECRET "a-test-secret"
static const char *const ROOMS[] = {"lobby", "team-*", "dev"};

static void attempt_sign(void)
{
    char *tok = (char *)ROOMS; /* a sentinel */
    oom_on();
    rc r = jwt_sign(SECRET, "alice", "Alice", 2000000000, 0, ROOMS, 3, &tok);
    oom_off();
    if (r != RC_OK) {
        CHECK(oom.failed > 0 && (r == RC_NOMEM || r == RC_INTERNAL));
        CHECK(tok == (char *)ROOMS);
        return;
    }
    jwt_claims c;
    const char *why = NULL;
    CHECK(jwt_verify(tok, strlen(tok), SECRET, 1000, &c, &why) == RC_OK);
    jwt_claims_free(&c);
    free(tok);
}

TEST(jwt_sign_fails_cleanly)
{
    oom_each("jwt_sign", attempt_sign);
}

static char *token;

static void attempt_verify(void)
{
    jwt_claims c, before;
    memset(&c, 0xab, sizeof c);
    before = c;
    const char *why = NULL;
    oom_on();
    rc r = jwt_verify(token, strlen(token), SECRET, 1000, &c, &why);
    oom_off();
    if (r != RC_OK) {
        CHECK(oom.failed > 0 && (r == RC_NOMEM || r == RC_INTERNAL));
        CHECK(memcmp(&c, &before, sizeof c) == 0);
        CHECK(why != NULL);
        return;
    }
    CHECK_STR(c.sub, "alice");
    CHECK(c.has_rooms && c.nrooms == 3);
    CHECK(c.nrooms == 3 && strcmp(c.rooms[1], "team-*") == 0);
    CHECK(jwt_room_allowed(&c, "team-a") && !jwt_room_allowed(&c, "x"));
    jwt_claims_free(&c);
}

TEST(jwt_verify_fails_cleanly)
{
    if (jwt_sign(SECRET, "alice", "Alice", 2000000000, 0, ROOMS, 3,
                 &token) != RC_OK)
        abort();
    oom_each("jwt_verify", attempt_verify);
    free(token);
}

RUN_TESTS(oom_jwt)
