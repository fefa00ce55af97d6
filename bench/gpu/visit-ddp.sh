#!/bin/bash
# Data-parallel training over NCCL on a host with 2 or 4 GPUs. From the project root on the GPU host, after
# bundling (../shared/gpu-bundle/bundle.sh); logs and a summary under $OUT (or /tmp/cmamba-ddp).
#   bash bench/gpu/visit-ddp.sh                 all three parts
#   bash bench/gpu/visit-ddp.sh equiv           NCCL equivalence test: 2 GPUs against 1, same global batch
#   bash bench/gpu/visit-ddp.sh scale           training samples/s on 1, 2 (, 4) GPUs, paper's setting, L = 50 and 500
#   bash bench/gpu/visit-ddp.sh kill            kill -9 one worker mid-run: the message, the time, the checkpoint
# Env: STEPS (timed updates, 10), PER_GPU (batch per GPU, 1024), STRONG=1 adds a fixed global batch of PER_GPU.
set -uo pipefail
out=${OUT:-/tmp/cmamba-ddp}
mkdir -p "$out"
parts=${*:-equiv scale kill}
export NCCL_NVLS_ENABLE=0
ngpu=$(nvidia-smi -L | grep -c '^GPU')
nvidia-smi --query-gpu=index,name,driver_version,memory.total --format=csv,noheader | tee "$out/gpus.txt"
nvidia-smi topo -m > "$out/topo.txt" 2>&1

# libnccl.so.2 is not part of the CUDA toolkit: take PyTorch's (nvidia-nccl wheel), else any on the system
nccl=$(python3 -c 'import nvidia.nccl as m, os; print(os.path.join(list(m.__path__)[0], "lib"))' 2>/dev/null)
if [[ -z $nccl || ! -e $nccl/libnccl.so.2 ]]; then
  lib=$(ldconfig -p 2>/dev/null | grep -o '/.*libnccl.so.2$' | head -1)
  [[ -z $lib ]] && lib=$(find / -xdev -name 'libnccl.so.2' 2>/dev/null | head -1)
  nccl=${lib%/*}
fi
[[ -n $nccl ]] && export LD_LIBRARY_PATH="$nccl${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
echo "GPUs: $ngpu; libnccl.so.2 from: ${nccl:-NOT FOUND}" | tee "$out/nccl.txt"
cm() { bash .gpu-bundle/run.sh java io.cmamba.cli.Main "$@"; }

if [[ " $parts " == *" equiv "* ]]; then
  timeout 400 bash .gpu-bundle/run.sh test --select-class io.cmamba.cuda.NcclEquivalenceGpuTest --include-tag gpu \
    --details=tree --details-theme=ascii > "$out/equivalence.log" 2>&1
  echo "equivalence test exit $?"
  grep -aE "NCCL 2 GPUs vs 1 GPU|tests (successful|failed|skipped)|=> " "$out/equivalence.log" | head -12
fi

if [[ " $parts " == *" scale "* ]]; then
  steps=${STEPS:-10}; per=${PER_GPU:-1024}
  counts="1"; (( ngpu >= 2 )) && counts="$counts 2"; (( ngpu >= 4 )) && counts="$counts 4"
  # the paper's setting: d_model 128, N 64, 3 layers, batch 1024 per GPU
  model="--d-model 128 --d-state 64 --layers 3 --lr 5e-4 --epochs 1"
  echo "mode,length,gpus,global_batch,samples_per_s,efficiency" > "$out/scaling.csv"
  modes="weak"; [[ ${STRONG:-0} == 1 ]] && modes="weak strong"
  for mode in $modes; do
    for len in 50 500; do
      base=""
      for g in $counts; do
        if [[ $mode == weak ]]; then batch=$((per * g)); else batch=$per; fi
        extra=""; (( g > 1 )) && extra="--gpus $g"
        log="$out/scale-$mode-L$len-g$g.log"
        timeout 300 cm train --device cuda $extra $model --length "$len" --batch-size "$batch" \
          --dataset-size $((batch > 4096 ? batch : 4096)) --benchmark-steps "$steps" --out "$out/scale-run" > "$log" 2>&1
        rate=$(grep -ao 'throughput: [0-9.]*' "$log" | awk '{print $2}' | tail -1)
        [[ -z $rate ]] && { echo "L=$len $g GPUs: no figure, see $log"; tail -3 "$log"; continue; }
        [[ $g == 1 ]] && base=$rate
        eff=$(awk -v r="$rate" -v b="$base" -v g="$g" 'BEGIN{ if (b > 0) printf "%.3f", r / (g * b); else print "" }')
        echo "$mode,$len,$g,$batch,$rate,$eff" >> "$out/scaling.csv"
        printf '%-6s L=%-4s %d GPU(s)  global batch %-5d  %9.1f samples/s  efficiency %s\n' "$mode" "$len" "$g" "$batch" "$rate" "$eff"
      done
    done
  done | tee "$out/scaling.txt"
fi

if [[ " $parts " == *" kill "* ]]; then
  if (( ngpu < 2 )); then echo "kill: needs 2 GPUs"; else
    run="$out/killed"; rm -rf "$run"
    cm train --device cuda --gpus 2 --d-model 128 --d-state 64 --layers 3 --length 50 --batch-size 256 \
      --dataset-size 4096 --epochs 200 --patience 0 --out "$run" > "$out/killed.log" 2>&1 &
    launcher=$!
    for _ in $(seq 1 600); do [[ -f $run/last.safetensors ]] && break; sleep 0.2; done
    sleep 2   # mid-epoch 2 or later
    victim=$(pgrep -f -- '-Dcmamba.rank=1' | head -1)
    echo "killing rank 1 (pid $victim) with SIGKILL; last.safetensors $(stat -c %s "$run/last.safetensors" 2>/dev/null) bytes"
    t0=$(date +%s.%N); kill -9 "$victim"; wait "$launcher"; code=$?; t1=$(date +%s.%N)
    echo "launcher exit $code after $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b - a}') s"
    grep -a "exited\|lost\|stops\|train:" "$out/killed.log" | tail -6
    pgrep -f -- '-Dcmamba.rank=' > /dev/null && echo "WORKERS STILL RUNNING" || echo "no worker left running"
    # the checkpoint must load and score (eval reads and checks every tensor)
    timeout 120 cm eval --device cuda --checkpoint "$run/last.safetensors" > "$out/killed-eval.json" 2> "$out/killed-eval.log"
    echo "eval of last.safetensors exit $?: $(head -c 300 "$out/killed-eval.json" | tr '\n' ' ')"
  fi 2>&1 | tee "$out/killed.txt"
fi
