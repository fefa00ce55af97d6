#!/bin/bash
# Training sweep on the GPU (seconds per run): which settings let the coupled model learn the built-in
# task, and how the ablations compare. Usage on the GPU host: bash bench/gpu/sweep.sh "ARGS1" "ARGS2" ...
out=${OUT:-/tmp/cmamba-sweep}
mkdir -p "$out"
i=0
for args in "$@"; do
  i=$((i + 1))
  timeout 120 bash .gpu-bundle/run.sh java io.cmamba.cli.Main train --device cuda --out "$out/r$i" $args > "$out/r$i.log" 2>&1
  printf '%-70s %s\n' "$args" "$(grep -a '^test:' "$out/r$i.log" | sed 's/test: //' | awk '{print $3, $4, $5, $6, $11, $12}') $(grep -a 'finished\|early stop' "$out/r$i.log" | grep -o 'best epoch [0-9]*')"
done
