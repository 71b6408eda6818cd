#!/usr/bin/env bash
# Issue 20: does `make bench` give the same numbers on a busy machine as on an idle one?
# Runs the quick review suite twice from scratch, first alone, then beside CPU hogs (one busy
# loop per core), and prints both results side by side: every job's ranking metric, whether
# every metric of the job is identical, its training work, and the wall seconds of each run.
#
#   bash benchmarks/bench_busy_idle.sh                      # two full `make bench` runs
#   VISIONBENCH=".venv/bin/visionbench" bash benchmarks/bench_busy_idle.sh --only model=lenet5
#
# Environment: OUT (default bench_busy_idle; holds idle/ and busy/ run folders and the logs),
# VISIONBENCH (a visionbench command: run `VISIONBENCH bench --suite review --quick` directly
# instead of `make bench`), HOGS (busy loops, default: the number of cores), PYTHON (python3),
# PASSES (default "idle busy"; "busy" alone keeps an earlier idle/ folder and compares with it).
# Extra arguments go to `visionbench bench` (through BENCH_ARGS for make). Exit status 1 when
# a job's metrics differ between the two runs.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-bench_busy_idle}
PY=${PYTHON:-python3}
HOGS=${HOGS:-$(nproc)}
PASSES=${PASSES:-idle busy}
for pass in $PASSES; do rm -rf "${OUT:?}/$pass"; done
mkdir -p "$OUT"

bench() {  # $1: output folder
    if [ -n "${VISIONBENCH:-}" ]; then
        $VISIONBENCH bench --suite review --quick --out "$1" "${@:2}"
    else
        make bench BENCH_OUT="$1" BENCH_ARGS="${*:2}"
    fi
}

idle_s=kept
if [[ " $PASSES " == *" idle "* ]]; then
    echo "== idle: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg)"
    start=$(date +%s)
    bench "$OUT/idle" "$@" > "$OUT/idle.log" 2>&1 || echo "idle bench failed, see $OUT/idle.log"
    idle_s=$(( $(date +%s) - start ))
fi

echo "== busy: $(date -u +%FT%TZ), load average $(cut -d' ' -f1-3 /proc/loadavg), starting $HOGS CPU hog(s)"
pids=()
for _ in $(seq "$HOGS"); do
    "$PY" -c "while True: pass" &
    pids+=($!)
done
trap 'kill "${pids[@]}" 2>/dev/null' EXIT
start=$(date +%s)
bench "$OUT/busy" "$@" > "$OUT/busy.log" 2>&1 || echo "busy bench failed, see $OUT/busy.log"
busy_s=$(( $(date +%s) - start ))
kill "${pids[@]}" 2>/dev/null
wait "${pids[@]}" 2>/dev/null

"$PY" - "$OUT" "$idle_s" "$busy_s" <<'PYEOF'
import json, sys
from pathlib import Path

out, idle_s, busy_s = Path(sys.argv[1]), sys.argv[2], sys.argv[3]


def load(which):
    path = out / which / "review" / "results.json"
    return {r["run"]: r for r in json.loads(path.read_text())} if path.exists() else {}


def phases(which):
    path = out / which / "review" / "suite.json"
    return json.loads(path.read_text()).get("phases", {}) if path.exists() else {}


idle, busy = load("idle"), load("busy")
print(f"| job | metric | idle | busy | all metrics identical | work (idle) | train s idle / busy |")
print("|---|---|---|---|---|---|---|")
differ = 0
for run in sorted(set(idle) | set(busy)):
    a, b = idle.get(run, {}), busy.get(run, {})
    key = a.get("ranking_metric") or b.get("ranking_metric")
    va, vb = (a.get("metrics") or {}).get(key), (b.get("metrics") or {}).get(key)
    same = bool(a) and a.get("metrics") == b.get("metrics")
    differ += not same
    flops = a.get("train_flops")
    work = f"{a.get('epochs')} ep, {a.get('steps')} steps" + (
        f", {flops / 1e12:.3g} TFLOP" if flops else ""
    )
    cut = " (cut)" if a.get("cut") or b.get("cut") else ""
    print(
        f"| {run}{cut} | {key} | {va if va is None else f'{va:.4g}'} | "
        f"{vb if vb is None else f'{vb:.4g}'} | {'yes' if same else 'NO'} | {work} | "
        f"{a.get('train_seconds')} / {b.get('train_seconds')} |"
    )
if idle_s == "kept":
    idle_s = phases("idle").get("total", "?")
print(f"\nwall seconds: idle {idle_s}, busy {busy_s}")
for which in ("idle", "busy"):
    p = phases(which)
    if p:
        parts = ", ".join(f"{k} {p[k]}" for k in ("training", "evaluation", "profiling",
                                                 "challenges", "report", "other") if k in p)
        print(f"phases ({which}, s): {parts}")
print(f"{len(set(idle) | set(busy)) - differ} of {len(set(idle) | set(busy))} jobs identical")
sys.exit(1 if differ else 0)
PYEOF
