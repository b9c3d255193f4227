/*
 * manager.c — the VMQ manager: owns the NIC table and the assignments,
 * turns decisions into hardware state (rule, IRQ affinity) and undoes it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/log.h>

#include "vmq_internal.h"

struct vmq_manager {
	struct modvm_bus *bus;
	char sysfs_root[256];
	char proc_root[256];
	const struct vmq_ethtool_ops *ops;
	void *ud;
	struct vmq_nic *nics;
	size_t nnics;
	struct vmq_assignment *as;
	size_t nas, cap;
	char skipped[512];	/* interfaces without a PCI function */
};

int vmq_manager_create(struct modvm_bus *bus, const struct vmq_options *opt,
		       struct vmq_manager **out)
{
	struct vmq_manager *m;
	int rc;

	*out = NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->bus = bus;
	if (vmq_path(m->sysfs_root, sizeof(m->sysfs_root), "%s",
		     opt && opt->sysfs_root ? opt->sysfs_root : "/sys") ||
	    vmq_path(m->proc_root, sizeof(m->proc_root), "%s",
		     opt && opt->proc_root ? opt->proc_root : "/proc")) {
		modvm_log(MODVM_LOG_ERROR, VMQ_LOG, "sysfs or proc root longer than %zu bytes",
			  sizeof(m->sysfs_root) - 1);
		rc = -ENAMETOOLONG;
		goto cleanup_m;
	}
	m->ops = opt && opt->ethtool ? opt->ethtool : &vmq_ethtool_live;
	m->ud = opt ? opt->ethtool_ud : NULL;
	rc = vmq_discover(m->sysfs_root, m->ops, m->ud, &m->nics, &m->nnics, m->skipped,
			  sizeof(m->skipped));
	if (rc)
		goto cleanup_m;
	for (size_t i = 0; i < m->nnics && bus; i++) {
		rc = modvm_publish_net_nic(bus, &m->nics[i].info);
		if (rc)
			modvm_log(MODVM_LOG_WARN, VMQ_LOG, "net.nic for %s not published: %s",
				  m->nics[i].info.ifname, modvm_strerror(rc));
	}
	*out = m;
	return 0;

cleanup_m:
	free(m);
	return rc;
}

size_t vmq_manager_nic_count(const struct vmq_manager *mgr)
{
	return mgr->nnics;
}

const struct vmq_nic *vmq_manager_nic(const struct vmq_manager *mgr, size_t i)
{
	return i < mgr->nnics ? &mgr->nics[i] : NULL;
}

const struct vmq_nic *vmq_manager_find_nic(const struct vmq_manager *mgr, const char *ifname)
{
	for (size_t i = 0; i < mgr->nnics; i++)
		if (strcmp(mgr->nics[i].info.ifname, ifname) == 0)
			return &mgr->nics[i];
	return NULL;
}

size_t vmq_manager_assignment_count(const struct vmq_manager *mgr)
{
	return mgr->nas;
}

const struct vmq_assignment *vmq_manager_assignment(const struct vmq_manager *mgr, size_t i)
{
	return i < mgr->nas ? &mgr->as[i] : NULL;
}

static void fmt_mac(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
		 mac[4], mac[5]);
}

/* Why an uplink is unknown, in words a user can act on. */
static const char *unknown_detail(const struct vmq_manager *m, const char *uplink)
{
	char path[600];
	FILE *f;

	if (vmq_path(path, sizeof(path), "%s/class/net/%s/mtu", m->sysfs_root, uplink))
		return "no such interface";
	f = vmq_fopen(path);
	if (!f)
		return "no such interface";
	fclose(f);
	return "a virtual interface without a PCI device";
}

/* Rule and IRQ for a dedicated decision; on failure falls back in place. */
static void program_hardware(struct vmq_manager *m, const struct vmq_nic *nic,
			     struct vmq_assignment *a, int host_cpu, const char *macs)
{
	uint32_t loc;
	char cpu[16];
	int rc, irq;

	rc = vmq_ethtool_rule_insert(m->ops, m->ud, nic->info.ifname, a->mac, a->queue, &loc);
	if (rc) {
		modvm_log(MODVM_LOG_WARN, VMQ_LOG,
			  "vm %u mac %s: %s refused the steering rule to rx queue %u (%s); "
			  "using the default queue and per-VM tap queues",
			  a->vm_id, macs, nic->info.ifname, a->queue, strerror(-rc));
		a->dedicated = false;
		a->queue = 0;
		return;
	}
	a->rule_loc = loc;
	if (host_cpu < 0)
		return;
	rc = vmq_irq_find(m->proc_root, nic, a->queue, &irq);
	if (rc) {
		modvm_log(MODVM_LOG_WARN, VMQ_LOG,
			  "vm %u: no IRQ named for %s rx queue %u in %s/interrupts; affinity left alone",
			  a->vm_id, nic->info.ifname, a->queue, m->proc_root);
		return;
	}
	if (vmq_irq_get_affinity(m->proc_root, irq, a->saved_affinity,
				 sizeof(a->saved_affinity)) != 0)
		return;
	snprintf(cpu, sizeof(cpu), "%d", host_cpu);
	if (vmq_irq_set_affinity(m->proc_root, irq, cpu) != 0)
		return;
	a->irq = irq;
	a->host_cpu = host_cpu;
}

int vmq_manager_assign(struct vmq_manager *mgr, uint32_t vm_id, const uint8_t mac[6],
		       const char *uplink, int host_cpu, struct modvm_net_queue_assigned *out)
{
	struct vmq_request req = { .vm_id = vm_id, .uplink = uplink };
	struct modvm_net_queue_assigned ev;
	struct vmq_decision dec;
	struct vmq_assignment *a;
	char macs[18];
	int rc;

	memcpy(req.mac, mac, 6);
	fmt_mac(mac, macs);
	if (uplink && strlen(uplink) >= VMQ_IFNAMSIZ) {
		modvm_log(MODVM_LOG_ERROR, VMQ_LOG, "vm %u mac %s: uplink \"%s\": interface names have at most %d characters",
			  vm_id, macs, uplink, VMQ_IFNAMSIZ - 1);
		return -EINVAL;
	}
	rc = vmq_decide(mgr->nics, mgr->nnics, mgr->as, mgr->nas, &req, &dec);
	if (rc) {
		modvm_log(MODVM_LOG_ERROR, VMQ_LOG, "vm %u mac %s uplink %s: %s", vm_id, macs,
			  uplink && uplink[0] ? uplink : "(none)",
			  rc == -EEXIST ? "this MAC already has a queue on that uplink"
					: "not a unicast MAC");
		return rc;
	}
	if (mgr->nas == mgr->cap) {
		size_t ncap = mgr->cap ? mgr->cap * 2 : 8;
		struct vmq_assignment *grown = realloc(mgr->as, ncap * sizeof(*grown));

		if (!grown)
			return -ENOMEM;
		mgr->as = grown;
		mgr->cap = ncap;
	}
	a = &mgr->as[mgr->nas];
	memset(a, 0, sizeof(*a));
	a->vm_id = vm_id;
	memcpy(a->mac, mac, 6);
	snprintf(a->uplink, sizeof(a->uplink), "%s", uplink ? uplink : "");
	a->queue = dec.queue;
	a->dedicated = dec.dedicated;
	a->host_cpu = -1;
	a->rule_loc = -1;
	a->irq = -1;

	if (dec.dedicated) {
		program_hardware(mgr, &mgr->nics[dec.nic], a, host_cpu, macs);
	} else if (dec.reason == VMQ_EXHAUSTED) {
		modvm_log(MODVM_LOG_WARN, VMQ_LOG,
			  "vm %u mac %s: %s has no free rx queue (%u queues, ring 0 is the default); "
			  "this VM shares the default queue",
			  vm_id, macs, a->uplink, mgr->nics[dec.nic].info.rx_queues);
	} else if (dec.reason == VMQ_NO_UPLINK) {
		modvm_log(MODVM_LOG_INFO, VMQ_LOG,
			  "vm %u mac %s: no uplink configured; using per-VM tap queues", vm_id, macs);
	} else {
		modvm_log(MODVM_LOG_WARN, VMQ_LOG, "vm %u mac %s: uplink %s: %s%s%s%s; using per-VM tap queues",
			  vm_id, macs, a->uplink, vmq_reason_text(dec.reason),
			  dec.reason == VMQ_UPLINK_UNKNOWN ? " (" : "",
			  dec.reason == VMQ_UPLINK_UNKNOWN ? unknown_detail(mgr, a->uplink) : "",
			  dec.reason == VMQ_UPLINK_UNKNOWN ? ")" : "");
	}
	if (a->dedicated && a->irq >= 0)
		modvm_log(MODVM_LOG_INFO, VMQ_LOG, "vm %u mac %s: %s rx queue %u (rule %lld), IRQ %d -> cpu %d",
			  vm_id, macs, a->uplink, a->queue, (long long)a->rule_loc, a->irq, a->host_cpu);
	else if (a->dedicated)
		modvm_log(MODVM_LOG_INFO, VMQ_LOG, "vm %u mac %s: %s rx queue %u (rule %lld), IRQ affinity unchanged",
			  vm_id, macs, a->uplink, a->queue, (long long)a->rule_loc);
	mgr->nas++;

	memset(&ev, 0, sizeof(ev));
	ev.vm_id = vm_id;
	ev.queue = a->queue;
	ev.host_cpu = a->host_cpu;
	ev.dedicated = a->dedicated;
	memcpy(ev.uplink, a->uplink, sizeof(ev.uplink));
	memcpy(ev.mac, mac, 6);
	if (out)
		*out = ev;
	if (mgr->bus) {
		rc = modvm_publish_net_queue_assigned(mgr->bus, &ev);
		if (rc)
			modvm_log(MODVM_LOG_WARN, VMQ_LOG, "net.queue_assigned for vm %u not published: %s",
				  vm_id, modvm_strerror(rc));
	}
	return 0;
}

static void undo(struct vmq_manager *m, struct vmq_assignment *a)
{
	int rc;

	if (a->irq >= 0)
		vmq_irq_set_affinity(m->proc_root, a->irq, a->saved_affinity);
	if (a->rule_loc >= 0) {
		rc = vmq_ethtool_rule_delete(m->ops, m->ud, a->uplink, (uint32_t)a->rule_loc);
		if (rc)
			modvm_log(MODVM_LOG_WARN, VMQ_LOG, "%s: cannot delete steering rule %lld: %s",
				  a->uplink, (long long)a->rule_loc, strerror(-rc));
	}
	a->irq = -1;
	a->rule_loc = -1;
}

int vmq_manager_release(struct vmq_manager *mgr, uint32_t vm_id)
{
	size_t kept = 0;
	int released = 0;

	for (size_t i = 0; i < mgr->nas; i++) {
		if (mgr->as[i].vm_id == vm_id) {
			undo(mgr, &mgr->as[i]);
			released++;
		} else {
			mgr->as[kept++] = mgr->as[i];
		}
	}
	mgr->nas = kept;
	return released;
}

void vmq_manager_destroy(struct vmq_manager *mgr)
{
	if (!mgr)
		return;
	/* newest first, so an IRQ two VMs moved ends with its original value */
	for (size_t i = mgr->nas; i-- > 0;)
		undo(mgr, &mgr->as[i]);
	free(mgr->as);
	free(mgr->nics);
	free(mgr);
}

static void emit(void (*line)(const char *text, void *ud), void *ud, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One describe line; a long one is cut, which is fine for a human summary. */
static void emit(void (*line)(const char *text, void *ud), void *ud, const char *fmt, ...)
{
	char text[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	line(text, ud);
}

void vmq_manager_describe(const struct vmq_manager *mgr,
			  void (*line)(const char *text, void *ud), void *ud)
{
	char capa[256];

	emit(line, ud, "net-vmq: %zu PCI NIC(s) under %s/class/net", mgr->nnics,
		 mgr->sysfs_root);
	for (size_t i = 0; i < mgr->nnics; i++) {
		const struct vmq_nic *n = &mgr->nics[i];

		emit(line, ud, "  %s: %s %04x:%04x driver %s, mtu %u, rx/tx queues %u/%u (%s), MSI-X %u, "
			 "SR-IOV VFs %u/%u",
			 n->info.ifname, n->info.pci_addr, n->info.vendor_id, n->info.device_id,
			 n->info.driver[0] ? n->info.driver : "(none)", n->info.mtu,
			 n->info.rx_queues, n->info.tx_queues,
			 n->channels_ok ? "ethtool channels" : "sysfs queues", n->info.msix_vectors,
			 n->sriov_numvfs, n->info.sriov_vfs);
		vmq_offload_names(n->info.offload_capa, capa, sizeof(capa));
		emit(line, ud, "    offloads: %s%s; VMQ: %s",
			 n->features_ok ? "" : "(ethtool features unavailable) ", capa,
			 !n->info.ntuple ? "no (no n-tuple steering; per-VM tap queues)"
			 : n->info.rx_queues < 2 ? "no (single rx queue)"
			 : "yes (MAC rules to rx queues 1..N-1)");
	}
	if (mgr->skipped[0]) {
		emit(line, ud, "  not NICs here (no PCI function): %s", mgr->skipped);
	}
	emit(line, ud, "  assignments: %zu", mgr->nas);
}
