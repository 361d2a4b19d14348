/* fuzz_jwt.c -- libFuzzer target for broker/bk_jwt.c (jwt_verify) with a
 * fixed secret and a fixed clock.
 *
 * Byte 0 picks how the rest is used, so that the fuzzer reaches past the
 * signature check, where random bytes would never get:
 *   0: the rest is the token as a client sends it;
 *   1: the rest is a payload: the target wraps it in the standard header
 *      and signs it with the secret (HMAC-SHA256 here, with OpenSSL);
 *   2: the rest is header, a NUL byte, payload: both signed the same way.
 * Invariants: on error the claims are untouched and *why is one of the
 * documented reasons; on success the claims obey bk_jwt.h (a valid uid, a
 * valid name or none, exp in the future, nbf not, at most JWT_ROOMS_MAX
 * valid room patterns), and a token minted by jwt_sign from those claims
 * verifies to the very same claims. */
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdint.h>
#include <string.h>

#include "bk_jwt.h"
#include "fuzz_util.h"

#define SECRET "fuzz-secret"
#define NOW 1700000000LL

static const char *const REASONS[] = {
    "token too long", "malformed token", "alg must be HS256",
    "typ must be JWT", "crit is not supported", "bad signature",
    "malformed payload", "exp missing or invalid", "expired", "nbf invalid",
    "not yet valid", "sub missing or invalid", "name invalid",
    "rooms invalid", "too many rooms", "no secret configured",
    "out of memory", "internal error",
};

static void b64url(const unsigned char *in, size_t n, char *out, size_t *o)
{
    static const char A[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 |
                     in[i + 2];
        out[(*o)++] = A[v >> 18 & 63];
        out[(*o)++] = A[v >> 12 & 63];
        out[(*o)++] = A[v >> 6 & 63];
        out[(*o)++] = A[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[(*o)++] = A[v >> 18 & 63];
        out[(*o)++] = A[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[(*o)++] = A[v >> 18 & 63];
        out[(*o)++] = A[v >> 12 & 63];
        out[(*o)++] = A[v >> 6 & 63];
    }
}

/* base64url(header).base64url(payload).base64url(HMAC) into a new heap
 * buffer (free it); its length in *len. */
static char *sign(const unsigned char *hdr, size_t hn,
                  const unsigned char *pay, size_t pn, size_t *len)
{
    char *t = malloc(4 * (hn / 3 + pn / 3 + 2) + 64);
    if (t == NULL)
        abort();
    size_t o = 0;
    b64url(hdr, hn, t, &o);
    t[o++] = '.';
    b64url(pay, pn, t, &o);
    unsigned char mac[32];
    unsigned int maclen = 0;
    if (HMAC(EVP_sha256(), SECRET, (int)strlen(SECRET), (unsigned char *)t,
             o, mac, &maclen) == NULL || maclen != 32)
        abort();
    t[o++] = '.';
    b64url(mac, 32, t, &o);
    *len = o;
    return t;
}

static void check_reason(const char *why)
{
    FUZZ_ASSERT(why != NULL, "no reason");
    for (size_t i = 0; i < sizeof REASONS / sizeof REASONS[0]; i++)
        if (strcmp(why, REASONS[i]) == 0)
            return;
    FUZZ_ASSERT(0, "undocumented reason \"%s\"", why);
}

static void check_claims(const jwt_claims *c)
{
    size_t n = strnlen(c->sub, sizeof c->sub);
    FUZZ_ASSERT(n < sizeof c->sub && valid_uid(c->sub, n), "bad sub");
    size_t m = strnlen(c->name, sizeof c->name);
    FUZZ_ASSERT(m < sizeof c->name, "name not terminated");
    if (c->has_name)
        FUZZ_ASSERT(valid_name(c->name, m), "bad name");
    else
        FUZZ_ASSERT(m == 0, "name without has_name");
    FUZZ_ASSERT(NOW < c->exp, "expired token accepted");
    FUZZ_ASSERT(c->nbf == 0 || c->nbf <= NOW, "future nbf accepted");
    FUZZ_ASSERT(c->nrooms <= JWT_ROOMS_MAX, "too many rooms");
    FUZZ_ASSERT((c->rooms == NULL) == (c->nrooms == 0), "rooms vs nrooms");
    FUZZ_ASSERT(c->has_rooms || c->nrooms == 0, "rooms without has_rooms");
    for (size_t i = 0; i < c->nrooms; i++)
        FUZZ_ASSERT(jwt_room_pattern_valid(c->rooms[i], strlen(c->rooms[i])),
                    "bad room pattern");
}

static bool same_claims(const jwt_claims *a, const jwt_claims *b)
{
    if (strcmp(a->sub, b->sub) != 0 || a->has_name != b->has_name ||
        strcmp(a->name, b->name) != 0 || a->exp != b->exp ||
        a->nbf != b->nbf || a->has_rooms != b->has_rooms ||
        a->nrooms != b->nrooms)
        return false;
    for (size_t i = 0; i < a->nrooms; i++)
        if (strcmp(a->rooms[i], b->rooms[i]) != 0)
            return false;
    return true;
}

/* Mints a token from c with jwt_sign and verifies it again. */
static void resign(const jwt_claims *c)
{
    char *tok = NULL;
    /* An empty rooms claim has rooms NULL in the claims, but jwt_sign wants
     * a non-NULL array of 0 entries for it (NULL omits the claim). */
    static const char *const none[1] = {NULL};
    const char *const *rooms = NULL;
    if (c->has_rooms)
        rooms = c->nrooms > 0 ? (const char *const *)c->rooms : none;
    rc r = jwt_sign(SECRET, c->sub, c->has_name ? c->name : NULL, c->exp,
                    c->nbf, rooms, c->nrooms, &tok);
    if (r == RC_TOO_LARGE)
        return; /* json-c may escape more than the client did */
    if (r == RC_BAD_REQUEST && c->nbf < 0)
        return; /* jwt_sign refuses nbf < 0, which verify lets through */
    FUZZ_ASSERT(r == RC_OK, "jwt_sign refused claims jwt_verify accepted: "
                "rc %d sub \"%s\" exp %lld nbf %lld", r, c->sub,
                (long long)c->exp, (long long)c->nbf);
    jwt_claims again;
    memset(&again, 0, sizeof again);
    const char *why = NULL;
    r = jwt_verify(tok, strlen(tok), SECRET, NOW, &again, &why);
    FUZZ_ASSERT(r == RC_OK, "minted token refused: %s", why ? why : "?");
    FUZZ_ASSERT(same_claims(c, &again), "claims changed through jwt_sign");
    jwt_claims_free(&again);
    free(tok);
}

static void verify(const char *token, size_t len)
{
    jwt_claims c, sentinel;
    memset(&c, 0xa5, sizeof c);
    memset(&sentinel, 0xa5, sizeof sentinel);
    const char *why = NULL;
    rc r = jwt_verify(token, len, SECRET, NOW, &c, &why);
    if (r != RC_OK) {
        FUZZ_ASSERT(r == RC_NOAUTH || r == RC_NOMEM || r == RC_INTERNAL,
                    "rc %d", r);
        FUZZ_ASSERT(memcmp(&c, &sentinel, sizeof c) == 0,
                    "claims written on error");
        check_reason(why);
        return;
    }
    check_claims(&c);
    resign(&c);
    jwt_claims_free(&c);
    FUZZ_ASSERT(c.rooms == NULL && c.nrooms == 0, "jwt_claims_free");
    jwt_claims_free(&c); /* twice is harmless */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    const unsigned char *rest = data + 1;
    size_t n = size - 1;
    switch (data[0] % 3) {
    case 0: {
        /* An exact-size copy: data is that already, but say it. */
        verify((const char *)rest, n);
        break;
    }
    case 1: {
        static const char HDR[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
        size_t len;
        char *t = sign((const unsigned char *)HDR, sizeof HDR - 1, rest, n,
                       &len);
        verify(t, len);
        free(t);
        break;
    }
    default: {
        const unsigned char *nul = memchr(rest, 0, n);
        size_t hn = nul ? (size_t)(nul - rest) : n;
        const unsigned char *pay = nul ? nul + 1 : rest + n;
        size_t pn = nul ? n - hn - 1 : 0;
        size_t len;
        char *t = sign(rest, hn, pay, pn, &len);
        verify(t, len);
        free(t);
        break;
    }
    }
    /* The secret matters: no secret refuses everything. */
    jwt_claims c;
    const char *why = NULL;
    FUZZ_ASSERT(jwt_verify((const char *)rest, n, "", NOW, &c, &why) ==
                RC_NOAUTH, "empty secret accepted a token");
    FUZZ_ASSERT(jwt_verify((const char *)rest, n, NULL, NOW, &c, &why) ==
                RC_NOAUTH, "NULL secret accepted a token");
    return 0;
}
