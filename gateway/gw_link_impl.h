/* gw_link_impl.h -- what gw_link.c (the nng link to the broker) and
 * gw_link_stats.c (the broker's figures) share. Not for other modules:
 * they use gw_link.h. */
#ifndef GW_LINK_IMPL_H
#define GW_LINK_IMPL_H

#include <stdbool.h>

#include "wire.h"

/* gw_link_stats.c, called by the poller thread for each fan-out reply:
 * reads the broker's figures; false when they are malformed. */
bool read_stats(rbuf *r);

#endif
