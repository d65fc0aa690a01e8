#!/usr/bin/env bash
# Fill .whl/ (git-ignored) with every package the GPU machine lacks, for its Python 3.12: the
# shared list (../shared/gpu/wheels.sh), then what this project needs beyond it. Run once,
# before the GPU calls of BENCHMARKS.md ("GPU: the calls a session lent a GPU must make"):
#   bash benchmarks/gpu_wheels.sh
#
# The GPU machine has torch, torchvision, timm, scipy, opencv, scikit-image, tensorboard,
# matplotlib and pytest (with their own dependencies) and no network. Rehearsed on 2026-11-29
# in a Python 3.12.1 venv holding only those: PySODMetrics, which the shared list brings, imports
# scikit-learn, which needs joblib (which needs cloudpickle), threadpoolctl and narwhals;
# without them every test that scores against PySODMetrics fails with ModuleNotFoundError.
# sam2 is not brought: PyPI has no wheel of it (it builds against the installed torch), so the
# tests of the optional SAM2.1 baselines skip there. tests/test_gpu_wheels_script.py checks
# that the two lists hold every package the project needs that the machine lacks.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
shared=${GPU_SHARED_WHEELS:-$root/../shared/gpu/wheels.sh}
[[ -f $shared ]] || { echo "gpu_wheels.sh: $shared not found (set GPU_SHARED_WHEELS)" >&2; exit 2; }
if [[ -d .git ]]; then
  bash "$shared"
else
  # A git worktree's .git is a file, where the shared script's line that adds /.whl/ to
  # .git/info/exclude fails; .gitignore already ignores .whl/, so that line is left out.
  bash <(grep -v 'info/exclude' "$shared")
fi
# PySODMetrics' imports beyond the shared list, at the versions rehearsed.
extra=(scikit-learn==1.9.1 joblib==1.6.0 cloudpickle==3.1.3 threadpoolctl==3.8.0 narwhals==2.29.0)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 --platform any -d .whl "${extra[@]}"
echo "gpu_wheels.sh: .whl/ also holds ${extra[*]}"
