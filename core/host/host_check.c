/*
 * Everything `modvm run` would refuse, found before anything runs, so that
 * `modvm check` passes exactly what `run` accepts (issue 17, item 10).  The
 * option tables already bound each value; this adds what needs more than
 * one value, the host or a file: guest memory against the host's RAM, the
 * kernel and initrd (opened and parsed, never waited on), the console
 * file, the CPU backend named, the control socket and its group.  Every
 * problem is one line naming the file:line it comes from; all are reported.
 * host.c runs it for `check` and `run` alike, before any plugin's init.
 */
#include <errno.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/sysinfo.h>

#include "boot/boot.h"
#include "devices/devices.h"
#include "host/control.h"
#include "host/host_check.h"
#include "machine/machine.h"

/* Where @key was set; a default falls back to the VM's name (always set)
 * or, for the host, to the config file itself. */
static const char *where(const struct modvm_config *cfg, const char *key, const char *fallback)
{
	const char *w = modvm_config_where(cfg, key);

	if (!w || strcmp(w, "(default)") == 0) {
		w = fallback ? modvm_config_where(cfg, fallback) : NULL;
		if (!w || strcmp(w, "(default)") == 0)
			w = "(default)";
	}
	return w;
}

static uint64_t host_ram(void)
{
	struct sysinfo si;

	if (sysinfo(&si) < 0)
		return 0;
	return (uint64_t)si.totalram * si.mem_unit;
}

static void fmt_size(uint64_t v, char *buf, size_t len)
{
	if (v >= (1ULL << 30) && v % (1ULL << 30) == 0)
		snprintf(buf, len, "%lluG", (unsigned long long)(v >> 30));
	else if (v >= (1ULL << 20))
		snprintf(buf, len, "%.1fG", (double)v / (double)(1ULL << 30));
	else
		snprintf(buf, len, "%llu", (unsigned long long)v);
}

/* Guest RAM larger than the host's can only be paged to death. */
static int check_memory(const char *name, const struct modvm_config *vc, bool overcommit,
			uint64_t ram)
{
	uint64_t mem = modvm_config_size(vc, "memory");
	char have[32], want[32];

	if (overcommit || ram == 0 || mem <= ram)
		return 0;
	fmt_size(mem, want, sizeof(want));
	fmt_size(ram, have, sizeof(have));
	modvm_log(MODVM_LOG_ERROR, NULL,
		  "%s: vm %s: memory %s is more than this host's RAM (%s); set "
		  "host.memory_overcommit = true to allow it",
		  where(vc, "memory", "name"), name, want, have);
	return -EINVAL;
}

static int check_kernel(const char *name, const struct modvm_config *vc)
{
	const char *kernel = modvm_config_string(vc, "kernel");
	const char *initrd = modvm_config_string(vc, "initrd");
	char err[PATH_MAX + 256];

	if (!kernel[0]) {
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: vm %s: kernel: none configured",
			  where(vc, "kernel", "name"), name);
		return -EINVAL;
	}
	int rc = modvm__boot_check(modvm__machine_resolve_kernel(kernel), NULL, err, sizeof(err));
	if (rc < 0)
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: vm %s: %s", where(vc, "kernel", "name"), name,
			  err);
	if (initrd[0]) {
		int e = modvm__boot_check_initrd(initrd, err, sizeof(err));
		if (e < 0)
			modvm_log(MODVM_LOG_ERROR, NULL, "%s: vm %s: %s", where(vc, "initrd", "name"),
				  name, err);
		rc = rc ? rc : e;
	}
	return rc;
}

static int check_console(const char *name, const struct modvm_config *vc)
{
	char err[PATH_MAX + 256];
	int rc = modvm__console_check(modvm_config_string(vc, "console"), err, sizeof(err));

	if (rc < 0)
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: vm %s: %s", where(vc, "console", "name"), name,
			  err);
	return rc;
}

static int check_vms(const struct modvm__host_view *view, const struct modvm_config *hc)
{
	bool overcommit = modvm_config_bool(hc, "memory_overcommit");
	uint64_t ram = host_ram();
	int r = 0;

	for (size_t i = 0; i < view->vm_count(view->host); i++) {
		const struct modvm_config *vc = view->vm_config(view->host, i);
		const char *name = view->vm_name(view->host, i);
		int e = check_memory(name, vc, overcommit, ram);

		r = r ? r : e;
		/* A VM that is defined but not started needs no kernel yet. */
		if (!modvm_config_bool(vc, "autostart"))
			continue;
		e = check_kernel(name, vc);
		r = r ? r : e;
		e = check_console(name, vc);
		r = r ? r : e;
	}
	return r;
}

/* host.cpu.backend: "auto", or an enabled plugin that is a CPU backend. */
static int check_backend(const struct modvm__host_view *view, const struct modvm_config *hc)
{
	const char *want = modvm_config_string(hc, "cpu.backend");
	char enabled[256] = "";

	if (strcmp(want, "auto") == 0)
		return 0;
	for (size_t i = 0; i < view->plugin_count(view->host); i++) {
		struct modvm_plugin_ctx *p = view->plugin(view->host, i);
		if (p->desc->kind != MODVM_KIND_CPU_BACKEND)
			continue;
		if (strcmp(p->name, want) == 0)
			return 0;
		snprintf(enabled + strlen(enabled), sizeof(enabled) - strlen(enabled), "%s%s",
			 enabled[0] ? ", " : "", p->name);
	}
	modvm_log(MODVM_LOG_ERROR, NULL,
		  "%s: cpu.backend: \"%s\": no CPU backend plugin of that name is enabled "
		  "(enabled: %s)", where(hc, "cpu.backend", NULL), want,
		  enabled[0] ? enabled : "none");
	return -ENOENT;
}

static int check_control(const struct modvm_config *hc, const char *config)
{
	const char *sock = modvm_config_string(hc, "control_socket");
	const char *group = modvm_config_string(hc, "control_group");
	char path[PATH_MAX], err[PATH_MAX + 256];
	int r = 0, e;

	e = modvm__control_path(sock, config, path, sizeof(path));
	if (e == -ENAMETOOLONG) {
		modvm_log(MODVM_LOG_ERROR, NULL,
			  "%s: control_socket: \"%s\": the socket path is too long (at most 107 bytes)",
			  where(hc, "control_socket", NULL), sock);
		r = e;
	} else if (e == 0) {
		/* A live socket is a fact of the moment, not of the config: run
		 * refuses it, check only reports it. */
		e = modvm__control_prepare(path, true, err, sizeof(err));
		if (e == -EADDRINUSE)
			modvm_log(MODVM_LOG_WARN, NULL, "%s: %s", where(hc, "control_socket", NULL),
				  err);
		else if (e < 0)
			modvm_log(MODVM_LOG_ERROR, NULL, "%s: %s", where(hc, "control_socket", NULL),
				  err);
		if (e < 0 && e != -EADDRINUSE)
			r = e;
	}
	if (group[0] && !getgrnam(group)) {
		modvm_log(MODVM_LOG_ERROR, NULL, "%s: control_group: no group named \"%s\"",
			  where(hc, "control_group", NULL), group);
		r = r ? r : -ENOENT;
	}
	return r;
}

MODVM_INTERNAL int modvm__host_check(const struct modvm__host_view *view,
				     const struct modvm_config *hc, const char *config)
{
	int r = 0, e;

	if (!hc)
		return 0;
	e = check_control(hc, config);
	r = r ? r : e;
	e = check_backend(view, hc);
	r = r ? r : e;
	e = check_vms(view, hc);
	r = r ? r : e;
	return r;
}
