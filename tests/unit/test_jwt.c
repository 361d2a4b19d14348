/* test_jwt.c -- unit tests of broker/bk_jwt.c (HS256 tokens).
 *
 * Tokens under test are built two ways: with jwt_sign(), and with this
 * file's own base64url + OpenSSL HMAC() (make_token), so that malformed
 * headers and payloads can carry a correct signature and each check of
 * jwt_verify is reached on its own. Two known-answer tokens were made with
 * other tools (openssl dgst + basenc, and jwt.io's example). Single thread. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_jwt.h"
#include "check.h"

#define SECRET "0123456789abcdef0123456789abcdef"
#define NOW ((int64_t)1700000000)
#define LATER ((int64_t)1700003600)

static const char ALPHABET[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* Appends base64url(in[0..n)), unpadded, at out; returns the new end. */
static char *b64url(char *out, const void *in_, size_t n)
{
    const unsigned char *in = in_;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        for (int k = 18; k >= 0; k -= 6)
            *out++ = ALPHABET[v >> k & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        *out++ = ALPHABET[v >> 18 & 63];
        *out++ = ALPHABET[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        *out++ = ALPHABET[v >> 18 & 63];
        *out++ = ALPHABET[v >> 12 & 63];
        *out++ = ALPHABET[v >> 6 & 63];
    }
    *out = '\0';
    return out;
}

/* base64url(header) "." base64url(payload) "." HMAC-SHA256 with secret.
 * Returns an owned string (free with free()). */
static char *make_token(const char *header, const char *payload,
                        const char *secret)
{
    size_t cap = (strlen(header) + strlen(payload)) * 2 + 128;
    char *t = malloc(cap);
    if (t == NULL)
        abort();
    char *p = b64url(t, header, strlen(header));
    *p++ = '.';
    p = b64url(p, payload, strlen(payload));
    unsigned char mac[32];
    unsigned maclen = 0;
    HMAC(EVP_sha256(), secret, (int)strlen(secret), (unsigned char *)t,
         (size_t)(p - t), mac, &maclen);
    *p++ = '.';
    b64url(p, mac, maclen);
    return t;
}

static const char *HS256 = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";

/* The reason jwt_verify gives for token at `now`, or "ok". The claims of an
 * accepted token are freed at once; *out untouched on error is checked. */
static const char *why_at(const char *token, int64_t now)
{
    jwt_claims c;
    jwt_claims before;
    memset(&c, 0x5A, sizeof c);
    memcpy(&before, &c, sizeof c);
    const char *why = NULL;
    rc r = jwt_verify(token, strlen(token), SECRET, now, &c, &why);
    if (r == RC_OK) {
        jwt_claims_free(&c);
        return "ok";
    }
    CHECK(r == RC_NOAUTH);
    CHECK(memcmp(&c, &before, sizeof c) == 0); /* out untouched */
    CHECK(why != NULL);
    return why != NULL ? why : "(null)";
}

/* Signs header/payload with SECRET and returns why_at(..., NOW). */
static const char *why_signed(const char *header, const char *payload)
{
    static char why[64];
    char *t = make_token(header, payload, SECRET);
    snprintf(why, sizeof why, "%s", why_at(t, NOW));
    free(t);
    return why;
}

/* why_signed with the standard header. */
static const char *why_payload(const char *payload)
{
    return why_signed(HS256, payload);
}

TEST(round_trip)
{
    char *t = NULL;
    CHECK(jwt_sign(SECRET, "alice", "Alice", LATER, 0, NULL, 0, &t) == RC_OK);
    CHECK(t != NULL && strlen(t) < JWT_TOKEN_MAX);
    jwt_claims c;
    const char *why = "untouched";
    CHECK(jwt_verify(t, strlen(t), SECRET, NOW, &c, &why) == RC_OK);
    CHECK_STR(why, "untouched");
    CHECK_STR(c.sub, "alice");
    CHECK(c.has_name);
    CHECK_STR(c.name, "Alice");
    CHECK(c.exp == LATER);
    CHECK(c.nbf == 0);
    CHECK(!c.has_rooms && c.rooms == NULL && c.nrooms == 0);
    CHECK(jwt_room_allowed(&c, "anything"));
    jwt_claims_free(&c);
    jwt_claims_free(&c); /* harmless twice */
    jwt_claims_free(NULL);
    free(t);
}

TEST(round_trip_rooms_nbf_unicode)
{
    const char *rooms[] = {"lobby", "team-*"};
    char *t = NULL;
    const char *name = "Zo\xc3\xab \xf0\x9f\x99\x82"; /* "Zoë 🙂" */
    CHECK(jwt_sign(SECRET, "u:1@x.y", name, LATER, NOW - 10, rooms, 2, &t) == RC_OK);
    jwt_claims c;
    const char *why = NULL;
    CHECK(jwt_verify(t, strlen(t), SECRET, NOW, &c, &why) == RC_OK);
    CHECK_STR(c.sub, "u:1@x.y");
    CHECK_STR(c.name, name);
    CHECK(c.nbf == NOW - 10);
    CHECK(c.has_rooms && c.nrooms == 2);
    CHECK_STR(c.rooms[0], "lobby");
    CHECK_STR(c.rooms[1], "team-*");
    jwt_claims_free(&c);
    CHECK(c.rooms == NULL && c.nrooms == 0);
    free(t);

    /* No name; an empty rooms claim allows no room. */
    CHECK(jwt_sign(SECRET, "bob", NULL, LATER, 0, rooms, 0, &t) == RC_OK);
    CHECK(jwt_verify(t, strlen(t), SECRET, NOW, &c, &why) == RC_OK);
    CHECK(!c.has_name && c.name[0] == '\0');
    CHECK(c.has_rooms && c.nrooms == 0);
    CHECK(!jwt_room_allowed(&c, "lobby"));
    jwt_claims_free(&c);
    free(t);
}

TEST(not_nul_terminated)
{
    char *t = NULL;
    CHECK(jwt_sign(SECRET, "alice", NULL, LATER, 0, NULL, 0, &t) == RC_OK);
    size_t n = strlen(t);
    char *buf = malloc(n + 5);
    memcpy(buf, t, n);
    memcpy(buf + n, "XYZW", 4); /* junk after len, no NUL */
    jwt_claims c;
    const char *why = NULL;
    CHECK(jwt_verify(buf, n, SECRET, NOW, &c, &why) == RC_OK);
    jwt_claims_free(&c);
    CHECK(jwt_verify(buf, n + 4, SECRET, NOW, &c, &why) == RC_NOAUTH);
    free(buf);
    free(t);
}

TEST(header_alg_typ_crit)
{
    const char *p = "{\"sub\":\"alice\",\"exp\":1700003600}";
    CHECK_STR(why_signed("{\"alg\":\"none\",\"typ\":\"JWT\"}", p), "alg must be HS256");
    CHECK_STR(why_signed("{\"alg\":\"HS512\",\"typ\":\"JWT\"}", p), "alg must be HS256");
    CHECK_STR(why_signed("{\"alg\":\"hs256\"}", p), "alg must be HS256");
    CHECK_STR(why_signed("{\"alg\":\"HS256 \"}", p), "alg must be HS256");
    CHECK_STR(why_signed("{\"typ\":\"JWT\"}", p), "alg must be HS256");
    CHECK_STR(why_signed("{\"alg\":256}", p), "alg must be HS256");
    CHECK_STR(why_signed("{\"alg\":null}", p), "alg must be HS256");
    CHECK_STR(why_signed("{\"alg\":\"HS256\"}", p), "ok");                 /* typ optional */
    CHECK_STR(why_signed("{\"alg\":\"HS256\",\"kid\":\"k1\"}", p), "ok");  /* others ignored */
    CHECK_STR(why_signed("{\"alg\":\"HS256\",\"typ\":\"JWS\"}", p), "typ must be JWT");
    CHECK_STR(why_signed("{\"alg\":\"HS256\",\"typ\":1}", p), "typ must be JWT");
    CHECK_STR(why_signed("{\"alg\":\"HS256\",\"crit\":[\"exp\"]}", p), "crit is not supported");
    CHECK_STR(why_signed("[\"HS256\"]", p), "malformed token");
    CHECK_STR(why_signed("{\"alg\":\"HS256\"", p), "malformed token");

    /* The classic unsigned token: alg none, empty signature. */
    char t[256];
    char *e = b64url(t, "{\"alg\":\"none\"}", 14);
    *e++ = '.';
    e = b64url(e, p, strlen(p));
    *e++ = '.';
    *e = '\0';
    CHECK_STR(why_at(t, NOW), "alg must be HS256");
}

TEST(signature_checked)
{
    char *t = NULL;
    CHECK(jwt_sign(SECRET, "alice", "Alice", LATER, 0, NULL, 0, &t) == RC_OK);
    CHECK_STR(why_at(t, NOW), "ok");

    /* One flipped character in the middle of the signature. */
    char *sig = strrchr(t, '.') + 1;
    sig[10] = sig[10] == 'A' ? 'B' : 'A';
    CHECK_STR(why_at(t, NOW), "bad signature");
    sig[8] = '\0'; /* a short but well-formed signature (6 bytes) */
    CHECK_STR(why_at(t, NOW), "bad signature");
    sig[0] = '\0'; /* none at all */
    CHECK_STR(why_at(t, NOW), "bad signature");
    free(t);

    /* One flipped character in the payload. */
    CHECK(jwt_sign(SECRET, "alice", "Alice", LATER, 0, NULL, 0, &t) == RC_OK);
    char *pay = strchr(t, '.') + 1;
    pay[4] = pay[4] == 'A' ? 'B' : 'A';
    CHECK_STR(why_at(t, NOW), "bad signature");
    free(t);

    /* The wrong secret. */
    CHECK(jwt_sign("another secret", "alice", NULL, LATER, 0, NULL, 0, &t) == RC_OK);
    CHECK_STR(why_at(t, NOW), "bad signature");
    jwt_claims c;
    const char *why = NULL;
    CHECK(jwt_verify(t, strlen(t), "another secret", NOW, &c, &why) == RC_OK);
    jwt_claims_free(&c);
    CHECK(jwt_verify(t, strlen(t), "", NOW, &c, &why) == RC_NOAUTH);
    CHECK_STR(why, "no secret configured");
    CHECK(jwt_verify(t, strlen(t), NULL, NOW, &c, &why) == RC_NOAUTH);
    free(t);

    /* A 32-byte signature but in a 44-character (padded) form. */
    CHECK(jwt_sign(SECRET, "alice", NULL, LATER, 0, NULL, 0, &t) == RC_OK);
    char *u = malloc(strlen(t) + 2);
    sprintf(u, "%s=", t);
    CHECK_STR(why_at(u, NOW), "malformed token");
    free(u);
    free(t);
}

TEST(exp_and_nbf)
{
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700000000}"), "expired"); /* now == exp */
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700000001}"), "ok");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1}"), "expired");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700000001,\"nbf\":1700000001}"),
       "not yet valid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700000001,\"nbf\":1700000000}"), "ok");
    CHECK_STR(why_payload("{\"sub\":\"a\"}"), "exp missing or invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":\"1700000001\"}"), "exp missing or invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700000001.5}"), "exp missing or invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":null}"), "exp missing or invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700000001,\"nbf\":\"0\"}"), "nbf invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":9223372036854775807}"), "ok");
}

TEST(sub_and_name)
{
    CHECK_STR(why_payload("{\"exp\":1700003600}"), "sub missing or invalid");
    CHECK_STR(why_payload("{\"sub\":\"\",\"exp\":1700003600}"), "sub missing or invalid");
    CHECK_STR(why_payload("{\"sub\":\"al ice\",\"exp\":1700003600}"), "sub missing or invalid");
    CHECK_STR(why_payload("{\"sub\":\"a/b\",\"exp\":1700003600}"), "sub missing or invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\\u0000b\",\"exp\":1700003600}"), "sub missing or invalid");
    CHECK_STR(why_payload("{\"sub\":42,\"exp\":1700003600}"), "sub missing or invalid");
    char p[512];
    char uid[UID_MAX + 2];
    memset(uid, 'u', sizeof uid - 1);
    uid[UID_MAX + 1] = '\0'; /* 65 bytes */
    snprintf(p, sizeof p, "{\"sub\":\"%s\",\"exp\":1700003600}", uid);
    CHECK_STR(why_payload(p), "sub missing or invalid");
    uid[UID_MAX] = '\0'; /* 64 bytes */
    snprintf(p, sizeof p, "{\"sub\":\"%s\",\"exp\":1700003600}", uid);
    CHECK_STR(why_payload(p), "ok");

    char name[NAME_MAX_CHARS + 2];
    memset(name, 'n', sizeof name - 1);
    name[NAME_MAX_CHARS + 1] = '\0'; /* 33 characters */
    snprintf(p, sizeof p, "{\"sub\":\"a\",\"name\":\"%s\",\"exp\":1700003600}", name);
    CHECK_STR(why_payload(p), "name invalid");
    name[NAME_MAX_CHARS] = '\0'; /* 32 */
    snprintf(p, sizeof p, "{\"sub\":\"a\",\"name\":\"%s\",\"exp\":1700003600}", name);
    CHECK_STR(why_payload(p), "ok");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"name\":\"\",\"exp\":1700003600}"), "name invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"name\":\"a\\nb\",\"exp\":1700003600}"), "name invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"name\":7,\"exp\":1700003600}"), "name invalid");
}

TEST(rooms_claim)
{
    const char *rooms[] = {"lobby", "team-*", "x:y"};
    char *t = NULL;
    CHECK(jwt_sign(SECRET, "alice", NULL, LATER, 0, rooms, 3, &t) == RC_OK);
    jwt_claims c;
    const char *why = NULL;
    CHECK(jwt_verify(t, strlen(t), SECRET, NOW, &c, &why) == RC_OK);
    CHECK(jwt_room_allowed(&c, "lobby"));
    CHECK(jwt_room_allowed(&c, "x:y"));
    CHECK(jwt_room_allowed(&c, "team-"));
    CHECK(jwt_room_allowed(&c, "team-a"));
    CHECK(jwt_room_allowed(&c, "team-a.b"));
    CHECK(!jwt_room_allowed(&c, "lobby2"));
    CHECK(!jwt_room_allowed(&c, "lobb"));
    CHECK(!jwt_room_allowed(&c, "team"));
    CHECK(!jwt_room_allowed(&c, "other"));
    CHECK(!jwt_room_allowed(&c, ""));
    CHECK(!jwt_room_allowed(&c, NULL));
    CHECK(!jwt_room_allowed(NULL, "lobby"));
    jwt_claims_free(&c);
    free(t);

    const char *all[] = {"*"};
    CHECK(jwt_sign(SECRET, "alice", NULL, LATER, 0, all, 1, &t) == RC_OK);
    CHECK(jwt_verify(t, strlen(t), SECRET, NOW, &c, &why) == RC_OK);
    CHECK(jwt_room_allowed(&c, "anything"));
    jwt_claims_free(&c);
    free(t);

    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700003600,\"rooms\":\"lobby\"}"), "rooms invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700003600,\"rooms\":null}"), "rooms invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700003600,\"rooms\":[1]}"), "rooms invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700003600,\"rooms\":[\"ok\",\"a b\"]}"), "rooms invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700003600,\"rooms\":[\"**\"]}"), "rooms invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700003600,\"rooms\":[\"a*b\"]}"), "rooms invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700003600,\"rooms\":[\"\"]}"), "rooms invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700003600,\"rooms\":[[\"a\"]]}"), "rooms invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700003600,\"rooms\":[]}"), "ok");

    /* 256 rooms pass, 257 do not; and an error after rooms were read
     * (expired) frees them (ASan would see the leak). */
    char *p = malloc(8192);
    for (int n = 256; n <= 257; n++) {
        char *e = p + sprintf(p, "{\"sub\":\"a\",\"exp\":1700003600,\"rooms\":[");
        for (int i = 0; i < n; i++)
            e += sprintf(e, "%s\"r%d\"", i ? "," : "", i);
        sprintf(e, "]}");
        CHECK_STR(why_payload(p), n == 256 ? "ok" : "too many rooms");
    }
    CHECK_STR(why_payload("{\"sub\":\"a\",\"rooms\":[\"a\",\"b\"],\"exp\":1}"), "expired");
    free(p);

    CHECK(jwt_room_pattern_valid("a", 1));
    CHECK(jwt_room_pattern_valid("*", 1));
    CHECK(jwt_room_pattern_valid("a*", 2));
    CHECK(!jwt_room_pattern_valid("", 0));
    CHECK(!jwt_room_pattern_valid("a*", 1 + 2)); /* includes the NUL */
}

TEST(three_base64url_parts)
{
    char *t = NULL;
    CHECK(jwt_sign(SECRET, "alice", NULL, LATER, 0, NULL, 0, &t) == RC_OK);
    char *dot1 = strchr(t, '.'), *dot2 = strrchr(t, '.');
    char buf[1024];

    /* Two parts, four parts, empty parts. */
    snprintf(buf, sizeof buf, "%.*s", (int)(dot2 - t), t);
    CHECK_STR(why_at(buf, NOW), "malformed token");
    snprintf(buf, sizeof buf, "%s.%s", t, dot2 + 1);
    CHECK_STR(why_at(buf, NOW), "malformed token");
    snprintf(buf, sizeof buf, "%s.", t);
    CHECK_STR(why_at(buf, NOW), "malformed token");
    CHECK_STR(why_at("", NOW), "malformed token");
    CHECK_STR(why_at("..", NOW), "malformed token");
    CHECK_STR(why_at("abc", NOW), "malformed token");
    snprintf(buf, sizeof buf, ".%s", dot1 + 1); /* empty header */
    CHECK_STR(why_at(buf, NOW), "malformed token");
    snprintf(buf, sizeof buf, "%.*s.%s", (int)(dot1 - t), t, dot2); /* empty payload */
    CHECK_STR(why_at(buf, NOW), "malformed token");

    /* '=' padding after the header and after the payload. */
    snprintf(buf, sizeof buf, "%.*s==%s", (int)(dot1 - t), t, dot1);
    CHECK_STR(why_at(buf, NOW), "malformed token");
    snprintf(buf, sizeof buf, "%.*s=%s", (int)(dot2 - t), t, dot2);
    CHECK_STR(why_at(buf, NOW), "malformed token");

    /* Characters outside base64url: standard base64's '+' and '/', a space. */
    snprintf(buf, sizeof buf, "%s", t);
    buf[3] = '+';
    CHECK_STR(why_at(buf, NOW), "malformed token");
    buf[3] = '/';
    CHECK_STR(why_at(buf, NOW), "malformed token");
    buf[3] = ' ';
    CHECK_STR(why_at(buf, NOW), "malformed token");
    snprintf(buf, sizeof buf, "%s", t);
    buf[dot1 - t + 2] = '*';
    CHECK_STR(why_at(buf, NOW), "malformed token");
    snprintf(buf, sizeof buf, "%s", t);
    buf[strlen(buf) - 5] = '~';
    CHECK_STR(why_at(buf, NOW), "malformed token");
    CHECK_STR(why_at("!!!!.!!!!.!!!!", NOW), "malformed token");

    /* A part of length 4k+1 decodes to nothing. */
    snprintf(buf, sizeof buf, "%.*sA%s", (int)(dot1 - t), t, dot1);
    CHECK_STR(why_at(buf, NOW), "malformed token");

    /* Non-canonical trailing bits: the signature's 43rd character carries
     * 4 bits and 2 unused ones that must be zero. */
    snprintf(buf, sizeof buf, "%s", t);
    char *last = buf + strlen(buf) - 1;
    const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    int v = (int)(strchr(alpha, *last) - alpha);
    CHECK((v & 3) == 0);
    *last = alpha[v | 1];
    CHECK_STR(why_at(buf, NOW), "malformed token");
    free(t);
}

TEST(payload_strict_json)
{
    CHECK_STR(why_payload("not json"), "malformed payload");
    CHECK_STR(why_payload(" "), "malformed payload");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700003600} x"), "malformed payload");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700003600}{}"), "malformed payload");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":NaN}"), "malformed payload");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":Infinity}"), "malformed payload");
    /* Valid JSON, but no integer exp: refused all the same. */
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1e400}"), "exp missing or invalid");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":99999999999999999999}"), "exp missing or invalid");
    CHECK_STR(why_payload("{\"sub\":'a',\"exp\":1700003600}"), "malformed payload");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700003600,}"), "malformed payload");
    CHECK_STR(why_payload("{\"sub\":\"a\",/*c*/\"exp\":1700003600}"), "malformed payload");
    CHECK_STR(why_payload("[1700003600]"), "malformed payload");
    CHECK_STR(why_payload("\"a\""), "malformed payload");
    CHECK_STR(why_payload("{\"sub\":\"\xff\",\"exp\":1700003600}"), "malformed payload");
    CHECK_STR(why_payload("{\"sub\":\"a\",\"exp\":1700003600} \n"), "ok");
}

TEST(token_size_cap)
{
    /* 8193 bytes: refused before anything is decoded. */
    char *big = malloc(JWT_TOKEN_MAX + 2);
    memset(big, 'A', JWT_TOKEN_MAX + 1);
    big[JWT_TOKEN_MAX + 1] = '\0';
    CHECK_STR(why_at(big, NOW), "token too long");
    free(big);

    /* A properly signed token just over the cap, and one just under. */
    char *p = malloc(8192);
    for (size_t pad = 5900; pad <= 6200; pad += 300) {
        int n = sprintf(p, "{\"sub\":\"a\",\"exp\":1700003600,\"x\":\"");
        memset(p + n, 'x', pad);
        sprintf(p + n + pad, "\"}");
        char *t = make_token(HS256, p, SECRET);
        CHECK_STR(why_at(t, NOW), strlen(t) > JWT_TOKEN_MAX ? "token too long" : "ok");
        CHECK(strlen(t) > JWT_TOKEN_MAX ? pad == 6200 : pad == 5900);
        free(t);
    }
    free(p);

    /* jwt_sign refuses to mint what jwt_verify would refuse. */
    static char names[JWT_ROOMS_MAX][ROOM_MAX + 1];
    const char *rooms[JWT_ROOMS_MAX];
    for (int i = 0; i < JWT_ROOMS_MAX; i++) {
        memset(names[i], 'r', ROOM_MAX);
        names[i][ROOM_MAX] = '\0';
        rooms[i] = names[i];
    }
    char *t = (char *)"untouched";
    CHECK(jwt_sign(SECRET, "a", NULL, LATER, 0, rooms, JWT_ROOMS_MAX, &t) == RC_TOO_LARGE);
    CHECK_STR(t, "untouched");
}

TEST(sign_rejects)
{
    const char *bad_room[] = {"ok", "not ok"};
    const char *null_room[] = {NULL};
    char *t = (char *)"untouched";
    CHECK(jwt_sign(NULL, "a", NULL, LATER, 0, NULL, 0, &t) == RC_CONFIG);
    CHECK(jwt_sign("", "a", NULL, LATER, 0, NULL, 0, &t) == RC_CONFIG);
    CHECK(jwt_sign(SECRET, NULL, NULL, LATER, 0, NULL, 0, &t) == RC_BAD_REQUEST);
    CHECK(jwt_sign(SECRET, "a b", NULL, LATER, 0, NULL, 0, &t) == RC_BAD_REQUEST);
    CHECK(jwt_sign(SECRET, "a", "", LATER, 0, NULL, 0, &t) == RC_BAD_REQUEST);
    CHECK(jwt_sign(SECRET, "a", "a\tb", LATER, 0, NULL, 0, &t) == RC_BAD_REQUEST);
    CHECK(jwt_sign(SECRET, "a", NULL, 0, 0, NULL, 0, &t) == RC_BAD_REQUEST);
    CHECK(jwt_sign(SECRET, "a", NULL, LATER, -1, NULL, 0, &t) == RC_BAD_REQUEST);
    CHECK(jwt_sign(SECRET, "a", NULL, LATER, LATER, NULL, 0, &t) == RC_BAD_REQUEST);
    CHECK(jwt_sign(SECRET, "a", NULL, LATER, 0, bad_room, 2, &t) == RC_BAD_REQUEST);
    CHECK(jwt_sign(SECRET, "a", NULL, LATER, 0, null_room, 1, &t) == RC_BAD_REQUEST);
    CHECK(jwt_sign(SECRET, "a", NULL, LATER, 0, NULL, 1, &t) == RC_BAD_REQUEST);
    CHECK(jwt_sign(SECRET, "a", NULL, LATER, 0, bad_room, JWT_ROOMS_MAX + 1, &t) ==
          RC_BAD_REQUEST);
    CHECK_STR(t, "untouched");
}

TEST(known_answer)
{
    /* Made with: h=base64url('{"alg":"HS256","typ":"JWT"}'),
     * p=base64url('{"sub":"alice@example.org","name":"Alice","iat":1700000000,
     * "exp":4102444800,"rooms":["lobby","team-*"]}'), and
     * printf %s "$h.$p" | openssl dgst -sha256 -hmac secret -binary |
     * basenc --base64url, padding removed. */
    static const char T[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiJhbGljZUBleGFtcGxlLm9yZyIsIm5hbWUiOiJBbGljZSIsImlhdCI6MTcw"
        "MDAwMDAwMCwiZXhwIjo0MTAyNDQ0ODAwLCJyb29tcyI6WyJsb2JieSIsInRlYW0tKiJd"
        "fQ."
        "lj4FN6a0U8pputa7C_jlofMKdHeUru1QQH8XFkj6jQ8";
    jwt_claims c;
    const char *why = NULL;
    CHECK(jwt_verify(T, strlen(T), "secret", NOW, &c, &why) == RC_OK);
    CHECK_STR(c.sub, "alice@example.org");
    CHECK(c.has_name);
    CHECK_STR(c.name, "Alice");
    CHECK(c.exp == 4102444800);
    CHECK(c.nbf == 0);
    CHECK(c.has_rooms && c.nrooms == 2);
    CHECK(jwt_room_allowed(&c, "lobby"));
    CHECK(jwt_room_allowed(&c, "team-red"));
    CHECK(!jwt_room_allowed(&c, "kitchen"));
    jwt_claims_free(&c);
    CHECK(jwt_verify(T, strlen(T), "Secret", NOW, &c, &why) == RC_NOAUTH);
    CHECK_STR(why, "bad signature");
    CHECK(jwt_verify(T, strlen(T), "secret", 4102444800, &c, &why) == RC_NOAUTH);
    CHECK_STR(why, "expired");

    /* jwt.io's example token (secret "your-256-bit-secret"): the signature
     * holds, and the missing exp is what rejects it. */
    static const char J[] =
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
        "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
        "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";
    CHECK(jwt_verify(J, strlen(J), "your-256-bit-secret", NOW, &c, &why) == RC_NOAUTH);
    CHECK_STR(why, "exp missing or invalid");
    CHECK(jwt_verify(J, strlen(J), "secret", NOW, &c, &why) == RC_NOAUTH);
    CHECK_STR(why, "bad signature");
}

RUN_TESTS(jwt)
