/*
 * The memory plugins in an in-process host (no VM launched): mem-dynamic's
 * fixture meminfo/PSI files come out as host.mem_pressure every interval;
 * mem-balloon takes an operator's target for a VM with a balloon group and
 * refuses (one line) one without; "modvm.balloon/1" answers -ENODEV for a
 * VM without a running balloon and refuses a plugin that does not govern
 * the VM; and a PSI file gone bad freezes targets with one error, not one
 * per tick.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <modvm/balloon.h>
#include <modvm/events.h>

#include "host/host.h"

static char meminfo[64], psi[64], conf[64], logbuf[8192];
static unsigned pressures;
static struct modvm_mem_pressure last;

static void sink(enum modvm_log_level lvl, const char *line, void *ud)
{
	(void)lvl;
	(void)ud;
	strncat(logbuf, line, sizeof(logbuf) - strlen(logbuf) - 2);
	strcat(logbuf, "\n");
}

static void on_pressure(const struct modvm_mem_pressure *ev, void *ud)
{
	(void)ud;
	last = *ev;
	pressures++;
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

static void setup(void)
{
	snprintf(meminfo, sizeof(meminfo), "/tmp/mb-host-meminfo-%d", (int)getpid());
	snprintf(psi, sizeof(psi), "/tmp/mb-host-psi-%d", (int)getpid());
	snprintf(conf, sizeof(conf), "/tmp/mb-host-%d.conf", (int)getpid());
	write_file(meminfo, "MemTotal: 8388608 kB\nMemAvailable: 2097152 kB\n");
	write_file(psi, "some avg10=25.00 avg60=0 avg300=0 total=1\nfull avg10=5.00 total=0\n");
	FILE *f = fopen(conf, "w");
	ck_assert_ptr_nonnull(f);
	fprintf(f,
		"host = { log_level = \"info\"; };\n"
		"plugins = { mem-balloon = { enabled = true; interval_ms = 50; };\n"
		"  mem-dynamic = { enabled = true; interval_ms = 50;\n"
		"  meminfo = \"%s\"; psi = \"%s\"; }; };\n"
		"vms = ( { name = \"a\"; memory = \"64M\"; kernel = \"builtin:demo\";\n"
		"          mem-balloon = { }; mem-dynamic = { weight = 100; }; },\n"
		"        { name = \"b\"; memory = \"64M\"; kernel = \"builtin:demo\"; } );\n",
		meminfo, psi);
	fclose(f);
	logbuf[0] = '\0';
	pressures = 0;
	modvm_log_set_sink(sink, NULL);
}

static void teardown(void)
{
	modvm_log_set_sink(NULL, NULL);
	unlink(meminfo);
	unlink(psi);
	unlink(conf);
}

static void run_until(struct modvm_host *host, unsigned want)
{
	for (int i = 0; i < 3000 && pressures < want; i++) {
		modvm__loop_run_once(modvm__host_loop(host));
		usleep(1000);
	}
	ck_assert_uint_ge(pressures, want);
}

static struct modvm_host *host_up(void)
{
	struct modvm_host *host = modvm__host_new();

	ck_assert_ptr_nonnull(host);
	ck_assert_int_eq(modvm__host_load_config(host, conf), 0);
	ck_assert_int_eq(modvm__host_load_plugins(host), 0);
	ck_assert_int_ge(modvm_subscribe_mem_pressure(modvm__host_bus(host), 0, on_pressure, NULL),
			 1);
	ck_assert_int_eq(modvm__host_start(host), 0);
	return host;
}

START_TEST(pressure_published_every_interval)
{
	struct modvm_host *host = host_up();

	run_until(host, 3);
	ck_assert_uint_eq(last.mem_total, 8ull << 30);
	ck_assert_uint_eq(last.mem_available, 2ull << 30);
	ck_assert_uint_eq(last.psi_some_avg10_permille, 250);
	ck_assert_uint_eq(last.psi_full_avg10_permille, 50);
	modvm__host_stop(host);
	modvm__host_free(host);
}
END_TEST

static struct modvm_mem_balloon_state state;
static unsigned states;

static void on_state(const struct modvm_mem_balloon_state *ev, void *ud)
{
	(void)ud;
	state = *ev;
	states++;
}

START_TEST(operator_targets)
{
	struct modvm_host *host = host_up();
	struct modvm_mem_balloon t = { .vm_id = 0, .guest_bytes = 48ull << 20 };

	ck_assert_int_ge(modvm_subscribe_mem_balloon_state(modvm__host_bus(host), 0, on_state,
							   NULL), 1);
	snprintf(t.source, sizeof(t.source), "operator");
	ck_assert_int_eq(modvm_publish_mem_balloon_target(modvm__host_bus(host), &t), 0);
	ck_assert_msg(strstr(logbuf, "vm 0: target 48 MiB set by operator"), "log: %s", logbuf);
	ck_assert_uint_eq(states, 1);
	ck_assert(state.flags & MODVM_BALLOON_OPERATOR);
	ck_assert_str_eq(state.governor, "mem-dynamic");
	t.vm_id = 1;	/* no mem-balloon group */
	ck_assert_int_eq(modvm_publish_mem_balloon_target(modvm__host_bus(host), &t), 0);
	ck_assert_msg(strstr(logbuf, "from operator: vm 1 has no balloon (ignored)"), "log: %s",
		      logbuf);
	t.vm_id = 0;
	t.guest_bytes = 0;
	ck_assert_int_eq(modvm_publish_mem_balloon_target(modvm__host_bus(host), &t), 0);
	ck_assert_ptr_nonnull(strstr(logbuf, "vm 0: handed back to mem-dynamic"));
	ck_assert(!(state.flags & MODVM_BALLOON_OPERATOR));
	/* a source that governs nothing is no order: one line, then silence */
	size_t len = strlen(logbuf);
	snprintf(t.source, sizeof(t.source), "somebody");
	t.guest_bytes = 1;
	ck_assert_int_eq(modvm_publish_mem_balloon_target(modvm__host_bus(host), &t), 0);
	ck_assert_msg(strstr(logbuf + len, "mem.balloon_target from somebody for vm 0 ignored: "
					   "mem-dynamic governs its memory"), "log: %s", logbuf);
	len = strlen(logbuf);
	ck_assert_int_eq(modvm_publish_mem_balloon_target(modvm__host_bus(host), &t), 0);
	ck_assert_uint_eq(strlen(logbuf), len);
	modvm__host_stop(host);
	modvm__host_free(host);
}
END_TEST

/* A subscriber answering every state with a new order nests inside the
 * publication: refused a few levels down, not followed until the stack
 * runs out.  One that answers with the same order ends at once: a state
 * that did not change is not published again. */
static struct modvm_host *echo_host;
static unsigned echoes;
static bool echo_same;

static void echo_state(const struct modvm_mem_balloon_state *ev, void *ud)
{
	struct modvm_mem_balloon t = { .vm_id = 0 };

	(void)ud;
	if (ev->vm_id != 0 || ++echoes > 1000)
		return;
	t.guest_bytes = (echo_same || echoes % 2 ? 48ull : 40ull) << 20;
	snprintf(t.source, sizeof(t.source), "operator");
	modvm_publish_mem_balloon_target(modvm__host_bus(echo_host), &t);
}

START_TEST(answering_every_state_cannot_recurse)
{
	struct modvm_host *host = host_up();
	struct modvm_mem_balloon t = { .vm_id = 0, .guest_bytes = 48ull << 20 };

	echo_host = host;
	ck_assert_int_ge(modvm_subscribe_mem_balloon_state(modvm__host_bus(host), 0, echo_state,
							   NULL), 1);
	snprintf(t.source, sizeof(t.source), "operator");
	echo_same = true;
	echoes = 0;
	ck_assert_int_eq(modvm_publish_mem_balloon_target(modvm__host_bus(host), &t), 0);
	ck_assert_uint_le(echoes, 2);
	ck_assert_ptr_null(strstr(logbuf, "refused (a policy must not answer"));
	echo_same = false;
	echoes = 0;
	t.guest_bytes = 40ull << 20;
	ck_assert_int_eq(modvm_publish_mem_balloon_target(modvm__host_bus(host), &t), 0);
	ck_assert_uint_le(echoes, 8);
	ck_assert_msg(strstr(logbuf, "in answer to one still being published, 4 deep: refused"),
		      "log: %s", logbuf);
	modvm__host_stop(host);
	modvm__host_free(host);
}
END_TEST

/* The interface without a VM running: limits unknown, -ENODEV; the
 * governor is checked before anything changes. */
START_TEST(interface_answers_without_a_vm)
{
	struct modvm_host *host = host_up();
	struct modvm_plugin_ctx *dyn = modvm__host_plugin_by_name(host, "mem-dynamic");
	struct modvm_plugin_ctx *bal = modvm__host_plugin_by_name(host, "mem-balloon");
	const char *who = NULL;
	const struct modvm_balloon *bl = modvm_plugin_query(dyn, MODVM_BALLOON_IFACE, &who);
	struct modvm_balloon_info info = { .struct_size = sizeof(info) };
	uint64_t eff = 0;

	ck_assert_ptr_nonnull(bl);
	ck_assert_str_eq(who, "mem-balloon");
	ck_assert_int_eq(bl->get(dyn, 0, &info), -ENODEV);
	ck_assert(!(info.flags & MODVM_BALLOON_PRESENT));
	ck_assert_int_eq(bl->get(dyn, 7, &info), -ENOENT);
	ck_assert_int_eq(bl->set_target(dyn, 0, 32ull << 20, &eff), -ENODEV);
	/* mem-balloon is no memory policy: it governs nothing */
	ck_assert(!modvm_plugin_governs(bal, 0));
	ck_assert(modvm_plugin_governs(dyn, 0));
	ck_assert_str_eq(modvm_plugin_governor(bal, MODVM_KIND_MEMORY_POLICY, 1), "mem-dynamic");
	ck_assert_int_eq(bl->set_target(bal, 0, 32ull << 20, &eff), -EPERM);
	ck_assert_msg(strstr(logbuf, "vm a: mem-balloon asked for a target, but mem-dynamic "
				     "governs its memory (memory_policy): refused"), "log: %s", logbuf);
	modvm__host_stop(host);
	modvm__host_free(host);
}
END_TEST

START_TEST(bad_psi_freezes_with_one_line)
{
	struct modvm_host *host = host_up();

	run_until(host, 1);
	write_file(psi, "garbage\n");
	for (int i = 0; i < 400; i++) {	/* several intervals */
		modvm__loop_run_once(modvm__host_loop(host));
		usleep(1000);
	}
	const char *first = strstr(logbuf, "no \"some avg10=\" line (targets frozen)");
	ck_assert_msg(first, "log: %s", logbuf);
	ck_assert_msg(!strstr(strchr(first, '\n'), "targets frozen"), "log: %s", logbuf);
	unsigned before = pressures;
	write_file(psi, "some avg10=0.00 avg60=0 avg300=0 total=1\n");
	run_until(host, before + 1);
	ck_assert_uint_eq(last.psi_some_avg10_permille, 0);
	modvm__host_stop(host);
	modvm__host_free(host);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("balloon_host");
	TCase *tc = tcase_create("host");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, pressure_published_every_interval);
	tcase_add_test(tc, operator_targets);
	tcase_add_test(tc, answering_every_state_cannot_recurse);
	tcase_add_test(tc, interface_answers_without_a_vm);
	tcase_add_test(tc, bad_psi_freezes_with_one_line);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
