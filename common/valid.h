/* valid.h -- the field rules of docs/protocol.md, and UTF-8.
 *
 * Pure functions of their input; any thread. Every function borrows its
 * input and takes an explicit length, since strings from JSON may hold NUL. */
#ifndef VALID_H
#define VALID_H

#include <stdbool.h>
#include <stddef.h>

#define ROOM_MAX 64       /* bytes of [A-Za-z0-9_.:-] */
#define UID_MAX 64        /* bytes of [A-Za-z0-9_.:@-] */
#define NAME_MAX_CHARS 32 /* Unicode characters, no control characters */
#define NAME_MAX_BYTES (NAME_MAX_CHARS * 4)
#define CLIENT_ID_MAX 64  /* bytes, any UTF-8 but no control characters */

/* True when s[0..len) is well-formed UTF-8 (RFC 3629: no overlongs, no
 * surrogates, nothing above U+10FFFF). */
bool valid_utf8(const char *s, size_t len);

/* Incremental UTF-8 check for fragmented WebSocket messages. Start with
 * state 0; feed chunks in order; returns false as soon as the bytes so far
 * cannot begin valid UTF-8. At the end the text is valid only when
 * utf8_state is 0 again (no sequence left open). */
typedef struct utf8_check {
    unsigned state;  /* continuation bytes still expected */
    unsigned cp;     /* code point so far */
    unsigned min;    /* smallest code point the open sequence may encode */
} utf8_check;
bool valid_utf8_feed(utf8_check *c, const unsigned char *s, size_t len);

bool valid_room(const char *s, size_t len);      /* 1-64 of [A-Za-z0-9_.:-] */
bool valid_uid(const char *s, size_t len);       /* 1-64 of [A-Za-z0-9_.:@-] */
bool valid_name(const char *s, size_t len);      /* 1-32 chars, UTF-8, no Cc */
bool valid_client_id(const char *s, size_t len); /* 1-64 bytes UTF-8, no Cc */

/* Binary messages (docs/protocol.md "Binary messages"). */
#define MIME_TYPE_MAX 127  /* bytes, the whole `word/word` */
#define FILENAME_MAX_BYTES 255
/* `word/word`: one `/` with at least one byte of [A-Za-z0-9!#$&^_.+-] on
 * each side, at most MIME_TYPE_MAX bytes in all. */
bool valid_mime_type(const char *s, size_t len);
/* 1-255 bytes of UTF-8, no `/`, `\` or control characters (Cc). */
bool valid_filename(const char *s, size_t len);

#endif
