/*
 * The sandbox's declarations, its compiled filters and the lockdown.
 *
 * The filters are built with libseccomp from the tables of allow.c plus
 * what plugins declared, exported as BPF once (at the lockdown) and kept:
 * a thread made later installs its class's program with one seccomp(2)
 * call, no allocation, no libseccomp on the way.
 *
 * Every filter traps what it does not allow (SECCOMP_RET_TRAP, reported
 * by sigsys.c; with MODVM_SANDBOX_LOG_ONLY in the environment it only
 * logs it, SECCOMP_RET_LOG, which is how the lists are measured), answers clone3 with ENOSYS (so glibc falls back to clone,
 * whose flags a filter can read: threads only) and kills the process for a
 * foreign architecture (an x32 or i386 entry into the kernel).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "sandbox/sandbox_impl.h"

#define DOMAIN "sandbox"
#define MAX_LOCKDOWN_HOOKS 4

struct decl {
	char *owner;		/* NULL: the core */
	unsigned classes;	/* MODVM_THREAD_* */
	int nr;
	int arg;		/* < 0: any arguments */
	uint64_t mask, value;
};

struct io_filter {
	char *owner;
	struct sock_fprog prog;
};

static struct {
	pthread_mutex_t lock;
	struct decl *decls;
	size_t ndecls;
	struct modvm__sb_path *paths;
	size_t npaths;
	struct { char *owner; int cap; } *caps;
	size_t ncaps;
	bool locked, strict, attempted;
	bool built;		/* the filters below are compiled (strict) */
	bool user_set;
	uid_t uid;
	gid_t gid;
	bool switch_user;
	char user_name[64];
	int kvm_fd;
	struct sock_fprog filters[MODVM__TC_COUNT];	/* [MODVM__TC_NONE] = the union */
	struct io_filter *io;
	size_t nio;
	void (*hooks[MAX_LOCKDOWN_HOOKS])(void);
	unsigned nhooks;
	struct modvm__sandbox_stats stats;
} sb = { .lock = PTHREAD_MUTEX_INITIALIZER, .kvm_fd = -1 };

static const char *const class_names[MODVM__TC_COUNT] = {
	[MODVM__TC_NONE] = "other",	[MODVM__TC_LOOP] = "loop",
	[MODVM__TC_VCPU] = "vcpu",	[MODVM__TC_IO] = "io",
	[MODVM__TC_WATCHDOG] = "watchdog", [MODVM__TC_SPAWNER] = "spawner",
};

MODVM_INTERNAL const char *modvm__thread_class_name(enum modvm__thread_class c)
{
	return (unsigned)c < MODVM__TC_COUNT ? class_names[c] : "other";
}

/* ---- declarations ---- */

static char *dup_owner(const char *owner)
{
	return owner ? strdup(owner) : NULL;
}

static bool same_owner(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

MODVM_INTERNAL int modvm__sandbox_allow(const char *owner, unsigned classes, const char *syscall,
					int arg, uint64_t value)
{
	int nr = syscall ? seccomp_syscall_resolve_name(syscall) : __NR_SCMP_ERROR;
	int r = 0;

	if (nr < 0 || (classes & MODVM_THREAD_ALL) == 0 || (classes & ~MODVM_THREAD_ALL) ||
	    arg > 5) {
		modvm_log(MODVM_LOG_ERROR, owner, "sandbox: cannot allow \"%s\"%s", syscall ? syscall : "(null)",
			  nr < 0 ? ": no such system call here"
				 : arg > 5 ? ": arguments are numbered 0-5" : ": no thread class given");
		return -EINVAL;
	}
	pthread_mutex_lock(&sb.lock);
	if (sb.attempted) {
		r = -EPERM;
		goto out;
	}
	struct decl *v = realloc(sb.decls, (sb.ndecls + 1) * sizeof(*v));
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	sb.decls = v;
	v[sb.ndecls] = (struct decl){ .owner = dup_owner(owner), .classes = classes, .nr = nr,
				      .arg = arg, .mask = 0xffffffffu,
				      .value = value & 0xffffffffu };
	if (owner && !v[sb.ndecls].owner) {
		r = -ENOMEM;
		goto out;
	}
	sb.ndecls++;
out:
	pthread_mutex_unlock(&sb.lock);
	if (r == -EPERM)
		modvm_log(MODVM_LOG_ERROR, owner,
			  "sandbox: \"%s\" declared after the lockdown (declare in init or start)",
			  syscall);
	return r;
}

MODVM_INTERNAL int modvm__sandbox_allow_path(const char *owner, const char *path,
					     unsigned access)
{
	int r = 0;

	if (!path || !*path || !access ||
	    (access & ~(MODVM_SANDBOX_READ | MODVM_SANDBOX_WRITE | MODVM_SANDBOX_CREATE)))
		return -EINVAL;
	pthread_mutex_lock(&sb.lock);
	if (sb.attempted) {
		r = -EPERM;
		goto out;
	}
	struct modvm__sb_path *v = realloc(sb.paths, (sb.npaths + 1) * sizeof(*v));
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	sb.paths = v;
	v[sb.npaths] = (struct modvm__sb_path){ .owner = dup_owner(owner), .path = strdup(path),
						.access = access };
	if (!v[sb.npaths].path) {
		free(v[sb.npaths].owner);
		r = -ENOMEM;
		goto out;
	}
	sb.npaths++;
out:
	pthread_mutex_unlock(&sb.lock);
	return r;
}

MODVM_INTERNAL int modvm__sandbox_keep_cap(const char *owner, int cap)
{
	int r = 0;

	if (cap < 0 || cap > 63)
		return -EINVAL;
	pthread_mutex_lock(&sb.lock);
	if (sb.attempted) {
		r = -EPERM;
		goto out;
	}
	void *v = realloc(sb.caps, (sb.ncaps + 1) * sizeof(*sb.caps));
	if (!v) {
		r = -ENOMEM;
		goto out;
	}
	sb.caps = v;
	sb.caps[sb.ncaps].owner = dup_owner(owner);
	sb.caps[sb.ncaps].cap = cap;
	sb.ncaps++;
out:
	pthread_mutex_unlock(&sb.lock);
	return r;
}

MODVM_INTERNAL void modvm__sandbox_forget(const char *owner)
{
	size_t w;

	pthread_mutex_lock(&sb.lock);
	if (sb.attempted)
		goto out;
	w = 0;
	for (size_t i = 0; i < sb.ndecls; i++) {
		if (same_owner(sb.decls[i].owner, owner))
			free(sb.decls[i].owner);
		else
			sb.decls[w++] = sb.decls[i];
	}
	sb.ndecls = w;
	w = 0;
	for (size_t i = 0; i < sb.npaths; i++) {
		if (same_owner(sb.paths[i].owner, owner)) {
			free(sb.paths[i].owner);
			free(sb.paths[i].path);
		} else {
			sb.paths[w++] = sb.paths[i];
		}
	}
	sb.npaths = w;
	w = 0;
	for (size_t i = 0; i < sb.ncaps; i++) {
		if (same_owner(sb.caps[i].owner, owner))
			free(sb.caps[i].owner);
		else
			sb.caps[w++] = sb.caps[i];
	}
	sb.ncaps = w;
out:
	pthread_mutex_unlock(&sb.lock);
}

/* ---- rule sets ---- */

struct rset {
	struct decl *v;
	size_t n, cap;
};

static int rset_add(struct rset *s, int nr, int arg, uint64_t mask, uint64_t value)
{
	if (s->n == s->cap) {
		size_t c = s->cap ? s->cap * 2 : 128;
		struct decl *v = realloc(s->v, c * sizeof(*v));
		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = c;
	}
	s->v[s->n++] = (struct decl){ .nr = nr, .arg = arg, .mask = mask, .value = value };
	return 0;
}

static int rset_table(struct rset *s, const struct modvm__sb_rule *t)
{
	for (; t->name; t++) {
		int nr = seccomp_syscall_resolve_name(t->name);
		if (nr < 0)
			continue;	/* not a call of this architecture */
		int r = rset_add(s, nr, t->arg, t->mask, t->value);
		if (r < 0)
			return r;
	}
	return 0;
}

static int cmp_decl(const void *a, const void *b)
{
	const struct decl *x = a, *y = b;

	if (x->nr != y->nr)
		return x->nr < y->nr ? -1 : 1;
	if (x->arg != y->arg)
		return x->arg < y->arg ? -1 : 1;
	if (x->mask != y->mask)
		return x->mask < y->mask ? -1 : 1;
	return x->value < y->value ? -1 : x->value > y->value;
}

/* Sorted, duplicates gone, and a call allowed with any arguments keeps
 * no argument rules (they would only narrow nothing). */
static void rset_normalise(struct rset *s)
{
	size_t w = 0;

	qsort(s->v, s->n, sizeof(*s->v), cmp_decl);
	for (size_t i = 0; i < s->n; i++) {
		if (w && cmp_decl(&s->v[w - 1], &s->v[i]) == 0)
			continue;
		if (w && s->v[w - 1].nr == s->v[i].nr && s->v[w - 1].arg < 0)
			continue;	/* any-args sorts first (arg -1) */
		s->v[w++] = s->v[i];
	}
	s->n = w;
}

/* The tables and declarations of class @c (@owner's for I/O); with
 * @sanitizer, what a sanitizer runtime needs too. */
static int rset_lists(struct rset *s, enum modvm__thread_class c, const char *owner,
		      bool sanitizer)
{
	static const struct modvm__sb_rule *const tables[MODVM__TC_COUNT] = {
		[MODVM__TC_LOOP] = modvm__sb_loop,	   [MODVM__TC_VCPU] = modvm__sb_vcpu,
		[MODVM__TC_IO] = modvm__sb_io,		   [MODVM__TC_WATCHDOG] = modvm__sb_watchdog,
		[MODVM__TC_SPAWNER] = modvm__sb_spawner,
	};
	int r = rset_table(s, modvm__sb_common);

	if (r == 0 && sanitizer)
		r = rset_table(s, modvm__sb_sanitizer_report);
	if (r == 0 && sanitizer && c == MODVM__TC_LOOP)
		r = rset_table(s, modvm__sb_sanitizer_exit);
	/* The union (TC_NONE) is every class; a class is itself. */
	int first = c == MODVM__TC_NONE ? 1 : (int)c;
	int last = c == MODVM__TC_NONE ? MODVM__TC_COUNT - 1 : (int)c;
	for (int k = first; r == 0 && k <= last; k++) {
		r = rset_table(s, tables[k]);
		if (r == 0 && (k == MODVM__TC_SPAWNER || k == MODVM__TC_VCPU))
			r = rset_table(s, modvm__sb_thread_start);
		unsigned bit = k == MODVM__TC_LOOP ? MODVM_THREAD_LOOP
			     : k == MODVM__TC_VCPU ? MODVM_THREAD_VCPU
			     : k == MODVM__TC_IO   ? MODVM_THREAD_IO
						   : 0;
		for (size_t i = 0; r == 0 && bit && i < sb.ndecls; i++) {
			const struct decl *d = &sb.decls[i];
			if (!(d->classes & bit))
				continue;
			if (k == MODVM__TC_IO && c == MODVM__TC_IO && !same_owner(d->owner, owner))
				continue;
			r = rset_add(s, d->nr, d->arg, d->mask, d->value);
		}
	}
	if (r == 0 && sanitizer && c == MODVM__TC_NONE)
		r = rset_table(s, modvm__sb_sanitizer_exit);
	if (r == 0)
		rset_normalise(s);
	return r;
}

/* Class @c as this build installs it. */
static int rset_class(struct rset *s, enum modvm__thread_class c, const char *owner)
{
	return rset_lists(s, c, owner, MODVM__SANITIZER_BUILD);
}

static void rset_count(const struct rset *s, unsigned *calls, unsigned *limited)
{
	*calls = *limited = 0;
	for (size_t i = 0; i < s->n; i++) {
		if (i && s->v[i - 1].nr == s->v[i].nr)
			continue;
		(*calls)++;
		*limited += s->v[i].arg >= 0;
	}
}

/* ---- compiling ---- */

static int compile(const struct rset *s, struct sock_fprog *out)
{
	uint32_t deny = getenv("MODVM_SANDBOX_LOG_ONLY") ? SCMP_ACT_LOG : SCMP_ACT_TRAP;
	scmp_filter_ctx ctx = seccomp_init(deny);
	int r = -ENOMEM, fd = -1;

	if (!ctx)
		return -ENOMEM;
	/* We set no_new_privs ourselves, before Landlock needs it. */
	if ((r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0)) < 0 ||
	    (r = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS)) < 0)
		goto out;
	/* A binary search over the call numbers instead of a linear chain:
	 * KVM_RUN's ioctl and the TX path's writev are found in a few jumps. */
	(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	for (size_t i = 0; i < s->n; i++) {
		const struct decl *d = &s->v[i];
		if (d->arg < 0)
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, d->nr, 0);
		else
			r = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, d->nr, 1,
					     SCMP_CMP((unsigned)d->arg, SCMP_CMP_MASKED_EQ, d->mask,
						      d->value));
		if (r < 0)
			goto out;
	}
	r = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (r < 0 && r != -EEXIST)
		goto out;
	fd = memfd_create("modvm-seccomp", MFD_CLOEXEC);
	if (fd < 0) {
		r = -errno;
		goto out;
	}
	if ((r = seccomp_export_bpf(ctx, fd)) < 0)
		goto out;
	off_t len = lseek(fd, 0, SEEK_END);
	if (len <= 0 || len % (off_t)sizeof(struct sock_filter) || len > 65536 * 8) {
		r = -EINVAL;
		goto out;
	}
	/* Its length hardly matters: a filter costs its invocation, not its
	 * instructions (bench_seccomp, bench_vmm e)). */
	struct sock_filter *prog = malloc((size_t)len);
	if (!prog) {
		r = -ENOMEM;
		goto out;
	}
	if (pread(fd, prog, (size_t)len, 0) != len) {
		free(prog);
		r = -EIO;
		goto out;
	}
	out->filter = prog;
	out->len = (unsigned short)(len / (off_t)sizeof(struct sock_filter));
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return r;
}

static void free_filters(void)
{
	__atomic_store_n(&sb.built, false, __ATOMIC_RELEASE);
	for (int c = 0; c < MODVM__TC_COUNT; c++) {
		free(sb.filters[c].filter);
		sb.filters[c] = (struct sock_fprog){ 0 };
	}
	for (size_t i = 0; i < sb.nio; i++) {
		free(sb.io[i].owner);
		free(sb.io[i].prog.filter);
	}
	free(sb.io);
	sb.io = NULL;
	sb.nio = 0;
}

/* The owners that declared something for I/O threads. */
static int io_owners(const char ***out, size_t *n)
{
	const char **v = NULL;

	*n = 0;
	for (size_t i = 0; i < sb.ndecls; i++) {
		const char *o = sb.decls[i].owner;
		bool seen = false;
		if (!o || !(sb.decls[i].classes & MODVM_THREAD_IO))
			continue;
		for (size_t k = 0; k < *n; k++)
			seen = seen || strcmp(v[k], o) == 0;
		if (seen)
			continue;
		const char **nv = realloc(v, (*n + 1) * sizeof(*nv));
		if (!nv) {
			free(v);
			return -ENOMEM;
		}
		v = nv;
		v[(*n)++] = o;
	}
	*out = v;
	return 0;
}

/* Builds every filter into sb (lock held).  Fills the counts in @st. */
static int build_all(struct modvm__sandbox_stats *st)
{
	const char **owners = NULL;
	size_t nowners = 0;
	int r;

	for (int c = 0; c < MODVM__TC_COUNT; c++) {
		struct rset s = { 0 };
		r = rset_class(&s, (enum modvm__thread_class)c, NULL);
		if (r == 0)
			r = compile(&s, &sb.filters[c]);
		if (r == 0 && c == MODVM__TC_NONE) {
			unsigned lim;
			rset_count(&s, &st->union_syscalls, &lim);
			st->union_bpf_len = sb.filters[c].len;
		} else if (r == 0) {
			rset_count(&s, &st->syscalls[c], &st->arg_limited[c]);
			st->bpf_len[c] = sb.filters[c].len;
		}
		free(s.v);
		if (r < 0)
			return r;
	}
	r = io_owners(&owners, &nowners);
	if (r < 0)
		return r;
	sb.io = calloc(nowners ? nowners : 1, sizeof(*sb.io));
	if (!sb.io) {
		free(owners);
		return -ENOMEM;
	}
	for (size_t i = 0; i < nowners && r == 0; i++) {
		struct rset s = { 0 };
		sb.io[i].owner = strdup(owners[i]);
		r = sb.io[i].owner ? rset_class(&s, MODVM__TC_IO, owners[i]) : -ENOMEM;
		if (r == 0)
			r = compile(&s, &sb.io[i].prog);
		free(s.v);
		sb.nio = i + 1;
	}
	free(owners);
	return r;
}

MODVM_INTERNAL int modvm__sandbox_dry_run(struct modvm__sandbox_stats *out)
{
	int r;

	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&sb.lock);
	if (sb.locked) {
		*out = sb.stats;
		pthread_mutex_unlock(&sb.lock);
		return 0;
	}
	r = build_all(out);
	free_filters();
	pthread_mutex_unlock(&sb.lock);
	return r;
}

const struct sock_fprog *modvm__sb_filter(enum modvm__thread_class c, const char *owner)
{
	if (!__atomic_load_n(&sb.locked, __ATOMIC_ACQUIRE) || !sb.strict)
		return NULL;
	return modvm__sb_filter_built(c, owner);
}

const struct sock_fprog *modvm__sb_filter_built(enum modvm__thread_class c, const char *owner)
{
	if (!__atomic_load_n(&sb.built, __ATOMIC_ACQUIRE) || (unsigned)c >= MODVM__TC_COUNT)
		return NULL;
	if (c == MODVM__TC_IO && owner)
		for (size_t i = 0; i < sb.nio; i++)
			if (strcmp(sb.io[i].owner, owner) == 0)
				return &sb.io[i].prog;
	return sb.filters[c].filter ? &sb.filters[c] : NULL;
}

int modvm__sb_install(const struct sock_fprog *prog)
{
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog) < 0 ? -errno : 0;
}

/* ---- the lockdown ---- */

MODVM_INTERNAL bool modvm__sandbox_locked(void)
{
	return __atomic_load_n(&sb.locked, __ATOMIC_ACQUIRE) && sb.strict;
}

MODVM_INTERNAL void modvm__sandbox_on_lockdown(void (*fn)(void))
{
	pthread_mutex_lock(&sb.lock);
	for (unsigned i = 0; i < sb.nhooks; i++)
		if (sb.hooks[i] == fn)
			goto out;
	if (sb.nhooks < MAX_LOCKDOWN_HOOKS)
		sb.hooks[sb.nhooks++] = fn;
out:
	pthread_mutex_unlock(&sb.lock);
}

MODVM_INTERNAL int modvm__sandbox_set_user(const char *user, const char *group,
					   const char *where_user, const char *where_group)
{
	uid_t uid;
	gid_t gid;
	bool sw;
	int r = modvm__sb_resolve_user(user, group, where_user, where_group, &uid, &gid, &sw);

	if (r < 0)
		return r;
	pthread_mutex_lock(&sb.lock);
	sb.uid = uid;
	sb.gid = gid;
	sb.switch_user = sw;
	sb.user_set = true;
	snprintf(sb.user_name, sizeof(sb.user_name), "%s", user && *user ? user : "");
	pthread_mutex_unlock(&sb.lock);
	return 0;
}

MODVM_INTERNAL void modvm__sandbox_owner(uid_t *uid, gid_t *gid)
{
	pthread_mutex_lock(&sb.lock);
	*uid = sb.user_set ? sb.uid : geteuid();
	*gid = sb.user_set ? sb.gid : getegid();
	pthread_mutex_unlock(&sb.lock);
}

MODVM_INTERNAL int modvm__sandbox_kvm_fd(void)
{
	int fd = __atomic_load_n(&sb.kvm_fd, __ATOMIC_ACQUIRE);

	if (fd < 0)
		return -ENOENT;
	fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return fd < 0 ? -errno : fd;
}

static uint64_t kept_caps(void)
{
	uint64_t keep = 0;

	for (size_t i = 0; i < sb.ncaps; i++)
		keep |= 1ull << sb.caps[i].cap;
	return keep;
}

static void log_summary(void)
{
	const struct modvm__sandbox_stats *st = &sb.stats;
	char caps[256];

	if (!st->strict) {
		if (sb.switch_user) {
			modvm__sb_cap_list(st->caps, caps, sizeof(caps));
			modvm_log(MODVM_LOG_INFO, DOMAIN, "off: uid %u gid %u, capabilities %s",
				  (unsigned)st->uid, (unsigned)st->gid, caps);
		}
		return;
	}
	modvm__sb_cap_list(st->caps, caps, sizeof(caps));
	modvm_log(MODVM_LOG_INFO, DOMAIN,
		  "strict: uid %u gid %u, capabilities %s, seccomp allowlists: loop %u, vcpu %u, "
		  "io %u, watchdog %u, spawner %u system calls (union %u); Landlock %s",
		  (unsigned)st->uid, (unsigned)st->gid, caps, st->syscalls[MODVM__TC_LOOP],
		  st->syscalls[MODVM__TC_VCPU], st->syscalls[MODVM__TC_IO],
		  st->syscalls[MODVM__TC_WATCHDOG], st->syscalls[MODVM__TC_SPAWNER],
		  st->union_syscalls, st->landlock ? "on" : "not available in this kernel");
}

static void open_kvm(void)
{
	/* Opened while we may: a VM made after the switch to host.user (a
	 * guest's reboot) gets a dup of it. */
	if (sb.kvm_fd < 0) {
		int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
		if (fd >= 0)
			__atomic_store_n(&sb.kvm_fd, fd, __ATOMIC_RELEASE);
	}
}

MODVM_INTERNAL int modvm__sandbox_lockdown(const struct modvm__sandbox_config *cfg)
{
	struct modvm__sandbox_stats st = { .strict = cfg->strict };
	uint64_t keep;
	int r = 0, ruleset = -1;

	pthread_mutex_lock(&sb.lock);
	if (sb.attempted) {
		pthread_mutex_unlock(&sb.lock);
		return sb.locked ? 0 : -EPERM;
	}
	sb.attempted = true;
	pthread_mutex_unlock(&sb.lock);

	if (!sb.user_set) {
		r = modvm__sandbox_set_user(cfg->user, cfg->group, cfg->where_user, cfg->where_group);
		if (r < 0)
			goto fail;
	}
	if (cfg->strict) {
		r = build_all(&st);
		if (r < 0) {
			modvm_log(MODVM_LOG_ERROR, DOMAIN, "cannot build the seccomp filters: %s",
				  modvm_strerror(r));
			goto fail;
		}
		__atomic_store_n(&sb.built, true, __ATOMIC_RELEASE);
		modvm__sb_names_build();
		if (getenv("MODVM_SANDBOX_LOG_ONLY"))
			modvm_log(MODVM_LOG_WARN, DOMAIN,
				  "MODVM_SANDBOX_LOG_ONLY is set: calls outside the allowlists are "
				  "only logged by the kernel (audit), not stopped");
	}
	if (cfg->strict || sb.switch_user)
		open_kvm();

	keep = kept_caps();
	/* Before the switch: after it, the control socket's directory (root's)
	 * would no longer let modvm remove the socket.  A failure only costs
	 * the socket outliving modvm (logged). */
	if (sb.switch_user && geteuid() == 0 && (sb.uid != 0 || sb.gid != 0))
		modvm__sb_reaper_start();
	r = modvm__sb_drop_privileges(sb.switch_user, sb.uid, sb.gid, sb.user_name, keep,
				      cfg->strict);
	if (r < 0)
		goto fail;
	st.uid = geteuid();
	st.gid = getegid();
	st.caps = cfg->strict || sb.switch_user ? keep : ~0ull;

	if (cfg->strict) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
			r = -errno;
			modvm_log(MODVM_LOG_ERROR, DOMAIN, "no_new_privs: %s", strerror(errno));
			goto fail;
		}
		r = modvm__sb_landlock(sb.paths, sb.npaths, &st.landlock_abi, &ruleset);
		if (r < 0)
			goto fail;
		st.landlock = st.landlock_abi > 0;
	}
	if (cfg->strict) {
		r = modvm__sb_sigsys_install();
		if (r < 0)
			goto fail;
		/* Before the catch-up, which gives them their filters; after
		 * Landlock, so that they share the loop's domain. */
		r = modvm__sb_spawner_start();
		if (r < 0) {
			modvm_log(MODVM_LOG_ERROR, DOMAIN, "cannot start the thread spawners: %s",
				  modvm_strerror(r));
			goto fail;
		}
	}
	/* Threads already running (the watchdog, plugins' I/O threads, the
	 * spawners) take the same capabilities, no_new_privs, Landlock and
	 * each its own filter: not one for all with TSYNC, which every
	 * thread would run ahead of its own on each call. */
	if (cfg->strict || sb.switch_user) {
#if MODVM__SANITIZER_BUILD
		/* Each landlock_restrict_self makes a domain of its own, and a
		 * thread may only ptrace its own domain or those beneath it:
		 * LeakSanitizer's exit check (a clone of the loop thread)
		 * could no longer stop those threads.  Test builds only. */
		int catchup_ruleset = -1;
#else
		int catchup_ruleset = cfg->strict ? ruleset : -1;
#endif
		r = modvm__sb_catchup(keep, cfg->strict, catchup_ruleset, cfg->strict);
		if (ruleset >= 0)
			close(ruleset);
		ruleset = -1;
		if (r < 0)
			goto fail;
	}
	if (cfg->strict) {
		/* The loop's own, last (the calling thread is the loop). */
		modvm__thread_enter(MODVM__TC_LOOP, NULL);
		r = modvm__sb_thread_take_filter();
		if (r < 0) {
			modvm_log(MODVM_LOG_ERROR, DOMAIN, "seccomp: %s", strerror(-r));
			goto fail;
		}
		pthread_mutex_lock(&sb.lock);
		sb.strict = true;
		sb.stats = st;
		__atomic_store_n(&sb.locked, true, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&sb.lock);
	} else {
		pthread_mutex_lock(&sb.lock);
		sb.stats = st;
		__atomic_store_n(&sb.locked, true, __ATOMIC_RELEASE);
		pthread_mutex_unlock(&sb.lock);
	}
	log_summary();
	for (unsigned i = 0; i < sb.nhooks; i++)
		sb.hooks[i]();
	return 0;

fail:
	if (ruleset >= 0)
		close(ruleset);
	free_filters();
	return r;
}

MODVM_INTERNAL void modvm__sandbox_get_stats(struct modvm__sandbox_stats *out)
{
	pthread_mutex_lock(&sb.lock);
	*out = sb.stats;
	pthread_mutex_unlock(&sb.lock);
}

MODVM_INTERNAL int modvm__sandbox_apply_class_for_test(enum modvm__thread_class c,
						       const char *owner)
{
	struct rset s = { 0 }, u = { 0 };
	struct sock_fprog fc = { 0 }, fu = { 0 };
	int r;

	pthread_mutex_lock(&sb.lock);
	r = rset_class(&u, MODVM__TC_NONE, NULL);
	if (r == 0)
		r = rset_class(&s, c, owner);
	if (r == 0)
		r = compile(&u, &fu);
	if (r == 0)
		r = compile(&s, &fc);
	pthread_mutex_unlock(&sb.lock);
	free(s.v);
	free(u.v);
	if (r == 0)
		modvm__sb_names_build();
	if (r == 0)
		r = modvm__sb_sigsys_install();
	if (r == 0 && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		r = -errno;
	/* The chain a thread of @c has in a locked-down process: the loop and
	 * vCPU threads their own filter alone, the others the union first. */
	if (r == 0 && c != MODVM__TC_LOOP && c != MODVM__TC_VCPU)
		r = modvm__sb_install(&fu);
	if (r == 0)
		r = modvm__sb_install(&fc);
	if (r == 0)
		modvm__sb_thread_label(NULL, c);
	free(fu.filter);
	free(fc.filter);
	return (int)r;
}

MODVM_INTERNAL int modvm__sandbox_foreach_allowed(enum modvm__thread_class c, const char *owner,
						  void (*fn)(const char *name, bool limited,
							     void *ud),
						  void *ud)
{
	struct rset s = { 0 };
	int r;

	pthread_mutex_lock(&sb.lock);
	/* What a build without sanitizers allows: what a service manager's
	 * filter must let through (tests/dist/check-unit.sh). */
	r = rset_lists(&s, c, owner, false);
	pthread_mutex_unlock(&sb.lock);
	for (size_t i = 0; r == 0 && i < s.n; i++) {
		if (i && s.v[i - 1].nr == s.v[i].nr)
			continue;
		char *name = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, s.v[i].nr);
		fn(name ? name : "?", s.v[i].arg >= 0, ud);
		free(name);
	}
	free(s.v);
	return r;
}

MODVM_INTERNAL const char *const *modvm__sandbox_lockdown_calls(void)
{
	return modvm__sb_lockdown_calls;
}
