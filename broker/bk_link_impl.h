/* bk_link_impl.h -- what the link's two files share: the link object.
 * bk_link.c (the nng sockets, the queues nng's callback threads fill, the
 * epoch) and bk_link_gateways.c (the gateway registry and each gateway's
 * acknowledged stream). Not for other modules: they use bk_link.h.
 * `lock` guards the two queues and pull_paused (nng's callback threads and
 * the broker main thread); every other field is the main thread's. */
#ifndef BK_LINK_IMPL_H
#define BK_LINK_IMPL_H

#include <pthread.h>

#include "bk_link.h"

/* One gateway's record and its acknowledged stream (bk_link_gateways.c). */
struct gateway {
    char id[GATEWAY_ID_MAX + 1];
    uint64_t instance;   /* changes when the gateway process restarts */
    int64_t last_poll_ms;
    wbuf staged;         /* records of the batch not yet committed */
    wbuf out;            /* records base+1 .. next, visible */
    uint64_t staged_n;
    uint64_t base;       /* acknowledged position */
    uint64_t next;       /* position of the last record in out */
    uint64_t sent_upto;  /* position of the last record sent */
    size_t sent_bytes;   /* bytes of out that were sent */
    nng_msg *parked;     /* the gateway's poll, waiting for records */
    int64_t parked_ms;
    bool reset;          /* stream lost: answer its next poll with a reset */
    bool tell_epoch;     /* the epoch changed: answer its parked poll now */
    struct gateway *next_gw;
};

/* One receive in flight per socket: with several, nng may complete them
 * out of order, and a connection's events must be handled in the order it
 * sent them. nng's own receive buffer keeps the socket busy meanwhile. */
#define PULL_AIOS 1
#define REP_AIOS 1

typedef struct aio_ctx {
    struct bk_link *l;
    int which; /* 0: pull, 1: rep */
    nng_aio *aio;
} aio_ctx;

typedef struct msgq {
    nng_msg **items;
    size_t head, count, cap;
} msgq;

struct bk_link {
    nng_socket pull;
    nng_socket rep;
    aio_ctx aios[PULL_AIOS + REP_AIOS]; /* each re-arms itself */
    pthread_mutex_t lock; /* guards the two queues and `pull_paused` */
    pthread_cond_t wake;
    msgq events;
    msgq polls;
    bool pull_paused; /* events queue full: no receive is armed */
    uint64_t epoch;
    gateway *gateways;
    size_t ngateways;
    link_gone_fn gone;
    void *gone_arg;
    struct {
        const char *name; /* borrowed literal */
        uint8_t kind;
        uint64_t value;
    } stats[WIRE_STATS_MAX];
    size_t nstats;
};

/* bk_link_gateways.c: frees a gateway record (its queues, its parked poll). */
void gateway_free(gateway *gw);
/* bk_link_gateways.c: answers gw's parked poll with its visible records. */
void link_reply_parked(bk_link *l, gateway *gw);
/* bk_link_gateways.c: handles one poll (frees req or parks it). */
void link_poll(bk_link *l, nng_msg *req, int64_t now);

#endif
