#!/bin/bash
# One GPU visit for the coupled scan kernels (bench/NOTES-scan.md): every GPU test, ScanBenchmark at all
# five settings, then compute-sanitizer's four tools over CoupledScanGpuTest (longSequences left out: its
# L = 16384 runs take minutes under racecheck). From the project root on the GPU host, after bundling:
#   OUT=/some/dir bash bench/gpu/visit-scan.sh
# With PEERS=1 (quick) or PEERS=full, the PyTorch peer runs right after ScanBenchmark, in the same visit:
# its times at the same settings and the outputs and gradients compared through CoupledScanRunner;
# PEER_ARGS adds its options (--compile: the torch.compile'd chunk as well). TESTS=0 leaves the GPU tests out.
set -uo pipefail
out=${OUT:-/tmp/cmamba-scan}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
if [ "${TESTS:-1}" != 0 ]; then   # TESTS=0: the GPU tests already ran in this visit
  t0=$SECONDS
  timeout 150 bash .gpu-bundle/run.sh test --include-tag gpu --details=tree --details-theme=ascii > "$out/gpu-tests.log" 2>&1
  echo "gpu tests: exit $? in $((SECONDS - t0)) s"
  grep -aE "tests (successful|failed|aborted)" "$out/gpu-tests.log"
  grep -aE "\[X\]" "$out/gpu-tests.log" | head -10
fi
t0=$SECONDS
timeout 120 bash .gpu-bundle/run.sh java io.cmamba.bench.ScanBenchmark > "$out/scan-bench.txt" 2>&1
echo "ScanBenchmark: exit $? in $((SECONDS - t0)) s"
tail -7 "$out/scan-bench.txt"
if [ -n "${PEERS:-}" ]; then
  t0=$SECONDS
  quick=--quick
  [ "$PEERS" = full ] && quick=
  timeout 500 python3 bench/peers/coupled_scan_torch.py $quick ${PEER_ARGS:-} > "$out/scan-peer-torch.txt" 2>&1
  echo "PyTorch peer: exit $? in $((SECONDS - t0)) s"
  tail -30 "$out/scan-peer-torch.txt"
fi
launcher=$(ls .gpu-bundle/launcher/junit-platform-console-standalone-*.jar)
sel=""
for m in shortSequencesEveryModalityCountAndStateSize manyTilesAndSampleGroups eightModalities \
         inferenceEqualsForwardWithoutChunkStates twoHalvesEqualTheWhole tensorMapAndCopyStagingGiveTheSameBits; do
  sel="$sel --select-method io.cmamba.cuda.CoupledScanGpuTest#$m"
done
for tool in memcheck racecheck initcheck synccheck; do
  t0=$SECONDS
  timeout 70 bash .gpu-bundle/run.sh sh "compute-sanitizer --tool $tool --target-processes all \$JAVA -jar $launcher execute --class-path \"\$CP\" $sel --details=none --disable-banner" > "$out/sanitizer-$tool.log" 2>&1
  echo "$tool: exit $? in $((SECONDS - t0)) s: $(grep -aE 'ERROR SUMMARY|RACECHECK SUMMARY|tests (successful|failed)' "$out/sanitizer-$tool.log" | tr -s ' ' | tr '\n' ' ')"
done
