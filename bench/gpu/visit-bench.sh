#!/bin/bash
# One GPU visit for the fusion benchmark (issue 8) and the training throughput (issue 6), ~9 minutes:
#   1. cmamba bench: Coupled Mamba and both cross-attention variants, L 64..16384, batch 8   -> $OUT/bench
#   2. the same at the paper's setting, batch 1024, L 50                                   -> $OUT/paper
#   3. training throughput with Adam at 1024x50 and 128x500                                  -> $OUT/throughput
#   4-6. the PyTorch peers (bench/peers/bench_fusion_torch.py, throughput_torch.py) at the same sizes
#   7. torch.compile'd peer, only if time is left
#   8. the joins: every table, plot, summary line and targets check with the peers' rows in
# Each step has its own timeout and log ($OUT/NAME.log), and a failed step does not stop the others.
# From the project root on the GPU host, after bundling (../shared/gpu-bundle/bundle.sh):
#   OUT=/some/dir bash bench/gpu/visit-bench.sh        (logs under /tmp/cmamba-bench when OUT is unset)
# The GPU host may lack the font libraries Java2D needs for the PNGs: the tables are written anyway, and
# `./cmamba bench --join-only --in DIR --join DIR/fusion-bench-torch.csv` re-draws them on another machine.
set -uo pipefail
out=${OUT:-/tmp/cmamba-bench}
mkdir -p "$out/bench" "$out/paper" "$out/throughput"
TOTAL=${BENCH_TOTAL_S:-540}   # the whole visit
JOINS=45                      # kept for the joins at the end
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | tee "$out/gpu.txt"
python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda)' 2>&1 | tee -a "$out/gpu.txt"

# step NAME SECONDS COMMAND...: runs COMMAND with at most SECONDS (less when the visit's time runs short)
step() {
  local name=$1 want=$2; shift 2
  local left=$(( TOTAL - JOINS - SECONDS ))
  (( left < want )) && want=$left
  if (( want < 15 )); then echo "== $name: skipped, the visit's time is spent" | tee "$out/$name.log"; return; fi
  local t0=$SECONDS
  timeout "$want" "$@" > "$out/$name.log" 2>&1
  local rc=$?
  echo "== $name: exit $rc$( ((rc == 124)) && echo ' (timed out)') in $(( SECONDS - t0 )) s (limit $want s)"
}
java_main=(bash .gpu-bundle/run.sh java io.cmamba.cli.Main)
dev=${BENCH_DEVICE:-cuda}    # cpu: a smoke test of this script (CPU defaults: small widths, L 16..64)

step bench-java 200 "${java_main[@]}" bench --device "$dev" --repeats 3 --out "$out/bench"
step paper-java 45 "${java_main[@]}" bench --device "$dev" --batch 1024 --lengths 50 --repeats 5 --out "$out/paper"
step throughput-java 50 "${java_main[@]}" bench --device "$dev" --throughput 1024x50,128x500 --repeats 10 \
  --models coupled-mamba,cross-attention-flash --out "$out/throughput"
# SDPA attention is the reference of targets 2 and 3: measured at every L (about 20 s at L 16384 on an H200)
step bench-torch 170 python3 bench/peers/bench_fusion_torch.py --device "$dev" --repeats 3 --budget-s 3 --deadline-s 130 \
  --every-length torch-cross-attention-sdpa --out "$out/bench"
step paper-torch 50 python3 bench/peers/bench_fusion_torch.py --device "$dev" --batch 1024 --lengths 50 --repeats 5 \
  --budget-s 8 --out "$out/paper"
step throughput-torch 70 python3 bench/peers/throughput_torch.py --device "$dev" --points 1024x50,128x500 --repeats 10 \
  --out "$out/throughput"
step bench-torch-compiled 90 python3 bench/peers/bench_fusion_torch.py --device "$dev" --repeats 3 --budget-s 3 \
  --deadline-s 50 --models torch-coupled-mamba-compiled --name fusion-bench-torch-compiled --out "$out/bench"

# the joins: only the peers' files that exist; the Java run's own rows are in each directory's CSV
joined() { local f files=(); for f in "$@"; do [[ -s $f ]] && files+=("$f"); done; local IFS=,; echo "${files[*]}"; }
JOINS=0
for d in bench paper; do
  j=$(joined "$out/$d/fusion-bench-torch.csv" "$out/$d/fusion-bench-torch-compiled.csv")
  if [[ -s $out/$d/fusion-bench.csv ]]; then
    step join-$d 20 "${java_main[@]}" bench --join-only --in "$out/$d" ${j:+--join "$j"}
  fi
done
j=$(joined "$out/throughput/throughput-torch.csv")
[[ -s $out/throughput/throughput.csv ]] && step join-throughput 20 "${java_main[@]}" bench --join-only --in "$out/throughput" ${j:+--join "$j"}

echo "== summaries"
for f in join-bench join-paper join-throughput; do [[ -f $out/$f.log ]] && { echo "-- $f"; grep -av "^cmamba: building" "$out/$f.log"; }; done
echo "== visit: $SECONDS s"


