/*
 * bench_park — Core Parking on a synthetic day (issue 7's closing numbers).
 *
 * A day-shaped demand curve (night trough, daytime hump, noise, random
 * bursts) for 8 managed cores at 1 s intervals (86400 decisions) is replayed
 * through the real policy.  The policy sees what a host would show: demand
 * capped by the unparked cores, spread over them.  Reported:
 *  - fraction of core-time parked;
 *  - the delay between a load spike (demand exceeding the unparked cores)
 *    and the unpark that covers it: median, 99th percentile, max;
 *  - policy CPU cost per decision, against one /proc/stat read in the same
 *    run (the sampling cost the plugin pays every interval anyway).
 * Usage: bench_park [seed]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"
#include "sampler.h"

#define NCORES 8
#define SECONDS 86400

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static unsigned lcg(unsigned long long *s)
{
	*s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(*s >> 33);
}

static double uniform(unsigned long long *s)
{
	return (double)lcg(s) / 2147483648.0;
}

static int cmp_u(const void *a, const void *b)
{
	unsigned x = *(const unsigned *)a, y = *(const unsigned *)b;

	return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
	unsigned long long seed0 = argc > 1 ? strtoull(argv[1], NULL, 10) : 42, seed = seed0;
	static double demand[SECONDS];
	static struct park_sample samples[SECONDS];
	static unsigned delays[SECONDS];
	struct park_params p = { .min_cores = 1, .increase_threshold = 60, .decrease_threshold = 20,
				 .increase_time = 1, .decrease_time = 3, .cores_per_step = 1 };
	struct park_policy pol;
	struct park_decision d;
	unsigned cpus[NCORES], ndelays = 0, spike_start = 0, changes = 0;
	double parked_core_s = 0, burst = 0, t0, policy_ns, read_ns;
	bool in_spike = false;
	char err[300];
	int burst_left = 0;

	for (unsigned i = 0; i < NCORES; i++)
		cpus[i] = i;
	/* the day: 0.3 cores at 4 am, ~5.5 cores mid-afternoon, noise, bursts */
	for (unsigned t = 0; t < SECONDS; t++) {
		double hour = t / 3600.0;
		double hump = 0.5 - 0.5 * cos(2 * M_PI * (hour - 4) / 24);
		if (burst_left-- <= 0) {
			burst = 0;
			if (uniform(&seed) < 1.0 / 900) {	/* about 4 bursts an hour */
				burst = 1.5 + 3 * uniform(&seed);
				burst_left = 10 + (int)(110 * uniform(&seed));
			}
		}
		demand[t] = 0.3 + 5.2 * hump * hump + 0.4 * (uniform(&seed) - 0.5) + burst;
		if (demand[t] < 0.05)
			demand[t] = 0.05;
		if (demand[t] > NCORES)
			demand[t] = NCORES;
	}

	if (park_policy_init(&pol, &p, cpus, NCORES, err, sizeof(err)) < 0) {
		fprintf(stderr, "bench_park: %s\n", err);
		return 1;
	}
	for (unsigned t = 0; t < SECONDS; t++) {
		unsigned n = park_policy_unparked_count(&pol), need = (unsigned)ceil(demand[t]);
		double served = demand[t] < n ? demand[t] : n;
		struct park_sample *s = &samples[t];

		memset(s, 0, sizeof(*s));
		for (unsigned i = 0; i < NCORES; i++)
			if (pol.unparked[i])
				s->busy_permille[i] = (uint32_t)(served * 1000 / n);
		/* a spike: demand the unparked cores cannot carry; it ends when they can */
		if (!in_spike && demand[t] > n) {
			in_spike = true;
			spike_start = t;
		}
		park_policy_step(&pol, s, &d);
		changes += d.changed;
		n = park_policy_unparked_count(&pol);
		if (in_spike && (n >= need || demand[t] <= n)) {
			delays[ndelays++] = t - spike_start + 1;	/* decided at the interval's end */
			in_spike = false;
		}
		parked_core_s += NCORES - n;
	}
	qsort(delays, ndelays, sizeof(delays[0]), cmp_u);

	/* cost: replay the recorded samples again, timing only the decisions */
	park_policy_init(&pol, &p, cpus, NCORES, err, sizeof(err));
	t0 = now_s();
	for (unsigned t = 0; t < SECONDS; t++)
		park_policy_step(&pol, &samples[t], &d);
	policy_ns = (now_s() - t0) * 1e9 / SECONDS;

	{
		static uint32_t pm[PARK_MAX_CPUS];
		struct park_sampler smp;
		const int reads = 2000;

		park_sampler_init(&smp, "/proc/stat");
		t0 = now_s();
		for (int i = 0; i < reads; i++)
			if (park_sampler_read(&smp, pm, err, sizeof(err)) < 0) {
				fprintf(stderr, "bench_park: %s\n", err);
				return 1;
			}
		read_ns = (now_s() - t0) * 1e9 / reads;
	}

	printf("synthetic day: %u cores, %u intervals of 1 s, seed %llu, %u set changes\n",
	       NCORES, SECONDS, seed0, changes);
	printf("core-time parked:            %.1f %%\n",
	       100.0 * parked_core_s / ((double)NCORES * SECONDS));
	printf("spikes (demand > unparked):  %u\n", ndelays);
	if (ndelays)
		printf("spike-to-unpark delay:       median %u, p99 %u, max %u intervals "
		       "(x interval_ms; 1 = unparked at the first decision)\n",
		       delays[ndelays / 2], delays[(ndelays * 99) / 100], delays[ndelays - 1]);
	printf("policy cost per decision:    %.0f ns (8 cores)\n", policy_ns);
	printf("one /proc/stat read:         %.0f ns (this host)\n", read_ns);
	printf("overhead at 1 s intervals:   %.5f %% of a core (policy + read)\n",
	       (policy_ns + read_ns) / 1e9 * 100);
	return 0;
}
