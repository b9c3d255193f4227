/*
 * The host's part of the sandbox (issue 18): what the config names that a
 * VM opens after the lockdown — each autostart VM's kernel, initrd and
 * console file, for Landlock, and the control socket's directory (its
 * removal at the end) — and the lockdown itself, as host.sandbox,
 * host.user and host.group say.  Plugins declare their own paths and
 * calls in init/start (SDK modvm/sandbox.h); core/sandbox/ does the rest.
 */
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "host/control.h"
#include "host/host_impl.h"
#include "machine/machine.h"

/* A console file: itself if it exists, else the directory that will
 * hold it (Landlock rules name what exists). */
static int allow_console(const char *spec)
{
	struct stat st;
	char dir[PATH_MAX];

	if (!spec || !*spec || strcmp(spec, "stdout") == 0 || strcmp(spec, "none") == 0)
		return 0;
	if (stat(spec, &st) == 0)
		return modvm__sandbox_allow_path(NULL, spec, MODVM_SANDBOX_WRITE);
	snprintf(dir, sizeof(dir), "%s", spec);
	return modvm__sandbox_allow_path(NULL, dirname(dir),
					 MODVM_SANDBOX_WRITE | MODVM_SANDBOX_CREATE);
}

static int declare_paths(struct modvm_host *host)
{
	int r = 0;

	for (size_t i = 0; i < host->vm_count && r == 0; i++) {
		const struct modvm_config *vc = modvm__host_vm_config(host, i);
		if (!vc || !modvm_config_bool(vc, "autostart"))
			continue;
		const char *kernel = modvm__machine_resolve_kernel(modvm_config_string(vc, "kernel"));
		const char *initrd = modvm_config_string(vc, "initrd");
		if (kernel && *kernel)
			r = modvm__sandbox_allow_path(NULL, kernel, MODVM_SANDBOX_READ);
		if (r == 0 && initrd && *initrd)
			r = modvm__sandbox_allow_path(NULL, initrd, MODVM_SANDBOX_READ);
		if (r == 0)
			r = allow_console(modvm_config_string(vc, "console"));
	}
	/* The control socket is removed at the end, from its directory. */
	const char *sock = modvm__control_socket_path(host->control);
	if (r == 0 && sock) {
		char dir[PATH_MAX];
		snprintf(dir, sizeof(dir), "%s", sock);
		r = modvm__sandbox_allow_path(NULL, dirname(dir), MODVM_SANDBOX_CREATE);
	}
	return r;
}

int modvm__host_lockdown(struct modvm_host *host)
{
	const struct modvm_config *c = host->cfg;
	struct modvm__sandbox_config sc = { .strict = false };

	if (c)
		sc.strict = strcmp(modvm_config_string(c, "sandbox"), "off") != 0;
	modvm__host_sandbox_who(host, &sc);
	int r = declare_paths(host);
	if (r < 0 && r != -EPERM) {
		modvm_log(MODVM_LOG_ERROR, "sandbox", "cannot note the config's files: %s",
			  modvm_strerror(r));
		return r;
	}
	r = modvm__sandbox_lockdown(&sc);
	/* The default may meet a kernel or a container that forbids what it
	 * needs (seccomp(2) itself, say): say how to run without. */
	if (r < 0 && sc.strict && c) {
		if (!modvm_config_is_set(c, "sandbox"))
			modvm_log(MODVM_LOG_ERROR, "sandbox",
				  "host.sandbox = \"strict\" (the default) could not be applied "
				  "(above); host.sandbox = \"off\" in the config runs without it");
		else
			modvm_log(MODVM_LOG_ERROR, "sandbox",
				  "%s: sandbox = \"strict\" could not be applied (above); "
				  "\"off\" runs without it", modvm_config_where(c, "sandbox"));
	}
	return r;
}
