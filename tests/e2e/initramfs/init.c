/*
 * The initramfs's /init for the Linux e2e test: proves the kernel reached
 * user space, loads the modules named in /modules.load (the test packs
 * Debian's virtio, virtio_ring, virtio_mmio and virtio-rng, which that
 * kernel builds as modules), lists the virtio devices it found, then powers
 * off.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* Loads each module named in /modules.load, in order; returns how many. */
static int load_modules(void)
{
	FILE *list = fopen("/modules.load", "r");
	char name[256];
	int loaded = 0;
	while (list && fgets(name, sizeof(name), list)) {
		name[strcspn(name, "\n")] = 0;
		if (!name[0])
			continue;
		int fd = open(name, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || syscall(SYS_finit_module, fd, "", 0) != 0) {
			printf("modvm-init: cannot load %s: %m\n", name);
		} else {
			printf("modvm-init: loaded %s\n", name);
			loaded++;
		}
		if (fd >= 0)
			close(fd);
	}
	if (list)
		fclose(list);
	return loaded;
}

static int count_virtio(void)
{
	int n = 0;
	DIR *d = opendir("/sys/bus/virtio/devices");
	struct dirent *e;
	while (d && (e = readdir(d)))
		n += e->d_name[0] != '.';
	if (d)
		closedir(d);
	return n;
}

static void list_virtio(void)
{
	int n = 0;
	DIR *d = opendir("/sys/bus/virtio/devices");
	struct dirent *e;
	while (d && (e = readdir(d))) {
		char path[512], id[32] = "?";
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/sys/bus/virtio/devices/%s/device", e->d_name);
		FILE *f = fopen(path, "r");
		if (f) {
			if (fgets(id, sizeof(id), f))
				id[strcspn(id, "\n")] = 0;
			fclose(f);
		}
		printf("modvm-init: virtio %s device %s\n", e->d_name, id);
		n++;
	}
	if (d)
		closedir(d);
	printf("modvm-init: virtio devices: %d\n", n);
}

int main(void)
{
	mkdir("/dev", 0755);
	mkdir("/sys", 0755);
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	int fd = open("/dev/console", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	printf("modvm-init: hello from init\n");
	if (load_modules() > 0) {
		/* Drivers bind asynchronously: give the devices up to 3 s to appear. */
		struct timespec tick = { 0, 50 * 1000 * 1000 };
		for (int i = 0; i < 60 && count_virtio() == 0; i++)
			nanosleep(&tick, NULL);
	}
	list_virtio();
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	/* Power-off unsupported: halt; the test stops the VM anyway. */
	reboot(RB_HALT_SYSTEM);
	for (;;)
		pause();
}
