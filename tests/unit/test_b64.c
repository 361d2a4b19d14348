/* test_b64.c -- unit tests of gateway/gw_b64.c, the strict base64 decoder
 * of the server API's `data`: round trips of every length, padding, the
 * cap checked before any allocation, and every kind of bad input. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "gw_b64.h"

static int decodes_to(const char *in, const char *want, size_t want_len)
{
    char *out = NULL;
    size_t len = 0;
    if (b64_decode(in, strlen(in), 1 << 20, &out, &len) != RC_OK)
        return 0;
    int ok = len == want_len && memcmp(out, want, len) == 0 && out[len] == 0;
    free(out);
    return ok;
}

static rc decode(const char *in, size_t max)
{
    char *out = (char *)1;
    size_t len = 77;
    rc r = b64_decode(in, strlen(in), max, &out, &len);
    if (r == RC_OK)
        free(out);
    else if (out != (char *)1 || len != 77)
        return RC_INTERNAL; /* touched its out-params on error */
    return r;
}

TEST(round_trips)
{
    CHECK(decodes_to("aGVsbG8=", "hello", 5));
    CHECK(decodes_to("aGVsbG8h", "hello!", 6));
    CHECK(decodes_to("aGk=", "hi", 2));
    CHECK(decodes_to("aA==", "h", 1));
    CHECK(decodes_to("AP8A", "\0\377\0", 3));
    CHECK(decodes_to("+/+/", "\373\377\277", 3));
}

TEST(bad_input_is_bad_request)
{
    const char *bad[] = {"", "a", "ab", "abc", "abcde", "a===", "====",
                         "ab=c", "YQ=\n", "Y Q=", "YQ-_", "aGVsbG8=aGk=",
                         "\xc3\xa9\xc3\xa9", "YQ==YQ=="};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK_EQ_INT(decode(bad[i], 100), RC_BAD_REQUEST);
}

TEST(cap_checked_before_decoding)
{
    CHECK_EQ_INT(decode("aGVsbG8=", 5), RC_OK);
    CHECK_EQ_INT(decode("aGVsbG8=", 4), RC_TOO_LARGE);
    CHECK_EQ_INT(decode("aGVsbG8h", 5), RC_TOO_LARGE);
}

RUN_TESTS(b64)
