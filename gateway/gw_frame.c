/* gw_frame.c -- see gw_frame.h. */
#include "gw_frame.h"

#include <string.h>

#include "protocol.h"

enum { OP_CONT = 0, OP_TEXT = 1, OP_BINARY = 2, OP_CLOSE = 8, OP_PING = 9,
       OP_PONG = 10 };

void frame_in_init(frame_in *fi, size_t max)
{
    memset(fi, 0, sizeof *fi);
    fi->max = max;
    fi->max_binary = max;
}

void frame_in_free(frame_in *fi)
{
    if (fi != NULL)
        wbuf_free(&fi->msg);
}

static bool close_code_valid(unsigned c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) ||
           (c >= 3000 && c <= 4999);
}

static enum frame_action fail(uint16_t *code, uint16_t c)
{
    *code = c;
    return FA_FAIL;
}

static enum frame_action control(int op, const char *data, size_t len,
                                 uint16_t *code)
{
    if (op == OP_PING)
        return FA_PING;
    if (op == OP_PONG)
        return FA_PONG;
    /* close */
    if (len == 0) {
        *code = 0;
        return FA_CLOSE;
    }
    if (len == 1)
        return fail(code, CLOSE_PROTOCOL);
    unsigned c = ((unsigned char)data[0] << 8) | (unsigned char)data[1];
    if (!close_code_valid(c))
        return fail(code, CLOSE_PROTOCOL);
    if (!valid_utf8(data + 2, len - 2))
        return fail(code, CLOSE_BAD_DATA);
    *code = (uint16_t)c;
    return FA_CLOSE;
}

enum frame_action frame_in_feed(frame_in *fi, int bits, const char *data,
                                size_t len, const char **msg,
                                size_t *msg_len, uint16_t *code)
{
    bool fin = bits & 0x80;
    int op = bits & 0x0f;
    if (bits & 0x70)
        return fail(code, CLOSE_PROTOCOL); /* no extension was negotiated */
    if (op >= OP_CLOSE) {
        if (op > OP_PONG || !fin || len > 125)
            return fail(code, CLOSE_PROTOCOL);
        return control(op, data, len, code);
    }
    if (op > OP_BINARY)
        return fail(code, CLOSE_PROTOCOL);
    if ((op == OP_CONT) != (fi->opcode != 0))
        return fail(code, CLOSE_PROTOCOL); /* stray continuation, or nested start */
    if (op != OP_CONT) {
        fi->opcode = op;
        memset(&fi->utf8, 0, sizeof fi->utf8);
        if (fi->msg.cap > 65536)
            wbuf_free(&fi->msg); /* an idle connection keeps no big buffer */
        wbuf_reset(&fi->msg);
    }
    /* The cap depends on the kind: a picture may be far larger than any
     * JSON event. */
    size_t cap = fi->opcode == OP_BINARY ? fi->max_binary : fi->max;
    if (fi->msg.len + len > cap)
        return fail(code, CLOSE_TOO_BIG);
    if (fi->opcode == OP_TEXT &&
        !valid_utf8_feed(&fi->utf8, (const unsigned char *)data, len))
        return fail(code, CLOSE_BAD_DATA);
    if (!fin || fi->msg.len > 0) {
        wbuf_bytes(&fi->msg, data, len);
        if (fi->msg.failed)
            return fail(code, CLOSE_TOO_BIG); /* out of memory: treat as too big */
    }
    if (!fin)
        return FA_NONE;
    int kind = fi->opcode;
    fi->opcode = 0;
    if (kind == OP_TEXT && fi->utf8.state != 0)
        return fail(code, CLOSE_BAD_DATA);
    if (fi->msg.len > 0) {
        *msg = fi->msg.data;
        *msg_len = fi->msg.len;
        fi->msg.len = 0; /* the bytes stay valid until the next feed */
    } else {
        *msg = data;
        *msg_len = len;
    }
    return kind == OP_TEXT ? FA_TEXT : FA_BINARY;
}

size_t frame_header(unsigned char *hdr, int opcode, size_t len)
{
    hdr[0] = (unsigned char)(0x80 | (opcode & 0x0f));
    if (len < 126) {
        hdr[1] = (unsigned char)len;
        return 2;
    }
    if (len <= 0xffff) {
        hdr[1] = 126;
        hdr[2] = (unsigned char)(len >> 8);
        hdr[3] = (unsigned char)len;
        return 4;
    }
    hdr[1] = 127;
    for (int i = 0; i < 8; i++)
        hdr[2 + i] = (unsigned char)((uint64_t)len >> (8 * (7 - i)));
    return 10;
}
