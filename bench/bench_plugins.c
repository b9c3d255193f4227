/*
 * Plugin load time: dlopen + descriptor checks + config + init + start of
 * N plugins through the host, then stop + fini + dlclose, repeated.  The
 * baseline in the same run is a bare dlopen/dlclose of the same files.
 *
 *   bench_plugins [rounds] NAME...   (plugins found through MODVM_PLUGIN_PATH
 *                                     or the build tree)
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "host/host.h"

static double now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	static const char *const fallback[] = { "cpu-vmx", "cpu-svm", "fixture-good", "fixture-dep",
						"power-park" };
	int rounds = argc > 1 ? atoi(argv[1]) : 50;
	const char *const *names = argc > 2 ? (const char *const *)argv + 2 : fallback;
	size_t n = argc > 2 ? (size_t)(argc - 2) : sizeof(fallback) / sizeof(fallback[0]);
	double *load = calloc((size_t)rounds, sizeof(double));
	double *bare = calloc((size_t)rounds, sizeof(double));
	char *paths[16] = { 0 };
	char **dirs = NULL;

	if (rounds < 1 || n > 16 || !load || !bare)
		return 2;
	modvm__plugin_search_path(NULL, 0, NULL, &dirs);
	for (size_t i = 0; i < n; i++)
		if (modvm__plugin_find(dirs, names[i], &paths[i]) < 0) {
			fprintf(stderr, "bench_plugins: %s not found\n", names[i]);
			return 1;
		}
	modvm__strv_free(dirs);

	for (int r = 0; r < rounds; r++) {
		double t0 = now_ms();
		void *h[16];
		for (size_t i = 0; i < n; i++)
			h[i] = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
		for (size_t i = 0; i < n; i++)
			if (h[i])
				dlclose(h[i]);
		bare[r] = now_ms() - t0;

		struct modvm_host *host = modvm__host_new();
		t0 = now_ms();
		for (size_t i = 0; i < n; i++)
			if (modvm__host_load_one(host, paths[i], NULL) < 0)
				return 1;
		if (modvm__host_start(host) < 0)
			return 1;
		load[r] = now_ms() - t0;
		modvm__host_stop(host);
		modvm__host_free(host);
	}
	qsort(load, (size_t)rounds, sizeof(double), cmp_double);
	qsort(bare, (size_t)rounds, sizeof(double), cmp_double);
	printf("load+init+start %zu plugins: median %.3f ms  min %.3f  max %.3f  (%d rounds)\n", n,
	       load[rounds / 2], load[0], load[rounds - 1], rounds);
	printf("baseline dlopen+dlclose:     median %.3f ms  min %.3f  max %.3f  ratio %.2fx\n",
	       bare[rounds / 2], bare[0], bare[rounds - 1], load[rounds / 2] / bare[rounds / 2]);
	for (size_t i = 0; i < n; i++)
		free(paths[i]);
	free(load);
	free(bare);
	return 0;
}
