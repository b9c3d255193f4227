/*
 * Private network namespaces and packet building for the net-vmq tests and
 * bench: everything happens in a namespace of the calling process's own
 * (unshare(CLONE_NEWNET)), so the host's interfaces are never touched.
 */
#ifndef NET_VMQ_TEST_NETNS_H
#define NET_VMQ_TEST_NETNS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why this host cannot run the namespace tests (no /dev/net/tun, no
 * unshare), probed in a child; NULL when it can. */
const char *netns_unavailable(void);
/* Moves the calling process into a fresh network namespace with lo up. */
int netns_enter(void);
/* Runs a shell command; returns its exit status (-1 if it did not run). */
int netns_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes @value into /proc/sys/@path. */
int netns_sysctl(const char *path, const char *value);
/* ETHTOOL_S* (STSO, SGSO, SGRO, STXCSUM) = @on on @ifname. */
int netns_ethtool(const char *ifname, unsigned cmd, bool on);

/* Internet checksum pieces (RFC 1071). */
uint32_t csum_add(uint32_t sum, const void *p, size_t len);
uint16_t csum_fold(uint32_t sum);
/* Sum of the IPv4 pseudo header (addresses network order). */
uint32_t csum_pseudo4(const uint8_t *saddr, const uint8_t *daddr, uint8_t proto, uint16_t len);

#endif
