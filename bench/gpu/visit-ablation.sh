#!/bin/bash
# One GPU visit for the training results: the fusion ablation on the built-in dataset (coupled against
# unimodal, independent, average, concat and cross-attention; default settings, seeds 1-3), the default
# training run with its metrics, the PyTorch checkpoint round trip (Java CPU and CUDA), and
# compute-sanitizer over the global convolution tests. From the project root on the GPU host, after
# bundling; logs and a summary under $OUT.
out=${OUT:-/tmp/cmamba-ablation}; mkdir -p "$out/runs"
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm,driver_version --format=csv > "$out/device.txt" 2>&1
bash .gpu-bundle/run.sh java -version > "$out/jre.txt" 2>&1  # unpack the runtime once, before the parallel starts
bash bench/gpu/visit-gconv-sanitizer.sh > "$out/sanitizer-summary.txt" 2>&1 &
(JAVA_CMD="bash .gpu-bundle/run.sh java io.cmamba.cli.Main" OUT=$out/roundtrip bash bench/peers/roundtrip.sh --device cuda > "$out/roundtrip.log" 2>&1) &
train() { # name, args
  local name=$1; shift
  timeout 400 bash .gpu-bundle/run.sh java io.cmamba.cli.Main train --device cuda --out "$out/runs/$name" "$@" > "$out/runs/$name.log" 2>&1
}
train default &
for seed in 1 2 3; do
  train "coupled-s$seed" --seed "$seed" &
  train "independent-s$seed" --seed "$seed" --fusion independent &
  train "average-s$seed" --seed "$seed" --fusion average &
  train "concat-s$seed" --seed "$seed" --fusion concat &
  train "text-s$seed" --seed "$seed" --modalities 0 &
  train "audio-s$seed" --seed "$seed" --modalities 1 &
  train "vision-s$seed" --seed "$seed" --modalities 2 &
  train "crossattn-s$seed" --seed "$seed" --arch cross-attention --heads 4 &
  wait -n; wait -n; wait -n; wait -n
done
wait
for f in "$out"/runs/*.log; do printf '%-22s %s\n' "$(basename "$f" .log)" "$(grep -a '^test:' "$f" | tail -1)"; done > "$out/ablation-summary.txt"
cat "$out/ablation-summary.txt" "$out/sanitizer-summary.txt"; tail -14 "$out/roundtrip.log"
