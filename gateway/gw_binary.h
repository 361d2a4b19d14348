/* gw_binary.h -- the layout of a binary chat message (docs/protocol.md, "Binary
 * messages"): a 4-byte big-endian header length N (1..BINARY_HEADER_MAX),
 * N bytes of strict JSON header, then the payload (at least 1 byte).
 *
 * binary_parse checks a client's message strictly and names what is wrong;
 * binary_header_put writes the 4-byte length the same layout begins with
 * (the broker renders outgoing messages with it). Pure functions apart
 * from json-c: any thread; a binary_msg belongs to the thread that parsed
 * it (json-c reference counts are not atomic). */
#ifndef GW_BINARY_H
#define GW_BINARY_H

#include <json-c/json.h>
#include <stddef.h>

#include "rc.h"

#define BINARY_DEFAULT_TYPE "application/octet-stream"

/* A parsed binary message. Strings are borrowed from `obj` (the parsed
 * header), the payload from the caller's bytes. */
typedef struct binary_msg {
    json_object *obj;     /* owned; binary_free drops it */
    const char *room;     /* valid_room */
    const char *id;       /* valid_client_id, or NULL */
    size_t id_len;
    const char *type;     /* valid_mime_type, or BINARY_DEFAULT_TYPE */
    size_t type_len;
    const char *filename; /* valid_filename, or NULL */
    size_t filename_len;
    const char *payload;  /* at least 1 byte */
    size_t payload_len;
} binary_msg;

/* Parses data[0..len) (borrowed; the payload keeps pointing into it).
 * RC_OK: *m is filled. RC_BAD_JSON: the length is bad, or the header is not
 * strict JSON. RC_BAD_REQUEST: the header is not an object, a field is
 * wrong or missing, or the payload is empty. On either error *why is a
 * literal for the client, and m->id is the header's `id` when it had a
 * valid one (else NULL). Call binary_free after any result. */
rc binary_parse(const char *data, size_t len, binary_msg *m,
                const char **why);
void binary_free(binary_msg *m); /* NULL ok; drops obj */

/* Writes n as the 4-byte big-endian length at p. */
void binary_length_put(unsigned char *p, size_t n);

#endif
