/* bk_events_message.c -- a message posted to a room, text or binary:
 * checks, the idempotent retry by client id, the seq, storage, fan-out to
 * the room's gateways and the webhook outbox. Broker main thread only
 * (events_handle, bk_events.c's run_record). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bk_events_impl.h"
#include "bk_render.h"
#include "jsonw.h"
#include "log.h"
#include "protocol.h"
#include "valid.h"

/* Renders a stored message into ev->out, as text or binary. */
static void render_stored(events *ev, const stored_msg *m, bool replay)
{
    wbuf_reset(&ev->out);
    ev->out_binary = render_is_binary(m);
    if (ev->out_binary)
        render_binary(&ev->out, m, replay);
    else
        render_message(&ev->out, m, replay);
}

static void stored_copy(void *arg, const stored_msg *m)
{
    render_stored(arg, m, false);
}

/* Stores and broadcasts a message, text or binary (`content` holds its
 * text, or type/data/size/filename); a resend with a known (uid, id) gets
 * the original back. Fields are checked by the callers. */
static void post_message(events *ev, bk_conn *c, presence *p, const char *id,
                         const stored_msg *content)
{
    if (!db_begin(ev, c, id))
        return;
    room *rm = p->room;
    member *m = p->member;
    if (id[0] != 0) {
        bool found = false;
        ev->out_binary = false;
        wbuf_reset(&ev->out);
        if (store_find_cid(ev->st, m->uid, id, ev->now - IDEMPOTENCY_MS,
                           stored_copy, ev, &found) != RC_OK) {
            /* Unknown whether it is a resend: storing it could store it
             * twice. The client sends it again. */
            send_error(ev, c, RC_UNAVAILABLE, "storage cannot be read now; "
                       "nothing was stored", id);
            return;
        }
        if (found) { /* a resend: the original back, nothing broadcast */
            (ev->out_binary ? link_out_conn_binary : link_out_conn)(
                c->gw, c->id, ev->out.data, ev->out.len);
            return;
        }
    }
    stored_msg sm = *content;
    sm.room = rm->name;
    sm.seq = rm->last_seq + 1;
    sm.uid = m->uid;
    sm.name = m->name;
    sm.cid = id[0] ? id : NULL;
    sm.ts = ev->now;
    if (store_append(ev->st, &sm) != RC_OK) {
        send_error(ev, c, RC_UNAVAILABLE, STORAGE_DOWN, id);
        return;
    }
    rm->last_seq = sm.seq;
    ev->stored++;
    render_stored(ev, &sm, false);
    for (size_t i = 0; i < rm->ngws; i++)
        (ev->out_binary ? link_out_room_binary : link_out_room)(
            rm->gws[i].gw, rm->name, 0, sm.seq, ev->out.data, ev->out.len);
    if (ev->out_binary) { /* webhooks get it without its payload */
        wbuf_reset(&ev->out);
        render_message(&ev->out, &sm, false);
    }
    to_hooks(ev, rm, "message", &ev->out);
}

void on_message(events *ev, bk_conn *c, const char *room_name,
                const char *text, size_t len, const char *id)
{
    if (id[0] != 0 && !valid_client_id(id, strlen(id))) {
        send_error(ev, c, RC_BAD_REQUEST, "id must be 1-64 bytes", NULL);
        return;
    }
    presence *p = present_or_error(ev, c, room_name, id);
    if (p == NULL)
        return;
    if (len > BROKER_TEXT_MAX || !valid_utf8(text, len)) {
        send_error(ev, c, RC_BAD_REQUEST, "message must be UTF-8 text", id);
        return;
    }
    stored_msg content = {.text = text, .text_len = len};
    post_message(ev, c, p, id, &content);
}

/* A binary message (docs/protocol.md "Binary messages"): the gateway parsed its
 * header; every field is checked again here. */
void on_binary(events *ev, bk_conn *c, const wire_event_rec *rec)
{
    const char *id = rec->id;
    if (id[0] != 0 && !valid_client_id(id, strlen(id))) {
        send_error(ev, c, RC_BAD_REQUEST, "id must be 1-64 bytes", NULL);
        return;
    }
    presence *p = present_or_error(ev, c, rec->room, id);
    if (p == NULL)
        return;
    if (!valid_mime_type(rec->mime, strlen(rec->mime)) ||
        (rec->filename[0] != 0 &&
         !valid_filename(rec->filename, strlen(rec->filename))) ||
        rec->data_len == 0 || rec->data_len > BINARY_MAX_BYTES) {
        send_error(ev, c, RC_BAD_REQUEST, "bad binary message", id);
        return;
    }
    stored_msg content = {
        .text = "",
        .type = rec->mime,
        .data = rec->data,
        .size = rec->data_len,
        .filename = rec->filename[0] ? rec->filename : NULL,
    };
    post_message(ev, c, p, id, &content);
}
