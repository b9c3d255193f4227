/*
 * End to end on real KVM: `modvm run` boots the built-in demo guest through
 * the Linux boot protocol, the guest prints over the serial console, drives
 * its virtio devices and powers off; bad kernels and unmet SLAT policy are
 * refused before any vCPU runs; a VM that ends gives its resources back
 * while the others run, and a console reader that stops reading never
 * holds up a stop.  Skips (exit 77) without a usable /dev/kvm.
 */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "guest_suite.h"
#include "run_modvm.h"

static struct run_result res;

START_TEST(demo_guest_boots_prints_and_powers_off)
{
	run_modvm(&res, 60, "run", run_conf("modvm.conf"), NULL);
	run_expect(&res, 0, "Hello from the modvm demo guest!\r\n", NULL);
	ck_assert_ptr_nonnull(strstr(res.out, "command line: console=ttyS0 modvm.demo=1"));
	ck_assert_ptr_nonnull(strstr(res.out, "e820: 000000000000-00000009fbff usable"));
	ck_assert_ptr_nonnull(strstr(res.out, "usable RAM: 63 MiB"));
	/* virtio-rng announced on the command line, found and driven by the guest */
	ck_assert_ptr_nonnull(strstr(res.out, "virtio_mmio.device=4K@0xd0000000:5"));
	ck_assert_ptr_nonnull(strstr(res.out, "virtio-mmio at 0xd0000000: rng"));
	ck_assert_ptr_nonnull(strstr(res.out, "virtio-rng: 16 random bytes: "));
	ck_assert_ptr_nonnull(strstr(res.out, "virtio devices driven: 1"));
	ck_assert_ptr_nonnull(strstr(res.out, "powering off\r\n"));
	ck_assert_ptr_nonnull(strstr(res.out, "event vm.lifecycle"));
	ck_assert_ptr_nonnull(strstr(res.out, "stopped\n"));
	ck_assert_str_eq(res.err, "");
}
END_TEST

START_TEST(two_vms_in_one_process)
{
	run_modvm(&res, 60, "-v", "run", run_conf("e2e-two-vms.conf"), NULL);
	run_expect(&res, 0, "running 2 VMs with 2 plugins", "first: guest requested power off");
	ck_assert_ptr_nonnull(strstr(res.err, "second: guest requested power off"));
}
END_TEST

START_TEST(trace_events_logs_deliveries)
{
	run_modvm(&res, 60, "run", "--trace-events", run_conf("e2e-trace.conf"), NULL);
	run_expect(&res, 0, "stopped", "event vm.lifecycle #1 -> fixture-good");
}
END_TEST

START_TEST(bad_kernel_refused_before_running)
{
	run_modvm(&res, 60, "run", run_conf("e2e-bad-kernel.conf"), NULL);
	run_expect(&res, 2, NULL, "vm broken: ");	/* refused before anything starts, like `check` */
	ck_assert_ptr_nonnull(strstr(res.err, "e2e-bad-kernel.conf"));
	ck_assert_ptr_null(strstr(res.out, "Hello"));
}
END_TEST

START_TEST(slat_required_names_what_is_missing)
{
	run_modvm(&res, 60, "caps", "--json", NULL);
	ck_assert_int_eq(res.status, 0);
	/* What the selected backend says decides what `run` must do. */
	const char *sel = strstr(res.out, "\"selected\": true");
	ck_assert_ptr_nonnull(sel);
	const char *slat = strstr(sel, "\"slat\": \"");
	ck_assert_ptr_nonnull(slat);
	bool has_slat = strncmp(slat, "\"slat\": \"none\"", 14) != 0;
	run_modvm(&res, 60, "run", run_conf("e2e-slat-required.conf"), NULL);
	if (has_slat) {
		run_expect(&res, 0, "Hello from the modvm demo guest!", NULL);
	} else {
		run_expect(&res, 1, NULL, "host.cpu.slat = \"required\", but ");
		ck_assert_ptr_nonnull(strstr(res.err, "reports SLAT: none (shadow paging)"));
		ck_assert_ptr_null(strstr(res.out, "Hello"));
	}
}
END_TEST

START_TEST(caps_reports_this_host)
{
	run_modvm(&res, 60, "caps", NULL);
	run_expect(&res, 0, "(selected)", NULL);
	ck_assert_ptr_nonnull(strstr(res.out, "KVM module:"));
	ck_assert_ptr_nonnull(strstr(res.out, "SLAT:"));
	/* power-park reports through "modvm.caps-report/1" */
	ck_assert_ptr_nonnull(strstr(res.out, "power-park:\n  parking actions this host permits: affinity"));
}
END_TEST

static char tmp[64];

/* Writes a config into a new directory; @fmt's one %s, if any, is that
 * directory. */
static const char *tmp_conf(const char *fmt)
{
	static char path[96];

	snprintf(tmp, sizeof(tmp), "/tmp/modvm-demo-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmp));
	snprintf(path, sizeof(path), "%s/vm.conf", tmp);
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f, fmt, tmp);
	ck_assert_int_eq(fclose(f), 0);
	return path;
}

static void tmp_remove(void)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
	ck_assert_int_eq(system(cmd), 0);
}

/* How many KVM VMs process @pid holds (its anon_inode:kvm-vm descriptors). */
static int kvm_vms_of(int pid)
{
	char dir[64], link[320], target[64];
	int n = 0;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	for (struct dirent *e; (e = readdir(d));) {
		snprintf(link, sizeof(link), "%s/%s", dir, e->d_name);
		ssize_t len = readlink(link, target, sizeof(target) - 1);
		if (len > 0) {
			target[len] = '\0';
			n += strcmp(target, "anon_inode:kvm-vm") == 0;
		}
	}
	closedir(d);
	return n;
}

struct one_ended {
	int vms_after;	/* KVM VMs held once "brief" powered off, -1 before */
	char status[1024];
};

static bool brief_released(int pid, const char *out, void *ud)
{
	struct one_ended *o = ud;

	if (!strstr(out, "powering off"))
		return false;
	o->vms_after = kvm_vms_of(pid);
	if (o->vms_after != 1)
		return false;	/* released on the loop's next turn: look again */
	char cmd[256];
	snprintf(cmd, sizeof(cmd), "%s ctl %s/ctl.sock status 2>&1", run_modvm_exe(), tmp);
	FILE *p = popen(cmd, "r");
	size_t n = p ? fread(o->status, 1, sizeof(o->status) - 1, p) : 0;
	o->status[n] = '\0';
	if (p)
		pclose(p);
	return true;
}

/* A VM that powered off gave back its RAM and its KVM VM only when the
 * host's last VM ended: an operator's other VMs could run for months. */
START_TEST(ended_vm_released_while_another_runs)
{
	const char *path = tmp_conf(
		"host = { control_socket = \"%s/ctl.sock\"; };\n"
		"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; }; };\n"
		"vms = ( { name = \"brief\"; memory = \"32M\"; kernel = \"builtin:demo\"; },\n"
		"        { name = \"chatty\"; memory = \"32M\"; kernel = \"builtin:demo\";\n"
		"          cmdline = \"console=ttyS0 modvm.demo.chatter=1\"; console = \"none\"; } );\n");

	struct one_ended o = { .vms_after = -1 };
	double t = run_modvm_watch(&res, 90, (const char *const[]){ "run", path, NULL },
				   brief_released, &o);
	tmp_remove();
	ck_assert_msg(t >= 0, "after brief powered off, modvm still held %d KVM VMs (1 expected)"
		      "\nstdout: %s\nstderr: %s", o.vms_after, run_tail(res.out, 1500),
		      run_tail(res.err, 1500));
	run_expect(&res, 0, NULL, NULL);
	ck_assert_msg(strstr(o.status, "0 brief stopped"), "status: %s", o.status);
	ck_assert_msg(strstr(o.status, "1 chatty running"), "status: %s", o.status);
}
END_TEST

/* stdout a pipe nobody reads: the guest's console fills it and the vCPU
 * blocks in write(); a SIGTERM must still stop modvm. */
START_TEST(stalled_console_reader_does_not_hold_up_the_stop)
{
	const char *path = tmp_conf(
		"plugins = { cpu-vmx = { enabled = true; }; cpu-svm = { enabled = true; }; };\n"
		"vms = ( { name = \"chatty\"; memory = \"32M\"; kernel = \"builtin:demo\";\n"
		"          cmdline = \"console=ttyS0 modvm.demo.chatter=1\"; } );\n");
	char err_path[96];
	snprintf(err_path, sizeof(err_path), "%s/stderr", tmp);
	int out[2];
	ck_assert_int_eq(pipe2(out, O_CLOEXEC), 0);
	int err = open(err_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ck_assert_int_ge(err, 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err, STDERR_FILENO);
		execl(run_modvm_exe(), run_modvm_exe(), "run", path, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	close(err);

	/* Until the pipe is full (short of a page: the UART's writes do not
	 * split): then the vCPU is blocked writing to it. */
	int queued = 0, full = fcntl(out[0], F_GETPIPE_SZ) - 4096;
	for (int i = 0; i < 600 && queued < full; i++) {
		usleep(100 * 1000);
		ck_assert_int_eq(ioctl(out[0], FIONREAD, &queued), 0);
	}
	ck_assert_msg(queued >= full, "the guest wrote %d bytes in 60 s, not %d", queued, full);
	usleep(300 * 1000);
	ck_assert_int_eq(kill(pid, SIGTERM), 0);
	int status = 0, waited = 0;
	while (waitpid(pid, &status, WNOHANG) == 0 && waited < 10000) {
		usleep(50 * 1000);
		waited += 50;
	}
	if (waited >= 10000) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	char head[4096] = "";
	ck_assert_int_ge(read(out[0], head, sizeof(head) - 1), 0);
	close(out[0]);
	FILE *f = fopen(err_path, "r");
	ck_assert_ptr_nonnull(f);
	char said[4096];
	size_t n = fread(said, 1, sizeof(said) - 1, f);
	said[n] = '\0';
	fclose(f);
	tmp_remove();
	ck_assert_msg(waited < 10000, "modvm ignored SIGTERM for 10 s with its stdout full; "
		      "stderr: %s", run_tail(said, 1500));
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x; stderr: %s",
		      status, run_tail(said, 1500));
	ck_assert_msg(strstr(head, "Hello from the modvm demo guest!"), "stdout began: %s",
		      run_tail(head, 1000));
}
END_TEST

static Suite *make_suite(void)
{
	Suite *s = suite_create("e2e-demo");
	const TTest *tests[] = {
		demo_guest_boots_prints_and_powers_off, two_vms_in_one_process,
		trace_events_logs_deliveries, bad_kernel_refused_before_running,
		slat_required_names_what_is_missing, caps_reports_this_host,
		ended_vm_released_while_another_runs, stalled_console_reader_does_not_hold_up_the_stop,
	};
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		guest_suite_add(s, tests[i], 120, NULL, NULL);
	return s;
}

int main(int argc, char **argv)
{
	char why[256];
	if (argc < 2) {
		fprintf(stderr, "usage: %s MODVM_EXE\n", argv[0]);
		return 2;
	}
	if (!kvm_usable(why, sizeof(why))) {
		printf("SKIP: %s\n", why);
		return 77;
	}
	run_modvm_init(argv[1]);
	return guest_suite_run(make_suite);
}
