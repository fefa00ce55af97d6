#!/bin/bash
# The benchmark visit and the training sweep in one GPU visit (one machine start); every result packed
# into one archive per part under $OUT, beside their summaries.
top=${OUT:-/tmp/cmamba-visit}
OUT=$top/bench BENCH_TOTAL_S=${BENCH_TOTAL_S:-320} bash bench/gpu/visit-bench.sh > "$top/bench-summary.txt" 2>&1
OUT=$top/sweep bash bench/gpu/visit-train-sweep.sh > "$top/sweep-summary.txt" 2>&1
for d in bench sweep; do (cd "$top" && tar czf "$d.tgz" "$d" && rm -rf "$d"); done
tail -40 "$top/bench-summary.txt"; cat "$top/sweep-summary.txt"
