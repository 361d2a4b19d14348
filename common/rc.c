/* rc.c -- names of the error values; see rc.h. */
#include "rc.h"

static const struct {
    const char *str;
    const char *code;
} RC_TABLE[RC__COUNT] = {
    [RC_OK] = {"ok", "internal"},
    [RC_NOMEM] = {"out of memory", "internal"},
    [RC_BAD_JSON] = {"not a strict JSON object", "bad_json"},
    [RC_BAD_REQUEST] = {"a field is missing or invalid", "bad_request"},
    [RC_UNKNOWN_EVENT] = {"unknown event", "unknown_event"},
    [RC_UNSUPPORTED] = {"not supported", "unsupported"},
    [RC_TOO_LARGE] = {"too large", "too_large"},
    [RC_RATE_LIMITED] = {"rate limit exceeded", "rate_limited"},
    [RC_NOT_IN_ROOM] = {"not in that room", "not_in_room"},
    [RC_FORBIDDEN] = {"forbidden", "forbidden"},
    [RC_UNAVAILABLE] = {"the broker cannot be reached", "unavailable"},
    [RC_INTERNAL] = {"internal error", "internal"},
    [RC_NOAUTH] = {"not authenticated", "internal"},
    [RC_CONFIG] = {"bad configuration", "internal"},
    [RC_IO] = {"input/output error", "internal"},
    [RC_PROTO] = {"malformed internal envelope", "internal"},
    [RC_DB] = {"database error", "internal"},
    [RC_AGAIN] = {"try again", "internal"},
    [RC_NOT_FOUND] = {"not found", "not_found"},
    [RC_UNAUTHORIZED] = {"unauthorized", "unauthorized"},
};

const char *rc_str(rc r)
{
    if ((unsigned)r >= RC__COUNT)
        return "unknown error";
    return RC_TABLE[r].str;
}

const char *rc_code(rc r)
{
    if ((unsigned)r >= RC__COUNT)
        return "internal";
    return RC_TABLE[r].code;
}
