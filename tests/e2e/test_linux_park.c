/*
 * core-parking on power-park with a 2-vCPU Linux guest: while the guest idles, the host's
 * load falls under the park threshold and a core is parked; when the guest
 * spins on both vCPUs the load comes back and the core is unparked.  Read
 * through `modvm ctl … status` ("host cores N parked P").  The action is
 * affinity, so a native run leaves the host's cores online.
 *
 * Needs a KVM with hardware virtualization (natively on VMX/SVM hosts,
 * elsewhere in the nested SVM test host through scripts/kvm-exec).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "guest/linux_image.h"
#include "guest_suite.h"
#include "run_modvm.h"

static struct linux_kit kit;
static struct run_result res;
static char sock[128];

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static char last_status[4096];	/* for the failure message */
static char idle_loads[1024];	/* the host load `status` showed while the guest idled */

/* Parked cores as `status` reports them, -1 if it does not say. */
static int parked(void)
{
	char cmd[512], out[4096];

	snprintf(cmd, sizeof(cmd), "%s ctl %s status 2>&1", run_modvm_exe(), sock);
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
	out[n] = '\0';
	if (p)
		pclose(p);
	memcpy(last_status, out, n + 1);
	const char *h = strstr(out, "host cores ");
	int cores, park;
	if (!h || sscanf(h, "host cores %d parked %d", &cores, &park) != 2)
		return -1;
	return park;
}

struct park {
	int step;		/* 0 waiting for a park, 1 the guest spins: waiting for the unpark */
	double t_park, t_unpark, t_busy, t_polled;
};

/*
 * `modvm ctl` every 2 s, not at every look at the console: each is a new
 * process (with ASan, under TCG in the nested host, a costly one), and
 * polling it continuously made the "idle" host 60-80 % busy by itself.
 */
#define POLL_S 2.0

static bool drive(int pid, const char *out, void *ud)
{
	struct park *s = ud;
	(void)pid;
	if (s->step == 1 && !s->t_busy && strstr(out, "modvm-guest: busy"))
		s->t_busy = now_s();
	if (!strstr(out, "modvm-guest: idle") || now_s() - s->t_polled < POLL_S)
		return false;
	s->t_polled = now_s();
	int p = parked();
	if (s->step == 0) {
		const char *busy = strstr(last_status, " busy ");
		size_t used = strlen(idle_loads);
		if (busy && used < sizeof(idle_loads) - 16)
			snprintf(idle_loads + used, sizeof(idle_loads) - used, "%.*s ",
				 (int)strcspn(busy + 6, " \n"), busy + 6);
		if (p < 1)
			return false;
		s->t_park = now_s();
		s->step = 1;
		return false;
	}
	if (s->t_busy && p == 0) {
		s->t_unpark = now_s();
		return true;
	}
	return false;
}

START_TEST(idle_guest_parks_busy_guest_unparks)
{
	char dir[] = "/tmp/modvm-park-XXXXXX", initrd[64], conf[64], cmd[128];
	struct park s = { 0 };
	const char *const mods[] = { "virtio_mmio", NULL };

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(sock, sizeof(sock), "%s/ctl.sock", dir);
	snprintf(initrd, sizeof(initrd), "%s/initrd.cpio", dir);
	/* Idle long enough to be parked, then spin on both vCPUs. */
	ck_assert_int_eq(linux_image(&kit, initrd, mods,
				     "echo modvm-guest: idle\n"
				     "sleep 40\n"
				     "echo modvm-guest: busy\n"
				     "while :; do :; done &\n"
				     "while :; do :; done &\n"
				     "sleep 600\n"), 0);
	snprintf(conf, sizeof(conf), "%s/vm.conf", dir);
	FILE *f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"host = { control_socket = \"%s\"; };\n"
		"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; };\n"
		"  core-parking = { enabled = true; interval_ms = 500;\n"
		"                 increase_threshold = 60; decrease_threshold = 25;\n"
		"                 increase_time = 1; decrease_time = 2; min_cores = 1; };\n"
		"  power-park = { enabled = true; action = \"affinity\"; }; };\n"
		"vms = ( { name = \"park\"; vcpus = 2; memory = \"256M\"; rng = false;\n"
		"          kernel = \"%s\"; initrd = \"%s\";\n"
		"          cmdline = \"console=ttyS0 rdinit=/init panic=-1\"; } );\n",
		sock, kit.vmlinuz, initrd);
	ck_assert_int_eq(fclose(f), 0);

	const char *const args[] = { "run", conf, NULL };
	double t = run_modvm_watch(&res, 400, args, drive, &s);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	ck_assert_msg(s.step == 1, "no core parked while the guest idled (host load then: %s); "
		      "last status:\n%s\n%s\n%s", idle_loads, last_status, run_tail(res.out, 1200), run_tail(res.err, 1000));
	ck_assert_msg(t >= 0, "the parked core stayed parked while the guest spun; last status:\n"
		      "%s\n%s\n%s", last_status, run_tail(res.out, 1200), run_tail(res.err, 1000));
	ck_assert_int_eq(res.status, 0);
	printf("power-park: idle Linux guest -> a core parked; both vCPUs spinning -> unparked "
	       "within %.1f s of the guest getting busy (polled every %.0f s) (host load while idle: %s)\n", s.t_unpark - s.t_busy,
	       POLL_S, idle_loads);
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("linux-park");
	TCase *t = tcase_create("park");
	tcase_set_timeout(t, 500);
	tcase_add_test(t, idle_guest_parks_busy_guest_unparks);
	suite_add_tcase(s, t);
	return s;
}

int main(int argc, char **argv)
{
	char why[256];

	if (argc < 2)
		return 2;
	if (!kvm_hw_usable(why, sizeof(why)) || !linux_kit_find(&kit, why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	if (sysconf(_SC_NPROCESSORS_ONLN) < 2) {
		printf("SKIP: one online CPU: nothing to park\n");
		return 77;
	}
	run_modvm_init(argv[1]);
	return guest_suite_run(make_suite);
}
