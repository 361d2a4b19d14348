/* bk_delete.c -- see bk_delete.h. */
#include "bk_delete.h"

#include <string.h>

#include "bk_render.h"
#include "log.h"
#include "valid.h"

rc delete_message(events *ev, const char *room_name, uint64_t seq,
                  const char *author, const char *by, bool *fresh)
{
    *fresh = false;
    room *rm = events_room(ev, room_name);
    if (rm == NULL) /* could not be loaded from storage */
        return RC_UNAVAILABLE;
    rc r = RC_OK;
    store *st = events_store(ev);
    char uid[UID_MAX + 1] = "";
    bool deleted = false, found = false;
    if (seq < 1 || seq > rm->last_seq)
        r = RC_NOT_FOUND;
    else if ((r = store_begin(st)) != RC_OK ||
             (r = store_message_owner(st, rm->name, seq, uid, sizeof uid,
                                      &deleted, &found)) != RC_OK)
        ; /* RC_UNAVAILABLE while storage is down, else RC_DB */
    else if (found && author != NULL && strcmp(uid, author) != 0)
        r = RC_FORBIDDEN;
    else if (found && !deleted) {
        r = store_message_erase(st, rm->name, seq);
        if (r == RC_OK) {
            wbuf w = {0};
            render_delete(&w, rm->name, seq, by);
            if (!w.failed) {
                events_to_room(rm, 0, 0, &w);
                events_to_hooks(ev, rm, "delete", &w);
            }
            wbuf_free(&w);
            *fresh = true;
            LOG(LOG_INFO, "event=message_deleted room=%s seq=%llu by=%s",
                rm->name, (unsigned long long)seq, by);
        }
    }
    rooms_evict(events_rooms(ev), rm); /* only when nobody is present */
    return r;
}

static void answer(bk_conn *c, const wbuf *w)
{
    if (!w->failed)
        link_out_conn(c->gw, c->id, w->data, w->len);
}

void delete_on_event(events *ev, bk_conn *c, const char *room_name,
                     uint64_t seq, const char *id)
{
    wbuf w = {0};
    bool ok = valid_room(room_name, strlen(room_name));
    room *rm = ok ? rooms_find(events_rooms(ev), room_name) : NULL;
    presence *p = rm ? conn_presence(c, rm) : NULL;
    if (!ok) {
        render_error(&w, RC_BAD_REQUEST, "room must be 1-64 characters of "
                     "A-Z a-z 0-9 _ . : -", id);
    } else if (p == NULL) {
        render_error(&w, RC_NOT_IN_ROOM, "enter the room first", id);
    } else {
        const char *uid = p->member->uid;
        bool fresh;
        rc r = delete_message(ev, room_name, seq, uid, uid, &fresh);
        if (r == RC_NOT_FOUND)
            render_error(&w, RC_BAD_REQUEST, "this room has no message with "
                         "that seq", id);
        else if (r == RC_FORBIDDEN)
            render_error(&w, RC_FORBIDDEN, "you can delete only your own "
                         "messages", id);
        else if (r == RC_UNAVAILABLE)
            render_error(&w, RC_UNAVAILABLE, "storage cannot take writes "
                         "right now; nothing was deleted", id);
        else if (r != RC_OK)
            render_error(&w, RC_INTERNAL, "storage failed", id);
        else if (!fresh) /* deleted before: tell the requester again */
            render_delete(&w, room_name, seq, uid);
    }
    if (w.len > 0)
        answer(c, &w);
    wbuf_free(&w);
}
