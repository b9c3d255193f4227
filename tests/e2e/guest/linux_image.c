/* Linux guest images for the tests (see linux_image.h). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpio.h"
#include "linux_image.h"

#define MAX_MODULES 32

static const char prologue[] =
	"#!/bin/busybox sh\n"
	"/bin/busybox mkdir -p /proc /sys /dev /tmp /run /sbin /usr/bin /usr/sbin\n"
	"/bin/busybox --install -s\n"
	"mount -t proc proc /proc\n"
	"mount -t sysfs sys /sys\n"
	"mount -t devtmpfs dev /dev\n"
	"mount -t tmpfs tmp /tmp\n"
	"exec </dev/console >/dev/console 2>&1\n"
	"for m in $(cat /modules.load); do\n"
	"  insmod /lib/modules/$m.ko || echo \"modvm-guest: insmod $m failed\"\n"
	"done\n"
	"echo modvm-guest: up\n";

bool linux_kit_find(struct linux_kit *kit, char *why, size_t whylen)
{
	const char *env = getenv("MODVM_KERNEL_CACHE");
	char cache[1024], mods[1100];

	snprintf(cache, sizeof(cache), "%s", env && *env ? env : "/var/cache/modvm-test-kernel");
	snprintf(kit->vmlinuz, sizeof(kit->vmlinuz), "%s/vmlinuz", cache);
	snprintf(kit->vmlinux, sizeof(kit->vmlinux), "%s/vmlinux", cache);
	snprintf(kit->busybox, sizeof(kit->busybox), "/bin/busybox");
	if (access(kit->vmlinuz, R_OK) != 0) {
		snprintf(why, whylen, "no test kernel in %s (run scripts/fetch-test-kernel.sh)", cache);
		return false;
	}
	if (access(kit->busybox, X_OK) != 0) {
		snprintf(why, whylen, "no %s (apt-get install busybox-static)", kit->busybox);
		return false;
	}
	snprintf(mods, sizeof(mods), "%s/root/lib/modules", cache);
	DIR *d = opendir(mods);
	struct dirent *e;
	kit->moddir[0] = '\0';
	while (d && (e = readdir(d)))
		if (e->d_name[0] != '.')
			snprintf(kit->moddir, sizeof(kit->moddir), "%s/%s", mods, e->d_name);
	if (d)
		closedir(d);
	if (!kit->moddir[0]) {
		snprintf(why, whylen, "no kernel modules under %s", mods);
		return false;
	}
	return true;
}

/* Module names compare with '-' and '_' alike, as modprobe does. */
static bool same_module(const char *file, const char *name)
{
	const char *base = strrchr(file, '/') ? strrchr(file, '/') + 1 : file;
	size_t n = strlen(name);

	for (size_t i = 0; i < n; i++) {
		char a = base[i] == '-' ? '_' : base[i], b = name[i] == '-' ? '_' : name[i];
		if (a != b)
			return false;
	}
	return strcmp(base + n, ".ko") == 0;
}

struct plan {
	char path[MAX_MODULES][256];	/* relative to moddir, in load order */
	size_t n;
};

static bool planned(const struct plan *p, const char *path)
{
	for (size_t i = 0; i < p->n; i++)
		if (strcmp(p->path[i], path) == 0)
			return true;
	return false;
}

/* Adds @rel after everything modules.dep says it needs. */
static int plan_add(struct plan *p, FILE *dep, const char *rel, int depth)
{
	char line[4096];

	if (planned(p, rel))
		return 0;
	if (depth > 16 || p->n == MAX_MODULES) {
		fprintf(stderr, "linux_image: module dependencies of %s too deep or too many\n", rel);
		return -1;
	}
	rewind(dep);
	while (fgets(line, sizeof(line), dep)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		if (strcmp(line, rel) != 0)
			continue;
		/* modules.dep lists every dependency; the last ones are the deepest. */
		char *deps[64];
		size_t nd = 0;
		for (char *t = strtok(colon + 1, " \n"); t && nd < 64; t = strtok(NULL, " \n"))
			deps[nd++] = strdup(t);
		int r = 0;
		for (size_t i = nd; i-- > 0;) {
			if (!r)
				r = plan_add(p, dep, deps[i], depth + 1);
			free(deps[i]);
		}
		if (r)
			return r;
		break;
	}
	if (strlen(rel) >= sizeof(p->path[0])) {
		fprintf(stderr, "linux_image: module path %s too long\n", rel);
		return -1;
	}
	if (!planned(p, rel))
		memcpy(p->path[p->n++], rel, strlen(rel) + 1);
	return 0;
}

/* Finds module @name in modules.dep; its path relative to moddir, or -1. */
static int find_module(FILE *dep, const char *name, char *rel, size_t len)
{
	char line[4096];

	rewind(dep);
	while (fgets(line, sizeof(line), dep)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		if (same_module(line, name) && strlen(line) < len) {
			memcpy(rel, line, strlen(line) + 1);
			return 0;
		}
	}
	fprintf(stderr, "linux_image: no module %s in modules.dep\n", name);
	return -1;
}

int linux_image(const struct linux_kit *kit, const char *out, const char *const *mods,
		const char *script)
{
	char path[PATH_MAX + 300], rel[256], list[MAX_MODULES * 64] = "";
	struct plan plan = { .n = 0 };
	size_t used = 0;
	int r = 0;

	snprintf(path, sizeof(path), "%s/modules.dep", kit->moddir);
	FILE *dep = fopen(path, "r");
	if (!dep && mods && mods[0]) {
		perror(path);
		return -1;
	}
	for (size_t i = 0; mods && mods[i] && !r; i++) {
		r = find_module(dep, mods[i], rel, sizeof(rel));
		if (!r)
			r = plan_add(&plan, dep, rel, 0);
	}
	if (dep)
		fclose(dep);
	if (r)
		return -1;

	struct cpio *c = cpio_open(out);
	if (!c) {
		perror(out);
		return -1;
	}
	r |= cpio_file(c, "bin/busybox", kit->busybox);
	for (size_t i = 0; i < plan.n; i++) {
		const char *base = strrchr(plan.path[i], '/') + 1;
		char name[128];
		snprintf(name, sizeof(name), "%.*s", (int)(strlen(base) - 3), base);
		snprintf(path, sizeof(path), "%s/%s", kit->moddir, plan.path[i]);
		snprintf(rel, sizeof(rel), "lib/modules/%s", base);
		r |= cpio_file(c, rel, path);
		used += (size_t)snprintf(list + used, sizeof(list) - used, "%s\n", name);
	}
	r |= cpio_data(c, "modules.load", 0644, list, used);
	size_t n = strlen(prologue) + strlen(script) + 2;
	char *init = malloc(n);
	if (!init) {
		cpio_close(c);
		return -1;
	}
	snprintf(init, n, "%s%s\n", prologue, script);
	r |= cpio_data(c, "init", 0755, init, strlen(init));
	free(init);
	r |= cpio_close(c);
	return r ? -1 : 0;
}
