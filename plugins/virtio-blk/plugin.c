/*
 * plugin.c — virtio-blk: disks for the VMs of this process.
 *
 * Each VM whose `virtio-blk` group lists disks gets one virtio-blk device
 * per disk (virtio-mmio, so Linux finds them as /dev/vda, /dev/vdb, … in
 * list order):
 *
 *   vms = ( { name = "db"; ...
 *     virtio-blk = { disks = ( { path = "root.img"; },
 *                              { path = "/dev/vg0/data"; cache = "none"; discard = true; },
 *                              { path = "seed.iso"; readonly = true; serial = "seed"; } ); };
 *   } );
 *
 * The images are opened, sized and locked in the VM's setup hook (image.c:
 * a writable image belongs to one VM, of this modvm or any other process)
 * and closed, after the last request finished, in its teardown hook.
 * Requests run on an I/O engine per disk (blkio.h): io_uring where the
 * kernel allows it, a thread pool otherwise; `modvm caps` says which.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/fs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <modvm/plugin.h>
#include <modvm/sandbox.h>
#include <modvm/vm.h>

#include "blkdev.h"
#include "image.h"

#define PLUGIN_NAME "virtio-blk"
#define MAX_DISKS 8

struct vb_disk {
	const struct modvm_config *c;	/* the list element */
	struct blk_image img;
	struct blkdev *bd;
	char name[80];
};

struct vb_vm {
	unsigned ndisks;
	struct vb_disk disks[MAX_DISKS];
	struct modvm_vm *vm;		/* while set up */
};

struct vb {
	struct modvm_plugin_ctx *ctx;
	unsigned nvms;
	struct vb_vm *vms;
	enum blkio_kind io;
	unsigned io_threads;
};

/* ---- per-VM hooks ---- */

/* "file:12: vms.[0].virtio-blk.disks.[1].path" for messages. */
static void key_of(const struct vb_disk *d, const char *field, char *buf, size_t len)
{
	snprintf(buf, len, "%s: %s.%s", modvm_config_where(d->c, field), modvm_config_key(d->c),
		 field);
}

/* Another disk of this process with the same file open, for a lock
 * conflict message that names both sides by their config keys. */
static const struct vb_disk *open_elsewhere(struct vb *m, const struct blk_image *img,
					    unsigned *vm_id)
{
	for (unsigned v = 0; v < m->nvms; v++)
		for (unsigned k = 0; k < m->vms[v].ndisks; k++) {
			const struct vb_disk *o = &m->vms[v].disks[k];
			if (o->img.fd >= 0 && o->img.dev == img->dev && o->img.ino == img->ino) {
				*vm_id = v;
				return o;
			}
		}
	return NULL;
}

static void disk_close(struct vb_vm *v, struct vb_disk *d)
{
	if (d->bd)
		blkdev_detach(v->vm, d->bd);
	d->bd = NULL;
	blk_image_close(&d->img);
}

static int disk_open(struct vb *m, struct vb_vm *v, unsigned id, unsigned k)
{
	struct vb_disk *d = &v->disks[k];
	const struct modvm_config *c = d->c;
	const char *path = modvm_config_string(c, "path");
	bool ro = modvm_config_bool(c, "readonly");
	bool direct = strcmp(modvm_config_string(c, "cache"), "none") == 0;
	char key[512], why[512];
	unsigned other_id;
	int64_t queues = modvm_config_int(c, "queues");
	int r;

	key_of(d, "path", key, sizeof(key));
	r = blk_image_open(path, ro, direct, &d->img, why, sizeof(why));
	if (r == -EAGAIN) {
		const struct vb_disk *o = open_elsewhere(m, &d->img, &other_id);
		if (o)
			snprintf(why, sizeof(why),
				 "in use: VM \"%s\" of this modvm has it open %s (%s); %s",
				 modvm_plugin_vm_name(m->ctx, other_id),
				 o->img.readonly ? "read-only" : "read-write", modvm_config_key(o->c),
				 ro ? "a read-only disk cannot share it with a writer"
				    : "a writable disk needs it to itself");
	}
	if (r < 0) {
		modvm_plugin_log(m->ctx, MODVM_LOG_ERROR, "%s: \"%s\": %s (VM \"%s\")", key, path,
				 why, modvm_plugin_vm_name(m->ctx, id));
		return r;
	}
	struct blkdev_config bc = {
		.fd = d->img.fd,
		.size = d->img.size,
		.readonly = ro,
		.direct = direct,
		.dio_offset_align = d->img.dio_offset_align,
		.dio_mem_align = d->img.dio_mem_align,
		.discard = modvm_config_bool(c, "discard"),
		.write_zeroes = modvm_config_bool(c, "write_zeroes"),
		.block_size = (uint32_t)modvm_config_int(c, "block_size"),
		.num_queues = (uint16_t)(queues ? queues : modvm_vm_vcpu_count(v->vm)),
		.rate_bytes = modvm_config_size(c, "limit.bytes_per_sec"),
		.burst_bytes = modvm_config_size(c, "limit.bytes_burst"),
		.rate_ops = (uint64_t)modvm_config_int(c, "limit.ops_per_sec"),
		.burst_ops = (uint64_t)modvm_config_int(c, "limit.ops_burst"),
		.io = m->io,
		.io_threads = m->io_threads,
		.plugin = m->ctx,
	};
	if (bc.num_queues > BLKDEV_MAX_QUEUES)
		bc.num_queues = BLKDEV_MAX_QUEUES;
	strncpy(bc.serial, modvm_config_string(c, "serial"), VBLK_ID_BYTES);
	if (direct && bc.block_size % d->img.dio_offset_align) {
		key_of(d, "block_size", key, sizeof(key));
		modvm_plugin_log(m->ctx, MODVM_LOG_ERROR,
				 "%s: %u: cache = \"none\" on \"%s\" needs a block size that is a "
				 "multiple of its direct-I/O alignment, %u bytes",
				 key, bc.block_size, path, d->img.dio_offset_align);
		blk_image_close(&d->img);
		return -EINVAL;
	}
	if (d->img.size % VBLK_SECTOR)
		modvm_plugin_log(m->ctx, MODVM_LOG_WARN,
				 "%s: \"%s\" is %" PRIu64 " bytes, not a multiple of 512: the last "
				 "%" PRIu64 " bytes are not part of the disk",
				 key, path, d->img.size, d->img.size % VBLK_SECTOR);
	snprintf(d->name, sizeof(d->name), "%s/disk%u", modvm_vm_name(v->vm), k);
	r = blkdev_attach(v->vm, d->name, &bc, &d->bd);
	if (r < 0) {
		d->bd = NULL;
		modvm_plugin_log(m->ctx, MODVM_LOG_ERROR, "%s: cannot add the virtio-blk device: %s",
				 key, modvm_strerror(r));
		blk_image_close(&d->img);
		return r;
	}
	modvm_plugin_log(m->ctx, MODVM_LOG_INFO,
			 "vm %s: disk%u \"%s\": %" PRIu64 " MiB, %s, cache %s, %u queue(s), %s I/O",
			 modvm_vm_name(v->vm), k, path, d->img.size >> 20,
			 ro ? "read-only" : "read-write", direct ? "none (O_DIRECT)" : "writeback",
			 bc.num_queues, blkio_kind_name(blkdev_io_kind(d->bd)));
	return 0;
}

static int vm_setup(struct modvm_plugin_ctx *ctx, struct modvm_vm *vm, unsigned id, void *ud)
{
	struct vb *m = ud;
	struct vb_vm *v;
	int r = 0;

	(void)ctx;
	if (id >= m->nvms || m->vms[id].ndisks == 0)
		return 0;
	v = &m->vms[id];
	v->vm = vm;
	for (unsigned k = 0; k < v->ndisks && r == 0; k++)
		r = disk_open(m, v, id, k);
	if (r < 0) {
		/* The core runs no teardown hook for a failed setup. */
		for (unsigned k = 0; k < v->ndisks; k++)
			disk_close(v, &v->disks[k]);
		v->vm = NULL;
	}
	return r;
}

static void vm_teardown(struct modvm_plugin_ctx *ctx, struct modvm_vm *vm, unsigned id, void *ud)
{
	struct vb *m = ud;

	(void)ctx;
	(void)vm;
	if (id >= m->nvms || !m->vms[id].vm)
		return;
	for (unsigned k = 0; k < m->vms[id].ndisks; k++)
		disk_close(&m->vms[id], &m->vms[id].disks[k]);
	m->vms[id].vm = NULL;
}

static const struct modvm_vm_hooks hooks = {
	.struct_size = sizeof(struct modvm_vm_hooks),
	.setup = vm_setup,
	.teardown = vm_teardown,
};

/* ---- configuration ---- */

/* What can be checked before any file is opened. */
static int disk_configure(struct vb *m, struct vb_disk *d)
{
	const struct modvm_config *c = d->c;
	int64_t bs = modvm_config_int(c, "block_size");
	char key[512];

	d->img.fd = -1;
	if (!*modvm_config_string(c, "path")) {
		key_of(d, "path", key, sizeof(key));
		modvm_plugin_log(m->ctx, MODVM_LOG_ERROR, "%s: empty path", key);
		return -EINVAL;
	}
	if (strlen(modvm_config_string(c, "serial")) > VBLK_ID_BYTES) {
		key_of(d, "serial", key, sizeof(key));
		modvm_plugin_log(m->ctx, MODVM_LOG_ERROR,
				 "%s: \"%s\": longer than %u bytes (VIRTIO_BLK_ID_BYTES)", key,
				 modvm_config_string(c, "serial"), VBLK_ID_BYTES);
		return -EINVAL;
	}
	if (bs & (bs - 1)) {
		key_of(d, "block_size", key, sizeof(key));
		modvm_plugin_log(m->ctx, MODVM_LOG_ERROR, "%s: %" PRId64 ": not a power of two", key,
				 bs);
		return -EINVAL;
	}
	return 0;
}

static int vm_configure(struct vb *m, unsigned id)
{
	const struct modvm_config *c = modvm_plugin_vm_config(m->ctx, id);
	struct vb_vm *v = &m->vms[id];

	if (!c)
		return 0;
	/* The table bounds the list at MAX_DISKS. */
	v->ndisks = (unsigned)modvm_config_list_count(c, "disks");
	for (unsigned k = 0; k < v->ndisks; k++) {
		v->disks[k].c = modvm_config_list_elem(c, "disks", k);
		int r = disk_configure(m, &v->disks[k]);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- the sandbox (modvm/sandbox.h) ---- */

/*
 * What disks need after the lockdown, beyond the core's lists: a guest's
 * reboot opens and locks the images again on the loop thread; requests
 * are submitted on vCPU threads (virtqueue notify; on the loop after a
 * kick's queue's worth) and done on the I/O threads (the pool's workers
 * or the io_uring reaper).
 */
static const char *const loop_calls[] = { "io_uring_setup", "io_uring_register",
					  "io_uring_enter", NULL };
static const char *const vcpu_calls[] = { "io_uring_enter", NULL };
static const char *const io_calls[] = { "preadv", "pwritev", "pread64", "pwrite64", "fdatasync",
					"fallocate", "io_uring_enter", NULL };

static int allow_list(struct modvm_plugin_ctx *ctx, unsigned threads, const char *const *calls)
{
	int r = 0;
	for (; *calls && r == 0; calls++)
		r = modvm_sandbox_allow(ctx, threads, *calls);
	return r;
}

static int declare_sandbox(struct vb *m)
{
	struct modvm_plugin_ctx *ctx = m->ctx;
	int r = allow_list(ctx, MODVM_THREAD_LOOP, loop_calls);
	if (r == 0)
		r = allow_list(ctx, MODVM_THREAD_VCPU, vcpu_calls);
	if (r == 0)
		r = allow_list(ctx, MODVM_THREAD_IO, io_calls);
	/* image locks (OFD), block devices' geometry */
	if (r == 0)
		r = modvm_sandbox_allow_arg(ctx, MODVM_THREAD_LOOP, "fcntl", 1, F_OFD_SETLK);
	if (r == 0)
		r = modvm_sandbox_allow_arg(ctx, MODVM_THREAD_LOOP, "fcntl", 1, F_OFD_GETLK);
	if (r == 0)
		r = modvm_sandbox_allow_arg(ctx, MODVM_THREAD_LOOP, "ioctl", 1, BLKSSZGET);
	if (r == 0)
		r = modvm_sandbox_allow_arg(ctx, MODVM_THREAD_LOOP, "ioctl", 1, BLKGETSIZE64);
	for (unsigned i = 0; i < m->nvms && r == 0; i++)
		for (unsigned k = 0; k < m->vms[i].ndisks && r == 0; k++) {
			const struct modvm_config *c = m->vms[i].disks[k].c;
			unsigned access = MODVM_SANDBOX_READ;
			if (!modvm_config_bool(c, "readonly"))
				access |= MODVM_SANDBOX_WRITE;
			r = modvm_sandbox_allow_path(ctx, modvm_config_string(c, "path"), access);
		}
	return r;
}

/* ---- lifecycle ---- */

static int vb_init(struct modvm_plugin_ctx *ctx)
{
	const struct modvm_config *cfg = modvm_plugin_config(ctx);
	const char *io = modvm_config_string(cfg, "io_engine");
	struct vb *m = calloc(1, sizeof(*m));
	int r = -ENOMEM;

	if (!m)
		return -ENOMEM;
	m->ctx = ctx;
	m->nvms = modvm_plugin_vm_count(ctx);
	m->io = !strcmp(io, "io_uring") ? BLKIO_URING
		: !strcmp(io, "threads") ? BLKIO_THREADS : BLKIO_AUTO;
	m->io_threads = (unsigned)modvm_config_int(cfg, "io_threads");
	m->vms = calloc(m->nvms ? m->nvms : 1, sizeof(*m->vms));
	if (!m->vms)
		goto free_m;
	for (unsigned i = 0; i < m->nvms; i++)
		for (unsigned k = 0; k < MAX_DISKS; k++)
			m->vms[i].disks[k].img.fd = -1;
	for (unsigned i = 0; i < m->nvms; i++)
		if ((r = vm_configure(m, i)) < 0)
			goto free_m;
	if (m->io == BLKIO_URING) {
		char why[256];
		if (!blkio_uring_usable(why, sizeof(why))) {
			modvm_plugin_log(ctx, MODVM_LOG_ERROR,
					 "%s: io_engine = \"io_uring\", but %s (use \"auto\")",
					 modvm_config_where(cfg, "io_engine"), why);
			r = -ENOTSUP;
			goto free_m;
		}
	}
	r = declare_sandbox(m);
	if (r < 0)
		goto free_m;
	r = modvm_plugin_set_vm_hooks(ctx, &hooks, m);
	if (r < 0)
		goto free_m;
	modvm_plugin_set_data(ctx, m);
	return 0;
free_m:
	free(m->vms);
	free(m);
	return r;
}

static void vb_fini(struct modvm_plugin_ctx *ctx)
{
	struct vb *m = modvm_plugin_data(ctx);

	modvm_plugin_set_vm_hooks(ctx, NULL, NULL);
	/* The core tears VMs down (our teardown hook) before fini. */
	for (unsigned i = 0; i < m->nvms; i++)
		for (unsigned k = 0; m->vms[i].vm && k < m->vms[i].ndisks; k++)
			disk_close(&m->vms[i], &m->vms[i].disks[k]);
	free(m->vms);
	free(m);
	modvm_plugin_set_data(ctx, NULL);
}

/* `modvm caps`: which I/O engine disks get here, and why. */
static int caps_report(struct modvm_plugin_ctx *ctx, char *buf, size_t len)
{
	struct vb *m = modvm_plugin_data(ctx);
	char why[256];
	bool uring = blkio_uring_usable(why, sizeof(why));
	const char *engine = m->io == BLKIO_THREADS ? "threads"
			     : uring		    ? "io_uring"
			     : m->io == BLKIO_URING ? "none" : "threads";

	return snprintf(buf, len,
			"I/O engine: %s (io_engine = \"%s\")\n"
			"io_uring: %s%s\n"
			"thread pool: %u preadv/pwritev threads per disk\n"
			"image locks: OFD (fcntl F_OFD_SETLK), flush = fdatasync",
			engine, blkio_kind_name(m->io), uring ? "usable" : "not usable: ",
			uring ? "" : why, m->io_threads);
}

static const struct modvm_caps_report caps = {
	.struct_size = sizeof(struct modvm_caps_report),
	.report = caps_report,
};

static const void *vb_get_interface(struct modvm_plugin_ctx *ctx, const char *id)
{
	(void)ctx;
	return id && strcmp(id, MODVM_CAPS_REPORT_IFACE) == 0 ? &caps : NULL;
}

static const struct modvm_option vm_options[] = {
	{ .name = "disks", .type = MODVM_OPT_LIST, .default_value = "()", .min = 0,
	  .max = MAX_DISKS, .description = "the VM's disks, /dev/vda, /dev/vdb, ... in this order" },
	{ .name = "disks.path", .type = MODVM_OPT_STRING,
	  .description = "raw image file or block device" },
	{ .name = "disks.readonly", .type = MODVM_OPT_BOOL, .default_value = "false",
	  .description = "VIRTIO_BLK_F_RO: the guest cannot write; the image is shared-locked" },
	{ .name = "disks.serial", .type = MODVM_OPT_STRING, .default_value = "",
	  .description = "what GET_ID answers (/sys/block/vdX/serial), at most 20 bytes" },
	{ .name = "disks.cache", .type = MODVM_OPT_ENUM, .default_value = "writeback",
	  .choices = "writeback|none",
	  .description = "writeback: host page cache, flush = fdatasync; none: O_DIRECT" },
	{ .name = "disks.discard", .type = MODVM_OPT_BOOL, .default_value = "false",
	  .description = "VIRTIO_BLK_F_DISCARD: the guest's discards punch holes in the image" },
	{ .name = "disks.write_zeroes", .type = MODVM_OPT_BOOL, .default_value = "true",
	  .description = "VIRTIO_BLK_F_WRITE_ZEROES (fallocate ZERO_RANGE, holes with discard)" },
	{ .name = "disks.queues", .type = MODVM_OPT_INT, .default_value = "0", .min = 0,
	  .max = BLKDEV_MAX_QUEUES, .description = "request queues (VIRTIO_BLK_F_MQ); 0: one per vCPU" },
	{ .name = "disks.block_size", .type = MODVM_OPT_INT, .default_value = "512", .min = 512,
	  .max = 4096, .description = "logical block size told to the guest (a power of two)" },
	{ .name = "disks.limit.bytes_per_sec", .type = MODVM_OPT_SIZE, .default_value = "0",
	  .description = "bandwidth limit, token bucket (0: none)" },
	{ .name = "disks.limit.bytes_burst", .type = MODVM_OPT_SIZE, .default_value = "0",
	  .description = "bandwidth bucket size (0: one second's worth)" },
	{ .name = "disks.limit.ops_per_sec", .type = MODVM_OPT_INT, .default_value = "0", .min = 0,
	  .max = 100000000, .description = "request rate limit, token bucket (0: none)" },
	{ .name = "disks.limit.ops_burst", .type = MODVM_OPT_INT, .default_value = "0", .min = 0,
	  .max = 100000000, .description = "request bucket size (0: one second's worth)" },
	MODVM_OPTIONS_END,
};

static const struct modvm_option options[] = {
	{ .name = "io_engine", .type = MODVM_OPT_ENUM, .default_value = "auto",
	  .choices = "auto|io_uring|threads",
	  .description = "auto: io_uring where the kernel allows it, else threads" },
	{ .name = "io_threads", .type = MODVM_OPT_INT, .default_value = "4", .min = 2, .max = 64,
	  .description = "threads per disk when the thread pool serves it" },
	MODVM_OPTIONS_END,
};

MODVM_PLUGIN(.name = PLUGIN_NAME, .kind = MODVM_KIND_DEVICE, .version = "1.0.0", .license = "MIT",
	     .description = "virtio-blk disks: raw images or block devices, io_uring, locks, limits",
	     .options = options, .vm_options = vm_options, .init = vb_init, .fini = vb_fini,
	     .get_interface = vb_get_interface);
