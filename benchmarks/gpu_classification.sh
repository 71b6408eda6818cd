#!/usr/bin/env bash
# Issue 3 on a GPU, one prepared script: Fashion-MNIST with one or more models per family (each
# its own process, all at once on the one GPU, so wall times overlap), and every classification
# model on digits. Runs from source, no network, no .venv needed. Processes share the GPU by
# time-slicing: with the default 12 + 4 at once on an H200 each got about a tenth of it (a
# 20-epoch resnet_tiny needed ~88 s alone with one other job, and reached 13 epochs in 240 s
# with 15 others), so for full recipes pass fewer FMNIST_MODELS or a larger BUDGET.
#
#   mkdir -p .data/fashion-mnist && cp ../shared/data/fashion-mnist/* .data/fashion-mnist/
#   OUT=/tmp/out bash benchmarks/gpu_classification.sh      # on the GPU machine, repo root
#
# Environment: OUT (results, default gpu_out), RUNS (run directories, default .data/runs),
# PYTHON (default python3), FMNIST (IDX folder), FMNIST_MODELS, BUDGET (training seconds per
# model, default 270), DIGITS_BUDGET (default 60), DEVICE (default cuda), PRECISION (bf16).
# Writes $OUT/fmnist.jsonl, $OUT/digits.jsonl, $OUT/classification.log, and
# $OUT/classification_runs.tar.gz (config, history, metrics and status of every run).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}
RUNS=${RUNS:-.data/runs}
PY=${PYTHON:-python3}
FMNIST=${FMNIST:-.data/fashion-mnist}
DEVICE=${DEVICE:-cuda}
PRECISION=${PRECISION:-bf16}
BUDGET=${BUDGET:-270}
DIGITS_BUDGET=${DIGITS_BUDGET:-60}
FMNIST_MODELS=${FMNIST_MODELS:-lenet5 alexnet_tiny alexnet_small resnet_tiny densenet_tiny \
efficientnet_tiny mobilenetv4_conv_small_050 capsnet_tiny capsnet vit_nano vit_small_patch4 hybrid_nano}
mkdir -p "$OUT" "$RUNS"
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
exec > >(tee -a "$OUT/classification.log") 2>&1

echo "== classification on $DEVICE ($PRECISION), $(date -u)"
COMMON=(--device "$DEVICE" --precision "$PRECISION" --threads 1)
# a hard stop per process a little after its training budget: start-up, validation, test scoring
LIMIT=$((BUDGET + 75))
pids=()
for m in $FMNIST_MODELS; do
  timeout "$LIMIT" $PY benchmarks/classification.py --data "fashion-mnist:$FMNIST" --models "$m" "${COMMON[@]}" \
    --time-budget "$BUDGET" --out "$RUNS/fmnist" --results "$OUT/fmnist.jsonl" \
    >"$RUNS/fmnist_$m.log" 2>&1 &
  pids+=($!)
done
# digits: the quick-suite variants in one process, the standard ones split over three
STANDARD=$($PY -c "import sys; sys.path.insert(0, 'benchmarks')
from classification import TINY, model_names
print(' '.join(m for m in model_names('all') if m not in TINY))")
read -r -a STD <<<"$STANDARD"
JOBS=(tiny)
for i in 0 1 2; do
  g=(); for ((j = i; j < ${#STD[@]}; j += 3)); do g+=("${STD[j]}"); done
  JOBS+=("$(IFS=,; echo "${g[*]}")")
done
k=0
for g in "${JOBS[@]}"; do
  [ -n "$g" ] || continue
  timeout "$LIMIT" $PY benchmarks/classification.py --data digits --models "$g" "${COMMON[@]}" \
    --time-budget "$DIGITS_BUDGET" --out "$RUNS/digits" --results "$OUT/digits.jsonl" \
    >"$RUNS/digits_$k.log" 2>&1 &
  pids+=($!); k=$((k + 1))
done
for p in "${pids[@]}"; do wait "$p"; done
for f in "$RUNS"/*.log; do echo "--- $f"; tail -n 4 "$f"; done
tar czf "$OUT/classification_runs.tar.gz" -C "$RUNS" \
  $(cd "$RUNS" && find . \( -name history.csv -o -name metrics.json -o -name status.json \
    -o -name config.yaml -o -name '*.log' \) | sort) 2>/dev/null
echo "== classification done $(date -u)"
