#!/bin/bash
# The closing GPU visit: every GPU test, then the coupled scan benchmark (with its PyTorch peer when
# torch is present) and the global convolution benchmark. From the project root on the GPU host, after
# bundling (../shared/gpu-bundle/bundle.sh); logs under $OUT.
set -uo pipefail
out=${OUT:-/tmp/cmamba-gpu}
mkdir -p "$out"
bash bench/gpu/visit-tests.sh
timeout 200 bash .gpu-bundle/run.sh java io.cmamba.bench.ScanBenchmark > "$out/scan-bench.txt" 2>&1; tail -12 "$out/scan-bench.txt"
timeout 120 bash .gpu-bundle/run.sh java io.cmamba.bench.GlobalConvBenchmark > "$out/gconv-bench.txt" 2>&1; tail -14 "$out/gconv-bench.txt"
