/*
 * rxloop.h — net-vmq's receive side on the loop thread: one watcher per
 * active queue pair on its tap fd, stopped while the guest has no buffers
 * and re-armed through an eventfd that the guest's RX kick (vCPU thread)
 * and a VQ_PAIRS_SET signal.  It is also the device's back end: the tap's,
 * with those two signals added.
 *
 * Order: rxloop_create, netdev_attach/create with rxloop_backend(), then
 * rxloop_start; on the way out rxloop_stop, free the device, rxloop_free.
 * Everything but the back end's callbacks runs on the loop thread.
 */
#ifndef NET_VMQ_RXLOOP_H
#define NET_VMQ_RXLOOP_H

#include <modvm/loop.h>

#include "netdev.h"
#include "tap.h"

#define RXLOOP_BUDGET 64	/* frames per wakeup, so one queue cannot hog the loop */

struct rxloop;

int rxloop_create(struct modvm_loop *loop, struct tap *tap, unsigned pairs, struct rxloop **out);
struct netdev_backend rxloop_backend(struct rxloop *rl);
/* Starts watching pair 0 and the wakeups for @nd. 0 or -ENOMEM. */
int rxloop_start(struct rxloop *rl, struct netdev *nd);
void rxloop_stop(struct rxloop *rl);
void rxloop_free(struct rxloop *rl);
/* Whether pair @pair's tap fd is watched now (tests). */
bool rxloop_watching(struct rxloop *rl, unsigned pair);

#endif
