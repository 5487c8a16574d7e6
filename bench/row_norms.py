#!/usr/bin/env python3
"""Mean L2 norm of a model's item-ID rows, by the item's count in the training split.

Reads the .npy files `fedrecall-node export --model M --npy DIR` writes (E_id.npy and
item_ids.npy, row r >= 1 holding item item_ids[r - 1]) and a sasrec-format file
("user item" lines in time order), whose training split is each user's items but the last
two (all of them for users with fewer than 3, as the node splits). Prints one line per
folder: the number of items and the mean row norm for each count bucket. Compares how a
federated and a central model spread their item vectors over the popular and the rare
items (docs/benchmarks.md, "toys-games: what the sampled gap is not").

  bench/row_norms.py DATA.txt DIR [DIR ...]
"""
import array
import ast
import collections
import math
import struct
import sys

BUCKETS = [(0, 1), (1, 3), (3, 9), (9, 37), (37, None)]


def load_npy(path, code):
    """A little-endian .npy array of typecode code (f: float32, q: int64) and its shape."""
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            sys.exit(f"{path}: not a .npy file")
        major = f.read(2)[0]
        hlen = struct.unpack("<H" if major == 1 else "<I", f.read(2 if major == 1 else 4))[0]
        header = ast.literal_eval(f.read(hlen).decode("latin1"))
        want = {"f": "<f4", "q": "<i8"}[code]
        if header["descr"] != want or header["fortran_order"]:
            sys.exit(f"{path}: expected {want} in C order, found {header['descr']}")
        a = array.array(code)
        a.frombytes(f.read())
    return a, header["shape"]


def train_counts(path):
    seqs = collections.defaultdict(list)
    with open(path) as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if len(parts) != 2:
                sys.exit(f"{path}:{n}: expected 'user item'")
            seqs[parts[0]].append(int(parts[1]))
    counts = collections.Counter()
    for s in seqs.values():
        counts.update(s[:-2] if len(s) >= 3 else s)
    return counts


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    counts = train_counts(sys.argv[1])
    for d in sys.argv[2:]:
        e, (rows, dim) = load_npy(d + "/E_id.npy", "f")
        ids, _ = load_npy(d + "/item_ids.npy", "q")
        if len(ids) != rows - 1:
            sys.exit(f"{d}: {len(ids)} item ids for {rows - 1} item rows")
        sums = collections.defaultdict(lambda: [0, 0.0])
        for r in range(1, rows):
            c = counts[ids[r - 1]]
            v = e[r * dim:(r + 1) * dim]
            norm = math.sqrt(sum(x * x for x in v))
            for lo, hi in BUCKETS:
                if c >= lo and (hi is None or c < hi):
                    sums[lo][0] += 1
                    sums[lo][1] += norm
        cells = []
        for lo, hi in BUCKETS:
            n, s = sums[lo]
            name = f"{lo}-{hi - 1}" if hi is not None else f"{lo}+"
            cells.append(f"{name}: {n} items, {s / n if n else 0:.3f}")
        print(f"{d} | " + " | ".join(cells))


if __name__ == "__main__":
    main()
