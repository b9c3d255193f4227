"""Headline numbers of the per-feature benchmarks (bench/bench_*.c).

Each parser takes one program's stdout and returns {key: value}; bench/run
runs a program several times and turns each key into a table row against the
baseline the program measured in the same run.  A parser that finds nothing
returns {} and the row says "no output".
"""
import re

NUM = r"([0-9]+(?:\.[0-9]+)?)"


def _find(pattern, text, out, *keys):
    m = re.search(pattern, text, re.M)
    if m:
        for k, g in zip(keys, m.groups()):
            if k:
                out[k] = float(g)


def bus(text):
    o = {}
    _find(r"direct call through a pointer \(baseline\):.*?" + NUM + r" ns/call", text, o, "direct_ns")
    _find(r"synchronous publish->handler, 1 sub:\s+" + NUM + r" M events/s\s+" + NUM + " ns/event",
          text, o, "sync_meps", "sync_ns")
    _find(r"cross-thread, 1 producer ?, flood:\s+" + NUM + r" M events/s\s+latency p50\s+" + NUM +
          r" us\s+p99\s+" + NUM, text, o, "x1_meps", "x1_p50", "x1_p99")
    _find(r"cross-thread, 2 producers, flood:\s+" + NUM + r" M events/s", text, o, "x2_meps")
    _find(r"cross-thread, idle \(1 in flight\):\s+" + NUM + r" M events/s\s+latency p50\s+" + NUM +
          r" us\s+p99\s+" + NUM, text, o, None, "idle_p50", "idle_p99")
    return o


def iobus(text):
    o = {}
    _find(r"direct handler call\s+" + NUM + " ns", text, o, "direct_ns")
    _find(r"iobus lookup \+ dispatch\s+" + NUM + " ns", text, o, "dispatch_ns")
    _find(r"full exit, fake backend\s+" + NUM + " ns", text, o, "exit_ns")
    return o


def plugins(text):
    o = {}
    _find(r"load\+init\+start (\d+) plugins: median " + NUM, text, o, "n", "load_ms")
    _find(r"baseline dlopen\+dlclose:\s+median " + NUM, text, o, "dlopen_ms")
    return o


def balloon(text):
    o = {}
    for kind, tag in (("private", "priv"), ("shared", "shm")):
        m = re.search(kind + r" RAM.*?(?=^(?:private|shared) RAM|\Z)", text, re.S | re.M)
        if not m:
            continue
        t = m.group(0)
        _find(r"device inflate\s+" + NUM + " GiB/s", t, o, tag + "_dev_gibs")
        _find(r"page-by-page madvise\s*" + NUM + " GiB/s", t, o, tag + "_page_gibs")
        _find(r"one madvise \(floor\)\s+" + NUM + " GiB/s", t, o, tag + "_one_gibs")
        _find(r"inflated in " + NUM + r" ms, visible in Rss after " + NUM + " ms", t, o,
              tag + "_inflate_ms", tag + "_target_ms")
    return o


def park(text):
    o = {}
    _find(r"core-time parked:\s+" + NUM, text, o, "parked_pct")
    _find(r"spike-to-unpark delay:\s+median (\d+), p99 (\d+), max (\d+)", text, o,
          "unpark_med", "unpark_p99", "unpark_max")
    _find(r"policy cost per decision:\s+" + NUM + " ns", text, o, "policy_ns")
    _find(r"one /proc/stat read:\s+" + NUM + " ns", text, o, "stat_ns")
    return o


def exits(text):
    o = {}
    _find(r"kick \+ KVM_RUN \(immediate_exit\)\s+" + NUM, text, o, "kick_us")
    _find(r"PIO exit, CPL0 \(outb\)\s+" + NUM, text, o, "pio_us")
    _find(r"MMIO exit, CPL3 \(4-byte write\)\s+" + NUM, text, o, "mmio_us")
    return o


def vmm(text):
    """bench_vmm a): per-round µs/exit of the bare loop and of the runtime."""
    o = {"rounds": []}
    for m in re.finditer(r"round \d+: bare vcpu_run\s+" + NUM + r" wall\s+" + NUM +
                         r" cpu\s+modvm_vm runtime\s+" + NUM + r" wall\s+" + NUM + " cpu", text):
        o["rounds"].append(tuple(float(x) for x in m.groups()))
    _find(r"runtime / bare \(median of per-round ratios\): " + NUM + r"x wall, " + NUM + "x cpu",
          text, o, "ratio_wall", "ratio_cpu")
    return o


def vmm_sandbox(text):
    """bench_vmm d): per-round µs/exit (vCPU-thread CPU) off and strict, the median
    per-round ratios; e): the bare loop's median µs/exit under no filter, one
    trivial filter and a vCPU thread's chain."""
    o = {"off_cpu": [], "strict_cpu": [], "filters": {}}
    for m in re.finditer(r"round\s+\d+: off\s+" + NUM + r" wall\s+" + NUM + r" cpu\s+strict\s+" +
                         NUM + r" wall\s+" + NUM + " cpu", text):
        o["off_cpu"].append(float(m.group(2)))
        o["strict_cpu"].append(float(m.group(4)))
    _find(r"strict / off: " + NUM + r"x wall, " + NUM + "x cpu", text, o, "ratio_wall",
          "ratio_cpu")
    for m in re.finditer(r"^\s+(none|one filter|vcpu chain)\s+median\s+" + NUM, text, re.M):
        o["filters"][m.group(1)] = float(m.group(2))
    return o


def net_sandbox(text):
    """bench_net's sandboxed TSO TX: per-round CPU s/GB off and strict, the median
    per-round ratio."""
    o = {"off_cpu": [], "strict_cpu": []}
    for m in re.finditer(r"round \d+: off\s+" + NUM + r" Gbit/s\s+" + NUM + r" CPU s/GB\s+strict\s+" +
                         NUM + r" Gbit/s\s+" + NUM + " CPU s/GB", text):
        o["off_cpu"].append(float(m.group(2)))
        o["strict_cpu"].append(float(m.group(4)))
    _find(r"strict / off \(median of per-round ratios\): " + NUM + "x the CPU per GB", text, o,
          "ratio_cpu")
    return o


def net(text):
    """bench_net: {"group|case": (Gbit/s, CPU s/GB[, device-side CPU s/GB])}, in output order.

    A group is a heading line (no indent, ending in ':'); its first case is
    the baseline of the others in the table.  TX groups come first; the RX
    group ("RX from a tap into guest buffers", its heading shortened) has 1514-byte
    frames without guest offloads as its baseline, against GUEST_TSO (64 KiB
    segments), mtu 9000 and GUEST_TSO with mtu 9000.  Its CPU per GB is all
    the host's work for the frames, the sender's kernel segmentation
    included; the device side (tap read, copy into guest buffers, loop,
    driver) is the third value.
    """
    o = {}
    group = ""
    for line in text.splitlines():
        if line and not line[0].isspace() and line.rstrip().endswith(":"):
            # Short, as bench/run shortens the TX heading to "TX into a tap".
            group = line.rstrip()[:-1].replace("virtio-net RX from a tap", "RX from a tap")
            continue
        if group.startswith("the TSO TX path, host.sandbox"):
            continue    # rounds of a pair: net_sandbox()'s
        m = re.match(r"^\s+(\S.*?)\s+" + NUM + r" Gbit/s\s+" + NUM + r" CPU s/GB"
                     r"(?:\s+\(device side\s+" + NUM + r"\))?", line)
        if m:
            v = (float(m.group(2)), float(m.group(3)))
            if m.group(4):
                v += (float(m.group(4)),)
            o[group + "|" + m.group(1)] = v
    return o
