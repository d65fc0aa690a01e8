#!/usr/bin/env bash
# The main job on the embedded default: generate a small DIS5K-style dataset, train the CPU
# demo model (configs/demo.yaml), predict + score its validation and test splits, print the table.
# Frozen branches are randomly initialised here (no pretrained weights can be downloaded), so the
# numbers show the pipeline working, not the paper's accuracy.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup_env.sh
run_dir="${1:-runs/demo}"
results_dir="results/demo"
start=$(date +%s)

echo "== 1/4 generating demo data in demo_data/"
python -m pmgsam.data.synthetic --layout dis5k --out demo_data --num 48 --seed 0 --overwrite

echo "== 2/4 training configs/demo.yaml into $run_dir"
# A rerun starts afresh, so an earlier run folder is removed: only a demo run (a train.log, and
# a config.yaml that trains on demo_data/DIS5K), never another training run given by mistake.
if [[ -e "$run_dir" ]] && { [[ ! -f "$run_dir/train.log" ]] ||
  ! grep -qE '^  root: (.*/)?demo_data/DIS5K$' "$run_dir/config.yaml" 2>/dev/null; }; then
  echo "demo: '$run_dir' exists and is not a demo training run (one whose config.yaml" \
    "trains on demo_data/DIS5K); the demo would delete it: choose another folder" >&2
  exit 2
fi
rm -rf "$run_dir"
python train.py --config configs/demo.yaml --output-dir "$run_dir"

echo "== 3/4 evaluating the best checkpoint into $results_dir"
# Removed only while it holds nothing but what an earlier (maybe interrupted) demo wrote.
for entry in "$results_dir"/* "$results_dir"/.[!.]*; do
  [[ -e "$entry" ]] || continue
  case "$(basename "$entry")" in
    pred | metrics | tables | run.json) ;;
    *) echo "demo: '$results_dir' holds '$(basename "$entry")', not written by the demo; move it away" >&2
       exit 2 ;;
  esac
done
rm -rf "$results_dir"
python evaluate.py --config configs/demo.yaml --checkpoint "$run_dir" --dataset dis5k \
  --splits DIS-VD,DIS-TE1 --output-dir "$results_dir" --device cpu --workers 2

echo "== 4/4 efficiency of the demo model, then the merged tables"
python -m pmgsam.efficiency --config configs/demo.yaml --device cpu --iters 5 --warmup 1 \
  --run-dir "$results_dir"
python -m pmgsam.report "$results_dir" --out "$results_dir/tables"

echo "demo finished in $(( $(date +%s) - start )) s; run: $run_dir, tables: $results_dir"
