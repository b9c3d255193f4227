/*
 * tap.h — a Linux multi-queue tap as net-vmq's frame back end.
 *
 * One fd per queue pair (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR |
 * IFF_MULTI_QUEUE), all non-blocking, each frame preceded by a 12-byte
 * virtio 1 net header (with num_buffers).  The offloads are the tap's
 * TUN_F_* bits: what the kernel may hand us unsegmented / without a
 * checksum (guest offloads, applied with TUNSETOFFLOAD).
 *
 * Every failure is logged as one line naming the tap and the operation, and
 * returned as a negative errno.
 */
#ifndef NET_VMQ_TAP_H
#define NET_VMQ_TAP_H

#include <stdbool.h>
#include <stdint.h>

#include "netdev.h"

#define TAP_MAX_QUEUES 16

struct tap;

/*
 * Opens (or creates) tap @name ("" or a pattern with %d lets the kernel
 * choose) with @queues queues, checks TUNGETFEATURES offers what we need,
 * sets the vnet header size to 12 and the offloads to none.  0 or -errno;
 * *@out only on success.
 */
int tap_open(const char *name, unsigned queues, struct tap **out);
void tap_close(struct tap *t);

const char *tap_name(const struct tap *t);
unsigned tap_queues(const struct tap *t);
int tap_fd(const struct tap *t, unsigned q);

/*
 * Checks the tap can do every TUN_F_* bit in @flags (each tried on its own),
 * then goes back to none.  -EOPNOTSUPP naming the first missing capability.
 */
int tap_check_offloads(struct tap *t, unsigned flags);
/* TUNSETOFFLOAD (applies to the whole device, every queue). */
int tap_set_offloads(struct tap *t, unsigned flags);
/* SIOCSIFMTU, then IFF_UP. */
int tap_set_mtu(struct tap *t, unsigned mtu);
int tap_set_up(struct tap *t);
/* Attaches/detaches queue @q (TUNSETQUEUE) so the kernel steers no flow to
 * a queue the guest does not use. */
int tap_set_queue_enabled(struct tap *t, unsigned q, bool enabled);

/* The tap as a netdev back end (ctx = the tap); rx_wake is left NULL for
 * the caller to fill. */
struct netdev_backend tap_backend(struct tap *t);

#endif
