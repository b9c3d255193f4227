"""Linux guest images for bench/run: an initramfs ("newc" cpio) holding busybox,
the kernel modules it is asked for (dependencies first, from modules.dep) and
files, with an /init that mounts proc, sys and dev, loads the modules and
runs a script.  The same image boots under modvm and under QEMU.
"""
import glob
import os

KERNEL_DIR = "/var/cache/modvm-test-kernel"

_PROLOGUE = """#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
for m in $(cat /modules.load); do insmod /lib/modules/$m.ko || echo "guest: insmod $m failed"; done
"""


def kernel_kit(kernel_dir=KERNEL_DIR):
    """(vmlinux, bzImage, module dir) of the test kernel cache, or None."""
    vmlinux = os.path.join(kernel_dir, "vmlinux")
    vmlinuz = os.path.join(kernel_dir, "vmlinuz")
    mods = sorted(glob.glob(os.path.join(kernel_dir, "root", "lib", "modules", "*")))
    if not os.path.exists(vmlinux) or not mods or not os.path.exists(
            os.path.join(mods[-1], "modules.dep")):
        return None
    return vmlinux, vmlinuz, mods[-1]


def _module_order(moddir, names):
    """Paths (relative to @moddir) of @names and what they need, in load order."""
    deps = {}
    with open(os.path.join(moddir, "modules.dep")) as f:
        for line in f:
            mod, _, rest = line.partition(":")
            deps[mod.strip()] = rest.split()
    by_name = {os.path.basename(p)[:-3].replace("-", "_"): p for p in deps if p.endswith(".ko")}
    order = []

    def add(path, depth=0):
        if path in order or depth > 16:
            return
        for d in reversed(deps.get(path, [])):
            add(d, depth + 1)
        order.append(path)

    for n in names:
        path = by_name.get(n.replace("-", "_"))
        if not path:
            raise RuntimeError(f"no module {n} in {moddir}/modules.dep")
        add(path)
    return order


class _Cpio:
    def __init__(self, path):
        self.f = open(path, "wb")
        self.ino = 1
        self.dirs = set()

    def _entry(self, name, mode, data=b""):
        hdr = "070701" + "".join(f"{v:08x}" for v in (
            self.ino, mode, 0, 0, 2 if mode & 0o040000 else 1, 0, len(data), 0, 0, 0, 0,
            len(name) + 1, 0))
        self.ino += 1
        self.f.write(hdr.encode() + name.encode() + b"\0")
        self.f.write(b"\0" * (-(110 + len(name) + 1) % 4))
        self.f.write(data)
        self.f.write(b"\0" * (-len(data) % 4))

    def _parents(self, name):
        parts = name.split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.dirs:
                self.dirs.add(d)
                self._entry(d, 0o040755)

    def data(self, name, data, mode=0o644):
        self._parents(name)
        self._entry(name, 0o100000 | mode, data)

    def file(self, name, src):
        with open(src, "rb") as f:
            self.data(name, f.read(), 0o755 if os.access(src, os.X_OK) else 0o644)

    def close(self):
        self._entry("TRAILER!!!", 0)
        self.f.close()


def initramfs(out, moddir, modules, files, script, busybox="/bin/busybox"):
    """Writes @out: busybox, @modules (+ dependencies), @files ({name in the
    image: host path}) and an /init running @script after the prologue."""
    c = _Cpio(out)
    c.file("bin/busybox", busybox)
    names = []
    for rel in _module_order(moddir, modules):
        base = os.path.basename(rel)
        c.file("lib/modules/" + base, os.path.join(moddir, rel))
        names.append(base[:-3])
    c.data("modules.load", ("\n".join(names) + "\n").encode())
    for name, src in files.items():
        c.file(name, src)
    c.data("init", (_PROLOGUE + script).encode(), 0o755)
    c.close()
