/* gw_api.c -- the HTTP side of the server API (docs/protocol.md, "Server API");
 * see gw_api.h.
 *
 * What happens here: the key check, reading the body within API_BODY_MAX,
 * routing a method and path to an operation, checking every field by the
 * protocol's rules, and turning the request into one EV_API record; then
 * the worker waits (gw_request.c) for the broker's answer and writes it.
 * The broker makes every answer but the ones about the HTTP request itself
 * (401, 404 for an unknown path, 413, 400 for a bad body or field, 503
 * when it cannot be reached or does not answer within API_TIMEOUT_MS).
 *
 * Bodies: a Content-Length over API_BODY_MAX is refused with 413 before
 * anything is read or allocated; a body without a length (chunked) is read
 * in steps and refused once it passes the cap. All bodies being read
 * together may hold at most API_BODIES_MAX bytes (more waiters get 503):
 * memory stays bounded whatever the clients do.
 *
 * Threads: civetweb worker threads (one per HTTP request); the counters
 * are atomics read by the /metrics handler. */
#include "gw_api.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw_b64.h"
#include "gw_binary.h"
#include "gw_link.h"
#include "gw_request.h"
#include "json.h"
#include "jsonw.h"
#include "log.h"
#include "protocol.h"
#include "valid.h"
#include "wire.h"

#define API_TIMEOUT_MS 5000
#define API_BODIES_MAX (4 * (size_t)API_BODY_MAX)

/* Routes; ROUTE_NONE counts unknown paths. Labels are for /metrics. */
enum route {
    ROUTE_NONE,
    ROUTE_PUBLISH,
    ROUTE_ROOMS,
    ROUTE_ROOM,
    ROUTE_MEMBERS,
    ROUTE_HISTORY,
    ROUTE_DELETE,
    ROUTE_REMOVE,
    ROUTE_DISCONNECT,
    ROUTE__COUNT
};
static const char *const ROUTE_LABEL[ROUTE__COUNT] = {
    [ROUTE_NONE] = "other",
    [ROUTE_PUBLISH] = "POST /api/v1/publish",
    [ROUTE_ROOMS] = "GET /api/v1/rooms",
    [ROUTE_ROOM] = "GET /api/v1/rooms/ROOM",
    [ROUTE_MEMBERS] = "GET /api/v1/rooms/ROOM/members",
    [ROUTE_HISTORY] = "GET /api/v1/rooms/ROOM/history",
    [ROUTE_DELETE] = "DELETE /api/v1/rooms/ROOM/messages/SEQ",
    [ROUTE_REMOVE] = "DELETE /api/v1/rooms/ROOM/members/UID",
    [ROUTE_DISCONNECT] = "POST /api/v1/disconnect",
};
static const unsigned STATUSES[] = {200, 400, 401, 403, 404, 413, 500, 503};
#define NSTATUS (sizeof STATUSES / sizeof STATUSES[0])

static struct {
    const config *cfg;
    bool on;
    atomic_size_t body_bytes; /* bodies being read now */
    atomic_ullong count[ROUTE__COUNT][NSTATUS + 1]; /* last: other status */
} api_state;

/* One API request being served. */
typedef struct api_call {
    struct mg_connection *mg;
    enum route route;
    wire_event_rec rec;  /* what goes to the broker (strings borrowed) */
    char room[ROOM_MAX + 1];
    char uid[UID_MAX + 1];
    char after[UID_MAX + 1];
    char prefix[ROOM_MAX + 1];
    char *body;          /* owned */
    size_t body_len;
    size_t reserved;     /* bytes counted in api_state.body_bytes */
    json_object *json;   /* owned */
    char *data;          /* decoded base64 payload, owned */
} api_call;

/* --- answers ----------------------------------------------------------- */

static const char *reason_of(unsigned status)
{
    switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 413: return "Content Too Large";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

static void count(enum route route, unsigned status)
{
    size_t i = 0;
    while (i < NSTATUS && STATUSES[i] != status)
        i++;
    atomic_fetch_add(&api_state.count[route][i], 1);
}

static int respond(api_call *q, unsigned status, const char *body,
                   size_t len)
{
    mg_printf(q->mg,
              "HTTP/1.1 %u %s\r\nContent-Type: application/json\r\n"
              "Cache-Control: no-store\r\nContent-Length: %zu\r\n"
              "%s"
              "Connection: close\r\n\r\n",
              status, reason_of(status), len,
              status == 401 ? "WWW-Authenticate: Bearer\r\n" : "");
    mg_write(q->mg, body, len);
    count(q->route, status);
    return (int)status;
}

static int respond_error(api_call *q, rc r, const char *message)
{
    unsigned status;
    switch (r) {
    case RC_BAD_JSON:
    case RC_BAD_REQUEST: status = 400; break;
    case RC_UNAUTHORIZED: status = 401; break;
    case RC_FORBIDDEN: status = 403; break;
    case RC_NOT_FOUND: status = 404; break;
    case RC_TOO_LARGE: status = 413; break;
    case RC_UNAVAILABLE: status = 503; break;
    default: status = 500; r = RC_INTERNAL; break;
    }
    wbuf w = {0};
    jsonw_raw(&w, "{\"error\":{\"code\":");
    jsonw_cstr(&w, rc_code(r));
    jsonw_key(&w, "message");
    jsonw_cstr(&w, message);
    jsonw_raw(&w, "}}");
    int ret = w.failed ? respond(q, 500, "", 0)
                       : respond(q, status, w.data, w.len);
    wbuf_free(&w);
    return ret;
}

/* --- the key ----------------------------------------------------------- */

/* Compares in time that depends on the key's length only, never on where
 * the given text first differs. */
static bool key_equal(const char *key, const char *given)
{
    size_t n = strlen(key), m = strlen(given);
    volatile unsigned char d = n != m;
    for (size_t i = 0; i < n; i++)
        d |= (unsigned char)key[i] ^ (unsigned char)(i < m ? given[i] : 0);
    return d == 0;
}

static bool authorized(struct mg_connection *mg)
{
    const char *h = mg_get_header(mg, "Authorization");
    if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
        return false;
    h += 7;
    while (*h == ' ')
        h++;
    return key_equal(api_state.cfg->api_key, h);
}

/* --- the body ---------------------------------------------------------- */

static bool reserve(api_call *q, size_t n)
{
    size_t now = atomic_fetch_add(&api_state.body_bytes, n);
    q->reserved += n;
    return now + n <= API_BODIES_MAX;
}

/* Reads the whole body into q->body (NUL-terminated). RC_TOO_LARGE past
 * API_BODY_MAX, RC_UNAVAILABLE when too many bodies are being read,
 * RC_BAD_REQUEST when it cannot be read. */
static rc read_body(api_call *q)
{
    long long declared = mg_get_request_info(q->mg)->content_length;
    if (declared > (long long)API_BODY_MAX)
        return RC_TOO_LARGE;
    /* Without a length (chunked), grow in steps up to the cap. */
    size_t cap = declared >= 0 ? (size_t)declared : 65536;
    if (!reserve(q, cap + 1))
        return RC_UNAVAILABLE;
    q->body = malloc(cap + 1);
    if (q->body == NULL)
        return RC_NOMEM;
    for (;;) {
        if (q->body_len == cap) {
            if (declared >= 0)
                break;
            if (cap >= API_BODY_MAX) {
                char probe;
                if (mg_read(q->mg, &probe, 1) > 0)
                    return RC_TOO_LARGE;
                break;
            }
            size_t more = cap > API_BODY_MAX - cap ? API_BODY_MAX - cap : cap;
            if (!reserve(q, more))
                return RC_UNAVAILABLE;
            char *b = realloc(q->body, cap + more + 1);
            if (b == NULL)
                return RC_NOMEM;
            q->body = b;
            cap += more;
        }
        int n = mg_read(q->mg, q->body + q->body_len, cap - q->body_len);
        if (n < 0)
            return RC_BAD_REQUEST;
        if (n == 0)
            break;
        q->body_len += (size_t)n;
    }
    if (declared >= 0 && q->body_len != (size_t)declared)
        return RC_BAD_REQUEST;
    q->body[q->body_len] = 0;
    return RC_OK;
}

/* --- fields ------------------------------------------------------------ */

/* An optional string field of the body that must pass `ok`. */
static rc body_str(api_call *q, const char *key, bool (*ok)(const char *,
                                                            size_t),
                   const char **out)
{
    const char *s;
    size_t n;
    bool has = false;
    if (json_get_string(q->json, key, false, &s, &n, &has) != RC_OK ||
        (has && (strlen(s) != n || !ok(s, n))))
        return RC_BAD_REQUEST;
    if (has)
        *out = s;
    return RC_OK;
}

static int publish(api_call *q)
{
    wire_event_rec *r = &q->rec;
    const char *room = NULL;
    if (body_str(q, "room", valid_room, &room) != RC_OK || room == NULL)
        return respond_error(q, RC_BAD_REQUEST, "room must be 1-64 "
                             "characters of A-Z a-z 0-9 _ . : -");
    r->room = room;
    if (body_str(q, "uid", valid_uid, &r->uid) != RC_OK)
        return respond_error(q, RC_BAD_REQUEST, "uid must be 1-64 "
                             "characters of A-Z a-z 0-9 _ . : @ -");
    if (body_str(q, "name", valid_name, &r->name) != RC_OK)
        return respond_error(q, RC_BAD_REQUEST, "name must be 1-32 "
                             "characters, no control characters");
    if (body_str(q, "id", valid_client_id, &r->id) != RC_OK)
        return respond_error(q, RC_BAD_REQUEST, "id must be a string of 1-64 "
                             "bytes");
    const char *text = NULL, *data = NULL;
    size_t text_len = 0, data_len = 0;
    bool has_text = false, has_data = false;
    if (json_get_string(q->json, "message", false, &text, &text_len,
                        &has_text) != RC_OK ||
        json_get_string(q->json, "data", false, &data, &data_len,
                        &has_data) != RC_OK ||
        has_text == has_data)
        return respond_error(q, RC_BAD_REQUEST, "give either message (text) "
                             "or data (base64), as a string");
    if (has_text) {
        if (text_len > (size_t)api_state.cfg->max_message_bytes)
            return respond_error(q, RC_TOO_LARGE, "message is over "
                                 "max_message_bytes");
        r->text = text;
        r->text_len = text_len;
        return 0;
    }
    r->mime = BINARY_DEFAULT_TYPE;
    if (body_str(q, "type", valid_mime_type, &r->mime) != RC_OK)
        return respond_error(q, RC_BAD_REQUEST, "type must be a MIME type "
                             "word/word");
    if (body_str(q, "filename", valid_filename, &r->filename) != RC_OK)
        return respond_error(q, RC_BAD_REQUEST, "filename must be 1-255 "
                             "bytes, no / \\ or control characters");
    rc rr = b64_decode(data, data_len, (size_t)api_state.cfg->max_binary_bytes,
                       &q->data, &r->data_len);
    if (rr == RC_TOO_LARGE)
        return respond_error(q, rr, "data is over max_binary_bytes");
    if (rr != RC_OK || r->data_len == 0)
        return respond_error(q, rr == RC_NOMEM ? RC_INTERNAL : RC_BAD_REQUEST,
                             "data must be standard base64 of at least 1 "
                             "byte");
    r->data = q->data;
    r->binary = true;
    return 0;
}

/* --- routing ----------------------------------------------------------- */

/* Copies path segment i (0-based, after "/api/v1/") into out; false when
 * it is missing or too long. */
static bool segment(const char *path, int i, char *out, size_t cap)
{
    for (; i > 0; i--) {
        path = strchr(path, '/');
        if (path == NULL)
            return false;
        path++;
    }
    size_t n = strcspn(path, "/");
    if (n >= cap)
        return false;
    memcpy(out, path, n);
    out[n] = 0;
    return true;
}

static int segments(const char *path)
{
    int n = 1;
    for (; *path; path++)
        n += *path == '/';
    return n;
}

/* Decimal integer, the whole text, optional '-'; false otherwise. */
static bool parse_i64(const char *s, int64_t *v)
{
    bool neg = *s == '-';
    s += neg;
    if (*s == 0 || strlen(s) > 18)
        return false;
    int64_t x = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        x = x * 10 + (*s - '0');
    }
    *v = neg ? -x : x;
    return true;
}

/* Query parameter `name` into out: 1 present, 0 absent, -1 too long. */
static int query(api_call *q, const char *name, char *out, size_t cap)
{
    const char *qs = mg_get_request_info(q->mg)->query_string;
    if (qs == NULL)
        return 0;
    int n = mg_get_var(qs, strlen(qs), name, out, cap);
    if (n == -2 || (n >= 0 && strlen(out) != (size_t)n))
        return -1;
    return n >= 0 ? 1 : 0;
}

/* Which request (method, path) is; fills q->rec from the path and query.
 * Returns 0 or, when it has answered an error itself, the status. */
static int route(api_call *q, const char *method, const char *path)
{
    wire_event_rec *r = &q->rec;
    char seg[32];
    int n = segments(path);
    bool get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;
    bool del = strcmp(method, "DELETE") == 0;
    const char *s1 = strchr(path, '/') ? strchr(path, '/') + 1 : "";
    if (n == 1 && post && strcmp(path, "publish") == 0)
        q->route = ROUTE_PUBLISH, r->op = API_PUBLISH;
    else if (n == 1 && post && strcmp(path, "disconnect") == 0)
        q->route = ROUTE_DISCONNECT, r->op = API_DISCONNECT;
    else if (n == 1 && get && strcmp(path, "rooms") == 0)
        q->route = ROUTE_ROOMS, r->op = API_ROOMS;
    else if (strncmp(path, "rooms/", 6) != 0 || n < 2 || n > 4)
        return respond_error(q, RC_NOT_FOUND, "no such request");
    else if (n == 2 && get)
        q->route = ROUTE_ROOM, r->op = API_ROOM;
    else if (n == 3 && get && segment(s1, 1, seg, sizeof seg) &&
             strcmp(seg, "members") == 0)
        q->route = ROUTE_MEMBERS, r->op = API_MEMBERS;
    else if (n == 3 && get && segment(s1, 1, seg, sizeof seg) &&
             strcmp(seg, "history") == 0)
        q->route = ROUTE_HISTORY, r->op = API_HISTORY;
    else if (n == 4 && del && segment(s1, 1, seg, sizeof seg) &&
             strcmp(seg, "messages") == 0)
        q->route = ROUTE_DELETE, r->op = API_DELETE;
    else if (n == 4 && del && segment(s1, 1, seg, sizeof seg) &&
             strcmp(seg, "members") == 0)
        q->route = ROUTE_REMOVE, r->op = API_REMOVE;
    else
        return respond_error(q, RC_NOT_FOUND, "no such request");
    if (n >= 2 && (!segment(s1, 0, q->room, sizeof q->room) ||
                   !valid_room(q->room, strlen(q->room))))
        return respond_error(q, RC_BAD_REQUEST, "ROOM must be 1-64 "
                             "characters of A-Z a-z 0-9 _ . : -");
    r->room = q->room;
    if (q->route == ROUTE_DELETE) {
        int64_t seq;
        if (!segment(s1, 2, seg, sizeof seg) || seg[0] == '-' ||
            !parse_i64(seg, &seq))
            return respond_error(q, RC_BAD_REQUEST, "SEQ must be a seq (an "
                                 "integer >= 0)");
        r->seq = (uint64_t)seq;
    }
    if (q->route == ROUTE_REMOVE &&
        (!segment(s1, 2, q->uid, sizeof q->uid) ||
         !valid_uid(q->uid, strlen(q->uid))))
        return respond_error(q, RC_BAD_REQUEST, "UID must be 1-64 "
                             "characters of A-Z a-z 0-9 _ . : @ -");
    r->uid = q->uid;
    return 0;
}

/* An optional integer query parameter that must be >= min; -1 when
 * absent. */
static bool query_int(api_call *q, const char *name, int64_t min, int64_t *v)
{
    char buf[32];
    int r = query(q, name, buf, sizeof buf);
    *v = -1;
    return r == 0 || (r == 1 && parse_i64(buf, v) && *v >= min);
}

/* The query of GET requests. */
static int read_query(api_call *q)
{
    wire_event_rec *r = &q->rec;
    if (!query_int(q, "limit", 1, &r->limit)) /* -1: the broker's default */
        return respond_error(q, RC_BAD_REQUEST, "limit must be an integer "
                             ">= 1");
    if (q->route == ROUTE_HISTORY && !query_int(q, "before", 0, &r->before))
        return respond_error(q, RC_BAD_REQUEST, "before must be a seq (an "
                             "integer >= 0)");
    if (q->route == ROUTE_ROOMS || q->route == ROUTE_MEMBERS) {
        int a = query(q, "after", q->after, sizeof q->after);
        bool ok = a == 0 || (a == 1 && (q->route == ROUTE_ROOMS
                                            ? valid_room(q->after,
                                                         strlen(q->after))
                                            : valid_uid(q->after,
                                                        strlen(q->after))));
        if (!ok)
            return respond_error(q, RC_BAD_REQUEST, q->route == ROUTE_ROOMS
                                 ? "after must be a room name"
                                 : "after must be a uid");
        r->after = q->after;
    }
    if (q->route == ROUTE_ROOMS) {
        int p = query(q, "prefix", q->prefix, sizeof q->prefix);
        if (p < 0 || (p == 1 && q->prefix[0] != 0 &&
                      !valid_room(q->prefix, strlen(q->prefix))))
            return respond_error(q, RC_BAD_REQUEST, "prefix must be up to 64 "
                                 "characters of A-Z a-z 0-9 _ . : -");
        r->prefix = q->prefix;
    }
    return 0;
}

/* The body of POST requests. */
static int read_json(api_call *q)
{
    rc r = read_body(q);
    if (r == RC_TOO_LARGE)
        return respond_error(q, r, "the body is over 24 MiB");
    if (r == RC_UNAVAILABLE)
        return respond_error(q, r, "too many large requests at once; try "
                             "again");
    if (r != RC_OK)
        return respond_error(q, r, "the body could not be read");
    r = json_parse_strict(q->body, q->body_len, &q->json);
    if (r != RC_OK)
        return respond_error(q, r, r == RC_BAD_JSON ? "not strict JSON (RFC "
                             "8259)" : "the body must be a JSON object");
    if (q->route == ROUTE_PUBLISH)
        return publish(q);
    if (body_str(q, "uid", valid_uid, &q->rec.uid) != RC_OK ||
        q->rec.uid[0] == 0)
        return respond_error(q, RC_BAD_REQUEST, "uid must be 1-64 "
                             "characters of A-Z a-z 0-9 _ . : @ -");
    return 0;
}

/* Ships the record and writes the broker's answer. */
static int ask_broker(api_call *q)
{
    static atomic_bool warned;
    gw_request req;
    request_begin(&req);
    q->rec.conn_id = req.id;
    wbuf w = {0};
    wire_api_write(&w, &q->rec);
    uint64_t epoch = 0;
    rc r = w.failed ? RC_NOMEM : gwlink_request(&w, &epoch);
    wbuf_free(&w);
    if (r == RC_OK) {
        request_sent(&req, epoch);
        r = request_wait(&req, API_TIMEOUT_MS);
    }
    int ret;
    if (r == RC_OK && req.status >= 200 && req.status < 600)
        ret = respond(q, req.status, req.body.data ? req.body.data : "",
                      req.body.len);
    else if (r == RC_NOMEM)
        ret = respond_error(q, RC_INTERNAL, "out of memory");
    else {
        if (!atomic_exchange(&warned, true))
            LOG(LOG_WARN, "event=api_unavailable path=\"%s\"",
                ROUTE_LABEL[q->route]);
        ret = respond_error(q, RC_UNAVAILABLE, "the broker cannot be "
                            "reached or did not answer; nothing was done "
                            "that can be seen as done");
    }
    if (r == RC_OK)
        atomic_store(&warned, false);
    request_end(&req);
    return ret;
}

static int api_handler(struct mg_connection *mg, void *cbdata)
{
    (void)cbdata;
    const struct mg_request_info *ri = mg_get_request_info(mg);
    api_call q = {.mg = mg};
    q.rec.room = q.rec.uid = q.rec.name = q.rec.id = q.rec.text = "";
    q.rec.mime = q.rec.filename = q.rec.prefix = q.rec.after = "";
    q.rec.before = q.rec.limit = -1;
    int ret;
    const char *path = ri->local_uri ? ri->local_uri : "";
    if (!api_state.on)
        ret = respond_error(&q, RC_NOT_FOUND, "the server API is off (no "
                            "api_key)");
    else if (!authorized(mg))
        ret = respond_error(&q, RC_UNAUTHORIZED, "send Authorization: "
                            "Bearer with the API key");
    else if (strncmp(path, "/api/v1/", 8) != 0)
        ret = respond_error(&q, RC_NOT_FOUND, "no such request");
    else if ((ret = route(&q, ri->request_method, path + 8)) == 0 &&
             (ret = (q.route == ROUTE_PUBLISH || q.route == ROUTE_DISCONNECT)
                        ? read_json(&q)
                        : read_query(&q)) == 0)
        ret = ask_broker(&q);
    json_object_put(q.json);
    free(q.body);
    free(q.data);
    atomic_fetch_sub(&api_state.body_bytes, q.reserved);
    return ret;
}

void api_start(struct mg_context *ctx, const config *cfg)
{
    api_state.cfg = cfg;
    api_state.on = cfg->api_key[0] != 0;
    mg_set_request_handler(ctx, "/api/", api_handler, NULL);
    mg_set_request_handler(ctx, "/api$", api_handler, NULL);
}

void api_metrics(char *buf, size_t cap, size_t *len)
{
    bool head = false;
    for (int r = 0; r < ROUTE__COUNT; r++)
        for (size_t s = 0; s <= NSTATUS; s++) {
            unsigned long long v = atomic_load(&api_state.count[r][s]);
            if (v == 0 || *len >= cap)
                continue;
            int n = 0;
            if (!head)
                n = snprintf(buf + *len, cap - *len,
                             "# HELP roomcast_api_requests_total Server API "
                             "requests by path and status.\n# TYPE "
                             "roomcast_api_requests_total counter\n");
            head = true;
            if (n > 0 && (size_t)n < cap - *len)
                *len += (size_t)n;
            char status[8];
            snprintf(status, sizeof status, "%u", s < NSTATUS ? STATUSES[s]
                                                              : 0);
            n = snprintf(buf + *len, cap - *len,
                         "roomcast_api_requests_total{path=\"%s\","
                         "status=\"%s\"} %llu\n",
                         ROUTE_LABEL[r], s < NSTATUS ? status : "other", v);
            if (n > 0)
                *len += (size_t)n;
        }
}
