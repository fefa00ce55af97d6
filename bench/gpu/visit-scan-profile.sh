#!/bin/bash
# One GPU visit: Nsight Compute profiles of the coupled scan kernels at one ScanBenchmark setting
# (default: the paper's), for bench/NOTES-scan.md's "where the time goes". From the project root on the
# GPU host, after bundling:   OUT=/some/dir bash bench/gpu/visit-scan-profile.sh [SETTING]
# Writes $OUT/ncu-{fwd,bwd}.txt (the sections) and $OUT/ncu-{fwd,bwd}-sass.csv (per-instruction counts).
set -uo pipefail
out=${OUT:-/tmp/cmamba-profile}
setting=${1:-paper}
mkdir -p "$out"
ncu=$(command -v ncu || echo /usr/local/cuda/bin/ncu)
sections="--section SpeedOfLight --section Occupancy --section LaunchStats --section WarpStateStats \
 --section InstructionStats --section SchedulerStats --section ComputeWorkloadAnalysis --section MemoryWorkloadAnalysis"
for k in fwd bwd; do
  # the second launch: the first is the benchmark's warm-up, which also compiles
  timeout 150 bash .gpu-bundle/run.sh sh "$ncu --target-processes all -k regex:coupled_scan_$k -s 1 -c 1 $sections \
    --section SourceCounters --import-source no -o $out/ncu-$k \$JAVA -cp \"\$CP\" io.cmamba.bench.ScanBenchmark --only $setting --runs 2" \
    > "$out/ncu-$k.log" 2>&1
  echo "ncu $k: exit $?"
  "$ncu" --import "$out/ncu-$k.ncu-rep" --print-details all > "$out/ncu-$k.txt" 2>&1
  "$ncu" --import "$out/ncu-$k.ncu-rep" --page source --print-source sass --csv > "$out/ncu-$k-sass.csv" 2>&1
  wc -l "$out/ncu-$k.txt" "$out/ncu-$k-sass.csv"
done
