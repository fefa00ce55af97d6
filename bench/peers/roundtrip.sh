#!/usr/bin/env bash
# The PyTorch round trip: for each case, train a tiny model for 1 epoch on the built-in dataset (Java,
# CPU), make random inputs, predict with Java (CPU, and CUDA with --device cuda), run the PyTorch peer
# (bench/peers/fusion_torch.py) on the same weights and inputs, and print one line per case and device.
# Exit 1 when any case differs by more than the tolerance (or fails).
#   bash bench/peers/roundtrip.sh [--device cuda] [--out DIR] [--tol X]
#   JAVA_CMD  how to run io.cmamba.cli.Main (default ./cmamba; on a machine with only a bundled JRE e.g.
#             "bash .gpu-bundle/run.sh java io.cmamba.cli.Main")
#   PYTHON    python with torch and numpy (default python3)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"
JAVA_CMD=${JAVA_CMD:-./cmamba}
PYTHON=${PYTHON:-python3}
devices="cpu"
out=${OUT:-/tmp/cmamba-roundtrip}
tol=1e-5
while [ $# -gt 0 ]; do
    case "$1" in
        --device) case "$2" in cuda*) devices="cpu $2" ;; esac; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --tol) tol=$2; shift 2 ;;
        *) echo "roundtrip.sh: unknown argument '$1' (--device cuda, --out DIR, --tol X)" >&2; exit 2 ;;
    esac
done
mkdir -p "$out"

# name and training options; every case also gets the tiny sizes below (the last one keeps the defaults)
tiny="--dataset-size 64 --d-model 8 --d-state 4 --layers 2 --length 8 --batch-size 16"
cases=(
    "coupled           $tiny --fusion coupled"
    "independent-rms   $tiny --fusion independent --norm rms"
    "average-class3    $tiny --fusion average --task classification --classes 3"
    "concat            $tiny --fusion concat --modalities 0,2"
    "coupled-lti       $tiny --fusion coupled --mode lti"
    "independent-lti   $tiny --fusion independent --mode lti --norm rms"
    "cross-attention   $tiny --arch cross-attention --heads 2"
    "cross-attn-rms-c2 $tiny --arch cross-attention --heads 2 --norm rms --task classification --classes 2"
    "coupled-defaults  --dataset-size 200"
)
failed=0
for c in "${cases[@]}"; do
    read -r name opts <<<"$c"
    dir="$out/$name"
    rm -rf "$dir"
    # shellcheck disable=SC2086
    if ! $JAVA_CMD train --device cpu --epochs 1 --seed 3 $opts --out "$dir" >"$dir.train.log" 2>&1; then
        echo "$name: training failed (log $dir.train.log)"; failed=1; continue
    fi
    ck="$dir/best.safetensors"
    "$PYTHON" bench/peers/roundtrip.py make-inputs --checkpoint "$ck" --out "$dir/inputs.safetensors" --batch 12 --seed 5 >/dev/null || { echo "$name: make-inputs failed"; failed=1; continue; }
    outs=()
    for d in $devices; do
        # shellcheck disable=SC2086
        if $JAVA_CMD predict --checkpoint "$ck" --in "$dir/inputs.safetensors" --out "$dir/java-$d.safetensors" --device "$d" >"$dir/predict-$d.log" 2>&1; then
            outs+=("$dir/java-$d.safetensors")
        else
            echo "$name: cmamba predict --device $d failed: $(tail -n 1 "$dir/predict-$d.log")"; failed=1
        fi
    done
    [ ${#outs[@]} -gt 0 ] || continue
    "$PYTHON" bench/peers/roundtrip.py compare --checkpoint "$ck" --inputs "$dir/inputs.safetensors" \
        --java-outputs "${outs[@]}" --tol "$tol" --label "$(printf '%-17s' "$name")" || failed=1
done
[ $failed -eq 0 ] && echo "roundtrip: every case within $tol" || echo "roundtrip: FAILED (files under $out)"
exit $failed
