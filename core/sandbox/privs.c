/*
 * Privileges: host.user/host.group, the capabilities modvm keeps, and the
 * capability bounding set.  Raw capset(2) and prctl(2): libcap would be
 * one more dependency for a dozen lines.
 *
 * Started as root with host.user set: supplementary groups (the user's,
 * from the group database, so membership of `kvm` carries over), gid,
 * then uid, keeping the permitted set across setuid (PR_SET_KEEPCAPS),
 * then the permitted and effective sets cut to what plugins declared
 * (modvm_sandbox_keep_cap: net-vmq's CAP_NET_ADMIN).  glibc's setresuid
 * changes every thread of the process, not only the caller.
 *
 * Started as root without host.user (strict): uid 0 stays, but the
 * capabilities go the same way, so root without CAP_SYS_ADMIN,
 * CAP_SYS_MODULE, CAP_DAC_OVERRIDE… is all that is left.
 *
 * Started unprivileged: nothing to drop; a user in the `kvm` group runs
 * every VM that needs no root-only plugin action (README, security).
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox_impl.h"

#define DOMAIN "sandbox"

static const char *const cap_names[] = {
	"CAP_CHOWN",		"CAP_DAC_OVERRIDE",	"CAP_DAC_READ_SEARCH", "CAP_FOWNER",
	"CAP_FSETID",		"CAP_KILL",		"CAP_SETGID",	       "CAP_SETUID",
	"CAP_SETPCAP",		"CAP_LINUX_IMMUTABLE",	"CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST",
	"CAP_NET_ADMIN",	"CAP_NET_RAW",		"CAP_IPC_LOCK",	       "CAP_IPC_OWNER",
	"CAP_SYS_MODULE",	"CAP_SYS_RAWIO",	"CAP_SYS_CHROOT",      "CAP_SYS_PTRACE",
	"CAP_SYS_PACCT",	"CAP_SYS_ADMIN",	"CAP_SYS_BOOT",	       "CAP_SYS_NICE",
	"CAP_SYS_RESOURCE",	"CAP_SYS_TIME",		"CAP_SYS_TTY_CONFIG",  "CAP_MKNOD",
	"CAP_LEASE",		"CAP_AUDIT_WRITE",	"CAP_AUDIT_CONTROL",   "CAP_SETFCAP",
	"CAP_MAC_OVERRIDE",	"CAP_MAC_ADMIN",	"CAP_SYSLOG",	       "CAP_WAKE_ALARM",
	"CAP_BLOCK_SUSPEND",	"CAP_AUDIT_READ",	"CAP_PERFMON",	       "CAP_BPF",
	"CAP_CHECKPOINT_RESTORE",
};

const char *modvm__sb_cap_name(int cap)
{
	return cap >= 0 && (size_t)cap < sizeof(cap_names) / sizeof(cap_names[0]) ? cap_names[cap]
										    : "CAP_?";
}

static bool parse_id(const char *s, unsigned long *out)
{
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	*out = strtoul(s, &end, 10);
	return !*end && errno == 0 && *out < 0xffffffffUL;
}

/* "FILE:LINE: host.user: …", or "--user: …" when the command line said it. */
static void log_unknown(const char *where, const char *option, const char *what,
			const char *value)
{
	bool cli = where && strncmp(where, "--", 2) == 0;

	modvm_log(MODVM_LOG_ERROR, DOMAIN, "%s%s%s%s\"%s\": no such %s", where ? where : "",
		  where ? ": " : "", cli ? "" : option, cli ? "" : ": ", value, what);
}

int modvm__sb_resolve_user(const char *user, const char *group, const char *where_user,
			   const char *where_group, uid_t *uid, gid_t *gid, bool *switch_user)
{
	unsigned long id;

	*uid = geteuid();
	*gid = getegid();
	*switch_user = false;
	if (user && *user) {
		struct passwd *pw = parse_id(user, &id) ? getpwuid((uid_t)id) : getpwnam(user);
		if (pw) {
			*uid = pw->pw_uid;
			*gid = pw->pw_gid;
		} else if (parse_id(user, &id)) {
			/* A number the user database does not know: its own group. */
			*uid = (uid_t)id;
			*gid = (gid_t)id;
		} else {
			log_unknown(where_user, "host.user", "user", user);
			return -EINVAL;
		}
		*switch_user = true;
	}
	if (group && *group) {
		struct group *gr = parse_id(group, &id) ? getgrgid((gid_t)id) : getgrnam(group);
		if (gr) {
			*gid = gr->gr_gid;
		} else if (parse_id(group, &id)) {
			*gid = (gid_t)id;
		} else {
			log_unknown(where_group, "host.group", "group", group);
			return -EINVAL;
		}
		*switch_user = true;
	}
	return 0;
}

static int capset_to(uint64_t keep)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = {
		{ .effective = (uint32_t)keep, .permitted = (uint32_t)keep },
		{ .effective = (uint32_t)(keep >> 32), .permitted = (uint32_t)(keep >> 32) },
	};

	return syscall(SYS_capset, &h, d) < 0 ? -errno : 0;
}

static uint64_t permitted_now(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2] = { 0 };

	if (syscall(SYS_capget, &h, d) < 0)
		return 0;
	return (uint64_t)d[0].permitted | (uint64_t)d[1].permitted << 32;
}

/* The bounding set (and the ambient set) to @keep: no exec could regain
 * more.  Needs CAP_SETPCAP, so before the uid changes. */
static void bound_to(uint64_t keep)
{
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	for (int c = 0; c <= 63; c++) {
		if (keep & (1ull << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno == EINVAL)
			break;	/* past the last capability this kernel has */
	}
}

void modvm__sb_cap_list(uint64_t caps, char *out, size_t len)
{
	size_t used = 0;

	out[0] = '\0';
	for (int c = 0; c < 64 && used < len; c++) {
		if (!(caps & (1ull << c)))
			continue;
		int w = snprintf(out + used, len - used, "%s%s", used ? "," : "",
				 modvm__sb_cap_name(c));
		if (w < 0 || (size_t)w >= len - used) {
			/* cut: say so where the list ends */
			if (len > 4)
				snprintf(out + len - 4, 4, "...");
			return;
		}
		used += (size_t)w;
	}
	if (!out[0])
		snprintf(out, len, "none");
}

static void log_caps_error(uint64_t keep, int err)
{
	char names[256];

	modvm__sb_cap_list(keep, names, sizeof(names));
	modvm_log(MODVM_LOG_ERROR, DOMAIN, "cannot keep the capabilities plugins declared (%s): %s",
		  names, strerror(-err));
}

int modvm__sb_drop_privileges(bool switch_user, uid_t uid, gid_t gid, const char *user_name,
			      uint64_t keep, bool strict)
{
	bool root = geteuid() == 0;
	uint64_t have = permitted_now();
	int r;

	if (!switch_user && !strict)
		return 0;
	if (!root && switch_user && (uid != geteuid() || gid != getegid())) {
		modvm_log(MODVM_LOG_ERROR, DOMAIN,
			  "host.user/host.group: modvm runs as uid %u, not root, and cannot switch "
			  "to uid %u gid %u (start it as root, or leave them unset)",
			  (unsigned)geteuid(), (unsigned)uid, (unsigned)gid);
		return -EPERM;
	}
	/* Unprivileged, nothing to keep or drop. */
	if (!root && have == 0)
		return 0;
	if ((keep & have) != keep) {
		log_caps_error(keep & ~have, -EPERM);
		return -EPERM;
	}
	if (have & (1ull << CAP_SETPCAP))
		bound_to(keep);
	if (switch_user && root) {
		uint64_t need = 1ull << CAP_SETUID | 1ull << CAP_SETGID;
		if ((have & need) != need) {
			/* root, but a service manager's bounding set took them */
			modvm_log(MODVM_LOG_ERROR, DOMAIN,
				  "cannot switch to uid %u gid %u: %s is not permitted here (a "
				  "service's CapabilityBoundingSet= must keep CAP_SETUID and "
				  "CAP_SETGID for host.user/--user)",
				  (unsigned)uid, (unsigned)gid,
				  have & (1ull << CAP_SETUID) ? "CAP_SETGID" : "CAP_SETUID");
			return -EPERM;
		}
		if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0)
			return -errno;
		/* The user's groups, so that membership of `kvm` or the disk
		 * images' group carries over. */
		r = user_name && *user_name && getpwnam(user_name) ? initgroups(user_name, gid)
								  : setgroups(1, &gid);
		if (r < 0 || setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0) {
			r = -errno;
			modvm_log(MODVM_LOG_ERROR, DOMAIN, "cannot switch to uid %u gid %u: %s",
				  (unsigned)uid, (unsigned)gid, strerror(errno));
			return r;
		}
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
		if (geteuid() != uid || getuid() != uid) {
			modvm_log(MODVM_LOG_ERROR, DOMAIN, "uid is still %u after the switch to %u",
				  (unsigned)geteuid(), (unsigned)uid);
			return -EPERM;
		}
#if MODVM__SANITIZER_BUILD
		/* LeakSanitizer's exit check ptrace-attaches our threads from a
		 * helper that is not one of them; a setuid made the process
		 * undumpable, which would stop it.  Test builds only. */
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
	}
	r = capset_to(keep);
	if (r < 0) {
		log_caps_error(keep, r);
		return r;
	}
	return 0;
}
