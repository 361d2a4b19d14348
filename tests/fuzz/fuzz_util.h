/* fuzz_util.h -- helpers shared by the libFuzzer targets in tests/fuzz.
 *
 * FUZZ_ASSERT(cond, ...) reports a broken invariant on stderr and aborts, so
 * libFuzzer saves the input as a crash. ref_utf8() is a UTF-8 validator
 * written from the RFC 3629 table, independent of common/valid.c, used as a
 * second opinion on what the code under test accepted. Single-threaded, like
 * every libFuzzer target. */
#ifndef FUZZ_UTIL_H
#define FUZZ_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

#define FUZZ_ASSERT(cond, ...)                                                 \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "%s:%d: invariant broken: %s: ", __FILE__,         \
                    __LINE__, #cond);                                          \
            fprintf(stderr, __VA_ARGS__);                                      \
            fputc('\n', stderr);                                               \
            abort();                                                           \
        }                                                                      \
    } while (0)

/* Whether s[0..n) is well-formed UTF-8 (RFC 3629 section 4). With open_end,
 * a sequence cut short by the end of the buffer is accepted as long as the
 * bytes that are there can still begin a valid sequence. */
static inline bool ref_utf8(const unsigned char *s, size_t n, bool open_end)
{
    size_t i = 0;
    while (i < n) {
        unsigned b = s[i];
        unsigned lo = 0x80, hi = 0xbf; /* range of the second byte */
        size_t need;                   /* continuation bytes */
        if (b < 0x80) {
            i++;
            continue;
        } else if (b >= 0xc2 && b <= 0xdf) {
            need = 1;
        } else if (b == 0xe0) {
            need = 2, lo = 0xa0;
        } else if ((b >= 0xe1 && b <= 0xec) || b == 0xee || b == 0xef) {
            need = 2;
        } else if (b == 0xed) {
            need = 2, hi = 0x9f;
        } else if (b == 0xf0) {
            need = 3, lo = 0x90;
        } else if (b >= 0xf1 && b <= 0xf3) {
            need = 3;
        } else if (b == 0xf4) {
            need = 3, hi = 0x8f;
        } else {
            return false;
        }
        for (size_t k = 1; k <= need; k++) {
            if (i + k >= n)
                return open_end;
            unsigned c = s[i + k];
            unsigned l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xbf;
            if (c < l || c > h)
                return false;
        }
        i += need + 1;
    }
    return true;
}

#endif
