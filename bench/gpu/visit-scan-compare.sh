#!/bin/bash
# One GPU visit comparing the coupled scan kernels with an earlier version of them (bench/NOTES-scan.md):
# the development harness's correctness grid on kernels/, then its timings of BASE and of kernels/,
# alternately (ROUNDS times each, so that drift shows), then the Nsight Compute throughput sections of one
# forward and one backward launch of each (the harness's `prof` size). BASE is a copy of the project's
# kernels/ and bench/dev/coupled_scan_dev.py laid out as in the project (BASE/kernels, BASE/bench/dev),
# so that each version runs with its own launch settings and shared-memory sizes. From the project root on
# the GPU host:   BASE=DIR OUT=DIR [ROUNDS=2] [CHECK=0] bash bench/gpu/visit-scan-compare.sh
set -uo pipefail
out=${OUT:-/tmp/cmamba-compare}
base=${BASE:?BASE: a directory holding kernels/ and bench/dev/coupled_scan_dev.py of the version to compare with}
[ -f "$base/bench/dev/coupled_scan_dev.py" ] && [ -d "$base/kernels" ] || { echo "BASE=$base lacks kernels/ or bench/dev/coupled_scan_dev.py"; exit 2; }
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | tee "$out/gpu.txt"
if [ "${CHECK:-1}" != 0 ]; then
  t0=$SECONDS
  timeout 300 python3 bench/dev/coupled_scan_dev.py check > "$out/dev-check.txt" 2>&1
  echo "check: exit $? in $((SECONDS - t0)) s: $(grep -acE 'FAIL' "$out/dev-check.txt") failing lines"
  tail -3 "$out/dev-check.txt"
fi
for round in $(seq 1 "${ROUNDS:-2}"); do
  for v in base new; do
    py=bench/dev/coupled_scan_dev.py
    [ $v = base ] && py=$base/bench/dev/coupled_scan_dev.py
    t0=$SECONDS
    timeout 240 python3 "$py" time-quick > "$out/dev-time-$v-$round.txt" 2>&1
    echo "time $v round $round: exit $? in $((SECONDS - t0)) s"
    grep -aA4 '^setting' "$out/dev-time-$v-$round.txt" | tail -3
  done
done
ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
for v in base new; do
  py=bench/dev/coupled_scan_dev.py
  [ $v = base ] && py=$base/bench/dev/coupled_scan_dev.py
  t0=$SECONDS
  timeout 240 "$ncu" -k regex:coupled_scan_ -c 2 --section SpeedOfLight --section ComputeWorkloadAnalysis \
    --section MemoryWorkloadAnalysis --section SchedulerStats --section SourceCounters \
    python3 "$py" prof > "$out/ncu-$v.txt" 2>&1
  echo "ncu $v: exit $? in $((SECONDS - t0)) s"
  grep -aE '^  coupled_scan|Duration|Data Pipe Lsu Wavefronts|L1 Wavefronts Shared  |Pipe Xu|Issued Warp Per Scheduler  ' "$out/ncu-$v.txt" | head -16
done
