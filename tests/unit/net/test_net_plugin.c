/*
 * The net-vmq plugin as a user meets it, through the built `modvm`: its
 * options are described, out-of-range and malformed values are refused
 * naming the file and line, and (with /dev/kvm and a private network
 * namespace) a VM gets a virtio-net device its demo guest finds, on a tap
 * that exists while the VM runs and is gone after a clean stop.
 */
#include <check.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "netns.h"
#include "run_modvm.h"

static struct run_result res;

static bool need_kvm_and_netns(void)
{
	char why[256];
	if (!kvm_usable(why, sizeof(why))) {
		printf("skipped: %s\n", why);
		return false;
	}
	const char *no = netns_unavailable();
	if (no) {
		printf("skipped: %s\n", no);
		return false;
	}
	ck_assert_int_eq(netns_enter(), 0);
	return true;
}

static const char *temp_conf(char *path, size_t size, const char *text)
{
	snprintf(path, size, "/tmp/net-vmq-XXXXXX.conf");
	int fd = mkstemps(path, 5);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return path;
}

#define PLUGINS                                                                        \
	"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; };\n"  \
	"  net-vmq = { enabled = true; }; };\n"

START_TEST(describe_lists_options)
{
	run_modvm(&res, 30, "plugins", "--describe", "net-vmq", NULL);
	run_expect(&res, 0, "net", NULL);
	const char *want[] = { "tap", "mac", "queues", "range 1..16", "mtu", "range 68..65535",
			       "offload.csum", "offload.tso", "offload.ecn", "uplink",
			       "net.queue_assigned" };
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		ck_assert_msg(strstr(res.out, want[i]), "missing %s", want[i]);
}
END_TEST

START_TEST(example_config_validates)
{
	char path[4096];
	const char *root = getenv("MODVM_SOURCE_ROOT");
	snprintf(path, sizeof(path), "%s/etc/networking.conf", root ? root : ".");
	run_modvm(&res, 30, "check", path, NULL);
	run_expect(&res, 0, "OK (4 plugins, 1 VM)", NULL);
}
END_TEST

/* Writes @text to a temporary config, runs `modvm CMD` on it and removes it. */
static void run_text(const char *cmd, int timeout, const char *text)
{
	char path[64];

	temp_conf(path, sizeof(path), text);
	run_modvm(&res, timeout, cmd, path, NULL);
	unlink(path);
}

/* VM "a", left open for its net-vmq group: after PLUGINS, that group starts on line 4. */
#define VM_A "vms = ( { name = \"a\"; memory = \"64M\"; kernel = \"builtin:demo\";\n"

/* Any non-zero status: `modvm run` has no one code for a refused device. */
#define FAILS (-1)

/*
 * `modvm check` refuses a value its option table rules out (status 2, naming
 * file:line).  What the plugin checks itself as it starts (a unicast mac,
 * tso needing csum) only `modvm run` refuses, which needs KVM and a netns.
 */
static const struct refusal {
	const char *name;
	const char *cmd;	/* "check", or "run" (skipped without KVM/netns) */
	const char *group;	/* the VM's net-vmq group, from line 4 */
	int status;		/* FAILS: any non-zero status */
	const char *says[2];	/* each must be in stderr; NULL ends */
} refusals[] = {
	{ "mtu out of range", "check", "  net-vmq = { mtu = 65536; }; } );\n", 2,
	  { ":4:", "mtu" } },
	{ "unknown offload", "check",
	  "  net-vmq = { offload = { csum = true; ufo = true; }; }; } );\n", 2, { ":4:", "ufo" } },
	{ "multicast mac", "run",
	  "  net-vmq = {\n    mac = \"01:02:03:04:05:06\"; }; } );\n", FAILS,
	  { ":5: vm a: mac: \"01:02:03:04:05:06\": expected a unicast" } },
	{ "tso without csum", "run",
	  "  net-vmq = { offload = { csum = false; tso = true; }; }; } );\n", FAILS,
	  { "offload.tso = true needs offload.csum = true" } },
};

START_TEST(bad_config_refused)
{
	const struct refusal *rf = &refusals[_i];
	char text[512];

	if (!strcmp(rf->cmd, "run") && !need_kvm_and_netns())
		return;
	snprintf(text, sizeof(text), PLUGINS VM_A "%s", rf->group);
	run_text(rf->cmd, 30, text);
	if (rf->status == FAILS)
		ck_assert_msg(res.status != 0, "case %s: status 0, stderr: %s", rf->name, res.err);
	else
		ck_assert_msg(res.status == rf->status, "case %s: status %d, want %d, stderr: %s",
			      rf->name, res.status, rf->status, res.err);
	for (size_t i = 0; i < sizeof(rf->says) / sizeof(rf->says[0]) && rf->says[i]; i++)
		ck_assert_msg(strstr(res.err, rf->says[i]), "case %s: no \"%s\" in stderr: %s",
			      rf->name, rf->says[i], res.err);
}
END_TEST

/*
 * Several NICs per VM (a `nics` list), refused the way a user would get it
 * wrong.  The VM does not start by itself, so `modvm run` goes as far as
 * the plugin's init, which checks what the option table cannot, with no
 * KVM or network namespace needed.
 */
#define VM_IDLE "vms = ( { name = \"a\"; memory = \"64M\"; autostart = false;\n"

static const struct refusal list_refusals[] = {
	{ "keys beside the list", "run",
	  "  net-vmq = { nics = ( { tap = \"t0\"; } );\n    mtu = 9000; }; } );\n", 1,
	  { ":5: vm a: mtu: a group with `nics = ( ... )` takes its NICs' keys in the list "
	    "elements, not beside it" } },
	{ "two NICs, one MAC", "run",
	  "  net-vmq = { nics = ( { mac = \"52:54:00:00:00:07\"; },\n"
	  "    { mac = \"52:54:00:00:00:07\"; } ); }; } );\n", 1,
	  { ":5: vm a: nics.[1].mac: the same address as nics.[0]" } },
	{ "two NICs, one tap", "run",
	  "  net-vmq = { nics = ( { tap = \"t0\"; },\n    { tap = \"t0\"; } ); }; } );\n", 1,
	  { ":5: vm a: nics.[1].tap: \"t0\" is already vm a's nics.[0].tap (NICs on one tap "
	    "see each other's frames)" } },
	{ "two VMs, one tap", "run",
	  "  net-vmq = { tap = \"t0\"; }; },\n"
	  "  { name = \"b\"; memory = \"64M\"; autostart = false;\n"
	  "  net-vmq = { tap = \"t0\"; }; } );\n", 1,
	  { ":6: vm b: tap: \"t0\" is already vm a's tap" } },
	{ "a multicast MAC in the list", "run",
	  "  net-vmq = { nics = ( { },\n    { mac = \"01:00:5e:00:00:01\"; } ); }; } );\n", 1,
	  { ":5: vm a: nics.[1].mac: \"01:00:5e:00:00:01\": expected a unicast" } },
	{ "tso without csum in the list", "run",
	  "  net-vmq = { nics = ( { offload = { csum = false; tso = true; }; } ); }; } );\n", 1,
	  { ":4: vm a: nics.[0].offload.tso = true needs offload.csum = true" } },
	{ "unknown key in an element", "check",
	  "  net-vmq = { nics = ( { tap = \"t0\"; },\n    { colour = \"red\"; } ); }; } );\n", 2,
	  { ":5: vms.[0].net-vmq.nics.[1].colour: unknown key (known: tap, mac, queues" } },
	{ "nine NICs", "check",
	  "  net-vmq = { nics = ( {},{},{},{},{},{},{},{},{} ); }; } );\n", 2,
	  { ":4: vms.[0].net-vmq.nics: 9 elements, allowed [0, 8]" } },
};

START_TEST(bad_nic_list_refused)
{
	const struct refusal *rf = &list_refusals[_i];
	char text[512];

	snprintf(text, sizeof(text), PLUGINS VM_IDLE "%s", rf->group);
	run_text(rf->cmd, 30, text);
	ck_assert_msg(res.status == rf->status, "case %s: status %d, want %d, stderr: %s", rf->name,
		      res.status, rf->status, res.err);
	for (size_t i = 0; i < sizeof(rf->says) / sizeof(rf->says[0]) && rf->says[i]; i++)
		ck_assert_msg(strstr(res.err, rf->says[i]), "case %s: no \"%s\" in stderr: %s",
			      rf->name, rf->says[i], res.err);
}
END_TEST

/* The single-NIC form and a one-element list validate alike; `nics = ()`
 * is a VM with no NIC. */
START_TEST(nic_forms_accepted)
{
	static const char *const groups[] = {
		"  net-vmq = { tap = \"t0\"; }; } );\n",
		"  net-vmq = { nics = ( { tap = \"t0\"; } ); }; } );\n",
		"  net-vmq = { nics = ( { tap = \"t0\"; }, { tap = \"t1\"; mtu = 9000; } ); }; } );\n",
		"  net-vmq = { nics = (); }; } );\n",
	};
	char text[512];

	for (size_t i = 0; i < sizeof(groups) / sizeof(groups[0]); i++) {
		snprintf(text, sizeof(text), PLUGINS VM_IDLE "%s", groups[i]);
		run_text("check", 30, text);
		ck_assert_msg(res.status == 0, "form %zu: %s", i, res.err);
	}
}
END_TEST

/* Two NICs on two taps: the demo guest finds two virtio-net devices. */
START_TEST(vm_gets_two_nics)
{
	if (!need_kvm_and_netns())
		return;
	run_text("run", 60,
		 "host = { log_level = \"info\"; };\n" PLUGINS VM_A
		 "  net-vmq = { nics = ( { tap = \"mvq0\"; mac = \"52:54:00:00:00:10\"; },\n"
		 "    { tap = \"mvq1\"; queues = 2; } ); }; } );\n");
	ck_assert_msg(res.status == 0, "status %d, stderr: %s", res.status, res.err);
	ck_assert_msg(strstr(res.out, "virtio-mmio at 0xd0001000: net") &&
			      strstr(res.out, "virtio-mmio at 0xd0002000: net"), "stdout: %s", res.out);
	ck_assert_msg(strstr(res.err, "virtio-net on mvq0, mac 52:54:00:00:00:10, 1 queue pair(s)") &&
			      strstr(res.err, "virtio-net on mvq1, mac 52:54:00:"), "stderr: %s",
		      res.err);
	const char *ev = strstr(res.out, "event net.queue_assigned");
	ck_assert_ptr_nonnull(ev);
	const char *pub = strstr(ev, "published 2 "), *eol = strchr(ev, '\n');
	ck_assert_msg(pub && eol && pub < eol, "net.queue_assigned not published twice");
	ck_assert_uint_eq(if_nametoindex("mvq0"), 0);
	ck_assert_uint_eq(if_nametoindex("mvq1"), 0);
}
END_TEST

START_TEST(vm_gets_a_nic)
{
	if (!need_kvm_and_netns())
		return;
	/* The demo guest lists its virtio devices and powers off. */
	run_text("run", 60,
		 "host = { log_level = \"info\"; };\n" PLUGINS VM_A
		 "  net-vmq = { tap = \"mvp0\"; mac = \"52:54:00:aa:bb:cc\"; queues = 2;\n"
		 "    mtu = 9000; offload = { ecn = true; }; uplink = \"eth9\"; }; } );\n");
	ck_assert_msg(res.status == 0, "status %d, stderr: %s", res.status, res.err);
	ck_assert_msg(strstr(res.out, "virtio-mmio at 0xd0001000: net"), "stdout: %s", res.out);
	const char *ev = strstr(res.out, "event net.queue_assigned");
	ck_assert_ptr_nonnull(ev);
	const char *pub = strstr(ev, "published 1 "), *eol = strchr(ev, '\n');
	ck_assert_msg(pub && eol && pub < eol, "net.queue_assigned not published once");
	ck_assert_msg(strstr(res.err, "virtio-net on mvp0, mac 52:54:00:aa:bb:cc, 2 queue pair(s), "
				      "mtu 9000"), "stderr: %s", res.err);
	ck_assert_ptr_nonnull(strstr(res.err, "uplink eth9: no dedicated receive queue, falling "
					      "back to per-VM tap queues"));
	/* Not persistent: closing its queues on teardown removed it. */
	ck_assert_uint_eq(if_nametoindex("mvp0"), 0);
}
END_TEST

/*
 * Frames both ways through a running VM: the demo guest's own virtio-net
 * driver asks who has 10.0.0.1 (the tap's address in this namespace) and
 * pings it; the host kernel answers both over the tap.
 */
START_TEST(guest_arps_and_pings_the_host)
{
	if (!need_kvm_and_netns())
		return;
	ck_assert_int_eq(netns_sh("ip tuntap add dev mvp1 mode tap multi_queue vnet_hdr && "
				  "ip addr add 10.0.0.1/24 dev mvp1 && ip link set mvp1 up"), 0);
	run_text("run", 60,
		 "host = { log_level = \"info\"; };\n" PLUGINS
		 "vms = ( { name = \"pinger\"; memory = \"64M\"; kernel = \"builtin:demo\";\n"
		 "  cmdline = \"console=ttyS0 modvm.demo.net=10.0.0.2,10.0.0.1\";\n"
		 "  net-vmq = { tap = \"mvp1\"; mac = \"52:54:00:12:34:56\"; }; } );\n");
	ck_assert_msg(res.status == 0, "status %d, stderr: %s", res.status, res.err);
	ck_assert_msg(strstr(res.out, "demo-net: 52:54:00:12:34:56 10.0.0.2 asks who has 10.0.0.1"),
		      "stdout: %s", res.out);
	ck_assert_msg(strstr(res.out, "demo-net: 10.0.0.1 is at "), "stdout: %s", res.out);
	ck_assert_msg(strstr(res.out, "demo-net: echo reply from 10.0.0.1, 32 bytes"), "stdout: %s",
		      res.out);
	ck_assert_int_eq(netns_sh("ip link del mvp1"), 0);
}
END_TEST

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: %s MODVM_BINARY\n", argv[0]);
		return 2;
	}
	run_modvm_init(argv[1]);
	Suite *s = suite_create("net_plugin");
	TCase *tc = tcase_create("plugin");
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, describe_lists_options);
	tcase_add_test(tc, example_config_validates);
	tcase_add_loop_test(tc, bad_config_refused, 0, sizeof(refusals) / sizeof(refusals[0]));
	tcase_add_loop_test(tc, bad_nic_list_refused, 0,
			    sizeof(list_refusals) / sizeof(list_refusals[0]));
	tcase_add_test(tc, nic_forms_accepted);
	tcase_add_test(tc, vm_gets_a_nic);
	tcase_add_test(tc, vm_gets_two_nics);
	tcase_add_test(tc, guest_arps_and_pings_the_host);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
