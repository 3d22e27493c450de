#!/usr/bin/env bash
# The GPU benchmark in one call on a machine with an NVIDIA GPU, Python and torch (CUDA) but no
# package index: installs the fastinfer wheel carried beside the checkout, then runs
# benchmarks/bench_gpu.py (yolov3-tiny and yolov3 at 416 and 640, batch 1/8/32; forward,
# fastinfer end to end FP32/FP16/FP16+CUDA graphs, and the hand-written PyTorch path).
#
#   bash benchmarks/gpu/run.sh [--device cuda|cpu] [--quick]
#
# Expects, relative to the checkout (set FASTINFER_GPU_BUNDLE to put it elsewhere):
#   .gpu/*.whl   a fastinfer wheel for the machine's Python (make wheel with that Python)
#   .gpu/data/   models/yolov3-tiny/{yolov3-tiny.cfg,yolov3-tiny.weights,coco.names},
#                darknet-cfg/yolov3.cfg and images/*.jpg, as `make testdata` lays them out
# Writes benchmarks/results/<gpu>/gpu.{md,json} (and copies them to $OUT when that is set).
# `--device cpu --quick` is the smoke run that proves the script on a machine without a GPU.
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=${FASTINFER_GPU_BUNDLE:-.gpu}
python=${PYTHON:-python3}
if ! "$python" -c "import fastinfer._core" 2>/dev/null; then
  wheel=$(ls "$bundle"/fastinfer-*.whl 2>/dev/null | head -n 1 || true)
  if [ -z "$wheel" ]; then
    echo "run.sh: fastinfer is not importable and no wheel is in $bundle/" >&2
    exit 2
  fi
  target=$(mktemp -d)
  "$python" -m pip install -q --no-index --no-deps --no-compile --target "$target" "$wheel"
  export PYTHONPATH="$target${PYTHONPATH:+:$PYTHONPATH}"
fi
data="$bundle/data"
[ -d "$data" ] || data=${FASTINFER_TESTDATA:-.testdata}
export PYTHONUNBUFFERED=1
"$python" benchmarks/bench_gpu.py --data "$data" "$@"
if [ -n "${OUT:-}" ]; then
  cp benchmarks/results/*/gpu.md benchmarks/results/*/gpu.json "$OUT"/ 2>/dev/null || true
fi
