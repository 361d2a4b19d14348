/* bk_render.c -- see bk_render.h. */
#include "bk_render.h"

#include "jsonw.h"

void render_open(wbuf *w, const char *event)
{
    jsonw_raw(w, "{\"event\":");
    jsonw_cstr(w, event);
}

void render_message(wbuf *w, const stored_msg *m, bool replay)
{
    render_open(w, "message");
    jsonw_key(w, "room");
    jsonw_cstr(w, m->room);
    jsonw_key(w, "uid");
    jsonw_cstr(w, m->uid);
    jsonw_key(w, "name");
    jsonw_cstr(w, m->name);
    jsonw_key(w, "message");
    jsonw_str(w, m->text, m->text_len);
    jsonw_key(w, "seq");
    jsonw_i64(w, (int64_t)m->seq);
    jsonw_key(w, "ts");
    jsonw_i64(w, m->ts);
    if (m->cid != NULL) {
        jsonw_key(w, "id");
        jsonw_cstr(w, m->cid);
    }
    if (replay)
        jsonw_raw(w, ",\"replay\":true");
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
