/* wire.c -- encoding and bounds-checked decoding; see wire.h. */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

void wbuf_str(wbuf *w, const char *s, size_t n)
{
    if (n > WIRE_STR_MAX) {
        w->failed = true;
        return;
    }
    unsigned char b[4];
    for (int i = 0; i < 4; i++)
        b[i] = (unsigned char)(n >> (8 * i));
    wbuf_bytes(w, b, 4);
    wbuf_bytes(w, s, n);
    wbuf_u8(w, 0);
}

void wbuf_cstr(wbuf *w, const char *s)
{
    wbuf_str(w, s ? s : "", s ? strlen(s) : 0);
}

void wbuf_header(wbuf *w, enum wire_kind kind)
{
    wbuf_u8(w, 'R');
    wbuf_u8(w, WIRE_VERSION);
    wbuf_u8(w, (uint8_t)kind);
}

void rbuf_init(rbuf *r, const void *p, size_t n)
{
    r->p = p;
    r->left = n;
    r->failed = false;
}

static const unsigned char *rbuf_take(rbuf *r, size_t n)
{
    if (r->failed || r->left < n) {
        r->failed = true;
        return NULL;
    }
    const unsigned char *p = r->p;
    r->p += n;
    r->left -= n;
    return p;
}

uint8_t rbuf_u8(rbuf *r)
{
    const unsigned char *p = rbuf_take(r, 1);
    return p ? p[0] : 0;
}

uint64_t rbuf_u64(rbuf *r)
{
    const unsigned char *p = rbuf_take(r, 8);
    uint64_t v = 0;
    if (p != NULL)
        for (int i = 7; i >= 0; i--)
            v = (v << 8) | p[i];
    return v;
}

int64_t rbuf_i64(rbuf *r)
{
    return (int64_t)rbuf_u64(r);
}

const char *rbuf_str(rbuf *r, size_t *len)
{
    const unsigned char *p = rbuf_take(r, 4);
    size_t n = 0;
    if (p != NULL)
        n = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16 |
            (size_t)p[3] << 24;
    if (n > WIRE_STR_MAX)
        r->failed = true;
    const unsigned char *s = r->failed ? NULL : rbuf_take(r, n + 1);
    if (s == NULL || s[n] != 0) {
        r->failed = true;
        if (len)
            *len = 0;
        return "";
    }
    if (len)
        *len = n;
    return (const char *)s;
}

rc rbuf_header(rbuf *r, enum wire_kind *kind)
{
    uint8_t magic = rbuf_u8(r);
    uint8_t version = rbuf_u8(r);
    uint8_t k = rbuf_u8(r);
    if (r->failed || magic != 'R' || version != WIRE_VERSION)
        return RC_PROTO;
    *kind = (enum wire_kind)k;
    return RC_OK;
}

void wire_api_write(wbuf *w, const wire_event_rec *rec)
{
    wbuf_u8(w, EV_API);
    wbuf_u64(w, rec->conn_id);
    wbuf_u8(w, rec->op);
    wbuf_cstr(w, rec->room);
    wbuf_cstr(w, rec->uid);
    wbuf_cstr(w, rec->name);
    wbuf_cstr(w, rec->id);
    if (rec->binary)
        wbuf_str(w, rec->data ? rec->data : "", rec->data ? rec->data_len : 0);
    else
        wbuf_str(w, rec->text ? rec->text : "", rec->text ? rec->text_len : 0);
    wbuf_u8(w, rec->binary ? 1 : 0);
    wbuf_cstr(w, rec->mime);
    wbuf_cstr(w, rec->filename);
    wbuf_cstr(w, rec->prefix);
    wbuf_cstr(w, rec->after);
    wbuf_i64(w, rec->before);
    wbuf_i64(w, rec->limit);
    wbuf_u64(w, rec->seq);
}

bool wire_event_read(rbuf *r, wire_event_rec *rec)
{
    memset(rec, 0, sizeof *rec);
    rec->room = rec->uid = rec->name = rec->text = rec->id = "";
    rec->mime = rec->filename = rec->data = "";
    rec->prefix = rec->after = "";
    rec->since = rec->before = -1;
    rec->type = rbuf_u8(r);
    rec->conn_id = rbuf_u64(r);
    switch (rec->type) {
    case EV_OPEN:
        rec->uid = rbuf_str(r, NULL);
        break;
    case EV_AUTH:
        rec->text = rbuf_str(r, &rec->text_len);
        rec->quiet = rbuf_u8(r) != 0;
        rec->id = rbuf_str(r, NULL);
        break;
    case EV_ENTER:
    case EV_RESUME:
        rec->room = rbuf_str(r, NULL);
        rec->uid = rbuf_str(r, NULL);
        rec->name = rbuf_str(r, NULL);
        rec->since = rbuf_i64(r);
        if (rec->type == EV_ENTER)
            rec->id = rbuf_str(r, NULL);
        break;
    case EV_MESSAGE:
        rec->room = rbuf_str(r, NULL);
        rec->text = rbuf_str(r, &rec->text_len);
        rec->id = rbuf_str(r, NULL);
        break;
    case EV_BINARY:
        rec->room = rbuf_str(r, NULL);
        rec->id = rbuf_str(r, NULL);
        rec->mime = rbuf_str(r, NULL);
        rec->filename = rbuf_str(r, NULL);
        rec->data = rbuf_str(r, &rec->data_len);
        break;
    case EV_LEAVE:
    case EV_WHO:
        rec->room = rbuf_str(r, NULL);
        rec->id = rbuf_str(r, NULL);
        break;
    case EV_HISTORY:
        rec->room = rbuf_str(r, NULL);
        rec->before = rbuf_i64(r);
        rec->limit = rbuf_i64(r);
        rec->id = rbuf_str(r, NULL);
        break;
    case EV_CLOSE:
    case EV_BYE:
        break;
    case EV_DELETE:
        rec->room = rbuf_str(r, NULL);
        rec->seq = rbuf_u64(r);
        rec->id = rbuf_str(r, NULL);
        break;
    case EV_API:
        rec->op = rbuf_u8(r);
        rec->room = rbuf_str(r, NULL);
        rec->uid = rbuf_str(r, NULL);
        rec->name = rbuf_str(r, NULL);
        rec->id = rbuf_str(r, NULL);
        rec->text = rbuf_str(r, &rec->text_len);
        rec->binary = rbuf_u8(r) != 0;
        if (rec->binary) { /* the payload is where EV_BINARY has it */
            rec->data = rec->text;
            rec->data_len = rec->text_len;
            rec->text = "";
            rec->text_len = 0;
        }
        rec->mime = rbuf_str(r, NULL);
        rec->filename = rbuf_str(r, NULL);
        rec->prefix = rbuf_str(r, NULL);
        rec->after = rbuf_str(r, NULL);
        rec->before = rbuf_i64(r);
        rec->limit = rbuf_i64(r);
        rec->seq = rbuf_u64(r);
        break;
    default:
        return false;
    }
    return !r->failed;
}

bool wire_fanout_skip(rbuf *r)
{
    switch (rbuf_u8(r)) {
    case FO_ROOM:
    case FO_ROOM_BINARY:
        rbuf_str(r, NULL);
        rbuf_u64(r);
        rbuf_u64(r);
        rbuf_str(r, NULL);
        break;
    case FO_CONN:
    case FO_CONN_BINARY:
    case FO_PART:
        rbuf_u64(r);
        rbuf_str(r, NULL);
        break;
    case FO_JOIN:
        rbuf_u64(r);
        rbuf_str(r, NULL);
        rbuf_str(r, NULL);
        rbuf_str(r, NULL);
        rbuf_u64(r);
        break;
    case FO_AUTHED:
        rbuf_u64(r);
        break;
    case FO_CLOSE:
        rbuf_u64(r);
        rbuf_u64(r);
        break;
    case FO_REPLY:
        rbuf_u64(r);
        rbuf_u8(r);
        rbuf_u8(r);
        rbuf_str(r, NULL);
        break;
    default:
        return false;
    }
    return !r->failed;
}
