"""Instruction mix of one kernel from an Nsight Compute source page, per element of work.

    ncu --import R.ncu-rep --page source --print-source sass --csv > K-sass.csv
    python3 bench/dev/sass_mix.py K-sass.csv ELEMENTS [--blocks]

ELEMENTS is the work the kernel does, e.g. M*B*L*D*N for the coupled scan (3*1024*50*256*64 at the
paper's setting). Prints thread instructions per element by opcode with their share of the stall
samples; --blocks also prints each run of instructions executed the same number of times (a basic
block, roughly) that costs at least 0.05 instructions per element or 1% of the stall samples, with its
share of the samples and its leading opcodes: that is
how the address arithmetic of the staging loops showed up (bench/NOTES-scan.md, v6).
"""
import collections
import csv
import math
import re
import sys


def rows(path):
    table = list(csv.reader(open(path)))
    header = table[1]
    ix = {h: i for i, h in enumerate(header)}
    for r in table[2:]:
        try:
            n = int(r[ix["Instructions Executed"]])
            stall = int(r[ix["Warp Stall Sampling (All Samples)"]])
        except (ValueError, IndexError):
            continue
        src = r[ix["Source"]].strip()
        opcode = re.sub(r"^@!?U?P\w+\s+", "", src).split(" ")[0].split(".")[0]   # no predicate, no modifiers
        yield r[ix["Address"]], opcode, n, stall


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    path, elements = sys.argv[1], math.prod(float(f) for f in sys.argv[2].split("*"))   # e.g. 3*1024*50*256*64
    data = list(rows(path))
    total = sum(n for _, _, n, _ in data)
    samples = max(1, sum(s for _, _, _, s in data))
    per_op, per_op_stall = collections.Counter(), collections.Counter()
    for _, op, n, s in data:
        per_op[op] += n
        per_op_stall[op] += s
    print(f"{total:,} warp instructions, {total * 32 / elements:.2f} thread instructions per element")
    for op, n in per_op.most_common(20):
        print(f"  {op:8s} {n * 32 / elements:6.2f} per element  {100 * n / total:5.1f}% of instructions  "
              f"{100 * per_op_stall[op] / samples:5.1f}% of stall samples")
    if "--blocks" in sys.argv:
        blocks, cur = [], None
        for addr, op, n, stall in data:
            if cur is None or n != cur[1]:
                cur = [addr, n, collections.Counter(), 0]
                blocks.append(cur)
            cur[2][op] += 1
            cur[3] += stall
        # the stall samples are the time: a block waiting at a barrier shows on the instruction after it
        for addr, n, ops, stall in blocks:
            cost = n * sum(ops.values()) * 32 / elements
            if cost >= 0.05 or stall / samples >= 0.01:
                print(f"  {addr[-6:]} executed {n:>11,} x {sum(ops.values()):4d} = {cost:5.2f} per element  "
                      f"{100 * stall / samples:5.1f}% of samples  {ops.most_common(5)}")


if __name__ == "__main__":
    main()
