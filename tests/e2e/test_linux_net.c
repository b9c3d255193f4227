/*
 * net-vmq with Linux's own virtio_net driver: the guest negotiates
 * checksum and TCP segmentation offload both ways and an MTU it can raise
 * to 9000, pings the host end of its tap, and moves 100 MiB of random data
 * to the host and 16 MiB back over TCP (busybox nc), each verified by
 * SHA-256 on both sides (less inbound: the nested test host runs the guest
 * at TCG speed, and the suite has a time budget).
 * The test runs in a private network namespace; the tap is its own.
 *
 * Needs a KVM with hardware virtualization (natively on VMX/SVM hosts,
 * elsewhere in the nested SVM test host through scripts/kvm-exec).
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "guest/linux_image.h"
#include "guest_suite.h"
#include "netns.h"
#include "run_modvm.h"
#include "sha256.h"

#define TO_HOST_MIB 100
#define TO_GUEST_MIB 16
#define HOST_IP "10.0.0.1"
#define GUEST_IP "10.0.0.2"
#define TO_HOST_PORT 5001
#define TO_GUEST_PORT 5002
/* No byte moved for this long while a transfer is under way: the run is
 * stopped and what the host sees of it is printed (a good run moves data
 * every second; the guest's own pauses, making and hashing the blob, fall
 * outside the transfers). */
#define STALL_S 90

static struct linux_kit kit;
static struct run_result res;

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One direction of the transfer, done by a thread of the test. */
struct flow {
	pthread_t thread;
	bool started;
	int listen_fd;		/* guest -> host: the listening socket */
	_Atomic int fd;		/* host -> guest: the connection (closed after the join) */
	_Atomic bool active;	/* connected, end not reached */
	_Atomic bool stop;	/* the run is over: a receiver still reading gives up */
	char sha[65];
	_Atomic uint64_t bytes;
	double seconds;
	int err;
};

static void *receive_from_guest(void *arg)
{
	struct flow *f = arg;
	static char buf[1 << 16];
	struct sha256 s;

	int fd = accept(f->listen_fd, NULL, NULL);
	if (fd < 0) {
		f->err = -1;
		return NULL;
	}
	/* A guest gone mid-transfer sends no FIN: reads time out so that the
	 * thread sees the end of the run instead of waiting forever. */
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	f->active = true;
	double t0 = now_s();
	sha256_init(&s);
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			sha256_update(&s, buf, (size_t)n);
			f->bytes += (uint64_t)n;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) &&
			   !f->stop) {
			continue;
		} else {
			if (n < 0)
				f->err = -errno;
			break;
		}
	}
	f->active = false;
	f->seconds = now_s() - t0;
	sha256_hex(&s, f->sha);
	close(fd);
	return NULL;
}

static void *send_to_guest(void *arg)
{
	struct flow *f = arg;
	static uint64_t buf[8192];
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(TO_GUEST_PORT) };
	struct sha256 s;
	uint64_t x = 0x9e3779b97f4a7c15ull;

	inet_pton(AF_INET, GUEST_IP, &sa.sin_addr);
	/* The guest's nc may not listen yet when it says so: retry a while. */
	int fd = -1;
	for (int tries = 0; fd < 0 && tries < 60; tries++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			fd = -1;
			sleep(1);
		}
	}
	if (fd < 0) {
		f->err = -1;
		return NULL;
	}
	f->fd = fd;	/* the test shuts it down if the guest is gone mid-way */
	f->active = true;
	double t0 = now_s();
	sha256_init(&s);
	while (f->bytes < (uint64_t)TO_GUEST_MIB << 20) {
		for (size_t i = 0; i < sizeof(buf) / sizeof(buf[0]); i++) {
			x ^= x << 13;	/* xorshift64: data no compressor or dedup shortcut helps */
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = x;
		}
		sha256_update(&s, buf, sizeof(buf));
		for (size_t off = 0; off < sizeof(buf);) {
			/* MSG_NOSIGNAL: the test shuts the socket down under a write
			 * blocked on a stalled guest; that must fail the write, not
			 * kill the test with SIGPIPE. */
			ssize_t n = send(fd, (char *)buf + off, sizeof(buf) - off, MSG_NOSIGNAL);
			if (n <= 0) {
				f->err = -1;
				f->active = false;
				return NULL;
			}
			off += (size_t)n;
		}
		f->bytes += sizeof(buf);
	}
	f->seconds = now_s() - t0;
	sha256_hex(&s, f->sha);
	shutdown(fd, SHUT_WR);	/* the guest's nc sees the end */
	f->active = false;
	return NULL;
}

struct run_state {
	struct flow to_host, to_guest;
	uint64_t seen_bytes;	/* both flows, at the last look */
	double seen_at;		/* when they last moved */
	double stalled;		/* seconds without a byte when the run was stopped; 0: never */
	char diag[8192];	/* what the host saw then */
};

/* The host's side of a stalled transfer: its TCP sockets and tap counters
 * (namespace-wide, /proc/net/...), and where modvm's threads are. */
static void snapshot(int pid, char *out, size_t len)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd),
		 "{ echo '/proc/net/tcp:'; cat /proc/net/tcp; echo '/proc/net/dev:'; cat /proc/net/dev;"
		 "  grep -h '^Tcp' /proc/net/snmp; echo 'modvm threads:';"
		 "  for t in /proc/%d/task/*; do"
		 "    echo \"$(cat $t/comm) $(cut -d' ' -f3 $t/stat) wchan=$(cat $t/wchan)\";"
		 "    head -n 6 $t/stack 2>/dev/null | sed 's/^/    /';"
		 "  done; } 2>&1",
		 pid);
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(out, 1, len - 1, p) : 0;
	out[n] = '\0';
	if (p)
		pclose(p);
}

/* Starts the host's sending side once the guest listens, and stops the run
 * when a transfer stalls. */
static bool drive(int pid, const char *out, void *ud)
{
	struct run_state *st = ud;
	if (!st->to_guest.started && strstr(out, "modvm-guest: rx-ready")) {
		st->to_guest.started = true;
		ck_assert_int_eq(pthread_create(&st->to_guest.thread, NULL, send_to_guest, &st->to_guest), 0);
	}
	double t = now_s();
	uint64_t b = st->to_host.bytes + st->to_guest.bytes;
	if (b != st->seen_bytes || !(st->to_host.active || st->to_guest.active) || !st->seen_at) {
		st->seen_bytes = b;
		st->seen_at = t;
	} else if (t - st->seen_at > STALL_S) {
		st->stalled = t - st->seen_at;
		snapshot(pid, st->diag, sizeof(st->diag));
		return true;	/* stop it: the failure report says the rest */
	}
	return false;	/* run until the guest powers off */
}

static const char script[] =
	"for d in /sys/bus/virtio/devices/*; do\n"
	"  [ \"$(cat $d/device)\" = 0x0001 ] && echo modvm-guest: net-features $(cat $d/features)\n"
	"done\n"
	"ip link set eth0 mtu 9000 && echo modvm-guest: mtu $(cat /sys/class/net/eth0/mtu)\n"
	"ip addr add " GUEST_IP "/24 dev eth0\n"
	"ip link set eth0 up\n"
	"echo modvm-guest: ping $(ping -c 3 -W 5 " HOST_IP " | grep -o '[0-9]* packets received')\n"
	/* What the guest sees, every 20 s: if a transfer stalls, the output
	 * shows whose counters stopped. */
	"(while sleep 20; do echo modvm-guest: mon $(cut -d' ' -f1 /proc/uptime)"
	" $(grep eth0: /proc/net/dev) / $(grep virtio /proc/interrupts | tr -s ' ')"
	" / $(grep '^Tcp:' /proc/net/snmp | tail -n 1); done) &\n"
	"echo modvm-guest: at $(cut -d' ' -f1 /proc/uptime) s: making the blob\n"
	"dd if=/dev/urandom of=/tmp/blob bs=1M count=%d 2>/dev/null\n"
	"echo modvm-guest: tx-sha256 $(sha256sum /tmp/blob | cut -d' ' -f1)\n"
	"echo modvm-guest: at $(cut -d' ' -f1 /proc/uptime) s: sending\n"
	"nc " HOST_IP " %d </tmp/blob\n"
	"rm /tmp/blob\n"
	"nc -l -p %d >/tmp/rx &\n"
	"rx=$!\n"
	"sleep 1\n"
	"echo modvm-guest: rx-ready\n"
	"wait $rx\n"
	"echo modvm-guest: at $(cut -d' ' -f1 /proc/uptime) s: received\n"
	"echo modvm-guest: rx-sha256 $(sha256sum /tmp/rx | cut -d' ' -f1)\n"
	"echo modvm-guest: rx-bytes $(wc -c </tmp/rx)\n"
	"poweroff -f\n";

static const char *guest_says(const char *key, char *buf, size_t len)
{
	char needle[64];
	snprintf(needle, sizeof(needle), "modvm-guest: %s ", key);
	const char *p = strstr(res.out, needle);
	if (!p)
		return NULL;
	p += strlen(needle);
	size_t n = strcspn(p, "\r\n");
	snprintf(buf, len, "%.*s", (int)(n < len ? n : len - 1), p);
	return buf;
}

/* The negotiated virtio feature bits, as the guest's sysfs shows them. */
static void expect_bit(const char *features, unsigned bit, const char *name)
{
	ck_assert_msg(strlen(features) > bit && features[bit] == '1',
		      "virtio-net feature %s (bit %u) not negotiated: %s", name, bit, features);
}

START_TEST(linux_virtio_net_offloads_mtu_ping_tcp)
{
	char dir[] = "/tmp/modvm-linux-net-XXXXXX", initrd[64], conf[64], buf[160], body[2048];
	const char *const mods[] = { "virtio_mmio", "virtio_net", NULL };
	struct run_state st = { .to_guest.fd = -1 };

	ck_assert_int_eq(netns_enter(), 0);
	ck_assert_int_eq(netns_sh("ip tuntap add dev mvtap0 mode tap multi_queue vnet_hdr"), 0);
	ck_assert_int_eq(netns_sh("ip addr add " HOST_IP "/24 dev mvtap0"), 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(TO_HOST_PORT) };
	inet_pton(AF_INET, HOST_IP, &sa.sin_addr);
	st.to_host.listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(st.to_host.listen_fd, 0);
	int one = 1;
	setsockopt(st.to_host.listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ck_assert_int_eq(bind(st.to_host.listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(st.to_host.listen_fd, 1), 0);
	ck_assert_int_eq(pthread_create(&st.to_host.thread, NULL, receive_from_guest, &st.to_host), 0);

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(initrd, sizeof(initrd), "%s/initrd.cpio", dir);
	snprintf(body, sizeof(body), script, TO_HOST_MIB, TO_HOST_PORT, TO_GUEST_PORT);
	ck_assert_int_eq(linux_image(&kit, initrd, mods, body), 0);
	snprintf(conf, sizeof(conf), "%s/vm.conf", dir);
	FILE *f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; };\n"
		"            net-vmq = { enabled = true; }; };\n"
		"vms = ( { name = \"net\"; vcpus = 2; memory = \"512M\"; rng = false;\n"
		"          kernel = \"%s\"; initrd = \"%s\";\n"
		"          cmdline = \"console=ttyS0 rdinit=/init panic=-1\";\n"
		"          net-vmq = { tap = \"mvtap0\"; mac = \"52:54:00:00:00:02\"; mtu = 9000;\n"
		"                      offload = { csum = true; tso = true; }; }; } );\n",
		kit.vmlinuz, initrd);
	ck_assert_int_eq(fclose(f), 0);

	/* -v: net-vmq's account of each queue at stop, for a failure report. */
	const char *const args[] = { "-v", "run", conf, NULL };
	double t0 = now_s();
	run_modvm_watch(&res, 900, args, drive, &st);
	double t = now_s() - t0;
	st.to_host.stop = true;
	shutdown(st.to_host.listen_fd, SHUT_RDWR);	/* an accept never satisfied returns */
	pthread_join(st.to_host.thread, NULL);
	close(st.to_host.listen_fd);
	if (st.to_guest.fd >= 0)	/* a write to a guest that is gone returns */
		shutdown(st.to_guest.fd, SHUT_RDWR);
	if (st.to_guest.started)
		pthread_join(st.to_guest.thread, NULL);
	if (st.to_guest.fd >= 0)
		close(st.to_guest.fd);
	snprintf(body, sizeof(body), "rm -rf %s", dir);
	ck_assert_int_eq(system(body), 0);

	if (st.stalled) {
		/* Too long for a Check message (~4 KiB): printed whole. */
		printf("transfer stalled: no byte for %.0f s; the host's side then:\n%s\n"
		       "guest output:\n%s\nmodvm's log:\n%s\n", st.stalled, st.diag,
		       run_tail(res.out, 6000), run_tail(res.err, 3000));
		fflush(stdout);
	}
	ck_assert_msg(!st.stalled && res.status == 0 && t < 890,
		      "%sexit %d after %.0f s (%llu of %d MiB to the host, %llu of %d MiB to the guest)"
		      "\n%s\n%s", st.stalled ? "transfer stalled (see above): " : "", res.status, t, (unsigned long long)st.to_host.bytes >> 20,
		      TO_HOST_MIB, (unsigned long long)st.to_guest.bytes >> 20, TO_GUEST_MIB,
		      run_tail(res.out, 2500), run_tail(res.err, 800));
	ck_assert_ptr_nonnull(guest_says("net-features", buf, sizeof(buf)));
	expect_bit(buf, 0, "CSUM");
	expect_bit(buf, 1, "GUEST_CSUM");
	expect_bit(buf, 3, "MTU");
	expect_bit(buf, 7, "GUEST_TSO4");
	expect_bit(buf, 11, "HOST_TSO4");
	ck_assert_str_eq(guest_says("mtu", buf, sizeof(buf)), "9000");
	ck_assert_str_eq(guest_says("ping", buf, sizeof(buf)), "3 packets received");
	/* guest -> host */
	ck_assert_int_eq(st.to_host.err, 0);
	ck_assert_uint_eq(st.to_host.bytes, (uint64_t)TO_HOST_MIB << 20);
	ck_assert_str_eq(guest_says("tx-sha256", buf, sizeof(buf)), st.to_host.sha);
	/* host -> guest */
	ck_assert(st.to_guest.started);
	ck_assert_int_eq(st.to_guest.err, 0);
	ck_assert_str_eq(guest_says("rx-sha256", buf, sizeof(buf)), st.to_guest.sha);
	ck_assert_uint_eq(strtoull(guest_says("rx-bytes", buf, sizeof(buf)), NULL, 10),
			  (uint64_t)TO_GUEST_MIB << 20);
	printf("linux virtio_net: csum+TSO negotiated, mtu 9000, %d MiB guest->host in %.1f s "
	       "(%.0f Mbit/s), %d MiB host->guest in %.1f s (%.0f Mbit/s), SHA-256 equal both ways "
	       "(whole run %.0f s)\n",
	       TO_HOST_MIB, st.to_host.seconds, TO_HOST_MIB * 8.0 * 1.048576 / st.to_host.seconds,
	       TO_GUEST_MIB, st.to_guest.seconds,
	       TO_GUEST_MIB * 8.0 * 1.048576 / st.to_guest.seconds, t);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("linux-net");
	TCase *t = tcase_create("net");
	tcase_set_timeout(t, 1000);
	tcase_add_test(t, linux_virtio_net_offloads_mtu_ping_tcp);
	suite_add_tcase(s, t);
	return s;
}

int main(int argc, char **argv)
{
	char why[256];
	const char *no_net;

	if (argc < 2)
		return 2;
	if (!kvm_hw_usable(why, sizeof(why)) || !linux_kit_find(&kit, why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	if ((no_net = netns_unavailable())) {
		printf("SKIP: %s\n", no_net);
		return 77;
	}
	run_modvm_init(argv[1]);
	return guest_suite_run(make_suite);
}
