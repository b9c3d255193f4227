#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netns.h"

const char *netns_unavailable(void)
{
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return "/dev/net/tun cannot be opened";
	close(fd);
	pid_t pid = fork();
	if (pid < 0)
		return "fork failed";
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) == 0 ? 0 : 1);
	int st;
	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st))
		return "unshare(CLONE_NEWNET) is not permitted";
	if (system("ip -V >/dev/null 2>&1") != 0)
		return "the ip command (iproute2) is missing";
	return NULL;
}

int netns_enter(void)
{
	if (unshare(CLONE_NEWNET) < 0)
		return -errno;
	netns_sysctl("net/ipv6/conf/all/disable_ipv6", "1");
	netns_sysctl("net/ipv6/conf/default/disable_ipv6", "1");
	return netns_sh("ip link set lo up") == 0 ? 0 : -EIO;
}

int netns_sh(const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	int st = system(cmd);
	if (st < 0 || !WIFEXITED(st))
		return -1;
	if (WEXITSTATUS(st))
		fprintf(stderr, "netns: `%s` exited with %d\n", cmd, WEXITSTATUS(st));
	return WEXITSTATUS(st);
}

int netns_sysctl(const char *path, const char *value)
{
	char full[256];

	snprintf(full, sizeof(full), "/proc/sys/%s", path);
	int fd = open(full, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, value, strlen(value));
	int e = errno;
	close(fd);
	return n == (ssize_t)strlen(value) ? 0 : -e;
}

int netns_ethtool(const char *ifname, unsigned cmd, bool on)
{
	struct ethtool_value ev = { .cmd = cmd, .data = on };
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), ret = 0;

	if (s < 0)
		return -errno;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", ifname);
	ifr.ifr_data = (void *)&ev;
	if (ioctl(s, SIOCETHTOOL, &ifr) < 0)
		ret = -errno;
	close(s);
	return ret;
}

uint32_t csum_add(uint32_t sum, const void *p, size_t len)
{
	const uint8_t *b = p;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(b[i] << 8 | b[i + 1]);
	if (len & 1)
		sum += (uint32_t)b[len - 1] << 8;
	return sum;
}

uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

uint32_t csum_pseudo4(const uint8_t *saddr, const uint8_t *daddr, uint8_t proto, uint16_t len)
{
	uint8_t ph[12];

	memcpy(ph, saddr, 4);
	memcpy(ph + 4, daddr, 4);
	ph[8] = 0;
	ph[9] = proto;
	ph[10] = (uint8_t)(len >> 8);
	ph[11] = (uint8_t)len;
	return csum_add(0, ph, 12);
}
