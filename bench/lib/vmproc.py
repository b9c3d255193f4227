"""Starting VMM processes, timing their serial output, measuring their memory.

Used by bench/run.  Every VMM (modvm or QEMU) runs as a child with its
serial console on a pipe; times are taken on the host's monotonic clock from
just before fork/exec.
"""
import os
import re
import select
import signal
import subprocess
import time


class VmmError(RuntimeError):
    pass


def now():
    return time.monotonic()


class Vmm:
    """One VMM process whose stdout is the guest's serial console."""

    def __init__(self, argv, env=None):
        self.argv = argv
        self.t0 = now()
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env, close_fds=True)
        self.out = b""
        self.err = b""
        self._last_t = self.t0
        os.set_blocking(self.proc.stdout.fileno(), False)
        os.set_blocking(self.proc.stderr.fileno(), False)

    @property
    def pid(self):
        return self.proc.pid

    def _pump(self, timeout):
        """Reads what is available within @timeout s; False once both pipes closed."""
        fds = [f for f in (self.proc.stdout, self.proc.stderr) if not f.closed]
        if not fds:
            return False
        ready, _, _ = select.select(fds, [], [], max(timeout, 0))
        self._last_t = now()
        for f in ready:
            try:
                data = os.read(f.fileno(), 65536)
            except BlockingIOError:
                continue
            if not data:
                f.close()
                continue
            if f is self.proc.stdout:
                self.out += data
            else:
                self.err += data[-4096:]
        return True

    def wait_for(self, needle, timeout, count=1):
        """Seconds from the start to the @count-th occurrence of @needle on the console."""
        deadline = now() + timeout
        while self.out.count(needle) < count:
            if now() > deadline:
                raise VmmError(f"{self.argv[0]}: no {needle!r} within {timeout:.0f} s")
            before = len(self.out)
            if not self._pump(min(0.5, deadline - now())) and len(self.out) == before:
                raise VmmError(f"{self.argv[0]} ended before {needle!r}: "
                               + self.err.decode(errors="replace").strip()[-300:])
        return self.arrival(needle, count)

    def arrival(self, needle, count):
        # Reads are not timestamped per byte: the time is that of the read
        # that completed the match, which is when the host could see it.
        return self._last_t - self.t0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdout, self.proc.stderr):
            if not f.closed:
                f.close()


def first_byte_times(vmms, needle, timeout):
    """Waits for @needle on every VMM of @vmms concurrently; their arrival times (s)."""
    deadline = now() + timeout
    times = [None] * len(vmms)
    while None in times:
        if now() > deadline:
            raise VmmError(f"{times.count(None)} of {len(vmms)} VMMs printed nothing "
                           f"within {timeout:.0f} s")
        fds = {}
        for i, v in enumerate(vmms):
            if times[i] is None:
                if v.proc.stdout.closed:
                    raise VmmError(f"{v.argv[0]} ended early: "
                                   + v.err.decode(errors="replace").strip()[-300:])
                fds[v.proc.stdout.fileno()] = i
        ready, _, _ = select.select(list(fds), [], [], 0.5)
        t = now()
        for fd in ready:
            i = fds[fd]
            v = vmms[i]
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not data:
                v.proc.stdout.close()
                continue
            v.out += data
            if needle in v.out:
                times[i] = t - v.t0
    return times


_MAP = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) (\S+)")


def memory(pid, ram_bytes):
    """Rss/Pss (KiB) of @pid from smaps_rollup, and of its guest RAM mappings.

    Guest RAM is every read-write mapping of exactly @ram_bytes (one per VM:
    modvm maps each VM's RAM once, QEMU its "microvm.ram" block).
    """
    roll = {}
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                roll[parts[0][:-1]] = int(parts[1])
    ram_rss = ram_pss = nram = 0
    in_ram = False
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            m = _MAP.match(line)
            if m:
                size = int(m.group(2), 16) - int(m.group(1), 16)
                in_ram = size == ram_bytes and m.group(3).startswith("rw")
                nram += in_ram
            elif in_ram and line.startswith("Rss:"):
                ram_rss += int(line.split()[1])
            elif in_ram and line.startswith("Pss:"):
                ram_pss += int(line.split()[1])
    return {"rss": roll.get("Rss", 0), "pss": roll.get("Pss", 0), "ram_rss": ram_rss,
            "ram_pss": ram_pss, "ram_maps": nram}
