#!/usr/bin/env bash
# Every speed measurement of issue 7 on one GPU, in one call (about 15 minutes on an H100).
# Records go to $OUT (the device tool's folder) or benchmarks/results; logs beside them.
#   bash benchmarks/gpu_speed.sh [h100]        # the argument prefixes the file names
set -uo pipefail
tag=${1:-gpu}
dest=${OUT:-benchmarks/results}
mkdir -p "$dest"
py=${PYTHON:-python3}
eff="$py -m pmgsam.efficiency --model pmgsam_hiera_b+ --device cuda --dtype bf16 --iters 20 --warmup 5"
run() {  # name, command...
  local name=$1; shift
  echo "== $name: $*" | tee -a "$dest/${tag}_log.txt"
  timeout 900 "$@" 2>&1 | tee -a "$dest/${tag}_log.txt"
}
run hiera_attention $py benchmarks/hiera_attention.py --device cuda --dtype bf16 --size 1024 --batch 8 --iters 10
run infer_b1 $eff --batch 1 --json "$dest/${tag}_inference_b1.json"
run infer_b8 $eff --batch 8 --json "$dest/${tag}_inference_b8.json"
run infer_b8_cl $eff --batch 8 --channels-last --json "$dest/${tag}_inference_b8_channels_last.json"
run infer_b8_compile $eff --batch 8 --channels-last --compile --json "$dest/${tag}_inference_b8_compile.json"
run infer_b1_compile $eff --batch 1 --channels-last --compile --json "$dest/${tag}_inference_b1_compile.json"
run train_b4 $eff --batch 4 --train --json "$dest/${tag}_train_b4.json"
run train_b4_compile $eff --batch 4 --train --channels-last --compile --json "$dest/${tag}_train_b4_compile.json"
run vs_sam $eff --batch 1 --iters 5 --compare sam_vit_b --json "$dest/${tag}_vs_sam_vit_b.json"
# train.py with data loading, on generated 1024x768 data (its log prints images/s per epoch).
data=/tmp/pmgsam_gpu_data
run synth $py -m pmgsam.data.synthetic --layout dis5k --num 96 --size 1024x768 --out "$data" --no-progress
run train_py $py train.py --config configs/pmgsam_dis5k.yaml --output-dir /tmp/pmgsam_gpu_run \
  data.root="$data/DIS5K" data.num_workers=12 schedule.epochs=2 schedule.warmup_epochs=0 \
  train.log_every=8 train.preview_every=0 model.hiera_checkpoint=null model.u2net_checkpoint=null
echo "records in $dest; render with: python benchmarks/render_table.py"
