/*
 * Discovery on the fixture tree (tests/fixtures/net/nic_tree.c) with the
 * fake ethtool: both NICs found with the fields libpci, sysfs and ethtool
 * give; net.nic published for each; lo left out and named; fallbacks when
 * ethtool or the PCI tree let us down.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fake_ethtool.h"
#include "nic_tree.h"
#include "ntuple.h"
#include "vmq_internal.h"
#include "vmq_test.h"

static struct nic_tree tree;
static struct fake_ethtool fake;

static void setup(void)
{
	ck_assert_int_eq(nic_tree_create(&tree), 0);
	fake_ethtool_fixture(&fake);
	capture_start();
}

static void teardown(void)
{
	capture_stop();
	nic_tree_destroy(&tree);
}

static struct vmq_options fixture_options(void)
{
	struct vmq_options o = {
		.sysfs_root = tree.sys,
		.proc_root = tree.proc,
		.ethtool = &fake_ethtool_ops,
		.ethtool_ud = &fake,
	};
	return o;
}

static char described[2048];

static void collect(const char *text, void *ud)
{
	(void)ud;
	printf("%s\n", text);
	strncat(described, text, sizeof(described) - strlen(described) - 2);
	strcat(described, "\n");
}

static unsigned open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

START_TEST(fixture_finds_both_nics)
{
	unsigned fds_before = open_fds();
	struct vmq_options o = fixture_options();
	struct nt_driver *core;
	struct vmq_driver drv = ntuple_test_driver(&fake, &core);
	struct vmq_manager *m;
	const struct vmq_nic *ix, *vi;
	struct events ev;
	struct modvm_bus *bus = test_bus_new(&ev);
	const uint64_t want_ix = MODVM_NET_OFFLOAD_RX_CSUM | MODVM_NET_OFFLOAD_TX_CSUM |
				 MODVM_NET_OFFLOAD_SG | MODVM_NET_OFFLOAD_TSO4 |
				 MODVM_NET_OFFLOAD_TSO6 | MODVM_NET_OFFLOAD_GSO |
				 MODVM_NET_OFFLOAD_GRO | MODVM_NET_OFFLOAD_LRO |
				 MODVM_NET_OFFLOAD_RXHASH | MODVM_NET_OFFLOAD_NTUPLE |
				 MODVM_NET_OFFLOAD_VLAN_RX | MODVM_NET_OFFLOAD_VLAN_TX;

	o.drivers = &drv;	/* the generic driver: it claims what can steer by MAC */
	o.ndrivers = 1;
	ck_assert_int_eq(vmq_manager_create(bus, &o, &m), 0);
	ck_assert_uint_eq(vmq_manager_nic_count(m), 2);

	ix = vmq_manager_find_nic(m, NIC_TREE_IXGBE_IF);
	ck_assert_ptr_nonnull(ix);
	ck_assert_str_eq(ix->info.pci_addr, NIC_TREE_IXGBE_PCI);
	ck_assert_uint_eq(ix->info.vendor_id, 0x8086);
	ck_assert_uint_eq(ix->info.device_id, 0x10fb);
	ck_assert_str_eq(ix->info.driver, "ixgbe");
	ck_assert_uint_eq(ix->info.msix_vectors, 64);
	ck_assert_uint_eq(ix->info.sriov_vfs, 63);
	ck_assert_uint_eq(ix->sriov_numvfs, 0);
	ck_assert_uint_eq(ix->info.rx_queues, 8);
	ck_assert_uint_eq(ix->info.tx_queues, 8);
	ck_assert_uint_eq(ix->combined, 8);
	ck_assert_uint_eq(ix->info.mtu, 1500);
	ck_assert(ix->pci_ok && ix->channels_ok && ix->features_ok);
	ck_assert_uint_eq(ix->info.ntuple, 1);
	ck_assert_uint_eq(ix->ntuple_source, VMQ_NTUPLE_FEATURE);
	ck_assert_msg(ix->info.offload_capa == want_ix, "ixgbe offloads %#llx, want %#llx",
		      (unsigned long long)ix->info.offload_capa, (unsigned long long)want_ix);
	/* LRO can be switched on but is off */
	ck_assert(!(ix->offload_active & MODVM_NET_OFFLOAD_LRO));
	ck_assert(ix->offload_active & MODVM_NET_OFFLOAD_NTUPLE);
	ck_assert_str_eq(ix->bus_dev, "");

	vi = vmq_manager_find_nic(m, NIC_TREE_VIRTIO_IF);
	ck_assert_ptr_nonnull(vi);
	ck_assert_str_eq(vi->info.pci_addr, NIC_TREE_VIRTIO_PCI);
	ck_assert_uint_eq(vi->info.vendor_id, 0x1af4);
	ck_assert_uint_eq(vi->info.device_id, 0x1041);
	ck_assert_str_eq(vi->info.driver, "virtio_net");
	ck_assert_str_eq(vi->bus_dev, "virtio2");
	ck_assert_uint_eq(vi->info.msix_vectors, 3);
	ck_assert_uint_eq(vi->info.sriov_vfs, 0);
	ck_assert_uint_eq(vi->info.rx_queues, 1);
	ck_assert_uint_eq(vi->info.tx_queues, 1);
	ck_assert_uint_eq(vi->info.ntuple, 0);
	ck_assert(vi->info.offload_capa & MODVM_NET_OFFLOAD_TSO_ECN);
	ck_assert(vi->info.offload_capa & MODVM_NET_OFFLOAD_RX_CSUM);
	ck_assert(!(vi->info.offload_capa & MODVM_NET_OFFLOAD_NTUPLE));
	ck_assert(!(vi->info.offload_capa & MODVM_NET_OFFLOAD_LRO));

	ck_assert_ptr_null(vmq_manager_find_nic(m, "lo"));

	/* net.nic: one per NIC, exactly the table's payload */
	ck_assert_uint_eq(ev.nnic, 2);
	for (unsigned i = 0; i < ev.nnic; i++) {
		const struct vmq_nic *n = vmq_manager_find_nic(m, ev.nic[i].ifname);

		ck_assert_ptr_nonnull(n);
		ck_assert(memcmp(&n->info, &ev.nic[i], sizeof(ev.nic[i])) == 0);
	}

	described[0] = '\0';
	vmq_manager_describe(m, collect, NULL);
	ck_assert_ptr_nonnull(strstr(described, "2 PCI NIC(s)"));
	ck_assert_ptr_nonnull(strstr(described, "enp3s0f0: 0000:03:00.0 8086:10fb driver ixgbe"));
	ck_assert_ptr_nonnull(strstr(described, "MSI-X 64, SR-IOV VFs 0/63"));
	ck_assert_ptr_nonnull(strstr(described, "eth0: 0000:00:03.0 1af4:1041 driver virtio_net"));
	ck_assert_ptr_nonnull(strstr(described, "no PCI function): lo"));
	ck_assert_ptr_nonnull(strstr(described, "VMQ: yes (driver nic-ethtool, probe 10)"));
	ck_assert_ptr_nonnull(strstr(described, "VMQ: no (no NIC driver claims it: no n-tuple"));
	ck_assert_int_eq(ix->driver, 0);
	ck_assert_int_eq(ix->score, 10);
	ck_assert_int_eq(vi->driver, -1);

	vmq_manager_destroy(m);
	nt_driver_free(core);
	test_bus_free(bus);
	ck_assert_uint_eq(open_fds(), fds_before);	/* libpci's config fds closed too */
}
END_TEST

/* A driver without channels or feature strings: sysfs queues, and n-tuple
 * judged by whether the rule table answers. */
START_TEST(ethtool_fallbacks)
{
	struct vmq_options o = fixture_options();
	struct vmq_manager *m;
	const struct vmq_nic *ix, *vi;

	fake_ethtool_nic(&fake, NIC_TREE_IXGBE_IF)->no_channels = true;
	fake_ethtool_nic(&fake, NIC_TREE_IXGBE_IF)->no_features = true;
	fake_ethtool_nic(&fake, NIC_TREE_VIRTIO_IF)->no_features = true;
	ck_assert_int_eq(vmq_manager_create(NULL, &o, &m), 0);
	ix = vmq_manager_find_nic(m, NIC_TREE_IXGBE_IF);
	vi = vmq_manager_find_nic(m, NIC_TREE_VIRTIO_IF);
	ck_assert_ptr_nonnull(ix);
	ck_assert_ptr_nonnull(vi);
	ck_assert(!ix->channels_ok && !ix->features_ok);
	ck_assert_uint_eq(ix->info.rx_queues, 8);	/* queues/rx-0..7 */
	ck_assert_uint_eq(ix->info.tx_queues, 8);
	ck_assert_uint_eq(ix->info.offload_capa, 0);
	ck_assert_uint_eq(ix->ntuple_source, VMQ_NTUPLE_RULECNT);
	ck_assert_uint_eq(ix->info.ntuple, 1);
	ck_assert_uint_eq(vi->ntuple_source, VMQ_NTUPLE_RULECNT);
	ck_assert_uint_eq(vi->info.ntuple, 0);		/* no rule table */
	ck_assert(vi->channels_ok);
	vmq_manager_destroy(m);
}
END_TEST

/* libpci exits the process on a broken tree by default: here the tree is
 * refused up front, NICs come with sysfs ids and no capabilities. */
START_TEST(broken_pci_tree_is_survived)
{
	struct vmq_options o = fixture_options();
	struct vmq_manager *m;
	const struct vmq_nic *ix;

	ck_assert_int_eq(nic_tree_unlink(&tree, "sys/devices/pci0000:00/0000:00:00.0/class"), 0);
	ck_assert_int_eq(vmq_manager_create(NULL, &o, &m), 0);
	ck_assert_uint_eq(capture_count("PCI tree unusable", NULL), 1);
	ck_assert_uint_eq(capture_count("0000:00:00.0/class", NULL), 1);
	ck_assert_uint_eq(vmq_manager_nic_count(m), 2);
	ix = vmq_manager_find_nic(m, NIC_TREE_IXGBE_IF);
	ck_assert(!ix->pci_ok);
	ck_assert_uint_eq(ix->info.vendor_id, 0x8086);
	ck_assert_uint_eq(ix->info.device_id, 0x10fb);
	ck_assert_uint_eq(ix->info.msix_vectors, 0);
	ck_assert_uint_eq(ix->info.sriov_vfs, 63);	/* sysfs still says so */
	vmq_manager_destroy(m);
}
END_TEST

/* Without the sysfs file, TotalVFs comes from the SR-IOV extended
 * capability libpci found in config space. */
START_TEST(sriov_from_capability)
{
	struct vmq_options o = fixture_options();
	struct vmq_manager *m;
	const struct vmq_nic *ix;

	ck_assert_int_eq(nic_tree_unlink(&tree, "sys/devices/pci0000:00/0000:03:00.0/sriov_totalvfs"), 0);
	ck_assert_int_eq(vmq_manager_create(NULL, &o, &m), 0);
	ix = vmq_manager_find_nic(m, NIC_TREE_IXGBE_IF);
	ck_assert_ptr_nonnull(ix);
	ck_assert(ix->pci_ok);
	ck_assert_uint_eq(ix->info.sriov_vfs, 63);
	ck_assert_uint_eq(vmq_manager_find_nic(m, NIC_TREE_VIRTIO_IF)->info.sriov_vfs, 0);
	vmq_manager_destroy(m);
}
END_TEST

START_TEST(missing_sysfs_root_is_an_error)
{
	struct vmq_options o = fixture_options();
	struct vmq_manager *m = (struct vmq_manager *)&o;

	o.sysfs_root = "/nonexistent-vmq-root";
	ck_assert_int_eq(vmq_manager_create(NULL, &o, &m), -ENOENT);
	ck_assert_ptr_null(m);
	ck_assert_uint_eq(capture_count("/nonexistent-vmq-root/class/net", NULL), 1);
}
END_TEST

/* A fifo where a sysfs file should be (a fixture root a config names):
 * read without blocking, an error at once (issue 17, item 6). */
START_TEST(fifo_in_sysfs_root_does_not_block)
{
	char dir[] = "/tmp/vmq-fifo-XXXXXX", path[64], buf[64];

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mtu", dir);
	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_lt(vmq_read_line(path, buf, sizeof(buf)), 0);
	unlink(path);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmq_discover");
	TCase *tc = tcase_create("fixture");
	SRunner *sr;
	int failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, fixture_finds_both_nics);
	tcase_add_test(tc, ethtool_fallbacks);
	tcase_add_test(tc, broken_pci_tree_is_survived);
	tcase_add_test(tc, sriov_from_capability);
	tcase_add_test(tc, missing_sysfs_root_is_an_error);
	tcase_add_test(tc, fifo_in_sysfs_root_does_not_block);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
