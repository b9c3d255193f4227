/*
 * ntuple.h — nic-ethtool's driver core: dedicated receive queues through
 * ethtool n-tuple rules (a destination-MAC rule, with the VLAN when one is
 * asked, to a ring) and the ring's IRQ pointed at the VM's core.  A static
 * library the plugin links whole; the VMQ unit tests drive it with a fake
 * ethtool on the fixture NIC tree (tests/fixtures/net).
 *
 * The NIC's rule table is shared (another modvm, the operator, a run that
 * was killed): a queue takes a ring no rule there targets, a MAC a rule
 * already steers is refused (-EEXIST, the VM keeps the default queue, the
 * log names the rule), and a rule is deleted only while its location still
 * holds what this driver put there.
 *
 * Threading: one loop thread (the plugin's calls).  No locks.
 */
#ifndef NIC_ETHTOOL_NTUPLE_H
#define NIC_ETHTOOL_NTUPLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <modvm/nicdrv.h>

#define NT_LOG "nic-ethtool"
/* What probe() answers for a NIC it can drive: generic, so any vendor's
 * driver that knows its own device should answer more. */
#define NT_SCORE 10

/*
 * The ethtool channel.  @ethtool performs one SIOCETHTOOL request on
 * @ifname: @cmd points at the ethtool structure whose first u32 is the
 * ETHTOOL_* command, exactly as the ioctl takes it.  0 or -errno.  Tests
 * pass a fake that answers from a table and records rules.
 */
struct nt_ethtool_ops {
	int (*ethtool)(void *ud, const char *ifname, void *cmd);
};
extern const struct nt_ethtool_ops nt_ethtool_live;

struct nt_driver;

/* A driver on @ops (NULL: the live ioctl).  NULL on ENOMEM. */
struct nt_driver *nt_driver_new(const struct nt_ethtool_ops *ops, void *ud);
/* Frees every queue still given (newest first, so an IRQ two queues moved
 * ends with its original affinity), then the driver.  NULL is ignored. */
void nt_driver_free(struct nt_driver *d);

/* NT_SCORE for a NIC with n-tuple steering on and a ring besides ring 0, else 0. */
int nt_probe(const struct modvm_nic *nic);
int nt_caps(const struct modvm_nic *nic, struct modvm_nic_caps *out);

/*
 * The lowest ring in 1..@rx_queues-1 that none of @taken holds (ring 0
 * takes what no rule matches: it is nobody's own).  0 with *@ring, or
 * -ENOSPC.  Pure.
 */
int nt_pick_ring(uint32_t rx_queues, const uint32_t *taken, size_t ntaken, uint32_t *ring);

/* The vtable's calls (modvm/nicdrv.h), on one driver. */
int nt_queue_alloc(struct nt_driver *d, const struct modvm_nic *nic,
		   const struct modvm_nic_queue_req *req, struct modvm_nic_queue *out);
int nt_queue_free(struct nt_driver *d, const struct modvm_nic *nic, uint64_t handle);
/* Queues given now (all NICs). */
size_t nt_queue_count(const struct nt_driver *d);
/* The ethtool rule location of queue @handle, -1 if none (tests). */
int64_t nt_rule_location(const struct nt_driver *d, uint64_t handle);

/* ---- rules.c: the ethtool requests behind a queue ---- */

/* ETHTOOL_GRXCLSRLCNT: rules installed and table size.  0 or -errno. */
int nt_rule_count(const struct nt_ethtool_ops *ops, void *ud, const char *ifname,
		  uint32_t *count, uint32_t *table_size);
/*
 * Installs "ETHER_FLOW dst @mac [vlan @vlan] -> ring @queue" at a free
 * location (the driver's choice where it supports RX_CLS_LOC_ANY, else the
 * highest free slot, as ethtool(8) does).  *@loc receives the location.
 */
int nt_rule_insert(const struct nt_ethtool_ops *ops, void *ud, const char *ifname,
		   const uint8_t mac[6], uint16_t vlan, uint32_t queue, uint32_t *loc);
int nt_rule_delete(const struct nt_ethtool_ops *ops, void *ud, const char *ifname, uint32_t loc);

/* One classification rule as the NIC holds it (ETHTOOL_GRXCLSRULE). */
struct nt_rule {
	uint32_t loc;
	uint32_t flow_type;		/* with FLOW_EXT and the like */
	uint8_t mac[6], mac_mask[6];	/* ETHER_FLOW: the destination */
	uint16_t vlan, vlan_mask;	/* FLOW_EXT: the VLAN TCI */
	uint64_t ring_cookie;		/* RX_CLS_FLOW_DISC: drop */
};
/* The rule at @loc.  0, -ENOENT (none there) or -errno. */
int nt_rule_get(const struct nt_ethtool_ops *ops, void *ud, const char *ifname, uint32_t loc,
		struct nt_rule *out);
/* Every rule on @ifname (another modvm's, the operator's): *@out, to be
 * freed, *@n of them.  0 or -errno. */
int nt_rules_read(const struct nt_ethtool_ops *ops, void *ud, const char *ifname,
		  struct nt_rule **out, size_t *n);
/* Whether @r is the rule nt_rule_insert() makes for @mac, @vlan, @ring
 * (NT_ANY_RING: to whichever ring). */
#define NT_ANY_RING UINT64_MAX
bool nt_rule_is(const struct nt_rule *r, const uint8_t mac[6], uint16_t vlan, uint64_t ring);

/* ---- journal.c: what a run changed, for the next one to undo ---- */

struct nt_journal;
/* This process's journal in @dir (made if missing): its file is made at
 * the first change and removed when nothing is left to undo, or with
 * @hold made now and kept open (for a switch to another user).  0, or
 * -errno with @err naming the file. */
int nt_journal_open(struct nt_journal **out, const char *dir, bool hold, char *err,
		    size_t len);
/* Closes it; removed (emptied where it cannot be) when nothing is left to
 * undo.  NULL is ignored. */
void nt_journal_close(struct nt_journal *j);
/* Lines written before a change and dropped once it is undone (a NULL
 * journal takes none).  0 or -errno (logged). */
int nt_journal_add(struct nt_journal *j, const char *line);
/*
 * The host-wide lock on choosing a ring: every modvm with this driver
 * takes the journals' directory's flock from reading a NIC's rules to
 * inserting its own, so two cannot pick the same free ring.  Waits up to
 * NT_LOCK_WAIT_MS; 0, -EBUSY or -errno.  NULL @j (no journal) locks
 * nothing.
 */
#define NT_LOCK_WAIT_MS 1000
int nt_journal_lock(struct nt_journal *j);
void nt_journal_unlock(struct nt_journal *j);
void nt_journal_drop(struct nt_journal *j, const char *line);
/*
 * Undoes what the journals in @dir that no live process holds say (@ops:
 * NULL for the live ethtool; IRQs under @proc_root) and removes them.
 * *@undone counts the rules deleted and affinities written back.  0 or
 * -errno (the directory).
 */
int nt_journal_recover(const char *dir, const struct nt_ethtool_ops *ops, void *ud,
		       const char *proc_root, unsigned *undone);
/* From now on @d journals each rule and IRQ change in @j (NULL: none). */
void nt_driver_set_journal(struct nt_driver *d, struct nt_journal *j);
/* The journal @d writes to (NULL: none); the caller still owns it. */
struct nt_journal *nt_driver_journal(const struct nt_driver *d);

/* ---- irq.c: the IRQ of a ring, and its affinity ---- */

/*
 * The IRQ serving rx ring @queue of @nic: one of the function's msi_irqs
 * whose /proc/interrupts name is "IF-TxRx-Q" / "IF-rx-Q" (any prefix such
 * as "i40e-"), "virtioN-input.Q" or "mlx5_compQ@pci:ADDR".  0 or -ENOENT.
 */
int nt_irq_find(const struct modvm_nic *nic, uint32_t queue, int *irq);
/* PROC/irq/N/smp_affinity_list read and written.  0 or -errno (logged on write). */
int nt_irq_get_affinity(const char *proc_root, int irq, char *buf, size_t len);
int nt_irq_set_affinity(const char *proc_root, int irq, const char *list);

#endif
