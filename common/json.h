/* json.h -- strict JSON in, for frames from clients (json-c underneath).
 *
 * json-c is lax by default: comments, single quotes, trailing
 * commas, NaN, 1e400 and trailing garbage get through. json_parse_strict()
 * accepts exactly RFC 8259 text holding one object, nothing after it but
 * white space. Any thread; a json_object must stay on the thread that made
 * it (json-c reference counts are not atomic). */
#ifndef JSON_H
#define JSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rc.h"

#define JSON_DEPTH_MAX 16

/* Parses text[0..len) (need not be NUL-terminated). On RC_OK *out is an
 * owned object (free with json_object_put). RC_BAD_JSON when the text is not
 * strict JSON (NaN and Infinity are not), nests deeper than JSON_DEPTH_MAX
 * or repeats a key; RC_BAD_REQUEST when it is strict JSON but not an
 * object; RC_NOMEM. A number too large for an int64 or a double is valid
 * JSON: it is kept as a double (infinite when it overflows one), which
 * json_get_int refuses, so the caller names the field. */
rc json_parse_strict(const char *text, size_t len, json_object **out);

/* Field readers. Each returns RC_OK and sets the out-params when `key` is
 * present with the right type; RC_BAD_REQUEST when it is present with another
 * type; for a missing key RC_BAD_REQUEST when `required`, else RC_OK with
 * *present (when non-NULL) false. Strings are borrowed from obj. */
rc json_get_string(json_object *obj, const char *key, bool required,
                   const char **s, size_t *len, bool *present);
rc json_get_int(json_object *obj, const char *key, bool required,
                int64_t *v, bool *present);

#endif
