#!/usr/bin/env bash
# Installs what building and testing modvm needs on Debian 12, and nothing
# when it is all there already (so CI and repeated runs stay fast).
#   scripts/install-deps.sh [--tests | --nested]
# --nested: what the nested AMD-V test host needs (scripts/nested-kvm.sh);
# --tests: that, and what the test suite and fuzzers need.
set -euo pipefail

packages=(gcc libc6-dev meson ninja-build pkg-config libconfig-dev libev-dev libpci-dev liburing-dev check pciutils)
if [[ "${1:-}" == "--tests" ]]; then
	packages+=(clang libclang-rt-14-dev python3 zstd xz-utils lz4 abigail-tools acpica-tools)
	# The dist and package suites: the Debian packages built, checked by
	# lintian and run (scripts/test-package.sh), the systemd unit checked
	# by systemd-analyze, the bash completion and man pages exercised.
	packages+=(build-essential dpkg-dev debhelper fakeroot lintian systemd bash-completion man-db)
fi
if [[ "${1:-}" == "--tests" || "${1:-}" == "--nested" ]]; then
	# scripts/nested-kvm.sh: the nested AMD-V KVM test host (QEMU TCG), its
	# initramfs and disk images, module dependencies, and the network tools
	# the tests run inside it.
	packages+=(qemu-system-x86 busybox-static cpio e2fsprogs kmod iproute2 ethtool)
fi

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

sudo=""
[[ $(id -u) -ne 0 ]] && sudo="sudo"
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
