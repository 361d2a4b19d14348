/* jsonw.h -- writing JSON text into a wbuf, for events sent to clients.
 *
 * The broker renders each client event once, as text, and gateways copy
 * those bytes to every recipient: no json_object is built on the hot path.
 * Strings are escaped per RFC 8259 (quotes, backslash, control characters,
 * U+0000); the input must already be valid UTF-8. Any thread. */
#ifndef JSONW_H
#define JSONW_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

void jsonw_raw(wbuf *w, const char *text);             /* copied as is */
void jsonw_str(wbuf *w, const char *s, size_t n);      /* "escaped" */
void jsonw_cstr(wbuf *w, const char *s);               /* "escaped" */
void jsonw_i64(wbuf *w, int64_t v);                    /* decimal */
/* `,"key":` (or `"key":` right after `{`): the key is a trusted literal. */
void jsonw_key(wbuf *w, const char *key);

#endif
