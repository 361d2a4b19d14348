/* bk_history.h -- the `history` answer: a room's older messages, oldest
 * first, kept under HISTORY_BYTES_MAX bytes of JSON.
 *
 * Binary messages make a page of history large (their payload goes as
 * base64 `data`), so the answer is built from the newest message down and
 * stops before the budget would be passed; `more` then says older ones
 * exist. Broker main thread only (it reads the store). */
#ifndef BK_HISTORY_H
#define BK_HISTORY_H

#include <stdint.h>

#include "bk_store.h"
#include "buf.h"
#include "rc.h"

/* Appends `{"event":"history","room":...,"messages":[...],"more":B}` to w:
 * the newest messages of room with seq < before (UINT64_MAX >> 1: newest),
 * at most limit of them, oldest first, the whole text under budget bytes
 * (at least one message fits whenever its own text does). Borrows
 * everything. RC_DB when storage failed (w then holds part of an answer:
 * reset it). */
rc history_render(store *st, const char *room, uint64_t before, long limit,
                  size_t budget, wbuf *w);

#endif
