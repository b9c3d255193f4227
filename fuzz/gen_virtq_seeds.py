#!/usr/bin/env python3
"""Writes seed inputs for fuzz_virtq (layout in fuzz_virtq.c) into DIR:
well-formed rings the fuzzer can mutate into malformed ones."""
import os
import struct
import sys

DESC, AVAIL, USED = 0x000, 0x400, 0x800   # ring offsets in the image
IMAGE = 0x2000


def header(log2, flags, last_avail=0, used_idx=0, used=USED):
    return struct.pack('<BBHHHHH', log2, flags, last_avail, used_idx,
                       DESC // 16, AVAIL // 2, used // 4)


def image(num, descs, heads, avail_idx, used_event=0):
    img = bytearray(IMAGE)
    for i, (addr, ln, fl, nx) in descs.items():
        struct.pack_into('<QIHH', img, DESC + 16 * i, addr, ln, fl, nx)
    struct.pack_into('<HH', img, AVAIL, 0, avail_idx)
    for slot, h in enumerate(heads):
        struct.pack_into('<H', img, AVAIL + 4 + 2 * (slot % num), h)
    struct.pack_into('<H', img, AVAIL + 4 + 2 * num, used_event)
    return img


def seeds():
    N, W, I = 1, 2, 4
    # one writable buffer
    yield 'single', header(3, 0), image(8, {0: (0x1000, 64, W, 0)}, [0], 1)
    # readable header + two writable pieces
    yield 'chain', header(3, 0), image(8, {0: (0x1000, 16, N, 1), 1: (0x1100, 32, N | W, 2),
                                           2: (0x1200, 8, W, 0)}, [0], 1)
    # indirect table at 0x1800 with two entries
    img = image(8, {0: (0x1800, 32, I, 0)}, [0], 1)
    struct.pack_into('<QIHHQIHH', img, 0x1800, 0x1000, 16, N, 1, 0x1100, 16, W, 0)
    yield 'indirect', header(3, 2), img
    # event idx, several heads, indexes about to wrap
    yield 'event_wrap', header(2, 1 | 4, 0xfffe, 0xfffe), image(
        4, {0: (0x1000, 8, W, 0), 1: (0x1010, 8, W, 0), 2: (0x1020, 8, 0, 0)},
        [0, 1, 2], 0x0001, used_event=0xffff)
    # regression: the used ring overlaps avail->idx, so each used entry the
    # library writes for a malformed chain looked like a new available one
    # and one pop never returned (found by this fuzzer, fixed in pop)
    yield 'used_over_avail', header(2, 0xff, 0xfffe, 0, used=AVAIL), image(
        4, {0: (0x100000, 8, N, 3)}, [0, 0, 0, 0], 2)
    # a loop, for the mutator to play with
    yield 'loop', header(3, 8), image(8, {0: (0x1000, 8, N, 1), 1: (0x1010, 8, N, 0)}, [0], 1)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for name, hdr, img in seeds():
        with open(os.path.join(out, 'seed-' + name), 'wb') as f:
            f.write(hdr + bytes(img))


if __name__ == '__main__':
    main()
