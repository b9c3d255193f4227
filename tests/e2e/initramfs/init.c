/*
 * The initramfs's /init for the Linux e2e test: proves the kernel reached
 * user space and lists the virtio devices it found, then powers off.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <unistd.h>

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
	list_virtio();
	fflush(stdout);
	sync();
	reboot(RB_POWER_OFF);
	/* Power-off unsupported: halt; the test stops the VM anyway. */
	reboot(RB_HALT_SYSTEM);
	for (;;)
		pause();
}
