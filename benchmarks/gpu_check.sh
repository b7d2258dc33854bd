#!/usr/bin/env bash
# One prepared check on one CUDA GPU, under 10 minutes: precision, compile, data loading, DDP.
#
#   1. data: two-phase Darcy 128x128, 256 train / 32 test (`surrogate generate`, 8 workers)
#   2. benchmarks/gpu_models.py: every model, 32-true / bf16-mixed / 16-mixed, compile off and
#      on (eager first; compiled runs until the time budget), train samples/s and peak memory;
#      our FNO against neuraloperator's at identical settings when `import neuralop` works
#      (pure Python: put its site-packages on PYTHONPATH); loader throughput (lazy HDF5 with 2
#      workers, host and device memory) beside it on the 128x128 train split
#   3. the real CLI: one epoch of FNO per precision with the data in device memory, one with
#      compile=true, and trainer=ddp on one device (NCCL), each then evaluated
#
# Needs a Python with a CUDA build of torch and this package installed (`pip install -e .`);
# PYTHON selects it (default .venv/bin/python). Writes $OUT (default outputs/gpu_check):
# models.md (the tables), models.json, cli.md and every run's directory. Dry run on a CPU
# (small sizes, what can run without CUDA): DRY_RUN=1 bash benchmarks/gpu_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-outputs/gpu_check}
DATA=$OUT/data
if [[ ${DRY_RUN:-0} == 1 ]]; then
    SIZE=24 N_TRAIN=40 BUDGET=60 DEVICE=cpu PRECISIONS="32-true bf16-mixed" ACCEL=cpu
else
    SIZE=128 N_TRAIN=256 BUDGET=330 DEVICE=cuda PRECISIONS="32-true bf16-mixed 16-mixed" ACCEL=gpu
    "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || {
        echo "error: $PYTHON has no CUDA device (torch $("$PYTHON" -c 'import torch; print(torch.__version__)'))" >&2
        exit 2
    }
fi
mkdir -p "$OUT"
surrogate() { "$PYTHON" -m surrogate.cli.main "$@" paths.data_dir="$DATA"; }
started=$SECONDS

echo "== 1. data ($SIZE x $SIZE, $N_TRAIN train)"
timeout 120 "$PYTHON" -m surrogate.cli.main generate pde=darcy pde.resolution=$SIZE \
    n_train=$N_TRAIN n_test=32 name=gpu$SIZE seed=0 workers=8 paths.data_dir="$DATA" \
    hydra.run.dir="$OUT/generate" > "$OUT/generate.log" 2>&1

echo "== 2. models x precision x compile, loader throughput"
NEURALOP=$("$PYTHON" -c "import neuralop" 2>/dev/null && echo --neuralop || true)
timeout 420 "$PYTHON" benchmarks/gpu_models.py --device $DEVICE --size $SIZE --batch 16 \
    --steps 10 --warmup 3 --precisions $PRECISIONS --budget $BUDGET $NEURALOP \
    --data "$DATA/gpu$SIZE" --json "$OUT/models.json" | tee "$OUT/models.md" | grep -v '^{'

echo "== 3. the CLI: train one epoch, evaluate"
echo "| run | exit | best val rel L2 | test rel L2 | seconds | note |" > "$OUT/cli.md"
echo "|---|---:|---:|---:|---:|---|" >> "$OUT/cli.md"
cli_run() {  # name, then train overrides
    local name=$1 start=$SECONDS code=0
    shift
    timeout 150 "$PYTHON" -m surrogate.cli.main train data=gpu$SIZE model=fno \
        trainer.max_epochs=1 trainer.accelerator=$ACCEL paths.data_dir="$DATA" \
        hydra.run.dir="$OUT/$name" "$@" > "$OUT/$name.log" 2>&1 || code=$?
    local val test note
    val=$("$PYTHON" -c "import json; print(f\"{json.load(open('$OUT/$name/result.json'))['best_val_rel_l2']:.4f}\")" 2>/dev/null || echo –)
    test=–
    if [[ $code == 0 ]]; then
        "$PYTHON" -m surrogate.cli.main eval ckpt="$OUT/$name/checkpoints/last.ckpt" \
            paths.data_dir="$DATA" figures.enabled=false hydra.run.dir="$OUT/$name/eval" \
            > "$OUT/$name.eval.log" 2>&1 &&
            test=$("$PYTHON" -c "import json; print(f\"{json.load(open('$OUT/$name/eval/metrics.json'))['rel_l2']:.4f}\")")
    fi
    note=$(grep -o -m1 -E 'distributed_backend=[a-z]+|data in [a-z:0-9]+ memory|error: .*' "$OUT/$name.log" || true)
    echo "| $name | $code | $val | $test | $((SECONDS - start)) | $note |" | tee -a "$OUT/cli.md"
}
for precision in $PRECISIONS; do
    cli_run "fno_$precision" trainer.precision=$precision loader.in_memory=device
done
cli_run fno_compiled compile=true
cli_run fno_ddp trainer=ddp trainer.devices=1
echo "== done in $((SECONDS - started)) s; tables: $OUT/models.md, $OUT/cli.md"
