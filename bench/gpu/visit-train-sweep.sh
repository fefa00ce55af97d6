#!/bin/bash
# The fusion ablation on the GPU at the default settings (W6-*: every variant, seeds 1-3) and a longer
# run of the coupled model (W15-*: 15 epochs); a line of test MAE, Corr and Acc-2 per run in summary.txt,
# the logs and metrics packed into logs.tgz. From the project root on the GPU host, after bundling.
out=${OUT:-/tmp/cmamba-explore2}; mkdir -p "$out/runs"
bash .gpu-bundle/run.sh java -version > "$out/jre.txt" 2>&1
{
E="--epochs 15 --patience 6"
for s in 1 2 3; do
  for v in "coupled|" "independent|--fusion independent" "average|--fusion average" "concat|--fusion concat" \
           "text|--modalities 0" "audio|--modalities 1" "vision|--modalities 2" "crossattn|--arch cross-attention --heads 4"; do
    echo "W6-${v%%|*}-s$s||--seed $s ${v#*|}"
  done
  echo "W15-coupled-s$s||--seed $s $E"
done
echo "W15-concat-s1||--seed 1 $E --fusion concat"
} > "$out/jobs.txt"
one() {
  IFS='|' read -r name props args <<< "$1"
  timeout 170 bash .gpu-bundle/run.sh java $props io.cmamba.cli.Main train --device cuda --out "$OUT_DIR/runs/$name" $args > "$OUT_DIR/runs/$name.log" 2>&1
}
export -f one; export OUT_DIR=$out
xargs -P 40 -I{} bash -c 'one "$@"' _ {} < "$out/jobs.txt"
for f in "$out"/runs/*.log; do printf '%-18s %s\n' "$(basename "$f" .log)" "$(grep -a '^test:' "$f" | tail -1 | awk "{print \$5, \$7, \$13}")"; done > "$out/summary.txt"
cat "$out/summary.txt"
(cd "$out" && tar czf logs.tgz runs/*.log runs/*/metrics.json 2>/dev/null; rm -rf runs)
