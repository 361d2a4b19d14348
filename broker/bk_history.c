/* bk_history.c -- see bk_history.h.
 *
 * Rows come from the store newest first; each is rendered into its own
 * piece, and the pieces are written out in reverse (oldest first, as the
 * protocol wants). At most `budget` bytes are ever held, plus one row. */
#include "bk_history.h"

#include <stdlib.h>
#include <string.h>

#include "bk_render.h"
#include "jsonw.h"

typedef struct history_ctx {
    wbuf *pieces;    /* rendered rows, newest first */
    size_t n, cap;
    size_t bytes;    /* of all pieces, with their commas */
    size_t budget;   /* for the pieces */
    uint64_t oldest; /* seq of the last piece kept */
    bool full;       /* a row was left out for the budget */
    bool failed;     /* out of memory */
} history_ctx;

static bool history_row(void *arg, const stored_msg *m)
{
    history_ctx *h = arg;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 16;
        wbuf *p = realloc(h->pieces, cap * sizeof *p);
        if (p == NULL) {
            h->failed = true;
            return false;
        }
        memset(p + h->cap, 0, (cap - h->cap) * sizeof *p);
        h->pieces = p;
        h->cap = cap;
    }
    wbuf *w = &h->pieces[h->n];
    render_history_item(w, m);
    if (w->failed) {
        wbuf_free(w);
        h->failed = true;
        return false;
    }
    if (h->bytes + w->len + 1 > h->budget) {
        wbuf_free(w);
        h->full = true;
        return false;
    }
    h->bytes += w->len + 1;
    h->oldest = m->seq;
    h->n++;
    return true;
}

rc history_render(store *st, const char *room, uint64_t before, long limit,
                  size_t budget, wbuf *w)
{
    static const char MORE_TRUE[] = "],\"more\":true}";
    size_t start = w->len;
    render_open(w, "history");
    jsonw_key(w, "room");
    jsonw_cstr(w, room);
    jsonw_raw(w, ",\"messages\":[");
    size_t frame = w->len - start + sizeof MORE_TRUE;
    history_ctx h = {.budget = budget > frame ? budget - frame : 0};
    rc r = store_newest(st, room, before, limit, history_row, &h);
    bool more = h.full;
    if (r == RC_OK && !more && h.n > 0)
        r = store_has_before(st, room, h.oldest, &more);
    for (size_t i = h.n; i-- > 0;) {
        if (i + 1 < h.n)
            wbuf_u8(w, ',');
        wbuf_bytes(w, h.pieces[i].data, h.pieces[i].len);
    }
    for (size_t i = 0; i < h.n; i++)
        wbuf_free(&h.pieces[i]);
    free(h.pieces);
    jsonw_raw(w, more ? MORE_TRUE : "],\"more\":false}");
    if (r == RC_OK && (h.failed || w->failed))
        r = RC_NOMEM;
    return r;
}
