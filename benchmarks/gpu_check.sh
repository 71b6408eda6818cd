#!/usr/bin/env bash
# Issues 8 and 22 on a GPU, one prepared script, four parts (PARTS, default all four):
#   throughput  harness overhead vs a hand-written loop, eager, bf16, channels_last: every model of
#               benchmarks/throughput.py's GPU list, paired rounds with 95% intervals, the cost split
#               per step / per epoch (--decompose)
#   compiled    the same with torch.compile for resnet50 and vit_base_patch16_224
#   cifar       CIFAR-10 time-to-accuracy through `visionbench train` (model `speedrun`): one warm-up
#               seed that fills the compile cache, then SEEDS (default 10 seeds)
#   suite       `visionbench bench --full --device cuda` on the review suite: whole-suite wall time
#               and the per-family table (the report under $OUT/suite)
# Each part runs under its own `timeout` (THROUGHPUT_S, COMPILED_S, CIFAR_S, SUITE_S seconds), so
# the whole fits one 10-minute call; a part cut by its timeout says so in the log.
# Runs from source, no network, no .venv needed:
#
#   mkdir -p .data && cp /work/shared/data/cifar10/cifar10-jpg.tar.gz .data/   # once, on the host
#   OUT=/tmp/out bash benchmarks/gpu_check.sh            # on the GPU machine, repo root
#
# Environment: OUT (results folder, default gpu_out), RUNS (run directories, default $OUT/runs),
# PYTHON (default python3), TAR (default .data/cifar10-jpg.tar.gz), SEEDS (default 0..9),
# CIFAR_ARGS (extra `visionbench train` flags, e.g. "--epochs 14"). For a CPU smoke test of this
# script: DEVICE=cpu COMPILE= PARTS="cifar suite" CACHE_ARGS="--per-class 20" DATA=/tmp/c10 \
#   CIFAR_ARGS="--epochs 1 --batch-size 64" SEEDS=0 SUITE_ARGS="--only model=lenet5" \
#   bash benchmarks/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}
PY=${PYTHON:-python3}
TAR=${TAR:-.data/cifar10-jpg.tar.gz}
SEEDS=${SEEDS:-0 1 2 3 4 5 6 7 8 9}
PARTS=${PARTS:-throughput compiled cifar suite}
wants() { case " $PARTS " in *" $1 "*) return 0;; esac; return 1; }
DEVICE=${DEVICE:-cuda}
COMPILE=${COMPILE---compile}
DATA=${DATA:-.data/cifar10}
RUNS=${RUNS:-$OUT/runs}
mkdir -p "$OUT"
export PYTHONPATH="src${PYTHONPATH:+:$PYTHONPATH}"
export TORCHINDUCTOR_CACHE_DIR=${TORCHINDUCTOR_CACHE_DIR:-$PWD/.data/inductor-cache}
exec > >(tee "$OUT/gpu_check.log") 2>&1

echo "== environment"
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
$PY -c "import torch, torchvision, timm; print('torch', torch.__version__, 'torchvision', \
torchvision.__version__, 'timm', timm.__version__, 'cuda', torch.version.cuda, \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU')" || exit 1

if wants throughput; then
  echo "== throughput: visionbench vs hand-written loop (bf16, channels_last, eager)"
  timeout "${THROUGHPUT_S:-150}" $PY benchmarks/throughput.py --device "$DEVICE" --precision bf16 \
    --channels-last --seconds 0.3 --repeats 5 --max-rounds 12 --decompose --epoch-images 1281167 \
    --json "$OUT/throughput_cuda_bf16.json"
  echo "throughput exit code $? (124: cut by its timeout)"
fi

if wants compiled; then
  echo "== throughput: compiled (torch.compile), bf16, channels_last"
  timeout "${COMPILED_S:-150}" $PY benchmarks/throughput.py --device "$DEVICE" --precision bf16 \
    --channels-last --compile --models resnet50 vit_base_patch16_224 --seconds 0.3 --repeats 5 \
    --max-rounds 12 --json "$OUT/throughput_cuda_bf16_compiled.json"
  echo "compiled throughput exit code $? (124: cut by its timeout)"
fi

if wants cifar; then
  cifar_start=$(date +%s)
  echo "== CIFAR-10 cache"
  if [ ! -f "$DATA/cifar-10-batches-py/test_batch" ]; then
    $PY benchmarks/cifar10_cache.py "$TAR" "$DATA" ${CACHE_ARGS:-} || exit 1
  fi
  echo "== CIFAR-10 time-to-accuracy: speedrun, bf16, channels_last, compile"
  for seed in warmup $SEEDS; do
    s=$seed; [ "$seed" = warmup ] && s=100
    if [ $(( $(date +%s) - cifar_start )) -gt "${CIFAR_S:-300}" ]; then
      echo "CIFAR-10 part cut by its ${CIFAR_S:-300} s budget before seed $seed"; break
    fi
    $PY -m visionbench train classification --model speedrun --data "cifar10:$DATA" \
      --device "$DEVICE" --precision bf16 --channels-last $COMPILE --model-arg tta=true --seed "$s" --quiet \
      --run-dir "$RUNS/speedrun_s$seed" ${CIFAR_ARGS:-} | tail -n 3
  done
  $PY - "$OUT" "$RUNS" $SEEDS <<'EOF'
import json, statistics, sys
from pathlib import Path
out, runs, seeds = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3:]
rows = []
for s in ["warmup", *seeds]:
    run = runs / f"speedrun_s{s}"
    try:
        st = json.loads((run / "status.json").read_text())
        m = json.loads((run / "metrics.json").read_text())
    except OSError as e:
        print(f"seed {s}: no result ({e})")
        continue
    rows.append({"seed": s, "accuracy": m["accuracy"], "train_seconds": st["train_seconds"],
                 "compile_seconds": st.get("compile_seconds"), "wall_seconds": st["wall_seconds"],
                 "epochs": st["epochs"]})
    print(json.dumps(rows[-1]))
meas = [r for r in rows if r["seed"] != "warmup"]
if meas:
    acc = [r["accuracy"] for r in meas]
    sec = [r["train_seconds"] for r in meas]
    summary = {"seeds": len(meas), "mean_accuracy": statistics.mean(acc),
               "std_accuracy": statistics.pstdev(acc), "mean_train_seconds": statistics.mean(sec),
               "max_train_seconds": max(sec), "target": "mean >= 0.907, <= 4 s per run",
               "met": statistics.mean(acc) >= 0.907 and max(sec) <= 4.0}
    print(json.dumps(summary))
    (out / "cifar10_speedrun.json").write_text(json.dumps({"runs": rows, "summary": summary}, indent=2))
EOF
fi
if wants suite; then
  echo "== the review suite, full recipes, one card"
  start=$(date +%s)
  timeout "${SUITE_S:-240}" $PY -m visionbench bench --suite review --full --device "$DEVICE" \
    --out "$OUT/suite" ${SUITE_ARGS:-} | tail -n 60
  rc=${PIPESTATUS[0]}
  echo "suite exit code $rc (124: cut by its timeout: a rerun continues where it stopped) after $(( $(date +%s) - start )) s"
fi
echo "== done"; date -u
