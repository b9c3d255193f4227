/*
 * Landlock: after the lockdown the loop thread and every thread it gets
 * from the spawner open only what the config names (kernels, initrds,
 * console files — host.c declares them), what plugins declared
 * (modvm_sandbox_allow_path: disk images, /dev/net/tun, a journal
 * directory), and read /proc and /sys.  TCP bind and connect are handled
 * with no rule (ABI 4+): none at all.
 *
 * Landlock restricts the calling thread and its future children only;
 * threads that exist at the lockdown and are not the loop (the watchdog)
 * keep no file access through seccomp instead: their filter has no open.
 * A kernel without Landlock (older than 5.13, or not in its LSM list)
 * gets the rest of the sandbox and one info line.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox_impl.h"

#define DOMAIN "sandbox"

#ifndef __NR_landlock_create_ruleset
#define __NR_landlock_create_ruleset 444
#define __NR_landlock_add_rule 445
#define __NR_landlock_restrict_self 446
#endif

/* Rights newer than the headers we were built with. */
#ifndef LANDLOCK_ACCESS_FS_REFER
#define LANDLOCK_ACCESS_FS_REFER (1ULL << 13)
#endif
#ifndef LANDLOCK_ACCESS_FS_TRUNCATE
#define LANDLOCK_ACCESS_FS_TRUNCATE (1ULL << 14)
#endif
#ifndef LANDLOCK_ACCESS_FS_IOCTL_DEV
#define LANDLOCK_ACCESS_FS_IOCTL_DEV (1ULL << 15)
#endif
#define NET_BIND_TCP (1ULL << 0)
#define NET_CONNECT_TCP (1ULL << 1)

/* struct landlock_ruleset_attr as of ABI 4 (handled_access_net); older
 * kernels take the size of the first field only. */
struct ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
};

#define FS_FILE (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
		 LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_TRUNCATE | \
		 LANDLOCK_ACCESS_FS_IOCTL_DEV)

static uint64_t handled_for(int abi)
{
	uint64_t fs = (1ULL << 13) - 1;	/* ABI 1: EXECUTE … MAKE_SYM */

	if (abi >= 2)
		fs |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		fs |= LANDLOCK_ACCESS_FS_TRUNCATE;
	if (abi >= 5)
		fs |= LANDLOCK_ACCESS_FS_IOCTL_DEV;
	return fs;
}

static uint64_t rights_for(unsigned access, uint64_t handled)
{
	uint64_t r = 0;

	if (access & MODVM_SANDBOX_READ)
		r |= LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR;
	if (access & MODVM_SANDBOX_WRITE)
		r |= LANDLOCK_ACCESS_FS_WRITE_FILE | LANDLOCK_ACCESS_FS_TRUNCATE |
		     LANDLOCK_ACCESS_FS_IOCTL_DEV;
	if (access & MODVM_SANDBOX_CREATE)
		r |= LANDLOCK_ACCESS_FS_MAKE_REG | LANDLOCK_ACCESS_FS_MAKE_DIR |
		     LANDLOCK_ACCESS_FS_REMOVE_FILE | LANDLOCK_ACCESS_FS_REMOVE_DIR |
		     LANDLOCK_ACCESS_FS_MAKE_SOCK;
	return r & handled;
}

/* One rule; a path that does not exist is skipped (it cannot be opened
 * either), a file gets only the rights a file can carry. */
static int add_path(int ruleset, const char *path, uint64_t rights)
{
	struct landlock_path_beneath_attr pb = { .allowed_access = rights };
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == EACCES ? 0 : -errno;
	if (fstat(fd, &st) == 0 && !S_ISDIR(st.st_mode))
		pb.allowed_access &= FS_FILE;
	pb.parent_fd = fd;
	long r = pb.allowed_access
			 ? syscall(__NR_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &pb, 0)
			 : 0;
	int err = r < 0 ? -errno : 0;

	close(fd);
	if (err < 0)
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "Landlock: %s: %s", path, strerror(-err));
	return err;
}

int modvm__sb_landlock(const struct modvm__sb_path *paths, size_t n, int *abi_out,
		       int *ruleset_out)
{
	struct ruleset_attr attr = { 0 };
	long abi = syscall(__NR_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	int ruleset, r = 0;

	*abi_out = 0;
	*ruleset_out = -1;
	if (abi < 1) {
		modvm_log(MODVM_LOG_INFO, DOMAIN,
			  "Landlock is not available in this kernel (%s): file access is limited by "
			  "seccomp and the user only", abi < 0 ? strerror(errno) : "ABI 0");
		return 0;
	}
	attr.handled_access_fs = handled_for((int)abi);
	if (abi >= 4)
		attr.handled_access_net = NET_BIND_TCP | NET_CONNECT_TCP;
	ruleset = (int)syscall(__NR_landlock_create_ruleset, &attr,
			       abi >= 4 ? sizeof(attr) : sizeof(attr.handled_access_fs), 0);
	if (ruleset < 0) {
		r = -errno;
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "Landlock: cannot create a ruleset: %s",
			  strerror(errno));
		return r;
	}
	/* What every run reads: the kernel's views of itself. */
	static const char *const readable[] = { "/proc", "/sys" };
	for (size_t i = 0; i < sizeof(readable) / sizeof(readable[0]) && r == 0; i++)
		r = add_path(ruleset, readable[i], rights_for(MODVM_SANDBOX_READ, attr.handled_access_fs));
#if MODVM__SANITIZER_BUILD
	/* The sanitizer's report reads the binaries to symbolise; its
	 * helpers read /dev/null and the like.  Test builds only. */
	if (r == 0)
		r = add_path(ruleset, "/", rights_for(MODVM_SANDBOX_READ, attr.handled_access_fs));
	if (r == 0)
		r = add_path(ruleset, "/dev/null",
			     rights_for(MODVM_SANDBOX_READ | MODVM_SANDBOX_WRITE, attr.handled_access_fs));
#endif
	for (size_t i = 0; i < n && r == 0; i++)
		r = add_path(ruleset, paths[i].path, rights_for(paths[i].access, attr.handled_access_fs));
	if (r == 0 && syscall(__NR_landlock_restrict_self, ruleset, 0) < 0) {
		r = -errno;
		modvm_log(MODVM_LOG_ERROR, DOMAIN, "Landlock: cannot restrict: %s", strerror(errno));
	}
	if (r == 0) {
		*abi_out = (int)abi;
		*ruleset_out = ruleset;
	} else {
		close(ruleset);
	}
	return r;
}
