/*
 * vmq_test.c — see vmq_test.h.
 */
#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event/event.h"
#include "fake_ethtool.h"
#include "ntuple.h"
#include "vmq_test.h"

static char lines[CAPTURE_MAX][512];
static unsigned nlines;

static void sink(enum modvm_log_level level, const char *line, void *ud)
{
	(void)level;
	(void)ud;
	if (nlines < CAPTURE_MAX)
		snprintf(lines[nlines++], sizeof(lines[0]), "%s", line);
}

void capture_start(void)
{
	nlines = 0;
	modvm_log_set_level(MODVM_LOG_INFO);
	modvm_log_set_sink(sink, NULL);
}

void capture_stop(void)
{
	modvm_log_set_sink(NULL, NULL);
	for (unsigned i = 0; i < nlines; i++)
		fprintf(stderr, "  log: %s\n", lines[i]);
}

unsigned capture_count(const char *first, ...)
{
	unsigned hits = 0;

	for (unsigned i = 0; i < nlines; i++) {
		va_list ap;
		bool all = true;

		va_start(ap, first);
		for (const char *s = first; s && all; s = va_arg(ap, const char *))
			all = strstr(lines[i], s) != NULL;
		va_end(ap);
		hits += all;
	}
	return hits;
}

static struct modvm_loop *test_loop;

static void on_nic(const struct modvm_net_nic *p, void *ud)
{
	struct events *ev = ud;

	if (ev->nnic < 16)
		ev->nic[ev->nnic++] = *p;
}

static void on_queue(const struct modvm_net_queue_assigned *p, void *ud)
{
	struct events *ev = ud;

	if (ev->nq < 32)
		ev->q[ev->nq++] = *p;
}

struct modvm_bus *test_bus_new(struct events *ev)
{
	struct modvm_bus *bus;

	memset(ev, 0, sizeof(*ev));
	test_loop = modvm__loop_new();
	ck_assert_ptr_nonnull(test_loop);
	bus = modvm__bus_new(test_loop);
	ck_assert_ptr_nonnull(bus);
	ck_assert_int_gt(modvm_subscribe_net_nic(bus, MODVM_PRIO_DEFAULT, on_nic, ev), 0);
	ck_assert_int_gt(modvm_subscribe_net_queue_assigned(bus, MODVM_PRIO_DEFAULT, on_queue, ev), 0);
	return bus;
}

void test_bus_free(struct modvm_bus *bus)
{
	modvm__bus_free(bus);
	modvm__loop_free(test_loop);
	test_loop = NULL;
}

/* ---- nic-ethtool's core as a driver plugin, without the plugin ---- */

static int t_probe(struct modvm_plugin_ctx *self, const struct modvm_nic *nic)
{
	(void)self;
	return nt_probe(nic);
}

static int t_caps(struct modvm_plugin_ctx *self, const struct modvm_nic *nic,
		  struct modvm_nic_caps *out)
{
	(void)self;
	return nt_caps(nic, out);
}

/* The "context" handed back is the core itself: only these functions read it. */
static int t_alloc(struct modvm_plugin_ctx *self, const struct modvm_nic *nic,
		   const struct modvm_nic_queue_req *req, struct modvm_nic_queue *out)
{
	return nt_queue_alloc((struct nt_driver *)(void *)self, nic, req, out);
}

static int t_free(struct modvm_plugin_ctx *self, const struct modvm_nic *nic, uint64_t handle)
{
	return nt_queue_free((struct nt_driver *)(void *)self, nic, handle);
}

static const struct modvm_nic_driver t_ops = {
	.struct_size = sizeof(struct modvm_nic_driver),
	.probe = t_probe, .caps = t_caps, .queue_alloc = t_alloc, .queue_free = t_free,
};

static struct nt_ethtool_ops t_ethtool;

struct vmq_driver ntuple_test_driver(struct fake_ethtool *f, struct nt_driver **core)
{
	t_ethtool.ethtool = fake_ethtool_ops.ethtool;
	*core = nt_driver_new(&t_ethtool, f);
	ck_assert_ptr_nonnull(*core);
	return (struct vmq_driver){ .name = "nic-ethtool", .ops = &t_ops,
				    .self = (struct modvm_plugin_ctx *)(void *)*core };
}
