/* bk_render.c -- see bk_render.h. */
#include "bk_render.h"

#include "jsonw.h"

void render_open(wbuf *w, const char *event)
{
    jsonw_raw(w, "{\"event\":");
    jsonw_cstr(w, event);
}

/* The fields every message has, after `{"event":"message"`. */
static void render_message_head(wbuf *w, const stored_msg *m)
{
    render_open(w, "message");
    jsonw_key(w, "room");
    jsonw_cstr(w, m->room);
    jsonw_key(w, "uid");
    jsonw_cstr(w, m->uid);
    jsonw_key(w, "name");
    jsonw_cstr(w, m->name);
}

/* A binary message's own fields: type, size, filename?. */
static void render_binary_fields(wbuf *w, const stored_msg *m)
{
    jsonw_key(w, "type");
    jsonw_cstr(w, m->type);
    jsonw_key(w, "size");
    jsonw_i64(w, (int64_t)m->size);
    if (m->filename != NULL) {
        jsonw_key(w, "filename");
        jsonw_cstr(w, m->filename);
    }
}

/* `,"seq":S,"ts":T` and `,"id":ID` when the sender gave one: where a
 * message stands, the same in every form it is sent in. */
static void render_message_place(wbuf *w, const stored_msg *m)
{
    jsonw_key(w, "seq");
    jsonw_i64(w, (int64_t)m->seq);
    jsonw_key(w, "ts");
    jsonw_i64(w, m->ts);
    if (m->cid != NULL) {
        jsonw_key(w, "id");
        jsonw_cstr(w, m->cid);
    }
}

bool render_is_binary(const stored_msg *m)
{
    return m->type != NULL && m->data != NULL;
}

void render_binary(wbuf *w, const stored_msg *m, bool replay)
{
    size_t at = w->len;
    wbuf_bytes(w, "\0\0\0\0", 4); /* the header length, set below */
    render_message_head(w, m);
    render_message_place(w, m);
    render_binary_fields(w, m);
    if (replay)
        jsonw_raw(w, ",\"replay\":true");
    jsonw_raw(w, "}");
    if (w->failed)
        return;
    size_t n = w->len - at - 4;
    unsigned char *p = (unsigned char *)w->data + at;
    p[0] = (unsigned char)(n >> 24);
    p[1] = (unsigned char)(n >> 16);
    p[2] = (unsigned char)(n >> 8);
    p[3] = (unsigned char)n;
    wbuf_bytes(w, m->data, m->size);
}

/* `"..."`: data[0..n) in standard base64 (RFC 4648, with padding). */
static void render_base64(wbuf *w, const unsigned char *d, size_t n)
{
    static const char A[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char chunk[4 * 1024];
    size_t k = 0;
    wbuf_u8(w, '"');
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)d[i + 1] << 8;
        if (i + 2 < n)
            v |= d[i + 2];
        chunk[k++] = A[v >> 18];
        chunk[k++] = A[(v >> 12) & 63];
        chunk[k++] = i + 1 < n ? A[(v >> 6) & 63] : '=';
        chunk[k++] = i + 2 < n ? A[v & 63] : '=';
        if (k == sizeof chunk) {
            wbuf_bytes(w, chunk, k);
            k = 0;
        }
    }
    wbuf_bytes(w, chunk, k);
    wbuf_u8(w, '"');
}

void render_history_item(wbuf *w, const stored_msg *m)
{
    if (!render_is_binary(m)) {
        render_message(w, m, false);
        return;
    }
    render_message_head(w, m);
    render_binary_fields(w, m);
    jsonw_key(w, "data");
    render_base64(w, m->data, m->size);
    render_message_place(w, m);
    jsonw_raw(w, "}");
}

void render_message(wbuf *w, const stored_msg *m, bool replay)
{
    render_message_head(w, m);
    if (m->deleted) {
        /* the placeholder: neither text nor type, size or file name */
    } else if (m->type == NULL) {
        jsonw_key(w, "message");
        jsonw_str(w, m->text, m->text_len);
    } else {
        render_binary_fields(w, m); /* webhooks */
    }
    render_message_place(w, m);
    if (replay)
        jsonw_raw(w, ",\"replay\":true");
    if (m->deleted)
        jsonw_raw(w, ",\"deleted\":true");
    jsonw_raw(w, "}");
}

void render_delete(wbuf *w, const char *room, uint64_t seq, const char *by)
{
    render_open(w, "delete");
    jsonw_key(w, "room");
    jsonw_cstr(w, room);
    jsonw_key(w, "seq");
    jsonw_i64(w, (int64_t)seq);
    jsonw_key(w, "by");
    jsonw_cstr(w, by);
    jsonw_raw(w, "}");
}

void render_error(wbuf *w, rc r, const char *message, const char *id)
{
    render_open(w, "error");
    jsonw_key(w, "code");
    jsonw_cstr(w, rc_code(r));
    jsonw_key(w, "message");
    jsonw_cstr(w, message);
    if (id != NULL && id[0] != 0) {
        jsonw_key(w, "id");
        jsonw_cstr(w, id);
    }
    jsonw_raw(w, "}");
}

void render_counts(wbuf *w, const char *event, const room *rm,
                   const member *m, size_t num, size_t total, bool with_seq,
                   bool truncated)
{
    render_open(w, event);
    jsonw_key(w, "room");
    jsonw_cstr(w, rm->name);
    jsonw_key(w, "uid");
    jsonw_cstr(w, m->uid);
    jsonw_key(w, "name");
    jsonw_cstr(w, m->name);
    jsonw_key(w, "num");
    jsonw_i64(w, (int64_t)num);
    jsonw_key(w, "total");
    jsonw_i64(w, (int64_t)total);
    if (with_seq) {
        jsonw_key(w, "seq");
        jsonw_i64(w, (int64_t)rm->last_seq);
    }
    if (truncated)
        jsonw_raw(w, ",\"truncated\":true");
    jsonw_raw(w, "}");
}

void render_counts_by(wbuf *w, const char *event, const room *rm,
                      const member *m, size_t num, size_t total,
                      const char *by)
{
    render_counts(w, event, rm, m, num, total, false, false);
    if (w->failed || w->len == 0)
        return;
    w->len--; /* reopen the object: drop its closing brace */
    jsonw_key(w, "by");
    jsonw_cstr(w, by);
    jsonw_raw(w, "}");
}
