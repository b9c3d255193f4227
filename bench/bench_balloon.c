/*
 * mem-balloon (issue 5): how fast a balloon inflate gives memory back to
 * the host, measured as the drop of the fake guest RAM's Rss in
 * /proc/self/smaps, against the same madvise done page by page in the same
 * run; and how long a 256 MiB target change takes to show in Rss when a
 * driver (the qtest-style one, playing a guest's balloon driver) reacts to
 * the configuration interrupt.
 *
 *   bench_balloon [MiB]      (default 1024)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "bdrv.h"

#define PAGE BALLOON_PAGE_SIZE
#define PFNS_PER_BUF 256u	/* Linux's VIRTIO_BALLOON_ARRAY_PFNS_MAX */
#define BUFS_PER_KICK 128u

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void touch(struct bdrv *d, uint64_t first_pfn, uint64_t pages)
{
	for (uint64_t i = 0; i < pages; i++)
		d->ram[(first_pfn + i) * PAGE] = 1;
}

/* Inflates @pages from @first_pfn the way Linux does: 256 PFNs a buffer. */
static void inflate(struct bdrv *d, uint64_t first_pfn, uint64_t pages)
{
	uint64_t done = 0;
	uint32_t id, len;

	while (done < pages) {
		unsigned bufs = 0;
		bdrv_data_reset(d);
		while (bufs < BUFS_PER_KICK && done < pages) {
			uint32_t n = pages - done < PFNS_PER_BUF ? (uint32_t)(pages - done) : PFNS_PER_BUF;
			uint64_t gpa = bdrv_alloc(d, n * 4);
			uint32_t *p = (uint32_t *)bdrv_gpa(d, gpa);
			for (uint32_t i = 0; i < n; i++)
				p[i] = (uint32_t)(first_pfn + done + i);
			struct bdrv_seg s = { .gpa = gpa, .len = n * 4 };
			bdrv_post(d, BALLOON_Q_INFLATE, &s, 1);
			done += n;
			bufs++;
		}
		bdrv_kick(d, BALLOON_Q_INFLATE);
		while (bufs && bdrv_get_used(d, BALLOON_Q_INFLATE, &id, &len))
			bufs--;
		if (bufs) {
			fprintf(stderr, "inflate: %u buffers not returned\n", bufs);
			exit(1);
		}
	}
}

static double gib(size_t bytes)
{
	return (double)bytes / (double)(1ull << 30);
}

static void run(bool shared, uint64_t mib)
{
	struct bdrv d;
	uint64_t pages = mib << 20 >> 12, pfn0 = BDRV_PAGES_GPA / PAGE;

	bdrv_init(&d, BDRV_PAGES_GPA + (mib << 20), shared);
	if (!(bdrv_start(&d, ~0ull) & MODVM_VIRTIO_STATUS_DRIVER_OK)) {
		fprintf(stderr, "driver setup failed\n");
		exit(1);
	}
	const char *kind = shared ? "shared RAM (MADV_REMOVE)" : "private RAM (MADV_DONTNEED)";

	/* 1. Through the device. */
	touch(&d, pfn0, pages);
	size_t before = bdrv_rss(d.ram);
	double t0 = now();
	inflate(&d, pfn0, pages);
	double t_dev = now() - t0;
	size_t drop_dev = before - bdrv_rss(d.ram);
	struct balloon_counters c;
	balloon_dev_get_counters(d.b, &c);

	/* 2. Baseline: the same pages, one madvise each. */
	touch(&d, pfn0, pages);
	before = bdrv_rss(d.ram);
	int advice = shared ? MADV_REMOVE : MADV_DONTNEED;
	t0 = now();
	for (uint64_t i = 0; i < pages; i++)
		madvise(d.ram + (pfn0 + i) * PAGE, PAGE, advice);
	double t_page = now() - t0;
	size_t drop_page = before - bdrv_rss(d.ram);

	/* 3. The kernel's floor: one madvise for the whole range. */
	touch(&d, pfn0, pages);
	before = bdrv_rss(d.ram);
	t0 = now();
	madvise(d.ram + pfn0 * PAGE, pages * PAGE, advice);
	double t_one = now() - t0;
	size_t drop_one = before - bdrv_rss(d.ram);

	/* 4. The device's own cost: inflating pages that hold nothing. */
	t0 = now();
	inflate(&d, pfn0, pages);
	double t_empty = now() - t0;

	printf("%s, %llu MiB:\n", kind, (unsigned long long)mib);
	printf("  device inflate      %8.3f GiB/s  (%.1f ms, Rss -%llu MiB, %llu madvise calls)\n",
	       gib(drop_dev) / t_dev, t_dev * 1e3, (unsigned long long)(drop_dev >> 20),
	       (unsigned long long)c.madvise_calls);
	printf("  page-by-page madvise%8.3f GiB/s  (%.1f ms, Rss -%llu MiB)  speed-up %.1fx\n",
	       gib(drop_page) / t_page, t_page * 1e3, (unsigned long long)(drop_page >> 20),
	       t_page / t_dev);
	printf("  one madvise (floor) %8.3f GiB/s  (%.1f ms)\n", gib(drop_one) / t_one, t_one * 1e3);
	printf("  device, empty pages %8.1f ms     (the device's own cost per GiB: %.1f ms)\n",
	       t_empty * 1e3, t_empty * 1e3 / gib(pages * PAGE));

	/* 5. A 256 MiB target change, the driver reacting to the interrupt. */
	uint64_t want = 256ull << 20 >> 12;
	if (want > pages)
		want = pages;
	touch(&d, pfn0, pages);
	bdrv_cfg_write(&d, 4, 0);
	before = bdrv_rss(d.ram);
	int irqs = d.irqs;
	t0 = now();
	balloon_dev_set_target(d.b, (uint32_t)want);
	double t_cmd = 0, t_rss = 0;
	if (d.irqs > irqs) {
		uint32_t target = bdrv_cfg_read(&d, 0), actual = bdrv_cfg_read(&d, 4);
		inflate(&d, pfn0 + actual, target - actual);
		bdrv_cfg_write(&d, 4, target);
		t_cmd = now() - t0;
		size_t drop = before - bdrv_rss(d.ram);
		t_rss = now() - t0;
		printf("  target -%llu MiB     inflated in %.2f ms, visible in Rss after %.2f ms "
		       "(Rss -%llu MiB)\n",
		       (unsigned long long)(want >> 8), t_cmd * 1e3, t_rss * 1e3,
		       (unsigned long long)(drop >> 20));
	} else {
		printf("  target change raised no interrupt\n");
	}
	bdrv_fini(&d);
}

int main(int argc, char **argv)
{
	uint64_t mib = argc > 1 ? strtoull(argv[1], NULL, 0) : 1024;

	if (!mib || mib > 16384) {
		fprintf(stderr, "usage: bench_balloon [MiB 1..16384]\n");
		return 2;
	}
	run(false, mib);
	run(true, mib);
	return 0;
}
