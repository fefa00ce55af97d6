#!/bin/bash
# One GPU visit: the GPU test suite, then a short training run on the GPU of the built-in dataset.
# Run from the project root on the GPU host after bundling (see ../shared/gpu-bundle/README.md):
#   bash bench/gpu/visit-tests.sh            (logs under $OUT, or /tmp/cmamba-gpu when OUT is unset)
set -uo pipefail
out=${OUT:-/tmp/cmamba-gpu}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
timeout 420 bash .gpu-bundle/run.sh test --include-tag gpu --details=tree --details-theme=ascii > "$out/gpu-tests.log" 2>&1
echo "gpu tests exit $?"
grep -aE "tests (successful|failed|skipped)" "$out/gpu-tests.log"
grep -aE "^\s+(\+--|'--) .*\[X\]" "$out/gpu-tests.log" | head -20
grep -aE "=> " "$out/gpu-tests.log" | head -20
