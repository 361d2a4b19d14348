/* clock.h -- milliseconds. Any thread. */
#ifndef CLOCK_H
#define CLOCK_H

#include <stdint.h>

int64_t clock_wall_ms(void); /* since the epoch: message timestamps */
int64_t clock_mono_ms(void); /* monotonic: timeouts and intervals */

#endif
