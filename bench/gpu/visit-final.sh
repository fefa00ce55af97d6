#!/bin/bash
# The closing GPU visit: every GPU test, compute-sanitizer memcheck and racecheck over the scan and
# attention tests, and the scan benchmark. From the project root on the GPU host, after bundling.
set -uo pipefail
out=${OUT:-/tmp/cmamba-gpu}
mkdir -p "$out"
bash bench/gpu/visit-tests.sh
launcher=$(ls .gpu-bundle/launcher/junit-platform-console-standalone-*.jar)
for tool in memcheck racecheck; do
  timeout 150 bash .gpu-bundle/run.sh sh "compute-sanitizer --tool $tool --target-processes all \$JAVA -jar $launcher execute --class-path \"\$CP\" --select-method io.cmamba.cuda.CoupledScanGpuTest#modalitiesAndStateSizes --select-method io.cmamba.cuda.CoupledScanGpuTest#variableLengthsAndInitialState --select-class io.cmamba.cuda.AttentionGpuTest --include-tag gpu --details=none" > "$out/sanitizer-$tool.log" 2>&1
  echo "$tool: $(grep -aE 'ERROR SUMMARY|RACECHECK SUMMARY|tests (successful|failed)' "$out/sanitizer-$tool.log" | tr '\n' ' ')"
done
timeout 150 bash .gpu-bundle/run.sh java io.cmamba.bench.ScanBenchmark 20 2>&1 | tee "$out/scan-bench.txt"
