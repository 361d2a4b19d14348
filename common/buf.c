/* buf.c -- a growable byte buffer; see buf.h. */
#include "buf.h"

#include <stdlib.h>
#include <string.h>

void wbuf_free(wbuf *w)
{
    if (w == NULL)
        return;
    free(w->data);
    memset(w, 0, sizeof *w);
}

void wbuf_reset(wbuf *w)
{
    w->len = 0;
    w->failed = false;
}

static bool wbuf_grow(wbuf *w, size_t n)
{
    if (w->failed)
        return false;
    if (w->len + n <= w->cap)
        return true;
    size_t cap = w->cap ? w->cap : 256;
    while (cap < w->len + n)
        cap *= 2;
    char *d = realloc(w->data, cap);
    if (d == NULL) {
        w->failed = true;
        return false;
    }
    w->data = d;
    w->cap = cap;
    return true;
}

void wbuf_bytes(wbuf *w, const void *p, size_t n)
{
    if (n == 0 || !wbuf_grow(w, n))
        return;
    memcpy(w->data + w->len, p, n);
    w->len += n;
}

void wbuf_u8(wbuf *w, uint8_t v)
{
    wbuf_bytes(w, &v, 1);
}

void wbuf_u64(wbuf *w, uint64_t v)
{
    unsigned char b[8];
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    wbuf_bytes(w, b, 8);
}

void wbuf_i64(wbuf *w, int64_t v)
{
    wbuf_u64(w, (uint64_t)v);
}
