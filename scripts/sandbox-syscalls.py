#!/usr/bin/env python3
"""Which system calls each of modvm's thread classes makes, from strace.

    strace -f -qq -X raw -e signal=none -o TRACE modvm run CONFIG
    scripts/sandbox-syscalls.py TRACE [TRACE...] [--json]

This is how core/sandbox/allow.c was measured (issue 18): run every
README example and the e2e/Linux tests under `strace -f` (inside the
nested KVM host: MODVM_NESTED_BINS="strace" scripts/kvm-exec strace ...),
then merge what each class did after the lockdown.

Threads are told apart by the names modvm gives them (prctl PR_SET_NAME:
"vcpu0", "modvm-watchdog", "modvm-spawner", "blk-io", "blk-uring", ...);
the process's first thread is the loop.  Only what the loop does after
the lockdown counts: from the spawner's creation on (a sandboxed build),
or, in a trace of a build without the sandbox, from the /dev/kvm open
that precedes the first KVM_CREATE_VM.  Calls that take a command or a
family as an argument are listed with the values seen (ioctl requests,
socket families, madvise advice, prctl options, fcntl commands, mmap and
mprotect protections, clone flags).
"""
import collections
import json
import re
import sys

LINE = re.compile(r'^(?:\[pid\s+(\d+)\]\s+|(\d+)\s+)?(.*)$')
CALL = re.compile(r'^([a-z_0-9]+)\((.*)$')
RESUMED = re.compile(r'^<\.\.\. ([a-z_0-9]+) resumed>(.*)$')

# arg index whose value is recorded, per call
ARGS = {'ioctl': 1, 'socket': 0, 'madvise': 2, 'prctl': 0, 'fcntl': 1,
        'mmap': 2, 'mprotect': 2, 'clone': 1, 'futex': 1, 'setsockopt': 1,
        'getsockopt': 2, 'rt_sigprocmask': 0, 'openat': 2, 'socketpair': 0}


def split_args(s):
    """Top-level comma split of strace's argument text."""
    out, depth, cur, q = [], 0, '', False
    i = 0
    while i < len(s):
        c = s[i]
        if q:
            cur += c
            if c == '\\':
                cur += s[i + 1:i + 2]
                i += 1
            elif c == '"':
                q = False
        elif c == '"':
            q = True
            cur += c
        elif c in '([{':
            depth += 1
            cur += c
        elif c in ')]}':
            if depth == 0:
                out.append(cur.strip())
                return out
            depth -= 1
            cur += c
        elif c == ',' and depth == 0:
            out.append(cur.strip())
            cur = ''
        else:
            cur += c
        i += 1
    out.append(cur.strip())
    return out


def parse(path):
    names = {}
    events = []  # (tid, call, args text)
    lines = open(path, errors='replace').read().splitlines()
    # Lines without a [pid N] prefix are the first thread's (strace adds
    # prefixes only once there are several); its tid is the first prefixed
    # one that no clone returned.
    children = set(int(x) for x in re.findall(r'^(?:\[pid\s+\d+\]\s+)?clone3?\(.*\) = (\d+)$',
                                               '\n'.join(lines), re.M))
    first = 0
    for raw in lines:
        m = LINE.match(raw)
        t = int(m.group(1) or m.group(2) or 0)
        if t and t not in children:
            first = t
            break
    for raw in lines:
        m = LINE.match(raw)
        tid = int(m.group(1) or m.group(2) or 0) or first
        rest = m.group(3)
        r = RESUMED.match(rest)
        if r:
            continue  # counted at its start
        c = CALL.match(rest)
        if not c:
            continue
        call, args = c.group(1), c.group(2)
        if call == 'prctl':
            a = split_args(args)
            if a and a[0] in ('0xf', 'PR_SET_NAME') and len(a) > 1:
                names[tid] = a[1].strip('"')
        if call == 'clone' and 'flags=' in args:
            # clone(child_stack=..., flags=0x...)
            fl = re.search(r'flags=([0-9a-fx|A-Z_]+)', args)
            args = '0, ' + (fl.group(1) if fl else '?')
        events.append((tid, call, args))
    return first, names, events


def classify(tid, first, names):
    if tid == first:
        return 'loop'
    n = names.get(tid, '')
    if n.startswith('vcpu'):
        return 'vcpu'
    if n == 'modvm-watchdog':
        return 'watchdog'
    if n == 'modvm-spawner':
        return 'spawner'
    if n:
        return 'io:' + n
    return 'unnamed'


def main():
    paths = [a for a in sys.argv[1:] if not a.startswith('--')]
    as_json = '--json' in sys.argv
    classes = collections.defaultdict(lambda: collections.defaultdict(set))
    for p in paths:
        first, names, events = parse(p)
        # where the loop's sandboxed life starts
        start = None
        for i, (tid, call, args) in enumerate(events):
            if tid != first:
                continue
            if call == 'prctl' and 'modvm-spawner' in args:
                start = i
                break
        if start is None:
            kvm_open = None
            for i, (tid, call, args) in enumerate(events):
                if tid != first:
                    continue
                if call == 'openat' and '"/dev/kvm"' in args:
                    kvm_open = i
                if call == 'ioctl' and split_args(args)[1:2] == ['0xae01']:
                    start = kvm_open if kvm_open is not None else i
                    break
        for i, (tid, call, args) in enumerate(events):
            cls = classify(tid, first, names)
            if cls == 'loop' and (start is None or i < start):
                continue
            vals = classes[cls][call]
            if call in ARGS:
                a = split_args(args)
                k = ARGS[call]
                if k < len(a):
                    vals.add(a[k])
    if as_json:
        print(json.dumps({c: {s: sorted(v) for s, v in d.items()} for c, d in classes.items()},
                         indent=1, sort_keys=True))
        return
    for c in sorted(classes):
        d = classes[c]
        print(f'== {c}: {len(d)} system calls')
        for s in sorted(d):
            v = sorted(d[s])
            print(f'  {s}' + (f'  [{", ".join(v)}]' if v else ''))


if __name__ == '__main__':
    main()
