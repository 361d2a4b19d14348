/* buf.h -- a growable byte buffer, the one every encoder writes into (the
 * wire envelope, JSON text, WebSocket frames).
 *
 * Appends never fail half-way in a way the caller can miss: an allocation
 * failure sets `failed`, every later append is a no-op, and the caller
 * checks `failed` once at the end. Any thread; a wbuf belongs to one
 * thread at a time. */
#ifndef BUF_H
#define BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wbuf {
    char *data;  /* owned; free with wbuf_free */
    size_t len;
    size_t cap;
    bool failed; /* an allocation failed; the content is incomplete */
} wbuf;

void wbuf_free(wbuf *w);  /* NULL ok; leaves an empty wbuf */
void wbuf_reset(wbuf *w); /* keeps the memory, empties the content */
void wbuf_bytes(wbuf *w, const void *p, size_t n);
void wbuf_u8(wbuf *w, uint8_t v);
void wbuf_u64(wbuf *w, uint64_t v); /* little-endian */
void wbuf_i64(wbuf *w, int64_t v);  /* little-endian, two's complement */

#endif
