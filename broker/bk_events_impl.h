/* bk_events_impl.h -- what the event handlers' files share: the events
 * object and the helpers every handler uses (rendering, sending, state).
 * bk_events.c (helpers, auth, leave, who, history, decoding a batch),
 * bk_events_enter.c (enter, resume, catch-up), bk_events_message.c
 * (messages, text and binary). Not for other modules: they use
 * bk_events.h. Broker main thread only. */
#ifndef BK_EVENTS_IMPL_H
#define BK_EVENTS_IMPL_H

#include "bk_events.h"
#include "bk_hooks.h"
#include "bk_link.h"
#include "bk_rooms.h"
#include "bk_store.h"
#include "buf.h"
#include "config.h"
#include "wire.h"

#define BROKER_TEXT_MAX (1u << 20) /* gateways enforce the configured cap */
#define STORAGE_DOWN "storage cannot take writes now; nothing was stored"

struct events {
    const config *cfg;
    store *st;
    rooms *rooms;
    bk_link *link;
    hooks *hooks;   /* the webhook outbox, or NULL */
    bool jwt;
    wbuf out;       /* scratch for rendering */
    bool out_binary; /* out holds a binary message (render_binary) */
    uint64_t stored; /* messages stored since start */
    int64_t now;
    /* The record being run (run_record): an error to its connection that
     * names no id echoes the client's id of the event it answers. */
    const bk_conn *req_conn;
    const char *req_id;
};

typedef struct enter_req {
    const char *room;
    const char *uid;
    const char *name;
    int64_t since; /* -1: none */
} enter_req;

/* bk_events.c: rendering and sending (see there) */
wbuf *render_presence(events *ev, const char *event, const room *rm,
                      const member *m, bool with_seq, bool truncated);
void to_conn(bk_conn *c, const wbuf *w);
void to_room(room *rm, uint64_t except, uint64_t seq, const wbuf *w);
void to_hooks(events *ev, const room *rm, const char *kind,
              const wbuf *w);
void send_error(events *ev, bk_conn *c, rc r, const char *message,
                const char *id);

/* bk_events.c: state (see there) */
bool db_begin(events *ev, bk_conn *c, const char *id);
rc room_get(events *ev, const char *name, room **out);
presence *present_or_error(events *ev, bk_conn *c, const char *name,
                           const char *id);

/* bk_events_enter.c (see there) */
void on_enter(events *ev, bk_conn *c, enter_req *q);
void on_resume(events *ev, bk_conn *c, enter_req *q);

/* bk_events_message.c (see there) */
void on_message(events *ev, bk_conn *c, const char *room_name,
                const char *text, size_t len, const char *id);
void on_binary(events *ev, bk_conn *c, const wire_event_rec *rec);

#endif
