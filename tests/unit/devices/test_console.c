/*
 * Item 8: the serial console file, which root opens and a guest fills.
 * Driven like tests/unit/devices: a VM on the fake backend (no KVM), the
 * 16550A on its I/O bus writing into a console made by
 * modvm__console_open, guest output poked into THR.  The file is created
 * 0600 whatever the umask, a symlink planted where it goes is refused and
 * its target untouched, another user's file is neither truncated nor
 * written, truncate and append do what they say, console_max caps the file
 * (said once), and a stdout nobody reads stops the output instead of
 * killing the process.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/devices.h"
#include "vm/vm.h"
#include "vm_test.h"

#define MiB (1ULL << 20)

static char dir[64], path[128];
static char logbuf[8192];

static void sink(enum modvm_log_level level, const char *line, void *ud)
{
	(void)level;
	(void)ud;
	strncat(logbuf, line, sizeof(logbuf) - strlen(logbuf) - 2);
	strcat(logbuf, "\n");
}

static unsigned count(const char *hay, const char *needle)
{
	unsigned n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/modvm-console-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/console.log", dir);
	logbuf[0] = '\0';
	modvm_log_set_sink(sink, NULL);
}

static void teardown(void)
{
	char cmd[160];

	modvm_log_set_sink(NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static off_t size_of(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 ? st.st_size : -1;
}

/* A VM with a UART on @console; the guest writes @lines lines of 64 bytes. */
static void guest_prints(struct modvm__console *console, unsigned lines)
{
	struct fake_backend fb;
	struct modvm__uart *uart;

	fake_backend_init(&fb);
	struct modvm_vm *vm = vm_create(&fb, "chatty", 1, MiB);
	ck_assert_int_eq(modvm__uart_attach(vm, MODVM_COM1_BASE, MODVM_COM1_IRQ, console, &uart),
			 0);
	for (unsigned l = 0; l < lines; l++) {
		for (unsigned i = 0; i < 64; i++) {
			uint8_t c = i == 63 ? '\n' : (uint8_t)('a' + l % 26);
			modvm__iobus_dispatch(vm->iobus, vm->nvcpus, MODVM_IOBUS_PIO, MODVM_COM1_BASE,
					      &c, 1, true);
		}
	}
	modvm__uart_free(uart);
	modvm_vm_destroy(vm);
}

/* In loopback the modem status echoes the modem control outputs as a
 * 16550 wires them: Linux's 8250 probe writes OUT2|RTS and wants DCD|CTS. */
START_TEST(uart_loopback_wires_like_a_16550)
{
	struct fake_backend fb;
	struct modvm__uart *uart;
	const struct {
		uint8_t mcr, msr;
	} cases[] = { { 0x10 | 0x0a, 0x90 }, { 0x10 | 0x01, 0x20 }, { 0x10 | 0x02, 0x10 },
		      { 0x10 | 0x04, 0x40 }, { 0x10 | 0x0f, 0xf0 }, { 0x10, 0x00 } };

	fake_backend_init(&fb);
	struct modvm_vm *vm = vm_create(&fb, "loop", 1, MiB);
	ck_assert_int_eq(modvm__uart_attach(vm, MODVM_COM1_BASE, MODVM_COM1_IRQ, NULL, &uart), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t v = cases[i].mcr;
		modvm__iobus_dispatch(vm->iobus, vm->nvcpus, MODVM_IOBUS_PIO, MODVM_COM1_BASE + 4,
				      &v, 1, true);
		modvm__iobus_dispatch(vm->iobus, vm->nvcpus, MODVM_IOBUS_PIO, MODVM_COM1_BASE + 6,
				      &v, 1, false);
		ck_assert_msg((v & 0xf0) == cases[i].msr, "MCR 0x%02x: MSR 0x%02x, want 0x%02x",
			      cases[i].mcr, v, cases[i].msr);
	}
	modvm__uart_free(uart);
	modvm_vm_destroy(vm);
}
END_TEST

START_TEST(created_0600_whatever_the_umask)
{
	struct modvm__console *c;

	mode_t old = umask(0);
	ck_assert_int_eq(modvm__console_open("vm0", path, false, 0, &c), 0);
	umask(old);
	guest_prints(c, 2);
	modvm__console_free(c);
	struct stat st;
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_uint_eq(st.st_mode & 0777, 0600);
	ck_assert_int_eq(st.st_size, 128);
}
END_TEST

/* ln -s /etc/important /tmp/console.log before root starts the VM. */
START_TEST(symlink_refused_target_untouched)
{
	char target[160];
	struct modvm__console *c = NULL;

	snprintf(target, sizeof(target), "%s/important", dir);
	FILE *f = fopen(target, "w");
	fputs("do not truncate me\n", f);
	fclose(f);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_int_lt(modvm__console_open("vm0", path, false, 0, &c), 0);
	ck_assert_ptr_nonnull(strstr(logbuf, "is a symbolic link"));
	ck_assert_int_eq(size_of(target), 19);
	char err[256];
	ck_assert_int_lt(modvm__console_check(path, err, sizeof(err)), 0);
}
END_TEST

/* A fifo must neither block the open nor be accepted. */
START_TEST(fifo_refused_without_blocking)
{
	struct modvm__console *c = NULL;

	ck_assert_int_eq(mkfifo(path, 0600), 0);
	ck_assert_int_lt(modvm__console_open("vm0", path, false, 0, &c), 0);
	ck_assert_ptr_nonnull(strstr(logbuf, "console"));
}
END_TEST

/* A file another user owns (and could read): not ours to fill or cut. */
START_TEST(foreign_file_neither_truncated_nor_written)
{
	struct modvm__console *c = NULL;

	if (geteuid() != 0) {
		printf("foreign_file_neither_truncated_nor_written: needs root to chown, skipped\n");
		return;
	}
	FILE *f = fopen(path, "w");
	fputs("someone else's\n", f);
	fclose(f);
	ck_assert_int_eq(chown(path, 65534, 65534), 0);
	ck_assert_int_lt(modvm__console_open("vm0", path, false, 0, &c), 0);
	ck_assert_ptr_nonnull(strstr(logbuf, "belongs to uid 65534"));
	ck_assert_int_eq(size_of(path), 15);
}
END_TEST

START_TEST(truncate_or_append)
{
	struct modvm__console *c;

	ck_assert_int_eq(modvm__console_open("vm0", path, false, 0, &c), 0);
	guest_prints(c, 3);
	modvm__console_free(c);
	ck_assert_int_eq(modvm__console_open("vm0", path, true, 0, &c), 0);
	guest_prints(c, 2);
	modvm__console_free(c);
	ck_assert_int_eq(size_of(path), 5 * 64);
	ck_assert_int_eq(modvm__console_open("vm0", path, false, 0, &c), 0);
	guest_prints(c, 1);
	modvm__console_free(c);
	ck_assert_int_eq(size_of(path), 64);
}
END_TEST

/* A guest printing for ever fills at most console_max, said once. */
START_TEST(capped_at_console_max)
{
	struct modvm__console *c;

	ck_assert_int_eq(modvm__console_open("vm0", path, false, 1000, &c), 0);
	guest_prints(c, 200);
	ck_assert_uint_eq(modvm__console_written(c), 1000);
	modvm__console_free(c);
	ck_assert_int_eq(size_of(path), 1000);
	ck_assert_uint_eq(count(logbuf, "reached console_max (1000 bytes)"), 1);
	/* appending counts what is there: a restarted VM cannot grow it further */
	logbuf[0] = '\0';
	ck_assert_int_eq(modvm__console_open("vm0", path, true, 1000, &c), 0);
	guest_prints(c, 10);
	modvm__console_free(c);
	ck_assert_int_eq(size_of(path), 1000);
	ck_assert_uint_eq(count(logbuf, "reached console_max"), 1);
}
END_TEST

/* `modvm run X | head`: the reader of stdout is gone. */
START_TEST(closed_stdout_stops_output_not_the_process)
{
	struct modvm__console *c;
	int p[2];

	signal(SIGPIPE, SIG_IGN);	/* as the modvm binary does */
	ck_assert_int_eq(pipe(p), 0);
	close(p[0]);
	int saved = dup(1);
	dup2(p[1], 1);
	close(p[1]);
	ck_assert_int_eq(modvm__console_open("vm0", "stdout", false, 0, &c), 0);
	guest_prints(c, 50);
	modvm__console_free(c);
	dup2(saved, 1);
	close(saved);
	ck_assert_uint_eq(count(logbuf, "console stdout: Broken pipe"), 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("console");
	TCase *t = tcase_create("console");
	tcase_add_checked_fixture(t, setup, teardown);
	tcase_add_test(t, created_0600_whatever_the_umask);
	tcase_add_test(t, uart_loopback_wires_like_a_16550);
	tcase_add_test(t, symlink_refused_target_untouched);
	tcase_add_test(t, fifo_refused_without_blocking);
	tcase_add_test(t, foreign_file_neither_truncated_nor_written);
	tcase_add_test(t, truncate_or_append);
	tcase_add_test(t, capped_at_console_max);
	tcase_add_test(t, closed_stdout_stops_output_not_the_process);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
