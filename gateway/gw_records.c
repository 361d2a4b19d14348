/* gw_records.c -- the events records the gateway sends the broker; see
 * gw_records.h. Each writes the fields in wire.h's order for its type,
 * nothing else (the checks are the callers'). Any thread: no state. */
#include "gw_records.h"


void record_open(wbuf *w, uint64_t conn_id, const char *uid)
{
    wbuf_u8(w, EV_OPEN);
    wbuf_u64(w, conn_id);
    wbuf_cstr(w, uid);
}

void record_close(wbuf *w, uint64_t conn_id)
{
    wbuf_u8(w, EV_CLOSE);
    wbuf_u64(w, conn_id);
}

void record_auth(wbuf *w, uint64_t conn_id, const char *token, size_t len,
                 bool quiet, const char *id)
{
    wbuf_u8(w, EV_AUTH);
    wbuf_u64(w, conn_id);
    wbuf_str(w, token, len);
    wbuf_u8(w, quiet ? 1 : 0);
    wbuf_cstr(w, id);
}

void record_enter(wbuf *w, uint64_t conn_id, const char *room,
                  const char *uid, const char *name, size_t name_len,
                  int64_t since, const char *id)
{
    wbuf_u8(w, EV_ENTER);
    wbuf_u64(w, conn_id);
    wbuf_cstr(w, room);
    wbuf_cstr(w, uid);
    wbuf_str(w, name, name_len);
    wbuf_i64(w, since);
    wbuf_cstr(w, id);
}

void record_resume(wbuf *w, uint64_t conn_id, const char *room,
                   const char *uid, const char *name, int64_t since)
{
    wbuf_u8(w, EV_RESUME);
    wbuf_u64(w, conn_id);
    wbuf_cstr(w, room);
    wbuf_cstr(w, uid);
    wbuf_cstr(w, name);
    wbuf_i64(w, since);
}

void record_message(wbuf *w, uint64_t conn_id, const char *room,
                    const char *text, size_t len, const char *id,
                    size_t id_len)
{
    wbuf_u8(w, EV_MESSAGE);
    wbuf_u64(w, conn_id);
    wbuf_cstr(w, room);
    wbuf_str(w, text, len);
    wbuf_str(w, id, id_len);
}

void record_room(wbuf *w, enum wire_event type, uint64_t conn_id,
                 const char *room, const char *id)
{
    wbuf_u8(w, (uint8_t)type);
    wbuf_u64(w, conn_id);
    wbuf_cstr(w, room);
    wbuf_cstr(w, id);
}

void record_history(wbuf *w, uint64_t conn_id, const char *room,
                    int64_t before, int64_t limit, const char *id)
{
    wbuf_u8(w, EV_HISTORY);
    wbuf_u64(w, conn_id);
    wbuf_cstr(w, room);
    wbuf_i64(w, before);
    wbuf_i64(w, limit);
    wbuf_cstr(w, id);
}

void record_delete(wbuf *w, uint64_t conn_id, const char *room, uint64_t seq,
                   const char *id)
{
    wbuf_u8(w, EV_DELETE);
    wbuf_u64(w, conn_id);
    wbuf_cstr(w, room);
    wbuf_u64(w, seq);
    wbuf_cstr(w, id);
}
