/*
 * manager.c — the VMQ manager: owns the NIC table, which driver owns each
 * NIC, and the assignments; turns decisions into queues asked of the
 * drivers, and gives them back.
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
	struct vmq_driver *drivers;
	size_t ndrivers;
	struct vmq_nic *nics;
	size_t nnics;
	struct vmq_assignment *as;
	size_t nas, cap;
	char skipped[512];	/* interfaces without a PCI function */
};

/* What drivers are handed for @nic, and the driver whose probe is best. */
static void own(struct vmq_manager *m, struct vmq_nic *nic)
{
	struct modvm_nic *d = &nic->sdk;

	memset(d, 0, sizeof(*d));
	d->struct_size = sizeof(*d);
	d->info = nic->info;
	vmq_path(d->netdev_dir, sizeof(d->netdev_dir), "%s/class/net/%s", m->sysfs_root,
		 nic->info.ifname);
	vmq_path(d->pci_dir, sizeof(d->pci_dir), "%s", nic->pci_dir);
	vmq_path(d->bus_dev, sizeof(d->bus_dev), "%s", nic->bus_dev);
	vmq_path(d->proc_root, sizeof(d->proc_root), "%s", m->proc_root);
	nic->driver = -1;
	nic->score = 0;
	for (size_t k = 0; k < m->ndrivers; k++) {
		const struct vmq_driver *drv = &m->drivers[k];
		int score = drv->ops->probe ? drv->ops->probe(drv->self, d) : 0;

		/* a tie keeps the first: drivers come in load order */
		if (score > nic->score) {
			nic->score = score;
			nic->driver = (int)k;
		}
	}
	if (nic->driver >= 0)
		modvm_log(MODVM_LOG_INFO, VMQ_LOG, "%s: NIC driver %s (probe %d)", nic->info.ifname,
			  m->drivers[nic->driver].name, nic->score);
}

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
	if (opt && opt->ndrivers) {
		m->drivers = calloc(opt->ndrivers, sizeof(*m->drivers));
		if (!m->drivers) {
			rc = -ENOMEM;
			goto cleanup_m;
		}
		memcpy(m->drivers, opt->drivers, opt->ndrivers * sizeof(*m->drivers));
		m->ndrivers = opt->ndrivers;
	}
	rc = vmq_discover(m->sysfs_root, m->ops, m->ud, &m->nics, &m->nnics, m->skipped,
			  sizeof(m->skipped));
	if (rc)
		goto cleanup_m;
	for (size_t i = 0; i < m->nnics; i++)
		own(m, &m->nics[i]);
	for (size_t i = 0; i < m->nnics && bus; i++) {
		rc = modvm_publish_net_nic(bus, &m->nics[i].info);
		if (rc)
			modvm_log(MODVM_LOG_WARN, VMQ_LOG, "net.nic for %s not published: %s",
				  m->nics[i].info.ifname, modvm_strerror(rc));
	}
	*out = m;
	return 0;

cleanup_m:
	free(m->drivers);
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

static const char *driver_name(const struct vmq_manager *m, int k)
{
	return k >= 0 && (size_t)k < m->ndrivers && m->drivers[k].name ? m->drivers[k].name : "?";
}

/* The loaded drivers, "a, b" or "none loaded", for lines. */
static void driver_names(const struct vmq_manager *m, char *buf, size_t len)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t k = 0; k < m->ndrivers && used < len; k++)
		used += (size_t)snprintf(buf + used, len - used, "%s%s", k ? ", " : "",
					 driver_name(m, (int)k));
	if (!m->ndrivers)
		snprintf(buf, len, "none loaded");
}

/* Why no driver claims @nic, in words a user can act on. */
static const char *unclaimed_detail(const struct vmq_nic *nic)
{
	if (!nic->info.ntuple)
		return "no n-tuple flow steering (rx-ntuple-filter off)";
	if (nic->info.rx_queues < 2)
		return "a single rx queue";
	return "no driver's probe matched";
}

/*
 * The required offloads against what the uplink's driver provides: 0, or
 * -EOPNOTSUPP with one line naming the missing bits.
 */
static int check_offloads(struct vmq_manager *m, const struct vmq_request *req,
			  const struct vmq_nic *nic, const char *macs)
{
	struct modvm_nic_caps caps = { .struct_size = sizeof(caps) };
	char missing[256];
	uint64_t have = 0;

	if (!req->offloads)
		return 0;
	if (nic && nic->driver >= 0) {
		const struct vmq_driver *drv = &m->drivers[nic->driver];

		if (drv->ops->caps && drv->ops->caps(drv->self, &nic->sdk, &caps) == 0)
			have = caps.offload_capa;
	}
	if (!(req->offloads & ~have))
		return 0;
	vmq_offload_names(req->offloads & ~have, missing, sizeof(missing));
	modvm_log(MODVM_LOG_ERROR, VMQ_LOG,
		  "vm %u mac %s: uplink %s%s%s%s lacks the offloads it requires: %s",
		  req->vm_id, macs, req->uplink && req->uplink[0] ? req->uplink : "(none)",
		  nic && nic->driver >= 0 ? " (driver " : nic ? " (no NIC driver" : " (not a NIC",
		  nic && nic->driver >= 0 ? driver_name(m, nic->driver) : "", ")", missing);
	return -EOPNOTSUPP;
}

/* Asks the uplink's owner for a queue; on failure the assignment falls back in place. */
static void ask_driver(struct vmq_manager *m, const struct vmq_nic *nic,
		       const struct vmq_request *req, struct vmq_assignment *a, int host_cpu,
		       const char *macs)
{
	const struct vmq_driver *drv = &m->drivers[nic->driver];
	struct modvm_nic_queue_req qr = { .struct_size = sizeof(qr), .vm_id = req->vm_id,
					  .vlan = req->vlan, .host_cpu = host_cpu };
	struct modvm_nic_queue q = { .struct_size = sizeof(q) };
	int rc;

	memcpy(qr.mac, req->mac, 6);
	rc = drv->ops->queue_alloc ? drv->ops->queue_alloc(drv->self, &nic->sdk, &qr, &q) : -ENOSYS;
	if (rc == 0 && (q.queue == 0 || q.handle == 0)) {
		/* a driver handing out the default queue breaks the contract */
		modvm_log(MODVM_LOG_ERROR, VMQ_LOG,
			  "vm %u mac %s: driver %s gave %s queue %u (handle %llu): not a queue of "
			  "its own; using per-VM tap queues", req->vm_id, macs, drv->name,
			  nic->info.ifname, q.queue, (unsigned long long)q.handle);
		if (drv->ops->queue_free)
			drv->ops->queue_free(drv->self, &nic->sdk, q.handle);
		rc = -EPROTO;
	}
	if (rc == 0) {
		a->dedicated = true;
		a->queue = q.queue;
		a->host_cpu = q.host_cpu;
		a->driver = nic->driver;
		a->handle = q.handle;
		return;
	}
	if (rc == -ENOSPC)
		modvm_log(MODVM_LOG_WARN, VMQ_LOG,
			  "vm %u mac %s: %s has no free rx queue (%u queues, ring 0 is the default); "
			  "this VM shares the default queue",
			  req->vm_id, macs, a->uplink, nic->info.rx_queues);
	else if (rc == -EOPNOTSUPP)
		modvm_log(MODVM_LOG_WARN, VMQ_LOG,
			  "vm %u mac %s: uplink %s: driver %s cannot steer VLAN %u; using per-VM "
			  "tap queues", req->vm_id, macs, a->uplink, drv->name, req->vlan);
	else
		modvm_log(MODVM_LOG_WARN, VMQ_LOG,
			  "vm %u mac %s: uplink %s: driver %s gave no queue (%s); using per-VM tap "
			  "queues", req->vm_id, macs, a->uplink, drv->name, strerror(-rc));
}

int vmq_manager_assign_req(struct vmq_manager *mgr, const struct vmq_request *req, int host_cpu,
			   struct modvm_net_queue_assigned *out)
{
	struct modvm_net_queue_assigned ev;
	struct vmq_decision dec;
	struct vmq_assignment *a;
	const char *uplink = req->uplink;
	char macs[18], names[128];
	int rc;

	fmt_mac(req->mac, macs);
	if (uplink && strlen(uplink) >= VMQ_IFNAMSIZ) {
		modvm_log(MODVM_LOG_ERROR, VMQ_LOG, "vm %u mac %s: uplink \"%s\": interface names have at most %d characters",
			  req->vm_id, macs, uplink, VMQ_IFNAMSIZ - 1);
		return -EINVAL;
	}
	rc = vmq_decide(mgr->nics, mgr->nnics, mgr->as, mgr->nas, req, &dec);
	if (rc) {
		modvm_log(MODVM_LOG_ERROR, VMQ_LOG, "vm %u mac %s uplink %s: %s", req->vm_id, macs,
			  uplink && uplink[0] ? uplink : "(none)",
			  rc == -EEXIST ? "this MAC already has a queue on that uplink"
					: "not a unicast MAC (or a VLAN above 4094)");
		return rc;
	}
	rc = check_offloads(mgr, req, dec.nic >= 0 ? &mgr->nics[dec.nic] : NULL, macs);
	if (rc)
		return rc;
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
	a->vm_id = req->vm_id;
	memcpy(a->mac, req->mac, 6);
	a->vlan = req->vlan;
	snprintf(a->uplink, sizeof(a->uplink), "%s", uplink ? uplink : "");
	a->host_cpu = -1;
	a->driver = -1;

	if (dec.ask_driver) {
		ask_driver(mgr, &mgr->nics[dec.nic], req, a, host_cpu, macs);
	} else if (dec.reason == VMQ_NO_UPLINK) {
		modvm_log(MODVM_LOG_INFO, VMQ_LOG,
			  "vm %u mac %s: no uplink configured; using per-VM tap queues", req->vm_id, macs);
	} else if (dec.reason == VMQ_NO_DRIVER) {
		driver_names(mgr, names, sizeof(names));
		modvm_log(MODVM_LOG_WARN, VMQ_LOG,
			  "vm %u mac %s: uplink %s: no NIC driver claims it (%s; drivers: %s); using "
			  "per-VM tap queues", req->vm_id, macs, a->uplink,
			  unclaimed_detail(&mgr->nics[dec.nic]), names);
	} else {
		modvm_log(MODVM_LOG_WARN, VMQ_LOG, "vm %u mac %s: uplink %s: %s (%s); using per-VM tap queues",
			  req->vm_id, macs, a->uplink, vmq_reason_text(dec.reason),
			  unknown_detail(mgr, a->uplink));
	}
	mgr->nas++;

	memset(&ev, 0, sizeof(ev));
	ev.vm_id = req->vm_id;
	ev.queue = a->queue;
	ev.host_cpu = a->host_cpu;
	ev.dedicated = a->dedicated;
	memcpy(ev.uplink, a->uplink, sizeof(ev.uplink));
	memcpy(ev.mac, req->mac, 6);
	if (out)
		*out = ev;
	if (mgr->bus) {
		rc = modvm_publish_net_queue_assigned(mgr->bus, &ev);
		if (rc)
			modvm_log(MODVM_LOG_WARN, VMQ_LOG, "net.queue_assigned for vm %u not published: %s",
				  req->vm_id, modvm_strerror(rc));
	}
	return 0;
}

int vmq_manager_assign(struct vmq_manager *mgr, uint32_t vm_id, const uint8_t mac[6],
		       const char *uplink, int host_cpu, struct modvm_net_queue_assigned *out)
{
	struct vmq_request req = { .vm_id = vm_id, .uplink = uplink };

	memcpy(req.mac, mac, 6);
	return vmq_manager_assign_req(mgr, &req, host_cpu, out);
}

/* The owner of @a's NIC, NULL if it holds nothing of a driver's. */
static const struct vmq_nic *owner_nic(const struct vmq_manager *m, const struct vmq_assignment *a)
{
	if (a->driver < 0 || !a->handle)
		return NULL;
	return vmq_manager_find_nic(m, a->uplink);
}

static void undo(struct vmq_manager *m, struct vmq_assignment *a)
{
	const struct vmq_nic *nic = owner_nic(m, a);
	int rc;

	if (nic && m->drivers[a->driver].ops->queue_free) {
		const struct vmq_driver *drv = &m->drivers[a->driver];

		rc = drv->ops->queue_free(drv->self, &nic->sdk, a->handle);
		if (rc)
			modvm_log(MODVM_LOG_WARN, VMQ_LOG, "%s: driver %s cannot free queue %u: %s",
				  a->uplink, drv->name, a->queue, strerror(-rc));
	}
	a->driver = -1;
	a->handle = 0;
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
	free(mgr->drivers);
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
		if (n->driver >= 0)
			emit(line, ud, "    offloads: %s%s; VMQ: yes (driver %s, probe %d)",
			     n->features_ok ? "" : "(ethtool features unavailable) ", capa,
			     driver_name(mgr, n->driver), n->score);
		else
			emit(line, ud, "    offloads: %s%s; VMQ: no (no NIC driver claims it: %s; "
				       "per-VM tap queues)",
			     n->features_ok ? "" : "(ethtool features unavailable) ", capa,
			     unclaimed_detail(n));
	}
	if (mgr->skipped[0]) {
		emit(line, ud, "  not NICs here (no PCI function): %s", mgr->skipped);
	}
	emit(line, ud, "  assignments: %zu", mgr->nas);
}
