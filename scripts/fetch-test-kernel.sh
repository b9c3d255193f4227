#!/usr/bin/env bash
# Fetches Debian's cloud kernel for the Linux boot tests, into a cache outside
# the repo, and prints the paths of its bzImage and (if it could be
# extracted) its uncompressed ELF vmlinux:
#
#   vmlinuz=/var/cache/modvm-test-kernel/vmlinuz
#   vmlinux=/var/cache/modvm-test-kernel/vmlinux
#
# Cache layout ($MODVM_KERNEL_CACHE, default /var/cache/modvm-test-kernel):
#   PKG.deb        the downloaded linux-image-X-cloud-amd64 package
#   root/          its extracted contents (dpkg-deb -x)
#   vmlinuz        symlink to root/boot/vmlinuz-X   (what the tests read)
#   vmlinux        the decompressed ELF payload of vmlinuz
#   root/lib/modules/X/modules.dep   made here with depmod: the package
#                  leaves it to its postinst, which dpkg-deb -x never runs
#   package        the versioned package name the cache holds
#
# Idempotent: once vmlinuz exists nothing is downloaded again (delete the
# cache directory, or pass --refresh, to fetch the current version).  The
# tests never call this; they skip when the cache is empty.
set -euo pipefail

cache=${MODVM_KERNEL_CACHE:-/var/cache/modvm-test-kernel}
meta=linux-image-cloud-amd64

die() { echo "fetch-test-kernel: $*" >&2; exit 1; }

if [[ ${1:-} == --refresh ]]; then
	rm -rf -- "$cache/root" "$cache/vmlinuz" "$cache/vmlinux" "$cache/package" "$cache"/*.deb
elif [[ $# -gt 0 ]]; then
	die "usage: $0 [--refresh]"
fi

mkdir -p -- "$cache" || die "cannot create $cache"

# The decompressed kernel starts at the first compression magic whose
# stream decompresses into an ELF file (the approach of the kernel's
# scripts/extract-vmlinux: the bzImage holds setup code, then the payload).
extract_vmlinux() {
	local img=$1 out=$2 name magic cmd off
	local -a tries=(
		"zstd|\x28\xb5\x2f\xfd|zstd -dcq"
		"xz|\xfd\x37\x7a\x58\x5a\x00|xz -dcq"
		"gzip|\x1f\x8b\x08|gzip -dcq"
		"lz4|\x02\x21\x4c\x18|lz4 -dcq"
		"bzip2|BZh|bzip2 -dcq"
		"lzma|\x5d\x00\x00\x00|xz -dcq --format=lzma"
	)
	for t in "${tries[@]}"; do
		IFS='|' read -r name magic cmd <<<"$t"
		command -v "${cmd%% *}" >/dev/null || continue
		# grep -obUaP prints byte offsets of every match of the magic.
		for off in $(LC_ALL=C grep -obUaP "$magic" "$img" 2>/dev/null | cut -d: -f1 | head -n 8); do
			# Trailing garbage after the stream makes decompressors fail:
			# judge by the output, not the exit status.
			tail -c +"$((off + 1))" "$img" | $cmd >"$out.tmp" 2>/dev/null || true
			if [[ -s $out.tmp ]] && [[ $(head -c 4 "$out.tmp" | od -An -tx1 | tr -d ' \n') == 7f454c46 ]]; then
				mv -f -- "$out.tmp" "$out"
				echo "fetch-test-kernel: vmlinux: $name payload at offset $off" >&2
				return 0
			fi
		done
	done
	rm -f -- "$out.tmp"
	return 1
}

if [[ ! -e $cache/vmlinuz ]]; then
	command -v apt-get >/dev/null || die "apt-get not found (Debian/Ubuntu only)"
	# The meta package depends on exactly one versioned image package.
	pkg=$(apt-cache depends "$meta" 2>/dev/null |
	      sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n 1 || true)
	if [[ -z $pkg ]]; then
		apt-get update -qq >/dev/null 2>&1 || true
		pkg=$(apt-cache depends "$meta" 2>/dev/null |
		      sed -n 's/^ *Depends: \(linux-image-[0-9][^ ]*-cloud-amd64\)$/\1/p' | head -n 1 || true)
	fi
	[[ -n $pkg ]] || die "cannot resolve $meta to a versioned package (apt-get update?)"

	rm -f -- "$cache"/*.deb
	# apt-get download writes to the current directory; as root it falls
	# back to the _apt sandbox user, who may not write there: be explicit.
	(cd "$cache" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >&2) ||
		die "apt-get download $pkg failed"
	deb=$(ls -1 "$cache"/"$pkg"_*.deb 2>/dev/null | head -n 1 || true)
	[[ -n $deb ]] || die "apt-get download left no $pkg .deb in $cache"

	rm -rf -- "$cache/root"
	dpkg-deb -x "$deb" "$cache/root" || die "dpkg-deb -x $deb failed"
	img=$(ls -1 "$cache"/root/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
	[[ -n $img ]] || die "$deb has no boot/vmlinuz-*"
	echo "$pkg" >"$cache/package"
	ln -sfn -- "${img#"$cache"/}" "$cache/vmlinuz"
fi

# Module dependencies (scripts/nested-kvm.sh loads kvm-amd, tun, veth … in
# dependency order from this file).  kmod's depmod, or busybox's applet.
make_modules_dep() {
	local dir ver
	for dir in "$cache"/root/lib/modules/*; do
		[[ -d $dir && ! -s $dir/modules.dep ]] || continue
		ver=$(basename "$dir")
		if command -v depmod >/dev/null; then
			depmod -b "$cache/root" "$ver"
		elif command -v busybox >/dev/null; then
			busybox depmod -b "$cache/root" "$ver"
		else
			echo "fetch-test-kernel: no depmod (kmod or busybox): $dir has no modules.dep" >&2
			continue
		fi
		echo "fetch-test-kernel: made $dir/modules.dep" >&2
	done
}
make_modules_dep || echo "fetch-test-kernel: depmod failed" >&2

if [[ ! -s $cache/vmlinux ]]; then
	extract_vmlinux "$cache/vmlinuz" "$cache/vmlinux" ||
		echo "fetch-test-kernel: could not extract vmlinux (no known payload decompressed to ELF)" >&2
fi

echo "vmlinuz=$cache/vmlinuz"
[[ -s $cache/vmlinux ]] && echo "vmlinux=$cache/vmlinux"
exit 0
