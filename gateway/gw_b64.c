/* gw_b64.c -- decoding the server API's base64 `data`; see gw_b64.h. */
#include "gw_b64.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    return c == '+' ? 62 : c == '/' ? 63 : -1;
}

rc b64_decode(const char *s, size_t n, size_t max, char **out, size_t *len)
{
    if (n == 0 || n % 4 != 0)
        return RC_BAD_REQUEST;
    size_t pad = (s[n - 1] == '=') + (n > 1 && s[n - 2] == '=');
    size_t size = n / 4 * 3 - pad;
    if (size > max)
        return RC_TOO_LARGE;
    char *p = malloc(size + 1);
    if (p == NULL)
        return RC_NOMEM;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++) {
            bool tail = i + 4 == n && (size_t)k >= 4 - pad;
            v[k] = tail ? 0 : b64_value((unsigned char)s[i + k]);
            if (v[k] < 0) {
                free(p);
                return RC_BAD_REQUEST;
            }
        }
        uint32_t x = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)v[2] << 6 | (uint32_t)v[3];
        unsigned char b[3] = {x >> 16, x >> 8, x};
        for (int k = 0; k < 3 && o < size; k++)
            p[o++] = (char)b[k];
    }
    p[size] = 0;
    *out = p;
    *len = size;
    return RC_OK;
}
