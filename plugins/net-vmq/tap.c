/*
 * The multi-queue tap.  See tap.h.  The interface ioctls go through an
 * AF_INET datagram socket opened for the call: the tap fds only speak TUN*.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <modvm/log.h>

#include "tap.h"

#define DOMAIN "net-vmq"

struct tap {
	char name[IFNAMSIZ];
	unsigned nq;
	int fd[TAP_MAX_QUEUES];
};

static int fail(const struct tap *t, const char *what, int err)
{
	modvm_log(MODVM_LOG_ERROR, DOMAIN, "tap %s: %s: %s", t->name[0] ? t->name : "(new)", what,
		  strerror(err));
	return -err;
}

static int open_queue(struct tap *t, unsigned q)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);

	if (fd < 0)
		return fail(t, "open /dev/net/tun", errno);
	if (q == 0) {
		unsigned feat = 0;
		unsigned need = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
		if (ioctl(fd, TUNGETFEATURES, &feat) < 0 || (feat & need) != need) {
			int e = errno ? errno : EOPNOTSUPP;
			close(fd);
			modvm_log(MODVM_LOG_ERROR, DOMAIN,
				  "tap: the kernel's tun lacks%s%s%s%s (features 0x%x)",
				  feat & IFF_TAP ? "" : " IFF_TAP", feat & IFF_NO_PI ? "" : " IFF_NO_PI",
				  feat & IFF_VNET_HDR ? "" : " IFF_VNET_HDR",
				  feat & IFF_MULTI_QUEUE ? "" : " IFF_MULTI_QUEUE", feat);
			return -e;
		}
	}
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE;
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", t->name);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = errno;
		close(fd);
		return fail(t, "TUNSETIFF", e);
	}
	if (q == 0)
		snprintf(t->name, sizeof(t->name), "%s", ifr.ifr_name);
	int hdr = VNET_HDR_LEN;
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr) < 0) {
		int e = errno;
		close(fd);
		return fail(t, "TUNSETVNETHDRSZ 12", e);
	}
	t->fd[q] = fd;
	return 0;
}

int tap_open(const char *name, unsigned queues, struct tap **out)
{
	struct tap *t;
	int ret;

	if (queues == 0 || queues > TAP_MAX_QUEUES) {
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "tap %s: %u queues: allowed 1..%u", name, queues,
			  TAP_MAX_QUEUES);
		return -EINVAL;
	}
	if (name && strlen(name) >= IFNAMSIZ) {
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "tap \"%s\": name longer than %d characters",
			  name, IFNAMSIZ - 1);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	snprintf(t->name, sizeof(t->name), "%s", name && *name ? name : "mvtap%d");
	for (unsigned q = 0; q < queues; q++) {
		ret = open_queue(t, q);
		if (ret < 0)
			goto close_fds;
		t->nq++;
	}
	ret = tap_set_offloads(t, 0);
	if (ret < 0)
		goto close_fds;
	*out = t;
	return 0;
close_fds:
	tap_close(t);
	return ret;
}

void tap_close(struct tap *t)
{
	if (!t)
		return;
	for (unsigned q = 0; q < t->nq; q++)
		close(t->fd[q]);
	free(t);
}

const char *tap_name(const struct tap *t)
{
	return t->name;
}

unsigned tap_queues(const struct tap *t)
{
	return t->nq;
}

int tap_fd(const struct tap *t, unsigned q)
{
	return q < t->nq ? t->fd[q] : -1;
}

int tap_set_offloads(struct tap *t, unsigned flags)
{
	if (ioctl(t->fd[0], TUNSETOFFLOAD, (unsigned long)flags) < 0) {
		char what[48];
		snprintf(what, sizeof(what), "TUNSETOFFLOAD 0x%x", flags);
		return fail(t, what, errno);
	}
	return 0;
}

int tap_check_offloads(struct tap *t, unsigned flags)
{
	static const struct {
		unsigned bit;
		const char *name;
	} caps[] = {
		{ TUN_F_CSUM, "checksum offload (TUN_F_CSUM)" },
		{ TUN_F_TSO4, "TCP segmentation offload for IPv4 (TUN_F_TSO4)" },
		{ TUN_F_TSO6, "TCP segmentation offload for IPv6 (TUN_F_TSO6)" },
		{ TUN_F_TSO_ECN, "TSO with ECN (TUN_F_TSO_ECN)" },
	};
	unsigned have = 0;

	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		if (!(flags & caps[i].bit))
			continue;
		/* TSO bits are only accepted together with CSUM. */
		unsigned f = have | caps[i].bit | (caps[i].bit != TUN_F_CSUM ? TUN_F_CSUM : 0);
		if (caps[i].bit == TUN_F_TSO_ECN)
			f |= TUN_F_TSO4;
		if (ioctl(t->fd[0], TUNSETOFFLOAD, (unsigned long)f) < 0) {
			modvm_log(MODVM_LOG_ERROR, DOMAIN, "tap %s: cannot do %s: %s", t->name,
				  caps[i].name, strerror(errno));
			tap_set_offloads(t, 0);
			return -EOPNOTSUPP;
		}
		have |= caps[i].bit;
	}
	return tap_set_offloads(t, 0);
}

static int ifreq_ioctl(struct tap *t, unsigned long req, struct ifreq *ifr, const char *what)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ret = 0;

	if (s < 0)
		return fail(t, "socket(AF_INET)", errno);
	snprintf(ifr->ifr_name, IFNAMSIZ, "%s", t->name);
	if (ioctl(s, req, ifr) < 0)
		ret = fail(t, what, errno);
	close(s);
	return ret;
}

int tap_set_mtu(struct tap *t, unsigned mtu)
{
	struct ifreq ifr = { .ifr_mtu = (int)mtu };
	char what[32];

	snprintf(what, sizeof(what), "SIOCSIFMTU %u", mtu);
	return ifreq_ioctl(t, SIOCSIFMTU, &ifr, what);
}

int tap_set_up(struct tap *t)
{
	struct ifreq ifr = { 0 };
	int ret = ifreq_ioctl(t, SIOCGIFFLAGS, &ifr, "SIOCGIFFLAGS");

	if (ret < 0)
		return ret;
	ifr.ifr_flags |= IFF_UP;
	return ifreq_ioctl(t, SIOCSIFFLAGS, &ifr, "SIOCSIFFLAGS IFF_UP");
}

int tap_set_queue_enabled(struct tap *t, unsigned q, bool enabled)
{
	struct ifreq ifr = { .ifr_flags = enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE };

	if (q >= t->nq)
		return -EINVAL;
	if (ioctl(t->fd[q], TUNSETQUEUE, &ifr) < 0 && errno != EINVAL)
		return fail(t, enabled ? "TUNSETQUEUE attach" : "TUNSETQUEUE detach", errno);
	return 0;	/* EINVAL: already in that state */
}

/* ---- as a netdev back end ---- */

static ssize_t be_tx(void *ctx, unsigned pair, const struct iovec *iov, int iovcnt)
{
	struct tap *t = ctx;
	ssize_t n;

	do
		n = writev(t->fd[pair], iov, iovcnt);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static ssize_t be_rx(void *ctx, unsigned pair, void *buf, size_t len)
{
	struct tap *t = ctx;
	ssize_t n;

	do
		n = read(t->fd[pair], buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? -errno : n;
}

static int be_set_offloads(void *ctx, unsigned flags)
{
	return tap_set_offloads(ctx, flags);
}

static void be_set_pairs(void *ctx, unsigned active)
{
	struct tap *t = ctx;

	for (unsigned q = 0; q < t->nq; q++)
		tap_set_queue_enabled(t, q, q < active);
}

struct netdev_backend tap_backend(struct tap *t)
{
	return (struct netdev_backend){ .tx = be_tx,
					.rx = be_rx,
					.set_offloads = be_set_offloads,
					.set_pairs = be_set_pairs,
					.ctx = t };
}
