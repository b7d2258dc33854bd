#!/usr/bin/env bash
# One prepared check of `backend=torch` generation on one CUDA GPU, under 10 minutes (issue 16).
#
#   1. benchmarks/torch_generation.py, numpy against torch-cuda (float64 and float32) side by
#      side, per-sample seconds and peak memory: the issue's two targets first (Navier-Stokes
#      256² per trajectory >= 100x numpy, Darcy 256² >= 20x PARDISO with reuse), then every
#      family at 64² and 256² (3D: 32³, 64³), each stage under its own timeout
#   2. the issue's interface commands through the real CLI with device=cuda
#
# Needs a Python with a CUDA build of torch and this package installed (`pip install -e .`);
# PYTHON selects it (default .venv/bin/python). Writes $OUT (default outputs/gpu_generation):
# targets.md, families.md (the tables) and cli.log. Dry run on a CPU (tiny sizes, device=cpu,
# what can run without CUDA): DRY_RUN=1 bash benchmarks/gpu_generation.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT:-outputs/gpu_generation}
if [[ ${DRY_RUN:-0} == 1 ]]; then
    DEVICE=cpu SAMPLES=2 BATCH=2 TARGETS=(--families burgers --grids 64) FAMILIES=(--families darcy --grids 64² --solvers "cg mg")
else
    DEVICE=cuda SAMPLES=64 BATCH=64 TARGETS=(--families navier_stokes darcy --grids 256² --solvers - "cg mg")
    FAMILIES=(--grids 64² 256² 64 256 32³ 64³ --solvers - "cg mg" "gcrodr mg" --samples 32
        --batch-size 32)  # numpy's rows take most of the budget: fewer samples
    "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || {
        echo "error: $PYTHON has no CUDA device (torch $("$PYTHON" -c 'import torch; print(torch.__version__)'))" >&2
        exit 2
    }
fi
mkdir -p "$OUT"
BENCH=("$PYTHON" benchmarks/torch_generation.py --samples "$SAMPLES" --batch-size "$BATCH"
    --threads 1 --devices "$DEVICE" --dtypes float64 float32)

echo "== 1a. the targets: navier_stokes 256², darcy 256² (cg mg)"
timeout 200 "${BENCH[@]}" "${TARGETS[@]}" | tee "$OUT/targets.md"
echo "== 1b. every family (what fits in its budget)"
timeout 240 "${BENCH[@]}" "${FAMILIES[@]}" | tee "$OUT/families.md" || echo "(stopped at its time budget)"
echo "== 2. the interface commands, device=$DEVICE"
{
    timeout 60 "$PYTHON" -m surrogate.cli.main generate pde=navier_stokes pde.resolution=64 \
        n_train=64 n_test=8 name=ns_torch backend=torch device=$DEVICE batch_size=32 \
        paths.data_dir="$OUT/data" hydra.run.dir="$OUT/ns"
    timeout 60 "$PYTHON" -m surrogate.cli.main generate pde=darcy pde.resolution=64 \
        n_train=256 n_test=0 name=d_torch backend=torch device=$DEVICE batch_size=64 solver=cg \
        solver.preconditioner=mg paths.data_dir="$OUT/data" hydra.run.dir="$OUT/darcy"
} > "$OUT/cli.log" 2>&1 && echo "both ran (cli.log)" || { echo "failed: see $OUT/cli.log"; exit 1; }
