/* bk_jwt.c -- HS256 JSON Web Tokens: verify a client's token, mint one.
 *
 * A token is base64url(header) "." base64url(payload) "." base64url(mac),
 * unpadded, where mac = HMAC-SHA256(secret, first two parts as sent). The
 * order of checks is: size, three parts, the header (alg, typ, crit: so an
 * "alg":"none" token is named as such), base64url of the other two parts,
 * the MAC (in constant time), and only then the payload's JSON and claims,
 * so nothing an attacker wrote is parsed beyond the header until the MAC
 * proves the issuer wrote it. Decoding uses one stack buffer bounded by
 * JWT_TOKEN_MAX; the only heap memory is json-c's and the rooms array handed
 * to the caller.
 *
 * Any thread: no globals, every json_object is made and freed within one
 * call. OpenSSL 3's HMAC() is thread-safe. See bk_jwt.h for the contract. */
#include "bk_jwt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "valid.h"

#define MAC_LEN 32                           /* SHA-256 output, bytes */
#define MAC_B64_LEN 43                       /* its unpadded base64url */
#define DECODE_MAX (JWT_TOKEN_MAX / 4 * 3 + 3) /* any part, decoded */

static const char B64URL[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* ---- base64url (RFC 4648 section 5), no padding ---- */

static int b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Bytes that n input bytes encode to, without padding. */
static size_t b64url_encoded_len(size_t n)
{
    return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

/* Encodes in[0..n) into out, which has room for b64url_encoded_len(n)
 * bytes; writes no NUL. Returns the bytes written. */
static size_t b64url_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
        out[o++] = B64URL[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        out[o++] = B64URL[v >> 6 & 63];
    }
    return o;
}

/* Decodes s[0..n) into out (cap bytes). False for an empty part, a length
 * no encoding has (n % 4 == 1), a character outside the base64url alphabet
 * (padding '=' included), unused trailing bits that are not zero (so each
 * byte string has exactly one accepted encoding), or too little room. */
static bool b64url_decode(const char *s, size_t n, unsigned char *out,
                          size_t cap, size_t *outlen)
{
    if (n == 0 || n % 4 == 1)
        return false;
    size_t need = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
    if (need > cap)
        return false;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_value((unsigned char)s[i]);
        if (v < 0)
            return false;
        acc = (acc << 6 | (unsigned)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits & 0xFF);
        }
    }
    /* 2 or 4 bits are left over after a short final group; they must be 0. */
    if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
        return false;
    *outlen = o;
    return true;
}

/* ---- claims ---- */

bool jwt_room_pattern_valid(const char *s, size_t len)
{
    if (s == NULL || len == 0)
        return false;
    if (len == 1 && s[0] == '*')
        return true;
    if (len >= 2 && s[len - 1] == '*')
        return valid_room(s, len - 1);
    return valid_room(s, len);
}

void jwt_claims_free(jwt_claims *c)
{
    if (c == NULL)
        return;
    if (c->rooms != NULL) {
        for (size_t i = 0; i < c->nrooms; i++)
            free(c->rooms[i]);
        free(c->rooms);
    }
    c->rooms = NULL;
    c->nrooms = 0;
}

bool jwt_room_allowed(const jwt_claims *c, const char *room)
{
    if (c == NULL || room == NULL)
        return false;
    if (!c->has_rooms)
        return true;
    for (size_t i = 0; i < c->nrooms; i++) {
        const char *p = c->rooms[i];
        size_t n = strlen(p);
        if (n > 0 && p[n - 1] == '*') {
            if (strncmp(room, p, n - 1) == 0)
                return true;
        } else if (strcmp(room, p) == 0) {
            return true;
        }
    }
    return false;
}

/* HMAC-SHA256 of data[0..n) with a NUL-terminated secret into mac. */
static bool mac_compute(const char *secret, const char *data, size_t n,
                        unsigned char mac[MAC_LEN])
{
    unsigned int maclen = 0;
    size_t keylen = strlen(secret);
    if (keylen > (size_t)INT32_MAX)
        return false;
    if (HMAC(EVP_sha256(), secret, (int)keylen, (const unsigned char *)data,
             n, mac, &maclen) == NULL)
        return false;
    return maclen == MAC_LEN;
}

/* Checks the decoded header: {"alg":"HS256"}, optional "typ":"JWT", no
 * "crit". Returns NULL when good, else the reason. */
static const char *header_check(const unsigned char *text, size_t len)
{
    json_object *h = NULL;
    const char *why = NULL;
    const char *s;
    size_t n;
    bool present;

    if (json_parse_strict((const char *)text, len, &h) != RC_OK) {
        h = NULL;
        why = "malformed token";
        goto done;
    }
    if (json_get_string(h, "alg", true, &s, &n, NULL) != RC_OK || n != 5 ||
        memcmp(s, "HS256", 5) != 0) {
        why = "alg must be HS256";
        goto done;
    }
    if (json_get_string(h, "typ", false, &s, &n, &present) != RC_OK ||
        (present && (n != 3 || memcmp(s, "JWT", 3) != 0))) {
        why = "typ must be JWT";
        goto done;
    }
    if (json_object_object_get_ex(h, "crit", NULL)) {
        why = "crit is not supported";
        goto done;
    }
done:
    json_object_put(h);
    return why;
}

/* Copies the `rooms` array of payload p into c (has_rooms, rooms, nrooms).
 * Returns RC_OK, RC_NOAUTH with *why, or RC_NOMEM; on error c's rooms are
 * left NULL/0 and nothing is allocated. */
static rc rooms_read(json_object *p, jwt_claims *c, const char **why)
{
    json_object *arr;
    char **rooms = NULL;
    size_t n = 0, done = 0;

    if (!json_object_object_get_ex(p, "rooms", &arr))
        return RC_OK;
    if (!json_object_is_type(arr, json_type_array)) {
        *why = "rooms invalid";
        return RC_NOAUTH;
    }
    n = json_object_array_length(arr);
    if (n > JWT_ROOMS_MAX) {
        *why = "too many rooms";
        return RC_NOAUTH;
    }
    for (size_t i = 0; i < n; i++) {
        json_object *e = json_object_array_get_idx(arr, i);
        if (!json_object_is_type(e, json_type_string) ||
            !jwt_room_pattern_valid(json_object_get_string(e),
                                    (size_t)json_object_get_string_len(e))) {
            *why = "rooms invalid";
            return RC_NOAUTH;
        }
    }
    if (n > 0) {
        rooms = calloc(n, sizeof *rooms);
        if (rooms == NULL)
            goto fail;
        for (; done < n; done++) {
            json_object *e = json_object_array_get_idx(arr, done);
            size_t len = (size_t)json_object_get_string_len(e);
            rooms[done] = malloc(len + 1);
            if (rooms[done] == NULL)
                goto fail;
            memcpy(rooms[done], json_object_get_string(e), len + 1);
        }
    }
    c->rooms = rooms;
    c->nrooms = n;
    c->has_rooms = true;
    return RC_OK;
fail:
    if (rooms != NULL) {
        for (size_t i = 0; i < done; i++)
            free(rooms[i]);
        free(rooms);
    }
    *why = "out of memory";
    return RC_NOMEM;
}

/* Reads and checks the claims of the decoded payload into *c (zeroed by the
 * caller). On error frees whatever it put into c. */
static rc payload_read(const unsigned char *text, size_t len, int64_t now,
                       jwt_claims *c, const char **why)
{
    json_object *p = NULL;
    const char *s;
    size_t n;
    bool present;
    rc r = RC_NOAUTH;

    if (json_parse_strict((const char *)text, len, &p) != RC_OK) {
        p = NULL;
        *why = "malformed payload";
        goto fail;
    }
    if (json_get_int(p, "exp", true, &c->exp, NULL) != RC_OK) {
        *why = "exp missing or invalid";
        goto fail;
    }
    if (json_get_int(p, "nbf", false, &c->nbf, &present) != RC_OK) {
        *why = "nbf invalid";
        goto fail;
    }
    if (!present)
        c->nbf = 0;
    if (json_get_string(p, "sub", true, &s, &n, NULL) != RC_OK || n > UID_MAX ||
        !valid_uid(s, n)) {
        *why = "sub missing or invalid";
        goto fail;
    }
    memcpy(c->sub, s, n);
    c->sub[n] = '\0';
    if (json_get_string(p, "name", false, &s, &n, &present) != RC_OK ||
        (present && (n > NAME_MAX_BYTES || !valid_name(s, n)))) {
        *why = "name invalid";
        goto fail;
    }
    if (present) {
        memcpy(c->name, s, n);
        c->name[n] = '\0';
        c->has_name = true;
    }
    r = rooms_read(p, c, why);
    if (r != RC_OK)
        goto fail;
    r = RC_NOAUTH;
    if (now >= c->exp) {
        *why = "expired";
        goto fail;
    }
    if (c->nbf != 0 && now < c->nbf) {
        *why = "not yet valid";
        goto fail;
    }
    json_object_put(p);
    return RC_OK;
fail:
    jwt_claims_free(c);
    json_object_put(p);
    return r;
}

rc jwt_verify(const char *token, size_t len, const char *secret, int64_t now,
              jwt_claims *out, const char **why)
{
    unsigned char buf[DECODE_MAX];
    unsigned char mac[MAC_LEN], want[MAC_LEN];
    size_t n;
    const char *reason;
    jwt_claims c;
    rc r;

    if (secret == NULL || secret[0] == '\0') {
        *why = "no secret configured";
        return RC_NOAUTH;
    }
    if (token == NULL) {
        *why = "malformed token";
        return RC_NOAUTH;
    }
    if (len > JWT_TOKEN_MAX) {
        *why = "token too long";
        return RC_NOAUTH;
    }

    /* Exactly two dots. */
    const char *dot1 = memchr(token, '.', len);
    if (dot1 == NULL) {
        *why = "malformed token";
        return RC_NOAUTH;
    }
    const char *rest = dot1 + 1;
    const char *end = token + len;
    const char *dot2 = memchr(rest, '.', (size_t)(end - rest));
    if (dot2 == NULL || memchr(dot2 + 1, '.', (size_t)(end - dot2 - 1))) {
        *why = "malformed token";
        return RC_NOAUTH;
    }
    const char *hdr = token, *pay = dot1 + 1, *sig = dot2 + 1;
    size_t hdr_len = (size_t)(dot1 - hdr), pay_len = (size_t)(dot2 - pay);
    size_t sig_len = (size_t)(end - sig);

    /* The header first, so that "alg":"none" is named as such. */
    if (!b64url_decode(hdr, hdr_len, buf, sizeof buf, &n)) {
        *why = "malformed token";
        return RC_NOAUTH;
    }
    reason = header_check(buf, n);
    if (reason != NULL) {
        *why = reason;
        return RC_NOAUTH;
    }
    /* Every part must be clean base64url before the MAC is computed. */
    if (!b64url_decode(pay, pay_len, buf, sizeof buf, &n)) {
        *why = "malformed token";
        return RC_NOAUTH;
    }
    if (sig_len == 0) {
        *why = "bad signature";
        return RC_NOAUTH;
    }
    if (!b64url_decode(sig, sig_len, buf, sizeof buf, &n)) {
        *why = "malformed token";
        return RC_NOAUTH;
    }
    if (n != MAC_LEN) {
        *why = "bad signature";
        return RC_NOAUTH;
    }
    memcpy(mac, buf, MAC_LEN);

    if (!mac_compute(secret, token, (size_t)(dot2 - token), want)) {
        *why = "internal error";
        return RC_INTERNAL;
    }
    if (CRYPTO_memcmp(mac, want, MAC_LEN) != 0) {
        *why = "bad signature";
        return RC_NOAUTH;
    }

    if (!b64url_decode(pay, pay_len, buf, sizeof buf, &n)) {
        *why = "malformed token";
        return RC_NOAUTH;
    }
    memset(&c, 0, sizeof c);
    r = payload_read(buf, n, now, &c, why);
    if (r != RC_OK)
        return r;
    *out = c;
    return RC_OK;
}

/* ---- minting ---- */

/* json_object_object_add that takes v even on failure. */
static bool obj_add(json_object *o, const char *key, json_object *v)
{
    if (v == NULL)
        return false;
    if (json_object_object_add(o, key, v) != 0) {
        json_object_put(v);
        return false;
    }
    return true;
}

rc jwt_sign(const char *secret, const char *sub, const char *name,
            int64_t exp, int64_t nbf, const char *const *rooms, size_t nrooms,
            char **out)
{
    static const char HEADER[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    json_object *p = NULL, *arr = NULL, *a;
    const char *payload;
    char *tok = NULL;
    unsigned char mac[MAC_LEN];
    size_t hlen, plen, total, o;
    rc r = RC_NOMEM;

    if (secret == NULL || secret[0] == '\0')
        return RC_CONFIG;
    if (sub == NULL || !valid_uid(sub, strlen(sub)) ||
        (name != NULL && !valid_name(name, strlen(name))) || exp < 1 ||
        nbf < 0 || (nbf != 0 && nbf >= exp) ||
        (rooms == NULL && nrooms != 0) || nrooms > JWT_ROOMS_MAX)
        return RC_BAD_REQUEST;
    for (size_t i = 0; i < nrooms; i++)
        if (rooms[i] == NULL ||
            !jwt_room_pattern_valid(rooms[i], strlen(rooms[i])))
            return RC_BAD_REQUEST;

    p = json_object_new_object();
    if (p == NULL)
        goto fail;
    if (!obj_add(p, "sub", json_object_new_string(sub)))
        goto fail;
    if (name != NULL && !obj_add(p, "name", json_object_new_string(name)))
        goto fail;
    if (!obj_add(p, "exp", json_object_new_int64(exp)))
        goto fail;
    if (nbf != 0 && !obj_add(p, "nbf", json_object_new_int64(nbf)))
        goto fail;
    if (rooms != NULL) {
        arr = json_object_new_array_ext((int)nrooms);
        if (arr == NULL)
            goto fail;
        for (size_t i = 0; i < nrooms; i++) {
            json_object *s = json_object_new_string(rooms[i]);
            if (s == NULL)
                goto fail;
            if (json_object_array_add(arr, s) != 0) {
                json_object_put(s);
                goto fail;
            }
        }
        a = arr;
        arr = NULL; /* obj_add takes it, on failure too */
        if (!obj_add(p, "rooms", a))
            goto fail;
    }
    payload = json_object_to_json_string_ext(
        p, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (payload == NULL)
        goto fail;

    hlen = b64url_encoded_len(sizeof HEADER - 1);
    plen = b64url_encoded_len(strlen(payload));
    total = hlen + 1 + plen + 1 + MAC_B64_LEN;
    if (total > JWT_TOKEN_MAX) {
        r = RC_TOO_LARGE;
        goto fail;
    }
    tok = malloc(total + 1);
    if (tok == NULL)
        goto fail;
    o = b64url_encode((const unsigned char *)HEADER, sizeof HEADER - 1, tok);
    tok[o++] = '.';
    o += b64url_encode((const unsigned char *)payload, strlen(payload), tok + o);
    if (!mac_compute(secret, tok, o, mac)) {
        r = RC_INTERNAL;
        goto fail;
    }
    tok[o++] = '.';
    o += b64url_encode(mac, MAC_LEN, tok + o);
    tok[o] = '\0';
    json_object_put(p);
    *out = tok;
    return RC_OK;
fail:
    json_object_put(arr);
    json_object_put(p);
    free(tok);
    return r;
}
