/*
 * vmq_test.h — what the VMQ tests share: captured log lines, a bus on a
 * loop owned by the test thread, and the events it saw.
 */
#ifndef VMQ_TEST_H
#define VMQ_TEST_H

#include <stdbool.h>

#include "vmq.h"

#define CAPTURE_MAX 64

/* Starts capturing log lines (INFO and up) instead of printing them. */
void capture_start(void);
/* Stops capturing; echoes what was captured to stderr for the test log. */
void capture_stop(void);
/* Lines captured since capture_start() that contain every one of the
 * NULL-terminated strings. */
unsigned capture_count(const char *first, ...);

struct events {
	struct modvm_net_nic nic[16];
	unsigned nnic;
	struct modvm_net_queue_assigned q[32];
	unsigned nq;
};

/* A loop and bus made on this thread (publishes deliver synchronously)
 * with @ev subscribed to net.nic and net.queue_assigned. */
struct modvm_bus *test_bus_new(struct events *ev);
void test_bus_free(struct modvm_bus *bus);

struct fake_ethtool;
struct nt_driver;
/*
 * nic-ethtool's driver core on the fake ethtool @f, as the manager sees a
 * driver plugin (name "nic-ethtool", the vtable of modvm/nicdrv.h).  *@core
 * receives the core (free it with nt_driver_free after the manager).
 */
struct vmq_driver ntuple_test_driver(struct fake_ethtool *f, struct nt_driver **core);

#endif
