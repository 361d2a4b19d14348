/* gw_frame.h -- RFC 6455 rules for frames from a client.
 *
 * civetweb 1.15 hands over every frame as it arrives, with its first header
 * byte, and enforces almost nothing: no reassembly, no UTF-8
 * check, RSV bits and reserved opcodes passed through. This module is the
 * per-connection state machine that does all of that, apart from civetweb,
 * so it can be tested and fuzzed alone. One connection's frames arrive on
 * its own worker thread; a frame_in belongs to that thread. */
#ifndef GW_FRAME_H
#define GW_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "valid.h"
#include "buf.h"

enum frame_action {
    FA_NONE,   /* a fragment was taken in; nothing to do yet */
    FA_TEXT,   /* a complete text message (valid UTF-8) */
    FA_BINARY, /* a complete binary message */
    FA_PING,   /* answer with a pong carrying the same payload */
    FA_PONG,   /* ignore (it still counts as a sign of life) */
    FA_CLOSE,  /* answer with a close frame echoing *code (0: no body) */
    FA_FAIL,   /* close with *code: 1002, 1007 or 1009 */
};

typedef struct frame_in {
    wbuf msg;       /* fragments so far */
    int opcode;     /* 1 or 2 while a fragmented message is open, else 0 */
    utf8_check utf8;
    size_t max;     /* most bytes in one text message */
    size_t max_binary; /* most bytes in one binary message */
} frame_in;

/* Both caps start at max; set max_binary after it to tell them apart. A
 * message over its cap (all fragments together) fails with 1009. */
void frame_in_init(frame_in *fi, size_t max);
void frame_in_free(frame_in *fi); /* NULL ok */

/* Feeds one frame: bits is its first header byte, data its unmasked
 * payload (borrowed). On FA_TEXT/FA_BINARY *msg and *msg_len give the whole
 * message, valid until the next call. On FA_CLOSE/FA_FAIL *code is set. */
enum frame_action frame_in_feed(frame_in *fi, int bits, const char *data,
                                size_t len, const char **msg,
                                size_t *msg_len, uint16_t *code);

/* Writes a server frame (FIN, unmasked) header for opcode and len into
 * hdr (at least 10 bytes); returns the header length. */
size_t frame_header(unsigned char *hdr, int opcode, size_t len);

#endif
