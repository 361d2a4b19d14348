/* gw_b64.h -- standard base64 (RFC 4648 section 4, with padding) decoded
 * strictly, for the server API's `data` field (gw_api.c). The size is
 * known from the text's length, so it is checked against the cap before
 * anything is allocated. Any thread; no state. */
#ifndef GW_B64_H
#define GW_B64_H

#include <stddef.h>

#include "rc.h"

/* Decodes s[0..n) into an owned buffer (*out, free it; *len bytes, plus a
 * NUL not counted). RC_BAD_REQUEST when it is not base64 of the standard
 * alphabet with padding (empty included), RC_TOO_LARGE when it decodes to
 * more than max bytes, RC_NOMEM; on error *out and *len are untouched. */
rc b64_decode(const char *s, size_t n, size_t max, char **out, size_t *len);

#endif
