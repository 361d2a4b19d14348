/* jsonw.c -- see jsonw.h. */
#include "jsonw.h"

#include <stdio.h>
#include <string.h>

void jsonw_raw(wbuf *w, const char *text)
{
    wbuf_bytes(w, text, strlen(text));
}

void jsonw_str(wbuf *w, const char *s, size_t n)
{
    static const char HEX[] = "0123456789abcdef";
    wbuf_u8(w, '"');
    size_t run = 0; /* bytes that need no escape, copied in one go */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\') {
            run++;
            continue;
        }
        wbuf_bytes(w, s + i - run, run);
        run = 0;
        char esc[6] = {'\\', 'u', '0', '0', HEX[c >> 4], HEX[c & 15]};
        switch (c) {
        case '"': wbuf_bytes(w, "\\\"", 2); break;
        case '\\': wbuf_bytes(w, "\\\\", 2); break;
        case '\n': wbuf_bytes(w, "\\n", 2); break;
        case '\r': wbuf_bytes(w, "\\r", 2); break;
        case '\t': wbuf_bytes(w, "\\t", 2); break;
        default: wbuf_bytes(w, esc, 6); break;
        }
    }
    wbuf_bytes(w, s + n - run, run);
    wbuf_u8(w, '"');
}

void jsonw_cstr(wbuf *w, const char *s)
{
    jsonw_str(w, s, strlen(s));
}

void jsonw_i64(wbuf *w, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof b, "%lld", (long long)v);
    wbuf_bytes(w, b, (size_t)n);
}

void jsonw_key(wbuf *w, const char *key)
{
    if (w->len > 0 && w->data[w->len - 1] != '{')
        wbuf_u8(w, ',');
    wbuf_u8(w, '"');
    jsonw_raw(w, key);
    wbuf_bytes(w, "\":", 2);
}
