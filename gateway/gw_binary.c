/* gw_binary.c -- parsing a client's binary message; see gw_binary.h.
 *
 * Called by a connection's worker thread (gw_ws.c) for every complete
 * binary WebSocket message, before anything reaches the broker. The order
 * of the checks is the order of the layout, so the first thing wrong is
 * the one reported; the `id` is read before any field is judged, so every
 * bad_request about a header that had a valid id carries it. */
#include "gw_binary.h"

#include <string.h>

#include "json.h"
#include "protocol.h"
#include "valid.h"

void binary_length_put(unsigned char *p, size_t n)
{
    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
}

void binary_free(binary_msg *m)
{
    if (m == NULL)
        return;
    if (m->obj != NULL)
        json_object_put(m->obj);
    m->obj = NULL;
}

static rc fail(const char **why, rc r, const char *text)
{
    *why = text;
    return r;
}

/* An optional string field that must pass `ok` when present. */
static bool optional(json_object *obj, const char *key,
                     bool (*ok)(const char *, size_t), const char **s,
                     size_t *len)
{
    bool present = false;
    if (json_get_string(obj, key, false, s, len, &present) != RC_OK)
        return false;
    if (!present) {
        *s = NULL;
        *len = 0;
        return true;
    }
    return ok(*s, *len);
}

rc binary_parse(const char *data, size_t len, binary_msg *m,
                const char **why)
{
    memset(m, 0, sizeof *m);
    if (len < 4)
        return fail(why, RC_BAD_JSON, "a binary message starts with a "
                    "4-byte header length");
    const unsigned char *u = (const unsigned char *)data;
    size_t n = (size_t)u[0] << 24 | (size_t)u[1] << 16 | (size_t)u[2] << 8 |
               (size_t)u[3];
    if (n < 1 || n > BINARY_HEADER_MAX || n > len - 4)
        return fail(why, RC_BAD_JSON, "the header length must be 1-4096 "
                    "and within the message");
    rc r = json_parse_strict(data + 4, n, &m->obj);
    if (r == RC_BAD_JSON || r == RC_NOMEM)
        return fail(why, r, r == RC_NOMEM ? "out of memory"
                                          : "the header is not strict JSON "
                                            "(RFC 8259)");
    if (r != RC_OK)
        return fail(why, RC_BAD_REQUEST, "the header must be a JSON object");
    const char *id, *event, *room;
    size_t id_len, event_len, room_len;
    bool has_id = false;
    if (json_get_string(m->obj, "id", false, &id, &id_len, &has_id) !=
        RC_OK)
        has_id = true; /* present, but not a string */
    else if (has_id && valid_client_id(id, id_len)) {
        m->id = id;
        m->id_len = id_len;
    }
    if (json_get_string(m->obj, "event", true, &event, &event_len, NULL) !=
            RC_OK ||
        event_len != 7 || memcmp(event, "message", 7) != 0)
        return fail(why, RC_BAD_REQUEST, "the header's event must be "
                    "\"message\"");
    if (json_get_string(m->obj, "room", true, &room, &room_len, NULL) !=
            RC_OK ||
        !valid_room(room, room_len))
        return fail(why, RC_BAD_REQUEST, "room must be 1-64 characters of "
                    "A-Z a-z 0-9 _ . : -");
    m->room = room;
    if (has_id && m->id == NULL)
        return fail(why, RC_BAD_REQUEST, "id must be a string of 1-64 "
                    "bytes");
    if (!optional(m->obj, "type", valid_mime_type, &m->type, &m->type_len))
        return fail(why, RC_BAD_REQUEST, "type must be a MIME type "
                    "word/word of at most 127 bytes");
    if (m->type == NULL) {
        m->type = BINARY_DEFAULT_TYPE;
        m->type_len = sizeof BINARY_DEFAULT_TYPE - 1;
    }
    if (!optional(m->obj, "filename", valid_filename, &m->filename,
                  &m->filename_len))
        return fail(why, RC_BAD_REQUEST, "filename must be 1-255 bytes of "
                    "UTF-8 without / \\ or control characters");
    m->payload = data + 4 + n;
    m->payload_len = len - 4 - n;
    if (m->payload_len == 0)
        return fail(why, RC_BAD_REQUEST, "the payload is empty");
    return RC_OK;
}
