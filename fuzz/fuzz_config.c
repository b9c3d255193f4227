/*
 * libFuzzer target for the config layer (issue 17): the input is a config
 * file.  It goes through everything `modvm check` does with a config
 * before any plugin is involved: libconfig's parse behind our own
 * non-blocking open and @include walk (config.c), the top-level shape,
 * the host options, the VM list with its names and sizes (host_vms.c),
 * and every plugin group and per-VM plugin group validated against a
 * table with one option of each type; then each resolved value is read
 * back through the SDK accessors.  The config sources are compiled in for
 * coverage.  Log lines are expected (bad configs) and discarded.
 *
 * The file is a memfd reached as /proc/self/fd/N: no disk, and an
 * @include of it (or of anything) is followed the way a real one is.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config/config.h"
#include "host/host.h"
#include "host/host_vms.h"

#define MAX_INPUT (64 * 1024)

static int memfd = -1;
static char path[64];

/* One option of each type, ranges and choices included. */
static const struct modvm_option plugin_table[] = {
	{ .name = "flag", .type = MODVM_OPT_BOOL, .default_value = "false" },
	{ .name = "count", .type = MODVM_OPT_INT, .default_value = "3", .min = 1, .max = 100 },
	{ .name = "size", .type = MODVM_OPT_SIZE, .default_value = "4M", .min = 4096,
	  .max = 1LL << 40 },
	{ .name = "ratio", .type = MODVM_OPT_DOUBLE, .default_value = "0.5", .min = 0, .max = 1 },
	{ .name = "text", .type = MODVM_OPT_STRING, .default_value = "" },
	{ .name = "mode", .type = MODVM_OPT_ENUM, .default_value = "fast", .choices = "fast|slow" },
	{ .name = "nested.deep", .type = MODVM_OPT_INT, .default_value = "0", .min = 0, .max = 9 },
	MODVM_OPTIONS_END,
};

static void discard(enum modvm_log_level level, const char *line, void *ud)
{
	(void)level;
	(void)line;
	(void)ud;
}

/* Every value read back the way a plugin reads it. */
static void read_back(const struct modvm_config *cfg, const struct modvm_option *t)
{
	for (; cfg && t->name; t++) {
		switch (t->type) {
		case MODVM_OPT_BOOL: (void)modvm_config_bool(cfg, t->name); break;
		case MODVM_OPT_INT: (void)modvm_config_int(cfg, t->name); break;
		case MODVM_OPT_SIZE: (void)modvm_config_size(cfg, t->name); break;
		case MODVM_OPT_DOUBLE: (void)modvm_config_double(cfg, t->name); break;
		default: {
			const char *s = modvm_config_string(cfg, t->name);
			if (s)
				(void)strlen(s);
		}
		}
		(void)modvm_config_where(cfg, t->name);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	modvm_log_set_sink(discard, NULL);
	memfd = memfd_create("fuzz.conf", MFD_CLOEXEC);
	if (memfd < 0)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct modvm__cfgfile *cf;
	struct modvm_config *host = NULL;
	struct modvm__vmdefs *vms = NULL;

	if (size > MAX_INPUT)
		return 0;
	if (ftruncate(memfd, 0) < 0 || pwrite(memfd, data, size, 0) != (ssize_t)size)
		abort();
	if (modvm__config_open(path, &cf) < 0)
		return 0;
	(void)modvm__config_search_path_count(cf);
	if (modvm__config_resolve_host(cf, modvm__host_options(), &host) == 0) {
		read_back(host, modvm__host_options());
		modvm__config_free(host);
	}
	if (modvm__vmdefs_load(cf, &vms) == 0) {
		for (size_t i = 0; i < modvm__vmdefs_count(vms); i++) {
			(void)strlen(modvm__vmdefs_name(vms, i));
			read_back(modvm__vmdefs_config(vms, i), modvm__host_vm_options());
		}
		modvm__vmdefs_free(vms);
	}
	for (size_t i = 0; i < modvm__config_plugin_count(cf); i++) {
		struct modvm_config *pc = NULL;
		(void)modvm__config_plugin_where(cf, i);
		if (modvm__config_resolve_plugin(cf, i, plugin_table, &pc) == 0) {
			read_back(pc, plugin_table);
			modvm__config_free(pc);
		}
		for (size_t v = 0; v < modvm__config_vm_count(cf); v++) {
			struct modvm_config *vc = NULL;
			if (modvm__config_resolve_vm_plugin(cf, v, modvm__config_plugin_name(cf, i),
							    plugin_table, &vc) == 0 && vc) {
				read_back(vc, plugin_table);
				modvm__config_free(vc);
			}
		}
	}
	modvm__config_close(cf);
	return 0;
}
