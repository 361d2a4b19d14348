/* fuzz_binary.c -- libFuzzer target for gateway/gw_binary.c, the parser of
 * a client's binary chat message (4-byte big-endian header length, strict
 * JSON header, payload).
 *
 * Input: the whole binary WebSocket message. Every answer is checked: on
 * RC_OK each field passes its protocol rule again (common/valid.c), the
 * header length is 1..4096, and the payload is the non-empty rest of the
 * input; on an error the code is bad_json or bad_request with a reason, and
 * an `id` is reported only when it is valid. The payload is read in full so
 * ASan sees any pointer outside the input. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "gw_binary.h"
#include "protocol.h"
#include "valid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* An exact-size copy: reads past the end show. */
    char *buf = malloc(size ? size : 1);
    if (buf == NULL)
        abort();
    memcpy(buf, data, size);
    binary_msg m;
    const char *why = NULL;
    rc r = binary_parse(buf, size, &m, &why);
    if (m.id != NULL)
        FUZZ_ASSERT(valid_client_id(m.id, m.id_len), "invalid id reported");
    if (r == RC_OK) {
        FUZZ_ASSERT(size >= 4, "accepted without a length");
        size_t n = (size_t)data[0] << 24 | (size_t)data[1] << 16 |
                   (size_t)data[2] << 8 | data[3];
        FUZZ_ASSERT(n >= 1 && n <= BINARY_HEADER_MAX, "header length %zu", n);
        FUZZ_ASSERT(m.payload == buf + 4 + n, "payload not after the header");
        FUZZ_ASSERT(m.payload_len >= 1 && 4 + n + m.payload_len == size,
                    "payload length %zu", m.payload_len);
        FUZZ_ASSERT(valid_room(m.room, strlen(m.room)), "room");
        FUZZ_ASSERT(valid_mime_type(m.type, m.type_len), "type");
        FUZZ_ASSERT(m.filename == NULL ||
                        valid_filename(m.filename, m.filename_len),
                    "filename");
        volatile unsigned char sum = 0;
        for (size_t i = 0; i < m.payload_len; i++)
            sum ^= (unsigned char)m.payload[i];
        (void)sum;
    } else {
        FUZZ_ASSERT(r == RC_BAD_JSON || r == RC_BAD_REQUEST || r == RC_NOMEM,
                    "rc %d", r);
        FUZZ_ASSERT(why != NULL && why[0] != 0, "no reason");
    }
    binary_free(&m);
    free(buf);
    return 0;
}
