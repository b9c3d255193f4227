/*
 * Discovery live on this machine: the real /sys, libpci and SIOCETHTOOL.
 * Every /sys/class/net/IF whose device link leads to a PCI function
 * (directly or through one bus device, as virtio_net's virtioN) must be in
 * the table with the vendor/device its sysfs files give, and nothing else
 * may be.  What was found is printed.  No rule is ever installed here: only
 * NICs without n-tuple steering are assigned, which must fall back.
 * Skips (77) on a host with no PCI network function.
 */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "vmq_test.h"

struct expected {
	char ifname[16];
	char pci[16];
	unsigned vendor, device;
};

static unsigned read_hex(const char *dir, const char *name)
{
	char path[PATH_MAX + 32];
	unsigned v = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "re");
	ck_assert_msg(f != NULL, "cannot read %s", path);
	ck_assert_int_eq(fscanf(f, "%x", &v), 1);
	fclose(f);
	return v;
}

static bool is_pci_function(const char *dir)
{
	char path[PATH_MAX + 32], real[PATH_MAX];
	const char *base;

	snprintf(path, sizeof(path), "%s/subsystem", dir);
	if (!realpath(path, real))
		return false;
	base = strrchr(real, '/');
	return base && strcmp(base, "/pci") == 0;
}

/* The interfaces this host has with a PCI function behind them. */
static unsigned expected_nics(struct expected *out, unsigned max)
{
	DIR *d = opendir("/sys/class/net");
	struct dirent *e;
	unsigned n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)) && n < max) {
		char link[PATH_MAX], dev[PATH_MAX];

		if (e->d_name[0] == '.' || strlen(e->d_name) >= 16)
			continue;
		snprintf(link, sizeof(link), "/sys/class/net/%s/device", e->d_name);
		if (!realpath(link, dev))
			continue;
		if (!is_pci_function(dev)) {
			char *slash = strrchr(dev, '/');

			if (!slash)
				continue;
			*slash = '\0';
			if (!is_pci_function(dev))
				continue;
		}
		size_t len = strlen(e->d_name);
		if (len >= sizeof(out[n].ifname))
			continue;	/* no interface name is that long (IFNAMSIZ) */
		memcpy(out[n].ifname, e->d_name, len + 1);
		snprintf(out[n].pci, sizeof(out[n].pci), "%s", strrchr(dev, '/') + 1);
		out[n].vendor = read_hex(dev, "vendor");
		out[n].device = read_hex(dev, "device");
		n++;
	}
	closedir(d);
	return n;
}

static void print_line(const char *text, void *ud)
{
	(void)ud;
	printf("%s\n", text);
}

START_TEST(live_discovery_matches_sysfs)
{
	struct expected want[32];
	unsigned nwant = expected_nics(want, 32);
	struct vmq_manager *m;
	struct events ev;
	struct modvm_bus *bus;
	struct timespec t0, t1;
	double ms;

	if (nwant == 0) {
		printf("SKIP: no /sys/class/net interface with a PCI function on this host\n");
		exit(77);
	}
	bus = test_bus_new(&ev);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_int_eq(vmq_manager_create(bus, NULL, &m), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	printf("live: discovery took %.2f ms\n", ms);
	/* the plugin runs this in init, which the conformance kit allows 100 ms */
	ck_assert_msg(ms < 100.0, "discovery took %.1f ms", ms);
	vmq_manager_describe(m, print_line, NULL);

	ck_assert_uint_eq(vmq_manager_nic_count(m), nwant);
	ck_assert_uint_eq(ev.nnic, nwant);
	for (unsigned i = 0; i < nwant; i++) {
		const struct vmq_nic *n = vmq_manager_find_nic(m, want[i].ifname);

		ck_assert_msg(n != NULL, "%s (PCI %s) not discovered", want[i].ifname, want[i].pci);
		ck_assert_str_eq(n->info.pci_addr, want[i].pci);
		ck_assert_msg(n->info.vendor_id == want[i].vendor && n->info.device_id == want[i].device,
			      "%s: discovered %04x:%04x, sysfs says %04x:%04x", want[i].ifname,
			      n->info.vendor_id, n->info.device_id, want[i].vendor, want[i].device);
		ck_assert_uint_ge(n->info.rx_queues, 1);
		ck_assert_uint_ge(n->info.tx_queues, 1);
		ck_assert_uint_gt(n->info.mtu, 0);
		ck_assert_msg(n->info.driver[0] != '\0', "%s: no driver", want[i].ifname);
		printf("live: %s %s %04x:%04x driver %s msix %u vfs %u rx %u tx %u mtu %u "
		       "offloads %#llx ntuple %u (channels %s, features %s, libpci %s)\n",
		       n->info.ifname, n->info.pci_addr, n->info.vendor_id, n->info.device_id,
		       n->info.driver, n->info.msix_vectors, n->info.sriov_vfs, n->info.rx_queues,
		       n->info.tx_queues, n->info.mtu, (unsigned long long)n->info.offload_capa,
		       n->info.ntuple, n->channels_ok ? "yes" : "no",
		       n->features_ok ? "yes" : "no", n->pci_ok ? "yes" : "no");

		/* only where no rule can be installed: the fallback, live */
		if (!n->info.ntuple) {
			const uint8_t mac[6] = { 0x52, 0x54, 0x00, 0xee, 0x00, (uint8_t)i };
			struct modvm_net_queue_assigned q;

			ck_assert_int_eq(vmq_manager_assign(m, i, mac, n->info.ifname, 0, &q), 0);
			ck_assert_uint_eq(q.dedicated, 0);
			ck_assert_uint_eq(q.queue, 0);
			ck_assert_int_eq(vmq_manager_release(m, i), 1);
		}
	}
	vmq_manager_destroy(m);
	test_bus_free(bus);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vmq_live");
	TCase *tc = tcase_create("live");
	SRunner *sr;
	int failed;

	tcase_add_test(tc, live_discovery_matches_sysfs);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	/* run in-process so exit(77) is the program's status */
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
